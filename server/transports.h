/* The four transports and the plain endpoints. Each handler is called on
 * the second and later access-handler calls of its request (the first one
 * only sets up the request: queueing then would cost keep-alive). */
#ifndef PUSHPULL_TRANSPORTS_H
#define PUSHPULL_TRANSPORTS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reply.h"
#include "request.h"
#include "stats.h"

struct server;

enum MHD_Result publish_handle(struct request *req, struct MHD_Connection *conn,
                               const char *upload, size_t *upload_size);
enum MHD_Result poll_handle(struct request *req, struct MHD_Connection *conn);
enum MHD_Result longpoll_handle(struct request *req, struct MHD_Connection *conn);
enum MHD_Result sse_handle(struct request *req, struct MHD_Connection *conn);
/* POST /drop/sse/{ch}?tag=T: end the channel's streams opened with
 * ?tag=T, as a lost connection would (EventSource then resumes by itself). */
enum MHD_Result sse_drop_handle(struct request *req, struct MHD_Connection *conn,
                                size_t *upload_size);
enum MHD_Result ws_handle(struct request *req, struct MHD_Connection *conn);

/* What a poll answer holds: messages after `since` (none when
 * !has_since), at most `limit`; "reset":true when the subscriber's cursor
 * was stale (cursor.h); counted for `transport`. */
struct poll_query {
    bool has_since;
    uint64_t since, limit;
    bool reset;
    enum transport transport;
};

/* The poll answer {"last_id":L,"epoch":E,"messages":[...]}, shared by
 * poll and longpoll. */
enum MHD_Result poll_answer(struct request *req, struct MHD_Connection *conn,
                            const struct poll_query *q);

struct cursor;
/* since/epoch/limit of a poll or long poll into *c and q->limit; an error
 * message for a 400, or NULL. */
const char *poll_args(struct request *req, struct MHD_Connection *conn,
                      struct cursor *c, struct poll_query *q);

/* Timers every transport with long-lived subscribers needs. */
void sse_heartbeat(struct server *srv);
void ws_heartbeat(struct server *srv);
/* Graceful shutdown: answer waiters, end streams, close WebSockets with
 * 1001. Returns how many are still closing; ws_shutdown(srv, true) closes
 * the sockets of those that did not finish in time. */
void longpoll_shutdown(struct server *srv);
size_t sse_shutdown(struct server *srv);
size_t ws_shutdown(struct server *srv, bool force);

#endif
