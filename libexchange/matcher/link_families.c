/*
 * Persons and stage 4 of a linkage run (link_internal.h): the persons are numbered and
 * given their pseudonyms; then one family per household, with the problems its records
 * indicate within the evidence window (rule.c), whether the agreement's rule makes it
 * eligible, and its pseudonym.
 */
#include "link_internal.h"
#include "exchange/crypto.h"
#include "internal.h"
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
            if (!xchg__rule_in_window(p, ev->problem, ev->start, ev->end, run_date))
                continue;
            xchg_family_problem *fp = NULL;
            for (uint8_t k = 0; k < fam->nproblems; k++)
                if (fam->problems[k].problem == ev->problem)
                    fp = &fam->problems[k];
            if (!fp && fam->nproblems < 32) {
                fp = &fam->problems[fam->nproblems++];
                *fp = (xchg_family_problem){ev->problem, 0, ev->start, ev->end};
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
    for (size_t f = 0; f < res->nhouseholds; f++) {
        xchg_family *fam = &res->families[f];
        for (uint8_t k = 0; k < fam->nproblems; k++)
            for (size_t r = 0; r < p->nrule_of; r++)
                fam->nrule += p->rule_of[r] == fam->problems[k].problem;
        fam->eligible = p->rule_at_least && fam->nrule >= p->rule_at_least;
        pseudonym(pkey, 'F', fkeys[f], fam->pseudonym);
    }
    free(fkeys);
    for (size_t k = 0; k < review->n; k++)
        res->families[res->household[review->v[k].a]].nreview++;
    for (size_t k = 0; k < conflicts->n; k++)
        res->families[res->household[conflicts->v[k].a]].nconflicts++;
    return XCHG_OK;
}
