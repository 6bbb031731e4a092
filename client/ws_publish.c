/* The WebSocket publisher of one channel. The server also sends it every
 * message of its channel (a WS connection is always a subscriber): they are
 * read and dropped, and show in the server's ws deliveries. */
#include "ws_publish.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "wsconn.h"

#define WS_PUBLISH_BACKOFF_MIN_MS 100
#define WS_PUBLISH_BACKOFF_MAX_MS 5000
/* Unwritten bytes beyond which a publish fails instead of queueing: a
 * stalled server must not grow the client without bound. */
#define WS_PUBLISH_QUEUE_MAX (8u << 20)

struct ws_publisher {
    struct run *run;
    struct event_base *base;          /* the publisher's loop */
    unsigned channel;
    struct wsconn *conn;
    bool open;
    unsigned backoff_ms;
    struct event *retry;
};

static void on_open(struct wsconn *c, void *ud)
{
    (void)c;
    struct ws_publisher *p = ud;
    p->open = true;
    p->backoff_ms = 0;
}

static void schedule_retry(struct ws_publisher *p)
{
    unsigned delay = p->backoff_ms ? p->backoff_ms : WS_PUBLISH_BACKOFF_MIN_MS;
    p->backoff_ms = delay * 2 > WS_PUBLISH_BACKOFF_MAX_MS ? WS_PUBLISH_BACKOFF_MAX_MS : delay * 2;
    struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };
    evtimer_add(p->retry, &tv);
}

static void on_close(struct wsconn *c, int code, const char *why, void *ud)
{
    (void)code;
    (void)why;
    struct ws_publisher *p = ud;
    wsconn_free(c);
    p->conn = NULL;
    p->open = false;
    schedule_retry(p);
}

static const struct wsconn_cb ws_publish_callbacks = { on_open, NULL, on_close };

static int ws_publisher_connect(struct ws_publisher *p)
{
    char url[640], channel[64];
    run_channel_name(p->run, p->channel, channel, sizeof channel);
    /* No since: a publisher wants none of the channel's history. */
    snprintf(url, sizeof url, "%s/ws/%s", p->run->cfg->publish_url, channel);
    p->conn = wsconn_open(p->base, url, p->run->cfg->connect_timeout_us,
                          &ws_publish_callbacks, p, NULL);
    return p->conn ? 0 : -1;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ws_publisher *p = arg;
    if (ws_publisher_connect(p) != 0)
        schedule_retry(p);
}

struct ws_publisher *ws_publisher_open(struct run *run, struct event_base *base, unsigned channel)
{
    struct ws_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->run = run;
    p->channel = channel;
    p->base = base;
    p->retry = evtimer_new(p->base, on_retry, p);
    if (!p->retry || ws_publisher_connect(p) != 0) {
        ws_publisher_free(p);
        return NULL;
    }
    return p;
}

int ws_publisher_send(struct ws_publisher *p, const char *payload, size_t len)
{
    if (!p->open || wsconn_queued(p->conn) > WS_PUBLISH_QUEUE_MAX)
        return -1;
    return wsconn_send_text(p->conn, payload, len);
}

bool ws_publisher_ready(const struct ws_publisher *p)
{
    return p->open;
}

void ws_publisher_free(struct ws_publisher *p)
{
    if (!p)
        return;
    if (p->conn) {
        wsconn_close(p->conn, 1000);
        wsconn_free(p->conn);
    }
    if (p->retry)
        event_free(p->retry);
    free(p);
}
