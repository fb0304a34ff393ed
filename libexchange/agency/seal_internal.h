/*
 * Private: what the sealing stages share (seal.c orchestrates; token.c and indicator.c
 * read a row's normalised values).
 */
#ifndef XCHG_SEAL_INTERNAL_H
#define XCHG_SEAL_INTERNAL_H

#include "exchange/normalise.h"
#include "exchange/policy.h"

#include <stddef.h>
#include <stdint.h>

#define XCHG__VAL_MAX XCHG_NORM_MAX

/* One field's value in the row being sealed (one per agreement field). */
typedef struct xchg__val {
    int present;
    char canon[XCHG__VAL_MAX];   /* normalised form used in tokens */
    char display[XCHG__VAL_MAX]; /* readable form for the payload */
    int32_t date;
    double num;
    xchg_postcode pc;
    int invalid;                 /* an identifier that failed validation (present is 0) */
    char typed[XCHG__VAL_MAX];   /* then: what was typed, for the CLK (seal.c typed_value) */
} xchg__val;

/* The extract's column mapped to agreement field `field`, or NULL when it has none. */
static inline const xchg_column *xchg__column_of(const xchg_extract *x, size_t field)
{
    for (size_t i = 0; i < x->ncolumns; i++)
        if (x->columns[i].field == field)
            return &x->columns[i];
    return NULL;
}

/* A mapping's code translations for one column (seal_mapping.c): the agency's value
 * from[i] (compared case-insensitively, trimmed) is read as the agreement's to[i]. */
typedef struct xchg__codes {
    const char **from, **to;
    size_t n;
} xchg__codes;

struct xchg_mapping;
/* The effective extract of a mapping (the agreement's, with the mapping's columns), and
 * its per-column code translations (parallel to the extract's columns). */
const xchg_extract *xchg__mapping_extract(const struct xchg_mapping *m);
const xchg__codes *xchg__mapping_codes(const struct xchg_mapping *m);

#endif
