#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "subscriber.h"

struct out_msg {
    struct out_msg *next;
    size_t len;
    char data[];
};

struct outbox {
    struct loop_xfer x;               /* first: the loop calls back with it */
    struct subscriber *s;
    struct curl_slist *headers;
    struct out_msg *head, *tail;      /* head is under way while x.active */
};

static size_t discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static void pop(struct outbox *o)
{
    struct out_msg *m = o->head;
    o->head = m->next;
    if (!o->head)
        o->tail = NULL;
    free(m);
}

/* POST the first waiting message. -1 when it cannot go (dropped). */
static int post_head(struct outbox *o)
{
    char url[800];
    curl_slist_free_all(o->headers);
    o->headers = curl_slist_append(NULL, "Content-Type: text/plain;charset=UTF-8");
    if (dialect_of(o->s->run->cfg)->request(o->s, TR_LONGPOLL, false, url, sizeof url,
                                            &o->headers) != 0)
        return -1;
    curl_easy_setopt(o->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(o->x.easy, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(o->x.easy, CURLOPT_POSTFIELDS, (char *)o->head->data);
    curl_easy_setopt(o->x.easy, CURLOPT_POSTFIELDSIZE, (long)o->head->len);
    curl_easy_setopt(o->x.easy, CURLOPT_TIMEOUT_MS,
                     (long)(o->s->run->cfg->connect_timeout_us / 1000) + 5000);
    return loop_add(o->s->loop, &o->x);
}

static void send_next(struct outbox *o)
{
    while (o->head && post_head(o) != 0) {
        o->s->run->cost.transport_errors++;
        pop(o);
    }
}

static void on_done(struct loop_xfer *x, CURLcode result)
{
    struct outbox *o = (struct outbox *)x;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    subscriber_account_request(o->s, x->easy);
    subscriber_account_response(o->s, x->easy);
    if (result != CURLE_OK || status != 200)
        o->s->run->cost.transport_errors++;
    pop(o);
    send_next(o);
}

struct outbox *outbox_new(struct subscriber *s)
{
    struct outbox *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->s = s;
    o->x.done = on_done;
    o->x.easy = subscriber_easy(s, discard, NULL);
    if (!o->x.easy) {
        free(o);
        return NULL;
    }
    return o;
}

int outbox_send(struct outbox *o, const char *data, size_t len)
{
    struct out_msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    bool idle = !o->head;
    if (o->tail)
        o->tail->next = m;
    else
        o->head = m;
    o->tail = m;
    if (idle)
        send_next(o);
    return 0;
}

void outbox_clear(struct outbox *o)
{
    loop_remove(o->s->loop, &o->x);
    while (o->head)
        pop(o);
}

void outbox_free(struct outbox *o)
{
    if (!o)
        return;
    outbox_clear(o);
    curl_easy_cleanup(o->x.easy);
    curl_slist_free_all(o->headers);
    free(o);
}
