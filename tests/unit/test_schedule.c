/* The open-loop schedule: message k is due at t0 + k/rate, whatever
 * happened before; schedule_due tells how many are due at a time. */
#include "publisher.h"
#include "unit.h"

static void test_times_are_k_over_rate(void)
{
    CHECK_EQ_U(schedule_time_us(1000, 1000, 0), 1000);
    CHECK_EQ_U(schedule_time_us(1000, 1000, 1), 2000);
    CHECK_EQ_U(schedule_time_us(0, 3, 1), 333333);      /* rounded to the µs */
    CHECK_EQ_U(schedule_time_us(0, 3, 3), 1000000);
    CHECK_EQ_U(schedule_time_us(0, 0.5, 1), 2000000);
    /* No drift over a long run: the millionth message is exactly on time. */
    CHECK_EQ_U(schedule_time_us(0, 1000, 1000000), 1000000000ull);
}

static void test_nothing_due_before_t0(void)
{
    CHECK_EQ_U(schedule_due(5000, 100, 0), 0);
    CHECK_EQ_U(schedule_due(5000, 100, 4999), 0);
    CHECK_EQ_U(schedule_due(5000, 100, 5000), 1);       /* message 0 at t0 */
}

static void test_due_matches_times(void)
{
    const double rates[] = { 1, 3, 7.5, 100, 999, 1000, 12345.6, 1e6 };
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (uint64_t k = 0; k < 2000; k++) {
            uint64_t t = schedule_time_us(777, rates[r], k);
            /* At its own time k is due (k+1 messages), one µs before it is not. */
            uint64_t due = schedule_due(777, rates[r], t);
            CHECK(due >= k + 1);
            CHECK(schedule_time_us(777, rates[r], due) > t);
            if (t > 777 && schedule_time_us(777, rates[r], k - (k > 0)) < t)
                CHECK(schedule_due(777, rates[r], t - 1) <= k);
        }
    }
}

static void test_late_timer_releases_every_due_message(void)
{
    /* Open loop: a timer that fires 250 ms late at 1000 msg/s finds 251
     * messages due and sends them all at once, skipping none. */
    CHECK_EQ_U(schedule_due(0, 1000, 250000), 251);
    uint64_t prev = 0;
    for (uint64_t now = 0; now < 3000000; now += 12345) {
        uint64_t due = schedule_due(0, 1000, now);
        CHECK(due >= prev);                              /* monotone */
        prev = due;
    }
}

UNIT_MAIN(test_times_are_k_over_rate, test_nothing_due_before_t0, test_due_matches_times,
          test_late_timer_releases_every_due_message)
