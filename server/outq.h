/* A subscriber's outbound queue: references to shared bytes (shbuf.h), not
 * copies. Each entry is one range of one block (a whole WebSocket frame, a
 * whole SSE event); the queue hands out everything pending as an iovec
 * array for one writev, or copies it into a caller's buffer (MHD's, for
 * SSE), and a partial write keeps its offset inside the first entry.
 * `bytes` counts what the queue references and has not written: what
 * --max-queue bounds. */
#ifndef PUSHPULL_OUTQ_H
#define PUSHPULL_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "shbuf.h"

struct outq_entry {
    struct shbuf *owner;              /* NULL: static bytes */
    const char *p;
    size_t len;
};

struct outq {
    struct outq_entry *ring;          /* NULL while empty: idle costs nothing */
    size_t head, count, cap;          /* cap a power of two */
    size_t off;                       /* bytes of the head entry already written */
    size_t bytes;                     /* referenced, not yet written */
};

/* Queue len bytes at p, inside `owner` (one more reference is taken) or
 * static (owner NULL). -1 when out of memory: nothing was queued. */
int outq_push(struct outq *q, struct shbuf *owner, const void *p, size_t len);
/* Queue a copy of len bytes (a frame of this subscriber's own). */
int outq_push_copy(struct outq *q, const void *p, size_t len);

/* Up to max iovecs of what is pending, in order; how many. */
int outq_iov(const struct outq *q, struct iovec *iov, int max);
/* n bytes went out: release the entries they finished. */
void outq_consume(struct outq *q, size_t n);
/* Copy up to max pending bytes into buf and consume them; how many. */
size_t outq_copy_out(struct outq *q, char *buf, size_t max);

static inline bool outq_empty(const struct outq *q) { return q->count == 0; }
static inline size_t outq_bytes(const struct outq *q) { return q->bytes; }
/* Is the head entry partly written? Then only its rest may follow (a
 * WebSocket frame cannot be cut into). */
static inline bool outq_mid_entry(const struct outq *q) { return q->off > 0; }

/* Release every entry but a partly written head. */
void outq_trim(struct outq *q);
/* Release everything. */
void outq_clear(struct outq *q);

#endif
