/* HTTPS and wss:// settings (--cacert, --insecure) for every libcurl
 * handle the client makes: the subscribers', the publisher's, /stats,
 * the WebSocket connector's and the start-up probe's. One process, one
 * setting: module state, set once before the first handle. */
#ifndef PUSHPULL_HTTPS_H
#define PUSHPULL_HTTPS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* cacert: a PEM file of trusted certificates, or NULL for the system's.
 * insecure: verify neither the certificate nor the host name. The
 * strings must outlive every handle. */
void https_configure(const char *cacert, bool insecure);

/* Apply the settings to one easy handle (harmless for http:// URLs). */
void https_apply(CURL *easy);

/* After a transfer over TLS: "TLSv1.3 TLS_AES_256_GCM_SHA384" into buf.
 * Returns 0, or -1 when the handle holds no TLS connection. */
int https_describe(CURL *easy, char *buf, size_t cap);

#endif
