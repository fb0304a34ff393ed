/* xchg policy new | check | explain | signatories | sign | verify | bind-keys */
#include "cli.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: xchg policy new --preset phase1|phase2|linkage [--party ID:ROLE]... [-o OUT]\n"
    "                       [--id ID] [--title TEXT] [--owner PARTY] [--dpia REF]\n"
    "                       [--valid-from YYYY-MM-DD] [--force]\n"
    "       xchg policy new --interactive [-o OUT]\n"
    "       xchg policy check AGREEMENT...\n"
    "       xchg policy explain AGREEMENT\n"
    "       xchg policy signatories AGREEMENT\n"
    "       xchg policy bind-keys AGREEMENT --keys DIR [-o OUT] [--rebind] [--force]\n"
    "       xchg policy sign AGREEMENT --key SECRET.key [--passphrase-fd N] [--sig FILE]\n"
    "       xchg policy verify AGREEMENT [--sig FILE]\n"
    "\n"
    "new        write a draft agreement from a preset, every ICO data-sharing-code section\n"
    "           named in a comment, keys unbound (asks on a terminal without --preset);\n"
    "           e.g. xchg policy new --preset linkage --party police:agency\n"
    "                --party health:agency -o draft.yaml\n"
    "check      validate an agreement and report every problem as file:line:col; a draft\n"
    "           (keys unbound) passes, naming the next step\n"
    "explain    print a plain-English summary for a DPIA\n"
    "signatories\n"
    "           list the parties whose signature the agreement needs, one id a line\n"
    "bind-keys  write each party's public key (DIR/<party id>.pub) into the agreement\n"
    "sign       add your party's signature to AGREEMENT.sig (or --sig FILE)\n"
    "verify     require a valid signature from every signatory and the agreement in force\n"
    "\n"
    "Exit codes: 0 valid, 1 invalid/unsigned/not in force, 2 usage, 3 file error.\n"
    "\n"
    "example: xchg policy new --preset linkage --party police:agency -o draft.yaml\n"
    "example: xchg policy check policies/phase2.yaml\n"
    "example: xchg policy explain phase2.yaml\n"
    "example: xchg policy signatories phase2.yaml\n"
    "example: xchg policy bind-keys policies/phase2.yaml --keys keys -o phase2.yaml\n"
    "example: xchg policy sign phase2.yaml --key keys/county-ig.key --passphrase-fd 3\n"
    "example: xchg policy verify phase2.yaml\n";

/* One answer from the terminal (or stdin with --interactive): the default when empty. */
static const char *ask(const char *question, const char *def, char *line, size_t cap)
{
    fprintf(stderr, "%s [%s]: ", question, def ? def : "");
    fflush(stderr);
    if (!fgets(line, (int)cap, stdin)) {
        fputc('\n', stderr);
        return def;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] ? line : def;
}

#define MAX_NEW_PARTIES 32

/* Split "ID:ROLE" into the two arrays; -1 when it is not of that form. */
static int party_arg(char *a, const char **ids, const char **roles, size_t *n)
{
    char *colon = strchr(a, ':');
    if (!colon || colon == a || !colon[1] || *n >= MAX_NEW_PARTIES)
        return -1;
    *colon = '\0';
    ids[*n] = a;
    roles[(*n)++] = colon + 1;
    return 0;
}

static int do_new(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL, *force = NULL, *interactive = NULL, *id = NULL,
               *title = NULL, *owner = NULL, *dpia = NULL, *from = NULL, *party = NULL;
    const struct cli_opt opts[] = {
        {"--preset", 'p', 1, &preset}, {"--out", 'o', 1, &out},   {"--force", 'f', 0, &force},
        {"--interactive", 'i', 0, &interactive}, {"--id", 0, 1, &id}, {"--title", 0, 1, &title},
        {"--owner", 0, 1, &owner},     {"--dpia", 0, 1, &dpia},  {"--valid-from", 0, 1, &from},
        {"--party", 0, 1, &party},     {0},
    };
    /* --party may be given many times: collect every one, then parse the rest */
    const char *ids[MAX_NEW_PARTIES], *roles[MAX_NEW_PARTIES];
    size_t nparties = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    char **copies = calloc((size_t)argc + 1, sizeof *copies);
    int nargs = 0, rc = EXIT_OK;
    if (!args || !copies) {
        free(args);
        free(copies);
        return EXIT_IO;
    }
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--party") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "--party=", 8) == 0)
            v = argv[i] + 8;
        if (!v) {
            args[nargs++] = argv[i];
            continue;
        }
        copies[i] = strdup(v);
        if (!copies[i] || party_arg(copies[i], ids, roles, &nparties) != 0) {
            cli_error("--party needs ID:ROLE (e.g. police:agency; at most %d), not '%s'",
                      MAX_NEW_PARTIES, v);
            rc = EXIT_USAGE;
        }
    }
    const char *pos[1];
    int npos = 0, help = 0;
    char line[9][512];
    char *answers_parties = NULL;
    xchg_diag *d = NULL;
    char *text = NULL;
    if (rc == EXIT_OK && (rc = cli_parse(nargs, args, opts, pos, 0, &npos, &help)) == 0 && help) {
        cli_verb_usage(usage, "new");
        goto done;
    }
    if (rc)
        goto done;
    int ask_user = interactive || (!preset && isatty(STDIN_FILENO));
    if (!preset && !ask_user) {
        cli_error("policy new needs --preset phase1, phase2 or linkage (or run it on a terminal "
                  "to be asked)");
        rc = EXIT_USAGE;
        goto done;
    }
    xchg_policy_new_opts o = {.preset = preset, .id = id, .title = title, .owner = owner,
                              .dpia = dpia};
    int32_t today;
    cli_today(&today);
    o.valid_from = today;
    char todays[11], days[24]; /* defaults an answer may point at, past the prompts */
    if (ask_user) {
        fputs("A new data-sharing agreement (a draft: keys are bound later). Presets:\n", stderr);
        const char *name, *summary;
        for (size_t i = 0; xchg_policy_preset(i, &name, &summary); i++)
            fprintf(stderr, "  %-8s %s\n", name, summary);
        o.preset = ask("Preset", preset ? preset : "phase1", line[0], sizeof line[0]);
        if (xchg_policy_new_defaults(&o) != XCHG_OK) {
            cli_error("unknown preset '%s' (expected phase1, phase2 or linkage)", o.preset);
            rc = EXIT_USAGE;
            goto done;
        }
        o.id = ask("Agreement id (a-z 0-9 - _)", o.id, line[1], sizeof line[1]);
        o.title = ask("Title", o.title, line[2], sizeof line[2]);
        o.owner = ask("Owner (the party id of the IG lead who owns it)", o.owner, line[3],
                      sizeof line[3]);
        o.dpia = ask("DPIA reference", o.dpia, line[4], sizeof line[4]);
        xchg_date_format(today, todays);
        from = ask("In force from (YYYY-MM-DD; reviewed a year later, expires after two)",
                   from ? from : todays, line[5], sizeof line[5]);
        snprintf(days, sizeof days, "%ld", o.retention_days);
        const char *ret = ask("Retention of linked data, in days", days, line[6], sizeof line[6]);
        char *end;
        o.retention_days = strtol(ret, &end, 10);
        if (*end || o.retention_days < 1) {
            cli_error("retention must be a whole number of days, not '%s'", ret);
            rc = EXIT_USAGE;
            goto done;
        }
        const char *more = ask("More parties, as ID:ROLE separated by spaces (roles: agency for "
                               "the linkage preset, recipient, operator, governance)",
                               "none", line[7], sizeof line[7]);
        if (strcmp(more, "none") != 0) {
            answers_parties = strdup(more);
            for (char *t = answers_parties ? strtok(answers_parties, " ,") : NULL; t;
                 t = strtok(NULL, " ,"))
                if (party_arg(t, ids, roles, &nparties) != 0) {
                    cli_error("a party is ID:ROLE (e.g. police:agency), not '%s'", t);
                    rc = EXIT_USAGE;
                    goto done;
                }
        }
        if (!out) {
            char def[400];
            snprintf(def, sizeof def, "%.300s.yaml", o.id);
            out = ask("Write the draft to", def, line[8], sizeof line[8]);
            if (out == def) { /* the default lives on this frame only */
                snprintf(line[8], sizeof line[8], "%s", def);
                out = line[8];
            }
        }
    }
    if (from && xchg_date_parse(from, strlen(from), &o.valid_from) != XCHG_OK) {
        cli_error("--valid-from must be a date YYYY-MM-DD, not '%s'", from);
        rc = EXIT_USAGE;
        goto done;
    }
    o.party_ids = ids;
    o.party_roles = roles;
    o.nparties = nparties;
    if (xchg_policy_new_defaults(&o) != XCHG_OK) {
        /* an unknown preset: xchg_policy_new says so */
    }
    d = xchg_diag_new();
    xchg_err e = xchg_policy_new(&o, &text, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "policy new");
        if (e == XCHG_ERR_ARG)
            rc = EXIT_USAGE;
        goto done;
    }
    if (out && strcmp(out, "-") != 0) {
        e = xchg_file_write_atomic(out, text, strlen(text), 0644,
                                   force ? XCHG_WRITE_OVERWRITE : 0, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, out);
            goto done;
        }
    } else {
        fputs(text, stdout);
    }
    const char *shown = out && strcmp(out, "-") != 0 ? out : "AGREEMENT";
    fprintf(stderr,
            "wrote %s: a draft of agreement '%s' (preset %s), every party's key unbound\n"
            "next: fill in its TO DOs; 'xchg policy check %s'; each party runs 'xchg keygen' "
            "and sends its .pub; 'xchg policy bind-keys %s --keys DIR -o agreement.yaml'; "
            "every signatory signs\n",
            out && strcmp(out, "-") != 0 ? out : "the draft to standard output", o.id, o.preset,
            shown, shown);
done:
    for (int i = 0; i < argc; i++)
        free(copies[i]);
    free(copies);
    free(args);
    free(answers_parties);
    free(text);
    xchg_diag_free(d);
    return rc;
}

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
            size_t unbound = xchg_policy_unbound(p);
            printf("%s: ok%s: agreement '%s' version %ld, %zu %s, %zu %s, %zu %s (sha256 %s)\n",
                   pos[i], unbound ? " (draft)" : "", pd->id, pd->version, pd->nparties,
                   cli_plural(pd->nparties, "party", "parties"), pd->nproblems,
                   cli_plural(pd->nproblems, "problem", "problems"), pd->nextracts,
                   cli_plural(pd->nextracts, "extract", "extracts"), hex);
            if (unbound)
                printf("%s: draft: %zu of %zu parties have no key yet (key: unbound); next: "
                       "'xchg policy bind-keys %s --keys DIR -o AGREEMENT.yaml' with each "
                       "party's DIR/<party id>.pub, then every signatory signs\n",
                       pos[i], unbound, pd->nparties, pos[i]);
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
    xchg_diag_clear(d); /* the parse's warnings were for 'policy check' */
    e = xchg_policy_sign(p, k, sigpath, (int64_t)time(NULL), d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "sign");
        goto cleanup;
    }
    cli_print_diag(d); /* warnings (a release key not yet dealt) */
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
    xchg_agreement *p = NULL;
    char *sigpath = default_sig(path, sig);
    int32_t today;
    cli_today(&today);
    xchg_err e = xchg_policy_load_verified(path, sigpath, today, &p, d);
    cli_print_diag(d);
    int rc = cli_exit_code(e);
    if (e == XCHG_OK) {
        const xchg_policy_data *pd = xchg_agreement_get(p);
        size_t ns = 0;
        for (size_t i = 0; i < pd->nparties; i++)
            ns += pd->parties[i].signs != 0;
        char from[11], to[11], hex[65];
        xchg_date_format(pd->valid_from, from);
        xchg_date_format(pd->expires, to);
        xchg_hex_encode(hex, xchg_policy_hash(xchg_agreement_policy(p)), 32);
        printf("verified: agreement '%s' version %ld\n  signed by %s %zu %s\n"
               "  in force %s to %s\n  sha256 %s\n",
               pd->id, pd->version, ns == 1 ? "its" : "all", ns,
               cli_plural(ns, "signatory", "signatories"), from, to, hex);
    } else {
        cli_error("agreement %s is not verified: %s", path, xchg_strerror(e));
    }
    xchg_agreement_free(p);
    xchg_diag_free(d);
    free(sigpath);
    return rc;
}

/* xchg policy signatories: every party with signs_agreement (the default), as parsed */
static int do_signatories(const char *path)
{
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    xchg_err e = xchg_policy_parse_file(path, &p, d);
    int rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, path);
    const xchg_policy_data *pd = e == XCHG_OK ? xchg_policy_get(p) : NULL;
    for (size_t i = 0; pd && i < pd->nparties; i++)
        if (pd->parties[i].signs)
            printf("%s\n", pd->parties[i].id);
    xchg_policy_free(p);
    xchg_diag_free(d);
    return rc;
}

int cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "new") == 0)
        return do_new(argc - 1, argv + 1);
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
    if (strcmp(verb, "signatories") == 0)
        return do_signatories(pos[0]);
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
