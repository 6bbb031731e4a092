/* Abuse limits on connections:
 *  - --max-connections-per-ip: connections are counted per client address
 *    (IPv6: per /64) and a request on one too many is answered 503;
 *  - --header-timeout: a request must arrive in full (request line, headers,
 *    body) within that time of its first byte, or of the accept for a
 *    connection's first request; a connection that trickles is cut
 *    (slowloris). Between requests, an idle keep-alive connection is
 *    governed by --idle-timeout only;
 *  - a token bucket, for the WebSocket publish rate.
 * One server per process: the tables are module state. */
#ifndef PUSHPULL_LIMIT_H
#define PUSHPULL_LIMIT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct server;

int limit_start(struct server *srv);
void limit_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION: a connection's bookkeeping lives in its
 * socket context. */
void limit_conn_open(struct MHD_Connection *conn, void **socket_context);
void limit_conn_close(void **socket_context);

/* This connection is one too many for its client address. */
bool limit_ip_over(struct MHD_Connection *conn);
/* The current request has arrived in full: its clock stops. */
void limit_request_received(struct MHD_Connection *conn);
/* Its response is done: the connection may carry the next request. */
void limit_request_done(struct MHD_Connection *conn);
/* The connection left HTTP (WebSocket): no request clock any more. */
void limit_conn_upgraded(struct MHD_Connection *conn);

/* rate events per second with a burst of max(rate, 1); rate 0: no limit. */
struct rate_bucket {
    double rate, tokens;
    uint64_t at_us;
};

void rate_bucket_init(struct rate_bucket *b, double rate, uint64_t now_us);
/* One event: false when the bucket is empty. */
bool rate_bucket_take(struct rate_bucket *b, uint64_t now_us);

#endif
