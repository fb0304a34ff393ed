/*
 * slowloris — a bounded slow-request attacker for tests and benchmarks (loopback only).
 *
 *   slowloris HOST PORT [--from ADDR] [--conns N] [--interval S] [--open-for S] [--max-time S]
 *
 * Opens up to N TLS connections to HOST:PORT from source address ADDR (e.g. 127.0.0.2),
 * each sending a request line and then one more header line every S seconds, never
 * finishing the request head. It stops opening after --open-for seconds and stops
 * altogether after --max-time seconds or once the server has closed every connection it
 * got. HOST and ADDR must be loopback addresses (127.0.0.0/8): this tool refuses anything
 * else. Prints "holding N connections (M refused)" once opening is over, then at the end:
 *   opened=N refused=M cut=K open_at_end=L lines_max=X first_cut_ms=A last_cut_ms=B elapsed_ms=E
 * opened: TLS handshake and request line went through; refused: the server closed or
 * refused the connection before that; cut: opened, then closed by the server (times are
 * from the start of the run).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    SSL *ssl;
    int alive;
    int lines;
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

static void usage(void)
{
    fprintf(stderr, "usage: slowloris HOST PORT [--from ADDR] [--conns N] [--interval S] "
                    "[--open-for S] [--max-time S]   (loopback addresses only)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *host = argv[1], *from = "127.0.0.2";
    long port = strtol(argv[2], NULL, 10), n = 520;
    double interval = 2, open_for = 5, max_time = 20;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--from") == 0)
            from = argv[++i];
        else if (strcmp(argv[i], "--conns") == 0)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--open-for") == 0)
            open_for = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--max-time") == 0)
            max_time = strtod(argv[++i], NULL);
        else
            usage();
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in src = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &dst.sin_addr) != 1 ||
        inet_pton(AF_INET, from, &src.sin_addr) != 1 || port <= 0 || port > 65535 || n < 1 ||
        n > 5000 || interval < 0.1 || open_for < 0 || max_time <= 0 || max_time > 120)
        usage();
    if (!loopback(&dst.sin_addr) || !loopback(&src.sin_addr)) {
        fprintf(stderr, "slowloris: loopback (127.0.0.0/8) addresses only\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return 4;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* an attacker does not care */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    struct conn *c = calloc((size_t)n, sizeof *c);
    if (!c)
        return 4;
    int64_t t0 = now_ms(), stop_open = t0 + (int64_t)(open_for * 1000),
            stop_all = t0 + (int64_t)(max_time * 1000);
    long opened = 0, refused = 0, cut = 0, lines_max = 0;
    int64_t first_cut = -1, last_cut = -1;
    static const char head[] = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (long i = 0; i < n && now_ms() < stop_open; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            refused++;
            continue;
        }
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            fprintf(stderr, "slowloris: cannot bind %s: %s\n", from, strerror(errno));
            close(fd);
            return 3;
        }
        SSL *ssl = NULL;
        if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 || !(ssl = SSL_new(ctx)) ||
            SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
            SSL_write(ssl, head, (int)sizeof head - 1) != (int)sizeof head - 1) {
            ERR_clear_error();
            SSL_free(ssl);
            close(fd);
            refused++;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        c[opened].fd = fd;
        c[opened].ssl = ssl;
        c[opened].alive = 1;
        opened++;
    }
    printf("holding %ld connections (%ld refused)\n", opened, refused);
    fflush(stdout);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    long *idx = calloc((size_t)n, sizeof *idx);
    if (!pf || !idx)
        return 4;
    int64_t next_line = now_ms() + (int64_t)(interval * 1000);
    long alive = opened;
    while (alive > 0 && now_ms() < stop_all) {
        long m = 0;
        for (long i = 0; i < opened; i++)
            if (c[i].alive) {
                pf[m].fd = c[i].fd;
                pf[m].events = POLLIN;
                pf[m].revents = 0;
                idx[m++] = i;
            }
        poll(pf, (nfds_t)m, 100);
        int64_t t = now_ms();
        for (long j = 0; j < m; j++) {
            if (!pf[j].revents)
                continue;
            struct conn *k = &c[idx[j]];
            char buf[512];
            int r = SSL_read(k->ssl, buf, sizeof buf);
            int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(k->ssl, r);
            ERR_clear_error();
            if (r <= 0 && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE))
                continue; /* e.g. a TLS 1.3 session ticket: still open */
            /* closed, reset, or answered (e.g. 408): the server let it go */
            k->alive = 0;
            alive--;
            cut++;
            if (first_cut < 0)
                first_cut = t - t0;
            last_cut = t - t0;
        }
        if (t >= next_line) {
            next_line += (int64_t)(interval * 1000);
            for (long i = 0; i < opened; i++) {
                if (!c[i].alive)
                    continue;
                char line[64];
                int len = snprintf(line, sizeof line, "X-Slow-%d: %ld\r\n", c[i].lines, i);
                int r = SSL_write(c[i].ssl, line, len);
                int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c[i].ssl, r);
                ERR_clear_error();
                if (r > 0) {
                    if (++c[i].lines > lines_max)
                        lines_max = c[i].lines;
                } else if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
                    c[i].alive = 0;
                    alive--;
                    cut++;
                    if (first_cut < 0)
                        first_cut = t - t0;
                    last_cut = t - t0;
                }
            }
        }
    }
    printf("opened=%ld refused=%ld cut=%ld open_at_end=%ld lines_max=%ld first_cut_ms=%lld "
           "last_cut_ms=%lld elapsed_ms=%lld\n",
           opened, refused, cut, alive, lines_max, (long long)first_cut, (long long)last_cut,
           (long long)(now_ms() - t0));
    for (long i = 0; i < opened; i++) {
        SSL_free(c[i].ssl);
        close(c[i].fd);
    }
    free(c);
    free(pf);
    free(idx);
    SSL_CTX_free(ctx);
    return 0;
}
