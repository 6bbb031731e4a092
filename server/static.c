/* GET / and /web/NAME: the embedded files of web/. */
#include "static.h"

#include <stdbool.h>
#include <string.h>

#include "reply.h"

#define WEB_PREFIX "/web/"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".json", "application/json" },
    { ".txt", "text/plain; charset=utf-8" },
};

static const char *type_of(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

const struct static_file *static_find(const char *path)
{
    const char *name;
    if (strcmp(path, "/") == 0)
        name = "index.html";
    else if (strncmp(path, WEB_PREFIX, strlen(WEB_PREFIX)) == 0)
        name = path + strlen(WEB_PREFIX);
    else
        return NULL;
    for (size_t i = 0; i < static_files_count; i++)
        if (strcmp(static_files[i].name, name) == 0)
            return &static_files[i];
    return NULL;
}

/* If-None-Match: "*" or a comma list of (possibly weak, W/) entity tags. */
static bool etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(p, etag, n) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

enum MHD_Result static_reply(struct MHD_Connection *conn, const struct static_file *f)
{
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = inm && etag_matches(inm, f->etag);
    /* The bytes live as long as the program: MHD may send them in place.
     * A 304 gets the same response, for its Content-Length (a 304 may only
     * repeat the 200's); MHD sends no body with it. */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (!fresh)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type_of(f->name));
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
    /* Revalidate every time (a new build is picked up at once); the ETag
     * makes that a 304 without a body. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return reply_send(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}
