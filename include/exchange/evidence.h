/*
 * exchange — evidence packs for payment-by-results claims (docs/programme.md "Claims",
 * layout in docs/formats.md "Evidence pack").
 *
 * The matcher writes one pack per claimable family: the agreement, the family's
 * pseudonym, when it was identified and judged, the criteria that identified each
 * baseline problem and the outcome met, and every measure event relied on (with the
 * pseudonymous record and the SHA-256 of the sealed extract it came from), signed with
 * the matcher's key. An internal auditor verifies a pack offline, with the agreement only:
 * the signature against the matcher key the agreement pins, and the rule, each
 * identifying criterion and each outcome re-evaluated on the pack's own events.
 */
#ifndef XCHG_EVIDENCE_H
#define XCHG_EVIDENCE_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_EVIDENCE_VERSION 1
#define XCHG_EVIDENCE_MAX (16u << 20) /* a pack is at most 16 MiB */

/* Sign body (compact JSON, as written) with the matcher's key: *out (malloc'ed) holds
 * the pack's bytes, body then its signature line. */
XCHG_API xchg_err xchg_evidence_seal(const xchg_seckey *matcher, const char *body, size_t len,
                                     char **out, size_t *outlen) XCHG_MUST_CHECK;

/* What verification found. */
typedef struct xchg_evidence_verdict {
    char family[XCHG_PSEUDONYM_MAX + 1];
    long long run;
    int32_t identified, judged;
    size_t nproblems; /* baseline problems in the pack */
    char problems[32][65];
    int status[32];   /* xchg_outcome_status re-evaluated on the pack's events */
    size_t nevents, nextracts;
    int claimable;    /* the agreement's claim rule holds on the pack's events */
} xchg_evidence_verdict;

/*
 * Verify the pack at path under agreement agr: the signature is the agreement's matcher's
 * over these bytes (XCHG_ERR_VERIFY otherwise), the pack names this agreement's hash, and
 * on the pack's own events the rule held on the identification date with every stated
 * identifying criterion, every stated outcome status is what the criteria give, and the
 * claim rule holds. Every discrepancy is reported in d; XCHG_OK only when all hold.
 */
XCHG_API xchg_err xchg_evidence_verify(const xchg_agreement *agr, const char *path,
                                       xchg_evidence_verdict *v, xchg_diag *d) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
