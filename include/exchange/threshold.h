/*
 * exchange — the release key: threshold ElGamal over ristretto255 that makes the
 * operators' approval a cryptographic step (docs/release.md, "The release key";
 * formats in docs/formats.md, "Release key").
 *
 * Nothing here is a new primitive. It composes libsodium 1.0.18's ristretto255 group
 * operations, BLAKE2b and XChaCha20-Poly1305-IETF into four standard constructions:
 *   - Shamir secret sharing of the release secret s (threshold t) with Feldman
 *     commitments C_j = a_j·G of the polynomial's coefficients, so every party can check
 *     that the operators' public verification shares V_i = s_i·G lie on one polynomial
 *     whose constant term is the release public key P = s·G;
 *   - hybrid ElGamal (a DHIES/ECIES-style KEM-DEM): R = r·G, key = BLAKE2b(r·P ‖ R ‖ ctx),
 *     the plaintext sealed with XChaCha20-Poly1305 under that one-time key;
 *   - partial decryption D_i = s_i·R with a Chaum–Pedersen proof that
 *     log_G V_i = log_R D_i, made non-interactive by Fiat–Shamir with BLAKE2b;
 *   - combination of t partial decryptions by Lagrange interpolation at 0: s·R = Σ λ_i D_i.
 *
 * Every record's context ctx is a 32-byte digest naming the agreement, the deal, the
 * extract and the record (xchg_threshold_context), so a key or a proof for one record
 * says nothing about another.
 */
#ifndef XCHG_THRESHOLD_H
#define XCHG_THRESHOLD_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_TH_POINT_BYTES 32  /* a ristretto255 element */
#define XCHG_TH_SCALAR_BYTES 32 /* a scalar mod L, little-endian */
#define XCHG_TH_PROOF_BYTES 64  /* Chaum–Pedersen proof: c ‖ z */
#define XCHG_TH_CTX_BYTES 32
#define XCHG_TH_DEAL_BYTES 16
#define XCHG_TH_MAX_SHARES 32
#define XCHG_TH_WRAP_VERSION 0x01
/* version byte, R, Poly1305 tag */
#define XCHG_TH_WRAP_OVERHEAD (1 + XCHG_TH_POINT_BYTES + 16)

/*
 * The context digest of one record: BLAKE2b-256 of "exchange release context v1\0" |
 * agreement sha256 (32) | deal id (16) | extract id (16) | u16le len | ref. XCHG_ERR_ARG
 * when ref is longer than 65535 bytes.
 */
XCHG_API xchg_err xchg_threshold_context(const uint8_t agreement[32],
                                         const uint8_t deal[XCHG_TH_DEAL_BYTES],
                                         const uint8_t extract_id[16], const char *ref,
                                         size_t ref_len, uint8_t ctx[XCHG_TH_CTX_BYTES]);

/*
 * Deal a release key: a random secret s and polynomial f of degree t-1 with f(0) = s;
 * shares[i] = f(i+1) (caller's buffer of n*32 bytes, ideally xchg_secure_alloc'ed),
 * verify[i] = shares[i]·G, commitments[j] = a_j·G for j < t (commitments[0] = P = s·G).
 * s and the coefficients are wiped before return. 1 <= t <= n <= XCHG_TH_MAX_SHARES, or
 * XCHG_ERR_ARG.
 */
XCHG_API xchg_err xchg_threshold_deal(unsigned t, unsigned n, uint8_t *commitments, uint8_t *shares,
                                      uint8_t *verify);

/*
 * Feldman check: verify == Σ_j index^j · commitments[j] (j < t). XCHG_OK or
 * XCHG_ERR_VERIFY (also for an invalid point or index 0).
 */
XCHG_API xchg_err xchg_threshold_check_share(const uint8_t *commitments, unsigned t, unsigned index,
                                             const uint8_t verify[XCHG_TH_POINT_BYTES])
    XCHG_MUST_CHECK;

/* share·G == verify (an operator's share matches its published verification share). */
XCHG_API xchg_err xchg_threshold_share_matches(const uint8_t share[XCHG_TH_SCALAR_BYTES],
                                               const uint8_t verify[XCHG_TH_POINT_BYTES])
    XCHG_MUST_CHECK;

/*
 * Wrap len bytes of pt under public key P for context ctx into out (len +
 * XCHG_TH_WRAP_OVERHEAD bytes): 0x01 | R | XChaCha20-Poly1305(key, nonce 0, ad = ctx).
 * XCHG_ERR_CRYPTO if P is not a valid point.
 */
XCHG_API xchg_err xchg_threshold_wrap(const uint8_t pub[XCHG_TH_POINT_BYTES],
                                      const uint8_t ctx[XCHG_TH_CTX_BYTES], const uint8_t *pt,
                                      size_t len, uint8_t *out);

/* The R of a wrapped payload. XCHG_ERR_FORMAT when too short, another version, or R is
 * not a valid canonical point. */
XCHG_API xchg_err xchg_threshold_wrapped_R(const uint8_t *w, size_t len,
                                           uint8_t R[XCHG_TH_POINT_BYTES]) XCHG_MUST_CHECK;

/*
 * An operator's partial decryption of R: D = share·R and its proof (bound to ctx and the
 * operator's index). XCHG_ERR_CRYPTO when R is invalid.
 */
XCHG_API xchg_err xchg_threshold_partial(const uint8_t share[XCHG_TH_SCALAR_BYTES], unsigned index,
                                         const uint8_t R[XCHG_TH_POINT_BYTES],
                                         const uint8_t ctx[XCHG_TH_CTX_BYTES],
                                         uint8_t D[XCHG_TH_POINT_BYTES],
                                         uint8_t proof[XCHG_TH_PROOF_BYTES]);

/* XCHG_OK when proof shows log_G verify == log_R D for this index and ctx;
 * XCHG_ERR_VERIFY otherwise (any invalid point or non-canonical scalar included). */
XCHG_API xchg_err xchg_threshold_verify_partial(
    const uint8_t verify[XCHG_TH_POINT_BYTES], unsigned index, const uint8_t R[XCHG_TH_POINT_BYTES],
    const uint8_t ctx[XCHG_TH_CTX_BYTES], const uint8_t D[XCHG_TH_POINT_BYTES],
    const uint8_t proof[XCHG_TH_PROOF_BYTES]) XCHG_MUST_CHECK;

/*
 * Combine n partial decryptions (indexes distinct, 1..255) by Lagrange interpolation at
 * 0 into sR. With n >= t verified contributions sR = s·R; with fewer it is a point
 * unrelated to s·R. XCHG_ERR_ARG for n = 0 or repeated indexes, XCHG_ERR_CRYPTO for an
 * invalid point.
 */
XCHG_API xchg_err xchg_threshold_combine(size_t n, const unsigned *indexes, const uint8_t *D,
                                         uint8_t sR[XCHG_TH_POINT_BYTES]);

/* Unwrap with the combined s·R: out gets len - XCHG_TH_WRAP_OVERHEAD bytes.
 * XCHG_ERR_VERIFY when the key is wrong or the bytes were altered. */
XCHG_API xchg_err xchg_threshold_unwrap(const uint8_t sR[XCHG_TH_POINT_BYTES],
                                        const uint8_t ctx[XCHG_TH_CTX_BYTES], const uint8_t *w,
                                        size_t len, uint8_t *out) XCHG_MUST_CHECK;

/* ---- deals and share files ----------------------------------------------------------- */

/*
 * Deal the release key of agreement p (whose release_key is `required` or dealt before:
 * a re-deal; p is parsed, not verified: the deal rewrites the agreement's bytes, so it comes
 * before the signatures) among its operators, threshold approvals_required: one share file per
 * operator, DIR/<operator id>.share, 0600, the share sealed to that operator's box key
 * (refused if one exists unless overwrite). *section (malloc'ed) is the agreement's new
 * `release_key:` section as YAML text. Shares and the secret are wiped before return.
 */
XCHG_API xchg_err xchg_release_key_deal(const xchg_policy *p, const char *dir, int overwrite,
                                        char **section, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The agreement text with its top-level `release_key:` entry (the line and its indented
 * continuation) replaced by section, or section appended when there is none.
 * *out malloc'ed. XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_release_key_apply(const char *text, size_t len, const char *section,
                                         char **out, size_t *outlen);

typedef struct xchg_release_share xchg_release_share;

/*
 * Load the operator's share file at path: unsealed with the operator's key, refused
 * (XCHG_ERR_DENIED, naming why) unless it is the share of this key's operator party for
 * the deal agreement agr records, and share·G equals the verification share agr publishes.
 * XCHG_ERR_FORMAT/VERSION for a file that is not a share file.
 */
XCHG_API xchg_err xchg_release_share_load(const xchg_agreement *agr, const xchg_seckey *op,
                                          const char *path, xchg_release_share **out,
                                          xchg_diag *d) XCHG_MUST_CHECK;
XCHG_API void xchg_release_share_free(xchg_release_share *s);
XCHG_API unsigned xchg_release_share_index(const xchg_release_share *s);
/* the secret scalar (valid as long as s) */
XCHG_API const uint8_t *xchg_release_share_scalar(const xchg_release_share *s);

#ifdef __cplusplus
}
#endif
#endif
