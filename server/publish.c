/* POST /pub/{ch}: the body is the payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "server.h"
#include "stats.h"
#include "transports.h"
#include "utf8.h"

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
    const struct bus_msg *m =
        bus_publish(req->ch, req->body ? req->body : "", req->body_len, req->received_us);
    if (!m)
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    stats.published++;
    char *body = malloc(64);
    if (!body)
        return MHD_NO;
    /* The id is one of this start's (server.h): the epoch says which. */
    int n = snprintf(body, 64, "{\"id\":%llu,\"epoch\":%llu}\n", (unsigned long long)m->id,
                     (unsigned long long)req->srv->epoch);
    return reply_json(conn, MHD_HTTP_OK, body, (size_t)n);
}
