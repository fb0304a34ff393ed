/* Diagnostics collection: a growable array of formatted messages. */
#include "exchange/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    xchg_severity sev;
    unsigned line, col;
    char *text;    /* full "file:line:col: sev: msg" */
    size_t msgoff; /* offset of the message inside text */
};

struct xchg_diag {
    struct entry *v;
    size_t n, cap;
    int lost;
};

xchg_diag *xchg_diag_new(void)
{
    return calloc(1, sizeof(xchg_diag));
}

void xchg_diag_clear(xchg_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].text);
    d->n = 0;
    d->lost = 0;
}

void xchg_diag_free(xchg_diag *d)
{
    if (!d)
        return;
    xchg_diag_clear(d);
    free(d->v);
    free(d);
}

static const char *sev_name(xchg_severity s)
{
    switch (s) {
    case XCHG_SEV_ERROR: return "error";
    case XCHG_SEV_WARNING: return "warning";
    case XCHG_SEV_NOTE: return "note";
    }
    return "error";
}

void xchg_diag_vadd(xchg_diag *d, xchg_severity sev, const char *file, unsigned line,
                    unsigned col, const char *fmt, va_list ap)
{
    if (!d)
        return;
    char prefix[1024];
    int p;
    if (file && line && col)
        p = snprintf(prefix, sizeof prefix, "%s:%u:%u: %s: ", file, line, col, sev_name(sev));
    else if (file && line)
        p = snprintf(prefix, sizeof prefix, "%s:%u: %s: ", file, line, sev_name(sev));
    else if (file)
        p = snprintf(prefix, sizeof prefix, "%s: %s: ", file, sev_name(sev));
    else
        p = snprintf(prefix, sizeof prefix, "%s: ", sev_name(sev));
    if (p < 0 || (size_t)p >= sizeof prefix) {
        d->lost = 1;
        return;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int m = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (m < 0) {
        d->lost = 1;
        return;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        struct entry *nv = realloc(d->v, nc * sizeof *nv);
        if (!nv) {
            d->lost = 1;
            return;
        }
        d->v = nv;
        d->cap = nc;
    }
    char *text = malloc((size_t)p + (size_t)m + 1);
    if (!text) {
        d->lost = 1;
        return;
    }
    memcpy(text, prefix, (size_t)p);
    vsnprintf(text + p, (size_t)m + 1, fmt, ap);
    d->v[d->n++] = (struct entry){sev, line, col, text, (size_t)p};
}

void xchg_diag_add(xchg_diag *d, xchg_severity sev, const char *file, unsigned line,
                   unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(d, sev, file, line, col, fmt, ap);
    va_end(ap);
}

size_t xchg_diag_count(const xchg_diag *d) { return d ? d->n : 0; }

size_t xchg_diag_errors(const xchg_diag *d)
{
    size_t e = 0;
    for (size_t i = 0; d && i < d->n; i++)
        e += d->v[i].sev == XCHG_SEV_ERROR;
    return e;
}

int xchg_diag_lost(const xchg_diag *d) { return d ? d->lost : 0; }

const char *xchg_diag_text(const xchg_diag *d, size_t i)
{
    return d && i < d->n ? d->v[i].text : NULL;
}

const char *xchg_diag_message(const xchg_diag *d, size_t i)
{
    return d && i < d->n ? d->v[i].text + d->v[i].msgoff : NULL;
}

xchg_severity xchg_diag_severity(const xchg_diag *d, size_t i)
{
    return d && i < d->n ? d->v[i].sev : XCHG_SEV_ERROR;
}

unsigned xchg_diag_line(const xchg_diag *d, size_t i) { return d && i < d->n ? d->v[i].line : 0; }
unsigned xchg_diag_col(const xchg_diag *d, size_t i) { return d && i < d->n ? d->v[i].col : 0; }

void xchg_diag_copy(xchg_diag *dst, const xchg_diag *src)
{
    if (!dst || !src)
        return;
    for (size_t i = 0; i < src->n; i++) {
        const struct entry *e = &src->v[i];
        if (dst->n == dst->cap) {
            size_t nc = dst->cap ? dst->cap * 2 : 8;
            struct entry *nv = realloc(dst->v, nc * sizeof *nv);
            if (!nv) {
                dst->lost = 1;
                return;
            }
            dst->v = nv;
            dst->cap = nc;
        }
        char *t = strdup(e->text);
        if (!t) {
            dst->lost = 1;
            return;
        }
        dst->v[dst->n++] = (struct entry){e->sev, e->line, e->col, t, e->msgoff};
    }
    dst->lost |= src->lost;
}
