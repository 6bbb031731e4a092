#include "parse.h"
#include "unit.h"

static bool name_ok(const char *s)
{
    return parse_channel_name(s, strlen(s));
}

static void test_channel_valid(void)
{
    CHECK(name_ok("a"));
    CHECK(name_ok("news"));
    CHECK(name_ok("A-Z_a-z.0-9"));
    CHECK(name_ok("-"));
    CHECK(name_ok("_"));
    CHECK(name_ok(".."));  /* one path segment; never used as a file name */
    CHECK(name_ok("0123456789"));
    char max[CHANNEL_NAME_MAX + 1];
    memset(max, 'x', CHANNEL_NAME_MAX);
    max[CHANNEL_NAME_MAX] = '\0';
    CHECK(name_ok(max));
}

static void test_channel_invalid(void)
{
    static const char *const bad[] = {
        "", " ", "a b", "a/b", "/", "a?b", "a%20b", "a+b", "a:b", "a#b",
        "a\tb", "é", "a\xff", "a~b", "a*b", "a@b", "a,b", "a;b", "a=b",
        "a&b", "\"a\"", "a\\b", "a\nb",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (name_ok(bad[i]))
            printf("#   \"%s\" accepted\n", bad[i]);
        CHECK(!name_ok(bad[i]));
    }
    char over[CHANNEL_NAME_MAX + 2];
    memset(over, 'x', CHANNEL_NAME_MAX + 1);
    over[CHANNEL_NAME_MAX + 1] = '\0';
    CHECK(!name_ok(over));
    /* The length is authoritative: a NUL inside the span is rejected, and
     * bytes past the span are not looked at. */
    CHECK(!parse_channel_name("ab\0cd", 5));
    CHECK(parse_channel_name("ab/cd", 2));
    CHECK(!parse_channel_name("abc", 0));
}

static void test_every_byte(void)
{
    for (int c = 0; c < 256; c++) {
        char s[1] = { (char)c };
        bool want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (parse_channel_name(s, 1) != want)
            printf("#   byte 0x%02x\n", (unsigned)c);
        CHECK(parse_channel_name(s, 1) == want);
    }
}

static void test_u64_valid(void)
{
    uint64_t v = 99;
    CHECK_EQ_U(parse_u64("0", 10, &v), 0);
    CHECK_EQ_U(v, 0);
    CHECK_EQ_U(parse_u64("10", 10, &v), 0);
    CHECK_EQ_U(v, 10);
    CHECK_EQ_U(parse_u64("0007", 10, &v), 0);
    CHECK_EQ_U(v, 7);
    CHECK_EQ_U(parse_u64("0", 0, &v), 0);
    CHECK_EQ_U(v, 0);
    CHECK_EQ_U(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    CHECK_EQ_U(v, UINT64_MAX);
    CHECK_EQ_U(parse_u64("18446744073709551614", UINT64_MAX - 1, &v), 0);
    CHECK_EQ_U(v, UINT64_MAX - 1);
    CHECK_EQ_U(parse_u64("00000000000000000000000000018446744073709551615",
                         UINT64_MAX, &v), 0);
    CHECK_EQ_U(v, UINT64_MAX);
    CHECK_EQ_U(parse_u64("9223372036854775807", INT64_MAX, &v), 0);
    CHECK_EQ_U(v, INT64_MAX);
}

static void test_u64_invalid(void)
{
    static const char *const bad[] = {
        "", "-1", "+1", " 1", "1 ", "1a", "a1", "0x1", "1e3", "1.0", "1,0",
        "\t1", "1\n", "٣",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        CHECK_EQ_U(parse_u64(bad[i], UINT64_MAX, &v), -1);
        CHECK_EQ_U(v, 42);
    }
    uint64_t v = 42;
    CHECK_EQ_U(parse_u64("11", 10, &v), -1);
    CHECK_EQ_U(parse_u64("100", 10, &v), -1);
    CHECK_EQ_U(parse_u64("1", 0, &v), -1);
    CHECK_EQ_U(parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
    CHECK_EQ_U(parse_u64("18446744073709551620", UINT64_MAX, &v), -1);
    CHECK_EQ_U(parse_u64("99999999999999999999", UINT64_MAX, &v), -1);
    CHECK_EQ_U(parse_u64("184467440737095516150", UINT64_MAX, &v), -1);
    CHECK_EQ_U(parse_u64("18446744073709551615", UINT64_MAX - 1, &v), -1);
    CHECK_EQ_U(parse_u64("9223372036854775808", INT64_MAX, &v), -1);
    CHECK_EQ_U(v, 42);
}

/* Every max in 0..999 against every value in 0..999: accepted iff v <= max. */
static void test_u64_max_boundary(void)
{
    char buf[8];
    int wrong = 0;
    for (uint64_t max = 0; max < 1000; max++) {
        for (uint64_t n = 0; n < 1000; n++) {
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
            uint64_t v = UINT64_MAX;
            int rc = parse_u64(buf, max, &v);
            wrong += n <= max ? (rc != 0 || v != n) : (rc != -1);
        }
    }
    CHECK_EQ_U(wrong, 0);
}

UNIT_MAIN(test_channel_valid, test_channel_invalid, test_every_byte, test_u64_valid,
          test_u64_invalid, test_u64_max_boundary)
