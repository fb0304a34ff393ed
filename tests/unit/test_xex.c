/*
 * Sealed-extract container: round trips, and every rejection with its exact message --
 * truncation at every offset, a flipped bit in every byte, reordered / duplicated /
 * removed records, forgeries by a holder of the stream key, another matcher, another
 * signer, trailing data, oversized frames; the writer never leaves a partial file.
 */
#include "internal.h"
#include "test_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>

static xchg_seckey *matcher, *agency, *other;

static int setup(void **state)
{
    (void)state;
    if (xchg_init() != XCHG_OK)
        return -1;
    matcher = seed_key(0x11);
    agency = seed_key(0x22);
    other = seed_key(0x33);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_seckey_free(matcher);
    xchg_seckey_free(agency);
    xchg_seckey_free(other);
    return 0;
}

/* Deterministic content of record i with length len. */
static void fill_record(uint8_t *buf, size_t len, uint64_t i)
{
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    xchg__put_u64le(seed, i);
    randombytes_buf_deterministic(buf, len, seed);
}

/* Write n records; sizes[i] if sizes != NULL, else 3 + i. */
static void write_xex(const char *path, const xchg_seckey *to, const xchg_seckey *by,
                      const char *header, size_t n, const size_t *sizes)
{
    xchg_xex_writer *w = NULL;
    unlink(path);
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(to), by, header, strlen(header), &w, NULL),
        XCHG_OK);
    uint8_t buf[512];
    for (size_t i = 0; i < n; i++) {
        size_t len = sizes ? sizes[i] : 3 + i;
        assert_true(len <= sizeof buf);
        fill_record(buf, len, i);
        assert_int_equal(xchg_xex_writer_add(w, buf, len), XCHG_OK);
    }
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);
}

/*
 * Read a whole file as a consumer would: open with key, expect signer, iterate, finish.
 * Returns the first error; records are checked against fill_record when check is set.
 */
static xchg_err read_xex(const char *path, const xchg_seckey *key, const xchg_pubkey *signer,
                         uint64_t *count, int check, xchg_diag *d)
{
    xchg_xex_reader *r = NULL;
    xchg_err rc = xchg_xex_reader_open(path, key, &r, d);
    if (rc != XCHG_OK) {
        assert_null(r);
        return rc;
    }
    rc = xchg_xex_reader_expect_signer(r, signer, d);
    uint64_t i = 0;
    uint8_t *want = malloc(XCHG_XEX_RECORD_MAX);
    while (rc == XCHG_OK) {
        const uint8_t *rec;
        size_t len;
        int end;
        rc = xchg_xex_reader_next(r, &rec, &len, &end, d);
        if (rc != XCHG_OK || end)
            break;
        if (check) {
            fill_record(want, len, i);
            assert_memory_equal(rec, want, len);
        }
        i++;
    }
    free(want);
    if (rc == XCHG_OK)
        rc = xchg_xex_reader_finish(r, count, d);
    xchg_xex_reader_free(r);
    return rc;
}

/* Expect rc and a diagnostic containing msg from reading path as the agency's matcher. */
static void expect_reject(const char *path, xchg_err want, const char *msg)
{
    xchg_diag *d = xchg_diag_new();
    xchg_err rc = read_xex(path, matcher, xchg_seckey_public(agency), NULL, 0, d);
    if (rc != want)
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            print_message("  diag: %s\n", xchg_diag_text(d, i));
    assert_int_equal(rc, want);
    assert_diag_has(d, msg);
    xchg_diag_free(d);
}

/* Offsets of every frame after the preamble (header frame first, final frame last). */
static size_t frames(const uint8_t *f, size_t len, size_t *off, size_t max)
{
    size_t n = 0, o = XCHG_XEX_PREAMBLE_BYTES;
    while (o < len) {
        assert_true(n < max);
        off[n++] = o;
        o += 4 + xchg__get_u32le(f + o);
    }
    assert_int_equal(o, len);
    off[n] = len;
    return n;
}

static int tmp_left(const char *path)
{
    char dir[512], prefix[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(prefix, sizeof prefix, "%s.tmp.", slash + 1);
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dd);
    return n;
}

/* ---- round trips ------------------------------------------------------------------ */

static void test_roundtrip_zero_and_one(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 1; n++) {
        const char *path = tpath(n ? "one.xex" : "zero.xex");
        write_xex(path, matcher, agency, n ? "{\"extract\":1}" : "", n, NULL);
        assert_int_equal(tmp_left(path), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        /* preamble + header frame (4+8+h+17) + records + final frame (4+72+17) */
        size_t h = n ? 13 : 0;
        assert_int_equal((size_t)st.st_size, 120 + 29 + h + n * (4 + 3 + 17) + 93);

        xchg_xex_reader *r = NULL;
        assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
        size_t hlen;
        const uint8_t *hdr = xchg_xex_reader_header(r, &hlen);
        assert_non_null(hdr);
        assert_int_equal(hlen, h);
        if (n)
            assert_memory_equal(hdr, "{\"extract\":1}", h);
        uint8_t sid[XCHG_KEYID_BYTES];
        xchg_xex_reader_signer_id(r, sid);
        assert_memory_equal(sid, xchg_seckey_public(agency)->id, XCHG_KEYID_BYTES);
        assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(agency), NULL),
                         XCHG_OK);
        const uint8_t *rec;
        size_t len;
        int end;
        if (n) {
            assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
            assert_int_equal(end, 0);
            assert_int_equal(len, 3);
        }
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        assert_int_equal(end, 1);
        assert_null(rec);
        /* next after the end keeps saying end */
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        assert_int_equal(end, 1);
        uint64_t count = 99;
        assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
        assert_int_equal(count, n);
        xchg_xex_reader_free(r);
    }
}

static void test_roundtrip_10000_random_sizes(void **state)
{
    (void)state;
    const char *path = tpath("many.xex");
    const size_t n = 10000;
    size_t *sizes = malloc(n * sizeof *sizes);
    for (size_t i = 0; i < n; i++)
        sizes[i] = randombytes_uniform(600);
    sizes[0] = 0;
    sizes[17] = 0;
    sizes[4000] = XCHG_XEX_RECORD_MAX; /* the largest record */
    sizes[4001] = 65536 - 4 - 17;      /* a frame exactly the I/O buffer */
    sizes[4002] = 65536;               /* larger than the buffer */
    sizes[n - 1] = XCHG_XEX_RECORD_MAX;
    uint8_t *buf = malloc(XCHG_XEX_RECORD_MAX);
    char *header = malloc(XCHG_XEX_HEADER_MAX);
    memset(header, 'h', XCHG_XEX_HEADER_MAX); /* the largest header */

    unlink(path);
    xchg_xex_writer *w = NULL;
    assert_int_equal(xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, header,
                                         XCHG_XEX_HEADER_MAX, &w, NULL),
                     XCHG_OK);
    for (size_t i = 0; i < n; i++) {
        fill_record(buf, sizes[i], i);
        assert_int_equal(xchg_xex_writer_add(w, buf, sizes[i]), XCHG_OK);
    }
    assert_int_equal(xchg_xex_writer_count(w), n);
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);

    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
    size_t hlen;
    const uint8_t *hdr = xchg_xex_reader_header(r, &hlen);
    assert_int_equal(hlen, XCHG_XEX_HEADER_MAX);
    assert_memory_equal(hdr, header, hlen);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(agency), NULL), XCHG_OK);
    for (size_t i = 0;; i++) {
        const uint8_t *rec;
        size_t len;
        int end;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        if (end) {
            assert_int_equal(i, n);
            break;
        }
        assert_int_equal(len, sizes[i]);
        fill_record(buf, len, i);
        assert_memory_equal(rec, buf, len);
    }
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    assert_int_equal(count, n);
    xchg_xex_reader_free(r);

    /* finish alone reads (and verifies) the records not yet read */
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(agency), NULL), XCHG_OK);
    count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    assert_int_equal(count, n);
    xchg_xex_reader_free(r);
    free(buf);
    free(header);
    free(sizes);
}

static void test_limits(void **state)
{
    (void)state;
    const char *path = tpath("limits.xex");
    unlink(path);
    xchg_diag *d = xchg_diag_new();
    xchg_xex_writer *w = NULL;
    char *big = calloc(1, XCHG_XEX_RECORD_MAX + 1);
    assert_int_equal(xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, big,
                                         XCHG_XEX_HEADER_MAX + 1, &w, d),
                     XCHG_ERR_ARG);
    assert_null(w);
    assert_diag_has(d, "extract header is 65537 bytes; the limit is 65536");
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, "", 0, &w, NULL),
        XCHG_OK);
    assert_int_equal(xchg_xex_writer_add(w, big, XCHG_XEX_RECORD_MAX + 1), XCHG_ERR_ARG);
    assert_int_equal(xchg_xex_writer_add(w, NULL, 1), XCHG_ERR_ARG);
    /* an oversized record does not spoil the writer */
    assert_int_equal(xchg_xex_writer_add(w, NULL, 0), XCHG_OK);
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    xchg_xex_writer_free(w);
    uint64_t count = 0;
    assert_int_equal(read_xex(path, matcher, xchg_seckey_public(agency), &count, 0, NULL), XCHG_OK);
    assert_int_equal(count, 1);
    free(big);
    xchg_diag_free(d);
}

/* ---- reader rejections -------------------------------------------------------------- */

static void test_truncated_at_every_offset(void **state)
{
    (void)state;
    const char *path = tpath("cut-src.xex"), *cut = tpath("cut.xex");
    write_xex(path, matcher, agency, "{\"h\":1}", 3, NULL);
    size_t len, off[8];
    uint8_t *f = (uint8_t *)slurp(path, &len);
    size_t nf = frames(f, len, off, 7);
    assert_int_equal(nf, 5); /* header, 3 records, final */
    for (size_t n = 0; n < len; n++) {
        spit(cut, f, n);
        const char *msg;
        size_t fi = 0;
        while (fi < nf && off[fi + 1] <= n)
            fi++;
        if (n < XCHG_XEX_PREAMBLE_BYTES)
            msg = "file ends inside the preamble";
        else if (n == XCHG_XEX_PREAMBLE_BYTES)
            msg = "file ends after the preamble, before the header message";
        else if (n == off[fi] && fi > 0)
            msg = "without the final message (truncated, or records were removed from the end)";
        else if (n < off[fi] + 4)
            msg = "file ends inside the length of the frame at offset";
        else
            msg = "file ends inside the frame at offset";
        expect_reject(cut, XCHG_ERR_TRUNCATED, msg);
    }
    /* cut right before the final frame: all records returned, then TRUNCATED */
    spit(cut, f, off[nf - 1]);
    expect_reject(cut, XCHG_ERR_TRUNCATED,
                  "file ends after record 3 without the final message (truncated");
    free(f);
}

static void test_bitflip_in_every_byte(void **state)
{
    (void)state;
    const char *path = tpath("flip-src.xex"), *bad = tpath("flip.xex");
    write_xex(path, matcher, agency, "{\"h\":1}", 3, NULL);
    size_t len, off[8];
    uint8_t *f = (uint8_t *)slurp(path, &len);
    frames(f, len, off, 7);
    for (size_t i = 0; i < len; i++) {
        f[i] ^= (uint8_t)(1u << (i % 8));
        spit(bad, f, len);
        f[i] ^= (uint8_t)(1u << (i % 8));
        xchg_diag *d = xchg_diag_new();
        xchg_err rc = read_xex(bad, matcher, xchg_seckey_public(agency), NULL, 0, d);
        assert_int_not_equal(rc, XCHG_OK);
        assert_true(xchg_diag_errors(d) >= 1);
        const char *msg = xchg_diag_message(d, 0);
        if (i < 7) {
            assert_int_equal(rc, XCHG_ERR_FORMAT);
            assert_string_equal(msg, "not a sealed extract (bad magic)");
        } else if (i == 7) {
            assert_int_equal(rc, XCHG_ERR_VERSION);
        } else if (i < 16) {
            assert_int_equal(rc, XCHG_ERR_VERIFY);
            assert_non_null(strstr(msg, "preamble altered: the recipient key id"));
        } else if (i < 96) {
            assert_int_equal(rc, XCHG_ERR_VERIFY);
            assert_non_null(strstr(msg, "cannot unseal the stream key"));
        } else if (i < 120) {
            assert_int_equal(rc, XCHG_ERR_VERIFY);
            assert_non_null(strstr(msg, "header message does not authenticate"));
        } else {
            /* a frame length now too long, too short, or misaligned; or a changed byte */
            assert_true(rc == XCHG_ERR_VERIFY || rc == XCHG_ERR_FORMAT || rc == XCHG_ERR_TRUNCATED);
        }
        xchg_diag_free(d);
    }
    free(f);
}

/* Rebuild the file from frames in the order given by idx (indexes into off[]). */
static void reframe(const char *dst, const uint8_t *f, const size_t *off, const size_t *idx,
                    size_t n)
{
    FILE *o = fopen(dst, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(f, 1, XCHG_XEX_PREAMBLE_BYTES, o), XCHG_XEX_PREAMBLE_BYTES);
    for (size_t i = 0; i < n; i++) {
        size_t fl = off[idx[i] + 1] - off[idx[i]];
        assert_int_equal(fwrite(f + off[idx[i]], 1, fl, o), fl);
    }
    assert_int_equal(fclose(o), 0);
}

static void test_reordered_duplicated_removed(void **state)
{
    (void)state;
    const char *path = tpath("order-src.xex"), *bad = tpath("order.xex");
    write_xex(path, matcher, agency, "{}", 3, NULL);
    size_t len, off[8];
    uint8_t *f = (uint8_t *)slurp(path, &len);
    assert_int_equal(frames(f, len, off, 7), 5);
    const char *msg = "does not authenticate: the file was altered, or records were "
                      "reordered, duplicated or removed";
    size_t swapped[] = {0, 2, 1, 3, 4};
    reframe(bad, f, off, swapped, 5);
    expect_reject(bad, XCHG_ERR_VERIFY, "the frame at offset 151 (after record 0)");
    expect_reject(bad, XCHG_ERR_VERIFY, msg);
    size_t duplicated[] = {0, 1, 1, 2, 3, 4};
    reframe(bad, f, off, duplicated, 6);
    expect_reject(bad, XCHG_ERR_VERIFY, "(after record 1) does not authenticate");
    size_t middle_gone[] = {0, 1, 3, 4};
    reframe(bad, f, off, middle_gone, 4);
    expect_reject(bad, XCHG_ERR_VERIFY, "(after record 1) does not authenticate");
    size_t last_gone[] = {0, 1, 2, 4};
    reframe(bad, f, off, last_gone, 4);
    expect_reject(bad, XCHG_ERR_VERIFY, "(after record 2) does not authenticate");
    size_t no_final[] = {0, 1, 2, 3};
    reframe(bad, f, off, no_final, 4);
    expect_reject(bad, XCHG_ERR_TRUNCATED, "file ends after record 3 without the final message");
    size_t final_twice[] = {0, 1, 2, 3, 4, 4};
    reframe(bad, f, off, final_twice, 6);
    expect_reject(bad, XCHG_ERR_FORMAT, "unexpected data after the final message (at offset");
    size_t no_header[] = {1, 2, 3, 4};
    reframe(bad, f, off, no_header, 4);
    expect_reject(bad, XCHG_ERR_VERIFY, "header message does not authenticate");
    /* records spliced in from another file for the same matcher */
    const char *path2 = tpath("order-src2.xex");
    write_xex(path2, matcher, agency, "{}", 3, NULL);
    size_t len2, off2[8];
    uint8_t *g = (uint8_t *)slurp(path2, &len2);
    assert_int_equal(frames(g, len2, off2, 7), 5);
    assert_int_equal(len, len2);
    memcpy(g + off2[2], f + off[2], off[3] - off[2]); /* same sizes: record 1 of f into g */
    spit(bad, g, len2);
    expect_reject(bad, XCHG_ERR_VERIFY, "(after record 1) does not authenticate");
    free(g);
    free(f);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    const char *path = tpath("trail-src.xex"), *bad = tpath("trail.xex");
    write_xex(path, matcher, agency, "{}", 2, NULL);
    size_t len;
    uint8_t *f = (uint8_t *)slurp(path, &len);
    uint8_t *g = malloc(len + 1);
    memcpy(g, f, len);
    g[len] = 0;
    spit(bad, g, len + 1);
    char msg[80];
    snprintf(msg, sizeof msg, "unexpected data after the final message (at offset %zu)", len);
    expect_reject(bad, XCHG_ERR_FORMAT, msg);
    /* also reported by next() itself, before finish */
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(bad, matcher, &r, NULL), XCHG_OK);
    const uint8_t *rec;
    size_t rl;
    int end;
    assert_int_equal(xchg_xex_reader_next(r, &rec, &rl, &end, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_next(r, &rec, &rl, &end, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_next(r, &rec, &rl, &end, NULL), XCHG_ERR_FORMAT);
    /* the reader stays failed */
    assert_int_equal(xchg_xex_reader_next(r, &rec, &rl, &end, NULL), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(agency), NULL), XCHG_OK);
    assert_int_equal(xchg_xex_reader_finish(r, NULL, NULL), XCHG_ERR_FORMAT);
    xchg_xex_reader_free(r);
    free(g);
    free(f);
}

static void test_frame_length_limits(void **state)
{
    (void)state;
    const char *path = tpath("flen-src.xex"), *bad = tpath("flen.xex");
    write_xex(path, matcher, agency, "{}", 2, NULL);
    size_t len, off[8];
    uint8_t *f = (uint8_t *)slurp(path, &len);
    assert_int_equal(frames(f, len, off, 7), 4);
    uint8_t save[4];
    memcpy(save, f + off[1], 4);
    xchg__put_u32le(f + off[1], XCHG_XEX_RECORD_MAX + 17 + 1);
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_FORMAT,
                  "frame length 1048594 at offset 151 exceeds the limit of 1048593 bytes");
    xchg__put_u32le(f + off[1], 0xffffffffu);
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_FORMAT, "frame length 4294967295 at offset 151 exceeds the limit");
    xchg__put_u32le(f + off[1], 16);
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_FORMAT,
                  "frame length 16 at offset 151 is shorter than the 17-byte authentication tag");
    memcpy(f + off[1], save, 4);
    /* the header frame has its own, smaller limit */
    xchg__put_u32le(f + off[0], XCHG_XEX_HEADER_MAX + 8 + 17 + 1);
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_FORMAT,
                  "frame length 65562 at offset 120 exceeds the limit of 65561 bytes");
    free(f);
}

static void test_magic_version_and_peek(void **state)
{
    (void)state;
    const char *path = tpath("mv-src.xex"), *bad = tpath("mv.xex");
    write_xex(path, matcher, agency, "{}", 1, NULL);
    unsigned version = 0;
    uint8_t id[XCHG_KEYID_BYTES];
    assert_int_equal(xchg_xex_peek(path, &version, id, NULL), XCHG_OK);
    assert_int_equal(version, 1);
    assert_memory_equal(id, xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES);

    size_t len;
    uint8_t *f = (uint8_t *)slurp(path, &len);
    f[7] = 2;
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_VERSION,
                  "sealed extract format version 2 is not supported (this build reads version 1)");
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_xex_peek(bad, &version, id, d), XCHG_ERR_VERSION);
    f[7] = 1;
    memcpy(f, "XCHGXES", 7);
    spit(bad, f, len);
    expect_reject(bad, XCHG_ERR_FORMAT, "not a sealed extract (bad magic)");
    assert_int_equal(xchg_xex_peek(bad, &version, id, d), XCHG_ERR_FORMAT);
    spit(bad, "id,name\n1,x\n", 12);
    expect_reject(bad, XCHG_ERR_FORMAT, "not a sealed extract (bad magic)");
    memcpy(f, "XCHGXEX", 7);
    spit(bad, f, 50);
    assert_int_equal(xchg_xex_peek(bad, &version, id, d), XCHG_ERR_TRUNCATED);
    assert_diag_has(d, "file ends inside the preamble (50 of 120 bytes; truncated)");
    assert_int_equal(xchg_xex_peek(tpath("does-not-exist.xex"), NULL, NULL, d), XCHG_ERR_NOT_FOUND);
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(tpath("does-not-exist.xex"), matcher, &r, d),
                     XCHG_ERR_NOT_FOUND);
    assert_null(r);
    xchg_diag_free(d);
    free(f);
}

static void test_other_matcher(void **state)
{
    (void)state;
    const char *path = tpath("other-matcher.xex");
    write_xex(path, other, agency, "{}", 2, NULL); /* sealed to "other" */
    char want[120], mid[XCHG_KEYID_HEXLEN + 1], oid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(other)->id, oid);
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, mid);
    snprintf(want, sizeof want, "sealed extract is for matcher key %s, but the key given is %s",
             oid, mid);
    expect_reject(path, XCHG_ERR_UNKNOWN_KEY, want);
    /* the right key opens it; peek tells which one is needed */
    uint8_t id[XCHG_KEYID_BYTES];
    assert_int_equal(xchg_xex_peek(path, NULL, id, NULL), XCHG_OK);
    assert_memory_equal(id, xchg_seckey_public(other)->id, XCHG_KEYID_BYTES);
    assert_int_equal(read_xex(path, other, xchg_seckey_public(agency), NULL, 1, NULL), XCHG_OK);
}

static void test_other_signer(void **state)
{
    (void)state;
    const char *path = tpath("other-signer.xex");
    write_xex(path, matcher, other, "{}", 2, NULL); /* signed by "other" */
    char want[120], aid[XCHG_KEYID_HEXLEN + 1], oid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(other)->id, oid);
    xchg_keyid_hex(xchg_seckey_public(agency)->id, aid);
    snprintf(want, sizeof want, "sealed extract is signed by key %s, not by the expected signer %s",
             oid, aid);
    expect_reject(path, XCHG_ERR_UNKNOWN_KEY, want);
    /* finish refuses without an expected signer */
    xchg_diag *d = xchg_diag_new();
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(path, matcher, &r, d), XCHG_OK);
    assert_int_equal(xchg_xex_reader_finish(r, NULL, d), XCHG_ERR_ARG);
    assert_diag_has(d, "no expected signer");
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(other), d), XCHG_OK);
    assert_int_equal(xchg_xex_reader_finish(r, NULL, d), XCHG_OK);
    xchg_xex_reader_free(r);
    xchg_diag_free(d);
}

/*
 * Forgeries by someone holding the stream key (the matcher itself, or anyone who made a
 * file for the matcher): decrypt every message with the matcher's key and re-encrypt it
 * under the same stream state, changing one thing. AEAD is then satisfied, so only the
 * count check and the signature stand in the way.
 */
enum forge_kind {
    FORGE_NONE,
    FORGE_RECORD,
    FORGE_COUNT,
    FORGE_DROP_LAST,
    FORGE_SIGNATURE,
    FORGE_SIGNER
};

static void forge(const char *src, const char *dst, enum forge_kind kind)
{
    size_t len, off[16];
    uint8_t *f = (uint8_t *)slurp(src, &len);
    size_t nf = frames(f, len, off, 15);
    uint8_t key[32], m[1024];
    assert_int_equal(xchg_box_open(matcher, f + 16, 80, key), XCHG_OK);
    crypto_secretstream_xchacha20poly1305_state in, out;
    /* init_pull with the same header yields the same state init_push made */
    assert_int_equal(crypto_secretstream_xchacha20poly1305_init_pull(&in, f + 96, key), 0);
    assert_int_equal(crypto_secretstream_xchacha20poly1305_init_pull(&out, f + 96, key), 0);
    FILE *o = fopen(dst, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(f, 1, 120, o), 120);
    for (size_t i = 0; i < nf; i++) {
        unsigned long long ml;
        uint8_t tag, c[1024 + 17 + 4];
        size_t cl = off[i + 1] - off[i] - 4;
        const uint8_t *ad = i == 0 ? f : NULL;
        size_t adlen = i == 0 ? 120 : 0;
        assert_int_equal(crypto_secretstream_xchacha20poly1305_pull(&in, m, &ml, &tag,
                                                                    f + off[i] + 4, cl, ad, adlen),
                         0);
        if (kind == FORGE_DROP_LAST && i == nf - 2)
            continue;
        if (kind == FORGE_RECORD && i == 2)
            m[0] ^= 1;
        if (kind == FORGE_SIGNER && i == 0)
            memcpy(m, xchg_seckey_public(agency)->id, XCHG_KEYID_BYTES);
        if (kind == FORGE_COUNT && tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            m[0]++;
        if (kind == FORGE_SIGNATURE && tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            m[8 + 5] ^= 0x40;
        xchg__put_u32le(c, (uint32_t)(ml + 17));
        assert_int_equal(
            crypto_secretstream_xchacha20poly1305_push(&out, c + 4, NULL, m, ml, ad, adlen, tag),
            0);
        assert_int_equal(fwrite(c, 1, ml + 17 + 4, o), ml + 17 + 4);
    }
    assert_int_equal(fclose(o), 0);
    sodium_memzero(key, sizeof key);
    free(f);
}

static void test_forgery_by_stream_key_holder(void **state)
{
    (void)state;
    const char *path = tpath("forge-src.xex"), *bad = tpath("forge.xex");
    write_xex(path, matcher, agency, "{}", 3, NULL);
    char aid[XCHG_KEYID_HEXLEN + 1], msg[160];
    xchg_keyid_hex(xchg_seckey_public(agency)->id, aid);
    snprintf(msg, sizeof msg,
             "signature by key %s does not verify: the extract is not exactly what that key "
             "signed",
             aid);
    /* the re-encryption itself is faithful */
    forge(path, bad, FORGE_NONE);
    assert_int_equal(read_xex(bad, matcher, xchg_seckey_public(agency), NULL, 1, NULL), XCHG_OK);
    forge(path, bad, FORGE_RECORD);
    expect_reject(bad, XCHG_ERR_VERIFY, msg);
    forge(path, bad, FORGE_SIGNATURE);
    expect_reject(bad, XCHG_ERR_VERIFY, msg);
    forge(path, bad, FORGE_COUNT);
    expect_reject(bad, XCHG_ERR_VERIFY, "final message says 4 records, but 3 were read");
    forge(path, bad, FORGE_DROP_LAST);
    expect_reject(bad, XCHG_ERR_VERIFY, "final message says 3 records, but 2 were read");
    /* a file signed by "other" relabelled as the agency's */
    write_xex(path, matcher, other, "{}", 3, NULL);
    forge(path, bad, FORGE_SIGNER);
    expect_reject(bad, XCHG_ERR_VERIFY, msg);
}

/* A file re-sealed for the matcher (new preamble, same content) no longer verifies. */
static void test_resealed_preamble_breaks_signature(void **state)
{
    (void)state;
    const char *path = tpath("reseal-src.xex"), *bad = tpath("reseal.xex");
    write_xex(path, matcher, agency, "{}", 2, NULL);
    size_t len;
    uint8_t *f = (uint8_t *)slurp(path, &len);
    uint8_t key[32];
    assert_int_equal(xchg_box_open(matcher, f + 16, 80, key), XCHG_OK);
    /* same stream key, sealed afresh: every AEAD check still passes */
    assert_int_equal(xchg_box_seal(xchg_seckey_public(matcher), key, 32, f + 16), XCHG_OK);
    spit(bad, f, len);
    /* the header message's AD is the preamble, so this is caught before the signature */
    expect_reject(bad, XCHG_ERR_VERIFY, "header message does not authenticate");
    sodium_memzero(key, sizeof key);
    free(f);
}

/* ---- writer ------------------------------------------------------------------------ */

static void test_no_output_without_finish(void **state)
{
    (void)state;
    const char *path = tpath("abandoned.xex");
    unlink(path);
    xchg_xex_writer *w = NULL;
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, "{}", 2, &w, NULL),
        XCHG_OK);
    assert_int_equal(tmp_left(path), 1);
    uint8_t rec[200] = {0};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(xchg_xex_writer_add(w, rec, sizeof rec), XCHG_OK);
    xchg_xex_writer_free(w);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(tmp_left(path), 0);
    xchg_xex_writer_free(NULL);
    xchg_xex_reader_free(NULL);
}

static void test_refuses_overwrite(void **state)
{
    (void)state;
    const char *path = tpath("exists.xex");
    spit(path, "precious", 8);
    xchg_diag *d = xchg_diag_new();
    xchg_xex_writer *w = NULL;
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, "{}", 2, &w, d),
        XCHG_ERR_EXISTS);
    assert_null(w);
    assert_diag_has(d, "file exists; refusing to overwrite (use --force to replace it)");
    assert_int_equal(tmp_left(path), 0);

    /* the file appears while the extract is being written: finish still refuses */
    unlink(path);
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, "{}", 2, &w, NULL),
        XCHG_OK);
    assert_int_equal(xchg_xex_writer_add(w, "x", 1), XCHG_OK);
    spit(path, "precious", 8);
    xchg_diag_clear(d);
    assert_int_equal(xchg_xex_writer_finish(w, d), XCHG_ERR_EXISTS);
    assert_diag_has(d, "file exists; refusing to overwrite (use --force to replace it); no "
                       "extract written");
    assert_int_equal(tmp_left(path), 0);
    xchg_xex_writer_free(w);
    size_t len;
    char *c = slurp(path, &len);
    assert_int_equal(len, 8);
    free(c);

    /* with overwrite the old file is replaced */
    w = NULL;
    assert_int_equal(
        xchg_xex_writer_new(path, 1, xchg_seckey_public(matcher), agency, "{}", 2, &w, NULL),
        XCHG_OK);
    assert_int_equal(xchg_xex_writer_finish(w, NULL), XCHG_OK);
    assert_int_equal(xchg_xex_writer_finish(w, d), XCHG_ERR_ARG); /* only once */
    xchg_xex_writer_free(w);
    assert_int_equal(tmp_left(path), 0);
    uint64_t count = 1;
    assert_int_equal(read_xex(path, matcher, xchg_seckey_public(agency), &count, 0, NULL), XCHG_OK);
    assert_int_equal(count, 0);
    xchg_diag_free(d);
}

static void test_write_error_removes_temp(void **state)
{
    (void)state;
    const char *path = tpath("efbig.xex");
    unlink(path);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    xchg_xex_writer *w = NULL;
    assert_int_equal(
        xchg_xex_writer_new(path, 0, xchg_seckey_public(matcher), agency, "{}", 2, &w, NULL),
        XCHG_OK);
    lim = old;
    lim.rlim_cur = 200000; /* writes past 200 kB fail with EFBIG */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint8_t rec[1000] = {0};
    xchg_err rc = XCHG_OK;
    int i;
    for (i = 0; i < 1000 && rc == XCHG_OK; i++)
        rc = xchg_xex_writer_add(w, rec, sizeof rec);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, XCHG_ERR_IO);
    assert_true(i < 1000);
    /* the failure is sticky and reported by finish */
    assert_int_equal(xchg_xex_writer_add(w, rec, 1), XCHG_ERR_IO);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_xex_writer_finish(w, d), XCHG_ERR_IO);
    char want[600];
    snprintf(want, sizeof want,
             "file size limit reached while writing %s (File too large); no extract written", path);
    assert_diag_has(d, want);
    assert_int_equal(tmp_left(path), 0);
    assert_int_equal(access(path, F_OK), -1);
    xchg_xex_writer_free(w);
    xchg_diag_free(d);
}

/* "-" reads standard input (e.g. `xchg match ingest - < file`). */
static void test_reads_stdin(void **state)
{
    (void)state;
    const char *path = tpath("stdin.xex");
    write_xex(path, matcher, agency, "{}", 5, NULL);
    int saved = dup(STDIN_FILENO), fd = open(path, O_RDONLY);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    uint64_t count = 0;
    xchg_err rc = read_xex("-", matcher, xchg_seckey_public(agency), &count, 1, NULL);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    assert_int_equal(rc, XCHG_OK);
    assert_int_equal(count, 5);
}

/* ---- known-answer file ---------------------------------------------------------------- */

#define KAT_FILE XCHG_TEST_DIR "/kat/xex/v1-3records.xex"
#define KAT_HEADER "{\"agreement\":\"demo-2026\",\"agency\":\"police\",\"epoch\":1}"

/* The committed v1 file still reads: the format is frozen. */
static void test_kat_reader(void **state)
{
    (void)state;
    static const char *const want[] = {"", "a", "record 2"};
    xchg_xex_reader *r = NULL;
    assert_int_equal(xchg_xex_reader_open(KAT_FILE, matcher, &r, NULL), XCHG_OK);
    size_t hlen;
    const uint8_t *h = xchg_xex_reader_header(r, &hlen);
    assert_int_equal(hlen, strlen(KAT_HEADER));
    assert_memory_equal(h, KAT_HEADER, hlen);
    assert_int_equal(xchg_xex_reader_expect_signer(r, xchg_seckey_public(agency), NULL), XCHG_OK);
    for (size_t i = 0; i < 3; i++) {
        const uint8_t *rec;
        size_t len;
        int end;
        assert_int_equal(xchg_xex_reader_next(r, &rec, &len, &end, NULL), XCHG_OK);
        assert_int_equal(end, 0);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(rec, want[i], len);
    }
    uint64_t count = 0;
    assert_int_equal(xchg_xex_reader_finish(r, &count, NULL), XCHG_OK);
    assert_int_equal(count, 3);
    xchg_xex_reader_free(r);
    char hex[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, hex);
    assert_string_equal(hex, "ac8c6ec7228e4c0f");
    xchg_keyid_hex(xchg_seckey_public(agency)->id, hex);
    assert_string_equal(hex, "cd47ae9ef452d1ee");
}

/*
 * Decode the known-answer file by hand, exactly as docs/formats.md describes it (no
 * reader code), and check the signature over a transcript built from that description.
 */
static void test_kat_by_spec(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f = (uint8_t *)slurp(KAT_FILE, &len);
    assert_memory_equal(f, "XCHGXEX\x01", 8);
    assert_memory_equal(f + 8, xchg_seckey_public(matcher)->id, 8);
    uint8_t key[32];
    assert_int_equal(crypto_box_seal_open(key, f + 16, 80, xchg_seckey_public(matcher)->box_pk,
                                          xchg__seckey_box_sk(matcher)),
                     0);
    crypto_secretstream_xchacha20poly1305_state ss;
    assert_int_equal(crypto_secretstream_xchacha20poly1305_init_pull(&ss, f + 96, key), 0);
    crypto_sign_state t;
    crypto_sign_init(&t);
    crypto_sign_update(&t, (const uint8_t *)"exchange sealed extract v1", 27); /* with NUL */
    crypto_sign_update(&t, f, 120);
    size_t o = 120, msgs = 0;
    uint8_t m[256], tag = 0, sig[64];
    uint64_t count = 0;
    while (o < len) {
        uint32_t cl = xchg__get_u32le(f + o);
        unsigned long long ml;
        assert_true(cl <= sizeof m);
        assert_int_equal(crypto_secretstream_xchacha20poly1305_pull(&ss, m, &ml, &tag, f + o + 4,
                                                                    cl, msgs == 0 ? f : NULL,
                                                                    msgs == 0 ? 120 : 0),
                         0);
        o += 4 + cl;
        uint8_t pre[5];
        if (msgs == 0) {
            assert_int_equal(tag, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
            assert_memory_equal(m, xchg_seckey_public(agency)->id, 8);
            crypto_sign_update(&t, m, 8);
            pre[0] = 'H';
            xchg__put_u32le(pre + 1, (uint32_t)(ml - 8));
            crypto_sign_update(&t, pre, 5);
            crypto_sign_update(&t, m + 8, ml - 8);
            assert_memory_equal(m + 8, KAT_HEADER, ml - 8);
        } else if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
            pre[0] = 'R';
            xchg__put_u32le(pre + 1, (uint32_t)ml);
            crypto_sign_update(&t, pre, 5);
            crypto_sign_update(&t, m, ml);
            count++;
        } else {
            assert_int_equal(tag, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
            assert_int_equal(ml, 72);
            assert_int_equal(xchg__get_u64le(m), count);
            memcpy(sig, m + 8, 64);
        }
        msgs++;
    }
    assert_int_equal(o, len);
    assert_int_equal(tag, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    assert_int_equal(count, 3);
    uint8_t end[9] = {'T'};
    xchg__put_u64le(end + 1, count);
    crypto_sign_update(&t, end, 9);
    assert_int_equal(crypto_sign_final_verify(&t, sig, xchg_seckey_public(agency)->sign_pk), 0);
    sodium_memzero(key, sizeof key);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_zero_and_one),
        cmocka_unit_test(test_roundtrip_10000_random_sizes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_truncated_at_every_offset),
        cmocka_unit_test(test_bitflip_in_every_byte),
        cmocka_unit_test(test_reordered_duplicated_removed),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_frame_length_limits),
        cmocka_unit_test(test_magic_version_and_peek),
        cmocka_unit_test(test_other_matcher),
        cmocka_unit_test(test_other_signer),
        cmocka_unit_test(test_forgery_by_stream_key_holder),
        cmocka_unit_test(test_resealed_preamble_breaks_signature),
        cmocka_unit_test(test_no_output_without_finish),
        cmocka_unit_test(test_refuses_overwrite),
        cmocka_unit_test(test_write_error_removes_temp),
        cmocka_unit_test(test_reads_stdin),
        cmocka_unit_test(test_kat_reader),
        cmocka_unit_test(test_kat_by_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
