/*
 * Private: the sealing stage that decides token bytes (docs/formats.md, "Tokens"). Match,
 * blocking, household, relationship, household-fallback and person-id tokens are
 * HMAC-SHA256 under subkeys derived (HKDF) from the linkage secret, over a row's
 * canonical field values.
 */
#ifndef XCHG_TOKEN_H
#define XCHG_TOKEN_H

#include "exchange/common.h"
#include "exchange/policy.h"
#include "exchange/record.h"
#include "exchange/secret.h"
#include "seal_internal.h"

#define XCHG__TOKEN_KEY_BYTES 32

/* The token subkeys of one agency's extract, in one sodium_malloc'd block. */
typedef struct xchg__token_keys {
    uint8_t (*match)[XCHG__TOKEN_KEY_BYTES]; /* per match key (the block's start) */
    uint8_t (*block)[XCHG__TOKEN_KEY_BYTES]; /* per fuzzy blocking key */
    uint8_t (*house)[XCHG__TOKEN_KEY_BYTES]; /* per household key */
    uint8_t (*rel)[XCHG__TOKEN_KEY_BYTES];   /* per declared relationship, per agency */
    uint8_t (*fb)[XCHG__TOKEN_KEY_BYTES];    /* per household fallback key */
    uint8_t (*pid)[XCHG__TOKEN_KEY_BYTES];   /* the agency's own person identifier */
} xchg__token_keys;

/* Derive every subkey for agency `agency` (extract x). Free with xchg__token_keys_free,
 * also after an error. */
xchg_err xchg__token_keys_derive(xchg__token_keys *k, const xchg_policy_data *p,
                                 const xchg_extract *x, size_t agency, const xchg_secret *sec);
void xchg__token_keys_free(xchg__token_keys *k);

/* Add to r every token the row's values (vals, one per field) can form: r's match, block
 * and house lists (counts from zero on a fresh record). */
void xchg__tokens_make(const xchg__token_keys *k, const xchg_policy_data *p,
                       const xchg_extract *x, const xchg__val *vals, xchg_record *r);

#endif
