/*
 * dice_bench — the linkage engine's Dice kernel alone: one 1024-bit filter against a
 * contiguous block of others, as libexchange/link.c runs it (the kernels are static
 * there, so this program includes that file). Prints comparisons per second on one core
 * for each kernel this CPU can run.
 *
 *   dice_bench [FILTERS] [REPEATS]      default 4000 filters (8 M pairs), 5 repeats
 */
#include "../libexchange/link.c"

#include <stdio.h>

static void run(const char *name, and_pop_many_fn m, const uint8_t *f, size_t n, size_t cb,
                int reps, uint32_t *out)
{
    struct timespec a, b;
    unsigned long long sum = 0, cmp = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int r = 0; r < reps; r++)
        for (size_t x = 0; x + 1 < n; x++) {
            m(f + x * cb, f + (x + 1) * cb, n - x - 1, cb, out);
            cmp += n - x - 1;
            sum += out[0];
        }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%-8s %6.1f M comparisons/s on one core (%llu pairs, check %llu)\n", name,
           (double)cmp / s / 1e6, cmp, sum);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 4000, cb = 128;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    uint8_t *f = malloc(n * cb);
    uint32_t *out = malloc(n * sizeof *out);
    if (!f || !out)
        return 1;
    for (size_t i = 0; i < n * cb; i++)
        f[i] = (uint8_t)(rand() >> 7);
    run("best", pick_and_pop_many(cb), f, n, cb, reps, out);
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("popcnt"))
        run("popcnt", many_popcnt, f, n, cb, reps, out);
#endif
    run("generic", many_generic, f, n, cb, reps, out);
    free(f);
    free(out);
    return 0;
}
