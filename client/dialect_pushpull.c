/* pushpull-server's own protocol (docs/PROTOCOL.md): a JSON envelope per
 * message on every transport, ?since=N&epoch=E cursors (SSE's in
 * Last-Event-ID), and the server's gap, hello and reset objects. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "dialect.h"
#include "subscriber.h"

static const char *const paths[TR_COUNT] = { "/poll/", "/longpoll/", "/sse/", "/ws/" };

static bool publish_accepted(long status)
{
    return status == 200;
}

/* A long poller's first request asks for timeout=0: its answer says the
 * subscriber is connected before the publisher starts. */
static void longpoll_query(const struct subscriber *s, bool first, char *url, size_t cap)
{
    const struct client_config *cfg = s->run->cfg;
    unsigned timeout_s = first ? 0 : (unsigned)(cfg->longpoll_timeout_us / 1000000);
    size_t n = strlen(url);
    snprintf(url + n, cap - n, "&timeout=%u", timeout_s);
}

static int request(const struct subscriber *s, enum transport t, bool first, char *url,
                   size_t cap, struct curl_slist **headers)
{
    /* SSE sends its cursor in Last-Event-ID, as a browser's would; none
     * yet: since=0 (everything retained), not "new messages only". */
    bool in_header = t == TR_SSE && s->track.last_id > 0;
    subscriber_url(s, paths[t], in_header, url, cap);
    if (t == TR_LONGPOLL)
        longpoll_query(s, first, url, cap);
    if (in_header) {
        char h[64];
        snprintf(h, sizeof h, "Last-Event-ID: %llu", (unsigned long long)s->track.last_id);
        *headers = curl_slist_append(*headers, h);
    }
    if (t == TR_SSE)
        *headers = curl_slist_append(*headers, "Accept: text/event-stream");
    return 0;
}

/* {"epoch":E,"last_id":L,"messages":[envelope...],"reset":true?,"lost":K?} */
int pushpull_poll_answer(struct subscriber *s, const struct poll_answer *a, bool *empty)
{
    struct run *run = s->run;
    uint64_t now = s->rx_us;
    *empty = true;
    if (a->status != 200)
        return -1;
    json_t *doc = json_loadb(a->body, a->len, JSON_ALLOW_NUL, NULL);
    json_t *msgs = doc ? json_object_get(doc, "messages") : NULL;
    if (!json_is_array(msgs)) {
        json_decref(doc);
        run->cost.protocol_errors++;
        return -1;
    }
    /* Epoch and reset first: they say which start the ids below are of. */
    json_t *epoch = json_object_get(doc, "epoch");
    if (json_is_integer(epoch))
        track_epoch(run, &s->track, (uint64_t)json_integer_value(epoch));
    if (json_is_true(json_object_get(doc, "reset")))
        track_reset(run, &s->track, s->track.epoch);
    json_t *lost = json_object_get(doc, "lost");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *id = json_object_get(m, "id"), *data = json_object_get(m, "data");
        if (!json_is_integer(id) || !json_is_string(data)) {
            run->cost.protocol_errors++;
            continue;
        }
        if (i == 0 && json_is_integer(lost))
            track_gap(run, &s->track, (uint64_t)json_integer_value(lost),
                      (uint64_t)json_integer_value(id));
        track_message(run, &s->track, (uint64_t)json_integer_value(id),
                      json_string_value(data), json_string_length(data), now);
        *empty = false;
    }
    json_decref(doc);
    return 0;
}

static bool type_is(const struct sse_event *ev, const char *type)
{
    return ev->type_len == strlen(type) && memcmp(ev->type, type, ev->type_len) == 0;
}

int pushpull_sse_event(struct subscriber *s, const struct sse_event *ev)
{
    static const char *const known[] = { "message", "gap", "hello", "reset" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (type_is(ev, known[i]))
            return track_envelope_at(s->run, &s->track, ev->data, ev->data_len, s->rx_us);
    return 0;                         /* an event type we do not know: skip it */
}

int pushpull_ws_text(struct subscriber *s, const char *text, size_t len)
{
    return track_envelope_at(s->run, &s->track, text, len, s->rx_us);
}

const struct dialect dialect_pushpull = {
    .name = "pushpull",
    .offers = { true, true, true, true },
    .has_stats = true,
    .poll_one_per_answer = false,
    .poll_headers = false,
    .longpoll_waits_forever = false,
    .ws_protocol = NULL,
    .publish_accepted = publish_accepted,
    .request = request,
    .poll_answer = pushpull_poll_answer,
    .sse_event = pushpull_sse_event,
    .ws_text = pushpull_ws_text,
};
