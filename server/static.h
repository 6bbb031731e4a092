/* The live page: web/ embedded in the binary at build time (mk/embed.sh),
 * served at / and /web/NAME with its content type, an ETag and
 * revalidation (If-None-Match → 304). */
#ifndef PUSHPULL_STATIC_H
#define PUSHPULL_STATIC_H

#include <microhttpd.h>
#include <stddef.h>

struct static_file {
    const char *name;                 /* "app.js": its name in web/ */
    const char *etag;                 /* quoted, from the content */
    const unsigned char *data;
    size_t len;
};

/* Generated: every file of web/. */
extern const struct static_file static_files[];
extern const size_t static_files_count;

/* The file a path names ("/" is index.html, "/web/NAME" is NAME), or NULL. */
const struct static_file *static_find(const char *path);
/* 200 with the file (MHD leaves the body out for HEAD), or 304 when the
 * request's If-None-Match names its ETag. */
enum MHD_Result static_reply(struct MHD_Connection *conn, const struct static_file *f);

#endif
