/* The request router: the edge checks (edge.h), the limits, access, then
 * each endpoint's handler. Owns the libmicrohttpd callbacks. */
#ifndef PUSHPULL_ROUTER_H
#define PUSHPULL_ROUTER_H

#include <stddef.h>

struct server;

/* Start the limits and the HTTP server with the router's callbacks. */
int router_start(struct server *srv, char *err, size_t errlen);
/* Stop the HTTP server, then the limits (after the last connection). */
void router_stop(struct server *srv);

#endif
