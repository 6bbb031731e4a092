/* --threads N: a crowd of subscribers on a thread and event loop of its
 * own, feeding a run of its own (counters, histograms) that the engine
 * merges into the whole run afterwards, exactly (histograms bucket by
 * bucket, counts summed). The engine (main thread) keeps the phases and
 * tells shards its times through a shard_clock. */
#ifndef PUSHPULL_SHARD_H
#define PUSHPULL_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "run.h"
#include "saturation.h"

/* Set by the engine, read by every shard (atomics; 0: not yet). */
struct shard_clock {
    uint64_t t0_us;                   /* the publisher's schedule starts */
    uint64_t measure_start_us, measure_end_us;
    uint64_t cost_end_us;             /* the drain is over: costs end here */
};

struct shard;

/* Shard i of n: subscribers i, i + n, ... of the run; its thread starts
 * connecting them at once. NULL on failure. */
struct shard *shard_new(const struct run *whole, unsigned i, unsigned n,
                        const struct shard_clock *clock);
/* Mirrors, readable from the engine while the shard runs. */
unsigned shard_connected(const struct shard *sh);
uint64_t shard_delivered(const struct shard *sh);
bool shard_window_closed(const struct shard *sh);   /* saw cost_end_us */
/* End the thread; from then on the shard's run is final. */
void shard_stop(struct shard *sh);
/* Add the shard's run (its cost over the window) into the whole run. */
void shard_merge_into(const struct shard *sh, struct run *whole);
/* crowd_settle_unacked for the shard's subscribers, into the whole run. */
void shard_settle_unacked(struct shard *sh, struct run *whole);
/* crowd_count_received of the shard's subscribers (after shard_stop). */
void shard_count_received(const struct shard *sh, const struct run *whole, uint32_t *got);
struct saturation shard_saturation(const struct shard *sh);
void shard_free(struct shard *sh);

/* Add b's counters and histograms into a (the shards' merge, and tests). */
void run_merge(struct run *a, const struct run *b);

#endif
