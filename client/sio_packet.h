/* Engine.IO v4 packets and the Socket.IO v5 packets inside them, as the
 * socketio dialect reads and writes them (socket.io's
 * docs/engine.io-protocol/v4-current.md and socket.io-protocol/v5-current.md).
 * Decoding never allocates for an event (one per delivery): its argument
 * and offset point into the input; the open and connect packets, once per
 * session, are read with jansson. Input is not NUL-terminated. */
#ifndef PUSHPULL_SIO_PACKET_H
#define PUSHPULL_SIO_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Engine.IO joins the packets of one long-polling answer with this byte. */
#define SIO_SEPARATOR '\x1e'
/* Session ids, private ids and offsets we keep: socket.io's are 20 and
 * ~10 characters of [A-Za-z0-9_-] (offsets: yeast, with '.'). */
#define SIO_ID_MAX 64

enum sio_kind {
    EIO_OPEN,                         /* 0{"sid":..,"pingInterval":..,...} */
    EIO_CLOSE,                        /* 1 */
    EIO_PING,                         /* 2, or 2probe */
    EIO_PONG,                         /* 3, or 3probe */
    EIO_UPGRADE,                      /* 5 */
    EIO_NOOP,                         /* 6 */
    SIO_CONNECT,                      /* 40{"sid":..,"pid":..} */
    SIO_DISCONNECT,                   /* 41 */
    SIO_EVENT,                        /* 42["name",arg,...,"offset"] */
    SIO_CONNECT_ERROR,                /* 44{"message":..} */
    SIO_OTHER                         /* acks, binary events: not ours */
};

struct sio_packet {
    enum sio_kind kind;
    /* EIO_PING, EIO_PONG: "probe" followed (the upgrade's 2probe, 3probe). */
    bool probe;
    /* EIO_OPEN: sid, ping_interval_ms. SIO_CONNECT: sid, and pid when the
     * server keeps sessions for recovery ("" otherwise). */
    char sid[SIO_ID_MAX], pid[SIO_ID_MAX];
    uint64_t ping_interval_ms;
    /* SIO_EVENT: its name, its first argument's JSON text, and its offset
     * (the last argument when it is a string and there are two or more;
     * offset_len 0 otherwise). All point into the input. */
    const char *name, *arg, *offset;
    size_t name_len, arg_len, offset_len;
};

/* Decode one Engine.IO packet (a WebSocket frame, or one record of a
 * polling answer). 0, or -1 when it is malformed. */
int sio_decode(const char *p, size_t len, struct sio_packet *out);

/* The next packet of a long-polling answer [*pos, end): sets *pkt and *len
 * and moves *pos past it and its separator. 0, or -1 at the end. */
int sio_next(const char **pos, const char *end, const char **pkt, size_t *len);

/* The CONNECT packet to send: "40", or to recover a session
 * 40{"pid":"P","offset":"O"} (pid and offset as decoded: no escaping
 * needed). Returns its length, or -1 when cap is too small. */
int sio_connect_encode(char *buf, size_t cap, const char *pid, const char *offset);

/* id is a session id, pid or offset we can keep and send back unescaped. */
int sio_id_valid(const char *id, size_t len);

#endif
