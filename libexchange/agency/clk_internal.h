/* Private: the parsed clkhash v3 schema shared by clk_schema.c and clk.c. */
#ifndef XCHG_CLK_INTERNAL_H
#define XCHG_CLK_INTERNAL_H

#include "exchange/clk.h"
#include "exchange/crypto.h"

#include <stdint.h>

/* Practical limits; clkhash has none, but nothing sensible comes near them. */
#define XCHG_CLK_MAX_HASH_BITS ((size_t)1 << 24) /* l * 2^xorFolds */
#define XCHG_CLK_MAX_BITS_PER_TOKEN 65536u
#define XCHG_CLK_MAX_NGRAM 64u
#define XCHG_CLK_HKDF_MAX (255u * 32u) /* RFC 5869 limit for SHA-256 */

enum clk_format { CLK_FMT_STRING, CLK_FMT_INTEGER, CLK_FMT_DATE, CLK_FMT_ENUM };
enum clk_case { CLK_CASE_MIXED, CLK_CASE_LOWER, CLK_CASE_UPPER };
enum clk_compare { CLK_CMP_NGRAM, CLK_CMP_EXACT };

struct clk_feature {
    char *name;
    int ignored;

    /* format: validation and normalisation */
    enum clk_format fmt;
    int ascii;           /* string encoding "ascii": reject bytes >= 0x80 */
    enum clk_case scase; /* string */
    long long minlen;    /* string, in code points; -1 when absent */
    long long maxlen;
    int has_min, has_max; /* integer */
    long long min, max;
    char *datefmt; /* date: a strptime format */
    char **values; /* enum */
    size_t *vlens;
    size_t nvalues;

    /* hashing */
    enum clk_compare cmp;
    unsigned n;      /* n-gram size */
    int positional;  /* "<i+1> <gram>" tokens */
    int per_feature; /* bits is bitsPerFeature (else bitsPerToken) */
    size_t bits;
    xchg_clk_hash hash;
    int prevent_singularity;
    int has_missing;
    char *sentinel, *replace;
    size_t sentlen, replen;
};

struct xchg_clk_schema {
    size_t l;      /* filter bits after folding */
    size_t folds;  /* xorFolds */
    size_t hash_l; /* l << folds: the filter the tokens are hashed into */
    size_t keysize;
    uint8_t *salt, *info;
    size_t saltlen, infolen;
    size_t nf;
    struct clk_feature *f;
};

/* ---- BLAKE2b (RFC 7693), clk_blake2b.c ------------------------------------------------ */

#define clk_wipe(p, n) xchg_wipe((p), (n))

/*
 * BLAKE2b state after the padded key block: h of a keyed, salted, personalised BLAKE2b
 * that has compressed exactly the key block (128 bytes counted). Secret: keep it in
 * xchg_secure_alloc memory.
 */
struct clk_blake2b_snap {
    uint64_t h[8];
    size_t outlen;
};

/*
 * One-shot BLAKE2b: outlen (1..64) bytes of out from len message bytes, keyed with keylen
 * (0..64) bytes, with a 16-byte salt and personalisation (NULL for zeros). Same output
 * as libsodium's crypto_generichash_blake2b_salt_personal. Cannot fail.
 */
void clk_blake2b(uint8_t *out, size_t outlen, const uint8_t *msg, size_t len, const uint8_t *key,
                 size_t keylen, const uint8_t *salt, const uint8_t *personal);

/* snap = the state of clk_blake2b(.., key, keylen (1..64), salt, personal) after its key
 * block, for digests of outlen (1..64) bytes. */
void clk_blake2b_snap_init(struct clk_blake2b_snap *snap, size_t outlen, const uint8_t *key,
                           size_t keylen, const uint8_t *salt, const uint8_t *personal);

/* clk_blake2b of a non-empty message (len >= 1) from the snapshot: one compression per
 * 128 message bytes, none for the key. Writes snap->outlen bytes to out. */
void clk_blake2b_snap_hash(const struct clk_blake2b_snap *snap, const uint8_t *msg, size_t len,
                           uint8_t *out);

/* Which clk_blake2b_snap_hash4 code to run: AUTO picks the best the CPU has; the others
 * (for tests) fall back to PORTABLE when the CPU lacks them. */
enum clk_blake2b_impl {
    CLK_BLAKE2B_AUTO,
    CLK_BLAKE2B_PORTABLE,
    CLK_BLAKE2B_AVX2,
    CLK_BLAKE2B_AVX512,
};

/*
 * Four clk_blake2b_snap_hash at once, each a single-block message: block[l] holds len[l]
 * (1..128) bytes, snap[l] must have outlen 64; out[l] receives 64 bytes.
 */
void clk_blake2b_snap_hash4(const struct clk_blake2b_snap *const snap[4],
                            const uint8_t *const block[4], const size_t len[4], uint8_t out[4][64],
                            enum clk_blake2b_impl impl);

/* ---- hardening, clk_harden.c ------------------------------------------------------ */

struct clk_harden;
/* *out = NULL when hd asks for nothing. */
xchg_err xchg__clk_harden_new(const xchg_clk_schema *s, const xchg_clk_hardening *hd,
                              const void *secret, size_t secretlen, struct clk_harden **out,
                              xchg_diag *d);
void xchg__clk_harden_free(struct clk_harden *h, size_t l);
/* Transform the finished filter out (s->l bits) of the record fields/lens. */
void xchg__clk_harden_apply(struct clk_harden *h, const xchg_clk_schema *s,
                            const char *const *fields, const size_t *lens, uint8_t *out);

#endif
