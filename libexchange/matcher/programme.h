/*
 * Private: the programme's criteria evaluated on one family's measure events
 * (docs/programme.md "Semantics"). Pure functions of the agreement and the events: the
 * linkage run uses them to identify problems, outcome tracking to judge progress, and
 * `claims verify` to re-check an evidence pack offline, so all three agree by
 * construction.
 */
#ifndef XCHG_PROGRAMME_H
#define XCHG_PROGRAMME_H

#include "exchange/policy.h"
#include "exchange/record.h"

#include <stddef.h>
#include <stdint.h>

typedef struct xchg_prog_ev {
    uint32_t member; /* the family member (0 .. nmembers-1) */
    uint32_t rec;    /* the caller's record number, for evidence */
    uint8_t measure;
    int32_t start, end; /* end = start for an event; XCHG_DATE_OPEN for an open span */
    double value, of;
} xchg_prog_ev;

typedef struct xchg_prog_family {
    size_t nmembers;
    const uint8_t *age; /* per member: age in years on their newest record's period end */
    const xchg_prog_ev *ev;
    size_t nev;
} xchg_prog_family;

typedef enum xchg_outcome_status {
    XCHG_OUTCOME_NA = 0,        /* not a baseline problem, or no outcome defined */
    XCHG_OUTCOME_TOO_EARLY = 1, /* the outcome period has not passed since identification */
    XCHG_OUTCOME_NOT_MET = 2,
    XCHG_OUTCOME_MET = 3,
} xchg_outcome_status;

const char *xchg_outcome_status_name(xchg_outcome_status s);

/* Does criterion c (or one of its sub-criteria) read measure m? */
int xchg__criterion_uses(const xchg_criterion *c, uint8_t m);

/* Does the problem hold on date t (any identify criterion)? Sets bit i of *criteria for
 * each identify criterion i that holds. Problems without identify criteria: 0. */
int xchg__prog_problem(const xchg_policy_data *pd, const xchg_prog_family *f, size_t problem,
                       int32_t t, uint32_t *criteria);

/* The eligibility rule on a set of problems that hold (holds[i] for problem i). */
int xchg__prog_eligible(const xchg_policy_data *pd, const uint8_t *holds);

/*
 * The outcome of a problem for a family identified on `identified`, judged on t;
 * *baseline and *latest get the first outcome criterion's aggregate over the family in
 * the baseline window and the latest window (NAN when it has none); *met_criteria bit i
 * set for each outcome criterion i that is met.
 */
xchg_outcome_status xchg__prog_outcome(const xchg_policy_data *pd, const xchg_prog_family *f,
                                       size_t problem, int32_t identified, int32_t t,
                                       double *baseline, double *latest, uint32_t *met_criteria);

/* The claim rule: baseline[i] for problems identified at the start, met[i] for outcomes
 * met now. */
int xchg__prog_claimable(const xchg_policy_data *pd, const uint8_t *baseline, const uint8_t *met);

/* Events of `measure` in [from, to] (all members): count; for the cost report. */
size_t xchg__prog_count(const xchg_prog_family *f, const size_t *measures, size_t nmeasures,
                        int32_t from, int32_t to);

/* The earliest day any of the problem's identify/outcome windows judged on t can reach
 * (for choosing the evidence an evidence pack must carry). */
int32_t xchg__prog_horizon(const xchg_policy_data *pd, size_t problem, int32_t identified,
                           int32_t t);

#endif
