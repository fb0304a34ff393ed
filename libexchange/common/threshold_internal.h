/* Deterministic forms of the release-key operations, for known-answer tests only
 * (tests/kat/threshold): the caller supplies the ephemeral scalar r or the proof nonce k.
 * The library itself always draws them at random (threshold.c). */
#ifndef XCHG_THRESHOLD_INTERNAL_H
#define XCHG_THRESHOLD_INTERNAL_H

#include "exchange/threshold.h"

xchg_err xchg__threshold_wrap_r(const uint8_t r[32], const uint8_t pub[32], const uint8_t ctx[32],
                                const uint8_t *pt, size_t len, uint8_t *out);
xchg_err xchg__threshold_partial_k(const uint8_t k[32], const uint8_t share[32], unsigned index,
                                   const uint8_t R[32], const uint8_t ctx[32], uint8_t D[32],
                                   uint8_t proof[64]);

#endif
