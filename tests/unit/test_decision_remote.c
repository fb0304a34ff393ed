/*
 * Remote decisions (matcher.h, release.h): prepare on the matcher's side, sign on the
 * operator's (pure), submit on the matcher's — and every refusal submit owes: a forged
 * signature, a statement for another family or another run, a non-operator's key, a
 * replayed or stale request, a request the operator did not ask for. Each refusal stores
 * nothing and writes no audit entry.
 */
#define RELEASE_FIXTURE_DIR "decision_remote"
#include "release_fixture.h"

#define NOW 1767225600

static void audit_ok(void)
{
    xchg_seckey *m = seed_key(4);
    assert_int_equal(xchg_audit_verify(path_in("db.audit"), xchg_seckey_public(m), NULL, NULL),
                     XCHG_OK);
    xchg_seckey_free(m);
}

struct fams {
    char fam[8][24];
    int n;
};

/* fam[0]: the eligible Lee family; fam[1]: the Ng household (one problem: only a
 * rejection can be made for it) */
static int collect(void *ctx, const xchg_store_family *f)
{
    struct fams *c = ctx;
    if (c->n < 8)
        snprintf(c->fam[c->n++], 24, "%s", f->pseudonym);
    if (f->eligible && c->n > 1) {
        char t[24];
        memcpy(t, c->fam[0], 24);
        memcpy(c->fam[0], c->fam[c->n - 1], 24);
        memcpy(c->fam[c->n - 1], t, 24);
    }
    return 0;
}

static xchg_matcher *M;
static struct fams F;

static void kid_of(int seed, char out[XCHG_KEYID_HEXLEN + 1])
{
    xchg_seckey *k = seed_key(seed);
    xchg_keyid_hex(xchg_seckey_public(k)->id, out);
    xchg_seckey_free(k);
}

/* prepare + sign by operator seed `op` at now; the signed request (malloc'ed) */
static char *signed_by(int op, const char *fam, int approve, const char *reason, int64_t now)
{
    char kid[XCHG_KEYID_HEXLEN + 1], *prep = NULL, *sig = NULL;
    kid_of(op, kid);
    xchg_seckey *k = seed_key(op);
    assert_int_equal(xchg_matcher_decision_prepare(M, kid, fam, approve, reason, now, &prep, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_decision_sign(pol, k, NULL, prep, fam, approve, reason, now, &sig, NULL),
                     XCHG_OK);
    free(prep);
    xchg_seckey_free(k);
    return sig;
}

/* submit must refuse with want and a diagnostic holding needle; nothing is stored */
static void refused(const char *req, int64_t now, xchg_err want, const char *needle)
{
    size_t before = audit_lines();
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_decision_submit(M, req, now, d), want);
    assert_diag_has(d, needle);
    xchg_diag_free(d);
    assert_int_equal(audit_lines(), before);
}

static unsigned approvals(const char *fam)
{
    xchg_release_state st;
    assert_int_equal(xchg_matcher_release_state(M, fam, &st, NULL), XCHG_OK);
    return st.approvals;
}

/* the request with one string field (top level, or statements[i].field when i >= 0) set */
static char *with(const char *req, int i, const char *field, json_t *v)
{
    json_t *j = json_loads(req, 0, NULL);
    assert_non_null(j);
    json_t *o = i >= 0 ? json_array_get(json_object_get(j, "statements"), (size_t)i) : j;
    json_object_set_new(o, field, v);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int setup_store(void **state)
{
    if (setup(state) != 0)
        return -1;
    seal(police_csv("given"), "police.csv", 2, psec, NOW);
    seal(school_csv, "school.csv", 3, ssec, NOW);
    M = store_open_or_create(1);
    ingest(M, "police.xex", NULL);
    ingest(M, "school.xex", NULL);
    run(M);
    memset(&F, 0, sizeof F);
    assert_int_equal(
        xchg_store_families(xchg_matcher_store(M), 0, XCHG_STORE_ALL, collect, &F, NULL), XCHG_OK);
    xchg_release_state st;
    return F.n == 2 && xchg_matcher_release_state(M, F.fam[0], &st, NULL) == XCHG_OK && st.eligible
               ? 0
               : -1;
}

static int teardown_store(void **state)
{
    xchg_matcher_close(M);
    return teardown(state);
}

static void test_three_steps(void **state)
{
    (void)state;
    const char *fam = F.fam[0];
    char *req = signed_by(8, fam, 1, "meets the rule", NOW);
    size_t before = audit_lines();
    assert_int_equal(xchg_matcher_decision_submit(M, req, NOW + 10, NULL), XCHG_OK);
    assert_int_equal(audit_lines(), before + 1);
    assert_int_equal(approvals(fam), 1);
    /* the same signed request again: a replay */
    refused(req, NOW + 20, XCHG_ERR_DENIED, "a replay is refused");
    free(req);
    /* the second operator: approved */
    req = signed_by(9, fam, 1, "agreed", NOW);
    assert_int_equal(xchg_matcher_decision_submit(M, req, NOW, NULL), XCHG_OK);
    free(req);
    assert_int_equal(approvals(fam), 2);
    audit_ok();
}

static void test_forged(void **state)
{
    (void)state;
    const char *fam = F.fam[1];
    char *req = signed_by(8, fam, 0, "not now", NOW);
    /* the reason changed after signing */
    char *t = with(req, -1, "reason", json_string("something else"));
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify with the key of operator 'op1'");
    free(t);
    /* a signature of random bytes */
    t = with(req, 0, "signature",
             json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                         "AAAAAAAAAAAAA=="));
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify");
    free(t);
    /* operator two's signatures presented as operator one's */
    char *other = signed_by(9, fam, 0, "not now", NOW), kid[XCHG_KEYID_HEXLEN + 1];
    kid_of(8, kid);
    t = with(other, -1, "operator", json_string(kid));
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify with the key of operator 'op1'");
    free(t);
    free(other);
    /* a rejection of the eligible family flipped to an approval */
    char *rej = signed_by(8, F.fam[0], 0, "not now", NOW);
    t = with(rej, -1, "decision", json_string("approve"));
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify");
    free(t);
    free(rej);
    /* not JSON, another version, another agreement */
    refused("{\"v\": 1", NOW, XCHG_ERR_FORMAT, "decision request");
    t = with(req, -1, "v", json_string("exchange decision request v0"));
    refused(t, NOW, XCHG_ERR_FORMAT, "field 'v'");
    free(t);
    t = with(req, -1, "agreement", json_string("00"));
    refused(t, NOW, XCHG_ERR_DENIED, "names another agreement");
    free(t);
    free(req);
    xchg_release_state st;
    assert_int_equal(xchg_matcher_release_state(M, fam, &st, NULL), XCHG_OK);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.forged, 0);
}

static void test_other_family(void **state)
{
    (void)state;
    /* a statement signed for family 1 submitted as family 0's */
    char *req = signed_by(8, F.fam[1], 0, "meets the rule", NOW);
    char *t = with(req, -1, "family", json_string(F.fam[0]));
    refused(t, NOW, XCHG_ERR_VERIFY, "is not about family");
    free(t);
    /* family 0's pseudonym and members put in, family 1's signature kept */
    char *f0 = signed_by(8, F.fam[0], 0, "meets the rule", NOW);
    json_t *a = json_loads(f0, 0, NULL), *b = json_loads(req, 0, NULL);
    json_object_set(
        json_array_get(json_object_get(a, "statements"), 0), "signature",
        json_object_get(json_array_get(json_object_get(b, "statements"), 0), "signature"));
    t = json_dumps(a, JSON_COMPACT);
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify");
    free(t);
    json_decref(a);
    json_decref(b);
    free(f0);
    /* a family not in the run */
    t = with(req, -1, "family", json_string("F-000000000000"));
    refused(t, NOW, XCHG_ERR_NOT_FOUND, "is not in the latest linkage run");
    free(t);
    free(req);
}

static void test_non_operator(void **state)
{
    (void)state;
    char kid[XCHG_KEYID_HEXLEN + 1], *prep = NULL;
    kid_of(2, kid); /* the police: an agency */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_decision_prepare(M, kid, F.fam[0], 1, "x", NOW, &prep, d),
                     XCHG_ERR_DENIED);
    assert_null(prep);
    assert_diag_has(d, "is not the key of an operator");
    xchg_diag_free(d);
    /* a request naming the police key, signed by the police key */
    char *req = signed_by(8, F.fam[0], 1, "meets the rule", NOW);
    char *t = with(req, -1, "operator", json_string(kid));
    refused(t, NOW, XCHG_ERR_DENIED, "is not an operator of the agreement");
    xchg_seckey *police = seed_key(2);
    char *sig = NULL;
    d = xchg_diag_new();
    assert_int_equal(
        xchg_decision_sign(pol, police, NULL, t, F.fam[0], 1, "meets the rule", NOW, &sig, d),
        XCHG_ERR_DENIED);
    assert_null(sig);
    xchg_diag_free(d);
    xchg_seckey_free(police);
    free(t);
    free(req);
}

static void test_sign_refuses(void **state)
{
    (void)state;
    char kid[XCHG_KEYID_HEXLEN + 1], *prep = NULL, *sig = NULL;
    kid_of(8, kid);
    xchg_seckey *k = seed_key(8), *k9 = seed_key(9);
    assert_int_equal(
        xchg_matcher_decision_prepare(M, kid, F.fam[0], 1, "meets the rule", NOW, &prep, NULL),
        XCHG_OK);
    struct {
        const xchg_seckey *key;
        const char *fam;
        int approve;
        const char *reason;
        int64_t now;
        const char *why;
    } bad[] = {
        {k9, F.fam[0], 1, "meets the rule", NOW, "is another operator's key"},
        {k, F.fam[1], 1, "meets the rule", NOW, "is not what this operator decided"},
        {k, F.fam[0], 0, "meets the rule", NOW, "is not what this operator decided"},
        {k, F.fam[0], 1, "another reason", NOW, "is not what this operator decided"},
        {k, F.fam[0], 1, "meets the rule", NOW + 301, "freshness window"},
        {k, F.fam[0], 1, "meets the rule", NOW - 301, "freshness window"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(xchg_decision_sign(pol, bad[i].key, NULL, prep, bad[i].fam, bad[i].approve,
                                            bad[i].reason, bad[i].now, &sig, d),
                         XCHG_ERR_DENIED);
        assert_null(sig);
        assert_diag_has(d, bad[i].why);
        xchg_diag_free(d);
    }
    /* a statement added for a recipient the agreement does not have */
    json_t *j = json_loads(prep, 0, NULL);
    json_array_append_new(
        json_object_get(j, "statements"),
        json_pack("{s:s,s:s,s:s}", "recipient", "team2", "family", "F-1", "members", "00"));
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_int_equal(
        xchg_decision_sign(pol, k, NULL, t, F.fam[0], 1, "meets the rule", NOW, &sig, NULL),
        XCHG_ERR_FORMAT);
    free(t);
    free(prep);
    xchg_seckey_free(k);
    xchg_seckey_free(k9);
}

static void test_stale_and_other_run(void **state)
{
    (void)state;
    const char *fam = F.fam[1];
    char *req = signed_by(9, fam, 0, "not now", NOW);
    refused(req, NOW + XCHG_DECISION_WINDOW + 1, XCHG_ERR_DENIED, "freshness window");
    refused(req, NOW - XCHG_DECISION_WINDOW - 1, XCHG_ERR_DENIED, "freshness window");
    /* another run: the request is for the run before */
    run(M);
    refused(req, NOW, XCHG_ERR_DENIED, "the latest run is");
    /* the run number changed to the latest: the signature is over the old one */
    json_t *j = json_loads(req, 0, NULL);
    json_int_t r = json_integer_value(json_object_get(j, "run"));
    json_decref(j);
    char *t = with(req, -1, "run", json_integer(r + 1));
    refused(t, NOW, XCHG_ERR_VERIFY, "does not verify");
    free(t);
    free(req);
    audit_ok();
}

/* Clerical-review decisions signed elsewhere: xchg_review_sign + xchg_matcher_review_submit */
static void review_refused(const char *kid, const char *ra, int same, const char *reason, int64_t t,
                           const uint8_t *sig, int64_t now, xchg_err want, const char *needle)
{
    size_t before = audit_lines();
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_review_submit(M, kid, "police", ra, "school", "S1", same, reason,
                                                t, sig, now, d),
                     want);
    assert_diag_has(d, needle);
    xchg_diag_free(d);
    assert_int_equal(audit_lines(), before);
}

static void test_review_remote(void **state)
{
    (void)state;
    char kid[XCHG_KEYID_HEXLEN + 1], pkid[XCHG_KEYID_HEXLEN + 1];
    kid_of(8, kid);
    kid_of(2, pkid);
    xchg_seckey *k = seed_key(8), *police = seed_key(2);
    uint8_t sig[64], old[64], bad[64];
    const int64_t t = NOW + 100;
    assert_int_equal(
        xchg_review_sign(pol, k, "police", "P1", "school", "S1", 1, "one person", t, sig), XCHG_OK);
    assert_int_equal(xchg_review_sign(pol, k, "police", "P1", "police", "P1", 1, "x", t, bad),
                     XCHG_ERR_ARG);
    /* forged: the decision flipped, the reason changed, another key's signature */
    review_refused(kid, "P1", 0, "one person", t, sig, t, XCHG_ERR_VERIFY, "does not verify");
    review_refused(kid, "P1", 1, "two people", t, sig, t, XCHG_ERR_VERIFY, "does not verify");
    assert_int_equal(
        xchg_review_sign(pol, police, "police", "P1", "school", "S1", 1, "one person", t, bad),
        XCHG_OK);
    review_refused(kid, "P1", 1, "one person", t, bad, t, XCHG_ERR_VERIFY, "does not verify");
    /* a non-operator, a record not held, a stale time */
    review_refused(pkid, "P1", 1, "one person", t, bad, t, XCHG_ERR_DENIED,
                   "is not the key of an operator");
    review_refused(kid, "P9", 1, "one person", t, sig, t, XCHG_ERR_NOT_FOUND,
                   "holds no current record");
    review_refused(kid, "P1", 1, "one person", t, sig, t + XCHG_DECISION_WINDOW + 1,
                   XCHG_ERR_DENIED, "stale or replayed");
    /* the genuine one, then its replay, then an older one arriving late */
    size_t before = audit_lines();
    assert_int_equal(xchg_matcher_review_submit(M, kid, "school", "S1", "police", "P1", 1,
                                                "one person", t, sig, t, NULL),
                     XCHG_OK);
    assert_int_equal(audit_lines(), before + 1);
    review_refused(kid, "P1", 1, "one person", t, sig, t + 5, XCHG_ERR_DENIED,
                   "a replay is refused");
    assert_int_equal(
        xchg_review_sign(pol, k, "police", "P1", "school", "S1", 0, "not them", t - 10, old),
        XCHG_OK);
    review_refused(kid, "P1", 0, "not them", t - 10, old, t, XCHG_ERR_DENIED,
                   "a newer decision on this pair is stored");
    xchg_seckey_free(k);
    xchg_seckey_free(police);
    audit_ok();
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_steps),   cmocka_unit_test(test_forged),
        cmocka_unit_test(test_other_family),  cmocka_unit_test(test_non_operator),
        cmocka_unit_test(test_sign_refuses),  cmocka_unit_test(test_stale_and_other_run),
        cmocka_unit_test(test_review_remote),
    };
    return cmocka_run_group_tests(tests, setup_store, teardown_store);
}
