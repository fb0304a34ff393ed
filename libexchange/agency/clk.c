/*
 * CLK encoding, bit-for-bit compatible with clkhash 0.18 (linkage schema v3).
 *
 * The steps and every choice that decides a bit are written down in docs/clk.md; the
 * comments here say why a step looks the way it does when the reason is compatibility
 * with Python semantics (code points, int(), strptime) rather than taste.
 */
#include "clk_internal.h"
#include "exchange/crypto.h"

/*
 * HMAC for doubleHash uses OpenSSL's low-level SHA1_* and MD5_* functions, deprecated in
 * OpenSSL 3 in favour of EVP. They are the only OpenSSL interface whose hash state is a
 * plain struct we can keep in sodium_malloc memory and copy: the keyed inner and outer
 * states are computed once per feature, and each token then costs a struct copy instead of
 * an EVP_MAC re-initialisation (which re-hashes the key and allocates). The deprecation
 * warning is silenced around those calls only (CLK_LOWLEVEL_BEGIN/END), nowhere else.
 */
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define BLAKE_OUT 64 /* BLAKE2b-512: 32 uint16 indices per call */
/* Snapshots after the key block kept per blakeHash feature: blocks j < this (tokens of up
 * to 32 * CLK_SNAP_BLOCKS bits); higher j, which no sensible schema reaches, rebuild one. */
#define CLK_SNAP_BLOCKS 64u
#define HMAC_BLOCK 64 /* SHA-1 and MD5 block size */

#define CLK_LOWLEVEL_BEGIN                                                                     \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wdeprecated-declarations\"")
#define CLK_LOWLEVEL_END _Pragma("GCC diagnostic pop")

/* Keyed HMAC states of one doubleHash feature: after the inner (key ^ ipad) and outer
 * (key ^ opad) blocks, SHA-1 with key 0 and MD5 with key 1. Secret. */
CLK_LOWLEVEL_BEGIN
struct hmac_keyed {
    SHA_CTX sha_in, sha_out;
    MD5_CTX md5_in, md5_out;
};

/* Working copies for one token: derived from the keyed states, so secure memory too. */
struct hmac_work {
    SHA_CTX sha;
    MD5_CTX md5;
    uint8_t inner[SHA_DIGEST_LENGTH];
};
CLK_LOWLEVEL_END

/*
 * blakeHash blocks waiting to be hashed four at a time (clk_blake2b_snap_hash4). Bits are
 * OR-ed into the filter, so the order in which tokens are hashed does not matter; the queue
 * is drained before the filter is folded. Holds copies of tokens: wiped like the scratch.
 */
struct blake_queue {
    const struct clk_blake2b_snap *snap[4];
    uint8_t block[4][128];
    size_t len[4];
    size_t nbits[4];
    unsigned n;
};

struct buf {
    void *p;
    size_t cap; /* in elements */
};

struct xchg_clk_encoder {
    const xchg_clk_schema *s;
    uint8_t *keys;     /* nf * 2 * keysize, guarded */
    /* blakeHash: snapshots after the key block (secure); feature i has fnsnap[i] of them
     * from snap[fsnap[i]] (block j at + j). */
    struct clk_blake2b_snap *snap;
    size_t nsnap;
    size_t *fsnap, *fnsnap;
    /* doubleHash: keyed HMAC states per feature and one working set, both secure */
    struct hmac_keyed *hk;
    struct hmac_work *hw;
    struct blake_queue *q;
    uint8_t *bits;     /* hash_l bits, MSB first */
    size_t nbits_bytes;
    struct buf val;  /* normalised value */
    struct buf pad;  /* padded value */
    struct buf offs; /* code point offsets into pad */
    struct buf tok;  /* one token */
    struct clk_harden *hard; /* NULL: no hardening (clk_harden.c) */
};

/* Grow b to hold n elements of size sz. 0 on success. */
static int buf_reserve(struct buf *b, size_t n, size_t sz)
{
    if (n <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < n)
        nc *= 2;
    void *p = realloc(b->p, nc * sz);
    if (!p)
        return -1;
    b->p = p;
    b->cap = nc;
    return 0;
}

void xchg_clk_encoder_free(xchg_clk_encoder *enc)
{
    if (!enc)
        return;
    xchg_secure_free(enc->keys); /* xchg_secure_free wipes before it releases */
    xchg__clk_harden_free(enc->hard, enc->s->l);
    xchg_secure_free(enc->snap);
    xchg_secure_free(enc->hk);
    xchg_secure_free(enc->hw);
    free(enc->fsnap);
    free(enc->fnsnap);
    /* Scratch held record values and tokens: personal data, so wipe it too. */
    if (enc->bits)
        xchg_wipe(enc->bits, enc->nbits_bytes);
    free(enc->bits);
    struct buf *bs[] = {&enc->val, &enc->pad, &enc->tok};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) {
        if (bs[i]->p)
            xchg_wipe(bs[i]->p, bs[i]->cap);
        free(bs[i]->p);
    }
    free(enc->offs.p);
    if (enc->q)
        xchg_wipe(enc->q, sizeof *enc->q);
    free(enc->q);
    free(enc);
}

/* blakeHash salt: the ASCII decimal of block number j, zero-padded to 16 bytes. */
static void blake_salt(uint8_t salt[16], size_t j)
{
    char num[24];
    size_t n = 0;
    do {
        num[n++] = (char)('0' + j % 10);
        j /= 10;
    } while (j && n < 16);
    memset(salt, 0, 16);
    for (size_t i = 0; i < n; i++)
        salt[i] = (uint8_t)num[n - 1 - i];
}

/*
 * Per blakeHash feature, the BLAKE2b state after the key block for every block number j a
 * token of the feature can need (bitsPerToken k, or at most bitsPerFeature k when one
 * token takes them all: ceil(k / 32) blocks), so that a token costs one compression.
 */
static xchg_err blake_setup(xchg_clk_encoder *enc)
{
    const xchg_clk_schema *s = enc->s;
    enc->fsnap = calloc(s->nf ? s->nf : 1, sizeof *enc->fsnap);
    enc->fnsnap = calloc(s->nf ? s->nf : 1, sizeof *enc->fnsnap);
    if (!enc->fsnap || !enc->fnsnap)
        return XCHG_ERR_NOMEM;
    size_t total = 0;
    for (size_t i = 0; i < s->nf; i++) {
        const struct clk_feature *f = &s->f[i];
        if (f->ignored || f->hash != XCHG_CLK_HASH_BLAKE)
            continue;
        size_t nb = (f->bits + 31) / 32;
        enc->fsnap[i] = total;
        enc->fnsnap[i] = nb < CLK_SNAP_BLOCKS ? nb : CLK_SNAP_BLOCKS;
        total += enc->fnsnap[i];
    }
    if (total == 0)
        return XCHG_OK;
    enc->nsnap = total;
    enc->snap = xchg_secure_alloc(enc->nsnap * sizeof *enc->snap);
    enc->q = calloc(1, sizeof *enc->q);
    if (!enc->snap || !enc->q)
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < s->nf; i++)
        for (size_t j = 0; j < enc->fnsnap[i]; j++) {
            uint8_t salt[16];
            blake_salt(salt, j);
            clk_blake2b_snap_init(&enc->snap[enc->fsnap[i] + j], BLAKE_OUT,
                                  xchg_clk_encoder_feature_key(enc, i, 0), s->keysize, salt, NULL);
        }
    return XCHG_OK;
}

CLK_LOWLEVEL_BEGIN
/*
 * HMAC (RFC 2104) keyed states for the doubleHash features: the hash of (key ^ ipad) and of
 * (key ^ opad), a key longer than the block hashed first. Only update and final of the
 * token and of the inner digest remain per token.
 */
static xchg_err hmac_setup(xchg_clk_encoder *enc)
{
    const xchg_clk_schema *s = enc->s;
    int any = 0;
    for (size_t i = 0; i < s->nf; i++)
        any |= !s->f[i].ignored && s->f[i].hash == XCHG_CLK_HASH_DOUBLE;
    if (!any)
        return XCHG_OK;
    enc->hk = xchg_secure_alloc(s->nf * sizeof *enc->hk);
    enc->hw = xchg_secure_alloc(sizeof *enc->hw);
    /* key, ipad/opad block: 64 + 64 bytes of scratch, secure too */
    uint8_t *tmp = xchg_secure_alloc(2 * HMAC_BLOCK);
    xchg_err rc = XCHG_OK;
    if (!enc->hk || !enc->hw || !tmp) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    uint8_t *key = tmp, *pad = tmp + HMAC_BLOCK;
    for (size_t i = 0; i < s->nf; i++) {
        if (s->f[i].ignored || s->f[i].hash != XCHG_CLK_HASH_DOUBLE)
            continue;
        struct hmac_keyed *hk = &enc->hk[i];
        for (unsigned k = 0; k < 2; k++) {
            const uint8_t *kk = xchg_clk_encoder_feature_key(enc, i, k);
            memset(key, 0, HMAC_BLOCK);
            if (s->keysize > HMAC_BLOCK) {
                int ok = k == 0 ? SHA1(kk, s->keysize, key) != NULL
                                : MD5(kk, s->keysize, key) != NULL;
                if (!ok) {
                    rc = XCHG_ERR_CRYPTO;
                    goto cleanup;
                }
            } else {
                memcpy(key, kk, s->keysize);
            }
            for (unsigned o = 0; o < 2; o++) {
                for (size_t b = 0; b < HMAC_BLOCK; b++)
                    pad[b] = key[b] ^ (o == 0 ? 0x36 : 0x5c);
                int ok;
                if (k == 0) {
                    SHA_CTX *c = o == 0 ? &hk->sha_in : &hk->sha_out;
                    ok = SHA1_Init(c) && SHA1_Update(c, pad, HMAC_BLOCK);
                } else {
                    MD5_CTX *c = o == 0 ? &hk->md5_in : &hk->md5_out;
                    ok = MD5_Init(c) && MD5_Update(c, pad, HMAC_BLOCK);
                }
                if (!ok) {
                    rc = XCHG_ERR_CRYPTO;
                    goto cleanup;
                }
            }
        }
    }

cleanup:
    xchg_secure_free(tmp);
    return rc;
}
CLK_LOWLEVEL_END

xchg_err xchg_clk_encoder_new(const xchg_clk_schema *s, const void *secret, size_t secretlen,
                              xchg_clk_encoder **out)
{
    xchg_err rc = XCHG_OK;
    xchg_clk_encoder *enc = NULL;

    if (!s || !out || (!secret && secretlen))
        return XCHG_ERR_ARG;
    enc = calloc(1, sizeof *enc);
    if (!enc)
        return XCHG_ERR_NOMEM;
    enc->s = s;
    size_t klen = s->nf * 2 * s->keysize;
    enc->keys = xchg_secure_alloc(klen);
    enc->nbits_bytes = (s->hash_l + 7) / 8;
    enc->bits = calloc(enc->nbits_bytes, 1);
    if (!enc->keys || !enc->bits) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    /* One HKDF output cut into 2 keys per feature, in feature order: ignored features
     * take their slot too, so the keys of the others do not depend on which are used. */
    rc = xchg_hkdf_sha256(secret, secretlen, s->salt, s->saltlen, s->info, s->infolen, enc->keys,
                          klen);
    if (rc != XCHG_OK)
        goto cleanup;
    if ((rc = blake_setup(enc)) != XCHG_OK)
        goto cleanup;
    rc = hmac_setup(enc);

cleanup:
    if (rc != XCHG_OK) {
        xchg_clk_encoder_free(enc);
        return rc;
    }
    *out = enc;
    return XCHG_OK;
}

xchg_err xchg_clk_encoder_harden(xchg_clk_encoder *enc, const xchg_clk_hardening *h,
                                 const void *secret, size_t secretlen, xchg_diag *d)
{
    if (!enc)
        return XCHG_ERR_ARG;
    struct clk_harden *nh = NULL;
    xchg_err rc = xchg__clk_harden_new(enc->s, h, secret, secretlen, &nh, d);
    if (rc != XCHG_OK)
        return rc;
    xchg__clk_harden_free(enc->hard, enc->s->l);
    enc->hard = nh;
    return XCHG_OK;
}

const uint8_t *xchg_clk_encoder_feature_key(const xchg_clk_encoder *enc, size_t i, unsigned k)
{
    if (!enc || i >= enc->s->nf || k > 1)
        return NULL;
    return enc->keys + (2 * i + k) * enc->s->keysize;
}

/* ---- validation and normalisation (clkhash field_formats) --------------------------- */

/*
 * Decode UTF-8 strictly; store n+1 byte offsets of code points in offs when offs is not
 * NULL. Returns the number of code points, or -1 for invalid UTF-8.
 */
static long utf8_count(const char *s, size_t len, size_t *offs)
{
    long n = 0;
    size_t i = 0;
    while (i < len) {
        size_t r = 1;
        if ((unsigned char)s[i] >= 0x80) { /* ASCII needs no decoder; the rest is checked */
            utf8proc_int32_t cp;
            utf8proc_ssize_t ur = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                                   (utf8proc_ssize_t)(len - i), &cp);
            if (ur <= 0)
                return -1;
            r = (size_t)ur;
        }
        if (offs)
            offs[n] = i;
        n++;
        i += r;
    }
    if (offs)
        offs[n] = len;
    return n;
}

/* Python's str.lower() == s (or upper): simple per-code-point case mapping. */
static int case_ok(const char *s, size_t len, enum clk_case want)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (r <= 0)
            return 0;
        utf8proc_int32_t m = want == CLK_CASE_LOWER ? utf8proc_tolower(cp) : utf8proc_toupper(cp);
        if (m != cp)
            return 0;
        i += (size_t)r;
    }
    return 1;
}

static int py_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/*
 * Python's str(int(s, 10)) for ASCII input: surrounding whitespace, a sign, digits with
 * single underscores between them. The canonical decimal goes into out (capacity
 * len + 2); *neg and *mag receive sign and magnitude (*big set when it exceeds 19 digits)
 * for range checks. Returns the length written, or -1 when s is not an integer.
 */
static long py_int(const char *s, size_t len, char *out, int *neg, unsigned long long *mag,
                   int *big)
{
    size_t i = 0, e = len;
    while (i < e && py_space((unsigned char)s[i]))
        i++;
    while (e > i && py_space((unsigned char)s[e - 1]))
        e--;
    *neg = 0;
    if (i < e && (s[i] == '+' || s[i] == '-'))
        *neg = s[i++] == '-';
    if (i == e || s[i] < '0' || s[i] > '9')
        return -1;
    size_t o = 0, ndig = 0;
    *mag = 0;
    *big = 0;
    if (*neg)
        out[o++] = '-';
    for (; i < e; i++) {
        char ch = s[i];
        if (ch == '_') {
            if (i + 1 >= e || s[i + 1] < '0' || s[i + 1] > '9' || s[i - 1] == '_')
                return -1;
            continue;
        }
        if (ch < '0' || ch > '9')
            return -1;
        if (ndig == 0 && ch == '0')
            continue; /* leading zero */
        out[o++] = ch;
        if (++ndig > 19)
            *big = 1;
        else
            *mag = *mag * 10 + (unsigned long long)(ch - '0');
    }
    if (ndig == 0) { /* zero, "-0" included */
        *neg = 0;
        out[0] = '0';
        return 1;
    }
    return (long)o;
}

/* value < bound (cmp < 0), == (0), > (> 0) for the parsed integer against a long long. */
static int int_cmp(int neg, unsigned long long mag, int big, long long bound)
{
    if (big)
        return neg ? -1 : 1;
    if (!neg) {
        if (bound < 0)
            return 1;
        unsigned long long b = (unsigned long long)bound;
        return mag < b ? -1 : mag > b;
    }
    if (bound >= 0)
        return mag == 0 && bound == 0 ? 0 : -1;
    unsigned long long b = (unsigned long long)(-(bound + 1)) + 1u; /* |bound| */
    return mag > b ? -1 : mag < b;
}

/* --- strptime, as CPython's _strptime does it: a regex, matched with backtracking --- */

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

struct dt {
    int year, month, day;
};

static int lc(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}
static int isdig(char ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * Candidate lengths of a numeric directive at s[0..n), in the order of CPython's regex
 * alternation. Writes up to 5 lengths into len[]; returns how many.
 */
static int num_candidates(char dir, const char *s, size_t n, int len[5])
{
    int k = 0;
    char a = n > 0 ? s[0] : 0, b = n > 1 ? s[1] : 0;
    switch (dir) {
    case 'Y':
        if (n >= 4 && isdig(s[0]) && isdig(s[1]) && isdig(s[2]) && isdig(s[3]))
            len[k++] = 4;
        break;
    case 'y':
        if (isdig(a) && isdig(b))
            len[k++] = 2;
        break;
    case 'm': /* 1[0-2]|0[1-9]|[1-9] */
        if (a == '1' && b >= '0' && b <= '2')
            len[k++] = 2;
        if (a == '0' && b >= '1' && b <= '9')
            len[k++] = 2;
        if (a >= '1' && a <= '9')
            len[k++] = 1;
        break;
    case 'd': /* 3[01]|[12]\d|0[1-9]|[1-9]| [1-9] */
        if (a == '3' && (b == '0' || b == '1'))
            len[k++] = 2;
        if ((a == '1' || a == '2') && isdig(b))
            len[k++] = 2;
        if (a == '0' && b >= '1' && b <= '9')
            len[k++] = 2;
        if (a >= '1' && a <= '9')
            len[k++] = 1;
        if (a == ' ' && b >= '1' && b <= '9')
            len[k++] = 2;
        break;
    case 'H': /* 2[0-3]|[0-1]\d|\d */
        if (a == '2' && b >= '0' && b <= '3')
            len[k++] = 2;
        if ((a == '0' || a == '1') && isdig(b))
            len[k++] = 2;
        if (isdig(a))
            len[k++] = 1;
        break;
    case 'M': /* [0-5]\d|\d */
        if (a >= '0' && a <= '5' && isdig(b))
            len[k++] = 2;
        if (isdig(a))
            len[k++] = 1;
        break;
    case 'S': /* 6[0-1]|[0-5]\d|\d */
        if (a == '6' && (b == '0' || b == '1'))
            len[k++] = 2;
        if (a >= '0' && a <= '5' && isdig(b))
            len[k++] = 2;
        if (isdig(a))
            len[k++] = 1;
        break;
    default:
        break;
    }
    return k;
}

static int num_value(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        if (isdig(s[i]))
            v = v * 10 + (s[i] - '0');
    return v;
}

/* Match fmt against s from si; returns the end offset of the first match, or -1. */
static long dt_match(const char *fmt, const char *s, size_t n, size_t si, struct dt *dt)
{
    while (*fmt) {
        unsigned char fc = (unsigned char)*fmt;
        if (py_space(fc)) { /* a run of format whitespace is \s+, greedy */
            while (*fmt && py_space((unsigned char)*fmt))
                fmt++;
            size_t e = si;
            while (e < n && py_space((unsigned char)s[e]))
                e++;
            for (size_t k = e; k > si; k--) {
                long r = dt_match(fmt, s, n, k, dt);
                if (r >= 0)
                    return r;
            }
            return -1;
        }
        if (fc != '%' || fmt[1] == '%') {
            if (si >= n || lc((unsigned char)s[si]) != lc(fc))
                return -1;
            fmt += fc == '%' ? 2 : 1;
            si++;
            continue;
        }
        char dir = fmt[1];
        fmt += 2;
        if (dir == 'b' || dir == 'B') {
            /* CPython sorts the names longest first; no name prefixes another. */
            for (int m = 0; m < 12; m++) {
                size_t ln = dir == 'b' ? 3 : strlen(month_names[m]);
                if (n - si < ln)
                    continue;
                size_t j = 0;
                while (j < ln && lc((unsigned char)s[si + j]) == month_names[m][j])
                    j++;
                if (j < ln)
                    continue;
                struct dt save = *dt;
                dt->month = m + 1;
                long r = dt_match(fmt, s, n, si + ln, dt);
                if (r >= 0)
                    return r;
                *dt = save;
            }
            return -1;
        }
        int lens[5];
        int k = num_candidates(dir, s + si, n - si, lens);
        for (int c = 0; c < k; c++) {
            struct dt save = *dt;
            int v = num_value(s + si, lens[c]);
            if (dir == 'Y')
                dt->year = v;
            else if (dir == 'y')
                dt->year = v <= 68 ? 2000 + v : 1900 + v;
            else if (dir == 'm')
                dt->month = v;
            else if (dir == 'd')
                dt->day = v;
            long r = dt_match(fmt, s, n, si + (size_t)lens[c], dt);
            if (r >= 0)
                return r;
            *dt = save;
        }
        return -1;
    }
    return (long)si;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

/*
 * datetime.strptime(s, fmt).strftime('%Y%m%d') into out (at least 16 bytes). The year is
 * not zero-padded below 1000, as glibc's strftime does. Returns the length or -1.
 */
static int date_norm(const char *fmt, const char *s, size_t n, char *out, size_t cap)
{
    struct dt dt = {1900, 1, 1};
    long end = dt_match(fmt, s, n, 0, &dt);
    if (end < 0 || (size_t)end != n) /* "unconverted data remains" */
        return -1;
    if (dt.year < 1 || dt.day > days_in_month(dt.year, dt.month))
        return -1;
    int r = snprintf(out, cap, "%d%02d%02d", dt.year, dt.month, dt.day);
    return r > 0 && (size_t)r < cap ? r : -1;
}

/*
 * Validate raw (as clkhash's FieldSpec.validate) and write the string to tokenise into
 * enc->val, pointed to by *v and *vlen. XCHG_ERR_FORMAT with a diagnostic on invalid input.
 */
static xchg_err normalise(xchg_clk_encoder *enc, const struct clk_feature *f, const char *raw,
                          size_t len, const char **v, size_t *vlen, xchg_diag *d)
{
    if (f->has_missing && len == f->sentlen && memcmp(raw, f->sentinel, len) == 0) {
        *v = f->replace; /* not validated, not formatted: clkhash hashes it as is */
        *vlen = f->replen;
        return XCHG_OK;
    }
    long ncp = utf8_count(raw, len, NULL);
    if (ncp < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "feature '%s': value is not valid UTF-8",
                      f->name);
        return XCHG_ERR_FORMAT;
    }
    if (buf_reserve(&enc->val, len + 32, 1) != 0)
        return XCHG_ERR_NOMEM;
    char *o = enc->val.p;
    switch (f->fmt) {
    case CLK_FMT_STRING: {
        if (f->ascii)
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)raw[i] >= 0x80) {
                    xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "feature '%s': value is not ASCII",
                                  f->name);
                    return XCHG_ERR_FORMAT;
                }
        if (f->scase != CLK_CASE_MIXED && !case_ok(raw, len, f->scase)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "feature '%s': value is not %s case",
                          f->name, f->scase == CLK_CASE_LOWER ? "lower" : "upper");
            return XCHG_ERR_FORMAT;
        }
        long n = ncp;
        if (f->minlen >= 0 && n < f->minlen) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': value is shorter than minLength %lld", f->name, f->minlen);
            return XCHG_ERR_FORMAT;
        }
        if (f->maxlen >= 0 && n > f->maxlen) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': value is longer than maxLength %lld", f->name, f->maxlen);
            return XCHG_ERR_FORMAT;
        }
        *v = raw;
        *vlen = len;
        return XCHG_OK;
    }
    case CLK_FMT_INTEGER: {
        int neg, big;
        unsigned long long mag;
        long n = py_int(raw, len, o, &neg, &mag, &big);
        if (n < 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "feature '%s': value is not an integer",
                          f->name);
            return XCHG_ERR_FORMAT;
        }
        if (f->has_min && int_cmp(neg, mag, big, f->min) < 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': value is below the minimum %lld", f->name, f->min);
            return XCHG_ERR_FORMAT;
        }
        if (f->has_max && int_cmp(neg, mag, big, f->max) > 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': value is above the maximum %lld", f->name, f->max);
            return XCHG_ERR_FORMAT;
        }
        *v = o;
        *vlen = (size_t)n;
        return XCHG_OK;
    }
    case CLK_FMT_DATE: {
        int n = date_norm(f->datefmt, raw, len, o, enc->val.cap);
        if (n < 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': value is not a valid date in format '%s'", f->name,
                          f->datefmt);
            return XCHG_ERR_FORMAT;
        }
        *v = o;
        *vlen = (size_t)n;
        return XCHG_OK;
    }
    case CLK_FMT_ENUM:
        for (size_t i = 0; i < f->nvalues; i++)
            if (f->vlens[i] == len && memcmp(f->values[i], raw, len) == 0) {
                *v = raw;
                *vlen = len;
                return XCHG_OK;
            }
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "feature '%s': value is not one of the enum values", f->name);
        return XCHG_ERR_FORMAT;
    }
    return XCHG_ERR_ARG;
}

/* ---- hashing (clkhash bloomfilter) -------------------------------------------------- */

static inline void set_bit(uint8_t *bits, size_t i)
{
    bits[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

/*
 * A big-endian unsigned integer mod m, as Python's int.from_bytes(h, 'big') % m, for
 * m <= 2^32 (hash_l is at most 2^24): 32 bits at a time, the remainder stays below 2^32.
 * When m is a power of two only the low bits matter.
 */
static size_t be_mod(const uint8_t *h, size_t n, size_t m)
{
    if ((m & (m - 1)) == 0) {
        uint64_t r = 0;
        for (size_t i = n > 8 ? n - 8 : 0; i < n; i++)
            r = r << 8 | h[i];
        return (size_t)(r & (m - 1));
    }
    uint64_t r = 0;
    size_t i = 0;
    for (; i < n % 4; i++)
        r = (r << 8 | h[i]) % m;
    for (; i < n; i += 4) {
        uint64_t w = (uint64_t)h[i] << 24 | (uint64_t)h[i + 1] << 16 | (uint64_t)h[i + 2] << 8 |
                     h[i + 3];
        r = (r << 32 | w) % m;
    }
    return (size_t)r;
}

/* Hash the queued blakeHash blocks and set their bits (unused lanes repeat lane 0). */
static void blake_flush(xchg_clk_encoder *enc)
{
    struct blake_queue *q = enc->q;
    if (!q || q->n == 0)
        return;
    const size_t mask = enc->s->hash_l - 1;
    const uint8_t *blocks[4];
    uint8_t h[4][64];
    for (unsigned l = 0; l < 4; l++) {
        if (l >= q->n) {
            q->snap[l] = q->snap[0];
            q->len[l] = q->len[0];
            q->nbits[l] = 0;
        }
        blocks[l] = l < q->n ? q->block[l] : q->block[0];
    }
    clk_blake2b_snap_hash4(q->snap, blocks, q->len, h, CLK_BLAKE2B_AUTO);
    for (unsigned l = 0; l < q->n; l++)
        for (size_t j = 0; j < q->nbits[l]; j++) {
            unsigned v = (unsigned)h[l][2 * j] | (unsigned)h[l][2 * j + 1] << 8; /* uint16 LE */
            set_bit(enc->bits, v & mask);
        }
    q->n = 0;
    clk_wipe(h, sizeof h);
}

static void hash_blake(xchg_clk_encoder *enc, size_t fi, const uint8_t *tok, size_t toklen,
                       size_t k)
{
    const xchg_clk_schema *s = enc->s;
    const size_t mask = s->hash_l - 1; /* hash_l is a power of two for blakeHash */
    uint8_t h[BLAKE_OUT];
    for (size_t blk = 0; blk * 32 < k; blk++) {
        size_t m = k - blk * 32 < 32 ? k - blk * 32 : 32;
        if (blk < enc->fnsnap[fi] && toklen > 0 && toklen <= 128) {
            /* the common case: one block from a snapshot, batched four at a time */
            struct blake_queue *q = enc->q;
            q->snap[q->n] = &enc->snap[enc->fsnap[fi] + blk];
            memcpy(q->block[q->n], tok, toklen);
            q->len[q->n] = toklen;
            q->nbits[q->n] = m;
            if (++q->n == 4)
                blake_flush(enc);
            continue;
        }
        if (blk < enc->fnsnap[fi] && toklen > 0) {
            clk_blake2b_snap_hash(&enc->snap[enc->fsnap[fi] + blk], tok, toklen, h);
        } else { /* beyond the kept snapshots, or an empty token: hash from the key */
            uint8_t salt[16];
            blake_salt(salt, blk);
            clk_blake2b(h, sizeof h, tok, toklen, xchg_clk_encoder_feature_key(enc, fi, 0),
                        s->keysize, salt, NULL);
        }
        for (size_t j = 0; j < m; j++) {
            unsigned v = (unsigned)h[2 * j] | (unsigned)h[2 * j + 1] << 8; /* uint16 LE */
            set_bit(enc->bits, v & mask);
        }
    }
    clk_wipe(h, sizeof h);
}

CLK_LOWLEVEL_BEGIN
/* HMAC-SHA1 of msg with feature fi's key 0, from the keyed states. */
static xchg_err hmac_sha1(xchg_clk_encoder *enc, size_t fi, const uint8_t *msg, size_t len,
                          uint8_t out[SHA_DIGEST_LENGTH])
{
    struct hmac_work *w = enc->hw;
    w->sha = enc->hk[fi].sha_in;
    if (!SHA1_Update(&w->sha, msg, len) || !SHA1_Final(w->inner, &w->sha))
        return XCHG_ERR_CRYPTO;
    w->sha = enc->hk[fi].sha_out;
    if (!SHA1_Update(&w->sha, w->inner, SHA_DIGEST_LENGTH) || !SHA1_Final(out, &w->sha))
        return XCHG_ERR_CRYPTO;
    return XCHG_OK;
}

/* HMAC-MD5 of msg with feature fi's key 1, from the keyed states. */
static xchg_err hmac_md5(xchg_clk_encoder *enc, size_t fi, const uint8_t *msg, size_t len,
                         uint8_t out[MD5_DIGEST_LENGTH])
{
    struct hmac_work *w = enc->hw;
    w->md5 = enc->hk[fi].md5_in;
    if (!MD5_Update(&w->md5, msg, len) || !MD5_Final(w->inner, &w->md5))
        return XCHG_ERR_CRYPTO;
    w->md5 = enc->hk[fi].md5_out;
    if (!MD5_Update(&w->md5, w->inner, MD5_DIGEST_LENGTH) || !MD5_Final(out, &w->md5))
        return XCHG_ERR_CRYPTO;
    return XCHG_OK;
}
CLK_LOWLEVEL_END

/* tok may point into enc->pad; prevent_singularity appends to a copy in enc->tok. */
static xchg_err hash_double(xchg_clk_encoder *enc, size_t fi, const uint8_t *tok, size_t toklen,
                            size_t k)
{
    const xchg_clk_schema *s = enc->s;
    const size_t hash_l = s->hash_l;
    uint8_t h1[20], h2[16];
    xchg_err rc;
    if ((rc = hmac_sha1(enc, fi, tok, toklen, h1)) != XCHG_OK ||
        (rc = hmac_md5(enc, fi, tok, toklen, h2)) != XCHG_OK)
        goto cleanup;
    size_t a = be_mod(h1, sizeof h1, hash_l);
    size_t b = be_mod(h2, sizeof h2, hash_l);
    /* prevent_singularity: while h2 = 0 mod l, rehash token + chr(i) (UTF-8 encoded). */
    if (s->f[fi].prevent_singularity && b == 0) {
        int in_tok = tok == enc->tok.p; /* a positional token, built there already */
        if (buf_reserve(&enc->tok, toklen + 4, 1) != 0) {
            rc = XCHG_ERR_NOMEM;
            goto cleanup;
        }
        uint8_t *t = enc->tok.p;
        if (!in_tok)
            memcpy(t, tok, toklen);
        for (uint32_t i = 0; b == 0; i++) {
            uint8_t u[4];
            utf8proc_ssize_t ul = utf8proc_encode_char((utf8proc_int32_t)i, u);
            memcpy(t + toklen, u, (size_t)ul);
            if ((rc = hmac_md5(enc, fi, t, toklen + (size_t)ul, h2)) != XCHG_OK)
                goto cleanup;
            b = be_mod(h2, sizeof h2, hash_l);
        }
    }
    /* (a + i*b) mod hash_l, with a, b < hash_l: add and subtract instead of dividing */
    for (size_t i = 0, idx = a; i < k; i++) {
        set_bit(enc->bits, idx);
        idx += b;
        if (idx >= hash_l)
            idx -= hash_l;
    }

cleanup:
    clk_wipe(h1, sizeof h1);
    clk_wipe(h2, sizeof h2);
    return rc;
}

/* Decimal of v followed by a space at out (room for 22 bytes); returns the length. */
static size_t pos_prefix(char *out, size_t v)
{
    char num[24];
    size_t n = 0;
    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = num[n - 1 - i];
    out[n] = ' ';
    return n + 1;
}

/* Tokenise v (clkhash comparators) and hash every token of feature fi into enc->bits. */
static xchg_err encode_feature(xchg_clk_encoder *enc, size_t fi, const char *v, size_t vlen)
{
    const xchg_clk_schema *s = enc->s;
    const struct clk_feature *f = &s->f[fi];
    if (vlen == 0)
        return XCHG_OK; /* an empty value has no tokens */

    /* n-grams count code points (Python str), padded with n-1 spaces on both sides */
    size_t n = f->cmp == CLK_CMP_NGRAM ? f->n : 0;
    size_t padn = n > 1 ? n - 1 : 0;
    size_t plen = vlen + 2 * padn;
    if (buf_reserve(&enc->pad, plen, 1) != 0 || buf_reserve(&enc->offs, plen + 1, sizeof(size_t)))
        return XCHG_ERR_NOMEM;
    char *pad = enc->pad.p;
    size_t *offs = enc->offs.p;
    memset(pad, ' ', padn);
    memcpy(pad + padn, v, vlen);
    memset(pad + padn + vlen, ' ', padn);
    long pcpl = utf8_count(pad, plen, offs);
    if (pcpl < 0)
        return XCHG_ERR_FORMAT; /* a replaceWith that is not UTF-8 */
    size_t pcp = (size_t)pcpl;

    size_t ntok = f->cmp == CLK_CMP_EXACT ? 1 : pcp - n + 1;
    if (f->positional && buf_reserve(&enc->tok, plen + 32, 1) != 0)
        return XCHG_ERR_NOMEM;
    for (size_t t = 0; t < ntok; t++) {
        /* bitsPerFeature B over T tokens: B div T each, the first B mod T one more */
        size_t k = f->per_feature ? f->bits / ntok + (t < f->bits % ntok) : f->bits;
        if (k == 0)
            continue; /* nothing to set, so no need to hash */
        size_t b0 = f->cmp == CLK_CMP_EXACT ? 0 : offs[t];
        size_t b1 = f->cmp == CLK_CMP_EXACT ? plen : offs[t + n];
        /* a plain n-gram is hashed where it lies; a positional one needs its prefix */
        const uint8_t *tok = (const uint8_t *)pad + b0;
        size_t tl = b1 - b0;
        if (f->positional) {
            char *tb = enc->tok.p;
            size_t pl = pos_prefix(tb, t + 1);
            memcpy(tb + pl, pad + b0, tl);
            tok = (const uint8_t *)tb;
            tl += pl;
        }
        if (f->hash == XCHG_CLK_HASH_BLAKE) {
            hash_blake(enc, fi, tok, tl, k);
        } else {
            xchg_err rc = hash_double(enc, fi, tok, tl, k);
            if (rc != XCHG_OK)
                return rc;
        }
    }
    return XCHG_OK;
}

static inline int get_bit(const uint8_t *bits, size_t i)
{
    return bits[i >> 3] >> (7 - (i & 7)) & 1;
}

/* Fold the filter in half xorFolds times: bit i ^= bit i + half. */
static void fold(uint8_t *bits, size_t len, size_t folds)
{
    for (size_t r = 0; r < folds; r++) {
        size_t half = len / 2;
        if (half % 8 == 0) {
            for (size_t i = 0; i < half / 8; i++)
                bits[i] ^= bits[half / 8 + i];
        } else {
            for (size_t i = 0; i < half; i++)
                if (get_bit(bits, half + i))
                    bits[i >> 3] ^= (uint8_t)(0x80u >> (i & 7));
        }
        len = half;
    }
}

xchg_err xchg_clk_encode(xchg_clk_encoder *enc, const char *const *fields, const size_t *lens,
                         size_t nfields, uint8_t *out, xchg_diag *d)
{
    xchg_err rc = XCHG_OK;
    if (!enc || !out)
        return XCHG_ERR_ARG;
    const xchg_clk_schema *s = enc->s;
    size_t nout = (s->l + 7) / 8;
    memset(out, 0, nout);
    if (!fields || !lens || nfields != s->nf) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "record has %zu fields but the schema has %zu features", nfields, s->nf);
        return XCHG_ERR_ARG;
    }
    memset(enc->bits, 0, enc->nbits_bytes);
    for (size_t i = 0; i < s->nf; i++) {
        const struct clk_feature *f = &s->f[i];
        if (f->ignored)
            continue;
        if (!fields[i] && lens[i]) {
            rc = XCHG_ERR_ARG;
            goto cleanup;
        }
        const char *v = NULL;
        size_t vlen = 0;
        rc = normalise(enc, f, fields[i] ? fields[i] : "", lens[i], &v, &vlen, d);
        if (rc != XCHG_OK)
            goto cleanup;
        rc = encode_feature(enc, i, v, vlen);
        if (rc == XCHG_ERR_FORMAT) /* only a replaceWith can reach here unchecked */
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "feature '%s': missingValue.replaceWith is not valid UTF-8", f->name);
        if (rc != XCHG_OK)
            goto cleanup;
    }
    blake_flush(enc);
    fold(enc->bits, s->hash_l, s->folds);
    memcpy(out, enc->bits, nout);
    if (s->l % 8)
        out[nout - 1] &= (uint8_t)(0xffu << (8 - s->l % 8));
    if (enc->hard)
        xchg__clk_harden_apply(enc->hard, s, fields, lens, out);

cleanup:
    if (enc->q) { /* after an error, drop what a failed record left queued */
        enc->q->n = 0;
        xchg_wipe(enc->q->block, sizeof enc->q->block);
    }
    xchg_wipe(enc->bits, enc->nbits_bytes);
    if (rc != XCHG_OK)
        memset(out, 0, nout);
    return rc;
}

/* ---- similarity ----------------------------------------------------------------------- */

/*
 * Popcounts over 64-bit words. Built for the baseline x86-64 ISA, __builtin_popcountll is a
 * libgcc call; the POPCNT instruction (and AVX2, where the compiler may vectorise the AND)
 * is chosen at run time with __builtin_cpu_supports, which reads a table libgcc fills at
 * start-up, so no state of ours is involved. The portable versions serve every other CPU.
 */
#define POP_LOOPS(ATTR, SUFFIX)                                                                \
    ATTR static size_t pop_##SUFFIX(const uint8_t *f, size_t nbytes)                           \
    {                                                                                          \
        size_t c = 0, i = 0;                                                                   \
        for (; i + 8 <= nbytes; i += 8) {                                                      \
            uint64_t w;                                                                        \
            memcpy(&w, f + i, 8);                                                              \
            c += (size_t)__builtin_popcountll(w);                                              \
        }                                                                                      \
        for (; i < nbytes; i++)                                                                \
            c += (size_t)__builtin_popcount(f[i]);                                             \
        return c;                                                                              \
    }                                                                                          \
    ATTR static size_t popand_##SUFFIX(const uint8_t *a, const uint8_t *b, size_t nbytes)       \
    {                                                                                          \
        uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0; /* four chains hide popcnt latency */         \
        size_t i = 0;                                                                          \
        for (; i + 32 <= nbytes; i += 32) {                                                    \
            uint64_t x[4], y[4];                                                               \
            memcpy(x, a + i, 32);                                                              \
            memcpy(y, b + i, 32);                                                              \
            c0 += (uint64_t)__builtin_popcountll(x[0] & y[0]);                                 \
            c1 += (uint64_t)__builtin_popcountll(x[1] & y[1]);                                 \
            c2 += (uint64_t)__builtin_popcountll(x[2] & y[2]);                                 \
            c3 += (uint64_t)__builtin_popcountll(x[3] & y[3]);                                 \
        }                                                                                      \
        for (; i + 8 <= nbytes; i += 8) {                                                      \
            uint64_t x, y;                                                                     \
            memcpy(&x, a + i, 8);                                                              \
            memcpy(&y, b + i, 8);                                                              \
            c0 += (uint64_t)__builtin_popcountll(x & y);                                       \
        }                                                                                      \
        for (; i < nbytes; i++)                                                                \
            c0 += (uint64_t)__builtin_popcount((unsigned)(a[i] & b[i]));                        \
        return (size_t)(c0 + c1 + c2 + c3);                                                    \
    }

POP_LOOPS(, portable)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLK_DICE_X86 1
POP_LOOPS(__attribute__((target("popcnt"))), popcnt)
#include <immintrin.h>

/*
 * |A∩B| with AVX2: per byte, the popcounts of the two nibbles are looked up with vpshufb
 * and summed into 64-bit lanes with vpsadbw (Muła, Kurz and Lemire 2018). On 1024-bit
 * filters this beats one POPCNT per word because it handles 32 bytes per step.
 */
__attribute__((target("avx2,popcnt"))) static size_t popand_avx2(const uint8_t *a,
                                                                  const uint8_t *b, size_t nbytes)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= nbytes; i += 32) {
        __m256i x = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(a + i)),
                                     _mm256_loadu_si256((const __m256i *)(b + i)));
        __m256i lo = _mm256_and_si256(x, low);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
        __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(cnt, _mm256_setzero_si256()));
    }
    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    uint64_t c = (uint64_t)_mm_cvtsi128_si64(s2) + (uint64_t)_mm_extract_epi64(s2, 1);
    return (size_t)c + popand_popcnt(a + i, b + i, nbytes - i);
}

/* |A∩B| with AVX-512 VPOPCNTDQ (Ice Lake, Zen 4): eight 64-bit popcounts per instruction. */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static size_t
popand_avx512(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
    __m512i acc = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        __m512i x = _mm512_and_si512(_mm512_loadu_si512((const void *)(a + i)),
                                     _mm512_loadu_si512((const void *)(b + i)));
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
    }
    return (size_t)_mm512_reduce_add_epi64(acc) + popand_popcnt(a + i, b + i, nbytes - i);
}
#endif

static size_t popcount_dispatch(const uint8_t *f, size_t nbytes)
{
#ifdef CLK_DICE_X86
    if (__builtin_cpu_supports("popcnt"))
        return pop_popcnt(f, nbytes);
#endif
    return pop_portable(f, nbytes);
}

static size_t popand_dispatch(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
#ifdef CLK_DICE_X86
    if (__builtin_cpu_supports("avx512vpopcntdq"))
        return popand_avx512(a, b, nbytes);
    if (__builtin_cpu_supports("avx2"))
        return popand_avx2(a, b, nbytes);
    if (__builtin_cpu_supports("popcnt"))
        return popand_popcnt(a, b, nbytes);
#endif
    return popand_portable(a, b, nbytes);
}

size_t xchg_clk_popcount(const uint8_t *f, size_t nbytes)
{
    return popcount_dispatch(f, nbytes);
}

double xchg_clk_dice_pc(const uint8_t *a, const uint8_t *b, size_t nbytes, size_t pca, size_t pcb)
{
    if (pca + pcb == 0)
        return 0.0;
    return 2.0 * (double)popand_dispatch(a, b, nbytes) / (double)(pca + pcb);
}

double xchg_clk_dice(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
    return xchg_clk_dice_pc(a, b, nbytes, popcount_dispatch(a, nbytes),
                            popcount_dispatch(b, nbytes));
}
