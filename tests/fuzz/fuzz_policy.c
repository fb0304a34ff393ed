/* Fuzz target: agreement YAML (xchg_policy_parse), and the DPIA summary of what parses. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    if (xchg_policy_parse((const char *)data, size, "fuzz.yaml", &p, d) == XCHG_OK) {
        char *text = NULL;
        if (xchg_policy_explain(p, &text) == XCHG_OK)
            free(text);
        xchg_policy_free(p);
    }
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        (void)xchg_diag_text(d, i);
    xchg_diag_free(d);
    return 0;
}
