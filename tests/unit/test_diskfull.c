/*
 * Disk full and unwritable places: a sealed extract, a referral packet and a store
 * ingest that cannot write give a clear error, leave nothing new behind and leave the
 * data already there intact. "Disk full" is simulated with RLIMIT_FSIZE (writes past
 * the limit fail with EFBIG) and, where the test may mount, a 64 KiB tmpfs filled up
 * (ENOSPC). An unwritable directory is a regular file where the directory should be:
 * root ignores permission bits, so chmod cannot show it.
 */
#include "test_helpers.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>

#define FIX XCHG_TEST_DIR "/fixtures/"

static xchg_agreement *pol;
static xchg_secret *psec, *ssec;
static xchg_seckey *k_police, *k_school, *k_matcher;
static char body[512];

static int setup(void **state)
{
    (void)state;
    if (t_agreement_file(FIX "policy/base.yaml", &pol, NULL) != XCHG_OK)
        return -1;
    xchg_seckey *owner = seed_key(1);
    k_police = seed_key(2);
    k_school = seed_key(3);
    k_matcher = seed_key(4);
    const char *sp = tpath("df.xsec");
    unlink(sp);
    int bad = xchg_secret_create(pol, owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
              xchg_secret_open(pol, k_police, sp, &psec, NULL) != XCHG_OK ||
              xchg_secret_open(pol, k_school, sp, &ssec, NULL) != XCHG_OK;
    xchg_seckey_free(owner);
    char hex[65];
    xchg_hex_encode(hex, xchg_policy_hash(xchg_agreement_policy(pol)), 32);
    snprintf(body, sizeof body,
             "{\"agreement\":{\"id\":\"%s\",\"sha256\":\"%s\"},\"recipient\":\"team\"}",
             xchg_agreement_get(pol)->id, hex);
    return bad ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(psec);
    xchg_secret_free(ssec);
    xchg_seckey_free(k_police);
    xchg_seckey_free(k_school);
    xchg_seckey_free(k_matcher);
    xchg_agreement_free(pol);
    return 0;
}

static xchg_err seal_to(const char *out, const char *csv, xchg_seckey *k, xchg_secret *s,
                        xchg_diag *d)
{
    xchg_seal_opts o = {.input = csv, .output = out, .overwrite = 1, .period_start = 20301,
                        .period_end = 20665, .now = 1767225600};
    xchg_seal_stats st;
    return xchg_seal(pol, k, s, &o, &st, d);
}

static xchg_err packet_to(const char *out, xchg_diag *d)
{
    return xchg_packet_seal(pol, k_matcher, xchg_policy_party(xchg_agreement_policy(pol), "team"),
                            body, out, 1, d);
}

/* files in dir whose name starts with prefix */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    int n = 0;
    for (struct dirent *e; (e = readdir(dh));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dh);
    return n;
}

static void limit_fsize(rlim_t bytes, struct rlimit *old)
{
    struct rlimit lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, old), 0);
    lim = *old;
    lim.rlim_cur = bytes;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void unlimit(const struct rlimit *old)
{
    assert_int_equal(setrlimit(RLIMIT_FSIZE, old), 0);
    signal(SIGXFSZ, SIG_DFL);
}

/* A seal and a packet that hit the file size limit fail with XCHG_ERR_IO and leave the
 * earlier file under the same name exactly as it was, and no temporary file. */
static void test_file_too_large(void **state)
{
    (void)state;
    const char *xp = tpath("df-out.xex"), *pp = tpath("df-out.xrp");
    assert_int_equal(seal_to(xp, FIX "seal/police.csv", k_police, psec, NULL), XCHG_OK);
    assert_int_equal(packet_to(pp, NULL), XCHG_OK);
    size_t nx, np;
    char *before_x = slurp(xp, &nx), *before_p = slurp(pp, &np);
    struct rlimit old;
    xchg_diag *d = xchg_diag_new();
    limit_fsize(100, &old);
    xchg_err ex = seal_to(xp, FIX "seal/police.csv", k_police, psec, d);
    xchg_err ep = packet_to(pp, d);
    unlimit(&old);
    assert_int_equal(ex, XCHG_ERR_IO);
    assert_int_equal(ep, XCHG_ERR_IO);
    assert_diag_has(d, "File too large");
    /* named plainly, with the file the user asked for (not the temporary one) */
    char want[600];
    snprintf(want, sizeof want, "file size limit reached while writing %s", xp);
    assert_diag_has(d, want);
    snprintf(want, sizeof want, "file size limit reached while writing %s", pp);
    assert_diag_has(d, want);
    size_t n;
    char *after = slurp(xp, &n);
    assert_true(n == nx && memcmp(after, before_x, n) == 0);
    free(after);
    after = slurp(pp, &n);
    assert_true(n == np && memcmp(after, before_p, n) == 0);
    free(after);
    const char *dir = getenv("XCHG_TMP") ? getenv("XCHG_TMP") : "/tmp";
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%ld-df-out.xex.tmp", (long)getpid());
    assert_int_equal(count_prefixed(dir, prefix), 0);
    snprintf(prefix, sizeof prefix, "%ld-df-out.xrp.tmp", (long)getpid());
    assert_int_equal(count_prefixed(dir, prefix), 0);
    free(before_x);
    free(before_p);
    xchg_diag_free(d);
    unlink(xp);
    unlink(pp);
}

/* A regular file where a directory should be: a clear error, nothing created. */
static void test_not_a_directory(void **state)
{
    (void)state;
    const char *f = tpath("df-file");
    spit(f, "x", 1);
    char out[600];
    snprintf(out, sizeof out, "%s/out.xex", f);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(seal_to(out, FIX "seal/police.csv", k_police, psec, d), XCHG_ERR_IO);
    assert_diag_has(d, "Not a directory");
    xchg_diag_clear(d);
    snprintf(out, sizeof out, "%s/out.xrp", f);
    assert_int_equal(packet_to(out, d), XCHG_ERR_IO);
    assert_diag_has(d, "Not a directory");
    xchg_diag_clear(d);
    /* a store cannot be created there either */
    xchg_store_key *sk = NULL;
    xchg_store *s = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    snprintf(out, sizeof out, "%s/m.db", f);
    assert_int_not_equal(xchg_store_create(out, sk, pol, &s, d), XCHG_OK);
    assert_null(s);
    xchg_store_key_free(sk);
    xchg_diag_free(d);
    unlink(f);
}

/* An ingest that cannot write its journal or grow the database fails and changes nothing; the store opens and
 * takes the same extract once there is room. */
static void test_store_full(void **state)
{
    (void)state;
    const char *db = tpath("df.db"), *px = tpath("df-police.xex"), *sx = tpath("df-school.xex");
    unlink(db);
    assert_int_equal(seal_to(px, FIX "seal/police.csv", k_police, psec, NULL), XCHG_OK);
    assert_int_equal(seal_to(sx, FIX "seal/school.csv", k_school, ssec, NULL), XCHG_OK);
    xchg_store_key *sk = NULL;
    xchg_store *s = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    assert_int_equal(xchg_store_create(db, sk, pol, &s, NULL), XCHG_OK);
    xchg_ingest_stats st;
    assert_int_equal(xchg_store_ingest(s, pol, k_matcher, px, &st, NULL), XCHG_OK);
    xchg_store_info before, after;
    assert_int_equal(xchg_store_get_info(s, &before, NULL), XCHG_OK);
    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    struct rlimit old;
    xchg_diag *d = xchg_diag_new();
    /* the rollback journal (and any growth of the database) cannot be written */
    assert_true(sb.st_size > 512);
    limit_fsize(512, &old);
    xchg_err e = xchg_store_ingest(s, pol, k_matcher, sx, &st, d);
    unlimit(&old);
    assert_int_not_equal(e, XCHG_OK);
    assert_true(xchg_diag_errors(d) > 0);
    xchg_store_free(s);
    s = NULL;
    assert_int_equal(xchg_store_open(db, sk, pol, 0, &s, NULL), XCHG_OK);
    assert_int_equal(xchg_store_get_info(s, &after, NULL), XCHG_OK);
    assert_int_equal(after.extracts, before.extracts);
    assert_int_equal(after.records, before.records);
    assert_int_equal(after.tokens, before.tokens);
    assert_int_equal(xchg_store_ingest(s, pol, k_matcher, sx, &st, NULL), XCHG_OK);
    assert_int_equal(xchg_store_get_info(s, &after, NULL), XCHG_OK);
    assert_int_equal(after.extracts, before.extracts + 1);
    xchg_store_free(s);
    xchg_store_key_free(sk);
    xchg_diag_free(d);
    unlink(db);
    unlink(px);
    unlink(sx);
}

/* A real full file system: a 64 KiB tmpfs filled to the last byte. Needs the right to
 * mount (root outside a restricted container); skipped with a message otherwise. */
static void test_tmpfs_full(void **state)
{
    (void)state;
    const char *dir = tpath("df-tmpfs");
    mkdir(dir, 0700);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") != 0) {
        print_message("skipped: cannot mount a tmpfs here (%s)\n", strerror(errno));
        rmdir(dir);
        skip();
    }
    char out[600], fill[600], prior[600];
    snprintf(prior, sizeof prior, "%s/prior.xex", dir);
    snprintf(out, sizeof out, "%s/out.xex", dir);
    snprintf(fill, sizeof fill, "%s/fill", dir);
    assert_int_equal(seal_to(prior, FIX "seal/police.csv", k_police, psec, NULL), XCHG_OK);
    size_t np;
    char *before = slurp(prior, &np);
    FILE *f = fopen(fill, "wb");
    assert_non_null(f);
    char block[512] = {0};
    while (fwrite(block, 1, sizeof block, f) == sizeof block && fflush(f) == 0)
        ;
    fclose(f);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(seal_to(out, FIX "seal/police.csv", k_police, psec, d), XCHG_ERR_IO);
    assert_diag_has(d, "No space left on device");
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(count_prefixed(dir, "out.xex.tmp"), 0);
    /* replacing the earlier file fails the same way and keeps it */
    xchg_diag_clear(d);
    assert_int_equal(seal_to(prior, FIX "seal/police.csv", k_police, psec, d), XCHG_ERR_IO);
    size_t n;
    char *after = slurp(prior, &n);
    assert_true(n == np && memcmp(after, before, n) == 0);
    free(after);
    free(before);
    xchg_diag_free(d);
    assert_int_equal(umount(dir), 0);
    rmdir(dir);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_not_a_directory),
        cmocka_unit_test(test_store_full),
        cmocka_unit_test(test_tmpfs_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
