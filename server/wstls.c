#include "wstls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdlib.h>

#include "sendhold.h"

struct wstls {
    gnutls_session_t session;
    int fd;
    struct send_hold hold;            /* a frame header waiting for its payload */
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

/* One TLS record (GnuTLS cuts a longer write at the record size and says
 * how much went). After GNUTLS_E_AGAIN the caller retries with the same
 * bytes (wslay resends the rest of the frame; the header is still held),
 * which is what GnuTLS asks: it then finishes the record it kept. */
static ssize_t record_write(void *ud, const uint8_t *p, size_t len)
{
    struct wstls *t = ud;
    ssize_t n = gnutls_record_send(t->session, p, len);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
        t->blocked = true;
        return 0;
    }
    if (n < 0)
        return -1;
    t->blocked = false;
    return n;
}

ssize_t wstls_send(struct wstls *t, const void *data, size_t len, bool more)
{
    ssize_t n = send_hold_send(&t->hold, data, len, more, record_write, t);
    if (n == 0 && len > 0)
        errno = EAGAIN;
    else if (n < 0)
        errno = EPIPE;
    else
        return n;
    return -1;
}

void wstls_close(struct wstls *t)
{
    if (!t)
        return;
    if (t->blocked)                   /* NULL, 0: finish the pending record */
        (void)gnutls_record_send(t->session, NULL, 0);
    free(t);
}
