#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "envelope.h"

static char epoch_text[24];           /* set once at start: one per process */

void reply_set_epoch(unsigned long long epoch)
{
    snprintf(epoch_text, sizeof epoch_text, "%llu", epoch);
}

enum MHD_Result reply_send(struct MHD_Connection *conn, unsigned status,
                           struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Pushpull-Epoch", epoch_text);
    access_cors_headers(conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Response *response_of(char *body, size_t len, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return r;
}

enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned status,
                           const char *type, char *body, size_t len)
{
    struct MHD_Response *r = response_of(body, len, type);
    if (r)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return reply_send(conn, status, r);
}

enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
                           char *body, size_t len)
{
    return reply_body(conn, status, "application/json", body, len);
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

enum MHD_Result reply_refuse(struct MHD_Connection *conn, const struct reply_refusal *rf)
{
    size_t len = 0;
    char *body = error_body(rf->message, &len);
    struct MHD_Response *r = body ? response_of(body, len, "application/json") : NULL;
    if (r && rf->header)
        MHD_add_response_header(r, rf->header, rf->value);
    /* MHD closes the connection after an answer that says so. */
    if (r && rf->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return reply_send(conn, rf->status, r);
}

enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                            const char *message)
{
    struct reply_refusal rf = { .status = status, .message = message };
    return reply_refuse(conn, &rf);
}
