/* Evidence packs: the signed bytes (evidence.h; docs/formats.md "Evidence pack"). */
#include "exchange/evidence.h"
#include "exchange/crypto.h"
#include "evidence_internal.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sig_ctx[] = "exchange evidence pack v1"; /* signed with its NUL */
static const char sig_tag[] = "\nxchg-signature ed25519 ";

static void transcript(const char *body, size_t len, uint8_t out[XCHG_SHA256_BYTES])
{
    /* the signature covers a hash of (context || body), so a pack of any size signs fast */
    char *buf = malloc(sizeof sig_ctx + len);
    if (!buf) {
        memset(out, 0, XCHG_SHA256_BYTES);
        return;
    }
    memcpy(buf, sig_ctx, sizeof sig_ctx);
    memcpy(buf + sizeof sig_ctx, body, len);
    xchg_sha256(buf, sizeof sig_ctx + len, out);
    free(buf);
}

xchg_err xchg_evidence_seal(const xchg_seckey *matcher, const char *body, size_t len, char **out,
                            size_t *outlen)
{
    if (!matcher || !body || !out || !outlen || len > XCHG_EVIDENCE_MAX || memchr(body, '\n', len))
        return XCHG_ERR_ARG;
    uint8_t h[XCHG_SHA256_BYTES], sig[XCHG_SIG_BYTES];
    transcript(body, len, h);
    xchg_sign(matcher, h, sizeof h, sig);
    char kid[XCHG_KEYID_HEXLEN + 1], b64[128];
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, kid);
    xchg_base64_encode(b64, sig, sizeof sig);
    size_t cap = len + sizeof sig_tag + sizeof kid + sizeof b64 + 4;
    char *o = malloc(cap);
    if (!o)
        return XCHG_ERR_NOMEM;
    memcpy(o, body, len);
    int n = snprintf(o + len, cap - len, "%s%s %s\n", sig_tag, kid, b64);
    *out = o;
    *outlen = len + (size_t)n;
    return XCHG_OK;
}

xchg_err xchg__evidence_open(const char *bytes, size_t len, const xchg_pubkey *matcher,
                             size_t *body_len, const char *path, xchg_diag *d)
{
    /* body, then exactly one signature line at the end */
    const char *tag = NULL;
    for (size_t i = 0; i + sizeof sig_tag - 1 <= len; i++)
        if (memcmp(bytes + i, sig_tag, sizeof sig_tag - 1) == 0)
            tag = bytes + i;
    if (!tag || len == 0 || bytes[len - 1] != '\n') {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "not an evidence pack: no signature line at its end");
        return XCHG_ERR_FORMAT;
    }
    size_t blen = (size_t)(tag - bytes);
    const char *line = tag + sizeof sig_tag - 1, *end = bytes + len - 1;
    const char *sp = memchr(line, ' ', (size_t)(end - line));
    char kid[XCHG_KEYID_HEXLEN + 1];
    if (!sp || (size_t)(sp - line) != XCHG_KEYID_HEXLEN) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "evidence pack: malformed signature line");
        return XCHG_ERR_FORMAT;
    }
    memcpy(kid, line, XCHG_KEYID_HEXLEN);
    kid[XCHG_KEYID_HEXLEN] = '\0';
    char want[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(matcher->id, want);
    if (strcmp(kid, want) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "evidence pack is signed by key %s, not by the agreement's matcher (%s)",
                      kid, want);
        return XCHG_ERR_VERIFY;
    }
    uint8_t sig[XCHG_SIG_BYTES + 2];
    size_t sl = 0;
    if (xchg_base64_decode(sig, sizeof sig, &sl, sp + 1, (size_t)(end - sp - 1)) != XCHG_OK ||
        sl != XCHG_SIG_BYTES) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "evidence pack: malformed signature");
        return XCHG_ERR_FORMAT;
    }
    uint8_t h[XCHG_SHA256_BYTES];
    transcript(bytes, blen, h);
    if (xchg_verify(matcher, h, sizeof h, sig) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "evidence pack signature does not verify: the pack was changed after the "
                      "matcher signed it");
        return XCHG_ERR_VERIFY;
    }
    *body_len = blen;
    return XCHG_OK;
}
