/*
 * Agency-local mappings (docs/mapping.md) and the seal's checks: a mapping that renames,
 * reorders and translates columns seals exactly the records the agreement's own columns
 * give; a mapping that sends a field the agreement does not allow, or is for another
 * agency or agreement, is refused with file:line:col; a column in the wrong date format
 * fails --strict naming the column and its first lines; --check writes nothing; the
 * template's header and sample row seal cleanly.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>

static xchg_agreement *pol;
static xchg_secret *police_secret;

static int32_t day(const char *s)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(s, strlen(s), &d), XCHG_OK);
    return d;
}

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    const char *path = tpath("mapping.xsec");
    unlink(path);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2);
    int rc = xchg_secret_create(pol, owner, 1, 0, path, 1, NULL) != XCHG_OK ||
             xchg_secret_open(pol, police, path, &police_secret, NULL) != XCHG_OK;
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(police_secret);
    xchg_agreement_free(pol);
    return 0;
}

static xchg_mapping *mapping(const char *text, xchg_err want, xchg_diag *d)
{
    xchg_mapping *m = NULL;
    assert_int_equal(
        xchg_mapping_parse(xchg_agreement_policy(pol), text, strlen(text), "m.yaml", &m, d), want);
    if (want != XCHG_OK)
        assert_null(m);
    return m;
}

static xchg_err seal_with(const xchg_agreement *p, const char *csv, const char *out,
                          const xchg_mapping *m, int strict, int check, xchg_seal_stats *st,
                          xchg_diag *d)
{
    const char *in = tpath("in.csv");
    spit(in, csv, strlen(csv));
    unlink(out);
    xchg_seckey *k = seed_key(2);
    xchg_seal_opts o = {.input = in, .output = out, .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"), .strict = strict, .now = 1767225600,
                        .mapping = m, .check_only = check};
    xchg_err e = xchg_seal(p, k, police_secret, &o, st, d);
    xchg_seckey_free(k);
    return e;
}

/* Every record's tokens, CLK, indicators and consent, in file order, as one blob. */
static char *digest_extract(const char *path)
{
    xchg_seckey *matcher = seed_key(4);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
    xchg_seckey *police = seed_key(2);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(police), NULL), XCHG_OK);
    xchg_seckey_free(police);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end)
            break;
        uint8_t *buf = malloc(len);
        memcpy(buf, rec, len);
        xchg_record x;
        assert_int_equal(xchg_record_decode(buf, len, &x, NULL), XCHG_OK);
        n += (size_t)snprintf(out + n, cap - n, "%.*s m%zu b%zu h%zu i%zu c%u:", (int)x.ref_len,
                              x.ref, x.nmatch, x.nblock, x.nhouse, x.nind, x.consent);
        const uint8_t *parts[] = {(const uint8_t *)x.match, (const uint8_t *)x.block,
                                  (const uint8_t *)x.house, x.clk};
        size_t lens[] = {x.nmatch * sizeof x.match[0], x.nblock * sizeof x.block[0],
                         x.nhouse * sizeof x.house[0], x.clk ? x.clk_len : 0};
        unsigned long h = 5381;
        for (size_t p = 0; p < 4; p++)
            for (size_t i = 0; i < lens[p]; i++)
                h = h * 33 + parts[p][i];
        for (size_t i = 0; i < x.nind; i++)
            h = h * 33 + (unsigned long)x.ind[i].start + x.ind[i].problem;
        n += (size_t)snprintf(out + n, cap - n, "%lx\n", h);
        free(buf);
    }
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    xchg_xex_reader_free(r);
    xchg_seckey_free(matcher);
    return out;
}

static const char agreed_csv[] =
    "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n"
    "P1,Zoë,O'Neil,03/07/2012,ox4 1aa,CRIME,01/06/2026,given\n"
    "P2,Bill,Smith,14/02/1980,OX4 1AB,asb,15/05/2026,Refused\n"
    "P3,Ann,Old,01/01/1970,OX4 1AB,CRIME,01/01/2020,\n";

/* the agency's own system: other headers, another order, ISO dates, its own codes */
static const char own_csv[] =
    "Incident,Reference,Family Name,Given Name,Born,Post Code,Occurred,Agreed\n"
    "C,P1,O'Neil,Zoë,2012-07-03,ox4 1aa,01/06/2026,given\n"
    "a,P2,Smith,Bill,1980-02-14,OX4 1AB,15/05/2026,Refused\n"
    "C,P3,Old,Ann,1970-01-01,OX4 1AB,01/01/2020,\n";

static const char own_map[] =
    "exchange_mapping: 1\n"
    "agreement: test-agreement\n"
    "agency: police\n"
    "record_ref: Reference\n"
    "consent_column: Agreed\n"
    "columns:\n"
    "  Given Name: forename\n"
    "  Family Name: surname\n"
    "  Born: {field: dob, date_formats: [\"%Y-%m-%d\"]}\n"
    "  Post Code: postcode\n"
    "  Incident: {field: incident_type, codes: {C: CRIME, A: ASB}}\n"
    "  Occurred: incident_date\n";

static void test_renamed_reordered_translated(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    xchg_seal_stats st;
    const char *a = tpath("agreed.xex"), *b = tpath("own.xex");
    assert_int_equal(seal_with(pol, agreed_csv, a, NULL, 1, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 3);
    xchg_mapping *m = mapping(own_map, XCHG_OK, d);
    assert_int_equal(xchg_mapping_agency(m),
                     xchg_policy_party(xchg_agreement_policy(pol), "police"));
    xchg_diag_clear(d);
    assert_int_equal(seal_with(pol, own_csv, b, m, 1, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 3);
    assert_int_equal(st.warnings, 0);
    assert_int_equal(st.indicators, 2); /* P1 crime, P2 ASB ("a" translated); P3 out of period */
    char *da = digest_extract(a), *db = digest_extract(b);
    assert_string_equal(da, db); /* the same tokens, CLKs, indicators and consent */
    free(da);
    free(db);
    /* the agency's own consent spellings: "Y" is given, "N" refused (identification still
     * allowed by the base agreement; the status travels) */
    {
        char *cm = malloc(strlen(own_map) + 128);
        snprintf(cm, strlen(own_map) + 128, "%sconsent_values: {given: [\"Y\"], refused: [N]}\n",
                 own_map);
        xchg_mapping *m2 = mapping(cm, XCHG_OK, d);
        const char *yn =
            "Incident,Reference,Family Name,Given Name,Born,Post Code,Occurred,Agreed\n"
            "C,P1,O'Neil,Zoë,2012-07-03,ox4 1aa,01/06/2026,Y\n"
            "a,P2,Smith,Bill,1980-02-14,OX4 1AB,15/05/2026,n\n"
            "C,P3,Old,Ann,1970-01-01,OX4 1AB,01/01/2020,\n";
        xchg_diag_clear(d);
        assert_int_equal(seal_with(pol, yn, b, m2, 1, 0, &st, d), XCHG_OK);
        assert_int_equal(st.warnings, 0);
        char *dy = digest_extract(b);
        da = digest_extract(a);
        assert_string_equal(da, dy); /* the same consent as "given" / "Refused" */
        free(dy);
        free(da);
        /* "given" is no longer a spelling this agency uses: a warning, recorded not sought */
        xchg_diag_clear(d);
        assert_int_equal(seal_with(pol, own_csv, b, m2, 0, 0, &st, d), XCHG_OK);
        assert_diag_has(d, "in.csv:2: warning: column 'Agreed': consent value 'given' is not one "
                           "the agreement knows");
        xchg_mapping_free(m2);
        free(cm);
    }
    /* an agency code with no translation is still checked against the agreement's values */
    xchg_diag_clear(d);
    const char *odd = "Incident,Reference,Family Name,Given Name,Born,Post Code,Occurred,Agreed\n"
                      "X,P9,Lee,Ann,2012-07-03,OX4 1AA,01/06/2026,given\n";
    assert_int_equal(seal_with(pol, odd, b, m, 1, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "in.csv:2: error: field 'incident_type' (column 'Incident'): 'X' is not "
                       "one of the agreement's values");
    /* the agreement's own column names are not what this mapping reads */
    xchg_diag_clear(d);
    assert_int_equal(seal_with(pol, agreed_csv, b, m, 0, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "column 'Reference' (the record reference) is missing from the header");
    assert_int_equal(access(b, F_OK), -1);
    xchg_mapping_free(m);
    xchg_diag_free(d);
}

static void test_refused_mappings(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    /* a field the agreement does not let the police send (upn is the school's) */
    char *t = malloc(strlen(own_map) + 64);
    snprintf(t, strlen(own_map) + 64, "%s  Pupil: upn\n", own_map);
    mapping(t, XCHG_ERR_POLICY, d);
    assert_diag_has(d, "m.yaml:13:10: error: column 'Pupil': agreement 'test-agreement' does not "
                       "allow agency 'police' to send field 'upn'; refusing the mapping");
    free(t);
    struct {
        const char *find, *repl, *want;
    } bads[] = {
        {"  Post Code: postcode\n", "  Post Code: post_code\n",
         "m.yaml:10:14: error: column 'Post Code': 'post_code' is not a field of agreement "
         "'test-agreement'"},
        {"  Post Code: postcode\n", "  Post Code: surname\n",
         "m.yaml:10:14: error: field 'surname' is mapped twice (first on line 8)"},
        {"  Post Code: postcode\n", "",
         "error: field 'postcode', which agreement 'test-agreement' expects from agency 'police', "
         "is not mapped"},
        {"A: ASB}", "A: ARSON}",
         "m.yaml:11:57: error: 'ARSON' is not one of the values the agreement allows for field "
         "'incident_type'"},
        {"[\"%Y-%m-%d\"]", "[\"%Y-%m\"]", "m.yaml:9:37: error: date format '%Y-%m' needs %d, %m and %Y"},
        {"  Given Name: forename\n", "  Given Name: {field: forename, codes: {A: B}}\n",
         "m.yaml:7:40: error: 'codes' translates values of code and sex fields; field 'forename' "
         "has type name"},
        {"agreement: test-agreement", "agreement: other-agreement",
         "m.yaml:2:12: error: this mapping is for agreement 'other-agreement', not "
         "'test-agreement'"},
        {"agency: police", "agency: matcher",
         "m.yaml:3:9: error: 'matcher' is not an agency of agreement 'test-agreement'"},
        {"exchange_mapping: 1", "exchange_mapping: 2",
         "m.yaml:1:19: error: unsupported mapping format '2' (this version reads 1)"},
        {"record_ref: Reference", "record_rf: Reference",
         "m.yaml:4:1: error: unknown key 'record_rf' in the mapping file"},
        {"consent_column: Agreed\n", "consent_date_column: When\n",
         "m.yaml:5:22: error: agreement 'test-agreement' has no consent_date_column for agency "
         "'police': nothing to map"},
        {"consent_column: Agreed\n", "consent_values: {agreed: [Y]}\n",
         "m.yaml:5:18: error: unknown key 'agreed' in 'consent_values'"},
        {"consent_column: Agreed\n", "consent_values: {given: []}\n",
         "m.yaml:5:18: error: 'consent_values.given' must be a list of the agency's spellings"},
        {"  Occurred: incident_date\n", "  Occurred: incident_date\n  Occurred: dob\n",
         "m.yaml:13:3: error: not valid YAML: duplicate key"},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const char *at = strstr(own_map, bads[i].find);
        assert_non_null(at);
        size_t pre = (size_t)(at - own_map), fl = strlen(bads[i].find), rl = strlen(bads[i].repl);
        char *s = malloc(strlen(own_map) + rl + 1);
        memcpy(s, own_map, pre);
        memcpy(s + pre, bads[i].repl, rl);
        strcpy(s + pre + rl, at + fl);
        xchg_diag_clear(d);
        xchg_mapping *m = NULL;
        xchg_err e = xchg_mapping_parse(xchg_agreement_policy(pol), s, strlen(s), "m.yaml", &m, d);
        assert_int_not_equal(e, XCHG_OK);
        assert_null(m);
        assert_diag_has(d, bads[i].want);
        free(s);
    }
    /* hostile or malformed files: an error with a message, never a crash */
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } hostile[] = {
        {"", 0, "h.yaml: error: the mapping file is empty"},
        {"- a\n- b\n", 0, "not a mapping file"},
        {"exchange_mapping: 1\0agency: police\n", 35, "contains a NUL byte"},
        {"columns: [1, 2]\n", 0, "expected a mapping for 'columns'"},
        {"exchange_mapping: [1]\nagreement: {a: b}\nagency: police\ncolumns: {A: [x]}\n", 0,
         "'exchange_mapping' must be text"},
        {"a: &x [*x]\n", 0, "error"},
        {"\xff\xfe: 1\n", 6, "h.yaml:1: error: not valid UTF-8 text"},
        {"%# directive\xfa\xfa\nexchange_mapping: 1\n", 0, "h.yaml:1: error: not valid UTF-8 text"},
        /* libfyaml 0.7.12, which read YAML until December 2026, garbled (and leaked) this
         * key; libyaml reads it, and the '? :' after it is refused (found by fuzz_mapping) */
        {"# A\n'''''''''''''''''''''''''''''':\n? :\n", 0,
         "h.yaml:3:3: error: not valid YAML: did not find expected key (while parsing a block "
         "mapping that starts on line 3)"},
        /* a second document is refused, not left unread */
        {"exchange_mapping: 1\n---\nagency: school\n", 0,
         "h.yaml:2:1: error: a second YAML document starts here: a mapping file is one "
         "document"},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        xchg_diag_clear(d);
        xchg_mapping *h = NULL;
        size_t len = hostile[i].len ? hostile[i].len : strlen(hostile[i].text);
        if (i == 0)
            len = 0;
        assert_int_not_equal(
            xchg_mapping_parse(xchg_agreement_policy(pol), hostile[i].text, len, "h.yaml", &h, d),
            XCHG_OK);
        assert_null(h);
        assert_diag_has(d, hostile[i].want);
    }
    /* another agency's key may not seal with the police's mapping */
    xchg_mapping *m = mapping(own_map, XCHG_OK, d);
    xchg_seckey *school = seed_key(3);
    xchg_seal_opts o = {.input = tpath("in.csv"), .output = tpath("school.xex"),
                        .period_start = day("2025-08-01"), .period_end = day("2026-07-31"),
                        .mapping = m};
    xchg_seal_stats st;
    xchg_diag_clear(d);
    assert_int_equal(xchg_seal(pol, school, police_secret, &o, &st, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "the mapping is for agency 'police', but this key is agency 'school'");
    assert_int_equal(access(tpath("school.xex"), F_OK), -1);
    xchg_seckey_free(school);
    xchg_mapping_free(m);
    xchg_diag_free(d);
}

/* 20 rows whose every date of birth is ISO while the agreement reads %d/%m/%Y */
static char *iso_dob_csv(void)
{
    char *s = malloc(4096);
    size_t n = (size_t)snprintf(s, 4096, "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n");
    for (int i = 1; i <= 20; i++)
        n += (size_t)snprintf(s + n, 4096 - n, "R%d,Ann,Lee%c,2012-07-%02d,OX4 1AA,CRIME,01/06/2026,given\n",
                              i, 'a' + i, i);
    return s;
}

static void test_systematic_dob_error(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    xchg_seal_stats st;
    char *csv = iso_dob_csv();
    const char *out = tpath("dob.xex");
    assert_int_equal(seal_with(pol, csv, out, NULL, 1, 0, &st, d), XCHG_ERR_FORMAT);
    assert_int_equal(st.quality_failures, 1);
    assert_diag_has(d, "in.csv: error: column 'DOB' (field dob): 20 of 20 values (100.0%) are not "
                       "a valid date, more than the agreement's quality threshold of 5.0%: a "
                       "systematic error, not a typo (first at lines 2, 3, 4, 5, 6, ...; the "
                       "column is read as %d/%m/%Y)");
    assert_diag_has(d, "in.csv: error: 1 column is systematically unparseable; nothing was sealed "
                       "(strict mode)");
    assert_int_equal(access(out, F_OK), -1);
    /* without --strict it seals, with the same finding as a warning */
    xchg_diag_clear(d);
    assert_int_equal(seal_with(pol, csv, out, NULL, 0, 0, &st, d), XCHG_OK);
    assert_diag_has(d, "in.csv: warning: column 'DOB' (field dob): 20 of 20 values");
    assert_int_equal(st.sealed, 20);
    /* the agency's mapping says how its dates are written: then nothing is wrong */
    const char *map = "exchange_mapping: 1\nagreement: test-agreement\nagency: police\n"
                      "columns:\n  Forename: forename\n  Surname: surname\n"
                      "  DOB: {field: dob, date_formats: [\"%Y-%m-%d\"]}\n  Postcode: postcode\n"
                      "  Type: incident_type\n  Date: incident_date\n";
    xchg_mapping *m = mapping(map, XCHG_OK, d);
    xchg_diag_clear(d);
    assert_int_equal(seal_with(pol, csv, out, m, 1, 0, &st, d), XCHG_OK);
    assert_int_equal(st.quality_failures, 0);
    assert_int_equal(st.dropped_identifiers, 0);
    xchg_mapping_free(m);
    /* the threshold is the agreement's: global, then per field */
    const char *base = XCHG_TEST_DIR "/fixtures/policy/base.yaml";
    size_t bl;
    char *text = slurp(base, &bl);
    const char *tail[] = {"quality: {max_unparseable: 1}\n",
                          "quality: {max_unparseable: 1, fields: {dob: 0.5}}\n",
                          "quality: {fields: {dob: 2}}\n", "quality: {fields: {dobb: 0.1}}\n"};
    xchg_err want[] = {XCHG_OK, XCHG_ERR_FORMAT, XCHG_ERR_POLICY, XCHG_ERR_POLICY};
    for (size_t i = 0; i < 4; i++) {
        char *t = malloc(bl + 128);
        memcpy(t, text, bl);
        strcpy(t + bl, tail[i]);
        xchg_agreement *q = NULL;
        xchg_diag_clear(d);
        xchg_err pe = t_agreement_parse(t, strlen(t), "q.yaml", &q, d);
        if (want[i] == XCHG_ERR_POLICY) {
            assert_int_equal(pe, XCHG_ERR_POLICY);
            assert_diag_has(d, i == 2 ? "a field's max_unparseable must be a share between 0 and 1"
                                      : "unknown field 'dobb' in 'quality.fields'");
        } else {
            assert_int_equal(pe, XCHG_OK);
            assert_int_equal(seal_with(q, csv, out, NULL, 1, 0, &st, d), want[i]);
        }
        xchg_agreement_free(q);
        free(t);
    }
    free(text);
    free(csv);
    xchg_diag_free(d);
}

static void test_check_writes_nothing(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    xchg_seal_stats st, real;
    const char *out = tpath("check.xex");
    xchg_mapping *m = mapping(own_map, XCHG_OK, d);
    assert_int_equal(seal_with(pol, own_csv, out, m, 1, 1, &st, d), XCHG_OK);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(st.sealed, 3);
    assert_int_equal(seal_with(pol, own_csv, out, m, 1, 0, &real, d), XCHG_OK);
    assert_int_equal(real.sealed, st.sealed);
    assert_int_equal(real.indicators, st.indicators);
    unlink(out);
    /* a failing check fails as the seal would, and still writes nothing (nor a report) */
    char *csv = iso_dob_csv();
    xchg_diag_clear(d);
    xchg_seckey *k = seed_key(2);
    spit(tpath("in.csv"), csv, strlen(csv));
    xchg_seal_opts o = {.input = tpath("in.csv"), .output = out, .report = tpath("check.csv"),
                        .period_start = day("2025-08-01"), .period_end = day("2026-07-31"),
                        .strict = 1, .check_only = 1};
    unlink(tpath("check.csv"));
    assert_int_equal(xchg_seal(pol, k, police_secret, &o, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "column 'DOB' (field dob): 20 of 20 values");
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(access(tpath("check.csv"), F_OK), -1);
    o.strict = 0;
    assert_int_equal(xchg_seal(pol, k, police_secret, &o, &st, d), XCHG_OK);
    assert_int_equal(access(out, F_OK), -1);
    o.output = NULL; /* a check needs no output name */
    assert_int_equal(xchg_seal(pol, k, police_secret, &o, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 20);
    o.check_only = 0; /* but a seal does */
    assert_int_equal(xchg_seal(pol, k, police_secret, &o, &st, d), XCHG_ERR_ARG);
    assert_int_equal(access(tpath("check.csv"), F_OK), -1);
    xchg_seckey_free(k);
    free(csv);
    xchg_mapping_free(m);
    xchg_diag_free(d);
}

static void test_template(void **state)
{
    (void)state;
    xchg_diag *d = xchg_diag_new();
    char *t = NULL;
    size_t police = xchg_policy_party(xchg_agreement_policy(pol), "police");
    assert_int_equal(xchg_seal_template(xchg_agreement_policy(pol), police, NULL, &t), XCHG_OK);
    assert_string_equal(t, "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
                           "REF-0001,Mary,Smith,14/03/2011,FW1 2AB,CRIME,14/03/2011,given,\n");
    free(t);
    xchg_mapping *m = mapping(own_map, XCHG_OK, d);
    assert_int_equal(xchg_seal_template(xchg_agreement_policy(pol), police, m, &t), XCHG_OK);
    assert_string_equal(t, "Reference,Given Name,Family Name,Born,Post Code,Incident,Occurred,"
                           "Agreed,Legal Basis\n"
                           "REF-0001,Mary,Smith,2011-03-14,FW1 2AB,C,14/03/2011,given,\n");
    /* the template seals as it stands, strictly, without a warning */
    xchg_seal_stats st;
    xchg_diag_clear(d);
    assert_int_equal(seal_with(pol, t, tpath("t.xex"), m, 1, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 1);
    assert_int_equal(st.warnings, 0);
    free(t);
    /* the school's template: a UPN with a valid check letter */
    size_t school = xchg_policy_party(xchg_agreement_policy(pol), "school");
    assert_int_equal(xchg_seal_template(xchg_agreement_policy(pol), school, NULL, &t), XCHG_OK);
    char upn[14];
    assert_int_equal(sscanf(strchr(t, '\n') + 1, "REF-0001,%13[^,]", upn), 1);
    char canon[XCHG_UPN_LEN + 1];
    assert_int_equal(xchg_norm_upn(upn, strlen(upn), canon, NULL, NULL), XCHG_OK);
    free(t);
    /* a mapping is for one agency */
    assert_int_equal(xchg_seal_template(xchg_agreement_policy(pol), school, m, &t), XCHG_ERR_ARG);
    assert_int_equal(xchg_seal_template(xchg_agreement_policy(pol),
                                        xchg_policy_party(xchg_agreement_policy(pol), "matcher"),
                                        NULL, &t),
                     XCHG_ERR_ARG);
    xchg_mapping_free(m);
    xchg_diag_free(d);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renamed_reordered_translated),
        cmocka_unit_test(test_refused_mappings),
        cmocka_unit_test(test_systematic_dob_error),
        cmocka_unit_test(test_check_writes_nothing),
        cmocka_unit_test(test_template),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
