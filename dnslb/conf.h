/* dnslb's configuration: the schema table and the parsed result.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_CONF_H
#define DNSLB_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "shared/measure/health.h"
#include "shared/measure/mconf.h"
#include "shared/measure/policy.h"
#include "dnslb/recurse.h"
#include "shared/addr.h"
#include "shared/cfg.h"
#include "shared/ctlconf.h"
#include "shared/dname.h"
#include "shared/site.h"

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
    unsigned metrics_interval; /* agent: seconds between two METRICS (default 300) */
} lb_map_conf;

/* The proxy: section: the cache engine (Varnish) this box drives as a
 * caching reverse proxy in front of the sites (DESIGN §8). Fixed size: the
 * effective configuration is a plain copy. */
#define LB_PROXY_MAX_ADDRS 8
typedef struct lb_proxy_conf {
    int enabled;              /* a proxy: section was given */
    char engine[16];          /* "varnish" */
    char varnish_name[256];   /* the engine's -n work directory */
    char varnishadm[256];     /* the program that loads VCL (default varnishadm) */
    char vcl_dir[256];        /* where rendered VCL files are written */
    unsigned min_interval;    /* seconds between two loads, at least (default 5) */
    unsigned timeout;         /* seconds one varnishadm run may take (default 10) */
    unsigned origin_port;     /* port of the origins when a site's check URL does not say (80) */
    glb_addr addrs[LB_PROXY_MAX_ADDRS]; /* address: where the engine listens, answered for proxy services */
    size_t naddrs;
    struct {
        char name[64];
        glb_addr addr;        /* with its port */
    } peers[LB_PROXY_MAX_ADDRS]; /* peer: other DNS-LBs' proxies asked first, from their cache only */
    size_t npeers;
    char file[256];
    unsigned line;
} lb_proxy_conf;

/* The agents: section (mode combined): where measurement agents (mservice)
 * connect and who may claim what. */
typedef struct lb_agent_allow {
    char id[64];
    glb_prefix *prefixes;     /* client prefixes this agent may claim */
    size_t nprefixes;
} lb_agent_allow;

typedef struct lb_agents_conf {
    int enabled;              /* an agents: section was given */
    glb_addr listen;
    char tls_cert[256], tls_key[256], tls_ca[256];
    lb_agent_allow *allow;
    size_t nallow;
    unsigned max_age;         /* seconds an agent's metrics count (default 900) */
} lb_agents_conf;

/* The control channel: TLS with verified client certificates when there
 * are certificates, plain TCP on loopback only when asked for with
 * control-use-cert: no, else none. */
enum { LB_CONTROL_OFF, LB_CONTROL_TLS, LB_CONTROL_PLAIN };

typedef struct lb_conf {
    /* server: */
    glb_addr *listen;
    size_t nlisten;
    char id[64];
    unsigned workers;
    glb_addr control;          /* dnslb-control (default 127.0.0.1@8954) */
    int has_control;           /* control: given: the channel must be possible */
    char control_at[300];      /* FILE:LINE of control:, for errors */
    int control_use_cert;      /* control-use-cert (default yes); no: plain TCP, loopback only */
    char control_cert[256], control_key[256], control_ca[256]; /* default: the dnsb: section's */
    glb_control_ids control_allow; /* certificate CNs that may control; none: our own certificate's */
    int control_mode;          /* LB_CONTROL_*, decided from the above */
    int has_metrics;
    glb_addr metrics;          /* Prometheus endpoint (shared/metrics_http.h) */
    glb_prefix *metrics_allow; /* sources that may scrape it; none: loopback */
    size_t nmetrics_allow;
    int has_location;
    double lat, lon;
    glb_addr *ns_addrs;       /* addresses of ns.<label>.<service>; default: listen */
    size_t nns_addrs;
    unsigned edns_size;
    unsigned tcp_idle_ms, tcp_max_conns, tcp_msg_ms, tcp_per_source;
    unsigned rrl_rate, rrl_slip, rrl_v4_prefix, rrl_v6_prefix; /* response rate limiting (shared/rrl.h) */
    char username[64];
    char pidfile[256];
    unsigned verbosity;
    int use_syslog;
    lb_probe_conf probe;
    lb_resolver_conf resolver;
    lb_map_conf map;
    lb_proxy_conf proxy;
    int agent;                /* an mservice agent's (lb_conf_load_agent) */
    int combined;             /* mode: combined: also the clients' recursive resolver */
    int has_recursion;        /* a recursion: section was given */
    lb_recurse_conf recursion;
    lb_agents_conf agents;
    lb_service_conf *services;
    size_t nservices;
} lb_conf;

/* Reads and checks a configuration file. NULL with "FILE:LINE: key 'K':
 * reason" in err. */
lb_conf *lb_conf_load(const char *file, char *err, size_t errlen);

/* Same from text (tests); name is used in messages. */
lb_conf *lb_conf_parse(const char *name, const char *text, char *err, size_t errlen);

/* An mservice agent's configuration (mservice.conf(5)): dnslb.conf's
 * grammar without DNS serving (no listen:, mode:, tcp-*, rrl-*, recursion:,
 * proxy:), its box: section the map client's (dnsb: here, with
 * metrics-interval and without whoami-interval and proxy-address); the
 * result has agent set. NULL with "FILE:LINE: key 'K': reason" in err. */
lb_conf *lb_conf_load_agent(const char *file, char *err, size_t errlen);
lb_conf *lb_conf_parse_agent(const char *name, const char *text, char *err, size_t errlen);

/* The agent's schema, for --help. */
const glb_cfg_key *lb_agent_conf_keys(void);

void lb_conf_free(lb_conf *c);

/* The measurement library's view of c (pointers into c). */
lb_measure_conf lb_conf_measure(const lb_conf *c);

/* The schema, for --help. */
extern const glb_cfg_key lb_conf_keys[];

#endif
