/* Civil-date arithmetic after Howard Hinnant's days_from_civil / civil_from_days. */
#include "exchange/date.h"
#include "exchange/record.h"

#include <stdio.h>
#include <string.h>

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

xchg_err xchg_date_from_ymd(int y, int m, int d, int32_t *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1800 || y > 9999 || m < 1 || m > 12 || d < 1)
        return XCHG_ERR_FORMAT;
    if (d > mdays[m - 1] + (m == 2 && leap(y)))
        return XCHG_ERR_FORMAT;
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = (int32_t)(era * 146097 + doe - 719468);
    return XCHG_OK;
}

void xchg_date_to_ymd(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int yy = yoe + era * 400;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

xchg_err xchg_date_parse(const char *s, size_t len, int32_t *days)
{
    if (!s || len != 10 || s[4] != '-' || s[7] != '-')
        return XCHG_ERR_FORMAT;
    int v[8], k = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return XCHG_ERR_FORMAT;
        v[k++] = s[i] - '0';
    }
    int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    return xchg_date_from_ymd(y, v[4] * 10 + v[5], v[6] * 10 + v[7], days);
}

void xchg_date_format(int32_t days, char out[11])
{
    /* the two sentinels an indicator span may carry are words, not dates */
    if (days == XCHG_DATE_OPEN || days == XCHG_DATE_NONE) {
        snprintf(out, 11, "%s", days == XCHG_DATE_OPEN ? "open" : "none");
        return;
    }
    int y, m, d;
    xchg_date_to_ymd(days, &y, &m, &d);
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    memcpy(out, buf, 10);
    out[10] = '\0';
}
