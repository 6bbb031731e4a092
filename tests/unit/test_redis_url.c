/* --broker's URL: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], and what is
 * refused (without the password in the message). */
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
        CHECK_STR(a.password, "");
    }
}

static void test_credentials(void)
{
    static const struct { const char *url, *user, *password, *host; int port; } ok[] = {
        { "redis://:s3cret@127.0.0.1", "", "s3cret", "127.0.0.1", 6379 },
        { "redis://s3cret@127.0.0.1:7000", "", "s3cret", "127.0.0.1", 7000 },
        { "redis://app:pw@[::1]:6390/2", "app", "pw", "::1", 6390 },
        { "redis://a%40b:p%3Aw%2F%25@h", "a@b", "p:w/%", "h", 6379 },
    };
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct redis_addr a;
        CHECK(redis_url_parse(ok[i].url, &a, err, sizeof err) == 0);
        CHECK_STR(a.user, ok[i].user);
        CHECK_STR(a.password, ok[i].password);
        CHECK_STR(a.host, ok[i].host);
        CHECK_EQ_U(a.port, ok[i].port);
    }
}

static void test_refused(void)
{
    static const char *bad[] = {
        "", "redis://", "redis://:6379", "http://h:1", "redis://h:", "redis://h:0",
        "redis://h:65536", "redis://h:12x", "redis://h/x", "redis://h/1/2", "redis://[::1",
        "redis://h:1:2", "rediss://h", "redis://h/-1", "redis://:@h", "redis://u:@h",
        "redis://u:p%zz@h", "redis://u:p%0@h", "redis://u:p%00@h", "redis://:hunter2@h:99999",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct redis_addr a;
        int rc = redis_url_parse(bad[i], &a, err, sizeof err);
        if (rc == 0)
            printf("#   accepted '%s'\n", bad[i]);
        CHECK(rc == -1);
        CHECK(rc == 0 || strstr(err, "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]") != NULL);
        CHECK(rc == 0 || strstr(err, "hunter2") == NULL);
        CHECK(rc == 0 || a.password[0] == '\0');
    }
}

UNIT_MAIN(test_accepted, test_credentials, test_refused)
