/*
 * Name and address-line folding, first-token helper, date parsing by format.
 *
 * The folding pipeline is shared by names and address lines: utf8proc does the Unicode
 * work (validation, NFKD, case folding, default-ignorables), and one pass here decides
 * per code point whether it is kept, rewritten, deleted or turned into a word break.
 * The reasons for each rule are in docs/normalise.md.
 */
#include "exchange/normalise.h"

#include "exchange/date.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- output buffer ------------------------------------------------------------ */

typedef struct outbuf {
    char *p;
    size_t cap;
    size_t n;
    int overflow;
} outbuf;

static void ob_put(outbuf *o, const char *s, size_t n)
{
    if (o->overflow || o->n + n + 1 > o->cap) {
        o->overflow = 1;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void set_empty(char *out, size_t cap)
{
    if (out && cap > 0)
        out[0] = '\0';
}

/* ---- code point classes ---------------------------------------------------------- */

/*
 * Combining marks that are diacritics on Latin, Greek and Cyrillic letters. Marks of
 * other scripts (Indic vowel signs, Arabic harakat ...) are spelling, not decoration, and
 * are kept.
 */
static int is_diacritic(utf8proc_int32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
           (c >= 0xFE20 && c <= 0xFE2F);
}

static int is_apostrophe(utf8proc_int32_t c)
{
    return c == 0x27 || c == 0x60 || c == 0x2018 || c == 0x2019 || c == 0x201B || c == 0x02BC ||
           c == 0x02BB || c == 0x2032;
}

static int is_hyphen(utf8proc_int32_t c)
{
    return utf8proc_category(c) == UTF8PROC_CATEGORY_PD || c == 0x2212;
}

/*
 * Letters with no Unicode decomposition that people nevertheless write without the
 * stroke when the keyboard lacks it. Input is already case folded, so lower case only.
 * ß is absent: case folding already gives "ss".
 */
static const char *letter_fold(utf8proc_int32_t c)
{
    /* clang-format off */
    switch (c) {
    case 0x00E6: return "ae"; /* æ */
    case 0x00F0: return "d";  /* ð */
    case 0x00F8: return "o";  /* ø */
    case 0x00FE: return "th"; /* þ */
    case 0x0111: return "d";  /* đ */
    case 0x0127: return "h";  /* ħ */
    case 0x0131: return "i";  /* dotless ı */
    case 0x0142: return "l";  /* ł */
    case 0x0153: return "oe"; /* œ */
    case 0x0167: return "t";  /* ŧ */
    default: return NULL;
    }
    /* clang-format on */
}

enum hyphen_mode { HY_DELETE, HY_BREAK };

/*
 * Fold in[0..len) into words separated by single spaces in o. Returns XCHG_FORMAT for
 * invalid UTF-8, NOMEM if utf8proc cannot allocate. o->overflow reports a short buffer.
 */
static xchg_err fold_words(const char *in, size_t len, enum hyphen_mode hy, outbuf *o)
{
    if (len == 0)
        return XCHG_OK;
    if (len > (size_t)(SIZE_MAX / 8) || (utf8proc_ssize_t)len < 0)
        return XCHG_ERR_ARG;
    utf8proc_uint8_t *buf = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &buf,
                                      UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE |
                                          UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    if (n < 0)
        return n == UTF8PROC_ERROR_NOMEM ? XCHG_ERR_NOMEM : XCHG_ERR_FORMAT;

    int pending_break = 0;
    utf8proc_ssize_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(buf + i, n - i, &c);
        if (k <= 0)
            break; /* cannot happen: utf8proc_map produced it */
        const char *rep = NULL;
        size_t replen = 0;
        int cat = utf8proc_category(c);
        if (is_diacritic(c) || is_apostrophe(c) || (hy == HY_DELETE && is_hyphen(c))) {
            /* deleted: joins what is either side */
        } else if ((rep = letter_fold(c)) != NULL) {
            replen = strlen(rep);
        } else if ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO)) {
            /* letters, marks kept above, digits */
            rep = (const char *)buf + i;
            replen = (size_t)k;
        } else {
            pending_break = 1;
        }
        if (replen > 0) {
            if (pending_break && o->n > 0)
                ob_put(o, " ", 1);
            pending_break = 0;
            ob_put(o, rep, replen);
        }
        i += k;
    }
    free(buf);
    return XCHG_OK;
}

/*
 * Recompose o's contents to NFC (kept marks of other scripts, Hangul jamo). The common
 * all-ASCII case needs nothing.
 */
static xchg_err recompose(outbuf *o)
{
    size_t i;
    for (i = 0; i < o->n; i++)
        if ((unsigned char)o->p[i] >= 0x80)
            break;
    if (i == o->n)
        return XCHG_OK;
    utf8proc_uint8_t *buf = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)o->p, (utf8proc_ssize_t)o->n, &buf,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0)
        return n == UTF8PROC_ERROR_NOMEM ? XCHG_ERR_NOMEM : XCHG_ERR_FORMAT;
    o->n = 0;
    ob_put(o, (const char *)buf, (size_t)n);
    free(buf);
    return XCHG_OK;
}

static void remove_spaces(outbuf *o)
{
    size_t j = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->p[i] != ' ')
            o->p[j++] = o->p[i];
    o->n = j;
    o->p[j] = '\0';
}

static xchg_err finish(xchg_err e, outbuf *o)
{
    if (e == XCHG_OK && o->overflow)
        e = XCHG_ERR_ARG;
    if (e != XCHG_OK)
        set_empty(o->p, o->cap);
    return e;
}

static xchg_err check_args(const char *in, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0)
        return XCHG_ERR_ARG;
    out[0] = '\0';
    if (!in && len > 0)
        return XCHG_ERR_ARG;
    return XCHG_OK;
}

xchg_err xchg_norm_name(const char *in, size_t len, xchg_name_form form, char *out, size_t cap)
{
    xchg_err e = check_args(in, len, out, cap);
    if (e != XCHG_OK)
        return e;
    if (form != XCHG_NAME_MATCH && form != XCHG_NAME_PARTS && form != XCHG_NAME_COMPACT)
        return XCHG_ERR_ARG;
    outbuf o = {out, cap, 0, 0};
    e = fold_words(in, len, form == XCHG_NAME_PARTS ? HY_BREAK : HY_DELETE, &o);
    if (e == XCHG_OK)
        e = recompose(&o);
    if (e == XCHG_OK && form == XCHG_NAME_COMPACT)
        remove_spaces(&o);
    return finish(e, &o);
}

static int is_title(const char *w, size_t n)
{
    static const char *const titles[] = {"mr", "mrs", "ms", "miss", "mx", "dr", "master"};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        if (strlen(titles[i]) == n && memcmp(titles[i], w, n) == 0)
            return 1;
    return 0;
}

xchg_err xchg_norm_forename(const char *in, size_t len, xchg_name_form form, char *out, size_t cap)
{
    xchg_err e = check_args(in, len, out, cap);
    if (e != XCHG_OK)
        return e;
    if (form != XCHG_NAME_MATCH && form != XCHG_NAME_PARTS && form != XCHG_NAME_COMPACT)
        return XCHG_ERR_ARG;
    outbuf o = {out, cap, 0, 0};
    /* Titles are found on whole words, so spaces are removed only after stripping. */
    e = fold_words(in, len, form == XCHG_NAME_PARTS ? HY_BREAK : HY_DELETE, &o);
    if (e == XCHG_OK)
        e = recompose(&o);
    if (e == XCHG_OK && !o.overflow) {
        size_t start = 0;
        for (;;) {
            size_t end = start;
            while (end < o.n && o.p[end] != ' ')
                end++;
            if (end == start || !is_title(o.p + start, end - start))
                break;
            start = end < o.n ? end + 1 : end;
        }
        memmove(o.p, o.p + start, o.n - start + 1);
        o.n -= start;
        if (form == XCHG_NAME_COMPACT)
            remove_spaces(&o);
    }
    return finish(e, &o);
}

xchg_err xchg_norm_first_token(const char *norm, int initial_only, char *out, size_t cap)
{
    if (!norm || !out || cap == 0)
        return XCHG_ERR_ARG;
    out[0] = '\0';
    while (*norm == ' ')
        norm++;
    size_t n = 0;
    if (initial_only) {
        if (norm[0] != '\0') {
            /* one UTF-8 sequence: the lead byte and its continuation bytes */
            n = 1;
            while (norm[n] != '\0' && ((unsigned char)norm[n] & 0xC0) == 0x80)
                n++;
        }
    } else {
        while (norm[n] != '\0' && norm[n] != ' ')
            n++;
    }
    if (n + 1 > cap)
        return XCHG_ERR_ARG;
    memcpy(out, norm, n);
    out[n] = '\0';
    return XCHG_OK;
}

/* ---- address lines ------------------------------------------------------------- */

/*
 * Street-type and building abbreviations as written in UK address data, expanded to
 * the full word Royal Mail's PAF uses. "st" is handled separately (street only when
 * last). Kept short on purpose: each entry is a word that is almost never anything else
 * in an address line.
 */
static const struct {
    const char *abbr, *full;
} address_abbr[] = {
    {"apt", "apartment"},  {"av", "avenue"},  {"ave", "avenue"},    {"bldgs", "buildings"},
    {"blvd", "boulevard"}, {"cl", "close"},   {"cres", "crescent"}, {"cresc", "crescent"},
    {"crt", "court"},      {"ct", "court"},   {"dr", "drive"},      {"dri", "drive"},
    {"est", "estate"},     {"gdn", "garden"}, {"gdns", "gardens"},  {"gr", "grove"},
    {"grn", "green"},      {"grv", "grove"},  {"hse", "house"},     {"hts", "heights"},
    {"ln", "lane"},        {"mws", "mews"},   {"pde", "parade"},    {"pk", "park"},
    {"pl", "place"},       {"rd", "road"},    {"sq", "square"},     {"ter", "terrace"},
    {"terr", "terrace"},   {"wlk", "walk"},
};

static const char *address_expand(const char *w, size_t n, int last)
{
    if (n == 2 && memcmp(w, "st", 2) == 0)
        return last ? "street" : NULL;
    for (size_t i = 0; i < sizeof address_abbr / sizeof address_abbr[0]; i++)
        if (strlen(address_abbr[i].abbr) == n && memcmp(address_abbr[i].abbr, w, n) == 0)
            return address_abbr[i].full;
    return NULL;
}

xchg_err xchg_norm_address_line(const char *in, size_t len, char *out, size_t cap)
{
    xchg_err e = check_args(in, len, out, cap);
    if (e != XCHG_OK)
        return e;
    if (len > SIZE_MAX / 32)
        return XCHG_ERR_ARG;
    /* Fold into a scratch buffer, then copy word by word with expansions. */
    size_t scap = len * 4 + 16;
    char *scratch = malloc(scap);
    if (!scratch)
        return XCHG_ERR_NOMEM;
    outbuf s = {scratch, scap, 0, 0};
    scratch[0] = '\0';
    outbuf o = {out, cap, 0, 0};
    e = fold_words(in, len, HY_BREAK, &s);
    if (e == XCHG_OK)
        e = recompose(&s);
    if (e == XCHG_OK && s.overflow) {
        /* Unicode expansion beyond 4x: retry once with the worst-case bound. */
        free(scratch);
        scap = len * 18 + 16;
        scratch = malloc(scap);
        if (!scratch)
            return XCHG_ERR_NOMEM;
        s = (outbuf){scratch, scap, 0, 0};
        scratch[0] = '\0';
        e = fold_words(in, len, HY_BREAK, &s);
        if (e == XCHG_OK)
            e = recompose(&s);
        if (e == XCHG_OK && s.overflow)
            e = XCHG_ERR_ARG;
    }
    if (e == XCHG_OK) {
        size_t i = 0;
        while (i < s.n) {
            size_t j = i;
            while (j < s.n && s.p[j] != ' ')
                j++;
            const char *full = address_expand(s.p + i, j - i, j >= s.n);
            if (o.n > 0)
                ob_put(&o, " ", 1);
            if (full)
                ob_put(&o, full, strlen(full));
            else
                ob_put(&o, s.p + i, j - i);
            i = j + 1;
        }
    }
    free(scratch);
    return finish(e, &o);
}

static int word_is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

static xchg_err copy_word(const char *w, size_t n, char *dst, size_t cap)
{
    if (n + 1 > cap)
        return XCHG_ERR_ARG;
    memcpy(dst, w, n);
    dst[n] = '\0';
    return XCHG_OK;
}

xchg_err xchg_norm_address_numbers(const char *norm, char *flat, size_t flat_cap, char *house,
                                   size_t house_cap)
{
    if (!norm || !flat || !house || flat_cap < 2 || house_cap < 2)
        return XCHG_ERR_ARG;
    flat[0] = house[0] = '\0';
    int have_flat = 0, have_house = 0, after_flat_word = 0;
    const char *p = norm;
    xchg_err e = XCHG_OK;
    while (*p && e == XCHG_OK) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t n = (size_t)(p - w);
        if (n == 0)
            break;
        if (after_flat_word) {
            after_flat_word = 0;
            if (!have_flat) {
                e = copy_word(w, n, flat, flat_cap);
                have_flat = 1;
                continue;
            }
        }
        if (word_is(w, n, "flat") || word_is(w, n, "apartment") || word_is(w, n, "apt") ||
            word_is(w, n, "unit")) {
            after_flat_word = 1;
        } else if (!have_house && w[0] >= '0' && w[0] <= '9') {
            e = copy_word(w, n, house, house_cap);
            have_house = 1;
        }
    }
    if (e != XCHG_OK)
        flat[0] = house[0] = '\0';
    return e;
}

/* ---- dates -------------------------------------------------------------------- */

/* Read 1..maxd digits (at least mind) at s[*i]; advance *i. */
static int read_num(const char *s, size_t len, size_t *i, int mind, int maxd, int *v)
{
    int n = 0, val = 0;
    while (*i < len && n < maxd && s[*i] >= '0' && s[*i] <= '9') {
        val = val * 10 + (s[*i] - '0');
        (*i)++;
        n++;
    }
    if (n < mind)
        return 0;
    *v = val;
    return 1;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * Parse with one format. *reached is how far into s the parse got (len for range
 * errors found after reading everything), used to pick the best failure reason.
 */
static xchg_err parse_one(const char *s, size_t len, const char *fmt, int pivot, int32_t *days,
                          const char **reason, size_t *reached)
{
    int y = -1, m = -1, d = -1, hh = 0, mi = 0, ss = 0, yy = -1;
    int have_time[3] = {0, 0, 0};
    size_t i = 0;
    *reached = 0;
    for (const char *f = fmt; *f; f++) {
        *reached = i;
        if (*f != '%') {
            if (i >= len || s[i] != *f) {
                *reason = i >= len ? "date ends early" : "separator or literal does not match";
                return XCHG_ERR_FORMAT;
            }
            i++;
            continue;
        }
        f++;
        int ok = 1;
        switch (*f) {
        case 'd':
            ok = read_num(s, len, &i, 1, 2, &d);
            *reason = "expected a 1-2 digit day";
            break;
        case 'm':
            ok = read_num(s, len, &i, 1, 2, &m);
            *reason = "expected a 1-2 digit month";
            break;
        case 'Y':
            ok = read_num(s, len, &i, 4, 4, &y);
            *reason = "expected a 4-digit year";
            break;
        case 'y':
            ok = read_num(s, len, &i, 2, 2, &yy);
            *reason = "expected a 2-digit year";
            break;
        case 'H':
            ok = read_num(s, len, &i, 1, 2, &hh);
            have_time[0] = 1;
            *reason = "expected a 1-2 digit hour";
            break;
        case 'M':
            ok = read_num(s, len, &i, 1, 2, &mi);
            have_time[1] = 1;
            *reason = "expected 1-2 digit minutes";
            break;
        case 'S':
            ok = read_num(s, len, &i, 1, 2, &ss);
            have_time[2] = 1;
            *reason = "expected 1-2 digit seconds";
            break;
        case '%':
            ok = i < len && s[i] == '%';
            i += ok;
            *reason = "literal '%' does not match";
            break;
        default:
            *reason = "unsupported conversion in date format";
            return XCHG_ERR_ARG;
        }
        if (!ok)
            return XCHG_ERR_FORMAT;
    }
    if (i != len) {
        *reached = i;
        *reason = "unexpected characters after the date";
        return XCHG_ERR_FORMAT;
    }
    *reached = len + 1; /* the whole layout matched: a range error is the best reason */
    if (d < 0 || m < 0 || (y < 0 && yy < 0)) {
        *reason = "date format lacks a day, month or year";
        return XCHG_ERR_ARG;
    }
    if (yy >= 0) {
        if (pivot <= 0) {
            *reason = "two-digit year and no pivot year given";
            return XCHG_ERR_FORMAT;
        }
        y = pivot - ((pivot % 100 - yy + 100) % 100);
    }
    if (have_time[0] && hh > 23) {
        *reason = "hour out of range (0-23)";
        return XCHG_ERR_FORMAT;
    }
    if ((have_time[1] && mi > 59) || (have_time[2] && ss > 59)) {
        *reason = "minutes or seconds out of range (0-59)";
        return XCHG_ERR_FORMAT;
    }
    if (m < 1 || m > 12) {
        *reason = "month out of range (1-12)";
        return XCHG_ERR_FORMAT;
    }
    if (d < 1 || d > 31) {
        *reason = "day out of range (1-31)";
        return XCHG_ERR_FORMAT;
    }
    if (m == 2 && d == 29 && !is_leap(y)) {
        *reason = "29 February in a year that is not a leap year";
        return XCHG_ERR_FORMAT;
    }
    if ((m == 2 && d > 29) || (d == 31 && (m == 4 || m == 6 || m == 9 || m == 11))) {
        *reason = "day does not exist in that month";
        return XCHG_ERR_FORMAT;
    }
    if (y < 1800) {
        *reason = "year before 1800";
        return XCHG_ERR_FORMAT;
    }
    int32_t v;
    if (xchg_date_from_ymd(y, m, d, &v) != XCHG_OK) {
        *reason = "impossible date";
        return XCHG_ERR_FORMAT;
    }
    *days = v;
    *reason = NULL;
    return XCHG_OK;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r' ||
                        (*s)[*len - 1] == '\n'))
        (*len)--;
}

xchg_err xchg_norm_date(const char *s, size_t len, const char *fmt, int pivot_year, int32_t *days,
                        const char **reason)
{
    const char *dummy;
    if (!reason)
        reason = &dummy;
    *reason = "invalid argument";
    if ((!s && len > 0) || !fmt || !days)
        return XCHG_ERR_ARG;
    if (!s)
        s = "";
    trim(&s, &len);
    size_t reached;
    return parse_one(s, len, fmt, pivot_year, days, reason, &reached);
}

xchg_err xchg_norm_date_any(const char *s, size_t len, const char *const *fmts, size_t nfmts,
                            int pivot_year, int32_t *days, size_t *which, const char **reason)
{
    const char *dummy;
    if (!reason)
        reason = &dummy;
    *reason = "invalid argument";
    if ((!s && len > 0) || !fmts || nfmts == 0 || !days)
        return XCHG_ERR_ARG;
    if (!s)
        s = "";
    trim(&s, &len);
    const char *best = "no date format given";
    size_t best_reached = 0;
    for (size_t k = 0; k < nfmts; k++) {
        if (!fmts[k])
            return XCHG_ERR_ARG;
        const char *r = NULL;
        size_t reached = 0;
        xchg_err e = parse_one(s, len, fmts[k], pivot_year, days, &r, &reached);
        if (e == XCHG_OK) {
            if (which)
                *which = k;
            *reason = NULL;
            return XCHG_OK;
        }
        if (e == XCHG_ERR_ARG) {
            *reason = r;
            return e;
        }
        if (k == 0 || reached > best_reached) {
            best = r;
            best_reached = reached;
        }
    }
    *reason = best;
    return XCHG_ERR_FORMAT;
}

xchg_err xchg_norm_date_swap(int32_t days, int32_t *swapped)
{
    if (!swapped)
        return XCHG_ERR_ARG;
    int y, m, d;
    xchg_date_to_ymd(days, &y, &m, &d);
    if (d == m || d > 12)
        return XCHG_ERR_NOT_FOUND;
    int32_t v;
    if (xchg_date_from_ymd(y, d, m, &v) != XCHG_OK)
        return XCHG_ERR_NOT_FOUND;
    *swapped = v;
    return XCHG_OK;
}
