/* libcurl multi on a libevent loop: curl_multi_socket_action driven by
 * socket and timer events (the pattern of curl's hiperfifo example). One
 * loop is one multi handle, so one connection pool. */
#ifndef PUSHPULL_LOOP_H
#define PUSHPULL_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>

struct event_base;
struct loop;

struct loop_xfer;
/* A transfer ended (result CURLE_OK or an error). The easy handle has been
 * removed from the multi; the callback may re-add it or another one. */
typedef void (*loop_done_fn)(struct loop_xfer *x, CURLcode result);

/* Embed one in whatever owns the transfer. */
struct loop_xfer {
    CURL *easy;
    loop_done_fn done;
    bool active;                      /* added and not yet done/removed */
};

/* max_host/max_total: CURLMOPT_MAX_HOST_CONNECTIONS / _TOTAL_ (0 = none);
 * keep: idle connections the pool keeps open (CURLMOPT_MAXCONNECTS; 0 =
 * libcurl's default). */
struct loop *loop_new(struct event_base *base, long max_host, long max_total, long keep);
void loop_free(struct loop *loop);
/* An event base for the client's loops: precise (timerfd) timers, since
 * epoll's millisecond timeouts would make the publisher 1-2 ms late on
 * average, which would show up as latency; and the epoll changelist, since
 * curl stops watching a connection between requests and watches it again
 * for the next (the changelist folds that DEL + ADD into nothing). NULL
 * when out of memory. */
struct event_base *loop_base_new(void);
/* The event base the loop runs on. */
struct event_base *loop_base(const struct loop *loop);

/* Start x->easy. Its CURLOPT_PRIVATE is set to x. Returns 0 or -1. */
int loop_add(struct loop *loop, struct loop_xfer *x);
/* Abort a transfer without calling done (not from a curl callback). */
void loop_remove(struct loop *loop, struct loop_xfer *x);

#endif
