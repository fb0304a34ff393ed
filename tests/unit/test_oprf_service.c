/*
 * The key service's rules (oprf_service.h): only agencies of the agreement, with a fresh
 * signature over the exact body, are answered (forged, replayed, stale, body-swapped,
 * wrong-role and unknown-endpoint requests are refused before anything is counted); the
 * daily limit refuses a batch whole and the refusal is recorded; every answer's entry is
 * in the hash-chained log before the answer exists, with counts only (never a point); a
 * restart restores the day's count from the log, a new UTC day starts from zero; a log
 * that was edited, had an entry removed or a line cut short refuses the open; the key
 * must be the agreement's. Also the protected OPRF key file: round trip, wrong
 * passphrase, altered file, no passphrase, mode.
 */
#include "test_helpers.h"

#include <sodium.h>
#include <sys/stat.h>

#define EL XCHG_OPRF_ELEMENT_BYTES
#define T0 1796140800 /* 2026-12-01T00:00:00Z */

static xchg_agreement *agr;
static const xchg_policy *pol; /* agr's */
static uint8_t sk[32];

static int setup(void **state)
{
    (void)state;
    uint8_t pk[32], h[64];
    crypto_generichash(h, 64, (const uint8_t *)"oprf service test key", 21, NULL, 0);
    crypto_core_ristretto255_scalar_reduce(sk, h);
    if (xchg_oprf_public(sk, pk) != XCHG_OK)
        return -1;
    char hex[65], repl[400];
    xchg_hex_encode(hex, pk, 32);
    snprintf(repl, sizeof repl,
             "tokens: {mode: oprf, keyd: \"https://keyd.example:8444\", key: %s, "
             "queries_per_day: 10}\nparties:",
             hex);
    agr = agreement_variant("parties:", repl);
    pol = agr ? xchg_agreement_policy(agr) : NULL;
    return agr ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    xchg_agreement_free(agr);
    return 0;
}

/* A request of n valid points (hash-to-group of "i") signed by key seed at time now. */
struct rq {
    uint8_t body[XCHG_OPRF_REQ_BYTES(16)];
    size_t len;
    xchg_netauth_headers h;
    xchg_netauth_request r;
};

static void make_rq(struct rq *q, int seed, size_t n, int64_t now, const char *path)
{
    memcpy(q->body, XCHG_OPRF_REQ_MAGIC, 4);
    q->body[4] = (uint8_t)n, q->body[5] = q->body[6] = q->body[7] = 0;
    for (size_t i = 0; i < n; i++) {
        char in[16];
        int l = snprintf(in, sizeof in, "%zu", i);
        assert_int_equal(
            xchg_oprf_hash_to_group((const uint8_t *)in, (size_t)l, q->body + 8 + i * EL), XCHG_OK);
    }
    q->len = XCHG_OPRF_REQ_BYTES(n);
    uint8_t sha[XCHG_SHA256_BYTES];
    xchg_sha256(q->body, q->len, sha);
    xchg_seckey *k = seed_key(seed);
    assert_int_equal(xchg_netauth_sign(k, "POST", path, now, sha, &q->h), XCHG_OK);
    xchg_seckey_free(k);
    q->r = (xchg_netauth_request){"POST",           path,          q->h.key, q->h.time, q->h.nonce,
                                  q->h.body_sha256, q->h.signature};
}

/* admit + answer; returns the outcome (and frees an answer after checking it). */
static xchg_oprf_outcome ask(xchg_oprf_service *s, struct rq *q, int64_t now)
{
    xchg_oprf_reply r;
    if (xchg_oprf_service_admit(s, &q->r, now, &r) != XCHG_OK)
        return r.outcome;
    size_t party = r.party;
    xchg_err e = xchg_oprf_service_answer(s, party, q->r.body_sha256, q->body, q->len, now, &r);
    if (e != XCHG_OK) {
        assert_null(r.body);
        return r.outcome;
    }
    size_t n = q->body[4];
    assert_int_equal(r.len, XCHG_OPRF_RESP_BYTES(n));
    /* the answer verifies under the agreement's key */
    uint8_t pk[32];
    assert_int_equal(xchg_oprf_public(sk, pk), XCHG_OK);
    assert_int_equal(xchg_oprf_verify(pk, (const uint8_t(*)[EL])(q->body + 8),
                                      (const uint8_t(*)[EL])(r.body + 8), n, r.body + 8 + n * EL),
                     XCHG_OK);
    free(r.body);
    return r.outcome;
}

static size_t count_lines(const char *path, const char *needle)
{
    size_t len = 0, n = 0;
    char *t = slurp(path, &len);
    for (char *p = t; p && (p = strstr(p, needle)); p++)
        n++;
    free(t);
    return n;
}

static void test_rules(void **state)
{
    (void)state;
    const char *log = tpath("keyd-rules.audit");
    unlink(log);
    xchg_oprf_service *s = NULL;
    xchg_diag *d = xchg_diag_new();
    /* the wrong key refuses the open */
    uint8_t other[32], opk[32];
    assert_int_equal(xchg_oprf_keygen(other, opk), XCHG_OK);
    assert_int_equal(xchg_oprf_service_open(agr, other, log, T0, &s, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "differs from tokens.key");
    assert_int_equal(access(log, F_OK), -1);
    /* an agreement without tokens: {mode: oprf} */
    xchg_agreement *plain = agreement_variant("parties:", "parties:");
    assert_int_equal(xchg_oprf_service_open(plain, sk, log, T0, &s, d), XCHG_ERR_POLICY);
    xchg_agreement_free(plain);

    assert_int_equal(xchg_oprf_service_open(agr, sk, log, T0 + 100, &s, d), XCHG_OK);
    assert_string_equal(xchg_oprf_service_custodian(s), "ig");
    struct stat sb;
    assert_int_equal(stat(log, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    struct rq q;
    /* police (seed 2): 4 points answered */
    make_rq(&q, 2, 4, T0 + 100, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_ANSWERED);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "police"), T0 + 100), 4);
    /* replayed */
    assert_int_equal(ask(s, &q, T0 + 101), XCHG_OPRF_UNAUTHENTICATED);
    /* stale */
    make_rq(&q, 2, 1, T0 + 100 - 1000, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_UNAUTHENTICATED);
    /* forged: signature of another key under police's key id */
    make_rq(&q, 2, 1, T0 + 100, XCHG_OPRF_PATH);
    {
        struct rq f;
        make_rq(&f, 3, 1, T0 + 100, XCHG_OPRF_PATH);
        q.r.signature = f.h.signature;
        assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_UNAUTHENTICATED);
    }
    /* body swapped after signing: a different point */
    make_rq(&q, 2, 2, T0 + 100, XCHG_OPRF_PATH);
    memcpy(q.body + 8, q.body + 8 + EL, EL);
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_UNAUTHENTICATED);
    /* the matcher (seed 4) and a recipient (seed 5): forbidden */
    make_rq(&q, 4, 1, T0 + 100, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_FORBIDDEN);
    make_rq(&q, 5, 1, T0 + 100, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_FORBIDDEN);
    /* an unsigned request, an unknown endpoint */
    make_rq(&q, 2, 1, T0 + 100, XCHG_OPRF_PATH);
    q.r.signature = NULL;
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_UNAUTHENTICATED);
    make_rq(&q, 2, 1, T0 + 100, "/v1/other");
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_NO_ENDPOINT);
    /* answer() checks the role itself too: a matcher's index is refused */
    {
        xchg_oprf_reply r;
        assert_int_equal(xchg_oprf_service_answer(s, xchg_policy_party(pol, "matcher"),
                                                  q.r.body_sha256, q.body, q.len, T0 + 100, &r),
                         XCHG_ERR_DENIED);
        assert_int_equal(r.outcome, XCHG_OPRF_FORBIDDEN);
    }
    /* an element that is not a point (signed as it is): bad request, not counted */
    make_rq(&q, 2, 2, T0 + 100, XCHG_OPRF_PATH);
    memset(q.body + 8 + EL, 0xff, EL);
    {
        uint8_t sha[XCHG_SHA256_BYTES];
        xchg_sha256(q.body, q.len, sha);
        xchg_seckey *k = seed_key(2);
        assert_int_equal(xchg_netauth_sign(k, "POST", XCHG_OPRF_PATH, T0 + 100, sha, &q.h),
                         XCHG_OK);
        xchg_seckey_free(k);
    }
    assert_int_equal(ask(s, &q, T0 + 100), XCHG_OPRF_BAD_REQUEST);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "police"), T0 + 100), 4);
    /* the limit (10 a day): 6 more fit, then one more is refused whole, and recorded */
    make_rq(&q, 2, 6, T0 + 200, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 200), XCHG_OPRF_ANSWERED);
    make_rq(&q, 2, 1, T0 + 201, XCHG_OPRF_PATH);
    xchg_oprf_reply r;
    assert_int_equal(xchg_oprf_service_admit(s, &q.r, T0 + 201, &r), XCHG_OK);
    assert_int_equal(
        xchg_oprf_service_answer(s, r.party, q.r.body_sha256, q.body, q.len, T0 + 201, &r),
        XCHG_ERR_DENIED);
    assert_int_equal(r.outcome, XCHG_OPRF_RATE_LIMITED);
    assert_non_null(strstr(r.message, "agency 'police' has used 10 of its 10 OPRF evaluations"));
    /* school (seed 3) has its own count */
    make_rq(&q, 3, 3, T0 + 202, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 202), XCHG_OPRF_ANSWERED);
    xchg_oprf_service_free(s);

    /* the log: genesis + 3 answered + 1 refused; counts only; it verifies under ig's key */
    assert_int_equal(count_lines(log, "\"type\":\"oprf\""), 4);
    assert_int_equal(count_lines(log, "\"outcome\":\"rate-limited\""), 1);
    {
        size_t len;
        char *t = slurp(log, &len);
        char hx[2 * EL + 1];
        for (size_t i = 0; i < q.body[4]; i++) { /* no point of a request */
            xchg_hex_encode(hx, q.body + 8 + i * EL, EL);
            assert_null(strstr(t, hx));
        }
        free(t);
    }
    const xchg_policy_data *pd = xchg_policy_get(pol);
    xchg_audit_stats st;
    assert_int_equal(
        xchg_audit_verify(log, &pd->parties[xchg_policy_party(pol, "ig")].key, &st, NULL), XCHG_OK);
    assert_int_equal(st.entries, 5);

    /* a restart the same day: the count comes back (police 10 of 10: refused) */
    assert_int_equal(xchg_oprf_service_open(agr, sk, log, T0 + 3600, &s, d), XCHG_OK);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "police"), T0 + 3600), 10);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "school"), T0 + 3600), 3);
    make_rq(&q, 2, 1, T0 + 3600, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 3600), XCHG_OPRF_RATE_LIMITED);
    /* the next UTC day starts from zero, in the same process */
    make_rq(&q, 2, 1, T0 + 86400 + 5, XCHG_OPRF_PATH);
    assert_int_equal(ask(s, &q, T0 + 86400 + 5), XCHG_OPRF_ANSWERED);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "police"), T0 + 86400 + 5),
                     1);
    xchg_oprf_service_free(s);
    /* and a restart on the next day restores only that day's */
    assert_int_equal(xchg_oprf_service_open(agr, sk, log, T0 + 86400 + 60, &s, d), XCHG_OK);
    assert_int_equal(xchg_oprf_service_used(s, xchg_policy_party(pol, "police"), T0 + 86400 + 60),
                     1);
    xchg_oprf_service_free(s);
    xchg_diag_free(d);
}

/* Rewrite line `line` (1-based) of path with the first `find` replaced by `repl`, or drop
 * it (repl NULL), or cut the file by `cut` bytes. */
static void tamper(const char *src, const char *dst, int line, const char *find, const char *repl,
                   size_t cut)
{
    size_t len;
    char *t = slurp(src, &len);
    FILE *f = fopen(dst, "w");
    assert_non_null(f);
    int ln = 1;
    for (char *p = t; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (ln == line && !repl && find) {
            /* dropped */
        } else if (ln == line && repl) {
            char *at = strstr(p, find);
            assert_true(at && at < p + l);
            fwrite(p, 1, (size_t)(at - p), f);
            fputs(repl, f);
            fwrite(at + strlen(find), 1, l - (size_t)(at - p) - strlen(find), f);
        } else
            fwrite(p, 1, l, f);
        p += l;
        ln++;
    }
    fclose(f);
    if (cut)
        assert_int_equal(truncate(dst, (off_t)(len - cut)), 0);
    free(t);
    chmod(dst, 0600);
}

static void test_tampered_log(void **state)
{
    (void)state;
    const char *log = tpath("keyd-rules.audit"); /* from test_rules */
    const char *bad = tpath("keyd-tampered.audit");
    xchg_oprf_service *s = NULL;
    struct {
        int line;
        const char *find, *repl;
        size_t cut;
        xchg_err want;
    } cases[] = {
        {2, "\"evaluations\":4,", "\"evaluations\":0,", 0, XCHG_ERR_VERIFY}, /* edited count */
        {3, "x", NULL, 0, XCHG_ERR_VERIFY},                                  /* entry removed */
        {0, NULL, NULL, 7, XCHG_ERR_TRUNCATED},                              /* line cut short */
        {1, "\"seq\":0", "\"seq\":1", 0, XCHG_ERR_VERIFY},                   /* genesis edited */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tamper(log, bad, cases[i].line, cases[i].find, cases[i].repl, cases[i].cut);
        xchg_diag *d = xchg_diag_new();
        xchg_err e = xchg_oprf_service_open(agr, sk, bad, T0 + 3600, &s, d);
        if (e != cases[i].want)
            for (size_t j = 0; j < xchg_diag_count(d); j++)
                print_message("case %zu: %s\n", i, xchg_diag_text(d, j));
        assert_true(e != XCHG_OK);
        assert_null(s);
        assert_diag_has(d, "refusing to start on it");
        xchg_diag_free(d);
    }
    /* a log an older xchg-keyd wrote (plain JSON lines) is refused, not restarted from 0 */
    xchg_diag *d = xchg_diag_new();
    const char *plain = tpath("keyd-plainjson.audit");
    FILE *f = fopen(plain, "w");
    fputs("{\"time\":1,\"day\":\"2026-12-01\",\"agency\":\"police\",\"evaluations\":9,"
          "\"outcome\":\"ok\"}\n",
          f);
    fclose(f);
    assert_int_not_equal(xchg_oprf_service_open(agr, sk, plain, T0 + 3600, &s, d), XCHG_OK);
    assert_diag_has(d, "refusing to start on it");
    xchg_diag_free(d);
}

static void test_keyfile(void **state)
{
    (void)state;
    const char *path = tpath("prot.oprfkey"), *v1 = tpath("plain.oprfkey");
    unlink(path);
    unlink(v1);
    xchg_kdf_limits fast = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    uint8_t got[32];
    assert_int_equal(xchg_oprf_key_write_protected(path, sk, "pw", 2, &fast, 0), XCHG_OK);
    assert_int_equal(xchg_oprf_key_write_protected(path, sk, "pw", 2, &fast, 0), XCHG_ERR_EXISTS);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    int prot = 0;
    assert_int_equal(xchg_oprf_key_protected(path, &prot, NULL), XCHG_OK);
    assert_int_equal(prot, 1);
    /* the secret is not in the file in the clear */
    {
        size_t len;
        char *t = slurp(path, &len), hx[65];
        xchg_hex_encode(hx, sk, 32);
        assert_null(strstr(t, hx));
        free(t);
    }
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_oprf_key_load(path, "pw", 2, got, d), XCHG_OK);
    assert_memory_equal(got, sk, 32);
    assert_int_equal(xchg_oprf_key_load(path, "pW", 2, got, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "wrong passphrase");
    assert_true(sodium_is_zero(got, 32));
    assert_int_equal(xchg_oprf_key_read(path, got, d), XCHG_ERR_ARG);
    assert_diag_has(d, "passphrase-protected");
    /* one flipped hex digit anywhere in the body (the public key, the limits, the
     * ciphertext): refused */
    size_t len;
    char *t = slurp(path, &len);
    const size_t at[] = {17 + 10, 17 + 2 * 40, 17 + 2 * 100, len - 3};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        char *c = strdup(t);
        c[at[i]] = c[at[i]] == '0' ? '1' : '0';
        unlink(path);
        assert_int_equal(xchg_file_write_atomic(path, c, len, 0600, 0, NULL), XCHG_OK);
        assert_int_not_equal(xchg_oprf_key_load(path, "pw", 2, got, d), XCHG_OK);
        free(c);
    }
    free(t);
    /* v1 files still load without a passphrase; a loose mode is refused */
    assert_int_equal(xchg_oprf_key_write(v1, sk, 0), XCHG_OK);
    assert_int_equal(xchg_oprf_key_protected(v1, &prot, NULL), XCHG_OK);
    assert_int_equal(prot, 0);
    assert_int_equal(xchg_oprf_key_load(v1, NULL, 0, got, d), XCHG_OK);
    assert_memory_equal(got, sk, 32);
    chmod(v1, 0640);
    assert_int_equal(xchg_oprf_key_load(v1, NULL, 0, got, d), XCHG_ERR_DENIED);
    xchg_diag_free(d);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_tampered_log),
        cmocka_unit_test(test_keyfile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
