/* A WebSocket session after the 101, without I/O (wslay's rule): frames
 * from the client through wslay's frame layer, close codes, publishing
 * from a text message (token, rate and UTF-8 checks), the heartbeat, and
 * the outbound queue of shared frames (outq.h) as a fanout subscriber of
 * its channel. It reads and writes only through struct ws_io; server/ws.c
 * is the glue to the socket or the TLS session, and the fuzzer and the
 * unit tests drive this same module with their own ws_io.
 *
 * Every call returns what the glue must do next. */
#ifndef PUSHPULL_WSSESSION_H
#define PUSHPULL_WSSESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bus_channel;
struct cursor;
struct ws_session;

struct ws_io {
    /* Bytes from the client: > 0 read, 0 none for now, -1 the client is gone. */
    ssize_t (*read)(void *ctx, uint8_t *buf, size_t len);
    /* Take bytes for the client (n may be 0: finish what is held). Returns
     * how many were taken, -1 when the client is gone; *blocked: nothing
     * more is taken before the connection is writable again. */
    ssize_t (*writev)(void *ctx, const struct iovec *iov, int n, bool *blocked);
    /* Frames were queued outside a read or flush: call ws_session_flush
     * within this loop turn (so one turn's messages go in one write). */
    void (*wake)(void *ctx);
};

struct ws_session_config {
    struct bus_channel *ch;
    uint64_t epoch;                   /* this start's (server.h) */
    size_t max_message;               /* --max-message */
    size_t max_queue;                 /* --max-queue */
    double publish_rate;              /* --ws-publish-rate; 0: no limit */
    bool may_publish;                 /* the upgrade had the publish token */
};

enum ws_next {
    WS_IDLE,                          /* wait for input (and the heartbeat) */
    WS_WAIT_WRITABLE,                 /* output is pending: flush when writable */
    WS_END,                           /* done or failed: close the connection */
};

/* A session at cursor c: its hello frame (and reset marker) queued, then
 * whatever the cursor asks for. NULL when out of memory. */
struct ws_session *ws_session_new(const struct ws_session_config *cfg,
                                  const struct ws_io *io, void *io_ctx,
                                  const struct cursor *c, uint64_t now_us);
/* Read and act on everything the client sent, then flush. */
enum ws_next ws_session_read(struct ws_session *s, uint64_t now_us);
/* Write what is queued; refill from a backlog. */
enum ws_next ws_session_flush(struct ws_session *s);
/* The heartbeat: a ping, or WS_END when two went unanswered (any frame
 * counts as an answer). */
enum ws_next ws_session_heartbeat(struct ws_session *s, uint64_t now_us, uint64_t period_us);
/* Start the closing handshake ourselves (shutdown: 1001). */
enum ws_next ws_session_close(struct ws_session *s, uint16_t code, const char *reason);

bool ws_session_closing(const struct ws_session *s);     /* our close is queued */
bool ws_session_close_sent(const struct ws_session *s);  /* ... and written */
void ws_session_free(struct ws_session *s);

#endif
