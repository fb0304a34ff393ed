/*
 * exchange — thin wrappers over libsodium and OpenSSL primitives.
 *
 * No primitive here is ours: each function names the construction it calls. They
 * exist so the rest of the library has one place that fixes parameters, handles
 * library errors and wipes temporaries, and so known-answer tests cover exactly the
 * code paths the tools use.
 */
#ifndef XCHG_CRYPTO_H
#define XCHG_CRYPTO_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_SHA256_BYTES 32
#define XCHG_HMAC_SHA256_BYTES 32

/* SHA-256 of msg (libsodium crypto_hash_sha256). */
XCHG_API void xchg_sha256(const void *msg, size_t len, uint8_t out[XCHG_SHA256_BYTES]);

/* HMAC-SHA256 (RFC 2104) with a key of any length (libsodium). */
XCHG_API void xchg_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                               uint8_t out[XCHG_HMAC_SHA256_BYTES]);

/*
 * HKDF-SHA256 (RFC 5869, extract then expand) through OpenSSL. salt and info may be
 * NULL with length 0. outlen at most 255*32. Returns XCHG_ERR_ARG for a bad length,
 * XCHG_ERR_CRYPTO if OpenSSL fails; out is wiped on failure.
 */
XCHG_API xchg_err xchg_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt,
                                   size_t saltlen, const void *info, size_t infolen,
                                   uint8_t *out, size_t outlen);

/* Cryptographically secure random bytes (libsodium randombytes_buf). */
XCHG_API void xchg_random(void *buf, size_t len);

/* Wipe len bytes at p in a way the compiler will not remove (sodium_memzero). */
XCHG_API void xchg_wipe(void *p, size_t len);

/* Constant-time equality of two equal-length buffers: 1 when equal, 0 otherwise. */
XCHG_API int xchg_equal(const void *a, const void *b, size_t len);

/*
 * Guarded allocation for secrets (sodium_malloc: guard pages, locked where the system
 * allows). xchg_secure_free wipes and releases; accepts NULL.
 */
XCHG_API void *xchg_secure_alloc(size_t len);
XCHG_API void xchg_secure_free(void *p);

/* Length of the base64 text (standard alphabet, padded, NUL included) for n bytes. */
XCHG_STATIC_API size_t xchg_base64_len(size_t n);
/* Encode n bytes as padded standard base64 into out (xchg_base64_len(n) bytes). */
XCHG_STATIC_API void xchg_base64_encode(char *out, const void *bin, size_t n);
/*
 * Decode standard padded base64 text of length len into bin (capacity cap). Returns
 * XCHG_ERR_FORMAT on any invalid character, bad padding or overflow of cap.
 */
XCHG_STATIC_API xchg_err xchg_base64_decode(void *bin, size_t cap, size_t *outlen, const char *b64,
                                     size_t len) XCHG_MUST_CHECK;

/* Lower-case hex of n bytes into out (2n+1 bytes). */
XCHG_STATIC_API void xchg_hex_encode(char *out, const void *bin, size_t n);
/* Decode exactly n bytes of hex (2n characters, either case). XCHG_ERR_FORMAT if not. */
XCHG_STATIC_API xchg_err xchg_hex_decode(void *bin, size_t n, const char *hex, size_t len)
    XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
