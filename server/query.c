#include "query.h"

#include <string.h>

#include "cursor.h"
#include "parse.h"

int query_u64(struct MHD_Connection *conn, const char *key, uint64_t max, uint64_t *out)
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

const char *query_cursor(struct MHD_Connection *conn, struct cursor *c)
{
    int rc = query_u64(conn, "since", UINT64_MAX, &c->since);
    if (rc < 0)
        return "since: want a non-negative integer";
    c->has_since = rc > 0;
    rc = query_u64(conn, "epoch", UINT64_MAX, &c->epoch);
    if (rc < 0)
        return "epoch: want a non-negative integer (the Pushpull-Epoch of the server)";
    c->has_epoch = rc > 0;
    return NULL;
}
