/*
 * Detached agreement signatures (format: docs/policy.md, "Signatures").
 *
 * A signature file holds one line per signer: "xsig1:" + base64 of
 *   "XG" | signer key id (8) | SHA-256 of the agreement bytes (32) | time (i64le) | Ed25519 (64)
 * followed by a space and the signer's party id (informational). The signature covers
 * the context string "exchange agreement signature v1" and a NUL, then the first 50
 * bytes of the body, so it commits to the exact bytes of the agreement.
 */
#include "agreement_testing.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/fileio.h"
#include "exchange/policy.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_PREFIX "xsig1:"
#define SIG_BODY 114
#define SIG_SIGNED 50
#define SIGFILE_MAX (1u << 20)

static const char sig_ctx[] = "exchange agreement signature v1";

static void signed_message(const uint8_t *body, uint8_t *msg)
{
    memcpy(msg, sig_ctx, sizeof sig_ctx); /* includes the NUL */
    memcpy(msg + sizeof sig_ctx, body, SIG_SIGNED);
}
#define SIG_MSG_LEN (sizeof sig_ctx + SIG_SIGNED)

struct sigline {
    unsigned line;
    uint8_t body[SIG_BODY];
    int ok; /* parsed */
};

/* Parse the signature file; lines that do not parse are reported. Missing file = none. */
static xchg_err read_sigs(const char *path, struct sigline **out, size_t *n, int *missing,
                          char **raw, xchg_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    *missing = 0;
    if (raw)
        *raw = NULL;
    xchg_err rc = xchg_file_read(path, SIGFILE_MAX, &buf, &len, NULL);
    if (rc == XCHG_ERR_NOT_FOUND) {
        *missing = 1;
        return XCHG_OK;
    }
    if (rc != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read the signature file: %s",
                      xchg_strerror(rc));
        return rc;
    }
    size_t cap = 8, cnt = 0;
    struct sigline *v = malloc(cap * sizeof *v);
    if (!v) {
        free(buf);
        return XCHG_ERR_NOMEM;
    }
    unsigned lineno = 0;
    char *p = buf, *end = buf + len;
    rc = XCHG_OK;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll && p[0] != '#') {
            size_t tok = 0;
            while (tok < ll && p[tok] != ' ')
                tok++;
            struct sigline s = {.line = lineno};
            size_t bl = 0;
            if (tok < sizeof SIG_PREFIX - 1 || memcmp(p, SIG_PREFIX, sizeof SIG_PREFIX - 1) != 0) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, lineno, 1,
                              "not a signature line (expected \"xsig1:...\")");
                rc = XCHG_ERR_VERIFY;
            } else if (xchg_base64_decode(s.body, sizeof s.body, &bl, p + 6, tok - 6) != XCHG_OK ||
                       bl != SIG_BODY || memcmp(s.body, "XG", 2) != 0) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, lineno, 1, "signature is damaged");
                rc = XCHG_ERR_VERIFY;
            } else {
                s.ok = 1;
            }
            if (cnt == cap) {
                cap *= 2;
                struct sigline *nv = realloc(v, cap * sizeof *nv);
                if (!nv) {
                    free(v);
                    free(buf);
                    return XCHG_ERR_NOMEM;
                }
                v = nv;
            }
            v[cnt++] = s;
        }
        p = nl ? nl + 1 : end;
    }
    if (raw)
        *raw = buf;
    else
        free(buf);
    *out = v;
    *n = cnt;
    return rc;
}

/*
 * A draft (some key: unbound) is neither signed nor verified: a signature over it would
 * be over an agreement whose parties are not yet fixed. One message names every party
 * still without a key and the next step.
 */
static int refuse_draft(const xchg_policy *pol, const char *what, xchg_diag *d)
{
    size_t n = xchg_policy_unbound(pol);
    if (n == 0)
        return 0;
    const xchg_policy_data *p = xchg_policy_get(pol);
    char names[512];
    size_t o = 0;
    names[0] = '\0';
    for (size_t i = 0; i < p->nparties && o + 1 < sizeof names; i++) {
        if (!p->parties[i].unbound)
            continue;
        int w = snprintf(names + o, sizeof names - o, "%s'%s'", o ? ", " : "", p->parties[i].id);
        if (w < 0 || (size_t)w >= sizeof names - o)
            break;
        o += (size_t)w;
    }
    xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                  "agreement '%s' is a draft: %zu %s no key yet (key: unbound: %s); a draft "
                  "cannot be %s. Next step: 'xchg policy bind-keys AGREEMENT --keys DIR -o OUT' "
                  "with each party's DIR/<party id>.pub",
                  p->id, n, n == 1 ? "party has" : "parties have", names, what);
    return 1;
}

xchg_err xchg_policy_sign(const xchg_policy *pol, const xchg_seckey *k, const char *sigpath,
                          int64_t now, xchg_diag *d)
{
    if (!pol || !k || !sigpath)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    if (refuse_draft(pol, "signed", d))
        return XCHG_ERR_POLICY;
    const xchg_pubkey *pk = xchg_seckey_public(k);
    size_t who = xchg_policy_party_by_key(pol, pk->id);
    if (who == XCHG_NONE) {
        char hex[XCHG_KEYID_HEXLEN + 1];
        xchg_keyid_hex(pk->id, hex);
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "key %s is not the key of any party of agreement '%s'", hex, p->id);
        return XCHG_ERR_UNKNOWN_KEY;
    }
    if (memcmp(p->parties[who].key.sign_pk, pk->sign_pk, 32) != 0)
        return XCHG_ERR_UNKNOWN_KEY;
    if (!p->parties[who].signs) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "party '%s' is not a signatory of agreement '%s' (signs_agreement: "
                      "false); refusing to sign",
                      p->parties[who].id, p->id);
        return XCHG_ERR_DENIED;
    }
    /* Signing an agreement whose release key is required but not dealt is allowed (it
       moves no data: seal refuses such an agreement, and the deal rewrites the bytes, so
       this signature will not verify on the dealt version), but it is almost always a
       step out of order: say so loudly (docs/policy.md "release_key"). */
    if (p->release_key.pending)
        xchg_diag_add(d, XCHG_SEV_WARNING, NULL, 0, 0,
                      "agreement '%s' requires a release key that has not been dealt: no agency "
                      "can seal under this version, and dealing it changes the agreement, so "
                      "this signature must be made again. Deal first: the IG lead runs 'xchg "
                      "release-key deal AGREEMENT --shares DIR', then every signatory signs",
                      p->id);
    struct sigline *v = NULL;
    size_t n = 0;
    int missing;
    xchg_err rc = read_sigs(sigpath, &v, &n, &missing, NULL, d);
    if (rc != XCHG_OK) {
        free(v);
        return rc;
    }
    /* rewrite: header, other signers' lines, then ours */
    size_t lb = xchg_base64_len(SIG_BODY);
    size_t cap = 512 + (n + 1) * (lb + 80);
    char *text = malloc(cap);
    if (!text) {
        free(v);
        return XCHG_ERR_NOMEM;
    }
    char hashhex[65];
    xchg_hex_encode(hashhex, xchg_policy_hash(pol), 32);
    size_t off = (size_t)snprintf(text, cap,
                                  "# exchange agreement signatures: %s version %ld\n"
                                  "# sha256 of the signed file: %s\n",
                                  p->id, p->version, hashhex);
    char b64[256];
    for (size_t i = 0; i < n; i++) {
        if (!v[i].ok || memcmp(v[i].body + 2, pk->id, XCHG_KEYID_BYTES) == 0)
            continue;
        size_t other = xchg_policy_party_by_key(pol, v[i].body + 2);
        xchg_base64_encode(b64, v[i].body, SIG_BODY);
        off += (size_t)snprintf(text + off, cap - off, SIG_PREFIX "%s %s\n", b64,
                                other == XCHG_NONE ? "(unknown)" : p->parties[other].id);
    }
    uint8_t body[SIG_BODY], msg[SIG_MSG_LEN];
    memcpy(body, "XG", 2);
    memcpy(body + 2, pk->id, XCHG_KEYID_BYTES);
    memcpy(body + 10, xchg_policy_hash(pol), 32);
    xchg__put_u64le(body + 42, (uint64_t)now);
    signed_message(body, msg);
    xchg_sign(k, msg, sizeof msg, body + SIG_SIGNED);
    xchg_base64_encode(b64, body, SIG_BODY);
    off += (size_t)snprintf(text + off, cap - off, SIG_PREFIX "%s %s\n", b64, p->parties[who].id);
    rc = xchg_file_write_atomic(sigpath, text, off, 0644, XCHG_WRITE_OVERWRITE, d);
    free(text);
    free(v);
    return rc;
}

static void keep_first(xchg_err *rc, xchg_err e)
{
    if (*rc == XCHG_OK)
        *rc = e;
}

xchg_err xchg_policy_verify(const xchg_policy *pol, const char *sigpath, int32_t today,
                            xchg_diag *d)
{
    if (!pol || !sigpath)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    if (refuse_draft(pol, "verified or used", d))
        return XCHG_ERR_POLICY;
    struct sigline *v = NULL;
    size_t n = 0;
    int missing = 0;
    xchg_err rc = read_sigs(sigpath, &v, &n, &missing, NULL, d);
    if (rc == XCHG_ERR_NOMEM) {
        free(v);
        return rc;
    }
    int *good = calloc(p->nparties ? p->nparties : 1, sizeof *good);
    if (!good) {
        free(v);
        return XCHG_ERR_NOMEM;
    }
    if (missing) {
        xchg_diag_add(d, XCHG_SEV_ERROR, sigpath, 0, 0,
                      "no signature file: the agreement has not been signed");
        keep_first(&rc, XCHG_ERR_UNSIGNED);
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].ok)
            continue;
        char hex[XCHG_KEYID_HEXLEN + 1];
        xchg_keyid_hex(v[i].body + 2, hex);
        size_t who = xchg_policy_party_by_key(pol, v[i].body + 2);
        if (who == XCHG_NONE) {
            xchg_diag_add(d, XCHG_SEV_ERROR, sigpath, v[i].line, 1,
                          "signature by key %s, which is not the key of any party of this "
                          "agreement",
                          hex);
            keep_first(&rc, XCHG_ERR_UNKNOWN_KEY);
            continue;
        }
        const xchg_party *q = &p->parties[who];
        uint8_t msg[SIG_MSG_LEN];
        signed_message(v[i].body, msg);
        if (xchg_verify(&q->key, msg, sizeof msg, v[i].body + SIG_SIGNED) != XCHG_OK) {
            xchg_diag_add(d, XCHG_SEV_ERROR, sigpath, v[i].line, 1,
                          "signature of party '%s' is not valid (forged or damaged)", q->id);
            keep_first(&rc, XCHG_ERR_VERIFY);
            continue;
        }
        if (!xchg_equal(v[i].body + 10, xchg_policy_hash(pol), 32)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, sigpath, v[i].line, 1,
                          "signature of party '%s' is over different bytes: the agreement was "
                          "changed after '%s' signed it",
                          q->id, q->id);
            keep_first(&rc, XCHG_ERR_VERIFY);
            continue;
        }
        good[who] = 1;
    }
    for (size_t i = 0; i < p->nparties; i++)
        if (p->parties[i].signs && !good[i]) {
            xchg_diag_add(d, XCHG_SEV_ERROR, sigpath, 0, 0,
                          "missing signature of party '%s' (%s), which must sign the agreement",
                          p->parties[i].id, p->parties[i].label);
            keep_first(&rc, XCHG_ERR_UNSIGNED);
        }
    char a[11], b[11];
    if (today < p->valid_from) {
        xchg_date_format(p->valid_from, a);
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "agreement '%s' is not yet in force (valid from %s)",
                      p->id, a);
        keep_first(&rc, XCHG_ERR_VALIDITY);
    }
    if (today > p->expires) {
        xchg_date_format(p->expires, a);
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "agreement '%s' expired on %s", p->id, a);
        keep_first(&rc, XCHG_ERR_VALIDITY);
    } else if (today > p->review_by) {
        xchg_date_format(p->review_by, b);
        xchg_diag_add(d, XCHG_SEV_WARNING, NULL, 0, 0,
                      "agreement '%s' was due for review by %s", p->id, b);
    }
    free(good);
    free(v);
    return rc;
}

/* A verified agreement: the one type the acting functions take (policy.h). Made only here,
 * after xchg_policy_verify, and by the test-only constructor of agreement_testing.h. */
struct xchg_agreement {
    xchg_policy *p;
};

static xchg_err wrap(xchg_policy *p, xchg_agreement **out)
{
    xchg_agreement *a = calloc(1, sizeof *a);
    if (!a) {
        xchg_policy_free(p);
        return XCHG_ERR_NOMEM;
    }
    a->p = p;
    *out = a;
    return XCHG_OK;
}

xchg_err xchg_agreement_verify(xchg_policy *p, const char *sigpath, int32_t today,
                               xchg_agreement **out, xchg_diag *d)
{
    if (!p || !sigpath || !out) {
        xchg_policy_free(p);
        return XCHG_ERR_ARG;
    }
    xchg_err rc = xchg_policy_verify(p, sigpath, today, d);
    if (rc != XCHG_OK) {
        xchg_policy_free(p);
        return rc;
    }
    return wrap(p, out);
}

xchg_err xchg__agreement_trust_unverified(xchg_policy *p, xchg_agreement **out)
{
    if (!p || !out) {
        xchg_policy_free(p);
        return XCHG_ERR_ARG;
    }
    return wrap(p, out);
}

const xchg_policy *xchg_agreement_policy(const xchg_agreement *a)
{
    return a ? a->p : NULL;
}

const xchg_policy_data *xchg_agreement_get(const xchg_agreement *a)
{
    return a ? xchg_policy_get(a->p) : NULL;
}

void xchg_agreement_free(xchg_agreement *a)
{
    if (!a)
        return;
    xchg_policy_free(a->p);
    free(a);
}

xchg_err xchg_policy_load_verified(const char *path, const char *sigpath, int32_t today,
                                   xchg_agreement **out, xchg_diag *d)
{
    if (!path || !out)
        return XCHG_ERR_ARG;
    xchg_policy *p = NULL;
    xchg_err rc = xchg_policy_parse_file(path, &p, d);
    if (rc != XCHG_OK)
        return rc;
    char *def = NULL;
    if (!sigpath) {
        size_t n = strlen(path) + 5;
        def = malloc(n);
        if (!def) {
            xchg_policy_free(p);
            return XCHG_ERR_NOMEM;
        }
        snprintf(def, n, "%s.sig", path);
        sigpath = def;
    }
    rc = xchg_agreement_verify(p, sigpath, today, out, d);
    free(def);
    return rc;
}
