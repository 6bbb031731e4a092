#include "poller.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers are at most --history messages of --max-message each; a bound
 * that keeps a broken server from growing the client without end. */
#define POLL_BODY_MAX (256u << 20)

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct poller *p = ud;
    size_t len = size * n;
    if (p->len + len > POLL_BODY_MAX)
        return 0;                     /* curl fails the transfer: counted */
    if (p->len + len + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 1024;
        while (cap < p->len + len + 1)
            cap *= 2;
        char *grown = realloc(p->body, cap);
        if (!grown)
            return 0;
        p->body = grown;
        p->cap = cap;
    }
    memcpy(p->body + p->len, data, len);
    p->len += len;
    return len;
}

int poll_answer_track(struct subscriber *s, const char *body, size_t len, bool *empty)
{
    struct run *run = s->run;
    uint64_t now = run_now_us();
    json_t *doc = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    json_t *msgs = doc ? json_object_get(doc, "messages") : NULL;
    *empty = true;
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

static void on_done(struct loop_xfer *x, CURLcode result)
{
    struct poller *p = (struct poller *)x;
    struct subscriber *s = p->s;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    subscriber_account_request(s, x->easy);
    subscriber_account_response(s, x->easy);
    bool empty = true;
    if (result != CURLE_OK || status != 200 ||
        poll_answer_track(s, p->body ? p->body : "", p->len, &empty) != 0) {
        subscriber_retry(s);
        p->answered(p, false, true);
        return;
    }
    if (empty)
        s->run->cost.empty_answers++;
    if (!s->track.connected)
        track_connected(s->run, &s->track);
    subscriber_ok(s);
    p->answered(p, true, empty);
}

int poller_init(struct poller *p, struct subscriber *s, poller_answered_fn answered)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->answered = answered;
    p->x.done = on_done;
    p->x.easy = subscriber_easy(s, on_body, p);
    return p->x.easy ? 0 : -1;
}

int poller_request(struct poller *p, const char *endpoint, const char *extra, long timeout_ms)
{
    char url[800];
    subscriber_url(p->s, endpoint, false, url, sizeof url);
    if (extra) {
        size_t n = strlen(url);
        snprintf(url + n, sizeof url - n, "%s", extra);
    }
    curl_easy_setopt(p->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(p->x.easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(p->x.easy, CURLOPT_FRESH_CONNECT, p->fresh ? 1L : 0L);
    p->fresh = false;
    p->len = 0;
    return loop_add(p->s->loop, &p->x);
}

void poller_cancel(struct poller *p)
{
    loop_remove(p->s->loop, &p->x);
}

void poller_free(struct poller *p)
{
    poller_cancel(p);
    if (p->x.easy)
        curl_easy_cleanup(p->x.easy);
    free(p->body);
}
