/* xchg-synth — CSV line building and the shuffling extract writer. */
#include "synth.h"

#include <stdarg.h>
#include <string.h>

void line_reset(synth_line *l)
{
    l->len = 0;
    l->buf[0] = '\0';
    l->overflow = false;
}

static void line_put(synth_line *l, const char *s, size_t n)
{
    if (l->len + n + 1 > sizeof l->buf) {
        l->overflow = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

void line_field(synth_line *l, const char *s)
{
    line_put(l, ",", 1);
    size_t n = strlen(s);
    bool quote = n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
    if (!quote)
        quote = strpbrk(s, ",\"\r\n") != NULL;
    if (!quote) {
        line_put(l, s, n);
        return;
    }
    line_put(l, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            line_put(l, "\"\"", 2);
        else
            line_put(l, p, 1);
    }
    line_put(l, "\"", 1);
}

void line_fieldf(synth_line *l, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        l->overflow = true;
        return;
    }
    line_field(l, tmp);
}

static void writer_emit(synth_writer *w, const synth_slot *s)
{
    if (s->line.overflow)
        w->overflow = true;
    unsigned long long ref = (unsigned long long)++w->next_ref;
    char refbuf[32];
    snprintf(refbuf, sizeof refbuf, "%s%0*llu", w->ref_prefix, w->ref_width, ref);
    fputs(refbuf, w->f);
    fwrite(s->line.buf, 1, s->line.len, w->f);
    fputs(w->crlf ? "\r\n" : "\n", w->f);
    fprintf(w->truth_rows, "%s,%s,%llu,%llu,%s\n", w->file, refbuf,
            (unsigned long long)s->person_id, (unsigned long long)s->household_id, s->errs);
    w->rows++;
}

synth_slot *writer_slot(synth_writer *w)
{
    if (w->used < w->cap)
        return &w->slots[w->used++];
    uint32_t j = rng_below(&w->shuffle, w->cap);
    writer_emit(w, &w->slots[j]);
    return &w->slots[j];
}

void writer_drain(synth_writer *w)
{
    while (w->used > 0) {
        uint32_t j = rng_below(&w->shuffle, w->used);
        writer_emit(w, &w->slots[j]);
        w->slots[j] = w->slots[--w->used];
    }
}
