/* Fuzz target: the normalisers (names, dates, identifiers, postcodes, addresses). The
 * first byte picks the function; the rest is the field value. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    char *z = fz_cstr(data + 1, len);
    char out[256], out2[64];
    const char *reason = NULL;
    int32_t days = 0;
    xchg_err e;
    switch (sel % 12) {
    case 0:
        e = xchg_norm_name(in, len, (xchg_name_form)((sel >> 4) % 3), out, sizeof out);
        if (e == XCHG_OK) {
            char s[5], n[7];
            (void)xchg_norm_soundex(out, s);
            (void)xchg_norm_nysiis(out, n);
            (void)xchg_norm_first_token(out, sel & 0x10, out2, sizeof out2);
        }
        break;
    case 1:
        (void)xchg_norm_forename(in, len, (xchg_name_form)((sel >> 4) % 3), out,
                                 (sel & 0x80) ? 8 : sizeof out);
        break;
    case 2:
        (void)xchg_norm_nickname(z, (sel & 0x10) ? 'F' : 'M', out, sizeof out);
        break;
    case 3: {
        char s[5], n[7];
        (void)xchg_norm_soundex(z, s);
        (void)xchg_norm_nysiis(z, n);
        break;
    }
    case 4: {
        static const char *const fmts[] = {"%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y", "%Y%m%d",
                                           "%Y-%m-%dT%H:%M:%S"};
        size_t which = 0;
        if (xchg_norm_date_any(in, len, fmts, 5, 1950, &days, &which, &reason) == XCHG_OK) {
            int32_t sw;
            (void)xchg_norm_date_swap(days, &sw);
        }
        break;
    }
    case 5: {
        /* the format itself from the input: split at the first NUL-free '|' */
        char *bar = strchr(z, '|');
        if (bar) {
            *bar = 0;
            (void)xchg_norm_date(bar + 1, strlen(bar + 1), z, 1950, &days, &reason);
        }
        break;
    }
    case 6: {
        char o[XCHG_NHS_LEN + 1];
        (void)xchg_norm_nhs(in, len, o, &reason);
        break;
    }
    case 7: {
        char o[XCHG_UPN_LEN + 1];
        int temp = 0;
        (void)xchg_norm_upn(in, len, o, &temp, &reason);
        break;
    }
    case 8: {
        char o[XCHG_NINO_LEN + 1];
        (void)xchg_norm_nino(in, len, o, &reason);
        break;
    }
    case 9: {
        xchg_postcode pc;
        (void)xchg_norm_postcode(in, len, &pc, &reason);
        break;
    }
    case 10: {
        char o[13];
        uint64_t v = 0;
        (void)xchg_norm_uprn(in, len, o, &v, &reason);
        break;
    }
    case 11:
        if (xchg_norm_address_line(in, len, out, (sel & 0x80) ? 16 : sizeof out) == XCHG_OK) {
            char flat[32], house[32];
            (void)xchg_norm_address_numbers(out, flat, sizeof flat, house, sizeof house);
        }
        break;
    }
    free(z);
    return 0;
}
