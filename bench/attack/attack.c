/* Attacks on the matcher's encodings (attack.h, docs/attacks.md). */
#include "attack.h"

#include <sodium.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void att_list_add(att_list *l, const char *v, double w)
{
    long i = att_list_find(l, v);
    if (i >= 0) {
        l->w[i] += w;
        return;
    }
    att_list_add_new(l, v, w);
}

void att_list_add_new(att_list *l, const char *v, double w)
{
    if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
        size_t c = l->n ? 2 * l->n : 1;
        l->v = realloc(l->v, c * sizeof *l->v);
        l->w = realloc(l->w, c * sizeof *l->w);
    }
    l->v[l->n] = strdup(v);
    l->w[l->n] = w;
    l->n++;
}

void att_list_free(att_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->w);
    memset(l, 0, sizeof *l);
}

long att_list_find(const att_list *l, const char *v)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], v) == 0)
            return (long)i;
    return -1;
}


/* ---- pattern mining ---------------------------------------------------------------- */

#define PAT_K 10      /* positions per mined pattern */
#define PAT_CONTEXT 24 /* assigned patterns whose co-occurrence checks a new assignment */

static size_t popand(const uint64_t *a, const uint64_t *b, size_t w)
{
    size_t c = 0;
    for (size_t i = 0; i < w; i++)
        c += (size_t)__builtin_popcountll(a[i] & b[i]);
    return c;
}

static size_t popw(const uint64_t *a, size_t w)
{
    size_t c = 0;
    for (size_t i = 0; i < w; i++)
        c += (size_t)__builtin_popcountll(a[i]);
    return c;
}

struct cand {
    size_t field;
    char g[8]; /* a bigram of bytes */
    double e;  /* expected fraction of records */
    size_t idx; /* index within its field */
};

/* the tokens clkhash makes of a value: bigrams of " value " (n-1 = 1 space of padding
 * each side) or positional unigrams "<i> <c>" */
#define TOKMAX 128
static size_t tokens(const char *v, int positional, char out[][8], size_t cap)
{
    size_t n = strlen(v), k = 0;
    if (positional) {
        for (size_t i = 0; i < n && k < cap; i++, k++)
            snprintf(out[k], 8, "%zu %c", (i + 1) % 1000, v[i]);
        return k;
    }
    for (size_t i = 0; i < n + 1 && k < cap; i++, k++) {
        out[k][0] = i == 0 ? ' ' : v[i - 1];
        out[k][1] = i >= n ? ' ' : v[i];
        out[k][2] = 0;
    }
    return k;
}

static int has_token(const char *v, int positional, const char *g)
{
    char tk[TOKMAX][8];
    size_t k = tokens(v, positional, tk, TOKMAX);
    for (size_t i = 0; i < k; i++)
        if (strcmp(tk[i], g) == 0)
            return 1;
    return 0;
}

/* signature of record r over patterns pc[0..m) */
static uint64_t sig_of(const uint64_t *pR, size_t W, size_t r, const size_t *pc, size_t m)
{
    uint64_t s = 0;
    for (size_t j = 0; j < m; j++)
        s |= ((pR[pc[j] * W + r / 64] >> (r % 64)) & 1) << j;
    return s;
}

struct sgrp {
    uint64_t sig;
    size_t count;
    long name;
};
static int cmp_sgrp_sig(const void *a, const void *b)
{
    const struct sgrp *x = a, *y = b;
    return (x->sig > y->sig) - (x->sig < y->sig);
}
static int cmp_sgrp_count(const void *a, const void *b)
{
    const struct sgrp *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}
static const double *g_lw;
static int cmp_li(const void *a, const void *b)
{
    double x = g_lw[*(const size_t *)a], y = g_lw[*(const size_t *)b];
    return (x < y) - (x > y);
}

/* Align one component's record groups with list l; per record the value index in *out.
 * Returns the weighted fraction of (group, pattern) agreements under the final alignment. */
double att__align_field(const uint64_t *pR, size_t W, size_t n, const size_t *pc, size_t m,
                        const att_list *l, long *out);
double att__align_field(const uint64_t *pR, size_t W, size_t n, const size_t *pc, size_t m,
                        const att_list *l, long *out)
{
    double score = 0;
    uint64_t *sig = malloc(n * sizeof *sig);
    struct sgrp *g = malloc(n * sizeof *g);
    size_t *li = malloc(l->n * sizeof *li), *rank = malloc(l->n * sizeof *rank);
    /* candidate q-grams: every token of every listed value; membership per value */
    size_t nc = 0;
    char (*cg)[8] = NULL;
    unsigned char *mem = NULL;
    long qg[64];
    if (!sig || !g || !li || !rank)
        goto done;
    for (size_t i = 0; i < l->n; i++) {
        char tk[TOKMAX][8];
        size_t k = tokens(l->v[i], l->positional, tk, TOKMAX);
        for (size_t j = 0; j < k; j++) {
            size_t c;
            for (c = 0; c < nc && strcmp(cg[c], tk[j]); c++)
                ;
            if (c == nc) {
                cg = realloc(cg, (nc + 1) * sizeof *cg);
                memcpy(cg[nc++], tk[j], 8);
            }
        }
    }
    mem = calloc(l->n * nc + 1, 1);
    if (!mem)
        goto done;
    for (size_t i = 0; i < l->n; i++)
        for (size_t c = 0; c < nc; c++)
            mem[i * nc + c] = (unsigned char)has_token(l->v[i], l->positional, cg[c]);
    double wt = 0;
    for (size_t i = 0; i < l->n; i++)
        li[i] = i, wt += l->w[i];
    g_lw = l->w;
    qsort(li, l->n, sizeof *li, cmp_li);
    for (size_t i = 0; i < l->n; i++)
        rank[li[i]] = i;
    for (size_t r = 0; r < n; r++)
        sig[r] = sig_of(pR, W, r, pc, m), g[r].sig = sig[r], g[r].count = 1;
    qsort(g, n, sizeof *g, cmp_sgrp_sig);
    size_t ng = 0;
    for (size_t r = 0; r < n; r++) {
        if (ng && g[ng - 1].sig == g[r].sig)
            g[ng - 1].count++;
        else
            g[ng++] = g[r];
    }
    qsort(g, ng, sizeof *g, cmp_sgrp_count);
    for (size_t i = 0; i < ng; i++) /* Kuzu: rank for rank */
        g[i].name = i < l->n ? (long)li[i] : -1;
    /* log P(bit | token present?): index bit * 2 + present */
    const double EPS1 = 0.05, EPS0 = 0.02;
    const double ll[4] = {log(1 - EPS0), log(EPS1), log(EPS0), log(1 - EPS1)};
    for (int it = 0; it < 1; it++) { /* (alternating further lowered the success: a model
                                      * mismatch; see docs/attacks.md) */
        /* q-gram of each pattern: the token whose presence in the aligned values best
         * explains the pattern's presence (likelihood with error rates EPS1 for a missing
         * bit, EPS0 for a spurious one) */
        for (size_t j = 0; j < m && it == 0; j++) { /* start: by frequency alone */
            double sj = 0, best = 1e300;
            for (size_t i = 0; i < ng; i++)
                sj += (double)g[i].count * (double)((g[i].sig >> j) & 1);
            sj /= (double)n;
            for (size_t c = 0; c < nc; c++) {
                double e = 0;
                for (size_t v = 0; v < l->n; v++)
                    e += mem[v * nc + c] * l->w[v] / wt;
                if (fabs(e - sj) < best)
                    best = fabs(e - sj), qg[j] = (long)c;
            }
        }
        for (size_t j = 0; j < m && it > 0; j++) {
            double best = -1e300;
            qg[j] = -1;
            for (size_t c = 0; c < nc; c++) {
                double a = 0;
                for (size_t i = 0; i < ng; i++)
                    if (g[i].name >= 0)
                        a += (double)g[i].count *
                             ll[((g[i].sig >> j) & 1) * 2 + mem[(size_t)g[i].name * nc + c]];
                if (a > best)
                    best = a, qg[j] = (long)c;
            }
        }
        /* value of each group: maximum a posteriori, the public frequency as the prior */
        size_t changed = 0;
        score = 0;
        for (size_t i = 0; i < ng; i++) {
            long bn = -1;
            double bs = -1e300;
            for (size_t v = 0; v < l->n; v++) {
                double a = log(l->w[v] / wt + 1e-12);
                for (size_t j = 0; j < m; j++)
                    a += ll[((g[i].sig >> j) & 1) * 2 + mem[v * nc + (size_t)qg[j]]];
                if (a > bs)
                    bs = a, bn = (long)v;
            }
            if (bn != g[i].name)
                changed++;
            g[i].name = bn;
            score += (double)g[i].count * bs;
        }
        if (!changed)
            break;
    }
    score /= (double)n; /* mean log posterior per record ... */
    for (size_t j = 0; j < m; j++) { /* ... minus that of patterns unrelated to any value */
        double sj = 0;
        for (size_t i = 0; i < ng; i++)
            sj += (double)g[i].count * (double)((g[i].sig >> j) & 1);
        sj /= (double)n;
        if (sj > 0 && sj < 1)
            score -= sj * log(sj) + (1 - sj) * log(1 - sj);
    }
    /* back to records */
    qsort(g, ng, sizeof *g, cmp_sgrp_sig);
    for (size_t r = 0; r < n; r++) {
        size_t lo = 0, hi = ng;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (g[mid].sig < sig[r])
                lo = mid + 1;
            else
                hi = mid;
        }
        out[r] = lo < ng && g[lo].sig == sig[r] ? g[lo].name : -1;
    }
done:
    free(sig);
    free(g);
    free(li);
    free(rank);
    free(cg);
    free(mem);
    return score;
}

long att_clk_pattern(const uint8_t *clks, size_t n, size_t l, size_t nb, const att_list *lists,
                     size_t nfields, long *guess, size_t *nassigned, att_truth_fn truth,
                     void *tctx, size_t *nqgrams)
{
    long rc = -1;
    size_t W = (n + 63) / 64, np = 0;
    uint64_t *col = calloc(l * W + 1, sizeof *col), *R = calloc(W + 1, sizeof *R);
    uint64_t *pR = calloc(l * W + 1, sizeof *pR);
    uint32_t *pbits = calloc(l * PAT_K + 1, sizeof *pbits);
    size_t *psup = calloc(l + 1, sizeof *psup), *csup = calloc(l + 1, sizeof *csup);
    long *assign = calloc(l + 1, sizeof *assign);
    size_t *order = calloc(l + 1, sizeof *order);
    unsigned char *inP = calloc(l + 1, 1);
    size_t *fstart = calloc(nfields + 1, sizeof *fstart);
    if (!col || !R || !pR || !pbits || !psup || !csup || !assign || !order || !inP || !fstart)
        goto cleanup;
    *nassigned = 0;
    for (size_t r = 0; r < n; r++)
        for (size_t b = 0; b < l; b++)
            if (clks[r * nb + b / 8] & (0x80u >> (b % 8)))
                col[b * W + r / 64] |= (uint64_t)1 << (r % 64);
    for (size_t b = 0; b < l; b++)
        csup[b] = popw(col + b * W, W);
    size_t minsup = n / 100 > 5 ? n / 100 : 5;

    /* 1. mine: from each seed bit, add the position whose co-occurrence with the records
     * holding the pattern so far most exceeds independence */
    for (size_t seed = 0; seed < l; seed++) {
        if (csup[seed] < minsup)
            continue;
        memset(inP, 0, l);
        memcpy(R, col + seed * W, W * sizeof *R);
        inP[seed] = 1;
        uint32_t bits[PAT_K];
        bits[0] = (uint32_t)seed;
        size_t sup = csup[seed];
        for (size_t k = 1; k < PAT_K; k++) {
            double best = -1e300;
            size_t bb = 0;
            for (size_t b = 0; b < l; b++) {
                if (inP[b])
                    continue;
                double ex = (double)popand(R, col + b * W, W) - (double)sup * (double)csup[b] / (double)n;
                if (ex > best)
                    best = ex, bb = b;
            }
            inP[bb] = 1;
            bits[k] = (uint32_t)bb;
            for (size_t i = 0; i < W; i++)
                R[i] &= col[bb * W + i];
            sup = popw(R, W);
        }
        if (sup < minsup)
            continue;
        int dup = 0;
        for (size_t p = 0; p < np && !dup; p++) {
            size_t in = popand(R, pR + p * W, W);
            size_t mn = sup < psup[p] ? sup : psup[p], mx = sup > psup[p] ? sup : psup[p];
            /* one holds the other and their sizes are close: one q-gram (a pattern held by
             * nearly every filter, e.g. a century digit, contains everything else) */
            if ((double)in >= 0.9 * (double)mn && (double)mn >= 0.6 * (double)mx) {
                dup = 1;
                if (sup > psup[p]) { /* keep the better-supported version */
                    memcpy(pR + p * W, R, W * sizeof *R);
                    memcpy(pbits + p * PAT_K, bits, sizeof bits);
                    psup[p] = sup;
                }
            }
        }
        if (dup)
            continue;
        memcpy(pR + np * W, R, W * sizeof *R);
        memcpy(pbits + np * PAT_K, bits, sizeof bits);
        psup[np++] = sup;
    }

    /* 2. fields: patterns of one field depend on each other (bigrams of one name occur
     * together or exclude each other), patterns of different fields are independent; link
     * pattern pairs whose phi coefficient is far from zero and take the components */
    double *sp = calloc(np + 1, sizeof *sp);
    size_t *comp = calloc(np + 1, sizeof *comp);
    if (!sp || !comp)
        goto cleanup2;
    for (size_t p = 0; p < np; p++)
        sp[p] = (double)psup[p] / (double)n, comp[p] = p;
    /* average-linkage clustering on |phi| (single linkage would chain fields together
     * through patterns that mix the bits of two fields' q-grams) */
    double *phi = calloc(np * np + 1, sizeof *phi);
    size_t *csize = calloc(np + 1, sizeof *csize);
    if (!phi || !csize) {
        free(phi), free(csize);
        goto cleanup2;
    }
    for (size_t p = 0; p < np; p++) {
        csize[p] = 1;
        for (size_t q = 0; q < np; q++) {
            if (q == p)
                continue;
            double co = (double)popand(pR + p * W, pR + q * W, W) / (double)n;
            phi[p * np + q] = fabs((co - sp[p] * sp[q]) /
                                   sqrt(sp[p] * (1 - sp[p]) * sp[q] * (1 - sp[q]) + 1e-12));
        }
    }
    /* phi now holds, between cluster representatives, the sum of |phi| over member pairs */
    double tau = 2.0 / sqrt((double)n);
    for (;;) {
        double best = 0;
        size_t ba = 0, bb = 0;
        for (size_t p = 0; p < np; p++) {
            if (comp[p] != p)
                continue;
            for (size_t q = p + 1; q < np; q++) {
                if (comp[q] != q)
                    continue;
                double avg = phi[p * np + q] / ((double)csize[p] * (double)csize[q]);
                if (avg > best)
                    best = avg, ba = p, bb = q;
            }
        }
        if (best < tau)
            break;
        for (size_t x = 0; x < np; x++) {
            if (comp[x] != x || x == ba || x == bb)
                continue;
            phi[ba * np + x] += phi[bb * np + x];
            phi[x * np + ba] = phi[ba * np + x];
        }
        csize[ba] += csize[bb];
        for (size_t x = 0; x < np; x++)
            if (comp[x] == bb)
                comp[x] = ba;
    }
    free(phi);
    free(csize);
    /* scoring only (never used by the attack): mined patterns that are one true q-gram */
    if (truth && nqgrams) {
        *nqgrams = 0;
        for (size_t p = 0; p < np; p++) {
            double bj = 0;
            for (size_t f = 0; f < nfields; f++) {
                char best[8] = "";
                size_t bestc = 0, first = (size_t)-1;
                for (size_t r = 0; r < n && first == (size_t)-1; r++)
                    if ((pR[p * W + r / 64] >> (r % 64)) & 1)
                        first = r;
                if (first == (size_t)-1)
                    continue;
                char tk[TOKMAX][8];
                size_t k = tokens(truth(first, f, tctx), lists[f].positional, tk, TOKMAX);
                for (size_t j = 0; j < k; j++) {
                    size_t c = 0;
                    for (size_t r2 = 0; r2 < n; r2++)
                        if ((pR[p * W + r2 / 64] >> (r2 % 64)) & 1)
                            c += has_token(truth(r2, f, tctx), lists[f].positional, tk[j]);
                    if (c > bestc)
                        bestc = c, memcpy(best, tk[j], 8);
                }
                size_t uni = 0;
                for (size_t r2 = 0; r2 < n; r2++)
                    uni += ((pR[p * W + r2 / 64] >> (r2 % 64)) & 1) ||
                           has_token(truth(r2, f, tctx), lists[f].positional, best);
                double j = uni ? (double)bestc / (double)uni : 0;
                if (j > bj)
                    bj = j;
            }
            *nqgrams += bj >= 0.8;
        }
    }
    /* 3. per public list, per component: align groups of records with one signature over
     * the component's patterns to listed values (Kuzu-style, by frequency), then alternate
     * (q-gram of each pattern from the values aligned; value of each group from the
     * q-grams) -- the attack keeps the component the list explains best */
    for (size_t r = 0; r < n * nfields; r++)
        guess[r] = -1;
    unsigned char *taken = calloc(np + 1, 1);
    for (size_t f = 0; taken && f < nfields; f++) {
        if (lists[f].model_only || lists[f].n == 0)
            continue;
        double bestscore = -1e300;
        long *bestg = malloc(n * sizeof *bestg), *curg = malloc(n * sizeof *curg);
        size_t bestc = (size_t)-1;
        for (size_t c0 = 0; bestg && curg && c0 < np; c0++) {
            if (comp[c0] != c0 || taken[c0])
                continue;
            size_t pc[64], m = 0; /* its 64 best-supported patterns */
            for (size_t p = 0; p < np; p++) {
                if (comp[p] != c0)
                    continue;
                if (m < 64) {
                    pc[m++] = p;
                } else {
                    size_t lo = 0;
                    for (size_t j = 1; j < m; j++)
                        if (psup[pc[j]] < psup[pc[lo]])
                            lo = j;
                    if (psup[p] > psup[pc[lo]])
                        pc[lo] = p;
                }
            }
            if (m < 3)
                continue;
            double sc = att__align_field(pR, W, n, pc, m, &lists[f], curg);
            if (sc > bestscore) {
                bestscore = sc, bestc = c0;
                memcpy(bestg, curg, n * sizeof *bestg);
            }
        }
        if (bestc != (size_t)-1) {
            taken[bestc] = 1;
            for (size_t r = 0; r < n; r++)
                guess[r * nfields + f] = bestg[r];
            (*nassigned)++;
        }
        free(bestg);
        free(curg);
    }
    free(taken);
cleanup2:
    free(sp);
    free(comp);
    rc = (long)np;

cleanup:
    free(col);
    free(R);
    free(pR);
    free(pbits);
    free(psup);
    free(csup);
    free(assign);
    free(order);
    free(inP);
    free(fstart);
    return rc;
}

/* ---- frequency alignment ------------------------------------------------------------ */

static const uint8_t *g_vals;
static size_t g_nb;
static int cmp_val(const void *a, const void *b)
{
    return memcmp(g_vals + *(const size_t *)a * g_nb, g_vals + *(const size_t *)b * g_nb, g_nb);
}

struct grp {
    size_t first, count;
};
static int cmp_grp(const void *a, const void *b)
{
    const struct grp *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : (x->first > y->first) - (x->first < y->first);
}
static const double *g_w;
static int cmp_w(const void *a, const void *b)
{
    double x = g_w[*(const size_t *)a], y = g_w[*(const size_t *)b];
    return x < y ? 1 : x > y ? -1 : 0;
}

int att_freq_align(const uint8_t *vals, size_t n, size_t nb, const att_list *list,
                   size_t min_count, long *guess)
{
    for (size_t r = 0; r < n; r++)
        guess[r] = -1;
    if (n == 0 || list->n == 0)
        return 0;
    size_t *idx = malloc(n * sizeof *idx), *li = malloc(list->n * sizeof *li);
    struct grp *g = malloc(n * sizeof *g);
    size_t *gid = malloc(n * sizeof *gid);
    if (!idx || !li || !g || !gid) {
        free(idx), free(li), free(g), free(gid);
        return -1;
    }
    for (size_t r = 0; r < n; r++)
        idx[r] = r;
    g_vals = vals, g_nb = nb;
    qsort(idx, n, sizeof *idx, cmp_val);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || memcmp(vals + idx[i] * nb, vals + idx[i - 1] * nb, nb) != 0)
            g[ng].first = idx[i], g[ng].count = 0, ng++;
        g[ng - 1].count++;
        gid[idx[i]] = ng - 1;
    }
    /* rank of each group by count */
    size_t *gorder = malloc(ng * sizeof *gorder), *grank = malloc(ng * sizeof *grank);
    struct grp *gs = malloc(ng * sizeof *gs);
    if (gorder && grank && gs) {
        for (size_t i = 0; i < ng; i++)
            gs[i] = g[i], gs[i].first = i; /* first = group id */
        qsort(gs, ng, sizeof *gs, cmp_grp);
        for (size_t i = 0; i < ng; i++)
            grank[gs[i].first] = i;
        for (size_t i = 0; i < list->n; i++)
            li[i] = i;
        g_w = list->w;
        qsort(li, list->n, sizeof *li, cmp_w);
        for (size_t r = 0; r < n; r++) {
            size_t k = grank[gid[r]];
            if (g[gid[r]].count >= min_count && k < list->n)
                guess[r] = (long)li[k];
        }
    }
    free(gorder), free(grank), free(gs);
    free(idx), free(li), free(g), free(gid);
    return 0;
}

/* ---- the attacker's model of a multi-part key ------------------------------------- */

struct pcand {
    double w;
    size_t last;
    size_t ix[ATT_MAXP];
};

static void heap_push(struct pcand *h, size_t *nh, struct pcand c)
{
    size_t i = (*nh)++;
    h[i] = c;
    while (i && h[(i - 1) / 2].w < h[i].w) {
        struct pcand x = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

static struct pcand heap_pop(struct pcand *h, size_t *nh)
{
    struct pcand top = h[0];
    h[0] = h[--*nh];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *nh && h[l].w > h[m].w)
            m = l;
        if (r < *nh && h[r].w > h[m].w)
            m = r;
        if (m == i)
            break;
        struct pcand x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
    return top;
}

static const att_list *g_sort_list;
static int cmp_by_weight(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double x = g_sort_list->w[i], y = g_sort_list->w[j];
    return x < y ? 1 : x > y ? -1 : i < j ? -1 : i > j;
}

void att_join(const char *const *txt, size_t nparts, long any_a, long any_b, char *out,
              size_t cap)
{
    const char *p[ATT_MAXP];
    for (size_t j = 0; j < nparts && j < ATT_MAXP; j++)
        p[j] = txt[j];
    if (any_a >= 0 && any_b >= 0 && (size_t)any_a < nparts && (size_t)any_b < nparts &&
        strcmp(p[any_a], p[any_b]) > 0) {
        const char *x = p[any_a];
        p[any_a] = p[any_b];
        p[any_b] = x;
    }
    out[0] = 0;
    for (size_t j = 0; j < nparts && j < ATT_MAXP; j++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", j ? "|" : "", p[j]);
    }
}

int att_top_product(const att_list *parts, size_t nparts, long any_a, long any_b, size_t want,
                    att_list *out)
{
    if (nparts == 0 || nparts > ATT_MAXP)
        return -1;
    for (size_t j = 0; j < nparts; j++)
        if (parts[j].n == 0)
            return 0; /* an empty part: no plaintext */
    size_t *ord[ATT_MAXP] = {0};
    size_t cap = 2 * want * nparts + 2, nh = 0; /* pops <= 2 want (pairs merge) */
    struct pcand *h = malloc(cap * sizeof *h);
    int rc = h ? 0 : -1;
    for (size_t j = 0; j < nparts && rc == 0; j++) {
        ord[j] = malloc(parts[j].n * sizeof *ord[j]);
        if (!ord[j]) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < parts[j].n; i++)
            ord[j][i] = i;
        g_sort_list = &parts[j];
        qsort(ord[j], parts[j].n, sizeof *ord[j], cmp_by_weight);
    }
    if (rc == 0 && want) {
        struct pcand c0;
        memset(&c0, 0, sizeof c0);
        c0.w = 1.0;
        for (size_t j = 0; j < nparts; j++)
            c0.w *= parts[j].w[ord[j][0]];
        heap_push(h, &nh, c0);
    }
    int pair = any_a >= 0 && any_b >= 0;
    while (rc == 0 && nh && out->n < want) {
        struct pcand c = heap_pop(h, &nh);
        const char *txt[ATT_MAXP];
        for (size_t j = 0; j < nparts; j++)
            txt[j] = parts[j].v[ord[j][c.ix[j]]];
        char v[512];
        att_join(txt, nparts, any_a, any_b, v, sizeof v);
        if (pair) /* an unordered pair is reached from both orders */
            att_list_add(out, v, c.w);
        else
            att_list_add_new(out, v, c.w);
        for (size_t j = c.last; j < nparts && nh < cap; j++) {
            if (c.ix[j] + 1 >= parts[j].n)
                continue;
            struct pcand d = c;
            d.ix[j]++;
            d.last = j;
            d.w = 1.0;
            for (size_t q = 0; q < nparts; q++)
                d.w *= parts[q].w[ord[q][d.ix[q]]];
            heap_push(h, &nh, d);
        }
    }
    for (size_t j = 0; j < nparts; j++)
        free(ord[j]);
    free(h);
    return rc;
}

/* ---- measurement-only transforms (attack.h) --------------------------------------- */

struct att_xform {
    int kind; /* 1 rule 90, 2 diffusion */
    size_t l, t;
    uint32_t *map; /* rule 90: the permutation (l); diffusion: the taps (l * t) */
    uint8_t *tmp;
};

static int bit_of(const uint8_t *f, size_t i)
{
    return (f[i >> 3] >> (7 - (i & 7))) & 1;
}

att_xform *att_xform_new(const char *spec, size_t l)
{
    att_xform *x = calloc(1, sizeof *x);
    if (!x || l < 3)
        return free(x), NULL;
    x->l = l;
    if (strcmp(spec, "rule90") == 0) {
        x->kind = 1, x->t = 1;
    } else if (strncmp(spec, "diffuse-", 8) == 0 && atoi(spec + 8) >= 1 && atoi(spec + 8) <= 16) {
        x->kind = 2, x->t = (size_t)atoi(spec + 8);
    } else {
        free(x);
        return NULL;
    }
    static const char ctx[] = "exchange bench clk transform v1";
    uint8_t seed[32];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)ctx, sizeof ctx - 1,
                       (const unsigned char *)spec, strlen(spec));
    size_t n = l * x->t;
    uint8_t *stream = malloc(8 * n);
    x->map = malloc(n * sizeof *x->map);
    x->tmp = malloc((l + 7) / 8);
    if (!stream || !x->map || !x->tmp) {
        free(stream);
        att_xform_free(x);
        return NULL;
    }
    randombytes_buf_deterministic(stream, 8 * n, seed);
    if (x->kind == 1) { /* Fisher-Yates, as clk_harden.c's make_perm */
        for (size_t i = 0; i < l; i++)
            x->map[i] = (uint32_t)i;
        for (size_t i = l - 1; i > 0; i--) {
            uint64_t r = 0;
            for (int b = 0; b < 8; b++)
                r = (r << 8) | stream[8 * i + (size_t)b];
            size_t j = (size_t)(r % (uint64_t)(i + 1));
            uint32_t tv = x->map[i];
            x->map[i] = x->map[j];
            x->map[j] = tv;
        }
    } else { /* t distinct taps per output bit */
        size_t s = 0;
        for (size_t j = 0; j < l; j++)
            for (size_t k = 0; k < x->t; k++) {
                for (;;) {
                    uint64_t r = 0;
                    for (int b = 0; b < 8; b++)
                        r = (r << 8) | stream[(8 * s + (size_t)b) % (8 * n)];
                    s++;
                    uint32_t c = (uint32_t)(r % l);
                    int dup = 0;
                    for (size_t q = 0; q < k; q++)
                        dup |= x->map[j * x->t + q] == c;
                    if (!dup) {
                        x->map[j * x->t + k] = c;
                        break;
                    }
                }
            }
    }
    free(stream);
    return x;
}

void att_xform_apply(const att_xform *x, uint8_t *f)
{
    size_t l = x->l, nb = (l + 7) / 8;
    memset(x->tmp, 0, nb);
    if (x->kind == 1) {
        for (size_t i = 0; i < l; i++) /* permute: bit i goes to map[i] */
            if (bit_of(f, i))
                x->tmp[x->map[i] >> 3] |= (uint8_t)(0x80u >> (x->map[i] & 7));
        memset(f, 0, nb);
        for (size_t i = 0; i < l; i++)
            if (bit_of(x->tmp, (i + l - 1) % l) ^ bit_of(x->tmp, (i + 1) % l))
                f[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
        return;
    }
    for (size_t j = 0; j < l; j++) {
        int v = 0;
        for (size_t k = 0; k < x->t; k++)
            v ^= bit_of(f, x->map[j * x->t + k]);
        if (v)
            x->tmp[j >> 3] |= (uint8_t)(0x80u >> (j & 7));
    }
    memcpy(f, x->tmp, nb);
}

void att_xform_free(att_xform *x)
{
    if (!x)
        return;
    free(x->map);
    free(x->tmp);
    free(x);
}
