/* Linkage secret: only the owner makes it, only agencies open it, tampering is caught. */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "test_helpers.h"

static xchg_agreement *pol;

static int setup(void **state)
{
    (void)state;
    return t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) == XCHG_OK ? 0
                                                                                               : -1;
}

static int teardown(void **state)
{
    (void)state;
    xchg_agreement_free(pol);
    return 0;
}

static const char *make_secret(const char *name, uint32_t epoch)
{
    const char *path = tpath(name);
    unlink(path);
    xchg_seckey *owner = seed_key(1);
    assert_int_equal(xchg_secret_create(pol, owner, epoch, 1767225600, path, 0, NULL), XCHG_OK);
    xchg_seckey_free(owner);
    return path;
}

static void test_agencies_open_same_secret(void **state)
{
    (void)state;
    const char *path = make_secret("s1.xsec", 1);
    xchg_seckey *police = seed_key(2), *school = seed_key(3);
    xchg_secret *a = NULL, *b = NULL;
    assert_int_equal(xchg_secret_open(pol, police, path, &a, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(pol, school, path, &b, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_epoch(a), 1);
    assert_int_equal(xchg_secret_recipients(a), 2);
    char fa[33], fb[33];
    xchg_secret_fingerprint(a, fa);
    xchg_secret_fingerprint(b, fb);
    assert_string_equal(fa, fb);
    uint8_t ka[32], kb[32], kc[32];
    assert_int_equal(xchg_secret_derive(a, "match-key/nhs", ka, 32), XCHG_OK);
    assert_int_equal(xchg_secret_derive(b, "match-key/nhs", kb, 32), XCHG_OK);
    assert_memory_equal(ka, kb, 32);
    assert_int_equal(xchg_secret_derive(a, "match-key/upn", kc, 32), XCHG_OK);
    assert_memory_not_equal(ka, kc, 32);
    /* a second secret (new epoch) is independent */
    const char *p2 = make_secret("s2.xsec", 2);
    xchg_secret *c = NULL;
    assert_int_equal(xchg_secret_open(pol, police, p2, &c, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_epoch(c), 2);
    assert_int_equal(xchg_secret_derive(c, "match-key/nhs", kc, 32), XCHG_OK);
    assert_memory_not_equal(ka, kc, 32);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    xchg_secret_free(a);
    xchg_secret_free(b);
    xchg_secret_free(c);
    xchg_seckey_free(police);
    xchg_seckey_free(school);
}

static void test_matcher_and_recipient_refused(void **state)
{
    (void)state;
    const char *path = make_secret("s3.xsec", 1);
    for (int who = 4; who <= 7; who++) { /* matcher, recipient, ig (owner), outsider */
        xchg_seckey *k = seed_key(who);
        xchg_secret *s = NULL;
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(xchg_secret_open(pol, k, path, &s, d), XCHG_ERR_DENIED);
        assert_null(s);
        assert_diag_has(d, "is not a recipient of the linkage secret");
        xchg_diag_free(d);
        xchg_seckey_free(k);
    }
}

static void test_only_owner_creates(void **state)
{
    (void)state;
    xchg_seckey *police = seed_key(2);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_secret_create(pol, police, 1, 0, tpath("s4.xsec"), 1, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "only the agreement's owner ('ig') may create its linkage secret");
    assert_int_equal(access(tpath("s4.xsec"), F_OK), -1);
    xchg_diag_free(d);
    xchg_seckey_free(police);
}

static void test_tampering_detected(void **state)
{
    (void)state;
    const char *path = make_secret("s5.xsec", 1);
    size_t len;
    char *orig = slurp(path, &len);
    char *b64 = strstr(orig, "xsec1:") + 6;
    size_t bl = strcspn(b64, "\n");
    const char *bad = tpath("s5-bad.xsec");
    xchg_seckey *police = seed_key(2);
    for (size_t i = 0; i + 2 < bl; i += 3) {
        char *c = malloc(len + 1);
        memcpy(c, orig, len + 1);
        size_t at = (size_t)(b64 - orig) + i;
        c[at] = c[at] == 'A' ? 'B' : 'A';
        spit(bad, c, len);
        xchg_secret *s = NULL;
        xchg_err e = xchg_secret_open(pol, police, bad, &s, NULL);
        if (e == XCHG_OK)
            fail_msg("change at base64 offset %zu not detected", i);
        assert_null(s);
        free(c);
    }
    /* truncated */
    spit(bad, orig, (size_t)(b64 - orig) + bl / 2);
    xchg_secret *s = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_not_equal(xchg_secret_open(pol, police, bad, &s, d), XCHG_OK);
    assert_true(xchg_diag_count(d) > 0);
    xchg_diag_free(d);
    free(orig);
    xchg_seckey_free(police);
}

static void test_other_agreement_refused(void **state)
{
    (void)state;
    const char *path = make_secret("s6.xsec", 1);
    size_t n;
    char *base = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &n);
    char *at = strstr(base, "id: test-agreement");
    memcpy(at, "id: test-agreemenz", 18);
    xchg_agreement *other = NULL;
    assert_int_equal(t_agreement_parse(base, n, "other.yaml", &other, NULL), XCHG_OK);
    xchg_seckey *police = seed_key(2);
    xchg_secret *s = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_secret_open(other, police, path, &s, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "linkage secret belongs to agreement 'test-agreement', not 'test-agreemenz'");
    xchg_diag_free(d);
    xchg_seckey_free(police);
    xchg_agreement_free(other);
    free(base);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agencies_open_same_secret),
        cmocka_unit_test(test_matcher_and_recipient_refused),
        cmocka_unit_test(test_only_owner_creates),
        cmocka_unit_test(test_tampering_detected),
        cmocka_unit_test(test_other_agreement_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
