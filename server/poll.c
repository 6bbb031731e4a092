/* GET /poll/{ch}?since=N&limit=M: short polling, answered at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cursor.h"
#include "query.h"
#include "server.h"
#include "stats.h"
#include "transports.h"

enum MHD_Result poll_answer(struct request *req, struct MHD_Connection *conn,
                            const struct poll_query *q)
{
    const struct bus_channel *ch = req->ch;
    struct bus_span span = { .from = 1, .to = 0, .lost = 0 };
    if (q->has_since) {
        span = bus_span_since(ch, q->since);
        if (span.from <= span.to && span.to - span.from + 1 > q->limit)
            span.to = span.from + q->limit - 1;
    }
    /* {"last_id":,"epoch":,"reset":true,"gap":true,"lost":,"messages":[]}\n */
    size_t size = 160;
    for (uint64_t id = span.from; id <= span.to; id++)
        size += bus_msg_at(ch, id)->json_len + 1;
    char *body = malloc(size);
    if (!body)
        return MHD_NO;
    char *p = body + sprintf(body, "{\"last_id\":%llu,\"epoch\":%llu,",
                             (unsigned long long)bus_last_id(ch),
                             (unsigned long long)bus_epoch(ch));
    if (q->reset)
        p += sprintf(p, "\"reset\":true,");
    if (span.lost) {
        p += sprintf(p, "\"gap\":true,\"lost\":%llu,", (unsigned long long)span.lost);
        stats.gaps_served++;
    }
    p += sprintf(p, "\"messages\":[");
    for (uint64_t id = span.from; id <= span.to; id++) {
        const struct bus_msg *m = bus_msg_at(ch, id);
        if (id != span.from)
            *p++ = ',';
        memcpy(p, m->json, m->json_len);
        p += m->json_len;
    }
    p += sprintf(p, "]}\n");
    size_t len = (size_t)(p - body);
    if (span.from <= span.to)
        stats.deliveries[q->transport] += span.to - span.from + 1;
    stats.bytes_out[q->transport] += len;
    return reply_json(conn, MHD_HTTP_OK, body, len);
}

const char *poll_args(struct request *req, struct MHD_Connection *conn,
                      struct cursor *c, struct poll_query *q)
{
    const char *problem = query_cursor(conn, c);
    if (problem)
        return problem;
    q->limit = req->srv->cfg.history;
    if (query_u64(conn, "limit", UINT64_MAX, &q->limit) < 0)
        return "limit: want a non-negative integer";
    if (q->limit > req->srv->cfg.history)
        q->limit = req->srv->cfg.history;
    return NULL;
}

enum MHD_Result poll_handle(struct request *req, struct MHD_Connection *conn)
{
    struct cursor c;
    struct poll_query q = { .transport = T_POLL };
    const char *problem = poll_args(req, conn, &c, &q);
    if (problem)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, problem);
    q.reset = cursor_stale(&c, req->ch, bus_epoch(req->ch));
    q.has_since = q.reset || c.has_since;
    q.since = q.reset ? 0 : c.since;   /* from another start: from 0 */
    return poll_answer(req, conn, &q);
}
