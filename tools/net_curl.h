/*
 * What the tools' HTTPS clients (xchg submit/fetch-packets, the OPRF client of xchg seal,
 * the remote console) share: the pinned-CA TLS settings every request uses
 * (docs/network.md "Client") and a bounded in-memory answer.
 */
#ifndef XCHG_NET_CURL_H
#define XCHG_NET_CURL_H

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* https only, the peer verified against this CA file alone (no system store), TLS 1.2+,
 * host name checked; timeout in seconds (0: none beyond the 15 s connect timeout). */
static inline void net_curl_pin(CURL *c, const char *url, const char *ca, long timeout)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    if (timeout > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
}

/* An answer kept in memory, NUL-terminated, at most max bytes (overflow set beyond). */
struct net_body {
    char *b;
    size_t len, max;
    int overflow;
};

static inline size_t net_body_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct net_body *s = ud;
    size_t n = sz * nm;
    if (s->len + n > s->max) {
        s->overflow = 1;
        return 0;
    }
    char *b = realloc(s->b, s->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + s->len, p, n);
    s->len += n;
    b[s->len] = 0;
    s->b = b;
    return n;
}

#endif
