/*
 * exchange — neutralising text before it reaches a terminal or a spreadsheet.
 *
 * Agencies control the text of their CSV extracts (column names, codes, references,
 * consent spellings), and some of it is echoed back in messages, reports and listings.
 * A value like "=HYPERLINK(...)" becomes a formula when a report is opened in a
 * spreadsheet; an ESC sequence rewrites what an operator sees on a terminal. Every tool
 * that writes agency-controlled text to a CSV file uses xchg_csv_field, and to a
 * terminal xchg_term_safe (or xchg_term_safe_text for multi-line text).
 */
#ifndef XCHG_TEXTSAFE_H
#define XCHG_TEXTSAFE_H

#include "exchange/common.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Write v (NULL = empty) as one CSV field (RFC 4180): as is when it needs no quoting,
 * otherwise in double quotes with each '"' doubled. A value beginning with '=', '+',
 * '-', '@', TAB or CR — which a spreadsheet would read as a formula — is always quoted
 * and gets a leading apostrophe inside the quotes ("'=1+1"). Returns 0, or -1 when
 * writing failed.
 */
XCHG_API int xchg_csv_field(FILE *f, const char *v);

/*
 * Write v (NULL = nothing) for a terminal: valid UTF-8 is written unchanged except for
 * control characters, which become visible escapes — C0 controls and DEL as \xNN
 * (ESC is "\x1b", a newline "\x0a"), C1 controls (U+0080..U+009F) as \u0080..\u009f —
 * and every byte that is not part of valid UTF-8 is written as \xNN. Returns 0 or -1.
 */
XCHG_API int xchg_term_safe(FILE *f, const char *v);

/* As xchg_term_safe, but newlines ('\n') are kept: for multi-line text such as
 * `xchg policy explain`. */
XCHG_API int xchg_term_safe_text(FILE *f, const char *v);

/*
 * Check n bytes of text meant to be an opaque label (e.g. a record reference). Returns 0
 * when it is valid UTF-8 without control characters; 1 when it is not valid UTF-8 (*at =
 * offset of the first bad byte); 2 when it holds a control character (C0, DEL, C1) or
 * a bidirectional-text control (U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069) (*at = its offset, *cp = the code point). at and cp may be NULL.
 */
XCHG_API int xchg_text_check(const char *s, size_t n, size_t *at, uint32_t *cp);

#ifdef __cplusplus
}
#endif
#endif
