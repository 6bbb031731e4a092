#include "crowd.h"

#include <event2/event.h>
#include <stdlib.h>

#include "dialect.h"

const struct transport_ops *transport_ops_of(enum transport t)
{
    static const struct transport_ops *const ops[TR_COUNT] = {
        &poll_ops, &longpoll_ops, &sse_ops, &ws_ops,
    };
    return ops[t];
}

int crowd_init(struct crowd *c, struct run *run, struct loop *loop, unsigned first,
               unsigned stride, double connect_rate)
{
    const struct client_config *cfg = run->cfg;
    c->run = run;
    c->loop = loop;
    c->connect_rate = connect_rate;
    c->n = first < cfg->subscribers ? (cfg->subscribers - first + stride - 1) / stride : 0;
    c->subs = calloc(c->n ? c->n : 1, sizeof *c->subs);
    c->churn_due = calloc(c->n ? c->n : 1, sizeof *c->churn_due);
    if (!c->subs || !c->churn_due)
        return -1;
    size_t seen_bytes = (size_t)(run->seq_cap / 8 + 1);
    uint64_t now = run_now_us();
    for (unsigned j = 0; j < c->n; j++) {
        struct subscriber *s = &c->subs[j];
        s->run = run;
        s->loop = loop;
        s->index = first + j * stride;
        s->track.channel = s->index % cfg->channels;
        s->track.seen = calloc(seen_bytes, 1);
        /* The dialect's state per subscriber (an Engine.IO session). */
        size_t session = dialect_of(cfg)->session_size;
        s->session = session ? calloc(1, session) : NULL;
        if (!s->track.seen || (session && !s->session))
            return -1;
        /* Churn at a random phase, so drops are spread over the period. */
        c->churn_due[j] = now + cfg->warmup_us / 2 +
                          (cfg->churn_us ? (uint64_t)random() % cfg->churn_us : 0);
    }
    return 0;
}

static void start_one(struct crowd *c, unsigned j)
{
    struct subscriber *s = &c->subs[j];
    s->track.connect_start_us = run_now_us();
    if (transport_ops_of(c->run->transport)->start(s) != 0)
        subscriber_retry(s);
}

void crowd_ramp(struct crowd *c, uint64_t ramp_start_us, uint64_t now_us)
{
    unsigned target = c->n;
    if (c->connect_rate > 0) {
        double n = (double)(now_us - ramp_start_us) / 1e6 * c->connect_rate + 1;
        target = n < (double)c->n ? (unsigned)n : c->n;
    }
    while (c->started < target)
        start_one(c, c->started++);
}

unsigned crowd_connected(const struct crowd *c)
{
    unsigned n = 0;
    for (unsigned j = 0; j < c->started; j++)
        n += c->subs[j].track.connected;
    return n;
}

void crowd_churn(struct crowd *c, uint64_t now_us)
{
    const struct transport_ops *ops = transport_ops_of(c->run->transport);
    for (unsigned j = 0; j < c->started; j++) {
        if (now_us < c->churn_due[j])
            continue;
        c->churn_due[j] += c->run->cfg->churn_us;
        ops->drop(&c->subs[j]);
    }
}

void crowd_settle_unacked(struct crowd *c, struct run *run)
{
    unsigned channels = run->cfg->channels;
    for (uint64_t k = run->k_measure_from; k < run->k_measure_to; k++) {
        if (!run->sent_us[k] || run_acked(run, k))
            continue;                 /* the usual case: one test per message */
        for (unsigned j = 0; j < c->n; j++)
            if (c->subs[j].track.channel == k % channels)
                track_unacked(run, &c->subs[j].track, k);
    }
}

void crowd_count_received(const struct crowd *c, const struct run *run, uint32_t *got)
{
    unsigned channels = run->cfg->channels;
    for (unsigned j = 0; j < c->n; j++) {
        const struct sub_track *t = &c->subs[j].track;
        /* the first measured message on this subscriber's channel */
        uint64_t k = run->k_measure_from + (t->channel + channels - run->k_measure_from % channels) % channels;
        for (; k < run->k_measure_to; k += channels)
            if (track_received(t, k / channels))
                got[k - run->k_measure_from]++;
    }
}

void crowd_free(struct crowd *c)
{
    const struct transport_ops *ops = transport_ops_of(c->run->transport);
    for (unsigned j = 0; c->subs && j < c->n; j++) {
        struct subscriber *s = &c->subs[j];
        s->stopping = true;
        if (s->impl)
            ops->stop(s);
        if (s->retry_timer)
            event_free(s->retry_timer);
        free(s->track.seen);
        free(s->session);
    }
    free(c->subs);
    free(c->churn_due);
    c->subs = NULL;
    c->churn_due = NULL;
    c->n = 0;
}
