/* xchg audit verify | export | show: what an IG lead does with the matcher's audit log (and
 * with the key service's, whose genesis names the key custodian: oprf_service.h). */
#include "cli.h"
#include "commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OLD_DEFAULT_LOG "audit.log"

/*
 * The log a command works on: --log FILE, or --db DB's log (DB.audit, where the matcher's
 * store writes it). The old default ./audit.log is still used when neither is given and it
 * exists, with a warning (scripts may rely on it). must_exist: a missing log is an error
 * naming it (exit 3), not "0 entries verify". Returns 0 or an exit code after printing.
 */
static int log_path(const char **log, const char *db, int must_exist)
{
    static char buf[4096];
    if (*log && db) {
        cli_error("give --log FILE or --db DB, not both");
        return EXIT_USAGE;
    }
    if (db) {
        if ((size_t)snprintf(buf, sizeof buf, "%s.audit", db) >= sizeof buf) {
            cli_error("--db: path too long");
            return EXIT_USAGE;
        }
        *log = buf;
    } else if (!*log) {
        if (must_exist && access(OLD_DEFAULT_LOG, F_OK) != 0) {
            cli_error("which audit log? give --log FILE or --db DB (its log is DB.audit)");
            return EXIT_USAGE;
        }
        cli_warn("no --log or --db given: using ./" OLD_DEFAULT_LOG " (deprecated default; "
                 "say --log " OLD_DEFAULT_LOG ")");
        *log = OLD_DEFAULT_LOG;
    }
    if (must_exist && access(*log, F_OK) != 0) {
        cli_error("%s: no such audit log", *log);
        if (!db)
            cli_hint("the matcher's store DB keeps its log in DB.audit (--db DB)");
        return EXIT_IO;
    }
    return 0;
}

/* v escaped for a terminal (xchg_term_safe), malloc'ed; "?" when out of memory. */
static char *safe_dup(const char *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int bad = !m;
    if (m) {
        bad |= xchg_term_safe(m, v) != 0;
        bad |= fclose(m) != 0;
    }
    if (bad || !buf) {
        free(buf);
        return strdup("?");
    }
    return buf;
}

/* v written terminal-safe, then padded with spaces to width (counted in bytes). */
static void pad_safe(const char *v, int width)
{
    char *t = safe_dup(v);
    printf("%-*s", width, t ? t : "?");
    free(t);
}

static const char usage[] =
    "usage: xchg audit verify --agreement A.yaml [--log FILE | --db DB] [--against OLD] [--strict]\n"
    "       xchg audit export [--log FILE | --db DB] -o OUT [--force]\n"
    "       xchg audit show   [--log FILE | --db DB] [--type T] [--since SEQ]\n"
    "       xchg audit init   --agreement A.yaml [--log FILE | --db DB]\n"
    "       xchg audit record [--log FILE | --db DB] --type T [--actor KEYID|FILE.pub] [--data JSON]\n"
    "       xchg audit checkpoint [--log FILE | --db DB] --key MATCHER.key [--passphrase-fd N]\n"
    "\n"
    "verify  check the whole hash chain and every checkpoint signature with the matcher key\n"
    "        the agreement pins (for xchg-keyd's log: the key custodian's); reports the first\n"
    "        broken entry by line. Needs no database key: run it on an export.\n"
    "  --against OLD  also check that OLD (an earlier export) is an unchanged prefix\n"
    "  --strict       fail when entries after the last checkpoint are unsigned\n"
    "export  copy the log's complete entries to OUT (written atomically); the copy verifies\n"
    "show    list entries as a table (does not verify: use verify for that)\n"
    "  --type T       only entries of type T;  --since SEQ  only entries from SEQ on\n"
    "init        (matcher) start a new log (mode 0600) for the agreement's matcher key\n"
    "record      (matcher) append one entry: ids, counts and reasons only, never personal\n"
    "            data (strings longer than 512 bytes are refused)\n"
    "checkpoint  (matcher) sign the chain head with the matcher's key; do it after every\n"
    "            command that records entries\n"
    "\n"
    "Every command takes the log as --log FILE or as --db DB (the matcher's store, whose\n"
    "log is DB.audit). Without either, ./" OLD_DEFAULT_LOG " is used if it exists, with a\n"
    "warning (deprecated).\n"
    "\n"
    "example: xchg audit verify --agreement phase2.yaml --db matcher/store.db\n"
    "example: xchg audit export --db matcher/store.db -o audit-2026-12.log\n"
    "example: xchg audit show --log audit-2026-12.log --type release\n"
    "example: xchg audit init --agreement phase2.yaml --log audit.log\n"
    "example: xchg audit record --log audit.log --type note --data '{\"n\":1}'\n"
    "example: xchg audit checkpoint --log audit.log --key matcher.key --passphrase-fd 3\n";

static const xchg_party *matcher_of(const xchg_agreement *p);

/* The genesis entry's key id (hex) of the log at path, or "" (first entry only). */
static int genesis_visit(const xchg_audit_entry *e, void *ctx)
{
    char *out = ctx;
    if (e->seq == 0 && strcmp(e->type, XCHG_AUDIT_GENESIS) == 0) {
        const char *k = strstr(e->data, "\"matcher_key\":\"");
        if (k && strlen(k + 15) >= XCHG_KEYID_HEXLEN)
            snprintf(out, XCHG_KEYID_HEXLEN + 1, "%s", k + 15);
    }
    return 1;
}

/*
 * The party whose key the log's genesis names: the matcher's for the matcher's log, or the
 * key service's custodian (oprf_service.h) for xchg-keyd's log. *what names the role.
 */
static const xchg_party *signer_of(const xchg_agreement *agr, const char *log, const char **what)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    char key[XCHG_KEYID_HEXLEN + 1] = "";
    *what = "matcher";
    if (xchg_audit_foreach(log, genesis_visit, key, NULL) == XCHG_OK && key[0]) {
        size_t c = xchg_oprf_custodian(p);
        char hex[XCHG_KEYID_HEXLEN + 1];
        if (c != XCHG_NONE) {
            xchg_keyid_hex(xchg_policy_get(p)->parties[c].key.id, hex);
            size_t m = xchg_policy_matcher(p);
            if (strcmp(hex, key) == 0 && (m == XCHG_NONE || c != m)) {
                *what = "key service custodian";
                return &xchg_policy_get(p)->parties[c];
            }
        }
    }
    return matcher_of(agr);
}

static int verify(int argc, char **argv)
{
    const char *agr = NULL, *log = NULL, *db = NULL, *against = NULL, *strict = NULL;
    const struct cli_opt opts[] = {
        {"--agreement", 'a', 1, &agr},
        {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db},
        {"--against", 0, 1, &against},
        {"--strict", 0, 0, &strict},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!agr) {
        cli_error("audit verify needs --agreement A.yaml (the matcher's public key comes from it)");
        return EXIT_USAGE;
    }
    if ((rc = log_path(&log, db, 1)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    xchg_err e;
    const xchg_policy_data *pd = xchg_agreement_get(p);
    const char *what;
    const xchg_party *m = signer_of(p, log, &what);
    if (!m) {
        rc = EXIT_DENIED;
        goto cleanup;
    }
    xchg_diag_clear(d);
    xchg_audit_stats st;
    e = xchg_audit_verify(log, &m->key, &st, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, log);
        cli_error("%s is not intact: %" PRIu64 " entries verify before line %" PRIu64, log,
                  st.entries, st.first_bad_line);
        goto cleanup;
    }
    char hex[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(m->key.id, hex);
    /* "ok" only when the command succeeds: under --strict, unsigned entries fail it */
    printf("%s: %s: %" PRIu64 " %s (seq 0..%" PRIu64 "), %" PRIu64
           " %s signed by %s '%s' (key %s)\n",
           log, st.unsigned_entries && strict ? "chain intact, not all signed" : "ok", st.entries,
           cli_plural(st.entries, "entry", "entries"), st.head_seq, st.checkpoints,
           cli_plural(st.checkpoints, "checkpoint", "checkpoints"), what, m->id, hex);
    if (st.have_checkpoint)
        printf("  last checkpoint  seq %" PRIu64 "\n", st.last_checkpoint_seq);
    printf("  head             seq %" PRIu64 " hash %s\n", st.head_seq, st.head_hash);
    fputs("  started under    agreement '", stdout);
    xchg_term_safe(stdout, st.agreement_id);
    fputs("' sha256 ", stdout);
    xchg_term_safe(stdout, st.agreement_sha256);
    fputc('\n', stdout);
    cli_print_diag(d);
    if (strcmp(st.agreement_id, pd->id) != 0) {
        char *logged = safe_dup(st.agreement_id);
        cli_warn("the log was started under agreement '%s', not '%s'", logged ? logged : "?",
                 pd->id);
        free(logged);
    }
    rc = EXIT_OK;
    if (st.unsigned_entries && strict) {
        cli_error("%" PRIu64 " %s not covered by a checkpoint (--strict)",
                  st.unsigned_entries,
                  cli_plural(st.unsigned_entries, "entry is", "entries are"));
        rc = EXIT_DENIED;
    }
    if (against) {
        xchg_diag_clear(d);
        e = xchg_audit_compare(against, log, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, against);
            cli_error("%s is not a prefix of %s: entries were removed or rewritten", against, log);
            goto cleanup;
        }
        printf("  %s is an unchanged prefix of the log\n", against);
    }
cleanup:
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

static int export_log(int argc, char **argv)
{
    const char *log = NULL, *db = NULL, *out = NULL, *force = NULL;
    const struct cli_opt opts[] = {
        {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db},
        {"--out", 'o', 1, &out},
        {"--force", 'f', 0, &force},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!out) {
        cli_error("audit export needs -o OUT");
        return EXIT_USAGE;
    }
    if ((rc = log_path(&log, db, 1)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    uint64_t n = 0;
    xchg_err e = xchg_audit_export(log, out, force ? XCHG_WRITE_OVERWRITE : 0, &n, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, out);
        if (e == XCHG_ERR_EXISTS)
            cli_hint("use --force to replace it");
    } else {
        cli_print_diag(d);
        printf("exported %" PRIu64 " %s from %s to %s\n", n, cli_plural(n, "entry", "entries"),
               log, out);
        rc = EXIT_OK;
    }
    xchg_diag_free(d);
    return rc;
}

struct show_ctx {
    const char *type;
    uint64_t since;
    uint64_t shown;
};

static int show_one(const xchg_audit_entry *e, void *ctx)
{
    struct show_ctx *c = ctx;
    if (e->seq < c->since || (c->type && strcmp(e->type, c->type) != 0))
        return 0;
    char when[32] = "?";
    time_t t = (time_t)e->time;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    if (c->shown++ == 0)
        printf("%-6s  %-19s  %-18s  %-16s  %s\n", "SEQ", "TIME (UTC)", "TYPE", "ACTOR", "DATA");
    /* type, actor and data are read from the log file, which is not trusted to be
     * intact here: control characters are shown as escapes, never sent to the terminal */
    printf("%-6" PRIu64 "  %-19s  ", e->seq, when);
    pad_safe(e->type, 18);
    fputs("  ", stdout);
    pad_safe(*e->actor ? e->actor : "-", 16);
    fputs("  ", stdout);
    xchg_term_safe(stdout, e->data);
    fputc('\n', stdout);
    return 0;
}

static int show(int argc, char **argv)
{
    const char *log = NULL, *db = NULL, *type = NULL, *since = NULL;
    const struct cli_opt opts[] = {
        {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db},
        {"--type", 't', 1, &type},
        {"--since", 's', 1, &since},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    struct show_ctx c = {type, 0, 0};
    if (since) {
        char *end = NULL;
        unsigned long long v = strtoull(since, &end, 10);
        if (!*since || !end || *end || since[0] == '-') {
            cli_error("--since must be a sequence number (0 or more)");
            return EXIT_USAGE;
        }
        c.since = v;
    }
    if ((rc = log_path(&log, db, 1)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_audit_foreach(log, show_one, &c, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, log);
    } else {
        if (c.shown == 0)
            cli_info("no entries match");
        rc = EXIT_OK;
    }
    xchg_diag_free(d);
    return rc;
}

static const xchg_party *matcher_of(const xchg_agreement *p)
{
    const xchg_policy_data *pd = xchg_agreement_get(p);
    size_t m = xchg_policy_matcher(xchg_agreement_policy(p));
    if (m != XCHG_NONE)
        return &pd->parties[m];
    cli_error("agreement '%s' has no party with role matcher", pd->id);
    return NULL;
}

static int init(int argc, char **argv)
{
    const char *agr = NULL, *log = NULL, *db = NULL;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr}, {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db}, {0}};
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!agr) {
        cli_error("audit init needs --agreement A.yaml");
        return EXIT_USAGE;
    }
    if ((rc = log_path(&log, db, 0)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_audit *a = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    xchg_err e;
    const xchg_party *m = matcher_of(p);
    if (!m) {
        rc = EXIT_DENIED;
        goto cleanup;
    }
    xchg_audit_genesis g;
    g.agreement_id = xchg_agreement_get(p)->id;
    memcpy(g.agreement_sha256, xchg_policy_hash(xchg_agreement_policy(p)), XCHG_SHA256_BYTES);
    memcpy(g.matcher_key, m->key.id, XCHG_KEYID_BYTES);
    e = xchg_audit_open(log, &g, &a, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, log);
        goto cleanup;
    }
    char hex[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(m->key.id, hex);
    printf("started %s for agreement '%s', matcher '%s' (key %s)\n", log, g.agreement_id, m->id,
           hex);
    rc = EXIT_OK;
cleanup:
    xchg_audit_close(a);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

static int record(int argc, char **argv)
{
    const char *log = NULL, *db = NULL, *type = NULL, *actor = NULL, *data = NULL;
    const struct cli_opt opts[] = {
        {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db},
        {"--type", 't', 1, &type},
        {"--actor", 0, 1, &actor},
        {"--data", 0, 1, &data},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!type) {
        cli_error("audit record needs --type T");
        return EXIT_USAGE;
    }
    if ((rc = log_path(&log, db, 1)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_audit *a = NULL;
    uint8_t id[XCHG_KEYID_BYTES];
    const uint8_t *idp = NULL;
    xchg_err e;
    if (actor) {
        xchg_pubkey pk;
        if (strlen(actor) == XCHG_KEYID_HEXLEN &&
            xchg_hex_decode(id, sizeof id, actor, XCHG_KEYID_HEXLEN) == XCHG_OK) {
            idp = id;
        } else if ((e = xchg_pubkey_load(actor, &pk, d)) == XCHG_OK) {
            memcpy(id, pk.id, sizeof id);
            idp = id;
        } else {
            rc = cli_fail(e, d, actor);
            cli_hint("--actor takes a key id (16 hex digits) or a public key file");
            goto cleanup;
        }
    }
    uint64_t seq = 0;
    if ((e = xchg_audit_open(log, NULL, &a, d)) != XCHG_OK ||
        (e = xchg_audit_append(a, type, idp, data ? data : "{}", &seq, d)) != XCHG_OK) {
        rc = e == XCHG_ERR_ARG ? (cli_print_diag(d), EXIT_USAGE) : cli_fail(e, d, log);
        goto cleanup;
    }
    printf("recorded %s entry seq %" PRIu64 " in %s (not yet signed: run 'xchg audit "
           "checkpoint')\n",
           type, seq, log);
    rc = EXIT_OK;
cleanup:
    xchg_audit_close(a);
    xchg_diag_free(d);
    return rc;
}

static int checkpoint(int argc, char **argv)
{
    const char *log = NULL, *db = NULL, *key = NULL, *pfd = NULL;
    const struct cli_opt opts[] = {
        {"--log", 'l', 1, &log}, {"--db", 'd', 1, &db},
        {"--key", 'k', 1, &key},
        {"--passphrase-fd", 0, 1, &pfd},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!key) {
        cli_error("audit checkpoint needs --key MATCHER.key");
        return EXIT_USAGE;
    }
    if ((rc = log_path(&log, db, 1)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_audit *a = NULL;
    xchg_seckey *k = NULL;
    uint64_t seq = 0;
    xchg_err e = xchg_audit_open(log, NULL, &a, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, log);
        goto cleanup;
    }
    if ((rc = cli_load_seckey(key, pfd, &k)) != 0)
        goto cleanup;
    if ((e = xchg_audit_checkpoint(a, k, &seq, d)) != XCHG_OK) {
        rc = cli_fail(e, d, log);
        goto cleanup;
    }
    printf("signed checkpoint seq %" PRIu64 " in %s: entries up to seq %" PRIu64
           " are signed by the matcher\n",
           seq, log, seq - 1);
    rc = EXIT_OK;
cleanup:
    xchg_seckey_free(k);
    xchg_audit_close(a);
    xchg_diag_free(d);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0)
        return export_log(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return show(argc - 1, argv + 1);
    if (strcmp(argv[1], "init") == 0)
        return init(argc - 1, argv + 1);
    if (strcmp(argv[1], "record") == 0)
        return record(argc - 1, argv + 1);
    if (strcmp(argv[1], "checkpoint") == 0)
        return checkpoint(argc - 1, argv + 1);
    cli_error("unknown audit command '%s'", argv[1]);
    fputs(usage, stderr);
    return EXIT_USAGE;
}
