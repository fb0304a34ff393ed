/*
 * The matcher's append-only audit log: hash-chained JSON lines with signed checkpoints.
 * Format: docs/formats.md, "Audit log". Everything that reads a line goes through
 * parse_entry, so the writer, the verifier and the viewer agree on what an entry is.
 */
#include "exchange/audit.h"
#include "exchange/fileio.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The canonical encoding: compact, keys sorted by their bytes, non-ASCII escaped. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
#define HASH_HEX (2 * XCHG_SHA256_BYTES)
/* Signed checkpoint message: context (with its NUL) || u64le seq || hash. */
static const char ckpt_context[] = "exchange audit checkpoint v1";
#define CKPT_MSG_BYTES (sizeof ckpt_context + 8 + XCHG_SHA256_BYTES)
#define EXPORT_MAX ((size_t)1 << 31)

struct xchg_audit {
    int fd;
    char *path;
    uint8_t matcher[XCHG_KEYID_BYTES]; /* from the genesis entry */
};

/* One parsed line. root owns everything; the pointers borrow from it. */
typedef struct entry {
    json_t *root;
    uint64_t seq;
    int64_t time;
    const char *type;
    const char *actor;
    json_t *data;
    uint8_t prev[XCHG_SHA256_BYTES];
    uint8_t hash[XCHG_SHA256_BYTES];
} entry;

static void entry_clear(entry *e)
{
    json_decref(e->root);
    memset(e, 0, sizeof *e);
}

static int is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int valid_type(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > XCHG_AUDIT_TYPE_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/*
 * The guard against personal data and non-canonical values: strings and keys at most
 * XCHG_AUDIT_STRING_MAX bytes, no reals, bounded nesting.
 */
static int check_value(const json_t *v, int depth, char *why, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth > XCHG_AUDIT_DEPTH_MAX) {
            snprintf(why, cap, "data nests deeper than %d levels", XCHG_AUDIT_DEPTH_MAX);
            return 0;
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strlen(k) > XCHG_AUDIT_STRING_MAX) {
                snprintf(why, cap, "a data key is longer than %d bytes", XCHG_AUDIT_STRING_MAX);
                return 0;
            }
            if (!check_value(x, depth + 1, why, cap))
                return 0;
        }
        return 1;
    }
    case JSON_ARRAY: {
        if (depth > XCHG_AUDIT_DEPTH_MAX) {
            snprintf(why, cap, "data nests deeper than %d levels", XCHG_AUDIT_DEPTH_MAX);
            return 0;
        }
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!check_value(x, depth + 1, why, cap))
                return 0;
        }
        return 1;
    }
    case JSON_STRING:
        if (json_string_length(v) > XCHG_AUDIT_STRING_MAX) {
            snprintf(why, cap,
                     "a data string is %zu bytes, longer than the %d allowed (audit entries "
                     "hold ids, counts and reasons, never personal data)",
                     json_string_length(v), XCHG_AUDIT_STRING_MAX);
            return 0;
        }
        return 1;
    case JSON_REAL:
        snprintf(why, cap, "data holds a floating-point number (use an integer or a string)");
        return 0;
    case JSON_INTEGER:
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        return 1;
    }
    return 0;
}

/* SHA-256 of the canonical encoding of root without its "hash" member. */
static xchg_err entry_hash(const json_t *root, uint8_t out[XCHG_SHA256_BYTES])
{
    json_t *c = json_copy((json_t *)root);
    if (!c)
        return XCHG_ERR_NOMEM;
    json_object_del(c, "hash");
    char *s = json_dumps(c, DUMP_FLAGS);
    json_decref(c);
    if (!s)
        return XCHG_ERR_NOMEM;
    xchg_sha256(s, strlen(s), out);
    free(s);
    return XCHG_OK;
}

/*
 * Parse one line (without its newline) into e. XCHG_ERR_FORMAT with the reason in why
 * when it is not a well-formed, canonical entry; the hash is not checked here.
 */
static xchg_err parse_entry(const char *line, size_t len, entry *e, char *why, size_t cap)
{
    json_error_t jerr;
    memset(e, 0, sizeof *e);
    e->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!e->root) {
        snprintf(why, cap, "not valid JSON (%s, column %d)", jerr.text, jerr.column);
        return XCHG_ERR_FORMAT;
    }
    json_t *r = e->root, *seq = json_object_get(r, "seq"), *tm = json_object_get(r, "time"),
           *type = json_object_get(r, "type"), *actor = json_object_get(r, "actor"),
           *prev = json_object_get(r, "prev"), *hash = json_object_get(r, "hash");
    e->data = json_object_get(r, "data");
    if (!json_is_object(r) || json_object_size(r) != 7 || !json_is_integer(seq) ||
        !json_is_integer(tm) || !json_is_string(type) || !json_is_string(actor) ||
        !json_is_object(e->data) || !json_is_string(prev) || !json_is_string(hash)) {
        snprintf(why, cap,
                 "not an audit entry (it needs exactly seq, time, type, actor, data, "
                 "prev and hash)");
        goto bad;
    }
    if (json_integer_value(seq) < 0 || json_integer_value(tm) < 0) {
        snprintf(why, cap, "seq and time must not be negative");
        goto bad;
    }
    e->seq = (uint64_t)json_integer_value(seq);
    e->time = (int64_t)json_integer_value(tm);
    e->type = json_string_value(type);
    e->actor = json_string_value(actor);
    if (!valid_type(e->type)) {
        snprintf(why, cap, "type is not a lower-case word of at most %d characters",
                 XCHG_AUDIT_TYPE_MAX);
        goto bad;
    }
    if (*e->actor && !is_lower_hex(e->actor, XCHG_KEYID_HEXLEN)) {
        snprintf(why, cap, "actor is neither empty nor a key id (16 lower-case hex digits)");
        goto bad;
    }
    if (!is_lower_hex(json_string_value(prev), HASH_HEX) ||
        !is_lower_hex(json_string_value(hash), HASH_HEX)) {
        snprintf(why, cap, "prev and hash must be 64 lower-case hex digits");
        goto bad;
    }
    if (xchg_hex_decode(e->prev, sizeof e->prev, json_string_value(prev), HASH_HEX) != XCHG_OK ||
        xchg_hex_decode(e->hash, sizeof e->hash, json_string_value(hash), HASH_HEX) != XCHG_OK)
        goto bad;
    char *canon = json_dumps(r, DUMP_FLAGS);
    if (!canon) {
        entry_clear(e);
        return XCHG_ERR_NOMEM;
    }
    int same = strlen(canon) == len && memcmp(canon, line, len) == 0;
    free(canon);
    if (!same) {
        snprintf(why, cap,
                 "the entry is not in canonical form (compact JSON, keys sorted, "
                 "non-ASCII escaped; docs/formats.md)");
        goto bad;
    }
    return XCHG_OK;
bad:
    entry_clear(e);
    return XCHG_ERR_FORMAT;
}

/* Genesis data: {"agreement":{"id","sha256"},"format","matcher_key","version"}. */
static xchg_err check_genesis(const entry *e, uint8_t matcher[XCHG_KEYID_BYTES], char *why,
                              size_t cap, xchg_audit_stats *st)
{
    json_t *fmt = json_object_get(e->data, "format"), *ver = json_object_get(e->data, "version"),
           *agr = json_object_get(e->data, "agreement"),
           *key = json_object_get(e->data, "matcher_key");
    json_t *aid = json_object_get(agr, "id"), *ash = json_object_get(agr, "sha256");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), XCHG_AUDIT_FORMAT) != 0) {
        snprintf(why, cap, "the genesis entry does not name the format \"%s\"", XCHG_AUDIT_FORMAT);
        return XCHG_ERR_FORMAT;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != XCHG_AUDIT_VERSION) {
        snprintf(why, cap,
                 "audit log format version %lld is not supported (this build reads "
                 "version %d)",
                 json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL,
                 XCHG_AUDIT_VERSION);
        return XCHG_ERR_VERSION;
    }
    if (!json_is_string(aid) || !json_is_string(ash) ||
        !is_lower_hex(json_string_value(ash), HASH_HEX) || !json_is_string(key) ||
        !is_lower_hex(json_string_value(key), XCHG_KEYID_HEXLEN) ||
        xchg_hex_decode(matcher, XCHG_KEYID_BYTES, json_string_value(key), XCHG_KEYID_HEXLEN) !=
            XCHG_OK) {
        snprintf(why, cap,
                 "the genesis entry lacks the agreement id and sha256 or the matcher "
                 "key id");
        return XCHG_ERR_FORMAT;
    }
    if (st) {
        xchg__strlcpy(st->agreement_id, json_string_value(aid), strlen(json_string_value(aid)),
                      sizeof st->agreement_id);
        memcpy(st->agreement_sha256, json_string_value(ash), HASH_HEX + 1);
        memcpy(st->matcher_key, json_string_value(key), XCHG_KEYID_HEXLEN + 1);
    }
    return XCHG_OK;
}

static void ckpt_message(uint8_t msg[CKPT_MSG_BYTES], uint64_t seq,
                         const uint8_t hash[XCHG_SHA256_BYTES])
{
    memcpy(msg, ckpt_context, sizeof ckpt_context);
    xchg__put_u64le(msg + sizeof ckpt_context, seq);
    memcpy(msg + sizeof ckpt_context + 8, hash, XCHG_SHA256_BYTES);
}

/*
 * Build the line (newline included) of a new entry; data is borrowed. *line is
 * malloc'ed.
 */
static xchg_err make_line(uint64_t seq, int64_t tm, const char *type, const char *actor,
                          json_t *data, const uint8_t prev[XCHG_SHA256_BYTES], char **line,
                          size_t *len)
{
    char prevhex[HASH_HEX + 1], hashhex[HASH_HEX + 1];
    uint8_t h[XCHG_SHA256_BYTES];
    xchg_hex_encode(prevhex, prev, XCHG_SHA256_BYTES);
    json_t *o =
        json_pack("{s:I,s:I,s:s,s:s,s:O,s:s}", "seq", (json_int_t)seq, "time", (json_int_t)tm,
                  "type", type, "actor", actor, "data", data, "prev", prevhex);
    if (!o)
        return XCHG_ERR_NOMEM;
    xchg_err e = entry_hash(o, h);
    if (e != XCHG_OK) {
        json_decref(o);
        return e;
    }
    xchg_hex_encode(hashhex, h, sizeof h);
    char *s = NULL;
    if (json_object_set_new(o, "hash", json_string(hashhex)) == 0)
        s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    if (!s)
        return XCHG_ERR_NOMEM;
    size_t n = strlen(s);
    char *l = realloc(s, n + 2);
    if (!l) {
        free(s);
        return XCHG_ERR_NOMEM;
    }
    l[n] = '\n';
    l[n + 1] = '\0';
    if (n + 1 > XCHG_AUDIT_LINE_MAX) {
        free(l);
        return XCHG_ERR_ARG;
    }
    *line = l;
    *len = n + 1;
    return XCHG_OK;
}

static xchg_err lock_fd(int fd, int how, const char *path, xchg_diag *d)
{
    while (flock(fd, how) != 0) {
        if (errno == EINTR)
            continue;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot lock the audit log: %s",
                      strerror(errno));
        return XCHG_ERR_IO;
    }
    return XCHG_OK;
}

static xchg_err pread_all(int fd, void *buf, size_t n, off_t off, const char *path, xchg_diag *d)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read the audit log: %s",
                          r < 0 ? strerror(errno) : "unexpected end of file");
            return XCHG_ERR_IO;
        }
        got += (size_t)r;
    }
    return XCHG_OK;
}

/* Read and parse the first line: it must be the genesis entry. */
static xchg_err read_genesis(int fd, const char *path, uint8_t matcher[XCHG_KEYID_BYTES],
                             xchg_diag *d)
{
    struct stat sb;
    char why[256];
    entry e;
    if (fstat(fd, &sb) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot stat: %s", strerror(errno));
        return XCHG_ERR_IO;
    }
    size_t n =
        (uint64_t)sb.st_size < XCHG_AUDIT_LINE_MAX ? (size_t)sb.st_size : XCHG_AUDIT_LINE_MAX;
    if (n == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the audit log is empty (no genesis entry)");
        return XCHG_ERR_FORMAT;
    }
    char *buf = malloc(n);
    if (!buf)
        return XCHG_ERR_NOMEM;
    xchg_err err = pread_all(fd, buf, n, 0, path, d);
    if (err != XCHG_OK)
        goto cleanup;
    char *nl = memchr(buf, '\n', n);
    if (!nl) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 1, 0,
                      "the first line is incomplete or too long: not an audit log");
        err = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    err = parse_entry(buf, (size_t)(nl - buf), &e, why, sizeof why);
    if (err == XCHG_OK) {
        if (e.seq != 0 || strcmp(e.type, XCHG_AUDIT_GENESIS) != 0) {
            snprintf(why, sizeof why, "the first entry is not the genesis entry");
            err = XCHG_ERR_FORMAT;
        } else {
            err = check_genesis(&e, matcher, why, sizeof why, NULL);
        }
        entry_clear(&e);
    }
    if (err == XCHG_ERR_FORMAT || err == XCHG_ERR_VERSION)
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 1, 0, "%s", why);
cleanup:
    free(buf);
    return err;
}

/*
 * Read the last entry (under the caller's lock): its seq and hash, after checking the
 * file ends with a newline and that the entry's hash recomputes. *size gets the file
 * size (where the next line goes).
 */
static xchg_err read_tail(int fd, const char *path, uint64_t *seq, uint8_t hash[XCHG_SHA256_BYTES],
                          off_t *size, xchg_diag *d)
{
    struct stat sb;
    char why[256];
    if (fstat(fd, &sb) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot stat: %s", strerror(errno));
        return XCHG_ERR_IO;
    }
    if (sb.st_size == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the audit log is empty (no genesis entry)");
        return XCHG_ERR_FORMAT;
    }
    off_t start = sb.st_size > XCHG_AUDIT_LINE_MAX ? sb.st_size - XCHG_AUDIT_LINE_MAX : 0;
    size_t n = (size_t)(sb.st_size - start);
    char *buf = malloc(n);
    if (!buf)
        return XCHG_ERR_NOMEM;
    xchg_err err = pread_all(fd, buf, n, start, path, d);
    if (err != XCHG_OK)
        goto cleanup;
    if (buf[n - 1] != '\n') {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the last line is incomplete (no newline at the end of the file): a "
                      "write was interrupted; nothing is appended to a torn log");
        xchg_diag_add(d, XCHG_SEV_NOTE, path, 0, 0,
                      "run 'xchg audit verify', then remove the incomplete line by hand and "
                      "record why");
        err = XCHG_ERR_TRUNCATED;
        goto cleanup;
    }
    size_t b = n - 1;
    while (b > 0 && buf[b - 1] != '\n')
        b--;
    if (b == 0 && start > 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the last line is longer than %d bytes",
                      XCHG_AUDIT_LINE_MAX);
        err = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    entry e;
    err = parse_entry(buf + b, n - 1 - b, &e, why, sizeof why);
    if (err == XCHG_ERR_FORMAT) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the last entry is damaged: %s", why);
        goto cleanup;
    }
    if (err != XCHG_OK)
        goto cleanup;
    uint8_t h[XCHG_SHA256_BYTES];
    err = entry_hash(e.root, h);
    if (err == XCHG_OK && memcmp(h, e.hash, sizeof h) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "the last entry (seq %" PRIu64 ") is damaged: its hash does not match "
                      "its content; nothing is appended (run 'xchg audit verify')",
                      e.seq);
        err = XCHG_ERR_VERIFY;
    }
    if (err == XCHG_OK) {
        *seq = e.seq;
        memcpy(hash, e.hash, XCHG_SHA256_BYTES);
        *size = sb.st_size;
    }
    entry_clear(&e);
cleanup:
    free(buf);
    return err;
}

static xchg_err write_all(int fd, const char *buf, size_t n, const char *path, xchg_diag *d)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EFBIG) {
            char m[PATH_MAX + 96];
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "%s",
                          xchg__write_error(m, sizeof m, path, errno));
            return XCHG_ERR_IO;
        }
        if (w <= 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot write the audit log: %s",
                          w < 0 ? strerror(errno) : "no progress");
            return XCHG_ERR_IO;
        }
        buf += w;
        n -= (size_t)w;
    }
    return XCHG_OK;
}

/*
 * The one writer: lock, read the head, build the entry (a checkpoint over the head when
 * signer is given, else type/actor/data), write, fsync, unlock.
 */
static xchg_err append_locked(xchg_audit *a, const char *type, const char *actor, json_t *data,
                              const xchg_seckey *signer, uint64_t *seq_out, xchg_diag *d)
{
    uint64_t seq = 0;
    uint8_t head[XCHG_SHA256_BYTES];
    off_t size = 0;
    char *line = NULL;
    size_t len = 0;
    json_t *cp = NULL;
    xchg_err err = lock_fd(a->fd, LOCK_EX, a->path, d);
    if (err != XCHG_OK)
        return err;
    if ((err = read_tail(a->fd, a->path, &seq, head, &size, d)) != XCHG_OK)
        goto cleanup;
    if (seq >= (uint64_t)INT64_MAX) {
        err = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    if (signer) {
        uint8_t msg[CKPT_MSG_BYTES], sig[XCHG_SIG_BYTES];
        char b64[128], headhex[HASH_HEX + 1];
        ckpt_message(msg, seq, head);
        xchg_sign(signer, msg, sizeof msg, sig);
        xchg_base64_encode(b64, sig, sizeof sig);
        xchg_hex_encode(headhex, head, sizeof head);
        cp = json_pack("{s:s,s:s,s:I,s:s}", "hash", headhex, "key", actor, "seq", (json_int_t)seq,
                       "sig", b64);
        if (!cp) {
            err = XCHG_ERR_NOMEM;
            goto cleanup;
        }
        data = cp;
    }
    time_t now = time(NULL);
    err = make_line(seq + 1, now < 0 ? 0 : (int64_t)now, type, actor, data, head, &line, &len);
    if (err == XCHG_ERR_ARG)
        xchg_diag_add(d, XCHG_SEV_ERROR, a->path, 0, 0, "the entry would be longer than %d bytes",
                      XCHG_AUDIT_LINE_MAX);
    if (err != XCHG_OK)
        goto cleanup;
    err = write_all(a->fd, line, len, a->path, d);
    if (err == XCHG_OK && fsync(a->fd) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, a->path, 0, 0, "cannot sync the audit log: %s",
                      strerror(errno));
        err = XCHG_ERR_IO;
    }
    if (err != XCHG_OK) {
        /* Cut a partial line off again so the log never ends torn because of us. */
        if (ftruncate(a->fd, size) == 0)
            (void)fsync(a->fd);
        goto cleanup;
    }
    if (seq_out)
        *seq_out = seq + 1;
cleanup:
    json_decref(cp);
    free(line);
    (void)flock(a->fd, LOCK_UN);
    return err;
}

xchg_err xchg_audit_open(const char *path, const xchg_audit_genesis *create, xchg_audit **out,
                         xchg_diag *d)
{
    xchg_audit *a = NULL;
    xchg_err err;
    if (!path || !out)
        return XCHG_ERR_ARG;
    if (create) {
        char sha[HASH_HEX + 1], key[XCHG_KEYID_HEXLEN + 1];
        uint8_t zero[XCHG_SHA256_BYTES] = {0};
        char *line = NULL;
        size_t len = 0;
        if (!create->agreement_id || !*create->agreement_id ||
            strlen(create->agreement_id) > XCHG_AUDIT_STRING_MAX)
            return XCHG_ERR_ARG;
        xchg_hex_encode(sha, create->agreement_sha256, XCHG_SHA256_BYTES);
        xchg_keyid_hex(create->matcher_key, key);
        json_t *data = json_pack("{s:{s:s,s:s},s:s,s:s,s:i}", "agreement", "id",
                                 create->agreement_id, "sha256", sha, "format", XCHG_AUDIT_FORMAT,
                                 "matcher_key", key, "version", XCHG_AUDIT_VERSION);
        if (!data)
            return XCHG_ERR_NOMEM;
        time_t now = time(NULL);
        err = make_line(0, now < 0 ? 0 : (int64_t)now, XCHG_AUDIT_GENESIS, key, data, zero, &line,
                        &len);
        json_decref(data);
        if (err != XCHG_OK)
            return err;
        err = xchg_file_write_atomic(path, line, len, 0600, 0, d);
        free(line);
        if (err != XCHG_OK)
            return err;
    }
    a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return XCHG_ERR_NOMEM;
    }
    a->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (a->fd < 0) {
        int en = errno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open the audit log: %s", strerror(en));
        err = en == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
        goto fail;
    }
    struct stat sb;
    if (fstat(a->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the audit log is not a regular file");
        err = XCHG_ERR_IO;
        goto fail;
    }
    if ((err = lock_fd(a->fd, LOCK_SH, path, d)) != XCHG_OK)
        goto fail;
    err = read_genesis(a->fd, path, a->matcher, d);
    (void)flock(a->fd, LOCK_UN);
    if (err != XCHG_OK)
        goto fail;
    *out = a;
    return XCHG_OK;
fail:
    xchg_audit_close(a);
    return err;
}

void xchg_audit_close(xchg_audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a);
}

xchg_err xchg_audit_append(xchg_audit *a, const char *type, const uint8_t actor[XCHG_KEYID_BYTES],
                           const char *data_json, uint64_t *seq_out, xchg_diag *d)
{
    char why[300], actorhex[XCHG_KEYID_HEXLEN + 1] = "";
    json_error_t jerr;
    if (!a || !type)
        return XCHG_ERR_ARG;
    if (!valid_type(type) || strcmp(type, XCHG_AUDIT_GENESIS) == 0 ||
        strcmp(type, XCHG_AUDIT_CHECKPOINT) == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "audit entry type '%s' is not allowed (a lower-case word of at most %d "
                      "characters; 'genesis' and 'checkpoint' are written by the log itself)",
                      type, XCHG_AUDIT_TYPE_MAX);
        return XCHG_ERR_ARG;
    }
    if (actor)
        xchg_keyid_hex(actor, actorhex);
    json_t *data = json_loads(data_json ? data_json : "{}", JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(data)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "audit entry data is not a JSON object%s%s",
                      data ? "" : ": ", data ? "" : jerr.text);
        json_decref(data);
        return XCHG_ERR_ARG;
    }
    if (!check_value(data, 0, why, sizeof why)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "audit entry data refused: %s", why);
        json_decref(data);
        return XCHG_ERR_ARG;
    }
    char *canon = json_dumps(data, DUMP_FLAGS);
    size_t clen = canon ? strlen(canon) : 0;
    free(canon);
    if (!canon) {
        json_decref(data);
        return XCHG_ERR_NOMEM;
    }
    if (clen > XCHG_AUDIT_DATA_MAX) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "audit entry data refused: %zu bytes, more than the %d allowed", clen,
                      XCHG_AUDIT_DATA_MAX);
        json_decref(data);
        return XCHG_ERR_ARG;
    }
    xchg_err err = append_locked(a, type, actorhex, data, NULL, seq_out, d);
    json_decref(data);
    return err;
}

xchg_err xchg_audit_checkpoint(xchg_audit *a, const xchg_seckey *matcher, uint64_t *seq_out,
                               xchg_diag *d)
{
    char key[XCHG_KEYID_HEXLEN + 1], want[XCHG_KEYID_HEXLEN + 1];
    if (!a || !matcher)
        return XCHG_ERR_ARG;
    const xchg_pubkey *pk = xchg_seckey_public(matcher);
    xchg_keyid_hex(pk->id, key);
    if (memcmp(pk->id, a->matcher, XCHG_KEYID_BYTES) != 0) {
        xchg_keyid_hex(a->matcher, want);
        xchg_diag_add(d, XCHG_SEV_ERROR, a->path, 0, 0,
                      "key %s is not the matcher key %s this log was started for", key, want);
        return XCHG_ERR_UNKNOWN_KEY;
    }
    return append_locked(a, XCHG_AUDIT_CHECKPOINT, key, NULL, matcher, seq_out, d);
}

/* ---- reading whole logs ------------------------------------------------------------ */

/*
 * Line reader over a FILE: *line (malloc'ed, grows) without its newline. Returns 1 with
 * a line, 0 at end of file, -1 on a read error. *complete is 0 when the line had no
 * newline (the file ended inside it).
 */
static int next_line(FILE *f, char **line, size_t *cap, size_t *len, int *complete)
{
    ssize_t n = getline(line, cap, f);
    if (n < 0)
        return ferror(f) ? -1 : 0;
    *complete = n > 0 && (*line)[n - 1] == '\n';
    *len = (size_t)n - (*complete ? 1u : 0u);
    return 1;
}

static FILE *open_read(const char *path, xchg_diag *d, xchg_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int en = errno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot open: %s", strerror(en));
        *err = en == ENOENT ? XCHG_ERR_NOT_FOUND : XCHG_ERR_IO;
        return NULL;
    }
    /* A shared lock: a writer's line is either wholly there or not at all. */
    if ((*err = lock_fd(fileno(f), LOCK_SH, path, d)) != XCHG_OK) {
        fclose(f);
        return NULL;
    }
    return f;
}

/* Checkpoint data: {"hash": prev hex, "key": key id, "seq": seq - 1, "sig": base64}. */
static xchg_err check_checkpoint(const entry *e, const xchg_pubkey *matcher, char *why, size_t cap)
{
    json_t *hash = json_object_get(e->data, "hash"), *key = json_object_get(e->data, "key"),
           *seq = json_object_get(e->data, "seq"), *sig = json_object_get(e->data, "sig");
    uint8_t h[XCHG_SHA256_BYTES], s[XCHG_SIG_BYTES], msg[CKPT_MSG_BYTES];
    size_t slen = 0;
    if (json_object_size(e->data) != 4 || !json_is_string(hash) || !json_is_string(key) ||
        !json_is_integer(seq) || !json_is_string(sig) ||
        !is_lower_hex(json_string_value(hash), HASH_HEX) ||
        !is_lower_hex(json_string_value(key), XCHG_KEYID_HEXLEN) ||
        strcmp(json_string_value(key), e->actor) != 0 ||
        xchg_hex_decode(h, sizeof h, json_string_value(hash), HASH_HEX) != XCHG_OK ||
        xchg_base64_decode(s, sizeof s, &slen, json_string_value(sig),
                           strlen(json_string_value(sig))) != XCHG_OK ||
        slen != sizeof s) {
        snprintf(why, cap, "entry seq %" PRIu64 ": malformed checkpoint", e->seq);
        return XCHG_ERR_FORMAT;
    }
    if ((uint64_t)json_integer_value(seq) != e->seq - 1 || memcmp(h, e->prev, sizeof h) != 0) {
        snprintf(why, cap,
                 "entry seq %" PRIu64 ": the checkpoint does not sign the entry before it", e->seq);
        return XCHG_ERR_VERIFY;
    }
    if (!matcher)
        return XCHG_OK;
    char want[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(matcher->id, want);
    if (strcmp(json_string_value(key), want) != 0) {
        snprintf(why, cap,
                 "entry seq %" PRIu64 ": checkpoint signed by key %s, which is not the "
                 "matcher's key %s",
                 e->seq, json_string_value(key), want);
        return XCHG_ERR_UNKNOWN_KEY;
    }
    ckpt_message(msg, e->seq - 1, h);
    if (xchg_verify(matcher, msg, sizeof msg, s) != XCHG_OK) {
        snprintf(why, cap,
                 "entry seq %" PRIu64 ": checkpoint signature does not verify with the "
                 "matcher's key %s",
                 e->seq, want);
        return XCHG_ERR_VERIFY;
    }
    return XCHG_OK;
}

xchg_err xchg_audit_verify(const char *path, const xchg_pubkey *matcher, xchg_audit_stats *st,
                           xchg_diag *d)
{
    xchg_audit_stats local;
    char *line = NULL, why[512];
    size_t cap = 0, len = 0;
    uint64_t lineno = 0, prev_seq = 0;
    uint8_t prev_hash[XCHG_SHA256_BYTES] = {0};
    int complete = 0, r;
    xchg_err err = XCHG_OK;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (!path)
        return XCHG_ERR_ARG;
    FILE *f = open_read(path, d, &err);
    if (!f)
        return err;
    while ((r = next_line(f, &line, &cap, &len, &complete)) == 1) {
        entry e;
        lineno++;
        why[0] = '\0';
        if (!complete) {
            snprintf(why, sizeof why,
                     "the last line is incomplete (no newline): a write was interrupted or "
                     "the file was cut short");
            err = XCHG_ERR_TRUNCATED;
            break;
        }
        if (len + 1 > XCHG_AUDIT_LINE_MAX) {
            snprintf(why, sizeof why, "line longer than %d bytes", XCHG_AUDIT_LINE_MAX);
            err = XCHG_ERR_FORMAT;
            break;
        }
        if ((err = parse_entry(line, len, &e, why, sizeof why)) != XCHG_OK)
            break;
        uint8_t h[XCHG_SHA256_BYTES];
        if (lineno == 1) {
            if (e.seq != 0 || strcmp(e.type, XCHG_AUDIT_GENESIS) != 0) {
                snprintf(why, sizeof why,
                         "the first entry is seq %" PRIu64 " of type '%s', not the genesis "
                         "entry (seq 0): entries at the start were removed",
                         e.seq, e.type);
                err = XCHG_ERR_VERIFY;
            } else if (memcmp(e.prev, prev_hash, sizeof prev_hash) != 0) {
                snprintf(why, sizeof why, "the genesis entry's prev is not 64 zeros");
                err = XCHG_ERR_VERIFY;
            }
        } else if (e.seq != prev_seq + 1) {
            snprintf(why, sizeof why, "seq %" PRIu64 " follows seq %" PRIu64 ": %s", e.seq,
                     prev_seq,
                     e.seq > prev_seq ? "an entry was deleted or moved"
                                      : "entries were reordered or duplicated");
            err = XCHG_ERR_VERIFY;
        } else if (memcmp(e.prev, prev_hash, sizeof prev_hash) != 0) {
            snprintf(why, sizeof why,
                     "entry seq %" PRIu64 ": prev does not match the hash of line %" PRIu64
                     " (that entry was replaced, or this one was edited)",
                     e.seq, lineno - 1);
            err = XCHG_ERR_VERIFY;
        }
        if (err == XCHG_OK && (err = entry_hash(e.root, h)) == XCHG_OK &&
            memcmp(h, e.hash, sizeof h) != 0) {
            snprintf(why, sizeof why,
                     "entry seq %" PRIu64 ": hash does not match its content (the entry was "
                     "edited)",
                     e.seq);
            err = XCHG_ERR_VERIFY;
        }
        if (err == XCHG_OK && lineno == 1) {
            uint8_t key[XCHG_KEYID_BYTES];
            err = check_genesis(&e, key, why, sizeof why, st);
            if (err == XCHG_OK && matcher && memcmp(key, matcher->id, sizeof key) != 0) {
                char want[XCHG_KEYID_HEXLEN + 1];
                xchg_keyid_hex(matcher->id, want);
                snprintf(why, sizeof why,
                         "the log was started for matcher key %s, not for the matcher's key %s",
                         st->matcher_key, want);
                err = XCHG_ERR_UNKNOWN_KEY;
            }
        } else if (err == XCHG_OK && strcmp(e.type, XCHG_AUDIT_GENESIS) == 0) {
            snprintf(why, sizeof why, "entry seq %" PRIu64 ": a second genesis entry", e.seq);
            err = XCHG_ERR_VERIFY;
        } else if (err == XCHG_OK && strcmp(e.type, XCHG_AUDIT_CHECKPOINT) == 0) {
            err = check_checkpoint(&e, matcher, why, sizeof why);
            if (err == XCHG_OK) {
                st->checkpoints++;
                st->have_checkpoint = 1;
                st->last_checkpoint_seq = e.seq;
            }
        }
        if (err == XCHG_OK) {
            st->entries++;
            st->head_seq = e.seq;
            xchg_hex_encode(st->head_hash, e.hash, sizeof e.hash);
            prev_seq = e.seq;
            memcpy(prev_hash, e.hash, sizeof prev_hash);
        }
        entry_clear(&e);
        if (err != XCHG_OK)
            break;
    }
    if (r < 0 && err == XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(errno));
        err = XCHG_ERR_IO;
    } else if (err != XCHG_OK && why[0]) {
        st->first_bad_line = lineno;
        xchg_diag_add(d, XCHG_SEV_ERROR, path, (unsigned)lineno, 0, "%s", why);
    } else if (err == XCHG_OK && lineno == 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "the audit log is empty (no genesis entry)");
        st->first_bad_line = 1;
        err = XCHG_ERR_FORMAT;
    }
    if (err == XCHG_OK) {
        st->unsigned_entries =
            st->have_checkpoint ? st->head_seq - st->last_checkpoint_seq : st->entries;
        if (!matcher)
            xchg_diag_add(d, XCHG_SEV_WARNING, path, 0, 0,
                          "checkpoint signatures were not checked (no matcher key given)");
        if (!st->have_checkpoint)
            xchg_diag_add(d, XCHG_SEV_WARNING, path, 0, 0,
                          "no checkpoint: none of the %" PRIu64 " entries is signed by the "
                          "matcher",
                          st->entries);
        else if (st->unsigned_entries)
            xchg_diag_add(d, XCHG_SEV_WARNING, path, 0, 0,
                          "%" PRIu64 " %s after the last checkpoint (seq %" PRIu64
                          ") %s not signed by the matcher",
                          st->unsigned_entries, st->unsigned_entries == 1 ? "entry" : "entries",
                          st->last_checkpoint_seq, st->unsigned_entries == 1 ? "is" : "are");
    }
    free(line);
    fclose(f);
    return err;
}

xchg_err xchg_audit_compare(const char *older, const char *newer, xchg_diag *d)
{
    xchg_err err = XCHG_OK;
    char *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0, la = 0, lb = 0;
    int ka = 0, kb = 0, ra, rb;
    uint64_t lineno = 0;
    FILE *fa = open_read(older, d, &err), *fb = NULL;
    if (!fa)
        return err;
    if (!(fb = open_read(newer, d, &err)))
        goto cleanup;
    while ((ra = next_line(fa, &a, &ca, &la, &ka)) == 1) {
        lineno++;
        rb = next_line(fb, &b, &cb, &lb, &kb);
        if (rb < 0) {
            ra = -1;
            break;
        }
        if (rb == 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, newer, 0, 0,
                          "has %" PRIu64 " lines, fewer than the %s copy: entries were "
                          "removed from the end",
                          lineno - 1, older);
            err = XCHG_ERR_VERIFY;
            goto cleanup;
        }
        if (la != lb || ka != kb || memcmp(a, b, la) != 0) {
            xchg_diag_add(d, XCHG_SEV_ERROR, newer, (unsigned)lineno, 0,
                          "differs from line %" PRIu64 " of %s: history was rewritten", lineno,
                          older);
            err = XCHG_ERR_VERIFY;
            goto cleanup;
        }
    }
    if (ra < 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0, "cannot read %s or %s", older, newer);
        err = XCHG_ERR_IO;
    }
cleanup:
    free(a);
    free(b);
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return err;
}

xchg_err xchg_audit_export(const char *path, const char *out, unsigned flags, uint64_t *entries,
                           xchg_diag *d)
{
    xchg_err err = XCHG_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!path || !out)
        return XCHG_ERR_ARG;
    FILE *f = open_read(path, d, &err);
    if (!f)
        return err;
    for (;;) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            char *nb = nc <= EXPORT_MAX ? realloc(buf, nc) : NULL;
            if (!nb) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                              "the audit log is too large to "
                              "export in one piece");
                err = XCHG_ERR_NOMEM;
                goto cleanup;
            }
            buf = nb;
            cap = nc;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(errno));
                err = XCHG_ERR_IO;
                goto cleanup;
            }
            break;
        }
    }
    size_t keep = len;
    while (keep > 0 && buf[keep - 1] != '\n')
        keep--;
    if (keep < len)
        xchg_diag_add(d, XCHG_SEV_WARNING, path, 0, 0,
                      "the last line is incomplete (%zu bytes without a newline) and is not "
                      "exported",
                      len - keep);
    uint64_t n = 0;
    for (size_t i = 0; i < keep; i++)
        n += buf[i] == '\n';
    err = xchg_file_write_atomic(out, buf ? buf : "", keep, 0644, flags, d);
    if (err == XCHG_OK && entries)
        *entries = n;
cleanup:
    free(buf);
    fclose(f);
    return err;
}

xchg_err xchg_audit_foreach(const char *path, xchg_audit_visit visit, void *ctx, xchg_diag *d)
{
    xchg_err err = XCHG_OK;
    char *line = NULL, why[300];
    size_t cap = 0, len = 0;
    int complete = 0, r;
    uint64_t lineno = 0;
    if (!path || !visit)
        return XCHG_ERR_ARG;
    FILE *f = open_read(path, d, &err);
    if (!f)
        return err;
    while ((r = next_line(f, &line, &cap, &len, &complete)) == 1) {
        entry e;
        lineno++;
        if (!complete) {
            xchg_diag_add(d, XCHG_SEV_ERROR, path, (unsigned)lineno, 0,
                          "the last line is incomplete (no newline)");
            err = XCHG_ERR_TRUNCATED;
            break;
        }
        if ((err = parse_entry(line, len, &e, why, sizeof why)) != XCHG_OK) {
            if (err == XCHG_ERR_FORMAT)
                xchg_diag_add(d, XCHG_SEV_ERROR, path, (unsigned)lineno, 0, "%s", why);
            break;
        }
        char hash[HASH_HEX + 1];
        char *data = json_dumps(e.data, DUMP_FLAGS);
        xchg_hex_encode(hash, e.hash, sizeof e.hash);
        xchg_audit_entry ae = {lineno, e.seq, e.time, e.type, e.actor, data, hash};
        int stop = data ? visit(&ae, ctx) : 0;
        free(data);
        entry_clear(&e);
        if (!data) {
            err = XCHG_ERR_NOMEM;
            break;
        }
        if (stop)
            break;
    }
    if (r < 0 && err == XCHG_OK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "cannot read: %s", strerror(errno));
        err = XCHG_ERR_IO;
    }
    free(line);
    fclose(f);
    return err;
}
