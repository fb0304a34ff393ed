/* xchg-synth — command line. See docs/synth.md for the full description. */
#include "gen.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOUSEHOLDS 1344000ull /* postcode units stay unique (96000 x 14) */
#define MAX_PEOPLE 3000000ull
#define DEMO_SEED 20261031ull
#define DEMO_HOUSEHOLDS 300ull

static void usage(FILE *f)
{
    fputs("Usage: xchg-synth --out DIR (--households N | --people N | --demo) [options]\n"
          "\n"
          "Writes a deterministic synthetic county: one CSV extract per agency in DIR and the\n"
          "ground truth in DIR/truth/. Same options and seed give byte-identical files.\n"
          "\n"
          "  -o, --out DIR              output directory (created if missing)\n"
          "  -n, --households N         number of households (<= 1344000)\n"
          "      --people N             generate households until at least N people (<= 3000000)\n"
          "      --demo                 the fixed demo county: seed 20261031, 300 households\n"
          "  -s, --seed S               unsigned 64-bit seed (default 1)\n"
          "      --as-of YYYY-MM-DD     as-of date A for windows and ages: the last period's end\n"
          "                             (default 2026-10-31; with --periods 2-4, 2026-08-31)\n"
          "      --periods N            follow-up periods 1-4 (default 1); N > 1 writes\n"
          "                             DIR/period-1 ... DIR/period-N, each a full snapshot\n"
          "      --period-months M      months between period ends, 1-24 (default 6)\n"
          "  -e, --error-rate R         probability that a row carries one recording error\n"
          "                             (default 0.05; R as 0.05 or 5%)\n"
          "      --error-mix K=W,...    relative weights of error kinds: typo, transposition,\n"
          "                             nickname, surname_change, moved, day_month_swap,\n"
          "                             missing_id, whitespace_case, duplicate\n"
          "                             (default typo=25,transposition=10,nickname=12,\n"
          "                             surname_change=8,moved=12,day_month_swap=8,\n"
          "                             missing_id=10,whitespace_case=10,duplicate=5)\n"
          "      --consent-mix G,R,N,W  shares of given, refused, not sought, withdrawn\n"
          "                             (default 0.60,0.10,0.25,0.05)\n"
          "      --safeguarding R       share of records with Legal Basis 'safeguarding'\n"
          "                             (default 0.05)\n"
          "      --safeguarding-social-care R  the same for social care (default 0.40)\n"
          "      --prevalence K=R,...   base prevalence per problem among households that can\n"
          "                             have it: crime, school, workless, cin, da, health\n"
          "                             (default crime=0.06,school=0.12,workless=0.11,cin=0.06,\n"
          "                             da=0.04,health=0.03)\n"
          "  -q, --quiet                no progress line on stderr\n"
          "  -h, --help                 this help\n"
          "\n"
          "Exit status: 0 success, 2 usage error, 3 I/O error.\n",
          f);
}

static int fail(const char *msg, const char *arg)
{
    fprintf(stderr, "xchg-synth: error: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "xchg-synth: hint: see xchg-synth --help\n");
    return 2;
}

/* Parse a rate "0.05", "1", ".5" or "5%" into parts per million, without floating point.
 * Returns 0 on success. */
static int parse_rate(const char *s, uint32_t *ppm)
{
    uint64_t ip = 0, frac = 0, scale = 1000000;
    const char *p = s;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        ip = ip * 10 + (uint64_t)(*p++ - '0');
        if (++digits > 9)
            return -1;
    }
    if (*p == '.') {
        p++;
        uint64_t place = 100000;
        int fd = 0;
        while (*p >= '0' && *p <= '9') {
            if (fd < 6)
                frac += (uint64_t)(*p - '0') * place;
            place /= 10;
            p++;
            fd++;
        }
        digits += fd;
    }
    if (digits == 0)
        return -1;
    uint64_t v = ip * scale + frac;
    if (*p == '%') {
        v /= 100;
        p++;
    }
    if (*p != '\0' || v > 1000000)
        return -1;
    *ppm = (uint32_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* "k=v,k=v" against a list of names; fills out[] (ppm for rates, else small integers). */
static int parse_kv(const char *arg, const char *const *names, int n, uint32_t *out, bool rate)
{
    char buf[512];
    if (strlen(arg) >= sizeof buf)
        return -1;
    strcpy(buf, arg);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        int k = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], tok) == 0)
                k = i;
        if (k < 0)
            return -1;
        if (rate) {
            if (parse_rate(eq + 1, &out[k]))
                return -1;
        } else {
            uint64_t v;
            if (parse_u64(eq + 1, &v) || v > 1000000)
                return -1;
            out[k] = (uint32_t)v;
        }
    }
    return 0;
}

enum {
    OPT_PEOPLE = 256,
    OPT_DEMO,
    OPT_AS_OF,
    OPT_ERROR_MIX,
    OPT_CONSENT_MIX,
    OPT_SAFEGUARDING,
    OPT_SAFEGUARDING_SC,
    OPT_PREVALENCE,
    OPT_PERIODS,
    OPT_PERIOD_MONTHS,
};

int main(int argc, char **argv)
{
    synth_opts o;
    synth_opts_default(&o);
    bool have_seed = false, demo = false;
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"households", required_argument, NULL, 'n'},
        {"people", required_argument, NULL, OPT_PEOPLE},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"seed", required_argument, NULL, 's'},
        {"as-of", required_argument, NULL, OPT_AS_OF},
        {"error-rate", required_argument, NULL, 'e'},
        {"error-mix", required_argument, NULL, OPT_ERROR_MIX},
        {"consent-mix", required_argument, NULL, OPT_CONSENT_MIX},
        {"safeguarding", required_argument, NULL, OPT_SAFEGUARDING},
        {"safeguarding-social-care", required_argument, NULL, OPT_SAFEGUARDING_SC},
        {"prevalence", required_argument, NULL, OPT_PREVALENCE},
        {"periods", required_argument, NULL, OPT_PERIODS},
        {"period-months", required_argument, NULL, OPT_PERIOD_MONTHS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:n:s:e:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o.out = optarg;
            break;
        case 'n':
            if (parse_u64(optarg, &o.households) || o.households == 0 ||
                o.households > MAX_HOUSEHOLDS)
                return fail("--households must be an integer from 1 to 1344000", optarg);
            break;
        case OPT_PEOPLE:
            if (parse_u64(optarg, &o.people) || o.people == 0 || o.people > MAX_PEOPLE)
                return fail("--people must be an integer from 1 to 3000000", optarg);
            break;
        case OPT_DEMO:
            demo = true;
            break;
        case 's':
            if (parse_u64(optarg, &o.seed))
                return fail("--seed must be an unsigned 64-bit integer", optarg);
            have_seed = true;
            break;
        case OPT_AS_OF: {
            int32_t d;
            if (date_parse_iso(optarg, &d))
                return fail("--as-of must be a valid date YYYY-MM-DD", optarg);
            o.as_of = d;
            o.as_of_set = true;
            break;
        }
        case 'e':
            if (parse_rate(optarg, &o.error_ppm))
                return fail("--error-rate must be a rate between 0 and 1", optarg);
            break;
        case OPT_ERROR_MIX: {
            uint32_t mix[ERR_COUNT] = {0};
            if (parse_kv(optarg, synth_err_names, ERR_COUNT, mix, false))
                return fail("--error-mix must be KIND=WEIGHT,... with known kinds", optarg);
            uint64_t sum = 0;
            for (int i = 0; i < ERR_COUNT; i++)
                sum += mix[i];
            if (sum == 0)
                return fail("--error-mix needs at least one non-zero weight", optarg);
            memcpy(o.error_mix, mix, sizeof mix);
            break;
        }
        case OPT_CONSENT_MIX: {
            char buf[128];
            if (strlen(optarg) >= sizeof buf)
                return fail("--consent-mix is too long", NULL);
            strcpy(buf, optarg);
            char *save = NULL, *tok = strtok_r(buf, ",", &save);
            uint32_t mix[CS_COUNT];
            uint64_t sum = 0;
            int k = 0;
            for (; tok && k < CS_COUNT; k++, tok = strtok_r(NULL, ",", &save)) {
                if (parse_rate(tok, &mix[k]))
                    break;
                sum += mix[k];
            }
            if (k != CS_COUNT || tok || sum == 0)
                return fail("--consent-mix must be four rates G,R,N,W (not all zero)", optarg);
            memcpy(o.consent_mix, mix, sizeof mix);
            break;
        }
        case OPT_SAFEGUARDING:
            if (parse_rate(optarg, &o.safeguarding_ppm))
                return fail("--safeguarding must be a rate between 0 and 1", optarg);
            break;
        case OPT_SAFEGUARDING_SC:
            if (parse_rate(optarg, &o.safeguarding_sc_ppm))
                return fail("--safeguarding-social-care must be a rate between 0 and 1", optarg);
            break;
        case OPT_PREVALENCE:
            if (parse_kv(optarg, synth_prevalence_names, PV_COUNT, o.prevalence_ppm, true))
                return fail("--prevalence must be KIND=RATE,... with kinds crime, school, "
                            "workless, cin, da, health",
                            optarg);
            break;
        case OPT_PERIODS: {
            uint64_t v;
            if (parse_u64(optarg, &v) || v < 1 || v > 4)
                return fail("--periods must be an integer from 1 to 4", optarg);
            o.periods = (int)v;
            break;
        }
        case OPT_PERIOD_MONTHS: {
            uint64_t v;
            if (parse_u64(optarg, &v) || v < 1 || v > 24)
                return fail("--period-months must be an integer from 1 to 24", optarg);
            o.period_months = (int)v;
            break;
        }
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return fail("option needs a value", argv[optind - 1]);
        default:
            return fail("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail("unexpected argument", argv[optind]);
    if (demo) {
        if (o.households || o.people || have_seed)
            return fail("--demo fixes the seed and size; do not combine it with --seed, "
                        "--households or --people",
                        NULL);
        o.seed = DEMO_SEED;
        o.households = DEMO_HOUSEHOLDS;
    }
    if (!o.households && !o.people)
        return fail("give --households N, --people N or --demo", NULL);
    if (o.households && o.people)
        return fail("give only one of --households and --people", NULL);
    if (!o.out || !*o.out)
        return fail("--out DIR is required", NULL);
    if (o.periods > 1 && !o.as_of_set) /* periods end 31 Aug and end of Feb */
        o.as_of = date_from_ymd(2026, 8, 31);
    return synth_run(&o);
}
