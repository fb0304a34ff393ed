/* xchg console --url: the console's store calls over HTTPS to xchg-matcherd
 * (console_remote.h). Called under the console's lock: one request at a time. */
#include "console_remote.h"
#include "net_curl.h"
#include "operator_wire.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ANSWER (64u << 20)

struct console_remote {
    CURL *curl;
    char base[512];
    char ca[4096];
    const xchg_agreement *p;
    const xchg_seckey *op;
    const xchg_release_share *share;
    json_t *states; /* family -> {state, decisions}, from the last families call */
    json_t *shown;  /* family -> the detail, from the last decisions call */
    struct console_backend be;
};


/*
 * One signed request: method GET (body NULL) or POST (body JSON text). *out the answer's
 * JSON (NULL if none), *status the HTTP status. XCHG_ERR_IO (with why in d) when the
 * daemon cannot be reached or does not answer JSON.
 */
static xchg_err request(struct console_remote *r, const char *method, const char *path,
                        const char *body, json_t **out, long *status, xchg_diag *d)
{
    *out = NULL;
    *status = 0;
    uint8_t sha[XCHG_SHA256_BYTES];
    xchg_sha256(body ? body : "", body ? strlen(body) : 0, sha);
    xchg_netauth_headers h;
    if (xchg_netauth_sign(r->op, method, path, (int64_t)time(NULL), sha, &h) != XCHG_OK)
        return XCHG_ERR_ARG;
    char url[1024], line[6][160];
    snprintf(url, sizeof url, "%s%s", r->base, path);
    snprintf(line[0], sizeof line[0], "%s: %s", XCHG_NETAUTH_H_KEY, h.key);
    snprintf(line[1], sizeof line[1], "%s: %s", XCHG_NETAUTH_H_TIME, h.time);
    snprintf(line[2], sizeof line[2], "%s: %s", XCHG_NETAUTH_H_NONCE, h.nonce);
    snprintf(line[3], sizeof line[3], "%s: %s", XCHG_NETAUTH_H_BODY, h.body_sha256);
    snprintf(line[4], sizeof line[4], "%s: %s", XCHG_NETAUTH_H_SIG, h.signature);
    snprintf(line[5], sizeof line[5], "Content-Type: application/json");
    struct curl_slist *hl = NULL;
    for (int i = 0; i < (body ? 6 : 5); i++)
        hl = curl_slist_append(hl, line[i]);
    struct net_body s = {.max = MAX_ANSWER};
    CURL *c = r->curl;
    curl_easy_reset(c);
    net_curl_pin(c, url, r->ca, 300L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, net_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    json_t *j = cc == CURLE_OK && s.b ? json_loadb(s.b, s.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(s.b);
    if (cc != CURLE_OK || !json_is_object(j)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "the matcher daemon at %s: %s", r->base,
                      cc != CURLE_OK ? curl_easy_strerror(cc)
                      : s.overflow   ? "answer too large"
                                     : "no JSON answer");
        json_decref(j);
        return XCHG_ERR_IO;
    }
    *out = j;
    return XCHG_OK;
}

/* An answer that is not 2xx: its error text into d, and the library's error it stands
 * for (as xchg-matcherd maps them). */
static xchg_err refused(struct console_remote *r, long status, const json_t *j, xchg_diag *d)
{
    const char *msg = json_string_value(json_object_get(j, "error"));
    xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "%s", msg ? msg : "refused by the matcher");
    (void)r;
    return status == 403   ? XCHG_ERR_DENIED
           : status == 404 ? XCHG_ERR_NOT_FOUND
           : status == 400 ? XCHG_ERR_ARG
           : status == 401 ? XCHG_ERR_VERIFY
                           : XCHG_ERR_IO;
}

static xchg_err get(struct console_remote *r, const char *path, json_t **out, xchg_diag *d)
{
    long st;
    xchg_err e = request(r, "GET", path, NULL, out, &st, d);
    if (e == XCHG_OK && (st < 200 || st > 299)) {
        e = refused(r, st, *out, d);
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

static xchg_err rb_families(void *ctx, xchg_store_family_fn fn, void *fctx, xchg_diag *d)
{
    struct console_remote *r = ctx;
    json_t *j = NULL;
    xchg_err e = get(r, "/v1/operator/families", &j, d);
    if (e != XCHG_OK)
        return e;
    json_object_clear(r->states);
    json_t *list = json_object_get(j, "families");
    xchg_store_family *f = calloc(1, sizeof *f);
    if (!f)
        e = XCHG_ERR_NOMEM;
    for (size_t i = 0; f && i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        wire_family_read(json_object_get(o, "family"), f);
        json_object_set(r->states, f->pseudonym, o);
        if (fn(fctx, f) != 0)
            break;
    }
    free(f);
    json_decref(j);
    return e;
}

static xchg_err detail(struct console_remote *r, const char *fam, json_t **out, xchg_diag *d)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/operator/family/%s", fam);
    return get(r, path, out, d);
}

static xchg_err rb_decisions(void *ctx, const char *fam, xchg_release_state *st,
                             int (*each)(void *, const xchg_release_decision *), void *ectx,
                             xchg_diag *d)
{
    struct console_remote *r = ctx;
    json_t *o = json_object_get(r->states, fam);
    xchg_err e = XCHG_OK;
    if (o) {
        json_incref(o);
        json_object_del(r->states, fam); /* once: later reads ask the daemon again */
    } else {
        if ((e = detail(r, fam, &o, d)) != XCHG_OK)
            return e;
        json_object_set(r->shown, fam, o);
    }
    wire_state_read(json_object_get(o, "state"), st);
    json_t *ds = json_object_get(o, "decisions");
    xchg_release_decision dec;
    for (size_t i = 0; each && i < json_array_size(ds); i++) {
        wire_decision_read(json_array_get(ds, i), &dec);
        if (each(ectx, &dec) != 0)
            break;
    }
    json_decref(o);
    return e;
}

static xchg_err rb_show(void *ctx, const char *fam, xchg_store_family *f,
                        int (*member)(void *, const xchg_store_member *),
                        int (*pair)(void *, const xchg_store_pair *), void *sctx, xchg_diag *d)
{
    struct console_remote *r = ctx;
    json_t *o = json_object_get(r->shown, fam);
    if (o) {
        json_incref(o);
        json_object_del(r->shown, fam);
    } else {
        xchg_err e = detail(r, fam, &o, d);
        if (e != XCHG_OK)
            return e;
    }
    wire_family_read(json_object_get(o, "family"), f);
    json_t *ms = json_object_get(o, "members"), *ps = json_object_get(o, "pairs");
    xchg_store_member m;
    xchg_store_pair pr;
    for (size_t i = 0; member && i < json_array_size(ms); i++) {
        wire_member_read(json_array_get(ms, i), &m);
        if (member(sctx, &m) != 0)
            break;
    }
    for (size_t i = 0; pair && i < json_array_size(ps); i++) {
        wire_pair_read(json_array_get(ps, i), &pr);
        if (pair(sctx, &pr) != 0)
            break;
    }
    json_decref(o);
    return XCHG_OK;
}

static int64_t rb_version(void *ctx)
{
    struct console_remote *r = ctx;
    json_t *j = NULL;
    if (get(r, "/v1/operator/version", &j, NULL) != XCHG_OK)
        return -1; /* unknown: the queue is read again (and says why it cannot be) */
    int64_t v = json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    return v;
}

/* POST the JSON object rq (consumed) to path; a status other than want is the daemon's
 * refusal. *out (may be NULL) the answer, for the caller to json_decref. */
static xchg_err post_json(struct console_remote *r, const char *path, json_t *rq, long want,
                          json_t **out, xchg_diag *d)
{
    char *body = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
    json_decref(rq);
    if (!body)
        return XCHG_ERR_NOMEM;
    json_t *j = NULL;
    long st = 0;
    xchg_err e = request(r, "POST", path, body, &j, &st, d);
    free(body);
    if (e == XCHG_OK && st != want)
        e = refused(r, st, j, d);
    if (out && e == XCHG_OK)
        *out = j;
    else
        json_decref(j);
    return e;
}

/* prepare (the daemon) -> sign (here, with the key and share that stay here) -> submit */
static xchg_err rb_decide(void *ctx, const char *fam, int approve, const char *reason, int64_t now,
                          xchg_diag *d)
{
    struct console_remote *r = ctx;
    json_t *j = NULL;
    char *sig = NULL;
    long st = 0;
    xchg_err e = post_json(r, "/v1/operator/prepare",
                           json_pack("{s:s, s:s, s:s}", "family", fam, "decision",
                                     approve ? "approve" : "reject", "reason", reason),
                           200, &j, d);
    const char *prepared = e == XCHG_OK ? json_string_value(json_object_get(j, "request")) : NULL;
    if (e == XCHG_OK && !prepared) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "the matcher daemon sent no request");
        e = XCHG_ERR_FORMAT;
    }
    if (e == XCHG_OK)
        e = xchg_decision_sign(r->p, r->op, r->share, prepared, fam, approve, reason, now, &sig, d);
    json_decref(j);
    j = NULL;
    if (e == XCHG_OK)
        e = request(r, "POST", "/v1/operator/submit", sig, &j, &st, d);
    if (e == XCHG_OK && st != 201)
        e = refused(r, st, j, d);
    json_decref(j);
    free(sig);
    json_object_del(r->shown, fam);
    json_object_del(r->states, fam);
    return e;
}

static xchg_err rb_review_decisions(void *ctx, int (*fn)(void *, const xchg_review_decision *),
                                    void *fctx, xchg_diag *d)
{
    struct console_remote *r = ctx;
    json_t *j = NULL;
    xchg_err e = get(r, "/v1/operator/reviews", &j, d);
    if (e != XCHG_OK)
        return e;
    json_t *list = json_object_get(j, "decisions");
    xchg_review_decision dec;
    for (size_t i = 0; i < json_array_size(list); i++) {
        wire_review_read(json_array_get(list, i), &dec);
        if (fn(fctx, &dec) != 0)
            break;
    }
    json_decref(j);
    return XCHG_OK;
}

/* signed here (xchg_review_sign: the statement needs nothing from the store), verified
 * and stored by the daemon */
static xchg_err rb_review(void *ctx, const char *aa, const char *ra, const char *ab, const char *rb,
                          int same, const char *reason, int64_t now, xchg_diag *d)
{
    struct console_remote *r = ctx;
    uint8_t sig[XCHG_RELEASE_SIG_BYTES];
    if (xchg_review_sign(r->p, r->op, aa, ra, ab, rb, same, reason, now, sig) != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "a review decision needs two different records of at most %d bytes",
                      XCHG_RECORD_MAX_REF);
        return XCHG_ERR_ARG;
    }
    char sb[XCHG_RELEASE_SIG_BYTES * 2];
    xchg_base64_encode(sb, sig, sizeof sig);
    json_t *rq =
        json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:s, s:I, s:s}", "a", "agency", aa, "ref", ra,
                  "b", "agency", ab, "ref", rb, "decision", same ? "same" : "different", "reason",
                  reason, "time", (json_int_t)now, "signature", sb);
    return post_json(r, "/v1/operator/review", rq, 201, NULL, d);
}

/* asked of the daemon, which makes the packet with its own matcher key into its outbox */
static xchg_err rb_release(void *ctx, const char *fam, const char *recipient, int64_t now,
                           xchg_release_stats *out, xchg_diag *d)
{
    struct console_remote *r = ctx;
    (void)now; /* the daemon's clock names the packet and dates the release */
    json_t *j = NULL;
    xchg_err e = post_json(r, "/v1/operator/release",
                           json_pack("{s:s, s:s}", "family", fam, "recipient", recipient), 201, &j,
                           d);
    if (e == XCHG_OK) {
        memset(out, 0, sizeof *out);
        const char *pid = json_string_value(json_object_get(j, "packet"));
        const char *rf = json_string_value(json_object_get(j, "recipient_family"));
        json_t *rel = json_object_get(j, "released"), *wh = json_object_get(j, "withheld");
        if (!pid || !json_is_integer(rel) || !json_is_integer(wh)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "the matcher daemon's answer to a release is not understood");
            e = XCHG_ERR_FORMAT;
        } else {
            snprintf(out->packet_id, sizeof out->packet_id, "%s", pid);
            snprintf(out->family, sizeof out->family, "%s", rf ? rf : "");
            out->released = (unsigned)json_integer_value(rel);
            out->withheld = (unsigned)json_integer_value(wh);
        }
    }
    json_decref(j);
    json_object_del(r->shown, fam);
    json_object_del(r->states, fam);
    return e;
}

struct console_remote *console_remote_new(const char *base, const char *ca, const xchg_agreement *p,
                                          const xchg_seckey *op, const xchg_release_share *share)
{
    struct console_remote *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->base, sizeof r->base, "%s", base);
    size_t bl = strlen(r->base);
    while (bl > 8 && r->base[bl - 1] == '/')
        r->base[--bl] = 0;
    snprintf(r->ca, sizeof r->ca, "%s", ca);
    r->p = p;
    r->op = op;
    r->share = share;
    r->states = json_object();
    r->shown = json_object();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r->curl = curl_easy_init();
    r->be = (struct console_backend){r,          rb_families, rb_decisions,        rb_show,
                                     rb_version, rb_decide,   rb_review_decisions, rb_review,
                                     rb_release, 0};
    if (!r->curl || !r->states || !r->shown) {
        console_remote_free(r);
        return NULL;
    }
    return r;
}

const struct console_backend *console_remote_backend(struct console_remote *r)
{
    return &r->be;
}

int console_remote_check(struct console_remote *r, char *why, size_t n)
{
    xchg_diag *d = xchg_diag_new();
    json_t *j = NULL;
    xchg_err e = get(r, "/v1/health", &j, d);
    const char *agr = json_string_value(json_object_get(j, "agreement"));
    int ok = e == XCHG_OK && agr && strcmp(agr, xchg_agreement_get(r->p)->id) == 0;
    r->be.can_release = json_is_true(json_object_get(j, "releases"));
    if (!ok)
        snprintf(why, n, "%s",
                 e != XCHG_OK ? (xchg_diag_count(d) ? xchg_diag_message(d, 0) : xchg_strerror(e))
                              : "the daemon serves another agreement");
    json_decref(j);
    xchg_diag_free(d);
    return ok ? 0 : -1;
}

void console_remote_free(struct console_remote *r)
{
    if (!r)
        return;
    if (r->curl) {
        curl_easy_cleanup(r->curl);
        curl_global_cleanup();
    }
    json_decref(r->states);
    json_decref(r->shown);
    free(r);
}
