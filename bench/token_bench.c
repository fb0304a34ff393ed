/*
 * token_bench — the raw cost of the tokens sealing makes, as a baseline for
 * bench/seal-bench.sh: HMAC-SHA256 (libsodium, as xchg seal calls it: keyed init, update
 * with a ~30-byte message, final) per second on one core.
 *
 *   token_bench [N]     N tokens (default 5,000,000)
 */
#include <exchange.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    uint8_t key[32], out[32];
    char msg[40] = "\x0a\x00oneilsmith\x03\x00zoe\x0a\x00" "2012-07-03";
    randombytes_buf(key, sizeof key);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    unsigned acc = 0;
    for (long i = 0; i < n; i++) {
        msg[3] = (char)i;
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, sizeof key);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, 31);
        crypto_auth_hmacsha256_final(&st, out);
        acc += out[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("hmac-sha256 tokens: %ld in %.3f s = %.0f tokens/s (checksum %u)\n", n, s, n / s, acc);
    return 0;
}
