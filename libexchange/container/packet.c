/*
 * Referral packet container.
 *
 *   "XCHGXRP" | version 0x01 | recipient key id (8) | crypto_box_seal(packet key) (80)
 *   | nonce (24) | XChaCha20-Poly1305(packet key, AD = the 121 bytes before the ciphertext,
 *       plaintext = matcher key id (8) | u32le body length | body | Ed25519 signature (64))
 * The signature covers "exchange referral packet v1\0" | the 121-byte preamble | matcher
 * key id | body, so it binds the recipient and the sealed key as well as the content.
 */
#include "exchange/packet.h"
#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "internal.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "XCHGXRP"
#define PRE_LEN (7 + 1 + 8 + 80 + 24)

static const char sig_ctx[] = "exchange referral packet v1";

static void sign_msg(crypto_sign_state *st, const uint8_t *pre, const uint8_t *mid,
                     const char *body, size_t blen)
{
    crypto_sign_init(st);
    crypto_sign_update(st, (const uint8_t *)sig_ctx, sizeof sig_ctx);
    crypto_sign_update(st, pre, PRE_LEN);
    crypto_sign_update(st, mid, 8);
    crypto_sign_update(st, (const uint8_t *)body, blen);
}

/* the body must name this agreement and recipient */
static int body_matches(const xchg_policy *p, size_t recipient, const char *body, size_t blen,
                        const char *path, xchg_diag *d, xchg_err *why)
{
    json_error_t je;
    json_t *j = json_loadb(body, blen, 0, &je);
    const xchg_policy_data *pd = xchg_policy_get(p);
    char hex[65];
    xchg_hex_encode(hex, xchg_policy_hash(p), 32);
    int ok = 0;
    *why = XCHG_ERR_FORMAT;
    if (!j || !json_is_object(j)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "packet body is not a JSON object");
        goto done;
    }
    json_t *ag = json_object_get(j, "agreement");
    const char *id = json_string_value(json_object_get(ag, "id"));
    const char *h = json_string_value(json_object_get(ag, "sha256"));
    const char *to = json_string_value(json_object_get(j, "recipient"));
    if (!id || !h || !to) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "packet body does not name its agreement and recipient");
        goto done;
    }
    *why = XCHG_ERR_DENIED;
    if (strcmp(id, pd->id) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "packet was made under agreement '%s', not '%s'", id, pd->id);
        goto done;
    }
    if (strcmp(h, hex) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "packet was made under another version of agreement '%s'", pd->id);
        goto done;
    }
    if (strcmp(to, pd->parties[recipient].id) != 0) {
        *why = XCHG_ERR_UNKNOWN_KEY;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "packet is addressed to '%s', not '%s'", to,
                      pd->parties[recipient].id);
        goto done;
    }
    ok = 1;
done:
    json_decref(j);
    return ok;
}

int xchg_packet_name_ok(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = suffix ? strlen(suffix) : 0;
    if (n == 0 || n > 200 || s[0] == '.' || n <= m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return !suffix || strcmp(s + n - m, suffix) == 0;
}

xchg_err xchg_packet_seal(const xchg_agreement *agr, const xchg_seckey *matcher, size_t recipient,
                          const char *body, const char *path, int overwrite, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !matcher || !body || !path)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(p);
    size_t m = xchg_policy_matcher(p);
    if (recipient >= pd->nparties || pd->parties[recipient].role != XCHG_ROLE_RECIPIENT) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "packets go only to a recipient party");
        return XCHG_ERR_DENIED;
    }
    if (m == XCHG_NONE ||
        memcmp(pd->parties[m].key.id, xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "only the agreement's matcher key may sign referral packets");
        return XCHG_ERR_DENIED;
    }
    size_t blen = strlen(body);
    xchg_err why;
    if (blen > XCHG_PACKET_MAX - 1024)
        return XCHG_ERR_ARG;
    if (!body_matches(p, recipient, body, blen, "packet", d, &why))
        return XCHG_ERR_ARG;
    size_t plen = 8 + 4 + blen + 64, total = PRE_LEN + plen + 16;
    uint8_t *out = malloc(total), *pt = sodium_malloc(plen), *key = sodium_malloc(32);
    xchg_err rc = XCHG_ERR_NOMEM;
    if (!out || !pt || !key)
        goto cleanup;
    memcpy(out, MAGIC, 7);
    out[7] = 1;
    memcpy(out + 8, pd->parties[recipient].key.id, 8);
    randombytes_buf(key, 32);
    if ((rc = xchg_box_seal(&pd->parties[recipient].key, key, 32, out + 16)) != XCHG_OK)
        goto cleanup;
    randombytes_buf(out + 96, 24);
    memcpy(pt, xchg_seckey_public(matcher)->id, 8);
    xchg__put_u32le(pt + 8, (uint32_t)blen);
    memcpy(pt + 12, body, blen);
    crypto_sign_state st;
    sign_msg(&st, out, pt, body, blen);
    crypto_sign_final_create(&st, pt + 12 + blen, NULL, xchg__seckey_sign_sk(matcher));
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + PRE_LEN, NULL, pt, plen, out, PRE_LEN, NULL,
                                               out + 96, key);
    rc = xchg_file_write_atomic(path, out, total, 0600, overwrite ? XCHG_WRITE_OVERWRITE : 0, d);
cleanup:
    free(out);
    sodium_free(pt);
    sodium_free(key);
    return rc;
}

xchg_err xchg_packet_open(const xchg_agreement *agr, const xchg_seckey *recipient, const char *path,
                          char **body, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !recipient || !path || !body)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(p);
    char *buf = NULL;
    size_t len = 0;
    xchg_err rc = xchg_file_read(path, XCHG_PACKET_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    uint8_t *in = (uint8_t *)buf, *pt = NULL, *key = sodium_malloc(32);
    char *out = NULL;
    rc = XCHG_ERR_NOMEM;
    if (!key)
        goto cleanup;
    rc = XCHG_ERR_FORMAT;
    if (len < 8 || memcmp(in, MAGIC, 7) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "not a referral packet");
        goto cleanup;
    }
    if (in[7] != 1) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "referral packet version %u is not supported",
                      in[7]);
        rc = XCHG_ERR_VERSION;
        goto cleanup;
    }
    if (len < PRE_LEN + 16 + 8 + 4 + 64) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "referral packet is truncated");
        rc = XCHG_ERR_TRUNCATED;
        goto cleanup;
    }
    size_t who = xchg_policy_party_by_key(p, xchg_seckey_public(recipient)->id);
    if (memcmp(in + 8, xchg_seckey_public(recipient)->id, 8) != 0) {
        char a[17], b[17];
        xchg_keyid_hex(in + 8, a);
        xchg_keyid_hex(xchg_seckey_public(recipient)->id, b);
        size_t to = xchg_policy_party_by_key(p, in + 8);
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "this packet is for %s%s%s (key %s), not for the key given (%s)",
                      to == XCHG_NONE ? "another party" : "party '",
                      to == XCHG_NONE ? "" : pd->parties[to].id, to == XCHG_NONE ? "" : "'", a, b);
        rc = XCHG_ERR_UNKNOWN_KEY;
        goto cleanup;
    }
    if (who == XCHG_NONE || pd->parties[who].role != XCHG_ROLE_RECIPIENT) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the key given is not a recipient of agreement '%s'", pd->id);
        rc = XCHG_ERR_DENIED;
        goto cleanup;
    }
    if (xchg_box_open(recipient, in + 16, 80, key) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "referral packet is damaged (key does not open)");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    size_t clen = len - PRE_LEN, plen = clen - 16;
    pt = sodium_malloc(plen);
    if (!pt) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, in + PRE_LEN, clen, in, PRE_LEN,
                                                   in + 96, key) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "referral packet was altered or damaged (authentication failed)");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    size_t blen = xchg__get_u32le(pt + 8);
    if (blen != plen - 8 - 4 - 64) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "referral packet body length is wrong");
        rc = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    size_t m = xchg_policy_matcher(p);
    if (m == XCHG_NONE || memcmp(pt, pd->parties[m].key.id, 8) != 0) {
        char a[17];
        xchg_keyid_hex(pt, a);
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "referral packet is signed by key %s, which is not the matcher of agreement "
                      "'%s'",
                      a, pd->id);
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    crypto_sign_state st;
    sign_msg(&st, in, pt, (const char *)pt + 12, blen);
    if (crypto_sign_final_verify(&st, pt + 12 + blen, pd->parties[m].key.sign_pk) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "referral packet signature is not valid");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    if (!body_matches(p, who, (const char *)pt + 12, blen, path, d, &rc))
        goto cleanup;
    out = malloc(blen + 1);
    if (!out) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    memcpy(out, pt + 12, blen);
    out[blen] = '\0';
    *body = out;
    rc = XCHG_OK;
cleanup:
    if (pt)
        sodium_free(pt);
    sodium_free(key);
    free(buf);
    return rc;
}
