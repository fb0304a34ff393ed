/* xchg release approve | reject | list | packet: accountable release of referrals. */
#include "cli.h"
#include "cli_store.h"
#include "commands.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg release approve --db DB DBKEY --agreement A --key OPERATOR.key --reason TEXT FAMILY\n"
    "       xchg release reject  --db DB DBKEY --agreement A --key OPERATOR.key --reason TEXT FAMILY\n"
    "       xchg release list    --db DB DBKEY --agreement A\n"
    "       xchg release packet  --db DB DBKEY --agreement A --key MATCHER.key --to RECIPIENT\n"
    "                            -o PACKET.xrp [--force] FAMILY\n"
    "\n"
    "approve, reject  an operator (a party with role operator) decides on a candidate family\n"
    "                 of the latest run; the decision is signed with the operator's key and\n"
    "                 recorded with its reason in the store and the audit log\n"
    "list             candidate families with their approvals and releases\n"
    "packet           once the agreement's approvals_required different operators have\n"
    "                 approved, the matcher makes the referral packet for a recipient: each\n"
    "                 agency's detail included only where consent or a recorded legal basis\n"
    "                 allows it, the rest listed as withheld with the reason\n"
    "DBKEY is --db-key KEYFILE or --db-passphrase-fd N (see xchg match --help).\n"
    "\n"
    "example: xchg release approve --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-1.key --reason \"meets 3 of 6\" F-3KQ7WZ2M\n"
    "example: xchg release reject --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-2.key --reason \"already supported\" F-3KQ7WZ2M\n"
    "example: xchg release list --db m/store.db --db-key m/store.key --agreement phase2.yaml\n"
    "example: xchg release packet --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/matcher.key --to tf-team -o referral.xrp F-3KQ7WZ2M\n";

static int need(const struct common *c, int key, int reason, int family)
{
    if (!c->agr || (key && !c->key) || (reason && !c->reason) || (family && c->npos != 1)) {
        cli_error("%s%s%s%s", !c->agr ? "--agreement A is needed; " : "",
                  key && !c->key ? "--key is needed; " : "",
                  reason && !c->reason ? "--reason TEXT is needed; " : "",
                  family && c->npos != 1 ? "give exactly one FAMILY pseudonym" : "");
        return EXIT_USAGE;
    }
    return 0;
}

static int list_row(void *ctx, const xchg_release_state *st)
{
    (void)ctx;
    printf("%-18s %-8s %u/%u%-4s %-9s %u  ", st->family, st->eligible ? "yes" : "no",
           st->approvals, st->required, "",
           st->forged       ? "FORGED"
           : st->rejected   ? "REJECTED"
           : st->carried    ? "carried"   /* approvals from an earlier run, same members */
           : st->change == 0 ? "new"       /* since the last run: needs a decision */
           : st->change == 1 ? "changed"
           : st->change == 2 ? "unchanged"
                            : "",
           st->packets);
    xchg_term_safe(stdout, st->last_reason);
    putchar('\n');
    return 0;
}

int cmd_release(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    struct common c;
    memset(&c, 0, sizeof c);
    c.usage = usage;
    c.group = "release";
    int rc = match_parse(argc - 1, argv + 1, &c);
    if (rc == -1)
        return EXIT_OK;
    if (rc)
        return rc;
    int approve = strcmp(verb, "approve") == 0, reject = strcmp(verb, "reject") == 0;
    int packet = strcmp(verb, "packet") == 0, list = strcmp(verb, "list") == 0;
    if (!approve && !reject && !packet && !list) {
        cli_error("unknown release command '%s'", verb);
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if ((rc = need(&c, !list, approve || reject, !list)) != 0)
        return rc;
    if (packet && (!c.to || !c.out)) {
        cli_error("release packet needs --to RECIPIENT and -o PACKET.xrp");
        return EXIT_USAGE;
    }
    xchg_policy *p = NULL;
    xchg_matcher *m = NULL;
    xchg_seckey *k = NULL;
    xchg_diag *d = xchg_diag_new();
    if ((rc = cli_load_agreement(c.agr, &p)) != 0 || (rc = match_open_matcher(&c, p, &m)) != 0)
        goto cleanup;
    if (!list && (rc = cli_load_seckey(c.key, c.pfd, &k)) != 0)
        goto cleanup;
    int64_t now = (int64_t)time(NULL);
    if (approve || reject) {
        xchg_err e = xchg_matcher_decide(m, k, c.pos[0], approve, c.reason, now, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, "release");
            goto cleanup;
        }
        xchg_release_state st;
        if (xchg_matcher_release_state(m, c.pos[0], &st, d) == XCHG_OK)
            printf("%s family %s: %u of %u approvals%s\n", approve ? "approved" : "rejected",
                   c.pos[0], st.approvals, st.required,
                   st.rejected                         ? " (rejected: no packet can be made)"
                   : st.approvals >= st.required       ? "; a packet can be made"
                                                       : "; another operator must approve");
        rc = EXIT_OK;
    } else if (list) {
        printf("%-18s %-8s %-8s %-9s %s  %s\n", "FAMILY", "ELIGIBLE", "APPROVED", "STATE",
               "PACKETS", "LAST REASON");
        xchg_err e = xchg_matcher_release_list(m, list_row, NULL, d);
        rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, "release list");
    } else {
        xchg_release_stats st;
        xchg_err e = xchg_matcher_release(m, k, c.pos[0], c.to, c.out, c.force != NULL, now, &st,
                                          d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, "release packet");
            goto cleanup;
        }
        printf("packet %s for '%s' written to %s\n  family %s (as the recipient sees it: %s)\n"
               "  %u %s, %u %s: %u released, %u withheld\n",
               st.packet_id, c.to, c.out, c.pos[0], st.family, st.members,
               cli_plural(st.members, "member", "members"), st.records,
               cli_plural(st.records, "record", "records"), st.released, st.withheld);
        rc = EXIT_OK;
    }
cleanup:
    xchg_seckey_free(k);
    xchg_matcher_close(m);
    xchg_policy_free(p);
    xchg_diag_free(d);
    return rc;
}
