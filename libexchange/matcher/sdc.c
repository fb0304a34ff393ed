/* Statistical disclosure control for published tables (sdc.h, docs/reports.md). */
#include "sdc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX
#define EPS 1e-7

struct tab {
    xchg__sdc_table t;
    size_t *cell_off; /* cell c is in lines cell_line[cell_off[c] .. cell_off[c + 1]) */
    size_t *cell_line;
};

static struct tab *tab_alloc(size_t ncells, size_t nlines, size_t nparts)
{
    struct tab *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    xchg__sdc_table *t = &b->t;
    t->ncells = ncells;
    t->nlines = nlines;
    t->value = calloc(ncells ? ncells : 1, sizeof *t->value);
    t->state = calloc(ncells ? ncells : 1, sizeof *t->state);
    t->shown = calloc(ncells ? ncells : 1, sizeof *t->shown);
    t->line_off = calloc(nlines + 1, sizeof *t->line_off);
    t->line_part = calloc(nparts ? nparts : 1, sizeof *t->line_part);
    t->line_total = calloc(nlines ? nlines : 1, sizeof *t->line_total);
    b->cell_off = calloc(ncells + 1, sizeof *b->cell_off);
    b->cell_line = calloc(nparts + nlines + 1, sizeof *b->cell_line);
    if (!t->value || !t->state || !t->shown || !t->line_off || !t->line_part || !t->line_total ||
        !b->cell_off || !b->cell_line) {
        xchg__sdc_free(t);
        return NULL;
    }
    return b;
}

void xchg__sdc_free(xchg__sdc_table *t)
{
    if (!t)
        return;
    struct tab *b = (struct tab *)t; /* t is the first member */
    free(t->value);
    free(t->state);
    free(t->shown);
    free(t->line_off);
    free(t->line_part);
    free(t->line_total);
    free(b->cell_off);
    free(b->cell_line);
    free(b);
}

/* close line k (parts already appended from line_off[k] to *np) with total */
static void end_line(struct tab *b, size_t k, size_t *np, size_t total)
{
    b->t.line_total[k] = total;
    b->t.line_off[k + 1] = *np;
}

/* the cell -> lines index, once every line is in place */
static void index_lines(struct tab *b)
{
    xchg__sdc_table *t = &b->t;
    for (size_t k = 0; k < t->nlines; k++) {
        for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++)
            b->cell_off[t->line_part[i] + 1]++;
        b->cell_off[t->line_total[k] + 1]++;
    }
    for (size_t c = 0; c < t->ncells; c++)
        b->cell_off[c + 1] += b->cell_off[c];
    size_t *fill = calloc(t->ncells ? t->ncells : 1, sizeof *fill);
    if (!fill) { /* never fails for want of it: an empty index only weakens the choice */
        memset(b->cell_off, 0, (t->ncells + 1) * sizeof *b->cell_off);
        return;
    }
    for (size_t k = 0; k < t->nlines; k++) {
        for (size_t i = t->line_off[k]; i <= t->line_off[k + 1]; i++) {
            size_t c = i < t->line_off[k + 1] ? t->line_part[i] : t->line_total[k];
            b->cell_line[b->cell_off[c] + fill[c]++] = k;
        }
    }
    free(fill);
}

xchg__sdc_table *xchg__sdc_new(size_t ncells, const long *values, size_t nlines,
                               const size_t *line_off, const size_t *line_part,
                               const size_t *line_total)
{
    struct tab *b = tab_alloc(ncells, nlines, line_off[nlines]);
    if (!b)
        return NULL;
    xchg__sdc_table *t = &b->t;
    t->rows = ncells;
    t->cols = 1;
    t->one_d = 1;
    memcpy(t->value, values, ncells * sizeof *values);
    memcpy(t->line_off, line_off, (nlines + 1) * sizeof *line_off);
    memcpy(t->line_part, line_part, line_off[nlines] * sizeof *line_part);
    memcpy(t->line_total, line_total, nlines * sizeof *line_total);
    index_lines(b);
    return t;
}

xchg__sdc_table *xchg__sdc_new_1d(size_t n, const long *counts)
{
    struct tab *b = tab_alloc(n + 1, 1, n);
    if (!b)
        return NULL;
    xchg__sdc_table *t = &b->t;
    t->rows = n;
    t->cols = 1;
    t->one_d = 1;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        t->value[i] = counts[i];
        t->value[n] += counts[i];
        t->line_part[np++] = i;
    }
    end_line(b, 0, &np, n);
    index_lines(b);
    return t;
}

xchg__sdc_table *xchg__sdc_new_2d(size_t rows, size_t cols, const long *counts)
{
    size_t w = cols + 1;
    /* lines: rows + 1 (each row, and the row of column totals), cols + 1 columns */
    struct tab *b = tab_alloc((rows + 1) * w, rows + 1 + cols + 1, 2 * (rows + 1) * (cols + 1));
    if (!b)
        return NULL;
    xchg__sdc_table *t = &b->t;
    t->rows = rows;
    t->cols = cols;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            long v = counts[i * cols + j];
            t->value[i * w + j] = v;
            t->value[i * w + cols] += v;
            t->value[rows * w + j] += v;
            t->value[rows * w + cols] += v;
        }
    size_t np = 0, k = 0;
    for (size_t i = 0; i <= rows; i++, k++) {
        t->line_off[k] = np;
        for (size_t j = 0; j < cols; j++)
            t->line_part[np++] = i * w + j;
        end_line(b, k, &np, i * w + cols);
    }
    for (size_t j = 0; j <= cols; j++, k++) {
        t->line_off[k] = np;
        for (size_t i = 0; i < rows; i++)
            t->line_part[np++] = i * w + j;
        end_line(b, k, &np, rows * w + j);
    }
    index_lines(b);
    return t;
}

xchg__sdc_table *xchg__sdc_new_free(size_t n, const long *counts)
{
    struct tab *b = tab_alloc(n, 0, 0);
    if (!b)
        return NULL;
    b->t.rows = n;
    b->t.cols = 1;
    b->t.one_d = 1;
    memcpy(b->t.value, counts, n * sizeof *counts);
    return &b->t;
}

long xchg__sdc_round(long v, long base)
{
    if (base <= 1)
        return v;
    long q = v / base, r = v % base;
    return (2 * r >= base ? q + 1 : q) * base;
}

/* ---- the attacker: interval of every suppressed cell, by LP ------------------------ */

/* Dense simplex tableau: rows 0..m-1 constraints, row m the reduced costs; column w-1 the
 * right-hand side. Bland's rule throughout (degenerate tables are the norm here). */
struct lp {
    size_t m, w;
    double *T;
    size_t *basis;
};

#define AT(lp, i, j) ((lp)->T[(i) * (lp)->w + (j)])

static void pivot(struct lp *p, size_t r, size_t c)
{
    double piv = AT(p, r, c);
    for (size_t j = 0; j < p->w; j++)
        AT(p, r, j) /= piv;
    for (size_t i = 0; i <= p->m; i++) {
        if (i == r)
            continue;
        double f = AT(p, i, c);
        if (f == 0)
            continue;
        for (size_t j = 0; j < p->w; j++)
            AT(p, i, j) -= f * AT(p, r, j);
    }
    p->basis[r] = c;
}

/* Minimise over columns 0..ncols-1 (rows with dead[i] set are ignored). 0 optimal,
 * 1 unbounded. */
static int simplex(struct lp *p, size_t ncols, const unsigned char *dead)
{
    for (;;) {
        size_t c = NONE;
        for (size_t j = 0; j < ncols; j++)
            if (AT(p, p->m, j) < -EPS) {
                c = j;
                break;
            }
        if (c == NONE)
            return 0;
        size_t r = NONE;
        double best = 0;
        for (size_t i = 0; i < p->m; i++) {
            if (dead && dead[i])
                continue;
            double a = AT(p, i, c);
            if (a > EPS) {
                double ratio = AT(p, i, p->w - 1) / a;
                if (r == NONE || ratio < best - EPS ||
                    (ratio < best + EPS && p->basis[i] < p->basis[r])) {
                    r = i;
                    best = ratio;
                }
            }
        }
        if (r == NONE)
            return 1;
        pivot(p, r, c);
    }
}

/* One connected group of suppressed cells: nv variables, m equations A x = b. */
static xchg_err solve_group(size_t nv, size_t m, const double *A, const double *b, double *lo,
                            double *hi)
{
    xchg_err e = XCHG_ERR_NOMEM;
    struct lp p = {m, nv + m + 1, NULL, NULL};
    struct lp q = {m, nv + 1, NULL, NULL};
    unsigned char *dead = calloc(m ? m : 1, 1);
    p.T = calloc((m + 1) * p.w, sizeof *p.T);
    p.basis = calloc(m ? m : 1, sizeof *p.basis);
    q.T = calloc((m + 1) * q.w, sizeof *q.T);
    q.basis = calloc(m ? m : 1, sizeof *q.basis);
    if (!dead || !p.T || !p.basis || !q.T || !q.basis)
        goto cleanup;
    /* phase 1: artificials basic, minimise their sum */
    for (size_t i = 0; i < m; i++) {
        double s = b[i] < 0 ? -1 : 1;
        for (size_t j = 0; j < nv; j++)
            AT(&p, i, j) = s * A[i * nv + j];
        AT(&p, i, nv + i) = 1;
        AT(&p, i, p.w - 1) = s * b[i];
        p.basis[i] = nv + i;
        for (size_t j = 0; j < nv; j++)
            AT(&p, m, j) -= AT(&p, i, j);
        AT(&p, m, p.w - 1) -= AT(&p, i, p.w - 1);
    }
    simplex(&p, nv + m, NULL);
    if (-AT(&p, m, p.w - 1) > 1e-6) {
        e = XCHG_ERR_ARG; /* inconsistent: the known values do not satisfy the lines */
        goto cleanup;
    }
    /* drive the artificials out; a row with no real column left is redundant */
    for (size_t i = 0; i < m; i++) {
        if (p.basis[i] < nv)
            continue;
        size_t c = NONE;
        for (size_t j = 0; j < nv && c == NONE; j++)
            if (fabs(AT(&p, i, j)) > EPS)
                c = j;
        if (c == NONE)
            dead[i] = 1;
        else
            pivot(&p, i, c);
    }
    /* phase 2 for each variable and sense, from the feasible basis */
    for (size_t k = 0; k < nv; k++)
        for (int sense = 0; sense < 2; sense++) {
            for (size_t i = 0; i < m; i++) {
                for (size_t j = 0; j < nv; j++)
                    AT(&q, i, j) = dead[i] ? 0 : AT(&p, i, j);
                AT(&q, i, q.w - 1) = dead[i] ? 0 : AT(&p, i, p.w - 1);
                q.basis[i] = dead[i] ? NONE : p.basis[i];
            }
            double ck = sense ? -1.0 : 1.0; /* minimise x_k, or -x_k */
            for (size_t j = 0; j <= nv; j++)
                AT(&q, m, j) = 0;
            AT(&q, m, k) = ck;
            for (size_t i = 0; i < m; i++)
                if (!dead[i] && q.basis[i] == k)
                    for (size_t j = 0; j <= nv; j++)
                        AT(&q, m, j) -= ck * AT(&q, i, j);
            int unb = simplex(&q, nv, dead);
            double v = 0;
            for (size_t i = 0; i < m; i++)
                if (!dead[i] && q.basis[i] == k)
                    v = AT(&q, i, q.w - 1);
            if (sense)
                hi[k] = unb ? INFINITY : v;
            else
                lo[k] = v;
        }
    e = XCHG_OK;
cleanup:
    free(dead);
    free(p.T);
    free(p.basis);
    free(q.T);
    free(q.basis);
    return e;
}

static size_t uf_find(size_t *up, size_t x)
{
    while (up[x] != x)
        x = up[x] = up[up[x]];
    return x;
}

static int suppressed(const xchg__sdc_table *t, size_t c)
{
    return t->state[c] != XCHG__SDC_PUBLISHED;
}

xchg_err xchg__sdc_intervals(const xchg__sdc_table *t, const long *known, long *lo, long *hi)
{
    size_t n = t->ncells;
    xchg_err e = XCHG_ERR_NOMEM;
    size_t *up = malloc((n ? n : 1) * sizeof *up), *var = malloc((n ? n : 1) * sizeof *var);
    size_t *gcells = malloc((n ? n : 1) * sizeof *gcells);
    size_t *glines = malloc((t->nlines ? t->nlines : 1) * sizeof *glines);
    double *A = NULL, *b = NULL, *dlo = NULL, *dhi = NULL;
    unsigned char *done = calloc(n ? n : 1, 1);
    if (!up || !var || !gcells || !glines || !done)
        goto cleanup;
    for (size_t c = 0; c < n; c++)
        up[c] = c;
    /* cells suppressed together in a line are one group */
    for (size_t k = 0; k < t->nlines; k++) {
        size_t first = suppressed(t, t->line_total[k]) ? t->line_total[k] : NONE;
        for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++) {
            size_t c = t->line_part[i];
            if (!suppressed(t, c))
                continue;
            if (first == NONE)
                first = c;
            else
                up[uf_find(up, c)] = uf_find(up, first);
        }
    }
    for (size_t root = 0; root < n; root++) {
        if (!suppressed(t, root) || done[root] || uf_find(up, root) != root)
            continue;
        size_t nv = 0, m = 0;
        for (size_t c = 0; c < n; c++)
            if (suppressed(t, c) && uf_find(up, c) == root) {
                var[c] = nv;
                gcells[nv++] = c;
                done[c] = 1;
            }
        for (size_t k = 0; k < t->nlines; k++) {
            int hit = suppressed(t, t->line_total[k]) && uf_find(up, t->line_total[k]) == root;
            for (size_t i = t->line_off[k]; i < t->line_off[k + 1] && !hit; i++)
                hit = suppressed(t, t->line_part[i]) && uf_find(up, t->line_part[i]) == root;
            if (hit)
                glines[m++] = k;
        }
        free(A);
        free(b);
        free(dlo);
        free(dhi);
        A = calloc((m ? m : 1) * nv, sizeof *A);
        b = calloc(m ? m : 1, sizeof *b);
        dlo = calloc(nv, sizeof *dlo);
        dhi = calloc(nv, sizeof *dhi);
        if (!A || !b || !dlo || !dhi)
            goto cleanup;
        for (size_t r = 0; r < m; r++) {
            size_t k = glines[r], tot = t->line_total[k];
            /* parts - total = 0, published values moved to the right */
            double rhs = 0;
            if (suppressed(t, tot))
                A[r * nv + var[tot]] = -1;
            else
                rhs += (double)known[tot];
            for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++) {
                size_t c = t->line_part[i];
                if (suppressed(t, c))
                    A[r * nv + var[c]] += 1;
                else
                    rhs -= (double)known[c];
            }
            b[r] = rhs;
        }
        if (m == 0) { /* a suppressed cell in no line (a free table): nothing bounds it */
            for (size_t v = 0; v < nv; v++) {
                lo[gcells[v]] = 0;
                hi[gcells[v]] = XCHG__SDC_UNBOUNDED;
            }
            continue;
        }
        if ((e = solve_group(nv, m, A, b, dlo, dhi)) != XCHG_OK)
            goto cleanup;
        for (size_t v = 0; v < nv; v++) {
            lo[gcells[v]] = lround(dlo[v]);
            hi[gcells[v]] = isinf(dhi[v]) ? XCHG__SDC_UNBOUNDED : lround(dhi[v]);
        }
    }
    e = XCHG_OK;
cleanup:
    free(up);
    free(var);
    free(gcells);
    free(glines);
    free(done);
    free(A);
    free(b);
    free(dlo);
    free(dhi);
    return e;
}

static long width_of(long lo, long hi)
{
    return hi == XCHG__SDC_UNBOUNDED ? XCHG__SDC_UNBOUNDED : hi - lo;
}

xchg_err xchg__sdc_exposed(const xchg__sdc_table *t, long width, size_t *exposed, long *narrowest)
{
    size_t n = t->ncells;
    long *lo = malloc((n ? n : 1) * sizeof *lo), *hi = malloc((n ? n : 1) * sizeof *hi);
    xchg_err e = XCHG_ERR_NOMEM;
    if (lo && hi)
        e = xchg__sdc_intervals(t, t->value, lo, hi);
    *exposed = 0;
    *narrowest = XCHG__SDC_UNBOUNDED;
    for (size_t c = 0; e == XCHG_OK && c < n; c++) {
        if (!suppressed(t, c))
            continue;
        long wd = width_of(lo[c], hi[c]);
        if (wd < *narrowest)
            *narrowest = wd;
        if (wd < width)
            (*exposed)++;
    }
    free(lo);
    free(hi);
    return e;
}

/* ---- protection --------------------------------------------------------------------- */

static size_t line_suppressed(const xchg__sdc_table *t, size_t k)
{
    size_t s = suppressed(t, t->line_total[k]) ? 1 : 0;
    for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++)
        s += suppressed(t, t->line_part[i]) ? 1 : 0;
    return s;
}

/* Is candidate a better than b (b may be NONE)? Non-zero first, then a cell whose other
 * line has a lone suppression (it closes both), then the smaller count, then the part
 * before the total. */
static int better(const struct tab *bt, size_t line, size_t a, int a_total, size_t b, int b_total)
{
    const xchg__sdc_table *t = &bt->t;
    if (b == NONE)
        return 1;
    int az = t->value[a] == 0, bz = t->value[b] == 0;
    if (az != bz)
        return bz;
    int ap = 0, bp = 0;
    for (size_t i = bt->cell_off[a]; i < bt->cell_off[a + 1]; i++)
        ap |= bt->cell_line[i] != line && line_suppressed(t, bt->cell_line[i]) == 1;
    for (size_t i = bt->cell_off[b]; i < bt->cell_off[b + 1]; i++)
        bp |= bt->cell_line[i] != line && line_suppressed(t, bt->cell_line[i]) == 1;
    if (ap != bp)
        return ap;
    if (a_total != b_total)
        return b_total;
    return t->value[a] < t->value[b];
}

/* The published cell of line k to suppress next (NONE when every cell is suppressed). */
static size_t pick(const struct tab *bt, size_t k, size_t *best, int *best_total)
{
    const xchg__sdc_table *t = &bt->t;
    for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++) {
        size_t c = t->line_part[i];
        if (!suppressed(t, c) && better(bt, k, c, 0, *best, *best_total)) {
            *best = c;
            *best_total = 0;
        }
    }
    size_t tot = t->line_total[k];
    if (!suppressed(t, tot) && better(bt, k, tot, 1, *best, *best_total)) {
        *best = tot;
        *best_total = 1;
    }
    return *best;
}

xchg_err xchg__sdc_protect(xchg__sdc_table *t, const xchg__sdc_rules *r)
{
    struct tab *bt = (struct tab *)t;
    size_t n = t->ncells;
    for (size_t c = 0; c < n; c++) {
        long v = t->value[c];
        t->state[c] = r->threshold > 0 && v < r->threshold && (v > 0 || r->suppress_zeros)
                          ? XCHG__SDC_PRIMARY
                          : XCHG__SDC_PUBLISHED;
    }
    xchg_err e = XCHG_OK;
    long *lo = malloc((n ? n : 1) * sizeof *lo), *hi = malloc((n ? n : 1) * sizeof *hi);
    unsigned char *touched = calloc(t->nlines ? t->nlines : 1, 1);
    if (!lo || !hi || !touched) {
        e = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    while (t->nlines > 0 && r->threshold > 0) {
        /* 2. no line with a lone suppressed cell */
        int changed;
        do {
            changed = 0;
            for (size_t k = 0; k < t->nlines; k++) {
                if (line_suppressed(t, k) != 1)
                    continue;
                size_t best = NONE;
                int bt_total = 0;
                if (pick(bt, k, &best, &bt_total) != NONE) {
                    t->state[best] = XCHG__SDC_SECONDARY;
                    changed = 1;
                }
            }
        } while (changed);
        /* 3. the exact audit; one more suppression beside each exposed cell */
        if ((e = xchg__sdc_intervals(t, t->value, lo, hi)) != XCHG_OK)
            goto cleanup;
        memset(touched, 0, t->nlines);
        size_t added = 0;
        for (size_t c = 0; c < n; c++) {
            if (!suppressed(t, c) || width_of(lo[c], hi[c]) >= r->threshold)
                continue;
            int near = 0;
            for (size_t i = bt->cell_off[c]; i < bt->cell_off[c + 1]; i++)
                near |= touched[bt->cell_line[i]];
            if (near)
                continue; /* a neighbour's new suppression may already cover it */
            size_t best = NONE;
            int bt_total = 0;
            for (size_t i = bt->cell_off[c]; i < bt->cell_off[c + 1]; i++)
                pick(bt, bt->cell_line[i], &best, &bt_total);
            if (best == NONE)
                continue;
            t->state[best] = XCHG__SDC_SECONDARY;
            added++;
            for (size_t i = bt->cell_off[best]; i < bt->cell_off[best + 1]; i++)
                touched[bt->cell_line[i]] = 1;
        }
        if (added == 0)
            break;
    }
    for (size_t c = 0; c < n; c++)
        t->shown[c] = suppressed(t, c) ? 0 : xchg__sdc_round(t->value[c], r->base);
cleanup:
    free(lo);
    free(hi);
    free(touched);
    return e;
}
