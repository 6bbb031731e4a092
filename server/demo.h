/* --demo-rate R: the server publishes R messages per second on channel
 * "demo" by itself, so the live page shows traffic with nothing else
 * running. */
#ifndef PUSHPULL_DEMO_H
#define PUSHPULL_DEMO_H

#define DEMO_CHANNEL "demo"
#define DEMO_RATE_MAX 10000.0

struct server;
struct demo;

/* NULL when out of memory or the channel cannot be had. */
struct demo *demo_start(struct server *srv, double rate);
void demo_stop(struct demo *d);       /* NULL is fine */

#endif
