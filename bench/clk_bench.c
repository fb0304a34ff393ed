/*
 * xchg-clk-bench — throughput of the CLK encoder and of Dice scoring, on one core.
 *
 * Usage:
 *   xchg-clk-bench [-n RECORDS] [-m FILTERS] [-r REPEATS] [-k KATDIR]
 *
 *   -n RECORDS  records to encode per schema (default 200000): the 1,000 FEBRL dataset1
 *               records (KATDIR/dataset1.csv) repeated until RECORDS have been encoded
 *   -m FILTERS  Dice is measured all-pairs over FILTERS x FILTERS filters (default 2000)
 *   -r REPEATS  how many times the all-pairs pass is repeated (default 5)
 *   -k KATDIR   directory holding dataset1.csv and the two FEBRL schemas (default: the
 *               source tree's tests/kat/clkhash)
 *
 * Build with -DCMAKE_BUILD_TYPE=Release and run on an idle machine, e.g.
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel -j2
 *   build-rel/bench/xchg-clk-bench
 * It prints, for the blakeHash and the doubleHash FEBRL schemas, records/s of
 * xchg_clk_encode alone (the CSV is parsed before the clock starts); comparisons/s of
 * xchg_clk_dice and of xchg_clk_dice_pc with popcounts computed once per filter; and the
 * peak resident set size (getrusage). Single-threaded: the figures are per core.
 * Not run by ctest. The measured figures are recorded in docs/clk.md ("Performance").
 */
#include <exchange.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef XCHG_CLK_BENCH_KAT_DIR
#define XCHG_CLK_BENCH_KAT_DIR "tests/kat/clkhash"
#endif

#define NCOL 11

struct data {
    char *text;
    size_t nrows;
    const char **cell; /* nrows * NCOL */
    size_t *len;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n;
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto cleanup;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto cleanup;
    }
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
cleanup:
    fclose(fp);
    return buf;
}

/* dataset1.csv: ", "-separated, no quotes (see tests/kat/clkhash/README.md). The header
 * line is skipped. Returns 0 on success. */
static int load_data(const char *path, struct data *d)
{
    memset(d, 0, sizeof *d);
    d->text = slurp(path, NULL);
    if (!d->text)
        return -1;
    size_t lines = 0;
    for (const char *p = d->text; *p; p++)
        lines += *p == '\n';
    d->cell = calloc((lines + 1) * NCOL, sizeof *d->cell);
    d->len = calloc((lines + 1) * NCOL, sizeof *d->len);
    if (!d->cell || !d->len)
        return -1;
    char *p = strchr(d->text, '\n'); /* skip the header */
    while (p && *++p) {
        char *eol = strchr(p, '\n');
        if (eol)
            *eol = '\0';
        size_t c = 0;
        char *q = p;
        for (;;) {
            while (*q == ' ')
                q++;
            char *e = strchr(q, ',');
            if (c >= NCOL)
                return -1;
            d->cell[d->nrows * NCOL + c] = q;
            d->len[d->nrows * NCOL + c] = e ? (size_t)(e - q) : strlen(q);
            c++;
            if (!e)
                break;
            q = e + 1;
        }
        if (c != NCOL)
            return -1;
        d->nrows++;
        p = eol;
    }
    return d->nrows ? 0 : -1;
}

static xchg_clk_schema *load_schema(const char *path)
{
    size_t len;
    char *json = slurp(path, &len);
    xchg_clk_schema *s = NULL;
    if (!json || xchg_clk_schema_parse_json(json, len, &s, NULL) != XCHG_OK)
        s = NULL;
    free(json);
    return s;
}

/*
 * Encode nrec records (the dataset cycled) with schema file `name` and secret; keeps the
 * first nkeep filters in keep (nkeep * 128 bytes) when keep is not NULL. Returns 0 on
 * success and prints records/s.
 */
static int bench_encode(const char *dir, const char *name, const char *secret,
                        const struct data *d, size_t nrec, uint8_t *keep, size_t nkeep)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    xchg_clk_schema *s = load_schema(path);
    xchg_clk_encoder *enc = NULL;
    int rc = -1;
    if (!s) {
        fprintf(stderr, "xchg-clk-bench: error: cannot load schema %s\n", path);
        return -1;
    }
    if (xchg_clk_encoder_new(s, secret, strlen(secret), &enc) != XCHG_OK)
        goto cleanup;
    size_t nb = xchg_clk_filter_bytes(s);
    uint8_t out[1024];
    if (nb > sizeof out)
        goto cleanup;
    unsigned long long pop = 0; /* keeps the work observable */
    double t0 = now();
    for (size_t i = 0; i < nrec; i++) {
        size_t r = i % d->nrows;
        if (xchg_clk_encode(enc, d->cell + r * NCOL, d->len + r * NCOL, NCOL, out, NULL) !=
            XCHG_OK) {
            fprintf(stderr, "xchg-clk-bench: error: record %zu does not encode\n", r + 1);
            goto cleanup;
        }
        pop += out[i % nb];
        if (keep && i < nkeep)
            memcpy(keep + i * nb, out, nb);
    }
    double t = now() - t0;
    printf("encode %-32s %8zu records  %7.3f s  %10.0f records/s  (check %llu)\n", name, nrec,
           t, (double)nrec / t, pop);
    rc = 0;
cleanup:
    xchg_clk_encoder_free(enc);
    xchg_clk_schema_free(s);
    return rc;
}

static void bench_dice(const uint8_t *f, size_t m, size_t nb, unsigned reps)
{
    double sum = 0;
    double t0 = now();
    for (unsigned r = 0; r < reps; r++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++)
                sum += xchg_clk_dice(f + i * nb, f + j * nb, nb);
    double t = now() - t0;
    double n = (double)m * (double)m * reps;
    printf("dice    xchg_clk_dice     %zu x %zu x %u  %7.3f s  %10.3g comparisons/s  (sum %.1f)\n",
           m, m, reps, t, n / t, sum);

    size_t *pc = malloc(m * sizeof *pc);
    if (!pc)
        return;
    sum = 0;
    t0 = now();
    for (unsigned r = 0; r < reps; r++) {
        for (size_t i = 0; i < m; i++) /* counted once per pass, inside the clock */
            pc[i] = xchg_clk_popcount(f + i * nb, nb);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++)
                sum += xchg_clk_dice_pc(f + i * nb, f + j * nb, nb, pc[i], pc[j]);
    }
    t = now() - t0;
    printf("dice    xchg_clk_dice_pc  %zu x %zu x %u  %7.3f s  %10.3g comparisons/s  (sum %.1f)\n",
           m, m, reps, t, n / t, sum);
    free(pc);
}

int main(int argc, char **argv)
{
    size_t nrec = 200000, m = 2000;
    unsigned reps = 5;
    const char *dir = XCHG_CLK_BENCH_KAT_DIR;
    int opt;
    while ((opt = getopt(argc, argv, "n:m:r:k:h")) != -1) {
        switch (opt) {
        case 'n':
            nrec = strtoul(optarg, NULL, 10);
            break;
        case 'm':
            m = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            reps = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'k':
            dir = optarg;
            break;
        case 'h':
            printf("usage: xchg-clk-bench [-n RECORDS] [-m FILTERS] [-r REPEATS] [-k KATDIR]\n");
            return 0;
        default:
            fprintf(stderr, "usage: xchg-clk-bench [-n RECORDS] [-m FILTERS] [-r REPEATS] "
                            "[-k KATDIR]\n");
            return 2;
        }
    }
    if (nrec == 0 || m == 0 || reps == 0) {
        fprintf(stderr, "xchg-clk-bench: error: -n, -m and -r must be positive\n");
        return 2;
    }
    if (xchg_init() != XCHG_OK)
        return 3;

    struct data d;
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset1.csv", dir);
    if (load_data(path, &d) != 0) {
        fprintf(stderr, "xchg-clk-bench: error: cannot read %s\n", path);
        return 3;
    }
    const size_t nb = 128; /* FEBRL: l = 1024 */
    uint8_t *f = malloc(m * nb);
    if (!f)
        return 3;
    /* The Dice set: as many distinct filters as the data gives under two secrets. */
    size_t keep = m < d.nrows ? m : d.nrows;
    if (bench_encode(dir, "schema_febrl_v3_blakeHash.json", "secret", &d, nrec, f, keep) != 0 ||
        bench_encode(dir, "schema_febrl_v3_doubleHash.json", "secret", &d, nrec, NULL, 0) != 0)
        return 3;
    for (size_t filled = keep; filled < m;) {
        size_t want = m - filled < d.nrows ? m - filled : d.nrows;
        char secret[32];
        snprintf(secret, sizeof secret, "secret%zu", filled / d.nrows);
        if (bench_encode(dir, "schema_febrl_v3_blakeHash.json", secret, &d, want,
                         f + filled * nb, want) != 0)
            return 3;
        filled += want;
    }
    bench_dice(f, m, nb, reps);

    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("peak RSS %ld KiB\n", ru.ru_maxrss);
    free(f);
    free(d.cell);
    free(d.len);
    free(d.text);
    return 0;
}
