/*
 * The operator console's JSON API (tools/console_api.c) on the demo county's store made by
 * tests/console/api.sh ($CONSOLE_DEMO): every refusal (no token, wrong or reused token, no
 * or wrong session, foreign Host and Origin, no Origin on a change, missing or wrong CSRF
 * token, not JSON, a non-operator key), then decisions exactly as the CLI makes them: an
 * operator deciding twice, a batch with one bad family (nothing done), two operators'
 * approvals, a release, a rejection and a review decision, each checked through the
 * library afterwards.
 */
// clang-format off: cmocka needs these first, in this order
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "console_api.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char demo[1024];
static xchg_agreement *pol;
static xchg_matcher *mat;
static xchg_seckey *op1, *op2, *mkey;
static xchg_release_share *sh1, *sh2;
static char outbox[1200];

#define PORT 40999u
#define HOST "127.0.0.1:40999"
#define ORIGIN "http://127.0.0.1:40999"

static const char *path_of(const char *name)
{
    static char buf[8][1200];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 1200, "%s/%s", demo, name);
    return p;
}

static xchg_seckey *key(const char *name)
{
    xchg_seckey *k = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_seckey_load(path_of(name), NULL, 0, &k, d), XCHG_OK);
    xchg_diag_free(d);
    return k;
}

/* query arguments: "name=value&..." without escapes */
static const char *qarg(void *actx, const char *name)
{
    static char val[256];
    const char *q = actx;
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            snprintf(val, sizeof val, "%.*s", (int)(len - nl - 1), p + nl + 1);
            return val;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

struct sess {
    struct console *c;
    char token[65];
    char cookie[200];
    char csrf[65];
};

struct call {
    const char *method, *path, *query, *host, *origin, *cookie, *csrf, *ctype, *body;
};

/* One request; the answer's JSON (or NULL for a non-JSON body) and status. */
static json_t *call(struct sess *s, struct call rq, unsigned *status, struct console_resp *keep)
{
    struct console_req r = {
        .method = rq.method ? rq.method : "GET",
        .path = rq.path,
        .arg = qarg,
        .actx = (void *)(rq.query ? rq.query : ""),
        .host = rq.host ? rq.host : HOST,
        .origin = rq.origin,
        .cookie = rq.cookie,
        .csrf = rq.csrf,
        .content_type = rq.ctype,
        .body = rq.body,
        .body_len = rq.body ? strlen(rq.body) : 0,
    };
    struct console_resp resp;
    console_handle(s->c, &r, &resp);
    *status = resp.status;
    json_t *j = NULL;
    if (resp.content_type && strcmp(resp.content_type, "application/json") == 0)
        j = json_loadb(resp.body, resp.len, 0, NULL);
    if (keep)
        *keep = resp;
    else
        free(resp.body);
    return j;
}

static json_t *get(struct sess *s, const char *path, const char *query, unsigned *status)
{
    return call(s, (struct call){.path = path, .query = query, .cookie = s->cookie}, status, NULL);
}

static json_t *post(struct sess *s, const char *path, const char *body, unsigned *status)
{
    return call(s,
                (struct call){.method = "POST",
                              .path = path,
                              .origin = ORIGIN,
                              .cookie = s->cookie,
                              .csrf = s->csrf,
                              .ctype = "application/json",
                              .body = body},
                status, NULL);
}

static const char *err_code(json_t *j)
{
    return json_string_value(json_object_get(j, "code"));
}

/* A console for key k, logged in through its one-time token. */
static void open_session(struct sess *s, const xchg_seckey *k, int release)
{
    memset(s, 0, sizeof *s);
    /* the example agreement's release key: each operator approves with its own share */
    const xchg_release_share *sh = k == op1 ? sh1 : k == op2 ? sh2 : NULL;
    struct console_opts o = {mat,         pol, k, release ? mkey : NULL, release ? outbox : NULL,
                             "127.0.0.1", PORT,        sh};
    assert_non_null(s->c = console_new(&o, s->token));
    char q[100];
    snprintf(q, sizeof q, "token=%s", s->token);
    struct console_resp resp;
    unsigned st;
    json_decref(call(s, (struct call){.path = "/", .query = q}, &st, &resp));
    assert_int_equal(st, 303);
    assert_string_equal(resp.location, "/");
    assert_non_null(strstr(resp.set_cookie, "HttpOnly"));
    assert_non_null(strstr(resp.set_cookie, "SameSite=Strict"));
    free(resp.body);
    char *semi = strchr(resp.set_cookie, ';');
    assert_non_null(semi);
    snprintf(s->cookie, sizeof s->cookie, "other=1; %.*s", (int)(semi - resp.set_cookie),
             resp.set_cookie);
    json_t *j = get(s, "/api/session", NULL, &st);
    assert_int_equal(st, 200);
    snprintf(s->csrf, sizeof s->csrf, "%s", json_string_value(json_object_get(j, "csrf")));
    assert_int_equal(strlen(s->csrf), 64);
    json_decref(j);
}

static void close_session(struct sess *s)
{
    console_free(s->c);
    s->c = NULL;
}

/* The job's final state after waiting for it. */
static json_t *finish(struct sess *s, json_t *job)
{
    assert_non_null(job);
    console_wait_idle(s->c);
    char p[64];
    snprintf(p, sizeof p, "/api/jobs/%d", (int)json_integer_value(json_object_get(job, "id")));
    json_decref(job);
    unsigned st;
    json_t *j = get(s, p, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "finished");
    return j;
}

static char fam[4][XCHG_PSEUDONYM_MAX + 1];

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("CONSOLE_DEMO");
    if (!d)
        return -1;
    snprintf(demo, sizeof demo, "%s", d);
    snprintf(outbox, sizeof outbox, "%s/outbox", demo);
    xchg_diag *dg = xchg_diag_new();
    time_t now = time(NULL);
    if (xchg_init() != XCHG_OK ||
        xchg_policy_load_verified(path_of("phase2.yaml"), NULL, (int32_t)(now / 86400), &pol, dg) !=
            XCHG_OK)
        return -1;
    xchg_store_key *k = NULL;
    if (xchg_store_key_load(path_of("db.key"), &k, dg) != XCHG_OK ||
        xchg_matcher_open(path_of("db"), k, pol, 0, &mat, dg) != XCHG_OK)
        return -1;
    xchg_store_key_free(k);
    xchg_diag_free(dg);
    op1 = key("keys/operator-1.key");
    op2 = key("keys/operator-2.key");
    mkey = key("keys/matcher.key");
    /* setup.bash dealt the release key into DEMO/shares */
    if (xchg_release_share_load(pol, op1, path_of("shares/operator-1.share"), &sh1, NULL) !=
            XCHG_OK ||
        xchg_release_share_load(pol, op2, path_of("shares/operator-2.share"), &sh2, NULL) != XCHG_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_release_share_free(sh1);
    xchg_release_share_free(sh2);
    xchg_seckey_free(op1);
    xchg_seckey_free(op2);
    xchg_seckey_free(mkey);
    xchg_matcher_close(mat);
    xchg_agreement_free(pol);
    return 0;
}

/* ---- refusals --------------------------------------------------------------------- */

static void test_token_and_session(void **state)
{
    (void)state;
    struct sess s;
    memset(&s, 0, sizeof s);
    struct console_opts o = {mat, pol, op1, NULL, NULL, "127.0.0.1", PORT, NULL};
    assert_non_null(s.c = console_new(&o, s.token));
    unsigned st;
    /* no token, no session: the API says 401, the page a login notice */
    json_t *j = call(&s, (struct call){.path = "/api/queue"}, &st, NULL);
    assert_int_equal(st, 401);
    assert_string_equal(err_code(j), "no_session");
    json_decref(j);
    struct console_resp resp;
    call(&s, (struct call){.path = "/"}, &st, &resp);
    assert_int_equal(st, 401);
    assert_null(strstr(resp.body, "token="));
    free(resp.body);
    /* a wrong token (and one of the wrong length) opens nothing */
    char bad[100];
    snprintf(bad, sizeof bad, "token=%.63s%c", s.token, s.token[63] == '0' ? '1' : '0');
    call(&s, (struct call){.path = "/", .query = bad}, &st, &resp);
    assert_int_equal(st, 403);
    assert_string_equal(resp.set_cookie, "");
    free(resp.body);
    call(&s, (struct call){.path = "/", .query = "token=abc"}, &st, &resp);
    assert_int_equal(st, 403);
    free(resp.body);
    /* the right token once, with a foreign Host: refused before the token is looked at */
    char good[100];
    snprintf(good, sizeof good, "token=%s", s.token);
    j = call(&s, (struct call){.path = "/", .query = good, .host = "evil.example:40999"}, &st,
             NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "bad_host");
    json_decref(j);
    call(&s, (struct call){.path = "/", .query = good}, &st, &resp);
    assert_int_equal(st, 303);
    char cookie[200];
    snprintf(cookie, sizeof cookie, "%.*s", (int)(strchr(resp.set_cookie, ';') - resp.set_cookie),
             resp.set_cookie);
    free(resp.body);
    /* the token is one-time */
    call(&s, (struct call){.path = "/", .query = good}, &st, &resp);
    assert_int_equal(st, 403);
    assert_string_equal(resp.set_cookie, "");
    free(resp.body);
    /* a wrong session cookie, or one for another console's port */
    char wrong[200];
    snprintf(wrong, sizeof wrong, "%s", cookie);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'a' ? 'b' : 'a';
    j = call(&s, (struct call){.path = "/api/queue", .cookie = wrong}, &st, NULL);
    assert_int_equal(st, 401);
    json_decref(j);
    char other[220];
    snprintf(other, sizeof other, "xchg_console_1%s", strchr(cookie, '='));
    j = call(&s, (struct call){.path = "/api/queue", .cookie = other}, &st, NULL);
    assert_int_equal(st, 401);
    json_decref(j);
    /* the right cookie reads the queue */
    j = call(&s, (struct call){.path = "/api/queue", .cookie = cookie}, &st, NULL);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 23);
    json_decref(j);
    /* ... but not from a foreign Origin or Host (DNS rebinding), nor by "localhost" spoofed
       onto another port */
    j = call(&s,
             (struct call){.path = "/api/queue", .cookie = cookie, .origin = "http://evil.example"},
             &st, NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "bad_origin");
    json_decref(j);
    j = call(&s, (struct call){.path = "/api/queue", .cookie = cookie, .host = "127.0.0.1:1"}, &st,
             NULL);
    assert_int_equal(st, 403);
    json_decref(j);
    j = call(&s, (struct call){.path = "/api/queue", .cookie = cookie, .host = NULL}, &st, NULL);
    assert_int_equal(st, 200); /* (NULL here means the default Host) */
    json_decref(j);
    j = call(&s, (struct call){.path = "/api/queue", .cookie = cookie, .host = "localhost:40999"},
             &st, NULL);
    assert_int_equal(st, 200);
    json_decref(j);
    /* the page's assets need no session but carry no data */
    call(&s, (struct call){.path = "/app.js"}, &st, &resp);
    assert_int_equal(st, 200);
    assert_string_equal(resp.content_type, "text/javascript; charset=utf-8");
    free(resp.body);
    close_session(&s);
}

static void test_csrf_and_origin(void **state)
{
    (void)state;
    struct sess s;
    open_session(&s, op1, 0);
    unsigned st;
    const char *body = "{\"families\":[\"F-X\"],\"decision\":\"approve\",\"reason\":\"r\"}";
    struct call c = {.method = "POST",
                     .path = "/api/decide",
                     .cookie = s.cookie,
                     .ctype = "application/json",
                     .body = body};
    /* no Origin on a change */
    c.csrf = s.csrf;
    json_t *j = call(&s, c, &st, NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "no_origin");
    json_decref(j);
    /* a foreign Origin */
    c.origin = "http://127.0.0.1:41000";
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "bad_origin");
    json_decref(j);
    /* no CSRF token, a wrong one, another session's */
    c.origin = ORIGIN;
    c.csrf = NULL;
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "csrf");
    json_decref(j);
    char wrong[65];
    snprintf(wrong, sizeof wrong, "%s", s.csrf);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    c.csrf = wrong;
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "csrf");
    json_decref(j);
    /* a form post (no JSON content type) */
    c.csrf = s.csrf;
    c.ctype = "application/x-www-form-urlencoded";
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 415);
    json_decref(j);
    /* not a JSON object, a duplicate key */
    c.ctype = "application/json";
    c.body = "[1]";
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 400);
    json_decref(j);
    c.body = "{\"decision\":\"approve\",\"decision\":\"reject\"}";
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 400);
    json_decref(j);
    /* a change without the session cookie, even with the token */
    c.cookie = NULL;
    c.body = body;
    j = call(&s, c, &st, NULL);
    assert_int_equal(st, 401);
    json_decref(j);
    /* only GET and POST */
    j = call(&s, (struct call){.method = "DELETE", .path = "/api/queue", .cookie = s.cookie}, &st,
             NULL);
    assert_int_equal(st, 405);
    json_decref(j);
    close_session(&s);
}

static void test_not_operator(void **state)
{
    (void)state;
    struct sess s;
    open_session(&s, mkey, 0); /* the matcher's key is no operator's */
    unsigned st;
    json_t *j = get(&s, "/api/session", NULL, &st);
    assert_false(json_is_true(json_object_get(j, "is_operator")));
    json_decref(j);
    char body[200];
    snprintf(body, sizeof body, "{\"families\":[\"%s\"],\"decision\":\"approve\",\"reason\":\"r\"}",
             fam[0]);
    j = post(&s, "/api/decide", body, &st);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "not_operator");
    json_decref(j);
    j = post(
        &s, "/api/review",
        "{\"a\":{\"agency\":\"police\",\"ref\":\"x\"},\"b\":{\"agency\":\"dwp\",\"ref\":\"y\"},"
        "\"decision\":\"same\",\"reason\":\"r\"}",
        &st);
    assert_int_equal(st, 403);
    json_decref(j);
    /* a console without the matcher's key makes no packets */
    struct sess s1;
    open_session(&s1, op1, 0);
    snprintf(body, sizeof body, "{\"families\":[\"%s\"]}", fam[0]);
    j = post(&s1, "/api/release", body, &st);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "no_release");
    json_decref(j);
    close_session(&s1);
    close_session(&s);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(mat, fam[0], &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);
}

/* ---- the queue ---------------------------------------------------------------------- */

static void test_queue(void **state)
{
    (void)state;
    struct sess s;
    open_session(&s, op1, 0);
    unsigned st;
    json_t *j = get(&s, "/api/queue", "limit=5&sort=family&dir=asc", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 23);
    json_t *rows = json_object_get(j, "families");
    assert_int_equal(json_array_size(rows), 5);
    for (int i = 0; i < 4; i++)
        snprintf(fam[i], sizeof fam[i], "%s",
                 json_string_value(json_object_get(json_array_get(rows, (size_t)i), "family")));
    assert_true(strcmp(fam[0], fam[1]) < 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "state")),
                        "new");
    char fifth[XCHG_PSEUDONYM_MAX + 1];
    snprintf(fifth, sizeof fifth, "%s",
             json_string_value(json_object_get(json_array_get(rows, 4), "family")));
    json_decref(j);
    /* the next page starts where this one ended */
    j = get(&s, "/api/queue", "limit=5&offset=4&sort=family&dir=asc", &st);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "families"), 0), "family")),
                        fifth);
    json_decref(j);
    /* bad arguments */
    j = get(&s, "/api/queue", "limit=0", &st);
    assert_int_equal(st, 400);
    json_decref(j);
    j = get(&s, "/api/queue", "sort=name", &st);
    assert_int_equal(st, 400);
    json_decref(j);
    /* a pseudonym-prefix search finds exactly that family */
    char q[64];
    snprintf(q, sizeof q, "q=%s", fam[2]);
    j = get(&s, "/api/queue", q, &st);
    assert_int_equal(json_integer_value(json_object_get(j, "matching")), 1);
    json_decref(j);
    /* an unknown family's detail */
    j = get(&s, "/api/family/F-NONE", NULL, &st);
    assert_int_equal(st, 404);
    json_decref(j);
    char p[64];
    snprintf(p, sizeof p, "/api/family/%s", fam[0]);
    j = get(&s, p, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_array_size(json_object_get(j, "members")) >= 1);
    assert_int_equal(json_array_size(json_object_get(j, "decisions")), 0);
    json_decref(j);
    close_session(&s);
}

/* ---- decisions ----------------------------------------------------------------------- */

static void test_decisions(void **state)
{
    (void)state;
    struct sess s1, s2, sm;
    open_session(&s1, op1, 0);
    unsigned st;
    char body[400];
    /* a batch with one bad family: refused whole, nothing decided */
    snprintf(
        body, sizeof body,
        "{\"families\":[\"%s\",\"F-NOT-A-FAMILY\"],\"decision\":\"approve\",\"reason\":\"ok\"}",
        fam[0]);
    json_t *j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(err_code(j), "bad_family");
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "item 2"));
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\",\"%s\"],\"decision\":\"approve\",\"reason\":\"ok\"}", fam[0],
             fam[0]);
    j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 400);
    json_decref(j);
    /* a bad reason: refused before anything */
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\"],\"decision\":\"approve\",\"reason\":\"a\\u0007b\"}", fam[0]);
    j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(err_code(j), "reason");
    json_decref(j);
    snprintf(body, sizeof body, "{\"families\":[\"%s\"],\"decision\":\"approve\",\"reason\":\"\"}",
             fam[0]);
    j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 400);
    json_decref(j);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(mat, fam[0], &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);

    /* operator 1 approves two families in one batch */
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\",\"%s\"],\"decision\":\"approve\",\"reason\":\"two problems "
             "<b>evidenced</b>\"}",
             fam[0], fam[1]);
    j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 202);
    j = finish(&s1, j);
    assert_int_equal(json_integer_value(json_object_get(j, "done")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 0);
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(xchg_matcher_release_state(mat, fam[i], &rs, NULL), XCHG_OK);
        assert_int_equal(rs.approvals, 1);
        assert_string_equal(rs.last_reason, "two problems <b>evidenced</b>");
    }
    /* deciding twice is refused, the batch whole */
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\",\"%s\"],\"decision\":\"approve\",\"reason\":\"again\"}", fam[2],
             fam[0]);
    j = post(&s1, "/api/decide", body, &st);
    assert_int_equal(st, 409);
    assert_string_equal(err_code(j), "already_decided");
    json_decref(j);
    assert_int_equal(xchg_matcher_release_state(mat, fam[2], &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);
    /* the queue shows operator 1's approval as awaiting a second operator */
    char p[64];
    snprintf(p, sizeof p, "/api/family/%s", fam[0]);
    j = get(&s1, p, NULL, &st);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "awaiting");
    assert_true(json_is_true(json_object_get(j, "approved_by_me")));
    json_t *dec = json_array_get(json_object_get(j, "decisions"), 0);
    assert_string_equal(json_string_value(json_object_get(dec, "operator")), "operator-1");
    assert_true(json_is_true(json_object_get(dec, "verified")));
    json_decref(j);
    /* a release before the second approval is refused */
    open_session(&sm, op1, 1);
    snprintf(body, sizeof body, "{\"families\":[\"%s\"],\"recipient\":\"tf-team\"}", fam[0]);
    j = post(&sm, "/api/release", body, &st);
    assert_int_equal(st, 409);
    assert_string_equal(err_code(j), "not_approved");
    json_decref(j);
    snprintf(body, sizeof body, "{\"families\":[\"%s\"],\"recipient\":\"police\"}", fam[0]);
    j = post(&sm, "/api/release", body, &st);
    assert_int_equal(st, 400);
    json_decref(j);

    /* operator 2 sees what awaits them, approves one, rejects the other */
    open_session(&s2, op2, 0);
    j = get(&s2, "/api/queue", "state=awaiting_me", &st);
    assert_int_equal(json_integer_value(json_object_get(j, "matching")), 2);
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\"],\"decision\":\"approve\",\"reason\":\"agreed\"}", fam[0]);
    j = finish(&s2, post(&s2, "/api/decide", body, &st));
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"families\":[\"%s\"],\"decision\":\"reject\",\"reason\":\"already supported\"}",
             fam[1]);
    j = finish(&s2, post(&s2, "/api/decide", body, &st));
    json_decref(j);
    assert_int_equal(xchg_matcher_release_state(mat, fam[0], &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 2);
    assert_int_equal(xchg_matcher_release_state(mat, fam[1], &rs, NULL), XCHG_OK);
    assert_true(rs.rejected);
    j = post(&s2, "/api/decide", body, &st); /* rejecting twice */
    assert_int_equal(st, 409);
    json_decref(j);

    /* a party that is not a recipient (an agency) is refused before anything is made */
    snprintf(body, sizeof body, "{\"families\":[\"%s\"],\"recipient\":\"police\"}", fam[0]);
    j = post(&sm, "/api/release", body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "recipient");
    json_decref(j);
    /* the release: a packet in the outbox, recorded; a rejected family is refused */
    snprintf(body, sizeof body, "{\"families\":[\"%s\",\"%s\"]}", fam[0], fam[1]);
    j = post(&sm, "/api/release", body, &st);
    assert_int_equal(st, 409);
    json_decref(j);
    snprintf(body, sizeof body, "{\"families\":[\"%s\"]}", fam[0]);
    j = finish(&sm, post(&sm, "/api/release", body, &st));
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 0);
    json_decref(j);
    assert_int_equal(xchg_matcher_release_state(mat, fam[0], &rs, NULL), XCHG_OK);
    assert_int_equal(rs.packets, 1);
    j = get(&sm, p, NULL, &st);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "released");
    json_decref(j);
    close_session(&sm);
    close_session(&s2);
    close_session(&s1);
}

static void test_review(void **state)
{
    (void)state;
    struct sess s;
    open_session(&s, op1, 0);
    unsigned st;
    json_t *j = get(&s, "/api/reviews", NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_integer_value(json_object_get(j, "total")) >= 1);
    json_t *pr = json_array_get(json_object_get(j, "pairs"), 0);
    /* the evidence the operator decides on: ages, areas, and the agreement's keys (by
       name) on which the two records agree or differ; a review pair shares a block */
    json_t *same = json_object_get(pr, "same"), *differ = json_object_get(pr, "differ");
    assert_true(json_array_size(json_object_get(same, "blocking")) >= 1);
    static const char *const kinds[] = {"match", "blocking", "household"};
    for (int k = 0; k < 3; k++) {
        json_t *sets[2] = {json_object_get(same, kinds[k]), json_object_get(differ, kinds[k])};
        for (int w = 0; w < 2; w++) {
            assert_true(json_is_array(sets[w]));
            for (size_t i = 0; i < json_array_size(sets[w]); i++) {
                const char *name = json_string_value(json_array_get(sets[w], i));
                assert_non_null(name);
                assert_int_not_equal(name[0], '#'); /* named from the agreement */
                /* and what it is made of, e.g. "forename:phonetic + dob" */
                const char *parts =
                    json_string_value(json_object_get(json_object_get(pr, "keys"), name));
                assert_non_null(parts);
                assert_true(strlen(parts) > 2);
            }
        }
    }
    for (int w = 0; w < 2; w++) {
        json_t *rec = json_object_get(pr, w ? "b" : "a");
        json_t *age = json_object_get(rec, "age");
        assert_true(json_is_null(age) || (json_is_integer(age) && json_integer_value(age) < 130));
        assert_true(json_is_string(json_object_get(rec, "area")));
    }
    char body[600];
    snprintf(body, sizeof body,
             "{\"a\":{\"agency\":\"%s\",\"ref\":\"%s\"},\"b\":{\"agency\":\"%s\",\"ref\":\"%s\"},"
             "\"decision\":\"different\",\"reason\":\"different dates of birth\"}",
             json_string_value(json_object_get(json_object_get(pr, "a"), "agency")),
             json_string_value(json_object_get(json_object_get(pr, "a"), "ref")),
             json_string_value(json_object_get(json_object_get(pr, "b"), "agency")),
             json_string_value(json_object_get(json_object_get(pr, "b"), "ref")));
    json_decref(j);
    json_t *r = post(&s, "/api/review", body, &st);
    assert_int_equal(st, 200);
    json_decref(r);
    /* the decision is kept in the store: a new console (another operator's) shows it */
    close_session(&s);
    open_session(&s, op2, 0);
    j = get(&s, "/api/reviews", NULL, &st);
    json_t *dd = json_object_get(json_array_get(json_object_get(j, "pairs"), 0), "decided");
    assert_string_equal(json_string_value(json_object_get(dd, "decision")), "different");
    assert_string_equal(json_string_value(json_object_get(dd, "by")), "operator-1");
    assert_true(json_is_true(json_object_get(dd, "verified")));
    json_decref(j);
    /* a record the store does not have */
    j = post(&s, "/api/review",
             "{\"a\":{\"agency\":\"police\",\"ref\":\"NO-SUCH\"},\"b\":{\"agency\":\"dwp\",\"ref\":"
             "\"NO-SUCH\"},\"decision\":\"same\",\"reason\":\"r\"}",
             &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = post(&s, "/api/review", "{\"decision\":\"maybe\"}", &st);
    assert_int_equal(st, 400);
    json_decref(j);
    close_session(&s);
}

/* a linkage run as a background job: the queue is read again afterwards, decisions kept */
static void test_run(void **state)
{
    (void)state;
    struct sess s;
    open_session(&s, op1, 0);
    unsigned st;
    json_t *j = post(&s, "/api/run", "{\"date\":\"2026-13-01\"}", &st);
    assert_int_equal(st, 400);
    json_decref(j);
    j = finish(&s, post(&s, "/api/run", "{\"date\":\"2026-10-31\"}", &st));
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_array_get(json_object_get(j, "results"), 0), "message")),
                           "run 2"));
    json_decref(j);
    j = get(&s, "/api/queue", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "run")), 2);
    json_decref(j);
    /* the released family keeps its state in the new run (same members, same pseudonym) */
    char p[64];
    snprintf(p, sizeof p, "/api/family/%s", fam[0]);
    j = get(&s, p, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "packets")), 1);
    json_decref(j);
    close_session(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_session),
        cmocka_unit_test(test_csrf_and_origin),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_not_operator),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_review),
        cmocka_unit_test(test_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
