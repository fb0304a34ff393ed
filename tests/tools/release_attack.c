/*
 * release_attack — what the matcher's store and one recipient's key read together,
 * without the tools (docs/release.md "The release key", SECURITY.md).
 *
 *   release_attack DB DBKEY AGREEMENT RECIPIENT.key
 *
 * Opens the store with its key, and for every stored record: unseals the extract's data
 * key with the recipient's key, then tries the payload as it is (an agreement without a
 * release key) and, under a release key, with s·R combined from the contributions the
 * store holds for the record (every prefix of them, Lagrange over their indexes). Prints
 *   release-attack: read <N> of <M> stored records (<K> with contributions in the store)
 * and exits 0 (the figure is the result; the callers compare it).
 */
#include <exchange.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include "store_internal.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: release_attack DB DBKEY AGREEMENT RECIPIENT.key\n");
        return 2;
    }
    if (xchg_init() != XCHG_OK)
        return 3;
    xchg_diag *d = xchg_diag_new();
    xchg_store_key *k = NULL;
    xchg_agreement *p = NULL;
    xchg_store *s = NULL;
    xchg_seckey *team = NULL;
    if (xchg_store_key_load(argv[2], &k, d) != XCHG_OK ||
        t_agreement_file(argv[3], &p, d) != XCHG_OK ||
        xchg_store_open(argv[1], k, p, 0, &s, d) != XCHG_OK ||
        xchg_seckey_load(argv[4], NULL, 0, &team, d) != XCHG_OK) {
        for (size_t i = 0; i < xchg_diag_count(d); i++)
            fprintf(stderr, "release_attack: %s\n", xchg_diag_text(d, i));
        return 3;
    }
    const xchg_release_key *rk = &xchg_agreement_get(p)->release_key;
    sqlite3 *db = xchg__store_db(s);
    char kid[XCHG_KEYID_HEXLEN + 1];
    xchg_keyid_hex(xchg_seckey_public(team)->id, kid);
    sqlite3_stmt *q = NULL, *c = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.ref, e.extract_id, r.payload, k.sealed_key FROM records r "
                           "JOIN extracts e ON e.id = r.extract JOIN extract_keys k ON "
                           "k.extract = e.id AND k.key_id = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return 3;
    /* a store of schema 6 has no contributions table: nothing to combine */
    int have_c = sqlite3_prepare_v2(db,
                                    "SELECT idx, d FROM contributions WHERE extract_id = ?1 AND "
                                    "ref = ?2 ORDER BY idx",
                                    -1, &c, NULL) == SQLITE_OK;
    sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
    unsigned total = 0, readable = 0, with = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *ref = (const char *)sqlite3_column_text(q, 0);
        const uint8_t *xid = sqlite3_column_blob(q, 1), *w = sqlite3_column_blob(q, 2);
        size_t wl = (size_t)sqlite3_column_bytes(q, 2);
        const char *sk = (const char *)sqlite3_column_text(q, 3);
        total++;
        uint8_t sealed[XCHG_PAYLOAD_KEY_BYTES + XCHG_BOX_OVERHEAD], dk[XCHG_PAYLOAD_KEY_BYTES];
        size_t n = 0;
        if (!ref || !xid || !w || !sk ||
            xchg_base64_decode(sealed, sizeof sealed, &n, sk, strlen(sk)) != XCHG_OK ||
            xchg_box_open(team, sealed, n, dk) != XCHG_OK)
            continue;
        uint8_t *pt = malloc(wl + 1), *inner = malloc(wl + 1);
        int ok = pt && inner && wl > XCHG_PAYLOAD_OVERHEAD &&
                 xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(p)), xid, ref,
                                      strlen(ref), w, wl, pt) == XCHG_OK;
        unsigned idx[XCHG_TH_MAX_SHARES];
        uint8_t D[XCHG_TH_MAX_SHARES * 32], ctx[32], sR[32];
        size_t nc = 0;
        if (have_c) {
            sqlite3_reset(c);
            sqlite3_bind_blob(c, 1, xid, 16, SQLITE_STATIC);
            sqlite3_bind_text(c, 2, ref, -1, SQLITE_STATIC);
            while (sqlite3_step(c) == SQLITE_ROW && nc < XCHG_TH_MAX_SHARES) {
                if (sqlite3_column_bytes(c, 1) != 32)
                    continue;
                idx[nc] = (unsigned)sqlite3_column_int(c, 0);
                memcpy(D + 32 * nc++, sqlite3_column_blob(c, 1), 32);
            }
        }
        with += nc > 0;
        if (!ok && rk->present && nc &&
            xchg_threshold_context(xchg_policy_hash(xchg_agreement_policy(p)), rk->deal, xid, ref,
                                   strlen(ref), ctx) == XCHG_OK)
            for (size_t m = 1; !ok && m <= nc; m++)
                ok = xchg_threshold_combine(m, idx, D, sR) == XCHG_OK &&
                     xchg_threshold_unwrap(sR, ctx, w, wl, inner) == XCHG_OK &&
                     xchg_payload_decrypt(dk, xchg_policy_hash(xchg_agreement_policy(p)), xid, ref,
                                          strlen(ref), inner, wl - XCHG_TH_WRAP_OVERHEAD,
                                          pt) == XCHG_OK;
        readable += ok != 0;
        if (pt)
            sodium_memzero(pt, wl);
        free(pt);
        free(inner);
        sodium_memzero(dk, sizeof dk);
        sodium_memzero(sR, sizeof sR);
    }
    sqlite3_finalize(q);
    if (c)
        sqlite3_finalize(c);
    printf("release-attack: read %u of %u stored records (%u with contributions in the store)\n",
           readable, total, with);
    xchg_seckey_free(team);
    xchg_store_free(s);
    xchg_agreement_free(p);
    xchg_store_key_free(k);
    xchg_diag_free(d);
    return 0;
}
