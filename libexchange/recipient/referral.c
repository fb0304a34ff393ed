/* Opening a referral packet as its recipient (include/exchange/referral.h). */
#include "exchange/referral.h"
#include "exchange/crypto.h"
#include "exchange/packet.h"
#include "exchange/record.h"
#include "exchange/release.h"
#include "exchange/threshold.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct priv {
    xchg_referral r;
    json_t *j; /* the body with "detail" in place of each payload */
};

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static const char *label_of(const xchg_policy_data *pd, const char *id)
{
    for (size_t i = 0; i < pd->nparties; i++)
        if (strcmp(pd->parties[i].id, id) == 0)
            return pd->parties[i].label ? pd->parties[i].label : id;
    return id;
}

/*
 * The release key's outer layer of one record (docs/release.md "The release key"): the
 * packet's contributions for the record, each from an operator whose approval of this
 * packet verified, each proof checked against the operator's verification share in the
 * agreement, at least the threshold of them, combined (Lagrange at 0) into s·R, which
 * opens the wrapped payload w into inner (wl - XCHG_TH_WRAP_OVERHEAD bytes).
 * XCHG_ERR_VERIFY (fatal: the packet is refused, naming the operator) for a contribution
 * that does not verify; XCHG_ERR_DENIED (the record stays closed, *err says why) for too
 * few; XCHG_OK.
 */
static xchg_err unwrap_record(const xchg_policy *p, const xchg_referral *r, json_t *rec,
                              const uint8_t id[XCHG_EXTRACT_ID_BYTES], const uint8_t *w, size_t wl,
                              uint8_t *inner, const char **err, const char *path, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    const xchg_release_key *rk = &pd->release_key;
    const char *ref = str(rec, "ref");
    uint8_t R[XCHG_TH_POINT_BYTES], ctx[XCHG_TH_CTX_BYTES], sR[XCHG_TH_POINT_BYTES];
    uint8_t D[XCHG_TH_MAX_SHARES * XCHG_TH_POINT_BYTES];
    unsigned idx[XCHG_TH_MAX_SHARES];
    size_t n = 0, i;
    json_t *c;
    if (xchg_threshold_wrapped_R(w, wl, R) != XCHG_OK ||
        xchg_threshold_context(xchg_policy_hash(p), rk->deal, id, ref, strlen(ref), ctx) !=
            XCHG_OK) {
        *err = "the record's detail is not sealed under the agreement's release key";
        return XCHG_ERR_DENIED;
    }
    json_array_foreach(json_object_get(rec, "contributions"), i, c)
    {
        const char *op = str(c, "operator"), *dd = str(c, "d"), *pp = str(c, "proof");
        size_t party = xchg_policy_party(p, op);
        int approved = 0;
        for (size_t k = 0; k < r->napprovals; k++)
            approved |= strcmp(r->approvals[k].party, op) == 0;
        const xchg_release_key_share *sh = NULL;
        for (size_t k = 0; party != XCHG_NONE && k < rk->nshares; k++)
            if (rk->shares[k].party == party)
                sh = &rk->shares[k];
        if (!approved || !sh)
            continue; /* not an approving operator of this packet: adds nothing */
        uint8_t proof[XCHG_TH_PROOF_BYTES];
        size_t dl = 0, pl = 0;
        int dup = 0;
        for (size_t k = 0; k < n; k++)
            dup |= idx[k] == sh->index;
        if (dup || n == XCHG_TH_MAX_SHARES)
            continue;
        if (json_integer_value(json_object_get(c, "index")) != (json_int_t)sh->index ||
            xchg_base64_decode(D + n * XCHG_TH_POINT_BYTES, XCHG_TH_POINT_BYTES, &dl, dd,
                               strlen(dd)) != XCHG_OK ||
            dl != XCHG_TH_POINT_BYTES ||
            xchg_base64_decode(proof, sizeof proof, &pl, pp, strlen(pp)) != XCHG_OK ||
            pl != sizeof proof ||
            xchg_threshold_verify_partial(sh->verify, sh->index, R, ctx,
                                          D + n * XCHG_TH_POINT_BYTES, proof) != XCHG_OK) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "operator %s's partial decryption of record %s/%s does not verify "
                          "against their verification share in the agreement (forged or "
                          "altered): the packet is refused",
                          op, str(rec, "agency"), ref);
            return XCHG_ERR_VERIFY;
        }
        idx[n++] = sh->index;
    }
    if (n < rk->threshold) {
        *err = "the approving operators' contributions for this record are missing (fewer than "
               "the agreement's threshold)";
        return XCHG_ERR_DENIED;
    }
    xchg_err e = xchg_threshold_combine(rk->threshold, idx, D, sR);
    if (e == XCHG_OK && xchg_threshold_unwrap(sR, ctx, w, wl, inner) != XCHG_OK)
        e = XCHG_ERR_DENIED;
    xchg_wipe(sR, sizeof sR);
    if (e != XCHG_OK) {
        *err = "the operators' contributions do not open this record's detail (altered)";
        return XCHG_ERR_DENIED;
    }
    return XCHG_OK;
}

/* Decrypt one released record's payload; the fields JSON object or NULL (+ message).
 * *fatal is set for a packet that must be refused as a whole. */
static json_t *open_detail(const xchg_policy *p, const xchg_seckey *k, const xchg_referral *r,
                           json_t *rec, const char **err, xchg_err *fatal, const char *path,
                           xchg_diag *d)
{
    const char *sk = str(rec, "sealed_key"), *pl = str(rec, "payload"),
               *xid = str(rec, "extract_id"), *ref = str(rec, "ref");
    uint8_t sealed[XCHG_PAYLOAD_KEY_BYTES + XCHG_BOX_OVERHEAD], id[XCHG_EXTRACT_ID_BYTES];
    uint8_t *dk = xchg_secure_alloc(XCHG_PAYLOAD_KEY_BYTES);
    size_t n = 0, plen = strlen(pl), cl = 0;
    uint8_t *c = malloc(plen + 1), *pt = NULL;
    json_t *out = NULL;
    *err = "out of memory";
    if (!dk || !c)
        goto done;
    if (xchg_base64_decode(sealed, sizeof sealed, &n, sk, strlen(sk)) != XCHG_OK ||
        n != sizeof sealed || xchg_hex_decode(id, sizeof id, xid, strlen(xid)) != XCHG_OK ||
        xchg_base64_decode(c, plen + 1, &cl, pl, plen) != XCHG_OK || cl < XCHG_PAYLOAD_OVERHEAD) {
        *err = "the packet's copy of this record is malformed";
        goto done;
    }
    if (xchg_policy_get(p)->release_key.present) {
        /* the outer layer first: it needs the operators' contributions */
        uint8_t *inner = cl >= XCHG_TH_WRAP_OVERHEAD ? malloc(cl - XCHG_TH_WRAP_OVERHEAD + 1) : NULL;
        xchg_err ue = inner ? unwrap_record(p, r, rec, id, c, cl, inner, err, path, d)
                            : XCHG_ERR_DENIED;
        if (!inner && cl >= XCHG_TH_WRAP_OVERHEAD)
            *err = "out of memory";
        else if (!inner)
            *err = "the packet's copy of this record is malformed";
        if (ue == XCHG_ERR_VERIFY)
            *fatal = ue;
        if (ue != XCHG_OK) {
            free(inner);
            goto done;
        }
        free(c);
        c = inner;
        cl -= XCHG_TH_WRAP_OVERHEAD;
        if (cl < XCHG_PAYLOAD_OVERHEAD) {
            *err = "the packet's copy of this record is malformed";
            goto done;
        }
    }
    if (xchg_box_open(k, sealed, n, dk) != XCHG_OK) {
        *err = "the agency's data key does not open with this key";
        goto done;
    }
    pt = malloc(cl - XCHG_PAYLOAD_OVERHEAD + 1);
    if (!pt ||
        xchg_payload_decrypt(dk, xchg_policy_hash(p), id, ref, strlen(ref), c, cl, pt) != XCHG_OK) {
        *err = "the detail does not authenticate (altered, or moved from another record)";
        goto done;
    }
    json_t *all = json_loadb((const char *)pt, cl - XCHG_PAYLOAD_OVERHEAD, 0, NULL);
    xchg_wipe(pt, cl - XCHG_PAYLOAD_OVERHEAD);
    out = all ? json_incref(json_object_get(all, "fields")) : NULL;
    json_decref(all);
    if (!out)
        *err = "the detail is not JSON";
done:
    xchg_secure_free(dk);
    free(c);
    free(pt);
    return out;
}

/* Verify the approvals a packet carries; fills r->approvals with the valid ones. */
static xchg_err check_approvals(const xchg_policy *p, json_t *j, xchg_referral *r, const char *path,
                                xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    json_t *members = json_object_get(j, "members");
    size_t nm = json_array_size(members), i;
    const char **persons = malloc((nm ? nm : 1) * sizeof *persons);
    json_t *x;
    if (!persons)
        return XCHG_ERR_NOMEM;
    json_array_foreach(members, i, x) persons[i] = str(x, "person");
    uint8_t digest[XCHG_SHA256_BYTES];
    xchg_err e = xchg_release_members_digest(persons, nm, digest);
    free(persons);
    if (e != XCHG_OK)
        return e;
    json_t *ap = json_object_get(j, "approvals");
    r->approvals = calloc(json_array_size(ap) + 1, sizeof *r->approvals);
    if (!r->approvals)
        return XCHG_ERR_NOMEM;
    size_t ops[16], nops = 0;
    json_array_foreach(ap, i, x)
    {
        const char *kid = str(x, "operator"), *sig = str(x, "signature");
        size_t who = xchg_policy_party_by_keyhex(p, kid, XCHG_ROLE_OPERATOR);
        uint8_t s[XCHG_RELEASE_SIG_BYTES];
        size_t sl = 0;
        if (who == XCHG_NONE || xchg_base64_decode(s, sizeof s, &sl, sig, strlen(sig)) != XCHG_OK ||
            sl != sizeof s)
            continue;
        /* an approval made in this run, or carried from an earlier one over the same
           member set (the statement binds the members digest and its own run) */
        json_int_t arun = json_integer_value(json_object_get(x, "run"));
        xchg_decision_statement st = {.recipient = r->recipient,
                                      .family = r->family,
                                      .run = arun,
                                      .approve = 1,
                                      .reason = str(x, "reason"),
                                      .time = json_integer_value(json_object_get(x, "time_unix"))};
        memcpy(st.agreement_sha256, xchg_policy_hash(p), XCHG_SHA256_BYTES);
        memcpy(st.members, digest, sizeof digest);
        uint8_t msg[XCHG_RELEASE_STATEMENT_MAX];
        size_t ml;
        if (arun < 1 || arun > r->run || xchg_decision_statement_bytes(&st, msg, &ml) != XCHG_OK ||
            xchg_verify(&pd->parties[who].key, msg, ml, s) != XCHG_OK)
            continue;
        int seen = 0;
        for (size_t k = 0; k < nops; k++)
            seen |= ops[k] == who;
        if (seen || nops == sizeof ops / sizeof ops[0])
            continue;
        ops[nops++] = who;
        xchg_referral_approval *a = &r->approvals[r->napprovals++];
        a->operator_key = kid;
        a->party = pd->parties[who].id;
        a->label = label_of(pd, a->party);
        a->time = str(x, "time");
        a->reason = str(x, "reason");
    }
    if (nops < pd->approvals_required) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the packet carries %zu valid approval%s of this family by the agreement's "
                      "operators; the agreement requires %u: it was not released under the "
                      "two-person rule",
                      nops, nops == 1 ? "" : "s", pd->approvals_required);
        return XCHG_ERR_DENIED;
    }
    return XCHG_OK;
}

static xchg_err fill(const xchg_policy *p, const xchg_seckey *k, struct priv *pv, const char *path,
                     xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    xchg_referral *r = &pv->r;
    json_t *j = pv->j;
    json_int_t ver = json_integer_value(json_object_get(j, "version"));
    if (ver != 2 && ver != 3) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "packet format version %lld: made before packets carried the operators' "
                      "signed approvals; ask the matcher for a new packet",
                      (long long)ver);
        return XCHG_ERR_VERSION;
    }
    /* version 3 carries the operators' release-key contributions; it is the only version
       an agreement with a release key accepts, and only such an agreement accepts it */
    if ((ver == 3) != (pd->release_key.present != 0)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "packet format version %lld, but agreement '%s' %s a release key",
                      (long long)ver, pd->id, pd->release_key.present ? "has" : "has no");
        return XCHG_ERR_VERSION;
    }
    r->packet_id = str(j, "packet_id");
    r->created = str(j, "created");
    r->recipient = str(j, "recipient");
    r->family = str(j, "family");
    r->run = json_integer_value(json_object_get(j, "run"));
    r->window_ends = str(json_object_get(j, "evidence"), "window_ends");
    r->rule_at_least =
        (long)json_integer_value(json_object_get(json_object_get(j, "rule"), "at_least"));
    xchg_err e = check_approvals(p, j, r, path, d);
    if (e != XCHG_OK)
        return e;
    json_t *probs = json_object_get(j, "problems"), *members = json_object_get(j, "members"), *x;
    size_t i;
    r->problems = calloc(json_array_size(probs) + 1, sizeof *r->problems);
    r->members = calloc(json_array_size(members) + 1, sizeof *r->members);
    if (!r->problems || !r->members)
        return XCHG_ERR_NOMEM;
    json_array_foreach(probs, i, x)
    {
        xchg_referral_problem *pr = &r->problems[r->nproblems++];
        pr->code = str(x, "code");
        pr->title = str(x, "title");
        pr->first = str(x, "first");
        pr->last = str(x, "last");
        json_t *ag = json_object_get(x, "agencies"), *a;
        size_t ai;
        pr->agencies = calloc(json_array_size(ag) + 1, sizeof *pr->agencies);
        if (!pr->agencies)
            return XCHG_ERR_NOMEM;
        json_array_foreach(ag, ai, a) if (json_string_value(a)) pr->agencies[pr->nagencies++] =
            json_string_value(a);
    }
    unsigned held = 0;
    json_array_foreach(members, i, x)
    {
        xchg_referral_member *m = &r->members[r->nmembers++];
        m->person = str(x, "person");
        m->notice = json_string_value(json_object_get(x, "notice"));
        json_t *recs = json_object_get(x, "records"), *w = json_object_get(x, "withheld"), *y;
        size_t ri;
        m->records = calloc(json_array_size(recs) + 1, sizeof *m->records);
        m->withheld = calloc(json_array_size(w) + 1, sizeof *m->withheld);
        if (!m->records || !m->withheld)
            return XCHG_ERR_NOMEM;
        json_array_foreach(recs, ri, y)
        {
            xchg_referral_record *rec = &m->records[m->nrecords++];
            held++;
            rec->agency = str(y, "agency");
            rec->agency_label = label_of(pd, rec->agency);
            rec->ref = str(y, "ref");
            rec->consent = str(y, "consent");
            rec->basis = str(y, "basis_for_release");
            const char *err = NULL;
            xchg_err fatal = XCHG_OK;
            json_t *det = open_detail(p, k, r, y, &err, &fatal, path, d);
            if (fatal != XCHG_OK)
                return fatal;
            json_object_del(y, "sealed_key");
            json_object_del(y, "payload");
            json_object_del(y, "contributions");
            if (!det) {
                json_object_set_new(y, "error", json_string(err));
                rec->error = str(y, "error");
                r->errors++;
                continue;
            }
            json_object_set_new(y, "detail", det);
            rec->fields = calloc(json_object_size(det) + 1, sizeof *rec->fields);
            if (!rec->fields)
                return XCHG_ERR_NOMEM;
            const char *fk;
            json_t *fv;
            json_object_foreach(det, fk, fv)
            {
                rec->fields[rec->nfields].name = fk;
                rec->fields[rec->nfields++].value =
                    json_string_value(fv) ? json_string_value(fv) : "";
            }
        }
        json_array_foreach(w, ri, y)
        {
            xchg_referral_withheld *wh = &m->withheld[m->nwithheld++];
            wh->agency = str(y, "agency");
            wh->agency_label = label_of(pd, wh->agency);
            wh->ref = str(y, "ref");
            wh->reason = str(y, "reason");
        }
    }
    json_t *counts = json_object_get(j, "counts");
    r->records_released = held;
    if (json_integer_value(json_object_get(counts, "released")) != (json_int_t)held ||
        json_integer_value(json_object_get(counts, "members")) != (json_int_t)r->nmembers) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the packet states %lld released records and %lld members but holds %u "
                      "and %zu",
                      (long long)json_integer_value(json_object_get(counts, "released")),
                      (long long)json_integer_value(json_object_get(counts, "members")), held,
                      r->nmembers);
        return XCHG_ERR_FORMAT;
    }
    return XCHG_OK;
}

xchg_err xchg_referral_open(const xchg_agreement *agr, const xchg_seckey *recipient,
                            const char *path, xchg_referral **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !recipient || !path || !out)
        return XCHG_ERR_ARG;
    char *body = NULL;
    xchg_err e = xchg_packet_open(agr, recipient, path, &body, d);
    if (e != XCHG_OK)
        return e;
    struct priv *pv = calloc(1, sizeof *pv);
    if (!pv) {
        xchg_wipe(body, strlen(body));
        free(body);
        return XCHG_ERR_NOMEM;
    }
    pv->j = json_loads(body, 0, NULL);
    xchg_wipe(body, strlen(body));
    free(body);
    if (!pv->j || !json_is_object(pv->j)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "packet body is not a JSON object");
        e = XCHG_ERR_FORMAT;
    } else {
        e = fill(p, recipient, pv, path, d);
    }
    if (e != XCHG_OK) {
        xchg_referral_free(&pv->r);
        return e;
    }
    *out = &pv->r;
    return XCHG_OK;
}

char *xchg_referral_to_json(const xchg_referral *r)
{
    const struct priv *pv = (const struct priv *)r;
    return r ? json_dumps(pv->j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
}

/* Overwrite every string of the tree before it is freed: the detail is personal data. */
static void wipe_json(json_t *j)
{
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) wipe_json(v);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) wipe_json(v);
    } else if (json_is_string(j)) {
        xchg_wipe((char *)json_string_value(j), json_string_length(j));
    }
}

void xchg_referral_free(xchg_referral *r)
{
    if (!r)
        return;
    struct priv *pv = (struct priv *)r;
    for (size_t i = 0; r->problems && i < r->nproblems; i++)
        free(r->problems[i].agencies);
    for (size_t i = 0; r->members && i < r->nmembers; i++) {
        for (size_t k = 0; k < r->members[i].nrecords; k++)
            free(r->members[i].records[k].fields);
        free(r->members[i].records);
        free(r->members[i].withheld);
    }
    free(r->problems);
    free(r->members);
    free(r->approvals);
    wipe_json(pv->j);
    json_decref(pv->j);
    free(pv);
}
