/* Command-line flag values for every pushpull program: a bad value is one
 * line on stderr naming the flag, a hint to --help, and exit code 2. */
#ifndef PUSHPULL_CLI_H
#define PUSHPULL_CLI_H

#include <stdint.h>

/* The program name used in messages ("pushpull-server"); set it first. */
void cli_init(const char *program);

__attribute__((format(printf, 1, 2), noreturn))
void cli_usage_error(const char *fmt, ...);

uint64_t cli_count(const char *flag, const char *v, uint64_t min, uint64_t max);
uint64_t cli_size(const char *flag, const char *v, uint64_t min, uint64_t max);
uint64_t cli_duration_us(const char *flag, const char *v, uint64_t min_us, uint64_t max_us);
/* A positive decimal number up to max (rates per second). */
double cli_rate(const char *flag, const char *v, double max);

#endif
