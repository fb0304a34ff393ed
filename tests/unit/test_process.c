/*
 * xchg_process_harden: after it, no core dump is written (RLIMIT_CORE 0, not dumpable)
 * and a write past the file size limit fails with EFBIG instead of killing the process
 * with SIGXFSZ. Each check runs in a forked child, so the test runner keeps its limits.
 */
#include "test_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Run fn in a child; return its wait status. */
static int in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static int child_limits(void)
{
    /* start from the most permissive setting the test may have, so the check means something */
    struct rlimit r;
    getrlimit(RLIMIT_CORE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_CORE, &r);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    signal(SIGXFSZ, SIG_DFL);
    if (xchg_process_harden(NULL) != XCHG_OK)
        return 10;
    if (getrlimit(RLIMIT_CORE, &r) != 0 || r.rlim_cur != 0 || r.rlim_max != 0)
        return 11;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 12;
    struct sigaction sa;
    if (sigaction(SIGXFSZ, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN)
        return 13;
    /* the limit cannot be raised again: the hard limit is 0 as well */
    r.rlim_cur = r.rlim_max = RLIM_INFINITY;
    if (setrlimit(RLIMIT_CORE, &r) == 0)
        return 14;
    return 0;
}

static void test_limits(void **state)
{
    (void)state;
    int st = in_child(child_limits);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A hardened process that dies of a core-dumping signal leaves no core. */
static int child_crash(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_CORE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_CORE, &r);
    if (chdir(getenv("XCHG_TMP") ? getenv("XCHG_TMP") : "/tmp") != 0)
        return 20;
    if (xchg_process_harden(NULL) != XCHG_OK)
        return 21;
    signal(SIGQUIT, SIG_DFL);
    raise(SIGQUIT);
    return 22;
}

static void test_no_core(void **state)
{
    (void)state;
    int st = in_child(child_crash);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGQUIT);
    assert_false(WCOREDUMP(st));
}

/* Past RLIMIT_FSIZE: write() fails with EFBIG, the process lives on. */
static int child_fsize(void)
{
    signal(SIGXFSZ, SIG_DFL);
    if (xchg_process_harden(NULL) != XCHG_OK)
        return 30;
    struct rlimit r = {4096, RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &r);
    r.rlim_cur = 4096;
    if (setrlimit(RLIMIT_FSIZE, &r) != 0)
        return 31;
    const char *p = tpath("proc-fsize");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 32;
    static char block[8192];
    ssize_t w1 = write(fd, block, 4096);
    ssize_t w2 = write(fd, block, 1);
    int e = errno;
    close(fd);
    unlink(p);
    return w1 == 4096 && w2 == -1 && e == EFBIG ? 0 : 33;
}

static void test_fsize(void **state)
{
    (void)state;
    int st = in_child(child_fsize);
    assert_true(WIFEXITED(st)); /* not killed by SIGXFSZ */
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The atomic writer names the limit and the file, and leaves nothing behind. */
static int child_atomic(void)
{
    if (xchg_process_harden(NULL) != XCHG_OK)
        return 40;
    const char *p = tpath("proc-atomic.key");
    unlink(p);
    struct rlimit r;
    getrlimit(RLIMIT_FSIZE, &r);
    r.rlim_cur = 100;
    if (setrlimit(RLIMIT_FSIZE, &r) != 0)
        return 41;
    static char data[1000];
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_file_write_atomic(p, data, sizeof data, 0600, 0, d);
    char want[600];
    snprintf(want, sizeof want, "file size limit reached while writing %s", p);
    int ok = e == XCHG_ERR_IO && xchg_diag_count(d) == 1 &&
             strstr(xchg_diag_message(d, 0), want) != NULL && access(p, F_OK) != 0;
    if (!ok)
        fprintf(stderr, "got %s: %s\n", xchg_strerror(e),
                xchg_diag_count(d) ? xchg_diag_message(d, 0) : "(no message)");
    xchg_diag_free(d);
    return ok ? 0 : 42;
}

static void test_atomic_efbig(void **state)
{
    (void)state;
    int st = in_child(child_atomic);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_no_core),
        cmocka_unit_test(test_fsize),
        cmocka_unit_test(test_atomic_efbig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
