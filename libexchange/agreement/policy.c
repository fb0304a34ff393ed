/*
 * Agreement parsing and validation (format: docs/policy.md).
 *
 * The YAML is read into a tree (yaml_internal.h); we then walk it, copying what we need
 * into plain structs allocated from one arena owned by the policy. Validation happens
 * during the walk and in a final cross-check pass, and reports every problem it finds,
 * each at the line and column of the node concerned. A section that fails to parse is
 * skipped for cross-checks so one mistake does not cascade into many messages.
 */
#include "exchange/policy.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/fileio.h"
#include "exchange/record.h"
#include "exchange/threshold.h"
#include "internal.h"
#include "yaml_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <utf8proc.h>

#define POLICY_MAX (4u << 20)

/* ---- arena ------------------------------------------------------------------------ */

struct blk {
    struct blk *next;
    max_align_t data[];
};

struct arena {
    struct blk *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    struct blk *b = calloc(1, sizeof *b + (n ? n : 1));
    if (!b)
        return NULL;
    b->next = a->head;
    a->head = b;
    return b->data;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        struct blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *c = arena_alloc(a, n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

struct xchg_policy {
    xchg_policy_data d;
    struct arena a;
    uint8_t hash[XCHG_SHA256_BYTES];
};

/* ---- walking context -------------------------------------------------------------- */

struct ctx {
    const char *file;
    xchg_diag *diag;
    struct arena *a;
    xchg_policy_data *p;
    int errors;
    int nomem;
    /* which sections parsed cleanly enough for cross-checks */
    int parties_ok, fields_ok, problems_ok, extracts_ok;
};

XCHG_PRINTF(4, 5)
static void report(struct ctx *c, xchg_severity sev, xchg__ynode *n, const char *fmt, ...)
{
    unsigned line = n ? n->line : 0, col = n ? n->col : 0;
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(c->diag, sev, c->file, line, col, fmt, ap);
    va_end(ap);
    if (sev == XCHG_SEV_ERROR)
        c->errors++;
}

#define ERR(c, n, ...) report((c), XCHG_SEV_ERROR, (n), __VA_ARGS__)
#define WARN(c, n, ...) report((c), XCHG_SEV_WARNING, (n), __VA_ARGS__)

/* Format a label for messages; a label longer than its buffer is cut, which is fine. */
XCHG_PRINTF(3, 4)
static void label(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(buf, n, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
}

static void *alloc(struct ctx *c, size_t n)
{
    void *p = arena_alloc(c->a, n);
    if (!p)
        c->nomem = 1;
    return p;
}

static unsigned node_line(xchg__ynode *n) { return n ? n->line : 0; }

static const char *kind_name(xchg__ynode *n)
{
    switch (xchg__y_type(n)) {
    case XCHG_Y_SCALAR: return "a single value";
    case XCHG_Y_SEQUENCE: return "a list";
    case XCHG_Y_MAPPING: return "a mapping";
    }
    return "something else";
}

static int is_map(struct ctx *c, xchg__ynode *n, const char *what)
{
    if (n && xchg__y_type(n) == XCHG_Y_MAPPING)
        return 1;
    if (n)
        ERR(c, n, "%s must be a mapping (key: value lines), not %s", what, kind_name(n));
    return 0;
}

static int is_seq(struct ctx *c, xchg__ynode *n, const char *what)
{
    if (n && xchg__y_type(n) == XCHG_Y_SEQUENCE)
        return 1;
    if (n)
        ERR(c, n, "%s must be a list, not %s", what, kind_name(n));
    return 0;
}

/* Scalar text of n (not NUL-terminated) or NULL with an error. */
static const char *scalar(struct ctx *c, xchg__ynode *n, size_t *len, const char *what)
{
    if (!n)
        return NULL;
    if (xchg__y_type(n) != XCHG_Y_SCALAR) {
        ERR(c, n, "%s must be a single value, not %s", what, kind_name(n));
        return NULL;
    }
    const char *s = xchg__y_scalar(n, len);
    if (!s) {
        ERR(c, n, "%s: cannot read value", what);
        return NULL;
    }
    return s;
}

static int plain(xchg__ynode *n) { return xchg__y_plain(n); }

static xchg__ynode *get(xchg__ynode *map, const char *key)
{
    return map ? xchg__y_lookup(map, key, strlen(key)) : NULL;
}

/* Report keys of map not in allowed (NULL-terminated). */
static void check_keys(struct ctx *c, xchg__ynode *map, const char *const *allowed,
                       const char *where)
{
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(map, &it)) != NULL) {
        xchg__ynode *k = xchg__y_key(pr);
        size_t n = 0;
        const char *s = k && xchg__y_type(k) == XCHG_Y_SCALAR ? xchg__y_scalar(k, &n) : NULL;
        if (!s) {
            ERR(c, k, "keys in %s must be plain names", where);
            continue;
        }
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strlen(*a) == n && memcmp(*a, s, n) == 0)
                ok = 1;
        if (!ok) {
            char list[512];
            size_t off = 0;
            list[0] = '\0';
            for (const char *const *a = allowed; *a && off < sizeof list - 64; a++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s",
                                        a == allowed ? "" : ", ", *a);
            ERR(c, k, "unknown key '%.*s' in %s (expected one of: %s)", (int)n, s, where, list);
        }
    }
}

/* Required/optional typed getters. Each returns 1 when a valid value was stored. */

static int need(struct ctx *c, xchg__ynode *map, const char *key, const char *where,
                xchg__ynode **out)
{
    *out = get(map, key);
    if (!*out) {
        ERR(c, map, "missing required key '%s' in %s", key, where);
        return 0;
    }
    return 1;
}

static const char *str_of(struct ctx *c, xchg__ynode *n, const char *what)
{
    size_t len;
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return NULL;
    if (memchr(s, '\0', len)) {
        ERR(c, n, "%s contains a NUL character", what);
        return NULL;
    }
    while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) /* folded scalars end in \n */
        len--;
    return arena_strndup(c->a, s, len);
}

static const char *get_str(struct ctx *c, xchg__ynode *map, const char *key, int required,
                           const char *where)
{
    xchg__ynode *n = get(map, key);
    if (!n) {
        if (required)
            ERR(c, map, "missing required key '%s' in %s", key, where);
        return NULL;
    }
    char what[160];
    label(what, sizeof what, "'%s' in %s", key, where);
    const char *s = str_of(c, n, what);
    if (s && required && !*s) {
        ERR(c, n, "%s must not be empty", what);
        return NULL;
    }
    return s;
}

static int parse_long(const char *s, size_t len, long *v)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long x = strtol(buf, &end, 10);
    if (errno || *end || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
        return 0;
    *v = x;
    return 1;
}

static int get_long(struct ctx *c, xchg__ynode *map, const char *key, int required, long min,
                    long max, long *out, const char *where)
{
    xchg__ynode *n = get(map, key);
    if (!n) {
        if (required)
            ERR(c, map, "missing required key '%s' in %s", key, where);
        return 0;
    }
    size_t len;
    char what[160];
    label(what, sizeof what, "'%s' in %s", key, where);
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return 0;
    long v;
    if (!plain(n) || !parse_long(s, len, &v)) {
        ERR(c, n, "%s must be a whole number, not '%.*s'", what, (int)len, s);
        return 0;
    }
    if (v < min || v > max) {
        ERR(c, n, "%s must be between %ld and %ld, not %ld", what, min, max, v);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_double(const char *s, size_t len, double *v)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (errno || *end || !isfinite(x) || (buf[0] != '-' && buf[0] != '.' && (buf[0] < '0' || buf[0] > '9')))
        return 0;
    *v = x;
    return 1;
}

static int num_of(struct ctx *c, xchg__ynode *n, double *out, const char *what)
{
    size_t len;
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return 0;
    if (!plain(n) || !parse_double(s, len, out)) {
        ERR(c, n, "%s must be a number, not '%.*s'", what, (int)len, s);
        return 0;
    }
    return 1;
}

static int get_bool(struct ctx *c, xchg__ynode *map, const char *key, int def,
                    const char *where)
{
    xchg__ynode *n = get(map, key);
    if (!n)
        return def;
    size_t len;
    char what[160];
    label(what, sizeof what, "'%s' in %s", key, where);
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return def;
    if (plain(n) && len == 4 && memcmp(s, "true", 4) == 0)
        return 1;
    if (plain(n) && len == 5 && memcmp(s, "false", 5) == 0)
        return 0;
    ERR(c, n, "%s must be true or false, not '%.*s'", what, (int)len, s);
    return def;
}

static int get_date(struct ctx *c, xchg__ynode *map, const char *key, int32_t *out,
                    const char *where)
{
    xchg__ynode *n = get(map, key);
    if (!n) {
        ERR(c, map, "missing required key '%s' in %s", key, where);
        return 0;
    }
    size_t len;
    char what[160];
    label(what, sizeof what, "'%s' in %s", key, where);
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return 0;
    if (xchg_date_parse(s, len, out) != XCHG_OK) {
        ERR(c, n, "%s must be a date written YYYY-MM-DD, not '%.*s'", what, (int)len, s);
        return 0;
    }
    return 1;
}

/* A list of text values; a single value is accepted as a list of one. */
static int get_str_list(struct ctx *c, xchg__ynode *n, const char ***out, size_t *count,
                        const char *what)
{
    *out = NULL;
    *count = 0;
    if (!n)
        return 1;
    if (xchg__y_type(n) == XCHG_Y_SCALAR) {
        const char **v = alloc(c, sizeof *v);
        if (!v || !(v[0] = str_of(c, n, what)))
            return 0;
        *out = v;
        *count = 1;
        return 1;
    }
    if (!is_seq(c, n, what))
        return 0;
    int cnt = xchg__y_seq_count(n);
    const char **v = alloc(c, sizeof *v * (size_t)(cnt > 0 ? cnt : 1));
    if (!v)
        return 0;
    size_t k = 0;
    int ok = 1;
    void *it = NULL;
    xchg__ynode *e;
    while ((e = xchg__y_seq_next(n, &it)) != NULL) {
        const char *s = str_of(c, e, what);
        if (s)
            v[k++] = s;
        else
            ok = 0;
    }
    *out = v;
    *count = k;
    return ok;
}

static int valid_ident(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return 0;
    return 1;
}

/* ---- sections --------------------------------------------------------------------- */

static void parse_agreement(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"id", "version", "title", "owner", "purpose", "benefit",
                                       "controllers", "lawful_basis", "dpia", "valid_from",
                                       "review_by", "expires", "retention_days", "frequency",
                                       NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    if (!need(c, root, "agreement", "the agreement file", &m) || !is_map(c, m, "'agreement'"))
        return;
    check_keys(c, m, keys, "'agreement'");
    p->id = get_str(c, m, "id", 1, "'agreement'");
    if (p->id && !valid_ident(p->id))
        ERR(c, get(m, "id"),
            "agreement id '%s' must be 1-64 characters of a-z, 0-9, '-' and '_'", p->id);
    get_long(c, m, "version", 1, 1, 1000000, &p->version, "'agreement'");
    p->title = get_str(c, m, "title", 1, "'agreement'");
    p->purpose = get_str(c, m, "purpose", 1, "'agreement'");
    p->benefit = get_str(c, m, "benefit", 0, "'agreement'");
    p->dpia = get_str(c, m, "dpia", 0, "'agreement'");
    p->frequency = get_str(c, m, "frequency", 0, "'agreement'");
    p->controllers = get_str(c, m, "controllers", 0, "'agreement'");
    if (p->controllers && strcmp(p->controllers, "joint") && strcmp(p->controllers, "separate"))
        ERR(c, get(m, "controllers"), "'controllers' must be 'joint' or 'separate', not '%s'",
            p->controllers);
    if (!p->dpia)
        WARN(c, m, "no 'dpia' reference: the ICO expects a DPIA for this kind of sharing");

    xchg__ynode *lb = get(m, "lawful_basis");
    if (!lb) {
        ERR(c, m, "missing legal basis: 'lawful_basis' with at least 'article6' is required");
    } else if (is_map(c, lb, "'lawful_basis'")) {
        static const char *const lbk[] = {"article6", "article9", "article10", "gateways", NULL};
        check_keys(c, lb, lbk, "'lawful_basis'");
        p->article6 = get_str(c, lb, "article6", 0, "'lawful_basis'");
        if (!p->article6 || !*p->article6)
            ERR(c, lb, "missing legal basis: 'article6' (UK GDPR Art 6 condition) is required");
        p->article9 = get_str(c, lb, "article9", 0, "'lawful_basis'");
        p->article10 = get_str(c, lb, "article10", 0, "'lawful_basis'");
        get_str_list(c, get(lb, "gateways"), &p->gateways, &p->ngateways,
                     "'gateways' in 'lawful_basis'");
    }

    int ok = get_date(c, m, "valid_from", &p->valid_from, "'agreement'");
    ok &= get_date(c, m, "expires", &p->expires, "'agreement'");
    int rev = get_date(c, m, "review_by", &p->review_by, "'agreement'");
    if (ok && p->expires < p->valid_from)
        ERR(c, get(m, "expires"), "the agreement expires before it starts (expires %s is before "
                                  "valid_from %s)",
            xchg__y_scalar0(get(m, "expires")), xchg__y_scalar0(get(m, "valid_from")));
    if (ok && rev && (p->review_by < p->valid_from || p->review_by > p->expires))
        ERR(c, get(m, "review_by"), "'review_by' must lie between valid_from and expires");
    get_long(c, m, "retention_days", 1, 1, 36500, &p->retention_days, "'agreement'");
}

static int parse_role(const char *s, xchg_role *r)
{
    static const char *const names[] = {"agency", "matcher", "recipient", "governance", "operator"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *r = (xchg_role)i;
            return 1;
        }
    return 0;
}

static void parse_parties(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"id", "role", "label", "key", "signs_agreement",
                                       "legal_basis", NULL};
    xchg__ynode *s;
    xchg_policy_data *p = c->p;
    int before = c->errors;
    if (!need(c, root, "parties", "the agreement file", &s) || !is_seq(c, s, "'parties'"))
        return;
    int cnt = xchg__y_seq_count(s);
    p->parties = alloc(c, sizeof *p->parties * (size_t)(cnt > 0 ? cnt : 1));
    if (!p->parties)
        return;
    void *it = NULL;
    xchg__ynode *e;
    size_t nmatcher = 0, nagency = 0, nrecip = 0;
    while ((e = xchg__y_seq_next(s, &it)) != NULL) {
        if (!is_map(c, e, "each party"))
            continue;
        check_keys(c, e, keys, "a party");
        xchg_party *q = &p->parties[p->nparties];
        memset(q, 0, sizeof *q);
        q->line = node_line(e);
        q->id = get_str(c, e, "id", 1, "a party");
        if (!q->id)
            continue;
        char where[128];
        label(where, sizeof where, "party '%s'", q->id);
        if (!valid_ident(q->id))
            ERR(c, get(e, "id"), "party id '%s' must be 1-64 characters of a-z, 0-9, '-', '_'",
                q->id);
        for (size_t i = 0; i < p->nparties; i++)
            if (strcmp(p->parties[i].id, q->id) == 0)
                ERR(c, get(e, "id"), "party '%s' is defined twice (first on line %u)", q->id,
                    p->parties[i].line);
        const char *role = get_str(c, e, "role", 1, where);
        if (role && !parse_role(role, &q->role))
            ERR(c, get(e, "role"),
                "unknown role '%s' for %s (expected agency, matcher, recipient, governance or "
                "operator)",
                role, where);
        q->label = get_str(c, e, "label", 1, where);
        q->legal_basis = get_str(c, e, "legal_basis", 0, where);
        q->signs = get_bool(c, e, "signs_agreement", 1, where);
        xchg__ynode *kn = NULL;
        if (need(c, e, "key", where, &kn)) {
            size_t klen;
            const char *ks = scalar(c, kn, &klen, "'key'");
            if (ks && klen == 7 && memcmp(ks, "unbound", 7) == 0) {
                /* a draft: reported once for the whole agreement by xchg_policy_parse */
                q->unbound = 1;
            } else if (ks) {
                xchg_diag *tmp = xchg_diag_new();
                if (xchg_pubkey_from_string(ks, klen, &q->key, tmp) != XCHG_OK)
                    ERR(c, kn, "key of %s: %s", where,
                        xchg_diag_count(tmp) ? xchg_diag_message(tmp, 0) : "invalid public key");
                xchg_diag_free(tmp);
                if (q->label)
                    xchg__strlcpy(q->key.label, q->label, strlen(q->label), sizeof q->key.label);
                for (size_t i = 0; i < p->nparties; i++)
                    if (!p->parties[i].unbound &&
                        memcmp(p->parties[i].key.id, q->key.id, XCHG_KEYID_BYTES) == 0)
                        ERR(c, kn, "%s uses the same key as party '%s': each party needs its own",
                            where, p->parties[i].id);
            }
        }
        if (role && q->role == XCHG_ROLE_AGENCY) {
            nagency++;
            if (!q->legal_basis)
                ERR(c, e, "missing legal basis for %s: agencies must state 'legal_basis' "
                          "(their power to share)", where);
        }
        nmatcher += role && q->role == XCHG_ROLE_MATCHER;
        nrecip += role && q->role == XCHG_ROLE_RECIPIENT;
        p->nparties++;
    }
    if (nmatcher != 1)
        ERR(c, s, "the agreement needs exactly one party with role matcher (found %zu)", nmatcher);
    if (nagency == 0)
        ERR(c, s, "the agreement needs at least one party with role agency");
    if (nrecip == 0 && !p->linkage_only)
        ERR(c, s, "the agreement needs at least one party with role recipient");
    c->parties_ok = c->errors == before;
}

/* Look up a party by name; report an unknown one at n. */
static size_t party_ref(struct ctx *c, xchg__ynode *n, const char *name, int role,
                        const char *where)
{
    for (size_t i = 0; i < c->p->nparties; i++)
        if (strcmp(c->p->parties[i].id, name) == 0) {
            if (role >= 0 && c->p->parties[i].role != (xchg_role)role) {
                ERR(c, n, "party '%s' in %s must have role %s, but has role %s", name, where,
                    xchg_role_name((xchg_role)role), xchg_role_name(c->p->parties[i].role));
                return XCHG_NONE;
            }
            return i;
        }
    if (c->parties_ok)
        ERR(c, n, "unknown party '%s' in %s", name, where);
    return XCHG_NONE;
}

static int parse_ftype(const char *s, xchg_field_type *t)
{
    for (int i = 0; i <= XCHG_FT_ID; i++)
        if (strcmp(s, xchg_field_type_name((xchg_field_type)i)) == 0) {
            *t = (xchg_field_type)i;
            return 1;
        }
    return 0;
}

static int type_identifying(xchg_field_type t)
{
    return t <= XCHG_FT_ADDRESS || t == XCHG_FT_SEX || t == XCHG_FT_ID;
}

/* "encode" or "drop": what the CLK gets for an invalid value (absent: def) */
static int clk_invalid_of(struct ctx *c, xchg__ynode *map, const char *key, int def,
                          const char *where)
{
    const char *s = get_str(c, map, key, 0, where);
    if (!s)
        return def;
    if (strcmp(s, "encode") == 0)
        return XCHG_CLK_INVALID_ENCODE;
    if (strcmp(s, "drop") == 0)
        return XCHG_CLK_INVALID_DROP;
    ERR(c, get(map, key), "'%s' in %s must be encode or drop, not '%s'", key, where, s);
    return def;
}

static void parse_fields(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"type", "values", "special_category", "clk_invalid",
                                       "date_of_birth", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    int before = c->errors;
    if (!need(c, root, "fields", "the agreement file", &m) || !is_map(c, m, "'fields'"))
        return;
    int cnt = xchg__y_map_count(m);
    p->fields = alloc(c, sizeof *p->fields * (size_t)(cnt > 0 ? cnt : 1));
    if (!p->fields)
        return;
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(m, &it)) != NULL) {
        xchg__ynode *k = xchg__y_key(pr), *v = xchg__y_value(pr);
        const char *name = str_of(c, k, "a field name");
        if (!name)
            continue;
        char where[128];
        label(where, sizeof where, "field '%s'", name);
        if (!valid_ident(name))
            ERR(c, k, "field name '%s' must be 1-64 characters of a-z, 0-9, '-', '_'", name);
        if (!is_map(c, v, where))
            continue;
        check_keys(c, v, keys, where);
        xchg_field *f = &p->fields[p->nfields];
        memset(f, 0, sizeof *f);
        f->name = name;
        const char *ty = get_str(c, v, "type", 1, where);
        if (ty && !parse_ftype(ty, &f->type)) {
            ERR(c, get(v, "type"),
                "unknown type '%s' for %s (expected name, date, uk_postcode, nhs_number, upn, "
                "ni_number, uprn, address_line, identifier, text, number, code or sex)",
                ty, where);
            continue;
        }
        if (!ty)
            continue;
        f->identifying = type_identifying(f->type);
        f->special_category = get_bool(c, v, "special_category", 0, where);
        f->clk_invalid = clk_invalid_of(c, v, "clk_invalid", XCHG_CLK_INVALID_DEFAULT, where);
        xchg__ynode *vals = get(v, "values");
        if (f->type == XCHG_FT_CODE) {
            if (!vals)
                ERR(c, v, "%s has type code and needs a list of 'values'", where);
            else
                get_str_list(c, vals, &f->values, &f->nvalues, "'values'");
        } else if (vals) {
            ERR(c, vals, "'values' is only allowed for fields of type code");
        }
        if (get_bool(c, v, "date_of_birth", 0, where)) {
            if (f->type != XCHG_FT_DATE)
                ERR(c, get(v, "date_of_birth"), "%s: 'date_of_birth' needs a date field", where);
            else if (p->dob_field != XCHG_NONE)
                ERR(c, get(v, "date_of_birth"), "only one field may be the 'date_of_birth'");
            else
                p->dob_field = p->nfields;
        }
        p->nfields++;
    }
    /* the date of birth (ages): marked, else a date field called dob */
    if (p->dob_field == XCHG_NONE)
        for (size_t i = 0; i < p->nfields; i++)
            if (strcmp(p->fields[i].name, "dob") == 0 && p->fields[i].type == XCHG_FT_DATE)
                p->dob_field = i;
    c->fields_ok = c->errors == before;
}

static size_t field_idx(const xchg_policy_data *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->nfields; i++)
        if (strlen(p->fields[i].name) == n && memcmp(p->fields[i].name, name, n) == 0)
            return i;
    return XCHG_NONE;
}

static size_t field_ref(struct ctx *c, xchg__ynode *n, const char *name, const char *where)
{
    size_t i = field_idx(c->p, name, strlen(name));
    if (i == XCHG_NONE && c->fields_ok)
        ERR(c, n, "unknown field '%s' in %s (declare it under 'fields')", name, where);
    return i;
}

static int parse_transform(const char *s, xchg_transform *t)
{
    for (int i = 0; i <= XCHG_TR_DOUBLE_METAPHONE; i++)
        if (strcmp(s, xchg_transform_name((xchg_transform)i)) == 0) {
            *t = (xchg_transform)i;
            return 1;
        }
    return 0;
}

static int transform_fits(xchg_transform t, xchg_field_type ft)
{
    switch (t) {
    case XCHG_TR_NONE: return 1;
    case XCHG_TR_INITIAL:
    case XCHG_TR_PHONETIC:
    case XCHG_TR_DOUBLE_METAPHONE:
    case XCHG_TR_FIRST:
    case XCHG_TR_NICKNAME: return ft == XCHG_FT_NAME;
    case XCHG_TR_YEAR:
    case XCHG_TR_SWAP_DM: return ft == XCHG_FT_DATE;
    case XCHG_TR_OUTWARD:
    case XCHG_TR_SECTOR: return ft == XCHG_FT_POSTCODE;
    }
    return 0;
}

/* A key is a list of "field" or "field:transform" parts. */
static int parse_key_parts(struct ctx *c, xchg__ynode *n, xchg_match_key *k, const char *where)
{
    if (!is_seq(c, n, where))
        return 0;
    int cnt = xchg__y_seq_count(n);
    if (cnt <= 0) {
        ERR(c, n, "%s must list at least one field", where);
        return 0;
    }
    k->parts = alloc(c, sizeof *k->parts * (size_t)cnt);
    if (!k->parts)
        return 0;
    void *it = NULL;
    xchg__ynode *e;
    int ok = 1;
    while ((e = xchg__y_seq_next(n, &it)) != NULL) {
        size_t len;
        const char *s = scalar(c, e, &len, where);
        if (!s) {
            ok = 0;
            continue;
        }
        const char *colon = memchr(s, ':', len);
        size_t flen = colon ? (size_t)(colon - s) : len;
        xchg_key_part part = {field_idx(c->p, s, flen), XCHG_TR_NONE};
        if (part.field == XCHG_NONE) {
            if (c->fields_ok)
                ERR(c, e, "unknown field '%.*s' in %s (declare it under 'fields')", (int)flen, s,
                    where);
            ok = 0;
            continue;
        }
        if (colon) {
            char tr[32];
            size_t tl = len - flen - 1;
            if (tl >= sizeof tr || (memcpy(tr, colon + 1, tl), tr[tl] = '\0', !parse_transform(tr, &part.transform))) {
                ERR(c, e, "unknown transform '%.*s' in %s (expected initial, phonetic, "
                          "double_metaphone, first, nickname, year, swap_dm, outward or sector)",
                    (int)tl, colon + 1, where);
                ok = 0;
                continue;
            }
            if (!transform_fits(part.transform, c->p->fields[part.field].type)) {
                ERR(c, e, "transform '%s' cannot apply to field '%s' of type %s",
                    xchg_transform_name(part.transform), c->p->fields[part.field].name,
                    xchg_field_type_name(c->p->fields[part.field].type));
                ok = 0;
                continue;
            }
        }
        if (!c->p->fields[part.field].identifying) {
            ERR(c, e, "%s uses field '%s', which is not an identifier (type %s)", where,
                c->p->fields[part.field].name, xchg_field_type_name(c->p->fields[part.field].type));
            ok = 0;
            continue;
        }
        k->parts[k->nparts++] = part;
    }
    return ok;
}

/* `any_order: [a, b]`: two of the key's parts, named as its `fields` name them, compared as
 * an unordered pair (forename and surname swapped still share the token). */
static void parse_any_order(struct ctx *c, xchg__ynode *n, xchg_match_key *k,
                            const char *where)
{
    if (!is_seq(c, n, "'any_order'"))
        return;
    if (xchg__y_seq_count(n) != 2) {
        ERR(c, n, "'any_order' of %s must name exactly two of its fields", where);
        return;
    }
    size_t idx[2];
    for (int i = 0; i < 2; i++) {
        xchg__ynode *e = xchg__y_seq_at(n, i);
        size_t len;
        const char *s = scalar(c, e, &len, "'any_order'");
        if (!s)
            return;
        const char *colon = memchr(s, ':', len);
        size_t flen = colon ? (size_t)(colon - s) : len;
        xchg_transform t = XCHG_TR_NONE;
        char tr[32];
        if (colon && (len - flen - 1 >= sizeof tr ||
                      (memcpy(tr, colon + 1, len - flen - 1), tr[len - flen - 1] = '\0',
                       !parse_transform(tr, &t)))) {
            ERR(c, e, "'any_order' of %s: unknown transform in '%.*s'", where, (int)len, s);
            return;
        }
        size_t f = field_idx(c->p, s, flen);
        idx[i] = XCHG_NONE;
        for (size_t j = 0; f != XCHG_NONE && j < k->nparts; j++)
            if (k->parts[j].field == f && k->parts[j].transform == t)
                idx[i] = j;
        if (idx[i] == XCHG_NONE) {
            ERR(c, e, "'any_order' of %s names '%.*s', which is not one of its fields", where,
                (int)len, s);
            return;
        }
    }
    if (idx[0] == idx[1]) {
        ERR(c, n, "'any_order' of %s names the same field twice", where);
        return;
    }
    if (c->p->fields[k->parts[idx[0]].field].type != c->p->fields[k->parts[idx[1]].field].type) {
        ERR(c, n, "'any_order' of %s pairs fields of different types (%s, %s)", where,
            xchg_field_type_name(c->p->fields[k->parts[idx[0]].field].type),
            xchg_field_type_name(c->p->fields[k->parts[idx[1]].field].type));
        return;
    }
    k->any_order = 1;
    k->any_order_parts[0] = idx[0] < idx[1] ? idx[0] : idx[1];
    k->any_order_parts[1] = idx[0] < idx[1] ? idx[1] : idx[0];
}

static void parse_match_keys(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"name", "fields", "strong", "any_order", NULL};
    xchg__ynode *s;
    xchg_policy_data *p = c->p;
    if (!need(c, root, "match_keys", "the agreement file", &s) || !is_seq(c, s, "'match_keys'"))
        return;
    int cnt = xchg__y_seq_count(s);
    if (cnt <= 0) {
        ERR(c, s, "'match_keys' must list at least one key");
        return;
    }
    p->match_keys = alloc(c, sizeof *p->match_keys * (size_t)cnt);
    if (!p->match_keys)
        return;
    void *it = NULL;
    xchg__ynode *e;
    int seen_weak = 0;
    while ((e = xchg__y_seq_next(s, &it)) != NULL) {
        if (!is_map(c, e, "each match key"))
            continue;
        check_keys(c, e, keys, "a match key");
        xchg_match_key *k = &p->match_keys[p->nmatch_keys];
        memset(k, 0, sizeof *k);
        k->name = get_str(c, e, "name", 1, "a match key");
        if (!k->name)
            continue;
        char where[128];
        label(where, sizeof where, "match key '%s'", k->name);
        for (size_t i = 0; i < p->nmatch_keys; i++)
            if (strcmp(p->match_keys[i].name, k->name) == 0)
                ERR(c, get(e, "name"), "match key '%s' is defined twice", k->name);
        k->strong = get_bool(c, e, "strong", 0, where);
        xchg__ynode *f;
        if (!need(c, e, "fields", where, &f) || !parse_key_parts(c, f, k, where))
            continue;
        xchg__ynode *ao = get(e, "any_order");
        if (ao)
            parse_any_order(c, ao, k, where);
        if (k->strong && seen_weak)
            ERR(c, e, "strong %s must come before the weaker keys (keys are applied strongest first)",
                where);
        if (k->strong && k->nparts != 1)
            ERR(c, e, "strong %s must be a single identifier field", where);
        seen_weak |= !k->strong;
        p->nmatch_keys++;
    }
}

/* Convert a YAML node to JSON text (for the embedded clkhash schema). */
static char *node_to_json(struct ctx *c, xchg__ynode *n, size_t *len)
{
    char *s = xchg__yaml_to_json(n);
    if (!s) {
        c->nomem = 1;
        return NULL;
    }
    *len = strlen(s);
    char *copy = arena_strndup(c->a, s, *len);
    free(s);
    return copy;
}

/*
 * A list of unnamed keys (blocking, household, fallback): each item a list of
 * "field[:transform]" parts; keys are named prefix1, prefix2, ... At least one key is
 * required when required is set.
 */
static void parse_key_list(struct ctx *c, xchg__ynode *n, const char *what, const char *item,
                           const char *prefix, int required, xchg_match_key **out, size_t *count)
{
    if (!is_seq(c, n, what))
        return;
    int cnt = xchg__y_seq_count(n);
    if (cnt <= 0 && required)
        ERR(c, n, "%s must list at least one key", what);
    *out = alloc(c, sizeof **out * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ynode *e;
    while (*out && (e = xchg__y_seq_next(n, &it)) != NULL) {
        xchg_match_key *k = &(*out)[*count];
        memset(k, 0, sizeof *k);
        char name[32];
        snprintf(name, sizeof name, "%s%zu", prefix, *count + 1);
        k->name = arena_strndup(c->a, name, strlen(name));
        if (parse_key_parts(c, e, k, item))
            (*count)++;
    }
}

/* A blocking key of one low-entropy attribute: a name (whole, initial or phonetic code),
 * a year, a postcode district or sector, a sex or a code. Its tokens take few values whose
 * frequencies follow public tables, so the matcher, which counts them, recovers each
 * record's value by frequency alignment (docs/attacks.md: 4-7 % of FEBRL's records from a
 * Soundex-only key). A warning, not an error: the agreement stays valid, its author is
 * told. A key whose parts failed to parse was reported already and is skipped. */
static int low_entropy_part(const xchg_policy_data *p, const xchg_key_part *kp)
{
    if (kp->field >= p->nfields)
        return 0;
    switch (p->fields[kp->field].type) {
    case XCHG_FT_NAME:
    case XCHG_FT_SEX:
    case XCHG_FT_CODE:
        return 1;
    case XCHG_FT_DATE:
        return kp->transform == XCHG_TR_YEAR;
    case XCHG_FT_POSTCODE:
        return kp->transform == XCHG_TR_OUTWARD || kp->transform == XCHG_TR_SECTOR;
    default:
        return 0;
    }
}

static void warn_weak_blocking(struct ctx *c, xchg__ynode *b, const xchg_fuzzy *f)
{
    if (!f->blocking || xchg__y_seq_count(b) != (int)f->nblocking)
        return; /* some key failed to parse (reported): indices would not line up */
    for (size_t i = 0; i < f->nblocking; i++) {
        const xchg_match_key *k = &f->blocking[i];
        if (k->nparts != 1 || !low_entropy_part(c->p, &k->parts[0]))
            continue;
        xchg__ynode *e = xchg__y_seq_at(b, (int)i);
        xchg__ynode *pn = e ? xchg__y_seq_at(e, 0) : NULL;
        size_t len = 0;
        const char *s = pn ? xchg__y_scalar(pn, &len) : NULL;
        WARN(c, e,
             "blocking key %zu is the single low-entropy attribute '%.*s': the matcher can "
             "recover its value from the tokens' frequencies (docs/attacks.md); combine it with "
             "another part, e.g. a name code with a date part",
             i + 1, s ? (int)len : 1, s ? s : "?");
    }
}

/* fuzzy.hardening (docs/clk.md, "Hardening options"): transforms of every CLK after
 * encoding. salt: {feature: <a clk_schema feature identifier>, chars: N} permutes the bits
 * by a keyed permutation chosen by the feature's first N bytes; blip: P flips each bit with
 * probability P. */
static void parse_clk_hardening(struct ctx *c, xchg__ynode *m, xchg__ynode *sch,
                                xchg_fuzzy *f)
{
    static const char *const keys[] = {"salt", "blip", NULL};
    static const char *const skeys[] = {"feature", "chars", NULL};
    xchg__ynode *h = get(m, "hardening");
    if (!h || !is_map(c, h, "'hardening'"))
        return;
    check_keys(c, h, keys, "'hardening'");
    xchg__ynode *sa = get(h, "salt");
    if (sa && is_map(c, sa, "'salt' in 'hardening'")) {
        check_keys(c, sa, skeys, "'salt' in 'hardening'");
        const char *feat = get_str(c, sa, "feature", 1, "'salt' in 'hardening'");
        if (feat) {
            int found = 0;
            xchg__ynode *fs = sch ? get(sch, "features") : NULL;
            for (int i = 0; fs && xchg__y_type(fs) == XCHG_Y_SEQUENCE &&
                            i < xchg__y_seq_count(fs); i++) {
                xchg__ynode *id = get(xchg__y_seq_at(fs, i), "identifier");
                size_t il = 0;
                const char *is = id && xchg__y_type(id) == XCHG_Y_SCALAR
                                     ? xchg__y_scalar(id, &il) : NULL;
                if (is && il == strlen(feat) && memcmp(is, feat, il) == 0)
                    found = 1;
            }
            if (!found)
                ERR(c, get(sa, "feature"), "salt feature '%s' is not a feature of 'clk_schema'",
                    feat);
            f->harden_salt = feat;
        }
        xchg__ynode *ch = get(sa, "chars");
        double n = 0;
        if (ch && num_of(c, ch, &n, "'chars'")) {
            if (n < 1 || n > 256 || n != (double)(size_t)n)
                ERR(c, ch, "'chars' must be a whole number from 1 to 256, not %g", n);
            else
                f->harden_salt_chars = (size_t)n;
        }
    }
    xchg__ynode *b = get(h, "blip");
    double p = 0;
    if (b && num_of(c, b, &p, "'blip'")) {
        if (!(p >= 0 && p < 0.5))
            ERR(c, b, "'blip' must be a bit-flip probability in [0, 0.5), not %g", p);
        else
            f->harden_blip = p;
    }
}

static void parse_fuzzy(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"clk_schema", "threshold", "review_band", "blocking",
                                       "one_to_one", "invalid", "hardening", NULL};
    xchg__ynode *m = get(root, "fuzzy");
    xchg_fuzzy *f = &c->p->fuzzy;
    if (!m)
        return; /* exact keys only */
    if (!is_map(c, m, "'fuzzy'"))
        return;
    check_keys(c, m, keys, "'fuzzy'");
    xchg__ynode *sch = NULL;
    if (need(c, m, "clk_schema", "'fuzzy'", &sch) && is_map(c, sch, "'clk_schema'")) {
        xchg__ynode *ver = get(sch, "version");
        size_t vl = 0;
        const char *vs = ver && xchg__y_type(ver) == XCHG_Y_SCALAR ? xchg__y_scalar(ver, &vl) : NULL;
        if (!vs || vl != 1 || vs[0] != '3')
            ERR(c, ver ? ver : sch, "'clk_schema' must be a clkhash linkage schema with version: 3");
        f->clk_schema_json = node_to_json(c, sch, &f->clk_schema_len);
    }
    xchg__ynode *t;
    double th = 0;
    if (need(c, m, "threshold", "'fuzzy'", &t) && num_of(c, t, &th, "'threshold'")) {
        if (th <= 0.5 || th > 1.0)
            ERR(c, t, "'threshold' must be a Dice similarity in (0.5, 1], not %g", th);
        f->threshold = th;
    }
    xchg__ynode *rb = get(m, "review_band");
    f->review_low = f->review_high = f->threshold;
    if (rb && is_seq(c, rb, "'review_band'")) {
        if (xchg__y_seq_count(rb) != 2) {
            ERR(c, rb, "'review_band' must be two numbers [low, high]");
        } else {
            double lo, hi;
            if (num_of(c, xchg__y_seq_at(rb, 0), &lo, "review_band low") &&
                num_of(c, xchg__y_seq_at(rb, 1), &hi, "review_band high")) {
                if (!(lo < hi) || lo <= 0 || hi > 1)
                    ERR(c, rb, "'review_band' needs 0 < low < high <= 1");
                else if (hi > th + 1e-12)
                    ERR(c, rb, "'review_band' high (%g) must not exceed the threshold (%g)", hi, th);
                f->review_low = lo;
                f->review_high = hi;
            }
        }
    }
    f->one_to_one = get_bool(c, m, "one_to_one", 1, "'fuzzy'");
    f->invalid = clk_invalid_of(c, m, "invalid", XCHG_CLK_INVALID_ENCODE, "'fuzzy'");
    parse_clk_hardening(c, m, sch, f);
    xchg__ynode *b;
    if (need(c, m, "blocking", "'fuzzy'", &b)) {
        parse_key_list(c, b, "'blocking'", "a blocking key", "block", 1, &f->blocking,
                       &f->nblocking);
        warn_weak_blocking(c, b, f);
    }
}

static void parse_households(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"keys", "relationships", "fallback_keys", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    if (!need(c, root, "households", "the agreement file", &m) || !is_map(c, m, "'households'"))
        return;
    check_keys(c, m, keys, "'households'");
    xchg__ynode *k, *fb = get(m, "fallback_keys");
    if (need(c, m, "keys", "'households'", &k))
        parse_key_list(c, k, "'keys' in 'households'", "a household key", "household", 1,
                       &p->household_keys, &p->nhousehold_keys);
    if (fb)
        parse_key_list(c, fb, "'fallback_keys' in 'households'", "a household fallback key",
                       "fallback", 0, &p->household_fallback, &p->nhousehold_fallback);
    const char **rel = NULL;
    size_t nrel = 0;
    xchg__ynode *r = get(m, "relationships");
    if (get_str_list(c, r, &rel, &nrel, "'relationships'") && nrel) {
        p->household_relations = alloc(c, sizeof(size_t) * nrel);
        for (size_t i = 0; p->household_relations && i < nrel; i++) {
            size_t fi = field_ref(c, r, rel[i], "'relationships'");
            if (fi != XCHG_NONE)
                p->household_relations[p->nhousehold_relations++] = fi;
        }
    }
}

static void parse_problems(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"title", "asserted_by", "window_days", "identify",
                                       "outcome", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    int before = c->errors;
    if (p->linkage_only && !get(root, "problems"))
        return; /* pure linkage: no indicator vocabulary */
    if (!need(c, root, "problems", "the agreement file", &m) || !is_map(c, m, "'problems'"))
        return;
    int cnt = xchg__y_map_count(m);
    p->problems = alloc(c, sizeof *p->problems * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ypair *pr;
    while (p->problems && (pr = xchg__y_map_next(m, &it)) != NULL) {
        xchg__ynode *k = xchg__y_key(pr), *v = xchg__y_value(pr);
        const char *code = str_of(c, k, "a problem code");
        if (!code)
            continue;
        char where[128];
        label(where, sizeof where, "problem '%s'", code);
        if (!is_map(c, v, where))
            continue;
        check_keys(c, v, keys, where);
        xchg_problem *q = &p->problems[p->nproblems];
        memset(q, 0, sizeof *q);
        q->code = code;
        q->title = get_str(c, v, "title", 1, where);
        long w = 0;
        q->window_days = -1;
        if (get_long(c, v, "window_days", 0, 1, 3660, &w, where))
            q->window_days = (int32_t)w;
        const char **names;
        size_t nn;
        xchg__ynode *ab = get(v, "asserted_by");
        char abw[160];
        label(abw, sizeof abw, "'asserted_by' of %s", where);
        if (!ab) {
            ERR(c, v, "%s: 'asserted_by' must name the agencies that may assert it", where);
        } else if (get_str_list(c, ab, &names, &nn, abw)) {
            q->asserted_by = alloc(c, sizeof(size_t) * (nn ? nn : 1));
            for (size_t i = 0; q->asserted_by && i < nn; i++) {
                size_t pi = party_ref(c, ab, names[i], XCHG_ROLE_AGENCY, abw);
                if (pi != XCHG_NONE)
                    q->asserted_by[q->nasserted++] = pi;
            }
        }
        p->nproblems++;
    }
    c->problems_ok = c->errors == before;
}

static size_t problem_ref(struct ctx *c, xchg__ynode *n, const char *code, const char *where)
{
    for (size_t i = 0; i < c->p->nproblems; i++)
        if (strcmp(c->p->problems[i].code, code) == 0)
            return i;
    if (c->problems_ok)
        ERR(c, n, "unknown problem '%s' in %s (declare it under 'problems')", code, where);
    return XCHG_NONE;
}

static void parse_rule_expr(struct ctx *c, xchg__ynode *n, xchg_rule_expr *r, int depth)
{
    static const char *const ek[] = {"at_least", "of", "all", "any", NULL};
    memset(r, 0, sizeof *r);
    if (!is_map(c, n, "'eligible_when'"))
        return;
    if (depth > 8) {
        ERR(c, n, "'eligible_when' is nested too deeply");
        return;
    }
    check_keys(c, n, ek, "'eligible_when'");
    xchg__ynode *all = get(n, "all"), *any = get(n, "any");
    if (all || any) {
        if (all && any)
            ERR(c, n, "'eligible_when' takes 'all' or 'any', not both");
        if (get(n, "at_least") || get(n, "of"))
            ERR(c, n, "'eligible_when' with 'all'/'any' takes no 'at_least'/'of' beside them");
        xchg__ynode *l = all ? all : any;
        r->kind = all ? XCHG_RULE_ALL : XCHG_RULE_ANY;
        if (!is_seq(c, l, "'all'/'any' in 'eligible_when'"))
            return;
        int cnt = xchg__y_seq_count(l);
        if (cnt <= 0) {
            ERR(c, l, "'all'/'any' in 'eligible_when' is empty");
            return;
        }
        r->sub = alloc(c, sizeof *r->sub * (size_t)cnt);
        void *it = NULL;
        xchg__ynode *e;
        while (r->sub && (e = xchg__y_seq_next(l, &it)) != NULL)
            parse_rule_expr(c, e, &r->sub[r->nsub++], depth + 1);
        return;
    }
    r->kind = XCHG_RULE_AT_LEAST;
    long al = 0;
    int have_al = get_long(c, n, "at_least", 1, 1, 100, &al, "'eligible_when'");
    r->at_least = (unsigned)al;
    const char **names;
    size_t nn;
    xchg__ynode *of;
    if (!need(c, n, "of", "'eligible_when'", &of) ||
        !get_str_list(c, of, &names, &nn, "'of' in 'eligible_when'"))
        return;
    r->of = alloc(c, sizeof(size_t) * (nn ? nn : 1));
    for (size_t i = 0; r->of && i < nn; i++) {
        size_t pi = problem_ref(c, of, names[i], "the eligibility rule");
        if (pi == XCHG_NONE)
            continue;
        for (size_t j = 0; j < r->nof; j++)
            if (r->of[j] == pi)
                ERR(c, of, "problem '%s' is listed twice in the eligibility rule", names[i]);
        r->of[r->nof++] = pi;
    }
    if (have_al && nn && al > (long)nn)
        ERR(c, n, "the eligibility rule can never be met: it needs %ld problems but lists only %zu",
            al, nn);
}

/* The fewest problems that can satisfy r (for display: "at least N problems"). */
static unsigned rule_min(const xchg_rule_expr *r)
{
    if (r->kind == XCHG_RULE_AT_LEAST)
        return r->at_least;
    unsigned best = r->kind == XCHG_RULE_ANY ? UINT32_MAX : 0;
    for (size_t i = 0; i < r->nsub; i++) {
        unsigned m = rule_min(&r->sub[i]);
        best = r->kind == XCHG_RULE_ANY ? (m < best ? m : best) : best + m;
    }
    return best == UINT32_MAX ? 0 : best;
}

/* rule_of: every problem the rule names, once. */
static void rule_union(struct ctx *c, const xchg_rule_expr *r)
{
    xchg_policy_data *p = c->p;
    for (size_t i = 0; i < r->nof; i++) {
        int have = 0;
        for (size_t j = 0; j < p->nrule_of; j++)
            have |= p->rule_of[j] == r->of[i];
        if (!have && p->nrule_of < p->nproblems)
            p->rule_of[p->nrule_of++] = r->of[i];
    }
    for (size_t i = 0; i < r->nsub; i++)
        rule_union(c, &r->sub[i]);
}

static void parse_rule(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"eligible_when", "evidence_window_days", NULL};
    xchg__ynode *m, *ew;
    xchg_policy_data *p = c->p;
    if (p->linkage_only && !get(root, "rule") && !get(root, "problems"))
        return; /* pure linkage: nobody is eligible for anything */
    if (!need(c, root, "rule", "the agreement file", &m) || !is_map(c, m, "'rule'"))
        return;
    check_keys(c, m, keys, "'rule'");
    long w = 365;
    get_long(c, m, "evidence_window_days", 1, 1, 3660, &w, "'rule'");
    p->rule_window_days = (int32_t)w;
    if (!need(c, m, "eligible_when", "'rule'", &ew))
        return;
    parse_rule_expr(c, ew, &p->rule, 0);
    p->rule_of = alloc(c, sizeof(size_t) * (p->nproblems ? p->nproblems : 1));
    if (p->rule_of)
        rule_union(c, &p->rule);
    p->rule_at_least = rule_min(&p->rule);
}

static int parse_op(struct ctx *c, xchg__ynode *cond, xchg_condition *k, const char *where)
{
    static const char *const ops[] = {"lt", "le", "gt", "ge", "eq", "ne", "in", "present"};
    int found = 0;
    for (int i = 0; i < 8; i++) {
        xchg__ynode *v = get(cond, ops[i]);
        if (!v)
            continue;
        if (found++) {
            ERR(c, v, "%s: give exactly one comparison (lt, le, gt, ge, eq, ne, in or present)",
                where);
            return 0;
        }
        k->op = (xchg_op)i;
        if (k->op <= XCHG_OP_GE) {
            if (!num_of(c, v, &k->number, "a comparison"))
                return 0;
        } else if (k->op == XCHG_OP_EQ || k->op == XCHG_OP_NE) {
            size_t len;
            const char *s = scalar(c, v, &len, "a comparison");
            if (!s)
                return 0;
            k->text = arena_strndup(c->a, s, len);
            if (plain(v))
                parse_double(s, len, &k->number);
        } else if (k->op == XCHG_OP_IN) {
            if (!get_str_list(c, v, &k->list, &k->nlist, "'in'") || !k->nlist) {
                if (!k->nlist)
                    ERR(c, v, "'in' needs at least one value");
                return 0;
            }
        } else {
            if (!get_bool(c, cond, "present", 0, where))
                ERR(c, v, "'present' may only be true");
        }
    }
    if (!found) {
        ERR(c, cond, "%s needs a comparison (lt, le, gt, ge, eq, ne, in or present)", where);
        return 0;
    }
    return 1;
}

static int parse_condition(struct ctx *c, xchg__ynode *cond, xchg_condition *k,
                           const xchg_extract *x, const char *where)
{
    static const char *const keys[] = {"field", "sum", "ratio", "lt", "le", "gt", "ge", "eq",
                                       "ne", "in", "present", NULL};
    if (!is_map(c, cond, where))
        return 0;
    check_keys(c, cond, keys, where);
    memset(k, 0, sizeof *k);
    k->field = k->field2 = XCHG_NONE;
    xchg__ynode *f = get(cond, "field"), *s = get(cond, "sum"), *r = get(cond, "ratio");
    if ((f != NULL) + (s != NULL) + (r != NULL) != 1) {
        ERR(c, cond, "%s needs exactly one of 'field', 'sum' or 'ratio'", where);
        return 0;
    }
    const char *name;
    if (f || s) {
        name = str_of(c, f ? f : s, "a field name");
        if (!name)
            return 0;
        k->agg = f ? XCHG_AGG_ROW : XCHG_AGG_SUM;
        k->field = field_ref(c, f ? f : s, name, where);
    } else {
        const char **two;
        size_t n2;
        if (!get_str_list(c, r, &two, &n2, "'ratio'") || n2 != 2) {
            ERR(c, r, "'ratio' must be two fields [numerator, denominator]");
            return 0;
        }
        k->agg = XCHG_AGG_RATIO;
        k->field = field_ref(c, r, two[0], where);
        k->field2 = field_ref(c, r, two[1], where);
        if (k->field2 == XCHG_NONE)
            return 0;
    }
    if (k->field == XCHG_NONE)
        return 0;
    if (!parse_op(c, cond, k, where))
        return 0;
    const xchg_field *fd = &c->p->fields[k->field];
    if (k->agg != XCHG_AGG_ROW && fd->type != XCHG_FT_NUMBER)
        ERR(c, cond, "%s: 'sum'/'ratio' need number fields; '%s' is %s", where, fd->name,
            xchg_field_type_name(fd->type));
    if (k->agg != XCHG_AGG_ROW && x->group_by == XCHG_NONE)
        ERR(c, cond, "%s: 'sum'/'ratio' need the extract's 'group_by' field", where);
    if (k->op <= XCHG_OP_GE && k->agg == XCHG_AGG_ROW && fd->type != XCHG_FT_NUMBER)
        ERR(c, cond, "%s compares field '%s' (type %s) with a number", where, fd->name,
            xchg_field_type_name(fd->type));
    if (fd->type == XCHG_FT_CODE) {
        const char **vals = k->op == XCHG_OP_IN ? k->list : &k->text;
        size_t nv = k->op == XCHG_OP_IN ? k->nlist : (k->text ? 1 : 0);
        for (size_t i = 0; i < nv; i++) {
            int ok = 0;
            for (size_t j = 0; j < fd->nvalues; j++)
                ok |= strcmp(vals[i], fd->values[j]) == 0;
            if (!ok)
                ERR(c, cond, "%s: '%s' is not one of the values of field '%s'", where, vals[i],
                    fd->name);
        }
    }
    /* the field must come from this agency's extract */
    size_t need2[2] = {k->field, k->field2};
    for (int i = 0; i < 2; i++) {
        if (need2[i] == XCHG_NONE)
            continue;
        int mapped = 0;
        for (size_t j = 0; j < x->ncolumns; j++)
            mapped |= x->columns[j].field == need2[i];
        if (!mapped)
            ERR(c, cond, "%s uses field '%s', which this agency's 'columns' do not provide", where,
                c->p->fields[need2[i]].name);
    }
    return 1;
}

static void parse_consent_values(struct ctx *c, xchg__ynode *n, xchg_extract *x)
{
    const char *const *names = xchg__consent_value_keys;
    static const char *const defaults[] = {"given", "refused", "not sought", "withdrawn"};
    for (int i = 0; i < 4; i++) {
        x->consent_values[i] = alloc(c, sizeof(char *));
        if (x->consent_values[i]) {
            x->consent_values[i][0] = defaults[i];
            x->nconsent_values[i] = 1;
        }
    }
    if (!n || !is_map(c, n, "'consent_values'"))
        return;
    check_keys(c, n, names, "'consent_values'");
    for (int i = 0; i < 4; i++) {
        xchg__ynode *v = get(n, names[i]);
        if (v)
            get_str_list(c, v, &x->consent_values[i], &x->nconsent_values[i], names[i]);
    }
}


/* ---- measures (docs/programme.md) ------------------------------------------------- */

static int xchg__column_mapped(const xchg_extract *x, size_t field)
{
    for (size_t j = 0; j < x->ncolumns; j++)
        if (x->columns[j].field == field)
            return 1;
    return 0;
}

/* The measure called name (added on first use), noting that agency sends it. */
static size_t measure_add(struct ctx *c, xchg__ynode *n, const char *name, size_t agency)
{
    xchg_policy_data *p = c->p;
    if (!valid_ident(name)) {
        ERR(c, n, "measure name '%s' must be 1-64 characters of a-z, 0-9, '-', '_'", name);
        return XCHG_NONE;
    }
    if (!p->measures && !(p->measures = alloc(c, sizeof *p->measures * XCHG_MAX_MEASURES)))
        return XCHG_NONE;
    size_t i = 0;
    while (i < p->nmeasures && strcmp(p->measures[i].name, name) != 0)
        i++;
    if (i == p->nmeasures) {
        if (p->nmeasures == XCHG_MAX_MEASURES) {
            ERR(c, n, "too many measures (at most %d)", XCHG_MAX_MEASURES);
            return XCHG_NONE;
        }
        xchg_measure *m = &p->measures[p->nmeasures++];
        memset(m, 0, sizeof *m);
        m->name = name;
        m->agencies = alloc(c, sizeof(size_t) * (p->nparties ? p->nparties : 1));
    }
    xchg_measure *m = &p->measures[i];
    int have = 0;
    for (size_t k = 0; k < m->nagencies; k++)
        have |= m->agencies[k] == agency;
    if (!have && m->agencies && m->nagencies < p->nparties)
        m->agencies[m->nagencies++] = agency;
    return i;
}

static size_t measure_ref(struct ctx *c, xchg__ynode *n, const char *name, const char *where)
{
    for (size_t i = 0; i < c->p->nmeasures; i++)
        if (strcmp(c->p->measures[i].name, name) == 0)
            return i;
    if (c->extracts_ok)
        ERR(c, n, "unknown measure '%s' in %s (no extract has an indicator with 'measure: %s')",
            name, where, name);
    return XCHG_NONE;
}

/* A number field of this agency's extract, for a measure's value or of. */
static size_t measure_number(struct ctx *c, xchg__ynode *e, const char *key,
                             const xchg_extract *x, const char *where)
{
    const char *name = get_str(c, e, key, 0, where);
    if (!name)
        return XCHG_NONE;
    size_t fi = field_ref(c, get(e, key), name, where);
    if (fi == XCHG_NONE)
        return XCHG_NONE;
    if (c->p->fields[fi].type != XCHG_FT_NUMBER)
        ERR(c, get(e, key), "%s: '%s' must name a number field; '%s' is %s", where, key, name,
            xchg_field_type_name(c->p->fields[fi].type));
    else if (!xchg__column_mapped(x, fi))
        ERR(c, get(e, key), "%s: field '%s' is not one of this agency's 'columns'", where, name);
    return fi;
}

/* A measure's age bounds ({ge: 16, lt: 25}) and the numbers it carries. */
static void parse_measure_extras(struct ctx *c, xchg__ynode *e, xchg_indicator *in,
                                 const xchg_extract *x, const char *name)
{
    static const char *const akeys[] = {"lt", "ge", NULL};
    char where[160];
    label(where, sizeof where, "measure '%s'", name);
    xchg__ynode *a = get(e, "age");
    if (a && is_map(c, a, "'age'")) {
        check_keys(c, a, akeys, "'age'");
        long v;
        if (get_long(c, a, "ge", 0, 0, 150, &v, "'age'"))
            in->age_min = (int)v;
        if (get_long(c, a, "lt", 0, 1, 151, &v, "'age'"))
            in->age_below = (int)v;
        if (in->age_min < 0 && in->age_below < 0) /* an empty {} has no position: the indicator's */
            ERR(c, xchg__y_map_count(a) > 0 ? a : e, "%s: 'age' needs 'ge' and/or 'lt' (whole years on the evidence date)", where);
        if (in->age_min >= 0 && in->age_below >= 0 && in->age_below <= in->age_min)
            ERR(c, a, "%s: no age is both at least %d and under %d", where, in->age_min,
                in->age_below);
        if (c->p->dob_field == XCHG_NONE)
            ERR(c, a, "%s: an age condition needs a date-of-birth field (a date field 'dob', or "
                      "one marked 'date_of_birth: true')", where);
        else if (!xchg__column_mapped(x, c->p->dob_field))
            ERR(c, a, "%s: an age condition needs this agency's 'columns' to provide '%s'",
                where, c->p->fields[c->p->dob_field].name);
    }
    in->value_field = measure_number(c, e, "value", x, where);
    in->of_field = measure_number(c, e, "of", x, where);
    if (in->of_field != XCHG_NONE && in->value_field == XCHG_NONE)
        ERR(c, get(e, "of"), "%s: 'of' (a denominator) needs a 'value'", where);
}

static void parse_extracts(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"record_ref", "columns", "date_formats", "group_by",
                                       "indicators", "payload", "consent_column",
                                       "consent_date_column", "basis_column", "consent_values",
                                       "one_record_per_person", "person_id", NULL};
    static const char *const ikeys[] = {"problem", "measure", "when", "date", "end_date",
                                        "age", "value", "of", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    int before = c->errors;
    if (!need(c, root, "extracts", "the agreement file", &m) || !is_map(c, m, "'extracts'"))
        return;
    int cnt = xchg__y_map_count(m);
    p->extracts = alloc(c, sizeof *p->extracts * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ypair *pr;
    while (p->extracts && (pr = xchg__y_map_next(m, &it)) != NULL) {
        xchg__ynode *k = xchg__y_key(pr), *v = xchg__y_value(pr);
        const char *agency = str_of(c, k, "an agency id");
        if (!agency)
            continue;
        char where[128];
        label(where, sizeof where, "extract of '%s'", agency);
        size_t pi = party_ref(c, k, agency, XCHG_ROLE_AGENCY, "'extracts'");
        if (!is_map(c, v, where) || pi == XCHG_NONE)
            continue;
        for (size_t i = 0; i < p->nextracts; i++)
            if (p->extracts[i].agency == pi)
                ERR(c, k, "agency '%s' has two extract definitions", agency);
        check_keys(c, v, keys, where);
        xchg_extract *x = &p->extracts[p->nextracts];
        memset(x, 0, sizeof *x);
        x->agency = pi;
        x->group_by = XCHG_NONE;
        x->record_ref = get_str(c, v, "record_ref", 1, where);
        /* a pure linkage agreement releases nothing: consent is not recorded */
        x->consent_column = get_str(c, v, "consent_column", !p->linkage_only, where);
        x->one_record_per_person = get_bool(c, v, "one_record_per_person", 0, where);
        x->person_id = XCHG_NONE;
        x->consent_date_column = get_str(c, v, "consent_date_column", 0, where);
        x->basis_column = get_str(c, v, "basis_column", 0, where);
        parse_consent_values(c, get(v, "consent_values"), x);

        /* columns: CSV name -> field */
        xchg__ynode *cols;
        if (need(c, v, "columns", where, &cols) && is_map(c, cols, "'columns'")) {
            int nc = xchg__y_map_count(cols);
            x->columns = alloc(c, sizeof *x->columns * (size_t)(nc > 0 ? nc : 1));
            void *ci = NULL;
            xchg__ypair *cp;
            while (x->columns && (cp = xchg__y_map_next(cols, &ci)) != NULL) {
                const char *csv = str_of(c, xchg__y_key(cp), "a column name");
                const char *fname = str_of(c, xchg__y_value(cp), "a field name");
                if (!csv || !fname)
                    continue;
                size_t fi = field_ref(c, xchg__y_value(cp), fname, where);
                if (fi == XCHG_NONE)
                    continue;
                for (size_t j = 0; j < x->ncolumns; j++)
                    if (x->columns[j].field == fi)
                        ERR(c, xchg__y_value(cp),
                            "field '%s' is mapped from two columns in %s", fname, where);
                xchg_column *col = &x->columns[x->ncolumns++];
                memset(col, 0, sizeof *col);
                col->csv = csv;
                col->field = fi;
            }
            if (x->record_ref)
                for (size_t j = 0; j < x->ncolumns; j++)
                    if (strcmp(x->columns[j].csv, x->record_ref) == 0)
                        ERR(c, get(v, "record_ref"),
                            "'record_ref' column '%s' must not also be mapped to a field",
                            x->record_ref);
        }
        /* date formats per date field (defaults: ISO) */
        xchg__ynode *df = get(v, "date_formats");
        if (df && is_map(c, df, "'date_formats'")) {
            void *di = NULL;
            xchg__ypair *dp;
            while ((dp = xchg__y_map_next(df, &di)) != NULL) {
                const char *fname = str_of(c, xchg__y_key(dp), "a field name");
                if (!fname)
                    continue;
                size_t fi = field_ref(c, xchg__y_key(dp), fname, "'date_formats'");
                xchg_column *col = NULL;
                for (size_t j = 0; fi != XCHG_NONE && j < x->ncolumns; j++)
                    if (x->columns[j].field == fi)
                        col = &x->columns[j];
                if (fi != XCHG_NONE && p->fields[fi].type != XCHG_FT_DATE) {
                    ERR(c, xchg__y_key(dp), "'date_formats' names '%s', which is not a date field",
                        fname);
                    continue;
                }
                if (fi != XCHG_NONE && !col) {
                    ERR(c, xchg__y_key(dp),
                        "'date_formats' names '%s', which no column of %s maps", fname, where);
                    continue;
                }
                if (!col)
                    continue;
                get_str_list(c, xchg__y_value(dp), &col->date_formats, &col->ndate_formats,
                             "a date format");
                for (size_t j = 0; j < col->ndate_formats; j++)
                    if (!strstr(col->date_formats[j], "%d") || !strstr(col->date_formats[j], "%m") ||
                        !strstr(col->date_formats[j], "%Y"))
                        ERR(c, xchg__y_value(dp),
                            "date format '%s' must contain %%d, %%m and %%Y", col->date_formats[j]);
            }
        }
        const char *gb = get_str(c, v, "group_by", 0, where);
        if (gb) {
            x->group_by = field_ref(c, get(v, "group_by"), gb, where);
        }
        /* the agency's own person identifier: an identifying field among its columns,
         * sealed as a keyed token that only says "same" or "different" */
        const char *pid = get_str(c, v, "person_id", 0, where);
        if (pid) {
            size_t fi = field_ref(c, get(v, "person_id"), pid, where);
            int mapped = 0;
            for (size_t j = 0; fi != XCHG_NONE && j < x->ncolumns; j++)
                mapped |= x->columns[j].field == fi;
            if (fi != XCHG_NONE && !mapped)
                ERR(c, get(v, "person_id"), "'person_id' field '%s' of %s is not among its 'columns'",
                    pid, where);
            else if (fi != XCHG_NONE && !p->fields[fi].identifying)
                ERR(c, get(v, "person_id"),
                    "'person_id' field '%s' of %s must be an identifying field (e.g. type "
                    "identifier), not type %s",
                    pid, where, xchg_field_type_name(p->fields[fi].type));
            else if (fi != XCHG_NONE && p->nmatch_keys >= XCHG_RECORD_MAX_TOKENS)
                ERR(c, get(v, "person_id"),
                    "'person_id' needs a token slot, but the agreement already has %zu match keys",
                    p->nmatch_keys);
            else if (fi != XCHG_NONE)
                x->person_id = fi;
        }
        /* payload */
        const char **pay;
        size_t npay;
        xchg__ynode *pn = get(v, "payload");
        if (pn && get_str_list(c, pn, &pay, &npay, "'payload'")) {
            if (npay && p->linkage_only)
                ERR(c, pn, "payload of %s: a linkage-only agreement (no 'release' section) "
                           "releases nothing, so it carries no payload", where);
            x->payload = alloc(c, sizeof(size_t) * (npay ? npay : 1));
            for (size_t i = 0; x->payload && i < npay; i++) {
                size_t fi = field_ref(c, pn, pay[i], "'payload'");
                if (fi == XCHG_NONE)
                    continue;
                int mapped = 0;
                for (size_t j = 0; j < x->ncolumns; j++)
                    mapped |= x->columns[j].field == fi;
                if (!mapped)
                    ERR(c, pn, "payload field '%s' of %s is not among its 'columns'", pay[i], where);
                x->payload[x->npayload++] = fi;
            }
        }
        /* indicators */
        xchg__ynode *ind = get(v, "indicators");
        if (ind && is_seq(c, ind, "'indicators'")) {
            int ni = xchg__y_seq_count(ind);
            x->indicators = alloc(c, sizeof *x->indicators * (size_t)(ni > 0 ? ni : 1));
            void *ii = NULL;
            xchg__ynode *e;
            while (x->indicators && (e = xchg__y_seq_next(ind, &ii)) != NULL) {
                if (!is_map(c, e, "each indicator"))
                    continue;
                check_keys(c, e, ikeys, "an indicator");
                xchg_indicator *in = &x->indicators[x->nindicators];
                memset(in, 0, sizeof *in);
                in->line = node_line(e);
                in->date_field = in->end_field = XCHG_NONE;
                in->problem = in->measure = in->value_field = in->of_field = XCHG_NONE;
                in->age_min = in->age_below = -1;
                const char *code;
                if (get(e, "measure")) {
                    code = get_str(c, e, "measure", 1, "an indicator");
                    if (!code)
                        continue;
                    if (get(e, "problem"))
                        ERR(c, get(e, "problem"), "an indicator names either a 'problem' (it "
                                                  "asserts it) or a 'measure', not both");
                    in->measure = measure_add(c, get(e, "measure"), code, pi);
                    if (in->measure == XCHG_NONE)
                        continue;
                    parse_measure_extras(c, e, in, x, code);
                } else {
                    code = get_str(c, e, "problem", 1, "an indicator");
                    if (!code)
                        continue;
                    in->problem = problem_ref(c, get(e, "problem"), code, where);
                    if (in->problem == XCHG_NONE)
                        continue;
                    const xchg_problem *pb = &p->problems[in->problem];
                    int may = 0;
                    for (size_t j = 0; j < pb->nasserted; j++)
                        may |= pb->asserted_by[j] == pi;
                    if (!may)
                        ERR(c, get(e, "problem"),
                            "agency '%s' may not assert problem '%s' (not in its 'asserted_by')",
                            agency, code);
                    static const char *const legacy_only[] = {"age", "value", "of"};
                    for (int q = 0; q < 3; q++)
                        if (get(e, legacy_only[q]))
                            ERR(c, get(e, legacy_only[q]),
                                "'%s' is for measures (an indicator with 'measure:')",
                                legacy_only[q]);
                }
                char iw[160];
                label(iw, sizeof iw, "indicator for '%s' in %s", code, where);
                const char *dn = get_str(c, e, "date", 0, iw);
                if (dn && (in->date_field = field_ref(c, get(e, "date"), dn, iw)) != XCHG_NONE &&
                    p->fields[in->date_field].type != XCHG_FT_DATE)
                    ERR(c, get(e, "date"), "%s: 'date' must name a date field", iw);
                const char *en = get_str(c, e, "end_date", 0, iw);
                if (en && (in->end_field = field_ref(c, get(e, "end_date"), en, iw)) != XCHG_NONE &&
                    p->fields[in->end_field].type != XCHG_FT_DATE)
                    ERR(c, get(e, "end_date"), "%s: 'end_date' must name a date field", iw);
                xchg__ynode *w = get(e, "when");
                if (!w && in->measure != XCHG_NONE) {
                    x->nindicators++; /* a measure of every row */
                    continue;
                }
                if (!need(c, e, "when", iw, &w))
                    continue;
                /* one condition (mapping) or a list of conditions, all of which must hold */
                int nc = xchg__y_type(w) == XCHG_Y_SEQUENCE ? xchg__y_seq_count(w) : 1;
                in->all = alloc(c, sizeof *in->all * (size_t)(nc > 0 ? nc : 1));
                if (!in->all)
                    continue;
                if (xchg__y_type(w) == XCHG_Y_SEQUENCE) {
                    void *wi = NULL;
                    xchg__ynode *we;
                    while ((we = xchg__y_seq_next(w, &wi)) != NULL)
                        if (parse_condition(c, we, &in->all[in->nall], x, iw))
                            in->nall++;
                } else if (parse_condition(c, w, &in->all[0], x, iw)) {
                    in->nall = 1;
                }
                /* the agency aggregates over a problem's window; a measure has none */
                for (size_t q = 0; in->measure != XCHG_NONE && q < in->nall; q++)
                    if (in->all[q].agg != XCHG_AGG_ROW) {
                        ERR(c, w, "%s: a measure's 'when' takes row conditions ('field'); sums "
                                  "and ratios over a window are the criteria's (docs/programme.md)",
                            iw);
                        break;
                    }
                x->nindicators++;
            }
        }
        p->nextracts++;
    }
    c->extracts_ok = c->errors == before;
}


/* ---- programme: criteria, terms, claim, costs, geography (docs/programme.md) ------- */

static int parse_measure_list(struct ctx *c, xchg__ynode *n, size_t **out, size_t *count,
                              const char *where)
{
    const char **names;
    size_t nn;
    *out = NULL;
    *count = 0;
    if (!n)
        return 1;
    if (!get_str_list(c, n, &names, &nn, where))
        return 0;
    *out = alloc(c, sizeof(size_t) * (nn ? nn : 1));
    if (!*out)
        return 0;
    for (size_t i = 0; i < nn; i++) {
        size_t m = measure_ref(c, n, names[i], where);
        if (m == XCHG_NONE)
            return 0;
        (*out)[(*count)++] = m;
    }
    return 1;
}

static void parse_criterion(struct ctx *c, xchg__ynode *n, xchg_criterion *k, int depth,
                            const char *where);

static void parse_criteria_list(struct ctx *c, xchg__ynode *n, xchg_criterion **out,
                                size_t *count, int depth, const char *where)
{
    *out = NULL;
    *count = 0;
    if (!is_seq(c, n, where))
        return;
    int cnt = xchg__y_seq_count(n);
    if (cnt <= 0) {
        ERR(c, n, "%s: the list of criteria is empty", where);
        return;
    }
    *out = alloc(c, sizeof **out * (size_t)cnt);
    void *it = NULL;
    xchg__ynode *e;
    while (*out && (e = xchg__y_seq_next(n, &it)) != NULL)
        parse_criterion(c, e, &(*out)[(*count)++], depth + 1, where);
}

static void parse_criterion(struct ctx *c, xchg__ynode *n, xchg_criterion *k, int depth,
                            const char *where)
{
    static const char *const keys[] = {"id", "measure", "count", "sum", "ratio", "active",
                                       "continuous", "none", "reduction", "all", "any", "days",
                                       "terms", "scope", "child_in_family", "baseline_with",
                                       "baseline_without", "moved_from", NULL};
    static const char *const kinds[] = {"count", "sum", "ratio", "active", "continuous",
                                        "none", "reduction", "all", "any"};
    memset(k, 0, sizeof *k);
    k->line = node_line(n);
    if (!is_map(c, n, "a criterion"))
        return;
    if (depth > 8) {
        ERR(c, n, "%s: criteria nested too deeply", where);
        return;
    }
    k->id = get_str(c, n, "id", 0, where);
    char w[192];
    label(w, sizeof w, "criterion %s%s%sin %s", k->id ? "'" : "", k->id ? k->id : "",
          k->id ? "' " : "", where);
    check_keys(c, n, keys, w);
    int found = 0;
    xchg__ynode *kn = NULL;
    for (int i = 0; i < 9; i++)
        if (get(n, kinds[i])) {
            if (found++) {
                ERR(c, get(n, kinds[i]), "%s: give one of count, sum, ratio, active, continuous, "
                                         "none, reduction, all or any", w);
                return;
            }
            k->kind = (xchg_crit_kind)i;
            kn = get(n, kinds[i]);
        }
    if (!found) {
        ERR(c, n, "%s needs one of count, sum, ratio, active, continuous, none, reduction, all "
                  "or any", w);
        return;
    }
    if (k->kind == XCHG_CRIT_ALL || k->kind == XCHG_CRIT_ANY) {
        parse_criteria_list(c, kn, &k->sub, &k->nsub, depth, w);
        if (get(n, "measure"))
            ERR(c, get(n, "measure"), "%s: 'all'/'any' take their measures from their criteria",
                w);
    } else {
        xchg__ynode *mn;
        if (need(c, n, "measure", w, &mn))
            parse_measure_list(c, mn, &k->measures, &k->nmeasures, w);
    }
    if (k->kind <= XCHG_CRIT_RATIO) {
        xchg_condition cond;
        memset(&cond, 0, sizeof cond);
        if (is_map(c, kn, w) && parse_op(c, kn, &cond, w)) {
            if (cond.op > XCHG_OP_NE || (cond.op >= XCHG_OP_EQ && !plain(get(kn, "eq") ? get(kn, "eq") : get(kn, "ne"))))
                ERR(c, kn, "%s compares a number: lt, le, gt, ge, eq or ne with a number", w);
            k->op = cond.op;
            k->number = cond.number;
        }
    } else if (k->kind == XCHG_CRIT_REDUCTION) {
        if (num_of(c, kn, &k->reduction, "'reduction'") &&
            (k->reduction <= 0 || k->reduction > 1))
            ERR(c, kn, "%s: 'reduction' is a fraction fewer than the baseline, above 0 and at "
                       "most 1 (0.6 for 60 %% fewer)", w);
    } else if (k->kind < XCHG_CRIT_ALL && !get_bool(c, n, kinds[k->kind], 0, w)) {
        ERR(c, kn, "%s: '%s' may only be true", w, kinds[k->kind]);
    }
    long v;
    if (get_long(c, n, "days", 0, 1, 3660, &v, w))
        k->days = (int32_t)v;
    if (get_long(c, n, "terms", 0, 1, 12, &v, w)) {
        k->terms = (unsigned)v;
        if (k->days)
            ERR(c, get(n, "terms"), "%s: a window is 'days' or 'terms', not both", w);
    }
    const char *sc = get_str(c, n, "scope", 0, w);
    if (sc) {
        if (strcmp(sc, "person") == 0)
            k->scope = XCHG_SCOPE_PERSON;
        else if (strcmp(sc, "each") == 0)
            k->scope = XCHG_SCOPE_EACH;
        else if (strcmp(sc, "family") == 0)
            k->scope = XCHG_SCOPE_FAMILY;
        else
            ERR(c, get(n, "scope"), "%s: scope is person, each or family, not '%s'", w, sc);
    }
    k->child_in_family = get_bool(c, n, "child_in_family", 0, w);
    if (k->child_in_family && c->p->dob_field == XCHG_NONE)
        ERR(c, get(n, "child_in_family"), "%s: 'child_in_family' needs ages: a date-of-birth "
                                          "field", w);
    parse_measure_list(c, get(n, "baseline_with"), &k->baseline_with, &k->nbaseline_with, w);
    parse_measure_list(c, get(n, "baseline_without"), &k->baseline_without,
                       &k->nbaseline_without, w);
    parse_measure_list(c, get(n, "moved_from"), &k->moved_from, &k->nmoved_from, w);
    if (k->nmoved_from && k->scope == XCHG_SCOPE_EACH)
        ERR(c, get(n, "moved_from"), "%s: 'moved_from' names who moved: scope person (that "
                                     "member) or family (some member), not each", w);
}

/* Every measure a criterion (and its sub-criteria) reads. */
static size_t criterion_uses_agency(const xchg_policy_data *p, const xchg_criterion *k,
                                    const xchg_problem *pb, size_t *bad_measure)
{
    for (size_t i = 0; i < k->nmeasures; i++) {
        const xchg_measure *m = &p->measures[k->measures[i]];
        for (size_t a = 0; a < m->nagencies; a++) {
            int may = 0;
            for (size_t j = 0; j < pb->nasserted; j++)
                may |= pb->asserted_by[j] == m->agencies[a];
            if (!may) {
                *bad_measure = k->measures[i];
                return m->agencies[a];
            }
        }
    }
    for (size_t i = 0; i < k->nsub; i++) {
        size_t r = criterion_uses_agency(p, &k->sub[i], pb, bad_measure);
        if (r != XCHG_NONE)
            return r;
    }
    return XCHG_NONE;
}

static unsigned criterion_max_terms(const xchg_criterion *k)
{
    unsigned t = k->terms;
    for (size_t i = 0; i < k->nsub; i++) {
        unsigned s = criterion_max_terms(&k->sub[i]);
        if (s > t)
            t = s;
    }
    return t;
}

static void parse_terms(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"name", "start", "end", NULL};
    xchg_policy_data *p = c->p;
    xchg__ynode *m = get(root, "terms");
    if (!m || !is_seq(c, m, "'terms'"))
        return;
    int cnt = xchg__y_seq_count(m);
    p->terms = alloc(c, sizeof *p->terms * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ynode *e;
    while (p->terms && (e = xchg__y_seq_next(m, &it)) != NULL) {
        if (!is_map(c, e, "each term"))
            continue;
        check_keys(c, e, keys, "a term");
        xchg_term *t = &p->terms[p->nterms];
        t->name = get_str(c, e, "name", 1, "a term");
        char w[128];
        label(w, sizeof w, "term '%s'", t->name ? t->name : "?");
        if (!t->name || !get_date(c, e, "start", &t->start, w) ||
            !get_date(c, e, "end", &t->end, w))
            continue;
        if (t->end < t->start)
            ERR(c, get(e, "end"), "%s ends before it starts", w);
        else if (p->nterms && t->start <= p->terms[p->nterms - 1].end)
            ERR(c, get(e, "start"), "%s must start after the term before it ends (list the "
                                    "terms in date order, without overlaps)", w);
        p->nterms++;
    }
}

/* Problems' identify/outcome criteria (after the extracts: they name measures). */
static void parse_problem_criteria(struct ctx *c, xchg__ynode *root)
{
    xchg_policy_data *p = c->p;
    xchg__ynode *pm = get(root, "problems");
    if (!c->problems_ok || !pm)
        return;
    for (size_t i = 0; i < p->nproblems; i++) {
        xchg_problem *pb = &p->problems[i];
        xchg__ynode *v = get(pm, pb->code);
        char where[128];
        label(where, sizeof where, "problem '%s'", pb->code);
        xchg__ynode *id = get(v, "identify"), *oc = get(v, "outcome");
        if (id)
            parse_criteria_list(c, id, &pb->identify, &pb->nidentify, 0, where);
        if (oc && xchg__y_type(oc) == XCHG_Y_MAPPING) {
            static const char *const ok[] = {"all", "any", NULL};
            check_keys(c, oc, ok, "'outcome'");
            xchg__ynode *all = get(oc, "all"), *any = get(oc, "any");
            if ((all != NULL) + (any != NULL) != 1)
                ERR(c, oc, "%s: 'outcome' is a list of criteria, or 'all:'/'any:' one", where);
            else
                parse_criteria_list(c, all ? all : any, &pb->outcome, &pb->noutcome, 0, where);
            pb->outcome_any = any != NULL;
        } else if (oc) {
            parse_criteria_list(c, oc, &pb->outcome, &pb->noutcome, 0, where);
        }
        for (size_t k = 0; k < pb->nidentify + pb->noutcome; k++) {
            const xchg_criterion *cr =
                k < pb->nidentify ? &pb->identify[k] : &pb->outcome[k - pb->nidentify];
            size_t bad = XCHG_NONE;
            size_t ag = criterion_uses_agency(p, cr, pb, &bad);
            if (ag != XCHG_NONE)
                ERR(c, k < pb->nidentify ? id : oc,
                    "%s: measure '%s' comes from agency '%s', which may not assert it (not in "
                    "its 'asserted_by')",
                    where, p->measures[bad].name, p->parties[ag].id);
            unsigned t = criterion_max_terms(cr);
            if (t && p->nterms < t)
                ERR(c, k < pb->nidentify ? id : oc,
                    "%s: a criterion looks at %u terms but the agreement's 'terms' calendar "
                    "lists %zu", where, t, p->nterms);
            if (k < pb->nidentify && (cr->nbaseline_with || cr->nbaseline_without))
                ERR(c, id, "%s: 'baseline_with'/'baseline_without' are for outcomes", where);
            if (k < pb->nidentify && cr->nmoved_from)
                ERR(c, id, "%s: 'moved_from' is for outcomes", where);
            if (k < pb->nidentify && cr->kind == XCHG_CRIT_REDUCTION)
                ERR(c, id, "%s: 'reduction' compares with the baseline: it is for outcomes",
                    where);
        }
    }
}

static void parse_claim(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"all_identified", "any_of", NULL};
    xchg_policy_data *p = c->p;
    xchg__ynode *m = get(root, "claim");
    if (!m || !is_map(c, m, "'claim'"))
        return;
    check_keys(c, m, keys, "'claim'");
    p->claim_all_identified = get_bool(c, m, "all_identified", 0, "'claim'");
    xchg__ynode *g = get(m, "any_of");
    if (p->claim_all_identified == (g != NULL))
        ERR(c, m, "'claim' is 'all_identified: true' or 'any_of: [[problems], ...]'");
    if (!g || !is_seq(c, g, "'any_of' in 'claim'"))
        return;
    int cnt = xchg__y_seq_count(g);
    p->claim_groups = alloc(c, sizeof *p->claim_groups * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ynode *e;
    while (p->claim_groups && (e = xchg__y_seq_next(g, &it)) != NULL) {
        xchg_claim_group *cg = &p->claim_groups[p->nclaim_groups++];
        const char **names;
        size_t nn;
        memset(cg, 0, sizeof *cg);
        if (!get_str_list(c, e, &names, &nn, "a claim group") || !nn)
            continue;
        cg->problems = alloc(c, sizeof(size_t) * nn);
        for (size_t i = 0; cg->problems && i < nn; i++) {
            size_t pi = problem_ref(c, e, names[i], "a claim group");
            if (pi == XCHG_NONE)
                continue;
            if (!p->problems[pi].noutcome)
                ERR(c, e, "claim group: problem '%s' has no 'outcome' to be met", names[i]);
            cg->problems[cg->nproblems++] = pi;
        }
    }
}

static void parse_costs(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"currency", "per_family", "items", NULL};
    static const char *const ikeys[] = {"id", "title", "unit_cost", "predicted_reduction",
                                        "measure", NULL};
    xchg_policy_data *p = c->p;
    p->currency = "GBP";
    xchg__ynode *m = get(root, "costs");
    if (!m || !is_map(c, m, "'costs'"))
        return;
    check_keys(c, m, keys, "'costs'");
    const char *cur = get_str(c, m, "currency", 0, "'costs'");
    if (cur)
        p->currency = cur;
    xchg__ynode *pf = get(m, "per_family");
    if (pf && num_of(c, pf, &p->cost_per_family, "'per_family' in 'costs'") &&
        p->cost_per_family < 0)
        ERR(c, pf, "'per_family' in 'costs' must not be negative");
    xchg__ynode *items = get(m, "items");
    if (!items || !is_seq(c, items, "'items' in 'costs'"))
        return;
    int cnt = xchg__y_seq_count(items);
    p->costs = alloc(c, sizeof *p->costs * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ynode *e;
    while (p->costs && (e = xchg__y_seq_next(items, &it)) != NULL) {
        if (!is_map(c, e, "a cost item"))
            continue;
        check_keys(c, e, ikeys, "a cost item");
        xchg_cost_item *ci = &p->costs[p->ncosts];
        memset(ci, 0, sizeof *ci);
        ci->id = get_str(c, e, "id", 1, "a cost item");
        ci->title = get_str(c, e, "title", 0, "a cost item");
        xchg__ynode *uc, *pr, *mn;
        if (need(c, e, "unit_cost", "a cost item", &uc) &&
            num_of(c, uc, &ci->unit_cost, "'unit_cost'") && ci->unit_cost < 0)
            ERR(c, uc, "'unit_cost' must not be negative");
        if (need(c, e, "predicted_reduction", "a cost item", &pr) &&
            num_of(c, pr, &ci->predicted_reduction, "'predicted_reduction'") &&
            (ci->predicted_reduction < 0 || ci->predicted_reduction > 1))
            ERR(c, pr, "'predicted_reduction' is a fraction from 0 to 1 (0.36 for 36 %%)");
        if (need(c, e, "measure", "a cost item", &mn))
            parse_measure_list(c, mn, &ci->measures, &ci->nmeasures, "a cost item");
        p->ncosts++;
    }
}

/* A postcode district ("FW12") or sector ("FW12 3"), upper case. */
static int postcode_part(const char *s)
{
    size_t n = strlen(s), out = n;
    if (n >= 4 && s[n - 2] == ' ' && s[n - 1] >= '0' && s[n - 1] <= '9')
        out = n - 2; /* a sector: outward code, space, digit */
    if (out < 2 || out > 4 || s[0] < 'A' || s[0] > 'Z')
        return 0;
    for (size_t i = 1; i < out; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static void parse_geography(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"field", "postcode_areas", NULL};
    xchg_policy_data *p = c->p;
    xchg__ynode *m = get(root, "geography");
    if (!m || !is_map(c, m, "'geography'"))
        return;
    check_keys(c, m, keys, "'geography'");
    const char *fname = get_str(c, m, "field", 0, "'geography'");
    xchg__ynode *ps = get(m, "postcode_areas");
    if ((fname != NULL) == (ps != NULL)) {
        ERR(c, m, "'geography' is 'field: <an area code field>' or 'postcode_areas: {district "
                  "or sector: area}'");
        return;
    }
    if (fname) {
        size_t fi = field_ref(c, get(m, "field"), fname, "'geography'");
        if (fi == XCHG_NONE)
            return;
        if (p->fields[fi].identifying || (p->fields[fi].type != XCHG_FT_CODE &&
                                          p->fields[fi].type != XCHG_FT_TEXT))
            ERR(c, get(m, "field"), "'geography': the area field '%s' must be a code or text "
                                    "field (an area, not an address)", fname);
        p->area_field = fi;
        return;
    }
    if (!is_map(c, ps, "'postcode_areas'"))
        return;
    size_t pc = XCHG_NONE;
    for (size_t i = 0; i < p->nfields && pc == XCHG_NONE; i++)
        if (p->fields[i].type == XCHG_FT_POSTCODE)
            pc = i;
    if (pc == XCHG_NONE)
        ERR(c, ps, "'postcode_areas' needs a uk_postcode field");
    int cnt = xchg__y_map_count(ps);
    p->area_sectors = alloc(c, sizeof(char *) * (size_t)(cnt > 0 ? cnt : 1));
    p->area_names = alloc(c, sizeof(char *) * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ypair *pr;
    while (p->area_sectors && p->area_names && (pr = xchg__y_map_next(ps, &it)) != NULL) {
        const char *sec = str_of(c, xchg__y_key(pr), "a postcode district or sector");
        const char *area = str_of(c, xchg__y_value(pr), "an area name");
        if (!sec || !area)
            continue;
        if (!postcode_part(sec)) {
            ERR(c, xchg__y_key(pr), "'%s' is not a postcode district ('FW12') or sector "
                                         "('FW12 3'), in capitals", sec);
            continue;
        }
        if (!*area || strlen(area) > XCHG_RECORD_MAX_AREA) {
            ERR(c, xchg__y_value(pr), "area name for '%s' must be 1-%d bytes", sec,
                XCHG_RECORD_MAX_AREA);
            continue;
        }
        p->area_sectors[p->nareas] = sec;
        p->area_names[p->nareas++] = area;
    }
}

static int parse_requirement(const char *s, xchg_requirement *r)
{
    if (strcmp(s, "none") == 0)
        *r = XCHG_REQ_NONE;
    else if (strcmp(s, "engagement") == 0)
        *r = XCHG_REQ_ENGAGEMENT;
    else if (strcmp(s, "explicit_consent") == 0)
        *r = XCHG_REQ_EXPLICIT;
    else
        return 0;
    return 1;
}

static void parse_purposes(struct ctx *c, xchg__ynode *root)
{
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    if (!need(c, root, "purposes", "the agreement file", &m) || !is_map(c, m, "'purposes'"))
        return;
    int cnt = xchg__y_map_count(m);
    p->purposes = alloc(c, sizeof(char *) * (size_t)(cnt > 0 ? cnt : 1));
    p->purpose_text = alloc(c, sizeof(char *) * (size_t)(cnt > 0 ? cnt : 1));
    void *it = NULL;
    xchg__ypair *pr;
    while (p->purposes && p->purpose_text && (pr = xchg__y_map_next(m, &it)) != NULL) {
        const char *name = str_of(c, xchg__y_key(pr), "a purpose name");
        const char *text = str_of(c, xchg__y_value(pr), "a purpose description");
        if (!name || !text)
            continue;
        p->purposes[p->npurposes] = name;
        p->purpose_text[p->npurposes++] = text;
    }
    if (p->npurposes == 0)
        ERR(c, m, "'purposes' must name at least one purpose");
}

/* A 32-byte ristretto255 element written as 64 hex digits. */
static int hex_point(struct ctx *c, xchg__ynode *n, uint8_t out[32], const char *what)
{
    size_t len = 0;
    const char *s = scalar(c, n, &len, what);
    if (!s)
        return 0;
    if (len != 64 || xchg_hex_decode(out, 32, s, len) != XCHG_OK) {
        ERR(c, n, "%s must be 64 hex digits (a ristretto255 point)", what);
        return 0;
    }
    return 1;
}

/*
 * release_key: the threshold release key (docs/release.md "The release key"). Either the
 * scalar `required` (the IG lead has still to deal it: `xchg release-key deal`; until
 * then the agreement works as one without a release key, and says so) or the dealt section: scheme, deal, threshold (=
 * approvals_required), public (P), commitments (the Feldman commitments a_1·G ..
 * a_{t-1}·G) and one verification share per operator, each checked against the
 * commitments here, so an agreement whose shares do not lie on one polynomial with
 * constant term P is refused.
 */
static void parse_release_key(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"scheme",      "deal",   "threshold", "public",
                                       "commitments", "shares", NULL};
    static const char *const sk[] = {"operator", "index", "verify", NULL};
    xchg_release_key *rk = &c->p->release_key;
    xchg__ynode *m = get(root, "release_key");
    if (!m)
        return;
    if (c->p->linkage_only) {
        ERR(c, m, "'release_key' needs a 'release' section: a linkage-only agreement releases "
                  "nothing");
        return;
    }
    if (xchg__y_type(m) == XCHG_Y_SCALAR) {
        const char *v = str_of(c, m, "'release_key'");
        if (v && strcmp(v, "required") == 0) {
            rk->pending = 1;
            WARN(c, m, "'release_key' is required but not dealt yet: run 'xchg release-key deal' "
                       "before signing (until then 'xchg seal' refuses this agreement)");
        } else if (v) {
            ERR(c, m, "'release_key' must be 'required' or the section 'xchg release-key deal' "
                      "writes");
        }
        return;
    }
    if (!is_map(c, m, "'release_key'"))
        return;
    check_keys(c, m, keys, "'release_key'");
    int before = c->errors;
    const char *scheme = get_str(c, m, "scheme", 1, "'release_key'");
    if (scheme && strcmp(scheme, "ristretto255-shamir-feldman-v1") != 0)
        ERR(c, get(m, "scheme"), "unknown release-key scheme '%s' (this version knows "
                                  "ristretto255-shamir-feldman-v1)", scheme);
    xchg__ynode *n;
    size_t len = 0;
    const char *dh = NULL;
    if (need(c, m, "deal", "'release_key'", &n) && (dh = scalar(c, n, &len, "'deal'")) &&
        (len != 32 || xchg_hex_decode(rk->deal, 16, dh, len) != XCHG_OK))
        ERR(c, n, "'deal' in 'release_key' must be 32 hex digits");
    long t = 0;
    if (get_long(c, m, "threshold", 1, 1, XCHG_TH_MAX_SHARES, &t, "'release_key'") &&
        (unsigned)t != c->p->approvals_required)
        ERR(c, get(m, "threshold"),
            "'threshold' in 'release_key' is %ld but 'approvals_required' is %u: the release "
            "key must need exactly the approvals the agreement requires (deal it again)",
            t, c->p->approvals_required);
    if (need(c, m, "public", "'release_key'", &n))
        hex_point(c, n, rk->pub, "'public' in 'release_key'");
    xchg__ynode *cm, *sh;
    if (t >= 1 && need(c, m, "commitments", "'release_key'", &cm) &&
        is_seq(c, cm, "'commitments'")) {
        rk->commitments = alloc(c, sizeof(*rk->commitments) * (size_t)t);
        if (rk->commitments) {
            memcpy(rk->commitments[0], rk->pub, 32);
            if (xchg__y_seq_count(cm) != (int)t - 1)
                ERR(c, cm, "'commitments' must list threshold - 1 = %ld points, not %d", t - 1,
                    xchg__y_seq_count(cm));
            void *it = NULL;
            xchg__ynode *e;
            long j = 1;
            while ((e = xchg__y_seq_next(cm, &it)) != NULL && j < t)
                hex_point(c, e, rk->commitments[j++], "a commitment");
        }
    }
    if (need(c, m, "shares", "'release_key'", &sh) && is_seq(c, sh, "'shares'")) {
        int cnt = xchg__y_seq_count(sh);
        rk->shares = alloc(c, sizeof(*rk->shares) * (size_t)(cnt > 0 ? cnt : 1));
        void *it = NULL;
        xchg__ynode *e;
        while (rk->shares && (e = xchg__y_seq_next(sh, &it)) != NULL) {
            if (!is_map(c, e, "a release-key share"))
                continue;
            check_keys(c, e, sk, "a release-key share");
            xchg_release_key_share *s = &rk->shares[rk->nshares];
            const char *op = get_str(c, e, "operator", 1, "a release-key share");
            long ix = 0;
            xchg__ynode *v;
            if (!op || !get_long(c, e, "index", 1, 1, 255, &ix, "a release-key share") ||
                !need(c, e, "verify", "a release-key share", &v) ||
                !hex_point(c, v, s->verify, "'verify'"))
                continue;
            s->party = c->parties_ok ? party_ref(c, e, op, XCHG_ROLE_OPERATOR, "'shares'")
                                     : XCHG_NONE;
            s->index = (unsigned)ix;
            for (size_t k = 0; k < rk->nshares; k++)
                if (rk->shares[k].index == s->index || rk->shares[k].party == s->party)
                    ERR(c, e, "share %ld (operator %s) repeats an index or an operator", ix, op);
            if (c->errors == before && rk->commitments &&
                xchg_threshold_check_share((const uint8_t *)rk->commitments, (unsigned)t,
                                           s->index, s->verify) != XCHG_OK)
                ERR(c, v,
                    "operator %s's verification share does not lie on the dealt polynomial "
                    "(Feldman check failed): the release key was altered or dealt wrongly",
                    op);
            rk->nshares++;
        }
        if (c->parties_ok && c->errors == before) {
            size_t nop = 0;
            for (size_t i = 0; i < c->p->nparties; i++)
                nop += c->p->parties[i].role == XCHG_ROLE_OPERATOR;
            if (nop != rk->nshares)
                ERR(c, sh,
                    "'shares' lists %zu operator%s but the agreement has %zu: every operator "
                    "holds a share (deal again after an operator joins or leaves)",
                    rk->nshares, rk->nshares == 1 ? "" : "s", nop);
        }
    }
    rk->threshold = (unsigned)t;
    rk->present = c->errors == before;
}

static void parse_release(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"recipients", "approvals_required", "consent", NULL};
    static const char *const ck[] = {"requires", "unless_basis", "withheld",
                                     "objection_stops_identification", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    if (p->linkage_only)
        return; /* a pure linkage agreement: nothing is released */
    if (!need(c, root, "release", "the agreement file", &m) || !is_map(c, m, "'release'"))
        return;
    check_keys(c, m, keys, "'release'");
    long ap = 1;
    get_long(c, m, "approvals_required", 0, 1, 5, &ap, "'release'");
    p->approvals_required = (unsigned)ap;
    if (c->parties_ok) {
        size_t nop = 0;
        for (size_t i = 0; i < p->nparties; i++)
            nop += p->parties[i].role == XCHG_ROLE_OPERATOR;
        if (nop < (size_t)ap)
            ERR(c, get(m, "approvals_required") ? get(m, "approvals_required") : m,
                "'approvals_required' is %ld but the agreement names %zu operator%s (parties "
                "with role operator): no family could ever be released",
                ap, nop, nop == 1 ? "" : "s");
    }
    const char **names;
    size_t nn;
    xchg__ynode *r;
    if (need(c, m, "recipients", "'release'", &r) &&
        get_str_list(c, r, &names, &nn, "'recipients'")) {
        p->recipients = alloc(c, sizeof(size_t) * (nn ? nn : 1));
        for (size_t i = 0; p->recipients && i < nn; i++) {
            size_t pi = party_ref(c, r, names[i], XCHG_ROLE_RECIPIENT, "'recipients'");
            if (pi != XCHG_NONE)
                p->recipients[p->nrecipients++] = pi;
        }
        if (nn == 0)
            ERR(c, r, "'recipients' must name at least one recipient");
    }
    xchg__ynode *cm;
    if (!need(c, m, "consent", "'release'", &cm) || !is_map(c, cm, "'consent'"))
        return;
    /* consent: { agency: { purpose: {requires, unless_basis} } } */
    size_t total = 0;
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(cm, &it)) != NULL)
        if (xchg__y_type(xchg__y_value(pr)) == XCHG_Y_MAPPING)
            total += (size_t)xchg__y_map_count(xchg__y_value(pr));
    p->consent = alloc(c, sizeof *p->consent * (total ? total : 1));
    it = NULL;
    while (p->consent && (pr = xchg__y_map_next(cm, &it)) != NULL) {
        const char *agency = str_of(c, xchg__y_key(pr), "an agency id");
        if (!agency)
            continue;
        size_t pi = party_ref(c, xchg__y_key(pr), agency, XCHG_ROLE_AGENCY, "'consent'");
        char where[128];
        label(where, sizeof where, "consent rules of '%s'", agency);
        xchg__ynode *am = xchg__y_value(pr);
        if (!is_map(c, am, where) || pi == XCHG_NONE)
            continue;
        void *pit = NULL;
        xchg__ypair *pp;
        while ((pp = xchg__y_map_next(am, &pit)) != NULL) {
            const char *purpose = str_of(c, xchg__y_key(pp), "a purpose");
            if (!purpose)
                continue;
            int known = 0;
            for (size_t i = 0; i < p->npurposes; i++)
                known |= strcmp(p->purposes[i], purpose) == 0;
            if (!known && p->npurposes)
                ERR(c, xchg__y_key(pp), "unknown purpose '%s' in %s (declare it under 'purposes')",
                    purpose, where);
            xchg__ynode *rule = xchg__y_value(pp);
            if (!is_map(c, rule, where))
                continue;
            check_keys(c, rule, ck, where);
            xchg_consent_rule *cr = &p->consent[p->nconsent];
            memset(cr, 0, sizeof *cr);
            cr->agency = pi;
            cr->purpose = purpose;
            const char *req = get_str(c, rule, "requires", 1, where);
            if (req && !parse_requirement(req, &cr->requires)) {
                ERR(c, get(rule, "requires"),
                    "'requires' in %s must be none, engagement or explicit_consent, not '%s'", where,
                    req);
                continue;
            }
            get_str_list(c, get(rule, "unless_basis"), &cr->unless_basis, &cr->nunless,
                         "'unless_basis'");
            /* what a packet says of a record of this agency it withholds */
            const char *wh = get_str(c, rule, "withheld", 0, where);
            cr->withheld = XCHG_WITHHELD_NOTICE;
            if (wh && strcmp(wh, "silent") == 0)
                cr->withheld = XCHG_WITHHELD_SILENT;
            else if (wh && strcmp(wh, "named") == 0)
                cr->withheld = XCHG_WITHHELD_NAMED;
            else if (wh && strcmp(wh, "notice") != 0)
                ERR(c, get(rule, "withheld"),
                    "'withheld' in %s must be silent, notice or named, not '%s'", where, wh);
            xchg__ynode *ob = get(rule, "objection_stops_identification");
            if (ob && strcmp(purpose, "identification") != 0)
                ERR(c, ob,
                    "'objection_stops_identification' in %s applies only to the "
                    "'identification' purpose, not '%s'",
                    where, purpose);
            cr->objection_stops = get_bool(c, rule, "objection_stops_identification", 1, where);
            p->nconsent++;
        }
    }
}

static void parse_reports(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"suppress_below", "round_to", "suppress_zeros", NULL};
    xchg__ynode *m;
    xchg_policy_data *p = c->p;
    p->suppress_below = 5;
    p->round_to = 5;
    if (!need(c, root, "reports", "the agreement file", &m) || !is_map(c, m, "'reports'"))
        return;
    check_keys(c, m, keys, "'reports'");
    get_long(c, m, "suppress_below", 1, 0, 1000, &p->suppress_below, "'reports'");
    get_long(c, m, "round_to", 0, 1, 1000, &p->round_to, "'reports'");
    p->suppress_zeros = get_bool(c, m, "suppress_zeros", 0, "'reports'");
    if (p->suppress_below < 5)
        WARN(c, get(m, "suppress_below"),
             "'suppress_below' under 5 is below common statistical disclosure practice");
}

/*
 * quality (optional): how much of a field's values may fail to parse before
 * `xchg seal --strict` refuses the extract as systematically wrong (a column in the
 * wrong date format, say). max_unparseable is a share of the non-empty values, 0..1;
 * fields: {NAME: share} overrides it per field. Default 0.05 (docs/mapping.md).
 */
#define XCHG__MAX_UNPARSEABLE_DEFAULT 0.05
static int share_of(struct ctx *c, xchg__ynode *n, double *out, const char *what)
{
    if (!num_of(c, n, out, what))
        return 0;
    if (*out < 0 || *out > 1) {
        ERR(c, n, "%s must be a share between 0 and 1 (0.05 is 5%%), not %g", what, *out);
        return 0;
    }
    return 1;
}

static void parse_quality(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"max_unparseable", "fields", NULL};
    xchg_policy_data *p = c->p;
    p->max_unparseable = XCHG__MAX_UNPARSEABLE_DEFAULT;
    for (size_t i = 0; i < p->nfields; i++)
        p->fields[i].max_unparseable = -1;
    xchg__ynode *m = get(root, "quality");
    if (!m || !is_map(c, m, "'quality'"))
        return;
    check_keys(c, m, keys, "'quality'");
    xchg__ynode *g = get(m, "max_unparseable");
    if (g)
        share_of(c, g, &p->max_unparseable, "'quality.max_unparseable'");
    xchg__ynode *fm = get(m, "fields");
    if (!fm || !is_map(c, fm, "'quality.fields'"))
        return;
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(fm, &it)) != NULL) {
        const char *name = str_of(c, xchg__y_key(pr), "a field name");
        if (!name)
            continue;
        size_t fi = field_ref(c, xchg__y_key(pr), name, "'quality.fields'");
        double v;
        if (share_of(c, xchg__y_value(pr), &v, "a field's max_unparseable") &&
            fi != XCHG_NONE)
            p->fields[fi].max_unparseable = v;
    }
}

double xchg_policy_max_unparseable(const xchg_policy *pol, size_t field)
{
    if (!pol)
        return XCHG__MAX_UNPARSEABLE_DEFAULT;
    const xchg_policy_data *p = &pol->d;
    if (field < p->nfields && p->fields[field].max_unparseable >= 0)
        return p->fields[field].max_unparseable;
    return p->max_unparseable;
}

/* Cross-checks that need several sections. */
static void cross_check(struct ctx *c, xchg__ynode *root)
{
    xchg_policy_data *p = c->p;
    if (c->parties_ok) {
        xchg__ynode *ag = get(root, "agreement");
        const char *owner = get_str(c, ag, "owner", 1, "'agreement'");
        p->owner = XCHG_NONE;
        if (owner) {
            p->owner = party_ref(c, get(ag, "owner"), owner, -1, "'owner'");
            if (p->owner != XCHG_NONE && p->parties[p->owner].role == XCHG_ROLE_MATCHER)
                ERR(c, get(ag, "owner"),
                    "the owner creates the linkage secret and must not be the matcher");
            if (p->owner != XCHG_NONE && !p->parties[p->owner].signs)
                ERR(c, get(ag, "owner"), "the owner '%s' must sign the agreement", owner);
        }
        size_t signers = 0;
        for (size_t i = 0; i < p->nparties; i++)
            signers += p->parties[i].signs != 0;
        if (signers == 0)
            ERR(c, get(root, "parties"), "no party signs the agreement (signs_agreement: true)");
    }
    if (c->problems_ok)
        for (size_t i = 0; i < p->nproblems; i++)
            if (p->problems[i].nasserted == 0)
                ERR(c, get(get(root, "problems"), p->problems[i].code),
                    "problem '%s' can never be evidenced: no agency may assert it",
                    p->problems[i].code);
    if (c->problems_ok && c->extracts_ok) {
        /* every problem must be assertable: some agency that may assert it has an indicator */
        xchg__ynode *pm = get(root, "problems");
        for (size_t i = 0; i < p->nproblems; i++) {
            int can = p->problems[i].nidentify > 0;
            for (size_t e = 0; e < p->nextracts; e++)
                for (size_t j = 0; j < p->extracts[e].nindicators; j++)
                    can |= p->extracts[e].indicators[j].problem == i;
            xchg__ynode *pn = get(pm, p->problems[i].code);
            if (p->problems[i].nasserted == 0)
                continue; /* reported below, whatever the state of the extracts */
            if (!can)
                ERR(c, pn, "problem '%s' can never be evidenced: no agency extract has an "
                           "indicator for it",
                    p->problems[i].code);
        }
        /* the rule must be attainable with problems that can be evidenced */
        size_t attainable = 0;
        for (size_t i = 0; i < p->nrule_of; i++) {
            const xchg_problem *pb = &p->problems[p->rule_of[i]];
            int can = pb->nidentify > 0;
            for (size_t e = 0; e < p->nextracts; e++)
                for (size_t j = 0; j < p->extracts[e].nindicators; j++)
                    can |= p->extracts[e].indicators[j].problem == p->rule_of[i];
            attainable += pb->nasserted && can;
        }
        if (p->nrule_of && p->rule_at_least && p->rule_at_least <= p->nrule_of &&
            attainable < p->rule_at_least)
            ERR(c, get(root, "rule"),
                "the eligibility rule can never be met: it needs %u problems but only %zu can "
                "be evidenced",
                p->rule_at_least, attainable);
        /* every agency in 'problems' with data should have an extract */
        for (size_t e = 0; e < p->nextracts; e++) {
            if (p->extracts[e].nindicators == 0 && p->nproblems)
                WARN(c, get(get(root, "extracts"), p->parties[p->extracts[e].agency].id),
                     "extract of '%s' asserts no problem (it contributes identity data only)",
                     p->parties[p->extracts[e].agency].id);
        }
    }
    if (c->parties_ok) {
        for (size_t i = 0; i < p->nparties; i++) {
            if (p->parties[i].role != XCHG_ROLE_AGENCY)
                continue;
            int has = 0;
            for (size_t e = 0; e < p->nextracts; e++)
                has |= p->extracts[e].agency == i;
            if (!has && c->extracts_ok)
                ERR(c, get(root, "extracts"), "agency '%s' has no extract definition",
                    p->parties[i].id);
            /* every agency needs a consent rule for the referral purpose */
            int rule = 0;
            for (size_t k = 0; k < p->nconsent; k++)
                rule |= p->consent[k].agency == i;
            if (!rule && get(root, "release"))
                ERR(c, get(get(root, "release"), "consent"),
                    "no consent rule for agency '%s': say under release.consent what its detail "
                    "needs before release",
                    p->parties[i].id);
        }
    }
    /* special-category data needs an Article 9 condition */
    if (c->fields_ok && !p->article9)
        for (size_t i = 0; i < p->nfields; i++)
            if (p->fields[i].special_category) {
                ERR(c, get(get(root, "fields"), p->fields[i].name),
                    "field '%s' is special-category data but 'lawful_basis' has no 'article9' "
                    "condition",
                    p->fields[i].name);
                break;
            }
    /* nothing identifying may be listed in a payload of a recipient-less agreement etc. */
}

/*
 * A date is identifying when it takes part in linkage (date of birth); dates of events
 * (incidents, plans, terms) are evidence that the matcher needs in clear for windows.
 */
static void mark_identifying_dates(xchg_policy *pol)
{
    xchg_policy_data *p = &pol->d;
    for (size_t f = 0; f < p->nfields; f++) {
        if (p->fields[f].type != XCHG_FT_DATE)
            continue;
        int used = 0;
        const xchg_match_key *sets[4] = {p->match_keys, p->fuzzy.blocking, p->household_keys,
                                         p->household_fallback};
        size_t counts[4] = {p->nmatch_keys, p->fuzzy.nblocking, p->nhousehold_keys,
                            p->nhousehold_fallback};
        for (int s = 0; s < 4; s++)
            for (size_t k = 0; k < counts[s]; k++)
                for (size_t j = 0; j < sets[s][k].nparts; j++)
                    used |= sets[s][k].parts[j].field == f;
        p->fields[f].identifying = used;
    }
}

/* ---- entry points ----------------------------------------------------------------- */

struct yaml_err_ctx {
    const char *file;
    xchg_diag *d;
    int n;
};

/*
 * tokens: {mode: oprf, keyd: https://..., key: <64 hex of K>, queries_per_day: N,
 * custodian: <party id>} — exact-match tokens through the key service (docs/keyd.md).
 * Absent, or mode: secret, keeps the linkage secret alone.
 */
static void parse_tokens(struct ctx *c, xchg__ynode *root)
{
    static const char *const keys[] = {"mode", "keyd", "key", "queries_per_day", "custodian",
                                       NULL};
    xchg__ynode *m = get(root, "tokens");
    xchg_tokens *t = &c->p->tokens;
    t->mode = XCHG_TOKENS_SECRET;
    t->custodian = XCHG_NONE;
    if (!m || !is_map(c, m, "'tokens'"))
        return;
    check_keys(c, m, keys, "'tokens'");
    const char *mode = get_str(c, m, "mode", 1, "'tokens'");
    if (!mode)
        return;
    if (strcmp(mode, "secret") == 0) {
        if (get(m, "keyd") || get(m, "key"))
            ERR(c, m, "'tokens' with mode: secret takes no 'keyd' or 'key'");
        return;
    }
    if (strcmp(mode, "oprf") != 0) {
        ERR(c, get(m, "mode"), "'mode' in 'tokens' must be 'oprf' or 'secret', not '%s'", mode);
        return;
    }
    t->mode = XCHG_TOKENS_OPRF;
    const char *url = get_str(c, m, "keyd", 1, "'tokens'");
    if (url && (strncmp(url, "https://", 8) != 0 || !url[8] || strpbrk(url, " \t\r\n")))
        ERR(c, get(m, "keyd"), "'keyd' in 'tokens' must be an https:// URL, not '%s'", url);
    t->keyd = url;
    const char *k = get_str(c, m, "key", 1, "'tokens'");
    if (k && (xchg_hex_decode(t->key, sizeof t->key, k, strlen(k)) != XCHG_OK ||
              sodium_is_zero(t->key, sizeof t->key) ||
              !crypto_core_ristretto255_is_valid_point(t->key)))
        ERR(c, get(m, "key"),
            "'key' in 'tokens' must be the key service's public key: 64 hex digits of a "
            "ristretto255 point (xchg-keyd keygen prints it)");
    t->queries_per_day = 1000000;
    get_long(c, m, "queries_per_day", 0, 1, 1000000000L, &t->queries_per_day, "'tokens'");
    const char *cu = get_str(c, m, "custodian", 0, "'tokens'");
    if (cu) {
        size_t i;
        for (i = 0; i < c->p->nparties; i++)
            if (strcmp(c->p->parties[i].id, cu) == 0)
                break;
        if (i == c->p->nparties)
            ERR(c, get(m, "custodian"), "'custodian' in 'tokens': no party '%s'", cu);
        else if (c->p->parties[i].role == XCHG_ROLE_AGENCY || c->p->parties[i].role == XCHG_ROLE_MATCHER)
            ERR(c, get(m, "custodian"),
                "'custodian' in 'tokens': '%s' is an %s; the key service must be run by neither "
                "an agency nor the matcher",
                cu, c->p->parties[i].role == XCHG_ROLE_AGENCY ? "agency" : "the matcher");
        else
            t->custodian = i;
    }
}

xchg_err xchg_policy_parse(const char *text, size_t len, const char *file, xchg_policy **out,
                           xchg_diag *d)
{
    static const char *const top[] = {"exchange_agreement", "agreement", "purposes", "parties",
                                      "fields", "match_keys", "fuzzy", "households",
                                      "problems", "rule", "extracts", "release", "reports",
                                      "terms", "claim", "costs", "geography", "release_key",
                                      "quality", "tokens", NULL};
    if (!text || !out)
        return XCHG_ERR_ARG;
    if (!file)
        file = "<agreement>";
    xchg_err rc = XCHG_ERR_POLICY;
    xchg__ydoc *doc = NULL;
    xchg_policy *pol = calloc(1, sizeof *pol);
    if (!pol)
        return XCHG_ERR_NOMEM;
    if (memchr(text, '\0', len)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0, "agreement contains a NUL byte");
        goto cleanup;
    }
    xchg_err ye = xchg__yaml_load(text, len, file, "an agreement", "the agreement", &doc, d);
    if (ye != XCHG_OK) {
        rc = ye;
        goto cleanup;
    }
    xchg__ynode *root = xchg__yaml_root(doc);
    struct ctx c = {.file = file, .diag = d, .a = &pol->a, .p = &pol->d};
    if (!root || !is_map(&c, root, "the agreement file")) {
        if (!root) {
            xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0, "the agreement file is empty");
            rc = XCHG_ERR_FORMAT;
        }
        goto cleanup;
    }
    check_keys(&c, root, top, "the agreement file");
    long fmt = 0;
    if (get_long(&c, root, "exchange_agreement", 1, 1, 1000, &fmt, "the agreement file") &&
        fmt != XCHG_POLICY_FORMAT)
        ERR(&c, get(root, "exchange_agreement"),
            "unsupported agreement format %ld (this version reads format %d)", fmt,
            XCHG_POLICY_FORMAT);
    pol->d.format = (int)fmt;
    pol->d.owner = XCHG_NONE;
    pol->d.dob_field = pol->d.area_field = XCHG_NONE;
    /* no release, no problems, no rule: a pure linkage agreement (docs/policy.md) */
    pol->d.linkage_only = !get(root, "release") && !get(root, "problems") && !get(root, "rule");
    parse_agreement(&c, root);
    parse_purposes(&c, root);
    parse_parties(&c, root);
    parse_fields(&c, root);
    parse_match_keys(&c, root);
    parse_fuzzy(&c, root);
    parse_households(&c, root);
    parse_terms(&c, root);
    parse_geography(&c, root);
    parse_problems(&c, root);
    parse_rule(&c, root);
    parse_extracts(&c, root);
    parse_problem_criteria(&c, root);
    parse_claim(&c, root);
    parse_costs(&c, root);
    parse_release(&c, root);
    parse_release_key(&c, root);
    parse_reports(&c, root);
    parse_quality(&c, root);
    parse_tokens(&c, root);
    cross_check(&c, root);
    mark_identifying_dates(pol);
    if (c.nomem) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    if (c.errors)
        goto cleanup;
    xchg_sha256(text, len, pol->hash);
    *out = pol;
    pol = NULL;
    rc = XCHG_OK;
cleanup:
    xchg__yaml_free(doc);
    xchg_policy_free(pol);
    return rc;
}

xchg_err xchg_policy_parse_file(const char *path, xchg_policy **out, xchg_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    xchg_err rc = xchg_file_read(path, POLICY_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    rc = xchg_policy_parse(buf, len, path, out, d);
    free(buf);
    return rc;
}

void xchg_policy_free(xchg_policy *p)
{
    if (!p)
        return;
    arena_free(&p->a);
    free(p);
}

const xchg_policy_data *xchg_policy_get(const xchg_policy *p) { return p ? &p->d : NULL; }

const uint8_t *xchg_policy_hash(const xchg_policy *p) { return p ? p->hash : NULL; }

size_t xchg_policy_party(const xchg_policy *p, const char *id)
{
    for (size_t i = 0; p && id && i < p->d.nparties; i++)
        if (strcmp(p->d.parties[i].id, id) == 0)
            return i;
    return XCHG_NONE;
}

size_t xchg_policy_party_by_key(const xchg_policy *p, const uint8_t id[XCHG_KEYID_BYTES])
{
    for (size_t i = 0; p && i < p->d.nparties; i++)
        if (!p->d.parties[i].unbound &&
            memcmp(p->d.parties[i].key.id, id, XCHG_KEYID_BYTES) == 0)
            return i;
    return XCHG_NONE;
}

size_t xchg_policy_unbound(const xchg_policy *p)
{
    size_t n = 0;
    for (size_t i = 0; p && i < p->d.nparties; i++)
        n += p->d.parties[i].unbound != 0;
    return n;
}

/* The key behind a token index (as xchg_policy_token_name counts them), or NULL; *field
 * a declared relation's field instead. */
static const xchg_match_key *token_key(const xchg_policy_data *d, int kind, size_t idx,
                                       size_t *field)
{
    *field = XCHG_NONE;
    if (kind == 0)
        return idx < d->nmatch_keys ? &d->match_keys[idx] : NULL;
    if (kind == 1)
        return idx < d->fuzzy.nblocking ? &d->fuzzy.blocking[idx] : NULL;
    if (kind != 2)
        return NULL;
    if (idx < d->nhousehold_keys)
        return &d->household_keys[idx];
    idx -= d->nhousehold_keys;
    if (idx < d->nhousehold_relations) {
        *field = d->household_relations[idx];
        return NULL;
    }
    idx -= d->nhousehold_relations;
    return idx < d->nhousehold_fallback ? &d->household_fallback[idx] : NULL;
}

const char *xchg_policy_token_name(const xchg_policy *p, int kind, size_t idx)
{
    if (!p)
        return NULL;
    const xchg_policy_data *d = &p->d;
    size_t field;
    const xchg_match_key *k = token_key(d, kind, idx, &field);
    if (k)
        return k->name;
    if (field != XCHG_NONE)
        return d->fields[field].name;
    return kind == 0 && idx == d->nmatch_keys ? "own person id" : NULL;
}

const char *xchg_policy_token_label(const xchg_policy *p, int kind, size_t idx, char *buf,
                                    size_t n)
{
    const char *name = xchg_policy_token_name(p, kind, idx);
    if (name || !buf || !n)
        return name ? name : "";
    snprintf(buf, n, "#%zu", idx);
    return buf;
}

const char *xchg_token_kind_name(int kind)
{
    static const char *const names[] = {"match", "blocking", "household"};
    return kind >= 0 && kind < 3 ? names[kind] : NULL;
}

size_t xchg_policy_token_parts(const xchg_policy *p, int kind, size_t idx, char *buf, size_t n)
{
    if (!buf || !n)
        return 0;
    buf[0] = '\0';
    if (!p)
        return 0;
    const xchg_policy_data *d = &p->d;
    size_t field, len = 0;
    const xchg_match_key *k = token_key(d, kind, idx, &field);
    int w = 0;
    if (field != XCHG_NONE)
        w = snprintf(buf, n, "%s", d->fields[field].name);
    else if (!k && kind == 0 && idx == d->nmatch_keys)
        w = snprintf(buf, n, "the agency's own person identifier");
    for (size_t i = 0; k && i < k->nparts && w >= 0; i++) {
        const xchg_key_part *pt = &k->parts[i];
        w = snprintf(buf + len, n - len, "%s%s%s%s", i ? " + " : "", d->fields[pt->field].name,
                     pt->transform ? ":" : "",
                     pt->transform ? xchg_transform_name(pt->transform) : "");
        if (w < 0 || (size_t)w >= n - len) {
            len = n - 1;
            k = NULL;
            w = 0;
            break;
        }
        len += (size_t)w;
    }
    if (k && k->any_order && k->nparts > 1) {
        w = snprintf(buf + len, n - len, " (%s and %s in either order)",
                     d->fields[k->parts[k->any_order_parts[0]].field].name,
                     d->fields[k->parts[k->any_order_parts[1]].field].name);
        len = w < 0 || (size_t)w >= n - len ? n - 1 : len + (size_t)w;
    }
    if (!k && w > 0)
        len = (size_t)w < n ? (size_t)w : n - 1;
    return len;
}

size_t xchg_policy_recipient(const xchg_policy *p, const char *id)
{
    if (!p || !p->d.nrecipients)
        return XCHG_NONE;
    if (!id)
        return p->d.recipients[0];
    size_t rp = xchg_policy_party(p, id);
    for (size_t i = 0; rp != XCHG_NONE && i < p->d.nrecipients; i++)
        if (p->d.recipients[i] == rp)
            return rp;
    return XCHG_NONE;
}

size_t xchg_policy_matcher(const xchg_policy *p)
{
    for (size_t i = 0; p && i < p->d.nparties; i++)
        if (p->d.parties[i].role == XCHG_ROLE_MATCHER)
            return i;
    return XCHG_NONE;
}

size_t xchg_policy_party_by_keyhex(const xchg_policy *p, const char *keyid_hex, xchg_role role)
{
    uint8_t id[XCHG_KEYID_BYTES];
    if (!keyid_hex || strlen(keyid_hex) != XCHG_KEYID_HEXLEN ||
        xchg_hex_decode(id, sizeof id, keyid_hex, XCHG_KEYID_HEXLEN) != XCHG_OK)
        return XCHG_NONE;
    size_t i = xchg_policy_party_by_key(p, id);
    return i != XCHG_NONE && p->d.parties[i].role == role ? i : XCHG_NONE;
}

const xchg_extract *xchg_policy_extract(const xchg_policy *p, size_t agency)
{
    for (size_t i = 0; p && i < p->d.nextracts; i++)
        if (p->d.extracts[i].agency == agency)
            return &p->d.extracts[i];
    return NULL;
}

const char *xchg_role_name(xchg_role r)
{
    switch (r) {
    case XCHG_ROLE_AGENCY: return "agency";
    case XCHG_ROLE_MATCHER: return "matcher";
    case XCHG_ROLE_RECIPIENT: return "recipient";
    case XCHG_ROLE_GOVERNANCE: return "governance";
    case XCHG_ROLE_OPERATOR: return "operator";
    }
    return "?";
}

const char *xchg_field_type_name(xchg_field_type t)
{
    switch (t) {
    case XCHG_FT_NAME: return "name";
    case XCHG_FT_DATE: return "date";
    case XCHG_FT_POSTCODE: return "uk_postcode";
    case XCHG_FT_NHS: return "nhs_number";
    case XCHG_FT_UPN: return "upn";
    case XCHG_FT_NINO: return "ni_number";
    case XCHG_FT_UPRN: return "uprn";
    case XCHG_FT_ADDRESS: return "address_line";
    case XCHG_FT_TEXT: return "text";
    case XCHG_FT_NUMBER: return "number";
    case XCHG_FT_CODE: return "code";
    case XCHG_FT_SEX: return "sex";
    case XCHG_FT_ID: return "identifier";
    }
    return "?";
}

const char *xchg_transform_name(xchg_transform t)
{
    switch (t) {
    case XCHG_TR_NONE: return "none";
    case XCHG_TR_INITIAL: return "initial";
    case XCHG_TR_PHONETIC: return "phonetic";
    case XCHG_TR_YEAR: return "year";
    case XCHG_TR_SWAP_DM: return "swap_dm";
    case XCHG_TR_FIRST: return "first";
    case XCHG_TR_NICKNAME: return "nickname";
    case XCHG_TR_OUTWARD: return "outward";
    case XCHG_TR_SECTOR: return "sector";
    case XCHG_TR_DOUBLE_METAPHONE: return "double_metaphone";
    }
    return "?";
}

/* ---- binding party keys ------------------------------------------------------------ */

struct splice {
    size_t start, end; /* byte range of the key scalar in the input */
    char key[XCHG_PUBKEY_STRLEN];
};

xchg_err xchg_policy_bind_keys(const char *text, size_t len, const char *file, const char *keydir,
                               int rebind, char **out, size_t *outlen, size_t *bound, xchg_diag *d)
{
    if (!text || !keydir || !out || !outlen)
        return XCHG_ERR_ARG;
    if (!file)
        file = "<agreement>";
    xchg__ydoc *doc = NULL;
    xchg_err ye = xchg__yaml_load(text, len, file, "an agreement", "the agreement", &doc, d);
    if (ye != XCHG_OK)
        return ye;
    xchg_err rc = XCHG_ERR_POLICY, key_err = XCHG_ERR_POLICY;
    struct splice *sp = NULL;
    size_t nsp = 0;
    char *res = NULL;
    xchg__ynode *parties = xchg__y_lookup(xchg__yaml_root(doc), "parties", 7);
    if (!parties || xchg__y_type(parties) != XCHG_Y_SEQUENCE) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0, "the agreement has no 'parties' list");
        goto cleanup;
    }
    int cnt = xchg__y_seq_count(parties);
    sp = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *sp);
    if (!sp) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    void *it = NULL;
    xchg__ynode *e;
    int errors = 0;
    while ((e = xchg__y_seq_next(parties, &it)) != NULL) {
        xchg__ynode *idn = xchg__y_lookup(e, "id", 2);
        xchg__ynode *kn = xchg__y_lookup(e, "key", 3);
        size_t idl = 0, kl = 0;
        const char *id = idn ? xchg__y_scalar(idn, &idl) : NULL;
        const char *ks = kn ? xchg__y_scalar(kn, &kl) : NULL;
        if (!id || !ks || !plain(kn))
            continue;
        int unbound = kl == 7 && memcmp(ks, "unbound", 7) == 0;
        if (!unbound && !rebind)
            continue;
        char idc[80];
        if (idl >= sizeof idc || memchr(id, '/', idl) || (idl && id[0] == '.'))
            continue;
        memcpy(idc, id, idl);
        idc[idl] = '\0';
        size_t pl = strlen(keydir) + idl + 6;
        char *path = malloc(pl);
        if (!path) {
            rc = XCHG_ERR_NOMEM;
            goto cleanup;
        }
        snprintf(path, pl, "%s/%s.pub", keydir, idc);
        xchg_pubkey pk;
        xchg_err r = xchg_pubkey_load(path, &pk, d);
        free(path);
        if (r != XCHG_OK) {
            if (!errors++)
                key_err = r; /* a missing key file is "not found" (exit 3), not a bad policy */
            continue;
        }
        if (kn->end > len || kn->start >= kn->end)
            continue;
        sp[nsp].start = kn->start;
        sp[nsp].end = kn->end;
        xchg_pubkey_to_string(&pk, sp[nsp].key);
        nsp++;
    }
    if (errors) {
        rc = key_err;
        goto cleanup;
    }
    size_t cap = len + nsp * XCHG_PUBKEY_STRLEN + 1;
    res = malloc(cap);
    if (!res) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    size_t o = 0, from = 0;
    for (size_t i = 0; i < nsp; i++) { /* sequence order is file order */
        memcpy(res + o, text + from, sp[i].start - from);
        o += sp[i].start - from;
        size_t kl2 = strlen(sp[i].key);
        memcpy(res + o, sp[i].key, kl2);
        o += kl2;
        from = sp[i].end;
    }
    memcpy(res + o, text + from, len - from);
    o += len - from;
    res[o] = '\0';
    *out = res;
    *outlen = o;
    if (bound)
        *bound = nsp;
    res = NULL;
    rc = XCHG_OK;
cleanup:
    free(res);
    free(sp);
    xchg__yaml_free(doc);
    return rc;
}
