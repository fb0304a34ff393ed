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

#endif
