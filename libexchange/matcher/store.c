/*
 * The matcher's store: SQLCipher database, key handling, schema migrations, ingest of
 * sealed extracts, loading for linkage, saving runs, and the operator's views.
 * docs/matcher.md describes the tables and the rules implemented here.
 */
#define SQLITE_HAS_CODEC 1
#include "exchange/store.h"
#include "exchange/consent.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/extract.h"
#include "exchange/fileio.h"
#include "exchange/link.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include "store_internal.h"
#include "exchange/netauth.h"
#include <jansson.h>
#include <sodium.h>
#include <sqlcipher/sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEYFILE_PREFIX "xdbk1:"
#define KEYFILE_MAX 512

/* ---- keys --------------------------------------------------------------------- */

struct xchg_store_key {
    int passphrase; /* 0: raw key in key[]; 1: pass[] awaiting the database's salt */
    uint8_t key[XCHG_STORE_KEY_BYTES];
    char *pass; /* guarded */
    size_t passlen;
    xchg_kdf_limits limits;
};

static xchg_store_key *key_alloc(void)
{
    xchg_store_key *k = xchg_secure_alloc(sizeof *k);
    if (k)
        memset(k, 0, sizeof *k);
    return k;
}

void xchg_store_key_free(xchg_store_key *k)
{
    if (!k)
        return;
    xchg_secure_free(k->pass);
    xchg_secure_free(k);
}

xchg_err xchg_store_key_generate(xchg_store_key **out)
{
    if (!out)
        return XCHG_ERR_ARG;
    xchg_store_key *k = key_alloc();
    if (!k)
        return XCHG_ERR_NOMEM;
    xchg_random(k->key, sizeof k->key);
    *out = k;
    return XCHG_OK;
}

xchg_err xchg_store_key_from_passphrase(const char *pass, size_t len,
                                        const xchg_kdf_limits *limits, xchg_store_key **out)
{
    if (!pass || len == 0 || !out)
        return XCHG_ERR_ARG;
    xchg_store_key *k = key_alloc();
    if (!k)
        return XCHG_ERR_NOMEM;
    k->passphrase = 1;
    k->pass = xchg_secure_alloc(len);
    if (!k->pass) {
        xchg_store_key_free(k);
        return XCHG_ERR_NOMEM;
    }
    memcpy(k->pass, pass, len);
    k->passlen = len;
    k->limits = limits ? *limits : xchg_kdf_default();
    *out = k;
    return XCHG_OK;
}

xchg_err xchg_store_key_save(const xchg_store_key *k, const char *path, int force, xchg_diag *d)
{
    if (!k || !path || k->passphrase)
        return XCHG_ERR_ARG;
    /* "xdbk1:" + base64(32) + "\n" */
    return xchg__armour_write(path, NULL, KEYFILE_PREFIX, k->key, XCHG_STORE_KEY_BYTES, force, d);
}

xchg_err xchg_store_key_load(const char *path, xchg_store_key **out, xchg_diag *d)
{
    char *text = NULL;
    size_t len = 0, klen = 0;
    xchg_store_key *k = NULL;
    if (!path || !out)
        return XCHG_ERR_ARG;
    xchg_err e = xchg_file_read_secret(path, KEYFILE_MAX, &text, &len, d);
    if (e != XCHG_OK)
        return e;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len < 5 || memcmp(text, "xdbk", 4) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "not a database key file (it should start with \"" KEYFILE_PREFIX "\")");
        e = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    if (len < sizeof KEYFILE_PREFIX - 1 ||
        memcmp(text, KEYFILE_PREFIX, sizeof KEYFILE_PREFIX - 1) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "database key file version is not supported");
        e = XCHG_ERR_VERSION;
        goto cleanup;
    }
    if (!(k = key_alloc())) {
        e = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    const char *b64 = text + sizeof KEYFILE_PREFIX - 1;
    size_t b64len = len - (sizeof KEYFILE_PREFIX - 1);
    if (xchg_base64_decode(k->key, sizeof k->key, &klen, b64, b64len) != XCHG_OK ||
        klen != XCHG_STORE_KEY_BYTES) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "database key file does not hold a 256-bit base64 key");
        e = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    *out = k;
    k = NULL;
    e = XCHG_OK;
cleanup:
    xchg_store_key_free(k);
    xchg_secure_free(text);
    return e;
}

/*
 * Key the connection with SQLCipher's raw-key-with-salt form "x'<64 hex key><32 hex
 * salt>'" through sqlite3_key_v2 (the C form of PRAGMA key): the key text is built in
 * guarded memory and wiped, and never passes through the SQL parser, whose copies we
 * could not wipe. A passphrase key is first stretched with Argon2id over the salt.
 */
static xchg_err apply_key(sqlite3 *db, const xchg_store_key *k,
                          const uint8_t salt[XCHG_STORE_SALT_BYTES])
{
    enum { HEXLEN = 2 + 2 * (XCHG_STORE_KEY_BYTES + XCHG_STORE_SALT_BYTES) + 1 };
    uint8_t *raw = xchg_secure_alloc(XCHG_STORE_KEY_BYTES);
    char *hex = xchg_secure_alloc(HEXLEN + 1);
    char *hexsalt = xchg_secure_alloc(2 * XCHG_STORE_KEY_BYTES + 1);
    xchg_err e = XCHG_ERR_NOMEM;
    if (!raw || !hex || !hexsalt)
        goto cleanup;
    if (k->passphrase) {
        if ((e = xchg__kdf(raw, XCHG_STORE_KEY_BYTES, k->pass, k->passlen, salt,
                           k->limits.opslimit, k->limits.memlimit)) != XCHG_OK)
            goto cleanup;
    } else {
        memcpy(raw, k->key, XCHG_STORE_KEY_BYTES);
    }
    hex[0] = 'x';
    hex[1] = '\'';
    xchg_hex_encode(hex + 2, raw, XCHG_STORE_KEY_BYTES);
    xchg_hex_encode(hexsalt, salt, XCHG_STORE_SALT_BYTES);
    memcpy(hex + 2 + 2 * XCHG_STORE_KEY_BYTES, hexsalt, 2 * XCHG_STORE_SALT_BYTES);
    hex[HEXLEN - 1] = '\'';
    hex[HEXLEN] = '\0';
    e = sqlite3_key_v2(db, "main", hex, HEXLEN) == SQLITE_OK ? XCHG_OK : XCHG_ERR_CRYPTO;
cleanup:
    xchg_secure_free(raw);
    xchg_secure_free(hex);
    xchg_secure_free(hexsalt);
    return e;
}

/* ---- the store ------------------------------------------------------------------ */

enum {
    ST_FIND_EXTRACT,
    ST_FIND_ACTIVE,
    ST_INS_EXTRACT,
    ST_SET_SUPERSEDED,
    ST_SET_COUNT,
    ST_INS_RECORD,
    ST_INS_TOKEN,
    ST_INS_IND,
    ST_INS_MEASURE,
    ST_SET_META,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_FIND_EXTRACT] = "SELECT id FROM extracts WHERE extract_id = ?1",
    /* the newest full snapshot of the agency that is newer than (?2 created, ?3 id):
       it supersedes the extract being ingested. "Newer" is (created, extract id), so two
       versions sealed in the same second still order the same way whatever the order
       they arrive in. */
    [ST_FIND_ACTIVE] = "SELECT id FROM extracts WHERE agency = ?1 AND incremental = 0 AND "
                       "purged_at IS NULL AND (created > ?2 OR (created = ?2 AND "
                       "extract_id > ?3)) ORDER BY created DESC, extract_id DESC LIMIT 1",
    [ST_INS_EXTRACT] = "INSERT INTO extracts(extract_id, agency, agreement_hash, epoch, "
                       "fingerprint, period_start, period_end, created, ingested_at, n_records, "
                       "header, incremental, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, "
                       "?10, ?11, ?12)",
    [ST_SET_SUPERSEDED] = "UPDATE extracts SET superseded_by = ?2 WHERE id = ?1",
    [ST_SET_COUNT] = "UPDATE extracts SET n_records = ?2 WHERE id = ?1",
    [ST_INS_RECORD] = "INSERT INTO records(extract, ref, consent, consent_date, basis, clk, "
                      "payload, age, area) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_INS_TOKEN] = "INSERT INTO tokens(record, kind, seq, idx, value) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INS_IND] = "INSERT INTO indicators(record, seq, problem, start, end) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INS_MEASURE] = "INSERT INTO measure_events(record, seq, measure, start, end, value, of) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_SET_META] = "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
};

struct xchg_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char *path;
    char agreement_id[65];
    char agreement_hash[65];
    uint32_t epoch;
    char fingerprint[33];
    uint8_t *pseudonym_key; /* guarded */
};

static xchg_err sqlfail(sqlite3 *db, xchg_diag *d, const char *path, const char *what)
{
    xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "database: %s: %s", what,
                  db ? sqlite3_errmsg(db) : "cannot open");
    return XCHG_ERR_IO;
}

xchg_err xchg__store_fail(xchg_store *s, xchg_diag *d, const char *what)
{
    return sqlfail(s->db, d, s->path, what);
}

void xchg__store_text(char *out, size_t n, sqlite3_stmt *q, int col)
{
    const char *t = (const char *)sqlite3_column_text(q, col);
    snprintf(out, n, "%s", t ? t : "");
}

static xchg_err exec(xchg_store *s, const char *sql, xchg_diag *d)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, sql);
    return XCHG_OK;
}

static sqlite3_stmt *stmt(xchg_store *s, int which)
{
    if (!s->st[which] &&
        sqlite3_prepare_v2(s->db, stmt_sql[which], -1, &s->st[which], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_reset(s->st[which]);
    sqlite3_clear_bindings(s->st[which]);
    return s->st[which];
}

void xchg_store_free(xchg_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    xchg_secure_free(s->pseudonym_key);
    free(s->path);
    free(s);
}

const uint8_t *xchg_store_pseudonym_key(const xchg_store *s)
{
    return s ? s->pseudonym_key : NULL;
}

/*
 * Schema migrations: migrations[i] takes schema version i to i+1. Applied in order, all
 * pending ones in one transaction with the new version number, so a store is never
 * half-migrated. Append only; never edit one that has shipped.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE agreements(id INTEGER PRIMARY KEY, agreement_id TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE, accepted_at INTEGER NOT NULL);"
    "CREATE TABLE extracts(id INTEGER PRIMARY KEY, extract_id BLOB NOT NULL UNIQUE,"
    "  agency TEXT NOT NULL, agreement_hash TEXT NOT NULL, epoch INTEGER NOT NULL,"
    "  fingerprint TEXT NOT NULL, period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, ingested_at INTEGER NOT NULL, n_records INTEGER NOT NULL,"
    "  superseded_by INTEGER REFERENCES extracts(id), header TEXT NOT NULL);"
    "CREATE INDEX extracts_agency ON extracts(agency, period_start, period_end);"
    "CREATE TABLE records(id INTEGER PRIMARY KEY,"
    "  extract INTEGER NOT NULL REFERENCES extracts(id), ref TEXT NOT NULL,"
    "  consent INTEGER NOT NULL, consent_date INTEGER, basis TEXT, clk BLOB, payload BLOB);"
    "CREATE INDEX records_extract ON records(extract);"
    /* kind 0 match, 1 blocking, 2 household; seq keeps the record's order */
    "CREATE TABLE tokens(record INTEGER NOT NULL REFERENCES records(id),"
    "  kind INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  value BLOB NOT NULL, PRIMARY KEY(record, kind, seq)) WITHOUT ROWID;"
    "CREATE TABLE indicators(record INTEGER NOT NULL REFERENCES records(id),"
    "  seq INTEGER NOT NULL, problem INTEGER NOT NULL, start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL, PRIMARY KEY(record, seq)) WITHOUT ROWID;"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, started INTEGER NOT NULL,"
    "  finished INTEGER NOT NULL, run_date INTEGER NOT NULL, agreement_hash TEXT NOT NULL,"
    "  threads INTEGER NOT NULL, params TEXT, n_records INTEGER NOT NULL,"
    "  n_persons INTEGER NOT NULL, n_households INTEGER NOT NULL,"
    "  n_eligible INTEGER NOT NULL, n_review INTEGER NOT NULL, n_conflicts INTEGER NOT NULL,"
    "  exact_unions INTEGER, fuzzy_links INTEGER, candidate_pairs INTEGER, comparisons INTEGER,"
    "  seconds_exact REAL, seconds_fuzzy REAL, seconds_households REAL);"
    "CREATE TABLE persons(run INTEGER NOT NULL REFERENCES runs(id), person INTEGER NOT NULL,"
    "  pseudonym TEXT NOT NULL, PRIMARY KEY(run, person)) WITHOUT ROWID;"
    "CREATE TABLE run_records(run INTEGER NOT NULL REFERENCES runs(id),"
    "  record INTEGER NOT NULL REFERENCES records(id), person INTEGER NOT NULL,"
    "  household INTEGER NOT NULL, PRIMARY KEY(run, record)) WITHOUT ROWID;"
    "CREATE INDEX run_records_household ON run_records(run, household, person);"
    "CREATE TABLE families(run INTEGER NOT NULL REFERENCES runs(id),"
    "  household INTEGER NOT NULL, pseudonym TEXT NOT NULL, eligible INTEGER NOT NULL,"
    "  nrule INTEGER NOT NULL, nproblems INTEGER NOT NULL, problems TEXT NOT NULL,"
    "  how INTEGER NOT NULL, npersons INTEGER NOT NULL, nrecords INTEGER NOT NULL,"
    "  nconflicts INTEGER NOT NULL, nreview INTEGER NOT NULL,"
    "  PRIMARY KEY(run, household)) WITHOUT ROWID;"
    "CREATE INDEX families_pseudonym ON families(run, pseudonym);"
    "CREATE TABLE review_pairs(run INTEGER NOT NULL REFERENCES runs(id),"
    "  a INTEGER NOT NULL REFERENCES records(id), b INTEGER NOT NULL REFERENCES records(id),"
    "  score REAL NOT NULL);"
    "CREATE INDEX review_pairs_run ON review_pairs(run);"
    "CREATE TABLE conflicts(run INTEGER NOT NULL REFERENCES runs(id),"
    "  a INTEGER NOT NULL REFERENCES records(id), b INTEGER NOT NULL REFERENCES records(id),"
    "  key INTEGER NOT NULL);"
    "CREATE INDEX conflicts_run ON conflicts(run);",
    /* 1 -> 2: release decisions and referral packets */
    "CREATE TABLE decisions(id INTEGER PRIMARY KEY, family TEXT NOT NULL,"
    "  run INTEGER NOT NULL REFERENCES runs(id), operator TEXT NOT NULL, party TEXT NOT NULL,"
    "  decision TEXT NOT NULL CHECK(decision IN ('approve','reject')), reason TEXT NOT NULL,"
    "  time INTEGER NOT NULL, signature BLOB NOT NULL);"
    "CREATE INDEX decisions_family ON decisions(family, id);"
    "CREATE TABLE releases(id INTEGER PRIMARY KEY, packet_id TEXT NOT NULL UNIQUE,"
    "  family TEXT NOT NULL, run INTEGER NOT NULL REFERENCES runs(id),"
    "  recipient TEXT NOT NULL, time INTEGER NOT NULL, released INTEGER NOT NULL,"
    "  withheld INTEGER NOT NULL);"
    "CREATE INDEX releases_family ON releases(family);"
    "ALTER TABLE extracts ADD COLUMN purged_at INTEGER;",
    /* 2 -> 3: record-level supersession (the newest version of an agency's record wins,
       whatever the periods), full snapshots vs incremental extracts, the recipients'
       sealed data keys as rows, decisions signed per recipient (statement v2) */
    "ALTER TABLE extracts ADD COLUMN incremental INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE records ADD COLUMN replaced_by INTEGER;"
    "CREATE INDEX records_ref ON records(ref);"
    "CREATE TABLE extract_keys(extract INTEGER NOT NULL REFERENCES extracts(id),"
    "  key_id TEXT NOT NULL, sealed_key TEXT NOT NULL, PRIMARY KEY(extract, key_id))"
    "  WITHOUT ROWID;"
    "ALTER TABLE decisions ADD COLUMN recipient TEXT;"
    "ALTER TABLE decisions ADD COLUMN decision_id TEXT;"
    "ALTER TABLE decisions ADD COLUMN members TEXT;"
    "CREATE INDEX decisions_id ON decisions(decision_id);"
    "ALTER TABLE runs ADD COLUMN purged_at INTEGER;",
    /* 3 -> 4: operators' clerical-review decisions, by the agencies' record references so
       they outlive re-ingests and apply to every later run */
    "CREATE TABLE review_decisions(id INTEGER PRIMARY KEY, decision_id TEXT NOT NULL UNIQUE,"
    "  agency_a TEXT NOT NULL, ref_a TEXT NOT NULL, agency_b TEXT NOT NULL,"
    "  ref_b TEXT NOT NULL, same INTEGER NOT NULL, operator TEXT NOT NULL,"
    "  party TEXT NOT NULL, reason TEXT NOT NULL, time INTEGER NOT NULL,"
    "  signature BLOB NOT NULL);"
    "CREATE INDEX review_decisions_pair ON review_decisions(agency_a, ref_a, agency_b, ref_b);",
    /* 4 -> 5: a family's problems as rows (they were JSON text in families.problems) */
    "CREATE TABLE family_problems(run INTEGER NOT NULL REFERENCES runs(id),"
    "  household INTEGER NOT NULL, problem TEXT NOT NULL, first INTEGER NOT NULL,"
    "  last INTEGER NOT NULL, rule INTEGER NOT NULL, PRIMARY KEY(run, household, problem))"
    "  WITHOUT ROWID;"
    "CREATE TABLE family_problem_agencies(run INTEGER NOT NULL REFERENCES runs(id),"
    "  household INTEGER NOT NULL, problem TEXT NOT NULL, agency TEXT NOT NULL,"
    "  PRIMARY KEY(run, household, problem, agency)) WITHOUT ROWID;",
    /* 5 -> 6: programme rules (docs/programme.md): a record's person facts (age on the
       period end, coarse area), its measure events, which criteria identified a family's
       problem, and a family's state across runs (first identification, baseline,
       outcomes per run) */
    "ALTER TABLE records ADD COLUMN age INTEGER;"
    "ALTER TABLE records ADD COLUMN area TEXT;"
    "CREATE TABLE measure_events(record INTEGER NOT NULL REFERENCES records(id),"
    "  seq INTEGER NOT NULL, measure TEXT NOT NULL, start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL, value REAL NOT NULL, of REAL NOT NULL,"
    "  PRIMARY KEY(record, seq)) WITHOUT ROWID;"
    "ALTER TABLE family_problems ADD COLUMN criteria TEXT;"
    "ALTER TABLE extracts ADD COLUMN sha256 TEXT;"
    /* change: 0 new in last_run, 1 its members changed, 2 unchanged since the run before */
    "CREATE TABLE family_state(pseudonym TEXT PRIMARY KEY, first_run INTEGER NOT NULL,"
    "  identified INTEGER NOT NULL, last_run INTEGER NOT NULL, members TEXT NOT NULL,"
    "  change INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    /* the member persons: a family whose pseudonym changes inherits by them */
    "CREATE TABLE family_state_persons(pseudonym TEXT NOT NULL, person TEXT NOT NULL,"
    "  PRIMARY KEY(pseudonym, person)) WITHOUT ROWID;"
    "CREATE TABLE family_baseline(pseudonym TEXT NOT NULL, problem TEXT NOT NULL,"
    "  criteria TEXT NOT NULL, PRIMARY KEY(pseudonym, problem)) WITHOUT ROWID;"
    "CREATE TABLE family_outcomes(run INTEGER NOT NULL REFERENCES runs(id),"
    "  pseudonym TEXT NOT NULL, problem TEXT NOT NULL, status INTEGER NOT NULL,"
    "  baseline REAL, latest REAL, since INTEGER, criteria TEXT,"
    "  PRIMARY KEY(run, pseudonym, problem)) WITHOUT ROWID;",
    /* 6 -> 7: operators' release-key contributions (docs/release.md "The release key"):
       a partial decryption of one record's wrapped payload with its proof, by record
       (extract id, reference) so a later run's approval finds it again */
    "CREATE TABLE IF NOT EXISTS contributions(extract_id BLOB NOT NULL, ref TEXT NOT NULL,"
    "  party TEXT NOT NULL, idx INTEGER NOT NULL, deal TEXT NOT NULL, d BLOB NOT NULL,"
    "  proof BLOB NOT NULL, decision TEXT NOT NULL,"
    "  PRIMARY KEY(extract_id, ref, party, deal)) WITHOUT ROWID;",
    /* 7 -> 8: the exact-match tokens (first 16 bytes, key index) of each tracked family's
       member persons, so that a person whose pseudonym changes (a new record brings a
       stronger key) is still recognised and the family keeps its history
       (docs/programme.md "A family's state across runs") */
    "CREATE TABLE family_state_tokens(pseudonym TEXT NOT NULL, person TEXT NOT NULL,"
    "  key INTEGER NOT NULL, h0 INTEGER NOT NULL, h1 INTEGER NOT NULL,"
    "  PRIMARY KEY(pseudonym, key, h0, h1, person)) WITHOUT ROWID;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int schema_version(xchg_store *s)
{
    sqlite3_stmt *q = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 0)
        v = 0;
    sqlite3_finalize(q);
    if (v == 0)
        return 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name='schema_version'", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    return v;
}

static xchg_err set_meta_int(xchg_store *s, const char *name, int64_t v, xchg_diag *d)
{
    sqlite3_stmt *q = stmt(s, ST_SET_META);
    if (!q)
        return sqlfail(s->db, d, s->path, "prepare");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, v);
    if (sqlite3_step(q) != SQLITE_DONE)
        return sqlfail(s->db, d, s->path, "writing meta");
    sqlite3_reset(q);
    return XCHG_OK;
}

static xchg_err set_meta_text(xchg_store *s, const char *name, const char *v, xchg_diag *d)
{
    sqlite3_stmt *q = stmt(s, ST_SET_META);
    if (!q)
        return sqlfail(s->db, d, s->path, "prepare");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, v, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        return sqlfail(s->db, d, s->path, "writing meta");
    sqlite3_reset(q);
    return XCHG_OK;
}

static xchg_err put_extract_keys(xchg_store *s, int64_t ext, const char *header, xchg_diag *d);

/* 2 -> 3 in C: the sealed data keys of extracts stored before the table existed */
static xchg_err fill_extract_keys(xchg_store *s, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT id, header FROM extracts WHERE purged_at IS NULL", -1,
                           &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "migrating extract keys");
    while (e == XCHG_OK && sqlite3_step(q) == SQLITE_ROW)
        e = put_extract_keys(s, sqlite3_column_int64(q, 0),
                             (const char *)sqlite3_column_text(q, 1), d);
    sqlite3_finalize(q);
    return e;
}

static xchg_err put_problem(xchg_store *s, int64_t run, int64_t household, const char *code,
                            int32_t first, int32_t last, int rule, const char *criteria,
                            const char *const *agencies, size_t nagencies, xchg_diag *d);
static int32_t date_value(const char *t);

/* 4 -> 5 in C: the problems of runs stored as JSON text become rows */
static xchg_err problems_to_rows(xchg_store *s, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT run, household, problems FROM families", -1, &q,
                           NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "migrating family problems");
    while (e == XCHG_OK && sqlite3_step(q) == SQLITE_ROW) {
        const char *pj = (const char *)sqlite3_column_text(q, 2);
        json_t *a = pj && *pj ? json_loads(pj, 0, NULL) : NULL;
        size_t i;
        json_t *o;
        json_array_foreach(a, i, o) {
            const char *ag[32];
            size_t na = 0, k;
            json_t *v;
            json_array_foreach(json_object_get(o, "agencies"), k, v) if (na < 32 &&
                                                                         json_string_value(v))
                ag[na++] = json_string_value(v);
            const char *code = json_string_value(json_object_get(o, "code"));
            if (!code)
                continue;
            e = put_problem(s, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), code,
                            date_value(json_string_value(json_object_get(o, "first"))),
                            date_value(json_string_value(json_object_get(o, "last"))),
                            json_is_true(json_object_get(o, "rule")), NULL, ag, na, d);
            if (e != XCHG_OK)
                break;
        }
        json_decref(a);
    }
    sqlite3_finalize(q);
    return e;
}

static xchg_err migrate(xchg_store *s, xchg_diag *d)
{
    int v = schema_version(s);
    if (v < 0)
        return sqlfail(s->db, d, s->path, "reading the schema version");
    if (v > XCHG_STORE_SCHEMA_VERSION) {
        xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0,
                      "store schema version %d is newer than this program's (%d); upgrade xchg",
                      v, XCHG_STORE_SCHEMA_VERSION);
        return XCHG_ERR_VERSION;
    }
    if (v == XCHG_STORE_SCHEMA_VERSION)
        return XCHG_OK;
    xchg_err e = exec(s, "BEGIN IMMEDIATE", d);
    if (e != XCHG_OK)
        return e;
    for (int i = v; i < NMIGRATIONS; i++)
        if ((e = exec(s, migrations[i], d)) != XCHG_OK)
            goto fail;
    if (v >= 1 && v < 3 && (e = fill_extract_keys(s, d)) != XCHG_OK)
        goto fail;
    if (v >= 1 && v < 5 && (e = problems_to_rows(s, d)) != XCHG_OK)
        goto fail;
    if ((e = set_meta_int(s, "schema_version", NMIGRATIONS, d)) != XCHG_OK)
        goto fail;
    if ((e = exec(s, "COMMIT", d)) != XCHG_OK)
        goto fail;
    return XCHG_OK;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

/* Read the store's state from meta: binding, epoch, pseudonym key (made if missing). */
static xchg_err load_meta(xchg_store *s, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT name, value FROM meta", -1, &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "reading meta");
    int have_pk = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(q, 0);
        if (!n)
            continue;
        if (strcmp(n, "agreement_id") == 0)
            snprintf(s->agreement_id, sizeof s->agreement_id, "%s", sqlite3_column_text(q, 1));
        else if (strcmp(n, "agreement_hash") == 0)
            snprintf(s->agreement_hash, sizeof s->agreement_hash, "%s",
                     sqlite3_column_text(q, 1));
        else if (strcmp(n, "epoch") == 0)
            s->epoch = (uint32_t)sqlite3_column_int64(q, 1);
        else if (strcmp(n, "secret_fingerprint") == 0)
            snprintf(s->fingerprint, sizeof s->fingerprint, "%s", sqlite3_column_text(q, 1));
        else if (strcmp(n, "pseudonym_key") == 0 &&
                 sqlite3_column_bytes(q, 1) == XCHG_STORE_PSEUDONYM_KEY_BYTES) {
            memcpy(s->pseudonym_key, sqlite3_column_blob(q, 1), XCHG_STORE_PSEUDONYM_KEY_BYTES);
            have_pk = 1;
        }
    }
    sqlite3_finalize(q);
    if (!have_pk) {
        /* a store migrated from an empty database: make its pseudonym key now */
        xchg_random(s->pseudonym_key, XCHG_STORE_PSEUDONYM_KEY_BYTES);
        if (sqlite3_prepare_v2(s->db,
                               "INSERT OR REPLACE INTO meta(name, value) VALUES "
                               "('pseudonym_key', ?1)",
                               -1, &q, NULL) != SQLITE_OK)
            return sqlfail(s->db, d, s->path, "writing meta");
        sqlite3_bind_blob(q, 1, s->pseudonym_key, XCHG_STORE_PSEUDONYM_KEY_BYTES, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            e = sqlfail(s->db, d, s->path, "writing meta");
        sqlite3_finalize(q);
    }
    return e;
}

/* Record agreement version p as the one the store follows. */
static xchg_err bind_agreement(xchg_store *s, const xchg_policy *p, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    char hash[65];
    xchg_hex_encode(hash, xchg_policy_hash(p), 32);
    sqlite3_stmt *q = NULL;
    xchg_err e = exec(s, "BEGIN IMMEDIATE", d);
    if (e != XCHG_OK)
        return e;
    if ((e = set_meta_text(s, "agreement_id", pd->id, d)) != XCHG_OK ||
        (e = set_meta_text(s, "agreement_hash", hash, d)) != XCHG_OK)
        goto fail;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO agreements(agreement_id, hash, accepted_at) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &q, NULL) != SQLITE_OK) {
        e = sqlfail(s->db, d, s->path, "recording the agreement");
        goto fail;
    }
    sqlite3_bind_text(q, 1, pd->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)time(NULL));
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = sqlfail(s->db, d, s->path, "recording the agreement");
        goto fail;
    }
    sqlite3_finalize(q);
    q = NULL;
    if ((e = exec(s, "COMMIT", d)) != XCHG_OK)
        goto fail;
    snprintf(s->agreement_id, sizeof s->agreement_id, "%s", pd->id);
    memcpy(s->agreement_hash, hash, sizeof hash);
    return XCHG_OK;
fail:
    sqlite3_finalize(q);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

/* Key and prepare a connection: check the key, pragmas, migrations, meta. */
static xchg_err open_db(const char *path, const xchg_store_key *k, int create,
                        const uint8_t salt[XCHG_STORE_SALT_BYTES], xchg_store **out,
                        xchg_diag *d)
{
    xchg_store *s = calloc(1, sizeof *s);
    xchg_err e = XCHG_ERR_NOMEM;
    if (!s || !(s->path = strdup(path)) ||
        !(s->pseudonym_key = xchg_secure_alloc(XCHG_STORE_PSEUDONYM_KEY_BYTES)))
        goto fail;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        e = sqlfail(s->db, d, path, "cannot open");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((e = apply_key(s->db, k, salt)) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot apply the database key");
        goto fail;
    }
    /* Fixed page size (SQLCipher 3 does not record it in the file): 4 KiB pages make
       ingest and scans cheaper than the 1 KiB default. Part of the format. */
    if (sqlite3_exec(s->db, "PRAGMA cipher_page_size = 4096", NULL, NULL, NULL) != SQLITE_OK) {
        e = sqlfail(s->db, d, path, "cipher_page_size");
        goto fail;
    }
    /* Wait for another process's lock from the first read on: one closing its connection
       (the last one checkpoints the WAL under an exclusive lock) made this read fail at
       once with "database is locked" (an operator's console stopping as the CLI starts). */
    sqlite3_busy_timeout(s->db, 10000);
    /* The first read decrypts page 1: a wrong key fails here, before anything else. */
    int rc = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_NOTADB) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "wrong database key (or not an exchange store)");
            e = XCHG_ERR_PASSPHRASE;
        } else {
            e = sqlfail(s->db, d, path, "reading");
        }
        goto fail;
    }
    if ((e = exec(s, "PRAGMA journal_mode=WAL", d)) != XCHG_OK ||
        (e = exec(s, "PRAGMA foreign_keys=ON", d)) != XCHG_OK ||
        (e = exec(s, "PRAGMA synchronous=NORMAL", d)) != XCHG_OK ||
        (e = exec(s, "PRAGMA temp_store=MEMORY", d)) != XCHG_OK ||
        (e = exec(s, "PRAGMA cache_size=-65536", d)) != XCHG_OK)
        goto fail;
    if ((e = migrate(s, d)) != XCHG_OK || (e = load_meta(s, d)) != XCHG_OK)
        goto fail;
    *out = s;
    return XCHG_OK;
fail:
    xchg_store_free(s);
    return e;
}

static void remove_db(const char *path)
{
    char buf[4096];
    unlink(path);
    snprintf(buf, sizeof buf, "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path);
    unlink(buf);
}

xchg_err xchg_store_create(const char *path, const xchg_store_key *k, const xchg_agreement *agr,
                           xchg_store **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!path || !k || !p || !out)
        return XCHG_ERR_ARG;
    /* O_EXCL claims the name, so two inits cannot both succeed */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "already exists; refusing to replace it");
            return XCHG_ERR_EXISTS;
        }
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot create: %s", strerror(errno));
        return XCHG_ERR_IO;
    }
    close(fd);
    uint8_t salt[XCHG_STORE_SALT_BYTES];
    xchg_random(salt, sizeof salt);
    xchg_store *s = NULL;
    xchg_err e = open_db(path, k, 1, salt, &s, d);
    if (e == XCHG_OK)
        e = bind_agreement(s, p, d);
    if (e == XCHG_OK)
        e = set_meta_int(s, "created", (int64_t)time(NULL), d);
    /* write page 1 (the salt) to the main file now, so an open can read it */
    if (e == XCHG_OK)
        e = exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", d);
    if (e != XCHG_OK) {
        xchg_store_free(s);
        remove_db(path);
        return e;
    }
    *out = s;
    return XCHG_OK;
}

xchg_err xchg_store_open(const char *path, const xchg_store_key *k, const xchg_agreement *agr,
                         unsigned flags, xchg_store **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!path || !k || !out)
        return XCHG_ERR_ARG;
    uint8_t salt[XCHG_STORE_SALT_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open the store: %s",
                      strerror(errno));
        return errno == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
    }
    ssize_t n = read(fd, salt, sizeof salt);
    close(fd);
    if (n != (ssize_t)sizeof salt) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "not an exchange store (too short)");
        return XCHG_ERR_FORMAT;
    }
    xchg_store *s = NULL;
    xchg_err e = open_db(path, k, 0, salt, &s, d);
    if (e != XCHG_OK)
        return e;
    if (p) {
        const xchg_policy_data *pd = xchg_policy_get(p);
        char hash[65];
        xchg_hex_encode(hash, xchg_policy_hash(p), 32);
        if (!s->agreement_id[0]) {
            e = bind_agreement(s, p, d);
        } else if (strcmp(s->agreement_id, pd->id) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "this store belongs to agreement '%s', not '%s'", s->agreement_id,
                          pd->id);
            e = XCHG_ERR_DENIED;
        } else if (strcmp(s->agreement_hash, hash) != 0) {
            if (flags & XCHG_STORE_ACCEPT_NEW_VERSION) {
                e = bind_agreement(s, p, d);
            } else {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                              "agreement '%s' differs from the version this store follows "
                              "(sha256 %.16s..., given %.16s...); accept the new version "
                              "explicitly to continue",
                              pd->id, s->agreement_hash, hash);
                e = XCHG_ERR_DENIED;
            }
        }
    }
    if (e != XCHG_OK) {
        xchg_store_free(s);
        return e;
    }
    *out = s;
    return XCHG_OK;
}

static int64_t count_of(xchg_store *s, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

xchg_err xchg_store_get_info(xchg_store *s, xchg_store_info *o, xchg_diag *d)
{
    if (!s || !o)
        return XCHG_ERR_ARG;
    memset(o, 0, sizeof *o);
    o->schema_version = schema_version(s);
    memcpy(o->agreement_id, s->agreement_id, sizeof o->agreement_id);
    memcpy(o->agreement_hash, s->agreement_hash, sizeof o->agreement_hash);
    o->epoch = s->epoch;
    memcpy(o->secret_fingerprint, s->fingerprint, sizeof o->secret_fingerprint);
    static const char *const q[] = {
        "SELECT count(*) FROM agreements",
        "SELECT count(*) FROM extracts",
        "SELECT count(*) FROM extracts WHERE superseded_by IS NULL",
        "SELECT count(*) FROM records",
        ("SELECT count(*) FROM records r JOIN extracts e ON r.extract = e.id "
         "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL"),
        "SELECT count(*) FROM tokens",
        "SELECT count(*) FROM indicators",
        "SELECT count(*) FROM runs",
        "SELECT coalesce(max(id), 0) FROM runs",
    };
    int64_t v[9];
    for (int i = 0; i < 9; i++)
        if ((v[i] = count_of(s, q[i])) < 0)
            return sqlfail(s->db, d, s->path, "counting");
    o->agreement_versions = (unsigned)v[0];
    o->extracts = (uint64_t)v[1];
    o->extracts_active = (uint64_t)v[2];
    o->records = (uint64_t)v[3];
    o->records_active = (uint64_t)v[4];
    o->tokens = (uint64_t)v[5];
    o->indicators = (uint64_t)v[6];
    o->runs = (uint64_t)v[7];
    o->last_run = v[8];
    return XCHG_OK;
}

/* ---- ingest --------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static xchg_err put_tokens(xchg_store *s, sqlite3_stmt *q, int64_t rec, int kind,
                           const xchg_token *t, size_t n, xchg_diag *d)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(q, 1, rec);
        sqlite3_bind_int(q, 2, kind);
        sqlite3_bind_int(q, 3, (int)i);
        sqlite3_bind_int(q, 4, t[i].index);
        sqlite3_bind_blob(q, 5, t[i].value, XCHG_TOKEN_BYTES, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            return sqlfail(s->db, d, s->path, "storing a token");
        sqlite3_reset(q);
    }
    return XCHG_OK;
}

static xchg_err put_record(xchg_store *s, const xchg_policy_data *pd, int64_t ext,
                           const xchg_record *r, uint64_t *ntok, xchg_diag *d)
{
    sqlite3_stmt *q = s->st[ST_INS_RECORD], *t = s->st[ST_INS_TOKEN], *in = s->st[ST_INS_IND],
                 *ms = s->st[ST_INS_MEASURE];
    sqlite3_bind_int64(q, 1, ext);
    sqlite3_bind_text(q, 2, r->ref, (int)r->ref_len, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, r->consent);
    if (r->consent_date == XCHG_DATE_NONE)
        sqlite3_bind_null(q, 4);
    else
        sqlite3_bind_int(q, 4, r->consent_date);
    if (r->basis_len)
        sqlite3_bind_text(q, 5, r->basis, (int)r->basis_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 5);
    if (r->clk && r->clk_len)
        sqlite3_bind_blob(q, 6, r->clk, (int)r->clk_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 6);
    if (r->payload && r->payload_len)
        sqlite3_bind_blob(q, 7, r->payload, (int)r->payload_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 7);
    if (r->age != XCHG_AGE_UNKNOWN)
        sqlite3_bind_int(q, 8, r->age);
    else
        sqlite3_bind_null(q, 8);
    if (r->area_len)
        sqlite3_bind_text(q, 9, r->area, (int)r->area_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 9);
    if (sqlite3_step(q) != SQLITE_DONE)
        return sqlfail(s->db, d, s->path, "storing a record");
    sqlite3_reset(q);
    int64_t rec = sqlite3_last_insert_rowid(s->db);
    xchg_err e;
    if ((e = put_tokens(s, t, rec, 0, r->match, r->nmatch, d)) != XCHG_OK ||
        (e = put_tokens(s, t, rec, 1, r->block, r->nblock, d)) != XCHG_OK ||
        (e = put_tokens(s, t, rec, 2, r->house, r->nhouse, d)) != XCHG_OK)
        return e;
    *ntok += r->nmatch + r->nblock + r->nhouse;
    for (size_t i = 0; i < r->nind; i++) {
        const xchg_indicator_ev *ev = &r->ind[i];
        sqlite3_stmt *st = ev->is_measure ? ms : in;
        sqlite3_bind_int64(st, 1, rec);
        sqlite3_bind_int(st, 2, (int)i);
        if (ev->is_measure)
            sqlite3_bind_text(st, 3, pd->measures[ev->measure].name, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int(st, 3, ev->problem);
        sqlite3_bind_int(st, 4, ev->start);
        sqlite3_bind_int(st, 5, ev->end);
        if (ev->is_measure) {
            sqlite3_bind_double(st, 6, ev->value);
            sqlite3_bind_double(st, 7, ev->of);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            return sqlfail(s->db, d, s->path, "storing an indicator");
        sqlite3_reset(st);
    }
    return XCHG_OK;
}

/* The recipients' sealed copies of the extract's data key, from its header, as rows: a
 * release reads them by (extract, key id) instead of parsing the header per record. */
static xchg_err put_extract_keys(xchg_store *s, int64_t ext, const char *header, xchg_diag *d)
{
    json_t *h = header ? json_loads(header, 0, NULL) : NULL;
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    size_t i;
    json_t *k;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO extract_keys(extract, key_id, sealed_key) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &q, NULL) != SQLITE_OK) {
        json_decref(h);
        return sqlfail(s->db, d, s->path, "storing the extract's keys");
    }
    json_array_foreach(json_object_get(json_object_get(h, "payload"), "keys"), i, k) {
        const char *kid = json_string_value(json_object_get(k, "key_id"));
        const char *sk = json_string_value(json_object_get(k, "sealed_key"));
        if (!kid || !sk)
            continue;
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, ext);
        sqlite3_bind_text(q, 2, kid, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, sk, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = sqlfail(s->db, d, s->path, "storing the extract's keys");
            break;
        }
    }
    sqlite3_finalize(q);
    json_decref(h);
    return e;
}

/* Run one statement binding (?1 extract row, ?2 agency, ?3 created, ?4 extract id). */
static xchg_err exec_version(xchg_store *s, const char *sql, int64_t ext, const char *agency,
                             const xchg_extract_info *in, int64_t *changes, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "superseding older versions");
    sqlite3_bind_int64(q, 1, ext);
    sqlite3_bind_text(q, 2, agency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, in->created);
    sqlite3_bind_blob(q, 4, in->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sqlfail(s->db, d, s->path, "superseding older versions");
    if (changes)
        *changes = sqlite3_changes(s->db);
    return XCHG_OK;
}

#define OLDER_THAN_NEW "(created < ?3 OR (created = ?3 AND extract_id < ?4))"

/* A full snapshot is everything the agency holds under the agreement as it was sealed:
 * every older extract of the agency (full or incremental, whatever its period) is
 * superseded by it. st->supersedes names the newest of them. */
static xchg_err supersede_older(xchg_store *s, int64_t ext, const char *agency,
                                const xchg_extract_info *in, xchg_ingest_stats *st,
                                xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT extract_id FROM extracts WHERE agency = ?2 AND id != ?1 AND "
                           "superseded_by IS NULL AND purged_at IS NULL AND " OLDER_THAN_NEW
                           " ORDER BY created DESC, extract_id DESC LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "superseding older versions");
    sqlite3_bind_int64(q, 1, ext);
    sqlite3_bind_text(q, 2, agency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, in->created);
    sqlite3_bind_blob(q, 4, in->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == XCHG_EXTRACT_ID_BYTES)
        xchg_hex_encode(st->supersedes, sqlite3_column_blob(q, 0), XCHG_EXTRACT_ID_BYTES);
    sqlite3_finalize(q);
    return exec_version(s,
                        "UPDATE extracts SET superseded_by = ?1 WHERE agency = ?2 AND id != ?1 "
                        "AND superseded_by IS NULL AND " OLDER_THAN_NEW,
                        ext, agency, in, NULL, d);
}

/* Record-level versions: for each (agency, record reference) only the newest version in
 * a live extract is active, so the latest word about a record (a consent withdrawal sent
 * in a later incremental extract, say) governs whatever the periods. */
static xchg_err replace_versions(xchg_store *s, int64_t ext, const char *agency,
                                 const xchg_extract_info *in, xchg_diag *d)
{
    /* older versions in live extracts give way to this extract's records */
    xchg_err e = exec_version(
        s,
        "UPDATE records SET replaced_by = (SELECT n.id FROM records n WHERE n.extract = ?1 AND "
        "n.ref = records.ref) WHERE replaced_by IS NULL AND extract IN (SELECT id FROM "
        "extracts WHERE agency = ?2 AND id != ?1 AND superseded_by IS NULL AND " OLDER_THAN_NEW
        ") AND ref IN (SELECT ref FROM records WHERE extract = ?1)",
        ext, agency, in, NULL, d);
    if (e != XCHG_OK)
        return e;
    /* and this extract's records give way to newer versions already stored */
    return exec_version(
        s,
        "UPDATE records SET replaced_by = (SELECT o.id FROM records o JOIN extracts x ON "
        "x.id = o.extract WHERE x.agency = ?2 AND x.id != ?1 AND x.superseded_by IS NULL AND "
        "(x.created > ?3 OR (x.created = ?3 AND x.extract_id > ?4)) AND o.ref = records.ref "
        "ORDER BY x.created DESC, x.extract_id DESC LIMIT 1) WHERE extract = ?1 AND ref IN "
        "(SELECT o.ref FROM records o JOIN extracts x ON x.id = o.extract WHERE x.agency = ?2 "
        "AND x.id != ?1 AND x.superseded_by IS NULL AND (x.created > ?3 OR (x.created = ?3 AND "
        "x.extract_id > ?4)))",
        ext, agency, in, NULL, d);
}

xchg_err xchg_store_ingest(xchg_store *s, const xchg_agreement *agr, const xchg_seckey *matcher,
                           const char *path, xchg_ingest_stats *st, xchg_diag *d)
{
    return xchg__store_ingest(s, agr, matcher, path, st, NULL, NULL, d);
}

xchg_err xchg__store_ingest(xchg_store *s, const xchg_agreement *agr, const xchg_seckey *matcher,
                            const char *path, xchg_ingest_stats *st, xchg__ingest_hook hook,
                            void *hook_ctx, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    xchg_ingest_stats local;
    xchg_extract_file *f = NULL;
    int in_tx = 0, fk_off = 0;
    xchg_err e;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (!s || !p || !matcher || !path)
        return XCHG_ERR_ARG;
    double t0 = now_seconds();
    const xchg_policy_data *pd = xchg_policy_get(p);
    char hash[65];
    xchg_hex_encode(hash, xchg_policy_hash(p), 32);
    if (strcmp(pd->id, s->agreement_id) != 0 || strcmp(hash, s->agreement_hash) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the store follows agreement '%s' (sha256 %.16s...), not the one given",
                      s->agreement_id, s->agreement_hash);
        return XCHG_ERR_DENIED;
    }
    if ((e = xchg_extract_open(agr, matcher, path, s->epoch, &f, d)) != XCHG_OK)
        return e;
    const xchg_extract_info *in = xchg_extract_file_info(f);
    xchg_hex_encode(st->extract_id, in->extract_id, XCHG_EXTRACT_ID_BYTES);
    snprintf(st->agency, sizeof st->agency, "%s", pd->parties[in->agency].id);
    st->epoch = in->epoch;
    if (s->epoch && strcmp(s->fingerprint, in->secret_fingerprint) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract was sealed under linkage secret %s (epoch %u), but this store "
                      "holds extracts under secret %s of that epoch; tokens would not match",
                      in->secret_fingerprint, in->epoch, s->fingerprint);
        e = XCHG_ERR_DENIED;
        goto cleanup;
    }
    for (int i = ST_FIND_EXTRACT; i <= ST_INS_MEASURE; i++)
        if (!stmt(s, i)) {
            e = sqlfail(s->db, d, s->path, "prepare");
            goto cleanup;
        }
    /* Foreign-key checks cost a lookup per token row; ingest inserts each parent just
       before its children in the same transaction, so they are off for its duration
       (the pragma is a no-op inside a transaction, hence here). */
    sqlite3_exec(s->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
    fk_off = 1;
    if ((e = exec(s, "BEGIN IMMEDIATE", d)) != XCHG_OK)
        goto cleanup;
    in_tx = 1;
    /* the same extract again: a no-op (checked inside the transaction, so two ingests of
       one file cannot both store it) */
    sqlite3_stmt *q = stmt(s, ST_FIND_EXTRACT);
    sqlite3_bind_blob(q, 1, in->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW) {
        /* Still read and verify the whole file: an altered copy of a stored extract is
           reported as rejected, not as "already ingested". */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        in_tx = 0;
        for (;;) {
            xchg_record r;
            int end = 0;
            if ((e = xchg_extract_next(f, &r, &end, d)) != XCHG_OK)
                goto cleanup;
            if (end)
                break;
        }
        uint64_t n = 0;
        if ((e = xchg_extract_finish(f, &n, d)) == XCHG_OK)
            st->already = 1;
        goto cleanup;
    }
    /* a newer full snapshot of the agency already stored supersedes this one */
    int64_t newer_full = 0;
    q = stmt(s, ST_FIND_ACTIVE);
    sqlite3_bind_text(q, 1, st->agency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, in->created);
    sqlite3_bind_blob(q, 3, in->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        newer_full = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    q = stmt(s, ST_INS_EXTRACT);
    sqlite3_bind_blob(q, 1, in->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, st->agency, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, in->epoch);
    sqlite3_bind_text(q, 5, in->secret_fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 6, in->period_start);
    sqlite3_bind_int(q, 7, in->period_end);
    sqlite3_bind_int64(q, 8, in->created);
    sqlite3_bind_int64(q, 9, (int64_t)time(NULL));
    sqlite3_bind_text(q, 10, in->header_json ? in->header_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 11, in->incremental ? 1 : 0);
    /* the sealed file's SHA-256: evidence packs cite the extracts they rely on by it */
    uint8_t fh[XCHG_SHA256_BYTES];
    char fhex[2 * XCHG_SHA256_BYTES + 1];
    if (strcmp(path, "-") != 0 && xchg_sha256_file(path, fh, NULL) == XCHG_OK) {
        xchg_hex_encode(fhex, fh, sizeof fh);
        sqlite3_bind_text(q, 12, fhex, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(q, 12);
    }
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = sqlfail(s->db, d, s->path, "storing the extract");
        goto cleanup;
    }
    sqlite3_reset(q);
    int64_t ext = sqlite3_last_insert_rowid(s->db);
    if ((e = put_extract_keys(s, ext, in->header_json, d)) != XCHG_OK)
        goto cleanup;
    if (newer_full) {
        q = stmt(s, ST_SET_SUPERSEDED);
        sqlite3_bind_int64(q, 1, ext);
        sqlite3_bind_int64(q, 2, newer_full);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = sqlfail(s->db, d, s->path, "marking a superseded extract");
            goto cleanup;
        }
        sqlite3_reset(q);
        st->superseded = 1;
    } else if (!in->incremental &&
               (e = supersede_older(s, ext, st->agency, in, st, d)) != XCHG_OK) {
        goto cleanup;
    }
    for (;;) {
        xchg_record r;
        int end = 0;
        if ((e = xchg_extract_next(f, &r, &end, d)) != XCHG_OK)
            goto cleanup;
        if (end)
            break;
        if ((e = put_record(s, xchg_policy_get(p), ext, &r, &st->tokens, d)) != XCHG_OK)
            goto cleanup;
        XCHG_FAULT_POINT();
        st->records++;
        st->indicators += r.nind;
    }
    uint64_t count = 0;
    /* nothing is committed unless the whole file verifies */
    if ((e = xchg_extract_finish(f, &count, d)) != XCHG_OK)
        goto cleanup;
    if (!newer_full && (e = replace_versions(s, ext, st->agency, in, d)) != XCHG_OK)
        goto cleanup;
    q = stmt(s, ST_SET_COUNT);
    sqlite3_bind_int64(q, 1, ext);
    sqlite3_bind_int64(q, 2, (int64_t)count);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = sqlfail(s->db, d, s->path, "storing the extract");
        goto cleanup;
    }
    sqlite3_reset(q);
    if (!s->epoch) {
        if ((e = set_meta_int(s, "epoch", in->epoch, d)) != XCHG_OK ||
            (e = set_meta_text(s, "secret_fingerprint", in->secret_fingerprint, d)) != XCHG_OK)
            goto cleanup;
    }
    XCHG_FAULT_POINT();
    /* the caller's audit entry goes in before COMMIT: a change is never committed
       without it */
    if (hook && (e = hook(hook_ctx, st, d)) != XCHG_OK)
        goto cleanup;
    if ((e = exec(s, "COMMIT", d)) != XCHG_OK)
        goto cleanup;
    XCHG_FAULT_POINT();
    in_tx = 0;
    if (!s->epoch) {
        s->epoch = in->epoch;
        snprintf(s->fingerprint, sizeof s->fingerprint, "%s", in->secret_fingerprint);
    }
cleanup:
    if (in_tx) {
        for (int i = 0; i < ST_COUNT; i++)
            if (s->st[i])
                sqlite3_reset(s->st[i]);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (fk_off)
        sqlite3_exec(s->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (e != XCHG_OK) {
        st->records = st->tokens = st->indicators = 0;
        st->supersedes[0] = '\0';
        st->superseded = 0;
    }
    xchg_extract_close(f);
    st->seconds = now_seconds() - t0;
    return e;
}

/* ---- loading for linkage -------------------------------------------------------- */

static const char *const load_sql[4] = {
    "SELECT r.id, e.agency, r.ref, r.consent, r.consent_date, r.basis, r.clk, r.age, r.area "
    "FROM records r JOIN extracts e ON r.extract = e.id "
    "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL ORDER BY r.id",
    "SELECT t.record, t.kind, t.idx, t.value FROM tokens t "
    "JOIN records r ON t.record = r.id JOIN extracts e ON r.extract = e.id "
    "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL ORDER BY t.record, t.kind, t.seq",
    "SELECT i.record, i.problem, i.start, i.end FROM indicators i "
    "JOIN records r ON i.record = r.id JOIN extracts e ON r.extract = e.id "
    "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL ORDER BY i.record, i.seq",
    "SELECT m.record, m.measure, m.start, m.end, m.value, m.of FROM measure_events m "
    "JOIN records r ON m.record = r.id JOIN extracts e ON r.extract = e.id "
    "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL ORDER BY m.record, m.seq",
};

xchg_err xchg_store_each_record(xchg_store *s, const xchg_agreement *agr, xchg_store_record_fn fn,
                                void *ctx, uint64_t *count, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    sqlite3_stmt *q[4] = {NULL, NULL, NULL, NULL};
    xchg_err e = XCHG_OK;
    uint64_t n = 0;
    int trc = SQLITE_DONE, irc = SQLITE_DONE, mrc = SQLITE_DONE;
    char last_agency[65] = "";
    size_t agency = XCHG_NONE;
    if (!s || !p || !fn)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(p);
    /* one read transaction: a consistent snapshot across the three cursors */
    if ((e = exec(s, "BEGIN", d)) != XCHG_OK)
        return e;
    for (int i = 0; i < 4; i++)
        if (sqlite3_prepare_v2(s->db, load_sql[i], -1, &q[i], NULL) != SQLITE_OK) {
            e = sqlfail(s->db, d, s->path, "loading records");
            goto cleanup;
        }
    trc = sqlite3_step(q[1]);
    irc = sqlite3_step(q[2]);
    mrc = sqlite3_step(q[3]);
    int rc;
    while ((rc = sqlite3_step(q[0])) == SQLITE_ROW) {
        xchg_record r;
        memset(&r, 0, sizeof r);
        int64_t id = sqlite3_column_int64(q[0], 0);
        const char *ag = (const char *)sqlite3_column_text(q[0], 1);
        if (!ag) {
            e = sqlfail(s->db, d, s->path, "loading records");
            goto cleanup;
        }
        if (strcmp(ag, last_agency) != 0) {
            agency = xchg_policy_party(p, ag);
            snprintf(last_agency, sizeof last_agency, "%s", ag);
        }
        if (agency == XCHG_NONE) {
            xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0,
                          "stored records of '%s', which is not a party of the agreement given",
                          ag);
            e = XCHG_ERR_DENIED;
            goto cleanup;
        }
        r.ref = (const char *)sqlite3_column_text(q[0], 2);
        r.ref_len = (size_t)sqlite3_column_bytes(q[0], 2);
        r.consent = (uint8_t)sqlite3_column_int(q[0], 3);
        r.consent_date = sqlite3_column_type(q[0], 4) == SQLITE_NULL
                             ? XCHG_DATE_NONE
                             : sqlite3_column_int(q[0], 4);
        r.basis = (const char *)sqlite3_column_text(q[0], 5);
        r.basis_len = (size_t)sqlite3_column_bytes(q[0], 5);
        if (!r.basis)
            r.basis = "";
        r.clk = sqlite3_column_blob(q[0], 6);
        r.clk_len = (size_t)sqlite3_column_bytes(q[0], 6);
        if (!r.clk_len)
            r.clk = NULL;
        r.age = sqlite3_column_type(q[0], 7) == SQLITE_NULL ? XCHG_AGE_UNKNOWN
                                                            : (uint8_t)sqlite3_column_int(q[0], 7);
        r.area = (const char *)sqlite3_column_text(q[0], 8);
        r.area_len = (size_t)sqlite3_column_bytes(q[0], 8);
        if (!r.area)
            r.area = "";
        for (; trc == SQLITE_ROW && sqlite3_column_int64(q[1], 0) <= id; trc = sqlite3_step(q[1])) {
            if (sqlite3_column_int64(q[1], 0) < id)
                continue;
            int kind = sqlite3_column_int(q[1], 1);
            xchg_token *arr = kind == 0 ? r.match : kind == 1 ? r.block : r.house;
            size_t *na = kind == 0 ? &r.nmatch : kind == 1 ? &r.nblock : &r.nhouse;
            if (*na >= XCHG_RECORD_MAX_TOKENS ||
                sqlite3_column_bytes(q[1], 3) != XCHG_TOKEN_BYTES) {
                xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "store: malformed token rows");
                e = XCHG_ERR_FORMAT;
                goto cleanup;
            }
            arr[*na].index = (uint8_t)sqlite3_column_int(q[1], 2);
            memcpy(arr[*na].value, sqlite3_column_blob(q[1], 3), XCHG_TOKEN_BYTES);
            (*na)++;
        }
        for (; irc == SQLITE_ROW && sqlite3_column_int64(q[2], 0) <= id; irc = sqlite3_step(q[2])) {
            if (sqlite3_column_int64(q[2], 0) < id)
                continue;
            if (r.nind >= XCHG_RECORD_MAX_INDICATORS) {
                xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "store: malformed indicator rows");
                e = XCHG_ERR_FORMAT;
                goto cleanup;
            }
            r.ind[r.nind].problem = (uint8_t)sqlite3_column_int(q[2], 1);
            r.ind[r.nind].start = sqlite3_column_int(q[2], 2);
            r.ind[r.nind].end = sqlite3_column_int(q[2], 3);
            r.nind++;
        }
        /* measure events, by name: an agreement that no longer has the measure drops it */
        for (; mrc == SQLITE_ROW && sqlite3_column_int64(q[3], 0) <= id; mrc = sqlite3_step(q[3])) {
            if (sqlite3_column_int64(q[3], 0) < id)
                continue;
            const char *mn = (const char *)sqlite3_column_text(q[3], 1);
            size_t mi = XCHG_NONE;
            for (size_t k = 0; mn && k < pd->nmeasures && mi == XCHG_NONE; k++)
                if (strcmp(pd->measures[k].name, mn) == 0)
                    mi = k;
            if (mi == XCHG_NONE)
                continue;
            if (r.nind >= XCHG_RECORD_MAX_INDICATORS) {
                xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "store: malformed measure rows");
                e = XCHG_ERR_FORMAT;
                goto cleanup;
            }
            xchg_indicator_ev *ev = &r.ind[r.nind++];
            ev->is_measure = 1;
            ev->problem = XCHG_IND_NONE;
            ev->measure = (uint8_t)mi;
            ev->start = sqlite3_column_int(q[3], 2);
            ev->end = sqlite3_column_int(q[3], 3);
            ev->value = sqlite3_column_double(q[3], 4);
            ev->of = sqlite3_column_double(q[3], 5);
        }
        if ((trc != SQLITE_ROW && trc != SQLITE_DONE) || (irc != SQLITE_ROW && irc != SQLITE_DONE) ||
            (mrc != SQLITE_ROW && mrc != SQLITE_DONE)) {
            e = sqlfail(s->db, d, s->path, "loading records");
            goto cleanup;
        }
        /* Identification consent is applied at seal; applied again here so that an
           extract sealed before the rule existed, or by an agency tool that skipped it,
           cannot make a family eligible on evidence the agreement forbids using. */
        if (r.nind && agency != XCHG_NONE &&
            !xchg_consent_decide(p, agency, XCHG_PURPOSE_IDENTIFICATION, r.consent,
                                 r.consent_date, r.basis, NULL, 0))
            r.nind = 0;
        if ((e = fn(ctx, agency, (uint64_t)id, &r)) != XCHG_OK)
            goto cleanup;
        n++;
    }
    if (rc != SQLITE_DONE)
        e = sqlfail(s->db, d, s->path, "loading records");
cleanup:
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(q[i]);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (count)
        *count = n;
    return e;
}

static xchg_err add_to_linkset(void *ctx, size_t agency, uint64_t id, const xchg_record *r)
{
    return xchg_linkset_add(ctx, agency, id, r);
}

xchg_err xchg_store_load(xchg_store *s, const xchg_agreement *agr, struct xchg_linkset *ls,
                         uint64_t *count, xchg_diag *d)
{
    if (!ls)
        return XCHG_ERR_ARG;
    return xchg_store_each_record(s, agr, add_to_linkset, ls, count, d);
}

/* ---- saving a run --------------------------------------------------------------- */


static int32_t date_value(const char *t)
{
    int32_t v;
    if (!t || strcmp(t, "open") == 0)
        return XCHG_DATE_OPEN;
    if (xchg_date_parse(t, strlen(t), &v) != XCHG_OK)
        return XCHG_DATE_NONE;
    return v;
}

/* One problem of a family as rows: the problem, and each agency evidencing it. */
static xchg_err put_problem(xchg_store *s, int64_t run, int64_t household, const char *code,
                            int32_t first, int32_t last, int rule, const char *criteria,
                            const char *const *agencies, size_t nagencies, xchg_diag *d)
{
    sqlite3_stmt *q = NULL, *a = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO family_problems(run, household, problem, first, "
                           "last, rule, criteria) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO family_problem_agencies(run, household, problem, "
                           "agency) VALUES (?1, ?2, ?3, ?4)",
                           -1, &a, NULL) != SQLITE_OK) {
        e = sqlfail(s->db, d, s->path, "storing a family's problems");
        goto done;
    }
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_int64(q, 2, household);
    sqlite3_bind_text(q, 3, code, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, first);
    sqlite3_bind_int(q, 5, last);
    sqlite3_bind_int(q, 6, rule != 0);
    if (criteria && *criteria)
        sqlite3_bind_text(q, 7, criteria, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 7);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = sqlfail(s->db, d, s->path, "storing a family's problems");
        goto done;
    }
    for (size_t i = 0; i < nagencies; i++) {
        sqlite3_reset(a);
        sqlite3_bind_int64(a, 1, run);
        sqlite3_bind_int64(a, 2, household);
        sqlite3_bind_text(a, 3, code, -1, SQLITE_STATIC);
        sqlite3_bind_text(a, 4, agencies[i], -1, SQLITE_STATIC);
        if (sqlite3_step(a) != SQLITE_DONE) {
            e = sqlfail(s->db, d, s->path, "storing a family's problems");
            break;
        }
    }
done:
    sqlite3_finalize(q);
    sqlite3_finalize(a);
    return e;
}

/* The link result's problems of family f (household index h) as rows. */
static xchg_err put_family_problems(xchg_store *s, const xchg_policy *p, int64_t run, size_t h,
                                    const xchg_family *f, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    xchg_err e = XCHG_OK;
    for (unsigned i = 0; e == XCHG_OK && i < f->nproblems && i < 32; i++) {
        const xchg_family_problem *fp = &f->problems[i];
        if (fp->problem >= pd->nproblems)
            continue;
        const char *ag[32];
        size_t na = 0;
        for (size_t k = 0; k < pd->nparties && k < 32; k++)
            if (fp->agencies & (1u << k))
                ag[na++] = pd->parties[k].id;
        int rule = 0;
        for (size_t k = 0; k < pd->nrule_of; k++)
            rule |= pd->rule_of[k] == fp->problem;
        /* the criteria that identified it, by their ids (docs/programme.md) */
        char crit[256] = "";
        const xchg_problem *pb = &pd->problems[fp->problem];
        for (size_t k = 0; k < pb->nidentify && k < 32; k++)
            if ((fp->criteria & (1u << k)) && pb->identify[k].id) {
                size_t n = strlen(crit);
                snprintf(crit + n, sizeof crit - n, "%s%s", n ? ";" : "", pb->identify[k].id);
            }
        e = put_problem(s, run, (int64_t)h, pb->code, fp->first, fp->last, rule, crit, ag, na, d);
    }
    return e;
}

xchg_err xchg_store_save_result(xchg_store *s, const xchg_agreement *agr,
                                const struct xchg_link_result *res, const uint64_t *ids,
                                const xchg_run_params *rp, int64_t *run_id, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    sqlite3_stmt *q = NULL;
    xchg_err e;
    int in_tx = 0;
    if (!s || !p || !res || (!ids && res->nrecords) || !rp)
        return XCHG_ERR_ARG;
    uint64_t eligible = 0;
    for (size_t i = 0; i < res->nhouseholds; i++)
        eligible += res->families[i].eligible != 0;
    if ((e = exec(s, "BEGIN IMMEDIATE", d)) != XCHG_OK)
        return e;
    in_tx = 1;
#define PREP(sql)                                                                              \
    do {                                                                                       \
        sqlite3_finalize(q);                                                                   \
        q = NULL;                                                                              \
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {                       \
            e = sqlfail(s->db, d, s->path, "saving the run");                                  \
            goto cleanup;                                                                      \
        }                                                                                      \
    } while (0)
#define STEP()                                                                                 \
    do {                                                                                       \
        if (sqlite3_step(q) != SQLITE_DONE) {                                                  \
            e = sqlfail(s->db, d, s->path, "saving the run");                                  \
            goto cleanup;                                                                      \
        }                                                                                      \
        sqlite3_reset(q);                                                                      \
    } while (0)
    PREP("INSERT INTO runs(started, finished, run_date, agreement_hash, threads, params, "
         "n_records, n_persons, n_households, n_eligible, n_review, n_conflicts, exact_unions, "
         "fuzzy_links, candidate_pairs, comparisons, seconds_exact, seconds_fuzzy, "
         "seconds_households) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,"
         "?17,?18,?19)");
    sqlite3_bind_int64(q, 1, rp->started ? rp->started : (int64_t)time(NULL));
    sqlite3_bind_int64(q, 2, (int64_t)time(NULL));
    sqlite3_bind_int(q, 3, rp->run_date);
    sqlite3_bind_text(q, 4, s->agreement_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, (int)rp->threads);
    if (rp->params_json)
        sqlite3_bind_text(q, 6, rp->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, (int64_t)res->nrecords);
    sqlite3_bind_int64(q, 8, (int64_t)res->npersons);
    sqlite3_bind_int64(q, 9, (int64_t)res->nhouseholds);
    sqlite3_bind_int64(q, 10, (int64_t)eligible);
    sqlite3_bind_int64(q, 11, (int64_t)res->nreview);
    sqlite3_bind_int64(q, 12, (int64_t)res->nconflicts);
    sqlite3_bind_int64(q, 13, (int64_t)res->exact_unions);
    sqlite3_bind_int64(q, 14, (int64_t)res->fuzzy_links);
    sqlite3_bind_int64(q, 15, (int64_t)res->candidate_pairs);
    sqlite3_bind_int64(q, 16, (int64_t)res->comparisons);
    sqlite3_bind_double(q, 17, res->seconds_exact);
    sqlite3_bind_double(q, 18, res->seconds_fuzzy);
    sqlite3_bind_double(q, 19, res->seconds_households);
    STEP();
    int64_t run = sqlite3_last_insert_rowid(s->db);
    PREP("INSERT INTO persons(run, person, pseudonym) VALUES (?1, ?2, ?3)");
    for (size_t i = 0; i < res->npersons; i++) {
        sqlite3_bind_int64(q, 1, run);
        sqlite3_bind_int64(q, 2, (int64_t)i);
        sqlite3_bind_text(q, 3, res->person_pseudonym[i],
                          (int)strnlen(res->person_pseudonym[i], XCHG_PSEUDONYM_MAX + 1), SQLITE_STATIC);
        STEP();
    }
    PREP("INSERT INTO run_records(run, record, person, household) VALUES (?1, ?2, ?3, ?4)");
    for (size_t i = 0; i < res->nrecords; i++) {
        if (res->person[i] >= res->npersons || res->household[i] >= res->nhouseholds) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "link result: record %zu out of range", i);
            e = XCHG_ERR_ARG;
            goto cleanup;
        }
        sqlite3_bind_int64(q, 1, run);
        sqlite3_bind_int64(q, 2, (int64_t)ids[i]);
        sqlite3_bind_int64(q, 3, res->person[i]);
        sqlite3_bind_int64(q, 4, res->household[i]);
        STEP();
    }
    PREP("INSERT INTO families(run, household, pseudonym, eligible, nrule, nproblems, problems, "
         "how, npersons, nrecords, nconflicts, nreview) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
         "?11,?12)");
    for (size_t i = 0; i < res->nhouseholds; i++) {
        const xchg_family *f = &res->families[i];
        sqlite3_bind_int64(q, 1, run);
        sqlite3_bind_int64(q, 2, (int64_t)i);
        sqlite3_bind_text(q, 3, f->pseudonym, (int)strnlen(f->pseudonym, XCHG_PSEUDONYM_MAX + 1), SQLITE_STATIC);
        sqlite3_bind_int(q, 4, f->eligible != 0);
        sqlite3_bind_int(q, 5, f->nrule);
        sqlite3_bind_int(q, 6, f->nproblems);
        sqlite3_bind_text(q, 7, "", 0, SQLITE_STATIC); /* problems are rows (version 5) */
        sqlite3_bind_int(q, 8, (int)f->how);
        sqlite3_bind_int64(q, 9, f->npersons);
        sqlite3_bind_int64(q, 10, f->nrecords);
        sqlite3_bind_int64(q, 11, f->nconflicts);
        sqlite3_bind_int64(q, 12, f->nreview);
        STEP();
        if (f->nproblems && (e = put_family_problems(s, p, run, i, f, d)) != XCHG_OK)
            goto cleanup;
    }
    for (int which = 0; which < 2; which++) {
        const xchg_link_pair *pairs = which ? res->conflicts : res->review;
        size_t np = which ? res->nconflicts : res->nreview;
        if (which)
            PREP("INSERT INTO conflicts(run, a, b, key) VALUES (?1, ?2, ?3, ?4)");
        else
            PREP("INSERT INTO review_pairs(run, a, b, score) VALUES (?1, ?2, ?3, ?4)");
        for (size_t i = 0; i < np; i++) {
            if (pairs[i].a >= res->nrecords || pairs[i].b >= res->nrecords) {
                xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "link result: pair out of range");
                e = XCHG_ERR_ARG;
                goto cleanup;
            }
            sqlite3_bind_int64(q, 1, run);
            sqlite3_bind_int64(q, 2, (int64_t)ids[pairs[i].a]);
            sqlite3_bind_int64(q, 3, (int64_t)ids[pairs[i].b]);
            if (which)
                sqlite3_bind_int(q, 4, pairs[i].key);
            else
                sqlite3_bind_double(q, 4, pairs[i].score);
            STEP();
        }
    }
#undef PREP
#undef STEP
    sqlite3_finalize(q);
    q = NULL;
    if ((e = exec(s, "COMMIT", d)) != XCHG_OK)
        goto cleanup;
    in_tx = 0;
    if (run_id)
        *run_id = run;
cleanup:
    sqlite3_finalize(q);
    if (in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

xchg_err xchg_store_save_run(xchg_store *s, const xchg_agreement *agr,
                             const struct xchg_linkset *ls, const struct xchg_link_result *res,
                             const xchg_run_params *rp, int64_t *run_id, xchg_diag *d)
{
    if (!ls || !res)
        return XCHG_ERR_ARG;
    uint64_t *ids = malloc((res->nrecords ? res->nrecords : 1) * sizeof *ids);
    if (!ids)
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < res->nrecords; i++)
        ids[i] = xchg_linkset_id(ls, i);
    xchg_err e = xchg_store_save_result(s, agr, res, ids, rp, run_id, d);
    free(ids);
    return e;
}

/* ---- views ---------------------------------------------------------------------- */

static xchg_err resolve_run(xchg_store *s, int64_t *run, xchg_diag *d)
{
    if (*run == 0)
        *run = count_of(s, "SELECT coalesce(max(id), 0) FROM runs");
    if (*run <= 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "no linkage run yet");
        return XCHG_ERR_NOT_FOUND;
    }
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM runs WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, *run);
        found = sqlite3_step(q) == SQLITE_ROW;
    }
    sqlite3_finalize(q);
    if (!found) {
        xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "no run %lld", (long long)*run);
        return XCHG_ERR_NOT_FOUND;
    }
    return XCHG_OK;
}

#define FAMILY_COLS                                                                            \
    "SELECT run, pseudonym, household, npersons, nrecords, nconflicts, nreview, eligible, "    \
    "how, nrule FROM families "

static const char *or_q(const char *t)
{
    return t ? t : "?";
}

/* The problems of (run, household), in problem order, with their agencies. */
static void family_problems(xchg_store *s, xchg_store_family *f)
{
    sqlite3_stmt *q = NULL, *a = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT problem, first, last, rule, criteria FROM family_problems "
                           "WHERE run = ?1 AND household = ?2 ORDER BY problem",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT agency FROM family_problem_agencies WHERE run = ?1 AND "
                           "household = ?2 AND problem = ?3 ORDER BY agency",
                           -1, &a, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(q, 1, f->run);
    sqlite3_bind_int64(q, 2, f->household);
    while (sqlite3_step(q) == SQLITE_ROW && f->nproblems < 32) {
        xchg_store_problem *pr = &f->problems[f->nproblems++];
        snprintf(pr->code, sizeof pr->code, "%s", or_q((const char *)sqlite3_column_text(q, 0)));
        pr->first = (int32_t)sqlite3_column_int(q, 1);
        pr->last = (int32_t)sqlite3_column_int(q, 2);
        pr->counts = sqlite3_column_int(q, 3);
        snprintf(pr->criteria, sizeof pr->criteria, "%s",
                 sqlite3_column_text(q, 4) ? (const char *)sqlite3_column_text(q, 4) : "");
        sqlite3_reset(a);
        sqlite3_bind_int64(a, 1, f->run);
        sqlite3_bind_int64(a, 2, f->household);
        sqlite3_bind_text(a, 3, pr->code, -1, SQLITE_STATIC);
        while (sqlite3_step(a) == SQLITE_ROW) {
            if (pr->nagencies < XCHG_STORE_PROBLEM_AGENCIES)
                snprintf(pr->agencies[pr->nagencies], sizeof pr->agencies[0], "%s",
                         or_q((const char *)sqlite3_column_text(a, 0)));
            pr->nagencies++;
        }
    }
done:
    sqlite3_finalize(q);
    sqlite3_finalize(a);
}

static void family_row(xchg_store *s, sqlite3_stmt *q, xchg_store_family *f)
{
    memset(f, 0, sizeof *f);
    f->run = sqlite3_column_int64(q, 0);
    snprintf(f->pseudonym, sizeof f->pseudonym, "%s", sqlite3_column_text(q, 1));
    f->household = (uint32_t)sqlite3_column_int64(q, 2);
    f->npersons = (uint32_t)sqlite3_column_int64(q, 3);
    f->nrecords = (uint32_t)sqlite3_column_int64(q, 4);
    f->nconflicts = (uint32_t)sqlite3_column_int64(q, 5);
    f->nreview = (uint32_t)sqlite3_column_int64(q, 6);
    f->eligible = sqlite3_column_int(q, 7);
    f->how = sqlite3_column_int(q, 8);
    f->nrule = (unsigned)sqlite3_column_int(q, 9);
    family_problems(s, f);
}

xchg_err xchg_store_families(xchg_store *s, int64_t run, unsigned flags,
                             xchg_store_family_fn fn, void *ctx, xchg_diag *d)
{
    if (!s || !fn)
        return XCHG_ERR_ARG;
    xchg_err e = resolve_run(s, &run, d);
    if (e != XCHG_OK)
        return e;
    sqlite3_stmt *q = NULL;
    const char *sql = (flags & XCHG_STORE_ALL)
                          ? FAMILY_COLS "WHERE run = ?1 ORDER BY eligible DESC, nrule DESC, "
                                        "nproblems DESC, pseudonym"
                          : FAMILY_COLS "WHERE run = ?1 AND eligible ORDER BY nrule DESC, "
                                        "nproblems DESC, pseudonym";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "listing families");
    sqlite3_bind_int64(q, 1, run);
    int rc;
    xchg_store_family *f = malloc(sizeof *f);
    if (!f) {
        sqlite3_finalize(q);
        return XCHG_ERR_NOMEM;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        family_row(s, q, f);
        if (fn(ctx, f))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = sqlfail(s->db, d, s->path, "listing families");
    free(f);
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg_store_family_show(xchg_store *s, int64_t run, const char *pseudonym,
                                xchg_store_family *fam,
                                int (*member)(void *, const xchg_store_member *),
                                int (*pair)(void *, const xchg_store_pair *), void *ctx,
                                xchg_diag *d)
{
    if (!s || !pseudonym || !fam)
        return XCHG_ERR_ARG;
    xchg_err e = resolve_run(s, &run, d);
    if (e != XCHG_OK)
        return e;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, FAMILY_COLS "WHERE run = ?1 AND pseudonym = ?2", -1, &q,
                           NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "reading a family");
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, pseudonym, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        xchg_diag_add(d, XCHG_SEV_ERROR, s->path, 0, 0, "no family '%s' in run %lld", pseudonym,
                      (long long)run);
        return XCHG_ERR_NOT_FOUND;
    }
    family_row(s, q, fam);
    sqlite3_finalize(q);
    q = NULL;
    if (member) {
        if (sqlite3_prepare_v2(s->db,
                               "SELECT rr.person, p.pseudonym, e.agency, count(*) "
                               "FROM run_records rr JOIN persons p ON p.run = rr.run AND "
                               "p.person = rr.person JOIN records r ON r.id = rr.record "
                               "JOIN extracts e ON e.id = r.extract "
                               "WHERE rr.run = ?1 AND rr.household = ?2 "
                               "GROUP BY rr.person, e.agency ORDER BY p.pseudonym, rr.person, "
                               "e.agency",
                               -1, &q, NULL) != SQLITE_OK)
            return sqlfail(s->db, d, s->path, "reading members");
        sqlite3_bind_int64(q, 1, run);
        sqlite3_bind_int64(q, 2, fam->household);
        /* one row per (person, agency): a member is the run of rows of one person */
        xchg_store_member m;
        int64_t person = -1;
        int stop = 0;
        while (!stop && sqlite3_step(q) == SQLITE_ROW) {
            int64_t pr = sqlite3_column_int64(q, 0);
            if (pr != person) {
                if (person >= 0 && member(ctx, &m))
                    stop = 1;
                memset(&m, 0, sizeof m);
                person = pr;
                snprintf(m.pseudonym, sizeof m.pseudonym, "%s", sqlite3_column_text(q, 1));
            }
            if (m.nagencies < XCHG_STORE_MEMBER_AGENCIES)
                snprintf(m.agencies[m.nagencies], sizeof m.agencies[0], "%s",
                         sqlite3_column_text(q, 2));
            m.nagencies++;
            m.nrecords += (uint32_t)sqlite3_column_int64(q, 3);
        }
        if (!stop && person >= 0)
            member(ctx, &m);
        sqlite3_finalize(q);
        q = NULL;
    }
    if (pair) {
        static const char sql[] =
            "WITH x(conflict, a, b, score, key) AS ("
            " SELECT 0, a, b, score, -1 FROM review_pairs WHERE run = ?1"
            " UNION ALL SELECT 1, a, b, 1.0, key FROM conflicts WHERE run = ?1) "
            "SELECT x.conflict, ea.agency, eb.agency, ra.ref, rb.ref, pa.pseudonym, pb.pseudonym,"
            " x.score, x.key, x.a, x.b, ra.age, rb.age, ra.area, rb.area FROM x"
            " JOIN run_records qa ON qa.run = ?1 AND qa.record = x.a"
            " JOIN run_records qb ON qb.run = ?1 AND qb.record = x.b"
            " JOIN records ra ON ra.id = x.a JOIN records rb ON rb.id = x.b"
            " JOIN extracts ea ON ea.id = ra.extract JOIN extracts eb ON eb.id = rb.extract"
            " JOIN persons pa ON pa.run = ?1 AND pa.person = qa.person"
            " JOIN persons pb ON pb.run = ?1 AND pb.person = qb.person"
            " WHERE qa.household = ?2 OR qb.household = ?2 ORDER BY x.conflict DESC, x.score DESC";
        /* per key (kind 0 match, 1 blocking, 2 household; idx the agreement's index):
           whether the two records hold it and any of their tokens of it is equal */
        static const char cmp[] =
            "SELECT ta.kind, ta.idx, max(ta.value = tb.value) FROM tokens ta"
            " JOIN tokens tb ON tb.record = ?2 AND tb.kind = ta.kind AND tb.idx = ta.idx"
            " WHERE ta.record = ?1 GROUP BY ta.kind, ta.idx";
        sqlite3_stmt *t = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(s->db, cmp, -1, &t, NULL) != SQLITE_OK) {
            sqlite3_finalize(q);
            return sqlfail(s->db, d, s->path, "reading review pairs");
        }
        sqlite3_bind_int64(q, 1, run);
        sqlite3_bind_int64(q, 2, fam->household);
        while (sqlite3_step(q) == SQLITE_ROW) {
            xchg_store_pair pr;
            memset(&pr, 0, sizeof pr);
            pr.conflict = sqlite3_column_int(q, 0);
            snprintf(pr.agency_a, sizeof pr.agency_a, "%s", sqlite3_column_text(q, 1));
            snprintf(pr.agency_b, sizeof pr.agency_b, "%s", sqlite3_column_text(q, 2));
            snprintf(pr.ref_a, sizeof pr.ref_a, "%s", sqlite3_column_text(q, 3));
            snprintf(pr.ref_b, sizeof pr.ref_b, "%s", sqlite3_column_text(q, 4));
            snprintf(pr.person_a, sizeof pr.person_a, "%s", sqlite3_column_text(q, 5));
            snprintf(pr.person_b, sizeof pr.person_b, "%s", sqlite3_column_text(q, 6));
            pr.score = sqlite3_column_double(q, 7);
            pr.key = sqlite3_column_int(q, 8);
            pr.age_a = sqlite3_column_type(q, 11) == SQLITE_NULL ? XCHG_AGE_UNKNOWN
                                                                  : sqlite3_column_int(q, 11);
            pr.age_b = sqlite3_column_type(q, 12) == SQLITE_NULL ? XCHG_AGE_UNKNOWN
                                                                  : sqlite3_column_int(q, 12);
            if (sqlite3_column_text(q, 13))
                snprintf(pr.area_a, sizeof pr.area_a, "%s", sqlite3_column_text(q, 13));
            if (sqlite3_column_text(q, 14))
                snprintf(pr.area_b, sizeof pr.area_b, "%s", sqlite3_column_text(q, 14));
            sqlite3_bind_int64(t, 1, sqlite3_column_int64(q, 9));
            sqlite3_bind_int64(t, 2, sqlite3_column_int64(q, 10));
            int rc;
            while ((rc = sqlite3_step(t)) == SQLITE_ROW) {
                int kind = sqlite3_column_int(t, 0), idx = sqlite3_column_int(t, 1);
                if (kind < 0 || kind > 2 || idx < 0 || idx >= 32)
                    continue;
                uint32_t bit = 1u << idx;
                if (sqlite3_column_int(t, 2))
                    pr.same[kind] |= bit;
                else
                    pr.differ[kind] |= bit;
            }
            sqlite3_reset(t);
            if (rc != SQLITE_DONE) {
                sqlite3_finalize(t);
                sqlite3_finalize(q);
                return sqlfail(s->db, d, s->path, "comparing a review pair's tokens");
            }
            if (pair(ctx, &pr))
                break;
        }
        sqlite3_finalize(t);
        sqlite3_finalize(q);
    }
    return XCHG_OK;
}

xchg_err xchg_store_links(xchg_store *s, int64_t run, int (*fn)(void *, const xchg_store_link *),
                          void *ctx, xchg_diag *d)
{
    if (!s || !fn)
        return XCHG_ERR_ARG;
    xchg_err e = resolve_run(s, &run, d);
    if (e != XCHG_OK)
        return e;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT e.agency, r.ref, p.pseudonym, f.pseudonym FROM run_records rr "
                           "JOIN records r ON r.id = rr.record JOIN extracts e ON e.id = r.extract "
                           "JOIN persons p ON p.run = rr.run AND p.person = rr.person "
                           "JOIN families f ON f.run = rr.run AND f.household = rr.household "
                           "WHERE rr.run = ?1 ORDER BY e.agency, r.ref",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "reading links");
    sqlite3_bind_int64(q, 1, run);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg_store_link l = {(const char *)sqlite3_column_text(q, 0),
                             (const char *)sqlite3_column_text(q, 1),
                             (const char *)sqlite3_column_text(q, 2),
                             (const char *)sqlite3_column_text(q, 3)};
        if (fn(ctx, &l))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = sqlfail(s->db, d, s->path, "reading links");
    sqlite3_finalize(q);
    return e;
}

/* ---- dump (for auditors: everything the store holds, cell by cell) --------------- */

xchg_err xchg_store_dump(xchg_store *s, xchg_store_cell_fn fn, void *ctx, xchg_diag *d)
{
    if (!s || !fn)
        return XCHG_ERR_ARG;
    sqlite3_stmt *tables = NULL;
    xchg_err rc = XCHG_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name",
                           -1, &tables, NULL) != SQLITE_OK)
        return sqlfail(s->db, d, s->path, "list tables");
    while (rc == XCHG_OK && sqlite3_step(tables) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(tables, 0);
        char sql[256];
        int n = snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", t ? t : "");
        if (!t || n < 0 || (size_t)n >= sizeof sql || strchr(t, '"'))
            continue;
        char table[128];
        snprintf(table, sizeof table, "%s", t);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
            rc = sqlfail(s->db, d, s->path, "dump a table");
            break;
        }
        while (rc == XCHG_OK && sqlite3_step(st) == SQLITE_ROW) {
            int nc = sqlite3_column_count(st);
            for (int c = 0; c < nc && rc == XCHG_OK; c++) {
                int type = sqlite3_column_type(st, c);
                if (type == SQLITE_NULL)
                    continue;
                const void *v = type == SQLITE_BLOB ? sqlite3_column_blob(st, c)
                                                    : (const void *)sqlite3_column_text(st, c);
                size_t len = (size_t)sqlite3_column_bytes(st, c);
                if (fn(ctx, table, sqlite3_column_name(st, c), v, len, type != SQLITE_BLOB))
                    rc = XCHG_ERR_ARG;
            }
        }
        sqlite3_finalize(st);
    }
    sqlite3_finalize(tables);
    return rc;
}

/* For the release module (store_internal.h): the open database handle. */
sqlite3 *xchg__store_db(xchg_store *s) { return s ? s->db : NULL; }
const char *xchg__store_path(const xchg_store *s) { return s ? s->path : NULL; }
