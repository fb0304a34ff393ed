/* The attacks of bench/attack/ on a small fixture (docs/attacks.md): a synthetic
 * population drawn from the public name list, encoded with the phase-1 CLK layout
 * (forename, surname bigrams; positional date of birth), attacked without and with each
 * hardening. Each case asserts that the unhardened encoding is broken (so the attack is
 * real) and that the hardened one is not (re-identification below 1 %). */
#include "attack.h"
#include "token_flatten.h"

#include <exchange.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static size_t NREC = 2000;
#define NMAX 50000
#define R90_PIN "bc0140008a802802" /* regression pin of the bench key, not an independent vector */
#define L 1024

static const char schema[] =
    "{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"HKDF\",\"hash\":\"SHA256\","
    "\"info\":\"ZXhjaGFuZ2UgY2xr\",\"salt\":\"3m4ZUmGyO4fQ8ml3b8kKqJ1Wq7yQqUy7dm+7rEAN1S0=\","
    "\"keySize\":64}},\"features\":["
    "{\"identifier\":\"forename\",\"format\":{\"type\":\"string\",\"encoding\":\"utf-8\"},"
    "\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},\"strategy\":{\"bitsPerFeature\":"
    "200},\"hash\":{\"type\":\"blakeHash\"}}},"
    "{\"identifier\":\"surname\",\"format\":{\"type\":\"string\",\"encoding\":\"utf-8\"},"
    "\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},\"strategy\":{\"bitsPerFeature\":"
    "200},\"hash\":{\"type\":\"blakeHash\"}}},"
    "{\"identifier\":\"dob\",\"format\":{\"type\":\"string\",\"encoding\":\"utf-8\"},"
    "\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":1,\"positional\":true},"
    "\"strategy\":{\"bitsPerFeature\":200},\"hash\":{\"type\":\"blakeHash\"}}}]}";

struct fixture {
    att_list lists[3];
    long truth[NMAX][2];
    char dob[NMAX][40];
};
static struct fixture fx;

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static long draw(const att_list *l)
{
    double t = 0;
    for (size_t i = 0; i < l->n; i++)
        t += l->w[i];
    double u = urand() * t;
    for (size_t i = 0; i < l->n; i++)
        if ((u -= l->w[i]) < 0)
            return (long)i;
    return (long)l->n - 1;
}

static int setup(void **state)
{
    (void)state;
    if (getenv("ATT_N"))
        NREC = (size_t)atol(getenv("ATT_N"));
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/bench/attack/public-names.csv", XCHG_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *k = strtok(line, ","), *v = strtok(NULL, ","), *w = strtok(NULL, "\n");
        if (!k || !v || !w || strcmp(k, "kind") == 0)
            continue;
        char norm[256];
        if (xchg_norm_name(v, strlen(v), XCHG_NAME_MATCH, norm, sizeof norm) != XCHG_OK || !*norm)
            continue;
        att_list_add(&fx.lists[strcmp(k, "surname") == 0], norm, atof(w));
    }
    fclose(f);
    /* the county's age structure as the attacker knows it: here births uniform over
     * 1940-2019, every calendar day alike */
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    fx.lists[2].positional = 1;
    fx.lists[2].model_only = 1;
    for (int y = 1940; y < 2020; y++)
        for (int m = 1; m <= 12; m++)
            for (int dd = 1; dd <= mdays[m - 1]; dd++) {
                char v[40];
                snprintf(v, sizeof v, "%04d%02d%02d", y, m, dd);
                att_list_add_new(&fx.lists[2], v, 1.0);
            }
    for (size_t r = 0; r < NREC; r++) {
        fx.truth[r][0] = draw(&fx.lists[0]);
        fx.truth[r][1] = draw(&fx.lists[1]);
        snprintf(fx.dob[r], sizeof fx.dob[r], "%04d%02d%02d", 1940 + (int)(urand() * 80),
                 1 + (int)(urand() * 12), 1 + (int)(urand() * 28));
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    att_list_free(&fx.lists[0]);
    att_list_free(&fx.lists[1]);
    att_list_free(&fx.lists[2]);
    return 0;
}

/* Encode the fixture under h (NULL: plain); returns NREC filters. */
static uint8_t *encode_all(const xchg_clk_hardening *h)
{
    xchg_clk_schema *s = NULL;
    xchg_clk_encoder *enc = NULL;
    xchg_diag *d = xchg_diag_new();
    uint8_t secret[32];
    memset(secret, 7, sizeof secret);
    xchg_err e = xchg_clk_schema_parse_json(schema, strlen(schema), &s, d);
    if (e != XCHG_OK)
        print_error("%s\n", xchg_diag_count(d) ? xchg_diag_message(d, 0) : "?");
    assert_int_equal(e, XCHG_OK);
    assert_int_equal(xchg_clk_encoder_new(s, secret, sizeof secret, &enc), XCHG_OK);
    if (h)
        assert_int_equal(xchg_clk_encoder_harden(enc, h, secret, sizeof secret, d), XCHG_OK);
    uint8_t *out = malloc((size_t)NREC * L / 8);
    assert_non_null(out);
    for (size_t r = 0; r < NREC; r++) {
        const char *fields[3] = {fx.lists[0].v[fx.truth[r][0]], fx.lists[1].v[fx.truth[r][1]],
                                 fx.dob[r]};
        size_t lens[3] = {strlen(fields[0]), strlen(fields[1]), strlen(fields[2])};
        assert_int_equal(xchg_clk_encode(enc, fields, lens, 3, out + r * L / 8, d), XCHG_OK);
    }
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
    xchg_diag_free(d);
    return out;
}

static const char *truth_of(size_t r, size_t f, void *ctx)
{
    (void)ctx;
    return f == 2 ? fx.dob[r] : fx.lists[f].v[fx.truth[r][f]];
}
struct pat_result {
    double reid;   /* forename and surname both right */
    size_t qgrams; /* mined patterns that are one true q-gram */
    size_t npat;
};

static struct pat_result pattern_attack(const uint8_t *clks)
{
    struct pat_result res = {0, 0, 0};
    long *guess = malloc(NREC * 3 * sizeof *guess);
    assert_non_null(guess);
    size_t nassigned = 0;
    long np = att_clk_pattern(clks, NREC, L, L / 8, fx.lists, 3, guess, &nassigned, truth_of,
                              NULL, &res.qgrams);
    assert_true(np >= 0);
    res.npat = (size_t)np;
    size_t hit = 0, h0 = 0, h1 = 0;
    for (size_t r = 0; r < NREC; r++) {
        hit += guess[3 * r] == fx.truth[r][0] && guess[3 * r + 1] == fx.truth[r][1];
        h0 += guess[3 * r] == fx.truth[r][0];
        h1 += guess[3 * r + 1] == fx.truth[r][1];
    }
    printf("  forename right %.4f, surname right %.4f\n", (double)h0 / (double)NREC,
           (double)h1 / (double)NREC);
    free(guess);
    res.reid = (double)hit / (double)NREC;
    return res;
}

/* Mining finds the bit patterns of single q-grams in the plain CLKs -- the step every
 * pattern-mining attack builds on -- and none once the bits are permuted per birth year;
 * with the permutation, re-identification is below 1 %. */
static void test_pattern_plain_vs_salted(void **state)
{
    (void)state;
    uint8_t *plain = encode_all(NULL);
    struct pat_result p = pattern_attack(plain);
    printf("attack clk-pattern (plain): %zu patterns, %zu single q-grams, reidentified %.4f\n",
           p.npat, p.qgrams, p.reid);
    xchg_clk_hardening h = {"dob", 4, 0.0};
    uint8_t *salted = encode_all(&h);
    struct pat_result q = pattern_attack(salted);
    printf("attack clk-pattern (salted by year): %zu patterns, %zu single q-grams, "
           "reidentified %.4f\n", q.npat, q.qgrams, q.reid);
    assert_true(p.qgrams >= 30); /* the attack is real on the plain encoding */
    assert_true(q.qgrams <= 1);
    assert_true(q.reid < 0.01);
    free(plain);
    free(salted);
}

/* Kuzu-style frequency alignment of blocking tokens with the public surname list and
 * the age structure, on NTOK synthetic (surname, year) pairs. A key of one low-entropy
 * attribute (Soundex of the surname) gives the commonest values away and bucketing only
 * halves that (a bucket's commonest value is still guessed); the agreements' key
 * (Soundex + year of birth) is not broken, plain or bucketed. */
#define NTOK 20000
static double token_attack(int with_year, unsigned bits, const long (*who)[2], const int *year)
{
    uint8_t key[32];
    memset(key, 9, sizeof key);
    att_list pub = {0};
    for (size_t i = 0; i < fx.lists[1].n; i++) {
        char sx[5];
        if (xchg_norm_soundex(fx.lists[1].v[i], sx) != XCHG_OK)
            continue;
        for (int y = 1940; y < (with_year ? 2020 : 1941); y++) {
            char v[32];
            snprintf(v, sizeof v, with_year ? "%s|%d" : "%s", sx, y);
            att_list_add(&pub, v, fx.lists[1].w[i]);
        }
    }
    uint8_t *vals = malloc(NTOK * XCHG_TOKEN_BYTES);
    char (*tv)[32] = malloc(NTOK * sizeof *tv);
    long *guess = malloc(NTOK * sizeof *guess);
    assert_true(vals && tv && guess);
    for (size_t r = 0; r < NTOK; r++) {
        char sx[5];
        xchg_token t;
        assert_int_equal(xchg_norm_soundex(fx.lists[1].v[who[r][1]], sx), XCHG_OK);
        snprintf(tv[r], sizeof tv[r], with_year ? "%s|%d" : "%s", sx, year[r]);
        /* a keyed token, as token.c makes one (the attack never sees the key) */
        crypto_generichash(t.value, XCHG_TOKEN_BYTES, (const unsigned char *)tv[r],
                           strlen(tv[r]), key, sizeof key);
        if (bits)
            assert_int_equal(xchg__token_bucket(&t, bits), 0);
        memcpy(vals + r * XCHG_TOKEN_BYTES, t.value, XCHG_TOKEN_BYTES);
    }
    assert_int_equal(att_freq_align(vals, NTOK, XCHG_TOKEN_BYTES, &pub, 2, guess), 0);
    size_t hit = 0;
    for (size_t r = 0; r < NTOK; r++)
        hit += guess[r] >= 0 && strcmp(pub.v[guess[r]], tv[r]) == 0;
    free(vals), free(tv), free(guess);
    att_list_free(&pub);
    return (double)hit / NTOK;
}

static void test_token_frequency(void **state)
{
    (void)state;
    long (*who)[2] = malloc(NTOK * sizeof *who);
    int *year = malloc(NTOK * sizeof *year);
    assert_true(who && year);
    for (size_t r = 0; r < NTOK; r++) {
        who[r][0] = 0;
        who[r][1] = draw(&fx.lists[1]);
        year[r] = 1940 + (int)(urand() * 80);
    }
    double a = token_attack(0, 0, (const long(*)[2])who, year);
    double b = token_attack(0, xchg__token_bucket_bits(130, 16), (const long(*)[2])who, year);
    double c = token_attack(1, 0, (const long(*)[2])who, year);
    double d = token_attack(1, xchg__token_bucket_bits(130 * 80, 16), (const long(*)[2])who, year);
    printf("attack token-frequency: soundex %.4f, bucketed %.4f; soundex+year %.4f, "
           "bucketed %.4f\n", a, b, c, d);
    assert_true(a >= 0.10);
    assert_true(b < a);
    assert_true(c < 0.01);
    assert_true(d < 0.01);
    free(who);
    free(year);
}

/* The attacker's model of a multi-part key: the top values of a product of independent
 * parts, in descending order, exactly as listing the whole product and sorting it would
 * give them; an any_order pair's two orders add up. */
static void test_top_product(void **state)
{
    (void)state;
    att_list a = {0}, b = {0}, out = {0};
    att_list_add(&a, "c", 1), att_list_add(&a, "a", 5), att_list_add(&a, "b", 3);
    att_list_add(&b, "y", 2), att_list_add(&b, "x", 4);
    assert_int_equal(att_top_product((att_list[]){a, b}, 2, -1, -1, 4, &out), 0);
    static const char *const want[] = {"a|x", "b|x", "a|y", "b|y"};
    static const double ww[] = {20, 12, 10, 6};
    assert_int_equal(out.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(out.v[i], want[i]);
        assert_true(out.w[i] == ww[i]);
    }
    att_list_free(&out);
    /* surname and forename lists, the pair hashed lesser first: {p,q} = 2*1 + 1*3 */
    att_list s = {0}, f = {0};
    att_list_add(&s, "p", 2), att_list_add(&s, "q", 1);
    att_list_add(&f, "p", 3), att_list_add(&f, "q", 1);
    assert_int_equal(att_top_product((att_list[]){s, f}, 2, 0, 1, 3, &out), 0);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.v[0], "p|p");
    assert_true(out.w[0] == 6);
    assert_string_equal(out.v[1], "p|q");
    assert_true(out.w[1] == 5);
    assert_string_equal(out.v[2], "q|q");
    assert_true(out.w[2] == 1);
    att_list_free(&out);
    const char *txt[2] = {"q", "p"};
    char j[16];
    att_join(txt, 2, 0, 1, j, sizeof j);
    assert_string_equal(j, "p|q");
    att_join(txt, 2, -1, -1, j, sizeof j);
    assert_string_equal(j, "q|p");
    /* three random parts against the brute-force product */
    att_list r[3] = {{0}, {0}, {0}};
    size_t sz[3] = {7, 5, 4};
    for (size_t q = 0; q < 3; q++)
        for (size_t i = 0; i < sz[q]; i++) {
            char v[32];
            snprintf(v, sizeof v, "%c%zu", (char)('a' + q), i);
            att_list_add_new(&r[q], v, 1.0 + (double)(int)(urand() * 1000));
        }
    double all[7 * 5 * 4];
    size_t na = 0;
    for (size_t x = 0; x < 7; x++)
        for (size_t y = 0; y < 5; y++)
            for (size_t z = 0; z < 4; z++)
                all[na++] = r[0].w[x] * r[1].w[y] * r[2].w[z];
    for (size_t i = 0; i < na; i++) /* descending */
        for (size_t k = i + 1; k < na; k++)
            if (all[k] > all[i]) {
                double tmp = all[i];
                all[i] = all[k];
                all[k] = tmp;
            }
    assert_int_equal(att_top_product(r, 3, -1, -1, 20, &out), 0);
    assert_int_equal(out.n, 20);
    for (size_t i = 0; i < 20; i++)
        assert_true(out.w[i] == all[i]);
    att_list_free(&out);
    assert_int_equal(att_top_product(r, 0, -1, -1, 20, &out), -1);
    for (size_t q = 0; q < 3; q++)
        att_list_free(&r[q]);
    att_list_free(&a), att_list_free(&b), att_list_free(&s), att_list_free(&f);
}

/* The FEBRL agreement's fifth blocking key, two name codes together (Soundex surname +
 * Soundex forename), attacked with the attacker's product model of its two parts
 * (att_top_product): each code alone is broken, the pair is not. */
static void test_token_two_codes(void **state)
{
    (void)state;
    uint8_t key[32];
    memset(key, 11, sizeof key);
    att_list part[2] = {{0}, {0}};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < fx.lists[f].n; i++) {
            char sx[5];
            if (xchg_norm_soundex(fx.lists[f].v[i], sx) == XCHG_OK)
                att_list_add(&part[f], sx, fx.lists[f].w[i]);
        }
    uint8_t *vals[3];
    char(*tv)[3][16] = malloc(NTOK * sizeof *tv);
    assert_non_null(tv);
    for (int k = 0; k < 3; k++) {
        vals[k] = malloc(NTOK * XCHG_TOKEN_BYTES);
        assert_non_null(vals[k]);
    }
    for (size_t r = 0; r < NTOK; r++) {
        char sf[5], ss[5];
        assert_int_equal(xchg_norm_soundex(fx.lists[0].v[draw(&fx.lists[0])], sf), XCHG_OK);
        assert_int_equal(xchg_norm_soundex(fx.lists[1].v[draw(&fx.lists[1])], ss), XCHG_OK);
        snprintf(tv[r][0], sizeof tv[r][0], "%s", sf);
        snprintf(tv[r][1], sizeof tv[r][1], "%s", ss);
        snprintf(tv[r][2], sizeof tv[r][2], "%s|%s", sf, ss);
        for (int k = 0; k < 3; k++) {
            uint8_t ctx[8] = {(uint8_t)k};
            crypto_generichash_state st;
            crypto_generichash_init(&st, key, sizeof key, XCHG_TOKEN_BYTES);
            crypto_generichash_update(&st, ctx, sizeof ctx);
            crypto_generichash_update(&st, (const unsigned char *)tv[r][k], strlen(tv[r][k]));
            crypto_generichash_final(&st, vals[k] + r * XCHG_TOKEN_BYTES, XCHG_TOKEN_BYTES);
        }
    }
    double reid[3];
    long *guess = malloc(NTOK * sizeof *guess);
    assert_non_null(guess);
    for (int k = 0; k < 3; k++) {
        att_list pub = {0};
        if (k < 2)
            assert_int_equal(att_top_product(&part[k], 1, -1, -1, NTOK, &pub), 0);
        else
            assert_int_equal(att_top_product(part, 2, -1, -1, NTOK, &pub), 0);
        assert_int_equal(att_freq_align(vals[k], NTOK, XCHG_TOKEN_BYTES, &pub, 2, guess), 0);
        size_t hit = 0;
        for (size_t r = 0; r < NTOK; r++)
            hit += guess[r] >= 0 && strcmp(pub.v[guess[r]], tv[r][k]) == 0;
        reid[k] = (double)hit / NTOK;
        att_list_free(&pub);
    }
    printf("attack token-frequency: soundex forename %.4f, soundex surname %.4f, both %.4f\n",
           reid[0], reid[1], reid[2]);
    assert_true(reid[0] >= 0.10);
    assert_true(reid[1] >= 0.10);
    assert_true(reid[2] < 0.01);
    for (int k = 0; k < 3; k++)
        free(vals[k]);
    free(tv);
    free(guess);
    att_list_free(&part[0]);
    att_list_free(&part[1]);
}

/* The measurement-only transforms (attack.h): Rule 90 after a keyed permutation sends each
 * input bit to exactly two output bits; diffusion's output bits each XOR T distinct input
 * bits, so one input bit reaches l*T output bits over all inputs; both are linear over
 * XOR (which is why they keep near records near); fixed bench keys give fixed bits. */
static void test_measured_transforms(void **state)
{
    (void)state;
    const size_t l = 64;
    assert_null(att_xform_new("rule45", l));
    assert_null(att_xform_new("diffuse-0", l));
    att_xform *r90 = att_xform_new("rule90", l), *d3 = att_xform_new("diffuse-3", l);
    assert_non_null(r90);
    assert_non_null(d3);
    size_t reach = 0;
    for (size_t i = 0; i < l; i++) {
        uint8_t e[8] = {0}, f[8] = {0};
        e[i >> 3] = (uint8_t)(0x80u >> (i & 7));
        memcpy(f, e, 8);
        att_xform_apply(r90, f);
        size_t pc = 0;
        for (int b = 0; b < 8; b++)
            pc += (size_t)__builtin_popcount(f[b]);
        assert_int_equal(pc, 2);
        memcpy(f, e, 8);
        att_xform_apply(d3, f);
        for (int b = 0; b < 8; b++)
            reach += (size_t)__builtin_popcount(f[b]);
    }
    assert_int_equal(reach, l * 3);
    uint8_t a[8] = {0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01}, b[8], x[8];
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(0x5a ^ (k * 37)), x[k] = a[k] ^ b[k];
    att_xform *both[2] = {r90, d3};
    for (int m = 0; m < 2; m++) {
        uint8_t ta[8], tb[8], tx[8];
        memcpy(ta, a, 8), memcpy(tb, b, 8), memcpy(tx, x, 8);
        att_xform_apply(both[m], ta), att_xform_apply(both[m], tb), att_xform_apply(both[m], tx);
        for (int k = 0; k < 8; k++)
            assert_int_equal(tx[k], ta[k] ^ tb[k]);
    }
    /* pinned bits of the fixed bench keys (regression: the docs' figures used these) */
    uint8_t f[8];
    memcpy(f, a, 8);
    att_xform_apply(r90, f);
    char hex[17];
    for (int k = 0; k < 8; k++)
        snprintf(hex + 2 * k, 3, "%02x", f[k]);
    printf("rule90(8040201008040201) = %s\n", hex);
    assert_string_equal(hex, R90_PIN);
    att_xform_free(r90);
    att_xform_free(d3);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_plain_vs_salted),
        cmocka_unit_test(test_token_frequency),
        cmocka_unit_test(test_top_product),
        cmocka_unit_test(test_token_two_codes),
        cmocka_unit_test(test_measured_transforms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
