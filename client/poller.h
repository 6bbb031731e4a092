/* One HTTP request at a time for a polling subscriber, its answer tracked.
 * Short polling and long polling differ only in when they ask again. */
#ifndef PUSHPULL_POLLER_H
#define PUSHPULL_POLLER_H

#include "subscriber.h"

struct poller;
/* The answer was tracked (ok) or the request failed (!ok: the poller has
 * already called subscriber_retry). */
typedef void (*poller_answered_fn)(struct poller *p, bool ok, bool empty);

struct poller {
    struct loop_xfer x;
    struct subscriber *s;
    poller_answered_fn answered;
    char *body;
    size_t len, cap;
    bool fresh;                       /* churn: next request on a new connection */
};

int poller_init(struct poller *p, struct subscriber *s, poller_answered_fn answered);
/* GET endpoint<channel>?since=<last_id>&epoch=<its epoch><extra>; curl gives
 * up after timeout_ms. */
int poller_request(struct poller *p, const char *endpoint, const char *extra, long timeout_ms);
void poller_cancel(struct poller *p);
void poller_free(struct poller *p);

#endif
