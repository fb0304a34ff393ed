/*
 * exchange — authentication of requests to the matcher daemon (xchg-matcherd).
 *
 * Every request carries a signature made with the Ed25519 key of a party of the
 * agreement, over method, path, time, a random nonce and the SHA-256 of the body
 * (docs/network.md). The server checks that the key belongs to a party with the role
 * the endpoint needs, that the time is within XCHG_NETAUTH_WINDOW seconds of its clock,
 * that the nonce has not been seen within the window (a bounded in-memory replay
 * cache), and — once the body has arrived — that its hash matches the signed one.
 *
 * Headers:
 *   X-Exchange-Key          key id, hex (16 characters)
 *   X-Exchange-Time         Unix seconds, decimal
 *   X-Exchange-Nonce        16 random bytes, hex (32 characters)
 *   X-Exchange-Body-SHA256  SHA-256 of the body, hex (64 characters; of "" for no body)
 *   X-Exchange-Signature    base64 Ed25519 signature over
 *       "exchange request v1\n" method "\n" path "\n" time "\n" nonce "\n" body-sha256-hex
 */
#ifndef XCHG_NETAUTH_H
#define XCHG_NETAUTH_H

#include "exchange/common.h"
#include "exchange/crypto.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_NETAUTH_WINDOW 300 /* seconds of clock difference accepted */
#define XCHG_NETAUTH_NONCE_BYTES 16
#define XCHG_NETAUTH_NONCE_HEXLEN 32
#define XCHG_NETAUTH_CACHE_DEFAULT 65536 /* nonces remembered by default */
#define XCHG_NETAUTH_DOMAIN "exchange request v1\n"

#define XCHG_NETAUTH_H_KEY "X-Exchange-Key"
#define XCHG_NETAUTH_H_TIME "X-Exchange-Time"
#define XCHG_NETAUTH_H_NONCE "X-Exchange-Nonce"
#define XCHG_NETAUTH_H_BODY "X-Exchange-Body-SHA256"
#define XCHG_NETAUTH_H_SIG "X-Exchange-Signature"

/* The five header values of one request (NUL-terminated text). */
typedef struct xchg_netauth_headers {
    char key[XCHG_KEYID_HEXLEN + 1];
    char time[24];
    char nonce[XCHG_NETAUTH_NONCE_HEXLEN + 1];
    char body_sha256[2 * XCHG_SHA256_BYTES + 1];
    char signature[92]; /* base64 of 64 bytes: 88 characters */
} xchg_netauth_headers;

/*
 * Client side: fill h for a request "method path" at Unix time now whose body has the
 * given SHA-256 (body_sha256 NULL means an empty body), with a fresh random nonce.
 * XCHG_ERR_ARG when method or path is empty or contains a newline; h is then untouched.
 */
XCHG_API xchg_err xchg_netauth_sign(const xchg_seckey *k, const char *method, const char *path,
                                    int64_t now, const uint8_t body_sha256[XCHG_SHA256_BYTES],
                                    xchg_netauth_headers *h) XCHG_MUST_CHECK;

/* Why a request was refused (stable numbers: they appear in logs). */
typedef enum xchg_netauth_reason {
    XCHG_NETAUTH_OK = 0,
    XCHG_NETAUTH_MISSING = 1,       /* a header is absent */
    XCHG_NETAUTH_MALFORMED = 2,     /* a header is not in its format */
    XCHG_NETAUTH_UNKNOWN_KEY = 3,   /* the key is not a party of the agreement */
    XCHG_NETAUTH_WRONG_ROLE = 4,    /* the party's role may not use this endpoint */
    XCHG_NETAUTH_STALE = 5,         /* time further than the window from the server's */
    XCHG_NETAUTH_BAD_SIGNATURE = 6, /* the signature does not verify */
    XCHG_NETAUTH_REPLAYED = 7,      /* nonce already seen within the window */
    XCHG_NETAUTH_BODY_MISMATCH = 8, /* the body received is not the one signed */
    XCHG_NETAUTH_BUSY = 9,          /* replay cache full: refused rather than forgotten */
} xchg_netauth_reason;

/* A short static description of a reason, e.g. "replayed nonce". Never NULL. */
XCHG_API const char *xchg_netauth_reason_text(xchg_netauth_reason r);

/* Server side: a verifier for agreement agr (borrowed; must outlive it) with a replay
 * cache of at most cache_max nonces (0: XCHG_NETAUTH_CACHE_DEFAULT). Thread-safe. */
typedef struct xchg_netauth xchg_netauth;
XCHG_API xchg_err xchg_netauth_new(const xchg_agreement *agr, size_t cache_max,
                                   xchg_netauth **out) XCHG_MUST_CHECK;
/* Accepts NULL. */
XCHG_API void xchg_netauth_free(xchg_netauth *v);

/* Header values as received (NULL when absent). */
typedef struct xchg_netauth_request {
    const char *method, *path;
    const char *key, *time, *nonce, *body_sha256, *signature;
} xchg_netauth_request;

/* The bit of a role in a roles mask. */
#define XCHG_NETAUTH_ROLE(r) (1u << (unsigned)(r))

/*
 * Check a request's headers at Unix time now: format, key a party of the agreement whose
 * role is in roles (a mask of XCHG_NETAUTH_ROLE bits), time within the window, signature,
 * then nonce not seen (the nonce is remembered only when everything else passed, so a
 * forged request cannot fill the cache). The body hash is checked afterwards with
 * xchg_netauth_check_body. On success *party is the party's index in agr. On refusal
 * *why says which check failed, and the error is XCHG_ERR_FORMAT (missing, malformed),
 * XCHG_ERR_UNKNOWN_KEY, XCHG_ERR_DENIED (wrong role, cache full) or XCHG_ERR_VERIFY
 * (stale, bad signature, replayed). why and party may be NULL.
 */
XCHG_API xchg_err xchg_netauth_verify(xchg_netauth *v, const xchg_netauth_request *rq,
                                      unsigned roles, int64_t now, size_t *party,
                                      xchg_netauth_reason *why) XCHG_MUST_CHECK;

/*
 * Compare the signed body hash (hex header text) with the SHA-256 of the bytes received.
 * XCHG_OK or XCHG_ERR_VERIFY (why = XCHG_NETAUTH_BODY_MISMATCH).
 */
XCHG_API xchg_err xchg_netauth_check_body(const char *body_sha256_hex,
                                          const uint8_t got[XCHG_SHA256_BYTES],
                                          xchg_netauth_reason *why) XCHG_MUST_CHECK;

/* Incremental SHA-256 for bodies that are streamed rather than held in memory. */
typedef struct xchg_sha256_stream xchg_sha256_stream;
/* A new hash state, or NULL when out of memory. */
XCHG_API xchg_sha256_stream *xchg_sha256_stream_new(void);
XCHG_API void xchg_sha256_stream_update(xchg_sha256_stream *h, const void *data, size_t len);
/* Write the digest and release h. */
XCHG_API void xchg_sha256_stream_final(xchg_sha256_stream *h, uint8_t out[XCHG_SHA256_BYTES]);
/* Release without a digest; accepts NULL. */
XCHG_API void xchg_sha256_stream_free(xchg_sha256_stream *h);
/* SHA-256 of a whole file, read in pieces; *size (may be NULL) its length. XCHG_ERR_IO. */
XCHG_API xchg_err xchg_sha256_file(const char *path, uint8_t out[XCHG_SHA256_BYTES],
                                   uint64_t *size) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
