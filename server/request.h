/* One HTTP request's state (MHD's req_cls), shared by the router and the
 * transports. Created by the URI log callback, before MHD parses the
 * headers, so the edge checks can see the request target as it came. */
#ifndef PUSHPULL_REQUEST_H
#define PUSHPULL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct bus_channel;
struct broker_op;
struct MHD_Connection;

struct request {
    struct server *srv;
    int route;
    bool started;                     /* the first access-handler call is done */
    unsigned calls;                   /* access-handler calls after the first */
    const char *methods;              /* what the route takes, for Allow */
    const char *problem;              /* why the request is refused, or NULL */
    unsigned problem_status;
    const char *problem_header;       /* sent with the refusal (Allow, ...) */
    const char *problem_value;
    bool problem_closes;              /* refused with Connection: close */
    bool http11;                      /* HTTP/1.1 (else 1.0) */
    bool head;                        /* a HEAD request: headers only */
    bool preflight;                   /* a CORS preflight (OPTIONS) */
    bool may_publish;                 /* WebSocket: the upgrade had the publish token */
    /* The request target as MHD found it, before it unescaped it in place
     * (edge.h): where it starts and how long it is up to a NUL. */
    const char *raw_target;
    size_t raw_target_len;
    const char *target_error;         /* edge_target_ok's verdict, or NULL */
    bool escaped_nul;                 /* %00 in the path or a query argument */
    struct bus_channel *ch;
    uint64_t received_us;             /* realtime, at the request line */
    char *body;                       /* POST body as it arrives */
    size_t body_len;
    bool body_too_large;
    uint64_t discarded;               /* body bytes dropped past the limit */
    /* With a broker: the wait for the channel's cache (router.c). */
    struct broker_op *await;
    struct MHD_Connection *await_conn;
    bool synced, sync_failed;
    void *transport;                  /* owned by the route's handler */
    void (*transport_free)(void *transport);
};

#endif
