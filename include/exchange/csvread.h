/*
 * exchange — streaming CSV reading (RFC 4180, via libcsv).
 *
 * Quoted fields with embedded commas, quotes and newlines; a UTF-8 byte-order mark at the
 * start; LF or CRLF line ends. Rows are delivered one at a time with the physical line
 * number where the row starts, so errors can name file and line. Memory use is bounded
 * by the largest row, not the file.
 */
#ifndef XCHG_CSVREAD_H
#define XCHG_CSVREAD_H

#include "exchange/common.h"

/* Static-only (XCHG_STATIC_API): shared by the tools and tests through the static
 * library; not exported from the shared library. */

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_CSV_MAX_FIELD (64u << 10) /* bytes in one field */
#define XCHG_CSV_MAX_FIELDS 1024       /* fields in one row */

/*
 * Called for each row (the header row too, as line 1). fields[i] is NUL-terminated and
 * lens[i] its length; both are valid only during the call. Return 0 to go on, non-zero to
 * stop reading (xchg_csv_read then returns XCHG_OK with *stopped set).
 */
typedef int (*xchg_csv_row_fn)(void *ctx, unsigned line, const char *const *fields,
                               const size_t *lens, size_t n);

/*
 * Read path row by row. Errors, each with "file:line: message" in d: XCHG_ERR_NOT_FOUND,
 * XCHG_ERR_IO, XCHG_ERR_FORMAT (malformed quoting, a NUL byte, a field or row over the
 * limits, a quoted field still open at the end of the file). stopped may be NULL.
 */
XCHG_STATIC_API xchg_err xchg_csv_read(const char *path, xchg_csv_row_fn fn, void *ctx, int *stopped,
                                xchg_diag *d) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
