/* One HTTP request at a time for a polling subscriber, its answer tracked
 * by the run's dialect. Short polling and long polling differ only in when
 * they ask again. */
#ifndef PUSHPULL_POLLER_H
#define PUSHPULL_POLLER_H

#include "subscriber.h"

struct poller;
/* The answer was tracked (ok) or the request failed (!ok: the poller has
 * already called subscriber_retry). */
typedef void (*poller_answered_fn)(struct poller *p, bool ok, bool empty);

/* Response header values a dialect may need (poll_headers). */
#define POLLER_HEADER_MAX 128

struct poller {
    struct loop_xfer x;
    struct subscriber *s;
    poller_answered_fn answered;
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    char content_type[POLLER_HEADER_MAX], last_modified[POLLER_HEADER_MAX],
         etag[POLLER_HEADER_MAX];
    bool fresh;                       /* churn: next request on a new connection */
    bool timeout_is_empty;            /* curl's timeout ends a wait, not a failure */
    bool first;                       /* no answer yet */
    /* The request opens a session another transport carries on (the
     * WebSocket of an upgrade): its answer is neither an empty poll nor a
     * sign the subscriber is up; that transport's opening is. */
    bool handshake;
};

int poller_init(struct poller *p, struct subscriber *s, poller_answered_fn answered);
/* The dialect's next request for transport t, from the subscriber's
 * cursor; curl gives up after timeout_ms. */
int poller_request(struct poller *p, enum transport t, long timeout_ms);
void poller_cancel(struct poller *p);
void poller_free(struct poller *p);

#endif
