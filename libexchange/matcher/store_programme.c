/* The store's programme tables: family_state, family_baseline, family_outcomes
 * (store_internal.h). The only place their SQL lives. */
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_exists(xchg_store *s, int64_t run)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s), "SELECT 1 FROM runs WHERE id = ?1", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(q, 1, run);
        found = sqlite3_step(q) == SQLITE_ROW;
    }
    sqlite3_finalize(q);
    return found;
}

xchg_err xchg__store_prog_states(xchg_store *s, int (*fn)(void *ctx, const xchg__prog_state *st),
                                 void *ctx, xchg_diag *d)
{
    sqlite3 *db = xchg__store_db(s);
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT s.pseudonym, s.first_run, s.identified, s.last_run, s.members, "
                           "s.change, (SELECT group_concat(b.problem || '=' || b.criteria, ' ') "
                           "FROM family_baseline b WHERE b.pseudonym = s.pseudonym) "
                           "FROM family_state s ORDER BY s.pseudonym",
                           -1, &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading family state");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__prog_state st;
        memset(&st, 0, sizeof st);
        xchg__store_text(st.pseudonym, sizeof st.pseudonym, q, 0);
        st.first_run = sqlite3_column_int64(q, 1);
        st.identified = (int32_t)sqlite3_column_int(q, 2);
        st.last_run = sqlite3_column_int64(q, 3);
        xchg__store_text(st.members, sizeof st.members, q, 4);
        st.change = sqlite3_column_int(q, 5);
        xchg__store_text(st.baseline, sizeof st.baseline, q, 6);
        if (fn(ctx, &st))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading family state");
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_prog_persons(xchg_store *s,
                                  int (*fn)(void *ctx, const char *family, const char *person),
                                  void *ctx, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT pseudonym, person FROM family_state_persons ORDER BY person", -1,
                           &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading family members");
    xchg_err e = XCHG_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(q, 0),
               (const char *)sqlite3_column_text(q, 1)))
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading family members");
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_prog_tokens(xchg_store *s, int (*fn)(void *ctx, const xchg__prog_token *t),
                                 void *ctx, xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT pseudonym, person, key, h0, h1 FROM family_state_tokens", -1,
                           &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading family members' tokens");
    xchg_err e = XCHG_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__prog_token t = {.family = (const char *)sqlite3_column_text(q, 0),
                              .person = (const char *)sqlite3_column_text(q, 1),
                              .key = sqlite3_column_int(q, 2),
                              .h0 = (uint64_t)sqlite3_column_int64(q, 3),
                              .h1 = (uint64_t)sqlite3_column_int64(q, 4)};
        if (t.family && t.person && fn(ctx, &t))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading family members' tokens");
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_prog_previous(xchg_store *s, int64_t run,
                                   int (*fn)(void *ctx, const char *family, const char *problem,
                                             int status, int32_t since),
                                   void *ctx, xchg_diag *d)
{
    sqlite3 *db = xchg__store_db(s);
    sqlite3_stmt *q = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT pseudonym, problem, status, since FROM family_outcomes WHERE "
                           "run = (SELECT max(run) FROM family_outcomes WHERE run < ?1)",
                           -1, &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading earlier outcomes");
    sqlite3_bind_int64(q, 1, run);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int32_t since =
            sqlite3_column_type(q, 3) == SQLITE_NULL ? XCHG_DATE_NONE : sqlite3_column_int(q, 3);
        if (fn(ctx, (const char *)sqlite3_column_text(q, 0),
               (const char *)sqlite3_column_text(q, 1), sqlite3_column_int(q, 2), since))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading earlier outcomes");
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_prog_save(xchg_store *s, int64_t run, const xchg__prog_state *st, size_t n,
                               const xchg__prog_token *tk, size_t ntok,
                               const xchg_store_outcome *o, size_t no, xchg_diag *d)
{
    sqlite3 *db = xchg__store_db(s);
    sqlite3_stmt *qs = NULL, *qb = NULL, *qo = NULL, *qp = NULL, *qd = NULL;
    sqlite3_stmt *qt = NULL, *qtd = NULL;
    xchg_err e = xchg__store_begin(s, d);
    if (e != XCHG_OK)
        return e;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO family_state(pseudonym, first_run, identified, "
                           "last_run, members, change) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &qs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO family_baseline(pseudonym, problem, criteria) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &qb, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            db,
            "INSERT OR REPLACE INTO family_outcomes(run, pseudonym, problem, status, "
            "baseline, latest, since, criteria) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
            "?8)",
            -1, &qo, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO family_state_persons(pseudonym, person) "
                           "VALUES (?1, ?2)",
                           -1, &qp, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM family_state_persons WHERE pseudonym = ?1", -1, &qd,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM family_state_tokens WHERE pseudonym = ?1", -1, &qtd,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO family_state_tokens(pseudonym, person, key, h0, "
                           "h1) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &qt, NULL) != SQLITE_OK) {
        e = xchg__store_fail(s, d, "saving family state");
        goto done;
    }
    for (size_t i = 0; i < n && e == XCHG_OK; i++) {
        sqlite3_reset(qd);
        sqlite3_bind_text(qd, 1, st[i].pseudonym, -1, SQLITE_STATIC);
        if (e == XCHG_OK && sqlite3_step(qd) != SQLITE_DONE)
            e = xchg__store_fail(s, d, "saving family members");
        sqlite3_reset(qtd);
        sqlite3_bind_text(qtd, 1, st[i].pseudonym, -1, SQLITE_STATIC);
        if (e == XCHG_OK && sqlite3_step(qtd) != SQLITE_DONE)
            e = xchg__store_fail(s, d, "saving family members' tokens");
        for (size_t k = 0; k < st[i].npersons && e == XCHG_OK; k++) {
            sqlite3_reset(qp);
            sqlite3_bind_text(qp, 1, st[i].pseudonym, -1, SQLITE_STATIC);
            sqlite3_bind_text(qp, 2, st[i].persons[k], -1, SQLITE_STATIC);
            if (sqlite3_step(qp) != SQLITE_DONE)
                e = xchg__store_fail(s, d, "saving family members");
        }
        if (e != XCHG_OK)
            break;
        sqlite3_reset(qs);
        sqlite3_bind_text(qs, 1, st[i].pseudonym, -1, SQLITE_STATIC);
        sqlite3_bind_int64(qs, 2, st[i].first_run);
        sqlite3_bind_int(qs, 3, st[i].identified);
        sqlite3_bind_int64(qs, 4, st[i].last_run);
        sqlite3_bind_text(qs, 5, st[i].members, -1, SQLITE_STATIC);
        sqlite3_bind_int(qs, 6, st[i].change);
        if (sqlite3_step(qs) != SQLITE_DONE) {
            e = xchg__store_fail(s, d, "saving family state");
            break;
        }
        /* the baseline: "code=criteria code=criteria" */
        char buf[sizeof st[i].baseline];
        snprintf(buf, sizeof buf, "%s", st[i].baseline);
        for (char *tok = strtok(buf, " "); tok && e == XCHG_OK; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            if (!eq)
                continue;
            *eq = '\0';
            sqlite3_reset(qb);
            sqlite3_bind_text(qb, 1, st[i].pseudonym, -1, SQLITE_STATIC);
            sqlite3_bind_text(qb, 2, tok, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(qb, 3, eq + 1, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(qb) != SQLITE_DONE)
                e = xchg__store_fail(s, d, "saving a family's baseline");
        }
    }
    for (size_t i = 0; i < ntok && e == XCHG_OK; i++) {
        sqlite3_reset(qt);
        sqlite3_bind_text(qt, 1, tk[i].family, -1, SQLITE_STATIC);
        sqlite3_bind_text(qt, 2, tk[i].person, -1, SQLITE_STATIC);
        sqlite3_bind_int(qt, 3, tk[i].key);
        sqlite3_bind_int64(qt, 4, (sqlite3_int64)tk[i].h0);
        sqlite3_bind_int64(qt, 5, (sqlite3_int64)tk[i].h1);
        if (sqlite3_step(qt) != SQLITE_DONE)
            e = xchg__store_fail(s, d, "saving family members' tokens");
    }
    for (size_t i = 0; i < no && e == XCHG_OK; i++) {
        sqlite3_reset(qo);
        sqlite3_bind_int64(qo, 1, run);
        sqlite3_bind_text(qo, 2, o[i].family, -1, SQLITE_STATIC);
        sqlite3_bind_text(qo, 3, o[i].problem, -1, SQLITE_STATIC);
        sqlite3_bind_int(qo, 4, o[i].status);
        if (isnan(o[i].baseline))
            sqlite3_bind_null(qo, 5);
        else
            sqlite3_bind_double(qo, 5, o[i].baseline);
        if (isnan(o[i].latest))
            sqlite3_bind_null(qo, 6);
        else
            sqlite3_bind_double(qo, 6, o[i].latest);
        if (o[i].since == XCHG_DATE_NONE)
            sqlite3_bind_null(qo, 7);
        else
            sqlite3_bind_int(qo, 7, o[i].since);
        sqlite3_bind_text(qo, 8, o[i].criteria, -1, SQLITE_STATIC);
        if (sqlite3_step(qo) != SQLITE_DONE)
            e = xchg__store_fail(s, d, "saving outcomes");
    }
done:
    sqlite3_finalize(qs);
    sqlite3_finalize(qb);
    sqlite3_finalize(qo);
    sqlite3_finalize(qp);
    sqlite3_finalize(qd);
    sqlite3_finalize(qt);
    sqlite3_finalize(qtd);
    if (e == XCHG_OK)
        return xchg__store_commit(s, d);
    xchg__store_rollback(s);
    return e;
}

xchg_err xchg_store_outcomes(xchg_store *s, int64_t run,
                             int (*fn)(void *ctx, const xchg_store_outcome *o), void *ctx,
                             xchg_diag *d)
{
    if (!s || !fn)
        return XCHG_ERR_ARG;
    if (run <= 0)
        run = xchg__store_latest_run(s);
    if (run <= 0 || !run_exists(s, run)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, xchg__store_path(s), 0, 0,
                      run <= 0 ? "no linkage run yet (xchg match run)" : "no run %lld",
                      (long long)run);
        return XCHG_ERR_NOT_FOUND;
    }
    sqlite3 *db = xchg__store_db(s);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT o.pseudonym, o.problem, o.status, o.baseline, o.latest, "
                           "o.since, o.criteria, s.first_run, s.identified, r.run_date, "
                           "CASE WHEN s.last_run = o.run THEN s.change ELSE 2 END "
                           "FROM family_outcomes o JOIN family_state s ON s.pseudonym = "
                           "o.pseudonym JOIN runs r ON r.id = o.run WHERE o.run = ?1 "
                           "ORDER BY o.pseudonym, o.problem",
                           -1, &q, NULL) != SQLITE_OK)
        return xchg__store_fail(s, d, "reading outcomes");
    sqlite3_bind_int64(q, 1, run);
    xchg_err e = XCHG_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg_store_outcome o;
        memset(&o, 0, sizeof o);
        o.run = run;
        xchg__store_text(o.family, sizeof o.family, q, 0);
        xchg__store_text(o.problem, sizeof o.problem, q, 1);
        o.status = sqlite3_column_int(q, 2);
        o.baseline = sqlite3_column_type(q, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 3);
        o.latest = sqlite3_column_type(q, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 4);
        o.since =
            sqlite3_column_type(q, 5) == SQLITE_NULL ? XCHG_DATE_NONE : sqlite3_column_int(q, 5);
        xchg__store_text(o.criteria, sizeof o.criteria, q, 6);
        o.first_run = sqlite3_column_int64(q, 7);
        o.identified = sqlite3_column_int(q, 8);
        o.judged = sqlite3_column_int(q, 9);
        o.change = sqlite3_column_int(q, 10);
        if (fn(ctx, &o))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading outcomes");
    sqlite3_finalize(q);
    return e;
}

xchg_err xchg__store_family_evidence(xchg_store *s, int64_t run, const char *family,
                                     int (*fn)(void *ctx, const xchg__evidence_record *r),
                                     void *ctx, xchg_diag *d)
{
    sqlite3 *db = xchg__store_db(s);
    sqlite3_stmt *q = NULL, *mq = NULL;
    xchg_err e = XCHG_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT rr.record, p.pseudonym, e.agency, r.ref, r.age, e.sha256 "
                           "FROM families f JOIN run_records rr ON rr.run = f.run AND "
                           "rr.household = f.household JOIN persons p ON p.run = rr.run AND "
                           "p.person = rr.person JOIN records r ON r.id = rr.record JOIN extracts "
                           "e ON e.id = r.extract WHERE f.run = ?1 AND f.pseudonym = ?2 "
                           "ORDER BY p.pseudonym, e.agency, r.ref",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT measure, start, end, value, of FROM measure_events WHERE "
                           "record = ?1 ORDER BY seq",
                           -1, &mq, NULL) != SQLITE_OK) {
        e = xchg__store_fail(s, d, "reading a family's evidence");
        goto done;
    }
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        xchg__evidence_record r;
        memset(&r, 0, sizeof r);
        xchg__store_text(r.person, sizeof r.person, q, 1);
        xchg__store_text(r.agency, sizeof r.agency, q, 2);
        xchg__store_text(r.ref, sizeof r.ref, q, 3);
        r.age = sqlite3_column_type(q, 4) == SQLITE_NULL ? XCHG_AGE_UNKNOWN
                                                         : (uint8_t)sqlite3_column_int(q, 4);
        xchg__store_text(r.extract_sha256, sizeof r.extract_sha256, q, 5);
        sqlite3_reset(mq);
        sqlite3_bind_int64(mq, 1, sqlite3_column_int64(q, 0));
        while (sqlite3_step(mq) == SQLITE_ROW && r.nev < XCHG_RECORD_MAX_INDICATORS) {
            xchg__evidence_event *ev = &r.ev[r.nev++];
            xchg__store_text(ev->measure, sizeof ev->measure, mq, 0);
            ev->start = sqlite3_column_int(mq, 1);
            ev->end = sqlite3_column_int(mq, 2);
            ev->value = sqlite3_column_double(mq, 3);
            ev->of = sqlite3_column_double(mq, 4);
        }
        if (fn(ctx, &r))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = xchg__store_fail(s, d, "reading a family's evidence");
done:
    sqlite3_finalize(q);
    sqlite3_finalize(mq);
    return e;
}

int xchg__store_family_change(xchg_store *s, const char *family, int64_t run)
{
    sqlite3_stmt *q = NULL;
    int c = -1;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT change FROM family_state WHERE pseudonym = ?1 AND last_run = ?2",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, run);
        if (sqlite3_step(q) == SQLITE_ROW)
            c = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    return c;
}
