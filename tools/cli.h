/* Shared helpers of the xchg tool: messages, exit codes, option parsing, passphrases. */
#ifndef XCHG_CLI_H
#define XCHG_CLI_H

#include <exchange.h>
#include <stdio.h>

/* Exit codes: documented in docs/exit-codes.md; never renumbered. */
enum {
    EXIT_OK = 0,
    EXIT_DENIED = 1, /* verification failed, agreement invalid or not in force, denied */
    EXIT_USAGE = 2,  /* bad arguments or configuration */
    EXIT_IO = 3,     /* file or system error */
    EXIT_INTERNAL = 4,
};

void cli_error(const char *fmt, ...) XCHG_PRINTF(1, 2);
void cli_warn(const char *fmt, ...) XCHG_PRINTF(1, 2);
void cli_hint(const char *fmt, ...) XCHG_PRINTF(1, 2);
void cli_info(const char *fmt, ...) XCHG_PRINTF(1, 2);
/* Print every diagnostic of d to stderr. */
void cli_print_diag(const xchg_diag *d);
/* Map a library error to the tool's exit code. */
int cli_exit_code(xchg_err e);
/* Report err with diagnostics (or a generic message naming what) and return its exit code. */
int cli_fail(xchg_err err, const xchg_diag *d, const char *what);
/* xchg_process_harden() (no core dumps, not dumpable, SIGXFSZ ignored): the first call in
 * main of every program that loads a secret. 0, or an exit code after printing why. */
int cli_harden(void);

/* Minimal long/short option parser shared by every verb. */
struct cli_opt {
    const char *lng;  /* "--force" */
    char shrt;        /* 'f' or 0 */
    int takes_arg;
    const char **val; /* where to store the argument (or "1" for flags) */
};

/*
 * Parse argv[1..argc) against opts; positional arguments are collected into pos
 * (capacity maxpos) and counted in *npos. Returns 0, or prints an error and returns
 * EXIT_USAGE. "--help"/"-h" sets *help.
 */
/*
 * cli_parse for one verb, with --help handled: prints usage to stdout and returns -1 (the
 * verb returns EXIT_OK); an exit code on a usage error; 0 to go on.
 */
/*
 * Print to stdout the part of a verb group's usage text that is about verb: its synopsis
 * lines ("usage: xchg GROUP VERB ..." and their continuations) and its paragraph (the
 * lines from one starting with "VERB  " or "VERB, OTHER  " to the next unindented line),
 * then where the whole group's help is. A single-verb command's usage (or one that does
 * not mention verb) is printed whole.
 */
void cli_verb_usage(const char *usage, const char *verb);
int cli_verb_args(int argc, char **argv, const struct cli_opt *opts, const char **pos,
                  int maxpos, int *npos, const char *usage);
int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char **pos, int maxpos,
              int *npos, int *help);

/*
 * Read a passphrase into a new secure buffer: from file descriptor fd when fd_arg is
 * given ("--passphrase-fd N"), else from the terminal with echo off (twice when confirm has
 * CLI_PASS_CONFIRM; CLI_PASS_NEW_KEY adds hints about 'keygen --unprotected').
 * Returns 0 or an exit code after printing the error. The result is freed with
 * xchg_secure_free.
 */
enum { CLI_PASS_CONFIRM = 1, CLI_PASS_NEW_KEY = 2 };
int cli_read_passphrase(const char *fd_arg, const char *prompt, int confirm, char **pass,
                        size_t *len);

/*
 * Load a secret key, asking for its passphrase if the file is protected (from
 * --passphrase-fd when given). Returns 0 or a printed failure's exit code.
 */
int cli_load_seckey(const char *path, const char *fd_arg, xchg_seckey **out);

/*
 * Load the agreement at path through xchg_policy_load_verified for today: every
 * signatory signed these bytes and it is in force. On failure the problems are printed,
 * with a line saying the command refuses to act, and the exit code is returned.
 */
int cli_load_agreement(const char *path, xchg_agreement **p);

/* Levenshtein edit distance of two words (SIZE_MAX for words over 63 bytes). */
size_t cli_edit_distance(const char *a, const char *b);
/* The word of the space-separated list words nearest to word, if it is close enough to be
 * a typo (at most 2 edits, fewer than half its letters); else NULL. Static storage. */
const char *cli_nearest_word(const char *word, const char *words);
/* After an unknown option: "hint: did you mean '--passphrase-fd'?" when one of opts is
 * close enough; nothing otherwise. */
void cli_suggest_option(const char *given, const struct cli_opt *opts);

/*
 * The command table (tools/xchg.c). A verb group registers here once: its name, its
 * entry point, its sub-verbs (space-separated; NULL for a single-verb command) and
 * whether options alone are also a command (claims). The dispatcher refuses an unknown
 * sub-verb with the nearest correct one before the group runs, and 'xchg --commands'
 * lists every "group" and "group sub-verb" (bash completion and the help test read it).
 */
struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *subverbs;
    int subverb_optional;
};

/* The word for a count of n: one when n is 1, else many ("1 checkpoint", "2 checkpoints"). */
const char *cli_plural(unsigned long long n, const char *one, const char *many);

/* Today's date as days since 1970-01-01 (UTC). */
int cli_today(int32_t *days);


#endif
