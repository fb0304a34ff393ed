/*
 * dice_bench — the linkage engine's Dice kernel alone (libexchange/matcher/dice_kernel.c): the
 * whole triangle of a block of filters, each filter against the rest of its block, as the
 * fuzzy worker (link_fuzzy.c) scores a blocking group, on one core (thread CPU time, so other
 * processes sharing the core do not count). Each path is timed REPEATS times two ways: one
 * filter against the rest with the path's xchg_dice_many_fn ("<path> one against many"), and
 * row by row through an xchg_dice_block (what the engine runs: "dice <path>"; bit-sliced
 * tiles on avx2/avx512 for blocks big enough). The median run is reported, and every
 * checksum must equal the generic path's.
 *
 *   dice_bench [--block B] [FILTERS] [REPEATS] [BYTES]   default 4000 filters, 5, 128
 *   dice_bench [--block B] --clks FILE.csv [REPEATS]     the CLKs of a clkhash CSV
 *                                            (rec_id,clk_base64,...), e.g.
 *                                            tests/kat/clkhash/clks_febrl1_blakeHash.csv
 *
 * --block B splits the filters into consecutive blocks of B (default: one block of all).
 * Random filters have two thirds of their bits set, as FEBRL CLKs do (the kernels do the
 * same work whatever the bits; --clks runs on real ones).
 *
 * Prints one line per path this CPU runs and way, the last line of each path exactly
 *   dice <path>: N M comparisons/s
 * With XCHG_DICE_KERNEL=<path> only that path is timed (an unsupported or unknown one is
 * an error, exit 2), so a forced path can be measured alone.
 */
#include "dice_kernel.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static volatile unsigned long long sink;

/* the filters are scored in consecutive blocks of `blk` filters (the last one shorter), the
 * whole triangle of each, as the fuzzy worker scores a blocking group: row by row through
 * an xchg_dice_block (b) or, when b is NULL, one filter against the rest of its block with
 * fn. Returns the comparisons; *sum is a checksum of every count. */
static unsigned long long triangle(xchg_dice_block *b, xchg_dice_many_fn fn, const uint8_t *f,
                                   size_t n, size_t cb, size_t blk, uint32_t *out,
                                   unsigned long long *sum)
{
    unsigned long long cmp = 0, s = 0;
    for (size_t b0 = 0; b0 < n; b0 += blk) {
        size_t m = n - b0 < blk ? n - b0 : blk;
        const uint8_t *g = f + b0 * cb;
        if (b)
            xchg_dice_block_set(b, g, m, cb);
        for (size_t x = 0; x + 1 < m; x++) {
            size_t rest = m - x - 1;
            if (b)
                xchg_dice_block_row(b, x, out);
            else
                fn(g + x * cb, g + (x + 1) * cb, rest, cb, out);
            cmp += rest;
            if (sum)
                for (size_t i = 0; i < rest; i++)
                    s += out[i] * (unsigned long long)(i + 1);
            else
                s += out[rest - 1];
        }
    }
    if (sum)
        *sum = s;
    sink = s;
    return cmp;
}

/* median comparisons per second of `reps` timed runs of the kernel alone */
static double run(xchg_dice_block *b, xchg_dice_many_fn fn, const uint8_t *f, size_t n, size_t cb,
                  size_t blk, int reps, uint32_t *out)
{
    double *rate = malloc((size_t)reps * sizeof *rate);
    if (!rate)
        return 0;
    for (int r = 0; r < reps; r++) {
        struct timespec a, e;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        unsigned long long cmp = triangle(b, fn, f, n, cb, blk, out, NULL);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &e);
        double s = (double)(e.tv_sec - a.tv_sec) + (double)(e.tv_nsec - a.tv_nsec) / 1e9;
        rate[r] = (double)cmp / s;
    }
    qsort(rate, (size_t)reps, sizeof *rate, cmp_double);
    double med = rate[reps / 2];
    free(rate);
    return med;
}

/* the clk_base64 column of a clkhash CSV: *n filters of *cb bytes (all the same length) */
static uint8_t *load_clks(const char *path, size_t *n, size_t *cb)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return NULL;
    }
    char line[4096];
    uint8_t *f = NULL, tmp[1024];
    size_t cap = 0;
    *n = *cb = 0;
    int first = 1;
    while (fgets(line, sizeof line, fp)) {
        char *a = strchr(line, ','), *b = a ? strchr(a + 1, ',') : NULL;
        if (!a)
            continue;
        if (!b)
            b = a + 1 + strcspn(a + 1, "\r\n");
        size_t len = 0;
        if (sodium_base642bin(tmp, sizeof tmp, a + 1, (size_t)(b - a - 1), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len == 0) {
            if (first) { /* the header */
                first = 0;
                continue;
            }
            fprintf(stderr, "%s: a clk_base64 value that is not base64\n", path);
            free(f);
            fclose(fp);
            return NULL;
        }
        first = 0;
        if (*cb && len != *cb) {
            fprintf(stderr, "%s: CLKs of different lengths (%zu, %zu bytes)\n", path, *cb, len);
            free(f);
            fclose(fp);
            return NULL;
        }
        *cb = len;
        if ((*n + 1) * len > cap) {
            cap = cap ? cap * 2 : 1024 * len;
            uint8_t *nf = realloc(f, cap);
            if (!nf) {
                free(f);
                fclose(fp);
                return NULL;
            }
            f = nf;
        }
        memcpy(f + *n * len, tmp, len);
        (*n)++;
    }
    fclose(fp);
    return f;
}

int main(int argc, char **argv)
{
    size_t blk = 0; /* 0: all the filters are one block */
    if (argc > 2 && strcmp(argv[1], "--block") == 0) {
        blk = (size_t)atol(argv[2]);
        if (blk < 2) {
            fprintf(stderr, "dice_bench: --block needs at least 2\n");
            return 2;
        }
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    const char *clks = argc > 2 && strcmp(argv[1], "--clks") == 0 ? argv[2] : NULL;
    size_t n = clks ? 0 : argc > 1 ? (size_t)atol(argv[1]) : 4000;
    int reps = clks ? (argc > 3 ? atoi(argv[3]) : 5) : argc > 2 ? atoi(argv[2]) : 5;
    size_t cb = argc > 3 && !clks ? (size_t)atol(argv[3]) : 128;
    if ((!clks && n < 2) || reps < 1 || cb < 1) {
        fprintf(stderr, "usage: dice_bench [--block B] [FILTERS>=2] [REPEATS>=1] [BYTES>=1]\n"
                        "       dice_bench [--block B] --clks FILE.csv [REPEATS>=1]\n");
        return 2;
    }
    int only = -1;
    const char *force = getenv("XCHG_DICE_KERNEL");
    if (force && *force) {
        xchg_dice_kernel k;
        if (xchg_dice_kernel_parse(force, &k)) {
            fprintf(stderr,
                    "dice_bench: XCHG_DICE_KERNEL=%s is not a path "
                    "(generic, popcnt, avx2, avx512)\n",
                    force);
            return 2;
        }
        if (!xchg_dice_kernel_supported(k)) {
            fprintf(stderr, "dice_bench: XCHG_DICE_KERNEL=%s: this CPU or build cannot run it\n",
                    force);
            return 2;
        }
        only = (int)k;
    }
    uint8_t *f = clks ? load_clks(clks, &n, &cb) : malloc(n * cb);
    if (clks && (!f || n < 2)) {
        fprintf(stderr, "dice_bench: %s: need at least two CLKs\n", clks);
        return 2;
    }
    if (!blk || blk > n)
        blk = n;
    uint32_t *out = malloc(n * sizeof *out);
    if (!f || !out)
        return 1;
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; !clks && i < n * cb; i++) {
        uint8_t b = 0;
        for (int bit = 0; bit < 8; bit++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            b |= (uint8_t)((s % 3 != 0) << bit);
        }
        f[i] = b;
    }
    size_t pairs = 0;
    for (size_t b0 = 0; b0 < n; b0 += blk) {
        size_t m = n - b0 < blk ? n - b0 : blk;
        pairs += m * (m - 1) / 2;
    }
    printf("dice_bench: %zu %s filters of %zu bytes in blocks of %zu, %zu pairs per run, median "
           "of %d runs, best path here: %s\n",
           n, clks ? clks : "random", cb, blk, pairs, reps,
           xchg_dice_kernel_name(xchg_dice_kernel_best()));
    unsigned long long ref = 0;
    int bad = 0;
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        if (only >= 0 && k != only && k != XCHG_DICE_GENERIC)
            continue;
        xchg_dice_many_fn fn = xchg_dice_kernel_fn((xchg_dice_kernel)k);
        xchg_dice_block *b = xchg_dice_block_new((xchg_dice_kernel)k);
        if (!fn || !b) {
            xchg_dice_block_free(b);
            continue;
        }
        /* generic one-against-many is the reference checksum (untimed when a path is
         * forced); the block rows of every path must give it too */
        unsigned long long c_many = 0, c_block = 0;
        triangle(NULL, fn, f, n, cb, blk, out, &c_many);
        triangle(b, fn, f, n, cb, blk, out, &c_block);
        if (k == XCHG_DICE_GENERIC)
            ref = c_many;
        if (c_many != ref || c_block != ref) {
            fprintf(stderr,
                    "dice_bench: %s checksums %llu (one against many), %llu (block) "
                    "differ from generic %llu\n",
                    xchg_dice_kernel_name((xchg_dice_kernel)k), c_many, c_block, ref);
            bad = 1;
        }
        if (only < 0 || k == only) {
            double r_many = run(NULL, fn, f, n, cb, blk, reps, out);
            double r_block = run(b, fn, f, n, cb, blk, reps, out);
            printf("%s one against many: %.1f M comparisons/s\n",
                   xchg_dice_kernel_name((xchg_dice_kernel)k), r_many / 1e6);
            printf("dice %s: %.1f M comparisons/s\n", xchg_dice_kernel_name((xchg_dice_kernel)k),
                   r_block / 1e6);
        }
        xchg_dice_block_free(b);
    }
    free(f);
    free(out);
    return bad;
}
