/*
 * Stage 3 of a linkage run (link_internal.h): households — persons sharing a household
 * token (their primary address per household key, declared relationships, and the
 * fallback for persons with no address) are united into one household each.
 */
#include "link_internal.h"

#include <stdlib.h>

#define HH_MAX_PERSONS 30 /* a household token shared by more persons is not a family */

/* latest evidence date of a record (or INT32_MIN) */
static int32_t rec_latest(const xchg_linkset *ls, uint32_t r)
{
    int32_t best = INT32_MIN;
    for (uint32_t e = ls->ev_off[r]; e < ls->ev_off[r + 1]; e++)
        if (ls->ev[e].start > best)
            best = ls->ev[e].start;
    return best;
}

typedef struct {
    uint32_t person;
    uint8_t idx;
    uint64_t h0, h1;
    uint32_t count;
    int32_t latest;
} ptok_t;

static int cmp_ptok(const void *x, const void *y)
{
    const ptok_t *a = x, *b = y;
    if (a->person != b->person)
        return a->person < b->person ? -1 : 1;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    if (a->h0 != b->h0)
        return a->h0 < b->h0 ? -1 : 1;
    return a->h1 < b->h1 ? -1 : a->h1 > b->h1;
}

static int cmp_ptok_value(const void *x, const void *y)
{
    const ptok_t *a = x, *b = y;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    if (a->h0 != b->h0)
        return a->h0 < b->h0 ? -1 : 1;
    if (a->h1 != b->h1)
        return a->h1 < b->h1 ? -1 : 1;
    return a->person < b->person ? -1 : a->person > b->person;
}

static int household_union(const xchg_linkset *ls, const xchg_link_result *res, struct uf *hu)
{
    size_t nh = ls->nht;
    ptok_t *pt = malloc((nh ? nh : 1) * sizeof *pt);
    if (!pt)
        return -1;
    for (size_t k = 0; k < nh; k++)
        pt[k] = (ptok_t){res->person[ls->ht[k].rec], ls->ht[k].idx, ls->ht[k].h0, ls->ht[k].h1, 1,
                         rec_latest(ls, ls->ht[k].rec)};
    xchg__link_sort(pt, nh, sizeof *pt, cmp_ptok);
    /* collapse equal (person, idx, token), counting records */
    size_t m = 0;
    for (size_t k = 0; k < nh; k++) {
        if (m && pt[m - 1].person == pt[k].person && pt[m - 1].idx == pt[k].idx &&
            pt[m - 1].h0 == pt[k].h0 && pt[m - 1].h1 == pt[k].h1) {
            pt[m - 1].count++;
            if (pt[k].latest > pt[m - 1].latest)
                pt[m - 1].latest = pt[k].latest;
        } else {
            pt[m++] = pt[k];
        }
    }
    /* keep, per (person, household key), the primary token; relationships all;
     * fallback tokens go to their own list */
    size_t nhk = ls->p->nhousehold_keys, nrel = ls->p->nhousehold_relations;
    size_t keep = 0, nfb = 0;
    ptok_t *fb = malloc((m ? m : 1) * sizeof *fb);
    uint8_t *has_addr = calloc(res->npersons ? res->npersons : 1, 1);
    if (!fb || !has_addr) {
        free(fb);
        free(has_addr);
        free(pt);
        return -1;
    }
    for (size_t k = 0; k < m;) {
        size_t e = k + 1;
        while (e < m && pt[e].person == pt[k].person && pt[e].idx == pt[k].idx)
            e++;
        if (pt[k].idx >= nhk + nrel) {
            for (size_t x = k; x < e; x++)
                fb[nfb++] = pt[x];
        } else if (pt[k].idx >= nhk) {
            for (size_t x = k; x < e; x++)
                pt[keep++] = pt[x];
        } else {
            size_t best = k;
            for (size_t x = k + 1; x < e; x++)
                if (pt[x].count > pt[best].count ||
                    (pt[x].count == pt[best].count && pt[x].latest > pt[best].latest))
                    best = x;
            has_addr[pt[k].person] = 1;
            pt[keep++] = pt[best];
        }
        k = e;
    }
    xchg__link_sort(pt, keep, sizeof *pt, cmp_ptok_value);
    for (size_t k = 0; k < keep;) {
        size_t e = k + 1;
        while (e < keep && pt[e].idx == pt[k].idx && pt[e].h0 == pt[k].h0 && pt[e].h1 == pt[k].h1)
            e++;
        /* a token shared by very many persons is an institution or a block, not a home */
        if (e - k <= HH_MAX_PERSONS)
            for (size_t x = k + 1; x < e; x++) {
                int slot;
                xchg__uf_unite(hu, pt[k].person, pt[x].person, &slot);
            }
        k = e;
    }
    /* fallback: a person with no address token joins the one household sharing the
     * fallback token (e.g. surname + postcode); none if two households share it */
    xchg__link_sort(fb, nfb, sizeof *fb, cmp_ptok_value);
    for (size_t k = 0; k < nfb;) {
        size_t e = k + 1;
        while (e < nfb && fb[e].idx == fb[k].idx && fb[e].h0 == fb[k].h0 && fb[e].h1 == fb[k].h1)
            e++;
        uint32_t home = UINT32_MAX;
        int ambiguous = 0, lonely = 0;
        for (size_t x = k; x < e; x++) {
            if (!has_addr[fb[x].person]) {
                lonely = 1;
                continue;
            }
            uint32_t r = xchg__uf_find(hu, fb[x].person);
            if (home == UINT32_MAX)
                home = r;
            else if (home != r)
                ambiguous = 1;
        }
        if (lonely && !ambiguous && e - k <= HH_MAX_PERSONS) {
            uint32_t anchor = home;
            for (size_t x = k; x < e; x++) {
                if (has_addr[fb[x].person])
                    continue;
                int slot;
                if (anchor == UINT32_MAX)
                    anchor = fb[x].person;
                else
                    xchg__uf_unite(hu, anchor, fb[x].person, &slot);
            }
        }
        k = e;
    }
    free(fb);
    free(has_addr);
    free(pt);
    return 0;
}

xchg_err xchg__link_households(const xchg_linkset *ls, xchg_link_result *res, uint32_t **hnump)
{
    size_t n = ls->n;
    xchg_err rc = XCHG_ERR_NOMEM;
    uint32_t *hnum = NULL;
    struct uf hu = {0};
    res->household = malloc((n ? n : 1) * sizeof *res->household);
    hu.parent = malloc((res->npersons ? res->npersons : 1) * sizeof *hu.parent);
    hu.size = malloc((res->npersons ? res->npersons : 1) * sizeof *hu.size);
    hu.fuzzy = calloc(res->npersons ? res->npersons : 1, 1);
    if (!res->household || !hu.parent || !hu.size || !hu.fuzzy)
        goto cleanup;
    for (size_t i = 0; i < res->npersons; i++) {
        hu.parent[i] = (uint32_t)i;
        hu.size[i] = 1;
    }
    /*
     * Each person joins the household of their *primary* address token per household key:
     * the token most of their records carry (ties: the latest evidence, then the smallest
     * token). A stale address on one record of a person who has moved therefore does not
     * pull two households together. Declared relationships (keys past the household keys)
     * always unite.
     */
    if (household_union(ls, res, &hu) != 0)
        goto cleanup;
    hnum = malloc((res->npersons ? res->npersons : 1) * sizeof *hnum);
    if (!hnum)
        goto cleanup;
    for (size_t i = 0; i < res->npersons; i++)
        hnum[i] = UINT32_MAX;
    for (size_t i = 0; i < res->npersons; i++) {
        uint32_t r = xchg__uf_find(&hu, (uint32_t)i);
        if (hnum[r] == UINT32_MAX)
            hnum[r] = (uint32_t)res->nhouseholds++;
        hnum[i] = hnum[r];
    }
    for (size_t i = 0; i < n; i++)
        res->household[i] = hnum[res->person[i]];
    *hnump = hnum;
    hnum = NULL;
    rc = XCHG_OK;
cleanup:
    free(hu.parent);
    free(hu.size);
    free(hu.fuzzy);
    free(hnum);
    return rc;
}
