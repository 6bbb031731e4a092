/* Strict at the edge: what a request head must be before any handler sees
 * it (RFC 9112 framing, Host, the request target, NUL and control bytes).
 * libmicrohttpd 0.9.75 lets all of these through (measured, PROTOCOL.md);
 * the router runs these checks on the first access-handler call, before a
 * body is read or an answer queued, and a refusal closes the connection.
 * Pure functions over what MHD parsed: no MHD calls, so a fuzzer drives
 * them directly. */
#ifndef PUSHPULL_EDGE_H
#define PUSHPULL_EDGE_H

#include <stdbool.h>
#include <stddef.h>

/* At most this many header fields in a request (431 beyond). */
#define EDGE_FIELDS_MAX 128

struct edge_field {
    const char *name, *value;
    size_t name_len, value_len;
};

/* A request head as MHD parsed it, fields in the order they came. */
struct edge_head {
    bool http11;                      /* else HTTP/1.0 */
    const struct edge_field *fields;
    size_t n_fields;
};

/* Why a request is refused: an HTTP status and the error message. */
struct edge_refusal {
    unsigned status;
    const char *error;
};

/* The request target as received (len: up to the first NUL): origin form
 * "/path?query", absolute form "http://authority/path", or "*". */
bool edge_target_ok(const char *raw, size_t len, struct edge_refusal *why);

/* Field names, values, Host, Transfer-Encoding and Content-Length. */
bool edge_fields_ok(const struct edge_head *h, struct edge_refusal *why);

/* MHD parses the head in place: it turns the first ':' of a line and the
 * CR/LF ending it into NULs and keeps pointers into that buffer. So the
 * head's bytes [start, start + size) must be exactly: the request line up
 * to after_line, then per field its name, NUL, optional SP/HTAB, value and
 * 1-2 NULs, then the blank line's NULs. A byte left over is a NUL that cut
 * a value short, or a folded line (MHD moves those elsewhere). */
bool edge_layout_ok(const char *start, size_t size, const char *after_line,
                    const struct edge_head *h);

/* The path of a target MHD unescaped: an absolute-form "http://a/p" gives
 * "/p" (and "http://a" gives "/"); anything else is returned as it is. */
const char *edge_origin_path(const char *url);

#endif
