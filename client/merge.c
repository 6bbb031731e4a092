#include "merge.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dialect.h"
#include "report.h"
#include "run.h"
#include "shard.h"

#define MERGE_FILES_MAX 1024

static const char usage[] =
    "usage: pushpull-client --merge FILE... --json OUT [--quiet]\n"
    "\n"
    "Merges the --json documents of several client processes (one host or\n"
    "several) into one, as if one client had run them all: latency\n"
    "histograms bucket by bucket, counts and costs summed, windows and the\n"
    "server's figures as the longest/largest, every ratio computed again.\n"
    "Prints the merged table unless --quiet.\n"
    "\n"
    "Processes that shared one workload (one publishing, the others started\n"
    "with --no-publish and the same --run-tag) are merged as one run of it:\n"
    "the subscribers add up, the channels and the rate are the workload's,\n"
    "and a message the server never acknowledged is expected of nobody.\n";

struct merge {
    json_t *docs[MERGE_FILES_MAX];
    size_t ndocs;
    struct client_config cfg;
    struct run *runs[TR_COUNT];       /* NULL: no file has this transport */
    struct run_extra extras[TR_COUNT];
    json_t *hosts;                    /* distinct manifest.hostname values */
    /* One workload split over processes: one publishing process, the rest
     * --no-publish (NULL: every process ran its own workload). */
    const json_t *publisher;
    size_t subscribe_only;
};

/* ---- reading one run object back ---------------------------------------- */

static uint64_t u64_at(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static double num_at(const json_t *o, const char *key, double absent)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : absent;
}

static int transport_of(const json_t *r)
{
    const char *name = json_string_value(json_object_get(r, "transport"));
    for (int t = 0; name && t < TR_COUNT; t++)
        if (strcmp(name, transport_names[t]) == 0)
            return t;
    return -1;
}

static int load_hists(const json_t *r, struct run *run)
{
    const struct { const char *key; struct hist *h; } hs[] = {
        { "latency_us", &run->latency },
        { "latency_uncorrected_us", &run->latency_uncorrected },
        { "connect_us", &run->connect_time },
        { "first_message_us", &run->first_message },
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (hist_from_json(hs[i].h, json_object_get(r, hs[i].key)) != 0)
            return -1;
    return 0;
}

static void load_delivery(const json_t *d, struct run *run)
{
    run->published_measured = u64_at(d, "published");
    run->published = u64_at(d, "published_total");
    run->publish_errors = u64_at(d, "publish_errors");
    run->expected = u64_at(d, "expected");
    run->delivered = u64_at(d, "delivered");
    run->delivered_unacked = u64_at(d, "delivered_unacknowledged");
    run->duplicates = u64_at(d, "duplicates");
    run->out_of_order = u64_at(d, "out_of_order");
    run->gap_lost = u64_at(d, "gap_lost");
    run->epoch_changes = u64_at(d, "epoch_changes");
    run->cursor_resets = u64_at(d, "cursor_resets");
    run->resume_failed = u64_at(d, "resume_failed");
}

static void load_cost(const json_t *c, struct run *run, struct run_extra *x)
{
    run->cost = (struct cost){
        .requests = u64_at(c, "requests"),
        .empty_answers = u64_at(c, "empty_answers"),
        .bytes_rx = u64_at(c, "bytes_rx"),
        .bytes_tx = u64_at(c, "bytes_tx"),
        .connects = u64_at(c, "connections_opened"),
        .reconnects = u64_at(c, "reconnects"),
        .protocol_errors = u64_at(c, "protocol_errors"),
        .transport_errors = u64_at(c, "transport_errors"),
    };
    x->cost_window_s = num_at(c, "window_s", 0);
    x->client_cpu_s = num_at(c, "client_cpu_s", 0);
    x->server_cpu_s = num_at(c, "server_cpu_s", -1);
    x->server_cpu_source = json_string_value(json_object_get(c, "server_cpu_source"));
    x->server_rss_base = u64_at(c, "server_rss_base_bytes");
    x->server_rss = u64_at(c, "server_rss_bytes");
    x->server_bytes_out = u64_at(c, "server_bytes_out");
}

static void load_saturation(const json_t *s, struct run_extra *x)
{
    static const char *const names[SAT_COUNT] = { "subscribers", "publisher" };
    for (int i = 0; i < SAT_COUNT; i++) {
        const json_t *o = json_object_get(s, names[i]);
        x->saturation[i] = (struct saturation){
            .busy = num_at(o, "busy", 0),
            .lag_p50_us = u64_at(o, "lag_p50_us"),
            .lag_p99_us = u64_at(o, "lag_p99_us"),
            .lag_max_us = u64_at(o, "lag_max_us"),
        };
    }
}

/* The inverse of report_run_json, for the fields it writes from measured
 * numbers (the derived ones are computed again). */
static int load_run(const json_t *r, struct run *run, struct run_extra *x)
{
    memset(x, 0, sizeof *x);
    const char *status = json_string_value(json_object_get(r, "status"));
    x->not_offered = status && strcmp(status, "not_offered") == 0;
    x->failure = json_string_value(json_object_get(r, "failure"));
    if (x->not_offered)
        return 0;
    if (load_hists(r, run) != 0)
        return -1;
    x->elapsed_s = num_at(r, "elapsed_s", 0);
    load_delivery(json_object_get(r, "delivery"), run);
    load_cost(json_object_get(r, "cost"), run, x);
    load_saturation(json_object_get(r, "client_saturation"), x);
    return 0;
}

/* ---- merging ------------------------------------------------------------ */

static double max_d(double a, double b) { return a > b ? a : b; }
static uint64_t max_u(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* The processes ran side by side: their windows overlap, so a window is
 * the longest of them; the server they measured is one server, so its
 * figures are the largest reading, not a sum. */
static void extra_merge(struct run_extra *a, const struct run_extra *b)
{
    a->elapsed_s = max_d(a->elapsed_s, b->elapsed_s);
    a->cost_window_s = max_d(a->cost_window_s, b->cost_window_s);
    a->client_cpu_s += b->client_cpu_s;
    if (a->server_cpu_s < 0 || b->server_cpu_s < 0)
        a->server_cpu_s = -1;         /* unknown in one: unknown */
    else
        a->server_cpu_s = max_d(a->server_cpu_s, b->server_cpu_s);
    a->server_rss = max_u(a->server_rss, b->server_rss);
    if (!a->server_rss_base || (b->server_rss_base && b->server_rss_base < a->server_rss_base))
        a->server_rss_base = b->server_rss_base;
    a->server_bytes_out = max_u(a->server_bytes_out, b->server_bytes_out);
    for (int i = 0; i < SAT_COUNT; i++) {
        struct saturation *s = &a->saturation[i];
        const struct saturation *t = &b->saturation[i];
        s->busy = max_d(s->busy, t->busy);
        s->lag_p50_us = max_u(s->lag_p50_us, t->lag_p50_us);
        s->lag_p99_us = max_u(s->lag_p99_us, t->lag_p99_us);
        s->lag_max_us = max_u(s->lag_max_us, t->lag_max_us);
    }
    if (!a->failure)
        a->failure = b->failure;
    a->not_offered = a->not_offered && b->not_offered;
}

/* What run_merge (the threads' merge) leaves out: each process published
 * its own workload (its own --run-tag), so its publishes and the
 * deliveries they owe are its own, and all add up. */
static void totals_merge(struct run *a, const struct run *b)
{
    a->published += b->published;
    a->published_measured += b->published_measured;
    a->expected += b->expected;
    a->publish_errors += b->publish_errors;
    a->resume_failed += b->resume_failed;
}

/* The publishing process's run of transport t, or NULL. */
static const json_t *publisher_run(const struct merge *m, int t)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m->publisher, "runs"), i, r)
        if (transport_of(r) == t)
            return r;
    return NULL;
}

/* A --no-publish process expected every measured message; take out those
 * the server never acknowledged to the publishing process (its
 * "unacknowledged_messages"): not expected, and a copy that arrived anyway
 * is delivered_unacknowledged, as in one process (track_unacked). How many
 * of its subscribers got message k: those listening on k's channel, less
 * its "missing_by_message" count for k. */
static int settle_subscribe_only(const struct merge *m, const json_t *cfg, const json_t *r,
                                 struct run *run, const char *path)
{
    const json_t *pub = json_object_get(json_object_get(publisher_run(m, transport_of(r)),
                                                        "delivery"), "unacknowledged_messages");
    const json_t *missing = json_object_get(json_object_get(r, "delivery"), "missing_by_message");
    if (!json_is_array(pub) || !json_is_array(missing)) {
        fprintf(stderr, "pushpull-client: %s: a --no-publish run without its publishing process's "
                "run of the same transport (or not a result of this version)\n", path);
        return -1;
    }
    unsigned subs = (unsigned)u64_at(cfg, "subscribers"), channels = (unsigned)u64_at(cfg, "channels");
    size_t i, j;
    json_t *kv, *pair;
    json_array_foreach(pub, i, kv) {
        uint64_t k = (uint64_t)json_integer_value(kv), fewer = 0;
        uint64_t listening = channels ? run_listeners(subs, channels, (unsigned)(k % channels)) : 0;
        json_array_foreach(missing, j, pair)
            if ((uint64_t)json_integer_value(json_array_get(pair, 0)) == k)
                fewer = (uint64_t)json_integer_value(json_array_get(pair, 1));
        uint64_t got = listening > fewer ? listening - fewer : 0;
        run->expected -= listening < run->expected ? listening : run->expected;
        run->delivered -= got < run->delivered ? got : run->delivered;
        run->delivered_unacked += got;
    }
    return 0;
}

static int merge_run(struct merge *m, const json_t *cfg, const json_t *r, const char *path)
{
    int t = transport_of(r);
    struct run *run = calloc(1, sizeof *run);
    struct run_extra x;
    if (t < 0 || !run || load_run(r, run, &x) != 0) {
        fprintf(stderr, "pushpull-client: %s: a run is not a pushpull-client result\n", path);
        free(run);
        return -1;
    }
    if (json_is_true(json_object_get(cfg, "no_publish")) && !x.not_offered &&
        settle_subscribe_only(m, cfg, r, run, path) != 0) {
        free(run);
        return -1;
    }
    run->transport = (enum transport)t;
    run->cfg = &m->cfg;
    if (!m->runs[t]) {
        m->runs[t] = run;
        m->extras[t] = x;
        return 0;
    }
    run_merge(m->runs[t], run);
    totals_merge(m->runs[t], run);
    extra_merge(&m->extras[t], &x);
    free(run);
    return 0;
}

/* The first file's workload, with the subscribers, channels and rate of
 * all: each process ran its own. */
static void config_add(struct merge *m, const json_t *cfg, bool first)
{
    m->cfg.subscribers += (unsigned)u64_at(cfg, "subscribers");
    if (!m->publisher || first) {     /* a shared workload's are the same in every file */
        m->cfg.channels += (unsigned)u64_at(cfg, "channels");
        m->cfg.rate += num_at(cfg, "rate", 0);
    }
    if (!first)
        return;
    const char *url = json_string_value(json_object_get(cfg, "url"));
    snprintf(m->cfg.url, sizeof m->cfg.url, "%s", url ? url : "");
    m->cfg.size = u64_at(cfg, "size");
    m->cfg.duration_us = (uint64_t)(num_at(cfg, "duration_s", 0) * 1e6);
    m->cfg.poll_interval_us = (uint64_t)(num_at(cfg, "poll_interval_s", 0) * 1e6);
    m->cfg.no_keepalive = json_is_false(json_object_get(cfg, "keepalive"));
}

static int merge_doc(struct merge *m, json_t *doc, const char *path, bool first)
{
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    const json_t *runs = json_object_get(doc, "runs");
    if (!schema || strcmp(schema, "pushpull-client/1") != 0 || !json_is_array(runs)) {
        fprintf(stderr, "pushpull-client: %s: not a pushpull-client/1 result document\n", path);
        return -1;
    }
    const json_t *manifest = json_object_get(doc, "manifest");
    const char *dialect = json_string_value(json_object_get(manifest, "dialect"));
    if (first)
        m->cfg.dialect = dialect_find(dialect ? dialect : "pushpull");
    config_add(m, json_object_get(doc, "config"), first);
    json_t *host = json_object_get(manifest, "hostname");
    if (json_is_string(host) && !json_object_get(m->hosts, json_string_value(host)))
        json_object_set_new(m->hosts, json_string_value(host), json_true());
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r) {
        if (merge_run(m, json_object_get(doc, "config"), r, path) != 0)
            return -1;
    }
    return 0;
}

/* Files from processes that shared one workload: exactly one published,
 * and all ran the same schedule on the same channels. 0, or -1 (said). */
static int shared_workload(struct merge *m, char **files)
{
    static const char *const same[] = { "run_tag", "rate", "channels", "warmup_s",
                                        "duration_s", "size", "transports" };
    size_t publishers = 0;
    for (size_t i = 0; i < m->ndocs; i++) {
        if (json_is_true(json_object_get(json_object_get(m->docs[i], "config"), "no_publish")))
            m->subscribe_only++;
        else if (publishers++ == 0)
            m->publisher = m->docs[i];
    }
    if (!m->subscribe_only) {
        m->publisher = NULL;
        return 0;
    }
    if (publishers != 1) {
        fprintf(stderr, "pushpull-client: --merge: %zu --no-publish result%s need%s exactly one "
                "publishing process's result beside them, not %zu\n", m->subscribe_only,
                m->subscribe_only == 1 ? "" : "s", m->subscribe_only == 1 ? "s" : "", publishers);
        return -1;
    }
    const json_t *ref = json_object_get(m->publisher, "config");
    for (size_t i = 0; i < m->ndocs; i++)
        for (size_t f = 0; f < sizeof same / sizeof same[0]; f++)
            if (!json_equal(json_object_get(json_object_get(m->docs[i], "config"), same[f]),
                            json_object_get(ref, same[f]))) {
                fprintf(stderr, "pushpull-client: --merge: %s: its %s is not the publishing "
                        "process's: not one workload\n", files[i], same[f]);
                return -1;
            }
    return 0;
}

/* ---- the merged document ------------------------------------------------ */

static json_t *merged_info(const struct merge *m, char **files, size_t n)
{
    json_t *names = json_array(), *hosts = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(files[i]));
    const char *h;
    json_t *v;
    json_object_foreach(m->hosts, h, v)
        json_array_append_new(hosts, json_string(h));
    return json_pack("{s:I, s:I, s:o, s:o, s:b, s:I}", "processes", (json_int_t)n, "host_count",
                     (json_int_t)json_array_size(hosts), "hosts", hosts, "files", names,
                     "shared_workload", m->publisher != NULL,
                     "subscribe_only_processes", (json_int_t)m->subscribe_only);
}

static json_t *merged_doc(struct merge *m, char **files, size_t n)
{
    json_t *doc = json_deep_copy(m->docs[0]);
    json_t *runs = json_array();
    uint64_t restarts = 0;
    for (int t = 0; t < TR_COUNT; t++) {
        if (!m->runs[t])
            continue;
        json_array_append_new(runs, report_run_json(m->runs[t], &m->extras[t]));
        restarts += m->runs[t]->epoch_changes;
    }
    json_t *cfg = json_object_get(doc, "config");
    json_object_set_new(cfg, "subscribers", json_integer(m->cfg.subscribers));
    json_object_set_new(cfg, "channels", json_integer(m->cfg.channels));
    json_object_set_new(cfg, "rate", json_real(m->cfg.rate));
    json_object_set_new(cfg, "no_publish", json_false());
    json_object_set_new(doc, "runs", runs);
    json_object_set_new(doc, "epoch_changes", json_integer((json_int_t)restarts));
    json_object_set_new(doc, "merged", merged_info(m, files, n));
    return doc;
}

static void print_table(const struct merge *m)
{
    const struct run *runs[TR_COUNT];
    struct run_extra extras[TR_COUNT];
    size_t n = 0;
    for (int t = 0; t < TR_COUNT; t++) {
        if (!m->runs[t])
            continue;
        runs[n] = m->runs[t];
        extras[n++] = m->extras[t];
    }
    report_print_table(stdout, &m->cfg, runs, extras, n);
}

bool merge_requested(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "--merge") == 0;
}

/* --merge FILE... --json OUT [--quiet], in any order after --merge. */
static void parse(int argc, char **argv, char **files, size_t *n, const char **out, bool *quiet)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            *out = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            *quiet = true;
        else if (strcmp(argv[i], "--help") == 0)
            fputs(usage, stdout), exit(0);
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            cli_usage_error("--merge: unknown or incomplete option '%s'", argv[i]);
        else if (*n == MERGE_FILES_MAX)
            cli_usage_error("--merge: more than %d files", MERGE_FILES_MAX);
        else
            files[(*n)++] = argv[i];
    }
    if (*n == 0 || !*out)
        cli_usage_error("--merge needs result files and --json OUT");
}

int merge_main(int argc, char **argv)
{
    static char *files[MERGE_FILES_MAX];
    size_t n = 0;
    const char *out = NULL;
    bool quiet = false;
    parse(argc, argv, files, &n, &out, &quiet);
    struct merge *m = calloc(1, sizeof *m);
    int rc = !m || !(m->hosts = json_object());
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_error_t e;
        json_t *doc = json_load_file(files[i], 0, &e);
        if (!doc) {
            fprintf(stderr, "pushpull-client: %s: %s (line %d)\n", files[i], e.text, e.line);
            rc = 1;
            break;
        }
        m->docs[m->ndocs++] = doc;
    }
    if (rc == 0)
        rc = shared_workload(m, files) != 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = merge_doc(m, m->docs[i], files[i], i == 0) != 0;
    if (rc == 0) {
        json_t *doc = merged_doc(m, files, n);
        if (report_write_doc(out, doc) != 0) {
            perror(out);
            rc = 1;
        }
        json_decref(doc);
        if (rc == 0 && !quiet)
            print_table(m);
    }
    for (size_t i = 0; m && i < m->ndocs; i++)
        json_decref(m->docs[i]);
    for (int t = 0; m && t < TR_COUNT; t++)
        free(m->runs[t]);
    if (m)
        json_decref(m->hosts);
    free(m);
    return rc;
}
