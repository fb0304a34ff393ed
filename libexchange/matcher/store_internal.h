/*
 * Private: the typed calls the matcher service and the release module make on the store.
 * Not installed. Only store*.c touch SQL; everything else goes through these.
 */
#ifndef XCHG_STORE_INTERNAL_H
#define XCHG_STORE_INTERNAL_H

#include "exchange/release.h"
#include "exchange/store.h"

#include <sqlcipher/sqlite3.h>

/* Only for the store's own files (store.c, store_*.c). */
sqlite3 *xchg__store_db(xchg_store *s);
/* "database: WHAT: <sqlite's message>" naming the store, XCHG_ERR_IO: every store file's
 * error, so they all read alike */
xchg_err xchg__store_fail(xchg_store *s, xchg_diag *d, const char *what);
/* a text column into a buffer ("" for NULL) */
void xchg__store_text(char *out, size_t n, sqlite3_stmt *q, int col);
const char *xchg__store_path(const xchg_store *s);

/* Ingest with a hook called inside the transaction, just before COMMIT, once the whole
 * extract verified (a hook error rolls everything back). */
typedef xchg_err (*xchg__ingest_hook)(void *ctx, const xchg_ingest_stats *st, xchg_diag *d);
xchg_err xchg__store_ingest(xchg_store *s, const xchg_agreement *agr, const xchg_seckey *matcher,
                            const char *path, xchg_ingest_stats *st, xchg__ingest_hook hook,
                            void *hook_ctx, xchg_diag *d);

/* Transactions spanning several calls (the matcher service: row + audit entry). */
xchg_err xchg__store_begin(xchg_store *s, xchg_diag *d);
xchg_err xchg__store_commit(xchg_store *s, xchg_diag *d);
void xchg__store_rollback(xchg_store *s);

/* The latest run's id (0 when none) and the evidence date a run ended on. */
int64_t xchg__store_latest_run(xchg_store *s);
int32_t xchg__store_run_date(xchg_store *s, int64_t run);

/* Family `family` in run: 1 found (*eligible set), 0 not found, -1 database error. */
int xchg__store_family_in_run(xchg_store *s, int64_t run, const char *family, int *eligible);

/* One stored decision row: an operator's signed statement for one recipient. */
typedef struct xchg__decision {
    char decision_id[XCHG_RELEASE_ID_HEXLEN + 1];
    char family[XCHG_PSEUDONYM_MAX + 1];
    int64_t run;
    char recipient[XCHG_PARTY_ID_MAX + 1]; /* "" for a row made before statements v2 */
    char operator_kid[XCHG_KEYID_HEXLEN + 1];
    char party[XCHG_PARTY_ID_MAX + 1];
    int approve;
    char reason[XCHG_RELEASE_REASON_MAX + 1];
    int64_t time;
    uint8_t signature[64];
    size_t siglen;
    char members[65]; /* hex of the members digest the statement binds */
} xchg__decision;

xchg_err xchg__store_decision_put(xchg_store *s, const xchg__decision *r, xchg_diag *d);
/* 1 when a row with this decision id exists, 0 not, -1 error */
int xchg__store_decision_exists(xchg_store *s, const char *decision_id);
/* rows for family[, recipient] in runs up to run, by run then in the order they were stored
 * (an unchanged family's approvals carry over: release.c decides which count) */
xchg_err xchg__store_decisions(xchg_store *s, const char *family, int64_t run,
                               const char *recipient,
                               int (*fn)(void *ctx, const xchg__decision *r), void *ctx,
                               xchg_diag *d);
/* 1 when any decision names this family, 0 not */
int xchg__store_family_has_decisions(xchg_store *s, const char *family);

xchg_err xchg__store_release_put(xchg_store *s, const char *packet_id, const char *family,
                                 int64_t run, const char *recipient, int64_t time,
                                 unsigned released, unsigned withheld, xchg_diag *d);
int xchg__store_release_exists(xchg_store *s, const char *packet_id);
unsigned xchg__store_release_count(xchg_store *s, const char *family);

/* Families of run that are eligible or have a decision, by pseudonym. */
xchg_err xchg__store_release_candidates(xchg_store *s, int64_t run,
                                        int (*fn)(void *ctx, const char *family), void *ctx,
                                        xchg_diag *d);

typedef struct xchg__indicator {
    unsigned problem; /* a problem event; UINT32_MAX for a measure event */
    char measure[65]; /* a measure event: the measure's name */
    int32_t start, end;
} xchg__indicator;

/* A family member's record as a release sees it: the NEWEST version the matcher holds of
 * the agency's record (the run may have linked an older one), so the latest consent
 * state governs. current = 0 when the agency's live extracts no longer hold it. */
typedef struct xchg__family_record {
    const char *agency, *ref, *person; /* person: the run's internal person pseudonym */
    int current;
    int consent;
    int32_t consent_date;
    const char *basis;
    uint8_t extract_id[XCHG_EXTRACT_ID_BYTES];
    const uint8_t *payload;
    size_t payload_len;
    const char *sealed_key; /* the recipient's sealed data key (for key_id), or NULL */
    const xchg__indicator *ind;
    size_t nind;
} xchg__family_record;

/* Every record of the family in run, ordered by person, agency, reference. */
xchg_err xchg__store_family_records(xchg_store *s, int64_t run, const char *family,
                                    const char *key_id_hex,
                                    int (*fn)(void *ctx, const xchg__family_record *r),
                                    void *ctx, xchg_diag *d);

/* One operator's release-key contribution for one record (docs/release.md "The release
 * key"): D = s_i·R of the record's wrapped payload and its Chaum–Pedersen proof. */
typedef struct xchg__contribution {
    uint8_t extract_id[XCHG_EXTRACT_ID_BYTES];
    char ref[XCHG_RECORD_MAX_REF + 1];
    char party[XCHG_PARTY_ID_MAX + 1];
    unsigned index;
    char deal[33];
    uint8_t D[32], proof[64];
    char decision_id[XCHG_RELEASE_ID_HEXLEN + 1];
} xchg__contribution;

/* Stored (replacing the same operator's earlier one for the record and deal). */
xchg_err xchg__store_contribution_put(xchg_store *s, const xchg__contribution *c, xchg_diag *d);
/* Delete the contributions of every record that is no longer current (a newer version,
 * a superseded or purged extract): what opens an old version is not kept. */
xchg_err xchg__store_contributions_prune(xchg_store *s, xchg_diag *d);
/* Every contribution for one record under deal, by party. */
xchg_err xchg__store_contributions(xchg_store *s, const uint8_t extract_id[XCHG_EXTRACT_ID_BYTES],
                                   const char *ref, const char *deal,
                                   int (*fn)(void *ctx, const xchg__contribution *c), void *ctx,
                                   xchg_diag *d);

/* Every person pseudonym of the family in run (sorted), for the members digest. */
xchg_err xchg__store_family_persons(xchg_store *s, int64_t run, const char *family,
                                    int (*fn)(void *ctx, const char *person), void *ctx,
                                    xchg_diag *d);

/* One operator's clerical-review decision on two records (by agency and reference). */
typedef struct xchg__review_row {
    char decision_id[XCHG_RELEASE_ID_HEXLEN + 1];
    char agency_a[XCHG_PARTY_ID_MAX + 1], ref_a[XCHG_RECORD_MAX_REF + 1];
    char agency_b[XCHG_PARTY_ID_MAX + 1], ref_b[XCHG_RECORD_MAX_REF + 1];
    int same;
    char operator_kid[XCHG_KEYID_HEXLEN + 1];
    char party[XCHG_PARTY_ID_MAX + 1];
    char reason[XCHG_RELEASE_REASON_MAX + 1];
    int64_t time;
    uint8_t signature[64];
    size_t siglen;
} xchg__review_row;

xchg_err xchg__store_review_put(xchg_store *s, const xchg__review_row *r, xchg_diag *d);
int xchg__store_review_exists(xchg_store *s, const char *decision_id);
/* every review decision, oldest first */
xchg_err xchg__store_reviews(xchg_store *s, int (*fn)(void *ctx, const xchg__review_row *r),
                             void *ctx, xchg_diag *d);
/* the row id of the active version of (agency, ref), 0 when none */
int64_t xchg__store_active_record(xchg_store *s, const char *agency, const char *ref);

/* Meta values the matcher service keeps (audit roll-forward position). */
xchg_err xchg__store_meta_get_int(xchg_store *s, const char *name, int64_t *v);
xchg_err xchg__store_meta_set_int(xchg_store *s, const char *name, int64_t v, xchg_diag *d);

/* ---- programme: family state across runs (store_programme.c) ---- */

typedef struct xchg__prog_state {
    char pseudonym[XCHG_PSEUDONYM_MAX + 1];
    int64_t first_run, last_run;
    int32_t identified;  /* the date first identified */
    char members[65];    /* hex digest of the member persons (xchg_release_members_digest) */
    int change;          /* in last_run: 0 new, 1 members changed, 2 unchanged */
    char baseline[2048]; /* "problem=criteria problem=criteria" (criteria ';'-joined ids) */
    /* saving: the member persons now */
    const char *const *persons;
    size_t npersons;
} xchg__prog_state;

/* Every state's member persons (pseudonym, person). */
xchg_err xchg__store_prog_persons(xchg_store *s,
                                  int (*fn)(void *ctx, const char *family, const char *person),
                                  void *ctx, xchg_diag *d);

/* One exact-match token of a state's member person (tokens are stored by their first 16
 * bytes, as the linker compares them, and their key index). */
typedef struct xchg__prog_token {
    const char *family, *person;
    uint64_t h0, h1;
    int key;
} xchg__prog_token;

/* Every state's member persons' tokens. */
xchg_err xchg__store_prog_tokens(xchg_store *s, int (*fn)(void *ctx, const xchg__prog_token *t),
                                 void *ctx, xchg_diag *d);

xchg_err xchg__store_prog_states(xchg_store *s, int (*fn)(void *ctx, const xchg__prog_state *st),
                                 void *ctx, xchg_diag *d);
/* The outcomes of the latest run before run that has any. */
xchg_err xchg__store_prog_previous(xchg_store *s, int64_t run,
                                   int (*fn)(void *ctx, const char *family, const char *problem,
                                             int status, int32_t since),
                                   void *ctx, xchg_diag *d);
/* Upsert the states (baselines are written once), replace the written states' member
 * tokens with tk (each naming its state by pseudonym) and insert run's outcomes, in one
 * transaction. */
xchg_err xchg__store_prog_save(xchg_store *s, int64_t run, const xchg__prog_state *st, size_t n,
                               const xchg__prog_token *tk, size_t ntok,
                               const xchg_store_outcome *o, size_t no, xchg_diag *d);

/* A family's records in a run with their measure events, for an evidence pack. */
typedef struct xchg__evidence_event {
    char measure[65];
    int32_t start, end;
    double value, of;
} xchg__evidence_event;
typedef struct xchg__evidence_record {
    char person[XCHG_PSEUDONYM_MAX + 1];
    char agency[XCHG_PARTY_ID_MAX + 1];
    char ref[XCHG_RECORD_MAX_REF + 1];
    uint8_t age;
    char extract_sha256[65]; /* "" when not known (ingested from a pipe) */
    xchg__evidence_event ev[XCHG_RECORD_MAX_INDICATORS];
    size_t nev;
} xchg__evidence_record;
xchg_err xchg__store_family_evidence(xchg_store *s, int64_t run, const char *family,
                                     int (*fn)(void *ctx, const xchg__evidence_record *r),
                                     void *ctx, xchg_diag *d);
/* ---- reports (store_report.c) ---- */

/* 1 when the records table has this column (schema 6: "area", "age"), 0 not. */
int xchg__store_records_have(xchg_store *s, const char *column);
/* 1 when run exists, 0 not, -1 error */
int xchg__store_run_exists(xchg_store *s, int64_t run);
/* One row of a report query: household, a text value (NULL: none or unknown) and a
 * number (-1: NULL). Non-zero stops the query: XCHG_ERR_NOMEM (the only reason to). */
typedef int (*xchg__report_row_fn)(void *ctx, int64_t household, const char *text, int64_t num);
/* The identified (eligible) families of run: (household, NULL, persons) */
xchg_err xchg__store_report_families(xchg_store *s, int64_t run, xchg__report_row_fn fn,
                                     void *ctx, xchg_diag *d);
/* (household, problem code) for each problem of each identified family */
xchg_err xchg__store_report_problems(xchg_store *s, int64_t run, xchg__report_row_fn fn,
                                     void *ctx, xchg_diag *d);
/* (household, agency party id) for each agency with a record on a member */
xchg_err xchg__store_report_agencies(xchg_store *s, int64_t run, xchg__report_row_fn fn,
                                     void *ctx, xchg_diag *d);
/* (household, area or NULL, records with it): the areas the members' records carry */
xchg_err xchg__store_report_areas(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                  xchg_diag *d);
/* (household, NULL, age or -1) once per member: the greatest age their records give */
xchg_err xchg__store_report_ages(xchg_store *s, int64_t run, xchg__report_row_fn fn, void *ctx,
                                 xchg_diag *d);
/* The run's outcome counts, not per household: (status, problem code, families), one row
 * per problem and status (xchg_outcome_status 1..3; no rows without outcome tracking) */
xchg_err xchg__store_report_outcomes(xchg_store *s, int64_t run, xchg__report_row_fn fn,
                                     void *ctx, xchg_diag *d);

/* The family's change in run (0 new, 1 members changed, 2 unchanged), -1 untracked. */
int xchg__store_family_change(xchg_store *s, const char *family, int64_t run);

#endif
