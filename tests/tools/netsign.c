/*
 * Test helper: print the X-Exchange-* headers of one signed request, one "Name: value"
 * per line (for `curl -H @file`), so a CLI test can send raw, replayed or tampered
 * requests to xchg-matcherd.
 *   netsign KEY METHOD PATH [BODYFILE|-] [TIME-OFFSET-SECONDS] [corrupt]
 * "-" or no BODYFILE signs an empty body; "corrupt" flips a bit of the signature.
 */
#include <exchange.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (xchg_process_harden(NULL) != XCHG_OK) { /* it loads secret keys: no core dumps */
        fprintf(stderr, "%s: cannot turn core dumps off\n", argv[0]);
        return 2;
    }
    if (argc < 4 || xchg_init() != XCHG_OK) {
        fprintf(stderr, "usage: netsign KEY METHOD PATH [BODYFILE|-] [OFFSET] [corrupt]\n");
        return 2;
    }
    xchg_seckey *k = NULL;
    if (xchg_seckey_load(argv[1], NULL, 0, &k, NULL) != XCHG_OK) {
        fprintf(stderr, "netsign: cannot load %s\n", argv[1]);
        return 3;
    }
    uint8_t sha[XCHG_SHA256_BYTES], *body = NULL;
    if (argc > 4 && strcmp(argv[4], "-") != 0) {
        if (xchg_sha256_file(argv[4], sha, NULL) != XCHG_OK) {
            fprintf(stderr, "netsign: cannot read %s\n", argv[4]);
            return 3;
        }
        body = sha;
    }
    int64_t now = (int64_t)time(NULL) + (argc > 5 ? atoll(argv[5]) : 0);
    xchg_netauth_headers h;
    if (xchg_netauth_sign(k, argv[2], argv[3], now, body, &h) != XCHG_OK)
        return 4;
    if (argc > 6 && strcmp(argv[6], "corrupt") == 0)
        h.signature[10] = h.signature[10] == 'A' ? 'B' : 'A';
    printf("%s: %s\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n", XCHG_NETAUTH_H_KEY, h.key,
           XCHG_NETAUTH_H_TIME, h.time, XCHG_NETAUTH_H_NONCE, h.nonce, XCHG_NETAUTH_H_BODY,
           h.body_sha256, XCHG_NETAUTH_H_SIG, h.signature);
    xchg_seckey_free(k);
    return 0;
}
