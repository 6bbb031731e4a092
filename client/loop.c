#include "loop.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

struct sock_watch;

struct loop {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
    struct sock_watch *watches;       /* freed at the end if curl did not */
};

/* One libevent event per socket curl wants watched. */
struct sock_watch {
    struct event *ev;
    struct loop *loop;
    struct sock_watch *prev, *next;
};

static void watch_free(struct loop *loop, struct sock_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    event_free(w->ev);
    free(w);
}

static void check_done(struct loop *loop)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct loop_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(loop->multi, easy);
        if (x) {
            x->active = false;
            x->done(x, result);
        }
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(loop->multi, fd, flags, &loop->running);
    check_done(loop);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *loop = arg;
    curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &loop->running);
    check_done(loop);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    struct loop *loop = arg;
    if (timeout_ms < 0) {
        evtimer_del(loop->timer);
        return 0;
    }
    /* 0 means "now": still go through the loop, never recurse into curl. */
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    evtimer_add(loop->timer, &tv);
    return 0;
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    (void)easy;
    struct loop *loop = arg;
    struct sock_watch *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            watch_free(loop, w);
            curl_multi_assign(loop->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return -1;
        w->loop = loop;
        w->next = loop->watches;
        if (loop->watches)
            loop->watches->prev = w;
        loop->watches = w;
        curl_multi_assign(loop->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(loop->base, s, kind, on_socket_event, loop);
    if (!w->ev)
        return -1;
    event_add(w->ev, NULL);
    return 0;
}

struct event_base *loop_base_new(void)
{
    struct event_config *ec = event_config_new();
    if (!ec)
        return NULL;
    /* Precise (timerfd) timers: epoll's millisecond timeouts would make the
     * publisher ~1-2 ms late on average, which would show up as latency. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    /* curl stops watching a connection between requests and watches it
     * again for the next: the changelist folds that DEL + ADD into nothing
     * instead of two epoll_ctl calls per request. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

struct event_base *loop_base(const struct loop *loop)
{
    return loop->base;
}

struct loop *loop_new(struct event_base *base, long max_host, long max_total, long keep)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->base = base;
    loop->multi = curl_multi_init();
    loop->timer = evtimer_new(base, on_timer, loop);
    if (!loop->multi || !loop->timer) {
        loop_free(loop);
        return NULL;
    }
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
    if (max_host > 0)
        curl_multi_setopt(loop->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
    if (max_total > 0)
        curl_multi_setopt(loop->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
    /* libcurl's default cache holds 4 idle connections per easy handle
     * *added*, and a poller's handle is added only while its request runs:
     * 100 pollers kept ~40, and the rest were closed and reopened (a full
     * TLS handshake each over https://). */
    if (keep > 0)
        curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, keep);
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    if (loop->multi)
        curl_multi_cleanup(loop->multi);
    while (loop->watches)
        watch_free(loop, loop->watches);
    if (loop->timer)
        event_free(loop->timer);
    free(loop);
}

int loop_add(struct loop *loop, struct loop_xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(loop->multi, x->easy) != CURLM_OK)
        return -1;
    x->active = true;
    return 0;
}

void loop_remove(struct loop *loop, struct loop_xfer *x)
{
    if (!x->active)
        return;
    curl_multi_remove_handle(loop->multi, x->easy);
    x->active = false;
}
