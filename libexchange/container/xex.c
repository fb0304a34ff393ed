/*
 * Sealed-extract container (.xex). Layout and checks: docs/formats.md, "Sealed extract
 * container (.xex)". In short:
 *
 *   preamble (clear, 120 bytes):
 *     "XCHGXEX" | version (1) | matcher key id (8) | crypto_box_seal(stream key) (80)
 *     | secretstream header (24)
 *   frames: u32le ciphertext length | secretstream ciphertext
 *     message 0     TAG_MESSAGE, AD = preamble: signer key id (8) | caller header
 *     messages 1..n TAG_MESSAGE, no AD:       one record each
 *     message n+1   TAG_FINAL,   no AD:       u64le count | Ed25519ph signature (64)
 *   transcript signed (crypto_sign_init/update/final_create, i.e. Ed25519ph):
 *     "exchange sealed extract v1\0" | preamble | signer key id
 *     | 'H' u32le hlen header | n x ('R' u32le len record) | 'T' u64le count
 *
 * Why sign a transcript of the plaintext that includes the preamble: the preamble names
 * the matcher and holds this file's sealed key, so a signed extract cannot be re-encrypted
 * to another matcher (or re-sealed) by whoever can read it. secretstream already makes
 * records ordered and tamper-evident, and TAG_FINAL makes truncation detectable; the
 * signature adds *who* wrote it, which the stream key cannot (the matcher holds it too).
 */
#include "exchange/xex.h"
#include "exchange/crypto.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_HEADERBYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_KEYBYTES crypto_secretstream_xchacha20poly1305_KEYBYTES
#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL

#define MAGIC_LEN 7
#define OFF_KEYID 8
#define OFF_SEALED (OFF_KEYID + XCHG_KEYID_BYTES)
#define SEALED_LEN (SS_KEYBYTES + XCHG_BOX_OVERHEAD)
#define OFF_SSHDR (OFF_SEALED + SEALED_LEN)
#define PREAMBLE_LEN (OFF_SSHDR + SS_HEADERBYTES)
#define TRAILER_LEN (8 + crypto_sign_BYTES)
#define FIRST_MAX (XCHG_KEYID_BYTES + XCHG_XEX_HEADER_MAX)
#define IOBUF 65536u
#define FRAME_MAX (4u + XCHG_XEX_RECORD_MAX + SS_ABYTES)

_Static_assert(PREAMBLE_LEN == XCHG_XEX_PREAMBLE_BYTES, "preamble layout");
_Static_assert(SS_KEYBYTES == 32 && SS_HEADERBYTES == 24 && SS_ABYTES == 17, "secretstream sizes");
_Static_assert(XCHG_BOX_OVERHEAD == crypto_box_SEALBYTES, "seal overhead");
_Static_assert(FIRST_MAX <= XCHG_XEX_RECORD_MAX, "plaintext buffer holds the header");

static const char sign_ctx[] = "exchange sealed extract v1"; /* signed with its NUL */

/* Everything secret, in one guarded allocation (sodium_free wipes it). */
struct xex_secrets {
    uint8_t key[SS_KEYBYTES];
    crypto_secretstream_xchacha20poly1305_state ss;
    crypto_sign_state sign; /* running SHA-512 of the transcript */
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
};

static struct xex_secrets *secrets_new(void)
{
    struct xex_secrets *s = sodium_malloc(sizeof *s);
    if (s)
        sodium_memzero(s, sizeof *s);
    return s;
}

static void transcript_item(crypto_sign_state *st, uint8_t tag, const void *data, size_t len)
{
    uint8_t pre[5];
    pre[0] = tag;
    xchg__put_u32le(pre + 1, (uint32_t)len);
    crypto_sign_update(st, pre, sizeof pre);
    if (len)
        crypto_sign_update(st, data, len);
}

static void transcript_start(crypto_sign_state *st, const uint8_t *preamble,
                             const uint8_t *signer_id, const void *header, size_t hlen)
{
    crypto_sign_init(st);
    crypto_sign_update(st, (const uint8_t *)sign_ctx, sizeof sign_ctx);
    crypto_sign_update(st, preamble, PREAMBLE_LEN);
    crypto_sign_update(st, signer_id, XCHG_KEYID_BYTES);
    transcript_item(st, 'H', header, hlen);
}

static void transcript_end(crypto_sign_state *st, uint64_t count)
{
    uint8_t t[9];
    t[0] = 'T';
    xchg__put_u64le(t + 1, count);
    crypto_sign_update(st, t, sizeof t);
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ==== writer ===================================================================== */

struct xchg_xex_writer {
    struct xex_secrets *s;
    int fd;
    int overwrite;
    int done; /* finished and in place */
    char *path;
    char *tmp;    /* temporary file name; "" once removed or renamed */
    uint8_t *buf; /* IOBUF bytes of pending output */
    size_t pos;
    uint8_t *big; /* scratch for frames larger than buf (lazy) */
    uint64_t count;
    xchg_err err; /* sticky failure of add */
    char errmsg[PATH_MAX + 128];
};

static void wfail(xchg_xex_writer *w, xchg_err rc, const char *what)
{
    if (w->err != XCHG_OK)
        return;
    w->err = rc;
    snprintf(w->errmsg, sizeof w->errmsg, "%s", what);
}

static xchg_err wflush(xchg_xex_writer *w)
{
    if (w->pos && write_all(w->fd, w->buf, w->pos) != 0) {
        char m[PATH_MAX + 96];
        wfail(w, XCHG_ERR_IO, xchg__write_error(m, sizeof m, w->path, errno));
        return XCHG_ERR_IO;
    }
    w->pos = 0;
    return XCHG_OK;
}

/* Encrypt one message as a frame into the output; buffered unless larger than the buffer. */
static xchg_err wemit(xchg_xex_writer *w, const uint8_t *m, size_t mlen, const uint8_t *ad,
                      size_t adlen, uint8_t tag)
{
    size_t clen = mlen + SS_ABYTES, flen = 4 + clen;
    uint8_t *dst;
    if (w->pos + flen > IOBUF && wflush(w) != XCHG_OK)
        return w->err;
    if (flen <= IOBUF) {
        dst = w->buf + w->pos;
    } else {
        if (!w->big && !(w->big = malloc(FRAME_MAX))) {
            wfail(w, XCHG_ERR_NOMEM, "out of memory");
            return w->err;
        }
        dst = w->big;
    }
    xchg__put_u32le(dst, (uint32_t)clen);
    if (crypto_secretstream_xchacha20poly1305_push(&w->s->ss, dst + 4, NULL, m, mlen, ad, adlen,
                                                   tag) != 0) {
        wfail(w, XCHG_ERR_CRYPTO, "secretstream encryption failed");
        return w->err;
    }
    if (dst == w->big) {
        if (write_all(w->fd, dst, flen) != 0) {
            char e[PATH_MAX + 96];
            wfail(w, XCHG_ERR_IO, xchg__write_error(e, sizeof e, w->path, errno));
            return w->err;
        }
    } else {
        w->pos += flen;
    }
    return XCHG_OK;
}

static void wremove_tmp(xchg_xex_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp && w->tmp[0]) {
        unlink(w->tmp);
        w->tmp[0] = '\0';
    }
}

void xchg_xex_writer_free(xchg_xex_writer *w)
{
    if (!w)
        return;
    if (!w->done)
        wremove_tmp(w);
    else if (w->fd >= 0)
        close(w->fd);
    sodium_free(w->s);
    free(w->buf);
    free(w->big);
    free(w->path);
    free(w->tmp);
    free(w);
}

xchg_err xchg_xex_writer_new(const char *path, int overwrite, const xchg_pubkey *matcher,
                             const xchg_seckey *signer, const void *header, size_t hlen,
                             xchg_xex_writer **out, xchg_diag *d)
{
    if (!path || !*path || !matcher || !signer || !out || (!header && hlen))
        return XCHG_ERR_ARG;
    if (hlen > XCHG_XEX_HEADER_MAX) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "extract header is %zu bytes; the limit is %u",
                      hlen, XCHG_XEX_HEADER_MAX);
        return XCHG_ERR_ARG;
    }
    xchg_err rc = XCHG_ERR_NOMEM;
    uint8_t preamble[PREAMBLE_LEN];
    uint8_t *first = NULL;
    const uint8_t *signer_id = xchg_seckey_public(signer)->id;
    size_t plen = strlen(path);
    xchg_xex_writer *w = calloc(1, sizeof *w);
    if (!w)
        return XCHG_ERR_NOMEM;
    w->fd = -1;
    w->overwrite = overwrite;
    w->path = strdup(path);
    w->tmp = malloc(plen + 16);
    w->buf = malloc(IOBUF);
    w->s = secrets_new();
    first = malloc(XCHG_KEYID_BYTES + hlen);
    if (!w->path || !w->tmp || !w->buf || !w->s || !first)
        goto cleanup;
    w->tmp[0] = '\0';

    /* Refuse early so a long run does not end in "exists"; finish re-checks atomically. */
    if (!overwrite && access(path, F_OK) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "file exists; refusing to overwrite (use --force to replace it)");
        rc = XCHG_ERR_EXISTS;
        goto cleanup;
    }
    snprintf(w->tmp, plen + 16, "%s.tmp.XXXXXX", path);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot create temporary file: %s",
                      strerror(errno));
        w->tmp[0] = '\0';
        rc = XCHG_ERR_IO;
        goto cleanup;
    }
    if (fchmod(w->fd, 0600) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot set permissions: %s", strerror(errno));
        rc = XCHG_ERR_IO;
        goto cleanup;
    }

    memcpy(w->s->sign_sk, xchg__seckey_sign_sk(signer), sizeof w->s->sign_sk);
    crypto_secretstream_xchacha20poly1305_keygen(w->s->key);
    memcpy(preamble, XCHG_XEX_MAGIC, MAGIC_LEN);
    preamble[MAGIC_LEN] = XCHG_XEX_VERSION;
    memcpy(preamble + OFF_KEYID, matcher->id, XCHG_KEYID_BYTES);
    if (xchg_box_seal(matcher, w->s->key, SS_KEYBYTES, preamble + OFF_SEALED) != XCHG_OK ||
        crypto_secretstream_xchacha20poly1305_init_push(&w->s->ss, preamble + OFF_SSHDR,
                                                        w->s->key) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot seal the stream key");
        rc = XCHG_ERR_CRYPTO;
        goto cleanup;
    }
    memcpy(w->buf, preamble, PREAMBLE_LEN);
    w->pos = PREAMBLE_LEN;
    transcript_start(&w->s->sign, preamble, signer_id, header, hlen);
    memcpy(first, signer_id, XCHG_KEYID_BYTES);
    if (hlen)
        memcpy(first + XCHG_KEYID_BYTES, header, hlen);
    /* AD = preamble: the first message authenticates every clear byte before it. */
    rc = wemit(w, first, XCHG_KEYID_BYTES + hlen, preamble, PREAMBLE_LEN, TAG_MESSAGE);
    if (rc != XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "%s", w->errmsg);
        goto cleanup;
    }
    *out = w;
    w = NULL;
    rc = XCHG_OK;
cleanup:
    free(first);
    xchg_xex_writer_free(w);
    return rc;
}

xchg_err xchg_xex_writer_add(xchg_xex_writer *w, const void *rec, size_t len)
{
    if (!w || (!rec && len) || len > XCHG_XEX_RECORD_MAX)
        return XCHG_ERR_ARG;
    if (w->err != XCHG_OK)
        return w->err;
    if (w->done) {
        wfail(w, XCHG_ERR_ARG, "record added after finish");
        return XCHG_ERR_ARG;
    }
    xchg_err rc = wemit(w, rec, len, NULL, 0, TAG_MESSAGE);
    if (rc != XCHG_OK)
        return rc;
    transcript_item(&w->s->sign, 'R', rec, len);
    w->count++;
    return XCHG_OK;
}

uint64_t xchg_xex_writer_count(const xchg_xex_writer *w)
{
    return w ? w->count : 0;
}

xchg_err xchg_xex_writer_finish(xchg_xex_writer *w, xchg_diag *d)
{
    if (!w)
        return XCHG_ERR_ARG;
    const char *path = w->path;
    xchg_err rc;
    uint8_t trailer[TRAILER_LEN];
    if (w->done) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "extract already finished");
        return XCHG_ERR_ARG;
    }
    if (w->err != XCHG_OK)
        goto failed;

    transcript_end(&w->s->sign, w->count);
    xchg__put_u64le(trailer, w->count);
    crypto_sign_final_create(&w->s->sign, trailer + 8, NULL, w->s->sign_sk);
    sodium_memzero(w->s->sign_sk, sizeof w->s->sign_sk); /* no longer needed */
    if (wemit(w, trailer, sizeof trailer, NULL, 0, TAG_FINAL) != XCHG_OK || wflush(w) != XCHG_OK)
        goto failed;
    if (fsync(w->fd) != 0) {
        wfail(w, XCHG_ERR_IO, "cannot sync");
        goto failed;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        wfail(w, XCHG_ERR_IO, "cannot close");
        goto failed;
    }
    if (w->overwrite) {
        if (rename(w->tmp, path) != 0) {
            char m[140];
            snprintf(m, sizeof m, "cannot rename into place: %s", strerror(errno));
            wfail(w, XCHG_ERR_IO, m);
            goto failed;
        }
    } else {
        /* link() fails with EEXIST if someone created path meanwhile: no clobbering. */
        if (link(w->tmp, path) != 0) {
            int e = errno;
            char m[140];
            snprintf(m, sizeof m, "%s",
                     e == EEXIST ? "file exists; refusing to overwrite (use --force to replace it)"
                                 : strerror(e));
            wfail(w, e == EEXIST ? XCHG_ERR_EXISTS : XCHG_ERR_IO, m);
            goto failed;
        }
        unlink(w->tmp);
    }
    w->tmp[0] = '\0';
    w->done = 1;
    (void)fsync_dir_of(path); /* the data is in place; only the name's durability is in doubt */
    return XCHG_OK;

failed:
    rc = w->err;
    xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "%s; no extract written", w->errmsg);
    wremove_tmp(w);
    return rc;
}

/* ==== reader ===================================================================== */

struct xchg_xex_reader {
    struct xex_secrets *s;
    int fd;
    int own_fd;
    char *path;
    uint8_t *ibuf; /* IOBUF bytes of input */
    size_t ipos, ilen;
    uint64_t off;  /* bytes of the file consumed */
    uint8_t *cbuf; /* one frame's ciphertext */
    uint8_t *pbuf; /* one message's plaintext (records are returned from here) */
    uint8_t *header;
    size_t hlen;
    uint8_t signer_id[XCHG_KEYID_BYTES];
    xchg_pubkey expect;
    int have_expect;
    uint64_t count; /* records returned */
    int ended;      /* final message decrypted, end of file checked */
    int finished;   /* finish returned XCHG_OK */
    uint8_t trailer[TRAILER_LEN];
    xchg_err err; /* sticky failure */
};

/* Read up to n bytes; returns the number read (< n only at end of file) or -1. */
static ssize_t rread(xchg_xex_reader *r, uint8_t *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (r->ipos < r->ilen) {
            size_t k = r->ilen - r->ipos;
            if (k > n - got)
                k = n - got;
            memcpy(dst + got, r->ibuf + r->ipos, k);
            r->ipos += k;
            got += k;
            continue;
        }
        /* Large remainders go straight to dst; small ones refill the buffer. */
        int direct = n - got >= IOBUF;
        ssize_t k = read(r->fd, direct ? dst + got : r->ibuf, direct ? n - got : IOBUF);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            break;
        if (direct) {
            got += (size_t)k;
        } else {
            r->ipos = 0;
            r->ilen = (size_t)k;
        }
    }
    r->off += got;
    return (ssize_t)got;
}

static xchg_err rfail(xchg_xex_reader *r, xchg_err rc, xchg_diag *d, const char *fmt, ...)
    XCHG_PRINTF(4, 5);

static xchg_err rfail(xchg_xex_reader *r, xchg_err rc, xchg_diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xchg_diag_vadd(d, XCHG_SEV_ERROR, r->path, 0, 0, fmt, ap);
    va_end(ap);
    r->err = rc;
    return rc;
}

static xchg_err rio(xchg_xex_reader *r, xchg_diag *d)
{
    return rfail(r, XCHG_ERR_IO, d, "cannot read: %s", strerror(errno));
}

/*
 * Read one frame (length and ciphertext) into cbuf; limit is the largest plaintext
 * allowed here. A clean end of file before the length is reported as a missing final
 * message.
 */
static xchg_err read_frame(xchg_xex_reader *r, size_t limit, size_t *clen, xchg_diag *d)
{
    uint8_t lb[4];
    uint64_t at = r->off;
    ssize_t k = rread(r, lb, 4);
    if (k < 0)
        return rio(r, d);
    if (k == 0) {
        if (at == PREAMBLE_LEN)
            return rfail(r, XCHG_ERR_TRUNCATED, d,
                         "file ends after the preamble, before the header message (truncated)");
        return rfail(r, XCHG_ERR_TRUNCATED, d,
                     "file ends after record %llu without the final message (truncated, or "
                     "records were removed from the end)",
                     (unsigned long long)r->count);
    }
    if (k < 4)
        return rfail(r, XCHG_ERR_TRUNCATED, d,
                     "file ends inside the length of the frame at offset %llu (truncated)",
                     (unsigned long long)at);
    uint32_t n = xchg__get_u32le(lb);
    if (n > limit + SS_ABYTES)
        return rfail(r, XCHG_ERR_FORMAT, d,
                     "frame length %lu at offset %llu exceeds the limit of %zu bytes",
                     (unsigned long)n, (unsigned long long)at, limit + SS_ABYTES);
    if (n < SS_ABYTES)
        return rfail(r, XCHG_ERR_FORMAT, d,
                     "frame length %lu at offset %llu is shorter than the %u-byte "
                     "authentication tag",
                     (unsigned long)n, (unsigned long long)at, (unsigned)SS_ABYTES);
    k = rread(r, r->cbuf, n);
    if (k < 0)
        return rio(r, d);
    if ((size_t)k < n)
        return rfail(r, XCHG_ERR_TRUNCATED, d,
                     "file ends inside the frame at offset %llu (%zd of %lu bytes present; "
                     "truncated)",
                     (unsigned long long)at, k, (unsigned long)n);
    *clen = n;
    return XCHG_OK;
}

/* Check magic and version of the (possibly short) preamble p of got bytes. */
static xchg_err check_preamble(const char *path, const uint8_t *p, size_t got, xchg_diag *d)
{
    size_t m = got < MAGIC_LEN ? got : MAGIC_LEN;
    if (memcmp(p, XCHG_XEX_MAGIC, m) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "not a sealed extract (bad magic)");
        return XCHG_ERR_FORMAT;
    }
    if (got > MAGIC_LEN && p[MAGIC_LEN] != XCHG_XEX_VERSION) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "sealed extract format version %u is not supported (this build reads "
                      "version %u)",
                      p[MAGIC_LEN], XCHG_XEX_VERSION);
        return XCHG_ERR_VERSION;
    }
    if (got < PREAMBLE_LEN) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "file ends inside the preamble (%zu of %u bytes; truncated)", got,
                      (unsigned)PREAMBLE_LEN);
        return XCHG_ERR_TRUNCATED;
    }
    return XCHG_OK;
}

static xchg_err open_fd(const char *path, int *fd, const char **name, xchg_diag *d)
{
    if (strcmp(path, "-") == 0) {
        *fd = STDIN_FILENO;
        *name = "<stdin>";
        return XCHG_OK;
    }
    *name = path;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int e = errno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(e));
        return e == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
    }
    return XCHG_OK;
}

xchg_err xchg_xex_peek(const char *path, unsigned *version, uint8_t matcher_id[XCHG_KEYID_BYTES],
                       xchg_diag *d)
{
    if (!path)
        return XCHG_ERR_ARG;
    int fd;
    const char *name;
    xchg_err rc = open_fd(path, &fd, &name, d);
    if (rc != XCHG_OK)
        return rc;
    uint8_t p[PREAMBLE_LEN];
    size_t got = 0;
    while (got < sizeof p) {
        ssize_t k = read(fd, p + got, sizeof p - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, name, 0, 0, "cannot read: %s", strerror(errno));
            rc = XCHG_ERR_IO;
            goto cleanup;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    rc = check_preamble(name, p, got, d);
    if (rc != XCHG_OK)
        goto cleanup;
    if (version)
        *version = p[MAGIC_LEN];
    if (matcher_id)
        memcpy(matcher_id, p + OFF_KEYID, XCHG_KEYID_BYTES);
cleanup:
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

void xchg_xex_reader_free(xchg_xex_reader *r)
{
    if (!r)
        return;
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    sodium_free(r->s);
    if (r->pbuf) {
        sodium_memzero(r->pbuf, XCHG_XEX_RECORD_MAX);
        free(r->pbuf);
    }
    if (r->header) {
        sodium_memzero(r->header, r->hlen);
        free(r->header);
    }
    free(r->ibuf);
    free(r->cbuf);
    free(r->path);
    free(r);
}

xchg_err xchg_xex_reader_open(const char *path, const xchg_seckey *matcher, xchg_xex_reader **out,
                              xchg_diag *d)
{
    if (!path || !matcher || !out)
        return XCHG_ERR_ARG;
    xchg_err rc = XCHG_ERR_NOMEM;
    const char *name;
    uint8_t preamble[PREAMBLE_LEN];
    xchg_xex_reader *r = calloc(1, sizeof *r);
    if (!r)
        return XCHG_ERR_NOMEM;
    r->fd = -1;
    rc = open_fd(path, &r->fd, &name, d);
    if (rc != XCHG_OK)
        goto cleanup;
    rc = XCHG_ERR_NOMEM;
    r->own_fd = r->fd != STDIN_FILENO;
    r->path = strdup(name);
    r->ibuf = malloc(IOBUF);
    r->cbuf = malloc(XCHG_XEX_RECORD_MAX + SS_ABYTES);
    r->pbuf = malloc(XCHG_XEX_RECORD_MAX);
    r->s = secrets_new();
    if (!r->path || !r->ibuf || !r->cbuf || !r->pbuf || !r->s)
        goto cleanup;

    ssize_t k = rread(r, preamble, PREAMBLE_LEN);
    if (k < 0) {
        rc = rio(r, d);
        goto cleanup;
    }
    rc = check_preamble(r->path, preamble, (size_t)k, d);
    if (rc != XCHG_OK)
        goto cleanup;

    const xchg_pubkey *mine = xchg_seckey_public(matcher);
    int unsealed = xchg_box_open(matcher, preamble + OFF_SEALED, SEALED_LEN, r->s->key) == XCHG_OK;
    char want[XCHG_KEYID_HEXLEN + 1], have[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(preamble + OFF_KEYID, want);
    xchg_keyid_hex(mine->id, have);
    if (memcmp(preamble + OFF_KEYID, mine->id, XCHG_KEYID_BYTES) != 0) {
        /* The sealed key opening anyway means the clear key id, not the key, is wrong. */
        rc = unsealed ? rfail(r, XCHG_ERR_VERIFY, d,
                              "preamble altered: the recipient key id %s does not match the "
                              "key the stream key is sealed to (%s)",
                              want, have)
                      : rfail(r, XCHG_ERR_UNKNOWN_KEY, d,
                              "sealed extract is for matcher key %s, but the key given is %s", want,
                              have);
        goto cleanup;
    }
    if (!unsealed) {
        rc = rfail(r, XCHG_ERR_VERIFY, d,
                   "cannot unseal the stream key with matcher key %s: the preamble is damaged",
                   have);
        goto cleanup;
    }
    if (crypto_secretstream_xchacha20poly1305_init_pull(&r->s->ss, preamble + OFF_SSHDR,
                                                        r->s->key) != 0) {
        rc = rfail(r, XCHG_ERR_CRYPTO, d, "cannot start decryption");
        goto cleanup;
    }

    size_t clen;
    rc = read_frame(r, FIRST_MAX, &clen, d);
    if (rc != XCHG_OK)
        goto cleanup;
    unsigned long long mlen;
    uint8_t tag;
    if (crypto_secretstream_xchacha20poly1305_pull(&r->s->ss, r->pbuf, &mlen, &tag, r->cbuf, clen,
                                                   preamble, PREAMBLE_LEN) != 0) {
        rc = rfail(r, XCHG_ERR_VERIFY, d,
                   "header message does not authenticate: the preamble or header was altered");
        goto cleanup;
    }
    if (tag != TAG_MESSAGE || mlen < XCHG_KEYID_BYTES) {
        rc = rfail(r, XCHG_ERR_FORMAT, d, "malformed header message (tag %u, %llu bytes)",
                   (unsigned)tag, mlen);
        goto cleanup;
    }
    memcpy(r->signer_id, r->pbuf, XCHG_KEYID_BYTES);
    r->hlen = (size_t)mlen - XCHG_KEYID_BYTES;
    r->header = malloc(r->hlen ? r->hlen : 1);
    if (!r->header) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    memcpy(r->header, r->pbuf + XCHG_KEYID_BYTES, r->hlen);
    transcript_start(&r->s->sign, preamble, r->signer_id, r->header, r->hlen);
    *out = r;
    r = NULL;
    rc = XCHG_OK;
cleanup:
    xchg_xex_reader_free(r);
    return rc;
}

const uint8_t *xchg_xex_reader_header(const xchg_xex_reader *r, size_t *len)
{
    if (len)
        *len = r ? r->hlen : 0;
    return r ? r->header : NULL;
}

void xchg_xex_reader_signer_id(const xchg_xex_reader *r, uint8_t id[XCHG_KEYID_BYTES])
{
    if (r && id)
        memcpy(id, r->signer_id, XCHG_KEYID_BYTES);
}

static xchg_err signer_mismatch(xchg_xex_reader *r, const xchg_pubkey *k, xchg_diag *d)
{
    char got[XCHG_KEYID_HEXLEN + 1], want[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(r->signer_id, got);
    xchg_keyid_hex(k->id, want);
    xchg_diag_add(d, XCHG_SEV_ERROR, r->path, 0, 0,
                  "sealed extract is signed by key %s, not by the expected signer %s", got, want);
    return XCHG_ERR_UNKNOWN_KEY;
}

xchg_err xchg_xex_reader_expect_signer(xchg_xex_reader *r, const xchg_pubkey *signer, xchg_diag *d)
{
    if (!r || !signer)
        return XCHG_ERR_ARG;
    if (memcmp(r->signer_id, signer->id, XCHG_KEYID_BYTES) != 0)
        return signer_mismatch(r, signer, d);
    r->expect = *signer;
    r->have_expect = 1;
    return XCHG_OK;
}

xchg_err xchg_xex_reader_next(xchg_xex_reader *r, const uint8_t **rec, size_t *len, int *end,
                              xchg_diag *d)
{
    if (!r || !rec || !len || !end)
        return XCHG_ERR_ARG;
    *rec = NULL;
    *len = 0;
    *end = 0;
    if (r->err != XCHG_OK)
        return r->err;
    if (r->ended) {
        *end = 1;
        return XCHG_OK;
    }
    size_t clen;
    uint64_t at = r->off;
    xchg_err rc = read_frame(r, XCHG_XEX_RECORD_MAX, &clen, d);
    if (rc != XCHG_OK)
        return rc;
    unsigned long long mlen;
    uint8_t tag;
    if (crypto_secretstream_xchacha20poly1305_pull(&r->s->ss, r->pbuf, &mlen, &tag, r->cbuf, clen,
                                                   NULL, 0) != 0)
        return rfail(r, XCHG_ERR_VERIFY, d,
                     "the frame at offset %llu (after record %llu) does not authenticate: the "
                     "file was altered, or records were reordered, duplicated or removed",
                     (unsigned long long)at, (unsigned long long)r->count);
    if (tag == TAG_MESSAGE) {
        transcript_item(&r->s->sign, 'R', r->pbuf, (size_t)mlen);
        r->count++;
        *rec = r->pbuf;
        *len = (size_t)mlen;
        return XCHG_OK;
    }
    if (tag != TAG_FINAL)
        return rfail(r, XCHG_ERR_FORMAT, d, "unexpected stream tag %u in the frame at offset %llu",
                     (unsigned)tag, (unsigned long long)at);
    if (mlen != TRAILER_LEN)
        return rfail(r, XCHG_ERR_FORMAT, d, "malformed final message (%llu bytes, expected %u)",
                     mlen, (unsigned)TRAILER_LEN);
    memcpy(r->trailer, r->pbuf, TRAILER_LEN);
    uint8_t extra;
    uint64_t eof_at = r->off;
    ssize_t k = rread(r, &extra, 1);
    if (k < 0)
        return rio(r, d);
    if (k > 0)
        return rfail(r, XCHG_ERR_FORMAT, d,
                     "unexpected data after the final message (at offset %llu)",
                     (unsigned long long)eof_at);
    r->ended = 1;
    *end = 1;
    return XCHG_OK;
}

xchg_err xchg_xex_reader_finish(xchg_xex_reader *r, uint64_t *count, xchg_diag *d)
{
    if (!r)
        return XCHG_ERR_ARG;
    if (r->err != XCHG_OK)
        return r->err;
    if (r->finished) {
        if (count)
            *count = r->count;
        return XCHG_OK;
    }
    if (!r->have_expect) {
        xchg_diag_add(d, XCHG_SEV_ERROR, r->path, 0, 0,
                      "no expected signer: call xchg_xex_reader_expect_signer before finishing");
        return XCHG_ERR_ARG;
    }
    while (!r->ended) {
        const uint8_t *rec;
        size_t len;
        int end;
        xchg_err rc = xchg_xex_reader_next(r, &rec, &len, &end, d);
        if (rc != XCHG_OK)
            return rc;
    }
    uint64_t claimed = xchg__get_u64le(r->trailer);
    if (claimed != r->count)
        return rfail(r, XCHG_ERR_VERIFY, d, "final message says %llu records, but %llu were read",
                     (unsigned long long)claimed, (unsigned long long)r->count);
    if (memcmp(r->signer_id, r->expect.id, XCHG_KEYID_BYTES) != 0) {
        r->err = signer_mismatch(r, &r->expect, d);
        return r->err;
    }
    transcript_end(&r->s->sign, r->count);
    if (crypto_sign_final_verify(&r->s->sign, r->trailer + 8, r->expect.sign_pk) != 0) {
        char id[XCHG_KEYID_HEXLEN + 1];
        xchg_keyid_hex(r->expect.id, id);
        return rfail(r, XCHG_ERR_VERIFY, d,
                     "signature by key %s does not verify: the extract is not exactly what "
                     "that key signed",
                     id);
    }
    r->finished = 1;
    if (count)
        *count = r->count;
    return XCHG_OK;
}
