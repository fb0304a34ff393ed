/*
 * The release key: Shamir shares with Feldman commitments, hybrid ElGamal, partial
 * decryptions with Chaum–Pedersen proofs, Lagrange combination — all over libsodium's
 * ristretto255, BLAKE2b and XChaCha20-Poly1305 (include/exchange/threshold.h,
 * docs/formats.md "Release key").
 */
#include "exchange/threshold.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "threshold_internal.h"

#define P XCHG_TH_POINT_BYTES
#define S XCHG_TH_SCALAR_BYTES

static const char ctx_tag[] = "exchange release context v1";
static const char key_tag[] = "exchange release key v1";
static const char dleq_tag[] = "exchange release dleq v1";

xchg_err xchg_threshold_context(const uint8_t agreement[32], const uint8_t deal[XCHG_TH_DEAL_BYTES],
                                const uint8_t extract_id[16], const char *ref, size_t ref_len,
                                uint8_t ctx[XCHG_TH_CTX_BYTES])
{
    if (!agreement || !deal || !extract_id || !ref || ref_len > 65535)
        return XCHG_ERR_ARG;
    crypto_generichash_state h;
    uint8_t l[2] = {(uint8_t)ref_len, (uint8_t)(ref_len >> 8)};
    crypto_generichash_init(&h, NULL, 0, XCHG_TH_CTX_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)ctx_tag, sizeof ctx_tag);
    crypto_generichash_update(&h, agreement, 32);
    crypto_generichash_update(&h, deal, XCHG_TH_DEAL_BYTES);
    crypto_generichash_update(&h, extract_id, 16);
    crypto_generichash_update(&h, l, 2);
    crypto_generichash_update(&h, (const uint8_t *)ref, ref_len);
    crypto_generichash_final(&h, ctx, XCHG_TH_CTX_BYTES);
    return XCHG_OK;
}

static void scalar_of_uint(unsigned v, uint8_t out[S])
{
    memset(out, 0, S);
    for (size_t i = 0; i < sizeof v; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* 1 when s is a canonical scalar (< L) */
static int scalar_canonical(const uint8_t s[S])
{
    uint8_t wide[64] = {0}, red[S];
    memcpy(wide, s, S);
    crypto_core_ristretto255_scalar_reduce(red, wide);
    return sodium_memcmp(red, s, S) == 0;
}

xchg_err xchg_threshold_deal(unsigned t, unsigned n, uint8_t *commitments, uint8_t *shares,
                             uint8_t *verify)
{
    if (t < 1 || n < t || n > XCHG_TH_MAX_SHARES || !commitments || !shares || !verify)
        return XCHG_ERR_ARG;
    uint8_t *a = sodium_malloc((size_t)t * S);
    if (!a)
        return XCHG_ERR_NOMEM;
    xchg_err e = XCHG_OK;
    for (unsigned j = 0; j < t; j++) {
        crypto_core_ristretto255_scalar_random(a + (size_t)j * S);
        if (crypto_scalarmult_ristretto255_base(commitments + (size_t)j * P, a + (size_t)j * S) !=
            0)
            e = XCHG_ERR_CRYPTO;
    }
    for (unsigned i = 0; e == XCHG_OK && i < n; i++) {
        /* Horner: f(x) = a_0 + x(a_1 + x(a_2 + ...)) */
        uint8_t x[S], acc[S];
        scalar_of_uint(i + 1, x);
        memcpy(acc, a + (size_t)(t - 1) * S, S);
        for (unsigned j = t - 1; j-- > 0;) {
            crypto_core_ristretto255_scalar_mul(acc, acc, x);
            crypto_core_ristretto255_scalar_add(acc, acc, a + (size_t)j * S);
        }
        memcpy(shares + (size_t)i * S, acc, S);
        if (crypto_scalarmult_ristretto255_base(verify + (size_t)i * P, acc) != 0)
            e = XCHG_ERR_CRYPTO;
        sodium_memzero(acc, sizeof acc);
    }
    sodium_free(a); /* wipes the secret and the coefficients */
    if (e != XCHG_OK)
        sodium_memzero(shares, (size_t)n * S);
    return e;
}

xchg_err xchg_threshold_check_share(const uint8_t *commitments, unsigned t, unsigned index,
                                    const uint8_t verify[P])
{
    if (!commitments || t < 1 || index < 1 || !verify ||
        !crypto_core_ristretto255_is_valid_point(verify))
        return XCHG_ERR_VERIFY;
    /* Σ_j index^j C_j, by Horner over points: acc = C_{t-1}; acc = index·acc + C_j */
    uint8_t acc[P], x[S];
    scalar_of_uint(index, x);
    memcpy(acc, commitments + (size_t)(t - 1) * P, P);
    if (!crypto_core_ristretto255_is_valid_point(acc))
        return XCHG_ERR_VERIFY;
    for (unsigned j = t - 1; j-- > 0;) {
        if (!crypto_core_ristretto255_is_valid_point(commitments + (size_t)j * P) ||
            crypto_scalarmult_ristretto255(acc, x, acc) != 0 ||
            crypto_core_ristretto255_add(acc, acc, commitments + (size_t)j * P) != 0)
            return XCHG_ERR_VERIFY;
    }
    return sodium_memcmp(acc, verify, P) == 0 ? XCHG_OK : XCHG_ERR_VERIFY;
}

xchg_err xchg_threshold_share_matches(const uint8_t share[S], const uint8_t verify[P])
{
    uint8_t v[P];
    if (!share || !verify || !scalar_canonical(share) ||
        crypto_scalarmult_ristretto255_base(v, share) != 0)
        return XCHG_ERR_VERIFY;
    return sodium_memcmp(v, verify, P) == 0 ? XCHG_OK : XCHG_ERR_VERIFY;
}

/* key = BLAKE2b-256(tag | shared | R | ctx) */
static void wrap_key(const uint8_t shared[P], const uint8_t R[P], const uint8_t ctx[32],
                     uint8_t key[32])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)key_tag, sizeof key_tag);
    crypto_generichash_update(&h, shared, P);
    crypto_generichash_update(&h, R, P);
    crypto_generichash_update(&h, ctx, 32);
    crypto_generichash_final(&h, key, 32);
}

xchg_err xchg__threshold_wrap_r(const uint8_t r[S], const uint8_t pub[P], const uint8_t ctx[32],
                                const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t R[P], shared[P], key[32], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
    xchg_err e = XCHG_OK;
    if (!crypto_core_ristretto255_is_valid_point(pub) ||
        crypto_scalarmult_ristretto255_base(R, r) != 0 ||
        crypto_scalarmult_ristretto255(shared, r, pub) != 0) {
        e = XCHG_ERR_CRYPTO;
        goto cleanup;
    }
    wrap_key(shared, R, ctx, key);
    out[0] = XCHG_TH_WRAP_VERSION;
    memcpy(out + 1, R, P);
    /* the key is used once (fresh r per message), so a fixed nonce is sound */
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + P, NULL, pt, len, ctx, 32, NULL, nonce,
                                               key);
cleanup:
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
    return e;
}

xchg_err xchg_threshold_wrap(const uint8_t pub[P], const uint8_t ctx[32], const uint8_t *pt,
                             size_t len, uint8_t *out)
{
    if (!pub || !ctx || (!pt && len) || !out)
        return XCHG_ERR_ARG;
    uint8_t r[S];
    crypto_core_ristretto255_scalar_random(r);
    xchg_err e = xchg__threshold_wrap_r(r, pub, ctx, pt, len, out);
    sodium_memzero(r, sizeof r);
    return e;
}

xchg_err xchg_threshold_wrapped_R(const uint8_t *w, size_t len, uint8_t R[P])
{
    if (!w || len < XCHG_TH_WRAP_OVERHEAD || w[0] != XCHG_TH_WRAP_VERSION ||
        !crypto_core_ristretto255_is_valid_point(w + 1))
        return XCHG_ERR_FORMAT;
    memcpy(R, w + 1, P);
    return XCHG_OK;
}

xchg_err xchg_threshold_unwrap(const uint8_t sR[P], const uint8_t ctx[32], const uint8_t *w,
                               size_t len, uint8_t *out)
{
    uint8_t R[P], key[32], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
    if (!sR || !ctx || !out || xchg_threshold_wrapped_R(w, len, R) != XCHG_OK)
        return XCHG_ERR_VERIFY;
    wrap_key(sR, R, ctx, key);
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, w + 1 + P, len - 1 - P,
                                                        ctx, 32, nonce, key);
    sodium_memzero(key, sizeof key);
    return rc == 0 ? XCHG_OK : XCHG_ERR_VERIFY;
}

/* c = reduce(BLAKE2b-512(tag | u8 index | ctx | V | R | D | A | B)) */
static void dleq_challenge(unsigned index, const uint8_t ctx[32], const uint8_t V[P],
                           const uint8_t R[P], const uint8_t D[P], const uint8_t A[P],
                           const uint8_t B[P], uint8_t c[S])
{
    uint8_t wide[64], ix = (uint8_t)index;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, sizeof wide);
    crypto_generichash_update(&h, (const uint8_t *)dleq_tag, sizeof dleq_tag);
    crypto_generichash_update(&h, &ix, 1);
    crypto_generichash_update(&h, ctx, 32);
    crypto_generichash_update(&h, V, P);
    crypto_generichash_update(&h, R, P);
    crypto_generichash_update(&h, D, P);
    crypto_generichash_update(&h, A, P);
    crypto_generichash_update(&h, B, P);
    crypto_generichash_final(&h, wide, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(c, wide);
}

xchg_err xchg__threshold_partial_k(const uint8_t k[S], const uint8_t share[S], unsigned index,
                                   const uint8_t R[P], const uint8_t ctx[32], uint8_t D[P],
                                   uint8_t proof[XCHG_TH_PROOF_BYTES])
{
    uint8_t V[P], A[P], B[P], c[S], z[S];
    if (index < 1 || index > 255 || !crypto_core_ristretto255_is_valid_point(R) ||
        crypto_scalarmult_ristretto255_base(V, share) != 0 ||
        crypto_scalarmult_ristretto255(D, share, R) != 0 ||
        crypto_scalarmult_ristretto255_base(A, k) != 0 ||
        crypto_scalarmult_ristretto255(B, k, R) != 0)
        return XCHG_ERR_CRYPTO;
    dleq_challenge(index, ctx, V, R, D, A, B, c);
    crypto_core_ristretto255_scalar_mul(z, c, share);
    crypto_core_ristretto255_scalar_add(z, z, k);
    memcpy(proof, c, S);
    memcpy(proof + S, z, S);
    sodium_memzero(z, sizeof z);
    return XCHG_OK;
}

xchg_err xchg_threshold_partial(const uint8_t share[S], unsigned index, const uint8_t R[P],
                                const uint8_t ctx[32], uint8_t D[P],
                                uint8_t proof[XCHG_TH_PROOF_BYTES])
{
    if (!share || !R || !ctx || !D || !proof)
        return XCHG_ERR_ARG;
    uint8_t k[S];
    crypto_core_ristretto255_scalar_random(k);
    xchg_err e = xchg__threshold_partial_k(k, share, index, R, ctx, D, proof);
    sodium_memzero(k, sizeof k);
    return e;
}

xchg_err xchg_threshold_verify_partial(const uint8_t V[P], unsigned index, const uint8_t R[P],
                                       const uint8_t ctx[32], const uint8_t D[P],
                                       const uint8_t proof[XCHG_TH_PROOF_BYTES])
{
    if (!V || !R || !ctx || !D || !proof || index < 1 || index > 255)
        return XCHG_ERR_VERIFY;
    const uint8_t *c = proof, *z = proof + S;
    uint8_t zG[P], cV[P], zR[P], cD[P], A[P], B[P], c2[S];
    if (!crypto_core_ristretto255_is_valid_point(V) ||
        !crypto_core_ristretto255_is_valid_point(R) ||
        !crypto_core_ristretto255_is_valid_point(D) || !scalar_canonical(c) || !scalar_canonical(z))
        return XCHG_ERR_VERIFY;
    /* A = z·G - c·V, B = z·R - c·D (an identity intermediate is refused: it cannot occur
       for an honest proof except with negligible probability) */
    if (crypto_scalarmult_ristretto255_base(zG, z) != 0 ||
        crypto_scalarmult_ristretto255(cV, c, V) != 0 ||
        crypto_scalarmult_ristretto255(zR, z, R) != 0 ||
        crypto_scalarmult_ristretto255(cD, c, D) != 0 ||
        crypto_core_ristretto255_sub(A, zG, cV) != 0 ||
        crypto_core_ristretto255_sub(B, zR, cD) != 0)
        return XCHG_ERR_VERIFY;
    dleq_challenge(index, ctx, V, R, D, A, B, c2);
    return sodium_memcmp(c2, c, S) == 0 ? XCHG_OK : XCHG_ERR_VERIFY;
}

xchg_err xchg_threshold_combine(size_t n, const unsigned *idx, const uint8_t *D, uint8_t sR[P])
{
    if (n == 0 || n > XCHG_TH_MAX_SHARES || !idx || !D || !sR)
        return XCHG_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] < 1 || idx[i] > 255)
            return XCHG_ERR_ARG;
        for (size_t j = 0; j < i; j++)
            if (idx[i] == idx[j])
                return XCHG_ERR_ARG;
    }
    uint8_t acc[P], term[P];
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        /* λ_i = Π_{j≠i} x_j / (x_j - x_i) */
        uint8_t num[S], den[S], xi[S], xj[S], diff[S], inv[S], lam[S];
        scalar_of_uint(1, num);
        scalar_of_uint(1, den);
        scalar_of_uint(idx[i], xi);
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            scalar_of_uint(idx[j], xj);
            crypto_core_ristretto255_scalar_mul(num, num, xj);
            crypto_core_ristretto255_scalar_sub(diff, xj, xi);
            crypto_core_ristretto255_scalar_mul(den, den, diff);
        }
        if (crypto_core_ristretto255_scalar_invert(inv, den) != 0)
            return XCHG_ERR_ARG;
        crypto_core_ristretto255_scalar_mul(lam, num, inv);
        if (!crypto_core_ristretto255_is_valid_point(D + i * P) ||
            crypto_scalarmult_ristretto255(term, lam, D + i * P) != 0)
            return XCHG_ERR_CRYPTO;
        if (!have)
            memcpy(acc, term, P);
        else if (crypto_core_ristretto255_add(acc, acc, term) != 0)
            return XCHG_ERR_CRYPTO;
        have = 1;
    }
    memcpy(sR, acc, P);
    sodium_memzero(acc, sizeof acc);
    sodium_memzero(term, sizeof term);
    return XCHG_OK;
}

/* ---- deals and share files ----------------------------------------------------------- */

struct xchg_release_share {
    uint8_t *scalar; /* secure */
    unsigned index;
};

static const char share_format[] = "exchange-release-share";

static void hex_of(char *out, const uint8_t *b, size_t n)
{
    xchg_hex_encode(out, b, n);
}

/* Write text to DIR/name with mode 0600, atomically, refused if it exists unless
 * overwrite. */
static xchg_err write_secret_file(const char *dir, const char *name, const char *text,
                                  int overwrite, xchg_diag *d)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return XCHG_ERR_ARG;
    return xchg_file_write_atomic(path, text, strlen(text), 0600,
                                  overwrite ? XCHG_WRITE_OVERWRITE : 0, d);
}

xchg_err xchg_release_key_deal(const xchg_policy *p, const char *dir, int overwrite, char **section,
                               xchg_diag *d)
{
    if (!p || !dir || !section)
        return XCHG_ERR_ARG;
    *section = NULL;
    const xchg_policy_data *pd = xchg_policy_get(p);
    size_t ops[XCHG_TH_MAX_SHARES];
    unsigned n = 0;
    for (size_t i = 0; i < pd->nparties; i++)
        if (pd->parties[i].role == XCHG_ROLE_OPERATOR) {
            if (n == XCHG_TH_MAX_SHARES) {
                xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "more than %d operators",
                              XCHG_TH_MAX_SHARES);
                return XCHG_ERR_POLICY;
            }
            ops[n++] = i;
        }
    unsigned t = pd->approvals_required;
    if (pd->linkage_only || t < 1 || n < t) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' releases nothing or has fewer operators (%u) than "
                      "approvals_required (%u): there is no release key to deal",
                      pd->id, n, t);
        return XCHG_ERR_POLICY;
    }
    uint8_t commit[XCHG_TH_MAX_SHARES * P], verify[XCHG_TH_MAX_SHARES * P], deal[16];
    uint8_t *shares = sodium_malloc((size_t)n * S);
    if (!shares)
        return XCHG_ERR_NOMEM;
    xchg_random(deal, sizeof deal);
    xchg_err e = xchg_threshold_deal(t, n, commit, shares, verify);
    char dealhex[33], hx[65];
    hex_of(dealhex, deal, sizeof deal);
    /* the section first: nothing is written unless it can be made */
    size_t cap = 512 + (size_t)(t + n) * 200;
    char *sec = malloc(cap);
    if (e == XCHG_OK && !sec)
        e = XCHG_ERR_NOMEM;
    if (e == XCHG_OK) {
        size_t off = 0;
        hex_of(hx, commit, P);
        off += (size_t)snprintf(sec + off, cap - off,
                                "release_key:\n"
                                "  scheme: ristretto255-shamir-feldman-v1\n"
                                "  deal: %s\n"
                                "  threshold: %u\n"
                                "  public: %s\n"
                                "  commitments:%s\n",
                                dealhex, t, hx, t == 1 ? " []" : "");
        for (unsigned j = 1; j < t; j++) {
            hex_of(hx, commit + (size_t)j * P, P);
            off += (size_t)snprintf(sec + off, cap - off, "    - %s\n", hx);
        }
        off += (size_t)snprintf(sec + off, cap - off, "  shares:\n");
        for (unsigned i = 0; i < n; i++) {
            hex_of(hx, verify + (size_t)i * P, P);
            off += (size_t)snprintf(sec + off, cap - off,
                                    "    - {operator: %s, index: %u, verify: %s}\n",
                                    pd->parties[ops[i]].id, i + 1, hx);
        }
    }
    for (unsigned i = 0; e == XCHG_OK && i < n; i++) {
        const xchg_party *q = &pd->parties[ops[i]];
        uint8_t sealed[S + XCHG_BOX_OVERHEAD];
        char b64[128], kid[XCHG_KEYID_HEXLEN + 1], vhex[65], phex[65], name[XCHG_PARTY_ID_MAX + 8];
        if ((e = xchg_box_seal(&q->key, shares + (size_t)i * S, S, sealed)) != XCHG_OK)
            break;
        xchg_base64_encode(b64, sealed, sizeof sealed);
        xchg_keyid_hex(q->key.id, kid);
        hex_of(vhex, verify + (size_t)i * P, P);
        hex_of(phex, commit, P);
        json_t *j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "format",
                              share_format, "version", 1, "agreement", pd->id, "deal", dealhex,
                              "operator", q->id, "key_id", kid, "index", (int)(i + 1), "threshold",
                              (int)t, "public", phex, "verify", vhex, "sealed_share", b64);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        if (!text) {
            e = XCHG_ERR_NOMEM;
            break;
        }
        snprintf(name, sizeof name, "%s.share", q->id);
        size_t tl = strlen(text);
        char *withnl = malloc(tl + 2);
        if (withnl) {
            memcpy(withnl, text, tl);
            memcpy(withnl + tl, "\n", 2);
        }
        free(text);
        if (!withnl) {
            e = XCHG_ERR_NOMEM;
            break;
        }
        e = write_secret_file(dir, name, withnl, overwrite, d);
        free(withnl);
    }
    sodium_free(shares); /* wiped: the dealer keeps nothing */
    if (e != XCHG_OK) {
        free(sec);
        return e;
    }
    *section = sec;
    return XCHG_OK;
}

xchg_err xchg_release_key_apply(const char *text, size_t len, const char *section, char **out,
                                size_t *outlen)
{
    if (!text || !section || !out || !outlen)
        return XCHG_ERR_ARG;
    /* find a line starting "release_key:" at column 0 */
    size_t start = len, end = len;
    for (size_t i = 0; i < len;) {
        size_t eol = i;
        while (eol < len && text[eol] != '\n')
            eol++;
        if (start == len && eol - i >= 12 && memcmp(text + i, "release_key:", 12) == 0) {
            start = i;
            end = eol < len ? eol + 1 : len;
            /* the entry's continuation: indented, blank or comment lines */
            while (end < len && (text[end] == ' ' || text[end] == '\n')) {
                size_t e2 = end;
                while (e2 < len && text[e2] != '\n')
                    e2++;
                end = e2 < len ? e2 + 1 : len;
            }
            break;
        }
        i = eol < len ? eol + 1 : len;
    }
    size_t sl = strlen(section);
    int need_nl = start == len && len > 0 && text[len - 1] != '\n';
    size_t n = start + (size_t)need_nl + sl + (len - end);
    char *o = malloc(n + 1);
    if (!o)
        return XCHG_ERR_NOMEM;
    memcpy(o, text, start);
    size_t off = start;
    if (need_nl)
        o[off++] = '\n';
    memcpy(o + off, section, sl);
    off += sl;
    memcpy(o + off, text + end, len - end);
    off += len - end;
    o[off] = '\0';
    *out = o;
    *outlen = off;
    return XCHG_OK;
}

xchg_err xchg_release_share_load(const xchg_agreement *agr, const xchg_seckey *op, const char *path,
                                 xchg_release_share **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !op || !path || !out)
        return XCHG_ERR_ARG;
    *out = NULL;
    const xchg_policy_data *pd = xchg_policy_get(p);
    const xchg_release_key *rk = &pd->release_key;
    if (!rk->present) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' has %s release key; a share is not used", pd->id,
                      rk->pending ? "not yet dealt its" : "no");
        return XCHG_ERR_DENIED;
    }
    char *buf = NULL;
    size_t len = 0;
    xchg_err e = xchg_file_read(path, 1 << 16, &buf, &len, d);
    if (e != XCHG_OK)
        return e;
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    free(buf);
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!j || !fmt || strcmp(fmt, share_format) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, j ? 0 : (unsigned)je.line, 0,
                      "not a release-key share file");
        json_decref(j);
        return XCHG_ERR_FORMAT;
    }
    if (json_integer_value(json_object_get(j, "version")) != 1) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "share file version %lld is not supported (1)",
                      (long long)json_integer_value(json_object_get(j, "version")));
        json_decref(j);
        return XCHG_ERR_VERSION;
    }
    const char *deal = json_string_value(json_object_get(j, "deal"));
    const char *opid = json_string_value(json_object_get(j, "operator"));
    const char *sealed = json_string_value(json_object_get(j, "sealed_share"));
    long long index = json_integer_value(json_object_get(j, "index"));
    char dealhex[33];
    hex_of(dealhex, rk->deal, sizeof rk->deal);
    size_t me = xchg_policy_party_by_key(p, xchg_seckey_public(op)->id);
    const xchg_release_key_share *mine = NULL;
    for (size_t i = 0; me != XCHG_NONE && i < rk->nshares; i++)
        if (rk->shares[i].party == me)
            mine = &rk->shares[i];
    e = XCHG_ERR_DENIED;
    if (!deal || !opid || !sealed) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "a share file needs 'deal', 'operator', 'index' and 'sealed_share'");
        e = XCHG_ERR_FORMAT;
    } else if (strcmp(deal, dealhex) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "this share is from deal %.32s, but agreement '%s' records deal %s "
                      "(a share of an earlier or another deal opens nothing sealed now)",
                      deal, pd->id, dealhex);
    } else if (!mine) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "this key is not the key of an operator holding a share of agreement "
                      "'%s''s release key",
                      pd->id);
    } else if (strcmp(opid, pd->parties[me].id) != 0 || index != (long long)mine->index) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "this is operator %.64s's share (index %lld), not the share of %s "
                      "(index %u) whose key this is",
                      opid, index, pd->parties[me].id, mine->index);
    } else {
        e = XCHG_OK;
    }
    uint8_t sealedb[S + XCHG_BOX_OVERHEAD];
    size_t sl = 0;
    xchg_release_share *sh = NULL;
    if (e == XCHG_OK &&
        (xchg_base64_decode(sealedb, sizeof sealedb, &sl, sealed, strlen(sealed)) != XCHG_OK ||
         sl != sizeof sealedb)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "'sealed_share' is not a sealed share");
        e = XCHG_ERR_FORMAT;
    }
    if (e == XCHG_OK) {
        sh = calloc(1, sizeof *sh);
        if (sh)
            sh->scalar = sodium_malloc(S);
        if (!sh || !sh->scalar)
            e = XCHG_ERR_NOMEM;
    }
    if (e == XCHG_OK && xchg_box_open(op, sealedb, sl, sh->scalar) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the share does not open with this key (sealed to another key, or altered)");
        e = XCHG_ERR_VERIFY;
    }
    if (e == XCHG_OK && xchg_threshold_share_matches(sh->scalar, mine->verify) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the share does not match the verification share agreement '%s' "
                      "publishes for %s (a share of another deal, or altered)",
                      pd->id, pd->parties[me].id);
        e = XCHG_ERR_VERIFY;
    }
    json_decref(j);
    if (e != XCHG_OK) {
        xchg_release_share_free(sh);
        return e;
    }
    sh->index = mine->index;
    *out = sh;
    return XCHG_OK;
}

void xchg_release_share_free(xchg_release_share *s)
{
    if (!s)
        return;
    if (s->scalar)
        sodium_free(s->scalar);
    free(s);
}

unsigned xchg_release_share_index(const xchg_release_share *s)
{
    return s ? s->index : 0;
}

const uint8_t *xchg_release_share_scalar(const xchg_release_share *s)
{
    return s ? s->scalar : NULL;
}
