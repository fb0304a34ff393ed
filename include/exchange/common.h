/*
 * exchange — common definitions: visibility, error codes, diagnostics.
 *
 * Every fallible function returns an xchg_err (XCHG_OK == 0) and delivers results
 * through out-parameters. Detail meant for a person (file, line, column, field) is
 * added to an optional xchg_diag collection the caller passes in; the library itself
 * never prints and never exits.
 */
#ifndef XCHG_COMMON_H
#define XCHG_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * XCHG_API marks the shared library's ABI. XCHG_STATIC_API marks helpers the tools and
 * tests share through the static library (files, CSV, hex/base64): hidden in the shared
 * library, so they are not part of its ABI and may change with any release.
 */
#if defined(__GNUC__)
#define XCHG_API __attribute__((visibility("default")))
#define XCHG_STATIC_API __attribute__((visibility("hidden")))
#define XCHG_MUST_CHECK __attribute__((warn_unused_result))
#define XCHG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define XCHG_API
#define XCHG_STATIC_API
#define XCHG_MUST_CHECK
#define XCHG_PRINTF(a, b)
#endif

/*
 * Error codes. Numbered, appended only, never reused or renumbered: they appear in
 * logs and scripts. xchg_strerror() must have a case for each (no default, so the
 * compiler flags a missing one).
 */
typedef enum xchg_err {
    XCHG_OK = 0,
    XCHG_ERR_NOMEM = 1,        /* out of memory */
    XCHG_ERR_IO = 2,           /* reading or writing a file failed */
    XCHG_ERR_ARG = 3,          /* invalid argument from the caller */
    XCHG_ERR_FORMAT = 4,       /* input is malformed */
    XCHG_ERR_VERSION = 5,      /* input has an unsupported version or algorithm */
    XCHG_ERR_VERIFY = 6,       /* a signature, MAC or checksum did not verify */
    XCHG_ERR_PASSPHRASE = 7,   /* wrong passphrase (or a damaged protected key) */
    XCHG_ERR_EXISTS = 8,       /* refusing to overwrite an existing file */
    XCHG_ERR_POLICY = 9,       /* the agreement is invalid */
    XCHG_ERR_VALIDITY = 10,    /* the agreement is not in force at this date */
    XCHG_ERR_UNSIGNED = 11,    /* a required signatory has not signed */
    XCHG_ERR_UNKNOWN_KEY = 12, /* a key is not known / not a party of the agreement */
    XCHG_ERR_CRYPTO = 13,      /* the crypto library failed unexpectedly */
    XCHG_ERR_NOT_FOUND = 14,   /* a named item does not exist */
    XCHG_ERR_DENIED = 15,      /* the agreement does not allow this */
    XCHG_ERR_TRUNCATED = 16,   /* input ends early */
} xchg_err;

/* Longest family / person pseudonym text ("F-XXXX-XXXX-XXXX" today), without the NUL. */
#define XCHG_PSEUDONYM_MAX 23
/* Longest party id an agreement may give, and longest agreement id, without the NUL. */
#define XCHG_PARTY_ID_MAX 64
#define XCHG_AGREEMENT_ID_MAX 64

/* The library's version, "MAJOR.MINOR.PATCH" (the SOVERSION is MAJOR). Never NULL. */
XCHG_API const char *xchg_version(void);

/* A short, static, English description of an error code. Never NULL. */
XCHG_API const char *xchg_strerror(xchg_err err);

/*
 * Initialise the library (libsodium). Call once before anything else; safe to call
 * again. Returns XCHG_ERR_CRYPTO if the crypto library cannot start.
 */
XCHG_API xchg_err xchg_init(void);

/* ---- diagnostics -------------------------------------------------------------- */

typedef enum xchg_severity {
    XCHG_SEV_ERROR = 0,
    XCHG_SEV_WARNING = 1,
    XCHG_SEV_NOTE = 2,
} xchg_severity;

typedef struct xchg_diag xchg_diag;

/* A new, empty collection of diagnostics, or NULL when out of memory. */
XCHG_API xchg_diag *xchg_diag_new(void);
/* Releases d; accepts NULL. */
XCHG_API void xchg_diag_free(xchg_diag *d);
/* Forget every diagnostic in d. Accepts NULL. */
XCHG_API void xchg_diag_clear(xchg_diag *d);

/*
 * Append one diagnostic. file may be NULL; line/col 0 mean "unknown" and are not
 * printed. d may be NULL, in which case nothing happens. Never fails visibly: when
 * memory runs out the diagnostic is dropped and xchg_diag_lost() becomes non-zero.
 */
XCHG_API void xchg_diag_add(xchg_diag *d, xchg_severity sev, const char *file,
                            unsigned line, unsigned col, const char *fmt, ...)
    XCHG_PRINTF(6, 7);
XCHG_API void xchg_diag_vadd(xchg_diag *d, xchg_severity sev, const char *file,
                             unsigned line, unsigned col, const char *fmt, va_list ap)
    XCHG_PRINTF(6, 0);

XCHG_API size_t xchg_diag_count(const xchg_diag *d);
/* Append a copy of every message of src to dst, as they are (file, line and all). */
XCHG_API void xchg_diag_copy(xchg_diag *dst, const xchg_diag *src);
/* Number of diagnostics of severity error. */
XCHG_API size_t xchg_diag_errors(const xchg_diag *d);
XCHG_API int xchg_diag_lost(const xchg_diag *d);
/*
 * The i-th diagnostic as "file:line:col: severity: message" (parts unknown are
 * omitted). The string belongs to d and lives until d is cleared or freed.
 */
XCHG_API const char *xchg_diag_text(const xchg_diag *d, size_t i);
XCHG_API xchg_severity xchg_diag_severity(const xchg_diag *d, size_t i);
/* The message alone, without location and severity. */
XCHG_API const char *xchg_diag_message(const xchg_diag *d, size_t i);
XCHG_API unsigned xchg_diag_line(const xchg_diag *d, size_t i);
XCHG_API unsigned xchg_diag_col(const xchg_diag *d, size_t i);

#ifdef __cplusplus
}
#endif
#endif
