/*
 * xchg_seal: CSV extract -> sealed extract. See include/exchange/seal.h and
 * docs/formats.md ("Extract header", "Extract record", "Tokens").
 *
 * Two passes over the CSV when the agreement has aggregate indicators (sum/ratio over a
 * person's rows): the first sums per group, the second writes records. Otherwise one.
 *
 * This file is the orchestration: CSV read -> column map -> normalise -> tokens (token.c)
 * -> CLK -> indicators (indicator.c) -> consent (consent.c decides) -> payload ->
 * container (xex.c), plus the validation report. emit() runs one record's stages.
 */
#include "exchange/seal.h"
#include "exchange/clk.h"
#include "exchange/consent.h"
#include "exchange/crypto.h"
#include "exchange/csvread.h"
#include "exchange/date.h"
#include "exchange/normalise.h"
#include "exchange/record.h"
#include "exchange/textsafe.h"
#include "exchange/threshold.h"
#include "exchange/xex.h"
#include "internal.h"
#include "hmap.h"
#include "indicator.h"
#include "seal_internal.h"
#include "token.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define VAL_MAX XCHG__VAL_MAX
#define KEY_BYTES 32

/* ---- the sealing run ---------------------------------------------------------- */

struct colmap {
    size_t field;
    long csv; /* CSV column index */
};

struct seal {
    const xchg_policy *pol;
    const xchg_policy_data *p;
    const xchg_extract *x;
    size_t agency;
    const xchg_seal_opts *o;
    xchg_seal_stats *st;
    xchg_diag *d;
    size_t messages, max_messages;
    int pass; /* 1: aggregates, 2: records */
    int header_seen;
    int fatal;
    xchg_err err;

    struct colmap *cols;
    size_t ncols;
    long ref_col, consent_col, consent_date_col, basis_col;
    size_t ncsv;

    xchg__val *vals; /* nfields */

    xchg__token_keys keys; /* token.c */
    xchg_oprf_client *oprf; /* OPRF mode: the key service's outputs (oprf.c) */
    xchg_oprf_cache *oprf_cache; /* and the agency's cache of earlier seals' outputs */
    const xchg_seckey *agency_key; /* the sealing agency's key (the cache opens with it) */

    xchg_clk_schema *clk_schema;
    xchg_clk_encoder *clk;
    size_t *clk_fields; /* per CLK feature: field index or XCHG_NONE */
    size_t clk_nfeat;
    uint8_t *clk_buf;

    xchg__indicators ind; /* indicator.c: conditions, aggregates of pass 1 */

    xchg__hmap refs;    /* digests of the record references seen */
    uint8_t *dk;        /* payload data key (secure) */
    uint8_t extract_id[16];
    const uint8_t *agreement_hash;
    xchg_xex_writer *w;
    uint8_t *recbuf;
    size_t reccap;
    /* under a release key: records encoded and waiting for their payload's wrap, which
       runs over every core a batch at a time (wrap_batch), then written in order */
    struct wrap_job *jobs;
    size_t njobs;
    uint8_t *zeros; /* the placeholder payload records are encoded with (nzeros bytes) */
    size_t nzeros;
    const char **date_fmts; /* for the consent date: every format this extract uses */
    FILE *report;           /* the validation report being written, or NULL */
    char *report_tmp;
    size_t ndate_fmts;
    const xchg__codes *codes; /* the mapping's code translations per column, or NULL */
    struct quality *quality;  /* per field (pass 2): values seen, unparseable, first lines */
};

/* How many of a field's non-empty values failed to parse, and where the first were:
 * a column in the wrong format is a systematic error, not a few typos (docs/mapping.md). */
#define QUALITY_LINES 5
#define QUALITY_MIN_BAD 3 /* fewer unparseable values than this are never "systematic" */
struct quality {
    uint64_t values, bad;
    unsigned first[QUALITY_LINES];
    size_t nfirst;
};

/* One line of the validation report (pass 2 only). Messages quote agency-controlled
 * values, so every field goes through xchg_csv_field (quoting, formula neutralisation). */
static void report_line(struct seal *s, unsigned line, const char *field, const char *outcome,
                        const char *msg)
{
    if (!s->report || s->pass != 2)
        return;
    fprintf(s->report, "%u,", line);
    xchg_csv_field(s->report, field);
    fputc(',', s->report);
    xchg_csv_field(s->report, outcome);
    fputc(',', s->report);
    xchg_csv_field(s->report, msg);
    fputc('\n', s->report);
}

/* One row problem: counted, kept in the diagnostics (up to a limit) and written to the
 * report (all of them). field may be NULL for problems of the whole row. */
XCHG_PRINTF(6, 7)
static void row_msg(struct seal *s, xchg_severity sev, unsigned line, const char *field,
                    int count, const char *fmt, ...)
{
    if (count && sev == XCHG_SEV_WARNING)
        s->st->warnings++;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    report_line(s, line, field, sev == XCHG_SEV_ERROR ? "rejected" : "warning", msg);
    if (s->messages++ < s->max_messages)
        xchg_diag_add(s->d, sev, s->o->input, line, 0, "%s", msg);
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Collapse runs of white space into one space for display. */
static void display_copy(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    int sp = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (isspace((unsigned char)s[i])) {
            sp = 1;
            continue;
        }
        if (sp && o && o + 1 < cap)
            out[o++] = ' ';
        sp = 0;
        out[o++] = s[i];
    }
    out[o] = '\0';
}

static const xchg_column *column_of(const struct seal *s, size_t field)
{
    return xchg__column_of(s->x, field);
}

/*
 * An invalid identifier as typed, for the CLK (agreement: fuzzy.invalid / clk_invalid):
 * the trimmed text, except that a date laid out as one of its column's formats, whatever
 * its numbers, is written in the canonical layout YYYY-MM-DD like valid dates are
 * ("13/13/1990" under %d/%m/%Y -> "1990-13-13"), so it lines up with them in the filter.
 */
static void typed_value(const struct seal *s, size_t fi, const char *raw, size_t n,
                        char out[VAL_MAX])
{
    xchg__strlcpy(out, raw, n, VAL_MAX);
    const xchg_column *c = column_of(s, fi);
    if (s->p->fields[fi].type != XCHG_FT_DATE)
        return;
    static const char *const iso[] = {"%Y-%m-%d"};
    const char *const *fmts = c && c->ndate_formats ? c->date_formats : iso;
    size_t nf = c && c->ndate_formats ? c->ndate_formats : 1;
    for (size_t k = 0; k < nf; k++) {
        int ymd[3] = {-1, -1, -1}; /* year, month, day */
        size_t i = 0;
        const char *f = fmts[k];
        int ok = 1;
        for (; *f && ok; f++) {
            int slot = -1, maxd = 0;
            if (f[0] == '%' && (f[1] == 'Y' || f[1] == 'm' || f[1] == 'd')) {
                slot = f[1] == 'Y' ? 0 : f[1] == 'm' ? 1 : 2;
                maxd = f[1] == 'Y' ? 4 : 2;
                f++;
            }
            if (slot < 0) {
                ok = i < n && raw[i] == *f;
                i++;
                continue;
            }
            int v = 0, d = 0;
            while (d < maxd && i < n && raw[i] >= '0' && raw[i] <= '9')
                v = v * 10 + (raw[i++] - '0'), d++;
            ok = slot == 0 ? d == 4 : d >= 1;
            ymd[slot] = v;
        }
        if (ok && i == n && ymd[0] >= 0 && ymd[1] >= 0 && ymd[2] >= 0) {
            snprintf(out, VAL_MAX, "%04d-%02d-%02d", ymd[0], ymd[1], ymd[2]);
            return;
        }
    }
}

/*
 * Normalise one field. Returns 0 when usable, 1 when the value is empty, -1 for an
 * invalid identifier (dropped, warning), -2 for a value the row cannot have (bad row).
 */
static int normalise_field(struct seal *s, size_t fi, const char *raw, size_t n, unsigned line)
{
    const xchg_field *f = &s->p->fields[fi];
    xchg__val *v = &s->vals[fi];
    const char *reason = NULL;
    v->present = 0;
    v->invalid = 0;
    v->canon[0] = v->display[0] = '\0';
    trim(&raw, &n);
    if (n == 0)
        return 1;
    struct quality *q = s->pass == 2 && s->quality ? &s->quality[fi] : NULL;
    if (q)
        q->values++;
    display_copy(v->display, sizeof v->display, raw, n);
    xchg_err e = XCHG_OK;
    switch (f->type) {
    case XCHG_FT_NAME:
        e = xchg_norm_name(raw, n, XCHG_NAME_MATCH, v->canon, sizeof v->canon);
        reason = "not valid UTF-8 text";
        break;
    case XCHG_FT_ADDRESS: {
        /* "44 High Gardens, Brookholme": trailing comma-separated parts without a digit
         * are locality or town names, already implied by the postcode; dropping them lets
         * "line 1, locality" match a plain first line. The first part is always kept. */
        size_t keep = n;
        for (;;) {
            const char *comma = NULL;
            for (size_t i = 0; i < keep; i++)
                if (raw[i] == ',')
                    comma = raw + i;
            if (!comma)
                break;
            int digit = 0;
            for (const char *c = comma + 1; c < raw + keep; c++)
                digit |= *c >= '0' && *c <= '9';
            if (digit)
                break;
            keep = (size_t)(comma - raw);
        }
        e = xchg_norm_address_line(raw, keep, v->canon, sizeof v->canon);
        reason = "not valid UTF-8 text";
        break;
    }
    case XCHG_FT_DATE: {
        const xchg_column *c = column_of(s, fi);
        static const char *const iso[] = {"%Y-%m-%d"};
        const char *const *fmts = c && c->ndate_formats ? c->date_formats : iso;
        size_t nf = c && c->ndate_formats ? c->ndate_formats : 1;
        e = xchg_norm_date_any(raw, n, fmts, nf, 0, &v->date, NULL, &reason);
        if (e == XCHG_OK) {
            xchg_date_format(v->date, v->canon);
            memcpy(v->display, v->canon, 11);
        }
        break;
    }
    case XCHG_FT_POSTCODE:
        e = xchg_norm_postcode(raw, n, &v->pc, &reason);
        if (e == XCHG_OK) {
            snprintf(v->canon, sizeof v->canon, "%s", v->pc.full);
            snprintf(v->display, sizeof v->display, "%s", v->pc.full);
        }
        break;
    case XCHG_FT_NHS:
        e = xchg_norm_nhs(raw, n, v->canon, &reason);
        break;
    case XCHG_FT_UPN:
        e = xchg_norm_upn(raw, n, v->canon, NULL, &reason);
        break;
    case XCHG_FT_NINO:
        e = xchg_norm_nino(raw, n, v->canon, &reason);
        break;
    case XCHG_FT_UPRN:
        e = xchg_norm_uprn(raw, n, v->canon, NULL, &reason);
        break;
    case XCHG_FT_SEX: {
        char c = (char)toupper((unsigned char)raw[0]);
        v->canon[0] = c == 'M' || c == 'F' ? c : 'U';
        v->canon[1] = '\0';
        break;
    }
    case XCHG_FT_TEXT:
        snprintf(v->canon, sizeof v->canon, "%s", v->display);
        break;
    case XCHG_FT_ID: {
        size_t o = 0;
        for (size_t i = 0; i < n && o + 1 < sizeof v->canon; i++)
            if (raw[i] != ' ' && raw[i] != '-')
                v->canon[o++] = (char)toupper((unsigned char)raw[i]);
        v->canon[o] = '\0';
        snprintf(v->display, sizeof v->display, "%s", v->canon);
        break;
    }
    case XCHG_FT_NUMBER: {
        char tmp[64];
        if (n >= sizeof tmp) {
            e = XCHG_ERR_FORMAT;
            reason = "too long for a number";
            break;
        }
        memcpy(tmp, raw, n);
        tmp[n] = '\0';
        char *end;
        errno = 0;
        v->num = strtod(tmp, &end);
        if (errno || *end || !isfinite(v->num)) {
            e = XCHG_ERR_FORMAT;
            reason = "not a number";
        }
        snprintf(v->canon, sizeof v->canon, "%s", tmp);
        break;
    }
    case XCHG_FT_CODE: {
        e = XCHG_ERR_FORMAT;
        reason = "not one of the agreement's values";
        for (size_t i = 0; i < f->nvalues; i++)
            if (strlen(f->values[i]) == strlen(v->display) &&
                strcasecmp(f->values[i], v->display) == 0) {
                snprintf(v->canon, sizeof v->canon, "%s", f->values[i]);
                snprintf(v->display, sizeof v->display, "%s", f->values[i]);
                e = XCHG_OK;
            }
        break;
    }
    }
    if (e != XCHG_OK) {
        v->canon[0] = '\0';
        if (q && q->bad++ < QUALITY_LINES)
            q->first[q->nfirst++] = line;
        int identifier = f->type == XCHG_FT_NHS || f->type == XCHG_FT_UPN ||
                         f->type == XCHG_FT_NINO || f->type == XCHG_FT_UPRN ||
                         f->type == XCHG_FT_POSTCODE || f->type == XCHG_FT_NAME ||
                         f->type == XCHG_FT_ADDRESS || f->type == XCHG_FT_ID ||
                         (f->type == XCHG_FT_DATE && f->identifying);
        /* never echo an identifying value into messages: they end up in logs */
        if (identifier) {
            row_msg(s, XCHG_SEV_WARNING, line, f->name, 1,
                    "field '%s' (column '%s'): invalid %s (%s); left out of this row's tokens",
                    f->name, column_of(s, fi)->csv, xchg_field_type_name(f->type),
                    reason ? reason : "invalid");
            s->st->dropped_identifiers++;
            typed_value(s, fi, raw, n, v->typed);
            v->invalid = 1;
            return -1;
        }
        row_msg(s, XCHG_SEV_ERROR, line, f->name, 0, "field '%s' (column '%s'): '%s' is %s", f->name,
                column_of(s, fi)->csv, v->display, reason ? reason : "invalid");
        v->display[0] = '\0';
        return -2;
    }
    if (v->canon[0] == '\0' && f->type != XCHG_FT_TEXT)
        return 1; /* e.g. a name of punctuation only */
    if (f->type == XCHG_FT_NHS || f->type == XCHG_FT_UPN || f->type == XCHG_FT_NINO ||
        f->type == XCHG_FT_UPRN)
        snprintf(v->display, sizeof v->display, "%s", v->canon);
    v->present = 1;
    return 0;
}

/* ---- consent ------------------------------------------------------------------------ */

static uint8_t consent_status(struct seal *s, const char *raw, size_t n, unsigned line)
{
    trim(&raw, &n);
    if (n == 0)
        return XCHG_CONSENT_NOT_SOUGHT;
    for (int st = 0; st < 4; st++)
        for (size_t i = 0; i < s->x->nconsent_values[st]; i++) {
            const char *v = s->x->consent_values[st][i];
            if (strlen(v) == n && strncasecmp(v, raw, n) == 0)
                return (uint8_t)st;
        }
    row_msg(s, XCHG_SEV_WARNING, line, s->x->consent_column, 1,
            "column '%s': consent value '%.*s' is not one the agreement knows; recorded as not "
            "sought",
            s->x->consent_column, (int)(n > 40 ? 40 : n), raw);
    return XCHG_CONSENT_NOT_SOUGHT;
}

/* ---- the per-row callback ------------------------------------------------------------ */

static long find_col(const char *const *f, const size_t *lens, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = f[i];
        size_t l = lens[i];
        trim(&s, &l);
        if (l == strlen(name) && memcmp(s, name, l) == 0)
            return (long)i;
    }
    return -1;
}

static int read_header(struct seal *s, const char *const *f, const size_t *lens, size_t n)
{
    int bad = 0;
    s->ncsv = n;
    s->ref_col = find_col(f, lens, n, s->x->record_ref);
    if (s->ref_col < 0) {
        xchg_diag_add(s->d, XCHG_SEV_ERROR, s->o->input, 1, 0,
                      "column '%s' (the record reference) is missing from the header",
                      s->x->record_ref);
        bad = 1;
    }
    s->consent_col = s->x->consent_column ? find_col(f, lens, n, s->x->consent_column) : -1;
    if (s->x->consent_column && s->consent_col < 0) {
        xchg_diag_add(s->d, XCHG_SEV_ERROR, s->o->input, 1, 0,
                      "column '%s' (consent) is missing from the header", s->x->consent_column);
        bad = 1;
    }
    s->consent_date_col = s->x->consent_date_column
                              ? find_col(f, lens, n, s->x->consent_date_column)
                              : -1;
    s->basis_col = s->x->basis_column ? find_col(f, lens, n, s->x->basis_column) : -1;
    if (s->x->consent_date_column && s->consent_date_col < 0)
        xchg_diag_add(s->d, XCHG_SEV_WARNING, s->o->input, 1, 0,
                      "column '%s' (consent date) is missing from the header",
                      s->x->consent_date_column);
    if (s->x->basis_column && s->basis_col < 0)
        xchg_diag_add(s->d, XCHG_SEV_WARNING, s->o->input, 1, 0,
                      "column '%s' (legal basis) is missing from the header; no record will "
                      "carry a basis for sharing without consent",
                      s->x->basis_column);
    size_t found = 0;
    for (size_t i = 0; i < s->x->ncolumns; i++)
        found += find_col(f, lens, n, s->x->columns[i].csv) >= 0;
    if (s->ref_col < 0 || 2 * found < s->x->ncolumns) {
        xchg_diag_add(s->d, XCHG_SEV_ERROR, s->o->input, 1, 0,
                      "this does not look like the '%s' extract the agreement describes (%zu of "
                      "%zu mapped columns found%s): is it another agency's extract, or not a CSV "
                      "file?",
                      s->p->parties[s->agency].id, found, s->x->ncolumns,
                      s->ref_col < 0 ? ", no record reference" : "");
        return 1;
    }
    for (size_t i = 0; i < s->x->ncolumns; i++) {
        s->cols[i].field = s->x->columns[i].field;
        s->cols[i].csv = find_col(f, lens, n, s->x->columns[i].csv);
        if (s->cols[i].csv < 0) {
            xchg_diag_add(s->d, XCHG_SEV_ERROR, s->o->input, 1, 0,
                          "column '%s' (field %s) is missing from the header",
                          s->x->columns[i].csv, s->p->fields[s->x->columns[i].field].name);
            bad = 1;
        }
    }
    if (s->pass == 2)
        for (size_t i = 0; i < n; i++) {
            int known = (long)i == s->ref_col || (long)i == s->consent_col ||
                        (long)i == s->consent_date_col || (long)i == s->basis_col;
            for (size_t j = 0; j < s->x->ncolumns; j++)
                known |= s->cols[j].csv == (long)i;
            if (!known)
                xchg_diag_add(s->d, XCHG_SEV_NOTE, s->o->input, 1, 0,
                              "column '%s' is not in the agreement: ignored (it never leaves "
                              "the agency)",
                              f[i]);
        }
    return bad;
}

static int load_row(struct seal *s, unsigned line, const char *const *f, const size_t *lens,
                    size_t n, int *bad)
{
    if (n != s->ncsv) {
        row_msg(s, XCHG_SEV_ERROR, line, NULL, 0, "row has %zu fields, the header has %zu", n,
                s->ncsv);
        *bad = 1;
        return 0;
    }
    for (size_t i = 0; i < s->p->nfields; i++)
        s->vals[i].present = s->vals[i].invalid = 0;
    for (size_t i = 0; i < s->x->ncolumns; i++) {
        size_t c = (size_t)s->cols[i].csv;
        const char *raw = f[c];
        size_t rl = lens[c];
        if (s->codes && s->codes[i].n) { /* the mapping's translation of the agency's code */
            const char *t = raw;
            size_t tl = rl;
            trim(&t, &tl);
            for (size_t k = 0; k < s->codes[i].n; k++)
                if (strlen(s->codes[i].from[k]) == tl &&
                    strncasecmp(s->codes[i].from[k], t, tl) == 0) {
                    raw = s->codes[i].to[k];
                    rl = strlen(raw);
                    break;
                }
        }
        if (normalise_field(s, s->cols[i].field, raw, rl, line) == -2)
            *bad = 1;
    }
    return 1;
}

/* After pass 2: every field whose share of unparseable values is above the agreement's
 * quality threshold, named with its column and first lines. Returns how many. */
static uint64_t quality_check(struct seal *s, xchg_severity sev)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->x->ncolumns; i++) {
        size_t fi = s->x->columns[i].field;
        const struct quality *q = &s->quality[fi];
        double max = xchg_policy_max_unparseable(s->pol, fi);
        /* a few bad values in a small extract are typos, reported row by row */
        if (q->bad < QUALITY_MIN_BAD || (double)q->bad <= max * (double)q->values)
            continue;
        n++;
        char lines[96];
        size_t o = 0;
        lines[0] = '\0';
        for (size_t k = 0; k < q->nfirst; k++)
            o += (size_t)snprintf(lines + o, sizeof lines - o, "%s%u", k ? ", " : "",
                                  q->first[k]);
        const xchg_field *f = &s->p->fields[fi];
        char fmts[160];
        fmts[0] = '\0';
        if (f->type == XCHG_FT_DATE) {
            const xchg_column *c = &s->x->columns[i];
            size_t w = (size_t)snprintf(fmts, sizeof fmts, "; the column is read as ");
            if (!c->ndate_formats)
                snprintf(fmts + w, sizeof fmts - w, "%%Y-%%m-%%d");
            for (size_t k = 0; k < c->ndate_formats && w < sizeof fmts; k++)
                w += (size_t)snprintf(fmts + w, sizeof fmts - w, "%s%s", k ? " or " : "",
                                      c->date_formats[k]);
        }
        xchg_diag_add(s->d, sev, s->o->input, 0, 0,
                      "column '%s' (field %s): %llu of %llu values (%.1f%%) are not a valid %s, "
                      "more than the agreement's quality threshold of %.1f%%: a systematic "
                      "error, not a typo (first at line%s %s%s%s)",
                      s->x->columns[i].csv, f->name, (unsigned long long)q->bad,
                      (unsigned long long)q->values, 100.0 * (double)q->bad / (double)q->values,
                      xchg_field_type_name(f->type), 100.0 * max, q->nfirst == 1 ? "" : "s",
                      lines, q->bad > q->nfirst ? ", ..." : "", fmts);
    }
    return n;
}

static int emit(struct seal *s, unsigned line, const char *const *f, const size_t *lens);

static int on_row(void *ctx, unsigned line, const char *const *f, const size_t *lens, size_t n)
{
    struct seal *s = ctx;
    if (!s->header_seen) {
        s->header_seen = 1;
        if (read_header(s, f, lens, n)) {
            s->fatal = 1;
            s->err = XCHG_ERR_FORMAT;
            return 1;
        }
        return 0;
    }
    int bad = 0;
    if (s->pass == 1) {
        if (load_row(s, line, f, lens, n, &bad) && !bad &&
            ((s->ind.nagg && xchg__ind_accumulate(&s->ind, s->vals) != 0) ||
             (s->oprf && xchg__tokens_oprf_collect(&s->keys, s->p, s->vals, s->oprf) != XCHG_OK))) {
            s->err = XCHG_ERR_NOMEM;
            return 1;
        }
        return 0;
    }
    s->st->rows++;
    /* pass 1 already reported field problems when it ran; do not repeat them */
    size_t saved = s->messages;
    if (!load_row(s, line, f, lens, n, &bad) || bad) {
        s->st->rejected++;
        return 0;
    }
    (void)saved;
    return emit(s, line, f, lens);
}

static json_t *payload_json(struct seal *s, const char *ref, size_t ref_len)
{
    json_t *o = json_object(), *fields = json_object();
    if (!o || !fields) {
        json_decref(o);
        json_decref(fields);
        return NULL;
    }
    json_object_set_new(o, "agency", json_string(s->p->parties[s->agency].id));
    json_object_set_new(o, "ref", json_stringn(ref, ref_len));
    for (size_t i = 0; i < s->x->npayload; i++) {
        const xchg__val *v = &s->vals[s->x->payload[i]];
        if (v->display[0])
            json_object_set_new(fields, s->p->fields[s->x->payload[i]].name,
                                json_string(v->display));
    }
    json_object_set_new(o, "fields", fields);
    return o;
}

/* ---- one record: the stages of emit() ---------------------------------------------- */

/* What a stage of emit() says: go on; the row is bad (counted and reported, the run goes
 * on); stop the run (s->err is set). */
enum step { STEP_OK, STEP_BAD, STEP_STOP };

/* The record reference: present, not too long, decodable, and not seen before. */
static enum step record_ref(struct seal *s, unsigned line, const char *const *f,
                            const size_t *lens, xchg_record *r)
{
    const char *ref = f[s->ref_col];
    size_t ref_len = lens[s->ref_col];
    trim(&ref, &ref_len);
    if (ref_len == 0 || ref_len > XCHG_RECORD_MAX_REF) {
        row_msg(s, XCHG_SEV_ERROR, line, s->x->record_ref, 0, "column '%s': the record reference is %s",
                s->x->record_ref, ref_len ? "longer than 256 bytes" : "empty");
        s->st->rejected++;
        return STEP_BAD;
    }
    /* the reference travels to the matcher, into packets and onto key workers' screens:
     * an undecodable one would silently fail to match the agency's case later */
    size_t at = 0;
    uint32_t cp = 0;
    int tc = xchg_text_check(ref, ref_len, &at, &cp);
    if (tc) {
        if (tc == 1)
            row_msg(s, XCHG_SEV_ERROR, line, s->x->record_ref, 0,
                    "column '%s': the record reference is not valid UTF-8 (byte %zu)",
                    s->x->record_ref, at + 1);
        else
            row_msg(s, XCHG_SEV_ERROR, line, s->x->record_ref, 0,
                    "column '%s': the record reference contains a control character (U+%04X at "
                    "byte %zu)",
                    s->x->record_ref, (unsigned)cp, at + 1);
        s->st->rejected++;
        return STEP_BAD;
    }
    uint8_t rd[16];
    xchg__digest16(ref, ref_len, rd);
    int found;
    if (xchg__hmap_slot(&s->refs, rd, 1, &found) < 0) {
        s->err = XCHG_ERR_NOMEM;
        return STEP_STOP;
    }
    if (found) {
        row_msg(s, XCHG_SEV_ERROR, line, s->x->record_ref, 0,
                "column '%s': record reference '%.*s' appears more than once", s->x->record_ref,
                (int)ref_len, ref);
        s->st->rejected++;
        return STEP_BAD;
    }
    r->ref = ref;
    r->ref_len = ref_len;
    return STEP_OK;
}

/* Indicators (indicator.c) come first: a row whose indicator cannot be dated is bad. */
static enum step indicators(struct seal *s, unsigned line, xchg_record *r)
{
    xchg__ind_fault fault;
    if (!xchg__ind_evaluate(&s->ind, s->vals, r, &s->st->out_of_period, &fault))
        return STEP_OK;
    const xchg_indicator *in = fault.in;
    const char *kind = in->measure != XCHG_NONE ? "measure" : "problem";
    const char *name = in->measure != XCHG_NONE ? s->p->measures[in->measure].name
                                                : s->p->problems[in->problem].code;
    if (fault.kind == XCHG__IND_NO_DATE)
        row_msg(s, XCHG_SEV_ERROR, line, s->p->fields[in->date_field].name, 0,
                "%s '%s' is indicated but its date field '%s' is empty", kind, name,
                s->p->fields[in->date_field].name);
    else
        row_msg(s, XCHG_SEV_ERROR, line, s->p->fields[in->end_field].name, 0,
                "%s '%s': '%s' is before '%s'", kind, name, s->p->fields[in->end_field].name,
                s->p->fields[in->date_field].name);
    s->st->rejected++;
    return STEP_BAD;
}

/* Tokens (token.c); a row without any match token can only be linked by fuzzy matching. */
static void tokens(struct seal *s, unsigned line, xchg_record *r)
{
    xchg__tokens_make(&s->keys, s->p, s->x, s->vals, r);
    if (r->nmatch == 0) {
        s->st->no_tokens++;
        row_msg(s, XCHG_SEV_WARNING, line, NULL, 1,
                "no match key can be formed from this row (identifiers missing or invalid); "
                "it can only be linked by fuzzy matching");
    }
}

/* The Bloom-filter encoding (CLK), when the agreement has a schema. */
static void clk_encode(struct seal *s, unsigned line, xchg_record *r)
{
    if (!s->clk)
        return;
    const char *fields[64];
    size_t flens[64];
    int ntyped = 0;
    for (size_t i = 0; i < s->clk_nfeat && i < 64; i++) {
        size_t fi = s->clk_fields[i];
        fields[i] = fi != XCHG_NONE && s->vals[fi].present ? s->vals[fi].canon : "";
        /* an invalid identifier is encoded as typed unless the agreement says drop */
        if (fi != XCHG_NONE && s->vals[fi].invalid &&
            (s->p->fields[fi].clk_invalid ? s->p->fields[fi].clk_invalid
                                          : s->p->fuzzy.invalid) != XCHG_CLK_INVALID_DROP) {
            fields[i] = s->vals[fi].typed;
            ntyped++;
        }
        flens[i] = strlen(fields[i]);
    }
    xchg_diag *tmp = xchg_diag_new();
    xchg_err ce = xchg_clk_encode(s->clk, fields, flens, s->clk_nfeat, s->clk_buf, tmp);
    if (ce == XCHG_ERR_FORMAT && ntyped) {
        /* the schema's own format refuses a typed value (as clkhash would, e.g. a date
         * feature and month 13): that feature is left empty, not the whole filter */
        for (size_t i = 0; i < s->clk_nfeat && i < 64; i++) {
            size_t fi = s->clk_fields[i];
            if (fi != XCHG_NONE && s->vals[fi].invalid && fields[i] == s->vals[fi].typed)
                fields[i] = "", flens[i] = 0;
        }
        xchg_diag_clear(tmp);
        ce = xchg_clk_encode(s->clk, fields, flens, s->clk_nfeat, s->clk_buf, tmp);
    }
    if (ce == XCHG_OK) {
        r->clk = s->clk_buf;
        r->clk_len = xchg_clk_filter_bytes(s->clk_schema);
    } else {
        row_msg(s, XCHG_SEV_WARNING, line, NULL, 1, "no Bloom-filter encoding for this row: %s",
                xchg_diag_count(tmp) ? xchg_diag_message(tmp, 0) : "encoding failed");
    }
    xchg_diag_free(tmp);
}

/* The row's consent status, consent date and legal basis (basis: 256 bytes, r->basis
 * points at it). */
static void read_consent(struct seal *s, unsigned line, const char *const *f, const size_t *lens,
                         xchg_record *r, char basis[256])
{
    r->consent = s->consent_col >= 0
                     ? consent_status(s, f[s->consent_col], lens[s->consent_col], line)
                     : XCHG_CONSENT_NOT_SOUGHT; /* linkage-only agreement */
    r->consent_date = XCHG_DATE_NONE;
    if (s->consent_date_col >= 0) {
        const char *cd = f[s->consent_date_col];
        size_t cl = lens[s->consent_date_col];
        trim(&cd, &cl);
        int32_t day;
        if (cl && xchg_norm_date_any(cd, cl, s->date_fmts, s->ndate_fmts, 0, &day, NULL, NULL) ==
                      XCHG_OK)
            r->consent_date = day;
        else if (cl)
            row_msg(s, XCHG_SEV_WARNING, line, s->x->consent_date_column, 1,
                    "column '%s': '%.*s' is not a date",
                    s->x->consent_date_column, (int)(cl > 40 ? 40 : cl), cd);
    }
    basis[0] = '\0';
    if (s->basis_col >= 0) {
        const char *b = f[s->basis_col];
        size_t bl = lens[s->basis_col];
        trim(&b, &bl);
        if (bl > 255)
            bl = 255;
        for (size_t i = 0; i < bl; i++)
            basis[i] = (char)tolower((unsigned char)b[i]);
        basis[bl] = '\0';
    }
    r->basis = basis;
    r->basis_len = strlen(basis);
}

/* Identification consent (consent.c): a record the agreement does not let identify a
 * family carries no indicators at all (the matcher never receives evidence it may not
 * use); its tokens, consent and payload still travel so linkage and release stay right.
 * 1 when denied: *withheld events were dropped, why says why. */
static int identification_consent(struct seal *s, xchg_record *r, char *why, size_t whylen,
                                  size_t *withheld)
{
    *withheld = 0;
    int denied = !xchg_consent_decide(s->pol, s->agency, XCHG_PURPOSE_IDENTIFICATION, r->consent,
                                      r->consent_date, r->basis, why, whylen);
    if (denied) {
        *withheld = r->nind;
        r->nind = 0;
    }
    return denied;
}

/* ---- the release-key wrap, a batch at a time over every core ------------------------ */

/* Two ristretto255 multiplications per record are most of sealing's cost under a release
 * key (docs/release.md): records are encoded with room for the wrapped payload, queued,
 * wrapped WRAP_BATCH at a time by a few threads, and written in their order. The bytes
 * are exactly those the one-record path writes (the wrap's randomness aside). */
#define WRAP_BATCH 512
#define WRAP_THREADS_MAX 16

struct wrap_job {
    uint8_t *buf; /* the encoded record; the wrapped payload goes to buf + off */
    size_t len, off;
    uint8_t *ct; /* the payload ciphertext to wrap (ctlen bytes) */
    size_t ctlen;
    uint8_t ctx[XCHG_TH_CTX_BYTES];
    xchg_err err;
};

struct wrap_work {
    struct wrap_job *jobs;
    size_t from, to;
    const uint8_t *pub;
};

static void *wrap_range(void *arg)
{
    struct wrap_work *w = arg;
    for (size_t i = w->from; i < w->to; i++) {
        struct wrap_job *j = &w->jobs[i];
        j->err = xchg_threshold_wrap(w->pub, j->ctx, j->ct, j->ctlen, j->buf + j->off);
    }
    return NULL;
}

static void wrap_job_free(struct wrap_job *j)
{
    if (j->buf) {
        sodium_memzero(j->buf, j->len);
        free(j->buf);
    }
    if (j->ct) {
        sodium_memzero(j->ct, j->ctlen);
        free(j->ct);
    }
    memset(j, 0, sizeof *j);
}

static unsigned wrap_threads(size_t n)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned t = c < 1 ? 1 : c > WRAP_THREADS_MAX ? WRAP_THREADS_MAX : (unsigned)c;
    return n < 64 ? 1 : t; /* a handful of records: not worth a thread */
}

/* Wrap every queued record's payload (threads), then write them in order. */
static enum step wrap_flush(struct seal *s)
{
    size_t n = s->njobs;
    if (!n)
        return STEP_OK;
    unsigned t = wrap_threads(n);
    pthread_t th[WRAP_THREADS_MAX];
    struct wrap_work w[WRAP_THREADS_MAX];
    unsigned started = 0;
    for (unsigned i = 0; i < t; i++) {
        w[i] = (struct wrap_work){s->jobs, n * i / t, n * (i + 1) / t, s->p->release_key.pub};
        if (i > 0 && pthread_create(&th[i], NULL, wrap_range, &w[i]) == 0)
            started |= 1u << i;
        else if (i > 0)
            wrap_range(&w[i]); /* no thread: do it here */
    }
    wrap_range(&w[0]);
    for (unsigned i = 1; i < t; i++)
        if (started & (1u << i))
            pthread_join(th[i], NULL);
    xchg_err e = XCHG_OK;
    for (size_t i = 0; i < n; i++) {
        struct wrap_job *j = &s->jobs[i];
        if (e == XCHG_OK)
            e = j->err;
        if (e == XCHG_OK && s->w)
            e = xchg_xex_writer_add(s->w, j->buf, j->len);
        wrap_job_free(j);
    }
    s->njobs = 0;
    if (e != XCHG_OK) {
        s->err = e;
        return STEP_STOP;
    }
    return STEP_OK;
}

static void wrap_discard(struct seal *s)
{
    free(s->zeros);
    s->zeros = NULL;
    s->nzeros = 0;
    for (size_t i = 0; i < s->njobs; i++)
        wrap_job_free(&s->jobs[i]);
    s->njobs = 0;
    free(s->jobs);
    s->jobs = NULL;
}

/* Encode r with room for its wrapped payload and queue it (r->payload is the unwrapped
 * ciphertext ct, whose ownership passes to the queue); a full batch is wrapped and
 * written. */
static enum step wrap_queue(struct seal *s, xchg_record *r, uint8_t **ct)
{
    const xchg_release_key *rk = &s->p->release_key;
    if (!s->jobs && !(s->jobs = calloc(WRAP_BATCH, sizeof *s->jobs))) {
        s->err = XCHG_ERR_NOMEM;
        return STEP_STOP;
    }
    struct wrap_job *j = &s->jobs[s->njobs];
    memset(j, 0, sizeof *j);
    size_t ctlen = r->payload_len;
    xchg_record q = *r;
    q.payload_len = ctlen + XCHG_TH_WRAP_OVERHEAD;
    q.payload = NULL;
    size_t need = xchg_record_size(&q);
    j->buf = malloc(need);
    /* encoded with a zero placeholder of the wrapped length, filled in by the wrap */
    if (j->buf && q.payload_len > s->nzeros) {
        uint8_t *z = calloc(1, q.payload_len);
        if (z) {
            free(s->zeros);
            s->zeros = z;
            s->nzeros = q.payload_len;
        }
    }
    xchg_err e = j->buf && q.payload_len <= s->nzeros ? XCHG_OK : XCHG_ERR_NOMEM;
    if (e == XCHG_OK) {
        q.payload = s->zeros;
        e = xchg_record_encode(&q, j->buf, need, &j->len);
    }
    if (e == XCHG_OK)
        e = xchg_threshold_context(s->agreement_hash, rk->deal, s->extract_id, r->ref,
                                   r->ref_len, j->ctx);
    if (e != XCHG_OK) {
        wrap_job_free(j);
        s->err = e;
        return STEP_STOP;
    }
    j->off = j->len - q.payload_len; /* the payload is the encoding's last field */
    j->ct = *ct;
    j->ctlen = ctlen;
    *ct = NULL;
    if (++s->njobs == WRAP_BATCH)
        return wrap_flush(s);
    return STEP_OK;
}

/* Under an agreement with a release key (docs/release.md "The release key") the payload
 * ciphertext is wrapped again, under the operators' threshold key, for this record's
 * context: the matcher stores only the wrapped form, which needs the recipient's key
 * and the approving operators' contributions to open. *ct is replaced. */
static enum step release_wrap(struct seal *s, xchg_record *r, uint8_t **ct)
{
    const xchg_release_key *rk = &s->p->release_key;
    if (!rk->present)
        return STEP_OK;
    uint8_t ctx[XCHG_TH_CTX_BYTES];
    uint8_t *w = malloc(r->payload_len + XCHG_TH_WRAP_OVERHEAD);
    xchg_err e = w ? xchg_threshold_context(s->agreement_hash, rk->deal, s->extract_id, r->ref,
                                            r->ref_len, ctx)
                   : XCHG_ERR_NOMEM;
    if (e == XCHG_OK)
        e = xchg_threshold_wrap(rk->pub, ctx, r->payload, r->payload_len, w);
    free(*ct);
    *ct = NULL;
    if (e != XCHG_OK) {
        free(w);
        s->err = e;
        return STEP_STOP;
    }
    *ct = w;
    r->payload = w;
    r->payload_len += XCHG_TH_WRAP_OVERHEAD;
    return STEP_OK;
}

/* The payload, encrypted to the recipients: *ct (malloc'd) becomes r's payload. */
static enum step encrypt_payload(struct seal *s, unsigned line, xchg_record *r, uint8_t **ct)
{
    json_t *pj = payload_json(s, r->ref, r->ref_len);
    char *pt = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pj);
    if (!pt) {
        s->err = XCHG_ERR_NOMEM;
        return STEP_STOP;
    }
    size_t ptl = strlen(pt);
    *ct = malloc(ptl + XCHG_PAYLOAD_OVERHEAD);
    if (!*ct || ptl + XCHG_PAYLOAD_OVERHEAD + XCHG_TH_WRAP_OVERHEAD > XCHG_RECORD_MAX_PAYLOAD) {
        sodium_memzero(pt, ptl);
        free(pt);
        if (!*ct) {
            s->err = XCHG_ERR_NOMEM;
            return STEP_STOP;
        }
        free(*ct);
        *ct = NULL;
        row_msg(s, XCHG_SEV_ERROR, line, NULL, 0, "the row's detail is too large to seal");
        s->st->rejected++;
        return STEP_BAD;
    }
    xchg_payload_encrypt(s->dk, s->agreement_hash, s->extract_id, r->ref, r->ref_len, pt, ptl,
                         *ct);
    sodium_memzero(pt, ptl);
    free(pt);
    r->payload = *ct;
    r->payload_len = ptl + XCHG_PAYLOAD_OVERHEAD;
    if (s->p->release_key.present && s->w)
        return STEP_OK; /* wrapped in a batch: wrap_queue */
    return release_wrap(s, r, ct);
}

/* Encode the record and add it to the sealed extract. */
static enum step write_record(struct seal *s, const xchg_record *r)
{
    size_t need = xchg_record_size(r), len = 0;
    if (need > s->reccap) {
        uint8_t *nb = realloc(s->recbuf, need);
        if (!nb) {
            s->err = XCHG_ERR_NOMEM;
            return STEP_STOP;
        }
        s->recbuf = nb;
        s->reccap = need;
    }
    xchg_err e = xchg_record_encode(r, s->recbuf, s->reccap, &len);
    if (e == XCHG_OK && s->w) /* no writer: a check (opts->check_only) */
        e = xchg_xex_writer_add(s->w, s->recbuf, len);
    sodium_memzero(s->recbuf, len);
    if (e != XCHG_OK) {
        s->err = e;
        return STEP_STOP;
    }
    return STEP_OK;
}

/* Counted, and a record sealed without its indicators reported, once it is written. */
static void count_sealed(struct seal *s, unsigned line, const xchg_record *r, int denied,
                         const char *why, size_t withheld)
{
    s->st->sealed++;
    s->st->indicators += r->nind;
    if (denied) {
        char msg[320];
        snprintf(msg, sizeof msg,
                 "consent: not usable for identification (%s): sealed without its %zu "
                 "indicator event%s",
                 why, withheld, withheld == 1 ? "" : "s");
        report_line(s, line, s->x->consent_column, "no-indicators", msg);
        s->st->identification_denied++;
        s->st->indicators_withheld += withheld;
    }
}

/* Wipe the row's clear values. */
static void wipe_row(struct seal *s)
{
    for (size_t i = 0; i < s->p->nfields; i++)
        if (s->vals[i].present)
            sodium_memzero(&s->vals[i], sizeof s->vals[i]);
}

/* One good row -> one sealed record. 0 to go on (the row may have been rejected), 1 to
 * stop the run (s->err). */
static int emit(struct seal *s, unsigned line, const char *const *f, const size_t *lens)
{
    xchg_record r;
    memset(&r, 0, sizeof r);
    enum step k;
    if ((k = record_ref(s, line, f, lens, &r)) != STEP_OK ||
        (k = indicators(s, line, &r)) != STEP_OK)
        return k == STEP_STOP;
    tokens(s, line, &r);
    clk_encode(s, line, &r);
    char area[XCHG_RECORD_MAX_AREA + 1];
    xchg__ind_person(&s->ind, s->vals, &r, area);
    char basis[256], why[160];
    size_t withheld;
    read_consent(s, line, f, lens, &r, basis);
    int denied = identification_consent(s, &r, why, sizeof why, &withheld);
    uint8_t *ct = NULL;
    if ((k = encrypt_payload(s, line, &r, &ct)) != STEP_OK)
        return k == STEP_STOP;
    k = s->p->release_key.present && s->w ? wrap_queue(s, &r, &ct) : write_record(s, &r);
    free(ct);
    if (k != STEP_OK)
        return 1;
    count_sealed(s, line, &r, denied, why, withheld);
    wipe_row(s);
    return 0;
}

/* ---- set-up ---------------------------------------------------------------------- */

static xchg_err setup_clk(struct seal *s, const xchg_secret *sec)
{
    const xchg_policy_data *p = s->p;
    if (!p->fuzzy.clk_schema_json)
        return XCHG_OK;
    xchg_err e = xchg_clk_schema_parse_json(p->fuzzy.clk_schema_json, p->fuzzy.clk_schema_len,
                                            &s->clk_schema, s->d);
    if (e != XCHG_OK)
        return e;
    s->clk_nfeat = xchg_clk_schema_nfeatures(s->clk_schema);
    if (s->clk_nfeat > 64)
        return XCHG_ERR_POLICY;
    s->clk_fields = calloc(s->clk_nfeat ? s->clk_nfeat : 1, sizeof *s->clk_fields);
    s->clk_buf = malloc(xchg_clk_filter_bytes(s->clk_schema));
    if (!s->clk_fields || !s->clk_buf)
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < s->clk_nfeat; i++) {
        const char *name = xchg_clk_schema_feature_name(s->clk_schema, i);
        s->clk_fields[i] = XCHG_NONE;
        for (size_t k = 0; name && k < p->nfields; k++)
            if (strcmp(p->fields[k].name, name) == 0 && column_of(s, k))
                s->clk_fields[i] = k;
    }
    uint8_t *key = sodium_malloc(KEY_BYTES);
    if (!key)
        return XCHG_ERR_NOMEM;
    e = xchg_secret_derive(sec, "clk", key, KEY_BYTES);
    if (e == XCHG_OK)
        e = xchg_clk_encoder_new(s->clk_schema, key, KEY_BYTES, &s->clk);
    if (e == XCHG_OK) { /* the agreement's fuzzy.hardening (clk_harden.c) */
        xchg_clk_hardening h = {p->fuzzy.harden_salt, p->fuzzy.harden_salt_chars,
                                p->fuzzy.harden_blip};
        e = xchg_clk_encoder_harden(s->clk, &h, key, KEY_BYTES, s->d);
    }
    sodium_free(key);
    return e;
}

/* OPRF mode: a client for the agreement's key service, through the caller's transport. */
static xchg_err setup_oprf(struct seal *s)
{
    if (!s->o->oprf_transport) {
        xchg_diag_add(s->d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' keys its exact-match tokens through the key service at %s "
                      "(tokens.mode: oprf); no way to reach it was given",
                      s->p->id, s->p->tokens.keyd);
        return XCHG_ERR_ARG;
    }
    s->oprf = xchg_oprf_client_new(s->p->tokens.key, s->o->oprf_transport, s->o->oprf_ctx,
                                   s->o->oprf_batch);
    if (!s->oprf)
        return XCHG_ERR_NOMEM;
    xchg_oprf_client_threads(s->oprf, s->o->oprf_threads);
    if (!s->o->oprf_cache)
        return XCHG_OK;
    xchg_err e = xchg_oprf_cache_open(s->o->oprf_cache, s->agency_key, s->p->tokens.key,
                                      &s->oprf_cache, s->d);
    return e == XCHG_OK ? xchg_oprf_client_use_cache(s->oprf, s->oprf_cache) : e;
}

/* After the extract is in place: the cache now holds what this seal used. Failing to
 * write it loses nothing (the next seal asks the service again): a warning. */
static void save_oprf_cache(struct seal *s)
{
    xchg_diag *quiet = xchg_diag_new();
    if (xchg_oprf_cache_save(s->oprf_cache, s->oprf, quiet) != XCHG_OK)
        xchg_diag_add(s->d, XCHG_SEV_WARNING, s->o->oprf_cache, 0, 0,
                      "the OPRF cache was not updated (%s); the next seal asks the key "
                      "service for these values again",
                      quiet && xchg_diag_count(quiet) ? xchg_diag_text(quiet, 0) : "no memory");
    xchg_diag_free(quiet);
}

static xchg_err setup_date_formats(struct seal *s)
{
    size_t n = 2;
    for (size_t i = 0; i < s->x->ncolumns; i++)
        n += s->x->columns[i].ndate_formats;
    s->date_fmts = calloc(n, sizeof *s->date_fmts);
    if (!s->date_fmts)
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < s->x->ncolumns; i++)
        for (size_t j = 0; j < s->x->columns[i].ndate_formats; j++) {
            const char *f = s->x->columns[i].date_formats[j];
            int dup = 0;
            for (size_t k = 0; k < s->ndate_fmts; k++)
                dup |= strcmp(s->date_fmts[k], f) == 0;
            if (!dup)
                s->date_fmts[s->ndate_fmts++] = f;
        }
    s->date_fmts[s->ndate_fmts++] = "%Y-%m-%d";
    s->date_fmts[s->ndate_fmts++] = "%Y-%m-%dT%H:%M:%S";
    return XCHG_OK;
}

static char *make_header(struct seal *s, const xchg_seckey *agency, const xchg_secret *sec)
{
    const xchg_policy_data *p = s->p;
    json_t *h = json_object();
    char hex[65], fp[33], from[11], to[11], kid[XCHG_KEYID_HEXLEN + 1];
    xchg_hex_encode(hex, s->agreement_hash, 32);
    xchg_secret_fingerprint(sec, fp);
    xchg_date_format(s->o->period_start, from);
    xchg_date_format(s->o->period_end, to);
    json_object_set_new(h, "format", json_string("exchange-extract"));
    json_object_set_new(h, "version", json_integer(1));
    json_object_set_new(h, "agreement", json_pack("{s:s, s:I, s:s}", "id", p->id, "version",
                                                  (json_int_t)p->version, "sha256", hex));
    xchg_keyid_hex(xchg_seckey_public(agency)->id, kid);
    json_object_set_new(h, "agency", json_string(p->parties[s->agency].id));
    json_object_set_new(h, "agency_key", json_string(kid));
    json_object_set_new(h, "epoch", json_integer(xchg_secret_epoch(sec)));
    json_object_set_new(h, "secret_fingerprint", json_string(fp));
    json_object_set_new(h, "period", json_pack("{s:s, s:s}", "start", from, "end", to));
    json_object_set_new(h, "created", json_integer(s->o->now));
    json_object_set_new(h, "kind", json_string(s->o->incremental ? "incremental" : "full"));
    xchg_hex_encode(hex, s->extract_id, 16);
    json_object_set_new(h, "extract_id", json_string(hex));
    json_object_set_new(h, "clk_bytes",
                        json_integer(s->clk ? (json_int_t)xchg_clk_filter_bytes(s->clk_schema) : 0));
    json_t *keys = json_array();
    for (size_t i = 0; i < p->nrecipients; i++) {
        const xchg_party *q = &p->parties[p->recipients[i]];
        uint8_t sealed[XCHG_PAYLOAD_KEY_BYTES + XCHG_BOX_OVERHEAD];
        char b64[128];
        if (xchg_box_seal(&q->key, s->dk, XCHG_PAYLOAD_KEY_BYTES, sealed) != XCHG_OK) {
            json_decref(keys);
            json_decref(h);
            return NULL;
        }
        xchg_base64_encode(b64, sealed, sizeof sealed);
        xchg_keyid_hex(q->key.id, kid);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "recipient", q->id, "key_id",
                                              kid, "sealed_key", b64));
    }
    json_object_set_new(h, "payload", json_pack("{s:s, s:o}", "aead", "xchacha20poly1305-ietf",
                                                "keys", keys));
    if (p->release_key.present) { /* payloads wrapped under this deal's release key */
        xchg_hex_encode(fp, p->release_key.deal, XCHG_TH_DEAL_BYTES);
        json_object_set_new(json_object_get(h, "payload"), "release_key_deal", json_string(fp));
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    return text;
}

/* The validation report: CSV (line, field, outcome, problem), written beside its final
 * name and renamed into place only when the run succeeds. */
static xchg_err report_open(struct seal *s, const xchg_seal_opts *o, xchg_diag *d)
{
    size_t n = strlen(o->report) + 16;
    s->report_tmp = malloc(n);
    if (!s->report_tmp)
        return XCHG_ERR_NOMEM;
    snprintf(s->report_tmp, n, "%s.tmp.XXXXXX", o->report);
    int fd = mkstemp(s->report_tmp);
    if (fd < 0 || !(s->report = fdopen(fd, "w"))) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->report, 0, 0, "cannot create the report: %s",
                      strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(s->report_tmp);
        }
        return XCHG_ERR_IO;
    }
    fputs("line,field,outcome,problem\n", s->report);
    return XCHG_OK;
}

static xchg_err report_close(struct seal *s, const xchg_seal_opts *o, xchg_diag *d)
{
    int bad = fflush(s->report) != 0 || fsync(fileno(s->report)) != 0;
    bad |= fclose(s->report) != 0;
    s->report = NULL;
    if (bad || rename(s->report_tmp, o->report) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->report, 0, 0, "cannot write the report: %s",
                      strerror(errno));
        unlink(s->report_tmp);
        return XCHG_ERR_IO;
    }
    return XCHG_OK;
}

xchg_err xchg_seal(const xchg_agreement *agr, const xchg_seckey *agency, const xchg_secret *sec,
                   const xchg_seal_opts *o, xchg_seal_stats *st, xchg_diag *d)
{
    const xchg_policy *pol = xchg_agreement_policy(agr);
    if (!pol || !agency || !sec || !o || !o->input || (!o->output && !o->check_only) || !st)
        return XCHG_ERR_ARG;
    memset(st, 0, sizeof *st);
    struct seal s;
    memset(&s, 0, sizeof s);
    s.pol = pol;
    s.p = xchg_policy_get(pol);
    s.o = o;
    s.agency_key = agency;
    s.st = st;
    s.d = d;
    s.max_messages = o->max_messages ? o->max_messages : 200;
    s.agreement_hash = xchg_policy_hash(pol);
    s.agency = xchg_policy_party_by_key(pol, xchg_seckey_public(agency)->id);
    xchg_err rc = XCHG_OK;
    char *header = NULL;
    if (s.agency == XCHG_NONE || s.p->parties[s.agency].role != XCHG_ROLE_AGENCY ||
        !(s.x = xchg_policy_extract(pol, s.agency))) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "this key is not the key of an agency of agreement '%s'", s.p->id);
        return XCHG_ERR_DENIED;
    }
    /* release_key: required but not dealt: sealing now would leave the records without
       their outer wrap, readable by the matcher plus any one recipient — the promise the
       agreement makes would silently not hold (docs/release.md "The release key"). */
    if (s.p->release_key.pending && o->check_only) {
        /* a check writes nothing: the agency may check its data before the deal */
        xchg_diag_add(d, XCHG_SEV_WARNING, NULL, 0, 0,
                      "agreement '%s' requires a release key that has not been dealt: this "
                      "check passes, but sealing is refused until the IG lead runs 'xchg "
                      "release-key deal' and the agreement is signed again",
                      s.p->id);
    } else if (s.p->release_key.pending) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' requires a release key ('release_key: required') but it "
                      "has not been dealt: nothing is sealed. Next step: the IG lead runs "
                      "'xchg release-key deal AGREEMENT --shares DIR', then every signatory "
                      "signs the dealt agreement again ('xchg policy sign')",
                      s.p->id);
        return XCHG_ERR_DENIED;
    }
    if (o->mapping) { /* the agency's own columns onto the agreed fields (seal_mapping.c) */
        size_t ma = xchg_mapping_agency(o->mapping);
        if (ma != s.agency) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the mapping is for agency '%s', but this key is agency '%s'",
                          ma < s.p->nparties ? s.p->parties[ma].id : "?",
                          s.p->parties[s.agency].id);
            return XCHG_ERR_DENIED;
        }
        s.x = xchg__mapping_extract(o->mapping);
        s.codes = xchg__mapping_codes(o->mapping);
    }
    if (o->period_end < o->period_start) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "the period ends before it starts");
        return XCHG_ERR_ARG;
    }
    size_t matcher = xchg_policy_matcher(pol);
    s.cols = calloc(s.x->ncolumns ? s.x->ncolumns : 1, sizeof *s.cols);
    s.vals = calloc(s.p->nfields ? s.p->nfields : 1, sizeof *s.vals);
    s.quality = calloc(s.p->nfields ? s.p->nfields : 1, sizeof *s.quality);
    s.dk = sodium_malloc(XCHG_PAYLOAD_KEY_BYTES);
    if (!s.cols || !s.vals || !s.quality || !s.dk || matcher == XCHG_NONE) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    randombytes_buf(s.dk, XCHG_PAYLOAD_KEY_BYTES);
    randombytes_buf(s.extract_id, sizeof s.extract_id);
    memcpy(st->extract_id, s.extract_id, 16);
    if ((rc = xchg__token_keys_derive(&s.keys, s.p, s.x, s.agency, sec)) != XCHG_OK ||
        (rc = setup_clk(&s, sec)) != XCHG_OK ||
        (rc = xchg__ind_init(&s.ind, s.p, s.x, o->period_start, o->period_end)) != XCHG_OK ||
        (rc = setup_date_formats(&s)) != XCHG_OK)
        goto cleanup;
    if (o->oprf_cache && s.p->tokens.mode != XCHG_TOKENS_OPRF) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->oprf_cache, 0, 0,
                      "an OPRF cache, but agreement '%s' does not key its tokens through a key "
                      "service (tokens.mode: oprf)",
                      s.p->id);
        rc = XCHG_ERR_ARG;
        goto cleanup;
    }
    if (s.p->tokens.mode == XCHG_TOKENS_OPRF && (rc = setup_oprf(&s)) != XCHG_OK)
        goto cleanup;

    /* pass 1: per-person sums for aggregate indicators; OPRF mode's match-key inputs */
    int stopped = 0;
    if (s.ind.nagg || s.oprf) {
        s.pass = 1;
        size_t before = xchg_diag_count(d);
        xchg_diag *quiet = xchg_diag_new(); /* pass 2 reports row problems */
        s.d = quiet;
        rc = xchg_csv_read(o->input, on_row, &s, &stopped, quiet);
        s.d = d;
        if (rc != XCHG_OK || s.fatal) {
            xchg_diag_copy(d, quiet);
            (void)before;
            xchg_diag_free(quiet);
            if (rc == XCHG_OK)
                rc = s.err ? s.err : XCHG_ERR_FORMAT;
            goto cleanup;
        }
        xchg_diag_free(quiet);
        if (s.err) {
            rc = s.err;
            goto cleanup;
        }
        s.header_seen = 0;
        s.messages = 0;
        st->warnings = st->dropped_identifiers = 0;
    }
    if (s.oprf) { /* every distinct input, in batches, verified, before anything is written */
        if ((rc = xchg_oprf_client_run(s.oprf, d)) != XCHG_OK)
            goto cleanup;
        size_t ni, nr, nc = 0;
        xchg_oprf_client_stats(s.oprf, &ni, &nr);
        xchg_oprf_cache_stats(s.oprf_cache, NULL, &nc);
        st->oprf_inputs = ni;
        st->oprf_requests = nr;
        st->oprf_cached = nc;
        s.keys.oprf = s.oprf;
    }

    header = make_header(&s, agency, sec);
    if (!header) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    if (!o->check_only)
        rc = xchg_xex_writer_new(o->output, o->overwrite, &s.p->parties[matcher].key, agency,
                                 header, strlen(header), &s.w, d);
    if (rc != XCHG_OK)
        goto cleanup;
    s.pass = 2;
    if (o->report && !o->check_only && (rc = report_open(&s, o, d)) != XCHG_OK)
        goto cleanup;
    rc = xchg_csv_read(o->input, on_row, &s, &stopped, d);
    if (rc == XCHG_OK && !s.err)
        (void)wrap_flush(&s); /* the last batch of records under a release key */
    if (rc == XCHG_OK && s.err)
        rc = s.err;
    if (rc == XCHG_OK && s.fatal)
        rc = XCHG_ERR_FORMAT;
    if (rc == XCHG_OK && !s.header_seen) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->input, 0, 0, "the file is empty (no header row)");
        rc = XCHG_ERR_FORMAT;
    }
    if (s.messages > s.max_messages)
        xchg_diag_add(d, XCHG_SEV_NOTE, o->input, 0, 0, "%zu more row messages not shown",
                      s.messages - s.max_messages);
    /* a header-only file sealed as a full snapshot would replace everything the agency
     * sent for the period with nothing: only on purpose */
    if (rc == XCHG_OK && st->rows == 0 && o->incremental) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->input, 0, 0,
                      "no data rows; an empty incremental extract has nothing to send");
        rc = XCHG_ERR_FORMAT;
    } else if (rc == XCHG_OK && st->rows == 0 && !o->allow_empty) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->input, 0, 0,
                      "no data rows; an empty full snapshot needs --empty-snapshot (it would "
                      "replace every record this agency sent for the period with none)");
        rc = XCHG_ERR_FORMAT;
    }
    if (rc == XCHG_OK && st->identification_denied)
        xchg_diag_add(d, XCHG_SEV_NOTE, o->input, 0, 0,
                      "%llu record%s did not meet the agreement's consent rule for "
                      "identification and %s sealed without indicators (%llu indicator event%s "
                      "not sent%s)",
                      (unsigned long long)st->identification_denied,
                      st->identification_denied == 1 ? "" : "s",
                      st->identification_denied == 1 ? "was" : "were",
                      (unsigned long long)st->indicators_withheld,
                      st->indicators_withheld == 1 ? "" : "s",
                      o->report && !o->check_only ? "; listed in the report" : "");
    if (rc == XCHG_OK && st->rows) {
        st->quality_failures = quality_check(&s, o->strict ? XCHG_SEV_ERROR : XCHG_SEV_WARNING);
        if (st->quality_failures && o->strict) {
            xchg_diag_add(d, XCHG_SEV_ERROR, o->input, 0, 0,
                          "%llu column%s systematically unparseable; nothing was sealed "
                          "(strict mode)",
                          (unsigned long long)st->quality_failures,
                          st->quality_failures == 1 ? " is" : "s are");
            rc = XCHG_ERR_FORMAT;
        }
    }
    if (rc == XCHG_OK && st->rejected && (o->strict || st->rejected == st->rows)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, o->input, 0, 0,
                      "%llu of %llu row%s %s bad; nothing was sealed%s",
                      (unsigned long long)st->rejected, (unsigned long long)st->rows,
                      st->rows == 1 ? "" : "s", st->rejected == 1 ? "is" : "are",
                      o->strict ? " (strict mode)" : "");
        rc = XCHG_ERR_FORMAT;
    } else if (rc == XCHG_OK && st->rejected) {
        xchg_diag_add(d, XCHG_SEV_WARNING, o->input, 0, 0,
                      "%llu of %llu row%s %s bad and %s not sealed (listed above%s)",
                      (unsigned long long)st->rejected, (unsigned long long)st->rows,
                      st->rows == 1 ? "" : "s", st->rejected == 1 ? "is" : "are",
                      st->rejected == 1 ? "was" : "were", o->report && !o->check_only ? " and in the report" : "");
    }
    if (rc == XCHG_OK && s.report && report_close(&s, o, d) != XCHG_OK)
        rc = XCHG_ERR_IO;
    if (rc == XCHG_OK && s.w)
        rc = xchg_xex_writer_finish(s.w, d);
    if (rc == XCHG_OK && s.oprf_cache && !o->check_only)
        save_oprf_cache(&s);
cleanup:
    if (rc != XCHG_OK)
        st->sealed = 0;
    if (s.report) { /* not closed: an error happened */
        fclose(s.report);
        unlink(s.report_tmp);
    }
    free(s.report_tmp);
    xchg_xex_writer_free(s.w);
    free(header);
    free(s.cols);
    if (s.vals) {
        sodium_memzero(s.vals, (s.p->nfields ? s.p->nfields : 1) * sizeof *s.vals);
        free(s.vals);
    }
    sodium_free(s.dk);
    xchg__token_keys_free(&s.keys);
    xchg_oprf_client_free(s.oprf);
    xchg_oprf_cache_free(s.oprf_cache);
    xchg_clk_encoder_free(s.clk);
    xchg_clk_schema_free(s.clk_schema);
    free(s.clk_fields);
    free(s.clk_buf);
    xchg__ind_free(&s.ind);
    xchg__hmap_free(&s.refs);
    free(s.recbuf);
    wrap_discard(&s);
    free(s.date_fmts);
    free(s.quality);
    return rc;
}