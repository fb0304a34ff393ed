/* Key files and keyrings: round trips, passphrases, damage detection, permissions. */
#include "test_helpers.h"

#include <sys/stat.h>

/* Pinned by the format: seed 00 01 .. 1f through xchg_seckey_from_seed. */
#define KEYID_VECTOR "0e3437804eb321d5"
#define PUBKEY_VECTOR                                                                      \
    "xk1:WEsONDeATrMh1QOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4F7oF1wv1+BbEPaDYEgAgrap0/" \
    "oRaniLWqq0x56tAJk8="

static const xchg_kdf_limits fast = {2, 8u << 20}; /* cheap Argon2id for tests */

static void test_pubkey_string_roundtrip(void **state)
{
    (void)state;
    xchg_seckey *k = NULL;
    assert_int_equal(xchg_seckey_generate("Police — data officer", &k), XCHG_OK);
    char s[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(k), s);
    assert_int_equal(strlen(s), XCHG_PUBKEY_STRLEN - 1);
    assert_memory_equal(s, "xk1:", 4);
    xchg_pubkey p;
    assert_int_equal(xchg_pubkey_from_string(s, strlen(s), &p, NULL), XCHG_OK);
    assert_memory_equal(p.id, xchg_seckey_public(k)->id, XCHG_KEYID_BYTES);
    assert_memory_equal(p.sign_pk, xchg_seckey_public(k)->sign_pk, 32);
    assert_memory_equal(p.box_pk, xchg_seckey_public(k)->box_pk, 32);

    /* a one-character change inside the keys is caught by the embedded key id */
    xchg_diag *d = xchg_diag_new();
    s[40] = s[40] == 'A' ? 'B' : 'A';
    assert_int_equal(xchg_pubkey_from_string(s, strlen(s), &p, d), XCHG_ERR_VERIFY);
    assert_diag_has(d, "key id does not match");
    xchg_diag_clear(d);
    assert_int_equal(xchg_pubkey_from_string(s, 50, &p, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "public key is damaged");
    xchg_diag_clear(d);
    assert_int_equal(xchg_pubkey_from_string("xk2:AAAA", 8, &p, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "not an exchange public key");
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* Key ids are a fixed function of the public keys (vector pinned for the format). */
static void test_keyid_vector(void **state)
{
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    xchg_seckey *k = NULL;
    assert_int_equal(xchg_seckey_from_seed(seed, NULL, &k), XCHG_OK);
    char id[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(k)->id, id);
    char s[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(k), s);
    /* Regenerate with the same seed: same id and string. */
    xchg_seckey *k2 = NULL;
    assert_int_equal(xchg_seckey_from_seed(seed, NULL, &k2), XCHG_OK);
    char s2[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(k2), s2);
    assert_string_equal(s, s2);
    assert_string_equal(id, KEYID_VECTOR);
    assert_string_equal(s, PUBKEY_VECTOR);
    xchg_seckey_free(k);
    xchg_seckey_free(k2);
}

static void roundtrip(const char *pass)
{
    xchg_seckey *k = NULL, *back = NULL;
    const char *path = tpath(pass ? "prot.key" : "plain.key");
    unlink(path);
    assert_int_equal(xchg_seckey_generate("Matcher — linkage unit", &k), XCHG_OK);
    assert_int_equal(xchg_seckey_save(k, path, pass, pass ? strlen(pass) : 0, &fast, 0, NULL),
                     XCHG_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int prot = -1;
    xchg_pubkey pk;
    assert_int_equal(xchg_seckey_peek(path, &pk, &prot, NULL), XCHG_OK);
    assert_int_equal(prot, pass != NULL);
    assert_string_equal(pk.label, "Matcher — linkage unit");
    assert_int_equal(xchg_seckey_load(path, pass, pass ? strlen(pass) : 0, &back, NULL), XCHG_OK);
    assert_memory_equal(xchg_seckey_public(back)->id, xchg_seckey_public(k)->id, 8);
    /* the loaded key signs like the original */
    uint8_t sig[64];
    xchg_sign(back, "msg", 3, sig);
    assert_int_equal(xchg_verify(xchg_seckey_public(k), "msg", 3, sig), XCHG_OK);
    /* refuse to overwrite without force, allow with it */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_seckey_save(k, path, NULL, 0, NULL, 0, d), XCHG_ERR_EXISTS);
    assert_diag_has(d, "refusing to overwrite");
    assert_int_equal(xchg_seckey_save(k, path, pass, pass ? strlen(pass) : 0, &fast, 1, NULL),
                     XCHG_OK);
    xchg_diag_free(d);
    xchg_seckey_free(k);
    xchg_seckey_free(back);
}

static void test_seckey_roundtrip_plain(void **state)
{
    (void)state;
    roundtrip(NULL);
}

static void test_seckey_roundtrip_protected(void **state)
{
    (void)state;
    roundtrip("correct horse battery staple");
}

static void test_wrong_or_missing_passphrase(void **state)
{
    (void)state;
    xchg_seckey *k = NULL, *back = NULL;
    const char *path = tpath("wrongpass.key");
    unlink(path);
    assert_int_equal(xchg_seckey_generate("x", &k), XCHG_OK);
    assert_int_equal(xchg_seckey_save(k, path, "right", 5, &fast, 0, NULL), XCHG_OK);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_seckey_load(path, "wrong", 5, &back, d), XCHG_ERR_PASSPHRASE);
    assert_null(back);
    assert_diag_has(d, "wrong passphrase");
    xchg_diag_clear(d);
    assert_int_equal(xchg_seckey_load(path, NULL, 0, &back, d), XCHG_ERR_PASSPHRASE);
    assert_diag_has(d, "passphrase-protected");
    xchg_diag_free(d);
    xchg_seckey_free(k);
}

/* Truncation and corruption at every position of the body are rejected, never loaded. */
static void test_damaged_files(void **state)
{
    (void)state;
    const char *path = tpath("dmg.key"), *bad = tpath("dmg-bad.key");
    xchg_seckey *k = NULL, *back = NULL;
    unlink(path);
    assert_int_equal(xchg_seckey_generate("dmg", &k), XCHG_OK);
    assert_int_equal(xchg_seckey_save(k, path, NULL, 0, NULL, 0, NULL), XCHG_OK);
    size_t len;
    char *orig = slurp(path, &len);
    char *body = strstr(orig, "xsk1:") + 5;
    size_t boff = (size_t)(body - orig);
    xchg_diag *d = xchg_diag_new();
    /* truncated anywhere */
    for (size_t cut = 0; cut < len - 1; cut += 7) {
        spit(bad, orig, cut);
        xchg_err e = xchg_seckey_load(bad, NULL, 0, &back, d);
        assert_int_not_equal(e, XCHG_OK);
        assert_null(back);
        assert_true(xchg_diag_count(d) > 0);
        xchg_diag_clear(d);
    }
    spit(bad, orig, boff + 40);
    assert_int_equal(xchg_seckey_load(bad, NULL, 0, &back, d), XCHG_ERR_TRUNCATED);
    assert_diag_has(d, "truncated");
    xchg_diag_clear(d);
    /* one changed base64 character anywhere in the body */
    size_t blen = strcspn(body, "\n");
    for (size_t i = 0; i + 2 < blen; i++) {
        char *c = malloc(len);
        memcpy(c, orig, len);
        c[boff + i] = c[boff + i] == 'A' ? 'B' : 'A';
        spit(bad, c, len);
        free(c);
        xchg_err e = xchg_seckey_load(bad, NULL, 0, &back, d);
        if (e == XCHG_OK) /* only possible if the change hit base64 padding bits */
            fail_msg("corruption at body offset %zu was not detected", i);
        assert_null(back);
        xchg_diag_clear(d);
    }
    /* a public key file is not a secret key */
    assert_int_equal(xchg_pubkey_save(xchg_seckey_public(k), tpath("dmg.pub"), 1, NULL), XCHG_OK);
    assert_int_equal(xchg_seckey_load(tpath("dmg.pub"), NULL, 0, &back, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "this is a public key file");
    xchg_diag_clear(d);
    /* garbage */
    spit(bad, "hello\n", 6);
    assert_int_equal(xchg_seckey_load(bad, NULL, 0, &back, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, "not an exchange key file");
    xchg_diag_clear(d);
    assert_int_equal(xchg_seckey_load(tpath("does-not-exist"), NULL, 0, &back, d),
                     XCHG_ERR_NOT_FOUND);
    xchg_diag_free(d);
    free(orig);
    xchg_seckey_free(k);
}

/* A protected key file written by an earlier build keeps loading (format stability:
 * Argon2id + XChaCha20-Poly1305 as specified in docs/keys.md). */
static void test_protected_key_vector(void **state)
{
    (void)state;
    xchg_seckey *k = NULL;
    const char *p = XCHG_TEST_DIR "/kat/keys/protected.key";
    assert_int_equal(xchg_seckey_load(p, "correct horse battery staple", 28, &k, NULL), XCHG_OK);
    char s[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(k), s);
    size_t n;
    char *pub = slurp(XCHG_TEST_DIR "/kat/keys/protected.pub", &n);
    assert_non_null(strstr(pub, s));
    free(pub);
    xchg_seckey_free(k);
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_seckey_load(p, "correct horse battery stapl", 27, &k, d),
                     XCHG_ERR_PASSPHRASE);
    xchg_diag_free(d);
}

static void test_pubkey_file(void **state)
{
    (void)state;
    xchg_seckey *k = NULL;
    const char *path = tpath("pk.pub");
    unlink(path);
    assert_int_equal(xchg_seckey_generate("Thames Valley Police — data officer", &k), XCHG_OK);
    assert_int_equal(xchg_pubkey_save(xchg_seckey_public(k), path, 0, NULL), XCHG_OK);
    xchg_pubkey p;
    assert_int_equal(xchg_pubkey_load(path, &p, NULL), XCHG_OK);
    assert_string_equal(p.label, "Thames Valley Police — data officer");
    assert_memory_equal(p.id, xchg_seckey_public(k)->id, 8);
    xchg_seckey_free(k);
}

static void test_keyring(void **state)
{
    (void)state;
    xchg_seckey *a = NULL, *b = NULL;
    assert_int_equal(xchg_seckey_generate("A", &a), XCHG_OK);
    assert_int_equal(xchg_seckey_generate("B", &b), XCHG_OK);
    xchg_keyring *kr = xchg_keyring_new();
    assert_int_equal(xchg_keyring_add(kr, xchg_seckey_public(a)), XCHG_OK);
    assert_int_equal(xchg_keyring_add(kr, xchg_seckey_public(b)), XCHG_OK);
    assert_int_equal(xchg_keyring_add(kr, xchg_seckey_public(a)), XCHG_OK); /* no dup */
    assert_int_equal(xchg_keyring_count(kr), 2);
    const char *path = tpath("ring.txt");
    assert_int_equal(xchg_keyring_save(kr, path, 1, NULL), XCHG_OK);
    xchg_keyring *kr2 = xchg_keyring_new();
    assert_int_equal(xchg_keyring_load(kr2, path, NULL), XCHG_OK);
    assert_int_equal(xchg_keyring_count(kr2), 2);
    char hex[17];
    xchg_keyid_hex(xchg_seckey_public(b)->id, hex);
    const xchg_pubkey *f = xchg_keyring_find_hex(kr2, hex);
    assert_non_null(f);
    assert_string_equal(f->label, "B");
    assert_null(xchg_keyring_find_hex(kr2, "0000000000000000"));

    /* a bad line is reported with its number and nothing is added */
    char s[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(a), s);
    char text[512];
    snprintf(text, sizeof text, "# ring\n\n%s A\nxk1:garbage B\n", s);
    spit(path, text, strlen(text));
    xchg_keyring *kr3 = xchg_keyring_new();
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_keyring_load(kr3, path, d), XCHG_ERR_FORMAT);
    assert_diag_has(d, ":4:1: error: public key is damaged");
    assert_int_equal(xchg_keyring_count(kr3), 0);
    xchg_diag_free(d);
    xchg_keyring_free(kr);
    xchg_keyring_free(kr2);
    xchg_keyring_free(kr3);
    xchg_seckey_free(a);
    xchg_seckey_free(b);
}

static void test_atomic_write(void **state)
{
    (void)state;
    const char *path = tpath("atomic.txt");
    unlink(path);
    assert_int_equal(xchg_file_write_atomic(path, "one", 3, 0640, 0, NULL), XCHG_OK);
    assert_int_equal(xchg_file_write_atomic(path, "two", 3, 0640, 0, NULL), XCHG_ERR_EXISTS);
    size_t n;
    char *b = slurp(path, &n);
    assert_string_equal(b, "one");
    free(b);
    assert_int_equal(xchg_file_write_atomic(path, "three", 5, 0640, XCHG_WRITE_OVERWRITE, NULL),
                     XCHG_OK);
    b = slurp(path, &n);
    assert_string_equal(b, "three");
    free(b);
    /* unwritable directory: clear error, nothing created */
    xchg_diag *d = xchg_diag_new();
    assert_int_equal(xchg_file_write_atomic("/proc/xchg-nope/x", "a", 1, 0600, 0, d), XCHG_ERR_IO);
    assert_diag_has(d, "cannot create temporary file");
    xchg_diag_free(d);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubkey_string_roundtrip),
        cmocka_unit_test(test_keyid_vector),
        cmocka_unit_test(test_seckey_roundtrip_plain),
        cmocka_unit_test(test_seckey_roundtrip_protected),
        cmocka_unit_test(test_wrong_or_missing_passphrase),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_protected_key_vector),
        cmocka_unit_test(test_pubkey_file),
        cmocka_unit_test(test_keyring),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
