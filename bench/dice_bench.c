/*
 * dice_bench — the linkage engine's Dice kernel alone (libexchange/matcher/dice_kernel.c): one
 * filter against the rest of a contiguous block, as link.c's fuzzy worker runs it, on one
 * core (thread CPU time, so other processes sharing the core do not count). Each path is
 * timed REPEATS times over the whole triangle of FILTERS filters; the
 * median run is reported, and every path's checksum must equal the generic path's.
 *
 *   dice_bench [FILTERS] [REPEATS] [BYTES]   default 4000 filters (8 M pairs), 5, 128
 *   dice_bench --clks FILE.csv [REPEATS]     the CLKs of a clkhash CSV (rec_id,clk_base64,...),
 *                                            e.g. tests/kat/clkhash/clks_febrl1_blakeHash.csv
 *
 * Random filters have two thirds of their bits set, as FEBRL CLKs do (the kernels do the
 * same work whatever the bits; --clks runs on real ones).
 *
 * Prints one line per path this CPU runs, the last lines exactly
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

/* sum of every count of the whole triangle (untimed: the check that paths agree) */
static unsigned long long checksum(xchg_dice_many_fn fn, const uint8_t *f, size_t n, size_t cb,
                                   uint32_t *out)
{
    unsigned long long sum = 0;
    for (size_t x = 0; x + 1 < n; x++) {
        size_t rest = n - x - 1;
        fn(f + x * cb, f + (x + 1) * cb, rest, cb, out);
        for (size_t i = 0; i < rest; i++)
            sum += out[i] * (unsigned long long)(i + 1);
    }
    return sum;
}

/* median comparisons per second of `reps` timed runs of the kernel alone */
static double run(xchg_dice_many_fn fn, const uint8_t *f, size_t n, size_t cb, int reps,
                  uint32_t *out)
{
    double *rate = malloc((size_t)reps * sizeof *rate);
    if (!rate)
        return 0;
    volatile uint32_t sink = 0;
    for (int r = 0; r < reps; r++) {
        struct timespec a, b;
        unsigned long long cmp = 0;
        uint32_t keep = 0;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (size_t x = 0; x + 1 < n; x++) {
            size_t rest = n - x - 1;
            fn(f + x * cb, f + (x + 1) * cb, rest, cb, out);
            cmp += rest;
            keep += out[rest - 1];
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        sink = keep;
        double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        rate[r] = (double)cmp / s;
    }
    (void)sink;
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
    const char *clks = argc > 2 && strcmp(argv[1], "--clks") == 0 ? argv[2] : NULL;
    size_t n = clks ? 0 : argc > 1 ? (size_t)atol(argv[1]) : 4000;
    int reps = clks ? (argc > 3 ? atoi(argv[3]) : 5) : argc > 2 ? atoi(argv[2]) : 5;
    size_t cb = argc > 3 && !clks ? (size_t)atol(argv[3]) : 128;
    if ((!clks && n < 2) || reps < 1 || cb < 1) {
        fprintf(stderr, "usage: dice_bench [FILTERS>=2] [REPEATS>=1] [BYTES>=1]\n"
                        "       dice_bench --clks FILE.csv [REPEATS>=1]\n");
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
    printf("dice_bench: %zu %s filters of %zu bytes, %zu pairs per run, median of %d runs, "
           "best path here: %s\n",
           n, clks ? clks : "random", cb, n * (n - 1) / 2, reps,
           xchg_dice_kernel_name(xchg_dice_kernel_best()));
    unsigned long long ref = 0;
    int have_ref = 0, bad = 0;
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        if (only >= 0 && k != only && k != XCHG_DICE_GENERIC)
            continue;
        xchg_dice_many_fn fn = xchg_dice_kernel_fn((xchg_dice_kernel)k);
        if (!fn)
            continue;
        /* generic is the reference checksum; with a forced path it is not timed */
        unsigned long long check = checksum(fn, f, n, cb, out);
        double rate = (only < 0 || k == only) ? run(fn, f, n, cb, reps, out) : 0;
        if (!have_ref) {
            ref = check;
            have_ref = 1;
        } else if (check != ref) {
            fprintf(stderr, "dice_bench: %s checksum %llu differs from generic %llu\n",
                    xchg_dice_kernel_name((xchg_dice_kernel)k), check, ref);
            bad = 1;
        }
        if (only < 0 || k == only)
            printf("dice %s: %.1f M comparisons/s\n", xchg_dice_kernel_name((xchg_dice_kernel)k),
                   rate / 1e6);
    }
    free(f);
    free(out);
    return bad;
}
