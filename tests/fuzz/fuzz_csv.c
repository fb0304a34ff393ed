/* Fuzz target: CSV reading (xchg_csv_read) and the whole sealing mapping (xchg_seal) of
 * the police agency's extract under the fixture agreement. A failed seal must leave no
 * output file. */
#include "fuzz_common.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <sys/stat.h>

static xchg_seckey *police;
static xchg_secret *secret;

static int row(void *ctx, unsigned line, const char *const *fields, const size_t *lens, size_t n)
{
    (void)line;
    size_t *total = ctx;
    for (size_t i = 0; i < n; i++)
        if (strlen(fields[i]) != lens[i]) /* fields never hold a NUL */
            abort();
    *total += n;
    return 0;
}

static void setup(void)
{
    xchg_seckey *owner = fz_key(1);
    police = fz_key(2);
    const char *sp = fz_path("seal.xsec");
    unlink(sp);
    if (xchg_secret_create(fz_policy(), owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
        xchg_secret_open(fz_policy(), police, sp, &secret, NULL) != XCHG_OK)
        fz_die("linkage secret");
    unlink(sp);
    xchg_seckey_free(owner);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (!police)
        setup();
    xchg_diag *d = xchg_diag_new();
    const char *in = fz_file("in.csv", data, size);
    size_t total = 0;
    int stopped = 0;
    (void)xchg_csv_read(in, row, &total, &stopped, d);
    xchg_diag_clear(d);

    const char *out = fz_path("out.xex");
    unlink(out);
    /* 2025-08-01 .. 2026-07-31 */
    xchg_seal_opts o = {.input = in, .output = out, .overwrite = 1, .period_start = 20301,
                        .period_end = 20665, .now = 1767225600, .max_messages = 20};
    xchg_seal_stats st;
    xchg_err e = xchg_seal(fz_policy(), police, secret, &o, &st, d);
    struct stat sb;
    if (e != XCHG_OK && stat(out, &sb) == 0)
        abort(); /* partial output after a failed seal */
    unlink(out);
    xchg_diag_free(d);
    return 0;
}
