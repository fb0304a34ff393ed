/* xchg-synth — synthetic county generator: shared types and helpers.
 *
 * Everything here is deterministic for a given seed: the only randomness is the
 * xoshiro256** generator below, sampling uses integer arithmetic only, and no
 * floating point is used anywhere in the generator. */
#ifndef XCHG_SYNTH_H
#define XCHG_SYNTH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SYNTH_PPM 1000000u /* rates are held as parts per million */

/* ---- PRNG (rng.c) ---------------------------------------------------------- */

typedef struct synth_rng {
    uint64_t s[4];
} synth_rng;

/* Seed a stream from the run seed and two stream coordinates (e.g. household
 * index and purpose), so each household's draws are independent of the others
 * and of the options that only affect other purposes. */
void rng_init(synth_rng *r, uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_next(synth_rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint32_t rng_below(synth_rng *r, uint32_t n);
/* Uniform integer in [lo, hi] (lo <= hi). */
int32_t rng_range(synth_rng *r, int32_t lo, int32_t hi);
/* True with probability ppm / 1e6. */
bool rng_chance(synth_rng *r, uint32_t ppm);
/* Index drawn from integer weights w[0..n-1] (sum > 0). */
size_t rng_weighted(synth_rng *r, const uint32_t *w, size_t n);

/* ---- dates (ids.c) ---------------------------------------------------------- */

int32_t date_from_ymd(int y, int m, int d); /* days since 1970-01-01 */
void date_to_ymd(int32_t days, int *y, int *m, int *d);
/* Parse exactly YYYY-MM-DD; -1 on error. */
int date_parse_iso(const char *s, int32_t *days);
/* Whole years between dob and on. */
int age_on(int32_t dob, int32_t on);

/* ---- identifiers (ids.c) ---------------------------------------------------- */

/* NHS number (10 digits + NUL) for the k-th person; unique for k < 1e8. */
void id_nhs(uint64_t seed, uint64_t k, char out[11]);
/* UPN (13 chars + NUL) for the k-th pupil allocated, allocated in year yy (0-99). */
void id_upn(uint64_t k, int yy, char out[14]);
/* NI number (9 chars + NUL), unique for k < (number of prefixes) * 1e6. */
void id_nino(uint64_t seed, uint64_t k, char out[10]);
/* Postcode of postcode unit u ("FW12 3AB"); sets *district to 0..SYNTH_DISTRICTS-1. */
void id_postcode(uint32_t u, char out[10], int *district);

#define SYNTH_LOCALITIES 8
#define SYNTH_DISTRICTS_PER_LOCALITY 3
#define SYNTH_DISTRICTS (SYNTH_LOCALITIES * SYNTH_DISTRICTS_PER_LOCALITY)
extern const char *const synth_locality_names[SYNTH_LOCALITIES];

/* ---- name tables (names.c) -------------------------------------------------- */

enum {
    NAMES_MALE_OLD,
    NAMES_MALE_YOUNG,
    NAMES_FEMALE_OLD,
    NAMES_FEMALE_YOUNG,
    NAMES_SURNAME,
    NAMES_STREET,
    NAMES_STREET_SUFFIX,
    NAMES_BUILDING,
    NAMES_COUNT
};

const char *names_pick(synth_rng *r, int which);
/* A nickname for forename, or NULL if none is known. */
const char *names_nickname(synth_rng *r, const char *forename);

/* ---- text helpers ----------------------------------------------------------- */

/* Bounded string copy; always NUL-terminates (cap > 0). */
void str_copy(char *dst, size_t cap, const char *src);

/* ---- CSV output with a bounded shuffle window (out.c) ------------------------ */

#define SYNTH_LINE_MAX 900

/* A line under construction: fields are appended with CSV quoting where needed. */
typedef struct synth_line {
    char buf[SYNTH_LINE_MAX];
    size_t len;
    bool overflow;
} synth_line;

void line_reset(synth_line *l);
/* Append a separator (unless first) and the field, quoted if it holds a comma, quote,
 * CR/LF, or leading/trailing blank (so whitespace errors survive strict parsers). */
void line_field(synth_line *l, const char *s);
void line_fieldf(synth_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct synth_slot {
    uint64_t person_id, household_id;
    char errs[40];
    synth_line line; /* every column after the record reference */
} synth_slot;

/* One agency extract. Rows are held in a fixed window and emitted in a seeded random
 * order so file order does not reveal households; the record reference is assigned at
 * emission, so references increase down the file. */
typedef struct synth_writer {
    const char *file;       /* e.g. "police.csv" */
    const char *ref_prefix; /* record reference: prefix + zero-padded row number */
    int ref_width;
    bool crlf;
    FILE *f;
    FILE *truth_rows; /* truth/rows.csv */
    synth_slot *slots;
    uint32_t cap, used;
    synth_rng shuffle;
    uint64_t next_ref;
    uint64_t rows;
    bool overflow; /* a row did not fit SYNTH_LINE_MAX (a bug, reported) */
} synth_writer;

/* Returns a slot to fill, emitting a random held row first when the window is full. */
synth_slot *writer_slot(synth_writer *w);
/* Emit every held row (random order). */
void writer_drain(synth_writer *w);

#endif
