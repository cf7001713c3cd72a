/* dnsb's control commands (status, list-lbs, lookup, list-services, reload,
 * stats), served over shared/control.h with TLS (dnsb-control(8)).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_CONTROL_H
#define DNSB_CONTROL_H

#include <stdatomic.h>
#include <stddef.h>

#include "dnsb/answer.h"
#include "dnsb/mapserver.h"
#include "dnsb/registry.h"
#include "dnsb/store.h"
#include "dnsb/table.h"
#include "shared/control.h"
#include "shared/metrics_http.h"
#include "shared/server.h"

/* What the commands look at; owned by the daemon. The commands run in the
 * main thread, the registry's writer: they read it without a read section. */
typedef struct dnsb_ctl {
    _Atomic(void *) *table;   /* the published dnsb_table *, swapped by reloads */
    dnsb_registry *reg;
    glb_server *server;
    glb_control *control;     /* for its own counters; may be NULL */
    dnsb_mapserver *ms;       /* the map protocol server; NULL without map: listen */
    dnsb_stats *stats;        /* one block per answering thread */
    unsigned nstats;
    unsigned workers;         /* as started (a reload does not change them) */
    double started;           /* wall-clock seconds */
    double loaded;            /* last (re)load: the age of static registrations */
    const char *conf_file;
    /* Reloads the configuration as SIGHUP does: 0 with a summary in msg, or
     * -1 with the reason (the previous configuration keeps serving). */
    int (*reload)(void *arg, char *msg, size_t msglen);
    void *reload_arg;
    dnsb_store *store;        /* the registrations' database; NULL without one */
    glb_metrics_http *metrics; /* for its own counters; NULL without metrics: */
} dnsb_ctl;

/* The command table; the handlers take a dnsb_ctl * as their argument. */
extern const glb_control_cmd dnsb_control_cmds[];

/* Every counter of "stats", as stat lines (shared/metrics.h): the one source
 * of the stats command, its JSON and /metrics. */
void dnsb_stats_text(dnsb_ctl *c, struct evbuffer *out);

/* One scrape of /metrics (a glb_metrics_fn; arg: the dnsb_ctl). */
void dnsb_metrics(void *arg, struct evbuffer *out);

#endif
