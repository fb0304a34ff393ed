/*
 * clkhash linkage schema v3: parsing and validation (jansson).
 *
 * Every problem is reported, not just the first, so a schema author can fix a file in
 * one pass. Messages name the JSON path ("clkConfig.kdf.type", "feature 'surname':
 * hashing.strategy") and never echo record data.
 */
#include "clk_internal.h"
#include "exchange/crypto.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ctx {
    xchg_diag *d;
    xchg_err err; /* first error met; XCHG_OK while none */
};

static void fail(struct ctx *c, xchg_err e, const char *fmt, ...) XCHG_PRINTF(3, 4);
static void fail(struct ctx *c, xchg_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(c->d, XCHG_SEV_ERROR, NULL, 0, 0, fmt, ap);
    va_end(ap);
    /* An unsupported version/algorithm is the more useful code to return than a
     * structural complaint that may follow from it. */
    if (c->err == XCHG_OK || (e == XCHG_ERR_VERSION && c->err == XCHG_ERR_FORMAT))
        c->err = e;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void feature_clear(struct clk_feature *f)
{
    free(f->name);
    free(f->datefmt);
    for (size_t i = 0; i < f->nvalues; i++)
        free(f->values[i]);
    free(f->values);
    free(f->vlens);
    free(f->sentinel);
    free(f->replace);
}

void xchg_clk_schema_free(xchg_clk_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nf; i++)
        feature_clear(&s->f[i]);
    free(s->f);
    free(s->salt);
    free(s->info);
    free(s);
}

/* A JSON integer in [lo, hi] into *v. 1 when it is, 0 when absent (v untouched), -1 bad. */
static int get_int(json_t *obj, const char *key, long long lo, long long hi, long long *v)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return 0;
    if (!json_is_integer(j))
        return -1;
    json_int_t x = json_integer_value(j);
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 1;
}

/* The base64 string at obj[key] decoded into a new buffer; absent gives NULL/0. */
static void get_b64(struct ctx *c, json_t *obj, const char *key, const char *path, uint8_t **out,
                    size_t *outlen)
{
    json_t *j = json_object_get(obj, key);
    *out = NULL;
    *outlen = 0;
    if (!j)
        return;
    if (!json_is_string(j)) {
        fail(c, XCHG_ERR_FORMAT, "%s: must be a base64 string", path);
        return;
    }
    size_t len = json_string_length(j);
    size_t cap = len / 4 * 3 + 3;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fail(c, XCHG_ERR_NOMEM, "%s: out of memory", path);
        return;
    }
    size_t n = 0;
    if (xchg_base64_decode(buf, cap, &n, json_string_value(j), len) != XCHG_OK) {
        free(buf);
        fail(c, XCHG_ERR_FORMAT, "%s: not valid base64", path);
        return;
    }
    *out = buf;
    *outlen = n;
}

/* Directives our strptime subset understands (see clk.c: date_parse). */
static void check_datefmt(struct ctx *c, const char *who, const char *fmt)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (!*p) {
            fail(c, XCHG_ERR_FORMAT, "%s: format.format: ends with a lone '%%'", who);
            return;
        }
        if (!strchr("YymdbBHMS%", *p)) {
            fail(c, XCHG_ERR_FORMAT,
                 "%s: format.format: directive '%%%c' is not supported "
                 "(supported: %%Y %%y %%m %%d %%b %%B %%H %%M %%S %%%%)",
                 who, *p);
            return;
        }
    }
}

static void parse_format(struct ctx *c, const char *who, json_t *fmt, struct clk_feature *f)
{
    if (!json_is_object(fmt)) {
        fail(c, XCHG_ERR_FORMAT, "%s: format: missing or not an object", who);
        return;
    }
    const char *type = json_string_value(json_object_get(fmt, "type"));
    if (!type) {
        fail(c, XCHG_ERR_FORMAT, "%s: format.type: missing or not a string", who);
        return;
    }
    f->minlen = f->maxlen = -1;
    if (strcmp(type, "string") == 0) {
        f->fmt = CLK_FMT_STRING;
        json_t *enc = json_object_get(fmt, "encoding");
        if (enc) {
            const char *e = json_string_value(enc);
            if (e && (strcasecmp(e, "utf-8") == 0 || strcasecmp(e, "utf8") == 0))
                f->ascii = 0;
            else if (e && strcasecmp(e, "ascii") == 0)
                f->ascii = 1;
            else
                fail(c, XCHG_ERR_VERSION,
                     "%s: format.encoding: '%s' is not supported (expected utf-8 or ascii)", who,
                     e ? e : "(not a string)");
        }
        if (json_object_get(fmt, "pattern"))
            fail(c, XCHG_ERR_VERSION, "%s: format.pattern: regular expressions are not supported",
                 who);
        json_t *cs = json_object_get(fmt, "case");
        if (cs) {
            const char *s = json_string_value(cs);
            if (s && strcmp(s, "lower") == 0)
                f->scase = CLK_CASE_LOWER;
            else if (s && strcmp(s, "upper") == 0)
                f->scase = CLK_CASE_UPPER;
            else if (s && strcmp(s, "mixed") == 0)
                f->scase = CLK_CASE_MIXED;
            else
                fail(c, XCHG_ERR_FORMAT,
                     "%s: format.case: must be \"lower\", \"upper\" or \"mixed\"", who);
        }
        if (get_int(fmt, "minLength", 0, LLONG_MAX, &f->minlen) < 0)
            fail(c, XCHG_ERR_FORMAT, "%s: format.minLength: must be an integer >= 0", who);
        if (get_int(fmt, "maxLength", 1, LLONG_MAX, &f->maxlen) < 0)
            fail(c, XCHG_ERR_FORMAT, "%s: format.maxLength: must be an integer >= 1", who);
        if (f->minlen >= 0 && f->maxlen >= 0 && f->minlen > f->maxlen)
            fail(c, XCHG_ERR_FORMAT, "%s: format.minLength: greater than maxLength", who);
    } else if (strcmp(type, "integer") == 0) {
        f->fmt = CLK_FMT_INTEGER;
        int r = get_int(fmt, "minimum", LLONG_MIN, LLONG_MAX, &f->min);
        if (r < 0)
            fail(c, XCHG_ERR_FORMAT, "%s: format.minimum: must be an integer", who);
        f->has_min = r > 0;
        r = get_int(fmt, "maximum", LLONG_MIN, LLONG_MAX, &f->max);
        if (r < 0)
            fail(c, XCHG_ERR_FORMAT, "%s: format.maximum: must be an integer", who);
        f->has_max = r > 0;
        if (f->has_min && f->has_max && f->min > f->max)
            fail(c, XCHG_ERR_FORMAT, "%s: format.minimum: greater than maximum", who);
    } else if (strcmp(type, "date") == 0) {
        f->fmt = CLK_FMT_DATE;
        const char *df = json_string_value(json_object_get(fmt, "format"));
        if (!df) {
            fail(c, XCHG_ERR_FORMAT, "%s: format.format: missing or not a string", who);
            return;
        }
        check_datefmt(c, who, df);
        f->datefmt = dupn(df, strlen(df));
        if (!f->datefmt)
            fail(c, XCHG_ERR_NOMEM, "%s: out of memory", who);
    } else if (strcmp(type, "enum") == 0) {
        f->fmt = CLK_FMT_ENUM;
        json_t *vals = json_object_get(fmt, "values");
        if (!json_is_array(vals)) {
            fail(c, XCHG_ERR_FORMAT, "%s: format.values: missing or not an array", who);
            return;
        }
        size_t n = json_array_size(vals);
        f->values = calloc(n ? n : 1, sizeof *f->values);
        f->vlens = calloc(n ? n : 1, sizeof *f->vlens);
        if (!f->values || !f->vlens) {
            fail(c, XCHG_ERR_NOMEM, "%s: out of memory", who);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(vals, i);
            if (!json_is_string(v)) {
                fail(c, XCHG_ERR_FORMAT, "%s: format.values[%zu]: not a string", who, i);
                return;
            }
            f->vlens[i] = json_string_length(v);
            f->values[i] = dupn(json_string_value(v), f->vlens[i]);
            if (!f->values[i]) {
                fail(c, XCHG_ERR_NOMEM, "%s: out of memory", who);
                return;
            }
            f->nvalues = i + 1;
        }
    } else {
        fail(c, XCHG_ERR_VERSION,
             "%s: format.type: unknown format type '%s' (expected string, integer, date or "
             "enum)",
             who, type);
    }
}

static void parse_hashing(struct ctx *c, const char *who, json_t *h, struct clk_feature *f)
{
    if (!json_is_object(h)) {
        fail(c, XCHG_ERR_FORMAT, "%s: hashing: missing or not an object", who);
        return;
    }

    /* comparison: how the value becomes tokens */
    json_t *cmp = json_object_get(h, "comparison");
    const char *ctype = json_string_value(json_object_get(cmp, "type"));
    if (!json_is_object(cmp) || !ctype) {
        fail(c, XCHG_ERR_FORMAT, "%s: hashing.comparison: missing, or without a type", who);
    } else if (strcmp(ctype, "ngram") == 0) {
        long long n = 0;
        f->cmp = CLK_CMP_NGRAM;
        if (get_int(cmp, "n", 1, XCHG_CLK_MAX_NGRAM, &n) <= 0)
            fail(c, XCHG_ERR_FORMAT, "%s: hashing.comparison.n: must be an integer from 1 to %u",
                 who, XCHG_CLK_MAX_NGRAM);
        f->n = (unsigned)n;
        json_t *pos = json_object_get(cmp, "positional");
        if (pos && !json_is_boolean(pos))
            fail(c, XCHG_ERR_FORMAT, "%s: hashing.comparison.positional: must be a boolean", who);
        f->positional = json_is_true(pos);
    } else if (strcmp(ctype, "exact") == 0) {
        f->cmp = CLK_CMP_EXACT;
    } else {
        fail(c, XCHG_ERR_VERSION,
             "%s: hashing.comparison.type: unsupported comparison '%s' (expected ngram or "
             "exact)",
             who, ctype);
    }

    /* strategy: how many bits each token sets */
    json_t *st = json_object_get(h, "strategy");
    long long bits = 0;
    int per_tok = get_int(st, "bitsPerToken", 1, XCHG_CLK_MAX_BITS_PER_TOKEN, &bits);
    int has_tok = json_object_get(st, "bitsPerToken") != NULL;
    int has_feat = json_object_get(st, "bitsPerFeature") != NULL;
    if (!json_is_object(st) || has_tok == has_feat) {
        fail(c, XCHG_ERR_FORMAT,
             "%s: hashing.strategy: needs exactly one of bitsPerToken or bitsPerFeature", who);
    } else if (has_tok) {
        if (per_tok <= 0)
            fail(c, XCHG_ERR_FORMAT,
                 "%s: hashing.strategy.bitsPerToken: must be an integer from 1 to %u", who,
                 XCHG_CLK_MAX_BITS_PER_TOKEN);
        f->per_feature = 0;
        f->bits = (size_t)bits;
    } else {
        if (get_int(st, "bitsPerFeature", 1, INT32_MAX, &bits) <= 0)
            fail(c, XCHG_ERR_FORMAT,
                 "%s: hashing.strategy.bitsPerFeature: must be a positive integer", who);
        f->per_feature = 1;
        f->bits = (size_t)bits;
    }

    /* hash: defaults to blakeHash as in clkhash */
    json_t *hash = json_object_get(h, "hash");
    f->hash = XCHG_CLK_HASH_BLAKE;
    if (hash) {
        const char *ht = json_string_value(json_object_get(hash, "type"));
        if (!json_is_object(hash) || !ht)
            fail(c, XCHG_ERR_FORMAT, "%s: hashing.hash: must be an object with a type", who);
        else if (strcmp(ht, "blakeHash") == 0)
            f->hash = XCHG_CLK_HASH_BLAKE;
        else if (strcmp(ht, "doubleHash") == 0)
            f->hash = XCHG_CLK_HASH_DOUBLE;
        else
            fail(c, XCHG_ERR_VERSION,
                 "%s: hashing.hash.type: unknown hash type '%s' (expected blakeHash or "
                 "doubleHash)",
                 who, ht);
        json_t *ps = json_object_get(hash, "prevent_singularity");
        if (ps) {
            if (!json_is_boolean(ps))
                fail(c, XCHG_ERR_FORMAT, "%s: hashing.hash.prevent_singularity: must be a boolean",
                     who);
            else if (f->hash != XCHG_CLK_HASH_DOUBLE)
                fail(c, XCHG_ERR_FORMAT,
                     "%s: hashing.hash.prevent_singularity: only allowed with doubleHash", who);
            f->prevent_singularity = json_is_true(ps);
        }
    }

    /* missingValue: a sentinel that skips validation and is replaced */
    json_t *mv = json_object_get(h, "missingValue");
    if (mv) {
        json_t *se = json_object_get(mv, "sentinel");
        json_t *rw = json_object_get(mv, "replaceWith");
        if (!json_is_object(mv) || !json_is_string(se)) {
            fail(c, XCHG_ERR_FORMAT, "%s: hashing.missingValue.sentinel: missing or not a string",
                 who);
            return;
        }
        if (rw && !json_is_string(rw)) {
            fail(c, XCHG_ERR_FORMAT, "%s: hashing.missingValue.replaceWith: not a string", who);
            return;
        }
        if (!rw)
            rw = se;
        f->has_missing = 1;
        f->sentlen = json_string_length(se);
        f->replen = json_string_length(rw);
        f->sentinel = dupn(json_string_value(se), f->sentlen);
        f->replace = dupn(json_string_value(rw), f->replen);
        if (!f->sentinel || !f->replace)
            fail(c, XCHG_ERR_NOMEM, "%s: out of memory", who);
    }
}

static void parse_features(struct ctx *c, json_t *feats, xchg_clk_schema *s)
{
    if (!json_is_array(feats)) {
        fail(c, XCHG_ERR_FORMAT, "features: missing or not an array");
        return;
    }
    size_t n = json_array_size(feats);
    if (n == 0) {
        fail(c, XCHG_ERR_FORMAT, "features: empty");
        return;
    }
    s->f = calloc(n, sizeof *s->f);
    if (!s->f) {
        fail(c, XCHG_ERR_NOMEM, "features: out of memory");
        return;
    }
    s->nf = n;
    for (size_t i = 0; i < n; i++) {
        struct clk_feature *f = &s->f[i];
        json_t *fj = json_array_get(feats, i);
        json_t *id = json_object_get(fj, "identifier");
        char who[160];
        if (!json_is_object(fj) || !json_is_string(id)) {
            fail(c, XCHG_ERR_FORMAT, "features[%zu]: identifier: missing or not a string", i);
            continue;
        }
        f->name = dupn(json_string_value(id), json_string_length(id));
        if (!f->name) {
            fail(c, XCHG_ERR_NOMEM, "features: out of memory");
            return;
        }
        snprintf(who, sizeof who, "feature '%.120s'", f->name);
        for (size_t j = 0; j < i; j++)
            if (s->f[j].name && strcmp(s->f[j].name, f->name) == 0)
                fail(c, XCHG_ERR_FORMAT, "%s: duplicate identifier (also features[%zu])", who, j);
        json_t *ign = json_object_get(fj, "ignored");
        if (ign && !json_is_boolean(ign))
            fail(c, XCHG_ERR_FORMAT, "%s: ignored: must be a boolean", who);
        if (json_is_true(ign)) {
            f->ignored = 1;
            continue;
        }
        parse_format(c, who, json_object_get(fj, "format"), f);
        parse_hashing(c, who, json_object_get(fj, "hashing"), f);
    }
}

static void parse_clkconfig(struct ctx *c, json_t *cc, xchg_clk_schema *s)
{
    if (!json_is_object(cc)) {
        fail(c, XCHG_ERR_FORMAT, "clkConfig: missing or not an object");
        return;
    }
    long long v = 0;
    if (get_int(cc, "l", 1, (long long)XCHG_CLK_MAX_HASH_BITS, &v) <= 0)
        fail(c, XCHG_ERR_FORMAT, "clkConfig.l: must be an integer from 1 to %zu",
             XCHG_CLK_MAX_HASH_BITS);
    s->l = (size_t)v;
    v = 0;
    if (get_int(cc, "xorFolds", 0, 24, &v) < 0)
        fail(c, XCHG_ERR_FORMAT, "clkConfig.xorFolds: must be an integer from 0 to 24");
    s->folds = (size_t)v;
    s->hash_l = s->l << s->folds;
    if (s->l && (s->hash_l >> s->folds != s->l || s->hash_l > XCHG_CLK_MAX_HASH_BITS))
        fail(c, XCHG_ERR_FORMAT, "clkConfig: l * 2^xorFolds exceeds %zu bits",
             XCHG_CLK_MAX_HASH_BITS);

    json_t *kdf = json_object_get(cc, "kdf");
    if (!json_is_object(kdf)) {
        fail(c, XCHG_ERR_FORMAT, "clkConfig.kdf: missing or not an object");
        return;
    }
    const char *type = json_string_value(json_object_get(kdf, "type"));
    if (!type)
        fail(c, XCHG_ERR_FORMAT, "clkConfig.kdf.type: missing or not a string");
    else if (strcmp(type, "HKDF") != 0)
        fail(c, XCHG_ERR_VERSION, "clkConfig.kdf.type: unsupported key derivation '%s' (only HKDF)",
             type);
    json_t *hj = json_object_get(kdf, "hash");
    if (hj) {
        const char *h = json_string_value(hj);
        if (!h || strcmp(h, "SHA256") != 0)
            fail(c, XCHG_ERR_VERSION, "clkConfig.kdf.hash: unsupported hash '%s' (only SHA256)",
                 h ? h : "(not a string)");
    }
    get_b64(c, kdf, "salt", "clkConfig.kdf.salt", &s->salt, &s->saltlen);
    get_b64(c, kdf, "info", "clkConfig.kdf.info", &s->info, &s->infolen);
    v = 64; /* clkhash DEFAULT_KEY_SIZE: the block size of SHA-1 and MD5 */
    if (get_int(kdf, "keySize", 1, XCHG_CLK_HKDF_MAX, &v) < 0)
        fail(c, XCHG_ERR_FORMAT, "clkConfig.kdf.keySize: must be an integer from 1 to %u",
             XCHG_CLK_HKDF_MAX);
    s->keysize = (size_t)v;
}

/* Constraints that tie clkConfig to the features. */
static void cross_check(struct ctx *c, xchg_clk_schema *s)
{
    const struct clk_feature *blake = NULL;
    for (size_t i = 0; i < s->nf && !blake; i++)
        if (!s->f[i].ignored && s->f[i].name && s->f[i].hash == XCHG_CLK_HASH_BLAKE)
            blake = &s->f[i];
    if (blake && s->l) {
        if (s->l & (s->l - 1))
            fail(c, XCHG_ERR_FORMAT,
                 "clkConfig.l: %zu is not a power of two, as blakeHash (feature '%.120s') "
                 "requires",
                 s->l, blake->name);
        else if (s->l < 8)
            fail(c, XCHG_ERR_FORMAT,
                 "clkConfig.l: %zu is less than 8, the minimum for blakeHash (feature "
                 "'%.120s')",
                 s->l, blake->name);
        if (s->keysize > 64)
            fail(c, XCHG_ERR_FORMAT,
                 "clkConfig.kdf.keySize: %zu exceeds 64, the BLAKE2b key limit (feature "
                 "'%.120s' uses blakeHash)",
                 s->keysize, blake->name);
    }
    if (s->nf && s->keysize && s->nf * 2 * s->keysize > XCHG_CLK_HKDF_MAX)
        fail(c, XCHG_ERR_FORMAT,
             "clkConfig.kdf: %zu features need %zu bytes of HKDF-SHA256 output, more than %u",
             s->nf, s->nf * 2 * s->keysize, XCHG_CLK_HKDF_MAX);
}

xchg_err xchg_clk_schema_parse_json(const char *json, size_t len, xchg_clk_schema **out,
                                    xchg_diag *d)
{
    struct ctx c = {d, XCHG_OK};
    xchg_clk_schema *s = NULL;
    json_t *root = NULL;
    json_error_t je;

    if (!json || !out)
        return XCHG_ERR_ARG;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, (unsigned)(je.line > 0 ? je.line : 0),
                      (unsigned)(je.column > 0 ? je.column : 0), "schema is not valid JSON: %s",
                      je.text);
        return XCHG_ERR_FORMAT;
    }
    if (!json_is_object(root)) {
        fail(&c, XCHG_ERR_FORMAT, "schema: top level is not a JSON object");
        goto cleanup;
    }
    json_t *ver = json_object_get(root, "version");
    if (!ver) {
        fail(&c, XCHG_ERR_FORMAT, "version: missing");
        goto cleanup;
    }
    if (!json_is_number(ver) || json_number_value(ver) != 3.0) {
        if (json_is_integer(ver))
            fail(&c, XCHG_ERR_VERSION,
                 "version: unsupported schema version %lld (only version 3 is supported)",
                 (long long)json_integer_value(ver));
        else
            fail(&c, XCHG_ERR_VERSION,
                 "version: unsupported schema version (only version 3 is supported)");
        goto cleanup;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        c.err = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    parse_clkconfig(&c, json_object_get(root, "clkConfig"), s);
    parse_features(&c, json_object_get(root, "features"), s);
    if (c.err == XCHG_OK)
        cross_check(&c, s);

cleanup:
    json_decref(root);
    if (c.err != XCHG_OK) {
        xchg_clk_schema_free(s);
        return c.err;
    }
    *out = s;
    return XCHG_OK;
}

size_t xchg_clk_schema_nfeatures(const xchg_clk_schema *s)
{
    return s ? s->nf : 0;
}

const char *xchg_clk_schema_feature_name(const xchg_clk_schema *s, size_t i)
{
    return s && i < s->nf ? s->f[i].name : NULL;
}

xchg_clk_hash xchg_clk_schema_feature_hash(const xchg_clk_schema *s, size_t i)
{
    if (!s || i >= s->nf || s->f[i].ignored)
        return XCHG_CLK_HASH_NONE;
    return s->f[i].hash;
}

size_t xchg_clk_filter_bits(const xchg_clk_schema *s)
{
    return s ? s->l : 0;
}
size_t xchg_clk_filter_bytes(const xchg_clk_schema *s)
{
    return s ? (s->l + 7) / 8 : 0;
}
size_t xchg_clk_key_size(const xchg_clk_schema *s)
{
    return s ? s->keysize : 0;
}
