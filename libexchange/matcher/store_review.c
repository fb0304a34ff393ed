/* The store's review_decisions table (store_internal.h): the only place its SQL lives. */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

xchg_err xchg__store_review_put(xchg_store *s, const xchg__review_row *r, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "INSERT INTO review_decisions(decision_id, agency_a, ref_a, agency_b, "
                           "ref_b, same, operator, party, reason, time, signature) VALUES (?1, "
                           "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "recording the review decision");
    sqlite3_bind_text(q, 1, r->decision_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->agency_a, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, r->ref_a, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, r->agency_b, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, r->ref_b, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 6, r->same ? 1 : 0);
    sqlite3_bind_text(q, 7, r->operator_kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, r->party, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 9, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 10, r->time);
    sqlite3_bind_blob(q, 11, r->signature, (int)r->siglen, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK : xchg__store_fail(s, d, "recording the review decision");
}

int xchg__store_review_exists(xchg_store *s, const char *decision_id)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT 1 FROM review_decisions WHERE decision_id = ?1", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, decision_id, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_reviews(xchg_store *s, int (*fn)(void *ctx, const xchg__review_row *r),
                             void *ctx, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT decision_id, agency_a, ref_a, agency_b, ref_b, same, operator, "
                           "party, reason, time, signature FROM review_decisions ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading review decisions");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__review_row r;
        memset(&r, 0, sizeof r);
        xchg__store_text(r.decision_id, sizeof r.decision_id, q, 0);
        xchg__store_text(r.agency_a, sizeof r.agency_a, q, 1);
        xchg__store_text(r.ref_a, sizeof r.ref_a, q, 2);
        xchg__store_text(r.agency_b, sizeof r.agency_b, q, 3);
        xchg__store_text(r.ref_b, sizeof r.ref_b, q, 4);
        r.same = sqlite3_column_int(q, 5);
        xchg__store_text(r.operator_kid, sizeof r.operator_kid, q, 6);
        xchg__store_text(r.party, sizeof r.party, q, 7);
        xchg__store_text(r.reason, sizeof r.reason, q, 8);
        r.time = sqlite3_column_int64(q, 9);
        int sl = sqlite3_column_bytes(q, 10);
        if (sl > 0 && (size_t)sl <= sizeof r.signature) {
            memcpy(r.signature, sqlite3_column_blob(q, 10), (size_t)sl);
            r.siglen = (size_t)sl;
        }
        if (fn(ctx, &r))
            break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? XCHG_OK
               : xchg__store_fail(s, d, "reading review decisions");
}

int64_t xchg__store_active_record(xchg_store *s, const char *agency, const char *ref)
{
    sqlite3_stmt *q = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT r.id FROM records r JOIN extracts e ON e.id = r.extract WHERE "
                           "e.agency = ?1 AND r.ref = ?2 AND e.superseded_by IS NULL AND "
                           "e.purged_at IS NULL AND r.replaced_by IS NULL ORDER BY r.id DESC "
                           "LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(q, 1, agency, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ref, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return id;
}
