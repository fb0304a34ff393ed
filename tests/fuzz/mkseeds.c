/*
 * Seed corpora for the fuzz targets, made from the project's own fixtures: writes
 * <outdir>/<target>/<name> files. Run by scripts/fuzz-seeds (which also copies the CSV and
 * YAML fixtures). Keys are the test suite's seed keys, so the files are valid inputs for
 * the targets (sealed to the matcher, packets for the team).
 */
#include "fuzz_common.h"

#include "agreement_testing.h" /* unsigned test agreements (test only) */
#include <sys/stat.h>

static const char *outdir;

static void put(const char *target, const char *name, unsigned prefix, const void *data,
                size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fz_die(path);
    if (prefix <= 0xff)
        fputc((int)prefix, f);
    if (len)
        fwrite(data, 1, len, f);
    fclose(f);
}

static void put_file(const char *target, const char *name, unsigned prefix, const char *src)
{
    char *buf = NULL;
    size_t len = 0;
    if (xchg_file_read(src, 1u << 26, &buf, &len, NULL) != XCHG_OK)
        fz_die(src);
    put(target, name, prefix, buf, len);
    free(buf);
}

#define NOPREFIX 0x100u

/* An in-process key service for the OPRF cache seed: ctx is its scalar. */
static xchg_err seed_oprf_transport(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                                    size_t *resp_len, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return xchg_oprf_serve(ctx, req, len, resp, resp_len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    mkdir(outdir, 0755);
    fz_init();
    xchg_agreement *p = fz_policy();
    const xchg_policy_data *pd = xchg_agreement_get(p);
    xchg_seckey *owner = fz_key(1), *police = fz_key(2), *matcher = fz_key(4), *team = fz_key(5);

    /* http: a correctly signed submission (at the fixed clock of fuzz_http) */
    {
        const char body[] = "XCHGXEX not really an extract";
        uint8_t h[XCHG_SHA256_BYTES];
        xchg_sha256(body, sizeof body - 1, h);
        xchg_netauth_headers nh;
        if (xchg_netauth_sign(police, "POST", "/v1/extracts", 1767225600, h, &nh) != XCHG_OK)
            fz_die("netauth_sign");
        char req[1024];
        int n = snprintf(req, sizeof req, "POST\n/v1/extracts\n%s\n%s\n%s\n%s\n%s\n%s", nh.key,
                         nh.time, nh.nonce, nh.body_sha256, nh.signature, body);
        put("http", "signed-post", NOPREFIX, req, (size_t)n);
    }

    /* clk schema */
    if (pd->fuzzy.clk_schema_len)
        put("clk", "fixture-schema.json", NOPREFIX, pd->fuzzy.clk_schema_json,
            pd->fuzzy.clk_schema_len);

    /* keys: text, public file, secret file, keyring, linkage secret */
    char s[XCHG_PUBKEY_STRLEN];
    xchg_pubkey_to_string(xchg_seckey_public(police), s);
    put("keys", "pubkey-text", 0, s, strlen(s));
    const char *f = fz_path("seed.pub");
    unlink(f);
    if (xchg_pubkey_save(xchg_seckey_public(police), f, 1, NULL) != XCHG_OK)
        fz_die("pubkey_save");
    put_file("keys", "pubkey-file", 1, f);
    f = fz_path("seed.sec");
    unlink(f);
    if (xchg_seckey_save(police, f, NULL, 0, NULL, 1, NULL) != XCHG_OK)
        fz_die("seckey_save");
    put_file("keys", "seckey-file", 2, f);
    xchg_keyring *kr = xchg_keyring_new();
    (void)xchg_keyring_add(kr, xchg_seckey_public(police));
    (void)xchg_keyring_add(kr, xchg_seckey_public(team));
    f = fz_path("seed.ring");
    unlink(f);
    if (xchg_keyring_save(kr, f, 1, NULL) != XCHG_OK)
        fz_die("keyring_save");
    xchg_keyring_free(kr);
    put_file("keys", "keyring-file", 3, f);
    const char *sp = fz_path("seed.xsec");
    unlink(sp);
    xchg_secret *sec = NULL;
    if (xchg_secret_create(p, owner, 1, 0, sp, 1, NULL) != XCHG_OK ||
        xchg_secret_open(p, police, sp, &sec, NULL) != XCHG_OK)
        fz_die("secret");
    put_file("keys", "linkage-secret", 4, sp);
    {   /* an agency's OPRF cache of three values (fuzz_keys case 5: fz_key(2), scalar 1) */
        uint8_t osk[XCHG_OPRF_SCALAR_BYTES] = {1}, opk[XCHG_OPRF_ELEMENT_BYTES];
        xchg_seckey *agency = fz_key(2);
        const char *cp = fz_path("seed.oprfcache");
        unlink(cp);
        xchg_oprf_cache *k = NULL;
        xchg_oprf_client *c = NULL;
        if (xchg_oprf_public(osk, opk) != XCHG_OK ||
            xchg_oprf_cache_open(cp, agency, opk, &k, NULL) != XCHG_OK ||
            !(c = xchg_oprf_client_new(opk, seed_oprf_transport, osk, 0)) ||
            xchg_oprf_client_use_cache(c, k) != XCHG_OK ||
            xchg_oprf_client_add(c, (const uint8_t *)"jones|2011-03-04", 16) != XCHG_OK ||
            xchg_oprf_client_add(c, (const uint8_t *)"patel|1980-12-31", 16) != XCHG_OK ||
            xchg_oprf_client_add(c, (const uint8_t *)"x", 1) != XCHG_OK ||
            xchg_oprf_client_run(c, NULL) != XCHG_OK || xchg_oprf_cache_save(k, c, NULL) != XCHG_OK)
            fz_die("oprf cache");
        xchg_oprf_client_free(c);
        xchg_oprf_cache_free(k);
        xchg_seckey_free(agency);
        put_file("keys", "oprf-cache", 5, cp);
    }

    /* a sealed extract of the police fixture, and its records */
    const char *xp = fz_path("seed.xex");
    xchg_seal_opts o = {.input = XCHG_FIXTURES "/seal/police.csv", .output = xp, .overwrite = 1,
                        .period_start = 20301, .period_end = 20665, .now = 1767225600};
    xchg_seal_stats st;
    if (xchg_seal(p, police, sec, &o, &st, NULL) != XCHG_OK)
        fz_die("seal");
    put_file("xex", "police-extract", 0, xp);
    put_file("xex", "police-raw", 1, xp);
    xchg_xex_reader *r = NULL;
    if (xchg_xex_reader_open(xp, matcher, &r, NULL) != XCHG_OK)
        fz_die("xex open");
    const uint8_t *rec;
    size_t len;
    int end = 0, i = 0;
    while (xchg_xex_reader_next(r, &rec, &len, &end, NULL) == XCHG_OK && !end) {
        char name[32];
        snprintf(name, sizeof name, "record-%d", i++);
        put("record", name, NOPREFIX, rec, len);
    }
    xchg_xex_reader_free(r);

    /* a referral packet for the team */
    char hex[65], body[512];
    xchg_hex_encode(hex, xchg_policy_hash(xchg_agreement_policy(p)), 32);
    snprintf(body, sizeof body,
             "{\"agreement\":{\"id\":\"%s\",\"sha256\":\"%s\"},\"recipient\":\"team\","
             "\"family\":\"f-0001\",\"people\":[{\"person\":\"p1\",\"records\":[]}]}",
             pd->id, hex);
    const char *pp = fz_path("seed.xrp");
    if (xchg_packet_seal(p, matcher, xchg_policy_party(xchg_agreement_policy(p), "team"), body, pp,
                         1, NULL) != XCHG_OK)
        fz_die("packet_seal");
    put_file("packet", "team-packet", NOPREFIX, pp);

    /* an evidence pack under the shipped phase 2 agreement: a claim that verifies (as the
     * unit tests' good_body), as a body to be signed (selector 1) and signed (selector 0) */
    {
        xchg_seckey *pm = NULL;
        xchg_agreement *p2 = fz_policy_shipped("phase2", &pm);
        char h2[65], ev[4096];
        xchg_hex_encode(h2, xchg_policy_hash(xchg_agreement_policy(p2)), 32);
#define EVF                                                                                    \
    "{\"person\":0,\"record\":\"R-TEST-0000-0001\",\"agency\":\"%s\",\"extract\":\"00\","      \
    "\"measure\":\"%s\",\"start\":\"%s\",\"end\":\"%s\",\"value\":1.0,\"of\":0.0}"
        char e1[300], e2[300], e3[300], e4[300];
        snprintf(e1, sizeof e1, EVF, "police", "da_report", "2026-02-10", "2026-02-10");
        snprintf(e2, sizeof e2, EVF, "police", "da_report_child", "2026-02-10", "2026-02-10");
        snprintf(e3, sizeof e3, EVF, "dwp", "out_of_work_benefit", "2025-06-01", "2026-03-01");
        snprintf(e4, sizeof e4, EVF, "dwp", "employment", "2026-03-02", "open");
        int n = snprintf(
            ev, sizeof ev,
            "{\"format\":\"exchange-evidence\",\"version\":1,\"agreement\":{\"id\":\"x\","
            "\"version\":1,\"sha256\":\"%s\"},\"family\":\"F-TEST-0000-0001\",\"run\":3,"
            "\"first_run\":1,\"identified\":\"2026-02-28\",\"judged\":\"2026-09-30\","
            "\"claim\":\"all_identified\",\"members\":[{\"person\":\"P-A\",\"age\":40},"
            "{\"person\":\"P-B\",\"age\":12}],\"problems\":[{\"code\":\"domestic_abuse\","
            "\"identified_by\":[\"P2-DA-1\"],\"outcome\":\"met\",\"outcome_criteria\":"
            "[\"P2-DA-O1\"],\"since\":\"2026-09-30\"},{\"code\":\"worklessness\","
            "\"identified_by\":[\"P2-WORK-1\"],\"outcome\":\"met\",\"outcome_criteria\":"
            "[\"P2-WORK-O2\"],\"since\":\"2026-09-30\"}],\"events\":[%s,%s,%s,%s],"
            "\"matcher\":\"m\"}",
            h2, e1, e2, e3, e4);
        if (n <= 0 || (size_t)n >= sizeof ev)
            fz_die("evidence seed");
        put("evidence", "claim-body", 1, ev, (size_t)n);
        char *sealed = NULL;
        size_t sl = 0;
        if (xchg_evidence_seal(pm, ev, (size_t)n, &sealed, &sl) != XCHG_OK)
            fz_die("evidence_seal");
        put("evidence", "claim-signed", 0, sealed, sl);
        free(sealed);
        xchg_seckey_free(pm);
        xchg_agreement_free(p2);
    }

    /* an audit log: genesis, entries, a checkpoint */
    const char *ap = fz_path("seed.log");
    unlink(ap);
    xchg_audit_genesis g;
    memset(&g, 0, sizeof g);
    g.agreement_id = pd->id;
    memcpy(g.agreement_sha256, xchg_policy_hash(xchg_agreement_policy(p)), 32);
    memcpy(g.matcher_key, xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES);
    xchg_audit *a = NULL;
    uint64_t seq;
    if (xchg_audit_open(ap, &g, &a, NULL) != XCHG_OK ||
        xchg_audit_append(a, XCHG_AUDIT_INGEST, NULL, "{\"extract\":\"e1\",\"records\":3}", &seq,
                          NULL) != XCHG_OK ||
        xchg_audit_checkpoint(a, matcher, &seq, NULL) != XCHG_OK ||
        xchg_audit_append(a, XCHG_AUDIT_RUN, xchg_seckey_public(team)->id, "{\"families\":[1,2]}",
                          &seq, NULL) != XCHG_OK)
        fz_die("audit");
    xchg_audit_close(a);
    put_file("audit", "log", NOPREFIX, ap);

    /* normalisers: selector byte + a typical value */
    static const struct {
        unsigned sel;
        const char *v;
    } norm[] = {{0, "  O'Neil-Smith "}, {1, "Zoë"}, {2, "bill"}, {3, "Ashcraft"},
                {4, "03/07/2012"},      {5, "%d/%m/%Y|29/02/2024"}, {6, "943 476 5919"},
                {7, "B801200005001"},   {8, "AB 12 34 56 C"},  {9, "sw1a 0aa"},
                {10, "100023336956"},   {11, "Flat 2, 14a High Street"}};
    for (size_t k = 0; k < sizeof norm / sizeof norm[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "norm-%zu", k);
        put("normalise", name, norm[k].sel, norm[k].v, strlen(norm[k].v));
    }

    unlink(f);
    unlink(sp);
    unlink(xp);
    unlink(pp);
    unlink(ap);
    unlink(fz_path("seed.pub"));
    unlink(fz_path("seed.sec"));
    xchg_secret_free(sec);
    xchg_seckey_free(owner);
    xchg_seckey_free(police);
    xchg_seckey_free(matcher);
    xchg_seckey_free(team);
    return 0;
}
