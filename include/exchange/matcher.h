/*
 * exchange — the matcher service: one handle that owns the matcher's store AND its audit
 * log, and does each of the matcher's actions together with its audit entry. Ingest,
 * run, decide, release and purge are here; the CLI (`xchg match`, `xchg release`), the
 * daemon and later the console are thin shells over these calls. See
 * docs/architecture.md.
 *
 * The audit log lives beside the store at "<db>.audit" (audit.h). Every action that
 * changes the store appends its entry (built with jansson, so operator text is always
 * valid JSON) inside the store transaction that makes the change, before COMMIT: a
 * crash can therefore leave an audit entry whose change was not committed, never a
 * committed change without its entry. Decisions and releases carry in their entry all
 * that their row holds, so xchg_matcher_open rolls such an entry forward into the store
 * (docs/matcher.md, "Audit first"). Retention (the agreement's retention_days) is
 * applied by every ingest and run, with its own audit entry.
 */
#ifndef XCHG_MATCHER_H
#define XCHG_MATCHER_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"
#include "exchange/release.h"
#include "exchange/threshold.h"
#include "exchange/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xchg_matcher xchg_matcher;

/* Accept an agreement with the store's id but another hash (a new version); recorded. */
#define XCHG_MATCHER_ACCEPT_NEW_VERSION XCHG_STORE_ACCEPT_NEW_VERSION

/*
 * Create a new store at db bound to the verified agreement agr, and its audit log (genesis
 * entry and a "key" entry recording the store's creation). XCHG_ERR_EXISTS if either
 * exists. On error nothing is left.
 */
XCHG_API xchg_err xchg_matcher_create(const char *db, const xchg_store_key *k,
                                      const xchg_agreement *agr, xchg_matcher **out,
                                      xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Open the store at db for agreement agr (see xchg_store_open for the binding and flags)
 * with its audit log, and roll forward any decision or release the log records that the
 * store lacks. A missing log is created (genesis) for stores made before the log
 * existed. agr is required.
 */
XCHG_API xchg_err xchg_matcher_open(const char *db, const xchg_store_key *k,
                                    const xchg_agreement *agr, unsigned flags, xchg_matcher **out,
                                    xchg_diag *d) XCHG_MUST_CHECK;

/* Close; accepts NULL. */
XCHG_API void xchg_matcher_close(xchg_matcher *m);

/* The store, for the read-only views (store.h); valid as long as m. */
XCHG_API xchg_store *xchg_matcher_store(xchg_matcher *m);

/* The audit log's path ("<db>.audit"); valid as long as m. */
XCHG_API const char *xchg_matcher_audit_path(const xchg_matcher *m);

/*
 * Ingest one sealed extract (xchg_store_ingest) and record it: an "ingest" entry with
 * the outcome (also for a rejected file), submitter (the key id of the agency that sent
 * it, or NULL: the matcher) and via (e.g. "matcherd", or NULL). Retention is applied
 * first. The store error is returned; an audit failure is XCHG_ERR_IO with the store
 * rolled back (the extract is not ingested unrecorded).
 */
XCHG_API xchg_err xchg_matcher_ingest(xchg_matcher *m, const xchg_seckey *matcher, const char *path,
                                      const xchg_pubkey *submitter, const char *via, int64_t now,
                                      xchg_ingest_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/* Append an entry {"event": event} and a checkpoint signed with the matcher's key (which
 * must be the agreement's matcher: XCHG_ERR_DENIED otherwise). */
XCHG_API xchg_err xchg_matcher_checkpoint(xchg_matcher *m, const xchg_seckey *matcher,
                                          const char *type, const char *event,
                                          xchg_diag *d) XCHG_MUST_CHECK;

typedef struct xchg_matcher_run_stats {
    int64_t run;
    int32_t run_date;
    uint64_t records;
    size_t persons, households, eligible, review, conflicts;
    uint64_t exact_unions, fuzzy_links, candidate_pairs, comparisons;
    size_t reviews_applied; /* operators' review decisions given to the linkage */
    size_t reviews_ignored; /* review decisions that do not verify, or name no record */
    double seconds_load, seconds_link, seconds_exact, seconds_fuzzy, seconds_households,
        seconds_save;
    xchg_purge_stats *purged; /* what retention removed first (NULL: not wanted) */
    /* programme (docs/programme.md): families with a state across runs, of which
     * identified in this run for the first time; baseline outcomes met; claimable */
    size_t tracked, identified_new, outcomes_met, claimable;
} xchg_matcher_run_stats;

/*
 * A linkage run over every active record with the evidence window ending on run_date:
 * retention first, then load, link (threads 0: one per core), save as a new run, and a
 * "run" audit entry, all or nothing.
 */
XCHG_API xchg_err xchg_matcher_run(xchg_matcher *m, int32_t run_date, unsigned threads, int64_t now,
                                   xchg_matcher_run_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * An operator's decision on a family of the latest run: approve (1) or reject (0), with
 * a reason (xchg_release_text_ok, at most XCHG_RELEASE_REASON_MAX bytes: checked before
 * anything is written). operator_key must be the key of a party with role operator
 * (XCHG_ERR_DENIED). One signed statement per recipient of the agreement; the rows and
 * the audit entry are stored together or not at all.
 */
XCHG_API xchg_err xchg_matcher_decide(xchg_matcher *m, const xchg_seckey *operator_key,
                                      const char *family, int approve, const char *reason,
                                      int64_t now, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The same decision by an operator holding a share of the agreement's release key
 * (threshold.h, docs/release.md "The release key"). Under an agreement with a release
 * key an approval must carry the share (xchg_matcher_decide, which passes NULL, is then
 * refused: XCHG_ERR_DENIED), and the share must be this operator's (index and
 * verification share as the agreement publishes them: XCHG_ERR_DENIED). The operator's
 * side then contributes, for exactly the family's records that the consent filter
 * (consent.c) releases, a partial decryption with its proof, stored with the decision
 * and in its audit entry; a record whose wrapped key repeats another's of the family
 * refuses the approval (XCHG_ERR_VERIFY). A rejection needs no share (share may be NULL).
 */
XCHG_API xchg_err xchg_matcher_decide_share(xchg_matcher *m, const xchg_seckey *operator_key,
                                            const xchg_release_share *share, const char *family,
                                            int approve, const char *reason, int64_t now,
                                            xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Renewing this operator's approvals for a new period (release key only: docs/release.md
 * "Under a release key, a carried approval opens only what it contributed to"). For every
 * family of the latest run that xchg_queue_judge finds renewable_by_me (eligible, not
 * rejected, records the approving operators' contributions do not cover, and approved by
 * this operator in an earlier run over exactly its present members), the operator
 * approves again with share, contributing for the records it has now; the reason says
 * "renewed for run N (approved in run M: <the earlier reason>)". A family this operator
 * never approved, rejected since, or already approved on this run is skipped: a renewal is
 * never a first decision. each (may be NULL) hears every renewal's result; one that fails
 * (e.g. a record whose wrapped key repeats another's) is counted and reported through d,
 * and the others go on. XCHG_ERR_DENIED without a release key.
 */
typedef struct xchg_renew_stats {
    size_t renewed, skipped, failed;
} xchg_renew_stats;
XCHG_API xchg_err xchg_matcher_renew(xchg_matcher *m, const xchg_seckey *operator_key,
                                     const xchg_release_share *share, int64_t now,
                                     void (*each)(void *ctx, const char *family, xchg_err result),
                                     void *ctx, xchg_renew_stats *stats,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Remote decisions, in three steps (docs/console.md "Remote mode"); xchg_matcher_decide and
 * xchg_matcher_decide_share are these three in one process.
 *
 * 1. Matcher side: the decision request operator `operator_kid` (key id hex) must sign to
 *    approve (1) or reject (0) family with reason at time now — the agreement hash, the
 *    operator, the family and the latest run, and per recipient of the agreement the
 *    recipient's pseudonym of the family and its members digest (the statement fields of
 *    release.h); for an approval under a release key also every record to contribute for
 *    (extract id, reference, the R of its wrapped payload). *prepared is malloc'ed JSON
 *    (docs/formats.md "Decision request"). Refused as xchg_matcher_decide refuses: a key
 *    that is no operator's (XCHG_ERR_DENIED), a bad reason (XCHG_ERR_ARG), a family not in
 *    the latest run (XCHG_ERR_NOT_FOUND), an approval of an ineligible family
 *    (XCHG_ERR_DENIED). Nothing is written.
 */
XCHG_API xchg_err xchg_matcher_decision_prepare(xchg_matcher *m, const char *operator_kid,
                                                const char *family, int approve, const char *reason,
                                                int64_t now, char **prepared,
                                                xchg_diag *d) XCHG_MUST_CHECK;

/*
 * 3. Matcher side: verify a request signed by xchg_decision_sign (release.h) and store it.
 * Refused, with nothing stored: not a request of this agreement (XCHG_ERR_FORMAT/DENIED),
 * a key that is no operator's (XCHG_ERR_DENIED), a time further than
 * XCHG_DECISION_WINDOW from now (XCHG_ERR_DENIED), a run that is no longer the latest
 * (XCHG_ERR_DENIED, checked before the family is looked up), a family not in the latest
 * run (XCHG_ERR_NOT_FOUND), a statement not about the family's present members or a signature
 * that does not verify with the key the agreement pins for the operator
 * (XCHG_ERR_VERIFY), a signature stored already — a replay (XCHG_ERR_DENIED), and under
 * a release key an approval without exactly one verifying contribution (Chaum–Pedersen
 * proof against the operator's verification share) per record the store says is released
 * (XCHG_ERR_DENIED / XCHG_ERR_VERIFY). Otherwise the rows, contributions and audit entry
 * are stored together, exactly as xchg_matcher_decide_share stores them.
 */
XCHG_API xchg_err xchg_matcher_decision_submit(xchg_matcher *m, const char *signed_request,
                                               int64_t now, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The release state of a family of the latest run, counting only decisions whose
 * signature verifies against the agreement's operator keys (st->forged counts the rest).
 * XCHG_ERR_NOT_FOUND when the family is not in the latest run.
 */
XCHG_API xchg_err xchg_matcher_release_state(xchg_matcher *m, const char *family,
                                             xchg_release_state *st, xchg_diag *d);

/*
 * Every stored decision on a family of the latest run, oldest first, each with whether
 * its signature verifies and whether it is about the family's present members: fn(ctx,
 * dec) per row (non-zero stops); *st gets the family's state as
 * xchg_matcher_release_state gives it. For an operator console: who decided what and
 * when, and which operators' approvals count now. XCHG_ERR_NOT_FOUND as
 * xchg_matcher_release_state.
 */
XCHG_API xchg_err xchg_matcher_release_decisions(xchg_matcher *m, const char *family,
                                                 xchg_release_state *st,
                                                 int (*fn)(void *ctx,
                                                           const xchg_release_decision *dec),
                                                 void *ctx, xchg_diag *d);

/* Every eligible family of the latest run and every family with a decision. */
XCHG_API xchg_err xchg_matcher_release_list(xchg_matcher *m,
                                            int (*fn)(void *ctx, const xchg_release_state *st),
                                            void *ctx, xchg_diag *d);

/*
 * The referral packet for an approved family for recipient party `recipient`, signed by
 * the matcher (whose key this must be: XCHG_ERR_DENIED before anything is written) and
 * encrypted to the recipient. Refused (XCHG_ERR_DENIED) when the family is not eligible,
 * lacks the verified approvals or was rejected; XCHG_ERR_VERIFY when a stored decision
 * does not verify (a forged or foreign row): refused, with a "release" audit entry
 * saying why. Otherwise the packet is written under a temporary name, its release row
 * and audit entry are stored, and only then is it renamed to path — so no packet exists
 * at path unrecorded. The packet holds only what is released to this recipient, plus
 * the notice each agency's rule asks for (docs/release.md).
 */
XCHG_API xchg_err xchg_matcher_release(xchg_matcher *m, const xchg_seckey *matcher,
                                       const char *family, const char *recipient, const char *path,
                                       int overwrite, int64_t now, xchg_release_stats *st,
                                       xchg_diag *d) XCHG_MUST_CHECK;

/*
 * xchg_matcher_release into the matcher's outbox folder: the packet is written to
 * OUTBOX/<recipient>/<family>-<now>.xrp (folders made 0700 when missing), the layout
 * xchg-matcherd serves to recipients and `xchg fetch-packets` collects (docs/network.md);
 * its path goes to path (pathsz bytes; "" on error). requested_by, when not NULL, is the
 * operator who asked for the release (the console, or an operator through xchg-matcherd's
 * /v1/operator/release): named in the release's audit entry. The same refusals as
 * xchg_matcher_release, plus XCHG_ERR_EXISTS when a packet of that name exists already
 * (one release per family and recipient per second).
 */
XCHG_API xchg_err xchg_matcher_release_outbox(xchg_matcher *m, const xchg_seckey *matcher,
                                              const char *family, const char *recipient,
                                              const char *outbox, const xchg_pubkey *requested_by,
                                              int64_t now, xchg_release_stats *st, char *path,
                                              size_t pathsz, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * An operator's clerical-review decision on two records, named by agency party id and
 * the agency's record reference (as `xchg match show` lists review pairs): same = 1 "one
 * person" (always linked), 0 "different people" (never linked). Signed by the operator's
 * key over a review statement (docs/formats.md), stored with its audit entry, kept across
 * runs and applied by every later run (the newest decision on a pair wins); a decision
 * that does not verify against the agreement's operator keys is ignored by runs and
 * counted. Errors: XCHG_ERR_DENIED (not an operator), XCHG_ERR_ARG (bad reason, the same
 * record twice), XCHG_ERR_NOT_FOUND (no active record of that agency and reference).
 */
XCHG_API xchg_err xchg_matcher_review(xchg_matcher *m, const xchg_seckey *operator_key,
                                      const char *agency_a, const char *ref_a, const char *agency_b,
                                      const char *ref_b, int same, const char *reason, int64_t now,
                                      xchg_diag *d) XCHG_MUST_CHECK;

/*
 * A review decision signed elsewhere (xchg_review_sign, release.h: the operator's own
 * process, e.g. `xchg console --url`), verified and stored as xchg_matcher_review stores
 * it — which is xchg_review_sign + this in one process. Refused with nothing stored: a key
 * id that is no operator's (XCHG_ERR_DENIED), a bad reason or the same record twice
 * (XCHG_ERR_ARG), a record the store does not hold (XCHG_ERR_NOT_FOUND), a time further
 * than XCHG_DECISION_WINDOW from now (XCHG_ERR_DENIED), a signature that does not verify
 * with the key the agreement pins (XCHG_ERR_VERIFY), a signature stored already or a
 * decision older than the newest stored on the pair (a replay: XCHG_ERR_DENIED).
 */
XCHG_API xchg_err xchg_matcher_review_submit(xchg_matcher *m, const char *operator_kid,
                                             const char *agency_a, const char *ref_a,
                                             const char *agency_b, const char *ref_b, int same,
                                             const char *reason, int64_t time,
                                             const uint8_t sig[XCHG_RELEASE_SIG_BYTES], int64_t now,
                                             xchg_diag *d) XCHG_MUST_CHECK;

/* One stored clerical-review decision, as xchg_matcher_review_decisions lists it. */
typedef struct xchg_review_decision {
    char agency_a[XCHG_PARTY_ID_MAX + 1], ref_a[XCHG_RECORD_MAX_REF + 1];
    char agency_b[XCHG_PARTY_ID_MAX + 1], ref_b[XCHG_RECORD_MAX_REF + 1];
    int same; /* 1 one person, 0 different people */
    char operator_party[XCHG_PARTY_ID_MAX + 1];
    char reason[XCHG_RELEASE_REASON_MAX + 1];
    int64_t time;
    int verified; /* its signature verifies against the agreement's operator key (runs
                     ignore the others) */
} xchg_review_decision;

/*
 * Every stored clerical-review decision, oldest first (for a pair, the newest is the one
 * runs apply): fn(ctx, dec) per decision, non-zero stops. For an operator console.
 */
XCHG_API xchg_err xchg_matcher_review_decisions(xchg_matcher *m,
                                                int (*fn)(void *ctx,
                                                          const xchg_review_decision *dec),
                                                void *ctx, xchg_diag *d);

/*
 * Delete what was received before cutoff (xchg_store_purge: records, tokens, indicators,
 * payloads, and the run-level summaries of every run that used them or began before the
 * cutoff), with a "purge" audit entry. dry_run only lists.
 */
XCHG_API xchg_err xchg_matcher_purge(xchg_matcher *m, int64_t cutoff, int dry_run,
                                     xchg_purge_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/* Retention, the one place its rule is applied: xchg_matcher_purge with cutoff now -
 * the agreement's retention_days (nothing, and *st zeroed, when it sets none); dry_run
 * only lists; st may be NULL. Called by ingest, run and `xchg match purge`. */
XCHG_API xchg_err xchg_matcher_retention(xchg_matcher *m, int64_t now, int dry_run,
                                         xchg_purge_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/* ---- claims (docs/programme.md "Claims") ---------------------------------------- */

typedef struct xchg_matcher_claim {
    char family[XCHG_PSEUDONYM_MAX + 1];
    int32_t identified, judged;
    size_t nproblems, nevents;
    char pack_sha256[65]; /* of the pack's bytes */
    char path[4096];      /* where it was written ("" when listing only) */
} xchg_matcher_claim;

/*
 * The families of run (0: latest) the agreement's claim rule holds for, each with a signed
 * evidence pack (evidence.h) re-evaluated on its events before signing; written to
 * dir/<family>.xev (0600) when dir is given, with a "claims" audit entry. matcher must be
 * the agreement's matcher key (XCHG_ERR_DENIED). fn is called per claim.
 */
XCHG_API xchg_err xchg_matcher_claims(xchg_matcher *m, const xchg_seckey *matcher, int64_t run,
                                      const char *dir,
                                      int (*fn)(void *ctx, const xchg_matcher_claim *c), void *ctx,
                                      size_t *nclaims, xchg_diag *d) XCHG_MUST_CHECK;
/* ---- reports (docs/reports.md) ---- */

typedef enum xchg_report_format {
    XCHG_REPORT_TEXT = 0, /* aligned text tables, "[c]" for a suppressed cell */
    XCHG_REPORT_CSV = 1,  /* one row per cell: table,row,column,value,flag */
    XCHG_REPORT_JSON = 2, /* "exchange-report" version 1 */
    XCHG_REPORT_HTML = 3, /* one self-contained page: inline CSS and SVG, no script */
} xchg_report_format;

typedef struct xchg_report_stats {
    int64_t run;
    size_t tables;     /* tables in the report */
    size_t cells;      /* counts shown or suppressed, margins included */
    size_t suppressed; /* of which suppressed (primary and secondary) */
    char sha256[65];   /* hex SHA-256 of the report's bytes, as the audit entry records */
} xchg_report_stats;

/*
 * The programme report of run (0: the latest) in format fmt: families identified by
 * area, by problem and problem combination, by the combination of agencies holding
 * records on them (by area), and their members by age band — every count protected by
 * the agreement's `reports:` rules (primary and secondary suppression, rounding;
 * docs/reports.md). On success *out (malloc'ed, NUL-terminated, *len bytes without
 * the NUL) holds the report and a "report" audit entry records the run, the format and
 * the report's SHA-256; st may be NULL. XCHG_ERR_NOT_FOUND when there is no such run;
 * XCHG_ERR_IO when the audit entry cannot be written (no report is then returned).
 */
XCHG_API xchg_err xchg_matcher_report(xchg_matcher *m, int64_t run, xchg_report_format fmt,
                                      int64_t now, char **out, size_t *len, xchg_report_stats *st,
                                      xchg_diag *d) XCHG_MUST_CHECK;

/* ---- cost savings (docs/programme.md "Cost savings") ----------------------------- */

#define XCHG_MATCHER_MAX_COSTS 32

typedef struct xchg_matcher_cost_line {
    char id[65], title[129];
    double unit_cost, predicted_reduction;
    double baseline_events, outcome_events; /* over the families counted */
    double predicted_saving, observed_saving;
} xchg_matcher_cost_line;

typedef struct xchg_matcher_cost_report {
    size_t families;     /* identified at least a whole evidence window before the run */
    int32_t window_days; /* the baseline and outcome windows' length */
    char currency[16];
    double invested; /* families x the agreement's cost per family */
    double predicted_saving, observed_saving;
    double saving_per_pound; /* observed saving / invested; NAN when nothing was invested */
    size_t nlines;
    xchg_matcher_cost_line lines[XCHG_MATCHER_MAX_COSTS];
} xchg_matcher_cost_report;

/* The agreement's cost items over the families of run (0: latest) judged a whole evidence
 * window after their identification. */
XCHG_API xchg_err xchg_matcher_costs(xchg_matcher *m, int64_t run, xchg_matcher_cost_report *out,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/* ---- the operator queue (queue.c; docs/console.md "What the page shows") ------------
 *
 * The rules an operator's queue follows, owned here so that every front end — the local
 * console, `xchg console --url` through xchg-matcherd, a CLI — judges a family the same
 * way: pure functions over what xchg_matcher_release_decisions and xchg_store_families
 * return (locally, or as xchg-matcherd's /v1/operator endpoints carry them). */

/* A family's place in an operator's queue. The values are the queue's state order
 * (sorting by state sorts by value). */
typedef enum xchg_queue_state {
    XCHG_QUEUE_NEW = 0,       /* no decision counts; the family is new in this run */
    XCHG_QUEUE_CHANGED = 1,   /* no decision counts; its members changed since the run
                                 before, so earlier approvals do not carry over */
    XCHG_QUEUE_AWAITING = 2,  /* approvals count, fewer than approvals_required */
    XCHG_QUEUE_APPROVED = 3,  /* enough distinct verified approvals: a packet can be made */
    XCHG_QUEUE_RELEASED = 4,  /* at least one packet made */
    XCHG_QUEUE_REJECTED = 5,  /* the latest verified decision is a rejection */
    XCHG_QUEUE_UNCHANGED = 6, /* no decision counts; members as in the run before (or the
                                 change is not tracked) */
} xchg_queue_state;
#define XCHG_QUEUE_NSTATES 7

/* "new", "changed", "awaiting", "approved", "released", "rejected", "unchanged" (static);
 * NULL for a value out of range. */
XCHG_API const char *xchg_queue_state_name(xchg_queue_state s);

/* The STATE column of `xchg release list` (static text): "FORGED" (decision rows that do
 * not verify), "REJECTED", "re-approve" (records newer than the approvals, st->uncovered),
 * "carried" (approvals from an earlier run over the same members), else the change since
 * the run before: "new", "changed", "unchanged"; "" when not tracked. */
XCHG_API const char *xchg_release_list_label(const xchg_release_state *st);

/* A family as one operator's queue sees it (xchg_queue_judge). */
typedef struct xchg_queue_entry {
    xchg_queue_state state;
    int approved_by_me; /* this operator's approval counts now */
    int rejected_by_me; /* the latest counting decision is this operator's rejection */
    int awaiting_me;    /* awaiting, and no decision of this operator counts: what the
                           second operator works from */
    int undecided;      /* new, changed or unchanged: no decision counts */
    int renewable_by_me; /* release key: this operator's approval counts, from an earlier run,
                            but the records it contributed to are not the family's now
                            (st->uncovered): xchg_matcher_renew approves it again */
    char last_party[XCHG_PARTY_ID_MAX + 1]; /* the latest counting decision's operator, "" */
    int64_t last_time;                      /* and its time (Unix seconds), 0 */
} xchg_queue_entry;

/*
 * Judge a family for operator party me (NULL or "": no operator, nothing is "mine") from
 * its release state st and its stored decisions dec[0..n) oldest first, exactly as
 * xchg_matcher_release_decisions gives them. A decision counts only when it verifies and
 * is current (about the family's present members); a rejection clears the approvals
 * before it; an operator's approvals count once. The state is st's: awaiting when records
 * are newer than the approvals (st->uncovered, not rejected), else released, else
 * rejected, else approved (approvals >= required > 0), else awaiting (some approval),
 * else new / changed / unchanged by st->change. With st->uncovered, only an approval on
 * the latest run is "mine"; one from an earlier run makes the family renewable_by_me. dec may be NULL when n is 0. *out is
 * always filled.
 */
XCHG_API void xchg_queue_judge(const xchg_release_state *st, const xchg_release_decision *dec,
                               size_t n, const char *me, xchg_queue_entry *out);

/*
 * Whether the operator q was judged for may now decide on the family: 0 with *why (a
 * static sentence) when approving what its own approval already counts for ("you have
 * already approved it; another operator must approve it"), rejecting what it rejected
 * last ("you have already rejected it"), or approving a family already released ("it has
 * already been released"); 1 otherwise (the matcher's own checks still apply).
 */
XCHG_API int xchg_queue_may_decide(const xchg_queue_entry *q, const xchg_release_state *st,
                                   int approve, const char **why);

/*
 * Whether a packet may be made for the family: 1 when it is not rejected and has
 * approvals >= required; else 0 with why (n bytes, NUL-terminated) saying "not approved
 * (A of R approvals[, rejected])". xchg_matcher_release enforces the same and more.
 */
XCHG_API int xchg_queue_may_release(const xchg_release_state *st, char *why, size_t n);

/* A queue filter: a state, or one of these. */
enum {
    XCHG_QUEUE_FILTER_NONE = -1,         /* an unknown name: matches no family */
    XCHG_QUEUE_FILTER_UNDECIDED = 100,   /* "undecided": new, changed or unchanged */
    XCHG_QUEUE_FILTER_AWAITING_ME = 101, /* "awaiting_me": entry.awaiting_me */
};

/* The filter named name: a state's name, "undecided" or "awaiting_me";
 * XCHG_QUEUE_FILTER_NONE for any other. */
XCHG_API int xchg_queue_filter_parse(const char *name);

/* Whether q passes filter (a value of xchg_queue_filter_parse). */
XCHG_API int xchg_queue_filter_match(int filter, const xchg_queue_entry *q);

/*
 * Whether some problem of pr[0..n) has code (any when NULL) and is evidenced by agency
 * (any when NULL) — both on the same problem. Only the agencies a problem names
 * (XCHG_STORE_PROBLEM_AGENCIES) are looked at.
 */
XCHG_API int xchg_queue_has_problem(const xchg_store_problem *pr, size_t n, const char *code,
                                    const char *agency);

/* The family's evidence span: the earliest first and latest last date of pr[0..n),
 * ignoring open and absent dates (XCHG_DATE_NONE when there is none). */
XCHG_API void xchg_queue_span(const xchg_store_problem *pr, size_t n, int32_t *first,
                              int32_t *last);

#ifdef __cplusplus
}
#endif
#endif
