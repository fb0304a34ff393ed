/*
 * Clerical review: operators' signed decisions that two records are, or are not, one
 * person (xchg_matcher_review in matcher.h), and their use by every later run.
 *
 * Statement (Ed25519 by the operator's key):
 *   "exchange review decision v1\0" | agreement sha256 | for each record in (agency, ref)
 *   byte order: u8 len agency | agency | u16le len ref | ref | 'S' same / 'D' different |
 *   u16le len reason | reason | i64le time
 * Decisions name records by the agency's reference, so they survive re-ingests and
 * supersession: a run maps each to the active version's row.
 */
#include "exchange/crypto.h"
#include "exchange/link.h"
#include "matcher_internal.h"
#include "store_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char review_ctx[] = "exchange review decision v1";

#define REVIEW_STATEMENT_MAX                                                                       \
    (sizeof review_ctx + 32 + 2 * (1 + XCHG_PARTY_ID_MAX + 2 + XCHG_RECORD_MAX_REF) + 1 + 2 +      \
     XCHG_RELEASE_REASON_MAX + 8)

static int pair_order(const char *aa, const char *ra, const char *ab, const char *rb)
{
    int c = strcmp(aa, ab);
    return c ? c : strcmp(ra, rb);
}

static void put_str(uint8_t *out, size_t *o, const char *s, int wide)
{
    size_t n = strlen(s);
    out[(*o)++] = (uint8_t)(n & 0xff);
    if (wide)
        out[(*o)++] = (uint8_t)(n >> 8);
    memcpy(out + *o, s, n);
    *o += n;
}

/* the statement for row r (already in pair order); 0 when a field is too long */
static size_t statement(const xchg_policy *p, const xchg__review_row *r, uint8_t *out)
{
    if (strlen(r->agency_a) > XCHG_PARTY_ID_MAX || strlen(r->agency_b) > XCHG_PARTY_ID_MAX ||
        strlen(r->ref_a) > XCHG_RECORD_MAX_REF || strlen(r->ref_b) > XCHG_RECORD_MAX_REF ||
        strlen(r->reason) > XCHG_RELEASE_REASON_MAX)
        return 0;
    size_t o = 0;
    memcpy(out, review_ctx, sizeof review_ctx);
    o += sizeof review_ctx;
    memcpy(out + o, xchg_policy_hash(p), 32);
    o += 32;
    put_str(out, &o, r->agency_a, 0);
    put_str(out, &o, r->ref_a, 1);
    put_str(out, &o, r->agency_b, 0);
    put_str(out, &o, r->ref_b, 1);
    out[o++] = r->same ? 'S' : 'D';
    put_str(out, &o, r->reason, 1);
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)((uint64_t)r->time >> (8 * i));
    return o;
}

static int verifies(const xchg_policy *p, const xchg__review_row *r)
{
    size_t who = xchg_policy_party_by_keyhex(p, r->operator_kid, XCHG_ROLE_OPERATOR);
    uint8_t msg[REVIEW_STATEMENT_MAX];
    size_t ml = statement(p, r, msg);
    return who != XCHG_NONE && ml && r->siglen == 64 &&
           xchg_verify(&xchg_policy_get(p)->parties[who].key, msg, ml, r->signature) == XCHG_OK;
}

/* The row for a decision on two records, in pair order. */
static int review_row(xchg__review_row *r, const char *agency_a, const char *ref_a,
                      const char *agency_b, const char *ref_b, int same, const char *reason,
                      int64_t time)
{
    memset(r, 0, sizeof *r);
    int swap = pair_order(agency_a, ref_a, agency_b, ref_b) > 0;
    const char *ag[2] = {agency_a, agency_b}, *rf[2] = {ref_a, ref_b};
    if (strlen(agency_a) > XCHG_PARTY_ID_MAX || strlen(agency_b) > XCHG_PARTY_ID_MAX ||
        strlen(ref_a) > XCHG_RECORD_MAX_REF || strlen(ref_b) > XCHG_RECORD_MAX_REF ||
        strlen(reason) > XCHG_RELEASE_REASON_MAX)
        return -1;
    snprintf(r->agency_a, sizeof r->agency_a, "%s", ag[swap]);
    snprintf(r->ref_a, sizeof r->ref_a, "%s", rf[swap]);
    snprintf(r->agency_b, sizeof r->agency_b, "%s", ag[!swap]);
    snprintf(r->ref_b, sizeof r->ref_b, "%s", rf[!swap]);
    r->same = same ? 1 : 0;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    r->time = time;
    return 0;
}

xchg_err xchg_review_sign(const xchg_agreement *agr, const xchg_seckey *op, const char *agency_a,
                          const char *ref_a, const char *agency_b, const char *ref_b, int same,
                          const char *reason, int64_t time, uint8_t sig[XCHG_RELEASE_SIG_BYTES])
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !op || !agency_a || !ref_a || !agency_b || !ref_b || !reason || !sig)
        return XCHG_ERR_ARG;
    xchg__review_row r;
    uint8_t msg[REVIEW_STATEMENT_MAX];
    size_t ml = 0;
    if (pair_order(agency_a, ref_a, agency_b, ref_b) == 0 ||
        review_row(&r, agency_a, ref_a, agency_b, ref_b, same, reason, time) != 0 ||
        !(ml = statement(p, &r, msg)))
        return XCHG_ERR_ARG;
    xchg_sign(op, msg, ml, sig);
    return XCHG_OK;
}

struct review_seen {
    const xchg__review_row *r;
    int newer, same_sig;
};

static int review_seen_row(void *ctx, const xchg__review_row *x)
{
    struct review_seen *s = ctx;
    if (strcmp(x->agency_a, s->r->agency_a) || strcmp(x->ref_a, s->r->ref_a) ||
        strcmp(x->agency_b, s->r->agency_b) || strcmp(x->ref_b, s->r->ref_b))
        return 0;
    if (x->siglen == 64 && sodium_memcmp(x->signature, s->r->signature, 64) == 0)
        s->same_sig = 1;
    if (x->time > s->r->time)
        s->newer = 1;
    return 0;
}

/* refuse_replay: refuse a signature stored already, or a decision older than the pair's
 * newest (which would otherwise win as the newest row) — a request from another process */
static xchg_err review_submit(xchg_matcher *m, const char *operator_kid, const char *agency_a,
                              const char *ref_a, const char *agency_b, const char *ref_b, int same,
                              const char *reason, int64_t time, const uint8_t *sig, int64_t now,
                              int refuse_replay, xchg_diag *d)
{
    if (!m || !operator_kid || !agency_a || !ref_a || !agency_b || !ref_b || !reason || !sig)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    size_t who;
    xchg_err ce = xchg__operator_check_kid(m, operator_kid, reason, "decide review pairs", &who, d);
    if (ce != XCHG_OK)
        return ce;
    if (pair_order(agency_a, ref_a, agency_b, ref_b) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "a review decision needs two different records");
        return XCHG_ERR_ARG;
    }
    const char *ag[2] = {agency_a, agency_b}, *rf[2] = {ref_a, ref_b};
    for (int i = 0; i < 2; i++)
        if (strlen(ag[i]) > XCHG_PARTY_ID_MAX || strlen(rf[i]) > XCHG_RECORD_MAX_REF ||
            xchg__store_active_record(m->s, ag[i], rf[i]) == 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the store holds no current record %.64s:%.64s (give AGENCY:REF as "
                          "'xchg match show' lists review pairs)",
                          ag[i], rf[i]);
            return XCHG_ERR_NOT_FOUND;
        }
    if (time < now - XCHG_DECISION_WINDOW || time > now + XCHG_DECISION_WINDOW) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the review decision's time is not within %d s of the matcher's clock "
                      "(stale or replayed)",
                      XCHG_DECISION_WINDOW);
        return XCHG_ERR_DENIED;
    }
    xchg__review_row r;
    if (review_row(&r, agency_a, ref_a, agency_b, ref_b, same, reason, time) != 0)
        return XCHG_ERR_ARG;
    uint8_t id[16];
    xchg_random(id, sizeof id);
    xchg_hex_encode(r.decision_id, id, sizeof id);
    snprintf(r.operator_kid, sizeof r.operator_kid, "%s", operator_kid);
    snprintf(r.party, sizeof r.party, "%s", pd->parties[who].id);
    memcpy(r.signature, sig, 64);
    r.siglen = 64;
    if (!verifies(m->p, &r)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the review decision does not verify with the key of operator '%s': "
                      "nothing is stored",
                      pd->parties[who].id);
        return XCHG_ERR_VERIFY;
    }
    if (refuse_replay) {
        struct review_seen s = {&r, 0, 0};
        xchg_err se = xchg__store_reviews(m->s, review_seen_row, &s, d);
        if (se != XCHG_OK)
            return se;
        if (s.same_sig || s.newer) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          s.same_sig ? "this signed review decision is stored already: a replay "
                                       "is refused"
                                     : "a newer decision on this pair is stored: an older one "
                                       "is refused (replayed or out of order)");
            return XCHG_ERR_DENIED;
        }
    }
    char b64[128];
    xchg_base64_encode(b64, r.signature, 64);
    xchg_err e = xchg__store_begin(m->s, d);
    if (e == XCHG_OK)
        e = xchg__store_review_put(m->s, &r, d);
    if (e == XCHG_OK)
        e = xchg__matcher_audit(
            m, XCHG_AUDIT_REVIEW, pd->parties[who].key.id,
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:I, s:s, s:s}", "decision_id",
                      r.decision_id, "agency_a", xchg__audit_str(r.agency_a), "ref_a",
                      xchg__audit_str(r.ref_a), "agency_b", xchg__audit_str(r.agency_b), "ref_b",
                      xchg__audit_str(r.ref_b), "decision",
                      same ? "same person" : "different people", "reason", xchg__audit_str(reason),
                      "time", (json_int_t)time, "operator_party", r.party, "signature", b64),
            NULL, d);
    if (e == XCHG_OK)
        e = xchg__store_commit(m->s, d);
    else
        xchg__store_rollback(m->s);
    return e;
}

xchg_err xchg_matcher_review_submit(xchg_matcher *m, const char *operator_kid, const char *agency_a,
                                    const char *ref_a, const char *agency_b, const char *ref_b,
                                    int same, const char *reason, int64_t time,
                                    const uint8_t sig[XCHG_RELEASE_SIG_BYTES], int64_t now,
                                    xchg_diag *d)
{
    return review_submit(m, operator_kid, agency_a, ref_a, agency_b, ref_b, same, reason, time, sig,
                         now, 1, d);
}

xchg_err xchg_matcher_review(xchg_matcher *m, const xchg_seckey *op, const char *agency_a,
                             const char *ref_a, const char *agency_b, const char *ref_b, int same,
                             const char *reason, int64_t now, xchg_diag *d)
{
    if (!m || !op || !agency_a || !ref_a || !agency_b || !ref_b || !reason)
        return XCHG_ERR_ARG;
    size_t who;
    xchg_err ce = xchg__operator_check(m, op, reason, "decide review pairs", &who, d);
    if (ce != XCHG_OK)
        return ce;
    if (pair_order(agency_a, ref_a, agency_b, ref_b) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "a review decision needs two different records");
        return XCHG_ERR_ARG;
    }
    uint8_t sig[XCHG_RELEASE_SIG_BYTES];
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(op)->id, kid);
    if (xchg_review_sign(m->agr, op, agency_a, ref_a, agency_b, ref_b, same, reason, now, sig) !=
        XCHG_OK) {
        /* a field too long: the same message as before */
        xchg_diag_add(
            d, XCHG_SEV_ERROR, NULL, 0, 0,
            "the store holds no current record %.64s:%.64s (give AGENCY:REF as "
            "'xchg match show' lists review pairs)",
            strlen(agency_a) > XCHG_PARTY_ID_MAX || strlen(ref_a) > XCHG_RECORD_MAX_REF ? agency_a
                                                                                        : agency_b,
            strlen(agency_a) > XCHG_PARTY_ID_MAX || strlen(ref_a) > XCHG_RECORD_MAX_REF ? ref_a
                                                                                        : ref_b);
        return XCHG_ERR_NOT_FOUND;
    }
    return review_submit(m, kid, agency_a, ref_a, agency_b, ref_b, same, reason, now, sig, now, 0,
                         d);
}

xchg_err xchg__review_roll_forward(xchg_matcher *m, const xchg_audit_entry *e, xchg_diag *d)
{
    json_t *j = json_loads(e->data, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "decision_id"));
    xchg_err rc = XCHG_OK;
    if (id && xchg__store_review_exists(m->s, id) == 0) {
        xchg__review_row r;
        memset(&r, 0, sizeof r);
#define TXT(f, k)                                                                                  \
    snprintf(r.f, sizeof r.f, "%s",                                                                \
             json_string_value(json_object_get(j, k)) ? json_string_value(json_object_get(j, k))   \
                                                      : "")
        TXT(decision_id, "decision_id");
        TXT(agency_a, "agency_a");
        TXT(ref_a, "ref_a");
        TXT(agency_b, "agency_b");
        TXT(ref_b, "ref_b");
        TXT(party, "operator_party");
        TXT(reason, "reason");
#undef TXT
        const char *dec = json_string_value(json_object_get(j, "decision"));
        r.same = dec && strcmp(dec, "same person") == 0;
        snprintf(r.operator_kid, sizeof r.operator_kid, "%s", e->actor ? e->actor : "");
        r.time = json_integer_value(json_object_get(j, "time"));
        const char *sig = json_string_value(json_object_get(j, "signature"));
        size_t n = 0;
        if (sig &&
            xchg_base64_decode(r.signature, sizeof r.signature, &n, sig, strlen(sig)) == XCHG_OK) {
            r.siglen = n;
            rc = xchg__store_review_put(m->s, &r, d); /* verified again by every run */
        }
    }
    json_decref(j);
    return rc;
}

struct load {
    xchg_matcher *m;
    xchg__review_row *rows;
    size_t n, cap, ignored;
    int nomem;
};

static int add_row(void *ctx, const xchg__review_row *r)
{
    struct load *l = ctx;
    if (!verifies(l->m->p, r)) {
        l->ignored++;
        return 0;
    }
    /* the newest decision on a pair wins: replace an earlier one */
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->rows[i].agency_a, r->agency_a) == 0 &&
            strcmp(l->rows[i].ref_a, r->ref_a) == 0 &&
            strcmp(l->rows[i].agency_b, r->agency_b) == 0 &&
            strcmp(l->rows[i].ref_b, r->ref_b) == 0) {
            l->rows[i] = *r;
            return 0;
        }
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        xchg__review_row *nr = realloc(l->rows, nc * sizeof *nr);
        if (!nr) {
            l->nomem = 1;
            return 1;
        }
        l->rows = nr;
        l->cap = nc;
    }
    l->rows[l->n++] = *r;
    return 0;
}

xchg_err xchg__review_load(xchg_matcher *m, xchg_link_decision **out, size_t *n, size_t *ignored,
                           xchg_diag *d)
{
    struct load l = {m, NULL, 0, 0, 0, 0};
    *out = NULL;
    *n = 0;
    xchg_err e = xchg__store_reviews(m->s, add_row, &l, d);
    if (e == XCHG_OK && l.nomem)
        e = XCHG_ERR_NOMEM;
    xchg_link_decision *dec = e == XCHG_OK ? calloc(l.n + 1, sizeof *dec) : NULL;
    if (e == XCHG_OK && !dec)
        e = XCHG_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; e == XCHG_OK && i < l.n; i++) {
        int64_t a = xchg__store_active_record(m->s, l.rows[i].agency_a, l.rows[i].ref_a);
        int64_t b = xchg__store_active_record(m->s, l.rows[i].agency_b, l.rows[i].ref_b);
        if (!a || !b) {
            l.ignored++; /* a record no longer held: the decision has nothing to act on */
            continue;
        }
        dec[k].a = (uint64_t)a;
        dec[k].b = (uint64_t)b;
        dec[k++].same = l.rows[i].same;
    }
    free(l.rows);
    if (e != XCHG_OK) {
        free(dec);
        return e;
    }
    *out = dec;
    *n = k;
    *ignored = l.ignored;
    return XCHG_OK;
}

/* ---- listing (xchg_matcher_review_decisions) ------------------------------------------ */

struct list_ctx {
    const xchg_matcher *m;
    int (*fn)(void *, const xchg_review_decision *);
    void *ctx;
};

static int list_row(void *ctx, const xchg__review_row *r)
{
    struct list_ctx *l = ctx;
    xchg_review_decision dec;
    memset(&dec, 0, sizeof dec);
    snprintf(dec.agency_a, sizeof dec.agency_a, "%s", r->agency_a);
    snprintf(dec.ref_a, sizeof dec.ref_a, "%s", r->ref_a);
    snprintf(dec.agency_b, sizeof dec.agency_b, "%s", r->agency_b);
    snprintf(dec.ref_b, sizeof dec.ref_b, "%s", r->ref_b);
    dec.same = r->same;
    snprintf(dec.operator_party, sizeof dec.operator_party, "%s", r->party);
    snprintf(dec.reason, sizeof dec.reason, "%s", r->reason);
    dec.time = r->time;
    dec.verified = verifies(l->m->p, r);
    return l->fn(l->ctx, &dec);
}

xchg_err xchg_matcher_review_decisions(xchg_matcher *m,
                                       int (*fn)(void *ctx, const xchg_review_decision *dec),
                                       void *ctx, xchg_diag *d)
{
    if (!m || !fn)
        return XCHG_ERR_ARG;
    struct list_ctx l = {m, fn, ctx};
    return xchg__store_reviews(m->s, list_row, &l, d);
}
