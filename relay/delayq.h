/* One direction of an emulated link: bytes go in with the time they were
 * read and come out no earlier than that time plus a fixed delay, paced to
 * a bit rate when one is set. Owns no socket and reads no clock: the caller
 * passes "now" in, so the timing rules are unit-testable.
 *
 * Link model, per queued slice of len bytes read at now:
 *   start   = max(now, link_free)        the link is busy until link_free
 *   link_free = start + len * 8 / rate   serialization (0 when no rate)
 *   release = link_free + delay          propagation
 * Release times never decrease, so bytes leave in the order they came. With
 * a rate, a read is cut into slices of one packet (1500 bytes) or one
 * millisecond of link time, whichever is larger, so the output is paced
 * rather than released in read()-sized bursts (64 KiB at most). */
#ifndef PUSHPULL_DELAYQ_H
#define PUSHPULL_DELAYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct delayq;

/* rate_bps 0: no rate limit. NULL when out of memory. */
struct delayq *delayq_new(uint64_t delay_us, uint64_t rate_bps);
void delayq_free(struct delayq *q);

/* Queue len bytes read at now_us. 0, or -1 when out of memory (the queue is
 * then unchanged). */
int delayq_push(struct delayq *q, const void *data, size_t len, uint64_t now_us);

/* Nothing crosses the link before at_us: a new connection's first bytes
 * wait for the TCP handshake the relay does not forward (the kernel
 * accepts at once, so without this a connection would cost one RTT less
 * than on the link it emulates). */
void delayq_hold_until(struct delayq *q, uint64_t at_us);

/* The sender has finished (EOF or error) at now_us: delayq_ended turns true
 * once the queued bytes are gone and the end has crossed the link too. */
void delayq_push_end(struct delayq *q, uint64_t now_us);

/* Memory held for queued bytes, bookkeeping included: what a bound on the
 * queue must count, or many tiny reads would slip past it. */
size_t delayq_memory(const struct delayq *q);

/* When the next slice (or the end) is due: 0 and *at_us, or -1 when there
 * is nothing left to release. */
int delayq_next_us(const struct delayq *q, uint64_t *at_us);

/* Point iov[0..return) at the bytes due at now_us, oldest first, at most
 * max entries. 0 when nothing is due. */
int delayq_due(const struct delayq *q, uint64_t now_us, struct iovec *iov, int max);

/* Drop n bytes from the front, after they were written. n must not exceed
 * the bytes due. */
void delayq_consume(struct delayq *q, size_t n);

/* Every byte released and the end (if pushed) due at now_us. */
bool delayq_ended(const struct delayq *q, uint64_t now_us);

/* Bit rate, tc style: a number (a decimal fraction allowed: "1.5Mbit") and
 * a suffix bit, kbit, Mbit or Gbit, case-insensitive, powers of 1000 as on
 * a network link. A bare number is refused: tc reads it as bytes, others as
 * bits. Returns 0, or -1 (*out_bps untouched) on junk, 0, or a value that
 * rounds to less than 1 bit/s or overflows 64 bits. */
int delayq_parse_rate(const char *s, uint64_t *out_bps);

#endif
