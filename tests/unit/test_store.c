/*
 * The matcher's store: keys (file and passphrase; a wrong key is a clear error), exact
 * row counts after ingest, re-ingest as a no-op, supersession in both arrival orders,
 * rejected extracts that change nothing, the agreement binding, migration from an empty
 * database, the pseudonym key across reopen, and saving a run and reading it back.
 */
#define SQLITE_HAS_CODEC 1
#include "test_helpers.h"
#include "store_internal.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <exchange/link.h>
#include <sqlcipher/sqlite3.h>

#define FIX XCHG_TEST_DIR "/fixtures/seal/"

static xchg_agreement *pol, *other, *amended;
static xchg_secret *sec1, *sec2, *sec1b;
static xchg_seckey *matcher;
static char police1[512], police2[512], police3[512], school[512], big[512], flipped[512],
    epoch2[512], otherfp[512], otheragr[512];
static const xchg_kdf_limits fast = {1, 8192}; /* Argon2id minimum: tests only */

static xchg_secret *secret_for(xchg_agreement *p, uint32_t epoch, int agency_seed)
{
    const char *path = tpath("x.xsec");
    xchg_seckey *owner = seed_key(1), *ag = seed_key(agency_seed);
    xchg_secret *s = NULL;
    assert_int_equal(xchg_secret_create(p, owner, epoch, 0, path, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(p, ag, path, &s, NULL), XCHG_OK);
    xchg_seckey_free(owner);
    xchg_seckey_free(ag);
    return s;
}

static void seal_to(xchg_agreement *p, int seed, xchg_secret *s, const char *csv, int64_t now,
                    char *out, const char *name)
{
    snprintf(out, 512, "%s", tpath(name));
    xchg_seckey *k = seed_key(seed);
    xchg_seal_opts o = {.input = csv, .output = out, .overwrite = 1, .period_start = 0,
                        .period_end = 30000, .now = now};
    xchg_seal_stats st;
    assert_int_equal(xchg_seal(p, k, s, &o, &st, NULL), XCHG_OK);
    xchg_seckey_free(k);
}

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    other = agreement_variant("id: test-agreement", "id: other-agreement");
    amended = agreement_variant("retention_days: 365", "retention_days: 364");
    matcher = seed_key(4);
    /* one secret seals both agencies' extracts: open it once per agency key */
    const char *path = tpath("e1.xsec");
    xchg_seckey *owner = seed_key(1), *police = seed_key(2), *sch = seed_key(3);
    assert_int_equal(xchg_secret_create(pol, owner, 1, 0, path, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(pol, police, path, &sec1, NULL), XCHG_OK);
    xchg_secret *sec1s = NULL;
    assert_int_equal(xchg_secret_open(pol, sch, path, &sec1s, NULL), XCHG_OK);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(sch);
    sec2 = secret_for(pol, 2, 2);
    sec1b = secret_for(pol, 1, 2);
    seal_to(pol, 2, sec1, FIX "police.csv", 2, police2, "police2.xex");
    seal_to(pol, 2, sec1, FIX "police.csv", 3, police3, "police3.xex");
    seal_to(pol, 2, sec1, FIX "police.csv", 1, police1, "police1.xex");
    seal_to(pol, 3, sec1s, FIX "school.csv", 2, school, "school.xex");
    xchg_secret_free(sec1s);
    seal_to(pol, 2, sec2, FIX "police.csv", 5, epoch2, "epoch2.xex");
    seal_to(pol, 2, sec1b, FIX "police.csv", 5, otherfp, "otherfp.xex");
    xchg_secret *so = secret_for(other, 1, 2);
    seal_to(other, 2, so, FIX "police.csv", 5, otheragr, "otheragr.xex");
    xchg_secret_free(so);
    /* 300 rows with a byte flipped near the end: many records are read before it fails */
    const char *csv = tpath("big.csv");
    FILE *f = fopen(csv, "w");
    if (!f)
        return -1;
    fprintf(f, "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent\n");
    for (int i = 0; i < 300; i++)
        fprintf(f, "R%d,Name%c,Surname%d,%02d/%02d/19%02d,OX4 1AA,CRIME,01/06/2026,given\n", i,
                'a' + i % 26, i, 1 + i % 28, 1 + i % 12, 50 + i % 40);
    fclose(f);
    seal_to(pol, 2, sec1, csv, 7, big, "big.xex");
    size_t n;
    char *b = slurp(big, &n);
    b[n - 200] ^= 1;
    snprintf(flipped, sizeof flipped, "%s", tpath("flipped.xex"));
    spit(flipped, b, n);
    free(b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(sec1);
    xchg_secret_free(sec2);
    xchg_secret_free(sec1b);
    xchg_seckey_free(matcher);
    xchg_agreement_free(pol);
    xchg_agreement_free(other);
    xchg_agreement_free(amended);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static const char *fresh_db(const char *name)
{
    const char *p = tpath(name);
    char buf[600];
    unlink(p);
    snprintf(buf, sizeof buf, "%s-wal", p);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", p);
    unlink(buf);
    return p;
}

static xchg_store *new_store(const char *name, xchg_store_key **key)
{
    xchg_store_key *k = NULL;
    assert_int_equal(xchg_store_key_generate(&k), XCHG_OK);
    xchg_store *s = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_store_create(fresh_db(name), k, pol, &s, d);
    if (e != XCHG_OK)
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  diag: %s\n", xchg_diag_text(d, i));
    assert_int_equal(e, XCHG_OK);
    xchg_diag_free(d);
    if (key)
        *key = k;
    else
        xchg_store_key_free(k);
    return s;
}

static xchg_ingest_stats ingest_ok(xchg_store *s, const char *path)
{
    xchg_ingest_stats st;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_store_ingest(s, pol, matcher, path, &st, d);
    if (e != XCHG_OK)
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  diag: %s\n", xchg_diag_text(d, i));
    assert_int_equal(e, XCHG_OK);
    xchg_diag_free(d);
    return st;
}

static xchg_store_info info(xchg_store *s)
{
    xchg_store_info i;
    assert_int_equal(xchg_store_get_info(s, &i, NULL), XCHG_OK);
    return i;
}

/* What an extract holds, read directly: records, tokens, indicators. */
static void extract_counts(const char *path, uint64_t *rec, uint64_t *tok, uint64_t *ind)
{
    xchg_extract_file *f = NULL;
    assert_int_equal(xchg_extract_open(pol, matcher, path, 0, &f, NULL), XCHG_OK);
    *rec = *tok = *ind = 0;
    for (;;) {
        xchg_record r;
        int end = 0;
        assert_int_equal(xchg_extract_next(f, &r, &end, NULL), XCHG_OK);
        if (end)
            break;
        (*rec)++;
        *tok += r.nmatch + r.nblock + r.nhouse;
        *ind += r.nind;
    }
    uint64_t n;
    assert_int_equal(xchg_extract_finish(f, &n, NULL), XCHG_OK);
    xchg_extract_close(f);
}

static void assert_same_counts(xchg_store_info a, xchg_store_info b)
{
    assert_int_equal(a.extracts, b.extracts);
    assert_int_equal(a.extracts_active, b.extracts_active);
    assert_int_equal(a.records, b.records);
    assert_int_equal(a.tokens, b.tokens);
    assert_int_equal(a.indicators, b.indicators);
    assert_int_equal(a.epoch, b.epoch);
    assert_string_equal(a.secret_fingerprint, b.secret_fingerprint);
}

/* ---- keys and opening ------------------------------------------------------------ */

static void test_key_file(void **state)
{
    (void)state;
    xchg_store_key *k = NULL, *k2 = NULL, *wrong = NULL;
    const char *kp = tpath("db.key");
    unlink(kp);
    xchg_store *s = new_store("kf.db", &k);
    const char *db = tpath("kf.db");
    xchg_store_free(s);
    assert_int_equal(xchg_store_key_save(k, kp, 0, NULL), XCHG_OK);
    struct stat sb;
    assert_int_equal(stat(kp, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(xchg_store_key_save(k, kp, 0, NULL), XCHG_ERR_EXISTS);
    size_t n;
    char *text = slurp(kp, &n);
    assert_int_equal(n, 6 + 44 + 1);
    assert_memory_equal(text, "xdbk1:", 6);
    free(text);
    assert_int_equal(xchg_store_key_load(kp, &k2, NULL), XCHG_OK);
    assert_int_equal(xchg_store_open(db, k2, pol, 0, &s, NULL), XCHG_OK);
    xchg_store_info i = info(s);
    assert_int_equal(i.schema_version, XCHG_STORE_SCHEMA_VERSION);
    assert_string_equal(i.agreement_id, "test-agreement");
    assert_int_equal(i.agreement_versions, 1);
    xchg_store_free(s);
    /* a wrong key is a clear error, not a crash */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_store_key_generate(&wrong), XCHG_OK);
    s = NULL;
    assert_int_equal(xchg_store_open(db, wrong, pol, 0, &s, d), XCHG_ERR_PASSPHRASE);
    assert_null(s);
    assert_diag_has(d, "wrong database key");
    /* creating over an existing store is refused */
    assert_int_equal(xchg_store_create(db, k, pol, &s, NULL), XCHG_ERR_EXISTS);
    /* malformed key files */
    const char *bad = tpath("bad.key");
    spit(bad, "xdbk1:AAAA\n", 11);
    assert_int_equal(xchg_store_key_load(bad, &k2, NULL) == XCHG_OK, 0);
    spit(bad, "xdbk9:AAAA\n", 11);
    assert_int_equal(xchg_store_key_load(bad, &k2, NULL), XCHG_ERR_VERSION);
    spit(bad, "hello\n", 6);
    assert_int_equal(xchg_store_key_load(bad, &k2, NULL), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_store_key_load(tpath("missing.key"), &k2, NULL), XCHG_ERR_NOT_FOUND);
    xchg_diag_free(d);
    xchg_store_key_free(k);
    xchg_store_key_free(k2);
    xchg_store_key_free(wrong);
}

static void test_passphrase(void **state)
{
    (void)state;
    xchg_store_key *k = NULL, *bad = NULL, *raw = NULL;
    const char *db = fresh_db("pp.db");
    assert_int_equal(xchg_store_key_from_passphrase("correct horse", 13, &fast, &k), XCHG_OK);
    assert_int_equal(xchg_store_key_from_passphrase("", 0, &fast, &bad), XCHG_ERR_ARG);
    xchg_store *s = NULL;
    assert_int_equal(xchg_store_create(db, k, pol, &s, NULL), XCHG_OK);
    ingest_ok(s, police2);
    xchg_store_free(s);
    s = NULL;
    assert_int_equal(xchg_store_open(db, k, pol, 0, &s, NULL), XCHG_OK);
    assert_int_equal(info(s).records, 4);
    xchg_store_free(s);
    s = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_store_key_from_passphrase("correct horsf", 13, &fast, &bad), XCHG_OK);
    assert_int_equal(xchg_store_open(db, bad, pol, 0, &s, d), XCHG_ERR_PASSPHRASE);
    assert_diag_has(d, "wrong database key");
    assert_int_equal(xchg_store_key_generate(&raw), XCHG_OK);
    assert_int_equal(xchg_store_open(db, raw, pol, 0, &s, NULL), XCHG_ERR_PASSPHRASE);
    /* a passphrase key cannot be written as a key file */
    assert_int_equal(xchg_store_key_save(k, tpath("pp.key"), 1, NULL), XCHG_ERR_ARG);
    xchg_diag_free(d);
    xchg_store_key_free(k);
    xchg_store_key_free(bad);
    xchg_store_key_free(raw);
}

/* The database file never holds a token, reference or payload in clear. */
static void test_file_is_encrypted(void **state)
{
    (void)state;
    xchg_store *s = new_store("enc.db", NULL);
    ingest_ok(s, police2);
    xchg_store_free(s);
    size_t n;
    char *b = slurp(tpath("enc.db"), &n);
    assert_true(n > 4096);
    for (size_t i = 0; i + 15 < n; i++)
        assert_false(memcmp(b + i, "SQLite format 3", 15) == 0);
    for (size_t i = 0; i + 11 < n; i++)
        assert_false(memcmp(b + i, "test-agreem", 11) == 0);
    free(b);
}

static void test_pseudonym_key_persists(void **state)
{
    (void)state;
    xchg_store_key *k = NULL;
    xchg_store *s = new_store("pk.db", &k);
    uint8_t a[32], zero[32] = {0};
    memcpy(a, xchg_store_pseudonym_key(s), 32);
    assert_memory_not_equal(a, zero, 32);
    xchg_store_free(s);
    assert_int_equal(xchg_store_open(tpath("pk.db"), k, NULL, 0, &s, NULL), XCHG_OK);
    assert_memory_equal(xchg_store_pseudonym_key(s), a, 32);
    xchg_store_free(s);
    /* another store has another key */
    s = new_store("pk2.db", NULL);
    assert_memory_not_equal(xchg_store_pseudonym_key(s), a, 32);
    xchg_store_free(s);
    xchg_store_key_free(k);
}

static void test_agreement_binding(void **state)
{
    (void)state;
    xchg_store_key *k = NULL;
    xchg_store *s = new_store("bind.db", &k);
    xchg_store_free(s);
    const char *db = tpath("bind.db");
    xchg_diag *d = xchg_diag_new();
    s = NULL;
    assert_int_equal(xchg_store_open(db, k, other, 0, &s, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "belongs to agreement 'test-agreement', not 'other-agreement'");
    /* with the flag, another agreement is still refused */
    assert_int_equal(xchg_store_open(db, k, other, XCHG_STORE_ACCEPT_NEW_VERSION, &s, NULL),
                     XCHG_ERR_DENIED);
    xchg_diag_clear(d);
    assert_int_equal(xchg_store_open(db, k, amended, 0, &s, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "differs from the version this store follows");
    assert_null(s);
    assert_int_equal(xchg_store_open(db, k, amended, XCHG_STORE_ACCEPT_NEW_VERSION, &s, NULL),
                     XCHG_OK);
    xchg_store_info i = info(s);
    assert_int_equal(i.agreement_versions, 2);
    char hash[65];
    xchg_hex_encode(hash, xchg_policy_hash(xchg_agreement_policy(amended)), 32);
    assert_string_equal(i.agreement_hash, hash);
    /* an extract of the old version is refused now; the old policy cannot ingest */
    assert_int_equal(xchg_store_ingest(s, pol, matcher, police2, NULL, NULL), XCHG_ERR_DENIED);
    xchg_store_free(s);
    assert_int_equal(xchg_store_open(db, k, amended, 0, &s, NULL), XCHG_OK);
    xchg_store_free(s);
    /* read-only views need no agreement */
    assert_int_equal(xchg_store_open(db, k, NULL, 0, &s, NULL), XCHG_OK);
    xchg_store_free(s);
    xchg_diag_free(d);
    xchg_store_key_free(k);
}

/* An encrypted database with no exchange tables (schema 0) is migrated on open. */
static void test_migration_from_empty(void **state)
{
    (void)state;
    const char *db = fresh_db("empty.db"), *kp = tpath("empty.key");
    uint8_t raw[32], salt[16];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    memset(salt, 0x5a, sizeof salt);
    char b64[64], line[80], hex[100];
    xchg_base64_encode(b64, raw, 32);
    snprintf(line, sizeof line, "xdbk1:%s\n", b64);
    spit(kp, line, strlen(line));
    hex[0] = 'x';
    hex[1] = '\'';
    xchg_hex_encode(hex + 2, raw, 32);
    xchg_hex_encode(hex + 66, salt, 16);
    hex[98] = '\'';
    hex[99] = 0;
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_key(h, hex, 99), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA cipher_page_size = 4096; CREATE TABLE x(y);", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    xchg_store_key *k = NULL;
    assert_int_equal(xchg_store_key_load(kp, &k, NULL), XCHG_OK);
    xchg_store *s = NULL;
    assert_int_equal(xchg_store_open(db, k, pol, 0, &s, NULL), XCHG_OK);
    xchg_store_info i = info(s);
    assert_int_equal(i.schema_version, XCHG_STORE_SCHEMA_VERSION);
    assert_string_equal(i.agreement_id, "test-agreement");
    assert_int_equal(i.records, 0);
    ingest_ok(s, police2);
    assert_int_equal(info(s).records, 4);
    xchg_store_free(s);
    /* reopening does not migrate again and keeps everything */
    assert_int_equal(xchg_store_open(db, k, pol, 0, &s, NULL), XCHG_OK);
    assert_int_equal(info(s).records, 4);
    xchg_store_free(s);
    xchg_store_key_free(k);
}

/* ---- ingest --------------------------------------------------------------------- */

static void test_ingest_counts(void **state)
{
    (void)state;
    xchg_store *s = new_store("ing.db", NULL);
    uint64_t r1, t1, i1, r2, t2, i2;
    extract_counts(police2, &r1, &t1, &i1);
    extract_counts(school, &r2, &t2, &i2);
    assert_int_equal(r1, 4);
    xchg_store_info before = info(s);
    assert_int_equal(before.epoch, 0);
    xchg_ingest_stats st = ingest_ok(s, police2);
    assert_int_equal(st.already, 0);
    assert_int_equal(st.superseded, 0);
    assert_string_equal(st.agency, "police");
    assert_int_equal(st.records, r1);
    assert_int_equal(st.tokens, t1);
    assert_int_equal(st.indicators, i1);
    st = ingest_ok(s, school);
    assert_string_equal(st.agency, "school");
    assert_int_equal(st.records, r2);
    xchg_store_info i = info(s);
    assert_int_equal(i.extracts, 2);
    assert_int_equal(i.extracts_active, 2);
    assert_int_equal(i.records, r1 + r2);
    assert_int_equal(i.records_active, r1 + r2);
    assert_int_equal(i.tokens, t1 + t2);
    assert_int_equal(i.indicators, i1 + i2);
    assert_int_equal(i.epoch, 1);
    assert_int_equal(strlen(i.secret_fingerprint), 32);
    xchg_store_free(s);
}

/* each_record gives back exactly what the extract carried (payload aside). */
struct cmp_ctx {
    xchg_extract_file *f;
    uint64_t n;
    size_t agency;
};

static xchg_err cmp_record(void *ctx, size_t agency, uint64_t id, const xchg_record *got)
{
    struct cmp_ctx *c = ctx;
    xchg_record want;
    int end = 0;
    assert_int_equal(xchg_extract_next(c->f, &want, &end, NULL), XCHG_OK);
    assert_false(end);
    assert_int_equal(agency, c->agency);
    assert_int_equal(id, c->n + 1);
    assert_int_equal(got->ref_len, want.ref_len);
    assert_memory_equal(got->ref, want.ref, want.ref_len);
    assert_int_equal(got->nmatch, want.nmatch);
    assert_int_equal(got->nblock, want.nblock);
    assert_int_equal(got->nhouse, want.nhouse);
    assert_memory_equal(got->match, want.match, want.nmatch * sizeof want.match[0]);
    assert_memory_equal(got->block, want.block, want.nblock * sizeof want.block[0]);
    assert_memory_equal(got->house, want.house, want.nhouse * sizeof want.house[0]);
    assert_int_equal(got->clk_len, want.clk_len);
    if (want.clk_len)
        assert_memory_equal(got->clk, want.clk, want.clk_len);
    assert_int_equal(got->nind, want.nind);
    for (size_t i = 0; i < want.nind; i++) {
        assert_int_equal(got->ind[i].problem, want.ind[i].problem);
        assert_int_equal(got->ind[i].start, want.ind[i].start);
        assert_int_equal(got->ind[i].end, want.ind[i].end);
    }
    assert_int_equal(got->consent, want.consent);
    assert_int_equal(got->consent_date, want.consent_date);
    assert_int_equal(got->basis_len, want.basis_len);
    c->n++;
    return XCHG_OK;
}

static void test_each_record_roundtrip(void **state)
{
    (void)state;
    xchg_store *s = new_store("rt.db", NULL);
    ingest_ok(s, police2);
    struct cmp_ctx c = {NULL, 0, xchg_policy_party(xchg_agreement_policy(pol), "police")};
    assert_int_equal(xchg_extract_open(pol, matcher, police2, 0, &c.f, NULL), XCHG_OK);
    uint64_t n = 0;
    assert_int_equal(xchg_store_each_record(s, pol, cmp_record, &c, &n, NULL), XCHG_OK);
    assert_int_equal(n, 4);
    assert_int_equal(c.n, 4);
    xchg_extract_close(c.f);
    xchg_store_free(s);
}

static void test_reingest_noop(void **state)
{
    (void)state;
    xchg_store *s = new_store("re.db", NULL);
    xchg_ingest_stats a = ingest_ok(s, police2);
    xchg_store_info before = info(s);
    xchg_ingest_stats b = ingest_ok(s, police2);
    assert_int_equal(b.already, 1);
    assert_int_equal(b.records, 0);
    assert_string_equal(a.extract_id, b.extract_id);
    assert_same_counts(before, info(s));
    /* an altered copy of a stored extract is rejected, not "already ingested" */
    ingest_ok(s, big);
    before = info(s);
    xchg_ingest_stats c;
    assert_int_equal(xchg_store_ingest(s, pol, matcher, flipped, &c, NULL), XCHG_ERR_VERIFY);
    assert_int_equal(c.already, 0);
    assert_same_counts(before, info(s));
    xchg_store_free(s);
}

static void test_supersede(void **state)
{
    (void)state;
    xchg_store *s = new_store("sup.db", NULL);
    xchg_ingest_stats a = ingest_ok(s, police2);
    assert_string_equal(a.supersedes, "");
    /* a newer extract of the same agency and period supersedes it */
    xchg_ingest_stats b = ingest_ok(s, police3);
    assert_int_equal(b.superseded, 0);
    assert_string_equal(b.supersedes, a.extract_id);
    xchg_store_info i = info(s);
    assert_int_equal(i.extracts, 2);
    assert_int_equal(i.extracts_active, 1);
    assert_int_equal(i.records, 8);
    assert_int_equal(i.records_active, 4);
    /* an older one arriving late is stored superseded at once */
    xchg_ingest_stats c = ingest_ok(s, police1);
    assert_int_equal(c.superseded, 1);
    assert_string_equal(c.supersedes, "");
    i = info(s);
    assert_int_equal(i.extracts, 3);
    assert_int_equal(i.extracts_active, 1);
    assert_int_equal(i.records, 12);
    assert_int_equal(i.records_active, 4);
    /* only the active extract's records are loaded for linkage */
    struct cmp_ctx cc = {NULL, 0, xchg_policy_party(xchg_agreement_policy(pol), "police")};
    assert_int_equal(xchg_extract_open(pol, matcher, police3, 0, &cc.f, NULL), XCHG_OK);
    cc.n = 4; /* police3's rows are 5..8 */
    uint64_t n = 0;
    assert_int_equal(xchg_store_each_record(s, pol, cmp_record, &cc, &n, NULL), XCHG_OK);
    assert_int_equal(n, 4);
    xchg_extract_close(cc.f);
    /* a different agency is independent */
    ingest_ok(s, school);
    assert_int_equal(info(s).extracts_active, 2);
    xchg_store_free(s);
}

/* Two versions sealed in the same second, and versions with different periods: whatever
 * order they arrive in, the same one is active (the newest by creation time, then id). */
static void test_supersede_order(void **state)
{
    (void)state;
    char a[512], b[512], c[512];
    seal_to(pol, 2, sec1, FIX "police.csv", 100, a, "same-a.xex");
    seal_to(pol, 2, sec1, FIX "police.csv", 100, b, "same-b.xex");
    /* another period, sealed later: a full snapshot supersedes whatever the period */
    {
        xchg_seckey *k = seed_key(2);
        snprintf(c, sizeof c, "%s", tpath("shifted.xex"));
        xchg_seal_opts o = {.input = FIX "police.csv", .output = c, .overwrite = 1,
                            .period_start = 1, .period_end = 30001, .now = 101};
        xchg_seal_stats ss;
        assert_int_equal(xchg_seal(pol, k, sec1, &o, &ss, NULL), XCHG_OK);
        xchg_seckey_free(k);
    }
    char active[2][33];
    for (int order = 0; order < 2; order++) {
        xchg_store *s = new_store(order ? "ord1.db" : "ord0.db", NULL);
        xchg_ingest_stats x = ingest_ok(s, order ? b : a);
        xchg_ingest_stats y = ingest_ok(s, order ? a : b);
        assert_int_equal(info(s).extracts_active, 1);
        assert_int_equal(info(s).records_active, 4);
        /* exactly one of the two was stored superseded or superseded the other */
        assert_true(y.superseded || strcmp(y.supersedes, x.extract_id) == 0);
        snprintf(active[order], 33, "%s", y.superseded ? x.extract_id : y.extract_id);
        xchg_ingest_stats z = ingest_ok(s, c);
        assert_int_equal(z.superseded, 0);
        assert_string_equal(z.supersedes, active[order]);
        assert_int_equal(info(s).extracts_active, 1);
        assert_int_equal(info(s).records_active, 4);
        xchg_store_free(s);
    }
    assert_string_equal(active[0], active[1]);
}

/* Identification consent is applied again when the matcher loads records: a record that
 * arrives with indicators although its consent was withdrawn (an extract sealed before
 * the rule, or by a tool that skipped it — here, the store edited) contributes none. */
struct ind_ctx {
    uint64_t with, without;
};

static xchg_err count_ind(void *ctx, size_t agency, uint64_t id, const xchg_record *r)
{
    (void)agency;
    (void)id;
    struct ind_ctx *c = ctx;
    if (r->nind)
        c->with++;
    else
        c->without++;
    return XCHG_OK;
}

static void test_identification_consent_at_load(void **state)
{
    (void)state;
    xchg_store *s = new_store("idload.db", NULL);
    ingest_ok(s, police2);
    struct ind_ctx before = {0, 0}, after = {0, 0};
    assert_int_equal(xchg_store_each_record(s, pol, count_ind, &before, NULL, NULL), XCHG_OK);
    assert_true(before.with >= 2);
    /* every record with indicators now says "consent withdrawn" */
    assert_int_equal(sqlite3_exec(xchg__store_db(s),
                                  "UPDATE records SET consent = 3, basis = NULL WHERE id IN "
                                  "(SELECT record FROM indicators)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(xchg_store_each_record(s, pol, count_ind, &after, NULL, NULL), XCHG_OK);
    assert_int_equal(after.with, 0);
    assert_int_equal(after.without, before.with + before.without);
    xchg_store_free(s);
}

static void expect_rejected(xchg_store *s, const xchg_agreement *p, const char *path, xchg_err want,
                            const char *msg)
{
    xchg_store_info before = info(s);
    xchg_ingest_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_store_ingest(s, p, matcher, path, &st, d), want);
    if (msg)
        assert_diag_has(d, msg);
    assert_int_equal(st.records, 0);
    assert_same_counts(before, info(s));
    xchg_diag_free(d);
}

static void test_rejected_changes_nothing(void **state)
{
    (void)state;
    xchg_store *s = new_store("rej.db", NULL);
    /* rejected as the first extract: the epoch is not fixed by it */
    expect_rejected(s, pol, flipped, XCHG_ERR_VERIFY, NULL);
    assert_int_equal(info(s).epoch, 0);
    ingest_ok(s, police2);
    expect_rejected(s, pol, flipped, XCHG_ERR_VERIFY, NULL);
    expect_rejected(s, pol, epoch2, XCHG_ERR_DENIED, "epoch 2, expected epoch 1");
    expect_rejected(s, pol, otherfp, XCHG_ERR_DENIED, "linkage secret");
    expect_rejected(s, pol, otheragr, XCHG_ERR_DENIED, NULL);
    expect_rejected(s, amended, police3, XCHG_ERR_DENIED, "the store follows agreement");
    /* not for this matcher */
    xchg_seckey *m2 = seed_key(5);
    xchg_store_info before = info(s);
    assert_int_equal(xchg_store_ingest(s, pol, m2, police3, NULL, NULL) == XCHG_OK, 0);
    assert_same_counts(before, info(s));
    xchg_seckey_free(m2);
    /* the store still works after every rejection */
    ingest_ok(s, big);
    assert_int_equal(info(s).records, 304);
    xchg_store_free(s);
}

/* ---- runs and views (a hand-made link result: no linkage engine needed) ---------- */

static xchg_err collect_ids(void *ctx, size_t agency, uint64_t id, const xchg_record *r)
{
    (void)agency, (void)r;
    uint64_t *ids = ctx;
    ids[ids[0] + 1] = id;
    ids[0]++;
    return XCHG_OK;
}

struct view_ctx {
    int families, members, pairs, conflicts, links;
    char first[24];
    xchg_store_member member[4]; /* the first members, as handed over */
    xchg_store_pair pair;        /* the last review pair */
};

/* Each record's tokens (match, blocking, household), as the store hands them over. */
struct tok_rec {
    xchg_token t[3][XCHG_RECORD_MAX_TOKENS];
    size_t n[3];
    int age;
    char area[XCHG_RECORD_MAX_AREA + 1];
};

static xchg_err collect_tokens(void *ctx, size_t agency, uint64_t id, const xchg_record *r)
{
    (void)agency, (void)id;
    struct tok_rec *all = ctx, *x = &all[all[0].n[0]++ + 1];
    memset(x, 0, sizeof *x);
    const xchg_token *src[3] = {r->match, r->block, r->house};
    size_t ns[3] = {r->nmatch, r->nblock, r->nhouse};
    for (int k = 0; k < 3; k++) {
        memcpy(x->t[k], src[k], ns[k] * sizeof(xchg_token));
        x->n[k] = ns[k];
    }
    x->age = r->age;
    snprintf(x->area, sizeof x->area, "%.*s", (int)r->area_len, r->area ? r->area : "");
    return XCHG_OK;
}

/* What the pair's same/differ masks must be, computed here from the two records' tokens. */
static void expect_masks(const struct tok_rec *a, const struct tok_rec *b, uint32_t same[3],
                         uint32_t differ[3])
{
    for (int k = 0; k < 3; k++) {
        uint32_t held_a = 0, held_b = 0, eq = 0;
        for (size_t i = 0; i < a->n[k]; i++)
            held_a |= 1u << a->t[k][i].index;
        for (size_t j = 0; j < b->n[k]; j++)
            held_b |= 1u << b->t[k][j].index;
        for (size_t i = 0; i < a->n[k]; i++)
            for (size_t j = 0; j < b->n[k]; j++)
                if (a->t[k][i].index == b->t[k][j].index &&
                    memcmp(a->t[k][i].value, b->t[k][j].value, XCHG_TOKEN_BYTES) == 0)
                    eq |= 1u << a->t[k][i].index;
        same[k] = eq;
        differ[k] = held_a & held_b & ~eq;
    }
}

static int on_family(void *ctx, const xchg_store_family *f)
{
    struct view_ctx *v = ctx;
    if (!v->families++)
        snprintf(v->first, sizeof v->first, "%s", f->pseudonym);
    return 0;
}

static int on_member(void *ctx, const xchg_store_member *m)
{
    struct view_ctx *v = ctx;
    if (v->members < 4)
        v->member[v->members] = *m;
    v->members++;
    assert_true(m->nrecords >= 1);
    return 0;
}

static int on_pair(void *ctx, const xchg_store_pair *p)
{
    struct view_ctx *v = ctx;
    if (p->conflict) {
        v->conflicts++;
    } else {
        v->pairs++;
        v->pair = *p;
    }
    return 0;
}

static int on_link(void *ctx, const xchg_store_link *l)
{
    struct view_ctx *v = ctx;
    v->links++;
    assert_non_null(l->agency);
    assert_non_null(l->ref);
    assert_int_equal(strncmp(l->person, "P-", 2), 0);
    assert_int_equal(strncmp(l->family, "F-", 2), 0);
    return 0;
}

/* A member's agencies are the party ids holding its records: typed, sorted, each once. */
static void test_member_agencies(void **state)
{
    (void)state;
    xchg_store_key *key = NULL;
    xchg_store *s = new_store("members.db", &key);
    ingest_ok(s, school);
    ingest_ok(s, police2);
    uint64_t ids[64] = {0};
    uint64_t n = 0;
    assert_int_equal(xchg_store_each_record(s, pol, collect_ids, ids, &n, NULL), XCHG_OK);
    assert_true(n >= 3);
    /* every record one person of one household: the school's and the police's */
    xchg_link_result r;
    memset(&r, 0, sizeof r);
    r.nrecords = n;
    uint32_t person[64] = {0}, household[64] = {0};
    char pseud[1][24] = {"P-only"};
    r.person = person;
    r.household = household;
    r.npersons = 1;
    r.person_pseudonym = pseud;
    r.nhouseholds = 1;
    xchg_family fam;
    memset(&fam, 0, sizeof fam);
    snprintf(fam.pseudonym, 24, "F-one");
    fam.npersons = 1;
    fam.nrecords = (uint32_t)n;
    r.families = &fam;
    xchg_run_params rp = {.run_date = 20100, .threads = 1};
    int64_t run = 0;
    assert_int_equal(xchg_store_save_result(s, pol, &r, ids + 1, &rp, &run, NULL), XCHG_OK);
    struct view_ctx v;
    memset(&v, 0, sizeof v);
    xchg_store_family f;
    assert_int_equal(xchg_store_family_show(s, 0, "F-one", &f, on_member, NULL, &v, NULL), XCHG_OK);
    assert_int_equal(v.members, 1);
    assert_string_equal(v.member[0].pseudonym, "P-only");
    assert_int_equal(v.member[0].nrecords, (int)n);
    assert_int_equal(v.member[0].nagencies, 2);
    assert_string_equal(v.member[0].agencies[0], "police");
    assert_string_equal(v.member[0].agencies[1], "school");
    assert_int_equal(v.member[0].agencies[2][0], 0);
    xchg_store_free(s);
    xchg_store_key_free(key);
}

static void test_save_and_views(void **state)
{
    (void)state;
    xchg_store_key *key = NULL;
    xchg_store *s = new_store("run.db", &key);
    ingest_ok(s, police2);
    ingest_ok(s, school);
    uint64_t ids[64] = {0};
    uint64_t n = 0;
    assert_int_equal(xchg_store_each_record(s, pol, collect_ids, ids, &n, NULL), XCHG_OK);
    assert_int_equal(n, ids[0]);
    assert_true(n >= 6);
    /* records 0,1 one person (police + school); the rest alone; households: {0,1,2}, rest */
    xchg_link_result r;
    memset(&r, 0, sizeof r);
    r.nrecords = n;
    uint32_t person[64], household[64];
    char(*pseud)[24] = calloc(n, 24);
    for (size_t i = 0; i < n; i++) {
        person[i] = i == 0 ? 0 : (uint32_t)i - 1;
        household[i] = i <= 2 ? 0 : 1;
    }
    r.person = person;
    r.household = household;
    r.npersons = n - 1;
    for (size_t i = 0; i < r.npersons; i++)
        snprintf(pseud[i], 24, "P-%04zu", i);
    r.person_pseudonym = pseud;
    r.nhouseholds = 2;
    xchg_family fam[2];
    memset(fam, 0, sizeof fam);
    snprintf(fam[0].pseudonym, 24, "F-aaaa");
    fam[0].npersons = 2;
    fam[0].nrecords = 3;
    fam[0].eligible = 1;
    fam[0].nproblems = 2;
    fam[0].nrule = 2;
    fam[0].how = XCHG_LINK_FUZZY;
    fam[0].problems[0] = (xchg_family_problem){0, 1u << 1, 20000, 20010, 0};
    fam[0].problems[1] = (xchg_family_problem){1, 1u << 2, 20005, XCHG_DATE_OPEN, 0};
    fam[0].nreview = 1;
    fam[0].nconflicts = 1;
    snprintf(fam[1].pseudonym, 24, "F-bbbb");
    fam[1].npersons = (uint32_t)(r.npersons - 2);
    fam[1].nrecords = (uint32_t)(n - 3);
    r.families = fam;
    xchg_link_pair rev = {1, 3, 0.83f, -1}, con = {0, 2, 1.0f, 0};
    r.review = &rev;
    r.nreview = 1;
    r.conflicts = &con;
    r.nconflicts = 1;
    xchg_run_params rp = {.run_date = 20100, .threads = 1};
    int64_t run = 0;
    /* an inconsistent result is refused whole */
    r.person[1] = 999;
    assert_int_equal(xchg_store_save_result(s, pol, &r, ids + 1, &rp, &run, NULL), XCHG_ERR_ARG);
    assert_int_equal(info(s).runs, 0);
    r.person[1] = 0;
    assert_int_equal(xchg_store_save_result(s, pol, &r, ids + 1, &rp, &run, NULL), XCHG_OK);
    assert_int_equal(run, 1);
    assert_int_equal(info(s).last_run, 1);
    struct view_ctx v;
    memset(&v, 0, sizeof v);
    assert_int_equal(xchg_store_families(s, 0, 0, on_family, &v, NULL), XCHG_OK);
    assert_int_equal(v.families, 1);
    assert_string_equal(v.first, "F-aaaa");
    memset(&v, 0, sizeof v);
    assert_int_equal(xchg_store_families(s, 0, XCHG_STORE_ALL, on_family, &v, NULL), XCHG_OK);
    assert_int_equal(v.families, 2);
    xchg_store_family f;
    memset(&v, 0, sizeof v);
    assert_int_equal(
        xchg_store_family_show(s, 0, "F-aaaa", &f, on_member, on_pair, &v, NULL), XCHG_OK);
    assert_int_equal(v.members, 2);
    /* members' agencies are typed party ids (sorted), not a joined string */
    assert_string_equal(v.member[0].pseudonym, "P-0000");
    assert_int_equal(v.member[0].nrecords, 2);
    assert_int_equal(v.member[0].nagencies, 1);
    assert_string_equal(v.member[0].agencies[0], "police");
    assert_string_equal(v.member[1].pseudonym, "P-0001");
    assert_int_equal(v.member[1].nrecords, 1);
    assert_int_equal(v.member[1].nagencies, 1);
    assert_string_equal(v.member[1].agencies[0], "police");
    assert_int_equal(v.pairs, 1);
    assert_int_equal(v.conflicts, 1);
    /* the review pair (records 1 and 3) comes with its evidence: the keys on which the
       two records' tokens agree and differ, their ages and areas, as computed here */
    struct tok_rec *tr = calloc(n + 1, sizeof *tr);
    uint64_t cnt = 0;
    assert_int_equal(xchg_store_each_record(s, pol, collect_tokens, tr, &cnt, NULL), XCHG_OK);
    uint32_t same[3], differ[3];
    expect_masks(&tr[2], &tr[4], same, differ);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(v.pair.same[k], same[k]);
        assert_int_equal(v.pair.differ[k], differ[k]);
    }
    assert_true(same[0] | same[1] | same[2] | differ[0] | differ[1] | differ[2]);
    assert_int_equal(v.pair.age_a, tr[2].age);
    assert_int_equal(v.pair.age_b, tr[4].age);
    assert_string_equal(v.pair.area_a, tr[2].area);
    assert_string_equal(v.pair.area_b, tr[4].area);
    free(tr);
    assert_int_equal(f.nproblems, 2);
    assert_int_equal(f.problems[0].nagencies, 1);
    assert_string_equal(f.problems[0].agencies[0], "police");
    assert_string_equal(f.problems[1].agencies[0], "school");
    assert_int_equal(f.problems[0].first, 20000);
    assert_int_equal(f.problems[1].last, XCHG_DATE_OPEN);
    assert_int_equal(f.eligible, 1);
    assert_int_equal(f.how, XCHG_LINK_FUZZY);
    assert_int_equal(xchg_store_family_show(s, 0, "F-none", &f, NULL, NULL, NULL, NULL),
                     XCHG_ERR_NOT_FOUND);
    memset(&v, 0, sizeof v);
    assert_int_equal(xchg_store_links(s, 0, on_link, &v, NULL), XCHG_OK);
    assert_int_equal(v.links, (int)n);
    assert_int_equal(xchg_store_links(s, 7, on_link, &v, NULL), XCHG_ERR_NOT_FOUND);
    free(pseud);
    /* a store of schema 4 kept a family's problems as JSON text: made so by hand here,
       migration 5 turns them into rows with the same view */
    sqlite3 *db = xchg__store_db(s);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE family_problems; DROP TABLE family_problem_agencies;"
                                  /* and what schema 6 added */
                                  "DROP TABLE measure_events; DROP TABLE family_state;"
                                  "DROP TABLE family_baseline; DROP TABLE family_outcomes;"
                                  "DROP TABLE family_state_persons;"
                                  /* and what schema 8 added */
                                  "DROP TABLE family_state_tokens;"
                                  "PRAGMA foreign_keys=OFF; CREATE TABLE r5 AS SELECT id, extract, ref, consent,"
                                  " consent_date, basis, clk, payload, replaced_by FROM records;"
                                  "DROP TABLE records; ALTER TABLE r5 RENAME TO records;"
                                  "CREATE TABLE e5 AS SELECT id, extract_id, agency,"
                                  " agreement_hash, epoch, fingerprint, period_start,"
                                  " period_end, created, ingested_at, n_records, superseded_by,"
                                  " header, purged_at, incremental FROM extracts;"
                                  "DROP TABLE extracts; ALTER TABLE e5 RENAME TO extracts;"
                                  "UPDATE meta SET value = 4 WHERE name = 'schema_version';"
                                  "UPDATE families SET problems = '[{\"code\":\"crime_asb\","
                                  "\"agencies\":[\"police\",\"school\"],\"first\":"
                                  "\"2024-10-04\",\"last\":\"open\",\"rule\":true}]' "
                                  "WHERE pseudonym = 'F-aaaa';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    xchg_store_free(s);
    s = NULL;
    assert_int_equal(xchg_store_open(tpath("run.db"), key, pol, 0, &s, NULL), XCHG_OK);
    assert_int_equal(info(s).schema_version, XCHG_STORE_SCHEMA_VERSION);
    assert_int_equal(xchg_store_family_show(s, 0, "F-aaaa", &f, NULL, NULL, NULL, NULL), XCHG_OK);
    assert_int_equal(f.nproblems, 1);
    assert_string_equal(f.problems[0].code, "crime_asb");
    assert_int_equal(f.problems[0].nagencies, 2);
    assert_string_equal(f.problems[0].agencies[1], "school");
    assert_int_equal(f.problems[0].first, 20000);
    assert_int_equal(f.problems[0].last, XCHG_DATE_OPEN);
    assert_int_equal(f.problems[0].counts, 1);
    xchg_store_key_free(key);
    xchg_store_free(s);
}

static void test_load_linkset(void **state)
{
    (void)state;
    xchg_store *s = new_store("load.db", NULL);
    ingest_ok(s, police2);
    ingest_ok(s, police3); /* supersedes police2 */
    ingest_ok(s, school);
    xchg_linkset *ls = NULL;
    assert_int_equal(xchg_linkset_new(pol, &ls), XCHG_OK);
    uint64_t n = 0;
    assert_int_equal(xchg_store_load(s, pol, ls, &n, NULL), XCHG_OK);
    assert_int_equal(n, info(s).records_active);
    assert_int_equal(xchg_linkset_count(ls), n);
    assert_int_equal(xchg_linkset_agency(ls, 0),
                     xchg_policy_party(xchg_agreement_policy(pol), "police"));
    xchg_link_result *r = NULL;
    assert_int_equal(xchg_link_run(ls, 20600, xchg_store_pseudonym_key(s), 1, &r, NULL), XCHG_OK);
    xchg_run_params rp = {.run_date = 20600, .threads = 1};
    int64_t run = 0;
    assert_int_equal(xchg_store_save_run(s, pol, ls, r, &rp, &run, NULL), XCHG_OK);
    assert_int_equal(run, 1);
    struct view_ctx v;
    memset(&v, 0, sizeof v);
    assert_int_equal(xchg_store_links(s, run, on_link, &v, NULL), XCHG_OK);
    assert_int_equal(v.links, (int)n);
    xchg_link_result_free(r);
    xchg_linkset_free(ls);
    xchg_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_passphrase),
        cmocka_unit_test(test_file_is_encrypted),
        cmocka_unit_test(test_pseudonym_key_persists),
        cmocka_unit_test(test_agreement_binding),
        cmocka_unit_test(test_migration_from_empty),
        cmocka_unit_test(test_ingest_counts),
        cmocka_unit_test(test_each_record_roundtrip),
        cmocka_unit_test(test_reingest_noop),
        cmocka_unit_test(test_supersede),
        cmocka_unit_test(test_supersede_order),
        cmocka_unit_test(test_identification_consent_at_load),
        cmocka_unit_test(test_rejected_changes_nothing),
        cmocka_unit_test(test_save_and_views),
        cmocka_unit_test(test_member_agencies),
        cmocka_unit_test(test_load_linkset),
    };
    if (xchg_init() != XCHG_OK)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
