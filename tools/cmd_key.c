/* xchg keygen, xchg key show, xchg key ring. */
#include "cli.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char keygen_usage[] =
    "usage: xchg keygen -o PREFIX --label TEXT [--passphrase-fd N | --unprotected] [--force]\n"
    "\n"
    "Makes an Ed25519 signing key and an X25519 box key for one party and writes\n"
    "PREFIX.key (secret, mode 0600) and PREFIX.pub (public, for the agreement). The secret\n"
    "key is encrypted with a passphrase (Argon2id), asked twice on the terminal unless\n"
    "--passphrase-fd gives it.\n"
    "\n"
    "  -o, --out PREFIX       where to write the two files\n"
    "  -l, --label TEXT       who holds the key, e.g. \"Thames Valley Police — data officer\"\n"
    "      --passphrase-fd N  read the passphrase from file descriptor N (never argv)\n"
    "      --unprotected      store the secret key without a passphrase (warns; for tests\n"
    "                         and demos)\n"
    "  -p, --protect          (the default; accepted for old scripts)\n"
    "  -f, --force            replace existing key files\n"
    "\n"
    "example: xchg keygen -o keys/police --label \"Police data officer\" --passphrase-fd 3 3<pass\n";

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *label = NULL, *protect = NULL, *pfd = NULL, *force = NULL;
    const char *unprot = NULL;
    const struct cli_opt opts[] = {
        {"--out", 'o', 1, &out},         {"--label", 'l', 1, &label},
        {"--protect", 'p', 0, &protect}, {"--passphrase-fd", 0, 1, &pfd},
        {"--unprotected", 0, 0, &unprot}, {"--force", 'f', 0, &force},
        {0},
    };
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 0, &npos, keygen_usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!out || !label) {
        cli_error("keygen needs --out PREFIX and --label TEXT");
        fputs(keygen_usage, stderr);
        return EXIT_USAGE;
    }
    if (strlen(label) > XCHG_LABEL_MAX) {
        cli_error("--label is longer than %d bytes", XCHG_LABEL_MAX);
        return EXIT_USAGE;
    }
    for (const char *p = label; *p; p++)
        if ((unsigned char)*p < 0x20) {
            cli_error("--label must not contain control characters or newlines");
            return EXIT_USAGE;
        }
    if (unprot && (protect || pfd)) {
        cli_error("--unprotected contradicts %s", pfd ? "--passphrase-fd" : "--protect");
        return EXIT_USAGE;
    }
    size_t n = strlen(out) + 5;
    char *skpath = malloc(n), *pkpath = malloc(n);
    char *pass = NULL;
    size_t plen = 0;
    xchg_seckey *k = NULL;
    xchg_diag *d = xchg_diag_new();
    if (!skpath || !pkpath || !d) {
        rc = EXIT_IO;
        goto cleanup;
    }
    snprintf(skpath, n, "%s.key", out);
    snprintf(pkpath, n, "%s.pub", out);
    if (!force && (access(skpath, F_OK) == 0 || access(pkpath, F_OK) == 0)) {
        cli_error("%s exists; refusing to overwrite a key", access(skpath, F_OK) == 0 ? skpath : pkpath);
        cli_hint("use --force to replace it (the old key is then lost for good)");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!unprot) {
        if ((rc = cli_read_passphrase(pfd, "Passphrase for the new key: ",
                                      CLI_PASS_CONFIRM | CLI_PASS_NEW_KEY, &pass, &plen)) != 0)
            goto cleanup;
    } else {
        cli_warn("%s will not be protected by a passphrase: anyone who can read the file "
                 "can use the key", skpath);
    }
    xchg_err e = xchg_seckey_generate(label, &k);
    if (e == XCHG_OK)
        e = xchg_seckey_save(k, skpath, pass, plen, NULL, force != NULL, d);
    if (e == XCHG_OK)
        e = xchg_pubkey_save(xchg_seckey_public(k), pkpath, force != NULL, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "keygen");
        goto cleanup;
    }
    char idhex[XCHG_KEYID_HEXLEN + 1], pks[XCHG_PUBKEY_STRLEN];
    xchg_keyid_hex(xchg_seckey_public(k)->id, idhex);
    xchg_pubkey_to_string(xchg_seckey_public(k), pks);
    printf("key id: %s\nlabel:  %s\nsecret: %s (0600%s)\npublic: %s\n%s\n", idhex, label, skpath,
           pass ? ", passphrase-protected" : ", not protected", pkpath, pks);
    rc = EXIT_OK;
cleanup:
    xchg_secure_free(pass);
    xchg_seckey_free(k);
    xchg_diag_free(d);
    free(skpath);
    free(pkpath);
    return rc;
}

static const char key_usage[] =
    "usage: xchg key show FILE...\n"
    "       xchg key ring -o KEYRING [--force] FILE.pub...\n"
    "\n"
    "show  prints the key id, label, algorithm and public key of public or secret key\n"
    "      files (a secret key's passphrase is not needed and its secret is not shown).\n"
    "ring  writes a keyring: the public keys of an agreement's parties, one per line.\n"
    "\n"
    "example: xchg key show keys/police.pub keys/police.key\n"
    "example: xchg key ring -o keyring.txt keys/*.pub\n";

static int key_show(const char *path)
{
    xchg_diag *d = xchg_diag_new();
    xchg_pubkey pk;
    int prot = 0, secret = 0;
    xchg_err e = xchg_pubkey_load(path, &pk, NULL);
    if (e != XCHG_OK) {
        e = xchg_seckey_peek(path, &pk, &prot, d);
        secret = 1;
    }
    if (e != XCHG_OK) {
        int rc = cli_fail(e, d, path);
        xchg_diag_free(d);
        return rc;
    }
    char idhex[XCHG_KEYID_HEXLEN + 1], pks[XCHG_PUBKEY_STRLEN];
    xchg_keyid_hex(pk.id, idhex);
    xchg_pubkey_to_string(&pk, pks);
    printf("file:       %s\n", path);
    printf("kind:       %s\n", secret ? (prot ? "secret key (passphrase-protected, Argon2id)"
                                              : "secret key (not protected)")
                                     : "public key");
    printf("key id:     %s\n", idhex);
    printf("label:      %s\n", pk.label);
    printf("algorithms: Ed25519 (signing), X25519 (box)\n");
    printf("public key: %s\n", pks);
    xchg_diag_free(d);
    return EXIT_OK;
}

int cmd_key(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(key_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *out = NULL, *force = NULL;
    const struct cli_opt opts[] = {{"--out", 'o', 1, &out}, {"--force", 'f', 0, &force}, {0}};
    const char *pos[256];
    int npos, help, rc;
    if ((rc = cli_parse(argc - 1, argv + 1, opts, pos, 256, &npos, &help)) != 0)
        return rc;
    if (help) {
        cli_verb_usage(key_usage, argv[1]);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "show") == 0) {
        if (npos == 0) {
            cli_error("key show needs at least one key file");
            return EXIT_USAGE;
        }
        for (int i = 0; i < npos; i++) {
            if (i)
                putchar('\n');
            int r = key_show(pos[i]);
            if (r)
                rc = r;
        }
        return rc;
    }
    if (strcmp(argv[1], "ring") == 0) {
        if (!out || npos == 0) {
            cli_error("key ring needs -o KEYRING and at least one public key file");
            return EXIT_USAGE;
        }
        xchg_keyring *kr = xchg_keyring_new();
        xchg_diag *d = xchg_diag_new();
        xchg_err e = XCHG_OK;
        for (int i = 0; i < npos && e == XCHG_OK; i++) {
            xchg_pubkey pk;
            e = xchg_pubkey_load(pos[i], &pk, d);
            if (e == XCHG_OK && (e = xchg_keyring_add(kr, &pk)) != XCHG_OK)
                xchg_diag_add(d, XCHG_SEV_ERROR, pos[i], 0, 0, "key id clashes with another key");
        }
        if (e == XCHG_OK)
            e = xchg_keyring_save(kr, out, force != NULL, d);
        rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, "key ring");
        if (e == XCHG_OK)
            printf("wrote %s with %zu %s\n", out, xchg_keyring_count(kr),
                   cli_plural(xchg_keyring_count(kr), "key", "keys"));
        xchg_keyring_free(kr);
        xchg_diag_free(d);
        return rc;
    }
    cli_error("unknown key command '%s'", argv[1]);
    fputs(key_usage, stderr);
    return EXIT_USAGE;
}
