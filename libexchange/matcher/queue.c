/*
 * The operator queue's rules (matcher.h, "the operator queue"): a family's queue state,
 * whose decisions count for whom, what an operator may still decide, whether a packet
 * may be made, the queue's filters. Pure functions over the release state and decision
 * rows the matcher service lists, so that the local console and `xchg console --url`
 * (the same rows through xchg-matcherd) judge every family alike.
 */
#include "exchange/link.h"
#include "exchange/matcher.h"
#include "exchange/record.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[XCHG_QUEUE_NSTATES] = {
    "new", "changed", "awaiting", "approved", "released", "rejected", "unchanged",
};

const char *xchg_queue_state_name(xchg_queue_state s)
{
    return (unsigned)s < XCHG_QUEUE_NSTATES ? state_names[s] : NULL;
}

/* A family whose releasable records are not all covered by the approving operators'
 * release-key contributions (record versions sealed after their approvals) awaits
 * approvals again, whatever it had before: until enough operators approve the versions
 * it has now, a packet would withhold them. */
const char *xchg_release_list_label(const xchg_release_state *st)
{
    return st->forged        ? "FORGED"
           : st->rejected    ? "REJECTED"
           : st->uncovered   ? "re-approve"
           : st->carried     ? "carried"
           : st->change == 0 ? "new"
           : st->change == 1 ? "changed"
           : st->change == 2 ? "unchanged"
                             : "";
}

static xchg_queue_state state_of(const xchg_release_state *s)
{
    return s->uncovered && !s->rejected                 ? XCHG_QUEUE_AWAITING
           : s->packets                                 ? XCHG_QUEUE_RELEASED
           : s->rejected                                ? XCHG_QUEUE_REJECTED
           : s->required && s->approvals >= s->required ? XCHG_QUEUE_APPROVED
           : s->approvals                               ? XCHG_QUEUE_AWAITING
           : s->change == 0                             ? XCHG_QUEUE_NEW
           : s->change == 1                             ? XCHG_QUEUE_CHANGED
                                                        : XCHG_QUEUE_UNCHANGED;
}

void xchg_queue_judge(const xchg_release_state *st, const xchg_release_decision *dec, size_t n,
                      const char *me, xchg_queue_entry *out)
{
    memset(out, 0, sizeof *out);
    if (!st)
        return;
    int mine_counts = 0;      /* an approval of mine counts since the last rejection */
    int mine_now = 0;         /* ... and was made on the latest run (it covers its records) */
    int last_reject_mine = 0; /* the latest counting decision is my rejection */
    int have_me = me && *me;
    for (size_t i = 0; dec && i < n; i++) {
        const xchg_release_decision *d = &dec[i];
        if (!d->verified || !d->current)
            continue;
        snprintf(out->last_party, sizeof out->last_party, "%s", d->operator_party);
        out->last_time = d->time;
        int is_me = have_me && strcmp(d->operator_party, me) == 0;
        if (!d->approve) {
            mine_counts = mine_now = 0; /* a rejection clears every approval before it */
            last_reject_mine = is_me;
        } else {
            last_reject_mine = 0;
            mine_counts |= is_me;
            mine_now |= is_me && d->run == st->run;
        }
    }
    out->state = state_of(st);
    /* with records my earlier approval does not cover, only an approval on this run is
       one I have given for what the family has now */
    out->approved_by_me = st->uncovered ? mine_now : mine_counts;
    out->renewable_by_me =
        st->uncovered && !st->rejected && st->eligible && mine_counts && !mine_now;
    out->rejected_by_me = !mine_counts && last_reject_mine && st->rejected;
    out->undecided = out->state == XCHG_QUEUE_NEW || out->state == XCHG_QUEUE_CHANGED ||
                     out->state == XCHG_QUEUE_UNCHANGED;
    out->awaiting_me =
        out->state == XCHG_QUEUE_AWAITING && !out->approved_by_me && !out->rejected_by_me;
}

int xchg_queue_may_decide(const xchg_queue_entry *q, const xchg_release_state *st, int approve,
                          const char **why)
{
    const char *no = NULL;
    if (approve && q->approved_by_me)
        no = "you have already approved it; another operator must approve it";
    else if (!approve && q->rejected_by_me)
        no = "you have already rejected it";
    else if (approve && st->packets && !st->uncovered)
        no = "it has already been released";
    if (why)
        *why = no;
    return no == NULL;
}

int xchg_queue_may_release(const xchg_release_state *st, char *why, size_t n)
{
    if (!st->rejected && st->approvals >= st->required && st->uncovered) {
        if (why && n)
            snprintf(why, n,
                     "%u record%s newer than the approvals: %u operators must approve again "
                     "before they can be released",
                     st->uncovered, st->uncovered == 1 ? " is" : "s are", st->required);
        return 0;
    }
    if (!st->rejected && st->approvals >= st->required)
        return 1;
    if (why && n)
        snprintf(why, n, "not approved (%u of %u approvals%s)", st->approvals, st->required,
                 st->rejected ? ", rejected" : "");
    return 0;
}

int xchg_queue_filter_parse(const char *name)
{
    if (!name)
        return XCHG_QUEUE_FILTER_NONE;
    if (strcmp(name, "undecided") == 0)
        return XCHG_QUEUE_FILTER_UNDECIDED;
    if (strcmp(name, "awaiting_me") == 0)
        return XCHG_QUEUE_FILTER_AWAITING_ME;
    for (int i = 0; i < XCHG_QUEUE_NSTATES; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return XCHG_QUEUE_FILTER_NONE;
}

int xchg_queue_filter_match(int filter, const xchg_queue_entry *q)
{
    if (filter == XCHG_QUEUE_FILTER_UNDECIDED)
        return q->undecided;
    if (filter == XCHG_QUEUE_FILTER_AWAITING_ME)
        return q->awaiting_me;
    return filter >= 0 && filter < XCHG_QUEUE_NSTATES && (int)q->state == filter;
}

int xchg_queue_has_problem(const xchg_store_problem *pr, size_t n, const char *code,
                           const char *agency)
{
    for (size_t i = 0; pr && i < n; i++) {
        if (code && strcmp(pr[i].code, code) != 0)
            continue;
        if (!agency)
            return 1;
        for (unsigned k = 0; k < pr[i].nagencies && k < XCHG_STORE_PROBLEM_AGENCIES; k++)
            if (strcmp(pr[i].agencies[k], agency) == 0)
                return 1;
    }
    return 0;
}

void xchg_queue_span(const xchg_store_problem *pr, size_t n, int32_t *first, int32_t *last)
{
    int32_t f = XCHG_DATE_NONE, l = XCHG_DATE_NONE;
    for (size_t i = 0; pr && i < n; i++) {
        if (pr[i].first != XCHG_DATE_NONE && pr[i].first != XCHG_DATE_OPEN &&
            (f == XCHG_DATE_NONE || pr[i].first < f))
            f = pr[i].first;
        if (pr[i].last != XCHG_DATE_NONE && pr[i].last != XCHG_DATE_OPEN &&
            (l == XCHG_DATE_NONE || pr[i].last > l))
            l = pr[i].last;
    }
    if (first)
        *first = f;
    if (last)
        *last = l;
}

const char *xchg_link_how_name(xchg_link_how how)
{
    return how == XCHG_LINK_EXACT ? "exact" : how == XCHG_LINK_FUZZY ? "fuzzy" : "single";
}
