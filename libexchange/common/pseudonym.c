/* The pseudonym text every module shows (internal.h). */
#include "internal.h"

#include <string.h>

void xchg__pseudonym_format(const uint8_t mac[8], char prefix, char out[XCHG_PSEUDONYM_MAX + 1])
{
    /* Crockford-like base32 without I, O, 0, 1: easy to read out and type */
    static const char b32[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint64_t v;
    memcpy(&v, mac, 8);
    out[0] = prefix;
    out[1] = '-';
    int o = 2;
    for (int i = 0; i < 12; i++) {
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = b32[v & 31];
        v >>= 5;
    }
    out[o] = '\0';
}
