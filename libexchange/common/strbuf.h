/*
 * Private: a growable text buffer for the modules that write text (agreement drafts,
 * explanations, templates). Out of memory is sticky: every later call does nothing, and
 * the writer checks nomem once at the end. s is always NUL-terminated once anything has
 * been written; free(s) when done.
 */
#ifndef XCHG_STRBUF_H
#define XCHG_STRBUF_H

#include "exchange/common.h"

#include <stddef.h>

typedef struct xchg__buf {
    char *s;
    size_t len, cap;
    int nomem;
} xchg__buf;

void xchg__buf_put(xchg__buf *b, const char *s, size_t n);
void xchg__buf_puts(xchg__buf *b, const char *s);
XCHG_PRINTF(2, 3) void xchg__buf_printf(xchg__buf *b, const char *fmt, ...);

#endif
