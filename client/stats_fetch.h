/* Read the server's /stats without blocking the loop, so the snapshots at
 * the edges of the measurement window do not stall delivery. */
#ifndef PUSHPULL_STATS_FETCH_H
#define PUSHPULL_STATS_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "run.h"

struct server_sample {
    bool ok;
    double cpu_s;                     /* cpu.total_s */
    uint64_t bytes_out[TR_COUNT];     /* bytes_out.<transport> */
    uint64_t epoch;                   /* which server start; 0: not given */
};

struct stats_fetch;
struct stats_fetch *stats_fetch_start(struct loop *loop, const char *base_url,
                                      struct server_sample *into);
bool stats_fetch_done(const struct stats_fetch *f);
void stats_fetch_free(struct loop *loop, struct stats_fetch *f);

/* Parse a /stats document. 0, or -1 when it is not one. */
int server_sample_parse(const char *json, size_t len, struct server_sample *out);

#endif
