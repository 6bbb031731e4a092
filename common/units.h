/* Command-line units: durations ("500ms", "15s") and sizes ("64KiB"). */
#ifndef PUSHPULL_UNITS_H
#define PUSHPULL_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unit {
    const char *suffix;
    uint64_t mult;
};

/* A decimal number ("12", "1.5") followed by exactly one of the suffixes,
 * times that suffix's multiplier; the fraction is floored exactly, however
 * many digits it has. Returns 0, or -1 (*out untouched) on junk, an unknown
 * suffix or overflow. The parsers below and the relay's bit rates use it. */
int units_parse_decimal(const char *s, const struct unit *units, size_t n,
                        bool ignore_case, uint64_t *out);

/* Duration to microseconds. Suffixes (lower case only; "M" is not guessed
 * at): us, ms, s, m, h; a bare number is seconds. A decimal fraction with
 * digits on both sides of the point is allowed ("1.5s", "0.25"); the result
 * is exact, rounded down to whole microseconds. Returns 0, or -1 (*out_us
 * untouched) on an empty string, an unknown suffix, junk, a sign, a space,
 * or a value above UINT64_MAX us. */
int units_parse_duration_us(const char *s, uint64_t *out_us);

/* Size to bytes. Suffixes (case-insensitive): B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB; all powers of 1024 (a benchmark flag, not a disk label). A bare
 * number is bytes. Integers only. Returns 0, or -1 as above (*out_bytes
 * untouched). */
int units_parse_size(const char *s, uint64_t *out_bytes);

#endif
