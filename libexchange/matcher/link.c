/*
 * Linkage engine (include/exchange/link.h; method in docs/linkage.md).
 *
 * Tokens are compared by their first 16 bytes (HMAC-SHA256 output is uniform; a
 * collision among even 10^9 tokens has probability below 2^-68). Records are united in
 * a union-find whose roots carry each strong identifier's value (or none), so a merge
 * that would put two different strong values in one cluster is refused.
 *
 * A run is four stages in order (link_internal.h): exact keys (link_exact.c), fuzzy
 * scoring and the greedy solver (link_fuzzy.c), households (link_households.c), families
 * and the rule (link_families.c). This file builds the set, keeps the shared helpers and
 * applies reviewers' decisions before the stages run.
 */
#include "link_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int xchg__link_same_fields(const xchg_match_key *a, const xchg_match_key *b)
{
    /* an any-order key compares across fields (forename against surname): it is not a
     * coarser view of an ordered key over the same fields, so neither contradicts the other */
    if (!a->nparts || a->any_order || b->any_order)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        const xchg_match_key *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->nparts; i++) {
            int found = 0;
            for (size_t j = 0; j < y->nparts; j++)
                found |= x->parts[i].field == y->parts[j].field;
            if (!found)
                return 0;
        }
    }
    return 1;
}

xchg_err xchg_linkset_new(const xchg_agreement *agr, xchg_linkset **out)
{
    const xchg_policy *pol = xchg_agreement_policy(agr);
    if (!pol || !out)
        return XCHG_ERR_ARG;
    xchg_linkset *ls = calloc(1, sizeof *ls);
    if (!ls)
        return XCHG_ERR_NOMEM;
    ls->pol = pol;
    ls->p = xchg_policy_get(pol);
    const xchg_policy_data *p = ls->p;
    for (size_t k = 0; k < XCHG_RECORD_MAX_TOKENS; k++)
        ls->dom_slot[k] = ls->strong_slot[k] = -1;
    ls->ag_orpp = calloc(p->nparties ? p->nparties : 1, 1);
    ls->ag_pid = calloc(p->nparties ? p->nparties : 1, 1);
    if (!ls->ag_orpp || !ls->ag_pid) {
        xchg_linkset_free(ls);
        return XCHG_ERR_NOMEM;
    }
    ls->exact_bits = p->nparties <= 64;
    for (size_t e = 0; e < p->nextracts; e++) {
        size_t a = p->extracts[e].agency;
        if (a >= p->nparties)
            continue;
        ls->ag_orpp[a] = (uint8_t)(p->extracts[e].one_record_per_person != 0);
        ls->ag_pid[a] = (uint8_t)(p->extracts[e].person_id != XCHG_NONE);
        if (ls->ag_orpp[a])
            ls->orpp_bits |= xchg__ag_bit(a);
        if (ls->ag_orpp[a] || ls->ag_pid[a])
            ls->cons_bits |= xchg__ag_bit(a);
    }
    /* a key dominates a later key over the same set of fields */
    for (size_t k = 0; k < p->nmatch_keys && k < XCHG_RECORD_MAX_TOKENS; k++) {
        if (p->match_keys[k].strong && ls->nstrong < MAX_STRONG)
            ls->strong_slot[k] = (int)ls->nstrong++;
        for (size_t j = k + 1; j < p->nmatch_keys; j++) {
            const xchg_match_key *a = &p->match_keys[k];
            int same = xchg__link_same_fields(a, &p->match_keys[j]);
            if (same && !a->strong && ls->dom_slot[k] < 0 && ls->ndomslots < MAX_DOM)
                ls->dom_slot[k] = (int)ls->ndomslots++;
        }
    }
    *out = ls;
    return XCHG_OK;
}

void xchg_linkset_free(xchg_linkset *ls)
{
    if (!ls)
        return;
    free(ls->ids);
    free(ls->agency);
    free(ls->age);
    free(ls->ev_off);
    free(ls->ev);
    free(ls->mt);
    free(ls->bt);
    free(ls->ht);
    free(ls->clk);
    free(ls->pop);
    free(ls->has_clk);
    free(ls->domtok);
    free(ls->strongtok);
    free(ls->ag_orpp);
    free(ls->ag_pid);
    free(ls->pid);
    free(ls);
}

size_t xchg_linkset_count(const xchg_linkset *ls) { return ls ? ls->n : 0; }
uint64_t xchg_linkset_id(const xchg_linkset *ls, size_t rec) { return ls->ids[rec]; }
size_t xchg_linkset_agency(const xchg_linkset *ls, size_t rec) { return ls->agency[rec]; }

int xchg__link_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static void tok_from(tok_t *t, const xchg_token *x, uint32_t rec)
{
    memcpy(&t->h0, x->value, 8);
    memcpy(&t->h1, x->value + 8, 8);
    t->rec = rec;
    t->idx = x->index;
}

xchg_err xchg_linkset_add(xchg_linkset *ls, size_t agency, uint64_t id, const xchg_record *r)
{
    if (!ls || !r || agency >= ls->p->nparties || agency > 0xffff)
        return XCHG_ERR_ARG;
    if (ls->n >= UINT32_MAX - 1)
        return XCHG_ERR_ARG;
    size_t n = ls->n;
    if (n == 0 && r->clk_len)
        ls->clk_bytes = r->clk_len;
    if (r->clk_len && r->clk_len != ls->clk_bytes)
        return XCHG_ERR_ARG;
    if (n == ls->cap) {
        size_t nc = ls->cap ? ls->cap * 2 : 4096;
        uint64_t *ids = realloc(ls->ids, nc * sizeof *ids);
        if (ids)
            ls->ids = ids;
        uint16_t *ag = realloc(ls->agency, nc * sizeof *ag);
        if (ag)
            ls->agency = ag;
        uint8_t *age = realloc(ls->age, nc);
        if (age)
            ls->age = age;
        uint32_t *eo = realloc(ls->ev_off, (nc + 1) * sizeof *eo);
        if (eo)
            ls->ev_off = eo;
        uint16_t *pop = realloc(ls->pop, nc * sizeof *pop);
        if (pop)
            ls->pop = pop;
        uint8_t *hc = realloc(ls->has_clk, nc);
        if (hc)
            ls->has_clk = hc;
        uint8_t *clk = ls->clk_bytes ? realloc(ls->clk, nc * ls->clk_bytes) : ls->clk;
        if (clk)
            ls->clk = clk;
        sval_t *dt = ls->ndomslots ? realloc(ls->domtok, nc * ls->ndomslots * sizeof *dt) : ls->domtok;
        if (dt)
            ls->domtok = dt;
        sval_t *st = ls->nstrong ? realloc(ls->strongtok, nc * ls->nstrong * sizeof *st) : ls->strongtok;
        if (st)
            ls->strongtok = st;
        sval_t *pid = ls->cons_bits ? realloc(ls->pid, nc * sizeof *pid) : ls->pid;
        if (pid)
            ls->pid = pid;
        if (!ids || !ag || !age || !eo || !pop || !hc || (ls->clk_bytes && !clk) ||
            (ls->ndomslots && !dt) || (ls->nstrong && !st) || (ls->cons_bits && !pid))
            return XCHG_ERR_NOMEM;
        ls->cap = nc;
    }
    if (xchg__link_grow((void **)&ls->mt, &ls->mtcap, ls->nmt + r->nmatch, sizeof(tok_t)) ||
        xchg__link_grow((void **)&ls->bt, &ls->btcap, ls->nbt + r->nblock, sizeof(tok_t)) ||
        xchg__link_grow((void **)&ls->ht, &ls->htcap, ls->nht + r->nhouse, sizeof(tok_t)) ||
        xchg__link_grow((void **)&ls->ev, &ls->evcap, ls->nev + r->nind, sizeof(ev_t)))
        return XCHG_ERR_NOMEM;
    ls->ids[n] = id;
    ls->agency[n] = (uint16_t)agency;
    ls->age[n] = r->age;
    if (ls->ndomslots)
        memset(&ls->domtok[n * ls->ndomslots], 0, ls->ndomslots * sizeof(sval_t));
    if (ls->nstrong)
        memset(&ls->strongtok[n * ls->nstrong], 0, ls->nstrong * sizeof(sval_t));
    if (ls->cons_bits)
        memset(&ls->pid[n], 0, sizeof(sval_t));
    for (size_t i = 0; i < r->nmatch; i++) {
        /* index nmatch_keys: the agency's own person identifier (when it declares one) */
        if (r->match[i].index > ls->p->nmatch_keys ||
            (r->match[i].index == ls->p->nmatch_keys && !ls->ag_pid[agency]))
            return XCHG_ERR_ARG;
        tok_t *t = &ls->mt[ls->nmt++];
        tok_from(t, &r->match[i], (uint32_t)n);
        int ds = ls->dom_slot[t->idx], ss = ls->strong_slot[t->idx];
        if (ds >= 0)
            ls->domtok[n * ls->ndomslots + (size_t)ds] = (sval_t){t->h0, t->h1, 1};
        if (ss >= 0)
            ls->strongtok[n * ls->nstrong + (size_t)ss] = (sval_t){t->h0, t->h1, 1};
        if (t->idx == ls->p->nmatch_keys)
            ls->pid[n] = (sval_t){t->h0, t->h1, 1};
    }
    for (size_t i = 0; i < r->nblock; i++)
        tok_from(&ls->bt[ls->nbt++], &r->block[i], (uint32_t)n);
    for (size_t i = 0; i < r->nhouse; i++)
        tok_from(&ls->ht[ls->nht++], &r->house[i], (uint32_t)n);
    ls->ev_off[n] = (uint32_t)ls->nev;
    for (size_t i = 0; i < r->nind; i++) {
        const xchg_indicator_ev *e = &r->ind[i];
        if (e->is_measure && e->measure >= ls->p->nmeasures)
            continue;
        ls->ev[ls->nev++] = (ev_t){e->problem, e->is_measure, e->measure,
                                   e->start,   e->end,        e->value, e->of};
    }
    ls->ev_off[n + 1] = (uint32_t)ls->nev;
    ls->has_clk[n] = r->clk_len > 0;
    ls->pop[n] = 0;
    if (ls->clk_bytes) {
        if (r->clk_len) {
            memcpy(ls->clk + n * ls->clk_bytes, r->clk, ls->clk_bytes);
            unsigned pc = 0;
            for (size_t i = 0; i < ls->clk_bytes; i++)
                pc += (unsigned)__builtin_popcount(r->clk[i]);
            ls->pop[n] = (uint16_t)pc;
        } else {
            memset(ls->clk + n * ls->clk_bytes, 0, ls->clk_bytes);
        }
    }
    ls->n++;
    return XCHG_OK;
}

void xchg__link_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

int xchg__link_cmp_tok(const void *x, const void *y)
{
    const tok_t *a = x, *b = y;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    if (a->h0 != b->h0)
        return a->h0 < b->h0 ? -1 : 1;
    if (a->h1 != b->h1)
        return a->h1 < b->h1 ? -1 : 1;
    return a->rec < b->rec ? -1 : a->rec > b->rec;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int xchg__link_push_pair(struct pairs *p, uint32_t a, uint32_t b, float score, int16_t key)
{
    if (xchg__link_grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v))
        return -1;
    p->v[p->n++] = (xchg_link_pair){a < b ? a : b, a < b ? b : a, score, key};
    return 0;
}

xchg_err xchg_link_run(xchg_linkset *ls, int32_t run_date, const uint8_t pkey[32],
                       unsigned threads, xchg_link_result **out, xchg_diag *d)
{
    xchg_link_params lp = {.run_date = run_date, .pseudonym_key = pkey, .threads = threads};
    return xchg_link_run_ex(ls, &lp, out, d);
}

struct idrec {
    uint64_t id;
    uint32_t rec;
};

static int cmp_idrec(const void *x, const void *y)
{
    const struct idrec *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* record number of a caller's id, or UINT32_MAX */
static uint32_t rec_of(const struct idrec *v, size_t n, uint64_t id)
{
    struct idrec k = {id, 0};
    const struct idrec *h = n ? bsearch(&k, v, n, sizeof *v, cmp_idrec) : NULL;
    return h ? h->rec : UINT32_MAX;
}

/*
 * Apply reviewers' decisions: "different" pairs are remembered (and marked at their
 * roots) so no stage unites them; "same" pairs are united now, whatever the evidence.
 */
static xchg_err apply_decisions(const xchg_linkset *ls, const xchg_link_params *lp, struct uf *u,
                                uint32_t (**apart)[2], xchg_link_result *res, xchg_diag *d)
{
    size_t n = ls->n, nd = lp->ndecisions;
    if (!nd)
        return XCHG_OK;
    if (!lp->decisions)
        return XCHG_ERR_ARG;
    struct idrec *v = malloc((n ? n : 1) * sizeof *v);
    *apart = malloc(nd * sizeof **apart);
    if (!v || !*apart) {
        free(v);
        return XCHG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (struct idrec){ls->ids[i], (uint32_t)i};
    xchg__link_sort(v, n, sizeof *v, cmp_idrec);
    for (int pass = 0; pass < 2; pass++) /* "different" first: their marks travel with merges */
        for (size_t k = 0; k < nd; k++) {
            const xchg_link_decision *dc = &lp->decisions[k];
            if ((dc->same != 0) != pass)
                continue;
            uint32_t a = rec_of(v, n, dc->a), b = rec_of(v, n, dc->b);
            if (a == UINT32_MAX || b == UINT32_MAX || a == b) {
                res->decisions_stale += a == UINT32_MAX || b == UINT32_MAX;
                continue;
            }
            res->decisions_applied++;
            if (!dc->same) {
                (*apart)[u->napart][0] = a;
                (*apart)[u->napart++][1] = b;
                u->cl[a] = u->cl[b] = 1;
                continue;
            }
            uint32_t x = xchg__uf_find(u, a), y = xchg__uf_find(u, b);
            if (x != y) {
                xchg__uf_merge_roots(u, x, y);
                u->fuzzy[xchg__uf_find(u, a)] = 1;
            }
        }
    u->apart = (const uint32_t(*)[2]) * apart;
    free(v);
    for (size_t k = 0; k < u->napart; k++)
        if (xchg__uf_find(u, (*apart)[k][0]) == xchg__uf_find(u, (*apart)[k][1])) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "review decisions contradict each other: records %llu and %llu are "
                          "marked as different people but decisions that they are the same "
                          "person join them",
                          (unsigned long long)ls->ids[(*apart)[k][0]],
                          (unsigned long long)ls->ids[(*apart)[k][1]]);
            return XCHG_ERR_ARG;
        }
    return XCHG_OK;
}

/* The persons' union-find: one cluster per record, each with its own strong values and
 * agency bit. */
static int uf_init(const xchg_linkset *ls, struct uf *u)
{
    size_t n = ls->n;
    u->nstrong = ls->nstrong;
    u->ls = ls;
    u->parent = malloc((n ? n : 1) * sizeof *u->parent);
    u->size = malloc((n ? n : 1) * sizeof *u->size);
    u->fuzzy = calloc(n ? n : 1, 1);
    u->sv = calloc((n ? n : 1) * (ls->nstrong ? ls->nstrong : 1), sizeof *u->sv);
    u->next = malloc((n ? n : 1) * sizeof *u->next);
    u->agm = malloc((n ? n : 1) * sizeof *u->agm);
    u->cl = calloc(n ? n : 1, 1);
    if (!u->parent || !u->size || !u->fuzzy || !u->sv || !u->next || !u->agm || !u->cl)
        return -1;
    for (size_t i = 0; i < n; i++) {
        u->parent[i] = (uint32_t)i;
        u->size[i] = 1;
        u->next[i] = (uint32_t)i;
        u->agm[i] = xchg__ag_bit(ls->agency[i]);
        for (size_t s = 0; s < ls->nstrong; s++)
            u->sv[i * ls->nstrong + s] = ls->strongtok[i * ls->nstrong + s];
    }
    return 0;
}

static void uf_free(struct uf *u)
{
    free(u->parent);
    free(u->size);
    free(u->fuzzy);
    free(u->sv);
    free(u->next);
    free(u->agm);
    free(u->cl);
}

xchg_err xchg_link_run_ex(xchg_linkset *ls, const xchg_link_params *lp, xchg_link_result **out,
                          xchg_diag *d)
{
    if (!ls || !lp || !lp->pseudonym_key || !out)
        return XCHG_ERR_ARG;
    size_t n = ls->n;
    xchg_err rc = XCHG_ERR_NOMEM;
    xchg_link_result *res = calloc(1, sizeof *res);
    struct uf u = {0};
    struct pairs review = {0}, conflicts = {0};
    uint32_t *hnum = NULL;
    uint32_t(*apart)[2] = NULL;
    uint64_t(*pkeys)[3] = NULL;
    if (!res)
        return XCHG_ERR_NOMEM;
    res->nrecords = n;
    if (uf_init(ls, &u) != 0)
        goto cleanup;
    if ((rc = apply_decisions(ls, lp, &u, &apart, res, d)) != XCHG_OK)
        goto cleanup;

    /* 1. exact keys, strongest first */
    double t0 = now_s();
    if ((rc = xchg__link_exact(ls, &u, res, &conflicts)) != XCHG_OK)
        goto cleanup;
    res->seconds_exact = now_s() - t0;

    /* 2. fuzzy: Dice on CLKs within blocks, then the greedy solver */
    t0 = now_s();
    if ((rc = xchg__link_fuzzy(ls, lp->threads, &u, res, &review)) != XCHG_OK)
        goto cleanup;
    res->seconds_fuzzy = now_s() - t0;

    /* 3. persons (numbered, pseudonyms), then households: persons sharing a household token */
    t0 = now_s();
    if ((rc = xchg__link_persons(ls, &u, lp->pseudonym_key, res, &pkeys)) != XCHG_OK ||
        (rc = xchg__link_households(ls, res, &hnum)) != XCHG_OK)
        goto cleanup;

    /* 4. families and the rule */
    if ((rc = xchg__link_families(ls, &u, lp->run_date, lp->pseudonym_key,
                                  (const uint64_t(*)[3])pkeys, hnum, &review, &conflicts,
                                  res)) != XCHG_OK)
        goto cleanup;
    res->seconds_households = now_s() - t0;

    res->review = review.v;
    res->nreview = review.n;
    res->conflicts = conflicts.v;
    res->nconflicts = conflicts.n;
    review.v = conflicts.v = NULL;
    *out = res;
    res = NULL;
    rc = XCHG_OK;
cleanup:
    if (rc == XCHG_ERR_NOMEM)
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "out of memory while linking %zu records", n);
    uf_free(&u);
    free(review.v);
    free(conflicts.v);
    free(apart);
    free(hnum);
    free(pkeys);
    xchg_link_result_free(res);
    return rc;
}

void xchg_link_result_free(xchg_link_result *r)
{
    if (!r)
        return;
    free(r->person);
    free(r->household);
    free(r->person_pseudonym);
    free(r->families);
    free(r->review);
    free(r->conflicts);
    free(r);
}
