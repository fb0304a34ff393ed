/* Fuzz target: an agency mapping (xchg_mapping_parse) against the base agreement, and the
 * CSV template of what parses. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    const xchg_policy *p = xchg_agreement_policy(fz_policy());
    xchg_diag *d = xchg_diag_new();
    xchg_mapping *m = NULL;
    if (xchg_mapping_parse(p, (const char *)data, size, "fuzz.yaml", &m, d) == XCHG_OK) {
        char *text = NULL;
        if (xchg_seal_template(p, xchg_mapping_agency(m), m, &text) == XCHG_OK)
            free(text);
        xchg_mapping_free(m);
    }
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        (void)xchg_diag_text(d, i);
    xchg_diag_free(d);
    return 0;
}
