/* Neutralising agency-controlled text for CSV files and terminals (textsafe.h). */
#include "exchange/textsafe.h"

#include <string.h>
#include <utf8proc.h>

int xchg_csv_field(FILE *f, const char *v)
{
    if (!f)
        return -1;
    if (!v)
        v = "";
    int formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' ||
                  v[0] == '\r';
    int quote = formula || strpbrk(v, ",\"\r\n") != NULL;
    if (!quote)
        return fputs(v, f) < 0 ? -1 : 0;
    int bad = putc('"', f) == EOF;
    if (formula)
        bad |= putc('\'', f) == EOF;
    for (const char *c = v; *c && !bad; c++) {
        if (*c == '"')
            bad |= putc('"', f) == EOF;
        bad |= putc(*c, f) == EOF;
    }
    bad |= putc('"', f) == EOF;
    return bad ? -1 : 0;
}

static int is_control(utf8proc_int32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

static int term_write(FILE *f, const char *v, int keep_newlines)
{
    if (!f)
        return -1;
    if (!v)
        return 0;
    size_t n = strlen(v);
    int bad = 0;
    for (size_t i = 0; i < n && !bad;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)v + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            bad |= fprintf(f, "\\x%02x", (unsigned char)v[i]) < 0;
            i++;
            continue;
        }
        if (keep_newlines && cp == '\n')
            bad |= putc('\n', f) == EOF;
        else if (is_control(cp) && cp < 0x80)
            bad |= fprintf(f, "\\x%02x", (unsigned)cp) < 0;
        else if (is_control(cp))
            bad |= fprintf(f, "\\u%04x", (unsigned)cp) < 0;
        else
            bad |= fwrite(v + i, 1, (size_t)k, f) != (size_t)k;
        i += (size_t)k;
    }
    return bad ? -1 : 0;
}

int xchg_term_safe(FILE *f, const char *v) { return term_write(f, v, 0); }

int xchg_term_safe_text(FILE *f, const char *v) { return term_write(f, v, 1); }

int xchg_text_check(const char *s, size_t n, size_t *at, uint32_t *cpo)
{
    for (size_t i = 0; s && i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            if (at)
                *at = i;
            return 1;
        }
        if (is_control(cp) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            if (at)
                *at = i;
            if (cpo)
                *cpo = (uint32_t)cp;
            return 2;
        }
        i += (size_t)k;
    }
    return 0;
}
