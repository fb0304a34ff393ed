/*
 * Strong identifiers: NHS number, UPN, NI number, postcode, UPRN.
 *
 * Each validator first compacts the input (drops the separators people type), then
 * checks shape and check characters. A strong identifier that fails its check is not
 * "probably right": the caller should report it and key the record on weaker fields,
 * because a wrong strong identifier merges two people with certainty.
 */
#include "exchange/normalise.h"

#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static char to_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Copy in[0..len) into buf (cap bytes), skipping white space (and hyphens when
 * `hyphens`), upper-casing ASCII letters. Returns the compacted length, or cap when it
 * does not fit (which every caller treats as "wrong length").
 */
static size_t compact(const char *in, size_t len, int hyphens, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (is_space(c) || (hyphens && c == '-'))
            continue;
        if (n + 1 >= cap)
            return cap;
        buf[n++] = to_upper(c);
    }
    buf[n] = '\0';
    return n;
}

/* Let every function write *reason unconditionally, even when the caller passed NULL. */
#define REASON_SLOT(r)                                                                             \
    const char *r##_sink;                                                                          \
    if (!(r))                                                                                      \
    (r) = &r##_sink

/* ---- NHS number --------------------------------------------------------------- */

xchg_err xchg_norm_nhs(const char *in, size_t len, char out[XCHG_NHS_LEN + 1], const char **reason)
{
    REASON_SLOT(reason);
    *reason = "invalid argument";
    if (!out || (!in && len > 0))
        return XCHG_ERR_ARG;
    out[0] = '\0';
    char buf[16];
    size_t n = compact(in, len, 1, buf, sizeof buf);
    if (n != 10) {
        *reason = "an NHS number has 10 digits";
        return XCHG_ERR_FORMAT;
    }
    int sum = 0, same = 1;
    for (size_t i = 0; i < 10; i++) {
        if (!is_digit(buf[i])) {
            *reason = "an NHS number has only digits";
            return XCHG_ERR_FORMAT;
        }
        if (buf[i] != buf[0])
            same = 0;
        if (i < 9)
            sum += (buf[i] - '0') * (int)(10 - i);
    }
    int check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    if (check == 10) {
        *reason = "check value is 10: no NHS number is issued with these first nine digits";
        return XCHG_ERR_FORMAT;
    }
    if (check != buf[9] - '0') {
        *reason = "check digit does not match (modulus 11)";
        return XCHG_ERR_FORMAT;
    }
    if (same) {
        *reason = "all digits the same: a placeholder, not an NHS number";
        return XCHG_ERR_FORMAT;
    }
    memcpy(out, buf, 11);
    *reason = NULL;
    return XCHG_OK;
}

/* ---- UPN ---------------------------------------------------------------------- */

static const char upn_letters[] = "ABCDEFGHJKLMNPQRTUVWXYZ"; /* 23: no I, O, S */

static int upn_letter_value(char c)
{
    const char *p = c ? strchr(upn_letters, c) : NULL;
    return p ? (int)(p - upn_letters) : -1;
}

xchg_err xchg_norm_upn(const char *in, size_t len, char out[XCHG_UPN_LEN + 1], int *temporary,
                       const char **reason)
{
    REASON_SLOT(reason);
    *reason = "invalid argument";
    if (!out || (!in && len > 0))
        return XCHG_ERR_ARG;
    out[0] = '\0';
    char buf[16];
    size_t n = compact(in, len, 0, buf, sizeof buf);
    if (n != 13) {
        *reason = "a UPN has 13 characters";
        return XCHG_ERR_FORMAT;
    }
    if (upn_letter_value(buf[0]) < 0) {
        *reason = is_upper(buf[0]) ? "check letter cannot be I, O or S"
                                   : "a UPN starts with a check letter";
        return XCHG_ERR_FORMAT;
    }
    for (size_t i = 1; i < 12; i++) {
        if (!is_digit(buf[i])) {
            *reason = "characters 2-12 of a UPN are digits";
            return XCHG_ERR_FORMAT;
        }
    }
    int temp = 0, last;
    if (is_digit(buf[12])) {
        last = buf[12] - '0';
    } else if ((last = upn_letter_value(buf[12])) >= 0) {
        temp = 1;
    } else {
        *reason = "character 13 of a UPN is a digit, or a letter other than I, O, S";
        return XCHG_ERR_FORMAT;
    }
    int sum = last * 13;
    for (int i = 1; i < 12; i++)
        sum += (buf[i] - '0') * (i + 1);
    if (upn_letters[sum % 23] != buf[0]) {
        *reason = "check letter does not match (modulus 23)";
        return XCHG_ERR_FORMAT;
    }
    memcpy(out, buf, 14);
    if (temporary)
        *temporary = temp;
    *reason = NULL;
    return XCHG_OK;
}

/* ---- NI number ---------------------------------------------------------------- */

xchg_err xchg_norm_nino(const char *in, size_t len, char out[XCHG_NINO_LEN + 1],
                        const char **reason)
{
    static const char *const bad_prefix[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    REASON_SLOT(reason);
    *reason = "invalid argument";
    if (!out || (!in && len > 0))
        return XCHG_ERR_ARG;
    out[0] = '\0';
    char buf[16];
    size_t n = compact(in, len, 0, buf, sizeof buf);
    if (n != 9) {
        *reason = "an NI number has 9 characters (2 letters, 6 digits, 1 letter)";
        return XCHG_ERR_FORMAT;
    }
    if (!is_upper(buf[0]) || !is_upper(buf[1])) {
        *reason = "an NI number starts with two letters";
        return XCHG_ERR_FORMAT;
    }
    for (size_t i = 2; i < 8; i++) {
        if (!is_digit(buf[i])) {
            *reason = "characters 3-8 of an NI number are digits";
            return XCHG_ERR_FORMAT;
        }
    }
    if (buf[8] < 'A' || buf[8] > 'D') {
        *reason = "the NI number suffix is A, B, C or D";
        return XCHG_ERR_FORMAT;
    }
    if (strchr("DFIQUV", buf[0])) {
        *reason = "first prefix letter cannot be D, F, I, Q, U or V";
        return XCHG_ERR_FORMAT;
    }
    if (strchr("DFIQUVO", buf[1])) {
        *reason = "second prefix letter cannot be D, F, I, O, Q, U or V";
        return XCHG_ERR_FORMAT;
    }
    for (size_t i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0]; i++) {
        if (buf[0] == bad_prefix[i][0] && buf[1] == bad_prefix[i][1]) {
            *reason = "prefix BG, GB, KN, NK, NT, TN or ZZ is never issued";
            return XCHG_ERR_FORMAT;
        }
    }
    memcpy(out, buf, 10);
    *reason = NULL;
    return XCHG_OK;
}

/* ---- postcode ----------------------------------------------------------------- */

xchg_err xchg_norm_postcode(const char *in, size_t len, xchg_postcode *pc, const char **reason)
{
    REASON_SLOT(reason);
    *reason = "invalid argument";
    if (!pc || (!in && len > 0))
        return XCHG_ERR_ARG;
    char buf[16];
    size_t n = compact(in, len, 0, buf, sizeof buf);
    if (n < 5 || n > 7) {
        *reason = "a postcode has 5 to 7 characters besides spaces";
        return XCHG_ERR_FORMAT;
    }
    size_t olen = n - 3;
    char *inw = buf + olen;
    /* The inward code always begins with a digit, so a letter O there is a typed zero. */
    if (inw[0] == 'O')
        inw[0] = '0';
    if (strcmp(buf, "GIR0AA") != 0) {
        if (!is_digit(inw[0]) || !is_upper(inw[1]) || !is_upper(inw[2])) {
            *reason = "the inward code (last three characters) is digit, letter, letter";
            return XCHG_ERR_FORMAT;
        }
        if (strchr("CIKMOV", inw[1]) || strchr("CIKMOV", inw[2])) {
            *reason = "inward code letters are never C, I, K, M, O or V";
            return XCHG_ERR_FORMAT;
        }
        /* Outward shape as a pattern of A (letter) and N (digit). */
        char shape[5];
        for (size_t i = 0; i < olen; i++) {
            if (is_upper(buf[i]))
                shape[i] = 'A';
            else if (is_digit(buf[i]))
                shape[i] = 'N';
            else {
                *reason = "a postcode has only letters, digits and spaces";
                return XCHG_ERR_FORMAT;
            }
        }
        shape[olen] = '\0';
        static const char *const shapes[] = {"AN", "ANN", "AAN", "AANN", "ANA", "AANA"};
        int ok = 0;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            ok |= strcmp(shape, shapes[i]) == 0;
        if (!ok) {
            *reason = "outward code is not AN, ANN, AAN, AANN, ANA or AANA";
            return XCHG_ERR_FORMAT;
        }
        if (strchr("QVX", buf[0])) {
            *reason = "a postcode never starts with Q, V or X";
            return XCHG_ERR_FORMAT;
        }
        if (shape[1] == 'A' && strchr("IJZ", buf[1])) {
            *reason = "the second letter of a postcode is never I, J or Z";
            return XCHG_ERR_FORMAT;
        }
        if (strcmp(shape, "ANA") == 0 && !strchr("ABCDEFGHJKPSTUW", buf[2])) {
            *reason = "letter after the district digit (A9A) is not one Royal Mail uses";
            return XCHG_ERR_FORMAT;
        }
        if (strcmp(shape, "AANA") == 0 && !strchr("ABEHMNPRVWXY", buf[3])) {
            *reason = "letter after the district digit (AA9A) is not one Royal Mail uses";
            return XCHG_ERR_FORMAT;
        }
    }
    memcpy(pc->full, buf, olen);
    pc->full[olen] = ' ';
    memcpy(pc->full + olen + 1, inw, 3);
    pc->full[olen + 4] = '\0';
    memcpy(pc->outward, buf, olen);
    pc->outward[olen] = '\0';
    memcpy(pc->sector, pc->full, olen + 2);
    pc->sector[olen + 2] = '\0';
    *reason = NULL;
    return XCHG_OK;
}

/* ---- UPRN --------------------------------------------------------------------- */

xchg_err xchg_norm_uprn(const char *in, size_t len, char out[13], uint64_t *value,
                        const char **reason)
{
    REASON_SLOT(reason);
    *reason = "invalid argument";
    if (!out || (!in && len > 0))
        return XCHG_ERR_ARG;
    out[0] = '\0';
    while (len > 0 && is_space(in[0])) {
        in++;
        len--;
    }
    while (len > 0 && is_space(in[len - 1]))
        len--;
    if (len == 0) {
        *reason = "empty UPRN";
        return XCHG_ERR_FORMAT;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(in[i])) {
            *reason = (in[i] == 'E' || in[i] == 'e' || in[i] == '.')
                          ? "not digits: looks like spreadsheet number formatting"
                          : "a UPRN has only digits";
            return XCHG_ERR_FORMAT;
        }
    }
    while (len > 1 && in[0] == '0') {
        in++;
        len--;
    }
    if (len > 12) {
        *reason = "a UPRN has at most 12 digits";
        return XCHG_ERR_FORMAT;
    }
    if (len == 1 && in[0] == '0') {
        *reason = "UPRN zero is not a property";
        return XCHG_ERR_FORMAT;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(in[i] - '0');
    memcpy(out, in, len);
    out[len] = '\0';
    if (value)
        *value = v;
    *reason = NULL;
    return XCHG_OK;
}
