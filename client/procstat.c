#include "procstat.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Nanoseconds a thread ran (the first field of schedstat): finer than
 * stat's clock ticks (10 ms), which are too coarse for a 3 s window. */
static int thread_cpu_ns(int pid, const char *tid, uint64_t *ns)
{
    char path[320];
    snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", pid, tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = fscanf(f, "%" SCNu64, ns);
    fclose(f);
    return n == 1 ? 0 : -1;
}

static int process_cpu_s(int pid, double *cpu_s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    uint64_t total = 0, ns;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && thread_cpu_ns(pid, e->d_name, &ns) == 0)
            total += ns;
    closedir(d);
    *cpu_s = (double)total / 1e9;
    return 0;
}

static int process_rss(int pid, uint64_t *bytes)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    uint64_t kb;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kb) == 1) {
            *bytes = kb * 1024;
            rc = 0;
            break;
        }
    fclose(f);
    return rc;
}

struct proc_sample proc_sample(const int *pids, unsigned n)
{
    struct proc_sample s = { .ok = n > 0 };
    for (unsigned i = 0; i < n; i++) {
        double cpu = 0;
        uint64_t rss = 0;
        if (process_cpu_s(pids[i], &cpu) != 0 || process_rss(pids[i], &rss) != 0)
            s.ok = false;
        s.cpu_s += cpu;
        s.rss_bytes += rss;
    }
    return s;
}
