/* libmicrohttpd on the libevent loop: MHD in external epoll mode, its epoll
 * fd watched by the loop, its timeouts a loop timer. Knows nothing of what
 * is served: the callbacks come from above (router.h). */
#ifndef PUSHPULL_HTTP_H
#define PUSHPULL_HTTP_H

#include <microhttpd.h>
#include <stddef.h>

struct server;

/* What MHD calls, each with the server as its closure. */
struct http_hooks {
    MHD_AccessHandlerCallback on_request;
    MHD_RequestCompletedCallback on_completed;
    MHD_NotifyConnectionCallback on_connection;
    void *(*on_uri)(void *cls, const char *uri, struct MHD_Connection *conn);
    size_t (*unescape)(void *cls, struct MHD_Connection *conn, char *s);
};

int http_start(struct server *srv, const struct http_hooks *hooks, char *err, size_t errlen);
unsigned http_port(const struct server *srv);
/* Stop accepting new connections (first step of a graceful shutdown). */
void http_quiesce(struct server *srv);
void http_stop(struct server *srv);
/* After MHD_resume_connection MHD must run again: schedule that. */
void http_kick(struct server *srv);

#endif
