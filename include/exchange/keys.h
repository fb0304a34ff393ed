/*
 * exchange — party keys: an Ed25519 signing key and an X25519 box key per party.
 *
 * A party's public half is an xchg_pubkey (plain data, safe to copy). Its text form,
 * "xk1:" + base64, is what agreements and keyrings carry. The secret half is an opaque
 * xchg_seckey held in guarded memory and wiped by xchg_seckey_free. File formats are
 * specified in docs/keys.md.
 */
#ifndef XCHG_KEYS_H
#define XCHG_KEYS_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_KEYID_BYTES 8
#define XCHG_KEYID_HEXLEN (2 * XCHG_KEYID_BYTES)
#define XCHG_SIGN_PK_BYTES 32
#define XCHG_BOX_PK_BYTES 32
#define XCHG_SIG_BYTES 64
#define XCHG_LABEL_MAX 200
/* "xk1:" + base64 of 74 bytes (100 chars) + NUL */
#define XCHG_PUBKEY_STRLEN 105
#define XCHG_BOX_OVERHEAD 48 /* crypto_box_SEALBYTES */

typedef struct xchg_pubkey {
    uint8_t id[XCHG_KEYID_BYTES];        /* derived from the two public keys */
    uint8_t sign_pk[XCHG_SIGN_PK_BYTES]; /* Ed25519 */
    uint8_t box_pk[XCHG_BOX_PK_BYTES];   /* X25519 */
    char label[XCHG_LABEL_MAX + 1];      /* informational; UTF-8, may be empty */
} xchg_pubkey;

typedef struct xchg_seckey xchg_seckey;

/* Argon2id cost for protecting a secret key file. */
typedef struct xchg_kdf_limits {
    uint64_t opslimit;
    uint64_t memlimit;
} xchg_kdf_limits;

/* Defaults: libsodium's MODERATE limits (3 passes, 256 MiB). */
XCHG_API xchg_kdf_limits xchg_kdf_default(void);

/* The 16-character lower-case hex form of a key id into out (17 bytes). */
XCHG_API void xchg_keyid_hex(const uint8_t id[XCHG_KEYID_BYTES], char out[XCHG_KEYID_HEXLEN + 1]);

/* Compute the key id of sign_pk/box_pk into pk->id. */
XCHG_API void xchg_pubkey_derive_id(xchg_pubkey *pk);

/* "xk1:..." text form of pk into out. */
XCHG_API void xchg_pubkey_to_string(const xchg_pubkey *pk, char out[XCHG_PUBKEY_STRLEN]);

/*
 * Parse the "xk1:..." text form (len bytes at s). The embedded key id must match the
 * keys (catches typing and copying mistakes). The label is left empty.
 * XCHG_ERR_FORMAT / XCHG_ERR_VERSION with a message in d; *pk untouched on error.
 */
XCHG_API xchg_err xchg_pubkey_from_string(const char *s, size_t len, xchg_pubkey *pk,
                                          xchg_diag *d) XCHG_MUST_CHECK;

/* Make a new key pair with the given label (may be NULL). *out on success only. */
XCHG_API xchg_err xchg_seckey_generate(const char *label, xchg_seckey **out);

/* Deterministic key pair from a 32-byte seed (tests and known-answer vectors only). */
XCHG_API xchg_err xchg_seckey_from_seed(const uint8_t seed[32], const char *label,
                                        xchg_seckey **out);

/* Wipes and releases k; accepts NULL. */
XCHG_API void xchg_seckey_free(xchg_seckey *k);

/* The public half of k; valid as long as k. */
XCHG_API const xchg_pubkey *xchg_seckey_public(const xchg_seckey *k);

/*
 * Write the secret key file (mode 0600) and nothing else. With pass != NULL the keys are
 * encrypted with XChaCha20-Poly1305 under an Argon2id key from pass (limits NULL =
 * defaults); otherwise stored in the clear with a checksum. Refuses an existing file
 * unless force. Atomic: on error nothing is written.
 */
XCHG_API xchg_err xchg_seckey_save(const xchg_seckey *k, const char *path, const char *pass,
                                   size_t passlen, const xchg_kdf_limits *limits, int force,
                                   xchg_diag *d);

/*
 * Read the public parts of a secret key file without the passphrase: fills pub (may be
 * NULL) and *is_protected (may be NULL). Errors as for xchg_seckey_load.
 */
XCHG_API xchg_err xchg_seckey_peek(const char *path, xchg_pubkey *pub, int *is_protected,
                                   xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Load a secret key file. pass is required when the file is protected
 * (XCHG_ERR_PASSPHRASE when missing or wrong). A damaged file gives XCHG_ERR_FORMAT,
 * XCHG_ERR_TRUNCATED or XCHG_ERR_VERIFY, each with a message naming the file. The
 * secret keys are checked against the stored public keys before *out is set.
 */
XCHG_API xchg_err xchg_seckey_load(const char *path, const char *pass, size_t passlen,
                                   xchg_seckey **out, xchg_diag *d) XCHG_MUST_CHECK;

/* Write a public key file ("untrusted comment" + "xk1:" line). Atomic, 0644. */
XCHG_API xchg_err xchg_pubkey_save(const xchg_pubkey *pk, const char *path, int force,
                                   xchg_diag *d);

/* Read a public key file; the label comes from its comment line (untrusted). */
XCHG_API xchg_err xchg_pubkey_load(const char *path, xchg_pubkey *pk, xchg_diag *d) XCHG_MUST_CHECK;

/* Ed25519 signature of msg with k. */
XCHG_API void xchg_sign(const xchg_seckey *k, const void *msg, size_t len,
                        uint8_t sig[XCHG_SIG_BYTES]);

/* XCHG_OK when sig is pk's Ed25519 signature of msg, XCHG_ERR_VERIFY otherwise. */
XCHG_API xchg_err xchg_verify(const xchg_pubkey *pk, const void *msg, size_t len,
                              const uint8_t sig[XCHG_SIG_BYTES]) XCHG_MUST_CHECK;

/*
 * Anonymous public-key encryption of msg to pk's box key (libsodium crypto_box_seal):
 * out receives len + XCHG_BOX_OVERHEAD bytes.
 */
XCHG_API xchg_err xchg_box_seal(const xchg_pubkey *pk, const void *msg, size_t len, uint8_t *out);

/* Open a crypto_box_seal message with k into out (clen - XCHG_BOX_OVERHEAD bytes). */
XCHG_API xchg_err xchg_box_open(const xchg_seckey *k, const uint8_t *c, size_t clen,
                                uint8_t *out) XCHG_MUST_CHECK;

/* ---- keyrings ------------------------------------------------------------------- */

typedef struct xchg_keyring xchg_keyring;

XCHG_API xchg_keyring *xchg_keyring_new(void);
XCHG_API void xchg_keyring_free(xchg_keyring *kr);

/* Add a copy of pk. Adding the same key twice is a no-op; two different keys with one id
 * give XCHG_ERR_FORMAT. */
XCHG_API xchg_err xchg_keyring_add(xchg_keyring *kr, const xchg_pubkey *pk);

/*
 * Load a keyring file: one "xk1:... label" per line, '#' comments and blank lines
 * ignored. Errors name file and line. On error kr is unchanged.
 */
XCHG_API xchg_err xchg_keyring_load(xchg_keyring *kr, const char *path,
                                    xchg_diag *d) XCHG_MUST_CHECK;

/* Write kr as a keyring file (atomic). */
XCHG_API xchg_err xchg_keyring_save(const xchg_keyring *kr, const char *path, int force,
                                    xchg_diag *d);

XCHG_API size_t xchg_keyring_count(const xchg_keyring *kr);
XCHG_API const xchg_pubkey *xchg_keyring_at(const xchg_keyring *kr, size_t i);
/* The key with this id, or NULL. */
XCHG_API const xchg_pubkey *xchg_keyring_find(const xchg_keyring *kr,
                                              const uint8_t id[XCHG_KEYID_BYTES]);
/* The key whose id's hex form is hex (16 characters), or NULL. */
XCHG_API const xchg_pubkey *xchg_keyring_find_hex(const xchg_keyring *kr, const char *hex);

#ifdef __cplusplus
}
#endif
#endif
