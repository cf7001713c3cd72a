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
} lb_ctl;

/* The command table; the handlers take an lb_ctl * as their argument. */
extern const glb_control_cmd lb_control_cmds[];

/* Every counter of "stats", as stat lines (shared/metrics.h), per site
 * lines included: the one source of the stats command, its JSON and
 * /metrics. */
void lb_stats_text(lb_ctl *c, struct evbuffer *out);

/* One scrape of /metrics (a glb_metrics_fn; arg: the lb_ctl). */
void lb_metrics(void *arg, struct evbuffer *out);

#endif
