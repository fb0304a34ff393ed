/* xchg-synth — splitmix64-seeded xoshiro256** with integer-only sampling. */
#include "synth.h"

#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_init(synth_rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
    /* Mix the coordinates through splitmix64 separately so (a, b) and (b, a) differ. */
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ a;
    h = splitmix64(&x);
    x = h ^ (b * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1; /* the all-zero state is a fixed point */
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(synth_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t rng_below(synth_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t v;
    do {
        v = rng_next(r);
    } while (v >= limit);
    return (uint32_t)(v % n);
}

int32_t rng_range(synth_rng *r, int32_t lo, int32_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int32_t)rng_below(r, (uint32_t)(hi - lo) + 1u);
}

bool rng_chance(synth_rng *r, uint32_t ppm)
{
    if (ppm == 0)
        return false;
    if (ppm >= SYNTH_PPM)
        return true;
    return rng_below(r, SYNTH_PPM) < ppm;
}

size_t rng_weighted(synth_rng *r, const uint32_t *w, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    if (total == 0)
        return 0;
    uint64_t x = rng_next(r) % total; /* total << 2^64: bias is negligible and fixed */
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

void str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
