#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "parse.h"
#include "units.h"

static const char *program = "pushpull";

void cli_init(const char *name) { program = name; }

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry '%s --help'\n", program);
    exit(2);
}

uint64_t cli_count(const char *flag, const char *v, uint64_t min, uint64_t max)
{
    uint64_t n;
    if (parse_u64(v, max, &n) != 0 || n < min)
        cli_usage_error("%s: '%s' is not a whole number from %llu to %llu", flag, v,
                        (unsigned long long)min, (unsigned long long)max);
    return n;
}

uint64_t cli_size(const char *flag, const char *v, uint64_t min, uint64_t max)
{
    uint64_t n;
    if (units_parse_size(v, &n) != 0 || n < min || n > max)
        cli_usage_error("%s: '%s' is not a size from %llu to %llu bytes (e.g. 512, 64KiB, 1MiB)",
                        flag, v, (unsigned long long)min, (unsigned long long)max);
    return n;
}

uint64_t cli_duration_us(const char *flag, const char *v, uint64_t min_us, uint64_t max_us)
{
    uint64_t us;
    if (units_parse_duration_us(v, &us) != 0 || us < min_us || us > max_us)
        cli_usage_error("%s: '%s' is not a duration from %.6gs to %.6gs (e.g. 500ms, 15s, 2m)",
                        flag, v, (double)min_us / 1e6, (double)max_us / 1e6);
    return us;
}

double cli_rate(const char *flag, const char *v, double max)
{
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (errno || end == v || *end || !(r > 0) || r > max)
        cli_usage_error("%s: '%s' is not a rate in (0, %g] per second", flag, v, max);
    return r;
}
