/* What a subscriber received: identity, order, loss and latency. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "publisher.h"
#include "run.h"

const char *const transport_names[TR_COUNT] = { "poll", "longpoll", "sse", "ws" };

uint64_t run_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void run_channel_name(const struct run *run, unsigned channel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%u", run->channel_prefix, channel);
}

unsigned run_listeners(unsigned subscribers, unsigned channels, unsigned c)
{
    return subscribers / channels + (c < subscribers % channels);
}

/* Wall clock minus monotonic clock, read once per process: the two are
 * slewed alike by NTP, so the difference holds unless the wall clock is
 * stepped during a run. */
static uint64_t wall_offset;
static pthread_once_t wall_once = PTHREAD_ONCE_INIT;

static void wall_offset_read(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    wall_offset = wall - run_now_us();
}

static uint64_t wall_offset_us(void)
{
    pthread_once(&wall_once, wall_offset_read);
    return wall_offset;
}

size_t payload_format(char *buf, size_t cap, uint64_t k, uint64_t sched_us, size_t size)
{
    int n = snprintf(buf, cap, "%" PRIu64 " %" PRIu64 " ", k, sched_us + wall_offset_us());
    size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
    /* Pad to the requested payload size so every transport moves it all. */
    while (len < size && len + 1 < cap)
        buf[len++] = 'x';
    buf[len] = '\0';
    return len;
}

static int parse_field(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (s >= end || *s != ' ')
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

int payload_parse(const char *data, size_t len, uint64_t *k, uint64_t *sched_us)
{
    const char *p = data, *end = data + len;
    uint64_t wall;
    if (parse_field(&p, end, k) != 0 || parse_field(&p, end, &wall) != 0)
        return -1;
    /* A time before our clock's origin (a sender whose clock is far
     * behind): as early as we can say, so its latency shows as huge. */
    uint64_t offset = wall_offset_us();
    *sched_us = wall > offset ? wall - offset : 0;
    return 0;
}

/* The bitsets of received (per subscriber) and acknowledged (per run)
 * sequence numbers. */
static bool bit_get(const uint8_t *set, uint64_t i)
{
    return set[i >> 3] & (1u << (i & 7));
}

static void bit_set(uint8_t *set, uint64_t i)
{
    set[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static bool seen_test_and_set(struct sub_track *t, uint64_t seq)
{
    bool was = bit_get(t->seen, seq);
    bit_set(t->seen, seq);
    return was;
}

void track_message(struct run *run, struct sub_track *t, uint64_t id, const char *data,
                   size_t len, uint64_t now_us)
{
    uint64_t k, sched;
    unsigned channels = run->cfg->channels;
    if (payload_parse(data, len, &k, &sched) != 0 || k % channels != t->channel ||
        k / channels >= run->seq_cap) {
        run->cost.protocol_errors++;
        return;
    }
    if (run->t0_learned && !__atomic_load_n(run->t0_learned, __ATOMIC_ACQUIRE)) {
        uint64_t zero = 0, t0 = schedule_origin_us(sched, run->cfg->rate, k);
        __atomic_compare_exchange_n(run->t0_learned, &zero, t0 ? t0 : 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    if (!t->got_first) {
        t->got_first = true;
        hist_record(&run->first_message, now_us - t->connect_start_us);
    }
    if (seen_test_and_set(t, k / channels)) {
        t->duplicates++;
        run->duplicates++;
        return;
    }
    /* Order is the server's: a message's id below one already received.
     * Payload order would also count publishes that reached the server in
     * another order than they were sent (the publisher has many requests
     * in flight), so a message without an id is not judged. */
    if (id && id < t->last_id) {
        t->out_of_order++;
        run->out_of_order++;
    } else if (id) {
        t->last_id = id;
    }
    t->unique++;
    if (k < run->k_measure_from || k >= run->k_measure_to)
        return;                       /* warm-up traffic: not measured */
    run->delivered++;
    hist_record(&run->latency, now_us > sched ? now_us - sched : 0);
    uint64_t sent = __atomic_load_n(&run->sent_us[k], __ATOMIC_RELAXED);   /* the publisher's thread writes it */
    if (sent)
        hist_record(&run->latency_uncorrected, now_us > sent ? now_us - sent : 0);
}

void track_cursor(struct sub_track *t, uint64_t key)
{
    t->last_id = key;
}

void track_gap(struct run *run, struct sub_track *t, uint64_t lost, uint64_t first_id)
{
    t->gap_lost += lost;
    run->gap_lost += lost;
    if (first_id > 0 && first_id - 1 > t->last_id)
        t->last_id = first_id - 1;
}

static void cursor_restart(struct run *run, struct sub_track *t)
{
    /* Ids start over: an old cursor would make every new id look out of
     * order, or (sent back) skip the new start's first messages. Loss is
     * still counted by sequence number (seen), which does not restart. */
    t->last_id = 0;
    run->cursor_resets++;
}

void track_epoch(struct run *run, struct sub_track *t, uint64_t epoch)
{
    if (epoch == t->epoch)
        return;
    if (t->epoch != 0)
        cursor_restart(run, t);
    t->epoch = epoch;
    /* An epoch is its start's time, so a restart brings a larger one; the
     * first subscriber to see it counts it for the run. */
    if (epoch > run->epoch_max) {
        if (run->epoch_max != 0)
            run->epoch_changes++;
        run->epoch_max = epoch;
    }
}

void track_reset(struct run *run, struct sub_track *t, uint64_t epoch)
{
    track_epoch(run, t, epoch);
    if (t->last_id != 0)              /* not yet started over by the epoch */
        cursor_restart(run, t);
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len > n && memcmp(s, prefix, n) == 0;
}

/* The server's control objects are short and of a fixed form; frames are
 * not NUL-terminated. Returns what sscanf does, or -1. */
__attribute__((format(scanf, 3, 4)))
static int control_scan(const char *json, size_t len, const char *fmt, ...)
{
    char text[256];
    if (len >= sizeof text)
        return -1;
    memcpy(text, json, len);
    text[len] = '\0';
    va_list ap;
    va_start(ap, fmt);
    int n = vsscanf(text, fmt, ap);
    va_end(ap);
    return n;
}

/* A gap, hello or reset object: 1 handled, 0 not one, -1 malformed. */
static int track_control(struct run *run, struct sub_track *t, const char *json, size_t len)
{
    unsigned long long a, b, c;
    if (starts_with(json, len, "{\"gap\":")) {
        if (control_scan(json, len, "{\"gap\":true,\"since\":%llu,\"first_id\":%llu,\"lost\":%llu}",
                         &a, &b, &c) != 3)
            return -1;
        track_gap(run, t, c, b);
        return 1;
    }
    if (starts_with(json, len, "{\"hello\":")) {
        if (control_scan(json, len, "{\"hello\":true,\"epoch\":%llu,\"last_id\":%llu}",
                         &a, &b) != 2)
            return -1;
        track_epoch(run, t, a);
        return 1;
    }
    if (starts_with(json, len, "{\"reset\":")) {
        if (control_scan(json, len, "{\"reset\":true,\"epoch\":%llu,\"since\":%llu,\"last_id\":%llu}",
                         &a, &b, &c) != 3)
            return -1;
        track_reset(run, t, a);
        return 1;
    }
    return 0;
}

int track_envelope(struct run *run, struct sub_track *t, const char *json, size_t len)
{
    return track_envelope_at(run, t, json, len, run_now_us());
}

int track_envelope_at(struct run *run, struct sub_track *t, const char *json, size_t len,
                      uint64_t now)
{
    int control = track_control(run, t, json, len);
    if (control < 0) {
        run->cost.protocol_errors++;
        return -1;
    }
    if (control > 0)
        return 0;
    uint64_t id, ts;
    const char *data;
    size_t data_len;
    if (envelope_peek(json, len, &id, &ts, &data, &data_len)) {
        track_message(run, t, id, data, data_len, now);
        return 0;
    }
    struct envelope e;
    if (envelope_decode(json, len, &e) != 0) {
        run->cost.protocol_errors++;
        return -1;
    }
    track_message(run, t, e.id, e.data, e.data_len, now);
    envelope_clear(&e);
    return 0;
}

bool track_received(const struct sub_track *t, uint64_t seq) { return bit_get(t->seen, seq); }

void run_ack(struct run *run, uint64_t k) { bit_set(run->acked, k); }

bool run_acked(const struct run *run, uint64_t k) { return bit_get(run->acked, k); }

void track_unacked(struct run *run, struct sub_track *t, uint64_t k)
{
    if (!bit_get(t->seen, k / run->cfg->channels))
        return;
    run->delivered--;
    run->delivered_unacked++;
}

void track_connected(struct run *run, struct sub_track *t)
{
    uint64_t now = run_now_us();
    if (!t->connected)
        hist_record(&run->connect_time, now - t->connect_start_us);
    t->connected = true;
}

void cost_window(struct cost *total, const struct cost *start, const struct cost *end)
{
    /* Requests, bytes and connections: from the measure window's start to
     * the drain's end, like CPU. Reconnects and errors: the whole run, so
     * none is missed. */
    total->requests = end->requests - start->requests;
    total->empty_answers = end->empty_answers - start->empty_answers;
    total->bytes_rx = end->bytes_rx - start->bytes_rx;
    total->bytes_tx = end->bytes_tx - start->bytes_tx;
    total->connects = end->connects - start->connects;
}
