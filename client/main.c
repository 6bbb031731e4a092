/* pushpull-client: parse the command line, check the server is there,
 * run each transport in turn (engine.c), write the outputs (report.c). */
#include <errno.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "dialect.h"
#include "engine.h"
#include "https.h"
#include "merge.h"
#include "report.h"

struct probe_tls {
    CURL *easy;
    char *buf;
    size_t cap;
};

/* libcurl shows a connection's TLS only while a transfer runs on it. */
static size_t probe_on_header(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    struct probe_tls *p = arg;
    if (!p->buf[0] && https_describe(p->easy, p->buf, p->cap) != 0)
        p->buf[0] = '\0';
    return size * n;
}

/* GET base/healthz once, before any run. An https:// server's TLS version
 * and cipher go into tls (empty for http://). */
static int server_reachable(const struct client_config *cfg, const char *base,
                            char *tls, size_t tlscap, char *err, size_t errlen)
{
    CURL *easy = curl_easy_init();
    if (!easy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char url[640], why[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof url, "%s/healthz", base);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout_us / 1000));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(cfg->connect_timeout_us / 1000) + 5000);
    struct probe_tls probe = { easy, tls, tlscap };
    tls[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, probe_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &probe);
    https_apply(easy);
    CURLcode rc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    /* A certificate curl would not trust is the usual first https:// error. */
    bool cert = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach %s: %s%s", base, why[0] ? why : curl_easy_strerror(rc),
                 cert ? " (--cacert FILE trusts the server's certificate; --insecure "
                        "skips the check)" : "");
        return -1;
    }
    if (status != 200) {
        snprintf(err, errlen, "%s/healthz answered %ld: is it a server of dialect %s?", base,
                 status, dialect_of(cfg)->name);
        return -1;
    }
    return 0;
}

static void on_interrupt(int sig)
{
    (void)sig;
    engine_interrupted = 1;
}

int main(int argc, char **argv)
{
    struct client_config cfg;
    cli_init("pushpull-client");
    if (merge_requested(argc, argv))
        return merge_main(argc, argv);
    args_parse(argc, argv, &cfg);
    srandom((unsigned)cfg.seed);
    char tag[32];
    snprintf(tag, sizeof tag, "pp%ld%04lx", (long)getpid(), (unsigned long)(random() & 0xffff));
    if (!cfg.run_tag)
        cfg.run_tag = tag;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;    /* many subscribers need many fds */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* The publisher runs on a thread of its own (pubthread.c): libevent
     * must lock, so that the main thread may wake its loop. */
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_ALL);
    https_configure(cfg.cacert, cfg.insecure);
    if (cfg.insecure)
        fprintf(stderr, "pushpull-client: warning: --insecure: the server's certificate "
                "is not verified\n");
    char err[1024], tls[128], publish_tls[128];
    if (server_reachable(&cfg, cfg.url, tls, sizeof tls, err, sizeof err) != 0 ||
        (strcmp(cfg.publish_url, cfg.url) != 0 &&
         server_reachable(&cfg, cfg.publish_url, publish_tls, sizeof publish_tls,
                          err, sizeof err) != 0)) {
        fprintf(stderr, "pushpull-client: %s\n", err);
        curl_global_cleanup();
        return 1;
    }
    json_t *manifest = report_manifest();
    if (manifest)                     /* what the subscribers' connections negotiated */
        json_object_set_new(manifest, "tls", tls[0] ? json_string(tls) : json_null());
    if (manifest)
        json_object_set_new(manifest, "dialect", json_string(cfg.dialect->name));
    json_t *runs_json = json_array();
    struct run *runs[TR_COUNT];
    struct run_extra extras[TR_COUNT];
    size_t n = 0;
    int status = 0;
    for (int t = 0; t < TR_COUNT && !engine_interrupted; t++) {
        if (!cfg.transports[t])
            continue;
        runs[n] = calloc(1, sizeof *runs[n]);
        if (!runs[n])
            break;
        if (cfg.dialect->offers[t])
            engine_run(&cfg, (enum transport)t, runs[n], &extras[n]);
        else
            engine_not_offered(&cfg, (enum transport)t, runs[n], &extras[n]);
        if (extras[n].failure)
            status = 1;
        json_array_append_new(runs_json, report_run_json(runs[n], &extras[n]));
        if (cfg.csv_path && report_append_csv(cfg.csv_path, &cfg, runs[n], &extras[n]) != 0) {
            fprintf(stderr, "pushpull-client: %s: %s\n", cfg.csv_path, strerror(errno));
            status = 1;
        }
        n++;
    }
    report_print_table(stdout, &cfg, (const struct run *const *)runs, extras, n);
    if (cfg.json_path && report_write_json(cfg.json_path, &cfg, manifest, runs_json) != 0) {
        fprintf(stderr, "pushpull-client: %s: %s\n", cfg.json_path, strerror(errno));
        status = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (extras[i].failure)
            fprintf(stderr, "pushpull-client: %s: %s\n", transport_names[runs[i]->transport],
                    extras[i].failure);
        run_extra_free(&extras[i]);
        free(runs[i]);
    }
    json_decref(manifest);
    json_decref(runs_json);
    curl_global_cleanup();
    return engine_interrupted ? 1 : status;
}
