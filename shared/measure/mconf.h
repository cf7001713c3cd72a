/* What the measurement library is configured with: how sites are checked
 * (lb_probe_conf), how their host names are resolved (lb_resolver_conf), the
 * services and their sites and policies (lb_service_conf), and the view of
 * them the prober takes (lb_measure_conf). A daemon's configuration parser
 * fills these (dnslb's conf.c today; mservice's later).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_MCONF_H
#define MEASURE_MCONF_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/dname.h"
#include "shared/measure/ewma.h"
#include "shared/measure/policy.h"
#include "shared/site.h"

typedef struct lb_service_conf {
    uint8_t name[GLB_DNAME_MAX];
    lb_policy_params policy;
    double margin_pct;        /* margin in percent (the config's unit) */
    unsigned answer_count;
    uint32_t ttl_answer;
    glb_site *sites;
    size_t nsites;
    int proxy_answer;         /* proxy-answer: yes: A/AAAA = the box's proxy addresses (dnslb) */
    char file[256];
    unsigned line;
} lb_service_conf;

typedef struct lb_probe_conf {
    unsigned http_interval;   /* seconds */
    unsigned icmp_interval;
    unsigned timeout;         /* seconds */
    double ewma_constant;     /* seconds */
    double loss_floor;        /* ms */
    unsigned dead_after, alive_after;
    unsigned stale_after;     /* seconds: a query finding older data asks for a check */
    unsigned ondemand_interval; /* seconds between two on-demand checks of a site, at least */
    unsigned max_body;        /* bytes read of a check's body */
    int has_src4, has_src6;   /* source-address: checks leave from these */
    glb_addr src4, src6;
    int unmeasured_last;
    char ca_file[256];        /* trust for HTTPS checks; "" = system store */
    glb_score_params score;   /* floor and penalty, from loss-floor and loss-penalty */
} lb_probe_conf;

typedef struct lb_resolver_conf {
    glb_addr *addrs;          /* forwarders; none = /etc/resolv.conf */
    size_t naddrs;
    char trust_anchor[256];   /* DNSSEC trust anchor file, "" = none */
} lb_resolver_conf;

/* The prober's view of a configuration: pointers into the daemon's own
 * (which must live as long as the prober uses them). */
typedef struct lb_measure_conf {
    const lb_probe_conf *probe;
    const lb_resolver_conf *resolver;
    int has_location;         /* where the measuring box stands (proximity) */
    double lat, lon;
    const lb_service_conf *services;
    size_t nservices;
} lb_measure_conf;

#endif
