#include "access.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX 256
#define ORIGINS_MAX 32
#define PREFLIGHT_MAX_AGE "600"

struct token {
    bool set;
    unsigned char digest[32];         /* SHA-256 of the token */
};

static struct {
    struct token publish, subscribe;
    bool cors;                        /* --allow-origin given */
    bool any_origin;                  /* --allow-origin '*' */
    char *origins[ORIGINS_MAX];
    size_t n_origins;
} acl;

/* ---- tokens ----------------------------------------------------------- */

/* RFC 6750's b64token alphabet: what fits a header and a query unescaped. */
static bool token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("-._~+/=", c) != NULL;
}

static int token_set(struct token *t, const char *flag, const char *value,
                     char *err, size_t errlen)
{
    size_t n = strlen(value);
    size_t good = 0;
    while (good < n && token_char(value[good]))
        good++;
    /* Empty is an error, not "off": `--publish-token "$UNSET"` must not
     * quietly open the server. */
    if (good < n || n == 0 || n > TOKEN_MAX) {
        snprintf(err, errlen, "%s: want 1 to %d characters of A-Z a-z 0-9 - . _ ~ + / =",
                 flag, TOKEN_MAX);
        return -1;
    }
    if (EVP_Digest(value, n, t->digest, NULL, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "%s: SHA-256 unavailable", flag);
        return -1;
    }
    t->set = true;
    return 0;
}

/* Digests of equal size compared with CRYPTO_memcmp: the time taken says
 * nothing about the token, not even its length. */
static bool token_matches(const struct token *t, const char *p, size_t n)
{
    unsigned char d[32];
    if (EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL) != 1)
        return false;
    return CRYPTO_memcmp(d, t->digest, sizeof d) == 0;
}

/* The token of "Authorization: Bearer T", or NULL. */
static const char *bearer_token(struct MHD_Connection *conn, size_t *len)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncasecmp(v, "Bearer ", 7) != 0)
        return NULL;
    v += 7;
    v += strspn(v, " ");
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return n ? v : NULL;
}

enum access_verdict access_check(struct MHD_Connection *conn, enum access_right right)
{
    const struct token *t = right == ACCESS_PUBLISH ? &acl.publish : &acl.subscribe;
    if (!t->set)
        return ACCESS_OK;
    size_t n = 0;
    const char *p = bearer_token(conn, &n);
    bool presented = p != NULL;
    if (p && token_matches(t, p, n))
        return ACCESS_OK;
    if (right == ACCESS_SUBSCRIBE &&
        MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "token", 5,
                                      &p, &n) == MHD_YES && p) {
        presented = true;
        if (token_matches(t, p, n))
            return ACCESS_OK;
    }
    return presented ? ACCESS_WRONG : ACCESS_MISSING;
}

const char *access_challenge(enum access_verdict v)
{
    return v == ACCESS_WRONG ? "Bearer realm=\"pushpull\", error=\"invalid_token\""
                             : "Bearer realm=\"pushpull\"";
}

/* ---- origins ---------------------------------------------------------- */

/* scheme://host[:port], as browsers send it: no path, no spaces. */
static bool origin_valid(const char *o)
{
    const char *rest = strncmp(o, "http://", 7) == 0    ? o + 7
                       : strncmp(o, "https://", 8) == 0 ? o + 8
                                                        : NULL;
    return rest && *rest && strcspn(rest, "/ \t?#") == strlen(rest);
}

static int origins_set(const char *list, char *err, size_t errlen)
{
    acl.cors = true;
    if (strcmp(list, "*") == 0) {
        acl.any_origin = true;
        return 0;
    }
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (acl.n_origins == ORIGINS_MAX) {
            snprintf(err, errlen, "--allow-origin: more than %d origins", ORIGINS_MAX);
            return -1;
        }
        char *o = strndup(p, n);
        if (!o || !origin_valid(o)) {
            snprintf(err, errlen, "--allow-origin: '%.*s' is not an origin like "
                     "https://example.com or http://localhost:8080 (or '*' alone)", (int)n, p);
            free(o);
            return -1;
        }
        acl.origins[acl.n_origins++] = o;
        p += n;
        if (*p == ',')
            p++;
    }
    if (acl.n_origins == 0) {
        snprintf(err, errlen, "--allow-origin: empty list");
        return -1;
    }
    return 0;
}

int access_configure(const char *publish_token, const char *subscribe_token,
                     const char *allow_origin, char *err, size_t errlen)
{
    if (publish_token && token_set(&acl.publish, "--publish-token", publish_token,
                                   err, errlen) != 0)
        return -1;
    if (subscribe_token && token_set(&acl.subscribe, "--subscribe-token", subscribe_token,
                                     err, errlen) != 0)
        return -1;
    if (allow_origin && origins_set(allow_origin, err, errlen) != 0)
        return -1;
    return 0;
}

bool access_cors_enabled(void) { return acl.cors; }

/* Origin "http://h:p" against Host "h:p": the page this server serves. */
static bool same_origin(struct MHD_Connection *conn, const char *origin)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *authority = strstr(origin, "://");
    return host && authority && strcasecmp(authority + 3, host) == 0;
}

static bool origin_listed(struct MHD_Connection *conn, const char *origin)
{
    if (acl.any_origin)
        return true;
    for (size_t i = 0; i < acl.n_origins; i++)
        if (strcasecmp(origin, acl.origins[i]) == 0)
            return true;
    return same_origin(conn, origin);
}

bool access_origin_allowed(struct MHD_Connection *conn)
{
    if (!acl.cors)
        return true;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    return !origin || origin_listed(conn, origin);
}

void access_cors_headers(struct MHD_Connection *conn, struct MHD_Response *r)
{
    if (!acl.cors)
        return;
    /* The answer depends on Origin: a cache must not reuse it for another. */
    MHD_add_response_header(r, "Vary", "Origin");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (origin && origin_listed(conn, origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        /* A page may read only the response headers listed here. */
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "Pushpull-Epoch");
    }
}

struct MHD_Response *access_preflight(const char *methods)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    char allow[64];
    snprintf(allow, sizeof allow, "%s, OPTIONS", methods);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", methods);
    /* Last-Event-ID: EventSource sends it when it reconnects. */
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, Last-Event-ID");
    MHD_add_response_header(r, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
    return r;
}
