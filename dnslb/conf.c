/* dnslb's configuration schema and its checks. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/conf.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/map.h"
#include "shared/rrl.h"
#include "shared/measure/probe_http.h"
#include "shared/srvconf.h"
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
    (void)e, (void)el;
    lb_conf *c = ctx;
    c->control = v->addr;
    c->has_control = 1;
    snprintf(c->control_at, sizeof(c->control_at), "%s:%u", v->file, v->line);
    return NULL;
}

/* The control channel's mode from control:, control-use-cert and the
 * certificates (control-*-file, else the dnsb: section's): 0, or -1 with err. */
static int finish_control(lb_conf *c, const char *file, char *err, size_t errlen)
{
    const char *at = c->has_control ? c->control_at : file;
    if (!c->control_use_cert) {
        /* Plain TCP: anyone who can connect may drive the box, so only from
         * this host. For tests, and for hosts whose every user is trusted. */
        int loop = c->control.family == AF_INET ? c->control.b[0] == 127
                                                : memcmp(c->control.b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
        if (!loop) {
            snprintf(err, errlen, "%s: key 'control': must be a loopback address with control-use-cert: no "
                                  "(the channel is not encrypted)", at);
            return -1;
        }
        c->control_mode = LB_CONTROL_PLAIN;
        return 0;
    }
    int given = c->control_cert[0] || c->control_key[0] || c->control_ca[0];
    if (glb_ctlconf_default(c->control_cert, c->control_key, c->control_ca, sizeof(c->control_cert),
                            c->map.tls_cert, c->map.tls_key, c->map.tls_ca) == 0)
        c->control_mode = LB_CONTROL_TLS;
    else if (c->has_control || given) {
        snprintf(err, errlen, "%s: key '%s': needs control-cert-file, control-key-file and control-ca-file "
                              "(or a dnsb: section to take them from), or control-use-cert: no",
                 at, c->has_control ? "control" : "control-cert-file");
        return -1;
    }
    else
        c->control_mode = LB_CONTROL_OFF; /* no certificates: no channel rather than an open one */
    return 0;
}

static const char *h_metrics(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_conf *c = ctx;
    c->metrics = v->addr;
    c->has_metrics = 1;
    return NULL;
}

static const char *h_mode(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_conf *c = ctx;
    if (strcmp(v->str, "lb") == 0)
        c->combined = 0;
    else if (strcmp(v->str, "combined") == 0)
        c->combined = 1;
    else
        return "must be lb or combined";
    return NULL;
}

static const char *h_rec_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_recurse_conf *r = &((lb_conf *)ctx)->recursion;
    glb_prefix *slot = glb_cfg_push(&r->allow, &r->nallow, sizeof(*slot));
    if (!slot)
        return "out of memory";
    *slot = v->prefix;
    return NULL;
}

static const char *h_rec_forward(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_recurse_conf *r = &((lb_conf *)ctx)->recursion;
    glb_addr *slot = glb_cfg_push(&r->forward, &r->nforward, sizeof(*slot));
    if (!slot)
        return "out of memory";
    *slot = v->addr;
    return NULL;
}

static const char *h_rec_stub(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_recurse_conf *r = &((lb_conf *)ctx)->recursion;
    uint8_t wire[GLB_DNAME_MAX];
    if (glb_dname_from_str(v->words[0], wire) == 0)
        return "not a domain name";
    for (int i = 1; i < v->nwords; i++) {
        glb_addr a;
        if (glb_addrport_parse(v->words[i], 53, &a) != 0) {
            snprintf(e, el, "'%s': not ADDR[@PORT]", v->words[i]);
            return e;
        }
        lb_recurse_stub *slot = glb_cfg_push(&r->stubs, &r->nstubs, sizeof(*slot));
        if (!slot)
            return "out of memory";
        glb_dname_to_str(wire, slot->zone, sizeof(slot->zone));
        slot->addr = a;
    }
    return NULL;
}

static const char *h_rec_option(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_recurse_conf *r = &((lb_conf *)ctx)->recursion;
    const char *colon = strchr(v->str, ':');
    if (!colon || colon == v->str)
        return "must be \"name: value\", as in unbound.conf";
    char **slot = glb_cfg_push(&r->options, &r->noptions, sizeof(*slot));
    if (!slot || !(*slot = strdup(v->str)))
        return "out of memory";
    return NULL;
}

static const char *h_agent_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_agents_conf *a = &((lb_conf *)ctx)->agents;
    if (!glb_map_id_valid(v->words[0])) {
        snprintf(e, el, "'%s': not an id (a DNS label)", v->words[0]);
        return e;
    }
    for (size_t i = 0; i < a->nallow; i++)
        if (strcmp(a->allow[i].id, v->words[0]) == 0) {
            snprintf(e, el, "'%s': given twice", v->words[0]);
            return e;
        }
    lb_agent_allow *slot = glb_cfg_push(&a->allow, &a->nallow, sizeof(*slot));
    if (!slot)
        return "out of memory";
    snprintf(slot->id, sizeof(slot->id), "%s", v->words[0]);
    for (int i = 1; i < v->nwords; i++) {
        glb_prefix p;
        const char *why = NULL;
        if (glb_prefix_parse(v->words[i], &p, &why) != 0) {
            snprintf(e, el, "'%s': %s", v->words[i], why ? why : "not a prefix");
            return e;
        }
        glb_prefix *ps = glb_cfg_push(&slot->prefixes, &slot->nprefixes, sizeof(*ps));
        if (!ps)
            return "out of memory";
        *ps = p;
    }
    return NULL;
}

static const char *h_metrics_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    lb_conf *c = ctx;
    glb_prefix *slot = glb_cfg_push(&c->metrics_allow, &c->nmetrics_allow, sizeof(*slot));
    if (!slot)
        return "out of memory";
    *slot = v->prefix;
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

static const char *h_proxy_address(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_proxy_conf *p = &((lb_conf *)ctx)->proxy;
    for (size_t i = 0; i < p->naddrs; i++)
        if (glb_addrport_equal(&p->addrs[i], &v->addr)) {
            snprintf(e, el, "address already listed");
            return e;
        }
    if (p->naddrs >= LB_PROXY_MAX_ADDRS) {
        snprintf(e, el, "at most %d addresses", LB_PROXY_MAX_ADDRS);
        return e;
    }
    p->addrs[p->naddrs++] = v->addr;
    return NULL;
}

/* peer: NAME ADDR[@PORT], another DNS-LB's proxy asked before the origins. */
static const char *h_proxy_peer(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_proxy_conf *p = &((lb_conf *)ctx)->proxy;
    if (!glb_id_valid(v->words[0])) {
        snprintf(e, el, "bad peer name '%s' (1-63 of a-z 0-9 -)", v->words[0]);
        return e;
    }
    glb_addr a;
    if (glb_addrport_parse(v->words[1], 80, &a) != 0) {
        snprintf(e, el, "bad address '%s' (ADDR[@PORT])", v->words[1]);
        return e;
    }
    for (size_t i = 0; i < p->npeers; i++)
        if (strcmp(p->peers[i].name, v->words[0]) == 0 || glb_addrport_equal(&p->peers[i].addr, &a)) {
            snprintf(e, el, "peer '%s' or its address already listed", v->words[0]);
            return e;
        }
    if (p->npeers >= LB_PROXY_MAX_ADDRS) {
        snprintf(e, el, "at most %d peers", LB_PROXY_MAX_ADDRS);
        return e;
    }
    snprintf(p->peers[p->npeers].name, sizeof(p->peers[0].name), "%s", v->words[0]);
    p->peers[p->npeers++].addr = a;
    return NULL;
}

static const char *h_proxy_engine(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    lb_proxy_conf *p = &((lb_conf *)ctx)->proxy;
    if (strcmp(v->str, "varnish") != 0) {
        snprintf(e, el, "unknown engine '%s' (supported: varnish)", v->str);
        return e;
    }
    snprintf(p->engine, sizeof(p->engine), "%s", v->str);
    return NULL;
}

static const char *h_abs_path(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    if (v->str[0] != '/') {
        snprintf(e, el, "must be an absolute path (the engine reads it from its own directory)");
        return e;
    }
    return glb_cfg_set_str(ctx, v, e, el);
}

static const char *section_begin(void *ctx, const char *section, const char *file, unsigned line)
{
    lb_conf *c = ctx;
    if (strcmp(section, "proxy") == 0) {
        if (c->proxy.enabled)
            return "only one proxy: section";
        c->proxy.enabled = 1;
        snprintf(c->proxy.file, sizeof(c->proxy.file), "%s", file);
        c->proxy.line = line;
        return NULL;
    }
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
    if (strcmp(section, "dnsb") == 0 || strcmp(section, "box") == 0)
        return &c->map;
    if (strcmp(section, "proxy") == 0)
        return &c->proxy;
    if (strcmp(section, "agents") == 0) {
        c->agents.enabled = 1;
        return &c->agents;
    }
    if (strcmp(section, "recursion") == 0) {
        c->has_recursion = 1;
        return &c->recursion;
    }
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
#define PXY(f) offsetof(lb_proxy_conf, f)

GLB_SERVER_KEYS_CHECK(lb_conf);

const glb_cfg_key lb_conf_keys[] = {
    GLB_SERVER_KEY_LISTEN(h_listen),
    {"server", "id", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 0, 0, h_id, "this DNS-LB's identity (a DNS label)", 0},
    GLB_SERVER_KEY_WORKERS(lb_conf),
    {"server", "control", GLB_CFG_ADDRPORT, 0, 0, 0, 8954, h_control,
     "ADDR[@PORT] of dnslb-control, over TLS (default 127.0.0.1@8954 when there are certificates)", 0},
    GLB_CONTROL_KEYS(lb_conf, "the dnsb: section's"),
    {"server", "control-use-cert", GLB_CFG_BOOL, 0, 0, 0, 0, glb_cfg_set_bool,
     "no: plain TCP on a loopback address, no certificates (any local user may control; default yes)",
     SRV(control_use_cert)},
    {"server", "mode", GLB_CFG_STR, 0, 0, 0, 0, h_mode,
     "lb (default), or combined: also the recursive resolver of the clients in recursion: access-control", 0},
    {"server", "metrics", GLB_CFG_ADDRPORT, 0, 0, 0, 9162, h_metrics,
     "ADDR[@PORT] to serve Prometheus metrics on, GET /metrics over HTTP (default: none)", 0},
    {"server", "metrics-allow", GLB_CFG_PREFIX, GLB_CFG_REPEAT, 0, 0, 0, h_metrics_allow,
     "PREFIX whose sources may scrape the metrics (repeatable; default 127.0.0.0/8 and ::1)", 0},
    {"server", "location", GLB_CFG_STR, 0, 0, 0, 0, h_location, "LAT,LON of this box (proximity policy)", 0},
    {"server", "ns-address", GLB_CFG_ADDR, GLB_CFG_REPEAT, 0, 0, 0, h_ns_address,
     "address of ns.<label>.<service> (repeatable; default: the listen addresses)", 0},
    GLB_SERVER_KEYS(lb_conf),
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
    {"recursion", "access-control", GLB_CFG_PREFIX, GLB_CFG_REPEAT, 0, 0, 0, h_rec_allow,
     "PREFIX of clients served recursion (repeatable; everyone else is refused)", 0},
    {"recursion", "forward-to", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT, 0, 0, 53, h_rec_forward,
     "ADDR[@PORT]: forward to these resolvers instead of resolving from the root (repeatable)", 0},
    {"recursion", "stub-zone", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 17, 0, h_rec_stub,
     "ZONE ADDR[@PORT]...: ask these servers for names in ZONE (repeatable)", 0},
    {"recursion", "root-hints", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "file of root name servers (default: libunbound's built-in)", offsetof(lb_recurse_conf, root_hints)},
    {"recursion", "trust-anchor-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "DNSSEC trust anchor: answers are validated (default: none)", offsetof(lb_recurse_conf, trust_anchor)},
    {"recursion", "unbound-option", GLB_CFG_STR, GLB_CFG_REPEAT, 0, 512, 0, h_rec_option,
     "\"name: value\": an unbound.conf server option for the resolver (repeatable)", 0},
    {"recursion", "answer-cache", GLB_CFG_INT, 0, 0, 16777216, 0, glb_cfg_set_uint,
     "answers kept by question in front of the resolver (default 65536; 0: none)",
     offsetof(lb_recurse_conf, cache_slots)},
    {"recursion", "max-inflight", GLB_CFG_INT, 0, 1, 1000000, 0, glb_cfg_set_uint,
     "queries being resolved at once; more are dropped (default 10000)", offsetof(lb_recurse_conf, max_pending)},
    {"agents", "listen", GLB_CFG_ADDRPORT, GLB_CFG_REQUIRED, 0, 0, 5381, glb_cfg_set_addr,
     "ADDR[@PORT] where measurement agents (mservice) connect (TLS; default port 5381)",
     offsetof(lb_agents_conf, listen)},
    {"agents", "tls-cert-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str,
     "this box's certificate for the agents (its CN is its id)", offsetof(lb_agents_conf, tls_cert)},
    {"agents", "tls-key-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str, "its key",
     offsetof(lb_agents_conf, tls_key)},
    {"agents", "tls-ca-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str,
     "CA the agents' certificates must chain to", offsetof(lb_agents_conf, tls_ca)},
    {"agents", "allow", GLB_CFG_WORDS, GLB_CFG_REPEAT, 1, 65, 0, h_agent_allow,
     "ID PREFIX...: agent ID (its certificate's CN) may claim clients within these prefixes (repeatable)", 0},
    {"agents", "max-age", GLB_CFG_INT, 0, 10, 86400, 0, glb_cfg_set_uint,
     "seconds an agent's metrics count; older, the box's own measurements answer (default 900)",
     offsetof(lb_agents_conf, max_age)},
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
    {"proxy", "engine", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 0, 0, h_proxy_engine,
     "the cache engine driven: varnish", 0},
    {"proxy", "address", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 80, h_proxy_address,
     "ADDR[@PORT] where the engine listens: the proxy address answered and announced (repeatable)", 0},
    {"proxy", "varnish-name", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, h_abs_path,
     "the engine's work directory (varnishd -n DIR)", PXY(varnish_name)},
    {"proxy", "vcl-dir", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, h_abs_path,
     "directory where the rendered VCL is written (current.vcl: the last one loaded)", PXY(vcl_dir)},
    {"proxy", "varnishadm", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "the program that loads VCL (default varnishadm)", PXY(varnishadm)},
    {"proxy", "min-interval", GLB_CFG_INT, 0, 1, 3600, 0, glb_cfg_set_uint,
     "seconds between two VCL loads, at least (default 5)", PXY(min_interval)},
    {"proxy", "timeout", GLB_CFG_INT, 0, 1, 600, 0, glb_cfg_set_uint,
     "seconds one varnishadm run may take before it is killed (default 10)", PXY(timeout)},
    {"proxy", "origin-port", GLB_CFG_INT, 0, 1, 65535, 0, glb_cfg_set_uint,
     "port of a site's origin when its check URL is not http with a port (default 80)", PXY(origin_port)},
    {"proxy", "peer", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 2, 0, h_proxy_peer,
     "NAME ADDR[@PORT]: another DNS-LB's proxy, asked first for what its cache holds (repeatable, in order)", 0},
    {"service", "name", GLB_CFG_DNAME, GLB_CFG_REQUIRED, 0, 0, 0, glb_cfg_set_dname,
     "the load-balanced name; answered as <label>.<name>", SVC(name)},
    GLB_SVC_KEYS(lb_service_conf, policy.policy, answer_count, ttl_answer, margin_pct, policy.margin_ms,
                 policy.w_latency, policy.w_cost, policy.w_distance),
    {"service", "site", GLB_CFG_WORDS, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 2, 32, 0, h_site,
     "NAME ADDR|HOST [ADDR...] [weight=N] [cost=X] [location=LAT,LON] [check=URL] [check-verify=yes|no]", 0},
    {"service", "proxy-answer", GLB_CFG_BOOL, 0, 0, 0, 0, glb_cfg_set_bool,
     "yes: answer this box's proxy address (proxy: address) instead of the sites", SVC(proxy_answer)},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0},
};

static const glb_cfg_schema lb_schema = {lb_conf_keys, section_begin, NULL, section_target};

/* Checks that need the whole file; fills defaults. */
static int finish(lb_conf *c, const char *file, char *err, size_t errlen)
{
    if (c->id[0] == 0) {
        snprintf(err, errlen, "%s: section 'server:' with %s is required", file, c->agent ? "'id'" : "'listen' and 'id'");
        return -1;
    }
    if (finish_control(c, file, err, errlen) != 0)
        return -1;
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
        if (s->proxy_answer && !c->proxy.enabled) {
            snprintf(err, errlen, "%s:%u: key 'proxy-answer': needs a proxy: section", s->file, s->line);
            return -1;
        }
    }
    /* The proxy announced to the DNS-Bs (proxy mode): by default where the engine listens. */
    for (size_t i = 0, announce = c->map.nproxy == 0; announce && i < c->proxy.naddrs; i++) {
        glb_addr a = c->proxy.addrs[i];
        a.port = 0;
        if (push_addr(&c->map.proxy, &c->map.nproxy, &a)) {
            snprintf(err, errlen, "%s: out of memory", file);
            return -1;
        }
    }
    if (c->combined && c->recursion.nallow == 0) {
        snprintf(err, errlen, "%s: mode combined: no recursion: access-control (an open resolver is not made)", file);
        return -1;
    }
    if (c->agents.enabled && !c->combined) {
        snprintf(err, errlen, "%s: an agents: section needs server: mode: combined", file);
        return -1;
    }
    if (c->agents.enabled && c->agents.max_age == 0)
        c->agents.max_age = 900;
    if (!c->combined && c->has_recursion) {
        snprintf(err, errlen, "%s: a recursion: section needs server: mode: combined", file);
        return -1;
    }
    const char *rfile[] = {c->recursion.root_hints, c->recursion.trust_anchor};
    for (size_t i = 0; i < 2; i++)
        if (rfile[i][0] && access(rfile[i], R_OK) != 0) {
            snprintf(err, errlen, "%s: key '%s': cannot read '%s': %s", file, i ? "trust-anchor-file" : "root-hints",
                     rfile[i], strerror(errno));
            return -1;
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
    if (c->nns_addrs == 0 && !c->agent) { /* an agent answers no DNS */
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
    c->recursion.cache_slots = LB_RECURSE_CACHE_DEFAULT;
    glb_addrport_parse("127.0.0.1@8954", 8954, &c->control);
    c->control_use_cert = 1;
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
    snprintf(c->proxy.varnishadm, sizeof(c->proxy.varnishadm), "varnishadm");
    c->proxy.min_interval = 5;
    c->proxy.timeout = 10;
    c->proxy.origin_port = 80;
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
    free(c->metrics_allow);
    free(c->control_allow.ids);
    free(c->ns_addrs);
    free(c->resolver.addrs);
    lb_recurse_conf_fini(&c->recursion);
    for (size_t i = 0; i < c->agents.nallow; i++)
        free(c->agents.allow[i].prefixes);
    free(c->agents.allow);
    free(c->map.servers);
    free(c->map.client_prefixes);
    free(c->map.proxy);
    free(c);
}

lb_measure_conf lb_conf_measure(const lb_conf *c)
{
    lb_measure_conf m = {&c->probe, &c->resolver, c->has_location, c->lat, c->lon, c->services, c->nservices};
    return m;
}

/* The agent's rows: dnslb's, less what serves DNS, the dnsb: rows as box:
 * (less whoami and proxy), and metrics-interval. Built once. */
static const char *const agent_drop[] = {
    "server listen", "server workers", "server mode", "server metrics", "server metrics-allow",
    "server ns-address", "server edns-buffer-size", "dnsb whoami-interval", "dnsb proxy-address",
    "service proxy-answer", NULL,
};
static const glb_cfg_key agent_extra[] = {
    {"box", "metrics-interval", GLB_CFG_INT, 0, 5, 86400, 0, glb_cfg_set_uint,
     "seconds between two METRICS pushed to the box (default 300; at once on a state change)", MAP(metrics_interval)},
};
static glb_cfg_key agent_keys[sizeof(lb_conf_keys) / sizeof(lb_conf_keys[0]) + 2];
static pthread_once_t agent_once = PTHREAD_ONCE_INIT;

static int agent_row(const glb_cfg_key *k)
{
    static const char *const keep[] = {"server", "probe", "resolver", "dnsb", "service"};
    int sec = 0;
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        sec |= strcmp(k->section, keep[i]) == 0;
    if (!sec || strncmp(k->key, "tcp-", 4) == 0 || strncmp(k->key, "rrl-", 4) == 0)
        return 0;
    char sk[96];
    snprintf(sk, sizeof(sk), "%s %s", k->section, k->key);
    for (size_t i = 0; agent_drop[i]; i++)
        if (strcmp(sk, agent_drop[i]) == 0)
            return 0;
    return 1;
}

/* Help lines that name the agent's peers, not the DNS-LB's. */
static const char *const agent_help[][2] = {
    {"id", "this agent's identity (a DNS label, its certificate's CN)"},
    {"map-server", "ADDR[@PORT] of a combined box's agent service; registers with every one (repeatable)"},
    {"tls-cert-file", "this agent's certificate (its CN is its id)"},
    {"tls-ca-file", "CA the boxes' certificates must chain to"},
    {"client-prefix", "a client prefix this agent measures for (repeatable)"},
    {"services-file", "where the boxes' last services are kept, so a restart measures at once"},
    {"control-cert-file", "certificate of the control channel (default: the box: section's)"},
    {"control-key-file", "its key (default: the box: section's)"},
    {"control-ca-file", "CA of the control tool's client certificates (default: the box: section's)"},
};

static void agent_build(void)
{
    size_t n = 0;
    for (const glb_cfg_key *k = lb_conf_keys; k->section; k++)
        if (agent_row(k)) {
            agent_keys[n] = *k;
            if (strcmp(k->section, "dnsb") == 0)
                agent_keys[n].section = "box";
            for (size_t i = 0; i < sizeof(agent_help) / sizeof(agent_help[0]); i++)
                if (strcmp(k->key, agent_help[i][0]) == 0 && strcmp(k->section, "service") != 0)
                    agent_keys[n].help = agent_help[i][1];
            n++;
        }
    size_t at = n; /* after the last box: row, so that --help shows one box: */
    while (at > 0 && strcmp(agent_keys[at - 1].section, "box") != 0)
        at--;
    memmove(&agent_keys[at + 1], &agent_keys[at], (n - at) * sizeof(agent_keys[0]));
    agent_keys[at] = agent_extra[0];
    n++;
    memset(&agent_keys[n], 0, sizeof(agent_keys[n]));
}

const glb_cfg_key *lb_agent_conf_keys(void)
{
    pthread_once(&agent_once, agent_build);
    return agent_keys;
}

static lb_conf *agent_done(lb_conf *c, int rc, const char *file, char *err, size_t errlen)
{
    c->agent = 1;
    c = conf_done(c, rc, file, err, errlen);
    if (c && c->map.nservers == 0) {
        snprintf(err, errlen, "%s: section 'box:' with 'map-server' is required", file);
        lb_conf_free(c);
        return NULL;
    }
    if (c && c->map.metrics_interval == 0)
        c->map.metrics_interval = 300;
    return c;
}

lb_conf *lb_conf_load_agent(const char *file, char *err, size_t errlen)
{
    glb_cfg_schema schema = {lb_agent_conf_keys(), section_begin, NULL, section_target};
    lb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", file);
        return NULL;
    }
    return agent_done(c, glb_cfg_parse_file(file, &schema, c, err, errlen), file, err, errlen);
}

lb_conf *lb_conf_parse_agent(const char *name, const char *text, char *err, size_t errlen)
{
    glb_cfg_schema schema = {lb_agent_conf_keys(), section_begin, NULL, section_target};
    lb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    return agent_done(c, glb_cfg_parse_string(name, text, &schema, c, err, errlen), name, err, errlen);
}
