/*
 * Private: the sealing stage that decides token bytes (docs/formats.md, "Tokens"). Match,
 * blocking, household, relationship, household-fallback and person-id tokens are
 * HMAC-SHA256 under subkeys derived (HKDF) from the linkage secret, over a row's
 * canonical field values. In OPRF mode a match token is the HMAC, under its own subkey,
 * of the key service's OPRF output for the key's input (docs/keyd.md).
 */
#ifndef XCHG_TOKEN_H
#define XCHG_TOKEN_H

#include "exchange/common.h"
#include "exchange/oprf.h"
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
    /* OPRF mode (tokens.mode: oprf): the evaluated outputs of every match-key input, set
     * by the caller after derive (borrowed); NULL in secret mode */
    const xchg_oprf_client *oprf;
    const char *agreement_id;
} xchg__token_keys;

/* Derive every subkey for agency `agency` (extract x). Free with xchg__token_keys_free,
 * also after an error. */
xchg_err xchg__token_keys_derive(xchg__token_keys *k, const xchg_policy_data *p,
                                 const xchg_extract *x, size_t agency, const xchg_secret *sec);
void xchg__token_keys_free(xchg__token_keys *k);

/* OPRF mode: queue the OPRF input of every match key this row can form (the row's
 * values as in xchg__tokens_make). XCHG_ERR_NOMEM. */
xchg_err xchg__tokens_oprf_collect(const xchg__token_keys *k, const xchg_policy_data *p,
                                   const xchg__val *vals, xchg_oprf_client *c);

/* Add to r every token the row's values (vals, one per field) can form: r's match, block
 * and house lists (counts from zero on a fresh record). */
void xchg__tokens_make(const xchg__token_keys *k, const xchg_policy_data *p,
                       const xchg_extract *x, const xchg__val *vals, xchg_record *r);

#endif
