/* Shared helpers for unit tests: scratch paths and small file utilities. */
#ifndef XCHG_TEST_HELPERS_H
#define XCHG_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "agreement_testing.h" /* unsigned test agreements (test only) */
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

/* The key pair tests use for party n: xchg_seckey_from_seed(32 bytes of value n). The
 * fixture agreement pins 1 owner, 2 police, 3 school, 4 matcher, 5 team, 8-9 operators. */
static inline xchg_seckey *seed_key(int n)
{
    uint8_t seed[32];
    memset(seed, n, sizeof seed);
    xchg_seckey *k = NULL;
    assert_int_equal(xchg_seckey_from_seed(seed, NULL, &k), XCHG_OK);
    return k;
}

/* The fixture agreement (tests/fixtures/policy/base.yaml) with the first occurrence of
 * find replaced by repl, parsed (the test fails if it does not parse). */
static inline xchg_policy *policy_variant(const char *find, const char *repl)
{
    char *buf[1] = {NULL};
    size_t n[1] = {0};
    if (xchg_file_read(XCHG_TEST_DIR "/fixtures/policy/base.yaml", 1u << 20, buf, n, NULL) != XCHG_OK)
        fail_msg("cannot read the fixture agreement");
    char *t = buf[0], *at = strstr(t, find);
    if (!at)
        fail_msg("fixture text not found: %s", find);
    char *u = malloc(n[0] + strlen(repl) + 1);
    memcpy(u, t, (size_t)(at - t));
    strcpy(u + (at - t), repl);
    strcat(u, at + strlen(find));
    xchg_policy *p = NULL;
    assert_int_equal(xchg_policy_parse(u, strlen(u), "variant.yaml", &p, NULL), XCHG_OK);
    free(t);
    free(u);
    return p;
}

/* policy_variant, wrapped as an (unverified, test-only) agreement for the acting calls. */
static inline xchg_agreement *agreement_variant(const char *find, const char *repl)
{
    xchg_agreement *a = NULL;
    assert_int_equal(xchg__agreement_trust_unverified(policy_variant(find, repl), &a), XCHG_OK);
    return a;
}

#endif
