#include "wshandshake.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define WS_KEY_RAW 16

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool ws_key_valid(const char *key)
{
    for (int i = 0; i < WS_KEY_LEN - 2; i++) {
        if (!base64_char(key[i]))
            return false;
    }
    if (key[WS_KEY_LEN - 2] != '=' || key[WS_KEY_LEN - 1] != '=' || key[WS_KEY_LEN] != '\0')
        return false;
    /* 16 bytes leave 4 unused low bits in the last character; canonical
     * base64 sets them to zero, so the 18 bytes EVP_DecodeBlock yields
     * (it counts padding as zero bytes) must end in two zeros. */
    unsigned char raw[WS_KEY_LEN / 4 * 3];
    if (EVP_DecodeBlock(raw, (const unsigned char *)key, WS_KEY_LEN) != (int)sizeof raw)
        return false;
    return raw[WS_KEY_RAW] == 0 && raw[WS_KEY_RAW + 1] == 0;
}

int ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    if (!ws_key_valid(key))
        return -1;
    char buf[WS_KEY_LEN + sizeof WS_GUID];
    memcpy(buf, key, WS_KEY_LEN);
    memcpy(buf + WS_KEY_LEN, WS_GUID, sizeof WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;
    if (EVP_Digest(buf, sizeof buf - 1, md, &md_len, EVP_sha1(), NULL) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    return 0;
}

int ws_key_generate(char out[WS_KEY_LEN + 1])
{
    unsigned char raw[WS_KEY_RAW];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    return 0;
}
