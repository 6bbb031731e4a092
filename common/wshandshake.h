/* RFC 6455 opening-handshake helpers shared by server and client. */
#ifndef PUSHPULL_WSHANDSHAKE_H
#define PUSHPULL_WSHANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24      /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a 20-byte SHA-1 */
#define WS_RESPONSE_MAX 8192  /* a client reads at most this much of the 101 answer */

/* A Sec-WebSocket-Key must be the base64 of exactly 16 bytes: 22 alphabet
 * characters then "==", in canonical form (the 4 unused bits of the last
 * character zero, as every encoder writes them), with no whitespace (the
 * caller trims the header value). */
bool ws_key_valid(const char *key);

/* out = base64(SHA-1(key + GUID)), NUL-terminated (OpenSSL).
 * Returns 0, or -1 when the key is invalid. */
int ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* A fresh random key for a client handshake (OpenSSL RAND_bytes).
 * Returns 0, or -1 when the random source fails. */
int ws_key_generate(char out[WS_KEY_LEN + 1]);

/* Check the server's answer to a client handshake sent with `key` (RFC 6455
 * 4.1): status line "HTTP/1.1 101", "Upgrade: websocket", "Connection:
 * Upgrade" (tokens, names and values case-insensitive), exactly one
 * Sec-WebSocket-Accept equal to ws_accept_for_key(key), and no
 * Sec-WebSocket-Extensions or -Protocol (none was asked for). Lines end in
 * CRLF or LF; continuation lines are refused. buf holds what has arrived so
 * far. Returns 1 when the header block is complete and valid (*consumed = its
 * length; what follows is already frame data), 0 when more is needed, -1 when
 * it is invalid or does not end within WS_RESPONSE_MAX bytes. */
int ws_check_response(const char *buf, size_t len, const char *key, size_t *consumed);
/* The same for a request that asked for subprotocol `protocol` (NULL:
 * none): the answer may name that one, once, and no other. */
int ws_check_response_protocol(const char *buf, size_t len, const char *key,
                               const char *protocol, size_t *consumed);

#endif
