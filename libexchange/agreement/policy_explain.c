/*
 * Plain-English summary of an agreement, for an IG lead to paste into a DPIA.
 *
 * Every sentence printed here is either what the agreement itself says (marked as such:
 * "the agreement states", "the agreement asks") or a promise about what the tools do —
 * and each kind of promise is backed by a test: the table in docs/policy.md ("What
 * `policy explain` promises") names it, and tests/unit/test_policy.c fixes the whole
 * output for policies/phase2.yaml (tests/fixtures/policy/phase2.explain.txt). A
 * behaviour that is not built is not promised: where the agreement asks for one, the text
 * says that no tool applies it yet.
 */
#include "exchange/consent.h"
#include "exchange/date.h"
#include "exchange/policy.h"
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_parties(xchg__buf *b, const xchg_policy_data *p, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xchg__buf_printf(b, "%s%s", i == 0 ? "" : (i + 1 == n ? " and " : ", "), p->parties[idx[i]].label);
}

static const char *req_text(xchg_requirement r)
{
    switch (r) {
    case XCHG_REQ_NONE: return "no consent needed: the agreement's legal basis applies";
    case XCHG_REQ_ENGAGEMENT: return "only when the person has agreed to the referral";
    case XCHG_REQ_EXPLICIT: return "only with the person's explicit consent";
    }
    return "?";
}

static const char *ident_req_text(xchg_requirement r)
{
    switch (r) {
    case XCHG_REQ_NONE: return "no consent needed: the agreement's legal basis applies";
    case XCHG_REQ_ENGAGEMENT: return "only when the person has agreed to take part";
    case XCHG_REQ_EXPLICIT: return "only with the person's explicit consent";
    }
    return "?";
}

static void unless_text(xchg__buf *b, const xchg_consent_rule *r)
{
    if (!r || !r->nunless)
        return;
    xchg__buf_printf(b, ", or where the record carries a legal basis for sharing without it (");
    for (size_t j = 0; j < r->nunless; j++)
        xchg__buf_printf(b, "%s%s", j ? ", " : "", r->unless_basis[j]);
    xchg__buf_printf(b, ")");
}

static const char *agg_text(xchg_agg a)
{
    switch (a) {
    case XCHG_AGG_ROW: return "";
    case XCHG_AGG_SUM: return "total ";
    case XCHG_AGG_RATIO: return "ratio ";
    }
    return "";
}

static const char *op_text(xchg_op o)
{
    switch (o) {
    case XCHG_OP_LT: return "below";
    case XCHG_OP_LE: return "at most";
    case XCHG_OP_GT: return "above";
    case XCHG_OP_GE: return "at least";
    case XCHG_OP_EQ: return "is";
    case XCHG_OP_NE: return "is not";
    case XCHG_OP_IN: return "is one of";
    case XCHG_OP_PRESENT: return "is recorded";
    }
    return "?";
}

static void window_text(xchg__buf *b, const xchg_policy_data *p, const xchg_criterion *c)
{
    if (c->terms)
        xchg__buf_printf(b, " over the last %u school term%s", c->terms, c->terms == 1 ? "" : "s");
    else if (c->days)
        xchg__buf_printf(b, " within %d days", c->days);
    else
        xchg__buf_printf(b, " within %d days", p->rule_window_days);
}

static void criterion_text(xchg__buf *b, const xchg_policy_data *p, const xchg_criterion *c)
{
    static const char *const scope[] = {"", "a person: ", "each person with records: ",
                                        "the family together: "};
    if (c->nmoved_from) {
        /* who moved: a member with these events in the identification window */
        int fam = c->scope == XCHG_SCOPE_FAMILY || c->kind == XCHG_CRIT_NONE;
        xchg__buf_printf(b, fam ? "the family, when a member had " : "a person who had ");
        for (size_t i = 0; i < c->nmoved_from; i++)
            xchg__buf_printf(b, "%s%s", i ? (i + 1 == c->nmoved_from ? " or " : ", ") : "",
                p->measures[c->moved_from[i]].name);
        xchg__buf_printf(b, " when identified: ");
    } else if (c->scope) {
        xchg__buf_printf(b, "%s", scope[c->scope]);
    }
    if (c->kind == XCHG_CRIT_ALL || c->kind == XCHG_CRIT_ANY) {
        xchg__buf_printf(b, "%s (", c->kind == XCHG_CRIT_ALL ? "all of" : "any of");
        for (size_t i = 0; i < c->nsub; i++) {
            xchg__buf_printf(b, "%s", i ? "; " : "");
            criterion_text(b, p, &c->sub[i]);
        }
        xchg__buf_printf(b, ")");
    } else {
        static const char *const what[] = {"number of", "total of", "proportion", "any",
                                           "unbroken", "no", "reduction of"};
        xchg__buf_printf(b, "%s ", what[c->kind]);
        for (size_t i = 0; i < c->nmeasures; i++)
            xchg__buf_printf(b, "%s%s", i ? (i + 1 == c->nmeasures ? " or " : ", ") : "",
                p->measures[c->measures[i]].name);
        if (c->kind <= XCHG_CRIT_RATIO)
            xchg__buf_printf(b, " %s %g", op_text(c->op), c->number);
        if (c->kind == XCHG_CRIT_REDUCTION)
            xchg__buf_printf(b, " by %g%% against the baseline", c->reduction * 100);
        window_text(b, p, c);
    }
    if (c->child_in_family)
        xchg__buf_printf(b, ", with a child (under 18) in the family");
    if (c->nbaseline_with)
        xchg__buf_printf(b, " (applies when the baseline had %s)", p->measures[c->baseline_with[0]].name);
    if (c->nbaseline_without)
        xchg__buf_printf(b, " (applies when the baseline had no %s)", p->measures[c->baseline_without[0]].name);
}

static void rule_text(xchg__buf *b, const xchg_policy_data *p, const xchg_rule_expr *r)
{
    if (r->kind == XCHG_RULE_AT_LEAST) {
        xchg__buf_printf(b, "at least %u of (", r->at_least);
        for (size_t i = 0; i < r->nof; i++)
            xchg__buf_printf(b, "%s%s", i ? ", " : "", p->problems[r->of[i]].code);
        xchg__buf_printf(b, ")");
        return;
    }
    xchg__buf_printf(b, "%s [", r->kind == XCHG_RULE_ALL ? "all of" : "any of");
    for (size_t i = 0; i < r->nsub; i++) {
        xchg__buf_printf(b, "%s", i ? "; " : "");
        rule_text(b, p, &r->sub[i]);
    }
    xchg__buf_printf(b, "]");
}

xchg_err xchg_policy_explain(const xchg_policy *pol, char **out)
{
    if (!pol || !out)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    xchg__buf b = {0};
    char d1[11], d2[11], d3[11];
    xchg_date_format(p->valid_from, d1);
    xchg_date_format(p->review_by, d2);
    xchg_date_format(p->expires, d3);

    xchg__buf_printf(&b, "%s\n", p->title);
    for (size_t i = 0; p->title[i]; i++)
        xchg__buf_printf(&b, "=");
    xchg__buf_printf(&b, "\n\nAgreement %s, version %ld, owned by %s.\n", p->id, p->version,
        p->owner != XCHG_NONE ? p->parties[p->owner].label : "?");
    xchg__buf_printf(&b, "In force from %s to %s; to be reviewed by %s.%s%s%s\n", d1, d3, d2,
        p->dpia ? " DPIA reference: " : "", p->dpia ? p->dpia : "", p->dpia ? "." : "");
    xchg__buf_printf(&b, "No tool acts under it until every party marked below as signing has signed "
            "these exact bytes, nor before %s or after %s; after %s verifying it warns that "
            "the review is due.\n\n",
        d1, d3, d2);

    xchg__buf_printf(&b, "Purpose\n-------\n%s\n", p->purpose);
    if (p->benefit)
        xchg__buf_printf(&b, "\nExpected benefit: %s\n", p->benefit);
    for (size_t i = 0; i < p->npurposes; i++)
        xchg__buf_printf(&b, "- %s: %s\n", p->purposes[i], p->purpose_text[i]);

    xchg__buf_printf(&b, "\nLegal basis\n-----------\n- Article 6: %s\n", p->article6);
    if (p->article9)
        xchg__buf_printf(&b, "- Article 9 (special-category data): %s\n", p->article9);
    if (p->article10)
        xchg__buf_printf(&b, "- Article 10 (criminal-offence data): %s\n", p->article10);
    for (size_t i = 0; i < p->ngateways; i++)
        xchg__buf_printf(&b, "- Gateway: %s\n", p->gateways[i]);
    if (p->controllers)
        xchg__buf_printf(&b, "The agreement states that the parties are %s controllers.\n", p->controllers);

    xchg__buf_printf(&b, "\nWho takes part\n--------------\n");
    size_t unbound = xchg_policy_unbound(pol);
    if (unbound) /* a draft (docs/policy.md "Drafts"): policy_sign.c refuse_draft */
        xchg__buf_printf(&b, "This is a draft: %zu of %zu parties have no key yet (key unbound). No one can "
                "sign it, and no tool acts under it, until every party's key is bound.\n",
            unbound, p->nparties);
    for (size_t i = 0; i < p->nparties; i++) {
        const xchg_party *q = &p->parties[i];
        char hex[XCHG_KEYID_HEXLEN + 1];
        if (q->unbound) /* a draft: no key yet (docs/policy.md "Drafts") */
            snprintf(hex, sizeof hex, "unbound");
        else
            xchg_keyid_hex(q->key.id, hex);
        xchg__buf_printf(&b, "- %s (%s, %s; key %s)%s\n", q->label, q->id, xchg_role_name(q->role), hex,
            q->signs ? ", must sign the agreement" : "");
        if (q->legal_basis)
            xchg__buf_printf(&b, "    basis: %s\n", q->legal_basis);
    }

    xchg__buf_printf(&b, "\nWhat each agency shares\n-----------------------\n");
    for (size_t e = 0; e < p->nextracts; e++) {
        const xchg_extract *x = &p->extracts[e];
        xchg__buf_printf(&b, "%s sends, for each record:\n", p->parties[x->agency].label);
        xchg__buf_printf(&b, "  - identifiers, only as keyed hashes the matcher cannot reverse: ");
        int first = 1;
        for (size_t c = 0; c < x->ncolumns; c++) {
            const xchg_field *f = &p->fields[x->columns[c].field];
            if (!f->identifying)
                continue;
            xchg__buf_printf(&b, "%s%s", first ? "" : ", ", f->name);
            first = 0;
        }
        xchg__buf_printf(&b, "%s\n", first ? "none" : "");
        if (p->fuzzy.clk_schema_json)
            xchg__buf_printf(&b, "  - a Bloom-filter encoding of its identifiers, keyed with the same secret\n");
        xchg__buf_printf(&b, "  - its own record reference (column '%s'), in clear, so that a referral can "
                "point back to the case\n",
            x->record_ref);
        if (x->nindicators) {
            int measures = 0;
            for (size_t i = 0; i < x->nindicators; i++)
                measures |= x->indicators[i].measure != XCHG_NONE;
            xchg__buf_printf(&b, "  - %s, with their dates, only for events within the extract's period and "
                    "only for records its identification consent rule allows (below):\n",
                measures ? "problem indicators and measures" : "problem indicators it may assert");
            for (size_t i = 0; i < x->nindicators; i++) {
                const xchg_indicator *in = &x->indicators[i];
                if (in->measure != XCHG_NONE) {
                    xchg__buf_printf(&b, "      measure '%s'", p->measures[in->measure].name);
                    if (in->value_field != XCHG_NONE)
                        xchg__buf_printf(&b, " (%s%s%s)", p->fields[in->value_field].name,
                            in->of_field != XCHG_NONE ? " of " : "",
                            in->of_field != XCHG_NONE ? p->fields[in->of_field].name : "");
                    if (in->age_min >= 0 || in->age_below >= 0) {
                        xchg__buf_printf(&b, " for a person aged");
                        if (in->age_min >= 0)
                            xchg__buf_printf(&b, " %d or over", in->age_min);
                        if (in->age_below >= 0)
                            xchg__buf_printf(&b, "%s under %d", in->age_min >= 0 ? " and" : "", in->age_below);
                        xchg__buf_printf(&b, " on the date");
                    }
                    xchg__buf_printf(&b, in->nall ? " when " : " for every row");
                } else {
                    xchg__buf_printf(&b, "      %s when ", p->problems[in->problem].title);
                }
                for (size_t k = 0; k < in->nall; k++) {
                    const xchg_condition *cd = &in->all[k];
                    xchg__buf_printf(&b, "%s%s%s", k ? " and " : "", agg_text(cd->agg), p->fields[cd->field].name);
                    if (cd->agg == XCHG_AGG_RATIO)
                        xchg__buf_printf(&b, "/%s", p->fields[cd->field2].name);
                    xchg__buf_printf(&b, " %s", op_text(cd->op));
                    if (cd->op <= XCHG_OP_GE)
                        xchg__buf_printf(&b, " %g", cd->number);
                    else if (cd->op == XCHG_OP_EQ || cd->op == XCHG_OP_NE)
                        xchg__buf_printf(&b, " %s", cd->text);
                    else if (cd->op == XCHG_OP_IN)
                        for (size_t j = 0; j < cd->nlist; j++)
                            xchg__buf_printf(&b, "%s%s", j ? ", " : " ", cd->list[j]);
                }
                xchg__buf_printf(&b, "\n");
            }
        }
        if (!p->linkage_only) {
            xchg__buf_printf(&b, "  - detail for the recipients, encrypted so that only they can read it: ");
            for (size_t i = 0; i < x->npayload; i++)
                xchg__buf_printf(&b, "%s%s", i ? ", " : "", p->fields[x->payload[i]].name);
            xchg__buf_printf(&b, "%s\n", x->npayload ? "" : "none");
        }
        if (x->consent_column)
            xchg__buf_printf(&b, "  - the consent recorded for the person (column '%s')%s\n", x->consent_column,
                x->basis_column ? " and any legal basis recorded for sharing without it" : "");
        if (x->one_record_per_person)
            xchg__buf_printf(&b, "  - its declaration that it holds at most one record per person\n");
        if (x->person_id != XCHG_NONE)
            xchg__buf_printf(&b, "  - a keyed hash of its own person identifier ('%s'), compared only for "
                    "equality between its own records\n",
                p->fields[x->person_id].name);
        xchg__buf_printf(&b, "  Columns the agreement does not map never leave the agency.\n");
    }

    if (p->linkage_only)
        xchg__buf_printf(&b, "\nThis is a linkage-only agreement: it has no eligibility rule and no release; "
                "the matcher links records into persons and nothing leaves it.\n");
    else
        xchg__buf_printf(&b, "\nWho qualifies\n-------------\nA family is eligible when at least %u of these "
                "%zu problems are evidenced within %d days:\n",
            p->rule_at_least, p->nrule_of, p->rule_window_days);
    for (size_t i = 0; i < p->nrule_of; i++) {
        const xchg_problem *pb = &p->problems[p->rule_of[i]];
        xchg__buf_printf(&b, "- %s (evidenced by ", pb->title);
        list_parties(&b, p, pb->asserted_by, pb->nasserted);
        xchg__buf_printf(&b, ")\n");
        for (size_t k = 0; k < pb->nidentify; k++) {
            xchg__buf_printf(&b, "    %s: ", pb->identify[k].id ? pb->identify[k].id : "criterion");
            criterion_text(&b, p, &pb->identify[k]);
            xchg__buf_printf(&b, "\n");
        }
    }
    if (p->rule.kind != XCHG_RULE_AT_LEAST) {
        xchg__buf_printf(&b, "The rule in full: ");
        rule_text(&b, p, &p->rule);
        xchg__buf_printf(&b, "\n");
    }
    int outcomes = 0;
    for (size_t i = 0; i < p->nproblems; i++)
        outcomes |= p->problems[i].noutcome > 0;
    if (outcomes) {
        xchg__buf_printf(&b, "\nOutcomes and claims\n-------------------\nProgress is judged on evidence "
                "dated after the family was identified (docs/programme.md):\n");
        for (size_t i = 0; i < p->nproblems; i++) {
            const xchg_problem *pb = &p->problems[i];
            if (!pb->noutcome)
                continue;
            xchg__buf_printf(&b, "- %s: %s of\n", pb->title, pb->outcome_any ? "any" : "all");
            for (size_t k = 0; k < pb->noutcome; k++) {
                xchg__buf_printf(&b, "    %s: ", pb->outcome[k].id ? pb->outcome[k].id : "criterion");
                criterion_text(&b, p, &pb->outcome[k]);
                xchg__buf_printf(&b, "\n");
            }
        }
        if (p->claim_all_identified)
            xchg__buf_printf(&b, "A family can be claimed for when every problem it was identified on shows "
                    "its outcome.\n");
        for (size_t g = 0; g < p->nclaim_groups; g++) {
            xchg__buf_printf(&b, "%s", g ? "Or when " : "A family can be claimed for when ");
            for (size_t k = 0; k < p->claim_groups[g].nproblems; k++)
                xchg__buf_printf(&b, "%s%s", k ? (k + 1 == p->claim_groups[g].nproblems ? " and " : ", ") : "",
                    p->problems[p->claim_groups[g].problems[k]].title);
            xchg__buf_printf(&b, " (those it was identified on, at least one) all show their outcomes.\n");
        }
    }

    xchg__buf_printf(&b, "\nWhat the matcher can and cannot see\n-----------------------------------\n");
    size_t m = xchg_policy_matcher(pol);
    xchg__buf_printf(&b, "%s links records using keyed hashes of identifiers (%zu exact match keys",
        m != XCHG_NONE ? p->parties[m].label : "The matcher", p->nmatch_keys);
    if (p->fuzzy.clk_schema_json)
        xchg__buf_printf(&b, ", and Bloom-filter encodings linked at a Dice similarity of %.2f or more; pairs "
                "from %.2f that are not linked and share a date-based blocking key are listed "
                "for clerical review",
            p->fuzzy.threshold, p->fuzzy.review_low);
    xchg__buf_printf(&b, "). It never holds the linkage secret, so it cannot compute a hash for a name it "
            "guesses. It sees which records share a key, how similar encodings are, the problem "
            "indicators with their dates, consent status and any recorded legal basis, and each "
            "agency's record references. It cannot read names, dates of birth, addresses or any "
            "other detail: those travel encrypted to the recipients.\n");
    if (p->tokens.mode == XCHG_TOKENS_OPRF)
        xchg__buf_printf(&b, "The exact match keys also need the agreement's key service (%s): an agency "
                "obtains each one by a blinded request the service cannot read and whose answer "
                "it verifies against the key every signatory signed, at most %ld per agency per "
                "day, each request recorded with its count. No agency can compute them offline "
                "for a guessed identity. The Bloom-filter encodings, blocking and household keys "
                "stay keyed with the linkage secret every agency holds.\n",
            p->tokens.keyd, p->tokens.queries_per_day);
    if (p->nmeasures)
        xchg__buf_printf(&b, "For the programme's criteria it also sees each measure's events with their "
                "dates and numbers (for example a pupil's sessions attended and possible in a "
                "term), and each person's age in whole years on the extract's period end (not "
                "the date of birth).\n");
    if (p->area_field != XCHG_NONE || p->nareas)
        xchg__buf_printf(&b, "For reports it sees each record's area (%s), never the postcode or "
                "address.\n",
            p->area_field != XCHG_NONE ? p->fields[p->area_field].name
                                       : "from the agreement's postcode table");

    if (!p->linkage_only) {
        xchg__buf_printf(&b, "\nWho receives referrals\n----------------------\n");
        list_parties(&b, p, p->recipients, p->nrecipients);
        xchg__buf_printf(&b, " receive%s referral packets for approved families. A packet is released, and can "
                "be opened, only with the signed approvals of %u distinct matcher operator%s (",
            p->nrecipients == 1 ? "s" : "", p->approvals_required,
            p->approvals_required == 1 ? "" : "s");
        size_t nop = 0;
        for (size_t i = 0; i < p->nparties; i++)
            if (p->parties[i].role == XCHG_ROLE_OPERATOR)
                xchg__buf_printf(&b, "%s%s", nop++ ? ", " : "", p->parties[i].id);
        xchg__buf_printf(&b, "); the matcher alone cannot release one. Each packet is encrypted to its "
                "recipient.\n");
        /* the release key (docs/release.md "The release key"): enforced by seal, approve,
           packet and open (tests/unit/test_threshold.c, tests/cli/threshold.sh) */
        if (p->release_key.present)
            xchg__buf_printf(&b, "The approval is also a cryptographic step: every record's detail is sealed "
                    "under a release key whose secret is split among the %zu operators, and it "
                    "opens only with the contributions of %u of them, made for exactly the "
                    "records they approved and the consent filter releases; the matcher and a "
                    "recipient together cannot read anything else.\n",
                p->release_key.nshares, p->release_key.threshold);
        else if (p->release_key.pending)
            xchg__buf_printf(&b, "The agreement requires a release key, but it has not been dealt: no agency "
                    "can seal under it until the IG lead deals it (xchg release-key deal) and the "
                    "dealt agreement is signed again.\n");
        else
            xchg__buf_printf(&b, "The agreement has no release key: the two-person rule is procedural only; "
                    "the matcher's store and a recipient's key together open every stored "
                    "detail.\n");

        xchg__buf_printf(&b, "\nConsent\n-------\n");
        xchg__buf_printf(&b, "Identification: a record whose consent does not meet its agency's identification "
                "rule is sealed without its problem indicators, so it cannot make a family "
                "eligible; its keyed hashes, consent status and encrypted detail still travel. "
                "Referral: detail whose consent does not meet the referral rule does not travel in "
                "the packet, and the packet does not name it: no agency, reference, problem or "
                "date; per agency the agreement's 'withheld' setting decides whether the packet "
                "says that more is held (notice, the default), says nothing (silent) or names the "
                "agency and reference (named). The problems and dates a packet lists come only "
                "from the records released in it.\n");
        for (size_t e = 0; e < p->nextracts; e++) {
            size_t ag = p->extracts[e].agency;
            const xchg_consent_rule *id = xchg_consent_rule_for(pol, ag, XCHG_PURPOSE_IDENTIFICATION);
            xchg__buf_printf(&b, "- %s, for identification: %s", p->parties[ag].label,
                id ? ident_req_text(id->requires)
                   : "no rule set, so the agreement's legal basis applies");
            unless_text(&b, id);
            xchg__buf_printf(&b, "; %s.\n",
                !id || id->objection_stops
                    ? "a recorded withdrawal of consent is an objection that stops its use"
                    : "a recorded withdrawal of consent does not stop its use (the agreement says "
                      "so)");
            for (size_t i = 0; i < p->nconsent; i++) {
                const xchg_consent_rule *r = &p->consent[i];
                if (r->agency != ag || strcmp(r->purpose, XCHG_PURPOSE_IDENTIFICATION) == 0)
                    continue;
                xchg__buf_printf(&b, "- %s, for %s: %s", p->parties[ag].label, r->purpose, req_text(r->requires));
                unless_text(&b, r);
                if (strcmp(r->purpose, XCHG_PURPOSE_REFERRAL) == 0)
                    xchg__buf_printf(&b, "; when withheld, the packet %s",
                        r->withheld == XCHG_WITHHELD_SILENT
                            ? "says nothing of it"
                        : r->withheld == XCHG_WITHHELD_NAMED
                            ? "names the agency and the record reference, with the reason"
                            : "says only that more is held and can be shared with consent");
                xchg__buf_printf(&b, ".\n");
            }
        }
    }

    xchg__buf_printf(&b, "\nRetention and reporting\n-----------------------\n");
    xchg__buf_printf(&b, "`xchg match ingest` and `xchg match run` purge every extract received more than "
            "%ld days ago (its records, tokens, payloads and run-level family summaries), with "
            "an audit entry; `xchg match purge` stays for manual use.\n",
        p->retention_days);
    xchg__buf_printf(&b, "`xchg report` publishes the programme's tables with every count below %ld "
            "suppressed%s, further counts suppressed so that none can be recovered from the "
            "totals, and every other count rounded to the nearest %ld; each report is recorded "
            "in the audit log with its SHA-256.\n",
        p->suppress_below, p->suppress_zeros ? " (zeros included)" : "", p->round_to);
    if (p->frequency)
        xchg__buf_printf(&b, "The agreement states how often data is shared: %s (no tool schedules or "
                "checks this).\n",
            p->frequency);

    if (b.nomem) {
        free(b.s);
        return XCHG_ERR_NOMEM;
    }
    *out = b.s;
    return XCHG_OK;
}
