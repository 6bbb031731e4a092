/* A WebSocket frame header held back until its payload, so both go out in
 * one write.
 *
 * wslay hands the send callback a frame's header and its payload in two
 * calls (WSLAY_MSG_MORE on the header). A socket takes MSG_MORE; the
 * writers that have no such flag (a GnuTLS session: server/wstls.c,
 * curl_easy_send: client/wsconn.c) would make each part a TLS record or a
 * TCP segment of its own. They keep the header here instead. */
#ifndef PUSHPULL_SENDHOLD_H
#define PUSHPULL_SENDHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEND_HOLD_MAX 14              /* a frame header: 2 + 8 (length) + 4 (mask) */

struct send_hold {
    uint8_t buf[SEND_HOLD_MAX];
    size_t len;
};

/* Writes up to len bytes: how many went (0: none, it would block), or -1
 * when the writer failed. */
typedef ssize_t (*send_hold_write_fn)(void *ud, const uint8_t *p, size_t len);

/* Offer `data` as wslay's send callback gets it. With `more` and room, it
 * is kept; otherwise what is held and (as much as one write takes of) data
 * go to `write` in one call. Returns how many bytes of `data` were taken
 * (0: none yet; offer the same bytes again, as wslay does), or -1 when
 * `write` failed. */
ssize_t send_hold_send(struct send_hold *h, const uint8_t *data, size_t len, bool more,
                       send_hold_write_fn write, void *ud);

#endif
