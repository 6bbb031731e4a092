/* WebSocket frames to a wss:// client, written straight into the TLS
 * session. libmicrohttpd 0.9.75 hands an upgraded TLS connection to the
 * application through a socketpair and forwards it with whatever its
 * connection pool has left, which after the 101 is nothing: an 8-byte
 * emergency buffer, so every 4 bytes became one TLS record and one
 * syscall each way (7 times ws://'s server CPU per message at 10
 * subscribers; at 100 subscribers and 1000 msg/s nothing was delivered).
 * Outbound frames therefore go through
 * gnutls_record_send on MHD's own session and TCP socket; MHD's forwarder
 * stays idle that way (nothing is written to the socketpair) and still
 * carries the little that comes in (pongs, closes, publishes) and does the
 * close_notify at MHD_upgrade_action(CLOSE). A turn's frames go out as few
 * records as they fit in (one per 16 KiB), not one per frame. */
#ifndef PUSHPULL_WSTLS_H
#define PUSHPULL_WSTLS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct wstls;

/* For an upgraded connection of a TLS daemon; NULL when out of memory or
 * MHD shows no session. */
struct wstls *wstls_open(struct MHD_Connection *conn);
/* The TCP socket: wait for it to be writable after a short write. */
int wstls_fd(const struct wstls *t);
/* Send what iov holds, one record at a time (as wssession.h's ws_io
 * writev). Bytes in a record GnuTLS could not finish writing count as
 * taken: GnuTLS holds them, and the next call (n may be 0) finishes that
 * record before anything else; *blocked says to wait for wstls_fd to be
 * writable. -1: the session is gone. */
ssize_t wstls_writev(struct wstls *t, const struct iovec *iov, int n, bool *blocked);
/* Push out a record left half-written, without waiting, then free. */
void wstls_close(struct wstls *t);

#endif
