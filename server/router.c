#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "broker.h"
#include "bus.h"
#include "clock.h"
#include "edge.h"
#include "http.h"
#include "limit.h"
#include "parse.h"
#include "reply.h"
#include "request.h"
#include "server.h"
#include "static.h"
#include "stats.h"
#include "transports.h"

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

/* The request whose request line MHD is parsing: the URI log callback and
 * the unescape callbacks that follow it run in one MHD call. */
static struct request *parsing;

/* ---- the edge ---------------------------------------------------------- */

struct fields {
    struct edge_field f[EDGE_FIELDS_MAX + 1];
    size_t n;
};

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct fields *fs = cls;
    if (fs->n <= EDGE_FIELDS_MAX)     /* one over: edge_fields_ok refuses it */
        fs->f[fs->n++] = (struct edge_field){ key, value ? value : "", key_size,
                                              value ? value_size : 0 };
    return MHD_YES;
}

/* The edge checks of edge.h; false with *why filled when refused. */
static bool edge_ok(struct request *req, struct MHD_Connection *conn,
                    const char *method, const char *version, struct edge_refusal *why)
{
    why->status = MHD_HTTP_BAD_REQUEST;
    /* MHD ended the target with a NUL right before the version: a shorter
     * string means a NUL byte inside it. */
    if (!req->raw_target || req->raw_target + req->raw_target_len + 1 != version) {
        why->error = "request target: NUL byte";
        return false;
    }
    if (req->target_error) {
        why->error = req->target_error;
        return false;
    }
    if (req->escaped_nul) {
        why->error = "request target: %00 (NUL) in the path or a query argument";
        return false;
    }
    static struct fields fs;          /* one request at a time: one thread */
    fs.n = 0;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, add_field, &fs);
    struct edge_head h = { req->http11, fs.f, fs.n };
    if (!edge_fields_ok(&h, why))
        return false;
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!hs || !edge_layout_ok(method, hs->header_size, version + strlen(version), &h)) {
        why->error = "header block: NUL byte in a field, or a folded line";
        return false;
    }
    return true;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct request *req = parsing = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->srv = cls;
    req->received_us = clock_real_us();
    req->raw_target = uri;
    req->raw_target_len = uri ? strlen(uri) : 0;
    /* Now: MHD unescapes the target and splits its query in place next. */
    struct edge_refusal why;
    if (!edge_target_ok(uri ? uri : "", req->raw_target_len, &why))
        req->target_error = why.error;
    return req;
}

/* MHD's own unescaping, noting a %00: it would cut the string short. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    size_t n = MHD_http_unescape(s);
    if (strlen(s) != n && parsing)
        parsing->escaped_nul = true;
    return n;
}

/* ---- routes ------------------------------------------------------------ */

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
        return body ? reply_json(conn, MHD_HTTP_OK, body, len) : MHD_NO;
    case R_METRICS:
        body = stats_render_metrics(req->srv, &len);
        return body ? reply_body(conn, MHD_HTTP_OK,
                                 "text/plain; version=0.0.4; charset=utf-8",
                                 body, len) : MHD_NO;
    case R_HEALTHZ:
        body = strdup("ok\n");
        return body ? reply_body(conn, MHD_HTTP_OK, "text/plain", body, 3) : MHD_NO;
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

/* A connection accepted over a cap is refused, whatever it asks; those
 * accepted before it are served as usual. */
static const char *limit_problem(struct request *req, struct MHD_Connection *conn,
                                 unsigned *status)
{
    enum limit_excess e = limit_conn_excess(conn);
    if (e == LIMIT_OK)
        return NULL;
    *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    req->problem_closes = true;       /* free the slot */
    if (e == LIMIT_TOTAL)
        return "too many connections (--max-connections)";
    stats.per_ip_refused++;
    return "too many connections from your address (--max-connections-per-ip)";
}

/* The WebSocket upgrade needs HTTP/1.1 (MHD refuses the 101 otherwise) and
 * no body (MHD would read it as frames). */
static const char *upgrade_problem(struct request *req, struct MHD_Connection *conn)
{
    if (req->route != R_WS)
        return NULL;
    if (!req->http11)
        return "WebSocket upgrade: want HTTP/1.1";
    if (has_body(conn))
        return "WebSocket upgrade: the request must not have a body";
    return NULL;
}

static const char *method_problem(struct request *req, const char *method,
                                  const char *want, unsigned *status)
{
    bool get = strcmp(want, "GET") == 0;
    req->methods = get ? "GET, HEAD" : want;
    req->preflight = strcmp(method, "OPTIONS") == 0 && access_cors_enabled();
    req->head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, want) == 0 || (get && req->head) || req->preflight)
        return NULL;
    *status = MHD_HTTP_METHOD_NOT_ALLOWED;
    refuse_with(req, MHD_HTTP_HEADER_ALLOW,
                !access_cors_enabled() ? req->methods
                : get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS");
    return "method not allowed";
}

static const char *channel_problem(struct request *req, const char *chan, size_t len,
                                   unsigned *status)
{
    if (!parse_channel_name(chan, len)) {
        *status = MHD_HTTP_BAD_REQUEST;
        return "invalid channel name: want [A-Za-z0-9_.-]{1,64}";
    }
    req->ch = bus_channel(req->srv->bus, chan, len);
    if (req->ch)
        return NULL;
    *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    return "too many channels (--max-channels)";
}

/* What is wrong with a request before any handler runs; NULL when nothing. */
static const char *precheck(struct request *req, struct MHD_Connection *conn,
                            const char *url, const char *method, unsigned *status)
{
    const char *chan = NULL, *want;
    size_t chan_len = 0;
    const char *problem = limit_problem(req, conn, status);
    if (problem)
        return problem;
    req->route = route_of(url, &chan, &chan_len, &want);
    if (req->route == R_NOT_FOUND) {
        *status = MHD_HTTP_NOT_FOUND;
        return "no such endpoint";
    }
    if ((problem = method_problem(req, method, want, status)) ||
        (problem = access_problem(req, conn, status)) || req->preflight)
        return problem;
    *status = MHD_HTTP_BAD_REQUEST;
    if ((problem = upgrade_problem(req, conn)))
        return problem;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (req->route == R_PUB && cl && strtoull(cl, NULL, 10) > req->srv->cfg.max_message) {
        *status = MHD_HTTP_CONTENT_TOO_LARGE;
        return "body larger than --max-message";
    }
    return chan ? channel_problem(req, chan, chan_len, status) : NULL;
}

static enum MHD_Result refuse(struct request *req, struct MHD_Connection *conn)
{
    struct reply_refusal rf = { req->problem_status, req->problem, req->problem_header,
                                req->problem_value, req->problem_closes };
    return reply_refuse(conn, &rf);
}

/* The first call: the head is in, no body read, nothing queued. */
static enum MHD_Result on_head(struct request *req, struct MHD_Connection *conn,
                               const char *url, const char *method, const char *version)
{
    req->started = true;
    req->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    struct edge_refusal why;
    if (!edge_ok(req, conn, method, version, &why)) {
        /* The framing is not to be trusted: answer now and close. */
        req->problem = why.error;
        req->problem_status = why.status;
        req->problem_closes = true;
        return refuse(req, conn);
    }
    unsigned status = 0;
    req->problem = precheck(req, conn, edge_origin_path(url), method, &status);
    req->problem_status = status;
    /* A refused request with a body is answered now, before MHD sends
     * "100 Continue" or reads the body (MHD 0.9.75 cannot answer in the
     * middle of an upload); the connection then closes, as it must. */
    if (req->problem && has_body(conn))
        return refuse(req, conn);
    /* Answering on the first call makes MHD 0.9.75 close the
     * connection; everything else is answered on the next call. */
    return MHD_YES;
}

/* ---- the broker's cache ------------------------------------------------ */

static void on_channel_ready(void *arg, bool ok)
{
    struct request *req = arg;
    req->await = NULL;
    req->synced = ok;
    req->sync_failed = !ok;
    MHD_resume_connection(req->await_conn);
    http_kick(req->srv);
}

/* With a broker, a subscriber is served from its channel's cache only once
 * the broker caught the cache up (broker.h): until then the request waits,
 * suspended. true when it does. */
static bool await_channel(struct request *req, struct MHD_Connection *conn)
{
    bool subscriber = req->route == R_POLL || req->route == R_LONGPOLL ||
                      req->route == R_SSE || req->route == R_WS;
    if (!req->srv->broker || !subscriber || req->synced)
        return false;
    if (broker_await(req->srv->broker, req->ch, on_channel_ready, req, &req->await)) {
        req->synced = true;
        return false;
    }
    req->await_conn = conn;
    MHD_suspend_connection(conn);
    return true;
}

static enum MHD_Result dispatch(struct request *req, struct MHD_Connection *conn,
                                const char *url, const char *upload, size_t *upload_size)
{
    if (req->sync_failed)
        return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "broker unavailable: the channel could not be read in time");
    if (await_channel(req, conn))
        return MHD_YES;
    switch (req->route) {
    case R_PUB:      return publish_handle(req, conn, upload, upload_size);
    case R_POLL:     return poll_handle(req, conn);
    case R_LONGPOLL: return longpoll_handle(req, conn);
    case R_SSE:      return sse_handle(req, conn);
    case R_SSE_DROP: return sse_drop_handle(req, conn, upload_size);
    case R_WS:       return ws_handle(req, conn);
    default:         return reply_plain(req, conn, url);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    struct request *req = *req_cls;
    if (!req)
        return MHD_NO;                /* out of memory at the request line */
    if (!req->started)
        return on_head(req, conn, url, method, version);
    if (*upload_data_size == 0)
        limit_request_received(conn); /* headers and body are in */
    if (req->calls++ == 0 && req->problem) {
        if (*upload_data_size)
            return MHD_NO;            /* a body we never asked for: drop it */
        return refuse(req, conn);
    }
    if (req->preflight) {
        if (*upload_data_size) {
            *upload_data_size = 0;    /* a preflight's body means nothing */
            return MHD_YES;
        }
        return reply_send(conn, MHD_HTTP_NO_CONTENT, access_preflight(req->methods));
    }
    return dispatch(req, conn, edge_origin_path(url), upload_data, upload_data_size);
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
    if (parsing == req)
        parsing = NULL;
    if (req->await)
        broker_cancel(req->await);
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

static const struct http_hooks hooks = {
    .on_request = on_request,
    .on_completed = on_completed,
    .on_connection = on_connection,
    .on_uri = on_uri,
    .unescape = unescape,
};

int router_start(struct server *srv, char *err, size_t errlen)
{
    reply_set_epoch((unsigned long long)srv->epoch);
    if (limit_start(srv) != 0) {
        snprintf(err, errlen, "cannot start the connection limits (out of memory)");
        return -1;
    }
    return http_start(srv, &hooks, err, errlen);
}

void router_stop(struct server *srv)
{
    http_stop(srv);
    limit_stop();                     /* after the last connection closed */
}
