/* xchg secret new | open */
#include "cli.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg secret new --agreement A.yaml --key OWNER.key --epoch N -o FILE [--force]\n"
    "       xchg secret open --agreement A.yaml --key AGENCY.key FILE\n"
    "\n"
    "new   the agreement's owner creates the linkage secret for epoch N, sealed to each\n"
    "      agency's box key and signed (the matcher is never a recipient). A new epoch\n"
    "      rotates the secret.\n"
    "open  an agency checks that its key opens FILE and prints its epoch and fingerprint\n"
    "      (compare fingerprints between agencies; the secret itself is never printed).\n"
    "\n"
    "Both verify the agreement first (signatures, validity dates).\n"
    "  --passphrase-fd N   read the key's passphrase from file descriptor N\n"
    "\n"
    "example: xchg secret new --agreement phase2.yaml --key keys/county-ig.key --passphrase-fd 3 --epoch 1 -o linkage-secret-e1.xsec\n"
    "example: xchg secret open --agreement phase2.yaml --key keys/police.key linkage-secret-e1.xsec\n";

int cmd_secret(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    const char *agr = NULL, *key = NULL, *epoch = NULL, *out = NULL, *force = NULL, *pfd = NULL;
    const struct cli_opt opts[] = {
        {"--agreement", 'a', 1, &agr}, {"--key", 'k', 1, &key}, {"--epoch", 'e', 1, &epoch},
        {"--out", 'o', 1, &out},       {"--force", 'f', 0, &force},
        {"--passphrase-fd", 0, 1, &pfd}, {0},
    };
    const char *pos[4];
    int npos, help, rc;
    if ((rc = cli_parse(argc - 1, argv + 1, opts, pos, 4, &npos, &help)) != 0)
        return rc;
    if (help) {
        cli_verb_usage(usage, verb);
        return EXIT_OK;
    }
    if (!agr || !key) {
        cli_error("secret %s needs --agreement and --key", verb);
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    xchg_secret *s = NULL;
    xchg_diag *d = xchg_diag_new();
    if (strcmp(verb, "new") == 0) {
        char *end = NULL;
        unsigned long ep = epoch ? strtoul(epoch, &end, 10) : 0;
        if (!epoch || !end || *end || ep == 0 || ep > 0xffffffffUL || !out || npos) {
            cli_error("secret new needs --epoch N (a whole number from 1) and -o FILE");
            rc = EXIT_USAGE;
            goto cleanup;
        }
        if ((rc = cli_load_agreement(agr, &p)) != 0 || (rc = cli_load_seckey(key, pfd, &k)) != 0)
            goto cleanup;
        xchg_err e = xchg_secret_create(p, k, (uint32_t)ep, (int64_t)time(NULL), out,
                                        force != NULL, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, "secret new");
            goto cleanup;
        }
        size_t nag = 0;
        const xchg_policy_data *pd = xchg_agreement_get(p);
        for (size_t i = 0; i < pd->nparties; i++)
            nag += pd->parties[i].role == XCHG_ROLE_AGENCY;
        printf("wrote %s: linkage secret for '%s' epoch %lu, sealed to %zu %s\n", out,
               pd->id, ep, nag, cli_plural(nag, "agency", "agencies"));
        rc = EXIT_OK;
    } else if (strcmp(verb, "open") == 0) {
        if (npos != 1) {
            cli_error("secret open needs the secret FILE");
            rc = EXIT_USAGE;
            goto cleanup;
        }
        if ((rc = cli_load_agreement(agr, &p)) != 0 || (rc = cli_load_seckey(key, pfd, &k)) != 0)
            goto cleanup;
        xchg_err e = xchg_secret_open(p, k, pos[0], &s, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, pos[0]);
            goto cleanup;
        }
        char fp[33];
        xchg_secret_fingerprint(s, fp);
        size_t who = xchg_policy_party_by_key(xchg_agreement_policy(p), xchg_seckey_public(k)->id);
        printf("linkage secret for '%s' epoch %u opened by party '%s'\nfingerprint %s\n",
               xchg_agreement_get(p)->id, xchg_secret_epoch(s),
               who == XCHG_NONE ? "?" : xchg_agreement_get(p)->parties[who].id, fp);
        rc = EXIT_OK;
    } else {
        cli_error("unknown secret command '%s'", verb);
        fputs(usage, stderr);
        rc = EXIT_USAGE;
    }
cleanup:
    xchg_secret_free(s);
    xchg_seckey_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
