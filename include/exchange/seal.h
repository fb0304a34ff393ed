/*
 * exchange — sealing: an agency's CSV extract becomes a sealed extract (.xex).
 *
 * For each row: map the agency's columns to canonical fields as the agreement says,
 * normalise and validate them, derive keyed tokens (exact match keys, blocking keys,
 * household keys, declared relationships) and the Bloom-filter encoding, evaluate the
 * agreement's indicators, read consent, and encrypt the releasable detail to the
 * agreement's recipients. The records are written to a container signed by the agency
 * and encrypted to the matcher (xex.h). Nothing identifying leaves in clear.
 */
#ifndef XCHG_SEAL_H
#define XCHG_SEAL_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/oprf.h"
#include "exchange/policy.h"
#include "exchange/secret.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An agency-local mapping (docs/mapping.md): YAML kept by the agency, signed by nobody,
 * mapping its own CSV headers, date formats and code translations onto the canonical
 * fields the agreement lets that agency send. Opaque; made by xchg_mapping_load or
 * _parse against a parsed agreement, released by xchg_mapping_free (NULL is fine). It
 * refers into p, which must outlive it.
 */
typedef struct xchg_mapping xchg_mapping;

/*
 * Parse a mapping (len bytes of text; file names it in messages) against agreement p.
 * Every problem is reported as "file:line:col: error: ..." in d: a field that is not the
 * agreement's, one the agreement does not let this agency send (refused: only agreed
 * fields leave the agency), a field mapped twice or not at all, a code translated to a
 * value the agreement does not allow, a date format without %d %m %Y, another
 * agreement's or a non-agency's mapping. *out only on success.
 * Errors: XCHG_ERR_POLICY (invalid mapping), XCHG_ERR_FORMAT (not YAML), XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_mapping_parse(const xchg_policy *p, const char *text, size_t len,
                                     const char *file, xchg_mapping **out, xchg_diag *d)
    XCHG_MUST_CHECK;
/* Read (at most 1 MiB) and parse a mapping file; also XCHG_ERR_IO. */
XCHG_API xchg_err xchg_mapping_load(const xchg_policy *p, const char *path, xchg_mapping **out,
                                    xchg_diag *d) XCHG_MUST_CHECK;
XCHG_API void xchg_mapping_free(xchg_mapping *m);
/* The party index of the agency the mapping is for (XCHG_NONE for NULL). */
XCHG_API size_t xchg_mapping_agency(const xchg_mapping *m);

/*
 * The CSV an agency's extract must look like: a header line and one sample row (each
 * ending in "\n"), in the mapping's columns (m may be NULL: the agreement's own), with
 * sample values valid for each field's type and first date format. *out is malloc'ed.
 * Errors: XCHG_ERR_ARG (agency is not an agency with an extract), XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_seal_template(const xchg_policy *p, size_t agency, const xchg_mapping *m,
                                     char **out) XCHG_MUST_CHECK;

typedef struct xchg_seal_opts {
    const char *input;    /* the agency's CSV file (read twice when indicators aggregate) */
    const char *output;   /* the sealed extract to write */
    int overwrite;        /* replace an existing output */
    int32_t period_start; /* the evidence period the extract covers (days since 1970) */
    int32_t period_end;
    int strict;           /* fail the whole run on any bad row (default: seal the good rows) */
    const char *report;   /* optional CSV validation report (line, field, outcome, problem) */
    int64_t now;          /* creation time (Unix seconds) for the header */
    size_t max_messages;  /* row messages kept in the diagnostics; 0 means 200 */
    /* What the extract is (header "kind", docs/formats.md): 0 a full snapshot — every
     * record the agency holds for the period, replacing what it sent before for that
     * period — or 1 an incremental extract adding to it. */
    int incremental;
    /* Allow a full snapshot with no data rows (it withdraws everything the agency sent
     * for the period). Without it a header-only CSV is refused; an empty incremental
     * extract is always refused (nothing to send). */
    int allow_empty;
    /* The agency's mapping (docs/mapping.md), or NULL for the agreement's own columns.
     * It must be for the sealing agency (XCHG_ERR_DENIED otherwise). */
    const xchg_mapping *mapping;
    /* Validate and report only: every stage runs, nothing is written (neither output
     * nor report; output may be NULL); the result is what sealing would give. */
    int check_only;
    /* OPRF mode (the agreement's tokens.mode: oprf, docs/keyd.md): how to reach the key
     * service (xchg seal signs each request with the agency's key), and the batch size
     * (0: XCHG_OPRF_MAX_BATCH). Required in OPRF mode; unused otherwise. */
    xchg_oprf_transport oprf_transport;
    void *oprf_ctx;
    size_t oprf_batch;
    /* OPRF mode: threads for the agency's side of the protocol (0: the online CPUs; 1:
     * none beside the caller). The sealed records do not depend on it. */
    unsigned oprf_threads;
    /* OPRF mode: the agency's cache of outputs across seals (xchg_oprf_cache_open; NULL:
     * none). Only values it does not hold go to the service; once the extract is written
     * the cache is replaced by the values this seal used (never with check_only). Given
     * without tokens.mode: oprf: XCHG_ERR_ARG. */
    const char *oprf_cache;
} xchg_seal_opts;

typedef struct xchg_seal_stats {
    uint64_t rows;                 /* data rows read */
    uint64_t sealed;               /* records written */
    uint64_t rejected;             /* rows not sealed (bad rows) */
    uint64_t warnings;             /* row warnings (e.g. an identifier dropped) */
    uint64_t dropped_identifiers;  /* invalid identifiers left out of the tokens */
    uint64_t indicators;           /* indicator events written */
    uint64_t out_of_period;        /* indicator events outside the period, not sent */
    uint64_t no_tokens;            /* rows sealed with no match token at all */
    /* records whose consent does not meet the agreement's identification rule
     * (xchg_consent_decide, purpose "identification"): sealed without indicators */
    uint64_t identification_denied;
    uint64_t indicators_withheld;  /* indicator events those records did not carry */
    uint8_t extract_id[16];
    /* fields whose share of unparseable values is above the agreement's quality
     * threshold (xchg_policy_max_unparseable): with strict, the run fails */
    uint64_t quality_failures;
    uint64_t oprf_inputs;   /* OPRF mode: distinct values evaluated by the key service */
    uint64_t oprf_requests; /* and the requests (batches) that took */
    uint64_t oprf_cached;   /* OPRF mode: distinct values the agency's cache answered */
} xchg_seal_stats;

/*
 * Seal opts->input for the agency holding `agency` under the verified agreement agr and
 * linkage secret s. Row problems are reported as "file:line: ..." in d (at most
 * max_messages, then a count) and, all of them, in the optional report. A bad row (no
 * record reference, a duplicate reference, a value a used field cannot take, an
 * unparseable indicator date) is left out and reported; with strict, or when every row
 * is bad, the run fails. An invalid identifier only drops that identifier from the row's
 * tokens, with a warning. A record reference must be valid UTF-8 without control
 * characters (xchg_text_check). A file with no data rows fails unless allow_empty (and
 * always when incremental). A record whose consent does not meet the agreement's rule
 * for the purpose "identification" is sealed with its tokens, consent and payload but no
 * indicator events (data minimisation: the matcher never receives evidence it may not
 * use), counted in identification_denied and listed in the report. A field whose
 * unparseable non-empty values exceed its quality share (a column in the wrong date
 * format) is reported naming the column and its first lines: a warning, and with strict
 * a failure. On any failure, and always with check_only, nothing is written at
 * opts->output (nor the report).
 * use), counted in identification_denied and listed in the report. On any failure
 * nothing is written at opts->output (nor the report).
 * In OPRF mode every distinct match-key input of the file is evaluated through the key
 * service first (a pass before anything is written); a refusal (e.g. the agency's daily
 * rate limit) or a response that does not verify fails the run with the reason in d.
 * Errors: XCHG_ERR_DENIED (key is not an agency of agr; or agr says `release_key: required`
 * and the key has not been dealt — refused before anything is read or written, a
 * check_only run passes with a warning), XCHG_ERR_FORMAT (bad CSV, a
 * missing column, bad rows), XCHG_ERR_EXISTS, XCHG_ERR_IO, XCHG_ERR_NOMEM; in OPRF mode
 * also XCHG_ERR_ARG (no transport), XCHG_ERR_VERIFY and the transport's errors.
 */
XCHG_API xchg_err xchg_seal(const xchg_agreement *agr, const xchg_seckey *agency,
                            const xchg_secret *s, const xchg_seal_opts *opts,
                            xchg_seal_stats *stats, xchg_diag *d) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
