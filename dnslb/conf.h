/* dnslb's configuration: the schema table and the parsed result.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_CONF_H
#define DNSLB_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "dnslb/health.h"
#include "dnslb/policy.h"
#include "shared/addr.h"
#include "shared/cfg.h"
#include "shared/dname.h"
#include "shared/site.h"

typedef struct lb_service_conf {
    uint8_t name[GLB_DNAME_MAX];
    lb_policy_params policy;
    double margin_pct;        /* margin in percent (the config's unit) */
    unsigned answer_count;
    uint32_t ttl_answer;
    glb_site *sites;
    size_t nsites;
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

/* The dnsb: section: the DNS-Bs this box registers with (map protocol). */
typedef struct lb_map_conf {
    glb_addr *servers;        /* map-server, repeatable */
    size_t nservers;
    char tls_cert[256], tls_key[256], tls_ca[256];
    unsigned refresh;         /* seconds between REGISTERs (default 300) */
    unsigned lifetime;        /* lifetime asked for (default 900) */
    unsigned whoami_interval; /* seconds between egress discoveries (default 300) */
    char services_file[256];  /* where the last SERVICES are kept ("" = nowhere) */
    glb_prefix *client_prefixes; /* client prefixes claimed besides resolvers */
    size_t nclient_prefixes;
    glb_addr *proxy;          /* this box's HTTP proxy, announced for proxy mode */
    size_t nproxy;
} lb_map_conf;

typedef struct lb_conf {
    /* server: */
    glb_addr *listen;
    size_t nlisten;
    char id[64];
    unsigned workers;
    glb_addr control;
    int has_location;
    double lat, lon;
    glb_addr *ns_addrs;       /* addresses of ns.<label>.<service>; default: listen */
    size_t nns_addrs;
    uint16_t edns_size;
    unsigned tcp_idle_ms, tcp_max_conns, tcp_msg_ms, tcp_per_source;
    unsigned rrl_rate, rrl_slip, rrl_v4_prefix, rrl_v6_prefix; /* response rate limiting (shared/rrl.h) */
    char username[64];
    char pidfile[256];
    unsigned verbosity;
    int use_syslog;
    lb_probe_conf probe;
    lb_resolver_conf resolver;
    lb_map_conf map;
    lb_service_conf *services;
    size_t nservices;
} lb_conf;

/* Reads and checks a configuration file. NULL with "FILE:LINE: key 'K':
 * reason" in err. */
lb_conf *lb_conf_load(const char *file, char *err, size_t errlen);

/* Same from text (tests); name is used in messages. */
lb_conf *lb_conf_parse(const char *name, const char *text, char *err, size_t errlen);

void lb_conf_free(lb_conf *c);

/* The schema, for --help. */
extern const glb_cfg_key lb_conf_keys[];

#endif
