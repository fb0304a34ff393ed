/*
 * Cost savings (docs/programme.md "Cost savings"): for the families identified at least a
 * whole evidence window before the run, each cost item's events in the window ending on
 * the identification date (baseline) and in the window of the same length ending on the
 * run date (outcome); the predicted saving (baseline events x unit cost x predicted
 * reduction) and the observed one ((baseline - outcome events) x unit cost), against the
 * programme's cost (families x cost per family).
 */
#include "costs.h"

#include "internal.h"
#include "matcher_internal.h"
#include "programme_track.h"
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xchg__costs_compute(const xchg_policy_data *pd, const double (*counts)[2], size_t families,
                         int32_t window_days, xchg_matcher_cost_report *out)
{
    memset(out, 0, sizeof *out);
    out->families = families;
    out->window_days = window_days;
    out->invested = (double)families * pd->cost_per_family;
    snprintf(out->currency, sizeof out->currency, "%s", pd->currency ? pd->currency : "GBP");
    for (size_t i = 0; i < pd->ncosts && i < XCHG_MATCHER_MAX_COSTS; i++) {
        const xchg_cost_item *ci = &pd->costs[i];
        xchg_matcher_cost_line *l = &out->lines[out->nlines++];
        snprintf(l->id, sizeof l->id, "%s", ci->id ? ci->id : "");
        snprintf(l->title, sizeof l->title, "%s", ci->title ? ci->title : l->id);
        l->unit_cost = ci->unit_cost;
        l->predicted_reduction = ci->predicted_reduction;
        l->baseline_events = counts[i][0];
        l->outcome_events = counts[i][1];
        l->predicted_saving = l->baseline_events * ci->unit_cost * ci->predicted_reduction;
        l->observed_saving = (l->baseline_events - l->outcome_events) * ci->unit_cost;
        out->predicted_saving += l->predicted_saving;
        out->observed_saving += l->observed_saving;
    }
    out->saving_per_pound = out->invested > 0 ? out->observed_saving / out->invested : NAN;
}

struct tally {
    const xchg_policy_data *pd;
    int32_t b0, b1, o0, o1;
    double (*counts)[2];
};

static int on_record(void *ctx, const xchg__evidence_record *r)
{
    struct tally *t = ctx;
    for (size_t e = 0; e < r->nev; e++) {
        const xchg__evidence_event *ev = &r->ev[e];
        for (size_t i = 0; i < t->pd->ncosts && i < XCHG_MATCHER_MAX_COSTS; i++) {
            const xchg_cost_item *ci = &t->pd->costs[i];
            int used = 0;
            for (size_t k = 0; k < ci->nmeasures && !used; k++)
                used = strcmp(t->pd->measures[ci->measures[k]].name, ev->measure) == 0;
            if (!used)
                continue;
            /* an event by its date; a span counts once, in the window it starts in */
            if (ev->start >= t->b0 && ev->start <= t->b1)
                t->counts[i][0] += 1;
            if (ev->start >= t->o0 && ev->start <= t->o1)
                t->counts[i][1] += 1;
        }
    }
    return 0;
}

xchg_err xchg_matcher_costs(xchg_matcher *m, int64_t run, xchg_matcher_cost_report *out,
                            xchg_diag *d)
{
    if (!m || !out)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    if (run <= 0)
        run = xchg__store_latest_run(m->s);
    xchg__outcome_rows rows = {0};
    double counts[XCHG_MATCHER_MAX_COSTS][2];
    memset(counts, 0, sizeof counts);
    int32_t w = pd->rule_window_days > 0 ? pd->rule_window_days : 365;
    xchg_err e = xchg__outcome_rows_load(m->s, run, &rows, d);
    size_t families = 0;
    for (size_t i = 0; e == XCHG_OK && i < rows.n; i++) {
        const xchg_store_outcome *o = &rows.v[i];
        if (i && strcmp(rows.v[i - 1].family, o->family) == 0)
            continue; /* one row per family is enough: its dates */
        if (o->judged - w < o->identified)
            continue; /* a whole window has not passed since identification */
        struct tally t = {pd,    o->identified - w + 1, o->identified, o->judged - w + 1, o->judged,
                          counts};
        e = xchg__store_family_evidence(m->s, run, o->family, on_record, &t, d);
        families++;
    }
    if (e == XCHG_OK)
        xchg__costs_compute(pd, (const double(*)[2])counts, families, w, out);
    free(rows.v);
    return e;
}
