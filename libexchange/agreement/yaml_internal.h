/*
 * Private: loading YAML text from outside (an agreement, an agency's mapping file) —
 * refused before libfyaml sees it when it is not valid UTF-8 (libfyaml 0.7.12 loops on
 * some invalid bytes), every parse error reported with its line and column, and a second
 * YAML document refused rather than silently left unread.
 */
#ifndef XCHG_YAML_INTERNAL_H
#define XCHG_YAML_INTERNAL_H

#include "exchange/common.h"

#include <libfyaml.h>
#include <stddef.h>

/* Line of the first byte that is not valid UTF-8, or 0 when all of text is valid. */
unsigned xchg__utf8_bad_line(const char *text, size_t len);

/* Parse text (one YAML document) into *out, with *diag the libfyaml diagnostics object the
 * document reports through (fy_diag_destroy it after fy_document_destroy). Errors name
 * file: XCHG_ERR_FORMAT (not UTF-8, not YAML), XCHG_ERR_POLICY (a second document: "KIND
 * is one document ... merge it into INTO"), XCHG_ERR_NOMEM; *out and *diag are NULL then. */
xchg_err xchg__yaml_load(const char *text, size_t len, const char *file, const char *kind,
                         const char *into, struct fy_document **out, struct fy_diag **diag,
                         xchg_diag *d);

/* The keys of a consent_values map (agreement and mapping file alike), in
 * xchg_consent_status order, NULL-terminated: consent.c owns the consent vocabulary. */
extern const char *const xchg__consent_value_keys[5];

#endif
