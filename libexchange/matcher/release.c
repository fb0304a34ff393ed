/*
 * Release: signed decisions, their verification, and consent-aware referral packets
 * (include/exchange/release.h, the decide/release calls of include/exchange/matcher.h).
 * The store is reached only through its typed calls (store_internal.h).
 */
#include "exchange/release.h"
#include "exchange/consent.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/packet.h"
#include "exchange/record.h"
#include "exchange/threshold.h"
#include "internal.h"
#include "link_internal.h"
#include "matcher_internal.h"
#include "programme.h"
#include "rule.h"
#include "store_internal.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static const char statement_ctx[] = "exchange release decision v2";
static const char members_ctx[] = "exchange release members v1";

/* ---- the statement ----------------------------------------------------------------- */

xchg_err xchg_decision_statement_bytes(const xchg_decision_statement *st, uint8_t *out, size_t *len)
{
    if (!st || !out || !len || !st->recipient || !st->family || !st->reason)
        return XCHG_ERR_ARG;
    size_t rl = strlen(st->recipient), fl = strlen(st->family), ol = strlen(st->reason);
    if (rl == 0 || rl > XCHG_PARTY_ID_MAX || fl == 0 || fl > XCHG_PSEUDONYM_MAX ||
        ol > XCHG_RELEASE_REASON_MAX)
        return XCHG_ERR_ARG;
    size_t o = 0;
    memcpy(out, statement_ctx, sizeof statement_ctx);
    o += sizeof statement_ctx;
    memcpy(out + o, st->agreement_sha256, XCHG_SHA256_BYTES);
    o += XCHG_SHA256_BYTES;
    out[o++] = (uint8_t)rl;
    memcpy(out + o, st->recipient, rl);
    o += rl;
    out[o++] = (uint8_t)fl;
    memcpy(out + o, st->family, fl);
    o += fl;
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)((uint64_t)st->run >> (8 * i));
    memcpy(out + o, st->members, XCHG_SHA256_BYTES);
    o += XCHG_SHA256_BYTES;
    out[o++] = st->approve ? 'A' : 'R';
    out[o++] = (uint8_t)(ol & 0xff);
    out[o++] = (uint8_t)(ol >> 8);
    memcpy(out + o, st->reason, ol);
    o += ol;
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)((uint64_t)st->time >> (8 * i));
    *len = o;
    return XCHG_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

xchg_err xchg_release_members_digest(const char *const *persons, size_t n,
                                     uint8_t out[XCHG_SHA256_BYTES])
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return XCHG_ERR_NOMEM;
    memcpy(sorted, persons, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)members_ctx, sizeof members_ctx);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(sorted[i]);
        uint8_t b = (uint8_t)(l > 255 ? 255 : l);
        crypto_hash_sha256_update(&h, &b, 1);
        crypto_hash_sha256_update(&h, (const uint8_t *)sorted[i], b);
    }
    crypto_hash_sha256_final(&h, out);
    free(sorted);
    return XCHG_OK;
}

int xchg_release_text_ok(const char *s, size_t max, const char **why)
{
    static const char *w;
    if (!why)
        why = &w;
    if (!s || !*s) {
        *why = "a decision needs a reason (--reason TEXT)";
        return 0;
    }
    size_t n = strlen(s);
    if (n > max) {
        *why = "the reason is too long";
        return 0;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (!len || i + len > n) {
            *why = "the reason is not valid UTF-8";
            return 0;
        }
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                *why = "the reason is not valid UTF-8";
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *why = "the reason is not valid UTF-8";
            return 0;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            *why = "the reason holds a control character";
            return 0;
        }
        i += len;
    }
    return 1;
}

/* ---- pseudonyms and members as a recipient sees them --------------------------------- */

/* recipient-specific pseudonym: two recipients cannot join their packets on it */
static void recipient_pseudonym(xchg_store *s, const char *recipient, const char *internal,
                                char prefix, char out[XCHG_PSEUDONYM_MAX + 1])
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "recipient|%s|%s", recipient, internal);
    uint8_t mac[32];
    xchg_hmac_sha256(xchg_store_pseudonym_key(s), 32, msg, (size_t)(n > 0 ? n : 0), mac);
    xchg__pseudonym_format(mac, prefix, out);
}

struct persons {
    xchg_store *s;
    const char *recipient;
    char (*rp)[XCHG_PSEUDONYM_MAX + 1];
    size_t n, cap;
    int nomem;
};

static int add_person(void *ctx, const char *person)
{
    struct persons *ps = ctx;
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? 2 * ps->cap : 8;
        void *nr = realloc(ps->rp, nc * sizeof *ps->rp);
        if (!nr) {
            ps->nomem = 1;
            return 1;
        }
        ps->rp = nr;
        ps->cap = nc;
    }
    recipient_pseudonym(ps->s, ps->recipient, person, 'P', ps->rp[ps->n++]);
    return 0;
}

/* The members digest of family in run for recipient. */
static xchg_err members_digest(xchg_store *s, int64_t run, const char *family,
                               const char *recipient, uint8_t out[XCHG_SHA256_BYTES], xchg_diag *d)
{
    struct persons ps = {s, recipient, NULL, 0, 0, 0};
    xchg_err e = xchg__store_family_persons(s, run, family, add_person, &ps, d);
    const char **v = NULL;
    if (e == XCHG_OK && ps.nomem)
        e = XCHG_ERR_NOMEM;
    if (e == XCHG_OK && !(v = malloc((ps.n ? ps.n : 1) * sizeof *v)))
        e = XCHG_ERR_NOMEM;
    for (size_t i = 0; e == XCHG_OK && i < ps.n; i++)
        v[i] = ps.rp[i];
    if (e == XCHG_OK)
        e = xchg_release_members_digest(v, ps.n, out);
    free(v);
    free(ps.rp);
    return e;
}

static size_t recipient_party(const xchg_policy *p, const char *recipient)
{
    return recipient ? xchg_policy_recipient(p, recipient) : XCHG_NONE;
}

/* ---- verifying stored decisions ------------------------------------------------------ */

/* What the decisions for one recipient add up to. */
struct tally {
    const xchg_matcher *m;
    const char *recipient;
    char family_rp[XCHG_PSEUDONYM_MAX + 1];
    uint8_t members[XCHG_SHA256_BYTES];
    xchg_release_state *st;
    size_t ops[16];
    unsigned nops;
    uint8_t op_carried[16]; /* ops[i]'s counting approval is from an earlier run */
    json_t *approvals; /* the verified approvals, as a packet carries them (may be NULL) */
    char first_forged[XCHG_RELEASE_ID_HEXLEN + 1];
    char forged_why[120];
    /* every row as it is judged (xchg_matcher_release_decisions), or NULL */
    int (*each)(void *ctx, const xchg_release_decision *dec);
    void *each_ctx;
    int stopped;
    char *forged_detail; /* the packet's: a release-key contribution that does not verify */
};

/* Tell t->each about row r (verified: its signature verifies; current: it is about the
 * family's present members). Non-zero stops the listing. */
static int report_row(struct tally *t, const xchg__decision *r, int verified, int current)
{
    if (!t->each || t->stopped)
        return t->stopped;
    xchg_release_decision dec;
    memset(&dec, 0, sizeof dec);
    snprintf(dec.decision_id, sizeof dec.decision_id, "%s", r->decision_id);
    snprintf(dec.operator_party, sizeof dec.operator_party, "%s", r->party);
    snprintf(dec.operator_kid, sizeof dec.operator_kid, "%s", r->operator_kid);
    size_t who = xchg_policy_party_by_keyhex(t->m->p, r->operator_kid, XCHG_ROLE_OPERATOR);
    const char *label = who != XCHG_NONE ? xchg_policy_get(t->m->p)->parties[who].label : NULL;
    snprintf(dec.operator_label, sizeof dec.operator_label, "%s", label ? label : "");
    dec.approve = r->approve;
    dec.run = r->run;
    dec.time = r->time;
    snprintf(dec.reason, sizeof dec.reason, "%s", r->reason);
    dec.verified = verified;
    dec.current = current;
    t->stopped = t->each(t->each_ctx, &dec) != 0;
    return t->stopped;
}

static int verify_row(const struct tally *t, const xchg__decision *r, size_t *op, char *why,
                      size_t whylen)
{
    if (!r->recipient[0]) {
        snprintf(why, whylen, "made before signed statements named their recipient");
        return 0;
    }
    size_t who = xchg_policy_party_by_keyhex(t->m->p, r->operator_kid, XCHG_ROLE_OPERATOR);
    if (who == XCHG_NONE) {
        snprintf(why, whylen, "key %s is not an operator of the agreement", r->operator_kid);
        return 0;
    }
    if (r->siglen != XCHG_RELEASE_SIG_BYTES) {
        snprintf(why, whylen, "its signature is malformed");
        return 0;
    }
    xchg_decision_statement s = {.recipient = t->recipient,
                                 .family = t->family_rp,
                                 .run = r->run,
                                 .approve = r->approve,
                                 .reason = r->reason,
                                 .time = r->time};
    memcpy(s.agreement_sha256, xchg_policy_hash(t->m->p), XCHG_SHA256_BYTES);
    memcpy(s.members, t->members, XCHG_SHA256_BYTES);
    uint8_t msg[XCHG_RELEASE_STATEMENT_MAX];
    size_t ml;
    if (xchg_decision_statement_bytes(&s, msg, &ml) != XCHG_OK ||
        xchg_verify(&xchg_policy_get(t->m->p)->parties[who].key, msg, ml, r->signature) !=
            XCHG_OK) {
        snprintf(why, whylen, "its signature does not verify with the key of operator '%s'",
                 xchg_policy_get(t->m->p)->parties[who].id);
        return 0;
    }
    *op = who;
    return 1;
}

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

static int tally_row(void *ctx, const xchg__decision *r)
{
    struct tally *t = ctx;
    xchg_release_state *st = t->st;
    size_t who;
    char why[120];
    if (r->run != st->run) {
        /* an earlier run's decision counts only over exactly the members the family has
           now; one about another member set is history, not a forgery */
        char hex[2 * XCHG_SHA256_BYTES + 1];
        xchg_hex_encode(hex, t->members, XCHG_SHA256_BYTES);
        if (strcmp(hex, r->members) != 0)
            return report_row(t, r, 0, 0);
    }
    if (!verify_row(t, r, &who, why, sizeof why)) {
        /* a row that does not verify counts for nothing, and is reported */
        if (!st->forged++) {
            snprintf(t->first_forged, sizeof t->first_forged, "%s", r->decision_id);
            snprintf(t->forged_why, sizeof t->forged_why, "%s", why);
        }
        return report_row(t, r, 0, 1);
    }
    if (report_row(t, r, 1, 1))
        return 1;
    snprintf(st->last_reason, sizeof st->last_reason, "%s", r->reason);
    if (!r->approve) {
        st->rejected = 1;
        t->nops = 0;
        st->carried = 0;
        if (t->approvals)
            json_array_clear(t->approvals);
        return 0;
    }
    st->rejected = 0;
    for (unsigned i = 0; i < t->nops; i++)
        if (t->ops[i] == who) {
            if (t->op_carried[i] && r->run == st->run) { /* renewed on this run */
                t->op_carried[i] = 0;
                st->carried--;
            }
            return 0;
        }
    if (t->nops == sizeof t->ops / sizeof t->ops[0])
        return 0;
    t->op_carried[t->nops] = r->run != st->run;
    t->ops[t->nops++] = who;
    st->carried += r->run != st->run;
    if (t->approvals) {
        const xchg_party *pa = &xchg_policy_get(t->m->p)->parties[who];
        char when[32], sig[XCHG_RELEASE_SIG_BYTES * 2];
        iso_time(r->time, when);
        xchg_base64_encode(sig, r->signature, XCHG_RELEASE_SIG_BYTES);
        json_array_append_new(t->approvals,
                              json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "operator",
                                        r->operator_kid, "operator_party", pa->id, "operator_label",
                                        pa->label ? pa->label : "", "time", when, "time_unix",
                                        (json_int_t)r->time, "reason", r->reason, "signature", sig,
                                        "run", (json_int_t)r->run));
    }
    return 0;
}

static int releasable(const xchg_policy *p, const xchg__family_record *r, size_t *ag, char *why,
                      size_t whylen);

/* Counting the releasable records the approving operators' stored contributions do not
 * cover (a record version that arrived after their approvals: xchg_release_state.uncovered).
 * Stored rows are counted, not verified: the packet verifies each before it is made. */
struct cover {
    const xchg_matcher *m;
    const size_t *ops;
    unsigned nops, threshold, have, uncovered;
    char deal[2 * XCHG_TH_DEAL_BYTES + 1];
};

static int cover_one(void *ctx, const xchg__contribution *c)
{
    struct cover *k = ctx;
    size_t party = xchg_policy_party(k->m->p, c->party);
    for (unsigned i = 0; i < k->nops; i++)
        if (k->ops[i] == party) {
            k->have++; /* one stored row per operator, record and deal */
            break;
        }
    return 0;
}

static int cover_record(void *ctx, const xchg__family_record *r)
{
    struct cover *k = ctx;
    size_t ag;
    char why[160];
    uint8_t R[XCHG_TH_POINT_BYTES];
    if (!releasable(k->m->p, r, &ag, why, sizeof why) || !r->payload || !r->payload_len ||
        xchg_threshold_wrapped_R(r->payload, r->payload_len, R) != XCHG_OK)
        return 0; /* withheld anyway, or nothing a contribution could open */
    k->have = 0;
    if (xchg__store_contributions(k->m->s, r->extract_id, r->ref, k->deal, cover_one, k, NULL) !=
        XCHG_OK)
        return 1;
    k->uncovered += k->have < k->threshold;
    return 0;
}

/* The state of family in the latest run as seen by recipient (the first recipient when
 * NULL), counting only decisions that verify. */
static xchg_err state_for_each(xchg_matcher *m, const char *family, const char *recipient,
                               xchg_release_state *st, json_t *approvals, struct tally *tout,
                               int (*each)(void *, const xchg_release_decision *),
                               void *each_ctx, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    memset(st, 0, sizeof *st);
    snprintf(st->family, sizeof st->family, "%s", family);
    st->required = pd->approvals_required;
    st->run = xchg__store_latest_run(m->s);
    int f = st->run ? xchg__store_family_in_run(m->s, st->run, family, &st->eligible) : 0;
    if (f < 0)
        return XCHG_ERR_IO;
    if (f == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "family %s is not in the latest linkage run%s",
                      family, st->run ? "" : " (there is no run yet: xchg match run)");
        return XCHG_ERR_NOT_FOUND;
    }
    st->packets = xchg__store_release_count(m->s, family);
    st->change = xchg__store_family_change(m->s, family, st->run);
    if (!recipient && pd->nrecipients)
        recipient = pd->parties[pd->recipients[0]].id;
    if (!recipient)
        return XCHG_OK;
    struct tally local, *t = tout ? tout : &local;
    memset(t, 0, sizeof *t);
    t->m = m;
    t->recipient = recipient;
    t->st = st;
    t->approvals = approvals;
    t->each = each;
    t->each_ctx = each_ctx;
    /* a family no operator has decided on has nothing to verify: its state is complete
       (the members digest is needed only to judge decision rows, or for a packet) */
    if (!tout && !approvals) {
        int any = xchg__store_family_has_decisions(m->s, family);
        if (any < 0)
            return XCHG_ERR_IO;
        if (!any)
            return XCHG_OK;
    }
    recipient_pseudonym(m->s, recipient, family, 'F', t->family_rp);
    xchg_err e = members_digest(m->s, st->run, family, recipient, t->members, d);
    if (e == XCHG_OK)
        e = xchg__store_decisions(m->s, family, st->run, recipient, tally_row, t, d);
    st->approvals = t->nops;
    if (e == XCHG_OK && pd->release_key.present && t->nops && !st->rejected) {
        struct cover k = {.m = m, .ops = t->ops, .nops = t->nops,
                          .threshold = pd->release_key.threshold};
        xchg_hex_encode(k.deal, pd->release_key.deal, XCHG_TH_DEAL_BYTES);
        e = xchg__store_family_records(m->s, st->run, family, NULL, cover_record, &k, d);
        st->uncovered = k.uncovered;
    }
    return e;
}

static xchg_err state_for(xchg_matcher *m, const char *family, const char *recipient,
                          xchg_release_state *st, json_t *approvals, struct tally *tout,
                          xchg_diag *d)
{
    return state_for_each(m, family, recipient, st, approvals, tout, NULL, NULL, d);
}

xchg_err xchg_matcher_release_decisions(xchg_matcher *m, const char *family,
                                        xchg_release_state *st,
                                        int (*fn)(void *ctx, const xchg_release_decision *dec),
                                        void *ctx, xchg_diag *d)
{
    if (!m || !family || !st || !fn)
        return XCHG_ERR_ARG;
    return state_for_each(m, family, NULL, st, NULL, NULL, fn, ctx, d);
}

xchg_err xchg_matcher_release_state(xchg_matcher *m, const char *family, xchg_release_state *st,
                                    xchg_diag *d)
{
    if (!m || !family || !st)
        return XCHG_ERR_ARG;
    return state_for(m, family, NULL, st, NULL, NULL, d);
}

struct list_ctx {
    xchg_matcher *m;
    int (*fn)(void *, const xchg_release_state *);
    void *ctx;
    xchg_diag *d;
    xchg_err e;
};

static int list_one(void *ctx, const char *family)
{
    struct list_ctx *l = ctx;
    xchg_release_state st;
    l->e = state_for(l->m, family, NULL, &st, NULL, NULL, l->d);
    return l->e != XCHG_OK || l->fn(l->ctx, &st);
}

xchg_err xchg_matcher_release_list(xchg_matcher *m,
                                   int (*fn)(void *ctx, const xchg_release_state *st), void *ctx,
                                   xchg_diag *d)
{
    if (!m || !fn)
        return XCHG_ERR_ARG;
    int64_t run = xchg__store_latest_run(m->s);
    if (!run) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "there is no linkage run yet (xchg match run)");
        return XCHG_ERR_NOT_FOUND;
    }
    struct list_ctx l = {m, fn, ctx, d, XCHG_OK};
    xchg_err e = xchg__store_release_candidates(m->s, run, list_one, &l, d);
    return e != XCHG_OK ? e : l.e;
}

/* ---- deciding ------------------------------------------------------------------------ */

xchg_err xchg__operator_check(xchg_matcher *m, const xchg_seckey *op, const char *reason,
                              const char *what, size_t *who, xchg_diag *d)
{
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(op)->id, kid);
    return xchg__operator_check_kid(m, kid, reason, what, who, d);
}

xchg_err xchg__operator_check_kid(xchg_matcher *m, const char *operator_kid, const char *reason,
                                  const char *what, size_t *who, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    *who = xchg_policy_party_by_keyhex(m->p, operator_kid, XCHG_ROLE_OPERATOR);
    if (*who == XCHG_NONE) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "this key is not the key of an operator of agreement '%s' (parties with "
                      "role operator %s)",
                      pd->id, what);
        return XCHG_ERR_DENIED;
    }
    const char *why = NULL;
    if (!xchg_release_text_ok(reason, XCHG_RELEASE_REASON_MAX, &why)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "%s (at most %d bytes of UTF-8 text)", why,
                      XCHG_RELEASE_REASON_MAX);
        return XCHG_ERR_ARG;
    }
    return XCHG_OK;
}

/* ---- release-key contributions ------------------------------------------------------ */

/* The record's release-key context under agreement p (docs/formats.md "Release key"). */
static xchg_err record_ctx(const xchg_policy *p, const uint8_t *extract_id, const char *ref,
                           uint8_t ctx[XCHG_TH_CTX_BYTES])
{
    return xchg_threshold_context(xchg_policy_hash(p), xchg_policy_get(p)->release_key.deal,
                                  extract_id, ref, strlen(ref), ctx);
}

/* The one release rule for a record, shared by the operator's contribution and the
 * packet: the newest version, and consent.c's decision for the purpose referral.
 * 1 releasable; otherwise why says why not. */
static int releasable(const xchg_policy *p, const xchg__family_record *r, size_t *ag, char *why,
                      size_t whylen)
{
    *ag = xchg_policy_party(p, r->agency);
    int ok = r->current && *ag != XCHG_NONE &&
             xchg_consent_decide(p, *ag, XCHG_PURPOSE_REFERRAL, r->consent, r->consent_date,
                                 r->basis, why, whylen);
    if (!r->current)
        snprintf(why, whylen, "no longer in the agency's current extract");
    return ok;
}

/* ---- prepare → sign → submit --------------------------------------------------------- */

static const char request_ctx[] = "exchange decision request v1";

static int fresh(int64_t t, int64_t now)
{
    return t >= now - XCHG_DECISION_WINDOW && t <= now + XCHG_DECISION_WINDOW;
}

struct prep_records {
    const xchg_policy *p;
    json_t *rows;
    uint8_t (*seen)[XCHG_TH_POINT_BYTES];
    size_t nseen, cap;
    xchg_diag *d;
    xchg_err e;
};

/*
 * The family's records that get a release-key contribution (only what consent.c
 * releases, in the wrapped form): extract id, reference and R, in the store's order. A
 * record whose R repeats another's of the family means the store was altered.
 */
static int prep_record(void *ctx, const xchg__family_record *r)
{
    struct prep_records *c = ctx;
    size_t ag;
    char why[160];
    if (!releasable(c->p, r, &ag, why, sizeof why) || !r->payload || !r->payload_len)
        return 0;
    uint8_t R[XCHG_TH_POINT_BYTES];
    if (xchg_threshold_wrapped_R(r->payload, r->payload_len, R) != XCHG_OK)
        return 0; /* sealed before the agreement had its release key: nothing to open */
    for (size_t i = 0; i < c->nseen; i++)
        if (sodium_memcmp(c->seen[i], R, sizeof R) == 0) {
            xchg_diag_add(c->d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "record %s/%s carries the wrapped key of another record of the family: "
                          "the store was altered; nothing is approved",
                          r->agency, r->ref);
            c->e = XCHG_ERR_VERIFY;
            return 1;
        }
    if (c->nseen == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        void *ns = realloc(c->seen, nc * sizeof *c->seen);
        if (!ns) {
            c->e = XCHG_ERR_NOMEM;
            return 1;
        }
        c->seen = ns;
        c->cap = nc;
    }
    memcpy(c->seen[c->nseen++], R, sizeof R);
    char xhex[2 * XCHG_EXTRACT_ID_BYTES + 1], rr[64];
    xchg_hex_encode(xhex, r->extract_id, XCHG_EXTRACT_ID_BYTES);
    xchg_base64_encode(rr, R, sizeof R);
    json_array_append_new(c->rows,
                          json_pack("{s:s, s:s, s:s}", "extract_id", xhex, "ref", r->ref, "R", rr));
    return 0;
}

/* The checks and the request both sides compute from the store: the family in the latest
 * run, its statements per recipient (pseudonym, members digest) and, for a keyed
 * approval, the records to contribute. *out is the request without signatures. */
static xchg_err build_request(xchg_matcher *m, size_t who, const char *family, int approve,
                              const char *reason, int64_t now, json_t **out, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    *out = NULL;
    if (strlen(family) > XCHG_PSEUDONYM_MAX) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "'%.40s' is not a family pseudonym", family);
        return XCHG_ERR_ARG;
    }
    if (pd->nrecipients == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' names no recipient; there is nothing to decide", pd->id);
        return XCHG_ERR_DENIED;
    }
    int64_t run = xchg__store_latest_run(m->s);
    int eligible = 0;
    int f = run ? xchg__store_family_in_run(m->s, run, family, &eligible) : 0;
    if (f <= 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "family %s is not in the latest linkage run%s",
                      family, run ? "" : " (there is no run yet: xchg match run)");
        return f < 0 ? XCHG_ERR_IO : XCHG_ERR_NOT_FOUND;
    }
    if (approve && !eligible) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "family %s does not meet the agreement's rule in the latest run; it cannot "
                      "be approved",
                      family);
        return XCHG_ERR_DENIED;
    }
    char ahex[2 * XCHG_SHA256_BYTES + 1], kid[XCHG_KEYID_HEXLEN + 1];
    xchg_hex_encode(ahex, xchg_policy_hash(m->p), XCHG_SHA256_BYTES);
    xchg_keyid_hex(pd->parties[who].key.id, kid);
    json_t *rq =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "v", request_ctx, "agreement",
                  ahex, "operator", kid, "operator_party", pd->parties[who].id, "family", family,
                  "run", (json_int_t)run, "decision", approve ? "approve" : "reject", "reason",
                  reason, "time", (json_int_t)now);
    json_t *stmts = json_array();
    xchg_err e = rq && stmts ? XCHG_OK : XCHG_ERR_NOMEM;
    for (size_t i = 0; e == XCHG_OK && i < pd->nrecipients; i++) {
        const char *rid = pd->parties[pd->recipients[i]].id;
        uint8_t members[XCHG_SHA256_BYTES];
        char frp[XCHG_PSEUDONYM_MAX + 1], mhex[2 * XCHG_SHA256_BYTES + 1];
        recipient_pseudonym(m->s, rid, family, 'F', frp);
        if ((e = members_digest(m->s, run, family, rid, members, d)) != XCHG_OK)
            break;
        xchg_hex_encode(mhex, members, sizeof members);
        json_array_append_new(
            stmts, json_pack("{s:s, s:s, s:s}", "recipient", rid, "family", frp, "members", mhex));
    }
    if (e == XCHG_OK)
        json_object_set(rq, "statements", stmts);
    if (e == XCHG_OK && approve && pd->release_key.present) {
        struct prep_records c = {.p = m->p, .rows = json_array(), .d = d, .e = XCHG_OK};
        char deal[2 * XCHG_TH_DEAL_BYTES + 1];
        xchg_hex_encode(deal, pd->release_key.deal, XCHG_TH_DEAL_BYTES);
        e = c.rows ? xchg__store_family_records(m->s, run, family, NULL, prep_record, &c, d)
                   : XCHG_ERR_NOMEM;
        if (e == XCHG_OK)
            e = c.e;
        if (e == XCHG_OK)
            json_object_set_new(rq, "contributions",
                                json_pack("{s:s, s:O}", "deal", deal, "records", c.rows));
        json_decref(c.rows);
        free(c.seen);
    }
    json_decref(stmts);
    if (e != XCHG_OK) {
        json_decref(rq);
        return e;
    }
    *out = rq;
    return XCHG_OK;
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

xchg_err xchg_matcher_decision_prepare(xchg_matcher *m, const char *operator_kid,
                                       const char *family, int approve, const char *reason,
                                       int64_t now, char **prepared, xchg_diag *d)
{
    if (!m || !operator_kid || !family || !reason || !prepared)
        return XCHG_ERR_ARG;
    *prepared = NULL;
    size_t who;
    xchg_err ce = xchg__operator_check_kid(m, operator_kid, reason, "decide on releases", &who, d);
    if (ce != XCHG_OK)
        return ce;
    json_t *rq = NULL;
    xchg_err e = build_request(m, who, family, approve, reason, now, &rq, d);
    if (e != XCHG_OK)
        return e;
    *prepared = dump(rq);
    json_decref(rq);
    return *prepared ? XCHG_OK : XCHG_ERR_NOMEM;
}

/* ---- the operator's side ------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Say which field of a decision request is refused, and return e. */
static xchg_err bad(xchg_diag *d, xchg_err e, const char *field, const char *what)
{
    xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "decision request: field '%s' %s", field, what);
    return e;
}

/* The statement of request rq for its i-th entry st (recipient, family, members). */
static xchg_err statement_of(const json_t *rq, const json_t *st, const xchg_policy *p,
                             uint8_t msg[XCHG_RELEASE_STATEMENT_MAX], size_t *ml)
{
    xchg_decision_statement s = {.recipient = jstr(st, "recipient"),
                                 .family = jstr(st, "family"),
                                 .run = json_integer_value(json_object_get(rq, "run")),
                                 .approve = strcmp(jstr(rq, "decision"), "approve") == 0,
                                 .reason = jstr(rq, "reason"),
                                 .time = json_integer_value(json_object_get(rq, "time"))};
    const char *mh = jstr(st, "members");
    memcpy(s.agreement_sha256, xchg_policy_hash(p), XCHG_SHA256_BYTES);
    if (!s.recipient || !s.family || !s.reason || !mh ||
        xchg_hex_decode(s.members, sizeof s.members, mh, strlen(mh)) != XCHG_OK)
        return XCHG_ERR_FORMAT;
    return xchg_decision_statement_bytes(&s, msg, ml);
}

/* The common shape of a request (prepared or signed) under agreement p: version,
 * agreement, operator (a party with role operator: *who), decision, reason, times,
 * statements for exactly p's recipients in order. */
static xchg_err request_shape(const xchg_policy *p, const json_t *rq, size_t *who, int *approve,
                              xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(p);
    char ahex[2 * XCHG_SHA256_BYTES + 1];
    xchg_hex_encode(ahex, xchg_policy_hash(p), XCHG_SHA256_BYTES);
    const char *v = jstr(rq, "v"), *a = jstr(rq, "agreement"), *op = jstr(rq, "operator");
    const char *dec = jstr(rq, "decision"), *why = NULL;
    json_t *st = json_object_get(rq, "statements");
    if (!json_is_object(rq) || !v || strcmp(v, request_ctx) != 0)
        return bad(d, XCHG_ERR_FORMAT, "v", "is not \"exchange decision request v1\"");
    if (!a || strcmp(a, ahex) != 0)
        return bad(d, XCHG_ERR_DENIED, "agreement", "names another agreement");
    if (!op || (*who = xchg_policy_party_by_keyhex(p, op, XCHG_ROLE_OPERATOR)) == XCHG_NONE)
        return bad(d, XCHG_ERR_DENIED, "operator", "is not an operator of the agreement");
    if (!jstr(rq, "family") || strlen(jstr(rq, "family")) > XCHG_PSEUDONYM_MAX)
        return bad(d, XCHG_ERR_FORMAT, "family", "is not a family pseudonym");
    if (!dec || (strcmp(dec, "approve") != 0 && strcmp(dec, "reject") != 0))
        return bad(d, XCHG_ERR_FORMAT, "decision", "is not approve or reject");
    *approve = strcmp(dec, "approve") == 0;
    if (!xchg_release_text_ok(jstr(rq, "reason"), XCHG_RELEASE_REASON_MAX, &why))
        return bad(d, XCHG_ERR_ARG, "reason", why ? why : "is not acceptable text");
    if (!json_is_integer(json_object_get(rq, "run")) ||
        json_integer_value(json_object_get(rq, "run")) <= 0)
        return bad(d, XCHG_ERR_FORMAT, "run", "is not a run number");
    if (!json_is_integer(json_object_get(rq, "time")))
        return bad(d, XCHG_ERR_FORMAT, "time", "is not Unix seconds");
    if (!json_is_array(st) || json_array_size(st) != pd->nrecipients)
        return bad(d, XCHG_ERR_FORMAT, "statements", "does not hold one statement per recipient");
    for (size_t i = 0; i < pd->nrecipients; i++) {
        const char *r = jstr(json_array_get(st, i), "recipient");
        if (!r || strcmp(r, pd->parties[pd->recipients[i]].id) != 0)
            return bad(d, XCHG_ERR_FORMAT, "statements",
                       "does not name the agreement's recipients in order");
    }
    return XCHG_OK;
}

xchg_err xchg_decision_sign(const xchg_agreement *agr, const xchg_seckey *op,
                            const xchg_release_share *share, const char *prepared,
                            const char *family, int approve, const char *reason, int64_t now,
                            char **signed_request, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !op || !prepared || !family || !reason || !signed_request)
        return XCHG_ERR_ARG;
    *signed_request = NULL;
    const xchg_policy_data *pd = xchg_policy_get(p);
    json_error_t je;
    json_t *rq = json_loads(prepared, JSON_REJECT_DUPLICATES, &je);
    size_t who = XCHG_NONE;
    int ap = 0;
    xchg_err e = rq ? request_shape(p, rq, &who, &ap, d) : XCHG_ERR_FORMAT;
    if (!rq)
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, je.line, je.column, "decision request: %s", je.text);
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(op)->id, kid);
    /* the operator signs only what it asked for: its own key, family, decision and
       reason, at about its own time */
    if (e == XCHG_OK && strcmp(jstr(rq, "operator"), kid) != 0)
        e = bad(d, XCHG_ERR_DENIED, "operator", "is another operator's key");
    if (e == XCHG_OK && (strcmp(jstr(rq, "family"), family) != 0 || ap != (approve != 0) ||
                         strcmp(jstr(rq, "reason"), reason) != 0))
        e = bad(d, XCHG_ERR_DENIED, "family",
                "or its decision or reason is not what this operator decided");
    if (e == XCHG_OK && !fresh(json_integer_value(json_object_get(rq, "time")), now))
        e = bad(d, XCHG_ERR_DENIED, "time",
                "is not within the freshness window of this operator's clock");
    json_t *co = e == XCHG_OK ? json_object_get(rq, "contributions") : NULL;
    int keyed = ap && pd->release_key.present;
    if (e == XCHG_OK && !keyed && co)
        e = bad(d, XCHG_ERR_FORMAT, "contributions",
                "is present where no release-key share is asked for");
    if (e == XCHG_OK && keyed && !json_is_array(json_object_get(co, "records")))
        e = bad(d, XCHG_ERR_FORMAT, "contributions",
                "is missing for an approval under a release key");
    const xchg_release_key *rk = &pd->release_key;
    if (e == XCHG_OK && keyed) {
        size_t k = rk->nshares;
        for (size_t i = 0; share && i < rk->nshares; i++)
            if (rk->shares[i].party == who &&
                rk->shares[i].index == xchg_release_share_index(share) &&
                xchg_threshold_share_matches(xchg_release_share_scalar(share),
                                             rk->shares[i].verify) == XCHG_OK)
                k = i;
        if (k == rk->nshares) {
            if (share)
                xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                              "this share is not operator %s's share of agreement '%s''s "
                              "release key",
                              pd->parties[who].id, pd->id);
            else
                xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                              "agreement '%s' has a release key: operator %s's approval must "
                              "carry their share's partial decryptions (xchg release approve "
                              "--share FILE)",
                              pd->id, pd->parties[who].id);
            e = XCHG_ERR_DENIED;
        }
        char deal[2 * XCHG_TH_DEAL_BYTES + 1];
        xchg_hex_encode(deal, rk->deal, XCHG_TH_DEAL_BYTES);
        if (e == XCHG_OK && (!jstr(co, "deal") || strcmp(jstr(co, "deal"), deal) != 0))
            e = bad(d, XCHG_ERR_DENIED, "contributions.deal", "is not the agreement's deal");
        json_t *recs = json_object_get(co, "records");
        for (size_t i = 0; e == XCHG_OK && i < json_array_size(recs); i++) {
            json_t *r = json_array_get(recs, i);
            const char *x = jstr(r, "extract_id"), *ref = jstr(r, "ref"), *rb = jstr(r, "R");
            uint8_t xid[XCHG_EXTRACT_ID_BYTES], R[XCHG_TH_POINT_BYTES], ctx[XCHG_TH_CTX_BYTES];
            uint8_t D[XCHG_TH_POINT_BYTES], proof[XCHG_TH_PROOF_BYTES];
            size_t rl = 0;
            if (!x || !ref || !rb || xchg_hex_decode(xid, sizeof xid, x, strlen(x)) != XCHG_OK ||
                xchg_base64_decode(R, sizeof R, &rl, rb, strlen(rb)) != XCHG_OK || rl != sizeof R) {
                e = bad(d, XCHG_ERR_FORMAT, "contributions.records", "holds a malformed record");
                break;
            }
            if ((e = xchg_threshold_context(xchg_policy_hash(p), rk->deal, xid, ref, strlen(ref),
                                            ctx)) != XCHG_OK ||
                (e = xchg_threshold_partial(xchg_release_share_scalar(share),
                                            xchg_release_share_index(share), R, ctx, D, proof)) !=
                    XCHG_OK)
                break;
            char dd[64], pp[128];
            xchg_base64_encode(dd, D, sizeof D);
            xchg_base64_encode(pp, proof, sizeof proof);
            json_object_set_new(r, "d", json_string(dd));
            json_object_set_new(r, "proof", json_string(pp));
        }
        if (e == XCHG_OK)
            json_object_set_new(co, "index", json_integer(xchg_release_share_index(share)));
    }
    json_t *st = json_object_get(rq, "statements");
    for (size_t i = 0; e == XCHG_OK && i < json_array_size(st); i++) {
        uint8_t msg[XCHG_RELEASE_STATEMENT_MAX], sig[XCHG_RELEASE_SIG_BYTES];
        size_t ml;
        if ((e = statement_of(rq, json_array_get(st, i), p, msg, &ml)) != XCHG_OK) {
            bad(d, e, "statements", "holds a malformed statement");
            break;
        }
        xchg_sign(op, msg, ml, sig);
        char sb[XCHG_RELEASE_SIG_BYTES * 2];
        xchg_base64_encode(sb, sig, sizeof sig);
        json_object_set_new(json_array_get(st, i), "signature", json_string(sb));
    }
    if (e == XCHG_OK && !(*signed_request = dump(rq)))
        e = XCHG_ERR_NOMEM;
    json_decref(rq);
    return e;
}

/* ---- the matcher's side: verify and store -------------------------------------------- */

struct replay {
    const uint8_t *sig;
    int seen;
};

static int replay_row(void *ctx, const xchg__decision *r)
{
    struct replay *x = ctx;
    if (r->siglen == XCHG_RELEASE_SIG_BYTES &&
        sodium_memcmp(r->signature, x->sig, XCHG_RELEASE_SIG_BYTES) == 0)
        x->seen = 1;
    return x->seen;
}

/* refuse_replay: a signature stored already is refused (a request from another process);
 * the one-call path, whose operator signs in this process, stores a repeat as it always
 * did (it counts once). */
static xchg_err submit(xchg_matcher *m, const char *signed_request, int64_t now, int refuse_replay,
                       xchg_diag *d)
{
    if (!m || !signed_request)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    json_error_t je;
    json_t *rq = json_loads(signed_request, JSON_REJECT_DUPLICATES, &je), *want = NULL;
    size_t who = XCHG_NONE;
    int approve = 0;
    xchg_err e = rq ? request_shape(m->p, rq, &who, &approve, d) : XCHG_ERR_FORMAT;
    if (!rq)
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, je.line, je.column, "decision request: %s", je.text);
    const char *family = e == XCHG_OK ? jstr(rq, "family") : NULL;
    const char *reason = e == XCHG_OK ? jstr(rq, "reason") : NULL;
    int64_t run = e == XCHG_OK ? json_integer_value(json_object_get(rq, "run")) : 0;
    int64_t t = e == XCHG_OK ? json_integer_value(json_object_get(rq, "time")) : 0;
    if (e == XCHG_OK && !fresh(t, now))
        e = bad(d, XCHG_ERR_DENIED, "time",
                "is not within the freshness window of the matcher's clock (stale "
                "or replayed)");
    /* a decision for an earlier run is refused as such, whatever that run made of the
       family (it may be in no run since) */
    int64_t latest = e == XCHG_OK ? xchg__store_latest_run(m->s) : 0;
    if (e == XCHG_OK && latest != run) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the decision is for run %lld of family %s; the latest run is %lld: "
                      "prepare it again",
                      (long long)run, family, (long long)latest);
        e = XCHG_ERR_DENIED;
    }
    /* what the store says the statements must be, now */
    if (e == XCHG_OK)
        e = build_request(m, who, family, approve, reason, t, &want, d);
    const xchg_pubkey *opk = who != XCHG_NONE ? &pd->parties[who].key : NULL;
    json_t *st = json_object_get(rq, "statements"), *ws = json_object_get(want, "statements");
    uint8_t sigs[16][XCHG_RELEASE_SIG_BYTES];
    if (e == XCHG_OK && json_array_size(st) > 16)
        e = bad(d, XCHG_ERR_FORMAT, "statements", "holds too many statements");
    for (size_t i = 0; e == XCHG_OK && i < json_array_size(st); i++) {
        json_t *s = json_array_get(st, i), *w = json_array_get(ws, i);
        const char *sb = jstr(s, "signature");
        size_t sl = 0;
        uint8_t msg[XCHG_RELEASE_STATEMENT_MAX];
        size_t ml;
        if (!jstr(s, "family") || !jstr(s, "members") ||
            strcmp(jstr(s, "family"), jstr(w, "family")) != 0 ||
            strcmp(jstr(s, "members"), jstr(w, "members")) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the statement for recipient %s is not about family %s's present "
                          "members: nothing is stored",
                          jstr(w, "recipient"), family);
            e = XCHG_ERR_VERIFY;
            break;
        }
        if (!sb || xchg_base64_decode(sigs[i], sizeof sigs[i], &sl, sb, strlen(sb)) != XCHG_OK ||
            sl != XCHG_RELEASE_SIG_BYTES || (e = statement_of(rq, w, m->p, msg, &ml)) != XCHG_OK ||
            xchg_verify(opk, msg, ml, sigs[i]) != XCHG_OK) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the statement for recipient %s does not verify with the key of "
                          "operator '%s': nothing is stored",
                          jstr(w, "recipient"), pd->parties[who].id);
            e = XCHG_ERR_VERIFY;
            break;
        }
        struct replay x = {sigs[i], 0};
        if (refuse_replay && (e = xchg__store_decisions(m->s, family, run, jstr(w, "recipient"),
                                                        replay_row, &x, d)) != XCHG_OK)
            break;
        if (x.seen) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "this signed decision on family %s is stored already: a replay is "
                          "refused",
                          family);
            e = XCHG_ERR_DENIED;
        }
    }
    /* the release key: one verified contribution for exactly the records the store says */
    int keyed = approve && pd->release_key.present;
    const xchg_release_key *rk = &pd->release_key;
    const xchg_release_key_share *sh = NULL;
    json_t *co = json_object_get(rq, "contributions"), *recs = json_object_get(co, "records");
    json_t *wrecs = json_object_get(json_object_get(want, "contributions"), "records");
    if (e == XCHG_OK && !keyed && co)
        e = bad(d, XCHG_ERR_FORMAT, "contributions", "is present where none is asked for");
    if (e == XCHG_OK && keyed) {
        for (size_t i = 0; i < rk->nshares; i++)
            if (rk->shares[i].party == who)
                sh = &rk->shares[i];
        json_int_t idx = json_integer_value(json_object_get(co, "index"));
        if (!sh || idx != (json_int_t)sh->index) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "agreement '%s' has a release key: operator %s's approval must carry "
                          "their share's partial decryptions (xchg release approve --share FILE)",
                          pd->id, pd->parties[who].id);
            e = XCHG_ERR_DENIED;
        } else if (!json_is_array(recs) || json_array_size(recs) != json_array_size(wrecs)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the approval's contributions are not for exactly the records of "
                          "family %s that are released: nothing is stored",
                          family);
            e = XCHG_ERR_VERIFY;
        }
    }
    char deal[2 * XCHG_TH_DEAL_BYTES + 1] = "";
    if (keyed)
        xchg_hex_encode(deal, rk->deal, XCHG_TH_DEAL_BYTES);
    xchg__decision row;
    memset(&row, 0, sizeof row);
    uint8_t id[16];
    xchg_random(id, sizeof id);
    xchg_hex_encode(row.decision_id, id, sizeof id);
    json_t *audit_recs = json_array();
    xchg__contribution *cv = NULL;
    size_t ncv = json_array_size(wrecs);
    if (e == XCHG_OK && keyed && ncv && !(cv = calloc(ncv, sizeof *cv)))
        e = XCHG_ERR_NOMEM;
    for (size_t i = 0; e == XCHG_OK && keyed && i < ncv; i++) {
        json_t *r = json_array_get(recs, i), *w = json_array_get(wrecs, i);
        const char *x = jstr(w, "extract_id"), *ref = jstr(w, "ref"), *rb = jstr(w, "R");
        const char *db = jstr(r, "d"), *pb = jstr(r, "proof");
        uint8_t R[XCHG_TH_POINT_BYTES], ctx[XCHG_TH_CTX_BYTES];
        size_t l1 = 0, l2 = 0, l3 = 0;
        xchg__contribution *c = &cv[i];
        int ok =
            jstr(r, "extract_id") && jstr(r, "ref") && db && pb &&
            strcmp(jstr(r, "extract_id"), x) == 0 && strcmp(jstr(r, "ref"), ref) == 0 &&
            xchg_hex_decode(c->extract_id, sizeof c->extract_id, x, strlen(x)) == XCHG_OK &&
            xchg_base64_decode(R, sizeof R, &l1, rb, strlen(rb)) == XCHG_OK &&
            xchg_base64_decode(c->D, sizeof c->D, &l2, db, strlen(db)) == XCHG_OK &&
            xchg_base64_decode(c->proof, sizeof c->proof, &l3, pb, strlen(pb)) == XCHG_OK &&
            l1 == sizeof R && l2 == sizeof c->D && l3 == sizeof c->proof &&
            record_ctx(m->p, c->extract_id, ref, ctx) == XCHG_OK &&
            xchg_threshold_verify_partial(sh->verify, sh->index, R, ctx, c->D, c->proof) == XCHG_OK;
        if (!ok) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "operator %s's contribution for record %s of family %s does not "
                          "verify: nothing is stored",
                          pd->parties[who].id, ref, family);
            e = XCHG_ERR_VERIFY;
            break;
        }
        snprintf(c->ref, sizeof c->ref, "%s", ref);
        snprintf(c->party, sizeof c->party, "%s", pd->parties[who].id);
        snprintf(c->deal, sizeof c->deal, "%s", deal);
        snprintf(c->decision_id, sizeof c->decision_id, "%s", row.decision_id);
        c->index = sh->index;
        json_array_append_new(audit_recs, json_pack("{s:s, s:o, s:s, s:s}", "extract_id", x, "ref",
                                                    xchg__audit_str(ref), "d", db, "proof", pb));
    }
    /* stored and audited exactly as a one-process decision always was */
    snprintf(row.family, sizeof row.family, "%s", family ? family : "");
    row.run = run;
    snprintf(row.operator_kid, sizeof row.operator_kid, "%s",
             e == XCHG_OK ? jstr(rq, "operator") : "");
    snprintf(row.party, sizeof row.party, "%s", who != XCHG_NONE ? pd->parties[who].id : "");
    row.approve = approve;
    snprintf(row.reason, sizeof row.reason, "%s", reason ? reason : "");
    row.time = t;
    row.siglen = XCHG_RELEASE_SIG_BYTES;
    json_t *stmts = json_array();
    int began = 0;
    if (e == XCHG_OK && (e = xchg__store_begin(m->s, d)) == XCHG_OK)
        began = 1;
    for (size_t i = 0; e == XCHG_OK && i < json_array_size(st); i++) {
        json_t *w = json_array_get(ws, i);
        snprintf(row.recipient, sizeof row.recipient, "%s", jstr(w, "recipient"));
        snprintf(row.members, sizeof row.members, "%s", jstr(w, "members"));
        memcpy(row.signature, sigs[i], XCHG_RELEASE_SIG_BYTES);
        if ((e = xchg__store_decision_put(m->s, &row, d)) != XCHG_OK)
            break;
        json_array_append_new(stmts, json_pack("{s:s, s:s, s:s}", "recipient", row.recipient,
                                               "members", row.members, "signature",
                                               jstr(json_array_get(st, i), "signature")));
    }
    if (e == XCHG_OK && keyed) {
        /* what would open a record's superseded versions is not kept */
        e = xchg__store_contributions_prune(m->s, d);
        for (size_t i = 0; e == XCHG_OK && i < ncv; i++)
            e = xchg__store_contribution_put(m->s, &cv[i], d);
    }
    if (e == XCHG_OK) {
        /* the audit entry holds everything the rows hold: written before COMMIT, and
           rolled forward into the store by xchg_matcher_open should the commit not happen */
        json_t *entry =
            json_pack("{s:s, s:s, s:I, s:s, s:o, s:I, s:s, s:O}", "decision_id", row.decision_id,
                      "family", family, "run", (json_int_t)run, "decision",
                      approve ? "approve" : "reject", "reason", xchg__audit_str(reason), "time",
                      (json_int_t)t, "operator_party", row.party, "statements", stmts);
        if (keyed && entry)
            json_object_set_new(entry, "contributions",
                                json_pack("{s:s, s:i, s:O}", "deal", deal, "index", (int)sh->index,
                                          "records", audit_recs));
        e = xchg__matcher_audit(m, approve ? XCHG_AUDIT_APPROVE : XCHG_AUDIT_REJECT, opk->id, entry,
                                NULL, d);
    }
    json_decref(stmts);
    json_decref(audit_recs);
    json_decref(want);
    json_decref(rq);
    if (cv)
        sodium_memzero(cv, ncv * sizeof *cv);
    free(cv);
    if (began) {
        if (e == XCHG_OK)
            e = xchg__store_commit(m->s, d);
        else
            xchg__store_rollback(m->s);
    }
    return e;
}

xchg_err xchg_matcher_decision_submit(xchg_matcher *m, const char *signed_request, int64_t now,
                                      xchg_diag *d)
{
    return submit(m, signed_request, now, 1, d);
}

xchg_err xchg_matcher_decide(xchg_matcher *m, const xchg_seckey *op, const char *family,
                             int approve, const char *reason, int64_t now, xchg_diag *d)
{
    return xchg_matcher_decide_share(m, op, NULL, family, approve, reason, now, d);
}

xchg_err xchg_matcher_decide_share(xchg_matcher *m, const xchg_seckey *op,
                                   const xchg_release_share *share, const char *family, int approve,
                                   const char *reason, int64_t now, xchg_diag *d)
{
    if (!m || !op || !family || !reason)
        return XCHG_ERR_ARG;
    size_t who;
    xchg_err e = xchg__operator_check(m, op, reason, "decide on releases", &who, d);
    if (e != XCHG_OK)
        return e;
    char kid[XCHG_KEYID_HEXLEN + 1], *prepared = NULL, *signed_request = NULL;
    xchg_keyid_hex(xchg_seckey_public(op)->id, kid);
    e = xchg_matcher_decision_prepare(m, kid, family, approve, reason, now, &prepared, d);
    if (e == XCHG_OK)
        e = xchg_decision_sign(m->agr, op, share, prepared, family, approve, reason, now,
                               &signed_request, d);
    if (e == XCHG_OK)
        e = submit(m, signed_request, now, 0, d);
    free(prepared);
    free(signed_request);
    return e;
}

/* ---- renewing approvals under a release key --------------------------------------- */

struct renew_rows {
    xchg_release_decision *v;
    size_t n, cap;
    int nomem;
};

static int renew_row(void *ctx, const xchg_release_decision *dec)
{
    struct renew_rows *r = ctx;
    if (xchg__link_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v)) {
        r->nomem = 1;
        return 1;
    }
    r->v[r->n++] = *dec;
    return 0;
}

struct renew_list {
    char (*fam)[XCHG_PSEUDONYM_MAX + 1];
    size_t n, cap;
    int nomem;
};

static int renew_candidate(void *ctx, const xchg_release_state *st)
{
    struct renew_list *l = ctx;
    if (!st->uncovered || st->rejected || !st->eligible)
        return 0;
    if (xchg__link_grow((void **)&l->fam, &l->cap, l->n + 1, sizeof *l->fam)) {
        l->nomem = 1;
        return 1;
    }
    snprintf(l->fam[l->n++], sizeof l->fam[0], "%s", st->family);
    return 0;
}

xchg_err xchg_matcher_renew(xchg_matcher *m, const xchg_seckey *op,
                            const xchg_release_share *share, int64_t now,
                            void (*each)(void *ctx, const char *family, xchg_err result),
                            void *ctx, xchg_renew_stats *stats, xchg_diag *d)
{
    if (!m || !op || !stats)
        return XCHG_ERR_ARG;
    memset(stats, 0, sizeof *stats);
    size_t who;
    xchg_err e = xchg__operator_check(m, op, "renew", "renew approvals", &who, d);
    if (e != XCHG_OK)
        return e;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    if (!pd->release_key.present) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' has no release key: approvals carry across runs as they "
                      "are, there is nothing to renew",
                      pd->id);
        return XCHG_ERR_DENIED;
    }
    struct renew_list l = {0};
    e = xchg_matcher_release_list(m, renew_candidate, &l, d);
    if (e == XCHG_OK && l.nomem)
        e = XCHG_ERR_NOMEM; /* the list stopped early: renewing part of it would look whole */
    struct renew_rows r = {0};
    for (size_t i = 0; e == XCHG_OK && i < l.n; i++) {
        xchg_release_state st;
        r.n = 0;
        if ((e = xchg_matcher_release_decisions(m, l.fam[i], &st, renew_row, &r, d)) != XCHG_OK)
            break;
        if (r.nomem) {
            e = XCHG_ERR_NOMEM;
            break;
        }
        /* the queue's rule (queue.c): only what this operator approved before and has not
           approved on this run; a renewal is never a first decision */
        xchg_queue_entry q;
        xchg_queue_judge(&st, r.v, r.n, pd->parties[who].id, &q);
        if (!q.renewable_by_me) {
            stats->skipped++;
            continue;
        }
        const xchg_release_decision *mine = NULL; /* my latest counting approval */
        for (size_t k = 0; k < r.n; k++)
            if (r.v[k].verified && r.v[k].current && r.v[k].approve &&
                strcmp(r.v[k].operator_party, pd->parties[who].id) == 0)
                mine = &r.v[k];
        const char *was = mine ? mine->reason : "";
        char reason[XCHG_RELEASE_REASON_MAX + 1];
        size_t keep = strlen(was);
        if (keep > 400) { /* room for the prefix; cut on a character boundary */
            keep = 400;
            while (keep && ((unsigned char)was[keep] & 0xc0) == 0x80)
                keep--;
        }
        snprintf(reason, sizeof reason, "renewed for run %lld (approved in run %lld: %.*s)",
                 (long long)st.run, (long long)(mine ? mine->run : 0), (int)keep, was);
        xchg_err one = xchg_matcher_decide_share(m, op, share, l.fam[i], 1, reason, now, d);
        if (one == XCHG_OK)
            stats->renewed++;
        else
            stats->failed++;
        if (each)
            each(ctx, l.fam[i], one);
        if (one == XCHG_ERR_NOMEM || one == XCHG_ERR_IO) {
            e = one;
            break;
        }
    }
    free(r.v);
    free(l.fam);
    return e;
}

/* ---- roll forward ------------------------------------------------------------------- */

xchg_err xchg__release_roll_forward(xchg_matcher *m, const xchg_audit_entry *e, xchg_diag *d)
{
    json_t *j = json_loads(e->data, 0, NULL);
    xchg_err rc = XCHG_OK;
    if (!j)
        return XCHG_OK;
    if (strcmp(e->type, XCHG_AUDIT_RELEASE) == 0) {
        const char *packet = json_string_value(json_object_get(j, "packet"));
        const char *family = json_string_value(json_object_get(j, "family"));
        const char *to = json_string_value(json_object_get(j, "recipient"));
        json_t *run = json_object_get(j, "run");
        if (packet && family && to && json_is_integer(run) &&
            xchg__store_release_exists(m->s, packet) == 0)
            rc = xchg__store_release_put(
                m->s, packet, family, json_integer_value(run), to, e->time,
                (unsigned)json_integer_value(json_object_get(j, "released")),
                (unsigned)json_integer_value(json_object_get(j, "withheld")), d);
        json_decref(j);
        return rc;
    }
    const char *id = json_string_value(json_object_get(j, "decision_id"));
    if (!id || xchg__store_decision_exists(m->s, id) != 0) {
        json_decref(j);
        return XCHG_OK;
    }
    xchg__decision row;
    memset(&row, 0, sizeof row);
    snprintf(row.decision_id, sizeof row.decision_id, "%s", id);
    snprintf(row.family, sizeof row.family, "%s",
             json_string_value(json_object_get(j, "family")) ?: "");
    row.run = json_integer_value(json_object_get(j, "run"));
    snprintf(row.operator_kid, sizeof row.operator_kid, "%s", e->actor ? e->actor : "");
    snprintf(row.party, sizeof row.party, "%s",
             json_string_value(json_object_get(j, "operator_party")) ?: "");
    row.approve = strcmp(e->type, XCHG_AUDIT_APPROVE) == 0;
    snprintf(row.reason, sizeof row.reason, "%s",
             json_string_value(json_object_get(j, "reason")) ?: "");
    row.time = json_integer_value(json_object_get(j, "time"));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "statements"), i, s)
    {
        const char *sig = json_string_value(json_object_get(s, "signature"));
        size_t n = 0;
        snprintf(row.recipient, sizeof row.recipient, "%s",
                 json_string_value(json_object_get(s, "recipient")) ?: "");
        snprintf(row.members, sizeof row.members, "%s",
                 json_string_value(json_object_get(s, "members")) ?: "");
        if (!sig || xchg_base64_decode(row.signature, sizeof row.signature, &n, sig, strlen(sig)) !=
                        XCHG_OK)
            continue;
        row.siglen = n;
        /* whatever the log says is verified again at release, like any row */
        if ((rc = xchg__store_decision_put(m->s, &row, d)) != XCHG_OK)
            break;
    }
    /* the contributions the approval carried (verified again, like everything, when a
       packet is made and when it is opened) */
    json_t *cj = json_object_get(j, "contributions"), *cr;
    const char *deal = json_string_value(json_object_get(cj, "deal"));
    json_array_foreach(rc == XCHG_OK && deal ? json_object_get(cj, "records") : NULL, i, cr)
    {
        xchg__contribution c;
        memset(&c, 0, sizeof c);
        const char *x = json_string_value(json_object_get(cr, "extract_id"));
        const char *ref = json_string_value(json_object_get(cr, "ref"));
        const char *dd = json_string_value(json_object_get(cr, "d"));
        const char *pp = json_string_value(json_object_get(cr, "proof"));
        size_t dl = 0, pl = 0;
        if (!x || !ref || !dd || !pp ||
            xchg_hex_decode(c.extract_id, sizeof c.extract_id, x, strlen(x)) != XCHG_OK ||
            xchg_base64_decode(c.D, sizeof c.D, &dl, dd, strlen(dd)) != XCHG_OK ||
            xchg_base64_decode(c.proof, sizeof c.proof, &pl, pp, strlen(pp)) != XCHG_OK)
            continue;
        snprintf(c.ref, sizeof c.ref, "%s", ref);
        snprintf(c.deal, sizeof c.deal, "%s", deal);
        snprintf(c.party, sizeof c.party, "%s", row.party);
        snprintf(c.decision_id, sizeof c.decision_id, "%s", row.decision_id);
        c.index = (unsigned)json_integer_value(json_object_get(cj, "index"));
        if ((rc = xchg__store_contribution_put(m->s, &c, d)) != XCHG_OK)
            break;
    }

    json_decref(j);
    return rc;
}

/* ---- the packet body ---------------------------------------------------------------- */

#define WITHHELD_NOTICE                                                                            \
    "Further information about this person is held by an agency of the agreement and can be "      \
    "shared with the family's consent."

struct problem_acc {
    unsigned problem;
    uint32_t agencies; /* party index bits of RELEASED records evidencing it */
    int32_t first, last;
};

struct body {
    xchg_matcher *m;
    const char *recipient;
    char key_id[XCHG_KEYID_HEXLEN + 1];
    int32_t run_date;
    json_t *members; /* array */
    json_t *cur;     /* current member object */
    char curp[XCHG_PSEUDONYM_MAX + 1];
    int cur_notice; /* the member already carries the notice */
    struct problem_acc probs[64];
    size_t nprobs;
    xchg_release_stats *st;
    int nomem;
    /* the release key: the approving operators (party indexes) whose contributions count */
    const size_t *ops;
    unsigned nops;
    char forged[300]; /* a contribution that does not verify: the packet is refused */
};

struct gather {
    struct body *b;
    const xchg__family_record *r;
    const uint8_t *R, *ctx;
    json_t *arr;
    unsigned valid;
    size_t seen[XCHG_TH_MAX_SHARES];
};

/* One stored contribution for a released record: counted only when it is an approving
 * operator's, under their index; verified here (a forged or altered one refuses the
 * packet, naming the operator) and again by the recipient. */
static int gather_one(void *ctx, const xchg__contribution *c)
{
    struct gather *g = ctx;
    struct body *b = g->b;
    const xchg_policy_data *pd = xchg_policy_get(b->m->p);
    const xchg_release_key *rk = &pd->release_key;
    size_t party = xchg_policy_party(b->m->p, c->party);
    int approving = 0;
    for (unsigned i = 0; i < b->nops; i++)
        approving |= b->ops[i] == party;
    const xchg_release_key_share *sh = NULL;
    for (size_t i = 0; i < rk->nshares; i++)
        if (rk->shares[i].party == party)
            sh = &rk->shares[i];
    if (!approving || !sh)
        return 0; /* not an approval of this packet: it adds nothing and is not sent */
    if (c->index != sh->index ||
        xchg_threshold_verify_partial(sh->verify, sh->index, g->R, g->ctx, c->D, c->proof) !=
            XCHG_OK) {
        snprintf(b->forged, sizeof b->forged,
                 "operator %s's contribution for record %s/%s does not verify against their "
                 "verification share (forged or altered in the store)",
                 c->party, g->r->agency, g->r->ref);
        return 1;
    }
    if (g->valid < XCHG_TH_MAX_SHARES)
        g->seen[g->valid++] = party;
    char dd[64], pp[128];
    xchg_base64_encode(dd, c->D, sizeof c->D);
    xchg_base64_encode(pp, c->proof, sizeof c->proof);
    json_array_append_new(g->arr, json_pack("{s:s, s:i, s:s, s:s}", "operator", c->party, "index",
                                            (int)c->index, "d", dd, "proof", pp));
    return 0;
}

/* The approving operators' contributions for a record the consent filter releases:
 * *out (an array) when at least the threshold of them verify; NULL with why when the
 * record cannot be opened (the approvals did not cover it), or b->forged set. */
static json_t *contributions_for(struct body *b, const xchg__family_record *r, char *why,
                                 size_t whylen)
{
    const xchg_release_key *rk = &xchg_policy_get(b->m->p)->release_key;
    uint8_t R[XCHG_TH_POINT_BYTES], ctx[XCHG_TH_CTX_BYTES];
    if (xchg_threshold_wrapped_R(r->payload, r->payload_len, R) != XCHG_OK) {
        snprintf(why, whylen, "the detail was not sealed under the agreement's release key");
        return NULL;
    }
    if (record_ctx(b->m->p, r->extract_id, r->ref, ctx) != XCHG_OK) {
        snprintf(why, whylen, "the record reference is too long");
        return NULL;
    }
    char deal[33];
    xchg_hex_encode(deal, rk->deal, XCHG_TH_DEAL_BYTES);
    struct gather g = {.b = b, .r = r, .R = R, .ctx = ctx, .arr = json_array()};
    if (!g.arr ||
        xchg__store_contributions(b->m->s, r->extract_id, r->ref, deal, gather_one, &g, NULL) !=
            XCHG_OK) {
        b->nomem = 1;
        json_decref(g.arr);
        return NULL;
    }
    if (b->forged[0]) {
        json_decref(g.arr);
        return NULL;
    }
    if (g.valid < rk->threshold) {
        snprintf(why, whylen,
                 "the approving operators' contributions do not cover this record (%u of %u; it "
                 "became releasable after their approval): approve again",
                 g.valid, rk->threshold);
        json_decref(g.arr);
        return NULL;
    }
    return g.arr;
}

static void add_problem(struct body *b, size_t agency, unsigned problem, int32_t start,
                        int32_t end)
{
    struct problem_acc *pa = NULL;
    for (size_t k = 0; k < b->nprobs; k++)
        if (b->probs[k].problem == problem)
            pa = &b->probs[k];
    if (!pa && b->nprobs < sizeof b->probs / sizeof b->probs[0]) {
        pa = &b->probs[b->nprobs++];
        *pa = (struct problem_acc){problem, 0, start, end};
    }
    if (!pa)
        return;
    if (agency < 32)
        pa->agencies |= 1u << agency;
    if (start < pa->first)
        pa->first = start;
    if (end > pa->last)
        pa->last = end;
}

static void add_evidence(struct body *b, size_t agency, const xchg__family_record *r)
{
    const xchg_policy_data *pd = xchg_policy_get(b->m->p);
    for (size_t i = 0; i < r->nind; i++) {
        const xchg__indicator *ev = &r->ind[i];
        if (ev->problem != UINT32_MAX) {
            if (xchg__rule_in_window(pd, ev->problem, ev->start, ev->end, b->run_date))
                add_problem(b, agency, ev->problem, ev->start, ev->end);
            continue;
        }
        /* a measure event evidences each problem whose criteria read it, in their windows */
        size_t m = 0;
        while (m < pd->nmeasures && strcmp(pd->measures[m].name, ev->measure) != 0)
            m++;
        if (m == pd->nmeasures)
            continue;
        for (size_t pr = 0; pr < pd->nproblems; pr++) {
            int used = 0;
            for (size_t c = 0; c < pd->problems[pr].nidentify && !used; c++)
                used = xchg__criterion_uses(&pd->problems[pr].identify[c], (uint8_t)m);
            if (used && ev->end >= xchg__prog_horizon(pd, pr, XCHG_DATE_NONE, b->run_date) &&
                ev->start <= b->run_date)
                add_problem(b, agency, (unsigned)pr, ev->start, ev->end);
        }
    }
}

static int body_record(void *ctx, const xchg__family_record *r)
{
    struct body *b = ctx;
    if (strcmp(b->curp, r->person) != 0) {
        snprintf(b->curp, sizeof b->curp, "%s", r->person);
        char rp[XCHG_PSEUDONYM_MAX + 1];
        recipient_pseudonym(b->m->s, b->recipient, r->person, 'P', rp);
        b->cur = json_pack("{s:s, s:[]}", "person", rp, "records");
        b->cur_notice = 0;
        if (!b->cur || json_array_append_new(b->members, b->cur)) {
            b->nomem = 1;
            return 1;
        }
        b->st->members++;
    }
    size_t ag;
    char why[160];
    /* the consent filter: consent.c decides, on the newest version of the record */
    int ok = releasable(b->m->p, r, &ag, why, sizeof why);
    if (ok && (!r->sealed_key || !r->payload || r->payload_len == 0)) {
        ok = 0;
        snprintf(why, sizeof why, "the agency sealed no detail for this recipient");
    }
    json_t *contrib = NULL;
    if (ok && xchg_policy_get(b->m->p)->release_key.present) {
        contrib = contributions_for(b, r, why, sizeof why);
        if (b->forged[0] || b->nomem)
            return 1;
        ok = contrib != NULL;
    }
    b->st->records++;
    if (!ok) {
        /* Withheld: only what the agency's rule allows is said, never the problem or
           dates; by default one notice per member that names no agency. */
        b->st->withheld++;
        const xchg_consent_rule *cr =
            ag != XCHG_NONE ? xchg_consent_rule_for(b->m->p, ag, XCHG_PURPOSE_REFERRAL) : NULL;
        xchg_withheld_notice how = cr ? cr->withheld : XCHG_WITHHELD_NOTICE;
        if (how == XCHG_WITHHELD_NAMED) {
            json_t *w = json_object_get(b->cur, "withheld");
            if (!w) {
                w = json_array();
                json_object_set_new(b->cur, "withheld", w);
            }
            json_array_append_new(
                w, json_pack("{s:s, s:s, s:s}", "agency", r->agency, "ref", r->ref, "reason", why));
        } else if (how == XCHG_WITHHELD_NOTICE && !b->cur_notice) {
            json_object_set_new(b->cur, "notice", json_string(WITHHELD_NOTICE));
            b->cur_notice = 1;
        }
        return 0;
    }
    static const char *const cn[] = {"given", "refused", "not sought", "withdrawn"};
    char xhex[2 * XCHG_EXTRACT_ID_BYTES + 1];
    xchg_hex_encode(xhex, r->extract_id, XCHG_EXTRACT_ID_BYTES);
    char *b64 = malloc(xchg_base64_len(r->payload_len));
    if (!b64) {
        json_decref(contrib);
        b->nomem = 1;
        return 1;
    }
    xchg_base64_encode(b64, r->payload, r->payload_len);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "agency", r->agency, "ref", r->ref,
                          "consent", r->consent >= 0 && r->consent < 4 ? cn[r->consent] : "?",
                          "basis_for_release", why, "extract_id", xhex, "sealed_key", r->sealed_key,
                          "payload", b64);
    free(b64);
    if (o && contrib)
        json_object_set_new(o, "contributions", contrib);
    else
        json_decref(contrib);
    if (!o || json_array_append_new(json_object_get(b->cur, "records"), o)) {
        b->nomem = 1;
        return 1;
    }
    b->st->released++;
    add_evidence(b, ag, r);
    return 0;
}

static int cmp_problem(const void *x, const void *y)
{
    const struct problem_acc *a = x, *b = y;
    return a->problem < b->problem ? -1 : a->problem > b->problem;
}

/* The packet body (owned by the caller) for family, recipient rp, approvals (consumed). */
static json_t *packet_body(xchg_matcher *m, const char *family, const char *recipient, int64_t run,
                           const struct tally *t, json_t *approvals, int64_t now,
                           xchg_release_stats *st, xchg_diag *d, xchg_err *err)
{
    const char *family_rp = t->family_rp;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    size_t rp = recipient_party(m->p, recipient);
    struct body b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.recipient = recipient;
    b.st = st;
    b.run_date = xchg__store_run_date(m->s, run);
    b.members = json_array();
    b.ops = t->ops;
    b.nops = t->nops;
    xchg_keyid_hex(pd->parties[rp].key.id, b.key_id);
    *err = xchg__store_family_records(m->s, run, family, b.key_id, body_record, &b, d);
    if (*err == XCHG_OK && b.nomem)
        *err = XCHG_ERR_NOMEM;
    if (*err == XCHG_OK && b.forged[0]) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "%s; no packet", b.forged);
        *err = XCHG_ERR_VERIFY;
        snprintf(t->forged_detail, 300, "%s", b.forged);
    }
    if (*err != XCHG_OK) {
        json_decref(b.members);
        json_decref(approvals);
        return NULL;
    }
    /* problems the family was identified on in this run, evidenced by released records
       only, with their agencies and dates (a measure's events are evidence for criteria:
       good attendance is not a problem of its own) */
    xchg_store_family fam;
    int have_fam = xchg_store_family_show(m->s, run, family, &fam, NULL, NULL, NULL, NULL) ==
                   XCHG_OK;
    qsort(b.probs, b.nprobs, sizeof b.probs[0], cmp_problem);
    json_t *probs = json_array();
    for (size_t i = 0; i < b.nprobs; i++) {
        const struct problem_acc *pa = &b.probs[i];
        int identified = 0;
        for (size_t k = 0; have_fam && k < fam.nproblems; k++)
            identified |= strcmp(fam.problems[k].code, pd->problems[pa->problem].code) == 0;
        if (!identified)
            continue;
        json_t *ag = json_array();
        for (size_t k = 0; k < pd->nparties && k < 32; k++)
            if (pa->agencies & (1u << k))
                json_array_append_new(ag, json_string(pd->parties[k].id));
        char first[11], last[11];
        xchg_date_format(pa->first, first);
        xchg_date_format(pa->last, last);
        json_array_append_new(probs, json_pack("{s:s, s:s, s:o, s:s, s:s}", "code",
                                               pd->problems[pa->problem].code, "title",
                                               pd->problems[pa->problem].title, "agencies", ag,
                                               "first", first, "last", last));
    }
    uint8_t pid[16];
    xchg_random(pid, sizeof pid);
    xchg_hex_encode(st->packet_id, pid, sizeof pid);
    snprintf(st->family, sizeof st->family, "%s", family_rp);
    char hex[65], when[32], rd[11];
    xchg_hex_encode(hex, xchg_policy_hash(m->p), 32);
    iso_time(now, when);
    xchg_date_format(b.run_date, rd);
    json_t *body = json_pack(
        "{s:s, s:i, s:s, s:s, s:{s:s, s:I, s:s}, s:s, s:s, s:I, s:{s:s}, s:{s:i}, s:o, s:o, "
        "s:o, s:{s:i, s:i}}",
        "format", "exchange-referral", "version", pd->release_key.present ? 3 : 2, "packet_id", st->packet_id, "created", when,
        "agreement", "id", pd->id, "version", (json_int_t)pd->version, "sha256", hex, "recipient",
        recipient, "family", family_rp, "run", (json_int_t)run, "evidence", "window_ends", rd,
        "rule", "at_least", (int)pd->rule_at_least, "problems", probs, "members", b.members,
        "approvals", approvals, "counts", "members", (int)st->members, "released",
        (int)st->released);
    if (!body)
        *err = XCHG_ERR_NOMEM;
    return body;
}

/* ---- releasing ---------------------------------------------------------------------- */

static xchg_err refuse(xchg_matcher *m, const xchg_seckey *matcher, const char *family,
                       const char *recipient, xchg_err why, const char *detail, xchg_diag *d)
{
    json_t *o = json_pack("{s:o, s:o, s:s, s:o}", "family", xchg__audit_str(family), "recipient",
                          xchg__audit_str(recipient), "refused", xchg_strerror(why), "detail",
                          xchg__audit_str(detail ? detail : ""));
    xchg_err e =
        xchg__matcher_audit(m, XCHG_AUDIT_RELEASE, xchg_seckey_public(matcher)->id, o, matcher, d);
    return e == XCHG_OK ? why : e;
}

/* xchg_matcher_release, with the operator who asked for it (NULL: the matcher itself)
 * named in the audit entry. */
static xchg_err release_to(xchg_matcher *m, const xchg_seckey *matcher, const char *family,
                           const char *recipient, const char *path, int overwrite,
                           const xchg_pubkey *requested_by, int64_t now, xchg_release_stats *st,
                           xchg_diag *d)
{
    if (!m || !matcher || !family || !recipient || !path)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    xchg_release_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    /* only the matcher signs packets and checkpoints: refuse before writing anything */
    size_t mi = xchg_policy_matcher(m->p);
    if (mi == XCHG_NONE ||
        !xchg_equal(pd->parties[mi].key.id, xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "this key is not the matcher's key agreement '%s' pins; only the matcher "
                      "makes packets (operators approve with 'xchg release approve')",
                      pd->id);
        return XCHG_ERR_DENIED;
    }
    size_t rp = recipient_party(m->p, recipient);
    if (rp == XCHG_NONE) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "'%s' is not a recipient of agreement '%s'",
                      recipient, pd->id);
        return refuse(m, matcher, family, recipient, XCHG_ERR_DENIED, "not a recipient", d);
    }
    if (!overwrite && access(path, F_OK) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "already exists; refusing to replace it");
        return XCHG_ERR_EXISTS;
    }
    xchg_release_state rs;
    struct tally t;
    json_t *approvals = json_array();
    xchg_err e = state_for(m, family, recipient, &rs, approvals, &t, d);
    char detail[300] = "";
    t.forged_detail = detail;
    if (e != XCHG_OK) {
        json_decref(approvals);
        return e;
    }
    if (rs.forged) {
        snprintf(detail, sizeof detail,
                 "%u stored decision(s) on family %s do not verify (first: %s, %s); the store "
                 "may have been altered",
                 rs.forged, family, t.first_forged, t.forged_why);
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "%s; no packet", detail);
        e = XCHG_ERR_VERIFY;
    } else if (!rs.eligible) {
        snprintf(detail, sizeof detail, "family %s does not meet the agreement's rule", family);
        e = XCHG_ERR_DENIED;
    } else if (rs.rejected) {
        snprintf(detail, sizeof detail, "family %s was rejected (\"%.200s\")", family,
                 rs.last_reason);
        e = XCHG_ERR_DENIED;
    } else if (rs.approvals < pd->approvals_required) {
        snprintf(detail, sizeof detail,
                 "family %s has %u of the %u approvals the agreement requires (by different "
                 "operators, for the latest run)",
                 family, rs.approvals, pd->approvals_required);
        e = XCHG_ERR_DENIED;
    } else if (!xchg_queue_may_release(&rs, detail, sizeof detail)) {
        /* approved, but not for the record versions it has now (release key) */
        e = XCHG_ERR_DENIED;
    }
    if (e != XCHG_OK) {
        json_decref(approvals);
        if (e != XCHG_ERR_VERIFY)
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "%s; no packet", detail);
        return refuse(m, matcher, family, recipient, e, detail, d);
    }
    json_t *body =
        packet_body(m, family, recipient, rs.run, &t, approvals, now, st, d, &e);
    if (e == XCHG_ERR_VERIFY) /* a forged contribution: refused, with its audit entry */
        return refuse(m, matcher, family, recipient, e, detail, d);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    size_t tl = strlen(path) + 16;
    char *tmp = malloc(tl);
    if (e == XCHG_OK && (!text || !tmp))
        e = XCHG_ERR_NOMEM;
    if (e != XCHG_OK)
        goto cleanup;
    /* written under a temporary name; it appears at path only once it is recorded */
    snprintf(tmp, tl, "%s.partial", path);
    if ((e = xchg_packet_seal(m->agr, matcher, rp, text, tmp, 1, d)) != XCHG_OK)
        goto cleanup;
    if ((e = xchg__store_begin(m->s, d)) != XCHG_OK)
        goto fail_tmp;
    e = xchg__store_release_put(m->s, st->packet_id, family, rs.run, recipient, now, st->released,
                                st->withheld, d);
    if (e == XCHG_OK && pd->release_key.present)
        e = xchg__store_contributions_prune(m->s, d);
    if (e == XCHG_OK)
    {
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i}", "family", family,
                              "recipient", recipient, "run", (json_int_t)rs.run, "packet",
                              st->packet_id, "recipient_family", st->family, "members",
                              (int)st->members, "released", (int)st->released, "withheld",
                              (int)st->withheld);
        if (o && requested_by) {
            char kid[XCHG_KEYID_HEXLEN + 1];
            xchg_keyid_hex(requested_by->id, kid);
            json_object_set_new(o, "requested_by", json_string(kid));
        }
        e = xchg__matcher_audit(m, XCHG_AUDIT_RELEASE, xchg_seckey_public(matcher)->id, o,
                                matcher, d);
    }
    XCHG_FAULT_POINT();
    if (e == XCHG_OK) {
        /* without overwrite, link() refuses a file that appeared at path meanwhile */
        int mv = overwrite ? rename(tmp, path) : link(tmp, path);
        if (mv != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot move the packet into place: %s",
                          strerror(errno));
            e = errno == EEXIST ? XCHG_ERR_EXISTS : XCHG_ERR_IO;
        } else if (!overwrite) {
            unlink(tmp);
        }
    }
    XCHG_FAULT_POINT();
    if (e == XCHG_OK)
        e = xchg__store_commit(m->s, d);
    else
        xchg__store_rollback(m->s);
    if (e == XCHG_OK)
        goto cleanup;
fail_tmp:
    unlink(tmp);
cleanup:
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    free(tmp);
    return e;
}

xchg_err xchg_matcher_release(xchg_matcher *m, const xchg_seckey *matcher, const char *family,
                              const char *recipient, const char *path, int overwrite, int64_t now,
                              xchg_release_stats *st, xchg_diag *d)
{
    return release_to(m, matcher, family, recipient, path, overwrite, NULL, now, st, d);
}

/* The outbox layout (docs/network.md): OUTBOX/<recipient>/<family>-<unix time>.xrp, each
 * name one xchg_packet_name_ok accepts, so xchg-matcherd serves it and `xchg
 * fetch-packets` collects it. */
xchg_err xchg_matcher_release_outbox(xchg_matcher *m, const xchg_seckey *matcher,
                                     const char *family, const char *recipient,
                                     const char *outbox, const xchg_pubkey *requested_by,
                                     int64_t now, xchg_release_stats *st, char *path,
                                     size_t pathsz, xchg_diag *d)
{
    if (!m || !matcher || !family || !recipient || !outbox || !path || !pathsz)
        return XCHG_ERR_ARG;
    path[0] = '\0';
    char name[XCHG_PSEUDONYM_MAX + 32];
    snprintf(name, sizeof name, "%s-%lld.xrp", family, (long long)now);
    if (!xchg_packet_name_ok(recipient, NULL) || !xchg_packet_name_ok(name, ".xrp")) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "'%s' / '%s' cannot name a packet in the outbox", recipient, family);
        return XCHG_ERR_ARG;
    }
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", outbox, recipient) >= sizeof dir ||
        (size_t)snprintf(path, pathsz, "%s/%s", dir, name) >= pathsz) {
        path[0] = '\0';
        xchg_diag_add(d, XCHG_SEV_ERROR, outbox, 0, 0, "outbox path too long");
        return XCHG_ERR_ARG;
    }
    if ((mkdir(outbox, 0700) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, dir, 0, 0, "cannot create the outbox folder: %s",
                      strerror(errno));
        path[0] = '\0';
        return XCHG_ERR_IO;
    }
    xchg_err e = release_to(m, matcher, family, recipient, path, 0, requested_by, now, st, d);
    if (e != XCHG_OK)
        path[0] = '\0';
    return e;
}
