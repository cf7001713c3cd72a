/* dnslb's control commands (status, sites, check SITE, stats, map), served over
 * shared/control.h. SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_CONTROL_H
#define DNSLB_CONTROL_H

#include "dnslb/answer.h"
#include "dnslb/mapclient.h"
#include "dnslb/proxy.h"
#include "dnslb/recurse.h"
#include "shared/measure/prober.h"
#include "shared/control.h"
#include "shared/metrics_http.h"
#include "shared/server.h"

/* What the commands look at; owned by the daemon. */
typedef struct lb_ctl {
    lb_prober *prober;
    lb_stats *stats;          /* one block per answering thread */
    unsigned nstats;
    glb_server *server;
    char id[64];
    double started;           /* wall-clock seconds */
    lb_mapclient *map;        /* NULL without a dnsb: section */
    lb_proxy *proxy;          /* the cache engine's state (proxy: section) */
    glb_control *control;     /* for its own counters; may be NULL */
    glb_metrics_http *metrics; /* for its own counters; NULL without metrics: */
    lb_recurse *rec;          /* mode combined: the recursive resolver; else NULL */
    struct lb_agents *agents; /* mode combined with an agents: section; else NULL */
} lb_ctl;

/* The control channel's certificates of c (TLS mode): a server context,
 * or NULL with err. Read while the keys may still be (root). */
SSL_CTX *lb_control_ctx(const lb_conf *c, char *err, size_t errlen);

/* Opens c's control channel for ctl (tls: from lb_control_ctx, NULL in
 * plain mode) into *out, or none, with a warning, when c has no
 * certificates. 0, or -1 with err. */
int lb_control_open(struct event_base *base, const lb_conf *c, SSL_CTX *tls, lb_ctl *ctl, glb_control **out, char *err,
                    size_t errlen);

/* The command table; the handlers take an lb_ctl * as their argument. */
extern const glb_control_cmd lb_control_cmds[];

/* Every counter of "stats", as stat lines (shared/metrics.h), per site
 * lines included: the one source of the stats command, its JSON and
 * /metrics. */
void lb_stats_text(lb_ctl *c, struct evbuffer *out);

/* One scrape of /metrics (a glb_metrics_fn; arg: the lb_ctl). */
void lb_metrics(void *arg, struct evbuffer *out);

#endif
