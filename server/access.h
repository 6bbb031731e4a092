/* Who may publish and subscribe (--publish-token, --subscribe-token) and
 * from which web origins (--allow-origin): bearer tokens compared in
 * constant time, the WebSocket Origin check, CORS headers and preflights.
 * One server per process: the settings are module state, set once. */
#ifndef PUSHPULL_ACCESS_H
#define PUSHPULL_ACCESS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

enum access_right { ACCESS_PUBLISH, ACCESS_SUBSCRIBE };

/* What a request showed for a right. */
enum access_verdict {
    ACCESS_OK,                        /* no token configured, or the right one */
    ACCESS_MISSING,                   /* no token presented */
    ACCESS_WRONG,                     /* a token, not the right one */
};

/* Validate and keep the settings; NULL leaves a check off. Returns -1 with
 * a message in err for a malformed (or empty) token or origin list. */
int access_configure(const char *publish_token, const char *subscribe_token,
                     const char *allow_origin, char *err, size_t errlen);

/* Publishing takes the token in "Authorization: Bearer T" only;
 * subscribing also in ?token=T (EventSource and WebSocket in a browser
 * cannot set headers). */
enum access_verdict access_check(struct MHD_Connection *conn, enum access_right right);

/* --allow-origin was given: Origin checks, CORS headers and preflights on. */
bool access_cors_enabled(void);
/* The request's Origin may act here: none sent (not a browser), listed, or
 * the server's own origin (the live page). Always true without --allow-origin. */
bool access_origin_allowed(struct MHD_Connection *conn);
/* Vary: Origin, and Access-Control-Allow-Origin when the request's Origin
 * is allowed; nothing without --allow-origin. */
void access_cors_headers(struct MHD_Connection *conn, struct MHD_Response *r);
/* The 204 to a CORS preflight (OPTIONS) for an endpoint taking `methods`,
 * to be sent with reply_send (which adds the CORS headers); NULL when out
 * of memory. */
struct MHD_Response *access_preflight(const char *methods);
/* The WWW-Authenticate value of a 401 for this verdict (RFC 6750). */
const char *access_challenge(enum access_verdict v);

#endif
