/*
 * Private: the one way YAML text from outside (an agreement, an agency's mapping file) is
 * read. libyaml's parser turns the text into events; yaml_text.c builds this small tree
 * from them and refuses, each at its line and column, what an agreement must not hold:
 * text that is not UTF-8, YAML errors, a second document (it would be left unread),
 * duplicate keys, anchors and aliases (one place would silently change another), tags,
 * and nesting deeper than XCHG_YAML_MAX_DEPTH. docs/architecture.md says why libyaml.
 *
 * The accessors mirror what the readers need and are NULL-safe (an absent node is NULL, as
 * is the root of an empty document); "key:" with nothing after it is an empty scalar.
 */
#ifndef XCHG_YAML_INTERNAL_H
#define XCHG_YAML_INTERNAL_H

#include "exchange/common.h"

#include <stddef.h>

#define XCHG_YAML_MAX_DEPTH 64

typedef enum { XCHG_Y_SCALAR = 1, XCHG_Y_SEQUENCE, XCHG_Y_MAPPING } xchg__ytype;

typedef enum {
    XCHG_Y_PLAIN = 1,
    XCHG_Y_SINGLE_QUOTED,
    XCHG_Y_DOUBLE_QUOTED,
    XCHG_Y_LITERAL,
    XCHG_Y_FOLDED,
    XCHG_Y_BLOCK, /* a collection written as indented lines */
    XCHG_Y_FLOW,  /* a collection written [a, b] or {a: b} */
} xchg__ystyle;

typedef struct xchg__ynode xchg__ynode;

typedef struct xchg__ypair {
    xchg__ynode *key, *value;
} xchg__ypair;

struct xchg__ynode {
    xchg__ytype type;
    xchg__ystyle style;
    unsigned line, col;     /* 1-based, where the node starts (a quoted scalar: its quote) */
    size_t start, end;      /* byte range of the node in the text */
    char *text;             /* a scalar's value, NUL-terminated */
    size_t len;             /* its length in bytes */
    xchg__ynode **items;    /* a sequence's items */
    xchg__ypair *pairs;     /* a mapping's pairs, in file order (key and value never NULL) */
    size_t n;               /* how many items or pairs */
};

typedef struct xchg__ydoc xchg__ydoc;

/* Line of the first byte that is not valid UTF-8, or 0 when all of text is valid. */
unsigned xchg__utf8_bad_line(const char *text, size_t len);

/* Parse text (one YAML document) into *out. Errors name file: XCHG_ERR_FORMAT (not UTF-8,
 * not YAML, a duplicate key, an anchor, alias or tag, too deep), XCHG_ERR_POLICY (a second
 * document: "KIND is one document ... merge it into INTO"), XCHG_ERR_NOMEM; *out is NULL
 * then. */
xchg_err xchg__yaml_load(const char *text, size_t len, const char *file, const char *kind,
                         const char *into, xchg__ydoc **out, xchg_diag *d);
xchg__ynode *xchg__yaml_root(const xchg__ydoc *doc);
void xchg__yaml_free(xchg__ydoc *doc);

/* A node as one-line JSON (malloc'd; NULL on no memory): plain scalars that are YAML 1.2
 * core-schema integers, floats, booleans or nulls become JSON numbers, true, false, null;
 * every other scalar a JSON string. */
char *xchg__yaml_to_json(const xchg__ynode *n);

/* The node's type; a NULL node is a (null) scalar. */
static inline xchg__ytype xchg__y_type(const xchg__ynode *n) { return n ? n->type : XCHG_Y_SCALAR; }
static inline int xchg__y_is(const xchg__ynode *n, xchg__ytype t) { return n && n->type == t; }
/* A scalar's text and length, or NULL (absent, not a scalar). */
static inline const char *xchg__y_scalar(const xchg__ynode *n, size_t *len)
{
    if (!n || n->type != XCHG_Y_SCALAR) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = n->len;
    return n->text;
}
static inline const char *xchg__y_scalar0(const xchg__ynode *n)
{
    return n && n->type == XCHG_Y_SCALAR ? n->text : NULL;
}
static inline int xchg__y_plain(const xchg__ynode *n) { return !n || n->style == XCHG_Y_PLAIN; }
/* Items of a sequence, pairs of a mapping; -1 when n is not one. */
static inline int xchg__y_seq_count(const xchg__ynode *n)
{
    return xchg__y_is(n, XCHG_Y_SEQUENCE) ? (int)n->n : -1;
}
static inline int xchg__y_map_count(const xchg__ynode *n)
{
    return xchg__y_is(n, XCHG_Y_MAPPING) ? (int)n->n : -1;
}
static inline xchg__ynode *xchg__y_seq_at(const xchg__ynode *n, int i)
{
    return xchg__y_is(n, XCHG_Y_SEQUENCE) && i >= 0 && (size_t)i < n->n ? n->items[i] : NULL;
}
/* Iteration: *it starts NULL; returns the next item or pair, NULL at the end. */
xchg__ynode *xchg__y_seq_next(const xchg__ynode *n, void **it);
xchg__ypair *xchg__y_map_next(const xchg__ynode *n, void **it);
static inline xchg__ynode *xchg__y_key(const xchg__ypair *p) { return p ? p->key : NULL; }
static inline xchg__ynode *xchg__y_value(const xchg__ypair *p) { return p ? p->value : NULL; }
/* The pair or value of a mapping whose key is the plain text key[0..len). */
xchg__ypair *xchg__y_lookup_pair(const xchg__ynode *map, const char *key, size_t len);
xchg__ynode *xchg__y_lookup(const xchg__ynode *map, const char *key, size_t len);

/* The keys of a consent_values map (agreement and mapping file alike), in
 * xchg_consent_status order, NULL-terminated: consent.c owns the consent vocabulary. */
extern const char *const xchg__consent_value_keys[5];

#endif
