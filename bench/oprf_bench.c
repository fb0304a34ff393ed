/*
 * oprf_bench — where the time of an OPRF evaluation goes (docs/keyd.md "Cost"):
 *
 *   oprf_bench [N]     N evaluations (default 40,000), batches of 4,096
 *
 * 1. libsodium 1.0.18's ristretto255 operations one by one (µs per call on one core);
 * 2. with libdecaf (Debian libdecaf-dev, when the build found it: XCHG_BENCH_DECAF) the
 *    same operations on points kept decoded, to judge whether adopting it would pay;
 * 3. the client end to end against an in-process service (xchg_oprf_serve called from the
 *    transport, as xchg-keyd on the same machine would): µs per evaluation of wall time
 *    with 1 thread and with the online CPUs, the service's share, and the process CPU.
 */
#include <exchange.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef XCHG_BENCH_DECAF
#include <decaf.h>
#endif

#define M 2000

static double now(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
#define WALL() now(CLOCK_MONOTONIC)

static uint8_t h[M][64], s[M][32], p[M][32], q[M][32];

static void ops(void)
{
    for (int i = 0; i < M; i++) {
        randombytes_buf(h[i], 64);
        crypto_core_ristretto255_scalar_random(s[i]);
    }
    double t;
    unsigned bad = 0;
#define TIME(label, stmt)                                                                          \
    t = WALL();                                                                                    \
    for (int i = 1; i < M; i++)                                                                    \
        stmt;                                                                                      \
    printf("  %-44s %8.2f us\n", label, (WALL() - t) / (M - 1) * 1e6)
    puts("libsodium (public API: every call decodes and encodes its points)");
    crypto_core_ristretto255_from_hash(p[0], h[0]);
    TIME("from_hash (one-way map of 64 bytes)",
         bad += (unsigned)crypto_core_ristretto255_from_hash(p[i], h[i]));
    TIME("scalarmult (variable base)",
         bad += (unsigned)crypto_scalarmult_ristretto255(q[i], s[i], p[i]));
    TIME("scalarmult_base", bad += (unsigned)crypto_scalarmult_ristretto255_base(q[i], s[i]));
    TIME("add", bad += (unsigned)crypto_core_ristretto255_add(q[i], p[i - 1], p[i]));
    TIME("is_valid_point", bad += (unsigned)!crypto_core_ristretto255_is_valid_point(p[i]));
    uint8_t inv[32];
    TIME("scalar_invert", bad += (unsigned)crypto_core_ristretto255_scalar_invert(inv, s[i]));
    TIME("scalar_mul", crypto_core_ristretto255_scalar_mul(inv, s[i], s[i - 1]));
#ifdef XCHG_BENCH_DECAF
    puts("libdecaf (decaf_255 = ristretto255; points stay decoded between calls)");
    static decaf_255_point_t P[M], Q[M];
    static decaf_255_scalar_t S[M];
    uint8_t e[32];
    for (int i = 0; i < M; i++)
        bad += decaf_255_scalar_decode(S[i], s[i]) != DECAF_SUCCESS;
    decaf_255_point_from_hash_uniform(P[0], h[0]);
    TIME("point_from_hash_uniform", decaf_255_point_from_hash_uniform(P[i], h[i]));
    TIME("point_scalarmul (variable base)", decaf_255_point_scalarmul(Q[i], P[i], S[i]));
    TIME("precomputed_scalarmul (base table)",
         decaf_255_precomputed_scalarmul(Q[i], decaf_255_precomputed_base, S[i]));
    TIME("point_double_scalarmul (a·X + b·Y)",
         decaf_255_point_double_scalarmul(Q[i], P[i], S[i], P[i - 1], S[i - 1]));
    TIME("point_add", decaf_255_point_add(Q[i], P[i], P[i - 1]));
    TIME("point_encode", decaf_255_point_encode(e, P[i]));
    TIME("point_decode", bad += decaf_255_point_decode(Q[i], p[i], DECAF_FALSE) != DECAF_SUCCESS);
    decaf_255_scalar_t I;
    TIME("scalar_invert", bad += decaf_255_scalar_invert(I, S[i]) != DECAF_SUCCESS);
    /* the same answers as libsodium (the cross-check a switch would need, in small) */
    for (int i = 0; i < M; i++) {
        decaf_255_point_from_hash_uniform(P[i], h[i]);
        decaf_255_point_encode(e, P[i]);
        bad += memcmp(e, p[i], 32) != 0;
        decaf_255_point_scalarmul(Q[i], P[i], S[i]);
        decaf_255_point_encode(e, Q[i]);
        bad += (unsigned)crypto_scalarmult_ristretto255(q[i], s[i], p[i]);
        bad += memcmp(e, q[i], 32) != 0;
    }
    decaf_255_scalar_destroy(I);
#endif
    if (bad)
        printf("  (%u failures or mismatches)\n", bad);
}

struct svc {
    uint8_t sk[32];
    double secs;
};

static xchg_err transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                          size_t *resp_len, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    struct svc *v = ctx;
    double t = WALL();
    xchg_err e = xchg_oprf_serve(v->sk, req, len, resp, resp_len);
    v->secs += WALL() - t;
    return e;
}

static int client(size_t n, unsigned threads)
{
    struct svc v = {{0}, 0};
    uint8_t pk[32];
    if (xchg_oprf_keygen(v.sk, pk) != XCHG_OK)
        return 1;
    xchg_oprf_client *c = xchg_oprf_client_new(pk, transport, &v, 0);
    if (!c)
        return 1;
    xchg_oprf_client_threads(c, threads);
    char in[64];
    for (size_t i = 0; i < n; i++) {
        int l = snprintf(in, sizeof in, "xchg-token v1|bench|name_dob|person %zu|1980-01-01", i);
        if (xchg_oprf_client_add(c, (const uint8_t *)in, (size_t)l) != XCHG_OK)
            return 1;
    }
    double w = WALL(), cpu = now(CLOCK_PROCESS_CPUTIME_ID);
    xchg_err e = xchg_oprf_client_run(c, NULL);
    w = WALL() - w;
    cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    xchg_oprf_client_free(c);
    if (e != XCHG_OK)
        return 1;
    printf("  threads %-2u  %8.1f us wall per evaluation  (service %6.1f us, agency CPU %6.1f us, "
           "process CPU %6.1f us)\n",
           threads, w / (double)n * 1e6, v.secs / (double)n * 1e6, (cpu - v.secs) / (double)n * 1e6,
           cpu / (double)n * 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 40000;
    ops();
    printf("the client end to end, %zu evaluations, batches of %d, in-process service\n", n,
           XCHG_OPRF_MAX_BATCH);
    return client(n, 1) || client(n, 0);
}
