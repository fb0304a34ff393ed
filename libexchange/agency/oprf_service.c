/*
 * The OPRF key service's rules (oprf_service.h): authentication, the per-agency daily
 * limit, the hash-chained audit log and evaluation. xchg-keyd only moves bytes.
 */
#include "exchange/oprf_service.h"
#include "exchange/audit.h"
#include "exchange/crypto.h"
#include "exchange/date.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EL XCHG_OPRF_ELEMENT_BYTES

struct xchg_oprf_service {
    const xchg_policy *p;
    uint8_t *sk; /* sodium_malloc */
    xchg_netauth *auth;
    xchg_audit *log;
    char *log_path;
    size_t custodian;
    pthread_mutex_t lock; /* the day's counters, the log and the record file */
    uint64_t *used;       /* per party: evaluations on `day` */
    int32_t day;
    int record_fd;
};

static int32_t utc_day(int64_t t)
{
    return (int32_t)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
}

/* ---- restoring the day's counts from the log ---------------------------------------- */

struct restore {
    xchg_oprf_service *s;
    char day[11];
    const char *path;
    xchg_diag *d;
    xchg_err err;
};

static int restore_visit(const xchg_audit_entry *e, void *ctx)
{
    struct restore *r = ctx;
    if (strcmp(e->type, XCHG_AUDIT_OPRF) != 0)
        return 0;
    json_t *j = json_loads(e->data, 0, NULL);
    const char *day = json_string_value(json_object_get(j, "day"));
    const char *outcome = json_string_value(json_object_get(j, "outcome"));
    const char *agency = json_string_value(json_object_get(j, "agency"));
    json_t *n = json_object_get(j, "evaluations");
    if (!day || !outcome || !agency || !json_is_integer(n) || json_integer_value(n) < 0) {
        xchg_diag_add(r->d, XCHG_SEV_ERROR, r->path, (unsigned)e->line, 0,
                      "an oprf entry without day, agency, outcome and evaluations");
        r->err = XCHG_ERR_FORMAT;
        json_decref(j);
        return 1;
    }
    if (strcmp(day, r->day) == 0 && strcmp(outcome, "ok") == 0) {
        size_t i = xchg_policy_party(r->s->p, agency);
        if (i != XCHG_NONE)
            r->s->used[i] += (uint64_t)json_integer_value(n);
    }
    json_decref(j);
    return 0;
}

/* ---- open / free ---------------------------------------------------------------------- */

xchg_err xchg_oprf_service_open(const xchg_agreement *agr,
                                const uint8_t sk[XCHG_OPRF_SCALAR_BYTES], const char *audit_path,
                                int64_t now, xchg_oprf_service **out, xchg_diag *d)
{
    if (!agr || !sk || !audit_path || !out)
        return XCHG_ERR_ARG;
    const xchg_policy *p = xchg_agreement_policy(agr);
    const xchg_policy_data *pd = xchg_policy_get(p);
    if (pd->tokens.mode != XCHG_TOKENS_OPRF) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' has no 'tokens: {mode: oprf}' section: nothing to serve",
                      pd->id);
        return XCHG_ERR_POLICY;
    }
    size_t cust = xchg_oprf_custodian(p);
    if (cust == XCHG_NONE) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "agreement '%s' names no custodian (tokens.custodian) or owner for the key "
                      "service",
                      pd->id);
        return XCHG_ERR_UNKNOWN_KEY;
    }
    uint8_t pk[EL];
    if (xchg_oprf_public(sk, pk) != XCHG_OK || sodium_memcmp(pk, pd->tokens.key, EL) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the OPRF key is not the key of agreement '%s' (its public key differs "
                      "from tokens.key)",
                      pd->id);
        return XCHG_ERR_DENIED;
    }
    xchg_oprf_service *s = calloc(1, sizeof *s);
    if (!s)
        return XCHG_ERR_NOMEM;
    s->p = p;
    s->custodian = cust;
    s->record_fd = -1;
    s->day = utc_day(now);
    s->sk = sodium_malloc(XCHG_OPRF_SCALAR_BYTES);
    s->used = calloc(pd->nparties ? pd->nparties : 1, sizeof *s->used);
    s->log_path = strdup(audit_path);
    xchg_err e = XCHG_ERR_NOMEM;
    if (!s->sk || !s->used || !s->log_path || pthread_mutex_init(&s->lock, NULL) != 0)
        goto fail_early;
    memcpy(s->sk, sk, XCHG_OPRF_SCALAR_BYTES);
    if ((e = xchg_netauth_new(agr, 0, &s->auth)) != XCHG_OK)
        goto fail;
    /* the log: a new one (genesis: the agreement and the custodian's key), or an existing
     * one that verifies from its first line to its last */
    int exists = access(audit_path, F_OK) == 0;
    if (!exists) {
        xchg_audit_genesis g;
        memset(&g, 0, sizeof g);
        g.agreement_id = pd->id;
        memcpy(g.agreement_sha256, xchg_policy_hash(p), XCHG_SHA256_BYTES);
        memcpy(g.matcher_key, pd->parties[cust].key.id, XCHG_KEYID_BYTES);
        e = xchg_audit_open(audit_path, &g, &s->log, d);
    } else {
        xchg_audit_stats st;
        xchg_diag *tmp = xchg_diag_new();
        e = xchg_audit_verify(audit_path, &pd->parties[cust].key, &st, tmp);
        if (e != XCHG_OK) {
            /* the reason with its line; the warnings about unsigned entries only then */
            xchg_diag_copy(d, tmp);
            xchg_diag_free(tmp);
            xchg_diag_add(d, XCHG_SEV_ERROR, audit_path, 0, 0,
                          "the key service's audit log does not verify (an entry was removed, "
                          "edited or cut short, or it is not a hash-chained log); refusing to "
                          "start on it");
            goto fail;
        }
        xchg_diag_free(tmp);
        if (strcmp(st.agreement_id, pd->id) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, audit_path, 1, 0,
                          "the audit log was started under agreement '%s', not '%s'",
                          st.agreement_id, pd->id);
            e = XCHG_ERR_DENIED;
            goto fail;
        }
        if ((e = xchg_audit_open(audit_path, NULL, &s->log, d)) != XCHG_OK)
            goto fail;
        struct restore r = {s, "", audit_path, d, XCHG_OK};
        xchg_date_format(s->day, r.day);
        e = xchg_audit_foreach(audit_path, restore_visit, &r, d);
        if (e == XCHG_OK)
            e = r.err;
    }
    if (e != XCHG_OK)
        goto fail;
    *out = s;
    return XCHG_OK;
fail:
    pthread_mutex_destroy(&s->lock);
fail_early:
    xchg_audit_close(s->log);
    xchg_netauth_free(s->auth);
    if (s->sk)
        sodium_free(s->sk);
    free(s->used);
    free(s->log_path);
    free(s);
    return e;
}

void xchg_oprf_service_free(xchg_oprf_service *s)
{
    if (!s)
        return;
    xchg_audit_close(s->log);
    xchg_netauth_free(s->auth);
    if (s->sk)
        sodium_free(s->sk); /* sodium_free wipes */
    if (s->record_fd >= 0)
        close(s->record_fd);
    pthread_mutex_destroy(&s->lock);
    free(s->used);
    free(s->log_path);
    free(s);
}

xchg_err xchg_oprf_service_record_inputs(xchg_oprf_service *s, const char *path, xchg_diag *d)
{
    if (!s || !path)
        return XCHG_ERR_ARG;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
        return XCHG_ERR_IO;
    }
    if (s->record_fd >= 0)
        close(s->record_fd);
    s->record_fd = fd;
    return XCHG_OK;
}

size_t xchg_oprf_custodian(const xchg_policy *p)
{
    const xchg_policy_data *pd = p ? xchg_policy_get(p) : NULL;
    if (!pd || pd->tokens.mode != XCHG_TOKENS_OPRF)
        return XCHG_NONE;
    size_t c = pd->tokens.custodian != XCHG_NONE ? pd->tokens.custodian : pd->owner;
    return c < pd->nparties ? c : XCHG_NONE;
}

const char *xchg_oprf_service_custodian(const xchg_oprf_service *s)
{
    return s ? xchg_policy_get(s->p)->parties[s->custodian].id : NULL;
}

uint64_t xchg_oprf_service_used(xchg_oprf_service *s, size_t party, int64_t now)
{
    if (!s || party >= xchg_policy_get(s->p)->nparties)
        return 0;
    pthread_mutex_lock(&s->lock);
    uint64_t u = utc_day(now) == s->day ? s->used[party] : 0;
    pthread_mutex_unlock(&s->lock);
    return u;
}

/* ---- requests -------------------------------------------------------------------------- */

static xchg_err refuse(xchg_oprf_reply *r, xchg_oprf_outcome o, xchg_err e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static xchg_err refuse(xchg_oprf_reply *r, xchg_oprf_outcome o, xchg_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->outcome = o;
    return e;
}

#define ANY_PARTY                                                                                  \
    (XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY) | XCHG_NETAUTH_ROLE(XCHG_ROLE_MATCHER) |                  \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT) | XCHG_NETAUTH_ROLE(XCHG_ROLE_GOVERNANCE) |            \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_OPERATOR))

xchg_err xchg_oprf_service_admit(xchg_oprf_service *s, const xchg_netauth_request *rq, int64_t now,
                                 xchg_oprf_reply *r)
{
    if (!s || !rq || !r || !rq->path)
        return XCHG_ERR_ARG;
    memset(r, 0, sizeof *r);
    unsigned roles;
    if (strcmp(rq->path, XCHG_OPRF_PATH) == 0)
        roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY);
    else if (strcmp(rq->path, XCHG_OPRF_HEALTH_PATH) == 0)
        roles = ANY_PARTY;
    else
        return refuse(r, XCHG_OPRF_NO_ENDPOINT, XCHG_ERR_NOT_FOUND, "no such endpoint");
    xchg_netauth_reason why = XCHG_NETAUTH_OK;
    xchg_err e = xchg_netauth_verify(s->auth, rq, roles, now, &r->party, &why);
    if (e != XCHG_OK) {
        r->auth = why;
        return refuse(r,
                      why == XCHG_NETAUTH_WRONG_ROLE ? XCHG_OPRF_FORBIDDEN
                      : why == XCHG_NETAUTH_BUSY     ? XCHG_OPRF_BUSY
                                                     : XCHG_OPRF_UNAUTHENTICATED,
                      e, "%s", xchg_netauth_reason_text(why));
    }
    return XCHG_OK;
}

/* One "oprf" entry: counts only. Called under s->lock. */
static xchg_err audit_entry(xchg_oprf_service *s, size_t party, size_t n, const char *outcome,
                            uint64_t used, int64_t now)
{
    const xchg_policy_data *pd = xchg_policy_get(s->p);
    char day[11];
    xchg_date_format(utc_day(now), day);
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "day", day, "agency", pd->parties[party].id,
                          "evaluations", (json_int_t)n, "outcome", outcome, "used_today",
                          (json_int_t)used, "limit", (json_int_t)pd->tokens.queries_per_day);
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!txt)
        return XCHG_ERR_NOMEM;
    xchg_err e =
        xchg_audit_append(s->log, XCHG_AUDIT_OPRF, pd->parties[party].key.id, txt, NULL, NULL);
    free(txt);
    return e;
}

static void record_points(xchg_oprf_service *s, const uint8_t *body, size_t n)
{
    char hex[2 * EL + 2];
    for (size_t i = 0; i < n; i++) {
        xchg_hex_encode(hex, body + 8 + i * EL, EL);
        hex[2 * EL] = '\n';
        if (write(s->record_fd, hex, sizeof hex - 1) < 0)
            break;
    }
}

xchg_err xchg_oprf_service_answer(xchg_oprf_service *s, size_t party, const char *body_sha256_hex,
                                  const uint8_t *body, size_t len, int64_t now, xchg_oprf_reply *r)
{
    if (!s || !r || (!body && len))
        return XCHG_ERR_ARG;
    memset(r, 0, sizeof *r);
    r->party = party;
    const xchg_policy_data *pd = xchg_policy_get(s->p);
    if (party >= pd->nparties || pd->parties[party].role != XCHG_ROLE_AGENCY)
        return refuse(r, XCHG_OPRF_FORBIDDEN, XCHG_ERR_DENIED, "only agencies may ask");
    uint8_t got[XCHG_SHA256_BYTES];
    xchg_sha256(body, len, got);
    xchg_netauth_reason why;
    if (!body_sha256_hex || xchg_netauth_check_body(body_sha256_hex, got, &why) != XCHG_OK) {
        r->auth = XCHG_NETAUTH_BODY_MISMATCH;
        return refuse(r, XCHG_OPRF_UNAUTHENTICATED, XCHG_ERR_VERIFY, "%s",
                      xchg_netauth_reason_text(XCHG_NETAUTH_BODY_MISMATCH));
    }
    size_t n;
    if (xchg_oprf_request_count(body, len, &n) != XCHG_OK)
        return refuse(r, XCHG_OPRF_BAD_REQUEST, XCHG_ERR_FORMAT,
                      "not an OPRF request (docs/formats.md: XOQ1, count, points)");
    /* every element a valid point before anything is counted, recorded or evaluated */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *el = body + 8 + i * EL;
        if (sodium_is_zero(el, EL) || !crypto_core_ristretto255_is_valid_point(el))
            return refuse(r, XCHG_OPRF_BAD_REQUEST, XCHG_ERR_FORMAT,
                          "a blinded element is not a valid ristretto255 point");
    }
    r->evaluations = n;
    uint64_t limit = pd->tokens.queries_per_day > 0 ? (uint64_t)pd->tokens.queries_per_day : 0;
    pthread_mutex_lock(&s->lock);
    int32_t today = utc_day(now);
    if (today != s->day) {
        memset(s->used, 0, pd->nparties * sizeof *s->used);
        s->day = today;
    }
    uint64_t used = s->used[party];
    if (used + n > limit) {
        xchg_err ae = audit_entry(s, party, n, "rate-limited", used, now);
        pthread_mutex_unlock(&s->lock);
        if (ae != XCHG_OK)
            return refuse(r, XCHG_OPRF_FAILED, ae, "cannot write the audit");
        return refuse(r, XCHG_OPRF_RATE_LIMITED, XCHG_ERR_DENIED,
                      "rate limit: agency '%s' has used %llu of its %llu OPRF evaluations for "
                      "today (UTC); this request asks for %zu more",
                      pd->parties[party].id, (unsigned long long)used, (unsigned long long)limit,
                      n);
    }
    /* counted and recorded before the answer: a crash cannot give an unrecorded answer */
    xchg_err ae = audit_entry(s, party, n, "ok", used + n, now);
    if (ae == XCHG_OK) {
        s->used[party] = used + n;
        if (s->record_fd >= 0)
            record_points(s, body, n);
    }
    pthread_mutex_unlock(&s->lock);
    if (ae != XCHG_OK)
        return refuse(r, XCHG_OPRF_FAILED, ae, "cannot write the audit");
    xchg_err e = xchg_oprf_serve(s->sk, body, len, &r->body, &r->len);
    if (e == XCHG_ERR_FORMAT)
        return refuse(r, XCHG_OPRF_BAD_REQUEST, e,
                      "a blinded element is not a valid ristretto255 point");
    if (e != XCHG_OK)
        return refuse(r, XCHG_OPRF_FAILED, e, "evaluation failed");
    r->outcome = XCHG_OPRF_ANSWERED;
    return XCHG_OK;
}
