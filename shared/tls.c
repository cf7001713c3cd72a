/* TLS 1.3 contexts with mutual authentication. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "shared/site.h"

static void ssl_error(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s '%s': %s", what, file, buf);
    ERR_clear_error();
}

static SSL_CTX *ctx_new(const SSL_METHOD *method, const char *cert_file, const char *key_file, const char *ca_file,
                        int verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    /* TLS 1.3 only: no renegotiation, no legacy ciphers to configure. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    /* Map sessions are idle most of the time: no 34 KB of buffers each. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_error(err, errlen, "cannot load certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_error(err, errlen, "cannot load key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, errlen, "key does not match certificate", key_file);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        ssl_error(err, errlen, "cannot load CA", ca_file);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, verify, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *glb_tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                            size_t errlen)
{
    SSL_CTX *ctx = ctx_new(TLS_server_method(), cert_file, key_file, ca_file,
                           SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, err, errlen);
    if (ctx) {
        /* Ask clients for certificates issued by our CA. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    return ctx;
}

SSL_CTX *glb_tls_client_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                            size_t errlen)
{
    return ctx_new(TLS_client_method(), cert_file, key_file, ca_file, SSL_VERIFY_PEER, err, errlen);
}

int glb_tls_peer_id(SSL *ssl, char *id, size_t idlen)
{
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return -1;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return -1;
    X509_NAME *subj = X509_get_subject_name(cert);
    int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    int rc = -1;
    if (idx >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        const unsigned char *d = ASN1_STRING_get0_data(s);
        int len = ASN1_STRING_length(s);
        /* a CN with a NUL inside, or too long, is no identity */
        if (len > 0 && (size_t)len < idlen && !memchr(d, 0, (size_t)len)) {
            memcpy(id, d, (size_t)len);
            id[len] = '\0';
            rc = 0;
        }
    }
    X509_free(cert);
    return rc;
}

int glb_tls_ctx_id(SSL_CTX *ctx, char *id, size_t idlen)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    X509_NAME *n = x ? X509_get_subject_name(x) : NULL;
    return n && X509_NAME_get_text_by_NID(n, NID_commonName, id, (int)idlen) > 0 && glb_id_valid(id) ? 0 : -1;
}
