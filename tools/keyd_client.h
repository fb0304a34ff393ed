/* The agency's side of xchg-keyd for xchg seal: signed HTTPS requests (libcurl), as an
 * xchg_oprf_transport (include/exchange/oprf.h). docs/keyd.md. */
#ifndef XCHG_TOOLS_KEYD_CLIENT_H
#define XCHG_TOOLS_KEYD_CLIENT_H

#include <exchange.h>

struct cli_keyd;

/* A client for the key service at base URL url (https://HOST:PORT), trusting only the CA
 * in ca, signing with k (borrowed). 0, or an exit code after printing the error. */
int cli_keyd_open(const char *url, const char *ca, const xchg_seckey *k, struct cli_keyd **out);
void cli_keyd_close(struct cli_keyd *c);

/* The transport: POST /v1/oprf, retried on connection errors and 5xx with a fresh nonce;
 * a refusal (401, 403, 429, 4xx) is returned with the service's reason in why. */
xchg_err cli_keyd_transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                            size_t *resp_len, char *why, size_t whylen);

#endif
