/* xchg-synth — the event model shared by the generator (gen.c) and the programme truth
 * (programme.c).
 *
 * A household's history is generated once, as a list of events over the whole timeline
 * (the first baseline window to the last period end). Each period's extract is the view
 * of that list on the period end T: an event is in the snapshot when its date is on or
 * before T, and what was not yet known at T is hidden — a span that ends after T is still
 * open, a charge decided after T is PENDING, a discharge after T has not happened. The
 * truth of every period is computed from exactly that view, so it always agrees with the
 * rows written. */
#ifndef XCHG_SYNTH_EVENTS_H
#define XCHG_SYNTH_EVENTS_H

#include "synth.h"

#define SYNTH_MAXP 12
#define SYNTH_MAXEV 320
#define SYNTH_MAXTERMS 16
#define SYNTH_MAXPERIODS 4

enum { INC_CRIME, INC_ASB, INC_DA };
enum { ROLE_SUSPECT, ROLE_OFFENDER, ROLE_VICTIM };
enum { OC_NONE, OC_GUILTY, OC_CAUTION, OC_NFA, OC_PENDING };
enum { HA_ASB_WARNING, HA_ABC, HA_NOSP, HA_INJUNCTION, HA_ASBO, HA_COUNT };
enum {
    BEN_UC_NOT_WORKING,
    BEN_JSA,
    BEN_ESA,
    BEN_IS,
    BEN_UC_WORKING,
    BEN_IB,
    BEN_CA,
    BEN_SDA,
    BEN_EMPLOYMENT,
    BEN_COUNT
};
enum { PLAN_CIN, PLAN_CP, PLAN_PARENT, PLAN_LAC };
enum { CAT_NONE, CAT_NEGLECT, CAT_EMOTIONAL, CAT_PHYSICAL, CAT_SEXUAL };
enum { DIS_NONE, DIS_COMPLETED, DIS_DROPPED };
enum { PROV_NONE, PROV_MAINSTREAM, PROV_PRU, PROV_AP };

/* event flags */
#define EF_OPEN 0x01u     /* span with no end (or a charge never decided) */
#define EF_PERM 0x02u     /* education: permanent exclusion this term */
#define EF_OFFROLL 0x04u  /* education: not on a school roll (no sessions) */
#define EF_EHCP 0x08u     /* education: EHC plan */
#define EF_CARER 0x10u    /* education: young carer */
#define EF_NEET 0x20u     /* education: NEET record (no sessions) */

typedef struct synth_event {
    uint8_t ag, slot;
    uint8_t kind;    /* incident type, YOS outcome, housing action, benefit, plan, treatment */
    uint8_t sub;     /* police role, plan category, discharge reason, provision */
    uint8_t outcome; /* police CRIME outcome once decided (OC_*) */
    uint8_t term;    /* education: index into the term calendar */
    uint8_t flags;
    int32_t date; /* incident, outcome, action, claim/plan start, referral, term end */
    int32_t end;  /* span end, charge decision, discharge (unless EF_OPEN) */
    int32_t secs, secs2;
    int16_t possible, attended, unauth, fte;
    uint64_t ref; /* incident or family reference */
    uint32_t seq;
} synth_event;

typedef struct synth_term {
    int32_t start, end;
    int possible; /* typical sessions possible */
    char name[16];
} synth_term;

/* What the programme evaluation needs of a household: members' dates of birth, the
 * events, and the term calendar. */
typedef struct synth_hview {
    int n;
    int32_t dob[SYNTH_MAXP];
    /* a withdrawn consent (an objection) stops a record's use for identification: the
     * matcher never sees its events (docs/programme.md, consent.c) */
    bool withdrawn[SYNTH_MAXP][8];
    const synth_event *ev;
    int nev;
    const synth_term *terms;
    int nterms;
} synth_hview;

/* ---- visibility on a period end T ---- */

static inline bool ev_visible(const synth_event *e, int32_t T)
{
    return e->date <= T;
}
/* Span end as known at T: false when the span is still open at T. */
static inline bool ev_end_known(const synth_event *e, int32_t T)
{
    return !(e->flags & EF_OPEN) && e->end <= T;
}
static inline int ev_outcome_at(const synth_event *e, int32_t T)
{
    if (e->outcome == OC_NONE)
        return OC_NONE;
    return ev_end_known(e, T) ? e->outcome : OC_PENDING;
}

/* ---- programme truth (programme.c) ---- */

enum { PH1_CRIME, PH1_SCHOOL, PH1_WORK, PH1_COUNT };
enum { PH2_CRIME, PH2_SCHOOL, PH2_CHILD, PH2_WORK, PH2_DA, PH2_HEALTH, PH2_COUNT };
enum { ST_NA, ST_TOO_EARLY, ST_MET, ST_NOT_MET, ST_COUNT };

enum crit_id {
    C_P1_CRIME_1,
    C_P1_CRIME_2,
    C_P1_EDU_1,
    C_P1_EDU_2,
    C_P1_EDU_3,
    C_P1_EDU_4,
    C_P1_EDU_5,
    C_P1_WORK_1,
    C_P2_CRIME_1,
    C_P2_CRIME_2,
    C_P2_CRIME_3,
    C_P2_EDU_1,
    C_P2_EDU_2,
    C_P2_CHILD_1,
    C_P2_WORK_1,
    C_P2_WORK_2,
    C_P2_DA_1,
    C_P2_HEALTH_1,
    C_P2_HEALTH_2,
    C_COUNT
};

extern const char *const synth_crit_ids[C_COUNT];
extern const char *const synth_ph1_names[PH1_COUNT];
extern const char *const synth_ph2_names[PH2_COUNT];
extern const char *const synth_status_names[ST_COUNT];

/* The identification criteria holding at T (bit i = crit_id i). */
uint32_t prog_criteria(const synth_hview *h, int32_t T);
/* Problem mask of a phase (1 or 2) from a criteria mask. */
uint32_t prog_problems(int phase, uint32_t crit);
/* Outcome status of problem p of a phase at T for a family identified at I on
 * baseline problems `baseline` (ST_NA when p is not a baseline problem). */
int prog_status(const synth_hview *h, int phase, int p, uint32_t baseline, int32_t I, int32_t T);
/* Claim rule of the phase over the statuses. */
bool prog_claimable(int phase, uint32_t baseline, const int *status);

#endif
