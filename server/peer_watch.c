#include "peer_watch.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

struct peer_watch {
    struct event *ev;
    void (*left)(void *arg);
    void *arg;
    bool on;
};

/* Something happened on the socket. A peek alone would miss a reset that
 * arrived behind unread bytes: TCP's own state says whether the client is
 * still there (EV_CLOSED is EPOLLRDHUP: it left ESTABLISHED). */
static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct peer_watch *w = arg;
    struct tcp_info ti = { 0 };
    socklen_t len = sizeof ti;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    bool open = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
                ti.tcpi_state == TCP_ESTABLISHED;
    if (!open || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        w->left(w->arg);
}

struct peer_watch *peer_watch_new(struct event_base *base, struct MHD_Connection *conn,
                                  void (*left)(void *arg), void *arg)
{
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!fi)
        return NULL;
    struct peer_watch *w = calloc(1, sizeof *w);
    /* Edge-triggered: unread bytes do not make it spin, and a reset after
     * them is still an edge. */
    short what = EV_READ | EV_CLOSED | EV_ET | EV_PERSIST;
    if (!w || !(w->ev = event_new(base, fi->connect_fd, what, on_socket, w))) {
        free(w);
        return NULL;
    }
    w->left = left;
    w->arg = arg;
    return w;
}

void peer_watch_on(struct peer_watch *w)
{
    if (w && !w->on) {
        w->on = true;
        event_add(w->ev, NULL);
    }
}

void peer_watch_off(struct peer_watch *w)
{
    if (w && w->on) {
        w->on = false;
        event_del(w->ev);
    }
}

void peer_watch_free(struct peer_watch *w)
{
    if (!w)
        return;
    event_free(w->ev);
    free(w);
}
