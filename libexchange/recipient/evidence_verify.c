/*
 * An evidence pack verified offline (evidence.h): the matcher's signature, then the
 * claim re-evaluated from the pack's own events with the same criteria code the matcher
 * ran (programme.c), so a pack whose events do not bear out what it states is refused.
 */
#include "exchange/evidence.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/fileio.h"
#include "evidence_internal.h"
#include "internal.h"
#include "programme.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int date_of(json_t *j, int32_t *out)
{
    const char *s = json_string_value(j);
    if (!s)
        return 0;
    if (strcmp(s, "open") == 0) {
        *out = XCHG_DATE_OPEN;
        return 1;
    }
    return xchg_date_parse(s, strlen(s), out) == XCHG_OK;
}

static size_t measure_index(const xchg_policy_data *pd, const char *name)
{
    for (size_t i = 0; name && i < pd->nmeasures; i++)
        if (strcmp(pd->measures[i].name, name) == 0)
            return i;
    return XCHG_NONE;
}

static size_t problem_index(const xchg_policy_data *pd, const char *code)
{
    for (size_t i = 0; code && i < pd->nproblems; i++)
        if (strcmp(pd->problems[i].code, code) == 0)
            return i;
    return XCHG_NONE;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, __VA_ARGS__);                                \
        bad++;                                                                                     \
    } while (0)

xchg_err xchg_evidence_verify(const xchg_agreement *agr, const char *path, xchg_evidence_verdict *v,
                              xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!p || !path || !v)
        return XCHG_ERR_ARG;
    memset(v, 0, sizeof *v);
    const xchg_policy_data *pd = xchg_policy_get(p);
    size_t mi = xchg_policy_matcher(p);
    if (mi == XCHG_NONE)
        return XCHG_ERR_ARG;
    char *bytes = NULL;
    size_t len = 0, blen = 0;
    xchg_err e = xchg_file_read(path, XCHG_EVIDENCE_MAX + 256, &bytes, &len, d);
    if (e != XCHG_OK)
        return e;
    json_t *j = NULL;
    xchg_prog_ev *ev = NULL;
    uint8_t *ages = NULL;
    int bad = 0;
    if ((e = xchg__evidence_open(bytes, len, &pd->parties[mi].key, &blen, path, d)) != XCHG_OK)
        goto done;
    json_error_t je;
    j = json_loadb(bytes, blen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j) ||
        strcmp(json_string_value(json_object_get(j, "format")) ? json_string_value(json_object_get(j, "format")) : "", "exchange-evidence") != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "evidence pack body is not valid: %s",
                      j ? "not an exchange evidence pack" : je.text);
        e = XCHG_ERR_FORMAT;
        goto done;
    }
    if (json_integer_value(json_object_get(j, "version")) != XCHG_EVIDENCE_VERSION) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "evidence pack version %lld is not supported",
                      (long long)json_integer_value(json_object_get(j, "version")));
        e = XCHG_ERR_VERSION;
        goto done;
    }
    char hex[65];
    xchg_hex_encode(hex, xchg_policy_hash(p), 32);
    const char *ah = json_string_value(json_object_get(json_object_get(j, "agreement"), "sha256"));
    if (!ah || strcmp(ah, hex) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "evidence pack is for another agreement (sha256 %s, not %s)", ah ? ah : "?",
                      hex);
        e = XCHG_ERR_VERIFY;
        goto done;
    }
    snprintf(v->family, sizeof v->family, "%s",
             json_string_value(json_object_get(j, "family")) ? json_string_value(json_object_get(j, "family")) : "");
    v->run = (long long)json_integer_value(json_object_get(j, "run"));
    if (!date_of(json_object_get(j, "identified"), &v->identified) ||
        !date_of(json_object_get(j, "judged"), &v->judged) || v->judged < v->identified)
        BAD("evidence pack: 'identified' and 'judged' must be dates, judged on or after "
            "identified");
    /* the family as the pack gives it */
    json_t *members = json_object_get(j, "members"), *events = json_object_get(j, "events");
    size_t nm = json_array_size(members), ne = json_array_size(events), i;
    ages = calloc(nm ? nm : 1, 1);
    ev = calloc(ne ? ne : 1, sizeof *ev);
    if (!ages || !ev) {
        e = XCHG_ERR_NOMEM;
        goto done;
    }
    json_t *x;
    json_array_foreach(members, i, x) {
        json_t *a = json_object_get(x, "age");
        ages[i] = json_is_integer(a) && json_integer_value(a) >= 0 && json_integer_value(a) <= 150
                      ? (uint8_t)json_integer_value(a)
                      : XCHG_AGE_UNKNOWN;
    }
    char extracts[64][65];
    size_t nx = 0;
    json_array_foreach(events, i, x) {
        json_int_t who = json_integer_value(json_object_get(x, "person"));
        size_t m = measure_index(pd, json_string_value(json_object_get(x, "measure")));
        xchg_prog_ev *pe = &ev[i];
        if (who < 0 || (size_t)who >= nm || m == XCHG_NONE ||
            !date_of(json_object_get(x, "start"), &pe->start) ||
            !date_of(json_object_get(x, "end"), &pe->end) || pe->end < pe->start ||
            !json_is_number(json_object_get(x, "value")) || !json_is_number(json_object_get(x, "of"))) {
            BAD("evidence pack: event %zu is malformed (person, a measure of the agreement, "
                "start, end, value, of)",
                i + 1);
            continue;
        }
        pe->member = (uint32_t)who;
        pe->rec = (uint32_t)i;
        pe->measure = (uint8_t)m;
        pe->value = json_number_value(json_object_get(x, "value"));
        pe->of = json_number_value(json_object_get(x, "of"));
        const char *xs = json_string_value(json_object_get(x, "extract"));
        int seen = 0;
        for (size_t k = 0; xs && k < nx; k++)
            seen |= strcmp(extracts[k], xs) == 0;
        if (xs && !seen && nx < 64)
            snprintf(extracts[nx++], sizeof extracts[0], "%s", xs);
    }
    v->nevents = ne;
    v->nextracts = nx;
    if (bad) {
        e = XCHG_ERR_VERIFY;
        goto done;
    }
    xchg_prog_family f = {nm, ages, ev, ne};
    /* identification: on the identification date, on the pack's events */
    uint8_t holds[256] = {0}, base[256] = {0}, met[256] = {0};
    for (size_t pr = 0; pr < pd->nproblems; pr++)
        if (pd->problems[pr].nidentify)
            holds[pr] = (uint8_t)xchg__prog_problem(pd, &f, pr, v->identified, NULL);
    json_t *probs = json_object_get(j, "problems");
    json_array_foreach(probs, i, x) {
        const char *code = json_string_value(json_object_get(x, "code"));
        size_t pr = problem_index(pd, code);
        if (pr == XCHG_NONE) {
            BAD("evidence pack: problem '%s' is not one of the agreement's", code ? code : "?");
            continue;
        }
        base[pr] = 1;
        if (v->nproblems < 32)
            snprintf(v->problems[v->nproblems], sizeof v->problems[0], "%s", code);
        uint32_t bits = 0;
        if (!xchg__prog_problem(pd, &f, pr, v->identified, &bits))
            BAD("problem '%s': none of its criteria holds on %s on the pack's events", code,
                json_string_value(json_object_get(j, "identified")));
        size_t k;
        json_t *id;
        json_array_foreach(json_object_get(x, "identified_by"), k, id) {
            const char *cid = json_string_value(id);
            int ok = 0;
            for (size_t c = 0; cid && c < pd->problems[pr].nidentify && c < 32; c++)
                ok |= pd->problems[pr].identify[c].id &&
                      strcmp(pd->problems[pr].identify[c].id, cid) == 0 && (bits & (1u << c));
            if (!ok)
                BAD("problem '%s': criterion %s does not hold on the pack's events", code,
                    cid ? cid : "?");
        }
        double b, l;
        uint32_t mb = 0;
        xchg_outcome_status st =
            xchg__prog_outcome(pd, &f, pr, v->identified, v->judged, &b, &l, &mb);
        if (v->nproblems < 32)
            v->status[v->nproblems] = (int)st;
        v->nproblems++;
        const char *said = json_string_value(json_object_get(x, "outcome"));
        if (!said || strcmp(said, xchg_outcome_status_name(st)) != 0)
            BAD("problem '%s': the pack says the outcome is '%s' but its events give '%s'", code,
                said ? said : "?", xchg_outcome_status_name(st));
        json_array_foreach(json_object_get(x, "outcome_criteria"), k, id) {
            const char *cid = json_string_value(id);
            int ok = 0;
            for (size_t c = 0; cid && c < pd->problems[pr].noutcome && c < 32; c++)
                ok |= pd->problems[pr].outcome[c].id &&
                      strcmp(pd->problems[pr].outcome[c].id, cid) == 0 && (mb & (1u << c));
            if (!ok)
                BAD("problem '%s': outcome criterion %s is not met on the pack's events", code,
                    cid ? cid : "?");
        }
        met[pr] = st == XCHG_OUTCOME_MET;
    }
    if (!xchg__prog_eligible(pd, holds))
        BAD("the eligibility rule does not hold on %s on the pack's events",
            json_string_value(json_object_get(j, "identified")));
    v->claimable = xchg__prog_claimable(pd, base, met);
    if (!v->claimable)
        BAD("the claim rule does not hold: not every identified problem shows its outcome");
    e = bad ? XCHG_ERR_VERIFY : XCHG_OK;
done:
    json_decref(j);
    free(ev);
    free(ages);
    free(bytes);
    return e;
}
