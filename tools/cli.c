#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

XCHG_PRINTF(2, 0) static void vmsg(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "xchg: %s", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error: ", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("hint: ", fmt, ap);
    va_end(ap);
}

void cli_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void cli_print_diag(const xchg_diag *d)
{
    /* diagnostics quote input (CSV cells, header names, YAML text): no control
     * characters reach the terminal */
    for (size_t i = 0; i < xchg_diag_count(d); i++) {
        const char *t = xchg_diag_text(d, i);
        /* a message that names no file is the tool's own: "xchg: error: ..." as
         * docs/exit-codes.md says, like cli_error's */
        if (strncmp(t, "error: ", 7) == 0 || strncmp(t, "warning: ", 9) == 0 ||
            strncmp(t, "note: ", 6) == 0)
            fputs("xchg: ", stderr);
        xchg_term_safe(stderr, t);
        fputc('\n', stderr);
    }
    if (xchg_diag_lost(d))
        fprintf(stderr, "xchg: some messages were lost (out of memory)\n");
}

int cli_exit_code(xchg_err e)
{
    switch (e) {
    case XCHG_OK: return EXIT_OK;
    case XCHG_ERR_VERIFY:
    case XCHG_ERR_PASSPHRASE:
    case XCHG_ERR_POLICY:
    case XCHG_ERR_VALIDITY:
    case XCHG_ERR_UNSIGNED:
    case XCHG_ERR_UNKNOWN_KEY:
    case XCHG_ERR_DENIED:
    case XCHG_ERR_FORMAT:
    case XCHG_ERR_VERSION:
    case XCHG_ERR_TRUNCATED: return EXIT_DENIED;
    case XCHG_ERR_ARG:
    case XCHG_ERR_EXISTS: return EXIT_USAGE;
    case XCHG_ERR_IO:
    case XCHG_ERR_NOT_FOUND:
    case XCHG_ERR_NOMEM: return EXIT_IO;
    case XCHG_ERR_CRYPTO: return EXIT_INTERNAL;
    }
    return EXIT_INTERNAL;
}

int cli_fail(xchg_err err, const xchg_diag *d, const char *what)
{
    if (xchg_diag_count(d))
        cli_print_diag(d);
    else
        cli_error("%s: %s", what, xchg_strerror(err));
    return cli_exit_code(err);
}

const char *cli_plural(unsigned long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int cli_harden(void)
{
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_process_harden(d);
    int rc = e == XCHG_OK ? 0 : cli_fail(e, d, "process hardening");
    if (rc)
        cli_hint("core dumps could not be turned off; refusing to handle secret keys");
    xchg_diag_free(d);
    return rc;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char **pos, int maxpos,
              int *npos, int *help)
{
    *npos = 0;
    *help = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (*npos >= maxpos) {
                cli_error("unexpected argument '%s'", a);
                return EXIT_USAGE;
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            continue;
        }
        if (strcmp(a, "--list-options") == 0) {
            /* hidden, for shell completion: the options this verb takes, one a line */
            for (const struct cli_opt *p = opts; p && p->lng; p++)
                printf("%s\n", p->lng);
            puts("--help");
            exit(fflush(stdout) == 0 ? EXIT_OK : EXIT_IO);
        }
        const struct cli_opt *o = NULL;
        const char *inl = NULL;
        for (const struct cli_opt *p = opts; p && p->lng; p++) {
            size_t n = strlen(p->lng);
            if (a[1] == '-' && strncmp(a, p->lng, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                o = p;
                inl = a[n] == '=' ? a + n + 1 : NULL;
                break;
            }
            if (a[1] != '-' && p->shrt && a[1] == p->shrt && a[2] == '\0') {
                o = p;
                break;
            }
        }
        if (!o) {
            cli_error("unknown option '%s'", a);
            cli_suggest_option(a, opts);
            return EXIT_USAGE;
        }
        if (o->takes_arg) {
            if (!inl) {
                if (i + 1 >= argc) {
                    cli_error("option '%s' needs a value", o->lng);
                    return EXIT_USAGE;
                }
                inl = argv[++i];
            }
            *o->val = inl;
        } else {
            if (inl) {
                cli_error("option '%s' takes no value", o->lng);
                return EXIT_USAGE;
            }
            *o->val = "1";
        }
    }
    return 0;
}

#define PASS_MAX 1024

static int read_line_fd(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0 || c == '\n')
            break;
        if (n + 1 >= cap)
            return -2;
        buf[n++] = c;
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 0;
}

static int read_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -3;
    struct termios old, raw;
    int have = tcgetattr(fd, &old) == 0;
    if (have) {
        raw = old;
        raw.c_lflag &= (tcflag_t)~ECHO;
        raw.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &raw);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* prompt is a courtesy */
    }
    int r = read_line_fd(fd, buf, cap, len);
    if (have)
        tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    return r;
}

int cli_read_passphrase(const char *fd_arg, const char *prompt, int confirm, char **pass,
                        size_t *len)
{
    char *buf = xchg_secure_alloc(PASS_MAX);
    char *again = NULL;
    int rc = EXIT_USAGE;
    if (!buf) {
        cli_error("out of memory");
        return EXIT_IO;
    }
    if (fd_arg) {
        char *end = NULL;
        errno = 0;
        long fd = strtol(fd_arg, &end, 10);
        if (errno || !end || *end || fd < 0 || fd > 1000000) {
            cli_error("--passphrase-fd: '%s' is not a file descriptor number", fd_arg);
            goto cleanup;
        }
        int r = read_line_fd((int)fd, buf, PASS_MAX, len);
        if (r == -2) {
            cli_error("passphrase longer than %d bytes", PASS_MAX - 1);
            goto cleanup;
        }
        if (r != 0) {
            cli_error("cannot read passphrase from file descriptor %ld: %s", fd, strerror(errno));
            rc = EXIT_IO;
            goto cleanup;
        }
    } else {
        int r = read_tty(prompt, buf, PASS_MAX, len);
        if (r == -3) {
            cli_error("no terminal to ask for the passphrase");
            cli_hint("pass it on a file descriptor with --passphrase-fd N (never on the command line)");
            if (confirm & CLI_PASS_NEW_KEY)
                cli_hint("or make a key without a passphrase with --unprotected (not recommended)");
            goto cleanup;
        }
        if (r != 0) {
            cli_error("cannot read the passphrase");
            rc = EXIT_IO;
            goto cleanup;
        }
        if (confirm) {
            size_t l2 = 0;
            again = xchg_secure_alloc(PASS_MAX);
            if (!again || read_tty("Repeat passphrase: ", again, PASS_MAX, &l2) != 0 ||
                l2 != *len || !xchg_equal(again, buf, l2)) {
                cli_error("the passphrases do not match");
                goto cleanup;
            }
        }
    }
    if (*len == 0) {
        cli_error("empty passphrase");
        if (confirm & CLI_PASS_NEW_KEY)
            cli_hint("use --unprotected to store the key without a passphrase (not recommended)");
        goto cleanup;
    }
    *pass = buf;
    buf = NULL;
    rc = 0;
cleanup:
    xchg_secure_free(buf);
    xchg_secure_free(again);
    return rc;
}

int cli_load_seckey(const char *path, const char *fd_arg, xchg_seckey **out)
{
    xchg_diag *d = xchg_diag_new();
    int prot = 0, rc;
    char *pass = NULL;
    size_t plen = 0;
    xchg_err e = xchg_seckey_peek(path, NULL, &prot, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, path);
        goto cleanup;
    }
    if (prot) {
        char prompt[512];
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", path);
        if ((rc = cli_read_passphrase(fd_arg, prompt, 0, &pass, &plen)) != 0)
            goto cleanup;
    }
    e = xchg_seckey_load(path, pass, plen, out, d);
    rc = e == XCHG_OK ? 0 : cli_fail(e, d, path);
cleanup:
    xchg_secure_free(pass);
    xchg_diag_free(d);
    return rc;
}

int cli_today(int32_t *days)
{
    *days = (int32_t)(time(NULL) / 86400);
    return 0;
}

int cli_load_agreement(const char *path, xchg_agreement **p)
{
    if (!path) {
        cli_error("this command needs --agreement A.yaml");
        return EXIT_USAGE;
    }
    xchg_diag *d = xchg_diag_new();
    int32_t today;
    cli_today(&today);
    xchg_err e = xchg_policy_load_verified(path, NULL, today, p, d);
    int rc = e == XCHG_OK ? 0 : cli_fail(e, d, path);
    if (rc)
        cli_error("the agreement %s is not verified; refusing to use it", path);
    xchg_diag_free(d);
    return rc;
}

int cli_verb_args(int argc, char **argv, const struct cli_opt *opts, const char **pos,
                  int maxpos, int *npos, const char *usage)
{
    int help = 0, rc = cli_parse(argc, argv, opts, pos, maxpos, npos, &help);
    if (rc)
        return rc;
    if (help) {
        cli_verb_usage(usage, argv[0]);
        return -1;
    }
    return 0;
}

/* The words of a synopsis line after "xchg ": group and verb (up to a space). */
static int synopsis_words(const char *l, size_t n, const char **w1, size_t *n1, const char **w2,
                          size_t *n2)
{
    size_t i = 0;
    if (n >= 7 && (strncmp(l, "usage: ", 7) == 0 || strncmp(l, "       ", 7) == 0))
        i = 7;
    else
        return 0;
    if (n - i < 5 || strncmp(l + i, "xchg ", 5) != 0)
        return 0;
    i += 5;
    *w1 = l + i;
    while (i < n && l[i] != ' ')
        i++;
    *n1 = (size_t)(l + i - *w1);
    while (i < n && l[i] == ' ')
        i++;
    *w2 = l + i;
    while (i < n && l[i] != ' ')
        i++;
    *n2 = (size_t)(l + i - *w2);
    return 1;
}

static int word_is(const char *w, size_t n, const char *verb)
{
    return n == strlen(verb) && strncmp(w, verb, n) == 0;
}

/* A paragraph's head names verb: "verb  text" or "a, verb  text". */
static int head_names(const char *l, size_t n, const char *verb)
{
    size_t end = 0;
    while (end + 1 < n && !(l[end] == ' ' && l[end + 1] == ' '))
        end++;
    for (size_t i = 0; i < end;) {
        size_t j = i;
        while (j < end && l[j] != ',')
            j++;
        if (word_is(l + i, j - i, verb))
            return 1;
        i = j + 1;
        while (i < end && l[i] == ' ')
            i++;
    }
    return 0;
}

void cli_verb_usage(const char *usage, const char *verb)
{
    const char *group = NULL;
    size_t ngroup = 0;
    int found = 0;
    /* first pass: is verb one of several in the synopsis? */
    for (const char *l = usage; *l && *l != '\n';) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        const char *w1, *w2;
        size_t n1, n2;
        if (synopsis_words(l, n, &w1, &n1, &w2, &n2)) {
            if (word_is(w1, n1, verb))
                break; /* a single-verb command: all of it is about verb */
            if (word_is(w2, n2, verb)) {
                found = 1;
                group = w1;
                ngroup = n1;
            }
        }
        l += n + (e != NULL);
    }
    if (!found) {
        fputs(usage, stdout);
        return;
    }
    int in_synopsis = 1, keep = 0, printed = 0, printed_example = 0;
    for (const char *l = usage; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        const char *w1, *w2;
        size_t n1, n2;
        if (n == 0) {
            if (in_synopsis)
                in_synopsis = 0;
            keep = 0;
        } else if (in_synopsis) {
            if (synopsis_words(l, n, &w1, &n1, &w2, &n2)) {
                keep = word_is(w2, n2, verb);
                if (keep)
                    printf("%s%.*s\n", printed++ ? "       " : "usage: ", (int)(n - 7), l + 7);
            } else if (keep) {
                printf("%.*s\n", (int)n, l);
            }
        } else if (n > 14 && strncmp(l, "example: xchg ", 14) == 0) {
            /* "example: xchg GROUP VERB ...": this verb's examples only */
            const char *w = l + 14, *e2 = memchr(w, ' ', n - 14);
            keep = 0;
            if (e2 && word_is(e2 + 1, strcspn(e2 + 1, " \n"), verb)) {
                if (!printed_example++)
                    putchar('\n');
                printf("%.*s\n", (int)n, l);
            }
        } else if (l[0] != ' ') {
            keep = head_names(l, n, verb);
            if (keep)
                printf("\n%.*s\n", (int)n, l);
        } else if (keep) {
            printf("%.*s\n", (int)n, l);
        }
        l += n + (e != NULL);
    }
    printf("\nRun 'xchg %.*s --help' for every %.*s command and the options they share.\n",
           (int)ngroup, group, (int)ngroup, group);
}

size_t cli_edit_distance(const char *a, const char *b)
{
    /* Levenshtein distance, one row at a time; words longer than 63 bytes count as far */
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* Close enough to be a typo: at most 2 edits, and fewer than half the word's letters. */
static int near_enough(const char *word, size_t dist)
{
    size_t n = strlen(word);
    return dist <= 2 && dist * 2 < n;
}

const char *cli_nearest_word(const char *word, const char *words)
{
    static char best[64];
    size_t bestd = (size_t)-1;
    best[0] = '\0';
    for (const char *w = words; w && *w;) {
        while (*w == ' ')
            w++;
        size_t n = strcspn(w, " ");
        if (n == 0)
            break;
        if (n < sizeof best) {
            char cand[64];
            memcpy(cand, w, n);
            cand[n] = '\0';
            size_t dist = cli_edit_distance(word, cand);
            if (dist < bestd) {
                bestd = dist;
                memcpy(best, cand, n + 1);
            }
        }
        w += n;
    }
    return bestd != (size_t)-1 && near_enough(word, bestd) ? best : NULL;
}

void cli_suggest_option(const char *given, const struct cli_opt *opts)
{
    char name[64];
    size_t n = strcspn(given, "=");
    if (n >= sizeof name || strncmp(given, "--", 2) != 0)
        return;
    memcpy(name, given, n);
    name[n] = '\0';
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (const struct cli_opt *p = opts; p && p->lng; p++) {
        size_t d = cli_edit_distance(name, p->lng);
        if (d < bestd) {
            bestd = d;
            best = p->lng;
        }
    }
    if (best && near_enough(name + 2, bestd))
        cli_hint("did you mean '%s'?", best);
}
