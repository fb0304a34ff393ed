/* xchg seal: an agency's CSV extract -> a sealed extract for the matcher. */
#include "cli.h"
#include "commands.h"
#include "keyd_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg seal --agreement A.yaml --key AGENCY.key --secret LINKAGE.xsec\n"
    "                 --in EXTRACT.csv -o EXTRACT.xex [--period START..END]\n"
    "                 [--incremental | --empty-snapshot] [--report REPORT.csv] [--strict]\n"
    "                 [--mapping MAPPING.yaml] [--force] [--passphrase-fd N]\n"
    "                 [--keyd-ca CA.pem [--keyd URL]]\n"
    "       xchg seal --check --agreement A.yaml --key AGENCY.key --secret LINKAGE.xsec\n"
    "                 --in EXTRACT.csv [--mapping MAPPING.yaml] [--strict] [--period ...]\n"
    "       xchg seal --template --agreement A.yaml (--mapping MAPPING.yaml | --agency ID)\n"
    "       xchg seal --inspect --agreement A.yaml --key MATCHER.key EXTRACT.xex\n"
    "\n"
    "Turns the agency's CSV extract into a sealed extract: identifiers become keyed tokens\n"
    "and a Bloom-filter encoding, problem indicators are derived as the agreement says,\n"
    "the detail the agreement allows is encrypted to its recipients, and the file is\n"
    "signed with the agency's key and encrypted to the matcher.\n"
    "\n"
    "  --period START..END  the evidence period the extract covers (YYYY-MM-DD..YYYY-MM-DD;\n"
    "                       default: the agreement's evidence window ending today)\n"
    "  --report FILE        write every row problem to FILE as CSV (line, field, outcome,\n"
    "                       problem); bad rows are left out and listed, never dropped silently;\n"
    "                       outcome is rejected, warning, or no-indicators (a record whose\n"
    "                       consent does not meet the agreement's identification rule: sealed\n"
    "                       without its problem indicators)\n"
    "  --strict             fail the whole run, writing nothing, if any row is bad or a\n"
    "                       column is systematically unparseable (more of its values than\n"
    "                       the agreement's quality.max_unparseable, default 5%)\n"
    "  --mapping FILE       the agency's own mapping of its CSV headers, date formats and\n"
    "                       codes onto the agreement's fields (docs/mapping.md)\n"
    "  --check              validate and report as sealing would; write nothing\n"
    "  --template           print the CSV header and a sample row the extract must have\n"
    "  --agency ID          with --template and no --mapping: the agency (party id)\n"
    "  --incremental        the extract adds records to what the agency sent before; by\n"
    "                       default it is a full snapshot, which replaces the agency's earlier\n"
    "                       extracts for the period\n"
    "  --empty-snapshot     allow a full snapshot with no data rows (it withdraws every record\n"
    "                       the agency sent for the period); without it a header-only file is\n"
    "                       refused\n"
    "  --force              replace an existing output file\n"
    "  --keyd-ca CA.pem     an agreement with tokens.mode: oprf: trust only this CA for its\n"
    "                       key service (xchg-keyd, docs/keyd.md)\n"
    "  --keyd URL           reach the key service at URL instead of the agreement's\n"
    "                       tokens.keyd (its answers are verified against tokens.key)\n"
    "  --oprf-cache FILE    keep the key service's answers in FILE (encrypted under this\n"
    "                       agency's key) so that the next seal asks only for new values\n"
    "                       (docs/keyd.md \"The agency's cache\")\n"
    "\n"
    "example: xchg seal --agreement phase2.yaml --key keys/police.key --secret linkage-secret-e1.xsec --in police.csv -o police.xex\n";

/* xchg seal --template: the header and a sample row, from the mapping or the agreement. */
static int do_template(const xchg_agreement *p, const xchg_mapping *m, const char *agency_id)
{
    size_t agency =
        m ? xchg_mapping_agency(m) : xchg_policy_party(xchg_agreement_policy(p), agency_id);
    if (agency == XCHG_NONE || !xchg_policy_extract(xchg_agreement_policy(p), agency)) {
        cli_error("'%s' is not an agency of agreement '%s'", agency_id, xchg_agreement_get(p)->id);
        return EXIT_USAGE;
    }
    char *text = NULL;
    xchg_err e = xchg_seal_template(xchg_agreement_policy(p), agency, m, &text);
    if (e != XCHG_OK) {
        cli_error("cannot make the template: %s", xchg_strerror(e));
        return cli_exit_code(e);
    }
    xchg_term_safe_text(stdout, text); /* column names are the agreement's or mapping's text */
    free(text);
    return EXIT_OK;
}

static int parse_period(const char *s, int32_t *a, int32_t *b)
{
    const char *dots = strstr(s, "..");
    if (!dots)
        return -1;
    if (xchg_date_parse(s, (size_t)(dots - s), a) != XCHG_OK ||
        xchg_date_parse(dots + 2, strlen(dots + 2), b) != XCHG_OK || *b < *a)
        return -1;
    return 0;
}

int cmd_seal(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* xchg seal --inspect FILE: the reviewer's view */
        if (strcmp(argv[i], "--inspect") == 0)
            return cmd_extract_run("inspect", argc, argv);
    const char *agr = NULL, *key = NULL, *sec = NULL, *in = NULL, *out = NULL, *period = NULL,
               *strict = NULL, *report = NULL, *force = NULL, *pfd = NULL, *incr = NULL,
               *empty = NULL, *mapping = NULL, *check = NULL, *tmpl = NULL, *agency_id = NULL,
               *keyd_ca = NULL, *keyd_url = NULL, *oprf_cache = NULL;
    const struct cli_opt opts[] = {
        {"--agreement", 'a', 1, &agr},  {"--key", 'k', 1, &key},     {"--secret", 's', 1, &sec},
        {"--in", 'i', 1, &in},          {"--out", 'o', 1, &out},     {"--period", 0, 1, &period},
        {"--strict", 0, 0, &strict},    {"--report", 'r', 1, &report},
        {"--force", 'f', 0, &force},    {"--incremental", 0, 0, &incr},
        {"--empty-snapshot", 0, 0, &empty},
        {"--passphrase-fd", 0, 1, &pfd}, {"--mapping", 'm', 1, &mapping},
        {"--check", 0, 0, &check},      {"--template", 0, 0, &tmpl},
        {"--agency", 0, 1, &agency_id}, {"--keyd-ca", 0, 1, &keyd_ca},
        {"--keyd", 0, 1, &keyd_url},    {"--oprf-cache", 0, 1, &oprf_cache},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (tmpl) {
        if (!agr || (!mapping && !agency_id)) {
            cli_error("seal --template needs --agreement and --mapping FILE or --agency ID");
            return EXIT_USAGE;
        }
    } else if (check) {
        if (!agr || !key || !sec || !in) {
            cli_error("seal --check needs --agreement, --key, --secret and --in (it writes "
                      "nothing, so no -o)");
            return EXIT_USAGE;
        }
    } else if (!agr || !key || !sec || !in || !out) {
        cli_error("seal needs --agreement, --key, --secret, --in and -o");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (incr && empty) {
        cli_error("--empty-snapshot declares an empty full snapshot; an incremental extract "
                  "with no rows has nothing to send");
        return EXIT_USAGE;
    }
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    xchg_secret *s = NULL;
    xchg_mapping *m = NULL;
    struct cli_keyd *kd = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    xchg_err e;
    if (mapping) {
        e = xchg_mapping_load(xchg_agreement_policy(p), mapping, &m, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, mapping);
            cli_hint("the mapping names the agency's CSV columns for the fields agreement "
                     "'%s' lets it send (docs/mapping.md)",
                     xchg_agreement_get(p)->id);
            goto cleanup;
        }
    }
    if (tmpl) {
        rc = do_template(p, m, agency_id);
        goto cleanup;
    }
    int32_t today;
    cli_today(&today);
    xchg_seal_opts o = {.input = in, .output = out, .overwrite = force != NULL,
                        .mapping = m, .check_only = check != NULL,
                        .strict = strict != NULL,
                        .report = report, .now = (int64_t)time(NULL),
                        .incremental = incr != NULL, .allow_empty = empty != NULL};
    if (period) {
        if (parse_period(period, &o.period_start, &o.period_end) != 0) {
            cli_error("--period must be START..END with dates YYYY-MM-DD, START <= END");
            rc = EXIT_USAGE;
            goto cleanup;
        }
    } else {
        o.period_end = today;
        o.period_start = today - xchg_agreement_get(p)->rule_window_days + 1;
    }
    if ((rc = cli_load_seckey(key, pfd, &k)) != 0)
        goto cleanup;
    e = xchg_secret_open(p, k, sec, &s, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, sec);
        goto cleanup;
    }
    if (xchg_agreement_get(p)->tokens.mode == XCHG_TOKENS_OPRF) {
        if ((rc = cli_keyd_open(keyd_url ? keyd_url : xchg_agreement_get(p)->tokens.keyd, keyd_ca,
                                k, &kd)) != 0)
            goto cleanup;
        o.oprf_transport = cli_keyd_transport;
        o.oprf_ctx = kd;
    }
    o.oprf_cache = oprf_cache; /* the library refuses one without tokens.mode: oprf */
    xchg_seal_stats st;
    e = xchg_seal(p, k, s, &o, &st, d);
    cli_print_diag(d);
    if (e != XCHG_OK) {
        if (check)
            cli_error("%s would not seal: %s (check only: nothing was written)", in,
                      xchg_strerror(e));
        else
            cli_error("%s was not sealed: %s", in, xchg_strerror(e));
        rc = cli_exit_code(e);
        goto cleanup;
    }
    if (check) {
        printf("checked %s (nothing written)\n  rows %llu: %llu would be sealed, %llu rejected; "
               "indicator events %llu\n  warnings %llu (%llu invalid identifiers left out; "
               "%llu rows with no match key); %llu systematically unparseable column%s\n",
               in, (unsigned long long)st.rows, (unsigned long long)st.sealed,
               (unsigned long long)st.rejected, (unsigned long long)st.indicators,
               (unsigned long long)st.warnings, (unsigned long long)st.dropped_identifiers,
               (unsigned long long)st.no_tokens, (unsigned long long)st.quality_failures,
               st.quality_failures == 1 ? "" : "s");
        rc = EXIT_OK;
        goto cleanup;
    }
    char id[33], from[11], to[11];
    xchg_hex_encode(id, st.extract_id, 16);
    xchg_date_format(o.period_start, from);
    xchg_date_format(o.period_end, to);
    size_t who = xchg_policy_party_by_key(xchg_agreement_policy(p), xchg_seckey_public(k)->id);
    printf(
        "sealed %s -> %s\n  agency %s, agreement %s, epoch %u, period %s..%s\n"
        "  %s, extract id %s\n  rows %llu, sealed %llu, rejected %llu, indicator events %llu "
        "(%llu outside the period, not sent)\n"
        "  consent: %llu record%s not usable for identification, sealed without %s %llu "
        "indicator event%s\n"
        "  warnings %llu (%llu invalid identifiers left out; %llu rows with no match key)\n",
        in, out, xchg_agreement_get(p)->parties[who].id, xchg_agreement_get(p)->id,
        xchg_secret_epoch(s), from, to, o.incremental ? "incremental extract" : "full snapshot", id,
        (unsigned long long)st.rows, (unsigned long long)st.sealed, (unsigned long long)st.rejected,
        (unsigned long long)st.indicators, (unsigned long long)st.out_of_period,
        (unsigned long long)st.identification_denied, st.identification_denied == 1 ? "" : "s",
        st.identification_denied == 1 ? "its" : "their", (unsigned long long)st.indicators_withheld,
        st.indicators_withheld == 1 ? "" : "s", (unsigned long long)st.warnings,
        (unsigned long long)st.dropped_identifiers, (unsigned long long)st.no_tokens);
    if (kd && oprf_cache)
        printf("  tokens: OPRF through %s: %llu distinct values in %llu requests, %llu more from "
               "the cache\n",
               keyd_url ? keyd_url : xchg_agreement_get(p)->tokens.keyd,
               (unsigned long long)st.oprf_inputs, (unsigned long long)st.oprf_requests,
               (unsigned long long)st.oprf_cached);
    else if (kd)
        printf("  tokens: OPRF through %s: %llu distinct values in %llu requests\n",
               keyd_url ? keyd_url : xchg_agreement_get(p)->tokens.keyd,
               (unsigned long long)st.oprf_inputs, (unsigned long long)st.oprf_requests);
    rc = EXIT_OK;
cleanup:
    xchg_mapping_free(m);
    cli_keyd_close(kd);
    xchg_secret_free(s);
    xchg_seckey_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
