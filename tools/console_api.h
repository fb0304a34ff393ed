/*
 * The operator console's request handling (docs/console.md), apart from the HTTP server:
 * cmd_console.c feeds it requests from libmicrohttpd, tests/console/test_console_api.c
 * calls it directly. It owns the session (the one-time token, the session cookie, the
 * CSRF token), the checks every request passes (Host, Origin, cookie, CSRF token), the
 * queue view and the background jobs; every decision, review and release is the matcher
 * service's own call (matcher.h), exactly as the CLI makes it, and every rule over store
 * data — a family's queue state, whose approval counts, what may still be decided or
 * released, the filters — is the library's (xchg_queue_*, matcher.h), applied alike to
 * the local store's rows and, in remote mode, to xchg-matcherd's.
 */
#ifndef XCHG_CONSOLE_API_H
#define XCHG_CONSOLE_API_H

#include <exchange.h>
#include <stddef.h>

struct console;

/*
 * Remote mode (docs/console.md): the store's reads and the decision go through
 * xchg-matcherd instead of a local matcher handle. Each call as the library call it
 * replaces (xchg_store_families of the latest run's eligible families,
 * xchg_matcher_release_decisions, xchg_store_family_show of the latest run,
 * xchg_store_changes_seen, xchg_matcher_decide_share with the console's key and share,
 * the review decisions, a review, and a release made by the daemon).
 */
struct console_backend {
    void *ctx;
    xchg_err (*families)(void *ctx, xchg_store_family_fn fn, void *fctx, xchg_diag *d);
    xchg_err (*decisions)(void *ctx, const char *fam, xchg_release_state *st,
                          int (*each)(void *, const xchg_release_decision *), void *ectx,
                          xchg_diag *d);
    xchg_err (*show)(void *ctx, const char *fam, xchg_store_family *f,
                     int (*member)(void *, const xchg_store_member *),
                     int (*pair)(void *, const xchg_store_pair *), void *sctx, xchg_diag *d);
    int64_t (*version)(void *ctx);
    xchg_err (*decide)(void *ctx, const char *fam, int approve, const char *reason, int64_t now,
                       xchg_diag *d);
    /* xchg_matcher_review_decisions; xchg_matcher_review with the console's key */
    xchg_err (*review_decisions)(void *ctx, int (*fn)(void *, const xchg_review_decision *),
                                 void *fctx, xchg_diag *d);
    xchg_err (*review)(void *ctx, const char *aa, const char *ra, const char *ab, const char *rb,
                       int same, const char *reason, int64_t now, xchg_diag *d);
    /* xchg_matcher_release_outbox by the daemon, into its own outbox, with its matcher key */
    xchg_err (*release)(void *ctx, const char *fam, const char *recipient, int64_t now,
                        xchg_release_stats *st, xchg_diag *d);
    int can_release; /* the daemon has an outbox (its /v1/health says "releases": true) */
};

struct console_opts {
    xchg_matcher *m;            /* owned by the caller; used under the console's lock */
    const xchg_agreement *p;    /* the verified agreement */
    const xchg_seckey *op;      /* the operator's key: signs every decision */
    const xchg_seckey *matcher; /* the matcher's key, for releases (NULL: no releases) */
    const char *outbox;         /* packets go to outbox/<recipient>/ (NULL: no releases) */
    const char *host;           /* the address served, e.g. "127.0.0.1" */
    unsigned port;
    const xchg_release_share *share; /* this operator's release-key share, or NULL (an
                                        agreement without a release key) */
};

/* A request as the server saw it. Header values NULL when absent. */
struct console_req {
    const char *method, *path;                        /* path without the query */
    const char *(*arg)(void *actx, const char *name); /* query argument, or NULL */
    void *actx;
    const char *host, *origin, *cookie, *csrf, *content_type;
    const char *body;
    size_t body_len;
};

struct console_resp {
    unsigned status;
    const char *content_type;
    char *body; /* malloc'ed (free with free()) */
    size_t len;
    char set_cookie[200];
    char location[64];
};

/* A console over o (copied; the pointers must outlive it), with a fresh one-time token
 * written to token (64 hex + NUL). NULL when out of memory or the worker cannot start. */
struct console *console_new(const struct console_opts *o, char token[65]);
/* Remote mode: every store call and decision through b (borrowed; must outlive c), before
 * the first request; o.m is then unused (NULL). */
void console_set_remote(struct console *c, const struct console_backend *b);
/* Waits for running jobs, then frees; accepts NULL. */
void console_free(struct console *c);
/* Handle one request: resp is filled (status, body, headers to add). */
void console_handle(struct console *c, const struct console_req *rq, struct console_resp *resp);
/* The security headers every response carries (name, value pairs; NULL-terminated). */
extern const char *const console_security_headers[];
/* Block until no job is queued or running (tests). */
void console_wait_idle(struct console *c);
/* The cookie's name for this console ("xchg_console_<port>"). */
const char *console_cookie_name(const struct console *c);

#endif
