/* Fuzz target: the audit log reader (xchg_audit_verify with the matcher's public key, and
 * xchg_audit_foreach). */
#include "fuzz_common.h"

static int visit(const xchg_audit_entry *e, void *ctx)
{
    (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    static xchg_seckey *matcher;
    if (!matcher)
        matcher = fz_key(4);
    xchg_diag *d = xchg_diag_new();
    const char *path = fz_file("audit.log", data, size);
    xchg_audit_stats st;
    (void)xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d);
    size_t n = 0;
    (void)xchg_audit_foreach(path, visit, &n, d);
    xchg_diag_free(d);
    return 0;
}
