/*
 * The linkage engine on hand-built records with exact expected clusters: transitive
 * links, the over-merge guard, twins kept apart, a moved family still linked by a strong
 * key, the one-to-one fuzzy constraint with clerical review, a family that meets the rule
 * only with both agencies, evidence outside the window, and stable pseudonyms; person-level
 * evidence (one record per person, agency-local person ids), one-to-one on clusters, the
 * cluster score (a record like one of a person's records but not the others stays apart),
 * and reviewers' decisions.
 */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "test_helpers.h"

static xchg_agreement *pol, *pol_base, *pol_person;
static size_t POLICE, SCHOOL;
static size_t K_UPN, K_NAME, K_PHON, P_CRIME, P_SCHOOL;
static int32_t RUN;

static const uint8_t pkey[32] = {7};

/* t with the first occurrence of `at` replaced by `with` (t is freed) */
static char *subst(char *t, const char *at, const char *with)
{
    char *p = strstr(t, at);
    assert_non_null(p);
    char *u = malloc(strlen(t) + strlen(with) + 1);
    memcpy(u, t, (size_t)(p - t));
    strcpy(u + (p - t), with);
    strcat(u, p + strlen(at));
    free(t);
    return u;
}

static xchg_agreement *parse(char *u)
{
    xchg_agreement *out = NULL;
    xchg_diag *d = xchg_diag_new();
    xchg_err e = t_agreement_parse(u, strlen(u), "link.yaml", &out, d);
    for (size_t i = 0; i < xchg_diag_count(d); i++)
        print_message("%s\n", xchg_diag_text(d, i));
    xchg_diag_free(d);
    free(u);
    return e == XCHG_OK ? out : NULL;
}

static int setup(void **state)
{
    (void)state;
    size_t n;
    char *t = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &n);
    /* the base agreement plus fuzzy matching (the CLK schema is not used by the engine) */
    const char *fz = "fuzzy:\n  threshold: 0.9\n  review_band: [0.8, 0.9]\n  blocking: [[\"surname:phonetic\", \"dob:year\"], [postcode]]\n"
                     "  clk_schema: {version: 3}\nhouseholds:\n";
    char *u = subst(strdup(t), "households:\n", fz);
    /* and with person-level evidence: the school holds one record per pupil, the police
     * give their own person identifier; clusters not matched one to one */
    char *v = subst(strdup(u), "  clk_schema: {version: 3}\n", "  clk_schema: {version: 3}\n  one_to_one: false\n");
    v = subst(v, "  upn: {type: upn}\n", "  upn: {type: upn}\n  police_id: {type: identifier}\n");
    v = subst(v, "Type: incident_type,", "Type: incident_type, PID: police_id,");
    v = subst(v, "    record_ref: Ref\n", "    record_ref: Ref\n    person_id: police_id\n");
    v = subst(v, "    record_ref: Pupil\n", "    record_ref: Pupil\n    one_record_per_person: true\n");
    free(t);
    pol = pol_base = parse(u);
    pol_person = parse(v);
    if (!pol_base || !pol_person)
        return -1;
    const xchg_policy_data *p = xchg_agreement_get(pol);
    POLICE = xchg_policy_party(xchg_agreement_policy(pol), "police");
    SCHOOL = xchg_policy_party(xchg_agreement_policy(pol), "school");
    for (size_t k = 0; k < p->nmatch_keys; k++) {
        if (strcmp(p->match_keys[k].name, "upn") == 0)
            K_UPN = k;
        if (strcmp(p->match_keys[k].name, "name_dob") == 0)
            K_NAME = k;
        if (strcmp(p->match_keys[k].name, "phon_dob") == 0)
            K_PHON = k;
    }
    for (size_t k = 0; k < p->nproblems; k++) {
        if (strcmp(p->problems[k].code, "crime_asb") == 0)
            P_CRIME = k;
        if (strcmp(p->problems[k].code, "school") == 0)
            P_SCHOOL = k;
    }
    assert_int_equal(xchg_date_parse("2026-06-30", 10, &RUN), XCHG_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_agreement_free(pol_base);
    xchg_agreement_free(pol_person);
    return 0;
}

/* a record builder: tokens are one repeated byte value, enough to be distinct */
struct rb {
    xchg_record r;
    uint8_t clk[16];
};

static void rinit(struct rb *b, const char *ref)
{
    memset(b, 0, sizeof *b);
    b->r.ref = ref;
    b->r.ref_len = strlen(ref);
    b->r.consent_date = XCHG_DATE_NONE;
    b->r.basis = "";
}

static void tok(xchg_token *t, size_t *n, size_t idx, uint8_t v)
{
    t[*n].index = (uint8_t)idx;
    memset(t[*n].value, v, XCHG_TOKEN_BYTES);
    (*n)++;
}

static void match(struct rb *b, size_t key, uint8_t v) { tok(b->r.match, &b->r.nmatch, key, v); }
static void house(struct rb *b, uint8_t v) { tok(b->r.house, &b->r.nhouse, 0, v); }
static void block(struct rb *b, size_t idx, uint8_t v) { tok(b->r.block, &b->r.nblock, idx, v); }

static void ind(struct rb *b, size_t problem, const char *date)
{
    int32_t d;
    assert_int_equal(xchg_date_parse(date, 10, &d), XCHG_OK);
    b->r.ind[b->r.nind++] = (xchg_indicator_ev){.problem = (uint8_t)problem, .start = d, .end = d};
}

/* a 16-byte CLK with `ones` leading bits set, then `shift` of them moved */
static void clk(struct rb *b, unsigned ones, unsigned offset)
{
    memset(b->clk, 0, sizeof b->clk);
    for (unsigned i = 0; i < ones; i++) {
        unsigned bit = (i + offset) % 128;
        b->clk[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
    b->r.clk = b->clk;
    b->r.clk_len = sizeof b->clk;
}

static xchg_link_result *run_with(const xchg_link_params *lp, struct rb *recs,
                                  const size_t *agency, size_t n, xchg_err want)
{
    xchg_linkset *ls = NULL;
    assert_int_equal(xchg_linkset_new(pol, &ls), XCHG_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(xchg_linkset_add(ls, agency[i], 100 + i, &recs[i].r), XCHG_OK);
    xchg_link_result *res = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_link_run_ex(ls, lp, &res, d), want);
    if (want != XCHG_OK) {
        assert_true(xchg_diag_count(d) > 0);
        assert_null(res);
    }
    xchg_diag_free(d);
    xchg_linkset_free(ls);
    return res;
}

static xchg_link_result *run(struct rb *recs, const size_t *agency, size_t n)
{
    xchg_linkset *ls = NULL;
    assert_int_equal(xchg_linkset_new(pol, &ls), XCHG_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(xchg_linkset_add(ls, agency[i], i, &recs[i].r), XCHG_OK);
    xchg_link_result *res = NULL;
    assert_int_equal(xchg_link_run(ls, RUN, pkey, 1, &res, NULL), XCHG_OK);
    xchg_linkset_free(ls);
    return res;
}

static void test_transitive(void **state)
{
    (void)state;
    struct rb r[4];
    size_t ag[4] = {POLICE, SCHOOL, SCHOOL, POLICE};
    rinit(&r[0], "A");
    match(&r[0], K_NAME, 1);
    rinit(&r[1], "B");
    match(&r[1], K_NAME, 1);
    match(&r[1], K_UPN, 2);
    rinit(&r[2], "C");
    match(&r[2], K_UPN, 2);
    rinit(&r[3], "D"); /* unrelated */
    match(&r[3], K_NAME, 3);
    xchg_link_result *res = run(r, ag, 4);
    assert_int_equal(res->npersons, 2);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[1], res->person[2]);
    assert_int_not_equal(res->person[0], res->person[3]);
    assert_int_equal(res->nconflicts, 0);
    assert_int_equal(res->families[res->household[0]].how, XCHG_LINK_EXACT);
    assert_int_equal(res->families[res->household[3]].how, XCHG_LINK_NONE);
    xchg_link_result_free(res);
}

static void test_over_merge_guard(void **state)
{
    (void)state;
    struct rb r[3];
    size_t ag[3] = {SCHOOL, SCHOOL, POLICE};
    /* two pupils with different UPNs share name+dob (a recording error or a coincidence):
     * the weak key must not merge them; the police record joins the first one it meets */
    rinit(&r[0], "A");
    match(&r[0], K_UPN, 10);
    match(&r[0], K_NAME, 20);
    rinit(&r[1], "B");
    match(&r[1], K_UPN, 11);
    match(&r[1], K_NAME, 20);
    rinit(&r[2], "C");
    match(&r[2], K_NAME, 20);
    xchg_link_result *res = run(r, ag, 3);
    assert_int_not_equal(res->person[0], res->person[1]);
    assert_int_equal(res->npersons, 2);
    assert_true(res->nconflicts >= 1);
    assert_int_equal(res->conflicts[0].key, (int16_t)K_NAME);
    xchg_link_result_free(res);
}

static void test_twins_kept_apart(void **state)
{
    (void)state;
    struct rb r[3];
    size_t ag[3] = {POLICE, POLICE, SCHOOL};
    /* twins: same surname, date of birth and initial (phon_dob equal), different forenames
     * (name_dob differs): the weaker key is contradicted by the stronger one */
    rinit(&r[0], "Jack");
    match(&r[0], K_NAME, 30);
    match(&r[0], K_PHON, 40);
    house(&r[0], 90);
    rinit(&r[1], "James");
    match(&r[1], K_NAME, 31);
    match(&r[1], K_PHON, 40);
    house(&r[1], 90);
    rinit(&r[2], "Jack at school"); /* same person as Jack: shares name_dob */
    match(&r[2], K_NAME, 30);
    match(&r[2], K_PHON, 40);
    xchg_link_result *res = run(r, ag, 3);
    assert_int_equal(res->npersons, 2);
    assert_int_not_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[0], res->person[2]);
    /* still one household (same address) */
    assert_int_equal(res->household[0], res->household[1]);
    xchg_link_result_free(res);
}

/* forename and surname swapped: an any-order key over the same fields as name_dob is not
 * contradicted by name_dob (it compares across fields), so the two records are one person;
 * phon_dob over the same swap still cannot join them */
static void test_any_order_not_a_twin(void **state)
{
    (void)state;
    size_t n;
    char *t = slurp(XCHG_TEST_DIR "/fixtures/policy/base.yaml", &n);
    t = subst(t, "households:\n",
              "  - {name: any_dob, fields: [surname, forename, dob], any_order: [surname, forename]}\n"
              "households:\n");
    xchg_agreement *ap = parse(t);
    assert_non_null(ap);
    const xchg_policy_data *p = xchg_agreement_get(ap);
    size_t k_any = p->nmatch_keys - 1;
    assert_string_equal(p->match_keys[k_any].name, "any_dob");
    assert_true(p->match_keys[k_any].any_order);
    xchg_agreement *keep = pol;
    pol = ap;
    struct rb r[3];
    size_t ag[3] = {POLICE, SCHOOL, SCHOOL};
    rinit(&r[0], "Smith John");
    match(&r[0], K_NAME, 30);
    match(&r[0], k_any, 50);
    rinit(&r[1], "John Smith"); /* the same person, names swapped */
    match(&r[1], K_NAME, 31);
    match(&r[1], k_any, 50);
    rinit(&r[2], "twin"); /* name_dob differs, phon_dob equal: the twin rule holds */
    match(&r[2], K_NAME, 32);
    match(&r[2], K_PHON, 40);
    match(&r[0], K_PHON, 40);
    xchg_link_result *res = run(r, ag, 3);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_equal(res->npersons, 2);
    xchg_link_result_free(res);
    pol = keep;
    xchg_agreement_free(ap);
}

static void test_moved_family(void **state)
{
    (void)state;
    struct rb r[5];
    size_t ag[5] = {SCHOOL, SCHOOL, SCHOOL, POLICE, POLICE};
    /* a pupil recorded at the old address (two terms) and the new one (one term); the
     * parent is known to police at the new address; a neighbour lives at the old one */
    rinit(&r[0], "T1");
    match(&r[0], K_UPN, 50);
    house(&r[0], 60);
    ind(&r[0], P_SCHOOL, "2026-03-31");
    rinit(&r[1], "T2");
    match(&r[1], K_UPN, 50);
    match(&r[1], K_NAME, 51); /* name changed too: the UPN still links */
    house(&r[1], 60);
    rinit(&r[2], "T3");
    match(&r[2], K_UPN, 50);
    house(&r[2], 61);
    rinit(&r[3], "Parent");
    match(&r[3], K_NAME, 52);
    house(&r[3], 61);
    ind(&r[3], P_CRIME, "2026-05-01");
    rinit(&r[4], "Neighbour");
    match(&r[4], K_NAME, 53);
    house(&r[4], 60);
    ind(&r[4], P_CRIME, "2026-05-02");
    xchg_link_result *res = run(r, ag, 5);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[0], res->person[2]);
    assert_int_equal(res->npersons, 3);
    /* the pupil's primary address is the old one (2 of 3 records) */
    assert_int_equal(res->household[0], res->household[4]);
    assert_int_not_equal(res->household[0], res->household[3]);
    xchg_link_result_free(res);
}

static void test_one_to_one(void **state)
{
    (void)state;
    struct rb r[4];
    size_t ag[4] = {POLICE, SCHOOL, SCHOOL, SCHOOL};
    /* A (police) is similar to B1 (0.95) and B2 (0.92) at school; one-to-one links A-B1
     * only; A-B2 goes to clerical review. C scores in the review band with A and B1 but
     * shares only an undated blocking key with them (postcode, not surname + year of
     * birth): such pairs are family members far more often than errors, so no review. */
    for (int i = 0; i < 4; i++) {
        rinit(&r[i], i == 0 ? "A" : i == 1 ? "B1" : i == 2 ? "B2" : "C");
        if (i < 3)
            block(&r[i], 0, 70);
        block(&r[i], 1, 71);
    }
    clk(&r[0], 40, 0);
    clk(&r[1], 40, 2);  /* overlap 38 of 40: Dice 0.95 */
    clk(&r[2], 40, 125); /* 37/40: 0.925 with A; 35/40 with B1 (review, not a link) */
    clk(&r[3], 40, 7);   /* 33/40 with A: 0.825; 35/40 with B1: 0.875 (review only) */
    xchg_link_result *res = run(r, ag, 4);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_not_equal(res->person[0], res->person[3]);
    assert_int_equal(res->fuzzy_links, 1);
    assert_int_equal(res->families[res->household[0]].how, XCHG_LINK_FUZZY);
    /* review: A-B2 (refused by one-to-one), B1-B2 (0.875); not A-C or B1-C (undated block) */
    int saw_ab2 = 0, saw_ac = 0;
    for (size_t i = 0; i < res->nreview; i++) {
        saw_ab2 |= res->review[i].a == 0 && res->review[i].b == 2;
        saw_ac |= res->review[i].a == 0 && res->review[i].b == 3;
        assert_true(res->review[i].score >= 0.8f);
    }
    assert_true(saw_ab2);
    assert_false(saw_ac);
    assert_true(res->comparisons >= 6);
    xchg_link_result_free(res);
}

static void test_rule_needs_both_agencies(void **state)
{
    (void)state;
    struct rb r[3];
    size_t ag[3] = {POLICE, SCHOOL, POLICE};
    rinit(&r[0], "Dad");
    match(&r[0], K_NAME, 80);
    house(&r[0], 81);
    ind(&r[0], P_CRIME, "2026-02-01");
    rinit(&r[1], "Child");
    match(&r[1], K_UPN, 82);
    house(&r[1], 81);
    ind(&r[1], P_SCHOOL, "2026-03-31");
    rinit(&r[2], "Old"); /* crime long ago: outside the 365-day window */
    match(&r[2], K_NAME, 83);
    house(&r[2], 84);
    ind(&r[2], P_CRIME, "2024-01-01");
    xchg_link_result *res = run(r, ag, 3);
    const xchg_family *f = &res->families[res->household[0]];
    assert_int_equal(res->household[0], res->household[1]);
    assert_int_equal(f->npersons, 2);
    assert_int_equal(f->nrule, 2);
    assert_true(f->eligible);
    assert_int_equal(res->families[res->household[2]].nproblems, 0);
    assert_false(res->families[res->household[2]].eligible);
    xchg_link_result_free(res);
    /* either agency alone: not eligible */
    res = run(r, ag, 1);
    assert_false(res->families[0].eligible);
    assert_int_equal(res->families[0].nrule, 1);
    xchg_link_result_free(res);
    res = run(r + 1, ag + 1, 1);
    assert_false(res->families[0].eligible);
    xchg_link_result_free(res);
}

static void test_stable_pseudonyms(void **state)
{
    (void)state;
    struct rb r[3], s[3];
    size_t ag[3] = {POLICE, SCHOOL, POLICE}, ags[3];
    rinit(&r[0], "A");
    match(&r[0], K_NAME, 90);
    house(&r[0], 95);
    rinit(&r[1], "B");
    match(&r[1], K_UPN, 91);
    match(&r[1], K_NAME, 90);
    house(&r[1], 95);
    rinit(&r[2], "C");
    match(&r[2], K_NAME, 92);
    /* the same records in another order */
    s[0] = r[2], s[1] = r[0], s[2] = r[1];
    ags[0] = ag[2], ags[1] = ag[0], ags[2] = ag[1];
    for (int i = 0; i < 3; i++) {
        s[i].r.clk = NULL;
    }
    xchg_link_result *a = run(r, ag, 3), *b = run(s, ags, 3);
    assert_string_equal(a->person_pseudonym[a->person[0]], b->person_pseudonym[b->person[1]]);
    assert_string_equal(a->person_pseudonym[a->person[2]], b->person_pseudonym[b->person[0]]);
    assert_string_equal(a->families[a->household[0]].pseudonym, b->families[b->household[1]].pseudonym);
    assert_string_not_equal(a->person_pseudonym[a->person[0]], a->person_pseudonym[a->person[2]]);
    assert_int_equal(strlen(a->person_pseudonym[0]), 16);
    assert_memory_equal(a->person_pseudonym[0], "P-", 2);
    assert_memory_equal(a->families[0].pseudonym, "F-", 2);
    xchg_link_result_free(a);
    xchg_link_result_free(b);
}


/* a police person-id token (match token index nmatch_keys under pol_person) */
static void pid(struct rb *b, uint8_t v)
{
    match(b, xchg_agreement_get(pol_person)->nmatch_keys, v);
}

static void test_one_record_per_person_chain(void **state)
{
    (void)state;
    pol = pol_person;
    /* A and C are two pupils (the school holds one record per pupil); B, a police record,
     * is similar to both. A-B links (0.95); B-C (0.925) would put A and C into one person:
     * refused, and not listed for review either (the evidence has decided it) */
    struct rb r[3];
    size_t ag[3] = {SCHOOL, POLICE, SCHOOL};
    rinit(&r[0], "A");
    rinit(&r[1], "B");
    rinit(&r[2], "C");
    block(&r[0], 0, 1);
    block(&r[1], 0, 1);
    block(&r[1], 0, 2);
    block(&r[2], 0, 2);
    clk(&r[0], 40, 0);
    clk(&r[1], 40, 2);
    clk(&r[2], 40, 5);
    xchg_link_result *res = run(r, ag, 3);
    assert_int_equal(res->npersons, 2);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_equal(res->fuzzy_links, 1);
    assert_int_equal(res->person_refused, 1);
    assert_int_equal(res->nreview, 0);
    xchg_link_result_free(res);
    /* the same chain through exact keys: B shares name_dob with A and phon_dob with C; the
     * second merge is refused and reported as a conflict on phon_dob */
    for (int i = 0; i < 3; i++)
        r[i].r.clk = NULL, r[i].r.clk_len = 0, r[i].r.nblock = 0;
    match(&r[0], K_NAME, 10);
    match(&r[1], K_NAME, 10);
    match(&r[1], K_PHON, 11);
    match(&r[2], K_PHON, 11);
    res = run(r, ag, 3);
    assert_int_equal(res->npersons, 2);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_equal(res->exact_person_refused, 1);
    assert_int_equal(res->nconflicts, 1);
    assert_int_equal(res->conflicts[0].key, (int16_t)K_PHON);
    assert_int_equal(res->conflicts[0].a, 1);
    assert_int_equal(res->conflicts[0].b, 2);
    xchg_link_result_free(res);
    /* without the declaration (base agreement, one_to_one off is not available there:
     * one_to_one refuses B-C instead, so the chain is also broken, but as a solver rule) */
    pol = pol_base;
}

static void test_agency_person_ids(void **state)
{
    (void)state;
    pol = pol_person;
    /* P1 and P2: police records with different police person ids, very similar (0.95);
     * S, a pupil, is similar to both. P3 and P4 share a police id and nothing else. */
    struct rb r[5];
    size_t ag[5] = {POLICE, POLICE, SCHOOL, POLICE, POLICE};
    rinit(&r[0], "P1");
    rinit(&r[1], "P2");
    rinit(&r[2], "S");
    rinit(&r[3], "P3");
    rinit(&r[4], "P4");
    pid(&r[0], 1);
    pid(&r[1], 2);
    pid(&r[3], 3);
    pid(&r[4], 3);
    for (int i = 0; i < 3; i++)
        block(&r[i], 0, 9);
    clk(&r[0], 40, 0);
    clk(&r[1], 40, 2);   /* P1-P2 0.95 */
    clk(&r[2], 40, 127); /* S-P1 0.975, S-P2 0.925 */
    xchg_link_result *res = run(r, ag, 5);
    assert_int_equal(res->npersons, 3);
    assert_int_equal(res->person[0], res->person[2]); /* the best pair S-P1 */
    assert_int_not_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[3], res->person[4]); /* the police say: one person */
    assert_int_not_equal(res->person[3], res->person[0]);
    assert_int_equal(res->person_refused, 2); /* P1-P2 and S-P2 */
    assert_int_equal(res->fuzzy_links, 1);
    xchg_link_result_free(res);
    /* a person-id token from an agency that declares none is refused */
    xchg_linkset *ls = NULL;
    assert_int_equal(xchg_linkset_new(pol, &ls), XCHG_OK);
    assert_int_equal(xchg_linkset_add(ls, SCHOOL, 1, &r[0].r), XCHG_ERR_ARG);
    xchg_linkset_free(ls);
    pol = pol_base;
}

static void test_one_to_one_on_clusters(void **state)
{
    (void)state;
    /* P1 (police) and S1 (school) are one person by an exact key. S2 (school) is similar
     * to P1 (0.95) but P1's cluster already holds a school record: refused, listed for
     * review. P2 (police) is similar to S2 (0.925): linked. P3 (police), a duplicate of P1
     * within the police (0.95), joins P1's person: a link within one agency may join
     * clusters that share only that agency. */
    struct rb r[5];
    size_t ag[5] = {POLICE, SCHOOL, SCHOOL, POLICE, POLICE};
    const char *names[5] = {"P1", "S1", "S2", "P2", "P3"};
    for (int i = 0; i < 5; i++)
        rinit(&r[i], names[i]);
    match(&r[0], K_NAME, 20);
    match(&r[1], K_NAME, 20);
    block(&r[0], 0, 100);
    block(&r[2], 0, 100);
    block(&r[2], 0, 101);
    block(&r[3], 0, 101);
    block(&r[0], 0, 102);
    block(&r[4], 0, 102);
    block(&r[0], 1, 103); /* P1, S2: the same postcode too, so a review question */
    block(&r[2], 1, 103);
    clk(&r[0], 40, 0);
    clk(&r[2], 40, 2);
    clk(&r[3], 40, 5);
    clk(&r[4], 40, 126);
    xchg_link_result *res = run(r, ag, 5);
    assert_int_equal(res->npersons, 2);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[0], res->person[4]);
    assert_int_equal(res->person[2], res->person[3]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_equal(res->fuzzy_links, 2);
    assert_int_equal(res->one_to_one_refused, 1);
    assert_int_equal(res->nreview, 1);
    assert_int_equal(res->review[0].a, 0);
    assert_int_equal(res->review[0].b, 2);
    xchg_link_result_free(res);
    /* sharing only a surname sound and a birth year is not enough to be asked about */
    r[0].r.nblock--;
    r[2].r.nblock--;
    res = run(r, ag, 5);
    assert_int_equal(res->one_to_one_refused, 1);
    assert_int_equal(res->nreview, 0);
    xchg_link_result_free(res);
}

static void test_cluster_score(void **state)
{
    (void)state;
    pol = pol_person; /* clusters not matched one to one: only the cluster score decides */
    /* A1 and A2 (police) are one person by an exact key. X (school) shares both blocks
     * with A1 only and scores 0.95 with it, but 0.55 with A2: the two clusters score 0.75
     * on average, below the threshold (0.9), so X stays apart and the pair is a review
     * question. */
    struct rb r[3];
    size_t ag[3] = {POLICE, POLICE, SCHOOL};
    const char *names[3] = {"A1", "A2", "X"};
    for (int i = 0; i < 3; i++)
        rinit(&r[i], names[i]);
    match(&r[0], K_NAME, 30);
    match(&r[1], K_NAME, 30);
    block(&r[0], 0, 31);
    block(&r[2], 0, 31);
    block(&r[0], 1, 32);
    block(&r[2], 1, 32);
    clk(&r[0], 40, 0);
    clk(&r[1], 40, 20);
    clk(&r[2], 40, 2);
    xchg_link_result *res = run(r, ag, 3);
    assert_int_equal(res->npersons, 2);
    assert_int_equal(res->person[0], res->person[1]);
    assert_int_not_equal(res->person[0], res->person[2]);
    assert_int_equal(res->fuzzy_links, 0);
    assert_int_equal(res->nreview, 1);
    assert_int_equal(res->review[0].a, 0);
    assert_int_equal(res->review[0].b, 2);
    assert_true(res->review[0].score > 0.94f && res->review[0].score < 0.96f);
    xchg_link_result_free(res);
    /* A2 like A1 (0.975): X scores 0.95 and 0.975 with the person, 0.9625 on average, and
     * joins it; nothing left to review */
    clk(&r[1], 40, 1);
    res = run(r, ag, 3);
    assert_int_equal(res->npersons, 1);
    assert_int_equal(res->person[0], res->person[2]);
    assert_int_equal(res->fuzzy_links, 1);
    assert_int_equal(res->nreview, 0);
    xchg_link_result_free(res);
    /* a single pair is scored as it stands: X and A1 alone link at 0.95 */
    struct rb two[2] = {r[0], r[2]};
    size_t ag2[2] = {POLICE, SCHOOL};
    two[0].r.clk = two[0].clk;
    two[1].r.clk = two[1].clk;
    res = run(two, ag2, 2);
    assert_int_equal(res->npersons, 1);
    assert_int_equal(res->fuzzy_links, 1);
    xchg_link_result_free(res);
    pol = pol_base;
}

static void test_decisions(void **state)
{
    (void)state;
    /* A and B share name_dob; C and D share nothing. Decisions: A, B different people;
     * C, D one person; one decision names a record no longer in the set. */
    struct rb r[4];
    size_t ag[4] = {POLICE, SCHOOL, POLICE, SCHOOL};
    for (int i = 0; i < 4; i++)
        rinit(&r[i], i == 0 ? "A" : i == 1 ? "B" : i == 2 ? "C" : "D");
    match(&r[0], K_NAME, 30);
    match(&r[1], K_NAME, 30);
    match(&r[2], K_NAME, 31);
    match(&r[3], K_NAME, 32);
    xchg_link_params lp = {.run_date = RUN, .pseudonym_key = pkey, .threads = 1};
    xchg_link_result *res = run_with(&lp, r, ag, 4, XCHG_OK);
    assert_int_equal(res->npersons, 3);
    assert_int_equal(res->person[0], res->person[1]);
    xchg_link_result_free(res);
    const xchg_link_decision dec[3] = {{100, 101, 0}, {102, 103, 1}, {100, 999, 1}};
    lp.decisions = dec;
    lp.ndecisions = 3;
    res = run_with(&lp, r, ag, 4, XCHG_OK);
    assert_int_equal(res->npersons, 3);
    assert_int_not_equal(res->person[0], res->person[1]);
    assert_int_equal(res->person[2], res->person[3]);
    assert_int_equal(res->decisions_applied, 2);
    assert_int_equal(res->decisions_stale, 1);
    assert_int_equal(res->nconflicts, 1); /* the name_dob merge refused */
    xchg_link_result_free(res);
    /* contradictory: A-C same, C-B same, A-B different */
    const xchg_link_decision bad[3] = {{100, 102, 1}, {102, 101, 1}, {101, 100, 0}};
    lp.decisions = bad;
    res = run_with(&lp, r, ag, 4, XCHG_ERR_ARG);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitive),
        cmocka_unit_test(test_over_merge_guard),
        cmocka_unit_test(test_twins_kept_apart),
        cmocka_unit_test(test_any_order_not_a_twin),
        cmocka_unit_test(test_moved_family),
        cmocka_unit_test(test_one_to_one),
        cmocka_unit_test(test_rule_needs_both_agencies),
        cmocka_unit_test(test_stable_pseudonyms),
        cmocka_unit_test(test_one_record_per_person_chain),
        cmocka_unit_test(test_agency_person_ids),
        cmocka_unit_test(test_one_to_one_on_clusters),
        cmocka_unit_test(test_cluster_score),
        cmocka_unit_test(test_decisions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
