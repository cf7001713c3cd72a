/* The prober's inner state, shared by its files (nothing outside
 * shared/measure/ includes this): prober.c (schedules the
 * checks, ranks, publishes) and prober_report.c (what the control channel
 * and the map client read of it). SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBER_INT_H
#define MEASURE_PROBER_INT_H

#include <openssl/ssl.h>

#include "shared/measure/health.h"
#include "shared/measure/history.h"
#include "shared/measure/prober.h"
#include "shared/measure/prober_test.h"
#include "shared/measure/resolve.h"
#include "shared/measure/probe_http.h"
#include "shared/measure/probe_icmp.h"
#include "shared/url.h"

typedef struct waiter waiter;

typedef struct psite {
    lb_prober *p;
    size_t svc, idx;           /* in the configuration */
    glb_site site;             /* addresses resolved for host-name sites */
    glb_url url;
    int has_url;
    lb_health h;
    lb_history hist;           /* the last hour, for the status page */
    struct event *http_ev, *icmp_ev;
    double http_due, icmp_due; /* monotonic seconds */
    glb_http_check *hc;        /* in flight */
    uint32_t ping;             /* in flight */
    unsigned watch;            /* host-name resolution */
    waiter *waiters;           /* check-now requests waiting for this site */
    double demand_at;          /* the last on-demand start (control, stale data) */
} psite;

struct waiter {
    waiter *next_in_site;
    struct check_req *req;
};

typedef struct check_req {
    size_t pending, found;
    void (*done)(void *arg, size_t found);
    void *arg;
} check_req;

/* A service's last ranking, kept so that only changed services are ranked
 * again when a table is built. */
typedef struct svc_rank {
    uint32_t *order;
    size_t count, share;
    int failopen;
    double stale_at;
    int dirty;
} svc_rank;

struct lb_prober {
    struct event_base *base;
    lb_prober_sink sink;       /* where the rankings go (dnslb: its answer table) */
    lb_measure_conf conf;      /* pointers into the daemon's configuration */
    int configured;            /* conf is set */
    lb_health_params hp;
    psite **sites;
    size_t nsites;
    SSL_CTX *ssl;
    glb_pinger *pinger;
    lb_resolver *resolver;
    struct event *publish_ev, *wake_ev;
    int publish_pending;
    svc_rank *ranks;           /* per service */
    void (*on_publish)(void *arg);
    void *on_publish_arg;
    size_t *first_site;        /* per service: index of its first site in sites */
    double (*now)(void);       /* glb_mono, or a test's clock */
    double (*rand01)(void);    /* jitter and spread, 0..1: random(), or a test's */
    double publish_due;        /* when the pending table is published */
    int fake;                  /* be replaces the real probes (tests) */
    lb_probe_backend be;
    lb_prober_stats st;
};

#endif
