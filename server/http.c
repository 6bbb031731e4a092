#include "http.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "tls.h"

/* Connections above --max-connections (and --max-connections-per-ip)
 * still get a 503 answer up to this many more; past that MHD itself
 * refuses them (accept, then close). */
#define CONNECTION_HEADROOM 64

struct http {
    struct MHD_Daemon *daemon;
    struct event *ready_ev;           /* MHD's epoll fd became readable */
    struct event *timer_ev;           /* MHD's own timeouts */
    unsigned port;
};

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct server *srv = cls;
    if (srv->cfg.quiet)
        return;
    fputs("pushpull-server: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- MHD on the libevent loop ----------------------------------------- */

static void run_mhd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    struct http *h = srv->http;
    MHD_run(h->daemon);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->daemon, &ms) == MHD_YES) {
        struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                              .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
        evtimer_add(h->timer_ev, &tv);
    } else {
        evtimer_del(h->timer_ev);
    }
}

void http_kick(struct server *srv)
{
    event_active(srv->http->ready_ev, EV_READ, 0);
}

static int resolve_bind(const struct server_config *cfg,
                        struct sockaddr_storage *ss, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM }, *ai;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->port);
    int rc = getaddrinfo(cfg->bind, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "--bind %s: not a numeric IPv4/IPv6 address (%s)",
                 cfg->bind, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

int http_start(struct server *srv, const struct http_hooks *hooks, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (resolve_bind(&srv->cfg, &ss, err, errlen) != 0)
        return -1;
    struct http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->http = h;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* HTTPS: MHD (GnuTLS) encrypts; an upgraded WebSocket reaches ws.c
     * through a socketpair MHD forwards. Without TLS the list is empty. */
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cfg.tls_cert_pem },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, srv->cfg.tls_key_pem },
        { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES },
        { MHD_OPTION_END, 0, NULL },
    };
    /* --workers: each process listens on the port itself (SO_REUSEPORT).
     * Only then: MHD 0.9.75 given 0 here drops its SO_REUSEADDR, and a
     * restart on the port then fails while old connections linger. */
    struct MHD_OptionItem reuse_opts[] = {
        { MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    bool tls = srv->cfg.tls_cert_pem != NULL;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned idle_s = (unsigned)((srv->cfg.idle_timeout_us + 999999) / 1000000);
    size_t per_ip = srv->cfg.max_connections_per_ip;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, hooks->on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,   /* first, or MHD logs early errors itself */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(srv->cfg.max_connections + CONNECTION_HEADROOM),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,   /* 0: none */
        (unsigned)(per_ip ? per_ip + CONNECTION_HEADROOM : 0),
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        /* MHD zeroes this pool on every request: small is fast, and it is
         * also the cap on request headers. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->cfg.connection_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_ARRAY, srv->cfg.workers ? reuse_opts : reuse_opts + 1,
        MHD_OPTION_NOTIFY_COMPLETED, hooks->on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, hooks->on_connection, srv,
        /* The edge checks see the request target before MHD rewrites it. */
        MHD_OPTION_URI_LOG_CALLBACK, hooks->on_uri, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, hooks->unescape, srv,
        MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 3,
        MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %u (in use, or no permission%s)",
                 srv->cfg.bind, srv->cfg.port, tls ? ", or TLS setup failed" : "");
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *lfd =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (!info || !lfd || getsockname(lfd->listen_fd, (struct sockaddr *)&bound, &blen) != 0) {
        snprintf(err, errlen, "libmicrohttpd gave no epoll or listen fd");
        return -1;
    }
    h->port = ntohs(bound.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&bound)->sin6_port
                        : ((struct sockaddr_in *)&bound)->sin_port);
    h->ready_ev = event_new(srv->base, info->epoll_fd, EV_READ | EV_PERSIST, run_mhd, srv);
    h->timer_ev = evtimer_new(srv->base, run_mhd, srv);
    if (!h->ready_ev || !h->timer_ev || event_add(h->ready_ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch libmicrohttpd's epoll fd");
        return -1;
    }
    http_kick(srv);
    return 0;
}

unsigned http_port(const struct server *srv) { return srv->http->port; }

void http_quiesce(struct server *srv)
{
    MHD_socket fd = MHD_quiesce_daemon(srv->http->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void http_stop(struct server *srv)
{
    struct http *h = srv->http;
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->ready_ev)
        event_free(h->ready_ev);
    if (h->timer_ev)
        event_free(h->timer_ev);
    free(h);
    srv->http = NULL;
}
