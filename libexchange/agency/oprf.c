/*
 * The verifiable OPRF (oprf.h): RFC 9497's VOPRF mode over ristretto255 with BLAKE2b-512
 * as the hash, composed only of libsodium 1.0.18 operations (docs/keyd.md), plus the
 * agency's batching, caching client. Every byte string hashed is length-prefixed
 * (I2OSP(len, 2) as in the RFC) and ends or starts with a domain label.
 */
#include "exchange/oprf.h"
#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "exchange/keys.h"
#include "hmap.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EL XCHG_OPRF_ELEMENT_BYTES
#define SC XCHG_OPRF_SCALAR_BYTES
#define KEYFILE_TAG "xchg-oprf-key v1\n"

/* ---- hashing (RFC 9497 §4: HashToGroup, HashToScalar, Hash) ------------------------- */

static void put_len(crypto_generichash_state *st, size_t n)
{
    uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)(n & 0xff)}; /* I2OSP(n, 2): big-endian */
    crypto_generichash_update(st, b, 2);
}

/* BLAKE2b-512(I2OSP(len(dst),2) || dst || msg): the expand_message_xmd of the RFC's suite
 * replaced by one BLAKE2b-512 call, keeping the DST and its length in front. */
static void hash_dst(const char *prefix, const uint8_t *msg, size_t len, uint8_t out[64])
{
    char dst[96];
    int dl = snprintf(dst, sizeof dst, "%s%s", prefix, XCHG_OPRF_CONTEXT);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 64);
    put_len(&st, (size_t)dl);
    crypto_generichash_update(&st, (const uint8_t *)dst, (size_t)dl);
    crypto_generichash_update(&st, msg, len);
    crypto_generichash_final(&st, out, 64);
    sodium_memzero(&st, sizeof st);
}

xchg_err xchg_oprf_hash_to_group(const uint8_t *input, size_t len, uint8_t p[EL])
{
    if ((!input && len) || len > XCHG_OPRF_MAX_INPUT)
        return XCHG_ERR_ARG;
    uint8_t h[64];
    hash_dst("HashToGroup-", input, len, h);
    int r = crypto_core_ristretto255_from_hash(p, h);
    sodium_memzero(h, sizeof h);
    return r == 0 ? XCHG_OK : XCHG_ERR_CRYPTO;
}

static void hash_to_scalar(const uint8_t *msg, size_t len, uint8_t s[SC])
{
    uint8_t h[64];
    hash_dst("HashToScalar-", msg, len, h);
    crypto_core_ristretto255_scalar_reduce(s, h);
    sodium_memzero(h, sizeof h);
}

static int is_zero(const uint8_t *b, size_t n)
{
    return sodium_is_zero(b, n);
}

/* A valid encoding of a point other than the identity. */
static int good_point(const uint8_t p[EL])
{
    return !is_zero(p, EL) && crypto_core_ristretto255_is_valid_point(p);
}

/* A canonical non-zero scalar (sc < L). */
static int good_scalar(const uint8_t s[SC])
{
    uint8_t t[SC], zero[SC] = {0};
    if (is_zero(s, SC))
        return 0;
    crypto_core_ristretto255_scalar_add(t, s, zero); /* reduces mod L */
    int ok = sodium_memcmp(t, s, SC) == 0;
    sodium_memzero(t, sizeof t);
    return ok;
}

/* ---- keys -------------------------------------------------------------------------- */

xchg_err xchg_oprf_keygen(uint8_t sk[SC], uint8_t pk[EL])
{
    do
        crypto_core_ristretto255_scalar_random(sk);
    while (is_zero(sk, SC));
    return crypto_scalarmult_ristretto255_base(pk, sk) == 0 ? XCHG_OK : XCHG_ERR_CRYPTO;
}

xchg_err xchg_oprf_public(const uint8_t sk[SC], uint8_t pk[EL])
{
    if (!good_scalar(sk))
        return XCHG_ERR_FORMAT;
    return crypto_scalarmult_ristretto255_base(pk, sk) == 0 ? XCHG_OK : XCHG_ERR_CRYPTO;
}

xchg_err xchg_oprf_key_write(const char *path, const uint8_t sk[SC], int overwrite)
{
    if (!path || !good_scalar(sk))
        return XCHG_ERR_ARG;
    size_t tl = strlen(KEYFILE_TAG);
    char *buf = sodium_malloc(tl + 2 * SC + 2);
    if (!buf)
        return XCHG_ERR_NOMEM;
    memcpy(buf, KEYFILE_TAG, tl);
    xchg_hex_encode(buf + tl, sk, SC);
    buf[tl + 2 * SC] = '\n';
    xchg_err e = xchg_file_write_atomic(path, buf, tl + 2 * SC + 1, 0600,
                                        overwrite ? XCHG_WRITE_OVERWRITE : 0, NULL);
    sodium_free(buf);
    return e;
}

/*
 * A protected key file (docs/formats.md): "xchg-oprf-key v2\n", then the hex of
 *   "A2" | K (32) | salt (16) | opslimit (u64le) | memlimit (u64le) | nonce (24) |
 *   XChaCha20-Poly1305(k) (32 + 16)
 * under the Argon2id key of the passphrase, everything before the ciphertext (tag line
 * included) as associated data. K is in the clear so a file can be matched to an
 * agreement without the passphrase.
 */
#define KEYFILE_TAG2 "xchg-oprf-key v2\n"
#define P_OFF_PK 2
#define P_OFF_SALT 34
#define P_OFF_OPS 50
#define P_OFF_MEM 58
#define P_OFF_NONCE 66
#define P_OFF_CT 90
#define P_BODY (P_OFF_CT + SC + crypto_aead_xchacha20poly1305_ietf_ABYTES)


/* The associated data: the tag line and the body up to the ciphertext. */
static void p_ad(const uint8_t *body, uint8_t ad[sizeof KEYFILE_TAG2 - 1 + P_OFF_CT])
{
    memcpy(ad, KEYFILE_TAG2, sizeof KEYFILE_TAG2 - 1);
    memcpy(ad + sizeof KEYFILE_TAG2 - 1, body, P_OFF_CT);
}


xchg_err xchg_oprf_key_write_protected(const char *path, const uint8_t sk[SC], const char *pass,
                                       size_t passlen, const xchg_kdf_limits *limits, int overwrite)
{
    if (!path || !pass || !passlen || !good_scalar(sk))
        return XCHG_ERR_ARG;
    xchg_kdf_limits lim = limits ? *limits : xchg_kdf_default();
    size_t tl = sizeof KEYFILE_TAG2 - 1, flen = tl + 2 * P_BODY + 1;
    uint8_t *body = sodium_malloc(P_BODY), *key = sodium_malloc(32);
    char *buf = sodium_malloc(flen + 1);
    uint8_t ad[sizeof KEYFILE_TAG2 - 1 + P_OFF_CT];
    xchg_err e = XCHG_ERR_NOMEM;
    if (!body || !key || !buf)
        goto cleanup;
    memcpy(body, "A2", 2);
    if ((e = xchg_oprf_public(sk, body + P_OFF_PK)) != XCHG_OK)
        goto cleanup;
    randombytes_buf(body + P_OFF_SALT, 16);
    xchg__put_u64le(body + P_OFF_OPS, lim.opslimit);
    xchg__put_u64le(body + P_OFF_MEM, lim.memlimit);
    randombytes_buf(body + P_OFF_NONCE, 24);
    if ((e = xchg__kdf(key, 32, pass, passlen, body + P_OFF_SALT, lim.opslimit,
                       lim.memlimit)) != XCHG_OK)
        goto cleanup;
    p_ad(body, ad);
    crypto_aead_xchacha20poly1305_ietf_encrypt(body + P_OFF_CT, NULL, sk, SC, ad, sizeof ad, NULL,
                                               body + P_OFF_NONCE, key);
    memcpy(buf, KEYFILE_TAG2, tl);
    xchg_hex_encode(buf + tl, body, P_BODY);
    buf[tl + 2 * P_BODY] = '\n';
    e = xchg_file_write_atomic(path, buf, flen, 0600, overwrite ? XCHG_WRITE_OVERWRITE : 0, NULL);
cleanup:
    if (body)
        sodium_free(body);
    if (key)
        sodium_free(key);
    if (buf)
        sodium_free(buf);
    return e;
}

/* The file's bytes (checked for mode first), or an error naming it. */
static xchg_err key_file_bytes(const char *path, char **buf, size_t *len, xchg_diag *d)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the OPRF key file is readable by others (mode %03o); chmod 600 it",
                      (unsigned)(sb.st_mode & 0777));
        return XCHG_ERR_DENIED;
    }
    return xchg_file_read_secret(path, 4096, buf, len, d);
}

xchg_err xchg_oprf_key_protected(const char *path, int *is_protected, xchg_diag *d)
{
    if (!path || !is_protected)
        return XCHG_ERR_ARG;
    char *buf = NULL;
    size_t len = 0;
    xchg_err e = key_file_bytes(path, &buf, &len, d);
    if (e != XCHG_OK)
        return e;
    size_t t2 = sizeof KEYFILE_TAG2 - 1, t1 = strlen(KEYFILE_TAG);
    if (len >= t2 && memcmp(buf, KEYFILE_TAG2, t2) == 0)
        *is_protected = 1;
    else if (len >= t1 && memcmp(buf, KEYFILE_TAG, t1) == 0)
        *is_protected = 0;
    else {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 1, 1, "not an OPRF key file (want '%.*s')",
                      (int)(t1 - 1), KEYFILE_TAG);
        e = XCHG_ERR_FORMAT;
    }
    sodium_memzero(buf, len);
    xchg_secure_free(buf);
    return e;
}

xchg_err xchg_oprf_key_load(const char *path, const char *pass, size_t passlen, uint8_t sk[SC],
                            xchg_diag *d)
{
    if (!path || !sk)
        return XCHG_ERR_ARG;
    char *buf = NULL;
    size_t len = 0, tl = strlen(KEYFILE_TAG), t2 = sizeof KEYFILE_TAG2 - 1;
    xchg_err e = key_file_bytes(path, &buf, &len, d);
    if (e != XCHG_OK)
        return e;
    uint8_t *body = NULL, *key = NULL;
    if (len >= t2 && memcmp(buf, KEYFILE_TAG2, t2) == 0) {
        size_t hl = len - t2;
        while (hl && (buf[t2 + hl - 1] == '\n' || buf[t2 + hl - 1] == '\r'))
            hl--;
        uint8_t ad[sizeof KEYFILE_TAG2 - 1 + P_OFF_CT];
        body = sodium_malloc(P_BODY);
        key = sodium_malloc(32);
        if (!body || !key)
            e = XCHG_ERR_NOMEM;
        else if (!pass) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "the OPRF key file is passphrase-protected: give its passphrase");
            e = XCHG_ERR_ARG;
        } else if (xchg_hex_decode(body, P_BODY, buf + t2, hl) != XCHG_OK ||
                   memcmp(body, "A2", 2) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 1,
                          "a protected OPRF key is \"A2\" and %d bytes, in hex", P_BODY - 2);
            e = XCHG_ERR_FORMAT;
        } else if ((e = xchg__kdf(key, 32, pass, passlen, body + P_OFF_SALT,
                                  xchg__get_u64le(body + P_OFF_OPS),
                                  xchg__get_u64le(body + P_OFF_MEM))) != XCHG_OK) {
            if (e == XCHG_ERR_FORMAT)
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 1,
                              "the key file's Argon2id limits are out of range");
        } else {
            p_ad(body, ad);
            uint8_t pk[EL];
            if (crypto_aead_xchacha20poly1305_ietf_decrypt(sk, NULL, NULL, body + P_OFF_CT,
                                                           P_BODY - P_OFF_CT, ad, sizeof ad,
                                                           body + P_OFF_NONCE, key) != 0) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                              "wrong passphrase for the OPRF key (or the file was altered)");
                e = XCHG_ERR_VERIFY;
            } else if (xchg_oprf_public(sk, pk) != XCHG_OK ||
                       sodium_memcmp(pk, body + P_OFF_PK, EL) != 0) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                              "the OPRF key does not match the public key in its file");
                e = XCHG_ERR_VERIFY;
            }
        }
    } else if (len < tl || memcmp(buf, KEYFILE_TAG, tl) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 1, 1, "not an OPRF key file (want '%.*s')",
                      (int)(tl - 1), KEYFILE_TAG);
        e = XCHG_ERR_FORMAT;
    } else {
        size_t hl = len - tl;
        while (hl && (buf[tl + hl - 1] == '\n' || buf[tl + hl - 1] == '\r'))
            hl--;
        if (xchg_hex_decode(sk, SC, buf + tl, hl) != XCHG_OK || !good_scalar(sk)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 2, 1,
                          "the key must be 64 hex digits of a non-zero reduced scalar");
            e = XCHG_ERR_FORMAT;
        }
    }
    if (e != XCHG_OK)
        sodium_memzero(sk, SC);
    if (body)
        sodium_free(body);
    if (key)
        sodium_free(key);
    sodium_memzero(buf, len);
    xchg_secure_free(buf);
    return e;
}

xchg_err xchg_oprf_key_read(const char *path, uint8_t sk[SC], xchg_diag *d)
{
    return xchg_oprf_key_load(path, NULL, 0, sk, d);
}

/* ---- blind / evaluate / verify / finalize ------------------------------------------- */

xchg_err xchg_oprf_blind(const uint8_t *input, size_t len, const uint8_t *blind_in,
                         uint8_t blind[SC], uint8_t blinded[EL])
{
    uint8_t p[EL];
    xchg_err e = xchg_oprf_hash_to_group(input, len, p);
    if (e != XCHG_OK)
        return e;
    if (blind_in) {
        if (!good_scalar(blind_in))
            return XCHG_ERR_ARG;
        memmove(blind, blind_in, SC);
    } else {
        do
            crypto_core_ristretto255_scalar_random(blind);
        while (is_zero(blind, SC));
    }
    if (crypto_scalarmult_ristretto255(blinded, blind, p) != 0)
        e = XCHG_ERR_CRYPTO; /* the identity: H(x) hit it, with negligible probability */
    sodium_memzero(p, sizeof p);
    return e;
}

/* The composite seed: Hash(len‖pk ‖ len‖"Seed-" ‖ contextString). */
static void composite_seed(const uint8_t pk[EL], uint8_t seed[64])
{
    crypto_generichash_state st;
    static const char seed_dst[] = "Seed-" XCHG_OPRF_CONTEXT;
    crypto_generichash_init(&st, NULL, 0, 64);
    put_len(&st, EL);
    crypto_generichash_update(&st, pk, EL);
    put_len(&st, sizeof seed_dst - 1);
    crypto_generichash_update(&st, (const uint8_t *)seed_dst, sizeof seed_dst - 1);
    crypto_generichash_final(&st, seed, 64);
}

/* d_i = HashToScalar(len‖seed ‖ I2OSP(i,2) ‖ len‖C_i ‖ len‖D_i ‖ "Composite") */
static void composite_weight(const uint8_t seed[64], size_t i, const uint8_t ci[EL],
                             const uint8_t di_el[EL], uint8_t di[SC])
{
    uint8_t in[2 + 64 + 2 + 2 + EL + 2 + EL + 9], *q = in;
    *q++ = 0, *q++ = 64;
    memcpy(q, seed, 64), q += 64;
    *q++ = (uint8_t)(i >> 8), *q++ = (uint8_t)(i & 0xff);
    *q++ = 0, *q++ = EL;
    memcpy(q, ci, EL), q += EL;
    *q++ = 0, *q++ = EL;
    memcpy(q, di_el, EL), q += EL;
    memcpy(q, "Composite", 9), q += 9;
    hash_to_scalar(in, (size_t)(q - in), di);
}

/*
 * ComputeComposites (RFC 9497 §2.2.1): the weights d_i from a seed bound to pk and each
 * (C_i, D_i) pair; M = Σ d_i·C_i, and Z = Σ d_i·D_i unless sk is given (the server's
 * ComputeCompositesFast: Z = sk·M). -1 on an invalid point.
 */
static int composites(const uint8_t pk[EL], const uint8_t (*c)[EL], const uint8_t (*dd)[EL],
                      size_t n, const uint8_t *sk, uint8_t m[EL], uint8_t z[EL])
{
    uint8_t seed[64], di[SC], t[EL];
    composite_seed(pk, seed);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        composite_weight(seed, i, c[i], dd[i], di);
        if (crypto_scalarmult_ristretto255(t, di, c[i]) != 0) {
            rc = -1;
            break;
        }
        if (i == 0)
            memcpy(m, t, EL);
        else if (crypto_core_ristretto255_add(m, m, t) != 0)
            rc = -1;
        if (!sk && rc == 0) {
            if (crypto_scalarmult_ristretto255(t, di, dd[i]) != 0)
                rc = -1;
            else if (i == 0)
                memcpy(z, t, EL);
            else if (crypto_core_ristretto255_add(z, z, t) != 0)
                rc = -1;
        }
    }
    if (rc == 0 && sk && crypto_scalarmult_ristretto255(z, sk, m) != 0)
        rc = -1;
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(di, sizeof di);
    return rc;
}

/* c = HashToScalar(len‖pk ‖ len‖M ‖ len‖Z ‖ len‖t2 ‖ len‖t3 ‖ "Challenge") */
static void challenge(const uint8_t pk[EL], const uint8_t m[EL], const uint8_t z[EL],
                      const uint8_t t2[EL], const uint8_t t3[EL], uint8_t c[SC])
{
    uint8_t in[5 * (2 + EL) + 9], *q = in;
    const uint8_t *parts[5] = {pk, m, z, t2, t3};
    for (int i = 0; i < 5; i++) {
        *q++ = 0, *q++ = EL;
        memcpy(q, parts[i], EL), q += EL;
    }
    memcpy(q, "Challenge", 9), q += 9;
    hash_to_scalar(in, (size_t)(q - in), c);
}

xchg_err xchg_oprf_evaluate(const uint8_t sk[SC], const uint8_t (*blinded)[EL], size_t n,
                            const uint8_t *proof_rand, uint8_t (*evaluated)[EL],
                            uint8_t proof[XCHG_OPRF_PROOF_BYTES])
{
    if (!sk || !blinded || !evaluated || !proof || n == 0 || n > XCHG_OPRF_MAX_BATCH ||
        !good_scalar(sk))
        return XCHG_ERR_ARG;
    uint8_t pk[EL], m[EL], z[EL], r[SC], t2[EL], t3[EL], c[SC], ck[SC];
    xchg_err e = XCHG_ERR_FORMAT;
    /* the multiplication decodes each element and fails on an invalid encoding (and, k
     * being non-zero in a prime-order group, only then); the identity is the all-zero
     * encoding. No separate validation pass: it would decode every point twice. */
    for (size_t i = 0; i < n; i++)
        if (is_zero(blinded[i], EL) ||
            crypto_scalarmult_ristretto255(evaluated[i], sk, blinded[i]) != 0)
            goto cleanup;
    e = XCHG_ERR_CRYPTO;
    if (crypto_scalarmult_ristretto255_base(pk, sk) != 0 ||
        composites(pk, blinded, (const uint8_t(*)[EL])evaluated, n, sk, m, z) != 0)
        goto cleanup;
    if (proof_rand) {
        if (!good_scalar(proof_rand)) {
            e = XCHG_ERR_ARG;
            goto cleanup;
        }
        memcpy(r, proof_rand, SC);
    } else {
        do
            crypto_core_ristretto255_scalar_random(r);
        while (is_zero(r, SC));
    }
    if (crypto_scalarmult_ristretto255_base(t2, r) != 0 ||
        crypto_scalarmult_ristretto255(t3, r, m) != 0)
        goto cleanup;
    challenge(pk, m, z, t2, t3, c);
    crypto_core_ristretto255_scalar_mul(ck, c, sk);
    memcpy(proof, c, SC);
    crypto_core_ristretto255_scalar_sub(proof + SC, r, ck); /* s = r - c·k */
    e = XCHG_OK;
cleanup:
    sodium_memzero(r, sizeof r);
    sodium_memzero(ck, sizeof ck);
    if (e != XCHG_OK)
        sodium_memzero(evaluated, n * EL);
    return e;
}

xchg_err xchg_oprf_verify(const uint8_t pk[EL], const uint8_t (*blinded)[EL],
                          const uint8_t (*evaluated)[EL], size_t n,
                          const uint8_t proof[XCHG_OPRF_PROOF_BYTES])
{
    if (!pk || !blinded || !evaluated || !proof || n == 0 || n > XCHG_OPRF_MAX_BATCH)
        return XCHG_ERR_ARG;
    if (!good_point(pk))
        return XCHG_ERR_VERIFY;
    for (size_t i = 0; i < n; i++)
        if (!good_point(blinded[i]) || !good_point(evaluated[i]))
            return XCHG_ERR_VERIFY;
    const uint8_t *c = proof, *s = proof + SC;
    uint8_t zero[SC] = {0}, t[SC];
    /* c and s must be canonical (s may be zero only with negligible probability) */
    crypto_core_ristretto255_scalar_add(t, c, zero);
    if (sodium_memcmp(t, c, SC) != 0)
        return XCHG_ERR_VERIFY;
    crypto_core_ristretto255_scalar_add(t, s, zero);
    if (sodium_memcmp(t, s, SC) != 0 || is_zero(s, SC) || is_zero(c, SC))
        return XCHG_ERR_VERIFY;
    uint8_t m[EL], z[EL], a[EL], b[EL], t2[EL], t3[EL], c2[SC];
    if (composites(pk, blinded, evaluated, n, NULL, m, z) != 0)
        return XCHG_ERR_VERIFY;
    /* t2 = s·G + c·K ; t3 = s·M + c·Z */
    if (crypto_scalarmult_ristretto255_base(a, s) != 0 ||
        crypto_scalarmult_ristretto255(b, c, pk) != 0 ||
        crypto_core_ristretto255_add(t2, a, b) != 0 ||
        crypto_scalarmult_ristretto255(a, s, m) != 0 ||
        crypto_scalarmult_ristretto255(b, c, z) != 0 || crypto_core_ristretto255_add(t3, a, b) != 0)
        return XCHG_ERR_VERIFY;
    challenge(pk, m, z, t2, t3, c2);
    return sodium_memcmp(c2, c, SC) == 0 ? XCHG_OK : XCHG_ERR_VERIFY;
}

/* Hash(I2OSP(len(input),2) ‖ input ‖ I2OSP(32,2) ‖ N ‖ "Finalize"), BLAKE2b-512. */
static void finalize_hash(const uint8_t *input, size_t len, const uint8_t nel[EL],
                          uint8_t out[XCHG_OPRF_OUTPUT_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, XCHG_OPRF_OUTPUT_BYTES);
    put_len(&st, len);
    crypto_generichash_update(&st, input, len);
    put_len(&st, EL);
    crypto_generichash_update(&st, nel, EL);
    crypto_generichash_update(&st, (const uint8_t *)"Finalize", 8);
    crypto_generichash_final(&st, out, XCHG_OPRF_OUTPUT_BYTES);
    sodium_memzero(&st, sizeof st);
}

xchg_err xchg_oprf_finalize(const uint8_t *input, size_t len, const uint8_t blind[SC],
                            const uint8_t evaluated[EL], uint8_t out[XCHG_OPRF_OUTPUT_BYTES])
{
    if ((!input && len) || len > XCHG_OPRF_MAX_INPUT || !good_scalar(blind))
        return XCHG_ERR_ARG;
    if (!good_point(evaluated))
        return XCHG_ERR_VERIFY;
    uint8_t inv[SC], nel[EL];
    xchg_err e = XCHG_OK;
    if (crypto_core_ristretto255_scalar_invert(inv, blind) != 0 ||
        crypto_scalarmult_ristretto255(nel, inv, evaluated) != 0)
        e = XCHG_ERR_CRYPTO;
    else
        finalize_hash(input, len, nel, out);
    sodium_memzero(inv, sizeof inv);
    sodium_memzero(nel, sizeof nel);
    return e;
}

xchg_err xchg_oprf_direct(const uint8_t sk[SC], const uint8_t *input, size_t len,
                          uint8_t out[XCHG_OPRF_OUTPUT_BYTES])
{
    uint8_t p[EL], nel[EL];
    if (!good_scalar(sk))
        return XCHG_ERR_ARG;
    xchg_err e = xchg_oprf_hash_to_group(input, len, p);
    if (e == XCHG_OK && crypto_scalarmult_ristretto255(nel, sk, p) != 0)
        e = XCHG_ERR_CRYPTO;
    if (e == XCHG_OK)
        finalize_hash(input, len, nel, out);
    sodium_memzero(nel, sizeof nel);
    return e;
}

/* ---- wire format --------------------------------------------------------------------- */

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void set32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)(v >> 16),
    b[3] = (uint8_t)(v >> 24);
}

xchg_err xchg_oprf_request_count(const uint8_t *req, size_t len, size_t *n)
{
    if (!req || len < 8 || memcmp(req, XCHG_OPRF_REQ_MAGIC, 4) != 0)
        return XCHG_ERR_FORMAT;
    uint32_t k = get32(req + 4);
    if (k == 0 || k > XCHG_OPRF_MAX_BATCH || len != XCHG_OPRF_REQ_BYTES(k))
        return XCHG_ERR_FORMAT;
    if (n)
        *n = k;
    return XCHG_OK;
}

xchg_err xchg_oprf_serve(const uint8_t sk[SC], const uint8_t *req, size_t len, uint8_t **resp,
                         size_t *resp_len)
{
    size_t n;
    xchg_err e = xchg_oprf_request_count(req, len, &n);
    if (e != XCHG_OK)
        return e;
    uint8_t *out = malloc(XCHG_OPRF_RESP_BYTES(n));
    if (!out)
        return XCHG_ERR_NOMEM;
    memcpy(out, XCHG_OPRF_RESP_MAGIC, 4);
    set32(out + 4, (uint32_t)n);
    e = xchg_oprf_evaluate(sk, (const uint8_t(*)[EL])(req + 8), n, NULL, (uint8_t(*)[EL])(out + 8),
                           out + 8 + n * EL);
    if (e != XCHG_OK) {
        free(out);
        return e;
    }
    *resp = out;
    *resp_len = XCHG_OPRF_RESP_BYTES(n);
    return XCHG_OK;
}

/* ---- the agency's cache across seals (oprf.h) ------------------------------------------ */

#define CACHE_MAGIC "xchg-oprf-cache v1\n"
#define CACHE_MAGIC_LEN (sizeof CACHE_MAGIC - 1)
#define CACHE_TAG 32
#define CACHE_ENTRY (CACHE_TAG + XCHG_OPRF_OUTPUT_BYTES)
#define CACHE_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CACHE_HEAD (CACHE_MAGIC_LEN + EL + 4 + CACHE_NONCE)
#define CACHE_MAX_ENTRIES (1u << 24) /* 1.5 GiB of entries: far beyond any extract */
#define CACHE_IN_CACHE 0x80000000u   /* a client map value naming a cache entry */
#define CACHE_KDF_CTX "xchgoprc"

struct xchg_oprf_cache {
    uint8_t pk[EL];
    uint8_t aead_key[32], tag_key[32];
    char *path;
    xchg__hmap map; /* the tag's first 16 bytes -> entry */
    uint8_t *ent;   /* n entries: tag ‖ output */
    uint8_t *used;
    size_t n, cap, nused;
};

static void cache_tag(const xchg_oprf_cache *k, const uint8_t *input, size_t len,
                      uint8_t tag[CACHE_TAG])
{
    crypto_generichash(tag, CACHE_TAG, input, len, k->tag_key, sizeof k->tag_key);
}

static void cache_head(const xchg_oprf_cache *k, uint32_t n, uint8_t *h)
{
    memcpy(h, CACHE_MAGIC, CACHE_MAGIC_LEN);
    memcpy(h + CACHE_MAGIC_LEN, k->pk, EL);
    h[CACHE_MAGIC_LEN + EL] = (uint8_t)(n >> 24);
    h[CACHE_MAGIC_LEN + EL + 1] = (uint8_t)(n >> 16);
    h[CACHE_MAGIC_LEN + EL + 2] = (uint8_t)(n >> 8);
    h[CACHE_MAGIC_LEN + EL + 3] = (uint8_t)n;
}

/* The entry with this tag, or -1. */
static long cache_find(const xchg_oprf_cache *k, const uint8_t tag[CACHE_TAG])
{
    int found = 0;
    long slot = xchg__hmap_slot((xchg__hmap *)&k->map, tag, 0, &found);
    if (slot < 0 || !found)
        return -1;
    uint32_t i = k->map.vals[slot];
    return sodium_memcmp(k->ent + (size_t)i * CACHE_ENTRY, tag, CACHE_TAG) == 0 ? (long)i : -1;
}

xchg_err xchg_oprf_cache_open(const char *path, const xchg_seckey *owner, const uint8_t pk[EL],
                              xchg_oprf_cache **out, xchg_diag *d)
{
    if (!path || !owner || !pk || !out)
        return XCHG_ERR_ARG;
    *out = NULL;
    xchg_oprf_cache *k = calloc(1, sizeof *k);
    if (!k || !(k->path = strdup(path))) {
        free(k);
        return XCHG_ERR_NOMEM;
    }
    memcpy(k->pk, pk, EL);
    const uint8_t *master = xchg__seckey_box_sk(owner); /* 32 bytes: crypto_kdf's key size */
    crypto_kdf_derive_from_key(k->aead_key, sizeof k->aead_key, 1, CACHE_KDF_CTX, master);
    crypto_kdf_derive_from_key(k->tag_key, sizeof k->tag_key, 2, CACHE_KDF_CTX, master);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) { /* the first seal: an empty cache */
            *out = k;
            return XCHG_OK;
        }
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read the OPRF cache: %s",
                      strerror(errno));
        xchg_oprf_cache_free(k);
        return XCHG_ERR_IO;
    }
    char *buf = NULL;
    size_t len = 0;
    xchg_err e = xchg_file_read(path, CACHE_HEAD + (size_t)CACHE_MAX_ENTRIES * CACHE_ENTRY +
                                          crypto_aead_xchacha20poly1305_ietf_ABYTES,
                                &buf, &len, d);
    if (e != XCHG_OK) {
        xchg_oprf_cache_free(k);
        return e;
    }
    const uint8_t *b = (const uint8_t *)buf;
    uint32_t n = 0;
    if (len >= CACHE_HEAD)
        n = (uint32_t)b[CACHE_MAGIC_LEN + EL] << 24 | (uint32_t)b[CACHE_MAGIC_LEN + EL + 1] << 16 |
            (uint32_t)b[CACHE_MAGIC_LEN + EL + 2] << 8 | b[CACHE_MAGIC_LEN + EL + 3];
    if (len < CACHE_HEAD || memcmp(b, CACHE_MAGIC, CACHE_MAGIC_LEN) != 0 ||
        n > CACHE_MAX_ENTRIES ||
        len != CACHE_HEAD + (size_t)n * CACHE_ENTRY + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "not an OPRF cache (xchg-oprf-cache v1) or truncated");
        free(buf);
        xchg_oprf_cache_free(k);
        return XCHG_ERR_FORMAT;
    }
    if (memcmp(b + CACHE_MAGIC_LEN, pk, EL) != 0) {
        xchg_diag_add(d, XCHG_SEV_NOTE, path, 0, 0,
                      "the OPRF cache was made under another key service key: not used, and "
                      "replaced when this seal succeeds");
        free(buf);
        *out = k;
        return XCHG_OK;
    }
    k->cap = n ? n : 1;
    if (!(k->ent = malloc(k->cap * CACHE_ENTRY)) || !(k->used = calloc(k->cap, 1))) {
        free(buf);
        xchg_oprf_cache_free(k);
        return XCHG_ERR_NOMEM;
    }
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            k->ent, &plen, NULL, b + CACHE_HEAD, len - CACHE_HEAD, b, CACHE_MAGIC_LEN + EL + 4,
            b + CACHE_MAGIC_LEN + EL + 4, k->aead_key) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the OPRF cache does not open with this agency's key (another agency's "
                      "cache, or changed since it was written); remove it to start afresh");
        free(buf);
        xchg_oprf_cache_free(k);
        return XCHG_ERR_VERIFY;
    }
    free(buf);
    k->n = n;
    for (size_t i = 0; i < k->n; i++) {
        int found = 0;
        long slot = xchg__hmap_slot(&k->map, k->ent + i * CACHE_ENTRY, 1, &found);
        if (slot < 0) {
            xchg_oprf_cache_free(k);
            return XCHG_ERR_NOMEM;
        }
        k->map.vals[slot] = (uint32_t)i; /* a repeated tag (not written by save): the last */
    }
    *out = k;
    return XCHG_OK;
}

void xchg_oprf_cache_free(xchg_oprf_cache *k)
{
    if (!k)
        return;
    if (k->ent)
        sodium_memzero(k->ent, k->cap * CACHE_ENTRY);
    free(k->ent);
    free(k->used);
    free(k->path);
    xchg__hmap_free(&k->map);
    sodium_memzero(k, sizeof *k);
    free(k);
}

void xchg_oprf_cache_stats(const xchg_oprf_cache *k, size_t *entries, size_t *used)
{
    if (entries)
        *entries = k ? k->n : 0;
    if (used)
        *used = k ? k->nused : 0;
}

/* ---- the client ---------------------------------------------------------------------- */

struct xchg_oprf_client {
    uint8_t pk[EL];
    xchg_oprf_transport t;
    void *ctx;
    size_t batch;
    xchg__hmap map;  /* digest of input -> index */
    uint8_t *inputs; /* concatenated inputs */
    size_t ilen, icap;
    size_t *off; /* per index: offset in inputs; len via off[i+1] */
    uint8_t (*out)[XCHG_OPRF_OUTPUT_BYTES];
    uint8_t *done;
    size_t n, cap;
    size_t requests, evaluated;
    unsigned threads; /* 0: the online CPUs */
    uint8_t seed[64]; /* the composite seed, during run */
    xchg_oprf_cache *cache; /* answers inputs evaluated in an earlier seal, or NULL */
};

xchg_oprf_client *xchg_oprf_client_new(const uint8_t pk[EL], xchg_oprf_transport t, void *ctx,
                                       size_t batch)
{
    xchg_oprf_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    memcpy(c->pk, pk, EL);
    c->t = t;
    c->ctx = ctx;
    c->batch = batch && batch <= XCHG_OPRF_MAX_BATCH ? batch : XCHG_OPRF_MAX_BATCH;
    c->off = calloc(1, sizeof *c->off);
    if (!c->off) {
        free(c);
        return NULL;
    }
    return c;
}

void xchg_oprf_client_free(xchg_oprf_client *c)
{
    if (!c)
        return;
    if (c->inputs)
        sodium_memzero(c->inputs, c->icap);
    if (c->out)
        sodium_memzero(c->out, c->cap * sizeof *c->out);
    free(c->inputs);
    free(c->out);
    free(c->off);
    free(c->done);
    xchg__hmap_free(&c->map);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static void input_key(const uint8_t *input, size_t len, uint8_t key[16])
{
    xchg__digest16(input, len, key);
}

xchg_err xchg_oprf_client_add(xchg_oprf_client *c, const uint8_t *input, size_t len)
{
    if (!c || (!input && len) || len > XCHG_OPRF_MAX_INPUT)
        return XCHG_ERR_ARG;
    uint8_t key[16];
    int found = 0;
    input_key(input, len, key);
    long slot = xchg__hmap_slot(&c->map, key, 1, &found);
    if (slot < 0)
        return XCHG_ERR_NOMEM;
    if (found)
        return XCHG_OK;
    if (c->cache) { /* evaluated in an earlier seal: not sent again */
        uint8_t tag[CACHE_TAG];
        cache_tag(c->cache, input, len, tag);
        long ci = cache_find(c->cache, tag);
        sodium_memzero(tag, sizeof tag);
        if (ci >= 0) {
            c->map.vals[slot] = CACHE_IN_CACHE | (uint32_t)ci;
            if (!c->cache->used[ci]) {
                c->cache->used[ci] = 1;
                c->cache->nused++;
            }
            return XCHG_OK;
        }
    }
    if (c->n + 1 >= c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 1024;
        size_t *no = realloc(c->off, (nc + 1) * sizeof *no);
        if (no)
            c->off = no;
        void *nout = no ? realloc(c->out, nc * sizeof *c->out) : NULL;
        if (nout)
            c->out = nout;
        uint8_t *nd = nout ? realloc(c->done, nc) : NULL;
        if (!nd)
            goto nomem;
        c->done = nd;
        c->cap = nc;
    }
    if (c->ilen + len > c->icap) {
        size_t nc = c->icap ? 2 * c->icap : 65536;
        while (nc < c->ilen + len)
            nc *= 2;
        uint8_t *ni = malloc(nc); /* not realloc: the old copy is wiped, not left behind */
        if (!ni)
            goto nomem;
        if (c->inputs) {
            memcpy(ni, c->inputs, c->ilen);
            sodium_memzero(c->inputs, c->icap);
            free(c->inputs);
        }
        c->inputs = ni;
        c->icap = nc;
    }
    memcpy(c->inputs + c->ilen, input, len);
    c->ilen += len;
    c->map.vals[slot] = (uint32_t)c->n;
    c->done[c->n] = 0;
    c->n++;
    c->off[c->n] = c->ilen;
    return XCHG_OK;
nomem:
    /* the map holds a slot without an input: drop the whole key again is not possible in an
     * open-addressing map without tombstones; the client is unusable after NOMEM */
    c->t = NULL;
    return XCHG_ERR_NOMEM;
}

/*
 * Running the queued inputs (xchg_oprf_client_run). The agency's work per input — hash to
 * the group and blind; then, once the answer is in, the composite weights and partial
 * composites of the batch proof, the unblinding and Finalize — is split into chunks of
 * CHUNK inputs that a small pool of threads (the online CPUs, or xchg_oprf_client_threads)
 * takes in any order, and it is pipelined with the service: while batch j is on the wire
 * (and being evaluated), the pool finishes batch j-1 and prepares batch j+1. Every chunk
 * writes only its own inputs' slots, and the partial composites are summed in chunk order,
 * so what a run computes does not depend on the thread count or the schedule — the outputs
 * are byte for byte those of one thread (tests/unit/test_oprf.c checks it). Blinds are
 * inverted once per chunk (Montgomery's trick: 3 scalar multiplications per input and one
 * inversion per chunk instead of one inversion per input).
 */
#define CHUNK 64

struct batch {
    size_t from, k, nchunks;
    uint8_t *req;          /* magic, count, the blinded points */
    uint8_t (*blinds)[SC]; /* sodium_malloc */
    uint8_t *resp;
    size_t rlen;
    uint8_t (*pm)[EL], (*pz)[EL]; /* per chunk: partial composites M and Z */
    xchg_err *cerr;               /* per chunk */
};

enum { T_PREPARE, T_FINISH };
struct task {
    struct batch *b;
    size_t chunk;
    int kind;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t go, idle;
    pthread_t *th;
    unsigned nth;
    struct task *tasks;
    size_t ntasks, next, done;
    unsigned gen;
    int stop;
    xchg_oprf_client *c;
};

static void batch_free(struct batch *b)
{
    free(b->req);
    if (b->blinds)
        sodium_free(b->blinds);
    free(b->resp);
    free(b->pm);
    free(b->pz);
    free(b->cerr);
    memset(b, 0, sizeof *b);
}

static xchg_err batch_init(struct batch *b, size_t from, size_t k)
{
    memset(b, 0, sizeof *b);
    b->from = from;
    b->k = k;
    b->nchunks = (k + CHUNK - 1) / CHUNK;
    b->req = malloc(XCHG_OPRF_REQ_BYTES(k));
    b->blinds = sodium_malloc(k * SC);
    b->pm = malloc(b->nchunks * EL);
    b->pz = malloc(b->nchunks * EL);
    b->cerr = calloc(b->nchunks, sizeof *b->cerr);
    if (!b->req || !b->blinds || !b->pm || !b->pz || !b->cerr) {
        batch_free(b);
        return XCHG_ERR_NOMEM;
    }
    memcpy(b->req, XCHG_OPRF_REQ_MAGIC, 4);
    set32(b->req + 4, (uint32_t)k);
    return XCHG_OK;
}

static void prepare_chunk(xchg_oprf_client *c, struct batch *b, size_t ch)
{
    size_t lo = ch * CHUNK, hi = lo + CHUNK < b->k ? lo + CHUNK : b->k;
    uint8_t(*bl)[EL] = (uint8_t(*)[EL])(b->req + 8);
    xchg_err e = XCHG_OK;
    for (size_t i = lo; i < hi && e == XCHG_OK; i++) {
        size_t j = b->from + i;
        e = xchg_oprf_blind(c->inputs + c->off[j], c->off[j + 1] - c->off[j], NULL, b->blinds[i],
                            bl[i]);
    }
    b->cerr[ch] = e;
}

/* The partial composites of a chunk and, tentatively (kept only if the proof verifies),
 * its inputs' outputs. Any invalid or identity evaluated element fails the chunk. */
static void finish_chunk(xchg_oprf_client *c, struct batch *b, size_t ch)
{
    size_t lo = ch * CHUNK, hi = lo + CHUNK < b->k ? lo + CHUNK : b->k;
    const uint8_t(*bl)[EL] = (const uint8_t(*)[EL])(b->req + 8);
    const uint8_t(*ev)[EL] = (const uint8_t(*)[EL])(b->resp + 8);
    uint8_t di[SC], t[EL], pre[CHUNK][SC] = {{0}}, inv[SC], nel[EL], tmp[SC];
    xchg_err e = XCHG_OK;
    for (size_t i = lo; i < hi && e == XCHG_OK; i++) {
        composite_weight(c->seed, i, bl[i], ev[i], di);
        if (crypto_scalarmult_ristretto255(t, di, bl[i]) != 0)
            e = XCHG_ERR_VERIFY;
        else if (i == lo)
            memcpy(b->pm[ch], t, EL);
        else if (crypto_core_ristretto255_add(b->pm[ch], b->pm[ch], t) != 0)
            e = XCHG_ERR_VERIFY;
        if (e == XCHG_OK && crypto_scalarmult_ristretto255(t, di, ev[i]) != 0)
            e = XCHG_ERR_VERIFY; /* an invalid encoding, or the identity */
        else if (e == XCHG_OK && i == lo)
            memcpy(b->pz[ch], t, EL);
        else if (e == XCHG_OK && crypto_core_ristretto255_add(b->pz[ch], b->pz[ch], t) != 0)
            e = XCHG_ERR_VERIFY;
    }
    /* batch inversion: pre[i] = r_lo·…·r_i; one inversion; then back down */
    for (size_t i = lo; i < hi && e == XCHG_OK; i++) {
        if (i == lo)
            memcpy(pre[0], b->blinds[i], SC);
        else
            crypto_core_ristretto255_scalar_mul(pre[i - lo], pre[i - lo - 1], b->blinds[i]);
    }
    if (e == XCHG_OK && crypto_core_ristretto255_scalar_invert(inv, pre[hi - lo - 1]) != 0)
        e = XCHG_ERR_CRYPTO;
    for (size_t i = hi; i-- > lo && e == XCHG_OK;) {
        /* inv = (r_lo·…·r_i)⁻¹ here, so r_i⁻¹ = inv · (r_lo·…·r_{i-1}) */
        if (i > lo) {
            crypto_core_ristretto255_scalar_mul(tmp, inv, pre[i - lo - 1]);
            crypto_core_ristretto255_scalar_mul(inv, inv, b->blinds[i]);
        } else
            memcpy(tmp, inv, SC);
        size_t j = b->from + i;
        if (crypto_scalarmult_ristretto255(nel, tmp, ev[i]) != 0)
            e = XCHG_ERR_VERIFY;
        else
            finalize_hash(c->inputs + c->off[j], c->off[j + 1] - c->off[j], nel, c->out[j]);
    }
    sodium_memzero(pre, sizeof pre);
    sodium_memzero(inv, sizeof inv);
    sodium_memzero(tmp, sizeof tmp);
    sodium_memzero(nel, sizeof nel);
    b->cerr[ch] = e;
}

static void run_task(xchg_oprf_client *c, const struct task *t)
{
    if (t->kind == T_PREPARE)
        prepare_chunk(c, t->b, t->chunk);
    else
        finish_chunk(c, t->b, t->chunk);
}

/* Take and run tasks until none is left (called with p->mu held; returns with it held). */
static void pool_drain(struct pool *p)
{
    while (p->next < p->ntasks) {
        struct task t = p->tasks[p->next++];
        pthread_mutex_unlock(&p->mu);
        run_task(p->c, &t);
        pthread_mutex_lock(&p->mu);
        if (++p->done == p->ntasks)
            pthread_cond_broadcast(&p->idle);
    }
}

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        pool_drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Hand the workers a list of tasks (the list must stay valid until pool_wait). */
static void pool_start(struct pool *p, struct task *tasks, size_t n)
{
    pthread_mutex_lock(&p->mu);
    p->tasks = tasks;
    p->ntasks = n;
    p->next = p->done = 0;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
}

/* Wait for the tasks of pool_start; the calling thread helps. */
static void pool_wait(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    pool_drain(p);
    while (p->done < p->ntasks)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static int pool_open(struct pool *p, xchg_oprf_client *c, unsigned workers)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return -1;
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->th = workers ? calloc(workers, sizeof *p->th) : NULL;
    for (unsigned i = 0; p->th && i < workers; i++) {
        if (pthread_create(&p->th[i], NULL, pool_main, p) != 0)
            break;
        p->nth++;
    }
    return 0; /* fewer workers (even none) only means less parallelism */
}

static void pool_close(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
    free(p->th);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
}

static size_t add_tasks(struct task *t, size_t n, struct batch *b, int kind)
{
    for (size_t ch = 0; b && ch < b->nchunks; ch++)
        t[n++] = (struct task){b, ch, kind};
    return n;
}

static xchg_err first_chunk_error(const struct batch *b)
{
    for (size_t ch = 0; ch < b->nchunks; ch++)
        if (b->cerr[ch] != XCHG_OK)
            return b->cerr[ch];
    return XCHG_OK;
}

/* Send a prepared batch and check the answer's framing. */
static xchg_err send_batch(xchg_oprf_client *c, struct batch *b, xchg_diag *d)
{
    char why[512] = "";
    c->requests++;
    xchg_err e =
        c->t(c->ctx, b->req, XCHG_OPRF_REQ_BYTES(b->k), &b->resp, &b->rlen, why, sizeof why);
    if (e != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "OPRF key service: %s",
                      why[0] ? why : xchg_strerror(e));
        return e;
    }
    if (!b->resp || b->rlen != XCHG_OPRF_RESP_BYTES(b->k) ||
        memcmp(b->resp, XCHG_OPRF_RESP_MAGIC, 4) != 0 || get32(b->resp + 4) != b->k) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "OPRF key service: malformed response (%zu bytes for a batch of %zu)",
                      b->rlen, b->k);
        return XCHG_ERR_FORMAT;
    }
    return XCHG_OK;
}

/* After its finish tasks: sum the partial composites, check the proof; keep the outputs
 * only when it verifies. */
static xchg_err conclude_batch(xchg_oprf_client *c, struct batch *b, xchg_diag *d)
{
    xchg_err e = first_chunk_error(b);
    uint8_t m[EL], z[EL], a[EL], q[EL], t2[EL], t3[EL], c2[SC], red[SC], zero[SC] = {0};
    const uint8_t *pc = b->resp + 8 + b->k * EL, *ps = pc + SC;
    memcpy(m, b->pm[0], EL);
    memcpy(z, b->pz[0], EL);
    for (size_t ch = 1; ch < b->nchunks && e == XCHG_OK; ch++)
        if (crypto_core_ristretto255_add(m, m, b->pm[ch]) != 0 ||
            crypto_core_ristretto255_add(z, z, b->pz[ch]) != 0)
            e = XCHG_ERR_VERIFY;
    if (e == XCHG_OK) { /* c and s canonical and non-zero */
        crypto_core_ristretto255_scalar_add(red, pc, zero);
        if (sodium_memcmp(red, pc, SC) != 0 || is_zero(pc, SC))
            e = XCHG_ERR_VERIFY;
        crypto_core_ristretto255_scalar_add(red, ps, zero);
        if (sodium_memcmp(red, ps, SC) != 0 || is_zero(ps, SC))
            e = XCHG_ERR_VERIFY;
    }
    /* t2 = s·G + c·K ; t3 = s·M + c·Z */
    if (e == XCHG_OK && (crypto_scalarmult_ristretto255_base(a, ps) != 0 ||
                         crypto_scalarmult_ristretto255(q, pc, c->pk) != 0 ||
                         crypto_core_ristretto255_add(t2, a, q) != 0 ||
                         crypto_scalarmult_ristretto255(a, ps, m) != 0 ||
                         crypto_scalarmult_ristretto255(q, pc, z) != 0 ||
                         crypto_core_ristretto255_add(t3, a, q) != 0))
        e = XCHG_ERR_VERIFY;
    if (e == XCHG_OK) {
        challenge(c->pk, m, z, t2, t3, c2);
        if (sodium_memcmp(c2, pc, SC) != 0)
            e = XCHG_ERR_VERIFY;
    }
    if (e == XCHG_OK) {
        memset(c->done + b->from, 1, b->k);
        c->evaluated += b->k;
        return XCHG_OK;
    }
    sodium_memzero(c->out + b->from, b->k * sizeof *c->out);
    if (e == XCHG_ERR_VERIFY)
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "OPRF key service: the response's proof does not verify against the "
                      "agreement's key (tokens.key): wrong key, tampered points or proof");
    return e;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

void xchg_oprf_client_threads(xchg_oprf_client *c, unsigned threads)
{
    if (c)
        c->threads = threads > 64 ? 64 : threads;
}

xchg_err xchg_oprf_client_run(xchg_oprf_client *c, xchg_diag *d)
{
    if (!c || !c->t)
        return XCHG_ERR_ARG;
    size_t from = 0;
    while (from < c->n && c->done[from])
        from++;
    if (from >= c->n)
        return XCHG_OK;
    size_t nb = (c->n - from + c->batch - 1) / c->batch;
    unsigned threads = c->threads ? c->threads : online_cpus();
    struct batch ring[3];
    struct task *tasks = malloc(2 * ((c->batch + CHUNK - 1) / CHUNK) * sizeof *tasks);
    struct pool pool;
    memset(ring, 0, sizeof ring);
    if (!tasks || pool_open(&pool, c, threads > 1 ? threads : 0) != 0) {
        free(tasks);
        return XCHG_ERR_NOMEM;
    }
    composite_seed(c->pk, c->seed);
    xchg_err e = XCHG_OK;
#define BATCH(j) (&ring[(j) % 3])
#define BATCH_INIT(j)                                                                              \
    batch_init(BATCH(j), from + (j)*c->batch,                                                      \
               c->n - (from + (j)*c->batch) < c->batch ? c->n - (from + (j)*c->batch) : c->batch)
    /* batch 0 prepared before the loop */
    if ((e = BATCH_INIT(0)) == XCHG_OK) {
        pool_start(&pool, tasks, add_tasks(tasks, 0, BATCH(0), T_PREPARE));
        pool_wait(&pool);
        e = first_chunk_error(BATCH(0));
    }
    for (size_t j = 0; j < nb && e == XCHG_OK; j++) {
        struct batch *prev = j > 0 ? BATCH(j - 1) : NULL, *next = NULL;
        if (j + 1 < nb) {
            if ((e = BATCH_INIT(j + 1)) != XCHG_OK)
                break;
            next = BATCH(j + 1);
        }
        /* the pool finishes batch j-1 and prepares j+1 while j is on the wire; with no
         * worker threads that work is done first, here */
        size_t nt = add_tasks(tasks, add_tasks(tasks, 0, prev, T_FINISH), next, T_PREPARE);
        pool_start(&pool, tasks, nt);
        if (!pool.nth)
            pool_wait(&pool);
        xchg_err se = XCHG_OK;
        if (!prev || pool.nth || (e = conclude_batch(c, prev, d)) == XCHG_OK)
            se = send_batch(c, BATCH(j), d);
        pool_wait(&pool);
        if (prev && pool.nth)
            e = conclude_batch(c, prev, d);
        if (prev)
            batch_free(prev);
        if (e == XCHG_OK)
            e = se;
        if (e == XCHG_OK && next)
            e = first_chunk_error(next);
    }
    if (e == XCHG_OK) { /* the last batch */
        struct batch *last = BATCH(nb - 1);
        pool_start(&pool, tasks, add_tasks(tasks, 0, last, T_FINISH));
        pool_wait(&pool);
        e = conclude_batch(c, last, d);
    }
#undef BATCH
#undef BATCH_INIT
    pool_close(&pool);
    for (int i = 0; i < 3; i++)
        batch_free(&ring[i]);
    free(tasks);
    sodium_memzero(c->seed, sizeof c->seed);
    return e;
}

xchg_err xchg_oprf_client_get(const xchg_oprf_client *c, const uint8_t *input, size_t len,
                              uint8_t out[XCHG_OPRF_OUTPUT_BYTES])
{
    if (!c || (!input && len))
        return XCHG_ERR_ARG;
    uint8_t key[16];
    int found = 0;
    input_key(input, len, key);
    long slot = xchg__hmap_slot((xchg__hmap *)&c->map, key, 0, &found);
    if (slot < 0 || !found)
        return XCHG_ERR_NOT_FOUND;
    uint32_t i = c->map.vals[slot];
    if (i & CACHE_IN_CACHE) { /* the cache's entry matched the input's 256-bit keyed tag */
        memcpy(out, c->cache->ent + (size_t)(i & ~CACHE_IN_CACHE) * CACHE_ENTRY + CACHE_TAG,
               XCHG_OPRF_OUTPUT_BYTES);
        return XCHG_OK;
    }
    /* a 128-bit digest collision is not a concern; the stored input is compared anyway */
    if (!c->done[i] || c->off[i + 1] - c->off[i] != len ||
        (len && memcmp(c->inputs + c->off[i], input, len) != 0))
        return XCHG_ERR_NOT_FOUND;
    memcpy(out, c->out[i], XCHG_OPRF_OUTPUT_BYTES);
    return XCHG_OK;
}

void xchg_oprf_client_stats(const xchg_oprf_client *c, size_t *distinct, size_t *requests)
{
    if (distinct)
        *distinct = c ? c->n : 0;
    if (requests)
        *requests = c ? c->requests : 0;
}

/* ---- the cache, with a client ---------------------------------------------------------- */

xchg_err xchg_oprf_client_use_cache(xchg_oprf_client *c, xchg_oprf_cache *k)
{
    if (!c || !k || c->n || c->map.n || sodium_memcmp(c->pk, k->pk, EL) != 0)
        return XCHG_ERR_ARG;
    c->cache = k;
    return XCHG_OK;
}

xchg_err xchg_oprf_cache_save(xchg_oprf_cache *k, const xchg_oprf_client *c, xchg_diag *d)
{
    if (!k || !c || c->cache != k)
        return XCHG_ERR_ARG;
    for (size_t i = 0; i < c->n; i++)
        if (!c->done[i])
            return XCHG_ERR_ARG; /* run did not finish */
    size_t n = k->nused + c->n;
    if (n > CACHE_MAX_ENTRIES) {
        xchg_diag_add(d, XCHG_SEV_ERROR, k->path, 0, 0,
                      "%zu values are more than an OPRF cache holds (%u)", n, CACHE_MAX_ENTRIES);
        return XCHG_ERR_ARG;
    }
    size_t plen = n * CACHE_ENTRY;
    size_t flen = CACHE_HEAD + plen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t *plain = malloc(plen ? plen : 1), *file = malloc(flen);
    if (!plain || !file) {
        free(plain);
        free(file);
        return XCHG_ERR_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < k->n; i++) /* what this seal used from the earlier ones */
        if (k->used[i])
            memcpy(plain + CACHE_ENTRY * m++, k->ent + i * CACHE_ENTRY, CACHE_ENTRY);
    for (size_t i = 0; i < c->n; i++) { /* and what it evaluated */
        uint8_t *e = plain + CACHE_ENTRY * m++;
        cache_tag(k, c->inputs + c->off[i], c->off[i + 1] - c->off[i], e);
        memcpy(e + CACHE_TAG, c->out[i], XCHG_OPRF_OUTPUT_BYTES);
    }
    cache_head(k, (uint32_t)n, file);
    randombytes_buf(file + CACHE_MAGIC_LEN + EL + 4, CACHE_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(file + CACHE_HEAD, NULL, plain, plen, file,
                                               CACHE_MAGIC_LEN + EL + 4,
                                               NULL, file + CACHE_MAGIC_LEN + EL + 4, k->aead_key);
    sodium_memzero(plain, plen);
    free(plain);
    xchg_err e = xchg_file_write_atomic(k->path, file, flen, 0600, XCHG_WRITE_OVERWRITE, d);
    free(file);
    return e;
}
