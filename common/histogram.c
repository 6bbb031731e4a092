#include "histogram.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define OVERFLOW_INDEX (HIST_BUCKETS - 1u)
#define SCHEME_NAME "log-linear:128"
/* jansson integers are signed; it has no macro for their largest value. */
#if JSON_INTEGER_IS_LONG_LONG
#define JSON_INT_MAX ((uint64_t)LLONG_MAX)
#else
#define JSON_INT_MAX ((uint64_t)LONG_MAX)
#endif

_Static_assert(HIST_SUB_BUCKETS == 128, "SCHEME_NAME spells out the sub-bucket count");

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* v != 0 (clz of 0 is undefined); GCC and Clang both have the builtin. */
static unsigned log2_floor(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

size_t hist_bucket_count(void)
{
    return HIST_BUCKETS;
}

size_t hist_bucket_index(uint64_t v)
{
    if (v > HIST_MAX_VALUE)
        return OVERFLOW_INDEX;
    if (v < HIST_SUB_BUCKETS)
        return (size_t)v;
    unsigned shift = log2_floor(v) - HIST_SUB_BITS;
    /* v >> shift is 128 + sub-bucket, so magnitude `shift` takes indices
     * [128 * (shift + 1), 128 * (shift + 2)): right after the previous one. */
    return (size_t)shift * HIST_SUB_BUCKETS + (size_t)(v >> shift);
}

uint64_t hist_bucket_value(size_t i)
{
    if (i >= HIST_BUCKETS)
        return 0;
    if (i == OVERFLOW_INDEX)
        return HIST_OVERFLOW_VALUE;
    if (i < HIST_SUB_BUCKETS)
        return i;
    unsigned shift = (unsigned)(i / HIST_SUB_BUCKETS) - 1u;
    uint64_t lo = (uint64_t)(i % HIST_SUB_BUCKETS + HIST_SUB_BUCKETS) << shift;
    uint64_t width = (uint64_t)1 << shift;
    /* The midpoint halves the worst error of either bound (1/256, not 1/128). */
    return lo + (width - 1) / 2;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_reset(struct hist *h)
{
    hist_init(h);
}

void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (v > HIST_MAX_VALUE)
        v = HIST_OVERFLOW_VALUE;
    h->counts[hist_bucket_index(v)] += n;
    h->count += n;
    h->sum = sat_add(h->sum, sat_mul(v, n));
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_record(struct hist *h, uint64_t v)
{
    hist_record_n(h, v, 1);
}

uint64_t hist_count(const struct hist *h) { return h->count; }
uint64_t hist_overflow(const struct hist *h) { return h->counts[OVERFLOW_INDEX]; }
uint64_t hist_sum(const struct hist *h) { return h->sum; }
uint64_t hist_min(const struct hist *h) { return h->count ? h->min : 0; }
uint64_t hist_max(const struct hist *h) { return h->max; }

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* ceil(p/100 * count), tolerant of binary fractions: 0.1 % of 100000 must be
 * rank 100, although 0.1 is not exact in a double. */
static uint64_t nearest_rank(double p, uint64_t count)
{
    if (!(p > 0.0))             /* also NaN */
        p = 0.0;
    if (p > 100.0)
        p = 100.0;
    double x = p / 100.0 * (double)count;
    double r = ceil(x - x * 1e-12);
    if (r < 1.0)
        return 1;
    return r >= (double)count ? count : (uint64_t)r;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = nearest_rank(p, h->count), seen = 0;
    if (rank == 1)
        return h->min;
    if (rank == h->count)
        return h->max;
    size_t i;
    for (i = 0; i < OVERFLOW_INDEX; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    uint64_t v = hist_bucket_value(i);
    /* min and max sit in the first and last non-empty buckets, so clamping
     * only moves v closer to the true value (and makes p0/p100 exact). */
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum = sat_add(dst->sum, src->sum);
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_bucket_get(const struct hist *h, size_t i)
{
    return i < HIST_BUCKETS ? h->counts[i] : 0;
}

size_t hist_next_bucket(const struct hist *h, size_t from)
{
    while (from < HIST_BUCKETS && h->counts[from] == 0)
        from++;
    return from < HIST_BUCKETS ? from : HIST_BUCKETS;
}

int hist_add_bucket(struct hist *h, size_t i, uint64_t n)
{
    if (i >= HIST_BUCKETS)
        return -1;
    hist_record_n(h, hist_bucket_value(i), n);
    return 0;
}

/* ---- JSON ---- */

static int set_u64(json_t *o, const char *key, uint64_t v)
{
    if (v > JSON_INT_MAX)
        return -1;
    return json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *buckets_to_json(const struct hist *h)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = hist_next_bucket(h, 0); i < HIST_BUCKETS;
         i = hist_next_bucket(h, i + 1)) {
        if (h->counts[i] > JSON_INT_MAX
            || json_array_append_new(a, json_pack("[II]", (json_int_t)i,
                                                  (json_int_t)h->counts[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *hist_to_json(const struct hist *h)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = set_u64(o, "count", h->count)
           | set_u64(o, "min", hist_min(h))
           | set_u64(o, "max", hist_max(h))
           | json_object_set_new(o, "mean", json_real(hist_mean(h)))
           | set_u64(o, "sum", h->sum)
           | set_u64(o, "overflow", hist_overflow(h))
           | set_u64(o, "p50", hist_percentile(h, 50.0))
           | set_u64(o, "p90", hist_percentile(h, 90.0))
           | set_u64(o, "p99", hist_percentile(h, 99.0))
           | set_u64(o, "p999", hist_percentile(h, 99.9))
           | json_object_set_new(o, "buckets", buckets_to_json(h))
           | json_object_set_new(o, "bucket_scheme", json_string(SCHEME_NAME));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int buckets_from_json(struct hist *h, const json_t *a)
{
    size_t n;
    const json_t *pair;
    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, n, pair) {
        const json_t *ji = json_array_get(pair, 0), *jc = json_array_get(pair, 1);
        if (json_array_size(pair) != 2 || !json_is_integer(ji) || !json_is_integer(jc)
            || json_integer_value(ji) < 0 || json_integer_value(jc) < 0
            || (uint64_t)json_integer_value(jc) > JSON_INT_MAX - h->count
            || hist_add_bucket(h, (size_t)json_integer_value(ji),
                               (uint64_t)json_integer_value(jc)) != 0)
            return -1;
    }
    return 0;
}

/* The saved min and max must fall in the first and last non-empty buckets,
 * or percentiles clamped to them would be wrong. */
static int check_extremes(const struct hist *h, uint64_t min, uint64_t max)
{
    if (h->count == 0)
        return min == 0 && max == 0 ? 0 : -1;
    size_t first = hist_next_bucket(h, 0), last = first;
    for (size_t i = first; i < HIST_BUCKETS; i = hist_next_bucket(h, i + 1))
        last = i;
    return min <= max && hist_bucket_index(min) == first
           && hist_bucket_index(max) == last
           && max <= HIST_OVERFLOW_VALUE ? 0 : -1;
}

int hist_from_json(struct hist *h, const json_t *j)
{
    uint64_t count, min, max, sum;
    hist_init(h);
    if (!json_is_object(j)
        || !json_is_string(json_object_get(j, "bucket_scheme"))
        || strcmp(json_string_value(json_object_get(j, "bucket_scheme")), SCHEME_NAME) != 0
        || get_u64(j, "count", &count) != 0 || get_u64(j, "min", &min) != 0
        || get_u64(j, "max", &max) != 0 || get_u64(j, "sum", &sum) != 0
        || buckets_from_json(h, json_object_get(j, "buckets")) != 0
        || h->count != count || check_extremes(h, min, max) != 0) {
        hist_init(h);
        return -1;
    }
    if (count) {
        h->min = min;
        h->max = max;
    }
    h->sum = sum;
    return 0;
}
