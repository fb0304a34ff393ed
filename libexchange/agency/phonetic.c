/*
 * Phonetic codes: American Soundex, the original NYSIIS and Double Metaphone.
 *
 * Both work on ASCII letters only; feed them the output of xchg_norm_name (diacritics
 * already removed). Anything that is not an ASCII letter is skipped, so "o neil",
 * "oneil" and "O'Neil" all code alike.
 */
#include "exchange/normalise.h"

#include <stdarg.h>
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

/* ---- Double Metaphone ------------------------------------------------------------ */

/*
 * Lawrence Philips' Double Metaphone ("The Double Metaphone Search Algorithm", C/C++
 * Users Journal, June 2000), the rules of his reference implementation, codes cut to four
 * characters as there. The word is the name's ASCII letters in upper case, with single
 * spaces kept between words (rules look for "VAN ", "SAN " and the like) and five spaces
 * after it, as the reference pads its string; positions before the word are nothing.
 */
#define DM_MAX 128 /* characters of the name considered; longer names are cut */
#define DM_KEY 4

struct dm {
    char w[DM_MAX + 8]; /* the word and its padding */
    int len, last;
    int slavo; /* W, K, CZ or WITZ anywhere: Slavic or Germanic */
    char p[DM_KEY + 8], s[DM_KEY + 8];
    int pl, sl;
};

static char dm_at(const struct dm *d, int i)
{
    return i >= 0 && i < d->len + 5 ? d->w[i] : '\0';
}

static int dm_vowel(const struct dm *d, int i)
{
    if (i < 0 || i >= d->len)
        return 0;
    char c = d->w[i];
    return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U' || c == 'Y';
}

/* does one of the NULL-terminated strings (each of length n) occur at position i? */
static int dm_is(const struct dm *d, int i, int n, ...)
{
    if (i < 0 || i + n > d->len + 5)
        return 0;
    va_list ap;
    va_start(ap, n);
    int hit = 0;
    for (const char *s; !hit && (s = va_arg(ap, const char *)) != NULL;)
        hit = memcmp(d->w + i, s, (size_t)n) == 0;
    va_end(ap);
    return hit;
}

static void dm_cat(char *key, int *kl, const char *s)
{
    for (; *s && *kl < DM_KEY + 4; s++)
        key[(*kl)++] = *s;
}

/* add main to the primary code and alt to the alternate; alt NULL: the same as main,
 * alt " ": nothing (the reference's marker for "no sound in the alternate") */
static void dm_add(struct dm *d, const char *main, const char *alt)
{
    dm_cat(d->p, &d->pl, main);
    if (!alt)
        dm_cat(d->s, &d->sl, main);
    else if (alt[0] != ' ')
        dm_cat(d->s, &d->sl, alt);
}

#define ADD1(m) dm_add(d, m, NULL)
#define ADD2(m, a) dm_add(d, m, a)
#define IS(i, n, ...) dm_is(d, i, n, __VA_ARGS__, (const char *)NULL)

/* one step from position i; returns the next position */
static int dm_c(struct dm *d, int i)
{
    /* various Germanic: "bacher", "macher" */
    if (i > 1 && !dm_vowel(d, i - 2) && IS(i - 1, 3, "ACH") && dm_at(d, i + 2) != 'I' &&
        (dm_at(d, i + 2) != 'E' || IS(i - 2, 6, "BACHER", "MACHER"))) {
        ADD1("K");
        return i + 2;
    }
    if (i == 0 && IS(i, 6, "CAESAR")) {
        ADD1("S");
        return i + 2;
    }
    if (IS(i, 4, "CHIA")) { /* Italian "chianti" */
        ADD1("K");
        return i + 2;
    }
    if (IS(i, 2, "CH")) {
        if (i > 0 && IS(i, 4, "CHAE")) { /* "michael" */
            ADD2("K", "X");
            return i + 2;
        }
        /* Greek roots: "chemistry", "chorus" */
        if (i == 0 && (IS(i + 1, 5, "HARAC", "HARIS") || IS(i + 1, 3, "HOR", "HYM", "HIA", "HEM")) &&
            !IS(0, 5, "CHORE")) {
            ADD1("K");
            return i + 2;
        }
        /* Germanic, Greek or otherwise CH for a KH sound */
        if (IS(0, 4, "VAN ", "VON ") || IS(0, 3, "SCH") ||
            IS(i - 2, 6, "ORCHES", "ARCHIT", "ORCHID") || IS(i + 2, 1, "T", "S") ||
            ((IS(i - 1, 1, "A", "O", "U", "E") || i == 0) &&
             IS(i + 2, 1, "L", "R", "N", "M", "B", "H", "F", "V", "W", " ")))
            ADD1("K");
        else if (i > 0)
            IS(0, 2, "MC") ? ADD1("K") : ADD2("X", "K");
        else
            ADD1("X");
        return i + 2;
    }
    if (IS(i, 2, "CZ") && !IS(i - 2, 4, "WICZ")) { /* "czerny" */
        ADD2("S", "X");
        return i + 2;
    }
    if (IS(i + 1, 3, "CIA")) { /* "focaccia" */
        ADD1("X");
        return i + 3;
    }
    if (IS(i, 2, "CC") && !(i == 1 && dm_at(d, 0) == 'M')) { /* not "mcclellan" */
        if (IS(i + 2, 1, "I", "E", "H") && !IS(i + 2, 2, "HU")) { /* "bellocchio", not "bacchus" */
            if ((i == 1 && dm_at(d, i - 1) == 'A') || IS(i - 1, 5, "UCCEE", "UCCES"))
                ADD1("KS"); /* "accident", "succeed" */
            else
                ADD1("X"); /* "bacci", "bertucci" */
            return i + 3;
        }
        ADD1("K"); /* Pierce's rule */
        return i + 2;
    }
    if (IS(i, 2, "CK", "CG", "CQ")) {
        ADD1("K");
        return i + 2;
    }
    if (IS(i, 2, "CI", "CE", "CY")) {
        IS(i, 3, "CIO", "CIE", "CIA") ? ADD2("S", "X") : ADD1("S");
        return i + 2;
    }
    ADD1("K");
    if (IS(i + 1, 2, " C", " Q", " G")) /* "mac caffrey", "mac gregor" */
        return i + 3;
    if (IS(i + 1, 1, "C", "K", "Q") && !IS(i + 1, 2, "CE", "CI"))
        return i + 2;
    return i + 1;
}

static int dm_g(struct dm *d, int i)
{
    if (dm_at(d, i + 1) == 'H') {
        if (i > 0 && !dm_vowel(d, i - 1)) {
            ADD1("K");
            return i + 2;
        }
        if (i == 0) { /* "ghislane", "ghiradelli" */
            ADD1(dm_at(d, i + 2) == 'I' ? "J" : "K");
            return i + 2;
        }
        /* Parker's rule: "hugh", "bough", "broughton" */
        if ((i > 1 && IS(i - 2, 1, "B", "H", "D")) || (i > 2 && IS(i - 3, 1, "B", "H", "D")) ||
            (i > 3 && IS(i - 4, 1, "B", "H")))
            return i + 2;
        /* "laugh", "mclaughlin", "cough", "gough", "rough", "tough" */
        if (i > 2 && dm_at(d, i - 1) == 'U' && IS(i - 3, 1, "C", "G", "L", "R", "T"))
            ADD1("F");
        else if (i > 0 && dm_at(d, i - 1) != 'I')
            ADD1("K");
        return i + 2;
    }
    if (dm_at(d, i + 1) == 'N') {
        if (i == 1 && dm_vowel(d, 0) && !d->slavo)
            ADD2("KN", "N");
        else if (!IS(i + 2, 2, "EY") && dm_at(d, i + 1) != 'Y' && !d->slavo) /* not "cagney" */
            ADD2("N", "KN");
        else
            ADD1("KN");
        return i + 2;
    }
    if (IS(i + 1, 2, "LI") && !d->slavo) { /* "tagliaro" */
        ADD2("KL", "L");
        return i + 2;
    }
    /* -ges-, -gep-, -gel-, -gie- at the start */
    if (i == 0 && (dm_at(d, i + 1) == 'Y' || IS(i + 1, 2, "ES", "EP", "EB", "EL", "EY", "IB", "IL",
                                                 "IN", "IE", "EI", "ER"))) {
        ADD2("K", "J");
        return i + 2;
    }
    /* -ger-, -gy- */
    if ((IS(i + 1, 2, "ER") || dm_at(d, i + 1) == 'Y') && !IS(0, 6, "DANGER", "RANGER", "MANGER") &&
        !IS(i - 1, 1, "E", "I") && !IS(i - 1, 3, "RGY", "OGY")) {
        ADD2("K", "J");
        return i + 2;
    }
    /* Italian: "biaggi" */
    if (IS(i + 1, 1, "E", "I", "Y") || IS(i - 1, 4, "AGGI", "OGGI")) {
        if (IS(0, 4, "VAN ", "VON ") || IS(0, 3, "SCH") || IS(i + 1, 2, "ET"))
            ADD1("K"); /* obviously Germanic */
        else if (IS(i + 1, 4, "IER "))
            ADD1("J"); /* always soft with a French ending */
        else
            ADD2("J", "K");
        return i + 2;
    }
    ADD1("K");
    return dm_at(d, i + 1) == 'G' ? i + 2 : i + 1;
}

static int dm_j(struct dm *d, int i)
{
    if (IS(i, 4, "JOSE") || IS(0, 4, "SAN ")) { /* Spanish: "jose", "san jacinto" */
        if ((i == 0 && dm_at(d, i + 4) == ' ') || IS(0, 4, "SAN "))
            ADD1("H");
        else
            ADD2("J", "H");
        return i + 1;
    }
    if (i == 0 && !IS(i, 4, "JOSE"))
        ADD2("J", "A"); /* Yankelovich / Jankelowicz */
    else if (dm_vowel(d, i - 1) && !d->slavo &&
             (dm_at(d, i + 1) == 'A' || dm_at(d, i + 1) == 'O'))
        ADD2("J", "H"); /* Spanish "bajador" */
    else if (i == d->last)
        ADD2("J", " ");
    else if (!IS(i + 1, 1, "L", "T", "K", "S", "N", "M", "B", "Z") && !IS(i - 1, 1, "S", "K", "L"))
        ADD1("J");
    return dm_at(d, i + 1) == 'J' ? i + 2 : i + 1;
}

static int dm_s(struct dm *d, int i)
{
    if (IS(i - 1, 3, "ISL", "YSL")) /* "island", "isle", "carlisle", "carlysle" */
        return i + 1;
    if (i == 0 && IS(i, 5, "SUGAR")) {
        ADD2("X", "S");
        return i + 1;
    }
    if (IS(i, 2, "SH")) {
        IS(i + 1, 4, "HEIM", "HOEK", "HOLM", "HOLZ") ? ADD1("S") : ADD1("X"); /* Germanic */
        return i + 2;
    }
    if (IS(i, 3, "SIO", "SIA") || IS(i, 4, "SIAN")) { /* Italian and Armenian */
        d->slavo ? ADD1("S") : ADD2("S", "X");
        return i + 3;
    }
    /* German and anglicisations ("smith" ~ "schmidt", "snider" ~ "schneider"); Slavic -sz- */
    if ((i == 0 && IS(i + 1, 1, "M", "N", "L", "W")) || IS(i + 1, 1, "Z")) {
        ADD2("S", "X");
        return IS(i + 1, 1, "Z") ? i + 2 : i + 1;
    }
    if (IS(i, 2, "SC")) {
        if (dm_at(d, i + 2) == 'H') { /* Schlesinger's rule */
            if (IS(i + 3, 2, "OO", "ER", "EN", "UY", "ED", "EM")) { /* Dutch: "school" */
                IS(i + 3, 2, "ER", "EN") ? ADD2("X", "SK") : ADD1("SK"); /* "schenker" */
                return i + 3;
            }
            if (i == 0 && !dm_vowel(d, 3) && dm_at(d, 3) != 'W')
                ADD2("X", "S");
            else
                ADD1("X");
            return i + 3;
        }
        IS(i + 2, 1, "I", "E", "Y") ? ADD1("S") : ADD1("SK");
        return i + 3;
    }
    if (i == d->last && IS(i - 2, 2, "AI", "OI")) /* French: "resnais", "artois" */
        ADD2("", "S");
    else
        ADD1("S");
    return IS(i + 1, 1, "S", "Z") ? i + 2 : i + 1;
}

static int dm_step(struct dm *d, int i)
{
    char c = d->w[i];
    switch (c) {
    case 'A':
    case 'E':
    case 'I':
    case 'O':
    case 'U':
    case 'Y':
        if (i == 0)
            ADD1("A"); /* every initial vowel codes as A */
        return i + 1;
    case 'B':
        ADD1("P"); /* "-mb" as in "dumb" is skipped under M */
        return dm_at(d, i + 1) == 'B' ? i + 2 : i + 1;
    case 'C':
        return dm_c(d, i);
    case 'D':
        if (IS(i, 2, "DG")) {
            if (IS(i + 2, 1, "I", "E", "Y")) { /* "edge" */
                ADD1("J");
                return i + 3;
            }
            ADD1("TK"); /* "edgar" */
            return i + 2;
        }
        ADD1("T");
        return IS(i, 2, "DT", "DD") ? i + 2 : i + 1;
    case 'F':
    case 'K':
    case 'N':
    case 'Q':
    case 'V': {
        static const char *const sound[] = {"F", "K", "N", "K", "F"};
        static const char letters[] = "FKNQV";
        ADD1(sound[strchr(letters, c) - letters]);
        return dm_at(d, i + 1) == c ? i + 2 : i + 1;
    }
    case 'G':
        return dm_g(d, i);
    case 'H': /* kept only first or between vowels, and before a vowel */
        if ((i == 0 || dm_vowel(d, i - 1)) && dm_vowel(d, i + 1)) {
            ADD1("H");
            return i + 2;
        }
        return i + 1;
    case 'J':
        return dm_j(d, i);
    case 'L':
        if (dm_at(d, i + 1) == 'L') {
            /* Spanish: "cabrillo", "gallegos" */
            if ((i == d->len - 3 && IS(i - 1, 4, "ILLO", "ILLA", "ALLE")) ||
                ((IS(d->last - 1, 2, "AS", "OS") || IS(d->last, 1, "A", "O")) &&
                 IS(i - 1, 4, "ALLE"))) {
                ADD2("L", " ");
                return i + 2;
            }
            ADD1("L");
            return i + 2;
        }
        ADD1("L");
        return i + 1;
    case 'M':
        ADD1("M");
        if ((IS(i - 1, 3, "UMB") && (i + 1 == d->last || IS(i + 2, 2, "ER"))) ||
            dm_at(d, i + 1) == 'M') /* "dumb", "thumb" */
            return i + 2;
        return i + 1;
    case 'P':
        if (dm_at(d, i + 1) == 'H') {
            ADD1("F");
            return i + 2;
        }
        ADD1("P");
        return IS(i + 1, 1, "P", "B") ? i + 2 : i + 1; /* "campbell", "raspberry" */
    case 'R':
        /* French "rogier", but not "hochmeier" */
        if (i == d->last && !d->slavo && IS(i - 2, 2, "IE") && !IS(i - 4, 2, "ME", "MA"))
            ADD2("", "R");
        else
            ADD1("R");
        return dm_at(d, i + 1) == 'R' ? i + 2 : i + 1;
    case 'S':
        return dm_s(d, i);
    case 'T':
        if (IS(i, 4, "TION") || IS(i, 3, "TIA", "TCH")) {
            ADD1("X");
            return i + 3;
        }
        if (IS(i, 2, "TH") || IS(i, 3, "TTH")) {
            /* "thomas", "thames", or Germanic */
            if (IS(i + 2, 2, "OM", "AM") || IS(0, 4, "VAN ", "VON ") || IS(0, 3, "SCH"))
                ADD1("T");
            else
                ADD2("0", "T");
            return i + 2;
        }
        ADD1("T");
        return IS(i + 1, 1, "T", "D") ? i + 2 : i + 1;
    case 'W':
        if (IS(i, 2, "WR")) {
            ADD1("R");
            return i + 2;
        }
        if (i == 0 && (dm_vowel(d, i + 1) || IS(i, 2, "WH")))
            dm_vowel(d, i + 1) ? ADD2("A", "F") : ADD1("A"); /* "wasserman" ~ "vasserman" */
        /* "arnow" ~ "arnoff" */
        if ((i == d->last && dm_vowel(d, i - 1)) ||
            IS(i - 1, 5, "EWSKI", "EWSKY", "OWSKI", "OWSKY") || IS(0, 3, "SCH")) {
            ADD2("", "F");
            return i + 1;
        }
        if (IS(i, 4, "WICZ", "WITZ")) { /* Polish "filipowicz" */
            ADD2("TS", "FX");
            return i + 4;
        }
        return i + 1;
    case 'X':
        /* French "breaux" */
        if (!(i == d->last && (IS(i - 3, 3, "IAU", "EAU") || IS(i - 2, 2, "AU", "OU"))))
            ADD1("KS");
        return IS(i + 1, 1, "C", "X") ? i + 2 : i + 1;
    case 'Z':
        if (dm_at(d, i + 1) == 'H') { /* Chinese pinyin "zhao" */
            ADD1("J");
            return i + 2;
        }
        if (IS(i + 1, 2, "ZO", "ZI", "ZA") || (d->slavo && i > 0 && dm_at(d, i - 1) != 'T'))
            ADD2("S", "TS");
        else
            ADD1("S");
        return dm_at(d, i + 1) == 'Z' ? i + 2 : i + 1;
    default: /* a space */
        return i + 1;
    }
}

#undef ADD1
#undef ADD2
#undef IS

xchg_err xchg_norm_double_metaphone(const char *name, char primary[5], char alternate[5])
{
    if (!name || !primary)
        return XCHG_ERR_ARG;
    memset(primary, 0, 5);
    if (alternate)
        memset(alternate, 0, 5);
    struct dm d;
    memset(&d, 0, sizeof d);
    int letters = 0;
    for (const char *q = name; *q && d.len < DM_MAX; q++) {
        char c = upper_letter(*q);
        if (c) {
            d.w[d.len++] = c;
            letters++;
        } else if (*q == ' ' && d.len && d.w[d.len - 1] != ' ') {
            d.w[d.len++] = ' ';
        }
    }
    while (d.len && d.w[d.len - 1] == ' ')
        d.len--;
    if (!letters)
        return XCHG_ERR_FORMAT;
    memset(d.w + d.len, ' ', 5);
    d.last = d.len - 1;
    d.w[d.len] = ' ';
    for (int i = 0; i < d.len; i++)
        if (d.w[i] == 'W' || d.w[i] == 'K' || (d.w[i] == 'C' && d.w[i + 1] == 'Z'))
            d.slavo = 1; /* WITZ contains W */

    int i = 0;
    if (dm_is(&d, 0, 2, "GN", "KN", "PN", "WR", "PS", (const char *)NULL))
        i = 1; /* silent first letter */
    if (d.w[0] == 'X') { /* "xavier": an initial X sounds as S */
        dm_add(&d, "S", NULL);
        i = 1;
    }
    while ((d.pl < DM_KEY || d.sl < DM_KEY) && i < d.len)
        i = dm_step(&d, i);
    memcpy(primary, d.p, (size_t)(d.pl < DM_KEY ? d.pl : DM_KEY));
    if (alternate)
        memcpy(alternate, d.s, (size_t)(d.sl < DM_KEY ? d.sl : DM_KEY));
    return primary[0] ? XCHG_OK : XCHG_ERR_FORMAT;
}
