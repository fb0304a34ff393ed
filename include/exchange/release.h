/*
 * exchange — release: accountable approval of candidate families and consent-aware
 * referral packets.
 *
 * Operators (parties with role operator in the agreement) approve or reject a family of
 * the latest linkage run, each decision signed with the operator's own key and kept in
 * the store. A packet can be made only when the agreement's approvals_required distinct
 * operators have approved since the last rejection, for the current run. Each member's
 * record goes into the packet only where the agreement's consent rule for that agency and
 * the purpose "referral" allows it (consent given, or a recorded legal basis it names);
 * otherwise it is listed as withheld with the reason. See docs/release.md.
 */
#ifndef XCHG_RELEASE_H
#define XCHG_RELEASE_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"
#include "exchange/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_RELEASE_PURPOSE "referral"

typedef struct xchg_release_state {
    char family[24];
    int64_t run;          /* the latest run, which the decisions must be for */
    int eligible;
    unsigned approvals;   /* distinct operators who approved since the last rejection */
    unsigned required;    /* the agreement's approvals_required */
    int rejected;         /* the latest decision is a rejection */
    char last_reason[256];
    unsigned packets;     /* packets made for this family */
} xchg_release_state;

/*
 * Record an operator's decision on a family of the latest run: approve (1) or reject (0),
 * with a reason (required). operator_key must be the key of a party with role operator
 * (XCHG_ERR_DENIED otherwise). Signed with that key; stored in one transaction.
 */
XCHG_API xchg_err xchg_release_decide(xchg_store *s, const xchg_policy *p,
                                      const xchg_seckey *operator_key, const char *family,
                                      int approve, const char *reason, int64_t now,
                                      xchg_diag *d) XCHG_MUST_CHECK;

/* The release state of a family (XCHG_ERR_NOT_FOUND if not in the latest run). */
XCHG_API xchg_err xchg_release_state_of(xchg_store *s, const xchg_policy *p, const char *family,
                                        xchg_release_state *st, xchg_diag *d);

/* Every eligible family of the latest run and every family with a decision. */
XCHG_API xchg_err xchg_release_list(xchg_store *s, const xchg_policy *p,
                                    int (*fn)(void *, const xchg_release_state *), void *ctx,
                                    xchg_diag *d);

typedef struct xchg_release_stats {
    char packet_id[33];
    char family[24]; /* the recipient-specific pseudonym written in the packet */
    unsigned members, records, released, withheld;
} xchg_release_stats;

/*
 * Make the referral packet for an approved family, for recipient party `recipient`,
 * signed by the matcher and encrypted to the recipient, written atomically to path.
 * Refused (XCHG_ERR_DENIED, nothing written) when the family is not eligible, lacks the
 * approvals, or was rejected; or when the recipient is not one of the agreement's.
 */
XCHG_API xchg_err xchg_release_packet(xchg_store *s, const xchg_policy *p,
                                      const xchg_seckey *matcher, const char *family,
                                      const char *recipient, const char *path, int overwrite,
                                      int64_t now, xchg_release_stats *st, xchg_diag *d)
    XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
