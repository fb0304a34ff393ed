/* xchg-synth — programme truth: the phase 1 and phase 2 criteria, outcomes and claim
 * rules of docs/programme.md, evaluated directly on a household's events as known on a
 * period end. This is the generator's own implementation (it shares nothing with the
 * library's matcher), so the benchmark can compare the two.
 *
 * Conventions (docs/synth.md "Programme truth" lists the readings of docs/programme.md
 * taken here): a window is the days [lo, hi]; `days: N` at T is [T - N + 1, T]; `terms: N`
 * is the last N calendar terms ending on or before T, from the first one's start to the
 * last one's end. A point event is in a window when its date is; a span when it
 * overlaps. Everything evaluated at T uses the events as known at T. */
#include "events.h"

const char *const synth_crit_ids[C_COUNT] = {
    "P1-CRIME-1", "P1-CRIME-2",  "P1-EDU-1",    "P1-EDU-2",   "P1-EDU-3",   "P1-EDU-4",
    "P1-EDU-5",   "P1-WORK-1",   "P2-CRIME-1",  "P2-CRIME-2", "P2-CRIME-3", "P2-EDU-1",
    "P2-EDU-2",   "P2-CHILD-1",  "P2-WORK-1",   "P2-WORK-2",  "P2-DA-1",    "P2-HEALTH-1",
    "P2-HEALTH-2"};
const char *const synth_ph1_names[PH1_COUNT] = {"crime_asb", "school_attendance", "worklessness"};
const char *const synth_ph2_names[PH2_COUNT] = {"crime_asb",    "school_attendance",
                                                "children_need_help", "worklessness",
                                                "domestic_abuse", "health"};
const char *const synth_status_names[ST_COUNT] = {"na", "too_early", "met", "not_met"};

enum measure {
    M_YOUTH,        /* youth_offence */
    M_ASB_INTERV,   /* asb_intervention */
    M_PERM,         /* permanent_exclusion */
    M_FTE,          /* fixed_exclusions (value = exclusions) */
    M_ALTPROV,      /* alt_provision */
    M_OFFROLL,      /* not_on_roll */
    M_UNAUTH,       /* unauthorised (value/of = unauthorised/possible) */
    M_OOW,          /* out_of_work_benefit, phase 1's list (ESA IB CA IS JSA SDA) */
    M_OOW2,         /* out_of_work_benefit, phase 2's (also Universal Credit, not working) */
    M_EMPLOY,       /* employment */
    M_ASB_INC,      /* asb_incident */
    M_ADULT_GUILTY, /* adult_guilty */
    M_ATTEND,       /* attendance (attended/possible) */
    M_NEGLECT,      /* cin_cp_neglect */
    M_NEET,         /* neet */
    M_DA,           /* da_report */
    M_DA_CHILD,     /* da_report_child: a report recording a child in the household */
    M_TREAT,        /* treatment */
    M_EHCP_CARER,   /* ehcp_or_carer */
    M_CP,           /* cp_plan */
    M_LAC,          /* looked_after */
    M_JSA,          /* jsa */
    M_TREAT_DONE,   /* treatment_completed */
    M_COUNT
};
#define MB(m) (1u << (m))

typedef struct mev {
    int32_t s, e; /* e = INT32_MAX when still open */
    long v, of;
} mev;

static bool has_sessions(const synth_event *e)
{
    return !(e->flags & (EF_OFFROLL | EF_NEET));
}

/* Is event e, as known at T, an event of measure m? Fills its date or span and values. */
static bool measure_of(const synth_hview *h, const synth_event *e, int32_t T, int m, mev *x)
{
    if (!ev_visible(e, T) || (e->ag < 8 && h->withdrawn[e->slot][e->ag]))
        return false;
    int age = age_on(h->dob[e->slot], e->date);
    x->s = x->e = e->date;
    x->v = 1;
    x->of = 0;
    switch (m) {
    case M_YOUTH:
        if (e->ag == 4 /* AG_YOS */)
            return age < 18;
        if (e->ag == 0 && e->kind == INC_CRIME && e->sub != ROLE_VICTIM) {
            int oc = ev_outcome_at(e, T);
            return (oc == OC_GUILTY || oc == OC_CAUTION) && age < 18;
        }
        return false;
    case M_ADULT_GUILTY:
        return e->ag == 0 && e->kind == INC_CRIME && e->sub != ROLE_VICTIM &&
               ev_outcome_at(e, T) == OC_GUILTY && age >= 18;
    case M_ASB_INTERV:
        return e->ag == 5;
    case M_ASB_INC:
        return e->ag == 5 || (e->ag == 0 && e->kind == INC_ASB && e->sub != ROLE_VICTIM);
    case M_DA:
        return e->ag == 0 && e->kind == INC_DA;
    case M_DA_CHILD: {
        if (e->ag != 0 || e->kind != INC_DA)
            return false;
        for (int i = 0; i < h->n; i++)
            if (h->dob[i] <= e->date && age_on(h->dob[i], e->date) < 18)
                return true;
        return false;
    }
    case M_PERM:
        return e->ag == 1 && (e->flags & EF_PERM);
    case M_FTE:
        x->v = e->fte;
        return e->ag == 1 && has_sessions(e);
    case M_ALTPROV:
        return e->ag == 1 && (e->sub == PROV_PRU || e->sub == PROV_AP);
    case M_OFFROLL:
        return e->ag == 1 && (e->flags & EF_OFFROLL);
    case M_UNAUTH:
        x->v = e->unauth;
        x->of = e->possible;
        return e->ag == 1 && has_sessions(e);
    case M_ATTEND:
        x->v = e->attended;
        x->of = e->possible;
        return e->ag == 1 && has_sessions(e);
    case M_EHCP_CARER:
        return e->ag == 1 && (e->flags & (EF_EHCP | EF_CARER));
    case M_NEET:
        return e->ag == 1 && (e->flags & EF_NEET) && age >= 16 && age <= 24;
    default:
        break;
    }
    /* spans */
    x->e = ev_end_known(e, T) ? e->end : INT32_MAX;
    switch (m) {
    case M_OOW:
    case M_OOW2:
        return e->ag == 2 && age >= 18 &&
               (e->kind == BEN_JSA || e->kind == BEN_ESA || e->kind == BEN_IS ||
                e->kind == BEN_IB || e->kind == BEN_CA || e->kind == BEN_SDA ||
                (m == M_OOW2 && e->kind == BEN_UC_NOT_WORKING));
    case M_JSA:
        return e->ag == 2 && e->kind == BEN_JSA;
    case M_EMPLOY:
        return e->ag == 2 && e->kind == BEN_EMPLOYMENT;
    case M_NEGLECT:
        return e->ag == 3 && (e->kind == PLAN_CIN || e->kind == PLAN_CP) && e->sub == CAT_NEGLECT;
    case M_CP:
        return e->ag == 3 && e->kind == PLAN_CP;
    case M_LAC:
        return e->ag == 3 && e->kind == PLAN_LAC;
    case M_TREAT:
        return e->ag == 6 && age >= 18;
    case M_TREAT_DONE:
        if (e->ag != 6 || !ev_end_known(e, T) || e->sub != DIS_COMPLETED)
            return false;
        x->s = x->e = e->end;
        return true;
    default:
        return false;
    }
}

typedef struct win {
    int32_t lo, hi;
    bool ok;
} win;

static win days_win(int32_t T, int n)
{
    return (win){T - n + 1, T, true};
}

/* The last n terms ending on or before T; ok = false when the calendar has fewer. */
static win terms_win(const synth_hview *h, int32_t T, int n, int *first)
{
    int j = -1;
    for (int i = 0; i < h->nterms; i++)
        if (h->terms[i].end <= T)
            j = i;
    if (j + 1 < n)
        return (win){0, 0, false};
    if (first)
        *first = j - n + 1;
    return (win){h->terms[j - n + 1].start, h->terms[j].end, true};
}

static bool in_win(const mev *x, win w)
{
    return w.ok && x->s <= w.hi && x->e >= w.lo;
}

/* Aggregates over the events of the measures in mask, of member `slot` (-1: everyone). */
typedef struct agg {
    long count, sum, of;
} agg;

static agg aggregate(const synth_hview *h, int32_t T, uint32_t mask, win w, int slot)
{
    agg a = {0, 0, 0};
    for (int i = 0; i < h->nev; i++) {
        const synth_event *e = &h->ev[i];
        if (slot >= 0 && e->slot != slot)
            continue;
        for (int m = 0; m < M_COUNT; m++) {
            mev x;
            if ((mask & MB(m)) && measure_of(h, e, T, m, &x) && in_win(&x, w)) {
                a.count++;
                a.sum += x.v;
                a.of += x.of;
            }
        }
    }
    return a;
}

/* One span, or overlapping or adjacent spans, of member slot cover the whole window. */
static bool continuous(const synth_hview *h, int32_t T, int m, win w, int slot)
{
    int32_t cur = w.lo;
    for (bool grew = true; grew && cur <= w.hi;) {
        grew = false;
        for (int i = 0; i < h->nev; i++) {
            mev x;
            if (h->ev[i].slot != slot || !measure_of(h, &h->ev[i], T, m, &x))
                continue;
            if (x.s <= cur && x.e >= cur) {
                cur = x.e == INT32_MAX ? INT32_MAX : x.e + 1;
                grew = true;
                if (cur > w.hi)
                    break;
            }
        }
    }
    return cur > w.hi;
}

static bool ratio_lt(agg a, long num, long den) /* sum/of < num/den, of > 0 */
{
    return a.of > 0 && a.sum * den < num * a.of;
}
static bool ratio_ge(agg a, long num, long den)
{
    return a.of > 0 && a.sum * den >= num * a.of;
}

uint32_t prog_criteria(const synth_hview *h, int32_t T)
{
    uint32_t c = 0;
    win y = days_win(T, 365);
    win t3 = terms_win(h, T, 3, NULL);
    bool child = false;
    for (int i = 0; i < h->n; i++)
        child |= h->dob[i] <= T && age_on(h->dob[i], T) < 18;
    for (int s = 0; s < h->n; s++) {
        if (aggregate(h, T, MB(M_YOUTH), y, s).count >= 1)
            c |= 1u << C_P1_CRIME_1 | 1u << C_P2_CRIME_2;
        if (aggregate(h, T, MB(M_ASB_INTERV), y, s).count >= 1)
            c |= 1u << C_P1_CRIME_2;
        if (aggregate(h, T, MB(M_PERM), t3, s).count >= 1)
            c |= 1u << C_P1_EDU_1;
        agg fte = aggregate(h, T, MB(M_FTE), t3, s);
        if (fte.count && fte.sum >= 3)
            c |= 1u << C_P1_EDU_2 | 1u << C_P2_EDU_2;
        if (aggregate(h, T, MB(M_ALTPROV), t3, s).count >= 1)
            c |= 1u << C_P1_EDU_3;
        if (aggregate(h, T, MB(M_OFFROLL), t3, s).count >= 1)
            c |= 1u << C_P1_EDU_4;
        if (ratio_ge(aggregate(h, T, MB(M_UNAUTH), t3, s), 15, 100))
            c |= 1u << C_P1_EDU_5;
        if (aggregate(h, T, MB(M_OOW), y, s).count >= 1)
            c |= 1u << C_P1_WORK_1;
        if (aggregate(h, T, MB(M_OOW2), y, s).count >= 1)
            c |= 1u << C_P2_WORK_1;
        if (aggregate(h, T, MB(M_ASB_INC), y, s).count >= 1)
            c |= 1u << C_P2_CRIME_1;
        if (aggregate(h, T, MB(M_ADULT_GUILTY), y, s).count >= 1)
            c |= 1u << C_P2_CRIME_3;
        agg att = aggregate(h, T, MB(M_ATTEND), t3, s);
        if (ratio_lt(att, 90, 100))
            c |= 1u << C_P2_EDU_1;
        if (aggregate(h, T, MB(M_NEGLECT), y, s).count >= 1)
            c |= 1u << C_P2_CHILD_1;
        if (aggregate(h, T, MB(M_NEET), y, s).count >= 1)
            c |= 1u << C_P2_WORK_2;
        (void)child; /* the police report says whether a child lives in the household */
        if (aggregate(h, T, MB(M_DA_CHILD), y, s).count >= 1)
            c |= 1u << C_P2_DA_1;
        if (aggregate(h, T, MB(M_TREAT), y, s).count >= 1)
            c |= 1u << C_P2_HEALTH_1;
        if (aggregate(h, T, MB(M_EHCP_CARER), t3, s).count >= 1 &&
            ((fte.count && fte.sum > 3) || ratio_lt(att, 90, 100)))
            c |= 1u << C_P2_HEALTH_2;
    }
    return c;
}

uint32_t prog_problems(int phase, uint32_t c)
{
#define ANY(...) ((c & (__VA_ARGS__)) != 0)
#define B(x) (1u << (x))
    uint32_t p = 0;
    if (phase == 1) {
        p |= ANY(B(C_P1_CRIME_1) | B(C_P1_CRIME_2)) ? 1u << PH1_CRIME : 0;
        p |= ANY(B(C_P1_EDU_1) | B(C_P1_EDU_2) | B(C_P1_EDU_3) | B(C_P1_EDU_4) | B(C_P1_EDU_5))
                 ? 1u << PH1_SCHOOL
                 : 0;
        p |= ANY(B(C_P1_WORK_1)) ? 1u << PH1_WORK : 0;
    } else {
        p |= ANY(B(C_P2_CRIME_1) | B(C_P2_CRIME_2) | B(C_P2_CRIME_3)) ? 1u << PH2_CRIME : 0;
        p |= ANY(B(C_P2_EDU_1) | B(C_P2_EDU_2)) ? 1u << PH2_SCHOOL : 0;
        p |= ANY(B(C_P2_CHILD_1)) ? 1u << PH2_CHILD : 0;
        p |= ANY(B(C_P2_WORK_1) | B(C_P2_WORK_2)) ? 1u << PH2_WORK : 0;
        p |= ANY(B(C_P2_DA_1)) ? 1u << PH2_DA : 0;
        p |= ANY(B(C_P2_HEALTH_1) | B(C_P2_HEALTH_2)) ? 1u << PH2_HEALTH : 0;
    }
    return p;
#undef ANY
#undef B
}

/* ---- outcomes ---- */

enum { G_COUNT_GE, G_NONE, G_REDUCTION, G_RATIO_GE, G_SUM_LT, G_CONTINUOUS, G_EXCL_AND_ATT };
enum { S_EACH, S_FAMILY, S_PERSON };

typedef struct ocrit {
    uint32_t meas;
    int agg, scope;
    long num, den; /* count >= num; sum < num; ratio >= num/den; reduction num/den */
    int days, terms;
    uint32_t with, without; /* baseline conditions (measure masks) */
    uint32_t moved; /* person scope: only a member with these in the year to I is a subject */
} ocrit;

typedef struct oproblem {
    bool any;
    int n;
    ocrit c[3];
} oproblem;

static const oproblem out1[PH1_COUNT] = {
    [PH1_CRIME] = {false, 1, {{MB(M_YOUTH), G_NONE, S_FAMILY, 0, 1, 183, 0, 0, 0, 0}}},
    [PH1_SCHOOL] = {false, 1, {{MB(M_ATTEND), G_RATIO_GE, S_EACH, 85, 100, 0, 3, 0, 0, 0}}},
    [PH1_WORK] = {false, 1, {{MB(M_EMPLOY), G_CONTINUOUS, S_PERSON, 0, 1, 91, 0, 0, 0, MB(M_OOW)}}},
};

static const oproblem out2[PH2_COUNT] = {
    [PH2_CRIME] = {false,
                   3,
                   {{MB(M_ASB_INC), G_REDUCTION, S_FAMILY, 60, 100, 183, 0, 0, 0, 0},
                    {MB(M_YOUTH) | MB(M_ADULT_GUILTY), G_REDUCTION, S_FAMILY, 33, 100, 183, 0, 0, 0, 0},
                    {MB(M_ADULT_GUILTY), G_NONE, S_FAMILY, 0, 1, 183, 0, 0, 0, 0}}},
    [PH2_SCHOOL] = {false,
                    2,
                    {{MB(M_ATTEND), G_RATIO_GE, S_EACH, 90, 100, 0, 3, 0, 0, 0},
                     {MB(M_FTE), G_SUM_LT, S_EACH, 3, 1, 0, 3, 0, 0, 0}}},
    [PH2_CHILD] = {false, 1, {{MB(M_CP) | MB(M_LAC), G_NONE, S_FAMILY, 0, 1, 183, 0, 0, 0, 0}}},
    [PH2_WORK] = {true,
                  3,
                  {{MB(M_EMPLOY), G_CONTINUOUS, S_PERSON, 0, 1, 182, 0, MB(M_JSA), 0, MB(M_JSA)},
                   {MB(M_EMPLOY), G_CONTINUOUS, S_PERSON, 0, 1, 91, 0, 0, MB(M_JSA), MB(M_OOW2)},
                   {MB(M_NEET), G_NONE, S_FAMILY, 0, 1, 91, 0, 0, 0, MB(M_NEET)}}},
    [PH2_DA] = {false, 1, {{MB(M_DA), G_NONE, S_FAMILY, 0, 1, 183, 0, 0, 0, 0}}},
    [PH2_HEALTH] = {true,
                    2,
                    {{MB(M_TREAT_DONE), G_COUNT_GE, S_EACH, 1, 1, 183, 0, MB(M_TREAT), 0, 0},
                     {MB(M_FTE) | MB(M_ATTEND), G_EXCL_AND_ATT, S_EACH, 0, 1, 0, 3,
                      MB(M_EHCP_CARER), 0, 0}}},
};

/* The criterion's window ending at D (ok = false when the calendar is too short). */
static win crit_win(const synth_hview *h, const ocrit *c, int32_t D, int *first)
{
    if (c->terms)
        return terms_win(h, D, c->terms, first);
    return days_win(D, c->days);
}

static int lowest_meas(uint32_t mask)
{
    for (int m = 0; m < M_COUNT; m++)
        if (mask & MB(m))
            return m;
    return 0;
}

/* Does one member's (or, for S_FAMILY, the family's) aggregate satisfy c in w? */
static bool member_holds(const synth_hview *h, int32_t T, const ocrit *c, win w, int slot)
{
    agg a = aggregate(h, T, c->meas, w, slot);
    switch (c->agg) {
    case G_COUNT_GE:
        return a.count >= c->num;
    case G_RATIO_GE:
        return ratio_ge(a, c->num, c->den);
    case G_SUM_LT:
        return a.sum < c->num;
    case G_CONTINUOUS:
        return continuous(h, T, lowest_meas(c->meas), w, slot);
    default: { /* fewer than 3 exclusions and attendance >= 90 % */
        agg f = aggregate(h, T, MB(M_FTE), w, slot);
        agg t = aggregate(h, T, MB(M_ATTEND), w, slot);
        return f.sum < 3 && ratio_ge(t, 90, 100);
    }
    }
}

enum { R_SKIP, R_EARLY, R_TRUE, R_FALSE };

static int eval_crit(const synth_hview *h, const ocrit *c, int32_t I, int32_t T)
{
    /* baseline conditions: events of the measures in the same-length window ending at I */
    if (c->with || c->without) {
        win b = crit_win(h, c, I, NULL);
        if (c->with && aggregate(h, T, c->with, b, -1).count == 0)
            return R_SKIP;
        if (c->without && aggregate(h, T, c->without, b, -1).count > 0)
            return R_SKIP;
    }
    /* moved: nobody had those events in the year before identification (the evidence
     * window) — the criterion does not apply */
    if (c->moved) {
        win b = days_win(I, 365);
        int any = 0;
        for (int s = 0; s < h->n && !any; s++)
            any = aggregate(h, T, c->moved, b, s).count > 0;
        if (!any)
            return R_SKIP;
    }
    int first = 0;
    win w = crit_win(h, c, T, &first);
    if (c->terms ? (!w.ok || h->terms[first].start <= I) : T - c->days < I)
        return R_EARLY;
    bool ok;
    if (c->agg == G_NONE) {
        ok = aggregate(h, T, c->meas, w, -1).count == 0;
    } else if (c->agg == G_REDUCTION) {
        long now = aggregate(h, T, c->meas, w, -1).count;
        long base = aggregate(h, T, c->meas, crit_win(h, c, I, NULL), -1).count;
        ok = now * c->den <= (c->den - c->num) * base;
    } else if (c->scope == S_FAMILY) {
        ok = member_holds(h, T, c, w, -1);
    } else if (c->scope == S_PERSON) { /* one adult into continuous work is enough: one who
                                             was on benefits in the baseline (moved) */
        ok = false;
        for (int s = 0; s < h->n && !ok; s++)
            ok = (!c->moved || aggregate(h, T, c->moved, days_win(I, 365), s).count > 0) &&
                 member_holds(h, T, c, w, s);
    } else {
        int with_events = 0;
        ok = true;
        for (int s = 0; s < h->n && ok; s++) {
            if (aggregate(h, T, c->meas, w, s).count == 0)
                continue;
            with_events++;
            ok = member_holds(h, T, c, w, s);
        }
        ok = ok && with_events > 0;
    }
    return ok ? R_TRUE : R_FALSE;
}

int prog_status(const synth_hview *h, int phase, int p, uint32_t baseline, int32_t I, int32_t T)
{
    if (!(baseline & (1u << p)))
        return ST_NA;
    const oproblem *op = phase == 1 ? &out1[p] : &out2[p];
    int r[3], applicable = 0, trues = 0, early = 0;
    for (int i = 0; i < op->n; i++) {
        r[i] = eval_crit(h, &op->c[i], I, T);
        if (r[i] == R_SKIP)
            continue;
        applicable++;
        early += r[i] == R_EARLY;
        trues += r[i] == R_TRUE;
    }
    /* any: one way of evidencing progress met is enough, even while another's period runs;
       all: every applicable criterion, so any still running makes it too early */
    if (op->any)
        return trues ? ST_MET : early ? ST_TOO_EARLY : ST_NOT_MET;
    if (early)
        return ST_TOO_EARLY;
    return trues == applicable ? ST_MET : ST_NOT_MET;
}

bool prog_claimable(int phase, uint32_t baseline, const int *status)
{
    if (!baseline)
        return false;
    if (phase == 2) {
        for (int p = 0; p < PH2_COUNT; p++)
            if ((baseline & (1u << p)) && status[p] != ST_MET)
                return false;
        return true;
    }
    /* any_of: [[crime_asb, school_attendance], [worklessness]] */
    static const uint32_t groups[2] = {1u << PH1_CRIME | 1u << PH1_SCHOOL, 1u << PH1_WORK};
    for (int g = 0; g < 2; g++) {
        if (!(baseline & groups[g]))
            continue;
        bool all = true;
        for (int p = 0; p < PH1_COUNT; p++)
            if ((groups[g] & baseline & (1u << p)) && status[p] != ST_MET)
                all = false;
        if (all)
            return true;
    }
    return false;
}
