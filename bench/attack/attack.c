/* Attacks on the matcher's encodings (attack.h, docs/attacks.md). */
#include "attack.h"

#include <math.h>
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

const char *(*att_debug_truth)(size_t r, size_t f);
#include <stdio.h>
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

long att_clk_pattern(const uint8_t *clks, size_t n, size_t l, size_t nb, const att_list *lists,
                     size_t nfields, long *guess, size_t *nassigned)
{
    long rc = -1;
    size_t W = (n + 63) / 64, np = 0, ncand = 0;
    uint64_t *col = calloc(l * W + 1, sizeof *col), *R = calloc(W + 1, sizeof *R);
    uint64_t *pR = calloc(l * W + 1, sizeof *pR);
    uint32_t *pbits = calloc(l * PAT_K + 1, sizeof *pbits);
    size_t *psup = calloc(l + 1, sizeof *psup), *csup = calloc(l + 1, sizeof *csup);
    long *assign = calloc(l + 1, sizeof *assign);
    size_t *order = calloc(l + 1, sizeof *order);
    unsigned char *inP = calloc(l + 1, 1);
    struct cand *cand = NULL;
    double *joint = NULL; /* per field: ncf x ncf expected co-occurrence */
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
            size_t mn = sup < psup[p] ? sup : psup[p];
            if ((double)in >= 0.9 * (double)mn) { /* one holds the other: one q-gram */
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

    /* 2. the attacker's q-gram model from the public lists */
    for (size_t f = 0; f < nfields; f++) {
        fstart[f] = ncand;
        double tot = 0;
        for (size_t i = 0; i < lists[f].n; i++)
            tot += lists[f].w[i];
        for (size_t i = 0; i < lists[f].n; i++) {
            char tk[TOKMAX][8];
            size_t k = tokens(lists[f].v[i], lists[f].positional, tk, TOKMAX);
            for (size_t j = 0; j < k; j++) {
                size_t c;
                for (c = fstart[f]; c < ncand; c++)
                    if (strcmp(cand[c].g, tk[j]) == 0)
                        break;
                if (c == ncand) {
                    cand = realloc(cand, (ncand + 1) * sizeof *cand);
                    memset(&cand[ncand], 0, sizeof *cand);
                    cand[ncand].field = f;
                    memcpy(cand[ncand].g, tk[j], 8);
                    cand[ncand].idx = ncand - fstart[f];
                    ncand++;
                }
            }
        }
    }
    fstart[nfields] = ncand;
    joint = calloc(ncand * ncand + 1, sizeof *joint);
    if (!joint)
        goto cleanup;
    for (size_t f = 0; f < nfields; f++) {
        double tot = 0;
        for (size_t i = 0; i < lists[f].n; i++)
            tot += lists[f].w[i];
        for (size_t i = 0; i < lists[f].n; i++) {
            size_t ids[TOKMAX], k = 0;
            char tk[TOKMAX][8];
            size_t nt = tokens(lists[f].v[i], lists[f].positional, tk, TOKMAX);
            for (size_t j = 0; j < nt; j++)
                for (size_t c = fstart[f]; c < fstart[f + 1]; c++)
                    if (strcmp(cand[c].g, tk[j]) == 0) {
                        size_t u;
                        for (u = 0; u < k && ids[u] != c; u++)
                            ;
                        if (u == k)
                            ids[k++] = c;
                        break;
                    }
            for (size_t a = 0; a < k; a++)
                for (size_t b = 0; b < k; b++)
                    joint[ids[a] * ncand + ids[b]] += tot > 0 ? lists[f].w[i] / tot : 0;
        }
        for (size_t c = fstart[f]; c < fstart[f + 1]; c++)
            cand[c].e = joint[c * ncand + c];
    }
    for (size_t a = 0; a < ncand; a++)
        for (size_t b = 0; b < ncand; b++)
            if (cand[a].field != cand[b].field)
                joint[a * ncand + b] = cand[a].e * cand[b].e;

    /* 3. align: patterns by support, each to the unused q-gram whose expected frequency and
     * co-occurrence with the patterns already aligned fit best */
    for (size_t p = 0; p < np; p++)
        order[p] = p;
    for (size_t i = 1; i < np; i++) /* insertion sort by support, descending */
        for (size_t j = i; j > 0 && psup[order[j]] > psup[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    unsigned char *used = calloc(ncand + 1, 1);
    double *co = calloc(np * np + 1, sizeof *co); /* observed co-occurrence fractions */
    for (size_t p = 0; co && p < np; p++)
        for (size_t q = p; q < np; q++)
            co[p * np + q] = co[q * np + p] =
                (double)popand(pR + p * W, pR + q * W, W) / (double)n;
    for (size_t p = 0; p < np; p++)
        assign[p] = -1;
    /* cost of pattern p standing for candidate c, given the other assignments */
#define FIT(p, c, skip)                                                                        \
    ({                                                                                         \
        double d_ = co[(p) * np + (p)] - cand[c].e, e_ = d_ * d_ / (cand[c].e + 1e-3);         \
        for (size_t q_ = 0; q_ < np; q_++) {                                                   \
            if (q_ == (p) || q_ == (skip) || assign[q_] < 0)                                   \
                continue;                                                                      \
            double x_ = co[(p) * np + q_] - joint[(c) * ncand + (size_t)assign[q_]];           \
            e_ += x_ * x_ / (joint[(c) * ncand + (size_t)assign[q_]] + 1e-3);                  \
        }                                                                                      \
        e_;                                                                                    \
    })
    for (size_t oi = 0; used && co && oi < np; oi++) {
        size_t p = order[oi];
        double best = 1e300;
        long bc = -1;
        for (size_t c = 0; c < ncand; c++) {
            if (used[c])
                continue;
            double err = FIT(p, c, (size_t)-1);
            if (err < best)
                best = err, bc = (long)c;
        }
        assign[p] = bc;
        if (bc >= 0) {
            used[bc] = 1;
            (*nassigned)++;
        }
    }
    /* refine: move a pattern to a free candidate, or swap two, while the total cost falls */
    long *owner = malloc((ncand + 1) * sizeof *owner);
    for (int pass = 0; owner && used && co && pass < 30; pass++) {
        for (size_t c = 0; c < ncand; c++)
            owner[c] = -1;
        for (size_t p = 0; p < np; p++)
            if (assign[p] >= 0)
                owner[assign[p]] = (long)p;
        size_t moves = 0;
        for (size_t p = 0; p < np; p++) {
            if (assign[p] < 0)
                continue;
            size_t a = (size_t)assign[p];
            double cur = FIT(p, a, (size_t)-1);
            for (size_t c = 0; c < ncand; c++) {
                if (c == a)
                    continue;
                if (owner[c] < 0) {
                    if (FIT(p, c, (size_t)-1) + 1e-12 < cur) {
                        owner[a] = -1, owner[c] = (long)p, assign[p] = (long)c;
                        a = c, cur = FIT(p, a, (size_t)-1), moves++;
                    }
                    continue;
                }
                size_t q = (size_t)owner[c];
                double before = cur + FIT(q, c, p);
                double after = FIT(p, c, q) + FIT(q, a, p);
                if (after + 1e-12 < before) {
                    assign[p] = (long)c, assign[q] = (long)a;
                    owner[c] = (long)p, owner[a] = (long)q;
                    a = c, cur = FIT(p, a, (size_t)-1), moves++;
                }
            }
        }
        if (!moves)
            break;
    }
#undef FIT
    free(owner);
    free(co);
    free(used);
    if (att_debug_truth) {
        size_t ntrue = 0, nok = 0;
        for (size_t oi = 0; oi < np; oi++) {
            size_t p = order[oi];
            /* the true q-gram: the (field, bigram) held by most records of the pattern */
            double bj = 0; size_t bc = 0;
            for (size_t c = 0; c < ncand; c++) {
                if (lists[cand[c].field].model_only) continue;
                size_t in = 0, tot = 0;
                for (size_t r = 0; r < n; r++) {
                    int h = has_token(att_debug_truth(r, cand[c].field), lists[cand[c].field].positional, cand[c].g);
                    int pr = (pR[p * W + r / 64] >> (r % 64)) & 1;
                    in += h && pr; tot += h || pr;
                }
                double j = tot ? (double)in / (double)tot : 0;
                if (j > bj) bj = j, bc = c;
            }
            if (bj >= 0.8) {
                ntrue++;
                nok += assign[p] == (long)bc;
            }
            if (getenv("ATT_DEBUG")[0] == '2')
            fprintf(stderr, "pattern %zu sup %zu: true f%zu '%s' (J %.2f e %.3f)  assigned f%zu %s\n", p, psup[p],
                    cand[bc].field, cand[bc].g, bj, cand[bc].e, assign[p] >= 0 ? cand[assign[p]].field : 9,
                    assign[p] >= 0 ? cand[assign[p]].g : "-");
        }
        fprintf(stderr, "%zu patterns, %zu of one name q-gram, %zu of them aligned right\n", np, ntrue, nok);
    }

    /* 4. re-identify: per field, the listed value agreeing with most aligned patterns */
    for (size_t f = 0; f < nfields; f++) {
        size_t na = 0, *ap = malloc((np + 1) * sizeof *ap);
        for (size_t p = 0; ap && p < np; p++)
            if (assign[p] >= 0 && cand[assign[p]].field == f)
                ap[na++] = p;
        unsigned char *mem = lists[f].model_only ? NULL : malloc(lists[f].n * na + 1);
        for (size_t i = 0; mem && i < lists[f].n; i++)
            for (size_t a = 0; a < na; a++)
                mem[i * na + a] = (unsigned char)has_token(lists[f].v[i], lists[f].positional,
                                                           cand[assign[ap[a]]].g);
        unsigned char *pres = malloc(na + 1);
        for (size_t r = 0; r < n; r++) {
            long bi = -1;
            double bs = -1e300;
            for (size_t a = 0; pres && a < na; a++)
                pres[a] = (unsigned char)((pR[ap[a] * W + r / 64] >> (r % 64)) & 1);
            for (size_t i = 0; mem && pres && i < lists[f].n; i++) {
                double sc = 0;
                for (size_t a = 0; a < na; a++)
                    sc += pres[a] == mem[i * na + a] ? 1 : -1;
                sc += 1e-9 * lists[f].w[i]; /* ties: the commoner value */
                if (sc > bs)
                    bs = sc, bi = (long)i;
            }
            guess[r * nfields + f] = bi;
        }
        free(pres);
        free(mem);
        free(ap);
    }
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
    free(cand);
    free(joint);
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
