/* Known-answer tests for every primitive reached through libexchange's wrappers. */
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <exchange.h>
#include <string.h>

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    assert_int_equal(xchg_hex_decode(out, n, hex, strlen(hex)), XCHG_OK);
}

static void assert_hex(const uint8_t *got, size_t n, const char *hex)
{
    char buf[1024];
    assert_true(2 * n + 1 <= sizeof buf);
    xchg_hex_encode(buf, got, n);
    assert_string_equal(buf, hex);
}

/* RFC 4231 HMAC-SHA256 test cases 1-4, 6, 7 (case 5 is truncated output). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t key[131], data[200], out[32];
    /* 1 */
    memset(key, 0x0b, 20);
    xchg_hmac_sha256(key, 20, "Hi There", 8, out);
    assert_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* 2 */
    xchg_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
    assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* 3 */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    xchg_hmac_sha256(key, 20, data, 50, out);
    assert_hex(out, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* 4 */
    unhex(key, 25, "0102030405060708090a0b0c0d0e0f10111213141516171819");
    memset(data, 0xcd, 50);
    xchg_hmac_sha256(key, 25, data, 50, out);
    assert_hex(out, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* 6: key longer than the block size */
    memset(key, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    xchg_hmac_sha256(key, 131, m6, strlen(m6), out);
    assert_hex(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* 7 */
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    xchg_hmac_sha256(key, 131, m7, strlen(m7), out);
    assert_hex(out, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* FIPS 180-2 examples. */
static void test_sha256(void **state)
{
    (void)state;
    uint8_t out[32];
    xchg_sha256("abc", 3, out);
    assert_hex(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    xchg_sha256("", 0, out);
    assert_hex(out, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* RFC 5869 test cases 1-3 (SHA-256). */
static void test_hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[80], salt[80], info[80], okm[82];
    /* 1 */
    memset(ikm, 0x0b, 22);
    unhex(salt, 13, "000102030405060708090a0b0c");
    unhex(info, 10, "f0f1f2f3f4f5f6f7f8f9");
    assert_int_equal(xchg_hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42), XCHG_OK);
    assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                        "34007208d5b887185865");
    /* 2: long inputs */
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    assert_int_equal(xchg_hkdf_sha256(ikm, 80, salt, 80, info, 80, okm, 82), XCHG_OK);
    assert_hex(okm, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                        "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    /* 3: no salt, no info */
    memset(ikm, 0x0b, 22);
    assert_int_equal(xchg_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 42), XCHG_OK);
    assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                        "9d201395faa4b61a96c8");
    /* bad lengths */
    assert_int_equal(xchg_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 0), XCHG_ERR_ARG);
}

/* RFC 4648 section 10 vectors, and rejection of malformed text. */
static void test_base64(void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *exp[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        uint8_t back[16];
        size_t n = 0;
        xchg_base64_encode(out, in[i], strlen(in[i]));
        assert_string_equal(out, exp[i]);
        assert_int_equal(xchg_base64_decode(back, sizeof back, &n, out, strlen(out)), XCHG_OK);
        assert_int_equal(n, strlen(in[i]));
        assert_memory_equal(back, in[i], n);
    }
    uint8_t b[16];
    size_t n;
    assert_int_equal(xchg_base64_decode(b, sizeof b, &n, "Zm9v!", 5), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_base64_decode(b, sizeof b, &n, "Zg=", 3), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_base64_decode(b, 2, &n, "Zm9v", 4), XCHG_ERR_FORMAT);
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t b[2];
    assert_int_equal(xchg_hex_decode(b, 2, "aBcD", 4), XCHG_OK);
    assert_int_equal(b[0], 0xab);
    assert_int_equal(b[1], 0xcd);
    assert_int_equal(xchg_hex_decode(b, 2, "abc", 3), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_hex_decode(b, 2, "abcg", 4), XCHG_ERR_FORMAT);
}

/* RFC 8032 section 7.1 test 1 and 2 (Ed25519) through the key wrapper. */
static void test_ed25519_rfc8032(void **state)
{
    (void)state;
    uint8_t seed[32], sig[64], msg[1];
    xchg_seckey *k = NULL;
    unhex(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    assert_int_equal(xchg_seckey_from_seed(seed, "t1", &k), XCHG_OK);
    assert_hex(xchg_seckey_public(k)->sign_pk, 32,
               "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    xchg_sign(k, "", 0, sig);
    assert_hex(sig, 64, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    assert_int_equal(xchg_verify(xchg_seckey_public(k), "", 0, sig), XCHG_OK);
    sig[0] ^= 1;
    assert_int_equal(xchg_verify(xchg_seckey_public(k), "", 0, sig), XCHG_ERR_VERIFY);
    xchg_seckey_free(k);

    unhex(seed, 32, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    assert_int_equal(xchg_seckey_from_seed(seed, "t2", &k), XCHG_OK);
    assert_hex(xchg_seckey_public(k)->sign_pk, 32,
               "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    msg[0] = 0x72;
    xchg_sign(k, msg, 1, sig);
    assert_hex(sig, 64, "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
    msg[0] = 0x73;
    assert_int_equal(xchg_verify(xchg_seckey_public(k), msg, 1, sig), XCHG_ERR_VERIFY);
    xchg_seckey_free(k);
}

/* Sealed boxes: round trip; tampering, truncation and the wrong key are rejected. */
static void test_seal(void **state)
{
    (void)state;
    xchg_seckey *a = NULL, *b = NULL;
    assert_int_equal(xchg_seckey_generate("a", &a), XCHG_OK);
    assert_int_equal(xchg_seckey_generate("b", &b), XCHG_OK);
    const char msg[] = "linkage secret";
    uint8_t c[sizeof msg + XCHG_BOX_OVERHEAD], p[sizeof msg];
    assert_int_equal(xchg_box_seal(xchg_seckey_public(a), msg, sizeof msg, c), XCHG_OK);
    assert_int_equal(xchg_box_open(a, c, sizeof c, p), XCHG_OK);
    assert_memory_equal(p, msg, sizeof msg);
    assert_int_equal(xchg_box_open(b, c, sizeof c, p), XCHG_ERR_VERIFY);
    c[sizeof c - 1] ^= 0x80;
    assert_int_equal(xchg_box_open(a, c, sizeof c, p), XCHG_ERR_VERIFY);
    assert_int_equal(xchg_box_open(a, c, 10, p), XCHG_ERR_TRUNCATED);
    xchg_seckey_free(a);
    xchg_seckey_free(b);
}

static void test_dates(void **state)
{
    (void)state;
    int32_t d;
    char s[11];
    assert_int_equal(xchg_date_parse("1970-01-01", 10, &d), XCHG_OK);
    assert_int_equal(d, 0);
    assert_int_equal(xchg_date_parse("2000-03-01", 10, &d), XCHG_OK);
    assert_int_equal(d, 11017);
    assert_int_equal(xchg_date_parse("2024-02-29", 10, &d), XCHG_OK);
    xchg_date_format(d, s);
    assert_string_equal(s, "2024-02-29");
    /* the sentinels of an open-ended span and of no date are words (they once overflowed) */
    xchg_date_format(XCHG_DATE_OPEN, s);
    assert_string_equal(s, "open");
    xchg_date_format(XCHG_DATE_NONE, s);
    assert_string_equal(s, "none");
    assert_int_equal(xchg_date_parse("2023-02-29", 10, &d), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_date_parse("2023-13-01", 10, &d), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_date_parse("2023-1-01", 9, &d), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_date_parse("2023/01/01", 10, &d), XCHG_ERR_FORMAT);
    for (int32_t x = -20000; x < 60000; x += 37) {
        int y, m, dd;
        int32_t back;
        xchg_date_to_ymd(x, &y, &m, &dd);
        assert_int_equal(xchg_date_from_ymd(y, m, dd, &back), XCHG_OK);
        assert_int_equal(back, x);
    }
}

/* xchg_version: MAJOR.MINOR.PATCH, the project's version */
static void test_version(void **state)
{
    (void)state;
    unsigned a, b, c;
    char rest;
    assert_int_equal(sscanf(xchg_version(), "%u.%u.%u%c", &a, &b, &c, &rest), 3);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_hmac_rfc4231),  cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hkdf_rfc5869),  cmocka_unit_test(test_base64),
        cmocka_unit_test(test_hex),           cmocka_unit_test(test_ed25519_rfc8032),
        cmocka_unit_test(test_seal),          cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
