/* Long polling: the dialect's long poll (pushpull: GET
 * /longpoll/<ch>?since=<last id>&timeout=S); as soon as an answer comes
 * (messages, or empty at the timeout) the next request goes out. The first
 * request is answered at once (pushpull: timeout=0) so that the subscriber
 * knows it is connected before the publisher starts. */
#include <stdio.h>
#include <stdlib.h>

#include "dialect.h"
#include "outbox.h"
#include "poller.h"

struct long_poll {
    struct poller p;                  /* first: poller calls back with it */
    struct outbox *out;               /* what the dialect sends; made at first use */
    bool connected;
};

static int longpoll_issue(struct long_poll *lp)
{
    const struct client_config *cfg = lp->p.s->run->cfg;
    unsigned timeout_s = lp->connected ? (unsigned)(cfg->longpoll_timeout_us / 1000000) : 0;
    /* curl waits a little longer than the server, which answers first; a
     * server that never answers an idle wait is cut at the timeout itself. */
    long curl_timeout_ms = (long)timeout_s * 1000 + (long)(cfg->connect_timeout_us / 1000) + 5000;
    lp->p.timeout_is_empty = dialect_of(cfg)->longpoll_waits_forever && lp->connected;
    if (lp->p.timeout_is_empty)
        curl_timeout_ms = (long)timeout_s * 1000;
    return poller_request(&lp->p, TR_LONGPOLL, curl_timeout_ms);
}

static void on_answered(struct poller *p, bool ok, bool empty)
{
    (void)empty;
    struct long_poll *lp = (struct long_poll *)p;
    if (!ok || p->s->stopping)
        return;
    lp->connected = true;
    if (longpoll_issue(lp) != 0)
        subscriber_retry(p->s);
}

/* The dialect's packets to the server go as POSTs beside the waiting GET. */
static int longpoll_send(struct subscriber *s, const char *data, size_t len)
{
    struct long_poll *lp = s->impl;
    if (!lp->out && !(lp->out = outbox_new(s)))
        return -1;
    return outbox_send(lp->out, data, len);
}

static int longpoll_start(struct subscriber *s)
{
    struct long_poll *lp = s->impl;
    if (!lp) {
        lp = calloc(1, sizeof *lp);
        if (!lp || poller_init(&lp->p, s, on_answered) != 0) {
            free(lp);
            return -1;
        }
        s->impl = lp;
        s->send = longpoll_send;
    } else if (lp->out) {
        outbox_clear(lp->out);        /* a retry: those were the old connection's */
    }
    return longpoll_issue(lp);
}

static void longpoll_drop(struct subscriber *s)
{
    struct long_poll *lp = s->impl;
    if (!lp || !lp->p.x.active)
        return;
    /* Abort the waiting request and its connection; ask again at once. */
    poller_cancel(&lp->p);
    if (lp->out)
        outbox_clear(lp->out);
    lp->p.fresh = true;
    subscriber_dropped(s);
    if (longpoll_issue(lp) != 0)
        subscriber_retry(s);
}

static void longpoll_stop(struct subscriber *s)
{
    struct long_poll *lp = s->impl;
    if (!lp)
        return;
    poller_free(&lp->p);
    outbox_free(lp->out);
    free(lp);
    s->impl = NULL;
    s->send = NULL;
}

const struct transport_ops longpoll_ops = { longpoll_start, longpoll_drop, longpoll_stop };
