/*
 * The linkage engine's Dice kernel (libexchange/matcher/dice_kernel.c): every path this CPU runs
 * gives exactly the generic path's counts -- and generic gives a bit-by-bit reference's --
 * on random, all-ones and sparse filters of many lengths (including lengths that are not
 * multiples of 8, 32 or 64 bytes, and longer than the AVX2 chunk), at unaligned addresses,
 * for blocks of every size around the four-filter batches; and the XCHG_DICE_KERNEL choice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dice_kernel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng = 0x243f6a8885a308d3u;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static uint32_t ref_count(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++)
            c += (uint32_t)(((a[i] & b[i]) >> bit) & 1);
    return c;
}

enum fill { RANDOM, ONES, SPARSE };

static void fill(uint8_t *p, size_t len, enum fill how)
{
    for (size_t i = 0; i < len; i++)
        p[i] = how == ONES ? 0xff : how == SPARSE ? (uint8_t)(rnd8() & rnd8() & rnd8()) : rnd8();
}

/* every supported path against the reference for filters of n bytes, m of them, at
 * byte offset `off` from a malloc'ed (aligned) address */
static void check_size(size_t n, size_t m, size_t off, enum fill how)
{
    uint8_t *qbuf = malloc(n + off + 1), *fbuf = malloc(m * n + off + 1);
    uint32_t *want = malloc((m + 1) * sizeof *want), *got = malloc((m + 1) * sizeof *got);
    assert_non_null(qbuf);
    assert_non_null(fbuf);
    assert_non_null(want);
    assert_non_null(got);
    uint8_t *q = qbuf + off, *f = fbuf + off;
    fill(q, n, how);
    fill(f, m * n, how);
    for (size_t i = 0; i < m; i++)
        want[i] = ref_count(q, f + i * n, n);
    int ran = 0;
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        xchg_dice_many_fn fn = xchg_dice_kernel_fn((xchg_dice_kernel)k);
        if (!fn) {
            assert_false(xchg_dice_kernel_supported((xchg_dice_kernel)k));
            continue;
        }
        ran++;
        memset(got, 0xa5, (m + 1) * sizeof *got);
        fn(q, f, m, n, got);
        for (size_t i = 0; i < m; i++)
            if (got[i] != want[i])
                fail_msg("%s: n=%zu m=%zu off=%zu fill=%d filter %zu: %u, want %u",
                         xchg_dice_kernel_name((xchg_dice_kernel)k), n, m, off, (int)how, i, got[i],
                         want[i]);
        /* nothing written past the block */
        assert_int_equal(got[m], 0xa5a5a5a5u);
    }
    assert_true(ran >= 1);
    free(qbuf);
    free(fbuf);
    free(want);
    free(got);
}

static void test_paths_match_reference(void **state)
{
    (void)state;
    static const size_t sizes[] = {1,   3,   7,   8,   9,   16,  31,  32,  33,  40,   63,
                                   64,  65,  96,  100, 127, 128, 129, 130, 160, 192,  200,
                                   255, 256, 257, 384, 511, 512, 513, 520, 544, 1000, 1024};
    static const size_t blocks[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 17};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
            check_size(sizes[s], blocks[b], (s + b) % 3, RANDOM);
}

/* all-ones filters drive every byte counter to its maximum (overflow would show here) and
 * sparse ones exercise small counts */
static void test_extremes(void **state)
{
    (void)state;
    static const size_t sizes[] = {32, 64, 128, 512, 513, 1024, 2048, 4100};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        check_size(sizes[s], 6, 0, ONES);
        check_size(sizes[s], 6, 1, SPARSE);
    }
}

/* many random 1024-bit blocks: the engine's usual case, compared path by path */
static void test_many_1024bit_blocks(void **state)
{
    (void)state;
    for (int r = 0; r < 200; r++)
        check_size(128, (size_t)(rnd8() % 40), (size_t)(r % 5), r % 7 ? RANDOM : SPARSE);
}

static void test_names(void **state)
{
    (void)state;
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        xchg_dice_kernel back;
        const char *name = xchg_dice_kernel_name((xchg_dice_kernel)k);
        assert_non_null(name);
        assert_int_equal(xchg_dice_kernel_parse(name, &back), 0);
        assert_int_equal(back, k);
    }
    xchg_dice_kernel k;
    assert_int_equal(xchg_dice_kernel_parse("avx3", &k), -1);
    assert_int_equal(xchg_dice_kernel_parse("", &k), -1);
    assert_int_equal(xchg_dice_kernel_parse(NULL, &k), -1);
    assert_null(xchg_dice_kernel_name(XCHG_DICE_NKERNELS));
    assert_true(xchg_dice_kernel_supported(XCHG_DICE_GENERIC));
    assert_false(xchg_dice_kernel_supported(XCHG_DICE_NKERNELS));
    assert_null(xchg_dice_kernel_fn(XCHG_DICE_NKERNELS));
    assert_true(xchg_dice_kernel_supported(xchg_dice_kernel_best()));
    /* the best is at least as far along the list as every supported path */
    for (int j = 0; j < XCHG_DICE_NKERNELS; j++)
        if (xchg_dice_kernel_supported((xchg_dice_kernel)j))
            assert_true((int)xchg_dice_kernel_best() >= j);
}

/* in a child process (the choice is read once per process): XCHG_DICE_KERNEL=v gives
 * kernel `want`; returns the child's stderr note (or "") in note */
static void child_selects(const char *v, xchg_dice_kernel want, char *note, size_t cap)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        setenv("XCHG_DICE_KERNEL", v, 1);
        xchg_dice_kernel got = xchg_dice_kernel_selected();
        /* the same choice every time, and pick() hands out that path's function */
        int ok = got == want && xchg_dice_kernel_selected() == got &&
                 xchg_dice_kernel_pick(128) == xchg_dice_kernel_fn(got);
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd[0], note + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    note[len] = '\0';
    close(fd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("XCHG_DICE_KERNEL=%s did not select %s", v, xchg_dice_kernel_name(want));
}

static void test_forced_dispatch(void **state)
{
    (void)state;
    char note[512];
    xchg_dice_kernel best = xchg_dice_kernel_best();
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        const char *name = xchg_dice_kernel_name((xchg_dice_kernel)k);
        if (xchg_dice_kernel_supported((xchg_dice_kernel)k)) {
            child_selects(name, (xchg_dice_kernel)k, note, sizeof note);
            assert_string_equal(note, ""); /* a supported forced path runs silently */
        } else {
            child_selects(name, best, note, sizeof note);
            assert_non_null(strstr(note, "cannot run it"));
            assert_non_null(strstr(note, name));
        }
    }
    child_selects("avx1024", best, note, sizeof note);
    assert_non_null(strstr(note, "not a Dice kernel"));
    assert_non_null(strstr(note, xchg_dice_kernel_name(best)));
    child_selects("", best, note, sizeof note);
    assert_string_equal(note, "");
}

/* a filter of n bytes at one of several densities (so queries with more set than clear
 * bits, and fewer, both occur), empty and full ones included */
static void fill_mixed(uint8_t *p, size_t n)
{
    int d = rnd8() % 8;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = rnd8(), b = rnd8(), c = rnd8();
        p[i] = d == 0   ? 0
               : d == 1 ? 0xff
               : d == 2 ? (uint8_t)(a & b & c)
               : d == 3 ? (uint8_t)(a | b | c)
               : d == 4 ? (uint8_t)(a | b)
               : d == 5 ? (uint8_t)(a & b)
                        : a;
    }
}

/* the rows of a block of m filters of n bytes, on every supported path, equal the generic
 * path's one-against-many counts */
static void check_block(size_t n, size_t m, size_t off)
{
    uint8_t *fbuf = malloc(m * n + off + 1);
    uint32_t *want = malloc((m + 1) * sizeof *want), *got = malloc((m + 1) * sizeof *got);
    assert_non_null(fbuf);
    assert_non_null(want);
    assert_non_null(got);
    uint8_t *f = fbuf + off;
    for (size_t i = 0; i < m; i++)
        fill_mixed(f + i * n, n);
    xchg_dice_many_fn generic = xchg_dice_kernel_fn(XCHG_DICE_GENERIC);
    for (int k = 0; k < XCHG_DICE_NKERNELS; k++) {
        xchg_dice_block *b = xchg_dice_block_new((xchg_dice_kernel)k);
        if (!b) {
            assert_false(xchg_dice_kernel_supported((xchg_dice_kernel)k));
            continue;
        }
        /* a block object is reused: set it to another (smaller) block first */
        xchg_dice_block_set(b, f, m / 2, n);
        if (m / 2 > 1)
            xchg_dice_block_row(b, 0, got);
        xchg_dice_block_set(b, f, m, n);
        /* the bit-sliced rows are what this checks: blocks this big use them */
        if (m >= 513 && (k == XCHG_DICE_AVX2 || k == XCHG_DICE_AVX512))
            assert_true(xchg_dice_block_bitsliced(b));
        if (k == XCHG_DICE_GENERIC || k == XCHG_DICE_POPCNT)
            assert_false(xchg_dice_block_bitsliced(b));
        for (size_t x = 0; x < m; x++) {
            size_t rest = m - x - 1;
            generic(f + x * n, f + (x + 1) * n, rest, n, want);
            memset(got, 0xa5, (rest + 1) * sizeof *got);
            xchg_dice_block_row(b, x, got);
            for (size_t r = 0; r < rest; r++)
                if (got[r] != want[r])
                    fail_msg("%s block: n=%zu m=%zu off=%zu row %zu filter %zu: %u, want %u",
                             xchg_dice_kernel_name((xchg_dice_kernel)k), n, m, off, x, x + 1 + r,
                             got[r], want[r]);
            assert_int_equal(got[rest], 0xa5a5a5a5u); /* nothing written past the row */
        }
        xchg_dice_block_free(b);
    }
    free(fbuf);
    free(want);
    free(got);
}

/* blocks around the tile size (256 filters) and where bit-slicing starts (a block of 224
 * filters on avx2, 480 on avx512; a row's part of a tile of 128 or 160), of filter lengths
 * that are and are not multiples of 8, 32 and 256 bits, short and long */
static void test_block_rows(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 3, 8, 13, 32, 33, 64, 100, 127, 128, 129, 255, 256, 257, 520};
    static const size_t blocks[] = {0, 1, 2, 5, 127, 129, 223, 224, 255, 256, 257, 300, 481, 513};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
            if (sizes[s] * blocks[b] * blocks[b] <= 70000000u)
                check_block(sizes[s], blocks[b], (s + b) % 3);
    check_block(128, 1100, 1); /* the usual 1024-bit filters, five tiles */
    check_block(257, 513, 2);  /* counts past 2^10: the counter levels in memory */
    check_block(4100, 513, 0); /* and past 2^13 */
    xchg_dice_block_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_match_reference), cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_many_1024bit_blocks),   cmocka_unit_test(test_names),
        cmocka_unit_test(test_forced_dispatch),       cmocka_unit_test(test_block_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
