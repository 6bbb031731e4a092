/* Small validators for what arrives in URLs and query strings. */
#ifndef PUSHPULL_PARSE_H
#define PUSHPULL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHANNEL_NAME_MAX 64

/* [A-Za-z0-9_.-]{1,64} */
bool parse_channel_name(const char *s, size_t len);

/* A non-negative decimal integer in a NUL-terminated string: digits only (no
 * sign, space or suffix; leading zeros are fine), at most `max`. Returns 0
 * and sets *out, or -1 and leaves *out untouched. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
