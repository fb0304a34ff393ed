/*
 * The hand-made release fixture shared by test_release.c and test_decision_remote.c: an
 * unsigned test agreement (tests/fixtures/policy/base.yaml) with its linkage secret, the
 * Lee / Ng police extract and the Lee school extract, sealing, a matcher store with its
 * audit log, ingest and runs. Define RELEASE_FIXTURE_DIR (the scratch folder's name)
 * before including it; setup / teardown are the cmocka group fixtures.
 */
#ifndef XCHG_TEST_RELEASE_FIXTURE_H
#define XCHG_TEST_RELEASE_FIXTURE_H

#include "store_internal.h"
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>
#include <time.h>

static xchg_agreement *pol;
static xchg_secret *psec, *ssec;
static char dir[512];

static const char *path_in(const char *name)
{
    static char b[16][600];
    static int i;
    char *p = b[i++ % 16];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static int32_t day(const char *s)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(s, strlen(s), &d), XCHG_OK);
    return d;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tpath(RELEASE_FIXTURE_DIR));
    mkdir(dir, 0700);
    if (t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    xchg_seckey *owner = seed_key(1), *police = seed_key(2), *school = seed_key(3);
    const char *sp = path_in("s.xsec");
    int bad = xchg_secret_create(pol, owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
              xchg_secret_open(pol, police, sp, &psec, NULL) != XCHG_OK ||
              xchg_secret_open(pol, school, sp, &ssec, NULL) != XCHG_OK;
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(school);
    return bad ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(psec);
    xchg_secret_free(ssec);
    xchg_agreement_free(pol);
    return 0;
}

/* The Lee family: Dad known to police twice (consent given; consent refused but a
 * safeguarding basis), Mum once (consent refused), the child at school with poor
 * attendance (consent not sought). The Ng household: police only (one problem). */
static const char *police_csv(const char *dad_consent)
{
    static char b[1024];
    snprintf(b, sizeof b,
             "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
             "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,%s,\n"
             "P2,Dan,Lee,14/05/1980,OX4 1AA,ASB,02/06/2026,refused,Safeguarding\n"
             "P3,Kate,Lee,11/03/1982,OX4 1AA,CRIME,03/06/2026,refused,\n"
             "P4,Ann,Ng,01/01/1990,OX1 1AA,CRIME,04/06/2026,given,\n",
             dad_consent);
    return b;
}

static const char *school_csv =
    "Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
    "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,not sought\n";

static void seal_period(const char *csv, const char *name, int agency, xchg_secret *sec,
                        int64_t now, const char *from, const char *to, int incremental);

static void seal(const char *csv, const char *name, int agency, xchg_secret *sec, int64_t now)
{
    seal_period(csv, name, agency, sec, now, "2025-08-01", "2026-07-31", 0);
}

static void seal_period(const char *csv, const char *name, int agency, xchg_secret *sec,
                        int64_t now, const char *from, const char *to, int incremental)
{
    const char *in = path_in(name), *out = path_in(strstr(name, ".csv") ? "x.xex" : name);
    char outp[600];
    snprintf(outp, sizeof outp, "%s/%.*s.xex", dir, (int)(strlen(name) - 4), name);
    (void)out;
    spit(in, csv, strlen(csv));
    xchg_seckey *k = seed_key(agency);
    xchg_seal_opts o = {.input = in,
                        .output = outp,
                        .overwrite = 1,
                        .period_start = day(from),
                        .period_end = day(to),
                        .now = now,
                        .strict = 1};
    (void)incremental;
    xchg_seal_stats st;
    assert_int_equal(xchg_seal(pol, k, sec, &o, &st, NULL), XCHG_OK);
    xchg_seckey_free(k);
}

static xchg_matcher *store_open_or_create(int create)
{
    xchg_store_key *sk = NULL;
    const char *kp = path_in("db.key");
    if (create) {
        unlink(path_in("db"));
        unlink(path_in("db.audit"));
        assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
        assert_int_equal(xchg_store_key_save(sk, kp, 1, NULL), XCHG_OK);
    } else {
        assert_int_equal(xchg_store_key_load(kp, &sk, NULL), XCHG_OK);
    }
    xchg_matcher *m = NULL;
    if (create)
        assert_int_equal(xchg_matcher_create(path_in("db"), sk, pol, &m, NULL), XCHG_OK);
    else
        assert_int_equal(xchg_matcher_open(path_in("db"), sk, pol, 0, &m, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    return m;
}

static void ingest(xchg_matcher *s, const char *xex, const char *expect_supersede)
{
    xchg_seckey *m = seed_key(4);
    xchg_ingest_stats st;
    assert_int_equal(xchg_matcher_ingest(s, m, path_in(xex), NULL, NULL, 1767225600, &st, NULL),
                     XCHG_OK);
    if (expect_supersede)
        assert_true(st.supersedes[0] != '\0');
    xchg_seckey_free(m);
}

static void run(xchg_matcher *s)
{
    assert_int_equal(xchg_matcher_run(s, day("2026-07-31"), 1, 1767225600, NULL, NULL), XCHG_OK);
}

static size_t audit_lines(void)
{
    size_t n = 0, k = 0;
    char *t = slurp(path_in("db.audit"), &n);
    for (size_t i = 0; i < n; i++)
        k += t[i] == '\n';
    free(t);
    return k;
}

#endif
