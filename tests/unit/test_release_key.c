/*
 * The release key end to end on the fixture agreement (docs/release.md "The release
 * key"): dealt among the two operators (threshold 2), the agencies seal under it, and
 * the guarantees are checked with the store's contents and the recipient's key directly,
 * not through the tools: before any approval, and after one, the matcher and the
 * recipient together read no record at all; after two approvals exactly the records
 * the consent filter releases; a forged or moved contribution is refused naming the
 * operator (by the matcher and by the recipient); a share of another deal, another
 * operator's share or no share is refused; contributions planted for a withheld record
 * or another family travel nowhere; retention purges the contributions with the records.
 */
#include "store_internal.h"
#include "test_helpers.h"
#include "threshold_internal.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <jansson.h>
#include <sodium.h>

static xchg_agreement *pol;
static xchg_secret *psec, *ssec;
static char dir[512];
static const int64_t NOW = 1767225600;

static const char *path_in(const char *name)
{
    static char b[16][600];
    static int i;
    char *p = b[i++ % 16];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static int32_t day(const char *s)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(s, strlen(s), &d), XCHG_OK);
    return d;
}

/* The fixture agreement with a release key dealt into sub (shares there). */
static xchg_agreement *dealt(const char *sub, char **text)
{
    char *buf = NULL, *sec = NULL, *out = NULL;
    size_t n = 0, on = 0;
    assert_int_equal(
        xchg_file_read(XCHG_TEST_DIR "/fixtures/policy/base.yaml", 1u << 20, &buf, &n, NULL),
        XCHG_OK);
    xchg_agreement *p0 = NULL, *p = NULL;
    assert_int_equal(t_agreement_parse(buf, n, "base.yaml", &p0, NULL), XCHG_OK);
    mkdir(path_in(sub), 0700);
    assert_int_equal(xchg_release_key_deal(xchg_agreement_policy(p0), path_in(sub), 1, &sec, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_release_key_apply(buf, n, sec, &out, &on), XCHG_OK);
    xchg_diag *d = xchg_diag_new();
    if (t_agreement_parse(out, on, "dealt.yaml", &p, d) != XCHG_OK)
        fail_msg("dealt agreement: %s", xchg_diag_count(d) ? xchg_diag_text(d, 0) : "");
    xchg_diag_free(d);
    xchg_agreement_free(p0);
    free(buf);
    free(sec);
    if (text)
        *text = out;
    else
        free(out);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", tpath("release_key"));
    mkdir(dir, 0700);
    pol = dealt("shares", NULL);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2), *school = seed_key(3);
    const char *sp = path_in("s.xsec");
    int bad = xchg_secret_create(pol, owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
              xchg_secret_open(pol, police, sp, &psec, NULL) != XCHG_OK ||
              xchg_secret_open(pol, school, sp, &ssec, NULL) != XCHG_OK;
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(school);
    return bad ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_secret_free(psec);
    xchg_secret_free(ssec);
    xchg_agreement_free(pol);
    return 0;
}

static void seal_at(const char *csv, const char *name, int agency, xchg_secret *sec, int64_t now)
{
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/%s.csv", dir, name);
    snprintf(out, sizeof out, "%s/%s.xex", dir, name);
    spit(in, csv, strlen(csv));
    xchg_seckey *k = seed_key(agency);
    xchg_seal_opts o = {.input = in,
                        .output = out,
                        .overwrite = 1,
                        .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"),
                        .now = now,
                        .strict = 1};
    xchg_seal_stats st;
    assert_int_equal(xchg_seal(pol, k, sec, &o, &st, NULL), XCHG_OK);
    xchg_seckey_free(k);
}

static void seal(const char *csv, const char *name, int agency, xchg_secret *sec)
{
    seal_at(csv, name, agency, sec, NOW);
}

static xchg_release_share *share_of(int op, const char *file, xchg_err want)
{
    xchg_seckey *k = seed_key(op);
    xchg_release_share *s = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_release_share_load(pol, k, path_in(file), &s, d), want);
    xchg_diag_free(d);
    xchg_seckey_free(k);
    return s;
}

static void decide(xchg_matcher *m, int op, const xchg_release_share *sh, const char *fam,
                   xchg_err want, const char *diag)
{
    xchg_seckey *k = seed_key(op);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_matcher_decide_share(m, k, sh, fam, 1, "meets the rule", NOW, d), want);
    if (diag)
        assert_diag_has(d, diag);
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* Ingest the extracts named (dir/NAME.xex, NULL-terminated) and run at now. */
static void ingest_run(xchg_matcher *m, const xchg_seckey *mk, const char *const *names, int64_t now)
{
    char path[600];
    for (const char *const *n = names; *n; n++) {
        snprintf(path, sizeof path, "%s/%s.xex", dir, *n);
        assert_int_equal(xchg_matcher_ingest(m, mk, path, NULL, NULL, now, NULL, NULL), XCHG_OK);
    }
    assert_int_equal(xchg_matcher_run(m, day("2026-07-31"), 1, now, NULL, NULL), XCHG_OK);
}

/* A new store at dir/DB (its audit log gone too), with the extracts named ingested and run. */
static xchg_matcher *matcher_with(const char *db, const xchg_seckey *mk, const char *const *names)
{
    char a[600];
    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    snprintf(a, sizeof a, "%s.audit", path_in(db));
    unlink(path_in(db));
    unlink(a);
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in(db), sk, pol, &m, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    ingest_run(m, mk, names, NOW);
    return m;
}

static int collect(void *ctx, const xchg_release_state *st)
{
    if (st->eligible)
        snprintf(ctx, 24, "%s", st->family);
    return 0;
}

/*
 * The attack: the matcher's store plus the recipient's key, no tools. For every stored
 * record: the recipient unseals the extract's data key; it tries the payload as it is
 * (the pre-release-key layout), and with s·R combined from every contribution the store
 * holds for the record (any subset the store offers, by Lagrange over their indexes).
 * refs gets the references it could read, space-separated; returns how many.
 */
static int store_attack(xchg_matcher *m, char *refs, size_t cap)
{
    sqlite3 *db = xchg__store_db(xchg_matcher_store(m));
    xchg_seckey *team = seed_key(5);
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(team)->id, kid);
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT r.ref, e.extract_id, r.payload, k.sealed_key FROM records r "
                           "JOIN extracts e ON e.id = r.extract JOIN extract_keys k ON "
                           "k.extract = e.id AND k.key_id = ?1 ORDER BY r.ref",
                           -1, &q, NULL),
        SQLITE_OK);
    sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
    int readable = 0;
    refs[0] = '\0';
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *ref = (const char *)sqlite3_column_text(q, 0);
        const uint8_t *xid = sqlite3_column_blob(q, 1), *w = sqlite3_column_blob(q, 2);
        size_t wl = (size_t)sqlite3_column_bytes(q, 2);
        const char *sk = (const char *)sqlite3_column_text(q, 3);
        uint8_t sealed[XCHG_PAYLOAD_KEY_BYTES + XCHG_BOX_OVERHEAD], dk[XCHG_PAYLOAD_KEY_BYTES];
        size_t n = 0;
        assert_int_equal(xchg_base64_decode(sealed, sizeof sealed, &n, sk, strlen(sk)), XCHG_OK);
        assert_int_equal(xchg_box_open(team, sealed, n, dk), XCHG_OK); /* the inner key: yes */
        uint8_t *pt = malloc(wl + 1), *inner = malloc(wl + 1);
        int ok = wl > XCHG_PAYLOAD_OVERHEAD &&
                 xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(pol)), xid, ref,
                                      strlen(ref), w, wl, pt) == XCHG_OK;
        /* with whatever contributions the store holds */
        struct {
            unsigned idx[4];
            uint8_t D[4 * 32];
            size_t n;
        } cs = {.n = 0};
        sqlite3_stmt *c = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT idx, d FROM contributions WHERE extract_id = "
                                            "?1 AND ref = ?2 ORDER BY idx",
                                            -1, &c, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(c, 1, xid, 16, SQLITE_STATIC);
        sqlite3_bind_text(c, 2, ref, -1, SQLITE_STATIC);
        while (sqlite3_step(c) == SQLITE_ROW && cs.n < 4) {
            cs.idx[cs.n] = (unsigned)sqlite3_column_int(c, 0);
            memcpy(cs.D + 32 * cs.n++, sqlite3_column_blob(c, 1), 32);
        }
        sqlite3_finalize(c);
        uint8_t sR[32], ctx[32];
        assert_int_equal(xchg_threshold_context(xchg_policy_hash(xchg_agreement_policy(pol)),
                                                xchg_agreement_get(pol)->release_key.deal, xid, ref,
                                                strlen(ref), ctx),
                         XCHG_OK);
        for (size_t k = 1; !ok && k <= cs.n; k++) /* every prefix of what is there */
            ok =
                xchg_threshold_combine(k, cs.idx, cs.D, sR) == XCHG_OK &&
                xchg_threshold_unwrap(sR, ctx, w, wl, inner) == XCHG_OK &&
                xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(pol)), xid, ref,
                                     strlen(ref), inner, wl - XCHG_TH_WRAP_OVERHEAD, pt) == XCHG_OK;
        if (ok) {
            readable++;
            snprintf(refs + strlen(refs), cap - strlen(refs), "%s%s", refs[0] ? " " : "", ref);
        }
        free(pt);
        free(inner);
        sodium_memzero(dk, sizeof dk);
    }
    sqlite3_finalize(q);
    xchg_seckey_free(team);
    return readable;
}

static int count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

static xchg_err open_packet(const char *path, json_t **out, xchg_diag *d)
{
    xchg_seckey *team = seed_key(5);
    xchg_referral *r = NULL;
    xchg_err e = xchg_referral_open(pol, team, path, &r, d);
    if (e == XCHG_OK && out) {
        char *t = xchg_referral_to_json(r);
        *out = json_loads(t, 0, NULL);
        free(t);
    }
    xchg_referral_free(r);
    xchg_seckey_free(team);
    return e;
}

static json_t *released(json_t *body, const char *ref)
{
    size_t mi, ri;
    json_t *m, *r;
    json_array_foreach(json_object_get(body, "members"), mi, m) json_array_foreach(
        json_object_get(m, "records"), ri,
        r) if (strcmp(json_string_value(json_object_get(r, "ref")), ref) == 0) return r;
    return NULL;
}

/* The matcher (who holds its own key) re-seals an altered packet body. */
static void reseal(const char *in, const char *out, void (*alter)(json_t *body))
{
    xchg_seckey *team = seed_key(5), *mk = seed_key(4);
    char *text = NULL;
    assert_int_equal(xchg_packet_open(pol, team, in, &text, NULL), XCHG_OK);
    json_t *b = json_loads(text, 0, NULL);
    assert_non_null(b);
    alter(b);
    char *t2 = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    assert_int_equal(xchg_packet_seal(pol, mk,
                                      xchg_policy_party(xchg_agreement_policy(pol), "team"), t2,
                                      out, 1, NULL),
                     XCHG_OK);
    free(t2);
    free(text);
    json_decref(b);
    xchg_seckey_free(team);
    xchg_seckey_free(mk);
}

static json_t *body_record(json_t *body, const char *ref)
{
    size_t mi, ri;
    json_t *m, *r;
    json_array_foreach(json_object_get(body, "members"), mi, m) json_array_foreach(
        json_object_get(m, "records"), ri,
        r) if (strcmp(json_string_value(json_object_get(r, "ref")), ref) == 0) return r;
    fail_msg("no record %s in the packet", ref);
    return NULL;
}

/* P1's contributions moved onto P2 (a replay across records) */
static void move_contributions(json_t *b)
{
    json_object_set(body_record(b, "P2"), "contributions",
                    json_object_get(body_record(b, "P1"), "contributions"));
}

/* op1's partial decryption of P1 altered (one bit) */
static void tamper_d(json_t *b)
{
    json_t *c = json_array_get(json_object_get(body_record(b, "P1"), "contributions"), 0);
    char d64[64];
    snprintf(d64, sizeof d64, "%s", json_string_value(json_object_get(c, "d")));
    d64[3] = d64[3] == 'A' ? 'B' : 'A';
    json_object_set_new(c, "d", json_string(d64));
}

/* one operator's contribution to P1 dropped: below the threshold */
static void drop_one(json_t *b)
{
    json_array_remove(json_object_get(body_record(b, "P1"), "contributions"), 0);
}

static void test_release_key_end_to_end(void **state)
{
    (void)state;
    const xchg_policy_data *pd = xchg_agreement_get(pol);
    assert_true(pd->release_key.present);
    assert_int_equal(pd->release_key.threshold, 2);
    assert_int_equal(pd->release_key.nshares, 2);
    char *ex = NULL;
    assert_int_equal(xchg_policy_explain(xchg_agreement_policy(pol), &ex), XCHG_OK);
    assert_non_null(strstr(ex, "opens only with the contributions of 2 of them"));
    free(ex);

    /* shares: file mode 0600; refused for another operator's key, another deal, altered */
    struct stat sb;
    assert_int_equal(stat(path_in("shares/op1.share"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    assert_null(share_of(9, "shares/op1.share", XCHG_ERR_DENIED));
    xchg_agreement *again = dealt("shares2", NULL);
    xchg_agreement_free(again);
    {
        xchg_seckey *k = seed_key(8);
        xchg_release_share *x = NULL;
        xchg_diag *d = xchg_diag_new();
        assert_int_equal(xchg_release_share_load(pol, k, path_in("shares2/op1.share"), &x, d),
                         XCHG_ERR_DENIED);
        assert_diag_has(d, "this share is from deal");
        xchg_diag_free(d);
        xchg_seckey_free(k);
    }

    seal("Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
         "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,\n"
         "P2,Dan,Lee,14/05/1980,OX4 1AA,ASB,02/06/2026,refused,Safeguarding\n"
         "P3,Kate,Lee,11/03/1982,OX4 1AA,CRIME,03/06/2026,refused,\n"
         "P4,Ann,Ng,01/01/1990,OX1 1AA,CRIME,04/06/2026,given,\n",
         "police", 2, psec);
    seal("Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
         "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,not sought\n",
         "school", 3, ssec);
    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    unlink(path_in("db"));
    unlink(path_in("db.audit"));
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in("db"), sk, pol, &m, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    xchg_seckey *mk = seed_key(4);
    assert_int_equal(xchg_matcher_ingest(m, mk, path_in("police.xex"), NULL, NULL, NOW, NULL, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_matcher_ingest(m, mk, path_in("school.xex"), NULL, NULL, NOW, NULL, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_matcher_run(m, day("2026-07-31"), 1, NOW, NULL, NULL), XCHG_OK);
    char fam[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    assert_true(fam[0]);
    sqlite3 *db = xchg__store_db(xchg_matcher_store(m));
    char refs[256];

    /* the matcher's store + the recipient's key, nothing approved: nothing opens (today's
       store would give all five) */
    assert_int_equal(count(db, "SELECT count(*) FROM records"), 5);
    assert_int_equal(store_attack(m, refs, sizeof refs), 0);

    /* no share, another operator's share: refused, nothing written */
    decide(m, 8, NULL, fam, XCHG_ERR_DENIED, "must carry their share's partial decryptions");
    decide(m, 8, s2, fam, XCHG_ERR_DENIED, "is not operator op1's share");
    assert_int_equal(count(db, "SELECT count(*) FROM decisions"), 0);

    /* one approval: contributions for exactly the releasable records of the family (the
       consent filter: P1 consent given, P2 safeguarding basis; not P3 refused, not S1 not
       sought, not P4 of another household); below the threshold they open nothing */
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions WHERE ref IN ('P1','P2') "
                               "AND party = 'op1' AND idx = 1"),
                     2);
    assert_int_equal(store_attack(m, refs, sizeof refs), 0);
    xchg_release_stats st;
    xchg_diag *d = xchg_diag_new();
    const char *pk = path_in("p.xrp");
    unlink(pk);
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", pk, 1, NOW, &st, d), XCHG_ERR_DENIED);

    /* the second approval: the store + recipient read exactly the released records */
    decide(m, 9, s2, fam, XCHG_OK, NULL);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 4);
    assert_int_equal(store_attack(m, refs, sizeof refs), 2);
    assert_string_equal(refs, "P1 P2");

    /* the packet: version 3, P1 and P2 open with the contributions it carries */
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", pk, 1, NOW, &st, NULL), XCHG_OK);
    assert_int_equal(st.released, 2);
    assert_int_equal(st.withheld, 2);
    json_t *j = NULL;
    assert_int_equal(open_packet(pk, &j, NULL), XCHG_OK);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(released(j, "P1"), "detail"), "forename")),
                        "Dan");
    assert_non_null(json_object_get(released(j, "P2"), "detail"));
    assert_null(json_object_get(released(j, "P2"), "error"));
    assert_null(released(j, "P3"));
    json_decref(j);

    /* the recipient refuses a packet whose contributions were moved to another record or
       altered, naming the operator; one contribution short leaves the record closed */
    const char *bad = path_in("bad.xrp");
    reseal(pk, bad, move_contributions);
    xchg_diag_clear(d);
    assert_int_equal(open_packet(bad, NULL, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "operator op1's partial decryption of record police/P2 does not verify");
    reseal(pk, bad, tamper_d);
    xchg_diag_clear(d);
    assert_int_equal(open_packet(bad, NULL, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "record police/P1 does not verify");
    reseal(pk, bad, drop_one);
    assert_int_equal(open_packet(bad, &j, NULL), XCHG_OK);
    assert_non_null(json_object_get(released(j, "P1"), "error"));
    assert_null(json_object_get(released(j, "P1"), "detail"));
    assert_non_null(json_object_get(released(j, "P2"), "detail"));
    json_decref(j);

    /* contributions planted in the store for a withheld record (P3, consent refused) and
       a record of another family (P4) — even valid ones, made with the shares — travel in
       no packet: the consent filter and the family decide at the matcher too */
    for (int who = 0; who < 2; who++) {
        const char *refs_[] = {"P3", "P4"};
        for (int k = 0; k < 2; k++) {
            sqlite3_stmt *q = NULL;
            assert_int_equal(
                sqlite3_prepare_v2(db,
                                   "SELECT e.extract_id, r.payload FROM records r JOIN "
                                   "extracts e ON e.id = r.extract WHERE r.ref = ?1",
                                   -1, &q, NULL),
                SQLITE_OK);
            sqlite3_bind_text(q, 1, refs_[k], -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            xchg__contribution c;
            memset(&c, 0, sizeof c);
            memcpy(c.extract_id, sqlite3_column_blob(q, 0), 16);
            uint8_t R[32], ctx[32];
            assert_int_equal(xchg_threshold_wrapped_R(sqlite3_column_blob(q, 1),
                                                      (size_t)sqlite3_column_bytes(q, 1), R),
                             XCHG_OK);
            sqlite3_finalize(q);
            snprintf(c.ref, sizeof c.ref, "%s", refs_[k]);
            snprintf(c.party, sizeof c.party, "%s", who ? "op2" : "op1");
            xchg_hex_encode(c.deal, pd->release_key.deal, 16);
            c.index = (unsigned)who + 1;
            assert_int_equal(xchg_threshold_context(xchg_policy_hash(xchg_agreement_policy(pol)),
                                                    pd->release_key.deal, c.extract_id, c.ref, 2,
                                                    ctx),
                             XCHG_OK);
            assert_int_equal(xchg_threshold_partial(xchg_release_share_scalar(who ? s2 : s1),
                                                    c.index, R, ctx, c.D, c.proof),
                             XCHG_OK);
            assert_int_equal(xchg__store_contribution_put(xchg_matcher_store(m), &c, NULL),
                             XCHG_OK);
        }
    }
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", pk, 1, NOW, &st, NULL), XCHG_OK);
    assert_int_equal(st.released, 2);
    assert_int_equal(open_packet(pk, &j, NULL), XCHG_OK);
    assert_null(released(j, "P3"));
    assert_null(released(j, "P4"));
    char *all = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(all, "Kate"));
    free(all);
    json_decref(j);

    /* a forged contribution in the store refuses the packet, naming the operator */
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE contributions SET d = (SELECT d FROM contributions "
                                  "WHERE ref = 'P2' AND party = 'op2') WHERE ref = 'P1' AND "
                                  "party = 'op2'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", pk, 1, NOW, &st, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "operator op2's contribution for record police/P1 does not verify");

    /* retention purges the records' contributions with the records */
    xchg_purge_stats ps;
    assert_int_equal(xchg_matcher_purge(m, 4102444800, 0, &ps, NULL), XCHG_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM records"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 0);

    xchg_diag_free(d);
    xchg_seckey_free(mk);
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
    xchg_matcher_close(m);
}

/*
 * Consent withdrawn after the approvals: the newer version of the record is withheld
 * from the next packet, approving again contributes nothing for it, and the
 * contributions that opened the old versions are deleted then (a copy taken before
 * cannot be taken back: the documented limit).
 */
static void test_withdrawal_after_approval(void **state)
{
    (void)state;
#define WCSV(consent, date)                                                                        \
    "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis,Consent Date\n"               \
    "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026," consent ",," date "\n"                       \
    "P2,Dan,Lee,14/05/1980,OX4 1AA,ASB,02/06/2026,refused,Safeguarding,\n"
    char buf[512];
    snprintf(buf, sizeof buf, "%s", WCSV("given", ""));
    seal(buf, "police-w", 2, psec);
    seal("Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
         "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,not sought\n",
         "school-w", 3, ssec);
    xchg_seckey *mk = seed_key(4);
    xchg_matcher *m = matcher_with("dbw", mk, (const char *const[]){"police-w", "school-w", NULL});
    char fam[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    decide(m, 9, s2, fam, XCHG_OK, NULL);
    sqlite3 *db = xchg__store_db(xchg_matcher_store(m));
    char refs[256];
    assert_int_equal(store_attack(m, refs, sizeof refs), 2);
    assert_string_equal(refs, "P1 P2");

    /* P1's consent is withdrawn in a newer extract */
    snprintf(buf, sizeof buf, "%s", WCSV("withdrawn", "15/07/2026"));
    seal_at(buf, "police-w2", 2, psec, NOW + 10);
    ingest_run(m, mk, (const char *const[]){"police-w2", NULL}, NOW + 10);
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    decide(m, 9, s2, fam, XCHG_OK, NULL);
    /* the new P1 (withdrawn) got no contribution; the new P2 (safeguarding) got two */
    assert_int_equal(count(db, "SELECT count(*) FROM contributions c JOIN extracts e ON "
                               "e.extract_id = c.extract_id WHERE e.superseded_by IS NULL "
                               "AND c.ref = 'P1'"),
                     0);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions c JOIN extracts e ON "
                               "e.extract_id = c.extract_id WHERE e.superseded_by IS NULL "
                               "AND c.ref = 'P2'"),
                     2);
    const char *pk = path_in("w.xrp");
    xchg_release_stats st;
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", pk, 1, NOW + 10, &st, NULL), XCHG_OK);
    json_t *j = NULL;
    assert_int_equal(open_packet(pk, &j, NULL), XCHG_OK);
    assert_null(released(j, "P1"));
    assert_non_null(json_object_get(released(j, "P2"), "detail"));
    json_decref(j);
    /* the contributions that opened the superseded versions were deleted at the next
       approval: the store + recipient now read the new P2 only. (A breached matcher that
       copied them before keeps them: the documented limit.) */
    assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 2);
    assert_int_equal(store_attack(m, refs, sizeof refs), 1);
    assert_string_equal(refs, "P2");
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
    xchg_seckey_free(mk);
    xchg_matcher_close(m);
}

/* A new period re-seals every record: the approvals carry, their contributions do not open
 * the new versions. The family awaits approvals again (uncovered), no packet is made until
 * covered, and xchg_matcher_renew re-approves for an operator exactly what they approved
 * before — never a first decision, never a rejected family, never twice, never for a key
 * that is no operator's. */
static void test_renew_after_reseal(void **state)
{
    (void)state;
    const char *pcsv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis,Consent Date\n"
                       "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,,\n"
                       "P2,Dan,Lee,14/05/1980,OX4 1AA,ASB,02/06/2026,refused,Safeguarding,\n";
    const char *scsv = "Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
                       "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,not sought\n";
    seal(pcsv, "police-n", 2, psec);
    seal(scsv, "school-n", 3, ssec);
    xchg_seckey *mk = seed_key(4), *op1 = seed_key(8), *op2 = seed_key(9);
    xchg_matcher *m = matcher_with("dbn", mk, (const char *const[]){"police-n", "school-n", NULL});
    char fam[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    xchg_renew_stats rs;
    /* nothing approved yet: nothing to renew */
    assert_int_equal(xchg_matcher_renew(m, op1, s1, NOW, NULL, NULL, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.renewed + rs.skipped + rs.failed, 0);
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    decide(m, 9, s2, fam, XCHG_OK, NULL);
    xchg_release_state st;
    assert_int_equal(xchg_matcher_release_state(m, fam, &st, NULL), XCHG_OK);
    assert_int_equal(st.approvals, 2);
    assert_int_equal(st.uncovered, 0);

    /* the next period: the same rows, sealed again */
    seal_at(pcsv, "police-n2", 2, psec, NOW + 10);
    ingest_run(m, mk, (const char *const[]){"police-n2", NULL}, NOW + 10);
    char fam2[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam2, NULL), XCHG_OK);
    assert_string_equal(fam2, fam);
    assert_int_equal(xchg_matcher_release_state(m, fam, &st, NULL), XCHG_OK);
    assert_int_equal(st.approvals, 2); /* carried: the same members */
    assert_int_equal(st.carried, 2);
    assert_int_equal(st.uncovered, 2); /* P1 (consent) and P2 (safeguarding), new versions */
    xchg_diag *d = xchg_diag_new();
    xchg_release_stats pst;
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", path_in("n.xrp"), 1, NOW + 10, &pst, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "2 records are newer than the approvals: 2 operators must approve again");
    assert_int_equal(access(path_in("n.xrp"), F_OK), -1);
    /* a key that is no operator's renews nothing */
    xchg_diag_clear(d);
    assert_int_not_equal(xchg_matcher_renew(m, mk, s1, NOW + 10, NULL, NULL, &rs, d), XCHG_OK);
    /* op1 renews: their approval again, with contributions for the new versions */
    assert_int_equal(xchg_matcher_renew(m, op1, s1, NOW + 10, NULL, NULL, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.renewed, 1);
    assert_int_equal(rs.skipped, 0);
    assert_int_equal(xchg_matcher_release_state(m, fam, &st, NULL), XCHG_OK);
    assert_int_equal(st.uncovered, 2); /* one operator is not the threshold */
    assert_int_equal(st.carried, 1);   /* op1's approval is of this run now */
    assert_string_equal(st.last_reason, "renewed for run 2 (approved in run 1: meets the rule)");
    /* and not twice */
    assert_int_equal(xchg_matcher_renew(m, op1, s1, NOW + 10, NULL, NULL, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.renewed, 0);
    assert_int_equal(rs.skipped, 1);
    /* op2 renews: covered, the packet releases both */
    assert_int_equal(xchg_matcher_renew(m, op2, s2, NOW + 10, NULL, NULL, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.renewed, 1);
    assert_int_equal(xchg_matcher_release_state(m, fam, &st, NULL), XCHG_OK);
    assert_int_equal(st.uncovered, 0);
    assert_int_equal(st.carried, 0);
    assert_int_equal(st.approvals, 2);
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", path_in("n.xrp"), 1, NOW + 10, &pst, NULL),
                     XCHG_OK);
    assert_int_equal(pst.released, 2);

    /* a third period; op2 rejects it this time: nobody may renew a rejected family */
    seal_at(pcsv, "police-n3", 2, psec, NOW + 20);
    ingest_run(m, mk, (const char *const[]){"police-n3", NULL}, NOW + 20);
    assert_int_equal(xchg_matcher_decide_share(m, op2, NULL, fam, 0, "moved away", NOW + 20, NULL),
                     XCHG_OK);
    assert_int_equal(xchg_matcher_renew(m, op1, s1, NOW + 20, NULL, NULL, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.renewed + rs.skipped + rs.failed, 0);
    xchg_diag_free(d);
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
    xchg_seckey_free(mk);
    xchg_seckey_free(op1);
    xchg_seckey_free(op2);
    xchg_matcher_close(m);
}

static int first_decision(void *ctx, const xchg__decision *r)
{
    xchg__decision *out = ctx;
    if (!out->decision_id[0])
        *out = *r;
    return 0;
}

/* A dishonest matcher fabricates an earlier approval so that an operator's one-step renew
 * would approve a family they never approved: op1's genuine run-1 row replayed under op2's
 * name and key id. It does not verify, so it is not op2's approval: op2's renew skips the
 * family, the forgery is reported, and op1 (who did approve) still renews. */
static void test_renew_refuses_forged_prior(void **state)
{
    (void)state;
    const char *pcsv = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis,Consent Date\n"
                       "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,,\n";
    const char *scsv = "Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
                       "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,not sought\n";
    seal(pcsv, "police-f", 2, psec);
    seal(scsv, "school-f", 3, ssec);
    xchg_seckey *mk = seed_key(4), *op1 = seed_key(8), *op2 = seed_key(9);
    xchg_matcher *m = matcher_with("dbf", mk, (const char *const[]){"police-f", "school-f", NULL});
    char fam[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    xchg_store *st = xchg_matcher_store(m);
    xchg__decision r;
    memset(&r, 0, sizeof r);
    assert_int_equal(xchg__store_decisions(st, fam, xchg__store_latest_run(st), NULL,
                                           first_decision, &r, NULL),
                     XCHG_OK);
    assert_string_equal(r.party, "op1");
    snprintf(r.decision_id, sizeof r.decision_id, "%032d", 9);
    snprintf(r.party, sizeof r.party, "op2");
    xchg_keyid_hex(xchg_seckey_public(op2)->id, r.operator_kid);
    assert_int_equal(xchg__store_decision_put(st, &r, NULL), XCHG_OK);

    seal_at(pcsv, "police-f2", 2, psec, NOW + 10);
    ingest_run(m, mk, (const char *const[]){"police-f2", NULL}, NOW + 10);
    xchg_release_state rs;
    assert_int_equal(xchg_matcher_release_state(m, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 1);
    assert_int_equal(rs.forged, 1);
    assert_int_equal(rs.uncovered, 1);
    xchg_renew_stats n;
    assert_int_equal(xchg_matcher_renew(m, op2, s2, NOW + 10, NULL, NULL, &n, NULL), XCHG_OK);
    assert_int_equal(n.renewed, 0);
    assert_int_equal(n.skipped, 1);
    assert_int_equal(xchg_matcher_release_state(m, fam, &rs, NULL), XCHG_OK);
    assert_int_equal(rs.approvals, 1); /* nothing of op2's was added */
    assert_int_equal(xchg_matcher_renew(m, op1, s1, NOW + 10, NULL, NULL, &n, NULL), XCHG_OK);
    assert_int_equal(n.renewed, 1);
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
    xchg_seckey_free(mk);
    xchg_seckey_free(op1);
    xchg_seckey_free(op2);
    xchg_matcher_close(m);
}

/* An approval whose commit was lost (rows gone, its audit entry written) gets its
 * contributions back from the log when the store is next opened, once. */
static void test_contributions_rolled_forward(void **state)
{
    (void)state;
    seal("Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
         "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,\n",
         "police-r", 2, psec);
    seal("Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
         "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,given\n",
         "school-r", 3, ssec);
    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    assert_int_equal(xchg_store_key_save(sk, path_in("dbr.key"), 1, NULL), XCHG_OK);
    unlink(path_in("dbr"));
    unlink(path_in("dbr.audit"));
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in("dbr"), sk, pol, &m, NULL), XCHG_OK);
    xchg_seckey *mk = seed_key(4);
    assert_int_equal(
        xchg_matcher_ingest(m, mk, path_in("police-r.xex"), NULL, NULL, NOW, NULL, NULL), XCHG_OK);
    assert_int_equal(
        xchg_matcher_ingest(m, mk, path_in("school-r.xex"), NULL, NULL, NOW, NULL, NULL), XCHG_OK);
    assert_int_equal(xchg_matcher_run(m, day("2026-07-31"), 1, NOW, NULL, NULL), XCHG_OK);
    char fam[24] = "";
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    decide(m, 8, s1, fam, XCHG_OK, NULL);
    sqlite3 *db = xchg__store_db(xchg_matcher_store(m));
    assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 2);
    sqlite3_exec(db,
                 "DELETE FROM decisions; DELETE FROM contributions; DELETE FROM meta WHERE "
                 "name = 'audit_applied_seq'",
                 NULL, NULL, NULL);
    xchg_matcher_close(m);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(xchg_matcher_open(path_in("dbr"), sk, pol, 0, &m, NULL), XCHG_OK);
        db = xchg__store_db(xchg_matcher_store(m));
        assert_int_equal(count(db, "SELECT count(*) FROM contributions WHERE party = 'op1' "
                                   "AND idx = 1"),
                         2);
        xchg_matcher_close(m);
    }
    /* the rolled-forward contributions still verify: the second approval makes a packet
       that opens */
    assert_int_equal(xchg_matcher_open(path_in("dbr"), sk, pol, 0, &m, NULL), XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    decide(m, 9, s2, fam, XCHG_OK, NULL);
    xchg_release_stats st;
    assert_int_equal(xchg_matcher_release(m, mk, fam, "team", path_in("n.xrp"), 1, NOW, &st, NULL),
                     XCHG_OK);
    assert_int_equal(st.released, 2);
    json_t *j = NULL;
    assert_int_equal(open_packet(path_in("n.xrp"), &j, NULL), XCHG_OK);
    assert_non_null(json_object_get(released(j, "P1"), "detail"));
    assert_non_null(json_object_get(released(j, "S1"), "detail"));
    json_decref(j);
    xchg_matcher_close(m);
    xchg_store_key_free(sk);
    xchg_seckey_free(mk);
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
}

/* An agreement whose verification shares do not lie on the dealt polynomial, whose
 * threshold differs from approvals_required, or that misses an operator: refused. */
/* ---- the promise holds against a careless or dishonest party ------------------------ */

static const char POLICE_CSV[] = "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
                                 "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,\n"
                                 "P2,Dan,Lee,14/05/1980,OX4 1AA,ASB,02/06/2026,refused,\n";

/* `release_key: required`, not dealt: xchg_seal refuses before writing anything and names
 * the next step; a check (which writes nothing) passes with a warning. */
static void test_seal_refused_until_dealt(void **state)
{
    (void)state;
    char *buf = NULL, *text = NULL;
    size_t n = 0;
    assert_int_equal(
        xchg_file_read(XCHG_TEST_DIR "/fixtures/policy/base.yaml", 1u << 20, &buf, &n, NULL),
        XCHG_OK);
    size_t tn = n + 32;
    text = malloc(tn);
    snprintf(text, tn, "%s\nrelease_key: required\n", buf);
    xchg_agreement *p = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(t_agreement_parse(text, strlen(text), "required.yaml", &p, d), XCHG_OK);
    assert_true(xchg_agreement_get(p)->release_key.pending);
    assert_false(xchg_agreement_get(p)->release_key.present);
    xchg_seckey *owner = seed_key(1), *police = seed_key(2);
    const char *sp = path_in("required.xsec"), *in = path_in("required.csv"),
               *out = path_in("required.xex");
    unlink(sp);
    unlink(out);
    xchg_secret *sec = NULL;
    assert_int_equal(xchg_secret_create(p, owner, 1, 0, sp, 1, NULL), XCHG_OK);
    assert_int_equal(xchg_secret_open(p, police, sp, &sec, NULL), XCHG_OK);
    spit(in, POLICE_CSV, strlen(POLICE_CSV));
    xchg_seal_opts o = {.input = in, .output = out, .period_start = day("2025-08-01"),
                        .period_end = day("2026-07-31"), .now = NOW, .strict = 1};
    xchg_seal_stats st;
    xchg_diag_clear(d);
    assert_int_equal(xchg_seal(p, police, sec, &o, &st, d), XCHG_ERR_DENIED);
    assert_diag_has(d, "requires a release key ('release_key: required') but it has not been dealt");
    assert_diag_has(d, "xchg release-key deal AGREEMENT --shares DIR");
    assert_int_equal(st.sealed, 0);
    struct stat sb;
    assert_int_equal(stat(out, &sb), -1); /* no output, not even a temporary */
    /* a check writes nothing and may run before the deal */
    xchg_seal_opts c = o;
    c.output = NULL;
    c.check_only = 1;
    xchg_diag_clear(d);
    assert_int_equal(xchg_seal(p, police, sec, &c, &st, d), XCHG_OK);
    assert_diag_has(d, "sealing is refused until the IG lead runs 'xchg release-key deal'");
    assert_int_equal(stat(out, &sb), -1);
    /* an extract of this version (an old tool that does not refuse) is refused at ingest */
    ((xchg_policy_data *)xchg_agreement_get(p))->release_key.pending = 0;
    o.overwrite = 1;
    assert_int_equal(xchg_seal(p, police, sec, &o, &st, NULL), XCHG_OK);
    ((xchg_policy_data *)xchg_agreement_get(p))->release_key.pending = 1;
    {
        xchg_store_key *sk = NULL;
        assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
        unlink(path_in("dbq"));
        unlink(path_in("dbq.audit"));
        xchg_matcher *m = NULL;
        assert_int_equal(xchg_matcher_create(path_in("dbq"), sk, p, &m, NULL), XCHG_OK);
        xchg_store_key_free(sk);
        xchg_seckey *mk = seed_key(4);
        xchg_diag_clear(d);
        assert_int_equal(xchg_matcher_ingest(m, mk, out, NULL, NULL, NOW, NULL, d),
                         XCHG_ERR_DENIED);
        assert_diag_has(d, "no extract is accepted under it");
        xchg_store_info info;
        assert_int_equal(xchg_store_get_info(xchg_matcher_store(m), &info, NULL), XCHG_OK);
        assert_int_equal(info.extracts, 0);
        assert_int_equal(info.records, 0);
        xchg_seckey_free(mk);
        xchg_matcher_close(m);
    }
    /* signing it is allowed, but warns */
    xchg_diag_clear(d);
    const char *sig = path_in("required.sig");
    unlink(sig);
    assert_int_equal(xchg_policy_sign(xchg_agreement_policy(p), owner, sig, NOW, d), XCHG_OK);
    assert_diag_has(d, "this signature must be made again");
    xchg_secret_free(sec);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_diag_free(d);
    xchg_agreement_free(p);
    free(text);
    free(buf);
}

/* Rewrite a sealed extract as its agency could (signed with the agency's own key, seed
 * agency): the same records, the header's payload.release_key_deal set to deal (NULL:
 * removed). What a dishonest agency, an old or altered tool would send. */
static void reheader(const char *in, const char *out, int agency, const char *deal)
{
    xchg_seckey *mk = seed_key(4), *ak = seed_key(agency);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(in, mk, &r, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(ak), NULL), XCHG_OK);
    size_t hl = 0;
    const uint8_t *h = xchg_xex_reader_header(r, &hl);
    json_t *hj = json_loadb((const char *)h, hl, 0, NULL);
    assert_non_null(hj);
    json_t *pj = json_object_get(hj, "payload");
    if (deal)
        json_object_set_new(pj, "release_key_deal", json_string(deal));
    else
        json_object_del(pj, "release_key_deal");
    char *nh = json_dumps(hj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hj);
    xchg_xex_writer *w = NULL;
    unlink(out);
    assert_int_equal(xchg_xex_writer_new(out, 1, xchg_seckey_public(mk), ak, nh, strlen(nh), &w,
                                         NULL),
                     XCHG_OK);
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int end = 0;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end)
            break;
        assert_int_equal(xchg_xex_writer_add(w, rec, len), XCHG_OK);
    }
    uint64_t cnt = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &cnt, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);
    xchg_xex_reader_free(r);
    free(nh);
    xchg_seckey_free(mk);
    xchg_seckey_free(ak);
}

static void ingest_refused(xchg_matcher *m, const char *file, xchg_err want, const char *msg)
{
    xchg_seckey *mk = seed_key(4);
    xchg_diag *d = xchg_diag_new();
    xchg_store_info before, after;
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(m), &before, NULL), XCHG_OK);
    assert_int_equal(xchg_matcher_ingest(m, mk, path_in(file), NULL, NULL, NOW, NULL, d), want);
    assert_diag_has(d, msg);
    assert_diag_has(d, file); /* the diagnostic names the extract */
    assert_int_equal(xchg_store_get_info(xchg_matcher_store(m), &after, NULL), XCHG_OK);
    assert_int_equal(after.extracts, before.extracts); /* nothing stored */
    assert_int_equal(after.records, before.records);
    assert_int_equal(after.tokens, before.tokens);
    xchg_diag_free(d);
    xchg_seckey_free(mk);
}

/* Under a dealt agreement the matcher stores only extracts wrapped under its deal: an
 * extract from a tool that did not wrap (header without the deal), one whose header
 * claims the deal over unwrapped records, one claiming another deal, and one whose
 * header lost the deal are refused, naming the extract (and the record), nothing stored. */
static void test_ingest_refuses_unwrapped(void **state)
{
    (void)state;
    xchg_policy_data *pd = (xchg_policy_data *)xchg_agreement_get(pol);
    char deal[33], other[33];
    xchg_hex_encode(deal, pd->release_key.deal, 16);
    /* an old (or careless) tool: the same agreement bytes, no outer wrap */
    pd->release_key.present = 0;
    seal(POLICE_CSV, "plain", 2, psec);
    pd->release_key.present = 1;
    seal(POLICE_CSV, "wrapped", 2, psec);
    /* the header claims the deal over records that carry no wrap */
    reheader(path_in("plain.xex"), path_in("plain-claims.xex"), 2, deal);
    /* an honest wrap whose header names another deal, or none */
    xchg_agreement *again = dealt("shares4", NULL);
    xchg_hex_encode(other, xchg_agreement_get(again)->release_key.deal, 16);
    xchg_agreement_free(again);
    reheader(path_in("wrapped.xex"), path_in("wrapped-other.xex"), 2, other);
    reheader(path_in("wrapped.xex"), path_in("wrapped-nodeal.xex"), 2, NULL);
    reheader(path_in("wrapped.xex"), path_in("wrapped-bad.xex"), 2, "not hex");

    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    unlink(path_in("dbu"));
    unlink(path_in("dbu.audit"));
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in("dbu"), sk, pol, &m, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    ingest_refused(m, "plain.xex", XCHG_ERR_DENIED, "not wrapped under agreement 'test-agreement''s release key");
    ingest_refused(m, "plain-claims.xex", XCHG_ERR_FORMAT,
                   "record 1 (P1) is not valid: its detail is not wrapped under the agreement's "
                   "release key");
    char msg[200];
    snprintf(msg, sizeof msg, "wrapped under release-key deal %s, but agreement", other);
    ingest_refused(m, "wrapped-other.xex", XCHG_ERR_DENIED, msg);
    ingest_refused(m, "wrapped-nodeal.xex", XCHG_ERR_DENIED, "not wrapped under agreement");
    ingest_refused(m, "wrapped-bad.xex", XCHG_ERR_DENIED, "'release_key_deal' is malformed");
    /* the honest extract is stored */
    xchg_seckey *mk = seed_key(4);
    xchg_ingest_stats ist;
    assert_int_equal(xchg_matcher_ingest(m, mk, path_in("wrapped.xex"), NULL, NULL, NOW, &ist, NULL),
                     XCHG_OK);
    assert_int_equal(ist.records, 2);
    xchg_seckey_free(mk);
    xchg_matcher_close(m);
}

/* More records than one wrap batch (512), wrapped over several threads: every record is
 * written once, in the file's order, each with a well-formed wrap of its own randomness,
 * and the matcher stores them all. */
static int cmp32(const void *a, const void *b) { return memcmp(a, b, 32); }

static void test_batched_wrap(void **state)
{
    (void)state;
    enum { N = 1300 };
    size_t cap = 80 + (size_t)N * 80, len = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    len += (size_t)snprintf(csv + len, cap - len,
                            "Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n");
    for (int i = 0; i < N; i++) {
        char fn[8] = {(char)('A' + i % 26), (char)('a' + i / 26 % 26), (char)('a' + i / 676), 'n',
                      0};
        len += (size_t)snprintf(csv + len, cap - len,
                                "R%05d,%s,Lee,%02d/05/1980,OX4 1AA,CRIME,01/06/2026,given,\n", i,
                                fn, 1 + i % 28);
    }
    seal(csv, "many", 2, psec);
    free(csv);
    xchg_seckey *mk = seed_key(4);
    xchg_extract_file *f = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_extract_open(pol, mk, path_in("many.xex"), 0, &f, d), XCHG_OK);
    uint8_t(*R)[32] = calloc(N, 32);
    int n = 0;
    for (;;) {
        xchg_record r;
        int end = 0;
        assert_int_equal(xchg_extract_next(f, &r, &end, d), XCHG_OK);
        if (end)
            break;
        assert_true(n < N);
        char want[16];
        snprintf(want, sizeof want, "R%05d", n);
        assert_int_equal(r.ref_len, strlen(want));
        assert_memory_equal(r.ref, want, r.ref_len); /* the file's order */
        assert_true(r.payload_len > XCHG_TH_WRAP_OVERHEAD + XCHG_PAYLOAD_OVERHEAD);
        assert_int_equal(xchg_threshold_wrapped_R(r.payload, r.payload_len, R[n]), XCHG_OK);
        n++;
    }
    uint64_t count = 0;
    assert_int_equal(xchg_extract_finish(f, &count, d), XCHG_OK);
    xchg_extract_close(f);
    assert_int_equal(n, N);
    assert_int_equal(count, N);
    qsort(R, N, 32, cmp32); /* each record its own ephemeral: none repeated across threads */
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(R[i - 1], R[i], 32), 0);
    free(R);
    /* the matcher checks every record's wrap at ingest and stores them all */
    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    unlink(path_in("dbm"));
    unlink(path_in("dbm.audit"));
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in("dbm"), sk, pol, &m, NULL), XCHG_OK);
    xchg_store_key_free(sk);
    xchg_ingest_stats ist;
    assert_int_equal(xchg_matcher_ingest(m, mk, path_in("many.xex"), NULL, NULL, NOW, &ist, d),
                     XCHG_OK);
    assert_int_equal(ist.records, N);
    xchg_matcher_close(m);
    xchg_seckey_free(mk);
    xchg_diag_free(d);
}

static void test_release_key_policy_checks(void **state)
{
    (void)state;
    char *text = NULL;
    xchg_agreement *p = dealt("shares3", &text);
    xchg_agreement_free(p);
    struct {
        const char *find, *repl, *msg;
    } cases[] = {
        {"threshold: 2", "threshold: 1", "'approvals_required' is 2"},
        {"index: 1,", "index: 3,", "Feldman check failed"},
        {"operator: op2", "operator: team", "must have role operator"},
        {"scheme: ristretto255-shamir-feldman-v1", "scheme: rsa", "unknown release-key scheme"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *at = strstr(text, cases[i].find);
        assert_non_null(at);
        size_t n = strlen(text) + strlen(cases[i].repl) + 1;
        char *u = malloc(n);
        snprintf(u, n, "%.*s%s%s", (int)(at - text), text, cases[i].repl,
                 at + strlen(cases[i].find));
        xchg_diag *d = xchg_diag_new();
        xchg_agreement *q = NULL;
        assert_int_equal(t_agreement_parse(u, strlen(u), "bad.yaml", &q, d), XCHG_ERR_POLICY);
        assert_diag_has(d, cases[i].msg);
        xchg_diag_free(d);
        free(u);
    }
    /* threshold 1 (approvals_required: 1): no commitments beyond P; every share is s */
    {
        char *buf = NULL, *sec = NULL, *out = NULL;
        size_t n = 0, on = 0;
        assert_int_equal(
            xchg_file_read(XCHG_TEST_DIR "/fixtures/policy/base.yaml", 1u << 20, &buf, &n, NULL),
            XCHG_OK);
        char *at = strstr(buf, "approvals_required: 2");
        assert_non_null(at);
        at[20] = '1';
        xchg_agreement *p1 = NULL, *p1d = NULL;
        assert_int_equal(t_agreement_parse(buf, n, "t1.yaml", &p1, NULL), XCHG_OK);
        mkdir(path_in("shares-t1"), 0700);
        assert_int_equal(
            xchg_release_key_deal(xchg_agreement_policy(p1), path_in("shares-t1"), 1, &sec, NULL),
            XCHG_OK);
        assert_non_null(strstr(sec, "commitments: []"));
        assert_int_equal(xchg_release_key_apply(buf, n, sec, &out, &on), XCHG_OK);
        assert_int_equal(t_agreement_parse(out, on, "t1-dealt.yaml", &p1d, NULL), XCHG_OK);
        assert_int_equal(xchg_agreement_get(p1d)->release_key.threshold, 1);
        uint8_t ctx[32] = {1}, w[8 + XCHG_TH_WRAP_OVERHEAD], R[32], D[32], proof[64], sR[32], o[8];
        assert_int_equal(xchg_threshold_wrap(xchg_agreement_get(p1d)->release_key.pub, ctx,
                                             (const uint8_t *)"exchange", 8, w),
                         XCHG_OK);
        assert_int_equal(xchg_threshold_wrapped_R(w, sizeof w, R), XCHG_OK);
        xchg_seckey *k = seed_key(9);
        xchg_release_share *sh = NULL;
        assert_int_equal(xchg_release_share_load(p1d, k, path_in("shares-t1/op2.share"), &sh, NULL),
                         XCHG_OK);
        unsigned ix = xchg_release_share_index(sh);
        assert_int_equal(
            xchg_threshold_partial(xchg_release_share_scalar(sh), ix, R, ctx, D, proof), XCHG_OK);
        assert_int_equal(xchg_threshold_combine(1, &ix, D, sR), XCHG_OK);
        assert_int_equal(xchg_threshold_unwrap(sR, ctx, w, sizeof w, o), XCHG_OK);
        assert_memory_equal(o, "exchange", 8);
        xchg_release_share_free(sh);
        xchg_seckey_free(k);
        xchg_agreement_free(p1);
        xchg_agreement_free(p1d);
        free(buf);
        free(sec);
        free(out);
    }
    /* one verification share replaced by another deal's point */
    char *v = strstr(text, "verify: ");
    assert_non_null(v);
    v[8] = v[8] == '0' ? '1' : '0';
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *q = NULL;
    assert_int_not_equal(t_agreement_parse(text, strlen(text), "bad.yaml", &q, d), XCHG_OK);
    xchg_diag_free(d);
    free(text);
}

/* Remote decisions under a release key (docs/console.md "Remote mode"): the operator's
 * side computes the contributions from the prepared request; submit takes an approval
 * only with one verifying contribution per released record of the family. */
static char *tampered(const char *req, int what)
{
    json_t *j = json_loads(req, 0, NULL);
    json_t *co = json_object_get(j, "contributions"), *recs = json_object_get(co, "records");
    assert_true(json_array_size(recs) == 2);
    if (what == 0) /* record 0 carries record 1's partial decryption */
        json_object_set(json_array_get(recs, 0), "d",
                        json_object_get(json_array_get(recs, 1), "d"));
    else if (what == 1) /* a record left out */
        json_array_remove(recs, 1);
    else if (what == 2) /* no contributions at all */
        json_object_del(j, "contributions");
    else /* another operator's index */
        json_object_set_new(co, "index", json_integer(2));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void test_remote_contributions(void **state)
{
    (void)state;
    seal("Ref,Forename,Surname,DOB,Postcode,Type,Date,Consent,Legal Basis\n"
         "P1,Dan,Lee,14/05/1980,OX4 1AA,CRIME,01/06/2026,given,\n",
         "police-c", 2, psec);
    seal("Pupil,UPN,Forename,Surname,DOB,Postcode,Possible,Attended,End,Consent\n"
         "S1,B801200005001,Amy,Lee,2015-08-20,OX4 1AA,100,80,2026-03-31,given\n",
         "school-c", 3, ssec);
    xchg_store_key *sk = NULL;
    assert_int_equal(xchg_store_key_generate(&sk), XCHG_OK);
    unlink(path_in("dbc"));
    unlink(path_in("dbc.audit"));
    xchg_matcher *m = NULL;
    assert_int_equal(xchg_matcher_create(path_in("dbc"), sk, pol, &m, NULL), XCHG_OK);
    xchg_seckey *mk = seed_key(4), *k1 = seed_key(8);
    assert_int_equal(
        xchg_matcher_ingest(m, mk, path_in("police-c.xex"), NULL, NULL, NOW, NULL, NULL), XCHG_OK);
    assert_int_equal(
        xchg_matcher_ingest(m, mk, path_in("school-c.xex"), NULL, NULL, NOW, NULL, NULL), XCHG_OK);
    assert_int_equal(xchg_matcher_run(m, day("2026-07-31"), 1, NOW, NULL, NULL), XCHG_OK);
    char fam[24] = "", kid[XCHG_KEYID_HEXLEN + 1], *prep = NULL, *sig = NULL;
    assert_int_equal(xchg_matcher_release_list(m, collect, fam, NULL), XCHG_OK);
    xchg_keyid_hex(xchg_seckey_public(k1)->id, kid);
    xchg_release_share *s1 = share_of(8, "shares/op1.share", XCHG_OK);
    xchg_release_share *s2 = share_of(9, "shares/op2.share", XCHG_OK);
    assert_int_equal(
        xchg_matcher_decision_prepare(m, kid, fam, 1, "meets the rule", NOW, &prep, NULL), XCHG_OK);
    /* the operator's side: no share, or another operator's share, is refused */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(
        xchg_decision_sign(pol, k1, NULL, prep, fam, 1, "meets the rule", NOW, &sig, d),
        XCHG_ERR_DENIED);
    assert_diag_has(d, "must carry their share's partial decryptions");
    xchg_diag_free(d);
    d = xchg_diag_new();
    assert_int_equal(xchg_decision_sign(pol, k1, s2, prep, fam, 1, "meets the rule", NOW, &sig, d),
                     XCHG_ERR_DENIED);
    assert_diag_has(d, "is not operator op1's share");
    xchg_diag_free(d);
    assert_null(sig);
    assert_int_equal(
        xchg_decision_sign(pol, k1, s1, prep, fam, 1, "meets the rule", NOW, &sig, NULL), XCHG_OK);
    static const struct {
        xchg_err e;
        const char *why;
    } want[] = {
        {XCHG_ERR_VERIFY, "does not verify"},
        {XCHG_ERR_VERIFY, "not for exactly the records"},
        {XCHG_ERR_DENIED, "must carry their share's partial decryptions"},
        {XCHG_ERR_DENIED, "must carry their share's partial decryptions"},
    };
    sqlite3 *db = xchg__store_db(xchg_matcher_store(m));
    for (int i = 0; i < 4; i++) {
        char *t = tampered(sig, i);
        d = xchg_diag_new();
        assert_int_equal(xchg_matcher_decision_submit(m, t, NOW, d), want[i].e);
        assert_diag_has(d, want[i].why);
        xchg_diag_free(d);
        free(t);
        assert_int_equal(count(db, "SELECT count(*) FROM contributions"), 0);
        assert_int_equal(count(db, "SELECT count(*) FROM decisions"), 0);
    }
    assert_int_equal(xchg_matcher_decision_submit(m, sig, NOW, NULL), XCHG_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM contributions WHERE party = 'op1'"), 2);
    free(prep);
    free(sig);
    xchg_matcher_close(m);
    xchg_store_key_free(sk);
    xchg_seckey_free(mk);
    xchg_seckey_free(k1);
    xchg_release_share_free(s1);
    xchg_release_share_free(s2);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_key_end_to_end),
        cmocka_unit_test(test_withdrawal_after_approval),
        cmocka_unit_test(test_renew_after_reseal),
        cmocka_unit_test(test_renew_refuses_forged_prior),
        cmocka_unit_test(test_contributions_rolled_forward),
        cmocka_unit_test(test_remote_contributions),
        cmocka_unit_test(test_release_key_policy_checks),
        cmocka_unit_test(test_seal_refused_until_dealt),
        cmocka_unit_test(test_ingest_refuses_unwrapped),
        cmocka_unit_test(test_batched_wrap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
