/* Private: the evidence pack's signature, checked before its body is read. */
#ifndef XCHG_EVIDENCE_INTERNAL_H
#define XCHG_EVIDENCE_INTERNAL_H

#include "exchange/evidence.h"

/* Check that bytes end in a signature line by matcher over the rest; *body_len = the
 * body's length. XCHG_ERR_FORMAT / XCHG_ERR_VERIFY with a message naming path. */
xchg_err xchg__evidence_open(const char *bytes, size_t len, const xchg_pubkey *matcher,
                             size_t *body_len, const char *path, xchg_diag *d);

#endif
