/* The operator console's requests, session and jobs (console_api.h, docs/console.md). */
#define _GNU_SOURCE /* qsort_r */
#include "console_api.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* the embedded page (console_assets.c, generated from tools/console/ by CMake) */
struct console_asset {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
};
extern const struct console_asset console_assets[];

const char *const console_security_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    "X-Frame-Options",
    "DENY",
    "Cache-Control",
    "no-store",
    "Cross-Origin-Opener-Policy",
    "same-origin",
    "Cross-Origin-Resource-Policy",
    "same-origin",
    NULL,
};

#define MAX_BATCH 10000

/* One candidate family of the latest run, as the queue shows it. */
struct qent {
    char fam[XCHG_PSEUDONYM_MAX + 1];
    unsigned persons, records, nreview, nconflicts, nproblems, nrule;
    int32_t first, last;          /* xchg_queue_span */
    xchg_store_problem *problems; /* nproblems of them, as the store gave them */
    xchg_release_state st;
    xchg_queue_entry q; /* the library's judgement for this operator (xchg_queue_judge) */
};

enum { JOB_DECIDE = 1, JOB_RELEASE = 2, JOB_RUN = 3 };

struct job {
    int id, kind, approve;
    json_t *families; /* array of strings */
    char reason[XCHG_RELEASE_REASON_MAX + 1];
    char recipient[XCHG_PARTY_ID_MAX + 1];
    int32_t run_date;
    size_t done, total, failed;
    int started, finished;
    json_t *results; /* per item: {family, ok, message} */
    struct job *next;
};

struct console {
    struct console_opts o;
    const struct console_backend *remote; /* remote mode (console_set_remote), or NULL */
    char token[65], session[65], csrf[65];
    int token_used, have_session;
    char cookie_name[40];
    char allowed_host[2][80], allowed_origin[2][96];
    char my_party[XCHG_PARTY_ID_MAX + 1];
    int is_operator;
    pthread_mutex_t mu; /* the matcher and the queue */
    struct qent *q;
    size_t nq;
    int q_valid;
    int64_t q_run, q_version;
    double q_seconds;
    pthread_mutex_t jmu; /* jobs */
    pthread_cond_t jcv;
    struct job *jobs; /* newest first */
    int next_job, stopping, busy_long;
    pthread_t worker;
};

/* ---- small helpers -------------------------------------------------------------- */

static void date_text(int32_t v, char out[11])
{
    if (v == XCHG_DATE_OPEN)
        snprintf(out, 11, "open");
    else if (v == XCHG_DATE_NONE)
        out[0] = '\0';
    else
        xchg_date_format(v, out);
}

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

static void respond_json(struct console_resp *r, unsigned status, json_t *j)
{
    r->status = status;
    r->content_type = "application/json";
    r->body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(j);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":\"out of memory\"}");
        r->len = r->body ? strlen(r->body) : 0;
    }
}

/* An error response {"error": msg, "code": code}. */
static void refuse(struct console_resp *r, unsigned status, const char *code, const char *msg)
{
    respond_json(r, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

/* The first error diagnostic of d, or fallback. */
static const char *diag_msg(const xchg_diag *d, const char *fallback)
{
    for (size_t i = 0; d && i < xchg_diag_count(d); i++)
        if (xchg_diag_severity(d, i) == XCHG_SEV_ERROR)
            return xchg_diag_message(d, i);
    return fallback;
}

static unsigned http_status(xchg_err e)
{
    switch (e) {
    case XCHG_ERR_DENIED:
    case XCHG_ERR_VERIFY:
        return 403;
    case XCHG_ERR_NOT_FOUND:
        return 404;
    case XCHG_ERR_ARG:
        return 400;
    case XCHG_ERR_EXISTS:
        return 409;
    default:
        return 500;
    }
}

static int secret_eq(const char *given, const char *want)
{
    size_t n = strlen(want);
    return given && strlen(given) == n && sodium_memcmp(given, want, n) == 0;
}

static void random_hex(char out[65])
{
    uint8_t b[32];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, 65, b, sizeof b);
    sodium_memzero(b, sizeof b);
}

/* The value of cookie name in a Cookie header, into out; 0 when absent. */
static int cookie_value(const char *hdr, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = hdr; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl >= n)
                return 0;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* ---- the queue -------------------------------------------------------------------- */

/* ---- the store, or the daemon in remote mode ---------------------------------------- */

static xchg_err be_decisions(struct console *c, const char *fam, xchg_release_state *st,
                             int (*each)(void *, const xchg_release_decision *), void *ectx,
                             xchg_diag *d)
{
    if (c->remote)
        return c->remote->decisions(c->remote->ctx, fam, st, each, ectx, d);
    return xchg_matcher_release_decisions(c->o.m, fam, st, each, ectx, d);
}

static xchg_err be_show(struct console *c, const char *fam, xchg_store_family *f,
                        int (*member)(void *, const xchg_store_member *),
                        int (*pair)(void *, const xchg_store_pair *), void *sctx, xchg_diag *d)
{
    if (c->remote)
        return c->remote->show(c->remote->ctx, fam, f, member, pair, sctx, d);
    return xchg_store_family_show(xchg_matcher_store(c->o.m), 0, fam, f, member, pair, sctx, d);
}

/* Remote mode has the queue, the detail, decisions and reviews; releases and runs need the
 * matcher's key or the store. */
static int local_only(const struct console *c, struct console_resp *r, const char *what)
{
    if (!c->remote)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg,
             "%s is not available in remote mode (--url): use the matcher's "
             "own console or CLI",
             what);
    refuse(r, 501, "remote", msg);
    return 1;
}

struct dec_ctx {
    xchg_release_decision *rows; /* the decisions, oldest first, for xchg_queue_judge */
    size_t n, cap;
    int nomem;
    json_t *list; /* the decisions, for the detail view (NULL: not wanted) */
};

static int dec_row(void *ctx, const xchg_release_decision *dd)
{
    struct dec_ctx *x = ctx;
    if (x->list) {
        char when[32];
        iso_time(dd->time, when);
        json_array_append_new(
            x->list, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:b}", "operator",
                               dd->operator_party, "label", dd->operator_label, "key",
                               dd->operator_kid, "decision", dd->approve ? "approve" : "reject",
                               "run", (json_int_t)dd->run, "time", when, "reason", dd->reason,
                               "verified", dd->verified, "current", dd->current));
    }
    if (x->n == x->cap) {
        size_t nc = x->cap ? 2 * x->cap : 8;
        void *nr = realloc(x->rows, nc * sizeof *x->rows);
        if (!nr) {
            x->nomem = 1;
            return 1;
        }
        x->rows = nr;
        x->cap = nc;
    }
    x->rows[x->n++] = *dd;
    return 0;
}

/* (Re)read the release state of e and judge it for this operator (the library's rule,
 * the same in remote mode); list gets the decisions when not NULL. */
static xchg_err refresh_state(struct console *c, struct qent *e, json_t *list, xchg_diag *d)
{
    struct dec_ctx x;
    memset(&x, 0, sizeof x);
    x.list = list;
    xchg_err err = be_decisions(c, e->fam, &e->st, dec_row, &x, d);
    if (err == XCHG_OK && x.nomem)
        err = XCHG_ERR_NOMEM;
    if (err == XCHG_OK)
        xchg_queue_judge(&e->st, x.rows, x.n, c->my_party, &e->q);
    free(x.rows);
    return err;
}

static const char *state_name(const struct qent *e)
{
    return xchg_queue_state_name(e->q.state);
}

static json_t *problem_json(const xchg_store_problem *pr)
{
    char a[11], b[11];
    date_text(pr->first, a);
    date_text(pr->last, b);
    json_t *ag = json_array();
    for (unsigned k = 0; k < pr->nagencies && k < XCHG_STORE_PROBLEM_AGENCIES; k++)
        json_array_append_new(ag, json_string(pr->agencies[k]));
    return json_pack("{s:s, s:o, s:s, s:s, s:b}", "code", pr->code, "agencies", ag, "first", a,
                     "last", b, "counts", pr->counts);
}

static json_t *problems_json(const struct qent *e)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < e->nproblems; i++)
        json_array_append_new(a, problem_json(&e->problems[i]));
    return a;
}

struct build {
    struct qent *q;
    size_t n, cap;
    int nomem;
};

static int add_family(void *ctx, const xchg_store_family *f)
{
    struct build *b = ctx;
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 256;
        void *nq = realloc(b->q, nc * sizeof *b->q);
        if (!nq) {
            b->nomem = 1;
            return 1;
        }
        b->q = nq;
        b->cap = nc;
    }
    struct qent *e = &b->q[b->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->fam, sizeof e->fam, "%s", f->pseudonym);
    e->persons = f->npersons;
    e->records = f->nrecords;
    e->nreview = f->nreview;
    e->nconflicts = f->nconflicts;
    e->nrule = f->nrule;
    e->nproblems = (unsigned)f->nproblems;
    e->problems = malloc((f->nproblems ? f->nproblems : 1) * sizeof *e->problems);
    if (!e->problems) {
        b->n--;
        b->nomem = 1;
        return 1;
    }
    if (f->nproblems)
        memcpy(e->problems, f->problems, f->nproblems * sizeof *e->problems);
    xchg_queue_span(f->problems, f->nproblems, &e->first, &e->last);
    return 0;
}

static void free_queue(struct qent *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(q[i].problems);
    free(q);
}

static int cmp_fam(const void *a, const void *b)
{
    return strcmp(((const struct qent *)a)->fam, ((const struct qent *)b)->fam);
}

/* Build the queue of the latest run (under c->mu). */
static xchg_err build_queue(struct console *c, xchg_diag *d)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct build b = {0};
    xchg_err e = c->remote
                     ? c->remote->families(c->remote->ctx, add_family, &b, d)
                     : xchg_store_families(xchg_matcher_store(c->o.m), 0, 0, add_family, &b, d);
    if (e == XCHG_OK && b.nomem)
        e = XCHG_ERR_NOMEM;
    for (size_t i = 0; e == XCHG_OK && i < b.n; i++)
        e = refresh_state(c, &b.q[i], NULL, d);
    if (e != XCHG_OK) {
        free_queue(b.q, b.n);
        return e;
    }
    if (b.n)
        qsort(b.q, b.n, sizeof *b.q, cmp_fam);
    free_queue(c->q, c->nq);
    c->q = b.q;
    c->nq = b.n;
    c->q_valid = 1;
    c->q_run = b.n ? b.q[0].st.run : 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c->q_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return XCHG_OK;
}

static struct qent *find_fam(struct console *c, const char *fam)
{
    if (!c->nq || !fam || strlen(fam) > XCHG_PSEUDONYM_MAX)
        return NULL;
    struct qent key;
    snprintf(key.fam, sizeof key.fam, "%s", fam);
    return bsearch(&key, c->q, c->nq, sizeof *c->q, cmp_fam);
}

static json_t *qent_json(const struct console *c, const struct qent *e)
{
    char a[11], b[11], when[32] = "";
    date_text(e->first, a);
    date_text(e->last, b);
    if (e->q.last_time)
        iso_time(e->q.last_time, when);
    (void)c;
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:o, s:s, s:s, s:s, s:i, s:i, s:b, s:i, "
                     "s:i, s:s, s:s, s:b, s:b, s:s, s:i, s:b}",
                     "family", e->fam, "persons", (int)e->persons, "records", (int)e->records,
                     "review_pairs", (int)e->nreview, "conflicts", (int)e->nconflicts,
                     "problems_counting", (int)e->nrule, "problems", problems_json(e), "first", a,
                     "last", b, "state", state_name(e), "approvals", (int)e->st.approvals,
                     "required", (int)e->st.required, "rejected", e->st.rejected, "packets",
                     (int)e->st.packets, "forged", (int)e->st.forged, "last_reason",
                     e->st.last_reason, "last_by", e->q.last_party, "approved_by_me",
                     e->q.approved_by_me, "rejected_by_me", e->q.rejected_by_me, "last_time", when,
                     "uncovered", (int)e->st.uncovered, "renewable_by_me", e->q.renewable_by_me);
}

/* ---- sorting and filtering -------------------------------------------------------- */

struct sort_by {
    int key; /* 0 problems, 1 size, 2 first, 3 last, 4 state, 5 family */
    int desc;
};

static int cmp_view(const void *x, const void *y, void *ctx)
{
    const struct sort_by *by = ctx;
    const struct qent *a = *(const struct qent *const *)x, *b = *(const struct qent *const *)y;
    long v = 0;
    switch (by->key) {
    case 0:
        v = (long)a->nproblems - (long)b->nproblems;
        break;
    case 1:
        v = (long)a->persons - (long)b->persons;
        break;
    case 2:
        v = (long)a->first - (long)b->first;
        break;
    case 3:
        v = (long)a->last - (long)b->last;
        break;
    case 4:
        v = (long)a->q.state - (long)b->q.state; /* the library's state order */
        break;
    default:
        break;
    }
    if (by->desc)
        v = -v;
    return v < 0 ? -1 : v > 0 ? 1 : strcmp(a->fam, b->fam);
}

static const char *arg(const struct console_req *rq, const char *name)
{
    const char *v = rq->arg ? rq->arg(rq->actx, name) : NULL;
    return v && *v ? v : NULL;
}

static long arg_long(const struct console_req *rq, const char *name, long dflt, long lo, long hi)
{
    const char *v = arg(rq, name);
    if (!v)
        return dflt;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!end || *end || n < lo || n > hi)
        return -1;
    return n;
}

/* Take c->mu, or refuse when a long job (a run) holds it: the page stays responsive. */
static int lock_or_busy(struct console *c, struct console_resp *r)
{
    if (pthread_mutex_trylock(&c->mu) == 0)
        return 1;
    pthread_mutex_lock(&c->jmu);
    int busy = c->busy_long;
    pthread_mutex_unlock(&c->jmu);
    if (busy) {
        refuse(r, 503, "busy", "a linkage run is in progress; the queue is back when it ends");
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    return 1;
}

static int ensure_queue(struct console *c, struct console_resp *r, int force)
{
    /* another process (the other operator's console, the CLI) committed: read again */
    int64_t v = c->remote ? c->remote->version(c->remote->ctx)
                          : xchg_store_changes_seen(xchg_matcher_store(c->o.m));
    if (c->q_valid && !force && v == c->q_version)
        return 1;
    c->q_version = v;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = build_queue(c, d);
    if (e != XCHG_OK)
        refuse(r, e == XCHG_ERR_NOT_FOUND ? 404 : 500, "store",
               diag_msg(d, e == XCHG_ERR_NOT_FOUND ? "there is no linkage run yet"
                                                   : "the store could not be read"));
    xchg_diag_free(d);
    return e == XCHG_OK;
}

static void api_queue(struct console *c, const struct console_req *rq, struct console_resp *r)
{
    long offset = arg_long(rq, "offset", 0, 0, 100000000),
         limit = arg_long(rq, "limit", 50, 1, 500);
    const char *state = arg(rq, "state"), *problem = arg(rq, "problem"),
               *agency = arg(rq, "agency"), *q = arg(rq, "q"), *sort = arg(rq, "sort");
    if (offset < 0 || limit < 0) {
        refuse(r, 400, "arg", "offset must be 0 or more and limit 1 to 500");
        return;
    }
    int sk = 0;
    static const char *sorts[] = {"problems", "size", "first", "last", "state", "family"};
    if (sort) {
        for (sk = 0; sk < 6 && strcmp(sort, sorts[sk]) != 0; sk++)
            ;
        if (sk == 6) {
            refuse(r, 400, "arg", "sort must be problems, size, first, last, state or family");
            return;
        }
    }
    int filter = xchg_queue_filter_parse(state); /* an unknown state matches nothing */
    const char *dir = arg(rq, "dir");
    int desc = dir ? strcmp(dir, "desc") == 0 : (sk == 0 || sk == 1 || sk == 3);
    if (!lock_or_busy(c, r))
        return;
    if (!ensure_queue(c, r, arg(rq, "refresh") != NULL)) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const struct qent **view = malloc((c->nq ? c->nq : 1) * sizeof *view);
    json_t *counts = json_object(), *problems = json_object(), *agencies = json_object();
    size_t nv = 0;
    for (size_t i = 0; view && i < c->nq; i++) {
        const struct qent *e = &c->q[i];
        const char *sn = state_name(e);
        json_object_set_new(counts, sn,
                            json_integer(json_integer_value(json_object_get(counts, sn)) + 1));
        if (e->q.awaiting_me)
            json_object_set_new(
                counts, "awaiting_me",
                json_integer(json_integer_value(json_object_get(counts, "awaiting_me")) + 1));
        for (unsigned k = 0; k < e->nproblems; k++) {
            const xchg_store_problem *pr = &e->problems[k];
            json_object_set_new(problems, pr->code, json_true());
            for (unsigned a = 0; a < pr->nagencies && a < XCHG_STORE_PROBLEM_AGENCIES; a++)
                json_object_set_new(agencies, pr->agencies[a], json_true());
        }
        if (state && !xchg_queue_filter_match(filter, &e->q))
            continue;
        if ((problem || agency) &&
            !xchg_queue_has_problem(e->problems, e->nproblems, problem, agency))
            continue;
        if (q && strncmp(e->fam, q, strlen(q)) != 0)
            continue;
        view[nv++] = e;
    }
    struct sort_by by = {sk, desc};
    if (nv)
        qsort_r(view, nv, sizeof *view, cmp_view, &by);
    json_t *rows = json_array();
    for (size_t i = (size_t)offset; view && i < nv && i < (size_t)offset + (size_t)limit; i++)
        json_array_append_new(rows, qent_json(c, view[i]));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    json_t *pl = json_array(), *al = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(problems, key, v) json_array_append_new(pl, json_string(key));
    json_object_foreach(agencies, key, v) json_array_append_new(al, json_string(key));
    json_decref(problems);
    json_decref(agencies);
    json_t *out =
        json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:f, s:f}", "run", (json_int_t)c->q_run,
                  "total", (json_int_t)c->nq, "matching", (json_int_t)nv, "offset",
                  (json_int_t)offset, "families", rows, "counts", counts, "problems", pl,
                  "agencies", al, "build_seconds", c->q_seconds, "view_seconds", secs);
    free(view);
    pthread_mutex_unlock(&c->mu);
    respond_json(r, view ? 200 : 500, out);
}

/* ---- one family -------------------------------------------------------------------- */

struct show_ctx {
    json_t *members, *pairs;
    const struct console *c;
};

static int show_member(void *ctx, const xchg_store_member *m)
{
    struct show_ctx *s = ctx;
    json_t *ag = json_array();
    for (unsigned k = 0; k < m->nagencies && k < XCHG_STORE_MEMBER_AGENCIES; k++)
        json_array_append_new(ag, json_string(m->agencies[k]));
    json_array_append_new(s->members, json_pack("{s:s, s:o, s:i}", "person", m->pseudonym,
                                                "agencies", ag, "records", (int)m->nrecords));
    return 0;
}

/* {match: [names], blocking: [...], household: [...]}: the keys in sets, named; each
 * name's parts go to parts ({name: "surname:phonetic + dob:year"}) */
static json_t *key_sets_json(const xchg_policy *p, const uint32_t sets[3], json_t *parts)
{
    json_t *o = json_object();
    for (int k = 0; k < 3; k++) {
        json_t *a = json_array();
        for (unsigned i = 0; i < 32; i++)
            if (sets[k] & (1u << i)) {
                char alt[16], what[200];
                const char *n = xchg_policy_token_label(p, k, i, alt, sizeof alt);
                if (xchg_policy_token_parts(p, k, i, what, sizeof what))
                    json_object_set_new(parts, n, json_string(what));
                json_array_append_new(a, json_string(n));
            }
        json_object_set_new(o, xchg_token_kind_name(k), a);
    }
    return o;
}

static json_t *age_json(int age)
{
    return age == XCHG_AGE_UNKNOWN ? json_null() : json_integer(age);
}

static json_t *pair_json(const struct console *c, const xchg_store_pair *p)
{
    const xchg_policy *pol = xchg_agreement_policy(c->o.p);
    const char *kn = p->conflict ? xchg_policy_token_name(pol, 0, (size_t)p->key) : NULL;
    json_t *parts = json_object();
    return json_pack("{s:s, s:{s:s, s:s, s:s, s:o, s:s}, s:{s:s, s:s, s:s, s:o, s:s}, s:f, s:i, "
                     "s:o, s:o, s:o, s:o}",
                     "kind", p->conflict ? "conflict" : "review", "a", "agency", p->agency_a,
                     "ref", p->ref_a, "person", p->person_a, "age", age_json(p->age_a), "area",
                     p->area_a, "b", "agency", p->agency_b, "ref", p->ref_b, "person",
                     p->person_b, "age", age_json(p->age_b), "area", p->area_b, "score",
                     p->score, "key", p->key, "key_name", kn ? json_string(kn) : json_null(),
                     "same", key_sets_json(pol, p->same, parts), "differ",
                     key_sets_json(pol, p->differ, parts), "keys", parts);
}

static int show_pair(void *ctx, const xchg_store_pair *p)
{
    struct show_ctx *s = ctx;
    json_array_append_new(s->pairs, pair_json(s->c, p));
    return 0;
}

static void api_family(struct console *c, const char *fam, struct console_resp *r)
{
    if (!lock_or_busy(c, r))
        return;
    if (!ensure_queue(c, r, 0)) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    struct qent *e = find_fam(c, fam);
    if (!e) {
        pthread_mutex_unlock(&c->mu);
        refuse(r, 404, "not_found", "no such candidate family in the latest run");
        return;
    }
    xchg_diag *d = xchg_diag_new();
    xchg_store_family *f = calloc(1, sizeof *f);
    struct show_ctx s = {json_array(), json_array(), c};
    json_t *decisions = json_array();
    xchg_err err = f ? refresh_state(c, e, decisions, d) : XCHG_ERR_NOMEM;
    if (err == XCHG_OK)
        err = be_show(c, e->fam, f, show_member, show_pair, &s, d);
    if (err != XCHG_OK) {
        refuse(r, http_status(err), "store", diag_msg(d, "the family could not be read"));
        json_decref(s.members);
        json_decref(s.pairs);
        json_decref(decisions);
    } else {
        json_t *j = qent_json(c, e);
        json_object_set_new(j, "members", s.members);
        json_object_set_new(j, "pairs", s.pairs);
        json_object_set_new(j, "decisions", decisions);
        json_object_set_new(j, "links", json_string(xchg_link_how_name((xchg_link_how)f->how)));
        json_object_set_new(j, "carried", json_integer(e->st.carried));
        respond_json(r, 200, j);
    }
    free(f);
    xchg_diag_free(d);
    pthread_mutex_unlock(&c->mu);
}

/* ---- review pairs ------------------------------------------------------------------ */

struct rv_ctx {
    json_t *pairs;
    const struct qent *e;
    json_t *reviewed;
    const struct console *c;
};

static int review_pair(void *ctx, const xchg_store_pair *p)
{
    struct rv_ctx *x = ctx;
    if (p->conflict)
        return 0;
    json_t *j = pair_json(x->c, p);
    json_object_set_new(j, "family", json_string(x->e->fam));
    json_object_set_new(j, "family_persons", json_integer(x->e->persons));
    json_object_set_new(j, "family_problems", problems_json(x->e));
    json_object_set_new(j, "family_state", json_string(state_name(x->e)));
    char k[2 * (XCHG_PARTY_ID_MAX + XCHG_RECORD_MAX_REF) + 8];
    snprintf(k, sizeof k, "%s|%s|%s|%s", p->agency_a, p->ref_a, p->agency_b, p->ref_b);
    json_t *dec = json_object_get(x->reviewed, k);
    json_object_set_new(j, "decided", dec ? json_incref(dec) : json_null());
    json_array_append_new(x->pairs, j);
    return 0;
}

/* The stored review decisions by pair, both ways round; the newest (listed last) wins. */
static int review_seen(void *ctx, const xchg_review_decision *dec)
{
    json_t *map = ctx;
    char when[32], k[2 * (XCHG_PARTY_ID_MAX + XCHG_RECORD_MAX_REF) + 8];
    iso_time(dec->time, when);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:b}", "decision", dec->same ? "same" : "different",
                          "by", dec->operator_party, "time", when, "reason", dec->reason,
                          "verified", dec->verified);
    snprintf(k, sizeof k, "%s|%s|%s|%s", dec->agency_a, dec->ref_a, dec->agency_b, dec->ref_b);
    json_object_set(map, k, v);
    snprintf(k, sizeof k, "%s|%s|%s|%s", dec->agency_b, dec->ref_b, dec->agency_a, dec->ref_a);
    json_object_set(map, k, v);
    json_decref(v);
    return 0;
}

static void api_reviews(struct console *c, const struct console_req *rq, struct console_resp *r)
{
    long offset = arg_long(rq, "offset", 0, 0, 100000000),
         limit = arg_long(rq, "limit", 100, 1, 500);
    if (offset < 0 || limit < 0) {
        refuse(r, 400, "arg", "offset must be 0 or more and limit 1 to 500");
        return;
    }
    if (!lock_or_busy(c, r))
        return;
    if (!ensure_queue(c, r, 0)) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    json_t *all = json_array(), *decided = json_object();
    xchg_diag *d = xchg_diag_new();
    xchg_store_family *f = calloc(1, sizeof *f);
    xchg_err err = !f ? XCHG_ERR_NOMEM
                   : c->remote
                       ? c->remote->review_decisions(c->remote->ctx, review_seen, decided, d)
                       : xchg_matcher_review_decisions(c->o.m, review_seen, decided, d);
    for (size_t i = 0; err == XCHG_OK && i < c->nq; i++) {
        if (!c->q[i].nreview)
            continue;
        struct rv_ctx x = {all, &c->q[i], decided, c};
        err = be_show(c, c->q[i].fam, f, NULL, review_pair, &x, d);
    }
    free(f);
    json_decref(decided);
    pthread_mutex_unlock(&c->mu);
    if (err != XCHG_OK) {
        json_decref(all);
        refuse(r, 500, "store", diag_msg(d, "the review pairs could not be read"));
        xchg_diag_free(d);
        return;
    }
    xchg_diag_free(d);
    json_t *page = json_array();
    for (size_t i = (size_t)offset; i < json_array_size(all) && i < (size_t)(offset + limit); i++)
        json_array_append(page, json_array_get(all, i));
    json_t *out = json_pack("{s:I, s:I, s:o}", "total", (json_int_t)json_array_size(all), "offset",
                            (json_int_t)offset, "pairs", page);
    json_decref(all);
    respond_json(r, 200, out);
}

/* ---- jobs -------------------------------------------------------------------------- */

static json_t *job_json(const struct job *j)
{
    static const char *kinds[] = {"", "decide", "release", "run"};
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:s, s:O}", "id", j->id, "kind", kinds[j->kind],
                     "done", (json_int_t)j->done, "total", (json_int_t)j->total, "failed",
                     (json_int_t)j->failed, "state",
                     j->finished  ? "finished"
                     : j->started ? "running"
                                  : "queued",
                     "results", j->results);
}

static void job_result(struct console *c, struct job *j, const char *fam, int ok, const char *msg)
{
    pthread_mutex_lock(&c->jmu);
    json_array_append_new(j->results, json_pack("{s:s, s:b, s:s}", "family", fam ? fam : "", "ok",
                                                ok, "message", msg ? msg : ""));
    j->done++;
    j->failed += !ok;
    pthread_mutex_unlock(&c->jmu);
}

static void run_item(struct console *c, struct job *j, const char *fam)
{
    xchg_diag *d = xchg_diag_new();
    char msg[600] = "";
    int ok = 0;
    pthread_mutex_lock(&c->mu);
    int64_t now = (int64_t)time(NULL);
    if (j->kind == JOB_DECIDE) {
        xchg_err e = c->remote
                         ? c->remote->decide(c->remote->ctx, fam, j->approve, j->reason, now, d)
                         : xchg_matcher_decide_share(c->o.m, c->o.op, c->o.share, fam, j->approve,
                                                     j->reason, now, d);
        ok = e == XCHG_OK;
        struct qent *q = find_fam(c, fam);
        if (q)
            (void)refresh_state(c, q, NULL, NULL);
        if (ok && q)
            snprintf(msg, sizeof msg, "%s: %u of %u approvals",
                     j->approve ? "approved" : "rejected", q->st.approvals, q->st.required);
        else if (!ok)
            snprintf(msg, sizeof msg, "%s", diag_msg(d, xchg_strerror(e)));
    } else if (j->kind == JOB_RELEASE) {
        char path[4200];
        xchg_release_stats st;
        xchg_err e = c->remote
                         ? c->remote->release(c->remote->ctx, fam, j->recipient, now, &st, d)
                         : xchg_matcher_release_outbox(c->o.m, c->o.matcher, fam, j->recipient,
                                                       c->o.outbox, xchg_seckey_public(c->o.op),
                                                       now, &st, path, sizeof path, d);
        ok = e == XCHG_OK;
        struct qent *q = find_fam(c, fam);
        if (q)
            (void)refresh_state(c, q, NULL, NULL);
        if (ok)
            snprintf(msg, sizeof msg, "packet %s for %s: %u released, %u withheld", st.packet_id,
                     j->recipient, st.released, st.withheld);
        else
            snprintf(msg, sizeof msg, "%s", diag_msg(d, xchg_strerror(e)));
    } else {
        xchg_matcher_run_stats rs;
        memset(&rs, 0, sizeof rs);
        xchg_err e = xchg_matcher_run(c->o.m, j->run_date, 0, now, &rs, d);
        ok = e == XCHG_OK;
        c->q_valid = 0; /* a new run: a new queue */
        if (ok)
            snprintf(msg, sizeof msg, "run %lld: %zu eligible families, %zu review pairs",
                     (long long)rs.run, rs.eligible, rs.review);
        else
            snprintf(msg, sizeof msg, "%s", diag_msg(d, xchg_strerror(e)));
    }
    pthread_mutex_unlock(&c->mu);
    xchg_diag_free(d);
    job_result(c, j, fam, ok, msg);
}

static void *worker(void *arg)
{
    struct console *c = arg;
    pthread_mutex_lock(&c->jmu);
    for (;;) {
        struct job *todo = NULL;
        for (struct job *j = c->jobs; j; j = j->next)
            if (!j->started)
                todo = j; /* the oldest not started (the list is newest first) */
        if (!todo || c->stopping) {
            if (c->stopping) /* jobs not started are not done: nothing of them happened */
                break;
            pthread_cond_broadcast(&c->jcv);
            pthread_cond_wait(&c->jcv, &c->jmu);
            continue;
        }
        todo->started = 1;
        c->busy_long = todo->kind == JOB_RUN;
        pthread_mutex_unlock(&c->jmu);
        if (todo->kind == JOB_RUN)
            run_item(c, todo, NULL);
        else
            for (size_t i = 0; i < json_array_size(todo->families); i++) {
                pthread_mutex_lock(&c->jmu);
                int stop = c->stopping; /* each item is whole; stop between two */
                pthread_mutex_unlock(&c->jmu);
                if (stop)
                    break;
                run_item(c, todo, json_string_value(json_array_get(todo->families, i)));
            }
        pthread_mutex_lock(&c->jmu);
        todo->finished = 1;
        c->busy_long = 0;
        pthread_cond_broadcast(&c->jcv);
    }
    pthread_mutex_unlock(&c->jmu);
    return NULL;
}

static void start_job(struct console *c, struct job *j, struct console_resp *r)
{
    pthread_mutex_lock(&c->jmu);
    j->id = ++c->next_job;
    j->results = json_array();
    j->next = c->jobs;
    c->jobs = j;
    json_t *out = job_json(j);
    pthread_cond_broadcast(&c->jcv);
    pthread_mutex_unlock(&c->jmu);
    respond_json(r, 202, out);
}

static void api_job(struct console *c, const char *id, struct console_resp *r)
{
    char *end = NULL;
    long n = strtol(id, &end, 10);
    json_t *out = NULL;
    pthread_mutex_lock(&c->jmu);
    for (struct job *j = c->jobs; j && end && !*end; j = j->next)
        if (j->id == n)
            out = job_json(j);
    pthread_mutex_unlock(&c->jmu);
    if (out)
        respond_json(r, 200, out);
    else
        refuse(r, 404, "not_found", "no such job");
}

void console_wait_idle(struct console *c)
{
    pthread_mutex_lock(&c->jmu);
    for (;;) {
        int busy = 0;
        for (struct job *j = c->jobs; j; j = j->next)
            busy |= !j->finished;
        if (!busy)
            break;
        pthread_cond_wait(&c->jcv, &c->jmu);
    }
    pthread_mutex_unlock(&c->jmu);
}

/* ---- decisions, releases, reviews, runs -------------------------------------------- */

/* The body's "families" as a checked array of candidate families: each in the queue. On
 * a bad one the whole batch is refused (nothing is done), naming the family. */
static json_t *batch_families(struct console *c, json_t *body, struct console_resp *r)
{
    json_t *fams = json_object_get(body, "families");
    if (!json_is_array(fams) || json_array_size(fams) == 0 || json_array_size(fams) > MAX_BATCH) {
        refuse(r, 400, "arg", "families must be a list of 1 to 10000 family pseudonyms");
        return NULL;
    }
    json_t *seen = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fams, i, f)
    {
        char msg[200];
        const char *s = json_string_value(f);
        if (!s || !find_fam(c, s)) {
            snprintf(msg, sizeof msg,
                     "item %zu is not a candidate family of the latest run; nothing was done",
                     i + 1);
            json_decref(seen);
            refuse(r, 400, "bad_family", msg);
            return NULL;
        }
        if (json_object_get(seen, s)) {
            snprintf(msg, sizeof msg, "family %s is listed twice; nothing was done", s);
            json_decref(seen);
            refuse(r, 400, "bad_family", msg);
            return NULL;
        }
        json_object_set_new(seen, s, json_true());
    }
    json_decref(seen);
    return fams;
}

/*
 * The families of a batch (decide: *approve says which; release), each checked against
 * the library's rule with its state read again (another operator may have acted): one
 * family that may not be acted on refuses the whole batch, naming it. A new job of kind
 * for them, or NULL with the refusal in r.
 */
static struct job *checked_batch(struct console *c, json_t *body, struct console_resp *r,
                                 int kind, const int *approve)
{
    if (!lock_or_busy(c, r))
        return NULL;
    if (!ensure_queue(c, r, 0)) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    json_t *fams = batch_families(c, body, r);
    if (!fams) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    size_t i;
    json_t *f;
    json_array_foreach(fams, i, f)
    {
        struct qent *e = find_fam(c, json_string_value(f));
        (void)refresh_state(c, e, NULL, NULL);
        char why[120], msg[300];
        const char *problem = NULL;
        if (kind == JOB_DECIDE && !xchg_queue_may_decide(&e->q, &e->st, *approve, &problem)) {
            snprintf(msg, sizeof msg, "family %s: %s; nothing was done", e->fam, problem);
            pthread_mutex_unlock(&c->mu);
            refuse(r, 409, "already_decided", msg);
            return NULL;
        }
        if (kind == JOB_RELEASE && !xchg_queue_may_release(&e->st, why, sizeof why)) {
            snprintf(msg, sizeof msg, "family %s is %s; nothing was released", e->fam, why);
            pthread_mutex_unlock(&c->mu);
            refuse(r, 409, "not_approved", msg);
            return NULL;
        }
    }
    pthread_mutex_unlock(&c->mu);
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse(r, 500, "nomem", "out of memory");
        return NULL;
    }
    j->kind = kind;
    j->families = json_deep_copy(fams);
    j->total = json_array_size(fams);
    return j;
}

static void api_decide(struct console *c, json_t *body, struct console_resp *r)
{
    if (!c->is_operator) {
        refuse(r, 403, "not_operator",
               "this console's key is not the key of an operator of the agreement");
        return;
    }
    const char *dec = json_string_value(json_object_get(body, "decision"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    const char *why = NULL;
    if (!dec || (strcmp(dec, "approve") && strcmp(dec, "reject"))) {
        refuse(r, 400, "arg", "decision must be \"approve\" or \"reject\"");
        return;
    }
    if (!reason || !xchg_release_text_ok(reason, XCHG_RELEASE_REASON_MAX, &why)) {
        char msg[200];
        snprintf(msg, sizeof msg, "reason: %s (at most %d bytes of UTF-8 text)",
                 reason ? why : "a reason is needed", XCHG_RELEASE_REASON_MAX);
        refuse(r, 400, "reason", msg);
        return;
    }
    int approve = strcmp(dec, "approve") == 0;
    struct job *j = checked_batch(c, body, r, JOB_DECIDE, &approve);
    if (!j)
        return;
    j->approve = approve;
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    start_job(c, j, r);
}

static void api_release(struct console *c, json_t *body, struct console_resp *r)
{
    if (c->remote && !c->remote->can_release) {
        refuse(r, 403, "no_release",
               "the matcher daemon has no outbox (xchg-matcherd --outbox): it cannot make "
               "packets");
        return;
    }
    if (!c->remote && (!c->o.matcher || !c->o.outbox)) {
        refuse(r, 403, "no_release",
               "this console was started without the matcher's key (--matcher-key): it cannot "
               "make packets");
        return;
    }
    const xchg_policy_data *pd = xchg_agreement_get(c->o.p);
    size_t rp = xchg_policy_recipient(xchg_agreement_policy(c->o.p),
                                      json_string_value(json_object_get(body, "recipient")));
    if (rp == XCHG_NONE) {
        refuse(r, 400, "recipient", "recipient is not a recipient of the agreement");
        return;
    }
    const char *rec = pd->parties[rp].id;
    struct job *j = checked_batch(c, body, r, JOB_RELEASE, NULL);
    if (!j)
        return;
    snprintf(j->recipient, sizeof j->recipient, "%s", rec);
    start_job(c, j, r);
}

static int record_arg(json_t *o, const char **agency, const char **ref)
{
    *agency = json_string_value(json_object_get(o, "agency"));
    *ref = json_string_value(json_object_get(o, "ref"));
    return *agency && *ref && **agency && **ref;
}

static void api_review(struct console *c, json_t *body, struct console_resp *r)
{
    if (!c->is_operator) {
        refuse(r, 403, "not_operator",
               "this console's key is not the key of an operator of the agreement");
        return;
    }
    const char *aa, *ra, *ab, *rb;
    const char *dec = json_string_value(json_object_get(body, "decision"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (!record_arg(json_object_get(body, "a"), &aa, &ra) ||
        !record_arg(json_object_get(body, "b"), &ab, &rb) || !dec ||
        (strcmp(dec, "same") && strcmp(dec, "different")) || !reason) {
        refuse(r, 400, "arg",
               "a review needs a and b ({agency, ref}), decision \"same\" or \"different\" and "
               "a reason");
        return;
    }
    if (!lock_or_busy(c, r))
        return;
    xchg_diag *d = xchg_diag_new();
    int same = strcmp(dec, "same") == 0;
    int64_t now = (int64_t)time(NULL);
    xchg_err e = c->remote
                     ? c->remote->review(c->remote->ctx, aa, ra, ab, rb, same, reason, now, d)
                     : xchg_matcher_review(c->o.m, c->o.op, aa, ra, ab, rb, same, reason, now, d);
    pthread_mutex_unlock(&c->mu);
    if (e == XCHG_OK)
        respond_json(r, 200,
                     json_pack("{s:s, s:s}", "decision", dec, "message",
                               same ? "recorded: one person; every later run applies it"
                                    : "recorded: different people; every later run "
                                      "applies it"));
    else
        refuse(r, http_status(e), "review", diag_msg(d, xchg_strerror(e)));
    xchg_diag_free(d);
}

static void api_run(struct console *c, json_t *body, struct console_resp *r)
{
    if (local_only(c, r, "a linkage run"))
        return;
    const char *date = json_string_value(json_object_get(body, "date"));
    int32_t day;
    if (!date || xchg_date_parse(date, strlen(date), &day) != XCHG_OK) {
        refuse(r, 400, "arg", "date must be YYYY-MM-DD (the evidence window's end)");
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse(r, 500, "nomem", "out of memory");
        return;
    }
    j->kind = JOB_RUN;
    j->total = 1;
    j->run_date = day;
    start_job(c, j, r);
}

static void api_session(struct console *c, struct console_resp *r)
{
    const xchg_policy_data *pd = xchg_agreement_get(c->o.p);
    json_t *recs = json_array();
    for (size_t i = 0; i < pd->nrecipients; i++)
        json_array_append_new(recs, json_string(pd->parties[pd->recipients[i]].id));
    size_t who =
        xchg_policy_party_by_key(xchg_agreement_policy(c->o.p), xchg_seckey_public(c->o.op)->id);
    const char *label = who != XCHG_NONE ? pd->parties[who].label : NULL;
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(c->o.op)->id, kid);
    respond_json(r, 200,
                 json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:b, s:o}", "csrf", c->csrf,
                           "operator", c->my_party, "label", label ? label : "", "key", kid,
                           "is_operator", c->is_operator, "agreement", pd->id, "required",
                           (int)pd->approvals_required, "can_release",
                           c->remote ? c->remote->can_release
                                     : c->o.matcher != NULL && c->o.outbox != NULL,
                           "recipients", recs));
}

/* ---- the request ------------------------------------------------------------------- */

static int host_ok(const struct console *c, const char *host)
{
    return host && (strcmp(host, c->allowed_host[0]) == 0 || strcmp(host, c->allowed_host[1]) == 0);
}

static int origin_ok(const struct console *c, const char *origin)
{
    return origin &&
           (strcmp(origin, c->allowed_origin[0]) == 0 || strcmp(origin, c->allowed_origin[1]) == 0);
}

static const char login_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>exchange console"
    "</title></head><body><h1>exchange operator console</h1><p>Open the address "
    "<code>xchg console</code> printed when it started (it holds a one-time token). "
    "Each console serves one session.</p></body></html>";

static void html(struct console_resp *r, unsigned status, const char *s)
{
    r->status = status;
    r->content_type = "text/html; charset=utf-8";
    r->body = strdup(s);
    r->len = r->body ? strlen(r->body) : 0;
}

void console_handle(struct console *c, const struct console_req *rq, struct console_resp *r)
{
    memset(r, 0, sizeof *r);
    int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    int post = strcmp(rq->method, "POST") == 0;
    /* 1. the Host names this console (a DNS-rebinding page's requests carry its own name) */
    if (!host_ok(c, rq->host)) {
        refuse(r, 403, "bad_host", "the Host header does not name this console");
        return;
    }
    /* 2. a cross-site request's Origin is refused, whatever it asks */
    if (rq->origin && !origin_ok(c, rq->origin)) {
        refuse(r, 403, "bad_origin", "requests from another origin are refused");
        return;
    }
    if (!get && !post) {
        refuse(r, 405, "method", "only GET and POST");
        return;
    }
    if (get && strcmp(rq->path, "/favicon.ico") == 0) {
        r->status = 204;
        r->content_type = "image/x-icon";
        return;
    }
    /* 3. the page's assets hold no data: served to anyone who passed the checks above */
    for (const struct console_asset *a = console_assets; get && a->path; a++)
        if (strcmp(rq->path, a->path) == 0 && strcmp(a->path, "/") != 0) {
            r->status = 200;
            r->content_type = a->type;
            r->body = malloc(a->len ? a->len : 1);
            if (r->body)
                memcpy(r->body, a->data, a->len);
            r->len = r->body ? a->len : 0;
            return;
        }
    /* 4. the one-time token opens the session: a cookie only this origin gets back */
    const char *tok = get && strcmp(rq->path, "/") == 0 ? arg(rq, "token") : NULL;
    if (tok) {
        if (c->token_used || !secret_eq(tok, c->token)) {
            html(r, 403, login_page);
            return;
        }
        c->token_used = 1;
        sodium_memzero(c->token, sizeof c->token);
        random_hex(c->session);
        random_hex(c->csrf);
        c->have_session = 1;
        snprintf(r->set_cookie, sizeof r->set_cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict",
                 c->cookie_name, c->session);
        snprintf(r->location, sizeof r->location, "/");
        r->status = 303;
        r->content_type = "text/plain";
        r->body = strdup("see /");
        r->len = r->body ? strlen(r->body) : 0;
        return;
    }
    /* 5. everything else needs the session cookie */
    char sess[80];
    if (!c->have_session || !rq->cookie ||
        !cookie_value(rq->cookie, c->cookie_name, sess, sizeof sess) ||
        !secret_eq(sess, c->session)) {
        if (strncmp(rq->path, "/api/", 5) == 0)
            refuse(r, 401, "no_session", "no valid session: open the console's address again");
        else
            html(r, 401, login_page);
        return;
    }
    if (get && strcmp(rq->path, "/") == 0) {
        for (const struct console_asset *a = console_assets; a->path; a++)
            if (strcmp(a->path, "/") == 0) {
                r->status = 200;
                r->content_type = a->type;
                r->body = malloc(a->len ? a->len : 1);
                if (r->body)
                    memcpy(r->body, a->data, a->len);
                r->len = r->body ? a->len : 0;
            }
        return;
    }
    if (get) {
        if (strcmp(rq->path, "/api/session") == 0)
            api_session(c, r);
        else if (strcmp(rq->path, "/api/queue") == 0)
            api_queue(c, rq, r);
        else if (strncmp(rq->path, "/api/family/", 12) == 0)
            api_family(c, rq->path + 12, r);
        else if (strcmp(rq->path, "/api/reviews") == 0)
            api_reviews(c, rq, r);
        else if (strncmp(rq->path, "/api/jobs/", 10) == 0)
            api_job(c, rq->path + 10, r);
        else
            refuse(r, 404, "not_found", "no such page");
        return;
    }
    /* 6. a change: same origin stated, JSON, and the session's CSRF token */
    if (!rq->origin) {
        refuse(r, 403, "no_origin", "a change must state its Origin");
        return;
    }
    if (!rq->csrf || !secret_eq(rq->csrf, c->csrf)) {
        refuse(r, 403, "csrf", "missing or wrong CSRF token");
        return;
    }
    if (!rq->content_type || strncmp(rq->content_type, "application/json", 16) != 0) {
        refuse(r, 415, "content_type", "send application/json");
        return;
    }
    json_error_t je;
    json_t *body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(body)) {
        json_decref(body);
        refuse(r, 400, "json", "the body is not a JSON object");
        return;
    }
    if (strcmp(rq->path, "/api/decide") == 0)
        api_decide(c, body, r);
    else if (strcmp(rq->path, "/api/release") == 0)
        api_release(c, body, r);
    else if (strcmp(rq->path, "/api/review") == 0)
        api_review(c, body, r);
    else if (strcmp(rq->path, "/api/run") == 0)
        api_run(c, body, r);
    else
        refuse(r, 404, "not_found", "no such action");
    json_decref(body);
}

/* ---- life --------------------------------------------------------------------------- */

struct console *console_new(const struct console_opts *o, char token[65])
{
    struct console *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->o = *o;
    random_hex(c->token);
    memcpy(token, c->token, 65);
    snprintf(c->cookie_name, sizeof c->cookie_name, "xchg_console_%u", o->port);
    snprintf(c->allowed_host[0], sizeof c->allowed_host[0], "%s:%u", o->host, o->port);
    snprintf(c->allowed_host[1], sizeof c->allowed_host[1], "%s:%u",
             strcmp(o->host, "127.0.0.1") == 0 ? "localhost" : o->host, o->port);
    for (int i = 0; i < 2; i++)
        snprintf(c->allowed_origin[i], sizeof c->allowed_origin[i], "http://%s",
                 c->allowed_host[i]);
    const xchg_policy_data *pd = xchg_agreement_get(o->p);
    size_t who =
        xchg_policy_party_by_key(xchg_agreement_policy(o->p), xchg_seckey_public(o->op)->id);
    if (who != XCHG_NONE) {
        snprintf(c->my_party, sizeof c->my_party, "%s", pd->parties[who].id);
        c->is_operator = pd->parties[who].role == XCHG_ROLE_OPERATOR;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->jmu, NULL);
    pthread_cond_init(&c->jcv, NULL);
    if (pthread_create(&c->worker, NULL, worker, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void console_set_remote(struct console *c, const struct console_backend *b)
{
    c->remote = b;
}

const char *console_cookie_name(const struct console *c)
{
    return c->cookie_name;
}

void console_free(struct console *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->jmu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->jcv);
    pthread_mutex_unlock(&c->jmu);
    pthread_join(c->worker, NULL);
    for (struct job *j = c->jobs, *n; j; j = n) {
        n = j->next;
        json_decref(j->families);
        json_decref(j->results);
        free(j);
    }
    free_queue(c->q, c->nq);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->jmu);
    pthread_cond_destroy(&c->jcv);
    sodium_memzero(c, sizeof *c);
    free(c);
}
