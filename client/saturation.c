#include "saturation.h"

#include <time.h>

#include "run.h"

static double clock_s(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void saturation_init(struct saturation_meter *m)
{
    m->wall0_us = m->wall1_us = 0;
    m->cpu0_s = m->cpu1_s = 0;
    m->due_us = 0;
    hist_init(&m->lag);
    if (pthread_getcpuclockid(pthread_self(), &m->cpu_clock) != 0)
        m->cpu_clock = CLOCK_THREAD_CPUTIME_ID;
}

void saturation_begin(struct saturation_meter *m)
{
    m->wall0_us = run_now_us();
    m->cpu0_s = clock_s(m->cpu_clock);
}

void saturation_end(struct saturation_meter *m)
{
    m->wall1_us = run_now_us();
    m->cpu1_s = clock_s(m->cpu_clock);
}

void saturation_tick(struct saturation_meter *m, uint64_t now_us, uint64_t period_us)
{
    if (m->wall0_us && !m->wall1_us && m->due_us)
        hist_record(&m->lag, now_us > m->due_us ? now_us - m->due_us : 0);
    m->due_us = now_us + period_us;
}

struct saturation saturation_get(const struct saturation_meter *m)
{
    struct saturation s = { 0 };
    double wall = (double)(m->wall1_us - m->wall0_us) / 1e6;
    if (m->wall1_us > m->wall0_us && wall > 0)
        s.busy = (m->cpu1_s - m->cpu0_s) / wall;
    s.lag_p50_us = hist_percentile(&m->lag, 50);
    s.lag_p99_us = hist_percentile(&m->lag, 99);
    s.lag_max_us = hist_max(&m->lag);
    return s;
}

bool saturation_limited(const struct saturation *s)
{
    return s->busy >= SATURATION_BUSY || s->lag_p50_us >= SATURATION_LAG_US;
}
