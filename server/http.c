#include "http.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "bus.h"
#include "clock.h"
#include "cursor.h"
#include "envelope.h"
#include "limit.h"
#include "parse.h"
#include "server.h"
#include "static.h"
#include "stats.h"
#include "tls.h"
#include "transports.h"

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

enum route {
    R_PUB, R_POLL, R_LONGPOLL, R_SSE, R_SSE_DROP, R_WS,
    R_STATS, R_METRICS, R_HEALTHZ, R_STATIC, R_NOT_FOUND,
};

static const struct {
    const char *prefix;               /* "/x/" matches what starts so, "/x" is exact */
    enum route route;
    const char *method;
    bool channel;                     /* what follows the prefix is a channel */
} routes[] = {
    { "/pub/", R_PUB, "POST", true },
    { "/poll/", R_POLL, "GET", true },
    { "/longpoll/", R_LONGPOLL, "GET", true },
    { "/sse/", R_SSE, "GET", true },
    { "/drop/sse/", R_SSE_DROP, "POST", true },
    { "/ws/", R_WS, "GET", true },
    { "/stats", R_STATS, "GET", false },
    { "/metrics", R_METRICS, "GET", false },
    { "/healthz", R_HEALTHZ, "GET", false },
    { "/", R_STATIC, "GET", false },
    { "/web/", R_STATIC, "GET", false },
};

/* ---- answers ---------------------------------------------------------- */

static char epoch_text[24];           /* set once at start: one per process */

void http_add_epoch(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Pushpull-Epoch", epoch_text);
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status,
                           const char *type, char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    http_add_epoch(r);
    access_cors_headers(conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status,
                                char *body, size_t len)
{
    return http_reply(conn, status, "application/json", body, len);
}

static char *error_body(const char *message, size_t *len)
{
    size_t n = strlen(message);
    char *body = malloc(JSON_ESCAPED_MAX(n) + 16);
    if (!body)
        return NULL;
    char *p = body + sprintf(body, "{\"error\":\"");
    p += json_escape(p, message, n);
    p += sprintf(p, "\"}\n");
    *len = (size_t)(p - body);
    return body;
}

static enum MHD_Result reply_error_with(struct MHD_Connection *conn,
                                        unsigned status, const char *message,
                                        const char *header, const char *value)
{
    size_t len;
    char *body = error_body(message, &len);
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (header)
        MHD_add_response_header(r, header, value);
    http_add_epoch(r);
    access_cors_headers(conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status,
                                 const char *message)
{
    return reply_error_with(conn, status, message, NULL, NULL);
}

int http_query_u64(struct MHD_Connection *conn, const char *key, uint64_t max,
                   uint64_t *out)
{
    const char *v = NULL;
    size_t vlen = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, key,
                                      strlen(key), &v, &vlen) != MHD_YES)
        return 0;
    /* "?since" and "?since=" are present but not numbers. */
    if (!v || strlen(v) != vlen || parse_u64(v, max, out) != 0)
        return -1;
    return 1;
}

const char *http_query_cursor(struct MHD_Connection *conn, struct cursor *c)
{
    int rc = http_query_u64(conn, "since", UINT64_MAX, &c->since);
    if (rc < 0)
        return "since: want a non-negative integer";
    c->has_since = rc > 0;
    rc = http_query_u64(conn, "epoch", UINT64_MAX, &c->epoch);
    if (rc < 0)
        return "epoch: want a non-negative integer (the Pushpull-Epoch of the server)";
    c->has_epoch = rc > 0;
    return NULL;
}

/* ---- the router ------------------------------------------------------- */

static bool has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te || (cl && strcmp(cl, "0") != 0);
}

static enum route route_of(const char *url, const char **chan, size_t *chan_len,
                           const char **method)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].prefix);
        bool is_prefix = routes[i].prefix[n - 1] == '/' && n > 1;
        *method = routes[i].method;
        if (is_prefix ? strncmp(url, routes[i].prefix, n) != 0
                      : strcmp(url, routes[i].prefix) != 0)
            continue;
        if (routes[i].route == R_STATIC && !static_find(url))
            return R_NOT_FOUND;
        if (routes[i].channel) {
            *chan = url + n;
            *chan_len = strlen(url + n);
        }
        return routes[i].route;
    }
    return R_NOT_FOUND;
}

static enum MHD_Result reply_plain(struct request *req, struct MHD_Connection *conn,
                                   const char *url)
{
    size_t len = 0;
    char *body;
    switch (req->route) {
    case R_STATS:
        body = stats_render_json(req->srv, &len);
        return body ? http_reply_json(conn, MHD_HTTP_OK, body, len) : MHD_NO;
    case R_METRICS:
        body = stats_render_metrics(req->srv, &len);
        return body ? http_reply(conn, MHD_HTTP_OK,
                                 "text/plain; version=0.0.4; charset=utf-8",
                                 body, len) : MHD_NO;
    case R_HEALTHZ:
        body = strdup("ok\n");
        return body ? http_reply(conn, MHD_HTTP_OK, "text/plain", body, 3) : MHD_NO;
    default:
        return static_reply(conn, static_find(url));
    }
}

static void refuse_with(struct request *req, const char *header, const char *value)
{
    req->problem_header = header;
    req->problem_value = value;
}

/* The right an endpoint needs; false when it is public. */
static bool route_right(int route, enum access_right *right)
{
    switch (route) {
    case R_PUB:
        *right = ACCESS_PUBLISH;
        return true;
    case R_POLL: case R_LONGPOLL: case R_SSE: case R_SSE_DROP: case R_WS:
        *right = ACCESS_SUBSCRIBE;
        return true;
    default:
        return false;
    }
}

/* 403 for a foreign Origin where a page could act through the visitor's
 * browser (a WebSocket, a POST: CORS only hides answers, it does not stop
 * these); 401 without the token the endpoint needs. NULL when allowed. */
static const char *access_problem(struct request *req, struct MHD_Connection *conn,
                                  unsigned *status)
{
    bool acts = req->preflight || req->route == R_WS || req->route == R_PUB ||
                req->route == R_SSE_DROP;
    if (acts && !access_origin_allowed(conn)) {
        stats.origin_refused++;
        *status = MHD_HTTP_FORBIDDEN;
        return "Origin not allowed (--allow-origin)";
    }
    enum access_right right;
    if (req->preflight || !route_right(req->route, &right))
        return NULL;                  /* a preflight never carries credentials */
    /* Subscribing over a WebSocket may not need a token while publishing
     * on it does: the publish right is checked here, used per message. */
    req->may_publish = req->route != R_WS || access_check(conn, ACCESS_PUBLISH) == ACCESS_OK;
    enum access_verdict v = access_check(conn, right);
    if (v == ACCESS_OK)
        return NULL;
    stats.unauthorized++;
    *status = MHD_HTTP_UNAUTHORIZED;
    refuse_with(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, access_challenge(v));
    if (v == ACCESS_WRONG)
        return "invalid token";
    return right == ACCESS_PUBLISH
               ? "publishing needs Authorization: Bearer <token> (--publish-token)"
               : "subscribing needs Authorization: Bearer <token> or ?token=<token> "
                 "(--subscribe-token)";
}

/* What is wrong with a request before any handler runs; NULL when nothing. */
static const char *precheck(struct request *req, struct MHD_Connection *conn,
                            const char *url, const char *method, unsigned *status)
{
    const char *chan = NULL, *want;
    size_t chan_len = 0;
    req->route = route_of(url, &chan, &chan_len, &want);
    bool get = strcmp(want, "GET") == 0;
    req->methods = get ? "GET, HEAD" : want;
    if (req->route == R_NOT_FOUND) {
        *status = MHD_HTTP_NOT_FOUND;
        return "no such endpoint";
    }
    if (stats.http_connections > req->srv->cfg.max_connections) {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return "too many connections (--max-connections)";
    }
    if (limit_ip_over(conn)) {
        stats.per_ip_refused++;
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        refuse_with(req, MHD_HTTP_HEADER_CONNECTION, "close");   /* free the slot */
        return "too many connections from your address (--max-connections-per-ip)";
    }
    req->preflight = strcmp(method, "OPTIONS") == 0 && access_cors_enabled();
    bool head_ok = get && strcmp(method, "HEAD") == 0;
    if (strcmp(method, want) != 0 && !head_ok && !req->preflight) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        refuse_with(req, MHD_HTTP_HEADER_ALLOW,
                    !access_cors_enabled() ? req->methods
                    : get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS");
        return "method not allowed";
    }
    const char *problem = access_problem(req, conn, status);
    if (problem || req->preflight)
        return problem;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (req->route == R_PUB && cl && strtoull(cl, NULL, 10) > req->srv->cfg.max_message) {
        *status = MHD_HTTP_CONTENT_TOO_LARGE;
        return "body larger than --max-message";
    }
    if (chan && !parse_channel_name(chan, chan_len)) {
        *status = MHD_HTTP_BAD_REQUEST;
        return "invalid channel name: want [A-Za-z0-9_.-]{1,64}";
    }
    if (chan) {
        req->ch = bus_channel(req->srv->bus, chan, chan_len);
        if (!req->ch) {
            *status = MHD_HTTP_SERVICE_UNAVAILABLE;
            return "too many channels (--max-channels)";
        }
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    struct request *req = *req_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->srv = cls;
        req->received_us = clock_real_us();
        *req_cls = req;
        unsigned status = 0;
        req->problem = precheck(req, conn, url, method, &status);
        /* A refused request with a body is answered now, before MHD sends
         * "100 Continue" or reads the body (MHD 0.9.75 cannot answer in the
         * middle of an upload); the connection then closes, as it must. */
        if (req->problem && has_body(conn))
            return reply_error_with(conn, status, req->problem,
                                    req->problem_header, req->problem_value);
        req->problem_status = status;
        /* Answering on the first call makes MHD 0.9.75 close the
         * connection; everything else is answered on the next call. */
        return MHD_YES;
    }
    if (*upload_data_size == 0)
        limit_request_received(conn); /* headers and body are in */
    if (req->calls++ == 0 && req->problem) {
        if (*upload_data_size)
            return MHD_NO;            /* a body we never asked for: drop it */
        return reply_error_with(conn, req->problem_status, req->problem,
                                req->problem_header, req->problem_value);
    }
    if (req->preflight) {
        if (*upload_data_size) {
            *upload_data_size = 0;    /* a preflight's body means nothing */
            return MHD_YES;
        }
        return access_preflight(conn, req->methods);
    }
    switch (req->route) {
    case R_PUB:      return publish_handle(req, conn, upload_data, upload_data_size);
    case R_POLL:     return poll_handle(req, conn);
    case R_LONGPOLL: return longpoll_handle(req, conn);
    case R_SSE:      return sse_handle(req, conn);
    case R_SSE_DROP: return sse_drop_handle(req, conn, upload_data_size);
    case R_WS:       return ws_handle(req, conn);
    default:         return reply_plain(req, conn, url);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    limit_request_done(conn);
    struct request *req = *req_cls;
    if (!req)
        return;
    if (req->transport_free)
        req->transport_free(req->transport);
    free(req->body);
    free(req);
    *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context, enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        stats.http_connections++;
        limit_conn_open(conn, socket_context);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        stats.http_connections--;
        limit_conn_close(socket_context);
    }
}

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

int http_start(struct server *srv, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (resolve_bind(&srv->cfg, &ss, err, errlen) != 0)
        return -1;
    snprintf(epoch_text, sizeof epoch_text, "%llu", (unsigned long long)srv->epoch);
    struct http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->http = h;
    if (limit_start(srv) != 0) {
        snprintf(err, errlen, "cannot start the connection limits (out of memory)");
        return -1;
    }
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
    bool tls = srv->cfg.tls_cert_pem != NULL;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned idle_s = (unsigned)((srv->cfg.idle_timeout_us + 999999) / 1000000);
    size_t per_ip = srv->cfg.max_connections_per_ip;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
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
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
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
    limit_stop();                     /* after the last connection closed */
    if (h->ready_ev)
        event_free(h->ready_ev);
    if (h->timer_ev)
        event_free(h->timer_ev);
    free(h);
    srv->http = NULL;
}
