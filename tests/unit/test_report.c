/* Report: JSON figures of a synthetic run (exact ratios, null on zero
 * denominators), the whole document through a file and back, CSV header
 * and column count over appends, the summary table and progress line. */
#include "report.h"
#include "unit.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

/* client/track.c defines the names; weak, so this test links with or
 * without that module and its dependencies. */
__attribute__((weak)) const char *const transport_names[TR_COUNT] = {
    "poll", "longpoll", "sse", "ws"
};

/* Runs are ~80 KiB (four histograms): static, not on the stack. */
static struct run run_ok, run_failed, run_empty;
static struct client_config cfg;

static void make_cfg(void)
{
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.url, sizeof cfg.url, "http://127.0.0.1:8080");
    cfg.transports[TR_POLL] = cfg.transports[TR_SSE] = true;
    cfg.subscribers = 4;
    cfg.channels = 2;
    cfg.rate = 100;
    cfg.size = 64;
    cfg.duration_us = 15000000;
    cfg.warmup_us = 2000000;
    cfg.drain_us = 2500000;
    cfg.poll_interval_us = 250000;
    cfg.longpoll_timeout_us = 30000000;
    cfg.connect_timeout_us = 5000000;
    cfg.seed = UINT64_MAX;            /* beyond int64: must survive as text */
    cfg.run_tag = "t1";
}

static void make_run(struct run *r, enum transport t)
{
    memset(r, 0, sizeof *r);
    r->cfg = &cfg;
    r->transport = t;
    r->phase = PH_DONE;
    hist_init(&r->latency);
    hist_init(&r->latency_uncorrected);
    hist_init(&r->connect_time);
    hist_init(&r->first_message);
}

/* 3990 of 4000 expected deliveries; 1..3990 ms latencies. */
static void make_run_ok(void)
{
    make_run(&run_ok, TR_POLL);
    run_ok.published = 1100;
    run_ok.published_measured = 1000;
    run_ok.expected = 4000;
    run_ok.delivered = 3990;
    run_ok.duplicates = 5;
    run_ok.out_of_order = 2;
    run_ok.gap_lost = 3;
    run_ok.publish_errors = 1;
    run_ok.epoch_changes = 1;
    run_ok.cursor_resets = 4;
    for (uint64_t v = 1; v <= 3990; v++) {
        hist_record(&run_ok.latency, v * 1000);
        hist_record(&run_ok.latency_uncorrected, v * 900);
    }
    for (int i = 0; i < 4; i++) {
        hist_record(&run_ok.connect_time, 300);
        hist_record(&run_ok.first_message, 250000);
    }
    run_ok.cost = (struct cost){ .requests = 399, .empty_answers = 100, .bytes_rx = 300000,
                                 .bytes_tx = 99000, .connects = 3, .reconnects = 1,
                                 .protocol_errors = 0, .transport_errors = 2 };
}

static const struct run_extra extra_ok = { .elapsed_s = 10.0, .client_cpu_s = 0.399,
                                           .server_cpu_s = -1, .server_bytes_out = 0 };
static const struct run_extra extra_failed = { .failure = "connect: Connection refused" };

static double num(const json_t *o, const char *path1, const char *path2)
{
    return json_number_value(json_object_get(json_object_get(o, path1), path2));
}

static int is_null(const json_t *o, const char *path1, const char *path2)
{
    return json_is_null(json_object_get(json_object_get(o, path1), path2));
}

static void test_run_json(void)
{
    make_cfg();
    make_run_ok();
    json_t *j = report_run_json(&run_ok, &extra_ok);
    CHECK(j != NULL);
    if (j == NULL)
        return;
    CHECK_STR(json_string_value(json_object_get(j, "transport")), "poll");
    CHECK_STR(json_string_value(json_object_get(j, "status")), "ok");
    CHECK(json_is_null(json_object_get(j, "failure")));

    CHECK_EQ_U(num(j, "latency_us", "count"), 3990);
    CHECK_EQ_U(num(j, "latency_us", "p50"), hist_percentile(&run_ok.latency, 50));
    CHECK_EQ_U(num(j, "latency_us", "p999"), hist_percentile(&run_ok.latency, 99.9));
    CHECK_EQ_U(num(j, "latency_us", "max"), 3990000);
    CHECK_EQ_U(num(j, "latency_uncorrected_us", "max"), 3990 * 900);
    CHECK_EQ_U(num(j, "connect_us", "count"), 4);
    CHECK_EQ_U(num(j, "first_message_us", "p50"), hist_percentile(&run_ok.first_message, 50));
    CHECK(json_is_array(json_object_get(json_object_get(j, "latency_us"), "buckets")));

    CHECK_EQ_U(num(j, "delivery", "published"), 1000);
    CHECK_EQ_U(num(j, "delivery", "published_total"), 1100);
    CHECK_EQ_U(num(j, "delivery", "publish_errors"), 1);
    CHECK_EQ_U(num(j, "delivery", "expected"), 4000);
    CHECK_EQ_U(num(j, "delivery", "delivered"), 3990);
    CHECK_EQ_U(num(j, "delivery", "duplicates"), 5);
    CHECK_EQ_U(num(j, "delivery", "out_of_order"), 2);
    CHECK_EQ_U(num(j, "delivery", "gap_lost"), 3);
    CHECK_EQ_U(num(j, "delivery", "epoch_changes"), 1);
    CHECK_EQ_U(num(j, "delivery", "cursor_resets"), 4);
    CHECK_EQ_U(num(j, "delivery", "lost"), 4000 - 3990);
    CHECK(num(j, "delivery", "loss_ratio") == 10.0 / 4000.0);

    CHECK(num(j, "throughput", "delivered_per_s") == 399.0);
    CHECK(num(j, "throughput", "published_per_s") == 100.0);

    CHECK_EQ_U(num(j, "cost", "requests"), 399);
    CHECK_EQ_U(num(j, "cost", "empty_answers"), 100);
    CHECK(num(j, "cost", "requests_per_delivered") == 0.1);
    CHECK_EQ_U(num(j, "cost", "bytes_rx"), 300000);
    CHECK_EQ_U(num(j, "cost", "bytes_tx"), 99000);
    CHECK(num(j, "cost", "bytes_per_delivered") == 100.0);
    CHECK_EQ_U(num(j, "cost", "connections_opened"), 3);
    CHECK(num(j, "cost", "connection_reuse_ratio") == 1.0 - 3.0 / 399.0);
    CHECK_EQ_U(num(j, "cost", "reconnects"), 1);
    CHECK_EQ_U(num(j, "cost", "protocol_errors"), 0);
    CHECK_EQ_U(num(j, "cost", "transport_errors"), 2);
    CHECK(fabs(num(j, "cost", "client_cpu_us_per_delivered") - 100.0) < 1e-9);
    /* server figures unavailable: null, not 0 or nan */
    CHECK(is_null(j, "cost", "server_cpu_s"));
    CHECK(is_null(j, "cost", "server_cpu_us_per_delivered"));
    CHECK(is_null(j, "cost", "server_bytes_out"));
    CHECK(is_null(j, "cost", "server_bytes_out_per_delivered"));
    json_decref(j);

    struct run_extra with_server = extra_ok;
    with_server.server_cpu_s = 0.1995;
    with_server.server_bytes_out = 798000;
    j = report_run_json(&run_ok, &with_server);
    CHECK(j != NULL);
    CHECK(fabs(num(j, "cost", "server_cpu_us_per_delivered") - 50.0) < 1e-9);
    CHECK(num(j, "cost", "server_bytes_out_per_delivered") == 200.0);
    json_decref(j);
}

static void test_zero_denominators(void)
{
    make_cfg();
    make_run(&run_empty, TR_SSE);
    run_empty.expected = 0;
    struct run_extra x = { .elapsed_s = 0, .client_cpu_s = 0.01, .server_cpu_s = 0 };
    json_t *j = report_run_json(&run_empty, &x);
    CHECK(j != NULL);
    if (j == NULL)
        return;
    CHECK(is_null(j, "delivery", "loss_ratio"));
    CHECK_EQ_U(num(j, "delivery", "lost"), 0);
    CHECK(is_null(j, "throughput", "delivered_per_s"));
    CHECK(is_null(j, "throughput", "published_per_s"));
    CHECK(is_null(j, "cost", "requests_per_delivered"));
    CHECK(is_null(j, "cost", "bytes_per_delivered"));
    CHECK(is_null(j, "cost", "connection_reuse_ratio"));
    CHECK(is_null(j, "cost", "client_cpu_us_per_delivered"));
    CHECK(is_null(j, "cost", "server_cpu_us_per_delivered"));
    CHECK(num(j, "cost", "server_cpu_s") == 0.0);   /* measured zero is not "unavailable" */
    CHECK_EQ_U(num(j, "latency_us", "count"), 0);
    json_decref(j);

    /* more delivered than expected is a tracking bug, never negative loss;
     * more connections than requests clamps reuse to 0 */
    run_empty.expected = 5;
    run_empty.delivered = 7;
    run_empty.cost.requests = 2;
    run_empty.cost.connects = 3;
    j = report_run_json(&run_empty, &x);
    CHECK_EQ_U(num(j, "delivery", "lost"), 0);
    CHECK(num(j, "cost", "connection_reuse_ratio") == 0.0);
    json_decref(j);
}

static void test_failed_run_json(void)
{
    make_cfg();
    make_run(&run_failed, TR_SSE);
    json_t *j = report_run_json(&run_failed, &extra_failed);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "failed");
    CHECK_STR(json_string_value(json_object_get(j, "failure")), extra_failed.failure);
    json_decref(j);

    struct run_extra bad = { .failure = "bad byte \xff" };
    j = report_run_json(&run_failed, &bad);
    CHECK(j != NULL);            /* a non-UTF-8 reason must not lose the result */
    json_decref(j);
}

static void test_manifest(void)
{
    json_t *m = report_manifest();
    CHECK(m != NULL);
    if (m == NULL)
        return;
    static const char *const keys[] = { "client", "libcurl", "libevent", "jansson",
                                        "openssl", "wslay", "kernel", "machine",
                                        "cpu_model", "cores", "memory_bytes",
                                        "git_revision", "hostname", "started_utc" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(m, keys[i]) == NULL) {
            printf("#   manifest lacks %s\n", keys[i]);
            CHECK(0);
        }
    CHECK_STR(json_string_value(json_object_get(m, "client")), "pushpull-client " PUSHPULL_VERSION);
    CHECK(json_integer_value(json_object_get(m, "cores")) >= 1);
    CHECK(json_integer_value(json_object_get(m, "memory_bytes")) > 0);
    const char *started = json_string_value(json_object_get(m, "started_utc"));
    CHECK(started != NULL && strlen(started) == 20 && started[10] == 'T' && started[19] == 'Z');
    json_decref(m);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test_report.XXXXXX");
        CHECK(mkdtemp(tmpdir) != NULL);
    }
}

static void test_document(void)
{
    make_cfg();
    make_run_ok();
    make_run(&run_failed, TR_SSE);
    make_tmpdir();
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/result.json", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    json_t *runs = json_array(), *manifest = report_manifest();
    json_array_append_new(runs, report_run_json(&run_ok, &extra_ok));
    json_array_append_new(runs, report_run_json(&run_failed, &extra_failed));
    CHECK(report_write_json(path, &cfg, manifest, runs) == 0);
    /* written twice (after each run, say): replaced, references intact */
    CHECK(report_write_json(path, &cfg, manifest, runs) == 0);
    CHECK(access(tmp, F_OK) != 0);
    CHECK_EQ_U(json_array_size(runs), 2);

    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    CHECK(doc != NULL);
    if (doc == NULL) {
        printf("#   %s\n", err.text);
    } else {
        CHECK_STR(json_string_value(json_object_get(doc, "schema")), "pushpull-client/1");
        CHECK(json_is_object(json_object_get(doc, "manifest")));
        CHECK_EQ_U(json_array_size(json_object_get(doc, "runs")), 2);
        CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(doc, "runs"), 1),
                                                    "status")), "failed");
        json_t *c = json_object_get(doc, "config");
        static const char *const keys[] = {
            "url", "publish_url", "transports", "subscribers", "channels", "rate", "size", "duration_s",
            "warmup_s", "idle_hold_s", "drain_s", "poll_interval_s", "longpoll_timeout_s",
            "connect_timeout_s", "connect_rate", "churn_s", "threads", "connections", "keepalive",
            "socketio_upgrade", "publish_via", "seed", "json_path", "csv_path", "run_tag",
            "no_publish", "quiet",
            "tls", "cacert", "insecure" };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (json_object_get(c, keys[i]) == NULL) {
                printf("#   config lacks %s\n", keys[i]);
                CHECK(0);
            }
        CHECK_EQ_U(json_object_size(c), sizeof keys / sizeof keys[0]);
        CHECK_EQ_U(json_object_size(doc), 5);
        /* the restarts of all runs: run_ok's one, none in the failed run */
        CHECK_EQ_U(json_integer_value(json_object_get(doc, "epoch_changes")), 1);
        json_t *tr = json_object_get(c, "transports");
        CHECK_EQ_U(json_array_size(tr), 2);
        CHECK_STR(json_string_value(json_array_get(tr, 0)), "poll");
        CHECK_STR(json_string_value(json_array_get(tr, 1)), "sse");
        CHECK(json_real_value(json_object_get(c, "duration_s")) == 15.0);
        CHECK(json_real_value(json_object_get(c, "drain_s")) == 2.5);
        CHECK(json_real_value(json_object_get(c, "poll_interval_s")) == 0.25);
        CHECK(json_is_true(json_object_get(c, "keepalive")));
        CHECK_STR(json_string_value(json_object_get(c, "publish_via")), "http");
        CHECK_STR(json_string_value(json_object_get(c, "seed")), "18446744073709551615");
        CHECK(json_is_null(json_object_get(c, "json_path")));

        /* the latency histogram comes back exactly */
        static struct hist h;
        json_t *r0 = json_array_get(json_object_get(doc, "runs"), 0);
        CHECK(hist_from_json(&h, json_object_get(r0, "latency_us")) == 0);
        CHECK_EQ_U(hist_count(&h), 3990);
        CHECK_EQ_U(hist_percentile(&h, 99), hist_percentile(&run_ok.latency, 99));
        json_decref(doc);
    }

    snprintf(path, sizeof path, "%s/no-such-dir/result.json", tmpdir);
    errno = 0;
    CHECK(report_write_json(path, &cfg, manifest, runs) == -1 && errno == ENOENT);
    json_decref(runs);
    json_decref(manifest);
}

/* Lines of a file and the comma count of each; returns the line count. */
static size_t csv_lines(const char *path, size_t *commas, size_t max, char first[512])
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f) != NULL && n < max) {
        if (n == 0)
            snprintf(first, 512, "%.511s", line);
        commas[n] = 0;
        for (const char *p = line; *p; p++)
            commas[n] += *p == ',';
        n++;
    }
    fclose(f);
    return n;
}

/* Field `name` of data line `row` (1-based after the header). */
static void csv_get(const char *path, const char *name, size_t row, char *out, size_t cap)
{
    char header[4096], line[4096];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(header, sizeof header, f) == NULL) {
        if (f)
            fclose(f);
        return;
    }
    for (size_t i = 0; i < row; i++)
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
    fclose(f);
    header[strcspn(header, "\n")] = line[strcspn(line, "\n")] = '\0';
    char *hs = NULL, *ls = line, *h = strtok_r(header, ",", &hs);
    for (; h != NULL; h = strtok_r(NULL, ",", &hs)) {
        size_t len = strcspn(ls, ",");       /* not strtok: empty fields count */
        if (strcmp(h, name) == 0) {
            snprintf(out, cap, "%.*s", (int)len, ls);
            return;
        }
        ls += len + (ls[len] == ',');
    }
}

static void test_csv(void)
{
    make_cfg();
    make_run_ok();
    make_run(&run_empty, TR_SSE);
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/result.csv", tmpdir);
    struct run_extra x0 = { .elapsed_s = 10, .server_cpu_s = -1 };

    CHECK(report_append_csv(path, &cfg, &run_ok, &extra_ok) == 0);
    CHECK(report_append_csv(path, &cfg, &run_empty, &x0) == 0);
    CHECK(report_append_csv(path, &cfg, &run_failed, &extra_failed) == 0);
    size_t commas[8];
    char first[512];
    CHECK_EQ_U(csv_lines(path, commas, 8, first), 4);     /* one header, three rows */
    CHECK(strncmp(first, "transport,subscribers,channels,rate,", 36) == 0);
    CHECK_EQ_U(commas[0], 30);                            /* 31 columns */
    for (size_t i = 1; i < 4; i++)
        CHECK_EQ_U(commas[i], commas[0]);

    char v[64];
    csv_get(path, "lost", 1, v, sizeof v);
    CHECK_STR(v, "10");
    csv_get(path, "requests_per_delivered", 1, v, sizeof v);
    CHECK_STR(v, "0.1");
    csv_get(path, "poll_interval_ms", 1, v, sizeof v);
    CHECK_STR(v, "250");
    csv_get(path, "p99_us", 1, v, sizeof v);
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)hist_percentile(&run_ok.latency, 99));
    CHECK_STR(v, want);
    csv_get(path, "epoch_changes", 1, v, sizeof v);
    CHECK_STR(v, "1");
    csv_get(path, "server_cpu_us_per_delivered", 1, v, sizeof v);
    CHECK_STR(v, "");                                    /* null: empty */
    csv_get(path, "requests_per_delivered", 2, v, sizeof v);
    CHECK_STR(v, "");
    csv_get(path, "status", 3, v, sizeof v);
    CHECK_STR(v, "failed");

    /* an existing but empty file gets the header too */
    snprintf(path, sizeof path, "%s/empty.csv", tmpdir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    CHECK(report_append_csv(path, &cfg, &run_ok, &extra_ok) == 0);
    CHECK_EQ_U(csv_lines(path, commas, 8, first), 2);
    CHECK(strncmp(first, "transport,", 10) == 0);
}

static char *capture_table(const struct run *const *runs, const struct run_extra *x, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    report_print_table(f, &cfg, runs, x, n);
    fclose(f);
    return buf;
}

static void test_table(void)
{
    make_cfg();
    make_run_ok();
    make_run(&run_failed, TR_SSE);
    make_run(&run_empty, TR_WS);
    const struct run *runs[] = { &run_ok, &run_failed, &run_empty };
    const struct run_extra extras[] = { extra_ok, extra_failed, { .elapsed_s = 10,
                                                                  .server_cpu_s = -1 } };
    char *t = capture_table(runs, extras, 3);
    CHECK(t != NULL);
    if (t == NULL)
        return;
    printf("# table:\n");
    for (const char *p = t; *p;) {
        size_t len = strcspn(p, "\n");
        printf("#   %.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
    }
    CHECK(strstr(t, "4 subscribers") != NULL);
    CHECK(strstr(t, "100 msg/s") != NULL);
    CHECK(strstr(t, "64 B") != NULL);
    CHECK(strstr(t, "keep-alive on") != NULL);
    CHECK(strstr(t, "\npoll ") != NULL);
    CHECK(strstr(t, "\nsse ") != NULL);
    CHECK(strstr(t, "\nws ") != NULL);
    CHECK(strstr(t, "FAILED: connect: Connection refused") != NULL);
    CHECK(strstr(t, "p99.9 ms") != NULL);
    CHECK(strstr(t, "scheduled publish time") != NULL);
    /* a restart is said before the table, for the run that saw it only */
    CHECK(strstr(t, "warning: poll: server restarted (epoch changed 1 time): losses below "
                    "include messages lost across the restart") != NULL);
    CHECK(strstr(t, "warning: sse") == NULL && strstr(t, "warning: ws") == NULL);
    CHECK(strstr(t, "subscribers that started over after a restart 4") != NULL);
    /* p50 of 1..3990 ms is 1995 ms (within a bucket): 4 digits, no decimals */
    char p50[32];
    snprintf(p50, sizeof p50, " %.0f ",
             (double)hist_percentile(&run_ok.latency, 50) / 1000.0);
    CHECK(strstr(t, p50) != NULL);
    CHECK(strstr(t, "nan") == NULL && strstr(t, "inf") == NULL);
    /* every row as wide as the head line, in characters (µ is 2 bytes) */
    char *head = strstr(t, "\ntransport");
    CHECK(head != NULL);
    if (head != NULL) {
        size_t head_w = 0;
        for (const char *p = head + 1; *p != '\n'; p++)
            head_w += ((unsigned char)*p & 0xc0) != 0x80;
        const char *row = strstr(t, "\npoll ") + 1;
        CHECK_EQ_U(strcspn(row, "\n"), head_w);
    }
    free(t);
}

static void test_progress(void)
{
    make_cfg();
    make_run_ok();
    run_ok.phase = PH_MEASURE;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    report_progress(f, &run_ok, 10.0);
    fclose(f);
    CHECK(buf[0] == '\r');
    CHECK(strchr(buf, '\n') == NULL);
    CHECK(strstr(buf, "poll") != NULL);
    CHECK(strstr(buf, "measure") != NULL);
    CHECK(strstr(buf, "published 1100") != NULL);
    CHECK(strstr(buf, "delivered/s 399") != NULL);
    free(buf);
}

static void cleanup(void)
{
    static const char *const files[] = { "result.json", "result.csv", "empty.csv" };
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        CHECK(unlink(path) == 0);
    }
    CHECK(rmdir(tmpdir) == 0);
}

UNIT_MAIN(test_run_json, test_zero_denominators, test_failed_run_json, test_manifest,
          test_document, test_csv, test_table, test_progress, cleanup)
