/* The status of one extract in the matcher's store (for xchg-matcherd's status endpoint). */
#include "store_internal.h"

#include "exchange/crypto.h"

#include <string.h>

xchg_err xchg_store_find_extract(xchg_store *s, const char *id_hex, xchg_store_extract_status *out,
                                 xchg_diag *d)
{
    uint8_t id[16];
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (!s || !out || !id_hex)
        return XCHG_ERR_ARG;
    if (xchg_hex_decode(id, sizeof id, id_hex, strlen(id_hex)) != XCHG_OK)
        return XCHG_ERR_FORMAT;
    sqlite3 *db = xchg__store_db(s);
    if (sqlite3_prepare_v2(db,
                           "SELECT agency, n_records, ingested_at, superseded_by IS NOT NULL "
                           "FROM extracts WHERE extract_id = ?",
                           -1, &q, NULL) != SQLITE_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "store: %s", sqlite3_errmsg(db));
        return XCHG_ERR_IO;
    }
    sqlite3_bind_blob(q, 1, id, sizeof id, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        xchg_store_extract_status t;
        memset(&t, 0, sizeof t);
        const unsigned char *a = sqlite3_column_text(q, 0);
        if (a)
            strncpy(t.agency, (const char *)a, sizeof t.agency - 1);
        t.records = (uint64_t)sqlite3_column_int64(q, 1);
        t.ingested_at = sqlite3_column_int64(q, 2);
        t.superseded = sqlite3_column_int(q, 3);
        *out = t;
    } else if (rc == SQLITE_DONE) {
        e = XCHG_ERR_NOT_FOUND;
    } else {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "store: %s", sqlite3_errmsg(db));
        e = XCHG_ERR_IO;
    }
    sqlite3_finalize(q);
    return e;
}

int64_t xchg_store_changes_seen(xchg_store *s)
{
    sqlite3_stmt *q = NULL;
    if (!s || sqlite3_prepare_v2(xchg__store_db(s), "PRAGMA data_version", -1, &q, NULL) !=
                  SQLITE_OK)
        return -1;
    int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    return v;
}
