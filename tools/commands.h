/* Verb groups of the xchg tool; each returns the process exit code. */
#ifndef XCHG_COMMANDS_H
#define XCHG_COMMANDS_H

int cmd_keygen(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_seal(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_extract_run(const char *verb, int argc, char **argv);
int cmd_match(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_release_key(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_fetch_packets(int argc, char **argv);
int cmd_outcomes(int argc, char **argv);
int cmd_claims(int argc, char **argv);
int cmd_console(int argc, char **argv);

#endif
