/*
 * xchg outcomes / xchg claims: the programme's outcomes per family and problem, and
 * payment-by-results claims with their signed evidence packs (docs/programme.md). Thin
 * shells over xchg_store_outcomes, xchg_matcher_claims and xchg_evidence_verify.
 */
#include "cli.h"
#include "cli_store.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char outcomes_usage[] =
    "usage: xchg outcomes --db DB --db-key FILE --agreement A [--run N] [--json | --csv]\n"
    "       xchg outcomes --costs --db DB --db-key FILE --agreement A [--run N]\n"
    "  Each identified family's baseline problems with their outcome judged on the run's\n"
    "  date: baseline and latest value of the outcome's measure, met / not met / too early,\n"
    "  and since when it has been met in every run (docs/programme.md). --costs: the\n"
    "  agreement's unit costs against the events before and after identification, the\n"
    "  predicted and observed savings, and the saving per pound invested.\n"
    "\n"
    "example: xchg outcomes --db m/store.db --db-key m/store.key --agreement phase2.yaml --csv\n";

static void money(char *out, size_t n, double v)
{
    snprintf(out, n, "%.0f", v);
}

static int do_costs(const struct common *c, const xchg_agreement *p)
{
    xchg_matcher *m = NULL;
    xchg_diag *d = xchg_diag_new();
    int rc = match_open_matcher(c, p, &m);
    if (rc) {
        xchg_diag_free(d);
        return rc;
    }
    xchg_matcher_cost_report r;
    int64_t run;
    if ((rc = match_parse_run(c, &run)) != 0) {
        xchg_matcher_close(m);
        xchg_diag_free(d);
        return rc;
    }
    xchg_err e = xchg_matcher_costs(m, run, &r, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c->db);
    } else {
        char a[32], b[32], inv[32];
        printf("cost savings over %zu famil%s identified at least %d days before the run\n",
               r.families, r.families == 1 ? "y" : "ies", r.window_days);
        printf("%-32s %10s %9s %9s %9s %14s %14s\n", "item", "unit cost", "predicted",
               "baseline", "after", "predicted", "observed");
        for (size_t i = 0; i < r.nlines; i++) {
            const xchg_matcher_cost_line *l = &r.lines[i];
            money(a, sizeof a, l->predicted_saving);
            money(b, sizeof b, l->observed_saving);
            printf("%-32s %10.0f %8.0f%% %9.0f %9.0f %14s %14s\n", l->title, l->unit_cost,
                   l->predicted_reduction * 100, l->baseline_events, l->outcome_events, a, b);
        }
        money(a, sizeof a, r.predicted_saving);
        money(b, sizeof b, r.observed_saving);
        money(inv, sizeof inv, r.invested);
        printf("total (%s): predicted %s, observed %s, invested %s\n", r.currency, a, b, inv);
        if (isnan(r.saving_per_pound))
            printf("saving per pound invested: - (the agreement gives no cost per family)\n");
        else
            printf("saving per pound invested: %.2f\n", r.saving_per_pound);
        rc = EXIT_OK;
    }
    xchg_matcher_close(m);
    xchg_diag_free(d);
    return rc;
}

static const char claims_usage[] =
    "usage: xchg claims --db DB --db-key FILE --agreement A --key MATCHER.key [--run N]\n"
    "                   [-o DIR] [--json | --csv]\n"
    "       xchg claims verify --agreement A PACK...\n"
    "  The families the agreement's claim rule holds for; with -o, a signed evidence pack\n"
    "  per family (DIR/<family>.xev) that 'claims verify' checks offline: the matcher's\n"
    "  signature and the rule, criteria and outcomes re-evaluated on the pack's events.\n"
    "\n"
    "example: xchg claims --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/matcher.key -o packs\n"
    "example: xchg claims verify --agreement phase2.yaml packs/*.xev\n";

static void num(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "-");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, n, "%.0f", v);
    else
        snprintf(out, n, "%.3f", v);
}

static const char *change_name(int c)
{
    return c == 0 ? "new" : c == 1 ? "changed" : "unchanged";
}

struct out {
    const struct common *c;
    size_t n;
    int first;
    const char *header; /* printed before the first row, or at the end if there is none */
};

static void header(struct out *w)
{
    if (w->header) {
        fputs(w->header, stdout);
        w->header = NULL;
    }
}

static int print_outcome(void *ctx, const xchg_store_outcome *o)
{
    struct out *w = ctx;
    header(w);
    char idd[11], since[11] = "-", b[32], l[32];
    xchg_date_format(o->identified, idd);
    if (o->since != XCHG_DATE_NONE)
        xchg_date_format(o->since, since);
    num(b, sizeof b, o->baseline);
    num(l, sizeof l, o->latest);
    const char *st = xchg_outcome_status_name((xchg_outcome_status)o->status);
    if (w->c->json) {
        printf("%s{\"family\":\"%s\",\"identified\":\"%s\",\"first_run\":%lld,\"problem\":\"%s\","
               "\"status\":\"%s\",\"baseline\":%s,\"latest\":%s,\"since\":%s%s%s,"
               "\"criteria_met\":\"%s\",\"family_since_last_run\":\"%s\"}",
               w->first ? "" : ",\n  ", o->family, idd, (long long)o->first_run, o->problem, st,
               isnan(o->baseline) ? "null" : b, isnan(o->latest) ? "null" : l,
               o->since == XCHG_DATE_NONE ? "" : "\"", o->since == XCHG_DATE_NONE ? "null" : since,
               o->since == XCHG_DATE_NONE ? "" : "\"", o->criteria, change_name(o->change));
    } else if (w->c->csv) {
        printf("%s,%s,%lld,%s,%s,%s,%s,%s,%s,%s\n", o->family, idd, (long long)o->first_run,
               o->problem, st, isnan(o->baseline) ? "" : b, isnan(o->latest) ? "" : l,
               o->since == XCHG_DATE_NONE ? "" : since, o->criteria, change_name(o->change));
    } else {
        printf("%-16s %-10s %-22s %-9s %8s %8s %-10s %s\n", o->family, idd, o->problem, st, b, l,
               since, o->criteria);
    }
    w->first = 0;
    w->n++;
    return 0;
}

static int do_outcomes(int argc, char **argv)
{
    struct common c = {.usage = outcomes_usage, .group = "outcomes"};
    int rc = match_parse(argc, argv, &c);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (c.npos) {
        cli_error("outcomes takes no arguments (got '%s')", c.pos[0]);
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_store *s = NULL;
    xchg_diag *d = xchg_diag_new();
    if ((rc = cli_load_agreement(c.agr, &p)) != 0)
        goto cleanup;
    if (c.costs) {
        rc = do_costs(&c, p);
        goto cleanup;
    }
    if ((rc = match_open_store(&c, p, &s)) != 0)
        goto cleanup;
    int64_t run;
    if ((rc = match_parse_run(&c, &run)) != 0)
        goto cleanup;
    char text_header[160];
    snprintf(text_header, sizeof text_header, "%-16s %-10s %-22s %-9s %8s %8s %-10s %s\n",
             "family", "identified", "problem", "outcome", "baseline", "latest", "met since",
             "criteria met");
    struct out w = {&c, 0, 1,
                    c.json  ? "["
                    : c.csv ? "family,identified,first_run,problem,status,baseline,latest,since,"
                              "criteria_met,family_since_last_run\n"
                            : text_header};
    xchg_err e = xchg_store_outcomes(s, run, print_outcome, &w, d);
    if (e == XCHG_OK)
        header(&w); /* no rows: the header (or an empty JSON list) all the same */
    if (c.json && e == XCHG_OK)
        printf("]\n");
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c.db);
        goto cleanup;
    }
    if (!c.json && !c.csv)
        printf("%zu outcome%s\n", w.n, w.n == 1 ? "" : "s");
    rc = EXIT_OK;
cleanup:
    xchg_store_free(s);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

int cmd_outcomes(int argc, char **argv)
{
    return do_outcomes(argc, argv);
}

static int print_claim(void *ctx, const xchg_matcher_claim *cl)
{
    struct out *w = ctx;
    header(w);
    char idd[11], jd[11];
    xchg_date_format(cl->identified, idd);
    xchg_date_format(cl->judged, jd);
    if (w->c->json)
        printf("%s{\"family\":\"%s\",\"identified\":\"%s\",\"judged\":\"%s\",\"problems\":%zu,"
               "\"events\":%zu,\"pack_sha256\":\"%s\"}",
               w->first ? "" : ",\n  ", cl->family, idd, jd, cl->nproblems, cl->nevents,
               cl->pack_sha256);
    else if (w->c->csv)
        printf("%s,%s,%s,%zu,%zu,%s\n", cl->family, idd, jd, cl->nproblems, cl->nevents,
               cl->pack_sha256);
    else
        printf("%-16s identified %s, judged %s: %zu problem%s, %zu events%s%s\n", cl->family, idd,
               jd, cl->nproblems, cl->nproblems == 1 ? "" : "s", cl->nevents,
               cl->path[0] ? ", pack " : "", cl->path);
    w->first = 0;
    w->n++;
    return 0;
}

static int do_verify(int argc, char **argv)
{
    const char *agr = NULL, *pos[256];
    int npos = 0;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr}, {0}};
    int rc = cli_verb_args(argc, argv, opts, pos, 256, &npos, claims_usage);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (!agr || !npos) {
        cli_error("claims verify needs --agreement A and at least one PACK");
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        return rc;
    int worst = EXIT_OK;
    for (int i = 0; i < npos; i++) {
        xchg_diag *d = xchg_diag_new();
        xchg_evidence_verdict v;
        xchg_err e = xchg_evidence_verify(p, pos[i], &v, d);
        if (e != XCHG_OK) {
            int r = cli_fail(e, d, pos[i]);
            if (e == XCHG_ERR_VERIFY || e == XCHG_ERR_FORMAT || e == XCHG_ERR_VERSION)
                cli_error("%s: the claim is not evidenced", pos[i]);
            if (r > worst)
                worst = r;
        } else {
            char idd[11], jd[11];
            xchg_date_format(v.identified, idd);
            xchg_date_format(v.judged, jd);
            printf("%s: ok: family %s, identified %s, judged %s; %zu problem%s re-evaluated on "
                   "%zu events from %zu extract%s; claim rule holds\n",
                   pos[i], v.family, idd, jd, v.nproblems, v.nproblems == 1 ? "" : "s", v.nevents,
                   v.nextracts, v.nextracts == 1 ? "" : "s");
            for (size_t k = 0; k < v.nproblems && k < 32; k++)
                printf("  %-22s %s\n", v.problems[k],
                       xchg_outcome_status_name((xchg_outcome_status)v.status[k]));
        }
        xchg_diag_free(d);
    }
    xchg_agreement_free(p);
    return worst;
}

int cmd_claims(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "verify") == 0)
        return do_verify(argc - 1, argv + 1);
    struct common c = {.usage = claims_usage, .group = "claims"};
    int rc = match_parse(argc, argv, &c);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (c.npos) {
        cli_error("unknown claims action '%s' (expected verify, or options only)", c.pos[0]);
        return EXIT_USAGE;
    }
    if (!c.key) {
        cli_error("claims needs --key MATCHER.key (evidence packs are signed by the matcher)");
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_seckey *k = NULL;
    xchg_diag *d = xchg_diag_new();
    if ((rc = cli_load_agreement(c.agr, &p)) != 0 ||
        (rc = cli_load_seckey(c.key, c.pfd, &k)) != 0 || (rc = match_open_matcher(&c, p, &m)) != 0)
        goto cleanup;
    int64_t run;
    if ((rc = match_parse_run(&c, &run)) != 0)
        goto cleanup;
    struct out w = {&c, 0, 1,
                    c.json  ? "["
                    : c.csv ? "family,identified,judged,problems,events,pack_sha256\n"
                            : NULL};
    size_t n = 0;
    xchg_err e = xchg_matcher_claims(m, k, run, c.out, print_claim, &w, &n, d);
    if (e == XCHG_OK)
        header(&w);
    if (c.json && e == XCHG_OK)
        printf("]\n");
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, c.db);
        goto cleanup;
    }
    cli_print_diag(d);
    if (!c.json && !c.csv)
        printf("%zu claimable famil%s%s%s\n", n, n == 1 ? "y" : "ies",
               c.out ? "; evidence packs in " : "", c.out ? c.out : "");
    rc = EXIT_OK;
cleanup:
    xchg_seckey_free(k);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
