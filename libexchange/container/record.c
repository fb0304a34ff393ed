/* Extract records: binary encoding and payload AEAD. Layout in docs/formats.md. */
#include "exchange/record.h"
#include "internal.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#define IND_V1 9  /* problem, start, end */
#define IND_V2 26 /* problem, measure, start, end, value f64, of f64 */

static void put_f64(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    xchg__put_u32le(p, (uint32_t)u);
    xchg__put_u32le(p + 4, (uint32_t)(u >> 32));
}

static double get_f64(const uint8_t *p)
{
    uint64_t u = (uint64_t)xchg__get_u32le(p) | (uint64_t)xchg__get_u32le(p + 4) << 32;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static size_t tokens_size(size_t n) { return 1 + n * (1 + XCHG_TOKEN_BYTES); }

size_t xchg_record_size(const xchg_record *r)
{
    return 1 + 2 + r->ref_len + tokens_size(r->nmatch) + tokens_size(r->nblock) +
           tokens_size(r->nhouse) + 2 + r->clk_len + 1 + r->nind * IND_V2 + 1 + 4 + 1 +
           r->basis_len + 1 + 1 + r->area_len + 4 + r->payload_len;
}

static void put_tokens(uint8_t **p, const xchg_token *t, size_t n)
{
    *(*p)++ = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        *(*p)++ = t[i].index;
        memcpy(*p, t[i].value, XCHG_TOKEN_BYTES);
        *p += XCHG_TOKEN_BYTES;
    }
}

xchg_err xchg_record_encode(const xchg_record *r, uint8_t *buf, size_t cap, size_t *len)
{
    if (!r || !buf || !len || r->ref_len > XCHG_RECORD_MAX_REF || r->ref_len == 0 ||
        r->nmatch > XCHG_RECORD_MAX_TOKENS || r->nblock > XCHG_RECORD_MAX_TOKENS ||
        r->nhouse > XCHG_RECORD_MAX_TOKENS || r->nind > XCHG_RECORD_MAX_INDICATORS ||
        r->clk_len > XCHG_RECORD_MAX_CLK || r->basis_len > 255 ||
        r->payload_len > XCHG_RECORD_MAX_PAYLOAD || r->consent > 3 ||
        r->area_len > XCHG_RECORD_MAX_AREA || (r->age > 150 && r->age != XCHG_AGE_UNKNOWN))
        return XCHG_ERR_ARG;
    for (size_t i = 0; i < r->nind; i++)
        if (!isfinite(r->ind[i].value) || !isfinite(r->ind[i].of) ||
            (r->ind[i].is_measure ? r->ind[i].measure : r->ind[i].problem) == XCHG_IND_NONE)
            return XCHG_ERR_ARG;
    size_t need = xchg_record_size(r);
    if (need > cap)
        return XCHG_ERR_ARG;
    uint8_t *p = buf;
    *p++ = XCHG_RECORD_VERSION;
    *p++ = (uint8_t)(r->ref_len & 0xff);
    *p++ = (uint8_t)(r->ref_len >> 8);
    memcpy(p, r->ref, r->ref_len);
    p += r->ref_len;
    put_tokens(&p, r->match, r->nmatch);
    put_tokens(&p, r->block, r->nblock);
    put_tokens(&p, r->house, r->nhouse);
    *p++ = (uint8_t)(r->clk_len & 0xff);
    *p++ = (uint8_t)(r->clk_len >> 8);
    if (r->clk_len)
        memcpy(p, r->clk, r->clk_len);
    p += r->clk_len;
    *p++ = (uint8_t)r->nind;
    for (size_t i = 0; i < r->nind; i++) {
        *p++ = r->ind[i].is_measure ? XCHG_IND_NONE : r->ind[i].problem;
        *p++ = r->ind[i].is_measure ? r->ind[i].measure : XCHG_IND_NONE;
        xchg__put_u32le(p, (uint32_t)r->ind[i].start);
        xchg__put_u32le(p + 4, (uint32_t)r->ind[i].end);
        put_f64(p + 8, r->ind[i].value);
        put_f64(p + 16, r->ind[i].of);
        p += 24;
    }
    *p++ = r->consent;
    xchg__put_u32le(p, (uint32_t)r->consent_date);
    p += 4;
    *p++ = (uint8_t)r->basis_len;
    if (r->basis_len)
        memcpy(p, r->basis, r->basis_len);
    p += r->basis_len;
    *p++ = r->age;
    *p++ = (uint8_t)r->area_len;
    if (r->area_len)
        memcpy(p, r->area, r->area_len);
    p += r->area_len;
    xchg__put_u32le(p, (uint32_t)r->payload_len);
    p += 4;
    if (r->payload_len)
        memcpy(p, r->payload, r->payload_len);
    p += r->payload_len;
    *len = (size_t)(p - buf);
    return XCHG_OK;
}

struct rd {
    const uint8_t *p, *end;
    xchg_diag *d;
    int bad;
};

static int need(struct rd *r, size_t n, const char *what)
{
    if (r->bad)
        return 0;
    if ((size_t)(r->end - r->p) < n) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, NULL, 0, 0, "record is truncated in %s", what);
        r->bad = 1;
        return 0;
    }
    return 1;
}

static int get_tokens(struct rd *r, xchg_token *t, size_t *n, const char *what)
{
    if (!need(r, 1, what))
        return 0;
    size_t c = *r->p++;
    if (c > XCHG_RECORD_MAX_TOKENS) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, NULL, 0, 0, "record has %zu %s (at most %d)", c, what,
                      XCHG_RECORD_MAX_TOKENS);
        r->bad = 1;
        return 0;
    }
    if (!need(r, c * (1 + XCHG_TOKEN_BYTES), what))
        return 0;
    for (size_t i = 0; i < c; i++) {
        t[i].index = *r->p++;
        memcpy(t[i].value, r->p, XCHG_TOKEN_BYTES);
        r->p += XCHG_TOKEN_BYTES;
    }
    *n = c;
    return 1;
}

xchg_err xchg_record_decode(const uint8_t *buf, size_t len, xchg_record *out, xchg_diag *d)
{
    if (!buf || !out)
        return XCHG_ERR_ARG;
    struct rd r = {buf, buf + len, d, 0};
    xchg_record x;
    memset(&x, 0, sizeof x);
    if (!need(&r, 3, "header"))
        return XCHG_ERR_TRUNCATED;
    unsigned version = *r.p;
    if (version != 1 && version != XCHG_RECORD_VERSION) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record has unsupported version %u", *r.p);
        return XCHG_ERR_VERSION;
    }
    r.p++;
    x.age = XCHG_AGE_UNKNOWN;
    x.area = "";
    size_t isz = version == 1 ? IND_V1 : IND_V2;
    x.ref_len = (size_t)r.p[0] | (size_t)r.p[1] << 8;
    r.p += 2;
    if (x.ref_len == 0 || x.ref_len > XCHG_RECORD_MAX_REF) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record reference length %zu is invalid",
                      x.ref_len);
        return XCHG_ERR_FORMAT;
    }
    if (!need(&r, x.ref_len, "the record reference"))
        return XCHG_ERR_TRUNCATED;
    x.ref = (const char *)r.p;
    r.p += x.ref_len;
    if (!get_tokens(&r, x.match, &x.nmatch, "match tokens") ||
        !get_tokens(&r, x.block, &x.nblock, "blocking tokens") ||
        !get_tokens(&r, x.house, &x.nhouse, "household tokens"))
        return r.bad && r.p <= r.end ? XCHG_ERR_FORMAT : XCHG_ERR_TRUNCATED;
    if (!need(&r, 2, "the CLK length"))
        return XCHG_ERR_TRUNCATED;
    x.clk_len = (size_t)r.p[0] | (size_t)r.p[1] << 8;
    r.p += 2;
    if (x.clk_len > XCHG_RECORD_MAX_CLK || !need(&r, x.clk_len, "the CLK"))
        return XCHG_ERR_FORMAT;
    x.clk = x.clk_len ? r.p : NULL;
    r.p += x.clk_len;
    if (!need(&r, 1, "indicators"))
        return XCHG_ERR_TRUNCATED;
    x.nind = *r.p++;
    if (x.nind > XCHG_RECORD_MAX_INDICATORS) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record has %zu indicators (at most %d)",
                      x.nind, XCHG_RECORD_MAX_INDICATORS);
        return XCHG_ERR_FORMAT;
    }
    if (!need(&r, x.nind * isz, "indicators"))
        return XCHG_ERR_TRUNCATED;
    for (size_t i = 0; i < x.nind; i++) {
        xchg_indicator_ev *ev = &x.ind[i];
        ev->problem = *r.p++;
        ev->measure = version == 1 ? XCHG_IND_NONE : *r.p++;
        ev->start = (int32_t)xchg__get_u32le(r.p);
        ev->end = (int32_t)xchg__get_u32le(r.p + 4);
        ev->value = version == 1 ? 0 : get_f64(r.p + 8);
        ev->of = version == 1 ? 0 : get_f64(r.p + 16);
        r.p += isz - 1 - (version != 1);
        if (ev->end < ev->start) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "indicator ends before it starts");
            return XCHG_ERR_FORMAT;
        }
        ev->is_measure = ev->measure != XCHG_IND_NONE;
        if ((ev->problem == XCHG_IND_NONE) == (ev->measure == XCHG_IND_NONE)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "indicator %zu must name exactly one of a problem and a measure", i);
            return XCHG_ERR_FORMAT;
        }
        if (!isfinite(ev->value) || !isfinite(ev->of)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "indicator %zu has a value that is not "
                                                         "a finite number", i);
            return XCHG_ERR_FORMAT;
        }
    }
    if (!need(&r, 6, "consent"))
        return XCHG_ERR_TRUNCATED;
    x.consent = *r.p++;
    x.consent_date = (int32_t)xchg__get_u32le(r.p);
    r.p += 4;
    x.basis_len = *r.p++;
    if (x.consent > 3) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record has unknown consent status %u",
                      x.consent);
        return XCHG_ERR_FORMAT;
    }
    if (!need(&r, x.basis_len, "the legal basis"))
        return XCHG_ERR_TRUNCATED;
    x.basis = (const char *)r.p;
    r.p += x.basis_len;
    if (version != 1) {
        if (!need(&r, 2, "the age and area"))
            return XCHG_ERR_TRUNCATED;
        x.age = *r.p++;
        x.area_len = *r.p++;
        if (x.age > 150 && x.age != XCHG_AGE_UNKNOWN) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record has an impossible age %u", x.age);
            return XCHG_ERR_FORMAT;
        }
        if (x.area_len > XCHG_RECORD_MAX_AREA) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record area of %zu bytes is too long",
                          x.area_len);
            return XCHG_ERR_FORMAT;
        }
        if (!need(&r, x.area_len, "the area"))
            return XCHG_ERR_TRUNCATED;
        x.area = x.area_len ? (const char *)r.p : "";
        r.p += x.area_len;
    }
    if (!need(&r, 4, "the payload length"))
        return XCHG_ERR_TRUNCATED;
    x.payload_len = xchg__get_u32le(r.p);
    r.p += 4;
    if (x.payload_len > XCHG_RECORD_MAX_PAYLOAD) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record payload of %zu bytes is too large",
                      x.payload_len);
        return XCHG_ERR_FORMAT;
    }
    if (!need(&r, x.payload_len, "the payload"))
        return XCHG_ERR_TRUNCATED;
    x.payload = x.payload_len ? r.p : NULL;
    r.p += x.payload_len;
    if (r.p != r.end) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "record has %zu unexpected trailing bytes",
                      (size_t)(r.end - r.p));
        return XCHG_ERR_FORMAT;
    }
    *out = x;
    return XCHG_OK;
}

static const char payload_ctx[] = "exchange payload v1";

static size_t payload_ad(uint8_t *ad, const uint8_t agreement_hash[32],
                         const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES], const char *ref,
                         size_t ref_len)
{
    size_t o = 0;
    memcpy(ad, payload_ctx, sizeof payload_ctx);
    o += sizeof payload_ctx;
    memcpy(ad + o, agreement_hash, 32);
    o += 32;
    memcpy(ad + o, extract_id, XCHG_EXTRACT_ID_BYTES);
    o += XCHG_EXTRACT_ID_BYTES;
    ad[o++] = (uint8_t)(ref_len & 0xff);
    ad[o++] = (uint8_t)(ref_len >> 8);
    memcpy(ad + o, ref, ref_len);
    return o + ref_len;
}

#define AD_MAX (sizeof payload_ctx + 32 + XCHG_EXTRACT_ID_BYTES + 2 + XCHG_RECORD_MAX_REF)

xchg_err xchg_payload_encrypt(const uint8_t key[XCHG_PAYLOAD_KEY_BYTES],
                              const uint8_t agreement_hash[32],
                              const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES], const char *ref,
                              size_t ref_len, const void *msg, size_t len, uint8_t *out)
{
    if (ref_len > XCHG_RECORD_MAX_REF)
        return XCHG_ERR_ARG;
    uint8_t ad[AD_MAX];
    size_t adlen = payload_ad(ad, agreement_hash, extract_id, ref, ref_len);
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, msg, len, ad, adlen, NULL, out, key);
    return XCHG_OK;
}

xchg_err xchg_payload_decrypt(const uint8_t key[XCHG_PAYLOAD_KEY_BYTES],
                              const uint8_t agreement_hash[32],
                              const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES], const char *ref,
                              size_t ref_len, const uint8_t *c, size_t clen, uint8_t *out)
{
    if (ref_len > XCHG_RECORD_MAX_REF)
        return XCHG_ERR_ARG;
    if (clen < XCHG_PAYLOAD_OVERHEAD)
        return XCHG_ERR_TRUNCATED;
    uint8_t ad[AD_MAX];
    size_t adlen = payload_ad(ad, agreement_hash, extract_id, ref, ref_len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, c + 24, clen - 24, ad, adlen,
                                                   c, key) != 0)
        return XCHG_ERR_VERIFY;
    return XCHG_OK;
}
