/* Reading sealed extracts as the matcher: header and record checks against the agreement. */
#include "exchange/extract.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/textsafe.h"
#include "exchange/threshold.h"
#include "exchange/xex.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct xchg_extract_file {
    const xchg_policy *pol;
    xchg_xex_reader *r;
    xchg_extract_info info;
    char *header;
    const char *path;
    uint64_t n;
    int deal_state; /* header's payload.release_key_deal: 0 none, 1 valid hex, -1 malformed */
    uint8_t deal[XCHG_TH_DEAL_BYTES];
};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int parse_header(xchg_extract_file *f, const char *path, xchg_diag *d)
{
    json_error_t je;
    json_t *h = json_loads(f->header, 0, &je);
    int ok = 0;
    if (!h || !json_is_object(h)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "extract header is not JSON: %s", je.text);
        goto done;
    }
    const char *fmt = str(h, "format");
    json_t *ag = json_object_get(h, "agreement"), *per = json_object_get(h, "period");
    const char *agid = str(ag, "id"), *agh = str(ag, "sha256"), *agency = str(h, "agency");
    const char *fp = str(h, "secret_fingerprint"), *xid = str(h, "extract_id");
    const char *ps = str(per, "start"), *pe = str(per, "end");
    json_t *ep = json_object_get(h, "epoch"), *cr = json_object_get(h, "created"),
           *cb = json_object_get(h, "clk_bytes"), *ver = json_object_get(h, "version");
    if (!fmt || strcmp(fmt, "exchange-extract") != 0 || !json_is_integer(ver)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "not an exchange extract header");
        goto done;
    }
    if (json_integer_value(ver) != 1) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "extract header version %lld is not supported",
                      (long long)json_integer_value(ver));
        goto done;
    }
    if (!agid || strlen(agid) > 64 || !agh || !agency || !fp || strlen(fp) != 32 || !xid ||
        !ps || !pe || !json_is_integer(ep) || !json_is_integer(cr) || !json_is_integer(cb) ||
        xchg_hex_decode(f->info.agreement_hash, 32, agh, strlen(agh)) != XCHG_OK ||
        xchg_hex_decode(f->info.extract_id, 16, xid, strlen(xid)) != XCHG_OK ||
        xchg_date_parse(ps, strlen(ps), &f->info.period_start) != XCHG_OK ||
        xchg_date_parse(pe, strlen(pe), &f->info.period_end) != XCHG_OK ||
        json_integer_value(ep) < 1 || json_integer_value(ep) > 0xffffffffLL ||
        json_integer_value(cb) < 0 || json_integer_value(cb) > XCHG_RECORD_MAX_CLK) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0, "extract header is incomplete or malformed");
        goto done;
    }
    json_t *kind = json_object_get(h, "kind");
    if (kind && (!json_is_string(kind) || (strcmp(json_string_value(kind), "full") != 0 &&
                                           strcmp(json_string_value(kind), "incremental") != 0))) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract header field 'kind' must be \"full\" or \"incremental\"");
        goto done;
    }
    f->info.incremental = kind && strcmp(json_string_value(kind), "incremental") == 0;
    memcpy(f->info.agreement_id, agid, strlen(agid) + 1);
    memcpy(f->info.secret_fingerprint, fp, 33);
    f->info.epoch = (uint32_t)json_integer_value(ep);
    f->info.created = (int64_t)json_integer_value(cr);
    f->info.clk_bytes = (size_t)json_integer_value(cb);
    f->info.agency = xchg_policy_party(f->pol, agency);
    /* the release-key deal the agency says it wrapped every payload under (seal.c) */
    json_t *dj = json_object_get(json_object_get(h, "payload"), "release_key_deal");
    if (dj) {
        const char *dh = json_string_value(dj);
        f->deal_state = dh && strlen(dh) == 2 * XCHG_TH_DEAL_BYTES &&
                                xchg_hex_decode(f->deal, XCHG_TH_DEAL_BYTES, dh, strlen(dh)) ==
                                    XCHG_OK
                            ? 1
                            : -1;
    }
    ok = 1;
done:
    json_decref(h);
    return ok;
}

xchg_err xchg_extract_open(const xchg_agreement *agr, const xchg_seckey *matcher, const char *path,
                           uint32_t expect_epoch, xchg_extract_file **out, xchg_diag *d)
{
    const xchg_policy *pol = xchg_agreement_policy(agr);
    if (!pol || !matcher || !path || !out)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(pol);
    xchg_extract_file *f = calloc(1, sizeof *f);
    if (!f)
        return XCHG_ERR_NOMEM;
    f->pol = pol;
    f->path = path;
    xchg_err rc = xchg_xex_reader_open(path, matcher, &f->r, d);
    if (rc != XCHG_OK)
        goto fail;
    size_t hl;
    const uint8_t *h = xchg_xex_reader_header(f->r, &hl);
    f->header = malloc(hl + 1);
    if (!f->header) {
        rc = XCHG_ERR_NOMEM;
        goto fail;
    }
    memcpy(f->header, h, hl);
    f->header[hl] = '\0';
    f->info.header_json = f->header;
    rc = XCHG_ERR_FORMAT;
    if (memchr(h, '\0', hl) || !parse_header(f, path, d))
        goto fail;
    rc = XCHG_ERR_DENIED;
    if (strcmp(f->info.agreement_id, p->id) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract is for agreement '%s', not '%s'", f->info.agreement_id, p->id);
        goto fail;
    }
    char dhex[2 * XCHG_TH_DEAL_BYTES + 1], ahex[2 * XCHG_TH_DEAL_BYTES + 1];
    if (f->deal_state == 1)
        xchg_hex_encode(dhex, f->deal, XCHG_TH_DEAL_BYTES);
    if (p->release_key.present)
        xchg_hex_encode(ahex, p->release_key.deal, XCHG_TH_DEAL_BYTES);
    if (!xchg_equal(f->info.agreement_hash, xchg_policy_hash(pol), 32)) {
        /* typically an extract sealed before the IG lead dealt (or re-dealt) the release
           key: say so, as the next step differs (seal again under the dealt agreement) */
        if (p->release_key.present &&
            (f->deal_state != 1 || !xchg_equal(f->deal, p->release_key.deal, XCHG_TH_DEAL_BYTES)))
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "extract was sealed under a different version of agreement '%s' %s%s%s, "
                          "not under the release key of the agreement in force (deal %s): the "
                          "agency must seal it again under the dealt agreement",
                          p->id, f->deal_state == 1 ? "(release-key deal " : "(without a release key",
                          f->deal_state == 1 ? dhex : "", f->deal_state == 1 ? ")" : ")", ahex);
        else
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "extract was sealed under a different version of agreement '%s' (its "
                          "hash differs from the agreement in force)",
                          p->id);
        goto fail;
    }
    /* required but not dealt: nothing can have been wrapped, so nothing sealed under this
       version keeps the agreement's promise (xchg seal refuses it; an old tool would not) */
    if (p->release_key.pending) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "agreement '%s' requires a release key that has not been dealt: no extract "
                      "is accepted under it until the IG lead runs 'xchg release-key deal' and "
                      "the agreement is signed again",
                      p->id);
        goto fail;
    }
    /* Under a release key every payload must be wrapped under this deal's public key
       (docs/release.md "The release key"): an extract whose header does not say so was
       sealed by an old or altered tool, and its records would be readable by the matcher
       and one recipient. Refused before anything is stored. */
    if (p->release_key.present && (f->deal_state != 1 ||
                                   !xchg_equal(f->deal, p->release_key.deal, XCHG_TH_DEAL_BYTES))) {
        if (f->deal_state == 1)
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "extract's records are wrapped under release-key deal %s, but agreement "
                          "'%s' has deal %s: refusing to store records the operators' shares "
                          "cannot release; the agency must seal again",
                          dhex, p->id, ahex);
        else
            xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                          "extract's records are not wrapped under agreement '%s''s release key "
                          "(deal %s)%s: refusing to store records the matcher and one recipient "
                          "could read without the operators' approval; the agency must seal "
                          "again with a current 'xchg seal'",
                          p->id, ahex,
                          f->deal_state == -1 ? "; its header's 'release_key_deal' is malformed"
                                              : "");
        goto fail;
    }
    if (!p->release_key.present && f->deal_state != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract says its records are wrapped under a release key, but agreement "
                      "'%s' has none",
                      p->id);
        goto fail;
    }
    if (f->info.agency == XCHG_NONE || p->parties[f->info.agency].role != XCHG_ROLE_AGENCY ||
        !xchg_policy_extract(pol, f->info.agency)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract names a sender that is not an agency of agreement '%s'", p->id);
        goto fail;
    }
    if (expect_epoch && f->info.epoch != expect_epoch) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract was sealed with linkage-secret epoch %u, expected epoch %u",
                      f->info.epoch, expect_epoch);
        goto fail;
    }
    if (f->info.clk_bytes && (!p->fuzzy.clk_schema_json)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, path, 0, 0,
                      "extract carries Bloom-filter encodings the agreement does not define");
        goto fail;
    }
    /* the signature must be the agency's own, as the agreement pins its key */
    rc = xchg_xex_reader_expect_signer(f->r, &p->parties[f->info.agency].key, d);
    if (rc != XCHG_OK)
        goto fail;
    *out = f;
    return XCHG_OK;
fail:
    xchg_extract_close(f);
    return rc;
}

const xchg_extract_info *xchg_extract_file_info(const xchg_extract_file *f)
{
    return f ? &f->info : NULL;
}

/* A measure's events may come only from the agencies whose extracts define it. */
static int may_measure(const xchg_policy_data *p, size_t measure, size_t agency)
{
    for (size_t i = 0; i < p->measures[measure].nagencies; i++)
        if (p->measures[measure].agencies[i] == agency)
            return 1;
    return 0;
}

static int may_assert(const xchg_policy_data *p, size_t problem, size_t agency)
{
    for (size_t i = 0; i < p->problems[problem].nasserted; i++)
        if (p->problems[problem].asserted_by[i] == agency)
            return 1;
    return 0;
}

xchg_err xchg_extract_next(xchg_extract_file *f, xchg_record *r, int *end, xchg_diag *d)
{
    const xchg_policy_data *p = xchg_policy_get(f->pol);
    const uint8_t *rec;
    size_t len;
    xchg_err rc = xchg_xex_reader_next(f->r, &rec, &len, end, d);
    if (rc != XCHG_OK || *end)
        return rc;
    f->n++;
    xchg_diag *tmp = xchg_diag_new();
    rc = xchg_record_decode(rec, len, r, tmp);
    int decoded = rc == XCHG_OK;
    const char *why = NULL;
    char buf[160];
    if (rc != XCHG_OK) {
        why = xchg_diag_count(tmp) ? xchg_diag_message(tmp, 0) : "malformed";
    } else {
        /* index nmatch_keys: the agency's own person identifier, if its extract names one */
        const xchg_extract *x = xchg_policy_extract(f->pol, f->info.agency);
        size_t nmk = p->nmatch_keys + (x && x->person_id != XCHG_NONE);
        /* the reference reaches operators' screens and packets: same rule as at seal */
        if (xchg_text_check(r->ref, r->ref_len, NULL, NULL) != 0)
            why = "its record reference is not valid UTF-8 text or holds a control character";
        for (size_t i = 0; i < r->nmatch && !why; i++)
            if (r->match[i].index >= nmk)
                why = "a match token names an unknown key";
        for (size_t i = 0; i < r->nblock && !why; i++)
            if (r->block[i].index >= p->fuzzy.nblocking)
                why = "a blocking token names an unknown key";
        for (size_t i = 0; i < r->nhouse && !why; i++)
            if (r->house[i].index >=
                p->nhousehold_keys + p->nhousehold_relations + p->nhousehold_fallback)
                why = "a household token names an unknown key";
        if (!why && r->clk_len != f->info.clk_bytes)
            why = "its Bloom-filter encoding has the wrong length";
        /* under a release key: the outer wrap (version byte, a valid R, the tag) around
           at least the inner AEAD's overhead; the bytes under it cannot be checked here */
        uint8_t R[XCHG_TH_POINT_BYTES];
        if (!why && p->release_key.present &&
            (!r->payload || r->payload_len < XCHG_TH_WRAP_OVERHEAD + XCHG_PAYLOAD_OVERHEAD ||
             xchg_threshold_wrapped_R(r->payload, r->payload_len, R) != XCHG_OK))
            why = "its detail is not wrapped under the agreement's release key";
        for (size_t i = 0; i < r->nind && !why; i++) {
            if (r->ind[i].is_measure) {
                if (r->ind[i].measure >= p->nmeasures) {
                    why = "an indicator names an unknown measure";
                } else if (!may_measure(p, r->ind[i].measure, f->info.agency)) {
                    snprintf(buf, sizeof buf, "it sends measure '%s', which this agency's "
                             "extract does not define", p->measures[r->ind[i].measure].name);
                    why = buf;
                }
            } else if (r->ind[i].problem >= p->nproblems) {
                why = "an indicator names an unknown problem";
            } else if (!may_assert(p, r->ind[i].problem, f->info.agency)) {
                snprintf(buf, sizeof buf, "it asserts problem '%s', which this agency may not",
                         p->problems[r->ind[i].problem].code);
                why = buf;
            }
        }
        if (why)
            rc = XCHG_ERR_FORMAT;
    }
    if (why) {
        /* name the record by its reference when it decoded and is printable text */
        if (!decoded || r->ref_len == 0 || r->ref_len > 200 ||
            xchg_text_check(r->ref, r->ref_len, NULL, NULL) != 0)
            xchg_diag_add(d, XCHG_SEV_ERROR, f->path, 0, 0, "record %llu is not valid: %s",
                          (unsigned long long)f->n, why);
        else
            xchg_diag_add(d, XCHG_SEV_ERROR, f->path, 0, 0, "record %llu (%.*s) is not valid: %s",
                          (unsigned long long)f->n, (int)r->ref_len, r->ref, why);
    }
    xchg_diag_free(tmp);
    return rc;
}

xchg_err xchg_extract_finish(xchg_extract_file *f, uint64_t *count, xchg_diag *d)
{
    return xchg_xex_reader_finish(f->r, count, d);
}

void xchg_extract_close(xchg_extract_file *f)
{
    if (!f)
        return;
    xchg_xex_reader_free(f->r);
    free(f->header);
    free(f);
}
