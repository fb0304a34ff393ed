/*
 * Extract records (docs/formats.md "Extract record"): version 2 round trip with measure
 * events, age and area; version 1 still reads; every malformed shape is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "exchange/record.h"

static xchg_record sample(void)
{
    xchg_record r;
    memset(&r, 0, sizeof r);
    r.ref = "ED00000042";
    r.ref_len = strlen(r.ref);
    r.nind = 2;
    r.ind[0] = (xchg_indicator_ev){.problem = 3, .start = 20000, .end = 20010};
    r.ind[1] = (xchg_indicator_ev){.is_measure = 1, .problem = XCHG_IND_NONE, .measure = 7,
                                   .start = 20100, .end = 20100, .value = 131, .of = 146};
    r.consent = 2;
    r.consent_date = XCHG_DATE_NONE;
    r.age = 15;
    r.area = "E05012345";
    r.area_len = strlen(r.area);
    return r;
}

static void test_v2_round_trip(void **state)
{
    (void)state;
    xchg_record r = sample(), back;
    uint8_t buf[512];
    size_t n;
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_OK);
    assert_int_equal(n, xchg_record_size(&r));
    assert_int_equal(buf[0], 2);
    assert_int_equal(xchg_record_decode(buf, n, &back, NULL), XCHG_OK);
    assert_int_equal(back.nind, 2);
    assert_int_equal(back.ind[0].is_measure, 0);
    assert_int_equal(back.ind[0].problem, 3);
    assert_int_equal(back.ind[0].end, 20010);
    assert_int_equal(back.ind[1].is_measure, 1);
    assert_int_equal(back.ind[1].measure, 7);
    assert_true(back.ind[1].value == 131 && back.ind[1].of == 146);
    assert_int_equal(back.age, 15);
    assert_int_equal(back.area_len, 9);
    assert_memory_equal(back.area, "E05012345", 9);
    /* every truncation is refused */
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(xchg_record_decode(buf, k, &back, NULL), XCHG_OK);
}

/* A version 1 record, written byte by byte as docs/formats.md gives it. */
static void test_v1_reads(void **state)
{
    (void)state;
    uint8_t v1[] = {1, 2, 0, 'P', '1', 0, 0, 0, 0, 0, /* no tokens, no CLK */
                    1, 4, 0x20, 0x4e, 0, 0, 0x20, 0x4e, 0, 0, /* problem 4, day 20000 */
                    0, 0, 0, 0, 0x80, 0, /* given, no date, no basis */
                    0, 0, 0, 0};
    xchg_record r;
    assert_int_equal(xchg_record_decode(v1, sizeof v1, &r, NULL), XCHG_OK);
    assert_int_equal(r.nind, 1);
    assert_int_equal(r.ind[0].is_measure, 0);
    assert_int_equal(r.ind[0].problem, 4);
    assert_int_equal(r.ind[0].start, 20000);
    assert_int_equal(r.age, XCHG_AGE_UNKNOWN);
    assert_int_equal(r.area_len, 0);
}

static void test_refused(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n;
    xchg_record r = sample(), back;
    r.ind[1].value = NAN;
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_ERR_ARG);
    r = sample();
    r.area_len = XCHG_RECORD_MAX_AREA + 1;
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_ERR_ARG);
    /* an event that names both a problem and a measure, or neither */
    r = sample();
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_OK);
    size_t at = 1 + 2 + r.ref_len + 3 + 2 + 1 + 26; /* the second event */
    assert_int_equal(buf[at], XCHG_IND_NONE);
    buf[at] = 1;
    assert_int_equal(xchg_record_decode(buf, n, &back, NULL), XCHG_ERR_FORMAT);
    buf[at] = XCHG_IND_NONE;
    buf[at + 1] = XCHG_IND_NONE;
    assert_int_equal(xchg_record_decode(buf, n, &back, NULL), XCHG_ERR_FORMAT);
    buf[at + 1] = 7;
    /* a value that is not finite */
    memset(buf + at + 10, 0xff, 6); /* value (LE) 0x7fffffffffffffff: a NaN */
    buf[at + 16] = 0xff, buf[at + 17] = 0x7f;
    assert_int_equal(xchg_record_decode(buf, n, &back, NULL), XCHG_ERR_FORMAT);
    /* an impossible age */
    r = sample();
    r.age = 200;
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_ERR_ARG);
    r.age = 15;
    assert_int_equal(xchg_record_encode(&r, buf, sizeof buf, &n), XCHG_OK);
    size_t age_at = n - 4 - r.area_len - 2;
    assert_int_equal(buf[age_at], 15);
    buf[age_at] = 200;
    assert_int_equal(xchg_record_decode(buf, n, &back, NULL), XCHG_ERR_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_round_trip),
        cmocka_unit_test(test_v1_reads),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
