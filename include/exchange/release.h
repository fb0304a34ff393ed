/*
 * exchange — release: accountable approval of candidate families and consent-aware
 * referral packets. The actions themselves (decide, release) are the matcher service's
 * (matcher.h), which records each with its audit entry; this header holds what they
 * share with the recipient's side: the signed decision statement, the members digest,
 * the state of a family, and the text rules for operator input.
 *
 * Operators (parties with role operator in the agreement) approve or reject a family of
 * the latest linkage run. Each decision is an Ed25519 signature by the operator's own key
 * over a decision statement (docs/formats.md, "Decision statement") that names the
 * agreement (hash), the recipient, the recipient's pseudonym of the family, the run, a
 * digest of the family's members as the recipient sees them, the decision, its reason and
 * its time — one statement per recipient of the agreement, so packets for two recipients
 * share no signature. A packet can be made only when approvals_required distinct
 * operators of the agreement have approved since the last rejection, for the current
 * run, and every such signature verifies against the operator key the agreement pins;
 * the packet carries the signed statements, and the recipient's xchg_referral_open checks
 * them again, so a packet the matcher assembles alone cannot be opened. See
 * docs/release.md.
 */
#ifndef XCHG_RELEASE_H
#define XCHG_RELEASE_H

#include "exchange/common.h"
#include "exchange/crypto.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_RELEASE_PURPOSE "referral"
#define XCHG_RELEASE_REASON_MAX 500 /* bytes of UTF-8 in a decision's reason */
#define XCHG_RELEASE_ID_HEXLEN 32   /* decision ids and packet ids: 16 random bytes, hex */
#define XCHG_RELEASE_SIG_BYTES 64   /* Ed25519 */
#define XCHG_RELEASE_STATEMENT_MAX                                                                 \
    (32 + XCHG_SHA256_BYTES + 1 + XCHG_PARTY_ID_MAX + 1 + XCHG_PSEUDONYM_MAX + 8 +                 \
     XCHG_SHA256_BYTES + 1 + 2 + XCHG_RELEASE_REASON_MAX + 8)

/* What an operator signs (v2). All strings NUL-terminated UTF-8. */
typedef struct xchg_decision_statement {
    uint8_t agreement_sha256[XCHG_SHA256_BYTES];
    const char *recipient; /* the recipient party's id */
    const char *family;    /* the recipient's pseudonym of the family */
    int64_t run;
    uint8_t members[XCHG_SHA256_BYTES]; /* xchg_release_members_digest */
    int approve;
    const char *reason;
    int64_t time; /* Unix seconds */
} xchg_decision_statement;

/*
 * The canonical bytes of a statement into out (at least XCHG_RELEASE_STATEMENT_MAX):
 * "exchange release decision v2\0" | sha256 | u8 len | recipient | u8 len | family |
 * u64le run | members digest | 'A' or 'R' | u16le len | reason | i64le time.
 * XCHG_ERR_ARG when a field is missing or too long.
 */
XCHG_API xchg_err xchg_decision_statement_bytes(const xchg_decision_statement *st, uint8_t *out,
                                                size_t *len) XCHG_MUST_CHECK;

/*
 * The members digest: SHA-256 of "exchange release members v1\0" followed, for every
 * member person pseudonym (as the recipient sees them) in byte order, by u8 length and
 * the text. Order of `persons` does not matter (they are sorted here). XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_release_members_digest(const char *const *persons, size_t n,
                                              uint8_t out[XCHG_SHA256_BYTES]);

/*
 * Operator text (a reason) is acceptable: non-empty, at most max bytes, valid UTF-8,
 * and no control characters (C0, DEL, C1). 1 ok, 0 not; *why gets a static message.
 */
XCHG_API int xchg_release_text_ok(const char *s, size_t max, const char **why);

/* Seconds a decision request's time may differ from the signer's and the matcher's
 * clocks (as requests to the daemon: XCHG_NETAUTH_WINDOW). */
#define XCHG_DECISION_WINDOW 300

typedef struct xchg_release_share xchg_release_share; /* threshold.h */

/*
 * 2. Operator side (pure: the agreement, the operator's key, optionally the operator's
 * release-key share, and the request xchg_matcher_decision_prepare made): check the
 * request is this agreement's, names this operator's key, exactly the family, decision
 * and reason the operator chose, and a time within XCHG_DECISION_WINDOW of now — else
 * XCHG_ERR_DENIED (XCHG_ERR_FORMAT for a malformed request) — then sign each statement
 * and, for an approval under a release key, compute the share's partial decryption and
 * proof for every record listed (a share that is not this operator's, or none:
 * XCHG_ERR_DENIED). *signed_request (malloc'ed JSON) is the request with the signatures
 * and contributions. What the operator cannot check from here: that the members digest
 * and the records listed are the family's (the matcher's store says so; submit checks
 * them against the store again).
 */
XCHG_API xchg_err xchg_decision_sign(const xchg_agreement *agr, const xchg_seckey *op,
                                     const xchg_release_share *share, const char *prepared,
                                     const char *family, int approve, const char *reason,
                                     int64_t now, char **signed_request,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The operator's signature over a clerical-review decision's statement (docs/formats.md
 * "Review statement"; pure: needs only the agreement and the key) on records (agency_a,
 * ref_a) and (agency_b, ref_b), same = 1 one person, with reason, at time. XCHG_ERR_ARG
 * for the same record twice or a field too long. xchg_matcher_review_submit stores it.
 */
XCHG_API xchg_err xchg_review_sign(const xchg_agreement *agr, const xchg_seckey *op,
                                   const char *agency_a, const char *ref_a, const char *agency_b,
                                   const char *ref_b, int same, const char *reason, int64_t time,
                                   uint8_t sig[XCHG_RELEASE_SIG_BYTES]) XCHG_MUST_CHECK;

typedef struct xchg_release_state {
    char family[XCHG_PSEUDONYM_MAX + 1];
    int64_t run; /* the latest run, which the decisions must be for */
    int eligible;
    unsigned approvals; /* distinct operators whose approval verifies, since the last
                           rejection */
    unsigned required;  /* the agreement's approvals_required */
    int rejected;       /* the latest decision is a rejection */
    unsigned forged;    /* decision rows whose signature does not verify (ignored) */
    char last_reason[XCHG_RELEASE_REASON_MAX + 1];
    unsigned packets; /* packets made for this family */
    /* approvals made in an earlier run over exactly the same member set, which carry over
     * (docs/programme.md: only new or changed families need a decision), and the change
     * since the run before: 0 new, 1 members changed, 2 unchanged, -1 not tracked */
    unsigned carried;
    int change;
    /* under a release key: the family's releasable records that the approving operators'
     * contributions do not cover — versions sealed after their approvals (each period's
     * extract is a new version): they are withheld until enough operators approve again */
    unsigned uncovered;
} xchg_release_state;

/* One stored decision on a family, as xchg_matcher_release_decisions judges it (the
 * statement for the agreement's first recipient). */
typedef struct xchg_release_decision {
    char decision_id[XCHG_RELEASE_ID_HEXLEN + 1];
    char operator_party[XCHG_PARTY_ID_MAX + 1]; /* as the row names it */
    char operator_kid[XCHG_KEYID_HEXLEN + 1];
    char operator_label[129]; /* the agreement's label of that operator ("" if none) */
    int approve;
    int64_t run, time; /* the run decided on; Unix seconds */
    char reason[XCHG_RELEASE_REASON_MAX + 1];
    int verified; /* its signature verifies against the agreement's operator key */
    int current;  /* about the family's present members (this run, or an earlier run over
                     exactly the same members); 0: history of another member set */
} xchg_release_decision;

typedef struct xchg_release_stats {
    char packet_id[XCHG_RELEASE_ID_HEXLEN + 1];
    char family[XCHG_PSEUDONYM_MAX + 1]; /* the recipient-specific pseudonym in the packet */
    unsigned members, records, released, withheld;
} xchg_release_stats;

#ifdef __cplusplus
}
#endif
#endif
