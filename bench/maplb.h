/* bench/maplb: what its files share: maplb.c (simulated DNS-LBs, main),
 * mappeer.c (certificates, PEM files, TLS connections) and mapagent.c
 * (simulated measurement agents, the "agents" commands). Not installed.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_BENCH_MAPLB_H
#define GLB_BENCH_MAPLB_H

#include <stdint.h>
#include <stdio.h>

#include <event2/bufferevent.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "shared/addr.h"

/* maplb.c */

/* Prints "maplb: MSG" (and OpenSSL's last error) on stderr, exits 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Seconds on the monotonic clock. */
double mono(void);

/* Milliseconds since the Unix epoch. */
uint64_t wall_ms(void);

/* A command-line number: unsigned up to 1e8, or a double 0..1e6; dies
 * naming what when s is not one. */
unsigned uarg(const char *s, const char *what);
double darg(const char *s, const char *what);

/* mappeer.c */

/* A fresh EC P-256 key; dies on failure. */
EVP_PKEY *make_key(void);

/* A certificate for key with subject CN=cn, signed by issuer (NULL: self);
 * a CA, or a leaf for serverAuth and clientAuth; san: subjectAltName or
 * NULL. Dies on failure. */
X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int is_ca, const char *san,
                long serial);

/* The directory the files below are in (--dir). */
void maplb_set_dir(const char *dir);

/* Writes cert and/or key (PEM) to DIR/name; dies on failure. */
void write_pem(const char *name, X509 *cert, EVP_PKEY *key);

/* Opens DIR/name with mode; dies on failure. */
FILE *open_out(const char *name, const char *mode);

/* The certificate / private key in DIR/name; dies on failure. */
X509 *read_cert(const char *name);
EVP_PKEY *read_key(const char *name);

/* The TLS 1.3 client context of the simulated peers: trusts ca alone,
 * verifies the server, no tickets. Dies on failure. */
SSL_CTX *maplb_client_ctx(X509 *ca);

/* Starts a TLS connection to server as cert and key into *bev (its
 * callbacks set, reading and writing on; BEV_EVENT_CONNECTED once the
 * handshake is done). 0, or -1 with errno when connecting failed at once
 * (*bev set: the caller frees it). Dies when out of memory. */
int maplb_connect(struct bufferevent **bev, struct event_base *base, SSL_CTX *ctx, const glb_addr *server, X509 *cert,
                  EVP_PKEY *key, bufferevent_data_cb readcb, bufferevent_event_cb eventcb, void *arg);

/* Why a connection ended, for logs: what holds libevent's event flags. */
void maplb_conn_error(struct bufferevent *bev, short what, char *buf, size_t len);

/* mapagent.c: the "agents-setup" and "agents" commands: argv[1] is the
 * command. Returns the exit status. */
int maplb_agents_main(int argc, char **argv);

#endif
