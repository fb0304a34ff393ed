/*
 * exchange — the consent decision: may this record be used for this purpose?
 *
 * One rule for every tool. The agreement's release.consent gives, per agency and
 * purpose, {requires: none | engagement | explicit_consent, unless_basis: [..]}
 * (docs/policy.md). `xchg seal` asks it for the purpose "identification" (a record that
 * may not be used to identify a family is sealed without its problem indicators);
 * releases ask it for "referral" (a record whose detail may not be released is withheld
 * from the packet).
 */
#ifndef XCHG_CONSENT_H
#define XCHG_CONSENT_H

#include "exchange/common.h"
#include "exchange/policy.h"
#include "exchange/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_PURPOSE_IDENTIFICATION "identification"
#define XCHG_PURPOSE_REFERRAL "referral"

/* The agreement's rule for (agency, purpose), or NULL when it sets none. */
XCHG_API const xchg_consent_rule *xchg_consent_rule_for(const xchg_policy *p, size_t agency,
                                                        const char *purpose);

/*
 * Decide for one record of party `agency` whose recorded consent is `consent` (an
 * xchg_consent_status), consent date `consent_date` (XCHG_DATE_NONE when not recorded)
 * and recorded legal basis `basis` (lower case; NULL or "" for none), for `purpose`.
 * Returns 1 (allowed) or 0 (not allowed); `why` (may be NULL) receives the reason in plain
 * English, e.g. "explicit consent recorded", "recorded legal basis: safeguarding",
 * "consent refused", "consent withdrawn on 2026-05-01".
 *
 * In order:
 * - no rule for the purpose: "referral" (and any other purpose) is not allowed ("the
 *   agreement sets no release rule for this agency"); "identification" follows the
 *   agreement's legal basis, as {requires: none}.
 * - identification only: a withdrawn consent is an objection (UK GDPR Art 21): unless the
 *   rule sets objection_stops_identification: false, the record is not used, except
 *   where it carries a legal basis the rule lists in unless_basis.
 * - requires none: allowed; consent given: allowed; a recorded basis listed in
 *   unless_basis: allowed; otherwise not allowed, with the consent state as the reason.
 */
XCHG_API int xchg_consent_decide(const xchg_policy *p, size_t agency, const char *purpose,
                                 int consent, int32_t consent_date, const char *basis,
                                 char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
