/* The message envelope, the same JSON object on every transport:
 *   {"id":42,"ts":1764059000123456,"data":"<text payload>"}          */
#ifndef PUSHPULL_ENVELOPE_H
#define PUSHPULL_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case bytes json_escape() writes for n input bytes (\u00XX = 6x). */
#define JSON_ESCAPED_MAX(n) ((n) * 6)

/* Write `src` JSON-escaped (no surrounding quotes) into dst, which holds at
 * least JSON_ESCAPED_MAX(n) bytes. Escapes ", \, and every byte < 0x20
 * (\b \f \n \r \t short forms, \u00XX otherwise); bytes >= 0x80 are copied
 * (the input is validated UTF-8). Returns bytes written. */
size_t json_escape(char *dst, const char *src, size_t n);

/* Exact length of an envelope (without the NUL), and the envelope written
 * into dst, which holds envelope_len(...) + 1 bytes. Returns the length. */
size_t envelope_len(uint64_t id, uint64_t ts_us, const char *data, size_t len);
size_t envelope_write(char *dst, uint64_t id, uint64_t ts_us, const char *data,
                      size_t len);

/* Encode one envelope into a malloc'd NUL-terminated string; *out_len gets
 * its length. NULL on allocation failure. */
char *envelope_encode(uint64_t id, uint64_t ts_us, const char *data,
                      size_t len, size_t *out_len);

struct envelope {
    uint64_t id;
    uint64_t ts_us;
    char *data;     /* malloc'd, NUL-terminated; free with envelope_clear */
    size_t data_len;
};

/* The server's own form, {"id":N,"ts":N,"data":"..."} with no escape in
 * data and data valid UTF-8, read in place without allocating: the client
 * sees one per delivery. Whatever it accepts, envelope_decode accepts alike.
 * Returns 1 and sets the fields (*data points into json), or 0 when the text
 * is not in exactly that form; then envelope_decode decides. */
int envelope_peek(const char *json, size_t len, uint64_t *id, uint64_t *ts_us,
                  const char **data, size_t *data_len);

/* Parse one envelope (jansson). Returns 0, or -1 when the text is not a JSON
 * object with an integer id >= 1, an integer ts >= 0 and a string data.
 * Duplicate keys and trailing text are rejected, other members ignored; id
 * and ts go up to INT64_MAX (jansson's integer). data may hold NUL bytes
 * (\u0000). On -1 *out is left cleared, so envelope_clear() is always safe. */
int envelope_decode(const char *json, size_t len, struct envelope *out);
void envelope_clear(struct envelope *e);

#endif
