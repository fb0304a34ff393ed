/*
 * Sealing, end to end on small fixtures: two agencies seal extracts of overlapping
 * people; the matcher opens them; tokens agree exactly where they should; indicators,
 * aggregates, consent and payload encryption behave as the agreement says; bad input
 * fails cleanly with no output.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>

#define FIX XCHG_TEST_DIR "/fixtures/seal/"
#define KAT_NAME_DOB "bd57de9fb6989c8dd6cb183453e19c110a9cc4a33746c9989ecc53f4ada2c762"
#define KAT_PHON_DOB "ba7c87c15890ff3ee071793aa1ecaeb1e259ecfaf4b843e5238b94f9c9f401e2"
#define KAT_HOUSE "def3d2b7fa26bbdcc68ad082bca0fbbea22a43374ed80e58c986d78e0f480c93"

static xchg_agreement *pol;
static xchg_secret *police_secret, *school_secret;

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
    const char *path = tpath("seal.xsec");
    unlink(path);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2), *school = seed_key(3);
    int rc = xchg_secret_create(pol, owner, 1, 0, path, 1, NULL) != XCHG_OK ||
             xchg_secret_open(pol, police, path, &police_secret, NULL) != XCHG_OK ||
             xchg_secret_open(pol, school, path, &school_secret, NULL) != XCHG_OK;
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(school);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(police_secret);
    xchg_secret_free(school_secret);
    xchg_agreement_free(pol);
    return 0;
}

struct rec {
    char ref[64];
    xchg_record r;
    uint8_t *buf;
};

struct opened {
    json_t *header;
    struct rec recs[16];
    size_t n;
};

/* Open a sealed extract as the matcher and decode every record. */
static void open_extract(const char *path, int signer_seed, struct opened *o)
{
    xchg_seckey *matcher = seed_key(4), *signer = seed_key(signer_seed);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
    size_t hl;
    const uint8_t *h = xchg_xex_reader_header(r, &hl);
    o->header = json_loadb((const char *)h, hl, 0, NULL);
    assert_non_null(o->header);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(signer), NULL), XCHG_OK);
    o->n = 0;
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end)
            break;
        assert_true(o->n < 16);
        struct rec *x = &o->recs[o->n++];
        x->buf = malloc(len);
        memcpy(x->buf, rec, len);
        assert_int_equal(xchg_record_decode(x->buf, len, &x->r, NULL), XCHG_OK);
        snprintf(x->ref, sizeof x->ref, "%.*s", (int)x->r.ref_len, x->r.ref);
    }
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    assert_int_equal(count, o->n);
    xchg_xex_reader_free(r);
    xchg_seckey_free(matcher);
    xchg_seckey_free(signer);
}

static void close_extract(struct opened *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->recs[i].buf);
    json_decref(o->header);
}

static const xchg_record *find(const struct opened *o, const char *ref)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->recs[i].ref, ref) == 0)
            return &o->recs[i].r;
    fail_msg("no record %s", ref);
    return NULL;
}

static const uint8_t *token(const xchg_record *r, const char *keyname)
{
    const xchg_policy_data *p = xchg_agreement_get(pol);
    for (size_t i = 0; i < r->nmatch; i++)
        if (strcmp(p->match_keys[r->match[i].index].name, keyname) == 0)
            return r->match[i].value;
    return NULL;
}

static xchg_err seal(const char *in, const char *out, int seed, xchg_secret *sec, int strict,
                     xchg_seal_stats *st, xchg_diag *d)
{
    xchg_seckey *k = seed_key(seed);
    unlink(out);
    xchg_seal_opts o = {.input = in, .output = out, .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"), .strict = strict, .now = 1767225600,
                        .report = strict ? NULL : tpath("report.csv")};
    xchg_err e = xchg_seal(pol, k, sec, &o, st, d);
    xchg_seckey_free(k);
    return e;
}

/* The recipient unwraps the data key from the header and opens a payload. */
static json_t *open_payload(const struct opened *o, const xchg_record *r)
{
    xchg_seckey *team = seed_key(5);
    json_t *keys = json_object_get(json_object_get(o->header, "payload"), "keys");
    assert_int_equal(json_array_size(keys), 1);
    const char *b64 = json_string_value(json_object_get(json_array_get(keys, 0), "sealed_key"));
    uint8_t sealed[80], dk[32], id[16];
    size_t n;
    assert_int_equal(xchg_base64_decode(sealed, sizeof sealed, &n, b64, strlen(b64)), XCHG_OK);
    assert_int_equal(xchg_box_open(team, sealed, n, dk), XCHG_OK);
    /* the matcher's key alone cannot open the data key, hence no payload */
    xchg_seckey *matcher = seed_key(4);
    uint8_t dk2[32];
    assert_int_equal(xchg_box_open(matcher, sealed, n, dk2), XCHG_ERR_VERIFY);
    xchg_seckey_free(matcher);
    const char *idhex = json_string_value(json_object_get(o->header, "extract_id"));
    assert_int_equal(xchg_hex_decode(id, 16, idhex, strlen(idhex)), XCHG_OK);
    uint8_t *pt = malloc(r->payload_len);
    assert_int_equal(xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(pol)), id,
                                          r->ref, r->ref_len, r->payload, r->payload_len, pt),
                     XCHG_OK);
    json_t *j = json_loadb((const char *)pt, r->payload_len - XCHG_PAYLOAD_OVERHEAD, 0, NULL);
    assert_non_null(j);
    /* the payload is bound to its record: another reference does not open it */
    assert_int_equal(xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(pol)), id, "X",
                                          1, r->payload, r->payload_len, pt),
                     XCHG_ERR_VERIFY);
    free(pt);
    xchg_seckey_free(team);
    return j;
}

static void test_seal_two_agencies(void **state)
{
    (void)state;
    const char *pout = tpath("police.xex"), *sout = tpath("school.xex");
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(seal(FIX "police.csv", pout, 2, police_secret, 0, &st, d), XCHG_OK);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.sealed, 4);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.out_of_period, 1); /* P3's 2020 incident is not sent */
    assert_diag_has(d, "column 'Extra' is not in the agreement: ignored");
    xchg_diag_clear(d);
    assert_int_equal(seal(FIX "school.csv", sout, 3, school_secret, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 4);
    assert_int_equal(st.dropped_identifiers, 1);
    assert_diag_has(d, ":5: warning: field 'upn' (column 'UPN'): invalid upn");
    /* the invalid value itself is never echoed */
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        assert_null(strstr(xchg_diag_text(d, i), "A801200005001"));

    struct opened po, so;
    open_extract(pout, 2, &po);
    open_extract(sout, 3, &so);
    assert_string_equal(json_string_value(json_object_get(po.header, "agency")), "police");
    assert_int_equal(json_integer_value(json_object_get(po.header, "epoch")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(po.header, "period"), "end")),
                        "2026-07-31");

    const xchg_record *p1 = find(&po, "P1"), *s1 = find(&so, "S1"), *s2 = find(&so, "S2"),
                      *s3 = find(&so, "S3"), *s4 = find(&so, "S4");
    /* "Zoë O'Neil" 03/07/2012 (police) and "ZOE ONEIL" 2012-07-03 (school) share name+dob */
    assert_non_null(token(p1, "name_dob"));
    assert_memory_equal(token(p1, "name_dob"), token(s1, "name_dob"), 32);
    assert_memory_equal(token(p1, "phon_dob"), token(s1, "phon_dob"), 32);
    /* "O Neil" is a different name form, but the UPN links S1 and S2 */
    assert_memory_not_equal(token(s1, "name_dob"), token(s2, "name_dob"), 32);
    assert_memory_equal(token(s1, "upn"), token(s2, "upn"), 32);
    assert_memory_not_equal(token(s1, "upn"), token(s3, "upn"), 32);
    assert_null(token(p1, "upn"));
    assert_null(token(s4, "upn")); /* invalid check letter: dropped */
    assert_non_null(token(s4, "name_dob"));
    /* different agencies, same secret: tokens of one key are comparable; different keys
     * give unrelated values even over the same inputs */
    assert_memory_not_equal(token(p1, "name_dob"), token(p1, "phon_dob"), 32);
    /* household token (surname + postcode) */
    assert_int_equal(p1->nhouse, 1);
    assert_memory_equal(p1->house[0].value, s1->house[0].value, 32);

    /* indicators */
    const xchg_policy_data *pd = xchg_agreement_get(pol);
    assert_int_equal(p1->nind, 1);
    assert_string_equal(pd->problems[p1->ind[0].problem].code, "crime_asb");
    assert_int_equal(p1->ind[0].start, day("2026-06-01"));
    assert_int_equal(p1->ind[0].end, p1->ind[0].start);
    assert_int_equal(find(&po, "P2")->nind, 1); /* "asb" read as ASB */
    assert_int_equal(find(&po, "P3")->nind, 0); /* outside the period */
    /* school: attendance 175/200 = 87.5% over S1+S2 (< 90%): both rows evidence it */
    assert_int_equal(s1->nind, 1);
    assert_string_equal(pd->problems[s1->ind[0].problem].code, "school");
    assert_int_equal(s1->ind[0].start, day("2026-03-31"));
    assert_int_equal(s2->nind, 1);
    assert_int_equal(s2->ind[0].start, day("2026-07-31"));
    assert_int_equal(s3->nind, 0);

    /* consent */
    assert_int_equal(p1->consent, XCHG_CONSENT_GIVEN);
    assert_int_equal(find(&po, "P2")->consent, XCHG_CONSENT_REFUSED);
    assert_int_equal(find(&po, "P3")->consent, XCHG_CONSENT_NOT_SOUGHT);
    assert_int_equal(find(&po, "P4")->consent, XCHG_CONSENT_WITHDRAWN);
    assert_int_equal(s3->consent, XCHG_CONSENT_NOT_SOUGHT);

    /* CLK absent (the fixture has no fuzzy section) */
    assert_int_equal(p1->clk_len, 0);

    /* payload: only the agreement's payload fields, readable by the recipient */
    json_t *pl = open_payload(&po, find(&po, "P4"));
    json_t *fields = json_object_get(pl, "fields");
    assert_string_equal(json_string_value(json_object_get(fields, "forename")), "Mary, Ann");
    assert_string_equal(json_string_value(json_object_get(fields, "dob")), "2012-03-07");
    assert_null(json_object_get(fields, "postcode")); /* not in police's payload list */
    assert_string_equal(json_string_value(json_object_get(pl, "agency")), "police");
    json_decref(pl);
    close_extract(&po);
    close_extract(&so);
    xchg_diag_free(d);
}

static void test_bad_rows(void **state)
{
    (void)state;
    const char *in = tpath("bad.csv"), *out = tpath("bad.xex");
    const char *csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n"
                      "P1,Ann,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"
                      "P1,Ann,Lee,01/02/2000,OX4 1AA,CRIME,02/06/2026,given\n"  /* dup ref */
                      ",Bob,Lee,01/02/2000,OX4 1AA,ASB,01/06/2026,given\n"      /* no ref */
                      "P3,Cy,Lee,01/02/2000,OX4 1AA,BURGLARY,01/06/2026,given\n" /* bad code */
                      "P4,Di,Lee,01/02/2000,OX4 1AA,CRIME,,given\n"             /* no date */
                      "P5,Ed,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026\n"         /* short row */
                      "P6,Fay,Lee,31/02/2000,OX4 1AA,,,maybe\n";                /* bad dob, odd consent */
    spit(in, csv, strlen(csv));
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    /* strict: any bad row fails the run and nothing is written */
    assert_int_equal(seal(in, out, 2, police_secret, 1, &st, d), XCHG_ERR_FORMAT);
    assert_int_equal(access(out, F_OK), -1);
    assert_diag_has(d, "bad.csv:3: error: column 'Ref': record reference 'P1' appears more than once");
    assert_diag_has(d, "bad.csv:4: error: column 'Ref': the record reference is empty");
    assert_diag_has(d, "bad.csv:5: error: field 'incident_type' (column 'Type'): 'BURGLARY' is not one "
                       "of the agreement's values");
    assert_diag_has(d, "bad.csv:6: error: problem 'crime_asb' is indicated but its date field "
                       "'incident_date' is empty");
    assert_diag_has(d, "bad.csv:7: error: row has 7 fields, the header has 8");
    assert_diag_has(d, "bad.csv:8: warning: field 'dob' (column 'DOB'): invalid date");
    assert_diag_has(d, "bad.csv:8: warning: column 'Consent': consent value 'maybe'");
    assert_diag_has(d, "5 of 7 rows are bad; nothing was sealed (strict mode)");
    assert_int_equal(st.rejected, 5);
    /* by default the two good rows are sealed and the bad ones listed in the report */
    xchg_diag_clear(d);
    unlink(tpath("report.csv"));
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 2);
    assert_diag_has(d, "warning: 5 of 7 rows are bad and were not sealed (listed above and in the report)");
    size_t rl;
    char *rep = slurp(tpath("report.csv"), &rl);
    assert_non_null(strstr(rep, "line,field,outcome,problem\n"));
    assert_non_null(strstr(rep, "3,Ref,rejected,column 'Ref': record reference 'P1' appears more than once\n"));
    assert_non_null(strstr(rep, "5,incident_type,rejected,"));
    assert_non_null(strstr(rep, "7,,rejected,\"row has 7 fields, the header has 8\"\n"));
    assert_non_null(strstr(rep, "8,dob,warning,"));
    free(rep);
    struct opened o;
    open_extract(out, 2, &o);
    assert_int_equal(o.n, 2);
    assert_int_equal(find(&o, "P6")->consent, XCHG_CONSENT_NOT_SOUGHT);
    assert_null(token(find(&o, "P6"), "name_dob")); /* no valid DOB */
    close_extract(&o);
    xchg_diag_free(d);
}

static void test_header_and_access(void **state)
{
    (void)state;
    const char *in = tpath("hdr.csv"), *out = tpath("hdr.xex");
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    /* missing mapped column */
    const char *csv = "Ref,Forename,Surname,Postcode,Type,Date,Consent\nP1,A,B,OX4 1AA,CRIME,01/06/2026,given\n";
    spit(in, csv, strlen(csv));
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "hdr.csv:1: error: column 'DOB' (field dob) is missing from the header");
    assert_int_equal(access(out, F_OK), -1);
    /* malformed CSV */
    xchg_diag_clear(d);
    csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\nP1,\"A,B,01/01/2000,OX4 1AA,CRIME,01/06/2026,given\n";
    spit(in, csv, strlen(csv));
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "quoted field is still open at the end of the file");
    /* another agency's extract */
    xchg_diag_clear(d);
    assert_int_equal(seal(FIX "school.csv", out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "school.csv:1: error: this does not look like the 'police' extract the "
                       "agreement describes (4 of 6 mapped columns found, no record reference): is "
                       "it another agency's extract, or not a CSV file?");
    /* not a CSV file at all */
    xchg_diag_clear(d);
    spit(in, "\x7f" "ELF\x02\x01\x00\x00binary", 14);
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "hdr.csv:1: error: line contains a NUL byte");
    assert_int_equal(access(out, F_OK), -1);
    /* every row bad: fails even without strict */
    xchg_diag_clear(d);
    csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\nP1,A,B,01/01/2000,OX4 1AA,THEFT,01/06/2026,given\n";
    spit(in, csv, strlen(csv));
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "1 of 1 row is bad; nothing was sealed");
    assert_int_equal(access(out, F_OK), -1);
    /* empty file */
    xchg_diag_clear(d);
    spit(in, "", 0);
    assert_int_equal(seal(in, out, 2, police_secret, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "the file is empty");
    /* the matcher's key is not an agency's */
    xchg_diag_clear(d);
    assert_int_equal(seal(FIX "police.csv", out, 4, police_secret, 0, &st, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "not the key of an agency");
    /* refuses to overwrite */
    assert_int_equal(seal(FIX "police.csv", out, 2, police_secret, 0, &st, NULL), XCHG_OK);
    xchg_seckey *k = seed_key(2);
    xchg_seal_opts o = {.input = FIX "police.csv", .output = out, .period_start = 0,
                        .period_end = day("2026-06-30")};
    xchg_diag_clear(d);
    assert_int_equal(xchg_seal(pol, k, police_secret, &o, &st, d), XCHG_ERR_EXISTS);
    xchg_seckey_free(k);
    /* a wrong signer is refused by the matcher */
    xchg_seckey *matcher = seed_key(4), *school = seed_key(3);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(out, matcher, &r, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(school), NULL),
                     XCHG_ERR_UNKNOWN_KEY);
    xchg_xex_reader_free(r);
    xchg_seckey_free(matcher);
    xchg_seckey_free(school);
    xchg_diag_free(d);
}

/*
 * Known-answer vectors for tokens (docs/formats.md, "Token test vectors"): the base test
 * agreement, secret bytes 00 01 .. 1f, epoch 1, one police row. The first vector is also
 * recomputed here straight from the documented derivation, with HKDF and HMAC only.
 */
static void test_token_vectors(void **state)
{
    (void)state;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    xchg_secret *s = NULL;
    assert_int_equal(xchg_secret_from_bytes("test-agreement", 1, key, &s), XCHG_OK);
    const char *in = tpath("kat.csv"), *out = tpath("kat.xex");
    const char *csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n"
                      "K1,Zoë,O'Neil-Smith,03/07/2012,ox4 1aa,CRIME,01/06/2026,given\n";
    spit(in, csv, strlen(csv));
    xchg_seal_stats st;
    assert_int_equal(seal(in, out, 2, s, 0, &st, NULL), XCHG_OK);
    struct opened o;
    open_extract(out, 2, &o);
    const xchg_record *r = find(&o, "K1");
    char hex[65];
    /* name_dob = [surname, forename, dob] -> "oneilsmith", "zoe", "2012-07-03" */
    uint8_t sub[32], info[64], msg[64], tok[32];
    const char *salt = "exchange linkage v1/test-agreement";
    size_t il = 0;
    memcpy(info, "match/name_dob", 14);
    il = 14;
    info[il++] = 0;
    info[il++] = 0, info[il++] = 0, info[il++] = 0, info[il++] = 1; /* epoch, big endian */
    assert_int_equal(xchg_hkdf_sha256(key, 32, salt, strlen(salt), info, il, sub, 32), XCHG_OK);
    size_t ml = 0;
    const char *parts[] = {"oneilsmith", "zoe", "2012-07-03"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        msg[ml++] = (uint8_t)n;
        msg[ml++] = 0;
        memcpy(msg + ml, parts[i], n);
        ml += n;
    }
    xchg_hmac_sha256(sub, 32, msg, ml, tok);
    assert_memory_equal(token(r, "name_dob"), tok, 32);
    xchg_hex_encode(hex, tok, 32);
    assert_string_equal(hex, KAT_NAME_DOB);
    xchg_hex_encode(hex, token(r, "phon_dob"), 32);
    assert_string_equal(hex, KAT_PHON_DOB);
    xchg_hex_encode(hex, r->house[0].value, 32);
    assert_string_equal(hex, KAT_HOUSE);
    assert_null(token(r, "upn"));
    close_extract(&o);
    xchg_secret_free(s);
}

/* ---- Double Metaphone keys and invalid values in the CLK (issue 13) ------------------ */

/* base.yaml plus two keys on the forename's phonetic code and a fuzzy section whose CLK
 * encodes forename, surname and dob (dob as `dobfmt`); `fuzzy_extra` and `dob_extra` are
 * spliced into the fuzzy section and the dob field */
static xchg_agreement *policy_with_clk(const char *dobfmt, const char *fuzzy_extra,
                                       const char *dob_extra)
{
    char *base = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", NULL);
    const char *keys_at = "households:\n";
    const char *dob_at = "  dob: {type: date}\n";
    char *h = strstr(base, keys_at), *d = strstr(base, dob_at);
    assert_non_null(h);
    assert_non_null(d);
    assert_true(d < h);
    char *text = malloc(strlen(base) + 4096);
    assert_non_null(text);
    int n = snprintf(
        text, strlen(base) + 4096,
        "%.*s  dob: {type: date%s}\n%.*s"
        "  - {name: dm_dob, fields: [\"forename:double_metaphone\", \"surname:initial\", dob]}\n"
        "  - {name: sx_dob, fields: [\"forename:phonetic\", \"surname:initial\", dob]}\n"
        "  - {name: any_dob, fields: [forename, surname, dob], any_order: [surname, forename]}\n"
        "fuzzy:\n"
        "  threshold: 0.8\n"
        "  blocking:\n"
        "    - [\"surname:initial\"]\n"
        "%s"
        "  clk_schema:\n"
        "    version: 3\n"
        "    clkConfig:\n"
        "      l: 1024\n"
        "      kdf: {type: HKDF, hash: SHA256, info: ZXhjaGFuZ2UgY2xr, "
        "salt: 3m4ZUmGyO4fQ8ml3b8kKqJ1Wq7yQqUy7dm+7rEAN1S0=, keySize: 64}\n"
        "    features:\n"
        "      - {identifier: forename, format: {type: string, encoding: utf-8}, hashing: "
        "{comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 200}, hash: {type: "
        "blakeHash}, missingValue: {sentinel: \"\"}}}\n"
        "      - {identifier: surname, format: {type: string, encoding: utf-8}, hashing: "
        "{comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 200}, hash: {type: "
        "blakeHash}, missingValue: {sentinel: \"\"}}}\n"
        "      - {identifier: dob, format: %s, hashing: {comparison: {type: ngram, n: 1, "
        "positional: true}, strategy: {bitsPerFeature: 200}, hash: {type: blakeHash}, "
        "missingValue: {sentinel: \"\"}}}\n"
        "%s",
        (int)(d - base), base, dob_extra, (int)(h - d - strlen(dob_at)), d + strlen(dob_at),
        fuzzy_extra, dobfmt, h);
    assert_true(n > 0);
    xchg_agreement *p = NULL;
    xchg_diag *dg = xchg_diag_new();
    xchg_err e = t_agreement_parse(text, strlen(text), "clk.yaml", &p, dg);
    if (e != XCHG_OK)
        fail_msg("agreement: %s", xchg_diag_count(dg) ? xchg_diag_message(dg, 0) : "?");
    xchg_diag_free(dg);
    free(text);
    free(base);
    return p;
}

/* the filter clkhash makes of (forename, surname, dob) under p's schema and s's CLK key */
static void expected_clk(const xchg_agreement *p, const xchg_secret *s, const char *fore,
                         const char *sur, const char *dob, uint8_t out[128])
{
    const xchg_policy_data *pd = xchg_agreement_get(p);
    xchg_clk_schema *sch = NULL;
    xchg_clk_encoder *enc = NULL;
    uint8_t key[32];
    assert_int_equal(xchg_clk_schema_parse_json(pd->fuzzy.clk_schema_json,
                                                pd->fuzzy.clk_schema_len, &sch, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_clk_filter_bytes(sch), 128);
    assert_int_equal(xchg_secret_derive(s, "clk", key, sizeof key), XCHG_OK);
    assert_int_equal(xchg_clk_encoder_new(sch, key, sizeof key, &enc), XCHG_OK);
    char f[64], n[64];
    assert_int_equal(xchg_norm_name(fore, strlen(fore), XCHG_NAME_MATCH, f, sizeof f), XCHG_OK);
    assert_int_equal(xchg_norm_name(sur, strlen(sur), XCHG_NAME_MATCH, n, sizeof n), XCHG_OK);
    const char *fields[3] = {f, n, dob};
    size_t lens[3] = {strlen(f), strlen(n), strlen(dob)};
    assert_int_equal(xchg_clk_encode(enc, fields, lens, 3, out, NULL), XCHG_OK);
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(sch);
}

static const char *const CLK_CSV =
    "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n"
    "P1,Catherine,Thompson,01/12/1990,OX4 1AA,CRIME,01/06/2026,given\n"
    "P2,Kathryn,Tomson,01/12/1990,OX4 1AA,CRIME,01/06/2026,given\n"
    "P3,Catherine,Thompson,13/13/1990,OX4 1AA,CRIME,01/06/2026,given\n"
    "P4,Catherine,Thompson,unknown,OX4 1AA,CRIME,01/06/2026,given\n"
    "P5,Thompson,Catherine,01/12/1990,OX4 1AA,CRIME,01/06/2026,given\n"
    "P6,Thompson,Thompson,01/12/1990,OX4 1AA,CRIME,01/06/2026,given\n";

/* seal CLK_CSV as police under agreement p; *o is the opened extract */
static void seal_clk_rows(xchg_agreement *p, xchg_secret *s, struct opened *o)
{
    xchg_agreement *keep = pol;
    pol = p;
    const char *in = tpath("clk.csv"), *out = tpath("clk.xex");
    spit(in, CLK_CSV, strlen(CLK_CSV));
    xchg_seal_stats st;
    memset(&st, 0, sizeof st);
    assert_int_equal(seal(in, out, 2, s, 0, &st, NULL), XCHG_OK);
    assert_int_equal(st.dropped_identifiers, 2); /* P3's and P4's date of birth */
    open_extract(out, 2, o);
    pol = keep;
}

static xchg_secret *clk_secret(void)
{
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x40 + i);
    xchg_secret *s = NULL;
    assert_int_equal(xchg_secret_from_bytes("test-agreement", 1, key, &s), XCHG_OK);
    return s;
}

static void test_double_metaphone_key(void **state)
{
    (void)state;
    xchg_agreement *p = policy_with_clk("{type: string, encoding: utf-8}", "", "");
    xchg_secret *s = clk_secret();
    struct opened o;
    seal_clk_rows(p, s, &o);
    xchg_agreement *keep = pol;
    pol = p; /* token() looks keys up by name in pol */
    const xchg_record *a = find(&o, "P1"), *b = find(&o, "P2");
    /* Catherine Thompson ~ Kathryn Tomson, same date of birth: the Double Metaphone key
     * (K0RN, T, 1990-12-01) joins them; the Soundex one (C365 / K365) and the exact one
     * do not */
    assert_non_null(token(a, "dm_dob"));
    assert_non_null(token(b, "dm_dob"));
    assert_memory_equal(token(a, "dm_dob"), token(b, "dm_dob"), 32);
    assert_memory_not_equal(token(a, "sx_dob"), token(b, "sx_dob"), 32);
    assert_memory_not_equal(token(a, "name_dob"), token(b, "name_dob"), 32);
    /* forename and surname swapped: the any-order key joins P1 and P5, the ordered one
     * does not; a record whose two names are equal is not confused with either */
    const xchg_record *sw = find(&o, "P5"), *same = find(&o, "P6");
    assert_memory_equal(token(a, "any_dob"), token(sw, "any_dob"), 32);
    assert_memory_not_equal(token(a, "name_dob"), token(sw, "name_dob"), 32);
    assert_memory_not_equal(token(a, "any_dob"), token(same, "any_dob"), 32);
    assert_memory_not_equal(token(a, "any_dob"), token(b, "any_dob"), 32);
    pol = keep;
    close_extract(&o);
    xchg_secret_free(s);
    xchg_agreement_free(p);
}

/* the dob feature of each of P1..P4 as the CLK should have it */
static void check_clk_rows(xchg_agreement *p, const char *p3, const char *p4)
{
    xchg_secret *s = clk_secret();
    struct opened o;
    seal_clk_rows(p, s, &o);
    xchg_agreement *keep = pol;
    pol = p;
    uint8_t want[128];
    const xchg_record *r1 = find(&o, "P1"), *r3 = find(&o, "P3"), *r4 = find(&o, "P4");
    assert_int_equal(r1->clk_len, 128);
    expected_clk(p, s, "Catherine", "Thompson", "1990-12-01", want);
    assert_memory_equal(r1->clk, want, 128);
    assert_int_equal(r3->clk_len, 128);
    expected_clk(p, s, "Catherine", "Thompson", p3, want);
    assert_memory_equal(r3->clk, want, 128);
    assert_int_equal(r4->clk_len, 128);
    expected_clk(p, s, "Catherine", "Thompson", p4, want);
    assert_memory_equal(r4->clk, want, 128);
    /* exact tokens never use an invalid identifier: every key here needs the dob */
    assert_int_equal(r3->nmatch, 0);
    assert_int_equal(r4->nmatch, 0);
    assert_non_null(token(r1, "name_dob"));
    pol = keep;
    close_extract(&o);
    xchg_secret_free(s);
}

static void test_clk_invalid_values(void **state)
{
    (void)state;
    const char *str = "{type: string, encoding: utf-8}";
    /* default encode: month 13 typed as 13/13/1990 under %d/%m/%Y is the CLK's
     * "1990-13-13" (the canonical layout valid dates have); text that is no date at all
     * goes in as typed */
    xchg_agreement *p = policy_with_clk(str, "", "");
    check_clk_rows(p, "1990-13-13", "unknown");
    xchg_agreement_free(p);
    /* fuzzy.invalid: drop -- the feature is empty, as before */
    p = policy_with_clk(str, "  invalid: drop\n", "");
    check_clk_rows(p, "", "");
    xchg_agreement_free(p);
    /* a field's clk_invalid wins over the agreement's */
    p = policy_with_clk(str, "  invalid: drop\n", ", clk_invalid: encode");
    check_clk_rows(p, "1990-13-13", "unknown");
    xchg_agreement_free(p);
    p = policy_with_clk(str, "", ", clk_invalid: drop");
    check_clk_rows(p, "", "");
    xchg_agreement_free(p);
    /* a date-typed CLK feature refuses month 13 itself (clkhash does too): that feature is
     * left empty, and the row keeps the rest of its filter */
    p = policy_with_clk("{type: date, format: \"%Y-%m-%d\"}", "", "");
    check_clk_rows(p, "", "");
    xchg_agreement_free(p);
}

/* the brief's own case: an ISO date of birth 1990-13-01 (the school extract's format) is
 * encoded exactly as typed, and gives no date-of-birth token */
static void test_clk_invalid_iso_dob(void **state)
{
    (void)state;
    xchg_agreement *p = policy_with_clk("{type: string, encoding: utf-8}", "", "");
    xchg_secret *s = clk_secret();
    xchg_agreement *keep = pol;
    pol = p;
    const char *in = tpath("clk-school.csv"), *out = tpath("clk-school.xex");
    const char *csv = "Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
                      "S1,B801200005001,Catherine,Thompson,1990-13-01,OX4 1AA,100,80,"
                      "2026-03-31,given\n";
    spit(in, csv, strlen(csv));
    xchg_seal_stats st;
    memset(&st, 0, sizeof st);
    assert_int_equal(seal(in, out, 3, s, 0, &st, NULL), XCHG_OK);
    assert_int_equal(st.dropped_identifiers, 1);
    struct opened o;
    open_extract(out, 3, &o);
    const xchg_record *r = find(&o, "S1");
    uint8_t want[128];
    expected_clk(p, s, "Catherine", "Thompson", "1990-13-01", want);
    assert_int_equal(r->clk_len, 128);
    assert_memory_equal(r->clk, want, 128);
    assert_non_null(token(r, "upn"));
    assert_null(token(r, "name_dob"));
    assert_null(token(r, "phon_dob"));
    assert_null(token(r, "dm_dob"));
    pol = keep;
    close_extract(&o);
    xchg_secret_free(s);
    xchg_agreement_free(p);
}

/* The police's own person identifier (extract option person_id) travels as one more match
 * token, index nmatch_keys: equal for equal ids, different for different ids, absent
 * when the row has none; the matcher accepts it from this agency only, and links by it. */
static void test_person_id_token(void **state)
{
    (void)state;
    size_t n;
    char *t = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &n);
    const char *steps[][2] = {
        {"  upn: {type: upn}\n", "  upn: {type: upn}\n  police_id: {type: identifier}\n"},
        {"Type: incident_type,", "Type: incident_type, PID: police_id,"},
        {"    record_ref: Ref\n", "    record_ref: Ref\n    person_id: police_id\n"},
    };
    for (size_t i = 0; i < 3; i++) {
        char *at = strstr(t, steps[i][0]);
        assert_non_null(at);
        char *u = malloc(strlen(t) + strlen(steps[i][1]) + 1);
        memcpy(u, t, (size_t)(at - t));
        strcpy(u + (at - t), steps[i][1]);
        strcat(u, at + strlen(steps[i][0]));
        free(t);
        t = u;
    }
    xchg_agreement *p2 = NULL;
    assert_int_equal(t_agreement_parse(t, strlen(t), "pid.yaml", &p2, NULL), XCHG_OK);
    free(t);
    const char *spath = tpath("pid.xsec"), *in = tpath("pid.csv"), *out = tpath("pid.xex");
    unlink(spath);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2), *matcher = seed_key(4);
    xchg_secret *sec = NULL;
    assert_int_equal(xchg_secret_create(p2, owner, 1, 0, spath, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(p2, police, spath, &sec, NULL), XCHG_OK);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs("Ref,Forename,Surname,DOB,Postcode,Type,Date,PID,Consent,Legal Basis\n"
          "A,Ann,Ash,01/02/1990,OX4 1AA,CRIME,01/06/2026,tv-17,given,\n"
          "B,Bob,Birch,02/03/1991,OX4 1AB,CRIME,02/06/2026,TV 17,given,\n" /* the same id */
          "C,Cat,Cedar,03/04/1992,OX4 1AF,CRIME,03/06/2026,tv-18,given,\n"
          "D,Dan,Dogwood,04/05/1993,OX4 1AD,CRIME,04/06/2026,,given,\n",
          f);
    fclose(f);
    unlink(out);
    xchg_seal_opts o = {.input = in, .output = out, .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"), .strict = 1, .now = 1767225600};
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_seal(p2, police, sec, &o, &st, d);
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        print_message("%s\n", xchg_diag_text(d, i));
    xchg_diag_free(d);
    assert_int_equal(e, XCHG_OK);
    assert_int_equal(st.sealed, 4);
    size_t nmk = xchg_agreement_get(p2)->nmatch_keys;
    xchg_extract_file *xf = NULL;
    assert_int_equal(xchg_extract_open(p2, matcher, out, 0, &xf, NULL), XCHG_OK);
    xchg_linkset *ls = NULL;
    assert_int_equal(xchg_linkset_new(p2, &ls), XCHG_OK);
    uint8_t pid[4][32];
    int has[4] = {0};
    for (int i = 0;; i++) {
        xchg_record r;
        int end = 0;
        assert_int_equal(xchg_extract_next(xf, &r, &end, NULL), XCHG_OK);
        if (end)
            break;
        assert_true(i < 4);
        for (size_t k = 0; k < r.nmatch; k++)
            if (r.match[k].index == nmk) {
                assert_false(has[i]);
                has[i] = 1;
                memcpy(pid[i], r.match[k].value, 32);
            }
        assert_int_equal(xchg_linkset_add(ls, xchg_extract_file_info(xf)->agency, (uint64_t)i, &r),
                         XCHG_OK);
    }
    uint64_t cnt = 0;
    assert_int_equal(xchg_extract_finish(xf, &cnt, NULL), XCHG_OK);
    xchg_extract_close(xf);
    assert_int_equal(cnt, 4);
    assert_true(has[0] && has[1] && has[2]);
    assert_false(has[3]);
    assert_memory_equal(pid[0], pid[1], 32);     /* "tv-17" and "TV 17": one identifier */
    assert_memory_not_equal(pid[0], pid[2], 32);
    const uint8_t k0[32] = {7};
    xchg_link_result *res = NULL;
    assert_int_equal(xchg_link_run(ls, day("2026-06-30"), k0, 1, &res, NULL), XCHG_OK);
    assert_int_equal(res->npersons, 3); /* A and B by the police id alone */
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    xchg_link_result_free(res);
    xchg_linkset_free(ls);
    xchg_secret_free(sec);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(matcher);
    xchg_agreement_free(p2);
}

/* seal under agreement p (not the suite's), with extra options */
static xchg_err seal_opts(const xchg_agreement *p, const char *in, const char *out, int seed,
                          int strict, int incremental, int allow_empty, xchg_seal_stats *st,
                          xchg_diag *d)
{
    xchg_seckey *k = seed_key(seed);
    unlink(out);
    unlink(tpath("report.csv"));
    xchg_seal_opts o = {.input = in, .output = out, .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"), .strict = strict, .now = 1767225600,
                        .report = tpath("report.csv"), .incremental = incremental,
                        .allow_empty = allow_empty};
    xchg_err e = xchg_seal(p, k, police_secret, &o, st, d);
    xchg_seckey_free(k);
    return e;
}

/* the kind the matcher reads through xchg_extract_open */
static int extract_incremental(const xchg_agreement *p, const char *path)
{
    xchg_seckey *m = seed_key(4);
    xchg_extract_file *f = NULL;
    assert_int_equal(xchg_extract_open(p, m, path, 1, &f, NULL), XCHG_OK);
    int inc = xchg_extract_file_info(f)->incremental;
    xchg_extract_close(f);
    xchg_seckey_free(m);
    return inc;
}

/* Task: an extract says whether it is a full snapshot or incremental; a header-only
 * file is not silently sealed as a full snapshot (it would supersede the real one). */
static void test_kind_and_empty(void **state)
{
    (void)state;
    const char *out = tpath("kind.xex"), *in = tpath("empty.csv");
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    struct opened o;
    /* default: a full snapshot */
    assert_int_equal(seal_opts(pol, FIX "police.csv", out, 2, 0, 0, 0, &st, d), XCHG_OK);
    open_extract(out, 2, &o);
    assert_string_equal(json_string_value(json_object_get(o.header, "kind")), "full");
    close_extract(&o);
    assert_int_equal(extract_incremental(pol, out), 0);
    /* --incremental */
    assert_int_equal(seal_opts(pol, FIX "police.csv", out, 2, 0, 1, 0, &st, d), XCHG_OK);
    open_extract(out, 2, &o);
    assert_string_equal(json_string_value(json_object_get(o.header, "kind")), "incremental");
    close_extract(&o);
    assert_int_equal(extract_incremental(pol, out), 1);

    /* a header-only CSV: refused, naming the file, nothing written (report neither) */
    const char *csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n";
    spit(in, csv, strlen(csv));
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 0, 0, &st, d), XCHG_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want,
             "%s: error: no data rows; an empty full snapshot needs --empty-snapshot", in);
    assert_diag_has(d, want);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(access(tpath("report.csv"), F_OK), -1);
    /* blank lines after the header are no rows either */
    spit(in, "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n\n\n", 54);
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 0, 0, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "no data rows");
    /* an empty incremental extract: nothing to send, even with allow_empty */
    spit(in, csv, strlen(csv));
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 1, 1, &st, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "no data rows; an empty incremental extract has nothing to send");
    assert_int_equal(access(out, F_OK), -1);
    /* an empty full snapshot on purpose */
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 0, 1, &st, d), XCHG_OK);
    assert_int_equal(st.rows, 0);
    assert_int_equal(st.sealed, 0);
    open_extract(out, 2, &o);
    assert_int_equal(o.n, 0);
    assert_string_equal(json_string_value(json_object_get(o.header, "kind")), "full");
    close_extract(&o);
    xchg_diag_free(d);
}

/* Task: a record reference that is not valid UTF-8 or holds a control character is a
 * bad row naming file, line and column, counted in rejected; strict fails. */
static void test_bad_references(void **state)
{
    (void)state;
    const char *in = tpath("refs.csv"), *out = tpath("refs.xex");
    const char *csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n"
                      "R1,Ann,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"
                      "R\xff" "2,Bob,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"   /* bad byte */
                      "R\xc0\xae,Cy,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"    /* overlong */
                      "R\x1b[2J,Di,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"     /* ESC */
                      "R\xc2\x85" "5,Ed,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n" /* C1 NEL */
                      "R\x7f" "6,Fay,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"   /* DEL */
                      "\"R\n7\",Gus,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n"    /* newline */
                      "R\xe2\x80\xae" "8,Hal,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n" /* RLO */
                      "Zoë-9,Ivy,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given\n";    /* fine */
    spit(in, csv, strlen(csv));
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(seal_opts(pol, in, out, 2, 1, 0, 0, &st, d), XCHG_ERR_FORMAT);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(st.rejected, 7);
    assert_diag_has(d, "refs.csv:3: error: column 'Ref': the record reference is not valid UTF-8 (byte 2)");
    assert_diag_has(d, "refs.csv:4: error: column 'Ref': the record reference is not valid UTF-8 (byte 2)");
    assert_diag_has(d, "refs.csv:5: error: column 'Ref': the record reference contains a control "
                       "character (U+001B at byte 2)");
    assert_diag_has(d, "refs.csv:6: error: column 'Ref': the record reference contains a control "
                       "character (U+0085 at byte 2)");
    assert_diag_has(d, "refs.csv:7: error: column 'Ref': the record reference contains a control "
                       "character (U+007F at byte 2)");
    assert_diag_has(d, "refs.csv:8: error: column 'Ref': the record reference contains a control "
                       "character (U+000A at byte 2)");
    assert_diag_has(d, "refs.csv:10: error: column 'Ref': the record reference contains a control "
                       "character (U+202E at byte 2)");
    assert_diag_has(d, "7 of 9 rows are bad; nothing was sealed (strict mode)");
    /* without strict the good rows are sealed, the bad ones listed */
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 0, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 2);
    assert_int_equal(st.rejected, 7);
    struct opened o;
    open_extract(out, 2, &o);
    assert_int_equal(o.n, 2);
    assert_non_null(find(&o, "R1"));
    assert_non_null(find(&o, "Zoë-9"));
    close_extract(&o);
    char *rep = slurp(tpath("report.csv"), NULL);
    assert_non_null(strstr(rep, "5,Ref,rejected,column 'Ref': the record reference contains a "
                                "control character (U+001B at byte 2)\n"));
    free(rep);
    xchg_diag_free(d);
}

static unsigned nind_of(const struct opened *o, const char *ref) { return find(o, ref)->nind; }

/* Task: the agreement's identification consent rule is applied at seal. */
static void test_identification_consent(void **state)
{
    (void)state;
    const char *out = tpath("consent.xex"), *in = tpath("consent.csv");
    /* the police's records may identify a family only with explicit consent, or where the
     * record carries a safeguarding basis */
    xchg_agreement *strict_pol = agreement_variant(
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:",
        "      identification: {requires: explicit_consent, unless_basis: [safeguarding]}\n"
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:");
    const char *csv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Consent Date,Legal Basis\n"
                      "C1,Ann,Lee,01/02/2000,OX4 1AA,CRIME,01/06/2026,given,,\n"
                      "C2,Bob,Lee,01/02/2001,OX4 1AA,CRIME,01/06/2026,refused,,\n"
                      "C3,Cy,Lee,01/02/2002,OX4 1AA,ASB,01/06/2026,,,\n"
                      "C4,Di,Lee,01/02/2003,OX4 1AA,CRIME,01/06/2026,withdrawn,2026-05-01,\n"
                      "C5,Ed,Lee,01/02/2004,OX4 1AA,CRIME,01/06/2026,refused,,Safeguarding\n";
    spit(in, csv, strlen(csv));
    xchg_seal_stats st;
    xchg_diag *d = xchg_diag_new();
    struct opened o;
    assert_int_equal(seal_opts(strict_pol, in, out, 2, 0, 0, 0, &st, d), XCHG_OK);
    assert_int_equal(st.sealed, 5);
    assert_int_equal(st.identification_denied, 3);
    assert_int_equal(st.indicators_withheld, 3);
    assert_int_equal(st.indicators, 2);
    assert_diag_has(d, "consent.csv: note: 3 records did not meet the agreement's consent rule "
                       "for identification and were sealed without indicators (3 indicator "
                       "events not sent; listed in the report)");
    open_extract(out, 2, &o);
    assert_int_equal(nind_of(&o, "C1"), 1); /* explicit consent given */
    assert_int_equal(nind_of(&o, "C2"), 0); /* refused */
    assert_int_equal(nind_of(&o, "C3"), 0); /* not sought */
    assert_int_equal(nind_of(&o, "C4"), 0); /* withdrawn */
    assert_int_equal(nind_of(&o, "C5"), 1); /* refused, but a safeguarding basis */
    /* the record still travels: tokens (linkage stays right), consent state, payload */
    assert_non_null(token(find(&o, "C2"), "name_dob"));
    assert_int_equal(find(&o, "C2")->consent, XCHG_CONSENT_REFUSED);
    assert_true(find(&o, "C2")->payload_len > 0);
    close_extract(&o);
    char *rep = slurp(tpath("report.csv"), NULL);
    assert_non_null(strstr(rep, "3,Consent,no-indicators,consent: not usable for identification "
                                "(consent refused): sealed without its 1 indicator event\n"));
    assert_non_null(strstr(rep, "5,Consent,no-indicators,consent: not usable for identification "
                                "(consent withdrawn: an objection stops identification): "
                                "sealed without its 1 indicator event\n"));
    free(rep);
    xchg_agreement_free(strict_pol);

    /* the base agreement sets no identification rule: its legal basis applies, but a
     * withdrawal (an objection) stops identification by default */
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(pol, in, out, 2, 0, 0, 0, &st, d), XCHG_OK);
    assert_int_equal(st.identification_denied, 1);
    open_extract(out, 2, &o);
    assert_int_equal(nind_of(&o, "C2"), 1);
    assert_int_equal(nind_of(&o, "C3"), 1);
    assert_int_equal(nind_of(&o, "C4"), 0);
    close_extract(&o);
    /* ... unless the agreement says an objection does not stop it */
    xchg_agreement *keep = agreement_variant(
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:",
        "      identification: {requires: none, objection_stops_identification: false}\n"
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:");
    xchg_diag_clear(d);
    assert_int_equal(seal_opts(keep, in, out, 2, 0, 0, 0, &st, d), XCHG_OK);
    assert_int_equal(st.identification_denied, 0);
    open_extract(out, 2, &o);
    assert_int_equal(nind_of(&o, "C4"), 1);
    close_extract(&o);
    xchg_agreement_free(keep);
    xchg_diag_free(d);
}

/* Task: the decision rule itself, for both purposes (the referral half is release.c's
 * may_release, ported unchanged). */
static void test_consent_decide(void **state)
{
    (void)state;
    xchg_agreement *p = agreement_variant(
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:",
        "      identification: {requires: explicit_consent}\n"
        "      referral: {requires: engagement, unless_basis: [safeguarding]}\n    school:");
    size_t police = xchg_policy_party(xchg_agreement_policy(p), "police"),
           school = xchg_policy_party(xchg_agreement_policy(p), "school");
    char why[160];
    const char *I = XCHG_PURPOSE_IDENTIFICATION, *R = XCHG_PURPOSE_REFERRAL;
    struct {
        size_t agency;
        const char *purpose;
        int consent;
        int32_t date;
        const char *basis;
        int allow;
        const char *why;
    } t[] = {
        {police, I, XCHG_CONSENT_GIVEN, XCHG_DATE_NONE, "", 1, "explicit consent recorded"},
        {police, I, XCHG_CONSENT_REFUSED, XCHG_DATE_NONE, "", 0, "consent refused"},
        {police, I, XCHG_CONSENT_NOT_SOUGHT, XCHG_DATE_NONE, NULL, 0,
         "consent not yet sought — ask the family"},
        {police, I, XCHG_CONSENT_REFUSED, XCHG_DATE_NONE, "safeguarding", 0, "consent refused"},
        {police, I, XCHG_CONSENT_WITHDRAWN, day("2026-05-01"), "", 0,
         "consent withdrawn on 2026-05-01: an objection stops identification"},
        {police, R, XCHG_CONSENT_GIVEN, XCHG_DATE_NONE, "", 1, "the person agreed to the referral"},
        {police, R, XCHG_CONSENT_REFUSED, XCHG_DATE_NONE, "safeguarding", 1,
         "recorded legal basis: safeguarding"},
        {police, R, XCHG_CONSENT_WITHDRAWN, day("2026-05-01"), "", 0,
         "consent withdrawn on 2026-05-01"},
        {police, R, XCHG_CONSENT_WITHDRAWN, XCHG_DATE_NONE, "", 0, "consent withdrawn"},
        {school, R, XCHG_CONSENT_NOT_SOUGHT, XCHG_DATE_NONE, "safeguarding", 0,
         "consent not yet sought — ask the family"},
        /* no identification rule for school: the agreement's legal basis */
        {school, I, XCHG_CONSENT_REFUSED, XCHG_DATE_NONE, "", 1,
         "the agreement's legal basis (no consent needed)"},
        {school, I, XCHG_CONSENT_WITHDRAWN, XCHG_DATE_NONE, "", 0,
         "consent withdrawn: an objection stops identification"},
        /* no referral rule: nothing is released */
        {xchg_policy_party(xchg_agreement_policy(p), "team"), R, XCHG_CONSENT_GIVEN, XCHG_DATE_NONE,
         "", 0, "the agreement sets no release rule for this agency"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int got = xchg_consent_decide(xchg_agreement_policy(p), t[i].agency, t[i].purpose,
                                      t[i].consent, t[i].date, t[i].basis, why, sizeof why);
        if (got != t[i].allow || strcmp(why, t[i].why) != 0)
            fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, got, why, t[i].allow, t[i].why);
    }
    assert_null(xchg_consent_rule_for(xchg_agreement_policy(p), school, I));
    assert_non_null(xchg_consent_rule_for(xchg_agreement_policy(p), police, I));
    xchg_agreement_free(p);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_two_agencies),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_header_and_access),
        cmocka_unit_test(test_token_vectors),
        cmocka_unit_test(test_double_metaphone_key),
        cmocka_unit_test(test_clk_invalid_values),
        cmocka_unit_test(test_clk_invalid_iso_dob),
        cmocka_unit_test(test_person_id_token),
        cmocka_unit_test(test_kind_and_empty),
        cmocka_unit_test(test_bad_references),
        cmocka_unit_test(test_identification_consent),
        cmocka_unit_test(test_consent_decide),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
