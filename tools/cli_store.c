/* The matcher's audit trail from the command line: every recorded action of the matcher
 * tools goes through audit_event. */
#include "cli.h"
#include "cli_store.h"

#include <stdlib.h>
#include <string.h>

char *audit_path_of(const char *db)
{
    size_t n = strlen(db) + 7;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s.audit", db);
    return p;
}

int audit_event(const struct common *c, const xchg_policy *p, const char *type,
                const xchg_pubkey *actor, const char *data_json, const xchg_seckey *matcher)
{
    char *path = audit_path_of(c->db);
    xchg_diag *d = xchg_diag_new();
    xchg_audit *a = NULL;
    int rc = EXIT_IO;
    if (!path || !d)
        goto cleanup;
    xchg_err e = xchg_audit_open(path, NULL, &a, d);
    if (e == XCHG_ERR_NOT_FOUND && p) {
        const xchg_policy_data *pd = xchg_policy_get(p);
        xchg_audit_genesis g;
        memset(&g, 0, sizeof g);
        g.agreement_id = pd->id;
        memcpy(g.agreement_sha256, xchg_policy_hash(p), 32);
        for (size_t i = 0; i < pd->nparties; i++)
            if (pd->parties[i].role == XCHG_ROLE_MATCHER)
                memcpy(g.matcher_key, pd->parties[i].key.id, XCHG_KEYID_BYTES);
        xchg_diag_clear(d);
        e = xchg_audit_open(path, &g, &a, d);
    }
    if (e == XCHG_OK)
        e = xchg_audit_append(a, type, actor ? actor->id : NULL, data_json, NULL, d);
    if (e == XCHG_OK && matcher)
        e = xchg_audit_checkpoint(a, matcher, NULL, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, path);
        cli_error("the %s was done but could not be recorded in the audit log %s", type, path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    xchg_audit_close(a);
    xchg_diag_free(d);
    free(path);
    return rc;
}
