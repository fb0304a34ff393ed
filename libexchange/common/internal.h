/* Private helpers shared inside libexchange. Not installed, not for tools. */
#ifndef XCHG_INTERNAL_H
#define XCHG_INTERNAL_H

#include "exchange/keys.h"

#include <stdint.h>
#include <string.h>

const uint8_t *xchg__seckey_sign_sk(const xchg_seckey *k); /* 64 bytes */
const uint8_t *xchg__seckey_box_sk(const xchg_seckey *k);  /* 32 bytes */

static inline void xchg__put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t xchg__get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void xchg__put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t xchg__get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Argon2id (crypto_pwhash) of a passphrase over a 16-byte salt into key (keylen bytes),
 * with limits read from a file checked first: XCHG_ERR_FORMAT outside libsodium's bounds
 * or above 4 GiB of memory (a hostile file cannot make us allocate without end),
 * XCHG_ERR_NOMEM when libsodium cannot. The one passphrase KDF of the library: secret key
 * files, OPRF key files and the store's passphrase. */
xchg_err xchg__kdf(uint8_t *key, size_t keylen, const char *pass, size_t passlen,
                   const uint8_t *salt, uint64_t ops, uint64_t mem);

/*
 * Crash-test fault points (fileio.c). Compiled in only with the CMake option
 * XCHG_FAULT_HOOKS (test builds); otherwise XCHG_FAULT_POINT() is nothing. With the hook
 * compiled in and XCHG_FAULT_AFTER_WRITES=N in the environment, the process kills itself
 * with SIGKILL at the N-th fault point it reaches, so tests/cli/crash.sh can prove what
 * survives a crash at each write. Points: every record staged by xchg_store_ingest, just
 * before and after its COMMIT, and each step of xchg_file_write_atomic.
 */
#ifdef XCHG_FAULT_HOOKS
void xchg__fault_point(void);
#define XCHG_FAULT_POINT() xchg__fault_point()
#else
#define XCHG_FAULT_POINT() ((void)0)
#endif

/*
 * The message for a failed write(2) to the file the user named path, errno err, into buf.
 * EFBIG (the file size limit, RLIMIT_FSIZE / `ulimit -f`, reached with SIGXFSZ ignored as
 * xchg_process_harden does) reads "file size limit reached while writing PATH (File too
 * large)"; anything else "cannot write: REASON". Returns buf.
 */
const char *xchg__write_error(char *buf, size_t cap, const char *path, int err);

/* Copy at most cap-1 bytes of s (length n) into dst and NUL-terminate. */
static inline void xchg__strlcpy(char *dst, const char *s, size_t n, size_t cap)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* "P-XXXX-XXXX-XXXX" / "F-...": prefix, '-', 12 base32 characters of the first 8 bytes
 * of a MAC (as a host-order uint64, as pseudonyms have always been made), in groups of 4. */
void xchg__pseudonym_format(const uint8_t mac[8], char prefix, char out[XCHG_PSEUDONYM_MAX + 1]);

/* The one writer of armoured secret files (secret keys, linkage secrets, database keys):
 * head (lines ending in '\n', or NULL), then prefix and base64(body) on one line, written
 * atomically with mode 0600, built in guarded memory that is wiped afterwards. */
xchg_err xchg__armour_write(const char *path, const char *head, const char *prefix,
                            const void *body, size_t len, int force, xchg_diag *d);

#endif
