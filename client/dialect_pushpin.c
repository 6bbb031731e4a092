/* Pushpin 1.36 in front of peers/pushpin's origin (GRIP), which frames
 * messages as pushpull's envelope in pushpull's answers: publish with POST
 * /pub/{ch} (through Pushpin to the origin, which publishes to Pushpin's
 * control API); long poll GET /longpoll/{ch}?since=N&timeout=S (a held
 * response, one message per answer; the origin answers at once from its
 * short history when the cursor is behind, so long polls lose nothing
 * between requests); SSE GET /sse/{ch} (a held stream); WebSocket /ws/{ch}
 * (WebSocket-over-HTTP to the origin). Pushpin keeps no history: streams
 * and WebSockets start from the next message, with no cursor to resume
 * from, so what is published while one reconnects is lost (and counted).
 * Short polling is not something Pushpin does: not offered. */
#include <stdio.h>

#include "dialect.h"
#include "subscriber.h"

static bool publish_accepted(long status)
{
    return status == 200;
}

static int request(const struct subscriber *s, enum transport t, bool first, char *url,
                   size_t cap, struct curl_slist **headers)
{
    if (t == TR_LONGPOLL)             /* the same query as pushpull's */
        return dialect_pushpull.request(s, t, first, url, cap, headers);
    char channel[64];
    run_channel_name(s->run, s->track.channel, channel, sizeof channel);
    int n = snprintf(url, cap, "%s%s%s", s->run->cfg->url, t == TR_SSE ? "/sse/" : "/ws/",
                     channel);
    if (t == TR_SSE)
        *headers = curl_slist_append(*headers, "Accept: text/event-stream");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

const struct dialect dialect_pushpin = {
    .name = "pushpin",
    .offers = { false, true, true, true },
    .has_stats = false,
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
