/*
 * xchg-attack — the attacks of docs/attacks.md run as the matcher could run them: on the
 * CLKs and exact tokens of sealed extracts it can open (its own key), with public
 * knowledge only (a name-frequency list and the age structure); ground truth is read only
 * to score the result.
 *
 *   xchg-attack AGREEMENT MATCHER.key NAMES.csv TRUTH.csv EXTRACT.xex...
 *
 * NAMES.csv: kind,name,weight (kind forename | surname) — the public list.
 * TRUTH.csv: ref,forename,surname,dob (dob YYYYMMDD) — scoring only; its year-of-birth
 *   counts also stand in for the published age structure (an aggregate the attacker has).
 * Environment: ATT_MAX (records the pattern miner takes, default 20000, the first ones);
 *   ATT_BUCKET_BITS=B simulates token bucketing (token_flatten.c) of the blocking tokens.
 * Prints per attack a last line
 *   attack <name>: reidentified <fraction> of <N> (<what was recovered>)
 */
#include "attack.h"
#include "token_flatten.h"

#include <exchange.h>
/* a research harness over unsigned agreements it is handed: the test-only wrapper */
#include "agreement_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
    char *ref;
    uint8_t *clk;
    xchg_token block[XCHG_RECORD_MAX_TOKENS];
    size_t nblock;
    long truth; /* index into truth rows, or -1 */
};

struct truth {
    char *ref, *fore, *sur, *dob;
};
static struct truth *T;
static size_t nT;

static int cmp_truth(const void *a, const void *b)
{
    return strcmp(((const struct truth *)a)->ref, ((const struct truth *)b)->ref);
}

static long truth_find(const char *ref)
{
    size_t lo = 0, hi = nT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(T[mid].ref, ref);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static char *norm(const char *s)
{
    char out[512];
    if (xchg_norm_name(s, strlen(s), XCHG_NAME_MATCH, out, sizeof out) != XCHG_OK)
        out[0] = 0;
    return strdup(out);
}

static char *field(char **p)
{
    char *s = *p, *e = strpbrk(s, ",\n\r");
    if (e) {
        int nl = *e != ',';
        *e = 0;
        *p = nl ? e + strlen(e) : e + 1;
        if (nl)
            *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

/* the plaintext of one key part, as the attacker models it and the truth has it */
static int part_text(const xchg_policy_data *pd, const xchg_key_part *kp, const char *fore,
                     const char *sur, const char *dob, char *out, size_t cap)
{
    const char *fname = pd->fields[kp->field].name;
    const char *v = strcmp(fname, "forename") == 0 ? fore : strcmp(fname, "surname") == 0 ? sur
                    : strcmp(fname, "dob") == 0                                      ? dob
                                                                                     : NULL;
    if (!v)
        return -1;
    switch (kp->transform) {
    case XCHG_TR_NONE:
    case XCHG_TR_FIRST:
        snprintf(out, cap, "%s", v);
        return 0;
    case XCHG_TR_INITIAL:
        snprintf(out, cap, "%.1s", v);
        return 0;
    case XCHG_TR_PHONETIC: {
        char sx[5];
        if (xchg_norm_soundex(v, sx) != XCHG_OK)
            sx[0] = 0;
        snprintf(out, cap, "%s", sx);
        return 0;
    }
    case XCHG_TR_YEAR:
        snprintf(out, cap, "%.4s", v);
        return 0;
    default:
        return -1;
    }
}

static const char *truth_cb(size_t r, size_t f, void *ctx)
{
    const struct rec *R = ctx;
    long t = R[r].truth;
    if (t < 0)
        return "";
    return f == 0 ? T[t].fore : f == 1 ? T[t].sur : T[t].dob;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: xchg-attack AGREEMENT MATCHER.key NAMES.csv TRUTH.csv EXTRACT.xex...\n");
        return 2;
    }
    if (xchg_process_harden(NULL) != XCHG_OK || xchg_init() != XCHG_OK)
        return 4;
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    xchg_seckey *m = NULL;
    if (xchg_policy_parse_file(argv[1], &p, d) != XCHG_OK ||
        xchg_seckey_load(argv[2], NULL, 0, &m, d) != XCHG_OK) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "%s\n", xchg_diag_text(d, i));
        return 1;
    }
    const xchg_policy_data *pd = xchg_policy_get(p);
    xchg_agreement *agr = NULL;
    if (xchg__agreement_trust_unverified(p, &agr) != XCHG_OK)
        return 4;
    p = NULL;

    /* public knowledge: names and the age structure */
    att_list lists[3] = {{0}, {0}, {0}};
    lists[2].positional = 1;
    lists[2].model_only = 1;
    FILE *f = fopen(argv[3], "r");
    char line[4096];
    if (!f) {
        perror(argv[3]);
        return 3;
    }
    while (fgets(line, sizeof line, f)) {
        char *q = line, *k = field(&q), *v = field(&q), *w = field(&q);
        if (strcmp(k, "forename") && strcmp(k, "surname"))
            continue;
        char *nv = norm(v);
        if (*nv)
            att_list_add(&lists[strcmp(k, "surname") == 0], nv, atof(w));
        free(nv);
    }
    fclose(f);
    f = fopen(argv[4], "r");
    if (!f) {
        perror(argv[4]);
        return 3;
    }
    size_t capT = 0;
    double years[3000] = {0};
    while (fgets(line, sizeof line, f)) {
        char *q = line, *ref = field(&q), *fo = field(&q), *su = field(&q), *db = field(&q);
        if (strcmp(ref, "ref") == 0)
            continue;
        if (nT == capT) {
            capT = capT ? 2 * capT : 4096;
            T = realloc(T, capT * sizeof *T);
        }
        T[nT].ref = strdup(ref);
        T[nT].fore = norm(fo);
        T[nT].sur = norm(su);
        T[nT].dob = strdup(db);
        int y = atoi((char[5]){db[0], db[0] ? db[1] : 0, db[0] && db[1] ? db[2] : 0,
                               db[0] && db[1] && db[2] ? db[3] : 0, 0});
        if (y > 0 && y < 3000)
            years[y] += 1;
        nT++;
    }
    fclose(f);
    if (nT)
        qsort(T, nT, sizeof *T, cmp_truth);
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    att_list yearl = {0};
    for (int y = 1; y < 3000; y++) {
        if (years[y] == 0)
            continue;
        char v[48];
        snprintf(v, sizeof v, "%04d", y);
        att_list_add_new(&yearl, v, years[y]);
        for (int mo = 1; mo <= 12; mo++)
            for (int dd = 1; dd <= mdays[mo - 1]; dd++) {
                snprintf(v, sizeof v, "%04d%02d%02d", y, mo, dd);
                att_list_add_new(&lists[2], v, years[y] / 365.0);
            }
    }

    /* what the matcher holds */
    struct rec *R = NULL;
    size_t n = 0, capR = 0, nb = 0;
    for (int a = 5; a < argc; a++) {
        xchg_extract_file *xf = NULL;
        if (xchg_extract_open(agr, m, argv[a], 0, &xf, d) != XCHG_OK) {
            for (size_t i = 0; i < xchg_diag_count(d); i++)
                fprintf(stderr, "%s\n", xchg_diag_text(d, i));
            return 1;
        }
        for (;;) {
            xchg_record r;
            int end = 0;
            if (xchg_extract_next(xf, &r, &end, d) != XCHG_OK)
                return 1;
            if (end)
                break;
            if (n == capR) {
                capR = capR ? 2 * capR : 65536;
                R = realloc(R, capR * sizeof *R);
            }
            struct rec *x = &R[n++];
            x->ref = strndup(r.ref, r.ref_len);
            x->clk = NULL;
            if (r.clk && r.clk_len) {
                nb = r.clk_len;
                x->clk = malloc(nb);
                memcpy(x->clk, r.clk, nb);
            }
            x->nblock = r.nblock;
            memcpy(x->block, r.block, r.nblock * sizeof *r.block);
            x->truth = truth_find(x->ref);
        }
        uint64_t count;
        if (xchg_extract_finish(xf, &count, d) != XCHG_OK)
            return 1;
        xchg_extract_close(xf);
    }
    fprintf(stderr, "xchg-attack: %zu records, %zu-byte CLKs\n", n, nb);

    /* 1. token frequency alignment, per blocking key */
    unsigned bucket = getenv("ATT_BUCKET_BITS") ? (unsigned)atoi(getenv("ATT_BUCKET_BITS")) : 0;
    for (size_t k = 0; k < pd->fuzzy.nblocking; k++) {
        const xchg_match_key *mk = &pd->fuzzy.blocking[k];
        char desc[256] = "";
        for (size_t j = 0; j < mk->nparts; j++) {
            static const char *const tr[] = {"", ":initial", ":phonetic", ":year", ":swap",
                                             ":first", ":nickname", ":outward", ":sector", ":dm"};
            size_t dl = strlen(desc);
            snprintf(desc + dl, sizeof desc - dl, "%s%s%s", j ? "+" : "",
                     pd->fields[mk->parts[j].field].name,
                     mk->parts[j].transform < 10 ? tr[mk->parts[j].transform] : "?");
        }
        /* the attacker's distribution of the key's plaintext: product of the parts' */
        att_list pub = {0};
        int ok = 1;
        for (size_t j = 0; j < mk->nparts && ok; j++) {
            att_list part = {0};
            const char *fname = pd->fields[mk->parts[j].field].name;
            const att_list *src = strcmp(fname, "forename") == 0  ? &lists[0]
                                  : strcmp(fname, "surname") == 0 ? &lists[1]
                                  : strcmp(fname, "dob") == 0
                                      ? (mk->parts[j].transform == XCHG_TR_YEAR ? &yearl : &lists[2])
                                      : NULL;
            if (!src) {
                ok = 0;
                break;
            }
            for (size_t i = 0; i < src->n; i++) {
                char t[64];
                if (part_text(pd, &mk->parts[j], src->v[i], src->v[i], src->v[i], t, sizeof t) != 0) {
                    ok = 0;
                    break;
                }
                if (src == &lists[2] || src == &yearl)
                    att_list_add_new(&part, t, src->w[i]);
                else
                    att_list_add(&part, t, src->w[i]);
            }
            att_list next = {0};
            if (j == 0) {
                next = part;
            } else {
                for (size_t a2 = 0; a2 < pub.n; a2++)
                    for (size_t b2 = 0; b2 < part.n; b2++) {
                        char t[160];
                        snprintf(t, sizeof t, "%s|%s", pub.v[a2], part.v[b2]);
                        att_list_add_new(&next, t, pub.w[a2] * part.w[b2]);
                    }
                att_list_free(&pub);
                att_list_free(&part);
            }
            pub = next;
        }
        if (!ok) {
            printf("attack token-frequency:block%zu (%s): not modelled (no public distribution "
                   "for a part)\n", k + 1, desc);
            att_list_free(&pub);
            continue;
        }
        size_t nt = 0;
        uint8_t *vals = malloc((n + 1) * XCHG_TOKEN_BYTES);
        char **tv = malloc((n + 1) * sizeof *tv);
        for (size_t r = 0; r < n; r++)
            for (size_t i = 0; i < R[r].nblock; i++) {
                if (R[r].block[i].index != k || R[r].truth < 0)
                    continue;
                xchg_token t = R[r].block[i];
                if (bucket)
                    (void)xchg__token_bucket(&t, bucket);
                memcpy(vals + nt * XCHG_TOKEN_BYTES, t.value, XCHG_TOKEN_BYTES);
                char txt[160] = "";
                const struct truth *tr = &T[R[r].truth];
                for (size_t j = 0; j < mk->nparts; j++) {
                    char pt[64];
                    (void)part_text(pd, &mk->parts[j], tr->fore, tr->sur, tr->dob, pt, sizeof pt);
                    size_t tl = strlen(txt);
                    snprintf(txt + tl, sizeof txt - tl, "%s%s", j ? "|" : "", pt);
                }
                tv[nt++] = strdup(txt);
                break;
            }
        long *guess = malloc((nt + 1) * sizeof *guess);
        (void)att_freq_align(vals, nt, XCHG_TOKEN_BYTES, &pub, 2, guess);
        size_t hit = 0;
        for (size_t r = 0; r < nt; r++)
            hit += guess[r] >= 0 && strcmp(pub.v[guess[r]], tv[r]) == 0;
        printf("attack token-frequency:block%zu: reidentified %.4f of %zu (the plaintext of "
               "blocking key %s%s)\n", k + 1, nt ? (double)hit / (double)nt : 0.0, nt, desc,
               bucket ? ", tokens bucketed" : "");
        for (size_t r = 0; r < nt; r++)
            free(tv[r]);
        free(tv), free(vals), free(guess);
        att_list_free(&pub);
    }

    /* 2. pattern mining on the CLKs */
    size_t max = getenv("ATT_MAX") ? (size_t)atol(getenv("ATT_MAX")) : 20000;
    size_t nc = 0;
    struct rec *C = malloc((n + 1) * sizeof *C);
    for (size_t r = 0; r < n && nc < max; r++)
        if (R[r].clk && R[r].truth >= 0)
            C[nc++] = R[r];
    if (nc && nb) {
        uint8_t *clks = malloc(nc * nb);
        for (size_t r = 0; r < nc; r++)
            memcpy(clks + r * nb, C[r].clk, nb);
        long *guess = malloc(nc * 3 * sizeof *guess);
        size_t nassigned = 0, nq = 0;
        long np = att_clk_pattern(clks, nc, nb * 8, nb, lists, 3, guess, &nassigned, truth_cb, C,
                                  &nq);
        size_t hit = 0, hf = 0, hs = 0;
        for (size_t r = 0; r < nc; r++) {
            const struct truth *tr = &T[C[r].truth];
            int okf = guess[3 * r] >= 0 && strcmp(lists[0].v[guess[3 * r]], tr->fore) == 0;
            int oks = guess[3 * r + 1] >= 0 && strcmp(lists[1].v[guess[3 * r + 1]], tr->sur) == 0;
            hf += okf, hs += oks, hit += okf && oks;
        }
        /* the baseline: the commonest listed forename and surname guessed for everyone */
        long top[2] = {-1, -1};
        for (size_t fl = 0; fl < 2; fl++)
            for (size_t i = 0; i < lists[fl].n; i++)
                if (top[fl] < 0 || lists[fl].w[i] > lists[fl].w[top[fl]])
                    top[fl] = (long)i;
        size_t base = 0;
        for (size_t r = 0; top[0] >= 0 && top[1] >= 0 && r < nc; r++)
            base += strcmp(lists[0].v[top[0]], T[C[r].truth].fore) == 0 &&
                    strcmp(lists[1].v[top[1]], T[C[r].truth].sur) == 0;
        printf("clk-pattern: %ld patterns mined, %zu of them single q-grams; forename right "
               "%.4f, surname right %.4f; guessing the commonest names: %.4f\n", np, nq,
               (double)hf / (double)nc, (double)hs / (double)nc, (double)base / (double)nc);
        printf("attack clk-pattern: reidentified %.4f of %zu (forename and surname)\n",
               (double)hit / (double)nc, nc);
        free(clks);
        free(guess);
    }
    free(C);
    return 0;
}
