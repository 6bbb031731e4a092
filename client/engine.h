/* The run engine: one transport's measured run, from connecting the
 * subscribers to the drain, on its own event base. */
#ifndef PUSHPULL_ENGINE_H
#define PUSHPULL_ENGINE_H

#include <signal.h>

#include "report.h"
#include "run.h"

/* Set (from a signal handler) to end the current run as "interrupted". */
extern volatile sig_atomic_t engine_interrupted;

/* Run transport t with cfg; run and x receive what was measured
 * (x->failure: why it failed, or NULL). */
void engine_run(const struct client_config *cfg, enum transport t, struct run *run,
                struct run_extra *x);
/* The server lacks transport t: a result that says so, no figures. */
void engine_not_offered(const struct client_config *cfg, enum transport t, struct run *run,
                        struct run_extra *x);

#endif
