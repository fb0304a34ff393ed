/*
 * Release end to end on hand-made extracts with exact expectations: the candidate family,
 * the two-person rule, the consent filter (released / withheld and why), what the
 * recipient reads, a consent withdrawal stopping the next release, rejection, packets
 * refused for another recipient, altered, replayed under another agreement or signed by
 * a key that is not the matcher's, and retention purging the data for good.
 */
#include "test_helpers.h"

#include <jansson.h>

static xchg_policy *pol;
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
    snprintf(dir, sizeof dir, "%s", tpath("release"));
    mkdir(dir, 0700);
    if (xchg_policy_parse_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
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
    xchg_policy_free(pol);
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

static void seal(const char *csv, const char *name, int agency, xchg_secret *sec, int64_t now)
{
    const char *in = path_in(name), *out = path_in(strstr(name, ".csv") ? "x.xex" : name);
    char outp[600];
    snprintf(outp, sizeof outp, "%s/%.*s.xex", dir, (int)(strlen(name) - 4), name);
    (void)out;
    spit(in, csv, strlen(csv));
    xchg_seckey *k = seed_key(agency);
    xchg_seal_opts o = {.input = in, .output = outp, .overwrite = 1,
                        .period_start = day("2025-08-01"), .period_end = day("2026-07-31"),
                        .now = now, .strict = 1};
    xchg_seal_stats st;
    assert_int_equal(xchg_seal(pol, k, sec, &o, &st, NULL), XCHG_OK);
    xchg_seckey_free(k);
}

static xchg_store *store_open_or_create(int create)
{
    xchg_store_key *sk = NULL;
    const char *kp = path_in("db.key");
    if (create) {
        assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
        assert_int_equal(xchg_store_key_save(sk, kp, 1, NULL), XCHG_OK);
    } else {
        assert_int_equal(xchg_store_key_load(kp, &sk, NULL), XCHG_OK);
    }
    xchg_store *s = NULL;
    if (create)
        assert_int_equal(xchg_store_create(path_in("db"), sk, pol, &s, NULL), XCHG_OK);
    else
        assert_int_equal(xchg_store_open(path_in("db"), sk, pol, 0, &s, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    return s;
}

static void ingest(xchg_store *s, const char *xex, const char *expect_supersede)
{
    xchg_seckey *m = seed_key(4);
    xchg_ingest_stats st;
    assert_int_equal(xchg_store_ingest(s, pol, m, path_in(xex), &st, NULL), XCHG_OK);
    if (expect_supersede)
        assert_true(st.supersedes[0] != '\0');
    xchg_seckey_free(m);
}

static void run(xchg_store *s)
{
    xchg_linkset *ls = NULL;
    xchg_link_result *r = NULL;
    assert_int_equal(xchg_linkset_new(pol, &ls), XCHG_OK);
    assert_int_equal(xchg_store_load(s, pol, ls, NULL, NULL), XCHG_OK);
    assert_int_equal(xchg_link_run(ls, day("2026-07-31"), xchg_store_pseudonym_key(s), 1, &r, NULL),
                     XCHG_OK);
    xchg_run_params rp = {.run_date = day("2026-07-31"), .started = 1};
    int64_t id;
    assert_int_equal(xchg_store_save_run(s, pol, ls, r, &rp, &id, NULL), XCHG_OK);
    xchg_link_result_free(r);
    xchg_linkset_free(ls);
}

struct candidates {
    char fam[8][24];
    int n;
};

static int collect(void *ctx, const xchg_release_state *st)
{
    struct candidates *c = ctx;
    if (st->eligible && c->n < 8)
        snprintf(c->fam[c->n++], 24, "%s", st->family);
    return 0;
}

static void decide(xchg_store *s, int op, const char *fam, int approve, xchg_err want)
{
    xchg_seckey *k = seed_key(op);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_release_decide(s, pol, k, fam, approve, approve ? "meets the rule" : "not now",
                                         1767225600, d),
                     want);
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* open the packet as the team; returns the body with each released record's detail */
static json_t *open_packet(const char *path, xchg_policy *p, int as)
{
    xchg_seckey *k = seed_key(as);
    char *body = NULL;
    assert_int_equal(xchg_packet_open(p, k, path, &body, NULL), XCHG_OK);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    free(body);
    size_t mi, ri;
    json_t *m, *r;
    json_array_foreach(json_object_get(j, "members"), mi, m) {
        json_array_foreach(json_object_get(m, "records"), ri, r) {
            if (!json_is_true(json_object_get(r, "released")))
                continue;
            const char *sk = json_string_value(json_object_get(r, "sealed_key"));
            const char *pl = json_string_value(json_object_get(r, "payload"));
            const char *xid = json_string_value(json_object_get(r, "extract_id"));
            const char *ref = json_string_value(json_object_get(r, "ref"));
            uint8_t sealed[80], dk[32], id[16], c[4096], pt[4096];
            size_t n, cl;
            assert_int_equal(xchg_base64_decode(sealed, sizeof sealed, &n, sk, strlen(sk)), XCHG_OK);
            assert_int_equal(xchg_seal_open(k, sealed, n, dk), XCHG_OK);
            assert_int_equal(xchg_hex_decode(id, 16, xid, strlen(xid)), XCHG_OK);
            assert_int_equal(xchg_base64_decode(c, sizeof c, &cl, pl, strlen(pl)), XCHG_OK);
            assert_int_equal(xchg_payload_decrypt(dk, xchg_policy_hash(p), id, ref, strlen(ref), c, cl, pt),
                             XCHG_OK);
            json_t *det = json_loadb((const char *)pt, cl - XCHG_PAYLOAD_OVERHEAD, 0, NULL);
            json_object_set(r, "detail", json_object_get(det, "fields"));
            json_decref(det);
        }
    }
    xchg_seckey_free(k);
    return j;
}

static json_t *record(json_t *packet, const char *ref)
{
    size_t mi, ri;
    json_t *m, *r;
    json_array_foreach(json_object_get(packet, "members"), mi, m)
        json_array_foreach(json_object_get(m, "records"), ri, r)
            if (strcmp(json_string_value(json_object_get(r, "ref")), ref) == 0)
                return r;
    fail_msg("no record %s in the packet", ref);
    return NULL;
}

static const char *withheld(json_t *packet, const char *ref)
{
    json_t *r = record(packet, ref);
    return json_is_true(json_object_get(r, "released")) ? NULL
                                                        : json_string_value(json_object_get(r, "withheld"));
}

static void test_release_end_to_end(void **state)
{
    (void)state;
    seal(police_csv("given"), "police.csv", 2, psec, 1767225600);
    seal(school_csv, "school.csv", 3, ssec, 1767225600);
    xchg_store *s = store_open_or_create(1);
    ingest(s, "police.xex", NULL);
    ingest(s, "school.xex", NULL);
    run(s);

    /* exactly one candidate: the Lee family (crime + school); the Ng household has one */
    struct candidates c = {0};
    assert_int_equal(xchg_release_list(s, pol, collect, &c, NULL), XCHG_OK);
    assert_int_equal(c.n, 1);
    const char *fam = c.fam[0];

    /* two-person rule: one operator (twice) is not enough; the matcher is no operator */
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 4, fam, 1, XCHG_ERR_DENIED);
    xchg_seckey *m = seed_key(4);
    xchg_release_stats st;
    xchg_diag *d = xchg_diag_new();
    const char *pk = path_in("p.xrp");
    unlink(pk);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "team", pk, 1, 1767225700, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "has 1 of the 2 approvals the agreement requires");
    assert_int_equal(access(pk, F_OK), -1);
    decide(s, 9, fam, 1, XCHG_OK);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "team", pk, 1, 1767225700, &st, NULL), XCHG_OK);
    assert_int_equal(st.members, 3);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.released, 2);
    assert_int_equal(st.withheld, 2);
    assert_string_not_equal(st.family, fam); /* recipient-specific pseudonym */

    /* what the team reads */
    json_t *j = open_packet(pk, pol, 5);
    assert_string_equal(json_string_value(json_object_get(j, "family")), st.family);
    assert_null(withheld(j, "P1"));
    assert_string_equal(json_string_value(json_object_get(record(j, "P1"), "basis_for_release")),
                        "the person agreed to the referral");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(record(j, "P1"), "detail"), "forename")), "Dan");
    assert_null(withheld(j, "P2"));
    assert_string_equal(json_string_value(json_object_get(record(j, "P2"), "basis_for_release")),
                        "recorded legal basis: safeguarding");
    assert_string_equal(withheld(j, "P3"), "consent refused");
    assert_string_equal(withheld(j, "S1"), "consent not yet sought — ask the family");
    assert_null(json_object_get(record(j, "P3"), "payload")); /* nothing of it travels */
    assert_int_equal(json_array_size(json_object_get(j, "approvals")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "problems")), 2);
    json_decref(j);

    /* packets refused: for another party, altered, under another agreement, wrong signer */
    char *body = NULL;
    xchg_seckey *police = seed_key(2);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(pol, police, pk, &body, d), XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "this packet is for party 'team'");
    size_t n;
    char *raw = slurp(pk, &n);
    const char *bad = path_in("bad.xrp");
    for (size_t i = 0; i < n; i += 97) {
        raw[i] ^= 0x20;
        spit(bad, raw, n);
        raw[i] ^= 0x20;
        xchg_seckey *team = seed_key(5);
        assert_int_not_equal(xchg_packet_open(pol, team, bad, &body, NULL), XCHG_OK);
        xchg_seckey_free(team);
    }
    free(raw);
    xchg_policy *other = policy_variant("id: test-agreement", "id: other-agreement");
    xchg_seckey *team = seed_key(5);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(other, team, pk, &body, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "packet was made under agreement 'test-agreement', not 'other-agreement'");
    xchg_policy_free(other);
    /* an agreement whose matcher holds another key: the packet's signer is unknown to it */
    xchg_seckey *k7 = seed_key(7);
    char pks[XCHG_PUBKEY_STRLEN], repl[200];
    xchg_pubkey_to_string(xchg_seckey_public(k7), pks);
    snprintf(repl, sizeof repl, "key: %s", pks);
    xchg_policy *forged = policy_variant(
        "key: xk1:WEvnnmUcs29RC8qTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r5835wprXJLqDDB/3UFx0dwpUVd/XPYfVqwR1I9B4EZ3AQ=",
        repl);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(forged, team, pk, &body, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "which is not the matcher of agreement");
    xchg_policy_free(forged);
    xchg_seckey_free(k7);
    xchg_seckey_free(team);
    xchg_seckey_free(police);

    /* Dad withdraws consent: the police send a newer extract for the same period */
    seal(police_csv("withdrawn"), "police2.csv", 2, psec, 1767225600 + 86400);
    ingest(s, "police2.xex", "supersedes");
    run(s);
    c.n = 0;
    assert_int_equal(xchg_release_list(s, pol, collect, &c, NULL), XCHG_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.fam[0], fam); /* the same family pseudonym across runs */
    /* approvals were for the previous run: a new run needs new decisions */
    xchg_diag_clear(d);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "team", pk, 1, 1767312200, &st, d),
                     XCHG_ERR_DENIED);
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 9, fam, 1, XCHG_OK);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "team", pk, 1, 1767312200, &st, NULL), XCHG_OK);
    j = open_packet(pk, pol, 5);
    assert_string_equal(withheld(j, "P1"), "consent withdrawn");
    assert_null(withheld(j, "P2")); /* safeguarding still applies to the other record */
    json_decref(j);

    /* a rejection stops release until operators approve again */
    decide(s, 8, fam, 0, XCHG_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "team", pk, 1, 1767312300, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "was rejected (\"not now\"); no packet");
    /* an unknown recipient */
    xchg_diag_clear(d);
    assert_int_equal(xchg_release_packet(s, pol, m, fam, "police", pk, 1, 1767312300, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "'police' is not a recipient of agreement 'test-agreement'");

    /* retention: purge everything received before a cutoff in the future */
    xchg_store_info in;
    assert_int_equal(xchg_store_get_info(s, &in, NULL), XCHG_OK);
    assert_true(in.records > 0);
    xchg_purge_stats *ps = calloc(1, sizeof *ps);
    assert_int_equal(xchg_store_purge(s, (int64_t)4102444800, 1, ps, NULL), XCHG_OK); /* dry */
    assert_int_equal(ps->nextracts, 3);
    assert_int_equal(ps->purged, 0);
    assert_int_equal(xchg_store_purge(s, (int64_t)4102444800, 0, ps, NULL), XCHG_OK);
    assert_int_equal(ps->purged, 1);
    assert_int_equal(ps->records, 4 + 1 + 4);
    assert_int_equal(xchg_store_get_info(s, &in, NULL), XCHG_OK);
    assert_int_equal(in.records, 0);
    assert_int_equal(in.tokens, 0);
    assert_int_equal(in.indicators, 0);
    free(ps);
    xchg_store_free(s);
    /* the data is gone from the file itself: reopen and dump every cell */
    s = store_open_or_create(0);
    assert_int_equal(xchg_store_get_info(s, &in, NULL), XCHG_OK);
    assert_int_equal(in.records, 0);
    xchg_store_free(s);
    xchg_seckey_free(m);
    xchg_diag_free(d);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
