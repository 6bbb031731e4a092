#include "sio_packet.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Nesting a skipped argument may have: deeper is no message of ours. */
#define SIO_DEPTH_MAX 64

int sio_id_valid(const char *id, size_t len)
{
    if (len == 0 || len >= SIO_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Copy obj[key] into dst (SIO_ID_MAX bytes) when it is an id we can keep;
 * an absent optional one leaves "". 0, or -1. */
static int copy_id(json_t *obj, const char *key, char *dst, bool required)
{
    json_t *v = json_object_get(obj, key);
    dst[0] = '\0';
    if (!v)
        return required ? -1 : 0;
    if (!json_is_string(v) || !sio_id_valid(json_string_value(v), json_string_length(v)))
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static bool json_object_is(const char *p, size_t len)
{
    json_t *doc = json_loadb(p, len, 0, NULL);
    bool object = json_is_object(doc);
    json_decref(doc);
    return object;
}

static int decode_open(const char *p, size_t len, struct sio_packet *out)
{
    json_t *doc = json_loadb(p, len, 0, NULL);
    json_t *ping = json_object_get(doc, "pingInterval");
    int rc = json_is_object(doc) && copy_id(doc, "sid", out->sid, true) == 0 &&
             json_is_integer(ping) && json_integer_value(ping) >= 0 ? 0 : -1;
    if (rc == 0)
        out->ping_interval_ms = (uint64_t)json_integer_value(ping);
    json_decref(doc);
    return rc;
}

static int decode_connect(const char *p, size_t len, struct sio_packet *out)
{
    json_t *doc = json_loadb(p, len, 0, NULL);
    int rc = json_is_object(doc) && copy_id(doc, "sid", out->sid, true) == 0 &&
             copy_id(doc, "pid", out->pid, false) == 0 ? 0 : -1;
    json_decref(doc);
    return rc;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Just past the JSON string that opens at p (its quote), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p == end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        } else if ((unsigned char)*p < 0x20) {
            return NULL;
        }
    }
    return NULL;
}

static bool is_delimiter(char c)
{
    return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Just past the JSON value at p, or NULL. Objects and arrays are skipped by
 * their brackets and strings: their content is checked by whoever reads
 * the argument (track_envelope), not twice here. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        const char *start = p;
        while (p < end && !is_delimiter(*p))
            p++;
        return p > start ? p : NULL;
    }
    unsigned depth = 0;
    while (p < end) {
        if (*p == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[') {
            if (++depth > SIO_DEPTH_MAX)
                return NULL;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* ["name",arg,...]: the name, the first argument, and the offset that
 * connection-state recovery appends as the last argument. */
static int decode_event(const char *p, const char *end, struct sio_packet *out)
{
    p = skip_space(p, end);
    if (p == end || *p != '[')
        return -1;
    p = skip_space(p + 1, end);
    const char *name_end = p < end && *p == '"' ? skip_string(p, end) : NULL;
    if (!name_end)
        return -1;
    out->name = p + 1;
    out->name_len = (size_t)(name_end - p - 2);
    const char *last = NULL;
    size_t last_len = 0, nargs = 0;
    p = skip_space(name_end, end);
    while (p < end && *p == ',') {
        const char *v = skip_space(p + 1, end), *v_end = skip_value(v, end);
        if (!v_end)
            return -1;
        if (nargs++ == 0) {
            out->arg = v;
            out->arg_len = (size_t)(v_end - v);
        }
        last = v;
        last_len = (size_t)(v_end - v);
        p = skip_space(v_end, end);
    }
    if (p == end || *p != ']' || skip_space(p + 1, end) != end)
        return -1;
    if (nargs >= 2 && *last == '"' && sio_id_valid(last + 1, last_len - 2)) {
        out->offset = last + 1;
        out->offset_len = last_len - 2;
    }
    return 0;
}

/* A Socket.IO packet (inside an Engine.IO message): type digit, then for
 * the main namespace "/" directly the payload. */
static int decode_socketio(const char *p, const char *end, struct sio_packet *out)
{
    if (p == end)
        return -1;
    char type = *p++;
    bool ours = p == end || (*p != '/' && !(*p >= '0' && *p <= '9'));
    if (type >= '0' && type <= '6' && !ours) {
        out->kind = SIO_OTHER;        /* another namespace, or an ack id */
        return 0;
    }
    switch (type) {
    case '0':
        out->kind = SIO_CONNECT;
        return decode_connect(p, (size_t)(end - p), out);
    case '1':
        out->kind = SIO_DISCONNECT;
        return p == end ? 0 : -1;
    case '2':
        out->kind = SIO_EVENT;
        return decode_event(p, end, out);
    case '4':
        out->kind = SIO_CONNECT_ERROR;
        return json_object_is(p, (size_t)(end - p)) ? 0 : -1;
    case '3': case '5': case '6':
        out->kind = SIO_OTHER;
        return 0;
    default:
        return -1;
    }
}

/* A packet with no payload, or with "probe" (the upgrade's 2probe/3probe:
 * out->probe says which). */
static int bare(const char *p, size_t len, bool probe_allowed, struct sio_packet *out)
{
    out->probe = probe_allowed && len == 5 && memcmp(p, "probe", 5) == 0;
    return len == 0 || out->probe ? 0 : -1;
}

int sio_decode(const char *p, size_t len, struct sio_packet *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return -1;
    switch (p[0]) {
    case '0':
        out->kind = EIO_OPEN;
        return decode_open(p + 1, len - 1, out);
    case '1':
        out->kind = EIO_CLOSE;
        return bare(p + 1, len - 1, false, out);
    case '2':
        out->kind = EIO_PING;
        return bare(p + 1, len - 1, true, out);
    case '3':
        out->kind = EIO_PONG;
        return bare(p + 1, len - 1, true, out);
    case '4':
        return decode_socketio(p + 1, p + len, out);
    case '5':
        out->kind = EIO_UPGRADE;
        return bare(p + 1, len - 1, false, out);
    case '6':
        out->kind = EIO_NOOP;
        return bare(p + 1, len - 1, false, out);
    default:
        return -1;
    }
}

int sio_next(const char **pos, const char *end, const char **pkt, size_t *len)
{
    const char *p = *pos;
    if (p >= end)
        return -1;
    const char *sep = memchr(p, SIO_SEPARATOR, (size_t)(end - p));
    const char *stop = sep ? sep : end;
    *pkt = p;
    *len = (size_t)(stop - p);
    *pos = sep ? sep + 1 : end;
    return 0;
}

int sio_connect_encode(char *buf, size_t cap, const char *pid, const char *offset)
{
    int n = pid[0] && offset[0]
                ? snprintf(buf, cap, "40{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, offset)
                : snprintf(buf, cap, "40");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
