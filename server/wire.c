#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "envelope.h"
#include "shbuf.h"

#define WS_OPCODE_TEXT 0x1
/* "id: " + 20 digits + "\ndata: " */
#define SSE_PREFIX_MAX 32

size_t wire_ws_header(uint8_t *out, uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | opcode);             /* FIN */
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* Layout of the block: the struct, the frame header right before the
 * envelope (so the frame is one range), a NUL, then the SSE event, which
 * repeats the envelope between its prefix and "\n\n" (one range too: a
 * partial write then keeps a single offset). */
struct bus_msg *wire_msg_new(uint64_t id, uint64_t ts_us, const char *data, size_t len)
{
    size_t json_len = envelope_len(id, ts_us, data, len);
    size_t size = sizeof(struct bus_msg) + WIRE_WS_HEADER_MAX + json_len + 1 +
                  SSE_PREFIX_MAX + json_len + 2;
    struct bus_msg *m = shbuf_alloc(size);
    if (!m)
        return NULL;
    uint8_t hdr[WIRE_WS_HEADER_MAX];
    size_t hlen = wire_ws_header(hdr, WS_OPCODE_TEXT, json_len);
    uint8_t *p = (uint8_t *)(m + 1);
    memcpy(p, hdr, hlen);
    char *json = (char *)p + hlen;
    envelope_write(json, id, ts_us, data, len);    /* NUL-terminated */
    char *sse = json + json_len + 1;
    int plen = snprintf(sse, SSE_PREFIX_MAX, "id: %llu\ndata: ", (unsigned long long)id);
    memcpy(sse + plen, json, json_len);
    memcpy(sse + plen + json_len, "\n\n", 2);
    m->id = id;
    m->ts_us = ts_us;
    m->json = json;
    m->json_len = json_len;
    m->ws = p;
    m->ws_len = hlen + json_len;
    m->sse = sse;
    m->sse_len = (size_t)plen + json_len + 2;
    return m;
}
