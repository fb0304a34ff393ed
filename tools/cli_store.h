/* Shared by the matcher's verb groups (match, release): options, store and audit access. */
#ifndef XCHG_CLI_STORE_H
#define XCHG_CLI_STORE_H

#include <exchange.h>

struct common {
    const char *db, *dbkey, *dbpfd, *agr, *key, *pfd, *date, *threads, *run, *json, *csv, *all,
        *keyout, *accept, *reason, *to, *out, *force, *dry;
    const char *pos[256];
    int npos;
    const char *usage; /* the verb group's usage text for --help (NULL: match's) */
    const char *group; /* "match" or "release", for messages */
};

/* Parse the options every matcher verb shares. 0, -1 after --help, or an exit code. */
int match_parse(int argc, char **argv, struct common *c);
int match_db_key(const struct common *c, xchg_store_key **out);
int match_open_store(const struct common *c, const xchg_policy *p, xchg_store **s);

/*
 * Record one event in the store's audit log (<db>.audit, made with its genesis entry for
 * agreement p on first use): type, the acting key (may be NULL) and a JSON object of
 * non-personal detail. With matcher non-NULL a signed
 * checkpoint follows. A failure to audit is reported and returns non-zero: a command whose
 * action cannot be audited must say so.
 */
int audit_event(const struct common *c, const xchg_policy *p, const char *type,
                const xchg_pubkey *actor, const char *data_json, const xchg_seckey *matcher);

/* The audit log path of a store: "<db>.audit" (malloc'ed). */
char *audit_path_of(const char *db);

#endif
