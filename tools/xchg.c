/* xchg — the exchange command-line tool: dispatch to verb groups. */
#include "cli.h"
#include "commands.h"

#include <string.h>

static const char usage[] =
    "usage: xchg <command> [options]\n"
    "\n"
    "Keys\n"
    "  keygen        make a party's signing and box keys\n"
    "  key show      show a key file's id, label and public key\n"
    "  key ring      build a keyring from public key files\n"
    "Agreements\n"
    "  policy check    validate an agreement, reporting every problem\n"
    "  policy explain  plain-English summary for a DPIA\n"
    "  policy sign     add your signature to an agreement\n"
    "  policy verify   check every required signature and the validity dates\n"
    "Linkage secret\n"
    "  secret new    create the linkage secret for an epoch, sealed to each agency\n"
    "  secret open   check that your key opens a linkage secret file\n"
    "Agency\n"
    "  seal          turn a CSV extract into a sealed extract for the matcher\n"
    "  submit        send sealed extracts to the matcher daemon over HTTPS\n"
    "Matcher\n"
    "  extract verify   check sealed extracts completely (matcher's key)\n"
    "  extract inspect  show a sealed extract's header and counts, not its payloads\n"
    "  match init       create the matcher's encrypted store for an agreement\n"
    "  match ingest     verify sealed extracts and store them (one transaction each)\n"
    "  match run        link persons and households, apply the rule, store the run\n"
    "  match list       candidate families (pseudonymous), text, --json or --csv\n"
    "  match show       one family: members, problems, agencies, review pairs\n"
    "  match links      every record's person and family pseudonyms (--csv)\n"
    "  match purge      delete what is past the agreement's retention period\n"
    "  match review     an operator decides a clerical-review pair (signed, kept, applied)\n"
    "  release approve|reject   an operator's signed decision on a candidate family\n"
    "  release list     candidate families, approvals and packets\n"
    "  release packet   the consent-aware referral packet for an approved family\n"
    "  release-key deal the operators' threshold release key, one share per operator\n"
    "  outcomes         each identified family's outcomes: met, not met, too early, since\n"
    "  claims           payment-by-results claims, with signed evidence packs (-o DIR)\n"
    "  report           programme tables with disclosure control (text, CSV, JSON, HTML)\n"
    "  console          the operator's web console: queue, signed decisions, review\n"
    "Recipient\n"
    "  open          open a referral packet addressed to your team\n"
    "  fetch-packets download your team's new packets from the matcher daemon\n"
    "Audit\n"
    "  audit verify   check the matcher's audit log: hash chain and signed checkpoints\n"
    "  audit export   copy the audit log (the copy verifies on its own)\n"
    "  audit show     list audit entries as a table\n"
    "  claims verify  check an evidence pack offline: signature, criteria, outcomes\n"
    "  audit init | record | checkpoint   (matcher) start, append to, sign the log\n"
    "\n"
    "Run 'xchg <command> --help' for a command's options. Exit codes: docs/exit-codes.md.\n";

int main(int argc, char **argv)
{
    int hr = cli_harden(); /* before any secret is read: no core dumps, SIGXFSZ ignored */
    if (hr)
        return hr;
    if (xchg_init() != XCHG_OK) {
        cli_error("cannot initialise the crypto library");
        return EXIT_INTERNAL;
    }
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *v = argv[1];
    if (strcmp(v, "--help") == 0 || strcmp(v, "-h") == 0 || strcmp(v, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(v, "--version") == 0) {
        printf("xchg %s (library %s)\n", XCHG_VERSION, xchg_version());
        return EXIT_OK;
    }
    if (strcmp(v, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(v, "key") == 0)
        return cmd_key(argc - 1, argv + 1);
    if (strcmp(v, "policy") == 0)
        return cmd_policy(argc - 1, argv + 1);
    if (strcmp(v, "secret") == 0)
        return cmd_secret(argc - 1, argv + 1);
    if (strcmp(v, "seal") == 0)
        return cmd_seal(argc - 1, argv + 1);
    if (strcmp(v, "extract") == 0)
        return cmd_extract(argc - 1, argv + 1);
    if (strcmp(v, "match") == 0)
        return cmd_match(argc - 1, argv + 1);
    if (strcmp(v, "open") == 0)
        return cmd_open(argc - 1, argv + 1);
    if (strcmp(v, "release") == 0)
        return cmd_release(argc - 1, argv + 1);
    if (strcmp(v, "release-key") == 0)
        return cmd_release_key(argc - 1, argv + 1);
    if (strcmp(v, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(v, "submit") == 0)
        return cmd_submit(argc - 1, argv + 1);
    if (strcmp(v, "fetch-packets") == 0)
        return cmd_fetch_packets(argc - 1, argv + 1);
    if (strcmp(v, "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    if (strcmp(v, "outcomes") == 0)
        return cmd_outcomes(argc - 1, argv + 1);
    if (strcmp(v, "claims") == 0)
        return cmd_claims(argc - 1, argv + 1);
    if (strcmp(v, "console") == 0)
        return cmd_console(argc - 1, argv + 1);
    if (v[0] == '-')
        cli_error("unknown option '%s'", v);
    else
        cli_error("unknown command '%s'", v);
    cli_hint("run 'xchg --help' for the list of commands");
    return EXIT_USAGE;
}
