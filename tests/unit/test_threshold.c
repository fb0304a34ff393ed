/*
 * The release key (threshold.c): dealing with Feldman commitments, hybrid ElGamal, partial
 * decryptions with Chaum–Pedersen proofs, Lagrange combination — with known-answer
 * vectors for the wire formats (docs/formats.md "Release key") and the must-fail cases:
 * fewer than t shares, a forged or tampered partial decryption or proof, a proof for
 * another record, index or operator, a share of another deal, altered ciphertext.
 */
#include "test_helpers.h"
#include "threshold_internal.h"

#include <sodium.h>

#define PT "{\"name\":\"Dan Lee\"}"

static void assert_hex(const uint8_t *got, size_t n, const char *hex)
{
    char buf[1024];
    assert_true(2 * n + 1 <= sizeof buf);
    xchg_hex_encode(buf, got, n);
    if (getenv("XCHG_PRINT_KAT"))
        printf("KAT %s\n", buf);
    else
        assert_string_equal(buf, hex);
}

static void ctx_for(const char *ref, uint8_t ctx[32])
{
    uint8_t agr[32], deal[16], xid[16];
    memset(agr, 0xa1, sizeof agr);
    memset(deal, 0xd1, sizeof deal);
    memset(xid, 0xe1, sizeof xid);
    assert_int_equal(xchg_threshold_context(agr, deal, xid, ref, strlen(ref), ctx), XCHG_OK);
}

struct deal {
    unsigned t, n;
    uint8_t commit[XCHG_TH_MAX_SHARES * 32], shares[XCHG_TH_MAX_SHARES * 32],
        verify[XCHG_TH_MAX_SHARES * 32];
};

static void deal(struct deal *dl, unsigned t, unsigned n)
{
    dl->t = t;
    dl->n = n;
    assert_int_equal(xchg_threshold_deal(t, n, dl->commit, dl->shares, dl->verify), XCHG_OK);
}

/* partial decryptions of w's R by the shares listed in who (1-based), combined, unwrapped */
static xchg_err open_with(const struct deal *dl, const uint8_t ctx[32], const uint8_t *w, size_t wl,
                          const unsigned *who, size_t k, uint8_t *pt)
{
    uint8_t R[32], D[XCHG_TH_MAX_SHARES * 32], proof[64], sR[32];
    assert_int_equal(xchg_threshold_wrapped_R(w, wl, R), XCHG_OK);
    for (size_t i = 0; i < k; i++) {
        unsigned ix = who[i];
        assert_int_equal(
            xchg_threshold_partial(dl->shares + (ix - 1) * 32, ix, R, ctx, D + i * 32, proof),
            XCHG_OK);
        assert_int_equal(xchg_threshold_verify_partial(dl->verify + (ix - 1) * 32, ix, R, ctx,
                                                       D + i * 32, proof),
                         XCHG_OK);
    }
    assert_int_equal(xchg_threshold_combine(k, who, D, sR), XCHG_OK);
    return xchg_threshold_unwrap(sR, ctx, w, wl, pt);
}

static void test_deal_feldman(void **state)
{
    (void)state;
    struct deal dl, other;
    deal(&dl, 3, 5);
    deal(&other, 3, 5);
    for (unsigned i = 1; i <= 5; i++) {
        assert_int_equal(xchg_threshold_check_share(dl.commit, 3, i, dl.verify + (i - 1) * 32),
                         XCHG_OK);
        assert_int_equal(
            xchg_threshold_share_matches(dl.shares + (i - 1) * 32, dl.verify + (i - 1) * 32),
            XCHG_OK);
        /* a share (or verification share) of another deal is refused */
        assert_int_equal(xchg_threshold_check_share(dl.commit, 3, i, other.verify + (i - 1) * 32),
                         XCHG_ERR_VERIFY);
        assert_int_equal(
            xchg_threshold_share_matches(other.shares + (i - 1) * 32, dl.verify + (i - 1) * 32),
            XCHG_ERR_VERIFY);
    }
    /* another operator's verification share under this index */
    assert_int_equal(xchg_threshold_check_share(dl.commit, 3, 1, dl.verify + 32), XCHG_ERR_VERIFY);
    assert_int_equal(xchg_threshold_check_share(dl.commit, 3, 0, dl.verify), XCHG_ERR_VERIFY);
    assert_int_equal(xchg_threshold_deal(3, 2, dl.commit, dl.shares, dl.verify), XCHG_ERR_ARG);
    assert_int_equal(xchg_threshold_deal(0, 2, dl.commit, dl.shares, dl.verify), XCHG_ERR_ARG);
}

static void test_threshold_opens(void **state)
{
    (void)state;
    struct deal dl;
    deal(&dl, 2, 3);
    uint8_t ctx[32], w[sizeof PT + XCHG_TH_WRAP_OVERHEAD], pt[sizeof PT];
    ctx_for("P1", ctx);
    size_t wl = strlen(PT) + XCHG_TH_WRAP_OVERHEAD;
    assert_int_equal(xchg_threshold_wrap(dl.commit, ctx, (const uint8_t *)PT, strlen(PT), w),
                     XCHG_OK);
    static const unsigned pairs[][2] = {{1, 2}, {2, 1}, {1, 3}, {3, 2}};
    for (size_t i = 0; i < 4; i++) {
        memset(pt, 0, sizeof pt);
        assert_int_equal(open_with(&dl, ctx, w, wl, pairs[i], 2, pt), XCHG_OK);
        assert_memory_equal(pt, PT, strlen(PT));
    }
    unsigned all[] = {1, 2, 3};
    assert_int_equal(open_with(&dl, ctx, w, wl, all, 3, pt), XCHG_OK);
    /* fewer than t: one operator's contribution opens nothing */
    for (unsigned i = 1; i <= 3; i++)
        assert_int_equal(open_with(&dl, ctx, w, wl, &i, 1, pt), XCHG_ERR_VERIFY);
    /* the right shares under another record's context open nothing */
    uint8_t ctx2[32];
    ctx_for("P2", ctx2);
    assert_int_equal(open_with(&dl, ctx2, w, wl, all, 2, pt), XCHG_ERR_VERIFY);
    /* altered ciphertext, R or version */
    for (size_t pos = 0; pos < wl; pos += 7) {
        w[pos] ^= 0x04;
        uint8_t R[32];
        if (xchg_threshold_wrapped_R(w, wl, R) == XCHG_OK) {
            uint8_t D[64], proof[64], sR[32];
            for (unsigned i = 0; i < 2; i++)
                assert_int_equal(
                    xchg_threshold_partial(dl.shares + i * 32, i + 1, R, ctx, D + i * 32, proof),
                    XCHG_OK);
            assert_int_equal(xchg_threshold_combine(2, all, D, sR), XCHG_OK);
            assert_int_equal(xchg_threshold_unwrap(sR, ctx, w, wl, pt), XCHG_ERR_VERIFY);
        }
        w[pos] ^= 0x04;
    }
    assert_int_equal(xchg_threshold_wrapped_R(w, XCHG_TH_WRAP_OVERHEAD - 1, ctx2), XCHG_ERR_FORMAT);
}

static void test_three_of_five(void **state)
{
    (void)state;
    struct deal dl;
    deal(&dl, 3, 5);
    uint8_t ctx[32], w[sizeof PT + XCHG_TH_WRAP_OVERHEAD], pt[sizeof PT];
    ctx_for("S1", ctx);
    size_t wl = strlen(PT) + XCHG_TH_WRAP_OVERHEAD;
    assert_int_equal(xchg_threshold_wrap(dl.commit, ctx, (const uint8_t *)PT, strlen(PT), w),
                     XCHG_OK);
    unsigned two[] = {2, 5}, three[] = {5, 1, 4}, four[] = {1, 2, 3, 4};
    assert_int_equal(open_with(&dl, ctx, w, wl, two, 2, pt), XCHG_ERR_VERIFY);
    assert_int_equal(open_with(&dl, ctx, w, wl, three, 3, pt), XCHG_OK);
    assert_int_equal(open_with(&dl, ctx, w, wl, four, 4, pt), XCHG_OK);
    /* a repeated operator does not count twice */
    uint8_t D[64] = {0}, sR[32];
    unsigned dup[] = {2, 2};
    assert_int_equal(xchg_threshold_combine(2, dup, D, sR), XCHG_ERR_ARG);
    assert_int_equal(xchg_threshold_combine(0, dup, D, sR), XCHG_ERR_ARG);
}

static void test_forged_partials(void **state)
{
    (void)state;
    struct deal dl;
    deal(&dl, 2, 3);
    uint8_t ctx[32], ctx2[32], R[32], D[32], proof[64], D2[32], proof2[64];
    ctx_for("P1", ctx);
    ctx_for("P3", ctx2);
    uint8_t r[32];
    crypto_core_ristretto255_scalar_random(r);
    assert_int_equal(crypto_scalarmult_ristretto255_base(R, r), 0);
    assert_int_equal(xchg_threshold_partial(dl.shares, 1, R, ctx, D, proof), XCHG_OK);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D, proof), XCHG_OK);
    /* another operator's verification share, index or record context */
    assert_int_equal(xchg_threshold_verify_partial(dl.verify + 32, 1, R, ctx, D, proof),
                     XCHG_ERR_VERIFY);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 2, R, ctx, D, proof),
                     XCHG_ERR_VERIFY);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx2, D, proof),
                     XCHG_ERR_VERIFY);
    /* every single-bit change of D or the proof */
    for (size_t i = 0; i < 32 * 8; i += 5) {
        memcpy(D2, D, 32);
        D2[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D2, proof),
                         XCHG_ERR_VERIFY);
    }
    for (size_t i = 0; i < 64 * 8; i += 3) {
        memcpy(proof2, proof, 64);
        proof2[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D, proof2),
                         XCHG_ERR_VERIFY);
    }
    /* a random point with a proof made for another point (replayed from another record) */
    uint8_t R2[32];
    crypto_core_ristretto255_scalar_random(r);
    assert_int_equal(crypto_scalarmult_ristretto255_base(R2, r), 0);
    assert_int_equal(xchg_threshold_partial(dl.shares, 1, R2, ctx, D2, proof2), XCHG_OK);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D2, proof2),
                     XCHG_ERR_VERIFY);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D, proof2),
                     XCHG_ERR_VERIFY);
    /* D made with a share that is not the operator's (a guess), with a valid proof for
       that share: refused against the operator's verification share */
    uint8_t fake[32];
    crypto_core_ristretto255_scalar_random(fake);
    assert_int_equal(xchg_threshold_partial(fake, 1, R, ctx, D2, proof2), XCHG_OK);
    assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D2, proof2),
                     XCHG_ERR_VERIFY);
    /* a non-canonical z (z + L) is refused even though it is the same scalar mod L */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    memcpy(proof2, proof, 64);
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned s = proof2[32 + i] + L[i] + carry;
        proof2[32 + i] = (uint8_t)s;
        carry = s >> 8;
    }
    if (!carry)
        assert_int_equal(xchg_threshold_verify_partial(dl.verify, 1, R, ctx, D, proof2),
                         XCHG_ERR_VERIFY);
}

/* Known answers: fixed polynomial f(x) = a0 + a1·x, fixed r and proof nonce k. */
static void test_kat(void **state)
{
    (void)state;
    uint8_t a0[32], a1[32], s1[32], s2[32], x[32] = {0}, P[32], C1[32], V1[32], V2[32];
    uint8_t wide[64];
    memset(wide, 0x11, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(a0, wide);
    memset(wide, 0x22, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(a1, wide);
    x[0] = 1;
    crypto_core_ristretto255_scalar_mul(s1, a1, x);
    crypto_core_ristretto255_scalar_add(s1, s1, a0);
    x[0] = 2;
    crypto_core_ristretto255_scalar_mul(s2, a1, x);
    crypto_core_ristretto255_scalar_add(s2, s2, a0);
    assert_int_equal(crypto_scalarmult_ristretto255_base(P, a0), 0);
    assert_int_equal(crypto_scalarmult_ristretto255_base(C1, a1), 0);
    assert_int_equal(crypto_scalarmult_ristretto255_base(V1, s1), 0);
    assert_int_equal(crypto_scalarmult_ristretto255_base(V2, s2), 0);
    uint8_t commit[64];
    memcpy(commit, P, 32);
    memcpy(commit + 32, C1, 32);
    assert_int_equal(xchg_threshold_check_share(commit, 2, 1, V1), XCHG_OK);
    assert_int_equal(xchg_threshold_check_share(commit, 2, 2, V2), XCHG_OK);
    assert_hex(P, 32, "1439053a1792481915616bbe5c824313807d0adb7c0a33ece78adf316b014d31");
    assert_hex(V1, 32, "400e2b690812adc287d7ed0470abf7cab9a442ba1675c3ad6a9337d509ec7e7b");
    assert_hex(V2, 32, "048bc6fd4936f646244d1dd0d55e8918f2eee9e5eb9b52a23d5c01bfb541f20e");

    uint8_t ctx[32];
    ctx_for("P1", ctx);
    assert_hex(ctx, 32, "0f43db2e2d1017beedf3097bca28f21ebc0a2b73f09a2f0227f8dd3c0f5b63a9");
    uint8_t r[32], k1[32], k2[32];
    memset(wide, 0x5a, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(r, wide);
    memset(wide, 0x7c, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(k1, wide);
    memset(wide, 0x8d, sizeof wide);
    crypto_core_ristretto255_scalar_reduce(k2, wide);
    const char *msg = "exchange";
    // clang-format off
    uint8_t w[8 + XCHG_TH_WRAP_OVERHEAD], R[32];
    assert_int_equal(xchg__threshold_wrap_r(r, P, ctx, (const uint8_t *)msg, 8, w), XCHG_OK);
    assert_hex(w, sizeof w,
               "01502fd0039f826d94d5e2fce564954da67d2fb1a9f0f67ff23c2716052cf55f6514c162e3db1d1533b46a06491a6db621f61e2cd53abda22f");
    assert_int_equal(xchg_threshold_wrapped_R(w, sizeof w, R), XCHG_OK);
    uint8_t D[64], pr1[64], pr2[64], sR[32], out[8];
    assert_int_equal(xchg__threshold_partial_k(k1, s1, 1, R, ctx, D, pr1), XCHG_OK);
    assert_int_equal(xchg__threshold_partial_k(k2, s2, 2, R, ctx, D + 32, pr2), XCHG_OK);
    assert_hex(D, 32, "f66e513d0171c61e47b4be0b51f23090565be0d54b0268f529e3fc1b7feb5a60");
    assert_hex(pr1, 64,
               "31b86d0826d3de30141d132d6eeba0c6a9a68481fb3ebfb38610d0373111a00803b3bb1029dd91c3f9685202529e6a9b18741d6e2eb6c71f4b2942f3935b4f0a");
    assert_hex(D + 32, 32, "74506fb358812c1ec269188a5054287ed64db100e3e696853f26236ca01c4e03");
    assert_hex(pr2, 64,
               "a2446311b5849300c3053032334207a9ac181cc92055f7caefa869766136b70402f34970481bd5703d9be65737b4e520d8fca98c8411638701ee422d7621c40a");
    // clang-format on
    assert_int_equal(xchg_threshold_verify_partial(V1, 1, R, ctx, D, pr1), XCHG_OK);
    assert_int_equal(xchg_threshold_verify_partial(V2, 2, R, ctx, D + 32, pr2), XCHG_OK);
    unsigned ix[] = {1, 2};
    assert_int_equal(xchg_threshold_combine(2, ix, D, sR), XCHG_OK);
    /* s·R computed directly equals the combination */
    uint8_t direct[32];
    assert_int_equal(crypto_scalarmult_ristretto255(direct, a0, R), 0);
    assert_memory_equal(direct, sR, 32);
    assert_int_equal(xchg_threshold_unwrap(sR, ctx, w, sizeof w, out), XCHG_OK);
    assert_memory_equal(out, msg, 8);
}

static void test_apply_section(void **state)
{
    (void)state;
    const char *sec = "release_key:\n  deal: x\n";
    char *out = NULL;
    size_t n = 0;
    const char *a = "a: 1\nrelease_key: required\nb: 2\n";
    assert_int_equal(xchg_release_key_apply(a, strlen(a), sec, &out, &n), XCHG_OK);
    assert_string_equal(out, "a: 1\nrelease_key:\n  deal: x\nb: 2\n");
    free(out);
    const char *b = "a: 1\nrelease_key:\n  deal: old\n  shares:\n    - 1\n\nb: 2\n";
    assert_int_equal(xchg_release_key_apply(b, strlen(b), sec, &out, &n), XCHG_OK);
    assert_string_equal(out, "a: 1\nrelease_key:\n  deal: x\nb: 2\n");
    free(out);
    const char *c = "a: 1";
    assert_int_equal(xchg_release_key_apply(c, strlen(c), sec, &out, &n), XCHG_OK);
    assert_string_equal(out, "a: 1\nrelease_key:\n  deal: x\n");
    assert_int_equal(n, strlen(out));
    free(out);
}

int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deal_feldman),  cmocka_unit_test(test_threshold_opens),
        cmocka_unit_test(test_three_of_five), cmocka_unit_test(test_forged_partials),
        cmocka_unit_test(test_kat),           cmocka_unit_test(test_apply_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
