/* Release decisions and consent-aware referral packets (include/exchange/release.h). */
#include "exchange/release.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/packet.h"
#include "exchange/record.h"
#include "store_internal.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char decision_ctx[] = "exchange release decision v1";

static xchg_err sqlerr(xchg_store *s, xchg_diag *d, const char *what)
{
    xchg_diag_add(d, XCHG_SEV_ERROR, xchg__store_path(s), 0, 0, "%s: %s", what,
                  sqlite3_errmsg(xchg__store_db(s)));
    return XCHG_ERR_IO;
}

static int64_t latest_run(xchg_store *s)
{
    sqlite3_stmt *q = NULL;
    int64_t run = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s), "SELECT max(id) FROM runs", -1, &q, NULL) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        run = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return run;
}

/* the family in the latest run: eligible flag and problems JSON (malloc'ed, may be NULL) */
static int family_row(xchg_store *s, int64_t run, const char *family, int *eligible,
                      char **problems)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT eligible, problems FROM families WHERE run=? AND pseudonym=?",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        found = 1;
        *eligible = sqlite3_column_int(q, 0);
        if (problems) {
            const char *t = (const char *)sqlite3_column_text(q, 1);
            *problems = t ? strdup(t) : NULL;
        }
    }
    sqlite3_finalize(q);
    return found;
}

static void decision_message(uint8_t *out, size_t *len, const uint8_t *agreement_hash,
                             const char *family, int64_t run, int approve, const char *reason,
                             int64_t t)
{
    size_t o = 0;
    memcpy(out, decision_ctx, sizeof decision_ctx);
    o += sizeof decision_ctx;
    memcpy(out + o, agreement_hash, 32);
    o += 32;
    size_t fl = strlen(family), rl = strlen(reason);
    out[o++] = (uint8_t)fl;
    memcpy(out + o, family, fl);
    o += fl;
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)((uint64_t)run >> (8 * i));
    out[o++] = approve ? 'A' : 'R';
    out[o++] = (uint8_t)(rl & 0xff);
    out[o++] = (uint8_t)(rl >> 8);
    memcpy(out + o, reason, rl);
    o += rl;
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)((uint64_t)t >> (8 * i));
    *len = o;
}

xchg_err xchg_release_decide(xchg_store *s, const xchg_policy *p, const xchg_seckey *op,
                             const char *family, int approve, const char *reason, int64_t now,
                             xchg_diag *d)
{
    if (!s || !p || !op || !family || !reason)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(p);
    size_t who = xchg_policy_party_by_key(p, xchg_seckey_public(op)->id);
    if (who == XCHG_NONE || pd->parties[who].role != XCHG_ROLE_OPERATOR) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "this key is not the key of an operator of agreement '%s' (parties with "
                      "role operator decide on releases)",
                      pd->id);
        return XCHG_ERR_DENIED;
    }
    size_t rl = strlen(reason);
    if (rl == 0 || rl > 1000 || strlen(family) > 23) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      rl == 0 ? "a decision needs a reason (--reason TEXT)"
                              : "the reason is longer than 1000 characters");
        return XCHG_ERR_ARG;
    }
    int64_t run = latest_run(s);
    int eligible = 0;
    int f = run ? family_row(s, run, family, &eligible, NULL) : 0;
    if (f <= 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s is not in the latest linkage run%s", family,
                      run ? "" : " (there is no run yet: xchg match run)");
        return XCHG_ERR_NOT_FOUND;
    }
    if (approve && !eligible) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s does not meet the agreement's rule in the latest run; it cannot "
                      "be approved",
                      family);
        return XCHG_ERR_DENIED;
    }
    uint8_t msg[sizeof decision_ctx + 32 + 1 + 24 + 8 + 1 + 2 + 1000 + 8], sig[64];
    size_t ml;
    decision_message(msg, &ml, xchg_policy_hash(p), family, run, approve, reason, now);
    xchg_sign(op, msg, ml, sig);
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(op)->id, kid);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "INSERT INTO decisions(family, run, operator, party, decision, reason, "
                           "time, signature) VALUES(?,?,?,?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlerr(s, d, "recording the decision");
    sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, run);
    sqlite3_bind_text(q, 3, kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, pd->parties[who].id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, approve ? "approve" : "reject", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, now);
    sqlite3_bind_blob(q, 8, sig, 64, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? XCHG_OK : sqlerr(s, d, "recording the decision");
}

/* approvals for run since the last rejection (distinct operators); fills st */
static xchg_err decisions_state(xchg_store *s, const xchg_policy *p, const char *family,
                                int64_t run, xchg_release_state *st, json_t *approvals,
                                xchg_diag *d)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT operator, party, decision, reason, time, signature FROM "
                           "decisions WHERE family=? AND run=? ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlerr(s, d, "reading decisions");
    sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, run);
    char ops[8][17];
    unsigned nops = 0;
    if (approvals)
        json_array_clear(approvals);
    st->rejected = 0;
    st->last_reason[0] = '\0';
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *op = (const char *)sqlite3_column_text(q, 0);
        const char *party = (const char *)sqlite3_column_text(q, 1);
        const char *dec = (const char *)sqlite3_column_text(q, 2);
        const char *reason = (const char *)sqlite3_column_text(q, 3);
        int64_t t = sqlite3_column_int64(q, 4);
        snprintf(st->last_reason, sizeof st->last_reason, "%s", reason ? reason : "");
        if (dec && strcmp(dec, "reject") == 0) {
            st->rejected = 1;
            nops = 0;
            if (approvals)
                json_array_clear(approvals);
            continue;
        }
        st->rejected = 0;
        int seen = 0;
        for (unsigned i = 0; i < nops; i++)
            seen |= op && strcmp(ops[i], op) == 0;
        if (seen || !op || nops == 8)
            continue;
        snprintf(ops[nops++], sizeof ops[0], "%s", op);
        if (approvals) {
            size_t pi = xchg_policy_party(p, party ? party : "");
            char when[32];
            time_t tt = (time_t)t;
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
            char sig[128];
            xchg_base64_encode(sig, sqlite3_column_blob(q, 5),
                               (size_t)sqlite3_column_bytes(q, 5) > 64 ? 64 : (size_t)sqlite3_column_bytes(q, 5));
            json_array_append_new(
                approvals,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "operator", op, "operator_party",
                          party ? party : "", "operator_label",
                          pi != XCHG_NONE ? xchg_policy_get(p)->parties[pi].label : "", "time", when,
                          "reason", reason ? reason : "", "signature", sig));
        }
    }
    sqlite3_finalize(q);
    st->approvals = nops;
    return XCHG_OK;
}

static unsigned packets_of(xchg_store *s, const char *family)
{
    sqlite3_stmt *q = NULL;
    unsigned n = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s), "SELECT count(*) FROM releases WHERE family=?", -1,
                           &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, family, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW)
            n = (unsigned)sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    return n;
}

xchg_err xchg_release_state_of(xchg_store *s, const xchg_policy *p, const char *family,
                               xchg_release_state *st, xchg_diag *d)
{
    if (!s || !p || !family || !st)
        return XCHG_ERR_ARG;
    memset(st, 0, sizeof *st);
    snprintf(st->family, sizeof st->family, "%s", family);
    st->run = latest_run(s);
    st->required = xchg_policy_get(p)->approvals_required;
    if (!st->run || family_row(s, st->run, family, &st->eligible, NULL) <= 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "family %s is not in the latest linkage run",
                      family);
        return XCHG_ERR_NOT_FOUND;
    }
    st->packets = packets_of(s, family);
    return decisions_state(s, p, family, st->run, st, NULL, d);
}

xchg_err xchg_release_list(xchg_store *s, const xchg_policy *p,
                           int (*fn)(void *, const xchg_release_state *), void *ctx, xchg_diag *d)
{
    int64_t run = latest_run(s);
    if (!run) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "there is no linkage run yet (xchg match run)");
        return XCHG_ERR_NOT_FOUND;
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "SELECT pseudonym FROM families WHERE run=?1 AND (eligible OR pseudonym "
                           "IN (SELECT family FROM decisions)) ORDER BY pseudonym",
                           -1, &q, NULL) != SQLITE_OK)
        return sqlerr(s, d, "listing families");
    sqlite3_bind_int64(q, 1, run);
    xchg_err rc = XCHG_OK;
    while (rc == XCHG_OK && sqlite3_step(q) == SQLITE_ROW) {
        char fam[24];
        snprintf(fam, sizeof fam, "%s", (const char *)sqlite3_column_text(q, 0));
        xchg_release_state st;
        rc = xchg_release_state_of(s, p, fam, &st, d);
        if (rc == XCHG_OK && fn(ctx, &st))
            break;
    }
    sqlite3_finalize(q);
    return rc;
}

/* recipient-specific pseudonym: two recipients cannot join their packets on it */
static void recipient_pseudonym(xchg_store *s, const char *recipient, const char *internal,
                                char prefix, char out[24])
{
    static const char b32[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char msg[160];
    int n = snprintf(msg, sizeof msg, "recipient|%s|%s", recipient, internal);
    uint8_t mac[32];
    xchg_hmac_sha256(xchg_store_pseudonym_key(s), 32, msg, (size_t)(n > 0 ? n : 0), mac);
    uint64_t v;
    memcpy(&v, mac, 8);
    out[0] = prefix;
    out[1] = '-';
    int o = 2;
    for (int i = 0; i < 12; i++) {
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = b32[v & 31];
        v >>= 5;
    }
    out[o] = '\0';
}

static const xchg_consent_rule *consent_rule(const xchg_policy_data *pd, size_t agency)
{
    for (size_t i = 0; i < pd->nconsent; i++)
        if (pd->consent[i].agency == agency && strcmp(pd->consent[i].purpose, XCHG_RELEASE_PURPOSE) == 0)
            return &pd->consent[i];
    return NULL;
}

/* The consent decision for one record: 1 release (why in basis), 0 withhold (why). */
static int may_release(const xchg_policy_data *pd, size_t agency, int consent, int32_t cdate,
                       const char *basis, char *why, size_t whylen)
{
    const xchg_consent_rule *r = consent_rule(pd, agency);
    if (!r) {
        snprintf(why, whylen, "the agreement sets no release rule for this agency");
        return 0;
    }
    if (r->requires == XCHG_REQ_NONE) {
        snprintf(why, whylen, "the agreement's legal basis (no consent needed)");
        return 1;
    }
    if (consent == XCHG_CONSENT_GIVEN) {
        snprintf(why, whylen, "%s",
                 r->requires == XCHG_REQ_EXPLICIT ? "explicit consent recorded"
                                                  : "the person agreed to the referral");
        return 1;
    }
    for (size_t i = 0; basis && *basis && i < r->nunless; i++)
        if (strcmp(basis, r->unless_basis[i]) == 0) {
            snprintf(why, whylen, "recorded legal basis: %s", basis);
            return 1;
        }
    switch (consent) {
    case XCHG_CONSENT_REFUSED:
        snprintf(why, whylen, "consent refused");
        break;
    case XCHG_CONSENT_WITHDRAWN:
        if (cdate != XCHG_DATE_NONE) {
            char dd[11];
            xchg_date_format(cdate, dd);
            snprintf(why, whylen, "consent withdrawn on %s", dd);
        } else {
            snprintf(why, whylen, "consent withdrawn");
        }
        break;
    default:
        snprintf(why, whylen, "consent not yet sought — ask the family");
        break;
    }
    return 0;
}

xchg_err xchg_release_packet(xchg_store *s, const xchg_policy *p, const xchg_seckey *matcher,
                             const char *family, const char *recipient, const char *path,
                             int overwrite, int64_t now, xchg_release_stats *st, xchg_diag *d)
{
    if (!s || !p || !matcher || !family || !recipient || !path)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(p);
    xchg_release_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    size_t rp = xchg_policy_party(p, recipient);
    int listed = 0;
    for (size_t i = 0; rp != XCHG_NONE && i < pd->nrecipients; i++)
        listed |= pd->recipients[i] == rp;
    if (!listed) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "'%s' is not a recipient of agreement '%s'", recipient, pd->id);
        return XCHG_ERR_DENIED;
    }
    xchg_release_state rs;
    xchg_err rc = xchg_release_state_of(s, p, family, &rs, d);
    if (rc != XCHG_OK)
        return rc;
    json_t *approvals = json_array();
    char *problems = NULL;
    json_t *body = NULL;
    sqlite3_stmt *q = NULL;
    char *text = NULL;
    rc = decisions_state(s, p, family, rs.run, &rs, approvals, d);
    if (rc != XCHG_OK)
        goto cleanup;
    rc = XCHG_ERR_DENIED;
    if (!rs.eligible) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s does not meet the agreement's rule; no packet", family);
        goto cleanup;
    }
    if (rs.rejected) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s was rejected (\"%s\"); no packet", family, rs.last_reason);
        goto cleanup;
    }
    if (rs.approvals < pd->approvals_required) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s has %u of the %u approvals the agreement requires (by different "
                      "operators, for the latest run); no packet",
                      family, rs.approvals, pd->approvals_required);
        goto cleanup;
    }
    int eligible;
    if (family_row(s, rs.run, family, &eligible, &problems) <= 0) {
        rc = XCHG_ERR_NOT_FOUND;
        goto cleanup;
    }
    /* problems, with titles */
    json_t *pj = problems ? json_loads(problems, 0, NULL) : json_array(), *probs = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(pj, i, x) {
        const char *code = json_string_value(json_object_get(x, "code"));
        const char *title = code;
        for (size_t k = 0; code && k < pd->nproblems; k++)
            if (strcmp(pd->problems[k].code, code) == 0)
                title = pd->problems[k].title;
        json_t *o = json_deep_copy(x);
        json_object_set_new(o, "title", json_string(title ? title : "?"));
        json_array_append_new(probs, o);
    }
    json_decref(pj);
    /* members and their records, with the consent filter */
    if (sqlite3_prepare_v2(
            xchg__store_db(s),
            "SELECT e.agency, r.ref, p.pseudonym, r.consent, r.consent_date, r.basis, "
            "e.extract_id, r.payload, e.header FROM families f "
            "JOIN run_records rr ON rr.run = f.run AND rr.household = f.household "
            "JOIN records r ON r.id = rr.record JOIN extracts e ON e.id = r.extract "
            "JOIN persons p ON p.run = rr.run AND p.person = rr.person "
            "WHERE f.run = ? AND f.pseudonym = ? ORDER BY p.pseudonym, e.agency, r.ref",
            -1, &q, NULL) != SQLITE_OK) {
        rc = sqlerr(s, d, "reading the family's records");
        json_decref(probs);
        goto cleanup;
    }
    sqlite3_bind_int64(q, 1, rs.run);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    json_t *members = json_array(), *cur = NULL;
    char curp[24] = "";
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(pd->parties[rp].key.id, kid);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *agency = (const char *)sqlite3_column_text(q, 0);
        const char *ref = (const char *)sqlite3_column_text(q, 1);
        const char *person = (const char *)sqlite3_column_text(q, 2);
        int consent = sqlite3_column_int(q, 3);
        int32_t cdate = sqlite3_column_type(q, 4) == SQLITE_NULL ? XCHG_DATE_NONE
                                                                   : (int32_t)sqlite3_column_int(q, 4);
        const char *basis = (const char *)sqlite3_column_text(q, 5);
        const void *xid = sqlite3_column_blob(q, 6);
        int xidl = sqlite3_column_bytes(q, 6);
        const void *payload = sqlite3_column_blob(q, 7);
        int plen = sqlite3_column_bytes(q, 7);
        const char *header = (const char *)sqlite3_column_text(q, 8);
        if (!agency || !ref || !person)
            continue;
        if (strcmp(curp, person) != 0) {
            snprintf(curp, sizeof curp, "%s", person);
            char rp_person[24];
            recipient_pseudonym(s, recipient, person, 'P', rp_person);
            cur = json_pack("{s:s, s:[]}", "person", rp_person, "records");
            json_array_append_new(members, cur);
            st->members++;
        }
        size_t ag = xchg_policy_party(p, agency);
        char why[160];
        int ok = ag != XCHG_NONE && may_release(pd, ag, consent, cdate, basis, why, sizeof why);
        static const char *const cn[] = {"given", "refused", "not sought", "withdrawn"};
        json_t *r = json_pack("{s:s, s:s, s:s}", "agency", agency, "ref", ref, "consent",
                              consent >= 0 && consent < 4 ? cn[consent] : "?");
        /* the recipient's copy of the agency's extract data key, from the extract header */
        const char *sealed = NULL;
        json_t *h = ok ? json_loads(header ? header : "", 0, NULL) : NULL;
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(json_object_get(h, "payload"), "keys"), k, e)
            if (strcmp(json_string_value(json_object_get(e, "key_id")) ? json_string_value(json_object_get(e, "key_id")) : "", kid) == 0)
                sealed = json_string_value(json_object_get(e, "sealed_key"));
        if (ok && (!sealed || !payload || plen <= 0 || xidl != 16)) {
            ok = 0;
            snprintf(why, sizeof why, "the agency sealed no detail for this recipient");
        }
        if (ok) {
            char xhex[33];
            xchg_hex_encode(xhex, xid, 16);
            char *b64 = malloc(xchg_base64_len((size_t)plen));
            if (b64) {
                xchg_base64_encode(b64, payload, (size_t)plen);
                json_object_set_new(r, "released", json_true());
                json_object_set_new(r, "basis_for_release", json_string(why));
                json_object_set_new(r, "extract_id", json_string(xhex));
                json_object_set_new(r, "sealed_key", json_string(sealed));
                json_object_set_new(r, "payload", json_string(b64));
                free(b64);
                st->released++;
            }
        } else {
            json_object_set_new(r, "released", json_false());
            json_object_set_new(r, "withheld", json_string(why));
            st->withheld++;
        }
        json_decref(h);
        json_array_append_new(json_object_get(cur, "records"), r);
        st->records++;
    }
    sqlite3_finalize(q);
    q = NULL;
    uint8_t pid[16];
    randombytes_buf(pid, sizeof pid);
    xchg_hex_encode(st->packet_id, pid, 16);
    recipient_pseudonym(s, recipient, family, 'F', st->family);
    char hex[65], when[32], rd[11];
    xchg_hex_encode(hex, xchg_policy_hash(p), 32);
    time_t tt = (time_t)now;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
    sqlite3_stmt *rq = NULL;
    int32_t run_date = 0;
    if (sqlite3_prepare_v2(xchg__store_db(s), "SELECT run_date FROM runs WHERE id=?", -1, &rq, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(rq, 1, rs.run);
        if (sqlite3_step(rq) == SQLITE_ROW)
            run_date = (int32_t)sqlite3_column_int(rq, 0);
    }
    sqlite3_finalize(rq);
    xchg_date_format(run_date, rd);
    body = json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:I, s:s}, s:s, s:s, s:{s:s}, s:{s:i, s:I},"
                     " s:o, s:o, s:o}",
                     "format", "exchange-referral", "version", 1, "packet_id", st->packet_id,
                     "created", when, "agreement", "id", pd->id, "version", (json_int_t)pd->version,
                     "sha256", hex, "recipient", recipient, "family", st->family, "evidence",
                     "window_ends", rd, "rule", "at_least", (int)pd->rule_at_least, "met",
                     (json_int_t)json_array_size(probs), "problems", probs, "members", members,
                     "approvals", approvals);
    approvals = NULL;
    text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    rc = xchg_packet_seal(p, matcher, rp, text, path, overwrite, d);
    if (rc != XCHG_OK)
        goto cleanup;
    if (sqlite3_prepare_v2(xchg__store_db(s),
                           "INSERT INTO releases(packet_id, family, run, recipient, time, released, "
                           "withheld) VALUES(?,?,?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = sqlerr(s, d, "recording the release");
        goto cleanup;
    }
    sqlite3_bind_text(q, 1, st->packet_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, rs.run);
    sqlite3_bind_text(q, 4, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int(q, 6, (int)st->released);
    sqlite3_bind_int(q, 7, (int)st->withheld);
    if (sqlite3_step(q) != SQLITE_DONE)
        rc = sqlerr(s, d, "recording the release");
cleanup:
    if (q)
        sqlite3_finalize(q);
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    json_decref(body);
    json_decref(approvals);
    free(problems);
    return rc;
}
