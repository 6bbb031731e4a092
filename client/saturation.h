/* Is the client itself the limit? For one event loop (one thread): the
 * share of wall time its thread spent on a CPU (busy), and how late its
 * periodic tick ran (lag: time between a timer being due and its handler
 * running, i.e. how long ready work waits for the loop). */
#ifndef PUSHPULL_SATURATION_H
#define PUSHPULL_SATURATION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"

struct saturation {
    double busy;                      /* thread CPU / wall time over the window */
    uint64_t lag_p50_us, lag_p99_us, lag_max_us;
};

struct saturation_meter {
    clockid_t cpu_clock;              /* the loop thread's CPU clock */
    uint64_t wall0_us, wall1_us;
    double cpu0_s, cpu1_s;
    uint64_t due_us;                  /* when the next tick is due; 0: none yet */
    struct hist lag;
};

/* Each in the loop's own thread. */
void saturation_init(struct saturation_meter *m);
/* Start and end of the window the figures cover. */
void saturation_begin(struct saturation_meter *m);
void saturation_end(struct saturation_meter *m);
/* From the loop's periodic tick (every period_us), running at now_us: how
 * late it is against the previous tick's due time. */
void saturation_tick(struct saturation_meter *m, uint64_t now_us, uint64_t period_us);
struct saturation saturation_get(const struct saturation_meter *m);

/* Was this loop the limit of the measurement? Busy at least 90 % of the
 * window, or its median tick at least 2 ms late (ready work waited). */
#define SATURATION_BUSY 0.9
#define SATURATION_LAG_US 2000
bool saturation_limited(const struct saturation *s);

#endif
