/*
 * Release end to end on hand-made extracts with exact expectations: the candidate family,
 * the two-person rule, the consent filter (released / withheld), what the recipient reads
 * and does not read, a consent withdrawal in a later extract with another period stopping
 * the next release, rejection, packets refused for another recipient, altered, replayed
 * under another agreement or signed by a key that is not the matcher's, and retention
 * purging the data and the run summaries for good.
 *
 * And a dishonest matcher: decision rows forged in the store, a packet assembled without
 * approvals, an approval moved to another family, an operator's invalid reason, release
 * attempted with an operator's key, a decision whose commit was lost (rolled forward from
 * the audit log).
 */
#define RELEASE_FIXTURE_DIR "release"
#include "release_fixture.h"

#include <sys/stat.h>

struct candidates {
    char fam[8][24];
    int n;
};

static int collect(void *ctx, const xchg_release_state *st)
{
    struct candidates *c = ctx;
    if (st->eligible && c->n < 8)
        snprintf(c->fam[c->n++], 24, "%s", st->family);
    return 0;
}

static void decide(xchg_matcher *s, int op, const char *fam, int approve, xchg_err want)
{
    xchg_seckey *k = seed_key(op);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_decide(s, k, fam, approve, approve ? "meets the rule" : "not now",
                                         1767225600, d),
                     want);
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* open the packet as the team: the referral's JSON with each released record's detail */
static json_t *open_packet(const char *path, xchg_agreement *p, int as)
{
    xchg_seckey *k = seed_key(as);
    xchg_referral *r = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_referral_open(p, k, path, &r, d);
    if (e != XCHG_OK)
        fail_msg("referral_open: %s: %s", xchg_strerror(e),
                 xchg_diag_count(d) ? xchg_diag_text(d, 0) : "");
    char *t = xchg_referral_to_json(r);
    json_t *j = json_loads(t, 0, NULL);
    assert_non_null(j);
    assert_int_equal(r->errors, 0);
    free(t);
    xchg_referral_free(r);
    xchg_diag_free(d);
    xchg_seckey_free(k);
    return j;
}

/* the released record with this reference, or NULL when the packet does not hold it */
static json_t *record(json_t *packet, const char *ref)
{
    size_t mi, ri;
    json_t *m, *r;
    json_array_foreach(json_object_get(packet, "members"), mi, m)
        json_array_foreach(json_object_get(m, "records"), ri, r)
            if (strcmp(json_string_value(json_object_get(r, "ref")), ref) == 0)
                return r;
    return NULL;
}

/* the whole decrypted packet as text holds none of these */
static void packet_lacks(json_t *packet, const char *const *needles)
{
    char *t = json_dumps(packet, JSON_COMPACT);
    for (size_t i = 0; needles[i]; i++)
        if (strstr(t, needles[i]))
            fail_msg("the packet reveals '%s': %s", needles[i], t);
    free(t);
}

static size_t members_with_notice(json_t *packet)
{
    size_t mi, n = 0;
    json_t *m;
    json_array_foreach(json_object_get(packet, "members"), mi, m) n +=
        json_object_get(m, "notice") != NULL;
    return n;
}

static const char *first_candidate(xchg_matcher *s)
{
    static struct candidates c;
    memset(&c, 0, sizeof c);
    assert_int_equal(xchg_matcher_release_list(s, collect, &c, NULL), XCHG_OK);
    assert_int_equal(c.n, 1);
    return c.fam[0];
}

static void test_release_end_to_end(void **state)
{
    (void)state;
    seal(police_csv("given"), "police.csv", 2, psec, 1767225600);
    seal(school_csv, "school.csv", 3, ssec, 1767225600);
    xchg_matcher *s = store_open_or_create(1);
    ingest(s, "police.xex", NULL);
    ingest(s, "school.xex", NULL);
    run(s);

    /* exactly one candidate: the Lee family (crime + school); the Ng household has one */
    char fam[24];
    snprintf(fam, sizeof fam, "%s", first_candidate(s));

    /* two-person rule: one operator (twice) is not enough; the matcher is no operator */
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 4, fam, 1, XCHG_ERR_DENIED);
    xchg_seckey *m = seed_key(4);
    xchg_release_stats st;
    xchg_diag *d = xchg_diag_new();
    const char *pk = path_in("p.xrp");
    unlink(pk);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "has 1 of the 2 approvals the agreement requires");
    assert_int_equal(access(pk, F_OK), -1);
    decide(s, 9, fam, 1, XCHG_OK);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, &st, NULL), XCHG_OK);
    assert_int_equal(st.members, 3);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.released, 2);
    assert_int_equal(st.withheld, 2);
    assert_string_not_equal(st.family, fam); /* recipient-specific pseudonym */
    char partial[700];
    snprintf(partial, sizeof partial, "%s.partial", pk);
    assert_int_equal(access(partial, F_OK), -1);

    /* what the team reads: the released records, and nothing of the withheld ones — not
       their agency, reference, problem or dates; a notice where the agreement asks */
    json_t *j = open_packet(pk, pol, 5);
    assert_string_equal(json_string_value(json_object_get(j, "family")), st.family);
    assert_string_equal(json_string_value(json_object_get(record(j, "P1"), "basis_for_release")),
                        "the person agreed to the referral");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(record(j, "P1"), "detail"), "forename")), "Dan");
    assert_string_equal(json_string_value(json_object_get(record(j, "P2"), "basis_for_release")),
                        "recorded legal basis: safeguarding");
    assert_null(record(j, "P3"));
    assert_null(record(j, "S1"));
    static const char *const hidden[] = {"\"P3\"", "\"S1\"", "school", "Poor attendance",
                                         "Kate", "Amy", "2026-03-31", "2026-06-03",
                                         "consent refused", "not yet sought", NULL};
    packet_lacks(j, hidden);
    assert_int_equal(members_with_notice(j), 2); /* Kate and Amy: held, not shared */
    assert_int_equal(json_array_size(json_object_get(j, "approvals")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "problems")), 1); /* crime only */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "problems"), 0), "code")),
                        "crime_asb");
    json_decref(j);

    /* packets refused: for another party, altered, under another agreement, wrong signer */
    char *body = NULL;
    xchg_seckey *police = seed_key(2);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(pol, police, pk, &body, d), XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "this packet is for party 'team'");
    size_t n;
    char *raw = slurp(pk, &n);
    const char *bad = path_in("bad.xrp");
    for (size_t i = 0; i < n; i += 97) {
        raw[i] ^= 0x20;
        spit(bad, raw, n);
        raw[i] ^= 0x20;
        xchg_seckey *team = seed_key(5);
        xchg_referral *r = NULL;
        assert_int_not_equal(xchg_referral_open(pol, team, bad, &r, NULL), XCHG_OK);
        xchg_seckey_free(team);
    }
    free(raw);
    xchg_agreement *other = agreement_variant("id: test-agreement", "id: other-agreement");
    xchg_seckey *team = seed_key(5);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(other, team, pk, &body, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "packet was made under agreement 'test-agreement', not 'other-agreement'");
    xchg_agreement_free(other);
    /* an agreement whose matcher holds another key: the packet's signer is unknown to it */
    xchg_seckey *k7 = seed_key(7);
    char pks[XCHG_PUBKEY_STRLEN], repl[200];
    xchg_pubkey_to_string(xchg_seckey_public(k7), pks);
    snprintf(repl, sizeof repl, "key: %s", pks);
    xchg_agreement *forged =
        agreement_variant("key: "
                          "xk1:WEvnnmUcs29RC8qTrBcFGHBx1nuDx/8O/"
                          "oEI6OxFMFdddyaHkzPb2r5835wprXJLqDDB/3UFx0dwpUVd/XPYfVqwR1I9B4EZ3AQ=",
                          repl);
    xchg_diag_clear(d);
    assert_int_equal(xchg_packet_open(forged, team, pk, &body, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "which is not the matcher of agreement");
    xchg_agreement_free(forged);
    xchg_seckey_free(k7);
    xchg_seckey_free(team);
    xchg_seckey_free(police);

    /* Dad withdraws consent: the police send a newer extract whose period is a day later;
       the latest word about the record governs, whatever the periods */
    seal_period(police_csv("withdrawn"), "police2.csv", 2, psec, 1767225600 + 86400,
                "2025-08-02", "2026-08-01", 0);
    ingest(s, "police2.xex", "supersedes");
    run(s);
    assert_string_equal(first_candidate(s), fam); /* the same family pseudonym across runs */
    /* the family's members are the same: the previous run's approvals carry over (only
       new or changed families need a decision), and the packet carries them */
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 2);
    assert_int_equal(rs.carried, 2);
    assert_int_equal(rs.change, 2);
    /* approvals of another member set do not carry, and are history, not forgeries */
    sqlite3 *db = xchg__store_db(xchg_matcher_store(s));
    assert_int_equal(sqlite3_exec(db, "UPDATE decisions SET members = 'x' || members WHERE run = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);
    assert_int_equal(rs.forged, 0);
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767312200, &st, d),
                     XCHG_ERR_DENIED);
    assert_int_equal(sqlite3_exec(db, "UPDATE decisions SET members = substr(members, 2) WHERE run = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767312200, &st, NULL), XCHG_OK);
    assert_int_equal(st.released, 1);
    j = open_packet(pk, pol, 5);
    assert_null(record(j, "P1"));      /* withdrawn: not released, not named */
    assert_non_null(record(j, "P2")); /* safeguarding still applies to the other record */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "released")), 1);
    json_decref(j);

    /* a rejection stops release until operators approve again */
    decide(s, 8, fam, 0, XCHG_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767312300, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "was rejected (\"not now\"); no packet");
    /* an unknown recipient */
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release(s, m, fam, "police", pk, 1, 1767312300, &st, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "'police' is not a recipient of agreement 'test-agreement'");

    /* retention: purge everything received before a cutoff in the future — the records,
       and the family summaries of the runs built on them */
    xchg_store_info in;
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(s), &in, NULL), XCHG_OK);
    assert_true(in.records > 0);
    xchg_purge_stats *ps = calloc(1, sizeof *ps);
    assert_int_equal(xchg_matcher_purge(s, (int64_t)4102444800, 1, ps, NULL), XCHG_OK); /* dry */
    assert_int_equal(ps->nextracts, 3);
    assert_int_equal(ps->purged, 0);
    size_t lines = audit_lines();
    assert_int_equal(xchg_matcher_purge(s, (int64_t)4102444800, 0, ps, NULL), XCHG_OK);
    assert_int_equal(ps->purged, 1);
    assert_int_equal(ps->records, 4 + 1 + 4);
    assert_int_equal(ps->runs, 2);
    assert_int_equal(audit_lines(), lines + 1); /* the purge entry */
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(s), &in, NULL), XCHG_OK);
    assert_int_equal(in.records, 0);
    assert_int_equal(in.tokens, 0);
    assert_int_equal(in.indicators, 0);
    free(ps);
    xchg_matcher_close(s);
    /* the data is gone from the file itself: reopen; no family summary is left either */
    s = store_open_or_create(0);
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(s), &in, NULL), XCHG_OK);
    assert_int_equal(in.records, 0);
    struct candidates c = {0};
    xchg_err le = xchg_matcher_release_list(s, collect, &c, NULL);
    assert_true(le == XCHG_OK || le == XCHG_ERR_NOT_FOUND);
    assert_int_equal(c.n, 0);
    xchg_matcher_close(s);
    xchg_seckey_free(m);
    xchg_diag_free(d);
}

/* A store with the Lee family as the only candidate, linked; returns the family. */
static xchg_matcher *lee_family(char fam[24])
{
    seal(police_csv("given"), "police.csv", 2, psec, 1767225600);
    seal(school_csv, "school.csv", 3, ssec, 1767225600);
    xchg_matcher *s = store_open_or_create(1);
    ingest(s, "police.xex", NULL);
    ingest(s, "school.xex", NULL);
    run(s);
    snprintf(fam, 24, "%s", first_candidate(s));
    return s;
}

/* The matcher's operator writes decision rows straight into the store. */
/* into the matcher's outbox: OUTBOX/<recipient>/<family>-<time>.xrp, folders 0700; the
 * same second twice is refused; names that could leave the outbox are refused unwritten */
static void test_release_outbox(void **state)
{
    (void)state;
    seal(police_csv("given"), "police.csv", 2, psec, 1767225600);
    seal(school_csv, "school.csv", 3, ssec, 1767225600);
    xchg_matcher *s = store_open_or_create(1);
    ingest(s, "police.xex", NULL);
    ingest(s, "school.xex", NULL);
    run(s);
    char fam[24];
    snprintf(fam, sizeof fam, "%s", first_candidate(s));
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 9, fam, 1, XCHG_OK);
    xchg_seckey *m = seed_key(4), *op = seed_key(8);
    xchg_release_stats st;
    xchg_diag *d = xchg_diag_new();
    char outbox[600], want[700], path[800];
    snprintf(outbox, sizeof outbox, "%s", path_in("outbox"));
    snprintf(want, sizeof want, "%s/team/%s-1767225700.xrp", outbox, fam);
    assert_int_equal(xchg_matcher_release_outbox(s, m, fam, "../team", outbox,
                                                 xchg_seckey_public(op), 1767225700, &st, path,
                                                 sizeof path, d),
                     XCHG_ERR_ARG);
    assert_string_equal(path, "");
    assert_int_equal(access(outbox, F_OK), -1);
    assert_int_equal(xchg_matcher_release_outbox(s, m, fam, "team", outbox,
                                                 xchg_seckey_public(op), 1767225700, &st, path,
                                                 sizeof path, d),
                     XCHG_OK);
    assert_string_equal(path, want);
    assert_int_equal(access(want, F_OK), 0);
    struct stat sb;
    assert_int_equal(stat(outbox, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(st.released, 2);
    json_t *j = open_packet(want, pol, 5);
    assert_string_equal(json_string_value(json_object_get(j, "family")), st.family);
    json_decref(j);
    assert_int_equal(xchg_matcher_release_outbox(s, m, fam, "team", outbox,
                                                 xchg_seckey_public(op), 1767225700, &st, path,
                                                 sizeof path, d),
                     XCHG_ERR_EXISTS);
    /* an outbox that is a file, not a folder: refused with the folder named, nothing kept */
    char notdir[700];
    snprintf(notdir, sizeof notdir, "%s", path_in("outbox-file"));
    spit(notdir, "x", 1);
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release_outbox(s, m, fam, "team", notdir,
                                                 xchg_seckey_public(op), 1767225702, &st, path,
                                                 sizeof path, d),
                     XCHG_ERR_IO);
    assert_string_equal(path, "");
    assert_diag_has(d, "cannot create the outbox folder");
    /* a small buffer for the path is refused before anything is written */
    char tiny[8];
    assert_int_equal(xchg_matcher_release_outbox(s, m, fam, "team", outbox, NULL, 1767225701,
                                                 &st, tiny, sizeof tiny, d),
                     XCHG_ERR_ARG);
    snprintf(want, sizeof want, "%s/team/%s-1767225701.xrp", outbox, fam);
    assert_int_equal(access(want, F_OK), -1);
    xchg_diag_free(d);
    xchg_seckey_free(m);
    xchg_seckey_free(op);
    xchg_matcher_close(s);
}

static void test_forged_decisions_refused(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    xchg_store *st = xchg_matcher_store(s);
    int64_t run = xchg__store_latest_run(st);
    /* two "approvals" naming the two operators' key ids, signature zero */
    for (int op = 8; op <= 9; op++) {
        xchg_seckey *k = seed_key(op);
        xchg__decision r;
        memset(&r, 0, sizeof r);
        snprintf(r.decision_id, sizeof r.decision_id, "%032d", op);
        snprintf(r.family, sizeof r.family, "%s", fam);
        r.run = run;
        snprintf(r.recipient, sizeof r.recipient, "team");
        xchg_keyid_hex(xchg_seckey_public(k)->id, r.operator_kid);
        snprintf(r.party, sizeof r.party, "op%d", op);
        r.approve = 1;
        snprintf(r.reason, sizeof r.reason, "ok");
        r.time = 1767225600;
        r.siglen = 64;
        assert_int_equal(xchg__store_decision_put(st, &r, NULL), XCHG_OK);
        xchg_seckey_free(k);
    }
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);
    assert_int_equal(rs.forged, 2);
    xchg_seckey *m = seed_key(4);
    xchg_diag *d = xchg_diag_new();
    const char *pk = path_in("forged.xrp");
    unlink(pk);
    size_t lines = audit_lines();
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, NULL, d),
                     XCHG_ERR_VERIFY);
    assert_diag_has(d, "do not verify");
    assert_int_equal(access(pk, F_OK), -1);
    assert_int_equal(audit_lines(), lines + 2); /* the refusal, and a signed checkpoint */
    /* genuine approvals do not launder the forged rows: still refused */
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 9, fam, 1, XCHG_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, NULL, d),
                     XCHG_ERR_VERIFY);
    /* without a release key, approvals carry as they are: nothing to renew, and a key that
       is no operator's is refused before that */
    xchg_seckey *op = seed_key(8);
    xchg_renew_stats rn;
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_renew(s, op, NULL, 1767225700, NULL, NULL, &rn, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "has no release key: approvals carry across runs as they are");
    xchg_diag_clear(d);
    assert_int_not_equal(xchg_matcher_renew(s, m, NULL, 1767225700, NULL, NULL, &rn, d), XCHG_OK);
    assert_diag_has(d, "operator");
    xchg_seckey_free(op);
    xchg_seckey_free(m);
    xchg_diag_free(d);
    xchg_matcher_close(s);
}

/* A packet the matcher assembles alone — no approvals, or approvals moved from another
 * family — cannot be opened, even by the recipient. */
static void test_assembled_packet_unopenable(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 9, fam, 1, XCHG_OK);
    xchg_seckey *m = seed_key(4), *team = seed_key(5);
    const char *pk = path_in("good.xrp");
    assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, NULL, NULL), XCHG_OK);
    xchg_referral *r = NULL;
    assert_int_equal(xchg_referral_open(pol, team, pk, &r, NULL), XCHG_OK);
    assert_int_equal(r->napprovals, 2);
    xchg_referral_free(r);
    /* the genuine body, re-sealed by the matcher with changes */
    char *body = NULL;
    assert_int_equal(xchg_packet_open(pol, team, pk, &body, NULL), XCHG_OK);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    size_t rp = xchg_policy_party(xchg_agreement_policy(pol), "team");
    struct {
        const char *what, *expect;
    } cases[] = {{"no approvals", "carries 0 valid approvals"},
                 {"one approval twice", "carries 1 valid approval of"},
                 {"another family", "carries 0 valid approvals"},
                 {"a member added", "carries 0 valid approvals"},
                 {"count inflated", "states 3 released records"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *x = json_deep_copy(j);
        json_t *ap = json_object_get(x, "approvals");
        if (i == 0)
            json_array_clear(ap);
        else if (i == 1)
            json_array_set(ap, 1, json_array_get(ap, 0));
        else if (i == 2)
            json_object_set_new(x, "family", json_string("F-AAAA-BBBB-CCCC"));
        else if (i == 3)
            json_array_append_new(json_object_get(x, "members"),
                                  json_pack("{s:s, s:[]}", "person", "P-ZZZZ-ZZZZ-ZZZZ", "records"));
        else
            json_object_set_new(json_object_get(x, "counts"), "released", json_integer(3));
        char *t = json_dumps(x, JSON_COMPACT);
        const char *out = path_in("assembled.xrp");
        assert_int_equal(xchg_packet_seal(pol, m, rp, t, out, 1, NULL), XCHG_OK);
        xchg_diag *d = xchg_diag_new();
        xchg_err e = xchg_referral_open(pol, team, out, &r, d);
        if (e == XCHG_OK)
            fail_msg("case '%s' opened", cases[i].what);
        assert_diag_has(d, cases[i].expect);
        xchg_diag_free(d);
        free(t);
        json_decref(x);
    }
    json_decref(j);
    xchg_seckey_free(m);
    xchg_seckey_free(team);
    xchg_matcher_close(s);
}

/* Operator text is checked before anything is written; a release run with an operator's
 * key is refused before anything is written. */
static void test_bad_input_writes_nothing(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    size_t lines = audit_lines();
    xchg_seckey *k = seed_key(8);
    static const char *const bad[] = {"\xff\xfe not UTF-8", "cut \xe2\x82", "esc \x1b[2J",
                                      "nul-less but \x7f", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(xchg_matcher_decide(s, k, fam, 1, bad[i], 1767225600, d), XCHG_ERR_ARG);
        xchg_diag_free(d);
    }
    char longr[XCHG_RELEASE_REASON_MAX + 2];
    memset(longr, 'a', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    assert_int_equal(xchg_matcher_decide(s, k, fam, 1, longr, 1767225600, NULL), XCHG_ERR_ARG);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals + rs.forged, 0);
    assert_int_equal(xchg__store_family_has_decisions(xchg_matcher_store(s), fam), 0);
    assert_int_equal(audit_lines(), lines);
    /* release packet with an operator's key: refused, nothing written at all */
    decide(s, 8, fam, 1, XCHG_OK);
    decide(s, 9, fam, 1, XCHG_OK);
    lines = audit_lines();
    const char *pk = path_in("op.xrp");
    unlink(pk);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_release(s, k, fam, "team", pk, 1, 1767225700, NULL, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "only the matcher makes packets");
    assert_int_equal(access(pk, F_OK), -1);
    assert_int_equal(audit_lines(), lines);
    xchg_diag_free(d);
    xchg_seckey_free(k);
    xchg_matcher_close(s);
}

/* A decision whose commit was lost after its audit entry was written is rolled forward
 * from the log when the store is next opened. */
static void test_decision_rolled_forward(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    decide(s, 8, fam, 1, XCHG_OK);
    /* lose the row, as a crash between the audit append and COMMIT would */
    sqlite3_exec(xchg__store_db(xchg_matcher_store(s)), "DELETE FROM decisions", NULL, NULL,
                 NULL);
    sqlite3_exec(xchg__store_db(xchg_matcher_store(s)),
                 "DELETE FROM meta WHERE name = 'audit_applied_seq'", NULL, NULL, NULL);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 0);
    xchg_matcher_close(s);
    s = store_open_or_create(0);
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 1);
    assert_int_equal(rs.forged, 0);
    xchg_matcher_close(s);
    /* and again: rolled forward once, not twice */
    s = store_open_or_create(0);
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 1);
    xchg_matcher_close(s);
}

/* Retention is applied by ingest and run themselves: data past the agreement's retention
 * period (365 days) goes, with the run summaries built on it, and an audit entry says so. */
static void test_retention_automatic(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_OK);
    size_t lines = audit_lines();
    /* a year and a month later, the school sends a new extract */
    int64_t later = (int64_t)time(NULL) + 400 * 86400;
    xchg_seckey *m = seed_key(4);
    seal(school_csv, "school-late.csv", 3, ssec, later);
    xchg_ingest_stats st;
    assert_int_equal(xchg_matcher_ingest(s, m, path_in("school-late.xex"), NULL, NULL, later, &st,
                                         NULL),
                     XCHG_OK);
    xchg_store_info in;
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(s), &in, NULL), XCHG_OK);
    assert_int_equal(in.records_active, 1); /* only the new school record */
    assert_int_equal(xchg_matcher_release_state(s, fam, &rs, NULL), XCHG_ERR_NOT_FOUND);
    assert_int_equal(audit_lines(), lines + 2); /* purge, ingest */
    char *log = slurp(path_in("db.audit"), NULL);
    assert_non_null(strstr(log, "\"type\":\"purge\""));
    assert_non_null(strstr(log, "\"runs\":1"));
    free(log);
    xchg_seckey_free(m);
    xchg_matcher_close(s);
}

/* What a packet says of withheld records is the agreement's choice, per agency. */
static void test_withheld_settings(void **state)
{
    (void)state;
    static const char *const modes[] = {"silent", "named"};
    xchg_agreement *keep = pol;
    for (size_t i = 0; i < 2; i++) {
        /* the school's referral rule in base.yaml */
        char find[] = "    school:\n      referral: {requires: engagement}";
        char with[200];
        snprintf(with, sizeof with, "    school:\n      referral: {requires: engagement, withheld: %s}",
                 modes[i]);
        pol = agreement_variant(find, with);
        assert_non_null(pol);
        char fam[24];
        xchg_matcher *s = lee_family(fam);
        decide(s, 8, fam, 1, XCHG_OK);
        decide(s, 9, fam, 1, XCHG_OK);
        xchg_seckey *m = seed_key(4);
        const char *pk = path_in("withheld.xrp");
        assert_int_equal(xchg_matcher_release(s, m, fam, "team", pk, 1, 1767225700, NULL, NULL),
                         XCHG_OK);
        json_t *j = open_packet(pk, pol, 5);
        /* Kate's police record (default notice) still gives her the notice */
        assert_int_equal(members_with_notice(j), 1);
        char *t = json_dumps(j, JSON_COMPACT);
        if (i == 0) {
            assert_null(strstr(t, "\"S1\""));
            assert_null(strstr(t, "\"withheld\""));
        } else {
            assert_non_null(strstr(t, "\"withheld\":[{\"agency\":\"school\""));
            assert_non_null(strstr(t, "\"ref\":\"S1\""));
            assert_non_null(strstr(t, "consent not yet sought"));
            assert_null(strstr(t, "\"P3\"")); /* the police's rule is still notice */
        }
        free(t);
        json_decref(j);
        xchg_seckey_free(m);
        xchg_matcher_close(s);
        xchg_agreement_free(pol);
    }
    pol = keep;
}

static uint32_t persons_of(xchg_matcher *s, const char *fam)
{
    xchg_store_family f;
    assert_int_equal(xchg_store_family_show(xchg_matcher_store(s), 0, fam, &f, NULL, NULL, NULL,
                                            NULL),
                     XCHG_OK);
    return f.npersons;
}

static void review(xchg_matcher *s, int op, const char *ra, const char *rb, int same,
                   xchg_err want)
{
    xchg_seckey *k = seed_key(op);
    xchg_diag *d = xchg_diag_new();
    xchg_err e = xchg_matcher_review(s, k, "police", ra, strncmp(rb, "S", 1) ? "police" : "school",
                                     rb, same, same ? "one person" : "two people", 1767225600, d);
    if (e != want)
        fail_msg("review %s %s: %s (%s)", ra, rb, xchg_strerror(e),
                 xchg_diag_count(d) ? xchg_diag_text(d, 0) : "");
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* Review decisions: signed by an operator, kept across runs and re-ingests, the newest
 * on a pair wins, a forged one is ignored. */
static void test_review_decisions(void **state)
{
    (void)state;
    char fam[24];
    xchg_matcher *s = lee_family(fam);
    assert_int_equal(persons_of(s, fam), 3);
    /* Dad's two police records are different people, says an operator */
    review(s, 8, "P1", "P2", 0, XCHG_OK);
    review(s, 4, "P1", "P2", 1, XCHG_ERR_DENIED); /* the matcher is no operator */
    review(s, 8, "P1", "P1", 1, XCHG_ERR_ARG);
    review(s, 8, "P1", "P99", 1, XCHG_ERR_NOT_FOUND);
    xchg_matcher_run_stats rs;
    memset(&rs, 0, sizeof rs);
    assert_int_equal(xchg_matcher_run(s, day("2026-07-31"), 1, 1767225600, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.reviews_applied, 1);
    assert_int_equal(rs.reviews_ignored, 0);
    assert_int_equal(persons_of(s, fam), 4);
    /* kept across a re-ingest: the police send the same records again, newer */
    seal(police_csv("given"), "police3.csv", 2, psec, 1767225600 + 3600);
    ingest(s, "police3.xex", "supersedes");
    run(s);
    assert_int_equal(persons_of(s, fam), 4);
    /* a forged row (no valid signature) in the store is ignored */
    xchg__review_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.decision_id, sizeof r.decision_id, "%032d", 7);
    snprintf(r.agency_a, sizeof r.agency_a, "police");
    snprintf(r.ref_a, sizeof r.ref_a, "P1");
    snprintf(r.agency_b, sizeof r.agency_b, "police");
    snprintf(r.ref_b, sizeof r.ref_b, "P2");
    r.same = 1;
    xchg_seckey *k9 = seed_key(9);
    xchg_keyid_hex(xchg_seckey_public(k9)->id, r.operator_kid);
    xchg_seckey_free(k9);
    snprintf(r.party, sizeof r.party, "op9");
    snprintf(r.reason, sizeof r.reason, "forged");
    r.time = 1767229999;
    r.siglen = 64;
    assert_int_equal(xchg__store_review_put(xchg_matcher_store(s), &r, NULL), XCHG_OK);
    memset(&rs, 0, sizeof rs);
    assert_int_equal(xchg_matcher_run(s, day("2026-07-31"), 1, 1767225600, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.reviews_ignored, 1);
    assert_int_equal(persons_of(s, fam), 4);
    /* the newest genuine decision on the pair wins */
    review(s, 9, "P1", "P2", 1, XCHG_OK);
    run(s);
    assert_int_equal(persons_of(s, fam), 3);
    /* the review is in the audit log, and the log verifies */
    char *log = slurp(path_in("db.audit"), NULL);
    assert_non_null(strstr(log, "\"type\":\"review\""));
    free(log);
    xchg_matcher_close(s);
}

/* The one packet-name rule the daemon and `xchg fetch-packets` share. */
static void test_packet_names(void **state)
{
    (void)state;
    assert_true(xchg_packet_name_ok("F-ABCD-EFGH-JKLM.xrp", ".xrp"));
    assert_true(xchg_packet_name_ok("tf-team", NULL));
    static const char *const bad[] = {"", ".xrp", ".hidden.xrp", "../x.xrp", "a/b.xrp",
                                      "x.xrp\n", "x\x1b.xrp", "x.XRP", "x.xrp.tmp", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_false(xchg_packet_name_ok(bad[i], ".xrp"));
    char longn[210];
    memset(longn, 'a', 196);
    memcpy(longn + 196, ".xrp", 5);
    assert_true(xchg_packet_name_ok(longn, ".xrp"));
    memset(longn, 'a', 200);
    memcpy(longn + 200, ".xrp", 5);
    assert_false(xchg_packet_name_ok(longn, ".xrp"));
    assert_false(xchg_packet_name_ok("a/b", NULL));
}

/* Statement bytes: a known-answer vector (docs/formats.md) and every field bound. */
static void test_statement_vector(void **state)
{
    (void)state;
    xchg_decision_statement st = {.recipient = "team", .family = "F-ABCD-EFGH-JKLM", .run = 3,
                                  .approve = 1, .reason = "ok", .time = 1767225600};
    memset(st.agreement_sha256, 0x11, 32);
    memset(st.members, 0x22, 32);
    uint8_t b[XCHG_RELEASE_STATEMENT_MAX];
    size_t n;
    assert_int_equal(xchg_decision_statement_bytes(&st, b, &n), XCHG_OK);
    assert_int_equal(n, 29 + 32 + 1 + 4 + 1 + 16 + 8 + 32 + 1 + 2 + 2 + 8);
    uint8_t h[32];
    char hex[65];
    xchg_sha256(b, n, h);
    xchg_hex_encode(hex, h, 32);
    /* recomputed by hand from the layout in docs/formats.md */
    uint8_t want[200];
    size_t o = 0;
    memcpy(want, "exchange release decision v2", 29);
    o = 29;
    memset(want + o, 0x11, 32);
    o += 32;
    want[o++] = 4;
    memcpy(want + o, "team", 4);
    o += 4;
    want[o++] = 16;
    memcpy(want + o, "F-ABCD-EFGH-JKLM", 16);
    o += 16;
    const uint8_t run[8] = {3, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + o, run, 8);
    o += 8;
    memset(want + o, 0x22, 32);
    o += 32;
    want[o++] = 'A';
    want[o++] = 2;
    want[o++] = 0;
    memcpy(want + o, "ok", 2);
    o += 2;
    const uint8_t t[8] = {0x00, 0xb9, 0x55, 0x69, 0, 0, 0, 0}; /* 1767225600 */
    memcpy(want + o, t, 8);
    o += 8;
    assert_int_equal(o, n);
    assert_memory_equal(b, want, n);
    /* members digest: order does not matter, content does */
    const char *a[] = {"P-1", "P-2"}, *bb[] = {"P-2", "P-1"}, *c[] = {"P-1", "P-3"};
    uint8_t da[32], db[32], dc[32];
    assert_int_equal(xchg_release_members_digest(a, 2, da), XCHG_OK);
    assert_int_equal(xchg_release_members_digest(bb, 2, db), XCHG_OK);
    assert_int_equal(xchg_release_members_digest(c, 2, dc), XCHG_OK);
    assert_memory_equal(da, db, 32);
    assert_memory_not_equal(da, dc, 32);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_vector),
        cmocka_unit_test(test_packet_names),
        cmocka_unit_test(test_release_end_to_end),
        cmocka_unit_test(test_release_outbox),
        cmocka_unit_test(test_forged_decisions_refused),
        cmocka_unit_test(test_assembled_packet_unopenable),
        cmocka_unit_test(test_bad_input_writes_nothing),
        cmocka_unit_test(test_decision_rolled_forward),
        cmocka_unit_test(test_retention_automatic),
        cmocka_unit_test(test_withheld_settings),
        cmocka_unit_test(test_review_decisions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
