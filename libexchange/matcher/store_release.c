/* The store's tables for release: decisions, releases, and a family's records as a
 * release sees them (store_internal.h). The only place their SQL lives. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sqlite3_stmt *prep(xchg_store *s, const char *sql)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s), sql, -1, &q, NULL) != SQLITE_OK)
        return NULL;
    return q;
}

xchg_err xchg__store_begin(xchg_store *s, xchg_diag *d)
{
    if (sqlite3_exec(xchg__store_db(s), "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "begin");
    return XCHG_OK;
}

xchg_err xchg__store_commit(xchg_store *s, xchg_diag *d)
{
    if (sqlite3_exec(xchg__store_db(s), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        xchg_err e = xchg__store_fail(s, d, "commit");
        xchg__store_rollback(s);
        return e;
    }
    return XCHG_OK;
}

void xchg__store_rollback(xchg_store *s)
{
    if (!sqlite3_get_autocommit(xchg__store_db(s)))
        sqlite3_exec(xchg__store_db(s), "ROLLBACK", NULL, NULL, NULL);
}

static int64_t one_int(xchg_store *s, const char *sql, int64_t arg, int64_t dflt)
{
    sqlite3_stmt *q = prep(s, sql);
    int64_t v = dflt;
    if (!q)
        return dflt;
    if (arg != INT64_MIN)
        sqlite3_bind_int64(q, 1, arg);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

int64_t xchg__store_latest_run(xchg_store *s)
{
    return one_int(s, "SELECT max(id) FROM runs", INT64_MIN, 0);
}

int32_t xchg__store_run_date(xchg_store *s, int64_t run)
{
    return (int32_t)one_int(s, "SELECT run_date FROM runs WHERE id = ?1", run, 0);
}

int xchg__store_family_in_run(xchg_store *s, int64_t run, const char *family, int *eligible)
{
    sqlite3_stmt *q = prep(s, "SELECT eligible FROM families WHERE run = ?1 AND pseudonym = ?2");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step(q) == SQLITE_ROW) {
        found = 1;
        if (eligible)
            *eligible = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_decision_put(xchg_store *s, const xchg__decision *r, xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "INSERT INTO decisions(family, run, operator, party, decision, "
                              "reason, time, signature, recipient, decision_id, members) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!q)
        return xchg__store_fail(s, d, "recording the decision");
    sqlite3_bind_text(q, 1, r->family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, r->run);
    sqlite3_bind_text(q, 3, r->operator_kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, r->party, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, r->approve ? "approve" : "reject", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, r->time);
    sqlite3_bind_blob(q, 8, r->signature, (int)r->siglen, SQLITE_STATIC);
    sqlite3_bind_text(q, 9, r->recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, r->decision_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 11, r->members, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK : xchg__store_fail(s, d, "recording the decision");
}

int xchg__store_decision_exists(xchg_store *s, const char *decision_id)
{
    sqlite3_stmt *q = prep(s, "SELECT 1 FROM decisions WHERE decision_id = ?1 LIMIT 1");
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, decision_id, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_decisions(xchg_store *s, const char *family, int64_t run,
                               const char *recipient, int (*fn)(void *ctx, const xchg__decision *r),
                               void *ctx, xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "SELECT decision_id, family, run, recipient, operator, party, "
                              "decision, reason, time, signature, members FROM decisions "
                              "WHERE family = ?1 AND run <= ?2 AND (?3 IS NULL OR "
                              "coalesce(recipient, '') = ?3) ORDER BY run, id");
    if (!q)
        return xchg__store_fail(s, d, "reading decisions");
    sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, run);
    if (recipient)
        sqlite3_bind_text(q, 3, recipient, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__decision r;
        memset(&r, 0, sizeof r);
        xchg__store_text(r.decision_id, sizeof r.decision_id, q, 0);
        xchg__store_text(r.family, sizeof r.family, q, 1);
        r.run = sqlite3_column_int64(q, 2);
        xchg__store_text(r.recipient, sizeof r.recipient, q, 3);
        xchg__store_text(r.operator_kid, sizeof r.operator_kid, q, 4);
        xchg__store_text(r.party, sizeof r.party, q, 5);
        const char *dec = (const char *)sqlite3_column_text(q, 6);
        r.approve = dec && strcmp(dec, "approve") == 0;
        xchg__store_text(r.reason, sizeof r.reason, q, 7);
        r.time = sqlite3_column_int64(q, 8);
        int sl = sqlite3_column_bytes(q, 9);
        if (sl > 0 && (size_t)sl <= sizeof r.signature) {
            memcpy(r.signature, sqlite3_column_blob(q, 9), (size_t)sl);
            r.siglen = (size_t)sl;
        }
        xchg__store_text(r.members, sizeof r.members, q, 10);
        if (fn(ctx, &r))
            break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? XCHG_OK
                                                 : xchg__store_fail(s, d, "reading decisions");
}

int xchg__store_family_has_decisions(xchg_store *s, const char *family)
{
    sqlite3_stmt *q = prep(s, "SELECT 1 FROM decisions WHERE family = ?1 LIMIT 1");
    if (!q)
        return 0;
    sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_release_put(xchg_store *s, const char *packet_id, const char *family,
                                 int64_t run, const char *recipient, int64_t time,
                                 unsigned released, unsigned withheld, xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "INSERT INTO releases(packet_id, family, run, recipient, time, "
                              "released, withheld) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!q)
        return xchg__store_fail(s, d, "recording the release");
    sqlite3_bind_text(q, 1, packet_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, run);
    sqlite3_bind_text(q, 4, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, time);
    sqlite3_bind_int(q, 6, (int)released);
    sqlite3_bind_int(q, 7, (int)withheld);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK : xchg__store_fail(s, d, "recording the release");
}

int xchg__store_release_exists(xchg_store *s, const char *packet_id)
{
    sqlite3_stmt *q = prep(s, "SELECT 1 FROM releases WHERE packet_id = ?1");
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, packet_id, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

unsigned xchg__store_release_count(xchg_store *s, const char *family)
{
    sqlite3_stmt *q = prep(s, "SELECT count(*) FROM releases WHERE family = ?1");
    unsigned n = 0;
    if (!q)
        return 0;
    sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        n = (unsigned)sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return n;
}

xchg_err xchg__store_release_candidates(xchg_store *s, int64_t run,
                                        int (*fn)(void *ctx, const char *family), void *ctx,
                                        xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "SELECT pseudonym FROM families WHERE run = ?1 AND (eligible OR "
                              "pseudonym IN (SELECT family FROM decisions)) ORDER BY pseudonym");
    if (!q)
        return xchg__store_fail(s, d, "listing families");
    sqlite3_bind_int64(q, 1, run);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char fam[XCHG_PSEUDONYM_MAX + 1];
        xchg__store_text(fam, sizeof fam, q, 0);
        if (fn(ctx, fam))
            break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? XCHG_OK
                                                 : xchg__store_fail(s, d, "listing families");
}

/* The newest version of record id `rec`: follow replaced_by (chains are short: one link
 * per later version of the agency's record). */
static int64_t newest_version(sqlite3_stmt *q, int64_t rec)
{
    for (int hops = 0; hops < 1000; hops++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, rec);
        if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_type(q, 0) == SQLITE_NULL)
            return rec;
        rec = sqlite3_column_int64(q, 0);
    }
    return rec;
}

xchg_err xchg__store_family_records(xchg_store *s, int64_t run, const char *family,
                                    const char *key_id_hex,
                                    int (*fn)(void *ctx, const xchg__family_record *r), void *ctx,
                                    xchg_diag *d)
{
    xchg_err e = XCHG_OK;
    sqlite3_stmt *q =
        /* CROSS JOIN keeps this order, as in the members query below (the planner
         * otherwise may scan every run record of the run for each family) */
        prep(s, "SELECT rr.record, p.pseudonym FROM families f "
                "CROSS JOIN run_records rr ON rr.run = f.run AND rr.household = f.household "
                "CROSS JOIN persons p ON p.run = rr.run AND p.person = rr.person "
                "WHERE f.run = ?1 AND f.pseudonym = ?2");
    sqlite3_stmt *nv = prep(s, "SELECT replaced_by FROM records WHERE id = ?1");
    sqlite3_stmt *rq = prep(
        s, "SELECT e.agency, r.ref, r.consent, r.consent_date, r.basis, e.extract_id, r.payload, "
           "(e.superseded_by IS NULL AND e.purged_at IS NULL AND r.replaced_by IS NULL), "
           "(SELECT k.sealed_key FROM extract_keys k WHERE k.extract = e.id AND k.key_id = ?2) "
           "FROM records r JOIN extracts e ON e.id = r.extract WHERE r.id = ?1");
    sqlite3_stmt *iq = prep(s, "SELECT problem, NULL, start, end, seq FROM indicators "
                               "WHERE record = ?1 UNION ALL SELECT -1, measure, start, end, seq "
                               "FROM measure_events WHERE record = ?1 ORDER BY 5");
    /* the family's members in a stable order: person, agency, reference */
    struct item {
        int64_t rec;
        char person[XCHG_PSEUDONYM_MAX + 1];
    } *items = NULL;
    size_t n = 0, cap = 0;
    if (!q || !nv || !rq || !iq) {
        e = xchg__store_fail(s, d, "reading the family's records");
        goto cleanup;
    }
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            struct item *ni = realloc(items, nc * sizeof *ni);
            if (!ni) {
                e = XCHG_ERR_NOMEM;
                goto cleanup;
            }
            items = ni;
            cap = nc;
        }
        items[n].rec = sqlite3_column_int64(q, 0);
        xchg__store_text(items[n].person, sizeof items[n].person, q, 1);
        n++;
    }
    xchg__indicator *ind = NULL;
    size_t icap = 0;
    /* records are visited per person in reference order; callers sort further if needed */
    for (size_t i = 0; i < n && e == XCHG_OK; i++) {
        int64_t cur = newest_version(nv, items[i].rec);
        sqlite3_reset(rq);
        sqlite3_bind_int64(rq, 1, cur);
        sqlite3_bind_text(rq, 2, key_id_hex ? key_id_hex : "", -1, SQLITE_STATIC);
        if (sqlite3_step(rq) != SQLITE_ROW)
            continue;
        xchg__family_record r;
        memset(&r, 0, sizeof r);
        r.agency = (const char *)sqlite3_column_text(rq, 0);
        r.ref = (const char *)sqlite3_column_text(rq, 1);
        r.person = items[i].person;
        r.consent = sqlite3_column_int(rq, 2);
        r.consent_date = sqlite3_column_type(rq, 3) == SQLITE_NULL
                             ? XCHG_DATE_NONE
                             : (int32_t)sqlite3_column_int(rq, 3);
        r.basis = (const char *)sqlite3_column_text(rq, 4);
        if (sqlite3_column_bytes(rq, 5) == XCHG_EXTRACT_ID_BYTES)
            memcpy(r.extract_id, sqlite3_column_blob(rq, 5), XCHG_EXTRACT_ID_BYTES);
        r.payload = sqlite3_column_blob(rq, 6);
        r.payload_len = (size_t)sqlite3_column_bytes(rq, 6);
        r.current = sqlite3_column_int(rq, 7);
        r.sealed_key = (const char *)sqlite3_column_text(rq, 8);
        size_t ni = 0;
        sqlite3_reset(iq);
        sqlite3_bind_int64(iq, 1, cur);
        while (sqlite3_step(iq) == SQLITE_ROW) {
            if (ni == icap) {
                size_t nc = icap ? 2 * icap : 16;
                xchg__indicator *nn = realloc(ind, nc * sizeof *nn);
                if (!nn) {
                    e = XCHG_ERR_NOMEM;
                    break;
                }
                ind = nn;
                icap = nc;
            }
            int pr = sqlite3_column_int(iq, 0);
            ind[ni].problem = pr < 0 ? UINT32_MAX : (unsigned)pr;
            xchg__store_text(ind[ni].measure, sizeof ind[ni].measure, iq, 1);
            ind[ni].start = (int32_t)sqlite3_column_int(iq, 2);
            ind[ni].end = (int32_t)sqlite3_column_int(iq, 3);
            ni++;
        }
        if (e != XCHG_OK)
            break;
        r.ind = ind;
        r.nind = ni;
        if (!r.agency || !r.ref)
            continue;
        if (fn(ctx, &r))
            break;
    }
    free(ind);
cleanup:
    free(items);
    sqlite3_finalize(q);
    sqlite3_finalize(nv);
    sqlite3_finalize(rq);
    sqlite3_finalize(iq);
    return e;
}

xchg_err xchg__store_family_persons(xchg_store *s, int64_t run, const char *family,
                                    int (*fn)(void *ctx, const char *person), void *ctx,
                                    xchg_diag *d)
{
    sqlite3_stmt *q =
        /* CROSS JOIN keeps this order (SQLite's planner otherwise may scan the whole
           run's run_records for one family: ~6 ms a family, a minute for a county) */
        prep(s, "SELECT DISTINCT p.pseudonym FROM families f "
                "CROSS JOIN run_records rr ON rr.run = f.run AND rr.household = f.household "
                "CROSS JOIN persons p ON p.run = rr.run AND p.person = rr.person "
                "WHERE f.run = ?1 AND f.pseudonym = ?2 ORDER BY p.pseudonym");
    if (!q)
        return xchg__store_fail(s, d, "reading the family's members");
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        char p[XCHG_PSEUDONYM_MAX + 1];
        xchg__store_text(p, sizeof p, q, 0);
        if (fn(ctx, p))
            break;
    }
    sqlite3_finalize(q);
    return XCHG_OK;
}

xchg_err xchg__store_meta_get_int(xchg_store *s, const char *name, int64_t *v)
{
    sqlite3_stmt *q = prep(s, "SELECT value FROM meta WHERE name = ?1");
    if (!q)
        return XCHG_ERR_IO;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    xchg_err e = XCHG_ERR_NOT_FOUND;
    if (sqlite3_step(q) == SQLITE_ROW) {
        *v = sqlite3_column_int64(q, 0);
        e = XCHG_OK;
    }
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_meta_set_int(xchg_store *s, const char *name, int64_t v, xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)");
    if (!q)
        return xchg__store_fail(s, d, "writing meta");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, v);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK : xchg__store_fail(s, d, "writing meta");
}

/* ---- release-key contributions ------------------------------------------------------ */

xchg_err xchg__store_contribution_put(xchg_store *s, const xchg__contribution *c, xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "INSERT OR REPLACE INTO contributions(extract_id, ref, party, idx, "
                              "deal, d, proof, decision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!q)
        return xchg__store_fail(s, d, "recording a release-key contribution");
    sqlite3_bind_blob(q, 1, c->extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c->ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, c->party, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)c->index);
    sqlite3_bind_text(q, 5, c->deal, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 6, c->D, sizeof c->D, SQLITE_STATIC);
    sqlite3_bind_blob(q, 7, c->proof, sizeof c->proof, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, c->decision_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK
                             : xchg__store_fail(s, d, "recording a release-key contribution");
}

xchg_err xchg__store_contributions(xchg_store *s, const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES],
                                   const char *ref, const char *deal,
                                   int (*fn)(void *ctx, const xchg__contribution *c), void *ctx,
                                   xchg_diag *d)
{
    sqlite3_stmt *q = prep(s, "SELECT party, idx, d, proof, decision FROM contributions "
                              "WHERE extract_id = ?1 AND ref = ?2 AND deal = ?3 ORDER BY party");
    if (!q)
        return xchg__store_fail(s, d, "reading release-key contributions");
    sqlite3_bind_blob(q, 1, extract_id, XCHG_EXTRACT_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, deal, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__contribution c;
        memset(&c, 0, sizeof c);
        memcpy(c.extract_id, extract_id, XCHG_EXTRACT_ID_BYTES);
        snprintf(c.ref, sizeof c.ref, "%s", ref);
        snprintf(c.deal, sizeof c.deal, "%s", deal);
        xchg__store_text(c.party, sizeof c.party, q, 0);
        c.index = (unsigned)sqlite3_column_int(q, 1);
        /* a row of the wrong size is passed on zeroed: it fails verification, loudly */
        if (sqlite3_column_bytes(q, 2) == (int)sizeof c.D)
            memcpy(c.D, sqlite3_column_blob(q, 2), sizeof c.D);
        if (sqlite3_column_bytes(q, 3) == (int)sizeof c.proof)
            memcpy(c.proof, sqlite3_column_blob(q, 3), sizeof c.proof);
        xchg__store_text(c.decision_id, sizeof c.decision_id, q, 4);
        if (fn(ctx, &c))
            break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? XCHG_OK
               : xchg__store_fail(s, d, "reading release-key contributions");
}

xchg_err xchg__store_contributions_prune(xchg_store *s, xchg_diag *d)
{
    char *err = NULL;
    int rc = sqlite3_exec(xchg__store_db(s),
                          /* by reference: the planner's own choice (records_extract)
                             scans every record of the extract for each contribution, which
                             made each approval cost O(contributions x extract size) */
                          "DELETE FROM contributions WHERE NOT EXISTS (SELECT 1 FROM records r "
                          "INDEXED BY records_ref "
                          "JOIN extracts e ON e.id = r.extract WHERE e.extract_id = "
                          "contributions.extract_id AND r.ref = contributions.ref AND "
                          "e.superseded_by IS NULL AND e.purged_at IS NULL AND r.replaced_by IS "
                          "NULL)",
                          NULL, NULL, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? XCHG_OK
                           : xchg__store_fail(s, d, "removing superseded release-key contributions");
}
