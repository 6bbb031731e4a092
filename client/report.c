#include "report.h"

#include "dialect.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <wslay/wslayver.h>

#ifndef PUSHPULL_VERSION
#error "PUSHPULL_VERSION is not defined (the Makefile passes -DPUSHPULL_VERSION)"
#endif

#define SCHEMA "pushpull-client/1"
/* Ten significant digits: more than any measured figure is accurate to,
 * without the 0.10000000000000001 noise of the default 17. */
#define REAL_DIGITS 10
#define JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(REAL_DIGITS))

static const char *const phase_names[] = { "connect", "warm-up", "measure", "drain", "done" };
_Static_assert(sizeof phase_names / sizeof phase_names[0] == PH_DONE + 1, "a name per phase");

/* ---- derived figures ---------------------------------------------------- */

/* Every figure computed from counters, once, so JSON, CSV and table agree.
 * NAN means "undefined" (zero denominator, or not measured); it is written
 * as JSON null, an empty CSV field or "-", never as inf or nan. */
struct derived {
    uint64_t lost;
    double loss_ratio;
    double delivered_per_s, published_per_s;
    double requests_per_delivered, bytes_per_delivered, reuse_ratio;
    double client_cpu_us_per_delivered;
    double server_cpu_s, server_cpu_us_per_delivered;
    double server_bytes_out, server_bytes_out_per_delivered;
    double server_rss_per_subscriber;     /* bytes; may be negative (noise) */
};

static double ratio(double num, double den)
{
    double r = den > 0 ? num / den : NAN;
    return isfinite(r) ? r : NAN;
}

static struct derived derive(const struct run *run, const struct run_extra *x)
{
    const struct cost *c = &run->cost;
    const double delivered = (double)run->delivered;
    struct derived d;

    /* delivered > expected would be a tracking bug, not negative loss */
    d.lost = run->expected > run->delivered ? run->expected - run->delivered : 0;
    d.loss_ratio = ratio((double)d.lost, (double)run->expected);
    d.delivered_per_s = ratio(delivered, x->elapsed_s);
    d.published_per_s = ratio((double)run->published_measured, x->elapsed_s);
    d.requests_per_delivered = ratio((double)c->requests, delivered);
    d.bytes_per_delivered = ratio((double)c->bytes_rx + (double)c->bytes_tx, delivered);
    /* Every connection carries at least one request, so 1 - connects/requests
     * is the share of requests that found a connection already open; the
     * clamp absorbs connects counted for requests that never got sent. */
    d.reuse_ratio = NAN;
    if (c->requests > 0) {
        double r = 1.0 - (double)c->connects / (double)c->requests;
        d.reuse_ratio = r < 0 ? 0 : r > 1 ? 1 : r;
    }
    d.client_cpu_us_per_delivered = ratio(x->client_cpu_s * 1e6, delivered);
    d.server_cpu_s = x->server_cpu_s >= 0 ? x->server_cpu_s : NAN;
    d.server_cpu_us_per_delivered = ratio(d.server_cpu_s * 1e6, delivered);
    d.server_bytes_out = x->server_bytes_out > 0 ? (double)x->server_bytes_out : NAN;
    d.server_bytes_out_per_delivered = ratio(d.server_bytes_out, delivered);
    d.server_rss_per_subscriber = NAN;
    if (x->server_rss && x->server_rss_base)
        d.server_rss_per_subscriber = ((double)x->server_rss - (double)x->server_rss_base) /
                                      (double)run->cfg->subscribers;
    return d;
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *j_u64(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *j_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* Text from outside (failure reasons, /proc, hostname) may not be UTF-8,
 * which json_string refuses; a placeholder beats losing the document. */
static json_t *j_text(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    return j != NULL ? j : json_string("(not valid UTF-8)");
}

static json_t *j_seconds(uint64_t us)
{
    return json_real((double)us / 1e6);
}

static json_t *delivery_json(const struct run *run, const struct derived *d)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "published", j_u64(run->published_measured))
           | json_object_set_new(o, "published_total", j_u64(run->published))
           | json_object_set_new(o, "publish_errors", j_u64(run->publish_errors))
           | json_object_set_new(o, "expected", j_u64(run->expected))
           | json_object_set_new(o, "delivered", j_u64(run->delivered))
           | json_object_set_new(o, "delivered_unacknowledged", j_u64(run->delivered_unacked))
           | json_object_set_new(o, "duplicates", j_u64(run->duplicates))
           | json_object_set_new(o, "out_of_order", j_u64(run->out_of_order))
           | json_object_set_new(o, "gap_lost", j_u64(run->gap_lost))
           | json_object_set_new(o, "epoch_changes", j_u64(run->epoch_changes))
           | json_object_set_new(o, "cursor_resets", j_u64(run->cursor_resets))
           | json_object_set_new(o, "resume_failed", j_u64(run->resume_failed))
           | json_object_set_new(o, "lost", j_u64(d->lost))
           | json_object_set_new(o, "loss_ratio", j_num(d->loss_ratio));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *throughput_json(const struct derived *d)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "delivered_per_s", j_num(d->delivered_per_s))
           | json_object_set_new(o, "published_per_s", j_num(d->published_per_s));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *const saturation_names[SAT_COUNT] = { "subscribers", "publisher" };

static json_t *saturation_json(const struct run_extra *x)
{
    json_t *o = json_object();
    bool limited = false;
    for (int i = 0; i < SAT_COUNT; i++) {
        const struct saturation *s = &x->saturation[i];
        limited |= saturation_limited(s);
        json_object_set_new(o, saturation_names[i],
                            json_pack("{s:o, s:I, s:I, s:I, s:b}", "busy", j_num(s->busy),
                                      "lag_p50_us", (json_int_t)s->lag_p50_us,
                                      "lag_p99_us", (json_int_t)s->lag_p99_us,
                                      "lag_max_us", (json_int_t)s->lag_max_us,
                                      "limited", saturation_limited(s)));
    }
    json_object_set_new(o, "client_limited", json_boolean(limited));
    return o;
}

static json_t *cost_json(const struct run *run, const struct run_extra *x,
                         const struct derived *d)
{
    const struct cost *c = &run->cost;
    json_t *o = json_object();
    int rc = json_object_set_new(o, "window_s", j_num(x->cost_window_s))
           | json_object_set_new(o, "requests", j_u64(c->requests))
           | json_object_set_new(o, "empty_answers", j_u64(c->empty_answers))
           | json_object_set_new(o, "requests_per_delivered", j_num(d->requests_per_delivered))
           | json_object_set_new(o, "bytes_rx", j_u64(c->bytes_rx))
           | json_object_set_new(o, "bytes_tx", j_u64(c->bytes_tx))
           | json_object_set_new(o, "bytes_per_delivered", j_num(d->bytes_per_delivered))
           | json_object_set_new(o, "connections_opened", j_u64(c->connects))
           | json_object_set_new(o, "connection_reuse_ratio", j_num(d->reuse_ratio))
           | json_object_set_new(o, "reconnects", j_u64(c->reconnects))
           | json_object_set_new(o, "protocol_errors", j_u64(c->protocol_errors))
           | json_object_set_new(o, "transport_errors", j_u64(c->transport_errors))
           | json_object_set_new(o, "client_cpu_s", j_num(x->client_cpu_s))
           | json_object_set_new(o, "client_cpu_us_per_delivered",
                                 j_num(d->client_cpu_us_per_delivered))
           | json_object_set_new(o, "server_cpu_s", j_num(d->server_cpu_s))
           | json_object_set_new(o, "server_cpu_us_per_delivered",
                                 j_num(d->server_cpu_us_per_delivered))
           | json_object_set_new(o, "server_cpu_source", j_text(x->server_cpu_source))
           | json_object_set_new(o, "server_rss_base_bytes",
                                 x->server_rss_base ? j_u64(x->server_rss_base) : json_null())
           | json_object_set_new(o, "server_rss_bytes",
                                 x->server_rss ? j_u64(x->server_rss) : json_null())
           | json_object_set_new(o, "server_rss_per_subscriber_bytes",
                                 j_num(d->server_rss_per_subscriber))
           | json_object_set_new(o, "server_bytes_out",
                                 x->server_bytes_out > 0 ? j_u64(x->server_bytes_out)
                                                         : json_null())
           | json_object_set_new(o, "server_bytes_out_per_delivered",
                                 j_num(d->server_bytes_out_per_delivered));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *run_status(const struct run_extra *x)
{
    return x->not_offered ? "not_offered" : x->failure ? "failed" : "ok";
}

/* A transport the server does not offer: what, for whom, no figures. */
static json_t *not_offered_json(const struct run *run)
{
    return json_pack("{s:s, s:s, s:s, s:n}", "transport", transport_names[run->transport],
                     "dialect", dialect_of(run->cfg)->name, "status", "not_offered", "failure");
}

int extra_add_unacked(struct run_extra *x, uint64_t k)
{
    uint64_t *grown = realloc(x->unacked, (x->nunacked + 1) * sizeof *grown);
    if (!grown)
        return -1;
    x->unacked = grown;
    x->unacked[x->nunacked++] = k;
    return 0;
}

int extra_add_missing(struct run_extra *x, uint64_t k, uint64_t fewer)
{
    uint64_t (*grown)[2] = realloc(x->missing, (x->nmissing + 1) * sizeof *grown);
    if (!grown)
        return -1;
    x->missing = grown;
    x->missing[x->nmissing][0] = k;
    x->missing[x->nmissing++][1] = fewer;
    return 0;
}

void run_extra_free(struct run_extra *x)
{
    free(x->unacked);
    free(x->missing);
    x->unacked = NULL;
    x->missing = NULL;
    x->nunacked = x->nmissing = 0;
}

/* What --merge needs to join the processes of one workload: a publishing
 * run's "unacknowledged_messages" (ks), a subscribe-only run's
 * "missing_by_message" ([k, fewer] pairs). */
static int merge_lists_json(json_t *delivery, const struct run *run, const struct run_extra *x)
{
    if (!x->has_lists || !delivery)
        return 0;
    json_t *a = json_array();
    int rc = a ? 0 : -1;
    if (run->cfg->no_publish)
        for (size_t i = 0; i < x->nmissing && rc == 0; i++)
            rc = json_array_append_new(a, json_pack("[II]", (json_int_t)x->missing[i][0],
                                                    (json_int_t)x->missing[i][1]));
    else
        for (size_t i = 0; i < x->nunacked && rc == 0; i++)
            rc = json_array_append_new(a, j_u64(x->unacked[i]));
    return rc | json_object_set_new(delivery, run->cfg->no_publish ? "missing_by_message"
                                                                   : "unacknowledged_messages", a);
}

json_t *report_run_json(const struct run *run, const struct run_extra *x)
{
    if (x->not_offered)
        return not_offered_json(run);
    struct derived d = derive(run, x);
    json_t *o = json_object();
    int rc = json_object_set_new(o, "transport", json_string(transport_names[run->transport]))
           | json_object_set_new(o, "dialect", json_string(dialect_of(run->cfg)->name))
           | json_object_set_new(o, "status", json_string(run_status(x)))
           | json_object_set_new(o, "failure", j_text(x->failure))
           | json_object_set_new(o, "elapsed_s", j_num(x->elapsed_s))
           | json_object_set_new(o, "latency_us", hist_to_json(&run->latency))
           | json_object_set_new(o, "latency_uncorrected_us",
                                 hist_to_json(&run->latency_uncorrected))
           | json_object_set_new(o, "connect_us", hist_to_json(&run->connect_time))
           | json_object_set_new(o, "first_message_us", hist_to_json(&run->first_message))
           | json_object_set_new(o, "delivery", delivery_json(run, &d))
           | json_object_set_new(o, "throughput", throughput_json(&d))
           | json_object_set_new(o, "cost", cost_json(run, x, &d))
           | json_object_set_new(o, "client_saturation", saturation_json(x));
    rc |= merge_lists_json(json_object_get(o, "delivery"), run, x);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The value of the first "key<blanks>: value" line of a /proc file, or
 * false. Only line starts are matched: cpuinfo's flags line is longer than
 * the buffer and arrives in pieces. */
static bool proc_field(const char *file, const char *key, char *buf, size_t cap)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return false;
    char line[512];
    size_t klen = strlen(key);
    bool at_start = true, found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (at_start && strncmp(line, key, klen) == 0) {
            const char *p = line + klen;
            p += strspn(p, " \t");
            if (*p == ':') {
                p += 1 + strspn(p + 1, " \t");
                snprintf(buf, cap, "%.*s", (int)strcspn(p, "\n"), p);
                found = true;
            }
        }
        at_start = strchr(line, '\n') != NULL;
    }
    fclose(f);
    return found;
}

static json_t *memory_json(void)
{
    char v[64];
    if (!proc_field("/proc/meminfo", "MemTotal", v, sizeof v))
        return json_null();
    return j_u64(strtoull(v, NULL, 10) * 1024);        /* "24567890 kB" */
}

static json_t *cpu_model_json(void)
{
    char v[256];
    return proc_field("/proc/cpuinfo", "model name", v, sizeof v) ? j_text(v) : json_null();
}

static json_t *hostname_json(void)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        return json_null();
    name[sizeof name - 1] = '\0';                      /* truncation leaves it unterminated */
    return j_text(name);
}

static json_t *now_utc_json(void)
{
    char buf[32];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

static json_t *jansson_version_json(void)
{
#if JANSSON_VERSION_HEX >= 0x020d00
    return json_string(jansson_version_str());         /* the library loaded, not the header */
#else
    return json_string(JANSSON_VERSION);
#endif
}

/* wslay has no runtime version call: this is its header's, when it has one. */
static json_t *wslay_version_json(void)
{
#ifdef WSLAY_VERSION
    return json_string(WSLAY_VERSION);
#else
    return json_null();
#endif
}

static json_t *cores_json(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? json_integer(n) : json_null();
}

json_t *report_manifest(void)
{
#ifdef PUSHPULL_GIT_REV
    const char *git_rev = PUSHPULL_GIT_REV;
#else
    const char *git_rev = NULL;
#endif
    struct utsname u;
    bool have_uname = uname(&u) == 0;
    char kernel[sizeof u.sysname + sizeof u.release + 1];
    if (have_uname)
        snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);

    json_t *o = json_object();
    int rc = json_object_set_new(o, "client", json_string("pushpull-client " PUSHPULL_VERSION))
           | json_object_set_new(o, "libcurl", j_text(curl_version()))
           | json_object_set_new(o, "libevent", j_text(event_get_version()))
           | json_object_set_new(o, "jansson", jansson_version_json())
           | json_object_set_new(o, "openssl", j_text(OpenSSL_version(OPENSSL_VERSION)))
           | json_object_set_new(o, "wslay", wslay_version_json())
           | json_object_set_new(o, "kernel", j_text(have_uname ? kernel : NULL))
           | json_object_set_new(o, "machine", j_text(have_uname ? u.machine : NULL))
           | json_object_set_new(o, "cpu_model", cpu_model_json())
           | json_object_set_new(o, "cores", cores_json())
           | json_object_set_new(o, "memory_bytes", memory_json())
           | json_object_set_new(o, "git_revision", j_text(git_rev))
           | json_object_set_new(o, "hostname", hostname_json())
           | json_object_set_new(o, "started_utc", now_utc_json());
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *transports_json(const struct client_config *cfg)
{
    json_t *a = json_array();
    int rc = a == NULL;
    for (int t = 0; t < TR_COUNT && rc == 0; t++)
        if (cfg->transports[t])
            rc = json_array_append_new(a, json_string(transport_names[t]));
    if (rc != 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *config_json(const struct client_config *cfg)
{
    json_t *o = json_object();
    char seed[24];
    /* a string: a 64-bit seed does not survive JSON readers that use doubles */
    snprintf(seed, sizeof seed, "%" PRIu64, cfg->seed);
    int rc = json_object_set_new(o, "url", j_text(cfg->url))
           | json_object_set_new(o, "publish_url", j_text(cfg->publish_url))
           | json_object_set_new(o, "transports", transports_json(cfg))
           | json_object_set_new(o, "subscribers", json_integer(cfg->subscribers))
           | json_object_set_new(o, "channels", json_integer(cfg->channels))
           | json_object_set_new(o, "rate", json_real(cfg->rate))
           | json_object_set_new(o, "size", j_u64(cfg->size))
           | json_object_set_new(o, "duration_s", j_seconds(cfg->duration_us))
           | json_object_set_new(o, "warmup_s", j_seconds(cfg->warmup_us))
           | json_object_set_new(o, "idle_hold_s", j_seconds(cfg->idle_hold_us))
           | json_object_set_new(o, "drain_s", j_seconds(cfg->drain_us))
           | json_object_set_new(o, "poll_interval_s", j_seconds(cfg->poll_interval_us))
           | json_object_set_new(o, "longpoll_timeout_s", j_seconds(cfg->longpoll_timeout_us))
           | json_object_set_new(o, "connect_timeout_s", j_seconds(cfg->connect_timeout_us))
           | json_object_set_new(o, "connect_rate", json_real(cfg->connect_rate))
           | json_object_set_new(o, "churn_s", j_seconds(cfg->churn_us))
           | json_object_set_new(o, "threads", json_integer(cfg->threads))
           | json_object_set_new(o, "connections", json_integer(cfg->connections))
           | json_object_set_new(o, "keepalive", json_boolean(!cfg->no_keepalive))
           | json_object_set_new(o, "socketio_upgrade", json_boolean(cfg->socketio_upgrade))
           | json_object_set_new(o, "tls", json_boolean(strncmp(cfg->url, "https:", 6) == 0))
           | json_object_set_new(o, "cacert", j_text(cfg->cacert))
           | json_object_set_new(o, "insecure", json_boolean(cfg->insecure))
           | json_object_set_new(o, "publish_via",
                                 json_string(cfg->publish_via == PUB_WS ? "ws" : "http"))
           | json_object_set_new(o, "seed", json_string(seed))
           | json_object_set_new(o, "json_path", j_text(cfg->json_path))
           | json_object_set_new(o, "csv_path", j_text(cfg->csv_path))
           | json_object_set_new(o, "run_tag", j_text(cfg->run_tag))
           | json_object_set_new(o, "no_publish", json_boolean(cfg->no_publish))
           | json_object_set_new(o, "quiet", json_boolean(cfg->quiet));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* path.tmp, flushed to disk, then renamed: a reader (or a crash) sees the
 * old document or the new one, never a mix. */
static int write_atomic(const char *path, const json_t *doc)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    errno = 0;
    bool ok = json_dumpf(doc, f, JSON_FLAGS) == 0 && fputc('\n', f) != EOF
              && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno != 0 ? errno : EIO;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        errno = err;
        return -1;
    }
    return 0;
}

int report_write_doc(const char *path, const json_t *doc)
{
    return write_atomic(path, doc);
}

int report_write_json(const char *path, const struct client_config *cfg,
                      json_t *manifest, json_t *runs_array)
{
    if (manifest == NULL || runs_array == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Restarts of all runs together, so a reader cannot miss one. */
    uint64_t restarts = 0;
    size_t i;
    json_t *r;
    json_array_foreach(runs_array, i, r) {
        json_t *n = json_object_get(json_object_get(r, "delivery"), "epoch_changes");
        restarts += json_is_integer(n) ? (uint64_t)json_integer_value(n) : 0;
    }
    json_t *doc = json_object();
    int rc = json_object_set_new(doc, "schema", json_string(SCHEMA))
           | json_object_set_new(doc, "config", config_json(cfg))
           | json_object_set(doc, "manifest", manifest)
           | json_object_set_new(doc, "epoch_changes", j_u64(restarts))
           | json_object_set(doc, "runs", runs_array);
    if (rc != 0) {
        json_decref(doc);
        errno = ENOMEM;
        return -1;
    }
    rc = write_atomic(path, doc);
    int err = errno;
    json_decref(doc);
    errno = err;
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

static const char *const csv_columns[] = {
    "transport", "subscribers", "channels", "rate", "size", "poll_interval_ms", "keepalive",
    "status", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us",
    "uncorrected_p99_us", "delivered", "expected", "lost", "duplicates", "out_of_order",
    "delivered_per_s", "requests", "requests_per_delivered", "bytes_per_delivered",
    "connections_opened", "reuse_ratio", "reconnects", "protocol_errors",
    "client_cpu_us_per_delivered", "server_cpu_us_per_delivered", "epoch_changes",
};
#define CSV_COLUMNS (sizeof csv_columns / sizeof csv_columns[0])

struct csv_row {
    char buf[2048];                   /* 31 fields of at most ~25 characters */
    size_t len;
    size_t fields;
};

__attribute__((format(printf, 2, 3)))
static void csv_field(struct csv_row *r, const char *fmt, ...)
{
    if (r->fields++ > 0)
        r->buf[r->len++] = ',';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->len, sizeof r->buf - r->len, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof r->buf - r->len);
    /* Nothing is quoted, so no field may hold a separator or a quote. */
    assert(strpbrk(r->buf + r->len, ",\"\n") == NULL);
    r->len += (size_t)n;
}

static void csv_u64(struct csv_row *r, uint64_t v)
{
    csv_field(r, "%" PRIu64, v);
}

static void csv_num(struct csv_row *r, double v)
{
    if (isnan(v))
        csv_field(r, "%s", "");
    else
        csv_field(r, "%.*g", REAL_DIGITS, v);
}

static void csv_build(struct csv_row *r, const struct client_config *cfg,
                      const struct run *run, const struct run_extra *x)
{
    struct derived d = derive(run, x);
    const struct hist *lat = &run->latency;
    r->len = r->fields = 0;
    csv_field(r, "%s", transport_names[run->transport]);
    csv_field(r, "%u", cfg->subscribers);
    csv_field(r, "%u", cfg->channels);
    csv_num(r, cfg->rate);
    csv_field(r, "%zu", cfg->size);
    csv_num(r, (double)cfg->poll_interval_us / 1000.0);
    csv_field(r, "%d", !cfg->no_keepalive);
    csv_field(r, "%s", run_status(x));
    csv_u64(r, hist_percentile(lat, 50.0));
    csv_u64(r, hist_percentile(lat, 90.0));
    csv_u64(r, hist_percentile(lat, 99.0));
    csv_u64(r, hist_percentile(lat, 99.9));
    csv_u64(r, hist_max(lat));
    csv_num(r, hist_mean(lat));
    csv_u64(r, hist_percentile(&run->latency_uncorrected, 99.0));
    csv_u64(r, run->delivered);
    csv_u64(r, run->expected);
    csv_u64(r, d.lost);
    csv_u64(r, run->duplicates);
    csv_u64(r, run->out_of_order);
    csv_num(r, d.delivered_per_s);
    csv_u64(r, run->cost.requests);
    csv_num(r, d.requests_per_delivered);
    csv_num(r, d.bytes_per_delivered);
    csv_u64(r, run->cost.connects);
    csv_num(r, d.reuse_ratio);
    csv_u64(r, run->cost.reconnects);
    csv_u64(r, run->cost.protocol_errors);
    csv_num(r, d.client_cpu_us_per_delivered);
    csv_num(r, d.server_cpu_us_per_delivered);
    csv_u64(r, run->epoch_changes);
    assert(r->fields == CSV_COLUMNS);
}

int report_append_csv(const char *path, const struct client_config *cfg,
                      const struct run *run, const struct run_extra *x)
{
    struct csv_row row;
    csv_build(&row, cfg, run, x);
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    struct stat st;
    bool ok = fstat(fileno(f), &st) == 0;
    if (ok && st.st_size == 0)
        for (size_t i = 0; i < CSV_COLUMNS && ok; i++)
            ok = fprintf(f, "%s%c", csv_columns[i], i + 1 < CSV_COLUMNS ? ',' : '\n') > 0;
    ok = ok && fprintf(f, "%.*s\n", (int)row.len, row.buf) > 0 && fflush(f) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- table -------------------------------------------------------------- */

/* Milliseconds to four significant digits but at most three decimals (1 µs):
 * the histogram is exact to 0.4 %, so more digits would be noise. */
static void fmt_ms(char *buf, size_t cap, const struct hist *h, uint64_t us)
{
    if (hist_count(h) == 0)
        snprintf(buf, cap, "-");
    else if (us > HIST_MAX_VALUE)
        snprintf(buf, cap, ">%u", HIST_MAX_VALUE / 1000);
    else {
        double ms = (double)us / 1000.0;
        snprintf(buf, cap, "%.*f", ms < 10 ? 3 : ms < 100 ? 2 : ms < 1000 ? 1 : 0, ms);
    }
}

/* About three significant digits, never an exponent. */
static void fmt_num(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else if (v > 0 && v < 0.001)
        snprintf(buf, cap, "<0.001");
    else
        snprintf(buf, cap, "%.*f", v >= 100 || v == 0 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3, v);
}

static const char *const table_heads[] = {
    "transport", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "deliv/s", "lost", "dup",
    "req/msg", "B/msg", "conns", "reconn", "cli µs/msg", "srv µs/msg",
};
#define TABLE_COLUMNS (sizeof table_heads / sizeof table_heads[0])

typedef char table_row[TABLE_COLUMNS][32];

/* printf pads by bytes; "µ" is two bytes but one column. */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* The transport name is left-aligned, numbers right-aligned. */
static void put_cell(FILE *out, size_t col, const char *text, size_t width)
{
    int pad = (int)(width - display_width(text));
    if (col > 0)
        fprintf(out, "  %*s%s", pad, "", text);
    else
        fprintf(out, "%s%*s", text, pad, "");
}

static void format_row(table_row cell, const struct run *run, const struct run_extra *x)
{
    struct derived d = derive(run, x);
    const struct hist *lat = &run->latency;
    snprintf(cell[0], sizeof cell[0], "%s", transport_names[run->transport]);
    fmt_ms(cell[1], sizeof cell[1], lat, hist_percentile(lat, 50.0));
    fmt_ms(cell[2], sizeof cell[2], lat, hist_percentile(lat, 99.0));
    fmt_ms(cell[3], sizeof cell[3], lat, hist_percentile(lat, 99.9));
    fmt_ms(cell[4], sizeof cell[4], lat, hist_max(lat));
    fmt_num(cell[5], sizeof cell[5], d.delivered_per_s);
    snprintf(cell[6], sizeof cell[6], "%" PRIu64, d.lost);
    snprintf(cell[7], sizeof cell[7], "%" PRIu64, run->duplicates);
    fmt_num(cell[8], sizeof cell[8], d.requests_per_delivered);
    fmt_num(cell[9], sizeof cell[9], d.bytes_per_delivered);
    snprintf(cell[10], sizeof cell[10], "%" PRIu64, run->cost.connects);
    snprintf(cell[11], sizeof cell[11], "%" PRIu64, run->cost.reconnects);
    fmt_num(cell[12], sizeof cell[12], d.client_cpu_us_per_delivered);
    fmt_num(cell[13], sizeof cell[13], d.server_cpu_us_per_delivered);
}

/* Each column as wide as its widest cell: rows are formatted once to
 * measure, once to print, rather than held for an unbounded n. */
static void table_widths(size_t width[TABLE_COLUMNS], const struct run *const *runs,
                         const struct run_extra *extras, size_t n)
{
    table_row cell;
    for (size_t c = 0; c < TABLE_COLUMNS; c++)
        width[c] = display_width(table_heads[c]);
    for (size_t i = 0; i < n; i++) {
        format_row(cell, runs[i], &extras[i]);
        for (size_t c = 0; c < (extras[i].failure || extras[i].not_offered ? 1 : TABLE_COLUMNS); c++)
            if (display_width(cell[c]) > width[c])
                width[c] = display_width(cell[c]);
    }
}

static void print_row(FILE *out, const size_t width[TABLE_COLUMNS], const struct run *run,
                      const struct run_extra *x)
{
    table_row cell;
    format_row(cell, run, x);
    put_cell(out, 0, cell[0], width[0]);
    if (x->not_offered)
        fprintf(out, "  not offered by this server (dialect %s)", dialect_of(run->cfg)->name);
    else if (x->failure != NULL)
        fprintf(out, "  FAILED: %s", x->failure);
    else
        for (size_t c = 1; c < TABLE_COLUMNS; c++)
            put_cell(out, c, cell[c], width[c]);
    fputc('\n', out);
}

/* Counts worth a reader's attention that have no column of their own. */
static void print_notes(FILE *out, const struct run *run)
{
    const struct {
        const char *what;
        uint64_t n;
    } notes[] = {
        { "publish errors", run->publish_errors },
        { "transport errors", run->cost.transport_errors },
        { "protocol errors", run->cost.protocol_errors },
        { "lost in server-reported gaps", run->gap_lost },
        { "out of order", run->out_of_order },
        { "deliveries of unacknowledged publishes", run->delivered_unacked },
        { "subscribers that started over after a restart", run->cursor_resets },
        { "resumes the server refused", run->resume_failed },
        { "latencies over 60 s", hist_overflow(&run->latency) },
    };
    bool any = false;
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        if (notes[i].n == 0)
            continue;
        if (!any)
            fprintf(out, "note: %s:", transport_names[run->transport]);
        fprintf(out, "%s %s %" PRIu64, any ? "," : "", notes[i].what, notes[i].n);
        any = true;
    }
    if (any)
        fputc('\n', out);
}

/* Said before the table, since its loss figures do not read as usual. */
static void print_restarts(FILE *out, const struct run *run)
{
    if (run->epoch_changes == 0)
        return;
    fprintf(out, "warning: %s: server restarted (epoch changed %" PRIu64 " time%s): losses below "
                 "include messages lost across the restart\n",
            transport_names[run->transport], run->epoch_changes,
            run->epoch_changes == 1 ? "" : "s");
}

/* The client, not the server, may have been the limit of this run. */
static void print_saturation(FILE *out, const struct run *run, const struct run_extra *x)
{
    for (int i = 0; i < SAT_COUNT && !x->not_offered && !x->failure; i++) {
        const struct saturation *s = &x->saturation[i];
        if (!saturation_limited(s))
            continue;
        fprintf(out, "warning: %s: the client's %s loop was busy %.0f %% of the window, its "
                     "ticks %.1f ms late (median): the client, not the server, may have been "
                     "the limit\n", transport_names[run->transport], saturation_names[i],
                s->busy * 100, (double)s->lag_p50_us / 1000);
    }
}

static void print_workload(FILE *out, const struct client_config *cfg)
{
    fprintf(out, "workload: %u subscribers, %u channels, %g msg/s, %zu B payload, "
                 "%g s measured, ",
            cfg->subscribers, cfg->channels, cfg->rate, cfg->size,
            (double)cfg->duration_us / 1e6);
    if (cfg->poll_interval_us > 0)
        fprintf(out, "poll interval %g ms, ", (double)cfg->poll_interval_us / 1e3);
    else
        fputs("polls back to back, ", out);
    fprintf(out, "keep-alive %s\n", cfg->no_keepalive ? "off" : "on");
}

void report_print_table(FILE *out, const struct client_config *cfg,
                        const struct run *const *runs, const struct run_extra *extras,
                        size_t n)
{
    size_t width[TABLE_COLUMNS];
    table_widths(width, runs, extras, n);
    print_workload(out, cfg);
    for (size_t i = 0; i < n; i++)
        print_restarts(out, runs[i]);
    for (size_t i = 0; i < n; i++)
        print_saturation(out, runs[i], &extras[i]);
    fputc('\n', out);
    for (size_t c = 0; c < TABLE_COLUMNS; c++)
        put_cell(out, c, table_heads[c], width[c]);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++)
        print_row(out, width, runs[i], &extras[i]);
    for (size_t i = 0; i < n; i++)
        print_notes(out, runs[i]);
    fputs("\n"
          "Latency: from each message's scheduled publish time to its arrival (open\n"
          "  loop), so a stalled publisher or server shows up instead of hiding. In ms:\n"
          "  to the µs below 10 ms, 4 significant digits above. lost = expected -\n"
          "  delivered after the drain; dup = extra copies received. req/msg, B/msg:\n"
          "  subscriber requests and bytes (both ways, headers included) per delivered\n"
          "  message. conns: TCP connections opened. cli/srv µs/msg: CPU time per\n"
          "  delivered message. \"-\": not measured, or nothing to divide by.\n"
          "  Every field: docs/CLIENT-OUTPUT.md\n",
          out);
}

/* ---- progress ----------------------------------------------------------- */

void report_progress(FILE *tty, const struct run *run, double elapsed_s)
{
    char rate[32] = "-", p99[32];
    if (run->phase == PH_MEASURE)
        fmt_num(rate, sizeof rate, ratio((double)run->delivered, elapsed_s));
    fmt_ms(p99, sizeof p99, &run->latency, hist_percentile(&run->latency, 99.0));
    char line[160];
    snprintf(line, sizeof line,
             "%-8s %-7s %6.1f s  published %" PRIu64 "  delivered/s %s  p99 %s ms",
             transport_names[run->transport], phase_names[run->phase], elapsed_s,
             run->published, rate, p99);
    /* Spaces rather than an erase-line escape: a shorter line must blank
     * the longer one it overwrites on any terminal. */
    fprintf(tty, "\r%-79s", line);
    fflush(tty);
}
