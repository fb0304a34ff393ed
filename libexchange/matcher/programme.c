/*
 * The programme's criteria on one family's measure events (programme.h). Semantics, to
 * the letter, in docs/programme.md.
 */
#include "programme.h"

#include <math.h>
#include <string.h>

enum { R_NOT = 0, R_MET = 1, R_NA = 2, R_EARLY = 3 };

typedef struct ctx {
    const xchg_policy_data *pd;
    const xchg_prog_family *f;
    int32_t t;          /* judged on */
    int outcome;        /* judging an outcome (windows must lie after identification) */
    int32_t identified; /* outcomes: the identification date */
    int32_t days;       /* the default window: the problem's, else the rule's */
} ctx;

const char *xchg_outcome_status_name(xchg_outcome_status s)
{
    switch (s) {
    case XCHG_OUTCOME_NA: return "n/a";
    case XCHG_OUTCOME_TOO_EARLY: return "too early";
    case XCHG_OUTCOME_NOT_MET: return "not met";
    case XCHG_OUTCOME_MET: return "met";
    }
    return "?";
}

static int32_t default_days(const xchg_policy_data *pd, size_t problem)
{
    if (problem < pd->nproblems && pd->problems[problem].window_days > 0)
        return pd->problems[problem].window_days;
    return pd->rule_window_days > 0 ? pd->rule_window_days : 365;
}

/* The window of c judged on t: [*from, *to]. 0 when it cannot be formed (the calendar has
 * fewer than c->terms terms ending on or before t). */
static int window(const ctx *x, const xchg_criterion *c, int32_t t, int32_t *from, int32_t *to)
{
    if (c->terms) {
        const xchg_policy_data *pd = x->pd;
        size_t k = pd->nterms;
        while (k > 0 && pd->terms[k - 1].end > t)
            k--;
        if (k < c->terms)
            return 0;
        *from = pd->terms[k - c->terms].start;
        *to = pd->terms[k - 1].end;
        return 1;
    }
    int32_t d = c->days ? c->days : x->days;
    *from = t - d + 1;
    *to = t;
    return 1;
}

static int uses(const xchg_criterion *c, uint8_t m)
{
    for (size_t i = 0; i < c->nmeasures; i++)
        if (c->measures[i] == m)
            return 1;
    return 0;
}

int xchg__criterion_uses(const xchg_criterion *c, uint8_t m)
{
    if (uses(c, m))
        return 1;
    for (size_t i = 0; i < c->nsub; i++)
        if (xchg__criterion_uses(&c->sub[i], m))
            return 1;
    return 0;
}

static int in_window(const xchg_prog_ev *e, int32_t from, int32_t to)
{
    return e->start <= to && e->end >= from;
}

typedef struct agg {
    size_t n;
    double v, of;
} agg;

/* Events of c's measures for subject (a member, or -1 for the whole family) in [from, to]. */
static agg aggregate(const ctx *x, const xchg_criterion *c, long subject, int32_t from,
                     int32_t to)
{
    agg a = {0, 0, 0};
    for (size_t i = 0; i < x->f->nev; i++) {
        const xchg_prog_ev *e = &x->f->ev[i];
        if ((subject >= 0 && e->member != (uint32_t)subject) || !uses(c, e->measure) ||
            !in_window(e, from, to))
            continue;
        a.n++;
        a.v += e->value;
        a.of += e->of;
    }
    return a;
}

/* Do the spans of c's measures for subject cover every day of [from, to]? */
static int covered(const ctx *x, const xchg_criterion *c, long subject, int32_t from, int32_t to)
{
    int32_t reach = from - 1; /* covered up to here */
    for (int progress = 1; progress && reach < to;) {
        progress = 0;
        for (size_t i = 0; i < x->f->nev; i++) {
            const xchg_prog_ev *e = &x->f->ev[i];
            if ((subject >= 0 && e->member != (uint32_t)subject) || !uses(c, e->measure))
                continue;
            /* a span that starts by the day after the reach and goes beyond it */
            if (e->start <= reach + 1 && e->end > reach) {
                reach = e->end;
                progress = 1;
                if (reach >= to)
                    break;
            }
        }
    }
    return reach >= to;
}

static int compare(double a, xchg_op op, double b)
{
    const double eps = 1e-9; /* 0.9 read from YAML equals 9/10 of sessions */
    switch (op) {
    case XCHG_OP_LT: return a < b - eps;
    case XCHG_OP_LE: return a <= b + eps;
    case XCHG_OP_GT: return a > b + eps;
    case XCHG_OP_GE: return a >= b - eps;
    case XCHG_OP_EQ: return fabs(a - b) <= eps;
    case XCHG_OP_NE: return fabs(a - b) > eps;
    default: return 0;
    }
}

static int has_child(const ctx *x)
{
    for (size_t m = 0; m < x->f->nmembers; m++)
        if (x->f->age[m] != XCHG_AGE_UNKNOWN && x->f->age[m] < 18)
            return 1;
    return 0;
}

/* Had the family events of any of these measures in c's baseline window: the window of
 * the same length as c's (its first leaf's, for all/any) ending on the identification
 * date (docs/programme.md "baseline window")? */
static int baseline_has(const ctx *x, const xchg_criterion *c, const size_t *ms, size_t n)
{
    while ((c->kind == XCHG_CRIT_ALL || c->kind == XCHG_CRIT_ANY) && c->nsub)
        c = &c->sub[0];
    int32_t from, to;
    if (!window(x, c, x->identified, &from, &to))
        return 0;
    for (size_t i = 0; i < x->f->nev; i++)
        for (size_t k = 0; k < n; k++)
            if (x->f->ev[i].measure == ms[k] && in_window(&x->f->ev[i], from, to))
                return 1;
    return 0;
}

/* Had member `subject` (subject < 0: any member) events of c's moved_from measures in the
 * identification window? */
static int moved_has(const ctx *x, const xchg_criterion *c, long subject)
{
    int32_t from = x->identified - x->days + 1, to = x->identified;
    for (size_t i = 0; i < x->f->nev; i++) {
        if (subject >= 0 && x->f->ev[i].member != (uint32_t)subject)
            continue;
        for (size_t k = 0; k < c->nmoved_from; k++)
            if (x->f->ev[i].measure == c->moved_from[k] && in_window(&x->f->ev[i], from, to))
                return 1;
    }
    return 0;
}

static int leaf(const ctx *x, const xchg_criterion *c, long subject)
{
    int32_t from, to;
    if (!window(x, c, x->t, &from, &to))
        return x->outcome ? R_EARLY : R_NOT;
    if (x->outcome && from <= x->identified)
        return R_EARLY;
    agg a = aggregate(x, c, subject, from, to);
    switch (c->kind) {
    case XCHG_CRIT_COUNT: return compare((double)a.n, c->op, c->number);
    case XCHG_CRIT_SUM: return compare(a.v, c->op, c->number); /* no events: a sum of 0 */
    case XCHG_CRIT_RATIO: return a.of > 0 && compare(a.v / a.of, c->op, c->number);
    case XCHG_CRIT_ACTIVE: return a.n > 0;
    case XCHG_CRIT_NONE: return a.n == 0;
    case XCHG_CRIT_CONTINUOUS: return covered(x, c, subject, from, to);
    case XCHG_CRIT_REDUCTION: {
        int32_t bf, bt;
        if (!window(x, c, x->identified, &bf, &bt))
            return R_NOT;
        agg b = aggregate(x, c, subject, bf, bt);
        return (double)a.n <= (1.0 - c->reduction) * (double)b.n + 1e-9;
    }
    default: return R_NOT;
    }
}

static int combine(int any, const int *r, size_t n)
{
    int met = 0, not = 0, early = 0;
    for (size_t i = 0; i < n; i++) {
        met += r[i] == R_MET;
        not += r[i] == R_NOT;
        early += r[i] == R_EARLY;
    }
    if (any)
        return met ? R_MET : early ? R_EARLY : not ? R_NOT : R_NA;
    if (early)
        return R_EARLY;
    if (not)
        return R_NOT;
    return met ? R_MET : R_NA;
}

/* c on one subject (sub-criteria on the same subject). */
static int on(const ctx *x, const xchg_criterion *c, long subject)
{
    if (c->child_in_family && !has_child(x))
        return R_NOT;
    if (x->outcome &&
        ((c->nbaseline_with && !baseline_has(x, c, c->baseline_with, c->nbaseline_with)) ||
         (c->nbaseline_without && baseline_has(x, c, c->baseline_without, c->nbaseline_without))))
        return R_NA;
    /* moved_from: only a member who had those events in the identification window (the
     * problem's evidence window ending on the identification date) is a subject; a
     * family-wide criterion applies only when some member had them */
    if (x->outcome && c->nmoved_from && !moved_has(x, c, subject))
        return R_NA;
    if (c->kind != XCHG_CRIT_ALL && c->kind != XCHG_CRIT_ANY)
        return leaf(x, c, subject);
    int r[16];
    size_t n = c->nsub < 16 ? c->nsub : 16;
    for (size_t i = 0; i < n; i++)
        r[i] = on(x, &c->sub[i], subject);
    return combine(c->kind == XCHG_CRIT_ANY, r, n);
}

/* Has subject events of c's measures in c's windows (sub-criteria: any of them)? */
static int has_data(const ctx *x, const xchg_criterion *c, long subject)
{
    if (c->kind == XCHG_CRIT_ALL || c->kind == XCHG_CRIT_ANY) {
        for (size_t i = 0; i < c->nsub; i++)
            if (has_data(x, &c->sub[i], subject))
                return 1;
        return 0;
    }
    int32_t from, to;
    return window(x, c, x->t, &from, &to) && aggregate(x, c, subject, from, to).n > 0;
}

static xchg_scope scope_of(const ctx *x, const xchg_criterion *c)
{
    if (c->kind == XCHG_CRIT_NONE)
        return XCHG_SCOPE_FAMILY; /* "no further events": nobody in the family */
    if (c->scope != XCHG_SCOPE_DEFAULT)
        return c->scope;
    if (!x->outcome)
        return XCHG_SCOPE_PERSON;
    switch (c->kind) {
    case XCHG_CRIT_REDUCTION: return XCHG_SCOPE_FAMILY;
    case XCHG_CRIT_ACTIVE:
    case XCHG_CRIT_CONTINUOUS: return XCHG_SCOPE_PERSON;
    default: return XCHG_SCOPE_EACH;
    }
}

static int eval(const ctx *x, const xchg_criterion *c)
{
    xchg_scope s = scope_of(x, c);
    if (s == XCHG_SCOPE_FAMILY)
        return on(x, c, -1);
    int met = 0, not = 0, early = 0, na = 0, with = 0;
    for (size_t m = 0; m < x->f->nmembers; m++) {
        if (s == XCHG_SCOPE_EACH && !has_data(x, c, (long)m))
            continue;
        with++;
        int r = on(x, c, (long)m);
        met += r == R_MET;
        not += r == R_NOT;
        early += r == R_EARLY;
        na += r == R_NA;
    }
    if (s == XCHG_SCOPE_PERSON)
        return met ? R_MET : early ? R_EARLY : na && !not ? R_NA : R_NOT;
    /* each: every member with data, at least one */
    if (!with) /* nobody has events: the family's (empty) aggregate decides, e.g. a sum of 0
                  is "fewer than 3 exclusions", no attendance is no evidence */
        return on(x, c, -1);
    return early ? R_EARLY : not ? R_NOT : met ? R_MET : R_NA;
}

int xchg__prog_problem(const xchg_policy_data *pd, const xchg_prog_family *f, size_t problem,
                       int32_t t, uint32_t *criteria)
{
    const xchg_problem *pb = &pd->problems[problem];
    ctx x = {pd, f, t, 0, XCHG_DATE_NONE, default_days(pd, problem)};
    uint32_t bits = 0;
    for (size_t i = 0; i < pb->nidentify && i < 32; i++)
        if (eval(&x, &pb->identify[i]) == R_MET)
            bits |= 1u << i;
    if (criteria)
        *criteria = bits;
    return bits != 0;
}

static int rule_holds(const xchg_rule_expr *r, const uint8_t *holds)
{
    if (r->kind == XCHG_RULE_AT_LEAST) {
        unsigned n = 0;
        for (size_t i = 0; i < r->nof; i++)
            n += holds[r->of[i]] != 0;
        return r->at_least && n >= r->at_least;
    }
    for (size_t i = 0; i < r->nsub; i++) {
        int h = rule_holds(&r->sub[i], holds);
        if (r->kind == XCHG_RULE_ANY && h)
            return 1;
        if (r->kind == XCHG_RULE_ALL && !h)
            return 0;
    }
    return r->kind == XCHG_RULE_ALL && r->nsub;
}

int xchg__prog_eligible(const xchg_policy_data *pd, const uint8_t *holds)
{
    return rule_holds(&pd->rule, holds);
}

/* The first leaf's aggregate over the family in its window judged on t. */
static double headline(const ctx *x, const xchg_criterion *c, int32_t t)
{
    while ((c->kind == XCHG_CRIT_ALL || c->kind == XCHG_CRIT_ANY) && c->nsub)
        c = &c->sub[0];
    int32_t from, to;
    if (!window(x, c, t, &from, &to))
        return NAN;
    agg a = aggregate(x, c, -1, from, to);
    switch (c->kind) {
    case XCHG_CRIT_SUM: return a.v;
    case XCHG_CRIT_RATIO: return a.of > 0 ? a.v / a.of : NAN;
    default: return (double)a.n;
    }
}

xchg_outcome_status xchg__prog_outcome(const xchg_policy_data *pd, const xchg_prog_family *f,
                                       size_t problem, int32_t identified, int32_t t,
                                       double *baseline, double *latest, uint32_t *met_criteria)
{
    const xchg_problem *pb = &pd->problems[problem];
    ctx x = {pd, f, t, 1, identified, default_days(pd, problem)};
    if (baseline)
        *baseline = NAN;
    if (latest)
        *latest = NAN;
    if (met_criteria)
        *met_criteria = 0;
    if (!pb->noutcome || identified == XCHG_DATE_NONE)
        return XCHG_OUTCOME_NA;
    if (baseline)
        *baseline = headline(&x, &pb->outcome[0], identified);
    if (latest)
        *latest = headline(&x, &pb->outcome[0], t);
    int r[32];
    size_t n = pb->noutcome < 32 ? pb->noutcome : 32;
    for (size_t i = 0; i < n; i++) {
        r[i] = eval(&x, &pb->outcome[i]);
        if (r[i] == R_MET && met_criteria)
            *met_criteria |= 1u << i;
    }
    switch (combine(pb->outcome_any, r, n)) {
    case R_MET: return XCHG_OUTCOME_MET;
    case R_EARLY: return XCHG_OUTCOME_TOO_EARLY;
    default: return XCHG_OUTCOME_NOT_MET;
    }
}

int xchg__prog_claimable(const xchg_policy_data *pd, const uint8_t *baseline, const uint8_t *met)
{
    if (pd->claim_all_identified) {
        size_t nb = 0;
        for (size_t i = 0; i < pd->nproblems; i++) {
            if (!baseline[i])
                continue;
            nb++;
            if (!met[i])
                return 0;
        }
        return nb > 0;
    }
    for (size_t g = 0; g < pd->nclaim_groups; g++) {
        const xchg_claim_group *cg = &pd->claim_groups[g];
        size_t nb = 0, nm = 0;
        for (size_t i = 0; i < cg->nproblems; i++) {
            nb += baseline[cg->problems[i]] != 0;
            nm += baseline[cg->problems[i]] && met[cg->problems[i]];
        }
        if (nb && nm == nb)
            return 1;
    }
    return 0;
}

size_t xchg__prog_count(const xchg_prog_family *f, const size_t *measures, size_t nmeasures,
                        int32_t from, int32_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nev; i++)
        for (size_t k = 0; k < nmeasures; k++)
            if (f->ev[i].measure == measures[k] && in_window(&f->ev[i], from, to)) {
                n++;
                break;
            }
    return n;
}

static int32_t reach(const ctx *x, const xchg_criterion *c, int32_t earliest)
{
    int32_t from, to;
    if (window(x, c, x->t, &from, &to) && from < earliest)
        earliest = from;
    if (x->identified != XCHG_DATE_NONE) {
        if (window(x, c, x->identified, &from, &to) && from < earliest)
            earliest = from;
        if (x->identified - x->days + 1 < earliest)
            earliest = x->identified - x->days + 1;
    }
    for (size_t i = 0; i < c->nsub; i++)
        earliest = reach(x, &c->sub[i], earliest);
    return earliest;
}

int32_t xchg__prog_horizon(const xchg_policy_data *pd, size_t problem, int32_t identified,
                           int32_t t)
{
    const xchg_problem *pb = &pd->problems[problem];
    ctx x = {pd, NULL, t, 0, identified, default_days(pd, problem)};
    int32_t e = t - x.days + 1;
    for (size_t i = 0; i < pb->nidentify; i++)
        e = reach(&x, &pb->identify[i], e);
    if (identified != XCHG_DATE_NONE) {
        /* identification was judged on the identification date */
        ctx y = x;
        y.t = identified;
        for (size_t i = 0; i < pb->nidentify; i++)
            e = reach(&y, &pb->identify[i], e);
    }
    for (size_t i = 0; i < pb->noutcome; i++)
        e = reach(&x, &pb->outcome[i], e);
    return e;
}
