/* A subscription's resume point, and whether it belongs to this server
 * start. History is in memory, so ids start over with every start: a
 * cursor read from an earlier start names messages this start never had.
 * Taken as it is, a cursor of 5000 would wait for id 5001 and silently skip
 * ids 1..5000 of the new start; instead such a cursor is "stale" and the
 * subscriber is told so (a reset marker) and served from the beginning. */
#ifndef PUSHPULL_CURSOR_H
#define PUSHPULL_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

struct bus_channel;

struct cursor {
    bool has_since;                   /* ?since= or Last-Event-ID was given */
    uint64_t since;
    bool has_epoch;                   /* ?epoch= was given */
    uint64_t epoch;
};

/* A cursor is stale when its epoch (if given) is not this start's, or when
 * it is ahead of the channel, which no cursor of this start can be (a
 * browser's Last-Event-ID comes without an epoch). Without a cursor there
 * is nothing to be stale. */
bool cursor_stale(const struct cursor *c, const struct bus_channel *ch, uint64_t epoch);

/* What a subscriber learns about its cursor, as the JSON object both
 * streaming transports send (SSE as an event's data, WebSocket as a text
 * frame; docs/PROTOCOL.md). Each writes the object into buf (at least
 * CURSOR_MARKER_MAX bytes, NUL-terminated) and returns its length. None has
 * an "id", which tells them from messages. */
#define CURSOR_MARKER_MAX 160
/* The first thing on every stream: this start's epoch, where the channel is. */
int cursor_hello(char *buf, uint64_t epoch, uint64_t last_id);
/* The cursor `since` was of another start: served from the beginning. */
int cursor_reset(char *buf, uint64_t epoch, uint64_t since, uint64_t last_id);
/* Ids since+1 .. first-1 fell out of the history before they were sent. */
int cursor_gap(char *buf, uint64_t since, uint64_t first, uint64_t lost);

#endif
