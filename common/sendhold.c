#include "sendhold.h"

#include <string.h>

/* One write's worth of header and payload: TLS's largest plaintext record. */
#define SEND_HOLD_CHUNK 16384

ssize_t send_hold_send(struct send_hold *h, const uint8_t *data, size_t len, bool more,
                       send_hold_write_fn write, void *ud)
{
    if (more && h->len + len <= sizeof h->buf) {
        memcpy(h->buf + h->len, data, len);
        h->len += len;
        return (ssize_t)len;
    }
    uint8_t out[SEND_HOLD_CHUNK];
    const uint8_t *p = data;
    size_t total = len;
    if (h->len) {
        size_t take = len < sizeof out - h->len ? len : sizeof out - h->len;
        memcpy(out, h->buf, h->len);
        memcpy(out + h->len, data, take);
        p = out;
        total = h->len + take;
    }
    ssize_t n = write(ud, p, total);
    if (n < 0)
        return -1;
    size_t held = (size_t)n < h->len ? (size_t)n : h->len;
    memmove(h->buf, h->buf + held, h->len - held);
    h->len -= held;
    return (ssize_t)((size_t)n - held);
}
