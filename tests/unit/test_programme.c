/*
 * The programme's criteria (docs/programme.md "Semantics"), on the shipped agreements
 * themselves (policies/phase1.yaml, phase2.yaml, derby-phase1.yaml, keys bound
 * deterministically) and families built by hand: every threshold and period at its edge
 * (89.9 % vs 90 %, 2 vs 3 exclusions, 2 vs 3 terms in the calendar, the first and last day
 * of a window and the day outside, a DA report with and without a child, a reduction at
 * exactly 60 % and just short, adjacent employment spans vs a one-day gap), the scopes, the
 * baseline conditions, too early, the rule expression and both claim rules. Also the
 * agency side: the age on the evidence date through the sealing path (a 17- vs an
 * 18-year-old offender).
 */
#include "test_helpers.h"

#include "programme.h"
#include "costs.h"
#include "programme_track.h"
#include "exchange/evidence.h"

#include <jansson.h>

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <math.h>

static xchg_agreement *load_shipped(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, XCHG_SOURCE_DIR "/policies/%s.yaml", name);
    char *text = slurp(path, &len);
    char dirname[96];
    snprintf(dirname, sizeof dirname, "prog-keys-%s", name);
    const char *dir = tpath(dirname);
    mkdir(dir, 0700);
    int n = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "  - id: ", 8) != 0)
            continue;
        char id[65], kp[700];
        size_t k = strcspn(l + 8, " \n");
        assert_true(k < sizeof id);
        memcpy(id, l + 8, k);
        id[k] = '\0';
        snprintf(kp, sizeof kp, "%s/%s.pub", dir, id);
        xchg_seckey *key = seed_key(40 + n++); /* party i of the file: seed 40 + i */
        assert_int_equal(xchg_pubkey_save(xchg_seckey_public(key), kp, 1, NULL), XCHG_OK);
        xchg_seckey_free(key);
    }
    char *bound = NULL;
    size_t blen = 0, nb = 0;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_policy_bind_keys(text, len, path, dir, 0, &bound, &blen, &nb, d), XCHG_OK);
    xchg_agreement *p = NULL;
    if (t_agreement_parse(bound, blen, path, &p, d) != XCHG_OK) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  %s\n", xchg_diag_text(d, i));
        fail_msg("%s with keys bound does not parse", path);
    }
    if (xchg_agreement_get(p)->release_key.pending) {
        /* the shipped agreements require a release key: deal it as the IG lead would
           (docs/release.md section 4), since an undealt one cannot be sealed under */
        char *section = NULL, *dealt = NULL;
        size_t dlen = 0;
        assert_int_equal(xchg_release_key_deal(xchg_agreement_policy(p), dir, 1, &section, d),
                         XCHG_OK);
        assert_int_equal(xchg_release_key_apply(bound, blen, section, &dealt, &dlen), XCHG_OK);
        xchg_agreement_free(p);
        p = NULL;
        assert_int_equal(t_agreement_parse(dealt, dlen, path, &p, d), XCHG_OK);
        assert_true(xchg_agreement_get(p)->release_key.present);
        free(section);
        free(dealt);
    }
    xchg_diag_free(d);
    free(bound);
    free(text);
    return p;
}

static xchg_agreement *phase1, *phase2, *derby;

static int setup(void **state)
{
    (void)state;
    phase1 = load_shipped("phase1");
    phase2 = load_shipped("phase2");
    derby = load_shipped("derby-phase1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_agreement_free(phase1);
    xchg_agreement_free(phase2);
    xchg_agreement_free(derby);
    return 0;
}

static int32_t day(const char *s)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(s, strlen(s), &d), XCHG_OK);
    return d;
}

static uint8_t M(const xchg_agreement *p, const char *name)
{
    const xchg_policy_data *pd = xchg_agreement_get(p);
    for (size_t i = 0; i < pd->nmeasures; i++)
        if (strcmp(pd->measures[i].name, name) == 0)
            return (uint8_t)i;
    fail_msg("no measure %s", name);
    return 0;
}

static size_t P(const xchg_agreement *p, const char *code)
{
    const xchg_policy_data *pd = xchg_agreement_get(p);
    for (size_t i = 0; i < pd->nproblems; i++)
        if (strcmp(pd->problems[i].code, code) == 0)
            return i;
    fail_msg("no problem %s", code);
    return 0;
}

/* Bit of the criterion with this id among the problem's identify (or outcome) list. */
static uint32_t BIT(const xchg_agreement *p, const char *code, const char *id, int outcome)
{
    const xchg_problem *pb = &xchg_agreement_get(p)->problems[P(p, code)];
    const xchg_criterion *c = outcome ? pb->outcome : pb->identify;
    size_t n = outcome ? pb->noutcome : pb->nidentify;
    for (size_t i = 0; i < n; i++)
        if (c[i].id && strcmp(c[i].id, id) == 0)
            return 1u << i;
    fail_msg("no criterion %s in %s", id, code);
    return 0;
}

/* A family built by hand. */
typedef struct fam {
    uint8_t age[8];
    size_t nmembers;
    xchg_prog_ev ev[64];
    size_t nev;
} fam;

static void members(fam *f, size_t n, const int *ages)
{
    memset(f, 0, sizeof *f);
    f->nmembers = n;
    for (size_t i = 0; i < n; i++)
        f->age[i] = ages[i] < 0 ? XCHG_AGE_UNKNOWN : (uint8_t)ages[i];
}

static void span(fam *f, uint32_t member, uint8_t measure, int32_t start, int32_t end,
                 double value, double of)
{
    assert_true(f->nev < 64);
    f->ev[f->nev++] = (xchg_prog_ev){.member = member, .rec = (uint32_t)f->nev,
                                     .measure = measure, .start = start, .end = end,
                                     .value = value, .of = of};
}

static void event(fam *f, uint32_t member, uint8_t measure, int32_t date, double value, double of)
{
    span(f, member, measure, date, date, value, of);
}

static xchg_prog_family view(const fam *f)
{
    return (xchg_prog_family){.nmembers = f->nmembers, .age = f->age, .ev = f->ev, .nev = f->nev};
}

/* identify criteria of the problem holding on t (bits) */
static uint32_t crit(const xchg_agreement *p, const fam *f, const char *code, int32_t t)
{
    xchg_prog_family v = view(f);
    uint32_t bits = 0xdead;
    int h = xchg__prog_problem(xchg_agreement_get(p), &v, P(p, code), t, &bits);
    assert_int_equal(h, bits != 0);
    return bits;
}

static xchg_outcome_status outcome(const xchg_agreement *p, const fam *f, const char *code,
                                   int32_t identified, int32_t t, uint32_t *met)
{
    xchg_prog_family v = view(f);
    double b, l;
    return xchg__prog_outcome(xchg_agreement_get(p), &v, P(p, code), identified, t, &b, &l, met);
}

/* Three pupils' terms of phase 2's calendar: autumn-2025, spring-2026, summer-2026. */
static const char *const T3[3] = {"2025-12-31", "2026-03-31", "2026-07-31"};

static void attendance(fam *f, uint32_t m, const double att[3], const double poss[3])
{
    for (int i = 0; i < 3; i++)
        event(f, m, M(phase2, "attendance"), day(T3[i]), att[i], poss[i]);
}

/* P2-EDU-1 "below 90 %": 89.9 % holds, 90 % exactly does not; P2-EDU-O1 "at least 90 %"
 * is met at 90 % and not at 89.9 % (per pupil over the three terms together). */
static void test_attendance_90(void **state)
{
    (void)state;
    const int ages[] = {40, 12};
    const double poss[3] = {334, 333, 333};
    const double a899[3] = {300, 300, 299}, a900[3] = {300, 300, 300};
    int32_t T = day("2026-08-31"), I = day("2025-08-31");
    uint32_t edu1 = BIT(phase2, "school_attendance", "P2-EDU-1", 0);
    uint32_t o1 = BIT(phase2, "school_attendance", "P2-EDU-O1", 1);
    fam f;
    uint32_t met;

    members(&f, 2, ages);
    attendance(&f, 1, a899, poss);
    assert_int_equal(crit(phase2, &f, "school_attendance", T), edu1);
    outcome(phase2, &f, "school_attendance", I, T, &met);
    assert_int_equal(met & o1, 0);

    members(&f, 2, ages);
    attendance(&f, 1, a900, poss);
    assert_int_equal(crit(phase2, &f, "school_attendance", T), 0);
    /* one exclusion (fewer than 3): P2-EDU-O2 met too, so the outcome is met */
    event(&f, 1, M(phase2, "fixed_exclusions"), day(T3[1]), 1, 0);
    assert_int_equal(outcome(phase2, &f, "school_attendance", I, T, &met), XCHG_OUTCOME_MET);
    assert_true(met & o1);

    /* 89.9 % with the same exclusion: not met */
    members(&f, 2, ages);
    attendance(&f, 1, a899, poss);
    event(&f, 1, M(phase2, "fixed_exclusions"), day(T3[1]), 1, 0);
    assert_int_equal(outcome(phase2, &f, "school_attendance", I, T, &met), XCHG_OUTCOME_NOT_MET);

    /* phase 1's 15 % unauthorised absence: 150 of 1000 holds, 149 does not */
    uint32_t edu5 = BIT(phase1, "school_attendance", "P1-EDU-5", 0);
    members(&f, 2, ages);
    event(&f, 1, M(phase1, "unauthorised"), day(T3[0]), 50, 334);
    event(&f, 1, M(phase1, "unauthorised"), day(T3[1]), 50, 333);
    event(&f, 1, M(phase1, "unauthorised"), day(T3[2]), 50, 333);
    assert_int_equal(crit(phase1, &f, "school_attendance", T), edu5);
    f.ev[2].value = 49;
    assert_int_equal(crit(phase1, &f, "school_attendance", T), 0);
}

/* P2-EDU-2: 3 fixed-term exclusions over the last 3 terms hold, 2 do not; one in the term
 * before the window does not count. */
static void test_fixed_exclusions_2_vs_3(void **state)
{
    (void)state;
    const int ages[] = {11};
    int32_t T = day("2026-08-31");
    uint8_t fx = M(phase2, "fixed_exclusions");
    uint32_t edu2 = BIT(phase2, "school_attendance", "P2-EDU-2", 0);
    fam f;
    members(&f, 1, ages);
    event(&f, 0, fx, day(T3[0]), 1, 0);
    event(&f, 0, fx, day(T3[2]), 1, 0);
    event(&f, 0, fx, day("2025-07-31"), 1, 0); /* summer-2025: outside */
    assert_int_equal(crit(phase2, &f, "school_attendance", T), 0);
    event(&f, 0, fx, day(T3[1]), 1, 0);
    assert_int_equal(crit(phase2, &f, "school_attendance", T), edu2);
    /* the same in phase 1 (P1-EDU-2; measure indexes are the agreement's own) */
    for (size_t i = 0; i < f.nev; i++)
        f.ev[i].measure = M(phase1, "fixed_exclusions");
    assert_int_equal(crit(phase1, &f, "school_attendance", T),
                     BIT(phase1, "school_attendance", "P1-EDU-2", 0));
    /* 3 in one child and none in another are not "3 across" two children: person scope */
    const int two[] = {11, 9};
    members(&f, 2, two);
    event(&f, 0, fx, day(T3[0]), 2, 0);
    event(&f, 1, fx, day(T3[1]), 1, 0);
    assert_int_equal(crit(phase2, &f, "school_attendance", T), 0);
}

/* "3 consecutive terms" needs 3 terms of the calendar ending on or before the run date:
 * on 2024-04-30 phase 2's calendar has only autumn-2023 and spring-2024 behind it. */
static void test_terms_2_vs_3_available(void **state)
{
    (void)state;
    const int ages[] = {13};
    uint8_t fx = M(phase2, "fixed_exclusions");
    uint32_t edu2 = BIT(phase2, "school_attendance", "P2-EDU-2", 0);
    fam f;
    members(&f, 1, ages);
    event(&f, 0, fx, day("2023-12-31"), 2, 0);
    event(&f, 0, fx, day("2024-03-31"), 3, 0);
    assert_int_equal(crit(phase2, &f, "school_attendance", day("2024-04-30")), 0);
    assert_int_equal(crit(phase2, &f, "school_attendance", day("2024-07-30")), 0);
    /* summer-2024 ends 2024-07-31: three terms from then on */
    assert_int_equal(crit(phase2, &f, "school_attendance", day("2024-07-31")), edu2);
    assert_int_equal(crit(phase2, &f, "school_attendance", day("2024-08-31")), edu2);
}

/* days: 365 on T is (T - 365, T]: the first day T - 364 and the last day T count, T - 365
 * and T + 1 do not; a span counts when it overlaps. */
static void test_days_window_edges(void **state)
{
    (void)state;
    const int ages[] = {30};
    int32_t T = day("2026-10-31");
    uint8_t asb = M(phase2, "asb_incident"), oow = M(phase2, "out_of_work_benefit");
    uint32_t c1 = BIT(phase2, "crime_asb", "P2-CRIME-1", 0);
    uint32_t w1 = BIT(phase2, "worklessness", "P2-WORK-1", 0);
    const int32_t in[] = {T, T - 364}, out[] = {T - 365, T + 1};
    fam f;
    for (int i = 0; i < 2; i++) {
        members(&f, 1, ages);
        event(&f, 0, asb, in[i], 1, 0);
        assert_int_equal(crit(phase2, &f, "crime_asb", T), c1);
        members(&f, 1, ages);
        event(&f, 0, asb, out[i], 1, 0);
        assert_int_equal(crit(phase2, &f, "crime_asb", T), 0);
    }
    /* spans: ending on the first day of the window / the day before; starting on the last
     * day / the day after; open */
    members(&f, 1, ages);
    span(&f, 0, oow, T - 800, T - 364, 1, 0);
    assert_int_equal(crit(phase2, &f, "worklessness", T), w1);
    members(&f, 1, ages);
    span(&f, 0, oow, T - 800, T - 365, 1, 0);
    assert_int_equal(crit(phase2, &f, "worklessness", T), 0);
    members(&f, 1, ages);
    span(&f, 0, oow, T, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(crit(phase2, &f, "worklessness", T), w1);
    members(&f, 1, ages);
    span(&f, 0, oow, T + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(crit(phase2, &f, "worklessness", T), 0);
    members(&f, 1, ages);
    span(&f, 0, oow, T - 2000, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(crit(phase2, &f, "worklessness", T), w1);
}

/* P2-DA-1: a police DA report recording a child present counts, at any member's age (the
 * police know who lives there; the matcher may know of no child); one without does not.
 * Derby's local criterion is the family condition: a member under 18 (age unknown is not a
 * child). */
static void test_da_child_in_family(void **state)
{
    (void)state;
    int32_t T = day("2026-10-31");
    uint8_t da = M(phase2, "da_report"), dac = M(phase2, "da_report_child");
    uint32_t da1 = BIT(phase2, "domestic_abuse", "P2-DA-1", 0);
    const int adult[] = {35, 0};
    fam f;
    members(&f, 1, adult);
    event(&f, 0, da, T - 10, 1, 0);
    assert_int_equal(crit(phase2, &f, "domestic_abuse", T), 0);
    members(&f, 1, adult);
    event(&f, 0, da, T - 10, 1, 0);
    event(&f, 0, dac, T - 10, 1, 0);
    assert_int_equal(crit(phase2, &f, "domestic_abuse", T), da1);
    const struct {
        size_t n;
        int ages[2];
        uint32_t want;
    } cases[] = {{1, {35, 0}, 0}, {2, {35, 17}, 1}, {2, {35, 18}, 0}, {2, {35, -1}, 0},
                 {2, {35, 0}, 1}};
    uint32_t local = BIT(derby, "local", "LOCAL-DA-1", 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        members(&f, cases[i].n, cases[i].ages);
        event(&f, 0, M(derby, "da_report"), T - 10, 1, 0);
        assert_int_equal(crit(derby, &f, "local", T), cases[i].want ? local : 0);
    }
    /* a child of 4 known to the matcher */
    const int ages[] = {35, 4};
    members(&f, 2, ages);
    event(&f, 0, M(derby, "da_report"), T - 10, 1, 0);
    assert_int_equal(crit(derby, &f, "local", T), BIT(derby, "local", "LOCAL-DA-1", 0));
}

/* P2-CRIME-O1 (asb_incident, 60 % fewer over 183 days, family): the baseline is the 183
 * days ending on identification. Baseline 0 needs 0; 10 -> 4 is exactly 60 % fewer (met);
 * 10 -> 5 is short; 5 -> 2 met, 5 -> 3 not. The window reaching back to I: too early. */
static void test_reduction(void **state)
{
    (void)state;
    const int ages[] = {40, 15};
    int32_t I = day("2026-01-15"), T = I + 183;
    uint8_t asb = M(phase2, "asb_incident");
    uint32_t o1 = BIT(phase2, "crime_asb", "P2-CRIME-O1", 1);
    const struct {
        int base, now;
        xchg_outcome_status want;
    } cases[] = {{0, 0, XCHG_OUTCOME_MET},  {0, 1, XCHG_OUTCOME_NOT_MET},
                 {10, 4, XCHG_OUTCOME_MET}, {10, 5, XCHG_OUTCOME_NOT_MET},
                 {5, 2, XCHG_OUTCOME_MET},  {5, 3, XCHG_OUTCOME_NOT_MET}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fam f;
        members(&f, 2, ages);
        /* baseline window [I - 182, I]: both members' events count (family) */
        for (int k = 0; k < cases[i].base; k++)
            event(&f, (uint32_t)(k % 2), asb, k % 2 ? I : I - 182, 1, 0);
        event(&f, 0, asb, I - 183, 1, 0); /* before the baseline window: ignored */
        /* outcome window [I + 1, I + 183] */
        for (int k = 0; k < cases[i].now; k++)
            event(&f, (uint32_t)(k % 2), asb, k % 2 ? I + 1 : T, 1, 0);
        uint32_t met = 0;
        xchg_outcome_status s = outcome(phase2, &f, "crime_asb", I, T, &met);
        if (s != cases[i].want)
            fail_msg("reduction %d -> %d: %s", cases[i].base, cases[i].now,
                     xchg_outcome_status_name(s));
        assert_int_equal((met & o1) != 0, cases[i].want == XCHG_OUTCOME_MET);
        /* a day earlier the 183 days would include the identification date */
        assert_int_equal(outcome(phase2, &f, "crime_asb", I, T - 1, NULL), XCHG_OUTCOME_TOO_EARLY);
    }
}

/* P2-WORK-O2 (employment continuous for 91 days, no JSA at baseline): adjacent spans
 * cover the window, a one-day gap does not; P2-WORK-O1 (182 days) applies only with JSA
 * at baseline, and is too early at 91 days. */
static void test_continuous_and_baseline(void **state)
{
    (void)state;
    const int ages[] = {45};
    int32_t I = day("2026-01-15");
    uint8_t oow = M(phase2, "out_of_work_benefit"), jsa = M(phase2, "jsa"),
            emp = M(phase2, "employment");
    uint32_t o1 = BIT(phase2, "worklessness", "P2-WORK-O1", 1);
    uint32_t o2 = BIT(phase2, "worklessness", "P2-WORK-O2", 1);
    fam f;
    uint32_t met;

    /* ESA claimant (no JSA): two adjacent jobs from the day after identification */
    members(&f, 1, ages);
    span(&f, 0, oow, I - 300, I, 1, 0);
    span(&f, 0, emp, I + 1, I + 40, 1, 0);
    span(&f, 0, emp, I + 41, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_MET);
    assert_int_equal(met, o2);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 90, NULL), XCHG_OUTCOME_TOO_EARLY);
    /* a one-day gap (day I + 41 not covered) */
    f.ev[2].start = I + 42;
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_NOT_MET);
    assert_int_equal(met, 0);
    /* the gap is outside a later window: met again */
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 41 + 91, &met), XCHG_OUTCOME_MET);
    /* overlapping spans also cover */
    f.ev[2].start = I + 10;
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, NULL), XCHG_OUTCOME_MET);

    /* JSA claimant: O2 does not apply (baseline_without jsa); O1 needs 182 days */
    members(&f, 1, ages);
    span(&f, 0, oow, I - 100, I, 1, 0);
    span(&f, 0, jsa, I - 100, I, 1, 0);
    span(&f, 0, emp, I + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_TOO_EARLY);
    assert_int_equal(met, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 181, NULL), XCHG_OUTCOME_TOO_EARLY);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 182, &met), XCHG_OUTCOME_MET);
    assert_int_equal(met, o1);

    /* the baseline window is the criterion's own length ending on I (docs/programme.md):
     * a JSA claim that ended 183 days before I is outside O1's 182 days, so O2 applies */
    members(&f, 1, ages);
    span(&f, 0, oow, I - 300, I, 1, 0);
    span(&f, 0, jsa, I - 300, I - 183, 1, 0);
    span(&f, 0, emp, I + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_MET);
    assert_int_equal(met, o2);

    /* phase 1: P1-WORK-O1 continuous employment for 91 days, each adult in work */
    members(&f, 1, ages);
    span(&f, 0, M(phase1, "out_of_work_benefit"), I - 300, I, 1, 0);
    span(&f, 0, M(phase1, "employment"), I + 1, I + 50, 1, 0);
    span(&f, 0, M(phase1, "employment"), I + 51, I + 91, 1, 0);
    assert_int_equal(outcome(phase1, &f, "worklessness", I, I + 91, NULL), XCHG_OUTCOME_MET);
    assert_int_equal(outcome(phase1, &f, "worklessness", I, I + 92, NULL), XCHG_OUTCOME_NOT_MET);
}

/* moved_from: the work outcomes are about the adult who was on benefits when the family
 * was identified ("has moved off out-of-work benefits into continuous employment"), not
 * any member in work — a member who never claimed (or who joined through a stale address)
 * does not meet them; P2-WORK-O3 applies when a member was NEET in the year to I. */
static void test_moved_from(void **state)
{
    (void)state;
    const int ages[] = {45, 50, 17};
    int32_t I = day("2026-01-15");
    uint8_t oow = M(phase2, "out_of_work_benefit"), emp = M(phase2, "employment"),
            neet = M(phase2, "neet");
    uint32_t o2 = BIT(phase2, "worklessness", "P2-WORK-O2", 1);
    uint32_t o3 = BIT(phase2, "worklessness", "P2-WORK-O3", 1);
    fam f;
    uint32_t met;

    /* member 0 claims ESA; member 1, never a claimant, is in work: not met */
    members(&f, 2, ages);
    span(&f, 0, oow, I - 300, I, 1, 0);
    span(&f, 1, emp, I - 500, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_NOT_MET);
    assert_int_equal(met, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 90, NULL), XCHG_OUTCOME_TOO_EARLY);
    /* the claimant moves into work: met */
    span(&f, 0, emp, I + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_MET);
    assert_int_equal(met, o2);

    /* a claim that ended 200 days before I is in the identification window (365 days): the
     * claimant is still the one who moved */
    members(&f, 1, ages);
    span(&f, 0, oow, I - 300, I - 200, 1, 0);
    span(&f, 0, emp, I + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_MET);
    /* one that ended 366 days before I is not: nobody moved, nothing applies */
    f.ev[0].end = I - 365;
    f.ev[0].start = I - 400;
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_NOT_MET);
    assert_int_equal(met, 0);

    /* P2-WORK-O3: the 17-year-old was NEET 200 days before I, none since: met after 91
     * days; a NEET spell after I: not met; NEET only before the year: does not apply */
    members(&f, 3, ages);
    event(&f, 2, neet, I - 200, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_MET);
    assert_int_equal(met, o3);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 90, NULL), XCHG_OUTCOME_TOO_EARLY);
    event(&f, 2, neet, I + 30, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_NOT_MET);
    members(&f, 3, ages);
    event(&f, 2, neet, I - 400, 1, 0);
    assert_int_equal(outcome(phase2, &f, "worklessness", I, I + 91, &met), XCHG_OUTCOME_NOT_MET);
    assert_int_equal(met, 0);

    /* phase 1 likewise: the partner in work who never claimed does not meet P1-WORK-O1 */
    members(&f, 2, ages);
    span(&f, 0, M(phase1, "out_of_work_benefit"), I - 300, I, 1, 0);
    span(&f, 1, M(phase1, "employment"), I - 10, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase1, &f, "worklessness", I, I + 91, NULL), XCHG_OUTCOME_NOT_MET);
    span(&f, 0, M(phase1, "employment"), I + 1, XCHG_DATE_OPEN, 1, 0);
    assert_int_equal(outcome(phase1, &f, "worklessness", I, I + 91, NULL), XCHG_OUTCOME_MET);
}

/* P2-HEALTH-2 (person scope): the EHC plan and the poor attendance or exclusions must be
 * the same child's. */
static void test_person_scope_same_member(void **state)
{
    (void)state;
    const int ages[] = {38, 12, 9};
    int32_t T = day("2026-08-31");
    uint8_t ehcp = M(phase2, "ehcp_or_carer"), fx = M(phase2, "fixed_exclusions");
    const double poss[3] = {300, 300, 300}, low[3] = {240, 240, 240}, good[3] = {290, 290, 290};
    uint32_t h2 = BIT(phase2, "health", "P2-HEALTH-2", 0);
    fam f;
    /* A has the EHC plan and good attendance, B attends 80 % */
    members(&f, 3, ages);
    event(&f, 1, ehcp, day(T3[1]), 1, 0);
    attendance(&f, 1, good, poss);
    attendance(&f, 2, low, poss);
    assert_int_equal(crit(phase2, &f, "health", T), 0);
    /* ... B also has 4 exclusions: still not A's */
    event(&f, 2, fx, day(T3[0]), 4, 0);
    assert_int_equal(crit(phase2, &f, "health", T), 0);
    /* A attends 80 %: holds */
    members(&f, 3, ages);
    event(&f, 1, ehcp, day(T3[1]), 1, 0);
    attendance(&f, 1, low, poss);
    assert_int_equal(crit(phase2, &f, "health", T), h2);
    /* A: 3 exclusions are not "more than 3", 4 are */
    members(&f, 3, ages);
    event(&f, 1, ehcp, day(T3[1]), 1, 0);
    attendance(&f, 1, good, poss);
    event(&f, 1, fx, day(T3[0]), 3, 0);
    assert_int_equal(crit(phase2, &f, "health", T), 0);
    f.ev[f.nev - 1].value = 4;
    assert_int_equal(crit(phase2, &f, "health", T), h2);
}

/* P2-EDU-O1 (each): every pupil with attendance in the window must reach 90 %; a member
 * without attendance records does not count; nobody with records: not met. */
static void test_each_scope(void **state)
{
    (void)state;
    const int ages[] = {41, 14, 10};
    int32_t T = day("2026-08-31"), I = day("2025-08-31");
    const double poss[3] = {300, 300, 300}, good[3] = {285, 285, 285}, low[3] = {255, 255, 255};
    uint32_t o1 = BIT(phase2, "school_attendance", "P2-EDU-O1", 1);
    fam f;
    uint32_t met;
    members(&f, 3, ages);
    attendance(&f, 1, good, poss);
    attendance(&f, 2, low, poss);
    outcome(phase2, &f, "school_attendance", I, T, &met);
    assert_int_equal(met & o1, 0);
    members(&f, 3, ages);
    attendance(&f, 1, good, poss);
    attendance(&f, 2, good, poss);
    outcome(phase2, &f, "school_attendance", I, T, &met);
    assert_true(met & o1);
    members(&f, 3, ages);
    outcome(phase2, &f, "school_attendance", I, T, &met);
    assert_int_equal(met & o1, 0);
    /* phase 1's 85 % (P1-EDU-O1): 255 of 300 is exactly 85 %, met; one session less not */
    members(&f, 3, ages);
    attendance(&f, 1, good, poss);
    for (int i = 0; i < 3; i++)
        event(&f, 2, M(phase1, "attendance"), day(T3[i]), low[i], poss[i]);
    for (int i = 0; i < 3; i++)
        f.ev[i].measure = M(phase1, "attendance");
    assert_int_equal(outcome(phase1, &f, "school_attendance", I, T, NULL), XCHG_OUTCOME_MET);
    f.ev[5].value -= 1;
    assert_int_equal(outcome(phase1, &f, "school_attendance", I, T, NULL), XCHG_OUTCOME_NOT_MET);
}

/* Too early on terms: the outcome's three terms must all start after identification. */
static void test_too_early_terms(void **state)
{
    (void)state;
    const int ages[] = {41, 14};
    int32_t T = day("2026-08-31");
    const double poss[3] = {300, 300, 300}, good[3] = {285, 285, 285};
    fam f;
    members(&f, 2, ages);
    attendance(&f, 1, good, poss);
    event(&f, 1, M(phase2, "fixed_exclusions"), day(T3[0]), 1, 0);
    /* identified the day before autumn-2025 starts: evaluable */
    assert_int_equal(outcome(phase2, &f, "school_attendance", day("2025-08-31"), T, NULL),
                     XCHG_OUTCOME_MET);
    /* identified on its first day: too early until summer-2026 ... */
    assert_int_equal(outcome(phase2, &f, "school_attendance", day("2025-09-01"), T, NULL),
                     XCHG_OUTCOME_TOO_EARLY);
    /* ... and still on autumn-2026's last day less one */
    assert_int_equal(outcome(phase2, &f, "school_attendance", day("2025-09-01"),
                             day("2026-12-30"), NULL),
                     XCHG_OUTCOME_TOO_EARLY);
    /* not a baseline problem / no identification date: n/a */
    assert_int_equal(outcome(phase2, &f, "school_attendance", XCHG_DATE_NONE, T, NULL),
                     XCHG_OUTCOME_NA);
    /* Derby's local problem has no outcome */
    assert_int_equal(outcome(derby, &f, "local", day("2025-08-31"), T, NULL), XCHG_OUTCOME_NA);
}

/* The rule expression: at_least (phase 2) and Derby's any/all. */
static void test_rule_expression(void **state)
{
    (void)state;
    const xchg_policy_data *d = xchg_agreement_get(derby);
    size_t c = P(derby, "crime_asb"), s = P(derby, "school_attendance"),
           w = P(derby, "worklessness"), l = P(derby, "local");
    const struct {
        int c, s, w, l, want;
    } cases[] = {{1, 1, 1, 0, 1}, {1, 1, 0, 1, 1}, {0, 1, 1, 1, 1}, {1, 0, 1, 1, 1},
                 {1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}, {1, 0, 0, 1, 0}, {0, 0, 0, 1, 0},
                 {0, 0, 0, 0, 0}, {0, 1, 0, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t h[8] = {0};
        h[c] = (uint8_t)cases[i].c;
        h[s] = (uint8_t)cases[i].s;
        h[w] = (uint8_t)cases[i].w;
        h[l] = (uint8_t)cases[i].l;
        if (xchg__prog_eligible(d, h) != cases[i].want)
            fail_msg("derby rule on %d%d%d%d", cases[i].c, cases[i].s, cases[i].w, cases[i].l);
    }
    const xchg_policy_data *p2 = xchg_agreement_get(phase2);
    uint8_t h[8] = {0};
    h[P(phase2, "health")] = 1;
    assert_false(xchg__prog_eligible(p2, h));
    h[P(phase2, "domestic_abuse")] = 1;
    assert_true(xchg__prog_eligible(p2, h));
}

/* Claims: phase 2 all_identified; phase 1 any_of [[crime_asb, school_attendance],
 * [worklessness]] (a group holds when each of its baseline problems is met, and one of
 * it is a baseline problem). */
static void test_claim_rules(void **state)
{
    (void)state;
    const xchg_policy_data *p2 = xchg_agreement_get(phase2), *p1 = xchg_agreement_get(phase1);
    size_t c2 = P(phase2, "crime_asb"), s2 = P(phase2, "school_attendance");
    uint8_t b[8] = {0}, m[8] = {0};
    assert_false(xchg__prog_claimable(p2, b, m)); /* no baseline */
    b[c2] = b[s2] = 1;
    m[c2] = 1;
    assert_false(xchg__prog_claimable(p2, b, m));
    m[s2] = 1;
    assert_true(xchg__prog_claimable(p2, b, m));
    m[P(phase2, "health")] = 1; /* met without being a baseline problem: irrelevant */
    assert_true(xchg__prog_claimable(p2, b, m));

    size_t c = P(phase1, "crime_asb"), s = P(phase1, "school_attendance"),
           w = P(phase1, "worklessness");
    const struct {
        int bc, bs, bw, mc, ms, mw, want;
    } cases[] = {
        {1, 0, 1, 0, 0, 1, 1}, /* work met: group 2 */
        {1, 1, 0, 1, 0, 0, 0}, /* crime met, school not: group 1 fails */
        {1, 1, 0, 1, 1, 0, 1}, /* both met */
        {1, 0, 1, 1, 0, 0, 1}, /* group 1's only baseline problem met */
        {0, 1, 0, 0, 0, 1, 0}, /* work "met" but not a baseline problem: group 2 does not count */
        {0, 1, 1, 1, 0, 0, 0}, /* crime met but not baseline; school not met; work not met */
        {1, 1, 1, 1, 1, 0, 1},
        {1, 1, 1, 0, 1, 1, 1},
        {1, 1, 1, 0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t bb[8] = {0}, mm[8] = {0};
        bb[c] = (uint8_t)cases[i].bc, bb[s] = (uint8_t)cases[i].bs, bb[w] = (uint8_t)cases[i].bw;
        mm[c] = (uint8_t)cases[i].mc, mm[s] = (uint8_t)cases[i].ms, mm[w] = (uint8_t)cases[i].mw;
        if (xchg__prog_claimable(p1, bb, mm) != cases[i].want)
            fail_msg("phase 1 claim case %zu", i);
    }
}

/* ---- agency side: the age on the evidence date, through the sealing path ---------- */

static size_t party_seed(const xchg_agreement *p, const char *id)
{
    size_t i = xchg_policy_party(xchg_agreement_policy(p), id);
    assert_int_not_equal(i, XCHG_NONE);
    return 40 + i; /* load_shipped: party i of the file has seed 40 + i */
}

/* A police CSV of one person born 2008-06-15 with three proven offences: the day before
 * the 18th birthday (a youth_offence), on the birthday and a year on (adult_guilty). A
 * caution at 18 is neither; a DA report is a da_report at any age. */
static void test_age_on_evidence_date(void **state)
{
    (void)state;
    const xchg_agreement *p = phase2;
    const xchg_policy_data *pd = xchg_agreement_get(p);
    const char *csv = tpath("prog-police.csv"), *sec = tpath("prog.xsec"), *out = tpath("prog.xex");
    static const char body[] =
        "Police Ref,Forename,Surname,Date of Birth,Address Line 1,Postcode,Incident Type,Role,"
        "Incident Date,Outcome,Consent,Consent Date,Legal Basis,Child Present\r\n"
        "R1,Sam,Tate,15/06/2008,1 Mill Lane,FW1 2AB,CRIME,OFFENDER,14/06/2026,GUILTY,given,,,\r\n"
        "R2,Sam,Tate,15/06/2008,1 Mill Lane,FW1 2AB,CRIME,OFFENDER,15/06/2026,GUILTY,given,,,\r\n"
        "R3,Sam,Tate,15/06/2008,1 Mill Lane,FW1 2AB,CRIME,SUSPECT,16/06/2026,CAUTION,given,,,\r\n"
        "R4,Sam,Tate,15/06/2008,1 Mill Lane,FW1 2AB,CRIME,OFFENDER,13/06/2026,CAUTION,given,,,\r\n"
        "R5,Sam,Tate,15/06/2008,1 Mill Lane,FW1 2AB,DOMESTIC ABUSE,VICTIM,01/07/2026,,given,,,N\r\n";
    spit(csv, body, sizeof body - 1);
    unlink(sec);
    xchg_seckey *owner = seed_key((int)party_seed(p, "county-ig"));
    xchg_seckey *police = seed_key((int)party_seed(p, "police"));
    xchg_seckey *matcher = seed_key((int)party_seed(p, "matcher"));
    xchg_secret *s = NULL;
    assert_int_equal(xchg_secret_create(p, owner, 1, 0, sec, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(p, police, sec, &s, NULL), XCHG_OK);
    unlink(out);
    xchg_seal_opts o = {.input = csv, .output = out, .period_start = day("2025-11-01"),
                        .period_end = day("2026-10-31"), .strict = 1, .now = 1767225600};
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_seal(p, police, s, &o, &st, d);
    for (size_t i = 0; e != XCHG_OK && i < xchg_diag_count(d); i++)
        print_message("  %s\n", xchg_diag_text(d, i));
    assert_int_equal(e, XCHG_OK);
    assert_int_equal(st.sealed, 5);

    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(out, matcher, &r, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(police), NULL), XCHG_OK);
    const struct {
        const char *ref;
        const char *measure; /* NULL: no measure event */
    } want[] = {{"R1", "youth_offence"}, {"R2", "adult_guilty"}, {"R3", NULL},
                {"R4", "youth_offence"}, {"R5", "da_report"}};
    size_t seen = 0;
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end)
            break;
        uint8_t *buf = malloc(len);
        memcpy(buf, rec, len);
        xchg_record x;
        assert_int_equal(xchg_record_decode(buf, len, &x, NULL), XCHG_OK);
        /* the matcher gets the age on the period end: 18 */
        assert_int_equal(x.age, 18);
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            if (x.ref_len != strlen(want[k].ref) || memcmp(x.ref, want[k].ref, x.ref_len) != 0)
                continue;
            seen++;
            if (!want[k].measure) {
                assert_int_equal(x.nind, 0);
                continue;
            }
            assert_int_equal(x.nind, 1);
            assert_true(x.ind[0].is_measure);
            if (strcmp(pd->measures[x.ind[0].measure].name, want[k].measure) != 0)
                fail_msg("%s: measure %s, expected %s", want[k].ref,
                         pd->measures[x.ind[0].measure].name, want[k].measure);
        }
        free(buf);
    }
    assert_int_equal(seen, 5);
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    xchg_xex_reader_free(r);

    /* A dishonest agency: the police sign records carrying another agency's measure (an
       education attendance event) or a measure the agreement does not have. The matcher's
       reader refuses each, naming why. */
    assert_int_equal(xchg_xex_reader_open(out, matcher, &r, NULL), XCHG_OK);
    size_t hl, rl;
    const uint8_t *h = xchg_xex_reader_header(r, &hl), *r1;
    char *hdr = malloc(hl);
    memcpy(hdr, h, hl);
    int end1 = 0;
    assert_int_equal(xchg_xex_reader_next(r, &r1, &rl, &end1, NULL), XCHG_OK);
    uint8_t *genuine = malloc(rl); /* a real record: its tokens and CLK stay as sealed */
    memcpy(genuine, r1, rl);
    xchg_xex_reader_free(r);
    const struct {
        uint8_t measure;
        const char *msg;
    } forged[] = {{M(p, "attendance"),
                   "it sends measure 'attendance', which this agency's extract does not define"},
                  {200, "an indicator names an unknown measure"}};
    for (size_t k = 0; k < 2; k++) {
        const char *fx = tpath("forged.xex");
        unlink(fx);
        xchg_xex_writer *w = NULL;
        assert_int_equal(
            xchg_xex_writer_new(
                fx, 1, &pd->parties[xchg_policy_party(xchg_agreement_policy(p), "matcher")].key,
                police, hdr, hl, &w, NULL),
            XCHG_OK);
        xchg_record rec;
        assert_int_equal(xchg_record_decode(genuine, rl, &rec, NULL), XCHG_OK);
        rec.nind = 1;
        rec.ind[0] = (xchg_indicator_ev){.is_measure = 1, .problem = XCHG_IND_NONE,
                                         .measure = forged[k].measure, .start = day("2026-07-31"),
                                         .end = day("2026-07-31"), .value = 100, .of = 120};
        size_t n = 0, cap = xchg_record_size(&rec);
        uint8_t *buf = malloc(cap);
        assert_int_equal(xchg_record_encode(&rec, buf, cap, &n), XCHG_OK);
        assert_int_equal(xchg_xex_writer_add(w, buf, n), XCHG_OK);
        free(buf);
        assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
        xchg_xex_writer_free(w);
        xchg_extract_file *f = NULL;
        xchg_diag_clear(d);
        assert_int_equal(xchg_extract_open(p, matcher, fx, 1, &f, d), XCHG_OK);
        xchg_record got;
        int end = 0;
        assert_int_equal(xchg_extract_next(f, &got, &end, d), XCHG_ERR_FORMAT);
        assert_diag_has(d, forged[k].msg);
        xchg_extract_close(f);
    }
    free(hdr);
    free(genuine);
    xchg_diag_free(d);
    xchg_secret_free(s);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(matcher);
}


/* ---- evidence packs: verified offline, every tampering refused ---------------------- */

static json_t *ev_json(int person, const char *measure, const char *start, const char *end)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f}", "person", person, "record",
                     "R-TEST-0000-0001", "agency", strcmp(measure, "da_report") == 0 ||
                     strcmp(measure, "da_report_child") == 0 ? "police" : "dwp",
                     "extract", "00", "measure", measure, "start", start, "end", end, "value", 1.0,
                     "of", 0.0);
}

/* A claim that holds: identified on 2026-02-28 on domestic abuse (a report recording a child)
 * and worklessness (a benefit claim), judged 2026-09-30: no further reports for 183 days,
 * and an adult in work without a break for the last 91 days. */
static json_t *good_body(const xchg_agreement *p)
{
    char hex[65];
    xchg_hex_encode(hex, xchg_policy_hash(xchg_agreement_policy(p)), 32);
    json_t *events = json_array();
    json_array_append_new(events, ev_json(0, "da_report", "2026-02-10", "2026-02-10"));
    json_array_append_new(events, ev_json(0, "da_report_child", "2026-02-10", "2026-02-10"));
    json_array_append_new(events, ev_json(0, "out_of_work_benefit", "2025-06-01", "2026-03-01"));
    json_array_append_new(events, ev_json(0, "employment", "2026-03-02", "open"));
    return json_pack("{s:s, s:i, s:{s:s, s:i, s:s}, s:s, s:i, s:i, s:s, s:s, s:s, s:[{s:s, s:i}, "
                     "{s:s, s:i}], s:[{s:s, s:[s], s:s, s:[s], s:s}, {s:s, s:[s], s:s, s:[s], "
                     "s:s}], s:o, s:s}",
                     "format", "exchange-evidence", "version", 1, "agreement", "id", "x", "version",
                     1, "sha256", hex, "family", "F-TEST-0000-0001", "run", 3, "first_run", 1,
                     "identified", "2026-02-28", "judged", "2026-09-30", "claim", "all_identified",
                     "members", "person", "P-A", "age", 40, "person", "P-B", "age", 12, "problems",
                     "code", "domestic_abuse", "identified_by", "P2-DA-1", "outcome", "met",
                     "outcome_criteria", "P2-DA-O1", "since", "2026-09-30", "code", "worklessness",
                     "identified_by", "P2-WORK-1", "outcome", "met", "outcome_criteria",
                     "P2-WORK-O2", "since", "2026-09-30", "events", events, "matcher", "m");
}

static xchg_err pack_verify(const xchg_agreement *p, json_t *body, const xchg_seckey *signer,
                            int flip, xchg_evidence_verdict *v)
{
    char *txt = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    char *sealed = NULL;
    size_t n = 0;
    assert_int_equal(xchg_evidence_seal(signer, txt, strlen(txt), &sealed, &n), XCHG_OK);
    if (flip)
        sealed[20] ^= 1; /* after signing */
    const char *path = tpath("pack.xev");
    spit(path, sealed, n);
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_evidence_verify(p, path, v, d);
    if (e != XCHG_OK && getenv("XCHG_TEST_VERBOSE"))
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  %s\n", xchg_diag_text(d, i));
    xchg_diag_free(d);
    free(txt);
    free(sealed);
    json_decref(body);
    return e;
}

/* Bytes written as they are (no signing), verified, the error's text checked. */
static void raw_refused(const xchg_agreement *p, const char *bytes, size_t n, xchg_err want,
                        const char *msg)
{
    const char *path = tpath("raw.xev");
    spit(path, bytes, n);
    xchg_diag *d = xchg_diag_new();
    xchg_evidence_verdict v;
    assert_int_equal(xchg_evidence_verify(p, path, &v, d), want);
    assert_diag_has(d, msg);
    xchg_diag_free(d);
}

/* Signed by the matcher, but a body that is not a well-formed pack. */
static void signed_refused(const xchg_agreement *p, const xchg_seckey *k, const char *body,
                           xchg_err want, const char *msg)
{
    char *sealed = NULL;
    size_t n = 0;
    assert_int_equal(xchg_evidence_seal(k, body, strlen(body), &sealed, &n), XCHG_OK);
    raw_refused(p, sealed, n, want, msg);
    free(sealed);
}

/* Malformed packs: every one refused with a message, never a crash or an "ok". */
static void test_evidence_malformed(void **state)
{
    (void)state;
    const xchg_agreement *p = phase2;
    xchg_seckey *matcher = seed_key((int)party_seed(p, "matcher"));
    raw_refused(p, "", 0, XCHG_ERR_FORMAT, "no signature line at its end");
    raw_refused(p, "{}\n", 3, XCHG_ERR_FORMAT, "no signature line at its end");
    static const char short_kid[] = "{}\nxchg-signature ed25519 abc AAAA\n";
    raw_refused(p, short_kid, sizeof short_kid - 1, XCHG_ERR_FORMAT, "malformed signature line");
    char bad_sig[128];
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, kid);
    int n = snprintf(bad_sig, sizeof bad_sig, "{}\nxchg-signature ed25519 %s !!!\n", kid);
    raw_refused(p, bad_sig, (size_t)n, XCHG_ERR_FORMAT, "malformed signature");
    /* the seal refuses a body with a newline (it would forge a second line) */
    char *o = NULL;
    size_t ol = 0;
    assert_int_equal(xchg_evidence_seal(matcher, "{}\n{}", 5, &o, &ol), XCHG_ERR_ARG);
    signed_refused(p, matcher, "not json", XCHG_ERR_FORMAT, "evidence pack body is not valid");
    signed_refused(p, matcher, "{\"format\":\"other\"}", XCHG_ERR_FORMAT,
                   "not an exchange evidence pack");
    signed_refused(p, matcher, "{\"format\":\"exchange-evidence\",\"version\":9}",
                   XCHG_ERR_VERSION, "version 9 is not supported");
    /* a good body with one bad part at a time, each re-signed by the matcher */
    json_t *b = good_body(p);
    json_object_set_new(json_array_get(json_object_get(b, "events"), 0), "measure",
                        json_string("no_such_measure"));
    char *t = json_dumps(b, JSON_COMPACT);
    signed_refused(p, matcher, t, XCHG_ERR_VERIFY, "event 1 is malformed");
    free(t);
    json_decref(b);
    b = good_body(p);
    json_object_set_new(json_array_get(json_object_get(b, "events"), 2), "person", json_integer(7));
    t = json_dumps(b, JSON_COMPACT);
    signed_refused(p, matcher, t, XCHG_ERR_VERIFY, "event 3 is malformed");
    free(t);
    json_decref(b);
    b = good_body(p);
    json_object_set_new(b, "judged", json_string("2025-01-01"));
    t = json_dumps(b, JSON_COMPACT);
    signed_refused(p, matcher, t, XCHG_ERR_VERIFY, "judged on or after identified");
    free(t);
    json_decref(b);
    b = good_body(p);
    json_object_set_new(json_array_get(json_object_get(b, "problems"), 0), "code",
                        json_string("not_a_problem"));
    t = json_dumps(b, JSON_COMPACT);
    signed_refused(p, matcher, t, XCHG_ERR_VERIFY, "'not_a_problem' is not one of the agreement's");
    free(t);
    json_decref(b);
    xchg_seckey_free(matcher);
}

static void test_evidence_pack(void **state)
{
    (void)state;
    const xchg_agreement *p = phase2;
    xchg_seckey *matcher = seed_key((int)party_seed(p, "matcher"));
    xchg_seckey *op = seed_key((int)party_seed(p, "operator-1"));
    xchg_evidence_verdict v;
    /* the honest pack verifies, re-evaluated */
    assert_int_equal(pack_verify(p, good_body(p), matcher, 0, &v), XCHG_OK);
    assert_int_equal(v.claimable, 1);
    assert_int_equal(v.nproblems, 2);
    assert_int_equal(v.status[0], XCHG_OUTCOME_MET);
    assert_int_equal(v.status[1], XCHG_OUTCOME_MET);
    assert_int_equal(v.nevents, 4);
    /* a byte changed after signing */
    assert_int_equal(pack_verify(p, good_body(p), matcher, 1, &v), XCHG_ERR_VERIFY);
    /* signed by someone else than the agreement's matcher */
    assert_int_equal(pack_verify(p, good_body(p), op, 0, &v), XCHG_ERR_VERIFY);
    /* a dishonest matcher signs claims its events do not bear out: */
    json_t *b = good_body(p); /* the job left out: the outcome is not met */
    json_array_remove(json_object_get(b, "events"), 3);
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    b = good_body(p); /* judged too early: 91 days have not passed since identification */
    json_object_set_new(b, "judged", json_string("2026-05-01"));
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    b = good_body(p); /* no child recorded: domestic abuse was never identified */
    json_array_remove(json_object_get(b, "events"), 1);
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    b = good_body(p); /* a criterion named that does not hold */
    json_array_set_new(json_object_get(json_array_get(json_object_get(b, "problems"), 1),
                                       "identified_by"),
                       0, json_string("P2-WORK-2"));
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    b = good_body(p); /* for another agreement */
    json_object_set_new(json_object_get(b, "agreement"), "sha256", json_string("00"));
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    b = good_body(p); /* a further DA report inside the 183 days */
    json_array_append_new(json_object_get(b, "events"),
                          ev_json(0, "da_report", "2026-07-01", "2026-07-01"));
    assert_int_equal(pack_verify(p, b, matcher, 0, &v), XCHG_ERR_VERIFY);
    xchg_seckey_free(matcher);
    xchg_seckey_free(op);
}

/* A baseline's criteria by exact problem code: "health" is not found in "mental_health". */
static void test_baseline_criteria(void **state)
{
    (void)state;
    char out[64];
    const char *b = "mental_health=X-1 health=P2-HEALTH-1;P2-HEALTH-2 crime_asb=";
    assert_int_equal(xchg__baseline_criteria(b, "health", out, sizeof out), 1);
    assert_string_equal(out, "P2-HEALTH-1;P2-HEALTH-2");
    assert_int_equal(xchg__baseline_criteria(b, "crime_asb", out, sizeof out), 1);
    assert_string_equal(out, "");
    assert_int_equal(xchg__baseline_criteria(b, "crime", out, sizeof out), 0);
    assert_int_equal(xchg__baseline_criteria("", "health", out, sizeof out), 0);
}

/* Cost arithmetic on phase 2's default table (2010 FIP costings, per_family 4000). */
static void test_cost_arithmetic(void **state)
{
    (void)state;
    const xchg_policy_data *pd = xchg_agreement_get(phase2);
    assert_int_equal(pd->ncosts, 4);
    double counts[4][2] = {{10, 4}, {20, 8}, {5, 6}, {0, 0}}; /* crown court, asbo, eviction, mh */
    xchg_matcher_cost_report r;
    xchg__costs_compute(pd, (const double(*)[2])counts, 10, 365, &r);
    assert_int_equal(r.nlines, 4);
    assert_string_equal(r.lines[0].id, "crown-court");
    assert_true(fabs(r.lines[0].unit_cost - 10858) < 1e-9);
    assert_true(fabs(r.lines[0].predicted_saving - 10 * 10858 * 0.36) < 1e-6);
    assert_true(fabs(r.lines[0].observed_saving - 6 * 10858) < 1e-6);
    assert_true(fabs(r.lines[1].observed_saving - 12 * 5768) < 1e-6);
    assert_true(fabs(r.lines[2].observed_saving - (-1) * 6872) < 1e-6); /* more after: a cost */
    assert_true(fabs(r.lines[3].predicted_saving) < 1e-9);
    double observed = 6 * 10858.0 + 12 * 5768.0 - 6872.0;
    assert_true(fabs(r.observed_saving - observed) < 1e-6);
    assert_true(fabs(r.predicted_saving - (10 * 10858 + 20 * 5768 + 5 * 6872) * 0.36) < 1e-6);
    assert_true(fabs(r.invested - 40000) < 1e-9);
    assert_true(fabs(r.saving_per_pound - observed / 40000) < 1e-12);
    assert_string_equal(r.currency, "GBP");
    /* nothing invested: no ratio */
    xchg__costs_compute(pd, (const double(*)[2])counts, 0, 365, &r);
    assert_true(isnan(r.saving_per_pound));
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attendance_90),
        cmocka_unit_test(test_fixed_exclusions_2_vs_3),
        cmocka_unit_test(test_terms_2_vs_3_available),
        cmocka_unit_test(test_days_window_edges),
        cmocka_unit_test(test_da_child_in_family),
        cmocka_unit_test(test_reduction),
        cmocka_unit_test(test_continuous_and_baseline),
        cmocka_unit_test(test_moved_from),
        cmocka_unit_test(test_person_scope_same_member),
        cmocka_unit_test(test_each_scope),
        cmocka_unit_test(test_too_early_terms),
        cmocka_unit_test(test_rule_expression),
        cmocka_unit_test(test_claim_rules),
        cmocka_unit_test(test_age_on_evidence_date),
        cmocka_unit_test(test_evidence_pack),
        cmocka_unit_test(test_evidence_malformed),
        cmocka_unit_test(test_cost_arithmetic),
        cmocka_unit_test(test_baseline_criteria),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
