/* CLK hardening applied after encoding (docs/clk.md, "Hardening options").
 *
 * Two transforms of a finished filter, both composed of libsodium primitives (keyed
 * BLAKE2b for seeds, the ChaCha20 stream of randombytes_buf_deterministic for draws):
 *
 *   salted permutation: the filter's bits are permuted by a permutation chosen by a keyed
 *     hash of one record attribute (e.g. year of birth). Two records with the same salt
 *     keep exactly their Dice similarity; records in different salt groups see unrelated
 *     bit positions, so a bit pattern mined over the whole store no longer belongs to one
 *     q-gram (the effect of salting each q-gram, Niedermeyer et al. 2014, without
 *     touching the clkhash-compatible encoder).
 *   BLIP: every bit flips with probability f (randomised response, Schnell and Borgs
 *     2016), from a fresh random seed per record.
 *
 * Both run in xchg_clk_encode when xchg_clk_encoder_harden configured them; the pure
 * functions xchg_clk_permute and xchg_clk_blip are public so their bits can be pinned by
 * known-answer tests. */
#include "clk_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define PERM_CACHE 256 /* permutations kept, one per salt value (years of birth: ~100) */
#define PERM_PROBE 16

struct clk_harden {
    size_t salt_feature; /* feature index, or (size_t)-1: no salting */
    /* cache: the permutation of each seed seen, found from the slot its first two bytes
     * choose (a permutation costs 8 l stream bytes and a shuffle; a lookup, a compare) */
    uint8_t cseed[PERM_CACHE][32];
    unsigned char cused[PERM_CACHE];
    uint32_t *cperm; /* PERM_CACHE * l */
    size_t salt_chars;   /* bytes of the value used; 0 = all */
    uint32_t blip16;     /* flip when a 16-bit draw is below this; 0 = off */
    uint8_t key[32];     /* salted-permutation key (sodium_malloc'd struct) */
    uint8_t *stream;     /* scratch: 8 bytes per index */
    uint8_t *tmp;        /* scratch: one filter */
};

/* Fisher-Yates over l indices from 8 stream bytes per step (bias of the modulo below
 * 2^-50 for l <= 2^14). perm[i] = where bit i goes. */
static void make_perm(uint32_t *perm, uint8_t *stream, size_t l, const uint8_t seed[32])
{
    randombytes_buf_deterministic(stream, 8 * l, seed);
    for (size_t i = 0; i < l; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = l - 1; i > 0; i--) {
        uint64_t r = 0;
        for (int b = 0; b < 8; b++)
            r = (r << 8) | stream[8 * i + (size_t)b];
        size_t j = (size_t)(r % (uint64_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void apply_perm(uint8_t *f, uint8_t *tmp, const uint32_t *perm, size_t l)
{
    size_t nb = (l + 7) / 8;
    memset(tmp, 0, nb);
    for (size_t k = 0; k < nb; k++) /* visit the set bits only */
        for (unsigned v = f[k]; v; v &= v - 1) {
            size_t i = k * 8 + 7 - (size_t)__builtin_ctz(v);
            tmp[perm[i] >> 3] |= (uint8_t)(0x80u >> (perm[i] & 7));
        }
    memcpy(f, tmp, nb);
}

static void perm_seed(uint8_t seed[32], const uint8_t key[32], const void *salt, size_t saltlen)
{
    crypto_generichash(seed, 32, (const unsigned char *)salt, saltlen, key, 32);
}

xchg_err xchg_clk_permute(uint8_t *f, size_t l, const uint8_t key[32], const void *salt,
                          size_t saltlen)
{
    if (!f || !key || (!salt && saltlen) || l < 2 || l > XCHG_CLK_MAX_HASH_BITS)
        return XCHG_ERR_ARG;
    uint8_t seed[32];
    uint32_t *perm = malloc(l * sizeof *perm);
    uint8_t *stream = malloc(8 * l), *tmp = malloc((l + 7) / 8);
    xchg_err rc = XCHG_ERR_NOMEM;
    if (perm && stream && tmp) {
        perm_seed(seed, key, salt, saltlen);
        make_perm(perm, stream, l, seed);
        apply_perm(f, tmp, perm, l);
        rc = XCHG_OK;
    }
    sodium_memzero(seed, sizeof seed);
    if (stream)
        sodium_memzero(stream, 8 * l);
    if (tmp)
        sodium_memzero(tmp, (l + 7) / 8);
    free(perm);
    free(stream);
    free(tmp);
    return rc;
}

static uint32_t blip_threshold(double p)
{
    return (uint32_t)(p * 65536.0 + 0.5);
}

static void blip_apply(uint8_t *f, size_t l, uint32_t thr, uint8_t *stream, const uint8_t seed[32])
{
    randombytes_buf_deterministic(stream, 2 * l, seed);
    for (size_t i = 0; i < l; i++) {
        uint32_t r = ((uint32_t)stream[2 * i] << 8) | stream[2 * i + 1];
        if (r < thr)
            f[i >> 3] ^= (uint8_t)(0x80u >> (i & 7));
    }
}

xchg_err xchg_clk_blip(uint8_t *f, size_t l, double p, const uint8_t seed[32])
{
    if (!f || !seed || l < 1 || l > XCHG_CLK_MAX_HASH_BITS || !(p >= 0.0 && p < 0.5))
        return XCHG_ERR_ARG;
    uint8_t *stream = malloc(2 * l);
    if (!stream)
        return XCHG_ERR_NOMEM;
    blip_apply(f, l, blip_threshold(p), stream, seed);
    sodium_memzero(stream, 2 * l);
    free(stream);
    return XCHG_OK;
}

void xchg__clk_harden_free(struct clk_harden *h, size_t l)
{
    if (!h)
        return;
    if (h->stream)
        sodium_memzero(h->stream, 8 * l);
    if (h->tmp)
        sodium_memzero(h->tmp, (l + 7) / 8);
    if (h->cperm)
        sodium_memzero(h->cperm, (size_t)PERM_CACHE * l * sizeof *h->cperm);
    free(h->cperm);
    free(h->stream);
    free(h->tmp);
    xchg_secure_free(h);
}

xchg_err xchg__clk_harden_new(const xchg_clk_schema *s, const xchg_clk_hardening *hd,
                              const void *secret, size_t secretlen, struct clk_harden **out,
                              xchg_diag *d)
{
    *out = NULL;
    if (!hd || (!hd->salt_feature && hd->blip == 0.0))
        return XCHG_OK;
    if (!(hd->blip >= 0.0 && hd->blip < 0.5)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "CLK hardening: blip must be at least 0 and below 0.5");
        return XCHG_ERR_POLICY;
    }
    if (!secret || secretlen < crypto_generichash_KEYBYTES_MIN ||
        secretlen > crypto_generichash_KEYBYTES_MAX)
        return XCHG_ERR_ARG;
    struct clk_harden *h = xchg_secure_alloc(sizeof *h);
    if (!h)
        return XCHG_ERR_NOMEM;
    memset(h, 0, sizeof *h);
    h->salt_feature = (size_t)-1;
    if (hd->salt_feature) {
        for (size_t i = 0; i < s->nf; i++)
            if (strcmp(s->f[i].name, hd->salt_feature) == 0)
                h->salt_feature = i;
        if (h->salt_feature == (size_t)-1) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "CLK hardening: salt feature '%s' is not a feature of the CLK schema",
                          hd->salt_feature);
            xchg_secure_free(h);
            return XCHG_ERR_POLICY;
        }
        h->salt_chars = hd->salt_chars;
        /* a key of its own, so the permutation says nothing about the n-gram keys */
        static const char ctx[] = "exchange clk salted permutation v1";
        crypto_generichash(h->key, sizeof h->key, (const unsigned char *)ctx, sizeof ctx - 1,
                           secret, secretlen);
    }
    h->blip16 = blip_threshold(hd->blip);
    h->stream = malloc(8 * s->l);
    h->tmp = malloc((s->l + 7) / 8);
    if (hd->salt_feature)
        h->cperm = malloc((size_t)PERM_CACHE * s->l * sizeof *h->cperm);
    if (!h->stream || !h->tmp || (hd->salt_feature && !h->cperm)) {
        xchg__clk_harden_free(h, s->l);
        return XCHG_ERR_NOMEM;
    }
    *out = h;
    return XCHG_OK;
}

void xchg__clk_harden_apply(struct clk_harden *h, const xchg_clk_schema *s,
                            const char *const *fields, const size_t *lens, uint8_t *out)
{
    if (h->salt_feature != (size_t)-1) {
        size_t n = lens[h->salt_feature];
        if (h->salt_chars && n > h->salt_chars)
            n = h->salt_chars;
        uint8_t seed[32];
        perm_seed(seed, h->key, fields[h->salt_feature] ? fields[h->salt_feature] : "", n);
        /* open addressing over PERM_PROBE slots; when all are taken, the first is reused */
        size_t home = (((size_t)seed[0] << 8) | seed[1]) % PERM_CACHE, slot = home;
        int hit = 0;
        for (size_t k = 0; k < PERM_PROBE; k++) {
            size_t sl = (home + k) % PERM_CACHE;
            if (!h->cused[sl]) {
                slot = sl;
                break;
            }
            if (sodium_memcmp(h->cseed[sl], seed, 32) == 0) {
                slot = sl, hit = 1;
                break;
            }
        }
        uint32_t *perm = h->cperm + slot * s->l;
        if (!hit) {
            make_perm(perm, h->stream, s->l, seed);
            memcpy(h->cseed[slot], seed, 32);
            h->cused[slot] = 1;
        }
        apply_perm(out, h->tmp, perm, s->l);
        sodium_memzero(seed, sizeof seed);
    }
    if (h->blip16) {
        uint8_t seed[32];
        randombytes_buf(seed, sizeof seed);
        blip_apply(out, s->l, h->blip16, h->stream, seed);
        sodium_memzero(seed, sizeof seed);
    }
}
