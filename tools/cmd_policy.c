/* xchg policy check | explain | sign | verify | bind-keys */
#include "cli.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg policy check AGREEMENT...\n"
    "       xchg policy explain AGREEMENT\n"
    "       xchg policy bind-keys AGREEMENT --keys DIR [-o OUT] [--rebind] [--force]\n"
    "       xchg policy sign AGREEMENT --key SECRET.key [--passphrase-fd N] [--sig FILE]\n"
    "       xchg policy verify AGREEMENT [--sig FILE]\n"
    "\n"
    "check      validate an agreement and report every problem as file:line:col\n"
    "explain    print a plain-English summary for a DPIA\n"
    "bind-keys  write each party's public key (DIR/<party id>.pub) into the agreement\n"
    "sign       add your party's signature to AGREEMENT.sig (or --sig FILE)\n"
    "verify     require a valid signature from every signatory and the agreement in force\n"
    "\n"
    "Exit codes: 0 valid, 1 invalid/unsigned/not in force, 2 usage, 3 file error.\n"
    "\n"
    "example: xchg policy check policies/phase2.yaml\n"
    "example: xchg policy explain phase2.yaml\n"
    "example: xchg policy bind-keys policies/phase2.yaml --keys keys -o phase2.yaml\n"
    "example: xchg policy sign phase2.yaml --key keys/county-ig.key --passphrase-fd 3\n"
    "example: xchg policy verify phase2.yaml\n";

static int do_check(int npos, const char **pos)
{
    int rc = EXIT_OK;
    for (int i = 0; i < npos; i++) {
        xchg_diag *d = xchg_diag_new();
        xchg_policy *p = NULL;
        xchg_err e = xchg_policy_parse_file(pos[i], &p, d);
        cli_print_diag(d);
        if (e == XCHG_OK) {
            const xchg_policy_data *pd = xchg_policy_get(p);
            char hex[65];
            xchg_hex_encode(hex, xchg_policy_hash(p), 32);
            printf("%s: ok: agreement '%s' version %ld, %zu %s, %zu %s, %zu %s (sha256 %s)\n",
                   pos[i], pd->id, pd->version, pd->nparties,
                   cli_plural(pd->nparties, "party", "parties"), pd->nproblems,
                   cli_plural(pd->nproblems, "problem", "problems"), pd->nextracts,
                   cli_plural(pd->nextracts, "extract", "extracts"), hex);
        } else {
            size_t n = xchg_diag_errors(d);
            fprintf(stderr, "%s: %zu error%s\n", pos[i], n, n == 1 ? "" : "s");
            if (rc == EXIT_OK || cli_exit_code(e) > rc)
                rc = cli_exit_code(e);
        }
        xchg_policy_free(p);
        xchg_diag_free(d);
    }
    return rc;
}

static int do_explain(const char *path)
{
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    char *text = NULL;
    xchg_err e = xchg_policy_parse_file(path, &p, d);
    if (e == XCHG_OK)
        e = xchg_policy_explain(p, &text);
    int rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, path);
    if (text) /* the agreement's own text (labels, purposes) is shown, never obeyed */
        xchg_term_safe_text(stdout, text);
    free(text);
    xchg_policy_free(p);
    xchg_diag_free(d);
    return rc;
}

static int do_bind(const char *path, const char *keydir, const char *out, int rebind, int force)
{
    xchg_diag *d = xchg_diag_new();
    char *buf = NULL, *res = NULL;
    size_t len = 0, rlen = 0, bound = 0;
    xchg_err e = xchg_file_read(path, 4u << 20, &buf, &len, d);
    if (e == XCHG_OK)
        e = xchg_policy_bind_keys(buf, len, path, keydir, rebind, &res, &rlen, &bound, d);
    if (e == XCHG_OK) {
        /* never write something that does not parse */
        xchg_policy *p = NULL;
        xchg_diag *chk = xchg_diag_new();
        xchg_err pe = xchg_policy_parse(res, rlen, out ? out : path, &p, chk);
        xchg_policy_free(p);
        if (pe != XCHG_OK) {
            cli_print_diag(chk);
            cli_error("not writing %s: the agreement with keys bound is not valid", out ? out : path);
            e = pe;
        }
        xchg_diag_free(chk);
    }
    if (e == XCHG_OK)
        e = xchg_file_write_atomic(out ? out : path, res, rlen, 0644,
                                   (!out || force) ? XCHG_WRITE_OVERWRITE : 0, d);
    int rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, path);
    if (e == XCHG_OK)
        printf("bound %zu party key%s into %s\n", bound, bound == 1 ? "" : "s", out ? out : path);
    free(buf);
    free(res);
    xchg_diag_free(d);
    return rc;
}

static char *default_sig(const char *path, const char *sig)
{
    if (sig)
        return strdup(sig);
    size_t n = strlen(path) + 5;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.sig", path);
    return s;
}

static int do_sign(const char *path, const char *keyfile, const char *pfd, const char *sig)
{
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    xchg_seckey *k = NULL;
    char *sigpath = default_sig(path, sig);
    int rc;
    xchg_err e = xchg_policy_parse_file(path, &p, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, path);
        cli_hint("run 'xchg policy check %s': only a valid agreement can be signed", path);
        goto cleanup;
    }
    if ((rc = cli_load_seckey(keyfile, pfd, &k)) != 0)
        goto cleanup;
    e = xchg_policy_sign(p, k, sigpath, (int64_t)time(NULL), d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "sign");
        goto cleanup;
    }
    size_t who = xchg_policy_party_by_key(p, xchg_seckey_public(k)->id);
    char hex[65];
    xchg_hex_encode(hex, xchg_policy_hash(p), 32);
    printf("signed agreement '%s' version %ld as party '%s' (", xchg_policy_get(p)->id,
           xchg_policy_get(p)->version, xchg_policy_get(p)->parties[who].id);
    xchg_term_safe(stdout, xchg_policy_get(p)->parties[who].label);
    printf(")\nsha256 %s\nsignatures: %s\n", hex, sigpath);
    rc = EXIT_OK;
cleanup:
    xchg_seckey_free(k);
    xchg_policy_free(p);
    xchg_diag_free(d);
    free(sigpath);
    return rc;
}

static int do_verify(const char *path, const char *sig)
{
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    char *sigpath = default_sig(path, sig);
    int32_t today;
    cli_today(&today);
    xchg_err e = xchg_policy_load_verified(path, sigpath, today, &p, d);
    cli_print_diag(d);
    int rc = cli_exit_code(e);
    if (e == XCHG_OK) {
        const xchg_policy_data *pd = xchg_policy_get(p);
        size_t ns = 0;
        for (size_t i = 0; i < pd->nparties; i++)
            ns += pd->parties[i].signs != 0;
        char from[11], to[11], hex[65];
        xchg_date_format(pd->valid_from, from);
        xchg_date_format(pd->expires, to);
        xchg_hex_encode(hex, xchg_policy_hash(p), 32);
        printf("verified: agreement '%s' version %ld\n  signed by %s %zu %s\n"
               "  in force %s to %s\n  sha256 %s\n",
               pd->id, pd->version, ns == 1 ? "its" : "all", ns,
               cli_plural(ns, "signatory", "signatories"), from, to, hex);
    } else {
        cli_error("agreement %s is not verified: %s", path, xchg_strerror(e));
    }
    xchg_policy_free(p);
    xchg_diag_free(d);
    free(sigpath);
    return rc;
}

int cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    const char *key = NULL, *pfd = NULL, *sig = NULL, *keys = NULL, *out = NULL, *rebind = NULL,
               *force = NULL;
    const struct cli_opt opts[] = {
        {"--key", 'k', 1, &key},  {"--passphrase-fd", 0, 1, &pfd}, {"--sig", 's', 1, &sig},
        {"--keys", 0, 1, &keys},  {"--out", 'o', 1, &out},         {"--rebind", 0, 0, &rebind},
        {"--force", 'f', 0, &force}, {0},
    };
    const char *pos[64];
    int npos, help, rc;
    if ((rc = cli_parse(argc - 1, argv + 1, opts, pos, 64, &npos, &help)) != 0)
        return rc;
    if (help) {
        cli_verb_usage(usage, verb);
        return EXIT_OK;
    }
    int need_one = strcmp(verb, "check") != 0;
    if (npos == 0 || (need_one && npos != 1)) {
        cli_error("policy %s needs %s", verb, need_one ? "exactly one agreement file" : "an agreement file");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(verb, "check") == 0)
        return do_check(npos, pos);
    if (strcmp(verb, "explain") == 0)
        return do_explain(pos[0]);
    if (strcmp(verb, "bind-keys") == 0) {
        if (!keys) {
            cli_error("policy bind-keys needs --keys DIR (holding <party id>.pub files)");
            return EXIT_USAGE;
        }
        return do_bind(pos[0], keys, out, rebind != NULL, force != NULL);
    }
    if (strcmp(verb, "sign") == 0) {
        if (!key) {
            cli_error("policy sign needs --key SECRET.key (your party's secret key)");
            return EXIT_USAGE;
        }
        return do_sign(pos[0], key, pfd, sig);
    }
    if (strcmp(verb, "verify") == 0)
        return do_verify(pos[0], sig);
    cli_error("unknown policy command '%s'", verb);
    fputs(usage, stderr);
    return EXIT_USAGE;
}
