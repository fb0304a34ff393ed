/*
 * xchg_policy_new: a new agreement, as a draft, from a preset (docs/policy.md
 * "policy new"). The programme presets are the shipped policies/phase1.yaml and
 * phase2.yaml (embedded at build time: policy_presets.c); the linkage preset is a pure
 * linkage agreement (docs/policy.md, "linkage-only"). The header and the agreement,
 * purposes and parties blocks are written afresh from the options, with the ICO data
 * sharing code's sections named in comments where each is answered; the rest of the
 * preset (fields, keys, problems, extracts, release, reports) is kept byte for byte,
 * except the CLK salt, which is fresh for every agreement. Keys are "unbound": a draft.
 */
#include "exchange/policy.h"
#include "exchange/crypto.h"
#include "exchange/date.h"
#include "internal.h"
#include "strbuf.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char xchg__preset_phase1[];
extern const size_t xchg__preset_phase1_len;
extern const char xchg__preset_phase2[];
extern const size_t xchg__preset_phase2_len;

/* A pure linkage agreement: the agencies' records are linked into persons and
 * households and nothing is released. Its extracts are written per agency. */
static const char linkage_base[] =
    "exchange_agreement: 1\n"
    "agreement:\n"
    "  id: county-record-linkage\n"
    "  version: 1\n"
    "  title: Record linkage between agencies\n"
    "  owner: ig\n"
    "  purpose: >\n"
    "    Link the agencies' records of the same people and households, so that the parties\n"
    "    can measure how their caseloads overlap; nothing is released to anyone.\n"
    "  benefit: >\n"
    "    The agencies learn how many people they serve in common without sharing names.\n"
    "  controllers: separate\n"
    "  lawful_basis:\n"
    "    article6: \"UK GDPR Art 6(1)(e) public task\"\n"
    "    gateways:\n"
    "      - \"Digital Economy Act 2017 s35 (multiple disadvantages objective)\"\n"
    "  valid_from: 2026-01-01\n"
    "  review_by: 2027-01-01\n"
    "  expires: 2028-01-01\n"
    "  retention_days: 90\n"
    "  frequency: quarterly extracts\n"
    "purposes:\n"
    "  linkage: Link records of the same people and households across the agencies.\n"
    "parties:\n"
    "  - {id: ig, role: governance, label: Information governance lead, key: unbound}\n"
    "  - {id: agency-a, role: agency, label: First agency, legal_basis: TO DO, key: unbound}\n"
    "  - {id: agency-b, role: agency, label: Second agency, legal_basis: TO DO, key: unbound}\n"
    "  - {id: matcher, role: matcher, label: Linkage unit, legal_basis: TO DO, key: unbound}\n"
    "fields:\n"
    "  forename: {type: name}\n"
    "  surname: {type: name}\n"
    "  dob: {type: date, date_of_birth: true}\n"
    "  postcode: {type: uk_postcode}\n"
    "  address1: {type: address_line}\n"
    "  uprn: {type: uprn}\n"
    "  nhs_number: {type: nhs_number}\n"
    "\n"
    "match_keys:                       # strongest first\n"
    "  - {name: nhs, fields: [nhs_number], strong: true}\n"
    "  - {name: name_dob_pc, fields: [surname, forename, dob, postcode]}\n"
    "  - {name: nick_dob_pc, fields: [surname, \"forename:nickname\", dob, postcode]}\n"
    "  - {name: phon_dob, fields: [\"surname:phonetic\", \"forename:nickname\", dob]}\n"
    "  - {name: name_swapdob, fields: [surname, forename, \"dob:swap_dm\"]}\n"
    "\n"
    "fuzzy:\n"
    "  threshold: 0.93\n"
    "  review_band: [0.90, 0.93]       # pairs for clerical review (docs/linkage.md)\n"
    "  hardening:                      # docs/clk.md, docs/attacks.md: CLK bits permuted per "
    "year of birth\n"
    "    salt: {feature: dob, chars: 4}\n"
    "  blocking:\n"
    "    - [\"surname:phonetic\", \"dob:year\"]\n"
    "    - [\"forename:phonetic\", dob]\n"
    "  clk_schema:                     # clkhash linkage schema v3 (docs/clk.md)\n"
    "    version: 3\n"
    "    clkConfig:\n"
    "      l: 1024\n"
    "      kdf:\n"
    "        type: HKDF\n"
    "        hash: SHA256\n"
    "        info: ZXhjaGFuZ2UgY2xr\n"
    "        salt: 3m4ZUmGyO4fQ8ml3b8kKqJ1Wq7yQqUy7dm+7rEAN1S0=\n"
    "        keySize: 64\n"
    "    features:\n"
    "      - {identifier: forename, format: {type: string, encoding: utf-8, case: lower}, "
    "hashing: {comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 200}, hash: {type: "
    "blakeHash}, missingValue: {sentinel: \"\"}}}\n"
    "      - {identifier: surname, format: {type: string, encoding: utf-8, case: lower}, "
    "hashing: {comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 200}, hash: {type: "
    "blakeHash}, missingValue: {sentinel: \"\"}}}\n"
    "      - {identifier: dob, format: {type: date, format: \"%Y-%m-%d\"}, hashing: "
    "{comparison: {type: ngram, n: 1, positional: true}, strategy: {bitsPerFeature: 200}, "
    "hash: {type: blakeHash}, missingValue: {sentinel: \"\"}}}\n"
    "      - {identifier: postcode, format: {type: string, encoding: utf-8, case: upper}, "
    "hashing: {comparison: {type: ngram, n: 2}, strategy: {bitsPerFeature: 100}, hash: {type: "
    "blakeHash}, missingValue: {sentinel: \"\"}}}\n"
    "\n"
    "households:\n"
    "  keys:\n"
    "    - [uprn]\n"
    "    - [address1, postcode]\n"
    "\n"
    "reports:\n"
    "  suppress_below: 5\n"
    "  round_to: 5\n"
    "\n"
    "extracts:\n"
    "  agency-a:\n"
    "    record_ref: record_ref\n"
    "    columns: {forename: forename, surname: surname, dob: dob, postcode: postcode, address1: "
    "address1, uprn: uprn, nhs_number: nhs_number}\n"
    "  agency-b:\n"
    "    record_ref: record_ref\n"
    "    columns: {forename: forename, surname: surname, dob: dob, postcode: postcode, address1: "
    "address1, uprn: uprn, nhs_number: nhs_number}\n";

struct preset {
    const char *name, *summary;
    const char *text;
    const size_t *len;
    int linkage;
};

static const size_t linkage_len = sizeof linkage_base - 1;

static const struct preset presets[] = {
    {"phase1",
     "Troubled Families phase 1: two of three criteria (crime or ASB, education, worklessness); "
     "from policies/phase1.yaml",
     xchg__preset_phase1, &xchg__preset_phase1_len, 0},
    {"phase2",
     "Thriving Families phase 2: two or more of six problems, outcomes and claims; from "
     "policies/phase2.yaml",
     xchg__preset_phase2, &xchg__preset_phase2_len, 0},
    {"linkage",
     "a pure linkage agreement: agencies' records linked into persons and households, nothing "
     "released",
     linkage_base, &linkage_len, 1},
};
#define NPRESETS (sizeof presets / sizeof presets[0])

int xchg_policy_preset(size_t i, const char **name, const char **summary)
{
    if (i >= NPRESETS)
        return 0;
    if (name)
        *name = presets[i].name;
    if (summary)
        *summary = presets[i].summary;
    return 1;
}

static const struct preset *find_preset(const char *name)
{
    for (size_t i = 0; name && i < NPRESETS; i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

/* The parsed preset, parsed once per process (a draft: its keys are unbound). */
static xchg_policy *parsed[NPRESETS];

static const xchg_policy *preset_policy(const struct preset *pr)
{
    size_t i = (size_t)(pr - presets);
    if (!parsed[i] && xchg_policy_parse(pr->text, *pr->len, pr->name, &parsed[i], NULL) != XCHG_OK)
        return NULL;
    return parsed[i];
}

xchg_err xchg_policy_new_defaults(xchg_policy_new_opts *o)
{
    const struct preset *pr = o ? find_preset(o->preset) : NULL;
    const xchg_policy *bp = pr ? preset_policy(pr) : NULL;
    if (!bp)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(bp);
    if (!o->id)
        o->id = p->id;
    if (!o->title)
        o->title = p->title;
    if (!o->owner)
        o->owner = p->parties[p->owner].id;
    if (!o->purpose)
        o->purpose = p->purpose;
    if (!o->dpia)
        o->dpia = "TO-DO-DPIA-REFERENCE";
    if (!o->retention_days)
        o->retention_days = p->retention_days;
    return XCHG_OK;
}

/* ---- text building ------------------------------------------------------------------ */

/* A YAML double-quoted scalar: the text cannot change the document's structure. */
static void quoted(xchg__buf *b, const char *s)
{
    xchg__buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            xchg__buf_put(b, e, 2);
        } else if (*p == '\n') {
            xchg__buf_puts(b, " "); /* folded text reads as one line */
        } else if (*p < 0x20) {
            xchg__buf_printf(b, "\\x%02x", *p);
        } else {
            xchg__buf_put(b, (const char *)p, 1);
        }
    }
    xchg__buf_puts(b, "\"");
}

static void kv(xchg__buf *b, const char *indent, const char *key, const char *value)
{
    xchg__buf_printf(b, "%s%s: ", indent, key);
    quoted(b, value);
    xchg__buf_puts(b, "\n");
}

/* The comment each top-level section of the kept body gets (ICO code sections). */
static const char *section_comment(const char *line)
{
    static const struct {
        const char *key, *text;
    } notes[] = {
        {"fields:",
         "# ICO 3 - the minimum data items: the canonical fields. Each agency sends only the fields\n"
         "# its extract lists under 'extracts'; it keeps its own mapping of CSV headers, date formats\n"
         "# and codes onto them (docs/mapping.md), so a renamed column never changes this agreement.\n"
         "# ICO 4 - special-category data is marked special_category: true (needs article9).\n"},
        {"match_keys:", "# How records are linked from keyed tokens alone (docs/linkage.md).\n"},
        {"problems:",
         "# The family problems, who may assert each, and (below) the eligibility rule.\n"},
        {"extracts:",
         "# ICO 3 - per agency: the fields it sends, the indicators it derives, the detail released\n"
         "# to recipients (payload, encrypted end to end) and its consent columns.\n"},
        {"release:",
         "# ICO 9 - individuals' rights: what each agency's detail needs before release (consent,\n"
         "# engagement, a recorded legal basis); an objection (UK GDPR Art 21) stops identification;\n"
         "# withheld detail is listed in the packet with why. Requests for access, rectification or\n"
         "# erasure go to each agency as controller of its own records.\n"},
        {"reports:",
         "# Published statistics: small counts suppressed, the rest rounded (docs/reports.md).\n"},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (strncmp(line, notes[i].key, strlen(notes[i].key)) == 0)
            return notes[i].text;
    return NULL;
}

/* The kept part of the preset, from `from` to `to`, with section comments and a fresh
 * CLK salt (so two agreements' CLKs never share a schema key by accident). */
static void put_body(xchg__buf *b, const char *from, const char *to)
{
    for (const char *l = from; l < to;) {
        const char *e = memchr(l, '\n', (size_t)(to - l));
        e = e ? e + 1 : to;
        const char *note = section_comment(l);
        if (note)
            xchg__buf_put(b, note, strlen(note));
        const char *t = l;
        while (t < e && *t == ' ')
            t++;
        /* the clkhash KDF salt (a base64 value); not fuzzy.hardening's `salt: {...}` */
        if ((size_t)(e - t) > 7 && strncmp(t, "salt: ", 6) == 0 && t[6] != '{') {
            unsigned char salt[32];
            char b64[64];
            randombytes_buf(salt, sizeof salt);
            xchg_base64_encode(b64, salt, sizeof salt);
            xchg__buf_put(b, l, (size_t)(t - l));
            xchg__buf_printf(b, "salt: %s            # fresh for this agreement\n", b64);
        } else {
            xchg__buf_put(b, l, (size_t)(e - l));
        }
        l = e;
    }
}

/* Where a top-level key's line starts in text ("\nKEY:"), or NULL. */
static const char *top_key(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; (p = strstr(p, key)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ':')
            return p;
    return NULL;
}

static int role_of(const char *s, xchg_role *r)
{
    static const char *const names[] = {"agency", "matcher", "recipient", "governance",
                                        "operator"};
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *r = (xchg_role)i;
            return 1;
        }
    return 0;
}

struct newparty {
    const char *id, *label, *basis;
    xchg_role role;
    int signs;
    int added;
};

static void put_party(xchg__buf *b, const struct newparty *q)
{
    xchg__buf_printf(b, "  - id: %s\n    role: %s\n", q->id, xchg_role_name(q->role));
    if (q->added) {
        char lab[160];
        snprintf(lab, sizeof lab, "TO DO: who holds the key of %s", q->id);
        kv(b, "    ", "label", lab);
    } else {
        kv(b, "    ", "label", q->label);
    }
    if (q->basis)
        kv(b, "    ", "legal_basis", q->basis);
    else if (q->added && (q->role == XCHG_ROLE_AGENCY || q->role == XCHG_ROLE_RECIPIENT))
        kv(b, "    ", "legal_basis", "TO DO: the party's power to share or receive");
    if (!q->signs)
        xchg__buf_puts(b, "    signs_agreement: false\n");
    xchg__buf_puts(b, "    key: unbound                # xchg policy bind-keys writes it here\n");
}

xchg_err xchg_policy_new(const xchg_policy_new_opts *o, char **out, xchg_diag *d)
{
    if (!o || !out)
        return XCHG_ERR_ARG;
    *out = NULL;
    const struct preset *pr = find_preset(o->preset);
    if (!pr) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "unknown preset '%s' (expected phase1, phase2 or linkage)",
                      o->preset ? o->preset : "");
        return XCHG_ERR_ARG;
    }
    const xchg_policy *bp = preset_policy(pr);
    if (!bp)
        return XCHG_ERR_NOMEM;
    xchg_policy_new_opts v = *o;
    if (xchg_policy_new_defaults(&v) != XCHG_OK)
        return XCHG_ERR_ARG;
    const xchg_policy_data *p = xchg_policy_get(bp);

    /* the parties: the preset's, then the ones asked for */
    size_t cap = p->nparties + o->nparties;
    struct newparty *ps = calloc(cap ? cap : 1, sizeof *ps);
    if (!ps)
        return XCHG_ERR_NOMEM;
    size_t n = 0, new_agencies = 0;
    xchg_err rc = XCHG_OK;
    for (size_t i = 0; i < o->nparties; i++) {
        xchg_role r = XCHG_ROLE_AGENCY;
        if (!role_of(o->party_roles[i], &r)) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "party '%s': unknown role '%s' (expected agency, matcher, recipient, "
                          "governance or operator)",
                          o->party_ids[i], o->party_roles[i] ? o->party_roles[i] : "");
            rc = XCHG_ERR_ARG;
            continue;
        }
        if (r == XCHG_ROLE_AGENCY && !pr->linkage) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "party '%s': preset '%s' fixes its agencies (their extracts carry the "
                          "programme's measures); add an agency by editing the agreement, or "
                          "use --preset linkage",
                          o->party_ids[i], pr->name);
            rc = XCHG_ERR_ARG;
        }
        if (r == XCHG_ROLE_MATCHER) {
            xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                          "party '%s': the agreement has exactly one matcher, the preset's "
                          "'%s'",
                          o->party_ids[i], p->parties[xchg_policy_matcher(bp)].id);
            rc = XCHG_ERR_ARG;
        }
        new_agencies += r == XCHG_ROLE_AGENCY;
    }
    for (size_t i = 0; i < p->nparties; i++) {
        const xchg_party *q = &p->parties[i];
        if (pr->linkage && new_agencies && q->role == XCHG_ROLE_AGENCY)
            continue; /* the agencies given replace the example ones */
        ps[n++] = (struct newparty){q->id, q->label, q->legal_basis, q->role, q->signs, 0};
    }
    for (size_t i = 0; rc == XCHG_OK && i < o->nparties; i++) {
        xchg_role r = XCHG_ROLE_AGENCY;
        (void)role_of(o->party_roles[i], &r);
        for (size_t j = 0; j < n; j++)
            if (strcmp(ps[j].id, o->party_ids[i]) == 0) {
                xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                              "party '%s' is given twice (or is already a party of preset '%s')",
                              o->party_ids[i], pr->name);
                rc = XCHG_ERR_ARG;
            }
        ps[n++] = (struct newparty){o->party_ids[i], NULL, NULL, r,
                                    r != XCHG_ROLE_OPERATOR, 1};
    }
    int owner_ok = 0;
    for (size_t j = 0; j < n; j++)
        owner_ok |= strcmp(ps[j].id, v.owner) == 0 && ps[j].role != XCHG_ROLE_MATCHER;
    if (rc == XCHG_OK && !owner_ok) {
        xchg_diag_add(d, XCHG_SEV_ERROR, NULL, 0, 0,
                      "owner '%s' is not a party that may own the agreement: add it with "
                      "--party %s:governance",
                      v.owner, v.owner);
        rc = XCHG_ERR_ARG;
    }
    if (rc != XCHG_OK) {
        free(ps);
        return rc;
    }

    xchg__buf b = {0};
    char from[11], review[11], until[11];
    xchg_date_format(v.valid_from, from);
    xchg_date_format(v.valid_from + 365, review);
    xchg_date_format(v.valid_from + 730, until);
    xchg__buf_printf(&b,
         "# %s\n"
         "# A draft agreement written by `xchg policy new --preset %s` (docs/policy.md): every\n"
         "# party's key is \"unbound\". Next steps:\n"
         "#   1. fill in every TO DO below and run `xchg policy check FILE` (a draft passes);\n"
         "#   2. each party runs `xchg keygen` and sends its .pub file; the IG lead runs\n"
         "#      `xchg policy bind-keys FILE --keys DIR -o agreement.yaml`;\n"
         "#   3. `xchg policy explain agreement.yaml` for the DPIA; every signatory runs\n"
         "#      `xchg policy sign agreement.yaml --key ITS.key`; `xchg policy verify`.\n"
         "#\n"
         "# The ICO data sharing code of practice (2021) asks an agreement to cover, and here:\n"
         "#   ICO 1  purpose and benefit ........ agreement.purpose, .benefit; purposes\n"
         "#   ICO 2  parties, controllers ....... parties; agreement.controllers\n"
         "#   ICO 3  minimum data items ......... fields; extracts (per agency)\n"
         "#   ICO 4  special-category, offences . lawful_basis.article9 / article10; fields\n"
         "#   ICO 5  lawful basis, legal power .. agreement.lawful_basis; each party's legal_basis\n"
         "#   ICO 6  DPIA ....................... agreement.dpia\n"
         "#   ICO 7  retention and deletion ..... agreement.retention_days\n"
         "#   ICO 8  security ................... comment in 'agreement' (SECURITY.md)\n"
         "#   ICO 9  individuals' rights ........ comment in 'agreement'; release.consent\n"
         "#   ICO 10 frequency of sharing ....... agreement.frequency\n"
         "#   ICO 11 who decided and why ........ agreement.owner; the parties' signatures\n"
         "#   ICO 12 review ..................... agreement.review_by, expires\n"
         "exchange_agreement: 1\n\n"
         "agreement:\n"
         "  id: %s\n"
         "  version: 1                      # bump it for every change: parties re-sign\n",
         v.title, pr->name, v.id);
    kv(&b, "  ", "title", v.title);
    xchg__buf_puts(&b,
        "  # ICO 11 - who decided: the owner (it creates the linkage secret; never the matcher)\n");
    xchg__buf_printf(&b, "  owner: %s\n", v.owner);
    xchg__buf_puts(&b, "  # ICO 1 - purpose and benefit: why the data is shared and what it achieves\n");
    kv(&b, "  ", "purpose", v.purpose);
    kv(&b, "  ", "benefit", p->benefit ? p->benefit : "TO DO: the expected benefit");
    xchg__buf_puts(&b, "  # ICO 2 - controllers: joint (deciding together) or separate\n");
    kv(&b, "  ", "controllers", p->controllers ? p->controllers : "separate");
    xchg__buf_puts(&b,
        "  # ICO 4 and ICO 5 - lawful basis (UK GDPR Art 6; Art 9 for special-category data, Art 10\n"
        "  # for offence data) and the legal power to share (gateways)\n"
        "  lawful_basis:\n");
    kv(&b, "    ", "article6", p->article6);
    if (p->article9)
        kv(&b, "    ", "article9", p->article9);
    if (p->article10)
        kv(&b, "    ", "article10", p->article10);
    if (p->ngateways) {
        xchg__buf_puts(&b, "    gateways:\n");
        for (size_t i = 0; i < p->ngateways; i++) {
            xchg__buf_puts(&b, "      - ");
            quoted(&b, p->gateways[i]);
            xchg__buf_puts(&b, "\n");
        }
    }
    xchg__buf_puts(&b, "  # ICO 6 - the data protection impact assessment\n");
    kv(&b, "  ", "dpia", v.dpia);
    xchg__buf_puts(&b, "  # ICO 12 - review: verifying warns after review_by and fails after expires\n");
    xchg__buf_printf(&b, "  valid_from: %s\n  review_by: %s\n  expires: %s\n", from, review, until);
    xchg__buf_puts(&b, "  # ICO 7 - retention and deletion: the matcher purges linked data older than this\n");
    xchg__buf_printf(&b, "  retention_days: %ld\n", v.retention_days);
    xchg__buf_puts(&b, "  # ICO 10 - how often data is shared\n");
    kv(&b, "  ", "frequency", p->frequency ? p->frequency : "TO DO: how often extracts are sent");
    xchg__buf_puts(&b,
        "  # ICO 8 - security: identifiers leave an agency only as keyed tokens, detail only\n"
        "  # encrypted to the recipients, every file signed; each party makes its own keys\n"
        "  # (xchg keygen, 0600) and the matcher never holds the linkage secret (SECURITY.md).\n"
        "  # ICO 9 - individuals' rights: requests for access, rectification or erasure go to\n"
        "  # each agency as controller of its own records; what detail needs consent before\n"
        "  # release is under release.consent (a linkage-only agreement releases nothing).\n\n");
    xchg__buf_puts(&b, "# ICO 1 - the purposes the data may be used for, each in a sentence\npurposes:\n");
    for (size_t i = 0; i < p->npurposes; i++)
        kv(&b, "  ", p->purposes[i], p->purpose_text[i]);
    xchg__buf_puts(&b,
        "\n# ICO 2 - the parties: agencies send data, the matcher links it, recipients receive\n"
        "# referrals, operators approve them.\n# ICO 5 - each party states its own legal basis (its power to share or receive)\nparties:\n");
    for (size_t i = 0; i < n; i++)
        put_party(&b, &ps[i]);
    xchg__buf_puts(&b, "\n");

    const char *text = pr->text, *end = text + *pr->len;
    const char *body = top_key(text, "fields");
    const char *cut = pr->linkage ? top_key(text, "extracts") : end;
    if (!body || !cut) {
        free(b.s);
        free(ps);
        return XCHG_ERR_ARG;
    }
    put_body(&b, body, cut);
    if (pr->linkage) {
        const char *note = section_comment("extracts:");
        xchg__buf_put(&b, note, strlen(note));
        xchg__buf_puts(&b, "extracts:\n");
        for (size_t i = 0; i < n; i++) {
            if (ps[i].role != XCHG_ROLE_AGENCY)
                continue;
            xchg__buf_printf(&b,
                 "  %s:\n"
                 "    record_ref: record_ref\n"
                 "    # the agreement's column names are the canonical fields: the agency maps its own\n"
                 "    # headers and date formats onto them in its mapping file (docs/mapping.md)\n"
                 "    columns: {forename: forename, surname: surname, dob: dob, postcode: postcode,\n"
                 "              address1: address1, uprn: uprn, nhs_number: nhs_number}\n",
                 ps[i].id);
        }
    }
    free(ps);
    if (b.nomem) {
        free(b.s);
        return XCHG_ERR_NOMEM;
    }
    /* never hand out something that does not parse */
    xchg_policy *chk = NULL;
    rc = xchg_policy_parse(b.s, b.len, "new agreement", &chk, d);
    xchg_policy_free(chk);
    if (rc != XCHG_OK) {
        free(b.s);
        return rc == XCHG_ERR_FORMAT ? XCHG_ERR_POLICY : rc;
    }
    *out = b.s;
    return XCHG_OK;
}
