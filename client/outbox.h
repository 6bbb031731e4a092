/* What a long-polling subscriber sends its server beside its waiting GET
 * (the dialect's packets: Engine.IO's CONNECT, its pongs): one POST per
 * message to the dialect's long-poll URL, in order, one at a time, as
 * Engine.IO allows one POST under way per session. */
#ifndef PUSHPULL_OUTBOX_H
#define PUSHPULL_OUTBOX_H

#include <stddef.h>

struct outbox;
struct subscriber;

struct outbox *outbox_new(struct subscriber *s);
/* Queue a message and send it when the previous one is answered. 0, or -1
 * (no memory, no URL). A POST that fails is a transport error; the waiting
 * GET is what notices a dead session. */
int outbox_send(struct outbox *o, const char *data, size_t len);
/* The connection is gone: drop the POST under way and what waits. */
void outbox_clear(struct outbox *o);
void outbox_free(struct outbox *o);

#endif
