/* Shared by the matcher's verb groups (match, release): options, store and audit access. */
#ifndef XCHG_CLI_STORE_H
#define XCHG_CLI_STORE_H

#include <exchange.h>

struct common {
    const char *db, *dbkey, *dbpfd, *agr, *key, *pfd, *date, *threads, *run, *json, *csv, *all,
        *keyout, *accept, *reason, *to, *out, *force, *dry, *same, *different, *costs;
    const char *pos[256];
    int npos;
    const char *usage; /* the verb group's usage text for --help (NULL: match's) */
    const char *group; /* "match" or "release", for messages */
};

/* Parse the options every matcher verb shares. 0, -1 after --help, or an exit code. */
int match_parse(int argc, char **argv, struct common *c);
int match_db_key(const struct common *c, xchg_store_key **out);
/* --run N (a run number from 1) into *run, 0 when not given. 0, or EXIT_USAGE. */
int match_parse_run(const struct common *c, int64_t *run);
int match_open_store(const struct common *c, const xchg_agreement *p, xchg_store **s);

/* The matcher service (store + audit log) for the agreement actions. */
int match_open_matcher(const struct common *c, const xchg_agreement *p, xchg_matcher **m);

#endif
