/* A subscriber's tracking across a server restart: ids start over with a
 * new epoch, so the cursor starts over, and neither out-of-order nor
 * duplicate counts fire for it; loss stays counted by sequence number. */
#include <stdbool.h>
#include <stdint.h>

#include "run.h"
#include "unit.h"

#define E1 1764059000000000u
#define E2 1764059100000000u

static struct client_config cfg = { .channels = 1 };
static struct run run;
static uint64_t sent[64];
static uint8_t seen_a[16], seen_b[16];

static void setup(void)
{
    memset(&run, 0, sizeof run);
    memset(seen_a, 0, sizeof seen_a);
    memset(seen_b, 0, sizeof seen_b);
    run.cfg = &cfg;
    run.seq_cap = 64;
    run.k_measure_from = 0;
    run.k_measure_to = 64;
    run.sent_us = sent;
    hist_init(&run.latency);
    hist_init(&run.latency_uncorrected);
    hist_init(&run.first_message);
}

/* The envelope of message k of the run with server id `id`, as a frame. */
static int deliver(struct sub_track *t, uint64_t id, uint64_t k)
{
    char payload[64], json[160];
    payload_format(payload, sizeof payload, k, 0, 0);
    int n = snprintf(json, sizeof json, "{\"id\":%llu,\"ts\":1,\"data\":\"%s\"}",
                     (unsigned long long)id, payload);
    return track_envelope(&run, t, json, (size_t)n);
}

static int control(struct sub_track *t, const char *json)
{
    return track_envelope(&run, t, json, strlen(json));
}

static void test_restart(void)
{
    setup();
    struct sub_track a = { .seen = seen_a }, b = { .seen = seen_b };
    CHECK(control(&a, "{\"hello\":true,\"epoch\":1764059000000000,\"last_id\":0}") == 0);
    CHECK(control(&b, "{\"hello\":true,\"epoch\":1764059000000000,\"last_id\":0}") == 0);
    CHECK_EQ_U(a.epoch, E1);
    CHECK_EQ_U(run.epoch_changes, 0);
    for (uint64_t id = 1; id <= 3; id++)
        CHECK(deliver(&a, id, id - 1) == 0 && deliver(&b, id, id - 1) == 0);
    CHECK_EQ_U(a.last_id, 3);

    /* a restart: a's reconnect brings a new epoch and a reset marker */
    CHECK(control(&a, "{\"hello\":true,\"epoch\":1764059100000000,\"last_id\":2}") == 0);
    CHECK_EQ_U(run.epoch_changes, 1);
    CHECK_EQ_U(run.cursor_resets, 1);
    CHECK_EQ_U(a.last_id, 0);
    CHECK(control(&a, "{\"reset\":true,\"epoch\":1764059100000000,\"since\":3,\"last_id\":2}") == 0);
    CHECK_EQ_U(run.cursor_resets, 1);             /* the hello already started it over */
    /* messages 3 and 4 were lost across it; 5 and 6 are ids 1, 2 of the new start */
    CHECK(deliver(&a, 1, 5) == 0 && deliver(&a, 2, 6) == 0);
    CHECK_EQ_U(a.last_id, 2);
    CHECK_EQ_U(a.unique, 5);
    CHECK_EQ_U(run.out_of_order + run.duplicates + run.cost.protocol_errors, 0);

    /* b learns of it from a poll answer (epoch, then reset): one restart still */
    track_epoch(&run, &b, E2);
    track_reset(&run, &b, E2);
    CHECK_EQ_U(run.epoch_changes, 1);
    CHECK_EQ_U(run.cursor_resets, 2);
    CHECK(deliver(&b, 1, 5) == 0);
    CHECK_EQ_U(run.out_of_order, 0);
    CHECK(deliver(&b, 1, 5) == 0);                /* a real duplicate still counts */
    CHECK_EQ_U(run.duplicates, 1);
    CHECK_EQ_U(run.delivered, 3 + 3 + 2 + 1);
}

static void test_reset_without_new_epoch(void)
{
    setup();
    struct sub_track a = { .seen = seen_a };
    track_epoch(&run, &a, E2);
    CHECK(deliver(&a, 7, 0) == 0);
    /* the server found the cursor stale in the same epoch: still started over */
    CHECK(control(&a, "{\"reset\":true,\"epoch\":1764059100000000,\"since\":7,\"last_id\":3}") == 0);
    CHECK_EQ_U(a.last_id, 0);
    CHECK_EQ_U(run.cursor_resets, 1);
    CHECK_EQ_U(run.epoch_changes, 0);
    /* an older epoch again (two servers behind one address): a reset, no restart */
    track_epoch(&run, &a, E1);
    CHECK_EQ_U(run.cursor_resets, 2);
    CHECK_EQ_U(run.epoch_changes, 0);
}

static void test_malformed_control(void)
{
    setup();
    struct sub_track a = { .seen = seen_a };
    CHECK(control(&a, "{\"hello\":true,\"epoch\":\"x\"}") == -1);
    CHECK(control(&a, "{\"reset\":true}") == -1);
    CHECK_EQ_U(run.cost.protocol_errors, 2);
    CHECK_EQ_U(a.epoch, 0);
    CHECK(control(&a, "{\"gap\":true,\"since\":0,\"first_id\":5,\"lost\":4}") == 0);
    CHECK_EQ_U(run.gap_lost, 4);
    CHECK_EQ_U(a.last_id, 4);
}

/* A copy of a message whose publish was never acknowledged (the server
 * died before answering) is not a delivery of an expected message. */
static void test_unacked(void)
{
    setup();
    static uint8_t acked[8];
    memset(acked, 0, sizeof acked);
    run.acked = acked;
    struct sub_track a = { .seen = seen_a }, b = { .seen = seen_b };
    run_ack(&run, 0);
    run_ack(&run, 2);
    run_ack(&run, 9);
    CHECK(run_acked(&run, 9) && !run_acked(&run, 1) && !run_acked(&run, 8));
    for (uint64_t k = 0; k < 3; k++)
        CHECK(deliver(&a, k + 1, k) == 0);
    CHECK(deliver(&b, 1, 0) == 0);
    CHECK_EQ_U(run.delivered, 4);
    for (uint64_t k = 0; k < 3; k++) {
        if (run_acked(&run, k))
            continue;
        track_unacked(&run, &a, k);
        track_unacked(&run, &b, k);           /* b never got it: nothing moves */
    }
    CHECK_EQ_U(run.delivered, 3);
    CHECK_EQ_U(run.delivered_unacked, 1);
}

UNIT_MAIN(test_restart, test_reset_without_new_epoch, test_malformed_control, test_unacked)
