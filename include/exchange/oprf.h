/*
 * exchange — a verifiable OPRF (2HashDH over ristretto255) for exact-match tokens.
 *
 * The agreement's key service (xchg-keyd) holds a scalar k and publishes K = k·G in the
 * agreement (`tokens: {mode: oprf, keyd: URL, key: <K>}`). An agency hashes a value x to
 * a point P = H(x), blinds it (B = r·P, r random), and sends B; the service returns
 * E = k·B with a Chaum–Pedersen DLEQ proof that log_G K = log_B E (one proof for a whole
 * batch); the agency verifies, unblinds (N = r⁻¹·E = k·P) and hashes x and N to the OPRF
 * output. The service never sees x or P; the agency never sees k. The construction is
 * RFC 9497's VOPRF mode (0x01) with ristretto255 and BLAKE2b-512 in place of SHA-512 /
 * expand_message_xmd (docs/keyd.md says exactly where it deviates; docs/formats.md has
 * the wire format and a known-answer vector).
 *
 * Element and scalar encodings are libsodium's (32 bytes each). Functions here never do
 * network I/O: the client takes a transport callback, which xchg seal implements with
 * libcurl and signed requests (docs/keyd.md).
 */
#ifndef XCHG_OPRF_H
#define XCHG_OPRF_H

#include "exchange/common.h"
#include "exchange/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_OPRF_ELEMENT_BYTES 32
#define XCHG_OPRF_SCALAR_BYTES 32
#define XCHG_OPRF_PROOF_BYTES 64  /* c || s */
#define XCHG_OPRF_OUTPUT_BYTES 64 /* BLAKE2b-512, as RFC 9497's Nh for this group */
#define XCHG_OPRF_MAX_BATCH 4096  /* elements per request */
#define XCHG_OPRF_MAX_INPUT 1024  /* bytes of one input */
#define XCHG_OPRF_CONTEXT "OPRFV1-\x01-ristretto255-BLAKE2b512"
#define XCHG_OPRF_REQ_MAGIC "XOQ1"
#define XCHG_OPRF_RESP_MAGIC "XOR1"
/* request: magic(4) u32le n, n elements; response: magic(4) u32le n, n elements, proof */
#define XCHG_OPRF_REQ_BYTES(n) (8 + (size_t)(n)*XCHG_OPRF_ELEMENT_BYTES)
#define XCHG_OPRF_RESP_BYTES(n) (8 + (size_t)(n)*XCHG_OPRF_ELEMENT_BYTES + XCHG_OPRF_PROOF_BYTES)

/* ---- keys -------------------------------------------------------------------------- */

/* A fresh key: sk random non-zero scalar, pk = sk·G. XCHG_ERR_CRYPTO on failure. */
XCHG_API xchg_err xchg_oprf_keygen(uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                   uint8_t pk[XCHG_OPRF_ELEMENT_BYTES]) XCHG_MUST_CHECK;
/* pk = sk·G; XCHG_ERR_FORMAT when sk is zero or not reduced. */
XCHG_API xchg_err xchg_oprf_public(const uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                   uint8_t pk[XCHG_OPRF_ELEMENT_BYTES]) XCHG_MUST_CHECK;
/*
 * Write a key file "xchg-oprf-key v1\n<64 hex>\n" (mode 0600, created exclusively unless
 * overwrite; atomic). XCHG_ERR_EXISTS or XCHG_ERR_IO; nothing is left behind on error.
 */
XCHG_API xchg_err xchg_oprf_key_write(const char *path, const uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                      int overwrite) XCHG_MUST_CHECK;
/*
 * Write a passphrase-protected key file "xchg-oprf-key v2\n<hex>\n" (docs/formats.md:
 * Argon2id with limits, NULL for xchg_kdf_default(), then XChaCha20-Poly1305; the public
 * key in the clear). Mode 0600, exclusive unless overwrite, atomic. XCHG_ERR_ARG (no
 * passphrase), XCHG_ERR_EXISTS, XCHG_ERR_IO, XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_oprf_key_write_protected(const char *path,
                                                const uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                                const char *pass, size_t passlen,
                                                const xchg_kdf_limits *limits,
                                                int overwrite) XCHG_MUST_CHECK;
/* Whether the key file at path is passphrase-protected (v2). Errors as xchg_oprf_key_load. */
XCHG_API xchg_err xchg_oprf_key_protected(const char *path, int *is_protected,
                                          xchg_diag *d) XCHG_MUST_CHECK;
/*
 * Read a key file (either version) into sk; pass is needed for a protected one (NULL for
 * an unprotected one). sk is wiped on error. XCHG_ERR_IO, XCHG_ERR_FORMAT (with a reason
 * in d, naming the file), XCHG_ERR_DENIED when the file is readable by group or others,
 * XCHG_ERR_ARG for a protected file without a passphrase, XCHG_ERR_VERIFY for a wrong
 * passphrase or an altered file.
 */
XCHG_API xchg_err xchg_oprf_key_load(const char *path, const char *pass, size_t passlen,
                                     uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                     xchg_diag *d) XCHG_MUST_CHECK;
/* xchg_oprf_key_load without a passphrase. */
XCHG_API xchg_err xchg_oprf_key_read(const char *path, uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                     xchg_diag *d) XCHG_MUST_CHECK;

/* ---- the protocol steps (RFC 9497 §3.3.2 names) -------------------------------------- */

/* P = HashToGroup(input). XCHG_ERR_ARG for input longer than XCHG_OPRF_MAX_INPUT. */
XCHG_API xchg_err xchg_oprf_hash_to_group(const uint8_t *input, size_t len,
                                          uint8_t p[XCHG_OPRF_ELEMENT_BYTES]) XCHG_MUST_CHECK;
/* Blind: blinded = blind·HashToGroup(input). blind_in NULL: a random blind, written to
 * blind; otherwise blind_in is used (known-answer tests) and copied to blind. */
XCHG_API xchg_err xchg_oprf_blind(const uint8_t *input, size_t len, const uint8_t *blind_in,
                                  uint8_t blind[XCHG_OPRF_SCALAR_BYTES],
                                  uint8_t blinded[XCHG_OPRF_ELEMENT_BYTES]) XCHG_MUST_CHECK;
/*
 * BlindEvaluateBatch: evaluated[i] = sk·blinded[i] for n elements (1..XCHG_OPRF_MAX_BATCH)
 * and one DLEQ proof for the batch. proof_rand NULL draws the proof's nonce at random.
 * XCHG_ERR_FORMAT when an element is not a valid non-identity point (nothing is
 * evaluated then).
 */
XCHG_API xchg_err xchg_oprf_evaluate(const uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                     const uint8_t (*blinded)[XCHG_OPRF_ELEMENT_BYTES], size_t n,
                                     const uint8_t *proof_rand,
                                     uint8_t (*evaluated)[XCHG_OPRF_ELEMENT_BYTES],
                                     uint8_t proof[XCHG_OPRF_PROOF_BYTES]) XCHG_MUST_CHECK;
/* VerifyProof for a batch under pk: XCHG_OK or XCHG_ERR_VERIFY (also for an invalid
 * point anywhere). */
XCHG_API xchg_err xchg_oprf_verify(const uint8_t pk[XCHG_OPRF_ELEMENT_BYTES],
                                   const uint8_t (*blinded)[XCHG_OPRF_ELEMENT_BYTES],
                                   const uint8_t (*evaluated)[XCHG_OPRF_ELEMENT_BYTES], size_t n,
                                   const uint8_t proof[XCHG_OPRF_PROOF_BYTES]) XCHG_MUST_CHECK;
/* Finalize: out = H(len‖input‖len‖blind⁻¹·evaluated‖"Finalize"). XCHG_ERR_VERIFY for an
 * invalid evaluated element. */
XCHG_API xchg_err xchg_oprf_finalize(const uint8_t *input, size_t len,
                                     const uint8_t blind[XCHG_OPRF_SCALAR_BYTES],
                                     const uint8_t evaluated[XCHG_OPRF_ELEMENT_BYTES],
                                     uint8_t out[XCHG_OPRF_OUTPUT_BYTES]) XCHG_MUST_CHECK;
/* The unkeyed reference: out = H(input, sk·HashToGroup(input)) — what a client obtains
 * through the protocol. For tests and known-answer vectors only. */
XCHG_API xchg_err xchg_oprf_direct(const uint8_t sk[XCHG_OPRF_SCALAR_BYTES], const uint8_t *input,
                                   size_t len, uint8_t out[XCHG_OPRF_OUTPUT_BYTES]) XCHG_MUST_CHECK;

/* ---- the service side ---------------------------------------------------------------- */

/* Number of elements a request body asks for, after checking its framing (magic, count in
 * 1..XCHG_OPRF_MAX_BATCH, exact length). XCHG_ERR_FORMAT otherwise. */
XCHG_API xchg_err xchg_oprf_request_count(const uint8_t *req, size_t len,
                                          size_t *n) XCHG_MUST_CHECK;
/* Answer a request body: *resp (malloc'd, the caller frees) is the response body.
 * XCHG_ERR_FORMAT for a bad request (nothing allocated). */
XCHG_API xchg_err xchg_oprf_serve(const uint8_t sk[XCHG_OPRF_SCALAR_BYTES], const uint8_t *req,
                                  size_t len, uint8_t **resp, size_t *resp_len) XCHG_MUST_CHECK;

/* ---- the agency side: a batching, caching client ------------------------------------ */

/*
 * Send one request body and return the response body (malloc'd; the client frees it).
 * A refusal or transport failure returns an error and may write a reason (NUL-terminated)
 * to why, e.g. "keyd refused (HTTP 429): rate limit ...".
 */
typedef xchg_err (*xchg_oprf_transport)(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                                        size_t *resp_len, char *why, size_t whylen);

typedef struct xchg_oprf_client xchg_oprf_client;
/* A client for the service with public key pk, sending batches of at most batch elements
 * (0: XCHG_OPRF_MAX_BATCH). NULL when out of memory. */
XCHG_API xchg_oprf_client *xchg_oprf_client_new(const uint8_t pk[XCHG_OPRF_ELEMENT_BYTES],
                                                xchg_oprf_transport t, void *ctx, size_t batch);
/* Accepts NULL; wipes every input and output. */
XCHG_API void xchg_oprf_client_free(xchg_oprf_client *c);
/* Queue an input (a repeated input is queued once). XCHG_ERR_ARG (too long), NOMEM. */
XCHG_API xchg_err xchg_oprf_client_add(xchg_oprf_client *c, const uint8_t *input,
                                       size_t len) XCHG_MUST_CHECK;
/*
 * How many threads run computes with (0, the default: the online CPUs, at most 16; 1: the
 * calling thread alone, nothing overlapped). The outputs do not depend on it.
 */
XCHG_API void xchg_oprf_client_threads(xchg_oprf_client *c, unsigned threads);
/*
 * Evaluate every queued input: blind, send in batches, verify each batch's proof against
 * pk, unblind, finalize. With more than one thread the work is pipelined with the
 * service's: batch j+1 is sent before batch j's proof has been checked, so when batch j
 * fails to verify one more batch may already have been sent (and counted by the service);
 * with one thread nothing is sent after a batch that fails. On failure d says why:
 * XCHG_ERR_VERIFY for a response that does not verify (wrong point, proof or key),
 * XCHG_ERR_FORMAT for a malformed response, or the transport's error with its reason.
 */
XCHG_API xchg_err xchg_oprf_client_run(xchg_oprf_client *c, xchg_diag *d) XCHG_MUST_CHECK;
/* The output for an input evaluated by run. XCHG_ERR_NOT_FOUND otherwise. */
XCHG_API xchg_err xchg_oprf_client_get(const xchg_oprf_client *c, const uint8_t *input, size_t len,
                                       uint8_t out[XCHG_OPRF_OUTPUT_BYTES]) XCHG_MUST_CHECK;
/* Distinct inputs queued for the service (not those the cache answered), and requests sent
 * so far. */
XCHG_API void xchg_oprf_client_stats(const xchg_oprf_client *c, size_t *distinct, size_t *requests);

/*
 * The agency's cache of OPRF outputs across seals (docs/keyd.md "The agency's cache").
 * An agency seals a full snapshot every period, and most of its values were evaluated
 * last time: the cache keeps each value's output so that only new values go to the
 * service. It holds, per value, a keyed BLAKE2b-256 tag of the OPRF input (never the
 * value) and the 64-byte output, encrypted (XChaCha20-Poly1305) under a key derived from
 * the agency's own secret key with crypto_kdf — so it opens only with that key — and bound
 * to the service's public key K: a cache made under another K is not used (and is replaced
 * on save). Saving keeps only the entries the seal used, so the cache never holds a value
 * the agency no longer sends. File: "xchg-oprf-cache v1\n", K (32), count (4, big-endian),
 * nonce (24), ciphertext of count × (tag 32 ‖ output 64) + 16; mode 0600, written
 * atomically.
 */
typedef struct xchg_oprf_cache xchg_oprf_cache;
/*
 * Open the cache at path for owner under the service key pk; a missing file is an empty
 * cache. XCHG_ERR_VERIFY when the file does not open with owner's key (another agency's
 * key, or changed), XCHG_ERR_FORMAT when it is not a cache; d names the file. A cache for
 * another K opens empty with a note in d.
 */
XCHG_API xchg_err xchg_oprf_cache_open(const char *path, const xchg_seckey *owner,
                                       const uint8_t pk[XCHG_OPRF_ELEMENT_BYTES],
                                       xchg_oprf_cache **out, xchg_diag *d) XCHG_MUST_CHECK;
/* Accepts NULL; wipes every entry and key. */
XCHG_API void xchg_oprf_cache_free(xchg_oprf_cache *k);
/* Entries loaded; of them, how many the client used so far. */
XCHG_API void xchg_oprf_cache_stats(const xchg_oprf_cache *k, size_t *entries, size_t *used);
/* Let c answer queued inputs from k (set before the first add; k must outlive c; k's pk
 * must be c's: XCHG_ERR_ARG otherwise). */
XCHG_API xchg_err xchg_oprf_client_use_cache(xchg_oprf_client *c, xchg_oprf_cache *k) XCHG_MUST_CHECK;
/* Write the cache back to its file: the entries c used and every output c evaluated (run
 * must have succeeded). Atomic: on failure the old file is kept. */
XCHG_API xchg_err xchg_oprf_cache_save(xchg_oprf_cache *k, const xchg_oprf_client *c,
                                       xchg_diag *d) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
