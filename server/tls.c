#include "tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A certificate chain or a key is a few KiB; anything this large is not one. */
#define TLS_FILE_MAX (1u << 20)

static char *read_file(const char *flag, const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read it (%s)", flag, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", flag, path);
        fclose(f);
        return NULL;
    }
    if (st.st_size == 0 || (unsigned long long)st.st_size > TLS_FILE_MAX) {
        snprintf(err, errlen, "%s %s: %s", flag, path,
                 st.st_size ? "larger than 1 MiB: not a PEM file" : "the file is empty");
        fclose(f);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!text || n != (size_t)st.st_size) {
        snprintf(err, errlen, "%s %s: cannot read it (%s)", flag, path,
                 text ? "short read" : "out of memory");
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

/* An encrypted key would make OpenSSL ask for a passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Parse both texts and check the key belongs to the certificate. */
static int check_pair(const char *cert_path, const char *cert, size_t cert_len,
                      const char *key_path, const char *key, size_t key_len,
                      char *err, size_t errlen)
{
    BIO *cb = BIO_new_mem_buf(cert, (int)cert_len);
    BIO *kb = BIO_new_mem_buf(key, (int)key_len);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *pk = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL) : NULL;
    int rc = -1;
    if (!x)
        snprintf(err, errlen, "--tls-cert %s: no PEM certificate in it "
                 "(want '-----BEGIN CERTIFICATE-----')", cert_path);
    else if (!pk)
        snprintf(err, errlen, "--tls-key %s: no PEM private key in it "
                 "(an encrypted key is not supported)", key_path);
    else if (X509_check_private_key(x, pk) != 1)
        snprintf(err, errlen, "--tls-key %s is not the key of the certificate in --tls-cert %s",
                 key_path, cert_path);
    else
        rc = 0;
    X509_free(x);
    EVP_PKEY_free(pk);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
             char *err, size_t errlen)
{
    size_t cert_len = 0, key_len = 0;
    char *cert = read_file("--tls-cert", cert_path, &cert_len, err, errlen);
    char *key = cert ? read_file("--tls-key", key_path, &key_len, err, errlen) : NULL;
    if (!cert || !key ||
        check_pair(cert_path, cert, cert_len, key_path, key, key_len, err, errlen) != 0) {
        tls_free(cert, key);
        return -1;
    }
    *cert_pem = cert;
    *key_pem = key;
    return 0;
}

void tls_free(char *cert_pem, char *key_pem)
{
    if (key_pem)
        OPENSSL_cleanse(key_pem, strlen(key_pem));
    free(key_pem);
    free(cert_pem);
}
