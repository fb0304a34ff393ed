/* Retention: delete what the matcher holds past the agreement's retention period. */
#include "exchange/store.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xchg_err exec1(sqlite3 *db, const char *sql, int64_t arg, xchg_diag *d, const char *path)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "purge: %s", sqlite3_errmsg(db));
        return XCHG_ERR_IO;
    }
    if (arg >= 0)
        sqlite3_bind_int64(q, 1, arg);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "purge: %s", sqlite3_errmsg(db));
        return XCHG_ERR_IO;
    }
    return XCHG_OK;
}

xchg_err xchg_store_purge(xchg_store *s, int64_t cutoff, int dry_run, xchg_purge_stats *st,
                          xchg_diag *d)
{
    if (!s || !st)
        return XCHG_ERR_ARG;
    memset(st, 0, sizeof *st);
    sqlite3 *db = xchg__store_db(s);
    const char *path = xchg__store_path(s);
    sqlite3_stmt *q = NULL;
    /* the extracts to purge: received before the cutoff, not purged yet */
    if (sqlite3_prepare_v2(db,
                           "SELECT id, hex(extract_id), agency, n_records FROM extracts WHERE "
                           "ingested_at < ? AND purged_at IS NULL ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "purge: %s", sqlite3_errmsg(db));
        return XCHG_ERR_IO;
    }
    sqlite3_bind_int64(q, 1, cutoff);
    while (sqlite3_step(q) == SQLITE_ROW && st->nextracts < XCHG_PURGE_MAX_LISTED) {
        snprintf(st->extract_ids[st->nextracts], sizeof st->extract_ids[0], "%s",
                 (const char *)sqlite3_column_text(q, 1));
        for (char *c = st->extract_ids[st->nextracts]; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
        snprintf(st->agencies[st->nextracts], sizeof st->agencies[0], "%s",
                 (const char *)sqlite3_column_text(q, 2));
        st->records += (uint64_t)sqlite3_column_int64(q, 3);
        st->nextracts++;
    }
    sqlite3_finalize(q);
    /* runs whose summaries go too: begun before the cutoff, or built on purged records */
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM runs WHERE purged_at IS NULL AND (started < ?1 "
                           "OR id IN (SELECT rr.run FROM run_records rr JOIN records r ON "
                           "r.id = rr.record JOIN extracts e ON e.id = r.extract WHERE "
                           "e.ingested_at < ?1 AND e.purged_at IS NULL))",
                           -1, &q, NULL) != SQLITE_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "purge: %s", sqlite3_errmsg(db));
        return XCHG_ERR_IO;
    }
    sqlite3_bind_int64(q, 1, cutoff);
    if (sqlite3_step(q) == SQLITE_ROW)
        st->runs = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (dry_run || (st->nextracts == 0 && st->runs == 0))
        return XCHG_OK;
    /* overwrite deleted content instead of leaving it in free pages */
    xchg_err e = exec1(db, "PRAGMA secure_delete = ON", -1, d, path);
    if (e == XCHG_OK)
        e = exec1(db, "BEGIN IMMEDIATE", -1, d, path);
    if (e != XCHG_OK)
        return e;
    static const char *const del[] = {
        "CREATE TEMP TABLE purge_records AS SELECT r.id FROM records r JOIN extracts e ON "
        "e.id = r.extract WHERE e.ingested_at < ? AND e.purged_at IS NULL",
        /* run-level summaries (families with their problems, persons, memberships, pairs)
           of every run begun before the cutoff or built on a purged record; the run row
           stays, marked purged, as the record that it happened */
        "CREATE TEMP TABLE purge_runs AS SELECT id FROM runs WHERE purged_at IS NULL AND "
        "(started < ? OR id IN (SELECT DISTINCT run FROM run_records WHERE record IN "
        "(SELECT id FROM purge_records)))",
        "DELETE FROM families WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM family_problems WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM family_problem_agencies WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM family_outcomes WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM persons WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM run_records WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM review_pairs WHERE run IN (SELECT id FROM purge_runs)",
        "DELETE FROM conflicts WHERE run IN (SELECT id FROM purge_runs)",
        "UPDATE runs SET purged_at = strftime('%s','now'), params = NULL WHERE id IN "
        "(SELECT id FROM purge_runs)",
        "DROP TABLE purge_runs",
        "DELETE FROM extract_keys WHERE extract IN (SELECT id FROM extracts WHERE "
        "ingested_at < ? AND purged_at IS NULL)",
        "DELETE FROM run_records WHERE record IN (SELECT id FROM purge_records)",
        "DELETE FROM review_pairs WHERE a IN (SELECT id FROM purge_records) OR b IN "
        "(SELECT id FROM purge_records)",
        "DELETE FROM conflicts WHERE a IN (SELECT id FROM purge_records) OR b IN "
        "(SELECT id FROM purge_records)",
        "DELETE FROM tokens WHERE record IN (SELECT id FROM purge_records)",
        "DELETE FROM indicators WHERE record IN (SELECT id FROM purge_records)",
        "DELETE FROM measure_events WHERE record IN (SELECT id FROM purge_records)",
        "DELETE FROM records WHERE id IN (SELECT id FROM purge_records)",
        /* the operators' release-key contributions for those records (docs/release.md) */
        "DELETE FROM contributions WHERE extract_id IN (SELECT extract_id FROM extracts "
        "WHERE ingested_at < ? AND purged_at IS NULL)",
        /* the extract row stays, emptied, as the record of what was held and deleted */
        "UPDATE extracts SET purged_at = strftime('%s','now'), header = '{}' WHERE "
        "ingested_at < ? AND purged_at IS NULL",
        "DROP TABLE purge_records",
    };
    for (size_t i = 0; i < sizeof del / sizeof del[0] && e == XCHG_OK; i++)
        e = exec1(db, del[i], strchr(del[i], '?') ? cutoff : -1, d, path);
    if (e == XCHG_OK)
        e = exec1(db, "COMMIT", -1, d, path);
    if (e != XCHG_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_exec(db, "DROP TABLE IF EXISTS purge_records", NULL, NULL, NULL);
        sqlite3_exec(db, "DROP TABLE IF EXISTS purge_runs", NULL, NULL, NULL);
        return e;
    }
    /* move the deletions out of the write-ahead log into the (overwritten) pages */
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    st->purged = 1;
    return XCHG_OK;
}
