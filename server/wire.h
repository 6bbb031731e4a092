/* A message's bytes on the wire, made once when it is published and then
 * shared by every subscriber (issue 11): the JSON envelope (poll and
 * long-poll answers), the SSE event and the WebSocket text frame (a
 * server's frames are unmasked, so every subscriber gets the same bytes).
 * Also the WebSocket frame header for the frames a session makes itself. */
#ifndef PUSHPULL_WIRE_H
#define PUSHPULL_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct bus_msg;

/* The message with every encoding, one block with one reference (shbuf.h);
 * NULL when out of memory. The payload must be valid UTF-8. */
struct bus_msg *wire_msg_new(uint64_t id, uint64_t ts_us, const char *data, size_t len);

/* The longest WebSocket frame header a server writes (no mask). */
#define WIRE_WS_HEADER_MAX 10
/* A final, unmasked frame header for `len` payload bytes; its length. */
size_t wire_ws_header(uint8_t *out, uint8_t opcode, uint64_t len);

#endif
