/*
 * exchange — the sealed-extract container (.xex): a signed, encrypted, streaming file of
 * opaque records.
 *
 * An agency (the signer) writes a caller-defined header followed by any number of records
 * (each at most XCHG_XEX_RECORD_MAX bytes) to a file that only the matcher can read and
 * that proves which agency wrote it. Nothing is ever held in memory beyond one record.
 * Only libsodium constructions are used: crypto_box_seal carries a random per-file key to
 * the matcher, crypto_secretstream_xchacha20poly1305 encrypts the body, and a multi-part
 * Ed25519ph signature (crypto_sign_init/update/final_create) in the final message covers
 * the clear preamble, the signer's key id, the header, every record in order and the
 * record count. Byte layout: docs/formats.md, "Sealed extract container (.xex)".
 *
 *   !!! Records returned by xchg_xex_reader_next() are NOT yet authenticated as a whole.
 *   !!! Each record is individually AEAD-authenticated and in order, but records cut off
 *   !!! the end of the file and a forged signer are only detected by the final message,
 *   !!! which xchg_xex_reader_finish() checks. Consumers must stage what they read and
 *   !!! commit nothing (database transaction, output file, decision) before
 *   !!! xchg_xex_reader_finish() has returned XCHG_OK.
 *
 * Typical reader use:
 *   xchg_xex_reader_open(path, matcher_key, &r, d)      -> unseals, reads the header
 *   xchg_xex_reader_header(r, &hlen)                     -> caller finds the agency
 *   xchg_xex_reader_expect_signer(r, &agency_pubkey, d)  -> fails early on another signer
 *   while (xchg_xex_reader_next(r, &rec, &len, &end, d) == XCHG_OK && !end) stage(rec);
 *   xchg_xex_reader_finish(r, &count, d)                 -> XCHG_OK: commit the staged work
 */
#ifndef XCHG_XEX_H
#define XCHG_XEX_H

#include "exchange/common.h"
#include "exchange/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_XEX_VERSION 1
#define XCHG_XEX_MAGIC "XCHGXEX"        /* 7 bytes, followed by the version byte */
#define XCHG_XEX_HEADER_MAX (64u << 10) /* caller header: at most 64 KiB */
#define XCHG_XEX_RECORD_MAX (1u << 20)  /* one record: at most 1 MiB */
#define XCHG_XEX_PREAMBLE_BYTES 120     /* magic+version, key id, sealed key, stream header */

/* ---- writing -------------------------------------------------------------------- */

typedef struct xchg_xex_writer xchg_xex_writer;

/*
 * Start a sealed extract destined for path, readable only with the secret key of matcher
 * and signed with signer's Ed25519 key. header (hlen <= XCHG_XEX_HEADER_MAX bytes, may be
 * empty) is carried verbatim as the first encrypted message.
 *
 * The data goes to a temporary file "<path>.tmp.XXXXXX" (mode 0600) in path's directory;
 * nothing appears under path until xchg_xex_writer_finish succeeds. If path exists and
 * overwrite is 0, fails at once with XCHG_ERR_EXISTS (and again at finish if the file
 * appeared meanwhile). The signer's secret key is copied into guarded memory, so signer
 * need not outlive the writer. Errors: XCHG_ERR_ARG, XCHG_ERR_EXISTS, XCHG_ERR_IO,
 * XCHG_ERR_NOMEM, XCHG_ERR_CRYPTO, each with a message in d. *out is set on success only;
 * on failure no temporary file is left.
 */
XCHG_API xchg_err xchg_xex_writer_new(const char *path, int overwrite, const xchg_pubkey *matcher,
                                      const xchg_seckey *signer, const void *header, size_t hlen,
                                      xchg_xex_writer **out, xchg_diag *d);

/*
 * Append one record of len bytes (0 <= len <= XCHG_XEX_RECORD_MAX). Output is buffered
 * (64 KiB), so this usually makes no system call. Returns XCHG_ERR_ARG for an oversized
 * record (the writer stays usable), or XCHG_ERR_IO / XCHG_ERR_CRYPTO, after which the
 * writer is failed: every later call returns that error and xchg_xex_writer_finish
 * reports its detail.
 */
XCHG_API xchg_err xchg_xex_writer_add(xchg_xex_writer *w, const void *rec, size_t len);

/* Number of records added so far. */
XCHG_API uint64_t xchg_xex_writer_count(const xchg_xex_writer *w);

/*
 * Write the signed final message, flush, fsync, and move the file into place (rename when
 * overwriting, otherwise link, which cannot clobber a file created meanwhile), then fsync
 * the directory. On any failure (including an earlier failed add) the temporary file is
 * removed, nothing is created under path, and the error is described in d. Call it once;
 * xchg_xex_writer_free the writer afterwards either way.
 */
XCHG_API xchg_err xchg_xex_writer_finish(xchg_xex_writer *w, xchg_diag *d);

/*
 * Release w and wipe its keys; accepts NULL. If xchg_xex_writer_finish has not succeeded,
 * the temporary file is removed: an abandoned or failed run leaves no output.
 */
XCHG_API void xchg_xex_writer_free(xchg_xex_writer *w);

/* ---- reading -------------------------------------------------------------------- */

typedef struct xchg_xex_reader xchg_xex_reader;

/*
 * Read the clear preamble of path ("-" = standard input) without any key: the format
 * version and the key id of the matcher the file is sealed to. For diagnostics (e.g.
 * "which key do I need?"). Errors: XCHG_ERR_NOT_FOUND, XCHG_ERR_IO, XCHG_ERR_FORMAT
 * (not a sealed extract), XCHG_ERR_VERSION, XCHG_ERR_TRUNCATED, with a message in d.
 * Outputs are left untouched on error; either may be NULL.
 */
XCHG_API xchg_err xchg_xex_peek(const char *path, unsigned *version,
                                uint8_t matcher_id[XCHG_KEYID_BYTES], xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Open path ("-" = standard input) with the matcher's secret key: checks the preamble,
 * unseals the stream key and decrypts the header. *out (free with xchg_xex_reader_free)
 * is set on success only. Errors, each with a distinct message in d naming path:
 *   XCHG_ERR_FORMAT      not a sealed extract (bad magic), oversized first frame
 *   XCHG_ERR_VERSION     an unsupported format version
 *   XCHG_ERR_UNKNOWN_KEY the file is sealed to another matcher (message names both ids)
 *   XCHG_ERR_VERIFY      the preamble or the header message was altered
 *   XCHG_ERR_TRUNCATED   the file ends inside the preamble or the header message
 *   XCHG_ERR_NOT_FOUND, XCHG_ERR_IO, XCHG_ERR_NOMEM
 */
XCHG_API xchg_err xchg_xex_reader_open(const char *path, const xchg_seckey *matcher,
                                       xchg_xex_reader **out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The caller's header bytes (length in *len); valid as long as r. Authenticated as coming
 * from someone who could encrypt to the matcher -- NOT yet as coming from the signer: use
 * it to choose which signer to expect, and trust it only once xchg_xex_reader_finish has
 * returned XCHG_OK.
 */
XCHG_API const uint8_t *xchg_xex_reader_header(const xchg_xex_reader *r, size_t *len);

/* The key id the file claims was used to sign it (checked by xchg_xex_reader_finish). */
XCHG_API void xchg_xex_reader_signer_id(const xchg_xex_reader *r, uint8_t id[XCHG_KEYID_BYTES]);

/*
 * Set the public key whose signature xchg_xex_reader_finish will require. Fails early,
 * with XCHG_ERR_UNKNOWN_KEY and a message naming both key ids, when the file says it was
 * signed by another key (so a million records are not read for nothing). May be called
 * any time before finish; calling it again replaces the expectation.
 */
XCHG_API xchg_err xchg_xex_reader_expect_signer(xchg_xex_reader *r, const xchg_pubkey *signer,
                                                xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The next record: *rec (owned by r, valid until the next call on r) and *len, with
 * *end = 0. After the last record, sets *end = 1, *rec = NULL, *len = 0 (the final
 * message has been decrypted and the end of file checked, but the signature is checked
 * only by xchg_xex_reader_finish). SEE THE WARNING AT THE TOP: a record is not
 * authenticated as part of the whole file until finish returns XCHG_OK.
 * Errors (the reader is then failed; later calls return the same code):
 *   XCHG_ERR_VERIFY    a record does not authenticate: altered, reordered, duplicated,
 *                      removed, or spliced from another file
 *   XCHG_ERR_TRUNCATED the file ends inside a frame, or at a frame boundary before the
 *                      final message
 *   XCHG_ERR_FORMAT    a frame length above the limit or below the tag size, a malformed
 *                      final message, or data after the final message
 *   XCHG_ERR_IO
 */
XCHG_API xchg_err xchg_xex_reader_next(xchg_xex_reader *r, const uint8_t **rec, size_t *len,
                                       int *end, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Check the whole file: reads (and discards) any records not yet read, then checks the
 * final message's record count against the records read and the Ed25519ph signature
 * against the expected signer. *count (may be NULL) is set on success only.
 * Errors: those of xchg_xex_reader_next, plus XCHG_ERR_ARG (no expected signer set),
 * XCHG_ERR_UNKNOWN_KEY (signed by another key than the expected one), XCHG_ERR_VERIFY
 * (count mismatch, or a bad signature). Only XCHG_OK means the header and every record
 * are exactly what the signer wrote, for this matcher, complete and in order.
 */
XCHG_API xchg_err xchg_xex_reader_finish(xchg_xex_reader *r, uint64_t *count,
                                         xchg_diag *d) XCHG_MUST_CHECK;

/* Release r, wiping keys and buffers; accepts NULL. */
XCHG_API void xchg_xex_reader_free(xchg_xex_reader *r);

#ifdef __cplusplus
}
#endif
#endif
