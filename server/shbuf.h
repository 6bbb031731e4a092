/* A reference-counted block of bytes shared by many outbound queues: a
 * published message (every transport's encoding of it, bus.h) or a small
 * frame of one subscriber's own. The struct is the first member of the
 * malloc'd block; the last reference frees the block. One thread: plain
 * counts. */
#ifndef PUSHPULL_SHBUF_H
#define PUSHPULL_SHBUF_H

#include <stddef.h>

struct shbuf {
    unsigned refs;
    size_t size;                      /* of the whole block, for the counters */
};

/* A block of `size` bytes (shbuf first) with one reference; NULL when out
 * of memory. */
void *shbuf_alloc(size_t size);
void shbuf_ref(struct shbuf *b);
void shbuf_unref(struct shbuf *b);    /* NULL: nothing */

/* Blocks alive and their bytes: /stats, and the tests that every
 * reference came back. */
size_t shbuf_live_blocks(void);
size_t shbuf_live_bytes(void);

#endif
