/* A client WebSocket on a libevent loop. libcurl makes the connection
 * (CURLOPT_CONNECT_ONLY, so an https:// URL brings TLS), the RFC 6455
 * opening handshake is written here over curl_easy_send/recv, then wslay
 * frames over the same two calls. Debian's libcurl 7.88 has no ws://. */
#ifndef PUSHPULL_WSCONN_H
#define PUSHPULL_WSCONN_H

#include <stddef.h>
#include <stdint.h>

struct cost;
struct event_base;
struct wsconn;

/* on_close codes that are not the peer's close code. */
#define WSCONN_ERR_IO (-1)            /* connect failed or timed out, reset, EOF */
#define WSCONN_ERR_PROTOCOL (-2)      /* bad handshake answer, malformed frames */

/* Any member may be NULL. Any callback may call wsconn_free(c). */
struct wsconn_cb {
    void (*on_open)(struct wsconn *c, void *ud);
    /* One whole text message; `text` is valid during the call only. */
    void (*on_text)(struct wsconn *c, const char *text, size_t len, void *ud);
    /* The end, called once and last: code is the peer's close code (1005
     * when its close frame had none) or WSCONN_ERR_*; `why` in a few words. */
    void (*on_close)(struct wsconn *c, int code, const char *why, void *ud);
};

/* Connect to url "http(s)://host:port/path?query" and upgrade. timeout_us
 * bounds connect and handshake together (0: libcurl's default, 300 s).
 * Everything after this comes through callbacks, never from inside this
 * call. cost (may be NULL) gets connects, the handshake request and every
 * byte sent and received (before TLS, if any). NULL when it cannot even
 * start (bad URL, no memory). */
struct wsconn *wsconn_open(struct event_base *base, const char *url, uint64_t timeout_us,
                           const struct wsconn_cb *cb, void *ud, struct cost *cost);

/* The same with extra request header lines (each ending in CRLF; NULL:
 * none) and a subprotocol to ask for (NULL: none), which the answer may
 * name and nothing else. */
struct wsconn *wsconn_open_with(struct event_base *base, const char *url, const char *headers,
                                const char *protocol, uint64_t timeout_us,
                                const struct wsconn_cb *cb, void *ud, struct cost *cost);

/* Queue one text message and send what the socket takes. 0, or -1 when the
 * connection is not open or is closing. */
int wsconn_send_text(struct wsconn *c, const char *text, size_t len);
/* When the bytes of the message being delivered were read (monotonic µs):
 * valid in on_text. */
uint64_t wsconn_rx_us(const struct wsconn *c);
/* Bytes queued and not yet written. */
size_t wsconn_queued(const struct wsconn *c);

/* Start the closing handshake; on_close follows with the peer's answer, or
 * WSCONN_ERR_IO if it does not come within a second. Before the
 * connection is open, it is abandoned (on_close: WSCONN_ERR_IO). */
void wsconn_close(struct wsconn *c, uint16_t code);

/* Release now; no callback after this. Frames queued before a
 * wsconn_close() (the close frame too) are written if the socket takes
 * them at once; without wsconn_close() the socket is just closed. */
void wsconn_free(struct wsconn *c);

#endif
