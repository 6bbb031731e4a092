#include "utf8.h"

#include <string.h>

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Length of the ASCII prefix of s. Eight bytes per step, since most
 * published bodies are ASCII; memcpy keeps unaligned loads defined. */
static size_t ascii_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;
    for (; len - i >= sizeof(uint64_t); i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if (w & HIGH_BITS)
            break;
    }
    while (i < len && s[i] < 0x80)
        i++;
    return i;
}

/* Length of the multi-byte sequence at s (s[0] >= 0x80), or 0 when it is
 * invalid. The narrowed range of the second byte after E0, ED, F0 and F4
 * is what rules out overlongs, surrogates and code points > U+10FFFF
 * (Unicode Table 3-7); C0, C1 and F5-FF never start a sequence. */
static size_t sequence_len(const uint8_t *s, size_t avail)
{
    uint8_t lo = 0x80, hi = 0xBF;
    size_t n;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        else if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        else if (s[0] == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

bool utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        i += ascii_prefix(s + i, len - i);
        if (i == len)
            break;
        size_t n = sequence_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
