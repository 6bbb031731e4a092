/* GET /longpoll/{ch}?since=N&timeout=S: the answer waits, with the
 * connection suspended, until a message newer than N or the timeout.
 * Suspended connections never time out in MHD and never notice a client
 * that left, so every wait has our own timer, and a peer watch on the
 * socket: a client that closed or died (EOF, reset) ends its wait at once
 * instead of holding an fd and a subscription for up to --longpoll-max. */
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bus.h"
#include "cursor.h"
#include "http.h"
#include "peer_watch.h"
#include "query.h"
#include "server.h"
#include "stats.h"
#include "transports.h"

enum lp_state { LP_WAITING, LP_WOKEN, LP_TIMED_OUT, LP_CLIENT_LEFT, LP_ENDED };

struct longpoll {
    struct bus_sub sub;               /* first: the bus calls back with it */
    struct server *srv;
    struct MHD_Connection *conn;
    struct event *timer;
    struct peer_watch *watch;         /* the client's socket while waiting */
    struct poll_query q;
    enum lp_state state;
    struct longpoll *prev, *next;     /* the waiting list, for shutdown */
};

static struct longpoll *waiting;

static void list_remove(struct longpoll *lp)
{
    if (lp->prev)
        lp->prev->next = lp->next;
    else if (waiting == lp)
        waiting = lp->next;
    if (lp->next)
        lp->next->prev = lp->prev;
    lp->prev = lp->next = NULL;
}

static void longpoll_wake(struct longpoll *lp, enum lp_state why)
{
    if (lp->state != LP_WAITING)
        return;
    lp->state = why;
    bus_unsubscribe(&lp->sub);
    evtimer_del(lp->timer);
    peer_watch_off(lp->watch);
    list_remove(lp);
    stats.open[T_LONGPOLL]--;
    if (why == LP_WOKEN)
        stats.longpoll_woken++;
    else if (why == LP_TIMED_OUT)
        stats.longpoll_timed_out++;
    else if (why == LP_CLIENT_LEFT)
        stats.longpoll_client_left++;
    MHD_resume_connection(lp->conn);
    http_kick(lp->srv);
}

static void on_msg(struct bus_sub *sub, const struct bus_msg *m)
{
    /* Newer than the cursor: a cursor ahead of the channel never waits
     * (cursor_stale answers it at once). */
    (void)m;
    longpoll_wake((struct longpoll *)sub, LP_WOKEN);
}

/* A broker lost the history (bus_reset): the cursor is of the old one. */
static void on_reset(struct bus_sub *sub)
{
    struct longpoll *lp = (struct longpoll *)sub;
    lp->q.reset = true;
    lp->q.since = 0;
    longpoll_wake(lp, LP_WOKEN);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    longpoll_wake(arg, LP_TIMED_OUT);
}

/* The client closed or reset the waiting request's connection: the
 * answer meets the closed socket and MHD closes the connection. */
static void on_client_left(void *arg)
{
    longpoll_wake(arg, LP_CLIENT_LEFT);
}

static void longpoll_free(void *p)
{
    struct longpoll *lp = p;
    if (lp->state == LP_WAITING) {
        /* Not reached while suspended; kept so no path can leak a waiter. */
        bus_unsubscribe(&lp->sub);
        list_remove(lp);
        stats.open[T_LONGPOLL]--;
    }
    event_free(lp->timer);
    peer_watch_free(lp->watch);
    free(lp);
}

static enum MHD_Result longpoll_wait(struct request *req, struct MHD_Connection *conn,
                                     const struct poll_query *q, uint64_t timeout_us)
{
    struct longpoll *lp = calloc(1, sizeof *lp);
    if (!lp)
        return MHD_NO;
    lp->timer = evtimer_new(req->srv->base, on_timeout, lp);
    if (!lp->timer) {
        free(lp);
        return MHD_NO;
    }
    lp->srv = req->srv;
    lp->conn = conn;
    lp->q = *q;
    lp->sub.on_msg = on_msg;
    lp->sub.on_reset = on_reset;
    req->transport = lp;
    req->transport_free = longpoll_free;
    bus_subscribe(req->ch, &lp->sub);
    struct timeval tv = { .tv_sec = (time_t)(timeout_us / 1000000),
                          .tv_usec = (suseconds_t)(timeout_us % 1000000) };
    evtimer_add(lp->timer, &tv);
    /* Without a watch, the timer still ends the wait. */
    lp->watch = peer_watch_new(req->srv->base, conn, on_client_left, lp);
    peer_watch_on(lp->watch);
    lp->next = waiting;
    if (waiting)
        waiting->prev = lp;
    waiting = lp;
    stats.open[T_LONGPOLL]++;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

enum MHD_Result longpoll_handle(struct request *req, struct MHD_Connection *conn)
{
    struct longpoll *lp = req->transport;
    if (lp)                           /* resumed: answer with what is there now */
        return poll_answer(req, conn, &lp->q);

    const struct server_config *cfg = &req->srv->cfg;
    struct cursor c;
    struct poll_query q = { .has_since = true, .transport = T_LONGPOLL };
    uint64_t timeout_s;
    const char *problem = poll_args(req, conn, &c, &q);
    if (problem)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, problem);
    uint64_t timeout_us = cfg->longpoll_timeout_us;
    int rc = query_u64(conn, "timeout", UINT64_MAX, &timeout_s);
    if (rc < 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                           "timeout: want a non-negative integer (seconds)");
    if (rc > 0)
        timeout_us = timeout_s > cfg->longpoll_max_us / 1000000
                         ? cfg->longpoll_max_us : timeout_s * 1000000;
    /* A cursor from another start is answered at once, even with nothing
     * to send: the subscriber must learn that its cursor is void. */
    if ((q.reset = cursor_stale(&c, req->ch, bus_epoch(req->ch))))
        return poll_answer(req, conn, &q);           /* since 0 */
    /* No cursor: wait for the next message. */
    q.since = c.has_since ? c.since : bus_last_id(req->ch);
    struct bus_span span = bus_span_since(req->ch, q.since);
    if (span.from <= span.to || timeout_us == 0 || req->srv->shutting_down)
        return poll_answer(req, conn, &q);
    return longpoll_wait(req, conn, &q, timeout_us);
}

void longpoll_shutdown(struct server *srv)
{
    (void)srv;
    while (waiting)
        longpoll_wake(waiting, LP_ENDED);
}
