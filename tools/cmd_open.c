/* xchg open: the recipient team opens a referral packet and reads the referral. */
#include "cli.h"
#include "commands.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: xchg open --agreement A.yaml --key RECIPIENT.key [--json] PACKET.xrp\n"
    "\n"
    "Verifies the matcher's signature and the agreement, decrypts the detail each agency\n"
    "released (only the recipient's key can), and prints the referral: the family, its\n"
    "members with their details, each agency's detail, what was withheld and why, and\n"
    "which problems qualify the family. --json prints the same as JSON.\n";

static const char *s(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* Decrypt one released record's payload; returns the payload JSON or NULL (+ message). */
static json_t *open_item(const xchg_policy *p, const xchg_seckey *k, json_t *rec, char *err,
                         size_t errlen)
{
    const char *sk = s(rec, "sealed_key"), *pl = s(rec, "payload"), *xid = s(rec, "extract_id"),
               *ref = s(rec, "ref");
    uint8_t sealed[XCHG_PAYLOAD_KEY_BYTES + XCHG_SEAL_OVERHEAD], id[16];
    uint8_t *dk = xchg_secure_alloc(XCHG_PAYLOAD_KEY_BYTES);
    size_t n = 0, plen = strlen(pl), cl = 0;
    uint8_t *c = malloc(plen + 1), *pt = NULL;
    json_t *out = NULL;
    if (!dk || !c)
        goto done;
    if (xchg_base64_decode(sealed, sizeof sealed, &n, sk, strlen(sk)) != XCHG_OK || n != sizeof sealed ||
        xchg_hex_decode(id, 16, xid, strlen(xid)) != XCHG_OK ||
        xchg_base64_decode(c, plen + 1, &cl, pl, plen) != XCHG_OK || cl < XCHG_PAYLOAD_OVERHEAD) {
        snprintf(err, errlen, "the packet's copy of this record is malformed");
        goto done;
    }
    if (xchg_seal_open(k, sealed, n, dk) != XCHG_OK) {
        snprintf(err, errlen, "the agency's data key does not open with this key");
        goto done;
    }
    pt = malloc(cl - XCHG_PAYLOAD_OVERHEAD + 1);
    if (!pt || xchg_payload_decrypt(dk, xchg_policy_hash(p), id, ref, strlen(ref), c, cl, pt) !=
                   XCHG_OK) {
        snprintf(err, errlen, "the detail does not authenticate (altered, or moved from another record)");
        goto done;
    }
    out = json_loadb((const char *)pt, cl - XCHG_PAYLOAD_OVERHEAD, 0, NULL);
    if (!out)
        snprintf(err, errlen, "the detail is not JSON");
    xchg_wipe(pt, cl - XCHG_PAYLOAD_OVERHEAD);
done:
    xchg_secure_free(dk);
    free(c);
    free(pt);
    return out;
}

static const char *agency_label(const xchg_policy_data *pd, const char *id)
{
    for (size_t i = 0; i < pd->nparties; i++)
        if (strcmp(pd->parties[i].id, id) == 0)
            return pd->parties[i].label;
    return id;
}

int cmd_open(int argc, char **argv)
{
    const char *agr = NULL, *key = NULL, *js = NULL, *pfd = NULL;
    const struct cli_opt opts[] = {{"--agreement", 'a', 1, &agr}, {"--key", 'k', 1, &key},
                                   {"--json", 0, 0, &js}, {"--passphrase-fd", 0, 1, &pfd}, {0}};
    const char *pos[1];
    int npos, help, rc;
    if ((rc = cli_parse(argc, argv, opts, pos, 1, &npos, &help)) != 0)
        return rc;
    if (help) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!agr || !key || npos != 1) {
        cli_error("open needs --agreement, --key (the recipient's) and the packet file");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    xchg_diag *d = xchg_diag_new();
    xchg_policy *p = NULL;
    xchg_seckey *k = NULL;
    char *body = NULL;
    json_t *j = NULL;
    if ((rc = cli_load_agreement(agr, &p)) != 0)
        goto cleanup;
    xchg_err e;
    if ((rc = cli_load_seckey(key, pfd, &k)) != 0)
        goto cleanup;
    e = xchg_packet_open(p, k, pos[0], &body, d);
    if (e != XCHG_OK) {
        rc = cli_fail(e, d, pos[0]);
        cli_error("%s is rejected", pos[0]);
        goto cleanup;
    }
    j = json_loads(body, 0, NULL);
    if (!j) {
        cli_error("%s: packet body is not JSON", pos[0]);
        rc = EXIT_DENIED;
        goto cleanup;
    }
    const xchg_policy_data *pd = xchg_policy_get(p);
    /* decrypt every released record in place: "detail" replaces the ciphertext */
    size_t mi, ri;
    json_t *m, *r;
    int bad = 0;
    json_array_foreach(json_object_get(j, "members"), mi, m) {
        json_array_foreach(json_object_get(m, "records"), ri, r) {
            if (!json_is_true(json_object_get(r, "released")))
                continue;
            char err[160] = "";
            json_t *pl = open_item(p, k, r, err, sizeof err);
            json_object_del(r, "sealed_key");
            json_object_del(r, "payload");
            if (pl) {
                json_object_set(r, "detail", json_object_get(pl, "fields"));
                json_decref(pl);
            } else {
                json_object_set_new(r, "error", json_string(err));
                bad = 1;
            }
        }
    }
    if (js) {
        char *t = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (t)
            puts(t);
        free(t);
    } else {
        json_t *pr = json_object_get(j, "problems");
        printf("REFERRAL %s — family %s\n", s(j, "packet_id"), s(j, "family"));
        printf("Agreement: %s (%s)\nFor: %s\n", pd->title, pd->id,
               agency_label(pd, s(j, "recipient")));
        printf("Why this family: %zu problems evidenced (the agreement needs %lld):\n",
               json_array_size(pr),
               (long long)json_integer_value(json_object_get(json_object_get(j, "rule"), "at_least")));
        size_t i;
        json_t *x;
        json_array_foreach(pr, i, x) {
            printf("  - %s (", s(x, "title"));
            size_t a;
            json_t *ag;
            json_array_foreach(json_object_get(x, "agencies"), a, ag)
                printf("%s%s", a ? ", " : "", agency_label(pd, json_string_value(ag)));
            printf("; %s to %s)\n", s(x, "first"), s(x, "last"));
        }
        printf("\nMembers:\n");
        json_array_foreach(json_object_get(j, "members"), mi, m) {
            printf("  Person %s\n", s(m, "person"));
            json_array_foreach(json_object_get(m, "records"), ri, r) {
                printf("    %s, record %s: ", agency_label(pd, s(r, "agency")), s(r, "ref"));
                if (json_is_true(json_object_get(r, "released"))) {
                    json_t *det = json_object_get(r, "detail");
                    if (!det) {
                        printf("ERROR: %s\n", s(r, "error"));
                        continue;
                    }
                    printf("released (%s)\n", s(r, "basis_for_release"));
                    const char *f;
                    json_t *v;
                    json_object_foreach(det, f, v)
                        printf("      %-22s %s\n", f, json_string_value(v) ? json_string_value(v) : "");
                } else {
                    printf("WITHHELD — %s\n", s(r, "withheld"));
                }
            }
        }
        printf("\nApprovals:\n");
        json_array_foreach(json_object_get(j, "approvals"), i, x)
            printf("  %s by %s (key %s): %s\n", s(x, "time"), s(x, "operator_label"), s(x, "operator"),
                   s(x, "reason"));
        printf("\nCreated %s by the matcher; signature and agreement verified.\n", s(j, "created"));
    }
    rc = bad ? EXIT_DENIED : EXIT_OK;
cleanup:
    json_decref(j);
    free(body);
    xchg_seckey_free(k);
    xchg_policy_free(p);
    xchg_diag_free(d);
    return rc;
}
