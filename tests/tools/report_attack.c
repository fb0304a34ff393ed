/*
 * report_attack DB DBKEY AGREEMENT [RUN]: attack every table of the programme report of
 * a store's run (default: the latest). For every suppressed count, the interval a reader
 * can derive from the published counts and totals (by linear programming over each
 * protected set of lines, sdc.h) — given the published counts UNROUNDED, which no real
 * reader has — must be at least the agreement's suppress_below wide. Also checks what is
 * shown: every published count is 0 (zeros allowed) or at least the threshold, and a
 * multiple of round_to. Prints one summary line; exit 0 when nothing is exposed, 1 when
 * something is, 2 on usage or store errors.
 */
#include "report.h"
#include "store_internal.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <exchange.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: report_attack DB DBKEY AGREEMENT [RUN]\n");
        return 2;
    }
    if (xchg_init() != XCHG_OK)
        return 2;
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_store_key *k = NULL;
    xchg_matcher *m = NULL;
    xchg__report *r = NULL;
    int rc = 2;
    if (t_agreement_file(argv[3], &p, d) != XCHG_OK ||
        xchg_store_key_load(argv[2], &k, d) != XCHG_OK ||
        xchg_matcher_open(argv[1], k, p, 0, &m, d) != XCHG_OK)
        goto cleanup;
    xchg_store *s = xchg_matcher_store(m);
    int64_t run = argc == 5 ? strtoll(argv[4], NULL, 10) : xchg__store_latest_run(s);
    double t0 = (double)clock();
    if (xchg__report_build(s, xchg_agreement_policy(p), run, 0, &r, d) != XCHG_OK)
        goto cleanup;
    double build = ((double)clock() - t0) / CLOCKS_PER_SEC;
    long thr = r->rules.threshold, base = r->rules.base;
    size_t cells = 0, supp = 0, exposed = 0, bad_shown = 0;
    long narrowest = XCHG__SDC_UNBOUNDED;
    for (size_t i = 0; i < r->nsets; i++) {
        const xchg__sdc_table *t = r->sets[i];
        size_t ex;
        long nw;
        if (xchg__sdc_exposed(t, thr, &ex, &nw) != XCHG_OK)
            goto cleanup;
        exposed += ex;
        if (nw < narrowest)
            narrowest = nw;
        for (size_t c = 0; c < t->ncells; c++) {
            cells++;
            if (t->state[c] != XCHG__SDC_PUBLISHED) {
                supp++;
                continue;
            }
            long v = t->shown[c];
            if ((v != 0 || r->rules.suppress_zeros) && v < thr)
                bad_shown++;
            if (base > 1 && v % base)
                bad_shown++;
        }
    }
    printf("attack: run %lld, %zu tables over %zu protected sets, %zu counts, %zu suppressed; "
           "narrowest derivable interval %ld (threshold %ld); exposed %zu; shown below "
           "threshold or unrounded %zu (build %.2f s)\n",
           (long long)run, r->ntables, r->nsets, cells, supp,
           narrowest == XCHG__SDC_UNBOUNDED ? -1 : narrowest, thr, exposed, bad_shown, build);
    rc = exposed || bad_shown ? 1 : 0;
cleanup:
    if (rc == 2)
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "report_attack: %s\n", xchg_diag_text(d, i));
    xchg__report_free(r);
    xchg_matcher_close(m);
    xchg_store_key_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
