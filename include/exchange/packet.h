/*
 * exchange — referral packets (.xrp): what a recipient team receives for one approved
 * family. The matcher signs the packet and encrypts it to the recipient; the personal
 * detail inside stays encrypted end to end under the agencies' extract data keys, which
 * only the recipient can unseal. Format: docs/formats.md ("Referral packet").
 */
#ifndef XCHG_PACKET_H
#define XCHG_PACKET_H

#include "exchange/common.h"
#include "exchange/keys.h"
#include "exchange/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_PACKET_MAX (64u << 20)

/*
 * Seal a packet body (a JSON object, as built by the release step) for recipient party
 * `recipient` of agreement agr, signed by the matcher's key: written atomically to path
 * (refused if it exists unless overwrite). The body must name p's id and hash and the
 * recipient (checked here, so a packet can never be sealed for the wrong party).
 */
XCHG_API xchg_err xchg_packet_seal(const xchg_agreement *agr, const xchg_seckey *matcher,
                                   size_t recipient, const char *body_json, const char *path,
                                   int overwrite, xchg_diag *d);

/*
 * Open a packet with the recipient's key: decrypts it, verifies the matcher's signature
 * with the key agreement agr pins, and checks that the body names p (id and hash) and this
 * recipient. *body is a malloc'ed NUL-terminated JSON text. Errors (distinct messages):
 * XCHG_ERR_FORMAT/VERSION/TRUNCATED (not a packet, damaged), XCHG_ERR_UNKNOWN_KEY (for
 * another recipient), XCHG_ERR_VERIFY (altered, or signed by a key that is not the
 * matcher's), XCHG_ERR_DENIED (made under another agreement or version).
 */
XCHG_API xchg_err xchg_packet_open(const xchg_agreement *agr, const xchg_seckey *recipient,
                                   const char *path, char **body, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The file-name rule client and daemon share for packets and outbox folders: 1..200
 * characters of [A-Za-z0-9._-], not starting with '.', ending in suffix (e.g. ".xrp"),
 * with something before it; suffix NULL for a folder name (a recipient's party id).
 * 1 acceptable, 0 not (a path separator, "..", a hidden file, a control character...).
 */
XCHG_API int xchg_packet_name_ok(const char *name, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
