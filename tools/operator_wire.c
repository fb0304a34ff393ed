/* The operator endpoints' JSON (operator_wire.h). */
#include "operator_wire.h"

#include <stdio.h>
#include <string.h>

#define PUT_S(o, s, f) json_object_set_new(o, #f, json_string((s)->f))
#define PUT_I(o, s, f) json_object_set_new(o, #f, json_integer((json_int_t)(s)->f))
#define GET_S(j, s, f) get_s(j, #f, (s)->f, sizeof(s)->f)
#define GET_I(j, s, f, T) ((s)->f = (T)json_integer_value(json_object_get(j, #f)))

static void get_s(const json_t *j, const char *k, char *out, size_t n)
{
    const char *v = json_string_value(json_object_get(j, k));
    snprintf(out, n, "%s", v ? v : "");
}

json_t *wire_family(const xchg_store_family *f)
{
    json_t *o = json_object(), *pr = json_array();
    PUT_I(o, f, run);
    PUT_S(o, f, pseudonym);
    PUT_I(o, f, household);
    PUT_I(o, f, npersons);
    PUT_I(o, f, nrecords);
    PUT_I(o, f, nconflicts);
    PUT_I(o, f, nreview);
    PUT_I(o, f, eligible);
    PUT_I(o, f, how);
    PUT_I(o, f, nrule);
    for (size_t i = 0; i < f->nproblems && i < 32; i++) {
        const xchg_store_problem *p = &f->problems[i];
        json_t *q = json_object(), *ag = json_array();
        PUT_S(q, p, code);
        PUT_I(q, p, nagencies);
        for (unsigned k = 0; k < p->nagencies && k < XCHG_STORE_PROBLEM_AGENCIES; k++)
            json_array_append_new(ag, json_string(p->agencies[k]));
        json_object_set_new(q, "agencies", ag);
        PUT_I(q, p, first);
        PUT_I(q, p, last);
        PUT_I(q, p, counts);
        PUT_S(q, p, criteria);
        json_array_append_new(pr, q);
    }
    json_object_set_new(o, "problems", pr);
    return o;
}

void wire_family_read(const json_t *j, xchg_store_family *f)
{
    memset(f, 0, sizeof *f);
    GET_I(j, f, run, int64_t);
    GET_S(j, f, pseudonym);
    GET_I(j, f, household, uint32_t);
    GET_I(j, f, npersons, uint32_t);
    GET_I(j, f, nrecords, uint32_t);
    GET_I(j, f, nconflicts, uint32_t);
    GET_I(j, f, nreview, uint32_t);
    GET_I(j, f, eligible, int);
    GET_I(j, f, how, int);
    GET_I(j, f, nrule, unsigned);
    json_t *pr = json_object_get(j, "problems");
    for (size_t i = 0; i < json_array_size(pr) && i < 32; i++) {
        const json_t *q = json_array_get(pr, i);
        xchg_store_problem *p = &f->problems[i];
        GET_S(q, p, code);
        GET_I(q, p, nagencies, unsigned);
        json_t *ag = json_object_get(q, "agencies");
        for (size_t k = 0; k < json_array_size(ag) && k < XCHG_STORE_PROBLEM_AGENCIES; k++) {
            const char *a = json_string_value(json_array_get(ag, k));
            snprintf(p->agencies[k], sizeof p->agencies[k], "%s", a ? a : "");
        }
        GET_I(q, p, first, int32_t);
        GET_I(q, p, last, int32_t);
        GET_I(q, p, counts, int);
        GET_S(q, p, criteria);
        f->nproblems = i + 1;
    }
}

json_t *wire_state(const xchg_release_state *s)
{
    json_t *o = json_object();
    PUT_S(o, s, family);
    PUT_I(o, s, run);
    PUT_I(o, s, eligible);
    PUT_I(o, s, approvals);
    PUT_I(o, s, required);
    PUT_I(o, s, rejected);
    PUT_I(o, s, forged);
    PUT_S(o, s, last_reason);
    PUT_I(o, s, packets);
    PUT_I(o, s, carried);
    PUT_I(o, s, change);
    PUT_I(o, s, uncovered);
    return o;
}

void wire_state_read(const json_t *j, xchg_release_state *s)
{
    memset(s, 0, sizeof *s);
    GET_S(j, s, family);
    GET_I(j, s, run, int64_t);
    GET_I(j, s, eligible, int);
    GET_I(j, s, approvals, unsigned);
    GET_I(j, s, required, unsigned);
    GET_I(j, s, rejected, int);
    GET_I(j, s, forged, unsigned);
    GET_S(j, s, last_reason);
    GET_I(j, s, packets, unsigned);
    GET_I(j, s, carried, unsigned);
    GET_I(j, s, change, int);
    GET_I(j, s, uncovered, unsigned);
}

json_t *wire_decision(const xchg_release_decision *d)
{
    json_t *o = json_object();
    PUT_S(o, d, decision_id);
    PUT_S(o, d, operator_party);
    PUT_S(o, d, operator_kid);
    PUT_S(o, d, operator_label);
    PUT_I(o, d, approve);
    PUT_I(o, d, run);
    PUT_I(o, d, time);
    PUT_S(o, d, reason);
    PUT_I(o, d, verified);
    PUT_I(o, d, current);
    return o;
}

void wire_decision_read(const json_t *j, xchg_release_decision *d)
{
    memset(d, 0, sizeof *d);
    GET_S(j, d, decision_id);
    GET_S(j, d, operator_party);
    GET_S(j, d, operator_kid);
    GET_S(j, d, operator_label);
    GET_I(j, d, approve, int);
    GET_I(j, d, run, int64_t);
    GET_I(j, d, time, int64_t);
    GET_S(j, d, reason);
    GET_I(j, d, verified, int);
    GET_I(j, d, current, int);
}

json_t *wire_member(const xchg_store_member *m)
{
    json_t *o = json_object();
    PUT_S(o, m, pseudonym);
    PUT_I(o, m, nagencies);
    json_t *ag = json_array();
    for (unsigned k = 0; k < m->nagencies && k < XCHG_STORE_MEMBER_AGENCIES; k++)
        json_array_append_new(ag, json_string(m->agencies[k]));
    json_object_set_new(o, "agencies", ag);
    PUT_I(o, m, nrecords);
    return o;
}

void wire_member_read(const json_t *j, xchg_store_member *m)
{
    memset(m, 0, sizeof *m);
    GET_S(j, m, pseudonym);
    GET_I(j, m, nagencies, unsigned);
    json_t *ag = json_object_get(j, "agencies");
    for (size_t k = 0; k < json_array_size(ag) && k < XCHG_STORE_MEMBER_AGENCIES; k++) {
        const char *a = json_string_value(json_array_get(ag, k));
        snprintf(m->agencies[k], sizeof m->agencies[k], "%s", a ? a : "");
    }
    GET_I(j, m, nrecords, uint32_t);
}

json_t *wire_pair(const xchg_store_pair *p)
{
    json_t *o = json_object();
    PUT_I(o, p, conflict);
    PUT_S(o, p, agency_a);
    PUT_S(o, p, agency_b);
    PUT_S(o, p, ref_a);
    PUT_S(o, p, ref_b);
    PUT_S(o, p, person_a);
    PUT_S(o, p, person_b);
    json_object_set_new(o, "score", json_real(p->score));
    PUT_I(o, p, key);
    json_object_set_new(o, "same", json_pack("[I, I, I]", (json_int_t)p->same[0],
                                             (json_int_t)p->same[1], (json_int_t)p->same[2]));
    json_object_set_new(o, "differ", json_pack("[I, I, I]", (json_int_t)p->differ[0],
                                               (json_int_t)p->differ[1], (json_int_t)p->differ[2]));
    PUT_I(o, p, age_a);
    PUT_I(o, p, age_b);
    PUT_S(o, p, area_a);
    PUT_S(o, p, area_b);
    return o;
}

void wire_pair_read(const json_t *j, xchg_store_pair *p)
{
    memset(p, 0, sizeof *p);
    GET_I(j, p, conflict, int);
    GET_S(j, p, agency_a);
    GET_S(j, p, agency_b);
    GET_S(j, p, ref_a);
    GET_S(j, p, ref_b);
    GET_S(j, p, person_a);
    GET_S(j, p, person_b);
    p->score = json_number_value(json_object_get(j, "score"));
    GET_I(j, p, key, int);
    for (size_t k = 0; k < 3; k++) {
        p->same[k] = (uint32_t)json_integer_value(json_array_get(json_object_get(j, "same"), k));
        p->differ[k] = (uint32_t)json_integer_value(json_array_get(json_object_get(j, "differ"), k));
    }
    p->age_a = json_object_get(j, "age_a") ? (int)json_integer_value(json_object_get(j, "age_a"))
                                           : XCHG_AGE_UNKNOWN;
    p->age_b = json_object_get(j, "age_b") ? (int)json_integer_value(json_object_get(j, "age_b"))
                                           : XCHG_AGE_UNKNOWN;
    GET_S(j, p, area_a);
    GET_S(j, p, area_b);
}

json_t *wire_review(const xchg_review_decision *r)
{
    json_t *o = json_object();
    PUT_S(o, r, agency_a);
    PUT_S(o, r, ref_a);
    PUT_S(o, r, agency_b);
    PUT_S(o, r, ref_b);
    PUT_I(o, r, same);
    PUT_S(o, r, operator_party);
    PUT_S(o, r, reason);
    PUT_I(o, r, time);
    PUT_I(o, r, verified);
    return o;
}

void wire_review_read(const json_t *j, xchg_review_decision *r)
{
    memset(r, 0, sizeof *r);
    GET_S(j, r, agency_a);
    GET_S(j, r, ref_a);
    GET_S(j, r, agency_b);
    GET_S(j, r, ref_b);
    GET_I(j, r, same, int);
    GET_S(j, r, operator_party);
    GET_S(j, r, reason);
    GET_I(j, r, time, int64_t);
    GET_I(j, r, verified, int);
}
