/*
 * exchange — the linkage secret.
 *
 * One 256-bit secret per agreement and epoch, made by the agreement's owner and sealed
 * to the box key of every agency party (never to the matcher, so the matcher cannot
 * compute a token for a guessed identifier). Every token an agency makes is keyed with
 * a subkey derived from it. Rotating the secret means a new epoch. File format:
 * docs/formats.md ("Linkage secret").
 */
#ifndef XCHG_SECRET_H
#define XCHG_SECRET_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_SECRET_BYTES 32

typedef struct xchg_secret xchg_secret;

/*
 * Create a new secret for epoch (>= 1) of the verified agreement agr, sealed to each of its
 * agencies and signed by owner, which must hold the key of the agreement's owner party
 * (XCHG_ERR_DENIED otherwise). Written atomically to path (refused if it exists unless
 * force). The secret itself never leaves this function unsealed.
 */
XCHG_API xchg_err xchg_secret_create(const xchg_agreement *agr, const xchg_seckey *owner,
                                     uint32_t epoch, int64_t now, const char *path, int force,
                                     xchg_diag *d);

/*
 * Open a secret file with an agency's key: checks that it belongs to p's agreement, that
 * the agreement owner signed it, and that k is among its recipients, then unseals and
 * checks the secret. *out (free with xchg_secret_free) only on success.
 * Errors: XCHG_ERR_FORMAT/TRUNCATED (damaged), XCHG_ERR_VERIFY (bad signature or
 * check value), XCHG_ERR_DENIED (another agreement, or k is not a recipient).
 */
XCHG_API xchg_err xchg_secret_open(const xchg_agreement *agr, const xchg_seckey *k,
                                   const char *path, xchg_secret **out,
                                   xchg_diag *d) XCHG_MUST_CHECK;

/*
 * A secret from known bytes, for published test vectors and interoperability checks
 * only (docs/formats.md, "Tokens"): real secrets come from xchg_secret_create.
 */
XCHG_API xchg_err xchg_secret_from_bytes(const char *agreement_id, uint32_t epoch,
                                         const uint8_t key[XCHG_SECRET_BYTES], xchg_secret **out);

XCHG_API void xchg_secret_free(xchg_secret *s);
XCHG_API uint32_t xchg_secret_epoch(const xchg_secret *s);
XCHG_API int64_t xchg_secret_created(const xchg_secret *s);
/* Number of agencies the file is sealed to. */
XCHG_API size_t xchg_secret_recipients(const xchg_secret *s);

/*
 * A public fingerprint of the secret (hex of a 128-bit BLAKE2b check value) so agencies
 * can confirm they hold the same secret without revealing it.
 */
XCHG_API void xchg_secret_fingerprint(const xchg_secret *s, char out[33]);

/*
 * Derive a subkey for one use: HKDF-SHA256 with the secret as input key material, salt
 * "exchange linkage v1/" + agreement id, and info = purpose || 0x00 || epoch (u32 big
 * endian). Distinct purposes (e.g. "match-key/nhs", "clk") give independent keys.
 */
XCHG_API xchg_err xchg_secret_derive(const xchg_secret *s, const char *purpose, uint8_t *out,
                                     size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
