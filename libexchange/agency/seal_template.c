/*
 * xchg_seal_template: the CSV header and one sample row an agency's extract must have
 * (docs/mapping.md), in the mapping's columns or the agreement's. Sample values are
 * synthetic and valid for their field's type (an identifier passes its check digit), so
 * the printed row seals as it stands.
 */
#include "exchange/seal.h"
#include "exchange/normalise.h"
#include "internal.h"
#include "seal_internal.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cell(xchg__buf *b, const char *v, int first)
{
    if (!first)
        xchg__buf_put(b, ",", 1);
    if (!strpbrk(v, ",\"\r\n")) {
        xchg__buf_put(b, v, strlen(v));
        return;
    }
    xchg__buf_put(b, "\"", 1);
    for (const char *p = v; *p; p++)
        xchg__buf_put(b, p, 1), *p == '"' ? xchg__buf_put(b, "\"", 1) : (void)0;
    xchg__buf_put(b, "\"", 1);
}

/* The sample date 2011-03-14 09:30:00 laid out as fmt (%Y %m %d %H %M %S, literals). */
static void sample_date(const char *fmt, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *f = fmt; *f && o + 5 < cap; f++) {
        const char *v = NULL;
        if (f[0] == '%' && f[1]) {
            switch (f[1]) {
            case 'Y': v = "2011"; break;
            case 'm': v = "03"; break;
            case 'd': v = "14"; break;
            case 'H': v = "09"; break;
            case 'M': v = "30"; break;
            case 'S': v = "00"; break;
            case '%': v = "%"; break;
            default: break;
            }
        }
        if (v) {
            size_t n = strlen(v);
            memcpy(out + o, v, n);
            o += n;
            f++;
        } else {
            out[o++] = *f;
        }
    }
    out[o] = '\0';
}

/* A synthetic UPN with a valid check letter (docs/normalise.md). */
static void sample_upn(char out[XCHG_NORM_MAX])
{
    char try[14] = "A801200001001", canon[XCHG_UPN_LEN + 1];
    for (char c = 'A'; c <= 'Z'; c++) {
        try[0] = c;
        if (xchg_norm_upn(try, 13, canon, NULL, NULL) == XCHG_OK) {
            snprintf(out, XCHG_NORM_MAX, "%s", try);
            return;
        }
    }
    snprintf(out, XCHG_NORM_MAX, "%s", try);
}

static void sample_value(const xchg_field *f, const xchg_column *c, const xchg__codes *codes,
                         char out[XCHG_NORM_MAX])
{
    const char *v = "";
    switch (f->type) {
    case XCHG_FT_NAME: v = strstr(f->name, "sur") || strstr(f->name, "last") ? "Smith" : "Mary"; break;
    case XCHG_FT_DATE:
        sample_date(c && c->ndate_formats ? c->date_formats[0] : "%Y-%m-%d", out, XCHG_NORM_MAX);
        return;
    case XCHG_FT_POSTCODE: v = "FW1 2AB"; break;
    case XCHG_FT_NHS: v = "9434765919"; break; /* the NHS's published test number */
    case XCHG_FT_UPN: sample_upn(out); return;
    case XCHG_FT_NINO: v = "AB123456C"; break;
    case XCHG_FT_UPRN: v = "100012345678"; break;
    case XCHG_FT_ADDRESS: v = "1 High Street"; break;
    case XCHG_FT_SEX: v = "F"; break;
    case XCHG_FT_ID: v = "ID-0001"; break;
    case XCHG_FT_NUMBER: v = "1"; break;
    case XCHG_FT_TEXT: v = "text"; break;
    case XCHG_FT_CODE: v = f->nvalues ? f->values[0] : ""; break;
    }
    /* a translated code: show the agency's own spelling of it */
    for (size_t k = 0; codes && k < codes->n; k++)
        if (strcmp(codes->to[k], v) == 0) {
            v = codes->from[k];
            break;
        }
    snprintf(out, XCHG_NORM_MAX, "%s", v);
}

xchg_err xchg_seal_template(const xchg_policy *pol, size_t agency, const xchg_mapping *m,
                            char **out)
{
    if (!pol || !out)
        return XCHG_ERR_ARG;
    *out = NULL;
    const xchg_policy_data *p = xchg_policy_get(pol);
    const xchg_extract *x = m ? xchg__mapping_extract(m) : xchg_policy_extract(pol, agency);
    if (!x || (m && xchg_mapping_agency(m) != agency))
        return XCHG_ERR_ARG;
    const xchg__codes *codes = m ? xchg__mapping_codes(m) : NULL;
    xchg__buf h = {0}, r = {0};
    char v[XCHG_NORM_MAX];
    cell(&h, x->record_ref, 1);
    cell(&r, "REF-0001", 1);
    for (size_t i = 0; i < x->ncolumns; i++) {
        cell(&h, x->columns[i].csv, 0);
        sample_value(&p->fields[x->columns[i].field], &x->columns[i], codes ? &codes[i] : NULL, v);
        cell(&r, v, 0);
    }
    if (x->consent_column) {
        cell(&h, x->consent_column, 0);
        cell(&r, x->nconsent_values[0] ? x->consent_values[0][0] : "given", 0);
    }
    if (x->consent_date_column) {
        cell(&h, x->consent_date_column, 0);
        cell(&r, "2011-03-14", 0);
    }
    if (x->basis_column) {
        cell(&h, x->basis_column, 0);
        cell(&r, "", 0);
    }
    xchg__buf_put(&h, "\n", 1);
    xchg__buf_put(&r, "\n", 1);
    xchg__buf_put(&h, r.s ? r.s : "", r.len);
    free(r.s);
    if (h.nomem || r.nomem) {
        free(h.s);
        return XCHG_ERR_NOMEM;
    }
    *out = h.s;
    return XCHG_OK;
}
