/*
 * exchange — the matcher's append-only audit log.
 *
 * A text file of JSON lines (docs/formats.md, "Audit log"). Every entry carries its
 * sequence number, the hash of the entry before it and its own hash, so removing,
 * reordering or editing any entry breaks the chain at that entry. Checkpoint entries
 * add the matcher's Ed25519 signature over the chain head, so whoever holds the
 * matcher's public key (from the agreement) knows the log up to a checkpoint was written
 * by the matcher. xchg_audit_verify needs no database key and no secret at all.
 *
 * Entries must never hold personal data: callers record counts, extract ids, family and
 * person pseudonyms, key ids and reasons, never names, dates of birth, addresses or
 * identifiers. As a guard, xchg_audit_append refuses data whose strings are longer than
 * XCHG_AUDIT_STRING_MAX bytes, and any floating-point number (their JSON text is not
 * canonical).
 */
#ifndef XCHG_AUDIT_H
#define XCHG_AUDIT_H

#include "exchange/common.h"
#include "exchange/crypto.h"
#include "exchange/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_AUDIT_FORMAT "exchange-audit" /* genesis data "format" */
#define XCHG_AUDIT_VERSION 1               /* genesis data "version" */
#define XCHG_AUDIT_STRING_MAX 512          /* longest string (or object key) in data, bytes */
#define XCHG_AUDIT_DATA_MAX 16384          /* longest canonical data object, bytes */
#define XCHG_AUDIT_DEPTH_MAX 4             /* deepest nesting of objects/arrays inside data */
#define XCHG_AUDIT_LINE_MAX 65536          /* longest line a reader accepts, newline included */
#define XCHG_AUDIT_TYPE_MAX 32             /* longest entry type */

/* Entry types the tools write (any [a-z][a-z0-9_]* of at most 32 bytes is accepted). */
#define XCHG_AUDIT_GENESIS "genesis"       /* first entry; written by xchg_audit_open only */
#define XCHG_AUDIT_CHECKPOINT "checkpoint" /* written by xchg_audit_checkpoint only */
#define XCHG_AUDIT_INGEST "ingest"
#define XCHG_AUDIT_RUN "run"
#define XCHG_AUDIT_APPROVE "approve"
#define XCHG_AUDIT_REJECT "reject"
#define XCHG_AUDIT_RELEASE "release"
#define XCHG_AUDIT_OPEN_RECEIPT "open_receipt"
#define XCHG_AUDIT_CONSENT_WITHDRAWAL "consent_withdrawal"
#define XCHG_AUDIT_PURGE "purge"
#define XCHG_AUDIT_CLAIMS "claims" /* a claim list and its evidence packs were written */
#define XCHG_AUDIT_KEY "key"
#define XCHG_AUDIT_REVIEW "review"
#define XCHG_AUDIT_REPORT "report"

typedef struct xchg_audit xchg_audit;

/* What the genesis entry of a new log records. */
typedef struct xchg_audit_genesis {
    const char *agreement_id;                    /* the agreement the matcher works under */
    uint8_t agreement_sha256[XCHG_SHA256_BYTES]; /* xchg_policy_hash of it */
    uint8_t matcher_key[XCHG_KEYID_BYTES];       /* the matcher's key id: signs checkpoints */
} xchg_audit_genesis;

/*
 * Open the log at path for appending. With create == NULL the file must exist and its
 * first line must be a genesis entry (XCHG_ERR_NOT_FOUND, XCHG_ERR_FORMAT,
 * XCHG_ERR_VERSION otherwise). With create != NULL a new log is made: mode 0600,
 * holding only the genesis entry, written atomically (temporary file, fsync, link); an
 * existing file is never touched (XCHG_ERR_EXISTS). The whole log is not verified here;
 * each append checks the entry it extends. *out only on success; free with
 * xchg_audit_close.
 */
XCHG_API xchg_err xchg_audit_open(const char *path, const xchg_audit_genesis *create,
                                  xchg_audit **out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Append one entry of the given type with data_json (a JSON object, e.g. "{}" or
 * "{\"extract\":\"ab12..\",\"records\":120}"; NULL means {}). actor is the key id of
 * the person or party who acted, or NULL for none. Under an exclusive flock on the log,
 * reads the last entry, checks it (its hash recomputes), writes one line after it and
 * fsyncs, so concurrent writers in other processes never interleave. A last line without
 * its newline (a crash mid-write) is reported as XCHG_ERR_TRUNCATED and never extended.
 * Errors: XCHG_ERR_ARG (type malformed or reserved, data not an object, a string longer
 * than XCHG_AUDIT_STRING_MAX, a real number, nesting or size over the limits),
 * XCHG_ERR_FORMAT / XCHG_ERR_VERIFY (the last entry is damaged), XCHG_ERR_IO. On error
 * the file is as it was (a partial write is cut off again). *seq_out (may be NULL) gets
 * the new entry's sequence number.
 */
XCHG_API xchg_err xchg_audit_append(xchg_audit *a, const char *type,
                                    const uint8_t actor[XCHG_KEYID_BYTES], const char *data_json,
                                    uint64_t *seq_out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Append a checkpoint: the matcher's Ed25519 signature over the current chain head
 * (docs/formats.md). matcher must be the key named in the genesis entry
 * (XCHG_ERR_UNKNOWN_KEY otherwise). Locking and errors as xchg_audit_append.
 */
XCHG_API xchg_err xchg_audit_checkpoint(xchg_audit *a, const xchg_seckey *matcher,
                                        uint64_t *seq_out, xchg_diag *d) XCHG_MUST_CHECK;

/* Close the log; accepts NULL. */
XCHG_API void xchg_audit_close(xchg_audit *a);

/* What xchg_audit_verify found. Fields after a failure describe the part read so far. */
typedef struct xchg_audit_stats {
    uint64_t entries;             /* complete, valid entries (genesis included) */
    uint64_t checkpoints;         /* valid checkpoints */
    int have_checkpoint;          /* at least one checkpoint */
    uint64_t last_checkpoint_seq; /* seq of the last checkpoint (when have_checkpoint) */
    uint64_t unsigned_entries;    /* entries after the last checkpoint: not yet signed */
    uint64_t head_seq;            /* seq of the last valid entry */
    char head_hash[2 * XCHG_SHA256_BYTES + 1]; /* its hash, hex */
    char agreement_id[128];                    /* from the genesis entry */
    char agreement_sha256[2 * XCHG_SHA256_BYTES + 1];
    char matcher_key[XCHG_KEYID_HEXLEN + 1];
    uint64_t first_bad_line; /* 1-based line of the first problem, 0 when none */
} xchg_audit_stats;

/*
 * Verify the whole log at path: every line is a complete, canonical entry; the first is
 * the genesis entry (seq 0, prev all zeros); each seq is one more than the one before;
 * each prev equals the hash of the line before; each hash recomputes; every checkpoint
 * signs the entry before it and verifies with matcher's Ed25519 key, and the genesis
 * names matcher's key id. matcher may be NULL to check the chain alone (signatures are
 * then not checked, and a warning says so). Stops at the FIRST problem and reports it
 * with its line ("path:LINE: error: ..."). Entries after the last checkpoint are
 * reported as a warning (they are valid but unsigned). Returns XCHG_OK,
 * XCHG_ERR_FORMAT (malformed line), XCHG_ERR_VERSION, XCHG_ERR_VERIFY (chain or
 * signature broken), XCHG_ERR_UNKNOWN_KEY (signed by a key that is not the matcher's),
 * XCHG_ERR_TRUNCATED (the last line is incomplete), XCHG_ERR_NOT_FOUND / XCHG_ERR_IO.
 * st may be NULL.
 */
XCHG_API xchg_err xchg_audit_verify(const char *path, const xchg_pubkey *matcher,
                                    xchg_audit_stats *st, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Check that the log at older (e.g. an export an IG lead kept) is a prefix, byte for
 * byte, of the log at newer: nothing the older copy holds was removed or rewritten
 * since. Reports the first line that differs, or that newer is shorter. Returns XCHG_OK,
 * XCHG_ERR_VERIFY, XCHG_ERR_NOT_FOUND / XCHG_ERR_IO. Verify each file on its own too.
 */
XCHG_API xchg_err xchg_audit_compare(const char *older, const char *newer,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Export the log at path to out: a byte-exact copy of its complete lines, read under a
 * shared lock so no half-written entry is copied, written atomically (mode 0644;
 * XCHG_WRITE_OVERWRITE in flags replaces an existing out). The copy verifies exactly as
 * the log does. An incomplete last line is left out with a warning. *entries (may be
 * NULL) gets the number of lines exported.
 */
XCHG_API xchg_err xchg_audit_export(const char *path, const char *out, unsigned flags,
                                    uint64_t *entries, xchg_diag *d);

/* One entry as xchg_audit_foreach presents it; strings valid during the callback only. */
typedef struct xchg_audit_entry {
    uint64_t line; /* 1-based */
    uint64_t seq;
    int64_t time; /* Unix seconds */
    const char *type;
    const char *actor; /* key id hex, or "" */
    const char *data;  /* the data object, canonical JSON */
    const char *hash;  /* hex */
} xchg_audit_entry;

/* Return non-zero to stop early (xchg_audit_foreach then returns XCHG_OK). */
typedef int (*xchg_audit_visit)(const xchg_audit_entry *e, void *ctx);

/*
 * Read the log at path and call visit for each entry in order. Checks only that each
 * line is a well-formed entry (XCHG_ERR_FORMAT / XCHG_ERR_TRUNCATED with the line):
 * use xchg_audit_verify to check the chain and signatures.
 */
XCHG_API xchg_err xchg_audit_foreach(const char *path, xchg_audit_visit visit, void *ctx,
                                     xchg_diag *d) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
