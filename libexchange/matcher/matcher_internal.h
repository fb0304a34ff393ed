/* Private: what the release module shares with the matcher service. Not installed. */
#ifndef XCHG_MATCHER_INTERNAL_H
#define XCHG_MATCHER_INTERNAL_H

#include "exchange/audit.h"
#include "exchange/link.h"
#include "exchange/matcher.h"

#include <jansson.h>

struct xchg_matcher {
    xchg_store *s;
    const xchg_agreement *agr; /* the verified agreement it acts under */
    const xchg_policy *p;      /* its policy: xchg_agreement_policy(agr) */
    char *db;
    char *audit_path;
};

/*
 * Append one audit entry of type with data (consumed, built with jansson; strings
 * already within XCHG_AUDIT_STRING_MAX) and actor (key id or NULL); then, when sign is
 * given, a checkpoint signed with it.
 */
xchg_err xchg__matcher_audit(xchg_matcher *m, const char *type, const uint8_t *actor,
                             json_t *data, const xchg_seckey *sign, xchg_diag *d);

/* An operator's key and text, checked before anything is written: the key must be an
 * operator's of the agreement (XCHG_ERR_DENIED; what says what operators do), the reason
 * acceptable text (XCHG_ERR_ARG). *who is the operator's party index. */
xchg_err xchg__operator_check(xchg_matcher *m, const xchg_seckey *op, const char *reason,
                              const char *what, size_t *who, xchg_diag *d);
/* The same for an operator named by key id (hex): a request made elsewhere (remote). */
xchg_err xchg__operator_check_kid(xchg_matcher *m, const char *operator_kid, const char *reason,
                                  const char *what, size_t *who, xchg_diag *d);

/* Roll decisions recorded in the audit log forward into the store (release.c). */
xchg_err xchg__release_roll_forward(xchg_matcher *m, const xchg_audit_entry *e, xchg_diag *d);

/* The verified review decisions (newest per pair) as link decisions on current row ids
 * (review.c); *out malloc'ed. */
xchg_err xchg__review_load(xchg_matcher *m, xchg_link_decision **out, size_t *n,
                           size_t *ignored, xchg_diag *d);
xchg_err xchg__review_roll_forward(xchg_matcher *m, const xchg_audit_entry *e, xchg_diag *d);

/* json_stringn cut to the audit log's string limit (at a UTF-8 boundary) */
json_t *xchg__audit_str(const char *s);

#endif
