/*
 * exchange — opening a referral packet as the recipient team: the one module that reads a
 * packet body (the release module writes it). xchg_referral_open decrypts and verifies the
 * packet (packet.h), verifies that approvals_required distinct operators of the agreement
 * signed an approval of exactly this family, for this recipient, run and members
 * (release.h), checks that the counts it states are the counts it holds, and decrypts
 * every released record's detail with the recipient's key. Format: docs/formats.md
 * ("Referral packet").
 */
#ifndef XCHG_REFERRAL_H
#define XCHG_REFERRAL_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xchg_referral_field {
    const char *name, *value;
} xchg_referral_field;

typedef struct xchg_referral_record {
    const char *agency;       /* party id */
    const char *agency_label; /* from the agreement */
    const char *ref;          /* the agency's record reference */
    const char *consent;      /* given / refused / not sought / withdrawn */
    const char *basis;        /* why it could be released */
    xchg_referral_field *fields;
    size_t nfields;
    const char *error; /* non-NULL: the detail could not be opened (and why) */
} xchg_referral_record;

typedef struct xchg_referral_withheld {
    const char *agency, *agency_label, *ref, *reason;
} xchg_referral_withheld;

typedef struct xchg_referral_member {
    const char *person; /* the recipient's pseudonym of the person */
    xchg_referral_record *records;
    size_t nrecords;
    const char *notice;               /* the agreement's notice that more is held, or NULL */
    xchg_referral_withheld *withheld; /* only for agencies whose rule names them */
    size_t nwithheld;
} xchg_referral_member;

typedef struct xchg_referral_problem {
    const char *code, *title, *first, *last;
    const char **agencies; /* party ids whose released records evidence it */
    size_t nagencies;
} xchg_referral_problem;

typedef struct xchg_referral_approval {
    const char *operator_key; /* key id, hex */
    const char *party, *label, *time, *reason;
} xchg_referral_approval;

typedef struct xchg_referral {
    const char *packet_id, *created, *recipient, *family, *window_ends;
    int64_t run;
    long rule_at_least;
    xchg_referral_problem *problems;
    size_t nproblems;
    xchg_referral_member *members;
    size_t nmembers;
    xchg_referral_approval *approvals; /* the verified ones */
    size_t napprovals;
    unsigned records_released; /* as counted in the packet, equal to what it holds */
    unsigned errors;           /* released records whose detail did not open */
} xchg_referral;

/*
 * Open the packet at path with the recipient's key under the verified agreement agr.
 * Errors: those of xchg_packet_open; XCHG_ERR_VERSION for a packet made before packets
 * carried signed approvals; XCHG_ERR_DENIED when fewer than approvals_required distinct
 * operators' approvals verify, or an approval is for another family, recipient, run or
 * set of members; XCHG_ERR_FORMAT when the stated counts differ from the contents. A
 * record whose detail does not decrypt is kept with its error (r->errors counts them).
 * *out only on success; free with xchg_referral_free (which wipes the detail).
 */
XCHG_API xchg_err xchg_referral_open(const xchg_agreement *agr, const xchg_seckey *recipient,
                                     const char *path, xchg_referral **out,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/* The referral as JSON (decrypted detail in place of ciphertext), malloc'ed; NULL on
 * memory exhaustion. The caller wipes and frees it. */
XCHG_API char *xchg_referral_to_json(const xchg_referral *r);

XCHG_API void xchg_referral_free(xchg_referral *r);

#ifdef __cplusplus
}
#endif
#endif
