/* POST /pub/{ch}: the body is the payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "bus.h"
#include "http.h"
#include "server.h"
#include "stats.h"
#include "transports.h"
#include "utf8.h"

/* A publish through the broker: the connection waits, suspended, for the
 * id Redis assigns. */
struct pub_wait {
    struct server *srv;
    struct MHD_Connection *conn;
    struct broker_op *op;             /* NULL once answered */
    struct broker_published r;
};

static void pub_wait_free(void *p)
{
    struct pub_wait *w = p;
    if (w->op)
        broker_cancel(w->op);
    free(w);
}

static void on_published(void *arg, const struct broker_published *r)
{
    struct pub_wait *w = arg;
    w->op = NULL;
    w->r = *r;
    MHD_resume_connection(w->conn);
    http_kick(w->srv);
}

static enum MHD_Result reply_id(struct MHD_Connection *conn, uint64_t id, uint64_t epoch)
{
    char *body = malloc(64);
    if (!body)
        return MHD_NO;
    /* The id is one of the channel's epoch (PROTOCOL.md). */
    int n = snprintf(body, 64, "{\"id\":%llu,\"epoch\":%llu}\n", (unsigned long long)id,
                     (unsigned long long)epoch);
    return reply_json(conn, MHD_HTTP_OK, body, (size_t)n);
}

static enum MHD_Result publish_via_broker(struct request *req, struct MHD_Connection *conn)
{
    struct pub_wait *w = req->transport;
    if (w)                            /* resumed: the broker answered */
        return w->r.ok ? reply_id(conn, w->r.id, w->r.epoch)
                       : reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, w->r.error);
    if (!(w = calloc(1, sizeof *w)))
        return MHD_NO;
    w->srv = req->srv;
    w->conn = conn;
    w->op = broker_publish(req->srv->broker, req->ch, req->body ? req->body : "",
                           req->body_len, req->received_us, on_published, w);
    if (!w->op) {
        free(w);
        return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "broker unavailable: the message was not published");
    }
    req->transport = w;
    req->transport_free = pub_wait_free;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

enum MHD_Result publish_handle(struct request *req, struct MHD_Connection *conn,
                               const char *upload, size_t *upload_size)
{
    size_t max = req->srv->cfg.max_message;
    if (*upload_size > 0) {
        if (req->body_len + *upload_size > max) {
            /* A chunked body without a length grew too large: MHD cannot
             * answer mid-upload, so discard the rest and answer at the end
             * (or give up on a sender that never stops). */
            req->body_too_large = true;
            req->discarded += *upload_size;
            *upload_size = 0;
            return req->discarded > 16 * (uint64_t)max + 65536 ? MHD_NO : MHD_YES;
        }
        char *grown = realloc(req->body, req->body_len + *upload_size + 1);
        if (!grown)
            return MHD_NO;
        memcpy(grown + req->body_len, upload, *upload_size);
        req->body = grown;
        req->body_len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->body_too_large)
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than --max-message");
    if (!utf8_valid((const uint8_t *)req->body, req->body_len))
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body is not valid UTF-8");
    if (req->srv->broker)
        return publish_via_broker(req, conn);
    const struct bus_msg *m =
        bus_publish(req->ch, req->body ? req->body : "", req->body_len, req->received_us);
    if (!m)
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    stats.published++;
    return reply_id(conn, m->id, bus_epoch(req->ch));
}
