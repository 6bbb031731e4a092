#include "redis_conn.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "parse.h"

#define BACKOFF_MIN_US 50000
/* How often the deadline of the oldest reply is checked. */
#define CHECK_US 50000

/* RC_AUTH: connected, AUTH sent, nothing else may go yet (on the
 * subscriber connection a SUBSCRIBE pipelined behind it would make hiredis
 * 0.14 misread the AUTH reply). */
enum rc_state { RC_DOWN, RC_CONNECTING, RC_AUTH, RC_UP };

struct redis_conn {
    struct event_base *base;
    struct redis_addr addr;
    struct redis_conn_config cfg;
    struct redis_conn_events ev;
    void *arg;
    redisAsyncContext *ac;
    enum rc_state state;
    struct event *retry;              /* the next connect, after a backoff */
    struct event *check;              /* deadlines: connect, oldest reply, ping */
    uint64_t backoff_us;
    uint64_t connect_deadline_us;
    uint64_t last_reply_us;
    /* Send times of the replies still due, oldest first (Redis answers in
     * order on one connection): a ring that grows by doubling. */
    uint64_t *sent;
    size_t sent_cap, sent_head, sent_n;
    bool ever_up;
    bool auth_failing;                /* AUTH refused, not taken since: said once */
    struct redis_conn_stats stats;
};

/* One command in flight: its callback, and whose connection it is on. */
struct rc_call {
    struct redis_conn *rc;
    redisCallbackFn *cb;
    void *privdata;
};

/* ---- redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] ------------------------ */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* [s, end) percent-decoded into dst (cap bytes with the NUL). */
static int url_decode(const char *s, const char *end, char *dst, size_t cap)
{
    size_t n = 0;
    for (; s < end; s++) {
        char c = *s;
        if (c == '%') {
            if (end - s < 3 || hex_digit(s[1]) < 0 || hex_digit(s[2]) < 0)
                return -1;
            c = (char)(hex_digit(s[1]) * 16 + hex_digit(s[2]));
            s += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return -1;
        dst[n++] = c;
    }
    dst[n] = '\0';
    return 0;
}

/* USER:PASSWORD@ (or :PASSWORD@, or PASSWORD@ as redis-cli -u reads it)
 * before the host, if there is one. */
static int url_userinfo(const char **p, struct redis_addr *a)
{
    const char *s = *p, *at = strchr(s, '@');
    if (!at || memchr(s, '/', (size_t)(at - s)))
        return 0;
    const char *colon = memchr(s, ':', (size_t)(at - s));
    if (colon ? url_decode(s, colon, a->user, sizeof a->user) != 0 ||
                    url_decode(colon + 1, at, a->password, sizeof a->password) != 0
              : url_decode(s, at, a->password, sizeof a->password) != 0)
        return -1;
    if (!a->password[0])
        return -1;
    *p = at + 1;
    return 0;
}

static int url_host(const char **p, struct redis_addr *a)
{
    const char *s = *p, *end;
    if (*s == '[') {
        end = strchr(s, ']');
        if (!end)
            return -1;
        s++;
        *p = end + 1;
    } else {
        end = s + strcspn(s, ":/");
        *p = end;
    }
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof a->host)
        return -1;
    memcpy(a->host, s, n);
    a->host[n] = '\0';
    return 0;
}

int redis_url_parse(const char *url, struct redis_addr *a, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    const char *p = url;
    uint64_t v;
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (strncmp(p, scheme, sizeof scheme - 1) != 0)
        goto bad;
    p += sizeof scheme - 1;
    if (url_userinfo(&p, a) != 0 || url_host(&p, a) != 0)
        goto bad;
    if (*p == ':') {
        size_t n = strcspn(++p, "/");
        char num[8];
        if (n == 0 || n >= sizeof num)
            goto bad;
        memcpy(num, p, n);
        num[n] = '\0';
        if (parse_u64(num, 65535, &v) != 0 || v == 0)
            goto bad;
        a->port = (int)v;
        p += n;
    }
    if (*p == '/' && p[1]) {
        if (parse_u64(p + 1, 1000000, &v) != 0)
            goto bad;
        a->db = (unsigned)v;
    } else if (*p && strcmp(p, "/") != 0) {
        goto bad;
    }
    return 0;
bad:
    /* Not the URL itself: it may hold a password. */
    memset(a->password, 0, sizeof a->password);
    snprintf(err, errlen, "--broker: not redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] "
             "(USER and PASSWORD percent-encoded)");
    return -1;
}

/* ---- deadlines ---------------------------------------------------------- */

static int sent_push(struct redis_conn *rc, uint64_t now)
{
    if (rc->sent_n == rc->sent_cap) {
        size_t cap = rc->sent_cap ? rc->sent_cap * 2 : 64;
        uint64_t *grown = malloc(cap * sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < rc->sent_n; i++)
            grown[i] = rc->sent[(rc->sent_head + i) % rc->sent_cap];
        free(rc->sent);
        rc->sent = grown;
        rc->sent_cap = cap;
        rc->sent_head = 0;
    }
    rc->sent[(rc->sent_head + rc->sent_n++) % rc->sent_cap] = now;
    return 0;
}

/* A reply came: the oldest one due. */
static void sent_pop(struct redis_conn *rc)
{
    if (rc->sent_n == 0)
        return;
    uint64_t now = clock_mono_us();
    rc->stats.rtt_us = now - rc->sent[rc->sent_head];
    rc->last_reply_us = now;
    rc->sent_head = (rc->sent_head + 1) % rc->sent_cap;
    rc->sent_n--;
}

/* ---- connecting --------------------------------------------------------- */

static void schedule_retry(struct redis_conn *rc)
{
    rc->state = RC_DOWN;
    rc->sent_n = 0;
    /* ±25 %: workers that lost Redis together do not all come back at once. */
    uint64_t jitter = rc->backoff_us / 4;
    uint64_t delay = rc->backoff_us - jitter + (jitter ? (uint64_t)random() % (2 * jitter) : 0);
    struct timeval tv = { (time_t)(delay / 1000000), (suseconds_t)(delay % 1000000) };
    evtimer_add(rc->retry, &tv);
    rc->backoff_us = rc->backoff_us * 2 > rc->cfg.backoff_max_us ? rc->cfg.backoff_max_us
                                                                 : rc->backoff_us * 2;
}

static void become_up(struct redis_conn *rc)
{
    rc->state = RC_UP;
    rc->auth_failing = false;
    rc->backoff_us = BACKOFF_MIN_US;
    rc->last_reply_us = clock_mono_us();
    if (rc->ever_up)
        rc->stats.reconnects++;
    rc->ever_up = true;
    rc->ev.up(rc->arg);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_conn *rc = privdata;
    const redisReply *r = reply;
    if (!r)
        return;                       /* the connection went: on_disconnect retries */
    sent_pop(rc);
    if (r->type != REDIS_REPLY_ERROR) {
        become_up(rc);
        return;
    }
    /* Refused (a wrong password, an unknown user): said once per streak,
     * retried with backoff like any lost connection (the password may be
     * set on Redis later). */
    rc->stats.auth_failures++;
    if (!rc->auth_failing)
        fprintf(stderr, "pushpull-server: broker: Redis refused AUTH%s%s: %.*s\n",
                rc->addr.user[0] ? " for user " : "", rc->addr.user, (int)(r->len < 200 ? r->len : 200),
                r->str);
    rc->auth_failing = true;
    redisAsyncDisconnect(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *rc = ac->data;
    if (status != REDIS_OK) {
        rc->ac = NULL;                /* hiredis frees it after this */
        schedule_retry(rc);
        return;
    }
    if (!rc->addr.password[0]) {
        become_up(rc);
        return;
    }
    /* AUTH [USER] PASSWORD, under the reply deadline like any command. */
    const char *argv[3] = { "AUTH" };
    int argc = 1;
    if (rc->addr.user[0])
        argv[argc++] = rc->addr.user;
    argv[argc++] = rc->addr.password;
    if (sent_push(rc, clock_mono_us()) != 0 ||
        redisAsyncCommandArgv(rc->ac, on_auth, rc, argc, argv, NULL) != REDIS_OK) {
        redisAsyncDisconnect(rc->ac);
        return;
    }
    rc->state = RC_AUTH;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct redis_conn *rc = ac->data;
    rc->ac = NULL;                    /* hiredis frees it after this */
    schedule_retry(rc);
    rc->ev.down(rc->arg);
}

static void connect_now(struct redis_conn *rc)
{
    redisAsyncContext *ac = redisAsyncConnect(rc->addr.host, rc->addr.port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(rc);
        return;
    }
    ac->data = rc;
    /* The subscriber connection cannot be PINGed (hiredis 0.14 misreads
     * the answer): keepalive is what notices a peer that vanished. */
    redisEnableKeepAlive(&ac->c);
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    rc->state = RC_CONNECTING;
    rc->connect_deadline_us = clock_mono_us() + rc->cfg.timeout_us;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_now(arg);
}

/* Cut a connection that missed a deadline. Freeing runs every callback in
 * flight with NULL, then on_disconnect (when it was connected). */
static void cut(struct redis_conn *rc)
{
    redisAsyncContext *ac = rc->ac;
    bool was_up = rc->state == RC_UP || rc->state == RC_AUTH;   /* connected */
    rc->stats.timeouts++;
    rc->state = RC_DOWN;              /* no new command from the callbacks */
    if (!was_up) {
        rc->ac = NULL;
        redisAsyncFree(ac);           /* not connected: no callback at all */
        schedule_retry(rc);
        return;
    }
    redisAsyncFree(ac);
}

static void on_ping(redisAsyncContext *ac, void *reply, void *privdata);

static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_conn *rc = arg;
    uint64_t now = clock_mono_us();
    if (rc->state == RC_CONNECTING && now > rc->connect_deadline_us) {
        cut(rc);
    } else if ((rc->state == RC_UP || rc->state == RC_AUTH) && rc->sent_n > 0 &&
               now - rc->sent[rc->sent_head] > rc->cfg.timeout_us) {
        cut(rc);
    } else if (rc->state == RC_UP && rc->sent_n == 0 && rc->cfg.ping_us &&
               now - rc->last_reply_us > rc->cfg.ping_us) {
        static const char *ping[] = { "PING" };
        redis_conn_command(rc, on_ping, NULL, 1, ping, NULL);
    }
}

static void on_ping(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    (void)reply;
    (void)privdata;                   /* the round trip is what it is for */
}

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_addr *a,
                                  const struct redis_conn_config *cfg,
                                  const struct redis_conn_events *ev, void *arg)
{
    struct redis_conn *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->base = base;
    rc->addr = *a;
    rc->cfg = *cfg;
    rc->ev = *ev;
    rc->arg = arg;
    rc->backoff_us = BACKOFF_MIN_US;
    rc->retry = evtimer_new(base, on_retry, rc);
    rc->check = event_new(base, -1, EV_PERSIST, on_check, rc);
    if (!rc->retry || !rc->check) {
        redis_conn_free(rc);
        return NULL;
    }
    struct timeval tv = { 0, CHECK_US };
    event_add(rc->check, &tv);
    connect_now(rc);
    return rc;
}

void redis_conn_free(struct redis_conn *rc)
{
    if (!rc)
        return;
    if (rc->retry)
        event_free(rc->retry);
    if (rc->check)
        event_free(rc->check);
    rc->retry = rc->check = NULL;
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        rc->state = RC_DOWN;
        /* The callbacks in flight still run (with NULL); nothing retries
         * (hiredis 0.14 has no call that unsets the callback). */
        ac->onDisconnect = NULL;
        rc->ac = NULL;
        redisAsyncFree(ac);
    }
    free(rc->sent);
    free(rc);
}

bool redis_conn_is_up(const struct redis_conn *rc) { return rc->state == RC_UP; }

void redis_conn_stats(const struct redis_conn *rc, struct redis_conn_stats *out)
{
    *out = rc->stats;
}

/* ---- commands ----------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct rc_call *call = privdata;
    struct redis_conn *rc = call->rc;
    if (reply)
        sent_pop(rc);
    else
        rc->state = RC_DOWN;          /* going: callbacks must not send more */
    call->cb(ac, reply, call->privdata);
    free(call);
}

int redis_conn_command(struct redis_conn *rc, redisCallbackFn *cb, void *privdata,
                       int argc, const char **argv, const size_t *argvlen)
{
    if (rc->state != RC_UP)
        return -1;
    struct rc_call *call = malloc(sizeof *call);
    if (!call || sent_push(rc, clock_mono_us()) != 0) {
        free(call);
        return -1;
    }
    *call = (struct rc_call){ rc, cb, privdata };
    if (redisAsyncCommandArgv(rc->ac, on_reply, call, argc, argv, argvlen) != REDIS_OK) {
        rc->sent_n--;
        free(call);
        return -1;
    }
    return 0;
}

static bool is_confirmation(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return false;
    return strcmp(r->element[0]->str, "subscribe") == 0 ||
           strcmp(r->element[0]->str, "unsubscribe") == 0;
}

/* Every reply of every subscription (hiredis keeps this callback per
 * channel); NULL ones come as the connection goes, which down() covers. */
static void on_subscription(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct redis_conn *rc = privdata;
    if (!reply) {
        rc->state = RC_DOWN;
        return;
    }
    if (is_confirmation(reply))
        sent_pop(rc);
    rc->ev.push(rc->arg, reply);
}

int redis_conn_subscription(struct redis_conn *rc, bool subscribe, const char *channel,
                            size_t len)
{
    if (rc->state != RC_UP || sent_push(rc, clock_mono_us()) != 0)
        return -1;
    const char *argv[] = { subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", channel };
    size_t lens[] = { strlen(argv[0]), len };
    if (redisAsyncCommandArgv(rc->ac, on_subscription, rc, 2, argv, lens) != REDIS_OK) {
        rc->sent_n--;
        return -1;
    }
    return 0;
}
