/*
 * exchange — data-sharing agreements (policies).
 *
 * An agreement is a YAML file (format: docs/policy.md) that an IG lead writes and every
 * party signs. xchg_policy_parse reads and validates it, reporting every problem it
 * finds as "file:line:col: error: message" in an xchg_diag (it never stops at the first).
 * The parsed agreement is a read-only tree of plain structs owned by the xchg_policy
 * handle; indexes (size_t) refer into the arrays of the same handle.
 *
 * Two types, and the compiler keeps them apart:
 *
 *   xchg_policy     an agreement as parsed: its bytes may be unsigned, tampered with,
 *                   expired or a draft. Functions that only DESCRIBE or CHECK an
 *                   agreement take it: parse, lint, explain, bind-keys, policy new, sign,
 *                   verify, the consent decision and the data accessors, an agency's
 *                   mapping file and CSV template (they say what a seal would need, and
 *                   seal itself takes an xchg_agreement), and xchg_release_key_deal, which
 *                   rewrites the agreement's bytes and so runs before anyone signs them.
 *   xchg_agreement  a VERIFIED agreement: only xchg_agreement_verify and
 *                   xchg_policy_load_verified (policy_sign.c) make one, after every
 *                   required signatory's signature over these exact bytes verified and the
 *                   agreement is in force on the given date. Every function that ACTS
 *                   under an agreement requires it: secret new/open, seal, extract open,
 *                   the store and matcher service (create, open, ingest, load, link, save,
 *                   decide, release, claims, outcomes, reports), decision and review
 *                   signing, release-key share loading, packet seal/open, referral open,
 *                   evidence-pack verification and the daemon's request authentication.
 *
 * xchg_agreement_policy reads the policy inside a verified agreement (describe/check
 * functions accept it too). There is no public way to turn an unverified xchg_policy
 * into an xchg_agreement; unit tests use an internal constructor
 * (libexchange/agreement/agreement_testing.h), never installed.
 */
#ifndef XCHG_POLICY_H
#define XCHG_POLICY_H

#include "exchange/common.h"
#include "exchange/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XCHG_POLICY_FORMAT 1  /* value of the top-level exchange_agreement key */
#define XCHG_NONE ((size_t)-1) /* "no index" */

typedef enum xchg_role {
    XCHG_ROLE_AGENCY = 0,
    XCHG_ROLE_MATCHER = 1,
    XCHG_ROLE_RECIPIENT = 2,
    XCHG_ROLE_GOVERNANCE = 3, /* IG lead / agreement owner without data of its own */
    XCHG_ROLE_OPERATOR = 4,   /* a matcher operator who approves or rejects releases */
} xchg_role;

typedef struct xchg_party {
    const char *id;
    xchg_role role;
    const char *label;
    const char *legal_basis; /* this party's basis/power to share or receive */
    int signs;               /* signs_agreement */
    xchg_pubkey key;
    unsigned line; /* where the party is defined */
    /* key: unbound — a draft agreement (docs/policy.md "Drafts"): key is all zeros and
     * matches no key; nothing may sign, verify or act under a draft */
    int unbound;
} xchg_party;

typedef enum xchg_field_type {
    XCHG_FT_NAME = 0,     /* person name part */
    XCHG_FT_DATE = 1,     /* calendar date */
    XCHG_FT_POSTCODE = 2, /* UK postcode */
    XCHG_FT_NHS = 3,      /* NHS number (mod-11) */
    XCHG_FT_UPN = 4,      /* unique pupil number (check letter) */
    XCHG_FT_NINO = 5,     /* national insurance number */
    XCHG_FT_UPRN = 6,     /* unique property reference number */
    XCHG_FT_ADDRESS = 7,  /* free address line */
    XCHG_FT_TEXT = 8,     /* other text */
    XCHG_FT_NUMBER = 9,   /* decimal number */
    XCHG_FT_CODE = 10,    /* one of a fixed list of values */
    XCHG_FT_SEX = 11,     /* recorded sex/gender code */
    XCHG_FT_ID = 12,      /* another identifier (spaces removed, upper case), e.g. a local id */
} xchg_field_type;

typedef struct xchg_field {
    const char *name;
    xchg_field_type type;
    int identifying;      /* may identify a person: never leaves an agency in clear */
    int special_category; /* UK GDPR art 9 / art 10 data */
    const char **values;  /* XCHG_FT_CODE: allowed values */
    size_t nvalues;
    int clk_invalid;      /* an invalid value in the CLK: XCHG_CLK_INVALID_* (DEFAULT: fuzzy's) */
    double max_unparseable; /* quality.fields: share of bad values --strict allows; -1: global */
} xchg_field;

/* What the CLK gets for an identifier that fails validation (exact tokens always drop it) */
enum {
    XCHG_CLK_INVALID_DEFAULT = 0, /* a field: as the agreement's fuzzy.invalid */
    XCHG_CLK_INVALID_ENCODE = 1,  /* the value as typed (as clkhash encodes it) */
    XCHG_CLK_INVALID_DROP = 2,    /* nothing: the feature is empty for that row */
};

typedef enum xchg_transform {
    XCHG_TR_NONE = 0,
    XCHG_TR_INITIAL = 1,  /* first letter of a name */
    XCHG_TR_PHONETIC = 2, /* Soundex of a name */
    XCHG_TR_YEAR = 3,     /* year of a date */
    XCHG_TR_SWAP_DM = 4,  /* date with day and month swapped (where valid) */
    XCHG_TR_FIRST = 5,    /* first word of a name */
    XCHG_TR_NICKNAME = 6, /* canonical forename for a nickname */
    XCHG_TR_OUTWARD = 7,  /* outward code of a postcode */
    XCHG_TR_SECTOR = 8,   /* postcode sector */
    XCHG_TR_DOUBLE_METAPHONE = 9, /* Double Metaphone primary code of a name */
} xchg_transform;

typedef struct xchg_key_part {
    size_t field;
    xchg_transform transform;
} xchg_key_part;

typedef struct xchg_match_key {
    const char *name;
    xchg_key_part *parts;
    size_t nparts;
    int strong; /* a strong identifier: different values block weaker merges */
    /* any_order: parts any_order_parts[0] and [1] (indices into parts) are compared as an
     * unordered pair — the lesser value hashed first — so that a record with the two
     * values swapped (forename and surname) shares the token */
    int any_order;
    size_t any_order_parts[2];
} xchg_match_key;

typedef struct xchg_fuzzy {
    char *clk_schema_json; /* clkhash linkage schema v3, as JSON text */
    size_t clk_schema_len;
    double threshold;                /* Dice at or above: link */
    double review_low, review_high;  /* [low, high): clerical review */
    xchg_match_key *blocking;        /* keyed blocking tokens */
    size_t nblocking;
    int one_to_one; /* at most one link per record and agency */
    int invalid;    /* XCHG_CLK_INVALID_ENCODE (default) or _DROP, for every field */
    /* hardening of every CLK (docs/clk.md): salted permutation and BLIP; NULL / 0 = off */
    const char *harden_salt;  /* clk_schema feature identifier */
    size_t harden_salt_chars; /* 0 = the whole value */
    double harden_blip;       /* bit-flip probability */
} xchg_fuzzy;

typedef enum xchg_op {
    XCHG_OP_LT = 0, XCHG_OP_LE, XCHG_OP_GT, XCHG_OP_GE, XCHG_OP_EQ, XCHG_OP_NE, XCHG_OP_IN,
    XCHG_OP_PRESENT,
} xchg_op;

/* ---- programme rules (docs/programme.md) ------------------------------------------ */

#define XCHG_MAX_MEASURES 64 /* measure indexes travel as one byte; 255 = none */

/* A measure: events one or more agencies send (a pupil's attendance in a term, an ASB
 * incident, a benefit claim's span), evaluated by criteria at the matcher. */
typedef struct xchg_measure {
    const char *name;
    size_t *agencies; /* party indexes of the agencies whose extracts send it */
    size_t nagencies;
} xchg_measure;

typedef enum xchg_crit_kind {
    XCHG_CRIT_COUNT = 0,      /* number of events in the window, compared */
    XCHG_CRIT_SUM = 1,        /* sum of values, compared */
    XCHG_CRIT_RATIO = 2,      /* sum of values / sum of 'of', compared */
    XCHG_CRIT_ACTIVE = 3,     /* some span or event in the window */
    XCHG_CRIT_CONTINUOUS = 4, /* spans cover the whole window */
    XCHG_CRIT_NONE = 5,       /* no event or span in the window */
    XCHG_CRIT_REDUCTION = 6,  /* count <= (1 - reduction) x count in the baseline window */
    XCHG_CRIT_ALL = 7,        /* every sub-criterion */
    XCHG_CRIT_ANY = 8,        /* some sub-criterion */
} xchg_crit_kind;

typedef enum xchg_scope {
    XCHG_SCOPE_DEFAULT = 0, /* person for identification, each for outcomes */
    XCHG_SCOPE_PERSON = 1,  /* some member on their own events */
    XCHG_SCOPE_EACH = 2,    /* every member with events in the window (at least one) */
    XCHG_SCOPE_FAMILY = 3,  /* all members' events together */
} xchg_scope;

typedef struct xchg_criterion {
    const char *id; /* traceable id (P2-EDU-1), NULL for an unnamed sub-criterion */
    xchg_crit_kind kind;
    size_t *measures;
    size_t nmeasures;
    xchg_op op;       /* COUNT / SUM / RATIO: LT..NE */
    double number;
    double reduction; /* REDUCTION: 0 < r <= 1 */
    int32_t days;     /* window: the last `days` days; 0 with terms == 0: the rule's window */
    unsigned terms;   /* window: the last `terms` terms of the calendar */
    xchg_scope scope;
    int child_in_family; /* the family must have a member aged under 18 */
    size_t *baseline_with, *baseline_without; /* outcomes: measure indexes */
    size_t nbaseline_with, nbaseline_without;
    /* outcomes, person scope: only a member with events of these measures in the baseline
     * window is a subject ("an adult has moved off out-of-work benefits into work") */
    size_t *moved_from;
    size_t nmoved_from;
    struct xchg_criterion *sub; /* ALL / ANY */
    size_t nsub;
    unsigned line;
} xchg_criterion;

/* A problem's outcome for a family, judged on a date (docs/programme.md "Outcomes"). */
typedef enum xchg_outcome_status {
    XCHG_OUTCOME_NA = 0,        /* not a baseline problem, or no outcome defined */
    XCHG_OUTCOME_TOO_EARLY = 1, /* the outcome period has not passed since identification */
    XCHG_OUTCOME_NOT_MET = 2,
    XCHG_OUTCOME_MET = 3,
} xchg_outcome_status;

/* "n/a", "too early", "not met", "met" */
XCHG_API const char *xchg_outcome_status_name(xchg_outcome_status s);

typedef struct xchg_term {
    const char *name;
    int32_t start, end; /* days since 1970, inclusive */
} xchg_term;

/* Eligibility: at_least N of problems, or all / any of sub-rules. */
typedef enum { XCHG_RULE_AT_LEAST = 0, XCHG_RULE_ALL = 1, XCHG_RULE_ANY = 2 } xchg_rule_kind;
typedef struct xchg_rule_expr {
    xchg_rule_kind kind;
    unsigned at_least;
    size_t *of; /* problem indexes */
    size_t nof;
    struct xchg_rule_expr *sub;
    size_t nsub;
} xchg_rule_expr;

typedef struct xchg_claim_group {
    size_t *problems;
    size_t nproblems;
} xchg_claim_group;

typedef struct xchg_cost_item {
    const char *id, *title;
    double unit_cost;           /* per event avoided */
    double predicted_reduction; /* 0..1 */
    size_t *measures;           /* the events it counts */
    size_t nmeasures;
} xchg_cost_item;

typedef struct xchg_problem {
    const char *code;
    const char *title;
    size_t *asserted_by; /* party indexes */
    size_t nasserted;
    int32_t window_days; /* evidence window */
    xchg_criterion *identify; /* any of these identifies the problem (none: legacy events) */
    size_t nidentify;
    xchg_criterion *outcome;  /* the outcome that evidences progress (none: no outcome) */
    size_t noutcome;
    int outcome_any;          /* 1: any outcome criterion; 0: all */
} xchg_problem;

typedef enum xchg_agg {
    XCHG_AGG_ROW = 0,   /* the row's own value */
    XCHG_AGG_SUM = 1,   /* sum over the person's rows in the window (extract's group_by) */
    XCHG_AGG_RATIO = 2, /* sum(field) / sum(field2) over the person's rows in the window */
} xchg_agg;

typedef struct xchg_condition {
    xchg_agg agg;
    size_t field, field2;
    xchg_op op;
    double number;       /* numeric comparisons */
    const char *text;    /* eq / ne against text */
    const char **list;   /* in */
    size_t nlist;
} xchg_condition;

typedef struct xchg_indicator {
    size_t problem;      /* the problem it asserts; XCHG_NONE for a measure */
    size_t measure;      /* a measure (docs/programme.md): index into measures, or XCHG_NONE */
    xchg_condition *all; /* every condition must hold */
    size_t nall;
    size_t date_field; /* evidence date; XCHG_NONE = the extract's period end */
    size_t end_field;  /* for spans (claims, plans): end date, XCHG_NONE if instant */
    /* measures only: the person's age in whole years on the evidence date must be in
     * [age_min, age_below) (-1: no bound; needs the agreement's date-of-birth field) */
    int age_min, age_below;
    size_t value_field, of_field; /* numbers carried (XCHG_NONE: value 1, of 0) */
    unsigned line;
} xchg_indicator;

typedef struct xchg_column {
    const char *csv;    /* column name in the agency's CSV */
    size_t field;       /* canonical field */
    const char **date_formats; /* for date fields: formats tried in order */
    size_t ndate_formats;
} xchg_column;

typedef enum xchg_consent_status {
    XCHG_CONSENT_GIVEN = 0,
    XCHG_CONSENT_REFUSED = 1,
    XCHG_CONSENT_NOT_SOUGHT = 2,
    XCHG_CONSENT_WITHDRAWN = 3,
} xchg_consent_status;

typedef struct xchg_extract {
    size_t agency;
    const char *record_ref; /* CSV column with the agency's own record reference */
    xchg_column *columns;
    size_t ncolumns;
    size_t group_by; /* field grouping one person's rows for aggregates, or XCHG_NONE */
    xchg_indicator *indicators;
    size_t nindicators;
    size_t *payload; /* fields released to recipients (encrypted end to end) */
    size_t npayload;
    const char *consent_column, *consent_date_column, *basis_column;
    const char **consent_values[4]; /* per xchg_consent_status: accepted spellings */
    size_t nconsent_values[4];
    /* person-level evidence for linkage (docs/linkage.md): the agency holds at most one
     * record per person; and/or a field holding the agency's own person identifier
     * (sealed as a keyed token, match token index = nmatch_keys; XCHG_NONE if none) */
    int one_record_per_person;
    size_t person_id;
} xchg_extract;

typedef enum xchg_requirement {
    XCHG_REQ_NONE = 0,        /* releasable on the agreement's legal basis */
    XCHG_REQ_ENGAGEMENT = 1,  /* the person has agreed to the referral */
    XCHG_REQ_EXPLICIT = 2,    /* explicit consent (e.g. health confidentiality) */
} xchg_requirement;

/* What a referral packet says about a record of the agency that it withholds. */
typedef enum xchg_withheld_notice {
    XCHG_WITHHELD_NOTICE = 0, /* per member, once: "further information is held by an agency
                                 and can be shared with the family's consent" (default) */
    XCHG_WITHHELD_SILENT = 1, /* nothing at all */
    XCHG_WITHHELD_NAMED = 2,  /* the agency and record reference, with the reason */
} xchg_withheld_notice;

typedef struct xchg_consent_rule {
    size_t agency;
    const char *purpose;
    xchg_requirement requires;
    const char **unless_basis; /* recorded legal bases that allow release without it */
    size_t nunless;
    xchg_withheld_notice withheld; /* purpose referral: what a packet says when withheld */
    /* identification only: a withdrawn consent (an objection, UK GDPR Art 21) stops the
     * record's use for identification (objection_stops_identification, default true) */
    int objection_stops;
} xchg_consent_rule;

/* The agreement's release key: threshold = approvals_required; shares[] in operator
 * order, index i+1 (docs/formats.md "Release key"). */
typedef struct xchg_release_key_share {
    size_t party; /* the operator's party index */
    unsigned index;
    uint8_t verify[32]; /* s_i·G */
} xchg_release_key_share;

typedef struct xchg_release_key {
    int present, pending;
    uint8_t deal[16];
    unsigned threshold;
    uint8_t pub[32];
    uint8_t (*commitments)[32]; /* threshold of them; [0] = pub */
    xchg_release_key_share *shares;
    size_t nshares;
} xchg_release_key;
/* How the exact-match tokens are keyed (the agreement's optional 'tokens' section). */
typedef enum xchg_token_mode {
    XCHG_TOKENS_SECRET = 0, /* HMAC under the linkage secret only (no 'tokens' section) */
    XCHG_TOKENS_OPRF = 1,   /* through the key service's OPRF, then the linkage secret */
} xchg_token_mode;

typedef struct xchg_tokens {
    xchg_token_mode mode;
    const char *keyd;       /* the key service's https:// base URL */
    uint8_t key[32];        /* its OPRF public key K = k·G (ristretto255) */
    size_t custodian;       /* the party running it; XCHG_NONE: the agreement's owner */
    long queries_per_day;   /* OPRF evaluations one agency may ask for per UTC day */
} xchg_tokens;

typedef struct xchg_policy_data {
    int format;
    const char *id;
    long version;
    const char *title, *purpose, *benefit, *controllers, *dpia, *frequency;
    size_t owner;
    const char *article6, *article9, *article10;
    const char **gateways;
    size_t ngateways;
    int32_t valid_from, review_by, expires; /* days since 1970 */
    long retention_days;
    const char **purposes; /* purpose names */
    const char **purpose_text;
    size_t npurposes;

    xchg_party *parties;
    size_t nparties;
    xchg_field *fields;
    size_t nfields;
    xchg_match_key *match_keys;
    size_t nmatch_keys;
    xchg_fuzzy fuzzy;
    xchg_match_key *household_keys;
    size_t nhousehold_keys;
    size_t *household_relations; /* fields agencies use to declare family groupings */
    size_t nhousehold_relations;
    /* keys that place a person with no address token (e.g. health, youth offending) in
     * the one household that shares it; token index = keys + relations + i */
    xchg_match_key *household_fallback;
    size_t nhousehold_fallback;
    xchg_problem *problems;
    size_t nproblems;
    unsigned rule_at_least;
    size_t *rule_of; /* problem indexes */
    size_t nrule_of;
    int32_t rule_window_days;
    xchg_extract *extracts;
    size_t nextracts;
    size_t *recipients; /* party indexes */
    size_t nrecipients;
    unsigned approvals_required;
    xchg_consent_rule *consent;
    size_t nconsent;
    long suppress_below, round_to;
    /* programme (docs/programme.md) */
    xchg_measure *measures;
    size_t nmeasures;
    xchg_rule_expr rule;  /* eligible_when (the at_least form also fills rule_at_least/of) */
    xchg_term *terms;     /* the school-term calendar, in date order */
    size_t nterms;
    int claim_all_identified; /* claim: every baseline problem's outcome met */
    xchg_claim_group *claim_groups; /* claim: any group all met (and one of it identified) */
    size_t nclaim_groups;
    xchg_cost_item *costs;
    size_t ncosts;
    double cost_per_family; /* the programme's cost per family worked with (0: unknown) */
    const char *currency;
    size_t dob_field;   /* the date of birth (ages); XCHG_NONE if none */
    size_t area_field;  /* geography: the coarse area code field, or XCHG_NONE */
    const char **area_sectors, **area_names; /* or postcode district/sector -> area */
    size_t nareas;
    /* no 'release' section: a pure linkage agreement (no problems, rule, consent or
     * recipients required); nothing can be released under it */
    int linkage_only;
    /* reports: zeros suppressed like small counts (suppress_zeros, default false) */
    int suppress_zeros;
    /* release_key (docs/release.md, "The release key"): present = dealt and checked
     * (Feldman); pending = `release_key: required` but not dealt yet (works as without
     * one, with a warning); neither = no release key (release by signed approvals only) */
    xchg_release_key release_key;
    /* quality.max_unparseable (default 0.05): the share of a field's non-empty values
     * that may fail to parse before `seal --strict` refuses the extract */
    double max_unparseable;
    /* tokens: how exact-match tokens are keyed (docs/keyd.md) */
    xchg_tokens tokens;
} xchg_policy_data;

typedef struct xchg_policy xchg_policy;
/* A verified agreement (see the top of this file); opaque, made only by verification. */
typedef struct xchg_agreement xchg_agreement;

/*
 * Parse and validate the agreement text (len bytes; file names the source in
 * diagnostics). Every problem found is added to d. On success *out holds the policy;
 * on XCHG_ERR_POLICY (invalid agreement) or XCHG_ERR_FORMAT (not YAML) nothing is
 * allocated. Warnings (e.g. a review date already passed) do not fail the parse.
 * The SHA-256 of the exact bytes is kept as the agreement hash.
 */
XCHG_API xchg_err xchg_policy_parse(const char *text, size_t len, const char *file,
                                    xchg_policy **out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Number of parties whose key is still "unbound": a draft agreement. A draft parses
 * (so an IG lead can check it before the parties have keys) but cannot be signed or
 * verified: xchg_policy_sign and xchg_policy_verify refuse it with XCHG_ERR_POLICY and
 * the next step (xchg policy bind-keys). 0 for NULL.
 */
XCHG_API size_t xchg_policy_unbound(const xchg_policy *p);

/* Read and parse a file (at most 4 MiB). */
XCHG_API xchg_err xchg_policy_parse_file(const char *path, xchg_policy **out, xchg_diag *d)
    XCHG_MUST_CHECK;

XCHG_API void xchg_policy_free(xchg_policy *p);

/* The parsed agreement; valid as long as p. */
XCHG_API const xchg_policy_data *xchg_policy_get(const xchg_policy *p);

/* SHA-256 of the agreement's exact bytes. */
XCHG_API const uint8_t *xchg_policy_hash(const xchg_policy *p);

/* Index of the party with this id, or XCHG_NONE. */
XCHG_API size_t xchg_policy_party(const xchg_policy *p, const char *id);
/* Index of the party holding this key id, or XCHG_NONE. */
XCHG_API size_t xchg_policy_party_by_key(const xchg_policy *p, const uint8_t id[XCHG_KEYID_BYTES]);

/* The name of the agreement's key behind a stored token: kind 0 a match key (index
 * nmatch_keys: "own person id", the agency's own identifier), 1 a fuzzy blocking key, 2 a
 * household key, then a declared relation (its field's name), then a household fallback
 * key — the indexes tokens carry (docs/formats.md). NULL when there is no such key. */
XCHG_API const char *xchg_policy_token_name(const xchg_policy *p, int kind, size_t idx);

/* That name, or — without an agreement or such a key — "#idx" written into buf (n bytes):
 * how a stored token's key is shown to an operator. */
XCHG_API const char *xchg_policy_token_label(const xchg_policy *p, int kind, size_t idx,
                                             char *buf, size_t n);
/* "match", "blocking", "household" for token kinds 0, 1, 2 (XCHG_PAIR_*); NULL otherwise. */
XCHG_API const char *xchg_token_kind_name(int kind);

/* What that key is made of, as the agreement writes it ("surname:phonetic + dob:year",
 * an any_order key saying which two parts compare in either order), into buf (n bytes, cut short if need be); "" when
 * there is no such key. Returns the length written. */
XCHG_API size_t xchg_policy_token_parts(const xchg_policy *p, int kind, size_t idx, char *buf,
                                        size_t n);

/* The party index of recipient id (one of the agreement's recipients: a party that may be
 * sent packets), or XCHG_NONE; id NULL: the agreement's first recipient (the default
 * wherever none is named). */
XCHG_API size_t xchg_policy_recipient(const xchg_policy *p, const char *id);

/* The party index of the agreement's matcher (a valid agreement has exactly one), or
 * XCHG_NONE. */
XCHG_API size_t xchg_policy_matcher(const xchg_policy *p);

/* The party whose key id, as hex text, is keyid_hex and whose role is role; XCHG_NONE
 * when no such party (another role counts as none). */
XCHG_API size_t xchg_policy_party_by_keyhex(const xchg_policy *p, const char *keyid_hex,
                                            xchg_role role);
/* The extract definition of an agency party, or NULL. */
XCHG_API const xchg_extract *xchg_policy_extract(const xchg_policy *p, size_t agency);

/* The share (0..1) of field's non-empty values that may fail to parse before a strict
 * seal refuses the extract: the field's quality.fields entry, else quality's
 * max_unparseable, else 0.05 (docs/mapping.md). */
XCHG_API double xchg_policy_max_unparseable(const xchg_policy *p, size_t field);

/* Names for enums (static strings). */
XCHG_API const char *xchg_role_name(xchg_role r);
XCHG_API const char *xchg_field_type_name(xchg_field_type t);
XCHG_API const char *xchg_transform_name(xchg_transform t);

/*
 * Plain-English summary for a DPIA (who shares what with whom, why, on what basis, for
 * how long, what the matcher sees). Returns a malloc'ed NUL-terminated string in *out.
 */
XCHG_API xchg_err xchg_policy_explain(const xchg_policy *p, char **out);

/*
 * Bind the parties' public keys into an agreement text: every party whose key reads
 * "unbound" (every party, with rebind) gets the "xk1:" key from keydir/<party id>.pub.
 * Everything else in the text is kept byte for byte. *out is malloc'ed (NUL-terminated);
 * *bound counts the keys written. A missing or bad key file fails the whole call.
 */
XCHG_API xchg_err xchg_policy_bind_keys(const char *text, size_t len, const char *file,
                                        const char *keydir, int rebind, char **out,
                                        size_t *outlen, size_t *bound, xchg_diag *d);

/* ---- new agreements (policy_new.c) ---------------------------------------------- */

/*
 * What `xchg policy new` writes. Every field but preset and valid_from may be NULL / 0:
 * the preset's own value is kept. Extra parties (party_ids[i] with role party_roles[i],
 * "agency", "recipient", ...) are added to the preset's; for the linkage preset the
 * agencies given replace its two example agencies, each with an extract of every field.
 */
typedef struct xchg_policy_new_opts {
    const char *preset;  /* "phase1", "phase2" or "linkage" (xchg_policy_preset) */
    const char *id, *title, *owner, *purpose, *dpia;
    int32_t valid_from;  /* days since 1970: review_by is a year later, expires two */
    long retention_days;
    const char *const *party_ids;
    const char *const *party_roles;
    size_t nparties;
} xchg_policy_new_opts;

/* The i-th preset's name and one-line summary (static strings); 0 when i is past the end. */
XCHG_API int xchg_policy_preset(size_t i, const char **name, const char **summary);

/*
 * Fill id, title, owner, purpose, dpia and retention_days of o (those still NULL / 0)
 * with the values the preset o->preset would use, for prompts. Strings are static or
 * owned by the library and live until the process ends. XCHG_ERR_ARG for an unknown
 * preset.
 */
XCHG_API xchg_err xchg_policy_new_defaults(xchg_policy_new_opts *o) XCHG_MUST_CHECK;

/*
 * Write a new agreement as a draft (every key "unbound"): the preset's data, problems,
 * rule, extracts and release, the header and agreement block rewritten with o's values,
 * every section of the ICO data sharing code named in a comment where it is answered
 * (docs/policy.md "policy new"), a fresh CLK salt. The text always passes
 * xchg_policy_parse (checked before it is returned). *out is malloc'ed, NUL-terminated.
 * Errors (reported in d): XCHG_ERR_ARG for an unknown preset or role, an agency added to
 * a programme preset (its extracts carry the criteria), a party given twice or an owner
 * that is not a party; XCHG_ERR_POLICY if o's values make an invalid agreement (e.g. an
 * id of other characters), with the parser's messages; XCHG_ERR_NOMEM.
 */
XCHG_API xchg_err xchg_policy_new(const xchg_policy_new_opts *o, char **out, xchg_diag *d)
    XCHG_MUST_CHECK;

/* ---- signatures (policy_sign.c) ------------------------------------------------- */

/*
 * Sign the agreement as the party holding k: appends (or replaces) k's signature line in
 * the detached signature file sigpath (atomic write). k must be a party of the agreement
 * (XCHG_ERR_UNKNOWN_KEY otherwise). now is a Unix time recorded in the signature.
 */
XCHG_API xchg_err xchg_policy_sign(const xchg_policy *p, const xchg_seckey *k,
                                   const char *sigpath, int64_t now, xchg_diag *d);

/*
 * Verify the signatures in sigpath against p: every party with signs_agreement must
 * have a valid signature over this agreement's hash; a signature by a key that is not a
 * party, a bad signature, or one over other bytes is an error. today (days since 1970)
 * must lie in [valid_from, expires]. Reports every problem; returns XCHG_OK,
 * XCHG_ERR_VERIFY, XCHG_ERR_UNSIGNED, XCHG_ERR_UNKNOWN_KEY or XCHG_ERR_VALIDITY (the
 * first problem's class). A review date already passed is a warning.
 */
XCHG_API xchg_err xchg_policy_verify(const xchg_policy *p, const char *sigpath, int32_t today,
                                     xchg_diag *d) XCHG_MUST_CHECK;

/*
 * Make a verified agreement of p: xchg_policy_verify(p, sigpath, today, d) and, when it
 * returns XCHG_OK, *out owns p. The call takes ownership of p whatever happens: on any
 * failure p is freed and *out is left untouched, so an agreement whose signatures do not
 * verify never becomes an xchg_agreement. XCHG_ERR_ARG (p freed) for a NULL argument.
 */
XCHG_API xchg_err xchg_agreement_verify(xchg_policy *p, const char *sigpath, int32_t today,
                                        xchg_agreement **out, xchg_diag *d) XCHG_MUST_CHECK;

/*
 * The one way tools load an agreement: parse path, then xchg_agreement_verify it against
 * "<path>.sig" (or sigpath when not NULL) for today. *out only on success.
 */
XCHG_API xchg_err xchg_policy_load_verified(const char *path, const char *sigpath, int32_t today,
                                            xchg_agreement **out, xchg_diag *d) XCHG_MUST_CHECK;

/* The verified agreement's policy (valid as long as a), for the describe/check calls and
 * the data accessors; NULL for NULL. */
XCHG_API const xchg_policy *xchg_agreement_policy(const xchg_agreement *a);

/* Shorthand for xchg_policy_get(xchg_agreement_policy(a)); NULL for NULL. */
XCHG_API const xchg_policy_data *xchg_agreement_get(const xchg_agreement *a);

/* Free the agreement and its policy; NULL is accepted. */
XCHG_API void xchg_agreement_free(xchg_agreement *a);

#ifdef __cplusplus
}
#endif
#endif
