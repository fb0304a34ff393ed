/*
 * Private: what the linkage engine's stages share (link.c builds the set and runs the
 * stages in order: link_exact.c, link_fuzzy.c, link_households.c, link_families.c).
 * Method in docs/linkage.md.
 */
#ifndef XCHG_LINK_INTERNAL_H
#define XCHG_LINK_INTERNAL_H

#include "exchange/link.h"

#include <stddef.h>
#include <stdint.h>

#define MAX_STRONG 8
#define MAX_DOM 8

/* a token, by its first 16 bytes, with its record and key index */
typedef struct {
    uint64_t h0, h1;
    uint32_t rec;
    uint8_t idx;
} tok_t;

/* a strong identifier's (or dominating key's) value, or none */
typedef struct {
    uint64_t h0, h1;
    uint8_t set;
} sval_t;

/* an indicator event: a problem asserted, or a measure's event (docs/programme.md) */
typedef struct {
    uint8_t problem; /* when !is_measure */
    uint8_t is_measure, measure;
    int32_t start, end;
    double value, of;
} ev_t;

struct xchg_linkset {
    const xchg_policy *pol;
    const xchg_policy_data *p;
    size_t n, cap;
    uint64_t *ids;
    uint16_t *agency;
    uint8_t *age;     /* per record: age on its period end, or XCHG_AGE_UNKNOWN */
    uint32_t *ev_off; /* n+1 offsets into ev */
    ev_t *ev;
    size_t nev, evcap;
    tok_t *mt, *bt, *ht; /* match, block, household tokens */
    size_t nmt, nbt, nht, mtcap, btcap, htcap;
    uint8_t *clk; /* n * clk_bytes */
    uint16_t *pop;
    size_t clk_bytes;
    uint8_t *has_clk;
    /* per-record tokens of keys that dominate another key (for the twin rule) */
    int dom_slot[XCHG_RECORD_MAX_TOKENS]; /* key -> slot, or -1 */
    size_t ndomslots;
    sval_t *domtok; /* n * ndomslots */
    int strong_slot[XCHG_RECORD_MAX_TOKENS]; /* key -> strong slot or -1 */
    size_t nstrong;
    sval_t *strongtok; /* n * nstrong: each record's own strong values */
    /* person-level evidence per agency (docs/linkage.md): one record per person; the
     * agency's own person identifier (token index nmatch_keys) */
    uint8_t *ag_orpp, *ag_pid; /* per party */
    uint64_t orpp_bits, cons_bits; /* agency bits (party % 64) with a constraint */
    int exact_bits;                /* parties <= 64: an agency bit names one agency */
    sval_t *pid;                   /* per record, when some agency declares person_id */
};

static inline uint64_t xchg__ag_bit(size_t agency) { return 1ull << (agency & 63); }

/* ---- union-find with strong values at the roots (link_uf.c) ---------------------------- */

struct uf {
    uint32_t *parent;
    uint32_t *size;
    sval_t *sv; /* roots: nstrong values */
    uint8_t *fuzzy; /* roots: the cluster has a fuzzy link */
    size_t nstrong;
    /* persons only (NULL for households): person-level evidence */
    const xchg_linkset *ls;
    uint32_t *next;   /* circular list of each cluster's records */
    uint64_t *agm;    /* roots: agency bits of the cluster's records */
    uint8_t *cl;      /* roots: the cluster holds a record of a forced "different" pair */
    const uint32_t (*apart)[2]; /* forced "different people" record pairs */
    size_t napart;
};

static inline uint32_t xchg__uf_find(struct uf *u, uint32_t x)
{
    while (u->parent[x] != x) {
        u->parent[x] = u->parent[u->parent[x]];
        x = u->parent[x];
    }
    return x;
}

/* roots a, b hold different values of a strong identifier: the slot, or -1 */
int xchg__uf_strong_conflict(const struct uf *u, uint32_t a, uint32_t b);
/* would one person made of clusters a and b (roots) hold records known to differ? */
int xchg__uf_person_conflict(struct uf *u, uint32_t a, uint32_t b);
/* merge roots a != b */
void xchg__uf_merge_roots(struct uf *u, uint32_t a, uint32_t b);
/* 1 merged, 0 already together, -1 refused (strong conflict: *slot set), -2 refused
 * (person-level evidence: docs/linkage.md) */
int xchg__uf_unite(struct uf *u, uint32_t a, uint32_t b, int *slot);

/* ---- helpers (link.c) ------------------------------------------------------------------- */

/* grow *p (elements of elem bytes) to hold need: 0, or -1 on no memory */
int xchg__link_grow(void **p, size_t *cap, size_t need, size_t elem);
/* qsort, but no call for an empty (possibly NULL) array: qsort(NULL, 0, ...) is undefined */
void xchg__link_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* tokens by key index, value, record */
int xchg__link_cmp_tok(const void *x, const void *y);
/* do two keys cover the same set of fields (whatever their transforms)? */
int xchg__link_same_fields(const xchg_match_key *a, const xchg_match_key *b);

struct pairs {
    xchg_link_pair *v;
    size_t n, cap;
};

/* append the pair (a, b) as (smaller, larger): 0, or -1 on no memory */
int xchg__link_push_pair(struct pairs *p, uint32_t a, uint32_t b, float score, int16_t key);

/* ---- the stages, in the order xchg_link_run_ex runs them -------------------------------- */

/* 1. Exact keys, strongest first (link_exact.c): sorts ls's match tokens; refused merges
 * go to conflicts. */
xchg_err xchg__link_exact(xchg_linkset *ls, struct uf *u, xchg_link_result *res,
                          struct pairs *conflicts);

/* 2. Fuzzy (link_fuzzy.c): Dice on CLKs within blocks, scored on `threads` workers, then
 * the cluster-level greedy solver; what is still unresolved goes to review. */
xchg_err xchg__link_fuzzy(xchg_linkset *ls, unsigned threads, struct uf *u,
                          xchg_link_result *res, struct pairs *review);

/* 3a. Persons (link_families.c): number u's clusters into res->person and give each its
 * pseudonym; *pkeys (per person: the smallest key index and token of its records, the
 * pseudonym's source) is for the families. Needs the match tokens sorted (stage 1). */
xchg_err xchg__link_persons(const xchg_linkset *ls, struct uf *u, const uint8_t pkey[32],
                            xchg_link_result *res, uint64_t (**pkeys)[3]);

/* 3b. Households (link_households.c): persons sharing a household token; res->household
 * per record, *hnum per person (the household number). */
xchg_err xchg__link_households(const xchg_linkset *ls, xchg_link_result *res, uint32_t **hnum);

/* 4. Families and the rule (link_families.c): one family per household, its problems in
 * the evidence window ending on run_date, eligibility, pseudonym, review and conflict
 * counts. */
/* One family's members and measure events, for the programme's criteria (programme.h):
 * households' records in CSR form, and buffers reused from family to family. */
struct xchg_prog_family;
typedef struct xchg__famview {
    uint32_t *off, *rec;  /* household h: rec[off[h] .. off[h+1]) */
    uint32_t *member;     /* per record: member number within its family (scratch) */
    uint32_t *persons;    /* the family's persons, by member number */
    uint8_t *age;         /* per member */
    struct xchg_prog_ev *ev;
    size_t evcap, pcap;
} xchg__famview;

xchg_err xchg__famview_init(xchg__famview *v, const xchg_linkset *ls, const xchg_link_result *res);
void xchg__famview_free(xchg__famview *v);
/* Fill f with household h's members (ages: the oldest record's) and measure events. */
xchg_err xchg__famview_get(xchg__famview *v, const xchg_linkset *ls, const xchg_link_result *res,
                           uint32_t h, struct xchg_prog_family *f);

xchg_err xchg__link_families(const xchg_linkset *ls, struct uf *u, int32_t run_date,
                             const uint8_t pkey[32], const uint64_t (*pkeys)[3],
                             const uint32_t *hnum, const struct pairs *review,
                             const struct pairs *conflicts, xchg_link_result *res);

#endif
