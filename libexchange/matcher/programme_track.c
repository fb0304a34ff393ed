/*
 * A family's state across runs (docs/programme.md "A family's state across runs",
 * "Outcomes"): before a linkage run is saved, the persons and families it continues get
 * their earlier names back (xchg__programme_names); after it, a newly eligible family is
 * recorded as identified with its baseline problems; every family identified before (or
 * now) gets its baseline problems' outcomes judged on the run date, and "since" carried
 * from the run before.
 */
#include "programme_track.h"

#include "exchange/release.h"
#include "internal.h"
#include "link_internal.h"
#include "programme.h"
#include "store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_state(void *ctx, const xchg__prog_state *st)
{
    xchg__prog_states *s = ctx;
    if (xchg__link_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v))
        return 1;
    s->v[s->n++] = *st;
    return 0;
}

static int cmp_state(const void *a, const void *b)
{
    return strcmp(((const xchg__prog_state *)a)->pseudonym,
                  ((const xchg__prog_state *)b)->pseudonym);
}

xchg_err xchg__prog_states_load(xchg_store *s, xchg__prog_states *st, xchg_diag *d)
{
    memset(st, 0, sizeof *st);
    xchg_err e = xchg__store_prog_states(s, add_state, st, d);
    if (e == XCHG_OK && st->n)
        qsort(st->v, st->n, sizeof *st->v, cmp_state);
    return e;
}

xchg__prog_state *xchg__prog_state_find(const xchg__prog_states *st, const char *pseudonym)
{
    xchg__prog_state key;
    snprintf(key.pseudonym, sizeof key.pseudonym, "%s", pseudonym);
    return st->n ? bsearch(&key, st->v, st->n, sizeof *st->v, cmp_state) : NULL;
}

int xchg__baseline_criteria(const char *baseline, const char *code, char *out, size_t n)
{
    size_t cl = strlen(code);
    out[0] = '\0';
    for (const char *t = baseline; t && *t;) {
        size_t tl = strcspn(t, " ");
        if (tl > cl && strncmp(t, code, cl) == 0 && t[cl] == '=') {
            snprintf(out, n, "%.*s", (int)(tl - cl - 1), t + cl + 1);
            return 1;
        }
        t += tl;
        while (*t == ' ')
            t++;
    }
    return 0;
}

static int add_row(void *ctx, const xchg_store_outcome *o)
{
    xchg__outcome_rows *r = ctx;
    if (xchg__link_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v))
        return 1;
    r->v[r->n++] = *o;
    return 0;
}

xchg_err xchg__outcome_rows_load(xchg_store *s, int64_t run, xchg__outcome_rows *rows, xchg_diag *d)
{
    memset(rows, 0, sizeof *rows);
    return xchg_store_outcomes(s, run, add_row, rows, d);
}

struct prev {
    char family[XCHG_PSEUDONYM_MAX + 1];
    char problem[65];
    int status;
    int32_t since;
};
struct prevs {
    struct prev *v;
    size_t n, cap;
};

static int add_prev(void *ctx, const char *family, const char *problem, int status, int32_t since)
{
    struct prevs *p = ctx;
    if (!family || !problem)
        return 0;
    if (xchg__link_grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v))
        return 1;
    struct prev *x = &p->v[p->n++];
    snprintf(x->family, sizeof x->family, "%s", family);
    snprintf(x->problem, sizeof x->problem, "%s", problem);
    x->status = status;
    x->since = since;
    return 0;
}

struct member_of {
    char person[XCHG_PSEUDONYM_MAX + 1];
    char family[XCHG_PSEUDONYM_MAX + 1];
};
struct members {
    struct member_of *v;
    size_t n, cap;
};

static int add_member(void *ctx, const char *family, const char *person)
{
    struct members *m = ctx;
    if (!family || !person)
        return 0;
    if (xchg__link_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v))
        return 1;
    snprintf(m->v[m->n].person, sizeof m->v[0].person, "%s", person);
    snprintf(m->v[m->n].family, sizeof m->v[0].family, "%s", family);
    m->n++;
    return 0;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct member_of *)a)->person, ((const struct member_of *)b)->person);
}

/* The earlier states' members' tokens, by (key, token): a person whose pseudonym is new
 * is recognised by a token an earlier member held. */
struct old_tok {
    uint64_t h0, h1;
    int key;
    char person[XCHG_PSEUDONYM_MAX + 1];
};
struct old_toks {
    struct old_tok *v;
    size_t n, cap;
};

static int add_tok(void *ctx, const xchg__prog_token *t)
{
    struct old_toks *o = ctx;
    if (xchg__link_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v))
        return 1;
    struct old_tok *x = &o->v[o->n++];
    x->h0 = t->h0;
    x->h1 = t->h1;
    x->key = t->key;
    snprintf(x->person, sizeof x->person, "%s", t->person);
    return 0;
}

static int cmp_tok(const void *a, const void *b)
{
    const struct old_tok *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->h0 != y->h0)
        return x->h0 < y->h0 ? -1 : 1;
    return x->h1 < y->h1 ? -1 : x->h1 > y->h1;
}

static int cmp_member(const void *a, const void *b);

static int member_known(const struct members *mem, const char *person)
{
    struct member_of key;
    snprintf(key.person, sizeof key.person, "%s", person);
    return mem->n && bsearch(&key, mem->v, mem->n, sizeof *mem->v, cmp_member) != NULL;
}

/* Per person of this run: NULL, or — when no earlier state knows its pseudonym (a new
 * record brought a key that would name it anew) — the earlier member pseudonym that held
 * one of its exact-match tokens. Records sharing a match token are one person, so a token names
 * at most one earlier person. */
static xchg_err person_aliases(const xchg_linkset *ls, const xchg_link_result *res,
                               const struct members *mem, const struct old_toks *ot,
                               const char ***out)
{
    *out = NULL;
    if (!ot->n || !mem->n || !res->npersons)
        return XCHG_OK;
    const char **alias = calloc(res->npersons, sizeof *alias);
    uint8_t *known = calloc(res->npersons, 1); /* 0 not yet looked up, 1 known, 2 not */
    if (!alias || !known) {
        free(alias);
        free(known);
        return XCHG_ERR_NOMEM;
    }
    for (size_t k = 0; k < ls->nmt; k++) {
        uint32_t pn = res->person[ls->mt[k].rec];
        if (alias[pn])
            continue;
        if (!known[pn])
            known[pn] = member_known(mem, res->person_pseudonym[pn]) ? 1 : 2;
        if (known[pn] == 1)
            continue;
        struct old_tok key = {.h0 = ls->mt[k].h0, .h1 = ls->mt[k].h1, .key = ls->mt[k].idx};
        const struct old_tok *hit = bsearch(&key, ot->v, ot->n, sizeof *ot->v, cmp_tok);
        if (hit)
            alias[pn] = hit->person;
    }
    free(known);
    *out = alias;
    return XCHG_OK;
}

static int cmp_prev(const void *a, const void *b)
{
    const struct prev *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    return c ? c : strcmp(x->problem, y->problem);
}

static void join_ids(char *out, size_t cap, const xchg_criterion *c, size_t n, uint32_t bits)
{
    out[0] = '\0';
    for (size_t k = 0; k < n && k < 32; k++)
        if ((bits & (1u << k)) && c[k].id) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s", l ? ";" : "", c[k].id);
        }
}

/* The family's member persons as a digest (hex). */
static xchg_err members_hex(const xchg_link_result *res, const xchg__famview *v,
                            const xchg_prog_family *pf, char out[65])
{
    const char *ps[256];
    size_t n = pf->nmembers < 256 ? pf->nmembers : 256;
    for (size_t i = 0; i < n; i++)
        ps[i] = res->person_pseudonym[v->persons[i]];
    uint8_t dg[XCHG_SHA256_BYTES];
    xchg_err e = xchg_release_members_digest(ps, n, dg);
    if (e == XCHG_OK)
        xchg_hex_encode(out, dg, sizeof dg);
    return e;
}

/* An earlier state and a family of this run sharing n member persons. */
struct edge {
    uint32_t s, h, n;
    uint32_t size;      /* the family's persons */
    int named;          /* the family's strongest key already names the state */
    int32_t identified; /* the state's first identification */
};

static int cmp_edge_pair(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->h > y->h) - (x->h < y->h);
}

/* Most shared members first; ties: the family most of whose persons are the state's (a
 * member who moved in with strangers is not the family that stays), the family already
 * bearing the name, the earliest identified state, then file order (household, state). */
static int cmp_edge_rank(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    uint64_t fx = (uint64_t)x->n * y->size, fy = (uint64_t)y->n * x->size;
    if (fx != fy)
        return fx > fy ? -1 : 1;
    if (x->named != y->named)
        return x->named ? -1 : 1;
    if (x->identified != y->identified)
        return x->identified < y->identified ? -1 : 1;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->s > y->s) - (x->s < y->s);
}

/* A person of this run and the name it has (sorting names to keep them unique). */
struct pname {
    const char *name;
    uint32_t pn;
};

static int cmp_pname(const void *a, const void *b)
{
    const struct pname *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->pn > y->pn) - (x->pn < y->pn);
}

xchg_err xchg__programme_names(xchg_store *s, const xchg_policy *pol, const xchg_linkset *ls,
                               xchg_link_result *res, xchg__names_stats *ns, xchg_diag *d)
{
    memset(ns, 0, sizeof *ns);
    if (xchg_policy_get(pol)->linkage_only || !res->npersons)
        return XCHG_OK;
    xchg__prog_states st = {0};
    struct members mem = {0};
    struct old_toks otok = {0};
    const char **alias = NULL;
    struct pname *names = NULL, *cand = NULL;
    struct edge *edges = NULL;
    size_t ne = 0, ecap = 0;
    uint32_t *sass = NULL, *hass = NULL; /* 1 + the family a state goes to; 1 + its state */
    xchg__famview v;
    memset(&v, 0, sizeof v);
    xchg_err e = xchg__prog_states_load(s, &st, d);
    if (e == XCHG_OK)
        e = xchg__store_prog_persons(s, add_member, &mem, d);
    if (e == XCHG_OK)
        e = xchg__store_prog_tokens(s, add_tok, &otok, d);
    if (e != XCHG_OK || !st.n || !mem.n)
        goto done; /* nothing tracked yet: every name is new */
    qsort(mem.v, mem.n, sizeof *mem.v, cmp_member);
    if (otok.n)
        qsort(otok.v, otok.n, sizeof *otok.v, cmp_tok);
    if ((e = person_aliases(ls, res, &mem, &otok, &alias)) != XCHG_OK)
        goto done;
    /* persons: an earlier member renamed by a stronger key gets its earlier name back,
       unless someone of this run bears it (an earlier person split in two) or another
       person of this run claims it first */
    size_t nc = 0;
    for (size_t pn = 0; alias && pn < res->npersons; pn++)
        nc += alias[pn] != NULL;
    if (nc) {
        if (!(names = malloc(res->npersons * sizeof *names)) || !(cand = malloc(nc * sizeof *cand))) {
            e = XCHG_ERR_NOMEM;
            goto done;
        }
        nc = 0;
        for (uint32_t pn = 0; pn < res->npersons; pn++) {
            names[pn] = (struct pname){.name = res->person_pseudonym[pn], .pn = pn};
            if (alias[pn])
                cand[nc++] = (struct pname){.name = alias[pn], .pn = pn};
        }
        qsort(names, res->npersons, sizeof *names, cmp_pname);
        qsort(cand, nc, sizeof *cand, cmp_pname);
        /* decided first, applied after: names[] points at the names being replaced */
        size_t keep = 0;
        for (size_t i = 0; i < nc; i++) {
            if (i && strcmp(cand[i].name, cand[i - 1].name) == 0)
                continue;
            struct pname key = {.name = cand[i].name, .pn = 0};
            size_t lo = 0, hi = res->npersons; /* lower bound of the name among this run's */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cmp_pname(&names[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < res->npersons && strcmp(names[lo].name, key.name) == 0)
                continue;
            cand[keep++] = cand[i];
        }
        for (size_t i = 0; i < keep; i++) /* cand[].name points into otok, not at res */
            snprintf(res->person_pseudonym[cand[i].pn], sizeof res->person_pseudonym[0], "%s",
                     cand[i].name);
        ns->persons_kept = keep;
    }
    /* families: each earlier state goes to the family of this run that shares most of its
       members, and that family bears its name — not to whichever family the strongest key
       now names: when the member whose key named a family moves out, the family that stays
       keeps its name and history, and the mover's new household does not take them */
    if (!(sass = calloc(st.n, sizeof *sass)) ||
        !(hass = calloc(res->nhouseholds ? res->nhouseholds : 1, sizeof *hass))) {
        e = XCHG_ERR_NOMEM;
        goto done;
    }
    if ((e = xchg__famview_init(&v, ls, res)) != XCHG_OK)
        goto done;
    for (size_t h = 0; h < res->nhouseholds && e == XCHG_OK; h++) {
        xchg_prog_family pf;
        if ((e = xchg__famview_get(&v, ls, res, (uint32_t)h, &pf)) != XCHG_OK)
            break;
        for (size_t i = 0; i < pf.nmembers && e == XCHG_OK; i++) {
            uint32_t pn = v.persons[i];
            struct member_of key;
            snprintf(key.person, sizeof key.person, "%s",
                     alias && alias[pn] ? alias[pn] : res->person_pseudonym[pn]);
            struct member_of *hit = bsearch(&key, mem.v, mem.n, sizeof *mem.v, cmp_member);
            if (!hit)
                continue;
            while (hit > mem.v && strcmp(hit[-1].person, key.person) == 0)
                hit--;
            for (; hit < mem.v + mem.n && strcmp(hit->person, key.person) == 0; hit++) {
                xchg__prog_state *c = xchg__prog_state_find(&st, hit->family);
                if (!c)
                    continue;
                if (xchg__link_grow((void **)&edges, &ecap, ne + 1, sizeof *edges)) {
                    e = XCHG_ERR_NOMEM;
                    break;
                }
                edges[ne++] = (struct edge){.s = (uint32_t)(c - st.v), .h = (uint32_t)h, .n = 1,
                                            .size = (uint32_t)pf.nmembers};
            }
        }
    }
    if (e != XCHG_OK)
        goto done;
    /* one edge per (state, family), counting the members they share */
    if (ne)
        qsort(edges, ne, sizeof *edges, cmp_edge_pair);
    size_t nu = 0;
    for (size_t i = 0; i < ne; i++) {
        if (nu && edges[nu - 1].s == edges[i].s && edges[nu - 1].h == edges[i].h)
            edges[nu - 1].n++;
        else
            edges[nu++] = edges[i];
    }
    for (size_t i = 0; i < nu; i++) {
        edges[i].named = strcmp(res->families[edges[i].h].pseudonym, st.v[edges[i].s].pseudonym) == 0;
        edges[i].identified = st.v[edges[i].s].identified;
    }
    if (nu)
        qsort(edges, nu, sizeof *edges, cmp_edge_rank);
    for (size_t i = 0; i < nu; i++)
        if (!sass[edges[i].s] && !hass[edges[i].h]) {
            sass[edges[i].s] = edges[i].h + 1;
            hass[edges[i].h] = edges[i].s + 1;
        }
    /* a family named by a state no family shares a member with still continues it */
    for (size_t h = 0; h < res->nhouseholds; h++) {
        xchg__prog_state *c = hass[h] ? NULL : xchg__prog_state_find(&st, res->families[h].pseudonym);
        if (c && !sass[c - st.v]) {
            sass[c - st.v] = (uint32_t)h + 1;
            hass[h] = (uint32_t)(c - st.v) + 1;
        }
    }
    /* names: a family continuing a state bears its name; one whose strongest key names a
       state another family continues gets a name of its own, derived from that name */
    const uint8_t *pkey = xchg_store_pseudonym_key(s);
    for (size_t h = 0; h < res->nhouseholds; h++) {
        xchg_family *fam = &res->families[h];
        if (hass[h]) {
            const xchg__prog_state *c = &st.v[hass[h] - 1];
            if (strcmp(fam->pseudonym, c->pseudonym) != 0) {
                snprintf(fam->pseudonym, sizeof fam->pseudonym, "%s", c->pseudonym);
                ns->families_kept++;
            }
        } else if (xchg__prog_state_find(&st, fam->pseudonym) && pkey) {
            uint8_t msg[8 + XCHG_PSEUDONYM_MAX + 1], mac[32];
            size_t l = strlen(fam->pseudonym);
            memcpy(msg, "moved-F:", 8);
            memcpy(msg + 8, fam->pseudonym, l);
            xchg_hmac_sha256(pkey, 32, msg, 8 + l, mac);
            xchg__pseudonym_format(mac, 'F', fam->pseudonym);
            ns->families_moved++;
        }
    }
done:
    xchg__famview_free(&v);
    free(st.v);
    free(mem.v);
    free(otok.v);
    free(alias);
    free(names);
    free(cand);
    free(edges);
    free(sass);
    free(hass);
    return e;
}

xchg_err xchg__programme_track(xchg_store *s, const xchg_policy *pol, const xchg_linkset *ls,
                               const xchg_link_result *res, int64_t run, int32_t run_date,
                               xchg__track_stats *ts, xchg_diag *d)
{
    const xchg_policy_data *pd = xchg_policy_get(pol);
    memset(ts, 0, sizeof *ts);
    if (pd->linkage_only)
        return XCHG_OK;
    xchg__prog_states st = {0};
    struct prevs pv = {0};
    uint32_t *owner = NULL; /* per person: 1 + the index in out of the state it is written in */
    xchg__prog_token *toks = NULL;
    size_t ntoks = 0;
    xchg__prog_state *out = NULL;
    xchg_store_outcome *oc = NULL;
    const char **pnames = NULL; /* every family's persons, by state written */
    size_t nout = 0, noc = 0, occap = 0, npn = 0;
    xchg__famview v;
    memset(&v, 0, sizeof v);
    xchg_err e = xchg__prog_states_load(s, &st, d);
    if (e == XCHG_OK)
        e = xchg__store_prog_previous(s, run, add_prev, &pv, d);
    if (e == XCHG_OK)
        e = xchg__famview_init(&v, ls, res);
    if (e == XCHG_OK && (!(out = malloc((res->nhouseholds ? res->nhouseholds : 1) * sizeof *out)) ||
                         !(pnames = malloc((ls->n ? ls->n : 1) * sizeof *pnames)) ||
                         !(owner = calloc(res->npersons ? res->npersons : 1, sizeof *owner))))
        e = XCHG_ERR_NOMEM;
    if (e != XCHG_OK)
        goto done;
    if (pv.n)
        qsort(pv.v, pv.n, sizeof *pv.v, cmp_prev);
    /* a family continuing an earlier one already bears its name (xchg__programme_names) */
    for (size_t h = 0; h < res->nhouseholds && e == XCHG_OK; h++) {
        const xchg_family *fam = &res->families[h];
        const xchg__prog_state *old = xchg__prog_state_find(&st, fam->pseudonym);
        xchg_prog_family pf;
        if ((e = xchg__famview_get(&v, ls, res, (uint32_t)h, &pf)) != XCHG_OK)
            break;
        const char **persons = pnames + npn;
        for (size_t i = 0; i < pf.nmembers; i++)
            persons[i] = res->person_pseudonym[v.persons[i]];
        if (!old && !fam->eligible)
            continue;
        npn += pf.nmembers;
        xchg__prog_state *ns = &out[nout++];
        char mh[65];
        if ((e = members_hex(res, &v, &pf, mh)) != XCHG_OK)
            break;
        if (old) {
            *ns = *old;
            ns->change = strcmp(old->members, mh) == 0 ? 2 : 1;
        } else {
            /* newly identified: its baseline is the problems it shows now */
            memset(ns, 0, sizeof *ns);
            snprintf(ns->pseudonym, sizeof ns->pseudonym, "%s", fam->pseudonym);
            ns->first_run = run;
            ns->identified = run_date;
            for (uint8_t k = 0; k < fam->nproblems; k++) {
                const xchg_problem *pb = &pd->problems[fam->problems[k].problem];
                char ids[256];
                join_ids(ids, sizeof ids, pb->identify, pb->nidentify, fam->problems[k].criteria);
                size_t l = strlen(ns->baseline);
                snprintf(ns->baseline + l, sizeof ns->baseline - l, "%s%s=%s", l ? " " : "",
                         pb->code, ids);
            }
            ts->identified_new++;
        }
        ns->persons = persons;
        ns->npersons = pf.nmembers;
        for (size_t i = 0; i < pf.nmembers; i++)
            owner[v.persons[i]] = (uint32_t)nout;
        ns->last_run = run;
        snprintf(ns->members, sizeof ns->members, "%s", mh);
        ts->tracked++;
        /* outcomes of the baseline problems */
        uint8_t base[256] = {0}, met[256] = {0};
        char buf[sizeof ns->baseline];
        snprintf(buf, sizeof buf, "%s", ns->baseline);
        char *save = NULL;
        for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(tok, '=');
            if (eq)
                *eq = '\0';
            size_t p = 0;
            while (p < pd->nproblems && strcmp(pd->problems[p].code, tok) != 0)
                p++;
            if (p == pd->nproblems || !pd->problems[p].noutcome)
                continue; /* a problem the agreement no longer has, or without an outcome */
            base[p] = 1;
            if (noc == occap) {
                size_t nc = occap ? occap * 2 : 256;
                xchg_store_outcome *no = realloc(oc, nc * sizeof *no);
                if (!no) {
                    e = XCHG_ERR_NOMEM;
                    break;
                }
                oc = no;
                occap = nc;
            }
            xchg_store_outcome *o = &oc[noc++];
            memset(o, 0, sizeof *o);
            snprintf(o->family, sizeof o->family, "%s", ns->pseudonym);
            snprintf(o->problem, sizeof o->problem, "%s", pd->problems[p].code);
            uint32_t bits = 0;
            o->status = (int)xchg__prog_outcome(pd, &pf, p, ns->identified, run_date, &o->baseline,
                                                &o->latest, &bits);
            join_ids(o->criteria, sizeof o->criteria, pd->problems[p].outcome,
                     pd->problems[p].noutcome, bits);
            o->since = XCHG_DATE_NONE;
            if (o->status == XCHG_OUTCOME_MET) {
                struct prev pk, *pp;
                snprintf(pk.family, sizeof pk.family, "%s", o->family);
                snprintf(pk.problem, sizeof pk.problem, "%s", o->problem);
                pp = (pv.n ? bsearch(&pk, pv.v, pv.n, sizeof *pv.v, cmp_prev) : NULL);
                o->since = pp && pp->status == XCHG_OUTCOME_MET && pp->since != XCHG_DATE_NONE
                               ? pp->since
                               : run_date;
                met[p] = 1;
                ts->outcomes_met++;
            }
        }
        if (xchg__prog_claimable(pd, base, met))
            ts->claimable++;
    }
    /* the written states' members' tokens, each once per person (mt is sorted by key,
       then token) */
    if (e == XCHG_OK && nout && !(toks = malloc((ls->nmt ? ls->nmt : 1) * sizeof *toks)))
        e = XCHG_ERR_NOMEM;
    for (size_t k = 0; e == XCHG_OK && nout && k < ls->nmt; k++) {
        uint32_t pn = res->person[ls->mt[k].rec];
        if (!owner[pn])
            continue;
        const char *who = res->person_pseudonym[pn];
        if (ntoks && toks[ntoks - 1].person == who && toks[ntoks - 1].key == ls->mt[k].idx &&
            toks[ntoks - 1].h0 == ls->mt[k].h0 && toks[ntoks - 1].h1 == ls->mt[k].h1)
            continue;
        toks[ntoks++] = (xchg__prog_token){.family = out[owner[pn] - 1].pseudonym,
                                           .person = who,
                                           .h0 = ls->mt[k].h0,
                                           .h1 = ls->mt[k].h1,
                                           .key = ls->mt[k].idx};
    }
    if (e == XCHG_OK)
        e = xchg__store_prog_save(s, run, out, nout, toks, ntoks, oc, noc, d);
done:
    free(owner);
    free(toks);
    xchg__famview_free(&v);
    free(st.v);
    free(pv.v);
    free(out);
    free(oc);
    free(pnames);
    return e;
}
