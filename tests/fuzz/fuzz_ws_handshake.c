/* The client's check of the server's 101 answer (ws_check_response), fed
 * the input whole and as every prefix, as bytes arriving one at a time
 * would present it: the first prefix with a verdict must give the verdict
 * (and the header length) of the whole input, and before it every prefix
 * must ask for more. A read past the prefix is caught. The input, NUL-terminated, is also a
 * Sec-WebSocket-Key the server checks (ws_key_valid). */
#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "wshandshake.h"

/* RFC 6455 section 1.3's example: its accept value is in the seeds. */
static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static bool b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 of exactly 16 bytes, canonical: 21 free characters, a last one
 * whose low 4 bits are zero (A, Q, g or w), then "==". */
static bool ref_key_valid(const char *s)
{
    if (strlen(s) != WS_KEY_LEN || s[22] != '=' || s[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (!b64(s[i]))
            return false;
    return strchr("AQgw", s[21]) != NULL;
}

static void check_key(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    FUZZ_CHECK(ws_key_valid(s) == ref_key_valid(s));
    char accept[WS_ACCEPT_LEN + 1];
    FUZZ_CHECK(ws_accept_for_key(s, accept) == (ref_key_valid(s) ? 0 : -1));
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_key(data, size);
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t whole_used = 0;
    int whole = ws_check_response(buf, size, key, &whole_used);
    FUZZ_CHECK(whole >= -1 && whole <= 1);
    if (whole == 1)
        FUZZ_CHECK(whole_used >= 2 && whole_used <= size && whole_used <= WS_RESPONSE_MAX &&
                   buf[whole_used - 1] == '\n');

    int first = 0;
    size_t used = 0;
    /* Poisoned, then exposed a byte at a time: prefix k is exactly what
     * ASan lets the check read, as picohttpparser's guard page does. */
    ASAN_POISON_MEMORY_REGION(buf, size);
    for (size_t k = 0; k <= size && first == 0; k++) {
        first = ws_check_response(buf, k, key, &used);
        /* A header block is accepted the moment its blank line arrives. */
        if (first == 1)
            FUZZ_CHECK(used == k);
        if (k < size)
            ASAN_UNPOISON_MEMORY_REGION(buf + k, 1);
    }
    ASAN_UNPOISON_MEMORY_REGION(buf, size);
    FUZZ_CHECK(first == whole);
    if (whole == 1)
        FUZZ_CHECK(used == whole_used);
    free(buf);
    return 0;
}
