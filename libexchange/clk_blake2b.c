/*
 * BLAKE2b (RFC 7693) for the CLK encoder, with a snapshot of the keyed state.
 *
 * Why not libsodium: keyed BLAKE2b hashes the key, zero-padded to one 128-byte block,
 * before the message. For blakeHash every token of a feature and block index j uses the
 * same key, salt and parameters, so the state after that first block is the same for all
 * of them. libsodium only compresses the key block when message bytes follow (the key
 * block would be the last block of an empty message), so a copy of its state saves
 * nothing; here the state after the key block is an explicit value, and each token then
 * costs one compression instead of two. Written from RFC 7693 (section 2 parameters,
 * section 3 algorithm, appendix A vector) plus the BLAKE2 parameter block for salt and
 * personalisation (as libsodium's crypto_generichash_blake2b_salt_personal uses it).
 * Checked in tests/unit/test_clk.c against the RFC vector and libsodium on random input.
 */
#include "clk_internal.h"

#include <string.h>

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static inline uint64_t load64le(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline void store64le(uint8_t *p, uint64_t x)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* RFC 7693 3.1: the mixing function G. */
#define G(a, b, c, d, x, y)                                                                    \
    do {                                                                                       \
        a = a + b + (x);                                                                       \
        d = rotr64(d ^ a, 32);                                                                 \
        c = c + d;                                                                             \
        b = rotr64(b ^ c, 24);                                                                 \
        a = a + b + (y);                                                                       \
        d = rotr64(d ^ a, 16);                                                                 \
        c = c + d;                                                                             \
        b = rotr64(b ^ c, 63);                                                                 \
    } while (0)

#define ROUND(r)                                                                               \
    do {                                                                                       \
        const uint8_t *s = blake2b_sigma[r];                                                   \
        G(v0, v4, v8, v12, m[s[0]], m[s[1]]);                                                  \
        G(v1, v5, v9, v13, m[s[2]], m[s[3]]);                                                  \
        G(v2, v6, v10, v14, m[s[4]], m[s[5]]);                                                 \
        G(v3, v7, v11, v15, m[s[6]], m[s[7]]);                                                 \
        G(v0, v5, v10, v15, m[s[8]], m[s[9]]);                                                 \
        G(v1, v6, v11, v12, m[s[10]], m[s[11]]);                                               \
        G(v2, v7, v8, v13, m[s[12]], m[s[13]]);                                                \
        G(v3, v4, v9, v14, m[s[14]], m[s[15]]);                                                \
    } while (0)

/* RFC 7693 3.2: compress one 128-byte block; t is the byte count including it. */
static void compress(uint64_t h[8], const uint8_t block[128], uint64_t t, int last)
{
    uint64_t m[16];
    for (unsigned i = 0; i < 16; i++)
        m[i] = load64le(block + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6],
             v7 = h[7];
    uint64_t v8 = blake2b_iv[0], v9 = blake2b_iv[1], v10 = blake2b_iv[2], v11 = blake2b_iv[3];
    uint64_t v12 = blake2b_iv[4] ^ t, v13 = blake2b_iv[5]; /* high counter word: 0 */
    uint64_t v14 = last ? ~blake2b_iv[6] : blake2b_iv[6], v15 = blake2b_iv[7];
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
    h[0] ^= v0 ^ v8;
    h[1] ^= v1 ^ v9;
    h[2] ^= v2 ^ v10;
    h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12;
    h[5] ^= v5 ^ v13;
    h[6] ^= v6 ^ v14;
    h[7] ^= v7 ^ v15;
}

/* h0 from the parameter block: digest length, key length, fanout 1, depth 1, salt,
 * personalisation (NULL for all-zero). */
static void param_init(uint64_t h[8], size_t outlen, size_t keylen, const uint8_t *salt,
                       const uint8_t *personal)
{
    for (unsigned i = 0; i < 8; i++)
        h[i] = blake2b_iv[i];
    h[0] ^= 0x01010000ULL ^ ((uint64_t)keylen << 8) ^ (uint64_t)outlen;
    if (salt) {
        h[4] ^= load64le(salt);
        h[5] ^= load64le(salt + 8);
    }
    if (personal) {
        h[6] ^= load64le(personal);
        h[7] ^= load64le(personal + 8);
    }
}

/* Hash len > 0 message bytes into h, t bytes already compressed; write outlen bytes. */
static void finish(uint64_t h[8], uint64_t t, const uint8_t *msg, size_t len, uint8_t *out,
                   size_t outlen)
{
    uint8_t block[128];
    while (len > 128) {
        t += 128;
        compress(h, msg, t, 0);
        msg += 128;
        len -= 128;
    }
    memcpy(block, msg, len);
    memset(block + len, 0, sizeof block - len);
    compress(h, block, t + len, 1);
    uint8_t full[64];
    for (unsigned i = 0; i < 8; i++)
        store64le(full + 8 * i, h[i]);
    memcpy(out, full, outlen);
    clk_wipe(block, sizeof block);
    clk_wipe(full, sizeof full);
}

void clk_blake2b(uint8_t *out, size_t outlen, const uint8_t *msg, size_t len, const uint8_t *key,
                 size_t keylen, const uint8_t *salt, const uint8_t *personal)
{
    uint64_t h[8];
    uint64_t t = 0;
    param_init(h, outlen, keylen, salt, personal);
    if (keylen) {
        uint8_t block[128] = {0};
        memcpy(block, key, keylen);
        t = 128;
        compress(h, block, t, len == 0); /* the key block is the last of an empty message */
        clk_wipe(block, sizeof block);
        if (len == 0) {
            uint8_t full[64];
            for (unsigned i = 0; i < 8; i++)
                store64le(full + 8 * i, h[i]);
            memcpy(out, full, outlen);
            clk_wipe(full, sizeof full);
            clk_wipe(h, sizeof h);
            return;
        }
    } else if (len == 0) {
        uint8_t block[128] = {0};
        compress(h, block, 0, 1);
        uint8_t full[64];
        for (unsigned i = 0; i < 8; i++)
            store64le(full + 8 * i, h[i]);
        memcpy(out, full, outlen);
        clk_wipe(full, sizeof full);
        clk_wipe(h, sizeof h);
        return;
    }
    finish(h, t, msg, len, out, outlen);
    clk_wipe(h, sizeof h);
}

void clk_blake2b_snap_init(struct clk_blake2b_snap *snap, size_t outlen, const uint8_t *key,
                           size_t keylen, const uint8_t *salt, const uint8_t *personal)
{
    uint8_t block[128] = {0};
    param_init(snap->h, outlen, keylen, salt, personal);
    memcpy(block, key, keylen);
    compress(snap->h, block, 128, 0);
    snap->outlen = outlen;
    clk_wipe(block, sizeof block);
}

void clk_blake2b_snap_hash(const struct clk_blake2b_snap *snap, const uint8_t *msg, size_t len,
                           uint8_t *out)
{
    uint64_t h[8];
    memcpy(h, snap->h, sizeof h);
    finish(h, 128, msg, len, out, snap->outlen);
    clk_wipe(h, sizeof h);
}
