/* Frequency flattening of exact tokens by keyed bucketing (token_flatten.h). */
#include "token_flatten.h"

#include <string.h>

int xchg__token_bucket(xchg_token *t, unsigned bits)
{
    if (!t || bits < 1 || bits > 8u * XCHG_TOKEN_BYTES)
        return -1;
    size_t full = bits / 8, rem = bits % 8;
    if (rem) {
        t->value[full] &= (uint8_t)(0xffu << (8 - rem));
        full++;
    }
    memset(t->value + full, 0, XCHG_TOKEN_BYTES - full);
    return 0;
}

unsigned xchg__token_bucket_bits(size_t n, size_t per_bucket)
{
    if (per_bucket == 0)
        per_bucket = 1;
    unsigned b = 1;
    while (b < 63 && ((size_t)1 << b) * per_bucket < n)
        b++;
    return b;
}
