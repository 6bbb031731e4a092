/* The client's SSE parser, fed one stream three ways: whole, in the chunks
 * the input's first bytes name, and one byte at a time. A parser must not
 * depend on where the network cut the stream, so all three transcripts
 * (every event, comment and the final state) must be identical. Each chunk
 * sits in an exact-size allocation (the byte in a 1-byte global), so ASan
 * sees any read past what the parser was given.
 *
 * Input: byte 0 picks max_size (bits 4-5) and the number of chunk lengths
 * that follow (bits 0-3); each of those bytes is one chunk length (0 is an
 * empty feed); what is left is the stream, its rest fed as a last chunk. */
#include <string.h>

#include "fuzz.h"
#include "sse_parser.h"

struct transcript {
    char *s;
    size_t len, cap;
};

static void put(struct transcript *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->s = realloc(t->s, t->cap);
        FUZZ_CHECK(t->s != NULL);
    }
    if (n)
        memcpy(t->s + t->len, p, n);
    t->len += n;
}

/* Length-prefixed, so that no two different sequences read alike. */
static void put_field(struct transcript *t, char tag, const char *p, size_t n)
{
    put(t, &tag, 1);
    put(t, &n, sizeof n);
    put(t, p, n);
}

static void on_event(void *ud, const struct sse_event *ev)
{
    FUZZ_CHECK(ev->type[ev->type_len] == '\0');
    FUZZ_CHECK(ev->data[ev->data_len] == '\0');
    FUZZ_CHECK(ev->id[ev->id_len] == '\0');
    FUZZ_CHECK(memchr(ev->id, '\0', ev->id_len) == NULL);   /* ids with NUL are ignored */
    struct transcript *t = ud;
    put_field(t, 'T', ev->type, ev->type_len);
    put_field(t, 'D', ev->data, ev->data_len);
    put_field(t, 'I', ev->id, ev->id_len);
    put(t, ev->has_id ? "+" : "-", 1);
}

static void on_comment(void *ud, const char *text, size_t len)
{
    put_field(ud, 'C', text, len);
}

static void put_state(struct transcript *t, const struct sse_parser *p, int rc)
{
    size_t id_len;
    const char *id = sse_parser_last_id(p, &id_len);
    FUZZ_CHECK(id[id_len] == '\0');
    put_field(t, 'L', id, id_len);
    uint64_t ms = 0, comments = sse_parser_comments(p);
    int has_retry = sse_parser_retry(p, &ms);
    put(t, &has_retry, sizeof has_retry);
    put(t, &ms, sizeof ms);
    put(t, &comments, sizeof comments);
    put(t, &rc, sizeof rc);
    const char *err = sse_parser_error(p);
    FUZZ_CHECK((err != NULL) == (rc != 0));
    put_field(t, 'E', err ? err : "", err ? strlen(err) : 0);
}

static struct sse_parser *parser(struct transcript *t, size_t max)
{
    struct sse_parser *p = sse_parser_new(max, on_event, on_comment, t);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* A feed from its own exact-size copy. Feeding on after an error is what a
 * careless caller does: it must keep returning -1 and change nothing. */
static int feed_copy(struct sse_parser *p, const uint8_t *src, size_t n, int rc)
{
    char *chunk = malloc(n ? n : 1);
    if (n)
        memcpy(chunk, src, n);
    int r = sse_parser_feed(p, chunk, n);
    free(chunk);
    FUZZ_CHECK(rc == 0 || r == -1);
    return r ? r : rc;
}

static char one_byte[1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[4] = { 16, 100, 1000, 65536 };
    if (size == 0)
        return 0;
    size_t nsplits = data[0] & 0x0F, max = maxes[(data[0] >> 4) & 3];
    if (size < 1 + nsplits)
        return 0;
    const uint8_t *splits = data + 1, *stream = splits + nsplits;
    size_t len = size - 1 - nsplits;

    struct transcript whole = { 0 }, chunked = { 0 }, bytes = { 0 };
    struct sse_parser *p = parser(&whole, max);
    put_state(&whole, p, feed_copy(p, stream, len, 0));
    sse_parser_free(p);

    p = parser(&chunked, max);
    int rc = 0;
    size_t off = 0;
    for (size_t i = 0; i < nsplits; i++) {
        size_t n = splits[i] < len - off ? splits[i] : len - off;
        rc = feed_copy(p, stream + off, n, rc);
        off += n;
    }
    rc = feed_copy(p, stream + off, len - off, rc);
    put_state(&chunked, p, rc);
    sse_parser_free(p);

    p = parser(&bytes, max);
    rc = 0;
    for (size_t i = 0; i < len; i++) {
        one_byte[0] = (char)stream[i];
        int r = sse_parser_feed(p, one_byte, 1);
        FUZZ_CHECK(rc == 0 || r == -1);
        rc = r ? r : rc;
    }
    put_state(&bytes, p, rc);
    sse_parser_free(p);

    FUZZ_CHECK(whole.len == chunked.len && memcmp(whole.s, chunked.s, whole.len) == 0);
    FUZZ_CHECK(whole.len == bytes.len && memcmp(whole.s, bytes.s, whole.len) == 0);
    free(whole.s);
    free(chunked.s);
    free(bytes.s);
    return 0;
}
