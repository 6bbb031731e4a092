/* Everything pushpull-client writes as results: the JSON document, the CSV
 * rows, the human summary table and the progress line. Every derived figure
 * (loss, ratios, per-message costs) is computed in one place so the three
 * outputs never disagree; docs/CLIENT-OUTPUT.md describes each field. */
#ifndef PUSHPULL_REPORT_H
#define PUSHPULL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "run.h"
#include "saturation.h"

/* The client's own loops, each on its own thread. */
enum { SAT_SUBSCRIBERS, SAT_PUBLISHER, SAT_COUNT };

/* Figures measured around a run rather than inside it. */
struct run_extra {
    double elapsed_s;                 /* length of the measure window */
    double cost_window_s;             /* measure start to drain end: the costs' span */
    double client_cpu_s;              /* getrusage user+sys delta over the window */
    double server_cpu_s;              /* /proc or /stats CPU delta; < 0: unavailable */
    const char *server_cpu_source;    /* "proc", "stats", or NULL */
    uint64_t server_rss_base;         /* --server-pid VmRSS before connecting; 0: unknown */
    uint64_t server_rss;              /* ... at the measure window's end */
    bool not_offered;                 /* the dialect's server lacks the transport */
    struct saturation saturation[SAT_COUNT];   /* over the measure window */
    uint64_t server_bytes_out;        /* /stats bytes_out delta of the transport; 0: unavailable */
    const char *failure;              /* NULL, or a one-line reason the run failed */
    /* For --merge of one workload split over client processes
     * (--no-publish): a publishing run's measured messages the server
     * never acknowledged; a subscribe-only run's measured messages that
     * fewer of its subscribers received than listen on their channel,
     * {k, how many fewer}. Both empty when nothing was lost. Owned here:
     * run_extra_free. */
    bool has_lists;                   /* a run of this process (not a merge) */
    uint64_t *unacked;
    size_t nunacked;
    uint64_t (*missing)[2];
    size_t nmissing;
};

int extra_add_unacked(struct run_extra *x, uint64_t k);
int extra_add_missing(struct run_extra *x, uint64_t k, uint64_t fewer);
void run_extra_free(struct run_extra *x);

/* One transport's result object (the elements of "runs"). NULL on
 * allocation failure. */
json_t *report_run_json(const struct run *run, const struct run_extra *x);

/* Versions of the client and its libraries, and the machine it ran on.
 * "started_utc" is the time of this call: call it before the first run. */
json_t *report_manifest(void);

/* {"schema":"pushpull-client/1","config":...,"manifest":...,"runs":...},
 * indented, written to path.tmp then renamed over path so a reader never
 * sees half a file. manifest and runs_array are borrowed (the caller still
 * owns its references), so the document can be rewritten after each run.
 * Returns 0, or -1 with errno set. */
int report_write_json(const char *path, const struct client_config *cfg,
                      json_t *manifest, json_t *runs_array);

/* Any document (a merged one: merge.h), written as report_write_json
 * writes its own. Returns 0, or -1 with errno set. */
int report_write_doc(const char *path, const json_t *doc);

/* Appends one row for this run to the CSV file, first writing the header
 * line when the file is new or empty. Returns 0, or -1 with errno set. */
int report_append_csv(const char *path, const struct client_config *cfg,
                      const struct run *run, const struct run_extra *x);

/* The human summary: workload line, one row per run, notes, legend.
 * extras[i] belongs to runs[i]. */
void report_print_table(FILE *out, const struct client_config *cfg,
                        const struct run *const *runs, const struct run_extra *extras,
                        size_t n);

/* Rewrites the current terminal line (leading \r, no newline) with the run's
 * phase and figures so far. elapsed_s: seconds since the current phase
 * began; delivered/s is shown during the measure phase only, where it is
 * delivered / elapsed_s. End the line with '\n' before printing anything else. */
void report_progress(FILE *tty, const struct run *run, double elapsed_s);

#endif
