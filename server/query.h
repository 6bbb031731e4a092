/* Query arguments of a request (?since=, ?epoch=, ?limit=, ...). */
#ifndef PUSHPULL_QUERY_H
#define PUSHPULL_QUERY_H

#include <microhttpd.h>
#include <stdint.h>

struct cursor;

/* A query argument: 0 absent, 1 parsed into *out, -1 malformed (answered
 * with 400 by the caller). */
int query_u64(struct MHD_Connection *conn, const char *key, uint64_t max, uint64_t *out);

/* ?since=N and ?epoch=E of a subscription into *c; an error message for a
 * 400, or NULL. */
const char *query_cursor(struct MHD_Connection *conn, struct cursor *c);

#endif
