/*
 * TEST ONLY — never installed, never used by the library or the tools.
 *
 * The unit tests seal, ingest and release under agreements they write on the fly and do
 * not sign. xchg__agreement_trust_unverified wraps such a parsed policy as an
 * xchg_agreement WITHOUT checking any signature, validity date or byte: exactly what the
 * public API refuses to do (include/exchange/policy.h). It is a hidden symbol of the
 * static library only (no XCHG_API), reachable from code that puts libexchange/ on its
 * include path. Takes ownership of p (freed on failure); XCHG_ERR_ARG / XCHG_ERR_NOMEM.
 */
#ifndef XCHG_AGREEMENT_TESTING_H
#define XCHG_AGREEMENT_TESTING_H

#include "exchange/policy.h"

xchg_err xchg__agreement_trust_unverified(xchg_policy *p, xchg_agreement **out);

/* Test shorthands: xchg_policy_parse / _parse_file, then trusted unverified. */
static inline xchg_err t_agreement_parse(const char *text, size_t len, const char *file,
                                         xchg_agreement **out, xchg_diag *d)
{
    xchg_policy *p = NULL;
    xchg_err e = xchg_policy_parse(text, len, file, &p, d);
    return e != XCHG_OK ? e : xchg__agreement_trust_unverified(p, out);
}

static inline xchg_err t_agreement_file(const char *path, xchg_agreement **out, xchg_diag *d)
{
    xchg_policy *p = NULL;
    xchg_err e = xchg_policy_parse_file(path, &p, d);
    return e != XCHG_OK ? e : xchg__agreement_trust_unverified(p, out);
}

#endif
