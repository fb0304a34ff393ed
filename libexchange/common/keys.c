/*
 * Party keys and key files. Formats: docs/keys.md.
 *
 * Secret key body (244 bytes, base64 after "xsk1:"):
 *   0  "XS"        algorithm tag: Ed25519 signing + X25519 box keys
 *   2  "A2" | "NP" protection: Argon2id + XChaCha20-Poly1305, or none (checksum only)
 *   4  key id (8)  12 Ed25519 pk (32)  44 X25519 pk (32)
 *   76 salt (16)   92 opslimit (u64le) 100 memlimit (u64le)  108 nonce (24)
 *   132 secret keys (Ed25519 sk 64 || X25519 sk 32), encrypted when "A2"
 *   228 tag (16): Poly1305 tag over bytes 0..131 as associated data, or BLAKE2b-128 of
 *       bytes 0..227 when "NP"
 */
#include "exchange/keys.h"
#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SK_BODY 244
#define SK_OFF_ID 4
#define SK_OFF_EDPK 12
#define SK_OFF_XPK 44
#define SK_OFF_SALT 76
#define SK_OFF_OPS 92
#define SK_OFF_MEM 100
#define SK_OFF_NONCE 108
#define SK_OFF_SECRET 132
#define SK_SECRET_LEN 96
#define SK_OFF_TAG 228
#define PK_BODY 74
#define KEYFILE_MAX 4096

#define PUB_PREFIX "xk1:"
#define SEC_PREFIX "xsk1:"
#define COMMENT_PREFIX "untrusted comment: "

struct xchg_seckey {
    xchg_pubkey pub;
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t box_sk[crypto_box_SECRETKEYBYTES];
};

const uint8_t *xchg__seckey_sign_sk(const xchg_seckey *k) { return k->sign_sk; }
const uint8_t *xchg__seckey_box_sk(const xchg_seckey *k) { return k->box_sk; }

xchg_kdf_limits xchg_kdf_default(void)
{
    return (xchg_kdf_limits){crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

void xchg_keyid_hex(const uint8_t id[XCHG_KEYID_BYTES], char out[XCHG_KEYID_HEXLEN + 1])
{
    xchg_hex_encode(out, id, XCHG_KEYID_BYTES);
}

void xchg_pubkey_derive_id(xchg_pubkey *pk)
{
    static const char ctx[] = "exchange key id v1";
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof ctx - 1);
    crypto_generichash_update(&st, (const uint8_t *)"XK", 2);
    crypto_generichash_update(&st, pk->sign_pk, sizeof pk->sign_pk);
    crypto_generichash_update(&st, pk->box_pk, sizeof pk->box_pk);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(pk->id, h, XCHG_KEYID_BYTES);
}

void xchg_pubkey_to_string(const xchg_pubkey *pk, char out[XCHG_PUBKEY_STRLEN])
{
    uint8_t body[PK_BODY];
    memcpy(body, "XK", 2);
    memcpy(body + 2, pk->id, XCHG_KEYID_BYTES);
    memcpy(body + 10, pk->sign_pk, 32);
    memcpy(body + 42, pk->box_pk, 32);
    memcpy(out, PUB_PREFIX, 4);
    xchg_base64_encode(out + 4, body, sizeof body);
}

xchg_err xchg_pubkey_from_string(const char *s, size_t len, xchg_pubkey *pk, xchg_diag *d)
{
    uint8_t body[PK_BODY + 1];
    size_t n = 0;
    if (len < 4 || memcmp(s, PUB_PREFIX, 4) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "not an exchange public key (expected text starting \"xk1:\")");
        return XCHG_ERR_FORMAT;
    }
    if (xchg_base64_decode(body, sizeof body, &n, s + 4, len - 4) != XCHG_OK || n != PK_BODY) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "public key is damaged: expected %d bytes of base64 after \"xk1:\"",
                      PK_BODY);
        return XCHG_ERR_FORMAT;
    }
    if (memcmp(body, "XK", 2) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "public key has unknown algorithm tag");
        return XCHG_ERR_VERSION;
    }
    xchg_pubkey tmp = {0};
    memcpy(tmp.sign_pk, body + 10, 32);
    memcpy(tmp.box_pk, body + 42, 32);
    xchg_pubkey_derive_id(&tmp);
    if (memcmp(tmp.id, body + 2, XCHG_KEYID_BYTES) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "public key is damaged: its key id does not match its keys");
        return XCHG_ERR_VERIFY;
    }
    *pk = tmp;
    return XCHG_OK;
}

static int label_ok(const char *label)
{
    if (!label)
        return 1;
    size_t n = strlen(label);
    if (n > XCHG_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            return 0;
    return 1;
}

static xchg_seckey *seckey_alloc(void)
{
    xchg_seckey *k = sodium_malloc(sizeof *k);
    if (k)
        memset(k, 0, sizeof *k);
    return k;
}

static xchg_err seckey_finish(xchg_seckey *k, const char *label, xchg_seckey **out)
{
    if (label)
        xchg__strlcpy(k->pub.label, label, strlen(label), sizeof k->pub.label);
    xchg_pubkey_derive_id(&k->pub);
    *out = k;
    return XCHG_OK;
}

xchg_err xchg_seckey_generate(const char *label, xchg_seckey **out)
{
    if (!out || !label_ok(label))
        return XCHG_ERR_ARG;
    xchg_seckey *k = seckey_alloc();
    if (!k)
        return XCHG_ERR_NOMEM;
    if (crypto_sign_keypair(k->pub.sign_pk, k->sign_sk) != 0 ||
        crypto_box_keypair(k->pub.box_pk, k->box_sk) != 0) {
        xchg_seckey_free(k);
        return XCHG_ERR_CRYPTO;
    }
    return seckey_finish(k, label, out);
}

xchg_err xchg_seckey_from_seed(const uint8_t seed[32], const char *label, xchg_seckey **out)
{
    if (!out || !seed || !label_ok(label))
        return XCHG_ERR_ARG;
    xchg_seckey *k = seckey_alloc();
    if (!k)
        return XCHG_ERR_NOMEM;
    /* Separate seeds for the two keys so neither key reveals the other. */
    uint8_t s2[32];
    crypto_generichash(s2, sizeof s2, seed, 32, (const uint8_t *)"exchange box seed", 17);
    if (crypto_sign_seed_keypair(k->pub.sign_pk, k->sign_sk, seed) != 0 ||
        crypto_box_seed_keypair(k->pub.box_pk, k->box_sk, s2) != 0) {
        sodium_memzero(s2, sizeof s2);
        xchg_seckey_free(k);
        return XCHG_ERR_CRYPTO;
    }
    sodium_memzero(s2, sizeof s2);
    return seckey_finish(k, label, out);
}

void xchg_seckey_free(xchg_seckey *k)
{
    if (k)
        sodium_free(k); /* sodium_free wipes before releasing */
}

const xchg_pubkey *xchg_seckey_public(const xchg_seckey *k) { return k ? &k->pub : NULL; }

xchg_err xchg__kdf(uint8_t *key, size_t keylen, const char *pass, size_t passlen,
                   const uint8_t *salt, uint64_t ops, uint64_t mem)
{
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > ((uint64_t)4 << 30))
        return XCHG_ERR_FORMAT;
    if (crypto_pwhash(key, keylen, pass, passlen, salt, ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return XCHG_ERR_NOMEM;
    return XCHG_OK;
}



static void body_checksum(const uint8_t *body, uint8_t tag[16])
{
    crypto_generichash(tag, 16, body, SK_OFF_TAG, NULL, 0);
}

xchg_err xchg_seckey_save(const xchg_seckey *k, const char *path, const char *pass,
                          size_t passlen, const xchg_kdf_limits *limits, int force,
                          xchg_diag *d)
{
    if (!k || !path)
        return XCHG_ERR_ARG;
    xchg_err rc = XCHG_ERR_NOMEM;
    uint8_t *body = sodium_malloc(SK_BODY);
    uint8_t *key = sodium_malloc(32);
    size_t b64len = xchg_base64_len(SK_BODY);
    size_t cap = 512 + b64len;
    char *text = sodium_malloc(cap);
    char idhex[XCHG_KEYID_HEXLEN + 1];
    if (!body || !key || !text)
        goto cleanup;
    memset(body, 0, SK_BODY);
    memcpy(body, "XS", 2);
    memcpy(body + SK_OFF_ID, k->pub.id, XCHG_KEYID_BYTES);
    memcpy(body + SK_OFF_EDPK, k->pub.sign_pk, 32);
    memcpy(body + SK_OFF_XPK, k->pub.box_pk, 32);
    memcpy(body + SK_OFF_SECRET, k->sign_sk, 64);
    memcpy(body + SK_OFF_SECRET + 64, k->box_sk, 32);
    if (pass) {
        xchg_kdf_limits lim = limits ? *limits : xchg_kdf_default();
        memcpy(body + 2, "A2", 2);
        randombytes_buf(body + SK_OFF_SALT, 16);
        xchg__put_u64le(body + SK_OFF_OPS, lim.opslimit);
        xchg__put_u64le(body + SK_OFF_MEM, lim.memlimit);
        randombytes_buf(body + SK_OFF_NONCE, 24);
        if ((rc = xchg__kdf(key, 32, pass, passlen, body + SK_OFF_SALT, lim.opslimit,
                            lim.memlimit)) != XCHG_OK) {
            rc = rc == XCHG_ERR_FORMAT ? XCHG_ERR_ARG : rc;
            goto cleanup;
        }
        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
            body + SK_OFF_SECRET, body + SK_OFF_TAG, NULL, body + SK_OFF_SECRET, SK_SECRET_LEN,
            body, SK_OFF_SECRET, NULL, body + SK_OFF_NONCE, key);
    } else {
        memcpy(body + 2, "NP", 2);
        body_checksum(body, body + SK_OFF_TAG);
    }
    xchg_keyid_hex(k->pub.id, idhex);
    int n = snprintf(text, cap, COMMENT_PREFIX "exchange secret key %s %s\n", idhex,
                     k->pub.label);
    if (n < 0 || (size_t)n + b64len + 1 > cap) {
        rc = XCHG_ERR_ARG;
        goto cleanup;
    }
    rc = xchg__armour_write(path, text, SEC_PREFIX, body, SK_BODY, force, d);
cleanup:
    sodium_free(body);
    sodium_free(key);
    sodium_free(text);
    return rc;
}

/* Split a key file into its comment (label part) and key line. Lines may end in CRLF. */
static xchg_err split_keyfile(const char *path, char *buf, size_t len, const char *prefix,
                              const char **label, size_t *labellen, const char **key,
                              size_t *keylen, xchg_diag *d)
{
    char *nl = memchr(buf, '\n', len);
    if (!nl || strncmp(buf, COMMENT_PREFIX, strlen(COMMENT_PREFIX)) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 1, 0,
                      "not an exchange key file (first line must be \"untrusted comment: ...\")");
        return XCHG_ERR_FORMAT;
    }
    const char *c = buf + strlen(COMMENT_PREFIX);
    size_t clen = (size_t)(nl - c);
    if (clen && c[clen - 1] == '\r')
        clen--;
    *label = c;
    *labellen = clen;
    char *k = nl + 1;
    size_t rest = len - (size_t)(k - buf);
    char *e = memchr(k, '\n', rest);
    size_t klen = e ? (size_t)(e - k) : rest;
    if (klen && k[klen - 1] == '\r')
        klen--;
    if (e) {
        /* nothing but blank space may follow the key line */
        for (const char *p = e + 1; p < buf + len; p++)
            if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t') {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 3, 0, "unexpected text after the key line");
                return XCHG_ERR_FORMAT;
            }
    }
    if (klen == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0, "key line is missing (file truncated?)");
        return XCHG_ERR_TRUNCATED;
    }
    if (klen < strlen(prefix) || memcmp(k, prefix, strlen(prefix)) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 1, "key line must start with \"%s\"%s", prefix,
                      strcmp(prefix, SEC_PREFIX) == 0 && klen >= 4 && memcmp(k, PUB_PREFIX, 4) == 0
                          ? " (this is a public key file)"
                          : "");
        return XCHG_ERR_FORMAT;
    }
    *key = k + strlen(prefix);
    *keylen = klen - strlen(prefix);
    return XCHG_OK;
}

/* The comment of a secret key file is "exchange secret key <id> <label>". */
static void label_from_comment(char *dst, size_t cap, const char *c, size_t n, const char *lead)
{
    size_t ll = strlen(lead);
    if (n >= ll && memcmp(c, lead, ll) == 0) {
        c += ll;
        n -= ll;
        /* skip the key id word */
        const char *sp = memchr(c, ' ', n);
        if (sp) {
            n -= (size_t)(sp + 1 - c);
            c = sp + 1;
        } else {
            n = 0;
        }
    }
    xchg__strlcpy(dst, c, n, cap);
}

static xchg_err read_sk_body(const char *path, uint8_t *body, char *label, size_t labelcap,
                             xchg_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    xchg_err rc = xchg_file_read_secret(path, KEYFILE_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    const char *lab, *key;
    size_t labn, keyn, n = 0;
    rc = split_keyfile(path, buf, len, SEC_PREFIX, &lab, &labn, &key, &keyn, d);
    if (rc != XCHG_OK)
        goto cleanup;
    if (label)
        label_from_comment(label, labelcap, lab, labn, "exchange secret key ");
    uint8_t tmp[SK_BODY + 3];
    if (keyn < xchg_base64_len(SK_BODY) - 1) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                      "secret key is truncated (%zu of %zu base64 characters)", keyn,
                      xchg_base64_len(SK_BODY) - 1);
        rc = XCHG_ERR_TRUNCATED;
    } else if (xchg_base64_decode(tmp, sizeof tmp, &n, key, keyn) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0, "secret key is damaged (invalid base64)");
        rc = XCHG_ERR_FORMAT;
    } else if (n < SK_BODY) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                      "secret key is truncated (%zu of %d bytes)", n, SK_BODY);
        rc = XCHG_ERR_TRUNCATED;
    } else if (n > SK_BODY) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0, "secret key is too long (%zu bytes)", n);
        rc = XCHG_ERR_FORMAT;
    } else if (memcmp(tmp, "XS", 2) != 0 ||
               (memcmp(tmp + 2, "A2", 2) != 0 && memcmp(tmp + 2, "NP", 2) != 0)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                      "secret key has an unknown algorithm or protection tag");
        rc = XCHG_ERR_VERSION;
    } else {
        memcpy(body, tmp, SK_BODY);
    }
    sodium_memzero(tmp, sizeof tmp);
cleanup:
    xchg_secure_free(buf);
    return rc;
}

xchg_err xchg_seckey_peek(const char *path, xchg_pubkey *pub, int *is_protected, xchg_diag *d)
{
    uint8_t *body = sodium_malloc(SK_BODY);
    if (!body)
        return XCHG_ERR_NOMEM;
    xchg_pubkey p = {0};
    xchg_err rc = read_sk_body(path, body, p.label, sizeof p.label, d);
    if (rc == XCHG_OK) {
        memcpy(p.sign_pk, body + SK_OFF_EDPK, 32);
        memcpy(p.box_pk, body + SK_OFF_XPK, 32);
        xchg_pubkey_derive_id(&p);
        if (memcmp(p.id, body + SK_OFF_ID, XCHG_KEYID_BYTES) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                          "secret key file is damaged: key id does not match its public keys");
            rc = XCHG_ERR_VERIFY;
        } else {
            if (pub)
                *pub = p;
            if (is_protected)
                *is_protected = memcmp(body + 2, "A2", 2) == 0;
        }
    }
    sodium_free(body);
    return rc;
}

xchg_err xchg_seckey_load(const char *path, const char *pass, size_t passlen, xchg_seckey **out,
                          xchg_diag *d)
{
    if (!path || !out)
        return XCHG_ERR_ARG;
    uint8_t *body = sodium_malloc(SK_BODY);
    uint8_t *key = sodium_malloc(32);
    xchg_seckey *k = seckey_alloc();
    xchg_err rc = XCHG_ERR_NOMEM;
    if (!body || !key || !k)
        goto cleanup;
    if ((rc = read_sk_body(path, body, k->pub.label, sizeof k->pub.label, d)) != XCHG_OK)
        goto cleanup;
    if (memcmp(body + 2, "A2", 2) == 0) {
        if (!pass) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "secret key is passphrase-protected; a passphrase is needed");
            rc = XCHG_ERR_PASSPHRASE;
            goto cleanup;
        }
        rc = xchg__kdf(key, 32, pass, passlen, body + SK_OFF_SALT,
                       xchg__get_u64le(body + SK_OFF_OPS), xchg__get_u64le(body + SK_OFF_MEM));
        if (rc == XCHG_ERR_FORMAT)
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                          "secret key is damaged: key-derivation limits out of range");
        if (rc != XCHG_OK)
            goto cleanup;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                body + SK_OFF_SECRET, NULL, body + SK_OFF_SECRET, SK_SECRET_LEN,
                body + SK_OFF_TAG, body, SK_OFF_SECRET, body + SK_OFF_NONCE, key) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "wrong passphrase, or the secret key file is damaged");
            rc = XCHG_ERR_PASSPHRASE;
            goto cleanup;
        }
    } else {
        uint8_t tag[16];
        body_checksum(body, tag);
        if (sodium_memcmp(tag, body + SK_OFF_TAG, 16) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                          "secret key file is damaged (checksum mismatch)");
            rc = XCHG_ERR_VERIFY;
            goto cleanup;
        }
    }
    memcpy(k->sign_sk, body + SK_OFF_SECRET, 64);
    memcpy(k->box_sk, body + SK_OFF_SECRET + 64, 32);
    memcpy(k->pub.sign_pk, body + SK_OFF_EDPK, 32);
    memcpy(k->pub.box_pk, body + SK_OFF_XPK, 32);
    xchg_pubkey_derive_id(&k->pub);
    /* The secret halves must belong to the public keys recorded beside them. */
    uint8_t chk[32];
    crypto_scalarmult_base(chk, k->box_sk);
    int bad = memcmp(k->pub.id, body + SK_OFF_ID, XCHG_KEYID_BYTES) != 0 ||
              memcmp(chk, k->pub.box_pk, 32) != 0 ||
              memcmp(k->sign_sk + 32, k->pub.sign_pk, 32) != 0;
    if (bad) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0,
                      "secret key file is damaged: secret and public keys do not match");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    *out = k;
    k = NULL;
    rc = XCHG_OK;
cleanup:
    sodium_free(body);
    sodium_free(key);
    xchg_seckey_free(k);
    return rc;
}

xchg_err xchg_pubkey_save(const xchg_pubkey *pk, const char *path, int force, xchg_diag *d)
{
    char s[XCHG_PUBKEY_STRLEN], idhex[XCHG_KEYID_HEXLEN + 1];
    char text[600];
    xchg_pubkey_to_string(pk, s);
    xchg_keyid_hex(pk->id, idhex);
    int n = snprintf(text, sizeof text, COMMENT_PREFIX "exchange public key %s %s\n%s\n", idhex,
                     pk->label, s);
    if (n < 0 || (size_t)n >= sizeof text)
        return XCHG_ERR_ARG;
    return xchg_file_write_atomic(path, text, (size_t)n, 0644, force ? XCHG_WRITE_OVERWRITE : 0,
                                  d);
}

xchg_err xchg_pubkey_load(const char *path, xchg_pubkey *pk, xchg_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    xchg_err rc = xchg_file_read(path, KEYFILE_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    const char *lab, *key;
    size_t labn, keyn;
    rc = split_keyfile(path, buf, len, PUB_PREFIX, &lab, &labn, &key, &keyn, d);
    if (rc == XCHG_OK) {
        xchg_pubkey p;
        xchg_diag *tmp = xchg_diag_new();
        rc = xchg_pubkey_from_string(key - 4, keyn + 4, &p, tmp);
        if (rc == XCHG_OK) {
            label_from_comment(p.label, sizeof p.label, lab, labn, "exchange public key ");
            *pk = p;
        } else {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 0, "%s",
                          xchg_diag_count(tmp) ? xchg_diag_message(tmp, 0) : xchg_strerror(rc));
        }
        xchg_diag_free(tmp);
    }
    free(buf);
    return rc;
}

void xchg_sign(const xchg_seckey *k, const void *msg, size_t len, uint8_t sig[XCHG_SIG_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, k->sign_sk);
}

xchg_err xchg_verify(const xchg_pubkey *pk, const void *msg, size_t len,
                     const uint8_t sig[XCHG_SIG_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, pk->sign_pk) == 0 ? XCHG_OK
                                                                         : XCHG_ERR_VERIFY;
}

xchg_err xchg_box_seal(const xchg_pubkey *pk, const void *msg, size_t len, uint8_t *out)
{
    return crypto_box_seal(out, msg, len, pk->box_pk) == 0 ? XCHG_OK : XCHG_ERR_CRYPTO;
}

xchg_err xchg_box_open(const xchg_seckey *k, const uint8_t *c, size_t clen, uint8_t *out)
{
    if (clen < crypto_box_SEALBYTES)
        return XCHG_ERR_TRUNCATED;
    return crypto_box_seal_open(out, c, clen, k->pub.box_pk, k->box_sk) == 0 ? XCHG_OK
                                                                               : XCHG_ERR_VERIFY;
}
