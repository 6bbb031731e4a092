/* Whether a subscription's cursor belongs to this server start: its epoch,
 * and a cursor ahead of the channel, which only another start can give. */
#include <stdbool.h>

#include "bus.h"
#include "cursor.h"
#include "unit.h"

#define EPOCH 1764059000123456u

static void test_stale(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    for (int i = 0; i < 6; i++)                   /* last id 6, ids 3..6 retained */
        CHECK(bus_publish(ch, "x", 1, 1) != NULL);
    const struct {
        struct cursor c;
        bool stale;
    } cases[] = {
        { { .has_since = false }, false },                              /* no cursor */
        { { .has_epoch = true, .epoch = EPOCH + 1 }, false },           /* nothing to reset */
        { { .has_since = true, .since = 0 }, false },
        { { .has_since = true, .since = 6 }, false },                   /* caught up */
        { { .has_since = true, .since = 1 }, false },                   /* behind: a gap, not a reset */
        { { .has_since = true, .since = 7 }, true },                    /* ahead: another start */
        { { .has_since = true, .since = 7, .has_epoch = true, .epoch = EPOCH }, true },
        { { .has_since = true, .since = 5, .has_epoch = true, .epoch = EPOCH }, false },
        { { .has_since = true, .since = 5, .has_epoch = true, .epoch = EPOCH - 1 }, true },
        { { .has_since = true, .since = 0, .has_epoch = true, .epoch = 0 }, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = cursor_stale(&cases[i].c, ch, EPOCH);
        if (got != cases[i].stale)
            printf("#   case %zu\n", i);
        CHECK(got == cases[i].stale);
    }
    bus_free(bus);
}

static void test_empty_channel(void)
{
    struct bus *bus = bus_new(4, 10);
    struct bus_channel *ch = bus_channel(bus, "a", 1);
    struct cursor c = { .has_since = true, .since = 0 };
    CHECK(!cursor_stale(&c, ch, EPOCH));
    c.since = 1;                                  /* a fresh start has no id 1 yet */
    CHECK(cursor_stale(&c, ch, EPOCH));
    bus_free(bus);
}

UNIT_MAIN(test_stale, test_empty_channel)
