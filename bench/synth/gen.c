/* xchg-synth — population, events, recording errors and ground truth.
 *
 * Households are generated one at a time and streamed out; nothing grows with the
 * population except counters. Each household draws from four independent streams
 * (population, events, recording errors, per-person agency attributes), so changing the
 * error rate never changes who exists or what happened to them, and changing prevalence
 * never changes the population. */
#include "gen.h"

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
}

/* ---------------------------------------------------------------------------------- */
/* Population                                                                         */

#define MAXP 12
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
} household;

typedef struct term {
    int32_t start, end;
    int possible; /* typical sessions possible */
} term;

typedef struct ctx {
    const synth_opts *o;
    int32_t A, win_lo; /* as-of and first day of the 365-day window */
    term terms[3];
    synth_writer w[AG_COUNT];
    FILE *people, *households, *elig1, *elig2, *rows;
    uint64_t next_person, upn_count, incident_count, family_count;
    /* statistics for summary.txt */
    uint64_t n_households, n_people;
    uint64_t problem_hh[PB_COUNT], n_elig1, n_elig2, any_problem;
    uint64_t err_count[ERR_COUNT], rows_with_error, type_count[T_COUNT];
    uint64_t consent_count[CS_COUNT], safeguarding_rows;
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
}

/* ---------------------------------------------------------------------------------- */
/* Recorded identity and recording errors                                             */

enum id_kind { ID_NONE, ID_NHS, ID_UPN, ID_NINO, ID_UPRN };
static const int agency_id[AG_COUNT] = {ID_NONE, ID_UPN, ID_NINO, ID_NHS, ID_NONE, ID_UPRN, ID_NHS};
static const bool agency_addr[AG_COUNT] = {true, true, true, true, false, true, false};

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
    a->consent_date = c->A - (int32_t)rng_below(&r, 730);
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
    c->consent_count[a.consent]++;
    if (a.safeguarding)
        c->safeguarding_rows++;
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
            c->err_count[applied]++;
            c->rows_with_error++;
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
    synth_slot *s = writer_slot(&c->w[ag]);
    s->person_id = h->p[slot].id;
    s->household_id = h->id;
    str_copy(s->errs, sizeof s->errs, x->errs);
    line_reset(&s->line);
    return s;
}

static bool in_window(const ctx *c, int32_t d)
{
    return d >= c->win_lo && d <= c->A;
}

static bool active_in_window(const ctx *c, int32_t start, int32_t end, bool open)
{
    return start <= c->A && (open || end >= c->win_lo);
}

static int32_t date_in_window(ctx *c, synth_rng *r)
{
    return c->A - (int32_t)rng_below(r, 365);
}
static int32_t date_before_window(ctx *c, synth_rng *r)
{
    return c->win_lo - 1 - (int32_t)rng_below(r, 1095);
}

/* ---------------------------------------------------------------------------------- */
/* Agency rows                                                                        */

static const char *const incident_types[] = {"CRIME", "ASB", "DOMESTIC ABUSE"};
enum { INC_CRIME, INC_ASB, INC_DA };
static const char *const roles[] = {"SUSPECT", "OFFENDER", "VICTIM"};
enum { ROLE_SUSPECT, ROLE_OFFENDER, ROLE_VICTIM };

static void police_row(ctx *c, household *h, int slot, synth_rng *er, int type, int role,
                       int32_t day, int minute, uint64_t incident)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_POLICE, er, &x);
    synth_line *l = &s->line;
    line_field(l, x.sur);
    line_field(l, x.fore);
    field_dob(l, AG_POLICE, &x);
    line_field(l, x.addr);
    line_field(l, x.pc);
    line_field(l, incident_types[type]);
    line_field(l, roles[role]);
    char b[40];
    fmt_date(b, sizeof b, AG_POLICE, day, 0);
    line_fieldf(l, "%s %02d:%02d", b, minute / 60, minute % 60);
    field_consent(l, AG_POLICE, &x);
    line_fieldf(l, "INC%07llu", (unsigned long long)incident);
    if ((type == INC_CRIME || type == INC_ASB) && role != ROLE_VICTIM && in_window(c, day))
        h->problems |= 1u << PB_CRIME_ASB;
    if (type == INC_DA && in_window(c, day))
        h->problems |= 1u << PB_DOMESTIC_ABUSE;
}

static const char *const yos_outcomes[] = {"CAUTION", "YOUTH CONDITIONAL CAUTION", "REFERRAL ORDER",
                                           "YRO", "DTO"};

static void yos_row(ctx *c, household *h, int slot, synth_rng *er, int outcome, int32_t day)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_YOS, er, &x);
    synth_line *l = &s->line;
    line_field(l, x.fore);
    line_field(l, x.sur);
    field_dob(l, AG_YOS, &x);
    line_field(l, x.pc);
    line_field(l, yos_outcomes[outcome]);
    field_date(l, AG_YOS, day, 0);
    field_consent(l, AG_YOS, &x);
    if (in_window(c, day))
        h->problems |= 1u << PB_CRIME_ASB;
}

static const char *const housing_actions[] = {"ASB WARNING", "ABC", "NOSP", "INJUNCTION"};

static void housing_row(ctx *c, household *h, int slot, synth_rng *er, int action, int32_t day)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_HOUSING, er, &x);
    synth_line *l = &s->line;
    line_field(l, x.id);
    line_field(l, x.fore);
    line_field(l, x.sur);
    field_dob(l, AG_HOUSING, &x);
    line_field(l, x.addr);
    line_field(l, x.pc);
    line_field(l, housing_actions[action]);
    field_date(l, AG_HOUSING, day, 0);
    field_consent(l, AG_HOUSING, &x);
    if (in_window(c, day))
        h->problems |= 1u << PB_CRIME_ASB;
}

static const char *const benefits[] = {"UC_NOT_WORKING", "JSA", "ESA", "IS", "UC_WORKING"};
enum { BEN_UC_WORKING = 4 };

static void dwp_row(ctx *c, household *h, int slot, synth_rng *er, synth_rng *ev, int benefit,
                    int32_t start, int32_t end, bool open)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_DWP, er, &x);
    synth_line *l = &s->line;
    line_field(l, x.id);
    line_field(l, x.fore);
    line_field(l, x.sur);
    field_dob(l, AG_DWP, &x);
    line_field(l, x.addr);
    line_field(l, x.pc);
    line_field(l, benefits[benefit]);
    field_date(l, AG_DWP, start, rng_range(ev, 8 * 3600, 17 * 3600));
    if (open)
        line_field(l, "");
    else
        field_date(l, AG_DWP, end, rng_range(ev, 8 * 3600, 17 * 3600));
    field_consent(l, AG_DWP, &x);
    if (benefit != BEN_UC_WORKING && active_in_window(c, start, end, open))
        h->problems |= 1u << PB_WORKLESSNESS;
}

static void format_nhs_spaced(const char *nhs, char out[16])
{
    if (strlen(nhs) != 10) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 16, "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
}

static void sc_row(ctx *c, household *h, int slot, synth_rng *er, const char *plan, int32_t start,
                   int32_t end, bool open, uint64_t family)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_SOCIAL_CARE, er, &x);
    synth_line *l = &s->line;
    char nhs[16];
    format_nhs_spaced(x.id, nhs);
    line_field(l, nhs);
    line_field(l, x.fore);
    line_field(l, x.sur);
    field_dob(l, AG_SOCIAL_CARE, &x);
    line_field(l, x.addr);
    line_field(l, x.pc);
    line_field(l, plan);
    field_date(l, AG_SOCIAL_CARE, start, 0);
    if (open)
        line_field(l, "");
    else
        field_date(l, AG_SOCIAL_CARE, end, 0);
    line_fieldf(l, "F%06llu", (unsigned long long)family);
    field_consent(l, AG_SOCIAL_CARE, &x);
    if ((strcmp(plan, "CIN") == 0 || strcmp(plan, "CP") == 0) &&
        active_in_window(c, start, end, open))
        h->problems |= 1u << PB_CHILDREN_NEED_HELP;
}

static void health_row(ctx *c, household *h, int slot, synth_rng *er, int drug, int32_t day)
{
    rec x;
    synth_slot *s = begin_row(c, h, slot, AG_HEALTH, er, &x);
    synth_line *l = &s->line;
    line_field(l, x.id);
    line_field(l, x.fore);
    line_field(l, x.sur);
    field_dob(l, AG_HEALTH, &x);
    line_field(l, x.pc);
    line_field(l, drug ? "DRUG" : "ALCOHOL");
    field_date(l, AG_HEALTH, day, 0);
    field_consent(l, AG_HEALTH, &x);
    if (in_window(c, day))
        h->problems |= 1u << PB_HEALTH;
}

/* Three term rows for one pupil, with the pupil's attendance profile; evaluates both the
 * phase-1 and phase-2 education rules on the sums. */
static void education_rows(ctx *c, household *h, int slot, synth_rng *er, synth_rng *ev, bool poor)
{
    int32_t absence_pm; /* absence per mille of sessions possible */
    int32_t unauth_pct;
    int fte_total = 0, perm_term = -1;
    if (poor) {
        absence_pm = rng_range(ev, 70, 350);
        unauth_pct = rng_range(ev, 25, 90);
        if (rng_chance(ev, 300000))
            fte_total = rng_range(ev, 1, 5);
        if (rng_chance(ev, 40000))
            perm_term = 2;
    } else {
        absence_pm = rng_range(ev, 5, 85);
        unauth_pct = rng_range(ev, 0, 40);
        if (rng_chance(ev, 15000))
            fte_total = 1;
    }
    int fte_term[3] = {0, 0, 0};
    for (int i = 0; i < fte_total; i++)
        fte_term[rng_below(ev, 3)]++;
    long sum_possible = 0, sum_attended = 0, sum_unauth = 0;
    int sum_fte = 0;
    bool perm = false;
    for (int t = 0; t < 3; t++) {
        int possible = c->terms[t].possible - 2 * rng_range(ev, 0, 3);
        if (rng_chance(ev, 20000))
            possible /= 2; /* joined mid-term */
        int32_t pm = absence_pm + rng_range(ev, -20, 20);
        if (pm < 0)
            pm = 0;
        int absent = (int)((long)possible * pm / 1000);
        int unauth = absent * unauth_pct / 100;
        int attended = possible - absent;
        rec x;
        synth_slot *s = begin_row(c, h, slot, AG_EDUCATION, er, &x);
        synth_line *l = &s->line;
        line_field(l, x.id);
        line_field(l, x.fore);
        line_field(l, x.sur);
        field_dob(l, AG_EDUCATION, &x);
        line_field(l, x.addr);
        line_field(l, x.pc);
        field_date(l, AG_EDUCATION, c->terms[t].start, 0);
        field_date(l, AG_EDUCATION, c->terms[t].end, 0);
        line_fieldf(l, "%d", possible);
        line_fieldf(l, "%d", attended);
        line_fieldf(l, "%d", unauth);
        line_fieldf(l, "%d", fte_term[t]);
        line_field(l, perm_term == t ? "Y" : "N");
        field_consent(l, AG_EDUCATION, &x);
        sum_possible += possible;
        sum_attended += attended;
        sum_unauth += unauth;
        sum_fte += fte_term[t];
        perm = perm || perm_term == t;
    }
    /* phase 1: unauthorised >= 15 % of possible; phase 2: attendance < 90 % */
    if (perm || sum_fte >= 3 || (sum_possible > 0 && sum_unauth * 100 >= sum_possible * 15))
        h->problems |= 1u << PB_EDUCATION;
    if (perm || sum_fte >= 3 || (sum_possible > 0 && sum_attended * 100 < sum_possible * 90))
        h->problems |= 1u << PB_SCHOOL_ATTENDANCE;
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

static void gen_events(ctx *c, household *h, uint64_t index)
{
    synth_rng ev, er;
    rng_init(&ev, c->o->seed, index, STREAM_EVENT);
    rng_init(&er, c->o->seed, index, STREAM_ERROR);
    bool kids = false, pupils = false, teen = false, adult = false, working_age = false,
         over10 = false;
    for (int i = 0; i < h->n; i++) {
        int a = h->p[i].age;
        kids |= a < 18;
        pupils |= a >= 5 && a <= 16;
        teen |= a >= 10 && a <= 17;
        adult |= a >= 18;
        working_age |= a >= 16 && a <= 66;
        over10 |= a >= 10;
    }
    bool lone = h->type == T_LONE_PARENT;
    int t = h->tier;
    bool f_work = working_age && rng_chance(&ev, scaled(c, PV_WORKLESS, t, lone ? 160 : 100));
    bool f_da = adult && h->n > 1 && rng_chance(&ev, scaled(c, PV_DA, t, lone ? 150 : 100));
    bool f_cin = kids && rng_chance(&ev, scaled(c, PV_CIN, t, f_da ? 450 : 100));
    bool f_crime = over10 && rng_chance(&ev, scaled(c, PV_CRIME, t, f_work ? 160 : 100));
    bool f_school = pupils && rng_chance(&ev, scaled(c, PV_SCHOOL, t, f_work ? 250 : 100));
    bool f_health =
        adult && rng_chance(&ev, scaled(c, PV_HEALTH, t, (f_da || f_crime) ? 200 : 100));

    /* --- police, youth offending, housing --- */
    if (f_crime) {
        int who = pick_member(&ev, h, 10, 45, 'M');
        if (who < 0)
            who = pick_member(&ev, h, 10, 120, 0);
        bool via_housing = h->social && h->p[who].age >= 18 && rng_below(&ev, 100) < 15;
        if (!via_housing) {
            int k = 1 + (int)rng_below(&ev, 3);
            for (int i = 0; i < k; i++) {
                int type = rng_below(&ev, 100) < 60 ? INC_CRIME : INC_ASB;
                int role = rng_below(&ev, 2) ? ROLE_SUSPECT : ROLE_OFFENDER;
                police_row(c, h, who, &er, type, role, date_in_window(c, &ev),
                           rng_range(&ev, 0, 1439), ++c->incident_count);
            }
            if (h->p[who].age <= 17 && rng_below(&ev, 100) < 70)
                yos_row(c, h, who, &er, (int)rng_below(&ev, 5), date_in_window(c, &ev));
        }
        if (h->social && (via_housing || rng_below(&ev, 100) < 35))
            housing_row(c, h, 0, &er, (int)rng_below(&ev, 4), date_in_window(c, &ev));
    } else {
        /* background: old offending, or a non-counting role */
        if (over10 && rng_chance(&ev, 30000)) {
            int who = pick_member(&ev, h, 12, 70, 'M');
            if (who >= 0)
                police_row(c, h, who, &er, rng_below(&ev, 2) ? INC_CRIME : INC_ASB, ROLE_OFFENDER,
                           date_before_window(c, &ev), rng_range(&ev, 0, 1439),
                           ++c->incident_count);
        }
        if (teen && rng_chance(&ev, 10000)) {
            int who = pick_member(&ev, h, 10, 17, 0);
            if (who >= 0)
                yos_row(c, h, who, &er, 0, date_before_window(c, &ev));
        }
        if (h->social && rng_chance(&ev, 20000))
            housing_row(c, h, 0, &er, 0, date_before_window(c, &ev));
    }
    if (rng_chance(&ev, 40000)) { /* victims of crime do not count towards crime_asb */
        int who = pick_member(&ev, h, 12, 95, 0);
        if (who >= 0)
            police_row(c, h, who, &er, INC_CRIME, ROLE_VICTIM, date_in_window(c, &ev),
                       rng_range(&ev, 0, 1439), ++c->incident_count);
    }
    if (f_da || (adult && h->n > 1 && rng_chance(&ev, 8000))) {
        int victim = pick_member(&ev, h, 18, 90, 'F');
        if (victim >= 0) {
            int suspect = partner_of(h, victim);
            int k = f_da ? 1 + (int)rng_below(&ev, 2) : 1;
            for (int i = 0; i < k; i++) {
                int32_t day = f_da ? date_in_window(c, &ev) : date_before_window(c, &ev);
                int minute = rng_range(&ev, 0, 1439);
                uint64_t inc = ++c->incident_count;
                police_row(c, h, victim, &er, INC_DA, ROLE_VICTIM, day, minute, inc);
                if (suspect >= 0 && rng_below(&ev, 100) < 80)
                    police_row(c, h, suspect, &er, INC_DA, ROLE_SUSPECT, day, minute, inc);
            }
        }
    }

    /* --- DWP --- */
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        if (p->age < 16 || !p->nino[0])
            continue;
        bool claimant = f_work && p->age <= 66 && (i == 0 || rng_below(&ev, 100) < 35);
        if (claimant) {
            static const uint32_t bw[] = {60, 8, 20, 12};
            int b = (int)rng_weighted(&ev, bw, 4);
            int32_t start = c->A - rng_range(&ev, 30, 2000);
            bool open = rng_below(&ev, 100) < 70;
            int32_t end = open ? 0 : rng_range(&ev, c->win_lo > start ? c->win_lo : start, c->A);
            dwp_row(c, h, i, &er, &ev, b, start, end, open);
        } else if (p->age <= 66 && rng_chance(&ev, 60000)) {
            int32_t start = c->A - rng_range(&ev, 30, 1500);
            dwp_row(c, h, i, &er, &ev, BEN_UC_WORKING, start, 0, true);
        } else if (p->age <= 70 && rng_chance(&ev, 30000)) {
            int32_t end = date_before_window(c, &ev);
            int32_t start = end - rng_range(&ev, 30, 900);
            dwp_row(c, h, i, &er, &ev, (int)rng_below(&ev, 4), start, end, false);
        }
    }

    /* --- education --- */
    bool school_hit = false;
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        if (p->age < 5 || p->age > 16)
            continue;
        bool poor = f_school && (!school_hit || rng_below(&ev, 100) < 50);
        school_hit |= poor;
        education_rows(c, h, i, &er, &ev, poor);
    }

    /* --- children's social care --- */
    bool past_plan = !f_cin && kids && rng_chance(&ev, 20000);
    if (f_cin || past_plan) {
        uint64_t family = ++c->family_count;
        bool any = false;
        int32_t first_start = 0;
        for (int i = 0; i < h->n; i++) {
            const person *p = &h->p[i];
            if (p->age >= 18 || (any && rng_below(&ev, 100) < 30))
                continue;
            bool cp = rng_below(&ev, 100) < 30;
            int32_t start, end = 0;
            bool open;
            if (f_cin) {
                start = c->A - rng_range(&ev, 10, 700);
                open = rng_below(&ev, 100) < 60;
                if (!open)
                    end = rng_range(&ev, start > c->win_lo ? start : c->win_lo, c->A);
            } else {
                end = date_before_window(c, &ev);
                start = end - rng_range(&ev, 60, 500);
                open = false;
            }
            if (!any)
                first_start = start;
            any = true;
            sc_row(c, h, i, &er, cp ? "CP" : "CIN", start, end, open, family);
        }
        if (any && rng_below(&ev, 100) < 60)
            for (int i = 0; i < h->n; i++)
                if (h->p[i].role == R_HEAD || h->p[i].role == R_PARTNER)
                    sc_row(c, h, i, &er, "PARENT", first_start, 0, true, family);
    }

    /* --- health (drug and alcohol treatment) --- */
    if (f_health) {
        int who = pick_member(&ev, h, 18, 75, 0);
        if (who >= 0)
            health_row(c, h, who, &er, rng_below(&ev, 2), date_in_window(c, &ev));
    } else if (adult && rng_chance(&ev, 15000)) {
        int who = pick_member(&ev, h, 18, 80, 0);
        if (who >= 0)
            health_row(c, h, who, &er, rng_below(&ev, 2), date_before_window(c, &ev));
    }
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
    for (int i = 0; i < h->n; i++) {
        const person *p = &h->p[i];
        char dob[11];
        int y, m, d;
        date_to_ymd(p->dob, &y, &m, &d);
        snprintf(dob, sizeof dob, "%04d-%02d-%02d", y, m, d);
        fprintf(c->people, "%llu,%llu,", (unsigned long long)p->id, (unsigned long long)h->id);
        csv_str(c->people, p->fore, false);
        csv_str(c->people, p->sur, false);
        fprintf(c->people, "%c,%s,%d,%s,%s,%s,%s,%llu,", p->sex, dob, p->age, role_names[p->role],
                p->nhs, p->upn, p->nino, (unsigned long long)h->uprn);
        csv_str(c->people, h->addr, false);
        csv_str(c->people, h->postcode, false);
        csv_str(c->people, synth_locality_names[h->locality], false);
        csv_str(c->people, p->prev_sur, false);
        csv_str(c->people, h->prev_addr, false);
        csv_str(c->people, h->prev_postcode, true);
    }
    fprintf(c->households, "%llu,%s,%d,%llu,", (unsigned long long)h->id, type_names[h->type], h->n,
            (unsigned long long)h->uprn);
    csv_str(c->households, h->addr, false);
    fprintf(c->households, "%s,FW%d,", h->postcode, h->district + 1);
    csv_str(c->households, synth_locality_names[h->locality], false);
    fprintf(c->households, "%d,%d", h->social ? 1 : 0, h->tier);
    for (int b = 0; b < PB_COUNT; b++)
        fprintf(c->households, ",%d", (h->problems >> b) & 1u ? 1 : 0);

    const int *sets[2] = {phase1, phase2};
    size_t sizes[2] = {3, 6};
    FILE *files[2] = {c->elig1, c->elig2};
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
    fprintf(c->households, ",%d,%d\n", met_phase[0], met_phase[1]);
    c->n_elig1 += (uint64_t)met_phase[0];
    c->n_elig2 += (uint64_t)met_phase[1];
    for (int b = 0; b < PB_COUNT; b++)
        c->problem_hh[b] += (h->problems >> b) & 1u;
    c->any_problem += h->problems != 0;
    c->type_count[h->type]++;
}

/* ---------------------------------------------------------------------------------- */
/* Files                                                                              */

static const char *const truth_files[] = {
    "people.csv", "households.csv", "eligible_phase1.csv", "eligible_phase2.csv",
    "rows.csv",   "localities.csv", "summary.txt"};
#define N_TRUTH (sizeof truth_files / sizeof truth_files[0])

static const char *const headers[AG_COUNT] = {
    "Police Ref,Surname,Forename,Date of Birth,Address Line 1,Postcode,Incident Type,Role,"
    "Incident Date,Consent,Consent Date,Legal Basis,Incident Ref",
    "Pupil Ref,UPN,Legal Forename,Legal Surname,DOB,Address1,Postcode,Term Start,Term End,"
    "Sessions Possible,Sessions Attended,Unauthorised Absence Sessions,Fixed Term Exclusions,"
    "Permanent Exclusion,Consent,Consent Date,Legal Basis",
    "CLAIM_REF,NINO,FORENAME,SURNAME,DOB,ADDRESS_LINE_1,POSTCODE,BENEFIT_TYPE,CLAIM_START,"
    "CLAIM_END,CONSENT,CONSENT_DATE,LEGAL_BASIS",
    "Case Ref,NHS Number,First Name,Last Name,Date of Birth,Address,Postcode,Plan Type,"
    "Plan Start,Plan End,Family Ref,Consent,Consent Date,Legal Basis",
    "YOT Ref,Forename,Surname,DOB,Postcode,Outcome Type,Outcome Date,Consent,Consent Date,"
    "Legal Basis",
    "Tenancy Ref,UPRN,Tenant Forename,Tenant Surname,Tenant DOB,Address Line 1,Postcode,Action,"
    "Action Date,Consent,Consent Date,Legal Basis",
    "Episode ID,NHS No,Forename,Surname,DOB,Postcode,Treatment,Referral Date,Consent,"
    "Consent Date,Legal Basis",
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

static FILE *open_tmp(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return NULL;
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

static void compute_terms(ctx *c)
{
    /* Walk back from the as-of date over term ends (31 Jul, 31 Mar, 31 Dec), collecting
     * the last three terms that had ended by then. */
    int y, m, d;
    date_to_ymd(c->A, &y, &m, &d);
    term found[3];
    int n = 0;
    for (int yy = y; yy >= y - 2 && n < 3; yy--) {
        term cand[3] = {
            {date_from_ymd(yy, 9, 1), date_from_ymd(yy, 12, 31), 146},
            {date_from_ymd(yy, 4, 1), date_from_ymd(yy, 7, 31), 124},
            {date_from_ymd(yy, 1, 1), date_from_ymd(yy, 3, 31), 118},
        };
        for (int i = 0; i < 3 && n < 3; i++)
            if (cand[i].end <= c->A)
                found[n++] = cand[i];
    }
    for (int i = 0; i < 3; i++)
        c->terms[i] = found[2 - i]; /* chronological */
}

static void write_summary(ctx *c, FILE *f)
{
    fprintf(f, "xchg-synth summary\n");
    fprintf(f, "seed: %llu\n", (unsigned long long)c->o->seed);
    char b[16];
    fmt_date(b, sizeof b, AG_EDUCATION, c->A, 0);
    fprintf(f, "as_of: %s\n", b);
    fmt_date(b, sizeof b, AG_EDUCATION, c->win_lo, 0);
    fprintf(f, "window_start: %s\n", b);
    fprintf(f, "error_rate_ppm: %u\n", c->o->error_ppm);
    fprintf(f, "households: %llu\n", (unsigned long long)c->n_households);
    fprintf(f, "people: %llu\n", (unsigned long long)c->n_people);
    uint64_t total = 0;
    for (int a = 0; a < AG_COUNT; a++) {
        fprintf(f, "rows.%s: %llu\n", synth_agency_files[a], (unsigned long long)c->w[a].rows);
        total += c->w[a].rows;
    }
    fprintf(f, "rows.total: %llu\n", (unsigned long long)total);
    for (int t = 0; t < T_COUNT; t++)
        fprintf(f, "household_type.%s: %llu\n", type_names[t],
                (unsigned long long)c->type_count[t]);
    for (int p = 0; p < PB_COUNT; p++)
        fprintf(f, "problem.%s: %llu\n", synth_problem_names[p],
                (unsigned long long)c->problem_hh[p]);
    fprintf(f, "households_with_any_problem: %llu\n", (unsigned long long)c->any_problem);
    fprintf(f, "eligible.phase1: %llu\n", (unsigned long long)c->n_elig1);
    fprintf(f, "eligible.phase2: %llu\n", (unsigned long long)c->n_elig2);
    fprintf(f, "rows_with_error: %llu\n", (unsigned long long)c->rows_with_error);
    for (int e = 0; e < ERR_COUNT; e++)
        fprintf(f, "error.%s: %llu\n", synth_err_names[e], (unsigned long long)c->err_count[e]);
    for (int s = 0; s < CS_COUNT; s++)
        fprintf(f, "consent.%s: %llu\n", consent_values[s],
                (unsigned long long)c->consent_count[s]);
    fprintf(f, "legal_basis.safeguarding: %llu\n", (unsigned long long)c->safeguarding_rows);
}

int synth_run(const synth_opts *o)
{
    int rc = 3;
    ctx *c = calloc(1, sizeof *c);
    household *h = calloc(1, sizeof *h);
    char tmp[4096], tmp_truth[4096], truth[4096];
    FILE *summary = NULL, *loc = NULL;
    bool made_tmp = false;
    if (!c || !h) {
        fprintf(stderr, "xchg-synth: error: out of memory\n");
        goto cleanup;
    }
    c->o = o;
    c->A = o->as_of;
    c->win_lo = o->as_of - 364;
    compute_terms(c);
    if (snprintf(tmp, sizeof tmp, "%s/.tmp", o->out) >= (int)sizeof tmp ||
        snprintf(tmp_truth, sizeof tmp_truth, "%s/.tmp/truth", o->out) >= (int)sizeof tmp ||
        snprintf(truth, sizeof truth, "%s/truth", o->out) >= (int)sizeof truth) {
        fprintf(stderr, "xchg-synth: error: output path too long\n");
        rc = 2;
        goto cleanup;
    }
    if (mkdir_if_needed(o->out) || mkdir_if_needed(tmp) || mkdir_if_needed(tmp_truth))
        goto cleanup;
    made_tmp = true;

    c->people = open_tmp(tmp_truth, "people.csv");
    c->households = open_tmp(tmp_truth, "households.csv");
    c->elig1 = open_tmp(tmp_truth, "eligible_phase1.csv");
    c->elig2 = open_tmp(tmp_truth, "eligible_phase2.csv");
    c->rows = open_tmp(tmp_truth, "rows.csv");
    if (!c->people || !c->households || !c->elig1 || !c->elig2 || !c->rows)
        goto cleanup;
    fputs("person_id,household_id,forename,surname,sex,dob,age,role,nhs,upn,nino,uprn,"
          "address_line_1,postcode,locality,previous_surname,previous_address_line_1,"
          "previous_postcode\n",
          c->people);
    fputs("household_id,type,size,uprn,address_line_1,postcode,district,locality,social_tenant,"
          "risk_tier",
          c->households);
    for (int b = 0; b < PB_COUNT; b++)
        fprintf(c->households, ",%s", synth_problem_names[b]);
    fputs(",phase1,phase2\n", c->households);
    fputs("household_id,problem_count,problems\n", c->elig1);
    fputs("household_id,problem_count,problems\n", c->elig2);
    fputs("file,record_ref,person_id,household_id,errors\n", c->rows);

    for (int a = 0; a < AG_COUNT; a++) {
        synth_writer *w = &c->w[a];
        w->file = synth_agency_files[a];
        w->ref_prefix = ref_prefix[a];
        w->ref_width = ref_width[a];
        w->crlf = crlf[a];
        w->truth_rows = c->rows;
        w->cap = 512;
        w->slots = calloc(w->cap, sizeof *w->slots);
        rng_init(&w->shuffle, o->seed, (uint64_t)a, STREAM_SHUFFLE);
        w->f = open_tmp(tmp, synth_agency_files[a]);
        if (!w->slots || !w->f)
            goto cleanup;
        if (a == AG_EDUCATION)
            fputs("\xEF\xBB\xBF", w->f); /* UTF-8 byte order mark */
        fputs(headers[a], w->f);
        fputs(w->crlf ? "\r\n" : "\n", w->f);
    }

    for (uint64_t i = 0;; i++) {
        if (o->households ? i >= o->households : c->n_people >= o->people)
            break;
        gen_household(c, h, i);
        gen_events(c, h, i);
        write_truth(c, h);
        c->n_households++;
        c->n_people += (uint64_t)h->n;
    }
    for (int a = 0; a < AG_COUNT; a++) {
        writer_drain(&c->w[a]);
        if (c->w[a].overflow) {
            fprintf(stderr, "xchg-synth: error: internal: a %s row was too long\n",
                    synth_agency_files[a]);
            goto cleanup;
        }
    }

    loc = open_tmp(tmp_truth, "localities.csv");
    summary = open_tmp(tmp_truth, "summary.txt");
    if (!loc || !summary)
        goto cleanup;
    fputs("district,locality\n", loc);
    for (int d = 0; d < SYNTH_DISTRICTS; d++)
        fprintf(loc, "FW%d,%s\n", d + 1, synth_locality_names[d / SYNTH_DISTRICTS_PER_LOCALITY]);
    write_summary(c, summary);

    bool bad = false;
    for (int a = 0; a < AG_COUNT; a++)
        bad |= close_file(&c->w[a].f, synth_agency_files[a]) != 0;
    bad |= close_file(&c->people, "people.csv") != 0;
    bad |= close_file(&c->households, "households.csv") != 0;
    bad |= close_file(&c->elig1, "eligible_phase1.csv") != 0;
    bad |= close_file(&c->elig2, "eligible_phase2.csv") != 0;
    bad |= close_file(&c->rows, "rows.csv") != 0;
    bad |= close_file(&loc, "localities.csv") != 0;
    bad |= close_file(&summary, "summary.txt") != 0;
    if (bad)
        goto cleanup;

    /* Publish: every file is complete before any is renamed into place. */
    if (mkdir_if_needed(truth))
        goto cleanup;
    for (int a = 0; a < AG_COUNT; a++) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%s", tmp, synth_agency_files[a]);
        snprintf(to, sizeof to, "%s/%s", o->out, synth_agency_files[a]);
        if (rename(from, to) != 0) {
            fprintf(stderr, "xchg-synth: error: cannot rename %s: %s\n", from, strerror(errno));
            goto cleanup;
        }
    }
    for (size_t i = 0; i < N_TRUTH; i++) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%s", tmp_truth, truth_files[i]);
        snprintf(to, sizeof to, "%s/%s", truth, truth_files[i]);
        if (rename(from, to) != 0) {
            fprintf(stderr, "xchg-synth: error: cannot rename %s: %s\n", from, strerror(errno));
            goto cleanup;
        }
    }
    if (!o->quiet)
        fprintf(stderr, "xchg-synth: %llu households, %llu people written to %s\n",
                (unsigned long long)c->n_households, (unsigned long long)c->n_people, o->out);
    rc = 0;

cleanup:
    if (c) {
        for (int a = 0; a < AG_COUNT; a++) {
            if (c->w[a].f)
                fclose(c->w[a].f);
            free(c->w[a].slots);
        }
        FILE *fs[] = {c->people, c->households, c->elig1, c->elig2, c->rows, loc, summary};
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
            if (fs[i])
                fclose(fs[i]);
    }
    if (made_tmp) { /* remove whatever is left of the temporary tree */
        char p[4200];
        for (int a = 0; a < AG_COUNT; a++) {
            snprintf(p, sizeof p, "%s/%s", tmp, synth_agency_files[a]);
            unlink(p);
        }
        for (size_t i = 0; i < N_TRUTH; i++) {
            snprintf(p, sizeof p, "%s/%s", tmp_truth, truth_files[i]);
            unlink(p);
        }
        rmdir(tmp_truth);
        rmdir(tmp);
    }
    free(h);
    free(c);
    return rc;
}
