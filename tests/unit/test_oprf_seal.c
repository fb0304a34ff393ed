/*
 * Sealing in OPRF mode (tokens: {mode: oprf}): two agencies sealing the same person get
 * the same exact-match token; tokens are stable across runs (fresh blinds each time) and
 * differ from shared-secret mode's; the key service receives only blinded points — every
 * input the seal hands the OPRF client is recorded (the link-time wrap of
 * xchg_oprf_client_add) and no received point equals the hash-to-point of any of them;
 * a refusal (rate limit), a tampered answer and a missing transport each fail the run
 * with a clear reason and no output file; repeated values are evaluated once.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <sodium.h>

#define FIX XCHG_TEST_DIR "/fixtures/seal/"
#define EL XCHG_OPRF_ELEMENT_BYTES

static xchg_agreement *pol_secret, *pol_oprf;
static xchg_secret *sec;
static uint8_t oprf_sk[32];

/* ---- what the seal gives the client (link-time wrap) ------------------------------ */

#define MAX_INPUTS 256
static uint8_t inputs[MAX_INPUTS][XCHG_OPRF_MAX_INPUT];
static size_t input_len[MAX_INPUTS], ninputs;

xchg_err __real_xchg_oprf_client_add(xchg_oprf_client *c, const uint8_t *input, size_t len);
xchg_err __wrap_xchg_oprf_client_add(xchg_oprf_client *c, const uint8_t *input, size_t len);
xchg_err __wrap_xchg_oprf_client_add(xchg_oprf_client *c, const uint8_t *input, size_t len)
{
    if (ninputs < MAX_INPUTS && len <= XCHG_OPRF_MAX_INPUT) {
        memcpy(inputs[ninputs], input, len);
        input_len[ninputs++] = len;
    }
    return __real_xchg_oprf_client_add(c, input, len);
}

/* ---- an in-process key service ----------------------------------------------------- */

struct svc {
    uint8_t seen[MAX_INPUTS][EL];
    size_t nseen, requests, limit, used;
    int tamper;
};
static struct svc svc;

static xchg_err transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                          size_t *resp_len, char *why, size_t whylen)
{
    struct svc *s = ctx;
    size_t n;
    assert_int_equal(xchg_oprf_request_count(req, len, &n), XCHG_OK);
    s->requests++;
    for (size_t i = 0; i < n && s->nseen < MAX_INPUTS; i++)
        memcpy(s->seen[s->nseen++], req + 8 + i * EL, EL);
    if (s->used + n > s->limit) {
        snprintf(why, whylen,
                 "keyd refused the request (HTTP 429): rate limit: agency "
                 "'police' has used %zu of its %zu OPRF evaluations",
                 s->used, s->limit);
        return XCHG_ERR_DENIED;
    }
    s->used += n;
    assert_int_equal(xchg_oprf_serve(oprf_sk, req, len, resp, resp_len), XCHG_OK);
    if (s->tamper)
        (*resp)[8 + 5] ^= 0x40; /* one byte of the first evaluated point */
    return XCHG_OK;
}

static int32_t day(const char *s)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(s, strlen(s), &d), XCHG_OK);
    return d;
}

static int setup(void **state)
{
    (void)state;
    uint8_t pk[32], h[64], key[XCHG_SECRET_BYTES];
    crypto_generichash(h, 64, (const uint8_t *)"oprf seal test key", 18, NULL, 0);
    crypto_core_ristretto255_scalar_reduce(oprf_sk, h);
    if (xchg_oprf_public(oprf_sk, pk) != XCHG_OK)
        return -1;
    char hex[65], extra[256];
    xchg_hex_encode(hex, pk, 32);
    snprintf(extra, sizeof extra,
             "tokens: {mode: oprf, keyd: \"https://keyd.example:8444\", key: %s, "
             "queries_per_day: 1000}\n",
             hex);
    size_t bl;
    char *base = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &bl);
    char *text = malloc(bl + strlen(extra) + 1);
    memcpy(text, base, bl);
    memcpy(text + bl, extra, strlen(extra) + 1);
    xchg_diag *d = xchg_diag_new();
    int rc = t_agreement_parse(base, bl, "base.yaml", &pol_secret, d) != XCHG_OK ||
             t_agreement_parse(text, strlen(text), "oprf.yaml", &pol_oprf, d) != XCHG_OK;
    for (size_t i = 0; rc && i < xchg_diag_count(d); i++)
        print_message("%s\n", xchg_diag_text(d, i));
    xchg_diag_free(d);
    free(text);
    free(base);
    /* one linkage secret for both agreements (same id): only the mode differs */
    memset(key, 7, sizeof key);
    if (!rc && xchg_secret_from_bytes(xchg_agreement_get(pol_secret)->id, 1, key, &sec) != XCHG_OK)
        rc = 1;
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(sec);
    xchg_agreement_free(pol_secret);
    xchg_agreement_free(pol_oprf);
    return 0;
}

struct rec {
    char ref[64];
    xchg_record r;
    uint8_t *buf;
};

struct opened {
    struct rec recs[16];
    size_t n;
};

static void open_extract(const char *path, int signer_seed, struct opened *o)
{
    xchg_seckey *matcher = seed_key(4), *signer = seed_key(signer_seed);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(signer), NULL), XCHG_OK);
    xchg_seckey_free(signer);
    o->n = 0;
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end)
            break;
        assert_true(o->n < 16);
        struct rec *x = &o->recs[o->n++];
        x->buf = malloc(len);
        memcpy(x->buf, rec, len);
        assert_int_equal(xchg_record_decode(x->buf, len, &x->r, NULL), XCHG_OK);
        snprintf(x->ref, sizeof x->ref, "%.*s", (int)x->r.ref_len, x->r.ref);
    }
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    xchg_xex_reader_free(r);
    xchg_seckey_free(matcher);
}

static void close_extract(struct opened *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->recs[i].buf);
}

static const xchg_record *find(const struct opened *o, const char *ref)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->recs[i].ref, ref) == 0)
            return &o->recs[i].r;
    fail_msg("no record %s", ref);
    return NULL;
}

static const uint8_t *token(const xchg_record *r, const char *keyname)
{
    const xchg_policy_data *p = xchg_agreement_get(pol_secret);
    for (size_t i = 0; i < r->nmatch; i++)
        if (strcmp(p->match_keys[r->match[i].index].name, keyname) == 0)
            return r->match[i].value;
    return NULL;
}

static unsigned seal_threads; /* xchg_seal_opts.oprf_threads */

static xchg_err seal(xchg_agreement *p, const char *in, const char *out, int seed, int with_keyd,
                     xchg_seal_stats *st, xchg_diag *d)
{
    xchg_seckey *k = seed_key(seed);
    unlink(out);
    xchg_seal_opts o = {.input = in,
                        .output = out,
                        .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"),
                        .now = 1767225600,
                        .oprf_transport = with_keyd ? transport : NULL,
                        .oprf_ctx = &svc,
                        .oprf_batch = 3,
                        .oprf_threads = seal_threads};
    xchg_err e = xchg_seal(p, k, sec, &o, st, d);
    if (e != XCHG_OK && getenv("XCHG_TEST_VERBOSE"))
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  diag: %s\n", xchg_diag_text(d, i));
    xchg_seckey_free(k);
    return e;
}

static void test_oprf_tokens(void **state)
{
    (void)state;
    const char *p1 = tpath("oprf-police-1.xex"), *p2 = tpath("oprf-police-2.xex"),
               *sc = tpath("oprf-school.xex"), *ps = tpath("secret-police.xex");
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    memset(&svc, 0, sizeof svc);
    svc.limit = 1000;
    ninputs = 0;
    assert_int_equal(seal(pol_oprf, FIX "police.csv", p1, 2, 1, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 4);
    /* 4 people, name_dob and phon_dob each (no UPN in police's extract), all distinct */
    assert_int_equal(st.oprf_inputs, 8);
    assert_int_equal(st.oprf_requests, 3); /* batches of 3 */
    assert_int_equal(svc.nseen, 8);
    size_t first_run = svc.nseen;
    assert_int_equal(seal(pol_oprf, FIX "police.csv", p2, 2, 1, &st, d), XCHG_OK);
    assert_int_equal(seal(pol_oprf, FIX "school.csv", sc, 3, 1, &st, d), XCHG_OK);
    assert_int_equal(seal(pol_secret, FIX "police.csv", ps, 2, 0, &st, d), XCHG_OK);

    /* the service never received an unblinded value: no point equals H(x) of any input
     * the seal evaluated (and the same values blind differently in the second run) */
    assert_true(ninputs >= 16);
    for (size_t i = 0; i < ninputs; i++) {
        uint8_t hp[EL];
        assert_int_equal(xchg_oprf_hash_to_group(inputs[i], input_len[i], hp), XCHG_OK);
        for (size_t j = 0; j < svc.nseen; j++)
            assert_memory_not_equal(hp, svc.seen[j], EL);
        /* and the inputs name their agreement and key, never in the clear to the service */
        assert_memory_equal(inputs[i], "xchg-token v1", 13);
    }
    for (size_t i = 0; i < first_run; i++)
        for (size_t j = first_run; j < 2 * first_run; j++)
            assert_memory_not_equal(svc.seen[i], svc.seen[j], EL);

    struct opened a, b, s, x;
    open_extract(p1, 2, &a);
    open_extract(p2, 2, &b);
    open_extract(sc, 3, &s);
    open_extract(ps, 2, &x);
    /* stable across runs */
    for (size_t i = 0; i < a.n; i++) {
        const xchg_record *r1 = &a.recs[i].r, *r2 = find(&b, a.recs[i].ref);
        assert_int_equal(r1->nmatch, r2->nmatch);
        for (size_t t = 0; t < r1->nmatch; t++)
            assert_memory_equal(r1->match[t].value, r2->match[t].value, 32);
    }
    /* one thread or four: the same records, token for token (the file itself differs:
     * its encryption is randomised) */
    {
        const char *p3 = tpath("oprf-police-1thread.xex"), *p4 = tpath("oprf-police-4threads.xex");
        memset(&svc, 0, sizeof svc);
        svc.limit = 1000;
        seal_threads = 1;
        assert_int_equal(seal(pol_oprf, FIX "police.csv", p3, 2, 1, &st, d), XCHG_OK);
        seal_threads = 4;
        assert_int_equal(seal(pol_oprf, FIX "police.csv", p4, 2, 1, &st, d), XCHG_OK);
        seal_threads = 0;
        struct opened o1, o4;
        open_extract(p3, 2, &o1);
        open_extract(p4, 2, &o4);
        assert_int_equal(o1.n, a.n);
        assert_int_equal(o4.n, a.n);
        for (size_t i = 0; i < a.n; i++) {
            const xchg_record *r0 = &a.recs[i].r, *r1 = find(&o1, a.recs[i].ref),
                              *r4 = find(&o4, a.recs[i].ref);
            assert_int_equal(r0->nmatch, r1->nmatch);
            assert_int_equal(r0->nmatch, r4->nmatch);
            for (size_t t = 0; t < r0->nmatch; t++) {
                assert_int_equal(r0->match[t].index, r1->match[t].index);
                assert_int_equal(r0->match[t].index, r4->match[t].index);
                assert_memory_equal(r0->match[t].value, r1->match[t].value, 32);
                assert_memory_equal(r0->match[t].value, r4->match[t].value, 32);
            }
        }
        close_extract(&o1);
        close_extract(&o4);
    }
    /* across agencies: P1 (police) and S1 (school) are the same person */
    const xchg_record *pp1 = find(&a, "P1"), *s1 = find(&s, "S1"), *s2 = find(&s, "S2"),
                      *xp1 = find(&x, "P1");
    assert_non_null(token(pp1, "name_dob"));
    assert_memory_equal(token(pp1, "name_dob"), token(s1, "name_dob"), 32);
    assert_memory_equal(token(pp1, "phon_dob"), token(s1, "phon_dob"), 32);
    assert_memory_equal(token(s1, "upn"), token(s2, "upn"), 32);
    assert_memory_not_equal(token(s1, "name_dob"), token(s2, "name_dob"), 32);
    /* and unlike shared-secret mode's tokens for the same row under the same secret */
    assert_memory_not_equal(token(pp1, "name_dob"), token(xp1, "name_dob"), 32);
    assert_memory_not_equal(token(pp1, "phon_dob"), token(xp1, "phon_dob"), 32);
    /* household tokens stay under the linkage secret (docs/keyd.md): identical */
    assert_int_equal(pp1->nhouse, 1);
    assert_memory_equal(pp1->house[0].value, xp1->house[0].value, 32);
    close_extract(&a);
    close_extract(&b);
    close_extract(&s);
    close_extract(&x);
    xchg_diag_free(d);
}

static void test_oprf_refusals(void **state)
{
    (void)state;
    const char *out = tpath("oprf-refused.xex");
    xchg_seal_stats st;
    /* rate limit: the run fails with the service's reason, and writes nothing */
    memset(&svc, 0, sizeof svc);
    svc.limit = 5;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(seal(pol_oprf, FIX "police.csv", out, 2, 1, &st, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "OPRF key service: keyd refused the request (HTTP 429): rate limit");
    assert_int_equal(access(out, F_OK), -1);
    xchg_diag_free(d);
    /* a tampered answer */
    memset(&svc, 0, sizeof svc);
    svc.limit = 1000;
    svc.tamper = 1;
    d = xchg_diag_new();
    assert_int_equal(seal(pol_oprf, FIX "police.csv", out, 2, 1, &st, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "does not verify against the agreement's key");
    assert_int_equal(access(out, F_OK), -1);
    xchg_diag_free(d);
    /* OPRF mode without a way to reach the service */
    d = xchg_diag_new();
    assert_int_equal(seal(pol_oprf, FIX "police.csv", out, 2, 0, &st, d), XCHG_ERR_ARG);
    assert_diag_has(d, "keys its exact-match tokens through the key service at "
                       "https://keyd.example:8444");
    assert_int_equal(access(out, F_OK), -1);
    xchg_diag_free(d);
}

/* policy explain states OPRF mode with its URL and limit, and what stays shared. */
static void test_explain(void **state)
{
    (void)state;
    char *text = NULL;
    assert_int_equal(xchg_policy_explain(xchg_agreement_policy(pol_oprf), &text), XCHG_OK);
    assert_non_null(strstr(text, "The exact match keys also need the agreement's key service "
                                 "(https://keyd.example:8444)"));
    assert_non_null(strstr(text, "at most 1000 per agency per day"));
    assert_non_null(strstr(text, "stay keyed with the linkage secret every agency holds"));
    free(text);
    assert_int_equal(xchg_policy_explain(xchg_agreement_policy(pol_secret), &text), XCHG_OK);
    assert_null(strstr(text, "key service"));
    free(text);
}

/* The agreement's tokens section: what it accepts and the errors it gives. */
static void test_tokens_section(void **state)
{
    (void)state;
    const xchg_policy_data *p = xchg_agreement_get(pol_oprf);
    assert_int_equal(p->tokens.mode, XCHG_TOKENS_OPRF);
    assert_string_equal(p->tokens.keyd, "https://keyd.example:8444");
    assert_int_equal(p->tokens.queries_per_day, 1000);
    assert_int_equal(xchg_agreement_get(pol_secret)->tokens.mode, XCHG_TOKENS_SECRET);
    size_t bl;
    char *base = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &bl);
    const struct {
        const char *section, *error;
    } bad[] = {
        {"tokens: {mode: magic}\n", "'mode' in 'tokens' must be 'oprf' or 'secret', not 'magic'"},
        {"tokens: {mode: oprf, key: "
         "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76}\n",
         "missing required key 'keyd' in 'tokens'"},
        {"tokens: {mode: oprf, keyd: \"http://x:1\", key: "
         "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76}\n",
         "'keyd' in 'tokens' must be an https:// URL"},
        {"tokens: {mode: oprf, keyd: \"https://x:1\", key: 00ff}\n",
         "'key' in 'tokens' must be the key service's public key"},
        {"tokens: {mode: oprf, keyd: \"https://x:1\", key: "
         "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76, queries_per_day: 0}\n",
         "queries_per_day"},
        {"tokens: {mode: oprf, keyd: \"https://x:1\", key: "
         "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76, custodian: police}\n",
         "'police' is an agency"},
        {"tokens: {mode: oprf, keyd: \"https://x:1\", color: red, key: "
         "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76}\n",
         "unknown key 'color' in 'tokens'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = malloc(bl + strlen(bad[i].section) + 1);
        memcpy(text, base, bl);
        memcpy(text + bl, bad[i].section, strlen(bad[i].section) + 1);
        xchg_agreement *p2 = NULL;
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(t_agreement_parse(text, strlen(text), "t.yaml", &p2, d), XCHG_ERR_POLICY);
        assert_diag_has(d, bad[i].error);
        assert_diag_has(d, "t.yaml:"); /* file:line:col */
        xchg_diag_free(d);
        free(text);
    }
    free(base);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oprf_tokens),
        cmocka_unit_test(test_oprf_refusals),
        cmocka_unit_test(test_tokens_section),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
