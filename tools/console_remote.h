/*
 * xchg console --url: the console's store calls answered by xchg-matcherd over HTTPS
 * (docs/console.md "Remote mode"). Every request is signed with the operator's key
 * (netauth.h); a decision is prepared by the daemon, signed here (xchg_decision_sign,
 * with the operator's release-key share when given) and submitted: the operator's key
 * and share never leave this process.
 */
#ifndef XCHG_CONSOLE_REMOTE_H
#define XCHG_CONSOLE_REMOTE_H

#include "console_api.h"

struct console_remote;

/* A backend for base (https://HOST:PORT, no trailing slash) trusting only the CA file
 * ca; p, op and share (may be NULL) are borrowed. NULL when out of memory. */
struct console_remote *console_remote_new(const char *base, const char *ca, const xchg_agreement *p,
                                          const xchg_seckey *op, const xchg_release_share *share);
/* The backend's calls, for console_opts.remote. */
const struct console_backend *console_remote_backend(struct console_remote *r);
/* GET /v1/health: 0 when the daemon answers as this agreement's, else -1 with why. */
int console_remote_check(struct console_remote *r, char *why, size_t n);
/* Accepts NULL. */
void console_remote_free(struct console_remote *r);

#endif
