/* The DNS-LB's answer table: per service the current site order with the
 * addresses to answer, built by the prober from the sites' health (a few
 * times a second at most) and published to the answering threads, which only
 * read it (gdnsd's model: monitors publish, answerers read).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_TABLE_H
#define DNSLB_TABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dnslb/conf.h"
#include "shared/measure/prober.h"
#include "shared/nametab.h"
#include "shared/qsbr.h"

struct event;

typedef struct lb_tsite {
    uint32_t addr_first, naddrs;  /* into lb_table.addrs */
    unsigned weight;
    char name[GLB_SITE_NAME_MAX]; /* the site's name (the proxy's VCL names its origins) */
} lb_tsite;

typedef struct lb_tsvc {
    uint8_t name[GLB_DNAME_MAX];
    uint32_t ttl;
    unsigned answer_count;
    uint32_t first, count;        /* its ranked sites: sites[first .. first+count), best first */
    uint32_t share;               /* leading sites that share first place by weight */
    int failopen;                 /* every site is dead */
    int proxy_answer;             /* A/AAAA: the proxy addresses (lb_table.proxy), not the sites */
    double stale_at;              /* monotonic seconds: later, a query asks for fresh checks */
} lb_tsvc;

typedef struct lb_table {
    lb_tsvc *svcs;
    size_t nsvcs;
    lb_tsite *sites;
    size_t nsites;
    glb_addr *addrs;
    size_t naddrs;
    glb_nametab *index;           /* service name -> index into svcs */
    glb_addr *ns;                 /* addresses of ns.<label>.<service> */
    size_t nns;
    glb_addr proxy[LB_PROXY_MAX_ADDRS]; /* where this box's cache engine listens (proxy: address) */
    size_t nproxy;
    uint32_t serial;              /* SOA serial */
    uint16_t edns_size;
    /* Staleness requests from answering threads to the prober: one flag per
     * service, and the event that wakes the prober (thread-safe to activate). */
    _Atomic unsigned char *want_refresh;
    struct event *wake;
} lb_table;

/* An empty table for conf's services (no site ranked yet). NULL when out of
 * memory. The table copies what it needs: conf may be freed before it. */
lb_table *lb_table_new(const lb_conf *conf, uint32_t serial, struct event *wake);

/* Sets service i's ranking: ranked[0..n) best first (their addresses are
 * copied: resolved ones for sites given by host name); stale_at: monotonic
 * time when its measurements are too old. Called while the table is being
 * built, before publication. -1 when out of memory. */
int lb_table_set_rank(lb_table *t, size_t i, const glb_site *const *ranked, size_t n, size_t share, int failopen,
                      double stale_at);

void lb_table_free(lb_table *t);

/* Publishing the prober's rankings as answer tables: into *slot through
 * qsbr, for conf's services. */
typedef struct lb_table_pub {
    glb_qsbr *qsbr;
    _Atomic(void *) *slot;        /* the lb_table * the answering threads read */
    const lb_conf *conf;          /* the configuration in force */
} lb_table_pub;

/* The prober's sink that builds and publishes pub's tables. */
lb_prober_sink lb_table_sink(lb_table_pub *pub);

/* Configures prober p with c (and pub with it, so that the tables follow
 * c's services): lb_prober_configure's result; pub is unchanged on failure. */
int lb_table_configure(lb_table_pub *pub, lb_prober *p, const lb_conf *c, char *err, size_t errlen);

#endif
