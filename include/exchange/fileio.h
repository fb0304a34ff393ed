/*
 * exchange — file helpers: bounded whole-file reads and atomic writes.
 *
 * Every file exchange writes goes through xchg_file_write_atomic: the data goes to a
 * temporary file in the destination directory, is fsync'ed, then renamed (or linked,
 * when overwriting is not allowed) into place and the directory is fsync'ed. A reader
 * therefore sees either the old file, or the whole new one, never a part.
 */
#ifndef XCHG_FILEIO_H
#define XCHG_FILEIO_H

#include "exchange/common.h"

/* Static-only (XCHG_STATIC_API): shared by the tools and tests through the static
 * library; not exported from the shared library. */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read the whole of path (at most max bytes) into a new malloc'ed buffer with a NUL
 * appended (not counted in *len). "-" reads standard input. Errors: XCHG_ERR_NOT_FOUND,
 * XCHG_ERR_IO, XCHG_ERR_FORMAT when the file is larger than max, XCHG_ERR_NOMEM; each
 * with a diagnostic naming the file. Nothing is allocated on failure.
 */
XCHG_STATIC_API xchg_err xchg_file_read(const char *path, size_t max, char **buf, size_t *len,
                                 xchg_diag *d);

/* Like xchg_file_read but into a sodium_malloc'ed buffer (free it with xchg_secure_free). */
XCHG_STATIC_API xchg_err xchg_file_read_secret(const char *path, size_t max, char **buf, size_t *len,
                                        xchg_diag *d);

#define XCHG_WRITE_OVERWRITE 1u /* replace an existing file (otherwise XCHG_ERR_EXISTS) */

/*
 * Atomically create (or, with XCHG_WRITE_OVERWRITE, replace) path with len bytes of data
 * and permissions mode (e.g. 0600 for secrets; the umask does not apply). On any error
 * the destination is untouched and no temporary file is left behind.
 */
XCHG_STATIC_API xchg_err xchg_file_write_atomic(const char *path, const void *data, size_t len,
                                         unsigned mode, unsigned flags, xchg_diag *d);

#ifdef __cplusplus
}
#endif
#endif
