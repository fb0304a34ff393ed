/* xchg match init | ingest | run | list | show | links: the matcher operator's store. */
#include "cli.h"
#include "commands.h"
#include "cli_store.h"

#include <exchange/link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage[] =
    "usage: xchg match init   --db DB --agreement A (--db-key-out KEYFILE | --db-passphrase-fd N)\n"
    "       xchg match ingest --db DB DBKEY --agreement A --key MATCHER.key FILE...\n"
    "       xchg match run    --db DB DBKEY --agreement A [--date YYYY-MM-DD] [--threads N]\n"
    "       xchg match list   --db DB DBKEY [--run N] [--all] [--json | --csv]\n"
    "       xchg match show   --db DB DBKEY [--agreement A] [--run N] [--json] FAMILY\n"
    "       xchg match links  --db DB DBKEY [--run N] --csv\n"
    "       xchg match purge  --db DB DBKEY --agreement A [--date YYYY-MM-DD] [--dry-run]\n"
    "       xchg match review --db DB DBKEY --agreement A --key OPERATOR.key\n"
    "                         (--same | --different) --reason TEXT AGENCY:REF AGENCY:REF\n"
    "\n"
    "DBKEY is --db-key KEYFILE (made by init --db-key-out) or --db-passphrase-fd N (the\n"
    "operator's passphrase on a file descriptor); without either the passphrase is asked\n"
    "on the terminal. Keys and passphrases are never taken from the command line.\n"
    "\n"
    "init    create the encrypted store bound to agreement A\n"
    "ingest  verify each sealed extract and store it in one transaction; the same extract\n"
    "        again changes nothing; a newer extract of an agency and period supersedes\n"
    "        the older one. Exit 1 if any file is rejected (the others are still stored)\n"
    "run     link persons and households, apply the agreement's rule, store the run\n"
    "list    candidate families of the latest run (eligible only unless --all)\n"
    "show    one family: members, problems with agencies and dates, review pairs with\n"
    "        their evidence (ages, areas, the keys on which the two records agree or\n"
    "        differ: named with --agreement)\n"
    "links   every record's person and family pseudonyms, for checking linkage\n"
    "review  an operator decides a clerical-review pair (as 'show' lists it): one person\n"
    "        (--same) or different people (--different); signed with the operator's key,\n"
    "        audited, kept and applied by every later run (the newest decision wins)\n"
    "purge   delete the records of extracts received longer ago than the agreement's\n"
    "        retention period (as of --date, default today); each extract's row stays,\n"
    "        marked purged, and the audit log records what was deleted\n"
    "options of several commands:\n"
    "  --passphrase-fd N         the passphrase of the secret key given with --key\n"
    "  --db-passphrase-fd N      the database passphrase (init: the new one; 'init\n"
    "                            --passphrase-fd' is its deprecated spelling)\n"
    "  --accept-new-version      accept a new version (hash) of the store's agreement\n"
    "\n"
    "example: xchg match init --db m/store.db --agreement phase2.yaml --db-key-out m/store.key\n"
    "example: xchg match ingest --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/matcher.key sealed/*.xex\n"
    "example: xchg match run --db m/store.db --db-key m/store.key --agreement phase2.yaml --date 2026-10-31\n"
    "example: xchg match list --db m/store.db --db-key m/store.key --csv\n"
    "example: xchg match show --db m/store.db --db-key m/store.key F-3KQ7WZ2M\n"
    "example: xchg match links --db m/store.db --db-key m/store.key --csv\n"
    "example: xchg match purge --db m/store.db --db-key m/store.key --agreement phase2.yaml --dry-run\n"
    "example: xchg match review --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-1.key --same --reason \"same DOB and UPN\" police:P17 school:S204\n";

/*
 * The options each matcher verb takes: the others are refused as unknown for that verb
 * (with the nearest one it does take), so that e.g. 'release list --csv' is not silently
 * ignored. DB names the options every store verb shares.
 */
#define DB "--db --db-key --db-passphrase-fd --accept-new-version "
static const struct {
    const char *group, *verb, *opts;
} verb_opts[] = {
    {"match", "init", "--db --agreement --db-key-out --db-passphrase-fd --passphrase-fd"},
    {"match", "ingest", DB "--agreement --key --passphrase-fd"},
    {"match", "run", DB "--agreement --date --threads"},
    {"match", "list", DB "--run --all --json --csv"},
    {"match", "show", DB "--run --json --agreement"},
    {"match", "links", DB "--run --csv"},
    {"match", "purge", DB "--agreement --date --dry-run"},
    {"match", "review", DB "--agreement --key --passphrase-fd --same --different --reason"},
    {"release", "approve", DB "--agreement --key --passphrase-fd --reason"},
    {"release", "reject", DB "--agreement --key --passphrase-fd --reason"},
    {"release", "list", DB "--agreement"},
    {"release", "packet", DB "--agreement --key --passphrase-fd --to --out --force"},
    {"outcomes", "outcomes", DB "--agreement --run --json --csv --costs"},
    {"claims", "claims", DB "--agreement --key --passphrase-fd --run --out --json --csv"},
};
#undef DB

static const char *opts_of(const char *group, const char *verb)
{
    for (size_t i = 0; i < sizeof verb_opts / sizeof verb_opts[0]; i++)
        if (strcmp(verb_opts[i].group, group) == 0 && strcmp(verb_opts[i].verb, verb) == 0)
            return verb_opts[i].opts;
    return NULL;
}

static int opt_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncmp(p, name, n) == 0)
            return 1;
        p += k;
        while (*p == ' ')
            p++;
    }
    return 0;
}

int match_parse(int argc, char **argv, struct common *c)
{
    const char *u = c->usage, *g = c->group;
    memset(c, 0, sizeof *c);
    c->usage = u;
    c->group = g;
    const struct cli_opt opts[] = {
        {"--db", 'd', 1, &c->db},
        {"--db-key", 0, 1, &c->dbkey},
        {"--db-passphrase-fd", 0, 1, &c->dbpfd},
        {"--db-key-out", 0, 1, &c->keyout},
        {"--agreement", 'a', 1, &c->agr},
        {"--key", 'k', 1, &c->key},
        {"--passphrase-fd", 0, 1, &c->pfd},
        {"--date", 0, 1, &c->date},
        {"--threads", 't', 1, &c->threads},
        {"--run", 0, 1, &c->run},
        {"--json", 0, 0, &c->json},
        {"--csv", 0, 0, &c->csv},
        {"--all", 0, 0, &c->all},
        {"--accept-new-version", 0, 0, &c->accept},
        {"--reason", 'r', 1, &c->reason},
        {"--to", 0, 1, &c->to},
        {"--out", 'o', 1, &c->out},
        {"--force", 'f', 0, &c->force},
        {"--dry-run", 0, 0, &c->dry},
        {"--same", 0, 0, &c->same},
        {"--different", 0, 0, &c->different},
        {"--costs", 0, 0, &c->costs},
        {0},
    };
    /* only the options this verb takes (all of them for a verb not in verb_opts) */
    struct cli_opt mine[sizeof opts / sizeof opts[0]];
    const char *only = opts_of(g ? g : "match", argv[0]);
    size_t n = 0;
    /* --agreement where a verb does not use it (the views) is tolerated with a warning:
     * scripts pass one option array to every matcher command. Every other option a verb
     * does not take is refused. */
    for (const struct cli_opt *o = opts; o->lng; o++)
        if (!only || opt_listed(only, o->lng) || strcmp(o->lng, "--agreement") == 0)
            mine[n++] = *o;
    mine[n] = (struct cli_opt){0};
    const char *grp = g ? g : "match";
    int single = strcmp(grp, argv[0]) == 0; /* outcomes, claims: the group is the verb */
    for (int i = 1; only && i < argc && strcmp(argv[i], "--") != 0; i++) {
        size_t k = strcspn(argv[i], "=");
        for (const struct cli_opt *o = opts; o->lng; o++) {
            if (strlen(o->lng) != k || strncmp(argv[i], o->lng, k) != 0 ||
                opt_listed(only, o->lng))
                continue;
            if (strcmp(o->lng, "--agreement") == 0) {
                cli_warn("%s%s%s does not use --agreement; ignored", grp, single ? "" : " ",
                         single ? "" : argv[0]);
                break;
            }
            cli_error("%s%s%s does not take %s", grp, single ? "" : " ", single ? "" : argv[0],
                      o->lng);
            cli_hint("its options: %s", only);
            return EXIT_USAGE;
        }
    }
    int help, rc;
    if ((rc = cli_parse(argc, argv, mine, c->pos, 256, &c->npos, &help)) != 0)
        return rc;
    if (help) {
        cli_verb_usage(c->usage ? c->usage : usage, argv[0]);
        return -1;
    }
    if (!c->db) {
        cli_error("%s %s needs --db DB", c->group ? c->group : "match", argv[0]);
        return EXIT_USAGE;
    }
    return 0;
}

/* The database key named by the options: key file, passphrase fd, or terminal. */
int match_db_key(const struct common *c, xchg_store_key **out)
{
    xchg_diag *d = xchg_diag_new();
    int rc = 0;
    if (c->dbkey) {
        xchg_err e = xchg_store_key_load(c->dbkey, out, d);
        if (e != XCHG_OK)
            rc = cli_fail(e, d, c->dbkey);
    } else {
        char *pass = NULL;
        size_t len = 0;
        if ((rc = cli_read_passphrase(c->dbpfd, "database passphrase: ", 0, &pass, &len)) == 0) {
            if (len == 0) {
                cli_error("empty database passphrase");
                rc = EXIT_USAGE;
            } else if (xchg_store_key_from_passphrase(pass, len, NULL, out) != XCHG_OK) {
                cli_error("out of memory");
                rc = EXIT_IO;
            }
        }
        xchg_secure_free(pass);
    }
    xchg_diag_free(d);
    return rc;
}

/* Open the store named by c (agreement p may be NULL for the views). */
int match_open_store(const struct common *c, const xchg_agreement *p, xchg_store **s)
{
    xchg_store_key *k = NULL;
    int rc = match_db_key(c, &k);
    if (rc)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_store_open(c->db, k, p, c->accept ? XCHG_STORE_ACCEPT_NEW_VERSION : 0, s, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        if (e == XCHG_ERR_PASSPHRASE)
            cli_hint("give the key file made by 'xchg match init' (--db-key) or the passphrase "
                     "the store was created with");
        else if (e == XCHG_ERR_DENIED && p)
            cli_hint("a new version of the store's agreement needs --accept-new-version");
    }
    xchg_store_key_free(k);
    xchg_diag_free(d);
    return rc;
}

/* Open the matcher service (store + audit log) named by c for agreement p. */
int match_open_matcher(const struct common *c, const xchg_agreement *p, xchg_matcher **m)
{
    xchg_store_key *k = NULL;
    int rc = match_db_key(c, &k);
    if (rc)
        return rc;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_matcher_open(c->db, k, p, c->accept ? XCHG_MATCHER_ACCEPT_NEW_VERSION : 0,
                                   m, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        if (e == XCHG_ERR_PASSPHRASE)
            cli_hint("give the key file made by 'xchg match init' (--db-key) or the passphrase "
                     "the store was created with");
        else if (e == XCHG_ERR_DENIED)
            cli_hint("a new version of the store's agreement needs --accept-new-version");
    }
    xchg_store_key_free(k);
    xchg_diag_free(d);
    return rc;
}

int match_parse_run(const struct common *c, int64_t *run)
{
    *run = 0;
    if (c->run) {
        char *end = NULL;
        long long v = strtoll(c->run, &end, 10);
        if (!end || *end || v < 1) {
            cli_error("--run must be a run number from 1");
            return EXIT_USAGE;
        }
        *run = v;
    }
    return 0;
}

/* ---- init ------------------------------------------------------------------------ */

static int do_init(const struct common *c)
{
    xchg_agreement *p = NULL;
    xchg_store_key *k = NULL;
    xchg_matcher *m = NULL;
    xchg_diag *d = xchg_diag_new();
    int rc, wrote_key = 0;
    /* --passphrase-fd means a secret key's passphrase everywhere else: here it is kept as
     * the deprecated spelling of --db-passphrase-fd */
    if (c->pfd && c->dbpfd) {
        cli_error("match init: give --db-passphrase-fd only (--passphrase-fd is its deprecated "
                  "spelling)");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (c->pfd)
        cli_warn("match init --passphrase-fd is deprecated: say --db-passphrase-fd (the "
                 "database passphrase, as every other matcher command names it)");
    const char *pfd = c->dbpfd ? c->dbpfd : c->pfd;
    if (c->keyout && pfd) {
        cli_error("match init takes --db-key-out or --db-passphrase-fd, not both");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if ((rc = cli_load_agreement(c->agr, &p)) != 0)
        goto cleanup;
    struct stat sb;
    if (lstat(c->db, &sb) == 0) { /* name the store, not the log the library checks first */
        xchg_diag_add(d, XCHG_SEV_ERROR, c->db, 0, 0,
                      "a store already exists; refusing to replace it or its audit log");
        cli_print_diag(d);
        cli_hint("give another --db for a new store");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    xchg_err e;
    if (c->keyout) {
        if ((e = xchg_store_key_generate(&k)) != XCHG_OK ||
            (e = xchg_store_key_save(k, c->keyout, 0, d)) != XCHG_OK) {
            rc = cli_fail(e, d, c->keyout);
            goto cleanup;
        }
        wrote_key = 1;
    } else {
        char *pass = NULL;
        size_t len = 0;
        if ((rc = cli_read_passphrase(pfd, "new database passphrase: ", 1, &pass, &len)) != 0)
            goto cleanup;
        e = len ? xchg_store_key_from_passphrase(pass, len, NULL, &k) : XCHG_ERR_ARG;
        xchg_secure_free(pass);
        if (e != XCHG_OK) {
            cli_error("empty database passphrase");
            rc = EXIT_USAGE;
            goto cleanup;
        }
    }
    if ((e = xchg_matcher_create(c->db, k, p, &m, d)) != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        if (wrote_key)
            remove(c->keyout); /* a failed init leaves nothing behind */
        goto cleanup;
    }
    const xchg_policy_data *pd = xchg_agreement_get(p);
    char hash[65];
    xchg_hex_encode(hash, xchg_policy_hash(xchg_agreement_policy(p)), 32);
    printf("created store %s for agreement '%s' (sha256 %.16s...), schema %d\n", c->db, pd->id,
           hash, XCHG_STORE_SCHEMA_VERSION);
    if (c->keyout)
        printf("database key written to %s (keep it secret; without it the store cannot be "
               "opened)\n",
               c->keyout);
    printf("audit log %s started\n", xchg_matcher_audit_path(m));
    rc = EXIT_OK;
cleanup:
    xchg_matcher_close(m);
    xchg_store_key_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

/* ---- ingest ---------------------------------------------------------------------- */

static int do_ingest(const struct common *c)
{
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    xchg_matcher *m = NULL;
    int rc;
    if (!c->key || c->npos == 0) {
        cli_error("match ingest needs --key (the matcher's) and at least one FILE");
        return EXIT_USAGE;
    }
    if ((rc = cli_load_agreement(c->agr, &p)) != 0)
        goto cleanup;
    if ((rc = match_open_matcher(c, p, &m)) != 0)
        goto cleanup;
    if ((rc = cli_load_seckey(c->key, c->pfd, &k)) != 0)
        goto cleanup;
    int rejected = 0;
    for (int i = 0; i < c->npos; i++) {
        const char *f = c->pos[i];
        xchg_ingest_stats st;
        xchg_diag *d = xchg_diag_new();
        xchg_err e = xchg_matcher_ingest(m, k, f, NULL, NULL, (int64_t)time(NULL), &st, d);
        if (e != XCHG_OK) {
            int r = cli_fail(e, d, f);
            cli_error("%s is rejected; the store is unchanged", f);
            if (!rc)
                rc = r;
            rejected++;
        } else if (st.already) {
            printf("%s: already ingested (extract %s from '%s'); nothing changed\n", f,
                   st.extract_id, st.agency);
        } else if (st.superseded) {
            printf("%s: ingested %llu records from '%s' as superseded: a newer full snapshot of "
                   "the same agency is already stored (kept for audit, not linked)\n",
                   f, (unsigned long long)st.records, st.agency);
        } else {
            printf("%s: ingested %llu records from '%s' (extract %s, epoch %u, %.0f records/s)\n",
                   f, (unsigned long long)st.records, st.agency, st.extract_id, st.epoch,
                   st.seconds > 0 ? (double)st.records / st.seconds : 0.0);
            if (st.supersedes[0])
                printf("%s: superseded extract %s (an older extract of the same agency)\n", f,
                       st.supersedes);
        }
        xchg_diag_free(d);
    }
    xchg_store_info in;
    if (xchg_store_get_info(xchg_matcher_store(m), &in, NULL) == XCHG_OK)
        printf("store: %llu active %s in %llu active %s (%llu %s in all)\n",
               (unsigned long long)in.records_active,
               cli_plural(in.records_active, "record", "records"),
               (unsigned long long)in.extracts_active,
               cli_plural(in.extracts_active, "extract", "extracts"),
               (unsigned long long)in.extracts, cli_plural(in.extracts, "extract", "extracts"));
    if (rejected)
        cli_error("%d of %d files rejected", rejected, c->npos);
    {
        xchg_diag *d = xchg_diag_new();
        xchg_err e = xchg_matcher_checkpoint(m, k, XCHG_AUDIT_INGEST, "ingest finished", d);
        if (e != XCHG_OK) {
            int r = cli_fail(e, d, xchg_matcher_audit_path(m));
            if (!rc)
                rc = r;
        }
        xchg_diag_free(d);
    }
cleanup:
    xchg_seckey_free(k);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    return rc;
}

/* ---- run ------------------------------------------------------------------------- */


static int do_run(const struct common *c)
{
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_diag *d = xchg_diag_new();
    int rc;
    int32_t date;
    unsigned long threads = 0;
    cli_today(&date);
    if (c->date && xchg_date_parse(c->date, strlen(c->date), &date) != XCHG_OK) {
        cli_error("--date must be YYYY-MM-DD");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (c->threads) {
        char *end = NULL;
        threads = strtoul(c->threads, &end, 10);
        if (!end || *end || threads > 1024) {
            cli_error("--threads must be a number from 0 (one per core) to 1024");
            rc = EXIT_USAGE;
            goto cleanup;
        }
    }
    if ((rc = cli_load_agreement(c->agr, &p)) != 0 || (rc = match_open_matcher(c, p, &m)) != 0)
        goto cleanup;
    xchg_matcher_run_stats r;
    memset(&r, 0, sizeof r);
    xchg_err e = xchg_matcher_run(m, date, (unsigned)threads, (int64_t)time(NULL), &r, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        goto cleanup;
    }
    char ds[11];
    xchg_date_format(date, ds);
    printf("run %lld (evidence window ending %s)\n", (long long)r.run, ds);
    printf("  records            %llu\n", (unsigned long long)r.records);
    printf("  persons            %zu\n", r.persons);
    printf("  households         %zu\n", r.households);
    printf("  eligible families  %zu\n", r.eligible);
    printf("  review pairs       %zu\n", r.review);
    printf("  conflicts          %zu\n", r.conflicts);
    int outcomes = 0;
    const xchg_policy_data *pd = xchg_agreement_get(p);
    for (size_t i = 0; i < pd->nproblems; i++)
        outcomes |= pd->problems[i].noutcome > 0;
    if (outcomes)
        printf("  identified         %zu famil%s tracked across runs (%zu new in this run); "
               "outcomes met %zu; claimable %zu\n",
               r.tracked, r.tracked == 1 ? "y" : "ies", r.identified_new, r.outcomes_met,
               r.claimable);
    if (r.reviews_applied || r.reviews_ignored)
        printf("  review decisions   %zu applied%s%zu ignored (not verifiable, or a record no "
               "longer held)\n",
               r.reviews_applied, ", ", r.reviews_ignored);
    printf("  exact unions %llu, fuzzy links %llu, candidate pairs %llu, comparisons %llu\n",
           (unsigned long long)r.exact_unions, (unsigned long long)r.fuzzy_links,
           (unsigned long long)r.candidate_pairs, (unsigned long long)r.comparisons);
    printf("  time: load %.2fs, link %.2fs (exact %.2fs, fuzzy %.2fs, households %.2fs), "
           "save %.2fs\n",
           r.seconds_load, r.seconds_link, r.seconds_exact, r.seconds_fuzzy,
           r.seconds_households, r.seconds_save);
    rc = EXIT_OK;
cleanup:
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

/* ---- views ----------------------------------------------------------------------- */

/* A CSV field, quoted when it holds a separator, quote or line break (RFC 4180). A value
 * a spreadsheet would run as a formula (starting with = + - @) gets a leading apostrophe
 * and is quoted. */
/* one CSV field, quoted when needed and defused against formula injection (textsafe.h) */
static void csv_field(FILE *o, const char *s)
{
    xchg_csv_field(o, s ? s : "");
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(o, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(o, "\\u%04x", ch);
        else
            fputc(ch, o);
    }
    fputc('"', o);
}

static void date_or(char out[11], int32_t v)
{
    if (v == XCHG_DATE_OPEN)
        snprintf(out, 11, "open");
    else if (v == XCHG_DATE_NONE)
        snprintf(out, 11, "-");
    else
        xchg_date_format(v, out);
}

/* a problem's agencies, comma-joined for a line of text or a CSV cell */
static const char *agencies_text(const xchg_store_problem *pr, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned k = 0; k < pr->nagencies && k < XCHG_STORE_PROBLEM_AGENCIES; k++) {
        int w = snprintf(buf + used, n - used, "%s%s", k ? "," : "", pr->agencies[k]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

static void family_json(FILE *o, const xchg_store_family *f)
{
    fprintf(o, "{\"family\":");
    json_str(o, f->pseudonym);
    fprintf(o,
            ",\"run\":%lld,\"persons\":%u,\"records\":%u,\"eligible\":%s,\"links\":\"%s\","
            "\"review_pairs\":%u,\"conflicts\":%u,\"problems_counting\":%u,\"problems\":[",
            (long long)f->run, f->npersons, f->nrecords, f->eligible ? "true" : "false",
            xchg_link_how_name((xchg_link_how)f->how), f->nreview, f->nconflicts, f->nrule);
    for (size_t i = 0; i < f->nproblems; i++) {
        const xchg_store_problem *pr = &f->problems[i];
        char a[11], b[11];
        date_or(a, pr->first);
        date_or(b, pr->last);
        fprintf(o, "%s{\"code\":", i ? "," : "");
        json_str(o, pr->code);
        fprintf(o, ",\"agencies\":[");
        for (unsigned k = 0; k < pr->nagencies && k < XCHG_STORE_PROBLEM_AGENCIES; k++) {
            fprintf(o, "%s", k ? "," : "");
            json_str(o, pr->agencies[k]);
        }
        fprintf(o, "],\"first\":\"%s\",\"last\":\"%s\",\"counts_for_rule\":%s,\"criteria\":[", a,
                b, pr->counts ? "true" : "false");
        char cb[sizeof pr->criteria];
        snprintf(cb, sizeof cb, "%s", pr->criteria);
        char *save = NULL;
        int k = 0;
        for (char *t = strtok_r(cb, ";", &save); t; t = strtok_r(NULL, ";", &save), k++) {
            fprintf(o, "%s", k ? "," : "");
            json_str(o, t);
        }
        fprintf(o, "]}");
    }
    fprintf(o, "]}");
}

struct list_ctx {
    int mode; /* 0 text, 1 json, 2 csv */
    size_t n;
};

static int list_one(void *ctx, const xchg_store_family *f)
{
    struct list_ctx *l = ctx;
    if (l->mode == 1) {
        fputs(l->n ? ",\n  " : "  ", stdout);
        family_json(stdout, f);
    } else if (l->mode == 2) {
        printf("%s,%lld,%u,%u,%s,%s,%u,%u,", f->pseudonym, (long long)f->run, f->npersons,
               f->nrecords, f->eligible ? "yes" : "no", xchg_link_how_name((xchg_link_how)f->how),
               f->nreview, f->nconflicts);
        char buf[2048];
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < f->nproblems && used < sizeof buf; i++) {
            char ag[XCHG_STORE_PROBLEM_AGENCIES * (XCHG_PARTY_ID_MAX + 1)];
            int w = snprintf(buf + used, sizeof buf - used, "%s%s[%s]", i ? " " : "",
                             f->problems[i].code, agencies_text(&f->problems[i], ag, sizeof ag));
            if (w < 0)
                break;
            used += (size_t)w;
        }
        csv_field(stdout, buf);
        /* the criteria that identified the problems (docs/programme.md), ';'-joined */
        char cr[2048];
        size_t cu = 0;
        cr[0] = '\0';
        for (size_t i = 0; i < f->nproblems && cu < sizeof cr; i++)
            if (f->problems[i].criteria[0]) {
                int w = snprintf(cr + cu, sizeof cr - cu, "%s%s", cu ? ";" : "",
                                 f->problems[i].criteria);
                if (w < 0)
                    break;
                cu += (size_t)w;
            }
        putchar(',');
        csv_field(stdout, cr);
        putchar('\n');
    } else {
        if (l->n == 0)
            printf("%-22s %7s %7s %-8s %-6s %6s %9s  %s\n", "FAMILY", "PERSONS", "RECORDS",
                   "ELIGIBLE", "LINKS", "REVIEW", "CONFLICTS", "PROBLEMS [AGENCIES]");
        printf("%-22s %7u %7u %-8s %-6s %6u %9u  ", f->pseudonym, f->npersons, f->nrecords,
               f->eligible ? "yes" : "no", xchg_link_how_name((xchg_link_how)f->how), f->nreview,
               f->nconflicts);
        for (size_t i = 0; i < f->nproblems; i++) {
            char ag[XCHG_STORE_PROBLEM_AGENCIES * (XCHG_PARTY_ID_MAX + 1)];
            printf("%s%s%s[%s]", i ? " " : "", f->problems[i].code,
                   f->problems[i].counts ? "" : "*", agencies_text(&f->problems[i], ag, sizeof ag));
        }
        putchar('\n');
    }
    l->n++;
    return 0;
}

static int do_list(const struct common *c)
{
    xchg_store *s = NULL;
    int64_t run;
    int rc;
    if (c->json && c->csv) {
        cli_error("choose --json or --csv");
        return EXIT_USAGE;
    }
    if ((rc = match_parse_run(c, &run)) != 0 || (rc = match_open_store(c, NULL, &s)) != 0)
        return rc;
    struct list_ctx l = {c->json ? 1 : c->csv ? 2 : 0, 0};
    if (l.mode == 1)
        printf("[\n");
    if (l.mode == 2)
        printf("family,run,persons,records,eligible,links,review_pairs,conflicts,problems,"
               "criteria\n");
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_store_families(s, run, c->all ? XCHG_STORE_ALL : 0, list_one, &l, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        if (e == XCHG_ERR_NOT_FOUND)
            cli_hint("run 'xchg match run' first");
    } else if (l.mode == 1) {
        printf("%s]\n", l.n ? "\n" : "");
    } else if (l.mode == 0) {
        if (l.n == 0)
            printf("no %sfamilies in this run\n", c->all ? "" : "eligible ");
        else
            printf("%zu %sfamilies; * = problem evidenced but not counted by the rule\n", l.n,
                   c->all ? "" : "eligible ");
    }
    xchg_diag_free(d);
    xchg_store_free(s);
    return rc;
}

struct show_ctx {
    int json;
    size_t nm, np;
    const xchg_policy *p; /* names the pairs' keys (--agreement), or NULL: indexes */
};

/* The keys in mask of kind (XCHG_PAIR_*), by name when the agreement is known. */
static void print_keys(const struct show_ctx *sc, int kind, uint32_t mask, int json)
{
    int n = 0;
    for (unsigned i = 0; i < 32; i++) {
        if (!(mask & (1u << i)))
            continue;
        char alt[16];
        const char *name = xchg_policy_token_label(sc->p, kind, i, alt, sizeof alt);
        if (json) {
            printf("%s", n ? "," : "");
            json_str(stdout, name);
        } else {
            char parts[200] = "";
            if (sc->p)
                xchg_policy_token_parts(sc->p, kind, i, parts, sizeof parts);
            printf("%s%s%s%s%s", n ? ", " : "", name, *parts ? " (" : "", parts,
                   *parts ? ")" : "");
        }
        n++;
    }
}

static void print_age(int age)
{
    if (age == XCHG_AGE_UNKNOWN)
        printf(",\"age\":null");
    else
        printf(",\"age\":%d", age);
}

static void print_key_sets(const struct show_ctx *sc, const uint32_t sets[3])
{
    for (int k = 0; k < 3; k++) {
        printf("%s\"%s\":[", k ? "," : "", xchg_token_kind_name(k));
        print_keys(sc, k, sets[k], 1);
        printf("]");
    }
}

static int show_member(void *ctx, const xchg_store_member *m)
{
    struct show_ctx *sc = ctx;
    if (sc->json) {
        printf("%s{\"person\":", sc->nm ? "," : "");
        json_str(stdout, m->pseudonym);
        printf(",\"agencies\":[");
        for (unsigned k = 0; k < m->nagencies && k < XCHG_STORE_MEMBER_AGENCIES; k++) {
            printf("%s", k ? "," : "");
            json_str(stdout, m->agencies[k]);
        }
        printf("],\"records\":%u}", m->nrecords);
    } else {
        if (sc->nm == 0)
            printf("members:\n");
        printf("  %-22s %3u record%s  ", m->pseudonym, m->nrecords, m->nrecords == 1 ? " " : "s");
        for (unsigned k = 0; k < m->nagencies && k < XCHG_STORE_MEMBER_AGENCIES; k++)
            printf("%s%s", k ? "," : "", m->agencies[k]);
        if (m->nagencies > XCHG_STORE_MEMBER_AGENCIES)
            printf(",+%u", m->nagencies - XCHG_STORE_MEMBER_AGENCIES);
        printf("\n");
    }
    sc->nm++;
    return 0;
}

static int show_pair(void *ctx, const xchg_store_pair *p)
{
    struct show_ctx *sc = ctx;
    if (sc->json) {
        printf("%s{\"kind\":\"%s\",\"a\":{\"agency\":", sc->np ? "," : "",
               p->conflict ? "conflict" : "review");
        json_str(stdout, p->agency_a);
        printf(",\"ref\":");
        json_str(stdout, p->ref_a);
        printf(",\"person\":");
        json_str(stdout, p->person_a);
        print_age(p->age_a);
        printf(",\"area\":");
        json_str(stdout, p->area_a);
        printf("},\"b\":{\"agency\":");
        json_str(stdout, p->agency_b);
        printf(",\"ref\":");
        json_str(stdout, p->ref_b);
        printf(",\"person\":");
        json_str(stdout, p->person_b);
        print_age(p->age_b);
        printf(",\"area\":");
        json_str(stdout, p->area_b);
        printf("},\"score\":%.4f,\"key\":%d,\"same\":{", p->score, p->key);
        print_key_sets(sc, p->same);
        printf("},\"differ\":{");
        print_key_sets(sc, p->differ);
        printf("},\"keys\":{"); /* what each named key is made of (with --agreement) */
        int nk = 0;
        for (int k = 0; k < 3 && sc->p; k++)
            for (unsigned i = 0; i < 32; i++) {
                char parts[200];
                const char *name = xchg_policy_token_name(sc->p, k, i);
                if (!((p->same[k] | p->differ[k]) & (1u << i)) || !name ||
                    !xchg_policy_token_parts(sc->p, k, i, parts, sizeof parts))
                    continue;
                printf("%s", nk++ ? "," : "");
                json_str(stdout, name);
                printf(":");
                json_str(stdout, parts);
            }
        printf("}}");
    } else {
        if (sc->np == 0)
            printf("review pairs and conflicts:\n");
        const char *kn = sc->p && p->conflict ? xchg_policy_token_name(sc->p, 0, (size_t)p->key)
                                               : NULL;
        if (p->conflict && kn)
            printf("  conflict (match key %s refused)  ", kn);
        else if (p->conflict)
            printf("  conflict (match key %d refused)  ", p->key);
        else
            printf("  review (Dice %.3f)  ", p->score);
        printf("%s %s (%s)  <->  %s %s (%s)\n", p->agency_a, p->ref_a, p->person_a, p->agency_b,
               p->ref_b, p->person_b);
        if (!p->conflict) {
            char aa[8] = "?", ab[8] = "?";
            if (p->age_a != XCHG_AGE_UNKNOWN)
                snprintf(aa, sizeof aa, "%d", p->age_a);
            if (p->age_b != XCHG_AGE_UNKNOWN)
                snprintf(ab, sizeof ab, "%d", p->age_b);
            printf("    age %s / %s, area %s / %s\n", aa, ab, *p->area_a ? p->area_a : "?",
                   *p->area_b ? p->area_b : "?");
            for (int k = 0; k < 3; k++) {
                if (!p->same[k] && !p->differ[k])
                    continue;
                printf("    %-9s", xchg_token_kind_name(k));
                if (p->same[k]) {
                    printf(" same: ");
                    print_keys(sc, k, p->same[k], 0);
                }
                if (p->differ[k]) {
                    printf("%s differ: ", p->same[k] ? ";" : "");
                    print_keys(sc, k, p->differ[k], 0);
                }
                printf("\n");
            }
        }
    }
    sc->np++;
    return 0;
}

static int do_show(const struct common *c)
{
    xchg_store *s = NULL;
    int64_t run;
    int rc;
    if (c->npos != 1) {
        cli_error("match show needs one FAMILY pseudonym");
        return EXIT_USAGE;
    }
    if ((rc = match_parse_run(c, &run)) != 0 || (rc = match_open_store(c, NULL, &s)) != 0)
        return rc;
    /* with --agreement, the review pairs' keys are named */
    xchg_agreement *agr = NULL;
    if (c->agr && (rc = cli_load_agreement(c->agr, &agr)) != 0) {
        xchg_store_free(s);
        return rc;
    }
    xchg_store_family *f = calloc(1, sizeof *f);
    xchg_diag *d = xchg_diag_new();
    struct show_ctx sc = {c->json != NULL, 0, 0, agr ? xchg_agreement_policy(agr) : NULL};
    xchg_err e = f ? xchg_store_family_show(s, run, c->pos[0], f, NULL, NULL, NULL, d)
                   : XCHG_ERR_NOMEM;
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        goto cleanup;
    }
    if (sc.json) {
        printf("{\"family\":");
        family_json(stdout, f);
        printf(",\"members\":[");
        e = xchg_store_family_show(s, run, c->pos[0], f, show_member, NULL, &sc, d);
        printf("],\"pairs\":[");
        if (e == XCHG_OK)
            e = xchg_store_family_show(s, run, c->pos[0], f, NULL, show_pair, &sc, d);
        printf("]}\n");
    } else {
        printf("family %s (run %lld): %s, %u person%s, %u records, links %s\n", f->pseudonym,
               (long long)f->run, f->eligible ? "ELIGIBLE" : "not eligible", f->npersons,
               f->npersons == 1 ? "" : "s", f->nrecords, xchg_link_how_name((xchg_link_how)f->how));
        printf("problems (%u counting towards the rule):\n", f->nrule);
        for (size_t i = 0; i < f->nproblems; i++) {
            char a[11], b[11];
            date_or(a, f->problems[i].first);
            date_or(b, f->problems[i].last);
            char ag[XCHG_STORE_PROBLEM_AGENCIES * (XCHG_PARTY_ID_MAX + 1)];
            printf("  %-24s %s..%s  %s%s\n", f->problems[i].code, a, b,
                   agencies_text(&f->problems[i], ag, sizeof ag),
                   f->problems[i].counts ? "" : "  (not counted by the rule)");
        }
        e = xchg_store_family_show(s, run, c->pos[0], f, show_member, show_pair, &sc, d);
        if (sc.np == 0)
            printf("no review pairs or conflicts\n");
    }
    rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, c->db);
cleanup:
    free(f);
    xchg_diag_free(d);
    xchg_store_free(s);
    xchg_agreement_free(agr);
    return rc;
}

static const char links_header[] = "agency,record_ref,person,family\n";

static int link_row(void *ctx, const xchg_store_link *l)
{
    size_t *n = ctx;
    if ((*n)++ == 0)
        fputs(links_header, stdout);
    csv_field(stdout, l->agency);
    putchar(',');
    csv_field(stdout, l->ref);
    putchar(',');
    csv_field(stdout, l->person);
    putchar(',');
    csv_field(stdout, l->family);
    putchar('\n');
    return 0;
}

static int do_links(const struct common *c)
{
    xchg_store *s = NULL;
    int64_t run;
    int rc;
    if (!c->csv) {
        cli_error("match links writes CSV: give --csv");
        return EXIT_USAGE;
    }
    if ((rc = match_parse_run(c, &run)) != 0 || (rc = match_open_store(c, NULL, &s)) != 0)
        return rc;
    xchg_diag *d = xchg_diag_new();
    size_t n = 0;
    /* the header only with the rows: a failure prints no half a CSV */
    xchg_err e = xchg_store_links(s, run, link_row, &n, d);
    if (e == XCHG_OK && n == 0)
        fputs(links_header, stdout);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        if (e == XCHG_ERR_NOT_FOUND)
            cli_hint("run 'xchg match run' first");
    }
    xchg_diag_free(d);
    xchg_store_free(s);
    return rc;
}

/* ---- purge ------------------------------------------------------------------------ */

static int do_purge(const struct common *c)
{
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_purge_stats *st = NULL;
    int rc;
    int32_t today;
    cli_today(&today);
    if (c->date && xchg_date_parse(c->date, strlen(c->date), &today) != XCHG_OK) {
        cli_error("--date must be YYYY-MM-DD (the day to purge as of; default today)");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if ((rc = cli_load_agreement(c->agr, &p)) != 0 || (rc = match_open_matcher(c, p, &m)) != 0)
        goto cleanup;
    long days = xchg_agreement_get(p)->retention_days;
    int64_t now = c->date ? (int64_t)today * 86400 + 86399 : (int64_t)time(NULL);
    if (!(st = calloc(1, sizeof *st))) {
        rc = EXIT_IO;
        goto cleanup;
    }
    xchg_err e = xchg_matcher_retention(m, now, c->dry != NULL, st, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
        goto cleanup;
    }
    printf("%s %zu extract%s (%llu records) received more than %ld days ago, and the summaries "
           "of %llu run%s%s\n",
           c->dry ? "would purge" : st->purged ? "purged" : "nothing to purge:", st->nextracts,
           st->nextracts == 1 ? "" : "s", (unsigned long long)st->records, days,
           (unsigned long long)st->runs, st->runs == 1 ? "" : "s",
           c->dry ? " (dry run: nothing deleted)" : "");
    for (size_t i = 0; i < st->nextracts && i < 20; i++)
        printf("  %s from '%s'\n", st->extract_ids[i], st->agencies[i]);
cleanup:
    free(st);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

/* ---- review ----------------------------------------------------------------------- */

static int split_ref(const char *s, char *agency, size_t n, const char **ref)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !colon[1] || (size_t)(colon - s) >= n)
        return -1;
    memcpy(agency, s, (size_t)(colon - s));
    agency[colon - s] = '\0';
    *ref = colon + 1;
    return 0;
}

static int do_review(const struct common *c)
{
    char aa[XCHG_PARTY_ID_MAX + 1], ab[XCHG_PARTY_ID_MAX + 1];
    const char *ra = NULL, *rb = NULL;
    if (!c->key || !c->reason || c->npos != 2 || (!c->same == !c->different) ||
        split_ref(c->pos[0], aa, sizeof aa, &ra) || split_ref(c->pos[1], ab, sizeof ab, &rb)) {
        cli_error("match review needs --key (an operator's), --same or --different, --reason "
                  "TEXT and two records as AGENCY:REF");
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_seckey *k = NULL;
    xchg_diag *d = xchg_diag_new();
    int rc;
    if ((rc = cli_load_agreement(c->agr, &p)) != 0 || (rc = match_open_matcher(c, p, &m)) != 0 ||
        (rc = cli_load_seckey(c->key, c->pfd, &k)) != 0)
        goto cleanup;
    xchg_err e = xchg_matcher_review(m, k, aa, ra, ab, rb, c->same != NULL, c->reason,
                                     (int64_t)time(NULL), d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "match review");
        goto cleanup;
    }
    printf("recorded: %s:", aa);
    xchg_term_safe(stdout, ra);
    printf(" and %s:", ab);
    xchg_term_safe(stdout, rb);
    printf(" are %s; every later run applies it (xchg match run)\n",
           c->same ? "one person" : "different people");
    rc = EXIT_OK;
cleanup:
    xchg_seckey_free(k);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

int cmd_match(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    static const struct {
        const char *verb;
        int (*fn)(const struct common *);
    } verbs[] = {{"init", do_init}, {"ingest", do_ingest}, {"run", do_run},
                 {"list", do_list}, {"show", do_show},     {"links", do_links},
                 {"purge", do_purge},  {"review", do_review}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(argv[1], verbs[i].verb) != 0)
            continue;
        struct common c = {0};
        int rc = match_parse(argc - 1, argv + 1, &c);
        if (rc)
            return rc < 0 ? EXIT_OK : rc;
        return verbs[i].fn(&c);
    }
    cli_error("unknown match command '%s'", argv[1]);
    fputs(usage, stderr);
    return EXIT_USAGE;
}
