/*
 * The CSV table reader the synthetic county's checkers share (libcsv): a file of rows with
 * a header line, BOM skipped, each row handed to t->on_row. The including file defines
 * MAXF, FIELD_MAX and fail() before including it. Test code only.
 */
#ifndef XCHG_SYNTH_TABLE_READER_H
#define XCHG_SYNTH_TABLE_READER_H

typedef struct table_reader {
    char *f[MAXF];
    int nf;
    long row;
    bool overflow;
    void (*on_row)(struct table_reader *, void *);
    void *arg;
    char *header[MAXF];
    int nheader;
} table_reader;

static void cb_field(void *s, size_t len, void *data)
{
    table_reader *t = data;
    if (t->nf >= MAXF || len >= FIELD_MAX) {
        t->overflow = true;
        return;
    }
    memcpy(t->f[t->nf], s, len);
    t->f[t->nf][len] = '\0';
    t->nf++;
}

static void cb_row(int c, void *data)
{
    (void)c;
    table_reader *t = data;
    if (t->row == 0) {
        for (int i = 0; i < t->nf; i++)
            t->header[i] = xstrdup(t->f[i]);
        t->nheader = t->nf;
    } else {
        if (t->nf != t->nheader)
            fail("row %ld has %d fields, header has %d", t->row, t->nf, t->nheader);
        else
            t->on_row(t, t->arg);
    }
    t->row++;
    t->nf = 0;
}

static int col(const table_reader *t, const char *name)
{
    for (int i = 0; i < t->nheader; i++)
        if (strcmp(t->header[i], name) == 0)
            return i;
    fail("missing column '%s'", name);
    return -1;
}

static const char *fld(const table_reader *t, int c)
{
    return c >= 0 ? t->f[c] : "";
}

/* Reads the whole file; returns its bytes (NUL-terminated) and size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail("cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        fail("cannot read %s", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void read_table(const char *path, table_reader *t, const char *buf, size_t len)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT) != 0) {
        fail("csv_init");
        return;
    }
    for (int i = 0; i < MAXF; i++)
        t->f[i] = malloc(FIELD_MAX);
    t->nf = 0;
    t->row = 0;
    if (csv_parse(&p, buf, len, cb_field, cb_row, t) != len)
        fail("%s: CSV parse error: %s", path, csv_strerror(csv_error(&p)));
    csv_fini(&p, cb_field, cb_row, t);
    csv_free(&p);
    if (t->overflow)
        fail("%s: field too long or too many fields", path);
    for (int i = 0; i < MAXF; i++)
        free(t->f[i]);
    for (int i = 0; i < t->nheader; i++)
        free(t->header[i]);
    t->nheader = 0;
}

static void read_file(const char *dir, const char *name, table_reader *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf)
        return;

#endif
