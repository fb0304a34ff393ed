/* The verifiable OPRF (oprf.h): the known-answer vector of docs/formats.md; the protocol
 * gives exactly sk·H(x) hashed; a batch verifies; a wrong point, a wrong proof and a wrong
 * key are each detected; the service only ever receives blinded points (checked against
 * the hash-to-point of every input); repeated inputs are evaluated once and in batches; a
 * refusal reaches the caller with its reason; key files are 0600 and checked. */
#include "test_helpers.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define EL XCHG_OPRF_ELEMENT_BYTES

static void hex(char *out, const uint8_t *b, size_t n)
{
    xchg_hex_encode(out, b, n);
}

/* Whether any message in d contains text. */
static int diag_has(const xchg_diag *d, const char *text)
{
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        if (strstr(xchg_diag_text(d, i), text))
            return 1;
    return 0;
}

/* the fixed key and blind of the vector: scalars reduced from BLAKE2b-512 of a label */
static void fixed_scalar(const char *label, uint8_t s[32])
{
    uint8_t h[64];
    crypto_generichash(h, 64, (const uint8_t *)label, strlen(label), NULL, 0);
    crypto_core_ristretto255_scalar_reduce(s, h);
}

#define KAT_INPUT "exchange OPRF test vector"
/* docs/formats.md, "OPRF known-answer vector" */
#define KAT_PK "7a1cb664c841ad0e5c658df8f3d3d28b01a5a62468fbb90a9a4af93f9dd28463"
#define KAT_BLINDED "e68b745080fe346a651ae2c1c3dea3c162d88890f90eb47043522448680cf40b"
#define KAT_EVALUATED "4883232ec286be21e54630a2bfdfe8e798b66b089dcfad947bb2bf76a9bff602"
#define KAT_PROOF                                                                                  \
    "56439bf5793ce9fdf0cb74ad6c380c2916c16fcde1730814cbd2188fd6c46f0860f3f293b2c103698012e5259ee0" \
    "e8e8934d55cc191ddc2569f0be073847a30c"
#define KAT_OUTPUT                                                                                 \
    "72ae16221c4b5204a540d73b8b78d9fbf9c3eb57cb8fa0a68830e36a2c757eddffc898b4e2aae3d3dcd3b65e96a5" \
    "d3cb580e09b9656d583b648ce840af3660b8"

static void test_known_answer(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], blind[32], r[32], b[EL], e[EL], proof[64], pr[32], out[64], d[64];
    char h[129];
    fixed_scalar("exchange OPRF test key", sk);
    fixed_scalar("exchange OPRF test blind", blind);
    fixed_scalar("exchange OPRF test proof nonce", pr);
    assert_int_equal(xchg_oprf_public(sk, pk), XCHG_OK);
    const uint8_t *in = (const uint8_t *)KAT_INPUT;
    size_t n = strlen(KAT_INPUT);
    assert_int_equal(xchg_oprf_blind(in, n, blind, r, b), XCHG_OK);
    assert_memory_equal(r, blind, 32);
    assert_int_equal(
        xchg_oprf_evaluate(sk, (const uint8_t(*)[EL])b, 1, pr, (uint8_t(*)[EL])e, proof), XCHG_OK);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e, 1, proof), XCHG_OK);
    assert_int_equal(xchg_oprf_finalize(in, n, r, e, out), XCHG_OK);
    assert_int_equal(xchg_oprf_direct(sk, in, n, d), XCHG_OK);
    assert_memory_equal(out, d, 64);
    if (getenv("XCHG_OPRF_PRINT")) {
        const struct {
            const char *name;
            const uint8_t *v;
            size_t n;
        } f[] = {{"sk", sk, 32},       {"pk", pk, 32},       {"blind", blind, 32},
                 {"blinded", b, 32},   {"evaluated", e, 32}, {"proof nonce", pr, 32},
                 {"proof", proof, 64}, {"output", out, 64}};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            hex(h, f[i].v, f[i].n);
            printf("%-12s %s\n", f[i].name, h);
        }
    }
    const char *want[] = {KAT_PK, KAT_BLINDED, KAT_EVALUATED, KAT_PROOF, KAT_OUTPUT};
    const uint8_t *got[] = {pk, b, e, proof, out};
    size_t len[] = {32, 32, 32, 64, 64};
    for (int i = 0; i < 5; i++) {
        hex(h, got[i], len[i]);
        assert_string_equal(h, want[i]);
    }
}

/* A batch: every output equals the direct evaluation; tampering is detected. */
static void test_batch_and_tamper(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], sk2[32], pk2[32];
    assert_int_equal(xchg_oprf_keygen(sk, pk), XCHG_OK);
    assert_int_equal(xchg_oprf_keygen(sk2, pk2), XCHG_OK);
    enum { N = 5 };
    const char *in[N] = {"a", "b", "", "smith|1990-01-02", "a"};
    uint8_t r[N][32], b[N][EL], e[N][EL], proof[64], out[64], d[64];
    for (int i = 0; i < N; i++)
        assert_int_equal(xchg_oprf_blind((const uint8_t *)in[i], strlen(in[i]), NULL, r[i], b[i]),
                         XCHG_OK);
    /* the same input blinds differently each time */
    assert_memory_not_equal(b[0], b[4], EL);
    assert_int_equal(xchg_oprf_evaluate(sk, (const uint8_t(*)[EL])b, N, NULL, e, proof), XCHG_OK);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e, N, proof), XCHG_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(xchg_oprf_finalize((const uint8_t *)in[i], strlen(in[i]), r[i], e[i], out),
                         XCHG_OK);
        assert_int_equal(xchg_oprf_direct(sk, (const uint8_t *)in[i], strlen(in[i]), d), XCHG_OK);
        assert_memory_equal(out, d, 64);
    }
    /* wrong key: verified against another service's public key */
    assert_int_equal(
        xchg_oprf_verify(pk2, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e, N, proof),
        XCHG_ERR_VERIFY);
    /* wrong point: one evaluation replaced by a valid but different point (sk2·B) */
    uint8_t e2[N][EL], p2[64];
    assert_int_equal(xchg_oprf_evaluate(sk2, (const uint8_t(*)[EL])b, N, NULL, e2, p2), XCHG_OK);
    uint8_t mixed[N][EL];
    memcpy(mixed, e, sizeof e);
    memcpy(mixed[3], e2[3], EL);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])mixed, N, proof),
        XCHG_ERR_VERIFY);
    /* two evaluations swapped */
    memcpy(mixed, e, sizeof e);
    memcpy(mixed[0], e[1], EL);
    memcpy(mixed[1], e[0], EL);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])mixed, N, proof),
        XCHG_ERR_VERIFY);
    /* a consistent answer under another key, with its own valid proof: wrong key */
    assert_int_equal(xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e2, N, p2),
                     XCHG_ERR_VERIFY);
    /* wrong proof: each half flipped, and a non-canonical s */
    for (int k = 0; k < 64; k += 33) {
        uint8_t bad[64];
        memcpy(bad, proof, 64);
        bad[k] ^= 1;
        assert_int_equal(
            xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e, N, bad),
            XCHG_ERR_VERIFY);
    }
    uint8_t bad[64];
    memcpy(bad, proof, 64);
    memset(bad + 32, 0xff, 32);
    assert_int_equal(xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])e, N, bad),
                     XCHG_ERR_VERIFY);
    /* an identity or an invalid encoding anywhere */
    memcpy(mixed, e, sizeof e);
    memset(mixed[2], 0, EL);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])mixed, N, proof),
        XCHG_ERR_VERIFY);
    memset(mixed[2], 0xff, EL);
    assert_int_equal(
        xchg_oprf_verify(pk, (const uint8_t(*)[EL])b, (const uint8_t(*)[EL])mixed, N, proof),
        XCHG_ERR_VERIFY);
    /* the service refuses invalid points before evaluating anything */
    memcpy(mixed, b, sizeof b);
    memset(mixed[1], 0, EL);
    assert_int_equal(xchg_oprf_evaluate(sk, (const uint8_t(*)[EL])mixed, N, NULL, e2, p2),
                     XCHG_ERR_FORMAT);
}

/* An in-process service: records every element it receives; may tamper or refuse. */
struct svc {
    uint8_t sk[32];
    uint8_t seen[64][EL];
    size_t nseen, requests;
    int mode; /* 0 honest, 1 flip a point, 2 flip the proof, 3 refuse, 4 short answer */
};

static xchg_err transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                          size_t *resp_len, char *why, size_t whylen)
{
    struct svc *s = ctx;
    size_t n;
    assert_int_equal(xchg_oprf_request_count(req, len, &n), XCHG_OK);
    s->requests++;
    for (size_t i = 0; i < n && s->nseen < 64; i++)
        memcpy(s->seen[s->nseen++], req + 8 + i * EL, EL);
    if (s->mode == 3) {
        snprintf(why, whylen, "keyd refused (HTTP 429): rate limit reached");
        return XCHG_ERR_DENIED;
    }
    assert_int_equal(xchg_oprf_serve(s->sk, req, len, resp, resp_len), XCHG_OK);
    if (s->mode == 1 && n > 1) /* a valid point, but another element's */
        memcpy(*resp + 8, *resp + 8 + EL, EL);
    if (s->mode == 1 && n == 1) { /* one element: replace it by sk·G, still a valid point */
        uint8_t g[EL];
        assert_int_equal(crypto_scalarmult_ristretto255_base(g, s->sk), 0);
        memcpy(*resp + 8, g, EL);
    }
    if (s->mode == 2)
        (*resp)[*resp_len - 1] ^= 0x01;
    if (s->mode == 4)
        *resp_len -= 1;
    return XCHG_OK;
}

static void test_client(void **state)
{
    (void)state;
    struct svc s;
    memset(&s, 0, sizeof s);
    uint8_t pk[32];
    assert_int_equal(xchg_oprf_keygen(s.sk, pk), XCHG_OK);
    xchg_oprf_client *c = xchg_oprf_client_new(pk, transport, &s, 2);
    assert_non_null(c);
    const char *in[] = {"jones|2011-03-04",
                        "patel|1980-12-31",
                        "jones|2011-03-04",
                        "x",
                        "y",
                        "patel|1980-12-31",
                        "z"};
    size_t n = sizeof in / sizeof in[0];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)in[i], strlen(in[i])), XCHG_OK);
    size_t distinct, requests;
    xchg_oprf_client_stats(c, &distinct, &requests);
    assert_int_equal(distinct, 5);
    assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_OK);
    xchg_oprf_client_stats(c, &distinct, &requests);
    assert_int_equal(requests, 3); /* 5 distinct in batches of 2 */
    assert_int_equal(s.nseen, 5);
    /* the service never received an unblinded value: no element equals H(x) of any input */
    for (size_t i = 0; i < n; i++) {
        uint8_t p[EL], out[64], d[64];
        assert_int_equal(xchg_oprf_hash_to_group((const uint8_t *)in[i], strlen(in[i]), p),
                         XCHG_OK);
        for (size_t j = 0; j < s.nseen; j++)
            assert_memory_not_equal(p, s.seen[j], EL);
        assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)in[i], strlen(in[i]), out),
                         XCHG_OK);
        assert_int_equal(xchg_oprf_direct(s.sk, (const uint8_t *)in[i], strlen(in[i]), d), XCHG_OK);
        assert_memory_equal(out, d, 64);
    }
    uint8_t out[64];
    assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)"never", 5, out), XCHG_ERR_NOT_FOUND);
    /* a second run sends nothing more */
    assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_OK);
    assert_int_equal(s.requests, 3);
    xchg_oprf_client_free(c);

    /* tampered answers and a refusal: each an error with its reason, no output */
    const struct {
        int mode;
        xchg_err want;
        const char *text;
    } cases[] = {
        {1, XCHG_ERR_VERIFY, "does not verify"},
        {2, XCHG_ERR_VERIFY, "does not verify"},
        {3, XCHG_ERR_DENIED, "rate limit reached"},
        {4, XCHG_ERR_FORMAT, "malformed response"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int single = 0; single < 2; single++) {
            s.mode = cases[k].mode;
            c = xchg_oprf_client_new(pk, transport, &s, 0);
            assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)"a", 1), XCHG_OK);
            if (!single)
                assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)"b", 1), XCHG_OK);
            xchg_diag *d = xchg_diag_new();
            assert_int_equal(xchg_oprf_client_run(c, d), cases[k].want);
            assert_true(diag_has(d, cases[k].text));
            xchg_diag_free(d);
            assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)"a", 1, out),
                             XCHG_ERR_NOT_FOUND);
            xchg_oprf_client_free(c);
        }
    }
    /* an honest service under another key than the agreement's: wrong key */
    s.mode = 0;
    uint8_t sk2[32], pk2[32];
    assert_int_equal(xchg_oprf_keygen(sk2, pk2), XCHG_OK);
    c = xchg_oprf_client_new(pk2, transport, &s, 0);
    assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)"a", 1), XCHG_OK);
    assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_ERR_VERIFY);
    xchg_oprf_client_free(c);
}

/* The agency's cache across seals: a second seal sends only its new values and gets the
 * same outputs; saving keeps only what the seal used; the file is 0600 and opens only
 * with the owner's key and unchanged; a cache under another service key is not used. */
static void add_all(xchg_oprf_client *c, const char *const *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)in[i], strlen(in[i])), XCHG_OK);
}

static void test_cache(void **state)
{
    (void)state;
    struct svc s;
    memset(&s, 0, sizeof s);
    uint8_t pk[32];
    assert_int_equal(xchg_oprf_keygen(s.sk, pk), XCHG_OK);
    xchg_seckey *owner = seed_key(1), *other = seed_key(2);
    const char *path = tpath("agency.oprfcache");
    unlink(path);
    /* first seal: no file yet, everything goes to the service */
    xchg_oprf_cache *k = NULL;
    assert_int_equal(xchg_oprf_cache_open(path, owner, pk, &k, NULL), XCHG_OK);
    xchg_oprf_client *c = xchg_oprf_client_new(pk, transport, &s, 0);
    assert_int_equal(xchg_oprf_client_use_cache(c, k), XCHG_OK);
    const char *first[] = {"jones|2011-03-04", "patel|1980-12-31", "old|1950-01-01"};
    add_all(c, first, 3);
    assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_OK);
    assert_int_equal(s.nseen, 3);
    assert_int_equal(xchg_oprf_cache_save(k, c, NULL), XCHG_OK);
    xchg_oprf_client_free(c);
    xchg_oprf_cache_free(k);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* the file holds no value, only tags and outputs */
    size_t flen;
    char *file = slurp(path, &flen);
    for (size_t i = 0; i + 5 <= flen; i++)
        assert_false(memcmp(file + i, "jones", 5) == 0);
    free(file);

    /* the next seal: two values seen before, one new; only the new one is sent */
    s.nseen = 0;
    assert_int_equal(xchg_oprf_cache_open(path, owner, pk, &k, NULL), XCHG_OK);
    size_t entries, used;
    xchg_oprf_cache_stats(k, &entries, &used);
    assert_int_equal(entries, 3);
    c = xchg_oprf_client_new(pk, transport, &s, 0);
    assert_int_equal(xchg_oprf_client_use_cache(c, k), XCHG_OK);
    const char *second[] = {"patel|1980-12-31", "jones|2011-03-04", "new|2020-02-02",
                            "jones|2011-03-04"};
    add_all(c, second, 4);
    size_t distinct, requests;
    xchg_oprf_client_stats(c, &distinct, &requests);
    assert_int_equal(distinct, 1);
    xchg_oprf_cache_stats(k, NULL, &used);
    assert_int_equal(used, 2);
    assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_OK);
    assert_int_equal(s.nseen, 1);
    for (size_t i = 0; i < 4; i++) { /* every output is the service's, cached or not */
        uint8_t out[64], want[64];
        assert_int_equal(
            xchg_oprf_client_get(c, (const uint8_t *)second[i], strlen(second[i]), out), XCHG_OK);
        assert_int_equal(
            xchg_oprf_direct(s.sk, (const uint8_t *)second[i], strlen(second[i]), want), XCHG_OK);
        assert_memory_equal(out, want, 64);
    }
    assert_int_equal(xchg_oprf_cache_save(k, c, NULL), XCHG_OK);
    xchg_oprf_client_free(c);
    xchg_oprf_cache_free(k);
    /* the value no longer sent ("old") is gone from the cache */
    assert_int_equal(xchg_oprf_cache_open(path, owner, pk, &k, NULL), XCHG_OK);
    xchg_oprf_cache_stats(k, &entries, NULL);
    assert_int_equal(entries, 3);
    s.nseen = 0;
    c = xchg_oprf_client_new(pk, transport, &s, 0);
    assert_int_equal(xchg_oprf_client_use_cache(c, k), XCHG_OK);
    add_all(c, first, 3);
    xchg_oprf_client_stats(c, &distinct, NULL);
    assert_int_equal(distinct, 1); /* "old" */
    xchg_oprf_client_free(c);
    xchg_oprf_cache_free(k);

    /* another agency's key, a changed byte, a truncated file, not a cache: refused, named */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_oprf_cache_open(path, other, pk, &k, d), XCHG_ERR_VERIFY);
    assert_null(k);
    assert_true(diag_has(d, "does not open with this agency's key"));
    assert_true(diag_has(d, path));
    xchg_diag_free(d);
    file = slurp(path, &flen);
    char *bad = strdup(tpath("bad.oprfcache"));
    for (size_t at = 0; at < flen; at += 7) {
        file[at] ^= 0x20;
        spit(bad, file, flen);
        file[at] ^= 0x20;
        xchg_err e = xchg_oprf_cache_open(bad, owner, pk, &k, NULL);
        if (at >= 19 && at < 19 + EL) { /* the service key: another K, not used */
            assert_int_equal(e, XCHG_OK);
            xchg_oprf_cache_stats(k, &entries, NULL);
            assert_int_equal(entries, 0);
            xchg_oprf_cache_free(k);
        } else {
            assert_true(e == XCHG_ERR_VERIFY || e == XCHG_ERR_FORMAT);
            assert_null(k);
        }
    }
    spit(bad, file, flen - 1);
    assert_int_equal(xchg_oprf_cache_open(bad, owner, pk, &k, NULL), XCHG_ERR_FORMAT);
    spit(bad, "xchg-oprf-key v1\n", 17);
    assert_int_equal(xchg_oprf_cache_open(bad, owner, pk, &k, NULL), XCHG_ERR_FORMAT);
    free(file);
    free(bad);

    /* a cache made under another service key opens empty, with a note, and is not used */
    uint8_t sk2[32], pk2[32];
    assert_int_equal(xchg_oprf_keygen(sk2, pk2), XCHG_OK);
    d = xchg_diag_new();
    assert_int_equal(xchg_oprf_cache_open(path, owner, pk2, &k, d), XCHG_OK);
    assert_true(diag_has(d, "another key service key"));
    xchg_diag_free(d);
    xchg_oprf_cache_stats(k, &entries, NULL);
    assert_int_equal(entries, 0);
    /* and a client under pk does not take a cache for pk2 */
    c = xchg_oprf_client_new(pk, transport, &s, 0);
    assert_int_equal(xchg_oprf_client_use_cache(c, k), XCHG_ERR_ARG);
    xchg_oprf_client_free(c);
    xchg_oprf_cache_free(k);
    xchg_seckey_free(owner);
    xchg_seckey_free(other);
}

static void test_wire_and_keyfile(void **state)
{
    (void)state;
    uint8_t req[XCHG_OPRF_REQ_BYTES(2)];
    memcpy(req, XCHG_OPRF_REQ_MAGIC, 4);
    req[4] = 2, req[5] = req[6] = req[7] = 0;
    size_t n;
    assert_int_equal(xchg_oprf_request_count(req, sizeof req, &n), XCHG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(xchg_oprf_request_count(req, sizeof req - 1, &n), XCHG_ERR_FORMAT);
    req[4] = 0;
    assert_int_equal(xchg_oprf_request_count(req, 8, &n), XCHG_ERR_FORMAT);
    req[4] = 2, req[0] = 'Y';
    assert_int_equal(xchg_oprf_request_count(req, sizeof req, &n), XCHG_ERR_FORMAT);
    uint32_t big = XCHG_OPRF_MAX_BATCH + 1;
    memcpy(req, XCHG_OPRF_REQ_MAGIC, 4);
    req[4] = (uint8_t)big, req[5] = (uint8_t)(big >> 8);
    assert_int_equal(
        xchg_oprf_request_count(req, XCHG_OPRF_REQ_BYTES(big) > sizeof req ? 8 : 8, &n),
        XCHG_ERR_FORMAT);
    /* the service refuses a request whose elements are not points */
    uint8_t sk[32], pk[32], sk2[32];
    assert_int_equal(xchg_oprf_keygen(sk, pk), XCHG_OK);
    memcpy(req, XCHG_OPRF_REQ_MAGIC, 4);
    req[4] = 2, req[5] = 0;
    memset(req + 8, 0xee, 64);
    uint8_t *resp = NULL;
    size_t rl;
    assert_int_equal(xchg_oprf_serve(sk, req, sizeof req, &resp, &rl), XCHG_ERR_FORMAT);
    assert_null(resp);

    const char *path = tpath("oprf.key");
    unlink(path);
    assert_int_equal(xchg_oprf_key_write(path, sk, 0), XCHG_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(xchg_oprf_key_write(path, sk, 0), XCHG_ERR_EXISTS);
    assert_int_equal(xchg_oprf_key_read(path, sk2, NULL), XCHG_OK);
    assert_memory_equal(sk, sk2, 32);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(xchg_oprf_key_read(path, sk2, NULL), XCHG_ERR_DENIED);
    FILE *f = fopen(path, "w");
    fputs("xchg-oprf-key v1\nzz\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_oprf_key_read(path, sk2, d), XCHG_ERR_FORMAT);
    assert_true(diag_has(d, path));
    xchg_diag_free(d);
    unlink(path);
}

/* ---- threads and pipelining -------------------------------------------------------- */

/* A service that answers honestly except for batch number `bad` (1-based): tampered
 * (mode 1: one point swapped) or refused (mode 3). */
struct psvc {
    uint8_t sk[32];
    size_t requests, bad, evaluations;
    int mode;
};

static xchg_err ptransport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                           size_t *resp_len, char *why, size_t whylen)
{
    struct psvc *s = ctx;
    size_t n;
    assert_int_equal(xchg_oprf_request_count(req, len, &n), XCHG_OK);
    s->requests++;
    if (s->requests == s->bad && s->mode == 3) {
        snprintf(why, whylen, "keyd refused (HTTP 429): rate limit reached");
        return XCHG_ERR_DENIED;
    }
    s->evaluations += n;
    assert_int_equal(xchg_oprf_serve(s->sk, req, len, resp, resp_len), XCHG_OK);
    if (s->requests == s->bad && s->mode == 1)
        memcpy(*resp + 8 + 7 * EL, *resp + 8 + 3 * EL, EL);
    return XCHG_OK;
}

#define PN 1000 /* inputs: batches of 90, chunks of 64 inside each */

static void test_threads(void **state)
{
    (void)state;
    struct psvc s;
    memset(&s, 0, sizeof s);
    uint8_t pk[32];
    assert_int_equal(xchg_oprf_keygen(s.sk, pk), XCHG_OK);
    static uint8_t want[PN][64], got[PN][64];
    char in[32];
    for (size_t i = 0; i < PN; i++) {
        int l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", i, i % 100);
        assert_int_equal(xchg_oprf_direct(s.sk, (const uint8_t *)in, (size_t)l, want[i]), XCHG_OK);
    }
    /* the same outputs, byte for byte, whatever the thread count */
    const unsigned counts[] = {1, 2, 3, 8, 0};
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
        s.requests = s.evaluations = 0;
        xchg_oprf_client *c = xchg_oprf_client_new(pk, ptransport, &s, 90);
        xchg_oprf_client_threads(c, counts[t]);
        for (size_t i = 0; i < PN; i++) {
            int l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", i, i % 100);
            assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)in, (size_t)l), XCHG_OK);
        }
        assert_int_equal(xchg_oprf_client_run(c, NULL), XCHG_OK);
        assert_int_equal(s.requests, (PN + 89) / 90);
        assert_int_equal(s.evaluations, PN);
        for (size_t i = 0; i < PN; i++) {
            int l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", i, i % 100);
            assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)in, (size_t)l, got[i]),
                             XCHG_OK);
        }
        assert_memory_equal(got, want, sizeof want);
        xchg_oprf_client_free(c);
    }
    /* a tampered or refused batch in the middle of a pipelined run: the run fails, no
     * output of any batch is given out, and at most one batch beyond it was sent (none
     * with one thread) */
    for (int mode = 1; mode <= 3; mode += 2)
        for (unsigned th = 1; th <= 4; th += 3) {
            s.requests = s.evaluations = 0;
            s.bad = 4;
            s.mode = mode;
            xchg_oprf_client *c = xchg_oprf_client_new(pk, ptransport, &s, 90);
            xchg_oprf_client_threads(c, th);
            for (size_t i = 0; i < PN; i++) {
                int l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", i, i % 100);
                assert_int_equal(xchg_oprf_client_add(c, (const uint8_t *)in, (size_t)l), XCHG_OK);
            }
            xchg_diag *d = xchg_diag_new();
            assert_int_equal(xchg_oprf_client_run(c, d),
                             mode == 1 ? XCHG_ERR_VERIFY : XCHG_ERR_DENIED);
            assert_true(diag_has(d, mode == 1 ? "does not verify" : "rate limit reached"));
            xchg_diag_free(d);
            if (mode == 3 || th == 1)
                assert_int_equal(s.requests, 4);
            else
                assert_in_range(s.requests, 4, 5);
            /* no output of the bad batch or of any after it */
            int l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", (size_t)(3 * 90 + 7),
                             (size_t)((3 * 90 + 7) % 100));
            assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)in, (size_t)l, got[0]),
                             XCHG_ERR_NOT_FOUND);
            l = snprintf(in, sizeof in, "person-%zu|19%02zu-01-01", (size_t)(4 * 90 + 1),
                         (size_t)((4 * 90 + 1) % 100));
            assert_int_equal(xchg_oprf_client_get(c, (const uint8_t *)in, (size_t)l, got[0]),
                             XCHG_ERR_NOT_FOUND);
            xchg_oprf_client_free(c);
        }
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer), cmocka_unit_test(test_batch_and_tamper),
        cmocka_unit_test(test_client),       cmocka_unit_test(test_wire_and_keyfile),
        cmocka_unit_test(test_threads),      cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
