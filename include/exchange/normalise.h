/*
 * exchange — canonical-field normalisation, identifier validation, phonetic codes.
 *
 * `xchg seal` runs every canonical field through one of these functions before it is
 * hashed into a match key or a Bloom-filter encoding, so two agencies that write the same
 * person differently ("ZOË O'NEIL-SMITH" / "Zoe Oneilsmith") produce the same bytes. The
 * rules, their examples and the record-linkage reasons for them are in docs/normalise.md;
 * any change to a rule changes every token and so needs a new agreement version.
 *
 * Conventions for every function here:
 *  - Input strings are (pointer, length) pairs unless stated; they need not be
 *    NUL-terminated and may contain any bytes. A NULL pointer with length 0 is "".
 *  - Results go into caller buffers `out` of `cap` bytes and are always NUL-terminated.
 *    On any error, `out` is set to "" (when cap > 0) and other out-parameters are left
 *    untouched. A buffer too small for the result is XCHG_ERR_ARG.
 *  - Invalid data is XCHG_ERR_FORMAT; where a `reason` out-parameter exists it then
 *    receives a static English sentence fragment (never NULL, never to be freed) saying
 *    why. On success *reason is set to NULL. Passing reason == NULL is allowed.
 *  - No function allocates memory visible to the caller, prints, or keeps state.
 */
#ifndef XCHG_NORMALISE_H
#define XCHG_NORMALISE_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A buffer this large holds the normalised form of any name or address line of up to
 * XCHG_NORM_MAX / 4 input bytes; larger input may need a larger buffer. */
#define XCHG_NORM_MAX 512

/* ---- names ------------------------------------------------------------------- */

typedef enum xchg_name_form {
    /* Words separated by one space; hyphens and apostrophes deleted inside words:
     * "O'Neil  Smith-Jones" -> "oneil smithjones". The default for match keys. */
    XCHG_NAME_MATCH = 0,
    /* As MATCH, but hyphens separate words: "Smith-Jones" -> "smith jones", so each
     * part of a double-barrelled name can be keyed on its own. */
    XCHG_NAME_PARTS = 1,
    /* As MATCH with every space removed: "De La Cruz" -> "delacruz". */
    XCHG_NAME_COMPACT = 2,
} xchg_name_form;

/*
 * Normalise a personal name (surname, or any name field) into out.
 *
 * Steps: reject invalid UTF-8 (XCHG_ERR_FORMAT); NFKD; Unicode case fold; drop
 * combining diacritical marks ("Zoë" -> "zoe"); map the few Latin letters that do not
 * decompose through a fixed table (ł->l, ø->o, æ->ae, œ->oe, ß->ss, đ/ð->d, þ->th,
 * ħ->h, ı->i, ŧ->t); recompose (NFC); apostrophes deleted, hyphens deleted or
 * splitting per `form`; all other punctuation, symbols, control characters and white
 * space become word breaks; runs of breaks collapse to one space; trimmed. Letters and
 * digits of any script are kept. "Mc"/"Mac" are left as written (see docs). An input
 * with no letters or digits gives "" and XCHG_OK: the caller decides what an empty
 * name means.
 */
XCHG_API xchg_err xchg_norm_name(const char *in, size_t len, xchg_name_form form, char *out,
                                 size_t cap) XCHG_MUST_CHECK;

/*
 * As xchg_norm_name, then remove leading titles (mr, mrs, ms, miss, mx, dr, master) from
 * a forename field: "Dr. Mary-Ann" -> "maryann". A field holding nothing but titles
 * gives "" (the forename is missing, not "mr").
 */
XCHG_API xchg_err xchg_norm_forename(const char *in, size_t len, xchg_name_form form, char *out,
                                     size_t cap) XCHG_MUST_CHECK;

/*
 * Copy the first space-separated word of an already normalised name `norm`
 * (NUL-terminated) into out: "mary ann" -> "mary". When `initial_only` is non-zero only
 * the first character (one UTF-8 sequence) is copied: "mary ann" -> "m". An empty name
 * gives "" and XCHG_OK.
 */
XCHG_API xchg_err xchg_norm_first_token(const char *norm, int initial_only, char *out,
                                        size_t cap) XCHG_MUST_CHECK;

/*
 * The canonical forename for a normalised forename `name` (NUL-terminated, lower case,
 * one word), from the built-in nickname table: "bill" -> "william", "peggy" ->
 * "margaret". `sex` is 'M', 'F' or 0 for unknown; it resolves diminutives shared by
 * both sexes ("alex" -> "alexander" or "alexandra"). An ambiguous diminutive with unknown
 * sex, or a name not in the table, is copied unchanged. Never fails except for
 * arguments (XCHG_ERR_ARG).
 */
XCHG_API xchg_err xchg_norm_nickname(const char *name, char sex, char *out,
                                     size_t cap) XCHG_MUST_CHECK;

/* Number of rows in the built-in nickname table. */
XCHG_API size_t xchg_norm_nickname_count(void);

/*
 * Row i of the nickname table (sorted by nickname), for documentation and audit
 * (`xchg policy explain`). Any out-parameter may be NULL; the strings are static.
 * XCHG_ERR_NOT_FOUND when i >= xchg_norm_nickname_count().
 */
XCHG_API xchg_err xchg_norm_nickname_row(size_t i, const char **nick, const char **canonical,
                                         char *sex);

/* ---- phonetic codes ---------------------------------------------------------- */

/*
 * American Soundex of a name (NUL-terminated; ASCII letters of either case are coded,
 * every other byte is ignored), into out[5]: "Robert" -> "R163", "Ashcraft" -> "A261"
 * (H and W do not separate letters with the same code). A name with no ASCII letter is
 * XCHG_ERR_FORMAT and out = "". Soundex is the phonetic code match keys use by default.
 */
XCHG_API xchg_err xchg_norm_soundex(const char *name, char out[5]) XCHG_MUST_CHECK;

/*
 * NYSIIS (Taft 1970, the original algorithm, key truncated to 6 letters) of a name
 * (NUL-terminated; only ASCII letters are used), into out[7]: "Brown" -> "BRAN",
 * "Schmidt" -> "SNAD". A name with no ASCII letter is XCHG_ERR_FORMAT and out = "".
 */
XCHG_API xchg_err xchg_norm_nysiis(const char *name, char out[7]) XCHG_MUST_CHECK;

/*
 * Double Metaphone (Philips 2000, the rules of his reference implementation, codes of at
 * most four characters) of a name: its ASCII letters, upper-cased, with single spaces
 * kept between words (other bytes are ignored). primary[5] gets the primary code and,
 * unless NULL, alternate[5] the alternate one: "Catherine" and "Kathryn" -> K0RN / KTRN
 * ("0" is the TH sound, "X" SH), "Smith" -> SM0 / XMT, "Schmidt" -> XMT / SMT. A name
 * with no ASCII letter, or whose letters make no sound ("H"), is XCHG_ERR_FORMAT with an
 * empty primary code.
 */
XCHG_API xchg_err xchg_norm_double_metaphone(const char *name, char primary[5],
                                             char alternate[5]) XCHG_MUST_CHECK;

/* ---- dates ------------------------------------------------------------------- */

/*
 * Parse a date s (len bytes; surrounding white space ignored) laid out by fmt into days
 * since 1970-01-01. fmt is NUL-terminated, with conversions:
 *   %d day (1 or 2 digits)   %m month (1 or 2 digits)   %Y year (4 digits)
 *   %y year (2 digits; only when pivot_year > 0: the latest year ending in those digits
 *      that is <= pivot_year, so pivot 2025 reads "25" as 2025 and "26" as 1926)
 *   %H hour 0-23, %M minute 0-59, %S second 0-59 (1 or 2 digits; checked, then discarded)
 *   %% a percent sign; any other character must appear literally (e.g. '/', '-', 'T').
 * A format without %d, %m and a year is XCHG_ERR_ARG. An impossible or malformed date
 * is XCHG_ERR_FORMAT with *reason saying why (e.g. "29 February in a year that is not a
 * leap year"; the list is in docs/normalise.md), and *days untouched. reason may be NULL.
 */
XCHG_API xchg_err xchg_norm_date(const char *s, size_t len, const char *fmt, int pivot_year,
                                 int32_t *days, const char **reason) XCHG_MUST_CHECK;

/*
 * Try each of the nfmts formats in order; the first that parses wins and its index goes
 * to *which (may be NULL). When none parses, the result is XCHG_ERR_FORMAT and *reason
 * comes from the format that read furthest into s (so "31/02/2020" against
 * {"%Y-%m-%d", "%d/%m/%Y"} reports the impossible day, not the missing '-').
 */
XCHG_API xchg_err xchg_norm_date_any(const char *s, size_t len, const char *const *fmts,
                                     size_t nfmts, int pivot_year, int32_t *days, size_t *which,
                                     const char **reason) XCHG_MUST_CHECK;

/*
 * The date with day and month exchanged, when that is a valid date different from
 * `days` (2010-07-03 -> 2010-03-07). XCHG_ERR_NOT_FOUND when the swap is impossible
 * (day > 12) or changes nothing (day == month); *swapped is then untouched.
 */
XCHG_API xchg_err xchg_norm_date_swap(int32_t days, int32_t *swapped) XCHG_MUST_CHECK;

/* ---- identifiers ------------------------------------------------------------- */

#define XCHG_NHS_LEN 10
#define XCHG_UPN_LEN 13
#define XCHG_NINO_LEN 9

/*
 * NHS number: 10 digits; spaces and hyphens anywhere in the input are ignored. Valid
 * when the modulus-11 check digit (weights 10..2 over digits 1-9) matches digit 10; a
 * check value of 10 never occurs in an issued number and is rejected, as are the ten
 * all-same-digit strings (0000000000 ... 9999999999), which pass the check arithmetic but
 * are placeholders. On success out holds the 10 digits without separators.
 */
XCHG_API xchg_err xchg_norm_nhs(const char *in, size_t len, char out[XCHG_NHS_LEN + 1],
                                const char **reason) XCHG_MUST_CHECK;

/*
 * Unique Pupil Number (DfE): 13 characters, check letter + 12 digits, or for a temporary
 * UPN check letter + 11 digits + a letter. White space is ignored and letters are
 * upper-cased. The check letter is sum(weight_i * value_i) mod 23 over characters 2..13
 * with weights 2..13, mapped through A B C D E F G H J K L M N P Q R T U V W X Y Z
 * (0..22); a temporary UPN's final letter has its index in the same table as its value.
 * On success out holds the 13 upper-case characters; *temporary (may be NULL) is set to
 * 1 for a temporary UPN, else 0.
 */
XCHG_API xchg_err xchg_norm_upn(const char *in, size_t len, char out[XCHG_UPN_LEN + 1],
                                int *temporary, const char **reason) XCHG_MUST_CHECK;

/*
 * National Insurance number: two prefix letters, six digits, suffix A-D; white space
 * ignored, letters upper-cased. Neither prefix letter may be D F I Q U V, the second may
 * not be O, and the prefixes BG GB KN NK NT TN ZZ are never issued. On success out holds
 * the 9 characters without spaces ("QQ123456C" is rejected: Q).
 */
XCHG_API xchg_err xchg_norm_nino(const char *in, size_t len, char out[XCHG_NINO_LEN + 1],
                                 const char **reason) XCHG_MUST_CHECK;

/* A UK postcode split for keying and blocking. */
typedef struct xchg_postcode {
    char full[9];    /* "SW1A 1AA": upper case, one space before the inward code */
    char outward[5]; /* "SW1A" */
    char sector[7];  /* "SW1A 1": outward + space + first inward digit */
} xchg_postcode;

/*
 * UK postcode. White space anywhere is ignored and letters are upper-cased; a letter O
 * where the inward code needs its digit is read as zero ("SW1A OAA" -> "SW1A 0AA").
 * Valid outward shapes: AN, ANN, AAN, AANN, ANA, AANA (A letter, N digit); inward NAA;
 * plus GIR 0AA. The Royal Mail letter restrictions are applied (no Q V X first, no I J Z
 * second, third-position and fourth-position letter sets, no C I K M O V in the inward
 * letters). On error *pc is untouched.
 */
XCHG_API xchg_err xchg_norm_postcode(const char *in, size_t len, xchg_postcode *pc,
                                     const char **reason) XCHG_MUST_CHECK;

/*
 * UPRN (Unique Property Reference Number): 1-12 digits after trimming white space;
 * leading zeros dropped for the canonical form. Zero, non-digits (including the
 * spreadsheet damage "1.00023E+11") and more than 12 digits are rejected. out needs 13
 * bytes; *value (may be NULL) receives the number.
 */
XCHG_API xchg_err xchg_norm_uprn(const char *in, size_t len, char out[13], uint64_t *value,
                                 const char **reason) XCHG_MUST_CHECK;

/* ---- addresses --------------------------------------------------------------- */

/*
 * Normalise one address line: the name pipeline (UTF-8 check, fold, diacritics), lower
 * case, apostrophes deleted, all other punctuation a word break, then each word looked
 * up in a small abbreviation table (rd -> road, ave -> avenue, ...; st -> street only as
 * the last word, since "st" before a word is usually "saint"): "12, High St." ->
 * "12 high street". Invalid UTF-8 is XCHG_ERR_FORMAT.
 */
XCHG_API xchg_err xchg_norm_address_line(const char *in, size_t len, char *out,
                                         size_t cap) XCHG_MUST_CHECK;

/*
 * From a normalised address line (NUL-terminated output of xchg_norm_address_line),
 * extract the flat (the word after "flat", "apartment", "apt" or "unit") into flat and
 * the house number (the first other word starting with a digit: "12", "12a") into house.
 * Either is "" when absent. Each buffer needs at least 2 bytes; a word that does not fit
 * is XCHG_ERR_ARG.
 */
XCHG_API xchg_err xchg_norm_address_numbers(const char *norm, char *flat, size_t flat_cap,
                                            char *house, size_t house_cap) XCHG_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
