/* The client's envelope readers on arbitrary bytes: envelope_decode
 * (jansson) and envelope_peek (the in-place fast path). Whatever peek
 * accepts, decode must accept with the same id, ts and data, or the client
 * would read a message differently depending on the path it took. */
#include <stdbool.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "utf8.h"

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* A decoded envelope encodes to text that decodes to the same fields. */
static void check_reencode(const struct envelope *e)
{
    size_t len;
    char *text = envelope_encode(e->id, e->ts_us, e->data, e->data_len, &len);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(len == envelope_len(e->id, e->ts_us, e->data, e->data_len));
    struct envelope again;
    FUZZ_CHECK(envelope_decode(text, len, &again) == 0);
    FUZZ_CHECK(again.id == e->id && again.ts_us == e->ts_us);
    FUZZ_CHECK(same_bytes(again.data, again.data_len, e->data, e->data_len));
    envelope_clear(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    struct envelope e;
    int rc = envelope_decode(json, size, &e);
    if (rc == 0) {
        FUZZ_CHECK(e.id >= 1 && e.id <= INT64_MAX && e.ts_us <= INT64_MAX);
        FUZZ_CHECK(e.data != NULL && e.data[e.data_len] == '\0');
        FUZZ_CHECK(utf8_valid((const uint8_t *)e.data, e.data_len));
        check_reencode(&e);
    } else {
        FUZZ_CHECK(rc == -1 && e.data == NULL && e.data_len == 0 && e.id == 0);
    }

    uint64_t id = 0, ts = 0;
    const char *d = NULL;
    size_t dlen = 0;
    if (envelope_peek(json, size, &id, &ts, &d, &dlen) == 1) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(id == e.id && ts == e.ts_us);
        FUZZ_CHECK(d >= json && d + dlen <= json + size);
        FUZZ_CHECK(same_bytes(d, dlen, e.data, e.data_len));
    }
    envelope_clear(&e);
    return 0;
}
