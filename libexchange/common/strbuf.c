/* A growable text buffer (strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL. */
static int grow(xchg__buf *b, size_t n)
{
    if (b->nomem)
        return 0;
    if (b->len + n + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
        b->nomem = 1;
        return 0;
    }
    b->s = ns;
    b->cap = cap;
    return 1;
}

void xchg__buf_put(xchg__buf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void xchg__buf_puts(xchg__buf *b, const char *s)
{
    xchg__buf_put(b, s, strlen(s));
}

void xchg__buf_printf(xchg__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int m = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (m < 0) {
        b->nomem = 1;
    } else if (grow(b, (size_t)m)) {
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        b->len += (size_t)m;
    }
    va_end(ap);
}
