/* pushpull-relay: a loopback TCP relay that delays, and optionally rate
 * limits, each direction of every connection. It stands in for netem where
 * the kernel has none: the bench runner puts it between client and server.
 *
 * Each accepted connection gets its own connection to the target and two
 * flows (client->target, target->client), each a delayq (see delayq.h for
 * the link model) drained by one timer. A flow's end (EOF, or an error read
 * from its source) crosses the link like data: after the bytes ahead of it
 * and the delay, it becomes shutdown(SHUT_WR), or a reset. One thread.
 *
 * Not emulated: the TCP handshake. The kernel completes it on the listening
 * socket at once, so a new connection costs one round trip less than on a
 * real link of the same delay. */
#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "delayq.h"
#include "parse.h"
#include "units.h"

#define READ_BYTES (64 * 1024)
#define IOV_BATCH 64
#define ACCEPT_BATCH 64
/* Out of fds: the listener stays readable, so stop polling it a while. */
#define ACCEPT_PAUSE_US 100000

static const char usage[] =
    "usage: pushpull-relay --target ADDR:PORT [options]\n"
    "\n"
    "A loopback TCP relay that adds a one-way delay (and optionally a rate\n"
    "limit) to each direction of every connection, for network profiles on a\n"
    "kernel without netem. Prints 'relaying LISTEN -> TARGET'.\n"
    "\n"
    "  --listen ADDR:PORT  where to accept; port 0 picks a free one (127.0.0.1:0)\n"
    "  --target ADDR:PORT  the server to relay to (required)\n"
    "  --delay DUR         one-way delay, each direction: 40ms gives an\n"
    "                      80 ms round trip                              (0)\n"
    "  --rate RATE         bandwidth per direction per connection: 2Mbit,\n"
    "                      512kbit, 1.5Mbit, 1Gbit                  (unlimited)\n"
    "  --max-queue SIZE    bytes held per direction per connection before\n"
    "                      the relay stops reading that side           (4MiB)\n"
    "  --quiet             no log lines on stderr\n"
    "  --help, --version\n"
    "\n"
    "Addresses are numeric and must be loopback (127.0.0.0/8 or [::1]): this\n"
    "project never sends load to another host. DUR: 50ms, 1.5s, 250us.\n"
    "RATE: bit, kbit, Mbit, Gbit (powers of 1000; a bare number is refused).\n"
    "SIGINT or SIGTERM drops every connection and exits 0.\n";

struct relay_config {
    struct sockaddr_storage listen, target;
    int listen_len, target_len;
    uint64_t delay_us, rate_bps;
    size_t max_queue;
    bool quiet;
};

/* Sides of a connection; flow i carries bytes from side i to side !i. */
enum { CLIENT = 0, TARGET = 1 };

struct conn;

struct side {
    struct conn *c;
    int idx;
    evutil_socket_t fd;
    struct event *rd, *wr;
};

struct flow {
    struct conn *c;
    int idx;
    struct delayq *q;
    struct event *timer;
    bool src_done;      /* EOF or error read: nothing more will be queued */
    bool reset;         /* ...and it was an error: pass on a reset, not EOF */
    bool paused;        /* source not read: the queue is full */
    bool shut;          /* the end has been passed on */
};

struct conn {
    struct relay *r;
    struct conn *prev, *next;
    struct side side[2];
    struct flow flow[2];
    bool connected;
};

struct relay {
    struct relay_config cfg;
    struct event_base *base;
    evutil_socket_t lfd;
    struct event *accept_ev, *accept_pause;
    struct conn *conns;
    uint64_t accepted, connect_errors, resets, bytes[2];
    bool told_connect_error, told_accept_error;
};

/* ---------------------------------------------------------------- flags */

static void die_usage(const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "pushpull-relay: %s: '%s' %s\n"
            "try 'pushpull-relay --help'\n", flag, value, want);
    exit(2);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

static uint16_t addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* "127.0.0.1:80" or "[::1]:80" into *ss. Hand-split because
 * evutil_parse_sockaddr_port refuses port 0 and takes "::1" as a bare
 * address. 0, or -1 on anything else. */
static int parse_addr(const char *v, struct sockaddr_storage *ss, int *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *port;
    size_t hlen;
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hlen = (size_t)(end - v - 1);
        port = end + 2;
        v++;
    } else {
        const char *colon = strchr(v, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return -1;
        hlen = (size_t)(colon - v);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    uint64_t p;
    if (parse_u64(port, 65535, &p) != 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (evutil_inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        *len = (int)sizeof *in;
    } else if (evutil_inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        *len = (int)sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

/* An address flag: loopback only, so no load ever leaves this host. */
static void flag_addr(const char *flag, const char *v, bool port_zero_ok,
                      struct sockaddr_storage *ss, int *len)
{
    if (parse_addr(v, ss, len) != 0)
        die_usage(flag, v, "is not a numeric ADDR:PORT (127.0.0.1:8080 or [::1]:8080)");
    if (!is_loopback((const struct sockaddr *)ss)) {
        fprintf(stderr, "pushpull-relay: %s: '%s' is not a loopback address "
                "(127.0.0.0/8 or ::1); this project keeps all traffic on this host\n",
                flag, v);
        exit(2);
    }
    if (!port_zero_ok && addr_port((const struct sockaddr *)ss) == 0)
        die_usage(flag, v, "needs a port from 1 to 65535");
}

static uint64_t flag_duration(const char *flag, const char *v, uint64_t max_us)
{
    uint64_t us;
    if (units_parse_duration_us(v, &us) != 0 || us > max_us)
        die_usage(flag, v, "is not a duration from 0 to 60s (e.g. 40ms, 1.5s)");
    return us;
}

enum { O_LISTEN = 256, O_TARGET, O_DELAY, O_RATE, O_MAX_QUEUE, O_QUIET, O_HELP, O_VERSION };

static void parse_args(int argc, char **argv, struct relay_config *cfg)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "target", required_argument, NULL, O_TARGET },
        { "delay", required_argument, NULL, O_DELAY },
        { "rate", required_argument, NULL, O_RATE },
        { "max-queue", required_argument, NULL, O_MAX_QUEUE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    bool have_target = false;
    uint64_t n;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: flag_addr("--listen", optarg, true, &cfg->listen, &cfg->listen_len); break;
        case O_TARGET:
            flag_addr("--target", optarg, false, &cfg->target, &cfg->target_len);
            have_target = true;
            break;
        case O_DELAY: cfg->delay_us = flag_duration("--delay", optarg, 60000000); break;
        case O_RATE:
            if (delayq_parse_rate(optarg, &n) != 0 || n < 1000 || n > UINT64_C(100000000000))
                die_usage("--rate", optarg, "is not a rate from 1kbit to 100Gbit (e.g. 2Mbit)");
            cfg->rate_bps = n;
            break;
        case O_MAX_QUEUE:
            if (units_parse_size(optarg, &n) != 0 || n < READ_BYTES || n > (UINT64_C(1) << 30))
                die_usage("--max-queue", optarg, "is not a size from 64KiB to 1GiB");
            cfg->max_queue = (size_t)n;
            break;
        case O_QUIET: cfg->quiet = true; break;
        case O_HELP: fputs(usage, stdout); exit(0);
        case O_VERSION: puts("pushpull-relay " PUSHPULL_VERSION); exit(0);
        default:
            fprintf(stderr, "pushpull-relay: unknown or incomplete option '%s'\n"
                    "try 'pushpull-relay --help'\n", argv[optind - 1]);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "pushpull-relay: unexpected argument '%s'\n", argv[optind]);
        exit(2);
    }
    if (!have_target) {
        fprintf(stderr, "pushpull-relay: --target ADDR:PORT is required\n"
                "try 'pushpull-relay --help'\n");
        exit(2);
    }
}

/* ------------------------------------------------------------ connections */

static void conn_close(struct conn *c)
{
    struct relay *r = c->r;
    for (int i = 0; i < 2; i++) {
        if (c->side[i].rd)
            event_free(c->side[i].rd);
        if (c->side[i].wr)
            event_free(c->side[i].wr);
        if (c->side[i].fd >= 0)
            close(c->side[i].fd);
        if (c->flow[i].timer)
            event_free(c->flow[i].timer);
        delayq_free(c->flow[i].q);
    }
    if (c->prev)
        c->prev->next = c->next;
    else if (r->conns == c)
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* A zero linger makes close() send RST: the peer must not take a broken
 * stream for a complete one. */
static void conn_abort(struct conn *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    for (int i = 0; i < 2; i++)
        if (c->side[i].fd >= 0)
            setsockopt(c->side[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c->r->resets++;
    conn_close(c);
}

static void arm_timer(struct event *ev, uint64_t at_us, uint64_t now_us)
{
    uint64_t d = at_us > now_us ? at_us - now_us : 0;
    struct timeval tv = { .tv_sec = (time_t)(d / 1000000), .tv_usec = (suseconds_t)(d % 1000000) };
    event_add(ev, &tv);
}

/* The end crossed the link. Returns -1 when that closed the connection. */
static int flow_finish(struct flow *f)
{
    struct conn *c = f->c;
    f->shut = true;
    event_del(f->timer);
    if (f->reset) {
        conn_abort(c);
        return -1;
    }
    shutdown(c->side[!f->idx].fd, SHUT_WR);
    if (c->flow[!f->idx].shut) {
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Write whatever is due, then wait for the next release time or for the
 * destination to drain. Returns -1 when the connection is gone. */
static int flow_pump(struct flow *f)
{
    struct conn *c = f->c;
    struct relay *r = c->r;
    struct side *src = &c->side[f->idx], *dst = &c->side[!f->idx];
    if (!c->connected || f->shut)
        return 0;
    uint64_t now = clock_mono_us();
    struct iovec iov[IOV_BATCH];
    int n;
    while ((n = delayq_due(f->q, now, iov, IOV_BATCH)) > 0) {
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += iov[i].iov_len;
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(dst->fd, &m, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_abort(c);
            return -1;
        }
        if (w > 0) {
            delayq_consume(f->q, (size_t)w);
            r->bytes[f->idx] += (uint64_t)w;
        }
        if (w < 0 || (size_t)w < want) {
            event_add(dst->wr, NULL);   /* socket buffer full: wait, don't spin */
            return 0;
        }
    }
    event_del(dst->wr);
    if (f->paused && delayq_memory(f->q) < r->cfg.max_queue) {
        f->paused = false;
        event_add(src->rd, NULL);
    }
    if (delayq_ended(f->q, now))
        return flow_finish(f);
    uint64_t at;
    if (delayq_next_us(f->q, &at) == 0)
        arm_timer(f->timer, at, now);
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flow_pump(arg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct side *s = arg;
    struct conn *c = s->c;
    struct flow *f = &c->flow[s->idx];
    static unsigned char buf[READ_BYTES];   /* one thread: one buffer */
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    uint64_t now = clock_mono_us();
    if (n > 0) {
        if (delayq_push(f->q, buf, (size_t)n, now) != 0) {
            conn_abort(c);
            return;
        }
        if (delayq_memory(f->q) >= c->r->cfg.max_queue) {
            f->paused = true;
            event_del(s->rd);
        }
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        f->src_done = true;
        f->reset = n < 0;
        f->paused = false;
        event_del(s->rd);
        delayq_push_end(f->q, now);
    } else {
        return;
    }
    flow_pump(f);
}

static void connect_failed(struct conn *c, int err)
{
    struct relay *r = c->r;
    r->connect_errors++;
    if (!r->cfg.quiet && !r->told_connect_error) {
        r->told_connect_error = true;
        fprintf(stderr, "pushpull-relay: connect to target: %s (further errors only counted)\n",
                strerror(err));
    }
    conn_abort(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct side *s = arg;
    struct conn *c = s->c;
    if (c->connected) {
        flow_pump(&c->flow[!s->idx]);
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        connect_failed(c, err);
        return;
    }
    c->connected = true;
    event_del(s->wr);
    event_add(s->rd, NULL);
    flow_pump(&c->flow[CLIENT]);   /* the client may have spoken already */
}

/* The relay must add no Nagle delay of its own. */
static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int conn_init(struct conn *c)
{
    struct relay *r = c->r;
    for (int i = 0; i < 2; i++) {
        struct side *s = &c->side[i];
        struct flow *f = &c->flow[i];
        s->c = f->c = c;
        s->idx = f->idx = i;
        s->rd = event_new(r->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
        s->wr = event_new(r->base, s->fd, EV_WRITE | EV_PERSIST, on_writable, s);
        f->timer = event_new(r->base, -1, 0, on_timer, f);
        f->q = delayq_new(r->cfg.delay_us, r->cfg.rate_bps);
        if (!s->rd || !s->wr || !f->timer || !f->q)
            return -1;
    }
    return 0;
}

static void conn_open(struct relay *r, evutil_socket_t cfd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(cfd);
        return;
    }
    c->r = r;
    c->side[CLIENT].fd = cfd;
    c->side[TARGET].fd = -1;
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->accepted++;
    set_nodelay(cfd);
    const struct sockaddr *ta = (const struct sockaddr *)&r->cfg.target;
    evutil_socket_t tfd = socket(ta->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tfd < 0) {
        connect_failed(c, errno);
        return;
    }
    c->side[TARGET].fd = tfd;
    set_nodelay(tfd);
    if (conn_init(c) != 0) {
        conn_abort(c);
        return;
    }
    /* SYN and SYN-ACK take one round trip before a client can send. */
    delayq_hold_until(c->flow[CLIENT].q, clock_mono_us() + 2 * r->cfg.delay_us);
    event_add(c->side[CLIENT].rd, NULL);
    if (connect(tfd, ta, (socklen_t)r->cfg.target_len) == 0) {
        c->connected = true;
        event_add(c->side[TARGET].rd, NULL);
    } else if (errno == EINPROGRESS) {
        event_add(c->side[TARGET].wr, NULL);
    } else {
        connect_failed(c, errno);
    }
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct relay *r = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        evutil_socket_t cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            conn_open(r, cfd);
            continue;
        }
        if (errno == ECONNABORTED || errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (!r->cfg.quiet && !r->told_accept_error) {
            r->told_accept_error = true;
            fprintf(stderr, "pushpull-relay: accept: %s (pausing accepts 100 ms at a time)\n",
                    strerror(errno));
        }
        event_del(r->accept_ev);
        arm_timer(r->accept_pause, ACCEPT_PAUSE_US, 0);
        return;
    }
}

static void on_accept_pause(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct relay *r = arg;
    event_add(r->accept_ev, NULL);
}

/* -------------------------------------------------------------- process */

static int listen_start(struct relay *r, char *err, size_t errlen)
{
    const struct sockaddr *la = (const struct sockaddr *)&r->cfg.listen;
    int one = 1;
    r->lfd = socket(la->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->lfd < 0 ||
        setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(r->lfd, la, (socklen_t)r->cfg.listen_len) != 0 ||
        listen(r->lfd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        return -1;
    }
    socklen_t len = sizeof r->cfg.listen;
    if (getsockname(r->lfd, (struct sockaddr *)&r->cfg.listen, &len) != 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    r->accept_ev = event_new(r->base, r->lfd, EV_READ | EV_PERSIST, on_accept, r);
    r->accept_pause = event_new(r->base, -1, 0, on_accept_pause, r);
    if (!r->accept_ev || !r->accept_pause) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    event_add(r->accept_ev, NULL);
    return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    if (sa->sa_family == AF_INET) {
        evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%u", host, addr_port(sa));
    } else {
        evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%u", host, addr_port(sa));
    }
}

/* Two fds per relayed connection: take the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

/* Precise timers (timerfd): with libevent's default millisecond epoll
 * waits, --delay 1ms measured 7 ms round trips instead of 2.1. */
static struct event_base *base_new(void)
{
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

int main(int argc, char **argv)
{
    struct relay r = {
        .cfg = { .max_queue = 4u << 20 },
        .lfd = -1,
    };
    struct sockaddr_in *lin = (struct sockaddr_in *)&r.cfg.listen;
    lin->sin_family = AF_INET;
    lin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r.cfg.listen_len = (int)sizeof *lin;
    parse_args(argc, argv, &r.cfg);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    char err[256];
    r.base = base_new();
    if (r.base == NULL || listen_start(&r, err, sizeof err) != 0) {
        fprintf(stderr, "pushpull-relay: %s\n", r.base ? err : "out of memory");
        return 1;
    }
    struct event *sigint = evsignal_new(r.base, SIGINT, on_signal, r.base);
    struct event *sigterm = evsignal_new(r.base, SIGTERM, on_signal, r.base);
    if (!sigint || !sigterm) {
        fprintf(stderr, "pushpull-relay: out of memory\n");
        return 1;
    }
    event_add(sigint, NULL);
    event_add(sigterm, NULL);

    char la[64], ta[64];
    format_addr(&r.cfg.listen, la, sizeof la);
    format_addr(&r.cfg.target, ta, sizeof ta);
    printf("relaying %s -> %s\n", la, ta);
    fflush(stdout);

    event_base_dispatch(r.base);

    while (r.conns)
        conn_close(r.conns);
    event_free(r.accept_ev);
    event_free(r.accept_pause);
    event_free(sigint);
    event_free(sigterm);
    close(r.lfd);
    event_base_free(r.base);
    if (!r.cfg.quiet)
        fprintf(stderr, "pushpull-relay: stopped: %llu connections, %llu connect errors, "
                "%llu resets; %llu bytes to target, %llu to clients\n",
                (unsigned long long)r.accepted, (unsigned long long)r.connect_errors,
                (unsigned long long)r.resets, (unsigned long long)r.bytes[CLIENT],
                (unsigned long long)r.bytes[TARGET]);
    return 0;
}
