#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "server.h"

/* A worker that dies this soon after its start is restarted only after
 * this long, so a worker that cannot start does not spin the parent. */
#define QUICK_DEATH_US 1000000
/* After SIGTERM, how long the workers get before SIGKILL (their own grace
 * period is 1.5 s). */
#define STOP_GRACE_US 5000000

struct worker {
    pid_t pid;
    uint64_t started_us;
};

/* --port 0: a port for all, held by a bound socket that never listens
 * (so it takes no connection) until the workers listen on it too. */
static int reserve_port(struct server_config *cfg)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM }, *ai;
    if (getaddrinfo(cfg->bind, "0", &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    cfg->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static pid_t spawn(struct server_config *cfg, workers_serve_fn serve, int ready_fd,
                   const sigset_t *old_mask)
{
    /* Each start has its own epoch (PROTOCOL.md): workers forked within
     * the same microsecond would read the same clock, so the parent hands
     * them out, each after the last. */
    static uint64_t last_epoch;
    uint64_t now = clock_real_us();
    cfg->start_epoch_us = last_epoch = now > last_epoch ? now : last_epoch + 1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    /* A parent killed outright takes its workers with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    exit(serve(cfg, ready_fd));
}

static void stop_all(struct worker *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (w[i].pid > 0)
            kill(w[i].pid, SIGTERM);
}

/* Wait for every worker; SIGKILL what is left after the grace period.
 * 0 when all exited with 0. */
static int reap_all(struct worker *w, unsigned n)
{
    uint64_t deadline = clock_mono_us() + STOP_GRACE_US;
    int rc = 0;
    for (unsigned left = n; left > 0;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0)
            break;
        if (pid == 0) {
            if (clock_mono_us() > deadline) {
                for (unsigned i = 0; i < n; i++)
                    if (w[i].pid > 0)
                        kill(w[i].pid, SIGKILL);
            }
            usleep(10000);
            continue;
        }
        for (unsigned i = 0; i < n; i++)
            if (w[i].pid == pid) {
                w[i].pid = 0;
                left--;
            }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = 1;
    }
    return rc;
}

struct supervisor {
    struct server_config *cfg;
    workers_serve_fn serve;
    workers_announce_fn announce;
    struct worker *w;
    unsigned n;
    int ready[2];
    sigset_t old_mask;
    bool announced;
};

/* A worker died: before everyone listened, the start failed; after, it is
 * replaced. */
static int on_child_exit(struct supervisor *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < s->n; i++) {
            if (s->w[i].pid != pid)
                continue;
            s->w[i].pid = 0;
            if (!s->announced)
                return 1;
            fprintf(stderr, "pushpull-server: worker %d ended (%s %d): starting another\n",
                    (int)pid, WIFEXITED(status) ? "exit" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            if (clock_mono_us() - s->w[i].started_us < QUICK_DEATH_US)
                usleep(QUICK_DEATH_US);
            s->w[i].pid = spawn(s->cfg, s->serve, s->ready[1], &s->old_mask);
            s->w[i].started_us = clock_mono_us();
        }
    }
    return 0;
}

/* Until SIGTERM/SIGINT (0) or a failed start (1). */
static int supervise(struct supervisor *s, int sfd, int reserved)
{
    unsigned ready = 0;
    for (;;) {
        struct pollfd p[2] = { { s->ready[0], POLLIN, 0 }, { sfd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 1;
        char buf[64];
        ssize_t got;
        if ((p[0].revents & POLLIN) && (got = read(s->ready[0], buf, sizeof buf)) > 0) {
            ready += (unsigned)got;
            if (!s->announced && ready >= s->n) {
                s->announced = true;
                if (reserved >= 0)
                    close(reserved);  /* the workers hold the port now */
                s->announce(s->cfg);
            }
        }
        struct signalfd_siginfo si;
        if (!(p[1].revents & POLLIN) || read(sfd, &si, sizeof si) != sizeof si)
            continue;
        if (si.ssi_signo != SIGCHLD)
            return 0;
        if (on_child_exit(s) != 0)
            return 1;
    }
}

int workers_run(struct server_config *cfg, workers_serve_fn serve, workers_announce_fn announce)
{
    int reserved = cfg->port == 0 ? reserve_port(cfg) : -1;
    struct supervisor s = { .cfg = cfg, .serve = serve, .announce = announce,
                            .n = cfg->workers };
    s.w = calloc(s.n, sizeof *s.w);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    if ((cfg->port == 0) || !s.w || pipe2(s.ready, O_CLOEXEC) != 0 ||
        sigprocmask(SIG_BLOCK, &mask, &s.old_mask) != 0) {
        fprintf(stderr, "pushpull-server: cannot start the workers: %s\n", strerror(errno));
        return 1;
    }
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    for (unsigned i = 0; i < s.n; i++) {
        s.w[i].pid = spawn(cfg, serve, s.ready[1], &s.old_mask);
        s.w[i].started_us = clock_mono_us();
    }
    int rc = sfd < 0 ? 1 : supervise(&s, sfd, reserved);
    stop_all(s.w, s.n);
    int reaped = reap_all(s.w, s.n);
    free(s.w);
    if (rc && !s.announced)
        fprintf(stderr, "pushpull-server: a worker could not start\n");
    return rc ? rc : reaped;
}
