/*
 * privacy_scan — the matcher holds no personal data in clear.
 *
 *   privacy_scan DB DBKEY AGREEMENT PEOPLE.csv [FILE...]
 *
 * Dumps every cell of the matcher's store (opened with its key) and reads every FILE
 * given (the raw database files, the output of the matcher's commands), then looks for
 * each generated person's forename, surname, date of birth (ISO, DD/MM/YYYY, YYYYMMDD),
 * NHS number, UPN, NI number, UPRN, first address line and postcode. Text cells must
 * not contain any of them (case-insensitive, whole values of 3+ characters); binary
 * cells and files must not contain any value of 8+ characters (shorter strings occur in
 * random bytes by chance). Prints what it checked and every hit; exit 1 on any hit.
 *
 * Dates of birth in ISO form are looked for in binary data only: the matcher legitimately
 * writes evidence dates (when an incident happened, when a plan started) in ISO form in
 * its views, and a baby born on the day of some incident would be a false alarm. The
 * agencies' own formats (DD/MM/YYYY, YYYYMMDD), which the matcher never writes, are
 * looked for everywhere.
 */
#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <ctype.h>
#include <exchange.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct val {
    char *s;
    size_t n;
    const char *what;
    int binary_only;
};

static struct val *vals;
static size_t nvals, cap, hits, cells, bytes;

static void add_val(const char *s, const char *what, int binary_only);
static void add(const char *s, const char *what) { add_val(s, what, 0); }

static void add_val(const char *s, const char *what, int binary_only)
{
    size_t n = strlen(s);
    if (n < 3)
        return;
    if (nvals == cap) {
        cap = cap ? cap * 2 : 4096;
        vals = realloc(vals, cap * sizeof *vals);
    }
    vals[nvals++] = (struct val){strdup(s), n, what, binary_only};
}

/* Is the text around position i a pseudonym (P-XXXX-XXXX-XXXX or F-...)? Its base32
 * groups can spell a four-letter surname by chance ("HALL"): not personal data. */
static int in_pseudonym(const char *hay, size_t hn, size_t i)
{
    size_t a = i, b = i;
    while (a > 0 && (isalnum((unsigned char)hay[a - 1]) || hay[a - 1] == '-'))
        a--;
    while (b < hn && (isalnum((unsigned char)hay[b]) || hay[b] == '-'))
        b++;
    if (b - a != 16 || (hay[a] != 'P' && hay[a] != 'F') || hay[a + 1] != '-')
        return 0;
    for (size_t k = 2; k < 16; k++) {
        char c = hay[a + k];
        int dash = k == 6 || k == 11;
        if (dash ? c != '-' : !(isupper((unsigned char)c) || (c >= '2' && c <= '9')))
            return 0;
    }
    return 1;
}

/* Is position i..i+nn inside a long run of base64 / base64url characters (a sealed key, a
 * signature, a token in an extract header)? Such a run is bounded inside by '+', '/', '=',
 * '_' or '-', so a three-letter name ("Lee", "Amy") turns up there as a "whole word" about
 * once in fifty runs of this test by chance: random bytes, not personal data. A name
 * written as text is bounded by blanks, quotes or punctuation and never sits in such a run. */
static int b64_char(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

static int in_base64_run(const char *hay, size_t hn, size_t i, size_t nn)
{
    size_t a = i, b = i + nn;
    while (a > 0 && b64_char((unsigned char)hay[a - 1]))
        a--;
    while (b < hn && b64_char((unsigned char)hay[b]))
        b++;
    return b - a >= 20;
}

static int contains_ci(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn > hn)
        return 0;
    for (size_t i = 0; i + nn <= hn; i++)
        if (strncasecmp(hay + i, needle, nn) == 0) {
            /* whole word: not inside a longer run of letters/digits */
            int before = i > 0 && isalnum((unsigned char)hay[i - 1]);
            int after = i + nn < hn && isalnum((unsigned char)hay[i + nn]);
            if (!before && !after && !in_pseudonym(hay, hn, i) && !in_base64_run(hay, hn, i, nn))
                return 1;
        }
    return 0;
}

static int contains_raw(const char *hay, size_t hn, const char *needle, size_t nn)
{
    return nn <= hn && memmem(hay, hn, needle, nn) != NULL;
}

static void scan(const char *where, const char *data, size_t len, int text)
{
    bytes += len;
    for (size_t i = 0; i < nvals; i++) {
        if (text && vals[i].binary_only)
            continue;
        int hit = text ? contains_ci(data, len, vals[i].s, vals[i].n)
                       : vals[i].n >= 8 && contains_raw(data, len, vals[i].s, vals[i].n);
        if (hit) {
            if (hits < 20)
                printf("HIT: %s (%s) found in %s\n", vals[i].what, vals[i].s, where);
            hits++;
        }
    }
}

/* The areas the store holds (records.area): the agreement's coarse geography, shown in
 * command output on purpose (a review pair's evidence). Blanked out of text output before
 * it is scanned: a locality such as "Eastwick St Mary" is not the forename Mary. */
static char **areas;
static size_t nareas;

static void add_area(const void *data, size_t len)
{
    if (!data || len < 3)
        return;
    for (size_t i = 0; i < nareas; i++)
        if (strlen(areas[i]) == len && memcmp(areas[i], data, len) == 0)
            return;
    areas = realloc(areas, (nareas + 1) * sizeof *areas);
    areas[nareas] = strndup(data, len);
    nareas++;
}

static void blank_areas(char *buf, size_t len)
{
    for (size_t i = 0; i < nareas; i++) {
        size_t al = strlen(areas[i]);
        for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), areas[i], al)) != NULL; p += al)
            memset(p, ' ', al);
    }
}

static int on_cell(void *ctx, const char *table, const char *column, const void *data,
                   size_t len, int is_text)
{
    (void)ctx;
    char where[200];
    snprintf(where, sizeof where, "store %s.%s", table, column);
    cells++;
    /* a record's area is the agreement's coarse geography (a locality name such as
     * "Eastwick St Mary", never a postcode or address): words in it are not the person's */
    if (!strcmp(table, "records") && !strcmp(column, "area")) {
        add_area(data, len);
        return 0;
    }
    /* numbers are stored and dumped as text; short numeric cells (counts, indexes, days)
     * are not identifiers */
    scan(where, data, len, is_text);
    return 0;
}

int main(int argc, char **argv)
{
    if (xchg_process_harden(NULL) != XCHG_OK) { /* it loads secret keys: no core dumps */
        fprintf(stderr, "%s: cannot turn core dumps off\n", argv[0]);
        return 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: privacy_scan DB DBKEY AGREEMENT PEOPLE.csv [FILE...]\n");
        return 2;
    }
    if (xchg_init() != XCHG_OK)
        return 4;
    FILE *f = fopen(argv[4], "r");
    if (!f) {
        perror(argv[4]);
        return 2;
    }
    char line[2048];
    const char *names[32];
    int ncol = 0;
    if (!fgets(line, sizeof line, f))
        return 2;
    line[strcspn(line, "\r\n")] = 0;
    static char head[2048];
    strcpy(head, line);
    for (char *t = strtok(head, ","); t && ncol < 32; t = strtok(NULL, ","))
        names[ncol++] = t;
    size_t people = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *col[32] = {0};
        int c = 0;
        /* RFC 4180 fields: an address "Flat 3, Willow Court" is one quoted field */
        for (char *p = line; c < 32;) {
            char *w = p, *r = p;
            col[c++] = w;
            if (*r == '"') {
                for (r++; *r; r++) {
                    if (*r == '"' && r[1] == '"')
                        *w++ = *r++;
                    else if (*r == '"') {
                        r++;
                        break;
                    } else
                        *w++ = *r;
                }
            }
            while (*r && *r != ',')
                *w++ = *r++;
            int more = *r == ',';
            *w = 0;
            if (!more)
                break;
            p = r + 1;
        }
        for (int i = 0; i < c && i < ncol; i++) {
            const char *k = names[i], *v = col[i];
            if (!v || !*v)
                continue;
            if (!strcmp(k, "forename") || !strcmp(k, "surname") || !strcmp(k, "nhs") ||
                !strcmp(k, "upn") || !strcmp(k, "nino") || !strcmp(k, "uprn") ||
                !strcmp(k, "address_line_1") || !strcmp(k, "postcode") ||
                !strcmp(k, "previous_surname") || !strcmp(k, "previous_address_line_1") ||
                !strcmp(k, "previous_postcode"))
                add(v, k);
            if (!strcmp(k, "dob") && strlen(v) == 10) {
                char b[16];
                add_val(v, "dob", 1);
                snprintf(b, sizeof b, "%.2s/%.2s/%.4s", v + 8, v + 5, v);
                add(b, "dob");
                snprintf(b, sizeof b, "%.4s%.2s%.2s", v, v + 5, v + 8);
                add(b, "dob");
            }
        }
        people++;
    }
    fclose(f);
    xchg_diag *d = xchg_diag_new();
    xchg_agreement *p = NULL;
    xchg_store_key *k = NULL;
    xchg_store *s = NULL;
    if (t_agreement_file(argv[3], &p, d) != XCHG_OK ||
        xchg_store_key_load(argv[2], &k, d) != XCHG_OK ||
        xchg_store_open(argv[1], k, p, 0, &s, d) != XCHG_OK ||
        xchg_store_dump(s, on_cell, NULL, d) != XCHG_OK) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "%s\n", xchg_diag_text(d, i));
        return 2;
    }
    size_t files = 0;
    for (int a = 5; a < argc; a++) {
        char *buf = NULL;
        size_t len = 0;
        if (xchg_file_read(argv[a], 1u << 30, &buf, &len, NULL) != XCHG_OK)
            continue;
        size_t al = strlen(argv[a]);
        /* .txt files are command output: scanned as text (whole words, any case) */
        int text = al > 4 && strcmp(argv[a] + al - 4, ".txt") == 0;
        if (text)
            blank_areas(buf, len);
        scan(argv[a], buf, len, text);
        free(buf);
        files++;
    }
    printf("privacy scan: %zu people, %zu values, %zu store cells and %zu files (%zu bytes) "
           "scanned, %zu hits\n",
           people, nvals, cells, files, bytes, hits);
    xchg_store_free(s);
    xchg_store_key_free(k);
    xchg_agreement_free(p);
    xchg_diag_free(d);
    return hits ? 1 : 0;
}
