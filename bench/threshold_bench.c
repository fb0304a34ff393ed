/*
 * threshold_bench — the cost of the release key (docs/release.md section 4) on one core:
 * wrapping a payload at seal (per record), an operator's partial decryption with its
 * proof (per releasable record of an approved family), verifying one (matcher at packet
 * and recipient at open, per contribution), and combining t = 2 and unwrapping (recipient,
 * per released record).
 *
 *   threshold_bench [N]     N operations of each kind (default 20,000)
 *
 * Last lines: `release-key <op>: <N> in <S> s (<us> us each)`.
 */
#include <exchange.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void report(const char *op, long n, double s)
{
    printf("release-key %s: %ld in %.2f s (%.1f us each)\n", op, n, s, s / (double)n * 1e6);
}

int main(int argc, char **argv)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    long n = argc > 1 ? atol(argv[1]) : 20000;
    if (n < 1)
        return 2;
    uint8_t commit[64], shares[64], verify[64], ctx[32], pt[300], R[32], D[64], proof[64], sR[32];
    if (xchg_threshold_deal(2, 2, commit, shares, verify) != XCHG_OK)
        return 1;
    randombytes_buf(ctx, sizeof ctx);
    randombytes_buf(pt, sizeof pt); /* a typical payload ciphertext: ~300 bytes */
    uint8_t *w = malloc(n * (sizeof pt + XCHG_TH_WRAP_OVERHEAD));
    if (!w)
        return 1;
    size_t wl = sizeof pt + XCHG_TH_WRAP_OVERHEAD;
    double t0 = now();
    for (long i = 0; i < n; i++)
        if (xchg_threshold_wrap(commit, ctx, pt, sizeof pt, w + (size_t)i * wl) != XCHG_OK)
            return 1;
    report("wrap (seal, per record)", n, now() - t0);
    if (xchg_threshold_wrapped_R(w, wl, R) != XCHG_OK)
        return 1;
    t0 = now();
    for (long i = 0; i < n; i++)
        if (xchg_threshold_partial(shares, 1, R, ctx, D, proof) != XCHG_OK)
            return 1;
    report("partial + proof (approve, per record)", n, now() - t0);
    t0 = now();
    for (long i = 0; i < n; i++)
        if (xchg_threshold_verify_partial(verify, 1, R, ctx, D, proof) != XCHG_OK)
            return 1;
    report("verify (packet and open, per contribution)", n, now() - t0);
    if (xchg_threshold_partial(shares + 32, 2, R, ctx, D + 32, proof) != XCHG_OK)
        return 1;
    unsigned idx[2] = {1, 2};
    uint8_t out[sizeof pt];
    t0 = now();
    for (long i = 0; i < n; i++)
        if (xchg_threshold_combine(2, idx, D, sR) != XCHG_OK ||
            xchg_threshold_unwrap(sR, ctx, w, wl, out) != XCHG_OK)
            return 1;
    report("combine t=2 + unwrap (open, per record)", n, now() - t0);
    sodium_memzero(shares, sizeof shares);
    free(w);
    return 0;
}
