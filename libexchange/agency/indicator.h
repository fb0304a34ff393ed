/*
 * Private: the sealing stage that evaluates the agreement's indicator conditions on a
 * row (row conditions, per-person sums and ratios) and dates its events within the
 * period. Aggregate conditions need two passes over the CSV: pass 1 feeds every row to
 * xchg__ind_accumulate, pass 2 evaluates with the sums.
 */
#ifndef XCHG_INDICATOR_H
#define XCHG_INDICATOR_H

#include "exchange/common.h"
#include "exchange/policy.h"
#include "exchange/record.h"
#include "hmap.h"
#include "seal_internal.h"

typedef struct xchg__indicators {
    const xchg_policy_data *p;
    const xchg_extract *x;
    int32_t period_start, period_end;
    /* aggregates: per group, two sums per aggregate condition */
    size_t nagg;             /* number of aggregate conditions (0: one pass is enough) */
    size_t *agg_ind, *agg_cond;
    xchg__hmap groups;       /* group digest -> dense group number */
    double *sums;            /* group number * nagg * 2 */
    size_t sums_cap;
} xchg__indicators;

/* Why a row's indicators could not be evaluated (the row is bad). */
typedef enum { XCHG__IND_NO_DATE = 1, XCHG__IND_END_BEFORE_START } xchg__ind_fault_kind;
typedef struct xchg__ind_fault {
    xchg__ind_fault_kind kind;
    const xchg_indicator *in; /* the indicator */
} xchg__ind_fault;

xchg_err xchg__ind_init(xchg__indicators *ind, const xchg_policy_data *p, const xchg_extract *x,
                        int32_t period_start, int32_t period_end);
void xchg__ind_free(xchg__indicators *ind);

/* Pass 1: add this row's values to its group's sums. 0, or -1 on no memory. */
int xchg__ind_accumulate(xchg__indicators *ind, const xchg__val *vals);

/* Pass 2: append the row's indicator events to r (r->nind from zero); each event that
 * holds but lies outside the period adds one to *out_of_period. 0, or 1 when the row is
 * bad (*fault says why; events found so far stay in r). */
int xchg__ind_evaluate(const xchg__indicators *ind, const xchg__val *vals, xchg_record *r,
                       uint64_t *out_of_period, xchg__ind_fault *fault);

/* The row's person facts the matcher may hold: age in whole years on the period end, and
 * the agreement's coarse area (an area field, or the postcode sector table); area is the
 * buffer r->area points to. */
void xchg__ind_person(const xchg__indicators *ind, const xchg__val *vals, xchg_record *r,
                      char area[XCHG_RECORD_MAX_AREA + 1]);

#endif
