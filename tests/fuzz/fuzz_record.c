/* Fuzz target: one extract record (xchg_record_decode), re-encoded when it decodes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    xchg_diag *d = xchg_diag_new();
    xchg_record r;
    if (xchg_record_decode(data, size, &r, d) == XCHG_OK) {
        /* a record that decodes must encode back to the same bytes */
        size_t n = xchg_record_size(&r), len = 0;
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
            abort();
        if (xchg_record_encode(&r, buf, n, &len) != XCHG_OK || len != size ||
            memcmp(buf, data, size) != 0)
            abort();
        free(buf);
    }
    xchg_diag_free(d);
    return 0;
}
