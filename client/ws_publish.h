/* --publish-via ws: one WebSocket per channel; each text frame sent is one
 * publish (the protocol has no per-message answer). */
#ifndef PUSHPULL_WS_PUBLISH_H
#define PUSHPULL_WS_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "run.h"

struct event_base;
struct ws_publisher;

/* Connects to channel `channel` of the run on `base` (the publisher's loop:
 * a WebSocket cannot live in a curl multi's pool, see wsconn.c) and
 * reconnects whenever the connection ends (100 ms doubling to 5 s). NULL on
 * failure. */
struct ws_publisher *ws_publisher_open(struct run *run, struct event_base *base, unsigned channel);
/* 0 once the payload is queued on an open connection; -1 when it is not
 * open or too much is still unwritten. */
int ws_publisher_send(struct ws_publisher *p, const char *payload, size_t len);
bool ws_publisher_ready(const struct ws_publisher *p);
void ws_publisher_free(struct ws_publisher *p);

#endif
