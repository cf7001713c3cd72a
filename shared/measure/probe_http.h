/* HTTP and HTTPS health checks on libevent (+ OpenSSL): one GET of a small
 * test object, timed in phases. Used by dnslb and mservice.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBE_HTTP_H
#define MEASURE_PROBE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/url.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

enum glb_http_error {
    GLB_HTTP_OK = 0,
    GLB_HTTP_ERR_CONNECT,  /* refused, unreachable */
    GLB_HTTP_ERR_TLS,      /* handshake or certificate verification failed */
    GLB_HTTP_ERR_TIMEOUT,  /* the whole check took longer than its timeout */
    GLB_HTTP_ERR_RESET,    /* connection reset or closed before the response ended */
    GLB_HTTP_ERR_PROTOCOL, /* not a well-formed HTTP/1.x response */
    GLB_HTTP_ERR_STATUS,   /* a status outside 200..399 */
    GLB_HTTP_ERR_TOO_BIG   /* body larger than the bound */
};

/* Names of the errors: "ok", "connect", "tls", "timeout", "reset", ... */
const char *glb_http_error_str(enum glb_http_error e);

/* The outcome of one check. Times are milliseconds from the start of the
 * check; -1 for a phase that was not reached. */
typedef struct glb_http_result {
    enum glb_http_error err;
    int status;          /* HTTP status, 0 when none was read */
    double connect_ms;   /* TCP connected */
    double tls_ms;       /* TLS handshake done (https only) */
    double ttfb_ms;      /* first byte of the response */
    double total_ms;     /* response complete */
    size_t body_bytes;
} glb_http_result;

typedef void (*glb_http_cb)(void *arg, const glb_http_result *r);

typedef struct glb_http_check glb_http_check;

/* A client TLS context: TLS 1.2+, trust from ca_file or, when NULL, the
 * system store. NULL on failure. Shared by every check. */
SSL_CTX *glb_http_ssl_ctx_new(const char *ca_file);

/* Starts GET u->path from addr:u->port (Host: u->host; SNI u->host when it
 * is a name; certificate verified against u->host unless verify is 0).
 * cb runs exactly once, from the event loop, unless the check is cancelled
 * first. The body is read up to max_body bytes. Returns NULL when the check
 * could not even start (no memory, bad address): then cb is not called. */
glb_http_check *glb_http_check_start(struct event_base *base, SSL_CTX *ctx, const glb_url *u,
                                     const glb_addr *addr, unsigned timeout_ms, int verify, size_t max_body,
                                     glb_http_cb cb, void *arg);

/* For the tests and the fuzzer: the response parser alone, no network.
 * data is fed to a check's reader as if it arrived in pieces of step bytes
 * (0: at once), then the connection ends (EOF); *out is what the check
 * would report (the times are meaningless). Returns 0, or -1 when out of
 * memory. */
int glb_http_parse_response(const uint8_t *data, size_t len, size_t step, size_t max_body, glb_http_result *out);

/* Same, the connection leaving from src (its port ignored) when src is not
 * NULL: a box with several uplinks measures through the one it serves from. */
glb_http_check *glb_http_check_start_from(struct event_base *base, SSL_CTX *ctx, const glb_url *u,
                                          const glb_addr *addr, const glb_addr *src, unsigned timeout_ms,
                                          int verify, size_t max_body, glb_http_cb cb, void *arg);

/* Abandons a running check: its callback will not run; resources freed. */
void glb_http_check_cancel(glb_http_check *c);

#endif
