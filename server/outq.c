#include "outq.h"

#include <stdlib.h>
#include <string.h>

#define OUTQ_MIN_CAP 8

static struct outq_entry *entry_at(const struct outq *q, size_t i)
{
    return &q->ring[(q->head + i) & (q->cap - 1)];
}

/* Double the ring, unrolling it so the head is at 0 again. */
static int outq_grow(struct outq *q)
{
    size_t cap = q->cap ? q->cap * 2 : OUTQ_MIN_CAP;
    struct outq_entry *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = *entry_at(q, i);
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int outq_push(struct outq *q, struct shbuf *owner, const void *p, size_t len)
{
    if (q->count == q->cap && outq_grow(q) != 0)
        return -1;
    *entry_at(q, q->count++) = (struct outq_entry){ owner, p, len };
    if (owner)
        shbuf_ref(owner);
    q->bytes += len;
    return 0;
}

int outq_push_copy(struct outq *q, const void *p, size_t len)
{
    struct shbuf *b = shbuf_alloc(sizeof *b + len);
    if (!b)
        return -1;
    memcpy(b + 1, p, len);
    int rc = outq_push(q, b, b + 1, len);
    shbuf_unref(b);                   /* the queue's reference is the only one */
    return rc;
}

int outq_iov(const struct outq *q, struct iovec *iov, int max)
{
    int n = 0;
    for (size_t i = 0; i < q->count && n < max; i++, n++) {
        const struct outq_entry *e = entry_at(q, i);
        size_t skip = i == 0 ? q->off : 0;
        iov[n].iov_base = (void *)(e->p + skip);
        iov[n].iov_len = e->len - skip;
    }
    return n;
}

/* The head entry is done: drop its reference. A drained queue frees its
 * ring, so an idle subscriber holds none. */
static void outq_pop(struct outq *q)
{
    shbuf_unref(q->ring[q->head].owner);
    q->head = (q->head + 1) & (q->cap - 1);
    q->off = 0;
    if (--q->count == 0) {
        free(q->ring);
        q->ring = NULL;
        q->cap = q->head = 0;
    }
}

void outq_consume(struct outq *q, size_t n)
{
    q->bytes -= n;
    while (n > 0) {
        size_t left = q->ring[q->head].len - q->off;
        if (n < left) {
            q->off += n;
            return;
        }
        n -= left;
        outq_pop(q);
    }
    /* Empty entries at the head are finished too. */
    while (q->count && q->ring[q->head].len == q->off)
        outq_pop(q);
}

size_t outq_copy_out(struct outq *q, char *buf, size_t max)
{
    size_t done = 0;
    for (size_t i = 0; i < q->count && done < max; i++) {
        const struct outq_entry *e = entry_at(q, i);
        size_t skip = i == 0 ? q->off : 0;
        size_t n = e->len - skip < max - done ? e->len - skip : max - done;
        memcpy(buf + done, e->p + skip, n);
        done += n;
    }
    outq_consume(q, done);
    return done;
}

void outq_trim(struct outq *q)
{
    size_t keep = q->off > 0;
    while (q->count > keep) {
        struct outq_entry *e = entry_at(q, --q->count);
        q->bytes -= e->len;
        shbuf_unref(e->owner);
    }
    if (q->count == 0)
        outq_clear(q);
}

void outq_clear(struct outq *q)
{
    while (q->count)
        outq_pop(q);
    free(q->ring);
    *q = (struct outq){ 0 };
}
