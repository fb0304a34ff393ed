/*
 * Private: the programme report (docs/reports.md) — its tables as protected counts
 * (report_build.c, from the store) and their text, CSV, JSON and HTML (report.c).
 * Not installed; xchg_matcher_report (matcher.h) is the public way in.
 *
 * A report is a list of tables; each table is a view (labels and cell indexes) of one
 * protected set of counts (sdc.h). Views that share counts share protection: families by
 * area are the column totals of the team-combination-by-area table, and families by
 * problem are lines of the problem-combination table, so a suppressed cell cannot be
 * recovered by subtracting one published table from another. Outcomes (RAG progress)
 * by problem are their own 2-D set, drawn as stacked bars.
 */
#ifndef XCHG_REPORT_H
#define XCHG_REPORT_H

#include "exchange/matcher.h"
#include "exchange/policy.h"
#include "exchange/store.h"
#include "sdc.h"

#include <stddef.h>
#include <stdint.h>

#define XCHG__REPORT_NONE ((size_t)-1)

typedef enum xchg__chart {
    XCHG__CHART_NONE = 0,
    XCHG__CHART_BARS = 1,    /* horizontal bars, one per row (1-D) */
    XCHG__CHART_HEATMAP = 2, /* the interior of a 2-D table */
    XCHG__CHART_STACKED = 3, /* RAG progress: one stacked bar per row (2-D) */
} xchg__chart;

typedef struct xchg__report_table {
    const char *id;     /* "area", "problem", "problem_combination", "teams", "age" */
    const char *title;  /* "Families identified, by area" */
    const char *unit;   /* "families", "people" */
    const char *source; /* one sentence: where the counts come from */
    xchg__chart chart;
    size_t rows, cols; /* cols 0: 1-D (a list) */
    char **row_label, **col_label;
    /* the protected counts behind the view, and the cell index of each shown value:
       1-D: rows values then the total (XCHG__REPORT_NONE: no total, e.g. problems,
       where a family counts once per problem); 2-D: (rows + 1) x (cols + 1), the last
       row the column totals and the last column the row totals */
    const xchg__sdc_table *t;
    size_t *cell;
} xchg__report_table;

typedef struct xchg__report {
    const char *agreement_id;
    int64_t run;
    int32_t run_date; /* the evidence window's end */
    int64_t produced; /* unix time */
    xchg__sdc_rules rules;
    int have_area, have_age; /* the store has records.area / records.age */
    xchg__report_table tables[8];
    size_t ntables;
    xchg__sdc_table *sets[8]; /* the protected sets the views use (owned) */
    size_t nsets;
    size_t families_cell; /* where "families identified" is, in sets[families_set] */
    size_t families_set;
} xchg__report;

/*
 * Build and protect every table of run from the store s under agreement p's reports
 * rules. XCHG_ERR_NOT_FOUND when run does not exist; XCHG_ERR_IO, XCHG_ERR_NOMEM.
 * *out is set only on success; free with xchg__report_free.
 */
xchg_err xchg__report_build(xchg_store *s, const xchg_policy *p, int64_t run, int64_t now,
                            xchg__report **out, xchg_diag *d);
void xchg__report_free(xchg__report *r);

/* The value shown for cell c of a view: 1 (published, *v set) or 0 (suppressed). */
int xchg__report_shown(const xchg__report_table *t, size_t c, long *v);

/* Render r as fmt into a malloc'ed buffer (*out, *len; NUL-terminated). XCHG_ERR_NOMEM. */
xchg_err xchg__report_render(const xchg__report *r, xchg_report_format fmt, char **out,
                             size_t *len);

#endif
