/*
 * exchange — one sealed-extract record: what an agency sends the matcher about one row.
 *
 * Tokens are keyed hashes (HMAC-SHA256 under subkeys of the linkage secret), the CLK is
 * a keyed Bloom filter, indicators are problem codes with dates, the payload is
 * encrypted to the agreement's recipients. Indexes (key, problem) refer to the arrays of
 * the agreement the extract names, whose hash the extract header carries. Binary layout:
 * docs/formats.md ("Extract record").
 */
#ifndef XCHG_RECORD_H
#define XCHG_RECORD_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_RECORD_VERSION 2   /* written; version 1 (no measures, age or area) still reads */
#define XCHG_TOKEN_BYTES 32
#define XCHG_RECORD_MAX_TOKENS 32
#define XCHG_RECORD_MAX_INDICATORS 32
#define XCHG_RECORD_MAX_REF 256
#define XCHG_RECORD_MAX_CLK 8192
#define XCHG_RECORD_MAX_PAYLOAD (256u << 10)
#define XCHG_DATE_NONE INT32_MIN /* no date */
#define XCHG_DATE_OPEN INT32_MAX /* an open-ended span */
#define XCHG_RECORD_MAX_AREA 64
#define XCHG_AGE_UNKNOWN 255     /* xchg_record.age when the agency has no date of birth */
#define XCHG_IND_NONE 255        /* xchg_indicator_ev.problem / .measure when not one */

typedef struct xchg_token {
    uint8_t index; /* match key / blocking key / household key index */
    uint8_t value[XCHG_TOKEN_BYTES];
} xchg_token;

typedef struct xchg_indicator_ev {
    uint8_t problem;    /* index into the agreement's problems (when not is_measure) */
    int32_t start;     /* evidence date (days since 1970) */
    int32_t end;       /* == start for an event; XCHG_DATE_OPEN for an open span */
    uint8_t is_measure; /* 0: asserts `problem`; 1: an event of `measure` (docs/programme.md) */
    uint8_t measure;    /* index into the agreement's measures when is_measure */
    double value, of;   /* a measure's numbers (value 1, of 0 when it carries none) */
} xchg_indicator_ev;

typedef struct xchg_record {
    const char *ref; /* the agency's own record reference (opaque to the matcher) */
    size_t ref_len;
    xchg_token match[XCHG_RECORD_MAX_TOKENS];
    size_t nmatch;
    xchg_token block[XCHG_RECORD_MAX_TOKENS];
    size_t nblock;
    /* household keys, then declared relationships (index = nhousehold_keys + i) */
    xchg_token house[XCHG_RECORD_MAX_TOKENS];
    size_t nhouse;
    const uint8_t *clk; /* NULL when the agreement has no fuzzy matching */
    size_t clk_len;
    xchg_indicator_ev ind[XCHG_RECORD_MAX_INDICATORS];
    size_t nind;
    uint8_t consent;        /* xchg_consent_status */
    int32_t consent_date;   /* XCHG_DATE_NONE when not recorded */
    const char *basis;      /* recorded legal basis for sharing without consent, or "" */
    size_t basis_len;
    const uint8_t *payload; /* nonce || AEAD ciphertext; see xchg_payload_* */
    size_t payload_len;
    uint8_t age;            /* whole years on the extract's period end, or XCHG_AGE_UNKNOWN */
    const char *area;       /* the agreement's coarse area code (docs/programme.md), or "" */
    size_t area_len;
} xchg_record;

/* Bytes needed to encode r. */
XCHG_API size_t xchg_record_size(const xchg_record *r);

/* Encode r into buf (cap bytes); *len = bytes written. XCHG_ERR_ARG if a limit is
 * exceeded or buf is too small. */
XCHG_API xchg_err xchg_record_encode(const xchg_record *r, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decode len bytes into *r. Pointers in *r point into buf, which must outlive it.
 * XCHG_ERR_FORMAT / XCHG_ERR_VERSION / XCHG_ERR_TRUNCATED with a message in d for any
 * malformed input: counts beyond limits, lengths past the end, trailing bytes.
 */
XCHG_API xchg_err xchg_record_decode(const uint8_t *buf, size_t len, xchg_record *r,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/* ---- payload encryption ------------------------------------------------------- */

#define XCHG_PAYLOAD_KEY_BYTES 32
#define XCHG_EXTRACT_ID_BYTES 16
#define XCHG_PAYLOAD_OVERHEAD (24 + 16)

/*
 * Encrypt a payload (the JSON detail of one record) with the extract's data key:
 * XChaCha20-Poly1305 with a random nonce, associated data binding it to the agreement
 * hash, the extract id and the record reference, so a payload cannot be moved to another
 * record, extract or agreement. out receives len + XCHG_PAYLOAD_OVERHEAD bytes.
 */
XCHG_API xchg_err xchg_payload_encrypt(const uint8_t key[XCHG_PAYLOAD_KEY_BYTES],
                                       const uint8_t agreement_hash[32],
                                       const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES],
                                       const char *ref, size_t ref_len, const void *msg,
                                       size_t len, uint8_t *out);

/* Reverse of xchg_payload_encrypt; out receives clen - XCHG_PAYLOAD_OVERHEAD bytes. */
XCHG_API xchg_err xchg_payload_decrypt(const uint8_t key[XCHG_PAYLOAD_KEY_BYTES],
                                       const uint8_t agreement_hash[32],
                                       const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES],
                                       const char *ref, size_t ref_len, const uint8_t *c,
                                       size_t clen, uint8_t *out) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
