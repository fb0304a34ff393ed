/* xchg release approve | reject | renew | list | packet: accountable release of referrals;
 * xchg release-key deal: the operators' threshold release key (docs/release.md). */
#include "cli.h"
#include "cli_store.h"
#include "commands.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: xchg release approve --db DB DBKEY --agreement A --key OPERATOR.key\n"
    "                            [--share OPERATOR.share] --reason TEXT FAMILY\n"
    "       xchg release reject  --db DB DBKEY --agreement A --key OPERATOR.key --reason TEXT FAMILY\n"
    "       xchg release renew   --db DB DBKEY --agreement A --key OPERATOR.key\n"
    "                            --share OPERATOR.share\n"
    "       xchg release list    --db DB DBKEY --agreement A\n"
    "       xchg release packet  --db DB DBKEY --agreement A --key MATCHER.key --to RECIPIENT\n"
    "                            -o PACKET.xrp [--force] FAMILY\n"
    "\n"
    "approve, reject  an operator (a party with role operator) decides on a candidate family\n"
    "                 of the latest run; the decision is signed with the operator's key and\n"
    "                 recorded with its reason in the store and the audit log; under an\n"
    "                 agreement with a release key an approval needs the operator's share\n"
    "                 (--share, from xchg release-key deal) and carries its partial\n"
    "                 decryptions of exactly the family's releasable records\n"
    "renew            under a release key, each period's extracts are new record versions\n"
    "                 that earlier approvals' contributions do not open (state re-approve):\n"
    "                 the operator approves again every such family they approved before,\n"
    "                 over the same members; never a first decision\n"
    "list             candidate families with their approvals and releases\n"
    "packet           once the agreement's approvals_required different operators have\n"
    "                 approved, the matcher makes the referral packet for a recipient: each\n"
    "                 agency's detail included only where consent or a recorded legal basis\n"
    "                 allows it, the rest listed as withheld with the reason\n"
    "DBKEY is --db-key KEYFILE or --db-passphrase-fd N (see xchg match --help).\n"
    "\n"
    "example: xchg release approve --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-1.key --reason \"meets 3 of 6\" F-3KQ7WZ2M\n"
    "example: xchg release reject --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-2.key --reason \"already supported\" F-3KQ7WZ2M\n"
    "example: xchg release renew --db m/store.db --db-key m/store.key --agreement phase2.yaml --key keys/operator-1.key --share shares/operator-1.share\n"
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
           st->approvals, st->required, "", xchg_release_list_label(st), st->packets);
    xchg_term_safe(stdout, st->last_reason);
    putchar('\n');
    return 0;
}

static void renew_one(void *ctx, const char *family, xchg_err result)
{
    (void)ctx;
    printf("%s %s\n", result == XCHG_OK ? "renewed" : "FAILED ", family);
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
    /* --share FILE is release's own option: taken out before the options every matcher
       verb shares are parsed */
    const char *share_path = NULL;
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--share") == 0 && i + 1 < argc) {
            share_path = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--share=", 8) == 0) {
            share_path = argv[i] + 8;
            continue;
        }
        argv[n++] = argv[i];
    }
    if (n < argc && strcmp(argv[argc - 1], "--share") == 0) {
        cli_error("--share needs a file (the operator's share from xchg release-key deal)");
        return EXIT_USAGE;
    }
    argc = n;
    int rc = match_parse(argc - 1, argv + 1, &c);
    if (rc == -1)
        return EXIT_OK;
    if (rc)
        return rc;
    int approve = strcmp(verb, "approve") == 0, reject = strcmp(verb, "reject") == 0;
    int packet = strcmp(verb, "packet") == 0, list = strcmp(verb, "list") == 0;
    int renew = strcmp(verb, "renew") == 0;
    if (!approve && !reject && !packet && !list && !renew) {
        cli_error("unknown release command '%s'", verb);
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if ((rc = need(&c, !list, approve || reject, !list && !renew)) != 0)
        return rc;
    if (renew && c.npos) {
        cli_error("release renew takes no FAMILY: it renews every family this operator approved");
        return EXIT_USAGE;
    }
    if (packet && (!c.to || !c.out)) {
        cli_error("release packet needs --to RECIPIENT and -o PACKET.xrp");
        return EXIT_USAGE;
    }
    xchg_agreement *p = NULL;
    xchg_matcher *m = NULL;
    xchg_seckey *k = NULL;
    xchg_release_share *share = NULL;
    xchg_diag *d = xchg_diag_new();
    if ((rc = cli_load_agreement(c.agr, &p)) != 0 || (rc = match_open_matcher(&c, p, &m)) != 0)
        goto cleanup;
    if (!list && (rc = cli_load_seckey(c.key, c.pfd, &k)) != 0)
        goto cleanup;
    if (share_path && !approve && !renew) {
        cli_error("--share is only for release approve and renew");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (share_path) {
        xchg_err e = xchg_release_share_load(p, k, share_path, &share, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, share_path);
            goto cleanup;
        }
    }
    int64_t now = (int64_t)time(NULL);
    if (approve || reject) {
        xchg_err e = xchg_matcher_decide_share(m, k, share, c.pos[0], approve, c.reason, now, d);
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
    } else if (renew) {
        xchg_renew_stats rs;
        xchg_err e = xchg_matcher_renew(m, k, share, now, renew_one, NULL, &rs, d);
        if (e != XCHG_OK) {
            rc = cli_fail(e, d, "release renew");
            goto cleanup;
        }
        if (rs.failed)
            cli_print_diag(d);
        printf("renewed %zu %s; %zu skipped (not yours to renew, or renewed already); %zu failed\n",
               rs.renewed, cli_plural(rs.renewed, "approval", "approvals"), rs.skipped,
               rs.failed);
        rc = rs.failed ? EXIT_DENIED : EXIT_OK;
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
    xchg_release_share_free(share);
    xchg_seckey_free(k);
    xchg_matcher_close(m);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return rc;
}

/* ---- xchg release-key --------------------------------------------------------------- */

static const char key_usage[] =
    "usage: xchg release-key deal AGREEMENT --shares DIR [-o OUT] [--force]\n"
    "\n"
    "deal  the IG lead (as dealer) makes the agreement's release key: a secret split among\n"
    "      its operators so that approvals_required of them are needed to release any\n"
    "      record's detail. Writes DIR/<operator>.share (0600, each sealed to that\n"
    "      operator's key) and the agreement with its release_key section (public key and\n"
    "      verification shares) to OUT (default: AGREEMENT itself). The secret and the\n"
    "      shares are wiped at once; the agreement must then be signed again. Dealing again\n"
    "      (an operator joins or leaves) makes a new key: what was sealed before needs the\n"
    "      old shares (docs/release.md).\n"
    "\n"
    "example: xchg release-key deal phase2.yaml --shares shares/phase2\n";

int cmd_release_key(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(key_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1], *dir = NULL, *out = NULL, *force = NULL;
    const struct cli_opt opts[] = {
        {"--shares", 0, 1, &dir}, {"--out", 'o', 1, &out}, {"--force", 'f', 0, &force}, {0}};
    const char *pos[4];
    int npos = 0, rc = cli_verb_args(argc - 1, argv + 1, opts, pos, 4, &npos, key_usage);
    if (rc == -1)
        return EXIT_OK;
    if (rc)
        return rc;
    if (strcmp(verb, "deal") != 0) {
        cli_error("unknown release-key command '%s'", verb);
        fputs(key_usage, stderr);
        return EXIT_USAGE;
    }
    if (npos != 1 || !dir) {
        cli_error("release-key deal needs one AGREEMENT and --shares DIR");
        return EXIT_USAGE;
    }
    xchg_diag *d = xchg_diag_new();
    char *buf = NULL, *sec = NULL, *res = NULL;
    size_t len = 0, rlen = 0;
    xchg_policy *p = NULL, *chk = NULL;
    /* the agreement is not signed yet (it changes here): parsed and checked, not verified */
    xchg_err e = xchg_file_read(pos[0], 4u << 20, &buf, &len, d);
    if (e == XCHG_OK)
        e = xchg_policy_parse(buf, len, pos[0], &p, d);
    if (e == XCHG_OK)
        e = xchg_release_key_deal(p, dir, force != NULL, &sec, d);
    if (e == XCHG_OK)
        e = xchg_release_key_apply(buf, len, sec, &res, &rlen);
    /* never write an agreement that does not parse with its new key */
    if (e == XCHG_OK && (e = xchg_policy_parse(res, rlen, out ? out : pos[0], &chk, d)) != XCHG_OK)
        cli_error("not writing %s: the agreement with its release key is not valid",
                  out ? out : pos[0]);
    if (e == XCHG_OK)
        e = xchg_file_write_atomic(out ? out : pos[0], res, rlen, 0644,
                                   (!out || force) ? XCHG_WRITE_OVERWRITE : 0, d);
    rc = e == XCHG_OK ? EXIT_OK : cli_fail(e, d, pos[0]);
    if (e == XCHG_OK) {
        const xchg_release_key *rk = &xchg_policy_get(chk)->release_key;
        char deal[33];
        xchg_hex_encode(deal, rk->deal, sizeof rk->deal);
        printf("release key dealt (deal %s): any %u of %zu operators release a record\n", deal,
               rk->threshold, rk->nshares);
        for (size_t i = 0; i < rk->nshares; i++)
            printf("  %s/%s.share  for %s (index %u)\n", dir,
                   xchg_policy_get(chk)->parties[rk->shares[i].party].id,
                   xchg_policy_get(chk)->parties[rk->shares[i].party].id, rk->shares[i].index);
        printf("written to %s: sign the agreement again before use\n", out ? out : pos[0]);
    }
    free(buf);
    free(sec);
    free(res);
    xchg_policy_free(p);
    xchg_policy_free(chk);
    xchg_diag_free(d);
    return rc;
}
