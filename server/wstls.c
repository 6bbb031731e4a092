#include "wstls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* GnuTLS's largest record payload. */
#define WSTLS_RECORD_MAX 16384

struct wstls {
    gnutls_session_t session;
    int fd;
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

/* The record GnuTLS holds after GNUTLS_E_AGAIN: finish it (NULL, 0 asks
 * for exactly that). 1 done, 0 still blocked, -1 gone. */
static int finish_held(struct wstls *t)
{
    if (!t->blocked)
        return 1;
    ssize_t r = gnutls_record_send(t->session, NULL, 0);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return 0;
    t->blocked = false;
    return r < 0 ? -1 : 1;
}

/* Up to one record's worth of iov into buf; how many bytes. */
static size_t gather(char *buf, size_t max, const struct iovec *iov, int n)
{
    size_t len = 0;
    for (int i = 0; i < n && len < max; i++) {
        size_t k = iov[i].iov_len < max - len ? iov[i].iov_len : max - len;
        memcpy(buf + len, iov[i].iov_base, k);
        len += k;
    }
    return len;
}

ssize_t wstls_writev(struct wstls *t, const struct iovec *iov, int n, bool *blocked)
{
    char rec[WSTLS_RECORD_MAX];
    *blocked = false;
    size_t taken = 0, total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    size_t max = gnutls_record_get_max_size(t->session);
    max = max < sizeof rec ? max : sizeof rec;
    for (;;) {
        int held = finish_held(t);
        if (held <= 0) {
            *blocked = held == 0;
            return held < 0 ? -1 : (ssize_t)taken;
        }
        if (taken == total)
            return (ssize_t)taken;
        /* The rest of iov, past what earlier records took. */
        size_t skip = taken, len = 0;
        int i = 0;
        while (skip >= iov[i].iov_len)
            skip -= iov[i++].iov_len;
        struct iovec first = { (char *)iov[i].iov_base + skip, iov[i].iov_len - skip };
        len = gather(rec, max, &first, 1);
        len += gather(rec + len, max - len, iov + i + 1, n - i - 1);
        ssize_t r = gnutls_record_send(t->session, rec, len);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            t->blocked = true;        /* GnuTLS keeps the record: taken */
            *blocked = true;
            return (ssize_t)(taken + len);
        }
        if (r < 0)
            return -1;
        taken += (size_t)r;
    }
}

void wstls_close(struct wstls *t)
{
    if (!t)
        return;
    if (t->blocked)                   /* NULL, 0: finish the pending record */
        (void)gnutls_record_send(t->session, NULL, 0);
    free(t);
}
