#include "https.h"

#include <openssl/ssl.h>
#include <stdio.h>

/* No CURLSH share of TLS sessions: pushpull-server (libmicrohttpd 0.9.75
 * with GnuTLS) keeps no session cache and sends no tickets, so a shared
 * session could never be resumed; each easy handle's own cache is enough. */
static const char *https_cacert;
static bool https_insecure;

void https_configure(const char *cacert, bool insecure)
{
    https_cacert = cacert;
    https_insecure = insecure;
}

void https_apply(CURL *easy)
{
    if (https_insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (https_cacert) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, https_cacert);
    }
}

int https_describe(CURL *easy, char *buf, size_t cap)
{
    struct curl_tlssessioninfo *info = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info ||
        info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
        return -1;
    SSL *ssl = info->internals;
    snprintf(buf, cap, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    return 0;
}
