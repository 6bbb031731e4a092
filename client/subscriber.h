/* A virtual subscriber and the interface each transport implements. */
#ifndef PUSHPULL_SUBSCRIBER_H
#define PUSHPULL_SUBSCRIBER_H

#include "loop.h"
#include "run.h"

struct event;

struct subscriber {
    struct run *run;
    struct loop *loop;                /* the subscribers' connection pool */
    struct sub_track track;
    unsigned index;
    unsigned backoff_ms;              /* next reconnect delay; 0 after success */
    struct event *retry_timer;
    bool stopping;
    uint64_t rx_us;                   /* when the bytes being handled were read */
    void *impl;                       /* the transport's own state */
    void *session;                    /* the dialect's (dialect.session_size) */
    /* How the transport sends the server a message on this subscriber's
     * connection (a POST beside a long poll, a WebSocket text frame); NULL
     * where it cannot. Through subscriber_send. */
    int (*send)(struct subscriber *s, const char *data, size_t len);
};

struct transport_ops {
    /* Connect (or begin polling) from track.last_id. 0, or -1 when it could
     * not even start (it is retried with backoff). */
    int (*start)(struct subscriber *s);
    /* Churn: drop the connection now; the transport reconnects and resumes. */
    void (*drop)(struct subscriber *s);
    /* End for good and free the transport's state. */
    void (*stop)(struct subscriber *s);
};

extern const struct transport_ops poll_ops, longpoll_ops, sse_ops, ws_ops;

/* A transport lost its connection or a request failed: count it and call
 * ops->start again after a jittered backoff (100 ms doubling to 5 s). */
void subscriber_retry(struct subscriber *s);
/* A connection or answer succeeded: the backoff starts over. */
void subscriber_ok(struct subscriber *s);
/* The transport is up (an answer, an open stream or WebSocket): the backoff
 * starts over, and the subscriber is connected unless its dialect has a
 * handshake of its own to finish (dialect.own_handshake). */
void subscriber_up(struct subscriber *s);
/* Churn: the transport dropped its connection on purpose (counted as a
 * reconnect); the dialect forgets the session that went with it. */
void subscriber_dropped(struct subscriber *s);
/* Send the server a message on the subscriber's connection (the dialect's
 * packets: Engine.IO's CONNECT, pongs). 0, or -1 (counted as a transport
 * error) when the transport cannot or the connection is gone. */
int subscriber_send(struct subscriber *s, const char *data, size_t len);

/* "http://host:port" + "/ws/<channel>" etc. + the cursor: "?since=N",
 * and "&epoch=E" once the subscriber knows which server start its cursor is
 * of (so that a restart shows as a reset, not as silence). since_in_header:
 * the cursor goes in a header (SSE's Last-Event-ID), only the epoch here. */
void subscriber_url(const struct subscriber *s, const char *endpoint, bool since_in_header,
                    char *buf, size_t cap);

/* An easy handle with what every HTTP subscriber sets (timeouts, no
 * signals, TCP_NODELAY, --no-keepalive). */
CURL *subscriber_easy(struct subscriber *s, curl_write_callback write, void *ud);
/* Add a request to the run's cost once it is on the wire (request bytes,
 * new connections), and a finished response (header and body bytes). */
void subscriber_account_request(struct subscriber *s, CURL *easy);
void subscriber_account_response(struct subscriber *s, CURL *easy);

#endif
