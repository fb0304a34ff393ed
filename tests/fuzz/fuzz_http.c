/*
 * Fuzz target: what xchg-matcherd does with a request's authentication before any other
 * work — the signed headers (xchg_netauth_verify) and the body hash check. Input layout:
 * seven newline-terminated lines (method, path, key id, time, nonce, body SHA-256,
 * signature) then the body. The clock is fixed at the seed's time, so a well-formed seed
 * reaches the signature check; the replay cache persists across inputs, as in the daemon.
 */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "fuzz_common.h"

#define FUZZ_NOW 1767225600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    static xchg_netauth *v;
    if (!v && xchg_netauth_new(fz_policy(), 4096, &v) != XCHG_OK)
        fz_die("netauth_new");
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *field[7] = {0};
    char *p = buf, *end = buf + size;
    for (int i = 0; i < 7; i++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        *nl = '\0';
        field[i] = p;
        p = nl + 1;
    }
    xchg_netauth_request rq = {field[0], field[1], field[2], field[3], field[4], field[5], field[6]};
    size_t party;
    xchg_netauth_reason why;
    unsigned roles = XCHG_NETAUTH_ROLE(XCHG_ROLE_AGENCY) | XCHG_NETAUTH_ROLE(XCHG_ROLE_RECIPIENT);
    if (rq.method && rq.path &&
        xchg_netauth_verify(v, &rq, roles, FUZZ_NOW, &party, &why) == XCHG_OK) {
        uint8_t h[XCHG_SHA256_BYTES];
        xchg_sha256(p, (size_t)(end - p), h);
        if (xchg_netauth_check_body(rq.body_sha256, h, &why) != XCHG_OK && why == XCHG_NETAUTH_OK)
            abort(); /* a refusal must say why */
    }
    free(buf);
    return 0;
}
