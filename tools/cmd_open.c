/* xchg open: the recipient team opens a referral packet and reads the referral. */
#include "cli.h"
#include "commands.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: xchg open --agreement A.yaml --key RECIPIENT.key [--json] PACKET.xrp\n"
    "\n"
    "Verifies the matcher's signature and the agreement, decrypts the detail each agency\n"
    "released (only the recipient's key can), and prints the referral: the family, its\n"
    "members with their details, each agency's detail, what was withheld and why, and\n"
    "which problems qualify the family. --json prints the same as JSON.\n"
    "\n"
    "example: xchg open --agreement phase2.yaml --key keys/tf-team.key referral.xrp\n";

int cmd_open(int argc, char **argv)
{
    const char *agr = NULL, *key = NULL, *js = NULL, *pfd = NULL;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr}, {"--key", 'k', 1, &key},
                                   {"--json", 0, 0, &js}, {"--passphrase-fd", 0, 1, &pfd}, {0}};
    const char *pos[1];
    int npos, rc;
    if ((rc = cli_verb_args(argc, argv, opts, pos, 1, &npos, usage)) != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (!agr || !key || npos != 1) {
        cli_error("open needs --agreement, --key (the recipient's) and the packet file");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_seckey *k = NULL;
    xchg_referral *r = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    if ((rc = cli_load_seckey(key, pfd, &k)) != 0)
        goto cleanup;
    xchg_err e = xchg_referral_open(p, k, pos[0], &r, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, pos[0]);
        cli_error("%s is rejected", pos[0]);
        goto cleanup;
    }
    const xchg_policy_data *pd = xchg_agreement_get(p);
    if (js) {
        char *t = xchg_referral_to_json(r);
        if (t) {
            puts(t);
            xchg_wipe(t, strlen(t));
        }
        free(t);
    } else {
        FILE *o = stdout;
        fprintf(o, "REFERRAL %s — family %s\n", r->packet_id, r->family);
        fprintf(o, "Agreement: %s (%s)\nFor: ", pd->title, pd->id);
        xchg_term_safe(o, r->recipient);
        fprintf(o, "\nWhy this family: it meets the agreement's rule (at least %ld of its "
                   "problems), approved by %zu %s.\n",
                r->rule_at_least, r->napprovals, cli_plural(r->napprovals, "operator", "operators"));
        fprintf(o, "Evidence released to you (window ending %s):\n", r->window_ends);
        if (!r->nproblems)
            fprintf(o, "  (none of the evidence may be shared with you yet)\n");
        for (size_t i = 0; i < r->nproblems; i++) {
            const xchg_referral_problem *pr = &r->problems[i];
            fprintf(o, "  - ");
            xchg_term_safe(o, pr->title);
            fprintf(o, " (");
            for (size_t a = 0; a < pr->nagencies; a++) {
                size_t pi = xchg_policy_party(xchg_agreement_policy(p), pr->agencies[a]);
                fprintf(o, "%s", a ? ", " : "");
                xchg_term_safe(o, pi != XCHG_NONE ? pd->parties[pi].label : pr->agencies[a]);
            }
            fprintf(o, "; %s to %s)\n", pr->first, pr->last);
        }
        fprintf(o, "\nMembers:\n");
        for (size_t mi = 0; mi < r->nmembers; mi++) {
            const xchg_referral_member *m = &r->members[mi];
            fprintf(o, "  Person %s\n", m->person);
            for (size_t ri = 0; ri < m->nrecords; ri++) {
                const xchg_referral_record *rec = &m->records[ri];
                fprintf(o, "    ");
                xchg_term_safe(o, rec->agency_label);
                fprintf(o, ", record ");
                xchg_term_safe(o, rec->ref);
                if (rec->error) {
                    fprintf(o, ": ERROR: %s\n", rec->error);
                    continue;
                }
                fprintf(o, ": released (%s)\n", rec->basis);
                for (size_t f = 0; f < rec->nfields; f++) {
                    fprintf(o, "      %-22s ", rec->fields[f].name);
                    xchg_term_safe(o, rec->fields[f].value);
                    fputc('\n', o);
                }
            }
            for (size_t w = 0; w < m->nwithheld; w++) {
                fprintf(o, "    ");
                xchg_term_safe(o, m->withheld[w].agency_label);
                fprintf(o, ", record ");
                xchg_term_safe(o, m->withheld[w].ref);
                fprintf(o, ": WITHHELD — %s\n", m->withheld[w].reason);
            }
            if (m->notice)
                fprintf(o, "    %s\n", m->notice);
        }
        fprintf(o, "\nApprovals (each signature verified against the agreement's operator keys):\n");
        for (size_t i = 0; i < r->napprovals; i++) {
            fprintf(o, "  %s by ", r->approvals[i].time);
            xchg_term_safe(o, r->approvals[i].label);
            fprintf(o, " (key %s): ", r->approvals[i].operator_key);
            xchg_term_safe(o, r->approvals[i].reason);
            fputc('\n', o);
        }
        fprintf(o, "\nCreated %s by the matcher; signature and agreement verified.\n",
                r->created);
    }
    rc = r->errors ? EXIT_DENIED : EXIT_OK;
cleanup:
    xchg_referral_free(r);
    xchg_seckey_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}
