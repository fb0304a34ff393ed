/*
 * xchg seal's connection to the OPRF key service (keyd_client.h): each batch is one
 * POST /v1/oprf signed with the agency's key (include/exchange/netauth.h), over TLS 1.2+
 * pinned to the CA given with --keyd-ca, on one kept-alive connection.
 */
#include "keyd_client.h"
#include "net_curl.h"
#include "cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ANSWER (XCHG_OPRF_RESP_BYTES(XCHG_OPRF_MAX_BATCH) + 4096)
#define ATTEMPTS 4

struct cli_keyd {
    CURL *curl;
    char base[512];
    char ca[4096];
    const xchg_seckey *k;
};


int cli_keyd_open(const char *url, const char *ca, const xchg_seckey *k, struct cli_keyd **out)
{
    size_t ul = url ? strlen(url) : 0;
    while (ul && url[ul - 1] == '/')
        ul--;
    if (!url || strncmp(url, "https://", 8) != 0 || ul <= 8 || ul >= 512 ||
        memchr(url + 8, '/', ul - 8)) {
        cli_error("the key service's URL must be https://HOST:PORT, not '%s'", url ? url : "");
        return EXIT_USAGE;
    }
    if (!ca || strlen(ca) >= 4096) {
        cli_error("the agreement keys its tokens through a key service: give its CA with "
                  "--keyd-ca CA.pem");
        return EXIT_USAGE;
    }
    struct cli_keyd *c = calloc(1, sizeof *c);
    if (!c || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        free(c);
        cli_error("cannot initialise libcurl");
        return EXIT_INTERNAL;
    }
    memcpy(c->base, url, ul);
    c->base[ul] = 0;
    snprintf(c->ca, sizeof c->ca, "%s", ca);
    c->k = k;
    *out = c;
    return 0;
}

void cli_keyd_close(struct cli_keyd *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

xchg_err cli_keyd_transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                            size_t *resp_len, char *why, size_t whylen)
{
    struct cli_keyd *c = ctx;
    uint8_t sha[XCHG_SHA256_BYTES];
    xchg_sha256(req, len, sha);
    char url[600];
    snprintf(url, sizeof url, "%s/v1/oprf", c->base);
    for (unsigned attempt = 0;; attempt++) {
        xchg_netauth_headers h;
        if (xchg_netauth_sign(c->k, "POST", "/v1/oprf", (int64_t)time(NULL), sha, &h) != XCHG_OK)
            return XCHG_ERR_CRYPTO;
        char line[6][160];
        struct curl_slist *hl = NULL;
        snprintf(line[0], sizeof line[0], "%s: %s", XCHG_NETAUTH_H_KEY, h.key);
        snprintf(line[1], sizeof line[1], "%s: %s", XCHG_NETAUTH_H_TIME, h.time);
        snprintf(line[2], sizeof line[2], "%s: %s", XCHG_NETAUTH_H_NONCE, h.nonce);
        snprintf(line[3], sizeof line[3], "%s: %s", XCHG_NETAUTH_H_BODY, h.body_sha256);
        snprintf(line[4], sizeof line[4], "%s: %s", XCHG_NETAUTH_H_SIG, h.signature);
        snprintf(line[5], sizeof line[5], "Content-Type: application/octet-stream");
        for (int i = 0; i < 6; i++)
            hl = curl_slist_append(hl, line[i]);
        hl = curl_slist_append(hl, "Expect:"); /* one round trip per batch */
        struct net_body b = {.max = MAX_ANSWER};
        CURL *cu = c->curl;
        net_curl_pin(cu, url, c->ca, 120L);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, net_body_write);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(cu, CURLOPT_POST, 1L);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, (const char *)req);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        CURLcode cc = curl_easy_perform(cu);
        long status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hl);
        if (cc == CURLE_OK && status == 200 && !b.overflow) {
            *resp = (uint8_t *)b.b;
            *resp_len = b.len;
            return XCHG_OK;
        }
        int tls = cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                  cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM;
        int retry = !tls && (cc != CURLE_OK || status >= 500) && attempt + 1 < ATTEMPTS;
        if (!retry) {
            if (cc != CURLE_OK) {
                snprintf(why, whylen, "cannot talk to %s: %s%s", c->base, curl_easy_strerror(cc),
                         tls ? " (its certificate is not signed by the CA given with --keyd-ca, "
                               "or TLS failed)"
                             : "");
            } else {
                json_t *j = b.b ? json_loadb(b.b, b.len, 0, NULL) : NULL;
                const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
                snprintf(why, whylen, "%s refused the request (HTTP %ld): %s", c->base, status,
                         msg ? msg : "no reason given");
                json_decref(j);
            }
            free(b.b);
            if (cc != CURLE_OK)
                return tls ? XCHG_ERR_VERIFY : XCHG_ERR_IO;
            return status == 401 ? XCHG_ERR_VERIFY : status >= 500 ? XCHG_ERR_IO : XCHG_ERR_DENIED;
        }
        free(b.b);
        pause_ms(250L << attempt);
    }
}
