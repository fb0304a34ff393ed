/* Fuzz target: clkhash linkage schema JSON (xchg_clk_schema_parse_json). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    xchg_diag *d = xchg_diag_new();
    xchg_clk_schema *s = NULL;
    if (xchg_clk_schema_parse_json((const char *)data, size, &s, d) == XCHG_OK) {
        for (size_t i = 0; i < xchg_clk_schema_nfeatures(s); i++)
            (void)xchg_clk_schema_feature_name(s, i);
        (void)xchg_clk_filter_bytes(s);
        xchg_clk_schema_free(s);
    }
    xchg_diag_free(d);
    return 0;
}
