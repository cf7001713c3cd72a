/* TLS contexts for the map protocol and the control channels: TLS 1.3 only,
 * mutual certificate authentication against one CA, identity = the peer
 * certificate's subject CN. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_TLS_H
#define GLB_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* A server context: our certificate and key, peers must present a
 * certificate chaining to ca_file. NULL with a message in err. */
SSL_CTX *glb_tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                            size_t errlen);

/* A client context: our certificate and key, the server's certificate must
 * chain to ca_file. NULL with a message in err. */
SSL_CTX *glb_tls_client_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                            size_t errlen);

/* The identity (subject CN, a valid id) of ctx's own certificate into id.
 * 0, or -1 when it has none. */
int glb_tls_ctx_id(SSL_CTX *ctx, char *id, size_t idlen);

/* The verified peer's identity (subject CN) into id. 0, or -1 when the peer
 * presented no verified certificate or no usable CN. */
int glb_tls_peer_id(SSL *ssl, char *id, size_t idlen);

#endif
