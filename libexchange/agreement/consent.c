/*
 * The consent decision (consent.h). The referral logic is release.c's may_release,
 * ported unchanged (same order, same reasons) so that release.c can call this instead.
 */
#include "exchange/consent.h"
#include "exchange/date.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "yaml_internal.h"

const char *const xchg__consent_value_keys[5] = {"given", "refused", "not_sought", "withdrawn",
                                                 NULL};

const xchg_consent_rule *xchg_consent_rule_for(const xchg_policy *p, size_t agency,
                                               const char *purpose)
{
    if (!p || !purpose)
        return NULL;
    const xchg_policy_data *pd = xchg_policy_get(p);
    for (size_t i = 0; i < pd->nconsent; i++)
        if (pd->consent[i].agency == agency && strcmp(pd->consent[i].purpose, purpose) == 0)
            return &pd->consent[i];
    return NULL;
}

XCHG_PRINTF(3, 4)
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(why, whylen, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

static int listed_basis(const xchg_consent_rule *r, const char *basis)
{
    for (size_t i = 0; r && basis && *basis && i < r->nunless; i++)
        if (strcmp(basis, r->unless_basis[i]) == 0)
            return 1;
    return 0;
}

static void withdrawn_text(char *buf, size_t n, int32_t cdate)
{
    if (cdate != XCHG_DATE_NONE) {
        char dd[11];
        xchg_date_format(cdate, dd);
        snprintf(buf, n, "consent withdrawn on %s", dd);
    } else {
        snprintf(buf, n, "consent withdrawn");
    }
}

int xchg_consent_decide(const xchg_policy *p, size_t agency, const char *purpose, int consent,
                        int32_t cdate, const char *basis, char *why, size_t whylen)
{
    if (!p || !purpose) {
        say(why, whylen, "no agreement or purpose given");
        return 0;
    }
    int ident = strcmp(purpose, XCHG_PURPOSE_IDENTIFICATION) == 0;
    const xchg_consent_rule *r = xchg_consent_rule_for(p, agency, purpose);
    /* identification without a rule of its own: the agreement's legal basis applies */
    static const xchg_consent_rule ident_default = {.agency = XCHG_NONE,
                                                    .purpose = XCHG_PURPOSE_IDENTIFICATION,
                                                    .requires = XCHG_REQ_NONE,
                                                    .objection_stops = 1};
    if (!r && ident)
        r = &ident_default;
    if (!r) {
        if (strcmp(purpose, XCHG_PURPOSE_REFERRAL) == 0)
            say(why, whylen, "the agreement sets no release rule for this agency");
        else
            say(why, whylen, "the agreement sets no rule for purpose '%s' for this agency",
                purpose);
        return 0;
    }
    char wd[64];
    if (ident && consent == XCHG_CONSENT_WITHDRAWN && r->objection_stops) {
        if (listed_basis(r, basis)) {
            say(why, whylen, "recorded legal basis: %s", basis);
            return 1;
        }
        withdrawn_text(wd, sizeof wd, cdate);
        say(why, whylen, "%s: an objection stops identification", wd);
        return 0;
    }
    if (r->requires == XCHG_REQ_NONE) {
        say(why, whylen, "the agreement's legal basis (no consent needed)");
        return 1;
    }
    if (consent == XCHG_CONSENT_GIVEN) {
        say(why, whylen, "%s",
            r->requires == XCHG_REQ_EXPLICIT ? "explicit consent recorded"
            : ident                          ? "the person agreed to take part"
                                             : "the person agreed to the referral");
        return 1;
    }
    if (listed_basis(r, basis)) {
        say(why, whylen, "recorded legal basis: %s", basis);
        return 1;
    }
    switch (consent) {
    case XCHG_CONSENT_REFUSED:
        say(why, whylen, "consent refused");
        break;
    case XCHG_CONSENT_WITHDRAWN:
        withdrawn_text(wd, sizeof wd, cdate);
        say(why, whylen, "%s", wd);
        break;
    default:
        say(why, whylen, "consent not yet sought — ask the family");
        break;
    }
    return 0;
}
