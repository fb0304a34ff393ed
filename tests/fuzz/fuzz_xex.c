/* Fuzz target: the sealed-extract container, read by the matcher (seed key 4). Odd first
 * bytes go through the raw container reader, even ones through xchg_extract_open/next/
 * finish against the fixture agreement. The byte itself is not part of the file. */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "fuzz_common.h"

static xchg_seckey *matcher, *police;

static void raw(const char *path, xchg_diag *d)
{
    unsigned v = 0;
    uint8_t id[XCHG_KEYID_BYTES];
    (void)xchg_xex_peek(path, &v, id, d);
    xchg_xex_reader *r = NULL;
    if (xchg_xex_reader_open(path, matcher, &r, d) != XCHG_OK)
        return;
    size_t hl = 0;
    (void)xchg_xex_reader_header(r, &hl);
    if (xchg_xex_reader_expect_signer(r, xchg_seckey_public(police), d) == XCHG_OK) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        while (xchg_xex_reader_next(r, &rec, &len, &end, d) == XCHG_OK && !end)
            ;
        uint64_t n = 0;
        (void)xchg_xex_reader_finish(r, &n, d);
    }
    xchg_xex_reader_free(r);
}

static void extract(const char *path, xchg_diag *d)
{
    xchg_extract_file *f = NULL;
    if (xchg_extract_open(fz_policy(), matcher, path, 0, &f, d) != XCHG_OK)
        return;
    (void)xchg_extract_file_info(f);
    xchg_record r;
    int end = 0;
    while (xchg_extract_next(f, &r, &end, d) == XCHG_OK && !end)
        ;
    uint64_t n = 0;
    (void)xchg_extract_finish(f, &n, d);
    xchg_extract_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 1)
        return 0;
    if (!matcher) {
        matcher = fz_key(4);
        police = fz_key(2);
    }
    xchg_diag *d = xchg_diag_new();
    const char *path = fz_file("in.xex", data + 1, size - 1);
    if (data[0] & 1)
        raw(path, d);
    else
        extract(path, d);
    xchg_diag_free(d);
    return 0;
}
