/*
 * Private: statistical disclosure control for the published tables (docs/reports.md).
 * Pure: counts in, protected counts out; no SQL, no I/O. Not installed.
 *
 * A table is a set of cells (interior counts and their margins) and a set of lines: each
 * line says "these parts sum to that total" (a row, a column, or the row of totals). The
 * margins are computed here from the unrounded interior and protected like any cell.
 *
 * Protection (xchg__sdc_protect):
 *   1. primary suppression: a count below the threshold (zeros only when asked);
 *   2. secondary suppression, the "no singleton in any line" heuristic (the hypercube
 *      method's core rule for 2-D tables): a line with exactly one suppressed cell gets
 *      a second one — the smallest non-zero published part, preferring a cell whose
 *      other line also has a lone suppression (one cell then closes two lines);
 *   3. an exact audit: the interval a reader can derive for every suppressed cell from
 *      the published cells and totals (linear programming, exact for these tables: their
 *      constraint matrices are totally unimodular, so the LP bounds are integer bounds);
 *      a cell whose interval is narrower than the threshold gets one more suppression in
 *      one of its lines, and 2.–3. repeat until every suppressed cell is protected;
 *   4. rounding of every published cell (margins included, each on its own unrounded
 *      value) to the nearest multiple of the base, halves up.
 */
#ifndef XCHG_SDC_H
#define XCHG_SDC_H

#include "exchange/common.h"

#include <limits.h>
#include <stddef.h>

#define XCHG__SDC_PUBLISHED 0
#define XCHG__SDC_PRIMARY 1   /* below the threshold */
#define XCHG__SDC_SECONDARY 2 /* suppressed so that a primary cannot be recovered */

#define XCHG__SDC_UNBOUNDED LONG_MAX

typedef struct xchg__sdc_rules {
    long threshold;     /* counts below it are suppressed (0: none) */
    long base;          /* rounding base (1 or 0: none) */
    int suppress_zeros; /* zeros are suppressed too (else published as 0) */
} xchg__sdc_rules;

typedef struct xchg__sdc_table {
    size_t rows, cols; /* the interior; cell (i, j) at i * (cols + 1) + j, i == rows the
                          row of column totals, j == cols the column of row totals */
    int one_d;         /* 1-D: rows parts and one total at index rows (cols == 1) */
    size_t ncells;
    long *value; /* true counts (interior and margins) */
    int *state;  /* XCHG__SDC_* */
    long *shown; /* the rounded value published (meaningful when state is published) */
    size_t nlines;
    size_t *line_off; /* line k: parts line_part[line_off[k] .. line_off[k+1]) */
    size_t *line_part;
    size_t *line_total; /* line k's total cell */
} xchg__sdc_table;

/* A 1-D table of n counts and their total (cell n). NULL when out of memory. */
xchg__sdc_table *xchg__sdc_new_1d(size_t n, const long *counts);
/* A 2-D table (rows x cols, row-major counts) with row, column and grand totals. */
xchg__sdc_table *xchg__sdc_new_2d(size_t rows, size_t cols, const long *counts);
/* Any set of ncells counts (values: every cell, totals included, as counted) and nlines
 * lines: line k says cells line_part[line_off[k] .. line_off[k+1]) sum to line_total[k]
 * (linked tables: e.g. families per problem combination, their total, and families per
 * problem, each the sum of the combinations that include it). */
xchg__sdc_table *xchg__sdc_new(size_t ncells, const long *values, size_t nlines,
                               const size_t *line_off, const size_t *line_part,
                               const size_t *line_total);
/* A table whose cells have no linear relation (e.g. families per problem, where a family
 * counts once per problem): primary suppression and rounding only. */
xchg__sdc_table *xchg__sdc_new_free(size_t n, const long *counts);
void xchg__sdc_free(xchg__sdc_table *t);

/* Protect t in place (state and shown). XCHG_ERR_NOMEM; t's states are then undefined. */
xchg_err xchg__sdc_protect(xchg__sdc_table *t, const xchg__sdc_rules *r);

/*
 * The attacker: for every suppressed cell c, the least and greatest value it can take
 * given that every published cell has exactly the value known[] says (pass t->value: a
 * reader who knew the unrounded published counts, stronger than any real reader), every
 * line holds and every cell is >= 0. lo/hi (ncells each) are written for suppressed
 * cells only; hi is XCHG__SDC_UNBOUNDED when nothing bounds it.
 */
xchg_err xchg__sdc_intervals(const xchg__sdc_table *t, const long *known, long *lo, long *hi);

/* Number of suppressed cells whose interval (as above, from t->value) is narrower than
 * width; *narrowest the least width seen (XCHG__SDC_UNBOUNDED when none suppressed). */
xchg_err xchg__sdc_exposed(const xchg__sdc_table *t, long width, size_t *exposed, long *narrowest);

/* Round v to the nearest multiple of base (halves up); base <= 1 leaves v. */
long xchg__sdc_round(long v, long base);

#endif
