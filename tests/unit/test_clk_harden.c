/* CLK hardening (libexchange/agency/clk_harden.c) and token bucketing
 * (libexchange/agency/token_flatten.c): known answers, the encoder path, the agreement's
 * fuzzy.hardening round trip and its errors. */
#include "token_flatten.h"

#ifndef PERMUTE_KAT_1985
#define PERMUTE_KAT_1985 "0080048000a00e00"
#define PERMUTE_KAT_1986 "4080005000002c04"
#define BLIP_KAT_025 "0d00035126420812"
#endif

#include <exchange.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static const uint8_t one_bit_per_byte[8] = {0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01};

/* Known answers: key = 00 01 .. 1f, salt "1985", l = 64; pinned from this implementation
 * of the construction documented in clk.h (BLAKE2b-256 seed, ChaCha20 stream,
 * Fisher-Yates with 8 big-endian bytes per step). */
static void test_permute_kat(void **state)
{
    (void)state;
    uint8_t key[32], f[8];
    char h[17];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    memcpy(f, one_bit_per_byte, 8);
    assert_int_equal(xchg_clk_permute(f, 64, key, "1985", 4), XCHG_OK);
    hex(f, 8, h);
    assert_string_equal(h, PERMUTE_KAT_1985);
    memcpy(f, one_bit_per_byte, 8);
    assert_int_equal(xchg_clk_permute(f, 64, key, "1986", 4), XCHG_OK);
    hex(f, 8, h);
    assert_string_equal(h, PERMUTE_KAT_1986);
    /* a permutation: every single bit lands on a distinct position, weight kept */
    int seen[64] = {0};
    for (size_t i = 0; i < 64; i++) {
        uint8_t g[8] = {0};
        g[i / 8] = (uint8_t)(0x80u >> (i % 8));
        assert_int_equal(xchg_clk_permute(g, 64, key, "1985", 4), XCHG_OK);
        size_t pc = xchg_clk_popcount(g, 8), pos = 64;
        assert_int_equal(pc, 1);
        for (size_t j = 0; j < 64; j++)
            if (g[j / 8] & (0x80u >> (j % 8)))
                pos = j;
        assert_false(seen[pos]);
        seen[pos] = 1;
    }
    /* l not a multiple of 8: the unused low bits stay zero */
    uint8_t g[2] = {0xff, 0xe0};
    assert_int_equal(xchg_clk_permute(g, 11, key, "x", 1), XCHG_OK);
    assert_int_equal(xchg_clk_popcount(g, 2), 11);
    assert_int_equal(g[1] & 0x1f, 0);
    assert_int_equal(xchg_clk_permute(g, 1, key, "x", 1), XCHG_ERR_ARG);
    assert_int_equal(xchg_clk_permute(NULL, 64, key, "x", 1), XCHG_ERR_ARG);
}

static void test_blip_kat(void **state)
{
    (void)state;
    uint8_t seed[32], f[8] = {0};
    char h[17];
    memset(seed, 0x42, sizeof seed);
    assert_int_equal(xchg_clk_blip(f, 64, 0.25, seed), XCHG_OK);
    hex(f, 8, h);
    assert_string_equal(h, BLIP_KAT_025);
    /* flipping is XOR with the same mask: applying it twice restores the filter */
    assert_int_equal(xchg_clk_blip(f, 64, 0.25, seed), XCHG_OK);
    for (int i = 0; i < 8; i++)
        assert_int_equal(f[i], 0);
    /* p = 0 changes nothing; p >= 0.5 and p < 0 are refused */
    memcpy(f, one_bit_per_byte, 8);
    assert_int_equal(xchg_clk_blip(f, 64, 0.0, seed), XCHG_OK);
    assert_memory_equal(f, one_bit_per_byte, 8);
    assert_int_equal(xchg_clk_blip(f, 64, 0.5, seed), XCHG_ERR_ARG);
    assert_int_equal(xchg_clk_blip(f, 64, -0.1, seed), XCHG_ERR_ARG);
    /* the flip rate over many bits is p */
    size_t l = 65536;
    uint8_t *big = calloc(l / 8, 1);
    assert_non_null(big);
    assert_int_equal(xchg_clk_blip(big, l, 0.05, seed), XCHG_OK);
    size_t pc = xchg_clk_popcount(big, l / 8);
    assert_true(pc > 3000 && pc < 3550); /* 3277 expected, 5 sigma */
    free(big);
}

static const char schema[] =
    "{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"HKDF\",\"hash\":\"SHA256\","
    "\"info\":\"\",\"salt\":\"\",\"keySize\":64}},\"features\":["
    "{\"identifier\":\"name\",\"format\":{\"type\":\"string\",\"encoding\":\"utf-8\"},"
    "\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},\"strategy\":{\"bitsPerFeature\":"
    "200},\"hash\":{\"type\":\"blakeHash\"}}},"
    "{\"identifier\":\"dob\",\"format\":{\"type\":\"string\",\"encoding\":\"utf-8\"},"
    "\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":1,\"positional\":true},"
    "\"strategy\":{\"bitsPerFeature\":100},\"hash\":{\"type\":\"blakeHash\"}}}]}";

static void encode(const xchg_clk_hardening *h, const char *name, const char *dob, uint8_t *out)
{
    xchg_clk_schema *s = NULL;
    xchg_clk_encoder *enc = NULL;
    xchg_diag *d = xchg_diag_new();
    uint8_t secret[32];
    memset(secret, 3, sizeof secret);
    assert_int_equal(xchg_clk_schema_parse_json(schema, strlen(schema), &s, d), XCHG_OK);
    assert_int_equal(xchg_clk_encoder_new(s, secret, sizeof secret, &enc), XCHG_OK);
    if (h)
        assert_int_equal(xchg_clk_encoder_harden(enc, h, secret, sizeof secret, d), XCHG_OK);
    const char *fields[2] = {name, dob};
    size_t lens[2] = {strlen(name), strlen(dob)};
    assert_int_equal(xchg_clk_encode(enc, fields, lens, 2, out, d), XCHG_OK);
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
    xchg_diag_free(d);
}

/* The encoder's salted permutation is exactly xchg_clk_permute of the plain filter under
 * the documented key, salted with the first salt_chars bytes of the feature. */
static void test_encoder_salt(void **state)
{
    (void)state;
    uint8_t plain[128], salted[128], other[128], key[32], secret[32];
    static const char ctx[] = "exchange clk salted permutation v1";
    memset(secret, 3, sizeof secret);
    crypto_generichash(key, 32, (const unsigned char *)ctx, sizeof ctx - 1, secret, 32);
    xchg_clk_hardening h = {"dob", 4, 0.0};
    encode(NULL, "natalie", "19821207", plain);
    encode(&h, "natalie", "19821207", salted);
    assert_memory_not_equal(plain, salted, 128);
    assert_int_equal(xchg_clk_permute(plain, 1024, key, "1982", 4), XCHG_OK);
    assert_memory_equal(plain, salted, 128);
    /* same year: the Dice of two records is unchanged; another year: unrelated bits */
    uint8_t a[128], b[128], pa[128], pb[128];
    encode(NULL, "natalie", "19821207", pa);
    encode(NULL, "nathalie", "19821208", pb);
    encode(&h, "natalie", "19821207", a);
    encode(&h, "nathalie", "19821208", b);
    assert_true(xchg_clk_dice(a, b, 128) == xchg_clk_dice(pa, pb, 128));
    encode(&h, "natalie", "19831207", other);
    assert_true(xchg_clk_dice(a, other, 128) < 0.7);
    /* an unknown feature and an out-of-range blip are refused, naming the problem */
    xchg_clk_schema *s = NULL;
    xchg_clk_encoder *enc = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_clk_schema_parse_json(schema, strlen(schema), &s, d), XCHG_OK);
    assert_int_equal(xchg_clk_encoder_new(s, secret, 32, &enc), XCHG_OK);
    xchg_clk_hardening bad = {"postcode", 0, 0.0};
    assert_int_equal(xchg_clk_encoder_harden(enc, &bad, secret, 32, d), XCHG_ERR_POLICY);
    assert_non_null(strstr(xchg_diag_message(d, 0), "'postcode'"));
    xchg_clk_hardening bad2 = {NULL, 0, 0.7};
    assert_int_equal(xchg_clk_encoder_harden(enc, &bad2, secret, 32, d), XCHG_ERR_POLICY);
    /* BLIP through the encoder: two encodings of one record differ by about 2p l bits */
    xchg_clk_hardening bl = {NULL, 0, 0.02};
    assert_int_equal(xchg_clk_encoder_harden(enc, &bl, secret, 32, d), XCHG_OK);
    const char *fields[2] = {"natalie", "19821207"};
    size_t lens[2] = {7, 8};
    assert_int_equal(xchg_clk_encode(enc, fields, lens, 2, a, d), XCHG_OK);
    assert_int_equal(xchg_clk_encode(enc, fields, lens, 2, b, d), XCHG_OK);
    size_t diff = 0;
    for (int i = 0; i < 128; i++)
        diff += (size_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    assert_true(diff > 10 && diff < 90); /* 40 expected */
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
    xchg_diag_free(d);
}

static void test_token_bucket(void **state)
{
    (void)state;
    xchg_token t;
    for (int i = 0; i < XCHG_TOKEN_BYTES; i++)
        t.value[i] = 0xff;
    assert_int_equal(xchg__token_bucket(&t, 12), 0);
    assert_int_equal(t.value[0], 0xff);
    assert_int_equal(t.value[1], 0xf0);
    for (int i = 2; i < XCHG_TOKEN_BYTES; i++)
        assert_int_equal(t.value[i], 0);
    assert_int_equal(xchg__token_bucket(&t, 0), -1);
    assert_int_equal(xchg__token_bucket(&t, 257), -1);
    assert_int_equal(xchg__token_bucket_bits(1000, 16), 6);   /* 64 * 16 >= 1000 */
    assert_int_equal(xchg__token_bucket_bits(1024, 16), 6);
    assert_int_equal(xchg__token_bucket_bits(1025, 16), 7);
    assert_int_equal(xchg__token_bucket_bits(3, 16), 1);
}

/* fuzzy.hardening in an agreement: parsed into the policy, and every error names the
 * file, line and key. */
static char *policy_text(const char *hardening)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/policy/base.yaml", XCHG_TEST_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    static const char fuzzy[] =
        "fuzzy:\n"
        "  threshold: 0.9\n"
        "  blocking:\n"
        "    - [\"surname:phonetic\", \"dob:year\"]\n"
        "  clk_schema:\n"
        "    version: 3\n"
        "    clkConfig: {l: 1024, kdf: {type: HKDF, hash: SHA256, info: '', salt: '', "
        "keySize: 64}}\n"
        "    features:\n"
        "      - identifier: forename\n"
        "        format: {type: string, encoding: utf-8}\n"
        "        hashing: {comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 200}, "
        "hash: {type: blakeHash}}\n"
        "      - identifier: dob\n"
        "        format: {type: date, format: '%Y-%m-%d'}\n"
        "        hashing: {comparison: {type: ngram, n: 1, positional: true}, strategy: "
        "{bitsPerFeature: 200}, hash: {type: blakeHash}}\n"
        "  one_to_one: true\n";
    size_t total = n + sizeof fuzzy + strlen(hardening) + 2;
    char *out = malloc(total);
    assert_non_null(out);
    snprintf(out, total, "%s%s%s%s", buf, n && buf[n - 1] != '\n' ? "\n" : "", fuzzy, hardening);
    return out;
}

static void test_policy_round_trip(void **state)
{
    (void)state;
    xchg_policy *p = NULL;
    xchg_diag *d = xchg_diag_new();
    char *t = policy_text("  hardening:\n    salt: {feature: dob, chars: 4}\n    blip: 0.01\n");
    xchg_err pe = xchg_policy_parse(t, strlen(t), "h.yaml", &p, d);
    for (size_t k = 0; pe != XCHG_OK && k < xchg_diag_count(d); k++)
        print_error("%s\n", xchg_diag_text(d, k));
    assert_int_equal(pe, XCHG_OK);
    const xchg_policy_data *pd = xchg_policy_get(p);
    assert_string_equal(pd->fuzzy.harden_salt, "dob");
    assert_int_equal(pd->fuzzy.harden_salt_chars, 4);
    assert_true(pd->fuzzy.harden_blip == 0.01);
    xchg_policy_free(p);
    free(t);
    t = policy_text("");
    p = NULL;
    assert_int_equal(xchg_policy_parse(t, strlen(t), "h.yaml", &p, d), XCHG_OK);
    assert_null(xchg_policy_get(p)->fuzzy.harden_salt);
    assert_true(xchg_policy_get(p)->fuzzy.harden_blip == 0.0);
    xchg_policy_free(p);
    free(t);
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"  hardening:\n    salt: {feature: shoe_size}\n", "salt feature 'shoe_size' is not a feature"},
        {"  hardening:\n    salt: {feature: dob, chars: 0}\n", "'chars' must be a whole number"},
        {"  hardening:\n    blip: 0.5\n", "'blip' must be a bit-flip probability"},
        {"  hardening:\n    pepper: 1\n", "pepper"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xchg_diag_clear(d);
        t = policy_text(bad[i].yaml);
        p = NULL;
        assert_int_equal(xchg_policy_parse(t, strlen(t), "h.yaml", &p, d), XCHG_ERR_POLICY);
        int found = 0;
        for (size_t k = 0; k < xchg_diag_count(d); k++)
            if (strstr(xchg_diag_text(d, k), bad[i].msg) && strstr(xchg_diag_text(d, k), "h.yaml:"))
                found = 1;
        if (!found)
            fail_msg("case %zu: no error with '%s': %s", i, bad[i].msg,
                     xchg_diag_count(d) ? xchg_diag_text(d, 0) : "(none)");
        free(t);
    }
    xchg_diag_free(d);
}

/* A blocking key of a single low-entropy attribute gives its values away to frequency
 * alignment (docs/attacks.md): the parser warns, naming the file, line and key, and still
 * accepts the agreement; keys that combine parts, or one high-entropy part, pass silently. */
static void test_weak_blocking_warned(void **state)
{
    (void)state;
    char *base = policy_text("");
    static const char one[] = "    - [\"surname:phonetic\", \"dob:year\"]\n";
    static const char many[] = "    - [\"surname:phonetic\"]\n"
                               "    - [\"surname:phonetic\", \"dob:year\"]\n"
                               "    - [dob]\n"
                               "    - [\"dob:year\"]\n"
                               "    - [postcode]\n"
                               "    - [\"postcode:sector\"]\n"
                               "    - [forename]\n"
                               "    - [upn]\n";
    char *at = strstr(base, one);
    assert_non_null(at);
    size_t total = strlen(base) + sizeof many;
    char *t = malloc(total);
    assert_non_null(t);
    snprintf(t, total, "%.*s%s%s", (int)(at - base), base, many, at + strlen(one));
    xchg_policy *p = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err pe = xchg_policy_parse(t, strlen(t), "h.yaml", &p, d);
    for (size_t k = 0; pe != XCHG_OK && k < xchg_diag_count(d); k++)
        print_error("%s\n", xchg_diag_text(d, k));
    assert_int_equal(pe, XCHG_OK);
    assert_int_equal(xchg_policy_get(p)->fuzzy.nblocking, 8);
    /* the line of the first blocking key, counted in the text */
    unsigned line = 1;
    for (const char *q = t; q < strstr(t, many); q++)
        line += *q == '\n';
    char want[512];
    snprintf(want, sizeof want,
             "h.yaml:%u:7: warning: blocking key 1 is the single low-entropy attribute "
             "'surname:phonetic': the matcher can recover its value from the tokens' "
             "frequencies (docs/attacks.md); combine it with another part, e.g. a name code "
             "with a date part",
             line);
    int first = 0;
    size_t nwarn = 0;
    char seen[16] = "";
    for (size_t k = 0; k < xchg_diag_count(d); k++) {
        const char *m = xchg_diag_text(d, k);
        if (!strstr(m, "low-entropy"))
            continue;
        nwarn++;
        first |= strcmp(m, want) == 0;
        const char *n = strstr(m, "blocking key ");
        if (n && strlen(seen) + 2 < sizeof seen)
            seen[strlen(seen)] = n[13];
    }
    if (!first)
        fail_msg("no warning '%s'", want);
    assert_int_equal(nwarn, 4);
    assert_string_equal(seen, "1467"); /* Soundex alone, year alone, sector alone, a name */
    xchg_policy_free(p);
    xchg_diag_free(d);
    free(t);
    /* the example agreements' keys raise no such warning */
    p = NULL;
    d = xchg_diag_new();
    assert_int_equal(xchg_policy_parse(base, strlen(base), "h.yaml", &p, d), XCHG_OK);
    for (size_t k = 0; k < xchg_diag_count(d); k++)
        assert_null(strstr(xchg_diag_text(d, k), "low-entropy"));
    xchg_policy_free(p);
    xchg_diag_free(d);
    free(base);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permute_kat),   cmocka_unit_test(test_blip_kat),
        cmocka_unit_test(test_encoder_salt),  cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_policy_round_trip),
        cmocka_unit_test(test_weak_blocking_warned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
