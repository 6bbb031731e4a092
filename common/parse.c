#include "parse.h"

/* Not isalnum(): the locale must not widen what a channel name may hold. */
static bool channel_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool parse_channel_name(const char *s, size_t len)
{
    if (len == 0 || len > CHANNEL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!channel_char(s[i]))
            return false;
    }
    return true;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)  /* v * 10 + d > max */
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
