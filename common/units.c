#include "units.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Read a run of decimal digits into *v. Returns the first non-digit, or NULL
 * when there is no digit or the value does not fit in 64 bits. */
static const char *digits_u64(const char *p, uint64_t *v)
{
    const char *start = p;
    uint64_t acc = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return NULL;
        acc = acc * 10 + d;
    }
    *v = acc;
    return p == start ? NULL : p;
}

/* a * b + c, or false on overflow. */
static bool mul_add_u64(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    if (b != 0 && a > (UINT64_MAX - c) / b)
        return false;
    *out = a * b + c;
    return true;
}

/* floor(0.<frac digits> * mult), exact for any number of digits: Horner's
 * rule from the last digit, where flooring at each step loses nothing
 * because floor((n + x) / 10) == floor((n + floor(x)) / 10). */
static uint64_t fraction_times(const char *frac, size_t n, uint64_t mult)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = ((uint64_t)(frac[i - 1] - '0') * mult + v) / 10;
    return v;
}

int units_parse_decimal(const char *s, const struct unit *units, size_t n,
                        bool ignore_case, uint64_t *out)
{
    uint64_t whole;
    const char *p = digits_u64(s, &whole);
    if (p == NULL)
        return -1;
    const char *frac = p;
    size_t nfrac = 0;
    if (*p == '.') {
        frac = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        nfrac = (size_t)(p - frac);
        if (nfrac == 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if ((ignore_case ? strcasecmp(p, units[i].suffix) : strcmp(p, units[i].suffix)) != 0)
            continue;
        uint64_t part = fraction_times(frac, nfrac, units[i].mult);
        return mul_add_u64(whole, units[i].mult, part, out) ? 0 : -1;
    }
    return -1;
}

int units_parse_duration_us(const char *s, uint64_t *out_us)
{
    /* Case-sensitive: "m" is minutes, and nothing else is guessed at. */
    static const struct unit units[] = {
        { "us", 1 }, { "ms", 1000 }, { "s", 1000000 }, { "", 1000000 },
        { "m", 60000000 }, { "h", 3600000000u },
    };
    return units_parse_decimal(s, units, sizeof units / sizeof units[0], false, out_us);
}

int units_parse_size(const char *s, uint64_t *out_bytes)
{
    static const struct unit units[] = {
        { "", 1 }, { "b", 1 },
        { "k", 1u << 10 }, { "kb", 1u << 10 }, { "kib", 1u << 10 },
        { "m", 1u << 20 }, { "mb", 1u << 20 }, { "mib", 1u << 20 },
        { "g", 1u << 30 }, { "gb", 1u << 30 }, { "gib", 1u << 30 },
    };
    uint64_t n;
    const char *p = digits_u64(s, &n);
    if (p == NULL)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].suffix) == 0)
            return mul_add_u64(n, units[i].mult, 0, out_bytes) ? 0 : -1;
    }
    return -1;
}
