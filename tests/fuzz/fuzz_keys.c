/* Fuzz target: key text and key files. The first byte picks the reader: the "xk1:" public
 * key text, a public key file, a secret key file (peek, load without and with a
 * passphrase), a keyring file, a linkage secret file (opened as the police agency), an
 * agency's OPRF cache (opened with fz_key(2) under the service key of scalar 1). */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 6;
    data++;
    size--;
    xchg_diag *d = xchg_diag_new();
    xchg_pubkey pk;
    switch (sel) {
    case 0:
        if (xchg_pubkey_from_string((const char *)data, size, &pk, d) == XCHG_OK) {
            char s[XCHG_PUBKEY_STRLEN];
            xchg_pubkey_to_string(&pk, s);
        }
        break;
    case 1:
        (void)xchg_pubkey_load(fz_file("key.pub", data, size), &pk, d);
        break;
    case 2: {
        const char *path = fz_file("key.sec", data, size);
        int prot = 0;
        xchg_seckey *k = NULL;
        (void)xchg_seckey_peek(path, &pk, &prot, d);
        /* without a passphrase only: a protected file would run Argon2id for each input */
        if (xchg_seckey_load(path, NULL, 0, &k, d) == XCHG_OK)
            xchg_seckey_free(k);
        break;
    }
    case 3: {
        xchg_keyring *kr = xchg_keyring_new();
        if (!kr)
            abort();
        (void)xchg_keyring_load(kr, fz_file("keyring", data, size), d);
        for (size_t i = 0; i < xchg_keyring_count(kr); i++)
            (void)xchg_keyring_at(kr, i);
        xchg_keyring_free(kr);
        break;
    }
    case 4: {
        static xchg_seckey *police;
        if (!police)
            police = fz_key(2);
        xchg_secret *s = NULL;
        if (xchg_secret_open(fz_policy(), police, fz_file("secret.xsec", data, size), &s, d) ==
            XCHG_OK)
            xchg_secret_free(s);
        break;
    }
    case 5: {
        static xchg_seckey *agency;
        if (!agency)
            agency = fz_key(2);
        uint8_t sk[XCHG_OPRF_SCALAR_BYTES] = {1}, pub[XCHG_OPRF_ELEMENT_BYTES];
        if (xchg_oprf_public(sk, pub) != XCHG_OK)
            abort();
        xchg_oprf_cache *k = NULL;
        if (xchg_oprf_cache_open(fz_file("agency.oprfcache", data, size), agency, pub, &k, d) ==
            XCHG_OK) {
            size_t n, used;
            xchg_oprf_cache_stats(k, &n, &used);
            xchg_oprf_cache_free(k);
        }
        break;
    }
    }
    xchg_diag_free(d);
    return 0;
}
