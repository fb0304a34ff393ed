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
    "                 [--passphrase-fd N]\n"
    "       xchg-keyd keygen -o KEYFILE [--passphrase-fd N | --unprotected]\n"
    "\n"
    "Serve the agreement's OPRF key over HTTPS (TLS 1.2 or 1.3). 'keygen' makes a new key\n"
    "file (0600, passphrase-protected with Argon2id unless --unprotected; the passphrase is\n"
    "asked on the terminal or read from --passphrase-fd, never argv) and prints the public\n"
    "key for the agreement's tokens.key. --listen\n"
    "127.0.0.1:0 picks a free port; the daemon prints 'listening on HOST:PORT' once it\n"
    "accepts connections. The key must be the agreement's tokens.key.\n"
    "Endpoints (every request signed with an agency's key of the agreement):\n"
    "  GET  /v1/health   any party\n"
    "  POST /v1/oprf     agencies: a batch of blinded points (docs/formats.md)\n"
    "Each agency may ask for tokens.queries_per_day evaluations per UTC day (refused with\n"
    "HTTP 429 beyond); every request is appended to the --audit file, a hash-chained log\n"
    "(xchg audit verify checks it against the custodian's key: agency, evaluations, outcome,\n"
    "the day's total), verified whole at start (the daemon refuses to start on a log that\n"
    "does not verify) and today's totals are read back from it. --record-inputs appends\n"
    "every received point in hex (tests only).\n"
    "Limits (defaults): --max-connections 512, --max-per-ip 16, --header-timeout 10 s,\n"
    "--body-timeout 60 s, --timeout 15 s without progress, body at most one full batch.\n"
    "One log line per request goes to stderr. SIGTERM or SIGINT stops it cleanly.\n";

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define MAX_BODY XCHG_OPRF_REQ_BYTES(XCHG_OPRF_MAX_BATCH)

/* The daemon: the library's service object (every rule) and the connection watchdog. */
struct server {
    xchg_agreement *p;
    xchg_oprf_service *svc;
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

static const char *party_id(struct server *sv, size_t i)
{
    return xchg_agreement_get(sv->p)->parties[i].id;
}

/* The HTTP status of each of the service's refusals. */
static unsigned outcome_status(xchg_oprf_outcome o)
{
    switch (o) {
    case XCHG_OPRF_ANSWERED:
        return MHD_HTTP_OK;
    case XCHG_OPRF_UNAUTHENTICATED:
        return MHD_HTTP_UNAUTHORIZED;
    case XCHG_OPRF_FORBIDDEN:
        return MHD_HTTP_FORBIDDEN;
    case XCHG_OPRF_NO_ENDPOINT:
        return MHD_HTTP_NOT_FOUND;
    case XCHG_OPRF_BAD_REQUEST:
        return MHD_HTTP_BAD_REQUEST;
    case XCHG_OPRF_RATE_LIMITED:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    case XCHG_OPRF_FAILED:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    case XCHG_OPRF_BUSY:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
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

/* The whole body is in: the service checks it, counts it, records it and evaluates. */
static enum MHD_Result ep_oprf(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    if (r->too_big)
        return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than one batch");
    xchg_oprf_reply rep;
    xchg_err e = xchg_oprf_service_answer(sv->svc, r->party, r->body_hex, r->body, r->blen,
                                          (int64_t)time(NULL), &rep);
    r->evaluations = rep.evaluations;
    if (e != XCHG_OK)
        return send_error(conn, r, outcome_status(rep.outcome), rep.message);
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(rep.len, rep.body, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(rep.body);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, mr);
    MHD_destroy_response(mr);
    r->status = MHD_HTTP_OK;
    r->out += rep.len;
    return ret;
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* The first call for a request (its head is complete): route, authenticate, answer. */
static enum MHD_Result dispatch(struct server *sv, struct MHD_Connection *conn, struct req *r,
                                const char *url, const char *method)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    enum { HEALTH, OPRF, NONE } ep = NONE;
    if (strcmp(url, XCHG_OPRF_HEALTH_PATH) == 0)
        ep = HEALTH;
    else if (strcmp(url, XCHG_OPRF_PATH) == 0)
        ep = OPRF;
    if (ep == NONE)
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if ((ep == OPRF && !post) || (ep == HEALTH && !get))
        return send_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    xchg_netauth_request rq = httpd_netauth_request(conn, method, url);
    xchg_oprf_reply rep;
    if (xchg_oprf_service_admit(sv->svc, &rq, (int64_t)time(NULL), &rep) != XCHG_OK)
        return send_error(conn, r, outcome_status(rep.outcome), rep.message);
    r->party = rep.party;
    snprintf(r->body_hex, sizeof r->body_hex, "%s", rq.body_sha256);
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
            httpd_watch_set(&sv->wd, conn, sv->wd.body_ms, "body");
        else if (r->status >= 400)
            httpd_watch_set(&sv->wd, conn, sv->wd.header_ms, "request");
        else
            httpd_watch_set(&sv->wd, conn, 0, "request");
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
    httpd_watch_set(&sv->wd, conn, 0, "body");
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
        httpd_watch_set(&sv->wd, conn, sv->wd.header_ms, "request");
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

/* xchg-keyd keygen -o FILE: a new OPRF key (0600; passphrase-protected unless
 * --unprotected) and its public key on stdout. */
static int keygen_main(int argc, char **argv)
{
    const char *out = NULL, *pfd = NULL, *unprot = NULL;
    const struct cli_opt opts[] = {{"--output", 'o', 1, &out},
                                   {"--passphrase-fd", 0, 1, &pfd},
                                   {"--unprotected", 0, 0, &unprot},
                                   {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, usage);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (!out || npos) {
        cli_error("keygen needs -o KEYFILE");
        return EXIT_USAGE;
    }
    if (unprot && pfd) {
        cli_error("--unprotected contradicts --passphrase-fd");
        return EXIT_USAGE;
    }
    char *pass = NULL;
    size_t passlen = 0;
    if (!unprot &&
        (rc = cli_read_passphrase(pfd, "Passphrase for the new OPRF key: ",
                                  CLI_PASS_CONFIRM | CLI_PASS_NEW_KEY, &pass, &passlen)) != 0)
        return rc;
    uint8_t *sk = sodium_malloc(XCHG_OPRF_SCALAR_BYTES), pk[XCHG_OPRF_ELEMENT_BYTES];
    if (!sk) {
        xchg_secure_free(pass);
        return EXIT_INTERNAL;
    }
    xchg_err e = xchg_oprf_keygen(sk, pk);
    if (e == XCHG_OK)
        e = pass ? xchg_oprf_key_write_protected(out, sk, pass, passlen, NULL, 0)
                 : xchg_oprf_key_write(out, sk, 0);
    sodium_free(sk); /* wiped */
    xchg_secure_free(pass);
    if (e == XCHG_ERR_EXISTS) {
        cli_error("%s exists; refusing to overwrite an OPRF key", out);
        return EXIT_IO;
    }
    if (e != XCHG_OK)
        return cli_fail(e, NULL, out);
    if (unprot)
        cli_warn("%s is not protected by a passphrase: anyone who can read it can evaluate "
                 "the agreement's OPRF",
                 out);
    char hex[2 * XCHG_OPRF_ELEMENT_BYTES + 1];
    xchg_hex_encode(hex, pk, sizeof pk);
    printf("%s\n", hex);
    fprintf(stderr, "wrote %s (0600%s); its public key above goes in the agreement as tokens.key\n",
            out, unprot ? "" : ", passphrase-protected");
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
               *perip = NULL, *hdrtmo = NULL, *bodytmo = NULL, *record = NULL, *pfd = NULL;
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
                                   {"--passphrase-fd", 0, 1, &pfd},
                                   {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc;
    struct server sv;
    memset(&sv, 0, sizeof sv);
    char *certpem = NULL, *keypem = NULL;
    size_t certlen = 0, keylen = 0;
    xchg_diag *d = NULL;
    struct MHD_Daemon *daemon = NULL;
    int wd_made = 0;
    uint8_t *sk = NULL;
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
    if ((threads && httpd_parse_u64(threads, 1, 256, &nthreads)) ||
        (timeout && httpd_parse_u64(timeout, 1, 3600, &tmo)) || httpd_parse_listen(listen, &sa) ||
        (maxconn && httpd_parse_u64(maxconn, 1, 10000, &max_conn)) ||
        (perip && httpd_parse_u64(perip, 1, 10000, &per_ip)) ||
        (hdrtmo && httpd_parse_u64(hdrtmo, 1, 3600, &header_s)) ||
        (bodytmo && httpd_parse_u64(bodytmo, 1, 3600, &body_s))) {
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
    sk = sodium_malloc(XCHG_OPRF_SCALAR_BYTES);
    if (!sk) {
        rc = EXIT_INTERNAL;
        goto cleanup;
    }
    int prot = 0;
    xchg_err e = xchg_oprf_key_protected(okey, &prot, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, okey);
        goto cleanup;
    }
    {
        char *pass = NULL;
        size_t passlen = 0;
        if (prot && (rc = cli_read_passphrase(pfd, "Passphrase for the OPRF key: ", 0, &pass,
                                              &passlen)) != 0)
            goto cleanup;
        e = xchg_oprf_key_load(okey, pass, passlen, sk, d);
        xchg_secure_free(pass); /* wiped */
    }
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, okey);
        goto cleanup;
    }
    /* every rule from here on is the library's: key check, log verified, counts restored */
    e = xchg_oprf_service_open(sv.p, sk, audit, (int64_t)time(NULL), &sv.svc, d);
    sodium_free(sk); /* wiped; the service keeps its own locked copy */
    sk = NULL;
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, e == XCHG_ERR_DENIED ? okey : audit);
        goto cleanup;
    }
    if (record && (e = xchg_oprf_service_record_inputs(sv.svc, record, d)) != XCHG_OK) {
        rc = cli_fail(e, d, record);
        goto cleanup;
    }
    if ((e = xchg_file_read(cert, 1 << 20, &certpem, &certlen, d)) != XCHG_OK ||
        (e = xchg_file_read_secret(tlskey, 1 << 20, &keypem, &keylen, d)) != XCHG_OK) {
        rc = cli_fail(e, d, "TLS certificate or key");
        goto cleanup;
    }

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
        (unsigned)per_ip, MHD_OPTION_NOTIFY_CONNECTION, httpd_notify_conn, &sv.wd,
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
    xchg_oprf_service_free(sv.svc);
    if (sk)
        sodium_free(sk);
    xchg_agreement_free(sv.p);
    free(certpem);
    xchg_secure_free(keypem);
    xchg_diag_free(d);
    return rc;
}
