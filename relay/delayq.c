#include "delayq.h"
#include "units.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One Ethernet packet: a real link serializes whole packets. */
#define PACKET_BYTES 1500
/* Caps a slice so len * 8e9 in link_occupy stays far inside 64 bits. */
#define SLICE_CAP (64 * 1024)

struct slice {
    struct slice *next;
    uint64_t release_us;
    size_t len, off;            /* off: bytes already written */
    unsigned char data[];
};

struct delayq {
    struct slice *head, *tail;
    size_t memory;
    uint64_t delay_us;
    uint64_t rate_bps;
    size_t slice_max;
    /* Nanoseconds, so that per-slice rounding does not drift at high rates. */
    uint64_t link_free_ns;
    bool end_pushed;
    uint64_t end_us;
};

struct delayq *delayq_new(uint64_t delay_us, uint64_t rate_bps)
{
    struct delayq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->delay_us = delay_us;
    q->rate_bps = rate_bps;
    q->slice_max = SIZE_MAX;
    if (rate_bps > 0) {
        uint64_t per_ms = rate_bps / 8 / 1000;
        q->slice_max = per_ms < PACKET_BYTES ? PACKET_BYTES
                     : per_ms > SLICE_CAP ? SLICE_CAP : (size_t)per_ms;
    }
    return q;
}

void delayq_free(struct delayq *q)
{
    if (q == NULL)
        return;
    while (q->head) {
        struct slice *s = q->head;
        q->head = s->next;
        free(s);
    }
    free(q);
}

/* The link is busy from max(now, link_free) for len bytes' worth of time;
 * returns when the last bit is on the wire, in ns. */
static uint64_t link_occupy(struct delayq *q, size_t len, uint64_t now_us)
{
    uint64_t start = now_us * 1000;
    if (q->link_free_ns > start)
        start = q->link_free_ns;
    if (q->rate_bps > 0)
        start += (uint64_t)len * 8 * 1000000000u / q->rate_bps;
    q->link_free_ns = start;
    return start;
}

/* Rounded up to whole microseconds: a byte must never leave early. */
static uint64_t release_at(const struct delayq *q, uint64_t done_ns)
{
    return (done_ns + 999) / 1000 + q->delay_us;
}

void delayq_hold_until(struct delayq *q, uint64_t at_us)
{
    if (q->link_free_ns < at_us * 1000)
        q->link_free_ns = at_us * 1000;
}

int delayq_push(struct delayq *q, const void *data, size_t len, uint64_t now_us)
{
    const unsigned char *p = data;
    struct slice *first = NULL, *last = NULL;
    size_t memory = 0;
    uint64_t saved_link = q->link_free_ns;
    while (len > 0) {
        size_t n = len < q->slice_max ? len : q->slice_max;
        struct slice *s = malloc(sizeof *s + n);
        if (s == NULL) {
            while (first) {
                struct slice *nx = first->next;
                free(first);
                first = nx;
            }
            q->link_free_ns = saved_link;
            return -1;
        }
        memcpy(s->data, p, n);
        s->len = n;
        s->off = 0;
        s->next = NULL;
        s->release_us = release_at(q, link_occupy(q, n, now_us));
        if (last)
            last->next = s;
        else
            first = s;
        last = s;
        memory += sizeof *s + n;
        p += n;
        len -= n;
    }
    if (first == NULL)
        return 0;
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    q->memory += memory;
    return 0;
}

void delayq_push_end(struct delayq *q, uint64_t now_us)
{
    if (q->end_pushed)
        return;
    q->end_pushed = true;
    /* A FIN takes no link time, but waits for the bytes ahead of it. */
    q->end_us = release_at(q, link_occupy(q, 0, now_us));
}

size_t delayq_memory(const struct delayq *q)
{
    return q->memory;
}

int delayq_next_us(const struct delayq *q, uint64_t *at_us)
{
    if (q->head) {
        *at_us = q->head->release_us;
        return 0;
    }
    if (q->end_pushed) {
        *at_us = q->end_us;
        return 0;
    }
    return -1;
}

int delayq_due(const struct delayq *q, uint64_t now_us, struct iovec *iov, int max)
{
    int n = 0;
    for (const struct slice *s = q->head; s && n < max && s->release_us <= now_us; s = s->next) {
        iov[n].iov_base = (void *)(s->data + s->off);
        iov[n].iov_len = s->len - s->off;
        n++;
    }
    return n;
}

void delayq_consume(struct delayq *q, size_t n)
{
    while (n > 0 && q->head) {
        struct slice *s = q->head;
        size_t left = s->len - s->off;
        if (n < left) {
            s->off += n;
            return;
        }
        n -= left;
        q->head = s->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->memory -= sizeof *s + s->len;
        free(s);
    }
}

bool delayq_ended(const struct delayq *q, uint64_t now_us)
{
    return q->head == NULL && q->end_pushed && q->end_us <= now_us;
}

int delayq_parse_rate(const char *s, uint64_t *out_bps)
{
    static const struct unit units[] = {
        { "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 },
    };
    uint64_t v;
    if (units_parse_decimal(s, units, sizeof units / sizeof units[0], true, &v) != 0 || v == 0)
        return -1;
    *out_bps = v;
    return 0;
}
