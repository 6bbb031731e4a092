/* The socketio dialect's decoding (client/sio_packet.c) on arbitrary
 * bytes, read as a long-polling answer: split on the record separator, each
 * packet decoded from an exact-size copy (ASan sees a read past it).
 * Invariants: the packets and separators give back the input; an event's
 * name, argument and offset lie inside its packet, the argument is a
 * whole value (re-wrapped alone it decodes to the same span), and an
 * offset or pid we keep goes back into a CONNECT as valid JSON. */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "sio_packet.h"

static bool inside(const char *p, size_t len, const char *pkt, size_t pkt_len)
{
    return p >= pkt && p + len <= pkt + pkt_len;
}

/* 42["msg",<arg>] around a decoded argument finds the same argument. */
static void check_rewrap(const struct sio_packet *p)
{
    size_t len = p->arg_len + 10;
    char *text = malloc(len);
    FUZZ_CHECK(text != NULL);
    memcpy(text, "42[\"msg\",", 9);
    memcpy(text + 9, p->arg, p->arg_len);
    text[len - 1] = ']';
    struct sio_packet again;
    FUZZ_CHECK(sio_decode(text, len, &again) == 0 && again.kind == SIO_EVENT);
    FUZZ_CHECK(again.arg_len == p->arg_len && memcmp(again.arg, p->arg, p->arg_len) == 0);
    free(text);
}

/* What we keep from the server goes back unescaped: it must stay JSON. */
static void check_connect(const char *pid, const char *offset, size_t offset_len)
{
    char off[SIO_ID_MAX], buf[2 * SIO_ID_MAX + 32];
    FUZZ_CHECK(offset_len < SIO_ID_MAX);
    memcpy(off, offset, offset_len);
    off[offset_len] = '\0';
    int n = sio_connect_encode(buf, sizeof buf, pid, off);
    FUZZ_CHECK(n >= 2);
    if (n == 2)
        return;
    json_t *doc = json_loadb(buf + 2, (size_t)n - 2, 0, NULL);
    FUZZ_CHECK(json_is_object(doc));
    json_decref(doc);
}

static void check_packet(const char *pkt, size_t len)
{
    char *copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, pkt, len);
    struct sio_packet p;
    if (sio_decode(copy, len, &p) == 0 && p.kind == SIO_EVENT) {
        FUZZ_CHECK(inside(p.name, p.name_len, copy, len));
        FUZZ_CHECK(p.arg == NULL || inside(p.arg, p.arg_len, copy, len));
        FUZZ_CHECK(p.offset_len == 0 || (inside(p.offset, p.offset_len, copy, len) &&
                                         sio_id_valid(p.offset, p.offset_len)));
        if (p.arg)
            check_rewrap(&p);
        if (p.offset_len)
            check_connect("pid", p.offset, p.offset_len);
    } else if (p.kind == SIO_CONNECT && p.pid[0]) {
        check_connect(p.pid, "o", 1);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data, *pos = body, *end = body + size, *pkt;
    size_t len, total = 0;
    while (sio_next(&pos, end, &pkt, &len) == 0) {
        FUZZ_CHECK(pkt == body + total && memchr(pkt, SIO_SEPARATOR, len) == NULL);
        total += len + (pkt + len < end);    /* and the separator after it */
        check_packet(pkt, len);
    }
    FUZZ_CHECK(total == size && pos == end);
    return 0;
}
