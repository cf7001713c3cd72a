/* dnsb's configuration: the schema table and the parsed result.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_CONF_H
#define DNSB_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/cfg.h"
#include "shared/ctlconf.h"
#include "shared/dname.h"
#include "shared/site.h"
#include "shared/svcconf.h"

enum dnsb_mode { DNSB_MODE_REFERRAL = 0, DNSB_MODE_DIRECT, DNSB_MODE_PROXY };

typedef struct dnsb_zone_ns {
    uint8_t name[GLB_DNAME_MAX];
    glb_addr addr;
} dnsb_zone_ns;

typedef struct dnsb_service_conf {
    uint8_t name[GLB_DNAME_MAX];
    int mode;
    uint32_t ttl_referral, ttl_answer;
    unsigned answer_count;    /* most sites in an address answer (default 2) */
    glb_svc_params lb;        /* how the DNS-LBs rank the sites (sent in SERVICES) */
    glb_site *sites;
    size_t nsites;
    char file[256];
    unsigned line;
} dnsb_service_conf;

/* One "ranking: SERVICE SITE..." line of an lb section (direct mode). */
typedef struct dnsb_ranking_conf {
    uint8_t service[GLB_DNAME_MAX];
    char (*sites)[GLB_SITE_NAME_MAX];
    size_t nsites;
    char file[256];
    unsigned line;
} dnsb_ranking_conf;

typedef struct dnsb_lb_conf {
    char id[64];
    glb_addr *addrs;
    size_t naddrs;
    glb_addr *proxy;
    size_t nproxy;
    glb_prefix *resolvers;
    size_t nresolvers;
    dnsb_ranking_conf *rankings;
    size_t nrankings;
    char file[256];
    unsigned line;
} dnsb_lb_conf;

/* map: allow ID PREFIX...: what an identity may claim. */
typedef struct dnsb_allow {
    char id[64];
    glb_prefix *prefixes;
    size_t nprefixes;
} dnsb_allow;

/* The map: section (the map protocol's server side). */
typedef struct dnsb_map_conf {
    glb_addr *listen;
    size_t nlisten;
    char tls_cert[256], tls_key[256], tls_ca[256];
    dnsb_allow *allows;
    size_t nallows;
    unsigned lifetime;          /* seconds a registration lives unless refreshed */
    unsigned max_connections;
    unsigned max_handshakes;    /* sessions before HELLO at once */
    unsigned max_handshakes_per_source;
    unsigned max_claims;        /* per identity */
    unsigned handshake_timeout; /* seconds */
    unsigned idle_timeout;      /* seconds */
} dnsb_map_conf;

typedef struct dnsb_conf {
    /* server: */
    glb_addr *listen;
    size_t nlisten;
    unsigned workers;
    uint8_t zone[GLB_DNAME_MAX];
    dnsb_zone_ns *zone_ns;
    size_t nzone_ns;
    dnsb_zone_ns *standby_ns;  /* the backbone's standby name servers, named in every
                                  delegation to a DNS-LB beside it (DESIGN §3, §11) */
    size_t nstandby_ns;
    glb_addr *standby_listen;  /* this DNS-B's standby addresses (also in listen) */
    size_t nstandby_listen;
    uint8_t whoami[GLB_DNAME_MAX];
    uint8_t contact[GLB_DNAME_MAX]; /* SOA RNAME; default hostmaster.<zone> */
    uint32_t zone_ttl;
    unsigned edns_size;
    unsigned tcp_idle_ms, tcp_max_conns, tcp_msg_ms, tcp_per_source;
    unsigned rrl_rate, rrl_slip, rrl_v4_prefix, rrl_v6_prefix; /* response rate limiting (shared/rrl.h) */
    char username[64];
    char pidfile[256];
    unsigned verbosity;
    int use_syslog;
    char database[256];        /* LMDB environment directory, "" = no persistence */
    int database_damaged;      /* enum dnsb_store_damaged (store.h): refuse or move aside */
    int has_control;
    glb_addr control;          /* dnsb-control, TLS */
    char control_cert[256], control_key[256], control_ca[256]; /* default: the map: files */
    glb_control_ids control_allow; /* certificate CNs that may control; none: our own certificate's */
    int has_metrics;
    glb_addr metrics;          /* Prometheus endpoint (shared/metrics_http.h) */
    glb_prefix *metrics_allow; /* sources that may scrape it; none: loopback */
    size_t nmetrics_allow;
    dnsb_map_conf map;
    /* service: and lb: sections */
    dnsb_service_conf *services;
    size_t nservices;
    dnsb_lb_conf *lbs;
    size_t nlbs;
} dnsb_conf;

/* Reads and checks the configuration file. Returns a new conf, or NULL with
 * "FILE:LINE: key 'K': reason" in err. */
dnsb_conf *dnsb_conf_load(const char *file, char *err, size_t errlen);

/* Same from text held in memory (tests); name is used in messages. */
dnsb_conf *dnsb_conf_parse(const char *name, const char *text, char *err, size_t errlen);

void dnsb_conf_free(dnsb_conf *c);

/* The schema, for --help and documentation. */
extern const glb_cfg_key dnsb_conf_keys[];

#endif
