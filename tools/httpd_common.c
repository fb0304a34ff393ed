/* The HTTPS daemons' shared log writer and connection deadlines (httpd_common.h). */
#include "httpd_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the log: one writer for every line -------------------------------------------- */

int64_t httpd_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Append v to buf[*pos..cap) as a log value. Request paths, MHD's messages and peer
 * addresses come from the network, so nothing is written as it came: bytes below 0x20,
 * DEL and bytes above 0x7f become \xNN, '"' and '\\' are escaped, and a value that is
 * empty or holds a space or '=' is quoted. A line therefore always ends where the writer
 * ends it, and a value cannot pose as another field. Truncated values end with "...".
 */
static void log_value(char *buf, size_t cap, size_t *pos, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos, n = strlen(v);
    int quote = n == 0 || strpbrk(v, " =") != NULL;
    const size_t room = cap - 8; /* for '"', "...", '"', '\n' */
    if (quote && p < room)
        buf[p++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (p + 4 > room) {
            memcpy(buf + p, "...", 3);
            p += 3;
            break;
        }
        if (ch < 0x20 || ch >= 0x7f) {
            buf[p++] = '\\';
            buf[p++] = 'x';
            buf[p++] = hex[ch >> 4];
            buf[p++] = hex[ch & 15];
        } else if (ch == '"' || ch == '\\') {
            buf[p++] = '\\';
            buf[p++] = (char)ch;
        } else {
            buf[p++] = (char)ch;
        }
    }
    if (quote)
        buf[p++] = '"';
    *pos = p;
}

/*
 * The one log-line writer: "time=... KEY=VALUE ...\n" on stderr from (key, value) string
 * pairs ending with a NULL key. Each line goes out in a single write(2) under a lock, so
 * the lines of concurrent requests never interleave.
 */
void httpd_log_line(const char *key, ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char buf[2048];
    size_t pos = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    pos += strftime(buf, sizeof buf, "time=%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        size_t kl = strlen(k);
        if (pos + kl + 16 > sizeof buf)
            break;
        buf[pos++] = ' ';
        memcpy(buf + pos, k, kl); /* keys are constants of this file */
        pos += kl;
        buf[pos++] = '=';
        log_value(buf, sizeof buf, &pos, v ? v : "-");
    }
    va_end(ap);
    buf[pos++] = '\n';
    pthread_mutex_lock(&lock);
    for (size_t off = 0; off < pos;) {
        ssize_t w = write(STDERR_FILENO, buf + off, pos - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&lock);
}

/* libmicrohttpd's own messages (errors, refused connections) go through the same writer.
 * The format is the library's own, not ours (its callback signature), hence the pragma. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    httpd_log_line("event", "mhd", "msg", msg, NULL);
}
#pragma GCC diagnostic pop

/* ---- connection deadlines ----------------------------------------------------------- */

/*
 * The idle timeout (MHD_OPTION_CONNECTION_TIMEOUT) only fires when a connection makes no
 * progress at all: a client sending one header line every few seconds keeps it alive
 * forever (slowloris). libmicrohttpd 0.9.75 has no total deadline, so we keep one per
 * connection: from acceptance (TLS handshake included) or from the end of its previous
 * answer, the request head must be complete within --header-timeout; an authenticated
 * upload's body within --body-timeout. A watchdog thread shuts down the socket of a
 * connection past its deadline; libmicrohttpd then sees the end of the stream and closes
 * it, freeing the slot. Entries leave the list in the CLOSED notification, which comes
 * before libmicrohttpd closes the descriptor, so the watchdog never touches a descriptor
 * number that has been reused: it acts only under the lock, on listed entries.
 */
void httpd_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct httpd_watchdog *wd = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        struct httpd_conn_watch *cw = calloc(1, sizeof *cw);
        if (!cw || !fi) {
            /* cannot watch it: do not serve it either */
            if (fi)
                shutdown(fi->connect_fd, SHUT_RDWR);
            free(cw);
            *socket_context = NULL;
            return;
        }
        cw->fd = fi->connect_fd;
        snprintf(cw->peer, sizeof cw->peer, "-");
        if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->client_addr)->sin_addr, cw->peer,
                      sizeof cw->peer);
        else if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->client_addr)->sin6_addr,
                      cw->peer, sizeof cw->peer);
        cw->started_ms = httpd_now_ms();
        cw->deadline_ms = cw->started_ms + wd->header_ms;
        cw->phase = "request";
        pthread_mutex_lock(&wd->lock);
        cw->next = wd->head;
        if (wd->head)
            wd->head->prev = cw;
        wd->head = cw;
        pthread_mutex_unlock(&wd->lock);
        *socket_context = cw;
        return;
    }
    struct httpd_conn_watch *cw = *socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || !cw)
        return;
    pthread_mutex_lock(&wd->lock);
    if (cw->prev)
        cw->prev->next = cw->next;
    else
        wd->head = cw->next;
    if (cw->next)
        cw->next->prev = cw->prev;
    pthread_mutex_unlock(&wd->lock);
    *socket_context = NULL;
    if (cw->cut) {
        char ms[32], lim[32];
        snprintf(ms, sizeof ms, "%lld", (long long)(httpd_now_ms() - cw->started_ms));
        snprintf(lim, sizeof lim, "%u",
                 (strcmp(cw->phase, "body") == 0 ? wd->body_ms : wd->header_ms) / 1000);
        httpd_log_line("event", "deadline", "peer", cw->peer, "phase", cw->phase, "limit_s", lim,
                       "conn_ms", ms, "msg", "connection closed: request not complete in time",
                       NULL);
    }
    free(cw);
}

/* Give the connection of conn a new deadline ms from now (0: none), for phase. */
void httpd_watch_set(struct httpd_watchdog *wd, struct MHD_Connection *conn, unsigned ms,
                     const char *phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct httpd_conn_watch *cw = ci ? ci->socket_context : NULL;
    if (!cw)
        return;
    pthread_mutex_lock(&wd->lock);
    cw->deadline_ms = ms ? httpd_now_ms() + ms : 0;
    cw->phase = phase;
    pthread_mutex_unlock(&wd->lock);
}

void *httpd_watchdog_main(void *arg)
{
    struct httpd_watchdog *wd = arg;
    pthread_mutex_lock(&wd->lock);
    while (!wd->stop) {
        int64_t now = httpd_now_ms();
        for (struct httpd_conn_watch *cw = wd->head; cw; cw = cw->next) {
            if (!cw->cut && cw->deadline_ms && now >= cw->deadline_ms) {
                shutdown(cw->fd, SHUT_RDWR);
                cw->cut = 1;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L; /* deadlines hold to within 0.2 s */
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wd->wake, &wd->lock, &until);
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

enum MHD_Result httpd_send_json(struct MHD_Connection *conn, unsigned status, json_t *j,
                                uint64_t *bytes)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    size_t n = strlen(s);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    *bytes += n;
    return ret;
}

static unsigned auth_status(xchg_netauth_reason why)
{
    switch (why) {
    case XCHG_NETAUTH_WRONG_ROLE:
        return MHD_HTTP_FORBIDDEN;
    case XCHG_NETAUTH_BUSY:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_UNAUTHORIZED;
    }
}

xchg_netauth_request httpd_netauth_request(struct MHD_Connection *conn, const char *method,
                                           const char *url)
{
    return (xchg_netauth_request){
        .method = method,
        .path = url,
        .key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_KEY),
        .time = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_TIME),
        .nonce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_NONCE),
        .body_sha256 = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_BODY),
        .signature = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_SIG),
    };
}

int httpd_authenticate(xchg_netauth *auth, struct MHD_Connection *conn, const char *method,
                       const char *url, unsigned roles, size_t *party,
                       char body_hex[2 * XCHG_SHA256_BYTES + 1], unsigned *status, const char **msg)
{
    xchg_netauth_request rq = httpd_netauth_request(conn, method, url);
    xchg_netauth_reason why;
    if (xchg_netauth_verify(auth, &rq, roles, (int64_t)time(NULL), party, &why) != XCHG_OK) {
        *status = auth_status(why);
        *msg = xchg_netauth_reason_text(why);
        return -1;
    }
    snprintf(body_hex, 2 * XCHG_SHA256_BYTES + 1, "%s", rq.body_sha256);
    return 0;
}

int httpd_parse_listen(const char *s, struct sockaddr_in *sa)
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

int httpd_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}
