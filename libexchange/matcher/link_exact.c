/*
 * Stage 1 of a linkage run (link_internal.h): records sharing a match token are united,
 * strongest key first, unless a stronger key over the same fields says they differ (the
 * twin rule) or the merge is refused (strong identifiers, person-level evidence).
 */
#include "link_internal.h"

/* a stronger key over the same fields says these two records differ */
static int contradicted(const xchg_linkset *ls, size_t key, uint32_t a, uint32_t b)
{
    for (size_t k = 0; k < key; k++) {
        int ds = ls->dom_slot[k];
        if (ds < 0)
            continue;
        /* does key k cover the same fields as key `key`? dom_slot only marks dominators;
         * check the relation for this pair of keys */
        int same = xchg__link_same_fields(&ls->p->match_keys[k], &ls->p->match_keys[key]);
        if (!same)
            continue;
        const sval_t *x = &ls->domtok[(size_t)a * ls->ndomslots + (size_t)ds];
        const sval_t *y = &ls->domtok[(size_t)b * ls->ndomslots + (size_t)ds];
        if (x->set && y->set && (x->h0 != y->h0 || x->h1 != y->h1))
            return 1;
    }
    return 0;
}

xchg_err xchg__link_exact(xchg_linkset *ls, struct uf *u, xchg_link_result *res,
                          struct pairs *conflicts)
{
    const xchg_policy_data *p = ls->p;
    xchg__link_sort(ls->mt, ls->nmt, sizeof *ls->mt, xchg__link_cmp_tok);
    for (size_t i = 0; i < ls->nmt;) {
        size_t e = i + 1;
        while (e < ls->nmt && ls->mt[e].idx == ls->mt[i].idx && ls->mt[e].h0 == ls->mt[i].h0 &&
               ls->mt[e].h1 == ls->mt[i].h1)
            e++;
        for (size_t x = i + 1; x < e; x++) {
            uint32_t a = ls->mt[i].rec, b = ls->mt[x].rec;
            /* (index nmatch_keys: an agency's own person identifier, no twin rule) */
            if (ls->mt[i].idx < p->nmatch_keys && contradicted(ls, ls->mt[i].idx, a, b))
                continue;
            int slot = -1;
            int r = xchg__uf_unite(u, a, b, &slot);
            if (r > 0)
                res->exact_unions++;
            res->exact_person_refused += r == -2;
            if (r < 0 && xchg__link_push_pair(conflicts, a, b, 1.0f, (int16_t)ls->mt[i].idx))
                return XCHG_ERR_NOMEM;
        }
        i = e;
    }
    return XCHG_OK;
}
