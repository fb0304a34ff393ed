/*
 * Private: a small open-addressing hash map from 16-byte digests to uint32 values (also
 * used as a set). The digest's first 8 bytes are its hash, so keys must be uniform:
 * xchg__digest16 makes them from any bytes.
 */
#ifndef XCHG_HMAP_H
#define XCHG_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct xchg__hmap {
    uint8_t (*keys)[16];
    uint32_t *vals;
    uint8_t *used;
    size_t cap, n;
} xchg__hmap;

/* Find key, or insert it when `insert`; *found tells which. Returns the slot, or -1 when
 * not found without insert, or on no memory. Inserting may grow (and move) the map. */
long xchg__hmap_slot(xchg__hmap *m, const uint8_t key[16], int insert, int *found);
void xchg__hmap_free(xchg__hmap *m);

/* The 16-byte BLAKE2b digest of n bytes: a key for the map. */
void xchg__digest16(const void *s, size_t n, uint8_t out[16]);

#endif
