#include "utf8.h"
#include "unit.h"

#include <sys/mman.h>
#include <unistd.h>

struct bytes {
    const char *s;
    size_t len;
    const char *what;
};

#define B(lit, what) { lit, sizeof lit - 1, what }

static const struct bytes valid[] = {
    B("", "empty"),
    B("\x00", "U+0000"),
    B("\x7f", "U+007F, last 1-byte"),
    B("\xc2\x80", "U+0080, first 2-byte"),
    B("\xdf\xbf", "U+07FF, last 2-byte"),
    B("\xe0\xa0\x80", "U+0800, first 3-byte"),
    B("\xed\x9f\xbf", "U+D7FF, before surrogates"),
    B("\xee\x80\x80", "U+E000, after surrogates"),
    B("\xef\xbb\xbf", "U+FEFF, BOM"),
    B("\xef\xbf\xbe", "U+FFFE, noncharacter but valid"),
    B("\xef\xbf\xbf", "U+FFFF, last 3-byte"),
    B("\xf0\x90\x80\x80", "U+10000, first 4-byte"),
    B("\xf3\xbf\xbf\xbf", "U+FFFFF"),
    B("\xf4\x80\x80\x80", "U+100000"),
    B("\xf4\x8f\xbf\xbf", "U+10FFFF, last"),
    B("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "kosme"),
    B("a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80.", "mixed"),
};

static const struct bytes invalid[] = {
    B("\x80", "lone continuation"),
    B("\xbf", "lone continuation BF"),
    B("\x80\x80", "two continuations"),
    B("\xc0\x80", "overlong U+0000 (C0)"),
    B("\xc0\xaf", "overlong '/' (C0)"),
    B("\xc1\xbf", "overlong U+007F (C1)"),
    B("\xe0\x80\x80", "overlong U+0000 (3-byte)"),
    B("\xe0\x9f\xbf", "overlong U+07FF (3-byte)"),
    B("\xf0\x80\x80\x80", "overlong U+0000 (4-byte)"),
    B("\xf0\x8f\xbf\xbf", "overlong U+FFFF (4-byte)"),
    B("\xed\xa0\x80", "U+D800"),
    B("\xed\xaf\xbf", "U+DBFF"),
    B("\xed\xb0\x80", "U+DC00"),
    B("\xed\xbf\xbf", "U+DFFF"),
    B("\xed\xa0\xbd\xed\xb8\x80", "surrogate pair (CESU-8)"),
    B("\xf4\x90\x80\x80", "U+110000"),
    B("\xf4\xbf\xbf\xbf", "U+13FFFF"),
    B("\xf5\x80\x80\x80", "F5 lead"),
    B("\xf7\xbf\xbf\xbf", "F7 lead, U+1FFFFF"),
    B("\xf8\x88\x80\x80\x80", "5-byte form"),
    B("\xfc\x84\x80\x80\x80\x80", "6-byte form"),
    B("\xfe", "FE"),
    B("\xff", "FF"),
    B("\xc2", "truncated 2-byte"),
    B("\xe0\xa0", "truncated 3-byte"),
    B("\xf0\x90\x80", "truncated 4-byte"),
    B("\xc2\x41", "ASCII as continuation"),
    B("\xc2\xc2\x80", "lead as continuation"),
    B("\xe1\x80\x41", "ASCII as third byte"),
    B("\xe1\x80\xc0", "C0 as third byte"),
    B("\xf1\x80\x80\x41", "ASCII as fourth byte"),
    B("\xf1\x80\x80\xf1", "lead as fourth byte"),
    B("\xc3\xa9\xa9", "extra continuation"),
    B("abcdefgh\x80", "stray byte after a word of ASCII"),
};

/* utf8_valid on a heap copy of exactly len bytes, so ASan sees over-reads. */
static bool valid_copy(const void *s, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    memcpy(p, s, len);
    bool ok = utf8_valid(p, len);
    free(p);
    return ok;
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (!valid_copy(valid[i].s, valid[i].len))
            printf("#   rejected: %s\n", valid[i].what);
        CHECK(valid_copy(valid[i].s, valid[i].len));
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (valid_copy(invalid[i].s, invalid[i].len))
            printf("#   accepted: %s\n", invalid[i].what);
        CHECK(!valid_copy(invalid[i].s, invalid[i].len));
    }
    CHECK(utf8_valid(NULL, 0));
}

/* Cutting a valid string inside a sequence, or dropping any one byte of a
 * multi-byte sequence, must be rejected; cutting between characters not. */
static void test_truncations(void)
{
    static const uint8_t s[] = "x\xc3\xa9y\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbfz";
    static const uint8_t boundary[] = { 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1 };
    size_t len = sizeof s - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        bool want = cut == len || cut == 0 || boundary[cut - 1];
        if (valid_copy(s, cut) != want)
            printf("#   prefix of %zu bytes\n", cut);
        CHECK(valid_copy(s, cut) == want);
    }
    uint8_t drop[sizeof s];
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x80)
            continue;
        memcpy(drop, s, i);
        memcpy(drop + i, s + i + 1, len - i - 1);
        if (valid_copy(drop, len - 1))
            printf("#   byte %zu dropped\n", i);
        CHECK(!valid_copy(drop, len - 1));
    }
}

/* RFC 3629 read literally: decode, then check minimal length, range and
 * surrogates. Structured differently from the code under test on purpose. */
static bool reference_valid(const uint8_t *s, size_t len)
{
    static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Every 1-, 2- and 3-byte input; 4-byte inputs with every first and second
 * byte and the interesting values for the last two. */
static void test_against_reference(void)
{
    static const uint8_t edge[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                    0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF };
    size_t mismatches = 0;
    uint8_t b[4];
    for (unsigned x = 0; x < 1u << 24; x++) {
        b[0] = (uint8_t)(x >> 16), b[1] = (uint8_t)(x >> 8), b[2] = (uint8_t)x;
        if (x < 256)
            mismatches += utf8_valid(b + 2, 1) != reference_valid(b + 2, 1);
        if (x < 65536)
            mismatches += utf8_valid(b + 1, 2) != reference_valid(b + 1, 2);
        mismatches += utf8_valid(b, 3) != reference_valid(b, 3);
    }
    for (unsigned x = 0; x < 65536; x++) {
        b[0] = (uint8_t)(x >> 8), b[1] = (uint8_t)x;
        for (size_t i = 0; i < sizeof edge; i++) {
            for (size_t j = 0; j < sizeof edge; j++) {
                b[2] = edge[i], b[3] = edge[j];
                mismatches += utf8_valid(b, 4) != reference_valid(b, 4);
            }
        }
    }
    CHECK_EQ_U(mismatches, 0);
}

/* The word-at-a-time path: a bad byte, or a valid sequence, at every offset
 * and in every buffer length around the word size. */
static void test_every_offset(void)
{
    static const char *const bad[] = { "\x80", "\xc0\x80", "\xed\xa0\x80", "\xff", "\xc2" };
    static const char *const good[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f" };
    char buf[80];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                size_t n = strlen(bad[k]);
                memset(buf, 'a', sizeof buf);
                memcpy(buf + at, bad[k], n);
                CHECK(!valid_copy(buf, len + n));
            }
            for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
                size_t n = strlen(good[k]);
                memset(buf, 'a', sizeof buf);
                memcpy(buf + at, good[k], n);
                CHECK(valid_copy(buf, len + n));
                /* One byte short: a sequence cut by the end of the input. */
                if (n > 1 && at == len)
                    CHECK(!valid_copy(buf, len + n - 1));
            }
        }
    }
}

/* Input that ends right before an unmapped page: any over-read faults, even
 * without a sanitizer. */
static void test_guard_page(void)
{
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED);
    if (map == MAP_FAILED)
        return;
    CHECK(mprotect(map + page, (size_t)page, PROT_NONE) == 0);
    uint8_t *end = map + page;
    memset(map, 'a', (size_t)page);
    for (size_t len = 0; len <= 64; len++)
        CHECK(utf8_valid(end - len, len));
    static const char *const tails[] = { "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf4\x8f" };
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        size_t n = strlen(tails[k]);
        for (size_t len = n; len <= 24; len++) {
            memcpy(end - n, tails[k], n);
            CHECK(!utf8_valid(end - len, len));
        }
    }
    munmap(map, (size_t)page * 2);
}

UNIT_MAIN(test_table, test_truncations, test_against_reference, test_every_offset,
          test_guard_page)
