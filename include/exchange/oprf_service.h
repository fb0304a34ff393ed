/*
 * exchange — the OPRF key service's rules (xchg-keyd is HTTP plumbing over this module).
 *
 * A service object holds the agreement (verified by the caller), the OPRF key k (checked
 * against the agreement's tokens.key), the agreement's request authentication and the
 * service's audit log. It decides everything a request to the key service is subject to:
 *
 *   - who may ask: requests are signed (include/exchange/netauth.h); POST /v1/oprf is for
 *     agencies only, GET /v1/health for any party;
 *   - what a request may be: one batch (docs/formats.md), every element a valid point;
 *   - how much: each agency has tokens.queries_per_day evaluations per UTC day; a batch
 *     that would pass it is refused whole;
 *   - what is written down: every authenticated OPRF request, answered or refused, is one
 *     entry of type "oprf" in a hash-chained audit log (include/exchange/audit.h; genesis
 *     names the agreement and the custodian's key), fsync'd BEFORE the answer exists, so no
 *     evaluation goes unrecorded. Entries hold counts, never a point or a value.
 *
 * At open the whole log is verified (a deleted, reordered or edited entry, or a partly
 * written last line, refuses the start with the line) and today's evaluations are summed
 * per agency from it, so a restart does not reset the day's count. A log started by an
 * older xchg-keyd (plain JSON lines) is refused as such: start a new one.
 */
#ifndef XCHG_OPRF_SERVICE_H
#define XCHG_OPRF_SERVICE_H

#include "exchange/common.h"
#include "exchange/netauth.h"
#include "exchange/oprf.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_AUDIT_OPRF "oprf" /* audit entry type of the key service */

typedef struct xchg_oprf_service xchg_oprf_service;

/*
 * Open the service for the verified agreement agr (borrowed: it must outlive the service) with OPRF key
 * sk (copied into locked memory; the caller wipes its copy) and the audit log at
 * audit_path (created, 0600, when it does not exist). now: Unix seconds (the UTC day the
 * counts restore). Errors, each with a reason in d: XCHG_ERR_POLICY (no tokens: {mode:
 * oprf}), XCHG_ERR_DENIED (sk is not the key of tokens.key), XCHG_ERR_UNKNOWN_KEY (the
 * agreement has no custodian party), the log's errors (XCHG_ERR_VERIFY, _FORMAT,
 * _TRUNCATED, _VERSION, _IO: the log does not verify; naming file and line), NOMEM.
 * *out only on success.
 */
XCHG_API xchg_err xchg_oprf_service_open(const xchg_agreement *agr,
                                         const uint8_t sk[XCHG_OPRF_SCALAR_BYTES],
                                         const char *audit_path, int64_t now,
                                         xchg_oprf_service **out, xchg_diag *d) XCHG_MUST_CHECK;
/* Accepts NULL; wipes the key. */
XCHG_API void xchg_oprf_service_free(xchg_oprf_service *s);

/* Append every received point in hex to path (tests only: what the service is given). */
XCHG_API xchg_err xchg_oprf_service_record_inputs(xchg_oprf_service *s, const char *path,
                                                  xchg_diag *d) XCHG_MUST_CHECK;

/* What the service decided about a request. */
typedef enum xchg_oprf_outcome {
    XCHG_OPRF_ANSWERED = 0,    /* body holds the answer */
    XCHG_OPRF_UNAUTHENTICATED, /* unsigned, badly signed, stale, replayed, body swapped */
    XCHG_OPRF_FORBIDDEN,       /* signed by a party whose role may not ask */
    XCHG_OPRF_NO_ENDPOINT,     /* neither "oprf" nor "health" */
    XCHG_OPRF_BAD_REQUEST,     /* malformed batch, or an element not a valid point */
    XCHG_OPRF_RATE_LIMITED,    /* over the agency's queries_per_day (recorded) */
    XCHG_OPRF_FAILED,          /* the audit could not be written, or evaluation failed */
    XCHG_OPRF_BUSY             /* the replay cache is full: try again later */
} xchg_oprf_outcome;

typedef struct xchg_oprf_reply {
    xchg_oprf_outcome outcome;
    char message[400]; /* the reason of a refusal, for the requester */
    size_t party;      /* the authenticated party (once authenticated) */
    size_t evaluations;
    uint8_t *body; /* ANSWERED: malloc'd response body (the caller frees) */
    size_t len;
    xchg_netauth_reason auth; /* UNAUTHENTICATED / FORBIDDEN: why */
} xchg_oprf_reply;

/* The endpoints, by path: "/v1/oprf" (POST) and "/v1/health" (GET). */
#define XCHG_OPRF_PATH "/v1/oprf"
#define XCHG_OPRF_HEALTH_PATH "/v1/health"

/*
 * Authenticate a request's head (method, path and the signed headers in rq) at time now,
 * before its body is read: the signature, time window, replay cache and the role the
 * endpoint admits. XCHG_OK with r->party set, or an error with r->outcome and r->message
 * (UNAUTHENTICATED, FORBIDDEN, NO_ENDPOINT). Thread-safe.
 */
XCHG_API xchg_err xchg_oprf_service_admit(xchg_oprf_service *s, const xchg_netauth_request *rq,
                                          int64_t now, xchg_oprf_reply *r) XCHG_MUST_CHECK;

/*
 * Answer an admitted POST /v1/oprf: body must hash to the signed body_sha256 (hex, from
 * the admitted head), be one well-framed batch of valid points, and fit in the agency's
 * day; the request is then counted and written to the audit log, and only then
 * evaluated. A refusal for the rate limit is recorded too. On XCHG_OK r->body is the
 * answer; otherwise r->outcome and r->message say why (nothing allocated). Thread-safe
 * (one lock around the count and the log; evaluation runs outside it).
 */
XCHG_API xchg_err xchg_oprf_service_answer(xchg_oprf_service *s, size_t party,
                                           const char *body_sha256_hex, const uint8_t *body,
                                           size_t len, int64_t now,
                                           xchg_oprf_reply *r) XCHG_MUST_CHECK;

/* Evaluations counted for party on the UTC day of now (0 for another day's). */
XCHG_API uint64_t xchg_oprf_service_used(xchg_oprf_service *s, size_t party, int64_t now);

/* The party id that runs the service (tokens.custodian, default the agreement's owner). */
XCHG_API const char *xchg_oprf_service_custodian(const xchg_oprf_service *s);
/* The index of that party in p, XCHG_NONE when p is not in OPRF mode or names none. Its
 * key is the one the service's audit log names in its genesis entry (xchg audit verify
 * checks the key service's log against it). */
XCHG_API size_t xchg_oprf_custodian(const xchg_policy *p);

#ifdef __cplusplus
}
#endif
#endif
