#include "limit.h"

#include <event2/event.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "http.h"
#include "server.h"
#include "stats.h"

/* How often the request clocks are checked, at most. */
#define SWEEP_MAX_US 1000000
#define SWEEP_MIN_US 10000

/* Connections of one client address. IPv4 is keyed by its 4 bytes, IPv6
 * by its /64: one host is usually given a whole /64. */
struct ip_count {
    struct ip_count *next;
    uint32_t n;
    uint8_t len;
    uint8_t key[8];
};

struct limit_conn {
    struct ip_count *ip;              /* NULL: address unknown */
    int fd;
    bool waiting;                     /* on the list: a request is due */
    bool upgraded;
    enum limit_excess excess;         /* decided when it was accepted */
    bool marked;                      /* rx_mark is set */
    uint64_t since_us;                /* the request's clock; 0: idle, no byte yet */
    uint64_t rx_mark;                 /* bytes received at the first sweep while idle */
    struct limit_conn *prev, *next;
};

static struct {
    struct server *srv;
    struct ip_count **buckets;
    size_t n_buckets;                 /* a power of two */
    struct limit_conn *waiting;      /* connections whose request is due */
    struct event *sweep_ev;
} lim;

/* ---- per-address counts ----------------------------------------------- */

static size_t ip_key(const struct sockaddr *sa, uint8_t key[8])
{
    static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, v4_mapped, sizeof v4_mapped) == 0) {
        memcpy(key, a + 12, 4);       /* a dual-stack socket's IPv4 client */
        return 4;
    }
    memcpy(key, a, 8);
    return 8;
}

static size_t ip_hash(const uint8_t *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32)) & (lim.n_buckets - 1);
}

static struct ip_count *ip_acquire(const struct sockaddr *sa)
{
    uint8_t key[8];
    size_t len = sa ? ip_key(sa, key) : 0;
    if (!len)
        return NULL;
    struct ip_count **slot = &lim.buckets[ip_hash(key, len)];
    for (struct ip_count *c = *slot; c; c = c->next) {
        if (c->len == len && memcmp(c->key, key, len) == 0) {
            c->n++;
            return c;
        }
    }
    struct ip_count *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = 1;
    c->len = (uint8_t)len;
    memcpy(c->key, key, len);
    c->next = *slot;
    *slot = c;
    return c;
}

static void ip_release(struct ip_count *c)
{
    if (--c->n > 0)
        return;
    struct ip_count **p = &lim.buckets[ip_hash(c->key, c->len)];
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    free(c);
}

/* ---- request clocks --------------------------------------------------- */

static void wait_start(struct limit_conn *c, uint64_t since_us)
{
    c->since_us = since_us;
    if (c->waiting)
        return;
    c->waiting = true;
    c->prev = NULL;
    c->next = lim.waiting;
    if (lim.waiting)
        lim.waiting->prev = c;
    lim.waiting = c;
}

static void wait_stop(struct limit_conn *c)
{
    if (!c->waiting)
        return;
    c->waiting = false;
    if (c->prev)
        c->prev->next = c->next;
    else
        lim.waiting = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* Bytes the kernel received on the socket so far (whether MHD has read
 * them or not): how an idle connection is seen to start a request. */
static uint64_t bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return 0;
    return ti.tcpi_bytes_received;
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = clock_mono_us(), timeout = lim.srv->cfg.header_timeout_us;
    bool cut = false;
    for (struct limit_conn *c = lim.waiting, *next; c; c = next) {
        next = c->next;
        if (!c->since_us) {
            /* Idle keep-alive: the first sweep takes the byte count (not
             * every request: a syscall), a later one that sees it grow
             * starts the next request's clock, up to a sweep late. Bytes
             * that came before the mark count from the next byte on; a
             * client that stops sending meets --idle-timeout. */
            uint64_t rx = bytes_received(c->fd);
            if (!c->marked) {
                c->rx_mark = rx;
                c->marked = true;
            } else if (rx != c->rx_mark) {
                c->since_us = now;
            }
            continue;
        }
        if (now - c->since_us < timeout)
            continue;
        /* MHD has no way to drop a connection it is reading: cut the
         * socket, and MHD's next read sees the end and closes it. */
        shutdown(c->fd, SHUT_RDWR);
        wait_stop(c);
        stats.header_timeout_closed++;
        cut = true;
    }
    if (cut)
        http_kick(lim.srv);
}

static struct limit_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- the interface ---------------------------------------------------- */

int limit_start(struct server *srv)
{
    lim.srv = srv;
    lim.n_buckets = 64;
    while (lim.n_buckets < srv->cfg.max_connections && lim.n_buckets < (1u << 20))
        lim.n_buckets <<= 1;
    lim.buckets = calloc(lim.n_buckets, sizeof *lim.buckets);
    if (!lim.buckets)
        return -1;
    uint64_t t = srv->cfg.header_timeout_us;
    if (t == 0)
        return 0;
    uint64_t period = t / 4 < SWEEP_MAX_US ? t / 4 : SWEEP_MAX_US;
    period = period > SWEEP_MIN_US ? period : SWEEP_MIN_US;
    struct timeval tv = { .tv_sec = (time_t)(period / 1000000),
                          .tv_usec = (suseconds_t)(period % 1000000) };
    lim.sweep_ev = event_new(srv->base, -1, EV_PERSIST, sweep, NULL);
    return lim.sweep_ev && event_add(lim.sweep_ev, &tv) == 0 ? 0 : -1;
}

void limit_stop(void)
{
    if (lim.sweep_ev)
        event_free(lim.sweep_ev);
    free(lim.buckets);                /* every connection has closed by now */
    memset(&lim, 0, sizeof lim);
}

void limit_conn_open(struct MHD_Connection *conn, void **socket_context)
{
    struct limit_conn *c = calloc(1, sizeof *c);
    *socket_context = c;
    if (!c)
        return;
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    c->fd = fd ? fd->connect_fd : -1;
    c->ip = ip_acquire(addr ? addr->client_addr : NULL);
    size_t per_ip = lim.srv->cfg.max_connections_per_ip;
    if (stats.http_connections > lim.srv->cfg.max_connections)
        c->excess = LIMIT_TOTAL;
    else if (per_ip && c->ip && c->ip->n > per_ip)
        c->excess = LIMIT_PER_IP;
    if (lim.sweep_ev && c->fd >= 0)
        wait_start(c, clock_mono_us());
}

void limit_conn_close(void **socket_context)
{
    struct limit_conn *c = *socket_context;
    if (!c)
        return;
    wait_stop(c);
    if (c->ip)
        ip_release(c->ip);
    free(c);
    *socket_context = NULL;
}

enum limit_excess limit_conn_excess(struct MHD_Connection *conn)
{
    const struct limit_conn *c = conn_of(conn);
    return c ? c->excess : LIMIT_OK;
}

void limit_request_received(struct MHD_Connection *conn)
{
    struct limit_conn *c = conn_of(conn);
    if (c)
        wait_stop(c);
}

void limit_request_done(struct MHD_Connection *conn)
{
    struct limit_conn *c = conn_of(conn);
    if (!c || c->upgraded || !lim.sweep_ev || c->fd < 0)
        return;
    c->marked = false;
    wait_start(c, 0);
}

void limit_conn_upgraded(struct MHD_Connection *conn)
{
    struct limit_conn *c = conn_of(conn);
    if (!c)
        return;
    c->upgraded = true;
    wait_stop(c);
}
