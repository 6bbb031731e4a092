#include "units.h"
#include "unit.h"

#include <stdint.h>

struct case_ok {
    const char *in;
    uint64_t want;
};

static void check_durations(const struct case_ok *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = units_parse_duration_us(c[i].in, &v);
        if (rc != 0 || v != c[i].want)
            printf("#   duration \"%s\": rc %d, got %llu\n", c[i].in, rc,
                   (unsigned long long)v);
        CHECK_EQ_U(rc, 0);
        CHECK_EQ_U(v, c[i].want);
    }
}

static void check_sizes(const struct case_ok *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = units_parse_size(c[i].in, &v);
        if (rc != 0 || v != c[i].want)
            printf("#   size \"%s\": rc %d, got %llu\n", c[i].in, rc,
                   (unsigned long long)v);
        CHECK_EQ_U(rc, 0);
        CHECK_EQ_U(v, c[i].want);
    }
}

/* A rejected input must also leave *out untouched. */
static void check_rejected(int (*parse)(const char *, uint64_t *),
                           const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 777;
        int rc = parse(bad[i], &v);
        if (rc != -1)
            printf("#   \"%s\" accepted as %llu\n", bad[i], (unsigned long long)v);
        CHECK_EQ_U(rc, -1);
        CHECK_EQ_U(v, 777);
    }
}

#define N(a) (sizeof (a) / sizeof (a)[0])

static void test_duration_suffixes(void)
{
    static const struct case_ok c[] = {
        { "250us", 250 }, { "500ms", 500000 }, { "15s", 15000000 },
        { "2m", 120000000 }, { "1h", 3600000000u }, { "3", 3000000 },
        { "0", 0 }, { "0s", 0 }, { "0us", 0 }, { "007ms", 7000 },
        { "1us", 1 }, { "24h", UINT64_C(86400000000) },
    };
    check_durations(c, N(c));
}

static void test_duration_fractions(void)
{
    static const struct case_ok c[] = {
        { "1.5s", 1500000 }, { "0.25", 250000 }, { "1.5", 1500000 },
        { "0.5ms", 500 }, { "1.5m", 90000000 }, { "0.5h", 1800000000 },
        { "2.000s", 2000000 }, { "0.000001s", 1 }, { "0.0000019s", 1 },
        /* below 1 us rounds down, never up */
        { "1.9us", 1 }, { "0.0009ms", 0 }, { "0.9999999s", 999999 },
        /* many digits: exact, no float rounding */
        { "0.999999999999999999999999h", 3599999999u },
        { "0.1234567890123456789s", 123456 },
        { "1.0000000000000000000000000001s", 1000000 },
    };
    check_durations(c, N(c));
}

static void test_duration_limits(void)
{
    static const struct case_ok c[] = {
        { "18446744073709551615us", UINT64_MAX },
        /* UINT64_MAX us = 18446744073709.551615 s */
        { "18446744073709.551615", UINT64_MAX },
        { "18446744073709.551615999s", UINT64_MAX },
        { "5124095576h", UINT64_C(5124095576) * 3600000000u },
        { "307445734561m", UINT64_C(307445734561) * 60000000u },
    };
    check_durations(c, N(c));
    static const char *const bad[] = {
        "18446744073709.551616", "18446744073710", "18446744073709552ms",
        "18446744073709551616us", "99999999999999999999s", "99999999999999999999us",
        "99999999999999999999", "5124095577h", "5124095576.1h", "307445734562m",
    };
    check_rejected(units_parse_duration_us, bad, N(bad));
}

static void test_duration_rejects(void)
{
    static const char *const bad[] = {
        "", "s", "ms", ".5s", "1.", "1.s", "1..5s", "1.5.5s", "-1s", "+1s",
        " 1s", "1s ", "1 s", "1sec", "1S", "1MS", "1M", "1H", "1d", "1ns",
        "1mss", "1ss", "1e3", "0x10", "1,5s", "abc", "1s\n", "\t1", "1:30",
        "1h30m", "inf", "nan", "s1",
    };
    check_rejected(units_parse_duration_us, bad, N(bad));
}

static void test_size_suffixes(void)
{
    static const struct case_ok c[] = {
        { "1000", 1000 }, { "0", 0 }, { "1b", 1 }, { "1B", 1 },
        { "64k", 65536 }, { "64K", 65536 }, { "1KB", 1024 }, { "1kb", 1024 },
        { "64KiB", 65536 }, { "64kib", 65536 }, { "64KIB", 65536 },
        { "1m", 1048576 }, { "1M", 1048576 }, { "1MB", 1048576 },
        { "1MiB", 1048576 }, { "1mIb", 1048576 },
        { "2g", UINT64_C(2147483648) }, { "2GB", UINT64_C(2147483648) },
        { "2GiB", UINT64_C(2147483648) }, { "0KiB", 0 },
    };
    check_sizes(c, N(c));
}

static void test_size_limits(void)
{
    static const struct case_ok c[] = {
        { "18446744073709551615", UINT64_MAX },
        { "17179869183g", UINT64_C(17179869183) << 30 },
        { "17592186044415m", UINT64_C(17592186044415) << 20 },
    };
    check_sizes(c, N(c));
    static const char *const bad[] = {
        "18446744073709551616", "99999999999999999999", "17179869184g",
        "17592186044416MiB", "18014398509481984k", "99999999999999999999KiB",
    };
    check_rejected(units_parse_size, bad, N(bad));
}

static void test_size_rejects(void)
{
    static const char *const bad[] = {
        "", "k", "KiB", "1.5KiB", "1.0", "0.5k", "-1", "+1", " 1", "1 ",
        "1 KiB", "1KiBB", "1Ki", "1kbb", "1ib", "1T", "1TiB", "1bytes",
        "1e3", "0x10", "1_000", "1,000", "abc", "1k\n", "1s", "1.",
    };
    check_rejected(units_parse_size, bad, N(bad));
}

UNIT_MAIN(test_duration_suffixes, test_duration_fractions, test_duration_limits,
          test_duration_rejects, test_size_suffixes, test_size_limits, test_size_rejects)
