/*
 * Audit log: round trips with checkpoints; every kind of damage (deleting, swapping,
 * editing data, seq, time, prev or hash) at every entry of a 20-entry log is reported at
 * that entry's line; a torn last line; checkpoints by another key; concurrent writers in
 * two processes; the data guard; an independent implementation of the documented
 * encoding (forged lines the verifier must accept or reject); comparing exports.
 */
#include "test_helpers.h"

#include <jansson.h>
#include <sys/wait.h>

static xchg_seckey *matcher, *other;
static const uint8_t actor1[XCHG_KEYID_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};

static int setup(void **state)
{
    (void)state;
    if (xchg_init() != XCHG_OK)
        return -1;
    matcher = seed_key(0x11);
    other = seed_key(0x33);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xchg_seckey_free(matcher);
    xchg_seckey_free(other);
    return 0;
}

static xchg_audit_genesis genesis_for(const xchg_seckey *k)
{
    xchg_audit_genesis g;
    memset(&g, 0, sizeof g);
    g.agreement_id = "test-agreement";
    for (int i = 0; i < 32; i++)
        g.agreement_sha256[i] = (uint8_t)i;
    memcpy(g.matcher_key, xchg_seckey_public(k)->id, XCHG_KEYID_BYTES);
    return g;
}

/*
 * A new log at path: genesis, then n entries of type "ingest" (data {"extract": "eNN",
 * "records": NN}), with a checkpoint after every ckpt_every of them (0 = none).
 * Returns the number of lines.
 */
static uint64_t make_log(const char *path, int n, int ckpt_every)
{
    xchg_audit *a = NULL;
    xchg_audit_genesis g = genesis_for(matcher);
    unlink(path);
    assert_int_equal(xchg_audit_open(path, &g, &a, NULL), XCHG_OK);
    uint64_t lines = 1, seq = 0;
    for (int i = 0; i < n; i++) {
        char data[128];
        snprintf(data, sizeof data, "{\"extract\":\"e%02d\",\"records\":%d}", i, 100 + i);
        assert_int_equal(
            xchg_audit_append(a, XCHG_AUDIT_INGEST, i % 2 ? actor1 : NULL, data, &seq, NULL),
            XCHG_OK);
        assert_int_equal(seq, lines);
        lines++;
        if (ckpt_every && (i + 1) % ckpt_every == 0) {
            assert_int_equal(xchg_audit_checkpoint(a, matcher, &seq, NULL), XCHG_OK);
            assert_int_equal(seq, lines);
            lines++;
        }
    }
    xchg_audit_close(a);
    return lines;
}

/* The file's lines (each with its newline) as separate malloc'ed strings. */
static size_t split_lines(const char *path, char ***out)
{
    size_t len = 0, n = 0;
    char *buf = slurp(path, &len);
    char **v = calloc(len + 1, sizeof *v);
    assert_non_null(v);
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
        v[n] = strndup(p, l);
        n++;
        p += l;
    }
    free(buf);
    *out = v;
    return n;
}

static void join_lines(const char *path, char **v, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        if (v[i])
            fputs(v[i], f);
    assert_int_equal(fclose(f), 0);
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The last occurrence of needle in s (top-level keys sort after "data"). */
static char *last_of(char *s, const char *needle)
{
    char *hit = NULL;
    for (char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        hit = p;
    assert_non_null(hit);
    return hit + strlen(needle);
}

/* Verify and return the reported line (0 when the log verifies). */
static uint64_t bad_line(const char *path, xchg_err *err, xchg_diag *d)
{
    xchg_audit_stats st;
    xchg_diag_clear(d);
    *err = xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d);
    if (*err != XCHG_OK) {
        assert_int_equal(xchg_diag_errors(d), 1);
        assert_int_equal(xchg_diag_line(d, 0), st.first_bad_line);
    }
    return st.first_bad_line;
}

struct counts {
    uint64_t n, ingest;
};

static int visit(const xchg_audit_entry *e, void *ctx)
{
    struct counts *c = ctx;
    assert_int_equal(e->seq, c->n);
    assert_int_equal(e->line, c->n + 1);
    assert_int_equal(strlen(e->hash), 64);
    if (strcmp(e->type, "ingest") == 0) {
        char want[64];
        snprintf(want, sizeof want, "\"extract\":\"e%02llu\"", (unsigned long long)c->ingest);
        assert_non_null(strstr(e->data, want));
        assert_string_equal(e->actor, c->ingest % 2 ? "0102030405060708" : "");
        c->ingest++;
    }
    c->n++;
    return 0;
}

static void test_roundtrip(void **state)
{
    (void)state;
    const char *path = tpath("rt.log"), *exp = tpath("rt.export");
    uint64_t lines = make_log(path, 50, 10);
    assert_int_equal(lines, 56);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    xchg_audit_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(xchg_diag_count(d), 0);
    assert_int_equal(st.entries, 56);
    assert_int_equal(st.checkpoints, 5);
    assert_true(st.have_checkpoint);
    assert_int_equal(st.last_checkpoint_seq, 55);
    assert_int_equal(st.head_seq, 55);
    assert_int_equal(st.unsigned_entries, 0);
    assert_int_equal(st.first_bad_line, 0);
    assert_string_equal(st.agreement_id, "test-agreement");
    assert_string_equal(st.agreement_sha256,
                        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    char id[17];
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, id);
    assert_string_equal(st.matcher_key, id);

    /* export: a byte-exact copy that verifies and that the log extends */
    unlink(exp);
    uint64_t n = 0;
    assert_int_equal(xchg_audit_export(path, exp, 0, &n, d), XCHG_OK);
    assert_int_equal(n, 56);
    size_t l1, l2;
    char *b1 = slurp(path, &l1), *b2 = slurp(exp, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
    assert_int_equal(xchg_audit_verify(exp, xchg_seckey_public(matcher), NULL, d), XCHG_OK);
    assert_int_equal(xchg_audit_export(path, exp, 0, NULL, d), XCHG_ERR_EXISTS);
    assert_int_equal(xchg_audit_compare(exp, path, d), XCHG_OK);

    /* foreach sees every entry in order */
    struct counts cnt = {0, 0};
    assert_int_equal(xchg_audit_foreach(path, visit, &cnt, d), XCHG_OK);
    assert_int_equal(cnt.n, 56);
    assert_int_equal(cnt.ingest, 50);

    /* creating over an existing log is refused, the log untouched */
    xchg_audit *a = NULL;
    xchg_audit_genesis g = genesis_for(matcher);
    assert_int_equal(xchg_audit_open(path, &g, &a, d), XCHG_ERR_EXISTS);
    assert_null(a);
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, NULL), XCHG_OK);
    assert_int_equal(st.entries, 56);
    xchg_diag_free(d);
}

static void test_append_after_checkpoint(void **state)
{
    (void)state;
    const char *path = tpath("cont.log");
    make_log(path, 4, 4); /* genesis, 4 entries, checkpoint = seq 5 */
    xchg_audit *a = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_OK);
    uint64_t seq = 0;
    assert_int_equal(xchg_audit_append(a, XCHG_AUDIT_APPROVE, actor1,
                                       "{\"family\":\"f-9c2e\",\"reason\":\"two problems\"}", &seq,
                                       d),
                     XCHG_OK);
    assert_int_equal(seq, 6);
    assert_int_equal(xchg_audit_append(a, XCHG_AUDIT_RELEASE, NULL, NULL, &seq, d), XCHG_OK);
    assert_int_equal(seq, 7);
    xchg_audit_stats st;
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(st.entries, 8);
    assert_int_equal(st.last_checkpoint_seq, 5);
    assert_int_equal(st.unsigned_entries, 2);
    assert_diag_has(d, "warning: 2 entries after the last checkpoint (seq 5) are not signed");
    xchg_diag_clear(d);
    assert_int_equal(xchg_audit_checkpoint(a, matcher, &seq, d), XCHG_OK);
    assert_int_equal(seq, 8);
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(st.unsigned_entries, 0);
    assert_int_equal(st.checkpoints, 2);
    assert_int_equal(xchg_diag_count(d), 0);
    /* without a key: the chain only, with a warning */
    assert_int_equal(xchg_audit_verify(path, NULL, &st, d), XCHG_OK);
    assert_diag_has(d, "checkpoint signatures were not checked");
    xchg_audit_close(a);
    xchg_diag_free(d);
}

enum damage { DELETE, SWAP, EDIT_DATA, EDIT_SEQ, EDIT_TIME, EDIT_PREV, EDIT_HASH, NDAMAGE };
static const char *const damage_name[] = {"delete",    "swap",      "edit data", "edit seq",
                                          "edit time", "edit prev", "edit hash"};

/* Change the character at p into another one of the same kind (digit, hex, letter). */
static void flip(char *p)
{
    if (*p >= '0' && *p <= '8')
        (*p)++;
    else if (*p == '9')
        *p = '8';
    else if (*p >= 'a' && *p < 'f')
        (*p)++;
    else if (*p == 'f')
        *p = 'e';
    else if (*p >= 'g' && *p < 'z')
        (*p)++;
    else
        *p = 'a';
}

static void test_damage_every_entry(void **state)
{
    (void)state;
    const char *path = tpath("dmg.log"), *bad = tpath("dmg-bad.log");
    assert_int_equal(make_log(path, 18, 10), 20);
    char **orig;
    size_t n = split_lines(path, &orig);
    assert_int_equal(n, 20);
    xchg_diag *d = xchg_diag_new();
    xchg_err err;
    for (int k = 0; k < NDAMAGE; k++) {
        for (size_t i = 0; i < n; i++) {
            if (k == SWAP && i + 1 == n)
                continue;
            char **v = calloc(n, sizeof *v);
            for (size_t j = 0; j < n; j++)
                v[j] = strdup(orig[j]);
            switch ((enum damage)k) {
            case DELETE:
                free(v[i]);
                v[i] = NULL;
                break;
            case SWAP: {
                char *t = v[i];
                v[i] = v[i + 1];
                v[i + 1] = t;
                break;
            }
            case EDIT_DATA:
                flip(last_of(strstr(v[i], "\"data\":"), "\":\""));
                break;
            case EDIT_SEQ:
                flip(last_of(v[i], "\"seq\":"));
                break;
            case EDIT_TIME:
                flip(last_of(v[i], "\"time\":") + 5);
                break;
            case EDIT_PREV:
                flip(last_of(v[i], "\"prev\":\"") + 10);
                break;
            case EDIT_HASH:
                flip(last_of(v[i], "\"hash\":\"") + 63);
                break;
            case NDAMAGE:
                break;
            }
            join_lines(bad, v, n);
            uint64_t line = bad_line(bad, &err, d);
            if (k == DELETE && i + 1 == n) {
                /* Dropping the newest entry leaves a valid, shorter log: only a copy taken
                 * earlier shows it (and verify warns that the tail is unsigned). */
                assert_int_equal(err, XCHG_OK);
                assert_int_equal(xchg_audit_compare(path, bad, d), XCHG_ERR_VERIFY);
                assert_diag_has(d, "entries were removed from the end");
            } else {
                if (line != i + 1) {
                    for (size_t x = 0; x < xchg_diag_count(d); x++)
                        print_message("  %s\n", xchg_diag_text(d, x));
                    fail_msg("%s of entry %zu reported at line %llu (err %d)", damage_name[k], i,
                             (unsigned long long)line, err);
                }
                assert_int_not_equal(err, XCHG_OK);
            }
            free_lines(v, n);
        }
    }
    /* the messages a reader sees */
    char **v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    free(v[7]);
    v[7] = NULL;
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 8);
    assert_int_equal(err, XCHG_ERR_VERIFY);
    assert_diag_has(d, ":8: error: seq 8 follows seq 6: an entry was deleted or moved");
    free_lines(v, n);

    v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    char *t = v[11];
    v[11] = v[12];
    v[12] = t;
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 12);
    assert_diag_has(d, ":12: error: seq 12 follows seq 10: an entry was deleted or moved");
    free_lines(v, n);

    v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    flip(last_of(v[16], "\"time\":") + 5);
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 17);
    assert_diag_has(d, ":17: error: entry seq 16: hash does not match its content");
    free_lines(v, n);

    v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    flip(last_of(v[11], "\"prev\":\"") + 3);
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 12);
    assert_diag_has(d, ":12: error: entry seq 11: prev does not match the hash of line 11");
    free_lines(v, n);

    v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    free(v[0]);
    v[0] = NULL;
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 1);
    assert_diag_has(d, ":1: error: the first entry is seq 1 of type 'ingest', not the genesis");
    free_lines(v, n);

    /* whitespace or key order changes are caught even though the content is the same */
    v = calloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++)
        v[j] = strdup(orig[j]);
    char *sp = malloc(strlen(v[4]) + 2);
    sprintf(sp, " %s", v[4]);
    free(v[4]);
    v[4] = sp;
    join_lines(bad, v, n);
    assert_int_equal(bad_line(bad, &err, d), 5);
    assert_int_equal(err, XCHG_ERR_FORMAT);
    assert_diag_has(d, "not in canonical form");
    free_lines(v, n);

    free_lines(orig, n);
    xchg_diag_free(d);
}

static void test_torn_last_line(void **state)
{
    (void)state;
    const char *path = tpath("torn.log"), *exp = tpath("torn.export");
    make_log(path, 5, 0);
    size_t len;
    char *buf = slurp(path, &len);
    spit(path, buf, len - 20); /* a crash in the middle of writing the last entry */
    free(buf);
    xchg_diag *d = xchg_diag_new();
    xchg_err err;
    assert_int_equal(bad_line(path, &err, d), 6);
    assert_int_equal(err, XCHG_ERR_TRUNCATED);
    assert_diag_has(d, ":6: error: the last line is incomplete (no newline)");

    /* the writer refuses to extend it, and leaves it as it is */
    xchg_audit *a = NULL;
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_audit_append(a, "purge", NULL, "{}", NULL, d), XCHG_ERR_TRUNCATED);
    assert_diag_has(d, "the last line is incomplete");
    assert_int_equal(xchg_audit_checkpoint(a, matcher, NULL, d), XCHG_ERR_TRUNCATED);
    xchg_audit_close(a);
    size_t len2;
    buf = slurp(path, &len2);
    assert_int_equal(len2, len - 20);
    free(buf);

    /* export leaves the incomplete line out (with a warning): the copy verifies */
    unlink(exp);
    xchg_diag_clear(d);
    uint64_t n = 0;
    assert_int_equal(xchg_audit_export(path, exp, 0, &n, d), XCHG_OK);
    assert_int_equal(n, 5);
    assert_diag_has(d, "warning: the last line is incomplete");
    assert_int_equal(xchg_audit_verify(exp, xchg_seckey_public(matcher), NULL, NULL), XCHG_OK);

    /* a damaged (complete) last entry is not extended either */
    make_log(path, 3, 0);
    buf = slurp(path, &len);
    flip(last_of(buf, "\"time\":") + 3);
    spit(path, buf, len);
    free(buf);
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_OK);
    xchg_diag_clear(d);
    assert_int_equal(xchg_audit_append(a, "purge", NULL, "{}", NULL, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "the last entry (seq 3) is damaged");
    xchg_audit_close(a);

    /* an empty file, or one that is not a log */
    spit(path, "", 0);
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_audit_verify(path, NULL, NULL, d), XCHG_ERR_FORMAT);
    spit(path, "hello\n", 6);
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_ERR_FORMAT);
    assert_int_equal(xchg_audit_open(tpath("none.log"), NULL, &a, d), XCHG_ERR_NOT_FOUND);
    assert_int_equal(xchg_audit_verify(tpath("none.log"), NULL, NULL, d), XCHG_ERR_NOT_FOUND);
    xchg_diag_free(d);
}

/* ---- an independent implementation of the documented encoding ---------------------- */

/* The line (with newline) for these fields, built from docs/formats.md alone. */
static char *forge_line(uint64_t seq, int64_t tm, const char *type, const char *actor,
                        const char *data_json, const char *prev_hex)
{
    json_t *data = json_loads(data_json, 0, NULL);
    assert_non_null(data);
    json_t *o =
        json_pack("{s:I,s:I,s:s,s:s,s:o,s:s}", "seq", (json_int_t)seq, "time", (json_int_t)tm,
                  "type", type, "actor", actor, "data", data, "prev", prev_hex);
    assert_non_null(o);
    char *c = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    uint8_t h[32];
    char hex[65];
    xchg_sha256(c, strlen(c), h);
    xchg_hex_encode(hex, h, 32);
    free(c);
    json_object_set_new(o, "hash", json_string(hex));
    c = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    char *line = malloc(strlen(c) + 2);
    sprintf(line, "%s\n", c);
    free(c);
    return line;
}

static void line_hash(const char *line, char out[65])
{
    const char *p = strstr(line, "\"hash\":\"");
    /* the top-level hash follows "data"; a checkpoint's data has its own "hash" first */
    for (const char *q = p; q; q = strstr(q + 1, "\"hash\":\""))
        p = q;
    memcpy(out, p + 8, 64);
    out[64] = '\0';
}

/* A checkpoint line over (seq, hash) signed by k, claiming key id claim. */
static char *forge_checkpoint(uint64_t seq, const char *prev_hex, const xchg_seckey *k,
                              const char *claim)
{
    uint8_t msg[29 + 8 + 32], sig[64], h[32];
    memcpy(msg, "exchange audit checkpoint v1", 29); /* with its NUL */
    for (int i = 0; i < 8; i++)
        msg[29 + i] = (uint8_t)((seq - 1) >> (8 * i));
    assert_int_equal(xchg_hex_decode(h, 32, prev_hex, 64), XCHG_OK);
    memcpy(msg + 37, h, 32);
    xchg_sign(k, msg, sizeof msg, sig);
    char b64[100], data[400];
    xchg_base64_encode(b64, sig, 64);
    snprintf(data, sizeof data, "{\"hash\":\"%s\",\"key\":\"%s\",\"seq\":%llu,\"sig\":\"%s\"}",
             prev_hex, claim, (unsigned long long)(seq - 1), b64);
    return forge_line(seq, 1767225660, "checkpoint", claim, data, prev_hex);
}

#define GENESIS_HASH "d6d1597ea0620d1cdfe7336745d1d6b02f1cbf03859033ff8c31badcede844b8"
#define GENESIS_VECTOR                                                                             \
    "{\"actor\":\"ac8c6ec7228e4c0f\",\"data\":{\"agreement\":{\"id\":\"test-agreement\","          \
    "\"sha256\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"},"            \
    "\"format\":\"exchange-audit\",\"matcher_key\":\"ac8c6ec7228e4c0f\",\"version\":1},"           \
    "\"hash\":\"" GENESIS_HASH "\",\"prev\":"                                                      \
    "\"0000000000000000000000000000000000000000000000000000000000000000\",\"seq\":0,"              \
    "\"time\":1767225600,\"type\":\"genesis\"}\n"

static void test_spec_vectors(void **state)
{
    (void)state;
    const char *path = tpath("spec.log");
    char mk[17];
    xchg_keyid_hex(xchg_seckey_public(matcher)->id, mk);
    assert_string_equal(mk, "ac8c6ec7228e4c0f");
    char *l0 = forge_line(
        0, 1767225600, "genesis", mk,
        "{\"agreement\":{\"id\":\"test-agreement\",\"sha256\":"
        "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"},\"format\":"
        "\"exchange-audit\",\"matcher_key\":\"ac8c6ec7228e4c0f\",\"version\":1}",
        "0000000000000000000000000000000000000000000000000000000000000000");
    char h0[65], h1[65];
    line_hash(l0, h0);
    char *l1 = forge_line(1, 1767225630, "ingest", "0102030405060708",
                          "{\"extract\":\"Zo\\u00eb-free \\u00e9\",\"records\":3}", h0);
    line_hash(l1, h1);
    char *l2 = forge_checkpoint(2, h1, matcher, mk);
    assert_string_equal(l0, GENESIS_VECTOR);
    /* the vectors quoted in docs/formats.md (Ed25519 signatures are deterministic) */
    assert_string_equal(h1, "6c030583c86d80ad6927d14fd5a3803ba5cde3148830de760c54592ca266e19f");
    assert_non_null(strstr(l2, "\"sig\":\"OBS6+dbRtJv4boo4AFNVy0vZJHzmUaARj27nbXJ+JvFTAh/v+7LLFIpd"
                               "JU+ibJGZC2u5jwXkjqefcRtXUw1VCA==\""));
    assert_non_null(strstr(l2, "\"hash\":\"6d93d7f7a718b6fc5f2a35977110387f6c1c2f8912f3bb0a881212"
                               "d11dc755bf\""));
    /* non-ASCII is escaped as \uXXXX with upper-case hex */
    assert_non_null(strstr(l1, "Zo\\u00EB-free \\u00E9"));

    char *all = malloc(strlen(l0) + strlen(l1) + strlen(l2) + 1);
    sprintf(all, "%s%s%s", l0, l1, l2);
    spit(path, all, strlen(all));
    xchg_audit_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.checkpoints, 1);
    assert_int_equal(xchg_diag_count(d), 0);

    /* the library appends to a log made elsewhere */
    xchg_audit *a = NULL;
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_OK);
    assert_int_equal(xchg_audit_append(a, "run", NULL, "{\"families\":2}", NULL, d), XCHG_OK);
    xchg_audit_close(a);
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(st.entries, 4);

    /* a checkpoint signed by another key, naming that key */
    char oid[17];
    xchg_keyid_hex(xchg_seckey_public(other)->id, oid);
    char *f1 = forge_checkpoint(2, h1, other, oid);
    sprintf(all, "%s%s%s", l0, l1, f1);
    spit(path, all, strlen(all));
    xchg_err err;
    assert_int_equal(bad_line(path, &err, d), 3);
    assert_int_equal(err, XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "checkpoint signed by key");
    assert_diag_has(d, "which is not the matcher's key ac8c6ec7228e4c0f");
    /* ... or signed by another key while naming the matcher's */
    char *f2 = forge_checkpoint(2, h1, other, mk);
    sprintf(all, "%s%s%s", l0, l1, f2);
    spit(path, all, strlen(all));
    assert_int_equal(bad_line(path, &err, d), 3);
    assert_int_equal(err, XCHG_ERR_VERIFY);
    assert_diag_has(d, ":3: error: entry seq 2: checkpoint signature does not verify");
    /* a log started for another matcher key */
    xchg_audit_genesis g = genesis_for(other);
    unlink(path);
    assert_int_equal(xchg_audit_open(path, &g, &a, d), XCHG_OK);
    assert_int_equal(xchg_audit_checkpoint(a, matcher, NULL, d), XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "is not the matcher key");
    assert_int_equal(xchg_audit_checkpoint(a, other, NULL, d), XCHG_OK);
    xchg_audit_close(a);
    assert_int_equal(bad_line(path, &err, d), 1);
    assert_int_equal(err, XCHG_ERR_UNKNOWN_KEY);
    assert_diag_has(d, "the log was started for matcher key");
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(other), NULL, NULL), XCHG_OK);

    free(l0);
    free(l1);
    free(l2);
    free(f1);
    free(f2);
    free(all);
    xchg_diag_free(d);
}

static void test_two_processes(void **state)
{
    (void)state;
    const char *path = tpath("fork.log");
    make_log(path, 0, 0);
    pid_t kids[2];
    for (int c = 0; c < 2; c++) {
        kids[c] = fork();
        assert_true(kids[c] >= 0);
        if (kids[c] == 0) {
            xchg_audit *a = NULL;
            if (xchg_audit_open(path, NULL, &a, NULL) != XCHG_OK)
                _exit(1);
            for (int i = 0; i < 200; i++) {
                char data[64];
                snprintf(data, sizeof data, "{\"writer\":%d,\"i\":%d}", c, i);
                if (xchg_audit_append(a, "ingest", NULL, data, NULL, NULL) != XCHG_OK)
                    _exit(2);
            }
            xchg_audit_close(a);
            _exit(0);
        }
    }
    for (int c = 0; c < 2; c++) {
        int status = 0;
        assert_int_equal(waitpid(kids[c], &status, 0), kids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    xchg_audit_stats st;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_verify(path, xchg_seckey_public(matcher), &st, d), XCHG_OK);
    assert_int_equal(st.entries, 401);
    assert_int_equal(st.head_seq, 400);
    xchg_diag_free(d);
}

static void test_data_guard(void **state)
{
    (void)state;
    const char *path = tpath("guard.log");
    make_log(path, 1, 0);
    size_t before_len;
    char *before = slurp(path, &before_len);
    xchg_audit *a = NULL;
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_open(path, NULL, &a, d), XCHG_OK);
    char big[700];
    strcpy(big, "{\"reason\":\"");
    size_t p = strlen(big);
    memset(big + p, 'x', 513);
    strcpy(big + p + 513, "\"}");
    assert_int_equal(xchg_audit_append(a, "reject", NULL, big, NULL, d), XCHG_ERR_ARG);
    assert_diag_has(d, "a data string is 513 bytes, longer than the 512 allowed");
    const char *refused[] = {
        "[1,2]",
        "not json",
        "{\"score\":0.93}",
        "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":1}}}}}}",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_int_equal(xchg_audit_append(a, "reject", NULL, refused[i], NULL, d), XCHG_ERR_ARG);
    assert_int_equal(xchg_audit_append(a, "genesis", NULL, "{}", NULL, d), XCHG_ERR_ARG);
    assert_int_equal(xchg_audit_append(a, "checkpoint", NULL, "{}", NULL, d), XCHG_ERR_ARG);
    assert_int_equal(xchg_audit_append(a, "Ingest", NULL, "{}", NULL, d), XCHG_ERR_ARG);
    assert_int_equal(xchg_audit_append(a, "", NULL, "{}", NULL, d), XCHG_ERR_ARG);
    size_t after_len;
    char *after = slurp(path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(after);
    /* 512 bytes is allowed */
    big[p + 512] = '"';
    big[p + 513] = '}';
    big[p + 514] = '\0';
    assert_int_equal(xchg_audit_append(a, "reject", NULL, big, NULL, d), XCHG_OK);
    xchg_audit_close(a);
    assert_int_equal(xchg_audit_verify(path, NULL, NULL, NULL), XCHG_OK);
    free(before);
    xchg_diag_free(d);
}

/* A writer that rewrites the whole chain passes verify; a kept export shows it. */
static void test_compare_exports(void **state)
{
    (void)state;
    const char *path = tpath("cmp.log"), *old = tpath("cmp.old"), *fake = tpath("cmp.fake");
    make_log(path, 5, 0);
    unlink(old);
    assert_int_equal(xchg_audit_export(path, old, 0, NULL, NULL), XCHG_OK);
    xchg_audit *a = NULL;
    assert_int_equal(xchg_audit_open(path, NULL, &a, NULL), XCHG_OK);
    assert_int_equal(xchg_audit_append(a, "purge", NULL, "{\"records\":12}", NULL, NULL), XCHG_OK);
    xchg_audit_close(a);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_audit_compare(old, path, d), XCHG_OK);
    /* rebuild the log with entry 3 changed and every hash recomputed */
    char **v;
    size_t n = split_lines(path, &v);
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(v[i], 0, NULL);
        assert_non_null(o);
        if (i == 3)
            json_object_set_new(json_object_get(o, "data"), "records", json_integer(1));
        json_object_set_new(o, "prev", json_string(prev));
        json_object_del(o, "hash");
        char *c = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        uint8_t h[32];
        xchg_sha256(c, strlen(c), h);
        xchg_hex_encode(prev, h, 32);
        free(c);
        json_object_set_new(o, "hash", json_string(prev));
        c = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        free(v[i]);
        v[i] = malloc(strlen(c) + 2);
        sprintf(v[i], "%s\n", c);
        free(c);
        json_decref(o);
    }
    join_lines(fake, v, n);
    free_lines(v, n);
    assert_int_equal(xchg_audit_verify(fake, xchg_seckey_public(matcher), NULL, d), XCHG_OK);
    assert_int_equal(xchg_audit_compare(old, fake, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, ":4: error: differs from line 4");
    xchg_diag_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),          cmocka_unit_test(test_append_after_checkpoint),
        cmocka_unit_test(test_damage_every_entry), cmocka_unit_test(test_torn_last_line),
        cmocka_unit_test(test_spec_vectors),       cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_data_guard),         cmocka_unit_test(test_compare_exports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
