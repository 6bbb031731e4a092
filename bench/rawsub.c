/* rawsub: the smallest honest SSE / WebSocket subscriber, a yardstick for
 * pushpull-client's own overhead (make bench-client). Plain sockets, one
 * epoll loop, no libcurl, no libevent, no JSON library: it reads what
 * pushpull-server sends on one channel and takes each message's receive
 * time right after the read() that brought it, before any parsing.
 *
 *   rawsub --port P --channel CH --transport sse|ws --subscribers N
 *          --rate R --warmup S --duration S [--timeout S]
 *
 * Latency = receive time - the message's scheduled time, which the
 * publisher (pushpull-client, same host) wrote into the payload as
 * "k sched_us ..." on CLOCK_MONOTONIC, a clock every process shares. A
 * message is measured when its k is in the client's measure window
 * [ceil(warmup*R), ceil((warmup+duration)*R)). Prints one JSON line:
 * {"transport","subscribers","count","p50_us","p99_us","max_us"}. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX 65536

struct sub {
    int fd;
    bool ws, upgraded;                /* ws: the 101 has been read */
    char buf[BUF_MAX];                /* bytes not yet parsed */
    size_t len;
    size_t chunk_left;                /* SSE over chunked encoding */
    bool in_chunk_data, headers_done;
    char body[2 * BUF_MAX];           /* de-chunked SSE not yet parsed */
    size_t body_len;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t *samples;
static size_t nsamples, samples_cap;
static uint64_t k_from, k_to;

static void die(const char *what)
{
    fprintf(stderr, "rawsub: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* One envelope {"id":N,"ts":T,"data":"k sched ..."}: record its latency. */
static void record(const char *json, size_t len, uint64_t now)
{
    const char *d = memmem(json, len, "\"data\":\"", 8);
    unsigned long long k, sched;
    if (!d || sscanf(d + 8, "%llu %llu ", &k, &sched) != 2 || k < k_from || k >= k_to)
        return;
    if (nsamples == samples_cap) {
        samples_cap = samples_cap ? samples_cap * 2 : 4096;
        samples = realloc(samples, samples_cap * sizeof *samples);
        if (!samples)
            die("realloc");
    }
    samples[nsamples++] = now > sched ? now - sched : 0;
}

/* SSE body bytes (already de-chunked): complete "data: " lines. */
static size_t sse_lines(const char *p, size_t len, uint64_t now)
{
    size_t used = 0;
    for (;;) {
        const char *nl = memchr(p + used, '\n', len - used);
        if (!nl)
            return used;
        size_t n = (size_t)(nl - (p + used));
        if (n > 6 && memcmp(p + used, "data: ", 6) == 0)
            record(p + used + 6, n - 6, now);
        used += n + 1;
    }
}

/* Undo chunked transfer coding in place; returns the body bytes at buf. */
static size_t dechunk(struct sub *s, size_t *consumed)
{
    size_t in = 0, out = 0;
    while (in < s->len) {
        if (s->in_chunk_data) {
            size_t n = s->len - in < s->chunk_left ? s->len - in : s->chunk_left;
            memmove(s->buf + out, s->buf + in, n);
            in += n, out += n, s->chunk_left -= n;
            if (s->chunk_left == 0)
                s->in_chunk_data = false;
            continue;
        }
        char *nl = memchr(s->buf + in, '\n', s->len - in);
        if (!nl)
            break;
        size_t line = (size_t)(nl - (s->buf + in));
        if (line > 1 || (line == 1 && s->buf[in] != '\r')) {
            s->chunk_left = strtoul(s->buf + in, NULL, 16);
            s->in_chunk_data = s->chunk_left > 0;
        }
        in += line + 1;
    }
    *consumed = in;
    return out;
}

static void sse_input(struct sub *s, uint64_t now)
{
    if (!s->headers_done) {
        char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t h = (size_t)(end + 4 - s->buf);
        memmove(s->buf, s->buf + h, s->len - h);
        s->len -= h;
        s->headers_done = true;
    }
    /* De-chunk into the body area, where unparsed lines wait. */
    size_t consumed, n = dechunk(s, &consumed);
    memcpy(s->body + s->body_len, s->buf, n);
    s->body_len += n;
    memmove(s->buf, s->buf + consumed, s->len - consumed);
    s->len -= consumed;
    size_t used = sse_lines(s->body, s->body_len, now);
    memmove(s->body, s->body + used, s->body_len - used);
    s->body_len -= used;
}

static void ws_pong(struct sub *s, const char *payload, size_t len)
{
    unsigned char f[2 + 4 + 125] = { 0x8a, (unsigned char)(0x80 | len), 0, 0, 0, 0 };
    memcpy(f + 6, payload, len);      /* mask 0: the payload stays as it is */
    if (write(s->fd, f, 6 + len) < 0)
        return;
}

/* Server frames are unmasked: text frames carry one envelope each. */
static void ws_input(struct sub *s, uint64_t now)
{
    size_t off = 0;
    if (!s->upgraded) {
        char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (!end)
            return;
        if (memcmp(s->buf, "HTTP/1.1 101", 12) != 0) {
            fprintf(stderr, "rawsub: no 101\n");
            exit(1);
        }
        s->upgraded = true;
        off = (size_t)(end + 4 - s->buf);
    }
    while (s->len - off >= 2) {
        const unsigned char *h = (const unsigned char *)s->buf + off;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (s->len - off < 4)
                break;
            plen = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (s->len - off < 10)
                break;
            plen = 0;
            for (int i = 2; i < 10; i++)
                plen = plen << 8 | h[i];
            hl = 10;
        }
        if (s->len - off < hl + plen)
            break;
        const char *p = s->buf + off + hl;
        if ((h[0] & 0x0f) == 1)
            record(p, plen, now);
        else if ((h[0] & 0x0f) == 9 && plen <= 125)
            ws_pong(s, p, plen);
        off += hl + plen;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

static int connect_sub(struct sub *s, int port, const char *channel)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    char req[512];
    int n = s->ws
        ? snprintf(req, sizeof req, "GET /ws/%s?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n", channel)
        : snprintf(req, sizeof req, "GET /sse/%s?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Accept: text/event-stream\r\n\r\n", channel);
    return write(s->fd, req, (size_t)n) == n ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(double p)
{
    if (!nsamples)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)nsamples);
    return samples[i ? i - 1 : 0];
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    if (!def) {
        fprintf(stderr, "rawsub: %s is required (see the comment at the top of bench/rawsub.c)\n",
                name);
        exit(2);
    }
    return def;
}

int main(int argc, char **argv)
{
    int port = atoi(arg(argc, argv, "--port", NULL));
    const char *channel = arg(argc, argv, "--channel", NULL);
    bool ws = strcmp(arg(argc, argv, "--transport", NULL), "ws") == 0;
    int nsubs = atoi(arg(argc, argv, "--subscribers", "1"));
    double rate = atof(arg(argc, argv, "--rate", NULL));
    double warmup = atof(arg(argc, argv, "--warmup", NULL));
    double duration = atof(arg(argc, argv, "--duration", NULL));
    double timeout = atof(arg(argc, argv, "--timeout", "60"));
    k_from = (uint64_t)ceil(warmup * rate);
    k_to = (uint64_t)ceil((warmup + duration) * rate);
    struct sub *subs = calloc((size_t)nsubs, sizeof *subs);
    int ep = epoll_create1(0);
    if (!subs || ep < 0 || nsubs < 1)
        die("setup");
    for (int i = 0; i < nsubs; i++) {
        subs[i].ws = ws;
        if (connect_sub(&subs[i], port, channel) != 0)
            die("request");
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &subs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
    }
    uint64_t end = mono_us() + (uint64_t)(timeout * 1e6), want = (k_to - k_from) * (uint64_t)nsubs;
    struct epoll_event evs[64];
    while (nsamples < want && mono_us() < end) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            struct sub *s = evs[i].data.ptr;
            ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
            uint64_t now = mono_us();     /* before any parsing */
            if (r <= 0) {
                fprintf(stderr, "rawsub: the server closed a stream\n");
                return 1;
            }
            s->len += (size_t)r;
            if (s->ws)
                ws_input(s, now);
            else
                sse_input(s, now);
        }
    }
    qsort(samples, nsamples, sizeof *samples, cmp_u64);
    printf("{\"transport\":\"%s\",\"subscribers\":%d,\"count\":%zu,\"expected\":%" PRIu64
           ",\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 ",\"max_us\":%" PRIu64 "}\n",
           ws ? "ws" : "sse", nsubs, nsamples, want, pct(50), pct(99), pct(100));
    return 0;
}
