/* Fuzz target: referral packets, opened by the team (seed key 5) under the fixture
 * agreement. */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    static xchg_seckey *team;
    if (!team)
        team = fz_key(5);
    xchg_diag *d = xchg_diag_new();
    char *body = NULL;
    if (xchg_packet_open(fz_policy(), team, fz_file("in.xrp", data, size), &body, d) == XCHG_OK)
        free(body);
    xchg_diag_free(d);
    return 0;
}
