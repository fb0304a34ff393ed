/* Keyrings: the public keys of an agreement's parties, looked up by key id. */
#include "exchange/crypto.h"
#include "exchange/fileio.h"
#include "exchange/keys.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYRING_MAX (4u << 20)

struct xchg_keyring {
    xchg_pubkey *v;
    size_t n, cap;
};

xchg_keyring *xchg_keyring_new(void) { return calloc(1, sizeof(xchg_keyring)); }

void xchg_keyring_free(xchg_keyring *kr)
{
    if (!kr)
        return;
    free(kr->v);
    free(kr);
}

const xchg_pubkey *xchg_keyring_find(const xchg_keyring *kr, const uint8_t id[XCHG_KEYID_BYTES])
{
    for (size_t i = 0; kr && i < kr->n; i++)
        if (memcmp(kr->v[i].id, id, XCHG_KEYID_BYTES) == 0)
            return &kr->v[i];
    return NULL;
}

const xchg_pubkey *xchg_keyring_find_hex(const xchg_keyring *kr, const char *hex)
{
    uint8_t id[XCHG_KEYID_BYTES];
    if (!hex || xchg_hex_decode(id, sizeof id, hex, strlen(hex)) != XCHG_OK)
        return NULL;
    return xchg_keyring_find(kr, id);
}

xchg_err xchg_keyring_add(xchg_keyring *kr, const xchg_pubkey *pk)
{
    if (!kr || !pk)
        return XCHG_ERR_ARG;
    const xchg_pubkey *have = xchg_keyring_find(kr, pk->id);
    if (have) {
        if (memcmp(have->sign_pk, pk->sign_pk, 32) == 0 && memcmp(have->box_pk, pk->box_pk, 32) == 0)
            return XCHG_OK;
        return XCHG_ERR_FORMAT;
    }
    if (kr->n == kr->cap) {
        size_t nc = kr->cap ? kr->cap * 2 : 8;
        xchg_pubkey *nv = realloc(kr->v, nc * sizeof *nv);
        if (!nv)
            return XCHG_ERR_NOMEM;
        kr->v = nv;
        kr->cap = nc;
    }
    kr->v[kr->n++] = *pk;
    return XCHG_OK;
}

size_t xchg_keyring_count(const xchg_keyring *kr) { return kr ? kr->n : 0; }

const xchg_pubkey *xchg_keyring_at(const xchg_keyring *kr, size_t i)
{
    return kr && i < kr->n ? &kr->v[i] : NULL;
}

xchg_err xchg_keyring_load(xchg_keyring *kr, const char *path, xchg_diag *d)
{
    if (!kr || !path)
        return XCHG_ERR_ARG;
    char *buf = NULL;
    size_t len = 0;
    xchg_err rc = xchg_file_read(path, KEYRING_MAX, &buf, &len, d);
    if (rc != XCHG_OK)
        return rc;
    xchg_keyring *tmp = xchg_keyring_new();
    if (!tmp) {
        free(buf);
        return XCHG_ERR_NOMEM;
    }
    unsigned lineno = 0;
    char *p = buf, *end = buf + len;
    if (memchr(buf, '\0', len)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "keyring contains a NUL byte");
        rc = XCHG_ERR_FORMAT;
        goto cleanup;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        if (n && *p != '#') {
            size_t klen = 0;
            while (klen < n && p[klen] != ' ' && p[klen] != '\t')
                klen++;
            xchg_pubkey pk;
            xchg_diag *one = xchg_diag_new();
            xchg_err r = xchg_pubkey_from_string(p, klen, &pk, one);
            if (r != XCHG_OK) {
                xchg_diag_add(d, XCHG_SEV_ERROR, path, lineno, 1, "%s",
                              xchg_diag_count(one) ? xchg_diag_message(one, 0) : xchg_strerror(r));
                xchg_diag_free(one);
                rc = r;
                goto cleanup;
            }
            xchg_diag_free(one);
            const char *lab = p + klen;
            size_t ln = n - klen;
            while (ln && (*lab == ' ' || *lab == '\t')) {
                lab++;
                ln--;
            }
            xchg__strlcpy(pk.label, lab, ln, sizeof pk.label);
            r = xchg_keyring_add(tmp, &pk);
            if (r == XCHG_ERR_FORMAT)
                xchg_diag_add(d, XCHG_SEV_ERROR, path, lineno, 1,
                              "two different keys share one key id");
            if (r != XCHG_OK) {
                rc = r;
                goto cleanup;
            }
        }
        p = nl ? nl + 1 : end;
    }
    for (size_t i = 0; i < tmp->n; i++) {
        rc = xchg_keyring_add(kr, &tmp->v[i]);
        if (rc == XCHG_ERR_FORMAT)
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "a key in this keyring clashes with a key already loaded");
        if (rc != XCHG_OK)
            goto cleanup; /* earlier keys of this file may be in; documented as a clash */
    }
    rc = XCHG_OK;
cleanup:
    xchg_keyring_free(tmp);
    free(buf);
    return rc;
}

xchg_err xchg_keyring_save(const xchg_keyring *kr, const char *path, int force, xchg_diag *d)
{
    if (!kr || !path)
        return XCHG_ERR_ARG;
    size_t cap = 64 + kr->n * (XCHG_PUBKEY_STRLEN + XCHG_LABEL_MAX + 4);
    char *text = malloc(cap);
    if (!text)
        return XCHG_ERR_NOMEM;
    size_t off = (size_t)snprintf(text, cap, "# exchange keyring: one public key per line\n");
    for (size_t i = 0; i < kr->n; i++) {
        char s[XCHG_PUBKEY_STRLEN];
        xchg_pubkey_to_string(&kr->v[i], s);
        off += (size_t)snprintf(text + off, cap - off, "%s %s\n", s, kr->v[i].label);
    }
    xchg_err rc = xchg_file_write_atomic(path, text, off, 0644, force ? XCHG_WRITE_OVERWRITE : 0, d);
    free(text);
    return rc;
}
