/*
 * Private: after a linkage run, each family's state across runs and its outcomes
 * (programme_track.c), saved to the store's programme tables.
 */
#ifndef XCHG_PROGRAMME_TRACK_H
#define XCHG_PROGRAMME_TRACK_H

#include "exchange/link.h"
#include "exchange/policy.h"
#include "exchange/store.h"

typedef struct xchg__track_stats {
    size_t tracked;        /* families with a state in this run */
    size_t identified_new; /* of which identified for the first time */
    size_t outcomes_met;   /* baseline problems whose outcome is met */
    size_t claimable;      /* families the claim rule holds for */
} xchg__track_stats;

/* Before a run is saved: the names of the people and families the matcher tracks are
 * kept (docs/programme.md "A family's state across runs"). A pseudonym comes from the
 * strongest key among the records, so a new record can rename a person; a tracked
 * family's member recognised by one of the exact-match tokens it held (family_state_tokens)
 * gets its earlier name back; each earlier state goes to the family of this run sharing
 * most of its members (ties: the family most of whose persons are the state's, the family
 * its strongest key already names, the earliest identified state, household order), which
 * bears the state's name; a family whose
 * strongest key names a state another family continues (its member moved out) gets a
 * name of its own, HMAC-derived from that name. Rewrites res->person_pseudonym and
 * res->families[].pseudonym; names stay unique. */
typedef struct xchg__names_stats {
    size_t persons_kept, families_kept; /* names given back */
    size_t families_moved; /* named by a state another family continues: a name of its own */
} xchg__names_stats;
xchg_err xchg__programme_names(xchg_store *s, const xchg_policy *pol, const xchg_linkset *ls,
                               xchg_link_result *res, xchg__names_stats *ns, xchg_diag *d);

xchg_err xchg__programme_track(xchg_store *s, const xchg_policy *pol, const xchg_linkset *ls,
                               const xchg_link_result *res, int64_t run, int32_t run_date,
                               xchg__track_stats *ts, xchg_diag *d);

/* Every family state, sorted by pseudonym (st->v malloc'ed), and a lookup in it. */
#include "store_internal.h"
typedef struct xchg__prog_states {
    xchg__prog_state *v;
    size_t n, cap;
} xchg__prog_states;
xchg_err xchg__prog_states_load(xchg_store *s, xchg__prog_states *st, xchg_diag *d);
xchg__prog_state *xchg__prog_state_find(const xchg__prog_states *st, const char *pseudonym);

/* The criteria ids a baseline ("problem=ids problem=ids") gives problem code (exact
 * match, never a prefix of another code) into out; 1 when the problem is in it. */
int xchg__baseline_criteria(const char *baseline, const char *code, char *out, size_t n);

/* Every outcome row of run (0: latest), by family then problem (rows->v malloc'ed). */
typedef struct xchg__outcome_rows {
    xchg_store_outcome *v;
    size_t n, cap;
} xchg__outcome_rows;
xchg_err xchg__outcome_rows_load(xchg_store *s, int64_t run, xchg__outcome_rows *rows,
                                 xchg_diag *d);

#endif
