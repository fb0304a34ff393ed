/*
 * exchange — reading a sealed extract as the matcher: the container (xex.h) plus the
 * extract's meaning. Every check that does not need the linkage secret happens here:
 * the header names this agreement (id and exact hash), an agency of it, the signer is
 * that agency's key as the agreement pins it, the epoch is the expected one, and every
 * record refers only to keys and problems the agreement defines and the agency may
 * assert. Consumers must not commit anything before xchg_extract_finish returns XCHG_OK.
 */
#ifndef XCHG_EXTRACT_H
#define XCHG_EXTRACT_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"
#include "exchange/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xchg_extract_info {
    char agreement_id[65];
    uint8_t agreement_hash[32];
    size_t agency;            /* party index in the agreement */
    uint32_t epoch;
    char secret_fingerprint[33];
    int32_t period_start, period_end;
    int64_t created;
    uint8_t extract_id[XCHG_EXTRACT_ID_BYTES];
    size_t clk_bytes;
    /* header "kind": 0 a full snapshot ("full", or no "kind" in files sealed before it
     * existed), 1 an incremental extract ("incremental") */
    int incremental;
    const char *header_json;  /* the header as written */
} xchg_extract_info;

typedef struct xchg_extract_file xchg_extract_file;

/*
 * Open path with the matcher's key for the verified agreement agr. expect_epoch 0 accepts
 * any epoch. Errors (distinct messages in d): those of xchg_xex_reader_open
 * (XCHG_ERR_UNKNOWN_KEY for a file sealed to another matcher), XCHG_ERR_FORMAT (header
 * not an extract header, or a "kind" other than "full" or "incremental"), XCHG_ERR_DENIED (another agreement or version of it, a party
 * that is not an agency, a wrong epoch), XCHG_ERR_UNKNOWN_KEY (signed by a key that is
 * not the agency's).
 */
XCHG_API xchg_err xchg_extract_open(const xchg_agreement *agr, const xchg_seckey *matcher,
                                    const char *path, uint32_t expect_epoch,
                                    xchg_extract_file **out, xchg_diag *d) XCHG_MUST_CHECK;

XCHG_API const xchg_extract_info *xchg_extract_file_info(const xchg_extract_file *f);

/*
 * The next record, decoded and checked against the agreement; pointers in *r are valid
 * until the next call. *end = 1 after the last record. Errors: container errors, and
 * XCHG_ERR_FORMAT for a record that is malformed or names a key or problem the agreement
 * does not give this agency.
 */
XCHG_API xchg_err xchg_extract_next(xchg_extract_file *f, xchg_record *r, int *end, xchg_diag *d)
    XCHG_MUST_CHECK;

/* Verify the whole file (signature, count); XCHG_OK only if everything read is genuine. */
XCHG_API xchg_err xchg_extract_finish(xchg_extract_file *f, uint64_t *count, xchg_diag *d)
    XCHG_MUST_CHECK;

XCHG_API void xchg_extract_close(xchg_extract_file *f);

#ifdef __cplusplus
}
#endif
#endif
