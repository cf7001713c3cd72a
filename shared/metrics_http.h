/* The Prometheus endpoint every daemon offers (metrics: ADDR@PORT): libevent's
 * evhttp in the main event loop, GET /metrics, and the status page's paths
 * when the daemon gives them (glb_metrics_http_set_pages; other paths 404,
 * other methods 405), from the sources of metrics-allow only (others closed as soon
 * as accepted, before a byte is read; 403 should one get through), request
 * headers of at most GLB_METRICS_MAX_HEADERS bytes (413), at most
 * GLB_METRICS_MAX_OPEN connections open (the next clients wait in the listen
 * backlog), of which GLB_METRICS_MAX_CONNS answered (503 beyond); a
 * connection is closed after GLB_METRICS_TIMEOUT seconds without a byte,
 * and after GLB_METRICS_LIFETIME seconds whatever it does (slow clients). SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_METRICS_HTTP_H
#define GLB_METRICS_HTTP_H

#include <stddef.h>

#include "shared/addr.h"

struct event_base;
struct evbuffer;

#define GLB_METRICS_MAX_HEADERS 4096
#define GLB_METRICS_MAX_CONNS   16
#define GLB_METRICS_MAX_OPEN    32
#define GLB_METRICS_TIMEOUT     5
#define GLB_METRICS_LIFETIME    10

typedef struct glb_metrics_http glb_metrics_http;

/* Writes the exposition text of one scrape into out. */
typedef void (*glb_metrics_fn)(void *arg, struct evbuffer *out);

/* Writes the body of GET path (query: what follows '?', "" without) into
 * out and sets *ctype (its Content-Type); returns the HTTP status: 200, 400,
 * or 404 (out then ignored). */
typedef int (*glb_http_page_fn)(void *arg, const char *path, const char *query, struct evbuffer *out,
                                const char **ctype);

typedef struct glb_metrics_http_stats {
    unsigned long long scrapes;    /* 200 answers on /metrics */
    unsigned long long pages;      /* 200 answers on the other paths (status page) */
    unsigned long long forbidden;  /* sources not in metrics-allow: closed, or 403 */
    unsigned long long not_found;  /* 404 */
    unsigned long long bad_method; /* 405 */
    unsigned long long busy;       /* 503: too many connections */
    unsigned long long paused;     /* accepting paused: GLB_METRICS_MAX_OPEN open */
    unsigned long long expired;    /* connections closed after GLB_METRICS_LIFETIME */
} glb_metrics_http_stats;

/* Listens on addr. allow[0..nallow) are copied (nallow 0: loopback only,
 * 127.0.0.0/8 and ::1). NULL with err on failure. */
glb_metrics_http *glb_metrics_http_new(struct event_base *base, const glb_addr *addr, const glb_prefix *allow,
                                       size_t nallow, glb_metrics_fn fn, void *arg, char *err, size_t errlen);

/* New sources allowed (a reload): 0, or -1 when out of memory (the old stay). */
int glb_metrics_http_set_allow(glb_metrics_http *h, const glb_prefix *allow, size_t nallow);

/* Paths other than /metrics go to fn(arg) (NULL: none, 404). Sent with
 * Cache-Control: no-store and a Content-Security-Policy that lets a page use
 * only itself, its inline script and style, and this server. */
void glb_metrics_http_set_pages(glb_metrics_http *h, glb_http_page_fn fn, void *arg);

void glb_metrics_http_stats_get(const glb_metrics_http *h, glb_metrics_http_stats *out);

/* Writes the counters above as stat lines (shared/metrics.h): metrics.NAME=N. */
void glb_metrics_http_stats_print(const glb_metrics_http *h, struct evbuffer *out);

void glb_metrics_http_free(glb_metrics_http *h);

#endif
