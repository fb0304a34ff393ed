/*
 * The linkage engine's union-find (link_internal.h): records are united in clusters whose
 * roots carry each strong identifier's value (or none), so a merge that would put two
 * different strong values in one cluster is refused; for persons the roots also carry the
 * person-level evidence (docs/linkage.md).
 */
#include "link_internal.h"

/* roots a, b hold different values of a strong identifier: the slot, or -1 */
int xchg__uf_strong_conflict(const struct uf *u, uint32_t a, uint32_t b)
{
    for (size_t s = 0; s < u->nstrong; s++) {
        const sval_t *x = &u->sv[a * u->nstrong + s], *y = &u->sv[b * u->nstrong + s];
        if (x->set && y->set && (x->h0 != y->h0 || x->h1 != y->h1))
            return (int)s;
    }
    return -1;
}

/*
 * Would one person made of clusters a and b (roots) hold two records the evidence says
 * are different people? Two records of an agency that holds one record per person; two
 * records of one agency with different agency-local person identifiers; a pair a
 * reviewer marked as different people.
 */
int xchg__uf_person_conflict(struct uf *u, uint32_t a, uint32_t b)
{
    const xchg_linkset *ls = u->ls;
    if (!ls)
        return 0;
    uint64_t common = u->agm[a] & u->agm[b] & ls->cons_bits;
    if (common & ls->orpp_bits & (ls->exact_bits ? ~0ull : 0))
        return 1;
    if (common) {
        if (u->size[a] > u->size[b]) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        uint32_t i = a;
        do {
            size_t ai = ls->agency[i];
            if (common & xchg__ag_bit(ai)) {
                uint32_t j = b;
                do {
                    if (ls->agency[j] == ai) {
                        if (ls->ag_orpp[ai])
                            return 1;
                        const sval_t *x = &ls->pid[i], *y = &ls->pid[j];
                        if (x->set && y->set && (x->h0 != y->h0 || x->h1 != y->h1))
                            return 1;
                    }
                    j = u->next[j];
                } while (j != b);
            }
            i = u->next[i];
        } while (i != a);
    }
    if (u->cl && u->cl[a] && u->cl[b])
        for (size_t k = 0; k < u->napart; k++) {
            uint32_t x = xchg__uf_find(u, u->apart[k][0]), y = xchg__uf_find(u, u->apart[k][1]);
            if ((x == a && y == b) || (x == b && y == a))
                return 1;
        }
    return 0;
}

/* merge roots a != b */
void xchg__uf_merge_roots(struct uf *u, uint32_t a, uint32_t b)
{
    if (u->size[a] < u->size[b]) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    u->parent[b] = a;
    u->size[a] += u->size[b];
    u->fuzzy[a] |= u->fuzzy[b];
    for (size_t s = 0; s < u->nstrong; s++)
        if (!u->sv[a * u->nstrong + s].set)
            u->sv[a * u->nstrong + s] = u->sv[b * u->nstrong + s];
    if (u->next) { /* splice the two circular member lists */
        uint32_t t = u->next[a];
        u->next[a] = u->next[b];
        u->next[b] = t;
        u->agm[a] |= u->agm[b];
        u->cl[a] |= u->cl[b];
    }
}

/* 1 merged, 0 already together, -1 refused (strong conflict: *slot set), -2 refused
 * (person-level evidence: docs/linkage.md) */
int xchg__uf_unite(struct uf *u, uint32_t a, uint32_t b, int *slot)
{
    a = xchg__uf_find(u, a);
    b = xchg__uf_find(u, b);
    if (a == b)
        return 0;
    int s = xchg__uf_strong_conflict(u, a, b);
    if (s >= 0) {
        *slot = s;
        return -1;
    }
    if (xchg__uf_person_conflict(u, a, b))
        return -2;
    xchg__uf_merge_roots(u, a, b);
    return 1;
}
