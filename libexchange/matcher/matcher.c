/* The matcher service (include/exchange/matcher.h): the store and its audit log as one. */
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "exchange/link.h"
#include "matcher_internal.h"
#include "programme_track.h"
#include "report.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *xchg__audit_str(const char *s)
{
    size_t n = strnlen(s ? s : "", XCHG_AUDIT_STRING_MAX);
    /* never cut inside a UTF-8 sequence */
    while (n > 0 && s[n] && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return json_stringn(s ? s : "", n);
}

static char *audit_path_of(const char *db)
{
    size_t n = strlen(db) + 7;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s.audit", db);
    return p;
}

/* Open the log, making it (genesis) when missing. */
static xchg_err audit_open(xchg_matcher *m, xchg_audit **a, xchg_diag *d)
{
    xchg_diag *quiet = xchg_diag_new();
    xchg_err e = xchg_audit_open(m->audit_path, NULL, a, quiet);
    if (e == XCHG_ERR_NOT_FOUND) {
        const xchg_policy_data *pd = xchg_policy_get(m->p);
        xchg_audit_genesis g;
        memset(&g, 0, sizeof g);
        g.agreement_id = pd->id;
        memcpy(g.agreement_sha256, xchg_policy_hash(m->p), XCHG_SHA256_BYTES);
        size_t mi = xchg_policy_matcher(m->p);
        if (mi != XCHG_NONE)
            memcpy(g.matcher_key, pd->parties[mi].key.id, XCHG_KEYID_BYTES);
        e = xchg_audit_open(m->audit_path, &g, a, d);
    } else if (e != XCHG_OK) {
        e = xchg_audit_open(m->audit_path, NULL, a, d); /* again, for the message */
    }
    xchg_diag_free(quiet);
    return e;
}

xchg_err xchg__matcher_audit(xchg_matcher *m, const char *type, const uint8_t *actor, json_t *data,
                             const xchg_seckey *sign, xchg_diag *d)
{
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(data);
    if (!text)
        return XCHG_ERR_NOMEM;
    xchg_audit *a = NULL;
    xchg_err e = audit_open(m, &a, d);
    if (e == XCHG_OK)
        e = xchg_audit_append(a, type, actor, text, NULL, d);
    if (e == XCHG_OK && sign)
        e = xchg_audit_checkpoint(a, sign, NULL, d);
    if (e != XCHG_OK)
        xchg_diag_add(d, XCHG_SEV_ERROR, m->audit_path, 0, 0,
                      "the %s cannot be recorded in the audit log", type);
    xchg_audit_close(a);
    free(text);
    return e;
}

static xchg_err matcher_new(const char *db, const xchg_agreement *agr, xchg_matcher **out)
{
    xchg_matcher *m = calloc(1, sizeof *m);
    if (!m || !(m->db = strdup(db)) || !(m->audit_path = audit_path_of(db))) {
        xchg_matcher_close(m);
        return XCHG_ERR_NOMEM;
    }
    m->agr = agr;
    m->p = xchg_agreement_policy(agr);
    *out = m;
    return XCHG_OK;
}

void xchg_matcher_close(xchg_matcher *m)
{
    if (!m)
        return;
    xchg_store_free(m->s);
    free(m->db);
    free(m->audit_path);
    free(m);
}

xchg_store *xchg_matcher_store(xchg_matcher *m)
{
    return m ? m->s : NULL;
}
const char *xchg_matcher_audit_path(const xchg_matcher *m)
{
    return m ? m->audit_path : NULL;
}

xchg_err xchg_matcher_create(const char *db, const xchg_store_key *k, const xchg_agreement *agr,
                             xchg_matcher **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!db || !k || !p || !out)
        return XCHG_ERR_ARG;
    xchg_matcher *m = NULL;
    xchg_err e = matcher_new(db, agr, &m);
    if (e != XCHG_OK)
        return e;
    FILE *probe = fopen(m->audit_path, "r");
    if (probe) {
        fclose(probe);
        xchg_diag_add(d, XCHG_SEV_ERROR, m->audit_path, 0, 0,
                      "already exists; refusing to start a second log for a new store");
        xchg_matcher_close(m);
        return XCHG_ERR_EXISTS;
    }
    if ((e = xchg_store_create(db, k, agr, &m->s, d)) != XCHG_OK) {
        xchg_matcher_close(m);
        return e;
    }
    e = xchg__matcher_audit(
        m, XCHG_AUDIT_KEY, NULL,
        json_pack("{s:s, s:i}", "event", "store created", "schema", XCHG_STORE_SCHEMA_VERSION),
        NULL, d);
    if (e != XCHG_OK) {
        /* a failed create leaves nothing behind */
        char buf[4096];
        xchg_store_free(m->s);
        m->s = NULL;
        remove(db);
        snprintf(buf, sizeof buf, "%s-wal", db);
        remove(buf);
        snprintf(buf, sizeof buf, "%s-shm", db);
        remove(buf);
        remove(m->audit_path);
        xchg_matcher_close(m);
        return e;
    }
    *out = m;
    return XCHG_OK;
}

/* Roll forward: decisions and releases the log records but the store lacks. */
struct fwd {
    xchg_matcher *m;
    xchg_diag *d;
    xchg_err e;
    int64_t from;
    int64_t last;
};

static int fwd_visit(const xchg_audit_entry *e, void *ctx)
{
    struct fwd *f = ctx;
    f->last = (int64_t)e->seq;
    if ((int64_t)e->seq <= f->from)
        return 0;
    if (strcmp(e->type, XCHG_AUDIT_APPROVE) == 0 || strcmp(e->type, XCHG_AUDIT_REJECT) == 0 ||
        strcmp(e->type, XCHG_AUDIT_RELEASE) == 0)
        f->e = xchg__release_roll_forward(f->m, e, f->d);
    else if (strcmp(e->type, XCHG_AUDIT_REVIEW) == 0)
        f->e = xchg__review_roll_forward(f->m, e, f->d);
    return f->e != XCHG_OK;
}

static xchg_err roll_forward(xchg_matcher *m, xchg_diag *d)
{
    FILE *probe = fopen(m->audit_path, "r");
    if (!probe)
        return XCHG_OK; /* no log yet: nothing to roll forward */
    fclose(probe);
    /* Under the store's write lock: another process that appended its entry and has not
       committed yet finishes first, so its row is seen and not inserted a second time. */
    xchg_err e = xchg__store_begin(m->s, d);
    if (e != XCHG_OK)
        return e;
    struct fwd f = {m, d, XCHG_OK, -1, -1};
    int64_t from = -1;
    if (xchg__store_meta_get_int(m->s, "audit_applied_seq", &from) == XCHG_OK)
        f.from = from;
    e = xchg_audit_foreach(m->audit_path, fwd_visit, &f, d);
    if (e == XCHG_ERR_TRUNCATED) {
        /* a crash mid-append: the torn entry never counted; appends refuse until an IG
           lead repairs the log, and say so there */
        xchg_diag_clear(d);
        e = XCHG_OK;
    }
    if (e == XCHG_OK)
        e = f.e;
    if (e == XCHG_OK && f.last > f.from)
        e = xchg__store_meta_set_int(m->s, "audit_applied_seq", f.last, d);
    if (e == XCHG_OK)
        return xchg__store_commit(m->s, d);
    xchg__store_rollback(m->s);
    return e;
}

xchg_err xchg_matcher_open(const char *db, const xchg_store_key *k, const xchg_agreement *agr,
                           unsigned flags, xchg_matcher **out, xchg_diag *d)
{
    const xchg_policy *p = xchg_agreement_policy(agr);
    if (!db || !k || !p || !out)
        return XCHG_ERR_ARG;
    xchg_matcher *m = NULL;
    xchg_err e = matcher_new(db, agr, &m);
    if (e != XCHG_OK)
        return e;
    if ((e = xchg_store_open(db, k, agr, flags, &m->s, d)) != XCHG_OK ||
        (e = roll_forward(m, d)) != XCHG_OK) {
        xchg_matcher_close(m);
        return e;
    }
    *out = m;
    return XCHG_OK;
}

/* ---- ingest ------------------------------------------------------------------------ */

struct ingest_ctx {
    xchg_matcher *m;
    const xchg_pubkey *submitter;
    const char *via;
    int audited;
};

static json_t *ingest_data(const xchg_ingest_stats *st, const char *via, xchg_err e)
{
    json_t *o;
    if (e != XCHG_OK)
        o = json_pack("{s:s, s:s}", "outcome", "rejected", "error", xchg_strerror(e));
    else
        o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "outcome",
                      st->already      ? "already ingested"
                      : st->superseded ? "stored superseded"
                                       : "ingested",
                      "extract", st->extract_id, "agency", st->agency, "records",
                      (json_int_t)st->records, "supersedes", st->supersedes);
    if (o && via)
        json_object_set_new(o, "via", xchg__audit_str(via));
    return o;
}

static xchg_err ingest_hook(void *ctx, const xchg_ingest_stats *st, xchg_diag *d)
{
    struct ingest_ctx *c = ctx;
    c->audited = 1;
    return xchg__matcher_audit(c->m, XCHG_AUDIT_INGEST, c->submitter ? c->submitter->id : NULL,
                               ingest_data(st, c->via, XCHG_OK), NULL, d);
}

xchg_err xchg_matcher_ingest(xchg_matcher *m, const xchg_seckey *matcher, const char *path,
                             const xchg_pubkey *submitter, const char *via, int64_t now,
                             xchg_ingest_stats *st, xchg_diag *d)
{
    if (!m || !matcher || !path)
        return XCHG_ERR_ARG;
    xchg_ingest_stats local;
    if (!st)
        st = &local;
    xchg_err e = xchg_matcher_retention(m, now, 0, NULL, d);
    if (e != XCHG_OK)
        return e;
    struct ingest_ctx c = {m, submitter ? submitter : xchg_seckey_public(matcher), via, 0};
    e = xchg__store_ingest(m->s, m->agr, matcher, path, st, ingest_hook, &c, d);
    if (!c.audited) {
        /* rejected or already stored: nothing changed, the outcome is still recorded */
        xchg_err ae = xchg__matcher_audit(m, XCHG_AUDIT_INGEST, c.submitter->id,
                                          ingest_data(st, via, e), NULL, d);
        if (e == XCHG_OK)
            e = ae;
    }
    return e;
}

xchg_err xchg_matcher_checkpoint(xchg_matcher *m, const xchg_seckey *matcher, const char *type,
                                 const char *event, xchg_diag *d)
{
    if (!m || !matcher || !type || !event)
        return XCHG_ERR_ARG;
    size_t mi = xchg_policy_matcher(m->p);
    if (mi == XCHG_NONE || !xchg_equal(xchg_policy_get(m->p)->parties[mi].key.id,
                                       xchg_seckey_public(matcher)->id, XCHG_KEYID_BYTES)) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "this key is not the matcher's key the agreement pins; the audit log's "
                      "checkpoints are signed by the matcher only");
        return XCHG_ERR_DENIED;
    }
    return xchg__matcher_audit(m, type, xchg_seckey_public(matcher)->id,
                               json_pack("{s:s}", "event", event), matcher, d);
}

/* ---- run --------------------------------------------------------------------------- */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

xchg_err xchg_matcher_run(xchg_matcher *m, int32_t run_date, unsigned threads, int64_t now,
                          xchg_matcher_run_stats *st, xchg_diag *d)
{
    if (!m)
        return XCHG_ERR_ARG;
    xchg_matcher_run_stats local;
    if (!st) {
        memset(&local, 0, sizeof local);
        st = &local;
    }
    xchg_purge_stats *keep = st->purged;
    memset(st, 0, sizeof *st);
    st->purged = keep;
    st->run_date = run_date;
    xchg_linkset *ls = NULL;
    xchg_link_result *r = NULL;
    xchg_err e = xchg_matcher_retention(m, now, 0, st->purged, d);
    double t0 = mono();
    if (e == XCHG_OK)
        e = xchg_linkset_new(m->agr, &ls);
    if (e == XCHG_OK)
        e = xchg_store_load(m->s, m->agr, ls, &st->records, d);
    double t1 = mono();
    /* operators' review decisions, verified, on the current versions of their records */
    xchg_link_decision *dec = NULL;
    size_t ndec = 0;
    if (e == XCHG_OK)
        e = xchg__review_load(m, &dec, &ndec, &st->reviews_ignored, d);
    st->reviews_applied = ndec;
    xchg_link_params lp = {.run_date = run_date,
                           .pseudonym_key = xchg_store_pseudonym_key(m->s),
                           .threads = threads,
                           .decisions = dec,
                           .ndecisions = ndec};
    if (e == XCHG_OK)
        e = xchg_link_run_ex(ls, &lp, &r, d);
    free(dec);
    double t2 = mono();
    if (e != XCHG_OK)
        goto cleanup;
    st->persons = r->npersons;
    st->households = r->nhouseholds;
    for (size_t i = 0; i < r->nhouseholds; i++)
        st->eligible += r->families[i].eligible != 0;
    st->review = r->nreview;
    st->conflicts = r->nconflicts;
    st->exact_unions = r->exact_unions;
    st->fuzzy_links = r->fuzzy_links;
    st->candidate_pairs = r->candidate_pairs;
    st->comparisons = r->comparisons;
    st->seconds_exact = r->seconds_exact;
    st->seconds_fuzzy = r->seconds_fuzzy;
    st->seconds_households = r->seconds_households;
    /* the people and families tracked keep their names (programme_track.c) */
    xchg__names_stats names;
    e = xchg__programme_names(m->s, m->p, ls, r, &names, d);
    if (e != XCHG_OK)
        goto cleanup;
    xchg_run_params rp = {.run_date = run_date, .threads = threads, .started = now};
    e = xchg_store_save_run(m->s, m->agr, ls, r, &rp, &st->run, d);
    if (e != XCHG_OK)
        goto cleanup;
    /* each family's state across runs and its outcomes (programme_track.c) */
    xchg__track_stats ts;
    e = xchg__programme_track(m->s, m->p, ls, r, st->run, run_date, &ts, d);
    if (e != XCHG_OK)
        goto cleanup;
    st->tracked = ts.tracked;
    st->identified_new = ts.identified_new;
    st->outcomes_met = ts.outcomes_met;
    st->claimable = ts.claimable;
    char ds[11];
    xchg_date_format(run_date, ds);
    e = xchg__matcher_audit(
        m, XCHG_AUDIT_RUN, NULL,
        json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "run",
                  (json_int_t)st->run,
                  "window_ends", ds, "records", (json_int_t)st->records, "persons",
                  (json_int_t)st->persons, "households", (json_int_t)st->households, "eligible",
                  (json_int_t)st->eligible, "review", (json_int_t)st->review, "conflicts",
                  (json_int_t)st->conflicts, "reviews_applied", (json_int_t)st->reviews_applied,
                  "reviews_ignored", (json_int_t)st->reviews_ignored, "identified_new",
                  (json_int_t)st->identified_new, "outcomes_met", (json_int_t)st->outcomes_met,
                  "claimable", (json_int_t)st->claimable),
        NULL, d);
cleanup:
    st->seconds_load = t1 - t0;
    st->seconds_link = t2 - t1;
    st->seconds_save = mono() - t2;
    xchg_link_result_free(r);
    xchg_linkset_free(ls);
    return e;
}

/* ---- retention ---------------------------------------------------------------------- */

xchg_err xchg_matcher_purge(xchg_matcher *m, int64_t cutoff, int dry_run, xchg_purge_stats *st,
                            xchg_diag *d)
{
    if (!m || !st)
        return XCHG_ERR_ARG;
    xchg_err e = xchg_store_purge(m->s, cutoff, dry_run, st, d);
    if (e != XCHG_OK || dry_run || !st->purged)
        return e;
    json_t *ids = json_array();
    for (size_t i = 0; i < st->nextracts && i < 64; i++)
        json_array_append_new(ids, json_string(st->extract_ids[i]));
    return xchg__matcher_audit(m, XCHG_AUDIT_PURGE, NULL,
                               json_pack("{s:I, s:I, s:I, s:I, s:o}", "cutoff", (json_int_t)cutoff,
                                         "extracts", (json_int_t)st->nextracts, "records",
                                         (json_int_t)st->records, "runs", (json_int_t)st->runs,
                                         "extract_ids", ids),
                               NULL, d);
}

xchg_err xchg_matcher_retention(xchg_matcher *m, int64_t now, int dry_run, xchg_purge_stats *st,
                                xchg_diag *d)
{
    if (!m)
        return XCHG_ERR_ARG;
    if (st)
        memset(st, 0, sizeof *st);
    long days = xchg_policy_get(m->p)->retention_days;
    if (days <= 0)
        return XCHG_OK;
    xchg_purge_stats *ps = st ? st : malloc(sizeof *ps);
    if (!ps)
        return XCHG_ERR_NOMEM;
    xchg_err e = xchg_matcher_purge(m, now - (int64_t)days * 86400, dry_run, ps, d);
    if (!st)
        free(ps);
    return e;
}

/* ---- reports ------------------------------------------------------------------------ */

static const char *const format_names[] = {"text", "csv", "json", "html"};

xchg_err xchg_matcher_report(xchg_matcher *m, int64_t run, xchg_report_format fmt, int64_t now,
                             char **out, size_t *len, xchg_report_stats *st, xchg_diag *d)
{
    if (!m || !out || !len || (unsigned)fmt > XCHG_REPORT_HTML)
        return XCHG_ERR_ARG;
    if (run == 0 && (run = xchg__store_latest_run(m->s)) <= 0) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "the store has no linkage run yet: a report counts a run's families");
        return XCHG_ERR_NOT_FOUND;
    }
    xchg__report *r = NULL;
    char *buf = NULL;
    size_t n = 0;
    xchg_err e = xchg__report_build(m->s, m->p, run, now, &r, d);
    if (e == XCHG_OK)
        e = xchg__report_render(r, fmt, &buf, &n);
    if (e != XCHG_OK)
        goto cleanup;
    xchg_report_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    st->run = run;
    st->tables = r->ntables;
    for (size_t i = 0; i < r->nsets; i++)
        for (size_t c = 0; c < r->sets[i]->ncells; c++) {
            st->cells++;
            st->suppressed += r->sets[i]->state[c] != XCHG__SDC_PUBLISHED;
        }
    uint8_t h[XCHG_SHA256_BYTES];
    xchg_sha256(buf, n, h);
    xchg_hex_encode(st->sha256, h, sizeof h);
    json_t *tables = json_array();
    for (size_t i = 0; i < r->ntables; i++)
        json_array_append_new(tables, json_string(r->tables[i].id));
    e = xchg__matcher_audit(
        m, XCHG_AUDIT_REPORT, NULL,
        json_pack("{s:I, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:b}", "run", (json_int_t)run,
                  "format", format_names[fmt], "sha256", st->sha256, "bytes", (json_int_t)n,
                  "tables", tables, "cells", (json_int_t)st->cells, "suppressed",
                  (json_int_t)st->suppressed, "suppress_below", (json_int_t)r->rules.threshold,
                  "suppress_zeros", r->rules.suppress_zeros),
        NULL, d);
    if (e != XCHG_OK)
        goto cleanup;
    *out = buf;
    *len = n;
    buf = NULL;
cleanup:
    free(buf);
    xchg__report_free(r);
    return e;
}
