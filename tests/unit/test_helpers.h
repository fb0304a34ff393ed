/* Shared helpers for unit tests: scratch paths and small file utilities. */
#ifndef XCHG_TEST_HELPERS_H
#define XCHG_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <exchange.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh path under $XCHG_TMP (or /tmp) unique to this process: dir/<pid>-<name>. */
static inline const char *tpath(const char *name)
{
    static char buf[64][512];
    static int slot;
    const char *dir = getenv("XCHG_TMP");
    char *p = buf[slot++ % 64];
    snprintf(p, 512, "%s/%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
    return p;
}

/* Whole file as a malloc'ed NUL-terminated string (fails the test if unreadable). */
static inline char *slurp(const char *path, size_t *len)
{
    char *buf[1] = {NULL};
    size_t n[1] = {0};
    xchg_err e = xchg_file_read(path, 1u << 26, buf, n, NULL);
    if (e != XCHG_OK)
        fail_msg("cannot read %s: %s", path, xchg_strerror(e));
    if (len)
        *len = n[0];
    return buf[0];
}

static inline void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Assert that diagnostics d contain a message containing needle. */
static inline void assert_diag_has(const xchg_diag *d, const char *needle)
{
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        if (strstr(xchg_diag_text(d, i), needle))
            return;
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        print_message("  diag: %s\n", xchg_diag_text(d, i));
    fail_msg("no diagnostic contains \"%s\"", needle);
}

#endif
