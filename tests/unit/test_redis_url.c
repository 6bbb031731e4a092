/* --broker's URL: redis://HOST[:PORT][/DB], and what is refused. */
#include "redis_conn.h"
#include "unit.h"

static void test_accepted(void)
{
    static const struct { const char *url, *host; int port; unsigned db; } ok[] = {
        { "redis://127.0.0.1", "127.0.0.1", 6379, 0 },
        { "redis://127.0.0.1/", "127.0.0.1", 6379, 0 },
        { "redis://localhost:7000", "localhost", 7000, 0 },
        { "redis://10.0.0.2:6380/3", "10.0.0.2", 6380, 3 },
        { "redis://[::1]:6390/1", "::1", 6390, 1 },
        { "redis://[::1]", "::1", 6379, 0 },
    };
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct redis_addr a;
        CHECK(redis_url_parse(ok[i].url, &a, err, sizeof err) == 0);
        CHECK_STR(a.host, ok[i].host);
        CHECK_EQ_U(a.port, ok[i].port);
        CHECK_EQ_U(a.db, ok[i].db);
    }
}

static void test_refused(void)
{
    static const char *bad[] = {
        "", "redis://", "redis://:6379", "http://h:1", "redis://h:", "redis://h:0",
        "redis://h:65536", "redis://h:12x", "redis://h/x", "redis://h/1/2", "redis://[::1",
        "redis://h:1:2", "rediss://h", "redis://h/-1",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct redis_addr a;
        int rc = redis_url_parse(bad[i], &a, err, sizeof err);
        if (rc == 0)
            printf("#   accepted '%s'\n", bad[i]);
        CHECK(rc == -1);
        CHECK(rc == 0 || strstr(err, "redis://HOST[:PORT][/DB]") != NULL);
    }
}

UNIT_MAIN(test_accepted, test_refused)
