/*
 * Agency-local mapping (docs/mapping.md): the agency's own CSV headers, date formats and
 * code translations onto the canonical fields the agreement lets it send. The agreement
 * fixes which fields; this file, kept by the agency and signed by nobody, says where they
 * are in the agency's CSV. A renamed column is a change here, not a new agreement version.
 *
 * The result is an effective extract definition: the agreement's extract (indicators,
 * payload, consent rules, group_by, person_id: everything the signatories agreed) with the
 * columns, record reference and consent column names replaced by the mapping's.
 */
#include "exchange/seal.h"
#include "exchange/fileio.h"
#include "internal.h"
#include "seal_internal.h"
#include "yaml_internal.h"

#include <utf8proc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAPPING_MAX (1u << 20)

struct xchg_mapping {
    size_t agency;
    xchg_extract x;             /* the effective extract: x.columns are cols */
    xchg_column *cols;
    xchg__codes *codes;         /* per column (parallel to cols) */
    char **owned;               /* every string allocated for this mapping */
    size_t nowned, capowned;
    const char ***fmt_lists;    /* per column: its date_formats array (owned) */
    const char **consent_lists[4]; /* consent_values given by the mapping (owned) */
};

struct mctx {
    const char *file;
    xchg_diag *d;
    const xchg_policy_data *p;
    xchg_mapping *m;
    int errors, nomem;
};

XCHG_PRINTF(3, 4)
static void err(struct mctx *c, xchg__ynode *n, const char *fmt, ...)
{
    unsigned col = n ? n->col : 0, line = n ? n->line : 0;
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(c->d, XCHG_SEV_ERROR, c->file, line, col, fmt, ap);
    va_end(ap);
    c->errors++;
}

static char *own(struct mctx *c, const char *s, size_t n)
{
    xchg_mapping *m = c->m;
    if (m->nowned == m->capowned) {
        size_t cap = m->capowned ? 2 * m->capowned : 32;
        char **nv = realloc(m->owned, cap * sizeof *nv);
        if (!nv) {
            c->nomem = 1;
            return NULL;
        }
        m->owned = nv;
        m->capowned = cap;
    }
    char *r = malloc(n + 1);
    if (!r) {
        c->nomem = 1;
        return NULL;
    }
    memcpy(r, s, n);
    r[n] = '\0';
    m->owned[m->nowned++] = r;
    return r;
}

static xchg__ynode *get(xchg__ynode *map, const char *key)
{
    return map && xchg__y_type(map) == XCHG_Y_MAPPING
               ? xchg__y_lookup(map, key, strlen(key))
               : NULL;
}

/* A scalar's text (owned copy), or NULL with an error naming what. */
static const char *str(struct mctx *c, xchg__ynode *n, const char *what)
{
    size_t len = 0;
    const char *s = n && xchg__y_type(n) == XCHG_Y_SCALAR ? xchg__y_scalar(n, &len) : NULL;
    if (!s) {
        err(c, n, "%s must be text", what);
        return NULL;
    }
    return own(c, s, len);
}

static void check_keys(struct mctx *c, xchg__ynode *map, const char *const *allowed,
                       const char *where)
{
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(map, &it)) != NULL) {
        size_t n = 0;
        xchg__ynode *k = xchg__y_key(pr);
        const char *s = k && xchg__y_type(k) == XCHG_Y_SCALAR ? xchg__y_scalar(k, &n) : NULL;
        int ok = 0;
        for (const char *const *a = allowed; s && *a; a++)
            ok |= strlen(*a) == n && memcmp(*a, s, n) == 0;
        if (!ok) {
            char list[256];
            size_t off = 0;
            list[0] = '\0';
            for (const char *const *a = allowed; *a && off < sizeof list - 40; a++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s",
                                        a == allowed ? "" : ", ", *a);
            err(c, k, "unknown key '%.*s' in %s (expected one of: %s)", (int)n, s ? s : "", where,
                list);
        }
    }
}

static size_t field_named(const xchg_policy_data *p, const char *name)
{
    for (size_t i = 0; i < p->nfields; i++)
        if (strcmp(p->fields[i].name, name) == 0)
            return i;
    return XCHG_NONE;
}

/* date_formats: a list of formats, each with %d, %m and %Y (as the agreement's). */
static void parse_formats(struct mctx *c, xchg__ynode *n, size_t ci)
{
    xchg_column *col = &c->m->cols[ci];
    if (xchg__y_type(n) != XCHG_Y_SEQUENCE) {
        err(c, n, "'date_formats' must be a list, e.g. [\"%%d/%%m/%%Y\"]");
        return;
    }
    int cnt = xchg__y_seq_count(n);
    const char **v = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *v);
    if (!v) {
        c->nomem = 1;
        return;
    }
    c->m->fmt_lists[ci] = v;
    void *it = NULL;
    xchg__ynode *e;
    while ((e = xchg__y_seq_next(n, &it)) != NULL) {
        const char *f = str(c, e, "a date format");
        if (!f)
            continue;
        if (!strstr(f, "%d") || !strstr(f, "%m") || !strstr(f, "%Y")) {
            err(c, e, "date format '%s' needs %%d, %%m and %%Y", f);
            continue;
        }
        v[col->ndate_formats++] = f;
    }
    col->date_formats = v;
}

/* codes: {AGENCY_VALUE: AGREEMENT_VALUE} for a code or sex field. */
static void parse_codes(struct mctx *c, xchg__ynode *n, size_t ci, const xchg_field *f)
{
    if (f->type != XCHG_FT_CODE && f->type != XCHG_FT_SEX) {
        err(c, n, "'codes' translates values of code and sex fields; field '%s' has type %s",
            f->name, xchg_field_type_name(f->type));
        return;
    }
    if (xchg__y_type(n) != XCHG_Y_MAPPING) {
        err(c, n, "'codes' must map the agency's value to the agreement's, e.g. {M: MALE}");
        return;
    }
    int cnt = xchg__y_map_count(n);
    xchg__codes *k = &c->m->codes[ci];
    k->from = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *k->from);
    k->to = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *k->to);
    if (!k->from || !k->to) {
        c->nomem = 1;
        return;
    }
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(n, &it)) != NULL) {
        const char *from = str(c, xchg__y_key(pr), "an agency value");
        const char *to = str(c, xchg__y_value(pr), "an agreement value");
        if (!from || !to)
            continue;
        if (f->type == XCHG_FT_CODE) {
            int known = 0;
            for (size_t i = 0; i < f->nvalues; i++)
                known |= strcasecmp(f->values[i], to) == 0;
            if (!known) {
                err(c, xchg__y_value(pr),
                    "'%s' is not one of the values the agreement allows for field '%s'", to,
                    f->name);
                continue;
            }
        }
        k->from[k->n] = from;
        k->to[k->n++] = to;
    }
}

/* columns: {CSV header: field} or {CSV header: {field, date_formats, codes}}. */
static void parse_columns(struct mctx *c, xchg__ynode *cols, const xchg_extract *ax,
                          const char *agency)
{
    static const char *const keys[] = {"field", "date_formats", "codes", NULL};
    const xchg_policy_data *p = c->p;
    xchg_mapping *m = c->m;
    int cnt = xchg__y_map_count(cols);
    size_t cap = (size_t)(cnt > 0 ? cnt : 1);
    m->cols = calloc(cap, sizeof *m->cols);
    m->codes = calloc(cap, sizeof *m->codes);
    m->fmt_lists = calloc(cap, sizeof *m->fmt_lists);
    unsigned *lines = calloc(cap, sizeof *lines);
    if (!m->cols || !m->codes || !m->fmt_lists || !lines) {
        c->nomem = 1;
        free(lines);
        return;
    }
    m->x.columns = m->cols;
    void *it = NULL;
    xchg__ypair *pr;
    while ((pr = xchg__y_map_next(cols, &it)) != NULL) {
        xchg__ynode *k = xchg__y_key(pr), *v = xchg__y_value(pr);
        const char *csv = str(c, k, "a CSV column name");
        xchg__ynode *fn = v;
        if (v && xchg__y_type(v) == XCHG_Y_MAPPING) {
            check_keys(c, v, keys, "a column");
            fn = get(v, "field");
            if (!fn) {
                err(c, v, "column '%s' needs 'field' (the agreement's field it holds)",
                    csv ? csv : "");
                continue;
            }
        }
        const char *fname = str(c, fn, "a field name");
        if (!csv || !fname)
            continue;
        size_t fi = field_named(p, fname);
        if (fi == XCHG_NONE) {
            err(c, fn, "column '%s': '%s' is not a field of agreement '%s'", csv, fname, p->id);
            continue;
        }
        if (!xchg__column_of(ax, fi)) {
            err(c, fn,
                "column '%s': agreement '%s' does not allow agency '%s' to send field '%s'; "
                "refusing the mapping (only the fields its extract lists may leave the agency)",
                csv, p->id, agency, fname);
            continue;
        }
        int dup = 0;
        for (size_t i = 0; i < m->x.ncolumns && !dup; i++)
            if (m->cols[i].field == fi) {
                err(c, fn, "field '%s' is mapped twice (first on line %u)", fname, lines[i]);
                dup = 1;
            }
        if (dup)
            continue;
        size_t ci = m->x.ncolumns++;
        lines[ci] = k ? k->line : 0;
        m->cols[ci].csv = csv;
        m->cols[ci].field = fi;
        const xchg_column *agreed = xchg__column_of(ax, fi);
        if (v && xchg__y_type(v) == XCHG_Y_MAPPING) {
            xchg__ynode *df = get(v, "date_formats");
            if (df && p->fields[fi].type != XCHG_FT_DATE)
                err(c, df, "column '%s': 'date_formats' only applies to a date field; '%s' has "
                           "type %s",
                    csv, fname, xchg_field_type_name(p->fields[fi].type));
            else if (df)
                parse_formats(c, df, ci);
            xchg__ynode *cd = get(v, "codes");
            if (cd)
                parse_codes(c, cd, ci, &p->fields[fi]);
        }
        /* no formats of its own: the agreement's formats for the field, else ISO */
        if (!m->cols[ci].ndate_formats && agreed) {
            m->cols[ci].date_formats = agreed->date_formats;
            m->cols[ci].ndate_formats = agreed->ndate_formats;
        }
    }
    /* every field the agreement's extract lists must be mapped: indicators, payload and
     * tokens were agreed on them */
    for (size_t i = 0; i < ax->ncolumns; i++)
        if (!xchg__column_of(&m->x, ax->columns[i].field))
            err(c, cols,
                "field '%s', which agreement '%s' expects from agency '%s', is not mapped: map "
                "it to the CSV column that holds it (an empty column if the agency has none)",
                p->fields[ax->columns[i].field].name, p->id, agency);
    free(lines);
}

/* consent_values: {given: [...], refused: [...], not_sought: [...], withdrawn: [...]}: the
 * agency's own spellings; a status not listed keeps the agreement's. */
static void parse_consent_values(struct mctx *c, xchg__ynode *n)
{
    const char *const *names = xchg__consent_value_keys;
    xchg_mapping *m = c->m;
    if (xchg__y_type(n) != XCHG_Y_MAPPING) {
        err(c, n, "'consent_values' must map given, refused, not_sought, withdrawn to lists");
        return;
    }
    check_keys(c, n, names, "'consent_values'");
    if (!m->x.consent_column) {
        err(c, n, "agreement '%s' has no consent column for agency '%s': no consent values to "
                  "map",
            c->p->id, c->p->parties[m->agency].id);
        return;
    }
    for (int st = 0; st < 4; st++) {
        xchg__ynode *l = get(n, names[st]);
        if (!l)
            continue;
        if (xchg__y_type(l) != XCHG_Y_SEQUENCE || xchg__y_seq_count(l) < 1) {
            /* an empty list has no position of its own: report at its key */
            xchg__ypair *pr = xchg__y_lookup_pair(n, names[st],
                                                                            strlen(names[st]));
            err(c, pr ? xchg__y_key(pr) : l,
                "'consent_values.%s' must be a list of the agency's spellings", names[st]);
            continue;
        }
        int cnt = xchg__y_seq_count(l);
        const char **v = calloc((size_t)cnt, sizeof *v);
        if (!v) {
            c->nomem = 1;
            return;
        }
        m->consent_lists[st] = v;
        size_t k = 0;
        void *it = NULL;
        xchg__ynode *e;
        while ((e = xchg__y_seq_next(l, &it)) != NULL) {
            const char *t = str(c, e, "a consent value");
            if (t)
                v[k++] = t;
        }
        m->x.consent_values[st] = v;
        m->x.nconsent_values[st] = k;
    }
}

xchg_err xchg_mapping_parse(const xchg_policy *pol, const char *text, size_t len,
                            const char *file, xchg_mapping **out, xchg_diag *d)
{
    static const char *const top[] = {"exchange_mapping", "agreement", "agency", "record_ref",
                                      "columns", "consent_column", "consent_date_column",
                                      "basis_column", "consent_values", NULL};
    if (!pol || !text || !out)
        return XCHG_ERR_ARG;
    *out = NULL;
    if (!file)
        file = "<mapping>";
    const xchg_policy_data *p = xchg_policy_get(pol);
    xchg_mapping *m = calloc(1, sizeof *m);
    if (!m)
        return XCHG_ERR_NOMEM;
    struct mctx c = {.file = file, .d = d, .p = p, .m = m};
    xchg_err rc = XCHG_ERR_POLICY;
    xchg__ydoc *doc = NULL;
    if (len == 0 || memchr(text, '\0', len)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0, "%s",
                      len ? "the mapping file contains a NUL byte" : "the mapping file is empty");
        rc = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    xchg_err ye = xchg__yaml_load(text, len, file, "a mapping file", "the mapping", &doc, d);
    if (ye != XCHG_OK) {
        rc = ye;
        goto cleanup;
    }
    xchg__ynode *root = xchg__yaml_root(doc);
    if (!root || xchg__y_type(root) != XCHG_Y_MAPPING) {
        xchg_diag_add(d, XCHG_SEV_ERROR, file, 0, 0,
                      "not a mapping file (YAML with exchange_mapping: 1, agreement, agency, "
                      "columns; docs/mapping.md)");
        rc = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    check_keys(&c, root, top, "the mapping file");
    const char *fmt = get(root, "exchange_mapping") ? str(&c, get(root, "exchange_mapping"),
                                                          "'exchange_mapping'")
                                                    : NULL;
    if (!fmt)
        err(&c, root, "missing required key 'exchange_mapping' (this version reads 1)");
    else if (strcmp(fmt, "1") != 0)
        err(&c, get(root, "exchange_mapping"),
            "unsupported mapping format '%s' (this version reads 1)", fmt);
    const char *agr = get(root, "agreement") ? str(&c, get(root, "agreement"), "'agreement'")
                                             : NULL;
    if (!agr)
        err(&c, root, "missing required key 'agreement' (the id of the agreement it maps onto)");
    else if (strcmp(agr, p->id) != 0)
        err(&c, get(root, "agreement"), "this mapping is for agreement '%s', not '%s'", agr,
            p->id);
    const char *agency = get(root, "agency") ? str(&c, get(root, "agency"), "'agency'") : NULL;
    const xchg_extract *ax = NULL;
    if (!agency) {
        err(&c, root, "missing required key 'agency' (the party id of the agency it is for)");
    } else {
        m->agency = xchg_policy_party(pol, agency);
        if (m->agency == XCHG_NONE || p->parties[m->agency].role != XCHG_ROLE_AGENCY ||
            !(ax = xchg_policy_extract(pol, m->agency)))
            err(&c, get(root, "agency"), "'%s' is not an agency of agreement '%s'", agency,
                p->id);
    }
    xchg__ynode *cols = get(root, "columns");
    if (!cols || xchg__y_type(cols) != XCHG_Y_MAPPING)
        err(&c, cols ? cols : root,
            "%s 'columns' (CSV column name: the agreement's field)",
            cols ? "expected a mapping for" : "missing required key");
    if (c.errors || c.nomem)
        goto done;
    m->x = *ax; /* what was agreed: indicators, payload, consent rules */
    m->x.columns = NULL;
    m->x.ncolumns = 0;
    parse_columns(&c, cols, ax, agency);
    m->x.columns = m->cols;
    static const char *const names[] = {"record_ref", "consent_column", "consent_date_column",
                                        "basis_column"};
    const char **slots[] = {&m->x.record_ref, &m->x.consent_column, &m->x.consent_date_column,
                            &m->x.basis_column};
    for (size_t i = 0; i < 4; i++) {
        xchg__ynode *n = get(root, names[i]);
        if (!n)
            continue;
        if (i > 0 && !*slots[i]) {
            err(&c, n, "agreement '%s' has no %s for agency '%s': nothing to map", p->id,
                names[i], agency);
            continue;
        }
        const char *v = str(&c, n, names[i]);
        if (v)
            *slots[i] = v;
    }
    if (get(root, "consent_values"))
        parse_consent_values(&c, get(root, "consent_values"));
done:
    if (c.nomem)
        rc = XCHG_ERR_NOMEM;
    else if (!c.errors) {
        *out = m;
        m = NULL;
        rc = XCHG_OK;
    }
cleanup:
    xchg__yaml_free(doc);
    xchg_mapping_free(m);
    return rc;
}

xchg_err xchg_mapping_load(const xchg_policy *pol, const char *path, xchg_mapping **out,
                           xchg_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    if (!path || !out)
        return XCHG_ERR_ARG;
    xchg_err rc = xchg_file_read(path, MAPPING_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    rc = xchg_mapping_parse(pol, buf, len, path, out, d);
    free(buf);
    return rc;
}

void xchg_mapping_free(xchg_mapping *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->x.ncolumns; i++) {
        free(m->codes[i].from);
        free(m->codes[i].to);
        free(m->fmt_lists[i]);
    }
    for (int st = 0; st < 4; st++)
        free(m->consent_lists[st]);
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->cols);
    free(m->codes);
    free(m->fmt_lists);
    free(m);
}

size_t xchg_mapping_agency(const xchg_mapping *m) { return m ? m->agency : XCHG_NONE; }

const xchg_extract *xchg__mapping_extract(const xchg_mapping *m) { return m ? &m->x : NULL; }

const xchg__codes *xchg__mapping_codes(const xchg_mapping *m) { return m ? m->codes : NULL; }
