/* Client WebSocket against the real pushpull-server ($PUSHPULL_BIN, else
 * bin/) and against a scripted fake server in this process: round trip and
 * order, failures (refused, silent, bad accept, bad frames), frames glued
 * to the 101, freeing from inside callbacks, the peer's close, and the
 * WS subscriber and publisher of a run end to end. Every loop is bounded. */
#include "envelope.h"
#include "loop.h"
#include "subscriber.h"
#include "unit.h"
#include "ws_publish.h"
#include "wshandshake.h"
#include "wsconn.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000000u

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the real server ---------------------------------------------------- */

static pid_t server_pid;
static int server_out = -1;
static int server_port;

static void server_stop(void)
{
    if (server_pid <= 0)
        return;
    kill(server_pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(server_pid, NULL, WNOHANG) == 0; i++)
        usleep(50000);
    if (kill(server_pid, SIGKILL) == 0)
        waitpid(server_pid, NULL, 0);
    server_pid = 0;
    close(server_out);
}

/* "listening on http://127.0.0.1:PORT" within 5 s. */
static int server_read_port(void)
{
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1 && !memchr(line, '\n', n)) {
        struct pollfd p = { server_out, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = read(server_out, line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    line[n] = '\0';
    const char *p = strstr(line, "http://127.0.0.1:");
    if (!p) {
        printf("#   no listening line from the server: \"%s\"\n", line);
        return -1;
    }
    server_port = atoi(p + strlen("http://127.0.0.1:"));
    return server_port > 0 ? 0 : -1;
}

/* Started once, stopped at exit; dies with us if we crash. 0 or -1. */
static int server_start(void)
{
    if (server_pid > 0)
        return 0;
    const char *dir = getenv("PUSHPULL_BIN");
    char path[512];
    snprintf(path, sizeof path, "%s/pushpull-server", dir ? dir : "bin");
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(path, path, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    server_pid = pid;
    server_out = fds[0];
    atexit(server_stop);
    return server_read_port();
}

static void server_url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", server_port, path);
}

/* ---- a probe: records what a wsconn reports ----------------------------- */

struct probe {
    struct event_base *base;
    struct wsconn *c;
    int opened, texts, closes;
    int hellos;                       /* the real server's first frame, apart */
    int code;
    char why[96];
    char last[64];
    uint64_t closed_us;
    struct cost cost;
    /* round trip mode */
    int publish;                      /* messages to publish and get back */
    uint64_t next_id;
    int bad;
    /* free from on_text after this many texts (0: never) */
    int free_after;
};

static void probe_publish(struct probe *p, int from, int to)
{
    char msg[32];
    for (int i = from; i <= to; i++) {
        int n = snprintf(msg, sizeof msg, "m%d", i);
        CHECK_EQ_U(wsconn_send_text(p->c, msg, (size_t)n), 0);
    }
}

/* The second half goes from a plain event: no callback running. */
static void probe_publish_rest(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe *p = arg;
    if (p->c)
        probe_publish(p, p->publish / 2 + 1, p->publish);
}

static void probe_on_open(struct wsconn *c, void *ud)
{
    (void)c;
    struct probe *p = ud;
    p->opened++;
    if (p->publish) {
        probe_publish(p, 1, p->publish / 2);
        struct timeval zero = { 0, 0 };
        event_base_once(p->base, -1, EV_TIMEOUT, probe_publish_rest, p, &zero);
    }
}

static void probe_check_envelope(struct probe *p, const char *text, size_t len)
{
    struct envelope e;
    char want[32];
    snprintf(want, sizeof want, "m%llu", (unsigned long long)p->next_id);
    if (envelope_decode(text, len, &e) != 0 || e.id != p->next_id ||
        strcmp(e.data, want) != 0) {
        printf("#   message %llu: \"%.*s\"\n", (unsigned long long)p->next_id, (int)len, text);
        p->bad++;
    }
    envelope_clear(&e);
    p->next_id++;
}

static void probe_on_text(struct wsconn *c, const char *text, size_t len, void *ud)
{
    struct probe *p = ud;
    static const char hello[] = "{\"hello\":true,";
    if (len > sizeof hello - 1 && memcmp(text, hello, sizeof hello - 1) == 0) {
        p->hellos++;
        return;
    }
    p->texts++;
    snprintf(p->last, sizeof p->last, "%.*s", (int)len, text);
    if (p->publish) {
        probe_check_envelope(p, text, len);
        if (p->texts == p->publish)
            wsconn_close(c, 1000);
    }
    if (p->free_after && p->texts == p->free_after) {
        wsconn_free(c);
        p->c = NULL;
    }
}

static void probe_on_close(struct wsconn *c, int code, const char *why, void *ud)
{
    struct probe *p = ud;
    p->closes++;
    p->code = code;
    p->closed_us = now_us();
    snprintf(p->why, sizeof p->why, "%s", why);
    wsconn_free(c);
    p->c = NULL;
    event_base_loopbreak(p->base);
}

static const struct wsconn_cb probe_cb = { probe_on_open, probe_on_text, probe_on_close };

static void probe_init(struct probe *p, struct event_base *base)
{
    memset(p, 0, sizeof *p);
    p->base = base;
    p->next_id = 1;
    p->code = 12345;
}

static void loop_for(struct event_base *base, uint64_t us)
{
    struct timeval tv = { (time_t)(us / SEC), (suseconds_t)(us % SEC) };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* ---- a scripted fake server --------------------------------------------- */

struct fake {
    struct event_base *base;
    int lfd, cfd;
    struct event *lev, *cev;
    char req[4096];
    size_t req_len;
    bool wrong_accept;
    const char *after;                /* sent in the same write as the 101 */
    size_t after_len;
    size_t rx_after;                  /* bytes the client sent after its request */
};

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void fake_answer(struct fake *f)
{
    char key[WS_KEY_LEN + 1] = "", accept[WS_ACCEPT_LEN + 1] = "";
    const char *k = strstr(f->req, "Sec-WebSocket-Key: ");
    if (k)
        snprintf(key, sizeof key, "%s", k + strlen("Sec-WebSocket-Key: "));
    CHECK_EQ_U(ws_accept_for_key(key, accept), 0);
    if (f->wrong_accept)
        accept[0] = accept[0] == 'A' ? 'B' : 'A';
    char out[1024];
    int n = snprintf(out, sizeof out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (f->after_len)
        memcpy(out + n, f->after, f->after_len);
    CHECK_EQ_U(send(f->cfd, out, (size_t)n + f->after_len, MSG_NOSIGNAL),
               (size_t)n + f->after_len);
}

static void fake_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct fake *f = arg;
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
        event_del(f->cev);
        return;
    }
    bool had_request = strstr(f->req, "\r\n\r\n") != NULL;
    if (had_request) {
        f->rx_after += (size_t)n;
        return;
    }
    size_t take = (size_t)n < sizeof f->req - 1 - f->req_len ? (size_t)n
                                                             : sizeof f->req - 1 - f->req_len;
    memcpy(f->req + f->req_len, buf, take);
    f->req_len += take;
    f->req[f->req_len] = '\0';
    if (strstr(f->req, "\r\n\r\n"))
        fake_answer(f);
}

static void fake_on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct fake *f = arg;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
    if (c < 0 || f->cfd >= 0) {
        if (c >= 0)
            close(c);
        return;
    }
    f->cfd = c;
    f->cev = event_new(f->base, c, EV_READ | EV_PERSIST, fake_on_read, f);
    event_add(f->cev, NULL);
}

static int fake_start(struct fake *f, struct event_base *base, const char *after, size_t after_len)
{
    memset(f, 0, sizeof *f);
    f->base = base;
    f->cfd = -1;
    f->after = after;
    f->after_len = after_len;
    int port = 0;
    f->lfd = listen_any(&port);
    if (f->lfd < 0)
        return -1;
    f->lev = event_new(base, f->lfd, EV_READ | EV_PERSIST, fake_on_accept, f);
    event_add(f->lev, NULL);
    return port;
}

static void fake_stop(struct fake *f)
{
    if (f->cev)
        event_free(f->cev);
    if (f->cfd >= 0)
        close(f->cfd);
    event_free(f->lev);
    close(f->lfd);
}

/* Open a wsconn to the fake server and run until it reports its end. */
static void fake_run(struct probe *p, struct fake *f, const char *after, size_t after_len)
{
    struct event_base *base = event_base_new();
    probe_init(p, base);
    int port = fake_start(f, base, after, after_len);
    CHECK(port > 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/fake?since=0", port);
    p->c = wsconn_open(base, url, 2 * SEC, &probe_cb, p, &p->cost);
    CHECK(p->c != NULL);
    loop_for(base, 3 * SEC);
    loop_for(base, 100000);           /* the fake server reads what came last */
    wsconn_free(p->c);
    fake_stop(f);
    event_base_free(base);
}

/* ---- against the real server -------------------------------------------- */

/* 50 publishes through the connection itself come back in order as
 * envelopes; then a clean close 1000. Half are sent from inside on_open,
 * half from a plain event. */
static void test_roundtrip(void)
{
    if (server_start() != 0) {
        CHECK(!"server started");
        return;
    }
    struct event_base *base = event_base_new();
    struct probe p;
    probe_init(&p, base);
    p.publish = 50;
    char url[128];
    server_url(url, sizeof url, "/ws/roundtrip?since=0");
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    CHECK(p.c != NULL);
    loop_for(base, 10 * SEC);
    CHECK_EQ_U(p.opened, 1);
    CHECK_EQ_U(p.hellos, 1);
    CHECK_EQ_U(p.texts, 50);
    CHECK_EQ_U(p.next_id, 51);
    CHECK_EQ_U(p.bad, 0);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, 1000);
    CHECK_EQ_U(p.cost.connects, 1);
    CHECK_EQ_U(p.cost.requests, 1);
    /* 50 masked frames of 2-3 bytes (6 + payload each), a close frame, the request */
    CHECK(p.cost.bytes_tx > 50 * 8 + 100);
    /* the 101 and 50 envelopes of ~40 bytes */
    CHECK(p.cost.bytes_rx > 100 + 50 * 40);
    wsconn_free(p.c);
    event_base_free(base);
}

/* A close asked for before the connection is open abandons it, reported
 * from the loop, not from inside wsconn_close. */
static void test_close_before_open(void)
{
    if (server_start() != 0) {
        CHECK(!"server started");
        return;
    }
    struct event_base *base = event_base_new();
    struct probe p;
    probe_init(&p, base);
    char url[128];
    server_url(url, sizeof url, "/ws/early");
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    CHECK(p.c != NULL);
    wsconn_close(p.c, 1000);
    CHECK_EQ_U(p.closes, 0);
    loop_for(base, 3 * SEC);
    CHECK_EQ_U(p.opened, 0);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_IO);
    event_base_free(base);
}

/* Many connections at once share the connector; each gets its own socket. */
static void test_many(void)
{
    enum { N = 20 };
    if (server_start() != 0) {
        CHECK(!"server started");
        return;
    }
    struct event_base *base = event_base_new();
    static struct probe ps[N];
    char url[128];
    server_url(url, sizeof url, "/ws/many?since=0");
    for (int i = 0; i < N; i++) {
        probe_init(&ps[i], base);
        ps[i].c = wsconn_open(base, url, 2 * SEC, &probe_cb, &ps[i], &ps[i].cost);
    }
    uint64_t end = now_us() + 5 * SEC;
    int opened = 0;
    while (opened < N && now_us() < end) {
        loop_for(base, 50000);
        opened = 0;
        for (int i = 0; i < N; i++)
            opened += ps[i].opened;
    }
    CHECK_EQ_U(opened, N);
    /* One publish reaches all N: every connection is still alive after
     * the later ones were made on the same multi handle. */
    CHECK_EQ_U(wsconn_send_text(ps[0].c, "one", 3), 0);
    end = now_us() + 5 * SEC;
    int got = 0;
    while (got < N && now_us() < end) {
        loop_for(base, 50000);
        got = 0;
        for (int i = 0; i < N; i++)
            got += ps[i].texts;
    }
    CHECK_EQ_U(got, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_U(ps[i].closes, 0);
        CHECK_EQ_U(ps[i].cost.connects, 1);
        wsconn_free(ps[i].c);
    }
    event_base_free(base);
}

/* ---- failures ----------------------------------------------------------- */

/* A port nobody listens on: on_close(WSCONN_ERR_IO) at once, no on_open. */
static void test_refused(void)
{
    int port = 0, fd = listen_any(&port);
    CHECK(fd >= 0);
    close(fd);
    struct event_base *base = event_base_new();
    struct probe p;
    probe_init(&p, base);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/x?since=0", port);
    uint64_t t0 = now_us();
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    CHECK(p.c != NULL);
    CHECK_EQ_U(p.closes, 0);          /* never from inside wsconn_open */
    loop_for(base, 5 * SEC);
    CHECK_EQ_U(p.opened, 0);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_IO);
    CHECK(p.closed_us - t0 < 2 * SEC);
    CHECK_EQ_U(p.cost.connects, 0);
    CHECK_EQ_U(p.cost.requests, 0);
    event_base_free(base);
}

/* A listener that never answers (nor even accepts): the handshake times
 * out after the connect timeout. */
static void test_silent_server(void)
{
    int port = 0, fd = listen_any(&port);
    CHECK(fd >= 0);
    struct event_base *base = event_base_new();
    struct probe p;
    probe_init(&p, base);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/x", port);
    uint64_t t0 = now_us();
    p.c = wsconn_open(base, url, 300000, &probe_cb, &p, &p.cost);
    loop_for(base, 5 * SEC);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_IO);
    CHECK(p.closed_us - t0 >= 290000 && p.closed_us - t0 < 2 * SEC);
    CHECK_EQ_U(p.cost.connects, 1);
    CHECK_EQ_U(p.cost.requests, 1);
    printf("#   silent server: %s after %llu ms\n", p.why,
           (unsigned long long)(p.closed_us - t0) / 1000);
    event_base_free(base);
    close(fd);
}

static void test_bad_url(void)
{
    struct event_base *base = event_base_new();
    struct probe p;
    probe_init(&p, base);
    CHECK(wsconn_open(base, "ws://127.0.0.1:1/ws/x", SEC, &probe_cb, &p, NULL) == NULL);
    CHECK(wsconn_open(base, "http:///ws/x", SEC, &probe_cb, &p, NULL) == NULL);
    CHECK(wsconn_open(base, "http://u:p@127.0.0.1:1/ws/x", SEC, &probe_cb, &p, NULL) == NULL);
    event_base_free(base);
}

/* A wrong Sec-WebSocket-Accept: refused by the check, and a protocol
 * error from the connection. */
static void test_wrong_accept(void)
{
    char accept[WS_ACCEPT_LEN + 1];
    char answer[256];
    size_t used = 0;
    CHECK_EQ_U(ws_accept_for_key("x3JJHMbDL1EzLkh9GBhXDw==", accept), 0);
    int n = snprintf(answer, sizeof answer, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "
                     "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    CHECK_EQ_U(ws_check_response(answer, (size_t)n, "x3JJHMbDL1EzLkh9GBhXDw==", &used), 1);
    CHECK_EQ_U(ws_check_response(answer, (size_t)n, "dGhlIHNhbXBsZSBub25jZQ==", &used), -1);

    struct probe p;
    struct fake f;
    struct event_base *base = event_base_new();
    probe_init(&p, base);
    int port = fake_start(&f, base, NULL, 0);
    f.wrong_accept = true;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/x", port);
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    loop_for(base, 3 * SEC);
    CHECK_EQ_U(p.opened, 0);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_PROTOCOL);
    CHECK(strstr(f.req, "GET /ws/x HTTP/1.1\r\n") == f.req);
    CHECK(strstr(f.req, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
    fake_stop(&f);
    event_base_free(base);
}

/* Frames in the same segment as the 101 are the first input to wslay;
 * a masked frame from a server is a protocol error. */
static void test_frames_with_answer(void)
{
    static const char after[] = "\x81\x05hello" "\x81\x05world" "\x81\x85" "abcdhello";
    struct probe p;
    struct fake f;
    fake_run(&p, &f, after, sizeof after - 1);
    CHECK_EQ_U(p.opened, 1);
    CHECK_EQ_U(p.texts, 2);
    CHECK_STR(p.last, "world");
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_PROTOCOL);
    /* The client answered with a close frame of its own (masked: 2 + 4 + 2). */
    CHECK(f.rx_after >= 8);
    printf("#   %s\n", p.why);
}

/* A reserved opcode. */
static void test_bad_opcode(void)
{
    static const char after[] = "\x83\x01x";
    struct probe p;
    struct fake f;
    fake_run(&p, &f, after, sizeof after - 1);
    CHECK_EQ_U(p.opened, 1);
    CHECK_EQ_U(p.texts, 0);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_PROTOCOL);
}

/* The peer's close (1001) is answered and reported with its code. */
static void test_peer_close(void)
{
    static const char after[] = "\x81\x02hi" "\x88\x02\x03\xe9";
    struct probe p;
    struct fake f;
    fake_run(&p, &f, after, sizeof after - 1);
    CHECK_EQ_U(p.texts, 1);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, 1001);
    CHECK(f.rx_after >= 8);           /* our close answer */
}

/* The peer just goes away: WSCONN_ERR_IO. */
static void test_peer_eof(void)
{
    struct probe p;
    struct fake f;
    struct event_base *base = event_base_new();
    probe_init(&p, base);
    int port = fake_start(&f, base, "\x81\x02hi", 4);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/x", port);
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    for (int i = 0; i < 100 && p.texts == 0 && p.closes == 0; i++)
        loop_for(base, 20000);
    shutdown(f.cfd, SHUT_RDWR);
    loop_for(base, 2 * SEC);
    CHECK_EQ_U(p.texts, 1);
    CHECK_EQ_U(p.closes, 1);
    CHECK_EQ_U(p.code, (unsigned long long)WSCONN_ERR_IO);
    fake_stop(&f);
    event_base_free(base);
}

/* Freed from inside on_text while more frames wait in the same read:
 * nothing more is called, nothing is touched after (ASan). */
static void test_free_in_on_text(void)
{
    static const char after[] = "\x81\x01" "a" "\x81\x01" "b" "\x81\x01" "c" "\x88\x02\x03\xe8";
    struct probe p;
    struct fake f;
    struct event_base *base = event_base_new();
    probe_init(&p, base);
    p.free_after = 1;
    int port = fake_start(&f, base, after, sizeof after - 1);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws/x", port);
    p.c = wsconn_open(base, url, 2 * SEC, &probe_cb, &p, &p.cost);
    loop_for(base, 300000);
    CHECK_EQ_U(p.texts, 1);
    CHECK_STR(p.last, "a");
    CHECK_EQ_U(p.closes, 0);
    CHECK(p.c == NULL);
    fake_stop(&f);
    event_base_free(base);
}

/* ---- the WS subscriber and publisher of a run --------------------------- */

static struct client_config e2e_cfg;
static struct run e2e_run;

struct e2e {
    struct subscriber s;
    struct ws_publisher *pub;
    uint64_t k_next;
    int stage;
};

static void e2e_publish(struct e2e *e, uint64_t to)
{
    char buf[128];
    for (; e->k_next < to; e->k_next++) {
        uint64_t now = run_now_us();
        size_t len = payload_format(buf, sizeof buf, e->k_next, now, e2e_cfg.size);
        e2e_run.sent_us[e->k_next] = now;
        CHECK_EQ_U(ws_publisher_send(e->pub, buf, len), 0);
    }
}

/* Publish 20, wait for them, drop the subscriber (churn), publish 10 more:
 * the subscriber resumes from its cursor and gets exactly those. */
static void e2e_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct e2e *e = arg;
    if (e->stage == 0 && ws_publisher_ready(e->pub) && e->s.track.connected) {
        e2e_publish(e, 20);
        e->stage = 1;
    } else if (e->stage == 1 && e->s.track.unique == 20) {
        ws_ops.drop(&e->s);
        e2e_publish(e, 30);
        e->stage = 2;
    } else if (e->stage == 2 && e->s.track.unique == 30) {
        e->stage = 3;
        event_base_loopbreak(e2e_run.base);
    }
}

static void test_subscriber_and_publisher(void)
{
    if (server_start() != 0) {
        CHECK(!"server started");
        return;
    }
    snprintf(e2e_cfg.url, sizeof e2e_cfg.url, "http://127.0.0.1:%d", server_port);
    snprintf(e2e_cfg.publish_url, sizeof e2e_cfg.publish_url, "%s", e2e_cfg.url);
    e2e_cfg.channels = 1;
    e2e_cfg.size = 40;
    e2e_cfg.connect_timeout_us = 2 * SEC;
    e2e_run.cfg = &e2e_cfg;
    e2e_run.transport = TR_WS;
    e2e_run.base = event_base_new();
    snprintf(e2e_run.channel_prefix, sizeof e2e_run.channel_prefix, "e2e-%d-", (int)getpid());
    hist_init(&e2e_run.latency);
    hist_init(&e2e_run.latency_uncorrected);
    hist_init(&e2e_run.connect_time);
    hist_init(&e2e_run.first_message);
    e2e_run.seq_cap = 64;
    e2e_run.k_measure_to = 64;
    e2e_run.sent_us = calloc(64, sizeof *e2e_run.sent_us);

    struct e2e e = { .s = { .run = &e2e_run } };
    e.s.track.seen = calloc(8, 1);
    e.s.track.connect_start_us = run_now_us();
    /* The publisher runs on a loop of its own (pubthread.c); here it shares the test's base. */
    struct loop *pub_loop = loop_new(e2e_run.base, 0, 0, 0);
    e.pub = ws_publisher_open(&e2e_run, pub_loop, 0);
    CHECK(e.pub != NULL);
    if (!e.pub) {
        loop_free(pub_loop);
        free(e.s.track.seen);
        free(e2e_run.sent_us);
        return;
    }
    CHECK_EQ_U(ws_ops.start(&e.s), 0);
    CHECK_EQ_U(ws_publisher_send(e.pub, "early", 5), -1);   /* not open yet */
    struct event *tick = event_new(e2e_run.base, -1, EV_PERSIST, e2e_step, &e);
    struct timeval ms10 = { 0, 10000 };
    event_add(tick, &ms10);
    loop_for(e2e_run.base, 10 * SEC);

    CHECK_EQ_U(e.stage, 3);
    CHECK_EQ_U(e.s.track.unique, 30);
    CHECK_EQ_U(e.s.track.duplicates, 0);
    CHECK_EQ_U(e.s.track.out_of_order, 0);
    CHECK_EQ_U(e.s.track.last_id, 30);
    CHECK_EQ_U(e2e_run.delivered, 30);
    CHECK_EQ_U(e2e_run.cost.connects, 2);
    CHECK_EQ_U(e2e_run.cost.requests, 2);
    CHECK_EQ_U(e2e_run.cost.reconnects, 1);
    CHECK_EQ_U(e2e_run.cost.protocol_errors, 0);
    CHECK_EQ_U(e2e_run.cost.transport_errors, 0);
    CHECK_EQ_U(hist_count(&e2e_run.latency), 30);

    ws_ops.stop(&e.s);
    CHECK(e.s.impl == NULL);
    ws_publisher_free(e.pub);
    loop_free(pub_loop);
    if (e.s.retry_timer)
        event_free(e.s.retry_timer);
    event_free(tick);
    free(e.s.track.seen);
    free(e2e_run.sent_us);
    event_base_free(e2e_run.base);
}

UNIT_MAIN(test_roundtrip, test_close_before_open, test_many, test_refused,
          test_silent_server, test_bad_url, test_wrong_accept, test_frames_with_answer,
          test_bad_opcode, test_peer_close, test_peer_eof, test_free_in_on_text,
          test_subscriber_and_publisher)
