/* A tiny TAP-style unit-test harness. Each CHECK prints nothing on success;
 * each TEST prints "ok - name" or "not ok - name" (TAP) and tests/run.sh
 * counts those lines. main() is UNIT_MAIN(test_a, test_b, ...). */
#ifndef PUSHPULL_UNIT_H
#define PUSHPULL_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failed_checks;

#define CHECK(cond) do { \
    if (!(cond)) { \
        unit_failed_checks++; \
        printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    } } while (0)

#define CHECK_EQ_U(a, b) do { \
    unsigned long long unit_a_ = (unsigned long long)(a), unit_b_ = (unsigned long long)(b); \
    if (unit_a_ != unit_b_) { \
        unit_failed_checks++; \
        printf("#   %s:%d: %s == %s failed: %llu != %llu\n", \
               __FILE__, __LINE__, #a, #b, unit_a_, unit_b_); \
    } } while (0)

#define CHECK_STR(a, b) do { \
    const char *unit_a_ = (a), *unit_b_ = (b); \
    if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_) != 0) { \
        unit_failed_checks++; \
        printf("#   %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
               #a, #b, unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
    } } while (0)

typedef void (*unit_fn)(void);

static inline int unit_run(const char *names, unit_fn *fns, size_t n)
{
    int failed = 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", names);
    char *save = NULL, *name = strtok_r(buf, ", ", &save);
    for (size_t i = 0; i < n; i++, name = strtok_r(NULL, ", ", &save)) {
        int before = unit_failed_checks;
        fns[i]();
        int ok = unit_failed_checks == before;
        printf("%s - %s\n", ok ? "ok" : "not ok", name ? name : "?");
        failed += !ok;
    }
    fflush(stdout);
    return failed ? 1 : 0;
}

#define UNIT_MAIN(...) \
    int main(void) { \
        unit_fn fns[] = { __VA_ARGS__ }; \
        return unit_run(#__VA_ARGS__, fns, sizeof fns / sizeof fns[0]); \
    }

#endif
