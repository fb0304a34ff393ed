/*
 * xchg-matcherd — the matcher's HTTPS daemon (libmicrohttpd, TLS 1.2+).
 *
 * Agencies POST sealed extracts, which are streamed to a temporary file beside the store
 * and ingested exactly as `xchg match ingest` does; recipients list and fetch the packets
 * the operators released to them. Every request is signed with a party key of the
 * agreement (include/exchange/netauth.h); docs/network.md describes the endpoints.
 */
#include "cli.h"
#include "operator_wire.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
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
    "usage: xchg-matcherd --agreement A.yaml --key MATCHER.key --db DB --db-key KEYFILE\n"
    "                     --cert CERT.pem --tls-key KEY.pem [--listen HOST:PORT]\n"
    "                     [--outbox DIR] [--max-upload BYTES] [--threads N] [--timeout S]\n"
    "                     [--max-connections N] [--max-per-ip N] [--header-timeout S]\n"
    "                     [--body-timeout S] [--passphrase-fd N]\n"
    "\n"
    "Serve the matcher over HTTPS (TLS 1.2 or 1.3). --listen 127.0.0.1:0 picks a free\n"
    "port; the daemon prints 'listening on HOST:PORT' once it accepts connections.\n"
    "Endpoints (every request signed with a party key of the agreement):\n"
    "  GET  /v1/health              any party\n"
    "  POST /v1/extracts            agencies: a sealed extract, ingested as 'xchg match ingest'\n"
    "  GET  /v1/extracts/ID         agencies, operators, governance: an extract's status\n"
    "  GET  /v1/packets             recipients: their packets in OUTBOX/<party id>/*.xrp\n"
    "  GET  /v1/packets/NAME        recipients: one packet's bytes\n"
    "  GET  /v1/operator/families   operators: the latest run's families, states, decisions\n"
    "  GET  /v1/operator/family/F   operators: one family's state, decisions, members, pairs\n"
    "  GET  /v1/operator/version    operators: changes when the store has changed\n"
    "  POST /v1/operator/prepare    operators: the decision request to sign locally\n"
    "  POST /v1/operator/submit     operators: a signed decision, verified and stored\n"
    "  GET  /v1/operator/reviews    operators: the clerical-review decisions\n"
    "  POST /v1/operator/review     operators: a signed review decision, verified and stored\n"
    "  POST /v1/operator/release    operators: a release of an approved family into --outbox\n"
    "Limits (defaults): --max-connections 512 at once, --max-per-ip 16 from one address,\n"
    "--header-timeout 10 s from accepting a connection (or ending its last answer) to the\n"
    "whole request head, TLS handshake included; --body-timeout 900 s for an upload's body;\n"
    "--timeout 15 s without any progress. A connection past its deadline is closed.\n"
    "One log line per request goes to stderr. SIGTERM or SIGINT stops it cleanly.\n";

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* One accepted connection, watched for its deadline (see the watchdog below). */
struct server {
    xchg_agreement *p;
    xchg_seckey *k;
    xchg_matcher *m;            /* the store and its audit log */
    xchg_netauth *auth;
    pthread_mutex_t store_lock; /* the store handle is used by one request at a time */
    const char *outbox;
    char dbdir[PATH_MAX - 64];
    uint64_t max_upload;
    int64_t submits; /* decisions, reviews and releases made through the daemon (store_lock) */
    struct watchdog wd;
};

/* An operator request's JSON body is held in memory, up to this size (a signed approval
 * under a release key carries one contribution, about 250 bytes, per released record). */
#define OPERATOR_BODY_MAX (1u << 20)

/* Per-request state, from the first call of the handler to the completion callback. */
struct req {
    struct timespec t0;
    char method[8];
    char path[256];
    char key[XCHG_KEYID_HEXLEN + 1];
    unsigned status;
    uint64_t in, out;
    int upload; /* a POST /v1/extracts that passed authentication */
    int too_big;
    int io_error;
    int fd;
    char tmp[PATH_MAX];
    char body_hex[2 * XCHG_SHA256_BYTES + 1];
    size_t party;
    xchg_sha256_stream *h;
    int op_post; /* an operator POST (1 prepare, 2 submit, 3 review, 4 release) being read */
    char *buf;   /* its body */
    size_t blen;
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

/* ---- endpoints --------------------------------------------------------------------- */

static enum MHD_Result ep_health(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    return send_json(conn, r, MHD_HTTP_OK,
                     json_pack("{s:s,s:s,s:s,s:b}", "status", "ok", "agreement", pd->id, "party",
                               party_id(sv, r->party), "releases", sv->outbox != NULL));
}

static enum MHD_Result ep_extract_status(struct server *sv, struct MHD_Connection *conn,
                                         struct req *r, const char *id)
{
    xchg_store_extract_status st;
    pthread_mutex_lock(&sv->store_lock);
    xchg_err e = xchg_store_find_extract(xchg_matcher_store(sv->m), id, &st, NULL);
    pthread_mutex_unlock(&sv->store_lock);
    if (e == XCHG_ERR_NOT_FOUND || e == XCHG_ERR_FORMAT)
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such extract");
    if (e != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store error");
    return send_json(conn, r, MHD_HTTP_OK,
                     json_pack("{s:s,s:s,s:I,s:I,s:s}", "extract_id", id, "agency", st.agency,
                               "records", (json_int_t)st.records, "ingested_at",
                               (json_int_t)st.ingested_at, "status",
                               st.superseded ? "superseded" : "ingested"));
}

static enum MHD_Result ep_packets(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    const char *rid = party_id(sv, r->party);
    json_t *list = json_array();
    char dir[PATH_MAX];
    if (!sv->outbox || !xchg_packet_name_ok(rid, NULL)) {
        json_decref(list);
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no outbox for this recipient");
    }
    snprintf(dir, sizeof dir, "%s/%s", sv->outbox, rid);
    DIR *dh = opendir(dir);
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            if (!xchg_packet_name_ok(de->d_name, ".xrp"))
                continue;
            char f[PATH_MAX + 256];
            struct stat sb;
            uint8_t h[XCHG_SHA256_BYTES];
            char hex[2 * XCHG_SHA256_BYTES + 1];
            snprintf(f, sizeof f, "%s/%s", dir, de->d_name);
            if (lstat(f, &sb) != 0 || !S_ISREG(sb.st_mode) ||
                xchg_sha256_file(f, h, NULL) != XCHG_OK)
                continue;
            xchg_hex_encode(hex, h, sizeof h);
            json_array_append_new(list, json_pack("{s:s,s:I,s:s}", "name", de->d_name, "size",
                                                  (json_int_t)sb.st_size, "sha256", hex));
        }
        closedir(dh);
    }
    return send_json(conn, r, MHD_HTTP_OK,
                     json_pack("{s:s,s:o}", "recipient", rid, "packets", list));
}

static enum MHD_Result ep_packet(struct server *sv, struct MHD_Connection *conn, struct req *r,
                                 const char *name)
{
    const char *rid = party_id(sv, r->party);
    char f[PATH_MAX];
    if (!sv->outbox || !xchg_packet_name_ok(rid, NULL) || !xchg_packet_name_ok(name, ".xrp"))
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such packet");
    snprintf(f, sizeof f, "%s/%s/%s", sv->outbox, rid, name);
    int fd = open(f, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such packet");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->status = MHD_HTTP_OK;
    r->out += (uint64_t)sb.st_size;
    return ret;
}

/* Begin an upload: size limit, temporary file beside the store, running hash. */
static enum MHD_Result upload_begin(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > sv->max_upload)
        return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "upload larger than allowed");
    snprintf(r->tmp, sizeof r->tmp, "%s/.xchg-upload-XXXXXX", sv->dbdir);
    r->fd = mkstemp(r->tmp);
    r->h = xchg_sha256_stream_new();
    if (r->fd < 0 || !r->h) {
        if (r->fd >= 0)
            unlink(r->tmp);
        r->tmp[0] = 0;
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    }
    r->upload = 1;
    return MHD_YES;
}

static enum MHD_Result upload_data(struct server *sv, struct req *r, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    r->in += n;
    if (r->too_big || r->io_error)
        return MHD_YES; /* discard; the answer is given once the body ended */
    if (r->in > sv->max_upload) {
        r->too_big = 1;
        return MHD_YES;
    }
    xchg_sha256_stream_update(r->h, data, n);
    while (n > 0) {
        ssize_t w = write(r->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r->io_error = 1;
            break;
        }
        data += w;
        n -= (size_t)w;
    }
    return MHD_YES;
}

/* The whole body has arrived: check its hash, then ingest it under the store lock. */
static enum MHD_Result upload_end(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    uint8_t got[XCHG_SHA256_BYTES];
    xchg_sha256_stream_final(r->h, got);
    r->h = NULL;
    if (close(r->fd) != 0)
        r->io_error = 1;
    r->fd = -1;
    if (r->too_big)
        return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "upload larger than allowed");
    if (r->io_error)
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    xchg_netauth_reason why;
    if (xchg_netauth_check_body(r->body_hex, got, &why) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_UNAUTHORIZED, xchg_netauth_reason_text(why));

    xchg_ingest_stats st;
    xchg_diag *d = xchg_diag_new();
    const xchg_pubkey *actor = &xchg_agreement_get(sv->p)->parties[r->party].key;
    pthread_mutex_lock(&sv->store_lock);
    /* as `xchg match ingest`: the ingest and its audit entry (the submitter's key as the
       actor) are one step; then a checkpoint signed by the matcher */
    xchg_err e = xchg_matcher_ingest(sv->m, sv->k, r->tmp, actor, "matcherd",
                                     (int64_t)time(NULL), &st, d);
    const char *outcome = st.already      ? "already ingested"
                          : st.superseded ? "stored superseded"
                                          : "ingested";
    xchg_diag *cd = xchg_diag_new();
    if (xchg_matcher_checkpoint(sv->m, sv->k, XCHG_AUDIT_INGEST, "ingest finished", cd) != XCHG_OK)
        fprintf(stderr, "xchg-matcherd: error: %s\n",
                xchg_diag_count(cd) ? xchg_diag_text(cd, 0) : "cannot sign the audit log");
    xchg_diag_free(cd);
    pthread_mutex_unlock(&sv->store_lock);
    enum MHD_Result ret;
    if (e != XCHG_OK) {
        char msg[512];
        const char *detail = xchg_diag_count(d) ? xchg_diag_message(d, 0) : "";
        snprintf(msg, sizeof msg, "extract rejected: %s%s%s", xchg_strerror(e), *detail ? ": " : "",
                 detail);
        unsigned status = (e == XCHG_ERR_IO || e == XCHG_ERR_NOMEM || e == XCHG_ERR_CRYPTO)
                              ? MHD_HTTP_INTERNAL_SERVER_ERROR
                              : MHD_HTTP_UNPROCESSABLE_CONTENT;
        ret = send_error(conn, r, status, msg);
    } else {
        ret = send_json(conn, r, st.already ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:I,s:s,s:s}", "extract_id", st.extract_id, "agency",
                                  st.agency, "records", (json_int_t)st.records, "status", outcome,
                                  "supersedes", st.supersedes));
    }
    xchg_diag_free(d);
    return ret;
}

/* ---- operator endpoints (docs/console.md "Remote mode") ----------------------------- */

static unsigned err_status(xchg_err e)
{
    switch (e) {
    case XCHG_ERR_DENIED:
    case XCHG_ERR_VERIFY:
        return MHD_HTTP_FORBIDDEN;
    case XCHG_ERR_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case XCHG_ERR_EXISTS:
        return MHD_HTTP_CONFLICT;
    case XCHG_ERR_ARG:
    case XCHG_ERR_FORMAT:
        return MHD_HTTP_BAD_REQUEST;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static enum MHD_Result send_refusal(struct MHD_Connection *conn, struct req *r, xchg_err e,
                                    const xchg_diag *d, const char *fallback)
{
    const char *msg = d && xchg_diag_count(d) ? xchg_diag_message(d, 0) : fallback;
    return send_json(conn, r, err_status(e),
                     json_pack("{s:s, s:s}", "error", msg, "code", xchg_strerror(e)));
}

/* under store_lock: what tells a console to read the queue again */
static int64_t op_version(struct server *sv)
{
    return xchg_store_changes_seen(xchg_matcher_store(sv->m)) * 1000000 + sv->submits;
}

struct op_dec {
    json_t *list;
};

static int op_dec_row(void *ctx, const xchg_release_decision *dd)
{
    json_array_append_new(((struct op_dec *)ctx)->list, wire_decision(dd));
    return 0;
}

/* {state, decisions} of one family (under store_lock) */
static xchg_err op_state(struct server *sv, const char *fam, json_t *into, xchg_diag *d)
{
    xchg_release_state st;
    struct op_dec x = {json_array()};
    xchg_err e = xchg_matcher_release_decisions(sv->m, fam, &st, op_dec_row, &x, d);
    if (e != XCHG_OK) {
        json_decref(x.list);
        return e;
    }
    json_object_set_new(into, "state", wire_state(&st));
    json_object_set_new(into, "decisions", x.list);
    return XCHG_OK;
}

struct op_fams {
    json_t *list;
};

static int op_fam(void *ctx, const xchg_store_family *f)
{
    json_array_append_new(((struct op_fams *)ctx)->list,
                          json_pack("{s:o}", "family", wire_family(f)));
    return 0;
}

static enum MHD_Result ep_op_families(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    xchg_diag *d = xchg_diag_new();
    struct op_fams x = {json_array()};
    pthread_mutex_lock(&sv->store_lock);
    int64_t v = op_version(sv);
    xchg_err e = xchg_store_families(xchg_matcher_store(sv->m), 0, 0, op_fam, &x, d);
    for (size_t i = 0; e == XCHG_OK && i < json_array_size(x.list); i++) {
        json_t *o = json_array_get(x.list, i);
        e = op_state(sv,
                     json_string_value(json_object_get(json_object_get(o, "family"), "pseudonym")),
                     o, d);
    }
    pthread_mutex_unlock(&sv->store_lock);
    enum MHD_Result ret =
        e == XCHG_OK
            ? send_json(conn, r, MHD_HTTP_OK,
                        json_pack("{s:I, s:O}", "version", (json_int_t)v, "families", x.list))
            : send_refusal(conn, r, e, d, "the store could not be read");
    json_decref(x.list);
    xchg_diag_free(d);
    return ret;
}

struct op_show {
    json_t *members, *pairs;
};

static int op_member(void *ctx, const xchg_store_member *m)
{
    json_array_append_new(((struct op_show *)ctx)->members, wire_member(m));
    return 0;
}

static int op_pair(void *ctx, const xchg_store_pair *p)
{
    json_array_append_new(((struct op_show *)ctx)->pairs, wire_pair(p));
    return 0;
}

static enum MHD_Result ep_op_family(struct server *sv, struct MHD_Connection *conn, struct req *r,
                                    const char *fam)
{
    if (!*fam || strlen(fam) > XCHG_PSEUDONYM_MAX || !xchg_packet_name_ok(fam, NULL))
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such family");
    xchg_diag *d = xchg_diag_new();
    xchg_store_family *f = calloc(1, sizeof *f);
    struct op_show x = {json_array(), json_array()};
    json_t *o = json_object();
    pthread_mutex_lock(&sv->store_lock);
    xchg_err e =
        f ? xchg_store_family_show(xchg_matcher_store(sv->m), 0, fam, f, op_member, op_pair, &x, d)
          : XCHG_ERR_NOMEM;
    if (e == XCHG_OK)
        e = op_state(sv, fam, o, d);
    pthread_mutex_unlock(&sv->store_lock);
    enum MHD_Result ret;
    if (e == XCHG_OK) {
        json_object_set_new(o, "family", wire_family(f));
        json_object_set_new(o, "members", x.members);
        json_object_set_new(o, "pairs", x.pairs);
        ret = send_json(conn, r, MHD_HTTP_OK, o);
    } else {
        json_decref(o);
        json_decref(x.members);
        json_decref(x.pairs);
        ret = send_refusal(conn, r, e, d, "no such family");
    }
    free(f);
    xchg_diag_free(d);
    return ret;
}

static int op_review_row(void *ctx, const xchg_review_decision *dec)
{
    json_array_append_new((json_t *)ctx, wire_review(dec));
    return 0;
}

static enum MHD_Result ep_op_reviews(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    xchg_diag *d = xchg_diag_new();
    json_t *list = json_array();
    pthread_mutex_lock(&sv->store_lock);
    xchg_err e = xchg_matcher_review_decisions(sv->m, op_review_row, list, d);
    pthread_mutex_unlock(&sv->store_lock);
    enum MHD_Result ret =
        e == XCHG_OK ? send_json(conn, r, MHD_HTTP_OK, json_pack("{s:O}", "decisions", list))
                     : send_refusal(conn, r, e, d, "the store could not be read");
    json_decref(list);
    xchg_diag_free(d);
    return ret;
}

static enum MHD_Result ep_op_version(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    pthread_mutex_lock(&sv->store_lock);
    int64_t v = op_version(sv);
    pthread_mutex_unlock(&sv->store_lock);
    return send_json(conn, r, MHD_HTTP_OK, json_pack("{s:I}", "version", (json_int_t)v));
}

/* The body of an operator POST has arrived: its hash, then prepare or submit. */
static enum MHD_Result op_post_end(struct server *sv, struct MHD_Connection *conn, struct req *r)
{
    uint8_t got[XCHG_SHA256_BYTES];
    xchg_netauth_reason why;
    if (r->too_big)
        return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than allowed");
    if (r->io_error)
        return send_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    xchg_sha256(r->buf ? r->buf : "", r->blen, got);
    if (xchg_netauth_check_body(r->body_hex, got, &why) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_UNAUTHORIZED, xchg_netauth_reason_text(why));
    const xchg_policy_data *pd = xchg_agreement_get(sv->p);
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(pd->parties[r->party].key.id, kid);
    json_error_t je;
    json_t *body = r->blen ? json_loadb(r->buf, r->blen, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        return send_json(
            conn, r, MHD_HTTP_BAD_REQUEST,
            json_pack("{s:s, s:s}", "error", "the body is not a JSON object", "code", "json"));
    }
    xchg_diag *d = xchg_diag_new();
    enum MHD_Result ret;
    int64_t now = (int64_t)time(NULL);
    if (r->op_post == 3) {
        /* a review decision signed by the requesting operator */
        json_t *a = json_object_get(body, "a"), *b = json_object_get(body, "b");
        const char *aa = json_string_value(json_object_get(a, "agency"));
        const char *ra = json_string_value(json_object_get(a, "ref"));
        const char *ab = json_string_value(json_object_get(b, "agency"));
        const char *rb = json_string_value(json_object_get(b, "ref"));
        const char *dec = json_string_value(json_object_get(body, "decision"));
        const char *reason = json_string_value(json_object_get(body, "reason"));
        const char *sb = json_string_value(json_object_get(body, "signature"));
        json_t *t = json_object_get(body, "time");
        uint8_t sig[XCHG_RELEASE_SIG_BYTES];
        size_t sl = 0;
        if (!aa || !ra || !ab || !rb || !reason || !sb || !json_is_integer(t) || !dec ||
            (strcmp(dec, "same") != 0 && strcmp(dec, "different") != 0) ||
            xchg_base64_decode(sig, sizeof sig, &sl, sb, strlen(sb)) != XCHG_OK ||
            sl != sizeof sig) {
            ret = send_json(conn, r, MHD_HTTP_BAD_REQUEST,
                            json_pack("{s:s, s:s}", "error",
                                      "a review needs a and b ({agency, ref}), decision (same or "
                                      "different), reason, time and signature",
                                      "code", "arg"));
        } else {
            pthread_mutex_lock(&sv->store_lock);
            xchg_err e =
                xchg_matcher_review_submit(sv->m, kid, aa, ra, ab, rb, strcmp(dec, "same") == 0,
                                           reason, json_integer_value(t), sig, now, d);
            if (e == XCHG_OK)
                sv->submits++;
            pthread_mutex_unlock(&sv->store_lock);
            ret = e == XCHG_OK
                      ? send_json(conn, r, MHD_HTTP_CREATED, json_pack("{s:s}", "status", "stored"))
                      : send_refusal(conn, r, e, d, "the review decision is refused");
        }
    } else if (r->op_post == 4) {
        /* a release asked for by the operator: the daemon makes the packet with its matcher
           key into its outbox (the family's approvals decide; xchg_matcher_release) */
        const char *fam = json_string_value(json_object_get(body, "family"));
        const char *rcp = json_string_value(json_object_get(body, "recipient"));
        if (!fam || !rcp) {
            ret = send_json(conn, r, MHD_HTTP_BAD_REQUEST,
                            json_pack("{s:s, s:s}", "error", "a release needs family and recipient",
                                      "code", "arg"));
        } else if (!sv->outbox) {
            ret = send_json(conn, r, MHD_HTTP_NOT_IMPLEMENTED,
                            json_pack("{s:s, s:s}", "error",
                                      "this daemon has no outbox (--outbox): it makes no packets",
                                      "code", "no_release"));
        } else {
            xchg_release_stats st;
            char path[4200];
            pthread_mutex_lock(&sv->store_lock);
            xchg_err e = xchg_matcher_release_outbox(sv->m, sv->k, fam, rcp, sv->outbox,
                                                     &pd->parties[r->party].key, now, &st, path,
                                                     sizeof path, d);
            if (e == XCHG_OK)
                sv->submits++;
            pthread_mutex_unlock(&sv->store_lock);
            const char *name = strrchr(path, '/');
            ret = e == XCHG_OK
                      ? send_json(conn, r, MHD_HTTP_CREATED,
                                  json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "packet",
                                            st.packet_id, "recipient", rcp, "recipient_family",
                                            st.family, "name", name ? name + 1 : path, "released",
                                            (int)st.released, "withheld", (int)st.withheld))
                      : send_refusal(conn, r, e, d, "the release is refused");
        }
    } else if (r->op_post == 1) {
        const char *fam = json_string_value(json_object_get(body, "family"));
        const char *dec = json_string_value(json_object_get(body, "decision"));
        const char *reason = json_string_value(json_object_get(body, "reason"));
        if (!fam || !reason || !dec ||
            (strcmp(dec, "approve") != 0 && strcmp(dec, "reject") != 0)) {
            ret = send_json(conn, r, MHD_HTTP_BAD_REQUEST,
                            json_pack("{s:s, s:s}", "error",
                                      "prepare needs family, decision (approve or reject) and "
                                      "reason",
                                      "code", "arg"));
        } else {
            char *prepared = NULL;
            pthread_mutex_lock(&sv->store_lock);
            xchg_err e = xchg_matcher_decision_prepare(sv->m, kid, fam, strcmp(dec, "approve") == 0,
                                                       reason, now, &prepared, d);
            pthread_mutex_unlock(&sv->store_lock);
            ret = e == XCHG_OK
                      ? send_json(conn, r, MHD_HTTP_OK, json_pack("{s:s}", "request", prepared))
                      : send_refusal(conn, r, e, d, "cannot prepare the decision");
            free(prepared);
        }
    } else {
        /* the signed request is the body itself; it must be the authenticated operator's */
        const char *op = json_string_value(json_object_get(body, "operator"));
        if (!op || strcmp(op, kid) != 0) {
            ret = send_json(conn, r, MHD_HTTP_FORBIDDEN,
                            json_pack("{s:s, s:s}", "error",
                                      "the decision is not signed by the operator making the "
                                      "request",
                                      "code", xchg_strerror(XCHG_ERR_DENIED)));
        } else {
            char *text = malloc(r->blen + 1);
            xchg_err e = text ? XCHG_OK : XCHG_ERR_NOMEM;
            if (text) {
                memcpy(text, r->buf, r->blen);
                text[r->blen] = 0;
                pthread_mutex_lock(&sv->store_lock);
                e = xchg_matcher_decision_submit(sv->m, text, now, d);
                if (e == XCHG_OK)
                    sv->submits++;
                pthread_mutex_unlock(&sv->store_lock);
            }
            free(text);
            ret = e == XCHG_OK
                      ? send_json(conn, r, MHD_HTTP_CREATED, json_pack("{s:s}", "status", "stored"))
                      : send_refusal(conn, r, e, d, "the decision is refused");
        }
    }
    json_decref(body);
    xchg_diag_free(d);
    return ret;
}

/* ---- dispatch ---------------------------------------------------------------------- */

#define ANY_PARTY                                                                                  \
    (XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY) | XCHG_NETAUTH_ROLE(XCHG_ROLE_MATCHER) |                  \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT) | XCHG_NETAUTH_ROLE(XCHG_ROLE_GOVERNANCE) |            \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_OPERATOR))
#define STATUS_ROLES                                                                               \
    (XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY) | XCHG_NETAUTH_ROLE(XCHG_ROLE_MATCHER) |                  \
     XCHG_NETAUTH_ROLE(XCHG_ROLE_GOVERNANCE) | XCHG_NETAUTH_ROLE(XCHG_ROLE_OPERATOR))

/* The first call for a request (its head is complete): route, authenticate, answer. */
static enum MHD_Result dispatch(struct server *sv, struct MHD_Connection *conn, struct req *r,
                                const char *url, const char *method)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    unsigned roles = 0;
    enum {
        HEALTH,
        SUBMIT,
        STATUS,
        PACKETS,
        PACKET,
        OPFAMS,
        OPFAM,
        OPVER,
        OPPREP,
        OPSUB,
        OPREVS,
        OPREV,
        OPREL,
        NONE
    } ep = NONE;
    const unsigned op_role = XCHG_NETAUTH_ROLE(XCHG_ROLE_OPERATOR);
    if (strcmp(url, "/v1/health") == 0)
        ep = HEALTH, roles = ANY_PARTY;
    else if (strcmp(url, "/v1/extracts") == 0)
        ep = SUBMIT, roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY);
    else if (strncmp(url, "/v1/extracts/", 13) == 0)
        ep = STATUS, roles = STATUS_ROLES;
    else if (strcmp(url, "/v1/packets") == 0)
        ep = PACKETS, roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT);
    else if (strncmp(url, "/v1/packets/", 12) == 0)
        ep = PACKET, roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT);
    else if (strcmp(url, "/v1/operator/families") == 0)
        ep = OPFAMS, roles = op_role;
    else if (strncmp(url, "/v1/operator/family/", 20) == 0)
        ep = OPFAM, roles = op_role;
    else if (strcmp(url, "/v1/operator/version") == 0)
        ep = OPVER, roles = op_role;
    else if (strcmp(url, "/v1/operator/prepare") == 0)
        ep = OPPREP, roles = op_role;
    else if (strcmp(url, "/v1/operator/submit") == 0)
        ep = OPSUB, roles = op_role;
    else if (strcmp(url, "/v1/operator/reviews") == 0)
        ep = OPREVS, roles = op_role;
    else if (strcmp(url, "/v1/operator/review") == 0)
        ep = OPREV, roles = op_role;
    else if (strcmp(url, "/v1/operator/release") == 0)
        ep = OPREL, roles = op_role;
    if (ep == NONE)
        return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    int posting = ep == SUBMIT || ep == OPPREP || ep == OPSUB || ep == OPREV || ep == OPREL;
    if ((posting && !post) || (!posting && !get))
        return send_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    unsigned status;
    const char *msg;
    if (authenticate(sv, conn, r, method, url, roles, &status, &msg) != 0)
        return send_error(conn, r, status, msg);
    if (ep == SUBMIT)
        return upload_begin(sv, conn, r);
    if (ep == OPPREP || ep == OPSUB || ep == OPREV || ep == OPREL) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > OPERATOR_BODY_MAX)
            return send_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than allowed");
        r->op_post = ep == OPPREP ? 1 : ep == OPSUB ? 2 : ep == OPREV ? 3 : 4;
        r->upload = 1;
        return MHD_YES;
    }
    uint8_t empty[XCHG_SHA256_BYTES];
    xchg_netauth_reason why;
    xchg_sha256("", 0, empty);
    if (xchg_netauth_check_body(r->body_hex, empty, &why) != XCHG_OK)
        return send_error(conn, r, MHD_HTTP_UNAUTHORIZED, xchg_netauth_reason_text(why));
    switch (ep) {
    case HEALTH:
        return ep_health(sv, conn, r);
    case STATUS:
        return ep_extract_status(sv, conn, r, url + 13);
    case PACKETS:
        return ep_packets(sv, conn, r);
    case PACKET:
        return ep_packet(sv, conn, r, url + 12);
    case OPFAMS:
        return ep_op_families(sv, conn, r);
    case OPFAM:
        return ep_op_family(sv, conn, r, url + 20);
    case OPVER:
        return ep_op_version(sv, conn, r);
    case OPREVS:
        return ep_op_reviews(sv, conn, r);
    default:
        break;
    }
    return send_error(conn, r, MHD_HTTP_NOT_FOUND, "no such endpoint");
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
        r->fd = -1;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        const char *k = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, XCHG_NETAUTH_H_KEY);
        if (k && xchg_packet_name_ok(k, NULL) && strlen(k) == XCHG_KEYID_HEXLEN)
            snprintf(r->key, sizeof r->key, "%s", k);
        *con_cls = r;

        enum MHD_Result ret = dispatch(sv, conn, r, url, method);
        /* an accepted upload has --body-timeout for its body; an error answer (whatever
         * body follows is discarded) the request deadline again; other answers are
         * being sent, limited by the idle timeout only (a large packet to a slow link) */
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
    if (*upload_size > 0 && r->op_post) {
        size_t n = *upload_size;
        *upload_size = 0;
        r->in += n;
        if (r->too_big || r->io_error)
            return MHD_YES;
        if (r->blen + n > OPERATOR_BODY_MAX) {
            r->too_big = 1;
            return MHD_YES;
        }
        char *nb = realloc(r->buf, r->blen + n);
        if (!nb) {
            r->io_error = 1;
            return MHD_YES;
        }
        memcpy(nb + r->blen, upload, n);
        r->buf = nb;
        r->blen += n;
        return MHD_YES;
    }
    if (*upload_size > 0)
        return upload_data(sv, r, upload, upload_size);
    r->upload = 0;
    httpd_watch_set(&sv->wd, conn, 0, "body"); /* the body is in: no deadline while it is ingested */
    if (r->op_post)
        return op_post_end(sv, conn, r);
    return upload_end(sv, conn, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct server *sv = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    /* a kept-alive connection has the request deadline again for its next request (an
     * aborted one is closing: its deadline and phase stay, for the log) */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        httpd_watch_set(&sv->wd, conn, sv->wd.header_ms, "request");
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms =
        (double)(t1.tv_sec - r->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e6;
    char status[16], in[24], out[24], msb[32];
    snprintf(status, sizeof status, "%u", r->status);
    snprintf(in, sizeof in, "%llu", (unsigned long long)r->in);
    snprintf(out, sizeof out, "%llu", (unsigned long long)r->out);
    snprintf(msb, sizeof msb, "%.1f", ms);
    /* No personal data: paths hold only endpoint names, extract ids and packet names. The
     * path is the client's, escaped by log_line like every value. */
    log_line("method", r->method, "path", r->path, "status", status, "key",
             r->key[0] ? r->key : "-", "bytes_in", in, "bytes_out", out, "ms", msb,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? NULL : "aborted", "1", NULL);
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp[0])
        unlink(r->tmp);
    xchg_sha256_stream_free(r->h);
    free(r->buf);
    free(r);
    *con_cls = NULL;
}

/* ---- startup ----------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int hr = cli_harden(); /* before any secret is read: no core dumps, SIGXFSZ ignored */
    if (hr)
        return hr;
    const char *agr = NULL, *key = NULL, *db = NULL, *dbkey = NULL, *cert = NULL, *tlskey = NULL,
               *listen = "127.0.0.1:8443", *outbox = NULL, *maxup = NULL, *threads = NULL,
               *timeout = NULL, *pfd = NULL, *maxconn = NULL, *perip = NULL, *hdrtmo = NULL,
               *bodytmo = NULL;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr},
                                   {"--key", 'k', 1, &key},
                                   {"--db", 0, 1, &db},
                                   {"--db-key", 0, 1, &dbkey},
                                   {"--cert", 0, 1, &cert},
                                   {"--tls-key", 0, 1, &tlskey},
                                   {"--listen", 'l', 1, &listen},
                                   {"--outbox", 0, 1, &outbox},
                                   {"--max-upload", 0, 1, &maxup},
                                   {"--threads", 't', 1, &threads},
                                   {"--timeout", 0, 1, &timeout},
                                   {"--max-connections", 0, 1, &maxconn},
                                   {"--max-per-ip", 0, 1, &perip},
                                   {"--header-timeout", 0, 1, &hdrtmo},
                                   {"--body-timeout", 0, 1, &bodytmo},
                                   {"--passphrase-fd", 0, 1, &pfd},
                                   {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc;
    struct server sv;
    memset(&sv, 0, sizeof sv);
    char *certpem = NULL, *keypem = NULL;
    size_t certlen = 0, keylen = 0;
    xchg_store_key *sk = NULL;
    xchg_diag *d = NULL;
    struct MHD_Daemon *daemon = NULL;
    int lock_made = 0, wd_made = 0;
    pthread_t wd_thread;

    if (xchg_init() != XCHG_OK) {
        cli_error("cannot initialise the crypto library");
        return EXIT_INTERNAL;
    }
    if ((rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    uint64_t max_upload = 1ull << 30, nthreads = 4, tmo = 15, max_conn = 512, per_ip = 16,
             header_s = 10, body_s = 900;
    struct sockaddr_in sa;
    if (npos || !agr || !key || !db || !dbkey || !cert || !tlskey) {
        cli_error("xchg-matcherd needs --agreement, --key, --db, --db-key, --cert and --tls-key");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if ((maxup && httpd_parse_u64(maxup, 1, UINT64_MAX / 2, &max_upload)) ||
        (threads && httpd_parse_u64(threads, 1, 256, &nthreads)) ||
        (timeout && httpd_parse_u64(timeout, 1, 3600, &tmo)) || httpd_parse_listen(listen, &sa)) {
        cli_error("bad --max-upload, --threads, --timeout or --listen value");
        cli_hint("--listen takes an IPv4 HOST:PORT (port 0 picks a free one)");
        return EXIT_USAGE;
    }
    if ((maxconn && httpd_parse_u64(maxconn, 1, 10000, &max_conn)) ||
        (perip && httpd_parse_u64(perip, 1, 10000, &per_ip)) ||
        (hdrtmo && httpd_parse_u64(hdrtmo, 1, 3600, &header_s)) ||
        (bodytmo && httpd_parse_u64(bodytmo, 1, 86400, &body_s))) {
        cli_error("bad --max-connections, --max-per-ip, --header-timeout or --body-timeout "
                  "value");
        cli_hint("connections 1..10000, seconds 1..3600 (--body-timeout up to 86400)");
        return EXIT_USAGE;
    }
    if (per_ip > max_conn || nthreads > max_conn) {
        cli_error("--max-per-ip and --threads cannot exceed --max-connections (%llu)",
                  (unsigned long long)max_conn);
        return EXIT_USAGE;
    }
    sv.max_upload = max_upload;
    sv.wd.header_ms = (unsigned)header_s * 1000;
    sv.wd.body_ms = (unsigned)body_s * 1000;
    sv.outbox = outbox;
    snprintf(sv.dbdir, sizeof sv.dbdir, "%s", db);
    char *slash = strrchr(sv.dbdir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(sv.dbdir, sizeof sv.dbdir, ".");

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
    if ((rc = cli_load_seckey(key, pfd, &sv.k)) != 0)
        goto cleanup;
    {
        size_t mi =
            xchg_policy_party_by_key(xchg_agreement_policy(sv.p), xchg_seckey_public(sv.k)->id);
        if (mi == XCHG_NONE || xchg_agreement_get(sv.p)->parties[mi].role != XCHG_ROLE_MATCHER) {
            cli_error("%s is not the matcher's key in this agreement", key);
            rc = EXIT_DENIED;
            goto cleanup;
        }
    }
    xchg_err e = xchg_store_key_load(dbkey, &sk, d);
    if (e == XCHG_OK)
        e = xchg_matcher_open(db, sk, sv.p, 0, &sv.m, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, db);
        goto cleanup;
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
    pthread_mutex_init(&sv.store_lock, NULL);
    lock_made = 1;

    /* Signals are taken by sigwait below; MHD's threads inherit the blocked mask. */
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
    daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, &sv, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_CERT, certpem,
                              MHD_OPTION_HTTPS_MEM_KEY, keypem, MHD_OPTION_HTTPS_PRIORITIES,
                              TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)nthreads,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)tmo,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_ip,
                              MHD_OPTION_NOTIFY_CONNECTION, httpd_notify_conn, &sv.wd,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, &sv, MHD_OPTION_END);
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
        MHD_stop_daemon(daemon); /* every connection is closed: the watch list is empty */
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
        pthread_mutex_destroy(&sv.store_lock);
    xchg_netauth_free(sv.auth);
    xchg_matcher_close(sv.m);
    xchg_store_key_free(sk);
    xchg_seckey_free(sv.k);
    xchg_agreement_free(sv.p);
    free(certpem);
    xchg_secure_free(keypem);
    xchg_diag_free(d);
    return rc;
}
