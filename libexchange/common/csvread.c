/* Streaming CSV reader over libcsv, feeding it one physical line at a time so that rows
 * can be located by line number. */
#include "exchange/csvread.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const char *path;
    xchg_diag *d;
    xchg_csv_row_fn fn;
    void *ctx;
    char *buf; /* field bytes of the current row, each NUL-terminated */
    size_t blen, bcap;
    size_t *offs, *lens;
    size_t n;
    unsigned cur_line, row_line;
    unsigned start_line; /* the last line that began outside any row: where a row starts */
    int row_open;
    int stop, err;
};

static void on_field(void *s, size_t len, void *data)
{
    struct rd *r = data;
    if (r->err || r->stop)
        return;
    if (!r->row_open) {
        r->row_open = 1;
        /* a first field quoted over several lines completes on a later line */
        r->row_line = r->start_line ? r->start_line : r->cur_line;
    }
    if (len > XCHG_CSV_MAX_FIELD) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, r->path, r->cur_line, 0,
                      "field %zu is longer than %u bytes", r->n + 1, XCHG_CSV_MAX_FIELD);
        r->err = XCHG_ERR_FORMAT;
        return;
    }
    if (r->n == XCHG_CSV_MAX_FIELDS) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, r->path, r->row_line, 0,
                      "row has more than %u fields", XCHG_CSV_MAX_FIELDS);
        r->err = XCHG_ERR_FORMAT;
        return;
    }
    if (len && memchr(s, '\0', len)) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, r->path, r->cur_line, 0,
                      "field %zu contains a NUL byte", r->n + 1);
        r->err = XCHG_ERR_FORMAT;
        return;
    }
    if (r->blen + len + 1 > r->bcap) {
        size_t nc = (r->blen + len + 1) * 2;
        char *nb = realloc(r->buf, nc);
        if (!nb) {
            r->err = XCHG_ERR_NOMEM;
            return;
        }
        r->buf = nb;
        r->bcap = nc;
    }
    if (len)
        memcpy(r->buf + r->blen, s, len);
    r->buf[r->blen + len] = '\0';
    r->offs[r->n] = r->blen;
    r->lens[r->n] = len;
    r->n++;
    r->blen += len + 1;
}

static void on_row(int c, void *data)
{
    struct rd *r = data;
    (void)c;
    if (r->err || r->stop) {
        r->n = r->blen = 0;
        r->row_open = 0;
        return;
    }
    if (r->n) {
        const char *fields[XCHG_CSV_MAX_FIELDS];
        for (size_t i = 0; i < r->n; i++)
            fields[i] = r->buf + r->offs[i];
        if (r->fn(r->ctx, r->row_line, fields, r->lens, r->n))
            r->stop = 1;
    }
    r->n = r->blen = 0;
    r->row_open = 0;
}

xchg_err xchg_csv_read(const char *path, xchg_csv_row_fn fn, void *ctx, int *stopped,
                       xchg_diag *d)
{
    if (!path || !fn)
        return XCHG_ERR_ARG;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        int e = errno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(e));
        return e == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
    }
    struct csv_parser p;
    struct rd r = {.path = path, .d = d, .fn = fn, .ctx = ctx, .cur_line = 0};
    xchg_err rc = XCHG_OK;
    char *line = NULL;
    size_t cap = 0;
    r.offs = malloc(XCHG_CSV_MAX_FIELDS * sizeof *r.offs);
    r.lens = malloc(XCHG_CSV_MAX_FIELDS * sizeof *r.lens);
    if (!r.offs || !r.lens || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        free(r.offs);
        free(r.lens);
        if (f != stdin)
            fclose(f);
        return XCHG_ERR_NOMEM;
    }
    ssize_t got;
    while (!r.err && !r.stop && (got = getline(&line, &cap, f)) >= 0) {
        r.cur_line++;
        if (p.pstate == 0) /* libcsv's ROW_NOT_BEGUN: no field or row is open */
            r.start_line = r.cur_line;
        const char *s = line;
        size_t n = (size_t)got;
        if (r.cur_line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
            s += 3;
            n -= 3;
        }
        if (memchr(s, '\0', n)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, r.cur_line, 0, "line contains a NUL byte");
            r.err = XCHG_ERR_FORMAT;
            break;
        }
        if (csv_parse(&p, s, n, on_field, on_row, &r) != n && !r.err) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, r.cur_line, 0, "malformed CSV: %s",
                          csv_strerror(csv_error(&p)));
            r.err = XCHG_ERR_FORMAT;
        }
    }
    if (!r.err && !r.stop && ferror(f)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, r.cur_line, 0, "cannot read: %s", strerror(errno));
        r.err = XCHG_ERR_IO;
    }
    if (!r.err && !r.stop && csv_fini(&p, on_field, on_row, &r) != 0 && !r.err) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, r.row_line ? r.row_line : r.cur_line, 0,
                      "malformed CSV: a quoted field is still open at the end of the file");
        r.err = XCHG_ERR_FORMAT;
    }
    rc = (xchg_err)r.err;
    if (stopped)
        *stopped = r.stop;
    csv_free(&p);
    free(line);
    free(r.buf);
    free(r.offs);
    free(r.lens);
    if (f != stdin)
        fclose(f);
    return rc;
}
