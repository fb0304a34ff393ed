/*
 * CLK encoder: bit-for-bit agreement with clkhash 0.18.3 on the 1,000 FEBRL dataset1
 * records for both hash types (vectors in tests/kat/clkhash/, see its README), HKDF keys,
 * schema validation messages, normalisation, folding and the similarity helpers.
 */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "clk_internal.h" /* the BLAKE2b primitive, checked against the RFC and libsodium */
#include <exchange.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAT_DIR XCHG_TEST_DIR "/kat/clkhash/"
#define NREC 1000
#define NCOL 11
#define MAXBYTES 256

/* ---- fixtures --------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* Split text into lines and each line at ',' with leading spaces skipped (Python csv
 * skipinitialspace); the FEBRL files contain no quotes. Fields point into text. */
struct table {
    char *text;
    size_t nrows;
    char *cell[NREC + 1][NCOL];
    size_t len[NREC + 1][NCOL];
};

static struct table *load_table(const char *path, size_t ncol)
{
    struct table *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->text = slurp(path, NULL);
    char *p = t->text;
    while (*p && t->nrows <= NREC) {
        char *eol = strchr(p, '\n');
        if (eol)
            *eol = '\0';
        size_t c = 0;
        char *q = p;
        for (;;) {
            while (*q == ' ')
                q++;
            char *e = strchr(q, ',');
            assert_true(c < ncol);
            t->cell[t->nrows][c] = q;
            t->len[t->nrows][c] = e ? (size_t)(e - q) : strlen(q);
            c++;
            if (!e)
                break;
            *e = '\0';
            q = e + 1;
        }
        assert_int_equal(c, ncol);
        t->nrows++;
        if (!eol)
            break;
        p = eol + 1;
    }
    return t;
}

static void free_table(struct table *t)
{
    if (t) {
        free(t->text);
        free(t);
    }
}

static xchg_clk_schema *load_schema(const char *path)
{
    size_t len;
    char *json = slurp(path, &len);
    xchg_diag *d = xchg_diag_new();
    xchg_clk_schema *s = NULL;
    xchg_err rc = xchg_clk_schema_parse_json(json, len, &s, d);
    if (rc != XCHG_OK)
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "%s\n", xchg_diag_text(d, i));
    assert_int_equal(rc, XCHG_OK);
    xchg_diag_free(d);
    free(json);
    return s;
}

static xchg_clk_encoder *new_encoder(const xchg_clk_schema *s, const char *secret)
{
    xchg_clk_encoder *enc = NULL;
    assert_int_equal(xchg_clk_encoder_new(s, secret, strlen(secret), &enc), XCHG_OK);
    return enc;
}

/* Encode one row of dataset1 (row 1..1000; row 0 is the header). */
static void encode_row(xchg_clk_encoder *enc, const struct table *t, size_t r, uint8_t *out)
{
    const char *f[NCOL];
    for (size_t c = 0; c < NCOL; c++)
        f[c] = t->cell[r][c];
    xchg_diag *d = xchg_diag_new();
    xchg_err rc = xchg_clk_encode(enc, f, t->len[r], NCOL, out, d);
    if (rc != XCHG_OK)
        fprintf(stderr, "row %zu: %s\n", r, xchg_diag_text(d, 0));
    assert_int_equal(rc, XCHG_OK);
    xchg_diag_free(d);
}

/* ---- known answers ---------------------------------------------------------------- */

static void test_hkdf_keys(void **state)
{
    (void)state;
    json_error_t je;
    json_t *kat = json_load_file(KAT_DIR "hkdf_keys_secret.json", 0, &je);
    assert_non_null(kat);
    const char *secret = json_string_value(json_object_get(kat, "secret"));
    json_t *keys = json_object_get(kat, "keys_hex");
    assert_non_null(secret);

    xchg_clk_schema *s = load_schema(KAT_DIR "schema_febrl_v3_blakeHash.json");
    assert_int_equal(xchg_clk_schema_nfeatures(s), json_array_size(keys));
    assert_int_equal(xchg_clk_key_size(s), 64);
    xchg_clk_encoder *enc = new_encoder(s, secret);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        for (unsigned k = 0; k < 2; k++) {
            char hex[129];
            const uint8_t *key = xchg_clk_encoder_feature_key(enc, i, k);
            assert_non_null(key);
            xchg_hex_encode(hex, key, 64);
            assert_string_equal(hex, json_string_value(json_array_get(json_array_get(keys, i), k)));
        }
    }
    assert_null(xchg_clk_encoder_feature_key(enc, 11, 0));
    assert_null(xchg_clk_encoder_feature_key(enc, 0, 2));
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
    json_decref(kat);
}

static void check_kat(const char *schema_path, const char *clk_path, xchg_clk_hash want)
{
    xchg_clk_schema *s = load_schema(schema_path);
    assert_int_equal(xchg_clk_filter_bits(s), 1024);
    assert_int_equal(xchg_clk_filter_bytes(s), 128);
    assert_int_equal(xchg_clk_schema_feature_hash(s, 0), XCHG_CLK_HASH_NONE);
    assert_int_equal(xchg_clk_schema_feature_hash(s, 1), want);
    xchg_clk_encoder *enc = new_encoder(s, "secret");
    struct table *data = load_table(KAT_DIR "dataset1.csv", NCOL);
    struct table *ref = load_table(clk_path, 3);
    assert_int_equal(data->nrows, NREC + 1);
    assert_int_equal(ref->nrows, NREC + 1);

    size_t matched = 0;
    for (size_t r = 1; r <= NREC; r++) {
        uint8_t clk[MAXBYTES];
        char b64[2 * MAXBYTES];
        assert_int_equal(data->len[r][0], ref->len[r][0]);
        assert_memory_equal(data->cell[r][0], ref->cell[r][0], ref->len[r][0]);
        encode_row(enc, data, r, clk);
        xchg_base64_encode(b64, clk, 128);
        assert_int_equal(strlen(b64), ref->len[r][1]);
        if (memcmp(b64, ref->cell[r][1], ref->len[r][1]) != 0) {
            fprintf(stderr, "%s: %s differs\n  got  %s\n", clk_path, ref->cell[r][0], b64);
            continue;
        }
        assert_int_equal(xchg_clk_popcount(clk, 128), strtoul(ref->cell[r][2], NULL, 10));
        matched++;
    }
    fprintf(stderr, "%s: %zu of %d CLKs match\n", clk_path, matched, NREC);
    assert_int_equal(matched, NREC);
    free_table(data);
    free_table(ref);
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
}

static void test_kat_blake(void **state)
{
    (void)state;
    check_kat(KAT_DIR "schema_febrl_v3_blakeHash.json", KAT_DIR "clks_febrl1_blakeHash.csv",
              XCHG_CLK_HASH_BLAKE);
}

static void test_kat_double(void **state)
{
    (void)state;
    check_kat(KAT_DIR "schema_febrl_v3_doubleHash.json", KAT_DIR "clks_febrl1_doubleHash.csv",
              XCHG_CLK_HASH_DOUBLE);
}

/* A wrong secret must give different filters: keys, not the schema, carry the secrecy. */
static void test_wrong_secret(void **state)
{
    (void)state;
    xchg_clk_schema *s = load_schema(KAT_DIR "schema_febrl_v3_blakeHash.json");
    xchg_clk_encoder *good = new_encoder(s, "secret");
    xchg_clk_encoder *bad = new_encoder(s, "Secret");
    struct table *data = load_table(KAT_DIR "dataset1.csv", NCOL);
    double total = 0;
    for (size_t r = 1; r <= 50; r++) {
        uint8_t a[128], b[128];
        encode_row(good, data, r, a);
        encode_row(bad, data, r, b);
        assert_memory_not_equal(a, b, 128);
        total += xchg_clk_dice(a, b, 128);
    }
    /* Unrelated filters of this density overlap by chance only (about 0.5 - 0.7). */
    assert_true(total / 50 < 0.8);
    free_table(data);
    xchg_clk_encoder_free(good);
    xchg_clk_encoder_free(bad);
    xchg_clk_schema_free(s);
}

/* ---- schema validation ------------------------------------------------------------ */

#define KDF                                                                                        \
    "\"kdf\":{\"type\":\"HKDF\",\"hash\":\"SHA256\",\"salt\":\"c2FsdA==\",\"info\":\"\","          \
    "\"keySize\":64}"
#define FEAT(hash)                                                                                 \
    "{\"identifier\":\"name\",\"format\":{\"type\":\"string\"},\"hashing\":{\"comparison\":"       \
    "{\"type\":\"ngram\",\"n\":2},\"strategy\":{\"bitsPerToken\":20},\"hash\":{\"type\":\"" hash   \
    "\"}}}"

struct bad_case {
    const char *json;
    xchg_err rc;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {"{\"version\":3,", XCHG_ERR_FORMAT, NULL},
    {"[]", XCHG_ERR_FORMAT, "schema: top level is not a JSON object"},
    {"{\"clkConfig\":{}}", XCHG_ERR_FORMAT, "version: missing"},
    {"{\"version\":2,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_VERSION, "version: unsupported schema version 2 (only version 3 is supported)"},
    {"{\"version\":3,\"features\":[" FEAT("blakeHash") "]}", XCHG_ERR_FORMAT,
     "clkConfig: missing or not an object"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "}}", XCHG_ERR_FORMAT,
     "features: missing or not an array"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[]}", XCHG_ERR_FORMAT,
     "features: empty"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1000," KDF "},\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT,
     "clkConfig.l: 1000 is not a power of two, as blakeHash (feature 'name') requires"},
    {"{\"version\":3,\"clkConfig\":{\"l\":4," KDF "},\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT, "clkConfig.l: 4 is less than 8, the minimum for blakeHash (feature 'name')"},
    {"{\"version\":3,\"clkConfig\":{\"l\":0," KDF "},\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT, "clkConfig.l: must be an integer from 1 to 16777216"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024,\"xorFolds\":-1," KDF
     "},\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT, "clkConfig.xorFolds: must be an integer from 0 to 24"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"PBKDF2\"}},\"features\":[" FEAT(
         "blakeHash") "]}",
     XCHG_ERR_VERSION, "clkConfig.kdf.type: unsupported key derivation 'PBKDF2' (only HKDF)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"HKDF\",\"hash\":\"SHA512\"}},"
     "\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_VERSION, "clkConfig.kdf.hash: unsupported hash 'SHA512' (only SHA256)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"HKDF\",\"salt\":\"!!\"}},"
     "\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT, "clkConfig.kdf.salt: not valid base64"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024,\"kdf\":{\"type\":\"HKDF\",\"keySize\":128}},"
     "\"features\":[" FEAT("blakeHash") "]}",
     XCHG_ERR_FORMAT,
     "clkConfig.kdf.keySize: 128 exceeds 64, the BLAKE2b key limit (feature 'name' uses "
     "blakeHash)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[" FEAT("sha1Hash") "]}",
     XCHG_ERR_VERSION,
     "feature 'name': hashing.hash.type: unknown hash type 'sha1Hash' (expected blakeHash or "
     "doubleHash)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF
     "},\"features\":[" FEAT("blakeHash") "," FEAT("doubleHash") "]}",
     XCHG_ERR_FORMAT, "feature 'name': duplicate identifier (also features[0])"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"ignored\":true}]}",
     XCHG_ERR_FORMAT, "features[0]: identifier: missing or not a string"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"float\"},\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},"
     "\"strategy\":{\"bitsPerToken\":20}}}]}",
     XCHG_ERR_VERSION,
     "feature 'x': format.type: unknown format type 'float' (expected string, integer, date or "
     "enum)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"string\"},\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},"
     "\"strategy\":{\"bitsPerToken\":20,\"bitsPerFeature\":100}}}]}",
     XCHG_ERR_FORMAT,
     "feature 'x': hashing.strategy: needs exactly one of bitsPerToken or bitsPerFeature"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"string\"},\"hashing\":{\"comparison\":{\"type\":\"numeric\"},"
     "\"strategy\":{\"bitsPerToken\":20}}}]}",
     XCHG_ERR_VERSION,
     "feature 'x': hashing.comparison.type: unsupported comparison 'numeric' (expected ngram or "
     "exact)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"date\",\"format\":\"%Y-%j\"},\"hashing\":{\"comparison\":{\"type\":"
     "\"exact\"},\"strategy\":{\"bitsPerToken\":20}}}]}",
     XCHG_ERR_FORMAT,
     "feature 'x': format.format: directive '%j' is not supported (supported: %Y %y %m %d %b %B "
     "%H %M %S %%)"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"string\"}}]}",
     XCHG_ERR_FORMAT, "feature 'x': hashing: missing or not an object"},
    {"{\"version\":3,\"clkConfig\":{\"l\":1024," KDF "},\"features\":[{\"identifier\":\"x\","
     "\"format\":{\"type\":\"string\"},\"hashing\":{\"comparison\":{\"type\":\"ngram\",\"n\":2},"
     "\"strategy\":{\"bitsPerToken\":20},\"hash\":{\"type\":\"blakeHash\","
     "\"prevent_singularity\":true}}}]}",
     XCHG_ERR_FORMAT,
     "feature 'x': hashing.hash.prevent_singularity: only allowed with doubleHash"},
};

static void test_schema_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        xchg_diag *d = xchg_diag_new();
        xchg_clk_schema *s = (xchg_clk_schema *)&s; /* must stay untouched */
        xchg_clk_schema *before = s;
        xchg_err rc = xchg_clk_schema_parse_json(c->json, strlen(c->json), &s, d);
        if (rc != c->rc ||
            (c->msg && (xchg_diag_count(d) < 1 || strcmp(xchg_diag_message(d, 0), c->msg) != 0)))
            fprintf(stderr, "case %zu: rc %d, message: %s\n", i, (int)rc,
                    xchg_diag_count(d) ? xchg_diag_message(d, 0) : "(none)");
        assert_int_equal(rc, c->rc);
        assert_ptr_equal(s, before);
        assert_true(xchg_diag_errors(d) >= 1);
        if (c->msg)
            assert_string_equal(xchg_diag_message(d, 0), c->msg);
        xchg_diag_free(d);
    }
    /* Syntax errors carry a position. */
    xchg_diag *d = xchg_diag_new();
    xchg_clk_schema *s = NULL;
    assert_int_equal(xchg_clk_schema_parse_json("{\n \"version\": 3,,}", 17, &s, d),
                     XCHG_ERR_FORMAT);
    assert_int_equal(xchg_diag_line(d, 0), 2);
    xchg_diag_free(d);
}

/* ---- normalisation, tokenisation, folding ----------------------------------------- */

/* A one-feature schema (plus an ignored one first), filter of l bits folded folds times. */
static xchg_clk_schema *one_feature(const char *format, const char *comparison, const char *hash,
                                    const char *extra, unsigned l, unsigned folds)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"version\":3,\"clkConfig\":{\"l\":%u,\"xorFolds\":%u," KDF "},\"features\":["
             "{\"identifier\":\"id\",\"ignored\":true},"
             "{\"identifier\":\"x\",\"format\":%s,\"hashing\":{\"comparison\":%s,"
             "\"strategy\":{\"bitsPerFeature\":100},\"hash\":%s%s}}]}",
             l, folds, format, comparison, hash, extra);
    xchg_clk_schema *s = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err rc = xchg_clk_schema_parse_json(json, strlen(json), &s, d);
    if (rc != XCHG_OK)
        fprintf(stderr, "%s\n", xchg_diag_text(d, 0));
    assert_int_equal(rc, XCHG_OK);
    xchg_diag_free(d);
    return s;
}

static xchg_err enc1(const xchg_clk_schema *s, const char *value, uint8_t *out, xchg_diag *d)
{
    xchg_clk_encoder *enc = new_encoder(s, "secret");
    const char *f[2] = {"ignored", value};
    size_t lens[2] = {7, strlen(value)};
    xchg_err rc = xchg_clk_encode(enc, f, lens, 2, out, d);
    xchg_clk_encoder_free(enc);
    return rc;
}

#define STR "{\"type\":\"string\"}"
#define BIGRAM "{\"type\":\"ngram\",\"n\":2}"
#define BLAKE "{\"type\":\"blakeHash\"}"
#define DOUBLE "{\"type\":\"doubleHash\"}"
#define POS1 "{\"type\":\"ngram\",\"n\":1,\"positional\":true}"

/* Keys depend on the feature's slot, not its format: so an integer or date feature must
 * encode exactly like a string feature holding the normalised text. */
static void test_normalisation(void **state)
{
    (void)state;
    uint8_t a[128], b[128];
    xchg_clk_schema *str = one_feature(STR, POS1, BLAKE, "", 1024, 0);
    xchg_clk_schema *num = one_feature("{\"type\":\"integer\",\"minimum\":-50,\"maximum\":9999}",
                                       POS1, BLAKE, "", 1024, 0);
    xchg_clk_schema *date =
        one_feature("{\"type\":\"date\",\"format\":\"%d/%m/%Y\"}", POS1, BLAKE, "", 1024, 0);
    xchg_clk_schema *mdate =
        one_feature("{\"type\":\"date\",\"format\":\"%d %b %y\"}", POS1, BLAKE, "", 1024, 0);

    assert_int_equal(enc1(str, "42", a, NULL), XCHG_OK);
    assert_int_equal(enc1(num, " +0_042 ", b, NULL), XCHG_OK);
    assert_memory_equal(a, b, 128);
    assert_int_equal(enc1(str, "0", a, NULL), XCHG_OK);
    assert_int_equal(enc1(num, "-0", b, NULL), XCHG_OK);
    assert_memory_equal(a, b, 128);

    assert_int_equal(enc1(str, "19081209", a, NULL), XCHG_OK);
    assert_int_equal(enc1(date, "9/12/1908", b, NULL), XCHG_OK);
    assert_memory_equal(a, b, 128);
    assert_int_equal(enc1(mdate, "9 DEC 08", b, NULL), XCHG_OK);
    assert_int_not_equal(memcmp(a, b, 128), 0); /* %y 08 is 2008 */
    assert_int_equal(enc1(str, "20081209", a, NULL), XCHG_OK);
    assert_memory_equal(a, b, 128);

    /* invalid values are refused with the feature named, never the value */
    const char *bad_num[] = {"", "4x", "1__0", "_1", "10000", "-51", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_num / sizeof *bad_num; i++) {
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(enc1(num, bad_num[i], b, d), XCHG_ERR_FORMAT);
        assert_non_null(strstr(xchg_diag_message(d, 0), "feature 'x'"));
        xchg_diag_free(d);
    }
    const char *bad_date[] = {"31/02/2000", "1/13/2000", "01/01/2000x", "", "1/1/0000"};
    for (size_t i = 0; i < sizeof bad_date / sizeof *bad_date; i++)
        assert_int_equal(enc1(date, bad_date[i], b, NULL), XCHG_ERR_FORMAT);
    assert_int_equal(enc1(date, "29/02/2000", b, NULL), XCHG_OK);

    xchg_diag *d = xchg_diag_new();
    assert_int_equal(enc1(num, "12", b, d), XCHG_OK);
    assert_int_equal(enc1(num, "10000", b, d), XCHG_ERR_FORMAT);
    assert_string_equal(xchg_diag_message(d, 0), "feature 'x': value is above the maximum 9999");
    xchg_diag_free(d);

    xchg_clk_schema_free(str);
    xchg_clk_schema_free(num);
    xchg_clk_schema_free(date);
    xchg_clk_schema_free(mdate);
}

static void test_missing_and_case(void **state)
{
    (void)state;
    uint8_t a[128], b[128], zero[128] = {0};
    xchg_clk_schema *str = one_feature(STR, BIGRAM, DOUBLE, "", 1024, 0);
    xchg_clk_schema *num = one_feature(
        "{\"type\":\"integer\"}", BIGRAM, DOUBLE,
        ",\"missingValue\":{\"sentinel\":\"N/A\",\"replaceWith\":\"unknown\"}", 1024, 0);
    /* the sentinel skips integer validation and is replaced verbatim */
    assert_int_equal(enc1(str, "unknown", a, NULL), XCHG_OK);
    assert_int_equal(enc1(num, "N/A", b, NULL), XCHG_OK);
    assert_memory_equal(a, b, 128);
    /* an empty string has no tokens */
    assert_int_equal(enc1(str, "", a, NULL), XCHG_OK);
    assert_memory_equal(a, zero, 128);

    xchg_clk_schema *low = one_feature("{\"type\":\"string\",\"case\":\"lower\",\"maxLength\":5}",
                                       BIGRAM, BLAKE, "", 1024, 0);
    assert_int_equal(enc1(low, "smith", a, NULL), XCHG_OK);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(enc1(low, "Smith", a, d), XCHG_ERR_FORMAT);
    assert_string_equal(xchg_diag_message(d, 0), "feature 'x': value is not lower case");
    assert_int_equal(enc1(low, "smithe", a, d), XCHG_ERR_FORMAT);
    assert_string_equal(xchg_diag_message(d, 1), "feature 'x': value is longer than maxLength 5");
    /* length counts code points, as Python does: five letters, six bytes */
    assert_int_equal(enc1(low, "sm\xc3\xa9th", a, d), XCHG_OK);
    assert_int_equal(enc1(low, "sm\xc3", a, d), XCHG_ERR_FORMAT);
    assert_string_equal(xchg_diag_message(d, 2), "feature 'x': value is not valid UTF-8");
    assert_memory_equal(a, zero, 128); /* zeroed on error */
    xchg_diag_free(d);

    xchg_clk_schema *en = one_feature("{\"type\":\"enum\",\"values\":[\"M\",\"F\"]}",
                                      "{\"type\":\"exact\"}", BLAKE, "", 1024, 0);
    assert_int_equal(enc1(en, "F", a, NULL), XCHG_OK);
    assert_int_equal(xchg_clk_popcount(a, 128) > 50, 1);
    assert_int_equal(enc1(en, "X", a, NULL), XCHG_ERR_FORMAT);

    xchg_clk_schema_free(str);
    xchg_clk_schema_free(num);
    xchg_clk_schema_free(low);
    xchg_clk_schema_free(en);
}

/* XOR folding: a filter of l bits folded once equals the 2l-bit filter folded by hand. */
static void fold_case(const char *hash, unsigned l)
{
    xchg_clk_schema *big = one_feature(STR, BIGRAM, hash, "", 2 * l, 0);
    xchg_clk_schema *folded = one_feature(STR, BIGRAM, hash, "", l, 1);
    uint8_t a[MAXBYTES] = {0}, b[MAXBYTES] = {0}, want[MAXBYTES] = {0};
    assert_int_equal(enc1(big, "christensen", a, NULL), XCHG_OK);
    assert_int_equal(enc1(folded, "christensen", b, NULL), XCHG_OK);
    for (unsigned i = 0; i < l; i++) {
        int bit = (a[i / 8] >> (7 - i % 8) & 1) ^ (a[(i + l) / 8] >> (7 - (i + l) % 8) & 1);
        want[i / 8] |= (uint8_t)(bit << (7 - i % 8));
    }
    assert_int_equal(xchg_clk_filter_bytes(folded), (l + 7) / 8);
    assert_memory_equal(b, want, (l + 7) / 8);
    xchg_clk_schema_free(big);
    xchg_clk_schema_free(folded);
}

static void test_xor_fold(void **state)
{
    (void)state;
    fold_case(BLAKE, 512);
    fold_case(DOUBLE, 512);
    fold_case(DOUBLE, 100); /* halves not byte-aligned, last byte partly unused */
}

/* prevent_singularity: with l = 8, about one token in eight has HMAC-MD5 = 0 mod l and
 * sets one bit only under the original construction; the non-singular variant rehashes
 * those and leaves every other token's bits as they were. */
static void test_prevent_singularity(void **state)
{
    (void)state;
    xchg_clk_schema *plain = one_feature(STR, "{\"type\":\"exact\"}", DOUBLE, "", 8, 0);
    xchg_clk_schema *ns =
        one_feature(STR, "{\"type\":\"exact\"}",
                    "{\"type\":\"doubleHash\",\"prevent_singularity\":true}", "", 8, 0);
    unsigned singular = 0;
    for (char ch = 'a'; ch <= 'z'; ch++) {
        char v[2] = {ch, 0};
        uint8_t a[1], b[1];
        xchg_diag *d = xchg_diag_new();
        xchg_err rc = enc1(plain, v, a, d);
        if (rc != XCHG_OK)
            fprintf(stderr, "%s\n", xchg_diag_text(d, 0));
        xchg_diag_free(d);
        assert_int_equal(rc, XCHG_OK);
        assert_int_equal(enc1(ns, v, b, NULL), XCHG_OK);
        assert_true(xchg_clk_popcount(b, 1) > 1);
        if (xchg_clk_popcount(a, 1) == 1)
            singular++;
        else
            assert_int_equal(a[0], b[0]);
    }
    assert_true(singular > 0);
    xchg_clk_schema_free(plain);
    xchg_clk_schema_free(ns);
}

/* ---- similarity ------------------------------------------------------------------- */

static double naive_dice(const uint8_t *a, const uint8_t *b, size_t n)
{
    unsigned ca = 0, cb = 0, cab = 0;
    for (size_t i = 0; i < 8 * n; i++) {
        int x = a[i / 8] >> (i % 8) & 1, y = b[i / 8] >> (i % 8) & 1;
        ca += (unsigned)x;
        cb += (unsigned)y;
        cab += (unsigned)(x & y);
    }
    return ca + cb ? 2.0 * cab / (ca + cb) : 0.0;
}

static void test_dice(void **state)
{
    (void)state;
    uint8_t a[131], b[131];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round % 131) + 1; /* odd lengths exercise the tail */
        xchg_random(a, n);
        xchg_random(b, n);
        if (round % 3 == 0)
            for (size_t i = 0; i < n; i++)
                b[i] &= a[i];
        assert_float_equal(xchg_clk_dice(a, b, n), naive_dice(a, b, n), 1e-12);
        assert_float_equal(xchg_clk_dice(a, a, n), xchg_clk_popcount(a, n) ? 1.0 : 0.0, 0);
    }
    memset(a, 0, sizeof a);
    assert_float_equal(xchg_clk_dice(a, a, sizeof a), 0.0, 0);
    assert_int_equal(xchg_clk_popcount(a, sizeof a), 0);
    memset(a, 0xff, sizeof a);
    assert_int_equal(xchg_clk_popcount(a, sizeof a), 8 * sizeof a);
}

/* RFC 7693 appendix A: BLAKE2b-512("abc"). */
static void test_blake2b_rfc7693(void **state)
{
    (void)state;
    static const uint8_t want[64] = {
        0xBA, 0x80, 0xA5, 0x3F, 0x98, 0x1C, 0x4D, 0x0D, 0x6A, 0x27, 0x97, 0xB6, 0x9F,
        0x12, 0xF6, 0xE9, 0x4C, 0x21, 0x2F, 0x14, 0x68, 0x5A, 0xC4, 0xB7, 0x4B, 0x12,
        0xBB, 0x6F, 0xDB, 0xFF, 0xA2, 0xD1, 0x7D, 0x87, 0xC5, 0x39, 0x2A, 0xAB, 0x79,
        0x2D, 0xC2, 0x52, 0xD5, 0xDE, 0x45, 0x33, 0xCC, 0x95, 0x18, 0xD3, 0x8A, 0xA8,
        0xDB, 0xF1, 0x92, 0x5A, 0xB9, 0x23, 0x86, 0xED, 0xD4, 0x00, 0x99, 0x23};
    uint8_t out[64];
    clk_blake2b(out, sizeof out, (const uint8_t *)"abc", 3, NULL, 0, NULL, NULL);
    assert_memory_equal(out, want, sizeof want);
}

/*
 * Our BLAKE2b, one-shot and from the after-key-block snapshot (scalar and four lanes on
 * every implementation the CPU has), equals libsodium's salted, personalised BLAKE2b on
 * random keys, salts, personalisations, message and output lengths, including empty
 * messages, exact multiples of the block size and multi-block messages.
 */
static void test_blake2b_vs_libsodium(void **state)
{
    (void)state;
    uint8_t msg[4][300], key[64], salt[16], pers[16], want[4][64], got[64];
    for (int round = 0; round < 2000; round++) {
        size_t outlen = 1 + randombytes_uniform(64);
        size_t keylen = randombytes_uniform(65); /* 0: unkeyed */
        size_t len = round % 7 == 0 ? (size_t)(128 * (1 + round % 3)) : randombytes_uniform(300);
        if (round % 11 == 0)
            len = 0;
        xchg_random(msg[0], sizeof msg[0]);
        xchg_random(key, sizeof key);
        xchg_random(salt, sizeof salt);
        xchg_random(pers, sizeof pers);
        const uint8_t *p = round % 2 ? pers : NULL;
        assert_int_equal(crypto_generichash_blake2b_salt_personal(want[0], outlen, msg[0], len,
                                                                  keylen ? key : NULL, keylen,
                                                                  salt, p),
                         0);
        clk_blake2b(got, outlen, msg[0], len, key, keylen, salt, p);
        assert_memory_equal(got, want[0], outlen);
        if (keylen && len) {
            struct clk_blake2b_snap snap;
            clk_blake2b_snap_init(&snap, outlen, key, keylen, salt, p);
            clk_blake2b_snap_hash(&snap, msg[0], len, got);
            assert_memory_equal(got, want[0], outlen);
        }
    }
    /* four lanes: single-block messages (1..128 bytes), a different key and salt each */
    static const enum clk_blake2b_impl impls[] = {CLK_BLAKE2B_AUTO, CLK_BLAKE2B_PORTABLE,
                                                  CLK_BLAKE2B_AVX2, CLK_BLAKE2B_AVX512};
    struct clk_blake2b_snap snaps[4];
    for (int round = 0; round < 500; round++) {
        const struct clk_blake2b_snap *sp[4];
        const uint8_t *bp[4];
        size_t lens[4];
        for (unsigned l = 0; l < 4; l++) {
            size_t keylen = 1 + randombytes_uniform(64);
            lens[l] = 1 + randombytes_uniform(128);
            xchg_random(msg[l], lens[l]);
            xchg_random(key, keylen);
            xchg_random(salt, sizeof salt);
            assert_int_equal(crypto_generichash_blake2b_salt_personal(
                                 want[l], 64, msg[l], lens[l], key, keylen, salt, NULL),
                             0);
            clk_blake2b_snap_init(&snaps[l], 64, key, keylen, salt, NULL);
            sp[l] = &snaps[l];
            bp[l] = msg[l];
        }
        for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
            uint8_t out4[4][64];
            clk_blake2b_snap_hash4(sp, bp, lens, out4, impls[i]);
            for (unsigned l = 0; l < 4; l++)
                assert_memory_equal(out4[l], want[l], 64);
        }
    }
}

/* Dice from precomputed popcounts equals the plain one, on every filter length. */
static void test_dice_pc(void **state)
{
    (void)state;
    uint8_t a[300], b[300];
    for (int round = 0; round < 600; round++) {
        size_t n = (size_t)(round % 300) + 1;
        xchg_random(a, n);
        xchg_random(b, n);
        if (round % 3 == 0)
            for (size_t i = 0; i < n; i++)
                b[i] &= a[i];
        size_t pa = xchg_clk_popcount(a, n), pb = xchg_clk_popcount(b, n);
        assert_float_equal(xchg_clk_dice_pc(a, b, n, pa, pb), naive_dice(a, b, n), 1e-12);
        assert_float_equal(xchg_clk_dice_pc(a, b, n, pa, pb), xchg_clk_dice(a, b, n), 0);
    }
    memset(a, 0, sizeof a);
    assert_float_equal(xchg_clk_dice_pc(a, a, sizeof a, 0, 0), 0.0, 0);
}

static void test_misuse(void **state)
{
    (void)state;
    xchg_clk_schema *s = load_schema(KAT_DIR "schema_febrl_v3_blakeHash.json");
    xchg_clk_encoder *enc = NULL;
    assert_int_equal(xchg_clk_encoder_new(NULL, "s", 1, &enc), XCHG_ERR_ARG);
    assert_null(enc);
    enc = new_encoder(s, "secret");
    const char *f[3] = {"a", "b", "c"};
    size_t lens[3] = {1, 1, 1};
    uint8_t out[128];
    memset(out, 0xaa, sizeof out);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_clk_encode(enc, f, lens, 3, out, d), XCHG_ERR_ARG);
    assert_string_equal(xchg_diag_message(d, 0),
                        "record has 3 fields but the schema has 11 features");
    assert_int_equal(xchg_clk_popcount(out, 128), 0);
    xchg_diag_free(d);
    xchg_clk_encoder_free(enc);
    xchg_clk_encoder_free(NULL);
    xchg_clk_schema_free(s);
    xchg_clk_schema_free(NULL);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf_keys),
        cmocka_unit_test(test_kat_blake),
        cmocka_unit_test(test_kat_double),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_schema_rejects),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_missing_and_case),
        cmocka_unit_test(test_xor_fold),
        cmocka_unit_test(test_prevent_singularity),
        cmocka_unit_test(test_dice),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_blake2b_rfc7693),
        cmocka_unit_test(test_blake2b_vs_libsodium),
        cmocka_unit_test(test_dice_pc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
