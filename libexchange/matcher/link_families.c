/*
 * Persons and stage 4 of a linkage run (link_internal.h): the persons are numbered and
 * given their pseudonyms; then one family per household, with the problems its records
 * indicate within the evidence window (rule.c), whether the agreement's rule makes it
 * eligible, and its pseudonym.
 */
#include "link_internal.h"
#include "exchange/crypto.h"
#include "internal.h"
#include "programme.h"
#include "rule.h"

#include <stdlib.h>
#include <string.h>

/* pseudonym: "P-" / "F-" + 12 base32 characters of HMAC(key, label || token) */
static void pseudonym(const uint8_t key[32], char prefix, const uint64_t h[2],
                      char out[XCHG_PSEUDONYM_MAX + 1])
{
    uint8_t msg[17], mac[32];
    msg[0] = (uint8_t)prefix;
    memcpy(msg + 1, h, 16);
    xchg_hmac_sha256(key, 32, msg, sizeof msg, mac);
    xchg__pseudonym_format(mac, prefix, out);
}

xchg_err xchg__link_persons(const xchg_linkset *ls, struct uf *u, const uint8_t pkey[32],
                            xchg_link_result *res, uint64_t (**pkeysp)[3])
{
    size_t n = ls->n;
    xchg_err rc = XCHG_ERR_NOMEM;
    uint64_t(*pkeys)[3] = NULL;
    uint32_t *pnum = malloc((n ? n : 1) * sizeof *pnum);
    res->person = malloc((n ? n : 1) * sizeof *res->person);
    if (!res->person || !pnum)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        pnum[i] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = xchg__uf_find(u, (uint32_t)i);
        if (pnum[r] == UINT32_MAX)
            pnum[r] = (uint32_t)res->npersons++;
        res->person[i] = pnum[r];
    }
    /* pseudonym source per person: the smallest (key index, token) of its records */
    pkeys = malloc((res->npersons ? res->npersons : 1) * sizeof *pkeys);
    if (!pkeys)
        goto cleanup;
    for (size_t i = 0; i < res->npersons; i++)
        pkeys[i][0] = pkeys[i][1] = pkeys[i][2] = UINT64_MAX;
    for (size_t k = 0; k < ls->nmt; k++) { /* sorted by key index, then value */
        uint32_t pn = res->person[ls->mt[k].rec];
        uint64_t *s = pkeys[pn];
        uint64_t key = ls->mt[k].idx;
        if (key < s[0] || (key == s[0] && (ls->mt[k].h0 < s[1] || (ls->mt[k].h0 == s[1] && ls->mt[k].h1 < s[2])))) {
            s[0] = key;
            s[1] = ls->mt[k].h0;
            s[2] = ls->mt[k].h1;
        }
    }
    res->person_pseudonym = malloc((res->npersons ? res->npersons : 1) * sizeof *res->person_pseudonym);
    if (!res->person_pseudonym)
        goto cleanup;
    for (size_t i = 0; i < n; i++) { /* a person without any match token: its record's id */
        uint64_t *s = pkeys[res->person[i]];
        if (s[0] == UINT64_MAX) {
            s[0] = 1000;
            s[1] = ls->ids[i];
            s[2] = ls->agency[i];
        }
    }
    for (size_t i = 0; i < res->npersons; i++) {
        uint64_t h[2] = {pkeys[i][1] ^ (pkeys[i][0] << 56), pkeys[i][2]};
        pseudonym(pkey, 'P', h, res->person_pseudonym[i]);
    }
    *pkeysp = pkeys;
    pkeys = NULL;
    rc = XCHG_OK;
cleanup:
    free(pnum);
    free(pkeys);
    return rc;
}

xchg_err xchg__famview_init(xchg__famview *v, const xchg_linkset *ls, const xchg_link_result *res)
{
    memset(v, 0, sizeof *v);
    size_t n = ls->n, nh = res->nhouseholds;
    v->off = calloc(nh + 2, sizeof *v->off);
    v->rec = malloc((n ? n : 1) * sizeof *v->rec);
    v->member = malloc((n ? n : 1) * sizeof *v->member);
    if (!v->off || !v->rec || !v->member)
        return XCHG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        v->off[res->household[i] + 2]++;
    for (size_t h = 0; h < nh; h++)
        v->off[h + 2] += v->off[h + 1];
    for (size_t i = 0; i < n; i++)
        v->rec[v->off[res->household[i] + 1]++] = (uint32_t)i;
    return XCHG_OK;
}

void xchg__famview_free(xchg__famview *v)
{
    free(v->off);
    free(v->rec);
    free(v->member);
    free(v->persons);
    free(v->age);
    free(v->ev);
    memset(v, 0, sizeof *v);
}

xchg_err xchg__famview_get(xchg__famview *v, const xchg_linkset *ls, const xchg_link_result *res,
                           uint32_t h, xchg_prog_family *f)
{
    uint32_t a = v->off[h], b = v->off[h + 1];
    size_t nm = 0, ne = 0;
    if (b - a > v->pcap) {
        size_t nc = (b - a) * 2;
        uint32_t *pp = realloc(v->persons, nc * sizeof *pp);
        if (pp)
            v->persons = pp;
        uint8_t *ag = realloc(v->age, nc);
        if (ag)
            v->age = ag;
        if (!pp || !ag)
            return XCHG_ERR_NOMEM;
        v->pcap = nc;
    }
    for (uint32_t k = a; k < b; k++) {
        uint32_t i = v->rec[k], p = res->person[i];
        size_t m = 0;
        while (m < nm && v->persons[m] != p)
            m++;
        if (m == nm) {
            v->persons[nm] = p;
            v->age[nm++] = XCHG_AGE_UNKNOWN;
        }
        v->member[i] = (uint32_t)m;
        /* a person's age: the oldest of their records' (under 18 only if every record says so) */
        if (ls->age[i] != XCHG_AGE_UNKNOWN && (v->age[m] == XCHG_AGE_UNKNOWN || ls->age[i] > v->age[m]))
            v->age[m] = ls->age[i];
        for (uint32_t e = ls->ev_off[i]; e < ls->ev_off[i + 1]; e++)
            ne += ls->ev[e].is_measure;
    }
    if (ne > v->evcap) {
        xchg_prog_ev *ev = realloc(v->ev, ne * 2 * sizeof *ev);
        if (!ev)
            return XCHG_ERR_NOMEM;
        v->ev = ev;
        v->evcap = ne * 2;
    }
    ne = 0;
    for (uint32_t k = a; k < b; k++) {
        uint32_t i = v->rec[k];
        for (uint32_t e = ls->ev_off[i]; e < ls->ev_off[i + 1]; e++) {
            const ev_t *x = &ls->ev[e];
            if (x->is_measure)
                v->ev[ne++] = (xchg_prog_ev){v->member[i], i, x->measure, x->start, x->end,
                                             x->value, x->of};
        }
    }
    *f = (xchg_prog_family){nm, v->age, v->ev, ne};
    return XCHG_OK;
}

/* Problems identified by the agreement's criteria on the family's measure events. */
static void criteria_problems(const xchg_linkset *ls, const xchg_prog_family *pf, int32_t run_date,
                              xchg_family *fam)
{
    const xchg_policy_data *p = ls->p;
    for (size_t pr = 0; pr < p->nproblems; pr++) {
        if (!p->problems[pr].nidentify)
            continue;
        uint32_t bits = 0;
        if (!xchg__prog_problem(p, pf, pr, run_date, &bits))
            continue;
        xchg_family_problem *fp = NULL;
        for (uint8_t k = 0; k < fam->nproblems; k++)
            if (fam->problems[k].problem == pr)
                fp = &fam->problems[k];
        if (!fp && fam->nproblems < 32) {
            fp = &fam->problems[fam->nproblems++];
            *fp = (xchg_family_problem){(uint8_t)pr, 0, INT32_MAX, INT32_MIN, 0};
        }
        if (!fp)
            continue;
        fp->criteria |= bits;
        /* the evidence: events of the problem's measures in its window, and their agencies */
        int32_t from = xchg__prog_horizon(p, pr, XCHG_DATE_NONE, run_date);
        for (size_t e = 0; e < pf->nev; e++) {
            const xchg_prog_ev *ev = &pf->ev[e];
            int used = 0;
            for (size_t c = 0; c < p->problems[pr].nidentify && !used; c++)
                if (bits & (1u << c))
                    used = xchg__criterion_uses(&p->problems[pr].identify[c], ev->measure);
            if (!used || ev->end < from || ev->start > run_date)
                continue;
            fp->agencies |= 1u << (ls->agency[ev->rec] & 31);
            if (ev->start < fp->first)
                fp->first = ev->start;
            if (ev->end > fp->last)
                fp->last = ev->end;
        }
        if (fp->first == INT32_MAX)
            fp->first = fp->last = run_date;
    }
}

xchg_err xchg__link_families(const xchg_linkset *ls, struct uf *u, int32_t run_date,
                             const uint8_t pkey[32], const uint64_t (*pkeys)[3],
                             const uint32_t *hnum, const struct pairs *review,
                             const struct pairs *conflicts, xchg_link_result *res)
{
    const xchg_policy_data *p = ls->p;
    size_t n = ls->n;
    res->families = calloc(res->nhouseholds ? res->nhouseholds : 1, sizeof *res->families);
    uint64_t(*fkeys)[2] = malloc((res->nhouseholds ? res->nhouseholds : 1) * sizeof *fkeys);
    if (!res->families || !fkeys) {
        free(fkeys);
        return XCHG_ERR_NOMEM;
    }
    for (size_t f = 0; f < res->nhouseholds; f++) {
        res->families[f].household = (uint32_t)f;
        fkeys[f][0] = fkeys[f][1] = UINT64_MAX;
    }
    for (size_t i = 0; i < res->npersons; i++) {
        xchg_family *fam = &res->families[hnum[i]];
        fam->npersons++;
        /* the family's pseudonym source: its smallest person source */
        uint64_t a = pkeys[i][1] ^ (pkeys[i][0] << 56), b = pkeys[i][2];
        if (a < fkeys[hnum[i]][0] || (a == fkeys[hnum[i]][0] && b < fkeys[hnum[i]][1])) {
            fkeys[hnum[i]][0] = a;
            fkeys[hnum[i]][1] = b;
        }
    }
    for (size_t i = 0; i < n; i++) {
        xchg_family *fam = &res->families[res->household[i]];
        fam->nrecords++;
        uint32_t root = xchg__uf_find(u, (uint32_t)i);
        xchg_link_how how = u->size[root] == 1 ? XCHG_LINK_NONE
                            : u->fuzzy[root]   ? XCHG_LINK_FUZZY
                                              : XCHG_LINK_EXACT;
        if (how > fam->how)
            fam->how = how;
        for (uint32_t e = ls->ev_off[i]; e < ls->ev_off[i + 1]; e++) {
            const ev_t *ev = &ls->ev[e];
            if (ev->is_measure || !xchg__rule_in_window(p, ev->problem, ev->start, ev->end, run_date))
                continue;
            xchg_family_problem *fp = NULL;
            for (uint8_t k = 0; k < fam->nproblems; k++)
                if (fam->problems[k].problem == ev->problem)
                    fp = &fam->problems[k];
            if (!fp && fam->nproblems < 32) {
                fp = &fam->problems[fam->nproblems++];
                *fp = (xchg_family_problem){ev->problem, 0, ev->start, ev->end, 0};
            }
            if (!fp)
                continue;
            fp->agencies |= 1u << (ls->agency[i] & 31);
            if (ev->start < fp->first)
                fp->first = ev->start;
            if (ev->end > fp->last)
                fp->last = ev->end;
        }
    }
    int measures = 0;
    for (size_t pr = 0; pr < p->nproblems; pr++)
        measures |= p->problems[pr].nidentify > 0;
    xchg__famview v;
    memset(&v, 0, sizeof v);
    if (measures && xchg__famview_init(&v, ls, res) != XCHG_OK) {
        xchg__famview_free(&v);
        free(fkeys);
        return XCHG_ERR_NOMEM;
    }
    uint8_t holds[256];
    for (size_t f = 0; f < res->nhouseholds; f++) {
        xchg_family *fam = &res->families[f];
        if (measures) {
            xchg_prog_family pf;
            if (xchg__famview_get(&v, ls, res, (uint32_t)f, &pf) != XCHG_OK) {
                xchg__famview_free(&v);
                free(fkeys);
                return XCHG_ERR_NOMEM;
            }
            if (pf.nev)
                criteria_problems(ls, &pf, run_date, fam);
        }
        memset(holds, 0, sizeof holds);
        for (uint8_t k = 0; k < fam->nproblems; k++) {
            holds[fam->problems[k].problem] = 1;
            for (size_t r = 0; r < p->nrule_of; r++)
                fam->nrule += p->rule_of[r] == fam->problems[k].problem;
        }
        fam->eligible = p->nrule_of && xchg__prog_eligible(p, holds);
        pseudonym(pkey, 'F', fkeys[f], fam->pseudonym);
    }
    xchg__famview_free(&v);
    free(fkeys);
    for (size_t k = 0; k < review->n; k++)
        res->families[res->household[review->v[k].a]].nreview++;
    for (size_t k = 0; k < conflicts->n; k++)
        res->families[res->household[conflicts->v[k].a]].nconflicts++;
    return XCHG_OK;
}
