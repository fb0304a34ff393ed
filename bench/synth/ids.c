/* xchg-synth — calendar arithmetic and synthetic identifiers.
 *
 * Identifiers are made from a person's ordinal through a bijection, so they are unique
 * without any table in memory, and carry correct check characters. */
#include "synth.h"

#include <stdio.h>
#include <string.h>

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian). */
int32_t date_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

void date_to_ymd(int32_t days, int *y, int *m, int *d)
{
    int z = days + 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const int doe = z - era * 146097;
    const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int date_parse_iso(const char *s, int32_t *days)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *days = date_from_ymd(y, m, d);
    return 0;
}

int age_on(int32_t dob, int32_t on)
{
    int by, bm, bd, y, m, d;
    date_to_ymd(dob, &by, &bm, &bd);
    date_to_ymd(on, &y, &m, &d);
    int a = y - by;
    if (m < bm || (m == bm && d < bd))
        a--;
    return a;
}

/* NHS: 9 digits "4" + 8-digit bijective image of k; mod-11 check digit. When the check
 * would be 10 (invalid), the leading 4 becomes 6: that adds 20 to the weighted sum, so
 * the remainder becomes 10 and the check digit 1. Leading digits differ, so the two
 * families never collide. */
void id_nhs(uint64_t seed, uint64_t k, char out[11])
{
    uint64_t m = (k * 19260817ull + (seed % 100000000ull)) % 100000000ull;
    char d[10];
    snprintf(d, sizeof d, "4%08llu", (unsigned long long)m);
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += (d[i] - '0') * (10 - i);
    int check = 11 - sum % 11;
    if (check == 10) {
        d[0] = '6';
        sum += 20;
        check = 11 - sum % 11;
    }
    if (check == 11)
        check = 0;
    memcpy(out, d, 9);
    out[9] = (char)('0' + check);
    out[10] = '\0';
}

/* UPN: check letter, LA code 990 (not a real authority), 4-digit establishment, 2-digit
 * year of allocation, 3-digit serial. Establishment and serial come from k, so UPNs are
 * unique for k < 7e6. Check letter per the DfE algorithm: sum of chars 2..13 times
 * weights 2..13, mod 23, into "ABCDEFGHJKLMNPQRTUVWXYZ". */
void id_upn(uint64_t k, int yy, char out[14])
{
    static const char letters[] = "ABCDEFGHJKLMNPQRTUVWXYZ";
    /* 1000003 is coprime with 7e6 = 2^6 * 5^6 * 7, so v is a bijection of k mod 7e6. */
    uint64_t v = (k * 1000003ull + 123457ull) % 7000000ull;
    unsigned estab = 2000u + (unsigned)(v / 1000u);
    unsigned serial = (unsigned)(v % 1000u);
    char body[16];
    snprintf(body, sizeof body, "990%04u%02d%03u", estab % 10000u, ((yy % 100) + 100) % 100,
             serial);
    int sum = 0;
    for (int i = 0; i < 12; i++)
        sum += (body[i] - '0') * (i + 2);
    out[0] = letters[sum % 23];
    memcpy(out + 1, body, 12);
    out[13] = '\0';
}

/* The allocated-looking NINO prefixes: first letter not D F I Q U V, second not
 * D F I O Q U V, and not BG GB KN NK NT TN ZZ. */
static const char nino_first[] = "ABCEGHJKLMNOPRSTWXYZ";
static const char nino_second[] = "ABCEGHJKLMNPRSTWXYZ";

static int nino_prefix_ok(char a, char b)
{
    static const char *const bad[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bad[i][0] == a && bad[i][1] == b)
            return 0;
    return 1;
}

void id_nino(uint64_t seed, uint64_t k, char out[10])
{
    static char prefixes[400][2];
    static int nprefix = 0;
    if (nprefix == 0) { /* deterministic, idempotent table build */
        int n = 0;
        for (const char *a = nino_first; *a; a++)
            for (const char *b = nino_second; *b; b++)
                if (nino_prefix_ok(*a, *b)) {
                    prefixes[n][0] = *a;
                    prefixes[n][1] = *b;
                    n++;
                }
        nprefix = n;
    }
    uint64_t space = (uint64_t)nprefix * 1000000ull;
    /* 2654435761 is prime and larger than the space, hence coprime with it. */
    uint64_t m = (k * 2654435761ull + seed % space) % space;
    unsigned p = (unsigned)(m / 1000000ull), digits = (unsigned)(m % 1000000ull);
    out[0] = prefixes[p][0];
    out[1] = prefixes[p][1];
    snprintf(out + 2, 8, "%06u", digits);
    out[8] = (char)('A' + (int)(((k * 2654435761ull + seed) >> 7) % 4u));
    out[9] = '\0';
}

const char *const synth_locality_names[SYNTH_LOCALITIES] = {
    "Fenwold",  "Ashby Fen",        "Brookholme", "Castlemere",
    "Dunmarsh", "Eastwick St Mary", "Hollowby",   "Kingsmoor",
};

/* Postcode units are enumerated district-first so neighbouring units spread over the
 * county; "FW" is not a real postcode area but has the UK format. Unique for u < 96000. */
void id_postcode(uint32_t u, char out[10], int *district)
{
    static const char unit_letters[] = "ABDEFGHJLNPQRSTUWXYZ"; /* 20, no C I K M O V */
    /* 40009 is coprime with 96000 = 2^8 * 3 * 5^3: a bijection of units mod 96000. */
    uint32_t v = (uint32_t)(((uint64_t)u * 40009u + 12345u) % 96000u);
    int dist = (int)(v % SYNTH_DISTRICTS);
    unsigned sector = (v / SYNTH_DISTRICTS) % 10u;
    unsigned ul = (v / (SYNTH_DISTRICTS * 10u)) % 400u;
    snprintf(out, 10, "FW%d %u%c%c", dist + 1, sector, unit_letters[ul / 20u],
             unit_letters[ul % 20u]);
    *district = dist;
}
