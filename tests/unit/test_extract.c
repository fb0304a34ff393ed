/*
 * The matcher's checks on sealed extracts: each way an extract can be wrong is rejected
 * with its own clear error — a flipped byte anywhere, truncation at every 1 KiB boundary,
 * the wrong matcher key, a signer the agreement does not name, the wrong epoch, another
 * agreement, another version of this agreement.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>

#define FIX XCHG_TEST_DIR "/fixtures/seal/"

static xchg_agreement *pol, *other, *amended;
static xchg_secret *sec;
static char xex[512], big[512];

/* seal the police fixture under policy p with agency key seed, secret s, to path */
static void seal_with(xchg_agreement *p, int seed, xchg_secret *s, const char *path)
{
    xchg_seckey *k = seed_key(seed);
    xchg_seal_opts o = {.input = FIX "police.csv", .output = path, .overwrite = 1,
                        .period_start = 0, .period_end = 30000, .now = 1};
    xchg_seal_stats st;
    assert_int_equal(xchg_seal(p, k, s, &o, &st, NULL), XCHG_OK);
    xchg_seckey_free(k);
}

static xchg_secret *secret_for(xchg_agreement *p, uint32_t epoch)
{
    const char *path = tpath("x.xsec");
    xchg_seckey *owner = seed_key(1), *police = seed_key(2);
    xchg_secret *s = NULL;
    assert_int_equal(xchg_secret_create(p, owner, epoch, 0, path, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(p, police, path, &s, NULL), XCHG_OK);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    return s;
}

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    other = agreement_variant("id: test-agreement", "id: other-agreement");
    amended = agreement_variant("retention_days: 365", "retention_days: 364");
    sec = secret_for(pol, 1);
    snprintf(xex, sizeof xex, "%s", tpath("good.xex"));
    seal_with(pol, 2, sec, xex);
    /* a larger extract (200 rows) for the truncation sweep */
    const char *csv = tpath("big.csv");
    FILE *f = fopen(csv, "w");
    if (!f)
        return -1;
    fprintf(f, "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n");
    for (int i = 0; i < 200; i++)
        fprintf(f, "R%d,Name%c,Surname%d,%02d/%02d/19%02d,OX4 1AA,CRIME,01/06/2026,given\n", i,
                'a' + i % 26, i, 1 + i % 28, 1 + i % 12, 50 + i % 40);
    fclose(f);
    snprintf(big, sizeof big, "%s", tpath("big.xex"));
    xchg_seckey *k = seed_key(2);
    xchg_seal_opts o = {.input = csv, .output = big, .overwrite = 1, .period_start = 0,
                        .period_end = 30000};
    xchg_seal_stats st;
    int rc = xchg_seal(pol, k, sec, &o, &st, NULL) != XCHG_OK;
    xchg_seckey_free(k);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(sec);
    xchg_agreement_free(pol);
    xchg_agreement_free(other);
    xchg_agreement_free(amended);
    return 0;
}

/* Read the whole extract as the matcher; returns the first error. */
static xchg_err verify_n(xchg_agreement *p, const char *path, int matcher_seed, uint32_t epoch,
                         uint64_t want, xchg_diag *d)
{
    xchg_seckey *m = seed_key(matcher_seed);
    xchg_extract_file *f = NULL;
    xchg_err e = xchg_extract_open(p, m, path, epoch, &f, d);
    while (e == XCHG_OK) {
        xchg_record r;
        int end = 0;
        e = xchg_extract_next(f, &r, &end, d);
        if (end)
            break;
    }
    uint64_t n = 0;
    if (e == XCHG_OK)
        e = xchg_extract_finish(f, &n, d);
    if (e == XCHG_OK)
        assert_int_equal(n, want);
    xchg_extract_close(f);
    xchg_seckey_free(m);
    return e;
}

static xchg_err verify(xchg_agreement *p, const char *path, int matcher_seed, uint32_t epoch,
                       xchg_diag *d)
{
    return verify_n(p, path, matcher_seed, epoch, 4, d);
}

static void test_good(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(verify(pol, xex, 4, 1, d), XCHG_OK);
    assert_int_equal(xchg_diag_errors(d), 0);
    xchg_diag_free(d);
}

static void test_flipped_byte_anywhere(void **state)
{
    (void)state;
    size_t n;
    char *orig = slurp(xex, &n);
    const char *bad = tpath("flip.xex");
    for (size_t i = 0; i < n; i++) {
        orig[i] ^= 0x01;
        spit(bad, orig, n);
        orig[i] ^= 0x01;
        xchg_diag *d = xchg_diag_new();
        xchg_err e = verify(pol, bad, 4, 1, d);
        if (e == XCHG_OK)
            fail_msg("a flipped bit at byte %zu of %zu was not detected", i, n);
        if (xchg_diag_errors(d) == 0)
            fail_msg("byte %zu: rejected without a message", i);
        xchg_diag_free(d);
    }
    free(orig);
}

static void test_truncation_every_kib(void **state)
{
    (void)state;
    size_t n;
    char *orig = slurp(big, &n);
    const char *bad = tpath("cut.xex");
    assert_true(n > 20 * 1024);
    assert_int_equal(verify_n(pol, big, 4, 1, 200, NULL), XCHG_OK);
    for (size_t cut = 0; cut < n; cut += 1024) {
        spit(bad, orig, cut);
        xchg_diag *d = xchg_diag_new();
        xchg_err e = verify_n(pol, bad, 4, 1, 200, d);
        assert_true(e == XCHG_ERR_TRUNCATED || (cut == 0 && e != XCHG_OK));
        assert_true(xchg_diag_errors(d) > 0);
        xchg_diag_free(d);
    }
    /* and one byte short of the end */
    spit(bad, orig, n - 1);
    assert_int_equal(verify_n(pol, bad, 4, 1, 200, NULL), XCHG_ERR_TRUNCATED);
    free(orig);
}

static void test_wrong_matcher_key(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(verify(pol, xex, 5, 1, d), XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "sealed extract is for matcher key");
    xchg_diag_free(d);
}

static void test_signer_not_in_agreement(void **state)
{
    (void)state;
    /* a file whose header claims to come from 'police' under this very agreement, but
     * signed by a key the agreement does not name (seed 7) */
    xchg_seckey *m = seed_key(4), *k7 = seed_key(7);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(xex, m, &r, NULL), XCHG_OK);
    size_t hl;
    const uint8_t *h = xchg_xex_reader_header(r, &hl);
    const char *out = tpath("forged.xex");
    xchg_xex_writer *w = NULL;
    assert_int_equal(xchg_xex_writer_new(out, 1, xchg_seckey_public(m), k7, h, hl, &w, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);
    xchg_xex_reader_free(r);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(verify(pol, out, 4, 1, d), XCHG_ERR_UNKNOWN_KEY);
    assert_true(xchg_diag_errors(d) > 0);
    char id7[17];
    xchg_keyid_hex(xchg_seckey_public(k7)->id, id7);
    assert_diag_has(d, id7); /* the message names the key that actually signed */
    xchg_diag_free(d);
    xchg_seckey_free(m);
    xchg_seckey_free(k7);
}

static void test_wrong_epoch(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(verify(pol, xex, 4, 2, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "extract was sealed with linkage-secret epoch 1, expected epoch 2");
    xchg_diag_free(d);
}

static void test_other_agreement(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(verify(other, xex, 4, 1, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "extract is for agreement 'test-agreement', not 'other-agreement'");
    xchg_diag_clear(d);
    assert_int_equal(verify(amended, xex, 4, 1, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "extract was sealed under a different version of agreement 'test-agreement'");
    xchg_diag_free(d);
}

/* Rewrite the genuine extract's header with edit(), re-sealed and signed by the police
 * key (so only the header differs), and open it as the matcher. */
static xchg_err open_with(void (*edit)(json_t *), const char *ref, int *incremental,
                          xchg_diag *d)
{
    xchg_seckey *m = seed_key(4), *police = seed_key(2);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(xex, m, &r, NULL), XCHG_OK);
    size_t hl;
    const uint8_t *h = xchg_xex_reader_header(r, &hl);
    json_t *j = json_loadb((const char *)h, hl, 0, NULL);
    assert_non_null(j);
    xchg_xex_reader_free(r);
    edit(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    const char *path = tpath("kind.xex");
    xchg_xex_writer *w = NULL;
    const xchg_policy_data *pd = xchg_agreement_get(pol);
    assert_int_equal(xchg_xex_writer_new(
                         path, 1,
                         &pd->parties[xchg_policy_party(xchg_agreement_policy(pol), "matcher")].key,
                         police, text, strlen(text), &w, NULL),
                     XCHG_OK);
    if (ref) { /* one record with this reference */
        xchg_record rec;
        memset(&rec, 0, sizeof rec);
        rec.ref = ref;
        rec.ref_len = strlen(ref);
        rec.consent_date = XCHG_DATE_NONE;
        rec.basis = "";
        uint8_t buf[512];
        size_t n = 0;
        assert_int_equal(xchg_record_encode(&rec, buf, sizeof buf, &n), XCHG_OK);
        assert_int_equal(xchg_xex_writer_add(w, buf, n), XCHG_OK);
    }
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);
    free(text);
    xchg_extract_file *f = NULL;
    xchg_err e = xchg_extract_open(pol, m, path, 1, &f, d);
    if (e == XCHG_OK) {
        *incremental = xchg_extract_file_info(f)->incremental;
        uint64_t n = 99;
        int end = 0;
        xchg_record rec;
        e = xchg_extract_next(f, &rec, &end, d);
        if (e == XCHG_OK && ref) {
            assert_false(end);
            e = xchg_extract_next(f, &rec, &end, d);
        }
        if (e == XCHG_OK) {
            assert_true(end);
            assert_int_equal(xchg_extract_finish(f, &n, d), XCHG_OK);
            assert_int_equal(n, ref ? 1 : 0);
        }
    }
    xchg_extract_close(f);
    xchg_seckey_free(m);
    xchg_seckey_free(police);
    return e;
}

static xchg_err open_with_header(void (*edit)(json_t *), int *incremental, xchg_diag *d)
{
    return open_with(edit, NULL, incremental, d);
}

static void no_kind(json_t *h) { json_object_del(h, "kind"); }
static void no_edit(json_t *h) { (void)h; }
static void kind_full(json_t *h) { json_object_set_new(h, "kind", json_string("full")); }
static void kind_incr(json_t *h) { json_object_set_new(h, "kind", json_string("incremental")); }
static void kind_delta(json_t *h) { json_object_set_new(h, "kind", json_string("delta")); }
static void kind_case(json_t *h) { json_object_set_new(h, "kind", json_string("Full")); }
static void kind_num(json_t *h) { json_object_set_new(h, "kind", json_integer(1)); }
static void kind_null(json_t *h) { json_object_set_new(h, "kind", json_null()); }

/* The header's "kind": full or incremental; absent (files sealed before it existed) is a
 * full snapshot; anything else is not an extract this matcher can place. */
static void test_kind(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    int inc = -1;
    /* the genuine extract says "full" */
    xchg_seckey *m = seed_key(4);
    xchg_extract_file *f = NULL;
    assert_int_equal(xchg_extract_open(pol, m, xex, 1, &f, d), XCHG_OK);
    assert_non_null(strstr(xchg_extract_file_info(f)->header_json, "\"kind\":\"full\""));
    assert_int_equal(xchg_extract_file_info(f)->incremental, 0);
    xchg_extract_close(f);
    xchg_seckey_free(m);
    assert_int_equal(open_with_header(no_kind, &inc, d), XCHG_OK);
    assert_int_equal(inc, 0);
    assert_int_equal(open_with_header(kind_full, &inc, d), XCHG_OK);
    assert_int_equal(inc, 0);
    assert_int_equal(open_with_header(kind_incr, &inc, d), XCHG_OK);
    assert_int_equal(inc, 1);
    void (*bad[])(json_t *) = {kind_delta, kind_case, kind_num, kind_null};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xchg_diag_clear(d);
        assert_int_equal(open_with_header(bad[i], &inc, d), XCHG_ERR_FORMAT);
        assert_diag_has(d, "kind.xex: error: extract header field 'kind' must be \"full\" or "
                           "\"incremental\"");
    }
    xchg_diag_free(d);
}

/* A record reference that is not text, or would drive the terminal, is refused by the
 * matcher too (a sealer that did not check, or a hostile one). */
static void test_bad_reference(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    int inc;
    assert_int_equal(open_with(no_edit, "R-1 Zoë", &inc, d), XCHG_OK);
    const char *bad[] = {"R\x1b[2J", "R\xff", "R\xc2\x9b", "R\xe2\x80\xae"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xchg_diag_clear(d);
        assert_int_equal(open_with(no_edit, bad[i], &inc, d), XCHG_ERR_FORMAT);
        assert_diag_has(d, "kind.xex: error: record 1 is not valid: its record reference is not "
                           "valid UTF-8 text or holds a control character");
    }
    xchg_diag_free(d);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_flipped_byte_anywhere),
        cmocka_unit_test(test_truncation_every_kib),
        cmocka_unit_test(test_wrong_matcher_key),
        cmocka_unit_test(test_signer_not_in_agreement),
        cmocka_unit_test(test_wrong_epoch),
        cmocka_unit_test(test_other_agreement),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_bad_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
