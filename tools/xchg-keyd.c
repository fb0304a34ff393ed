/*
 * xchg-keyd — the agreement's OPRF key service (libmicrohttpd, TLS 1.2+), docs/keyd.md.
 *
 * It holds the OPRF key k whose public key K = k·G the agreement publishes
 * (tokens: {mode: oprf, keyd: URL, key: K}) and answers agencies' batches of blinded
 * points with k·B and one DLEQ proof (include/exchange/oprf.h). It never sees a value:
 * only points blinded by a random scalar the agency keeps. Every request is signed with an
 * agency's key of the agreement (include/exchange/netauth.h: time window, replay cache,
 * body hash); each agency may ask for at most tokens.queries_per_day evaluations per UTC
 * day; every request is recorded in an append-only audit file with its counts — never a
 * point or a value. The HTTPS hardening (deadlines against slow clients, connection
 * limits, body limit, one escaped log line per request) is xchg-matcherd's.
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "httpd_common.h"

/* the shared daemon plumbing (httpd_common.c) under this file's names */
#define log_line(...) httpd_log_line(__VA_ARGS__)
#define now_ms() httpd_now_ms()
#define mhd_log httpd_mhd_log
#define watchdog_main httpd_watchdog_main
#define conn_watch httpd_conn_watch
#define watchdog httpd_watchdog


static const char usage[] =
    "usage: xchg-keyd --agreement A.yaml --oprf-key KEYFILE --audit FILE\n"
    "                 --cert CERT.pem --tls-key KEY.pem [--listen HOST:PORT] [--threads N]\n"
    "                 [--timeout S] [--max-connections N] [--max-per-ip N]\n"
    "                 [--header-timeout S] [--body-timeout S] [--record-inputs FILE]\n"
    "       xchg-keyd keygen -o KEYFILE\n"
    "\n"
    "Serve the agreement's OPRF key over HTTPS (TLS 1.2 or 1.3). 'keygen' makes a new key\n"
    "file (0600) and prints the public key for the agreement's tokens.key. --listen\n"
    "127.0.0.1:0 picks a free port; the daemon prints 'listening on HOST:PORT' once it\n"
    "accepts connections. The key must be the agreement's tokens.key.\n"
    "Endpoints (every request signed with an agency's key of the agreement):\n"
    "  GET  /v1/health   any party\n"
    "  POST /v1/oprf     agencies: a batch of blinded points (docs/formats.md)\n"
    "Each agency may ask for tokens.queries_per_day evaluations per UTC day (refused with\n"
    "HTTP 429 beyond); every request is appended to the --audit file (JSON lines: time,\n"
    "agency, evaluations, outcome, the day's total) and today's totals are read back from it\n"
    "at start. --record-inputs appends every received point in hex (tests only).\n"
    "Limits (defaults): --max-connections 512, --max-per-ip 16, --header-timeout 10 s,\n"
    "--body-timeout 60 s, --timeout 15 s without progress, body at most one full batch.\n"
    "One log line per request goes to stderr. SIGTERM or SIGINT stops it cleanly.\n";

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define MAX_BODY XCHG_OPRF_REQ_BYTES(XCHG_OPRF_MAX_BATCH)

/* One accepted connection, watched for its deadline (see the watchdog below). */
struct server {
    xchg_agreement *p;
    uint8_t *sk; /* the OPRF key (sodium_malloc) */
    xchg_netauth *auth;
    pthread_mutex_t lock; /* the day's counters, the audit file and the record file */
    uint64_t *used;       /* per party: evaluations on `day` */
    int32_t day;          /* UTC day the counters are for */
    int audit_fd;
    int record_fd; /* --record-inputs, or -1 */
    struct watchdog wd;
};

/* Per-request state, from the first call of the handler to the completion callback. */
struct req {
    struct timespec t0;
    char method[8];
    char path[256];
    char key[XCHG_KEYID_HEXLEN + 1];
    unsigned status;
    uint64_t in, out;
    int upload; /* a POST /v1/oprf that passed authentication */
    int too_big;
    uint8_t *body;
    size_t blen;
    char body_hex[2 * XCHG_SHA256_BYTES + 1];
    size_t party;
    size_t evaluations;
};

/* ---- the log and connection deadlines: httpd_common.c ----------------------------- */

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct server *sv = cls;
    httpd_notify_conn(&sv->wd, conn, socket_context, code);
}

static void watch_set(struct server *sv, struct MHD_Connection *conn, unsigned ms,
                      const char *phase)
{
    httpd_watch_set(&sv->wd, conn, ms, phase);
}

/* ---- responses and authentication: httpd_common.c -------------------------------- */

static enum MHD_Result send_json(struct MHD_Connection *conn, struct req *r, unsigned status,
                                 json_t *j)
{
    r->status = status;
    return httpd_send_json(conn, status, j, &r->out);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct req *r, unsigned status,
                                  const char *msg)
{
    return send_json(conn, r, status, json_pack("{s:s}", "error", msg));
}

/* Check the signed headers of conn for an endpoint open to roles. */
static int authenticate(struct server *sv, struct MHD_Connection *conn, struct req *r,
                        const char *method, const char *url, unsigned roles, unsigned *status,
                        const char **msg)
{
    return httpd_authenticate(sv->auth, conn, method, url, roles, &r->party, r->body_hex, status,
                              msg);
}

static const char *party_id(struct server *sv, size_t i)
{
    return xchg_agreement_get(sv->p)->parties[i].id;
}

/* ---- the day's counters and the audit file ----------------------------------------- */

static int32_t utc_day(time_t t)
{
    return (int32_t)(t / 86400);
}

/*
 * Append one audit line (JSON, one write(2), fsync'd): what was asked and decided, in
 * counts. Called under sv->lock. -1 when it cannot be written (the request is then
 * refused: no evaluation goes unrecorded).
 */
static int audit_append(struct server *sv, size_t party, size_t n, const char *outcome,
                        uint64_t used)
{
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    time_t now = time(NULL);
    char day[11];
    xchg_date_format(utc_day(now), day);
    json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:I,s:s,s:I,s:I}", "time", (json_int_t)now, "day", day,
                          "agreement", pd->id, "agency", pd->parties[party].id, "evaluations",
                          (json_int_t)n, "outcome", outcome, "used_today", (json_int_t)used,
                          "limit", (json_int_t)pd->tokens.queries_per_day);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -1;
    size_t len = strlen(s);
    char *line = realloc(s, len + 2);
    if (!line) {
        free(s);
        return -1;
    }
    line[len++] = '\n';
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        ssize_t w = write(sv->audit_fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (rc == 0 && fdatasync(sv->audit_fd) != 0)
        rc = -1;
    free(line);
    return rc;
}

/* Today's totals from an existing audit file (lines of today with outcome "ok"). */
static int audit_restore(struct server *sv, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    char day[11];
    xchg_date_format(sv->day, day);
    char buf[2048];
    unsigned line = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        json_t *j = json_loads(buf, 0, NULL);
        const char *d = json_string_value(json_object_get(j, "day"));
        const char *o = json_string_value(json_object_get(j, "outcome"));
        const char *a = json_string_value(json_object_get(j, "agency"));
        json_int_t n = json_integer_value(json_object_get(j, "evaluations"));
        if (!j || !d || !o || !a) {
            cli_error("%s:%u: not an audit line of xchg-keyd", path, line);
            json_decref(j);
            fclose(f);
            return -2;
        }
        if (strcmp(d, day) == 0 && strcmp(o, "ok") == 0)
            for (size_t i = 0; i < pd->nparties; i++)
                if (strcmp(pd->parties[i].id, a) == 0)
                    sv->used[i] += (uint64_t)n;
        json_decref(j);
    }
    fclose(f);
    return 0;
}

/* Every received point in hex, one per line (--record-inputs: the tests' view of what the
 * service is given). Called under sv->lock. */
static void record_inputs(struct server *sv, const uint8_t *req, size_t n)
{
    char hex[2 * XCHG_OPRF_ELEMENT_BYTES + 2];
    for (size_t i = 0; i < n; i++) {
        xchg_hex_encode(hex, req + 8 + i * XCHG_OPRF_ELEMENT_BYTES, XCHG_OPRF_ELEMENT_BYTES);
        hex[2 * XCHG_OPRF_ELEMENT_BYTES] = '\n';
        if (write(sv->record_fd, hex, sizeof hex - 1) < 0)
            break;
    }
}

/* ---- endpoints --------------------------------------------------------------------- */

static enum MHD_Result ep_health(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    char k[2 * XCHG_OPRF_ELEMENT_BYTES + 1];
    xchg_hex_encode(k, pd->tokens.key, sizeof pd->tokens.key);
    return send_json(conn, r, MHD_HTTP_OK,
                     json_pack("{s:s,s:s,s:s,s:s}", "status", "ok", "agreement", pd->id, "party",
                               party_id(sv, r->party), "key", k));
}

/* The whole body is in: check its hash and framing, the agency's day, then evaluate. */
static enum MHD_Result ep_oprf(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    if (r->too_big)
        return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than one batch");
    uint8_t got[XCHG_SHA256_BYTES];
    xchg_sha256(r->body, r->blen, got);
    xchg_netauth_reason why;
    if (xchg_netauth_check_body(r->body_hex, got, &why) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_UNAUTHORIZED, xchg_netauth_reason_text(why));
    size_t n;
    if (xchg_oprf_request_count(r->body, r->blen, &n) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_BAD_REQUEST,
                          "not an OPRF request (docs/formats.md: XOQ1, count, points)");
    /* every element a valid point before anything is counted, recorded or evaluated */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *el = r->body + 8 + i * XCHG_OPRF_ELEMENT_BYTES;
        if (sodium_is_zero(el, XCHG_OPRF_ELEMENT_BYTES) ||
            !crypto_core_ristretto255_is_valid_point(el))
            return send_error(conn, r, MHD_HTTP_BAD_REQUEST,
                              "a blinded element is not a valid ristretto255 point");
    }
    r->evaluations = n;
    pthread_mutex_lock(&sv->lock);
    int32_t today = utc_day(time(NULL));
    if (today != sv->day) {
        memset(sv->used, 0, pd->nparties * sizeof *sv->used);
        sv->day = today;
    }
    uint64_t used = sv->used[r->party], limit = (uint64_t)pd->tokens.queries_per_day;
    if (used + n > limit) {
        int ar = audit_append(sv, r->party, n, "rate-limited", used);
        pthread_mutex_unlock(&sv->lock);
        if (ar != 0)
            return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the audit");
        char msg[400];
        snprintf(msg, sizeof msg,
                 "rate limit: agency '%s' has used %llu of its %llu OPRF evaluations for "
                 "today (UTC); this request asks for %zu more",
                 pd->parties[r->party].id, (unsigned long long)used, (unsigned long long)limit, n);
        return send_error(conn, r, MHD_HTTP_TOO_MANY_REQUESTS, msg);
    }
    /* counted and recorded before the answer: a crash cannot give an unrecorded answer */
    sv->used[r->party] = used + n;
    int ar = audit_append(sv, r->party, n, "ok", used + n);
    if (ar != 0)
        sv->used[r->party] = used;
    else if (sv->record_fd >= 0)
        record_inputs(sv, r->body, n);
    pthread_mutex_unlock(&sv->lock);
    if (ar != 0)
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the audit");
    uint8_t *resp = NULL;
    size_t rlen = 0;
    xchg_err e = xchg_oprf_serve(sv->sk, r->body, r->blen, &resp, &rlen);
    if (e == XCHG_ERR_FORMAT)
        return send_error(conn, r, MHD_HTTP_BAD_REQUEST,
                          "a blinded element is not a valid ristretto255 point");
    if (e != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "evaluation failed");
    struct MHD_Response *mr = MHD_create_response_from_buffer(rlen, resp, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(resp);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, mr);
    MHD_destroy_response(mr);
    r->status = MHD_HTTP_OK;
    r->out += rlen;
    return ret;
}

/* ---- dispatch ---------------------------------------------------------------------- */

#define ANY_PARTY                                                                                  \
    (XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY) | XCHG_NETAUTH_ROLE(XCHG_ROLE_MATCHER) |                  \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT) | XCHG_NETAUTH_ROLE(XCHG_ROLE_GOVERNANCE) |            \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_OPERATOR))

/* The first call for a request (its head is complete): route, authenticate, answer. */
static enum MHD_Result dispatch(struct server *sv, struct MHD_Connection *conn, struct req *r,
                                const char *url, const char *method)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    unsigned roles = 0;
    enum { HEALTH, OPRF, NONE } ep = NONE;
    if (strcmp(url, "/v1/health") == 0)
        ep = HEALTH, roles = ANY_PARTY;
    else if (strcmp(url, "/v1/oprf") == 0)
        ep = OPRF, roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY);
    if (ep == NONE)
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if ((ep == OPRF && !post) || (ep == HEALTH && !get))
        return send_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    unsigned status;
    const char *msg;
    if (authenticate(sv, conn, r, method, url, roles, &status, &msg) != 0)
        return send_error(conn, r, status, msg);
    if (ep == OPRF) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > MAX_BODY)
            return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than one batch");
        r->body = malloc(MAX_BODY);
        if (!r->body)
            return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        r->upload = 1;
        return MHD_YES;
    }
    uint8_t empty[XCHG_SHA256_BYTES];
    xchg_netauth_reason why;
    xchg_sha256("", 0, empty);
    if (xchg_netauth_check_body(r->body_hex, empty, &why) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_UNAUTHORIZED, xchg_netauth_reason_text(why));
    return ep_health(sv, conn, r);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version;
    struct server *sv = cls;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        const char *k = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_KEY);
        if (k && xchg_packet_name_ok(k, NULL) && strlen(k) == XCHG_KEYID_HEXLEN)
            snprintf(r->key, sizeof r->key, "%s", k);
        *con_cls = r;
        enum MHD_Result ret = dispatch(sv, conn, r, url, method);
        if (r->upload)
            watch_set(sv, conn, sv->wd.body_ms, "body");
        else if (r->status >= 400)
            watch_set(sv, conn, sv->wd.header_ms, "request");
        else
            watch_set(sv, conn, 0, "request");
        return ret;
    }
    if (!r->upload) {
        *upload_size = 0; /* a body on a request already answered: ignore it */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        r->in += n;
        if (r->too_big || r->blen + n > MAX_BODY)
            r->too_big = 1; /* discarded; answered once the body ended */
        else {
            memcpy(r->body + r->blen, upload, n);
            r->blen += n;
        }
        return MHD_YES;
    }
    r->upload = 0;
    watch_set(sv, conn, 0, "body");
    return ep_oprf(sv, conn, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct server *sv = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        watch_set(sv, conn, sv->wd.header_ms, "request");
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms =
        (double)(t1.tv_sec - r->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e6;
    char status[16], in[24], out[24], msb[32], ev[24];
    snprintf(status, sizeof status, "%u", r->status);
    snprintf(in, sizeof in, "%llu", (unsigned long long)r->in);
    snprintf(out, sizeof out, "%llu", (unsigned long long)r->out);
    snprintf(msb, sizeof msb, "%.1f", ms);
    snprintf(ev, sizeof ev, "%zu", r->evaluations);
    /* counts only: never a point, a value or a body */
    log_line("method", r->method, "path", r->path, "status", status, "key",
             r->key[0] ? r->key : "-", "evaluations", ev, "bytes_in", in, "bytes_out", out, "ms",
             msb, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? NULL : "aborted", "1", NULL);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- startup ----------------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || colon[1] == 0)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* xchg-keyd keygen -o FILE: a new OPRF key (0600) and its public key on stdout. */
static int keygen_main(int argc, char **argv)
{
    const char *out = NULL;
    const struct cli_opt opts[] = {{"--output", 'o', 1, &out}, {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, usage);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (!out || npos) {
        cli_error("keygen needs -o KEYFILE");
        return EXIT_USAGE;
    }
    uint8_t *sk = sodium_malloc(XCHG_OPRF_SCALAR_BYTES), pk[XCHG_OPRF_ELEMENT_BYTES];
    if (!sk)
        return EXIT_INTERNAL;
    xchg_err e = xchg_oprf_keygen(sk, pk);
    if (e == XCHG_OK)
        e = xchg_oprf_key_write(out, sk, 0);
    sodium_free(sk);
    if (e == XCHG_ERR_EXISTS) {
        cli_error("%s exists; refusing to overwrite an OPRF key", out);
        return EXIT_IO;
    }
    if (e != XCHG_OK)
        return cli_fail(e, NULL, out);
    char hex[2 * XCHG_OPRF_ELEMENT_BYTES + 1];
    xchg_hex_encode(hex, pk, sizeof pk);
    printf("%s\n", hex);
    fprintf(stderr, "wrote %s (0600); its public key above goes in the agreement as tokens.key\n",
            out);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    int hr = cli_harden(); /* before any secret is read: no core dumps, SIGXFSZ ignored */
    if (hr)
        return hr;
    if (xchg_init() != XCHG_OK) {
        cli_error("cannot initialise the crypto library");
        return EXIT_INTERNAL;
    }
    if (argc > 1 && strcmp(argv[1], "keygen") == 0)
        return keygen_main(argc - 1, argv + 1);
    const char *agr = NULL, *okey = NULL, *audit = NULL, *cert = NULL, *tlskey = NULL,
               *listen = "127.0.0.1:8444", *threads = NULL, *timeout = NULL, *maxconn = NULL,
               *perip = NULL, *hdrtmo = NULL, *bodytmo = NULL, *record = NULL;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr},
                                   {"--oprf-key", 'k', 1, &okey},
                                   {"--audit", 0, 1, &audit},
                                   {"--cert", 0, 1, &cert},
                                   {"--tls-key", 0, 1, &tlskey},
                                   {"--listen", 'l', 1, &listen},
                                   {"--threads", 't', 1, &threads},
                                   {"--timeout", 0, 1, &timeout},
                                   {"--max-connections", 0, 1, &maxconn},
                                   {"--max-per-ip", 0, 1, &perip},
                                   {"--header-timeout", 0, 1, &hdrtmo},
                                   {"--body-timeout", 0, 1, &bodytmo},
                                   {"--record-inputs", 0, 1, &record},
                                   {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc;
    struct server sv;
    memset(&sv, 0, sizeof sv);
    sv.audit_fd = sv.record_fd = -1;
    char *certpem = NULL, *keypem = NULL;
    size_t certlen = 0, keylen = 0;
    xchg_diag *d = NULL;
    struct MHD_Daemon *daemon = NULL;
    int lock_made = 0, wd_made = 0;
    pthread_t wd_thread;

    if ((rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    uint64_t nthreads = 2, tmo = 15, max_conn = 512, per_ip = 16, header_s = 10, body_s = 60;
    struct sockaddr_in sa;
    if (npos || !agr || !okey || !audit || !cert || !tlskey) {
        cli_error("xchg-keyd needs --agreement, --oprf-key, --audit, --cert and --tls-key");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if ((threads && parse_u64(threads, 1, 256, &nthreads)) ||
        (timeout && parse_u64(timeout, 1, 3600, &tmo)) || parse_listen(listen, &sa) ||
        (maxconn && parse_u64(maxconn, 1, 10000, &max_conn)) ||
        (perip && parse_u64(perip, 1, 10000, &per_ip)) ||
        (hdrtmo && parse_u64(hdrtmo, 1, 3600, &header_s)) ||
        (bodytmo && parse_u64(bodytmo, 1, 3600, &body_s))) {
        cli_error("bad --threads, --timeout, --listen, --max-connections, --max-per-ip, "
                  "--header-timeout or --body-timeout value");
        cli_hint("--listen takes an IPv4 HOST:PORT (port 0 picks a free one)");
        return EXIT_USAGE;
    }
    if (per_ip > max_conn || nthreads > max_conn) {
        cli_error("--max-per-ip and --threads cannot exceed --max-connections (%llu)",
                  (unsigned long long)max_conn);
        return EXIT_USAGE;
    }
    sv.wd.header_ms = (unsigned)header_s * 1000;
    sv.wd.body_ms = (unsigned)body_s * 1000;

    d = xchg_diag_new();
    {
        int32_t today;
        cli_today(&today);
        xchg_err le = xchg_policy_load_verified(agr, NULL, today, &sv.p, d);
        if (le != XCHG_OK) {
            rc = cli_fail(le, d, agr);
            goto cleanup;
        }
    }
    const xchg_policy_data *pd = xchg_agreement_get(sv.p);
    if (pd->tokens.mode != XCHG_TOKENS_OPRF) {
        cli_error("agreement '%s' has no 'tokens: {mode: oprf}' section: nothing to serve", pd->id);
        rc = EXIT_USAGE;
        goto cleanup;
    }
    sv.sk = sodium_malloc(XCHG_OPRF_SCALAR_BYTES);
    sv.used = calloc(pd->nparties ? pd->nparties : 1, sizeof *sv.used);
    if (!sv.sk || !sv.used) {
        rc = EXIT_INTERNAL;
        goto cleanup;
    }
    xchg_err e = xchg_oprf_key_read(okey, sv.sk, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, okey);
        goto cleanup;
    }
    {
        uint8_t pk[XCHG_OPRF_ELEMENT_BYTES];
        if (xchg_oprf_public(sv.sk, pk) != XCHG_OK ||
            sodium_memcmp(pk, pd->tokens.key, sizeof pk) != 0) {
            cli_error("%s is not the key of agreement '%s' (its public key differs from "
                      "tokens.key)",
                      okey, pd->id);
            rc = EXIT_DENIED;
            goto cleanup;
        }
    }
    sv.day = utc_day(time(NULL));
    int ar = audit_restore(&sv, audit);
    if (ar != 0) {
        if (ar == -1)
            cli_error("cannot read %s: %s", audit, strerror(errno));
        rc = ar == -1 ? EXIT_IO : EXIT_USAGE;
        goto cleanup;
    }
    sv.audit_fd = open(audit, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (sv.audit_fd < 0) {
        cli_error("cannot open %s: %s", audit, strerror(errno));
        rc = EXIT_IO;
        goto cleanup;
    }
    if (record) {
        sv.record_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (sv.record_fd < 0) {
            cli_error("cannot open %s: %s", record, strerror(errno));
            rc = EXIT_IO;
            goto cleanup;
        }
    }
    if (xchg_netauth_new(sv.p, 0, &sv.auth) != XCHG_OK) {
        cli_error("out of memory");
        rc = EXIT_INTERNAL;
        goto cleanup;
    }
    if ((e = xchg_file_read(cert, 1 << 20, &certpem, &certlen, d)) != XCHG_OK ||
        (e = xchg_file_read_secret(tlskey, 1 << 20, &keypem, &keylen, d)) != XCHG_OK) {
        rc = cli_fail(e, d, "TLS certificate or key");
        goto cleanup;
    }
    pthread_mutex_init(&sv.lock, NULL);
    lock_made = 1;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&sv.wd.lock, NULL);
    pthread_cond_init(&sv.wd.wake, NULL);
    if (pthread_create(&wd_thread, NULL, watchdog_main, &sv.wd) != 0) {
        cli_error("cannot start the connection watchdog thread");
        pthread_cond_destroy(&sv.wd.wake);
        pthread_mutex_destroy(&sv.wd.lock);
        rc = EXIT_INTERNAL;
        goto cleanup;
    }
    wd_made = 1;

    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_HTTPS_MEM_CERT, certpem, MHD_OPTION_HTTPS_MEM_KEY, keypem,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)nthreads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)tmo,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)per_ip, MHD_OPTION_NOTIFY_CONNECTION, notify_conn, &sv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, &sv,
        MHD_OPTION_END);
    if (!daemon) {
        cli_error("cannot start the HTTPS server on %s", listen);
        cli_hint("is the port free, and are the certificate and key PEM files a pair?");
        rc = EXIT_IO;
        goto cleanup;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("listening on %s:%u\n", host, info ? (unsigned)info->port : ntohs(sa.sin_port));
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    log_line("event", "stop", "msg",
             sig == SIGTERM ? "SIGTERM received, stopping" : "SIGINT received, stopping", NULL);
    rc = EXIT_OK;
cleanup:
    if (daemon)
        MHD_stop_daemon(daemon);
    if (wd_made) {
        pthread_mutex_lock(&sv.wd.lock);
        sv.wd.stop = 1;
        pthread_cond_signal(&sv.wd.wake);
        pthread_mutex_unlock(&sv.wd.lock);
        pthread_join(wd_thread, NULL);
        pthread_cond_destroy(&sv.wd.wake);
        pthread_mutex_destroy(&sv.wd.lock);
    }
    if (lock_made)
        pthread_mutex_destroy(&sv.lock);
    if (sv.audit_fd >= 0)
        close(sv.audit_fd);
    if (sv.record_fd >= 0)
        close(sv.record_fd);
    xchg_netauth_free(sv.auth);
    if (sv.sk)
        sodium_free(sv.sk);
    free(sv.used);
    xchg_agreement_free(sv.p);
    free(certpem);
    xchg_secure_free(keypem);
    xchg_diag_free(d);
    return rc;
}
