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
    "Run 'xchg <command> --help' (or 'xchg <command> <sub-command> --help') for its usage\n"
    "with an example, 'man xchg-<command>' for its manual, 'xchg --version' for the\n"
    "version. Exit codes: docs/exit-codes.md.\n";

/*
 * Every verb group, in the order of the usage text above. A new verb group adds one row
 * here (and its line in usage), a man page docs/man/xchg-NAME.1.scd (listed in
 * docs/man/CMakeLists.txt), and an 'example: xchg NAME ...' line in its usage text; bash
 * completion and tests/cli/help.sh find it through 'xchg --commands'.
 */
static const struct cli_command commands[] = {
    {"keygen", cmd_keygen, NULL, 0},
    {"key", cmd_key, "show ring", 0},
    /* a new sub-verb (e.g. 'policy new') adds its word here, or the dispatcher refuses it */
    {"policy", cmd_policy, "new check bind-keys explain signatories sign verify", 0},
    {"secret", cmd_secret, "new open", 0},
    {"seal", cmd_seal, NULL, 0},
    {"submit", cmd_submit, NULL, 0},
    {"extract", cmd_extract, "verify inspect", 0},
    {"match", cmd_match, "init ingest run list show links purge review", 0},
    {"release", cmd_release, "approve reject renew list packet", 0},
    {"release-key", cmd_release_key, "deal", 0},
    {"outcomes", cmd_outcomes, NULL, 0},
    {"claims", cmd_claims, "verify", 1},
    {"report", cmd_report, NULL, 0},
    {"console", cmd_console, NULL, 0},
    {"open", cmd_open, NULL, 0},
    {"fetch-packets", cmd_fetch_packets, NULL, 0},
    {"audit", cmd_audit, "verify export show init record checkpoint", 0},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int has_word(const char *words, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = words; p && *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncmp(p, w, n) == 0)
            return 1;
        p += k;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static void list_commands(void)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        printf("%s\n", commands[i].name);
        for (const char *p = commands[i].subverbs; p && *p;) {
            size_t k = strcspn(p, " ");
            printf("%s %.*s\n", commands[i].name, (int)k, p);
            p += k;
            while (*p == ' ')
                p++;
        }
    }
}

/* The group's sub-verb is known (or absent where options alone are a command): run it. */
static int dispatch(const struct cli_command *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!c->subverbs || !sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
        return c->run(argc, argv);
    if (has_word(c->subverbs, sub))
        return c->run(argc, argv);
    if (sub[0] == '-' && c->subverb_optional)
        return c->run(argc, argv);
    if (sub[0] == '-')
        cli_error("'xchg %s' needs a command before its options (one of: %s)", c->name,
                  c->subverbs);
    else
        cli_error("unknown %s command '%s'", c->name, sub);
    const char *near = sub[0] == '-' ? NULL : cli_nearest_word(sub, c->subverbs);
    if (near)
        cli_hint("did you mean 'xchg %s %s'?", c->name, near);
    else if (sub[0] != '-')
        cli_hint("the %s commands are: %s", c->name, c->subverbs);
    cli_hint("run 'xchg %s --help' for their usage", c->name);
    return EXIT_USAGE;
}

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
    if (strcmp(v, "help") == 0 && argc >= 3 && argc <= 4 && argv[2][0] != '-') {
        /* 'xchg help COMMAND [SUB]' is 'xchg COMMAND [SUB] --help' */
        char *hargv[4] = {argv[2], argc == 4 ? argv[3] : "--help", argc == 4 ? "--help" : NULL,
                          NULL};
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[2], commands[i].name) == 0)
                return dispatch(&commands[i], argc - 1, hargv);
        v = argv[2]; /* an unknown command: said below, with the nearest */
    } else if (strcmp(v, "--help") == 0 || strcmp(v, "-h") == 0 || strcmp(v, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(v, "--version") == 0 || strcmp(v, "-V") == 0) {
        printf("xchg %s (library %s)\n", XCHG_VERSION, xchg_version());
        return EXIT_OK;
    }
    if (strcmp(v, "--commands") == 0) { /* for completion and tests: one command a line */
        list_commands();
        return EXIT_OK;
    }
    char names[512] = "";
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(v, commands[i].name) == 0)
            return dispatch(&commands[i], argc - 1, argv + 1);
        strncat(names, commands[i].name, sizeof names - strlen(names) - 2);
        strncat(names, " ", sizeof names - strlen(names) - 1);
    }
    if (v[0] == '-') {
        cli_error("unknown option '%s'", v);
        if (cli_edit_distance(v, "--version") <= 2)
            cli_hint("did you mean '--version'?");
    } else {
        cli_error("unknown command '%s'", v);
        const char *near = cli_nearest_word(v, names);
        if (near)
            cli_hint("did you mean 'xchg %s'?", near);
    }
    cli_hint("run 'xchg --help' for the list of commands");
    return EXIT_USAGE;
}
