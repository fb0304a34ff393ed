/* Fuzz target: one extract record (xchg_record_decode), re-encoded when it decodes: a
 * current-version record to the same bytes; a version 1 record (which is written as the
 * current version) to bytes that decode and encode again to themselves. */
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
        if (xchg_record_encode(&r, buf, n, &len) != XCHG_OK)
            abort();
        if (data[0] == XCHG_RECORD_VERSION) {
            if (len != size || memcmp(buf, data, size) != 0)
                abort();
        } else {
            xchg_record r2;
            uint8_t *buf2 = malloc(len ? len : 1);
            size_t len2 = 0;
            if (!buf2 || xchg_record_decode(buf, len, &r2, NULL) != XCHG_OK ||
                xchg_record_encode(&r2, buf2, len, &len2) != XCHG_OK || len2 != len ||
                memcmp(buf2, buf, len) != 0)
                abort();
            free(buf2);
        }
        free(buf);
    }
    xchg_diag_free(d);
    return 0;
}
