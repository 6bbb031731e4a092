/* How the client speaks to one kind of push server: which transports it
 * offers, each transport's request and resume cursor, how messages are
 * framed in an answer, stream or frame, and what a publish answer means.
 * pushpull's own protocol is one dialect, Nchan's another (one file each).
 *
 * Loss is never a dialect's business: every message's payload carries the
 * client's own sequence number (track_message), whatever the server's ids.
 * A dialect only maps the server's id text to the subscriber's cursor, an
 * ordered 64-bit key (track.last_id; 0: none yet), and back.
 *
 * A dialect whose server keeps a session per connection (Engine.IO: a
 * handshake, a session id, a CONNECT packet; pings to answer) keeps its
 * state in the subscriber's session, sends through subscriber_send, and
 * says itself when the subscriber is connected. */
#ifndef PUSHPULL_DIALECT_H
#define PUSHPULL_DIALECT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "run.h"
#include "sse_parser.h"

struct subscriber;

/* A finished poll or long-poll answer. Header values are "" when absent. */
struct poll_answer {
    long status;
    const char *body;
    size_t len;
    const char *content_type, *last_modified, *etag;
};

struct dialect {
    const char *name;
    bool offers[TR_COUNT];
    /* The server answers GET /stats with pushpull's counters. */
    bool has_stats;
    /* Poll answers need their Content-Type, Last-Modified and ETag. */
    bool poll_headers;
    /* A poll answer holds one message at most, so after one with a message
     * the short poller asks again at once, until an empty answer: what a
     * client of such a server must do not to fall behind. */
    bool poll_one_per_answer;
    /* A long poll the server never ends by itself: at the client's
     * --longpoll-timeout it is an empty answer, not a failed request. */
    bool longpoll_waits_forever;
    /* Sec-WebSocket-Protocol to ask for, or NULL. */
    const char *ws_protocol;
    /* Bytes of state the dialect keeps per subscriber (s->session, zeroed
     * at the start); 0: none. */
    size_t session_size;
    /* A connection is not yet a subscription: the dialect calls
     * track_connected itself once its own handshake is done. */
    bool own_handshake;
    /* The subscriber's connection ended (dropped, failed, refused): forget
     * what belonged to it, the next request opens a new one. May be NULL. */
    void (*session_lost)(struct subscriber *s);
    /* Did the server take the publish? (its HTTP status) */
    bool (*publish_accepted)(long status);
    /* Subscriber s's next request on transport t: its URL, and request
     * headers appended to *headers. first: the subscriber has had no
     * answer yet (a long poller then asks for an immediate one, to know it
     * is connected). 0, or -1 when it does not fit. */
    int (*request)(const struct subscriber *s, enum transport t, bool first,
                   char *url, size_t cap, struct curl_slist **headers);
    /* Track the messages of a poll or long-poll answer; *empty when there
     * were none. 0, or -1 for an answer that is an error (counted). */
    int (*poll_answer)(struct subscriber *s, const struct poll_answer *a, bool *empty);
    /* One SSE event. 0, or -1 to end the stream (a protocol error). */
    int (*sse_event)(struct subscriber *s, const struct sse_event *ev);
    /* One WebSocket text message. A bad one is counted; -1 says so, and
     * the connection goes on (the frames around it are intact).
     * DIALECT_WS_END: the session cannot go on (counted too): the
     * transport closes the connection and retries with backoff. */
    int (*ws_text)(struct subscriber *s, const char *text, size_t len);
    /* The next two let a WebSocket carry on a session begun by polling
     * (Engine.IO's upgrade). Both may be NULL: the WebSocket is the whole
     * session, as for every dialect without an upgrade.
     * ws_after_poll: must the next WebSocket wait for a poll answer? The
     * transport then sends request(TR_LONGPOLL) once, hands its answer to
     * poll_answer as usual, and opens the WebSocket when that leaves this
     * false (still true: the answer opened no session, a protocol error).
     * ws_opened: the WebSocket is open, send the dialect's first frames
     * (through subscriber_send). 0, or -1: the transport closes it and
     * retries. */
    bool (*ws_after_poll)(const struct subscriber *s);
    int (*ws_opened)(struct subscriber *s);
};

/* ws_text: the session is over, not just one bad message. */
#define DIALECT_WS_END (-2)

extern const struct dialect dialect_pushpull, dialect_nchan, dialect_socketio, dialect_pushpin;

/* pushpull's framing (dialect_pushpull.c), for a peer whose messages are
 * pushpull's envelope in pushpull's answers (Pushpin's origin). */
int pushpull_poll_answer(struct subscriber *s, const struct poll_answer *a, bool *empty);
int pushpull_sse_event(struct subscriber *s, const struct sse_event *ev);
int pushpull_ws_text(struct subscriber *s, const char *text, size_t len);

/* The configuration's dialect (pushpull unless --dialect said another). */
const struct dialect *dialect_of(const struct client_config *cfg);
/* The dialect called name, or NULL. */
const struct dialect *dialect_find(const char *name);
/* "pushpull|nchan|...", for usage lines. */
const char *dialect_names(void);

#endif
