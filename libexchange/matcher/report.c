/*
 * The programme report as text, CSV, JSON and HTML (report.h, docs/reports.md). Only
 * protected values are read here (xchg__report_shown): a suppressed cell is "[c]" (the
 * UK statistical convention for "confidential") in text, CSV and HTML, and null with
 * "suppressed": true in JSON. Agency-controlled text (area codes) goes through the
 * textsafe helpers for text and CSV, and is escaped for HTML.
 */
#include "report.h"
#include "exchange/date.h"
#include "exchange/textsafe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MARK "[c]"

static size_t ncells_of(const xchg__report_table *t)
{
    return t->cols ? (t->rows + 1) * (t->cols + 1) : t->rows + 1;
}

static int has_total(const xchg__report_table *t)
{
    return t->cols || t->cell[t->rows] != XCHG__REPORT_NONE;
}

static void date_of(int64_t unix_time, char out[11])
{
    xchg_date_format((int32_t)(unix_time / 86400), out);
}

static void rules_sentence(FILE *f, const xchg__report *r)
{
    if (r->rules.threshold > 0)
        fprintf(f,
                "Counts below %ld are suppressed (" MARK ")%s, and further counts are "
                "suppressed so that none can be recovered from the totals.",
                r->rules.threshold, r->rules.suppress_zeros ? ", zeros included" : "");
    else
        fputs("No count is suppressed.", f);
    if (r->rules.base > 1)
        fprintf(f,
                " Every other count is rounded to the nearest %ld; totals are rounded from "
                "the exact counts, so they may differ from the sum of the rounded cells.",
                r->rules.base);
}

/* ---- text --------------------------------------------------------------------------- */

static void text_value(FILE *f, const xchg__report_table *t, size_t c, int w)
{
    long v;
    if (xchg__report_shown(t, c, &v))
        fprintf(f, "%*ld", w, v);
    else
        fprintf(f, "%*s", w, MARK);
}

static void text_label(FILE *f, const char *s, size_t w)
{
    xchg_term_safe(f, s);
    for (size_t n = strlen(s); n < w; n++)
        fputc(' ', f);
}

static void render_text(FILE *f, const xchg__report *r)
{
    char ds[11], ps[11];
    xchg_date_format(r->run_date, ds);
    date_of(r->produced, ps);
    fputs("Programme report: agreement ", f);
    xchg_term_safe(f, r->agreement_id);
    fprintf(f, ", run %lld (evidence window ending %s), produced %s\n", (long long)r->run, ds, ps);
    rules_sentence(f, r);
    fputs("\n", f);
    for (size_t i = 0; i < r->ntables; i++) {
        const xchg__report_table *t = &r->tables[i];
        size_t lw = 5;
        for (size_t j = 0; j < t->rows; j++)
            if (strlen(t->row_label[j]) > lw)
                lw = strlen(t->row_label[j]);
        fprintf(f, "\n%s (%s)\n", t->title, t->unit);
        if (!t->cols) {
            for (size_t j = 0; j <= t->rows; j++) {
                if (j == t->rows && !has_total(t))
                    break;
                fputs("  ", f);
                text_label(f, j < t->rows ? t->row_label[j] : "Total", lw);
                text_value(f, t, j, 8);
                fputc('\n', f);
            }
            continue;
        }
        int cw = 8;
        for (size_t j = 0; j < t->cols; j++)
            if ((int)strlen(t->col_label[j]) + 1 > cw)
                cw = (int)strlen(t->col_label[j]) + 1;
        fputs("  ", f);
        text_label(f, "", lw);
        for (size_t j = 0; j <= t->cols; j++) {
            const char *h = j < t->cols ? t->col_label[j] : "Total";
            fprintf(f, "%*s", cw - (int)strlen(h), "");
            xchg_term_safe(f, h);
        }
        fputc('\n', f);
        for (size_t a = 0; a <= t->rows; a++) {
            fputs("  ", f);
            text_label(f, a < t->rows ? t->row_label[a] : "Total", lw);
            for (size_t b = 0; b <= t->cols; b++)
                text_value(f, t, a * (t->cols + 1) + b, cw);
            fputc('\n', f);
        }
    }
}

/* ---- CSV ---------------------------------------------------------------------------- */

static void csv_cell(FILE *f, const xchg__report_table *t, const char *row, const char *col,
                     size_t c)
{
    long v;
    xchg_csv_field(f, t->id);
    fputc(',', f);
    xchg_csv_field(f, row);
    fputc(',', f);
    xchg_csv_field(f, col);
    if (xchg__report_shown(t, c, &v))
        fprintf(f, ",%ld,\r\n", v);
    else
        fputs(",,c\r\n", f);
}

static void render_csv(FILE *f, const xchg__report *r)
{
    fputs("table,row,column,value,flag\r\n", f);
    for (size_t i = 0; i < r->ntables; i++) {
        const xchg__report_table *t = &r->tables[i];
        if (!t->cols) {
            for (size_t j = 0; j < t->rows; j++)
                csv_cell(f, t, t->row_label[j], t->unit, j);
            if (has_total(t))
                csv_cell(f, t, "Total", t->unit, t->rows);
            continue;
        }
        for (size_t a = 0; a <= t->rows; a++)
            for (size_t b = 0; b <= t->cols; b++)
                csv_cell(f, t, a < t->rows ? t->row_label[a] : "Total",
                         b < t->cols ? t->col_label[b] : "Total", a * (t->cols + 1) + b);
    }
}

/* ---- JSON --------------------------------------------------------------------------- */

static json_t *json_cell(const xchg__report_table *t, size_t c)
{
    long v;
    if (xchg__report_shown(t, c, &v))
        return json_pack("{s:I}", "value", (json_int_t)v);
    return json_pack("{s:n, s:b}", "value", "suppressed", 1);
}

static json_t *json_table(const xchg__report_table *t)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", t->id, "title", t->title, "unit", t->unit,
                          "source", t->source);
    json_t *rows = json_array();
    for (size_t a = 0; a < t->rows; a++) {
        json_t *row = json_pack("{s:s}", "label", t->row_label[a]);
        if (!t->cols) {
            json_t *c = json_cell(t, a);
            json_object_update(row, c);
            json_decref(c);
        } else {
            json_t *cells = json_array();
            for (size_t b = 0; b < t->cols; b++)
                json_array_append_new(cells, json_cell(t, a * (t->cols + 1) + b));
            json_object_set_new(row, "cells", cells);
            json_object_set_new(row, "total", json_cell(t, a * (t->cols + 1) + t->cols));
        }
        json_array_append_new(rows, row);
    }
    json_object_set_new(o, "rows", rows);
    if (t->cols) {
        json_t *cols = json_array(), *tot = json_array();
        for (size_t b = 0; b < t->cols; b++) {
            json_array_append_new(cols, json_string(t->col_label[b]));
            json_array_append_new(tot, json_cell(t, t->rows * (t->cols + 1) + b));
        }
        json_object_set_new(o, "columns", cols);
        json_object_set_new(o, "column_totals", tot);
        json_object_set_new(o, "total", json_cell(t, ncells_of(t) - 1));
    } else if (has_total(t)) {
        json_object_set_new(o, "total", json_cell(t, t->rows));
    }
    return o;
}

static char *render_json(const xchg__report *r)
{
    char ds[11], ps[11];
    xchg_date_format(r->run_date, ds);
    date_of(r->produced, ps);
    json_t *tables = json_array();
    for (size_t i = 0; i < r->ntables; i++)
        json_array_append_new(tables, json_table(&r->tables[i]));
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:I, s:s, s:s, s:{s:I, s:I, s:b, s:s, s:s}, s:o}", "format",
                  "exchange-report", "version", 1, "agreement", r->agreement_id, "run",
                  (json_int_t)r->run, "window_ends", ds, "produced", ps, "disclosure",
                  "suppress_below", (json_int_t)r->rules.threshold, "round_to",
                  (json_int_t)r->rules.base, "suppress_zeros", r->rules.suppress_zeros, "secondary",
                  "no lone suppressed cell in any row, column or total line; then every suppressed "
                  "cell's derivable interval checked by linear programming",
                  "marker", "suppressed: value null, \"suppressed\": true", "tables", tables);
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

/* ---- HTML --------------------------------------------------------------------------- */

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            if ((unsigned char)*s < 0x20)
                fputc(' ', f);
            else
                fputc(*s, f);
        }
    }
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    "color:#0b0c0c;background:#fff;max-width:62rem;margin:1.5rem auto;padding:0 1rem;"
    "line-height:1.4}"
    "h1{font-size:1.7rem;margin:0 0 .4rem}h2{font-size:1.25rem;margin:2rem 0 .3rem}"
    ".meta,.source,.sdc{color:#383f43}.sdc{border-left:4px solid #1d70b8;padding:.2rem .8rem}"
    "figure{margin:.6rem 0}svg{max-width:100%;height:auto}"
    "svg text{font-family:inherit;font-size:12px;fill:#0b0c0c}"
    "table{border-collapse:collapse;margin:.4rem 0 1rem;font-variant-numeric:tabular-nums}"
    "caption{text-align:left;font-weight:600;padding:.2rem 0}"
    "th,td{border:1px solid #b1b4b6;padding:.2rem .5rem}td{text-align:right}"
    "th{text-align:left;background:#f3f2f1}tr.total th,tr.total td,td.total{font-weight:700}"
    "td.c{color:#505a5f;background:repeating-linear-gradient(45deg,#fff,#fff 3px,#eee 3px,"
    "#eee 6px)}abbr{text-decoration:none}"
    "@media print{body{max-width:none;margin:0}section{break-inside:avoid}"
    "a{color:inherit;text-decoration:none}.sdc{border-left:2px solid #000}}";

static void html_value(FILE *f, const xchg__report_table *t, size_t c, const char *cls)
{
    long v;
    if (xchg__report_shown(t, c, &v))
        fprintf(f, "<td%s%s%s data-value=\"%ld\">%ld</td>", cls ? " class=\"" : "", cls ? cls : "",
                cls ? "\"" : "", v, v);
    else
        fprintf(f,
                "<td class=\"c%s%s\" data-suppressed=\"1\"><abbr title=\"suppressed\">" MARK
                "</abbr></td>",
                cls ? " " : "", cls ? cls : "");
}

static void html_table(FILE *f, const xchg__report_table *t)
{
    fprintf(f, "<table id=\"table-%s\" data-table=\"%s\"><caption>", t->id, t->id);
    html_text(f, t->title);
    fprintf(f, " (%s)</caption>\n<thead><tr><th scope=\"col\">%s</th>", t->unit,
            strcmp(t->id, "area") == 0       ? "Area"
            : strcmp(t->id, "age") == 0      ? "Age band"
            : strcmp(t->id, "problem") == 0  ? "Problem"
            : strcmp(t->id, "outcomes") == 0 ? "Problem"
            : strcmp(t->id, "teams") == 0    ? "Agencies"
                                             : "Problems");
    if (!t->cols) {
        fprintf(f, "<th scope=\"col\">%c%s</th></tr></thead>\n<tbody>\n", t->unit[0] - 'a' + 'A',
                t->unit + 1);
        for (size_t j = 0; j <= t->rows; j++) {
            if (j == t->rows && !has_total(t))
                break;
            fputs(j < t->rows ? "<tr><th scope=\"row\">" : "<tr class=\"total\"><th scope=\"row\">",
                  f);
            html_text(f, j < t->rows ? t->row_label[j] : "Total");
            fputs("</th>", f);
            html_value(f, t, j, NULL);
            fputs("</tr>\n", f);
        }
    } else {
        for (size_t b = 0; b <= t->cols; b++) {
            fputs("<th scope=\"col\">", f);
            html_text(f, b < t->cols ? t->col_label[b] : "Total");
            fputs("</th>", f);
        }
        fputs("</tr></thead>\n<tbody>\n", f);
        for (size_t a = 0; a <= t->rows; a++) {
            fputs(a < t->rows ? "<tr><th scope=\"row\">" : "<tr class=\"total\"><th scope=\"row\">",
                  f);
            html_text(f, a < t->rows ? t->row_label[a] : "Total");
            fputs("</th>", f);
            for (size_t b = 0; b <= t->cols; b++)
                html_value(f, t, a * (t->cols + 1) + b, b == t->cols ? "total" : NULL);
            fputs("</tr>\n", f);
        }
    }
    fputs("</tbody></table>\n", f);
}

static long max_shown(const xchg__report_table *t, size_t from, size_t n, size_t stride)
{
    long m = 0, v;
    for (size_t i = 0; i < n; i++)
        if (xchg__report_shown(t, from + i * stride, &v) && v > m)
            m = v;
    return m;
}

static void svg_open(FILE *f, const xchg__report_table *t, const char *kind, int w, int h)
{
    fprintf(f,
            "<figure data-chart=\"%s\" data-table=\"table-%s\">\n<svg xmlns=\"http://www.w3.org/"
            "2000/svg\" role=\"img\" aria-labelledby=\"svg-%s-t\" viewBox=\"0 0 %d %d\" "
            "width=\"%d\" height=\"%d\"><title id=\"svg-%s-t\">%s: ",
            t->id, t->id, t->id, w, h, w, h, t->id, kind);
    html_text(f, t->title);
    fputs(" (the table below gives the values)</title>\n", f);
}

static void svg_close(FILE *f, const xchg__report_table *t, const char *how)
{
    fputs("</svg>\n<figcaption>", f);
    html_text(f, t->title);
    fprintf(f,
            ". The values are in the table below; " MARK " marks a suppressed count, %s."
            "</figcaption>\n</figure>\n",
            how);
}

/* room for the longest row label at 12px (about 6.6px a character), within limits */
static int label_width(const xchg__report_table *t)
{
    size_t n = 0;
    for (size_t j = 0; j < t->rows; j++)
        if (strlen(t->row_label[j]) > n)
            n = strlen(t->row_label[j]);
    int w = (int)(n * 6.6) + 16;
    return w < 80 ? 80 : w > 480 ? 480 : w;
}

static void html_bars(FILE *f, const xchg__report_table *t)
{
    const int lw = label_width(t), bw = 360, rh = 22, w = lw + bw + 60;
    int h = (int)t->rows * rh + 10;
    long m = max_shown(t, 0, t->rows, 1);
    svg_open(f, t, "Bar chart", w, h);
    for (size_t j = 0; j < t->rows; j++) {
        int y = (int)j * rh + 5;
        long v;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lw - 8, y + 15);
        html_text(f, t->row_label[j]);
        fputs("</text>", f);
        if (xchg__report_shown(t, j, &v)) {
            int len = m > 0 ? (int)((double)v / (double)m * bw) : 0;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#1d70b8\"/>"
                    "<text x=\"%d\" y=\"%d\">%ld</text>\n",
                    lw, y + 2, len, rh - 6, lw + len + 4, y + 15, v);
        } else {
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#505a5f\">" MARK "</text>\n", lw + 4,
                    y + 15);
        }
    }
    svg_close(f, t, "drawn without a bar");
}

static void html_heatmap(FILE *f, const xchg__report_table *t)
{
    const int lw = label_width(t), cw = 64, rh = 24, top = 90;
    /* room on the right for the last column label, drawn rotated up and to the right */
    int w = lw + (int)t->cols * cw + 80, h = top + (int)t->rows * rh + 10;
    size_t W = t->cols + 1;
    long m = 0, v;
    for (size_t a = 0; a < t->rows; a++)
        for (size_t b = 0; b < t->cols; b++)
            if (xchg__report_shown(t, a * W + b, &v) && v > m)
                m = v;
    svg_open(f, t, "Heat map", w, h);
    fputs("<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
          "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
          "<rect width=\"3\" height=\"6\" fill=\"#ddd\"/></pattern></defs>\n",
          f);
    for (size_t b = 0; b < t->cols; b++) {
        int x = lw + (int)b * cw + cw / 2;
        fprintf(f, "<text transform=\"translate(%d %d) rotate(-40)\">", x, top - 6);
        html_text(f, t->col_label[b]);
        fputs("</text>\n", f);
    }
    for (size_t a = 0; a < t->rows; a++) {
        int y = top + (int)a * rh;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lw - 8, y + 16);
        html_text(f, t->row_label[a]);
        fputs("</text>", f);
        for (size_t b = 0; b < t->cols; b++) {
            int x = lw + (int)b * cw;
            if (xchg__report_shown(t, a * W + b, &v)) {
                /* light to dark blue by the share of the largest count */
                double s = m > 0 ? (double)v / (double)m : 0;
                int rr = (int)(243 - s * (243 - 29)), gg = (int)(246 - s * (246 - 112)),
                    bb = (int)(250 - s * (250 - 184));
                fprintf(f,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                        "fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\"/><text x=\"%d\" y=\"%d\" "
                        "text-anchor=\"middle\"%s>%ld</text>",
                        x, y, cw, rh, rr, gg, bb, x + cw / 2, y + 16,
                        s > 0.55 ? " style=\"fill:#fff\"" : "", v);
            } else {
                fprintf(f,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                        "fill=\"url(#hatch)\" stroke=\"#fff\"/><text x=\"%d\" y=\"%d\" "
                        "text-anchor=\"middle\" fill=\"#505a5f\">" MARK "</text>",
                        x, y, cw, rh, x + cw / 2, y + 16);
            }
        }
        fputc('\n', f);
    }
    svg_close(f, t, "drawn hatched");
}

/* RAG stacked bars: one bar per row, its published parts as segments (widths on one
 * scale, the largest row's shown parts the full width). Colour is not the only cue: each
 * status has its own fill pattern (solid, hatched, dotted), a legend, and each segment
 * wide enough carries its count; a suppressed part has no segment and is listed as
 * "[c]" after the bar with its status. */
static const struct {
    const char *name, *fill, *text;
} rag[3] = {
    {"Met (green)", "url(#rag-met)", "#fff"},
    {"Not met (red)", "url(#rag-notmet)", "#fff"},
    {"Too early (amber)", "url(#rag-early)", "#0b0c0c"},
};

static void html_stacked(FILE *f, const xchg__report_table *t)
{
    const int lw = label_width(t), bw = 420, rh = 26, top = 34, w = lw + bw + 190;
    const size_t W = t->cols + 1, nc = t->cols < 3 ? t->cols : 3;
    int h = top + (int)t->rows * rh + 10;
    long m = 0, v;
    for (size_t a = 0; a < t->rows; a++) {
        long sum = 0;
        for (size_t b = 0; b < nc; b++)
            if (xchg__report_shown(t, a * W + b, &v))
                sum += v;
        if (sum > m)
            m = sum;
    }
    svg_open(f, t, "Stacked bar chart", w, h);
    fputs("<defs><pattern id=\"rag-met\" width=\"8\" height=\"8\" "
          "patternUnits=\"userSpaceOnUse\"><rect width=\"8\" height=\"8\" fill=\"#00703c\"/>"
          "</pattern><pattern id=\"rag-notmet\" width=\"8\" height=\"8\" "
          "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"8\" "
          "height=\"8\" fill=\"#d4351c\"/><rect width=\"2\" height=\"8\" fill=\"#942514\"/>"
          "</pattern><pattern id=\"rag-early\" width=\"8\" height=\"8\" "
          "patternUnits=\"userSpaceOnUse\"><rect width=\"8\" height=\"8\" fill=\"#ffbf47\"/>"
          "<circle cx=\"4\" cy=\"4\" r=\"1.5\" fill=\"#a36b00\"/></pattern></defs>\n",
          f);
    /* the legend: pattern swatch and name */
    for (size_t b = 0; b < nc; b++) {
        int x = lw + (int)b * 150;
        fprintf(f,
                "<g class=\"legend\"><rect x=\"%d\" y=\"6\" width=\"16\" height=\"16\" "
                "fill=\"%s\" stroke=\"#0b0c0c\"/><text x=\"%d\" y=\"19\">%s</text></g>\n",
                x, rag[b].fill, x + 22, rag[b].name);
    }
    for (size_t a = 0; a < t->rows; a++) {
        int y = top + (int)a * rh, x = lw;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lw - 8, y + 17);
        html_text(f, t->row_label[a]);
        fputs("</text>", f);
        int nsupp = 0;
        for (size_t b = 0; b < nc; b++) {
            if (!xchg__report_shown(t, a * W + b, &v)) {
                nsupp++;
                continue;
            }
            int len = m > 0 ? (int)((double)v / (double)m * bw) : 0;
            if (len <= 0)
                continue;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                    "stroke=\"#fff\"><title>%s: %ld</title></rect>",
                    x, y + 2, len, rh - 6, rag[b].fill, rag[b].name, v);
            if (len >= 28)
                fprintf(f,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                        "style=\"fill:%s\">%ld</text>",
                        x + len / 2, y + 17, rag[b].text, v);
            x += len;
        }
        if (nsupp) {
            /* the suppressed parts, by name: no segment, no value */
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#505a5f\">", x + 6, y + 17);
            int first = 1;
            for (size_t b = 0; b < nc; b++)
                if (!xchg__report_shown(t, a * W + b, &v)) {
                    fprintf(f, "%s" MARK " %s", first ? "" : ", ", t->col_label[b]);
                    first = 0;
                }
            fputs("</text>", f);
        }
        fputc('\n', f);
    }
    svg_close(f, t, "drawn without a segment and named after the bar");
}

static void render_html(FILE *f, const xchg__report *r)
{
    char ds[11], ps[11];
    xchg_date_format(r->run_date, ds);
    date_of(r->produced, ps);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"exchange report 1\">\n<title>Programme report: ",
          f);
    html_text(f, r->agreement_id);
    fprintf(f,
            ", run %lld</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n"
            "<h1>Programme report</h1>\n<p class=\"meta\">Agreement <strong>",
            (long long)r->run, css);
    html_text(f, r->agreement_id);
    fprintf(f,
            "</strong>, run %lld, evidence window ending %s; produced %s.</p>\n"
            "<p class=\"sdc\" id=\"disclosure\">",
            (long long)r->run, ds, ps);
    rules_sentence(f, r);
    fputs("</p>\n</header>\n<main>\n", f);
    for (size_t i = 0; i < r->ntables; i++) {
        const xchg__report_table *t = &r->tables[i];
        fprintf(f, "<section id=\"s-%s\" aria-labelledby=\"h-%s\">\n<h2 id=\"h-%s\">", t->id, t->id,
                t->id);
        html_text(f, t->title);
        fputs("</h2>\n<p class=\"source\">", f);
        html_text(f, t->source);
        fputs("</p>\n", f);
        if (t->chart == XCHG__CHART_BARS && t->rows > 0)
            html_bars(f, t);
        else if (t->chart == XCHG__CHART_HEATMAP && t->rows > 0 && t->cols > 0)
            html_heatmap(f, t);
        else if (t->chart == XCHG__CHART_STACKED && t->rows > 0 && t->cols > 0)
            html_stacked(f, t);
        html_table(f, t);
        fputs("</section>\n", f);
    }
    fputs("</main>\n</body>\n</html>\n", f);
}

xchg_err xchg__report_render(const xchg__report *r, xchg_report_format fmt, char **out, size_t *len)
{
    if (!r || !out || !len)
        return XCHG_ERR_ARG;
    if (fmt == XCHG_REPORT_JSON) {
        char *s = render_json(r);
        if (!s)
            return XCHG_ERR_NOMEM;
        size_t n = strlen(s);
        char *t = realloc(s, n + 2);
        if (!t) {
            free(s);
            return XCHG_ERR_NOMEM;
        }
        t[n] = '\n';
        t[n + 1] = 0;
        *out = t;
        *len = n + 1;
        return XCHG_OK;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return XCHG_ERR_NOMEM;
    if (fmt == XCHG_REPORT_CSV)
        render_csv(f, r);
    else if (fmt == XCHG_REPORT_HTML)
        render_html(f, r);
    else
        render_text(f, r);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return XCHG_ERR_NOMEM;
    }
    *out = buf;
    *len = n;
    return XCHG_OK;
}
