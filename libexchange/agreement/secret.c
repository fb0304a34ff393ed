/*
 * Linkage secret files.
 *
 * Body (base64 after "xsec1:"):
 *   "XL" | 0x01 | idlen (1) | agreement id | epoch (u32le) | created (i64le)
 *   | owner key id (8) | check value (16) | n (1) | n x (key id (8) | sealed secret (80))
 *   | Ed25519 signature (64) by the owner over "exchange linkage secret v1\0" || all above
 * The check value is BLAKE2b-128 keyed with the secret over a fixed string: it lets an
 * agency confirm the unsealed value and compare fingerprints without revealing it.
 */
#include "exchange/secret.h"
#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC_PREFIX "xsec1:"
#define SEALED_LEN (XCHG_SECRET_BYTES + XCHG_BOX_OVERHEAD)
#define ENTRY_LEN (XCHG_KEYID_BYTES + SEALED_LEN)
#define SECFILE_MAX (64u << 10)

static const char sign_ctx[] = "exchange linkage secret v1";
static const char kcv_msg[] = "exchange linkage secret check v1";

struct xchg_secret {
    uint8_t key[XCHG_SECRET_BYTES];
    uint8_t kcv[16];
    uint32_t epoch;
    int64_t created;
    size_t nrecipients;
    char agreement[65];
};

static void check_value(const uint8_t *key, uint8_t kcv[16])
{
    crypto_generichash(kcv, 16, (const uint8_t *)kcv_msg, sizeof kcv_msg - 1, key,
                       XCHG_SECRET_BYTES);
}

static void sign_input(const uint8_t *body, size_t len, crypto_sign_state *st)
{
    crypto_sign_init(st);
    crypto_sign_update(st, (const uint8_t *)sign_ctx, sizeof sign_ctx);
    crypto_sign_update(st, body, len);
}

xchg_err xchg_secret_create(const xchg_agreement *agr, const xchg_seckey *owner, uint32_t epoch,
                            int64_t now, const char *path, int force, xchg_diag *d)
{
    const xchg_policy *pol = xchg_agreement_policy(agr);
    if (!pol || !owner || !path || epoch == 0)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    if (p->owner == XCHG_NONE ||
        memcmp(p->parties[p->owner].key.id, xchg_seckey_public(owner)->id, XCHG_KEYID_BYTES) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "only the agreement's owner ('%s') may create its linkage secret",
                      p->owner != XCHG_NONE ? p->parties[p->owner].id : "?");
        return XCHG_ERR_DENIED;
    }
    size_t idlen = strlen(p->id), nag = 0;
    for (size_t i = 0; i < p->nparties; i++)
        nag += p->parties[i].role == XCHG_ROLE_AGENCY;
    if (nag == 0 || nag > 255 || idlen > 64)
        return XCHG_ERR_ARG;
    size_t blen = 4 + idlen + 4 + 8 + 8 + 16 + 1 + nag * ENTRY_LEN + 64;
    uint8_t *body = malloc(blen);
    uint8_t *secret = sodium_malloc(XCHG_SECRET_BYTES);
    char *text = NULL;
    xchg_err rc = XCHG_ERR_NOMEM;
    if (!body || !secret)
        goto cleanup;
    randombytes_buf(secret, XCHG_SECRET_BYTES);
    size_t o = 0;
    memcpy(body, "XL\x01", 3);
    o = 3;
    body[o++] = (uint8_t)idlen;
    memcpy(body + o, p->id, idlen);
    o += idlen;
    xchg__put_u32le(body + o, epoch);
    o += 4;
    xchg__put_u64le(body + o, (uint64_t)now);
    o += 8;
    memcpy(body + o, xchg_seckey_public(owner)->id, XCHG_KEYID_BYTES);
    o += 8;
    check_value(secret, body + o);
    o += 16;
    body[o++] = (uint8_t)nag;
    for (size_t i = 0; i < p->nparties; i++) {
        if (p->parties[i].role != XCHG_ROLE_AGENCY)
            continue;
        memcpy(body + o, p->parties[i].key.id, XCHG_KEYID_BYTES);
        o += XCHG_KEYID_BYTES;
        if ((rc = xchg_box_seal(&p->parties[i].key, secret, XCHG_SECRET_BYTES, body + o)) != XCHG_OK)
            goto cleanup;
        o += SEALED_LEN;
    }
    crypto_sign_state st;
    sign_input(body, o, &st);
    crypto_sign_final_create(&st, body + o, NULL, xchg__seckey_sign_sk(owner));
    o += 64;
    size_t b64 = xchg_base64_len(o);
    size_t cap = 256 + strlen(p->id) + b64;
    text = malloc(cap);
    if (!text) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    snprintf(text, cap,
             "# exchange linkage secret: agreement %s, epoch %u\n"
             "# sealed to its %zu agencies; the matcher cannot open it\n",
             p->id, epoch, nag);
    rc = xchg__armour_write(path, text, SEC_PREFIX, body, o, force, d);
cleanup:
    sodium_free(secret);
    free(body);
    free(text);
    return rc;
}

xchg_err xchg_secret_open(const xchg_agreement *agr, const xchg_seckey *k, const char *path,
                          xchg_secret **out, xchg_diag *d)
{
    const xchg_policy *pol = xchg_agreement_policy(agr);
    if (!pol || !k || !path || !out)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    char *buf = NULL;
    size_t len = 0, blen = 0;
    uint8_t *body = NULL;
    xchg_secret *s = NULL;
    xchg_err rc = xchg_file_read(path, SECFILE_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    rc = XCHG_ERR_FORMAT;
    char *line = strstr(buf, SEC_PREFIX);
    if (!line || (line != buf && line[-1] != '\n')) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "not an exchange linkage secret file (no \"xsec1:\" line)");
        goto cleanup;
    }
    line += strlen(SEC_PREFIX);
    size_t ll = strcspn(line, "\r\n");
    body = malloc(ll);
    if (!body) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    if (ll == 0 || xchg_base64_decode(body, ll, &blen, line, ll) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret is damaged (invalid base64)");
        goto cleanup;
    }
    /* fixed header */
    if (blen < 4 || memcmp(body, "XL", 2) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret is damaged (bad header)");
        goto cleanup;
    }
    if (body[2] != 1) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret has unsupported version %u",
                      body[2]);
        rc = XCHG_ERR_VERSION;
        goto cleanup;
    }
    size_t idlen = body[3];
    size_t fixed = 4 + idlen + 4 + 8 + 8 + 16 + 1;
    if (blen < fixed || blen != fixed + body[fixed - 1] * ENTRY_LEN + 64) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret is truncated or damaged");
        rc = XCHG_ERR_TRUNCATED;
        goto cleanup;
    }
    size_t o = 4;
    if (idlen != strlen(p->id) || memcmp(body + o, p->id, idlen) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "linkage secret belongs to agreement '%.*s', not '%s'", (int)idlen,
                      (const char *)body + o, p->id);
        rc = XCHG_ERR_DENIED;
        goto cleanup;
    }
    o += idlen;
    uint32_t epoch = xchg__get_u32le(body + o);
    o += 4;
    int64_t created = (int64_t)xchg__get_u64le(body + o);
    o += 8;
    const uint8_t *owner_id = body + o;
    o += 8;
    const uint8_t *kcv = body + o;
    o += 16;
    size_t n = body[o++];
    /* signature first: nothing is trusted before it verifies */
    if (p->owner == XCHG_NONE ||
        memcmp(owner_id, p->parties[p->owner].key.id, XCHG_KEYID_BYTES) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "linkage secret was not made by the agreement's owner");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    crypto_sign_state st;
    sign_input(body, blen - 64, &st);
    if (crypto_sign_final_verify(&st, body + blen - 64, p->parties[p->owner].key.sign_pk) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "linkage secret signature is not valid (altered or forged)");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    const uint8_t *entry = NULL;
    for (size_t i = 0; i < n; i++)
        if (memcmp(body + o + i * ENTRY_LEN, xchg_seckey_public(k)->id, XCHG_KEYID_BYTES) == 0)
            entry = body + o + i * ENTRY_LEN + XCHG_KEYID_BYTES;
    if (!entry) {
        size_t who = xchg_policy_party_by_key(pol, xchg_seckey_public(k)->id);
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "this key (%s%s%s) is not a recipient of the linkage secret: it is sealed "
                      "only to the agreement's agencies",
                      who == XCHG_NONE ? "not a party" : "party '",
                      who == XCHG_NONE ? "" : p->parties[who].id, who == XCHG_NONE ? "" : "'");
        rc = XCHG_ERR_DENIED;
        goto cleanup;
    }
    s = sodium_malloc(sizeof *s);
    if (!s) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    memset(s, 0, sizeof *s);
    if (xchg_box_open(k, entry, SEALED_LEN, s->key) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot unseal the linkage secret with this key");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    check_value(s->key, s->kcv);
    if (!xchg_equal(s->kcv, kcv, 16)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret check value does not match");
        rc = XCHG_ERR_VERIFY;
        goto cleanup;
    }
    s->epoch = epoch;
    s->created = created;
    s->nrecipients = n;
    memcpy(s->agreement, p->id, idlen);
    s->agreement[idlen] = '\0';
    if (epoch == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "linkage secret has epoch 0");
        rc = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    *out = s;
    s = NULL;
    rc = XCHG_OK;
cleanup:
    xchg_secret_free(s);
    free(body);
    free(buf);
    return rc;
}

xchg_err xchg_secret_from_bytes(const char *agreement_id, uint32_t epoch,
                                const uint8_t key[XCHG_SECRET_BYTES], xchg_secret **out)
{
    if (!agreement_id || !key || !out || epoch == 0 || strlen(agreement_id) > 64)
        return XCHG_ERR_ARG;
    xchg_secret *s = sodium_malloc(sizeof *s);
    if (!s)
        return XCHG_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    memcpy(s->key, key, XCHG_SECRET_BYTES);
    check_value(s->key, s->kcv);
    s->epoch = epoch;
    snprintf(s->agreement, sizeof s->agreement, "%s", agreement_id);
    *out = s;
    return XCHG_OK;
}

void xchg_secret_free(xchg_secret *s)
{
    if (s)
        sodium_free(s);
}

uint32_t xchg_secret_epoch(const xchg_secret *s) { return s->epoch; }
int64_t xchg_secret_created(const xchg_secret *s) { return s->created; }
size_t xchg_secret_recipients(const xchg_secret *s) { return s->nrecipients; }

void xchg_secret_fingerprint(const xchg_secret *s, char out[33])
{
    xchg_hex_encode(out, s->kcv, 16);
}

xchg_err xchg_secret_derive(const xchg_secret *s, const char *purpose, uint8_t *out,
                            size_t outlen)
{
    if (!s || !purpose || !out)
        return XCHG_ERR_ARG;
    char salt[96];
    int sl = snprintf(salt, sizeof salt, "exchange linkage v1/%s", s->agreement);
    size_t pl = strlen(purpose);
    uint8_t *info = malloc(pl + 5);
    if (!info)
        return XCHG_ERR_NOMEM;
    memcpy(info, purpose, pl);
    info[pl] = 0;
    info[pl + 1] = (uint8_t)(s->epoch >> 24);
    info[pl + 2] = (uint8_t)(s->epoch >> 16);
    info[pl + 3] = (uint8_t)(s->epoch >> 8);
    info[pl + 4] = (uint8_t)s->epoch;
    xchg_err rc = xchg_hkdf_sha256(s->key, XCHG_SECRET_BYTES, salt, (size_t)sl, info, pl + 5, out,
                                   outlen);
    free(info);
    return rc;
}
