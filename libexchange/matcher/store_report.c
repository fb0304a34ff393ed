/*
 * The report's reads of the store (docs/reports.md): the identified (eligible) families
 * of a run with their problems, the agencies that hold records on their members, their
 * area and their members' ages. Every query is ordered by household so the report can
 * merge them. Read-only; no row is written here.
 *
 * records.area and records.age come with schema 6 (the agreement's geography); a store
 * without those columns answers NULL for every family (the report's "Unknown").
 * family_outcomes (outcome tracking) is read as counts only: a store without the table
 * answers no rows (the report then has no outcomes table).
 */
#include "store_internal.h"

#include <string.h>

static xchg_err db_error(xchg_store *s, xchg_diag *d)
{
    xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "store: %s", sqlite3_errmsg(xchg__store_db(s)));
    return XCHG_ERR_IO;
}

int xchg__store_records_have(xchg_store *s, const char *column)
{
    sqlite3_stmt *q = NULL;
    /* the pragma statement, not the pragma_table_info() function: builds may omit the
       table-valued pragma functions */
    if (sqlite3_prepare_v2(xchg__store_db(s), "PRAGMA table_info(records)", -1, &q, NULL) !=
        SQLITE_OK)
        return 0;
    int found = 0;
    while (!found && sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *n = sqlite3_column_text(q, 1);
        found = n && strcmp((const char *)n, column) == 0;
    }
    sqlite3_finalize(q);
    return found;
}

int xchg__store_run_exists(xchg_store *s, int64_t run)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s), "SELECT 1 FROM runs WHERE id = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, run);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Run sql (?1 = run) and hand each row to fn as (household, text column 1 or NULL,
 * integer column 2 or -1 when NULL). */
static xchg_err rows(xchg_store *s, const char *sql, int64_t run, xchg__report_row_fn fn, void *ctx,
                     xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s), sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(s, d);
    sqlite3_bind_int64(q, 1, run);
    xchg_err e = XCHG_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int ncol = sqlite3_column_count(q);
        const unsigned char *text = ncol > 1 ? sqlite3_column_text(q, 1) : NULL;
        int64_t num =
            ncol > 2 && sqlite3_column_type(q, 2) != SQLITE_NULL ? sqlite3_column_int64(q, 2) : -1;
        if (fn(ctx, sqlite3_column_int64(q, 0), (const char *)text, num)) {
            e = XCHG_ERR_NOMEM;
            break;
        }
    }
    if (e == XCHG_OK && rc != SQLITE_DONE)
        e = db_error(s, d);
    sqlite3_finalize(q);
    return e;
}

/* the members' records of the run's identified families */
#define MEMBERS                                                                                    \
    " FROM families f JOIN run_records rr ON rr.run = f.run AND rr.household = f.household"        \
    " JOIN records r ON r.id = rr.record"

xchg_err xchg__store_report_families(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                     xchg_diag *d)
{
    return rows(s,
                "SELECT household, NULL, npersons FROM families WHERE run = ?1 AND eligible = 1 "
                "ORDER BY household",
                run, fn, ctx, d);
}

xchg_err xchg__store_report_problems(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                     xchg_diag *d)
{
    return rows(s,
                "SELECT fp.household, fp.problem FROM families f JOIN family_problems fp"
                " ON fp.run = f.run AND fp.household = f.household"
                " WHERE f.run = ?1 AND f.eligible = 1 ORDER BY fp.household, fp.problem",
                run, fn, ctx, d);
}

xchg_err xchg__store_report_agencies(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                     xchg_diag *d)
{
    return rows(s,
                "SELECT DISTINCT rr.household, e.agency" MEMBERS
                " JOIN extracts e ON e.id = r.extract"
                " WHERE f.run = ?1 AND f.eligible = 1 ORDER BY rr.household, e.agency",
                run, fn, ctx, d);
}

xchg_err xchg__store_report_areas(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                  xchg_diag *d)
{
    if (!xchg__store_records_have(s, "area"))
        return rows(s,
                    "SELECT household, NULL, npersons FROM families WHERE run = ?1 AND "
                    "eligible = 1 ORDER BY household",
                    run, fn, ctx, d);
    return rows(s,
                "SELECT rr.household, r.area, count(*)" MEMBERS
                " WHERE f.run = ?1 AND f.eligible = 1 GROUP BY rr.household, r.area"
                " ORDER BY rr.household, r.area",
                run, fn, ctx, d);
}

xchg_err xchg__store_report_ages(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                 xchg_diag *d)
{
    if (!xchg__store_records_have(s, "age"))
        return rows(s,
                    "SELECT rr.household, NULL, NULL" MEMBERS
                    " WHERE f.run = ?1 AND f.eligible = 1 GROUP BY rr.household, rr.person"
                    " ORDER BY rr.household",
                    run, fn, ctx, d);
    return rows(s,
                "SELECT rr.household, NULL, max(r.age)" MEMBERS
                " WHERE f.run = ?1 AND f.eligible = 1 GROUP BY rr.household, rr.person"
                " ORDER BY rr.household",
                run, fn, ctx, d);
}

static int have_table(xchg_store *s, const char *name)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &q,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_report_outcomes(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                     xchg_diag *d)
{
    if (!have_table(s, "family_outcomes"))
        return XCHG_OK;
    /* 1 too early, 2 not met, 3 met (xchg_outcome_status); 0 (no outcome) is not counted */
    return rows(s,
                "SELECT status, problem, count(*) FROM family_outcomes"
                " WHERE run = ?1 AND status BETWEEN 1 AND 3 GROUP BY problem, status"
                " ORDER BY problem, status",
                run, fn, ctx, d);
}
