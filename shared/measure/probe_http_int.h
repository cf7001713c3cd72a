/* The HTTP check's state, shared by its two files: probe_http.c (the
 * connection, TLS, timers, reporting) and probe_http_parse.c (the response
 * parser, reading straight out of the bufferevent's input).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBE_HTTP_INT_H
#define MEASURE_PROBE_HTTP_INT_H

#include <stdint.h>
#include <time.h>

#include "shared/measure/probe_http.h"

#define MAX_HEADER (16 * 1024) /* status line + headers (+ trailers), all interim responses included */
#define MAX_CHUNK_LINE 1024    /* one chunk-size line, extensions included */

enum phase {
    PH_CONNECT = 0,  /* waiting for the TCP connection */
    PH_HANDSHAKE,    /* TLS handshake running */
    PH_STATUS,       /* reading the status line */
    PH_HEADERS,      /* reading header lines */
    PH_BODY_LEN,     /* Content-Length body */
    PH_BODY_CLOSE,   /* body delimited by the end of the connection */
    PH_CHUNK_SIZE,   /* chunk-size line */
    PH_CHUNK_DATA,   /* chunk data */
    PH_CHUNK_END,    /* the CRLF after chunk data */
    PH_TRAILERS      /* trailer lines after the last chunk */
};

struct glb_http_check {
    struct event_base *base;
    SSL_CTX *ctx;
    glb_http_cb cb;
    void *arg;
    struct event *timer;   /* whole-check timeout; also reports immediate failures */
    struct event *conn_ev; /* writability of the connecting socket */
    struct bufferevent *bev;
    int fd;                /* owned here until the bufferevent takes it */
    int tls, verify;
    int fail;              /* an error to report from the timer, 0 when none */
    int in_cb;
    int ev_assigned;       /* event_assign done: bit 0 timer, bit 1 conn_ev */
    enum phase ph;
    int interim;           /* the current response is a 1xx */
    int chunked;           /* 0 no Transfer-Encoding, 1 chunked, -1 another coding */
    int have_len;
    uint64_t remaining;    /* of the Content-Length body or the current chunk */
    uint64_t content_length;
    size_t max_body;
    size_t hdr_bytes;
    struct timespec t0;
    glb_http_result r;
    uint16_t port;
    glb_addr addr;
    const char *host;      /* in the same allocation, after the events */
    const char *req;       /* the request text, likewise */
    size_t req_len;
};

/* Milliseconds since t0 (monotonic). */
double glb_http_ms_since(const struct timespec *t0);

/* Reports err (a status outside 200..399 already read wins) and frees c. */
void glb_http_finish(glb_http_check *c, enum glb_http_error err);

/* The response is complete: reports it and frees c. */
void glb_http_complete(glb_http_check *c);

/* Consumes what c's input holds. 1 when the check finished (and is freed),
 * 0 when it needs more. */
int glb_http_process_input(glb_http_check *c);

#endif
