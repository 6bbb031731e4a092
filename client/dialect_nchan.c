/* Nchan 1.3.6 (nginx module), as peers/nchan configures it: publish with
 * POST /pub/{ch}; interval poll on /poll/{ch}; long poll, SSE and WebSocket
 * on /sub/{ch}, chosen by request headers. Messages arrive as published
 * (no envelope). A message id is "<seconds>:<tag>"; the cursor key is
 * seconds << 16 | tag. Nchan never says that a cursor fell out of its
 * buffer (it serves the oldest message instead): only the payload's own
 * sequence numbers show such a loss, and they do (track_message). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dialect.h"
#include "parse.h"
#include "subscriber.h"

#define TAG_BITS 16

/* 201: someone listened; 202: the message was stored for nobody yet. */
static bool publish_accepted(long status)
{
    return status == 201 || status == 202;
}

#define TAG_MAX ((1u << TAG_BITS) - 1)
#define SECONDS_MAX ((1ull << 40) - 1)

/* One decimal field of an id (not NUL-terminated), through parse_u64. */
static int id_field(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return parse_u64(buf, max, out);
}

/* "<seconds>:<tag>" to a key; 0 if it is not one. */
static uint64_t id_key(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    uint64_t t, g;
    if (!colon || id_field(s, (size_t)(colon - s), SECONDS_MAX, &t) != 0 ||
        id_field(colon + 1, len - (size_t)(colon + 1 - s), TAG_MAX, &g) != 0)
        return 0;
    return t << TAG_BITS | g;
}

/* Long and interval polls resume as Nchan documents it: the previous
 * answer's Last-Modified (the id's seconds) and ETag (its tag). */
static void poll_cursor(const struct subscriber *s, struct curl_slist **headers)
{
    uint64_t key = s->track.last_id;
    if (!key)
        return;
    time_t t = (time_t)(key >> TAG_BITS);
    struct tm tm;
    char date[64], h[96];
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(h, sizeof h, "If-Modified-Since: %s", date);
    *headers = curl_slist_append(*headers, h);
    snprintf(h, sizeof h, "If-None-Match: %llu", (unsigned long long)(key & TAG_MAX));
    *headers = curl_slist_append(*headers, h);
}

/* SSE and WebSocket resume with Last-Event-ID: <seconds>:<tag>. */
static void event_cursor(const struct subscriber *s, struct curl_slist **headers)
{
    uint64_t key = s->track.last_id;
    if (!key)
        return;
    char h[96];
    snprintf(h, sizeof h, "Last-Event-ID: %llu:%llu", (unsigned long long)(key >> TAG_BITS),
             (unsigned long long)(key & TAG_MAX));
    *headers = curl_slist_append(*headers, h);
}

static int request(const struct subscriber *s, enum transport t, bool first, char *url,
                   size_t cap, struct curl_slist **headers)
{
    char channel[64];
    run_channel_name(s->run, s->track.channel, channel, sizeof channel);
    /* A long poller's first request is an interval poll, answered at once:
     * it says the subscriber is connected before the publisher starts. */
    bool interval = t == TR_POLL || (t == TR_LONGPOLL && first);
    int n = snprintf(url, cap, "%s%s%s", s->run->cfg->url, interval ? "/poll/" : "/sub/", channel);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (t == TR_POLL || t == TR_LONGPOLL)
        poll_cursor(s, headers);
    else
        event_cursor(s, headers);
    if (t == TR_SSE)
        *headers = curl_slist_append(*headers, "Accept: text/event-stream");
    return 0;
}

/* multipart/mixed; boundary=B: "--B", then per part "\r\n" headers
 * "\r\n\r\n" data, parts joined by "\r\n--B", closed by "\r\n--B--". Parts
 * carry no id: the answer's headers name the last one. */
static int multipart_track(struct subscriber *s, const struct poll_answer *a, uint64_t now,
                           bool *empty)
{
    const char *b = strcasestr(a->content_type, "boundary=");
    char delim[96];
    if (!b || snprintf(delim, sizeof delim, "\r\n--%s", b + 9) >= (int)sizeof delim)
        return -1;
    const char *p = a->body, *end = a->body + a->len;
    size_t dlen = strlen(delim);
    if ((size_t)(end - p) < dlen - 2 || memcmp(p, delim + 2, dlen - 2) != 0)
        return -1;
    p += dlen - 2;
    while (end - p >= 2 && memcmp(p, "--", 2) != 0) {
        const char *data = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!data)
            return -1;
        data += 4;
        const char *stop = memmem(data, (size_t)(end - data), delim, dlen);
        if (!stop)
            return -1;
        track_message(s->run, &s->track, 0, data, (size_t)(stop - data), now);
        *empty = false;
        p = stop + dlen;
    }
    return end - p >= 2 ? 0 : -1;
}

static int poll_answer(struct subscriber *s, const struct poll_answer *a, bool *empty)
{
    uint64_t now = s->rx_us;
    *empty = true;
    /* 304: nothing newer (interval poll); 408: a long poll's time is up. */
    if (a->status != 200 && a->status != 304 && a->status != 408)
        return -1;
    if (a->status == 200) {
        if (strncasecmp(a->content_type, "multipart/mixed", 15) == 0) {
            if (multipart_track(s, a, now, empty) != 0) {
                s->run->cost.protocol_errors++;
                return -1;
            }
        } else {
            track_message(s->run, &s->track, 0, a->body, a->len, now);
            *empty = false;
        }
    }
    /* The cursor: Last-Modified's seconds and the ETag's tag. */
    struct tm tm = { 0 };
    uint64_t tag, key = 0;
    if (strptime(a->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm) &&
        parse_u64(a->etag, TAG_MAX, &tag) == 0)
        key = (uint64_t)timegm(&tm) << TAG_BITS | tag;
    /* An answer with a message names its id; an empty one for a channel
     * nobody has published to yet names none. */
    if (key)
        track_cursor(&s->track, key);
    else if (a->status == 200)
        s->run->cost.protocol_errors++;
    return 0;
}

static int sse_event(struct subscriber *s, const struct sse_event *ev)
{
    /* Nchan's ping is an event of type "ping" without data: skip it. */
    if (ev->type_len != 7 || memcmp(ev->type, "message", 7) != 0)
        return 0;
    uint64_t key = ev->has_id ? id_key(ev->id, ev->id_len) : 0;
    if (!key)
        s->run->cost.protocol_errors++;
    track_message(s->run, &s->track, key, ev->data, ev->data_len, s->rx_us);
    return 0;
}

/* ws+meta.nchan: "id: <seconds>:<tag>\n" [other header lines] "\n" data. */
static int ws_text(struct subscriber *s, const char *text, size_t len)
{
    const char *head_end = memmem(text, len, "\n\n", 2);
    if (len < 4 || memcmp(text, "id: ", 4) != 0 || !head_end) {
        s->run->cost.protocol_errors++;
        return -1;
    }
    const char *nl = memchr(text, '\n', len);
    uint64_t key = id_key(text + 4, (size_t)(nl - text - 4));
    if (!key)
        s->run->cost.protocol_errors++;
    const char *data = head_end + 2;
    track_message(s->run, &s->track, key, data, (size_t)(text + len - data), s->rx_us);
    return key ? 0 : -1;
}

const struct dialect dialect_nchan = {
    .name = "nchan",
    .offers = { true, true, true, true },
    .has_stats = false,
    .poll_one_per_answer = true,
    .poll_headers = true,
    .longpoll_waits_forever = true,
    .ws_protocol = "ws+meta.nchan",
    .publish_accepted = publish_accepted,
    .request = request,
    .poll_answer = poll_answer,
    .sse_event = sse_event,
    .ws_text = ws_text,
};
