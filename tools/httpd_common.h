/*
 * What the project's HTTPS daemons (xchg-matcherd, xchg-keyd) share: the one log-line
 * writer (values from the network escaped so a line cannot be forged), libmicrohttpd's
 * messages through it, and the per-connection deadlines that close slowloris clients
 * (libmicrohttpd 0.9.75 has no total deadline; see httpd_common.c).
 */
#ifndef XCHG_HTTPD_COMMON_H
#define XCHG_HTTPD_COMMON_H

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "exchange/netauth.h"

struct httpd_conn_watch {
    struct httpd_conn_watch *prev, *next;
    int fd;
    int64_t started_ms, deadline_ms; /* CLOCK_MONOTONIC; deadline 0: none */
    const char *phase;               /* what the deadline is for: "request", "body" */
    int cut;                         /* closed by the watchdog */
    char peer[INET6_ADDRSTRLEN];
};

struct httpd_watchdog {
    pthread_mutex_t lock; /* the list and every entry's deadline */
    pthread_cond_t wake;
    struct httpd_conn_watch *head;
    unsigned header_ms, body_ms;
    int stop;
};

/* CLOCK_MONOTONIC in milliseconds. */
int64_t httpd_now_ms(void);
/* "time=... KEY=VALUE ...\n" on stderr from (key, value) pairs ending with a NULL key, in
 * one write(2) under a lock; values are escaped (docs/network.md "Logs"). */
void httpd_log_line(const char *key, ...);
/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's own messages through httpd_log_line. */
__attribute__((format(printf, 2, 0))) void httpd_mhd_log(void *cls, const char *fmt, va_list ap);
/* MHD_OPTION_NOTIFY_CONNECTION with cls = the daemon's struct httpd_watchdog: each new
 * connection gets the header deadline; closed ones leave the list. */
void httpd_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* A new deadline ms from now (0: none) for conn, named phase ("request", "body"). */
void httpd_watch_set(struct httpd_watchdog *wd, struct MHD_Connection *conn, unsigned ms,
                     const char *phase);
/* The watchdog thread (arg: struct httpd_watchdog): shuts down connections past their
 * deadline, every 0.2 s, until wd->stop. */
void *httpd_watchdog_main(void *arg);

/* Queue j (taken: decref'd) as a JSON response with this status; *bytes gets the body's
 * length (for the request log). */
enum MHD_Result httpd_send_json(struct MHD_Connection *conn, unsigned status, json_t *j,
                                uint64_t *bytes);
/* Check the signed headers of conn (docs/network.md "Authentication") for an endpoint open
 * to roles: 0 with *party and body_hex (the signed body digest) set, else -1 with the HTTP
 * *status and *msg to answer with. */
/* The signed-request headers of conn (docs/network.md), for xchg_netauth_verify. */
xchg_netauth_request httpd_netauth_request(struct MHD_Connection *conn, const char *method,
                                           const char *url);

int httpd_authenticate(xchg_netauth *auth, struct MHD_Connection *conn, const char *method,
                       const char *url, unsigned roles, size_t *party,
                       char body_hex[2 * XCHG_SHA256_BYTES + 1], unsigned *status,
                       const char **msg);

/* "HOST:PORT" (an IPv4 address; port 0 picks a free one) into *sa; -1 when malformed. */
int httpd_parse_listen(const char *s, struct sockaddr_in *sa);

/* A decimal option value in [lo, hi] into *out; -1 when not one (no sign, no junk). */
int httpd_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
