#include "delayq.h"
#include "unit.h"

#include <stdint.h>

#define N(a) (sizeof (a) / sizeof (a)[0])

/* The bytes due at now, concatenated; returns their count. */
static size_t due_str(struct delayq *q, uint64_t now, char *out, size_t cap)
{
    struct iovec iov[16];
    int n = delayq_due(q, now, iov, 16);
    size_t len = 0;
    for (int i = 0; i < n && len + iov[i].iov_len < cap; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    out[len] = '\0';
    return len;
}

static uint64_t next_at(struct delayq *q)
{
    uint64_t at = 0;
    CHECK_EQ_U(delayq_next_us(q, &at), 0);
    return at;
}

static void test_delay_never_early(void)
{
    struct delayq *q = delayq_new(50000, 0);
    char buf[64];
    uint64_t at;
    CHECK_EQ_U(delayq_next_us(q, &at), -1);
    CHECK_EQ_U(delayq_push(q, "abc", 3, 1000), 0);
    CHECK_EQ_U(next_at(q), 51000);
    CHECK_EQ_U(due_str(q, 50999, buf, sizeof buf), 0);
    CHECK_EQ_U(due_str(q, 51000, buf, sizeof buf), 3);
    CHECK_STR(buf, "abc");
    delayq_free(q);
}

/* A later read is never merged into an earlier one: it would leave early. */
static void test_order_no_merge(void)
{
    struct delayq *q = delayq_new(100, 0);
    char buf[64];
    delayq_push(q, "first ", 6, 0);
    delayq_push(q, "second", 6, 10);
    CHECK_EQ_U(due_str(q, 105, buf, sizeof buf), 6);
    CHECK_STR(buf, "first ");
    CHECK_EQ_U(due_str(q, 110, buf, sizeof buf), 12);
    CHECK_STR(buf, "first second");
    delayq_free(q);
}

static void test_partial_consume(void)
{
    struct delayq *q = delayq_new(0, 0);
    char buf[64];
    delayq_push(q, "abc", 3, 0);
    delayq_push(q, "de", 2, 0);
    delayq_consume(q, 2);
    CHECK_EQ_U(due_str(q, 0, buf, sizeof buf), 3);
    CHECK_STR(buf, "cde");
    delayq_consume(q, 2);
    CHECK_EQ_U(due_str(q, 0, buf, sizeof buf), 1);
    CHECK_STR(buf, "e");
    delayq_consume(q, 1);
    CHECK_EQ_U(due_str(q, 0, buf, sizeof buf), 0);
    delayq_free(q);
}

/* Bookkeeping counts, so a flood of 1-byte reads cannot pass the bound. */
static void test_memory(void)
{
    struct delayq *q = delayq_new(10, 0);
    CHECK_EQ_U(delayq_memory(q), 0);
    for (int i = 0; i < 100; i++)
        delayq_push(q, "x", 1, (uint64_t)i);
    CHECK(delayq_memory(q) >= 100 * (1 + sizeof(void *)));
    delayq_consume(q, 100);
    CHECK_EQ_U(delayq_memory(q), 0);
    delayq_free(q);
}

static void test_due_max_entries(void)
{
    struct delayq *q = delayq_new(0, 0);
    struct iovec iov[2];
    for (int i = 0; i < 5; i++)
        delayq_push(q, "ab", 2, (uint64_t)i);
    CHECK_EQ_U(delayq_due(q, 100, iov, 2), 2);
    CHECK_EQ_U(delayq_due(q, 2, iov, 2), 2);
    CHECK_EQ_U(delayq_due(q, 0, iov, 2), 1);
    delayq_free(q);
}

/* The end crosses the link like data: after the bytes and the delay. */
static void test_end(void)
{
    struct delayq *q = delayq_new(50, 0);
    delayq_push(q, "abc", 3, 0);
    delayq_push_end(q, 20);
    CHECK(!delayq_ended(q, 1000));      /* bytes still queued */
    CHECK_EQ_U(next_at(q), 50);
    delayq_consume(q, 3);
    CHECK_EQ_U(next_at(q), 70);
    CHECK(!delayq_ended(q, 69));
    CHECK(delayq_ended(q, 70));
    delayq_free(q);

    q = delayq_new(0, 0);
    CHECK(!delayq_ended(q, 0));
    delayq_push_end(q, 5);
    CHECK(delayq_ended(q, 5));
    delayq_free(q);
}

/* 8 Mbit/s is one byte per microsecond; slices are one 1500-byte packet. */
static void test_rate_pacing(void)
{
    struct delayq *q = delayq_new(1000, 8000000);
    static char big[3000];
    struct iovec iov[4];
    delayq_push(q, big, sizeof big, 0);
    CHECK_EQ_U(next_at(q), 1500 + 1000);
    CHECK_EQ_U(delayq_due(q, 2499, iov, 4), 0);
    CHECK_EQ_U(delayq_due(q, 2500, iov, 4), 1);
    CHECK_EQ_U(iov[0].iov_len, 1500);
    CHECK_EQ_U(delayq_due(q, 4000, iov, 4), 2);
    delayq_consume(q, 3000);
    /* Read while the link is busy: it waits for the link. */
    delayq_push(q, "0123456789", 10, 100);
    CHECK_EQ_U(next_at(q), 3000 + 10 + 1000);
    /* Read after the link went idle: only its own serialization. */
    delayq_consume(q, 10);
    delayq_push(q, "0123456789", 10, 10000);
    CHECK_EQ_U(next_at(q), 10000 + 10 + 1000);
    delayq_consume(q, 10);
    delayq_push_end(q, 10005);
    CHECK_EQ_U(next_at(q), 10010 + 1000);
    delayq_free(q);
}

/* Sub-microsecond serialization rounds up, never down. */
static void test_rate_rounds_up(void)
{
    struct delayq *q = delayq_new(0, 1000000000);
    delayq_push(q, "0123456789", 10, 7);    /* 80 ns */
    CHECK_EQ_U(next_at(q), 8);
    delayq_free(q);
}

/* Fast links are sliced by a millisecond of link time, at most 64 KiB. */
static void test_rate_slices(void)
{
    static char big[100000];
    struct iovec iov[8];
    struct delayq *q = delayq_new(0, 80000000);    /* 10000 bytes per ms */
    delayq_push(q, big, sizeof big, 0);
    CHECK_EQ_U(delayq_due(q, UINT64_MAX, iov, 8), 8);
    CHECK_EQ_U(iov[0].iov_len, 10000);
    delayq_free(q);
    q = delayq_new(0, UINT64_C(8000000000));       /* 1 MB per ms */
    delayq_push(q, big, sizeof big, 0);
    CHECK_EQ_U(delayq_due(q, UINT64_MAX, iov, 8), 2);
    CHECK_EQ_U(iov[0].iov_len, 65536);
    delayq_free(q);
}

static void test_parse_rate(void)
{
    static const struct { const char *in; uint64_t want; } ok[] = {
        { "2Mbit", 2000000 }, { "512kbit", 512000 }, { "1Gbit", 1000000000 },
        { "1000bit", 1000 }, { "1.5Mbit", 1500000 }, { "2mbit", 2000000 },
        { "2MBIT", 2000000 }, { "0.5kbit", 500 }, { "007kbit", 7000 },
        { "1.0000000001Gbit", 1000000000 }, { "18446744073709551615bit", UINT64_MAX },
    };
    for (size_t i = 0; i < N(ok); i++) {
        uint64_t v = 0;
        int rc = delayq_parse_rate(ok[i].in, &v);
        if (rc != 0 || v != ok[i].want)
            printf("#   \"%s\": rc %d, got %llu\n", ok[i].in, rc, (unsigned long long)v);
        CHECK_EQ_U(rc, 0);
        CHECK_EQ_U(v, ok[i].want);
    }
    static const char *const bad[] = {
        "", "2", "2M", "2Mb", "2Mbps", "2 Mbit", " 2Mbit", "2Mbit ", "-2Mbit", "+2Mbit",
        "0bit", "0.5bit", "0Mbit", ".5Mbit", "1.Mbit", "Mbit", "2Tbit", "2kibit",
        "18446744073709551616bit", "18446744073709552kbit", "1e6bit",
    };
    for (size_t i = 0; i < N(bad); i++) {
        uint64_t v = 777;
        int rc = delayq_parse_rate(bad[i], &v);
        if (rc != -1)
            printf("#   \"%s\" accepted as %llu\n", bad[i], (unsigned long long)v);
        CHECK_EQ_U(rc, -1);
        CHECK_EQ_U(v, 777);
    }
}

/* Fed one byte at a time: only the whole string is a rate. */
static void test_parse_rate_prefixes(void)
{
    const char *full = "12.75Mbit";
    char buf[16];
    for (size_t n = 0; n < strlen(full); n++) {
        uint64_t v = 777;
        memcpy(buf, full, n);
        buf[n] = '\0';
        int rc = delayq_parse_rate(buf, &v);
        if (rc != -1)
            printf("#   prefix \"%s\" accepted\n", buf);
        CHECK_EQ_U(rc, -1);
    }
    uint64_t v = 0;
    CHECK_EQ_U(delayq_parse_rate(full, &v), 0);
    CHECK_EQ_U(v, 12750000);
}

/* A new connection's first bytes wait for the emulated TCP handshake; later
 * bytes, read after it, only for the delay. */
static void test_hold_until_handshake(void)
{
    struct delayq *q = delayq_new(40000, 0);
    delayq_hold_until(q, 1000 + 80000);           /* accepted at 1000, RTT 80 ms */
    CHECK_EQ_U(delayq_push(q, "GET", 3, 1000), 0);
    CHECK_EQ_U(next_at(q), 1000 + 80000 + 40000);  /* three one-way delays */
    char buf[8];
    CHECK_EQ_U(due_str(q, 121000, buf, sizeof buf), 3);
    delayq_consume(q, 3);
    CHECK_EQ_U(delayq_push(q, "x", 1, 200000), 0);
    CHECK_EQ_U(next_at(q), 240000);
    delayq_hold_until(q, 0);                        /* never moves the link back */
    CHECK_EQ_U(next_at(q), 240000);
    delayq_free(q);
}

UNIT_MAIN(test_hold_until_handshake, test_delay_never_early, test_order_no_merge, test_partial_consume, test_memory,
          test_due_max_entries, test_end, test_rate_pacing, test_rate_rounds_up,
          test_rate_slices, test_parse_rate, test_parse_rate_prefixes)
