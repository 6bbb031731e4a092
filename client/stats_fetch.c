#include "stats_fetch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "https.h"

#define STATS_MAX (1u << 20)

struct stats_fetch {
    struct loop_xfer x;               /* first: the loop calls back with it */
    struct server_sample *into;
    char *body;
    size_t len;
    bool done;
};

int server_sample_parse(const char *json, size_t len, struct server_sample *out)
{
    json_t *doc = json_loadb(json, len, 0, NULL);
    json_t *cpu = doc ? json_object_get(json_object_get(doc, "cpu"), "total_s") : NULL;
    json_t *bytes = doc ? json_object_get(doc, "bytes_out") : NULL;
    int rc = -1;
    if (json_is_number(cpu) && json_is_object(bytes)) {
        out->cpu_s = json_number_value(cpu);
        for (int t = 0; t < TR_COUNT; t++) {
            json_t *b = json_object_get(bytes, transport_names[t]);
            out->bytes_out[t] = json_is_integer(b) ? (uint64_t)json_integer_value(b) : 0;
        }
        json_t *epoch = json_object_get(doc, "epoch");
        out->epoch = json_is_integer(epoch) ? (uint64_t)json_integer_value(epoch) : 0;
        out->ok = true;
        rc = 0;
    }
    json_decref(doc);
    return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct stats_fetch *f = ud;
    size_t len = size * n;
    if (f->len + len > STATS_MAX)
        return 0;
    char *grown = realloc(f->body, f->len + len + 1);
    if (!grown)
        return 0;
    memcpy(grown + f->len, data, len);
    f->body = grown;
    f->len += len;
    return len;
}

static void on_done(struct loop_xfer *x, CURLcode result)
{
    struct stats_fetch *f = (struct stats_fetch *)x;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    f->into->ok = false;
    if (result == CURLE_OK && status == 200 && f->body)
        server_sample_parse(f->body, f->len, f->into);
    f->done = true;
}

struct stats_fetch *stats_fetch_start(struct loop *loop, const char *base_url,
                                      struct server_sample *into)
{
    struct stats_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    char url[640];
    snprintf(url, sizeof url, "%s/stats", base_url);
    f->into = into;
    f->x.done = on_done;
    f->x.easy = curl_easy_init();
    if (!f->x.easy) {
        free(f);
        return NULL;
    }
    curl_easy_setopt(f->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(f->x.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->x.easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->x.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->x.easy, CURLOPT_TIMEOUT_MS, 5000L);
    https_apply(f->x.easy);
    if (loop_add(loop, &f->x) != 0) {
        curl_easy_cleanup(f->x.easy);
        free(f);
        return NULL;
    }
    return f;
}

bool stats_fetch_done(const struct stats_fetch *f) { return !f || f->done; }

void stats_fetch_free(struct loop *loop, struct stats_fetch *f)
{
    if (!f)
        return;
    loop_remove(loop, &f->x);
    curl_easy_cleanup(f->x.easy);
    free(f->body);
    free(f);
}
