/*
 * xchg submit | fetch-packets — talk to xchg-matcherd over HTTPS (libcurl).
 *
 * Only the CA given with --ca is trusted (no system store), TLS 1.2 or newer, https
 * only. Every request is signed with the party's key (include/exchange/netauth.h), with a
 * fresh nonce on each attempt. Submissions are retried with backoff on connection errors
 * and 5xx answers: the server ingests each extract at most once, so a retry of a request
 * whose answer was lost comes back as "already ingested".
 */
#include "cli.h"
#include "net_curl.h"
#include "commands.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char submit_usage[] =
    "usage: xchg submit FILE... --url https://HOST:PORT --ca CA.pem --agreement A.yaml\n"
    "                   --key AGENCY.key [--passphrase-fd N] [--retries N]\n"
    "\n"
    "Send sealed extracts to the matcher daemon, trusting only the CA in CA.pem. Prints the\n"
    "matcher's verdict for each file; exit 0 only when every file was accepted (ingested\n"
    "now or already). Connection errors and server errors are retried (default 3 times).\n"
    "\n"
    "example: xchg submit sealed/police.xex --url https://matcher.example:8443 --ca ca.pem --agreement phase2.yaml --key keys/police.key\n";

static const char fetch_usage[] =
    "usage: xchg fetch-packets --url https://HOST:PORT --ca CA.pem --agreement A.yaml\n"
    "                          --key RECIPIENT.key -o DIR [--passphrase-fd N] [--retries N]\n"
    "\n"
    "Download the referral packets addressed to your team that DIR does not have yet\n"
    "(DIR is made, mode 0700, if it does not exist).\n"
    "Each file appears complete (checked against the server's SHA-256) or not at all.\n"
    "\n"
    "example: xchg fetch-packets --url https://matcher.example:8443 --ca ca.pem --agreement phase2.yaml --key keys/tf-team.key -o inbox\n";

#define MAX_ANSWER (1u << 20)

/* Where a response body goes: memory (JSON answers) or a file (packets). */
struct sink {
    char *buf;
    size_t len;
    FILE *f;
    xchg_sha256_stream *h;
    uint64_t n;
    int overflow;
};

struct net {
    CURL *curl;
    char base[512];
    const char *ca;
    xchg_seckey *k;
    unsigned retries;
    const char *label; /* for the progress bar */
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    struct sink *s = ud;
    size_t n = sz * nm;
    s->n += n;
    if (s->f) {
        xchg_sha256_stream_update(s->h, p, n);
        return fwrite(p, 1, n, s->f);
    }
    if (s->len + n > MAX_ANSWER) {
        s->overflow = 1;
        return 0;
    }
    char *b = realloc(s->buf, s->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + s->len, p, n);
    s->len += n;
    b[s->len] = 0;
    s->buf = b;
    return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud)
{
    size_t n = fread(p, 1, sz * nm, (FILE *)ud);
    if (n == 0 && ferror((FILE *)ud))
        return CURL_READFUNC_ABORT;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    const struct net *n = ud;
    if (ultotal <= 0)
        return 0;
    int pct = (int)(ulnow * 100 / ultotal);
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%-30.30s [%s] %3d%% %.1f/%.1f MB", n->label, bar, pct, (double)ulnow / 1e6,
            (double)ultotal / 1e6);
    return 0;
}

/* A connection-level error worth another attempt (not a certificate or usage problem). */
static int transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_COULDNT_RESOLVE_HOST:
        return 1;
    default:
        return 0;
    }
}

static int tls_refused(CURLcode cc)
{
    return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
           cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM;
}

/*
 * One signed request: method on path, the body from upload (size bytes, hash sha) or
 * none, the answer into s. Returns the curl code; *status the HTTP status (0 if none).
 */
static CURLcode request(struct net *n, const char *method, const char *path, FILE *upload,
                        uint64_t size, const uint8_t *sha, struct sink *s, long *status)
{
    xchg_netauth_headers h;
    char url[1024], line[6][160];
    struct curl_slist *hl = NULL;
    *status = 0;
    if (xchg_netauth_sign(n->k, method, path, (int64_t)time(NULL), sha, &h) != XCHG_OK)
        return CURLE_BAD_FUNCTION_ARGUMENT;
    snprintf(url, sizeof url, "%s%s", n->base, path);
    snprintf(line[0], sizeof line[0], "%s: %s", XCHG_NETAUTH_H_KEY, h.key);
    snprintf(line[1], sizeof line[1], "%s: %s", XCHG_NETAUTH_H_TIME, h.time);
    snprintf(line[2], sizeof line[2], "%s: %s", XCHG_NETAUTH_H_NONCE, h.nonce);
    snprintf(line[3], sizeof line[3], "%s: %s", XCHG_NETAUTH_H_BODY, h.body_sha256);
    snprintf(line[4], sizeof line[4], "%s: %s", XCHG_NETAUTH_H_SIG, h.signature);
    snprintf(line[5], sizeof line[5], "Content-Type: application/octet-stream");
    for (int i = 0; i < (upload ? 6 : 5); i++)
        hl = curl_slist_append(hl, line[i]);
    CURL *c = n->curl;
    curl_easy_reset(c);
    net_curl_pin(c, url, n->ca, 0);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    if (upload) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, upload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
        if (isatty(STDERR_FILENO)) {
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
        }
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    if (upload && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hl);
    return cc;
}

static void sink_reset(struct sink *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = 0;
    s->n = 0;
    s->overflow = 0;
}

static void backoff(unsigned attempt)
{
    uint32_t jitter;
    xchg_random(&jitter, sizeof jitter);
    long ms = (250L << (attempt < 6 ? attempt : 6)) + (long)(jitter % 250);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The "error" member of a JSON answer, or a fallback. */
static const char *answer_error(json_t *j)
{
    const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
    return e ? e : "no reason given";
}

/* Report a transfer that failed without an HTTP answer; returns the exit code. */
static int net_fail(const struct net *n, CURLcode cc, const char *what)
{
    cli_error("%s: cannot talk to %s: %s", what, n->base, curl_easy_strerror(cc));
    if (tls_refused(cc)) {
        cli_hint("the server's certificate is not signed by the CA given with --ca (pinned), "
                 "or TLS failed; nothing was sent");
        return EXIT_DENIED;
    }
    return EXIT_IO;
}

/* --url, or the deprecated --to (which elsewhere names a party: release packet). */
static int url_of(const char **url, const char *to)
{
    if (to && *url) {
        cli_error("give --url only (--to is its deprecated spelling)");
        return EXIT_USAGE;
    }
    if (to) {
        cli_warn("--to URL is deprecated here: say --url URL (--to names a recipient party "
                 "in 'xchg release packet')");
        *url = to;
    }
    return 0;
}

/* Shared setup: options, agreement (verified), key (a party of it with role want). */
static int net_setup(struct net *n, const char *url, const char *ca, const char *agr,
                     const char *key, const char *pfd, const char *retries, xchg_role want,
                     xchg_agreement **p)
{
    if (!url || !ca || !agr || !key) {
        cli_error("needs --url URL, --ca CA.pem, --agreement A.yaml and --key KEY");
        return EXIT_USAGE;
    }
    if (strncmp(url, "https://", 8) != 0 || strlen(url) >= sizeof n->base) {
        cli_error("--url must be an https:// URL");
        return EXIT_USAGE;
    }
    snprintf(n->base, sizeof n->base, "%s", url);
    size_t bl = strlen(n->base);
    while (bl > 8 && n->base[bl - 1] == '/')
        n->base[--bl] = 0;
    n->ca = ca;
    n->retries = 3;
    if (retries) {
        char *end;
        unsigned long v = strtoul(retries, &end, 10);
        if (*end || !*retries || v > 20) {
            cli_error("--retries takes a number from 0 to 20");
            return EXIT_USAGE;
        }
        n->retries = (unsigned)v;
    }
    if (access(ca, R_OK) != 0) {
        cli_error("cannot read the CA file %s: %s", ca, strerror(errno));
        return EXIT_IO;
    }
    int rc = cli_load_agreement(agr, p);
    if (rc)
        return rc;
    if ((rc = cli_load_seckey(key, pfd, &n->k)) != 0)
        return rc;
    size_t i = xchg_policy_party_by_key(xchg_agreement_policy(*p), xchg_seckey_public(n->k)->id);
    if (i == XCHG_NONE || xchg_agreement_get(*p)->parties[i].role != want) {
        cli_error("%s is not the key of %s party of this agreement", key,
                  want == XCHG_ROLE_AGENCY ? "an agency" : "a recipient");
        return EXIT_DENIED;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    n->curl = curl_easy_init();
    if (!n->curl) {
        cli_error("cannot initialise libcurl");
        return EXIT_INTERNAL;
    }
    return 0;
}

static void net_free(struct net *n)
{
    if (n->curl) {
        curl_easy_cleanup(n->curl);
        curl_global_cleanup();
    }
    xchg_seckey_free(n->k);
}

/* ---- submit ------------------------------------------------------------------------ */

static int submit_one(struct net *n, const char *path)
{
    uint8_t sha[XCHG_SHA256_BYTES];
    uint64_t size = 0;
    struct sink s = {0};
    long status = 0;
    CURLcode cc = CURLE_OK;
    int rc;
    if (xchg_sha256_file(path, sha, &size) != XCHG_OK) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return EXIT_IO;
    }
    const char *base = strrchr(path, '/');
    n->label = base ? base + 1 : path;
    for (unsigned attempt = 0;; attempt++) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            return EXIT_IO;
        }
        sink_reset(&s);
        cc = request(n, "POST", "/v1/extracts", f, size, sha, &s, &status);
        fclose(f);
        int again = (cc != CURLE_OK && transient(cc)) || (cc == CURLE_OK && status >= 500);
        if (!again || attempt >= n->retries)
            break;
        cli_warn("%s: %s; retrying (%u of %u)", path,
                 cc != CURLE_OK ? curl_easy_strerror(cc) : "server error", attempt + 1, n->retries);
        backoff(attempt);
    }
    if (cc != CURLE_OK) {
        sink_reset(&s);
        return net_fail(n, cc, path);
    }
    json_t *j = s.buf ? json_loads(s.buf, 0, NULL) : NULL;
    if (status == 200 || status == 201) {
        const char *st = json_string_value(json_object_get(j, "status"));
        const char *ag = json_string_value(json_object_get(j, "agency"));
        const char *id = json_string_value(json_object_get(j, "extract_id"));
        json_int_t recs = json_integer_value(json_object_get(j, "records"));
        printf("%s: %s by the matcher: %lld records from '%s' (extract %s)\n", path,
               st ? st : "accepted", (long long)recs, ag ? ag : "?", id ? id : "?");
        rc = EXIT_OK;
    } else {
        cli_error("%s: refused by the matcher (HTTP %ld): %s", path, status, answer_error(j));
        rc = status >= 500 ? EXIT_IO : EXIT_DENIED;
    }
    json_decref(j);
    sink_reset(&s);
    return rc;
}

int cmd_submit(int argc, char **argv)
{
    const char *url = NULL, *to = NULL, *ca = NULL, *agr = NULL, *key = NULL, *pfd = NULL,
               *retries = NULL;
    const struct cli_opt opts[] = {{"--url", 'u', 1, &url},
                                   {"--to", 0, 1, &to}, /* deprecated: --url */
                                   {"--ca", 0, 1, &ca},
                                   {"--agreement", 'a', 1, &agr},
                                   {"--key", 'k', 1, &key},
                                   {"--passphrase-fd", 0, 1, &pfd},
                                   {"--retries", 0, 1, &retries},
                                   {NULL, 0, 0, NULL}};
    const char *pos[256];
    int npos = 0, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 256, &npos, submit_usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (npos == 0) {
        cli_error("xchg submit needs at least one FILE");
        fputs(submit_usage, stderr);
        return EXIT_USAGE;
    }
    if ((rc = url_of(&url, to)) != 0)
        return rc;
    struct net n;
    memset(&n, 0, sizeof n);
    xchg_agreement *p = NULL;
    if ((rc = net_setup(&n, url, ca, agr, key, pfd, retries, XCHG_ROLE_AGENCY, &p)) == 0) {
        for (int i = 0; i < npos; i++) {
            int r = submit_one(&n, pos[i]);
            if (r && (!rc || r > rc))
                rc = r;
        }
    }
    net_free(&n);
    xchg_agreement_free(p);
    return rc;
}

/* ---- fetch-packets ----------------------------------------------------------------- */

/* GET with retries into a memory sink. */
static CURLcode get_json(struct net *n, const char *path, struct sink *s, long *status)
{
    CURLcode cc;
    for (unsigned attempt = 0;; attempt++) {
        sink_reset(s);
        cc = request(n, "GET", path, NULL, 0, NULL, s, status);
        int again = (cc != CURLE_OK && transient(cc)) || (cc == CURLE_OK && *status >= 500);
        if (!again || attempt >= n->retries)
            return cc;
        backoff(attempt);
    }
}

/* Download one packet to DIR/name through a temporary file; 0 or an exit code. */
static int fetch_one(struct net *n, const char *dir, const char *name, const char *want_hex,
                     uint64_t want_size)
{
    char tmp[PATH_MAX], dst[PATH_MAX], path[300];
    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    snprintf(path, sizeof path, "/v1/packets/%s", name);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error("cannot write in %s: %s", dir, strerror(errno));
        return EXIT_IO;
    }
    FILE *f = fdopen(fd, "wb");
    struct sink s = {0};
    long status = 0;
    CURLcode cc = CURLE_OK;
    int rc = EXIT_IO;
    for (unsigned attempt = 0;; attempt++) {
        rewind(f);
        if (ftruncate(fd, 0) != 0)
            break;
        xchg_sha256_stream_free(s.h);
        s.h = xchg_sha256_stream_new();
        s.f = f;
        s.n = 0;
        cc = request(n, "GET", path, NULL, 0, NULL, &s, &status);
        int again = (cc != CURLE_OK && transient(cc)) || (cc == CURLE_OK && status >= 500);
        if (!again || attempt >= n->retries)
            break;
        backoff(attempt);
    }
    uint8_t got[XCHG_SHA256_BYTES];
    char hex[2 * XCHG_SHA256_BYTES + 1];
    xchg_sha256_stream_final(s.h, got);
    s.h = NULL;
    xchg_hex_encode(hex, got, sizeof got);
    int ok = fflush(f) == 0 && fsync(fd) == 0;
    fclose(f);
    if (cc != CURLE_OK) {
        rc = net_fail(n, cc, name);
    } else if (status != 200) {
        cli_error("%s: refused by the matcher (HTTP %ld)", name, status);
        rc = EXIT_DENIED;
    } else if (!ok || s.n != want_size || strcmp(hex, want_hex) != 0) {
        cli_error("%s: the download does not match the server's size and SHA-256; not kept", name);
        rc = EXIT_IO;
    } else if (link(tmp, dst) != 0) { /* never replaces a file that appeared meanwhile */
        cli_error("cannot create %s: %s", dst, strerror(errno));
        rc = EXIT_IO;
    } else {
        rc = 0;
    }
    unlink(tmp);
    return rc;
}

int cmd_fetch_packets(int argc, char **argv)
{
    const char *url = NULL, *to = NULL, *ca = NULL, *agr = NULL, *key = NULL, *pfd = NULL,
               *retries = NULL, *out = NULL;
    const struct cli_opt opts[] = {{"--url", 'u', 1, &url},
                                   {"--to", 0, 1, &to}, /* deprecated: --url */
                                   {"--ca", 0, 1, &ca},
                                   {"--agreement", 'a', 1, &agr},
                                   {"--key", 'k', 1, &key},
                                   {"--passphrase-fd", 0, 1, &pfd},
                                   {"--retries", 0, 1, &retries},
                                   {"--out", 'o', 1, &out},
                                   {NULL, 0, 0, NULL}};
    const char *pos[1];
    int npos = 0, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, fetch_usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (npos || !out) {
        cli_error("xchg fetch-packets needs -o DIR and no other arguments");
        fputs(fetch_usage, stderr);
        return EXIT_USAGE;
    }
    if ((rc = url_of(&url, to)) != 0)
        return rc;
    struct stat sb;
    int make_dir = stat(out, &sb) != 0 && errno == ENOENT; /* made once the key loads */
    if (!make_dir && (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        cli_error("%s is not a directory", out);
        return EXIT_USAGE;
    }
    struct net n;
    memset(&n, 0, sizeof n);
    xchg_agreement *p = NULL;
    json_t *j = NULL;
    struct sink s = {0};
    if ((rc = net_setup(&n, url, ca, agr, key, pfd, retries, XCHG_ROLE_RECIPIENT, &p)) != 0)
        goto cleanup;
    if (make_dir && mkdir(out, 0700) != 0) {
        cli_error("cannot make directory %s: %s", out, strerror(errno));
        rc = EXIT_IO;
        goto cleanup;
    }
    long status = 0;
    CURLcode cc = get_json(&n, "/v1/packets", &s, &status);
    if (cc != CURLE_OK) {
        rc = net_fail(&n, cc, "packet list");
        goto cleanup;
    }
    j = s.buf ? json_loads(s.buf, 0, NULL) : NULL;
    if (status != 200) {
        cli_error("the matcher refused the packet list (HTTP %ld): %s", status, answer_error(j));
        rc = status >= 500 ? EXIT_IO : EXIT_DENIED;
        goto cleanup;
    }
    json_t *list = json_object_get(j, "packets");
    if (!json_is_array(list)) {
        cli_error("the matcher's packet list is malformed");
        rc = EXIT_IO;
        goto cleanup;
    }
    size_t got = 0, have = 0, i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *sha = json_string_value(json_object_get(it, "sha256"));
        json_int_t size = json_integer_value(json_object_get(it, "size"));
        if (!name || !sha || !xchg_packet_name_ok(name, ".xrp") || size < 0) {
            cli_warn("skipping a malformed entry in the packet list");
            continue;
        }
        char dst[PATH_MAX];
        snprintf(dst, sizeof dst, "%s/%s", out, name);
        if (access(dst, F_OK) == 0) {
            have++;
            continue;
        }
        int r = fetch_one(&n, out, name, sha, (uint64_t)size);
        if (r) {
            if (!rc)
                rc = r;
            continue;
        }
        printf("%s\n", dst);
        got++;
    }
    fprintf(stderr, "xchg: fetched %zu new packet%s (%zu already in %s)\n", got,
            got == 1 ? "" : "s", have, out);
cleanup:
    json_decref(j);
    sink_reset(&s);
    net_free(&n);
    xchg_agreement_free(p);
    return rc;
}
