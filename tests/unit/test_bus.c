/* The bus: ring eviction, `since` semantics, gap detection, id order,
 * subscriber callbacks. */
#include <stdbool.h>

#include "bus.h"
#include "unit.h"

static void publish_n(struct bus_channel *ch, unsigned n)
{
    char body[32];
    for (unsigned i = 0; i < n; i++) {
        int len = snprintf(body, sizeof body, "m%llu", (unsigned long long)bus_last_id(ch) + 1);
        CHECK(bus_publish(ch, body, (size_t)len, 1000 + i) != NULL);
    }
}

static void test_ids_start_at_one_and_increase(void)
{
    struct bus *bus = bus_new(8, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    CHECK_EQ_U(bus_last_id(ch), 0);
    const struct bus_msg *m = bus_publish(ch, "x", 1, 42);
    CHECK_EQ_U(m->id, 1);
    CHECK_STR(m->json, "{\"id\":1,\"ts\":42,\"data\":\"x\"}");
    CHECK_EQ_U(m->json_len, strlen(m->json));
    publish_n(ch, 3);
    CHECK_EQ_U(bus_last_id(ch), 4);
    for (uint64_t id = 1; id <= 4; id++)
        CHECK_EQ_U(bus_msg_at(ch, id)->id, id);
    bus_free(bus);
}

static void test_channels_are_separate_and_reused(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *a = bus_channel(bus, "a", 1), *b = bus_channel(bus, "b", 1);
    CHECK(a != b);
    CHECK(bus_channel(bus, "a", 1) == a);
    publish_n(a, 2);
    CHECK_EQ_U(bus_last_id(a), 2);
    CHECK_EQ_U(bus_last_id(b), 0);
    CHECK_EQ_U(bus_channel_count(bus), 2);
    bus_free(bus);
}

static void test_max_channels(void)
{
    struct bus *bus = bus_new(4, 2);
    CHECK(bus_channel(bus, "a", 1) != NULL);
    CHECK(bus_channel(bus, "b", 1) != NULL);
    CHECK(bus_channel(bus, "c", 1) == NULL);      /* over the limit */
    CHECK(bus_channel(bus, "a", 1) != NULL);      /* existing ones still found */
    bus_free(bus);
}

static void test_many_channels_survive_rehash(void)
{
    struct bus *bus = bus_new(2, 100000);
    char name[16];
    struct bus_channel *first = bus_channel(bus, "c0", 2);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(name, sizeof name, "c%d", i);
        struct bus_channel *ch = bus_channel(bus, name, (size_t)n);
        CHECK(ch != NULL);
        if (ch && bus_last_id(ch) == 0)
            publish_n(ch, 1);
    }
    CHECK(bus_channel(bus, "c0", 2) == first);
    CHECK_EQ_U(bus_channel_count(bus), 5000);
    bus_free(bus);
}

static void test_ring_evicts_oldest(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    publish_n(ch, 10);
    CHECK(bus_msg_at(ch, 6) == NULL);             /* evicted */
    for (uint64_t id = 7; id <= 10; id++)
        CHECK(bus_msg_at(ch, id) && bus_msg_at(ch, id)->id == id);
    CHECK(bus_msg_at(ch, 11) == NULL);            /* not yet */
    CHECK(bus_msg_at(ch, 0) == NULL);
    bus_free(bus);
}

static void test_since_semantics(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    struct bus_span sp = bus_span_since(ch, 0);   /* empty channel */
    CHECK(sp.from > sp.to);
    CHECK_EQ_U(sp.lost, 0);
    publish_n(ch, 3);
    sp = bus_span_since(ch, 0);
    CHECK_EQ_U(sp.from, 1);
    CHECK_EQ_U(sp.to, 3);
    CHECK_EQ_U(sp.lost, 0);
    sp = bus_span_since(ch, 2);
    CHECK_EQ_U(sp.from, 3);
    CHECK_EQ_U(sp.to, 3);
    sp = bus_span_since(ch, 3);                   /* caught up */
    CHECK(sp.from > sp.to);
    sp = bus_span_since(ch, 99);                  /* ahead: nothing yet (cursor.h resets those) */
    CHECK(sp.from > sp.to);
    CHECK_EQ_U(sp.lost, 0);
    bus_free(bus);
}

static void test_gap_detection(void)
{
    struct bus *bus = bus_new(10, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    publish_n(ch, 30);                            /* retained: 21..30 */
    struct bus_span sp = bus_span_since(ch, 5);
    CHECK_EQ_U(sp.from, 21);
    CHECK_EQ_U(sp.to, 30);
    CHECK_EQ_U(sp.lost, 15);                      /* 6..20 */
    sp = bus_span_since(ch, 0);
    CHECK_EQ_U(sp.lost, 20);
    sp = bus_span_since(ch, 20);                  /* exactly at the edge: no gap */
    CHECK_EQ_U(sp.from, 21);
    CHECK_EQ_U(sp.lost, 0);
    sp = bus_span_since(ch, 19);
    CHECK_EQ_U(sp.lost, 1);
    bus_free(bus);
}

static void test_escaping_in_envelope(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    const struct bus_msg *m = bus_publish(ch, "a\"b\\c\n\x01\xc3\xa9", 9, 7);
    CHECK_STR(m->json, "{\"id\":1,\"ts\":7,\"data\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"}");
    bus_free(bus);
}

struct probe {
    struct bus_sub sub;
    uint64_t ids[16];
    unsigned n;
    bool leave_after_one;
};

static void probe_on_msg(struct bus_sub *sub, const struct bus_msg *m)
{
    struct probe *p = (struct probe *)sub;
    if (p->n < 16)
        p->ids[p->n++] = m->id;
    if (p->leave_after_one)
        bus_unsubscribe(sub);
}

static void test_subscribers_called_in_order(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    struct probe a = { .sub.on_msg = probe_on_msg };
    struct probe b = { .sub.on_msg = probe_on_msg, .leave_after_one = true };
    struct probe c = { .sub.on_msg = probe_on_msg };
    bus_subscribe(ch, &a.sub);
    bus_subscribe(ch, &b.sub);
    bus_subscribe(ch, &c.sub);
    CHECK_EQ_U(bus_subscriber_count(ch), 3);
    publish_n(ch, 3);
    CHECK_EQ_U(a.n, 3);
    CHECK_EQ_U(b.n, 1);                           /* left from inside its callback */
    CHECK_EQ_U(c.n, 3);                           /* and c after it still served */
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ_U(a.ids[i], i + 1);
    CHECK_EQ_U(bus_subscriber_count(ch), 2);
    bus_unsubscribe(&a.sub);
    bus_unsubscribe(&a.sub);                      /* idempotent */
    bus_unsubscribe(&c.sub);
    CHECK_EQ_U(bus_subscriber_count(ch), 0);
    publish_n(ch, 1);
    CHECK_EQ_U(a.n, 3);
    bus_free(bus);
}

/* A broker numbers messages: bus_deliver takes its ids, skips what is
 * old, and a jump leaves only the new id retained (what lay between is lost). */
static void test_deliver_with_ids(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    CHECK(bus_deliver(ch, 1, "x", 1, 1) != NULL);
    CHECK(bus_deliver(ch, 2, "y", 1, 2) != NULL);
    CHECK(bus_deliver(ch, 2, "y", 1, 2) == NULL);           /* a duplicate */
    CHECK(bus_deliver(ch, 1, "x", 1, 1) == NULL);
    CHECK(bus_deliver(ch, 7, "z", 1, 7) != NULL);           /* 3..6 never came */
    CHECK_EQ_U(bus_last_id(ch), 7);
    CHECK(bus_msg_at(ch, 2) == NULL);
    struct bus_span sp = bus_span_since(ch, 2);
    CHECK_EQ_U(sp.from, 7);
    CHECK_EQ_U(sp.lost, 4);
    bus_free(bus);
}

static unsigned resets_seen;
static void on_reset_count(struct bus_sub *sub)
{
    CHECK(sub->ch == NULL);                                  /* already unsubscribed */
    resets_seen++;
}

static void on_msg_ignore(struct bus_sub *sub, const struct bus_msg *m)
{
    (void)sub;
    (void)m;
}

static void test_reset_tells_subscribers(void)
{
    struct bus *bus = bus_new(4, 10);
    bus_set_epoch(bus, 5);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    CHECK_EQ_U(bus_epoch(ch), 5);
    struct bus_sub a = { .on_msg = on_msg_ignore, .on_reset = on_reset_count };
    struct bus_sub b = { .on_msg = on_msg_ignore };
    bus_subscribe(ch, &a);
    bus_subscribe(ch, &b);
    publish_n(ch, 3);
    bus_reset(ch, 9);
    CHECK_EQ_U(resets_seen, 1);
    CHECK_EQ_U(bus_subscriber_count(ch), 0);
    CHECK_EQ_U(bus_last_id(ch), 0);
    CHECK_EQ_U(bus_epoch(ch), 9);
    CHECK(bus_msg_at(ch, 1) == NULL);
    publish_n(ch, 1);
    CHECK_EQ_U(bus_msg_at(ch, 1)->id, 1);                    /* ids start over */
    bus_free(bus);
}

UNIT_MAIN(test_deliver_with_ids, test_reset_tells_subscribers, test_ids_start_at_one_and_increase, test_channels_are_separate_and_reused,
          test_max_channels, test_many_channels_survive_rehash, test_ring_evicts_oldest,
          test_since_semantics, test_gap_detection, test_escaping_in_envelope,
          test_subscribers_called_in_order)
