/* socket.io 4 (Engine.IO v4 carrying Socket.IO v5), as peers/socketio runs
 * it: publish with POST /pub/{ch}; subscribe on /socket.io/ with ch={ch},
 * over Engine.IO long polling (reported as longpoll) or over a WebSocket
 * (reported as ws). Short polling and SSE are no socket.io transports: not
 * offered. The WebSocket is opened directly with transport=websocket
 * (socket.io-client's transports: ["websocket"]), or with
 * --socketio-upgrade as socket.io-client does by default: a polling
 * handshake names the sid, the WebSocket joins that session with &sid=,
 * probes it (2probe, answered 3probe) and takes it over (5).
 *
 * A session: the open packet names the Engine.IO sid; our CONNECT ("40")
 * joins the main namespace, and the server's answer names socket.io's pid.
 * Every message is 42["msg",{"id":N,"ts":T,"data":...},"<offset>"]: the
 * argument is pushpull's envelope (N the peer's sequence: the cursor key,
 * for order), the offset the stream position recovery resumes from. After
 * a drop, the new session's CONNECT carries the old pid and the last
 * offset, and the server replays what the subscriber missed, or answers
 * with a new pid: the recovery failed (counted, run.resume_failed), and
 * what was missed shows as lost. The server pings ("2"); we answer "3". */
#include <stdio.h>
#include <string.h>

#include "dialect.h"
#include "sio_packet.h"
#include "subscriber.h"

struct sio_session {
    char sid[SIO_ID_MAX];             /* Engine.IO session; "": none yet */
    char pid[SIO_ID_MAX];             /* socket.io's, kept across sessions */
    char offset[SIO_ID_MAX];          /* the last message's position */
    char asked[SIO_ID_MAX];           /* the pid this session's CONNECT resumes */
    bool probing;                     /* upgrade: 2probe sent, 3probe awaited */
};

/* This run's WebSockets begin as polling sessions (--socketio-upgrade). */
static bool upgrades(const struct subscriber *s)
{
    return s->run->cfg->socketio_upgrade && s->run->transport == TR_WS;
}

static bool publish_accepted(long status)
{
    return status == 200;
}

/* A request names its session once there is one: a poll's, or the
 * WebSocket that upgrades it (a direct WebSocket opens its own). */
static int request(const struct subscriber *s, enum transport t, bool first, char *url,
                   size_t cap, struct curl_slist **headers)
{
    (void)first;
    (void)headers;
    const struct sio_session *ss = s->session;
    char channel[64];
    run_channel_name(s->run, s->track.channel, channel, sizeof channel);
    bool sid = ss->sid[0] != '\0';
    int n = snprintf(url, cap, "%s/socket.io/?EIO=4&transport=%s&ch=%s%s%s", s->run->cfg->url,
                     t == TR_WS ? "websocket" : "polling", channel, sid ? "&sid=" : "",
                     sid ? ss->sid : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Join the namespace, resuming the last session's. */
static int send_connect(struct subscriber *s)
{
    struct sio_session *ss = s->session;
    char connect[2 * SIO_ID_MAX + 32];
    int n = sio_connect_encode(connect, sizeof connect, ss->pid, ss->offset);
    if (n < 0)
        return -1;
    if (n > 2)                        /* a recovery: its answer says if it worked */
        memcpy(ss->asked, ss->pid, sizeof ss->asked);
    else
        ss->asked[0] = '\0';
    return subscriber_send(s, connect, (size_t)n);
}

/* The session is open. An upgrade's polling handshake only keeps its sid:
 * the CONNECT waits for the WebSocket (probe_answer says why). */
static int on_open(struct subscriber *s, const struct sio_packet *p)
{
    struct sio_session *ss = s->session;
    memcpy(ss->sid, p->sid, sizeof ss->sid);
    return upgrades(s) ? 0 : send_connect(s);
}

/* The WebSocket that upgrades a polling session is open: probe it. */
static int ws_opened(struct subscriber *s)
{
    struct sio_session *ss = s->session;
    if (!upgrades(s))
        return 0;                     /* a direct one: the server speaks first */
    ss->probing = true;
    return subscriber_send(s, "2probe", 6);
}

/* After 2probe the server sends 3probe and nothing else. Then "5" moves
 * the session onto the WebSocket, and the CONNECT goes after it, on the
 * WebSocket: during the switch nothing may be in flight on the polling
 * side (Engine.IO's client empties its outgoing buffer and makes polling
 * read-only first), and sent after it the CONNECT cannot be. socket.io-
 * client sends its CONNECT over polling before the upgrade, a POST and a
 * GET for the answer (and one more GET that the upgrade ends with a noop);
 * we skip that pair: our upgrade costs one request more than a direct
 * WebSocket, the handshake GET. */
static int probe_answer(struct subscriber *s, const struct sio_packet *p)
{
    struct sio_session *ss = s->session;
    if (p->kind != EIO_PONG || !p->probe) {
        s->run->cost.protocol_errors++;
        return DIALECT_WS_END;
    }
    ss->probing = false;
    if (subscriber_send(s, "5", 1) != 0)
        return -1;
    return send_connect(s);
}

static void on_connect(struct subscriber *s, const struct sio_packet *p)
{
    struct sio_session *ss = s->session;
    if (ss->asked[0] && strcmp(p->pid, ss->asked) != 0)
        s->run->resume_failed++;
    ss->asked[0] = '\0';
    memcpy(ss->pid, p->pid, sizeof ss->pid);
    if (!s->track.connected)
        track_connected(s->run, &s->track);
}

static void on_event(struct subscriber *s, const struct sio_packet *p)
{
    struct sio_session *ss = s->session;
    if (p->name_len != 3 || memcmp(p->name, "msg", 3) != 0)
        return;                       /* not a message of ours */
    if (p->offset_len) {
        memcpy(ss->offset, p->offset, p->offset_len);
        ss->offset[p->offset_len] = '\0';
    }
    (void)track_envelope(s->run, &s->track, p->arg, p->arg_len);
}

/* One Engine.IO packet. -1: the session is over (closed, refused, or
 * malformed: counted); DIALECT_WS_END: an upgrade failed (counted). */
static int on_packet(struct subscriber *s, const char *pkt, size_t len)
{
    struct sio_session *ss = s->session;
    struct sio_packet p;
    if (sio_decode(pkt, len, &p) != 0) {
        s->run->cost.protocol_errors++;
        return ss->probing ? DIALECT_WS_END : -1;
    }
    if (ss->probing)
        return probe_answer(s, &p);
    switch (p.kind) {
    case EIO_OPEN:
        return on_open(s, &p);
    case EIO_PING:
        return subscriber_send(s, "3", 1);
    case SIO_CONNECT:
        on_connect(s, &p);
        return 0;
    case SIO_EVENT:
        on_event(s, &p);
        return 0;
    case EIO_CLOSE: case SIO_DISCONNECT: case SIO_CONNECT_ERROR:
        return -1;
    default:
        return 0;                     /* pong, noop, upgrade, other packets */
    }
}

/* A polling answer: packets joined by the record separator. */
static int poll_answer(struct subscriber *s, const struct poll_answer *a, bool *empty)
{
    uint64_t before = s->track.unique;
    const char *pos = a->body, *end = a->body + a->len, *pkt;
    size_t len;
    *empty = true;
    if (a->status != 200)
        return -1;                    /* 400: the session is unknown (gone) */
    while (sio_next(&pos, end, &pkt, &len) == 0)
        if (on_packet(s, pkt, len) != 0)
            return -1;
    *empty = s->track.unique == before;
    return 0;
}

static int ws_text(struct subscriber *s, const char *text, size_t len)
{
    return on_packet(s, text, len);
}

/* An upgrade's WebSocket needs the sid of a polling handshake. */
static bool ws_after_poll(const struct subscriber *s)
{
    const struct sio_session *ss = s->session;
    return upgrades(s) && !ss->sid[0];
}

static void session_lost(struct subscriber *s)
{
    struct sio_session *ss = s->session;
    ss->sid[0] = '\0';
    ss->asked[0] = '\0';
    ss->probing = false;
}

const struct dialect dialect_socketio = {
    .name = "socketio",
    .offers = { false, true, false, true },
    .has_stats = false,
    .poll_one_per_answer = false,
    .poll_headers = false,
    .longpoll_waits_forever = false,
    .ws_protocol = NULL,
    .session_size = sizeof(struct sio_session),
    .own_handshake = true,
    .session_lost = session_lost,
    .publish_accepted = publish_accepted,
    .request = request,
    .poll_answer = poll_answer,
    .sse_event = NULL,
    .ws_text = ws_text,
    .ws_after_poll = ws_after_poll,
    .ws_opened = ws_opened,
};
