/*
 * Hostile input, file kind by file kind: for each, a table of malformed inputs (empty,
 * truncated at many boundaries, oversized fields, NUL bytes, invalid UTF-8, overlong
 * lines, wrong magic or version, duplicate records, huge counts in headers) with the
 * error each must give. Nothing may crash (this suite also runs under ASan + UBSan), and a
 * failed seal or packet leaves no output file. The valid originals are made in setup with
 * the test suite's seed keys (1 ig, 2 police, 3 school, 4 matcher, 5 team).
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <errno.h>

#define FIX XCHG_TEST_DIR "/fixtures/"

static xchg_agreement *pol;
static xchg_secret *psec;
static xchg_seckey *k_owner, *k_police, *k_matcher, *k_team;
static char *good_yaml, *good_xex, *good_xrp, *good_log, *good_key, *good_pub, *good_xsec,
    *good_csv;
static size_t n_yaml, n_xex, n_xrp, n_log, n_key, n_pub, n_xsec, n_csv;

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- runners: one input of each kind, the error it gives ------------------------ */

static xchg_err run_csv(const void *data, size_t len, xchg_diag *d)
{
    const char *in = tpath("h.csv"), *out = tpath("h-out.xex");
    spit(in, data, len);
    unlink(out);
    xchg_seal_opts o = {.input = in, .output = out, .overwrite = 1, .period_start = 20301,
                        .period_end = 20665, .now = 1767225600, .strict = 1};
    xchg_seal_stats st;
    xchg_err e = xchg_seal(pol, k_police, psec, &o, &st, d);
    if (e != XCHG_OK && exists(out))
        fail_msg("a failed seal left %s behind", out);
    unlink(out);
    return e;
}

static xchg_err run_yaml(const void *data, size_t len, xchg_diag *d)
{
    xchg_agreement *p = NULL;
    xchg_err e = t_agreement_parse(data, len, "h.yaml", &p, d);
    if (e == XCHG_OK)
        assert_non_null(p);
    else
        assert_null(p);
    xchg_agreement_free(p);
    return e;
}

static xchg_err run_seckey(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.key");
    spit(path, data, len);
    xchg_seckey *k = NULL;
    xchg_err e = xchg_seckey_load(path, NULL, 0, &k, d);
    if (e != XCHG_OK)
        assert_null(k);
    xchg_seckey_free(k);
    return e;
}

static xchg_err run_pubkey(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.pub");
    spit(path, data, len);
    xchg_pubkey pk;
    return xchg_pubkey_load(path, &pk, d);
}

static xchg_err run_keyring(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.ring");
    spit(path, data, len);
    xchg_keyring *kr = xchg_keyring_new();
    xchg_err e = xchg_keyring_load(kr, path, d);
    if (e != XCHG_OK)
        assert_int_equal(xchg_keyring_count(kr), 0);
    xchg_keyring_free(kr);
    return e;
}

static xchg_err run_secret(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.xsec");
    spit(path, data, len);
    xchg_secret *s = NULL;
    xchg_err e = xchg_secret_open(pol, k_police, path, &s, d);
    xchg_secret_free(s);
    return e;
}

/* The matcher's whole read: open, every record, finish. The first error. */
static xchg_err run_xex(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.xex");
    spit(path, data, len);
    xchg_extract_file *f = NULL;
    xchg_err e = xchg_extract_open(pol, k_matcher, path, 0, &f, d);
    if (e != XCHG_OK)
        return e;
    xchg_record r;
    int end = 0;
    while ((e = xchg_extract_next(f, &r, &end, d)) == XCHG_OK && !end)
        ;
    if (e == XCHG_OK)
        e = xchg_extract_finish(f, NULL, d);
    xchg_extract_close(f);
    return e;
}

static xchg_err run_packet(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.xrp");
    spit(path, data, len);
    char *body = NULL;
    xchg_err e = xchg_packet_open(pol, k_team, path, &body, d);
    if (e != XCHG_OK)
        assert_null(body);
    free(body);
    return e;
}

static xchg_err run_audit(const void *data, size_t len, xchg_diag *d)
{
    const char *path = tpath("h.log");
    spit(path, data, len);
    xchg_audit_stats st;
    return xchg_audit_verify(path, xchg_seckey_public(k_matcher), &st, d);
}

typedef xchg_err (*runner)(const void *, size_t, xchg_diag *);

/* One case: the error it must give, and (when stable) a piece of the message. */
static void expect(runner run, const char *what, const void *data, size_t len, xchg_err want,
                   const char *msg)
{
    xchg_diag *d = xchg_diag_new();
    xchg_err got = run(data, len, d);
    if (got != want && getenv("XCHG_HOSTILE_PROBE")) {
        print_message("PROBE %s: got %d (%s) want %d: %s\n", what, got, xchg_strerror(got), want,
                      xchg_diag_count(d) ? xchg_diag_text(d, 0) : "(no message)");
        xchg_diag_free(d);
        return;
    }
    if (got != want) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  diag: %s\n", xchg_diag_text(d, i));
        fail_msg("%s: got %d (%s), want %d (%s)", what, got, xchg_strerror(got), want,
                 xchg_strerror(want));
    }
    if (msg)
        assert_diag_has(d, msg);
    if (want != XCHG_OK && xchg_diag_errors(d) == 0)
        fail_msg("%s: failed with no error message", what);
    xchg_diag_free(d);
}

/* Every prefix of good (all of them when short, else at least every step bytes and each
 * of the given boundaries +-1) must fail with one of the allowed codes. */
static void truncations(runner run, const char *what, const char *good, size_t n, size_t step,
                        const size_t *bounds, size_t nb, const xchg_err *allowed, size_t na)
{
    for (size_t cut = 0; cut < n; cut++) {
        int take = cut % step == 0 || cut + 1 == n;
        for (size_t b = 0; b < nb && !take; b++)
            take = cut + 1 >= bounds[b] && cut <= bounds[b] + 1;
        if (!take)
            continue;
        xchg_diag *d = xchg_diag_new();
        xchg_err got = run(good, cut, d);
        int ok = 0;
        for (size_t i = 0; i < na; i++)
            ok |= got == allowed[i];
        if (!ok && getenv("XCHG_HOSTILE_PROBE"))
            print_message("PROBE %s cut %zu: got %d\n", what, cut, got);
        else if (!ok)
            fail_msg("%s cut at %zu of %zu: got %d (%s)", what, cut, n, got, xchg_strerror(got));
        if (xchg_diag_errors(d) == 0)
            fail_msg("%s cut at %zu: no error message", what, cut);
        xchg_diag_free(d);
    }
}

/* good with bytes [at, at+len) replaced by rep (rlen bytes); malloc'ed, length in *outlen */
static char *splice(const char *good, size_t n, size_t at, size_t len, const void *rep,
                    size_t rlen, size_t *outlen)
{
    char *b = malloc(n - len + rlen + 1);
    assert_non_null(b);
    memcpy(b, good, at);
    memcpy(b + at, rep, rlen);
    memcpy(b + at + rlen, good + at + len, n - at - len);
    *outlen = n - len + rlen;
    b[*outlen] = 0;
    return b;
}

/* splice at the first occurrence of find */
static char *replace(const char *good, size_t n, const char *find, const char *rep,
                     size_t rlen, size_t *outlen)
{
    const char *at = strstr(good, find);
    assert_non_null(at);
    return splice(good, n, (size_t)(at - good), strlen(find), rep, rlen, outlen);
}

/* ---- setup ---------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(FIX "policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    k_owner = seed_key(1);
    k_police = seed_key(2);
    k_matcher = seed_key(4);
    k_team = seed_key(5);
    const char *sp = tpath("good.xsec"), *xp = tpath("good.xex"), *pp = tpath("good.xrp"),
               *ap = tpath("good.log"), *kp = tpath("good.key"), *pubp = tpath("good.pub");
    unlink(sp);
    unlink(ap);
    if (xchg_secret_create(pol, k_owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
        xchg_secret_open(pol, k_police, sp, &psec, NULL) != XCHG_OK)
        return -1;
    xchg_seal_opts o = {.input = FIX "seal/police.csv", .output = xp, .overwrite = 1,
                        .period_start = 20301, .period_end = 20665, .now = 1767225600};
    xchg_seal_stats st;
    if (xchg_seal(pol, k_police, psec, &o, &st, NULL) != XCHG_OK)
        return -1;
    char hex[65], body[512];
    xchg_hex_encode(hex, xchg_policy_hash(xchg_agreement_policy(pol)), 32);
    snprintf(body, sizeof body,
             "{\"agreement\":{\"id\":\"%s\",\"sha256\":\"%s\"},\"recipient\":\"team\","
             "\"family\":\"f-0001\"}",
             xchg_agreement_get(pol)->id, hex);
    if (xchg_packet_seal(pol, k_matcher, xchg_policy_party(xchg_agreement_policy(pol), "team"),
                         body, pp, 1, NULL) != XCHG_OK)
        return -1;
    xchg_audit_genesis g;
    memset(&g, 0, sizeof g);
    g.agreement_id = xchg_agreement_get(pol)->id;
    memcpy(g.agreement_sha256, xchg_policy_hash(xchg_agreement_policy(pol)), 32);
    memcpy(g.matcher_key, xchg_seckey_public(k_matcher)->id, XCHG_KEYID_BYTES);
    xchg_audit *a = NULL;
    uint64_t seq;
    if (xchg_audit_open(ap, &g, &a, NULL) != XCHG_OK ||
        xchg_audit_append(a, XCHG_AUDIT_INGEST, NULL, "{\"extract\":\"e1\",\"records\":3}", &seq,
                          NULL) != XCHG_OK ||
        xchg_audit_checkpoint(a, k_matcher, &seq, NULL) != XCHG_OK)
        return -1;
    xchg_audit_close(a);
    if (xchg_seckey_save(k_police, kp, NULL, 0, NULL, 1, NULL) != XCHG_OK ||
        xchg_pubkey_save(xchg_seckey_public(k_police), pubp, 1, NULL) != XCHG_OK)
        return -1;
    good_yaml = slurp(FIX "policy/base.yaml", &n_yaml);
    good_csv = slurp(FIX "seal/police.csv", &n_csv);
    good_xsec = slurp(sp, &n_xsec);
    good_xex = slurp(xp, &n_xex);
    good_xrp = slurp(pp, &n_xrp);
    good_log = slurp(ap, &n_log);
    good_key = slurp(kp, &n_key);
    good_pub = slurp(pubp, &n_pub);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(good_yaml);
    free(good_csv);
    free(good_xsec);
    free(good_xex);
    free(good_xrp);
    free(good_log);
    free(good_key);
    free(good_pub);
    xchg_secret_free(psec);
    xchg_seckey_free(k_owner);
    xchg_seckey_free(k_police);
    xchg_seckey_free(k_matcher);
    xchg_seckey_free(k_team);
    xchg_agreement_free(pol);
    return 0;
}

/* the originals are accepted: every failure below is the mutation's doing */
static void test_originals(void **state)
{
    (void)state;
    expect(run_csv, "csv", good_csv, n_csv, XCHG_OK, NULL);
    expect(run_yaml, "yaml", good_yaml, n_yaml, XCHG_OK, NULL);
    expect(run_seckey, "key", good_key, n_key, XCHG_OK, NULL);
    expect(run_pubkey, "pub", good_pub, n_pub, XCHG_OK, NULL);
    expect(run_keyring, "ring", "", 0, XCHG_OK, NULL);
    expect(run_secret, "xsec", good_xsec, n_xsec, XCHG_OK, NULL);
    expect(run_xex, "xex", good_xex, n_xex, XCHG_OK, NULL);
    expect(run_packet, "xrp", good_xrp, n_xrp, XCHG_OK, NULL);
    expect(run_audit, "log", good_log, n_log, XCHG_OK, NULL);
}

/* A table of text cases; len SIZE_MAX = strlen(data). */
typedef struct tcase {
    const char *name;
    const char *data;
    size_t len;
    xchg_err want;
    const char *msg;
} tcase;
#define S SIZE_MAX

static void run_table(runner run, const char *kind, const tcase *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s: %s", kind, t[i].name);
        expect(run, what, t[i].data, t[i].len == S ? strlen(t[i].data) : t[i].len, t[i].want,
               t[i].msg);
    }
}

/* n copies of c, NUL-terminated, malloc'ed */
static char *fill(char c, size_t n)
{
    char *b = malloc(n + 1);
    assert_non_null(b);
    memset(b, c, n);
    b[n] = 0;
    return b;
}

#define CSV_HEAD "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Extra\n"
#define CSV_NUL CSV_HEAD "P1,Zo\0e,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n"

static void test_csv(void **state)
{
    (void)state;
    static const tcase t[] = {
        {"empty", "", 0, XCHG_ERR_FORMAT, NULL},
        /* an empty full snapshot would replace the agency's real extract: only with allow_empty */
        {"header only (no data rows)", CSV_HEAD, S, XCHG_ERR_FORMAT,
         "no data rows; an empty full snapshot needs --empty-snapshot"},
        {"missing column", "Ref,Forename\nP1,Zoe\n", S, XCHG_ERR_FORMAT, NULL},
        {"NUL byte", CSV_NUL, sizeof CSV_NUL - 1, XCHG_ERR_FORMAT, "NUL"},
        /* an invalid name only drops that identifier from the row's tokens, with a warning */
        {"invalid UTF-8", CSV_HEAD "P1,Zo\xff\xfe,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n",
         S, XCHG_OK, "not valid UTF-8"},
        {"open quote", CSV_HEAD "P1,\"Zoe,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n", S,
         XCHG_ERR_FORMAT, NULL},
        {"duplicate record", CSV_HEAD "P1,Zoe,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n"
                                      "P1,Zoe,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n",
         S, XCHG_ERR_FORMAT, "appears more than once"},
        {"impossible date of birth (identifier dropped)",
         CSV_HEAD "P1,Zoe,Smith,31/02/2012,OX4 1AA,CRIME,01/06/2026,given,x\n", S, XCHG_OK,
         "day does not exist in that month"},
        {"impossible indicator date",
         CSV_HEAD "P1,Zoe,Smith,03/07/2012,OX4 1AA,CRIME,31/02/2026,given,x\n", S,
         XCHG_ERR_FORMAT, NULL},
        {"no record reference", CSV_HEAD ",Zoe,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n",
         S, XCHG_ERR_FORMAT, NULL},
    };
    run_table(run_csv, "csv", t, sizeof t / sizeof t[0]);

    /* a field over the 64 KiB limit, a line of 2,000 fields, a 1 MiB line */
    char *big = fill('a', XCHG_CSV_MAX_FIELD + 1), *buf = malloc(3u << 20);
    assert_non_null(buf);
    int n = snprintf(buf, 3u << 20, CSV_HEAD "P1,%s,Smith,03/07/2012,OX4 1AA,CRIME,01/06/2026,given,x\n", big);
    expect(run_csv, "csv: oversized field", buf, (size_t)n, XCHG_ERR_FORMAT, NULL);
    char *commas = fill(',', 2000);
    n = snprintf(buf, 3u << 20, CSV_HEAD "P1%s\n", commas);
    expect(run_csv, "csv: too many fields", buf, (size_t)n, XCHG_ERR_FORMAT, NULL);
    char *line = fill('x', 1u << 20);
    n = snprintf(buf, 3u << 20, CSV_HEAD "%s\n", line);
    expect(run_csv, "csv: overlong line", buf, (size_t)n, XCHG_ERR_FORMAT, NULL);
    free(big);
    free(commas);
    free(line);
    free(buf);

    /* the header row cut short before the last used column, then the data rows */
    const char *rows = strchr(good_csv, '\n') + 1;
    size_t used = (size_t)(strstr(good_csv, "Consent") - good_csv) + 7;
    for (size_t cut = 0; cut < used; cut++) {
        char *v = malloc(n_csv + 2);
        assert_non_null(v);
        memcpy(v, good_csv, cut);
        v[cut] = '\n';
        strcpy(v + cut + 1, rows);
        char what[64];
        snprintf(what, sizeof what, "csv: header cut at %zu", cut);
        expect(run_csv, what, v, strlen(v), XCHG_ERR_FORMAT, NULL);
        free(v);
    }
}

static void test_yaml(void **state)
{
    (void)state;
    static const tcase t[] = {
        {"empty", "", 0, XCHG_ERR_FORMAT, "h.yaml: error: the agreement file is empty"},
        {"only a comment", "# nothing\n", S, XCHG_ERR_FORMAT, "the agreement file is empty"},
        {"not YAML", "{[: ,", S, XCHG_ERR_FORMAT, NULL},
        {"NUL byte", "exchange_agreement: 1\n\0id: x\n", 27, XCHG_ERR_POLICY, "NUL byte"},
        {"a list at the top", "- 1\n- 2\n", S, XCHG_ERR_POLICY, NULL},
        {"huge number", "exchange_agreement: 99999999999999999999999999999\n", S, XCHG_ERR_POLICY,
         NULL},
        /* anchors, aliases and tags: an agreement is read as written */
        {"anchor", "exchange_agreement: &v 1\n", S, XCHG_ERR_FORMAT,
         "h.yaml:1:21: error: an anchor (&v) is not allowed"},
        {"alias", "a: &v 1\nb: *v\n", S, XCHG_ERR_FORMAT, "h.yaml:1:4: error: an anchor (&v)"},
        {"alias alone", "b: *v\n", S, XCHG_ERR_FORMAT, "h.yaml:1:4: error: an alias (*v) is not allowed"},
        {"recursive alias", "a: &x [*x]\n", S, XCHG_ERR_FORMAT, "an anchor (&x) is not allowed"},
        {"tag", "exchange_agreement: !!str 1\n", S, XCHG_ERR_FORMAT,
         "h.yaml:1:21: error: a tag (tag:yaml.org,2002:str) is not allowed"},
        {"duplicate top-level key", "a: 1\nb: 2\na: 3\n", S, XCHG_ERR_FORMAT,
         "h.yaml:3:1: error: not valid YAML: duplicate key 'a' (first given on line 1)"},
        {"duplicate key, quoted", "a: 1\n'a': 3\n", S, XCHG_ERR_FORMAT, "duplicate key 'a'"},
        /* regressions (found by fuzz_mapping): libfyaml 0.7.12, which read YAML until
         * December 2026, garbled (and leaked) a run of '' in single quotes, and crashed on
         * a nest of empty keys; libyaml reads the first right and refuses the second */
        {"run of escaped quotes", "exchange_agreement: 1\n'''''''''''''''': x\n", S,
         XCHG_ERR_POLICY, "h.yaml:2:1: error: unknown key ''''''''' in the agreement file"},
        {"nest of empty keys", "ag  : : ? : ? ag4 acnjg  : : ? : ? ag\n", S, XCHG_ERR_FORMAT,
         "h.yaml:1:7: error: not valid YAML: mapping values are not allowed in this context"},
        /* regression (found by fuzz_policy): libfyaml 0.7.12 looped forever on a directive
         * line holding an invalid UTF-8 byte; tests/fuzz/regressions/policy/ */
        {"directive with invalid UTF-8", "%#\x88\n", S, XCHG_ERR_FORMAT, ":1: error: not valid UTF-8"},
        {"directive with invalid UTF-8, line 2", "# ok\n%X \xa5\n", S, XCHG_ERR_FORMAT,
         ":2: error: not valid UTF-8"},
    };
    run_table(run_yaml, "yaml", t, sizeof t / sizeof t[0]);

    size_t n;
    char *v = replace(good_yaml, n_yaml, "exchange_agreement: 1", "exchange_agreement: 2", 21, &n);
    expect(run_yaml, "yaml: format version 2", v, n, XCHG_ERR_POLICY, NULL);
    free(v);
    v = replace(good_yaml, n_yaml, "title: Test", "title: \xff\xfe\xc0\x80", 11, &n);
    expect(run_yaml, "yaml: invalid UTF-8", v, n, XCHG_ERR_FORMAT, ":6: error: not valid UTF-8");
    free(v);
    /* the same guard before binding keys */
    {
        char *bound = NULL;
        size_t blen = 0, nb = 0;
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(xchg_policy_bind_keys("%#\x88\n", 4, "h.yaml", "/nonexistent", 0, &bound,
                                               &blen, &nb, d),
                         XCHG_ERR_FORMAT);
        assert_null(bound);
        assert_diag_has(d, "not valid UTF-8");
        xchg_diag_free(d);
    }
    /* a duplicate party: the police entry twice */
    const char *pol_at = strstr(good_yaml, "  - id: police");
    const char *school_at = strstr(good_yaml, "  - id: school");
    assert_true(pol_at && school_at && school_at > pol_at);
    v = splice(good_yaml, n_yaml, (size_t)(school_at - good_yaml), 0, pol_at,
               (size_t)(school_at - pol_at), &n);
    expect(run_yaml, "yaml: duplicate party", v, n, XCHG_ERR_POLICY, "police");
    free(v);
    /* deep nesting must not exhaust the stack */
    char *deep = fill('[', 100000);
    expect(run_yaml, "yaml: deep nesting", deep, 100000, XCHG_ERR_FORMAT, NULL);
    free(deep);
    /* an overlong line: a 1 MiB title */
    char *line = fill('t', 1u << 20);
    memcpy(line, "title: ", 7);
    v = replace(good_yaml, n_yaml, "title: Test agreement", line, 1u << 20, &n);
    expect(run_yaml, "yaml: overlong line", v, n, XCHG_OK, NULL);
    free(v);
    free(line);
    /* over the 4 MiB file limit */
    char *huge = fill('#', 5u << 20);
    const char *hp = tpath("huge.yaml");
    spit(hp, huge, 5u << 20);
    free(huge);
    xchg_agreement *p = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_not_equal(t_agreement_file(hp, &p, d), XCHG_OK);
    assert_null(p);
    xchg_diag_free(d);
    unlink(hp);

    static const xchg_err allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_POLICY};
    truncations(run_yaml, "yaml", good_yaml, n_yaml - 1, 97, NULL, 0, allowed, 2);
}

static void test_keys(void **state)
{
    (void)state;
    size_t n;
    static const tcase sec[] = {
        {"empty", "", 0, XCHG_ERR_FORMAT, NULL},
        {"comment only", "untrusted comment: x\n", S, XCHG_ERR_TRUNCATED, "key line is missing"},
        {"NUL byte", "untrusted comment: x\nxsk1:\0AAAA\n", 31, XCHG_ERR_TRUNCATED, NULL},
        {"not base64", "untrusted comment: x\nxsk1:!!!!\n", S, XCHG_ERR_TRUNCATED, NULL},
        {"invalid UTF-8", "untrusted comment: \xff\xfe\nxsk1:AAAA\n", S, XCHG_ERR_TRUNCATED,
         NULL},
    };
    run_table(run_seckey, "key", sec, sizeof sec / sizeof sec[0]);
    char *v = replace(good_key, n_key, "xsk1:", "xsk2:", 5, &n);
    expect(run_seckey, "key: version 2", v, n, XCHG_ERR_FORMAT, "must start with \"xsk1:\"");
    free(v);
    /* one base64 character changed in the middle of the keys */
    const char *b = strstr(good_key, "xsk1:") + 5;
    size_t at = (size_t)(b - good_key) + 60;
    v = splice(good_key, n_key, at, 1, good_key[at] == 'A' ? "B" : "A", 1, &n);
    expect(run_seckey, "key: altered", v, n, XCHG_ERR_VERIFY, NULL);
    free(v);
    char *line = fill('A', 1u << 20);
    v = replace(good_key, n_key, "xsk1:", line, 1u << 20, &n);
    expect(run_seckey, "key: overlong line", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    static const xchg_err sec_allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_TRUNCATED, XCHG_ERR_VERIFY};
    size_t kb = (size_t)(b - good_key);
    truncations(run_seckey, "key", good_key, n_key - 1, 1, &kb, 1, sec_allowed, 3);

    static const tcase pub[] = {
        {"empty", "", 0, XCHG_ERR_FORMAT, NULL},
        {"short key", "xk1:AAAA\n", S, XCHG_ERR_FORMAT, NULL},
        {"NUL byte", "xk1:\0AAAA\n", 9, XCHG_ERR_FORMAT, NULL},
        {"no comment line", "xk1:AAAA\n", S, XCHG_ERR_FORMAT, "untrusted comment"},
    };
    run_table(run_pubkey, "pub", pub, sizeof pub / sizeof pub[0]);
    const char *pb = strstr(good_pub, "xk1:") + 10;
    at = (size_t)(pb - good_pub);
    v = splice(good_pub, n_pub, at, 1, good_pub[at] == 'A' ? "B" : "A", 1, &n);
    expect(run_pubkey, "pub: altered (key id no longer matches)", v, n, XCHG_ERR_VERIFY,
           "key id does not match");
    free(v);
    v = replace(good_pub, n_pub, "xk1:", line, 1u << 20, &n);
    expect(run_pubkey, "pub: overlong line", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    static const xchg_err pub_allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_TRUNCATED};
    truncations(run_pubkey, "pub", good_pub, n_pub - 1, 1, NULL, 0, pub_allowed, 2);

    /* keyrings: the police key twice, junk, NUL, an overlong line */
    char s1[XCHG_PUBKEY_STRLEN], ring[1024];
    xchg_pubkey_to_string(xchg_seckey_public(k_police), s1);
    int rn = snprintf(ring, sizeof ring, "%s police\n%s police\n", s1, s1);
    /* a key listed twice is the same key: kept once */
    expect(run_keyring, "ring: duplicate key", ring, (size_t)rn, XCHG_OK, NULL);
    static const tcase kr[] = {
        {"junk", "# ring\nnot a key\n", S, XCHG_ERR_FORMAT, ":2:"},
        {"NUL byte", "xk1:\0\n", 6, XCHG_ERR_FORMAT, NULL},
        {"invalid UTF-8", "\xff\xfe\n", S, XCHG_ERR_FORMAT, NULL},
    };
    run_table(run_keyring, "ring", kr, sizeof kr / sizeof kr[0]);
    expect(run_keyring, "ring: overlong line", line, 1u << 20, XCHG_ERR_FORMAT, NULL);
    free(line);
}

/* the linkage secret's body, decoded, mutated, encoded again */
static void secret_body_case(const char *what, size_t at, uint8_t val, xchg_err want)
{
    const char *b64 = strstr(good_xsec, "xsec1:");
    assert_non_null(b64);
    b64 += 6;
    size_t blen = strcspn(b64, "\r\n");
    uint8_t body[4096];
    size_t n = 0;
    assert_int_equal(xchg_base64_decode(body, sizeof body, &n, b64, blen), XCHG_OK);
    assert_true(at < n);
    body[at] = val;
    char enc[6000], file[6100];
    xchg_base64_encode(enc, body, n);
    int fn = snprintf(file, sizeof file, "xsec1:%s\n", enc);
    expect(run_secret, what, file, (size_t)fn, want, NULL);
}

static void test_secret(void **state)
{
    (void)state;
    static const tcase t[] = {
        {"empty", "", 0, XCHG_ERR_FORMAT, NULL},
        {"comments only", "# x\n# y\n", S, XCHG_ERR_FORMAT, NULL},
        {"NUL byte", "xsec1:\0AAAA\n", 11, XCHG_ERR_FORMAT, NULL},
        {"not base64", "xsec1:!!!!\n", S, XCHG_ERR_FORMAT, NULL},
        {"another version", "xsec2:AAAA\n", S, XCHG_ERR_FORMAT, "no \"xsec1:\" line"},
    };
    run_table(run_secret, "xsec", t, sizeof t / sizeof t[0]);
    secret_body_case("xsec: wrong magic", 0, 'Y', XCHG_ERR_FORMAT);
    secret_body_case("xsec: version 2", 2, 2, XCHG_ERR_VERSION);
    secret_body_case("xsec: id length 255", 3, 255, XCHG_ERR_TRUNCATED);
    /* n recipients at 2+1+1+idlen+4+8+8+16 */
    size_t idlen = strlen(xchg_agreement_get(pol)->id);
    secret_body_case("xsec: 255 recipients", 4 + idlen + 36, 255, XCHG_ERR_TRUNCATED);
    secret_body_case("xsec: 0 recipients", 4 + idlen + 36, 0, XCHG_ERR_TRUNCATED);
    static const xchg_err allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_TRUNCATED, XCHG_ERR_VERIFY};
    truncations(run_secret, "xsec", good_xsec, n_xsec - 1, 7, NULL, 0, allowed, 3);
}

static uint32_t le32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static void test_xex(void **state)
{
    (void)state;
    size_t n;
    char *v;
    expect(run_xex, "xex: empty", "", 0, XCHG_ERR_TRUNCATED, NULL);
    v = splice(good_xex, n_xex, 0, 7, "XCHGXRP", 7, &n);
    expect(run_xex, "xex: wrong magic", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    v = splice(good_xex, n_xex, 7, 1, "\x02", 1, &n);
    expect(run_xex, "xex: version 2", v, n, XCHG_ERR_VERSION, NULL);
    free(v);
    v = splice(good_xex, n_xex, 8, 1, good_xex[8] == 'x' ? "y" : "x", 1, &n);
    /* the key id no longer matches the key the stream key is sealed to */
    expect(run_xex, "xex: recipient key id altered", v, n, XCHG_ERR_VERIFY, "preamble altered");
    free(v);
    v = splice(good_xex, n_xex, 120, 4, "\xff\xff\xff\xff", 4, &n);
    expect(run_xex, "xex: huge first frame", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    v = splice(good_xex, n_xex, 120, 4, "\x01\x00\x00\x00", 4, &n);
    expect(run_xex, "xex: frame below the tag size", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    /* frames: header at 120, then records */
    size_t f0 = 120, f1 = f0 + 4 + le32(good_xex + f0), f2 = f1 + 4 + le32(good_xex + f1);
    size_t f3 = f2 + 4 + le32(good_xex + f2);
    assert_true(f3 < n_xex);
    v = splice(good_xex, n_xex, f1, 4, "\xff\xff\xff\x7f", 4, &n);
    expect(run_xex, "xex: huge record frame", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    v = splice(good_xex, n_xex, f2, 0, good_xex + f1, f2 - f1, &n);
    expect(run_xex, "xex: duplicate record", v, n, XCHG_ERR_VERIFY, NULL);
    free(v);
    /* swapped sections: records 1 and 2 exchanged */
    char *sw = malloc(n_xex);
    assert_non_null(sw);
    memcpy(sw, good_xex, f1);
    memcpy(sw + f1, good_xex + f2, f3 - f2);
    memcpy(sw + f1 + (f3 - f2), good_xex + f1, f2 - f1);
    memcpy(sw + f3, good_xex + f3, n_xex - f3);
    expect(run_xex, "xex: swapped records", sw, n_xex, XCHG_ERR_VERIFY, NULL);
    free(sw);
    v = splice(good_xex, n_xex, f2 + 10, 1, good_xex[f2 + 10] == 'x' ? "y" : "x", 1, &n);
    expect(run_xex, "xex: altered record", v, n, XCHG_ERR_VERIFY, NULL);
    free(v);
    v = splice(good_xex, n_xex, n_xex, 0, "\0", 1, &n);
    expect(run_xex, "xex: a byte after the end", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    size_t bounds[] = {7, 8, 16, 96, 120, 124, f1, f1 + 4, f2, f2 + 4, f3, f3 + 4, n_xex - 76};
    static const xchg_err allowed[] = {XCHG_ERR_TRUNCATED};
    truncations(run_xex, "xex", good_xex, n_xex, 61, bounds, sizeof bounds / sizeof bounds[0],
                allowed, 1);
}

static void test_packet(void **state)
{
    (void)state;
    size_t n;
    char *v;
    expect(run_packet, "xrp: empty", "", 0, XCHG_ERR_FORMAT, "not a referral packet");
    v = splice(good_xrp, n_xrp, 0, 7, "XCHGXEX", 7, &n);
    expect(run_packet, "xrp: wrong magic", v, n, XCHG_ERR_FORMAT, NULL);
    free(v);
    v = splice(good_xrp, n_xrp, 7, 1, "\x02", 1, &n);
    expect(run_packet, "xrp: version 2", v, n, XCHG_ERR_VERSION, NULL);
    free(v);
    v = splice(good_xrp, n_xrp, 8, 1, good_xrp[8] == 'x' ? "y" : "x", 1, &n);
    expect(run_packet, "xrp: for another recipient", v, n, XCHG_ERR_UNKNOWN_KEY, NULL);
    free(v);
    v = splice(good_xrp, n_xrp, 130, 1, good_xrp[130] == 'x' ? "y" : "x", 1, &n);
    expect(run_packet, "xrp: altered", v, n, XCHG_ERR_VERIFY, NULL);
    free(v);
    v = splice(good_xrp, n_xrp, n_xrp, 0, "\0", 1, &n);
    expect(run_packet, "xrp: a byte after the end", v, n, XCHG_ERR_VERIFY, NULL);
    free(v);
    size_t bounds[] = {7, 8, 16, 96, 120, 136};
    static const xchg_err allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_TRUNCATED, XCHG_ERR_VERIFY};
    truncations(run_packet, "xrp", good_xrp, n_xrp, 13, bounds, 6, allowed, 3);
}

static void test_audit(void **state)
{
    (void)state;
    size_t n;
    char *v;
    const char *l2 = strchr(good_log, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    size_t o2 = (size_t)(l2 - good_log), o3 = (size_t)(l3 - good_log);
    expect(run_audit, "log: empty", "", 0, XCHG_ERR_FORMAT, NULL);
    v = splice(good_log, n_log, o2 + 5, 0, "\0", 1, &n);
    expect(run_audit, "log: NUL byte", v, n, XCHG_ERR_FORMAT, ":2:");
    free(v);
    v = replace(good_log, n_log, "\"e1\"", "\"\xff\xfe\"", 4, &n);
    expect(run_audit, "log: invalid UTF-8", v, n, XCHG_ERR_FORMAT, ":2:");
    free(v);
    v = splice(good_log, n_log, o3, 0, l2, o3 - o2, &n);
    expect(run_audit, "log: duplicate entry", v, n, XCHG_ERR_VERIFY, ":3:");
    free(v);
    /* swapped: entries 2 and 3 */
    char *sw = malloc(n_log + 1);
    assert_non_null(sw);
    size_t o4 = (size_t)(strchr(l3, '\n') + 1 - good_log);
    memcpy(sw, good_log, o2);
    memcpy(sw + o2, l3, o4 - o3);
    memcpy(sw + o2 + (o4 - o3), l2, o3 - o2);
    memcpy(sw + o4, good_log + o4, n_log - o4);
    expect(run_audit, "log: swapped entries", sw, n_log, XCHG_ERR_VERIFY, ":2:");
    free(sw);
    v = replace(good_log, n_log, "\"seq\":1", "\"seq\":18446744073709551616", 26, &n);
    expect(run_audit, "log: huge seq", v, n, XCHG_ERR_FORMAT, ":2:");
    free(v);
    v = replace(good_log, n_log, "\"version\":1", "\"version\":2", 11, &n);
    /* an edited genesis breaks its own hash first */
    expect(run_audit, "log: version 2", v, n, XCHG_ERR_VERIFY, ":1:");
    free(v);
    char *line = fill('x', XCHG_AUDIT_LINE_MAX + 10);
    line[XCHG_AUDIT_LINE_MAX + 9] = '\n';
    v = splice(good_log, n_log, n_log, 0, line, XCHG_AUDIT_LINE_MAX + 10, &n);
    expect(run_audit, "log: overlong line", v, n, XCHG_ERR_FORMAT, ":4:");
    free(v);
    free(line);
    /* cut inside a line (a cut at a line end is a shorter, valid log) */
    static const xchg_err allowed[] = {XCHG_ERR_FORMAT, XCHG_ERR_TRUNCATED};
    for (size_t cut = 1; cut < n_log; cut += 3) {
        if (good_log[cut - 1] == '\n')
            continue;
        xchg_diag *d = xchg_diag_new();
        xchg_err got = run_audit(good_log, cut, d);
        if (got != allowed[0] && got != allowed[1])
            fail_msg("log cut at %zu: got %d (%s)", cut, got, xchg_strerror(got));
        xchg_diag_free(d);
    }
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_originals), cmocka_unit_test(test_csv),
        cmocka_unit_test(test_yaml),      cmocka_unit_test(test_keys),
        cmocka_unit_test(test_secret),    cmocka_unit_test(test_xex),
        cmocka_unit_test(test_packet),    cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
