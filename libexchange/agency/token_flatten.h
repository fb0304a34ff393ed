/* Private: frequency flattening of exact tokens by keyed bucketing (docs/attacks.md,
 * "Hardening exact tokens"). Not wired into seal.c yet: the lead wires it in token.c's
 * caller for the token kinds the agreement names. */
#ifndef XCHG_TOKEN_FLATTEN_H
#define XCHG_TOKEN_FLATTEN_H

#include "exchange/record.h"

#include <stddef.h>

/*
 * Reduce the token t to a bucket of `bits` bits (1 .. 8 * XCHG_TOKEN_BYTES): its first
 * `bits` bits are kept (MSB first) and the rest are zeroed. A token is already a keyed
 * pseudo-random function of its plaintext, so its first bits are a keyed hash into 2^bits
 * buckets: every bucket mixes about V / 2^bits plaintext values (V distinct values), and a
 * frequency list can no longer be aligned with bucket counts. Equal plaintexts stay in one
 * bucket, so blocking loses no true pair; blocks grow by about N / 2^bits records.
 * Returns 0, or -1 (t unchanged) when bits is out of range.
 */
int xchg__token_bucket(xchg_token *t, unsigned bits);

/* The number of bucket bits for n expected records such that each bucket holds about
 * `per_bucket` records: ceil(log2(n / per_bucket)), at least 1. */
unsigned xchg__token_bucket_bits(size_t n, size_t per_bucket);

#endif
