/* Attacks on the encodings the matcher holds (docs/attacks.md). Pure functions over
 * arrays: bench/attack/main.c feeds them a sealed county, tests/unit/test_attack.c a small
 * fixture. Nothing here holds or needs the linkage secret. */
#ifndef XCHG_BENCH_ATTACK_H
#define XCHG_BENCH_ATTACK_H

#include <stddef.h>
#include <stdint.h>

/* A public frequency list of plaintext values (normalised as the agreement normalises). */
typedef struct att_list {
    char **v;
    double *w; /* relative frequency, any scale */
    size_t n;
    int positional; /* the field's tokens: 0 = padded bigrams (names), 1 = positional
                     * unigrams "<i> <c>" (dates) */
    int model_only; /* used to explain patterns, never re-identified (guess -1) */
} att_list;

void att_list_add(att_list *l, const char *v, double w); /* adds w to an existing value */
void att_list_add_new(att_list *l, const char *v, double w); /* v known to be new */
void att_list_free(att_list *l);
long att_list_find(const att_list *l, const char *v);

/*
 * Pattern mining (Christen et al. 2018 style) on n filters of l bits (nb bytes each, MSB
 * first): frequent bit patterns (K positions always set together in at least minsup of
 * the filters) are mined greedily from every seed bit, aligned to the q-grams (bigrams,
 * padded as clkhash pads them) of the nfields public lists by their expected frequency and
 * co-occurrence, and each filter is re-identified per field as the listed value whose
 * assigned q-grams best match the patterns it contains. guess[r * nfields + f] = index in
 * lists[f] or -1. Returns the number of patterns mined, or -1 on allocation failure.
 * For scoring only, truth(r, f, tctx) (may be NULL) gives record r's true value of field f
 * and *nqgrams the number of mined patterns that are exactly one true q-gram (Jaccard of
 * the record sets >= 0.8); the attack itself never calls it.
 */
typedef const char *(*att_truth_fn)(size_t r, size_t f, void *ctx);
long att_clk_pattern(const uint8_t *clks, size_t n, size_t l, size_t nb, const att_list *lists,
                     size_t nfields, long *guess, size_t *nassigned, att_truth_fn truth,
                     void *tctx, size_t *nqgrams);

/*
 * Frequency alignment (Kuzu et al. 2011 style) of n opaque values (nb bytes each, e.g.
 * exact tokens or whole filters) with a public distribution: distinct values sorted by
 * count are matched rank for rank with the list sorted by weight; guess[r] = list index
 * or -1 (values seen fewer than min_count times are not guessed).
 */
int att_freq_align(const uint8_t *vals, size_t n, size_t nb, const att_list *list,
                   size_t min_count, long *guess);

/*
 * The attacker's model of a key of several independent parts (a name code, a year, ...):
 * the `want` most probable joined values "p1|p2|...", each weighted by the product of its
 * parts' weights, appended to out in descending order (best-first over the parts sorted
 * by weight: each index vector is reached once, by incrementing coordinates in
 * non-decreasing order). Rank alignment guesses only as many values as there are tokens
 * seen twice, so the top `want` is all it needs of a product too large to list (names x
 * dates of birth). any_a, any_b (or -1): two parts joined lesser first, as token.c hashes
 * an any_order pair; such a pair is then reached from both orders and its weights added
 * (so out may hold slightly fewer than want values). Returns 0, or -1 on allocation
 * failure or nparts outside 1..ATT_MAXP.
 */
#define ATT_MAXP 8
int att_top_product(const att_list *parts, size_t nparts, long any_a, long any_b, size_t want,
                    att_list *out);
/* The joined value of one record's part texts, any_order pair as above. */
void att_join(const char *const *txt, size_t nparts, long any_a, long any_b, char *out,
              size_t cap);

/*
 * Measurement-only CLK transforms (docs/attacks.md, "Transforms measured outside the
 * sealer"): the candidates the brief listed that need no salt, applied to CLKs after they
 * are opened so that link_quality and xchg-attack measure them on the same filters. The
 * key is a fixed bench key: a real wiring would derive it from the linkage secret as
 * clk_harden.c derives the salted permutation's. Never used by sealing.
 *   "rule90"    Schnell & Borgs 2018: a keyed permutation, then bit i = b[i-1] XOR b[i+1]
 *               (cyclic);
 *   "diffuse-T" Armknecht, Heng & Schnell 2023: output bit j = XOR of T keyed-random
 *               distinct input bits (output length l).
 * att_xform_new returns NULL for an unknown spec; att_xform_apply rewrites f (l bits, MSB
 * first) in place.
 */
typedef struct att_xform att_xform;
att_xform *att_xform_new(const char *spec, size_t l);
void att_xform_apply(const att_xform *x, uint8_t *f);
void att_xform_free(att_xform *x);

#endif
