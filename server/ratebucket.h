/* A token bucket: rate events per second with a burst of max(rate, 1);
 * rate 0: no limit. Used for the WebSocket publish rate. */
#ifndef PUSHPULL_RATEBUCKET_H
#define PUSHPULL_RATEBUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct rate_bucket {
    double rate, tokens;
    uint64_t at_us;
};

void rate_bucket_init(struct rate_bucket *b, double rate, uint64_t now_us);
/* One event: false when the bucket is empty. */
bool rate_bucket_take(struct rate_bucket *b, uint64_t now_us);

#endif
