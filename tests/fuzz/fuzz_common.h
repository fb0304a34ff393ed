/*
 * Shared helpers for the libFuzzer targets: deterministic keys, the fixture agreement, and
 * a per-process scratch file for parsers that read from a path.
 *
 * Every target is built with -fsanitize=fuzzer,address,undefined (CMake option
 * XCHG_FUZZ). Targets must not leak and must not keep state between inputs apart from
 * what is set up once here (keys, the parsed agreement).
 */
#ifndef XCHG_FUZZ_COMMON_H
#define XCHG_FUZZ_COMMON_H

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <exchange.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef XCHG_FIXTURES
#define XCHG_FIXTURES "tests/fixtures"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fz_die(const char *what)
{
    fprintf(stderr, "fuzz setup failed: %s\n", what);
    abort();
}

static inline void fz_init(void)
{
    static int done;
    if (!done && xchg_init() != XCHG_OK)
        fz_die("xchg_init");
    done = 1;
}

/* Key n of the test suite (seed bytes all n): 1 ig, 2 police, 3 school, 4 matcher, 5 team. */
static inline xchg_seckey *fz_key(int n)
{
    uint8_t seed[32];
    memset(seed, n, sizeof seed);
    xchg_seckey *k = NULL;
    if (xchg_seckey_from_seed(seed, NULL, &k) != XCHG_OK)
        fz_die("xchg_seckey_from_seed");
    return k;
}

static inline xchg_agreement *fz_policy(void)
{
    static xchg_agreement *p;
    if (!p && t_agreement_file(XCHG_FIXTURES "/policy/base.yaml", &p, NULL) != XCHG_OK)
        fz_die("cannot parse " XCHG_FIXTURES "/policy/base.yaml");
    return p;
}

/* policies/NAME.yaml with party i of the file bound to key seed 40 + i (as the unit tests
 * bind them): *matcher gets the matcher's secret key. */
#ifndef XCHG_SOURCE
#define XCHG_SOURCE "."
#endif
static inline const char *fz_path(const char *name);
static inline xchg_agreement *fz_policy_shipped(const char *name, xchg_seckey **matcher)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/policies/%s.yaml", XCHG_SOURCE, name);
    snprintf(dir, sizeof dir, "%s", fz_path("keys"));
    mkdir(dir, 0700);
    char *text = NULL;
    size_t len = 0;
    if (xchg_file_read(path, 1u << 22, &text, &len, NULL) != XCHG_OK)
        fz_die(path);
    int n = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "  - id: ", 8) != 0)
            continue;
        char id[65], kp[700];
        size_t k = strcspn(l + 8, " \n");
        if (k >= sizeof id)
            fz_die("party id");
        memcpy(id, l + 8, k);
        id[k] = '\0';
        snprintf(kp, sizeof kp, "%s/%s.pub", dir, id);
        xchg_seckey *key = fz_key(40 + n++);
        if (xchg_pubkey_save(xchg_seckey_public(key), kp, 1, NULL) != XCHG_OK)
            fz_die(kp);
        xchg_seckey_free(key);
    }
    char *bound = NULL;
    size_t blen = 0, nb = 0;
    xchg_agreement *p = NULL;
    if (xchg_policy_bind_keys(text, len, path, dir, 0, &bound, &blen, &nb, NULL) != XCHG_OK ||
        t_agreement_parse(bound, blen, path, &p, NULL) != XCHG_OK)
        fz_die("shipped policy with keys bound");
    free(bound);
    free(text);
    *matcher = fz_key(40 + (int)xchg_policy_matcher(xchg_agreement_policy(p)));
    return p;
}

/* A scratch path unique to this process: <TMPDIR or /tmp>/xchg-fuzz-<pid>-<name>. */
static inline const char *fz_path(const char *name)
{
    static char buf[8][512];
    static int slot;
    const char *dir = getenv("TMPDIR");
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/xchg-fuzz-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
    return p;
}

/* Write the input to a scratch file and return its path. */
static inline const char *fz_file(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fz_die(path);
    if (size && fwrite(data, 1, size, f) != size)
        fz_die("write");
    if (fclose(f) != 0)
        fz_die("close");
    return path;
}

/* The input as a NUL-terminated malloc'ed string (parsers taking C strings). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        fz_die("malloc");
    if (size)
        memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
