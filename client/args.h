/* pushpull-client's command line. */
#ifndef PUSHPULL_ARGS_H
#define PUSHPULL_ARGS_H

#include "run.h"

/* Fill cfg from its defaults and the flags; --help and --version print and
 * exit 0, a usage error prints and exits 2 (common/cli.h). */
void args_parse(int argc, char **argv, struct client_config *cfg);

#endif
