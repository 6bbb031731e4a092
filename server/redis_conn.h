/* One hiredis 0.14 async connection on the server's libevent loop, made
 * dependable: hiredis 0.14 has no timeouts and no reconnect of its own
 * (docs/notes: async.c), so here every connect and every command runs
 * under a deadline, a connection that misses one is cut, and a lost
 * connection is made again with capped exponential backoff. */
#ifndef PUSHPULL_REDIS_CONN_H
#define PUSHPULL_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>

struct event_base;

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]; HOST may be an [IPv6]
 * literal; USER and PASSWORD are percent-decoded. With a password every
 * connection begins with AUTH (Redis 6 ACL: AUTH USER PASSWORD), and is
 * up only once Redis took it. */
struct redis_addr {
    char host[256];
    int port;                         /* 6379 when not given */
    unsigned db;                      /* 0 when not given */
    char user[128];                   /* "": AUTH with the password alone */
    char password[256];               /* "": no AUTH */
};
/* 0, or -1 with the reason in err (which never holds the password). */
int redis_url_parse(const char *url, struct redis_addr *a, char *err, size_t errlen);

struct redis_conn;

struct redis_conn_events {
    /* Connected: send what must come first (SELECT, SCRIPT LOAD, SUBSCRIBE). */
    void (*up)(void *arg);
    /* Lost or cut; the callbacks of the commands in flight have run with a
     * NULL reply. A new connection is attempted after a backoff. */
    void (*down)(void *arg);
    /* A subscription's reply: its (un)subscribe confirmation or a message,
     * the array redis sends. */
    void (*push)(void *arg, const redisReply *reply);
};

struct redis_conn_config {
    uint64_t timeout_us;              /* connect, and each reply */
    uint64_t backoff_max_us;          /* retries start at 50 ms, double up to this */
    uint64_t ping_us;                 /* an idle connection is PINGed this often; 0: never */
};

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_addr *a,
                                  const struct redis_conn_config *cfg,
                                  const struct redis_conn_events *ev, void *arg);
/* Closes the connection: the callbacks in flight run with NULL. */
void redis_conn_free(struct redis_conn *rc);

bool redis_conn_is_up(const struct redis_conn *rc);

/* Send one command. cb runs once with its reply, or with NULL when the
 * connection is lost first. -1 (and cb never runs) when not up. */
int redis_conn_command(struct redis_conn *rc, redisCallbackFn *cb, void *privdata,
                       int argc, const char **argv, const size_t *argvlen);

/* SUBSCRIBE or UNSUBSCRIBE one channel; its replies go to push(). The
 * confirmation is due within the timeout. Only these may be sent on a
 * connection once it subscribed (RESP2). -1 when not up. */
int redis_conn_subscription(struct redis_conn *rc, bool subscribe, const char *channel,
                            size_t len);

struct redis_conn_stats {
    uint64_t rtt_us;                  /* the latest reply's round trip */
    uint64_t reconnects;              /* connections made after the first */
    uint64_t timeouts;                /* connections cut for a late reply */
    uint64_t auth_failures;           /* connections whose AUTH Redis refused */
};
void redis_conn_stats(const struct redis_conn *rc, struct redis_conn_stats *out);

#endif
