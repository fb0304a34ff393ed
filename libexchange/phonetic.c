/*
 * Phonetic codes: American Soundex and the original NYSIIS.
 *
 * Both work on ASCII letters only; feed them the output of xchg_norm_name (diacritics
 * already removed). Anything that is not an ASCII letter is skipped, so "o neil",
 * "oneil" and "O'Neil" all code alike.
 */
#include "exchange/normalise.h"

#include <string.h>

static char upper_letter(char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A');
    if (c >= 'A' && c <= 'Z')
        return c;
    return 0;
}

/*
 * Soundex digit for a letter; 0 for the vowels A E I O U Y (which separate equal codes),
 * -1 for H and W (which do not).
 */
static int soundex_code(char c)
{
    /*                        A  B  C  D  E  F  G  H   I  J  K  L  M  N  O  P  Q  R  S  T  U */
    static const int code[26] = {0, 1, 2, 3, 0, 1, 2, -1, 0, 2, 2, 4, 5, 5, 0, 1, 2, 6, 2, 3, 0,
                                 /* V  W  X  Y  Z */
                                 1, -1, 2, 0, 2};
    return code[c - 'A'];
}

xchg_err xchg_norm_soundex(const char *name, char out[5])
{
    if (!name || !out)
        return XCHG_ERR_ARG;
    memset(out, 0, 5);
    size_t n = 0;
    int last = 0;
    for (const char *p = name; *p && n < 4; p++) {
        char c = upper_letter(*p);
        if (!c)
            continue;
        int code = soundex_code(c);
        if (n == 0) {
            out[n++] = c;
            last = code < 0 ? 0 : code;
            continue;
        }
        if (code < 0)
            continue; /* H, W: transparent, so the previous code still counts */
        if (code > 0 && code != last)
            out[n++] = (char)('0' + code);
        last = code;
    }
    if (n == 0)
        return XCHG_ERR_FORMAT;
    while (n < 4)
        out[n++] = '0';
    out[4] = '\0';
    return XCHG_OK;
}

/* ---- NYSIIS ------------------------------------------------------------------- */

#define NYSIIS_MAX 64 /* letters of the name considered; longer names are cut */
#define NYSIIS_KEY 6

static int is_vowel(char c)
{
    return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U';
}

static int starts(const char *w, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(w, lit, k) == 0;
}

static int ends(const char *w, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(w + n - k, lit, k) == 0;
}

/*
 * Steps follow Taft (1970) as usually restated (e.g. Herzog, Scheuren and Winkler, "Data
 * Quality and Record Linkage Techniques", ch. 11): (1) first-letter rules, (2) last-letter
 * rules, (3) key starts with the first letter, (4) scan from the second letter rewriting
 * the name in place, (5) append unless equal to the last key letter, (7) drop final S,
 * (8) final AY -> Y, (9) drop final A; the key is at most 6 letters.
 */
xchg_err xchg_norm_nysiis(const char *name, char out[7])
{
    if (!name || !out)
        return XCHG_ERR_ARG;
    memset(out, 0, 7);
    char w[NYSIIS_MAX + 4];
    size_t n = 0;
    for (const char *p = name; *p && n < NYSIIS_MAX; p++) {
        char c = upper_letter(*p);
        if (c)
            w[n++] = c;
    }
    w[n] = '\0';
    if (n == 0)
        return XCHG_ERR_FORMAT;

    /* 1. first letters */
    if (starts(w, n, "MAC"))
        memcpy(w, "MCC", 3);
    else if (starts(w, n, "KN"))
        memcpy(w, "NN", 2);
    else if (starts(w, n, "K"))
        w[0] = 'C';
    else if (starts(w, n, "PH") || starts(w, n, "PF"))
        memcpy(w, "FF", 2);
    else if (starts(w, n, "SCH"))
        memcpy(w, "SSS", 3);

    /* 2. last letters */
    if (ends(w, n, "EE") || ends(w, n, "IE")) {
        w[n - 2] = 'Y';
        w[--n] = '\0';
    } else if (ends(w, n, "DT") || ends(w, n, "RT") || ends(w, n, "RD") || ends(w, n, "NT") ||
               ends(w, n, "ND")) {
        w[n - 2] = 'D';
        w[--n] = '\0';
    }

    /* 3. first key letter */
    char key[NYSIIS_MAX + 4];
    size_t k = 0;
    key[k++] = w[0];

    /* 4-6. scan */
    for (size_t i = 1; i < n; i++) {
        char c = w[i];
        char next = i + 1 < n ? w[i + 1] : '\0';
        if (c == 'E' && next == 'V') {
            w[i] = 'A';
            w[i + 1] = 'F';
        } else if (is_vowel(c)) {
            w[i] = 'A';
        } else if (c == 'Q') {
            w[i] = 'G';
        } else if (c == 'Z') {
            w[i] = 'S';
        } else if (c == 'M') {
            w[i] = 'N';
        } else if (c == 'K') {
            w[i] = next == 'N' ? 'N' : 'C';
        } else if (c == 'S' && i + 2 < n && w[i + 1] == 'C' && w[i + 2] == 'H') {
            memcpy(w + i, "SSS", 3);
        } else if (c == 'P' && next == 'H') {
            memcpy(w + i, "FF", 2);
        } else if (c == 'H' && (!is_vowel(w[i - 1]) || !is_vowel(next))) {
            w[i] = w[i - 1];
        } else if (c == 'W' && is_vowel(w[i - 1])) {
            w[i] = w[i - 1];
        }
        if (w[i] != key[k - 1])
            key[k++] = w[i];
    }

    /* 7-9. last key letters */
    if (k > 1 && key[k - 1] == 'S')
        k--;
    if (k > 2 && key[k - 2] == 'A' && key[k - 1] == 'Y') {
        key[k - 2] = 'Y';
        k--;
    }
    if (k > 1 && key[k - 1] == 'A')
        k--;
    if (k > NYSIIS_KEY)
        k = NYSIIS_KEY;
    memcpy(out, key, k);
    out[k] = '\0';
    return XCHG_OK;
}
