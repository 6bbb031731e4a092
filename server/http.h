/* libmicrohttpd on the libevent loop, the request router, and the answer
 * helpers every transport uses. */
#ifndef PUSHPULL_HTTP_H
#define PUSHPULL_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct server;
struct bus_channel;

/* Per-request state (MHD's req_cls), created on the first handler call. */
struct request {
    struct server *srv;
    int route;
    unsigned calls;                   /* access-handler calls after the first */
    const char *methods;              /* what the route takes, for Allow */
    const char *problem;              /* why the request is refused, or NULL */
    unsigned problem_status;
    const char *problem_header;       /* sent with the refusal (Allow, ...) */
    const char *problem_value;
    bool preflight;                   /* a CORS preflight (OPTIONS) */
    bool may_publish;                 /* WebSocket: the upgrade had the publish token */
    struct bus_channel *ch;
    uint64_t received_us;             /* realtime, at the first call */
    char *body;                       /* POST body as it arrives */
    size_t body_len;
    bool body_too_large;
    uint64_t discarded;               /* body bytes dropped past the limit */
    void *transport;                  /* owned by the route's handler */
    void (*transport_free)(void *transport);
};

int http_start(struct server *srv, char *err, size_t errlen);
unsigned http_port(const struct server *srv);
/* Stop accepting new connections (first step of a graceful shutdown). */
void http_quiesce(struct server *srv);
void http_stop(struct server *srv);
/* After MHD_resume_connection MHD must run again: schedule that. */
void http_kick(struct server *srv);

/* Pushpull-Epoch: this start's epoch (server.h), on every answer of an
 * endpoint, so any answer tells a client whether the server restarted. */
void http_add_epoch(struct MHD_Response *r);

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status,
                           const char *type, char *body, size_t len);
enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status,
                                char *body, size_t len);
enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status,
                                 const char *message);

/* A query argument: 0 absent, 1 parsed into *out, -1 malformed (answered
 * with 400 by the caller). */
int http_query_u64(struct MHD_Connection *conn, const char *key, uint64_t max,
                   uint64_t *out);

struct cursor;
/* ?since=N and ?epoch=E of a subscription into *c; an error message for a
 * 400, or NULL. */
const char *http_query_cursor(struct MHD_Connection *conn, struct cursor *c);

#endif
