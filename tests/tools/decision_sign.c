/*
 * Test helper: the operator's side of a remote decision as a command, so a shell test
 * can prepare, sign and submit by hand (and replay or tamper with what it signed).
 *   decision_sign AGREEMENT KEY FAMILY approve|reject REASON < PREPARED > SIGNED
 * PREPARED is the "request" text of POST /v1/operator/prepare; SIGNED is what
 * xchg_decision_sign makes of it (exit 1 and the refusal on stderr when it refuses).
 */
#include <exchange.h>

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (xchg_process_harden(NULL) != XCHG_OK || argc != 6 || xchg_init() != XCHG_OK) {
        fprintf(stderr, "usage: decision_sign AGREEMENT KEY FAMILY approve|reject REASON\n");
        return 2;
    }
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    if (t_agreement_file(argv[1], &p, NULL) != XCHG_OK ||
        xchg_seckey_load(argv[2], NULL, 0, &k, NULL) != XCHG_OK) {
        fprintf(stderr, "decision_sign: cannot load %s or %s\n", argv[1], argv[2]);
        return 3;
    }
    static char in[4 << 20];
    size_t n = fread(in, 1, sizeof in - 1, stdin);
    in[n] = 0;
    char *out = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_decision_sign(p, k, NULL, in, argv[3], strcmp(argv[4], "approve") == 0,
                                    argv[5], (int64_t)time(NULL), &out, d);
    if (e != XCHG_OK)
        fprintf(stderr, "decision_sign: %s\n",
                xchg_diag_count(d) ? xchg_diag_message(d, 0) : xchg_strerror(e));
    else
        fputs(out, stdout);
    free(out);
    xchg_diag_free(d);
    xchg_seckey_free(k);
    xchg_agreement_free(p);
    return e == XCHG_OK ? 0 : 1;
}
