/* A suspended libmicrohttpd connection is not polled by MHD: a client that
 * closes it or dies (FIN, RST) goes unnoticed until the server next writes
 * to it, holding an fd, a subscription and a connection slot meanwhile. A
 * peer watch is our own edge-triggered watch on such a connection's
 * socket, used by the long poll (while it waits) and by SSE (while its
 * stream is suspended with nothing to send). Bytes the client sent (a
 * pipelined request, a TLS alert) are left for MHD to read later. */
#ifndef PUSHPULL_PEER_WATCH_H
#define PUSHPULL_PEER_WATCH_H

#include <microhttpd.h>
#include <stdbool.h>

struct event_base;
struct peer_watch;

/* left(arg) runs when the client is gone, possibly more than once (each
 * socket event after that). NULL when the connection has no socket to
 * watch or on allocation failure: the caller then learns of a gone client
 * only by writing, as without a watch. Starts paused. */
struct peer_watch *peer_watch_new(struct event_base *base, struct MHD_Connection *conn,
                                  void (*left)(void *arg), void *arg);
/* Watch from now on (while the connection is suspended), or not. NULL: no-op. */
void peer_watch_on(struct peer_watch *w);
void peer_watch_off(struct peer_watch *w);
void peer_watch_free(struct peer_watch *w);

#endif
