/*
 * Claims (docs/programme.md "Claims"): the families of a run the agreement's claim rule
 * holds for, each with a signed evidence pack (evidence.h) built from the store: the
 * family's members (pseudonyms, ages), and the measure events its baseline problems'
 * criteria read, with each event's pseudonymous record and the SHA-256 of the sealed
 * extract it came from. The claim is re-evaluated on exactly the events written, so a
 * pack verifies offline or is not written.
 */
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/evidence.h"
#include "exchange/fileio.h"
#include "internal.h"
#include "matcher_internal.h"
#include "programme.h"
#include "programme_track.h"
#include "store_internal.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The family's evidence as the pack will carry it. */
struct pack {
    xchg_matcher *m;
    const xchg_policy_data *pd;
    const uint8_t *used; /* per measure: read by a baseline problem's criteria */
    int32_t from, to;
    char persons[256][XCHG_PSEUDONYM_MAX + 1];
    uint8_t ages[256];
    size_t np;
    xchg_prog_ev *ev;
    size_t nev, cap;
    json_t *events;
    int nomem;
};

static int on_record(void *ctx, const xchg__evidence_record *r)
{
    struct pack *k = ctx;
    size_t who = 0;
    while (who < k->np && strcmp(k->persons[who], r->person) != 0)
        who++;
    if (who == k->np) {
        if (k->np == 256)
            return 0;
        snprintf(k->persons[k->np], sizeof k->persons[0], "%s", r->person);
        k->ages[k->np++] = XCHG_AGE_UNKNOWN;
    }
    if (r->age != XCHG_AGE_UNKNOWN && (k->ages[who] == XCHG_AGE_UNKNOWN || r->age > k->ages[who]))
        k->ages[who] = r->age;
    /* the record's pseudonym: keyed like the persons', never its reference */
    uint8_t mac[32];
    char msg[XCHG_PARTY_ID_MAX + XCHG_RECORD_MAX_REF + 4];
    int ml = snprintf(msg, sizeof msg, "R%s%c%s", r->agency, 0, r->ref);
    xchg_hmac_sha256(xchg_store_pseudonym_key(k->m->s), 32, msg, (size_t)ml, mac);
    char rp[XCHG_PSEUDONYM_MAX + 1];
    xchg__pseudonym_format(mac, 'R', rp);
    for (size_t i = 0; i < r->nev; i++) {
        const xchg__evidence_event *e = &r->ev[i];
        size_t m = 0;
        while (m < k->pd->nmeasures && strcmp(k->pd->measures[m].name, e->measure) != 0)
            m++;
        if (m == k->pd->nmeasures || !k->used[m] || e->end < k->from || e->start > k->to)
            continue;
        if (k->nev == k->cap) {
            size_t nc = k->cap ? k->cap * 2 : 64;
            xchg_prog_ev *nv = realloc(k->ev, nc * sizeof *nv);
            if (!nv) {
                k->nomem = 1;
                return 1;
            }
            k->ev = nv;
            k->cap = nc;
        }
        k->ev[k->nev++] = (xchg_prog_ev){(uint32_t)who, (uint32_t)k->nev, (uint8_t)m, e->start,
                                         e->end,        e->value,         e->of};
        char sd[11], ed[11];
        xchg_date_format(e->start, sd);
        xchg_date_format(e->end, ed);
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f}", "person", (json_int_t)who,
                      "record", rp, "agency", r->agency, "extract", r->extract_sha256, "measure",
                      e->measure, "start", sd, "end", ed, "value", e->value, "of", e->of);
        if (!o || json_array_append_new(k->events, o)) {
            k->nomem = 1;
            return 1;
        }
    }
    return 0;
}

static void mark_used(const xchg_criterion *c, uint8_t *used)
{
    for (size_t i = 0; i < c->nmeasures; i++)
        used[c->measures[i]] = 1;
    for (size_t i = 0; i < c->nbaseline_with; i++)
        used[c->baseline_with[i]] = 1;
    for (size_t i = 0; i < c->nbaseline_without; i++)
        used[c->baseline_without[i]] = 1;
    for (size_t i = 0; i < c->nmoved_from; i++)
        used[c->moved_from[i]] = 1;
    for (size_t i = 0; i < c->nsub; i++)
        mark_used(&c->sub[i], used);
}

static json_t *id_list(const char *ids)
{
    json_t *a = json_array();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ids ? ids : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

/* One family's pack: built, re-evaluated, sealed and written. */
static xchg_err one_pack(xchg_matcher *m, const xchg_seckey *key, int64_t run, const char *dir,
                         const xchg__prog_state *st, const xchg_store_outcome *rows, size_t nrows,
                         xchg_matcher_claim *c, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    int32_t t = rows[0].judged;
    uint8_t used[XCHG_MAX_MEASURES] = {0}, base[256] = {0};
    int32_t from = t;
    for (size_t i = 0; i < nrows; i++) {
        size_t p = 0;
        while (p < pd->nproblems && strcmp(pd->problems[p].code, rows[i].problem) != 0)
            p++;
        if (p == pd->nproblems)
            continue;
        base[p] = 1;
        for (size_t k = 0; k < pd->problems[p].nidentify; k++)
            mark_used(&pd->problems[p].identify[k], used);
        for (size_t k = 0; k < pd->problems[p].noutcome; k++)
            mark_used(&pd->problems[p].outcome[k], used);
        int32_t h = xchg__prog_horizon(pd, p, st->identified, t);
        if (h < from)
            from = h;
    }
    struct pack k;
    memset(&k, 0, sizeof k);
    k.m = m;
    k.pd = pd;
    k.used = used;
    k.from = from;
    k.to = t;
    k.events = json_array();
    xchg_err e = xchg__store_family_evidence(m->s, run, st->pseudonym, on_record, &k, d);
    if (e == XCHG_OK && (k.nomem || !k.events))
        e = XCHG_ERR_NOMEM;
    json_t *body = NULL;
    char *sealed = NULL;
    size_t slen = 0;
    if (e != XCHG_OK)
        goto done;
    /* the claim, re-evaluated on exactly these events */
    xchg_prog_family f = {k.np, k.ages, k.ev, k.nev};
    uint8_t met[256] = {0};
    json_t *probs = json_array(), *members = json_array();
    for (size_t i = 0; i < nrows; i++) {
        size_t p = 0;
        while (p < pd->nproblems && strcmp(pd->problems[p].code, rows[i].problem) != 0)
            p++;
        if (p == pd->nproblems)
            continue;
        double b, l;
        uint32_t bits = 0, ib = 0;
        xchg_outcome_status s = xchg__prog_outcome(pd, &f, p, st->identified, t, &b, &l, &bits);
        met[p] = s == XCHG_OUTCOME_MET;
        xchg__prog_problem(pd, &f, p, st->identified, &ib);
        /* the baseline's stated criteria, from the state */
        char crit[256];
        xchg__baseline_criteria(st->baseline, pd->problems[p].code, crit, sizeof crit);
        char since[11] = "";
        if (rows[i].since != XCHG_DATE_NONE)
            xchg_date_format(rows[i].since, since);
        json_array_append_new(
            probs, json_pack("{s:s, s:o, s:s, s:o, s:s}", "code", pd->problems[p].code,
                             "identified_by", id_list(crit), "outcome", xchg_outcome_status_name(s),
                             "outcome_criteria", id_list(rows[i].criteria), "since", since));
    }
    for (size_t i = 0; i < k.np; i++)
        json_array_append_new(
            members, k.ages[i] == XCHG_AGE_UNKNOWN
                         ? json_pack("{s:s, s:n}", "person", k.persons[i], "age")
                         : json_pack("{s:s, s:i}", "person", k.persons[i], "age", (int)k.ages[i]));
    if (!xchg__prog_claimable(pd, base, met)) {
        /* the store said claimable, the events do not: never sign what does not verify */
        xchg_diag_add(d, XCHG_SEV_WARNING, xchg_matcher_audit_path(m), 0, 0,
                      "family %s: the claim does not hold on its stored events; no pack written",
                      st->pseudonym);
        json_decref(probs);
        json_decref(members);
        e = XCHG_ERR_NOT_FOUND;
        goto done;
    }
    char hex[65], idd[11], jd[11], kid[XCHG_KEYID_HEXLEN + 1];
    xchg_hex_encode(hex, xchg_policy_hash(m->p), 32);
    xchg_date_format(st->identified, idd);
    xchg_date_format(t, jd);
    xchg_keyid_hex(xchg_seckey_public(key)->id, kid);
    body = json_pack("{s:s, s:i, s:{s:s, s:I, s:s}, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:o, "
                     "s:s}",
                     "format", "exchange-evidence", "version", XCHG_EVIDENCE_VERSION, "agreement",
                     "id", pd->id, "version", (json_int_t)pd->version, "sha256", hex, "family",
                     st->pseudonym, "run", (json_int_t)run, "first_run", (json_int_t)st->first_run,
                     "identified", idd, "judged", jd, "claim",
                     pd->claim_all_identified ? "all_identified" : "any_of", "members", members,
                     "problems", probs, "events", k.events, "matcher", kid);
    k.events = NULL;
    char *txt =
        body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    if (!txt) {
        e = XCHG_ERR_NOMEM;
        goto done;
    }
    e = xchg_evidence_seal(key, txt, strlen(txt), &sealed, &slen);
    free(txt);
    if (e != XCHG_OK)
        goto done;
    uint8_t ph[32];
    xchg_sha256(sealed, slen, ph);
    xchg_hex_encode(c->pack_sha256, ph, 32);
    snprintf(c->family, sizeof c->family, "%s", st->pseudonym);
    c->identified = st->identified;
    c->judged = t;
    c->nproblems = nrows;
    c->nevents = k.nev;
    c->path[0] = '\0';
    if (dir) {
        snprintf(c->path, sizeof c->path, "%s/%s.xev", dir, st->pseudonym);
        e = xchg_file_write_atomic(c->path, sealed, slen, 0600, XCHG_WRITE_OVERWRITE, d);
    }
done:
    json_decref(body);
    json_decref(k.events);
    free(k.ev);
    free(sealed);
    return e;
}

xchg_err xchg_matcher_claims(xchg_matcher *m, const xchg_seckey *matcher, int64_t run,
                             const char *dir, int (*fn)(void *ctx, const xchg_matcher_claim *c),
                             void *ctx, size_t *nclaims, xchg_diag *d)
{
    if (!m || !matcher || !fn)
        return XCHG_ERR_ARG;
    const xchg_policy_data *pd = xchg_policy_get(m->p);
    size_t mi = xchg_policy_matcher(m->p);
    if (mi == XCHG_NONE ||
        memcmp(pd->parties[mi].key.id, xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES) != 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "evidence packs are signed with the matcher's key; this is not it");
        return XCHG_ERR_DENIED;
    }
    if (!pd->claim_all_identified && !pd->nclaim_groups) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the agreement has no 'claim' rule: nothing can be claimed under it");
        return XCHG_ERR_ARG;
    }
    if (run <= 0)
        run = xchg__store_latest_run(m->s);
    xchg__outcome_rows rows = {0};
    xchg__prog_states st = {0};
    xchg_err e = xchg__outcome_rows_load(m->s, run, &rows, d);
    if (e == XCHG_OK)
        e = xchg__prog_states_load(m->s, &st, d);
    if (e != XCHG_OK)
        goto done;
    size_t n = 0;
    crypto_hash_sha256_state lh;
    crypto_hash_sha256_init(&lh);
    for (size_t i = 0; i < rows.n && e == XCHG_OK;) {
        size_t j = i;
        while (j < rows.n && strcmp(rows.v[j].family, rows.v[i].family) == 0)
            j++;
        /* the claim rule on the stored outcomes */
        uint8_t base[256] = {0}, met[256] = {0};
        for (size_t k = i; k < j; k++)
            for (size_t p = 0; p < pd->nproblems; p++)
                if (strcmp(pd->problems[p].code, rows.v[k].problem) == 0) {
                    base[p] = 1;
                    met[p] = rows.v[k].status == XCHG_OUTCOME_MET;
                }
        const xchg__prog_state *s = xchg__prog_state_find(&st, rows.v[i].family);
        if (s && xchg__prog_claimable(pd, base, met)) {
            xchg_matcher_claim c;
            memset(&c, 0, sizeof c);
            xchg_err pe = one_pack(m, matcher, run, dir, s, rows.v + i, j - i, &c, d);
            if (pe == XCHG_OK) {
                n++;
                crypto_hash_sha256_update(&lh, (const uint8_t *)c.pack_sha256, 64);
                if (fn(ctx, &c))
                    break;
            } else if (pe != XCHG_ERR_NOT_FOUND) {
                e = pe;
            }
        }
        i = j;
    }
    if (nclaims)
        *nclaims = n;
    if (e == XCHG_OK && dir) {
        uint8_t dg[32];
        char dh[65];
        crypto_hash_sha256_final(&lh, dg);
        xchg_hex_encode(dh, dg, 32);
        e = xchg__matcher_audit(m, XCHG_AUDIT_CLAIMS, xchg_seckey_public(matcher)->id,
                                json_pack("{s:I, s:I, s:s}", "run", (json_int_t)run, "packs",
                                          (json_int_t)n, "packs_sha256", dh),
                                NULL, d);
    }
done:
    free(rows.v);
    free(st.v);
    return e;
}
