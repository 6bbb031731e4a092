/* A server's CPU time and memory, read from /proc for the processes the
 * runner names (--server-pid): the same measure for every server, whether
 * or not it reports its own (pushpull's /stats does, Nchan does not). */
#ifndef PUSHPULL_PROCSTAT_H
#define PUSHPULL_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>

struct proc_sample {
    bool ok;                          /* every process was read */
    double cpu_s;                     /* user + system, all threads, summed */
    uint64_t rss_bytes;               /* VmRSS, summed */
};

/* Sample processes pids[0..n). ok is false when one of them is gone. */
struct proc_sample proc_sample(const int *pids, unsigned n);

#endif
