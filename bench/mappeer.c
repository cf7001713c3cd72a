/* bench/maplb: what its simulated peers (maplb.c's DNS-LBs, mapagent.c's
 * agents) share: certificates, PEM files in --dir, TLS client connections.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bench/maplb.h"
#include "shared/addr.h"

static const char *dir = ".";

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext || X509_add_ext(x, ext, -1) != 1)
        die("cannot add extension %s", value);
    X509_EXTENSION_free(ext);
}

X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int is_ca, const char *san,
                long serial)
{
    X509 *x = X509_new();
    if (!x || X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) || !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400L) ||
        X509_set_pubkey(x, key) != 1)
        die("cannot make a certificate");
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1)
        die("cannot name a certificate");
    X509 *iss = issuer ? issuer : x;
    if (is_ca) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "CA:FALSE");
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
        add_ext(x, iss, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    if (san)
        add_ext(x, iss, NID_subject_alt_name, san);
    if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0)
        die("cannot sign a certificate");
    return x;
}

EVP_PKEY *make_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        die("cannot make an EC key");
    return k;
}

void maplb_set_dir(const char *d)
{
    dir = d;
}

void write_pem(const char *name, X509 *cert, EVP_PKEY *key)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    if ((cert && PEM_write_X509(f, cert) != 1) || (key && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1))
        die("cannot write %s", path);
    if (fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

FILE *open_out(const char *name, const char *mode)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    return f;
}

void maplb_conn_error(struct bufferevent *bev, short what, char *buf, size_t len)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e)
        ERR_error_string_n(e, buf, len);
    else if (what & BEV_EVENT_ERROR)
        snprintf(buf, len, "%s", strerror(EVUTIL_SOCKET_ERROR()));
    else
        snprintf(buf, len, "connection closed");
}

SSL_CTX *maplb_client_ctx(X509 *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die("TLS: out of memory");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1)
        die("cannot trust the CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

int maplb_connect(struct bufferevent **bev, struct event_base *base, SSL_CTX *ctx, const glb_addr *server, X509 *cert,
                  EVP_PKEY *key, bufferevent_data_cb readcb, bufferevent_event_cb eventcb, void *arg)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_use_certificate(ssl, cert) != 1 || SSL_use_PrivateKey(ssl, key) != 1 ||
        X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), server->b, glb_addr_bytes(server->family)) != 1)
        die("cannot set up a TLS session");
    *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!*bev)
        die("cannot create a TLS connection");
    bufferevent_openssl_set_allow_dirty_shutdown(*bev, 1);
    bufferevent_setcb(*bev, readcb, NULL, eventcb, arg);
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(server, &ss);
    if (bufferevent_socket_connect(*bev, (struct sockaddr *)&ss, (int)sl) != 0 ||
        bufferevent_enable(*bev, EV_READ | EV_WRITE) != 0)
        return -1;
    return 0;
}

/* The first certificate (cert) or private key in DIR/name; dies without. */
static void read_pem(const char *name, X509 **cert, EVP_PKEY **key)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f && cert)
        *cert = PEM_read_X509(f, NULL, NULL, NULL);
    if (f && key)
        *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (f)
        fclose(f);
    if (!f || (cert && !*cert) || (key && !*key))
        die("cannot read %s", path);
}

X509 *read_cert(const char *name)
{
    X509 *x = NULL;
    read_pem(name, &x, NULL);
    return x;
}

EVP_PKEY *read_key(const char *name)
{
    EVP_PKEY *k = NULL;
    read_pem(name, NULL, &k);
    return k;
}
