/*
 * The programme report's tables (report.h, docs/reports.md): the identified families of
 * a run, counted from the store's rows, then protected (sdc.c). Counts are exact here;
 * only the protected, rounded values ever leave through report.c.
 */
#include "report.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNKNOWN "Unknown"

struct fam {
    int64_t hh;
    uint64_t problems; /* bit i: the agreement's problem i */
    uint64_t agencies; /* bit i: party i holds a record on a member */
    char *area;        /* the members' records' most common area; NULL unknown */
    int64_t area_n;
};

/* outcome counts for one problem code: met, not met, too early (the report's columns) */
struct outc {
    char *code;
    long n[3];
};

struct build {
    const xchg_policy_data *pd;
    struct fam *f;
    size_t n, cap;
    long ages[10];
    struct outc *o;
    size_t no, ocap;
};

/* age bands: children by school phase, then adults */
static const struct {
    int lo, hi;
    const char *label;
} bands[] = {{0, 4, "0-4"},     {5, 10, "5-10"},   {11, 15, "11-15"},
             {16, 17, "16-17"}, {18, 24, "18-24"}, {25, 34, "25-34"},
             {35, 49, "35-49"}, {50, 64, "50-64"}, {65, 1000, "65 and over"}};
#define NBANDS (sizeof bands / sizeof bands[0])

static struct fam *find(struct build *b, int64_t hh)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->f[mid].hh < hh)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->n && b->f[lo].hh == hh ? &b->f[lo] : NULL;
}

static int on_family(void *ctx, int64_t hh, const char *text, int64_t num)
{
    (void)text;
    (void)num;
    struct build *b = ctx;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        struct fam *f = realloc(b->f, cap * sizeof *f);
        if (!f)
            return 1;
        b->f = f;
        b->cap = cap;
    }
    memset(&b->f[b->n], 0, sizeof b->f[b->n]);
    b->f[b->n++].hh = hh;
    return 0;
}

static int on_problem(void *ctx, int64_t hh, const char *code, int64_t num)
{
    (void)num;
    struct build *b = ctx;
    struct fam *f = find(b, hh);
    for (size_t i = 0; f && code && i < b->pd->nproblems && i < 64; i++)
        if (strcmp(b->pd->problems[i].code, code) == 0)
            f->problems |= (uint64_t)1 << i;
    return 0;
}

static int on_agency(void *ctx, int64_t hh, const char *agency, int64_t num)
{
    (void)num;
    struct build *b = ctx;
    struct fam *f = find(b, hh);
    for (size_t i = 0; f && agency && i < b->pd->nparties && i < 64; i++)
        if (strcmp(b->pd->parties[i].id, agency) == 0)
            f->agencies |= (uint64_t)1 << i;
    return 0;
}

static int on_area(void *ctx, int64_t hh, const char *area, int64_t n)
{
    struct build *b = ctx;
    struct fam *f = find(b, hh);
    if (!f || !area || !*area)
        return 0;
    /* the most common; ties to the smaller code (rows come in code order) */
    if (!f->area || n > f->area_n) {
        char *a = strdup(area);
        if (!a)
            return 1;
        free(f->area);
        f->area = a;
        f->area_n = n;
    }
    return 0;
}

static int on_age(void *ctx, int64_t hh, const char *text, int64_t age)
{
    (void)text;
    struct build *b = ctx;
    if (!find(b, hh))
        return 0;
    size_t band = NBANDS; /* unknown */
    for (size_t i = 0; age >= 0 && i < NBANDS; i++)
        if (age >= bands[i].lo && age <= bands[i].hi)
            band = i;
    b->ages[band]++;
    return 0;
}

/* the column of an outcome status: met, not met, too early; -1 none */
static int outcome_col(int64_t status)
{
    return status == XCHG_OUTCOME_MET         ? 0
           : status == XCHG_OUTCOME_NOT_MET   ? 1
           : status == XCHG_OUTCOME_TOO_EARLY ? 2
                                              : -1;
}

static struct outc *outc_of(struct build *b, const char *code)
{
    for (size_t i = 0; i < b->no; i++)
        if (strcmp(b->o[i].code, code) == 0)
            return &b->o[i];
    if (b->no == b->ocap) {
        size_t cap = b->ocap ? 2 * b->ocap : 16;
        struct outc *o = realloc(b->o, cap * sizeof *o);
        if (!o)
            return NULL;
        b->o = o;
        b->ocap = cap;
    }
    struct outc *o = &b->o[b->no];
    memset(o, 0, sizeof *o);
    if (!(o->code = strdup(code)))
        return NULL;
    b->no++;
    return o;
}

static int on_outcome(void *ctx, int64_t status, const char *code, int64_t n)
{
    struct build *b = ctx;
    int col = outcome_col(status);
    if (col < 0 || !code || n <= 0)
        return 0;
    struct outc *o = outc_of(b, code);
    if (!o)
        return 1;
    o->n[col] += (long)n;
    return 0;
}

/* ---- labels ----------------------------------------------------------------------- */

struct key {
    uint64_t mask;
    char *label;
    long n;
};

static int popcount64(uint64_t v)
{
    int c = 0;
    for (; v; v &= v - 1)
        c++;
    return c;
}

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int px = popcount64(x->mask), py = popcount64(y->mask);
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* "a + b + c" of the names whose bits are set; "None" for no bit */
static char *mask_label(uint64_t mask, const char *(*name)(const xchg_policy_data *, size_t),
                        const xchg_policy_data *pd, size_t n)
{
    size_t len = 8;
    for (size_t i = 0; i < n && i < 64; i++)
        if (mask & ((uint64_t)1 << i))
            len += strlen(name(pd, i)) + 3;
    char *s = malloc(len);
    if (!s)
        return NULL;
    strcpy(s, mask ? "" : "None");
    for (size_t i = 0; i < n && i < 64; i++)
        if (mask & ((uint64_t)1 << i)) {
            if (*s)
                strcat(s, " + ");
            strcat(s, name(pd, i));
        }
    return s;
}

static const char *problem_code(const xchg_policy_data *pd, size_t i)
{
    return pd->problems[i].code;
}
static const char *party_id(const xchg_policy_data *pd, size_t i)
{
    return pd->parties[i].id;
}

/* distinct masks (sorted by size, then label), with their counts; *nk keys */
static xchg_err keys_of(const struct build *b, int agencies, struct key **out, size_t *nk)
{
    struct key *k = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t m = agencies ? b->f[i].agencies : b->f[i].problems;
        size_t j = 0;
        while (j < n && k[j].mask != m)
            j++;
        if (j == n) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                struct key *t = realloc(k, cap * sizeof *t);
                if (!t)
                    goto nomem;
                k = t;
            }
            k[n].mask = m;
            k[n].n = 0;
            k[n].label = agencies ? mask_label(m, party_id, b->pd, b->pd->nparties)
                                  : mask_label(m, problem_code, b->pd, b->pd->nproblems);
            if (!k[n].label)
                goto nomem;
            n++;
        }
        k[j].n++;
    }
    if (n)
        qsort(k, n, sizeof *k, key_cmp);
    *out = k;
    *nk = n;
    return XCHG_OK;
nomem:
    for (size_t j = 0; j < n; j++)
        free(k[j].label);
    free(k);
    return XCHG_ERR_NOMEM;
}

static int str_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int ux = strcmp(x, UNKNOWN) == 0, uy = strcmp(y, UNKNOWN) == 0;
    if (ux != uy)
        return ux ? 1 : -1; /* "Unknown" last */
    return strcmp(x, y);
}

static size_t *identity(size_t n)
{
    size_t *c = malloc((n ? n : 1) * sizeof *c);
    for (size_t i = 0; c && i < n; i++)
        c[i] = i;
    return c;
}

static char **labels(size_t n)
{
    return calloc(n ? n : 1, sizeof(char *));
}

void xchg__report_free(xchg__report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ntables; i++) {
        xchg__report_table *t = &r->tables[i];
        for (size_t j = 0; t->row_label && j < t->rows; j++)
            free(t->row_label[j]);
        for (size_t j = 0; t->col_label && j < t->cols; j++)
            free(t->col_label[j]);
        free(t->row_label);
        free(t->col_label);
        free(t->cell);
    }
    for (size_t i = 0; i < r->nsets; i++)
        xchg__sdc_free(r->sets[i]);
    free(r);
}

int xchg__report_shown(const xchg__report_table *t, size_t c, long *v)
{
    size_t k = t->cell[c];
    if (k == XCHG__REPORT_NONE || t->t->state[k] != XCHG__SDC_PUBLISHED)
        return 0;
    *v = t->t->shown[k];
    return 1;
}

static xchg__report_table *add_table(xchg__report *r, const char *id, const char *title,
                                     const char *unit, const char *source, xchg__chart chart)
{
    xchg__report_table *t = &r->tables[r->ntables++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->title = title;
    t->unit = unit;
    t->source = source;
    t->chart = chart;
    return t;
}

/* ---- the tables --------------------------------------------------------------------- */

/* The run's outcome counts by problem (rows) and status (met, not met, too early): rows
 * in the agreement's order (its problems with an outcome, and any it does not define, an
 * older agreement's, by code, last); prob: the row's agreement problem or NONE. */
struct ocounts {
    size_t n;
    size_t *row;  /* index into build.o */
    size_t *prob; /* agreement problem index, or OC_NONE */
    long *v;      /* n x 3 */
    size_t *cell; /* the view's (n + 1) x 4 cell indexes into the problems set */
};
#define OC_NONE ((size_t)-1)

static xchg_err outcome_counts(struct build *b, struct ocounts *oc)
{
    const xchg_policy_data *pd = b->pd;
    memset(oc, 0, sizeof *oc);
    for (size_t p = 0; p < pd->nproblems; p++)
        if (pd->problems[p].noutcome > 0 && !outc_of(b, pd->problems[p].code))
            return XCHG_ERR_NOMEM;
    size_t n = b->no;
    if (n == 0)
        return XCHG_OK;
    oc->row = malloc(n * sizeof *oc->row);
    oc->prob = malloc(n * sizeof *oc->prob);
    oc->v = calloc(n * 3, sizeof *oc->v);
    if (!oc->row || !oc->prob || !oc->v)
        return XCHG_ERR_NOMEM;
    size_t k = 0;
    for (size_t p = 0; p < pd->nproblems; p++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(b->o[i].code, pd->problems[p].code) == 0) {
                oc->prob[k] = p;
                oc->row[k++] = i;
            }
    size_t known = k;
    for (size_t i = 0; i < n; i++) {
        size_t p = 0;
        while (p < pd->nproblems && strcmp(b->o[i].code, pd->problems[p].code) != 0)
            p++;
        if (p < pd->nproblems)
            continue;
        size_t j = k++;
        while (j > known && strcmp(b->o[oc->row[j - 1]].code, b->o[i].code) > 0) {
            oc->row[j] = oc->row[j - 1];
            oc->prob[j] = oc->prob[j - 1];
            j--;
        }
        oc->row[j] = i;
        oc->prob[j] = OC_NONE;
    }
    oc->n = n;
    for (size_t a = 0; a < n; a++)
        for (size_t c = 0; c < 3; c++)
            oc->v[a * 3 + c] = b->o[oc->row[a]].n[c];
    return XCHG_OK;
}

static void ocounts_free(struct ocounts *oc)
{
    free(oc->row);
    free(oc->prob);
    free(oc->v);
    free(oc->cell);
}

/* Families by problem combination, and by problem: one set of lines (the combinations sum
 * to the families identified; each problem's families are the combinations with it).
 * The outcomes by problem table (oc, when it has rows) is in the same set: its rows,
 * columns and row totals are lines, and a row whose families number exactly the
 * problem's families identified (a first run: the same families) has that problem's
 * count as its row total, so neither table can be subtracted from the other. */
static xchg_err problems_tables(xchg__report *r, const struct build *b, struct ocounts *oc)
{
    const xchg_policy_data *pd = b->pd;
    struct key *k = NULL;
    size_t nk = 0, np = pd->nproblems < 64 ? pd->nproblems : 64;
    xchg_err e = keys_of(b, 0, &k, &nk);
    if (e != XCHG_OK)
        return e;
    e = XCHG_ERR_NOMEM;
    size_t no = oc->n, ncells = nk + 1 + np;
    size_t maxcells = ncells + no * 4 + 4, maxlines = np + 1 + no + 5;
    long *v = calloc(maxcells, sizeof *v);
    size_t *off = calloc(maxlines + 1, sizeof *off),
           *part = calloc(nk * (np + 1) + no * 7 + 4, sizeof *part);
    size_t *tot = calloc(maxlines, sizeof *tot);
    int *pline = calloc(np + 1, sizeof *pline);
    if (!v || !off || !part || !tot || !pline)
        goto cleanup;
    size_t nl = 0, npart = 0;
    for (size_t i = 0; i < nk; i++) {
        v[i] = k[i].n;
        v[nk] += k[i].n;
        part[npart++] = i;
    }
    tot[nl++] = nk;
    off[nl] = npart;
    for (size_t p = 0; p < np; p++) {
        size_t start = npart;
        for (size_t i = 0; i < nk; i++)
            if (k[i].mask & ((uint64_t)1 << p)) {
                v[nk + 1 + p] += k[i].n;
                part[npart++] = i;
            }
        if (npart == start)
            continue; /* no family has it: a zero bound by nothing */
        tot[nl++] = nk + 1 + p;
        off[nl] = npart;
        pline[p] = 1;
    }
    if (no) {
        /* the outcomes view, (no + 1) x 4: interior, row totals, column and grand totals */
        size_t W = 4;
        if (!(oc->cell = malloc((no + 1) * W * sizeof *oc->cell)))
            goto cleanup;
        for (size_t a = 0; a < no; a++)
            for (size_t c = 0; c < 3; c++) {
                oc->cell[a * W + c] = ncells;
                v[ncells++] = oc->v[a * 3 + c];
            }
        for (size_t c = 0; c < 4; c++)
            oc->cell[no * W + c] = ncells++; /* column totals and the grand total */
        for (size_t a = 0; a < no; a++) {
            long sum = oc->v[a * 3] + oc->v[a * 3 + 1] + oc->v[a * 3 + 2];
            size_t p = oc->prob[a];
            if (p != OC_NONE && p < np && pline[p] && sum > 0 && v[nk + 1 + p] == sum)
                oc->cell[a * W + 3] = nk + 1 + p; /* linked: the problem's count */
            else {
                oc->cell[a * W + 3] = ncells;
                v[ncells++] = sum;
            }
            for (size_t c = 0; c < 3; c++) {
                v[oc->cell[no * W + c]] += oc->v[a * 3 + c];
                v[oc->cell[no * W + 3]] += oc->v[a * 3 + c];
            }
        }
        /* lines: each row, each column, the row totals and the column totals */
        for (size_t a = 0; a < no; a++) {
            for (size_t c = 0; c < 3; c++)
                part[npart++] = oc->cell[a * W + c];
            tot[nl++] = oc->cell[a * W + 3];
            off[nl] = npart;
        }
        for (size_t c = 0; c < 4; c++) {
            for (size_t a = 0; a < no; a++)
                part[npart++] = oc->cell[a * W + c];
            tot[nl++] = oc->cell[no * W + c];
            off[nl] = npart;
        }
        for (size_t c = 0; c < 3; c++)
            part[npart++] = oc->cell[no * W + c];
        tot[nl++] = oc->cell[no * W + 3];
        off[nl] = npart;
    }
    xchg__sdc_table *set = xchg__sdc_new(ncells, v, nl, off, part, tot);
    if (!set || (e = xchg__sdc_protect(set, &r->rules)) != XCHG_OK) {
        xchg__sdc_free(set);
        e = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    r->families_set = r->nsets;
    r->families_cell = nk;
    r->sets[r->nsets++] = set;
    e = XCHG_ERR_NOMEM;
    xchg__report_table *t =
        add_table(r, "problem", "Families identified, by problem", "families",
                  "Each identified family once under every problem the run found for it "
                  "(family_problems): the counts add up to more than the families.",
                  XCHG__CHART_BARS);
    t->t = set;
    t->rows = np;
    if (!(t->row_label = labels(np)) || !(t->cell = malloc((np + 1) * sizeof *t->cell)))
        goto cleanup;
    for (size_t p = 0; p < np; p++) {
        t->row_label[p] =
            strdup(pd->problems[p].title ? pd->problems[p].title : pd->problems[p].code);
        if (!t->row_label[p])
            goto cleanup;
        t->cell[p] = nk + 1 + p;
    }
    t->cell[np] = XCHG__REPORT_NONE;
    t = add_table(r, "problem_combination", "Families identified, by combination of problems",
                  "families",
                  "Each identified family once, under the exact set of problems the run "
                  "found for it.",
                  XCHG__CHART_NONE);
    t->t = set;
    t->rows = nk;
    if (!(t->row_label = labels(nk)) || !(t->cell = identity(nk + 1)))
        goto cleanup;
    for (size_t i = 0; i < nk; i++) {
        t->row_label[i] = k[i].label;
        k[i].label = NULL;
    }
    e = XCHG_OK;
cleanup:
    for (size_t i = 0; i < nk; i++)
        free(k[i].label);
    free(k);
    free(v);
    free(off);
    free(part);
    free(tot);
    free(pline);
    return e;
}

/* Families by the combination of agencies holding records on them, by area; the area
 * table is this table's column totals. */
static xchg_err teams_tables(xchg__report *r, const struct build *b)
{
    struct key *k = NULL;
    size_t nk = 0, na = 0;
    char **areas = NULL;
    long *v = NULL;
    xchg_err e = keys_of(b, 1, &k, &nk);
    if (e != XCHG_OK)
        return e;
    e = XCHG_ERR_NOMEM;
    /* the distinct areas, sorted, "Unknown" last */
    if (!(areas = calloc(b->n + 1, sizeof *areas)))
        goto cleanup;
    for (size_t i = 0; i < b->n; i++) {
        const char *a = b->f[i].area ? b->f[i].area : UNKNOWN;
        size_t j = 0;
        while (j < na && strcmp(areas[j], a) != 0)
            j++;
        if (j == na)
            areas[na++] = (char *)a;
    }
    if (na == 0)
        areas[na++] = UNKNOWN;
    qsort(areas, na, sizeof *areas, str_cmp);
    if (!(v = calloc(nk * na + 1, sizeof *v)))
        goto cleanup;
    for (size_t i = 0; i < b->n; i++) {
        const char *a = b->f[i].area ? b->f[i].area : UNKNOWN;
        size_t row = 0, col = 0;
        while (row < nk && k[row].mask != b->f[i].agencies)
            row++;
        while (col < na && strcmp(areas[col], a) != 0)
            col++;
        v[row * na + col]++;
    }
    xchg__sdc_table *set = xchg__sdc_new_2d(nk, na, v);
    if (!set || xchg__sdc_protect(set, &r->rules) != XCHG_OK) {
        xchg__sdc_free(set);
        goto cleanup;
    }
    r->sets[r->nsets++] = set;
    xchg__report_table *area =
        add_table(r, "area", "Families identified, by area", "families",
                  "Each identified family once, in the area most of its members' records give "
                  "(records.area; Unknown when none does).",
                  XCHG__CHART_BARS);
    area->t = set;
    area->rows = na;
    if (!(area->row_label = labels(na)) || !(area->cell = malloc((na + 1) * sizeof *area->cell)))
        goto cleanup;
    for (size_t j = 0; j <= na; j++) {
        if (j < na && !(area->row_label[j] = strdup(areas[j])))
            goto cleanup;
        area->cell[j] = nk * (na + 1) + j;
    }
    xchg__report_table *t = add_table(
        r, "teams", "Families identified, by the agencies working with them and by area",
        "families",
        "Each identified family once, under the exact set of agencies whose records on its "
        "members the run linked, and in its area.",
        XCHG__CHART_HEATMAP);
    t->t = set;
    t->rows = nk;
    t->cols = na;
    if (!(t->row_label = labels(nk)) || !(t->col_label = labels(na)) ||
        !(t->cell = identity((nk + 1) * (na + 1))))
        goto cleanup;
    for (size_t i = 0; i < nk; i++) {
        t->row_label[i] = k[i].label;
        k[i].label = NULL;
    }
    for (size_t j = 0; j < na; j++)
        if (!(t->col_label[j] = strdup(areas[j])))
            goto cleanup;
    e = XCHG_OK;
cleanup:
    for (size_t i = 0; i < nk; i++)
        free(k[i].label);
    free(k);
    free(areas);
    free(v);
    return e;
}

static xchg_err age_table(xchg__report *r, const struct build *b)
{
    size_t n = NBANDS + 1;
    xchg__sdc_table *set = xchg__sdc_new_1d(n, b->ages);
    if (!set || xchg__sdc_protect(set, &r->rules) != XCHG_OK) {
        xchg__sdc_free(set);
        return XCHG_ERR_NOMEM;
    }
    r->sets[r->nsets++] = set;
    xchg__report_table *t =
        add_table(r, "age", "People in identified families, by age band", "people",
                  "Each member of an identified family once, by the greatest age in years "
                  "their records give at the extract's period end (records.age).",
                  XCHG__CHART_NONE);
    t->t = set;
    t->rows = n;
    if (!(t->row_label = labels(n)) || !(t->cell = identity(n + 1)))
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(t->row_label[i] = strdup(i < NBANDS ? bands[i].label : UNKNOWN)))
            return XCHG_ERR_NOMEM;
    return XCHG_OK;
}

/* Outcomes (RAG progress) by problem: families per problem and outcome status, a 2-D
 * view with margins of the problems set (problems_tables: a family counts once per
 * baseline problem, so the column totals are family-problems, not families). */
static const char *const outcome_cols[3] = {"Met", "Not met", "Too early"};

static xchg_err outcomes_view(xchg__report *r, const struct build *b, struct ocounts *oc)
{
    const xchg_policy_data *pd = b->pd;
    size_t n = oc->n;
    if (n == 0)
        return XCHG_OK;
    xchg__report_table *t = add_table(
        r, "outcomes", "Outcomes (RAG progress), by problem", "families",
        "Each family whose outcomes the run judged, once under each of its baseline problems "
        "with an outcome (family_outcomes): met (green), not met (red), or too early to judge "
        "(amber); the totals count a family once per problem.",
        XCHG__CHART_STACKED);
    t->t = r->sets[r->families_set];
    t->rows = n;
    t->cols = 3;
    t->cell = oc->cell;
    oc->cell = NULL;
    if (!(t->row_label = labels(n)) || !(t->col_label = labels(3)))
        return XCHG_ERR_NOMEM;
    for (size_t a = 0; a < n; a++) {
        const char *code = b->o[oc->row[a]].code, *title = code;
        if (oc->prob[a] != OC_NONE && pd->problems[oc->prob[a]].title)
            title = pd->problems[oc->prob[a]].title;
        if (!(t->row_label[a] = strdup(title)))
            return XCHG_ERR_NOMEM;
    }
    for (size_t c = 0; c < 3; c++)
        if (!(t->col_label[c] = strdup(outcome_cols[c])))
            return XCHG_ERR_NOMEM;
    return XCHG_OK;
}

xchg_err xchg__report_build(xchg_store *s, const xchg_policy *p, int64_t run, int64_t now,
                            xchg__report **out, xchg_diag *d)
{
    if (!s || !p || !out)
        return XCHG_ERR_ARG;
    int ex = xchg__store_run_exists(s, run);
    if (ex <= 0) {
        if (ex == 0)
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "no run %lld in the store",
                          (long long)run);
        return ex == 0 ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
    }
    const xchg_policy_data *pd = xchg_policy_get(p);
    struct build b;
    memset(&b, 0, sizeof b);
    struct ocounts oc;
    memset(&oc, 0, sizeof oc);
    b.pd = pd;
    xchg__report *r = calloc(1, sizeof *r);
    xchg_err e = XCHG_ERR_NOMEM;
    if (!r)
        goto cleanup;
    r->agreement_id = pd->id;
    r->run = run;
    r->run_date = xchg__store_run_date(s, run);
    r->produced = now;
    r->rules.threshold = pd->suppress_below;
    r->rules.base = pd->round_to;
    r->rules.suppress_zeros = pd->suppress_zeros;
    r->have_area = xchg__store_records_have(s, "area");
    r->have_age = xchg__store_records_have(s, "age");
    if ((e = xchg__store_report_families(s, run, on_family, &b, d)) != XCHG_OK ||
        (e = xchg__store_report_problems(s, run, on_problem, &b, d)) != XCHG_OK ||
        (e = xchg__store_report_agencies(s, run, on_agency, &b, d)) != XCHG_OK ||
        (e = xchg__store_report_areas(s, run, on_area, &b, d)) != XCHG_OK ||
        (e = xchg__store_report_ages(s, run, on_age, &b, d)) != XCHG_OK ||
        (e = xchg__store_report_outcomes(s, run, on_outcome, &b, d)) != XCHG_OK)
        goto cleanup;
    if ((e = outcome_counts(&b, &oc)) != XCHG_OK)
        goto cleanup;
    /* the order the report shows them in */
    if ((e = teams_tables(r, &b)) != XCHG_OK || (e = problems_tables(r, &b, &oc)) != XCHG_OK ||
        (e = age_table(r, &b)) != XCHG_OK)
        goto cleanup;
    /* area, teams, problem, combination, age: show area, problem, combination, teams, age */
    xchg__report_table tmp = r->tables[1];
    r->tables[1] = r->tables[2];
    r->tables[2] = r->tables[3];
    r->tables[3] = tmp;
    if ((e = outcomes_view(r, &b, &oc)) != XCHG_OK)
        goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    xchg__report_free(r);
    for (size_t i = 0; i < b.n; i++)
        free(b.f[i].area);
    free(b.f);
    ocounts_free(&oc);
    for (size_t i = 0; i < b.no; i++)
        free(b.o[i].code);
    free(b.o);
    return e;
}
