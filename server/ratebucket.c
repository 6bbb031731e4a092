#include "ratebucket.h"

void rate_bucket_init(struct rate_bucket *b, double rate, uint64_t now_us)
{
    b->rate = rate;
    b->tokens = rate > 1 ? rate : 1;
    b->at_us = now_us;
}

bool rate_bucket_take(struct rate_bucket *b, uint64_t now_us)
{
    if (b->rate <= 0)
        return true;
    double burst = b->rate > 1 ? b->rate : 1;
    b->tokens += (double)(now_us - b->at_us) * b->rate / 1e6;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_us = now_us;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}
