/* A small hash map of 16-byte digests (hmap.h). */
#include "hmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int hmap_grow(xchg__hmap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    xchg__hmap g = {calloc(nc, 16), calloc(nc, sizeof(uint32_t)), calloc(nc, 1), nc, 0};
    if (!g.keys || !g.vals || !g.used) {
        free(g.keys);
        free(g.vals);
        free(g.used);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i])
            continue;
        uint64_t h;
        memcpy(&h, m->keys[i], 8);
        size_t j = (size_t)h & (nc - 1);
        while (g.used[j])
            j = (j + 1) & (nc - 1);
        memcpy(g.keys[j], m->keys[i], 16);
        g.vals[j] = m->vals[i];
        g.used[j] = 1;
        g.n++;
    }
    free(m->keys);
    free(m->vals);
    free(m->used);
    *m = g;
    return 0;
}

long xchg__hmap_slot(xchg__hmap *m, const uint8_t key[16], int insert, int *found)
{
    if (insert && (m->n + 1) * 2 > m->cap && hmap_grow(m) != 0)
        return -1;
    if (!m->cap) {
        *found = 0;
        return -1;
    }
    uint64_t h;
    memcpy(&h, key, 8);
    size_t j = (size_t)h & (m->cap - 1);
    while (m->used[j]) {
        if (memcmp(m->keys[j], key, 16) == 0) {
            *found = 1;
            return (long)j;
        }
        j = (j + 1) & (m->cap - 1);
    }
    *found = 0;
    if (!insert)
        return -1;
    memcpy(m->keys[j], key, 16);
    m->used[j] = 1;
    m->n++;
    return (long)j;
}

void xchg__hmap_free(xchg__hmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
}

void xchg__digest16(const void *s, size_t n, uint8_t out[16])
{
    crypto_generichash(out, 16, s, n, NULL, 0);
}
