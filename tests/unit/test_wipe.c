/*
 * Secrets are wiped: every secret the library holds (secret keys, a key file's text and
 * decoded body, the linkage secret, the store key) lives in sodium_malloc memory and is
 * released through sodium_free, which zeroes it before unmapping. This test wraps both
 * (-Wl,--wrap, see tests/CMakeLists.txt) to watch the library's own wipe path: the
 * secret bytes are seen in a guarded buffer while the handle lives, every guarded buffer
 * made is freed through sodium_free when the handle is, and none outlive it.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <sodium.h>

void *__real_sodium_malloc(size_t size);
void __real_sodium_free(void *ptr);
void *__wrap_sodium_malloc(size_t size);
void __wrap_sodium_free(void *ptr);

#define MAXLIVE 256
static struct {
    void *p;
    size_t n;
} live[MAXLIVE];
static size_t nlive, made, freed;
static uint8_t needle[32];
static size_t needle_len;
static int needle_seen; /* the secret was in a guarded buffer when it was freed */

static int contains(const uint8_t *hay, size_t n, const uint8_t *pin, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, pin, m) == 0)
            return 1;
    return 0;
}

void *__wrap_sodium_malloc(size_t size)
{
    void *p = __real_sodium_malloc(size);
    if (p && nlive < MAXLIVE) {
        live[nlive].p = p;
        live[nlive].n = size;
        nlive++;
        made++;
    }
    return p;
}

void __wrap_sodium_free(void *ptr)
{
    if (ptr) {
        for (size_t i = 0; i < nlive; i++)
            if (live[i].p == ptr) {
                if (needle_len && live[i].n >= needle_len &&
                    contains(ptr, live[i].n, needle, needle_len))
                    needle_seen = 1;
                live[i] = live[--nlive];
                freed++;
                break;
            }
    }
    __real_sodium_free(ptr); /* zeroes, then releases */
}

static void reset(const void *secret, size_t len)
{
    made = freed = 0;
    needle_seen = 0;
    needle_len = len;
    if (len)
        memcpy(needle, secret, len);
}

/* A secret key made, saved, loaded and freed: its secret (the Ed25519 seed) is only ever
 * in guarded memory that goes through the wipe path. */
static void test_seckey(void **state)
{
    (void)state;
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    size_t base = nlive;
    reset(seed, sizeof seed);
    xchg_seckey *k = seed_key(7);
    assert_true(nlive > base); /* the key lives in guarded memory */
    const char *path = tpath("wipe.key");
    unlink(path);
    assert_int_equal(xchg_seckey_save(k, path, NULL, 0, NULL, 1, NULL), XCHG_OK);
    xchg_seckey_free(k);
    assert_int_equal(nlive, base);
    assert_int_equal(made, freed);
    assert_true(needle_seen);

    reset(seed, sizeof seed);
    k = NULL;
    assert_int_equal(xchg_seckey_load(path, NULL, 0, &k, NULL), XCHG_OK);
    assert_int_equal(nlive, base + 1); /* only the key itself outlives the load */
    xchg_seckey_free(k);
    assert_int_equal(nlive, base);
    assert_int_equal(made, freed);
    assert_true(needle_seen);
    unlink(path);

    /* a failed load (damaged file) leaves nothing behind either */
    spit(path, "untrusted comment: x\nxsk1:AAAA\n", 31);
    reset(NULL, 0);
    assert_int_not_equal(xchg_seckey_load(path, NULL, 0, &k, NULL), XCHG_OK);
    assert_int_equal(nlive, base);
    unlink(path);
}

/* The linkage secret opened by an agency, and the store key. */
static void test_secret_and_store_key(void **state)
{
    (void)state;
    xchg_agreement *pol = NULL;
    assert_int_equal(t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL),
                     XCHG_OK);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2);
    const char *sp = tpath("wipe.xsec");
    unlink(sp);
    size_t base = nlive;
    reset(NULL, 0);
    assert_int_equal(xchg_secret_create(pol, owner, 1, 0, sp, 1, NULL), XCHG_OK);
    assert_int_equal(nlive, base); /* the new secret is wiped once sealed to the agencies */
    assert_int_equal(made, freed);
    assert_true(made > 0);
    xchg_secret *s = NULL;
    reset(NULL, 0);
    assert_int_equal(xchg_secret_open(pol, police, sp, &s, NULL), XCHG_OK);
    assert_true(nlive > base);
    xchg_secret_free(s);
    assert_int_equal(nlive, base);
    assert_int_equal(made, freed);

    xchg_store_key *sk = NULL;
    reset(NULL, 0);
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    assert_true(nlive > base);
    xchg_store_key_free(sk);
    assert_int_equal(nlive, base);
    assert_int_equal(made, freed);

    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_agreement_free(pol);
    unlink(sp);
}

/* xchg_wipe, the helper for secrets outside guarded memory, zeroes every byte. */
static void test_wipe_helper(void **state)
{
    (void)state;
    uint8_t buf[97], zero[97] = {0};
    memset(buf, 0xA5, sizeof buf);
    xchg_wipe(buf, sizeof buf);
    assert_memory_equal(buf, zero, sizeof buf);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seckey),
        cmocka_unit_test(test_secret_and_store_key),
        cmocka_unit_test(test_wipe_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
