/*
 * exchange — the matcher's store: an encrypted SQLCipher database holding what sealed
 * extracts carry (tokens, CLKs, indicators, consent, encrypted payloads, the agencies'
 * opaque record references) and the results of linkage runs. Nothing in it is an
 * identifier in clear: records arrive as keyed tokens. Layout, key handling and ingest
 * semantics: docs/matcher.md.
 *
 * A store is bound to one agreement (its id, and the hash of the version in force);
 * every extract in it was sealed under one linkage-secret epoch, fixed by the first.
 */
#ifndef XCHG_STORE_H
#define XCHG_STORE_H

#include "exchange/common.h"
#include "exchange/crypto.h"
#include "exchange/keys.h"
#include "exchange/policy.h"
#include "exchange/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_STORE_SCHEMA_VERSION 8
#define XCHG_STORE_KEY_BYTES 32
#define XCHG_STORE_SALT_BYTES 16
#define XCHG_STORE_PSEUDONYM_KEY_BYTES 32

/* ---- database keys ------------------------------------------------------------ */

/*
 * A database key: either a raw 256-bit key (key file "xdbk1:<base64>") or an operator
 * passphrase whose Argon2id derivation waits for the salt the database holds in its
 * first 16 bytes. Held in guarded memory; xchg_store_key_free wipes it (accepts NULL).
 */
typedef struct xchg_store_key xchg_store_key;

/* A new random raw key. XCHG_ERR_NOMEM. */
XCHG_API xchg_err xchg_store_key_generate(xchg_store_key **out);

/*
 * Write a raw key as one line "xdbk1:<base64 of 32 bytes>\n", mode 0600, atomically;
 * an existing file is refused (XCHG_ERR_EXISTS) unless force. XCHG_ERR_ARG for a
 * passphrase key. On error no file is left.
 */
XCHG_API xchg_err xchg_store_key_save(const xchg_store_key *k, const char *path, int force,
                                      xchg_diag *d);

/* Read a key file. XCHG_ERR_NOT_FOUND / XCHG_ERR_IO / XCHG_ERR_FORMAT (bad tag or
 * length) / XCHG_ERR_VERSION (another tag version), with the file named in d. */
XCHG_API xchg_err xchg_store_key_load(const char *path, xchg_store_key **out, xchg_diag *d)
    XCHG_MUST_CHECK;

/*
 * A passphrase key (pass is copied into guarded memory). limits: Argon2id cost, NULL for
 * xchg_kdf_default() (what the CLI always uses); the same limits must be given at every
 * open. XCHG_ERR_ARG for an empty passphrase.
 */
XCHG_API xchg_err xchg_store_key_from_passphrase(const char *pass, size_t len,
                                                 const xchg_kdf_limits *limits,
                                                 xchg_store_key **out);

XCHG_API void xchg_store_key_free(xchg_store_key *k);

/* ---- opening ------------------------------------------------------------------ */

typedef struct xchg_store xchg_store;

/* Accept an agreement with the store's id but another hash (a new version); recorded. */
#define XCHG_STORE_ACCEPT_NEW_VERSION 1u

/*
 * Create a new store at path bound to agreement agr (id and hash), with a fresh random
 * pseudonym key. XCHG_ERR_EXISTS if path exists. On error nothing is left at path.
 */
XCHG_API xchg_err xchg_store_create(const char *path, const xchg_store_key *k,
                                    const xchg_agreement *agr, xchg_store **out,
                                    xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Open an existing store: key it, check the key ("wrong database key":
 * XCHG_ERR_PASSPHRASE), apply pending schema migrations in one transaction, and, when p
 * is not NULL, check the binding: another agreement id is XCHG_ERR_DENIED; the same id
 * with another hash is XCHG_ERR_DENIED unless flags has XCHG_STORE_ACCEPT_NEW_VERSION,
 * in which case the new version is recorded and becomes the store's. p NULL opens for
 * the read-only views. A store whose schema is newer than this library is
 * XCHG_ERR_VERSION.
 */
XCHG_API xchg_err xchg_store_open(const char *path, const xchg_store_key *k,
                                  const xchg_agreement *agr, unsigned flags, xchg_store **out,
                                  xchg_diag *d) XCHG_MUST_CHECK;

/* Close; wipes the pseudonym key. Accepts NULL. */
XCHG_API void xchg_store_free(xchg_store *s);

typedef struct xchg_store_info {
    int schema_version;
    char agreement_id[XCHG_AGREEMENT_ID_MAX + 1];
    char agreement_hash[2 * XCHG_SHA256_BYTES + 1]; /* hex of the version the store now follows */
    unsigned agreement_versions; /* versions accepted so far (1 + upgrades) */
    uint32_t epoch;              /* 0 until the first extract is ingested */
    char secret_fingerprint[33];
    uint64_t extracts, extracts_active, records, records_active, tokens, indicators, runs;
    int64_t last_run; /* id of the latest run, 0 when none */
} xchg_store_info;

XCHG_API xchg_err xchg_store_get_info(xchg_store *s, xchg_store_info *out, xchg_diag *d);

/*
 * A number that changes whenever another connection (another process: the CLI, a second
 * operator's console) has committed a change to the store since this handle last looked
 * (SQLite's data_version); this handle's own commits do not change it. -1 on error. For
 * a view that keeps what it read (the operator console) to know when to read again.
 */
XCHG_API int64_t xchg_store_changes_seen(xchg_store *s);

/* The store's 32-byte pseudonym key (inside the encrypted database), for xchg_link_run.
 * Valid as long as s. */
XCHG_API const uint8_t *xchg_store_pseudonym_key(const xchg_store *s);

/* ---- ingest ------------------------------------------------------------------- */

typedef struct xchg_ingest_stats {
    int already;     /* 1: this extract id is already in the store; nothing changed */
    int superseded;  /* 1: a newer extract of the same agency and period is already stored,
                        so this one was stored superseded (kept for audit, not linked) */
    char supersedes[33]; /* hex id of the older extract this one superseded, or "" */
    char extract_id[33];
    char agency[XCHG_PARTY_ID_MAX + 1];
    uint32_t epoch;
    uint64_t records, tokens, indicators;
    double seconds;
} xchg_ingest_stats;

/*
 * Ingest the sealed extract at path, read with the matcher's key through
 * xchg_extract_open (every check of extract.h; the store's epoch once fixed). p must be
 * the agreement version the store follows (XCHG_ERR_DENIED otherwise). The first extract
 * fixes the store's epoch and secret fingerprint; a later extract under another is
 * XCHG_ERR_DENIED. All records go in one transaction, committed only after
 * xchg_extract_finish succeeded: on any error nothing in the store changes. An extract
 * id already stored returns XCHG_OK with st->already set. A newer extract (later
 * `created`) of the same agency and period supersedes the older one, which is kept
 * with superseded_by set. st may be NULL.
 */
XCHG_API xchg_err xchg_store_ingest(xchg_store *s, const xchg_agreement *agr,
                                    const xchg_seckey *matcher, const char *path,
                                    xchg_ingest_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/* ---- loading for linkage and saving results ------------------------------------- */

/*
 * Call fn(ctx, agency, id, record) for every record of every active (not superseded)
 * extract, in record id order. agency is the sender's party index in agr (resolved by its
 * id), id the record's row id. *r is valid during the call only; r->payload is NULL (the
 * linkage does not need it). fn returning anything but XCHG_OK stops the walk and that
 * error is returned. *count (may be NULL) = records passed to fn with success. Reads one
 * consistent snapshot; changes nothing.
 */
typedef xchg_err (*xchg_store_record_fn)(void *ctx, size_t agency, uint64_t id,
                                         const xchg_record *r);
XCHG_API xchg_err xchg_store_each_record(xchg_store *s, const xchg_agreement *agr,
                                         xchg_store_record_fn fn, void *ctx, uint64_t *count,
                                         xchg_diag *d);

struct xchg_linkset;
struct xchg_link_result;

/*
 * Add every active record to the link set (xchg_linkset_add(ls, agency, row id, r)).
 */
XCHG_API xchg_err xchg_store_load(xchg_store *s, const xchg_agreement *agr, struct xchg_linkset *ls,
                                  uint64_t *count, xchg_diag *d);

typedef struct xchg_run_params {
    int32_t run_date;   /* days since 1970: the end of the evidence window */
    unsigned threads;
    int64_t started;    /* Unix time the run began */
    const char *params_json; /* extra parameters to record, or NULL */
} xchg_run_params;

/*
 * Persist a link result in one transaction as a new run; *run_id its id. ids[i] is the
 * store row id of record number i (as visited by xchg_store_each_record). p names the
 * problems and agencies in the stored families. Nothing is written on error.
 */
XCHG_API xchg_err xchg_store_save_result(xchg_store *s, const xchg_agreement *agr,
                                         const struct xchg_link_result *res, const uint64_t *ids,
                                         const xchg_run_params *rp, int64_t *run_id,
                                         xchg_diag *d) XCHG_MUST_CHECK;

/* xchg_store_save_result with ids from the link set. */
XCHG_API xchg_err xchg_store_save_run(xchg_store *s, const xchg_agreement *agr,
                                      const struct xchg_linkset *ls,
                                      const struct xchg_link_result *res, const xchg_run_params *rp,
                                      int64_t *run_id, xchg_diag *d) XCHG_MUST_CHECK;

/* ---- operator views (pseudonymous: the store has no names to show) -------------- */

#define XCHG_STORE_PROBLEM_AGENCIES 8 /* agencies listed per problem (more are counted) */

typedef struct xchg_store_problem {
    char code[64];
    unsigned nagencies; /* agencies evidencing it (only the first XCHG_STORE_PROBLEM_AGENCIES
                           are named) */
    char agencies[XCHG_STORE_PROBLEM_AGENCIES][XCHG_PARTY_ID_MAX + 1]; /* party ids */
    int32_t first, last;
    int counts;         /* counts towards the eligibility rule */
    char criteria[256]; /* the criteria ids that identified it, ';'-joined ("" for legacy) */
} xchg_store_problem;

typedef struct xchg_store_family {
    int64_t run;
    char pseudonym[XCHG_PSEUDONYM_MAX + 1];
    uint32_t household;
    uint32_t npersons, nrecords, nconflicts, nreview;
    int eligible;
    int how; /* xchg_link_how: 0 single record, 1 exact links only, 2 some fuzzy link */
    unsigned nrule;
    size_t nproblems;
    xchg_store_problem problems[32];
} xchg_store_family;

#define XCHG_STORE_ALL 1u /* every family, not only the eligible ones */

/*
 * The families of run (0: the latest), eligible ones only unless flags has
 * XCHG_STORE_ALL, ordered by problems then pseudonym; fn is called for each (a
 * non-zero return stops). XCHG_ERR_NOT_FOUND when there is no such run.
 */
typedef int (*xchg_store_family_fn)(void *ctx, const xchg_store_family *f);
XCHG_API xchg_err xchg_store_families(xchg_store *s, int64_t run, unsigned flags,
                                      xchg_store_family_fn fn, void *ctx, xchg_diag *d);

#define XCHG_STORE_MEMBER_AGENCIES 16 /* agencies listed per member (more are counted) */

/* One member person of a family. */
typedef struct xchg_store_member {
    char pseudonym[XCHG_PSEUDONYM_MAX + 1];
    unsigned nagencies; /* agencies holding records of this person (only the first
                           XCHG_STORE_MEMBER_AGENCIES are named) */
    char agencies[XCHG_STORE_MEMBER_AGENCIES][XCHG_PARTY_ID_MAX + 1]; /* party ids, sorted */
    uint32_t nrecords;
} xchg_store_member;

/* A review pair or conflict touching a family. */
typedef struct xchg_store_pair {
    int conflict;  /* 1 conflict (refused merge), 0 clerical-review pair */
    char agency_a[XCHG_PARTY_ID_MAX + 1], agency_b[XCHG_PARTY_ID_MAX + 1];
    char ref_a[XCHG_RECORD_MAX_REF + 1], ref_b[XCHG_RECORD_MAX_REF + 1];
    char person_a[XCHG_PSEUDONYM_MAX + 1], person_b[XCHG_PSEUDONYM_MAX + 1];
    double score;
    int key; /* match key index for a conflict, -1 otherwise */
    /* the evidence an operator reviews the pair on, all of it what the matcher holds
     * anyway: per token kind (XCHG_PAIR_MATCH: the agreement's match keys,
     * XCHG_PAIR_BLOCKING: its fuzzy blocking keys, XCHG_PAIR_HOUSEHOLD: its household
     * keys), bit i set in same[kind] when both records hold key i and a token of it is
     * equal, in differ[kind] when both hold it and none is (keys from index 32 on are not
     * shown); and each record's age in years (XCHG_AGE_UNKNOWN) and coarse area */
    uint32_t same[3], differ[3];
    int age_a, age_b;
    char area_a[XCHG_RECORD_MAX_AREA + 1], area_b[XCHG_RECORD_MAX_AREA + 1];
} xchg_store_pair;

enum { XCHG_PAIR_MATCH = 0, XCHG_PAIR_BLOCKING = 1, XCHG_PAIR_HOUSEHOLD = 2 };

/*
 * The family with this pseudonym in run (0: latest): *fam, then member(ctx, m) for each
 * person and pair(ctx, pr) for each review pair or conflict touching it (either
 * callback may be NULL). XCHG_ERR_NOT_FOUND when no such family.
 */
XCHG_API xchg_err xchg_store_family_show(xchg_store *s, int64_t run, const char *pseudonym,
                                         xchg_store_family *fam,
                                         int (*member)(void *, const xchg_store_member *),
                                         int (*pair)(void *, const xchg_store_pair *),
                                         void *ctx, xchg_diag *d);

/* One linkage row: which person and family the matcher put a record in. */
typedef struct xchg_store_link {
    const char *agency;
    const char *ref;
    const char *person;
    const char *family;
} xchg_store_link;

/* Every record of run (0: latest) with its person and family pseudonyms, by agency and
 * reference. XCHG_ERR_NOT_FOUND when no run. */
XCHG_API xchg_err xchg_store_links(xchg_store *s, int64_t run,
                                   int (*fn)(void *, const xchg_store_link *), void *ctx,
                                   xchg_diag *d);

/* ---- dump ------------------------------------------------------------------- */

/*
 * Call fn for every non-NULL cell of every table (text cells with is_text = 1, numbers
 * as their text, blobs raw), so an auditor can see everything the store holds — and a
 * test can prove no personal data is among it. A non-zero return of fn stops.
 */
typedef int (*xchg_store_cell_fn)(void *ctx, const char *table, const char *column,
                                  const void *data, size_t len, int is_text);
XCHG_API xchg_err xchg_store_dump(xchg_store *s, xchg_store_cell_fn fn, void *ctx, xchg_diag *d);

/* ---- retention ----------------------------------------------------------------- */

#define XCHG_PURGE_MAX_LISTED 1024

typedef struct xchg_purge_stats {
    int purged;      /* 1 when something was deleted (0 for a dry run or nothing due) */
    size_t nextracts;
    char extract_ids[XCHG_PURGE_MAX_LISTED][33];
    char agencies[XCHG_PURGE_MAX_LISTED][XCHG_PARTY_ID_MAX + 1];
    uint64_t records;
    uint64_t runs; /* runs whose family summaries, persons and pairs were deleted */
} xchg_purge_stats;

/*
 * Delete every record (tokens, indicators, consent, payload, run memberships) of the
 * extracts received before cutoff (Unix time), and the run-level summaries (families and
 * their problems, persons, review pairs, conflicts) of every run begun before the cutoff
 * or built on a deleted record, in one transaction with secure_delete on;
 * each extract's row stays as the record of what was held, marked purged, its header
 * cleared. With dry_run only lists what is due. *st lists the extracts (up to
 * XCHG_PURGE_MAX_LISTED) and the record count.
 */
XCHG_API xchg_err xchg_store_purge(xchg_store *s, int64_t cutoff, int dry_run,
                                   xchg_purge_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/* ---- status of one extract (store_status.c) --------------------------------------- */

typedef struct xchg_store_extract_status {
    char agency[XCHG_PARTY_ID_MAX + 1];
    uint64_t records;
    int64_t ingested_at; /* Unix time */
    int superseded;      /* 1: a newer extract of the same agency and period replaced it */
} xchg_store_extract_status;

/*
 * Look up the extract whose id is the 32-character hex text id_hex. XCHG_ERR_NOT_FOUND
 * when the store has no such extract, XCHG_ERR_FORMAT when id_hex is not an extract id;
 * *out is filled only on success. Reads; changes nothing.
 */
XCHG_API xchg_err xchg_store_find_extract(xchg_store *s, const char *id_hex,
                                            xchg_store_extract_status *out, xchg_diag *d)
    XCHG_MUST_CHECK;

/* ---- programme: a family's state across runs and its outcomes (docs/programme.md) ---- */

/* One baseline problem's outcome for a family in a run. */
typedef struct xchg_store_outcome {
    char family[XCHG_PSEUDONYM_MAX + 1];
    int64_t run, first_run; /* this run; the run that first identified the family */
    int32_t identified;     /* the date it was first identified */
    int32_t judged;         /* the run's date */
    char problem[65];
    int status;             /* xchg_outcome_status */
    double baseline, latest; /* the outcome's first measure, baseline and latest (NAN: none) */
    int32_t since;          /* met: the first run date of the unbroken series; else NONE */
    char criteria[256];     /* outcome criteria met, ';'-joined */
    int change;             /* the family in this run: 0 new, 1 members changed, 2 unchanged */
} xchg_store_outcome;

/* The outcomes of run (0: latest), by family then problem; fn's non-zero return stops.
 * XCHG_ERR_NOT_FOUND when there is no such run. */
XCHG_API xchg_err xchg_store_outcomes(xchg_store *s, int64_t run,
                                      int (*fn)(void *ctx, const xchg_store_outcome *o),
                                      void *ctx, xchg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
