/*
 * Compile check (tests/CMakeLists.txt, unit.compile.*): an acting call given an
 * agreement that was merely parsed must not compile. Built with -fsyntax-only: with
 * XCHG_CC_CASE=0 every call gets a verified xchg_agreement and the file compiles cleanly
 * (-Wall -Wextra -Werror); with XCHG_CC_CASE=n call n gets an xchg_policy instead and the
 * compiler must refuse it as an incompatible pointer type.
 */
#include <exchange.h>

#ifndef XCHG_CC_CASE
#define XCHG_CC_CASE 0
#endif

#if XCHG_CC_CASE == 1
#define PICK1 p
#else
#define PICK1 a
#endif
#if XCHG_CC_CASE == 2
#define PICK2 p
#else
#define PICK2 a
#endif
#if XCHG_CC_CASE == 3
#define PICK3 p
#else
#define PICK3 a
#endif
#if XCHG_CC_CASE == 4
#define PICK4 p
#else
#define PICK4 a
#endif
#if XCHG_CC_CASE == 5
#define PICK5 p
#else
#define PICK5 a
#endif

int probe(const xchg_policy *p, const xchg_agreement *a, const xchg_seckey *k, const xchg_secret *s,
          const xchg_seal_opts *o, const xchg_store_key *sk);

int probe(const xchg_policy *p, const xchg_agreement *a, const xchg_seckey *k, const xchg_secret *s,
          const xchg_seal_opts *o, const xchg_store_key *sk)
{
    (void)p;
    (void)a;
    int bad = 0;
    xchg_seal_stats st;
    xchg_store *store = NULL;
    xchg_matcher *m = NULL;
    xchg_extract_file *f = NULL;
    uint8_t sig[XCHG_RELEASE_SIG_BYTES];
    bad |= xchg_seal(PICK1, k, s, o, &st, NULL) != XCHG_OK;
    bad |= xchg_store_open("db", sk, PICK2, 0, &store, NULL) != XCHG_OK;
    bad |= xchg_matcher_open("db", sk, PICK3, 0, &m, NULL) != XCHG_OK;
    bad |= xchg_extract_open(PICK4, k, "x.xex", 1, &f, NULL) != XCHG_OK;
    bad |= xchg_review_sign(PICK5, k, "a", "1", "b", "2", 1, "why", 0, sig) != XCHG_OK;
    /* describe/check calls take the policy, read out of a verified agreement */
    bad |= xchg_policy_get(xchg_agreement_policy(a)) == NULL;
    return bad;
}
