/* Latency histogram: log-linear buckets over microseconds, <= 1 % relative
 * error from 1 us to 60 s, exact count/min/max/sum, exactly mergeable (also
 * through JSON, so runs of several processes or hosts can be combined).
 *
 * Bucket scheme "log-linear:128":
 *   v < 128              bucket v (width 1: exact)
 *   2^m <= v < 2^(m+1)   m >= 7: 128 linear sub-buckets of width 2^(m-7),
 *                        index (m-7)*128 + (v >> (m-7))
 *   v > HIST_MAX_VALUE   the overflow bucket, HIST_BUCKETS - 1
 * A bucket [lo, lo+w) with w > 1 has lo >= 128*w, and its representative
 * value is the midpoint lo + (w-1)/2, so no value in it is further than
 * w/2 / (128*w) = 1/256 (0.39 %) from it. 60 s lands in index 2532.
 *
 * The struct is plain so it can live inside other structs or on the stack
 * (~20 KiB) without allocation; read it only through these functions. */
#ifndef PUSHPULL_HISTOGRAM_H
#define PUSHPULL_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS)     /* 128 */
#define HIST_MAX_VALUE 60000000u                   /* 60 s in us */
/* Values above HIST_MAX_VALUE are saturated to this in every statistic. */
#define HIST_OVERFLOW_VALUE (HIST_MAX_VALUE + 1u)
/* index(HIST_MAX_VALUE) + 1 regular buckets, plus the overflow bucket. */
#define HIST_BUCKETS 2534u

struct hist {
    uint64_t count;
    uint64_t sum;       /* saturates at UINT64_MAX (~3e11 records of 60 s) */
    uint64_t min;       /* UINT64_MAX while empty */
    uint64_t max;
    uint64_t counts[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_reset(struct hist *h);

/* Values above HIST_MAX_VALUE count as HIST_OVERFLOW_VALUE ("over 60 s"),
 * in the overflow bucket; hist_overflow() says how many there were. */
void hist_record(struct hist *h, uint64_t value_us);
void hist_record_n(struct hist *h, uint64_t value_us, uint64_t n);

uint64_t hist_count(const struct hist *h);
uint64_t hist_overflow(const struct hist *h);
uint64_t hist_sum(const struct hist *h);
uint64_t hist_min(const struct hist *h);    /* 0 when empty */
uint64_t hist_max(const struct hist *h);    /* 0 when empty */
double hist_mean(const struct hist *h);     /* sum / count; 0 when empty */

/* Nearest-rank percentile, p in [0, 100] (clamped): the smallest recorded
 * value v such that at least p % of the values are <= v, i.e. the value of
 * rank ceil(p/100 * count) (at least rank 1, so p = 0 gives the minimum).
 * The answer lies within 0.39 % of the exact one; p = 0 and p = 100 are
 * exact (min and max). 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/* dst += src; exactly equal to one histogram fed with both inputs. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Bucket access, for serialisation. */
size_t hist_bucket_count(void);                 /* HIST_BUCKETS */
size_t hist_bucket_index(uint64_t value_us);
uint64_t hist_bucket_value(size_t index);       /* representative; 0 if out of range */
uint64_t hist_bucket_get(const struct hist *h, size_t index);
/* First non-empty bucket at or after `from`, or HIST_BUCKETS if none:
 *   for (i = hist_next_bucket(h, 0); i < HIST_BUCKETS; i = hist_next_bucket(h, i + 1)) */
size_t hist_next_bucket(const struct hist *h, size_t from);
/* Adds n values of bucket `index`. min, max and sum only know the bucket's
 * representative value; hist_from_json restores the exact ones. Returns 0,
 * or -1 when index is out of range. */
int hist_add_bucket(struct hist *h, size_t index, uint64_t n);

/* {"count","min","max","mean","sum","overflow","p50","p90","p99","p999",
 *  "buckets":[[index,count],...] (non-empty only),
 *  "bucket_scheme":"log-linear:128"}. NULL on allocation failure or a
 * count/sum beyond JSON's int64. */
json_t *hist_to_json(const struct hist *h);
/* Rebuilds h (re-initialised first) from hist_to_json's output; count, min,
 * max, sum and buckets come back exactly. Returns 0, or -1 (h left empty)
 * on another bucket scheme or inconsistent data. */
int hist_from_json(struct hist *h, const json_t *j);

#endif
