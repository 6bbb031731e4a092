#include "wstls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WSTLS_HOLD_MAX 14             /* a frame header: 2 + 8 (length) + 4 (mask) */
#define WSTLS_RECORD 16384            /* TLS's largest plaintext record */

struct wstls {
    gnutls_session_t session;
    int fd;
    uint8_t hold[WSTLS_HOLD_MAX];     /* a frame header waiting for its payload */
    size_t hold_len;
    bool blocked;                     /* GnuTLS holds a record the socket did not take */
};

struct wstls *wstls_open(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *si =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!si || !si->tls_session || !fi)
        return NULL;
    struct wstls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->session = si->tls_session;
    t->fd = fi->connect_fd;
    return t;
}

int wstls_fd(const struct wstls *t) { return t->fd; }

ssize_t wstls_send(struct wstls *t, const void *data, size_t len, bool more)
{
    if (more && t->hold_len + len <= sizeof t->hold) {
        memcpy(t->hold + t->hold_len, data, len);
        t->hold_len += len;
        return (ssize_t)len;
    }
    uint8_t out[WSTLS_RECORD];
    const void *p = data;
    size_t total = len < WSTLS_RECORD ? len : WSTLS_RECORD;
    if (t->hold_len) {
        size_t take = len < sizeof out - t->hold_len ? len : sizeof out - t->hold_len;
        memcpy(out, t->hold, t->hold_len);
        memcpy(out + t->hold_len, data, take);
        p = out;
        total = t->hold_len + take;
    }
    /* After GNUTLS_E_AGAIN the caller retries with the same bytes (wslay
     * resends the rest of the frame; the header is still held), which is
     * what GnuTLS asks: it then finishes the record it kept. */
    ssize_t n = gnutls_record_send(t->session, p, total);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
        t->blocked = true;
        errno = EAGAIN;
        return -1;
    }
    if (n < 0) {
        errno = EPIPE;
        return -1;
    }
    t->blocked = false;
    size_t held = (size_t)n < t->hold_len ? (size_t)n : t->hold_len;
    memmove(t->hold, t->hold + held, t->hold_len - held);
    t->hold_len -= held;
    return (ssize_t)((size_t)n - held);
}

void wstls_close(struct wstls *t)
{
    if (!t)
        return;
    if (t->blocked)                   /* NULL, 0: finish the pending record */
        (void)gnutls_record_send(t->session, NULL, 0);
    free(t);
}
