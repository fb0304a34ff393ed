/* Request authentication: a signed request verifies; each kind of tampering or misuse is
 * refused with its exact reason (bad signature, unknown key, wrong role, stale time,
 * replayed nonce, body hash mismatch, malformed or missing headers, full replay cache). */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "test_helpers.h"

static xchg_agreement *pol;
static xchg_seckey *police, *team, *stranger;

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    police = seed_key(2);
    team = seed_key(5);
    stranger = seed_key(99);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_seckey_free(police);
    xchg_seckey_free(team);
    xchg_seckey_free(stranger);
    xchg_agreement_free(pol);
    return 0;
}

#define AGENCY XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY)
static const int64_t NOW = 1790000000;

static xchg_netauth_request req_of(const xchg_netauth_headers *h, const char *method,
                                   const char *path)
{
    xchg_netauth_request r = {method,   path,           h->key,      h->time,
                              h->nonce, h->body_sha256, h->signature};
    return r;
}

static xchg_netauth_reason check(xchg_netauth *v, const xchg_netauth_request *r, unsigned roles,
                                 int64_t now, xchg_err want)
{
    xchg_netauth_reason why = XCHG_NETAUTH_OK;
    size_t party = 0;
    assert_int_equal(xchg_netauth_verify(v, r, roles, now, &party, &why), want);
    if (want != XCHG_OK)
        assert_int_equal(party, XCHG_NONE);
    return why;
}

static void test_good_then_replayed(void **state)
{
    (void)state;
    xchg_netauth *v = NULL;
    assert_int_equal(xchg_netauth_new(pol, 0, &v), XCHG_OK);
    uint8_t body[XCHG_SHA256_BYTES];
    xchg_sha256("extract bytes", 13, body);
    xchg_netauth_headers h;
    assert_int_equal(xchg_netauth_sign(police, "POST", "/v1/extracts", NOW, body, &h), XCHG_OK);
    assert_int_equal(strlen(h.nonce), 32);
    assert_int_equal(strlen(h.signature), 88);
    xchg_netauth_request r = req_of(&h, "POST", "/v1/extracts");
    size_t party = XCHG_NONE;
    xchg_netauth_reason why;
    assert_int_equal(xchg_netauth_verify(v, &r, AGENCY, NOW + 10, &party, &why), XCHG_OK);
    assert_int_equal(why, XCHG_NETAUTH_OK);
    assert_string_equal(xchg_agreement_get(pol)->parties[party].id, "police");
    assert_int_equal(xchg_netauth_check_body(h.body_sha256, body, &why), XCHG_OK);
    /* the same headers again */
    assert_int_equal(check(v, &r, AGENCY, NOW + 11, XCHG_ERR_VERIFY), XCHG_NETAUTH_REPLAYED);
    assert_string_equal(xchg_netauth_reason_text(XCHG_NETAUTH_REPLAYED), "replayed nonce");
    xchg_netauth_free(v);
}

static void test_rejections(void **state)
{
    (void)state;
    xchg_netauth *v = NULL;
    assert_int_equal(xchg_netauth_new(pol, 0, &v), XCHG_OK);
    xchg_netauth_headers h;
    xchg_netauth_request r;

    /* bad signature: flipped signature, or signed for another path or method */
    assert_int_equal(xchg_netauth_sign(police, "POST", "/v1/extracts", NOW, NULL, &h), XCHG_OK);
    h.signature[5] = h.signature[5] == 'A' ? 'B' : 'A';
    r = req_of(&h, "POST", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_VERIFY), XCHG_NETAUTH_BAD_SIGNATURE);
    assert_int_equal(xchg_netauth_sign(police, "POST", "/v1/extracts", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "POST", "/v1/extracts/x");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_VERIFY), XCHG_NETAUTH_BAD_SIGNATURE);
    r = req_of(&h, "GET", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_VERIFY), XCHG_NETAUTH_BAD_SIGNATURE);
    /* a forged request did not use up the nonce: the genuine one still passes */
    r = req_of(&h, "POST", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_OK), XCHG_NETAUTH_OK);

    /* another body hash than the one signed */
    assert_int_equal(xchg_netauth_sign(police, "POST", "/v1/extracts", NOW, NULL, &h), XCHG_OK);
    h.body_sha256[0] = h.body_sha256[0] == '0' ? '1' : '0';
    r = req_of(&h, "POST", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_VERIFY), XCHG_NETAUTH_BAD_SIGNATURE);

    /* unknown key */
    assert_int_equal(xchg_netauth_sign(stranger, "POST", "/v1/extracts", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "POST", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_UNKNOWN_KEY), XCHG_NETAUTH_UNKNOWN_KEY);

    /* wrong role: the recipient team may not submit */
    assert_int_equal(xchg_netauth_sign(team, "POST", "/v1/extracts", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "POST", "/v1/extracts");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_DENIED), XCHG_NETAUTH_WRONG_ROLE);
    assert_int_equal(check(v, &r, XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT), NOW, XCHG_OK),
                     XCHG_NETAUTH_OK);

    /* stale and future times: 300 s is the limit */
    assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/health", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "GET", "/v1/health");
    assert_int_equal(check(v, &r, AGENCY, NOW + 301, XCHG_ERR_VERIFY), XCHG_NETAUTH_STALE);
    assert_int_equal(check(v, &r, AGENCY, NOW - 301, XCHG_ERR_VERIFY), XCHG_NETAUTH_STALE);
    assert_int_equal(check(v, &r, AGENCY, NOW + 300, XCHG_OK), XCHG_NETAUTH_OK);

    /* missing and malformed headers */
    assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/health", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "GET", "/v1/health");
    r.signature = NULL;
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_FORMAT), XCHG_NETAUTH_MISSING);
    r = req_of(&h, "GET", "/v1/health");
    r.time = "17900000x0";
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_FORMAT), XCHG_NETAUTH_MALFORMED);
    r = req_of(&h, "GET", "/v1/health");
    r.nonce = "00";
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_FORMAT), XCHG_NETAUTH_MALFORMED);
    r = req_of(&h, "GET", "/v1/health");
    r.signature = "not base64!";
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_FORMAT), XCHG_NETAUTH_MALFORMED);
    assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/a\nb", NOW, NULL, &h), XCHG_ERR_ARG);
    xchg_netauth_free(v);
}

static void test_body_mismatch(void **state)
{
    (void)state;
    uint8_t signed_body[XCHG_SHA256_BYTES], got[XCHG_SHA256_BYTES];
    xchg_sha256("the whole extract", 17, signed_body);
    xchg_sha256("the whole extr", 14, got); /* truncated in transit */
    xchg_netauth_headers h;
    assert_int_equal(xchg_netauth_sign(police, "POST", "/v1/extracts", NOW, signed_body, &h),
                     XCHG_OK);
    xchg_netauth_reason why = XCHG_NETAUTH_OK;
    assert_int_equal(xchg_netauth_check_body(h.body_sha256, got, &why), XCHG_ERR_VERIFY);
    assert_int_equal(why, XCHG_NETAUTH_BODY_MISMATCH);
    assert_int_equal(xchg_netauth_check_body(h.body_sha256, signed_body, &why), XCHG_OK);
    assert_int_equal(xchg_netauth_check_body("zz", signed_body, &why), XCHG_ERR_VERIFY);
    /* the streaming hash equals the one-shot hash */
    xchg_sha256_stream *s = xchg_sha256_stream_new();
    xchg_sha256_stream_update(s, "the whole ", 10);
    xchg_sha256_stream_update(s, "extract", 7);
    uint8_t st[XCHG_SHA256_BYTES];
    xchg_sha256_stream_final(s, st);
    assert_memory_equal(st, signed_body, sizeof st);
}

static void test_cache_bounded(void **state)
{
    (void)state;
    xchg_netauth *v = NULL;
    assert_int_equal(xchg_netauth_new(pol, 4, &v), XCHG_OK);
    xchg_netauth_headers h;
    xchg_netauth_request r;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/health", NOW, NULL, &h), XCHG_OK);
        r = req_of(&h, "GET", "/v1/health");
        assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_OK), XCHG_NETAUTH_OK);
    }
    /* full of nonces still inside the window: refuse rather than forget one */
    assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/health", NOW, NULL, &h), XCHG_OK);
    r = req_of(&h, "GET", "/v1/health");
    assert_int_equal(check(v, &r, AGENCY, NOW, XCHG_ERR_DENIED), XCHG_NETAUTH_BUSY);
    /* once they have aged out of the window they are dropped and room is made */
    assert_int_equal(xchg_netauth_sign(police, "GET", "/v1/health", NOW + 400, NULL, &h), XCHG_OK);
    r = req_of(&h, "GET", "/v1/health");
    assert_int_equal(check(v, &r, AGENCY, NOW + 400, XCHG_OK), XCHG_NETAUTH_OK);
    xchg_netauth_free(v);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_then_replayed),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_body_mismatch),
        cmocka_unit_test(test_cache_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
