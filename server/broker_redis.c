/* The Redis broker (broker.h). Per channel, with {name} as hash tag so all
 * of a channel's keys share one Cluster slot:
 *   pp:{name}:meta  hash: epoch (set when the state is created), seq
 *   pp:{name}:hist  stream: entry N-0 {t: ts, d: data}, MAXLEN = --history
 *   pp:DB:name      pub/sub: "EPOCH:N:TS:DATA" per publish
 * A publish is one Lua script (sequence, XADD, PUBLISH), so ids, history and
 * feed agree. An instance SUBSCRIBEs to the channels its subscribers use,
 * buffers their feed while it reads the history after its cache (XREVRANGE
 * with an exclusive start), then merges by id: no duplicate, no hole. */
#include "broker.h"

#include <event2/event.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_lua.h"
#include "bus.h"
#include "clock.h"
#include "parse.h"
#include "redis_conn.h"
#include "stats.h"

#define SWEEP_US 1000000
#define KEY_MAX (CHANNEL_NAME_MAX + 32)

enum chan_state {
    CH_IDLE,                          /* nobody here uses it: not subscribed */
    CH_WANTED,                        /* to subscribe, once the connection is up */
    CH_SUBSCRIBING,                   /* SUBSCRIBE sent */
    CH_FILLING,                       /* subscribed; feed buffered until the history read */
    CH_LIVE,                          /* the cache follows the feed */
};

/* A message of the feed that came while its channel was filling. */
struct feed_msg {
    struct feed_msg *next;
    uint64_t epoch, id, ts;
    size_t len;
    char data[];
};

struct bchan {
    struct broker *b;
    struct bus_channel *ch;
    enum chan_state state;
    /* An UNSUBSCRIBE of it is on the wire. hiredis 0.14 keeps one callback
     * per channel name and deletes it when the unsubscribe reply comes: a
     * SUBSCRIBE sent before that reply would lose its callback to it, and
     * with it the confirmation and every message after. So a channel
     * wanted again meanwhile waits (CH_WANTED) for the reply. */
    bool leaving;
    bool epoch_known;                 /* the cache's epoch is the broker's */
    unsigned fills_in_flight;
    uint64_t last_used_us;
    struct feed_msg *buf, **buf_tail;
    size_t buffered;
    struct broker_op *waiters;
    struct bchan *next_active, **prev_active;   /* while not CH_IDLE */
    struct bchan *next_all;
};

struct broker_op {
    struct broker *b;
    bool cancelled;
    void *arg;
    /* a wait */
    broker_ready_fn ready;
    struct bchan *bc;
    struct event *timer;
    struct broker_op *prev, *next;
    /* a publish */
    broker_published_fn published;
    struct bus_channel *ch;
    bool retried;                     /* after a NOSCRIPT */
    uint64_t ts_us;
    size_t len;
    char *data;
};

struct broker {
    struct event_base *base;
    struct bus *bus;
    struct broker_config cfg;
    struct redis_addr addr;
    struct redis_conn *cmd, *sub;
    struct event *sweep;
    struct bchan *active, *all;
    bool shutting_down;
    char sub_prefix[32];              /* "pp:DB:" */
    size_t sub_prefix_len;
    char sha_publish[41], sha_fill[41];
    struct broker_stats st;
};

/* ---- names -------------------------------------------------------------- */

static void key_name(char *out, const struct bus_channel *ch, const char *what)
{
    size_t len;
    const char *name = bus_channel_name(ch, &len);
    snprintf(out, KEY_MAX, "pp:{%.*s}:%s", (int)len, name, what);
}

static size_t feed_name(char *out, const struct broker *b, const struct bus_channel *ch)
{
    size_t len;
    const char *name = bus_channel_name(ch, &len);
    return (size_t)snprintf(out, KEY_MAX, "%s%.*s", b->sub_prefix, (int)len, name);
}

static void sha1_hex(const char *text, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static bool reply_u64(const redisReply *r, uint64_t *v)
{
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        *v = (uint64_t)r->integer;
        return true;
    }
    return r->type == REDIS_REPLY_STRING && parse_u64(r->str, UINT64_MAX, v) == 0;
}

/* A stream id "N-0": N. */
static bool entry_id(const char *s, uint64_t *id)
{
    char num[24];
    size_t n = strcspn(s, "-");
    if (n == 0 || n >= sizeof num)
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    return parse_u64(num, UINT64_MAX, id) == 0;
}

/* ---- waiters ------------------------------------------------------------ */

static void op_free(struct broker_op *op)
{
    if (op->timer)
        event_free(op->timer);
    free(op->data);
    free(op);
}

static void waiter_unlink(struct broker_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        op->bc->waiters = op->next;
    if (op->next)
        op->next->prev = op->prev;
}

static void waiter_done(struct broker_op *op, bool ok)
{
    waiter_unlink(op);
    broker_ready_fn ready = op->ready;
    void *arg = op->arg;
    op_free(op);
    ready(arg, ok);
}

static void release_waiters(struct bchan *bc, bool ok)
{
    while (bc->waiters)
        waiter_done(bc->waiters, ok);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    waiter_done(arg, false);
}

/* ---- the channel's state ------------------------------------------------ */

static void buffer_clear(struct bchan *bc)
{
    for (struct feed_msg *m = bc->buf, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    bc->buf = NULL;
    bc->buf_tail = &bc->buf;
    bc->buffered = 0;
}

static void buffer_add(struct bchan *bc, uint64_t epoch, uint64_t id, uint64_t ts,
                       const char *data, size_t len)
{
    /* A read not yet sent (the command connection is down) will find all
     * of this in the history: the feed need not pile up meanwhile. */
    if (bc->fills_in_flight == 0 && bc->buffered >= bc->b->cfg.history)
        buffer_clear(bc);
    struct feed_msg *m = malloc(sizeof *m + len);
    if (!m)
        return;                       /* the merge will see a hole and read again */
    *m = (struct feed_msg){ NULL, epoch, id, ts, len };
    memcpy(m->data, data, len);
    *bc->buf_tail = m;
    bc->buf_tail = &m->next;
    bc->buffered++;
}

static struct bchan *bchan_of(struct broker *b, struct bus_channel *ch)
{
    struct bchan *bc = bus_channel_data(ch);
    if (bc || !(bc = calloc(1, sizeof *bc)))
        return bc;
    bc->b = b;
    bc->ch = ch;
    bc->buf_tail = &bc->buf;
    bc->next_all = b->all;
    b->all = bc;
    bus_channel_set_data(ch, bc);
    return bc;
}

static void subscribe(struct bchan *bc)
{
    char name[KEY_MAX];
    if (bc->leaving) {
        bc->state = CH_WANTED;        /* on_push subscribes at the unsubscribe reply */
        return;
    }
    size_t n = feed_name(name, bc->b, bc->ch);
    bc->state = redis_conn_subscription(bc->b->sub, true, name, n) == 0 ? CH_SUBSCRIBING
                                                                        : CH_WANTED;
}

static void want(struct bchan *bc)
{
    if (bc->state != CH_IDLE)
        return;
    struct broker *b = bc->b;
    bc->next_active = b->active;
    if (b->active)
        b->active->prev_active = &bc->next_active;
    bc->prev_active = &b->active;
    b->active = bc;
    b->st.channels++;
    bc->state = CH_WANTED;
    subscribe(bc);
}

static void unwant(struct bchan *bc)
{
    struct broker *b = bc->b;
    if (bc->state >= CH_SUBSCRIBING) {
        char name[KEY_MAX];
        size_t n = feed_name(name, b, bc->ch);
        bc->leaving = redis_conn_subscription(b->sub, false, name, n) == 0;
    }
    *bc->prev_active = bc->next_active;
    if (bc->next_active)
        bc->next_active->prev_active = bc->prev_active;
    b->st.channels--;
    bc->state = CH_IDLE;
    buffer_clear(bc);
}

/* ---- reading the history ------------------------------------------------ */

static void send_fill(struct bchan *bc);

/* Entries of the history read, newest first: [["N-0", [f, v, ...]], ...]. */
static void apply_entry(struct bchan *bc, const redisReply *e)
{
    uint64_t id, ts = 0;
    const redisReply *data = NULL;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        !entry_id(e->element[0]->str, &id))
        return;
    const redisReply *f = e->element[1];
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str;
        if (k && strcmp(k, "t") == 0)
            reply_u64(f->element[i + 1], &ts);
        else if (k && strcmp(k, "d") == 0 && f->element[i + 1]->type == REDIS_REPLY_STRING)
            data = f->element[i + 1];
    }
    if (data)
        bus_deliver(bc->ch, id, data->str, data->len, ts);
}

/* The feed that came during the read, after it: false on a hole or another
 * epoch, which needs another read (the rest stays buffered). */
static bool drain_buffer(struct bchan *bc)
{
    while (bc->buf) {
        struct feed_msg *m = bc->buf;
        uint64_t last = bus_last_id(bc->ch);
        if (m->epoch != bus_epoch(bc->ch) || m->id > last + 1)
            return false;
        if (m->id == last + 1)
            bus_deliver(bc->ch, m->id, m->data, m->len, m->ts);
        bc->buf = m->next;
        bc->buffered--;
        free(m);
    }
    bc->buf_tail = &bc->buf;
    return true;
}

/* The read's answer: {epoch, seq, entries newest first}. */
static bool apply_fill(struct bchan *bc, const redisReply *r)
{
    uint64_t epoch, seq;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !reply_u64(r->element[0], &epoch) ||
        !reply_u64(r->element[1], &seq) || r->element[2]->type != REDIS_REPLY_ARRAY)
        return false;
    if (bc->epoch_known && epoch != bus_epoch(bc->ch)) {
        /* Redis lost what the cache was built on: ids start over. */
        bc->b->st.resets++;
        bus_reset(bc->ch, epoch);
    }
    bus_channel_set_epoch(bc->ch, epoch);
    bc->epoch_known = true;
    const redisReply *entries = r->element[2];
    for (size_t i = entries->elements; i-- > 0;)
        apply_entry(bc, entries->element[i]);
    bc->b->st.refills++;
    return true;
}

static void load_scripts(struct broker *b);

static void on_fill(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct bchan *bc = privdata;
    const redisReply *r = reply;
    bc->fills_in_flight--;
    if (!r)
        return;                       /* connection lost: sent again when it is back */
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOSCRIPT", 8) == 0)
            load_scripts(bc->b);
        if (bc->state == CH_FILLING && bc->fills_in_flight == 0)
            send_fill(bc);            /* after the load, or after the timeout cut */
        return;
    }
    if (bc->state != CH_FILLING || bc->fills_in_flight > 0)
        return;                       /* a newer read is coming */
    if (!apply_fill(bc, r) || !drain_buffer(bc)) {
        send_fill(bc);
        return;
    }
    bc->state = CH_LIVE;
    release_waiters(bc, true);
}

static void send_fill(struct bchan *bc)
{
    struct broker *b = bc->b;
    char meta[KEY_MAX], hist[KEY_MAX], fresh[24], mine[24], since[24], count[24];
    key_name(meta, bc->ch, "meta");
    key_name(hist, bc->ch, "hist");
    snprintf(fresh, sizeof fresh, "%" PRIu64, clock_real_us());
    snprintf(mine, sizeof mine, "%" PRIu64, bc->epoch_known ? bus_epoch(bc->ch) : 0);
    snprintf(since, sizeof since, "%" PRIu64, bus_last_id(bc->ch));
    snprintf(count, sizeof count, "%zu", b->cfg.history);
    const char *argv[] = { "EVALSHA", b->sha_fill, "2", meta, hist, fresh, mine, since, count };
    if (redis_conn_command(b->cmd, on_fill, bc, 9, argv, NULL) == 0)
        bc->fills_in_flight++;
}

static void start_fill(struct bchan *bc)
{
    bc->state = CH_FILLING;
    if (bc->fills_in_flight == 0)
        send_fill(bc);
}

/* ---- the feed ----------------------------------------------------------- */

/* "EPOCH:N:TS:DATA" */
static bool parse_feed(const char *s, size_t len, uint64_t v[3], const char **data,
                       size_t *dlen)
{
    const char *p = s, *end = s + len;
    for (int i = 0; i < 3; i++) {
        v[i] = 0;
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9')
            v[i] = v[i] * 10 + (uint64_t)(*p++ - '0');
        if (p == start || p == end || *p++ != ':')
            return false;
    }
    *data = p;
    *dlen = (size_t)(end - p);
    return true;
}

static void on_feed_msg(struct bchan *bc, const redisReply *payload)
{
    uint64_t v[3];
    const char *data;
    size_t len;
    if (payload->type != REDIS_REPLY_STRING ||
        !parse_feed(payload->str, payload->len, v, &data, &len))
        return;
    if (bc->state == CH_FILLING) {
        buffer_add(bc, v[0], v[1], v[2], data, len);
        return;
    }
    if (bc->state != CH_LIVE)
        return;                       /* unsubscribing */
    uint64_t last = bus_last_id(bc->ch);
    if (v[0] == bus_epoch(bc->ch) && v[1] <= last)
        return;                       /* already in the cache */
    if (v[0] == bus_epoch(bc->ch) && v[1] == last + 1) {
        bus_deliver(bc->ch, v[1], data, len, v[2]);
        return;
    }
    /* A hole (the feed dropped something) or another epoch: read again. */
    buffer_add(bc, v[0], v[1], v[2], data, len);
    start_fill(bc);
}

static void on_push(void *arg, const redisReply *r)
{
    struct broker *b = arg;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *name = r->element[1];
    if (name->len <= b->sub_prefix_len || memcmp(name->str, b->sub_prefix, b->sub_prefix_len))
        return;
    struct bus_channel *ch = bus_channel(b->bus, name->str + b->sub_prefix_len,
                                         name->len - b->sub_prefix_len);
    struct bchan *bc = ch ? bus_channel_data(ch) : NULL;
    if (!bc)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0)
        on_feed_msg(bc, r->element[2]);
    else if (strcmp(kind, "subscribe") == 0 && bc->state == CH_SUBSCRIBING)
        start_fill(bc);
    else if (strcmp(kind, "unsubscribe") == 0 && bc->leaving) {
        bc->leaving = false;
        if (bc->state == CH_WANTED)
            subscribe(bc);            /* wanted again while it was leaving */
    }
}

/* ---- connections -------------------------------------------------------- */

static void on_loaded(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    (void)reply;
    (void)privdata;                   /* an error shows as NOSCRIPT later */
}

static void load_scripts(struct broker *b)
{
    const char *pub[] = { "SCRIPT", "LOAD", BROKER_LUA_PUBLISH };
    const char *fill[] = { "SCRIPT", "LOAD", BROKER_LUA_FILL };
    redis_conn_command(b->cmd, on_loaded, NULL, 3, pub, NULL);
    redis_conn_command(b->cmd, on_loaded, NULL, 3, fill, NULL);
}

static void cmd_up(void *arg)
{
    struct broker *b = arg;
    char db[16];
    snprintf(db, sizeof db, "%u", b->addr.db);
    const char *select[] = { "SELECT", db };
    redis_conn_command(b->cmd, on_loaded, NULL, 2, select, NULL);
    load_scripts(b);
    for (struct bchan *bc = b->active; bc; bc = bc->next_active)
        if (bc->state == CH_FILLING && bc->fills_in_flight == 0)
            send_fill(bc);
}

static void cmd_down(void *arg) { (void)arg; }

static void sub_up(void *arg)
{
    struct broker *b = arg;
    for (struct bchan *bc = b->active; bc; bc = bc->next_active)
        subscribe(bc);
}

/* The feed is lost: each channel in use is subscribed and read again when
 * it is back. Its subscribers stay; new ones wait for the read. */
static void sub_down(void *arg)
{
    struct broker *b = arg;
    for (struct bchan *bc = b->all; bc; bc = bc->next_all)
        bc->leaving = false;          /* a new connection has no subscription */
    for (struct bchan *bc = b->active; bc; bc = bc->next_active) {
        bc->state = CH_WANTED;
        buffer_clear(bc);
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct broker *b = arg;
    uint64_t now = clock_mono_us();
    for (struct bchan *bc = b->active, *next; bc; bc = next) {
        next = bc->next_active;
        if (!bc->waiters && bus_subscriber_count(bc->ch) == 0 &&
            now - bc->last_used_us > b->cfg.idle_us)
            unwant(bc);
    }
}

/* ---- publishing --------------------------------------------------------- */

static int send_publish(struct broker_op *op);

static void publish_done(struct broker_op *op, const struct broker_published *r)
{
    if (!r->ok)
        op->b->st.publish_errors++;
    if (op->published && !op->cancelled)
        op->published(op->arg, r);
    op_free(op);
}

static void on_published(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct broker_op *op = privdata;
    const redisReply *r = reply;
    struct broker_published res = { .error = "broker connection lost" };
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !op->retried) {
        op->retried = true;
        load_scripts(op->b);
        if (send_publish(op) == 0)
            return;
    }
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        reply_u64(r->element[0], &res.id) && reply_u64(r->element[1], &res.epoch)) {
        res.ok = true;
        stats.published++;
    } else if (r) {
        res.error = "broker error";
    }
    publish_done(op, &res);
}

static int send_publish(struct broker_op *op)
{
    struct broker *b = op->b;
    char meta[KEY_MAX], hist[KEY_MAX], feed[KEY_MAX], fresh[24], maxlen[24], ts[24];
    key_name(meta, op->ch, "meta");
    key_name(hist, op->ch, "hist");
    feed_name(feed, b, op->ch);
    snprintf(fresh, sizeof fresh, "%" PRIu64, clock_real_us());
    snprintf(maxlen, sizeof maxlen, "%zu", b->cfg.history);
    snprintf(ts, sizeof ts, "%" PRIu64, op->ts_us);
    const char *argv[] = { "EVALSHA", b->sha_publish, "2", meta, hist,
                           fresh, maxlen, ts, op->data, feed };
    size_t lens[10];
    for (int i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    lens[8] = op->len;
    return redis_conn_command(b->cmd, on_published, op, 10, argv, lens);
}

struct broker_op *broker_publish(struct broker *b, struct bus_channel *ch, const char *data,
                                 size_t len, uint64_t ts_us, broker_published_fn done,
                                 void *arg)
{
    struct broker_op *op = calloc(1, sizeof *op);
    if (!op || !(op->data = malloc(len + 1))) {
        free(op);
        return NULL;
    }
    memcpy(op->data, data, len);
    op->data[len] = '\0';
    *op = (struct broker_op){ .b = b, .arg = arg, .published = done, .ch = ch,
                              .ts_us = ts_us, .len = len, .data = op->data };
    if (b->shutting_down || send_publish(op) != 0) {
        b->st.publish_errors++;
        op_free(op);
        return NULL;
    }
    return op;
}

/* bus_publish with a broker (a WebSocket's or the demo's publish): nobody
 * waits for the id. */
static void hook_publish(void *arg, struct bus_channel *ch, const char *data, size_t len,
                         uint64_t ts_us)
{
    broker_publish(arg, ch, data, len, ts_us, NULL, NULL);
}

/* ---- the interface ------------------------------------------------------ */

bool broker_await(struct broker *b, struct bus_channel *ch, broker_ready_fn done, void *arg,
                  struct broker_op **opp)
{
    struct bchan *bc = bchan_of(b, ch);
    if (b->shutting_down || !bc)
        return true;                  /* serve what the cache has */
    bc->last_used_us = clock_mono_us();
    want(bc);
    if (bc->state == CH_LIVE)
        return true;
    struct broker_op *op = calloc(1, sizeof *op);
    if (!op || !(op->timer = evtimer_new(b->base, on_wait_timeout, op))) {
        free(op);
        return true;
    }
    *op = (struct broker_op){ .b = b, .arg = arg, .ready = done, .bc = bc,
                              .timer = op->timer, .next = bc->waiters };
    if (bc->waiters)
        bc->waiters->prev = op;
    bc->waiters = op;
    struct timeval tv = { (time_t)(b->cfg.wait_us / 1000000),
                          (suseconds_t)(b->cfg.wait_us % 1000000) };
    evtimer_add(op->timer, &tv);
    *opp = op;
    return false;
}

void broker_cancel(struct broker_op *op)
{
    if (op->ready) {
        waiter_unlink(op);
        op_free(op);
    } else {
        op->cancelled = true;         /* freed when its reply comes */
    }
}

struct broker *broker_start(struct event_base *base, struct bus *bus,
                            const struct broker_config *cfg, char *err, size_t errlen)
{
    struct broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (redis_url_parse(cfg->url, &b->addr, err, errlen) != 0) {
        free(b);
        return NULL;
    }
    if (cfg->password && cfg->password[0] && !b->addr.password[0] &&
        snprintf(b->addr.password, sizeof b->addr.password, "%s", cfg->password) >=
            (int)sizeof b->addr.password) {
        snprintf(err, errlen, "--broker: PUSHPULL_BROKER_PASSWORD is too long");
        free(b);
        return NULL;
    }
    b->base = base;
    b->bus = bus;
    b->cfg = *cfg;
    b->sub_prefix_len = (size_t)snprintf(b->sub_prefix, sizeof b->sub_prefix, "pp:%u:",
                                         b->addr.db);
    sha1_hex(BROKER_LUA_PUBLISH, b->sha_publish);
    sha1_hex(BROKER_LUA_FILL, b->sha_fill);
    struct redis_conn_config rcfg = { cfg->timeout_us, cfg->backoff_max_us, 0 };
    static const struct redis_conn_events sub_ev = { sub_up, sub_down, on_push };
    struct redis_conn_events cmd_ev = { cmd_up, cmd_down, NULL };
    b->sub = redis_conn_new(base, &b->addr, &rcfg, &sub_ev, b);
    rcfg.ping_us = 1000000;           /* an idle command connection still shows its RTT */
    b->cmd = redis_conn_new(base, &b->addr, &rcfg, &cmd_ev, b);
    b->sweep = event_new(base, -1, EV_PERSIST, on_sweep, b);
    if (!b->sub || !b->cmd || !b->sweep) {
        broker_stop(b);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct timeval tv = { SWEEP_US / 1000000, SWEEP_US % 1000000 };
    event_add(b->sweep, &tv);
    static const struct bus_hooks hooks = { hook_publish };
    bus_set_hooks(bus, &hooks, b);
    return b;
}

void broker_shutdown(struct broker *b)
{
    b->shutting_down = true;
    for (struct bchan *bc = b->all; bc; bc = bc->next_all)
        release_waiters(bc, false);
}

void broker_stop(struct broker *b)
{
    if (!b)
        return;
    broker_shutdown(b);
    redis_conn_free(b->cmd);          /* publishes in flight fail now */
    redis_conn_free(b->sub);
    if (b->sweep)
        event_free(b->sweep);
    for (struct bchan *bc = b->all, *next; bc; bc = next) {
        next = bc->next_all;
        buffer_clear(bc);
        bus_channel_set_data(bc->ch, NULL);
        free(bc);
    }
    free(b);
}

void broker_get_stats(const struct broker *b, struct broker_stats *out)
{
    struct redis_conn_stats c, s;
    redis_conn_stats(b->cmd, &c);
    redis_conn_stats(b->sub, &s);
    *out = b->st;
    out->command_up = redis_conn_is_up(b->cmd);
    out->subscribe_up = redis_conn_is_up(b->sub);
    out->rtt_us = c.rtt_us;
    out->reconnects = c.reconnects + s.reconnects;
    out->timeouts = c.timeouts + s.timeouts;
    out->auth_failures = c.auth_failures + s.auth_failures;
}
