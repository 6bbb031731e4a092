/* What the server reads from a request by itself, each against a reference
 * written differently (so one bug is not in both): channel names
 * (parse_channel_name), query numbers (parse_u64), flag units
 * (units_parse_duration_us, units_parse_size), publish bodies (utf8_valid),
 * and the envelope a body becomes (envelope_encode), which must decode
 * (envelope_decode, envelope_peek) to the body again. The whole input is
 * the string for every parser. The references use unsigned __int128 (a
 * GCC/clang extension) so that no overflow case needs reasoning of its own. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "fuzz.h"
#include "parse.h"
#include "units.h"
#include "utf8.h"

typedef unsigned __int128 u128;

/* Digits at s into *v, saturating far above UINT64_MAX (never wraps).
 * Returns how many digits there were. */
static size_t ref_digits(const char *s, u128 *v)
{
    size_t n = 0;
    *v = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (*v <= (u128)UINT64_MAX * 1000)
            *v = *v * 10 + (u128)(s[n] - '0');
    }
    return n;
}

static void check_channel(const char *s, size_t len)
{
    static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    bool want = len >= 1 && len <= CHANNEL_NAME_MAX;
    for (size_t i = 0; i < len && want; i++)
        want = s[i] != '\0' && memchr(allowed, s[i], sizeof allowed - 1) != NULL;
    FUZZ_CHECK(parse_channel_name(s, len) == want);
}

static void check_u64(const char *s, uint64_t max)
{
    u128 v;
    size_t n = ref_digits(s, &v);
    bool want = n > 0 && s[n] == '\0' && v <= max;
    uint64_t out = 12345;
    int rc = parse_u64(s, max, &out);
    FUZZ_CHECK(rc == (want ? 0 : -1));
    FUZZ_CHECK(want ? out == (uint64_t)v : out == 12345);
}

/* floor(0.<frac> * mult) exactly, for at most 25 fraction digits (below
 * 10^25 * 3.6e9 < 2^128). */
static u128 ref_fraction(const char *frac, size_t n, uint64_t mult)
{
    u128 num = 0, den = 1;
    for (size_t i = 0; i < n; i++) {
        num = num * 10 + (u128)(frac[i] - '0');
        den *= 10;
    }
    return num * mult / den;
}

static void check_duration(const char *s)
{
    static const struct { const char *suffix; uint64_t mult; } units[] = {
        { "us", 1 }, { "ms", 1000 }, { "s", 1000000 }, { "", 1000000 },
        { "m", 60000000 }, { "h", 3600000000u },
    };
    uint64_t out = 777;
    int rc = units_parse_duration_us(s, &out);
    u128 whole;
    size_t nw = ref_digits(s, &whole), nf = 0;
    const char *frac = s + nw, *suffix = frac;
    bool syntax = nw > 0;                   /* digits first */
    if (syntax && *frac == '.') {
        frac++;
        while (frac[nf] >= '0' && frac[nf] <= '9')
            nf++;
        suffix = frac + nf;
        syntax = nf > 0;                    /* "1." and "1.s" are junk */
    }
    int unit = -1;
    for (int i = 0; syntax && i < (int)(sizeof units / sizeof units[0]); i++)
        if (strcmp(suffix, units[i].suffix) == 0)
            unit = i;
    if (unit < 0) {
        FUZZ_CHECK(rc == -1 && out == 777);
        return;
    }
    if (nf > 25)                            /* beyond the reference: syntax only */
        return;
    u128 want = whole * units[unit].mult + ref_fraction(frac, nf, units[unit].mult);
    if (whole > UINT64_MAX || want > UINT64_MAX) {
        FUZZ_CHECK(rc == -1 && out == 777);
    } else {
        FUZZ_CHECK(rc == 0 && out == (uint64_t)want);
    }
}

static void check_size(const char *s)
{
    static const char *const suffixes[] = { "", "b", "k", "kb", "kib", "m", "mb", "mib",
                                            "g", "gb", "gib" };
    static const unsigned shift[] = { 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30 };
    uint64_t out = 777;
    int rc = units_parse_size(s, &out);
    u128 n;
    size_t nd = ref_digits(s, &n);
    for (size_t i = 0; nd > 0 && i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcasecmp(s + nd, suffixes[i]) != 0)
            continue;
        u128 want = n << shift[i];
        if (n > UINT64_MAX || want > UINT64_MAX)
            FUZZ_CHECK(rc == -1 && out == 777);
        else
            FUZZ_CHECK(rc == 0 && out == (uint64_t)want);
        return;
    }
    FUZZ_CHECK(rc == -1 && out == 777);
}

/* RFC 3629 by decoding each code point, unlike utf8.c's byte-range table. */
static bool ref_utf8(const uint8_t *s, size_t n)
{
    static const uint32_t least[4] = { 0, 0x80, 0x800, 0x10000 };
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i];
        size_t more;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            more = 1, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            more = 2, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            more = 3, c &= 0x07;
        } else {
            return false;
        }
        if (n - i <= more)
            return false;
        for (size_t j = 1; j <= more; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + j] & 0x3F);
        }
        if (c < least[more] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

static bool needs_escape(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return true;
    return false;
}

/* A published body becomes an envelope; both client readers get it back. */
static void check_envelope(const char *body, size_t n, uint64_t id, uint64_t ts)
{
    size_t len;
    char *text = envelope_encode(id, ts, body, n, &len);
    FUZZ_CHECK(text != NULL && text[len] == '\0');
    FUZZ_CHECK(len == envelope_len(id, ts, body, n));
    struct envelope e;
    FUZZ_CHECK(envelope_decode(text, len, &e) == 0);
    FUZZ_CHECK(e.id == id && e.ts_us == ts && e.data_len == n);
    FUZZ_CHECK(n == 0 || memcmp(e.data, body, n) == 0);
    envelope_clear(&e);
    uint64_t pid, pts;
    const char *d;
    size_t dlen;
    int peeked = envelope_peek(text, len, &pid, &pts, &d, &dlen);
    FUZZ_CHECK(peeked == !needs_escape(body, n));
    if (peeked)
        FUZZ_CHECK(pid == id && pts == ts && dlen == n && memcmp(d, body, n) == 0);
    free(text);
}

static uint64_t load_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, and a NUL-terminated one for the C-string parsers. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_channel(s, size);
    check_u64(s, UINT64_MAX);
    check_u64(s, 1000);
    check_u64(s, size >= 8 ? load_u64(data) : size);
    check_duration(s);
    check_size(s);

    bool valid = utf8_valid(data, size);
    FUZZ_CHECK(valid == ref_utf8(data, size));
    if (valid) {
        /* id 1..INT64_MAX and ts 0..INT64_MAX: what the wire carries. */
        uint64_t id = size >= 8 ? load_u64(data) % INT64_MAX + 1 : size + 1;
        uint64_t ts = size >= 16 ? load_u64(data + 8) % ((uint64_t)INT64_MAX + 1) : 0;
        check_envelope(s, size, id, ts);
    }
    free(s);
    return 0;
}
