/*
 * Linkage engine (include/exchange/link.h; method in docs/linkage.md).
 *
 * Tokens are compared by their first 16 bytes (HMAC-SHA256 output is uniform; a
 * collision among even 10^9 tokens has probability below 2^-68). Records are united in
 * a union-find whose roots carry each strong identifier's value (or none), so a merge
 * that would put two different strong values in one cluster is refused.
 */
#include "exchange/link.h"
#include "exchange/crypto.h"
#include "internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STRONG 8
#define MAX_DOM 8
#define HH_MAX_PERSONS 30 /* a household token shared by more persons is not a family */

typedef struct {
    uint64_t h0, h1;
    uint32_t rec;
    uint8_t idx;
} tok_t;

typedef struct {
    uint64_t h0, h1;
    uint8_t set;
} sval_t;

typedef struct {
    uint8_t problem;
    int32_t start, end;
} ev_t;

struct xchg_linkset {
    const xchg_policy *pol;
    const xchg_policy_data *p;
    size_t n, cap;
    uint64_t *ids;
    uint16_t *agency;
    uint32_t *ev_off; /* n+1 offsets into ev */
    ev_t *ev;
    size_t nev, evcap;
    tok_t *mt, *bt, *ht; /* match, block, household tokens */
    size_t nmt, nbt, nht, mtcap, btcap, htcap;
    uint8_t *clk; /* n * clk_bytes */
    uint16_t *pop;
    size_t clk_bytes;
    uint8_t *has_clk;
    /* per-record tokens of keys that dominate another key (for the twin rule) */
    int dom_slot[XCHG_RECORD_MAX_TOKENS]; /* key -> slot, or -1 */
    size_t ndomslots;
    sval_t *domtok; /* n * ndomslots */
    int strong_slot[XCHG_RECORD_MAX_TOKENS]; /* key -> strong slot or -1 */
    size_t nstrong;
    sval_t *strongtok; /* n * nstrong: each record's own strong values */
    /* person-level evidence per agency (docs/linkage.md): one record per person; the
     * agency's own person identifier (token index nmatch_keys) */
    uint8_t *ag_orpp, *ag_pid; /* per party */
    uint64_t orpp_bits, cons_bits; /* agency bits (party % 64) with a constraint */
    int exact_bits;                /* parties <= 64: an agency bit names one agency */
    sval_t *pid;                   /* per record, when some agency declares person_id */
};

static uint64_t ag_bit(size_t agency) { return 1ull << (agency & 63); }

/* Do two keys cover the same set of fields (whatever their transforms)? */
static int same_fields(const xchg_match_key *a, const xchg_match_key *b)
{
    if (!a->nparts)
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

xchg_err xchg_linkset_new(const xchg_policy *pol, xchg_linkset **out)
{
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
            ls->orpp_bits |= ag_bit(a);
        if (ls->ag_orpp[a] || ls->ag_pid[a])
            ls->cons_bits |= ag_bit(a);
    }
    /* a key dominates a later key over the same set of fields */
    for (size_t k = 0; k < p->nmatch_keys && k < XCHG_RECORD_MAX_TOKENS; k++) {
        if (p->match_keys[k].strong && ls->nstrong < MAX_STRONG)
            ls->strong_slot[k] = (int)ls->nstrong++;
        for (size_t j = k + 1; j < p->nmatch_keys; j++) {
            const xchg_match_key *a = &p->match_keys[k];
            int same = same_fields(a, &p->match_keys[j]);
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

static int grow(void **p, size_t *cap, size_t need, size_t elem)
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
        if (!ids || !ag || !eo || !pop || !hc || (ls->clk_bytes && !clk) ||
            (ls->ndomslots && !dt) || (ls->nstrong && !st) || (ls->cons_bits && !pid))
            return XCHG_ERR_NOMEM;
        ls->cap = nc;
    }
    if (grow((void **)&ls->mt, &ls->mtcap, ls->nmt + r->nmatch, sizeof(tok_t)) ||
        grow((void **)&ls->bt, &ls->btcap, ls->nbt + r->nblock, sizeof(tok_t)) ||
        grow((void **)&ls->ht, &ls->htcap, ls->nht + r->nhouse, sizeof(tok_t)) ||
        grow((void **)&ls->ev, &ls->evcap, ls->nev + r->nind, sizeof(ev_t)))
        return XCHG_ERR_NOMEM;
    ls->ids[n] = id;
    ls->agency[n] = (uint16_t)agency;
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
    for (size_t i = 0; i < r->nind; i++)
        ls->ev[ls->nev++] = (ev_t){r->ind[i].problem, r->ind[i].start, r->ind[i].end};
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

/* ---- union-find with strong values at the roots ---------------------------------------- */

struct uf {
    uint32_t *parent;
    uint32_t *size;
    sval_t *sv; /* roots: nstrong values */
    uint8_t *fuzzy; /* roots: the cluster has a fuzzy link */
    size_t nstrong;
    /* persons only (NULL for households): person-level evidence */
    const xchg_linkset *ls;
    uint32_t *next;   /* circular list of each cluster's records */
    uint64_t *agm;    /* roots: agency bits of the cluster's records */
    uint8_t *cl;      /* roots: the cluster holds a record of a forced "different" pair */
    const uint32_t (*apart)[2]; /* forced "different people" record pairs */
    size_t napart;
};

static uint32_t find(struct uf *u, uint32_t x)
{
    while (u->parent[x] != x) {
        u->parent[x] = u->parent[u->parent[x]];
        x = u->parent[x];
    }
    return x;
}

/* roots a, b hold different values of a strong identifier: the slot, or -1 */
static int strong_conflict(const struct uf *u, uint32_t a, uint32_t b)
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
static int person_conflict(struct uf *u, uint32_t a, uint32_t b)
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
            if (common & ag_bit(ai)) {
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
            uint32_t x = find(u, u->apart[k][0]), y = find(u, u->apart[k][1]);
            if ((x == a && y == b) || (x == b && y == a))
                return 1;
        }
    return 0;
}

/* merge roots a != b */
static void merge_roots(struct uf *u, uint32_t a, uint32_t b)
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
static int unite(struct uf *u, uint32_t a, uint32_t b, int *slot)
{
    a = find(u, a);
    b = find(u, b);
    if (a == b)
        return 0;
    int s = strong_conflict(u, a, b);
    if (s >= 0) {
        *slot = s;
        return -1;
    }
    if (person_conflict(u, a, b))
        return -2;
    merge_roots(u, a, b);
    return 1;
}

/* qsort, but no call for an empty (possibly NULL) array: qsort(NULL, 0, ...) is undefined */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static int cmp_tok(const void *x, const void *y)
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

struct pairs {
    xchg_link_pair *v;
    size_t n, cap;
};

static int push_pair(struct pairs *p, uint32_t a, uint32_t b, float score, int16_t key)
{
    if (grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v))
        return -1;
    p->v[p->n++] = (xchg_link_pair){a < b ? a : b, a < b ? b : a, score, key};
    return 0;
}

/* a stronger key over the same fields says these two records differ */
static int contradicted(const xchg_linkset *ls, size_t key, uint32_t a, uint32_t b)
{
    for (size_t k = 0; k < key; k++) {
        int ds = ls->dom_slot[k];
        if (ds < 0)
            continue;
        /* does key k cover the same fields as key `key`? dom_slot only marks dominators;
         * check the relation for this pair of keys */
        int same = same_fields(&ls->p->match_keys[k], &ls->p->match_keys[key]);
        if (!same)
            continue;
        const sval_t *x = &ls->domtok[(size_t)a * ls->ndomslots + (size_t)ds];
        const sval_t *y = &ls->domtok[(size_t)b * ls->ndomslots + (size_t)ds];
        if (x->set && y->set && (x->h0 != y->h0 || x->h1 != y->h1))
            return 1;
    }
    return 0;
}

/* The Dice kernel (dice_kernel.c): out[i] = popcount(q & f[i]) for one query against m
 * contiguous filters of n bytes, on the fastest path this CPU runs (or XCHG_DICE_KERNEL). */
#include "dice_kernel.h"

typedef xchg_dice_many_fn and_pop_many_fn;

static and_pop_many_fn pick_and_pop_many(size_t n) { return xchg_dice_kernel_pick(n); }


struct fz_job {
    const uint8_t *dated; /* per blocking key: has a date part */
    const xchg_linkset *ls;
    struct uf *u;
    const tok_t *bt;
    size_t from, to; /* range of group starts in bt */
    double lo;
    struct pairs out;
    uint64_t comparisons, candidates;
    int err;
};

/* score candidate pairs of blocking groups [from, to) of the sorted blocking tokens */
static void *fuzzy_worker(void *arg)
{
    struct fz_job *j = arg;
    const xchg_linkset *ls = j->ls;
    const size_t cb = ls->clk_bytes;
    and_pop_many_fn many = pick_and_pop_many(cb);
    uint32_t *counts = NULL;
    /* each group's filters are gathered into one contiguous buffer first, so the all-pairs
     * loop runs on cache-resident data instead of records scattered over the set */
    uint8_t *buf = NULL;
    uint32_t *recs = NULL;
    uint16_t *pops = NULL;
    size_t cap = 0;
    size_t i = j->from;
    while (i < j->to) {
        size_t e = i + 1;
        while (e < ls->nbt && j->bt[e].idx == j->bt[i].idx && j->bt[e].h0 == j->bt[i].h0 &&
               j->bt[e].h1 == j->bt[i].h1)
            e++;
        size_t g = e - i;
        if (g > 1 && g <= 5000) {
            if (g > cap) {
                uint8_t *nb = realloc(buf, g * cb);
                uint32_t *nr = realloc(recs, g * sizeof *recs);
                uint16_t *np = realloc(pops, g * sizeof *pops);
                uint32_t *nc = realloc(counts, g * sizeof *counts);
                if (nc)
                    counts = nc;
                if (nb)
                    buf = nb;
                if (nr)
                    recs = nr;
                if (np)
                    pops = np;
                if (!nb || !nr || !np || !nc) {
                    j->err = 1;
                    break;
                }
                cap = g;
            }
            size_t m = 0;
            for (size_t x = i; x < e; x++) {
                uint32_t r = j->bt[x].rec;
                if (!ls->has_clk[r] || !ls->pop[r])
                    continue;
                memcpy(buf + m * cb, ls->clk + (size_t)r * cb, cb);
                recs[m] = r;
                pops[m++] = ls->pop[r];
            }
            int16_t dated = (int16_t)j->dated[j->bt[i].idx];
            const float lo = (float)j->lo;
            for (size_t x = 0; x + 1 < m; x++) {
                /* one filter against the rest of the block at once */
                size_t rest = m - x - 1;
                many(buf + x * cb, buf + (x + 1) * cb, rest, cb, counts);
                for (size_t r = 0; r < rest; r++) {
                    size_t y = x + 1 + r;
                    unsigned den = (unsigned)pops[x] + pops[y];
                    unsigned two_c = 2 * counts[r];
                    /* dice >= lo without a division on the hot path */
                    if ((float)two_c < lo * (float)den || recs[x] == recs[y])
                        continue;
                    if (push_pair(&j->out, recs[x], recs[y], (float)two_c / (float)den, dated)) {
                        j->err = 1;
                        goto done;
                    }
                }
            }
            j->candidates += m * (m - 1) / 2;
            j->comparisons += m * (m - 1) / 2;
        }
        i = e;
    }
done:
    free(buf);
    free(recs);
    free(pops);
    free(counts);
    return NULL;
}

static int cmp_pair_ab(const void *x, const void *y)
{
    const xchg_link_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

static int cmp_pair_score(const void *x, const void *y)
{
    const xchg_link_pair *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return cmp_pair_ab(x, y);
}

/* pseudonym: "P-" / "F-" + 12 base32 characters of HMAC(key, label || token) */
static void pseudonym(const uint8_t key[32], char prefix, const uint64_t h[2], char out[24])
{
    uint8_t msg[17], mac[32];
    msg[0] = (uint8_t)prefix;
    memcpy(msg + 1, h, 16);
    xchg_hmac_sha256(key, 32, msg, sizeof msg, mac);
    xchg__pseudonym_format(mac, prefix, out);
}

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
    sort(pt, nh, sizeof *pt, cmp_ptok);
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
    sort(pt, keep, sizeof *pt, cmp_ptok_value);
    for (size_t k = 0; k < keep;) {
        size_t e = k + 1;
        while (e < keep && pt[e].idx == pt[k].idx && pt[e].h0 == pt[k].h0 && pt[e].h1 == pt[k].h1)
            e++;
        /* a token shared by very many persons is an institution or a block, not a home */
        if (e - k <= HH_MAX_PERSONS)
            for (size_t x = k + 1; x < e; x++) {
                int slot;
                unite(hu, pt[k].person, pt[x].person, &slot);
            }
        k = e;
    }
    /* fallback: a person with no address token joins the one household sharing the
     * fallback token (e.g. surname + postcode); none if two households share it */
    sort(fb, nfb, sizeof *fb, cmp_ptok_value);
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
            uint32_t r = find(hu, fb[x].person);
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
                    unite(hu, anchor, fb[x].person, &slot);
            }
        }
        k = e;
    }
    free(fb);
    free(has_addr);
    free(pt);
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
    sort(v, n, sizeof *v, cmp_idrec);
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
            uint32_t x = find(u, a), y = find(u, b);
            if (x != y) {
                merge_roots(u, x, y);
                u->fuzzy[find(u, a)] = 1;
            }
        }
    u->apart = (const uint32_t(*)[2]) * apart;
    free(v);
    for (size_t k = 0; k < u->napart; k++)
        if (find(u, (*apart)[k][0]) == find(u, (*apart)[k][1])) {
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

/* key flags of a fuzzy candidate pair (xchg_link_pair.key while linking) */
#define KEY_DATED 1     /* shares a blocking key with a date part */
#define KEY_FULL_DATE 2 /* shares a blocking key with a whole date (not just a year) */
#define KEY_UNDATED 4   /* shares a blocking key without a date part */
#define KEY_O2O 0x4000  /* over the threshold but refused by one_to_one */

/*
 * Which shared blocks make a pair a review question: a block with a whole date (e.g.
 * phonetic forename + date of birth), or one with only a year (phonetic surname + year of
 * birth) together with another block (e.g. postcode sector + initial). Pairs sharing only
 * a surname sound and a birth year are, in a large population, strangers far more often
 * than one person with a mistyped date (on the synthetic county at 1,000,000 people, 10 %
 * of them were one person); pairs sharing only an address block are family members.
 */
static int review_blocks(int key)
{
    return (key & KEY_FULL_DATE) || ((key & KEY_DATED) && (key & KEY_UNDATED));
}

/* one_to_one on clusters: a link between agencies A and B joins clusters that share no
 * agency; a link within agency A (a duplicate) joins clusters that share at most A.
 * (Agency bits are party % 64: an agreement with more than 64 parties may refuse a link
 * between agencies whose bits coincide; person_conflict walks the records instead.) */
static int o2o_clash(const struct uf *u, const xchg_linkset *ls, uint32_t a, uint32_t b,
                     uint32_t x, uint32_t y)
{
    uint64_t shared = u->agm[x] & u->agm[y];
    if (ls->agency[a] == ls->agency[b])
        shared &= ~ag_bit(ls->agency[a]);
    return shared != 0;
}

struct rpair {
    uint32_t x, y; /* roots, x < y */
    uint32_t k;    /* index into the sorted candidate pairs */
};

static int cmp_rpair(const void *p, const void *q)
{
    const struct rpair *a = p, *b = q;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    return a->k < b->k ? -1 : a->k > b->k;
}

static int cmp_u32(const void *p, const void *q)
{
    uint32_t a = *(const uint32_t *)p, b = *(const uint32_t *)q;
    return a < b ? -1 : a > b;
}

xchg_err xchg_link_run_ex(xchg_linkset *ls, const xchg_link_params *lp, xchg_link_result **out,
                          xchg_diag *d)
{
    if (!ls || !lp || !lp->pseudonym_key || !out)
        return XCHG_ERR_ARG;
    const uint8_t *pkey = lp->pseudonym_key;
    int32_t run_date = lp->run_date;
    unsigned threads = lp->threads;
    const xchg_policy_data *p = ls->p;
    size_t n = ls->n;
    xchg_err rc = XCHG_ERR_NOMEM;
    xchg_link_result *res = calloc(1, sizeof *res);
    struct uf u = {0};
    struct pairs review = {0}, conflicts = {0}, links = {0};
    uint32_t *hh = NULL, *hsize = NULL, *pnum = NULL, *hnum = NULL;
    uint32_t(*apart)[2] = NULL;
    struct rpair *rp = NULL;
    uint32_t *keep = NULL;
    uint64_t(*pkeys)[3] = NULL;
    struct fz_job *jobs = NULL;
    uint8_t dated[256] = {0};
    if (!res)
        return XCHG_ERR_NOMEM;
    res->nrecords = n;
    u.nstrong = ls->nstrong;
    u.ls = ls;
    u.parent = malloc((n ? n : 1) * sizeof *u.parent);
    u.size = malloc((n ? n : 1) * sizeof *u.size);
    u.fuzzy = calloc(n ? n : 1, 1);
    u.sv = calloc((n ? n : 1) * (ls->nstrong ? ls->nstrong : 1), sizeof *u.sv);
    u.next = malloc((n ? n : 1) * sizeof *u.next);
    u.agm = malloc((n ? n : 1) * sizeof *u.agm);
    u.cl = calloc(n ? n : 1, 1);
    if (!u.parent || !u.size || !u.fuzzy || !u.sv || !u.next || !u.agm || !u.cl)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        u.parent[i] = (uint32_t)i;
        u.size[i] = 1;
        u.next[i] = (uint32_t)i;
        u.agm[i] = ag_bit(ls->agency[i]);
        for (size_t s = 0; s < ls->nstrong; s++)
            u.sv[i * ls->nstrong + s] = ls->strongtok[i * ls->nstrong + s];
    }
    if ((rc = apply_decisions(ls, lp, &u, &apart, res, d)) != XCHG_OK)
        goto cleanup;
    rc = XCHG_ERR_NOMEM;

    /* 1. exact keys, strongest first */
    double t0 = now_s();
    sort(ls->mt, ls->nmt, sizeof *ls->mt, cmp_tok);
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
            int r = unite(&u, a, b, &slot);
            if (r > 0)
                res->exact_unions++;
            res->exact_person_refused += r == -2;
            if (r < 0 && push_pair(&conflicts, a, b, 1.0f, (int16_t)ls->mt[i].idx))
                goto cleanup;
        }
        i = e;
    }
    res->seconds_exact = now_s() - t0;

    /* 2. fuzzy: Dice on CLKs within blocks */
    t0 = now_s();
    if (ls->clk_bytes && p->fuzzy.clk_schema_json && ls->nbt) {
        sort(ls->bt, ls->nbt, sizeof *ls->bt, cmp_tok);
        /* A pair goes to clerical review only when it shares a blocking key with a date
         * part (e.g. phonetic forename + date of birth): pairs that only share an address
         * and a surname are family members far more often than typing errors. */
        for (size_t k = 0; k < p->fuzzy.nblocking && k < 256; k++) {
            for (size_t x = 0; x < p->fuzzy.blocking[k].nparts; x++) {
                const xchg_key_part *kp = &p->fuzzy.blocking[k].parts[x];
                if (p->fields[kp->field].type != XCHG_FT_DATE)
                    continue;
                dated[k] |= KEY_DATED;
                if (kp->transform != XCHG_TR_YEAR)
                    dated[k] |= KEY_FULL_DATE;
            }
            if (!dated[k])
                dated[k] = KEY_UNDATED;
        }
        if (!threads)
            threads = 2;
        if (threads > 16)
            threads = 16;
        jobs = calloc(threads, sizeof *jobs);
        if (!jobs)
            goto cleanup;
        /* split at group boundaries */
        size_t start = 0;
        for (unsigned t = 0; t < threads; t++) {
            size_t end = t + 1 == threads ? ls->nbt : ls->nbt * (t + 1) / threads;
            while (end < ls->nbt && end > 0 && ls->bt[end].idx == ls->bt[end - 1].idx &&
                   ls->bt[end].h0 == ls->bt[end - 1].h0 && ls->bt[end].h1 == ls->bt[end - 1].h1)
                end++;
            if (end < start)
                end = start;
            jobs[t] = (struct fz_job){dated, ls, &u, ls->bt, start, end, p->fuzzy.review_low, {0}, 0, 0, 0};
            start = end;
        }
        pthread_t *tid = calloc(threads, sizeof *tid);
        if (!tid)
            goto cleanup;
        unsigned started = 0;
        for (unsigned t = 1; t < threads; t++)
            if (pthread_create(&tid[t], NULL, fuzzy_worker, &jobs[t]) == 0)
                started |= 1u << t;
            else
                fuzzy_worker(&jobs[t]);
        fuzzy_worker(&jobs[0]);
        for (unsigned t = 1; t < threads; t++)
            if (started & (1u << t))
                pthread_join(tid[t], NULL);
        free(tid);
        for (unsigned t = 0; t < threads; t++) {
            if (jobs[t].err)
                goto cleanup;
            res->comparisons += jobs[t].comparisons;
            res->candidate_pairs += jobs[t].candidates;
            for (size_t k = 0; k < jobs[t].out.n; k++)
                if (push_pair(&links, jobs[t].out.v[k].a, jobs[t].out.v[k].b, jobs[t].out.v[k].score,
                              jobs[t].out.v[k].key))
                    goto cleanup;
            free(jobs[t].out.v);
            jobs[t].out.v = NULL;
        }
        /* the same pair may come from several blocks */
        sort(links.v, links.n, sizeof *links.v, cmp_pair_ab);
        size_t m = 0;
        for (size_t k = 0; k < links.n; k++) {
            if (m && links.v[k].a == links.v[m - 1].a && links.v[k].b == links.v[m - 1].b) {
                links.v[m - 1].key |= links.v[k].key;
                continue;
            }
            links.v[m++] = links.v[k];
        }
        links.n = m;
        sort(links.v, links.n, sizeof *links.v, cmp_pair_score);
        /* best first: a pair over the threshold merges its records' clusters unless the
         * merged person would hold records the evidence says are different people
         * (unite: strong identifiers, one record per person, agency-local ids, review
         * decisions) or, with one_to_one, the clusters already share an agency */
        const float th = (float)p->fuzzy.threshold; /* as stored: float */
        for (size_t k = 0; k < links.n; k++) {
            xchg_link_pair *l = &links.v[k];
            if (l->score < th)
                break; /* sorted: the rest are review candidates */
            uint32_t x = find(&u, l->a), y = find(&u, l->b);
            if (x == y)
                continue; /* already one person */
            if (p->fuzzy.one_to_one && o2o_clash(&u, ls, l->a, l->b, x, y)) {
                res->one_to_one_refused++;
                l->key |= KEY_O2O;
                continue;
            }
            int slot = -1;
            int r = unite(&u, x, y, &slot);
            if (r > 0) {
                u.fuzzy[find(&u, x)] = 1;
                res->fuzzy_links++;
            }
            res->fuzzy_refused += r == -1; /* different strong identifiers: not one person */
            res->person_refused += r == -2;
        }
        /*
         * Clerical review: what is still unresolved once every link is made. A pair is
         * listed when it shares a blocking key with a date part, scored in the review band
         * (or over the threshold but refused by one_to_one), its two clusters are still
         * apart, and nothing says they are different people; one pair per cluster pair
         * (the best), so a person with many records is not listed many times over.
         */
        size_t nrp = 0;
        rp = malloc((links.n ? links.n : 1) * sizeof *rp);
        if (!rp)
            goto cleanup;
        for (size_t k = 0; k < links.n; k++) {
            const xchg_link_pair *l = &links.v[k];
            if (!review_blocks(l->key) || (l->score >= th && !(l->key & KEY_O2O)))
                continue;
            uint32_t x = find(&u, l->a), y = find(&u, l->b);
            if (x == y || strong_conflict(&u, x, y) >= 0 || person_conflict(&u, x, y))
                continue;
            rp[nrp++] = (struct rpair){x < y ? x : y, x < y ? y : x, (uint32_t)k};
        }
        sort(rp, nrp, sizeof *rp, cmp_rpair);
        keep = malloc((nrp ? nrp : 1) * sizeof *keep);
        if (!keep)
            goto cleanup;
        size_t nkeep = 0;
        for (size_t k = 0; k < nrp; k++)
            if (!k || rp[k].x != rp[k - 1].x || rp[k].y != rp[k - 1].y)
                keep[nkeep++] = rp[k].k; /* the best pair of each cluster pair */
        sort(keep, nkeep, sizeof *keep, cmp_u32); /* back to score order */
        for (size_t k = 0; k < nkeep; k++) {
            const xchg_link_pair *l = &links.v[keep[k]];
            if (push_pair(&review, l->a, l->b, l->score, -1))
                goto cleanup;
        }
    }
    res->seconds_fuzzy = now_s() - t0;

    /* persons: number the roots */
    t0 = now_s();
    res->person = malloc((n ? n : 1) * sizeof *res->person);
    res->household = malloc((n ? n : 1) * sizeof *res->household);
    pnum = malloc((n ? n : 1) * sizeof *pnum);
    if (!res->person || !res->household || !pnum)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        pnum[i] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = find(&u, (uint32_t)i);
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

    /* 3. households: persons sharing a household token */
    struct uf hu = {0};
    hu.parent = malloc((res->npersons ? res->npersons : 1) * sizeof *hu.parent);
    hu.size = malloc((res->npersons ? res->npersons : 1) * sizeof *hu.size);
    hu.fuzzy = calloc(res->npersons ? res->npersons : 1, 1);
    if (!hu.parent || !hu.size || !hu.fuzzy) {
        free(hu.parent);
        free(hu.size);
        free(hu.fuzzy);
        goto cleanup;
    }
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
    if (household_union(ls, res, &hu) != 0) {
        free(hu.parent);
        free(hu.size);
        free(hu.fuzzy);
        goto cleanup;
    }
    hnum = malloc((res->npersons ? res->npersons : 1) * sizeof *hnum);
    if (!hnum) {
        free(hu.parent);
        free(hu.size);
        free(hu.fuzzy);
        goto cleanup;
    }
    for (size_t i = 0; i < res->npersons; i++)
        hnum[i] = UINT32_MAX;
    for (size_t i = 0; i < res->npersons; i++) {
        uint32_t r = find(&hu, (uint32_t)i);
        if (hnum[r] == UINT32_MAX)
            hnum[r] = (uint32_t)res->nhouseholds++;
        hnum[i] = hnum[r];
    }
    free(hu.parent);
    free(hu.size);
    free(hu.fuzzy);
    for (size_t i = 0; i < n; i++)
        res->household[i] = hnum[res->person[i]];

    /* 4. families and the rule */
    res->families = calloc(res->nhouseholds ? res->nhouseholds : 1, sizeof *res->families);
    uint64_t(*fkeys)[2] = malloc((res->nhouseholds ? res->nhouseholds : 1) * sizeof *fkeys);
    if (!res->families || !fkeys) {
        free(fkeys);
        goto cleanup;
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
        uint32_t root = find(&u, (uint32_t)i);
        xchg_link_how how = u.size[root] == 1 ? XCHG_LINK_NONE
                            : u.fuzzy[root]   ? XCHG_LINK_FUZZY
                                              : XCHG_LINK_EXACT;
        if (how > fam->how)
            fam->how = how;
        for (uint32_t e = ls->ev_off[i]; e < ls->ev_off[i + 1]; e++) {
            const ev_t *ev = &ls->ev[e];
            if (ev->problem >= p->nproblems)
                continue;
            int32_t w = p->problems[ev->problem].window_days > 0 ? p->problems[ev->problem].window_days
                                                                 : p->rule_window_days;
            int32_t from = run_date - w + 1;
            if (ev->end < from || ev->start > run_date)
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
    for (size_t k = 0; k < review.n; k++)
        res->families[res->household[review.v[k].a]].nreview++;
    for (size_t k = 0; k < conflicts.n; k++)
        res->families[res->household[conflicts.v[k].a]].nconflicts++;
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
    if (jobs)
        for (unsigned t = 0; t < threads; t++)
            free(jobs[t].out.v);
    free(jobs);
    free(u.parent);
    free(u.size);
    free(u.fuzzy);
    free(u.sv);
    free(review.v);
    free(conflicts.v);
    free(links.v);
    free(rp);
    free(keep);
    free(apart);
    free(u.next);
    free(u.agm);
    free(u.cl);
    free(hh);
    free(hsize);
    free(pnum);
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
