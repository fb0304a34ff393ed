/*
 * link_quality — linkage quality against the generator's ground truth (issue 5's
 * bench/linkage-quality measures through this program).
 *
 *   link_quality AGREEMENT MATCHER.key TRUTH_DIR RUN_DATE ELIGIBLE.csv EXTRACT.xex...
 *
 * Opens every sealed extract as the matcher (full checks), links them with the library's
 * engine, and prints person-level pairwise precision / recall / F1 over all records and
 * family-level eligibility precision / recall, plus timings, peak memory and Dice
 * comparisons/s. A predicted eligible family counts as correct when the true household
 * most of its records belong to is eligible; a truly eligible household counts as found
 * when some predicted eligible family holds one of its records. A missed household is
 * counted as split (the predicted families holding its records evidence enough problems
 * between them) or as lacking the evidence (they do not: indicators withheld by
 * identification consent, for one, since the truth ignores consent).
 */
#include "attack.h"

#include <exchange.h>
/* a research harness over unsigned agreements it is handed: the test-only wrapper */
#include "agreement_testing.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *agency_file(const char *agency)
{
    static const char *const map[][2] = {
        {"police", "police.csv"}, {"education", "education.csv"}, {"dwp", "dwp.csv"},
        {"social-care", "social_care.csv"}, {"youth-offending", "yos.csv"},
        {"housing", "housing.csv"}, {"health", "health.csv"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], agency) == 0)
            return map[i][1];
    return agency;
}

struct ref {
    char *key; /* file:ref */
    uint32_t rec;
};

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct ref *)a)->key, ((const struct ref *)b)->key);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct cell {
    uint64_t key;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* sum over groups of equal values of C(count, 2) */
static double pairs_of(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    double s = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;
        while (e < n && v[e] == v[i])
            e++;
        double c = (double)(e - i);
        s += c * (c - 1) / 2;
        i = e;
    }
    return s;
}

int main(int argc, char **argv)
{
    if (xchg_process_harden(NULL) != XCHG_OK) { /* it loads secret keys: no core dumps */
        fprintf(stderr, "%s: cannot turn core dumps off\n", argv[0]);
        return 2;
    }
    if (argc < 7) {
        fprintf(stderr, "usage: link_quality AGREEMENT MATCHER.key TRUTH_DIR RUN_DATE "
                        "ELIGIBLE.csv EXTRACT.xex...\n");
        return 2;
    }
    if (xchg_init() != XCHG_OK)
        return 4;
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    xchg_seckey *m = NULL;
    int32_t run_date;
    if (xchg_policy_parse_file(argv[1], &p, d) != XCHG_OK ||
        xchg_seckey_load(argv[2], NULL, 0, &m, d) != XCHG_OK ||
        xchg_date_parse(argv[4], strlen(argv[4]), &run_date) != XCHG_OK) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "%s\n", xchg_diag_text(d, i));
        return 1;
    }
    const xchg_policy_data *pd = xchg_policy_get(p);
    xchg_agreement *agr = NULL;
    if (xchg__agreement_trust_unverified(p, &agr) != XCHG_OK)
        return 4;
    p = NULL;
    /* what-if: LQ_THRESHOLD / LQ_REVIEW override the agreement's fuzzy settings in memory
     * (for tuning an agreement; the matcher itself always uses the signed values) */
    if (getenv("LQ_THRESHOLD"))
        ((xchg_policy_data *)pd)->fuzzy.threshold = atof(getenv("LQ_THRESHOLD"));
    if (getenv("LQ_REVIEW"))
        ((xchg_policy_data *)pd)->fuzzy.review_low = atof(getenv("LQ_REVIEW"));
    /* LQ_CLK_TRANSFORM=rule90|diffuse-T: a measurement-only transform of every CLK as
     * it is opened (bench/attack/attack.h), the same xchg-attack applies */
    const char *xspec = getenv("LQ_CLK_TRANSFORM");
    att_xform *xform = NULL; /* made at the first CLK, for its length */
    uint8_t *xf_buf = NULL;
    xchg_linkset *ls = NULL;
    if (xchg_linkset_new(agr, &ls) != XCHG_OK)
        return 3;
    struct ref *refs = NULL;
    size_t nrefs = 0, cap = 0;
    double t0 = now_s();
    for (int a = 6; a < argc; a++) {
        xchg_extract_file *f = NULL;
        if (xchg_extract_open(agr, m, argv[a], 0, &f, d) != XCHG_OK) {
            for (size_t i = 0; i < xchg_diag_count(d); i++)
                fprintf(stderr, "%s\n", xchg_diag_text(d, i));
            return 1;
        }
        size_t agency = xchg_extract_file_info(f)->agency;
        const char *file = agency_file(pd->parties[agency].id);
        for (;;) {
            xchg_record r;
            int end = 0;
            if (xchg_extract_next(f, &r, &end, d) != XCHG_OK)
                return 1;
            if (end)
                break;
            if (nrefs == cap) {
                cap = cap ? cap * 2 : 65536;
                refs = realloc(refs, cap * sizeof *refs);
            }
            size_t kl = strlen(file) + r.ref_len + 2;
            refs[nrefs].key = malloc(kl);
            snprintf(refs[nrefs].key, kl, "%s:%.*s", file, (int)r.ref_len, r.ref);
            refs[nrefs].rec = (uint32_t)xchg_linkset_count(ls);
            nrefs++;
            if (xspec && *xspec && r.clk && r.clk_len) { /* LQ_CLK_TRANSFORM */
                if (!xform && !(xform = att_xform_new(xspec, 8 * r.clk_len))) {
                    fprintf(stderr, "link_quality: LQ_CLK_TRANSFORM=%s: unknown\n", xspec);
                    return 2;
                }
                if (!xf_buf && !(xf_buf = malloc(r.clk_len)))
                    return 3;
                memcpy(xf_buf, r.clk, r.clk_len);
                att_xform_apply(xform, xf_buf);
                r.clk = xf_buf;
            }
            if (xchg_linkset_add(ls, agency, nrefs, &r) != XCHG_OK)
                return 3;
        }
        uint64_t count;
        if (xchg_extract_finish(f, &count, d) != XCHG_OK)
            return 1;
        xchg_extract_close(f);
    }
    double t_load = now_s() - t0;
    if (getenv("LQ_IDS")) {
        FILE *o = fopen(getenv("LQ_IDS"), "w");
        for (size_t k = 0; o && k < nrefs; k++)
            fprintf(o, "%zu %s\n", k + 1, refs[k].key);
        if (o)
            fclose(o);
    }
    uint8_t pkey[32] = {1};
    xchg_link_result *res = NULL;
    t0 = now_s();
    if (xchg_link_run(ls, run_date, pkey, 2, &res, d) != XCHG_OK)
        return 3;
    double t_link = now_s() - t0;
    size_t n = res->nrecords;

    /* truth: file:ref -> person, household */
    qsort(refs, nrefs, sizeof *refs, cmp_ref);
    uint64_t *tperson = calloc(n, sizeof *tperson), *thh = calloc(n, sizeof *thh);
    char tpath[4096];
    snprintf(tpath, sizeof tpath, "%s/rows.csv", argv[3]);
    FILE *tf = fopen(tpath, "r");
    if (!tf) {
        perror(tpath);
        return 1;
    }
    char line[1024];
    size_t matched = 0;
    while (fgets(line, sizeof line, tf)) {
        char file[64], ref[256];
        unsigned long long person, hh;
        if (sscanf(line, "%63[^,],%255[^,],%llu,%llu", file, ref, &person, &hh) != 4)
            continue;
        char key[400];
        snprintf(key, sizeof key, "%s:%s", file, ref);
        struct ref k = {key, 0}, *hit = bsearch(&k, refs, nrefs, sizeof *refs, cmp_ref);
        if (!hit)
            continue;
        tperson[hit->rec] = person;
        thh[hit->rec] = hh;
        matched++;
    }
    fclose(tf);
    /* eligible households */
    FILE *ef = fopen(argv[5], "r");
    if (!ef) {
        perror(argv[5]);
        return 1;
    }
    size_t maxhh = 0;
    for (size_t i = 0; i < n; i++)
        if (thh[i] + 1 > maxhh)
            maxhh = thh[i] + 1;
    uint8_t *elig = calloc(maxhh + 1, 1);
    size_t ntrue = 0;
    while (fgets(line, sizeof line, ef)) {
        unsigned long long h;
        if (sscanf(line, "%llu,", &h) == 1 && h < maxhh) {
            elig[h] = 1;
            ntrue++;
        }
    }
    fclose(ef);

    /* pairwise person quality */
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = res->person[i];
    double pred = pairs_of(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = tperson[i];
    double truth = pairs_of(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = ((uint64_t)res->person[i] << 32) ^ tperson[i];
    double tp = pairs_of(v, n);
    double prec = pred ? tp / pred : 1, rec = truth ? tp / truth : 1;
    double f1 = prec + rec ? 2 * prec * rec / (prec + rec) : 0;

    /* family eligibility */
    size_t npred = 0, correct = 0;
    uint8_t *found = calloc(maxhh + 1, 1);
    /* majority true household per predicted family: sort (family, hh) */
    for (size_t i = 0; i < n; i++)
        v[i] = ((uint64_t)res->household[i] << 32) | (thh[i] & 0xffffffff);
    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 0; i < n;) {
        uint32_t fam = (uint32_t)(v[i] >> 32);
        size_t e = i;
        uint32_t best = 0;
        size_t bestc = 0;
        while (e < n && (uint32_t)(v[e] >> 32) == fam) {
            size_t s = e;
            while (e < n && v[e] == v[s])
                e++;
            if (e - s > bestc) {
                bestc = e - s;
                best = (uint32_t)v[s];
            }
        }
        if (res->families[fam].eligible) {
            npred++;
            correct += best < maxhh && elig[best];
            for (size_t k = i; k < e; k++)
                if ((uint32_t)v[k] < maxhh)
                    found[(uint32_t)v[k]] = 1;
        }
        i = e;
    }
    size_t nfound = 0;
    for (size_t h = 0; h < maxhh; h++)
        nfound += elig[h] && found[h];
    /* why truly eligible households were missed: "split" when the predicted families that
     * hold its records evidence enough of the rule's problems between them (the household
     * stage split the family), "evidence" when they do not (indicators the extracts do not
     * carry: withheld by identification consent, outside the window, or never recorded) */
    size_t miss_split = 0, miss_evidence = 0;
    {
        uint64_t *seen = calloc(maxhh + 1, sizeof *seen); /* problem bits per true household */
        for (size_t i = 0; i < n; i++) {
            if (thh[i] >= maxhh || !elig[thh[i]] || found[thh[i]])
                continue;
            const xchg_family *fam = &res->families[res->household[i]];
            for (uint8_t q = 0; q < fam->nproblems; q++)
                for (size_t k = 0; k < pd->nrule_of; k++)
                    if (pd->rule_of[k] == fam->problems[q].problem)
                        seen[thh[i]] |= 1ull << (k & 63);
        }
        for (size_t h = 0; h < maxhh; h++)
            if (elig[h] && !found[h]) {
                if ((unsigned)__builtin_popcountll(seen[h]) >= pd->rule_at_least && pd->rule_at_least)
                    miss_split++;
                else
                    miss_evidence++;
            }
        free(seen);
    }
    const char *dump = getenv("LQ_DUMP");
    if (dump) { /* per record: key, person, family, eligible, problems (for analysis) */
        FILE *df = fopen(dump, "w");
        for (size_t k = 0; df && k < nrefs; k++) {
            uint32_t r = refs[k].rec;
            const xchg_family *fam = &res->families[res->household[r]];
            fprintf(df, "%s,%u,%u,%d,", refs[k].key, res->person[r], res->household[r], fam->eligible);
            for (uint8_t q = 0; q < fam->nproblems; q++)
                fprintf(df, "%s%s", q ? ";" : "", pd->problems[fam->problems[q].problem].code);
            fputc('\n', df);
        }
        if (df)
            fclose(df);
    }
    /* review pairs that are truly one person (the clerical reviewer's hit rate) */
    size_t rev_true = 0;
    for (size_t k = 0; k < res->nreview; k++)
        rev_true += tperson[res->review[k].a] == tperson[res->review[k].b];
    printf("review pairs truly one person: %zu of %zu\n", rev_true, res->nreview);
    /* what the review queue is worth: person quality once a reviewer has decided every
     * listed pair correctly (the truly-one-person pairs joined) */
    {
        uint32_t *par = malloc((res->npersons ? res->npersons : 1) * sizeof *par);
        for (size_t i = 0; i < res->npersons; i++)
            par[i] = (uint32_t)i;
        for (size_t k = 0; k < res->nreview; k++) {
            if (tperson[res->review[k].a] != tperson[res->review[k].b])
                continue;
            uint32_t x = res->person[res->review[k].a], y = res->person[res->review[k].b];
            while (par[x] != x)
                x = par[x] = par[par[x]];
            while (par[y] != y)
                y = par[y] = par[par[y]];
            par[x] = y;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t x = res->person[i];
            while (par[x] != x)
                x = par[x];
            v[i] = x;
        }
        double rpred = pairs_of(v, n);
        for (size_t i = 0; i < n; i++) {
            uint32_t x = res->person[i];
            while (par[x] != x)
                x = par[x];
            v[i] = ((uint64_t)x << 32) ^ tperson[i];
        }
        double rtp = pairs_of(v, n);
        double rp = rpred ? rtp / rpred : 1, rr = truth ? rtp / truth : 1;
        printf("after review (every listed pair decided correctly): precision %.4f recall %.4f "
               "F1 %.4f\n",
               rp, rr, rp + rr ? 2 * rp * rr / (rp + rr) : 0);
        free(par);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("records %zu (truth rows matched %zu), persons %zu (true %.0f pairs, predicted %.0f, "
           "correct %.0f)\n",
           n, matched, res->npersons, truth, pred, tp);
    printf("person pairs: precision %.4f recall %.4f F1 %.4f\n", prec, rec, f1);
    printf("families: predicted eligible %zu, correct %zu, truly eligible %zu, found %zu -> "
           "precision %.4f recall %.4f\n",
           npred, correct, ntrue, nfound, npred ? (double)correct / npred : 1,
           ntrue ? (double)nfound / ntrue : 1);
    printf("families missed: %zu split across predicted families, %zu without the evidence in "
           "the extracts (recall over the rest %.4f)\n",
           miss_split, miss_evidence,
           ntrue > miss_evidence ? (double)nfound / (double)(ntrue - miss_evidence) : 1);
    printf("links: exact unions %llu, fuzzy links %llu, review pairs %zu, conflicts %zu\n",
           (unsigned long long)res->exact_unions, (unsigned long long)res->fuzzy_links,
           res->nreview, res->nconflicts);
    printf("time: load+verify %.2f s, link %.2f s (exact %.2f, fuzzy %.2f, households+rule "
           "%.2f); Dice comparisons %llu (%.1f M/s over 2 threads); peak RSS %.1f MiB\n",
           t_load, t_link, res->seconds_exact, res->seconds_fuzzy, res->seconds_households,
           (unsigned long long)res->comparisons,
           res->seconds_fuzzy > 0 ? res->comparisons / res->seconds_fuzzy / 1e6 : 0,
           ru.ru_maxrss / 1024.0);
    return 0;
}
