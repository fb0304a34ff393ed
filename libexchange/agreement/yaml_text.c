/*
 * The one way YAML text is loaded (yaml_internal.h): agreements (policy.c) and agencies'
 * mapping files (seal_mapping.c) both come from outside. libyaml's event parser reads the
 * text; the tree is built here so that what an agreement must not contain is refused
 * where it is written, and nothing is left unread.
 */
#include "yaml_internal.h"

#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <yaml.h>

struct xchg__ydoc {
    xchg__ynode *root;
};

/* Line of the first byte that is not valid UTF-8, or 0 when all of text is valid. */
unsigned xchg__utf8_bad_line(const char *text, size_t len)
{
    unsigned line = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return line;
        line += text[i] == '\n';
        i += (size_t)k;
    }
    return 0;
}

static void node_free(xchg__ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; n->items && i < n->n; i++)
        node_free(n->items[i]);
    for (size_t i = 0; n->pairs && i < n->n; i++) {
        node_free(n->pairs[i].key);
        node_free(n->pairs[i].value);
    }
    free(n->items);
    free(n->pairs);
    free(n->text);
    free(n);
}

void xchg__yaml_free(xchg__ydoc *doc)
{
    if (doc) {
        node_free(doc->root);
        free(doc);
    }
}

xchg__ynode *xchg__yaml_root(const xchg__ydoc *doc) { return doc ? doc->root : NULL; }

/* ---- building the tree from libyaml's events -------------------------------------- */

/*
 * libyaml's marks count characters; the tree keeps byte offsets (xchg_policy_bind_keys
 * splices the text). Marks arrive nearly in order, so a cursor that moves forward (and
 * starts again from 0 when asked for an earlier place) converts them cheaply.
 */
struct cursor {
    const unsigned char *text;
    size_t len, ci, bi;
};

static size_t byte_at(struct cursor *c, size_t ci)
{
    if (ci < c->ci)
        c->ci = c->bi = 0;
    while (c->ci < ci && c->bi < c->len) {
        unsigned char b = c->text[c->bi++];
        if (b >= 0xc0) /* the text is valid UTF-8 (checked first): skip continuation bytes */
            while (c->bi < c->len && (c->text[c->bi] & 0xc0) == 0x80)
                c->bi++;
        c->ci++;
    }
    return c->bi;
}

struct builder {
    const char *file;
    xchg_diag *d;
    struct cursor cur;
    xchg__ynode *root;
    xchg__ynode *stack[XCHG_YAML_MAX_DEPTH + 1];
    size_t cap[XCHG_YAML_MAX_DEPTH + 1]; /* allocated items or pairs of each open node */
    int key_next[XCHG_YAML_MAX_DEPTH + 1]; /* an open mapping waits for a key */
    int depth;
    int nomem, errors;
};

XCHG_PRINTF(3, 4)
static void refuse(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(b->d, XCHG_SEV_ERROR, b->file, m ? (unsigned)m->line + 1 : 0,
                   m ? (unsigned)m->column + 1 : 0, fmt, ap);
    va_end(ap);
    b->errors++;
}

static xchg__ynode *node_new(struct builder *b, xchg__ytype t, xchg__ystyle st,
                             const yaml_mark_t *start, const yaml_mark_t *end)
{
    xchg__ynode *n = calloc(1, sizeof *n);
    if (!n) {
        b->nomem = 1;
        return NULL;
    }
    n->type = t;
    n->style = st;
    n->line = (unsigned)start->line + 1;
    n->col = (unsigned)start->column + 1;
    n->start = byte_at(&b->cur, start->index);
    n->end = byte_at(&b->cur, end->index);
    return n;
}

/* Attach n (NULL: an empty value) to the open collection, or make it the root. */
static int attach(struct builder *b, xchg__ynode *n)
{
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    xchg__ynode *p = b->stack[b->depth - 1];
    size_t *cap = &b->cap[b->depth - 1];
    if (p->type == XCHG_Y_SEQUENCE || b->key_next[b->depth - 1]) {
        if (p->n == *cap) {
            size_t nc = *cap ? 2 * *cap : 8;
            void *nv = p->type == XCHG_Y_SEQUENCE ? realloc(p->items, nc * sizeof *p->items)
                                                  : realloc(p->pairs, nc * sizeof *p->pairs);
            if (!nv) {
                node_free(n);
                b->nomem = 1;
                return -1;
            }
            if (p->type == XCHG_Y_SEQUENCE)
                p->items = nv;
            else
                p->pairs = nv;
            *cap = nc;
        }
        if (p->type == XCHG_Y_SEQUENCE) {
            p->items[p->n++] = n;
            return 0;
        }
        p->pairs[p->n].key = n;
        p->pairs[p->n].value = NULL;
        p->n++;
        b->key_next[b->depth - 1] = 0;
        return 0;
    }
    p->pairs[p->n - 1].value = n;
    b->key_next[b->depth - 1] = 1;
    return 0;
}

/* Anchors, aliases and tags are refused: an agreement is read as written. */
static int plain_node(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
                      const yaml_char_t *tag)
{
    if (anchor) {
        refuse(b, m,
               "an anchor (&%s) is not allowed: an agreement is read as written, so write each "
               "value where it applies",
               (const char *)anchor);
        return 0;
    }
    if (tag) {
        refuse(b, m, "a tag (%s) is not allowed: write the value without it",
               (const char *)tag);
        return 0;
    }
    return 1;
}

static int cmp_key(const void *a, const void *b)
{
    const xchg__ypair *x = *(const xchg__ypair *const *)a, *y = *(const xchg__ypair *const *)b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->text, y->key->text, n);
    if (c)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x < y ? -1 : x > y; /* file order among equals: the later one is the duplicate */
}

/* A key given twice would let a reader see the first value and the parser keep the other. */
static void check_duplicates(struct builder *b, xchg__ynode *map)
{
    size_t k = 0;
    for (size_t i = 0; i < map->n; i++)
        k += xchg__y_is(map->pairs[i].key, XCHG_Y_SCALAR);
    if (k < 2)
        return;
    const xchg__ypair **v = malloc(k * sizeof *v);
    if (!v) {
        b->nomem = 1;
        return;
    }
    k = 0;
    for (size_t i = 0; i < map->n; i++)
        if (xchg__y_is(map->pairs[i].key, XCHG_Y_SCALAR))
            v[k++] = &map->pairs[i];
    qsort(v, k, sizeof *v, cmp_key);
    const xchg__ypair *worst = NULL, *first = NULL;
    for (size_t i = 1; i < k; i++) {
        const xchg__ynode *x = v[i - 1]->key, *y = v[i]->key;
        if (x->len == y->len && memcmp(x->text, y->text, x->len) == 0 &&
            (!worst || v[i] < worst)) {
            size_t j = i - 1;
            while (j > 0 && v[j - 1]->key->len == y->len &&
                   memcmp(v[j - 1]->key->text, y->text, y->len) == 0)
                j--;
            worst = v[i];
            first = v[j];
        }
    }
    if (worst) {
        yaml_mark_t m = {.line = worst->key->line - 1, .column = worst->key->col - 1};
        refuse(b, &m, "not valid YAML: duplicate key '%.60s' (first given on line %u)",
               worst->key->text, first->key->line);
    }
    free(v);
}

static void parse_error(struct builder *b, const yaml_parser_t *p)
{
    char msg[256];
    if (p->error == YAML_READER_ERROR) {
        snprintf(msg, sizeof msg, "%s", p->problem ? p->problem : "cannot read the text");
        xchg_diag_add(b->d, XCHG_SEV_ERROR, b->file, 0, 0, "not valid YAML: %s (at byte %zu)",
                      msg, p->problem_offset);
        b->errors++;
        return;
    }
    if (p->context)
        snprintf(msg, sizeof msg, "%s (%s that starts on line %zu)",
                 p->problem ? p->problem : "syntax error", p->context, p->context_mark.line + 1);
    else
        snprintf(msg, sizeof msg, "%s", p->problem ? p->problem : "syntax error");
    refuse(b, &p->problem_mark, "not valid YAML: %s", msg);
}

static xchg__ystyle scalar_style(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: return XCHG_Y_SINGLE_QUOTED;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return XCHG_Y_DOUBLE_QUOTED;
    case YAML_LITERAL_SCALAR_STYLE: return XCHG_Y_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE: return XCHG_Y_FOLDED;
    default: return XCHG_Y_PLAIN;
    }
}

/* One event; 1 when the document is complete, -1 on an error (reported), 0 to go on. */
static int on_event(struct builder *b, yaml_event_t *e, int *docs, const char *kind,
                    const char *into)
{
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs == 2) {
            xchg_diag_add(b->d, XCHG_SEV_ERROR, b->file, (unsigned)e->start_mark.line + 1,
                          (unsigned)e->start_mark.column + 1,
                          "a second YAML document starts here: %s is one document, and nothing "
                          "after the first may be left unread (remove the '---' and what "
                          "follows, or merge it into %s)",
                          kind, into);
            b->errors++;
            return -1;
        }
        return 0;
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_ALIAS_EVENT:
        refuse(b, &e->start_mark,
               "an alias (*%s) is not allowed: an agreement is read as written, so write each "
               "value where it applies",
               (const char *)e->data.alias.anchor);
        return -1;
    case YAML_SCALAR_EVENT: {
        if (!plain_node(b, &e->start_mark, e->data.scalar.anchor, e->data.scalar.tag))
            return -1;
        xchg__ystyle st = scalar_style(e->data.scalar.style);
        if (st == XCHG_Y_PLAIN && e->data.scalar.length == 0 && b->depth == 0)
            return attach(b, NULL); /* "---" and nothing: an empty document */
        xchg__ynode *n = node_new(b, XCHG_Y_SCALAR, st, &e->start_mark, &e->end_mark);
        char *t = n ? malloc(e->data.scalar.length + 1) : NULL;
        if (!t) {
            free(n);
            b->nomem = 1;
            return -1;
        }
        memcpy(t, e->data.scalar.value, e->data.scalar.length);
        t[e->data.scalar.length] = '\0';
        n->text = t;
        n->len = e->data.scalar.length;
        return attach(b, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int seq = e->type == YAML_SEQUENCE_START_EVENT;
        if (!plain_node(b, &e->start_mark,
                        seq ? e->data.sequence_start.anchor : e->data.mapping_start.anchor,
                        seq ? e->data.sequence_start.tag : e->data.mapping_start.tag))
            return -1;
        if (b->depth == XCHG_YAML_MAX_DEPTH) {
            refuse(b, &e->start_mark, "nested more than %d levels deep", XCHG_YAML_MAX_DEPTH);
            return -1;
        }
        int flow = seq ? e->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                       : e->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        xchg__ynode *n = node_new(b, seq ? XCHG_Y_SEQUENCE : XCHG_Y_MAPPING,
                                  flow ? XCHG_Y_FLOW : XCHG_Y_BLOCK, &e->start_mark,
                                  &e->end_mark);
        if (!n || attach(b, n) != 0)
            return -1;
        b->stack[b->depth] = n;
        b->cap[b->depth] = 0;
        b->key_next[b->depth] = 1;
        b->depth++;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (b->depth == 0)
            return -1;
        xchg__ynode *n = b->stack[--b->depth];
        n->end = byte_at(&b->cur, e->end_mark.index);
        if (n->type == XCHG_Y_MAPPING)
            check_duplicates(b, n);
        return b->errors || b->nomem ? -1 : 0;
    }
    default: return 0;
    }
}

xchg_err xchg__yaml_load(const char *text, size_t len, const char *file, const char *kind,
                         const char *into, xchg__ydoc **out, xchg_diag *d)
{
    *out = NULL;
    unsigned bad = xchg__utf8_bad_line(text, len);
    if (bad) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, bad, 0, "not valid UTF-8 text");
        return XCHG_ERR_FORMAT;
    }
    struct builder b = {.file = file, .d = d, .cur = {.text = (const unsigned char *)text, .len = len}};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return XCHG_ERR_NOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    int docs = 0, r = 0;
    while (r == 0) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            if (p.error == YAML_MEMORY_ERROR)
                b.nomem = 1;
            else
                parse_error(&b, &p);
            break;
        }
        r = on_event(&b, &e, &docs, kind, into);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (b.nomem || b.errors || r != 1) {
        node_free(b.root);
        if (b.nomem)
            return XCHG_ERR_NOMEM;
        return docs >= 2 ? XCHG_ERR_POLICY : XCHG_ERR_FORMAT;
    }
    xchg__ydoc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        node_free(b.root);
        return XCHG_ERR_NOMEM;
    }
    doc->root = b.root;
    *out = doc;
    return XCHG_OK;
}

/* ---- reading the tree ------------------------------------------------------------- */

xchg__ynode *xchg__y_seq_next(const xchg__ynode *n, void **it)
{
    if (!xchg__y_is(n, XCHG_Y_SEQUENCE))
        return NULL;
    xchg__ynode **p = *it ? (xchg__ynode **)*it + 1 : n->items;
    if (!p || p >= n->items + n->n)
        return NULL;
    *it = p;
    return *p;
}

xchg__ypair *xchg__y_map_next(const xchg__ynode *n, void **it)
{
    if (!xchg__y_is(n, XCHG_Y_MAPPING))
        return NULL;
    xchg__ypair *p = *it ? (xchg__ypair *)*it + 1 : n->pairs;
    if (!p || p >= n->pairs + n->n)
        return NULL;
    *it = p;
    return p;
}

xchg__ypair *xchg__y_lookup_pair(const xchg__ynode *map, const char *key, size_t len)
{
    if (!xchg__y_is(map, XCHG_Y_MAPPING))
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        const xchg__ynode *k = map->pairs[i].key;
        if (xchg__y_is(k, XCHG_Y_SCALAR) && k->len == len && memcmp(k->text, key, len) == 0)
            return &map->pairs[i];
    }
    return NULL;
}

xchg__ynode *xchg__y_lookup(const xchg__ynode *map, const char *key, size_t len)
{
    return xchg__y_value(xchg__y_lookup_pair(map, key, len));
}

/* ---- as JSON ---------------------------------------------------------------------- */

static int all_of(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

/* A plain scalar by the YAML 1.2 core schema: a JSON value, or NULL for a string. */
static json_t *core_value(const xchg__ynode *n)
{
    const char *s = n->text;
    static const char *const nulls[] = {"null", "Null", "NULL", "~"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, trues[i]) == 0)
            return json_true();
        if (strcmp(s, falses[i]) == 0)
            return json_false();
    }
    const char *digits = s + (*s == '-' || *s == '+');
    int base = 0;
    if (all_of(digits, "0123456789"))
        base = 10;
    else if (strncmp(s, "0o", 2) == 0 && all_of(s + 2, "01234567"))
        base = 8;
    else if (strncmp(s, "0x", 2) == 0 && all_of(s + 2, "0123456789abcdefABCDEF"))
        base = 16;
    if (base) {
        errno = 0;
        char *end;
        long long v = strtoll(base == 10 ? s : s + 2, &end, base);
        if (errno == 0 && *end == '\0')
            return json_integer((json_int_t)v);
        return NULL;
    }
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *q = digits;
    size_t intd = strspn(q, "0123456789");
    q += intd;
    size_t frac = 0;
    if (*q == '.') {
        q++;
        frac = strspn(q, "0123456789");
        q += frac;
    }
    if (!intd && !frac)
        return NULL;
    if (*q == 'e' || *q == 'E') {
        q++;
        q += *q == '-' || *q == '+';
        size_t ed = strspn(q, "0123456789");
        if (!ed)
            return NULL;
        q += ed;
    }
    if (*q)
        return NULL;
    errno = 0;
    double v = strtod(s, NULL);
    return errno == 0 ? json_real(v) : NULL;
}

static json_t *to_json(const xchg__ynode *n)
{
    if (!n)
        return json_null();
    switch (n->type) {
    case XCHG_Y_SCALAR: {
        json_t *v = n->style == XCHG_Y_PLAIN ? core_value(n) : NULL;
        return v ? v : json_stringn(n->text, n->len);
    }
    case XCHG_Y_SEQUENCE: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n->n; i++) {
            json_t *v = to_json(n->items[i]);
            if (!v || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case XCHG_Y_MAPPING: {
        json_t *o = json_object();
        for (size_t i = 0; o && i < n->n; i++) {
            const xchg__ynode *k = n->pairs[i].key;
            char *ks = NULL;
            if (!xchg__y_is(k, XCHG_Y_SCALAR)) { /* a complex key: its JSON text */
                json_t *kj = to_json(k);
                ks = kj ? json_dumps(kj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                json_decref(kj);
            }
            json_t *v = to_json(n->pairs[i].value);
            int bad = !v || (!xchg__y_is(k, XCHG_Y_SCALAR) && !ks) ||
                      json_object_setn_new(o, ks ? ks : k->text, ks ? strlen(ks) : k->len, v);
            free(ks);
            if (bad) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

char *xchg__yaml_to_json(const xchg__ynode *n)
{
    json_t *j = to_json(n);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}
