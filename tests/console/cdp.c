/*
 * cdp — a small Chrome DevTools Protocol driver for the console's browser test
 * (tests/console/browser.sh): starts headless Chromium with --remote-debugging-pipe (CDP
 * messages are NUL-terminated JSON; Chromium reads fd 3 and writes fd 4), opens one page
 * and runs a script read from stdin, one command a line:
 *
 *   url URL             navigate the page
 *   wait SECONDS JS     evaluate JS (promises awaited) until it is truthy; fail after SECONDS
 *   eval JS             evaluate JS; fail if it throws or returns false
 *   shot FILE           a PNG screenshot of the page
 *   echo TEXT           print TEXT
 *
 * The script comes on stdin so that a URL holding the console's token never appears in any
 * process's argv. Exit 0 when every command succeeded and the page logged no Content
 * Security Policy violation or uncaught exception; 1 otherwise (the failing command and what
 * the page said are printed); 2 on usage; 3 when Chromium cannot be started.
 * usage: cdp CHROMIUM PROFILE-DIR < SCRIPT
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int to_fd = -1, from_fd = -1;
static int next_id = 1;
static char session[128];
static char *rbuf;
static size_t rlen, rcap;
static int page_errors;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int send_msg(json_t *m)
{
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!s)
        return -1;
    size_t n = strlen(s) + 1, off = 0; /* with the NUL */
    while (off < n) {
        ssize_t w = write(to_fd, s + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(s);
            return -1;
        }
        off += (size_t)w;
    }
    free(s);
    return 0;
}

/* The next message from Chromium, waiting until deadline. NULL on timeout or EOF. */
static json_t *recv_msg(double deadline)
{
    for (;;) {
        char *nul = rlen ? memchr(rbuf, '\0', rlen) : NULL;
        if (nul) {
            size_t n = (size_t)(nul - rbuf);
            json_t *j = json_loadb(rbuf, n, 0, NULL);
            memmove(rbuf, nul + 1, rlen - n - 1);
            rlen -= n + 1;
            return j ? j : json_object();
        }
        double left = deadline - now_s();
        if (left <= 0)
            return NULL;
        struct pollfd p = {from_fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return NULL;
        if (rcap - rlen < 65536) {
            rcap = rcap ? rcap * 2 : 1 << 20;
            rbuf = realloc(rbuf, rcap);
            if (!rbuf)
                return NULL;
        }
        ssize_t r = read(from_fd, rbuf + rlen, rcap - rlen);
        if (r <= 0)
            return NULL;
        rlen += (size_t)r;
    }
}

static void note_event(json_t *m)
{
    const char *method = json_string_value(json_object_get(m, "method"));
    if (!method)
        return;
    json_t *p = json_object_get(m, "params");
    if (strcmp(method, "Runtime.exceptionThrown") == 0) {
        json_t *ed = json_object_get(p, "exceptionDetails");
        json_t *ex = json_object_get(ed, "exception");
        const char *t = json_string_value(json_object_get(ex, "description"));
        printf("page: uncaught exception: %s\n",
               t ? t : json_string_value(json_object_get(ed, "text")));
        page_errors++;
    } else if (strcmp(method, "Log.entryAdded") == 0) {
        json_t *e = json_object_get(p, "entry");
        const char *text = json_string_value(json_object_get(e, "text"));
        const char *level = json_string_value(json_object_get(e, "level"));
        if (text && strstr(text, "Content Security Policy")) {
            printf("page: CSP violation: %s\n", text);
            page_errors++;
        } else if (level && strcmp(level, "error") == 0 && text) {
            printf("page: %s\n", text);
        }
    }
}

/* Send method(params) to the page's session (or the browser when !page); the result. */
static json_t *command(const char *method, json_t *params, int page, double timeout)
{
    int id = next_id++;
    json_t *m = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                          params ? params : json_object());
    if (page && session[0])
        json_object_set_new(m, "sessionId", json_string(session));
    if (send_msg(m) != 0)
        return NULL;
    double deadline = now_s() + timeout;
    for (;;) {
        json_t *r = recv_msg(deadline);
        if (!r) {
            fprintf(stderr, "cdp: no answer to %s\n", method);
            return NULL;
        }
        if (json_integer_value(json_object_get(r, "id")) == id) {
            json_t *err = json_object_get(r, "error");
            if (err) {
                fprintf(stderr, "cdp: %s: %s\n", method,
                        json_string_value(json_object_get(err, "message")));
                json_decref(r);
                return NULL;
            }
            json_t *res = json_incref(json_object_get(r, "result"));
            json_decref(r);
            return res;
        }
        note_event(r);
        json_decref(r);
    }
}

/* Evaluate js; 1 truthy, 0 falsy, -1 exception or failure (printed when loud). */
static int evaluate(const char *js, int loud, char *out, size_t outn)
{
    json_t *r = command(
        "Runtime.evaluate",
        json_pack("{s:s, s:b, s:b}", "expression", js, "returnByValue", 1, "awaitPromise", 1), 1,
        60);
    if (!r)
        return -1;
    json_t *ex = json_object_get(r, "exceptionDetails");
    if (ex) {
        if (loud) {
            json_t *e = json_object_get(ex, "exception");
            const char *t = json_string_value(json_object_get(e, "description"));
            printf("exception: %s\n", t ? t : json_string_value(json_object_get(ex, "text")));
        }
        json_decref(r);
        return -1;
    }
    json_t *v = json_object_get(json_object_get(r, "result"), "value");
    int truthy = v && !json_is_false(v) && !json_is_null(v) &&
                 !(json_is_string(v) && json_string_length(v) == 0) &&
                 !(json_is_number(v) && json_number_value(v) == 0);
    if (out && outn) {
        char *s = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        snprintf(out, outn, "%s", s ? s : "undefined");
        free(s);
    }
    json_decref(r);
    return truthy;
}

static const signed char b64[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int screenshot(const char *file)
{
    json_t *r =
        command("Page.captureScreenshot",
                json_pack("{s:s, s:b}", "format", "png", "captureBeyondViewport", 0), 1, 60);
    const char *data = r ? json_string_value(json_object_get(r, "data")) : NULL;
    if (!data) {
        json_decref(r);
        return -1;
    }
    size_t n = strlen(data), o = 0;
    unsigned char *png = malloc(n);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; png && i < n; i++) {
        int v = b64[(unsigned char)data[i]];
        if (!v)
            continue; /* '=' padding */
        acc = (acc << 6) | (unsigned)(v - 1);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            png[o++] = (unsigned char)(acc >> bits);
        }
    }
    json_decref(r);
    FILE *f = png ? fopen(file, "wb") : NULL;
    int ok = f && fwrite(png, 1, o, f) == o;
    if (f && fclose(f) != 0)
        ok = 0;
    free(png);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cdp CHROMIUM PROFILE-DIR < SCRIPT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return 3;
    char prof[4200];
    snprintf(prof, sizeof prof, "--user-data-dir=%s", argv[2]);
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0) {
        /* Chromium reads commands on fd 3 and writes answers on fd 4 */
        int r3 = dup(in[0]), w4 = dup(out[1]);
        if (r3 < 0 || w4 < 0)
            _exit(127);
        if (dup2(r3, 3) < 0 || dup2(w4, 4) < 0)
            _exit(127);
        for (int fd = 5; fd < 256; fd++)
            close(fd);
        /* --no-sandbox: CI runs as root in a container without user namespaces, where
           Chromium's sandbox cannot start; the page is our own local console only */
        execl(argv[1], argv[1], "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--no-default-browser-check", "--disable-extensions",
              "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", prof,
              "--remote-debugging-pipe", "--window-size=1400,1000", "about:blank", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_fd = in[1];
    from_fd = out[0];
    int rc = 0;
    json_t *t = command("Target.createTarget", json_pack("{s:s}", "url", "about:blank"), 0, 60);
    const char *tid = t ? json_string_value(json_object_get(t, "targetId")) : NULL;
    json_t *a = tid ? command("Target.attachToTarget",
                              json_pack("{s:s, s:b}", "targetId", tid, "flatten", 1), 0, 30)
                    : NULL;
    const char *sid = a ? json_string_value(json_object_get(a, "sessionId")) : NULL;
    if (!sid) {
        fprintf(stderr, "cdp: cannot open a page in %s\n", argv[1]);
        rc = 3;
        goto done;
    }
    snprintf(session, sizeof session, "%s", sid);
    json_decref(command("Page.enable", NULL, 1, 30));
    json_decref(command("Runtime.enable", NULL, 1, 30));
    json_decref(command("Log.enable", NULL, 1, 30));
    json_decref(command("Emulation.setDeviceMetricsOverride",
                        json_pack("{s:i, s:i, s:i, s:b}", "width", 1400, "height", 1000,
                                  "deviceScaleFactor", 1, "mobile", 0),
                        1, 30));
    char line[65536];
    unsigned lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        const char *arg = sp ? sp + 1 : "";
        if (sp)
            *sp = '\0';
        if (strcmp(line, "url") == 0) {
            json_t *r = command("Page.navigate", json_pack("{s:s}", "url", arg), 1, 60);
            if (!r)
                rc = 1;
            json_decref(r);
        } else if (strcmp(line, "wait") == 0) {
            char *end = NULL;
            double secs = strtod(arg, &end);
            const char *js = end && *end == ' ' ? end + 1 : "";
            double deadline = now_s() + secs;
            int v = 0;
            char val[200] = "";
            while ((v = evaluate(js, 0, val, sizeof val)) != 1 && now_s() < deadline) {
                /* drain events while polling; each poll waits at most 100 ms */
                json_t *e = recv_msg(now_s() + 0.1);
                if (e) {
                    note_event(e);
                    json_decref(e);
                }
            }
            if (v != 1) {
                printf("line %u: timed out after %.0f s waiting for: %s (last value %s)\n", lineno,
                       secs, js, val);
                (void)evaluate(js, 1, NULL, 0);
                rc = 1;
            }
        } else if (strcmp(line, "eval") == 0) {
            char val[200];
            if (evaluate(arg, 1, val, sizeof val) != 1) {
                printf("line %u: failed (value %s): %s\n", lineno, val, arg);
                rc = 1;
            }
        } else if (strcmp(line, "shot") == 0) {
            if (screenshot(arg) != 0) {
                printf("line %u: screenshot to %s failed\n", lineno, arg);
                rc = 1;
            }
        } else if (strcmp(line, "echo") == 0) {
            printf("%s\n", arg);
        } else {
            printf("line %u: unknown command '%s'\n", lineno, line);
            rc = 2;
        }
        fflush(stdout);
    }
    /* events that arrived last */
    for (json_t *e; (e = recv_msg(now_s() + 0.2)) != NULL; json_decref(e))
        note_event(e);
    if (rc == 0 && page_errors) {
        printf("the page reported %d error(s)\n", page_errors);
        rc = 1;
    }
done:
    json_decref(t);
    json_decref(a);
    if (session[0] || tid)
        json_decref(command("Browser.close", NULL, 0, 10));
    close(to_fd);
    int status;
    double deadline = now_s() + 10;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct pollfd p = {from_fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char junk[4096];
            if (read(from_fd, junk, sizeof junk) <= 0)
                (void)poll(NULL, 0, 50);
        }
    }
    free(rbuf);
    return rc;
}
