/* xchg extract inspect | verify: what the matcher can check about a sealed extract. */
#include "cli.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg extract verify  --agreement A.yaml --key MATCHER.key [--epoch N] FILE...\n"
    "       xchg extract inspect --agreement A.yaml --key MATCHER.key [--epoch N] FILE\n"
    "\n"
    "verify   check each sealed extract completely: sealed to this matcher, for this\n"
    "         agreement in force, signed by the agency the agreement names, every record\n"
    "         well formed and within what the agreement lets that agency assert\n"
    "inspect  verify, then show the header and counts (tokens per key, indicators per\n"
    "         problem, consent); payloads stay encrypted — the matcher cannot open them\n"
    "  --epoch N   also require linkage-secret epoch N\n"
    "\n"
    "example: xchg extract verify --agreement phase2.yaml --key keys/matcher.key --epoch 1 sealed/*.xex\n"
    "example: xchg extract inspect --agreement phase2.yaml --key keys/matcher.key sealed/police.xex\n";

static const char *consent_name(unsigned c)
{
    static const char *const n[] = {"given", "refused", "not sought", "withdrawn"};
    return c < 4 ? n[c] : "?";
}

static int one(const xchg_agreement *p, const xchg_seckey *k, const char *path, uint32_t epoch,
               int inspect)
{
    const xchg_policy_data *pd = xchg_agreement_get(p);
    xchg_diag *d = xchg_diag_new();
    xchg_extract_file *f = NULL;
    size_t nk = pd->nmatch_keys, np = pd->nproblems;
    uint64_t *keys = calloc(nk + 1, sizeof *keys), *probs = calloc(np + 1, sizeof *probs);
    uint64_t meas[XCHG_MAX_MEASURES] = {0};
    uint64_t consent[4] = {0}, blocks = 0, house = 0, clks = 0, payload = 0, basis = 0;
    int rc;
    xchg_err e = xchg_extract_open(p, k, path, epoch, &f, d);
    if (e == XCHG_OK) {
        for (;;) {
            xchg_record r;
            int end = 0;
            if ((e = xchg_extract_next(f, &r, &end, d)) != XCHG_OK || end)
                break;
            for (size_t i = 0; i < r.nmatch; i++)
                keys[r.match[i].index]++;
            for (size_t i = 0; i < r.nind; i++)
                if (r.ind[i].is_measure)
                    meas[r.ind[i].measure]++;
                else
                    probs[r.ind[i].problem]++;
            consent[r.consent]++;
            blocks += r.nblock;
            house += r.nhouse;
            clks += r.clk_len > 0;
            payload += r.payload_len;
            basis += r.basis_len > 0;
        }
    }
    uint64_t count = 0;
    if (e == XCHG_OK)
        e = xchg_extract_finish(f, &count, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, path);
        if (rc == EXIT_DENIED) /* failed verification; an I/O error says only that */
            cli_error("%s is rejected", path);
        goto cleanup;
    }
    const xchg_extract_info *in = xchg_extract_file_info(f);
    char from[11], to[11], id[33];
    xchg_date_format(in->period_start, from);
    xchg_date_format(in->period_end, to);
    xchg_hex_encode(id, in->extract_id, 16);
    printf("%s: ok: sealed extract from '%s', %llu %s, epoch %u, period %s..%s, extract id "
           "%s, %s\n",
           path, pd->parties[in->agency].id, (unsigned long long)count,
           cli_plural(count, "record", "records"), in->epoch, from, to, id,
           in->incremental ? "incremental" : "full snapshot");
    if (inspect) {
        /* header text comes from the agency's file: never raw to the terminal */
        fputs("  agreement        ", stdout);
        xchg_term_safe(stdout, in->agreement_id);
        printf(" (sha256 matches the agreement in force)\n");
        printf("  kind             %s\n",
               in->incremental ? "incremental (adds to the agency's earlier extracts)"
                               : "full snapshot (replaces the agency's earlier extracts)");
        printf("  signed by        %s (", pd->parties[in->agency].id);
        xchg_term_safe(stdout, pd->parties[in->agency].label);
        printf(")\n  secret           epoch %u, fingerprint ", in->epoch);
        xchg_term_safe(stdout, in->secret_fingerprint);
        fputc('\n', stdout);
        char when[32] = "?";
        time_t t = (time_t)in->created;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        printf("  created          %s\n", when);
        printf("  match tokens per key:\n");
        for (size_t i = 0; i < nk; i++)
            printf("    %-16s %llu\n", pd->match_keys[i].name, (unsigned long long)keys[i]);
        printf("  blocking tokens  %llu\n  household tokens %llu\n", (unsigned long long)blocks,
               (unsigned long long)house);
        printf("  Bloom filters    %llu of %llu records (%zu bytes each)\n",
               (unsigned long long)clks, (unsigned long long)count, in->clk_bytes);
        int any = 0;
        for (size_t i = 0; i < np; i++)
            any |= probs[i] != 0;
        if (any || !pd->nmeasures)
            printf("  indicator events per problem:\n");
        for (size_t i = 0; i < np; i++)
            if (probs[i])
                printf("    %-20s %llu\n", pd->problems[i].code, (unsigned long long)probs[i]);
        if (pd->nmeasures)
            printf("  measure events:\n");
        for (size_t i = 0; i < pd->nmeasures; i++)
            if (meas[i])
                printf("    %-20s %llu\n", pd->measures[i].name, (unsigned long long)meas[i]);
        printf("  consent:");
        for (unsigned c = 0; c < 4; c++)
            printf(" %s %llu%s", consent_name(c), (unsigned long long)consent[c], c < 3 ? "," : "\n");
        printf("  records with a recorded legal basis for sharing without consent: %llu\n",
               (unsigned long long)basis);
        printf("  encrypted payloads %llu bytes (readable only by: ", (unsigned long long)payload);
        for (size_t i = 0; i < pd->nrecipients; i++)
            printf("%s%s", i ? ", " : "", pd->parties[pd->recipients[i]].id);
        printf(")\n");
    }
    rc = EXIT_OK;
cleanup:
    xchg_extract_close(f);
    free(keys);
    free(probs);
    xchg_diag_free(d);
    return rc;
}

int cmd_extract_run(const char *verb, int argc, char **argv)
{
    const char *agr = NULL, *key = NULL, *epoch = NULL, *pfd = NULL, *ins = NULL;
    const struct cli_opt opts[] = {
        {"--agreement", 'a', 1, &agr}, {"--key", 'k', 1, &key}, {"--epoch", 'e', 1, &epoch},
        {"--passphrase-fd", 0, 1, &pfd}, {"--inspect", 0, 0, &ins}, {0},
    };
    const char *pos[256];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 256, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    int inspect = strcmp(verb, "inspect") == 0;
    if (!agr || !key || npos == 0 || (inspect && npos != 1)) {
        cli_error("extract %s needs --agreement, --key (the matcher's) and %s", verb,
                  inspect ? "one FILE" : "at least one FILE");
        return EXIT_USAGE;
    }
    unsigned long ep = 0;
    if (epoch) {
        char *end = NULL;
        ep = strtoul(epoch, &end, 10);
        if (!end || *end || ep == 0 || ep > 0xffffffffUL) {
            cli_error("--epoch must be a whole number from 1");
            return EXIT_USAGE;
        }
    }
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    if ((rc = cli_load_seckey(key, pfd, &k)) != 0)
        goto cleanup;
    rc = EXIT_OK;
    for (int i = 0; i < npos; i++) {
        int r = one(p, k, pos[i], (uint32_t)ep, inspect);
        if (r && !rc)
            rc = r;
    }
cleanup:
    xchg_seckey_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

int cmd_extract(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "inspect") != 0) {
        cli_error("unknown extract command '%s'", argv[1]);
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    return cmd_extract_run(argv[1], argc - 1, argv + 1);
}
