/* Clocks in microseconds. Monotonic for intervals, realtime for the
 * wire `ts` field (server receive time, µs since the Unix epoch). */
#ifndef PUSHPULL_CLOCK_H
#define PUSHPULL_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_us(void);
uint64_t clock_real_us(void);

#endif
