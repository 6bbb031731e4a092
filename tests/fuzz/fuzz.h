/* What the libFuzzer drivers share: a broken invariant aborts (libFuzzer
 * then saves the input), and a PRNG seeded by the input for splits and
 * interleavings. */
#ifndef PUSHPULL_FUZZ_H
#define PUSHPULL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
        abort(); \
    } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* xorshift64: the same input always gives the same splits, so a crash
 * replays. A zero state would stay zero: it is nudged off. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : UINT64_C(0x9e3779b97f4a7c15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
