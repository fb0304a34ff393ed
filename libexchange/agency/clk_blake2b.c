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

/* ---- four tokens at once ----------------------------------------------------------------
 * blakeHash hashes many short, independent tokens, so the vector version runs four
 * BLAKE2b instances side by side, one per 64-bit lane: lane i of v0..v15 and m0..m15 is
 * instance i's word. G then needs no diagonal shuffles, only lane-wise add, xor, rotate.
 * Chosen at run time (AVX-512VL rotates in one instruction, AVX2 shuffles bytes); the
 * portable fallback is four scalar calls.
 */
static void snap_hash4_portable(const struct clk_blake2b_snap *const snap[4],
                                const uint8_t *const block[4], const size_t len[4],
                                uint8_t out[4][64])
{
    for (unsigned l = 0; l < 4; l++)
        clk_blake2b_snap_hash(snap[l], block[l], len[l], out[l]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* a, b, c, d = the 64-bit words i of four rows -> four vectors, lane l = row l */
#define TRANSPOSE4(r0, r1, r2, r3)                                                             \
    do {                                                                                       \
        __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);        \
        __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);        \
        r0 = _mm256_permute2x128_si256(t0, t2, 0x20);                                          \
        r1 = _mm256_permute2x128_si256(t1, t3, 0x20);                                          \
        r2 = _mm256_permute2x128_si256(t0, t2, 0x31);                                          \
        r3 = _mm256_permute2x128_si256(t1, t3, 0x31);                                          \
    } while (0)

#define VG(a, b, c, d, x, y)                                                                   \
    do {                                                                                       \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), x);                                       \
        d = ROT32(_mm256_xor_si256(d, a));                                                     \
        c = _mm256_add_epi64(c, d);                                                            \
        b = ROT24(_mm256_xor_si256(b, c));                                                     \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), y);                                       \
        d = ROT16(_mm256_xor_si256(d, a));                                                     \
        c = _mm256_add_epi64(c, d);                                                            \
        b = ROT63(_mm256_xor_si256(b, c));                                                     \
    } while (0)

#define VROUND(r)                                                                              \
    do {                                                                                       \
        const uint8_t *s = blake2b_sigma[r];                                                   \
        VG(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);                                         \
        VG(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);                                         \
        VG(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);                                        \
        VG(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);                                        \
        VG(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);                                        \
        VG(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);                                      \
        VG(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);                                       \
        VG(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);                                       \
    } while (0)

/* The body, shared by the AVX2 and AVX-512VL versions (they differ in ROT*). */
#define SNAP_HASH4_BODY                                                                        \
    uint8_t blk[4][128] __attribute__((aligned(32)));                                          \
    for (unsigned l = 0; l < 4; l++) {                                                         \
        memcpy(blk[l], block[l], len[l]);                                                      \
        memset(blk[l] + len[l], 0, 128 - len[l]);                                              \
    }                                                                                          \
    __m256i m[16], v[16];                                                                      \
    for (unsigned i = 0; i < 16; i += 4) {                                                     \
        m[i] = _mm256_load_si256((const __m256i *)(blk[0] + 8 * i));                           \
        m[i + 1] = _mm256_load_si256((const __m256i *)(blk[1] + 8 * i));                       \
        m[i + 2] = _mm256_load_si256((const __m256i *)(blk[2] + 8 * i));                       \
        m[i + 3] = _mm256_load_si256((const __m256i *)(blk[3] + 8 * i));                       \
        TRANSPOSE4(m[i], m[i + 1], m[i + 2], m[i + 3]);                                        \
    }                                                                                          \
    for (unsigned i = 0; i < 8; i += 4) {                                                      \
        v[i] = _mm256_loadu_si256((const __m256i *)(snap[0]->h + i));                          \
        v[i + 1] = _mm256_loadu_si256((const __m256i *)(snap[1]->h + i));                      \
        v[i + 2] = _mm256_loadu_si256((const __m256i *)(snap[2]->h + i));                      \
        v[i + 3] = _mm256_loadu_si256((const __m256i *)(snap[3]->h + i));                      \
        TRANSPOSE4(v[i], v[i + 1], v[i + 2], v[i + 3]);                                        \
    }                                                                                          \
    __m256i h[8];                                                                              \
    for (unsigned i = 0; i < 8; i++) {                                                         \
        h[i] = v[i];                                                                           \
        v[i + 8] = _mm256_set1_epi64x((long long)blake2b_iv[i]);                               \
    }                                                                                          \
    v[12] = _mm256_xor_si256(v[12], _mm256_set_epi64x((long long)(128 + len[3]),               \
                                                      (long long)(128 + len[2]),               \
                                                      (long long)(128 + len[1]),               \
                                                      (long long)(128 + len[0])));             \
    v[14] = _mm256_xor_si256(v[14], _mm256_set1_epi64x(-1)); /* last block */                 \
    VROUND(0);                                                                                 \
    VROUND(1);                                                                                 \
    VROUND(2);                                                                                 \
    VROUND(3);                                                                                 \
    VROUND(4);                                                                                 \
    VROUND(5);                                                                                 \
    VROUND(6);                                                                                 \
    VROUND(7);                                                                                 \
    VROUND(8);                                                                                 \
    VROUND(9);                                                                                 \
    VROUND(10);                                                                                \
    VROUND(11);                                                                                \
    for (unsigned i = 0; i < 8; i++)                                                           \
        h[i] = _mm256_xor_si256(h[i], _mm256_xor_si256(v[i], v[i + 8]));                       \
    for (unsigned i = 0; i < 8; i += 4) {                                                      \
        TRANSPOSE4(h[i], h[i + 1], h[i + 2], h[i + 3]);                                        \
        for (unsigned l = 0; l < 4; l++)                                                       \
            _mm256_storeu_si256((__m256i *)(out[l] + 8 * i), h[i + l]);                        \
    }                                                                                          \
    clk_wipe(blk, sizeof blk);

#define ROT32(x) _mm256_shuffle_epi32((x), _MM_SHUFFLE(2, 3, 0, 1))
#define ROT24(x) _mm256_shuffle_epi8((x), r24)
#define ROT16(x) _mm256_shuffle_epi8((x), r16)
#define ROT63(x) _mm256_or_si256(_mm256_srli_epi64((x), 63), _mm256_add_epi64((x), (x)))

__attribute__((target("avx2"))) static void
snap_hash4_avx2(const struct clk_blake2b_snap *const snap[4], const uint8_t *const block[4],
                const size_t len[4], uint8_t out[4][64])
{
    const __m256i r24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10, 3,
                                         4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i r16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9, 2,
                                         3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    SNAP_HASH4_BODY
}

#undef ROT32
#undef ROT24
#undef ROT16
#undef ROT63
#define ROT32(x) _mm256_ror_epi64((x), 32)
#define ROT24(x) _mm256_ror_epi64((x), 24)
#define ROT16(x) _mm256_ror_epi64((x), 16)
#define ROT63(x) _mm256_ror_epi64((x), 63)

__attribute__((target("avx2,avx512f,avx512vl"))) static void
snap_hash4_avx512(const struct clk_blake2b_snap *const snap[4], const uint8_t *const block[4],
                  const size_t len[4], uint8_t out[4][64])
{
    SNAP_HASH4_BODY
}
#define CLK_HAVE_X86 1
#endif

void clk_blake2b_snap_hash4(const struct clk_blake2b_snap *const snap[4],
                            const uint8_t *const block[4], const size_t len[4], uint8_t out[4][64],
                            enum clk_blake2b_impl impl)
{
#ifdef CLK_HAVE_X86
    if (impl == CLK_BLAKE2B_AUTO) {
        if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512f"))
            impl = CLK_BLAKE2B_AVX512;
        else if (__builtin_cpu_supports("avx2"))
            impl = CLK_BLAKE2B_AVX2;
    }
    if (impl == CLK_BLAKE2B_AVX512 && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512f")) {
        snap_hash4_avx512(snap, block, len, out);
        return;
    }
    if (impl == CLK_BLAKE2B_AVX2 && __builtin_cpu_supports("avx2")) {
        snap_hash4_avx2(snap, block, len, out);
        return;
    }
#else
    (void)impl;
#endif
    snap_hash4_portable(snap, block, len, out);
}
