/*
 * Stage 2 of a linkage run (link_internal.h): fuzzy candidate scoring — Dice similarity of
 * the records' Bloom-filter encodings within each blocking group, on worker threads, with
 * the Dice kernel of dice_kernel.c — then the cluster-level greedy solver (best pair first)
 * and the clerical-review candidates it leaves unresolved.
 */
#include "link_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The Dice kernel (dice_kernel.c): row x of a block of m contiguous filters of n bytes is
 * popcount(f[x] & f[y]) for every y > x, on the fastest path this CPU runs (or
 * XCHG_DICE_KERNEL). */
#include "dice_kernel.h"

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
    xchg_dice_block *blk = xchg_dice_block_new(xchg_dice_kernel_selected());
    if (!blk) {
        j->err = 1;
        return NULL;
    }
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
            xchg_dice_block_set(blk, buf, m, cb);
            for (size_t x = 0; x + 1 < m; x++) {
                /* one filter against the rest of the block at once */
                size_t rest = m - x - 1;
                xchg_dice_block_row(blk, x, counts);
                for (size_t r = 0; r < rest; r++) {
                    size_t y = x + 1 + r;
                    unsigned den = (unsigned)pops[x] + pops[y];
                    unsigned two_c = 2 * counts[r];
                    /* dice >= lo without a division on the hot path */
                    if ((float)two_c < lo * (float)den || recs[x] == recs[y])
                        continue;
                    if (xchg__link_push_pair(&j->out, recs[x], recs[y], (float)two_c / (float)den, dated)) {
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
    xchg_dice_block_free(blk);
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

/* key flags of a fuzzy candidate pair (xchg_link_pair.key while linking) */
#define KEY_DATED 1     /* shares a blocking key with a date part */
#define KEY_FULL_DATE 2 /* shares a blocking key with a whole date (not just a year) */
#define KEY_UNDATED 4   /* shares a blocking key without a date part */
#define KEY_O2O 0x4000  /* over the threshold but refused by one_to_one or the cluster score */

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
        shared &= ~xchg__ag_bit(ls->agency[a]);
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

/* Per blocking key, which KEY_ flags a pair sharing it gets. A pair goes to clerical review
 * only when it shares a blocking key with a date part (e.g. phonetic forename + date of
 * birth): pairs that only share an address and a surname are family members far more
 * often than typing errors. */
static void block_flags(const xchg_policy_data *p, uint8_t dated[256])
{
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
}

/* Score the candidate pairs of every blocking group (sorted blocking tokens) on `threads`
 * workers, split at group boundaries; pairs at or over the review floor go to links. */
static xchg_err score_candidates(const xchg_linkset *ls, struct uf *u, const uint8_t *dated,
                                 unsigned threads, xchg_link_result *res, struct pairs *links)
{
    const xchg_policy_data *p = ls->p;
    xchg_err rc = XCHG_ERR_NOMEM;
    struct fz_job *jobs = calloc(threads, sizeof *jobs);
    if (!jobs)
        return XCHG_ERR_NOMEM;
    size_t start = 0;
    for (unsigned t = 0; t < threads; t++) {
        size_t end = t + 1 == threads ? ls->nbt : ls->nbt * (t + 1) / threads;
        while (end < ls->nbt && end > 0 && ls->bt[end].idx == ls->bt[end - 1].idx &&
               ls->bt[end].h0 == ls->bt[end - 1].h0 && ls->bt[end].h1 == ls->bt[end - 1].h1)
            end++;
        if (end < start)
            end = start;
        jobs[t] = (struct fz_job){dated, ls, u, ls->bt, start, end, p->fuzzy.review_low, {0}, 0, 0, 0};
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
            if (xchg__link_push_pair(links, jobs[t].out.v[k].a, jobs[t].out.v[k].b,
                                     jobs[t].out.v[k].score, jobs[t].out.v[k].key))
                goto cleanup;
        free(jobs[t].out.v);
        jobs[t].out.v = NULL;
    }
    rc = XCHG_OK;
cleanup:
    for (unsigned t = 0; t < threads; t++)
        free(jobs[t].out.v);
    free(jobs);
    return rc;
}

/* The same pair may come from several blocks: one of each, with every block's flags; then
 * best first. */
static void merge_duplicates(struct pairs *links)
{
    xchg__link_sort(links->v, links->n, sizeof *links->v, cmp_pair_ab);
    size_t m = 0;
    for (size_t k = 0; k < links->n; k++) {
        if (m && links->v[k].a == links->v[m - 1].a && links->v[k].b == links->v[m - 1].b) {
            links->v[m - 1].key |= links->v[k].key;
            continue;
        }
        links->v[m++] = links->v[k];
    }
    links->n = m;
    xchg__link_sort(links->v, links->n, sizeof *links->v, cmp_pair_score);
}

/* Dice of records i and j (both with a filter) */
static double rec_dice(const xchg_linkset *ls, uint32_t i, uint32_t j)
{
    const uint8_t *p = ls->clk + (size_t)i * ls->clk_bytes, *q = ls->clk + (size_t)j * ls->clk_bytes;
    unsigned c = 0;
    size_t z = 0;
    for (; z + 8 <= ls->clk_bytes; z += 8) {
        uint64_t a, b;
        memcpy(&a, p + z, 8);
        memcpy(&b, q + z, 8);
        c += (unsigned)__builtin_popcountll(a & b);
    }
    for (; z < ls->clk_bytes; z++)
        c += (unsigned)__builtin_popcount((unsigned)(p[z] & q[z]));
    return 2.0 * c / ((double)ls->pop[i] + ls->pop[j]);
}

#define CLUSTER_SCORE_MAX 64 /* records of each cluster the cluster score looks at */

/*
 * Does the cluster pair (roots x, y) score below th on average? The mean Dice over every
 * record pair across the two clusters (records with a filter; up to CLUSTER_SCORE_MAX
 * records of each), so a record that resembles one record of a person but none of the
 * others does not join that person on the strength of one pair. 0 when the best pair
 * is the only one.
 */
static int cluster_below(const xchg_linkset *ls, struct uf *u, uint32_t x, uint32_t y, float th)
{
    double sum = 0;
    unsigned cnt = 0, nx = 0;
    uint32_t i = x;
    do {
        if (ls->has_clk[i] && ls->pop[i] && nx < CLUSTER_SCORE_MAX) {
            nx++;
            unsigned ny = 0;
            uint32_t j = y;
            do {
                if (ls->has_clk[j] && ls->pop[j] && ny < CLUSTER_SCORE_MAX) {
                    ny++;
                    sum += rec_dice(ls, i, j);
                    cnt++;
                }
                j = u->next[j];
            } while (j != y);
        }
        i = u->next[i];
    } while (i != x);
    return cnt > 1 && sum < (double)th * cnt;
}

/* The cluster-level greedy solver. Best first: a pair over the threshold merges its
 * records' clusters unless the merged person would hold records the evidence says are
 * different people (unite: strong identifiers, one record per person, agency-local ids,
 * review decisions), or, with one_to_one, the clusters already share an agency, or the
 * two clusters score below the threshold on average over all their record pairs (that
 * pair is left to clerical review, like a one_to_one refusal). */
static void solve(const xchg_linkset *ls, struct uf *u, struct pairs *links,
                  xchg_link_result *res)
{
    const xchg_policy_data *p = ls->p;
    const float th = (float)p->fuzzy.threshold; /* as stored: float */
    for (size_t k = 0; k < links->n; k++) {
        xchg_link_pair *l = &links->v[k];
        if (l->score < th)
            break; /* sorted: the rest are review candidates */
        uint32_t x = xchg__uf_find(u, l->a), y = xchg__uf_find(u, l->b);
        if (x == y)
            continue; /* already one person */
        if (p->fuzzy.one_to_one && o2o_clash(u, ls, l->a, l->b, x, y)) {
            res->one_to_one_refused++;
            l->key |= KEY_O2O;
            continue;
        }
        if (xchg__uf_strong_conflict(u, x, y) >= 0) {
            res->fuzzy_refused++; /* different strong identifiers: not one person */
            continue;
        }
        if (xchg__uf_person_conflict(u, x, y)) {
            res->person_refused++;
            continue;
        }
        if (cluster_below(ls, u, x, y, th)) {
            l->key |= KEY_O2O; /* mixed evidence: a question for the reviewer */
            continue;
        }
        xchg__uf_merge_roots(u, x, y);
        u->fuzzy[xchg__uf_find(u, x)] = 1;
        res->fuzzy_links++;
    }
}

/*
 * Clerical review: what is still unresolved once every link is made. A pair is listed
 * when it shares a blocking key with a date part, scored in the review band (or over the
 * threshold but refused by one_to_one), its two clusters are still apart, and nothing
 * says they are different people; one pair per cluster pair (the best), so a person with
 * many records is not listed many times over.
 */
static xchg_err review_candidates(const xchg_linkset *ls, struct uf *u, const struct pairs *links,
                                  struct pairs *review)
{
    const float th = (float)ls->p->fuzzy.threshold;
    xchg_err rc = XCHG_ERR_NOMEM;
    size_t nrp = 0;
    uint32_t *keep = NULL;
    struct rpair *rp = malloc((links->n ? links->n : 1) * sizeof *rp);
    if (!rp)
        goto cleanup;
    for (size_t k = 0; k < links->n; k++) {
        const xchg_link_pair *l = &links->v[k];
        if (!review_blocks(l->key) || (l->score >= th && !(l->key & KEY_O2O)))
            continue;
        uint32_t x = xchg__uf_find(u, l->a), y = xchg__uf_find(u, l->b);
        if (x == y || xchg__uf_strong_conflict(u, x, y) >= 0 || xchg__uf_person_conflict(u, x, y))
            continue;
        rp[nrp++] = (struct rpair){x < y ? x : y, x < y ? y : x, (uint32_t)k};
    }
    xchg__link_sort(rp, nrp, sizeof *rp, cmp_rpair);
    keep = malloc((nrp ? nrp : 1) * sizeof *keep);
    if (!keep)
        goto cleanup;
    size_t nkeep = 0;
    for (size_t k = 0; k < nrp; k++)
        if (!k || rp[k].x != rp[k - 1].x || rp[k].y != rp[k - 1].y)
            keep[nkeep++] = rp[k].k; /* the best pair of each cluster pair */
    xchg__link_sort(keep, nkeep, sizeof *keep, cmp_u32); /* back to score order */
    for (size_t k = 0; k < nkeep; k++) {
        const xchg_link_pair *l = &links->v[keep[k]];
        if (xchg__link_push_pair(review, l->a, l->b, l->score, -1))
            goto cleanup;
    }
    rc = XCHG_OK;
cleanup:
    free(rp);
    free(keep);
    return rc;
}

xchg_err xchg__link_fuzzy(xchg_linkset *ls, unsigned threads, struct uf *u,
                          xchg_link_result *res, struct pairs *review)
{
    const xchg_policy_data *p = ls->p;
    if (!(ls->clk_bytes && p->fuzzy.clk_schema_json && ls->nbt))
        return XCHG_OK;
    xchg__link_sort(ls->bt, ls->nbt, sizeof *ls->bt, xchg__link_cmp_tok);
    uint8_t dated[256] = {0};
    block_flags(p, dated);
    if (!threads)
        threads = 2;
    if (threads > 16)
        threads = 16;
    struct pairs links = {0};
    xchg_err rc = score_candidates(ls, u, dated, threads, res, &links);
    if (rc == XCHG_OK) {
        merge_duplicates(&links);
        solve(ls, u, &links, res);
        rc = review_candidates(ls, u, &links, review);
    }
    free(links.v);
    return rc;
}
