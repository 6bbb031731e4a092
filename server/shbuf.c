#include "shbuf.h"

#include <stdlib.h>

static size_t live_blocks, live_bytes;

void *shbuf_alloc(size_t size)
{
    struct shbuf *b = malloc(size);
    if (!b)
        return NULL;
    b->refs = 1;
    b->size = size;
    live_blocks++;
    live_bytes += size;
    return b;
}

void shbuf_ref(struct shbuf *b)
{
    b->refs++;
}

void shbuf_unref(struct shbuf *b)
{
    if (!b || --b->refs > 0)
        return;
    live_blocks--;
    live_bytes -= b->size;
    free(b);
}

size_t shbuf_live_blocks(void) { return live_blocks; }
size_t shbuf_live_bytes(void) { return live_bytes; }
