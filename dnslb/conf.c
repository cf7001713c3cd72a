/* dnslb's configuration schema and its checks. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/probe_http.h"
#include "shared/rrl.h"
#include "shared/svcconf.h"

#define NOMEM "out of memory"

static lb_service_conf *cur_service(lb_conf *c)
{
    return &c->services[c->nservices - 1];
}

static const char *push_addr(glb_addr **arr, size_t *n, const glb_addr *a)
{
    glb_addr *slot = glb_cfg_push(arr, n, sizeof(*slot));
    if (!slot)
        return NOMEM;
    *slot = *a;
    return NULL;
}

static const char *h_listen(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_conf *c = ctx;
    return push_addr(&c->listen, &c->nlisten, &v->addr);
}

static const char *h_ns_address(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_conf *c = ctx;
    return push_addr(&c->ns_addrs, &c->nns_addrs, &v->addr);
}

static const char *h_id(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_conf *c = ctx;
    if (!glb_id_valid(v->str)) {
        snprintf(e, el, "bad id '%s' (1-63 of a-z 0-9 -)", v->str);
        return e;
    }
    snprintf(c->id, sizeof(c->id), "%s", v->str);
    return NULL;
}

static const char *h_location(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_conf *c = ctx;
    if (glb_location_parse(v->str, &c->lat, &c->lon) != 0) {
        snprintf(e, el, "bad location '%s' (expected LAT,LON in degrees)", v->str);
        return e;
    }
    c->has_location = 1;
    return NULL;
}

static const char *h_control(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_conf *c = ctx;
    /* Plain TCP until the control channel gets TLS: loopback only. */
    int loop = v->addr.family == AF_INET ? v->addr.b[0] == 127
                                         : (memcmp(v->addr.b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);
    if (!loop) {
        snprintf(e, el, "must be a loopback address (the control channel is not encrypted)");
        return e;
    }
    c->control = v->addr;
    return NULL;
}

/* loss-penalty: one number (penalty = N x loss) or LOSS:PENALTY points. */
static const char *h_loss_penalty(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    glb_score_params *sp = &((lb_conf *)ctx)->probe.score;
    char *end;
    if (v->nwords == 1 && !strchr(v->words[0], ':')) {
        errno = 0;
        double f = strtod(v->words[0], &end);
        if (end == v->words[0] || *end || errno || f < 0 || f > 1e6) {
            snprintf(e, el, "bad penalty '%s'", v->words[0]);
            return e;
        }
        sp->factor = f;
        sp->npoints = 0;
        return NULL;
    }
    if (v->nwords > GLB_PENALTY_MAX_POINTS) {
        snprintf(e, el, "at most %d LOSS:PENALTY points", GLB_PENALTY_MAX_POINTS);
        return e;
    }
    for (int i = 0; i < v->nwords; i++) {
        const char *w = v->words[i];
        errno = 0;
        double loss = strtod(w, &end);
        if (end == w || *end != ':' || errno || loss < 0 || loss > 1 ||
            (i > 0 && loss <= sp->loss[i - 1])) {
            snprintf(e, el, "bad point '%s' (LOSS:PENALTY, loss 0..1 increasing)", w);
            return e;
        }
        const char *p = end + 1;
        double pen = strtod(p, &end);
        if (end == p || *end || errno || pen < 0) {
            snprintf(e, el, "bad point '%s' (LOSS:PENALTY)", w);
            return e;
        }
        sp->loss[i] = loss;
        sp->penalty[i] = pen;
    }
    sp->npoints = (size_t)v->nwords;
    return NULL;
}

static const char *h_unmeasured(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_conf *c = ctx;
    if (strcmp(v->str, "last") == 0)
        c->probe.unmeasured_last = 1;
    else if (strcmp(v->str, "omit") == 0)
        c->probe.unmeasured_last = 0;
    else {
        snprintf(e, el, "expected last or omit, not '%s'", v->str);
        return e;
    }
    return NULL;
}

/* source-address: one per family, where HTTP(S) checks leave from. */
static const char *h_source_address(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_probe_conf *p = &((lb_conf *)ctx)->probe;
    int *has = v->addr.family == AF_INET ? &p->has_src4 : &p->has_src6;
    if (*has) {
        snprintf(e, el, "one source address per family");
        return e;
    }
    *has = 1;
    *(v->addr.family == AF_INET ? &p->src4 : &p->src6) = v->addr;
    return NULL;
}

static const char *h_resolver_address(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_resolver_conf *r = &((lb_conf *)ctx)->resolver;
    return push_addr(&r->addrs, &r->naddrs, &v->addr);
}

static const char *h_map_server(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_map_conf *m = &((lb_conf *)ctx)->map;
    return push_addr(&m->servers, &m->nservers, &v->addr);
}

static const char *h_map_proxy(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_map_conf *m = &((lb_conf *)ctx)->map;
    return push_addr(&m->proxy, &m->nproxy, &v->addr);
}

static const char *h_client_prefix(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_map_conf *m = &((lb_conf *)ctx)->map;
    glb_prefix *p = glb_cfg_push(&m->client_prefixes, &m->nclient_prefixes, sizeof(*p));
    if (!p)
        return NOMEM;
    *p = v->prefix;
    return NULL;
}

static const char *h_site(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_service_conf *s = cur_service(ctx);
    glb_site site;
    if (glb_site_parse(v->words, v->nwords, &site, e, el) != 0)
        return e;
    for (size_t i = 0; i < s->nsites; i++)
        if (strcmp(s->sites[i].name, site.name) == 0) {
            snprintf(e, el, "site '%s' given twice", site.name);
            return e;
        }
    glb_site *slot = glb_cfg_push(&s->sites, &s->nsites, sizeof(*slot));
    if (!slot)
        return NOMEM;
    *slot = site;
    return NULL;
}

static const char *section_begin(void *ctx, const char *section, const char *file, unsigned line)
{
    lb_conf *c = ctx;
    if (strcmp(section, "service") != 0)
        return NULL;
    lb_service_conf *s = glb_cfg_push(&c->services, &c->nservices, sizeof(*s));
    if (!s)
        return NOMEM;
    lb_policy_params_default(&s->policy);
    s->margin_pct = s->policy.margin * 100;
    s->answer_count = GLB_SVC_ANSWER_COUNT;
    s->ttl_answer = GLB_SVC_TTL_ANSWER;
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->line = line;
    return NULL;
}

static void *section_target(void *ctx, const char *section)
{
    lb_conf *c = ctx;
    if (strcmp(section, "service") == 0 && c->nservices)
        return cur_service(c);
    if (strcmp(section, "probe") == 0)
        return &c->probe;
    if (strcmp(section, "resolver") == 0)
        return &c->resolver;
    if (strcmp(section, "dnsb") == 0)
        return &c->map;
    return c;
}

GLB_SVC_KEYS_CHECK(lb_service_conf, policy.policy, answer_count, ttl_answer, margin_pct, policy.margin_ms,
                   policy.w_latency, policy.w_cost, policy.w_distance);

_Static_assert((int)GLB_SVC_LATENCY == (int)LB_POLICY_LATENCY && (int)GLB_SVC_COST == (int)LB_POLICY_COST &&
                   (int)GLB_SVC_PROXIMITY == (int)LB_POLICY_PROXIMITY &&
                   (int)GLB_SVC_COMBINED == (int)LB_POLICY_COMBINED,
               "policy values differ");

#define SRV(f) offsetof(lb_conf, f)
#define PRB(f) offsetof(lb_probe_conf, f)
#define SVC(f) offsetof(lb_service_conf, f)
#define MAP(f) offsetof(lb_map_conf, f)

const glb_cfg_key lb_conf_keys[] = {
    {"server", "listen", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 53, h_listen,
     "ADDR[@PORT] to answer DNS on, UDP and TCP (repeatable)", 0},
    {"server", "id", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 0, 0, h_id, "this DNS-LB's identity (a DNS label)", 0},
    {"server", "workers", GLB_CFG_INT, 0, 1, 64, 0, glb_cfg_set_uint, "answering threads (default 1)", SRV(workers)},
    {"server", "control", GLB_CFG_ADDRPORT, 0, 0, 0, 8954, h_control,
     "ADDR[@PORT] of the control channel, loopback only (default 127.0.0.1@8954)", 0},
    {"server", "location", GLB_CFG_STR, 0, 0, 0, 0, h_location, "LAT,LON of this box (proximity policy)", 0},
    {"server", "ns-address", GLB_CFG_ADDR, GLB_CFG_REPEAT, 0, 0, 0, h_ns_address,
     "address of ns.<label>.<service> (repeatable; default: the listen addresses)", 0},
    {"server", "edns-buffer-size", GLB_CFG_INT, 0, 512, 4096, 0, glb_cfg_set_uint,
     "largest UDP answer sent (default 1232)", SRV(edns_size)},
    {"server", "tcp-idle-timeout", GLB_CFG_INT, 0, 100, 3600000, 0, glb_cfg_set_uint,
     "milliseconds before an idle TCP connection is closed (default 10000)", SRV(tcp_idle_ms)},
    {"server", "tcp-max-connections", GLB_CFG_INT, 0, 1, 100000, 0, glb_cfg_set_uint,
     "open TCP connections per worker; when full the oldest idle one is closed (default 512)", SRV(tcp_max_conns)},
    {"server", "tcp-message-timeout", GLB_CFG_INT, 0, 100, 600000, 0, glb_cfg_set_uint,
     "milliseconds from a TCP message's first byte to its last (default 3000)", SRV(tcp_msg_ms)},
    {"server", "tcp-max-per-source", GLB_CFG_INT, 0, 1, 100000, 0, glb_cfg_set_uint,
     "TCP connections per client address and worker; more close its oldest (default 64)", SRV(tcp_per_source)},
    {"server", "rrl-ratelimit", GLB_CFG_INT, 0, 0, 100000, 0, glb_cfg_set_uint,
     "UDP responses per second to one source prefix, burst one second's worth; 0: no limit (default 200)",
     SRV(rrl_rate)},
    {"server", "rrl-slip", GLB_CFG_INT, 0, 0, 100, 0, glb_cfg_set_uint,
     "every Nth response over the limit is sent truncated (TC) so clients retry over TCP; 0: none (default 2)",
     SRV(rrl_slip)},
    {"server", "rrl-ipv4-prefix", GLB_CFG_INT, 0, 1, 32, 0, glb_cfg_set_uint,
     "IPv4 source prefix length that rrl-ratelimit counts together (default 24)", SRV(rrl_v4_prefix)},
    {"server", "rrl-ipv6-prefix", GLB_CFG_INT, 0, 1, 128, 0, glb_cfg_set_uint,
     "IPv6 source prefix length that rrl-ratelimit counts together (default 56)", SRV(rrl_v6_prefix)},
    {"server", "username", GLB_CFG_STR, 0, 0, 64, 0, glb_cfg_set_str, "user to switch to after binding, when root",
     SRV(username)},
    {"server", "pidfile", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str, "where to write the process id",
     SRV(pidfile)},
    {"server", "verbosity", GLB_CFG_INT, 0, 0, 4, 0, glb_cfg_set_uint, "0 errors .. 4 debug (default 3)",
     SRV(verbosity)},
    {"server", "use-syslog", GLB_CFG_BOOL, 0, 0, 0, 0, glb_cfg_set_bool, "log to syslog instead of stderr",
     SRV(use_syslog)},
    {"probe", "http-interval", GLB_CFG_INT, 0, 1, 86400, 0, glb_cfg_set_uint,
     "seconds between HTTP checks of a site (default 10)", PRB(http_interval)},
    {"probe", "icmp-interval", GLB_CFG_INT, 0, 1, 86400, 0, glb_cfg_set_uint,
     "seconds between ICMP echoes to a site (default 30)", PRB(icmp_interval)},
    {"probe", "timeout", GLB_CFG_INT, 0, 1, 600, 0, glb_cfg_set_uint, "seconds a check may take (default 5)",
     PRB(timeout)},
    {"probe", "ewma-constant", GLB_CFG_STR, 0, 1, 86400 * 30, 0, glb_cfg_set_double,
     "time constant C of the averages, seconds (default 300)", PRB(ewma_constant)},
    {"probe", "loss-floor", GLB_CFG_STR, 0, 0, 100000, 0, glb_cfg_set_double,
     "ms: the floor of the loss penalty's scale (default 100)", PRB(loss_floor)},
    {"probe", "loss-penalty", GLB_CFG_WORDS, 0, 1, GLB_PENALTY_MAX_POINTS, 0, h_loss_penalty,
     "N (penalty = N x loss, default 30) or LOSS:PENALTY points", 0},
    {"probe", "dead-after", GLB_CFG_INT, 0, 1, 100, 0, glb_cfg_set_uint,
     "consecutive failures that make a site dead (default 3)", PRB(dead_after)},
    {"probe", "alive-after", GLB_CFG_INT, 0, 1, 100, 0, glb_cfg_set_uint,
     "consecutive successes that make a dead site alive (default 2)", PRB(alive_after)},
    {"probe", "stale-after", GLB_CFG_INT, 0, 1, 86400, 0, glb_cfg_set_uint,
     "seconds after which a query asks for fresh checks (default: 3 check intervals of the site)",
     PRB(stale_after)},
    {"probe", "on-demand-interval", GLB_CFG_INT, 0, 1, 3600, 0, glb_cfg_set_uint,
     "seconds a site waits between two checks asked for by dnslb-control check or by stale data (default 1)",
     PRB(ondemand_interval)},
    {"probe", "max-body", GLB_CFG_INT, 0, 0, 16777216, 0, glb_cfg_set_uint,
     "bytes of a check's body read at most (default 65536)", PRB(max_body)},
    {"probe", "unmeasured", GLB_CFG_STR, 0, 0, 0, 0, h_unmeasured,
     "last (default): unchecked sites rank after measured ones; omit: left out", 0},
    {"probe", "ca-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "CA certificates for HTTPS checks (default: the system store)", PRB(ca_file)},
    {"probe", "source-address", GLB_CFG_ADDR, GLB_CFG_REPEAT, 0, 0, 0, h_source_address,
     "ADDR: HTTP(S) checks leave from it (one v4, one v6; default: chosen by the system)", 0},
    {"resolver", "address", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT, 0, 0, 53, h_resolver_address,
     "resolver for site host names, ADDR[@PORT] (default: /etc/resolv.conf)", 0},
    {"resolver", "trust-anchor-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "DNSSEC trust anchor: validate site host names", offsetof(lb_resolver_conf, trust_anchor)},
    {"dnsb", "map-server", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 5380, h_map_server,
     "ADDR[@PORT] of a DNS-B's map service; registers with every one (repeatable)", 0},
    {"dnsb", "tls-cert-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str,
     "this box's certificate (its CN is its id)", MAP(tls_cert)},
    {"dnsb", "tls-key-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str, "its key", MAP(tls_key)},
    {"dnsb", "tls-ca-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str,
     "CA the DNS-Bs' certificates must chain to", MAP(tls_ca)},
    {"dnsb", "refresh", GLB_CFG_INT, 0, 5, 86400, 0, glb_cfg_set_uint, "seconds between registrations (default 300)",
     MAP(refresh)},
    {"dnsb", "lifetime", GLB_CFG_INT, 0, 10, 86400, 0, glb_cfg_set_uint,
     "lifetime asked for a registration (default 900)", MAP(lifetime)},
    {"dnsb", "whoami-interval", GLB_CFG_INT, 0, 5, 86400, 0, glb_cfg_set_uint,
     "seconds between egress discoveries through the resolvers (default 300)", MAP(whoami_interval)},
    {"dnsb", "services-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "where the services last received are kept, to serve them after a restart", MAP(services_file)},
    {"dnsb", "client-prefix", GLB_CFG_PREFIX, GLB_CFG_REPEAT, 0, 0, 0, h_client_prefix,
     "a client prefix claimed besides the resolvers (repeatable)", 0},
    {"dnsb", "proxy-address", GLB_CFG_ADDR, GLB_CFG_REPEAT, 0, 0, 0, h_map_proxy,
     "this box's HTTP proxy, announced for proxy mode (repeatable)", 0},
    {"service", "name", GLB_CFG_DNAME, GLB_CFG_REQUIRED, 0, 0, 0, glb_cfg_set_dname,
     "the load-balanced name; answered as <label>.<name>", SVC(name)},
    GLB_SVC_KEYS(lb_service_conf, policy.policy, answer_count, ttl_answer, margin_pct, policy.margin_ms,
                 policy.w_latency, policy.w_cost, policy.w_distance),
    {"service", "site", GLB_CFG_WORDS, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 2, 32, 0, h_site,
     "NAME ADDR|HOST [ADDR...] [weight=N] [cost=X] [location=LAT,LON] [check=URL] [check-verify=yes|no]", 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0},
};

static const glb_cfg_schema lb_schema = {lb_conf_keys, section_begin, NULL, section_target};

/* Checks that need the whole file; fills defaults. */
static int finish(lb_conf *c, const char *file, char *err, size_t errlen)
{
    if (c->id[0] == 0) {
        snprintf(err, errlen, "%s: section 'server:' with 'listen' and 'id' is required", file);
        return -1;
    }
    for (size_t i = 0; i < c->nservices; i++) {
        lb_service_conf *s = &c->services[i];
        for (size_t j = 0; j < i; j++)
            if (glb_dname_sub(s->name, c->services[j].name) >= 0 || glb_dname_sub(c->services[j].name, s->name) >= 0) {
                snprintf(err, errlen, "%s:%u: key 'name': service repeats or nests with the one at %s:%u", s->file,
                         s->line, c->services[j].file, c->services[j].line);
                return -1;
            }
        if (glb_dname_len(s->name) + 64 + 3 > GLB_DNAME_MAX) {
            snprintf(err, errlen, "%s:%u: key 'name': too long to answer ns.<label>.<name>", s->file, s->line);
            return -1;
        }
        if (s->policy.policy == LB_POLICY_PROXIMITY && !c->has_location) {
            snprintf(err, errlen, "%s:%u: key 'policy': proximity needs 'location' in section 'server'", s->file,
                     s->line);
            return -1;
        }
        s->policy.margin = s->margin_pct / 100;
    }
    /* Files are read at start; say now if they cannot be, not at start. */
    if (c->probe.ca_file[0] && access(c->probe.ca_file, R_OK) != 0) {
        snprintf(err, errlen, "%s: key 'ca-file': cannot read '%s': %s", file, c->probe.ca_file, strerror(errno));
        return -1;
    }
    if (c->resolver.trust_anchor[0] && access(c->resolver.trust_anchor, R_OK) != 0) {
        snprintf(err, errlen, "%s: key 'trust-anchor-file': cannot read '%s': %s", file, c->resolver.trust_anchor,
                 strerror(errno));
        return -1;
    }
    lb_probe_conf *p = &c->probe;
    if (p->timeout >= p->http_interval) {
        snprintf(err, errlen, "%s: key 'timeout': must be shorter than http-interval", file);
        return -1;
    }
    if (c->nns_addrs == 0)
        for (size_t i = 0; i < c->nlisten; i++) {
            glb_addr a = c->listen[i];
            static const uint8_t zero[16];
            if (memcmp(a.b, zero, glb_addr_bytes(a.family)) == 0)
                continue; /* a wildcard says nothing of where we are */
            a.port = 0;
            if (push_addr(&c->ns_addrs, &c->nns_addrs, &a)) {
                snprintf(err, errlen, "%s: out of memory", file);
                return -1;
            }
        }
    if (c->nns_addrs == 0) {
        snprintf(err, errlen, "%s: key 'ns-address': needed when every listen address is a wildcard", file);
        return -1;
    }
    return 0;
}

static lb_conf *conf_new(void)
{
    lb_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->workers = 1;
    c->verbosity = 3;
    c->edns_size = 1232;
    c->tcp_idle_ms = 10000;
    c->tcp_max_conns = 512;
    c->tcp_msg_ms = 3000;
    c->tcp_per_source = 64;
    c->rrl_rate = GLB_RRL_DEFAULT_RATE;
    c->rrl_slip = GLB_RRL_DEFAULT_SLIP;
    c->rrl_v4_prefix = GLB_RRL_DEFAULT_V4;
    c->rrl_v6_prefix = GLB_RRL_DEFAULT_V6;
    glb_addrport_parse("127.0.0.1@8954", 8954, &c->control);
    lb_probe_conf *p = &c->probe;
    p->http_interval = 10;
    p->icmp_interval = 30;
    p->timeout = 5;
    p->ewma_constant = 300;
    p->loss_floor = 100;
    p->dead_after = 3;
    p->alive_after = 2;
    p->max_body = 65536;
    p->ondemand_interval = 1;
    p->unmeasured_last = 1;
    glb_score_defaults(&p->score);
    c->map.refresh = 300;
    c->map.lifetime = 900;
    c->map.whoami_interval = 300;
    return c;
}

static lb_conf *conf_done(lb_conf *c, int rc, const char *file, char *err, size_t errlen)
{
    if (rc != 0 || finish(c, file, err, errlen) != 0) {
        lb_conf_free(c);
        return NULL;
    }
    c->probe.score.floor_ms = c->probe.loss_floor;
    for (size_t i = 0; i < c->nservices; i++)
        c->services[i].policy.unmeasured_last = c->probe.unmeasured_last;
    return c;
}

lb_conf *lb_conf_parse(const char *name, const char *text, char *err, size_t errlen)
{
    lb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    return conf_done(c, glb_cfg_parse_string(name, text, &lb_schema, c, err, errlen), name, err, errlen);
}

lb_conf *lb_conf_load(const char *file, char *err, size_t errlen)
{
    lb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", file);
        return NULL;
    }
    return conf_done(c, glb_cfg_parse_file(file, &lb_schema, c, err, errlen), file, err, errlen);
}

void lb_conf_free(lb_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nservices; i++)
        free(c->services[i].sites);
    free(c->services);
    free(c->listen);
    free(c->ns_addrs);
    free(c->resolver.addrs);
    free(c->map.servers);
    free(c->map.client_prefixes);
    free(c->map.proxy);
    free(c);
}
