/*
 * The linkage engine's Dice kernel: popcount(q & f[i]) for one query against a block
 * (dice_kernel.h). Moved out of link.c and given an AVX2 path and a forced dispatch.
 */
#include "dice_kernel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define DICE_X86 1
#include <immintrin.h>
#endif

/* ---- generic: portable C ---- */

/* one unaligned 64-bit word (a single load once compiled) */
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static unsigned and_pop_generic(const uint8_t *a, const uint8_t *b, size_t n)
{
    unsigned c = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        c += (unsigned)__builtin_popcountll(load64(a + i) & load64(b + i));
    for (; i < n; i++)
        c += (unsigned)__builtin_popcount((unsigned)(a[i] & b[i]));
    return c;
}

static void many_generic(const uint8_t *q, const uint8_t *f, size_t m, size_t n, uint32_t *out)
{
    for (size_t i = 0; i < m; i++)
        out[i] = and_pop_generic(q, f + i * n, n);
}

#ifdef DICE_X86
/* ---- popcnt: the POPCNT instruction (the baseline x86-64 target lacks it, and without it
 * every __builtin_popcountll is a library call) ---- */

__attribute__((target("popcnt"))) static inline unsigned and_pop_popcnt(const uint8_t *a,
                                                                        const uint8_t *b, size_t n)
{
    /* four independent sums so the popcounts overlap */
    uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        c0 += (uint64_t)__builtin_popcountll(load64(a + i) & load64(b + i));
        c1 += (uint64_t)__builtin_popcountll(load64(a + i + 8) & load64(b + i + 8));
        c2 += (uint64_t)__builtin_popcountll(load64(a + i + 16) & load64(b + i + 16));
        c3 += (uint64_t)__builtin_popcountll(load64(a + i + 24) & load64(b + i + 24));
    }
    for (; i + 8 <= n; i += 8)
        c0 += (uint64_t)__builtin_popcountll(load64(a + i) & load64(b + i));
    for (; i < n; i++)
        c1 += (uint64_t)__builtin_popcount((unsigned)(a[i] & b[i]));
    return (unsigned)(c0 + c1 + c2 + c3);
}

__attribute__((target("popcnt"))) static void many_popcnt(const uint8_t *q, const uint8_t *f,
                                                          size_t m, size_t n, uint32_t *out)
{
    if (n == 128) { /* the usual 1024-bit filter: a constant trip count unrolls fully */
        for (size_t i = 0; i < m; i++)
            out[i] = and_pop_popcnt(q, f + i * 128, 128);
        return;
    }
    for (size_t i = 0; i < m; i++)
        out[i] = and_pop_popcnt(q, f + i * n, n);
}

/* ---- avx2: nibble-LUT popcount (W. Mula, "Faster population counts using AVX2") ----
 *
 * Per 32-byte word x = q & f, each byte's count is LUT[low nibble] + LUT[high nibble],
 * one VPSHUFB each. Three things cut the work per filter:
 *  - the query is fixed, so its nibble masks are precomputed: low = f & (q & 0x0f..),
 *    high = (f >> 4) & ((q >> 4) & 0x0f..) -- the AND with q comes free;
 *  - the low nibbles look up pop+4 and the high nibbles 4-pop, summed separately over the
 *    filter's words; VPSADBW of the two sums is then sum(|A-B|) = sum(pop_lo + pop_hi)
 *    (A-B >= 0 byte by byte), one instruction for both the add and the byte reduction;
 *  - the four 64-bit lanes of four filters are reduced together (two unpacks, two adds).
 * A chunk is at most 16 words, so a byte of A is at most 16 * 8 = 128: no overflow.
 */
#define AVX2_CHUNK 16

__attribute__((target("avx2"), always_inline)) static inline __m256i
avx2_sad(const uint8_t *p, const __m256i *ql, const __m256i *qh, size_t cv)
{
    const __m256i lut_p4 = _mm256_setr_epi8(4, 5, 5, 6, 5, 6, 6, 7, 5, 6, 6, 7, 6, 7, 7, 8, 4, 5, 5,
                                            6, 5, 6, 6, 7, 5, 6, 6, 7, 6, 7, 7, 8);
    const __m256i lut_n4 = _mm256_setr_epi8(4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0, 4, 3, 3,
                                            2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0);
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (size_t k = 0; k < cv; k++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * k));
        __m256i lo = _mm256_and_si256(x, ql[k]);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), qh[k]);
        a = _mm256_add_epi8(a, _mm256_shuffle_epi8(lut_p4, lo));
        b = _mm256_add_epi8(b, _mm256_shuffle_epi8(lut_n4, hi));
    }
    return _mm256_sad_epu8(a, b);
}

/* the four lane sums of each of s0..s3 -> four 32-bit totals */
__attribute__((target("avx2"), always_inline)) static inline __m128i
avx2_reduce4(__m256i s0, __m256i s1, __m256i s2, __m256i s3)
{
    __m256i t01 = _mm256_or_si256(s0, _mm256_slli_epi64(s1, 32));
    __m256i t23 = _mm256_or_si256(s2, _mm256_slli_epi64(s3, 32));
    __m256i v = _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
    return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

__attribute__((target("avx2"), always_inline)) static inline uint32_t avx2_reduce1(__m256i s)
{
    __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint32_t)((uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1));
}

/* counts of `cv` words starting at word c0 of each filter; add: add to out, else store */
__attribute__((target("avx2"), always_inline)) static inline void
avx2_chunk(const uint8_t *q, const uint8_t *f, size_t m, size_t n, size_t c0, size_t cv, int add,
           uint32_t *out)
{
    __m256i ql[AVX2_CHUNK], qh[AVX2_CHUNK];
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (size_t k = 0; k < cv; k++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * (c0 + k)));
        ql[k] = _mm256_and_si256(x, low);
        qh[k] = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    }
    const uint8_t *base = f + 32 * c0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        const uint8_t *p = base + i * n;
        __m128i r = avx2_reduce4(avx2_sad(p, ql, qh, cv), avx2_sad(p + n, ql, qh, cv),
                                 avx2_sad(p + 2 * n, ql, qh, cv), avx2_sad(p + 3 * n, ql, qh, cv));
        if (add)
            r = _mm_add_epi32(r, _mm_loadu_si128((const __m128i *)(out + i)));
        _mm_storeu_si128((__m128i *)(out + i), r);
    }
    for (; i < m; i++) {
        uint32_t c = avx2_reduce1(avx2_sad(base + i * n, ql, qh, cv));
        out[i] = add ? out[i] + c : c;
    }
}

/* n == 128, the usual 1024-bit filter: written out so the eight query masks and both
 * tables stay in registers and the adds form trees, not chains. Scheduled for Skylake (the
 * common AVX2 server core): with GCC's generic tuning the same code ran 15% slower here. */
#define AVX2_LO(k) _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + 32 * (k))), ql##k)
#define AVX2_HI(k)                                                                                 \
    _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(p + 32 * (k))), 4),    \
                     qh##k)
#define AVX2_SAD128(p)                                                                             \
    _mm256_sad_epu8(_mm256_add_epi8(_mm256_add_epi8(_mm256_shuffle_epi8(lut_p4, AVX2_LO(0)),       \
                                                    _mm256_shuffle_epi8(lut_p4, AVX2_LO(1))),      \
                                    _mm256_add_epi8(_mm256_shuffle_epi8(lut_p4, AVX2_LO(2)),       \
                                                    _mm256_shuffle_epi8(lut_p4, AVX2_LO(3)))),     \
                    _mm256_add_epi8(_mm256_add_epi8(_mm256_shuffle_epi8(lut_n4, AVX2_HI(0)),       \
                                                    _mm256_shuffle_epi8(lut_n4, AVX2_HI(1))),      \
                                    _mm256_add_epi8(_mm256_shuffle_epi8(lut_n4, AVX2_HI(2)),       \
                                                    _mm256_shuffle_epi8(lut_n4, AVX2_HI(3)))))

__attribute__((target("avx2,tune=skylake"))) static void
many_avx2_128(const uint8_t *q, const uint8_t *f, size_t m, uint32_t *out)
{
    const __m256i lut_p4 = _mm256_setr_epi8(4, 5, 5, 6, 5, 6, 6, 7, 5, 6, 6, 7, 6, 7, 7, 8, 4, 5, 5,
                                            6, 5, 6, 6, 7, 5, 6, 6, 7, 6, 7, 7, 8);
    const __m256i lut_n4 = _mm256_setr_epi8(4, 3, 3, 2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0, 4, 3, 3,
                                            2, 3, 2, 2, 1, 3, 2, 2, 1, 2, 1, 1, 0);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i q0 = _mm256_loadu_si256((const __m256i *)q),
            q1 = _mm256_loadu_si256((const __m256i *)(q + 32)),
            q2 = _mm256_loadu_si256((const __m256i *)(q + 64)),
            q3 = _mm256_loadu_si256((const __m256i *)(q + 96));
    __m256i ql0 = _mm256_and_si256(q0, low), ql1 = _mm256_and_si256(q1, low),
            ql2 = _mm256_and_si256(q2, low), ql3 = _mm256_and_si256(q3, low);
    __m256i qh0 = _mm256_and_si256(_mm256_srli_epi16(q0, 4), low),
            qh1 = _mm256_and_si256(_mm256_srli_epi16(q1, 4), low),
            qh2 = _mm256_and_si256(_mm256_srli_epi16(q2, 4), low),
            qh3 = _mm256_and_si256(_mm256_srli_epi16(q3, 4), low);
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        const uint8_t *p = f + i * 128;
        __m256i s0 = AVX2_SAD128(p);
        p += 128;
        __m256i s1 = AVX2_SAD128(p);
        p += 128;
        __m256i s2 = AVX2_SAD128(p);
        p += 128;
        __m256i s3 = AVX2_SAD128(p);
        _mm_storeu_si128((__m128i *)(out + i), avx2_reduce4(s0, s1, s2, s3));
    }
    for (; i < m; i++) {
        const uint8_t *p = f + i * 128;
        out[i] = avx2_reduce1(AVX2_SAD128(p));
    }
}

__attribute__((target("avx2,popcnt"))) static void many_avx2(const uint8_t *q, const uint8_t *f,
                                                             size_t m, size_t n, uint32_t *out)
{
    if (n == 128) { /* the usual 1024-bit filter: four words, query masks in registers */
        many_avx2_128(q, f, m, out);
        return;
    }
    size_t nv = n / 32, done = 0;
    for (size_t c0 = 0; c0 < nv; c0 += AVX2_CHUNK) {
        size_t cv = nv - c0 < AVX2_CHUNK ? nv - c0 : AVX2_CHUNK;
        avx2_chunk(q, f, m, n, c0, cv, c0 > 0, out);
        done = 1;
    }
    size_t t = nv * 32;
    if (t < n)
        for (size_t i = 0; i < m; i++) {
            uint32_t c = and_pop_popcnt(q + t, f + i * n + t, n - t);
            out[i] = done ? out[i] + c : c;
        }
    else if (!done) /* n == 0 */
        for (size_t i = 0; i < m; i++)
            out[i] = 0;
}

/* ---- avx512: VPOPCNTDQ ---- */

__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static void
many_avx512(const uint8_t *q, const uint8_t *f, size_t m, size_t n, uint32_t *out)
{
    if (n == 128) { /* two 512-bit halves, the query held in registers */
        __m512i q0 = _mm512_loadu_si512((const void *)q);
        __m512i q1 = _mm512_loadu_si512((const void *)(q + 64));
        for (size_t i = 0; i < m; i++) {
            const uint8_t *p = f + i * 128;
            __m512i a = _mm512_and_si512(q0, _mm512_loadu_si512((const void *)p));
            __m512i b = _mm512_and_si512(q1, _mm512_loadu_si512((const void *)(p + 64)));
            __m512i c = _mm512_add_epi64(_mm512_popcnt_epi64(a), _mm512_popcnt_epi64(b));
            out[i] = (uint32_t)_mm512_reduce_add_epi64(c);
        }
        return;
    }
    size_t t = n / 64 * 64;
    for (size_t i = 0; i < m; i++) {
        const uint8_t *p = f + i * n;
        __m512i c = _mm512_setzero_si512();
        for (size_t k = 0; k < t; k += 64)
            c = _mm512_add_epi64(c, _mm512_popcnt_epi64(_mm512_and_si512(
                                        _mm512_loadu_si512((const void *)(q + k)),
                                        _mm512_loadu_si512((const void *)(p + k)))));
        out[i] = (uint32_t)_mm512_reduce_add_epi64(c) +
                 (t < n ? and_pop_popcnt(q + t, p + t, n - t) : 0);
    }
}

/* ---- bit-sliced tiles (xchg_dice_block on the avx2 and avx512 paths) ----
 *
 * A tile is TILE = 256 filters transposed: 8n + 1 columns of 32 bytes, column c holding
 * bit c of each filter (bit j%8 of byte c/8 of filter j is bit j of the column; the last
 * column is all zero, the padding of a query's column list). Lane j of a tile is filter j.
 */
#define TILE 256
#define HS_MAXNL 16 /* counter bits: a sum is at most 4n < 2^16 (n < 16384) */

/* Lanes 8..15 and 16..23 of each 32 hold filters 16..23 and 8..15 of those 32: the
 * in-lane unpack that widens a tile's byte counts to 16 bits then yields them in filter
 * order (tile_counts_body). */
static inline size_t lane_filter(size_t j)
{
    size_t r = j % 32;
    return j - r + (r >= 8 && r < 24 ? (r < 16 ? r + 8 : r - 8) : r);
}

/* A 16x16 byte transpose within each 128-bit lane of x[0..15] (four rounds of unpacks of
 * x[i] with x[i + 8]): output vector i, byte p of a lane, is input vector tr_row[p], byte
 * tr_col[i] of that lane (the two orders are found once, by running it on marked bytes) */
static uint8_t tr_row[16], tr_col[16];
static int tr_ok;

__attribute__((target("avx2"), always_inline)) static inline void tr16_avx2(__m256i *x)
{
    __m256i y[16];
    for (int i = 0; i < 8; i++)
        y[2 * i] = _mm256_unpacklo_epi8(x[i], x[i + 8]),
              y[2 * i + 1] = _mm256_unpackhi_epi8(x[i], x[i + 8]);
    for (int i = 0; i < 8; i++)
        x[2 * i] = _mm256_unpacklo_epi16(y[i], y[i + 8]),
              x[2 * i + 1] = _mm256_unpackhi_epi16(y[i], y[i + 8]);
    for (int i = 0; i < 8; i++)
        y[2 * i] = _mm256_unpacklo_epi32(x[i], x[i + 8]),
              y[2 * i + 1] = _mm256_unpackhi_epi32(x[i], x[i + 8]);
    for (int i = 0; i < 8; i++)
        x[2 * i] = _mm256_unpacklo_epi64(y[i], y[i + 8]),
              x[2 * i + 1] = _mm256_unpackhi_epi64(y[i], y[i + 8]);
}

/* find tr_row and tr_col (tr_ok: the network is a transpose, one row order for every
 * output -- else no tiles are used) */
__attribute__((target("avx2"))) static void tr_init_avx2(void)
{
    __m256i x[16];
    uint8_t v[16][32];
    for (int r = 0; r < 16; r++) { /* byte = row * 16 + column */
        for (int c = 0; c < 32; c++)
            v[r][c] = (uint8_t)(r * 16 + c % 16);
        x[r] = _mm256_loadu_si256((const __m256i *)v[r]);
    }
    tr16_avx2(x);
    int ok = 1, seen_r = 0, seen_c = 0;
    for (int i = 0; i < 16; i++) {
        _mm256_storeu_si256((__m256i *)v[i], x[i]);
        tr_col[i] = (uint8_t)(v[i][0] % 16);
        seen_c |= 1 << tr_col[i];
        for (int p = 0; p < 32; p++) {
            if (v[i][p] % 16 != tr_col[i] || v[i][p] / 16 != v[0][p] / 16 ||
                v[i][p] != v[i][p % 16])
                ok = 0;
            if (i == 0 && p < 16) {
                tr_row[p] = (uint8_t)(v[0][p] / 16);
                seen_r |= 1 << tr_row[p];
            }
        }
    }
    tr_ok = ok && seen_r == 0xffff && seen_c == 0xffff;
}

/* transpose filters f[0..k) (k <= TILE; the rest of the tile zero) of n bytes into tile t:
 * per 32 filters and 32 bytes, two in-lane 16x16 byte transposes and a lane exchange give
 * byte b of the 32 filters in one vector, whose eight movemasks are bits 8b+7 .. 8b */
__attribute__((target("avx2"))) static void tile_build_avx2(const uint8_t *f, size_t k, size_t n,
                                                            uint8_t *t)
{
    uint8_t row[32] __attribute__((aligned(32)));
    for (size_t g = 0; g < TILE / 32; g++) {
        if (32 * g >= k) {
            for (size_t c = 0; c < 8 * n; c++)
                memset(t + c * 32 + 4 * g, 0, 4);
            continue;
        }
        for (size_t B = 0; B < n; B += 32) {
            __m256i a[16], b[16];
            for (int h = 0; h < 2; h++)
                for (int p = 0; p < 16; p++) {
                    /* the filter of this lane (lane_filter: counts come out in order) */
                    size_t j = 32 * g + lane_filter(16 * (size_t)h + (size_t)p);
                    __m256i v;
                    if (j < k && B + 32 <= n)
                        v = _mm256_loadu_si256((const __m256i *)(f + j * n + B));
                    else {
                        memset(row, 0, sizeof row);
                        if (j < k)
                            memcpy(row, f + j * n + B, n - B < 32 ? n - B : 32);
                        v = _mm256_load_si256((const __m256i *)row);
                    }
                    (h ? b : a)[tr_row[p]] = v;
                }
            tr16_avx2(a);
            tr16_avx2(b);
            for (int i = 0; i < 16; i++)
                for (int hi = 0; hi < 2; hi++) {
                    size_t byte = B + (size_t)(16 * hi) + tr_col[i];
                    if (byte >= n)
                        continue;
                    __m256i v = hi ? _mm256_permute2x128_si256(a[i], b[i], 0x31)
                                   : _mm256_permute2x128_si256(a[i], b[i], 0x20);
                    for (int s = 7; s >= 0; s--) { /* movemask takes bit 7 of each byte */
                        uint32_t w = (uint32_t)_mm256_movemask_epi8(v);
                        memcpy(t + (8 * byte + (size_t)s) * 32 + 4 * g, &w, 4);
                        v = _mm256_add_epi8(v, v);
                    }
                }
        }
    }
    memset(t + 8 * n * 32, 0, 32);
}

/* the nl bit-sliced counter levels w[] (level l has weight 2^l; word g holds lanes
 * 32g .. 32g+31) -> 256 16-bit counts in filter order. Per 32 lanes and level: the level's
 * word broadcast, VPSHUFB spreading byte r/8 to byte r, VPAND + VPCMPEQB with bit r%8 (byte
 * r all ones when lane r's bit is set), and a Horner step (acc = 2 acc - mask) into the
 * low byte (levels 7..0) or the high byte (levels 15..8); one unpack pair makes them 16-bit
 * counts (lanes 0-7, 16-23 | 8-15, 24-31, i.e. filters 0-15 | 16-31: see lane_filter). */
__attribute__((target("avx2"), always_inline)) static inline void
tile_counts_body(const uint32_t (*w)[8], int nl, uint16_t *cnt)
{
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                            2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i z = _mm256_setzero_si256();
    for (int g = 0; g < TILE / 32; g++) {
        __m256i lo = z, hi = z;
        for (int l = nl - 1; l >= 0; l--) {
            __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w[l][g]), spread);
            v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
            if (l >= 8)
                hi = _mm256_sub_epi8(_mm256_add_epi8(hi, hi), v);
            else
                lo = _mm256_sub_epi8(_mm256_add_epi8(lo, lo), v);
        }
        _mm256_storeu_si256((__m256i *)(cnt + 32 * g), _mm256_unpacklo_epi8(lo, hi));
        _mm256_storeu_si256((__m256i *)(cnt + 32 * g + 16), _mm256_unpackhi_epi8(lo, hi));
    }
}

__attribute__((target("avx2"))) static void tile_counts_avx2(const uint32_t (*w)[8], int nl,
                                                             uint16_t *cnt)
{
    if (nl == 10) /* filters of 128 to 255 bytes: unrolled, the levels' constants known */
        tile_counts_body(w, 10, cnt);
    else
        tile_counts_body(w, nl, cnt);
}

/*
 * cnt[j] = the number of the len columns at byte offsets off[] of tile t that have bit j
 * set (len a multiple of 16), by the Harley-Seal carry-save adder tree of W. Mula, N. Kurz
 * and D. Lemire ("Faster population counts using AVX2 instructions", 2018) applied lane by
 * lane: sixteen columns reduce to one "sixteens" vector, rippled into nl - 4 counter
 * levels. CSA(h, l, a, b, c): l = a ^ b ^ c, h = majority(a, b, c).
 */
#define HS_TILE_BODY(CSA)                                                                          \
    const __m256i z = _mm256_setzero_si256();                                                      \
    __m256i lv[HS_MAXNL];                                                                          \
    __m256i ones = z, twos = z, fours = z, eights = z;                                             \
    __m256i s0 = z, s1 = z, s2 = z, s3 = z, s4 = z, s5 = z; /* sixteens .. 512s */                 \
    for (int l = 0; l < HS_MAXNL; l++)                                                             \
        lv[l] = z;                                                                                 \
    for (size_t i = 0; i < len; i += 16) {                                                         \
        const uint32_t *o = off + i;                                                               \
        __m256i twosA, twosB, foursA, foursB, eightsA, eightsB, sixteens;                          \
        CSA(twosA, ones, ones, HS_LD(0), HS_LD(1));                                                \
        CSA(twosB, ones, ones, HS_LD(2), HS_LD(3));                                                \
        CSA(foursA, twos, twos, twosA, twosB);                                                     \
        CSA(twosA, ones, ones, HS_LD(4), HS_LD(5));                                                \
        CSA(twosB, ones, ones, HS_LD(6), HS_LD(7));                                                \
        CSA(foursB, twos, twos, twosA, twosB);                                                     \
        CSA(eightsA, fours, fours, foursA, foursB);                                                \
        CSA(twosA, ones, ones, HS_LD(8), HS_LD(9));                                                \
        CSA(twosB, ones, ones, HS_LD(10), HS_LD(11));                                              \
        CSA(foursA, twos, twos, twosA, twosB);                                                     \
        CSA(twosA, ones, ones, HS_LD(12), HS_LD(13));                                              \
        CSA(twosB, ones, ones, HS_LD(14), HS_LD(15));                                              \
        CSA(foursB, twos, twos, twosA, twosB);                                                     \
        CSA(eightsB, fours, fours, foursA, foursB);                                                \
        CSA(sixteens, eights, eights, eightsA, eightsB);                                           \
        if (nl <= 10) { /* up to 1023: six levels in registers (n <= 255) */                       \
            __m256i c = sixteens, r_;                                                              \
            r_ = _mm256_and_si256(s0, c), s0 = _mm256_xor_si256(s0, c), c = r_;                    \
            r_ = _mm256_and_si256(s1, c), s1 = _mm256_xor_si256(s1, c), c = r_;                    \
            r_ = _mm256_and_si256(s2, c), s2 = _mm256_xor_si256(s2, c), c = r_;                    \
            r_ = _mm256_and_si256(s3, c), s3 = _mm256_xor_si256(s3, c), c = r_;                    \
            r_ = _mm256_and_si256(s4, c), s4 = _mm256_xor_si256(s4, c), c = r_;                    \
            s5 = _mm256_xor_si256(s5, c);                                                          \
        } else {                                                                                   \
            __m256i c = sixteens;                                                                  \
            for (int l = 4; l < nl; l++) {                                                         \
                __m256i r_ = _mm256_and_si256(lv[l], c);                                           \
                lv[l] = _mm256_xor_si256(lv[l], c);                                                \
                c = r_;                                                                            \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    lv[0] = ones, lv[1] = twos, lv[2] = fours, lv[3] = eights;                                     \
    if (nl <= 10)                                                                                  \
        lv[4] = s0, lv[5] = s1, lv[6] = s2, lv[7] = s3, lv[8] = s4, lv[9] = s5;                    \
    uint32_t w[HS_MAXNL][8] __attribute__((aligned(32)));                                          \
    for (int l = 0; l < nl; l++)                                                                   \
        _mm256_store_si256((__m256i *)w[l], lv[l]);                                                \
    tile_counts_avx2((const uint32_t(*)[8])w, nl, cnt)

#define HS_LD(k) _mm256_load_si256((const __m256i *)(t + o[k]))

#define CSA_AVX2(h, l, a, b, c)                                                                    \
    do {                                                                                           \
        __m256i a_ = (a), b_ = (b), c_ = (c), u_ = _mm256_xor_si256(a_, b_);                       \
        h = _mm256_or_si256(_mm256_and_si256(a_, b_), _mm256_and_si256(u_, c_));                   \
        l = _mm256_xor_si256(u_, c_);                                                              \
    } while (0)

__attribute__((target("avx2"))) static void tile_sum_avx2(const uint8_t *t, const uint32_t *off,
                                                          size_t len, int nl, uint16_t *cnt)
{
    HS_TILE_BODY(CSA_AVX2);
}

/* with AVX-512VL, each adder is two VPTERNLOGDs on the same 256-bit columns */
#define CSA_TERN(h, l, a, b, c)                                                                    \
    do {                                                                                           \
        __m256i a_ = (a), b_ = (b), c_ = (c);                                                      \
        h = _mm256_ternarylogic_epi32(a_, b_, c_, 0xe8);                                           \
        l = _mm256_ternarylogic_epi32(a_, b_, c_, 0x96);                                           \
    } while (0)

__attribute__((target("avx2,avx512f,avx512vl"))) static void
tile_sum_avx512(const uint8_t *t, const uint32_t *off, size_t len, int nl, uint16_t *cnt)
{
    HS_TILE_BODY(CSA_TERN);
}
#endif

/* ---- dispatch ---- */

static const char *const kernel_names[XCHG_DICE_NKERNELS] = {"generic", "popcnt", "avx2", "avx512"};

const char *xchg_dice_kernel_name(xchg_dice_kernel k)
{
    return (unsigned)k < XCHG_DICE_NKERNELS ? kernel_names[k] : NULL;
}

int xchg_dice_kernel_parse(const char *name, xchg_dice_kernel *out)
{
    for (int k = 0; name && k < XCHG_DICE_NKERNELS; k++)
        if (!strcmp(name, kernel_names[k])) {
            *out = (xchg_dice_kernel)k;
            return 0;
        }
    return -1;
}

int xchg_dice_kernel_supported(xchg_dice_kernel k)
{
    switch (k) {
    case XCHG_DICE_GENERIC:
        return 1;
#ifdef DICE_X86
    case XCHG_DICE_POPCNT:
        __builtin_cpu_init();
        return __builtin_cpu_supports("popcnt") != 0;
    case XCHG_DICE_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case XCHG_DICE_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq") &&
               __builtin_cpu_supports("popcnt");
#endif
    default:
        return 0;
    }
}

xchg_dice_many_fn xchg_dice_kernel_fn(xchg_dice_kernel k)
{
    if (!xchg_dice_kernel_supported(k))
        return NULL;
    switch (k) {
    case XCHG_DICE_GENERIC:
        return many_generic;
#ifdef DICE_X86
    case XCHG_DICE_POPCNT:
        return many_popcnt;
    case XCHG_DICE_AVX2:
        return many_avx2;
    case XCHG_DICE_AVX512:
        return many_avx512;
#endif
    default:
        return NULL;
    }
}

xchg_dice_kernel xchg_dice_kernel_best(void)
{
    for (int k = XCHG_DICE_NKERNELS - 1; k > 0; k--)
        if (xchg_dice_kernel_supported((xchg_dice_kernel)k))
            return (xchg_dice_kernel)k;
    return XCHG_DICE_GENERIC;
}

static pthread_once_t selected_once = PTHREAD_ONCE_INIT;
static xchg_dice_kernel selected;

static void select_kernel(void)
{
    selected = xchg_dice_kernel_best();
    const char *v = getenv("XCHG_DICE_KERNEL");
    if (!v || !*v)
        return;
    xchg_dice_kernel k;
    if (xchg_dice_kernel_parse(v, &k))
        fprintf(stderr,
                "exchange: XCHG_DICE_KERNEL=%s is not a Dice kernel (generic, popcnt, avx2, "
                "avx512); using %s\n",
                v, kernel_names[selected]);
    else if (!xchg_dice_kernel_supported(k))
        fprintf(stderr,
                "exchange: XCHG_DICE_KERNEL=%s: this CPU or build cannot run it; using %s\n", v,
                kernel_names[selected]);
    else
        selected = k;
}

xchg_dice_kernel xchg_dice_kernel_selected(void)
{
    pthread_once(&selected_once, select_kernel);
    return selected;
}

xchg_dice_many_fn xchg_dice_kernel_pick(size_t n)
{
    (void)n; /* every path handles every filter length */
    return xchg_dice_kernel_fn(xchg_dice_kernel_selected());
}

/* ---- blocks ---- */

#ifdef DICE_X86
/* bit positions of each byte value, for decoding a query's bits to column offsets */
static uint32_t bitpos[256][8] __attribute__((aligned(32))); /* column offsets, bit * 32 */
static pthread_once_t bitpos_once = PTHREAD_ONCE_INIT;
static void bitpos_init(void)
{
    if (__builtin_cpu_supports("avx2"))
        tr_init_avx2();
    for (int v = 0; v < 256; v++)
        for (int k = 0, i = 0; k < 8; k++)
            if (v >> k & 1)
                bitpos[v][i++] = (uint32_t)k * 32;
}

typedef void (*tile_sum_fn)(const uint8_t *t, const uint32_t *off, size_t len, int nl,
                            uint16_t *cnt);
#endif

struct xchg_dice_block {
    xchg_dice_many_fn many;
    const uint8_t *f;
    size_t m, n;
#ifdef DICE_X86
    tile_sum_fn sum;   /* NULL: filter by filter only */
    size_t xover;      /* a row's part of a tile this long or longer is scored bit-sliced */
    int nl;            /* counter levels */
    size_t tile_bytes; /* (8n + 1) * 32 */
    uint8_t *tiles;    /* ntiles * tile_bytes, 32-byte aligned; NULL: none this block */
    size_t tiles_cap;  /* bytes */
    uint8_t *built;    /* per tile: transposed yet */
    uint32_t *tpop;    /* per filter of the tiles: its popcount */
    size_t ntiles_cap; /* built and tpop */
    uint32_t *off;     /* a query's column offsets, padded to 16 */
    size_t off_cap;
    int usable;                                      /* this block is scored with tiles */
    size_t min_m;                                    /* blocks of fewer filters are not */
    uint16_t cnt[TILE] __attribute__((aligned(32))); /* one tile's counts, filter order */
#endif
};

xchg_dice_block *xchg_dice_block_new(xchg_dice_kernel k)
{
    xchg_dice_many_fn many = xchg_dice_kernel_fn(k);
    if (!many)
        return NULL;
    xchg_dice_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->many = many;
#ifdef DICE_X86
    pthread_once(&bitpos_once, bitpos_init);
    /* where bit-slicing pays (1024-bit filters, measured with bench/dice_bench --block):
     * a row's part of a tile of at least `xover` filters (a tile row costs about as much
     * as that many filter-by-filter comparisons, the query's column list included), in a
     * block of at least min_m filters (transposing a tile costs about 2,800 of them) */
    if (k == XCHG_DICE_AVX512 && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2")) {
        b->sum = tile_sum_avx512;
        b->xover = 160;
        b->min_m = 480;
    } else if (k == XCHG_DICE_AVX2 || k == XCHG_DICE_AVX512) {
        b->sum = tile_sum_avx2;
        b->xover = 128;
        b->min_m = 224;
    }
#endif
    return b;
}

void xchg_dice_block_free(xchg_dice_block *b)
{
    if (!b)
        return;
#ifdef DICE_X86
    free(b->tiles);
    free(b->built);
    free(b->tpop);
    free(b->off);
#endif
    free(b);
}

void xchg_dice_block_set(xchg_dice_block *b, const uint8_t *f, size_t m, size_t n)
{
    b->f = f;
    b->m = m;
    b->n = n;
#ifdef DICE_X86
    int usable = b->sum && tr_ok && m >= b->min_m && m > b->xover && n > 0 && n < 16384;
    if (usable) {
        int nl = 5; /* ones .. sixteens at least */
        while (nl < HS_MAXNL && ((size_t)1 << nl) <= 4 * n)
            nl++;
        b->nl = nl;
        b->tile_bytes = (8 * n + 1) * 32;
        size_t nt = (m + TILE - 1) / TILE;
        size_t need = nt * b->tile_bytes;
        if (need > b->tiles_cap) {
            free(b->tiles);
            b->tiles = aligned_alloc(32, need);
            b->tiles_cap = b->tiles ? need : 0;
        }
        if (nt > b->ntiles_cap) {
            uint8_t *nb = realloc(b->built, nt);
            if (nb)
                b->built = nb;
            uint32_t *np = realloc(b->tpop, nt * TILE * sizeof *np);
            if (np)
                b->tpop = np;
            if (nb && np)
                b->ntiles_cap = nt;
        }
        if (8 * n + 24 > b->off_cap) {
            uint32_t *no = realloc(b->off, (8 * n + 24) * sizeof *no);
            if (no) {
                b->off = no;
                b->off_cap = 8 * n + 24;
            }
        }
        usable = b->tiles && b->ntiles_cap >= nt && b->off_cap >= 8 * n + 24;
        if (usable)
            memset(b->built, 0, nt);
    }
    b->usable = usable;
#endif
}

#ifdef DICE_X86
/* transpose tile t of the block (on first use) */
__attribute__((target("avx2,popcnt"))) static void block_tile(xchg_dice_block *b, size_t t)
{
    size_t k = b->m - t * TILE < TILE ? b->m - t * TILE : TILE;
    const uint8_t *f = b->f + t * TILE * b->n;
    tile_build_avx2(f, k, b->n, b->tiles + t * b->tile_bytes);
    uint32_t *p = b->tpop + t * TILE;
    for (size_t j = 0; j < TILE; j++)
        p[j] = j < k ? and_pop_popcnt(f + j * b->n, f + j * b->n, b->n) : 0;
    b->built[t] = 1;
}

/* the column offsets of q's set bits, or of its clear bits when those are fewer (*comp
 * set), padded with the zero column to a multiple of 16; returns their number. Byte by
 * byte, branch-free: eight offsets are written for every byte and the count advances by
 * its popcount (off has room for 8n + 16). */
__attribute__((target("avx2,popcnt"))) static size_t block_query(xchg_dice_block *b,
                                                                 const uint8_t *q, int *comp)
{
    size_t n = b->n;
    unsigned pop = and_pop_popcnt(q, q, n);
    *comp = pop > 4 * n;
    const uint8_t flip = *comp ? 0xff : 0;
    uint32_t *off = b->off;
    size_t len = 0;
    const __m256i step = _mm256_set1_epi32(8 * 32);
    __m256i base = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i++) {
        uint8_t v = q[i] ^ flip;
        __m256i o = _mm256_add_epi32(base, _mm256_load_si256((const __m256i *)bitpos[v]));
        _mm256_storeu_si256((__m256i *)(off + len), o);
        len += (size_t)__builtin_popcount(v);
        base = _mm256_add_epi32(base, step);
    }
    while (len % 16)
        off[len++] = (uint32_t)(8 * n * 32);
    return len;
}
/* o[i] = c[i], or p[i] - c[i] when p (the count was of the query's clear bits); written
 * out, eight at a time, since -O2 does not vectorise it */
__attribute__((target("avx2"))) static void block_copy(uint32_t *o, const uint16_t *c,
                                                       const uint32_t *p, size_t k)
{
    size_t i = 0;
    if (p) {
        for (; i + 8 <= k; i += 8)
            _mm256_storeu_si256(
                (__m256i *)(o + i),
                _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(p + i)),
                                 _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + i)))));
        for (; i < k; i++)
            o[i] = p[i] - c[i];
    } else {
        for (; i + 8 <= k; i += 8)
            _mm256_storeu_si256((__m256i *)(o + i),
                                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
        for (; i < k; i++)
            o[i] = c[i];
    }
}
#endif

int xchg_dice_block_bitsliced(const xchg_dice_block *b)
{
#ifdef DICE_X86
    return b->usable;
#else
    (void)b;
    return 0;
#endif
}

void xchg_dice_block_row(xchg_dice_block *b, size_t x, uint32_t *out)
{
    const size_t m = b->m, n = b->n;
    const uint8_t *q = b->f + x * n;
#ifdef DICE_X86
    if (b->usable) {
        size_t len = 0;
        int comp = 0, prepped = 0;
        for (size_t y = x + 1; y < m;) {
            size_t t = y / TILE, end = (t + 1) * TILE < m ? (t + 1) * TILE : m;
            uint32_t *o = out + (y - x - 1);
            if (end - y < b->xover) {
                b->many(q, b->f + y * n, end - y, n, o);
            } else {
                if (!prepped) {
                    len = block_query(b, q, &comp);
                    prepped = 1;
                }
                if (!b->built[t])
                    block_tile(b, t);
                b->sum(b->tiles + t * b->tile_bytes, b->off, len, b->nl, b->cnt);
                size_t j0 = y - t * TILE, j1 = end - t * TILE;
                block_copy(o, b->cnt + j0, comp ? b->tpop + t * TILE + j0 : NULL, j1 - j0);
            }
            y = end;
        }
        return;
    }
#endif
    if (x + 1 < m)
        b->many(q, b->f + (x + 1) * n, m - x - 1, n, out);
}
