/* Abuse limits on connections:
 *  - --max-connections-per-ip: connections are counted per client address
 *    (IPv6: per /64); a connection accepted over that cap, or over
 *    --max-connections, has its requests answered 503 and is closed;
 *  - --header-timeout: a request must arrive in full (request line, headers,
 *    body) within that time of its first byte, or of the accept for a
 *    connection's first request; a connection that trickles is cut
 *    (slowloris). Between requests, an idle keep-alive connection is
 *    governed by --idle-timeout only;
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

/* Whether this connection was one too many when it was accepted: over
 * --max-connections (counted by the caller in stats.http_connections
 * before limit_conn_open) or over --max-connections-per-ip. Connections
 * accepted before the cap was reached stay served. */
enum limit_excess { LIMIT_OK, LIMIT_TOTAL, LIMIT_PER_IP };
enum limit_excess limit_conn_excess(struct MHD_Connection *conn);
/* The current request has arrived in full: its clock stops. */
void limit_request_received(struct MHD_Connection *conn);
/* Its response is done: the connection may carry the next request. */
void limit_request_done(struct MHD_Connection *conn);
/* The connection left HTTP (WebSocket): no request clock any more. */
void limit_conn_upgraded(struct MHD_Connection *conn);

#endif
