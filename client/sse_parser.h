/* Incremental text/event-stream parser (WHATWG HTML, "interpreting an event
 * stream"). Owns no socket: feed it whatever chunks the transport delivers
 * (a libcurl write callback), events come out through a callback.
 *
 * Bytes are not UTF-8 decoded: fields and data pass through as bytes; only
 * a leading BOM is dropped. A stream that ends without a blank line loses
 * its pending event, as the spec says. */
#ifndef PUSHPULL_SSE_PARSER_H
#define PUSHPULL_SSE_PARSER_H

#include <stddef.h>
#include <stdint.h>

struct sse_parser;

/* Valid only during the callback; each string is also NUL-terminated. */
struct sse_event {
    const char *type;   /* "message" when the event had no event field */
    size_t type_len;
    const char *data;   /* data lines joined with "\n", no trailing "\n" */
    size_t data_len;
    const char *id;     /* the last event ID, persisting across events ("" if none) */
    size_t id_len;
    int has_id;         /* 1 if this event's own lines carried a valid id field */
};

typedef void (*sse_event_cb)(void *ud, const struct sse_event *ev);
/* text: the comment after ':' with one leading space dropped
 * (": heartbeat" gives "heartbeat"). */
typedef void (*sse_comment_cb)(void *ud, const char *text, size_t len);

/* max_size bounds one line (without its line end) and one event's data;
 * beyond it the stream is in error. Memory stays below 5 * (max_size + 2).
 * on_comment may be NULL. The callbacks must not free or reset the parser.
 * NULL on allocation failure. */
struct sse_parser *sse_parser_new(size_t max_size, sse_event_cb on_event,
                                  sse_comment_cb on_comment, void *ud);
void sse_parser_free(struct sse_parser *p);

/* Parses the chunk (never reading past len), calling back for every event
 * completed in it. Returns 0, or -1 on a protocol error (line or event over
 * max_size) or allocation failure; the parser then stays in error and every
 * later feed returns -1 until sse_parser_reset. */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len);

/* For a new connection: forgets the partial line and event and any error,
 * expects a BOM again; keeps the last event ID, the retry value and the
 * comment count, which outlive a connection. */
void sse_parser_reset(struct sse_parser *p);

/* The last event ID as of the last blank line (what a reconnect sends as
 * Last-Event-ID), NUL-terminated; *len may be NULL. "" when none. */
const char *sse_parser_last_id(const struct sse_parser *p, size_t *len);
/* 1 and *ms set once a valid retry field arrived, else 0. */
int sse_parser_retry(const struct sse_parser *p, uint64_t *ms);
/* Comment lines seen (the server's heartbeats). */
uint64_t sse_parser_comments(const struct sse_parser *p);
/* Why the parser is in error, or NULL. */
const char *sse_parser_error(const struct sse_parser *p);

#endif
