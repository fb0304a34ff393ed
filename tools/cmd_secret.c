#include "cli.h"
#include "commands.h"
int cmd_secret(int argc, char **argv) { (void)argc; (void)argv; cli_error("not yet built"); return EXIT_USAGE; }
