/* Histogram: bucket math over the whole range, percentiles against exact
 * nearest-rank answers of known samples, exact merge, JSON round trip. */
#include "histogram.h"
#include "unit.h"

#include <math.h>
#include <stdint.h>

/* The percentiles every sample is checked at, in per mille so the exact
 * nearest rank is integer arithmetic independent of the code under test. */
static const unsigned test_permille[] = { 1, 10, 100, 500, 900, 990, 999, 1000 };
#define N_PERMILLE (sizeof test_permille / sizeof test_permille[0])

static uint64_t rng_state;

/* splitmix64: fixed seed, identical on every run and platform. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_unit(void)   /* (0, 1] */
{
    return ((double)(rng_next() >> 11) + 1.0) / 9007199254740992.0;
}

static double rng_normal(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit());
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Within 1 % of the exact value (and exactly 0 for 0). */
static int within_1pct(uint64_t got, uint64_t exact)
{
    uint64_t d = got > exact ? got - exact : exact - got;
    return d * 100 <= exact;
}

/* Feeds `v` (n values) into a fresh histogram and checks count, min, max,
 * mean and every test percentile against the sorted sample. */
static void check_sample(uint64_t *v, size_t n)
{
    static struct hist h;
    hist_init(&h);
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        hist_record(&h, v[i]);
        sum += (long double)v[i];
    }
    qsort(v, n, sizeof v[0], cmp_u64);
    CHECK_EQ_U(hist_count(&h), n);
    CHECK_EQ_U(hist_min(&h), v[0]);
    CHECK_EQ_U(hist_max(&h), v[n - 1]);
    CHECK(fabsl((long double)hist_mean(&h) - sum / (long double)n) < 1e-6L * (sum / (long double)n));
    for (size_t k = 0; k < N_PERMILLE; k++) {
        uint64_t rank = (test_permille[k] * (uint64_t)n + 999) / 1000;
        uint64_t exact = v[(rank ? rank : 1) - 1];
        uint64_t got = hist_percentile(&h, test_permille[k] / 10.0);
        if (!within_1pct(got, exact)) {
            printf("#   p%.1f: got %llu, exact %llu (n=%zu)\n", test_permille[k] / 10.0,
                   (unsigned long long)got, (unsigned long long)exact, n);
            CHECK(within_1pct(got, exact));
        }
    }
    CHECK_EQ_U(hist_percentile(&h, 0), v[0]);
    CHECK_EQ_U(hist_percentile(&h, 100), v[n - 1]);
}

static uint64_t *lognormal_sample(size_t n)
{
    uint64_t *v = malloc(n * sizeof *v);
    rng_state = 42;
    for (size_t i = 0; i < n; i++) {
        /* median 2 ms, heavy tail reaching into seconds */
        double x = exp(log(2000.0) + 1.5 * rng_normal());
        v[i] = x < 1.0 ? 1 : (uint64_t)x;
    }
    return v;
}

static int hist_equal(const struct hist *a, const struct hist *b)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        if (hist_bucket_get(a, i) != hist_bucket_get(b, i))
            return 0;
    return hist_count(a) == hist_count(b) && hist_min(a) == hist_min(b)
           && hist_max(a) == hist_max(b) && hist_sum(a) == hist_sum(b)
           && hist_overflow(a) == hist_overflow(b);
}

/* Every value from 0 to 60 s: buckets are contiguous and ordered, each
 * value is within 1/256 of its bucket's representative, and the last
 * regular bucket is the one before the overflow bucket. */
static void test_bucket_math(void)
{
    int bad = 0;
    size_t prev = 0;
    CHECK_EQ_U(hist_bucket_count(), HIST_BUCKETS);
    for (uint64_t v = 0; v <= HIST_MAX_VALUE; v++) {
        size_t i = hist_bucket_index(v);
        uint64_t r = hist_bucket_value(i);
        uint64_t d = r > v ? r - v : v - r;
        if ((v > 0 && i != prev && i != prev + 1) || d * 256 > v) {
            if (bad++ < 5)
                printf("#   v=%llu index %zu (prev %zu) value %llu\n",
                       (unsigned long long)v, i, prev, (unsigned long long)r);
        }
        prev = i;
    }
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(hist_bucket_index(0), 0);
    CHECK_EQ_U(hist_bucket_index(127), 127);
    CHECK_EQ_U(hist_bucket_index(128), 128);
    CHECK_EQ_U(hist_bucket_index(HIST_MAX_VALUE), HIST_BUCKETS - 2);
    CHECK_EQ_U(hist_bucket_index(HIST_MAX_VALUE + 1), HIST_BUCKETS - 1);
    CHECK_EQ_U(hist_bucket_index(UINT64_MAX), HIST_BUCKETS - 1);
    CHECK_EQ_U(hist_bucket_value(HIST_BUCKETS - 1), HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_bucket_value(HIST_BUCKETS), 0);
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        if (hist_bucket_index(hist_bucket_value(i)) != i)
            CHECK_EQ_U(hist_bucket_index(hist_bucket_value(i)), i);
}

/* A sample that jumps from 1 ms to 5 s right after the exact nearest rank:
 * an off-by-one rank is a 5000x error. 99.9 % of 1000 is 999.0000000000001
 * in doubles, which must still be rank 999. */
static void test_rank_boundaries(void)
{
    static const size_t sizes[] = { 1, 2, 3, 7, 10, 999, 1000, 12345, 100000, 1000003 };
    struct hist *h = malloc(sizeof *h);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t k = 0; k < N_PERMILLE; k++) {
            uint64_t n = sizes[s], rank = (test_permille[k] * n + 999) / 1000;
            double p = test_permille[k] / 10.0;
            rank = rank ? rank : 1;
            hist_init(h);
            hist_record_n(h, 1000, rank);
            hist_record_n(h, 5000000, n - rank);
            CHECK(within_1pct(hist_percentile(h, p), 1000));
            CHECK_EQ_U(hist_percentile(h, 0), 1000);     /* exact min */
            if (rank < n) {
                hist_init(h);
                hist_record_n(h, 1000, rank - 1);
                hist_record_n(h, 5000000, n - rank + 1);
                CHECK(within_1pct(hist_percentile(h, p), 5000000));
                CHECK_EQ_U(hist_percentile(h, 100), 5000000); /* exact max */
            }
        }
    }
    free(h);
}

static void test_uniform(void)
{
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = n - i;           /* 100000..1, order must not matter */
    check_sample(v, n);
    free(v);
}

static void test_lognormal(void)
{
    size_t n = 200003;          /* odd, so ranks are not round numbers */
    uint64_t *v = lognormal_sample(n);
    check_sample(v, n);
    free(v);
}

/* 90 % fast answers near 100 us, 10 % slow ones near 50 ms: p90 is the
 * largest fast value, p99 is deep in the slow mode. */
static void test_bimodal(void)
{
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    rng_state = 7;
    for (size_t i = 0; i < n; i++)
        v[i] = i % 10 == 9 ? 45000 + rng_next() % 10001 : 90 + rng_next() % 21;
    check_sample(v, n);
    free(v);
}

static void test_single_value(void)
{
    uint64_t v = 12345;
    check_sample(&v, 1);
    struct hist *h = malloc(sizeof *h);
    hist_init(h);
    hist_record(h, 12345);
    for (size_t k = 0; k < N_PERMILLE; k++)     /* clamped to min = max */
        CHECK_EQ_U(hist_percentile(h, test_permille[k] / 10.0), 12345);
    CHECK(hist_mean(h) == 12345.0);
    free(h);
}

static void test_empty(void)
{
    struct hist *h = malloc(sizeof *h), *e = malloc(sizeof *e);
    hist_init(h);
    hist_init(e);
    CHECK_EQ_U(hist_count(h), 0);
    CHECK_EQ_U(hist_min(h), 0);
    CHECK_EQ_U(hist_max(h), 0);
    CHECK_EQ_U(hist_sum(h), 0);
    CHECK_EQ_U(hist_overflow(h), 0);
    CHECK(hist_mean(h) == 0.0);
    CHECK_EQ_U(hist_percentile(h, 50), 0);
    CHECK_EQ_U(hist_percentile(h, 100), 0);
    CHECK_EQ_U(hist_next_bucket(h, 0), HIST_BUCKETS);
    hist_merge(h, e);
    CHECK(hist_equal(h, e));
    hist_record(e, 5);
    hist_merge(h, e);          /* empty += one value */
    CHECK(hist_equal(h, e));
    CHECK_EQ_U(hist_min(h), 5);
    free(h);
    free(e);
}

static void test_edge_values(void)
{
    struct hist *h = malloc(sizeof *h);
    hist_init(h);
    hist_record(h, 0);
    hist_record(h, 1);
    hist_record(h, HIST_MAX_VALUE);
    hist_record(h, HIST_MAX_VALUE + 1);
    hist_record(h, UINT64_MAX);
    CHECK_EQ_U(hist_count(h), 5);
    CHECK_EQ_U(hist_overflow(h), 2);
    CHECK_EQ_U(hist_min(h), 0);
    CHECK_EQ_U(hist_max(h), HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_sum(h), 1 + HIST_MAX_VALUE + 2 * (uint64_t)HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_bucket_get(h, 0), 1);
    CHECK_EQ_U(hist_bucket_get(h, 1), 1);
    CHECK_EQ_U(hist_bucket_get(h, HIST_BUCKETS - 2), 1);
    CHECK_EQ_U(hist_bucket_get(h, HIST_BUCKETS - 1), 2);
    CHECK_EQ_U(hist_percentile(h, 0), 0);
    CHECK_EQ_U(hist_percentile(h, 20), 0);
    CHECK_EQ_U(hist_percentile(h, 40), 1);
    CHECK(within_1pct(hist_percentile(h, 60), HIST_MAX_VALUE));
    CHECK_EQ_U(hist_percentile(h, 80), HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_percentile(h, 100), HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_percentile(h, -5), 0);           /* clamped to p0 */
    CHECK_EQ_U(hist_percentile(h, 250), HIST_OVERFLOW_VALUE);
    CHECK_EQ_U(hist_percentile(h, NAN), 0);
    hist_record_n(h, 7, 0);                          /* no-op */
    CHECK_EQ_U(hist_count(h), 5);
    hist_reset(h);
    CHECK_EQ_U(hist_count(h), 0);
    CHECK_EQ_U(hist_next_bucket(h, 0), HIST_BUCKETS);
    hist_record_n(h, UINT64_MAX, UINT64_MAX);        /* sum saturates */
    CHECK_EQ_U(hist_sum(h), UINT64_MAX);
    free(h);
}

static void test_record_n(void)
{
    struct hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    hist_init(a);
    hist_init(b);
    for (int i = 0; i < 5; i++)
        hist_record(a, 777);
    hist_record(a, 3);
    hist_record_n(b, 777, 5);
    hist_record_n(b, 3, 1);
    CHECK(hist_equal(a, b));
    free(a);
    free(b);
}

static void test_merge(void)
{
    size_t n = 100000;
    uint64_t *v = lognormal_sample(n);
    v[10] = UINT64_MAX;         /* overflow merges too */
    v[n - 1] = 0;
    struct hist *all = malloc(sizeof *all), *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    size_t splits[] = { n / 2, 1, n - 1, 0, n, 31337 };
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        hist_init(all);
        hist_init(a);
        hist_init(b);
        for (size_t i = 0; i < n; i++) {
            hist_record(all, v[i]);
            hist_record(i < splits[s] ? a : b, v[i]);
        }
        hist_merge(a, b);
        CHECK(hist_equal(a, all));
        CHECK_EQ_U(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
    }
    free(v);
    free(all);
    free(a);
    free(b);
}

/* Rebuilding from (index, count) pairs gives the same buckets; min, max and
 * sum are then only bucket-accurate. */
static void test_add_bucket(void)
{
    size_t n = 50000;
    uint64_t *v = lognormal_sample(n);
    struct hist *h = malloc(sizeof *h), *r = malloc(sizeof *r);
    hist_init(h);
    hist_init(r);
    for (size_t i = 0; i < n; i++)
        hist_record(h, v[i]);
    size_t visited = 0;
    for (size_t i = hist_next_bucket(h, 0); i < HIST_BUCKETS; i = hist_next_bucket(h, i + 1)) {
        CHECK(hist_bucket_get(h, i) > 0);
        CHECK_EQ_U(hist_add_bucket(r, i, hist_bucket_get(h, i)), 0);
        visited++;
    }
    CHECK(visited > 100);
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        if (hist_bucket_get(h, i) != hist_bucket_get(r, i))
            CHECK_EQ_U(hist_bucket_get(h, i), hist_bucket_get(r, i));
    CHECK_EQ_U(hist_count(r), n);
    CHECK(within_1pct(hist_min(r), hist_min(h)));
    CHECK(within_1pct(hist_max(r), hist_max(h)));
    CHECK(within_1pct(hist_sum(r), hist_sum(h)));
    CHECK(within_1pct(hist_percentile(r, 99), hist_percentile(h, 99)));
    CHECK(hist_add_bucket(r, HIST_BUCKETS, 1) == -1);
    CHECK_EQ_U(hist_count(r), n);
    free(v);
    free(h);
    free(r);
}

static json_t *round_trip_text(const struct hist *h)
{
    json_t *j = hist_to_json(h);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *back = json_loads(text, 0, NULL);
    free(text);
    return back;
}

static void test_json_round_trip(void)
{
    size_t n = 100000;
    uint64_t *v = lognormal_sample(n);
    struct hist *h = malloc(sizeof *h), *r = malloc(sizeof *r);
    hist_init(h);
    for (size_t i = 0; i < n; i++)
        hist_record(h, v[i]);
    hist_record(h, 0);
    hist_record(h, UINT64_MAX);
    json_t *j = round_trip_text(h);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "bucket_scheme")), "log-linear:128");
    CHECK_EQ_U(json_integer_value(json_object_get(j, "count")), n + 2);
    CHECK_EQ_U(json_integer_value(json_object_get(j, "overflow")), 1);
    CHECK_EQ_U(json_integer_value(json_object_get(j, "p99")), hist_percentile(h, 99));
    CHECK_EQ_U(json_integer_value(json_object_get(j, "p999")), hist_percentile(h, 99.9));
    CHECK(fabs(json_real_value(json_object_get(j, "mean")) - hist_mean(h)) < 1e-9 * hist_mean(h));
    CHECK_EQ_U(hist_from_json(r, j), 0);
    CHECK(hist_equal(h, r));
    /* Serialising the rebuilt one gives the same text. */
    json_t *j1 = hist_to_json(h), *j2 = hist_to_json(r);
    char *t1 = json_dumps(j1, JSON_COMPACT | JSON_SORT_KEYS);
    char *t2 = json_dumps(j2, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(t1, t2);
    free(t1);
    free(t2);
    json_decref(j1);
    json_decref(j2);
    json_decref(j);

    /* Two JSON results merged == one histogram over both. */
    struct hist *a = malloc(sizeof *a);
    hist_init(a);
    hist_init(h);
    for (size_t i = 0; i < n; i++)
        hist_record(i % 3 ? h : a, v[i]);
    json_t *ja = round_trip_text(a), *jh = round_trip_text(h);
    CHECK_EQ_U(hist_from_json(r, ja), 0);
    hist_merge(h, r);
    CHECK_EQ_U(hist_from_json(r, jh), 0);
    hist_merge(r, a);
    CHECK(hist_equal(h, r));
    json_decref(ja);
    json_decref(jh);

    hist_init(h);                  /* empty */
    j = round_trip_text(h);
    CHECK_EQ_U(json_array_size(json_object_get(j, "buckets")), 0);
    hist_record(r, 9);
    CHECK_EQ_U(hist_from_json(r, j), 0);
    CHECK(hist_equal(h, r));
    json_decref(j);
    free(v);
    free(a);
    free(h);
    free(r);
}

static void check_rejected(const char *text)
{
    struct hist *h = malloc(sizeof *h);
    json_t *j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    hist_init(h);
    hist_record(h, 5);
    if (hist_from_json(h, j) != -1)
        printf("#   accepted: %s\n", text);
    CHECK_EQ_U(hist_count(h), 0);
    CHECK_EQ_U(hist_next_bucket(h, 0), HIST_BUCKETS);
    json_decref(j);
    free(h);
}

#define OK_TAIL ",\"sum\":30,\"bucket_scheme\":\"log-linear:128\"}"

static void test_json_rejects(void)
{
    struct hist *h = malloc(sizeof *h);
    json_t *j = json_loads("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,1]]"
                           OK_TAIL, 0, NULL);
    CHECK_EQ_U(hist_from_json(h, j), 0);
    CHECK_EQ_U(hist_count(h), 2);
    CHECK_EQ_U(hist_sum(h), 30);
    json_decref(j);
    free(h);
    check_rejected("[]");
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,1]],"
                   "\"sum\":30,\"bucket_scheme\":\"log-linear:64\"}");
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,1]],\"sum\":30}");
    check_rejected("{\"count\":3,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[2534,1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[-1,1]]" OK_TAIL);
    check_rejected("{\"count\":0,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,-1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":[[10,1],[20,1,3]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":20,\"buckets\":{}" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":11,\"max\":20,\"buckets\":[[10,1],[20,1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":21,\"buckets\":[[10,1],[20,1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"buckets\":[[10,1],[20,1]]" OK_TAIL);
    check_rejected("{\"count\":2,\"min\":10,\"max\":\"20\",\"buckets\":[[10,1],[20,1]]" OK_TAIL);
    check_rejected("{\"count\":0,\"min\":10,\"max\":20,\"buckets\":[]" OK_TAIL);
    check_rejected("{\"count\":1,\"min\":10,\"max\":20,"
                   "\"buckets\":[[10,9223372036854775807],[20,2]]" OK_TAIL);
}

UNIT_MAIN(test_bucket_math, test_rank_boundaries, test_uniform, test_lognormal, test_bimodal,
          test_single_value, test_empty, test_edge_values, test_record_n,
          test_merge, test_add_bucket, test_json_round_trip, test_json_rejects)
