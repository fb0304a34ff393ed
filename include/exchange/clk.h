/*
 * exchange — cryptographic long-term keys (CLKs): Bloom-filter encodings of records for
 * fuzzy, privacy-preserving linkage, bit-for-bit compatible with clkhash (CSIRO Data61)
 * linkage schema version 3.
 *
 * A schema (JSON, clkhash v3) names the record's features in order, how each is
 * validated and normalised, how it is cut into tokens (n-grams), how many bits each token
 * sets and with which keyed hash (blakeHash or doubleHash). An encoder binds a schema to
 * a linkage secret: it derives two 64-byte keys per feature with HKDF-SHA256 and turns a
 * record (one string per feature) into a filter of l bits, most significant bit first.
 * The algorithm and the compatibility evidence are in docs/clk.md.
 */
#ifndef XCHG_CLK_H
#define XCHG_CLK_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xchg_clk_schema xchg_clk_schema;
typedef struct xchg_clk_encoder xchg_clk_encoder;

/* How a feature's tokens are turned into bit positions. */
typedef enum xchg_clk_hash {
    XCHG_CLK_HASH_NONE = 0,   /* ignored feature: nothing is hashed */
    XCHG_CLK_HASH_BLAKE = 1,  /* keyed BLAKE2b-512, indices from little-endian uint16s */
    XCHG_CLK_HASH_DOUBLE = 2, /* HMAC-SHA1 + i * HMAC-MD5 (Schnell et al. 2011) */
} xchg_clk_hash;

/*
 * Parse and validate a clkhash linkage schema version 3 from the JSON text json (len
 * bytes, need not be NUL-terminated). Checks: version 3; clkConfig.l a positive integer
 * (a power of two and at least 8 when any feature uses blakeHash); xorFolds >= 0;
 * kdf type HKDF with hash SHA256, base64 salt and info, keySize >= 1 (<= 64 for
 * blakeHash); every feature has a unique identifier and is either ignored or has a
 * format (string, integer, date, enum) and hashing (ngram or exact comparison,
 * bitsPerToken or bitsPerFeature strategy, blakeHash or doubleHash, optional
 * missingValue). Every problem found is added to d (may be NULL) as an error naming the
 * feature and field. Returns XCHG_OK and a new schema in *out (release with
 * xchg_clk_schema_free); XCHG_ERR_VERSION for an unsupported version or algorithm,
 * XCHG_ERR_FORMAT for anything else malformed, XCHG_ERR_NOMEM. *out is untouched on error.
 */
XCHG_API xchg_err xchg_clk_schema_parse_json(const char *json, size_t len, xchg_clk_schema **out,
                                             xchg_diag *d) XCHG_MUST_CHECK;

/* Releases s; accepts NULL. Encoders made from s must be freed first. */
XCHG_API void xchg_clk_schema_free(xchg_clk_schema *s);

/* Number of features, ignored ones included (= fields per record). */
XCHG_API size_t xchg_clk_schema_nfeatures(const xchg_clk_schema *s);
/* Identifier of feature i (owned by s), or NULL when i is out of range. */
XCHG_API const char *xchg_clk_schema_feature_name(const xchg_clk_schema *s, size_t i);
/* Hash of feature i; XCHG_CLK_HASH_NONE for an ignored feature or i out of range. */
XCHG_API xchg_clk_hash xchg_clk_schema_feature_hash(const xchg_clk_schema *s, size_t i);
/* Filter length l in bits, after XOR folding. */
XCHG_API size_t xchg_clk_filter_bits(const xchg_clk_schema *s);
/* Bytes of an encoded filter: ceil(l / 8). Unused low bits of the last byte are 0. */
XCHG_API size_t xchg_clk_filter_bytes(const xchg_clk_schema *s);
/* HKDF key size in bytes (keySize, default 64). */
XCHG_API size_t xchg_clk_key_size(const xchg_clk_schema *s);

/*
 * Make an encoder for schema s and the linkage secret (secretlen bytes; clkhash uses the
 * UTF-8 bytes of its secret string). Derives HKDF-SHA256(secret, salt, info) of
 * nfeatures * 2 * keySize bytes; feature i gets keys 2i and 2i+1, ignored features
 * included. Keys live in guarded memory and are wiped by xchg_clk_encoder_free. s is
 * borrowed and must outlive the encoder. An encoder keeps scratch buffers: use one per
 * thread. Returns XCHG_ERR_ARG for NULL arguments, XCHG_ERR_CRYPTO, XCHG_ERR_NOMEM;
 * *out is untouched on error.
 */
XCHG_API xchg_err xchg_clk_encoder_new(const xchg_clk_schema *s, const void *secret,
                                       size_t secretlen, xchg_clk_encoder **out) XCHG_MUST_CHECK;

/* Wipes the keys and releases enc; accepts NULL. */
XCHG_API void xchg_clk_encoder_free(xchg_clk_encoder *enc);

/*
 * Derived key k (0 or 1) of feature i, xchg_clk_key_size() bytes owned by enc, for tests
 * that check key derivation alone. NULL when i or k is out of range.
 */
XCHG_API const uint8_t *xchg_clk_encoder_feature_key(const xchg_clk_encoder *enc, size_t i,
                                                     unsigned k);

/*
 * Encode one record: fields[i] (lens[i] bytes of UTF-8, no NUL needed) is the value of
 * feature i, in schema order, ignored features included; nfields must equal the number
 * of features. Values are validated as clkhash does (format, case, length, range, enum
 * membership; a missingValue sentinel skips validation and is replaced), normalised
 * (integers to plain decimal, dates to %Y%m%d), tokenised and hashed. The filter is
 * written to out (xchg_clk_filter_bytes() bytes), bit i in byte i/8 at bit 7 - i%8.
 * Returns XCHG_ERR_ARG for a wrong field count or NULL arguments, XCHG_ERR_FORMAT when a
 * value fails validation (an error naming the feature is added to d, which may be NULL),
 * XCHG_ERR_CRYPTO, XCHG_ERR_NOMEM. On error out is zeroed.
 */
XCHG_API xchg_err xchg_clk_encode(xchg_clk_encoder *enc, const char *const *fields,
                                  const size_t *lens, size_t nfields, uint8_t *out,
                                  xchg_diag *d) XCHG_MUST_CHECK;

/* ---- hardening (docs/clk.md, "Hardening options") ------------------------------ */

/* Transforms applied to every filter after encoding; all zero = none. */
typedef struct xchg_clk_hardening {
    const char *salt_feature; /* schema feature whose value salts a keyed bit permutation,
                               * or NULL for none */
    size_t salt_chars;        /* use only the first salt_chars bytes of it (0 = all);
                               * e.g. 4 of a %Y-%m-%d date = the year of birth */
    double blip;              /* probability that each bit is flipped (0 <= blip < 0.5) */
} xchg_clk_hardening;

/*
 * Makes xchg_clk_encode apply h to every filter enc encodes from now on. The permutation
 * key is a keyed BLAKE2b of secret (the encoder's own secret, 16..64 bytes) and a fixed
 * context string. XCHG_ERR_POLICY with a message in d when salt_feature is not a feature
 * of the schema or blip is out of range; XCHG_ERR_ARG for a bad secret; enc is unchanged on
 * error. A NULL h or an all-zero one removes the hardening.
 */
XCHG_API xchg_err xchg_clk_encoder_harden(xchg_clk_encoder *enc, const xchg_clk_hardening *h,
                                          const void *secret, size_t secretlen,
                                          xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The salted permutation on its own: bit i of the l-bit filter f (MSB first) moves to
 * position perm[i], where perm is the Fisher-Yates shuffle driven by
 * randombytes_buf_deterministic(seed = BLAKE2b-256(salt, key = key)), 8 big-endian bytes
 * per step i = l-1 .. 1, j = value mod (i+1). XCHG_ERR_ARG for l < 2; XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_clk_permute(uint8_t *f, size_t l, const uint8_t key[32], const void *salt,
                                   size_t saltlen) XCHG_MUST_CHECK;

/*
 * BLIP on its own: bit i of the l-bit filter f flips when the big-endian 16-bit value at
 * bytes 2i, 2i+1 of randombytes_buf_deterministic(seed) is below round(p * 65536).
 * XCHG_ERR_ARG unless 0 <= p < 0.5.
 */
XCHG_API xchg_err xchg_clk_blip(uint8_t *f, size_t l, double p,
                                const uint8_t seed[32]) XCHG_MUST_CHECK;

/* Number of bits set in the nbytes at f. */
XCHG_API size_t xchg_clk_popcount(const uint8_t *f, size_t nbytes);

/*
 * Sørensen–Dice coefficient 2|A∩B| / (|A| + |B|) of two filters of nbytes each, in
 * [0, 1]. Two empty filters give 0 (as anonlink does: nothing is known about them).
 */
XCHG_API double xchg_clk_dice(const uint8_t *a, const uint8_t *b, size_t nbytes);

/*
 * xchg_clk_dice with the popcounts of a and b given (pca = xchg_clk_popcount(a, nbytes),
 * pcb likewise), for scoring one filter against many: only |A∩B| is counted per pair.
 * Wrong popcounts give wrong scores (not necessarily in [0, 1]); pca + pcb = 0 gives 0.
 * Uses the POPCNT instruction or AVX2 when the CPU has them (chosen at run time).
 */
XCHG_API double xchg_clk_dice_pc(const uint8_t *a, const uint8_t *b, size_t nbytes, size_t pca,
                                 size_t pcb);

#ifdef __cplusplus
}
#endif
#endif
