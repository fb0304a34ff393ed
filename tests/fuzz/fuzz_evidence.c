/* Fuzz target: evidence packs (an auditor opens what the matcher sent) under the shipped
 * phase 2 agreement. Selector byte 0: the input is the pack's bytes as they are (the
 * signature line and its parsing); 1: the input is a body, signed here with the
 * agreement's matcher key, so that the JSON reader and the re-evaluation of the rule,
 * criteria and claim are reached. */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    static xchg_agreement *p;
    static xchg_seckey *matcher;
    if (!p)
        p = fz_policy_shipped("phase2", &matcher);
    if (size < 1)
        return 0;
    const char *path;
    char *sealed = NULL;
    if (data[0] == 1) {
        size_t n = 0;
        char *body = fz_cstr(data + 1, size - 1);
        xchg_err e = xchg_evidence_seal(matcher, body, size - 1, &sealed, &n);
        free(body);
        if (e != XCHG_OK)
            return 0;
        path = fz_file("in.xev", (const uint8_t *)sealed, n);
    } else {
        path = fz_file("in.xev", data + 1, size - 1);
    }
    xchg_diag *d = xchg_diag_new();
    xchg_evidence_verdict v;
    (void)xchg_evidence_verify(p, path, &v, d);
    xchg_diag_free(d);
    free(sealed);
    return 0;
}
