/*
 * Token derivation (token.h): everything that decides a sealed record's token bytes —
 * the subkeys under the linkage secret, the strings each key part contributes, and the
 * HMAC over them. See docs/formats.md ("Tokens").
 */
#include "token.h"
#include "exchange/date.h"
#include "exchange/normalise.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define KEY_BYTES XCHG__TOKEN_KEY_BYTES

xchg_err xchg__token_keys_derive(xchg__token_keys *k, const xchg_policy_data *p,
                                 const xchg_extract *x, size_t agency, const xchg_secret *sec)
{
    size_t n = p->nmatch_keys + p->fuzzy.nblocking + p->nhousehold_keys + p->nhousehold_relations +
               p->nhousehold_fallback + 1;
    uint8_t(*all)[KEY_BYTES] = sodium_malloc(n * KEY_BYTES);
    if (!all)
        return XCHG_ERR_NOMEM;
    k->match = all;
    k->block = all + p->nmatch_keys;
    k->house = k->block + p->fuzzy.nblocking;
    k->rel = k->house + p->nhousehold_keys;
    k->fb = k->rel + p->nhousehold_relations;
    k->pid = k->fb + p->nhousehold_fallback;
    char purpose[200];
    xchg_err e = XCHG_OK;
    k->oprf = NULL;
    k->agreement_id = p->id;
    /* OPRF mode keys its match tokens apart from secret mode's: the two never collide */
    const char *mk = p->tokens.mode == XCHG_TOKENS_OPRF ? "oprf-match" : "match";
    for (size_t i = 0; i < p->nmatch_keys && e == XCHG_OK; i++) {
        snprintf(purpose, sizeof purpose, "%s/%s", mk, p->match_keys[i].name);
        e = xchg_secret_derive(sec, purpose, k->match[i], KEY_BYTES);
    }
    for (size_t i = 0; i < p->fuzzy.nblocking && e == XCHG_OK; i++) {
        snprintf(purpose, sizeof purpose, "block/%zu", i);
        e = xchg_secret_derive(sec, purpose, k->block[i], KEY_BYTES);
    }
    for (size_t i = 0; i < p->nhousehold_keys && e == XCHG_OK; i++) {
        snprintf(purpose, sizeof purpose, "household/%zu", i);
        e = xchg_secret_derive(sec, purpose, k->house[i], KEY_BYTES);
    }
    for (size_t i = 0; i < p->nhousehold_fallback && e == XCHG_OK; i++) {
        snprintf(purpose, sizeof purpose, "household-fallback/%zu", i);
        e = xchg_secret_derive(sec, purpose, k->fb[i], KEY_BYTES);
    }
    /* declared relationships are agency-local references: keyed per agency */
    for (size_t i = 0; i < p->nhousehold_relations && e == XCHG_OK; i++) {
        snprintf(purpose, sizeof purpose, "relation/%s/%s", p->parties[agency].id,
                 p->fields[p->household_relations[i]].name);
        e = xchg_secret_derive(sec, purpose, k->rel[i], KEY_BYTES);
    }
    /* so is the agency's own person identifier */
    if (e == XCHG_OK && x->person_id != XCHG_NONE) {
        snprintf(purpose, sizeof purpose, "person-id/%s/%s", p->parties[agency].id,
                 p->fields[x->person_id].name);
        e = xchg_secret_derive(sec, purpose, k->pid[0], KEY_BYTES);
    }
    return e;
}

void xchg__token_keys_free(xchg__token_keys *k)
{
    sodium_free(k->match);
    memset(k, 0, sizeof *k);
}

/* The string one key part contributes, or 0 when this row cannot supply it. */
static int part_value(const xchg__val *vals, const xchg_key_part *kp, char *out, size_t cap)
{
    const xchg__val *v = &vals[kp->field];
    if (!v->present)
        return 0;
    char first[XCHG__VAL_MAX];
    switch (kp->transform) {
    case XCHG_TR_NONE:
        snprintf(out, cap, "%s", v->canon);
        return 1;
    case XCHG_TR_INITIAL:
    case XCHG_TR_FIRST:
        return xchg_norm_first_token(v->canon, kp->transform == XCHG_TR_INITIAL, out, cap) ==
                   XCHG_OK &&
               out[0];
    case XCHG_TR_NICKNAME:
        return xchg_norm_first_token(v->canon, 0, first, sizeof first) == XCHG_OK && first[0] &&
               xchg_norm_nickname(first, 0, out, cap) == XCHG_OK;
    case XCHG_TR_PHONETIC: {
        char sx[5];
        if (xchg_norm_soundex(v->canon, sx) != XCHG_OK)
            return 0;
        snprintf(out, cap, "%s", sx);
        return 1;
    }
    case XCHG_TR_DOUBLE_METAPHONE: {
        char dm[5];
        if (xchg_norm_double_metaphone(v->canon, dm, NULL) != XCHG_OK)
            return 0;
        snprintf(out, cap, "%s", dm);
        return 1;
    }
    case XCHG_TR_YEAR:
        snprintf(out, cap, "%.4s", v->canon);
        return 1;
    case XCHG_TR_SWAP_DM: {
        /* The unordered pair {date, date with day and month swapped}: two records whose
         * dates differ exactly by such a swap share it. No token when no swap exists. */
        int32_t sw;
        if (xchg_norm_date_swap(v->date, &sw) != XCHG_OK)
            return 0;
        char a[11], b[11];
        xchg_date_format(v->date < sw ? v->date : sw, a);
        xchg_date_format(v->date < sw ? sw : v->date, b);
        snprintf(out, cap, "%s|%s", a, b);
        return 1;
    }
    case XCHG_TR_OUTWARD:
        snprintf(out, cap, "%s", v->pc.outward);
        return 1;
    case XCHG_TR_SECTOR:
        snprintf(out, cap, "%s", v->pc.sector);
        return 1;
    }
    return 0;
}

/* The string part i of key k contributes: part_value, except that the two parts of an
 * any_order pair give the lesser and the greater of their two values, in that order. */
static int key_part_value(const xchg__val *vals, const xchg_match_key *k, size_t i, char *out,
                          size_t cap)
{
    if (!k->any_order || (i != k->any_order_parts[0] && i != k->any_order_parts[1]))
        return part_value(vals, &k->parts[i], out, cap);
    char a[XCHG__VAL_MAX * 2], b[XCHG__VAL_MAX * 2];
    int ok = part_value(vals, &k->parts[k->any_order_parts[0]], a, sizeof a) &&
             part_value(vals, &k->parts[k->any_order_parts[1]], b, sizeof b);
    if (ok) {
        int lesser_first = strcmp(a, b) <= 0;
        int want_lesser = i == k->any_order_parts[0];
        snprintf(out, cap, "%s", want_lesser == lesser_first ? a : b);
    }
    sodium_memzero(a, sizeof a);
    sodium_memzero(b, sizeof b);
    return ok;
}

/* HMAC-SHA256 over the key's parts, each as u16le length + bytes. 0 if a part is missing. */
static int make_token(const xchg__val *vals, const xchg_match_key *k, const uint8_t key[KEY_BYTES],
                      uint8_t out[XCHG_TOKEN_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, KEY_BYTES);
    for (size_t i = 0; i < k->nparts; i++) {
        char v[XCHG__VAL_MAX * 2];
        if (!key_part_value(vals, k, i, v, sizeof v)) {
            sodium_memzero(&st, sizeof st);
            return 0;
        }
        size_t n = strlen(v);
        uint8_t len[2] = {(uint8_t)(n & 0xff), (uint8_t)(n >> 8)};
        crypto_auth_hmacsha256_update(&st, len, 2);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)v, n);
        sodium_memzero(v, sizeof v);
    }
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
    return 1;
}

/*
 * The OPRF input of match key k for this row (docs/formats.md, "OPRF tokens"):
 *   "xchg-token v1" ‖ u16be len ‖ agreement id ‖ parts
 * where parts are as make_token's HMAC message (u16le length + bytes each). The key's
 * name is not in it: two keys whose parts give the same strings (a forename that is its
 * own nickname) share one evaluation, and the per-key subkey of the final HMAC keeps
 * their tokens apart. 0 when a part is missing or the input would exceed
 * XCHG_OPRF_MAX_INPUT.
 */
static size_t oprf_input(const xchg__val *vals, const char *agreement, const xchg_match_key *k,
                         uint8_t *out)
{
    static const char label[] = "xchg-token v1";
    size_t n = sizeof label - 1, cap = XCHG_OPRF_MAX_INPUT, al = strlen(agreement);
    if (n + 2 + al > cap)
        return 0;
    memcpy(out, label, n);
    out[n++] = (uint8_t)(al >> 8);
    out[n++] = (uint8_t)(al & 0xff);
    memcpy(out + n, agreement, al);
    n += al;
    for (size_t i = 0; i < k->nparts; i++) {
        char v[XCHG__VAL_MAX * 2];
        if (!part_value(vals, &k->parts[i], v, sizeof v)) {
            sodium_memzero(out, n);
            return 0;
        }
        size_t l = strlen(v);
        if (n + 2 + l > cap) {
            sodium_memzero(v, sizeof v);
            sodium_memzero(out, n);
            return 0;
        }
        out[n++] = (uint8_t)(l & 0xff);
        out[n++] = (uint8_t)(l >> 8);
        memcpy(out + n, v, l);
        n += l;
        sodium_memzero(v, sizeof v);
    }
    return n;
}

xchg_err xchg__tokens_oprf_collect(const xchg__token_keys *tk, const xchg_policy_data *p,
                                   const xchg__val *vals, xchg_oprf_client *c)
{
    uint8_t in[XCHG_OPRF_MAX_INPUT];
    xchg_err e = XCHG_OK;
    for (size_t k = 0; k < p->nmatch_keys && e == XCHG_OK; k++) {
        size_t n = oprf_input(vals, tk->agreement_id, &p->match_keys[k], in);
        if (n)
            e = xchg_oprf_client_add(c, in, n);
        sodium_memzero(in, n);
    }
    return e;
}

/* OPRF mode: HMAC-SHA256(subkey, OPRF output of the key's input). 0 when the row cannot
 * form the key, or its input was not evaluated (the file changed between the passes). */
static int make_oprf_token(const xchg__token_keys *tk, const xchg__val *vals,
                           const xchg_match_key *k, const uint8_t key[KEY_BYTES],
                           uint8_t out[XCHG_TOKEN_BYTES])
{
    uint8_t in[XCHG_OPRF_MAX_INPUT], y[XCHG_OPRF_OUTPUT_BYTES];
    size_t n = oprf_input(vals, tk->agreement_id, k, in);
    int ok = n && xchg_oprf_client_get(tk->oprf, in, n, y) == XCHG_OK;
    if (ok)
        crypto_auth_hmacsha256(out, y, sizeof y, key);
    sodium_memzero(in, n);
    sodium_memzero(y, sizeof y);
    return ok;
}

void xchg__tokens_make(const xchg__token_keys *tk, const xchg_policy_data *p,
                       const xchg_extract *x, const xchg__val *vals, xchg_record *r)
{
    for (size_t k = 0; k < p->nmatch_keys; k++)
        if (tk->oprf ? make_oprf_token(tk, vals, &p->match_keys[k], tk->match[k],
                                       r->match[r->nmatch].value)
                     : make_token(vals, &p->match_keys[k], tk->match[k], r->match[r->nmatch].value))
            r->match[r->nmatch++].index = (uint8_t)k;
    if (x->person_id != XCHG_NONE && r->nmatch < XCHG_RECORD_MAX_TOKENS) {
        /* the agency's own person identifier: match token index nmatch_keys, keyed per
         * agency, so it only ever says "same" or "different" between this agency's rows */
        xchg_key_part part = {x->person_id, XCHG_TR_NONE};
        xchg_match_key one = {.name = "person_id", .parts = &part, .nparts = 1};
        if (make_token(vals, &one, tk->pid[0], r->match[r->nmatch].value))
            r->match[r->nmatch++].index = (uint8_t)p->nmatch_keys;
    }
    for (size_t k = 0; k < p->fuzzy.nblocking; k++)
        if (make_token(vals, &p->fuzzy.blocking[k], tk->block[k], r->block[r->nblock].value))
            r->block[r->nblock++].index = (uint8_t)k;
    for (size_t k = 0; k < p->nhousehold_keys; k++)
        if (make_token(vals, &p->household_keys[k], tk->house[k], r->house[r->nhouse].value))
            r->house[r->nhouse++].index = (uint8_t)k;
    for (size_t k = 0; k < p->nhousehold_relations; k++) {
        xchg_key_part part = {p->household_relations[k], XCHG_TR_NONE};
        xchg_match_key one = {.name = "relation", .parts = &part, .nparts = 1};
        if (xchg__column_of(x, part.field) &&
            make_token(vals, &one, tk->rel[k], r->house[r->nhouse].value))
            r->house[r->nhouse++].index = (uint8_t)(p->nhousehold_keys + k);
    }
    for (size_t k = 0; k < p->nhousehold_fallback && r->nhouse < XCHG_RECORD_MAX_TOKENS; k++)
        if (make_token(vals, &p->household_fallback[k], tk->fb[k], r->house[r->nhouse].value))
            r->house[r->nhouse++].index =
                (uint8_t)(p->nhousehold_keys + p->nhousehold_relations + k);
}
