#include "exchange/crypto.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sodium.h>
#include <string.h>

void xchg_sha256(const void *msg, size_t len, uint8_t out[XCHG_SHA256_BYTES])
{
    crypto_hash_sha256(out, msg, len);
}

void xchg_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                      uint8_t out[XCHG_HMAC_SHA256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

xchg_err xchg_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
                          const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
    if (outlen == 0 || outlen > 255 * 32 || (!ikm && ikmlen))
        return XCHG_ERR_ARG;
    static const uint8_t empty[1];
    xchg_err rc = XCHG_ERR_CRYPTO;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t n = outlen;
    if (!ctx)
        goto cleanup;
    if (EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_key(ctx, ikmlen ? ikm : empty, (int)ikmlen) <= 0)
        goto cleanup;
    /* OpenSSL treats a missing salt as HashLen zero bytes, as RFC 5869 says. */
    if (saltlen && EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int)saltlen) <= 0)
        goto cleanup;
    if (infolen && EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)infolen) <= 0)
        goto cleanup;
    if (EVP_PKEY_derive(ctx, out, &n) <= 0 || n != outlen)
        goto cleanup;
    rc = XCHG_OK;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    if (rc != XCHG_OK)
        sodium_memzero(out, outlen);
    return rc;
}

void xchg_random(void *buf, size_t len) { randombytes_buf(buf, len); }

void xchg_wipe(void *p, size_t len)
{
    if (p)
        sodium_memzero(p, len);
}

int xchg_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

void *xchg_secure_alloc(size_t len) { return sodium_malloc(len); }

void xchg_secure_free(void *p) { sodium_free(p); }

size_t xchg_base64_len(size_t n)
{
    return sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
}

void xchg_base64_encode(char *out, const void *bin, size_t n)
{
    sodium_bin2base64(out, xchg_base64_len(n), bin, n, sodium_base64_VARIANT_ORIGINAL);
}

xchg_err xchg_base64_decode(void *bin, size_t cap, size_t *outlen, const char *b64, size_t len)
{
    const char *end = NULL;
    size_t n = 0;
    if (sodium_base642bin(bin, cap, b64, len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len)
        return XCHG_ERR_FORMAT;
    if (outlen)
        *outlen = n;
    return XCHG_OK;
}

void xchg_hex_encode(char *out, const void *bin, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, bin, n);
}

xchg_err xchg_hex_decode(void *bin, size_t n, const char *hex, size_t len)
{
    size_t got = 0;
    const char *end = NULL;
    if (len != 2 * n || sodium_hex2bin(bin, n, hex, len, NULL, &got, &end) != 0 || got != n ||
        end != hex + len)
        return XCHG_ERR_FORMAT;
    return XCHG_OK;
}
