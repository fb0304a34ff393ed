/* Signed requests to the matcher daemon: header construction and verification with a
 * bounded replay cache. Format: include/exchange/netauth.h and docs/network.md. */
#include "exchange/netauth.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One remembered nonce: its bytes and the request time it came with. */
struct seen {
    uint8_t nonce[XCHG_NETAUTH_NONCE_BYTES];
    int64_t time;
};

struct xchg_netauth {
    const xchg_policy *p;
    pthread_mutex_t lock;
    struct seen *seen; /* hash table, open addressing; time 0 marks a free slot */
    size_t cap;        /* slots (a power of two, >= 2 * max) */
    size_t max, count;
};

const char *xchg_netauth_reason_text(xchg_netauth_reason r)
{
    switch (r) {
    case XCHG_NETAUTH_OK:
        return "accepted";
    case XCHG_NETAUTH_MISSING:
        return "missing authentication header";
    case XCHG_NETAUTH_MALFORMED:
        return "malformed authentication header";
    case XCHG_NETAUTH_UNKNOWN_KEY:
        return "unknown key";
    case XCHG_NETAUTH_WRONG_ROLE:
        return "key's role may not use this endpoint";
    case XCHG_NETAUTH_STALE:
        return "request time outside the allowed window";
    case XCHG_NETAUTH_BAD_SIGNATURE:
        return "bad signature";
    case XCHG_NETAUTH_REPLAYED:
        return "replayed nonce";
    case XCHG_NETAUTH_BODY_MISMATCH:
        return "body does not match its signed hash";
    case XCHG_NETAUTH_BUSY:
        return "replay cache full";
    }
    return "unknown reason";
}

/* The signed message; NULL when a part contains a newline or memory runs out. */
static char *signed_text(const char *method, const char *path, const char *time, const char *nonce,
                         const char *body, size_t *len)
{
    const char *parts[5] = {method, path, time, nonce, body};
    size_t n = strlen(XCHG_NETAUTH_DOMAIN);
    for (int i = 0; i < 5; i++) {
        if (!parts[i] || strchr(parts[i], '\n'))
            return NULL;
        n += strlen(parts[i]) + 1;
    }
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    int w = snprintf(s, n + 1, "%s%s\n%s\n%s\n%s\n%s", XCHG_NETAUTH_DOMAIN, method, path, time,
                     nonce, body);
    *len = (size_t)w;
    return s;
}

xchg_err xchg_netauth_sign(const xchg_seckey *k, const char *method, const char *path, int64_t now,
                           const uint8_t body_sha256[XCHG_SHA256_BYTES], xchg_netauth_headers *h)
{
    if (!k || !method || !path || !*method || !*path || !h)
        return XCHG_ERR_ARG;
    xchg_netauth_headers t;
    memset(&t, 0, sizeof t);
    uint8_t empty[XCHG_SHA256_BYTES], nonce[XCHG_NETAUTH_NONCE_BYTES], sig[XCHG_SIG_BYTES];
    if (!body_sha256) {
        xchg_sha256("", 0, empty);
        body_sha256 = empty;
    }
    xchg_keyid_hex(xchg_seckey_public(k)->id, t.key);
    snprintf(t.time, sizeof t.time, "%lld", (long long)now);
    xchg_random(nonce, sizeof nonce);
    xchg_hex_encode(t.nonce, nonce, sizeof nonce);
    xchg_hex_encode(t.body_sha256, body_sha256, XCHG_SHA256_BYTES);
    size_t len = 0;
    char *msg = signed_text(method, path, t.time, t.nonce, t.body_sha256, &len);
    if (!msg)
        return strchr(method, '\n') || strchr(path, '\n') ? XCHG_ERR_ARG : XCHG_ERR_NOMEM;
    xchg_sign(k, msg, len, sig);
    free(msg);
    xchg_base64_encode(t.signature, sig, sizeof sig);
    *h = t;
    return XCHG_OK;
}

xchg_err xchg_netauth_new(const xchg_agreement *agr, size_t cache_max, xchg_netauth **out)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !out)
        return XCHG_ERR_ARG;
    if (cache_max == 0)
        cache_max = XCHG_NETAUTH_CACHE_DEFAULT;
    if (cache_max > ((size_t)1 << 26))
        return XCHG_ERR_ARG;
    xchg_netauth *v = calloc(1, sizeof *v);
    if (!v)
        return XCHG_ERR_NOMEM;
    v->cap = 16;
    while (v->cap < 2 * cache_max)
        v->cap <<= 1;
    v->seen = calloc(v->cap, sizeof *v->seen);
    if (!v->seen) {
        free(v);
        return XCHG_ERR_NOMEM;
    }
    v->p = p;
    v->max = cache_max;
    pthread_mutex_init(&v->lock, NULL);
    *out = v;
    return XCHG_OK;
}

void xchg_netauth_free(xchg_netauth *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->lock);
    free(v->seen);
    free(v);
}

static size_t slot_of(const xchg_netauth *v, const uint8_t *nonce)
{
    uint64_t h;
    memcpy(&h, nonce, sizeof h); /* nonces are random: their first bytes are a fine hash */
    return (size_t)h & (v->cap - 1);
}

/* Drop every entry older than the window (rebuilding the table keeps probing exact). */
static void prune(xchg_netauth *v, int64_t now)
{
    struct seen *old = v->seen;
    struct seen *fresh = calloc(v->cap, sizeof *fresh);
    if (!fresh)
        return;
    v->count = 0;
    for (size_t i = 0; i < v->cap; i++) {
        if (old[i].time == 0)
            continue;
        int64_t age = now - old[i].time;
        if (age > XCHG_NETAUTH_WINDOW || age < -XCHG_NETAUTH_WINDOW)
            continue;
        size_t j = slot_of(v, old[i].nonce);
        while (fresh[j].time != 0)
            j = (j + 1) & (v->cap - 1);
        fresh[j] = old[i];
        v->count++;
    }
    v->seen = fresh;
    free(old);
}

/* Remember nonce; XCHG_NETAUTH_REPLAYED if already there, BUSY if the cache is full. */
static xchg_netauth_reason remember(xchg_netauth *v, const uint8_t *nonce, int64_t t, int64_t now)
{
    pthread_mutex_lock(&v->lock);
    xchg_netauth_reason r = XCHG_NETAUTH_OK;
    size_t j = slot_of(v, nonce);
    while (v->seen[j].time != 0) {
        if (memcmp(v->seen[j].nonce, nonce, XCHG_NETAUTH_NONCE_BYTES) == 0) {
            r = XCHG_NETAUTH_REPLAYED; /* even if it has aged: the time check refuses those */
            goto done;
        }
        j = (j + 1) & (v->cap - 1);
    }
    if (v->count >= v->max) {
        prune(v, now);
        if (v->count >= v->max) {
            r = XCHG_NETAUTH_BUSY;
            goto done;
        }
        j = slot_of(v, nonce);
        while (v->seen[j].time != 0)
            j = (j + 1) & (v->cap - 1);
    }
    memcpy(v->seen[j].nonce, nonce, XCHG_NETAUTH_NONCE_BYTES);
    v->seen[j].time = t != 0 ? t : 1;
    v->count++;
done:
    pthread_mutex_unlock(&v->lock);
    return r;
}

static int all_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int parse_time(const char *s, int64_t *t)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *t = v;
    return 0;
}

xchg_err xchg_netauth_verify(xchg_netauth *v, const xchg_netauth_request *rq, unsigned roles,
                             int64_t now, size_t *party, xchg_netauth_reason *why)
{
    xchg_netauth_reason r = XCHG_NETAUTH_OK;
    xchg_err e = XCHG_OK;
    char *msg = NULL;
    uint8_t id[XCHG_KEYID_BYTES], nonce[XCHG_NETAUTH_NONCE_BYTES], sig[XCHG_SIG_BYTES];
    int64_t t = 0;
    size_t idx = XCHG_NONE, siglen = 0, len = 0;
    if (!v || !rq || !rq->method || !rq->path) {
        e = XCHG_ERR_ARG;
        r = XCHG_NETAUTH_MISSING;
        goto cleanup;
    }
    if (!rq->key || !rq->time || !rq->nonce || !rq->body_sha256 || !rq->signature) {
        r = XCHG_NETAUTH_MISSING;
        e = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    if (!all_hex(rq->key, XCHG_KEYID_HEXLEN) || parse_time(rq->time, &t) != 0 ||
        !all_hex(rq->nonce, XCHG_NETAUTH_NONCE_HEXLEN) ||
        !all_hex(rq->body_sha256, 2 * XCHG_SHA256_BYTES) ||
        xchg_hex_decode(id, sizeof id, rq->key, strlen(rq->key)) != XCHG_OK ||
        xchg_hex_decode(nonce, sizeof nonce, rq->nonce, strlen(rq->nonce)) != XCHG_OK ||
        xchg_base64_decode(sig, sizeof sig, &siglen, rq->signature, strlen(rq->signature)) !=
            XCHG_OK ||
        siglen != XCHG_SIG_BYTES) {
        r = XCHG_NETAUTH_MALFORMED;
        e = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    idx = xchg_policy_party_by_key(v->p, id);
    if (idx == XCHG_NONE) {
        r = XCHG_NETAUTH_UNKNOWN_KEY;
        e = XCHG_ERR_UNKNOWN_KEY;
        goto cleanup;
    }
    const xchg_party *pa = &xchg_policy_get(v->p)->parties[idx];
    if (!(roles & XCHG_NETAUTH_ROLE(pa->role))) {
        r = XCHG_NETAUTH_WRONG_ROLE;
        e = XCHG_ERR_DENIED;
        goto cleanup;
    }
    if (t - now > XCHG_NETAUTH_WINDOW || now - t > XCHG_NETAUTH_WINDOW) {
        r = XCHG_NETAUTH_STALE;
        e = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    msg = signed_text(rq->method, rq->path, rq->time, rq->nonce, rq->body_sha256, &len);
    if (!msg || xchg_verify(&pa->key, msg, len, sig) != XCHG_OK) {
        r = msg ? XCHG_NETAUTH_BAD_SIGNATURE : XCHG_NETAUTH_MALFORMED;
        e = msg ? XCHG_ERR_VERIFY : XCHG_ERR_FORMAT;
        goto cleanup;
    }
    r = remember(v, nonce, t, now);
    if (r == XCHG_NETAUTH_REPLAYED)
        e = XCHG_ERR_VERIFY;
    else if (r == XCHG_NETAUTH_BUSY)
        e = XCHG_ERR_DENIED;
cleanup:
    free(msg);
    if (why)
        *why = r;
    if (party)
        *party = e == XCHG_OK ? idx : XCHG_NONE;
    return e;
}

xchg_err xchg_netauth_check_body(const char *hex, const uint8_t got[XCHG_SHA256_BYTES],
                                 xchg_netauth_reason *why)
{
    uint8_t want[XCHG_SHA256_BYTES];
    if (!hex || xchg_hex_decode(want, sizeof want, hex, strlen(hex)) != XCHG_OK ||
        !xchg_equal(want, got, sizeof want)) {
        if (why)
            *why = XCHG_NETAUTH_BODY_MISMATCH;
        return XCHG_ERR_VERIFY;
    }
    if (why)
        *why = XCHG_NETAUTH_OK;
    return XCHG_OK;
}

struct xchg_sha256_stream {
    crypto_hash_sha256_state st;
};

xchg_sha256_stream *xchg_sha256_stream_new(void)
{
    xchg_sha256_stream *h = malloc(sizeof *h);
    if (h)
        crypto_hash_sha256_init(&h->st);
    return h;
}

void xchg_sha256_stream_update(xchg_sha256_stream *h, const void *data, size_t len)
{
    if (h && len)
        crypto_hash_sha256_update(&h->st, data, len);
}

void xchg_sha256_stream_final(xchg_sha256_stream *h, uint8_t out[XCHG_SHA256_BYTES])
{
    crypto_hash_sha256_final(&h->st, out);
    free(h);
}

void xchg_sha256_stream_free(xchg_sha256_stream *h)
{
    free(h);
}

xchg_err xchg_sha256_file(const char *path, uint8_t out[XCHG_SHA256_BYTES], uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return XCHG_ERR_IO;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[65536];
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_hash_sha256_update(&st, buf, n);
        total += n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return XCHG_ERR_IO;
    crypto_hash_sha256_final(&st, out);
    if (size)
        *size = total;
    return XCHG_OK;
}
