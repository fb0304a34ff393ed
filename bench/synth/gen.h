/* xchg-synth — generator options, context and entry points. */
#ifndef XCHG_SYNTH_GEN_H
#define XCHG_SYNTH_GEN_H

#include "synth.h"

enum agency {
    AG_POLICE,
    AG_EDUCATION,
    AG_DWP,
    AG_SOCIAL_CARE,
    AG_YOS,
    AG_HOUSING,
    AG_HEALTH,
    AG_COUNT
};

/* Ground-truth problems; bit i of a household's problem mask. */
enum problem {
    PB_CRIME_ASB,
    PB_EDUCATION,         /* phase 1 education rule */
    PB_SCHOOL_ATTENDANCE, /* phase 2 attendance rule */
    PB_WORKLESSNESS,
    PB_CHILDREN_NEED_HELP,
    PB_DOMESTIC_ABUSE,
    PB_HEALTH,
    PB_COUNT
};

/* Prevalence knobs: share of *eligible* households the generator aims to give the
 * problem (see docs/synth.md); truth is always computed from the events written. */
enum prevalence { PV_CRIME, PV_SCHOOL, PV_WORKLESS, PV_CIN, PV_DA, PV_HEALTH, PV_COUNT };

enum err_kind {
    ERR_TYPO,
    ERR_TRANSPOSE,
    ERR_NICKNAME,
    ERR_SURNAME,
    ERR_MOVE,
    ERR_DMSWAP,
    ERR_MISSING,
    ERR_SPACECASE,
    ERR_DUPLICATE,
    ERR_COUNT
};

enum consent { CS_GIVEN, CS_REFUSED, CS_NOT_SOUGHT, CS_WITHDRAWN, CS_COUNT };

extern const char *const synth_problem_names[PB_COUNT];
extern const char *const synth_prevalence_names[PV_COUNT];
extern const char *const synth_err_names[ERR_COUNT];
extern const char *const synth_agency_files[AG_COUNT];

typedef struct synth_opts {
    uint64_t seed;
    uint64_t households; /* households to generate, or 0 */
    uint64_t people;     /* or: generate households until this many people */
    uint32_t error_ppm;  /* per-row probability of one recording error */
    uint32_t error_mix[ERR_COUNT];
    uint32_t consent_mix[CS_COUNT];
    uint32_t safeguarding_ppm;    /* Legal Basis = safeguarding, most agencies */
    uint32_t safeguarding_sc_ppm; /* ... children's social care */
    uint32_t prevalence_ppm[PV_COUNT];
    int32_t as_of;
    bool as_of_set;     /* --as-of given (else the default for the number of periods) */
    int periods;        /* follow-up periods, 1-4 */
    int period_months;  /* months between period ends */
    const char *out;
    bool quiet;
} synth_opts;

void synth_opts_default(synth_opts *o);

/* Generate everything into o->out (atomically, via o->out/.tmp). Returns 0 on success;
 * on failure prints "xchg-synth: error: ..." to stderr, removes partial output and
 * returns the exit code (3 for I/O). */
int synth_run(const synth_opts *o);

#endif
