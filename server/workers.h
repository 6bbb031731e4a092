/* --workers N: N server processes on one port, each with its own listening
 * socket (SO_REUSEPORT: the kernel spreads connections over them), its own
 * loop and core, and the broker between them. The parent only supervises:
 * it waits until every worker listens, prints the one "listening on" line,
 * restarts a worker that died, and on SIGTERM/SIGINT stops them all. */
#ifndef PUSHPULL_WORKERS_H
#define PUSHPULL_WORKERS_H

struct server_config;

/* One worker: serve until told to stop; write one byte to ready_fd once
 * listening. Returns the exit code. */
typedef int (*workers_serve_fn)(struct server_config *cfg, int ready_fd);
/* The "listening on" line, once, for everyone. */
typedef void (*workers_announce_fn)(const struct server_config *cfg);

/* Runs the workers (cfg->workers of them) and returns the parent's exit
 * code. With --port 0 a port is picked first, so that all share it. */
int workers_run(struct server_config *cfg, workers_serve_fn serve, workers_announce_fn announce);

#endif
