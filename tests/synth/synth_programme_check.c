/* synth_programme_check — independent recomputation of xchg-synth's programme truth.
 *
 * Reads DIR/truth/periods.csv and terms.csv, and for every period that period's extracts
 * (the rows as written, joined to their person through the period's truth/rows.csv and
 * truth/people.csv for the true date of birth), re-derives each phase 1 / phase 2
 * criterion of docs/programme.md from the CSV columns, tracks first identification and
 * baseline across periods, evaluates every outcome and the claim rules, and compares the
 * result with DIR/truth/programme-phase1.csv and programme-phase2.csv. Shares no code
 * with the generator.
 *
 * Usage: synth_programme_check DIR [--require-all]
 *   --require-all  also fail unless every criterion and every outcome status (met, not
 *                  met, too early) occurs somewhere.
 * Exit 0 when every check passes, 1 otherwise. */
#include <csv.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXF 32
#define FIELD_MAX 1024

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    if (failures < 30) {
        va_list ap;
        va_start(ap, fmt);
        fputs("FAIL: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    failures++;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("strdup");
        exit(2);
    }
    return d;
}

/* ---- CSV reading ---- */

#include "table_reader.h"
    size_t off = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    read_table(path, t, buf + off, len - off);
    free(buf);
}


/* ---- dates ---- */

static long civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* 'I' ISO (time ignored), 'D' DD/MM/YYYY or DD-MM-YYYY (time ignored); -1 if empty/bad */
static long day_of(const char *s, char kind)
{
    int y, m, d;
    char a, b;
    if (!s[0])
        return -1;
    if (kind == 'I' ? sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3
                    : sscanf(s, "%2d%c%2d%c%4d", &d, &a, &m, &b, &y) != 5)
        return -1;
    return civil(y, m, d);
}

/* whole years from the ISO date of birth to day t */
static int years(const char *dob, long t)
{
    int y, m, d;
    sscanf(dob, "%4d-%2d-%2d", &y, &m, &d);
    for (int a = 0;; a++)
        if (civil(y + a + 1, m, m == 2 && d == 29 ? 28 : d) > t)
            return a;
}

/* ---- measure events from the extracts ---- */

enum {
    YOUTH, ADULT_GUILTY, ASB_INTERV, ASB_INC, DA, DA_CHILD, PERM, FTE, ALTPROV, OFFROLL, UNAUTH, ATTEND,
    EHCP_CARER, NEET, OOW, OOW2, JSA, EMPLOY, NEGLECT, CP, LAC, TREAT, TREAT_DONE, NMEAS
};

typedef struct mev {
    long hh, person;
    int m;
    long s, e; /* e = LONG_MAX: open */
    long v, of;
} mev;

static mev *evs;
static size_t nev, capev;

static void add(long hh, long person, int m, long s, long e, long v, long of)
{
    if (nev == capev) {
        capev = capev ? capev * 2 : 4096;
        evs = realloc(evs, capev * sizeof *evs);
        if (!evs)
            exit(2);
    }
    evs[nev++] = (mev){hh, person, m, s, e, v, of};
}

typedef struct pinfo {
    long hh;
    char dob[11];
} pinfo;

static pinfo *ppl;
static long nppl, capppl;

typedef struct refmap {
    char **ref;
    long *person;
    size_t n, cap;
} refmap;
static refmap refs;

static int cmpref(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_person(table_reader *t, void *arg)
{
    (void)arg;
    long id = atol(t->f[0]);
    if (id >= capppl) {
        long nc = capppl ? capppl * 2 : 4096;
        while (nc <= id)
            nc *= 2;
        ppl = realloc(ppl, (size_t)nc * sizeof *ppl);
        memset(ppl + capppl, 0, (size_t)(nc - capppl) * sizeof *ppl);
        capppl = nc;
    }
    ppl[id].hh = atol(t->f[1]);
    snprintf(ppl[id].dob, sizeof ppl[id].dob, "%s", fld(t, col(t, "dob")));
    if (id > nppl)
        nppl = id;
}

/* rows.csv: "file,ref" -> person, kept sorted for bsearch */
static void on_rowmap(table_reader *t, void *arg)
{
    (void)arg;
    if (refs.n == refs.cap) {
        refs.cap = refs.cap ? refs.cap * 2 : 8192;
        refs.ref = realloc(refs.ref, refs.cap * sizeof *refs.ref);
    }
    char key[96];
    snprintf(key, sizeof key, "%s|%s|%ld", t->f[0], t->f[1], atol(t->f[2]));
    refs.ref[refs.n++] = xstrdup(key);
}

static long person_of(const char *file, const char *ref)
{
    char key[96];
    snprintf(key, sizeof key, "%s|%s|", file, ref);
    size_t lo = 0, hi = refs.n, kl = strlen(key);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(refs.ref[mid], key, kl);
        if (c == 0)
            return atol(refs.ref[mid] + kl);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    fail("%s: %s not in rows.csv", file, ref);
    return 0;
}

static const char *cur_file;

static void on_extract(table_reader *t, void *arg)
{
    (void)arg;
    long p = person_of(cur_file, t->f[0]);
    if (p < 1 || p > nppl)
        return;
    long hh = ppl[p].hh;
    const char *dob = ppl[p].dob;
#define F(name) fld(t, col(t, name))
    /* a withdrawn consent is an objection: the row is not used for identification */
    const char *cs = F(!strcmp(cur_file, "dwp.csv") ? "CONSENT" : "Consent");
    if (strcasecmp(cs, "withdrawn") == 0)
        return;
    if (!strcmp(cur_file, "police.csv")) {
        const char *type = F("Incident Type"), *role = F("Role"), *oc = F("Outcome");
        long d = day_of(F("Incident Date"), 'D');
        bool actor = strcmp(role, "VICTIM") != 0;
        int age = years(dob, d);
        if (!strcmp(type, "CRIME") && actor && (!strcmp(oc, "GUILTY") || !strcmp(oc, "CAUTION")) &&
            age < 18)
            add(hh, p, YOUTH, d, d, 1, 0);
        if (!strcmp(type, "CRIME") && actor && !strcmp(oc, "GUILTY") && age >= 18)
            add(hh, p, ADULT_GUILTY, d, d, 1, 0);
        if (!strcmp(type, "ASB") && actor)
            add(hh, p, ASB_INC, d, d, 1, 0);
        if (!strcmp(type, "DOMESTIC ABUSE")) {
            add(hh, p, DA, d, d, 1, 0);
            /* the report's "Child Present" must be true of the household on that date */
            const char *cp = F("Child Present");
            bool child = false;
            for (long q = 1; q <= nppl; q++)
                if (ppl[q].hh == hh && day_of(ppl[q].dob, 'I') <= d && years(ppl[q].dob, d) < 18)
                    child = true;
            if (strcmp(cp, child ? "Y" : "N") != 0)
                fail("police.csv: %s: Child Present '%s' but the household %s a child on %ld",
                     t->f[0], cp, child ? "has" : "has no", d);
            if (child)
                add(hh, p, DA_CHILD, d, d, 1, 0);
        } else if (F("Child Present")[0]) {
            fail("police.csv: %s: Child Present given for a %s incident", t->f[0], type);
        }
        if (strcmp(type, "CRIME") != 0 || !actor ? oc[0] != '\0' : !oc[0])
            fail("police.csv: %s: outcome '%s' for %s %s", t->f[0], oc, type, role);
        if (!strcmp(oc, "CAUTION") && age >= 18)
            fail("police.csv: %s: adult caution", t->f[0]);
    } else if (!strcmp(cur_file, "yos.csv")) {
        long d = day_of(F("Outcome Date"), 'D');
        if (years(dob, d) < 18)
            add(hh, p, YOUTH, d, d, 1, 0);
        else
            fail("yos.csv: %s: outcome at age 18 or over", t->f[0]);
    } else if (!strcmp(cur_file, "housing.csv")) {
        long d = day_of(F("Action Date"), 'I');
        add(hh, p, ASB_INTERV, d, d, 1, 0);
        add(hh, p, ASB_INC, d, d, 1, 0);
    } else if (!strcmp(cur_file, "dwp.csv")) {
        const char *b = F("BENEFIT_TYPE");
        long s = day_of(F("CLAIM_START"), 'I'), e = day_of(F("CLAIM_END"), 'I');
        if (e < 0)
            e = LONG_MAX;
        static const char *oow[] = {"JSA", "ESA", "IS", "IB", "CA", "SDA"};
        for (int i = 0; i < 6; i++)
            if (!strcmp(b, oow[i]) && years(dob, s) >= 18) {
                add(hh, p, OOW, s, e, 1, 0);
                add(hh, p, OOW2, s, e, 1, 0);
            }
        /* phase 2's out-of-work benefits also include Universal Credit, not working */
        if (!strcmp(b, "UC_NOT_WORKING") && years(dob, s) >= 18)
            add(hh, p, OOW2, s, e, 1, 0);
        if (!strcmp(b, "JSA"))
            add(hh, p, JSA, s, e, 1, 0);
        if (!strcmp(b, "EMPLOYMENT"))
            add(hh, p, EMPLOY, s, e, 1, 0);
    } else if (!strcmp(cur_file, "social_care.csv")) {
        const char *plan = F("Plan Type"), *cat = F("Category");
        long s = day_of(F("Plan Start"), 'D'), e = day_of(F("Plan End"), 'D');
        if (e < 0)
            e = LONG_MAX;
        if ((!strcmp(plan, "CIN") || !strcmp(plan, "CP")) && !strcmp(cat, "NEGLECT"))
            add(hh, p, NEGLECT, s, e, 1, 0);
        if (!strcmp(plan, "CP"))
            add(hh, p, CP, s, e, 1, 0);
        if (!strcmp(plan, "LAC"))
            add(hh, p, LAC, s, e, 1, 0);
        if (!strcmp(plan, "PARENT") != !cat[0])
            fail("social_care.csv: %s: category '%s' for %s", t->f[0], cat, plan);
    } else if (!strcmp(cur_file, "health.csv")) {
        long s = day_of(F("Referral Date"), 'D'), e = day_of(F("Discharge Date"), 'D');
        const char *why = F("Discharge Reason");
        if ((e < 0) != !why[0])
            fail("health.csv: %s: discharge date and reason disagree", t->f[0]);
        if (years(dob, s) >= 18)
            add(hh, p, TREAT, s, e < 0 ? LONG_MAX : e, 1, 0);
        if (e >= 0 && !strcmp(why, "COMPLETED"))
            add(hh, p, TREAT_DONE, e, e, 1, 0);
    } else { /* education */
        long d = day_of(F("Term End"), 'I');
        const char *poss = F("Sessions Possible"), *neet = F("NEET"), *roll = F("On Roll");
        const char *prov = F("Provision");
        if (!strcmp(neet, "Y") && (poss[0] || roll[0]))
            fail("education.csv: %s: a NEET row with sessions or On Roll", t->f[0]);
        if (!strcmp(roll, "N") && poss[0])
            fail("education.csv: %s: sessions for a pupil not on roll", t->f[0]);
        if (poss[0]) {
            long possible = atol(poss);
            add(hh, p, FTE, d, d, atol(F("Fixed Term Exclusions")), 0);
            add(hh, p, UNAUTH, d, d, atol(F("Unauthorised Absence Sessions")), possible);
            add(hh, p, ATTEND, d, d, atol(F("Sessions Attended")), possible);
        }
        if (!strcmp(F("Permanent Exclusion"), "Y"))
            add(hh, p, PERM, d, d, 1, 0);
        if (!strcmp(prov, "PRU") || !strcmp(prov, "AP"))
            add(hh, p, ALTPROV, d, d, 1, 0);
        if (!strcmp(roll, "N"))
            add(hh, p, OFFROLL, d, d, 1, 0);
        if (!strcmp(F("EHCP"), "Y") || !strcmp(F("Young Carer"), "Y"))
            add(hh, p, EHCP_CARER, d, d, 1, 0);
        int age = years(dob, d);
        if (!strcmp(neet, "Y") && age >= 16 && age <= 24)
            add(hh, p, NEET, d, d, 1, 0);
    }
#undef F
}

/* ---- evaluation ---- */

static long term_s[64], term_e[64];
static int nterms;

typedef struct range {
    long lo, hi;
    bool ok;
} range;

static range last_days(long T, long n)
{
    return (range){T - n + 1, T, true};
}

static range last_terms(long T, int n, long *first_start)
{
    int j = -1;
    for (int i = 0; i < nterms; i++)
        if (term_e[i] <= T)
            j = i;
    if (j + 1 < n)
        return (range){0, 0, false};
    if (first_start)
        *first_start = term_s[j - n + 1];
    return (range){term_s[j - n + 1], term_e[j], true};
}

/* household's events: evs[b0 .. b1) */
static size_t b0, b1;

typedef struct tot {
    long n, v, of;
} tot;

/* totals of measures in `ms` (-1 terminated) in r, of person p (0: everyone) */
static tot total(const int *ms, range r, long p)
{
    tot t = {0, 0, 0};
    if (!r.ok)
        return t;
    for (size_t i = b0; i < b1; i++) {
        const mev *x = &evs[i];
        bool want = false;
        for (const int *m = ms; *m >= 0; m++)
            want |= x->m == *m;
        if (!want || (p && x->person != p) || x->s > r.hi || x->e < r.lo)
            continue;
        t.n++;
        t.v += x->v;
        t.of += x->of;
    }
    return t;
}
#define M1(a) ((const int[]){a, -1})
#define M2(a, b) ((const int[]){a, b, -1})

/* members of the household (person ids) with events of any measure in its rows */
static long members[64];
static int nmembers;

static bool covered(int m, range r, long p)
{
    /* sort-free sweep: extend the covered prefix until no span extends it */
    long upto = r.lo;
    bool moved = true;
    while (moved && upto <= r.hi) {
        moved = false;
        for (size_t i = b0; i < b1; i++) {
            const mev *x = &evs[i];
            if (x->m == m && x->person == p && x->s <= upto && x->e >= upto) {
                upto = x->e == LONG_MAX ? LONG_MAX : x->e + 1;
                moved = true;
                if (upto > r.hi)
                    break;
            }
        }
    }
    return upto > r.hi;
}

static unsigned criteria(long T, bool child)
{
    unsigned c = 0;
    range y = last_days(T, 365), t3 = last_terms(T, 3, NULL);
    for (int k = 0; k < nmembers; k++) {
        long p = members[k];
        tot fte = total(M1(FTE), t3, p), att = total(M1(ATTEND), t3, p);
        bool att_low = att.of > 0 && att.v * 100 < 90 * att.of;
        bool youth = total(M1(YOUTH), y, p).n > 0;
        bool oow = total(M1(OOW), y, p).n > 0, oow2 = total(M1(OOW2), y, p).n > 0;
        c |= youth ? 1u << 0 : 0;                                      /* P1-CRIME-1 */
        c |= total(M1(ASB_INTERV), y, p).n ? 1u << 1 : 0;              /* P1-CRIME-2 */
        c |= total(M1(PERM), t3, p).n ? 1u << 2 : 0;                   /* P1-EDU-1 */
        c |= fte.n && fte.v >= 3 ? 1u << 3 | 1u << 12 : 0;             /* P1-EDU-2, P2-EDU-2 */
        c |= total(M1(ALTPROV), t3, p).n ? 1u << 4 : 0;                /* P1-EDU-3 */
        c |= total(M1(OFFROLL), t3, p).n ? 1u << 5 : 0;                /* P1-EDU-4 */
        tot un = total(M1(UNAUTH), t3, p);
        c |= un.of > 0 && un.v * 100 >= 15 * un.of ? 1u << 6 : 0;      /* P1-EDU-5 */
        c |= oow ? 1u << 7 : 0;                                        /* P1-WORK-1 */
        c |= oow2 ? 1u << 14 : 0;                                      /* P2-WORK-1 */
        c |= total(M1(ASB_INC), y, p).n ? 1u << 8 : 0;                 /* P2-CRIME-1 */
        c |= youth ? 1u << 9 : 0;                                      /* P2-CRIME-2 */
        c |= total(M1(ADULT_GUILTY), y, p).n ? 1u << 10 : 0;           /* P2-CRIME-3 */
        c |= att_low ? 1u << 11 : 0;                                   /* P2-EDU-1 */
        c |= total(M1(NEGLECT), y, p).n ? 1u << 13 : 0;                /* P2-CHILD-1 */
        c |= total(M1(NEET), y, p).n ? 1u << 15 : 0;                   /* P2-WORK-2 */
        c |= total(M1(DA_CHILD), y, p).n ? 1u << 16 : 0;              /* P2-DA-1 */
        (void)child;
        c |= total(M1(TREAT), y, p).n ? 1u << 17 : 0;                  /* P2-HEALTH-1 */
        if (total(M1(EHCP_CARER), t3, p).n && ((fte.n && fte.v > 3) || att_low))
            c |= 1u << 18;                                             /* P2-HEALTH-2 */
    }
    return c;
}

static const char *const ids[19] = {
    "P1-CRIME-1", "P1-CRIME-2", "P1-EDU-1",   "P1-EDU-2",   "P1-EDU-3",  "P1-EDU-4",
    "P1-EDU-5",   "P1-WORK-1",  "P2-CRIME-1", "P2-CRIME-2", "P2-CRIME-3", "P2-EDU-1",
    "P2-EDU-2",   "P2-CHILD-1", "P2-WORK-1",  "P2-WORK-2",  "P2-DA-1",   "P2-HEALTH-1",
    "P2-HEALTH-2"};
/* problems per phase as criterion masks */
static const unsigned ph1_probs[3] = {0x3u, 0x7Cu, 0x80u};
static const char *const ph1_names[3] = {"crime_asb", "school_attendance", "worklessness"};
static const unsigned ph2_probs[6] = {0x700u, 0x1800u, 0x2000u, 0xC000u, 0x10000u, 0x60000u};
static const char *const ph2_names[6] = {"crime_asb",    "school_attendance", "children_need_help",
                                         "worklessness", "domestic_abuse",    "health"};

/* Outcome results: 0 skip, 1 too early, 2 true, 3 false */
static int too_early_days(long T, long I, long n)
{
    return T - n < I;
}
static int too_early_terms(long T, long I, int n)
{
    long fs = 0;
    range r = last_terms(T, n, &fs);
    return !r.ok || fs <= I;
}

static int verdict(bool v)
{
    return v ? 2 : 3;
}

static int none_in(const int *ms, long n, long I, long T)
{
    if (too_early_days(T, I, n))
        return 1;
    return verdict(total(ms, last_days(T, n), 0).n == 0);
}

static int reduction(const int *ms, long n, int pct, long I, long T)
{
    if (too_early_days(T, I, n))
        return 1;
    long now = total(ms, last_days(T, n), 0).n, base = total(ms, last_days(I, n), 0).n;
    return verdict(now * 100 <= (100 - pct) * base);
}

/* each member with events of m in r: test; at least one such member */
typedef bool (*member_test)(long p, range r);
static bool t_att90(long p, range r)
{
    tot a = total(M1(ATTEND), r, p);
    return a.of > 0 && a.v * 100 >= 90 * a.of;
}
static bool t_att85(long p, range r)
{
    tot a = total(M1(ATTEND), r, p);
    return a.of > 0 && a.v * 100 >= 85 * a.of;
}
static bool t_fte3(long p, range r)
{
    return total(M1(FTE), r, p).v < 3;
}
static bool t_both(long p, range r)
{
    return t_fte3(p, r) && t_att90(p, r);
}
static bool t_done(long p, range r)
{
    return total(M1(TREAT_DONE), r, p).n >= 1;
}
static bool t_cont(long p, range r)
{
    return covered(EMPLOY, r, p);
}

static int each(const int *ms, range r, member_test f)
{
    int with = 0;
    for (int k = 0; k < nmembers; k++) {
        if (!total(ms, r, members[k]).n)
            continue;
        with++;
        if (!f(members[k], r))
            return 3;
    }
    return verdict(with > 0);
}

/* "an adult has moved off <moved> into work": only members with <moved> events in the year
 * to I are subjects; none: the criterion does not apply (0) */
static int some_moved_days(const int *moved, long n, member_test f, long I, long T)
{
    range y = last_days(I, 365);
    bool anyone = false;
    for (int k = 0; k < nmembers; k++)
        anyone |= total(moved, y, members[k]).n > 0;
    if (!anyone)
        return 0;
    if (too_early_days(T, I, n))
        return 1;
    range r = last_days(T, n);
    for (int k = 0; k < nmembers; k++)
        if (total(moved, y, members[k]).n > 0 && f(members[k], r))
            return 2;
    return 3;
}

static int each_days(const int *ms, long n, member_test f, long I, long T)
{
    return too_early_days(T, I, n) ? 1 : each(ms, last_days(T, n), f);
}
static int each_terms(const int *ms, int n, member_test f, long I, long T)
{
    return too_early_terms(T, I, n) ? 1 : each(ms, last_terms(T, n, NULL), f);
}

static bool had(const int *ms, range r)
{
    return total(ms, r, 0).n > 0;
}

/* status: 0 na, 1 too_early, 2 met, 3 not_met */
static int combine(const int *r, int n, bool any)
{
    int applicable = 0, yes = 0, early = 0;
    for (int i = 0; i < n; i++) {
        if (r[i] == 0)
            continue;
        applicable++;
        early += r[i] == 1;
        yes += r[i] == 2;
    }
    if (any) /* one way met is enough, even while another's period runs */
        return yes ? 2 : early ? 1 : 3;
    return early ? 1 : yes == applicable ? 2 : 3;
}

static int status(int phase, int p, long I, long T)
{
    int r[3] = {0, 0, 0};
    if (phase == 1) {
        if (p == 0)
            r[0] = none_in(M1(YOUTH), 183, I, T);
        else if (p == 1)
            r[0] = each_terms(M1(ATTEND), 3, t_att85, I, T);
        else
            r[0] = some_moved_days(M1(OOW), 91, t_cont, I, T);
        return combine(r, 1, false);
    }
    switch (p) {
    case 0:
        r[0] = reduction(M1(ASB_INC), 183, 60, I, T);
        r[1] = reduction(M2(YOUTH, ADULT_GUILTY), 183, 33, I, T);
        r[2] = none_in(M1(ADULT_GUILTY), 183, I, T);
        return combine(r, 3, false);
    case 1:
        r[0] = each_terms(M1(ATTEND), 3, t_att90, I, T);
        r[1] = each_terms(M1(FTE), 3, t_fte3, I, T);
        return combine(r, 2, false);
    case 2:
        r[0] = none_in(M2(CP, LAC), 183, I, T);
        return combine(r, 1, false);
    case 3: {
        bool jsa182 = had(M1(JSA), last_days(I, 182)), jsa91 = had(M1(JSA), last_days(I, 91));
        r[0] = jsa182 ? some_moved_days(M1(JSA), 182, t_cont, I, T) : 0;
        r[1] = !jsa91 ? some_moved_days(M1(OOW2), 91, t_cont, I, T) : 0;
        r[2] = had(M1(NEET), last_days(I, 365)) ? none_in(M1(NEET), 91, I, T) : 0;
        return combine(r, 3, true);
    }
    case 4:
        r[0] = none_in(M1(DA), 183, I, T);
        return combine(r, 1, false);
    default:
        r[0] = had(M1(TREAT), last_days(I, 183)) ? each_days(M1(TREAT_DONE), 183, t_done, I, T)
                                                 : 0;
        r[1] = had(M1(EHCP_CARER), last_terms(I, 3, NULL))
                   ? each_terms(M2(FTE, ATTEND), 3, t_both, I, T)
                   : 0;
        return combine(r, 2, true);
    }
}

static const char *const st_names[4] = {"na", "too_early", "met", "not_met"};

/* ---- per-period driver ---- */

typedef struct fam {
    int first[2]; /* period (1-based) of first identification, 0 = not yet */
    unsigned base[2];
} fam;

typedef struct expect_row {
    char line[512];
} expect_row;

static char **want[2];
static long nwant[2], capwant[2];
static int cur_phase;

static void on_programme(table_reader *t, void *arg)
{
    (void)arg;
    int ph = cur_phase;
    if (nwant[ph] == capwant[ph]) {
        capwant[ph] = capwant[ph] ? capwant[ph] * 2 : 4096;
        want[ph] = realloc(want[ph], (size_t)capwant[ph] * sizeof *want[ph]);
    }
    char line[1024] = "";
    for (int i = 0; i < t->nf; i++) {
        size_t n = strlen(line);
        snprintf(line + n, sizeof line - n, "%s%s", i ? "," : "", t->f[i]);
    }
    want[ph][nwant[ph]++] = xstrdup(line);
}

static int cmpmev(const void *a, const void *b)
{
    const mev *x = a, *y = b;
    return x->hh < y->hh ? -1 : x->hh > y->hh;
}

static long period_end[8];
static char period_dir[8][64];
static int nperiods;

static void on_period(table_reader *t, void *arg)
{
    (void)arg;
    if (nperiods < 8) {
        period_end[nperiods] = day_of(t->f[1], 'I');
        snprintf(period_dir[nperiods], sizeof period_dir[0], "%s", t->f[2]);
        nperiods++;
    }
}

static void on_term(table_reader *t, void *arg)
{
    (void)arg;
    if (nterms < 64) {
        term_s[nterms] = day_of(t->f[1], 'I');
        term_e[nterms] = day_of(t->f[2], 'I');
        if (nterms && term_s[nterms] <= term_e[nterms - 1])
            fail("terms.csv: terms overlap or are out of order at %s", t->f[0]);
        nterms++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: synth_programme_check DIR [--require-all]\n");
        return 2;
    }
    const char *dir = argv[1];
    bool require_all = argc > 2 && !strcmp(argv[2], "--require-all");
    char truth[4096], pdir[4200];
    snprintf(truth, sizeof truth, "%s/truth", dir);
    table_reader tp = {.on_row = on_period}, tt = {.on_row = on_term};
    read_file(truth, "periods.csv", &tp);
    read_file(truth, "terms.csv", &tt);
    if (!nperiods || !nterms) {
        fail("no periods or terms");
        return 1;
    }
    for (int k = 1; k < nperiods; k++)
        if (period_end[k] <= period_end[k - 1])
            fail("periods.csv: period ends not increasing");
    if (term_e[nterms - 1] > period_end[nperiods - 1] || term_e[0] <= period_end[0] - 365)
        fail("terms.csv: a term ends outside (A_1 - 365, A]");
    for (int ph = 0; ph < 2; ph++) {
        cur_phase = ph;
        table_reader tw = {.on_row = on_programme};
        read_file(truth, ph ? "programme-phase2.csv" : "programme-phase1.csv", &tw);
    }
    fam *fams = NULL;
    long nfams = 0, crit_count[8][19] = {{0}}, st_count[2][6][4] = {{{0}}}, claims[8][2] = {{0}};
    long wi[2] = {0, 0};
    static const char *const files[] = {"police.csv",  "education.csv", "dwp.csv", "social_care.csv",
                                        "yos.csv",     "housing.csv",   "health.csv"};
    for (int k = 0; k < nperiods; k++) {
        snprintf(pdir, sizeof pdir, "%s/%s", dir, period_dir[k]);
        char ptruth[4300];
        snprintf(ptruth, sizeof ptruth, "%s/truth", pdir);
        nppl = 0;
        table_reader tpp = {.on_row = on_person};
        read_file(ptruth, "people.csv", &tpp);
        for (size_t i = 0; i < refs.n; i++)
            free(refs.ref[i]);
        refs.n = 0;
        table_reader tr = {.on_row = on_rowmap};
        read_file(ptruth, "rows.csv", &tr);
        qsort(refs.ref, refs.n, sizeof *refs.ref, cmpref);
        nev = 0;
        for (int f = 0; f < 7; f++) {
            cur_file = files[f];
            table_reader te = {.on_row = on_extract};
            read_file(pdir, files[f], &te);
        }
        qsort(evs, nev, sizeof *evs, cmpmev);
        long nhh = 0;
        for (long p = 1; p <= nppl; p++)
            if (ppl[p].hh > nhh)
                nhh = ppl[p].hh;
        if (!fams) {
            nfams = nhh;
            fams = calloc((size_t)nhh + 1, sizeof *fams);
        } else if (nhh != nfams) {
            fail("period %d: %ld households, period 1 had %ld", k + 1, nhh, nfams);
        }
        long T = period_end[k];
        size_t at = 0;
        long pstart = 1;
        for (long h = 1; h <= nfams; h++) {
            b0 = at;
            while (at < nev && evs[at].hh == h)
                at++;
            b1 = at;
            nmembers = 0;
            bool child = false;
            while (pstart <= nppl && ppl[pstart].hh < h)
                pstart++;
            for (long p = pstart; p <= nppl && ppl[p].hh == h && nmembers < 64; p++) {
                members[nmembers++] = p;
                long born = day_of(ppl[p].dob, 'I');
                child |= born <= T && years(ppl[p].dob, T) < 18;
            }
            unsigned c = criteria(T, child);
            for (int i = 0; i < 19; i++)
                crit_count[k][i] += (c >> i) & 1u;
            for (int ph = 0; ph < 2; ph++) {
                int np = ph ? 6 : 3;
                const unsigned *probs = ph ? ph2_probs : ph1_probs;
                const char *const *names = ph ? ph2_names : ph1_names;
                unsigned pm = 0;
                int count = 0;
                for (int i = 0; i < np; i++)
                    if (c & probs[i]) {
                        pm |= 1u << i;
                        count++;
                    }
                fam *fm = &fams[h];
                if (count >= 2 && !fm->first[ph]) {
                    fm->first[ph] = k + 1;
                    fm->base[ph] = pm;
                }
                char line[1024], cl[512] = "", bl[256] = "";
                for (int i = ph ? 8 : 0; i < (ph ? 19 : 8); i++)
                    if ((c >> i) & 1u) {
                        size_t n = strlen(cl);
                        snprintf(cl + n, sizeof cl - n, "%s%s", n ? ";" : "", ids[i]);
                    }
                int st[6] = {0};
                for (int i = 0; i < np; i++) {
                    if (fm->first[ph] && (fm->base[ph] >> i & 1u)) {
                        size_t n = strlen(bl);
                        snprintf(bl + n, sizeof bl - n, "%s%s", n ? ";" : "", names[i]);
                        st[i] = status(ph + 1, i, period_end[fm->first[ph] - 1], T);
                    }
                    st_count[ph][i][st[i]]++;
                }
                bool claim = false;
                if (fm->first[ph] && ph == 1) {
                    claim = true;
                    for (int i = 0; i < np; i++)
                        if ((fm->base[ph] >> i & 1u) && st[i] != 2)
                            claim = false;
                } else if (fm->first[ph]) {
                    unsigned b = fm->base[ph];
                    bool g1 = (b & 3u) && (!(b & 1u) || st[0] == 2) && (!(b & 2u) || st[1] == 2);
                    bool g2 = (b & 4u) && st[2] == 2;
                    claim = g1 || g2;
                }
                claims[k][ph] += claim;
                char y[80];
                {
                    long z = T + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
                    long doe = z - era * 146097;
                    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
                    long yy = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
                    long mp = (5 * doy + 2) / 153, dd = doy - (153 * mp + 2) / 5 + 1;
                    long mm = mp < 10 ? mp + 3 : mp - 9;
                    snprintf(y, sizeof y, "%04ld-%02ld-%02ld", yy + (mm <= 2), mm, dd);
                }
                int n = snprintf(line, sizeof line, "%ld,%d,%s,%d,", h, k + 1, y, count >= 2);
                if (fm->first[ph])
                    n += snprintf(line + n, sizeof line - (size_t)n, "%d", fm->first[ph]);
                n += snprintf(line + n, sizeof line - (size_t)n, ",%s,%s", cl, bl);
                for (int i = 0; i < np; i++)
                    n += snprintf(line + n, sizeof line - (size_t)n, ",%s", st_names[st[i]]);
                snprintf(line + n, sizeof line - (size_t)n, ",%d", claim);
                /* the truth file lists households by household, then period */
                long idx = (h - 1) * nperiods + k;
                if (idx >= nwant[ph])
                    fail("programme-phase%d.csv: no row for household %ld period %d", ph + 1, h,
                         k + 1);
                else if (strcmp(want[ph][idx], line) != 0)
                    fail("programme-phase%d.csv:\n  truth      %s\n  recomputed %s", ph + 1,
                         want[ph][idx], line);
                wi[ph]++;
            }
        }
    }
    for (int ph = 0; ph < 2; ph++)
        if (nwant[ph] != wi[ph])
            fail("programme-phase%d.csv: %ld rows, expected %ld", ph + 1, nwant[ph], wi[ph]);
    printf("%-12s", "criterion");
    for (int k = 0; k < nperiods; k++)
        printf(" period-%d", k + 1);
    printf("\n");
    for (int i = 0; i < 19; i++) {
        printf("%-12s", ids[i]);
        long all = 0;
        for (int k = 0; k < nperiods; k++) {
            printf(" %8ld", crit_count[k][i]);
            all += crit_count[k][i];
        }
        printf("\n");
        if (require_all && !all)
            fail("criterion %s never holds", ids[i]);
    }
    for (int ph = 0; ph < 2; ph++) {
        int np = ph ? 6 : 3;
        for (int i = 0; i < np; i++) {
            printf("phase%d %-20s", ph + 1, (ph ? ph2_names : ph1_names)[i]);
            for (int s = 1; s < 4; s++)
                printf(" %s %ld", st_names[s], st_count[ph][i][s]);
            printf("\n");
            for (int s = 1; require_all && s < 4; s++)
                if (!st_count[ph][i][s])
                    fail("phase %d %s: status %s never occurs", ph + 1,
                         (ph ? ph2_names : ph1_names)[i], st_names[s]);
        }
        printf("phase%d claimable per period:", ph + 1);
        for (int k = 0; k < nperiods; k++)
            printf(" %ld", claims[k][ph]);
        printf("\n");
    }
    free(fams);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("programme truth: all checks passed\n");
    return 0;
}
