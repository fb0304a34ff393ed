/*
 * Disclosure control (sdc.c): primary and secondary suppression and rounding on
 * hand-made tables with known answers; the attacker's LP intervals against an exhaustive
 * search on small tables; and, on many random tables, that no suppressed cell of a
 * protected table can be narrowed below the threshold.
 */
#include "sdc.h"
#include "test_helpers.h"

static const xchg__sdc_rules R5 = {5, 5, 0};

static void test_round(void **state)
{
    (void)state;
    assert_int_equal(xchg__sdc_round(0, 5), 0);
    assert_int_equal(xchg__sdc_round(2, 5), 0);
    assert_int_equal(xchg__sdc_round(3, 5), 5); /* halves up: 2.5 of 5 */
    assert_int_equal(xchg__sdc_round(7, 5), 5);
    assert_int_equal(xchg__sdc_round(8, 5), 10);
    assert_int_equal(xchg__sdc_round(62, 5), 60);
    assert_int_equal(xchg__sdc_round(15, 10), 20);
    assert_int_equal(xchg__sdc_round(14, 10), 10);
    assert_int_equal(xchg__sdc_round(7, 1), 7);
    assert_int_equal(xchg__sdc_round(7, 0), 7);
}

/* one small cell: the smallest other part goes with it; the total is published */
static void test_1d_pair(void **state)
{
    (void)state;
    long v[] = {2, 10, 20, 30};
    xchg__sdc_table *t = xchg__sdc_new_1d(4, v);
    assert_non_null(t);
    assert_int_equal(t->value[4], 62);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    int want[] = {XCHG__SDC_PRIMARY, XCHG__SDC_SECONDARY, 0, 0, 0};
    long shown[] = {0, 0, 20, 30, 60};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t->state[i], want[i]);
        assert_int_equal(t->shown[i], shown[i]);
    }
    long lo[5], hi[5];
    assert_int_equal(xchg__sdc_intervals(t, t->value, lo, hi), XCHG_OK);
    assert_int_equal(lo[0], 0);
    assert_int_equal(hi[0], 12);
    assert_int_equal(lo[1], 0);
    assert_int_equal(hi[1], 12);
    xchg__sdc_free(t);
}

/* two small cells whose sum (3) is itself below the threshold: a third must go */
static void test_1d_small_sum(void **state)
{
    (void)state;
    long v[] = {1, 2, 40};
    xchg__sdc_table *t = xchg__sdc_new_1d(3, v);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    assert_int_equal(t->state[0], XCHG__SDC_PRIMARY);
    assert_int_equal(t->state[1], XCHG__SDC_PRIMARY);
    assert_int_equal(t->state[2], XCHG__SDC_SECONDARY);
    assert_int_equal(t->state[3], XCHG__SDC_PUBLISHED);
    assert_int_equal(t->shown[3], 45);
    size_t ex;
    long narrow;
    assert_int_equal(xchg__sdc_exposed(t, 5, &ex, &narrow), XCHG_OK);
    assert_int_equal(ex, 0);
    assert_int_equal(narrow, 43);
    xchg__sdc_free(t);
}

/* zeros: published by default; suppressed (and protected) when the agreement asks */
static void test_zeros(void **state)
{
    (void)state;
    long v[] = {0, 12, 30};
    xchg__sdc_table *t = xchg__sdc_new_1d(3, v);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t->state[i], XCHG__SDC_PUBLISHED);
    assert_int_equal(t->shown[0], 0);
    xchg__sdc_rules z = {5, 5, 1};
    assert_int_equal(xchg__sdc_protect(t, &z), XCHG_OK);
    assert_int_equal(t->state[0], XCHG__SDC_PRIMARY);
    assert_int_equal(t->state[1], XCHG__SDC_SECONDARY);
    assert_int_equal(t->state[2], XCHG__SDC_PUBLISHED);
    xchg__sdc_free(t);
}

/* no suppression and no rounding asked: everything as counted */
static void test_off(void **state)
{
    (void)state;
    long v[] = {1, 2, 3};
    xchg__sdc_table *t = xchg__sdc_new_1d(3, v);
    xchg__sdc_rules off = {0, 1, 0};
    assert_int_equal(xchg__sdc_protect(t, &off), XCHG_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t->state[i], XCHG__SDC_PUBLISHED);
    assert_int_equal(t->shown[3], 6);
    xchg__sdc_free(t);
}

/* the classic 2-D case: one small cell costs a cycle of four suppressions */
static void test_2d_cycle(void **state)
{
    (void)state;
    long v[] = {20, 3, 15, /**/ 12, 8, 30, /**/ 25, 14, 9};
    xchg__sdc_table *t = xchg__sdc_new_2d(3, 3, v);
    assert_non_null(t);
    /* margins from the unrounded interior */
    assert_int_equal(t->value[0 * 4 + 3], 38);
    assert_int_equal(t->value[3 * 4 + 1], 25);
    assert_int_equal(t->value[3 * 4 + 3], 136);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    /* 3 primary; 15 (row 0's smallest), 8 (column 1's), then 30: it closes column 2
       and row 1 at once */
    size_t supp[] = {0 * 4 + 1, 0 * 4 + 2, 1 * 4 + 1, 1 * 4 + 2};
    size_t ns = 0;
    for (size_t c = 0; c < t->ncells; c++)
        if (t->state[c] != XCHG__SDC_PUBLISHED)
            ns++;
    assert_int_equal(ns, 4);
    assert_int_equal(t->state[supp[0]], XCHG__SDC_PRIMARY);
    for (int i = 1; i < 4; i++)
        assert_int_equal(t->state[supp[i]], XCHG__SDC_SECONDARY);
    long lo[16], hi[16];
    assert_int_equal(xchg__sdc_intervals(t, t->value, lo, hi), XCHG_OK);
    /* x01 = 3 + d, x02 = 15 - d, x11 = 8 - d, x12 = 30 + d, d in [-3, 8] */
    long wlo[] = {0, 7, 0, 27}, whi[] = {11, 18, 11, 38};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lo[supp[i]], wlo[i]);
        assert_int_equal(hi[supp[i]], whi[i]);
    }
    /* margins rounded on their own unrounded values */
    assert_int_equal(t->shown[0 * 4 + 3], 40);  /* 38 */
    assert_int_equal(t->shown[3 * 4 + 3], 135); /* 136 */
    assert_int_equal(t->shown[2 * 4 + 2], 10);  /* 9 */
    xchg__sdc_free(t);
}

/* a small margin (a row whose total is below the threshold) is itself suppressed, and
 * recovering it from the grand total and the other row totals is blocked */
static void test_2d_small_margin(void **state)
{
    (void)state;
    long v[] = {1, 2, 0, /**/ 10, 20, 30, /**/ 40, 11, 17};
    xchg__sdc_table *t = xchg__sdc_new_2d(3, 3, v);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    assert_int_equal(t->state[0 * 4 + 3], XCHG__SDC_PRIMARY); /* row 0 total: 3 */
    size_t ex;
    long narrow;
    assert_int_equal(xchg__sdc_exposed(t, 5, &ex, &narrow), XCHG_OK);
    assert_int_equal(ex, 0);
    assert_true(narrow >= 5);
    xchg__sdc_free(t);
}

/* a table with no linear relation: primary only, and nothing else goes */
static void test_no_lines(void **state)
{
    (void)state;
    long v[] = {3, 50, 7};
    xchg__sdc_table *t = xchg__sdc_new_free(3, v);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    assert_int_equal(t->state[0], XCHG__SDC_PRIMARY);
    assert_int_equal(t->state[1], XCHG__SDC_PUBLISHED);
    assert_int_equal(t->state[2], XCHG__SDC_PUBLISHED);
    assert_int_equal(t->shown[2], 5);
    xchg__sdc_free(t);
}

/* linked tables: families per problem combination and per problem. Protected one by one,
 * {A,B} (the secondary beside {A} = 3) is recovered as B - {B}; protected as one set of
 * lines, it is not. */
static void test_linked(void **state)
{
    (void)state;
    /* cells: {A} {B} {A,B} {C} | total | A B C */
    long v[] = {3, 20, 10, 30, 63, 13, 30, 30};
    size_t off[] = {0, 4, 6, 8, 9};
    size_t part[] = {0, 1, 2, 3, /* A */ 0, 2, /* B */ 1, 2, /* C */ 3};
    size_t tot[] = {4, 5, 6, 7};
    /* alone: the combinations' table, then the problem lines checked against it */
    xchg__sdc_table *alone = xchg__sdc_new(8, v, 1, off, part, tot);
    assert_int_equal(xchg__sdc_protect(alone, &R5), XCHG_OK);
    assert_int_equal(alone->state[2], XCHG__SDC_SECONDARY);
    xchg__sdc_table *attack = xchg__sdc_new(8, v, 4, off, part, tot);
    memcpy(attack->state, alone->state, sizeof v / sizeof v[0] * sizeof(int));
    size_t ex;
    long narrow;
    assert_int_equal(xchg__sdc_exposed(attack, 5, &ex, &narrow), XCHG_OK);
    assert_int_equal(ex, 2);
    assert_int_equal(narrow, 0);
    /* together */
    xchg__sdc_table *t = xchg__sdc_new(8, v, 4, off, part, tot);
    assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
    assert_int_equal(xchg__sdc_exposed(t, 5, &ex, &narrow), XCHG_OK);
    assert_int_equal(ex, 0);
    assert_true(narrow >= 5);
    xchg__sdc_free(alone);
    xchg__sdc_free(attack);
    xchg__sdc_free(t);
}

/* ---- the LP attacker against an exhaustive search ---------------------------------- */

struct brute {
    const xchg__sdc_table *t;
    size_t *cells; /* suppressed cells, in order */
    size_t n;
    long *x;  /* current assignment, all cells */
    long *ub; /* per cell */
    long *lo, *hi;
    int found;
};

static int lines_ok(const struct brute *b, const unsigned char *set)
{
    const xchg__sdc_table *t = b->t;
    for (size_t k = 0; k < t->nlines; k++) {
        if (!set[t->line_total[k]])
            continue;
        long s = 0;
        int all = 1;
        for (size_t i = t->line_off[k]; i < t->line_off[k + 1]; i++) {
            if (!set[t->line_part[i]])
                all = 0;
            else
                s += b->x[t->line_part[i]];
        }
        if (all ? s != b->x[t->line_total[k]] : s > b->x[t->line_total[k]])
            return 0;
    }
    return 1;
}

static void dfs(struct brute *b, size_t d, unsigned char *set)
{
    if (d == b->n) {
        b->found = 1;
        for (size_t i = 0; i < b->n; i++) {
            size_t c = b->cells[i];
            if (b->x[c] < b->lo[c])
                b->lo[c] = b->x[c];
            if (b->x[c] > b->hi[c])
                b->hi[c] = b->x[c];
        }
        return;
    }
    size_t c = b->cells[d];
    set[c] = 1;
    for (long v = 0; v <= b->ub[c]; v++) {
        b->x[c] = v;
        if (lines_ok(b, set))
            dfs(b, d + 1, set);
    }
    set[c] = 0;
}

static uint32_t rng = 12345;
static long rnd(long n)
{
    rng = rng * 1103515245u + 12345u;
    return (long)((rng >> 8) % (uint32_t)n);
}

static void test_lp_vs_exhaustive(void **state)
{
    (void)state;
    int compared = 0;
    for (int trial = 0; trial < 60; trial++) {
        long v[9];
        for (int i = 0; i < 9; i++)
            v[i] = rnd(4) == 0 ? rnd(5) : 5 + rnd(8);
        xchg__sdc_table *t = xchg__sdc_new_2d(3, 3, v);
        assert_int_equal(xchg__sdc_protect(t, &R5), XCHG_OK);
        size_t G = 15;
        if (t->state[G] != XCHG__SDC_PUBLISHED) {
            xchg__sdc_free(t);
            continue;
        }
        long lo[16], hi[16], blo[16], bhi[16], x[16], ub[16];
        size_t cells[16], n = 0;
        unsigned char set[16] = {0};
        assert_int_equal(xchg__sdc_intervals(t, t->value, lo, hi), XCHG_OK);
        for (size_t c = 0; c < 16; c++) {
            ub[c] = t->value[G];
            if (t->state[c] != XCHG__SDC_PUBLISHED) {
                cells[n++] = c;
                blo[c] = LONG_MAX;
                bhi[c] = -1;
            } else {
                x[c] = t->value[c];
                set[c] = 1;
            }
        }
        struct brute b = {t, cells, n, x, ub, blo, bhi, 0};
        if (n <= 7) {
            dfs(&b, 0, set);
            assert_true(b.found);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(lo[cells[i]], blo[cells[i]]);
                assert_int_equal(hi[cells[i]], bhi[cells[i]]);
            }
            compared++;
        }
        xchg__sdc_free(t);
    }
    print_message("exhaustive search agrees on %d tables\n", compared);
    assert_true(compared >= 20);
}

/* ---- the attack on many protected tables -------------------------------------------- */

static void test_attack_random(void **state)
{
    (void)state;
    const xchg__sdc_rules rules[] = {{5, 5, 0}, {5, 5, 1}, {10, 5, 0}, {3, 1, 0}};
    size_t tables = 0, cells = 0;
    for (int trial = 0; trial < 300; trial++) {
        size_t rows = 1 + (size_t)rnd(8), cols = 1 + (size_t)rnd(6);
        long v[48];
        for (size_t i = 0; i < rows * cols; i++) /* skewed: many small counts */
            v[i] = rnd(3) == 0 ? rnd(5) : rnd(3) == 0 ? rnd(200) : rnd(25);
        const xchg__sdc_rules *r = &rules[trial % 4];
        xchg__sdc_table *t =
            trial % 5 == 0 ? xchg__sdc_new_1d(rows * cols, v) : xchg__sdc_new_2d(rows, cols, v);
        assert_int_equal(xchg__sdc_protect(t, r), XCHG_OK);
        size_t ex;
        long narrow;
        assert_int_equal(xchg__sdc_exposed(t, r->threshold, &ex, &narrow), XCHG_OK);
        if (ex)
            fail_msg("trial %d: %zu exposed cells (narrowest %ld)", trial, ex, narrow);
        for (size_t c = 0; c < t->ncells; c++) {
            long val = t->value[c];
            int small = val < r->threshold && (val > 0 || r->suppress_zeros);
            if (small) /* every small cell is suppressed */
                assert_int_not_equal(t->state[c], XCHG__SDC_PUBLISHED);
            if (t->state[c] == XCHG__SDC_PUBLISHED)
                assert_int_equal(t->shown[c] % r->base, 0);
            cells += t->state[c] != XCHG__SDC_PUBLISHED;
        }
        tables++;
        xchg__sdc_free(t);
    }
    print_message("attack: %zu random tables, %zu suppressed cells, none narrower than the "
                  "threshold\n",
                  tables, cells);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_1d_pair),
        cmocka_unit_test(test_1d_small_sum),
        cmocka_unit_test(test_zeros),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_2d_cycle),
        cmocka_unit_test(test_2d_small_margin),
        cmocka_unit_test(test_no_lines),
        cmocka_unit_test(test_linked),
        cmocka_unit_test(test_lp_vs_exhaustive),
        cmocka_unit_test(test_attack_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
