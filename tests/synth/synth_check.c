/* synth_check — independent validator for an xchg-synth output directory.
 *
 * Shares no code with the generator: identifiers are checked with their own
 * implementations of the NHS mod-11 and DfE UPN check-letter algorithms, CSV is read with
 * libcsv, and the eligibility rules are re-evaluated from the extracts' event columns
 * joined to truth/rows.csv. Recording errors are measured by comparing every extract
 * row's identifying fields with the true person in truth/people.csv.
 *
 * Usage: synth_check DIR [--error-rate R --tolerance T]
 * Exit 0 when every check passes, 1 otherwise (each failure is printed). */
#include <csv.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXF 32
#define FIELD_MAX 1024

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    if (failures < 30) {
        va_list ap;
        va_start(ap, fmt);
        fputs("FAIL: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    failures++;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("strdup");
        exit(2);
    }
    return d;
}

/* ---- independent identifier checks ---- */

static bool nhs_valid(const char *s)
{
    if (strlen(s) != 10)
        return false;
    int sum = 0;
    for (int i = 0; i < 10; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    for (int i = 0; i < 9; i++)
        sum += (s[i] - '0') * (10 - i);
    int r = 11 - (sum % 11);
    if (r == 11)
        r = 0;
    return r != 10 && r == s[9] - '0';
}

static bool upn_valid(const char *s)
{
    static const char *table = "ABCDEFGHJKLMNPQRTUVWXYZ";
    if (strlen(s) != 13)
        return false;
    int sum = 0;
    for (int i = 1; i < 13; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        sum += (s[i] - '0') * (i + 1);
    }
    return s[0] == table[sum % 23];
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool nino_valid(const char *s)
{
    if (strlen(s) != 9)
        return false;
    if (!is_upper(s[0]) || !is_upper(s[1]) || strchr("DFIQUV", s[0]) || strchr("DFIOQUV", s[1]))
        return false;
    static const char *bad[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    for (int i = 0; i < 7; i++)
        if (strncmp(s, bad[i], 2) == 0)
            return false;
    for (int i = 2; i < 8; i++)
        if (!is_digit(s[i]))
            return false;
    return s[8] >= 'A' && s[8] <= 'D';
}

/* UK postcode: outward A9 | A99 | AA9 | AA99 | A9A | AA9A, space, inward 9AA. */
static bool postcode_valid(const char *s)
{
    const char *sp = strchr(s, ' ');
    if (!sp || strlen(sp + 1) != 3)
        return false;
    const char *in = sp + 1;
    if (!is_digit(in[0]) || !is_upper(in[1]) || !is_upper(in[2]) || strchr("CIKMOV", in[1]) ||
        strchr("CIKMOV", in[2]))
        return false;
    size_t n = (size_t)(sp - s);
    if (n < 2 || n > 4 || !is_upper(s[0]) || strchr("QVX", s[0]))
        return false;
    size_t i = 1;
    if (is_upper(s[1])) {
        if (strchr("IJZ", s[1]))
            return false;
        i = 2;
    }
    if (i >= n || !is_digit(s[i]))
        return false;
    i++;
    if (i < n && (is_digit(s[i]) || is_upper(s[i])))
        i++;
    return i == n;
}

/* ---- CSV reading ---- */

#include "table_reader.h"
    read_table(path, t, buf, len);
    free(buf);
}

/* ---- truth ---- */

typedef struct person {
    long hh;
    char *fore, *sur, *dob, *nhs, *upn, *nino, *uprn, *addr, *pc, *loc;
} person;

typedef struct hhold {
    int size, members;
    int flags[7];
    int p1, p2;
    int recomputed;
    bool seen;
} hhold;

static person *people;
static long npeople;
static hhold *hh;
static long nhh;

static void on_person(table_reader *t, void *arg)
{
    (void)arg;
    long id = atol(t->f[0]);
    if (id != npeople + 1) {
        fail("people.csv: person ids not consecutive at %ld", id);
        return;
    }
    person *p = &people[npeople++];
    p->hh = atol(t->f[1]);
    p->fore = xstrdup(fld(t, col(t, "forename")));
    p->sur = xstrdup(fld(t, col(t, "surname")));
    p->dob = xstrdup(fld(t, col(t, "dob")));
    p->nhs = xstrdup(fld(t, col(t, "nhs")));
    p->upn = xstrdup(fld(t, col(t, "upn")));
    p->nino = xstrdup(fld(t, col(t, "nino")));
    p->uprn = xstrdup(fld(t, col(t, "uprn")));
    p->addr = xstrdup(fld(t, col(t, "address_line_1")));
    p->pc = xstrdup(fld(t, col(t, "postcode")));
    p->loc = xstrdup(fld(t, col(t, "locality")));
    if (!nhs_valid(p->nhs))
        fail("people.csv: invalid NHS number %s", p->nhs);
    if (p->upn[0] && !upn_valid(p->upn))
        fail("people.csv: invalid UPN %s", p->upn);
    if (p->nino[0] && !nino_valid(p->nino))
        fail("people.csv: invalid NI number %s", p->nino);
    if (!postcode_valid(p->pc))
        fail("people.csv: invalid postcode '%s'", p->pc);
    const char *prev = fld(t, col(t, "previous_postcode"));
    if (!postcode_valid(prev))
        fail("people.csv: invalid previous postcode '%s'", prev);
}

static const char *const problem_cols[7] = {
    "crime_asb",      "education", "school_attendance", "worklessness", "children_need_help",
    "domestic_abuse", "health"};

static void on_household(table_reader *t, void *arg)
{
    (void)arg;
    long id = atol(t->f[0]);
    if (id != nhh + 1) {
        fail("households.csv: ids not consecutive at %ld", id);
        return;
    }
    hhold *h = &hh[nhh++];
    h->size = atoi(fld(t, col(t, "size")));
    for (int i = 0; i < 7; i++)
        h->flags[i] = atoi(fld(t, col(t, problem_cols[i])));
    h->p1 = atoi(fld(t, col(t, "phase1")));
    h->p2 = atoi(fld(t, col(t, "phase2")));
}

/* record ref -> (person, household, errors) */
typedef struct rowinfo {
    char *ref;
    long person, hh;
    bool has_error;
    bool seen;
    char file[24];
} rowinfo;

static rowinfo *rows;
static size_t nrows, cap_rows, *hash;
static size_t hash_cap;

static uint64_t hstr(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static rowinfo *find_row(const char *ref)
{
    size_t i = hstr(ref) & (hash_cap - 1);
    while (hash[i]) {
        if (strcmp(rows[hash[i] - 1].ref, ref) == 0)
            return &rows[hash[i] - 1];
        i = (i + 1) & (hash_cap - 1);
    }
    return NULL;
}

static void on_truth_row(table_reader *t, void *arg)
{
    (void)arg;
    if (nrows == cap_rows) {
        cap_rows = cap_rows ? cap_rows * 2 : 1024;
        rows = realloc(rows, cap_rows * sizeof *rows);
        if (!rows)
            exit(2);
    }
    rowinfo *r = &rows[nrows];
    memset(r, 0, sizeof *r);
    snprintf(r->file, sizeof r->file, "%s", t->f[0]);
    r->ref = xstrdup(t->f[1]);
    r->person = atol(t->f[2]);
    r->hh = atol(t->f[3]);
    r->has_error = t->f[4][0] != '\0';
    if (r->person < 1 || r->person > npeople)
        fail("rows.csv: %s names unknown person %ld", r->ref, r->person);
    else if (people[r->person - 1].hh != r->hh)
        fail("rows.csv: %s household %ld but person %ld lives in %ld", r->ref, r->hh, r->person,
             people[r->person - 1].hh);
    if (find_row(r->ref))
        fail("rows.csv: duplicate record ref %s", r->ref);
    nrows++;
    size_t i = hstr(r->ref) & (hash_cap - 1);
    while (hash[i])
        i = (i + 1) & (hash_cap - 1);
    hash[i] = nrows;
}

/* ---- extracts ---- */

enum { D_DMY_SLASH, D_ISO, D_ISO_T, D_DMY_DASH };

typedef struct spec {
    const char *file;
    bool bom, crlf;
    int dfmt;
    const char *header;
    const char *id_col; /* strong identifier column or NULL */
    char id_kind;       /* 'N' NHS (maybe spaced), 'U' UPN, 'I' NINO, 'R' UPRN */
    bool id_optional;   /* agency often lacks it (not an error) */
    const char *fore, *sur, *dob, *addr, *pc;
    bool addr_with_locality;
} spec;

static const spec specs[] = {
    {"police.csv", false, true, D_DMY_SLASH,
     "Police Ref,Surname,Forename,Date of Birth,Address Line 1,Postcode,Incident Type,Role,"
     "Incident Date,Consent,Consent Date,Legal Basis",
     NULL, 0, false, "Forename", "Surname", "Date of Birth", "Address Line 1", "Postcode", false},
    {"education.csv", true, false, D_ISO,
     "Pupil Ref,UPN,Legal Forename,Legal Surname,DOB,Address1,Postcode,Term Start,Term End,"
     "Sessions Possible,Sessions Attended,Unauthorised Absence Sessions,Fixed Term Exclusions,"
     "Permanent Exclusion,Consent,Consent Date,Legal Basis",
     "UPN", 'U', false, "Legal Forename", "Legal Surname", "DOB", "Address1", "Postcode", false},
    {"dwp.csv", false, false, D_ISO_T,
     "CLAIM_REF,NINO,FORENAME,SURNAME,DOB,ADDRESS_LINE_1,POSTCODE,BENEFIT_TYPE,CLAIM_START,"
     "CLAIM_END,CONSENT,CONSENT_DATE,LEGAL_BASIS",
     "NINO", 'I', false, "FORENAME", "SURNAME", "DOB", "ADDRESS_LINE_1", "POSTCODE", false},
    {"social_care.csv", false, true, D_DMY_SLASH,
     "Case Ref,NHS Number,First Name,Last Name,Date of Birth,Address,Postcode,Plan Type,"
     "Plan Start,Plan End,Family Ref,Consent,Consent Date,Legal Basis",
     "NHS Number", 'N', true, "First Name", "Last Name", "Date of Birth", "Address", "Postcode",
     true},
    {"yos.csv", false, false, D_DMY_DASH,
     "YOT Ref,Forename,Surname,DOB,Postcode,Outcome Type,Outcome Date,Consent,Consent Date,"
     "Legal Basis",
     NULL, 0, false, "Forename", "Surname", "DOB", NULL, "Postcode", false},
    {"housing.csv", false, true, D_ISO,
     "Tenancy Ref,UPRN,Tenant Forename,Tenant Surname,Tenant DOB,Address Line 1,Postcode,Action,"
     "Action Date,Consent,Consent Date,Legal Basis",
     "UPRN", 'R', false, "Tenant Forename", "Tenant Surname", "Tenant DOB", "Address Line 1",
     "Postcode", false},
    {"health.csv", false, false, D_DMY_SLASH,
     "Episode ID,NHS No,Forename,Surname,DOB,Address 1,Postcode,Treatment,Referral Date,"
     "Consent,Consent Date,Legal Basis",
     "NHS No", 'N', true, "Forename", "Surname", "DOB", "Address 1", "Postcode", false},
};
#define NSPECS (sizeof specs / sizeof specs[0])

/* Parse an agency date (time part ignored) into days since 1970-01-01; -1 if bad. */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static long parse_date(const char *s, int fmt)
{
    int y, m, d;
    char sep;
    if (fmt == D_ISO || fmt == D_ISO_T) {
        if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
            return -1;
    } else {
        if (sscanf(s, "%2d%c%2d%c%4d", &d, &sep, &m, &sep, &y) != 5)
            return -1;
    }
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    return days_from_civil(y, m, d);
}

static void format_dob(const char *iso, int fmt, char *out, size_t cap)
{
    int y, m, d;
    if (sscanf(iso, "%4d-%2d-%2d", &y, &m, &d) != 3) {
        snprintf(out, cap, "?");
        return;
    }
    switch (fmt) {
    case D_DMY_SLASH:
        snprintf(out, cap, "%02d/%02d/%04d", d, m, y);
        break;
    case D_DMY_DASH:
        snprintf(out, cap, "%02d-%02d-%04d", d, m, y);
        break;
    case D_ISO_T:
        snprintf(out, cap, "%04d-%02d-%02dT00:00:00", y, m, d);
        break;
    default:
        snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
    }
}

typedef struct extract_state {
    const spec *s;
    long A, lo;
    long rows, differing, flagged, checked_ids;
    /* education sums per person for the current file */
    long *possible, *attended, *unauth, *fte;
    bool *perm;
} extract_state;

static void set_problem(long hhid, int bit)
{
    hh[hhid - 1].recomputed |= 1 << bit;
}

static void on_extract_row(table_reader *t, void *arg)
{
    extract_state *st = arg;
    const spec *s = st->s;
    rowinfo *r = find_row(t->f[0]);
    st->rows++;
    if (!r) {
        fail("%s: record ref %s not in truth/rows.csv", s->file, t->f[0]);
        return;
    }
    if (strcmp(r->file, s->file) != 0)
        fail("%s: ref %s is listed for %s", s->file, r->ref, r->file);
    if (r->seen)
        fail("%s: ref %s appears twice", s->file, r->ref);
    r->seen = true;
    if (r->person < 1 || r->person > npeople)
        return;
    const person *p = &people[r->person - 1];

    /* identifiers */
    bool differs = false;
    if (s->id_col) {
        char id[64];
        const char *raw = fld(t, col(t, s->id_col));
        size_t k = 0;
        for (const char *q = raw; *q && k + 1 < sizeof id; q++)
            if (*q != ' ' || s->id_kind != 'N')
                id[k++] = *q;
        id[k] = '\0';
        if (s->id_kind == 'N' && raw[0] && strcmp(s->file, "social_care.csv") == 0 &&
            (strlen(raw) != 12 || raw[3] != ' ' || raw[7] != ' '))
            fail("%s: NHS number not formatted '999 999 9999': '%s'", s->file, raw);
        if (s->id_kind == 'N' && id[0] && !nhs_valid(id))
            fail("%s: invalid NHS number %s", s->file, id);
        if (s->id_kind == 'U' && id[0] && !upn_valid(id))
            fail("%s: invalid UPN %s", s->file, id);
        if (s->id_kind == 'I' && id[0] && !nino_valid(id))
            fail("%s: invalid NINO %s", s->file, id);
        const char *truth = s->id_kind == 'N'   ? p->nhs
                            : s->id_kind == 'U' ? p->upn
                            : s->id_kind == 'I' ? p->nino
                                                : p->uprn;
        if (id[0])
            st->checked_ids++;
        if (strcmp(id, truth) != 0 && !(s->id_optional && !id[0] && !r->has_error))
            differs = true;
    }
    char dob[32];
    format_dob(p->dob, s->dfmt, dob, sizeof dob);
    if (strcmp(fld(t, col(t, s->fore)), p->fore) || strcmp(fld(t, col(t, s->sur)), p->sur) ||
        strcmp(fld(t, col(t, s->dob)), dob) || strcmp(fld(t, col(t, s->pc)), p->pc))
        differs = true;
    if (s->addr) {
        char addr[512];
        if (s->addr_with_locality)
            snprintf(addr, sizeof addr, "%s, %s", p->addr, p->loc);
        else
            snprintf(addr, sizeof addr, "%s", p->addr);
        if (strcmp(fld(t, col(t, s->addr)), addr) != 0)
            differs = true;
    }
    const char *pc = fld(t, col(t, s->pc));
    if (pc[0] && !postcode_valid(pc))
        fail("%s: invalid postcode '%s'", s->file, pc);
    if (differs && !r->has_error)
        fail("%s: ref %s differs from the truth but is not flagged as an error", s->file, r->ref);
    if (!differs && r->has_error)
        fail("%s: ref %s is flagged as an error but matches the truth", s->file, r->ref);
    st->differing += differs;
    st->flagged += r->has_error;

    /* consent and legal basis */
    bool upper = strcmp(s->file, "dwp.csv") == 0;
    const char *consent = fld(t, col(t, upper ? "CONSENT" : "Consent"));
    const char *cdate = fld(t, col(t, upper ? "CONSENT_DATE" : "Consent Date"));
    const char *lb = fld(t, col(t, upper ? "LEGAL_BASIS" : "Legal Basis"));
    static const char *cv[] = {"given", "refused", "not sought", "withdrawn"};
    int ci = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(consent, cv[i]) == 0 || (r->has_error && strcasecmp(consent, cv[i]) == 0))
            ci = i;
    if (ci < 0)
        fail("%s: bad consent '%s'", s->file, consent);
    if ((ci == 2) != (cdate[0] == '\0'))
        fail("%s: consent date '%s' inconsistent with '%s'", s->file, cdate, consent);
    if (cdate[0] && parse_date(cdate, s->dfmt) < 0)
        fail("%s: bad consent date '%s'", s->file, cdate);
    if (lb[0] && strcmp(lb, "safeguarding") != 0)
        fail("%s: bad legal basis '%s'", s->file, lb);

    /* events -> problems, re-evaluated here from the extract columns */
    long hid = r->hh;
    if (strcmp(s->file, "police.csv") == 0) {
        const char *type = fld(t, col(t, "Incident Type")), *role = fld(t, col(t, "Role"));
        const char *when = fld(t, col(t, "Incident Date"));
        long d = parse_date(when, D_DMY_SLASH);
        if (strlen(when) != 16 || when[10] != ' ' || when[13] != ':')
            fail("police.csv: bad incident datetime '%s'", when);
        bool inwin = d >= st->lo && d <= st->A;
        if (inwin && (!strcmp(type, "CRIME") || !strcmp(type, "ASB")) &&
            (!strcmp(role, "SUSPECT") || !strcmp(role, "OFFENDER")))
            set_problem(hid, 0);
        if (inwin && !strcmp(type, "DOMESTIC ABUSE"))
            set_problem(hid, 5);
    } else if (strcmp(s->file, "yos.csv") == 0) {
        long d = parse_date(fld(t, col(t, "Outcome Date")), D_DMY_DASH);
        if (d >= st->lo && d <= st->A)
            set_problem(hid, 0);
    } else if (strcmp(s->file, "housing.csv") == 0) {
        long d = parse_date(fld(t, col(t, "Action Date")), D_ISO);
        if (d >= st->lo && d <= st->A)
            set_problem(hid, 0);
    } else if (strcmp(s->file, "dwp.csv") == 0) {
        const char *b = fld(t, col(t, "BENEFIT_TYPE"));
        long start = parse_date(fld(t, col(t, "CLAIM_START")), D_ISO_T);
        const char *e = fld(t, col(t, "CLAIM_END"));
        long end = e[0] ? parse_date(e, D_ISO_T) : -1;
        /* the out-of-work codes of the shipped agreements' worklessness indicator */
        bool oow = !strcmp(b, "UC_NOT_WORKING") || !strcmp(b, "JSA") || !strcmp(b, "ESA") ||
                   !strcmp(b, "IS");
        if (oow && start <= st->A && (!e[0] || end >= st->lo))
            set_problem(hid, 3);
    } else if (strcmp(s->file, "social_care.csv") == 0) {
        const char *plan = fld(t, col(t, "Plan Type"));
        long start = parse_date(fld(t, col(t, "Plan Start")), D_DMY_SLASH);
        const char *e = fld(t, col(t, "Plan End"));
        long end = e[0] ? parse_date(e, D_DMY_SLASH) : -1;
        if ((!strcmp(plan, "CIN") || !strcmp(plan, "CP")) && start <= st->A &&
            (!e[0] || end >= st->lo))
            set_problem(hid, 4);
    } else if (strcmp(s->file, "health.csv") == 0) {
        long d = parse_date(fld(t, col(t, "Referral Date")), D_DMY_SLASH);
        if (d >= st->lo && d <= st->A)
            set_problem(hid, 6);
    } else if (strcmp(s->file, "education.csv") == 0) {
        long i = r->person - 1;
        long tend = parse_date(fld(t, col(t, "Term End")), D_ISO);
        if (tend < st->lo || tend > st->A || !fld(t, col(t, "Sessions Possible"))[0])
            return; /* the legacy rules sum the last three terms' rows with sessions */
        st->possible[i] += atol(fld(t, col(t, "Sessions Possible")));
        st->attended[i] += atol(fld(t, col(t, "Sessions Attended")));
        st->unauth[i] += atol(fld(t, col(t, "Unauthorised Absence Sessions")));
        st->fte[i] += atol(fld(t, col(t, "Fixed Term Exclusions")));
        if (!strcmp(fld(t, col(t, "Permanent Exclusion")), "Y"))
            st->perm[i] = true;
    }
}

static void check_line_endings(const spec *s, const char *buf, size_t len)
{
    bool bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0;
    if (bom != s->bom)
        fail("%s: BOM %s", s->file, s->bom ? "missing" : "unexpected");
    size_t lf = 0, crlf = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') {
            lf++;
            if (i > 0 && buf[i - 1] == '\r')
                crlf++;
        }
    if (s->crlf ? crlf != lf : crlf != 0)
        fail("%s: line endings are not all %s", s->file, s->crlf ? "CRLF" : "LF");
}

static void check_extract(const char *dir, const spec *s, long A, long *rows_total,
                          long *diff_total, long *flag_total)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf)
        return;
    check_line_endings(s, buf, len);
    size_t off = s->bom && len >= 3 ? 3 : 0;
    const char *eol = strchr(buf + off, s->crlf ? '\r' : '\n');
    size_t hl = strlen(s->header);
    if (!eol || (size_t)(eol - (buf + off)) < hl || strncmp(buf + off, s->header, hl) != 0)
        fail("%s: header does not start with the fixed columns", s->file);
    extract_state st = {.s = s, .A = A, .lo = A - 364};
    if (strcmp(s->file, "education.csv") == 0) {
        st.possible = calloc((size_t)npeople, sizeof(long));
        st.attended = calloc((size_t)npeople, sizeof(long));
        st.unauth = calloc((size_t)npeople, sizeof(long));
        st.fte = calloc((size_t)npeople, sizeof(long));
        st.perm = calloc((size_t)npeople, sizeof(bool));
    }
    table_reader t = {.on_row = on_extract_row, .arg = &st};
    read_table(path, &t, buf + off, len - off);
    free(buf);
    if (st.possible) {
        for (long i = 0; i < npeople; i++) {
            if (!st.possible[i])
                continue;
            long hid = people[i].hh;
            bool base = st.perm[i] || st.fte[i] >= 3;
            if (base || st.unauth[i] * 100 >= st.possible[i] * 15)
                set_problem(hid, 1);
            if (base || st.attended[i] * 100 < st.possible[i] * 90)
                set_problem(hid, 2);
        }
        free(st.possible);
        free(st.attended);
        free(st.unauth);
        free(st.fte);
        free(st.perm);
    }
    printf("%-16s rows %7ld  differing %6ld (%.3f%%)  ids present %ld\n", s->file, st.rows,
           st.differing, st.rows ? 100.0 * (double)st.differing / (double)st.rows : 0.0,
           st.checked_ids);
    *rows_total += st.rows;
    *diff_total += st.differing;
    *flag_total += st.flagged;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct elig_state {
    int phase;
} elig_state;

static void on_eligible(table_reader *t, void *arg)
{
    elig_state *e = arg;
    long id = atol(t->f[0]);
    if (id < 1 || id > nhh) {
        fail("eligible_phase%d.csv: unknown household %ld", e->phase, id);
        return;
    }
    hh[id - 1].seen = true;
    if ((e->phase == 1 ? hh[id - 1].p1 : hh[id - 1].p2) != 1)
        fail("eligible_phase%d.csv: household %ld listed but not flagged", e->phase, id);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: synth_check DIR [--error-rate R --tolerance T]\n");
        return 2;
    }
    const char *dir = argv[1];
    double want = -1, tol = 0.005;
    const char *as_of = "2026-10-31";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--error-rate"))
            want = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tolerance"))
            tol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--as-of"))
            as_of = argv[i + 1];
    }
    long A = parse_date(as_of, D_ISO);
    char truth[4096];
    snprintf(truth, sizeof truth, "%s/truth", dir);

    /* sizes from summary.txt */
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.txt", truth);
    FILE *f = fopen(path, "r");
    long s_people = -1, s_hh = -1, s_e1 = -1, s_e2 = -1;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "people: %ld", &s_people);
            sscanf(line, "households: %ld", &s_hh);
            sscanf(line, "eligible.phase1: %ld", &s_e1);
            sscanf(line, "eligible.phase2: %ld", &s_e2);
        }
        fclose(f);
    }
    if (s_people <= 0 || s_hh <= 0) {
        fail("summary.txt missing or without counts");
        return 1;
    }
    people = calloc((size_t)s_people, sizeof *people);
    hh = calloc((size_t)s_hh, sizeof *hh);
    hash_cap = 1;
    while (hash_cap < (size_t)s_people * 4 + 1024)
        hash_cap <<= 1;
    hash = calloc(hash_cap, sizeof *hash);

    table_reader tp = {.on_row = on_person};
    read_file(truth, "people.csv", &tp);
    table_reader th = {.on_row = on_household};
    read_file(truth, "households.csv", &th);
    if (npeople != s_people || nhh != s_hh)
        fail("summary counts (%ld people, %ld households) differ from files (%ld, %ld)", s_people,
             s_hh, npeople, nhh);
    for (long i = 0; i < npeople; i++) {
        if (people[i].hh < 1 || people[i].hh > nhh)
            fail("person %ld in unknown household %ld", i + 1, people[i].hh);
        else
            hh[people[i].hh - 1].members++;
    }
    for (long i = 0; i < nhh; i++)
        if (hh[i].members != hh[i].size || hh[i].members == 0)
            fail("household %ld: size %d but %d members", i + 1, hh[i].size, hh[i].members);

    /* identifiers unique */
    for (int k = 0; k < 3; k++) {
        char **v = malloc((size_t)npeople * sizeof *v);
        long n = 0;
        for (long i = 0; i < npeople; i++) {
            char *x = k == 0 ? people[i].nhs : k == 1 ? people[i].upn : people[i].nino;
            if (x[0])
                v[n++] = x;
        }
        qsort(v, (size_t)n, sizeof *v, cmpstr);
        for (long i = 1; i < n; i++)
            if (strcmp(v[i - 1], v[i]) == 0)
                fail("identifier %s given to two people", v[i]);
        free(v);
    }

    table_reader tr = {.on_row = on_truth_row};
    read_file(truth, "rows.csv", &tr);

    long rows_total = 0, diff_total = 0, flag_total = 0;
    for (size_t i = 0; i < NSPECS; i++)
        check_extract(dir, &specs[i], A, &rows_total, &diff_total, &flag_total);
    for (size_t i = 0; i < nrows; i++)
        if (!rows[i].seen)
            fail("rows.csv: %s (%s) not found in the extract", rows[i].ref, rows[i].file);

    /* ground-truth rules */
    long mismatch = 0, e1 = 0, e2 = 0;
    static const int p1[] = {0, 1, 3}, p2[] = {0, 2, 4, 3, 5, 6};
    for (long i = 0; i < nhh; i++) {
        int flags = 0, k1 = 0, k2 = 0;
        for (int b = 0; b < 7; b++)
            flags |= hh[i].flags[b] << b;
        if (flags != hh[i].recomputed && mismatch++ < 10)
            fail("household %ld: truth problems %#x, recomputed from extracts %#x", i + 1, flags,
                 hh[i].recomputed);
        for (int j = 0; j < 3; j++)
            k1 += (hh[i].recomputed >> p1[j]) & 1;
        for (int j = 0; j < 6; j++)
            k2 += (hh[i].recomputed >> p2[j]) & 1;
        if ((k1 >= 2) != hh[i].p1 || (k2 >= 2) != hh[i].p2)
            fail("household %ld: phase flags disagree with recomputed rule", i + 1);
        e1 += k1 >= 2;
        e2 += k2 >= 2;
    }
    for (int ph = 1; ph <= 2; ph++) {
        for (long i = 0; i < nhh; i++)
            hh[i].seen = false;
        elig_state es = {ph};
        table_reader te = {.on_row = on_eligible, .arg = &es};
        char name[64];
        snprintf(name, sizeof name, "eligible_phase%d.csv", ph);
        read_file(truth, name, &te);
        for (long i = 0; i < nhh; i++)
            if ((ph == 1 ? hh[i].p1 : hh[i].p2) && !hh[i].seen)
                fail("%s: household %ld missing", name, i + 1);
    }
    if (e1 != s_e1 || e2 != s_e2)
        fail("summary eligible counts %ld/%ld, recomputed %ld/%ld", s_e1, s_e2, e1, e2);

    double measured = rows_total ? (double)diff_total / (double)rows_total : 0;
    printf("people %ld households %ld rows %ld eligible phase1 %ld phase2 %ld\n", npeople, nhh,
           rows_total, e1, e2);
    printf("measured row error rate %.4f (flagged %ld)\n", measured, flag_total);
    if (want >= 0 && (measured < want - tol || measured > want + tol))
        fail("measured error rate %.4f outside %.4f +/- %.4f", measured, want, tol);
    for (long i = 0; i < npeople; i++) {
        person *p = &people[i];
        char *strs[] = {p->fore, p->sur,  p->dob,  p->nhs, p->upn,
                        p->nino, p->uprn, p->addr, p->pc,  p->loc};
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
            free(strs[k]);
    }
    for (size_t i = 0; i < nrows; i++)
        free(rows[i].ref);
    free(rows);
    free(hash);
    free(people);
    free(hh);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
