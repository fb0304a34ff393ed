/* xchg report: the programme report (tables with disclosure control) from the store. */
#include "cli.h"
#include "cli_store.h"
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: xchg report --db DB DBKEY --agreement A [--run N] [--csv | --json | --html]\n"
    "                   [-o FILE [--force]]\n"
    "\n"
    "The programme report of a linkage run (default: the latest): families identified by\n"
    "area, by problem and combination of problems, by the agencies working with them (by\n"
    "area), and their members by age band. Every count is protected by the agreement's\n"
    "'reports:' rules: counts below suppress_below are suppressed, with further counts\n"
    "suppressed so that none can be recovered from the totals, and the rest rounded to\n"
    "round_to. '[c]' marks a suppressed count (null with \"suppressed\": true in JSON).\n"
    "\n"
    "  --run N       the run to report (xchg match list shows runs)\n"
    "  --csv         one row per count: table,row,column,value,flag (flag c: suppressed)\n"
    "  --json        the report as JSON (docs/reports.md)\n"
    "  --html        one self-contained page: tables, bar charts and a heat map (no script)\n"
    "  -o, --out F   write to F (atomically) instead of standard output\n"
    "  -f, --force   replace F if it exists\n"
    "Every report produced is recorded in the audit log with its SHA-256.\n"
    "DBKEY is --db-key KEYFILE or --db-passphrase-fd N (see xchg match --help).\n"
    "\n"
    "example: xchg report --db m/store.db --db-key m/store.key --agreement phase2.yaml --html -o report.html\n";

int cmd_report(int argc, char **argv)
{
    const char *csv = NULL, *json = NULL, *html = NULL;
    struct common c;
    memset(&c, 0, sizeof c);
    const struct cli_opt opts[] = {
        {"--db", 'd', 1, &c.db},
        {"--db-key", 0, 1, &c.dbkey},
        {"--db-passphrase-fd", 0, 1, &c.dbpfd},
        {"--agreement", 'a', 1, &c.agr},
        {"--accept-new-version", 0, 0, &c.accept},
        {"--run", 0, 1, &c.run},
        {"--csv", 0, 0, &csv},
        {"--json", 0, 0, &json},
        {"--html", 0, 0, &html},
        {"--out", 'o', 1, &c.out},
        {"--force", 'f', 0, &c.force},
        {0},
    };
    int help, rc;
    if ((rc = cli_parse(argc, argv, opts, c.pos, 256, &c.npos, &help)) != 0)
        return rc;
    if (help) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (c.npos) { /* first: a stray word is not reported as a missing option */
        cli_error("report has no sub-commands and takes no arguments (got '%s')", c.pos[0]);
        cli_hint("run 'xchg report --help' for the options");
        return EXIT_USAGE;
    }
    if (!c.db || !c.agr || (!!csv + !!json + !!html) > 1) {
        cli_error("%s", !c.db    ? "report needs --db DB"
                        : !c.agr ? "report needs --agreement A"
                                 : "give at most one of --csv, --json, --html");
        cli_hint("run 'xchg report --help' for the options");
        return EXIT_USAGE;
    }
    int64_t run;
    int rr = match_parse_run(&c, &run);
    if (rr)
        return rr;
    xchg_report_format fmt = csv    ? XCHG_REPORT_CSV
                             : json ? XCHG_REPORT_JSON
                             : html ? XCHG_REPORT_HTML
                                    : XCHG_REPORT_TEXT;
    if (c.out && !c.force && access(c.out, F_OK) == 0) {
        /* before the report is made: a report is recorded only when it is produced */
        cli_error("%s exists; refusing to replace it", c.out);
        cli_hint("give --force to replace it");
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_diag *d = xchg_diag_new();
    char *buf = NULL;
    size_t len = 0;
    if ((rc = cli_load_agreement(c.agr, &p)) != 0 || (rc = match_open_matcher(&c, p, &m)) != 0)
        goto cleanup;
    xchg_report_stats st;
    xchg_err e = xchg_matcher_report(m, run, fmt, (int64_t)time(NULL), &buf, &len, &st, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, "report");
        if (e == XCHG_ERR_NOT_FOUND)
            cli_hint("run 'xchg match run' first, or give a --run the store holds");
        goto cleanup;
    }
    if (c.out) {
        e = xchg_file_write_atomic(c.out, buf, len, 0640, c.force ? XCHG_WRITE_OVERWRITE : 0, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, c.out);
            if (e == XCHG_ERR_EXISTS)
                cli_hint("give --force to replace it");
            goto cleanup;
        }
        cli_info("report of run %lld written to %s (%zu %s, %zu of %zu counts suppressed; "
                 "sha256 %s, recorded in the audit log)",
                 (long long)st.run, c.out, st.tables, cli_plural(st.tables, "table", "tables"),
                 st.suppressed, st.cells, st.sha256);
    } else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
        cli_error("cannot write the report to standard output");
        rc = EXIT_IO;
        goto cleanup;
    }
    rc = EXIT_OK;
cleanup:
    free(buf);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
