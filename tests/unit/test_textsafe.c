/*
 * Output neutralisation: CSV fields (RFC 4180 quoting, formula injection) and text for a
 * terminal (control characters and invalid bytes as visible escapes), with exact outputs.
 */
#include "test_helpers.h"

/* what fn writes for v, as a malloc'ed string */
static char *render(int (*fn)(FILE *, const char *), const char *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    assert_int_equal(fn(m, v), 0);
    assert_int_equal(fclose(m), 0);
    return buf;
}

static void check(int (*fn)(FILE *, const char *), const char *v, const char *want)
{
    char *got = render(fn, v);
    if (strcmp(got, want) != 0)
        fail_msg("input \"%s\": got [%s], want [%s]", v ? v : "(null)", got, want);
    free(got);
}

static void test_csv_field(void **state)
{
    (void)state;
    check(xchg_csv_field, "plain", "plain");
    check(xchg_csv_field, "", "");
    check(xchg_csv_field, NULL, "");
    check(xchg_csv_field, "Zoë O'Neil", "Zoë O'Neil");
    check(xchg_csv_field, "a,b", "\"a,b\"");
    check(xchg_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\"");
    check(xchg_csv_field, "two\nlines", "\"two\nlines\"");
    check(xchg_csv_field, "cr\rhere", "\"cr\rhere\"");
    /* formula injection: a leading = + - @ TAB or CR gets an apostrophe, inside quotes */
    check(xchg_csv_field, "=1+1", "\"'=1+1\"");
    check(xchg_csv_field, "=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    check(xchg_csv_field, "+44 1865", "\"'+44 1865\"");
    check(xchg_csv_field, "-2+3", "\"'-2+3\"");
    check(xchg_csv_field, "@SUM(A1)", "\"'@SUM(A1)\"");
    check(xchg_csv_field, "\tx", "\"'\tx\"");
    check(xchg_csv_field, "\rx", "\"'\rx\"");
    /* only the first character counts */
    check(xchg_csv_field, "a=1", "a=1");
    check(xchg_csv_field, " =1", " =1");
}

static void test_term_safe(void **state)
{
    (void)state;
    check(xchg_term_safe, "plain text", "plain text");
    check(xchg_term_safe, NULL, "");
    check(xchg_term_safe, "Zoë, Łódź, 東京 ✓", "Zoë, Łódź, 東京 ✓");
    /* ESC sequences: clear screen, set title, colours */
    check(xchg_term_safe, "\x1b[2Jgone", "\\x1b[2Jgone");
    check(xchg_term_safe, "\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07");
    check(xchg_term_safe, "a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd");
    check(xchg_term_safe, "\x01\x1f", "\\x01\\x1f");
    check(xchg_term_safe, "del\x7f", "del\\x7f");
    /* C1 controls (CSI U+009B, NEL U+0085) as code points */
    check(xchg_term_safe, "\xc2\x9b" "31m", "\\u009b31m");
    check(xchg_term_safe, "\xc2\x85", "\\u0085");
    check(xchg_term_safe, "\xc2\xa0nbsp", "\xc2\xa0nbsp"); /* U+00A0 is not a control */
    /* invalid UTF-8: each bad byte as \xNN */
    check(xchg_term_safe, "bad\xff", "bad\\xff");
    check(xchg_term_safe, "\xc0\xaf", "\\xc0\\xaf");             /* overlong '/' */
    check(xchg_term_safe, "\xed\xa0\x80", "\\xed\\xa0\\x80");     /* a surrogate */
    check(xchg_term_safe, "cut\xe2\x82", "cut\\xe2\\x82");        /* truncated € */
    check(xchg_term_safe, "\x9b" "1m", "\\x9b1m");                 /* a raw 8-bit CSI byte */
    /* multi-line text keeps its newlines, nothing else */
    check(xchg_term_safe_text, "one\ntwo\x1b[1m\n", "one\ntwo\\x1b[1m\n");
    check(xchg_term_safe_text, "a\r\n", "a\\x0d\n");
}

static void test_text_check(void **state)
{
    (void)state;
    size_t at = 99;
    uint32_t cp = 0;
    assert_int_equal(xchg_text_check("P-123/A", 7, &at, &cp), 0);
    assert_int_equal(xchg_text_check("Zoë", 4, &at, &cp), 0);
    assert_int_equal(xchg_text_check("ab\xff", 3, &at, &cp), 1);
    assert_int_equal(at, 2);
    assert_int_equal(xchg_text_check("a\x1b", 2, &at, &cp), 2);
    assert_int_equal(at, 1);
    assert_int_equal(cp, 0x1b);
    assert_int_equal(xchg_text_check("a\0b", 3, &at, &cp), 2);
    assert_int_equal(cp, 0);
    assert_int_equal(xchg_text_check("\xc2\x85", 2, &at, &cp), 2);
    assert_int_equal(cp, 0x85);
    assert_int_equal(xchg_text_check("x\xe2\x80\xae", 4, &at, &cp), 2); /* RLO */
    assert_int_equal(cp, 0x202e);
    assert_int_equal(at, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_term_safe),
        cmocka_unit_test(test_text_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
