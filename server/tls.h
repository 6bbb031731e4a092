/* HTTPS (--tls-cert, --tls-key): the PEM files, read and checked at
 * startup so that a wrong file is a clear message, not MHD refusing to
 * start; libmicrohttpd (GnuTLS) then does the TLS itself. */
#ifndef PUSHPULL_TLS_H
#define PUSHPULL_TLS_H

#include <stddef.h>

/* GnuTLS priorities for every connection: the library's defaults without
 * TLS 1.0 and 1.1 (deprecated by RFC 8996; no client of ours, nor any
 * current browser, needs them), so a benchmark measures TLS 1.3 or 1.2. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Read both files into malloc'd, NUL-terminated texts (*cert_pem,
 * *key_pem) after checking that the first holds a PEM certificate, the
 * second an unencrypted PEM private key, and that they belong together.
 * Returns 0, or -1 with a message naming the file in err. */
int tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
             char *err, size_t errlen);

/* Free what tls_load gave, wiping the key first. NULLs are fine. */
void tls_free(char *cert_pem, char *key_pem);

#endif
