#include "exchange/fileio.h"
#include "exchange/crypto.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static xchg_err read_fd(int fd, const char *path, size_t max, int secure, char **out,
                        size_t *outlen, xchg_diag *d)
{
    size_t cap = 0, len = 0;
    char *buf = NULL;
    struct stat st;
    /* Regular files: allocate once at the right size (secure buffers cannot grow). */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > max) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "file is larger than %zu bytes", max);
            return XCHG_ERR_FORMAT;
        }
        cap = (size_t)st.st_size + 1;
    } else {
        cap = secure ? max + 1 : 4096;
    }
    buf = secure ? xchg_secure_alloc(cap) : malloc(cap);
    if (!buf)
        return XCHG_ERR_NOMEM;
    for (;;) {
        if (len + 1 == cap) {
            if (secure || cap > max) {
                /* file grew while reading, or stream too long */
                char probe;
                ssize_t r = read(fd, &probe, 1);
                if (r == 0)
                    break;
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "file is larger than %zu bytes",
                              max);
                goto fail_format;
            }
            size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb)
                goto fail_nomem;
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(errno));
            goto fail_io;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return XCHG_OK;

fail_format:
    if (secure) xchg_secure_free(buf); else free(buf);
    return XCHG_ERR_FORMAT;
fail_nomem:
    if (secure) xchg_secure_free(buf); else free(buf);
    return XCHG_ERR_NOMEM;
fail_io:
    if (secure) xchg_secure_free(buf); else free(buf);
    return XCHG_ERR_IO;
}

static xchg_err read_path(const char *path, size_t max, int secure, char **buf, size_t *len,
                          xchg_diag *d)
{
    if (!path || !buf || !len)
        return XCHG_ERR_ARG;
    if (strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, "<stdin>", max, secure, buf, len, d);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(e));
        return e == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
    }
    xchg_err rc = read_fd(fd, path, max, secure, buf, len, d);
    close(fd);
    return rc;
}

xchg_err xchg_file_read(const char *path, size_t max, char **buf, size_t *len, xchg_diag *d)
{
    return read_path(path, max, 0, buf, len, d);
}

xchg_err xchg_file_read_secret(const char *path, size_t max, char **buf, size_t *len,
                               xchg_diag *d)
{
    return read_path(path, max, 1, buf, len, d);
}

const char *xchg__write_error(char *buf, size_t cap, const char *path, int err)
{
    if (err == EFBIG)
        snprintf(buf, cap, "file size limit reached while writing %s (%s)", path, strerror(err));
    else
        snprintf(buf, cap, "cannot write: %s", strerror(err));
    return buf;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

xchg_err xchg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                                unsigned flags, xchg_diag *d)
{
    if (!path || (!data && len))
        return XCHG_ERR_ARG;
    xchg_err rc = XCHG_ERR_IO;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dircopy = strdup(path);
    int fd = -1;
    if (!tmp || !dircopy) {
        rc = XCHG_ERR_NOMEM;
        goto cleanup;
    }
    tmp[0] = '\0'; /* no temporary file yet: nothing for cleanup to remove */
    if (!(flags & XCHG_WRITE_OVERWRITE) && access(path, F_OK) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "file exists; refusing to overwrite (use --force to replace it)");
        rc = XCHG_ERR_EXISTS;
        goto cleanup;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot create temporary file: %s",
                      strerror(errno));
        tmp[0] = '\0';
        goto cleanup;
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot set permissions: %s",
                      strerror(errno));
        goto cleanup;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            char m[PATH_MAX + 96];
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "%s",
                          xchg__write_error(m, sizeof m, path, errno));
            goto cleanup;
        }
        p += w;
        left -= (size_t)w;
    }
    XCHG_FAULT_POINT();
    if (fsync(fd) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot sync: %s", strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot close: %s", strerror(errno));
        goto cleanup;
    }
    fd = -1;
    XCHG_FAULT_POINT();
    if (flags & XCHG_WRITE_OVERWRITE) {
        if (rename(tmp, path) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot rename into place: %s",
                          strerror(errno));
            goto cleanup;
        }
    } else {
        /* link() fails with EEXIST if someone created path meanwhile: no clobbering. */
        if (link(tmp, path) != 0) {
            int e = errno;
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "%s",
                          e == EEXIST ? "file exists; refusing to overwrite (use --force to replace it)"
                                      : strerror(e));
            rc = e == EEXIST ? XCHG_ERR_EXISTS : XCHG_ERR_IO;
            goto cleanup;
        }
        unlink(tmp);
    }
    tmp[0] = '\0';
    XCHG_FAULT_POINT();
    if (fsync_dir(dirname(dircopy)) != 0) {
        /* The data is in place; only durability of the name is in doubt. */
    }
    rc = XCHG_OK;
cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp && tmp[0])
        unlink(tmp);
    free(tmp);
    free(dircopy);
    return rc;
}

#ifdef XCHG_FAULT_HOOKS
/* See XCHG_FAULT_POINT in internal.h: test builds only. The countdown is the one piece of
 * mutable global state in the library, and exists only in builds made for crash tests. */
void xchg__fault_point(void)
{
    static long left = -1;
    if (left == -1) {
        const char *v = getenv("XCHG_FAULT_AFTER_WRITES");
        left = v && *v ? strtol(v, NULL, 10) : 0;
        if (left <= 0)
            left = 0;
    }
    if (left > 0 && --left == 0)
        raise(SIGKILL);
}
#endif

xchg_err xchg__armour_write(const char *path, const char *head, const char *prefix,
                            const void *body, size_t len, int force, xchg_diag *d)
{
    size_t hl = head ? strlen(head) : 0, pl = strlen(prefix);
    size_t cap = hl + pl + xchg_base64_len(len) + 2;
    char *text = xchg_secure_alloc(cap);
    if (!text)
        return XCHG_ERR_NOMEM;
    memcpy(text, head ? head : "", hl);
    memcpy(text + hl, prefix, pl);
    xchg_base64_encode(text + hl + pl, body, len);
    size_t n = strlen(text);
    text[n++] = '\n';
    xchg_err e = xchg_file_write_atomic(path, text, n, 0600, force ? XCHG_WRITE_OVERWRITE : 0, d);
    xchg_secure_free(text);
    return e;
}
