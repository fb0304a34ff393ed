/* xchg console: the operator's local web console over the matcher store (docs/console.md). */
#include "cli.h"
#include "cli_store.h"
#include "commands.h"
#include "console_api.h"
#include "console_remote.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char usage[] =
    "usage: xchg console --db DB DBKEY --agreement A --key OPERATOR.key [--passphrase-fd N]\n"
    "       xchg console --url https://HOST:PORT --ca CA.pem --agreement A --key OPERATOR.key\n"
    "                    [--share SHARE.xshare] [--matcher-key MATCHER.key\n"
    "                    [--matcher-passphrase-fd N] --outbox DIR]\n"
    "                    [--listen ADDR [--allow-remote]] [--port N] [--accept-new-version]\n"
    "\n"
    "Serves the operator console on http://127.0.0.1 (a random free port unless --port) and\n"
    "prints its address with a one-time token: open it in a browser on this machine. The\n"
    "queue of the latest run's candidate families, each family's detail, approve and reject\n"
    "(singly and in batches) signed with OPERATOR.key exactly as 'xchg release approve'\n"
    "signs, the clerical-review pairs, and - with the matcher's key and an outbox - releases\n"
    "of approved families to outbox/<recipient>/. Every action is audited as from the CLI.\n"
    "The keys never leave this process. Stop it with Ctrl-C. Under an agreement with a\n"
    "release key, approvals need this operator's --share (see xchg release-key).\n"
    "DBKEY is --db-key KEYFILE or --db-passphrase-fd N (see xchg match --help).\n"
    "  --url URL --ca CA remote mode: the queue, details and decisions through xchg-matcherd\n"
    "                    over HTTPS with signed requests; each decision is prepared by the\n"
    "                    daemon and signed here (no --db; no releases or runs)\n"
    "  --listen ADDR     serve on another address: refused unless --allow-remote (the console\n"
    "                    speaks plain HTTP; put it behind TLS you control)\n"
    "\n"
    "example: xchg console --db m/store.db --db-key m/store.key --agreement phase2.yaml --key "
    "keys/operator-1.key --passphrase-fd 3\n";

struct conn_ctx {
    char *body;
    size_t len;
    int too_big;
};

#define MAX_BODY (4u << 20)

static struct console *g_console;

static const char *get_arg(void *actx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)actx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct conn_ctx *cc = *con_cls;
    if (!cc) {
        if (!(cc = calloc(1, sizeof *cc)))
            return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cc->too_big || cc->len + *upload_size > MAX_BODY) {
            cc->too_big = 1;
        } else {
            char *nb = realloc(cc->body, cc->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + cc->len, upload_data, *upload_size);
            cc->body = nb;
            cc->len += *upload_size;
            cc->body[cc->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    struct console_resp r;
    memset(&r, 0, sizeof r);
    if (!g_console || cc->too_big) {
        r.status = cc->too_big ? 413 : 503;
        r.content_type = "application/json";
        r.body =
            strdup(cc->too_big ? "{\"error\":\"request too large\"}" : "{\"error\":\"starting\"}");
        r.len = r.body ? strlen(r.body) : 0;
    } else {
        struct console_req rq = {
            .method = method,
            .path = url,
            .arg = get_arg,
            .actx = conn,
            .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
            .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
            .cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie"),
            .csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token"),
            .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
            .body = cc->body,
            .body_len = cc->len,
        };
        console_handle(g_console, &rq, &r);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.len, r.body ? r.body : (void *)"",
                                        r.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r.content_type ? r.content_type : "text/plain");
    for (const char *const *h = console_security_headers; *h; h += 2)
        MHD_add_response_header(resp, h[0], h[1]);
    if (r.set_cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", r.set_cookie);
    if (r.location[0])
        MHD_add_response_header(resp, "Location", r.location);
    enum MHD_Result ret = MHD_queue_response(conn, r.status ? r.status : 500, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn_ctx *cc = *con_cls;
    if (cc) {
        free(cc->body);
        free(cc);
        *con_cls = NULL;
    }
}

int cmd_console(int argc, char **argv)
{
    struct common c;
    memset(&c, 0, sizeof c);
    const char *mkey = NULL, *mpfd = NULL, *outbox = NULL, *listen = NULL, *allow = NULL,
               *port_s = NULL, *share_path = NULL, *url = NULL, *ca = NULL;
    const struct cli_opt opts[] = {
        {"--db", 'd', 1, &c.db},
        {"--db-key", 0, 1, &c.dbkey},
        {"--db-passphrase-fd", 0, 1, &c.dbpfd},
        {"--agreement", 'a', 1, &c.agr},
        {"--key", 'k', 1, &c.key},
        {"--passphrase-fd", 0, 1, &c.pfd},
        {"--matcher-key", 0, 1, &mkey},
        {"--matcher-passphrase-fd", 0, 1, &mpfd},
        {"--outbox", 0, 1, &outbox},
        {"--share", 0, 1, &share_path},
        {"--listen", 0, 1, &listen},
        {"--allow-remote", 0, 0, &allow},
        {"--port", 0, 1, &port_s},
        {"--accept-new-version", 0, 0, &c.accept},
        {"--url", 0, 1, &url},
        {"--ca", 0, 1, &ca},
        {0},
    };
    int help = 0, rc = cli_parse(argc, argv, opts, c.pos, 256, &c.npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (url &&
        (c.db || c.dbkey || c.dbpfd || mkey || outbox || !ca || !c.agr || !c.key || c.npos)) {
        cli_error("remote mode needs --url URL, --ca CA.pem, --agreement A and --key "
                  "OPERATOR.key, and no --db, --db-key, --matcher-key or --outbox");
        cli_hint("the daemon holds the store and the matcher's key; releases stay with it");
        return EXIT_USAGE;
    }
    if (url && (strncmp(url, "https://", 8) != 0 || strlen(url) >= 500)) {
        cli_error("--url must be an https:// URL");
        return EXIT_USAGE;
    }
    if (ca && !url) {
        cli_error("--ca goes with --url");
        return EXIT_USAGE;
    }
    if (!url && (!c.db || !c.agr || !c.key || c.npos)) {
        cli_error("console needs --db DB, --agreement A and --key OPERATOR.key (and no other "
                  "arguments)");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (!mkey != !outbox) {
        cli_error("releases need both --matcher-key and --outbox");
        return EXIT_USAGE;
    }
    const char *host = listen ? listen : "127.0.0.1";
    struct in_addr ia;
    if (inet_pton(AF_INET, host, &ia) != 1) {
        cli_error("--listen must be an IPv4 address");
        return EXIT_USAGE;
    }
    if ((ntohl(ia.s_addr) >> 24) != 127 && !allow) {
        cli_error("refusing to serve the console on %s: only this machine (127.0.0.1) unless "
                  "--allow-remote",
                  host);
        return EXIT_USAGE;
    }
    unsigned long port = 0;
    if (port_s) {
        char *end = NULL;
        port = strtoul(port_s, &end, 10);
        if (!end || *end || port > 65535) {
            cli_error("--port must be 0 (any free port) to 65535");
            return EXIT_USAGE;
        }
    }
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_seckey *op = NULL, *mk = NULL;
    xchg_release_share *share = NULL;
    struct MHD_Daemon *daemon = NULL;
    struct console *con = NULL;
    struct console_remote *remote = NULL;
    if ((rc = cli_load_agreement(c.agr, &p)) != 0 || (rc = cli_load_seckey(c.key, c.pfd, &op)) != 0)
        goto cleanup;
    {
        const xchg_policy_data *pd = xchg_agreement_get(p);
        size_t who = xchg_policy_party_by_key(xchg_agreement_policy(p), xchg_seckey_public(op)->id);
        if (who == XCHG_NONE || pd->parties[who].role != XCHG_ROLE_OPERATOR) {
            cli_error("%s is not the key of an operator of agreement '%s'", c.key, pd->id);
            cli_hint("the console signs decisions: start it with your operator key");
            rc = EXIT_DENIED;
            goto cleanup;
        }
    }
    if (share_path) {
        /* this operator's share of the release key: approvals carry its contributions */
        xchg_diag *sd = xchg_diag_new();
        xchg_err e = xchg_release_share_load(p, op, share_path, &share, sd);
        if (e != XCHG_OK)
            rc = cli_fail(e, sd, share_path);
        xchg_diag_free(sd);
        if (rc)
            goto cleanup;
    }
    if (mkey && (rc = cli_load_seckey(mkey, mpfd, &mk)) != 0)
        goto cleanup;
    if (url) {
        char why[600];
        if (!(remote = console_remote_new(url, ca, p, op, share))) {
            cli_error("cannot initialise libcurl");
            rc = EXIT_INTERNAL;
            goto cleanup;
        }
        if (console_remote_check(remote, why, sizeof why) != 0) {
            cli_error("%s: %s", url, why);
            cli_hint("is xchg-matcherd running there, and is --ca the CA that signed its "
                     "certificate?");
            rc = EXIT_IO;
            goto cleanup;
        }
    } else if ((rc = match_open_matcher(&c, p, &m)) != 0) {
        goto cleanup;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread: only sigwait below takes them */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr = ia;
    daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!daemon) {
        cli_error("cannot listen on %s:%lu", host, port);
        rc = EXIT_IO;
        goto cleanup;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = di ? di->port : (unsigned)port;
    char token[65];
    struct console_opts o = {m, p, op, mk, outbox, host, bound, share};
    if (!(con = console_new(&o, token))) {
        cli_error("cannot start the console");
        rc = EXIT_INTERNAL;
        goto cleanup;
    }
    if (remote)
        console_set_remote(con, console_remote_backend(remote));
    g_console = con;
    if (remote)
        printf("xchg console for '%s' serving http://%s:%u/ (remote: %s)\n",
               xchg_agreement_get(p)->id, host, bound, url);
    else
        printf("xchg console for '%s' serving http://%s:%u/\n", xchg_agreement_get(p)->id, host,
               bound);
    printf("open: http://%s:%u/?token=%s\n", host, bound, token);
    fflush(stdout);
    sodium_memzero(token, sizeof token);
    int sig = 0;
    sigwait(&set, &sig);
    cli_info("stopping (signal %d)", sig);
    rc = EXIT_OK;
cleanup:
    if (daemon)
        MHD_stop_daemon(daemon);
    g_console = NULL;
    console_free(con);
    console_remote_free(remote);
    xchg_seckey_free(mk);
    xchg_release_share_free(share);
    xchg_seckey_free(op);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    return rc;
}
