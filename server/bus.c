#include "bus.h"

#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "wire.h"

struct bus_channel {
    struct bus_channel *hash_next;
    struct bus *bus;
    struct bus_msg **ring;        /* message with id i lives at (i-1) % cap */
    size_t cap;
    uint64_t last_id;
    size_t retained;              /* min(last_id, cap) */
    struct bus_sub *subs;
    size_t nsubs;
    uint64_t epoch;
    void *data;                   /* the broker's */
    size_t name_len;
    char name[CHANNEL_NAME_MAX + 1];
};

struct bus {
    struct bus_channel **buckets;
    size_t nbuckets;              /* power of two */
    size_t nchannels;
    size_t history;
    size_t max_channels;
    uint64_t epoch;               /* for channels created from now on */
    struct bus_hooks hooks;
    void *hooks_arg;
};

/* FNV-1a: channel names are short; this is cheap and spreads well. */
static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct bus *bus_new(size_t history, size_t max_channels)
{
    if (history == 0)
        return NULL;
    struct bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    bus->nbuckets = 64;
    bus->buckets = calloc(bus->nbuckets, sizeof *bus->buckets);
    if (!bus->buckets) {
        free(bus);
        return NULL;
    }
    bus->history = history;
    bus->max_channels = max_channels;
    return bus;
}

static void channel_free(struct bus_channel *ch)
{
    for (size_t i = 0; i < ch->cap; i++)
        if (ch->ring[i])
            shbuf_unref(&ch->ring[i]->hold);
    free(ch->ring);
    free(ch);
}

void bus_free(struct bus *bus)
{
    if (!bus)
        return;
    for (size_t b = 0; b < bus->nbuckets; b++) {
        struct bus_channel *ch = bus->buckets[b], *next;
        for (; ch; ch = next) {
            next = ch->hash_next;
            channel_free(ch);
        }
    }
    free(bus->buckets);
    free(bus);
}

static void bus_grow(struct bus *bus)
{
    size_t n = bus->nbuckets * 2;
    struct bus_channel **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;                   /* keep the old table: slower, not wrong */
    for (size_t b = 0; b < bus->nbuckets; b++) {
        struct bus_channel *ch = bus->buckets[b], *next;
        for (; ch; ch = next) {
            next = ch->hash_next;
            size_t i = name_hash(ch->name, ch->name_len) & (n - 1);
            ch->hash_next = nb[i];
            nb[i] = ch;
        }
    }
    free(bus->buckets);
    bus->buckets = nb;
    bus->nbuckets = n;
}

struct bus_channel *bus_channel(struct bus *bus, const char *name, size_t len)
{
    if (len == 0 || len > CHANNEL_NAME_MAX)
        return NULL;
    size_t i = name_hash(name, len) & (bus->nbuckets - 1);
    for (struct bus_channel *ch = bus->buckets[i]; ch; ch = ch->hash_next)
        if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
            return ch;
    if (bus->nchannels >= bus->max_channels)
        return NULL;
    struct bus_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->ring = calloc(bus->history, sizeof *ch->ring);
    if (!ch->ring) {
        free(ch);
        return NULL;
    }
    ch->cap = bus->history;
    ch->bus = bus;
    ch->epoch = bus->epoch;
    memcpy(ch->name, name, len);
    ch->name_len = len;
    ch->hash_next = bus->buckets[i];
    bus->buckets[i] = ch;
    if (++bus->nchannels > bus->nbuckets)
        bus_grow(bus);
    return ch;
}

size_t bus_channel_count(const struct bus *bus) { return bus->nchannels; }
uint64_t bus_last_id(const struct bus_channel *ch) { return ch->last_id; }
size_t bus_subscriber_count(const struct bus_channel *ch) { return ch->nsubs; }

static void ring_clear(struct bus_channel *ch)
{
    for (size_t i = 0; i < ch->cap; i++) {
        if (ch->ring[i])              /* queues may still hold it */
            shbuf_unref(&ch->ring[i]->hold);
        ch->ring[i] = NULL;
    }
    ch->retained = 0;
}

const struct bus_msg *bus_deliver(struct bus_channel *ch, uint64_t id, const char *data,
                                  size_t len, uint64_t ts_us)
{
    if (id <= ch->last_id)
        return NULL;
    struct bus_msg *m = wire_msg_new(id, ts_us, data, len);
    if (!m)
        return NULL;
    /* The ring holds consecutive ids: after a jump, only the new one. */
    if (id != ch->last_id + 1)
        ring_clear(ch);
    size_t slot = (size_t)((id - 1) % ch->cap);
    if (ch->ring[slot])           /* evicts id - cap: queues may still hold it */
        shbuf_unref(&ch->ring[slot]->hold);
    ch->ring[slot] = m;
    ch->last_id = id;
    if (ch->retained < ch->cap)
        ch->retained++;
    /* Save next first: a callback may unsubscribe (and free) its own sub. */
    for (struct bus_sub *s = ch->subs, *next; s; s = next) {
        next = s->next;
        s->on_msg(s, m);
    }
    return m;
}

const struct bus_msg *bus_publish(struct bus_channel *ch, const char *data,
                                  size_t len, uint64_t ts_us)
{
    struct bus *bus = ch->bus;
    if (bus->hooks.publish) {
        bus->hooks.publish(bus->hooks_arg, ch, data, len, ts_us);
        return NULL;
    }
    return bus_deliver(ch, ch->last_id + 1, data, len, ts_us);
}

void bus_reset(struct bus_channel *ch, uint64_t epoch)
{
    ring_clear(ch);
    ch->last_id = 0;
    ch->epoch = epoch;
    while (ch->subs) {
        struct bus_sub *s = ch->subs;
        bus_unsubscribe(s);
        if (s->on_reset)
            s->on_reset(s);       /* may free s: it is off the list already */
    }
}

void bus_set_hooks(struct bus *bus, const struct bus_hooks *hooks, void *arg)
{
    bus->hooks = *hooks;
    bus->hooks_arg = arg;
}

void bus_set_epoch(struct bus *bus, uint64_t epoch) { bus->epoch = epoch; }
uint64_t bus_epoch(const struct bus_channel *ch) { return ch->epoch; }
void bus_channel_set_epoch(struct bus_channel *ch, uint64_t epoch) { ch->epoch = epoch; }
void *bus_channel_data(const struct bus_channel *ch) { return ch->data; }
void bus_channel_set_data(struct bus_channel *ch, void *data) { ch->data = data; }

const char *bus_channel_name(const struct bus_channel *ch, size_t *len)
{
    *len = ch->name_len;
    return ch->name;
}

struct bus_span bus_span_since(const struct bus_channel *ch, uint64_t since)
{
    uint64_t first = ch->last_id - ch->retained + 1;   /* last+1 when empty */
    struct bus_span span = { .to = ch->last_id };
    span.from = since + 1 > first ? since + 1 : first;
    span.lost = since + 1 < first ? first - since - 1 : 0;
    if (since >= ch->last_id)
        span.from = ch->last_id + 1;                  /* ahead: nothing yet */
    return span;
}

const struct bus_msg *bus_msg_at(const struct bus_channel *ch, uint64_t id)
{
    if (id == 0 || id > ch->last_id || ch->last_id - id >= ch->retained)
        return NULL;
    return ch->ring[(id - 1) % ch->cap];
}

void bus_subscribe(struct bus_channel *ch, struct bus_sub *sub)
{
    /* Append so subscribers are served in the order they joined. */
    sub->ch = ch;
    sub->next = NULL;
    if (!ch->subs) {
        sub->prev = sub;          /* head->prev is the tail */
        ch->subs = sub;
    } else {
        struct bus_sub *tail = ch->subs->prev;
        tail->next = sub;
        sub->prev = tail;
        ch->subs->prev = sub;
    }
    ch->nsubs++;
}

void bus_unsubscribe(struct bus_sub *sub)
{
    struct bus_channel *ch = sub->ch;
    if (!ch)
        return;
    if (sub == ch->subs) {
        ch->subs = sub->next;
        if (ch->subs)
            ch->subs->prev = sub->prev;
    } else {
        sub->prev->next = sub->next;
        if (sub->next)
            sub->next->prev = sub->prev;
        else
            ch->subs->prev = sub->prev;
    }
    ch->nsubs--;
    sub->ch = NULL;
    sub->prev = sub->next = NULL;
}
