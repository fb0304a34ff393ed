/* exchange — calendar dates as days since 1970-01-01 (proleptic Gregorian, UTC). */
#ifndef XCHG_DATE_H
#define XCHG_DATE_H

#include "exchange/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Days since 1970-01-01 of a valid y-m-d; XCHG_ERR_FORMAT for an impossible date. */
XCHG_API xchg_err xchg_date_from_ymd(int y, int m, int d, int32_t *days) XCHG_MUST_CHECK;
XCHG_API void xchg_date_to_ymd(int32_t days, int *y, int *m, int *d);
/* Parse exactly "YYYY-MM-DD" (len bytes). */
XCHG_API xchg_err xchg_date_parse(const char *s, size_t len, int32_t *days) XCHG_MUST_CHECK;
/* Format as "YYYY-MM-DD" into out (11 bytes); XCHG_DATE_OPEN (an open-ended span) as
 * "open" and XCHG_DATE_NONE as "none" (record.h). */
XCHG_API void xchg_date_format(int32_t days, char out[11]);

#ifdef __cplusplus
}
#endif
#endif
