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
 *   ATT_BUCKET_BITS=B simulates token bucketing (token_flatten.c) of the blocking tokens;
 *   ATT_CLK_TRANSFORM=rule90|diffuse-T applies a measurement-only CLK transform
 *   (attack.h) to every CLK before the pattern mining.
 * Attacks: token-frequency:blockK per blocking key, token-frequency:match:NAME per match
 * key (parts without a public distribution: "not modelled"), clk-pattern on the CLKs.
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
    xchg_token *match; /* the match-key tokens (malloc'd, nmatch of them) */
    size_t nmatch;
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

static int cmp_token(const void *a, const void *b)
{
    return memcmp(a, b, XCHG_TOKEN_BYTES);
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
    case XCHG_TR_NICKNAME: /* the public nickname table, sex unknown */
        if (xchg_norm_nickname(v, 0, out, cap) != XCHG_OK)
            snprintf(out, cap, "%s", v);
        return 0;
    case XCHG_TR_SWAP_DM: /* YYYYMMDD -> YYYYDDMM, where that is another valid date */
        if (strlen(v) != 8 || (v[6] == v[4] && v[7] == v[5]) || v[6] > '1' ||
            (v[6] == '1' && v[7] > '2') || (v[6] == '0' && v[7] == '0'))
            return 1; /* no such token */
        snprintf(out, cap, "%.4s%.2s%.2s", v, v + 6, v + 4);
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

/* Frequency alignment of one key's tokens (match = 0: blocking key k, 1: match key k). */
static void token_attack(const xchg_policy_data *pd, const xchg_match_key *mk, size_t k,
                         int match, const att_list *const *lists, const att_list *yearl,
                         const struct rec *R, size_t n, unsigned bucket)
{
    static const char *const tr[] = {"", ":initial", ":phonetic", ":year", ":swap_dm",
                                      ":first", ":nickname", ":outward", ":sector", ":dm"};
    char desc[256] = "", name[160];
    for (size_t j = 0; j < mk->nparts; j++) {
        size_t dl = strlen(desc);
        snprintf(desc + dl, sizeof desc - dl, "%s%s%s", j ? "+" : "",
                 pd->fields[mk->parts[j].field].name,
                 mk->parts[j].transform < 10 ? tr[mk->parts[j].transform] : "?");
    }
    if (match)
        snprintf(name, sizeof name, "match:%s", mk->name);
    else
        snprintf(name, sizeof name, "block%zu", k + 1);
    /* the attacker's distribution of each part */
    att_list parts[ATT_MAXP];
    memset(parts, 0, sizeof parts);
    int ok = mk->nparts <= ATT_MAXP;
    for (size_t j = 0; j < mk->nparts && ok; j++) {
        const char *fname = pd->fields[mk->parts[j].field].name;
        const att_list *src = strcmp(fname, "forename") == 0  ? lists[0]
                              : strcmp(fname, "surname") == 0 ? lists[1]
                              : strcmp(fname, "dob") == 0
                                  ? (mk->parts[j].transform == XCHG_TR_YEAR ? yearl : lists[2])
                                  : NULL;
        if (!src) {
            ok = 0;
            break;
        }
        for (size_t i = 0; i < src->n; i++) {
            char tx[64];
            int rc = part_text(pd, &mk->parts[j], src->v[i], src->v[i], src->v[i], tx, sizeof tx);
            if (rc < 0) {
                ok = 0;
                break;
            }
            if (rc == 0 && (src == lists[2] || src == yearl))
                att_list_add_new(&parts[j], tx, src->w[i]); /* dates: one text per value */
            else if (rc == 0)
                att_list_add(&parts[j], tx, src->w[i]);
        }
    }
    if (!ok) {
        printf("attack token-frequency:%s (%s): not modelled (no public distribution for a "
               "part)\n", name, desc);
        for (size_t j = 0; j < ATT_MAXP; j++)
            att_list_free(&parts[j]);
        return;
    }
    /* the tokens the matcher holds, and (scoring only) the plaintext each encodes */
    size_t nt = 0;
    uint8_t *vals = malloc((n + 1) * XCHG_TOKEN_BYTES);
    char **tv = malloc((n + 1) * sizeof *tv);
    for (size_t r = 0; r < n; r++) {
        const xchg_token *tok = match ? R[r].match : R[r].block;
        size_t ntok = match ? R[r].nmatch : R[r].nblock;
        for (size_t i = 0; i < ntok; i++) {
            if (tok[i].index != k || R[r].truth < 0)
                continue;
            xchg_token t = tok[i];
            if (bucket)
                (void)xchg__token_bucket(&t, bucket);
            char pt[ATT_MAXP][64];
            const char *ptp[ATT_MAXP];
            const struct truth *tt = &T[R[r].truth];
            int have = 1;
            for (size_t j = 0; j < mk->nparts; j++) {
                have &= part_text(pd, &mk->parts[j], tt->fore, tt->sur, tt->dob, pt[j],
                                  sizeof pt[j]) == 0;
                ptp[j] = pt[j];
            }
            char txt[320];
            if (have)
                att_join(ptp, mk->nparts, mk->any_order ? (long)mk->any_order_parts[0] : -1,
                         mk->any_order ? (long)mk->any_order_parts[1] : -1, txt, sizeof txt);
            else
                snprintf(txt, sizeof txt, "?"); /* the truth's value makes no such token */
            memcpy(vals + nt * XCHG_TOKEN_BYTES, t.value, XCHG_TOKEN_BYTES);
            tv[nt++] = strdup(txt);
            break;
        }
    }
    /* as many plaintexts as there are tokens seen at least twice */
    size_t want = 0;
    {
        uint8_t *s = malloc((nt + 1) * XCHG_TOKEN_BYTES);
        memcpy(s, vals, nt * XCHG_TOKEN_BYTES);
        qsort(s, nt, XCHG_TOKEN_BYTES, cmp_token);
        for (size_t i = 1; i < nt; i++)
            if (memcmp(s + i * XCHG_TOKEN_BYTES, s + (i - 1) * XCHG_TOKEN_BYTES,
                       XCHG_TOKEN_BYTES) == 0 &&
                (i < 2 || memcmp(s + (i - 1) * XCHG_TOKEN_BYTES, s + (i - 2) * XCHG_TOKEN_BYTES,
                                 XCHG_TOKEN_BYTES) != 0))
                want++;
        free(s);
    }
    att_list pub = {0};
    if (mk->nparts)
        (void)att_top_product(parts, mk->nparts, mk->any_order ? (long)mk->any_order_parts[0] : -1,
                              mk->any_order ? (long)mk->any_order_parts[1] : -1, want + 1, &pub);
    long *guess = malloc((nt + 1) * sizeof *guess);
    (void)att_freq_align(vals, nt, XCHG_TOKEN_BYTES, &pub, 2, guess);
    size_t hit = 0;
    for (size_t r = 0; r < nt; r++)
        hit += guess[r] >= 0 && strcmp(pub.v[guess[r]], tv[r]) == 0;
    printf("attack token-frequency:%s: reidentified %.4f of %zu (the plaintext of %s key "
           "%s%s)\n", name, nt ? (double)hit / (double)nt : 0.0, nt,
           match ? "match" : "blocking", desc, bucket ? ", tokens bucketed" : "");
    for (size_t r = 0; r < nt; r++)
        free(tv[r]);
    free(tv), free(vals), free(guess);
    att_list_free(&pub);
    for (size_t j = 0; j < ATT_MAXP; j++)
        att_list_free(&parts[j]);
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
    const char *xspec = getenv("ATT_CLK_TRANSFORM");
    att_xform *xform = NULL;
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
                if (xspec && *xspec) { /* ATT_CLK_TRANSFORM, as link_quality's */
                    if (!xform && !(xform = att_xform_new(xspec, 8 * nb))) {
                        fprintf(stderr, "xchg-attack: ATT_CLK_TRANSFORM=%s: unknown\n", xspec);
                        return 2;
                    }
                    att_xform_apply(xform, x->clk);
                }
            }
            x->nblock = r.nblock;
            memcpy(x->block, r.block, r.nblock * sizeof *r.block);
            x->nmatch = r.nmatch;
            x->match = malloc((r.nmatch + 1) * sizeof *x->match);
            memcpy(x->match, r.match, r.nmatch * sizeof *r.match);
            x->truth = truth_find(x->ref);
        }
        uint64_t count;
        if (xchg_extract_finish(xf, &count, d) != XCHG_OK)
            return 1;
        xchg_extract_close(xf);
    }
    fprintf(stderr, "xchg-attack: %zu records, %zu-byte CLKs\n", n, nb);

    /* 1. token frequency alignment, per blocking key and per match key */
    unsigned bucket = getenv("ATT_BUCKET_BITS") ? (unsigned)atoi(getenv("ATT_BUCKET_BITS")) : 0;
    const att_list *pub_lists[3] = {&lists[0], &lists[1], &lists[2]};
    for (size_t k = 0; k < pd->fuzzy.nblocking; k++)
        token_attack(pd, &pd->fuzzy.blocking[k], k, 0, pub_lists, &yearl, R, n, bucket);
    for (size_t k = 0; k < pd->nmatch_keys; k++)
        token_attack(pd, &pd->match_keys[k], k, 1, pub_lists, &yearl, R, n, 0);

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
