/* Answers. Every answer ends in reply_send(): the Pushpull-Epoch and CORS
 * headers, queue, destroy. */
#ifndef PUSHPULL_REPLY_H
#define PUSHPULL_REPLY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct server;

/* Once at start: this start's epoch (server.h) as the header's text. */
void reply_set_epoch(unsigned long long epoch);

/* Pushpull-Epoch (so any answer tells a client whether the server
 * restarted) and the CORS headers, then queue r; r is destroyed. */
enum MHD_Result reply_send(struct MHD_Connection *conn, unsigned status,
                           struct MHD_Response *r);

/* body is malloc'd and owned from here on, also on failure. */
enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned status,
                           const char *type, char *body, size_t len);
enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
                           char *body, size_t len);

/* {"error":"message"}. */
enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                            const char *message);

/* An error answer with one more header (Allow, WWW-Authenticate, ...;
 * NULL: none) and, when `close`, Connection: close. */
struct reply_refusal {
    unsigned status;
    const char *message;
    const char *header, *value;
    bool close;
};
enum MHD_Result reply_refuse(struct MHD_Connection *conn, const struct reply_refusal *r);

#endif
