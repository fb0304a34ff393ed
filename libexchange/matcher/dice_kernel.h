/*
 * The linkage engine's Dice kernel (private to libexchange; used by link.c, its unit test
 * and bench/dice_bench.c): one query filter ANDed and popcounted against m contiguous
 * filters of n bytes each, out[i] = popcount(q & f[i*n .. i*n+n)).
 *
 * Every path gives the same counts for every n (n need not be a multiple of 32 or 64;
 * the vector paths finish a filter's tail bytes with scalar code) and accepts any
 * alignment. Paths:
 *
 *   generic  portable C, 64-bit words (no CPU requirement)
 *   popcnt   the POPCNT instruction, four words at a time (x86-64 with POPCNT)
 *   avx2     nibble-LUT VPSHUFB popcount (Mula) with the complementary-table VPSADBW sum
 *            and one horizontal reduction per four filters (x86-64 with AVX2)
 *   avx512   VPOPCNTDQ on 512-bit words (AVX-512F + AVX512_VPOPCNTDQ)
 *
 * Choice: the fastest path this CPU runs (avx512 > avx2 > popcnt > generic), unless the
 * environment variable XCHG_DICE_KERNEL names one (generic|popcnt|avx2|avx512). It is read
 * once per process. A forced path this CPU or this build cannot run, or an unknown name,
 * is not used: the best supported path is, and one note saying so goes to stderr (the
 * linkage result is the same whichever path runs; only its speed differs).
 */
#ifndef XCHG_DICE_KERNEL_H
#define XCHG_DICE_KERNEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    XCHG_DICE_GENERIC = 0,
    XCHG_DICE_POPCNT,
    XCHG_DICE_AVX2,
    XCHG_DICE_AVX512,
    XCHG_DICE_NKERNELS
} xchg_dice_kernel;

/* out[i] = popcount(q & f[i]) for the m filters of n bytes at f */
typedef void (*xchg_dice_many_fn)(const uint8_t *q, const uint8_t *f, size_t m, size_t n,
                                  uint32_t *out);

/* "generic", "popcnt", "avx2", "avx512"; NULL for a value out of range */
const char *xchg_dice_kernel_name(xchg_dice_kernel k);

/* name -> kernel; 0 on success, -1 for an unknown name */
int xchg_dice_kernel_parse(const char *name, xchg_dice_kernel *out);

/* built into this library and runnable on this CPU */
int xchg_dice_kernel_supported(xchg_dice_kernel k);

/* the path's function, or NULL when it is not supported */
xchg_dice_many_fn xchg_dice_kernel_fn(xchg_dice_kernel k);

/* the fastest supported path */
xchg_dice_kernel xchg_dice_kernel_best(void);

/* the path the engine uses: XCHG_DICE_KERNEL when it names a supported path, else the
 * best (read once; a refused XCHG_DICE_KERNEL is reported once on stderr) */
xchg_dice_kernel xchg_dice_kernel_selected(void);

/* the engine's function for filters of n bytes (every path handles every n) */
xchg_dice_many_fn xchg_dice_kernel_pick(size_t n);

/*
 * A block: all pairs of m contiguous filters of n bytes, the triangle the fuzzy worker
 * scores. Row x is out[r] = popcount(f[x] & f[x+1+r]) for r < m-x-1: the same counts as
 * the path's xchg_dice_many_fn(f[x], f[x+1], m-x-1, n, out), on every path.
 *
 * On the avx2 and avx512 paths a block of many filters is scored bit-sliced: its filters
 * are transposed, 256 at a time, into tiles of 8n columns of 256 bits (column i holds bit i
 * of each of the 256 filters), built on first use; a row adds up, with Harley-Seal
 * carry-save adders, the columns at the query's set bits (or at its clear bits, then
 * subtracts from the filters' popcounts, whichever are fewer), one 256-lane vertical
 * counter per tile, and turns the counters into counts once per tile. The end of a row
 * whose part of a tile is short is done filter by filter (the path's many()).
 *
 * One block object is reused for any number of blocks (one thread at a time); set() keeps
 * f, which must stay unchanged and alive while rows are asked for.
 */
typedef struct xchg_dice_block xchg_dice_block;

/* a block scorer on path k; NULL when k is not supported or memory runs out */
xchg_dice_block *xchg_dice_block_new(xchg_dice_kernel k);

/* score the m filters of n bytes at f from now on (never fails: without memory for the
 * tiles, rows are scored filter by filter) */
void xchg_dice_block_set(xchg_dice_block *b, const uint8_t *f, size_t m, size_t n);

/* out[r] = popcount(f[x] & f[x+1+r]) for r < m-x-1 (x < m) */
void xchg_dice_block_row(xchg_dice_block *b, size_t x, uint32_t *out);

/* 1 when the current block's rows use bit-sliced tiles (for tests and benchmarks) */
int xchg_dice_block_bitsliced(const xchg_dice_block *b);

void xchg_dice_block_free(xchg_dice_block *b);

#endif
