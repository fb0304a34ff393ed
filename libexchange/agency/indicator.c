/*
 * Indicator evaluation (indicator.h): the agreement's conditions on one row — row
 * conditions, per-person sums and ratios over the rows of the problem's window — and the
 * dates of the events they indicate, kept when they fall within the extract's period.
 */
#include "indicator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exchange/date.h"

static int32_t window_of(const xchg__indicators *ind, size_t problem)
{
    int32_t w = ind->p->problems[problem].window_days;
    return w > 0 ? w : ind->p->rule_window_days;
}

static int compare(double a, xchg_op op, double b)
{
    switch (op) {
    case XCHG_OP_LT: return a < b;
    case XCHG_OP_LE: return a <= b;
    case XCHG_OP_GT: return a > b;
    case XCHG_OP_GE: return a >= b;
    case XCHG_OP_EQ: return a == b;
    case XCHG_OP_NE: return a != b;
    case XCHG_OP_IN:
    case XCHG_OP_PRESENT: return 0;
    }
    return 0;
}

static int row_condition(const xchg__indicators *ind, const xchg__val *vals,
                         const xchg_condition *c)
{
    const xchg__val *v = &vals[c->field];
    const xchg_field *f = &ind->p->fields[c->field];
    if (c->op == XCHG_OP_PRESENT)
        return v->present;
    if (!v->present)
        return 0;
    if (f->type == XCHG_FT_NUMBER && c->op != XCHG_OP_IN)
        return compare(v->num, c->op, c->number);
    if (c->op == XCHG_OP_IN) {
        for (size_t i = 0; i < c->nlist; i++)
            if (strcasecmp(v->canon, c->list[i]) == 0)
                return 1;
        return 0;
    }
    int eq = c->text && strcasecmp(v->canon, c->text) == 0;
    return c->op == XCHG_OP_EQ ? eq : c->op == XCHG_OP_NE ? !eq : 0;
}

/* The evidence date of an indicator for this row, or XCHG_DATE_NONE. */
static int32_t ind_date(const xchg__indicators *ind, const xchg__val *vals,
                        const xchg_indicator *in)
{
    if (in->date_field == XCHG_NONE)
        return ind->period_end;
    return vals[in->date_field].present ? vals[in->date_field].date : XCHG_DATE_NONE;
}

static int group_key(const xchg__indicators *ind, const xchg__val *vals, uint8_t key[16])
{
    if (ind->x->group_by == XCHG_NONE || !vals[ind->x->group_by].present)
        return 0;
    const char *g = vals[ind->x->group_by].canon;
    xchg__digest16(g, strlen(g), key);
    return 1;
}

xchg_err xchg__ind_init(xchg__indicators *ind, const xchg_policy_data *p, const xchg_extract *x,
                        int32_t period_start, int32_t period_end)
{
    memset(ind, 0, sizeof *ind);
    ind->p = p;
    ind->x = x;
    ind->period_start = period_start;
    ind->period_end = period_end;
    size_t n = 0;
    for (size_t i = 0; i < x->nindicators; i++)
        for (size_t c = 0; c < x->indicators[i].nall; c++)
            n += x->indicators[i].all[c].agg != XCHG_AGG_ROW;
    ind->nagg = n;
    if (!n)
        return XCHG_OK;
    ind->agg_ind = calloc(n, sizeof *ind->agg_ind);
    ind->agg_cond = calloc(n, sizeof *ind->agg_cond);
    if (!ind->agg_ind || !ind->agg_cond)
        return XCHG_ERR_NOMEM;
    n = 0;
    for (size_t i = 0; i < x->nindicators; i++)
        for (size_t c = 0; c < x->indicators[i].nall; c++)
            if (x->indicators[i].all[c].agg != XCHG_AGG_ROW) {
                ind->agg_ind[n] = i;
                ind->agg_cond[n++] = c;
            }
    return XCHG_OK;
}

void xchg__ind_free(xchg__indicators *ind)
{
    free(ind->agg_ind);
    free(ind->agg_cond);
    free(ind->sums);
    xchg__hmap_free(&ind->groups);
    memset(ind, 0, sizeof *ind);
}

int xchg__ind_accumulate(xchg__indicators *ind, const xchg__val *vals)
{
    uint8_t key[16];
    if (!ind->nagg || !group_key(ind, vals, key))
        return 0;
    int found;
    long slot = xchg__hmap_slot(&ind->groups, key, 1, &found);
    if (slot < 0)
        return -1;
    if (ind->groups.cap * ind->nagg * 2 > ind->sums_cap) {
        /* the map may have grown and moved: rebuild sums by slot */
        size_t nc = ind->groups.cap * ind->nagg * 2;
        double *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        /* re-index: values store a dense group number, sums are by that number */
        if (ind->sums)
            memcpy(ns, ind->sums, ind->sums_cap * sizeof *ns);
        free(ind->sums);
        ind->sums = ns;
        ind->sums_cap = nc;
    }
    if (!found)
        ind->groups.vals[slot] = (uint32_t)(ind->groups.n - 1);
    double *g = ind->sums + (size_t)ind->groups.vals[slot] * ind->nagg * 2;
    for (size_t a = 0; a < ind->nagg; a++) {
        const xchg_indicator *in = &ind->x->indicators[ind->agg_ind[a]];
        const xchg_condition *c = &in->all[ind->agg_cond[a]];
        int32_t dt = ind_date(ind, vals, in);
        int32_t w = window_of(ind, in->problem);
        if (dt == XCHG_DATE_NONE || dt > ind->period_end || dt <= ind->period_end - w)
            continue;
        if (vals[c->field].present)
            g[2 * a] += vals[c->field].num;
        if (c->agg == XCHG_AGG_RATIO && vals[c->field2].present)
            g[2 * a + 1] += vals[c->field2].num;
    }
    return 0;
}

static int agg_condition(const xchg__indicators *ind, const xchg__val *vals, size_t i,
                         size_t cond)
{
    uint8_t key[16];
    if (!group_key(ind, vals, key))
        return 0;
    int found;
    long slot = xchg__hmap_slot((xchg__hmap *)&ind->groups, key, 0, &found);
    if (slot < 0 || !found)
        return 0;
    size_t a = 0;
    while (a < ind->nagg && !(ind->agg_ind[a] == i && ind->agg_cond[a] == cond))
        a++;
    if (a == ind->nagg)
        return 0;
    const double *g = ind->sums + (size_t)ind->groups.vals[slot] * ind->nagg * 2;
    const xchg_condition *c = &ind->x->indicators[i].all[cond];
    double v = g[2 * a];
    if (c->agg == XCHG_AGG_RATIO) {
        if (g[2 * a + 1] <= 0)
            return 0;
        v = g[2 * a] / g[2 * a + 1];
    }
    return compare(v, c->op, c->number);
}

/* Whole years from the date of birth to day d (-1 when unknown or before birth). */
static int age_on(const xchg__indicators *ind, const xchg__val *vals, int32_t d)
{
    size_t f = ind->p->dob_field;
    if (f == XCHG_NONE || !vals[f].present || d == XCHG_DATE_NONE || d < vals[f].date)
        return -1;
    int by, bm, bd, y, m, dd;
    xchg_date_to_ymd(vals[f].date, &by, &bm, &bd);
    xchg_date_to_ymd(d, &y, &m, &dd);
    int a = y - by - (m < bm || (m == bm && dd < bd));
    return a;
}

void xchg__ind_person(const xchg__indicators *ind, const xchg__val *vals, xchg_record *r,
                      char area[XCHG_RECORD_MAX_AREA + 1])
{
    int a = age_on(ind, vals, ind->period_end);
    r->age = a >= 0 && a <= 150 ? (uint8_t)a : XCHG_AGE_UNKNOWN;
    area[0] = '\0';
    const xchg_policy_data *p = ind->p;
    if (p->area_field != XCHG_NONE && vals[p->area_field].present) {
        /* an area code longer than the format allows is cut at a character boundary */
        const char *v = vals[p->area_field].canon;
        size_t n = strlen(v);
        if (n > XCHG_RECORD_MAX_AREA) {
            n = XCHG_RECORD_MAX_AREA;
            while (n && ((unsigned char)v[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(area, v, n);
        area[n] = '\0';
    } else if (p->nareas) {
        for (size_t f = 0; f < p->nfields; f++) {
            if (p->fields[f].type != XCHG_FT_POSTCODE || !vals[f].present)
                continue;
            /* a sector's own entry wins over its district's */
            const char *hit = NULL;
            for (size_t i = 0; i < p->nareas; i++) {
                if (strcmp(vals[f].pc.sector, p->area_sectors[i]) == 0) {
                    hit = p->area_names[i];
                    break;
                }
                if (!hit && strcmp(vals[f].pc.outward, p->area_sectors[i]) == 0)
                    hit = p->area_names[i];
            }
            if (hit)
                snprintf(area, XCHG_RECORD_MAX_AREA + 1, "%s", hit);
            break;
        }
    }
    r->area = area;
    r->area_len = strlen(area);
}

/* Do all of indicator i's conditions hold for this row? */
static int holds(const xchg__indicators *ind, const xchg__val *vals, size_t i)
{
    const xchg_indicator *in = &ind->x->indicators[i];
    int h = in->nall > 0 || in->measure != XCHG_NONE;
    for (size_t c = 0; c < in->nall && h; c++)
        h = in->all[c].agg == XCHG_AGG_ROW ? row_condition(ind, vals, &in->all[c])
                                           : agg_condition(ind, vals, i, c);
    return h;
}

int xchg__ind_evaluate(const xchg__indicators *ind, const xchg__val *vals, xchg_record *r,
                       uint64_t *out_of_period, xchg__ind_fault *fault)
{
    for (size_t i = 0; i < ind->x->nindicators; i++) {
        const xchg_indicator *in = &ind->x->indicators[i];
        if (!holds(ind, vals, i))
            continue;
        int32_t start = ind_date(ind, vals, in);
        if (start == XCHG_DATE_NONE) {
            *fault = (xchg__ind_fault){XCHG__IND_NO_DATE, in};
            return 1;
        }
        int32_t end = start;
        if (in->end_field != XCHG_NONE)
            end = vals[in->end_field].present ? vals[in->end_field].date : XCHG_DATE_OPEN;
        if (end < start) {
            *fault = (xchg__ind_fault){XCHG__IND_END_BEFORE_START, in};
            return 1;
        }
        if (end < ind->period_start || start > ind->period_end) {
            (*out_of_period)++;
            continue;
        }
        xchg_indicator_ev ev = {.start = start, .end = end};
        if (in->measure != XCHG_NONE) {
            /* a measure: the person's age on the evidence date, the numbers it carries */
            int a = age_on(ind, vals, start);
            if ((in->age_min >= 0 || in->age_below >= 0) &&
                (a < 0 || (in->age_min >= 0 && a < in->age_min) ||
                 (in->age_below >= 0 && a >= in->age_below)))
                continue;
            if ((in->value_field != XCHG_NONE && !vals[in->value_field].present) ||
                (in->of_field != XCHG_NONE && !vals[in->of_field].present))
                continue; /* nothing measured on this row */
            ev.is_measure = 1;
            ev.problem = XCHG_IND_NONE;
            ev.measure = (uint8_t)in->measure;
            ev.value = in->value_field != XCHG_NONE ? vals[in->value_field].num : 1;
            ev.of = in->of_field != XCHG_NONE ? vals[in->of_field].num : 0;
        } else {
            ev.problem = (uint8_t)in->problem;
        }
        int dup = 0;
        for (size_t k = 0; k < r->nind; k++)
            dup |= r->ind[k].is_measure == ev.is_measure && r->ind[k].problem == ev.problem &&
                   r->ind[k].measure == ev.measure && r->ind[k].start == start &&
                   r->ind[k].end == end;
        if (dup || r->nind == XCHG_RECORD_MAX_INDICATORS)
            continue;
        r->ind[r->nind++] = ev;
    }
    return 0;
}
