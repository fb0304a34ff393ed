/* The operator queue's rules (matcher.h, queue.c): states, whose decisions count for whom,
 * what an operator may still decide or release, filters. Forged, stale and replayed
 * decision rows, another operator's rows and a key that is no party's are the adversarial
 * cases: none may count as "mine". */
#include "test_helpers.h"

static xchg_release_decision dec(const char *party, int approve, int verified, int current,
                                 int64_t t)
{
    xchg_release_decision d;
    memset(&d, 0, sizeof d);
    snprintf(d.operator_party, sizeof d.operator_party, "%s", party);
    d.approve = approve;
    d.verified = verified;
    d.current = current;
    d.time = t;
    return d;
}

static xchg_release_state st_of(unsigned approvals, unsigned required, int rejected,
                                unsigned packets, int change)
{
    xchg_release_state s;
    memset(&s, 0, sizeof s);
    s.approvals = approvals;
    s.required = required;
    s.rejected = rejected;
    s.packets = packets;
    s.change = change;
    return s;
}

static void test_states_and_names(void **state)
{
    (void)state;
    static const struct {
        unsigned approvals, required;
        int rejected;
        unsigned packets;
        int change;
        const char *want;
    } t[] = {
        {0, 2, 0, 0, 0, "new"},       {0, 2, 0, 0, 1, "changed"},
        {0, 2, 0, 0, 2, "unchanged"}, {0, 2, 0, 0, -1, "unchanged"},
        {1, 2, 0, 0, 0, "awaiting"},  {2, 2, 0, 0, 1, "approved"},
        {3, 2, 0, 0, 2, "approved"},  {2, 2, 1, 0, 0, "rejected"},
        {0, 2, 1, 0, 2, "rejected"},  {2, 2, 0, 1, 0, "released"},
        {0, 2, 1, 3, 0, "released"},  {1, 0, 0, 0, 0, "awaiting"}, /* required 0: never approved */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        xchg_release_state s =
            st_of(t[i].approvals, t[i].required, t[i].rejected, t[i].packets, t[i].change);
        xchg_queue_entry q;
        xchg_queue_judge(&s, NULL, 0, "op1", &q);
        assert_string_equal(xchg_queue_state_name(q.state), t[i].want);
        assert_int_equal(xchg_queue_filter_parse(t[i].want), (int)q.state);
        assert_int_equal(q.undecided, q.state == XCHG_QUEUE_NEW || q.state == XCHG_QUEUE_CHANGED ||
                                          q.state == XCHG_QUEUE_UNCHANGED);
    }
    /* the state order is the queue's sort order */
    const char *order[] = {"new",      "changed",  "awaiting", "approved",
                           "released", "rejected", "unchanged"};
    for (int i = 0; i < XCHG_QUEUE_NSTATES; i++)
        assert_string_equal(xchg_queue_state_name((xchg_queue_state)i), order[i]);
    assert_null(xchg_queue_state_name((xchg_queue_state)XCHG_QUEUE_NSTATES));
    assert_null(xchg_queue_state_name((xchg_queue_state)-1));
    assert_int_equal(xchg_queue_filter_parse("undecided"), XCHG_QUEUE_FILTER_UNDECIDED);
    assert_int_equal(xchg_queue_filter_parse("awaiting_me"), XCHG_QUEUE_FILTER_AWAITING_ME);
    assert_int_equal(xchg_queue_filter_parse("Awaiting"), XCHG_QUEUE_FILTER_NONE);
    assert_int_equal(xchg_queue_filter_parse(""), XCHG_QUEUE_FILTER_NONE);
    assert_int_equal(xchg_queue_filter_parse(NULL), XCHG_QUEUE_FILTER_NONE);
    xchg_queue_entry q;
    xchg_release_state s = st_of(0, 2, 0, 0, 0);
    xchg_queue_judge(&s, NULL, 0, NULL, &q);
    assert_false(xchg_queue_filter_match(XCHG_QUEUE_FILTER_NONE, &q)); /* unknown: none */
    assert_true(xchg_queue_filter_match(XCHG_QUEUE_FILTER_UNDECIDED, &q));
    assert_true(xchg_queue_filter_match(XCHG_QUEUE_NEW, &q));
    assert_false(xchg_queue_filter_match(XCHG_QUEUE_CHANGED, &q));
    assert_false(xchg_queue_filter_match(999, &q));
}

static void test_whose_decisions_count(void **state)
{
    (void)state;
    xchg_queue_entry q;
    xchg_release_state s = st_of(1, 2, 0, 0, 0);
    /* op2 approved: awaiting op1, not op2 */
    xchg_release_decision d1[] = {dec("op2", 1, 1, 1, 100)};
    xchg_queue_judge(&s, d1, 1, "op1", &q);
    assert_int_equal(q.state, XCHG_QUEUE_AWAITING);
    assert_false(q.approved_by_me);
    assert_true(q.awaiting_me);
    assert_true(xchg_queue_filter_match(XCHG_QUEUE_FILTER_AWAITING_ME, &q));
    assert_string_equal(q.last_party, "op2");
    assert_int_equal(q.last_time, 100);
    xchg_queue_judge(&s, d1, 1, "op2", &q);
    assert_true(q.approved_by_me);
    assert_false(q.awaiting_me);
    const char *why = NULL;
    assert_false(xchg_queue_may_decide(&q, &s, 1, &why));
    assert_string_equal(why, "you have already approved it; another operator must approve it");
    assert_true(xchg_queue_may_decide(&q, &s, 0, &why)); /* op2 may still reject */
    assert_null(why);
    /* a forged row (signature does not verify) and a stale one (another member set) in op1's
     * name count for nobody: op1 is still awaited, and the last decision is op2's */
    xchg_release_decision d2[] = {dec("op2", 1, 1, 1, 100), dec("op1", 1, 0, 1, 200),
                                  dec("op1", 1, 1, 0, 300)};
    xchg_queue_judge(&s, d2, 3, "op1", &q);
    assert_false(q.approved_by_me);
    assert_true(q.awaiting_me);
    assert_string_equal(q.last_party, "op2");
    assert_int_equal(q.last_time, 100);
    assert_true(xchg_queue_may_decide(&q, &s, 1, &why));
    /* op2's approval replayed: still op2's alone */
    xchg_release_decision d3[] = {dec("op2", 1, 1, 1, 100), dec("op2", 1, 1, 1, 150)};
    xchg_queue_judge(&s, d3, 2, "op1", &q);
    assert_false(q.approved_by_me);
    assert_true(q.awaiting_me);
    /* a key that is no party's ("" / NULL): nothing is its own, whatever the rows name */
    xchg_release_decision d4[] = {dec("", 1, 1, 1, 100), dec("", 0, 1, 1, 120)};
    xchg_release_state rej = st_of(0, 2, 1, 0, 0);
    xchg_queue_judge(&rej, d4, 2, "", &q);
    assert_false(q.approved_by_me);
    assert_false(q.rejected_by_me);
    xchg_queue_judge(&rej, d4, 2, NULL, &q);
    assert_false(q.rejected_by_me);
}

static void test_rejection_clears_approvals(void **state)
{
    (void)state;
    xchg_queue_entry q;
    const char *why = NULL;
    /* op1 approved, op2 rejected: op1's approval no longer counts, op2 rejected last */
    xchg_release_decision d[] = {dec("op1", 1, 1, 1, 100), dec("op2", 0, 1, 1, 200)};
    xchg_release_state s = st_of(0, 2, 1, 0, 0);
    xchg_queue_judge(&s, d, 2, "op1", &q);
    assert_int_equal(q.state, XCHG_QUEUE_REJECTED);
    assert_false(q.approved_by_me);
    assert_false(q.rejected_by_me);
    assert_false(q.awaiting_me);
    assert_true(xchg_queue_may_decide(&q, &s, 1, &why)); /* op1 may approve again */
    xchg_queue_judge(&s, d, 2, "op2", &q);
    assert_true(q.rejected_by_me);
    assert_false(xchg_queue_may_decide(&q, &s, 0, &why));
    assert_string_equal(why, "you have already rejected it");
    assert_true(xchg_queue_may_decide(&q, &s, 1, &why)); /* but may approve after all */
    /* then op1 approved again: the rejection is no longer the latest */
    xchg_release_decision d2[] = {dec("op1", 1, 1, 1, 100), dec("op2", 0, 1, 1, 200),
                                  dec("op1", 1, 1, 1, 300)};
    xchg_release_state s2 = st_of(1, 2, 0, 0, 0);
    xchg_queue_judge(&s2, d2, 3, "op2", &q);
    assert_false(q.rejected_by_me);
    assert_true(q.awaiting_me);
    xchg_queue_judge(&s2, d2, 3, "op1", &q);
    assert_true(q.approved_by_me);
    /* my rejection the latest, but the state (a tampered or inconsistent one) says not
     * rejected: not "rejected by me" */
    xchg_release_decision d3[] = {dec("op1", 0, 1, 1, 100)};
    xchg_release_state s3 = st_of(0, 2, 0, 0, 0);
    xchg_queue_judge(&s3, d3, 1, "op1", &q);
    assert_false(q.rejected_by_me);
}

static void test_release_and_released(void **state)
{
    (void)state;
    char why[120];
    xchg_release_state s = st_of(1, 2, 0, 0, 0);
    assert_false(xchg_queue_may_release(&s, why, sizeof why));
    assert_string_equal(why, "not approved (1 of 2 approvals)");
    s = st_of(2, 2, 1, 0, 0);
    assert_false(xchg_queue_may_release(&s, why, sizeof why));
    assert_string_equal(why, "not approved (2 of 2 approvals, rejected)");
    s = st_of(2, 2, 0, 0, 0);
    strcpy(why, "untouched");
    assert_true(xchg_queue_may_release(&s, why, sizeof why));
    assert_string_equal(why, "untouched");
    assert_false(
        xchg_queue_may_release(&(xchg_release_state){.approvals = 0, .required = 1}, NULL, 0));
    /* released: no more approvals, a rejection still allowed */
    xchg_queue_entry q;
    const char *w = NULL;
    s = st_of(2, 2, 0, 1, 0);
    xchg_queue_judge(&s, NULL, 0, "op3", &q);
    assert_int_equal(q.state, XCHG_QUEUE_RELEASED);
    assert_false(xchg_queue_may_decide(&q, &s, 1, &w));
    assert_string_equal(w, "it has already been released");
    assert_true(xchg_queue_may_decide(&q, &s, 0, &w));
}

/* Under a release key, approvals carried from an earlier run do not open this period's
 * record versions: the family awaits approvals again, an operator's earlier approval is
 * not "mine" any more, a re-approval is allowed (even after a release), and no packet may
 * be made until the versions are covered. */
static void test_records_newer_than_approvals(void **state)
{
    (void)state;
    xchg_release_state s = st_of(2, 2, 0, 0, 2);
    s.run = 2;
    s.carried = 2;
    s.uncovered = 3;
    xchg_release_decision d[2] = {dec("op1", 1, 1, 1, 10), dec("op2", 1, 1, 1, 11)};
    d[0].run = d[1].run = 1;
    xchg_queue_entry q;
    xchg_queue_judge(&s, d, 2, "op1", &q);
    assert_int_equal(q.state, XCHG_QUEUE_AWAITING);
    assert_false(q.approved_by_me);
    assert_true(q.awaiting_me);
    assert_false(q.renewable_by_me); /* not eligible (st_of): nothing to renew */
    s.eligible = 1;
    xchg_queue_judge(&s, d, 2, "op1", &q);
    assert_true(q.renewable_by_me);
    xchg_queue_judge(&s, d, 2, "op3", &q); /* never approved it: a first decision, not a renewal */
    assert_false(q.renewable_by_me);
    assert_true(q.awaiting_me);
    xchg_queue_judge(&s, d, 2, "op1", &q);
    assert_true(xchg_queue_filter_match(XCHG_QUEUE_FILTER_AWAITING_ME, &q));
    const char *w = NULL;
    assert_true(xchg_queue_may_decide(&q, &s, 1, &w));
    char why[160];
    assert_false(xchg_queue_may_release(&s, why, sizeof why));
    assert_string_equal(why, "3 records are newer than the approvals: 2 operators must approve "
                             "again before they can be released");
    s.uncovered = 1;
    assert_false(xchg_queue_may_release(&s, why, sizeof why));
    assert_string_equal(why, "1 record is newer than the approvals: 2 operators must approve "
                             "again before they can be released");
    /* op1 approves on run 2: theirs now; op2 is still asked */
    xchg_release_decision d2[3] = {d[0], d[1], dec("op1", 1, 1, 1, 20)};
    d2[2].run = 2;
    xchg_queue_judge(&s, d2, 3, "op1", &q);
    assert_true(q.approved_by_me);
    assert_false(q.awaiting_me);
    assert_false(q.renewable_by_me); /* renewed already */
    assert_false(xchg_queue_may_decide(&q, &s, 1, &w));
    xchg_queue_judge(&s, d2, 3, "op2", &q);
    assert_true(q.awaiting_me);
    assert_true(q.renewable_by_me);
    /* released in an earlier run: a re-approval is still allowed while records are uncovered */
    s.packets = 1;
    xchg_queue_judge(&s, d, 2, "op2", &q);
    assert_int_equal(q.state, XCHG_QUEUE_AWAITING);
    assert_true(xchg_queue_may_decide(&q, &s, 1, &w));
    /* covered again: released, approved by both as before */
    s.uncovered = 0;
    xchg_queue_judge(&s, d, 2, "op2", &q);
    assert_int_equal(q.state, XCHG_QUEUE_RELEASED);
    assert_true(q.approved_by_me);
    assert_false(q.renewable_by_me);
    /* release list's label says what the operators must do */
    xchg_release_state l = st_of(2, 2, 0, 0, 2);
    l.uncovered = 2;
    l.carried = 2;
    assert_string_equal(xchg_release_list_label(&l), "re-approve");
    l.uncovered = 0;
    assert_string_equal(xchg_release_list_label(&l), "carried");
    l.carried = 0;
    assert_string_equal(xchg_release_list_label(&l), "unchanged");
    l.uncovered = 1;
    l.rejected = 1;
    assert_string_equal(xchg_release_list_label(&l), "REJECTED");
    l.forged = 1;
    assert_string_equal(xchg_release_list_label(&l), "FORGED");
    l = st_of(0, 2, 0, 0, 0);
    assert_string_equal(xchg_release_list_label(&l), "new");
    l.change = 1;
    assert_string_equal(xchg_release_list_label(&l), "changed");
    l.change = -1;
    assert_string_equal(xchg_release_list_label(&l), "");
    /* a rejection still stops it, uncovered or not */
    s.uncovered = 3;
    s.rejected = 1;
    xchg_queue_judge(&s, d, 2, "op2", &q);
    assert_int_equal(q.state, XCHG_QUEUE_RELEASED);
    assert_false(q.renewable_by_me);
    assert_false(xchg_queue_may_release(&s, why, sizeof why));
}

static void test_problem_filter_and_span(void **state)
{
    (void)state;
    xchg_store_problem pr[3];
    memset(pr, 0, sizeof pr);
    snprintf(pr[0].code, sizeof pr[0].code, "crime");
    pr[0].nagencies = 1;
    snprintf(pr[0].agencies[0], sizeof pr[0].agencies[0], "police");
    pr[0].first = 20000;
    pr[0].last = XCHG_DATE_OPEN;
    snprintf(pr[1].code, sizeof pr[1].code, "school");
    pr[1].nagencies = 2;
    snprintf(pr[1].agencies[0], sizeof pr[1].agencies[0], "school");
    snprintf(pr[1].agencies[1], sizeof pr[1].agencies[1], "social-care");
    pr[1].first = 19990;
    pr[1].last = 20010;
    snprintf(pr[2].code, sizeof pr[2].code, "health");
    pr[2].nagencies = 99; /* more than are named: only the named ones are looked at */
    pr[2].first = XCHG_DATE_NONE;
    pr[2].last = XCHG_DATE_NONE;
    assert_true(xchg_queue_has_problem(pr, 3, NULL, NULL));
    assert_false(xchg_queue_has_problem(pr, 0, NULL, NULL));
    assert_false(xchg_queue_has_problem(NULL, 3, NULL, NULL));
    assert_true(xchg_queue_has_problem(pr, 3, "school", NULL));
    assert_true(xchg_queue_has_problem(pr, 3, NULL, "social-care"));
    assert_true(xchg_queue_has_problem(pr, 3, "school", "social-care"));
    /* code and agency on the same problem: police evidences crime, not school */
    assert_false(xchg_queue_has_problem(pr, 3, "school", "police"));
    assert_false(xchg_queue_has_problem(pr, 3, "crime", "social-care"));
    assert_false(xchg_queue_has_problem(pr, 3, "health", "police"));
    assert_false(xchg_queue_has_problem(pr, 3, "Crime", NULL));
    int32_t f = 0, l = 0;
    xchg_queue_span(pr, 3, &f, &l);
    assert_int_equal(f, 19990);
    assert_int_equal(l, 20010); /* open and absent dates are ignored */
    xchg_queue_span(pr + 2, 1, &f, &l);
    assert_int_equal(f, XCHG_DATE_NONE);
    assert_int_equal(l, XCHG_DATE_NONE);
    xchg_queue_span(NULL, 0, &f, &l);
    assert_int_equal(f, XCHG_DATE_NONE);
    assert_string_equal(xchg_link_how_name(XCHG_LINK_FUZZY), "fuzzy");
    assert_string_equal(xchg_link_how_name(XCHG_LINK_EXACT), "exact");
    assert_string_equal(xchg_link_how_name(XCHG_LINK_NONE), "single");
    assert_string_equal(xchg_link_how_name((xchg_link_how)7), "single");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_and_names),
        cmocka_unit_test(test_whose_decisions_count),
        cmocka_unit_test(test_rejection_clears_approvals),
        cmocka_unit_test(test_release_and_released),
        cmocka_unit_test(test_records_newer_than_approvals),
        cmocka_unit_test(test_problem_filter_and_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
