/*
 * exchange — linkage: persons, households and families from tokens alone.
 *
 * The matcher adds every active record (with its agency) to a link set, then runs:
 *  1. exact match keys, strongest first: records sharing a token are united, except that
 *     a merge is refused when the two clusters hold different values of a strong
 *     identifier (over-merge guard; reported as a conflict), or when a stronger key over
 *     the same fields says the two records differ (e.g. twins who share surname, date of
 *     birth, postcode and initial but not forename);
 *  2. fuzzy: pairs of records sharing a blocking token are scored by the Dice similarity
 *     of their CLKs; best first, a pair at or above the threshold merges the two records'
 *     *clusters* unless the merged person would hold two records the evidence says are
 *     different people (two records of an agency that holds one record per person, two
 *     different agency-local person ids, different strong identifiers, a reviewer's
 *     "different" decision) or, with one_to_one, unless the clusters already hold
 *     records of the same agency (clusters are matched one to one between agencies);
 *     pairs in the review band whose clusters are still apart and not known to be
 *     different people are listed for clerical review (one per cluster pair);
 *  3. households: persons sharing a household token or a declared relationship;
 *  4. the eligibility rule per family over the evidence window ending on the run date.
 * Results carry only indexes, pseudonyms, problem codes and dates — no identifier.
 */
#ifndef XCHG_LINK_H
#define XCHG_LINK_H

#include "exchange/common.h"
#include "exchange/policy.h"
#include "exchange/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xchg_linkset xchg_linkset;

/* A link set for agreement agr (borrowed; must outlive the set). */
XCHG_API xchg_err xchg_linkset_new(const xchg_agreement *agr, xchg_linkset **out);
XCHG_API void xchg_linkset_free(xchg_linkset *ls);

/*
 * Add one record (copied: tokens, CLK, indicators; not the payload). agency is the
 * sender's party index; id is the caller's identifier for the record (e.g. its row id in
 * the store), returned in results. Records are numbered 0.. in the order added.
 */
XCHG_API xchg_err xchg_linkset_add(xchg_linkset *ls, size_t agency, uint64_t id,
                                   const xchg_record *r);

XCHG_API size_t xchg_linkset_count(const xchg_linkset *ls);

typedef enum xchg_link_how {
    XCHG_LINK_NONE = 0,  /* a cluster of one record */
    XCHG_LINK_EXACT = 1, /* every link in the cluster is an exact key */
    XCHG_LINK_FUZZY = 2, /* at least one fuzzy (Dice) link */
} xchg_link_how;

/* "single", "exact", "fuzzy" (static); "single" for any other value. */
XCHG_API const char *xchg_link_how_name(xchg_link_how how);

typedef struct xchg_link_pair {
    uint32_t a, b; /* record numbers */
    float score;   /* Dice similarity, or 1 for an exact key */
    int16_t key;   /* match key index for a conflict, -1 for fuzzy */
} xchg_link_pair;

typedef struct xchg_family_problem {
    uint8_t problem;
    uint32_t agencies; /* bit i set: party i evidences it (parties < 32) */
    int32_t first, last; /* earliest start and latest end of the evidence in the window */
    uint32_t criteria;   /* bit i: the problem's identify criterion i held (docs/programme.md) */
} xchg_family_problem;

typedef struct xchg_family {
    uint32_t household;     /* household number */
    char pseudonym[XCHG_PSEUDONYM_MAX + 1]; /* stable: derived from the family's strongest tokens */
    uint32_t npersons, nrecords;
    xchg_family_problem problems[32];
    uint8_t nproblems;      /* problems evidenced in the window */
    uint8_t nrule;          /* of which count towards the rule */
    int eligible;
    xchg_link_how how;      /* weakest link inside the family */
    uint32_t nconflicts, nreview;
} xchg_family;

typedef struct xchg_link_result {
    size_t nrecords;
    uint32_t *person;     /* per record: person number */
    uint32_t *household;  /* per record: household (family) number */
    char (*person_pseudonym)[XCHG_PSEUDONYM_MAX + 1]; /* per person */
    size_t npersons, nhouseholds;
    xchg_family *families; /* per household number */
    xchg_link_pair *review;   /* pairs for clerical review */
    size_t nreview;
    xchg_link_pair *conflicts; /* refused merges */
    size_t nconflicts;
    /* counters for reports and benches */
    uint64_t exact_unions, fuzzy_links, candidate_pairs, comparisons;
    uint64_t fuzzy_refused; /* fuzzy pairs over the threshold whose strong identifiers differ */
    double seconds_exact, seconds_fuzzy, seconds_households;
    /* fuzzy pairs over the threshold refused by person-level evidence (one record per
     * person, agency-local person ids, a "different people" decision), and by one_to_one */
    uint64_t person_refused, one_to_one_refused;
    /* exact-key merges refused by person-level evidence (also listed as conflicts) */
    uint64_t exact_person_refused;
    /* decisions applied, and decisions naming a record not in the set (e.g. purged) */
    uint64_t decisions_applied, decisions_stale;
} xchg_link_result;

/* A reviewer's decision on two records, by the ids given to xchg_linkset_add. */
typedef struct xchg_link_decision {
    uint64_t a, b;
    int same; /* 1: one person (always linked); 0: different people (never linked) */
} xchg_link_decision;

typedef struct xchg_link_params {
    int32_t run_date;                /* days since 1970: ends the evidence window */
    const uint8_t *pseudonym_key;    /* 32 bytes, held by the matcher only */
    unsigned threads;                /* fuzzy scoring workers (0 = default) */
    const xchg_link_decision *decisions; /* optional, applied before any key */
    size_t ndecisions;
} xchg_link_params;

/*
 * Run linkage over the set. run_date (days since 1970) ends the evidence window.
 * pseudonym_key (32 bytes, held by the matcher only) keys the stable pseudonyms.
 * threads: worker threads for fuzzy scoring (0 = one per core).
 * *out (free with xchg_link_result_free) on success.
 */
XCHG_API xchg_err xchg_link_run(xchg_linkset *ls, int32_t run_date,
                                const uint8_t pseudonym_key[32], unsigned threads,
                                xchg_link_result **out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The same with parameters, including reviewers' decisions: a "same" pair is united
 * before the exact keys (whatever its tokens say); a "different" pair is never put into
 * one person by any stage. Decisions naming an id not in the set are counted as stale
 * and skipped; two decisions that contradict each other (a pair both same and, through
 * other same decisions, different) fail with XCHG_ERR_ARG and a message in d.
 */
XCHG_API xchg_err xchg_link_run_ex(xchg_linkset *ls, const xchg_link_params *params,
                                   xchg_link_result **out, xchg_diag *d) XCHG_MUST_CHECK;

XCHG_API void xchg_link_result_free(xchg_link_result *r);

/* Record number -> the caller's id and agency, as added. */
XCHG_API uint64_t xchg_linkset_id(const xchg_linkset *ls, size_t rec);
XCHG_API size_t xchg_linkset_agency(const xchg_linkset *ls, size_t rec);

#ifdef __cplusplus
}
#endif
#endif
