/* xchg-synth — population, events, recording errors and ground truth.
 *
 * Households are generated one at a time and streamed out; nothing grows with the
 * population except counters. Each household draws from four independent streams
 * (population, events, recording errors, per-person agency attributes), so changing the
 * error rate never changes who exists or what happened to them, and changing prevalence
 * never changes the population. */
#include "gen.h"
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const synth_problem_names[PB_COUNT] = {
    "crime_asb",      "education", "school_attendance", "worklessness", "children_need_help",
    "domestic_abuse", "health",
};
const char *const synth_prevalence_names[PV_COUNT] = {"crime", "school", "workless",
                                                      "cin",   "da",     "health"};
const char *const synth_err_names[ERR_COUNT] = {
    "typo",           "transposition", "nickname",        "surname_change", "moved",
    "day_month_swap", "missing_id",    "whitespace_case", "duplicate",
};
const char *const synth_agency_files[AG_COUNT] = {
    "police.csv", "education.csv", "dwp.csv",    "social_care.csv",
    "yos.csv",    "housing.csv",   "health.csv",
};
static const char *const consent_values[CS_COUNT] = {"given", "refused", "not sought", "withdrawn"};

enum { STREAM_POP = 1, STREAM_EVENT = 2, STREAM_ERROR = 3, STREAM_SHUFFLE = 4, STREAM_AGENCY = 16 };

void synth_opts_default(synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->error_ppm = 50000;
    static const uint32_t mix[ERR_COUNT] = {25, 10, 12, 8, 12, 8, 10, 10, 5};
    memcpy(o->error_mix, mix, sizeof mix);
    static const uint32_t cmix[CS_COUNT] = {600000, 100000, 250000, 50000};
    memcpy(o->consent_mix, cmix, sizeof cmix);
    o->safeguarding_ppm = 50000;
    o->safeguarding_sc_ppm = 400000;
    static const uint32_t prev[PV_COUNT] = {60000, 120000, 110000, 60000, 40000, 30000};
    memcpy(o->prevalence_ppm, prev, sizeof prev);
    o->as_of = date_from_ymd(2026, 10, 31);
    o->periods = 1;
    o->period_months = 6;
}

/* ---------------------------------------------------------------------------------- */
/* Population                                                                         */

#define MAXP SYNTH_MAXP
#define NAME_CAP 96

enum role { R_HEAD, R_PARTNER, R_CHILD, R_STEPCHILD, R_ADULT_CHILD, R_GRANDPARENT, R_LODGER };
static const char *const role_names[] = {"head",        "partner",     "child", "stepchild",
                                         "adult_child", "grandparent", "lodger"};

enum hh_type {
    T_SINGLE,
    T_COUPLE,
    T_COUPLE_KIDS,
    T_LONE_PARENT,
    T_BLENDED,
    T_COUPLE_ADULT_KIDS,
    T_MULTIGEN,
    T_LONE_ADULT_KIDS,
    T_SHARED,
    T_COUNT
};
static const char *const type_names[T_COUNT] = {"single",
                                                "couple",
                                                "couple_children",
                                                "lone_parent",
                                                "blended",
                                                "couple_adult_children",
                                                "multigenerational",
                                                "lone_parent_adult_children",
                                                "shared"};
static const uint32_t type_weights[T_COUNT] = {28, 21, 18, 10, 4, 7, 3, 3, 6};

typedef struct person {
    uint64_t id;
    char sex;
    int32_t dob;
    int age;
    int role;
    char fore[NAME_CAP], sur[NAME_CAP], prev_sur[NAME_CAP];
    char nhs[11], upn[14], nino[10];
} person;

typedef struct household {
    uint64_t id;
    int type, n;
    person p[MAXP];
    char addr[NAME_CAP], postcode[10], prev_addr[NAME_CAP], prev_postcode[10];
    uint64_t uprn;
    int district, locality;
    bool social;
    int tier;
    uint32_t problems;
    uint16_t rows_seen[MAXP][AG_COUNT]; /* rows already written per person per agency */
    /* addresses: [0] the original, [1] after a move (move_date; 0 = never moves); the
     * fields above hold the current period's address and the one before it */
    char addrs[2][NAME_CAP], pcs[2][10], orig_prev_addr[NAME_CAP], orig_prev_pc[10];
    uint64_t uprns[2];
    int districts[2];
    int32_t move_date;
    synth_event ev[SYNTH_MAXEV];
    int nev;
} household;

typedef synth_term term;

/* Statistics of one period (summary.txt). */
typedef struct pstats {
    uint64_t problem_hh[PB_COUNT], n_elig1, n_elig2, any_problem;
    uint64_t err_count[ERR_COUNT], rows_with_error, type_count[T_COUNT];
    uint64_t consent_count[CS_COUNT], safeguarding_rows, moved;
    uint64_t crit[C_COUNT], ident[2], first[2], claim[2], status[2][PH2_COUNT][ST_COUNT];
} pstats;

/* One period's extracts and truth files. */
typedef struct period_out {
    char rel[32]; /* "" (one period) or "period-K/" */
    synth_writer w[AG_COUNT];
    FILE *people, *households, *elig1, *elig2, *rows;
    pstats st;
} period_out;

#define MAX_FILES 96

typedef struct ctx {
    const synth_opts *o;
    int np;                       /* periods */
    int32_t A, A1;                /* last and first period end */
    int32_t Ak[SYNTH_MAXPERIODS]; /* period ends */
    int32_t T0;                   /* first day of the first period's 365-day window */
    term cal[SYNTH_MAXTERMS];     /* the term calendar, chronological */
    int ncal;
    /* the current period */
    int cur;
    int32_t T, win_lo; /* period end and first day of its 365-day window */
    int t3[3];         /* calendar indices of the last three terms ending by T */
    period_out per[SYNTH_MAXPERIODS], *pw;
    pstats *st;
    FILE *prog[2], *terms_f, *periods_f;
    uint64_t next_person, upn_count, incident_count, family_count;
    uint64_t n_households, n_people, ev_overflow;
    char files[MAX_FILES][48]; /* every file written, relative to the output directory */
    int nfiles;
} ctx;

static int age_band(synth_rng *r, int lo, int hi)
{
    return rng_range(r, lo, hi);
}

static int32_t dob_for_age(ctx *c, synth_rng *r, int age)
{
    /* A birthday uniformly in the year that makes the person `age` on the as-of date. */
    int32_t latest = c->A - (age * 365 + age / 4);
    return latest - (int32_t)rng_below(r, 365);
}

static const char *pick_forename(ctx *c, synth_rng *r, char sex, int32_t dob)
{
    int y, m, d;
    date_to_ymd(dob, &y, &m, &d);
    (void)c;
    bool young = y >= 1985;
    if (sex == 'M')
        return names_pick(r, young ? NAMES_MALE_YOUNG : NAMES_MALE_OLD);
    return names_pick(r, young ? NAMES_FEMALE_YOUNG : NAMES_FEMALE_OLD);
}

static person *add_person(ctx *c, household *h, synth_rng *r, int role, char sex, int age,
                          const char *surname)
{
    if (h->n >= MAXP)
        return NULL;
    person *p = &h->p[h->n++];
    memset(p, 0, sizeof *p);
    p->id = ++c->next_person;
    p->role = role;
    p->sex = sex ? sex : (rng_below(r, 2) ? 'F' : 'M');
    if (age < 0)
        age = 0;
    if (c->np > 1 && age < 2)
        age = 2; /* nobody is born after the first period end */
    p->dob = dob_for_age(c, r, age);
    p->age = age_on(p->dob, c->A);
    str_copy(p->fore, sizeof p->fore, pick_forename(c, r, p->sex, p->dob));
    str_copy(p->sur, sizeof p->sur, surname ? surname : names_pick(r, NAMES_SURNAME));
    id_nhs(c->o->seed, p->id, p->nhs);
    if (p->age >= 4 && p->age <= 18) {
        int by, bm, bd;
        date_to_ymd(p->dob, &by, &bm, &bd);
        id_upn(c->upn_count++, (by + 4) % 100, p->upn);
    }
    if (p->age >= 16)
        id_nino(c->o->seed, p->id, p->nino);
    return p;
}

static int adult_age(synth_rng *r)
{
    static const uint32_t w[] = {30, 40, 30};
    switch (rng_weighted(r, w, 3)) {
    case 0:
        return age_band(r, 18, 35);
    case 1:
        return age_band(r, 36, 64);
    default:
        return age_band(r, 65, 92);
    }
}

/* A couple: head and partner. Most partners are of the other sex; a married partner may
 * have taken the head's surname (their birth surname kept as prev_sur). */
static void add_couple(ctx *c, household *h, synth_rng *r, int head_age)
{
    char hs = rng_below(r, 2) ? 'M' : 'F';
    person *head = add_person(c, h, r, R_HEAD, hs, head_age, NULL);
    char ps = rng_chance(r, 950000) ? (hs == 'M' ? 'F' : 'M') : hs;
    int pa = head_age + rng_range(r, -6, 6);
    if (pa < 18)
        pa = 18;
    person *partner = add_person(c, h, r, R_PARTNER, ps, pa, NULL);
    if (rng_chance(r, 550000)) { /* married, partner took head's surname */
        str_copy(partner->prev_sur, sizeof partner->prev_sur, partner->sur);
        str_copy(partner->sur, sizeof partner->sur, head->sur);
    }
}

static int mother_age(const household *h)
{
    int best = 0;
    for (int i = 0; i < h->n; i++)
        if ((h->p[i].role == R_HEAD || h->p[i].role == R_PARTNER) && h->p[i].age > best)
            best = h->p[i].age;
    return best;
}

static void add_children(ctx *c, household *h, synth_rng *r, int k, int role, const char *surname,
                         int min_age, int max_age)
{
    int top = mother_age(h) - 17;
    if (top > max_age)
        top = max_age;
    if (top < min_age)
        top = min_age;
    for (int i = 0; i < k; i++)
        add_person(c, h, r, role, 0, rng_range(r, min_age, top), surname);
}

static void make_address(ctx *c, uint32_t unit, int pos, char *addr, size_t cap, char pc[10],
                         int *district)
{
    synth_rng sr;
    rng_init(&sr, c->o->seed, unit, 0x5717EE7);
    char street[64];
    snprintf(street, sizeof street, "%s %s", names_pick(&sr, NAMES_STREET),
             names_pick(&sr, NAMES_STREET_SUFFIX));
    bool flats = rng_chance(&sr, 120000);
    const char *bld = names_pick(&sr, NAMES_BUILDING);
    int base = rng_range(&sr, 1, 120);
    if (flats)
        snprintf(addr, cap, "Flat %d, %s %s", pos + 1, names_pick(&sr, NAMES_STREET), bld);
    else
        snprintf(addr, cap, "%d %s", base + 2 * pos, street);
    id_postcode(unit, pc, district);
}

#define HH_PER_UNIT 14u

static void gen_household(ctx *c, household *h, uint64_t index)
{
    synth_rng r;
    rng_init(&r, c->o->seed, index, STREAM_POP);
    memset(h, 0, sizeof *h);
    h->id = index + 1;
    h->type = (int)rng_weighted(&r, type_weights, T_COUNT);
    switch (h->type) {
    case T_SINGLE:
        add_person(c, h, &r, R_HEAD, 0, adult_age(&r), NULL);
        break;
    case T_COUPLE:
        add_couple(c, h, &r, rng_chance(&r, 400000) ? age_band(&r, 20, 40) : age_band(&r, 41, 88));
        break;
    case T_COUPLE_KIDS: {
        add_couple(c, h, &r, age_band(&r, 22, 55));
        static const uint32_t kw[] = {35, 40, 18, 7};
        add_children(c, h, &r, 1 + (int)rng_weighted(&r, kw, 4), R_CHILD, h->p[0].sur, 0, 17);
        break;
    }
    case T_LONE_PARENT: {
        char s = rng_chance(&r, 880000) ? 'F' : 'M';
        person *p = add_person(c, h, &r, R_HEAD, s, age_band(&r, 18, 55), NULL);
        char kid_sur[NAME_CAP];
        if (rng_chance(&r, 400000)) /* children carry their other parent's surname */
            str_copy(kid_sur, sizeof kid_sur, names_pick(&r, NAMES_SURNAME));
        else
            str_copy(kid_sur, sizeof kid_sur, p->sur);
        static const uint32_t kw[] = {50, 35, 15};
        add_children(c, h, &r, 1 + (int)rng_weighted(&r, kw, 3), R_CHILD, kid_sur, 0, 17);
        break;
    }
    case T_BLENDED: {
        add_couple(c, h, &r, age_band(&r, 24, 50));
        char prev[NAME_CAP];
        str_copy(prev, sizeof prev, names_pick(&r, NAMES_SURNAME));
        add_children(c, h, &r, 1 + (int)rng_below(&r, 2), R_STEPCHILD, prev, 2, 17);
        add_children(c, h, &r, (int)rng_below(&r, 3), R_CHILD, h->p[0].sur, 0, 8);
        break;
    }
    case T_COUPLE_ADULT_KIDS:
        add_couple(c, h, &r, age_band(&r, 45, 70));
        add_children(c, h, &r, 1 + (int)rng_below(&r, 2), R_ADULT_CHILD, h->p[0].sur, 18, 32);
        break;
    case T_MULTIGEN: {
        add_couple(c, h, &r, age_band(&r, 25, 50));
        add_children(c, h, &r, 1 + (int)rng_below(&r, 3), R_CHILD, h->p[0].sur, 0, 17);
        /* grandparents: the head's parents (same surname) or the partner's */
        const char *gs = h->p[0].sur;
        if (rng_below(&r, 2))
            gs = h->p[1].prev_sur[0] ? h->p[1].prev_sur : h->p[1].sur;
        char gsur[NAME_CAP];
        str_copy(gsur, sizeof gsur, gs);
        int ga = h->p[0].age + rng_range(&r, 20, 32);
        int ng = 1 + (int)rng_below(&r, 2);
        add_person(c, h, &r, R_GRANDPARENT, ng == 2 ? 'M' : 0, ga, gsur);
        if (ng == 2)
            add_person(c, h, &r, R_GRANDPARENT, 'F', ga + rng_range(&r, -4, 3), gsur);
        break;
    }
    case T_LONE_ADULT_KIDS: {
        person *p = add_person(c, h, &r, R_HEAD, 0, age_band(&r, 45, 75), NULL);
        char sur[NAME_CAP];
        str_copy(sur, sizeof sur, p->sur);
        add_children(c, h, &r, 1 + (int)rng_below(&r, 2), R_ADULT_CHILD, sur, 18, 35);
        break;
    }
    default: { /* shared house of unrelated adults */
        int k = 2 + (int)rng_below(&r, 3);
        for (int i = 0; i < k; i++)
            add_person(c, h, &r, i == 0 ? R_HEAD : R_LODGER, 0, age_band(&r, 18, 40), NULL);
        break;
    }
    }

    /* Address: consecutive households fill postcode units of HH_PER_UNIT dwellings. */
    uint32_t unit = (uint32_t)(index / HH_PER_UNIT);
    int pos = (int)(index % HH_PER_UNIT);
    make_address(c, unit, pos, h->addr, sizeof h->addr, h->postcode, &h->district);
    h->locality = h->district / SYNTH_DISTRICTS_PER_LOCALITY;
    h->uprn = 100012000000ull + index * 13u + rng_below(&r, 13);
    /* The previous address (used by move errors) lies in another postcode unit. */
    uint32_t span =
        (uint32_t)(c->o->households ? c->o->households : c->o->people) / HH_PER_UNIT + 50u;
    uint32_t pu = rng_below(&r, span);
    if (pu == unit)
        pu = unit + 1;
    int pd;
    make_address(c, pu, (int)rng_below(&r, HH_PER_UNIT), h->prev_addr, sizeof h->prev_addr,
                 h->prev_postcode, &pd);

    static const uint32_t tw[] = {700, 220, 80};
    h->tier = (int)rng_weighted(&r, tw, 3);
    static const uint32_t social_ppm[] = {110000, 250000, 450000};
    h->social = rng_chance(&r, social_ppm[h->tier]);

    str_copy(h->addrs[0], sizeof h->addrs[0], h->addr);
    str_copy(h->pcs[0], sizeof h->pcs[0], h->postcode);
    str_copy(h->orig_prev_addr, sizeof h->orig_prev_addr, h->prev_addr);
    str_copy(h->orig_prev_pc, sizeof h->orig_prev_pc, h->prev_postcode);
    h->uprns[0] = h->uprn;
    h->districts[0] = h->district;
    /* A household that moves between periods goes to a dwelling of its own in the postcode
     * units after every household's first home and previous address, so no two households
     * ever share an address. */
    uint32_t munit = span + (uint32_t)(index / HH_PER_UNIT);
    if (munit < 96000u) {
        make_address(c, munit, pos, h->addrs[1], sizeof h->addrs[1], h->pcs[1], &h->districts[1]);
        h->uprns[1] = 100012000000ull + ((uint64_t)span * HH_PER_UNIT + index) * 13u + 7u;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Recorded identity and recording errors                                             */

enum id_kind { ID_NONE, ID_NHS, ID_UPN, ID_NINO, ID_UPRN };
static const int agency_id[AG_COUNT] = {ID_NONE, ID_UPN, ID_NINO, ID_NHS, ID_NONE, ID_UPRN, ID_NHS};
static const bool agency_addr[AG_COUNT] = {true, true, true, true, false, true, true};

typedef struct rec {
    char fore[NAME_CAP], sur[NAME_CAP];
    int y, m, d;
    bool dob_missing;
    char addr[NAME_CAP + 32], pc[12];
    char id[16];
    char consent[16];
    char consent_date[32];
    bool safeguarding;
    char errs[40];
} rec;

/* Per person and agency: consent, consent date, legal basis and whether the agency holds
 * the strong identifier at all. Drawn from a stream keyed by (person, agency) only. */
typedef struct agency_attr {
    int consent;
    int32_t consent_date;
    bool safeguarding;
    bool id_on_file;
} agency_attr;

static void agency_attr_for(ctx *c, const person *p, int ag, agency_attr *a)
{
    synth_rng r;
    rng_init(&r, c->o->seed, p->id, STREAM_AGENCY + (uint64_t)ag);
    a->consent = (int)rng_weighted(&r, c->o->consent_mix, CS_COUNT);
    a->consent_date = c->A1 - (int32_t)rng_below(&r, 730);
    a->safeguarding =
        rng_chance(&r, ag == AG_SOCIAL_CARE ? c->o->safeguarding_sc_ppm : c->o->safeguarding_ppm);
    uint32_t on_file = ag == AG_SOCIAL_CARE ? 880000 : ag == AG_HEALTH ? 960000 : SYNTH_PPM;
    a->id_on_file = rng_chance(&r, on_file);
}

static bool is_letter(unsigned char ch)
{
    return (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
}

static bool err_typo(synth_rng *r, rec *x)
{
    char *s = rng_below(r, 10) < 6 ? x->sur : x->fore;
    size_t n = strlen(s);
    size_t pos[NAME_CAP];
    size_t k = 0;
    for (size_t i = 1; i < n; i++) /* keep the first letter: most typos are mid-word */
        if (is_letter((unsigned char)s[i]))
            pos[k++] = i;
    if (k == 0)
        return false;
    size_t i = pos[rng_below(r, (uint32_t)k)];
    switch (rng_below(r, 3)) {
    case 0: { /* substitution */
        char orig = s[i];
        char ch = (char)('a' + rng_below(r, 26));
        if ((ch | 0x20) == (orig | 0x20))
            ch = ch == 'z' ? 'a' : (char)(ch + 1);
        s[i] = (orig >= 'A' && orig <= 'Z') ? (char)(ch - 32) : ch;
        return true;
    }
    case 1: /* deletion */
        if (n < 4)
            return false;
        memmove(s + i, s + i + 1, n - i);
        return true;
    default: /* doubled letter */
        if (n + 2 > NAME_CAP)
            return false;
        memmove(s + i + 1, s + i, n - i + 1);
        return true;
    }
}

static bool err_transpose(synth_rng *r, rec *x)
{
    if (rng_below(r, 100) < 15 && strcmp(x->fore, x->sur) != 0) { /* fields swapped */
        char t[NAME_CAP];
        str_copy(t, sizeof t, x->fore);
        str_copy(x->fore, sizeof x->fore, x->sur);
        str_copy(x->sur, sizeof x->sur, t);
        return true;
    }
    char *s = rng_below(r, 10) < 6 ? x->sur : x->fore;
    size_t n = strlen(s), pos[NAME_CAP], k = 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (is_letter((unsigned char)s[i]) && is_letter((unsigned char)s[i + 1]) &&
            (s[i] | 0x20) != (s[i + 1] | 0x20))
            pos[k++] = i;
    if (k == 0)
        return false;
    size_t i = pos[rng_below(r, (uint32_t)k)];
    char t = s[i];
    s[i] = s[i + 1];
    s[i + 1] = t;
    return true;
}

static bool err_nickname(synth_rng *r, rec *x)
{
    const char *nick = names_nickname(r, x->fore);
    if (!nick)
        return false;
    str_copy(x->fore, sizeof x->fore, nick);
    return true;
}

static bool err_surname(const household *h, int slot, rec *x)
{
    /* A married partner under their birth surname, or a child recorded under the
     * household's (step-)family surname instead of their own. */
    const person *p = &h->p[slot];
    const char *alt = NULL;
    if (p->prev_sur[0])
        alt = p->prev_sur;
    else if ((p->role == R_CHILD || p->role == R_STEPCHILD) && strcmp(h->p[0].sur, p->sur) != 0)
        alt = h->p[0].sur;
    if (!alt || strcmp(alt, x->sur) == 0)
        return false;
    str_copy(x->sur, sizeof x->sur, alt);
    return true;
}

static bool err_move(synth_rng *r, const household *h, rec *x, int ag)
{
    bool blank = rng_below(r, 10) < 3;
    if (blank) {
        if (!x->pc[0])
            return false;
        x->pc[0] = '\0';
        return true;
    }
    str_copy(x->pc, sizeof x->pc, h->prev_postcode);
    if (agency_addr[ag]) {
        if (ag == AG_SOCIAL_CARE)
            snprintf(x->addr, sizeof x->addr, "%s, %s", h->prev_addr,
                     synth_locality_names[h->locality]); /* town kept: moved within county */
        else
            str_copy(x->addr, sizeof x->addr, h->prev_addr);
    }
    return true;
}

static bool err_dmswap(rec *x)
{
    if (x->dob_missing || x->d > 12 || x->d == x->m)
        return false;
    int t = x->d;
    x->d = x->m;
    x->m = t;
    return true;
}

static bool err_missing(synth_rng *r, rec *x)
{
    if (x->id[0]) {
        x->id[0] = '\0';
        return true;
    }
    if (!x->dob_missing && rng_below(r, 2)) {
        x->dob_missing = true;
        return true;
    }
    if (x->pc[0]) {
        x->pc[0] = '\0';
        return true;
    }
    return false;
}

/* Case changes cover ASCII and the Latin-1 letters (UTF-8 C3 80..BE), so "Müller"
 * becomes "MÜLLER" as a recording system would write it; other scripts are left alone. */
static void name_upper(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (unsigned char)(*p - 32);
        else if (*p == 0xC3 && p[1] >= 0xA0 && p[1] <= 0xBE && p[1] != 0xB7) {
            p[1] = (unsigned char)(p[1] - 0x20);
            p++;
        } else if (*p >= 0xC0 && p[1])
            p++; /* skip the continuation byte of other two-byte letters */
    }
}

static void name_lower(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (unsigned char)(*p + 32);
        else if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97) {
            p[1] = (unsigned char)(p[1] + 0x20);
            p++;
        } else if (*p >= 0xC0 && p[1])
            p++;
    }
}

static void append_space(char *s, size_t cap, bool lead)
{
    size_t n = strlen(s);
    if (n + 2 > cap)
        return;
    if (lead) {
        memmove(s + 1, s, n + 1);
        s[0] = ' ';
    } else {
        s[n] = ' ';
        s[n + 1] = '\0';
    }
}

static bool err_spacecase(synth_rng *r, rec *x, int ag)
{
    char before_f[NAME_CAP], before_s[NAME_CAP], before_a[sizeof x->addr];
    str_copy(before_f, sizeof before_f, x->fore);
    str_copy(before_s, sizeof before_s, x->sur);
    str_copy(before_a, sizeof before_a, x->addr);
    switch (rng_below(r, 6)) {
    case 0:
        name_upper(x->sur);
        break;
    case 1:
        name_upper(x->sur);
        name_upper(x->fore);
        break;
    case 2:
        name_lower(x->fore);
        name_lower(x->sur);
        break;
    case 3:
        append_space(x->fore, sizeof x->fore, false);
        break;
    case 4:
        append_space(x->sur, sizeof x->sur, true);
        break;
    default:
        if (agency_addr[ag]) {
            char *sp = strchr(x->addr, ' ');
            size_t n = strlen(x->addr);
            if (sp && n + 2 < sizeof x->addr) {
                memmove(sp + 1, sp, strlen(sp) + 1);
                break;
            }
        }
        append_space(x->sur, sizeof x->sur, false);
        break;
    }
    bool changed =
        strcmp(before_f, x->fore) || strcmp(before_s, x->sur) || strcmp(before_a, x->addr);
    if (!changed) {
        append_space(x->sur, sizeof x->sur, false);
        changed = true;
    }
    if (rng_below(r, 8) == 0 && x->consent[0]) /* recorder's capitalisation: "Given" */
        x->consent[0] = (char)(x->consent[0] - 32);
    return changed;
}

static bool err_duplicate(synth_rng *r, const household *h, int slot, int ag, rec *x)
{
    /* A second registration of someone this agency already holds: a name variant and no
     * (or a not-yet-linked) strong identifier. Only meaningful from their second row. */
    if (h->rows_seen[slot][ag] == 0)
        return false;
    if (!err_nickname(r, x) && !err_typo(r, x) && !err_transpose(r, x))
        return false;
    x->id[0] = '\0';
    return true;
}

static bool apply_error(ctx *c, synth_rng *r, const household *h, int slot, int ag, int kind,
                        rec *x)
{
    (void)c;
    switch (kind) {
    case ERR_TYPO:
        return err_typo(r, x);
    case ERR_TRANSPOSE:
        return err_transpose(r, x);
    case ERR_NICKNAME:
        return err_nickname(r, x);
    case ERR_SURNAME:
        return err_surname(h, slot, x);
    case ERR_MOVE:
        return err_move(r, h, x, ag);
    case ERR_DMSWAP:
        return err_dmswap(x);
    case ERR_MISSING:
        return err_missing(r, x);
    case ERR_SPACECASE:
        return err_spacecase(r, x, ag);
    default:
        return err_duplicate(r, h, slot, ag, x);
    }
}

/* Build the agency's view of person `slot` for one row: the truth, then (with the
 * configured probability) exactly one recording error. A kind that cannot apply to this
 * person (no nickname, no earlier surname ...) is redrawn, ending in whitespace/case
 * which always applies, so the realised row error rate is the one asked. */
static void make_rec(ctx *c, synth_rng *er, household *h, int slot, int ag, rec *x)
{
    const person *p = &h->p[slot];
    memset(x, 0, sizeof *x);
    str_copy(x->fore, sizeof x->fore, p->fore);
    str_copy(x->sur, sizeof x->sur, p->sur);
    date_to_ymd(p->dob, &x->y, &x->m, &x->d);
    if (ag == AG_SOCIAL_CARE)
        snprintf(x->addr, sizeof x->addr, "%s, %s", h->addr, synth_locality_names[h->locality]);
    else
        str_copy(x->addr, sizeof x->addr, h->addr);
    str_copy(x->pc, sizeof x->pc, h->postcode);

    agency_attr a;
    agency_attr_for(c, p, ag, &a);
    switch (agency_id[ag]) {
    case ID_NHS:
        if (a.id_on_file)
            str_copy(x->id, sizeof x->id, p->nhs);
        break;
    case ID_UPN:
        str_copy(x->id, sizeof x->id, p->upn);
        break;
    case ID_NINO:
        str_copy(x->id, sizeof x->id, p->nino);
        break;
    case ID_UPRN:
        snprintf(x->id, sizeof x->id, "%llu", (unsigned long long)h->uprn);
        break;
    default:
        break;
    }
    str_copy(x->consent, sizeof x->consent, consent_values[a.consent]);
    x->safeguarding = a.safeguarding;
    c->st->consent_count[a.consent]++;
    if (a.safeguarding)
        c->st->safeguarding_rows++;
    /* consent_date is formatted by the caller in the agency's format */
    x->consent_date[0] = '\0';
    if (a.consent != CS_NOT_SOUGHT)
        snprintf(x->consent_date, sizeof x->consent_date, "%ld", (long)a.consent_date);

    if (rng_chance(er, c->o->error_ppm)) {
        /* Redraw while the kind cannot apply to this person/agency, so the realised mix
         * stays proportional among applicable kinds; whitespace/case always applies. */
        int applied = -1;
        for (int tries = 0; applied < 0 && tries < 8; tries++) {
            int kind = (int)rng_weighted(er, c->o->error_mix, ERR_COUNT);
            if (apply_error(c, er, h, slot, ag, kind, x))
                applied = kind;
        }
        if (applied < 0 && apply_error(c, er, h, slot, ag, ERR_SPACECASE, x))
            applied = ERR_SPACECASE;
        if (applied >= 0) {
            str_copy(x->errs, sizeof x->errs, synth_err_names[applied]);
            c->st->err_count[applied]++;
            c->st->rows_with_error++;
        }
    }
    h->rows_seen[slot][ag]++;
}

/* ---------------------------------------------------------------------------------- */
/* Date formatting per agency                                                         */

enum dfmt { DF_DMY_SLASH, DF_ISO, DF_ISO_T, DF_DMY_DASH };
static const int agency_dfmt[AG_COUNT] = {DF_DMY_SLASH, DF_ISO, DF_ISO_T,    DF_DMY_SLASH,
                                          DF_DMY_DASH,  DF_ISO, DF_DMY_SLASH};

static void fmt_ymd(char *out, size_t cap, int f, int y, int m, int d, int secs)
{
    switch (f) {
    case DF_DMY_SLASH:
        snprintf(out, cap, "%02d/%02d/%04d", d, m, y);
        break;
    case DF_DMY_DASH:
        snprintf(out, cap, "%02d-%02d-%04d", d, m, y);
        break;
    case DF_ISO_T:
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, secs / 3600, (secs / 60) % 60,
                 secs % 60);
        break;
    default:
        snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
        break;
    }
}

static void fmt_date(char *out, size_t cap, int ag, int32_t days, int secs)
{
    int y, m, d;
    date_to_ymd(days, &y, &m, &d);
    fmt_ymd(out, cap, agency_dfmt[ag], y, m, d, secs);
}

static void field_dob(synth_line *l, int ag, const rec *x)
{
    char b[32] = "";
    if (!x->dob_missing)
        fmt_ymd(b, sizeof b, agency_dfmt[ag], x->y, x->m, x->d, 0);
    line_field(l, b);
}

static void field_date(synth_line *l, int ag, int32_t days, int secs)
{
    char b[32];
    fmt_date(b, sizeof b, ag, days, secs);
    line_field(l, b);
}

/* Consent, Consent Date, Legal Basis: shared tail of every extract. */
static void field_consent(synth_line *l, int ag, const rec *x)
{
    line_field(l, x->consent);
    if (x->consent_date[0])
        field_date(l, ag, (int32_t)strtol(x->consent_date, NULL, 10), 10 * 3600);
    else
        line_field(l, "");
    line_field(l, x->safeguarding ? "safeguarding" : "");
}

static synth_slot *begin_row(ctx *c, household *h, int slot, int ag, synth_rng *er, rec *x)
{
    make_rec(c, er, h, slot, ag, x);
    synth_slot *s = writer_slot(&c->pw->w[ag]);
    s->person_id = h->p[slot].id;
    s->household_id = h->id;
    str_copy(s->errs, sizeof s->errs, x->errs);
    line_reset(&s->line);
    return s;
}


/* ---------------------------------------------------------------------------------- */
/* Agency rows: one event as a row of the current period's extract                     */

static const char *const incident_types[] = {"CRIME", "ASB", "DOMESTIC ABUSE"};
static const char *const roles[] = {"SUSPECT", "OFFENDER", "VICTIM"};
static const char *const outcome_names[] = {"", "GUILTY", "CAUTION", "NFA", "PENDING"};
static const char *const yos_outcomes[] = {"CAUTION", "YOUTH CONDITIONAL CAUTION", "REFERRAL ORDER",
                                           "YRO", "DTO"};
static const char *const housing_actions[HA_COUNT] = {"ASB WARNING", "ABC", "NOSP", "INJUNCTION",
                                                      "ASBO"};
static const char *const benefits[BEN_COUNT] = {"UC_NOT_WORKING", "JSA", "ESA",
                                                "IS",             "UC_WORKING", "IB",
                                                "CA",             "SDA",        "EMPLOYMENT"};
static const char *const plan_names[] = {"CIN", "CP", "PARENT", "LAC"};
static const char *const category_names[] = {"", "NEGLECT", "EMOTIONAL", "PHYSICAL", "SEXUAL"};
static const char *const discharge_names[] = {"", "COMPLETED", "DROPPED OUT"};
static const char *const provision_names[] = {"", "MAINSTREAM", "PRU", "AP"};

static void format_nhs_spaced(const char *nhs, char out[16])
{
    if (strlen(nhs) != 10) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 16, "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
}

/* The end of a span (or a discharge) as known on the period end: empty while open. */
static void field_end(synth_line *l, int ag, const synth_event *e, int32_t T, int secs)
{
    if (ev_end_known(e, T))
        field_date(l, ag, e->end, secs);
    else
        line_field(l, "");
}

/* Write event e as a row of the current period. Its recording error comes from a stream
 * keyed by the event, so the same event is recorded the same way in every period. */
static void emit_event(ctx *c, household *h, const synth_event *e, uint64_t index)
{
    synth_rng er;
    rng_init(&er, c->o->seed, index, 0x10000ull + e->seq);
    rec x;
    synth_slot *s = begin_row(c, h, e->slot, e->ag, &er, &x);
    synth_line *l = &s->line;
    const int32_t T = c->T;
    char b[40];
    switch (e->ag) {
    case AG_POLICE:
        line_field(l, x.sur);
        line_field(l, x.fore);
        field_dob(l, AG_POLICE, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        line_field(l, incident_types[e->kind]);
        line_field(l, roles[e->sub]);
        fmt_date(b, sizeof b, AG_POLICE, e->date, 0);
        line_fieldf(l, "%s %02d:%02d", b, e->secs / 60, e->secs % 60);
        field_consent(l, AG_POLICE, &x);
        line_fieldf(l, "INC%07llu", (unsigned long long)e->ref);
        line_field(l, outcome_names[ev_outcome_at(e, T)]);
        /* a domestic abuse report records whether a child (under 18) lives in the household */
        if (e->kind == INC_DA) {
            bool child = false;
            for (int i = 0; i < h->n; i++)
                child |= h->p[i].dob <= e->date && age_on(h->p[i].dob, e->date) < 18;
            line_field(l, child ? "Y" : "N");
        } else {
            line_field(l, "");
        }
        break;
    case AG_EDUCATION: {
        const term *t = &c->cal[e->term];
        bool sessions = !(e->flags & (EF_OFFROLL | EF_NEET));
        line_field(l, x.id);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_EDUCATION, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        field_date(l, AG_EDUCATION, t->start, 0);
        field_date(l, AG_EDUCATION, t->end, 0);
        if (sessions) {
            line_fieldf(l, "%d", e->possible);
            line_fieldf(l, "%d", e->attended);
            line_fieldf(l, "%d", e->unauth);
            line_fieldf(l, "%d", e->fte);
            line_field(l, (e->flags & EF_PERM) ? "Y" : "N");
        } else {
            for (int i = 0; i < 5; i++)
                line_field(l, "");
        }
        field_consent(l, AG_EDUCATION, &x);
        line_field(l, provision_names[e->sub]);
        line_field(l, (e->flags & EF_NEET) ? "" : (e->flags & EF_OFFROLL) ? "N" : "Y");
        line_field(l, (e->flags & EF_EHCP) ? "Y" : "N");
        line_field(l, (e->flags & EF_CARER) ? "Y" : "N");
        line_field(l, (e->flags & EF_NEET) ? "Y" : "N");
        break;
    }
    case AG_DWP:
        line_field(l, x.id);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_DWP, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        line_field(l, benefits[e->kind]);
        field_date(l, AG_DWP, e->date, e->secs);
        field_end(l, AG_DWP, e, T, e->secs2);
        field_consent(l, AG_DWP, &x);
        break;
    case AG_SOCIAL_CARE: {
        char nhs[16];
        format_nhs_spaced(x.id, nhs);
        line_field(l, nhs);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_SOCIAL_CARE, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        line_field(l, plan_names[e->kind]);
        field_date(l, AG_SOCIAL_CARE, e->date, 0);
        field_end(l, AG_SOCIAL_CARE, e, T, 0);
        line_fieldf(l, "F%06llu", (unsigned long long)e->ref);
        field_consent(l, AG_SOCIAL_CARE, &x);
        line_field(l, category_names[e->sub]);
        break;
    }
    case AG_YOS:
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_YOS, &x);
        line_field(l, x.pc);
        line_field(l, yos_outcomes[e->kind]);
        field_date(l, AG_YOS, e->date, 0);
        field_consent(l, AG_YOS, &x);
        break;
    case AG_HOUSING:
        line_field(l, x.id);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_HOUSING, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        line_field(l, housing_actions[e->kind]);
        field_date(l, AG_HOUSING, e->date, 0);
        field_consent(l, AG_HOUSING, &x);
        break;
    default:
        line_field(l, x.id);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_HEALTH, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        line_field(l, e->kind ? "DRUG" : "ALCOHOL");
        field_date(l, AG_HEALTH, e->date, 0);
        field_consent(l, AG_HEALTH, &x);
        field_end(l, AG_HEALTH, e, T, 0);
        line_field(l, ev_end_known(e, T) ? discharge_names[e->sub] : "");
        break;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Legacy ground truth (truth/households.csv): the rules of docs/synth.md on the events  */
/* as known on the period end                                                            */

static bool in_window(const ctx *c, int32_t d)
{
    return d >= c->win_lo && d <= c->T;
}

static bool active_in_window(const ctx *c, const synth_event *e)
{
    return e->date <= c->T && (!ev_end_known(e, c->T) || e->end >= c->win_lo);
}

static uint32_t legacy_problems(const ctx *c, const household *h)
{
    uint32_t p = 0;
    long possible[MAXP] = {0}, attended[MAXP] = {0}, unauth[MAXP] = {0}, fte[MAXP] = {0};
    bool perm[MAXP] = {false};
    for (int i = 0; i < h->nev; i++) {
        const synth_event *e = &h->ev[i];
        if (!ev_visible(e, c->T))
            continue;
        switch (e->ag) {
        case AG_POLICE:
            if ((e->kind == INC_CRIME || e->kind == INC_ASB) && e->sub != ROLE_VICTIM &&
                in_window(c, e->date))
                p |= 1u << PB_CRIME_ASB;
            if (e->kind == INC_DA && in_window(c, e->date))
                p |= 1u << PB_DOMESTIC_ABUSE;
            break;
        case AG_YOS:
        case AG_HOUSING:
            if (in_window(c, e->date))
                p |= 1u << PB_CRIME_ASB;
            break;
        case AG_DWP: /* the out-of-work codes of the shipped agreements' indicator */
            if ((e->kind == BEN_UC_NOT_WORKING || e->kind == BEN_JSA || e->kind == BEN_ESA ||
                 e->kind == BEN_IS) &&
                active_in_window(c, e))
                p |= 1u << PB_WORKLESSNESS;
            break;
        case AG_SOCIAL_CARE:
            if ((e->kind == PLAN_CIN || e->kind == PLAN_CP) && active_in_window(c, e))
                p |= 1u << PB_CHILDREN_NEED_HELP;
            break;
        case AG_HEALTH:
            if (in_window(c, e->date))
                p |= 1u << PB_HEALTH;
            break;
        default: { /* education: sums over the last three terms, rows with sessions */
            bool last3 = e->term == c->t3[0] || e->term == c->t3[1] || e->term == c->t3[2];
            if (!last3 || (e->flags & (EF_OFFROLL | EF_NEET)))
                break;
            possible[e->slot] += e->possible;
            attended[e->slot] += e->attended;
            unauth[e->slot] += e->unauth;
            fte[e->slot] += e->fte;
            perm[e->slot] |= (e->flags & EF_PERM) != 0;
            break;
        }
        }
    }
    for (int s = 0; s < h->n; s++) {
        if (!possible[s])
            continue;
        bool base = perm[s] || fte[s] >= 3;
        if (base || unauth[s] * 100 >= possible[s] * 15)
            p |= 1u << PB_EDUCATION;
        if (base || attended[s] * 100 < possible[s] * 90)
            p |= 1u << PB_SCHOOL_ATTENDANCE;
    }
    return p;
}

/* ---------------------------------------------------------------------------------- */
/* Events per household                                                               */

static uint32_t scaled(const ctx *c, int pv, int tier, uint32_t boost_pct)
{
    static const uint32_t mult[] = {400, 1500, 5000}; /* per mille; tier-weighted mean ~1 */
    uint64_t p = (uint64_t)c->o->prevalence_ppm[pv] * mult[tier] / 1000u * boost_pct / 100u;
    return p > 900000u ? 900000u : (uint32_t)p;
}

static int pick_member(synth_rng *r, const household *h, int lo, int hi, char prefer_sex)
{
    int cand[MAXP], k = 0, pref[MAXP], kp = 0;
    for (int i = 0; i < h->n; i++)
        if (h->p[i].age >= lo && h->p[i].age <= hi) {
            cand[k++] = i;
            if (prefer_sex && h->p[i].sex == prefer_sex)
                pref[kp++] = i;
        }
    if (kp > 0 && rng_below(r, 100) < 75)
        return pref[rng_below(r, (uint32_t)kp)];
    return k ? cand[rng_below(r, (uint32_t)k)] : -1;
}

static int partner_of(const household *h, int i)
{
    if (h->p[i].role == R_HEAD) {
        for (int j = 0; j < h->n; j++)
            if (h->p[j].role == R_PARTNER)
                return j;
    } else if (h->p[i].role == R_PARTNER) {
        return 0;
    }
    return -1;
}

static synth_event spare_event;

static synth_event *add_ev(ctx *c, household *h, int ag, int slot, int32_t date)
{
    synth_event *e = &spare_event;
    if (h->nev < SYNTH_MAXEV)
        e = &h->ev[h->nev++];
    else
        c->ev_overflow++;
    memset(e, 0, sizeof *e);
    e->ag = (uint8_t)ag;
    e->slot = (uint8_t)slot;
    e->date = date;
    return e;
}

static int32_t date_in(synth_rng *r, int32_t lo, int32_t hi)
{
    return hi <= lo ? lo : lo + (int32_t)rng_below(r, (uint32_t)(hi - lo + 1));
}
static int32_t date_before(const ctx *c, synth_rng *r)
{
    return c->T0 - 1 - (int32_t)rng_below(r, 1095);
}
static int32_t max32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}
static int32_t min32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* The periods of a problem: up to two episodes [lo, hi] in which its events fall. */
typedef struct episodes {
    int n;
    int32_t lo[2], hi[2];
} episodes;

enum { TR_PERSIST, TR_SUSTAIN, TR_RELAPSE, TR_NEW, TR_COUNT };

static void police_ev(ctx *c, household *h, synth_rng *ev, int slot, int type, int role,
                      int32_t day, int minute, uint64_t incident)
{
    synth_event *e = add_ev(c, h, AG_POLICE, slot, day);
    e->kind = (uint8_t)type;
    e->sub = (uint8_t)role;
    e->secs = minute;
    e->ref = incident;
    if (type != INC_CRIME || role == ROLE_VICTIM)
        return;
    /* Most offenders' charges are proven (GUILTY; CAUTION is for under-18s), suspects'
     * less often; the decision comes days to months later and some never do (PENDING). */
    int age = age_on(h->p[slot].dob, day);
    uint32_t r = rng_below(ev, 100);
    bool proven = role == ROLE_OFFENDER ? r < 85 : r < 35;
    bool nfa = !proven && (role == ROLE_OFFENDER ? r < 95 : r < 75);
    if (proven)
        e->outcome = age < 18 && rng_below(ev, 2) ? OC_CAUTION : OC_GUILTY;
    else
        e->outcome = nfa ? OC_NFA : OC_PENDING;
    if (e->outcome == OC_PENDING)
        e->flags |= EF_OPEN;
    else
        e->end = day + rng_range(ev, 3, 150);
}

static void span_ev(ctx *c, household *h, int ag, int slot, int kind, int32_t start, int32_t end,
                    bool open)
{
    synth_event *e = add_ev(c, h, ag, slot, start);
    e->kind = (uint8_t)kind;
    e->end = open ? 0 : end;
    if (open)
        e->flags |= EF_OPEN;
}

static void dwp_ev(ctx *c, household *h, synth_rng *ev, int slot, int kind, int32_t start,
                   int32_t end, bool open)
{
    int32_t dob16 = h->p[slot].dob + 16 * 365 + 4;
    if (start < dob16)
        start = dob16;
    if (!open && end < start)
        end = start;
    synth_event *e = add_ev(c, h, AG_DWP, slot, start);
    e->kind = (uint8_t)kind;
    e->end = open ? 0 : end;
    e->flags = open ? EF_OPEN : 0;
    e->secs = rng_range(ev, 8 * 3600, 17 * 3600);
    e->secs2 = rng_range(ev, 8 * 3600, 17 * 3600);
}

/* A worker's employment after leaving benefits at `from`: mostly one continuing job, some
 * two jobs back to back (adjacent spans), some with a gap, and those who relapse lose the
 * job before `until`. */
static void employment_after(ctx *c, household *h, synth_rng *ev, int slot, int32_t from,
                             int32_t until)
{
    int32_t js = from + rng_range(ev, 1, 30);
    if (js > c->A)
        return;
    if (until) {
        int32_t je = max32(js, until - rng_range(ev, 1, 20));
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, js, je, false);
        return;
    }
    uint32_t r = rng_below(ev, 100);
    if (r < 65) {
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, js, 0, true);
    } else if (r < 82) {
        int32_t e1 = js + rng_range(ev, 40, 120);
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, js, e1, false);
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, e1 + 1, 0, true);
    } else if (r < 92) {
        int32_t e1 = js + rng_range(ev, 30, 80);
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, js, e1, false);
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, e1 + rng_range(ev, 5, 30), 0, true);
    } else {
        dwp_ev(c, h, ev, slot, BEN_EMPLOYMENT, js, js + rng_range(ev, 20, 70), false);
    }
}

static void education_events(ctx *c, household *h, synth_rng *ev, int slot, bool poor,
                             const episodes *ep, bool carer_risk)
{
    const person *p = &h->p[slot];
    int32_t absence_poor = rng_range(ev, 70, 350), unauth_poor = rng_range(ev, 25, 90);
    int32_t absence_good = rng_range(ev, 5, 85), unauth_good = rng_range(ev, 0, 40);
    int noise = 20;
    if (rng_chance(ev, 60000)) { /* attendance close to 90 %: both sides of the line */
        absence_good = rng_range(ev, 96, 104);
        noise = 2;
    }
    bool excluder = poor && rng_chance(ev, 300000);
    bool perm_pupil = poor && rng_chance(ev, 40000);
    bool ap_pupil = poor && rng_chance(ev, 30000);
    bool offroll = rng_chance(ev, poor ? 40000 : 8000);
    int offroll_from = (int)rng_below(ev, (uint32_t)c->ncal);
    uint8_t flags = 0;
    if (rng_chance(ev, poor ? 120000 : 30000))
        flags |= EF_EHCP;
    if (rng_chance(ev, carer_risk ? 150000 : 20000))
        flags |= EF_CARER;
    bool excluded = false;
    for (int t = 0; t < c->ncal; t++) {
        const term *tm = &c->cal[t];
        if (age_on(p->dob, tm->start) < 4)
            continue;
        bool bad = false;
        for (int k = 0; poor && k < ep->n; k++)
            bad |= tm->end >= ep->lo[k] && tm->start <= ep->hi[k];
        synth_event *e = add_ev(c, h, AG_EDUCATION, slot, tm->end);
        e->term = (uint8_t)t;
        e->flags = flags;
        if (offroll && t >= offroll_from) {
            e->flags |= EF_OFFROLL;
            e->sub = PROV_NONE;
            continue;
        }
        e->sub = excluded ? (uint8_t)(rng_below(ev, 100) < 60 ? PROV_PRU : PROV_AP)
                 : ap_pupil && bad ? PROV_AP
                                   : PROV_MAINSTREAM;
        int possible = tm->possible - 2 * rng_range(ev, 0, 3);
        if (rng_chance(ev, 20000))
            possible /= 2; /* joined mid-term */
        int32_t pm = (bad ? absence_poor : absence_good) + rng_range(ev, -noise, noise);
        if (pm < 0)
            pm = 0;
        int absent = (int)((long)possible * pm / 1000);
        e->possible = (int16_t)possible;
        e->attended = (int16_t)(possible - absent);
        e->unauth = (int16_t)(absent * (bad ? unauth_poor : unauth_good) / 100);
        if (bad && excluder) {
            static const uint32_t fw[] = {40, 35, 20, 5};
            e->fte = (int16_t)rng_weighted(ev, fw, 4);
        } else if (rng_chance(ev, 5000)) {
            e->fte = 1;
        }
        if (perm_pupil && bad && !excluded && (rng_below(ev, 100) < 40 || t == c->ncal - 1)) {
            e->flags |= EF_PERM;
            excluded = true;
        }
    }
}

static void neet_events(ctx *c, household *h, int slot, const episodes *ep)
{
    const person *p = &h->p[slot];
    for (int t = 0; t < c->ncal; t++) {
        const term *tm = &c->cal[t];
        if (age_on(p->dob, tm->start) < 16 || age_on(p->dob, tm->end) > 18)
            continue;
        bool on = false;
        for (int k = 0; k < ep->n; k++)
            on |= tm->end >= ep->lo[k] && tm->start <= ep->hi[k];
        if (!on)
            continue;
        synth_event *e = add_ev(c, h, AG_EDUCATION, slot, tm->end);
        e->term = (uint8_t)t;
        e->flags = EF_NEET;
    }
}

static void gen_events(ctx *c, household *h, uint64_t index)
{
    synth_rng ev;
    rng_init(&ev, c->o->seed, index, STREAM_EVENT);
    h->nev = 0;
    h->move_date = 0;
    bool kids = false, pupils = false, teen = false, adult = false, working_age = false,
         over10 = false, young = false;
    for (int i = 0; i < h->n; i++) {
        int a = h->p[i].age;
        kids |= a < 18;
        pupils |= a >= 5 && a <= 16;
        teen |= a >= 10 && a <= 17;
        adult |= a >= 18;
        working_age |= a >= 16 && a <= 66;
        over10 |= a >= 10;
        young |= a >= 17 && a <= 19;
    }
    bool lone = h->type == T_LONE_PARENT;
    int t = h->tier;
    bool aim[PV_COUNT];
    aim[PV_WORKLESS] = working_age && rng_chance(&ev, scaled(c, PV_WORKLESS, t, lone ? 160 : 100));
    aim[PV_DA] = adult && h->n > 1 && rng_chance(&ev, scaled(c, PV_DA, t, lone ? 150 : 100));
    aim[PV_CIN] = kids && rng_chance(&ev, scaled(c, PV_CIN, t, aim[PV_DA] ? 450 : 100));
    aim[PV_CRIME] =
        over10 && rng_chance(&ev, scaled(c, PV_CRIME, t, aim[PV_WORKLESS] ? 160 : 100));
    aim[PV_SCHOOL] =
        pupils && rng_chance(&ev, scaled(c, PV_SCHOOL, t, aim[PV_WORKLESS] ? 250 : 100));
    aim[PV_HEALTH] = adult && rng_chance(&ev, scaled(c, PV_HEALTH, t,
                                                     (aim[PV_DA] || aim[PV_CRIME]) ? 200 : 100));
    bool can[PV_COUNT] = {over10, pupils, working_age, kids, adult && h->n > 1, adult};

    /* Trajectory across periods (one period: every problem spans the window). */
    episodes ep[PV_COUNT];
    memset(ep, 0, sizeof ep);
    const int32_t T0 = c->T0, TE = c->A;
    int traj = TR_PERSIST;
    int32_t X = TE, Y = TE, Z = TE;
    if (c->np > 1) {
        static const uint32_t tw[TR_COUNT] = {30, 35, 20, 15};
        traj = (int)rng_weighted(&ev, tw, TR_COUNT);
        X = max32(T0 + 30, c->A1 + rng_range(&ev, -120, 45));
        Y = max32(X + 60, c->A1 + 60);
        Y = Y < TE - 15 ? date_in(&ev, Y, TE - 15) : 0;
        Z = date_in(&ev, c->A1 + 1, TE - 45);
        if (traj == TR_RELAPSE && !Y)
            traj = TR_SUSTAIN;
    }
    for (int p = 0; p < PV_COUNT; p++) {
        if (!aim[p])
            continue;
        int tp = traj;
        if (tp == TR_SUSTAIN && rng_below(&ev, 100) < 15)
            tp = TR_PERSIST; /* partial progress: this problem does not improve */
        switch (tp) {
        case TR_SUSTAIN:
            ep[p] = (episodes){1, {T0, 0}, {X, 0}};
            break;
        case TR_RELAPSE:
            ep[p] = (episodes){2, {T0, Y}, {X, TE}};
            break;
        case TR_NEW:
            ep[p] = (episodes){1, {Z, 0}, {TE, 0}};
            break;
        default:
            ep[p] = (episodes){1, {T0, 0}, {TE, 0}};
            break;
        }
    }
    if (c->np > 1 && traj != TR_NEW && rng_chance(&ev, 120000)) {
        int p = (int)rng_below(&ev, PV_COUNT); /* a new problem in a later period */
        if (can[p] && !aim[p]) {
            aim[p] = true;
            ep[p] = (episodes){1, {Z, 0}, {TE, 0}};
        }
    }
    if (c->np > 1 && h->uprns[1] && rng_chance(&ev, 80000))
        h->move_date = date_in(&ev, c->A1 + 1, TE);

    /* --- police, youth offending, housing --- */
    if (aim[PV_CRIME]) {
        int who = pick_member(&ev, h, 10, 45, 'M');
        if (who < 0)
            who = pick_member(&ev, h, 10, 120, 0);
        const person *o = &h->p[who];
        bool via_housing = h->social && o->age >= 18 && rng_below(&ev, 100) < 15;
        for (int k = 0; k < ep[PV_CRIME].n; k++) {
            int32_t lo = ep[PV_CRIME].lo[k], hi = ep[PV_CRIME].hi[k];
            if (!via_housing) {
                int n = 1 + (int)rng_below(&ev, 3);
                for (int i = 0; i < n; i++) {
                    int type = rng_below(&ev, 100) < 60 ? INC_CRIME : INC_ASB;
                    int role = rng_below(&ev, 2) ? ROLE_SUSPECT : ROLE_OFFENDER;
                    police_ev(c, h, &ev, who, type, role, date_in(&ev, lo, hi),
                              rng_range(&ev, 0, 1439), ++c->incident_count);
                }
                /* youth offending outcomes while under 18: for someone who turns 18 in the
                 * episode, the outcome falls before the birthday */
                int32_t b18 = o->dob + 18 * 365 + 4;
                if (age_on(o->dob, lo) <= 17 && rng_below(&ev, 100) < 70) {
                    int32_t d = date_in(&ev, lo, min32(hi, b18 - 1));
                    if (age_on(o->dob, d) >= 10 && age_on(o->dob, d) <= 17) {
                        synth_event *e = add_ev(c, h, AG_YOS, who, d);
                        e->kind = (uint8_t)rng_below(&ev, 5);
                    }
                }
            }
            if (h->social && (via_housing || rng_below(&ev, 100) < 35)) {
                synth_event *e = add_ev(c, h, AG_HOUSING, 0, date_in(&ev, lo, hi));
                e->kind = (uint8_t)rng_below(&ev, HA_COUNT);
            }
        }
    } else {
        /* background: old offending, or a non-counting role */
        if (over10 && rng_chance(&ev, 30000)) {
            int who = pick_member(&ev, h, 12, 70, 'M');
            if (who >= 0)
                police_ev(c, h, &ev, who, rng_below(&ev, 2) ? INC_CRIME : INC_ASB, ROLE_OFFENDER,
                          date_before(c, &ev), rng_range(&ev, 0, 1439), ++c->incident_count);
        }
        if (teen && rng_chance(&ev, 10000)) {
            int who = pick_member(&ev, h, 13, 17, 0);
            if (who >= 0) {
                int32_t d = date_before(c, &ev);
                if (age_on(h->p[who].dob, d) >= 10)
                    add_ev(c, h, AG_YOS, who, d);
            }
        }
        if (h->social && rng_chance(&ev, 20000))
            add_ev(c, h, AG_HOUSING, 0, date_before(c, &ev));
    }
    if (rng_chance(&ev, 40000)) { /* victims of crime do not count towards crime_asb */
        int who = pick_member(&ev, h, 12, 95, 0);
        if (who >= 0)
            police_ev(c, h, &ev, who, INC_CRIME, ROLE_VICTIM, date_in(&ev, T0, TE),
                      rng_range(&ev, 0, 1439), ++c->incident_count);
    }
    bool bg_da = !aim[PV_DA] && adult && h->n > 1 && rng_chance(&ev, 8000);
    if (aim[PV_DA] || bg_da) {
        int victim = pick_member(&ev, h, 18, 90, 'F');
        if (victim >= 0) {
            int suspect = partner_of(h, victim);
            episodes old = {1, {0, 0}, {0, 0}};
            const episodes *de = aim[PV_DA] ? &ep[PV_DA] : &old;
            for (int k = 0; k < de->n; k++) {
                int n = aim[PV_DA] ? 1 + (int)rng_below(&ev, 2) : 1;
                for (int i = 0; i < n; i++) {
                    int32_t day = aim[PV_DA] ? date_in(&ev, de->lo[k], de->hi[k])
                                             : date_before(c, &ev);
                    int minute = rng_range(&ev, 0, 1439);
                    uint64_t inc = ++c->incident_count;
                    police_ev(c, h, &ev, victim, INC_DA, ROLE_VICTIM, day, minute, inc);
                    if (suspect >= 0 && rng_below(&ev, 100) < 80)
                        police_ev(c, h, &ev, suspect, INC_DA, ROLE_SUSPECT, day, minute, inc);
                }
            }
        }
    }

    /* --- DWP: out-of-work claims, the employment that follows, background --- */
    const episodes *we = &ep[PV_WORKLESS];
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        if (p->age < 16 || !p->nino[0])
            continue;
        bool claimant = aim[PV_WORKLESS] && p->age <= 66 && (i == 0 || rng_below(&ev, 100) < 35);
        if (claimant) {
            static const uint32_t bw[] = {35, 12, 20, 10, 0, 8, 10, 5};
            int b = (int)rng_weighted(&ev, bw, 8);
            for (int k = 0; k < we->n; k++) {
                int32_t lo = we->lo[k], hi = we->hi[k];
                int32_t start = lo == T0 ? lo + 364 - rng_range(&ev, 30, 2000)
                                         : lo + rng_range(&ev, 0, min32(60, hi - lo));
                if (hi >= TE) {
                    bool open = rng_below(&ev, 100) < 70;
                    dwp_ev(c, h, &ev, i, b, start, open ? 0 : date_in(&ev, max32(start, lo), TE),
                           open);
                } else {
                    dwp_ev(c, h, &ev, i, b, start, hi, false);
                    employment_after(c, h, &ev, i, hi, k + 1 < we->n ? we->lo[k + 1] : 0);
                }
            }
        } else if (p->age <= 66 && rng_chance(&ev, 60000)) {
            dwp_ev(c, h, &ev, i, BEN_UC_WORKING, TE - rng_range(&ev, 30, 1500), 0, true);
        } else if (p->age <= 70 && rng_chance(&ev, 30000)) {
            static const uint32_t ow[] = {30, 10, 20, 10, 0, 10, 15, 5};
            int32_t end = date_before(c, &ev);
            dwp_ev(c, h, &ev, i, (int)rng_weighted(&ev, ow, 8), end - rng_range(&ev, 30, 900),
                   end, false);
        } else if (p->age >= 18 && p->age <= 66 && rng_chance(&ev, 300000)) {
            int32_t start = TE - rng_range(&ev, 60, 5000);
            bool open = rng_below(&ev, 100) < 85;
            dwp_ev(c, h, &ev, i, BEN_EMPLOYMENT, start, open ? 0 : start + rng_range(&ev, 30, 900),
                   open);
        }
    }
    /* NEET young people (17-19 on the last period end; rows while aged 16-18) */
    if (young) {
        for (int i = 0; i < h->n; i++) {
            const person *p = &h->p[i];
            if (p->age < 17 || p->age > 19)
                continue;
            if (aim[PV_WORKLESS] ? rng_below(&ev, 100) < 30
                                 : rng_chance(&ev, scaled(c, PV_WORKLESS, t, 40))) {
                episodes all = {1, {T0, 0}, {TE, 0}};
                neet_events(c, h, i, aim[PV_WORKLESS] ? we : &all);
            }
        }
    }

    /* --- education --- */
    bool school_hit = false;
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        if (p->age < 5 || p->age > 16)
            continue;
        bool poor = aim[PV_SCHOOL] && (!school_hit || rng_below(&ev, 100) < 50);
        school_hit |= poor;
        education_events(c, h, &ev, i, poor, &ep[PV_SCHOOL], aim[PV_HEALTH] || aim[PV_DA]);
    }

    /* --- children's social care --- */
    bool past_plan = !aim[PV_CIN] && kids && rng_chance(&ev, 20000);
    if (aim[PV_CIN] || past_plan) {
        uint64_t family = ++c->family_count;
        bool any = false;
        int32_t first_start = 0;
        const episodes *ce = &ep[PV_CIN];
        for (int i = 0; i < h->n; i++) {
            const person *p = &h->p[i];
            if (p->age >= 18 || (any && rng_below(&ev, 100) < 30))
                continue;
            static const uint32_t cw[] = {0, 45, 30, 15, 10};
            int cat = (int)rng_weighted(&ev, cw, 5);
            bool cp = rng_below(&ev, 100) < 30;
            int plan = cp ? PLAN_CP : PLAN_CIN;
            int32_t start = 0;
            if (!aim[PV_CIN]) {
                int32_t end = date_before(c, &ev);
                start = end - rng_range(&ev, 60, 500);
                span_ev(c, h, AG_SOCIAL_CARE, i, plan, max32(start, p->dob), end, false);
                h->ev[h->nev - 1].sub = (uint8_t)cat;
                h->ev[h->nev - 1].ref = family;
            }
            for (int k = 0; aim[PV_CIN] && k < ce->n; k++) {
                int32_t lo = ce->lo[k], hi = ce->hi[k];
                int32_t s = lo == T0 ? min32(hi, lo + 364) - rng_range(&ev, 10, 700)
                                     : lo + rng_range(&ev, 0, min32(60, hi - lo));
                s = max32(s, p->dob + 1);
                if (k == 0)
                    start = s;
                if (hi >= TE) {
                    bool open = rng_below(&ev, 100) < 60;
                    int32_t end = open ? 0 : date_in(&ev, max32(s, lo), TE);
                    span_ev(c, h, AG_SOCIAL_CARE, i, k ? PLAN_CP : plan, s, end, open);
                    h->ev[h->nev - 1].sub = (uint8_t)cat;
                    h->ev[h->nev - 1].ref = family;
                    if (c->np > 1 && rng_below(&ev, 100) < 12) { /* escalated: looked after */
                        int32_t ls = s + rng_range(&ev, 60, 300);
                        if (ls <= TE) {
                            span_ev(c, h, AG_SOCIAL_CARE, i, PLAN_LAC, ls, 0, true);
                            h->ev[h->nev - 1].sub = (uint8_t)cat;
                            h->ev[h->nev - 1].ref = family;
                        }
                    }
                } else { /* the plan closes after progress; a CP plan may step down to CIN */
                    int32_t end = max32(s, hi) + rng_range(&ev, 0, 45);
                    span_ev(c, h, AG_SOCIAL_CARE, i, plan, s, end, false);
                    h->ev[h->nev - 1].sub = (uint8_t)cat;
                    h->ev[h->nev - 1].ref = family;
                    if (cp && rng_below(&ev, 100) < 50) {
                        span_ev(c, h, AG_SOCIAL_CARE, i, PLAN_CIN, end + 1,
                                end + rng_range(&ev, 60, 200), false);
                        h->ev[h->nev - 1].sub = (uint8_t)cat;
                        h->ev[h->nev - 1].ref = family;
                    }
                }
            }
            if (!any)
                first_start = start;
            any = true;
        }
        if (any && rng_below(&ev, 100) < 60)
            for (int i = 0; i < h->n; i++)
                if (h->p[i].role == R_HEAD || h->p[i].role == R_PARTNER) {
                    span_ev(c, h, AG_SOCIAL_CARE, i, PLAN_PARENT, first_start, 0, true);
                    h->ev[h->nev - 1].ref = family;
                }
    }

    /* --- health (drug and alcohol treatment) --- */
    if (aim[PV_HEALTH]) {
        int who = pick_member(&ev, h, 18, 75, 0);
        int drug = (int)rng_below(&ev, 2);
        const episodes *he = &ep[PV_HEALTH];
        for (int k = 0; who >= 0 && k < he->n; k++) {
            int32_t ref = date_in(&ev, he->lo[k], he->hi[k]);
            synth_event *e = add_ev(c, h, AG_HEALTH, who, ref);
            e->kind = (uint8_t)drug;
            if (he->hi[k] < TE) {
                bool relapse = k + 1 < he->n;
                e->sub = relapse ? DIS_DROPPED : DIS_COMPLETED;
                e->end = relapse ? max32(ref, he->hi[k])
                                 : max32(ref + 30, he->hi[k]) + rng_range(&ev, 0, 60);
            } else {
                uint32_t r = rng_below(&ev, 100);
                e->sub = r < 35 ? DIS_COMPLETED : r < 55 ? DIS_DROPPED : DIS_NONE;
                e->end = ref + (r < 35 ? rng_range(&ev, 40, 250) : rng_range(&ev, 20, 200));
                if (e->sub == DIS_NONE)
                    e->flags |= EF_OPEN;
            }
        }
    } else if (adult && rng_chance(&ev, 15000)) {
        int who = pick_member(&ev, h, 18, 80, 0);
        if (who >= 0) {
            int32_t ref = date_before(c, &ev) - 220;
            synth_event *e = add_ev(c, h, AG_HEALTH, who, ref);
            e->kind = (uint8_t)rng_below(&ev, 2);
            e->sub = DIS_COMPLETED;
            e->end = ref + rng_range(&ev, 30, 200);
        }
    }
}

static int cmp_event(const void *a, const void *b)
{
    const synth_event *x = a, *y = b;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Number the events in generation order, then order them by date: rows of one person in
 * one agency are then emitted oldest first in every period (a duplicate registration is
 * always a later row), and the numbering keys each event's recording-error stream. */
static void sort_events(household *h)
{
    for (int i = 0; i < h->nev; i++)
        h->ev[i].seq = (uint32_t)i;
    qsort(h->ev, (size_t)h->nev, sizeof h->ev[0], cmp_event);
}

/* ---------------------------------------------------------------------------------- */
/* Truth                                                                              */

static void csv_str(FILE *f, const char *s, bool last)
{
    synth_line l;
    line_reset(&l);
    line_field(&l, s);
    fputs(l.buf + 1, f); /* drop the leading separator */
    fputc(last ? '\n' : ',', f);
}

static void write_truth(ctx *c, const household *h)
{
    static const int phase1[] = {PB_CRIME_ASB, PB_EDUCATION, PB_WORKLESSNESS};
    static const int phase2[] = {PB_CRIME_ASB,    PB_SCHOOL_ATTENDANCE, PB_CHILDREN_NEED_HELP,
                                 PB_WORKLESSNESS, PB_DOMESTIC_ABUSE,    PB_HEALTH};
    period_out *po = c->pw;
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        char dob[11];
        int y, m, d;
        date_to_ymd(p->dob, &y, &m, &d);
        snprintf(dob, sizeof dob, "%04d-%02d-%02d", y, m, d);
        fprintf(po->people, "%llu,%llu,", (unsigned long long)p->id, (unsigned long long)h->id);
        csv_str(po->people, p->fore, false);
        csv_str(po->people, p->sur, false);
        fprintf(po->people, "%c,%s,%d,%s,%s,%s,%s,%llu,", p->sex, dob, age_on(p->dob, c->T),
                role_names[p->role], p->nhs, p->upn, p->nino, (unsigned long long)h->uprn);
        csv_str(po->people, h->addr, false);
        csv_str(po->people, h->postcode, false);
        csv_str(po->people, synth_locality_names[h->locality], false);
        csv_str(po->people, p->prev_sur, false);
        csv_str(po->people, h->prev_addr, false);
        csv_str(po->people, h->prev_postcode, true);
    }
    fprintf(po->households, "%llu,%s,%d,%llu,", (unsigned long long)h->id, type_names[h->type],
            h->n, (unsigned long long)h->uprn);
    csv_str(po->households, h->addr, false);
    fprintf(po->households, "%s,FW%d,", h->postcode, h->district + 1);
    csv_str(po->households, synth_locality_names[h->locality], false);
    fprintf(po->households, "%d,%d", h->social ? 1 : 0, h->tier);
    for (int b = 0; b < PB_COUNT; b++)
        fprintf(po->households, ",%d", (h->problems >> b) & 1u ? 1 : 0);

    const int *sets[2] = {phase1, phase2};
    size_t sizes[2] = {3, 6};
    FILE *files[2] = {po->elig1, po->elig2};
    int met_phase[2];
    for (int ph = 0; ph < 2; ph++) {
        int k = 0;
        char list[160] = "";
        for (size_t i = 0; i < sizes[ph]; i++)
            if ((h->problems >> sets[ph][i]) & 1u) {
                if (k++)
                    strcat(list, ";");
                strcat(list, synth_problem_names[sets[ph][i]]);
            }
        met_phase[ph] = k >= 2;
        if (k >= 2)
            fprintf(files[ph], "%llu,%d,%s\n", (unsigned long long)h->id, k, list);
    }
    fprintf(po->households, ",%d,%d\n", met_phase[0], met_phase[1]);
    c->st->n_elig1 += (uint64_t)met_phase[0];
    c->st->n_elig2 += (uint64_t)met_phase[1];
    for (int b = 0; b < PB_COUNT; b++)
        c->st->problem_hh[b] += (h->problems >> b) & 1u;
    c->st->any_problem += h->problems != 0;
    c->st->type_count[h->type]++;
}

/* Per household and phase, across periods: first identification and its baseline. */
typedef struct prog_state {
    int first; /* period index of first identification, or -1 */
    uint32_t baseline;
} prog_state;

static void list_append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? ";" : "", s);
}

static void write_programme(ctx *c, const household *h, prog_state st[2])
{
    synth_hview v = {.n = h->n, .ev = h->ev, .nev = h->nev, .terms = c->cal, .nterms = c->ncal};
    for (int i = 0; i < h->n; i++) {
        v.dob[i] = h->p[i].dob;
        for (int ag = 0; ag < AG_COUNT && ag < 8; ag++) {
            agency_attr a;
            agency_attr_for(c, &h->p[i], ag, &a);
            v.withdrawn[i][ag] = a.consent == CS_WITHDRAWN;
        }
    }
    uint32_t crit = prog_criteria(&v, c->T);
    for (int k = 0; k < C_COUNT; k++)
        c->st->crit[k] += (crit >> k) & 1u;
    for (int ph = 1; ph <= 2; ph++) {
        prog_state *s = &st[ph - 1];
        int np = ph == 1 ? PH1_COUNT : PH2_COUNT;
        const char *const *names = ph == 1 ? synth_ph1_names : synth_ph2_names;
        uint32_t probs = prog_problems(ph, crit);
        int count = 0;
        for (int p = 0; p < np; p++)
            count += (probs >> p) & 1u;
        bool identified = count >= 2;
        if (identified && s->first < 0) {
            s->first = c->cur;
            s->baseline = probs;
            c->st->first[ph - 1]++;
        }
        c->st->ident[ph - 1] += identified;
        char clist[256] = "", blist[160] = "";
        int lo = ph == 1 ? C_P1_CRIME_1 : C_P2_CRIME_1, hi = ph == 1 ? C_P1_WORK_1 : C_P2_HEALTH_2;
        for (int k = lo; k <= hi; k++)
            if ((crit >> k) & 1u)
                list_append(clist, sizeof clist, synth_crit_ids[k]);
        for (int p = 0; s->first >= 0 && p < np; p++)
            if ((s->baseline >> p) & 1u)
                list_append(blist, sizeof blist, names[p]);
        int status[PH2_COUNT];
        for (int p = 0; p < np; p++) {
            status[p] = s->first < 0 ? ST_NA
                                     : prog_status(&v, ph, p, s->baseline, c->Ak[s->first], c->T);
            c->st->status[ph - 1][p][status[p]]++;
        }
        bool claim = s->first >= 0 && prog_claimable(ph, s->baseline, status);
        c->st->claim[ph - 1] += claim;
        char end[11];
        fmt_date(end, sizeof end, AG_EDUCATION, c->T, 0);
        FILE *f = c->prog[ph - 1];
        fprintf(f, "%llu,%d,%s,%d,", (unsigned long long)h->id, c->cur + 1, end, identified);
        if (s->first >= 0)
            fprintf(f, "%d", s->first + 1);
        fprintf(f, ",%s,%s", clist, blist);
        for (int p = 0; p < np; p++)
            fprintf(f, ",%s", synth_status_names[status[p]]);
        fprintf(f, ",%d\n", claim);
    }
}

/* The current period: its end, windows and address of household h. */
static void set_period(ctx *c, int k)
{
    c->cur = k;
    c->T = c->Ak[k];
    c->win_lo = c->T - 364;
    c->pw = &c->per[k];
    c->st = &c->per[k].st;
    int j = -1;
    for (int i = 0; i < c->ncal; i++)
        if (c->cal[i].end <= c->T)
            j = i;
    for (int i = 0; i < 3; i++)
        c->t3[i] = j - 2 + i; /* the calendar always has three terms by the first end */
}

static void set_address(ctx *c, household *h)
{
    int a = h->move_date && h->move_date <= c->T ? 1 : 0;
    str_copy(h->addr, sizeof h->addr, h->addrs[a]);
    str_copy(h->postcode, sizeof h->postcode, h->pcs[a]);
    h->uprn = h->uprns[a];
    h->district = h->districts[a];
    h->locality = h->district / SYNTH_DISTRICTS_PER_LOCALITY;
    if (a) { /* the previous address is now the one they left */
        str_copy(h->prev_addr, sizeof h->prev_addr, h->addrs[0]);
        str_copy(h->prev_postcode, sizeof h->prev_postcode, h->pcs[0]);
        c->st->moved++;
    } else {
        str_copy(h->prev_addr, sizeof h->prev_addr, h->orig_prev_addr);
        str_copy(h->prev_postcode, sizeof h->prev_postcode, h->orig_prev_pc);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Files                                                                              */


static const char *const headers[AG_COUNT] = {
    "Police Ref,Surname,Forename,Date of Birth,Address Line 1,Postcode,Incident Type,Role,"
    "Incident Date,Consent,Consent Date,Legal Basis,Incident Ref,Outcome,Child Present",
    "Pupil Ref,UPN,Legal Forename,Legal Surname,DOB,Address1,Postcode,Term Start,Term End,"
    "Sessions Possible,Sessions Attended,Unauthorised Absence Sessions,Fixed Term Exclusions,"
    "Permanent Exclusion,Consent,Consent Date,Legal Basis,Provision,On Roll,EHCP,Young Carer,NEET",
    "CLAIM_REF,NINO,FORENAME,SURNAME,DOB,ADDRESS_LINE_1,POSTCODE,BENEFIT_TYPE,CLAIM_START,"
    "CLAIM_END,CONSENT,CONSENT_DATE,LEGAL_BASIS",
    "Case Ref,NHS Number,First Name,Last Name,Date of Birth,Address,Postcode,Plan Type,"
    "Plan Start,Plan End,Family Ref,Consent,Consent Date,Legal Basis,Category",
    "YOT Ref,Forename,Surname,DOB,Postcode,Outcome Type,Outcome Date,Consent,Consent Date,"
    "Legal Basis",
    "Tenancy Ref,UPRN,Tenant Forename,Tenant Surname,Tenant DOB,Address Line 1,Postcode,Action,"
    "Action Date,Consent,Consent Date,Legal Basis",
    "Episode ID,NHS No,Forename,Surname,DOB,Address 1,Postcode,Treatment,Referral Date,Consent,"
    "Consent Date,Legal Basis,Discharge Date,Discharge Reason",
};
static const char *const ref_prefix[AG_COUNT] = {"P", "ED", "CL", "SC", "YOT", "TR", "EP"};
static const int ref_width[AG_COUNT] = {8, 8, 9, 7, 6, 7, 8};
static const bool crlf[AG_COUNT] = {true, false, false, true, false, true, false};

static int mkdir_if_needed(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "xchg-synth: error: cannot create directory %s: %s\n", path, strerror(errno));
    return -1;
}

/* Create DIR/.tmp/REL (REL's directories exist already) and remember REL for publishing
 * and cleanup. */
static FILE *open_out(ctx *c, const char *rel)
{
    char path[4200];
    if (c->nfiles >= MAX_FILES ||
        snprintf(path, sizeof path, "%s/.tmp/%s", c->o->out, rel) >= (int)sizeof path)
        return NULL;
    str_copy(c->files[c->nfiles++], sizeof c->files[0], rel);
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "xchg-synth: error: cannot create %s: %s\n", path, strerror(errno));
    else
        setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

static int close_file(FILE **fp, const char *name)
{
    if (!*fp)
        return 0;
    int rc = 0;
    if (fflush(*fp) != 0 || ferror(*fp) || fsync(fileno(*fp)) != 0)
        rc = -1;
    if (fclose(*fp) != 0)
        rc = -1;
    *fp = NULL;
    if (rc)
        fprintf(stderr, "xchg-synth: error: writing %s failed: %s\n", name, strerror(errno));
    return rc;
}

/* Period ends A_k = A - (N - k) * M months (day clamped to the month's length), and the
 * term calendar: every term ending after A_1 - 365 and by A. */
static void compute_calendar(ctx *c)
{
    int y, m, d;
    date_to_ymd(c->A, &y, &m, &d);
    for (int k = 0; k < c->np; k++) {
        int back = (c->np - 1 - k) * c->o->period_months;
        int yy = y, mm = m - back;
        while (mm < 1) {
            mm += 12;
            yy--;
        }
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int md = mdays[mm - 1] + (mm == 2 && ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0));
        c->Ak[k] = date_from_ymd(yy, mm, d < md ? d : md);
    }
    c->A1 = c->Ak[0];
    c->T0 = c->A1 - 364;
    int y1, m1, d1;
    date_to_ymd(c->A1, &y1, &m1, &d1);
    c->ncal = 0;
    for (int yy = y1 - 1; yy <= y && c->ncal < SYNTH_MAXTERMS; yy++) {
        term cand[3] = {
            {date_from_ymd(yy, 1, 1), date_from_ymd(yy, 3, 31), 118, ""},
            {date_from_ymd(yy, 4, 1), date_from_ymd(yy, 7, 31), 124, ""},
            {date_from_ymd(yy, 9, 1), date_from_ymd(yy, 12, 31), 146, ""},
        };
        static const char *const tn[3] = {"Spring", "Summer", "Autumn"};
        for (int i = 0; i < 3 && c->ncal < SYNTH_MAXTERMS; i++)
            if (cand[i].end > c->A1 - 365 && cand[i].end <= c->A) {
                snprintf(cand[i].name, sizeof cand[i].name, "%s %d", tn[i], yy);
                c->cal[c->ncal++] = cand[i];
            }
    }
}

static void write_summary(ctx *c, FILE *f)
{
    const pstats *st = c->st;
    fprintf(f, "xchg-synth summary\n");
    fprintf(f, "seed: %llu\n", (unsigned long long)c->o->seed);
    char b[16];
    fmt_date(b, sizeof b, AG_EDUCATION, c->T, 0);
    fprintf(f, "as_of: %s\n", b);
    fmt_date(b, sizeof b, AG_EDUCATION, c->win_lo, 0);
    fprintf(f, "window_start: %s\n", b);
    if (c->np > 1)
        fprintf(f, "period: %d of %d\n", c->cur + 1, c->np);
    fprintf(f, "error_rate_ppm: %u\n", c->o->error_ppm);
    fprintf(f, "households: %llu\n", (unsigned long long)c->n_households);
    fprintf(f, "people: %llu\n", (unsigned long long)c->n_people);
    uint64_t total = 0;
    for (int a = 0; a < AG_COUNT; a++) {
        fprintf(f, "rows.%s: %llu\n", synth_agency_files[a],
                (unsigned long long)c->pw->w[a].rows);
        total += c->pw->w[a].rows;
    }
    fprintf(f, "rows.total: %llu\n", (unsigned long long)total);
    for (int t = 0; t < T_COUNT; t++)
        fprintf(f, "household_type.%s: %llu\n", type_names[t],
                (unsigned long long)st->type_count[t]);
    for (int p = 0; p < PB_COUNT; p++)
        fprintf(f, "problem.%s: %llu\n", synth_problem_names[p],
                (unsigned long long)st->problem_hh[p]);
    fprintf(f, "households_with_any_problem: %llu\n", (unsigned long long)st->any_problem);
    fprintf(f, "eligible.phase1: %llu\n", (unsigned long long)st->n_elig1);
    fprintf(f, "eligible.phase2: %llu\n", (unsigned long long)st->n_elig2);
    fprintf(f, "rows_with_error: %llu\n", (unsigned long long)st->rows_with_error);
    for (int e = 0; e < ERR_COUNT; e++)
        fprintf(f, "error.%s: %llu\n", synth_err_names[e], (unsigned long long)st->err_count[e]);
    for (int s = 0; s < CS_COUNT; s++)
        fprintf(f, "consent.%s: %llu\n", consent_values[s],
                (unsigned long long)st->consent_count[s]);
    fprintf(f, "legal_basis.safeguarding: %llu\n", (unsigned long long)st->safeguarding_rows);
    fprintf(f, "households_moved: %llu\n", (unsigned long long)st->moved);
    for (int k = 0; k < C_COUNT; k++)
        fprintf(f, "criterion.%s: %llu\n", synth_crit_ids[k], (unsigned long long)st->crit[k]);
    for (int ph = 0; ph < 2; ph++) {
        int np = ph ? PH2_COUNT : PH1_COUNT;
        const char *const *names = ph ? synth_ph2_names : synth_ph1_names;
        fprintf(f, "programme.phase%d.identified: %llu\n", ph + 1,
                (unsigned long long)st->ident[ph]);
        fprintf(f, "programme.phase%d.first_identified: %llu\n", ph + 1,
                (unsigned long long)st->first[ph]);
        fprintf(f, "programme.phase%d.claimable: %llu\n", ph + 1, (unsigned long long)st->claim[ph]);
        for (int p = 0; p < np; p++)
            for (int s = 1; s < ST_COUNT; s++)
                fprintf(f, "programme.phase%d.%s.%s: %llu\n", ph + 1, names[p],
                        synth_status_names[s], (unsigned long long)st->status[ph][p][s]);
    }
}

/* Open one period's extracts and legacy truth files under DIR/.tmp/REL. */
static int open_period(ctx *c, int k)
{
    period_out *po = &c->per[k];
    const synth_opts *o = c->o;
    char p[4200], name[96];
    if (c->np > 1) {
        snprintf(po->rel, sizeof po->rel, "period-%d/", k + 1);
        snprintf(p, sizeof p, "%s/.tmp/period-%d", o->out, k + 1);
        if (mkdir_if_needed(p))
            return -1;
    }
    snprintf(p, sizeof p, "%s/.tmp/%struth", o->out, po->rel);
    if (mkdir_if_needed(p))
        return -1;
#define OPEN(fp, file)                                                                         \
    do {                                                                                       \
        snprintf(name, sizeof name, "%s%s", po->rel, file);                                    \
        if (!((fp) = open_out(c, name)))                                                       \
            return -1;                                                                         \
    } while (0)
    OPEN(po->people, "truth/people.csv");
    OPEN(po->households, "truth/households.csv");
    OPEN(po->elig1, "truth/eligible_phase1.csv");
    OPEN(po->elig2, "truth/eligible_phase2.csv");
    OPEN(po->rows, "truth/rows.csv");
    fputs("person_id,household_id,forename,surname,sex,dob,age,role,nhs,upn,nino,uprn,"
          "address_line_1,postcode,locality,previous_surname,previous_address_line_1,"
          "previous_postcode\n",
          po->people);
    fputs("household_id,type,size,uprn,address_line_1,postcode,district,locality,social_tenant,"
          "risk_tier",
          po->households);
    for (int b = 0; b < PB_COUNT; b++)
        fprintf(po->households, ",%s", synth_problem_names[b]);
    fputs(",phase1,phase2\n", po->households);
    fputs("household_id,problem_count,problems\n", po->elig1);
    fputs("household_id,problem_count,problems\n", po->elig2);
    fputs("file,record_ref,person_id,household_id,errors\n", po->rows);
    for (int a = 0; a < AG_COUNT; a++) {
        synth_writer *w = &po->w[a];
        w->file = synth_agency_files[a];
        w->ref_prefix = ref_prefix[a];
        w->ref_width = ref_width[a];
        w->crlf = crlf[a];
        w->truth_rows = po->rows;
        w->cap = 512;
        w->slots = calloc(w->cap, sizeof *w->slots);
        rng_init(&w->shuffle, o->seed, (uint64_t)a + 16u * (uint64_t)k, STREAM_SHUFFLE);
        OPEN(w->f, synth_agency_files[a]);
        if (!w->slots)
            return -1;
        if (a == AG_EDUCATION)
            fputs("\xEF\xBB\xBF", w->f); /* UTF-8 byte order mark */
        fputs(headers[a], w->f);
        fputs(w->crlf ? "\r\n" : "\n", w->f);
    }
#undef OPEN
    return 0;
}

/* Finish one period: drain the writers, localities and summary, close everything. */
static int close_period(ctx *c, int k)
{
    set_period(c, k);
    period_out *po = &c->per[k];
    char name[96];
    for (int a = 0; a < AG_COUNT; a++) {
        writer_drain(&po->w[a]);
        if (po->w[a].overflow) {
            fprintf(stderr, "xchg-synth: error: internal: a %s row was too long\n",
                    synth_agency_files[a]);
            return -1;
        }
    }
    snprintf(name, sizeof name, "%struth/localities.csv", po->rel);
    FILE *loc = open_out(c, name);
    snprintf(name, sizeof name, "%struth/summary.txt", po->rel);
    FILE *summary = open_out(c, name);
    if (loc) {
        fputs("district,locality\n", loc);
        for (int d = 0; d < SYNTH_DISTRICTS; d++)
            fprintf(loc, "FW%d,%s\n", d + 1,
                    synth_locality_names[d / SYNTH_DISTRICTS_PER_LOCALITY]);
    }
    if (summary)
        write_summary(c, summary);
    bool bad = !loc || !summary;
    for (int a = 0; a < AG_COUNT; a++)
        bad |= close_file(&po->w[a].f, synth_agency_files[a]) != 0;
    bad |= close_file(&po->people, "people.csv") != 0;
    bad |= close_file(&po->households, "households.csv") != 0;
    bad |= close_file(&po->elig1, "eligible_phase1.csv") != 0;
    bad |= close_file(&po->elig2, "eligible_phase2.csv") != 0;
    bad |= close_file(&po->rows, "rows.csv") != 0;
    bad |= close_file(&loc, "localities.csv") != 0;
    bad |= close_file(&summary, "summary.txt") != 0;
    return bad ? -1 : 0;
}

static void programme_headers(ctx *c)
{
    for (int ph = 0; ph < 2; ph++) {
        FILE *f = c->prog[ph];
        fputs("household,period,period_end,identified,first_identified_period,criteria,baseline",
              f);
        int np = ph ? PH2_COUNT : PH1_COUNT;
        for (int p = 0; p < np; p++)
            fprintf(f, ",%s", (ph ? synth_ph2_names : synth_ph1_names)[p]);
        fputs(",claimable\n", f);
    }
    fputs("name,start,end\n", c->terms_f);
    for (int i = 0; i < c->ncal; i++) {
        char s[11], e[11];
        fmt_date(s, sizeof s, AG_EDUCATION, c->cal[i].start, 0);
        fmt_date(e, sizeof e, AG_EDUCATION, c->cal[i].end, 0);
        fprintf(c->terms_f, "%s,%s,%s\n", c->cal[i].name, s, e);
    }
    fputs("period,period_end,directory\n", c->periods_f);
    for (int k = 0; k < c->np; k++) {
        char e[11];
        fmt_date(e, sizeof e, AG_EDUCATION, c->Ak[k], 0);
        fprintf(c->periods_f, "%d,%s,%s\n", k + 1, e, c->np > 1 ? c->per[k].rel : "");
    }
}

static int publish(ctx *c)
{
    const char *out = c->o->out;
    char from[4200], to[4200];
    for (int i = 0; i < c->nfiles; i++) {
        /* create the file's directories under DIR */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", out, c->files[i]);
        for (char *s = dir + strlen(out) + 1; (s = strchr(s, '/')) != NULL; s++) {
            *s = '\0';
            int rc = mkdir_if_needed(dir);
            *s = '/';
            if (rc)
                return -1;
        }
        snprintf(from, sizeof from, "%s/.tmp/%s", out, c->files[i]);
        snprintf(to, sizeof to, "%s/%s", out, c->files[i]);
        if (rename(from, to) != 0) {
            fprintf(stderr, "xchg-synth: error: cannot rename %s: %s\n", from, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int synth_run(const synth_opts *o)
{
    int rc = 3;
    ctx *c = calloc(1, sizeof *c);
    household *h = calloc(1, sizeof *h);
    char p[4200];
    bool made_tmp = false;
    if (!c || !h) {
        fprintf(stderr, "xchg-synth: error: out of memory\n");
        goto cleanup;
    }
    c->o = o;
    c->np = o->periods ? o->periods : 1;
    c->A = o->as_of;
    compute_calendar(c);
    if (strlen(o->out) > 4000) {
        fprintf(stderr, "xchg-synth: error: output path too long\n");
        rc = 2;
        goto cleanup;
    }
    snprintf(p, sizeof p, "%s/.tmp", o->out);
    if (mkdir_if_needed(o->out) || mkdir_if_needed(p))
        goto cleanup;
    made_tmp = true;
    snprintf(p, sizeof p, "%s/.tmp/truth", o->out);
    if (mkdir_if_needed(p))
        goto cleanup;
    for (int k = 0; k < c->np; k++)
        if (open_period(c, k))
            goto cleanup;
    c->prog[0] = open_out(c, "truth/programme-phase1.csv");
    c->prog[1] = open_out(c, "truth/programme-phase2.csv");
    c->terms_f = open_out(c, "truth/terms.csv");
    c->periods_f = open_out(c, "truth/periods.csv");
    if (!c->prog[0] || !c->prog[1] || !c->terms_f || !c->periods_f)
        goto cleanup;
    programme_headers(c);

    for (uint64_t i = 0;; i++) {
        if (o->households ? i >= o->households : c->n_people >= o->people)
            break;
        set_period(c, c->np - 1);
        gen_household(c, h, i);
        gen_events(c, h, i);
        sort_events(h);
        prog_state ps[2] = {{-1, 0}, {-1, 0}};
        for (int k = 0; k < c->np; k++) {
            set_period(c, k);
            set_address(c, h);
            memset(h->rows_seen, 0, sizeof h->rows_seen);
            for (int e = 0; e < h->nev; e++)
                if (ev_visible(&h->ev[e], c->T))
                    emit_event(c, h, &h->ev[e], i);
            h->problems = legacy_problems(c, h);
            write_truth(c, h);
            write_programme(c, h, ps);
        }
        c->n_households++;
        c->n_people += (uint64_t)h->n;
    }
    if (c->ev_overflow) {
        fprintf(stderr, "xchg-synth: error: internal: %llu events did not fit a household\n",
                (unsigned long long)c->ev_overflow);
        goto cleanup;
    }
    bool bad = false;
    for (int k = 0; k < c->np; k++)
        bad |= close_period(c, k) != 0;
    bad |= close_file(&c->prog[0], "programme-phase1.csv") != 0;
    bad |= close_file(&c->prog[1], "programme-phase2.csv") != 0;
    bad |= close_file(&c->terms_f, "terms.csv") != 0;
    bad |= close_file(&c->periods_f, "periods.csv") != 0;
    if (bad || publish(c))
        goto cleanup;
    if (!o->quiet)
        fprintf(stderr, "xchg-synth: %llu households, %llu people, %d period%s written to %s\n",
                (unsigned long long)c->n_households, (unsigned long long)c->n_people, c->np,
                c->np > 1 ? "s" : "", o->out);
    rc = 0;

cleanup:
    if (c) {
        for (int k = 0; k < SYNTH_MAXPERIODS; k++) {
            period_out *po = &c->per[k];
            for (int a = 0; a < AG_COUNT; a++) {
                if (po->w[a].f)
                    fclose(po->w[a].f);
                free(po->w[a].slots);
            }
            FILE *fs[] = {po->people, po->households, po->elig1, po->elig2, po->rows};
            for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
                if (fs[i])
                    fclose(fs[i]);
        }
        FILE *fs[] = {c->prog[0], c->prog[1], c->terms_f, c->periods_f};
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
            if (fs[i])
                fclose(fs[i]);
    }
    if (made_tmp) { /* remove whatever is left of the temporary tree */
        for (int i = 0; i < c->nfiles; i++) {
            snprintf(p, sizeof p, "%s/.tmp/%s", o->out, c->files[i]);
            unlink(p);
        }
        for (int k = c->np; k >= 1; k--) {
            snprintf(p, sizeof p, "%s/.tmp/period-%d/truth", o->out, k);
            rmdir(p);
            snprintf(p, sizeof p, "%s/.tmp/period-%d", o->out, k);
            rmdir(p);
        }
        snprintf(p, sizeof p, "%s/.tmp/truth", o->out);
        rmdir(p);
        snprintf(p, sizeof p, "%s/.tmp", o->out);
        rmdir(p);
    }
    free(h);
    free(c);
    return rc;
}
