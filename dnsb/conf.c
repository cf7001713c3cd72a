/* dnsb's configuration schema and its checks. SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/conf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsb/store.h"
#include "shared/log.h"
#include "shared/rrl.h"
#include "shared/srvconf.h"

#define NOMEM "out of memory"

static dnsb_service_conf *cur_service(dnsb_conf *c)
{
    return &c->services[c->nservices - 1];
}

static dnsb_lb_conf *cur_lb(dnsb_conf *c)
{
    return &c->lbs[c->nlbs - 1];
}

/* --- server: --- */

static int addr_in(const glb_addr *list, size_t n, const glb_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (glb_addrport_equal(&list[i], a))
            return 1;
    return 0;
}

static const char *push_listen(dnsb_conf *c, const glb_addr *addr)
{
    glb_addr *a = glb_cfg_push(&c->listen, &c->nlisten, sizeof(*a));
    if (!a)
        return NOMEM;
    *a = *addr;
    return NULL;
}

/* A standby address must never be a referring one: a server that refers
 * from an address and is authoritative for the DNS-LB zones on the same one
 * answers every query itself (resolvers ask the parent first). */
static const char *h_listen(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_conf *c = ctx;
    if (addr_in(c->standby_listen, c->nstandby_listen, &v->addr)) {
        snprintf(e, el, "also a standby-listen address: the standby must have addresses of its own");
        return e;
    }
    return push_listen(c, &v->addr);
}

static const char *h_standby_listen(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_conf *c = ctx;
    if (addr_in(c->listen, c->nlisten, &v->addr)) {
        snprintf(e, el, "%s", addr_in(c->standby_listen, c->nstandby_listen, &v->addr)
                                  ? "given twice"
                                  : "also a listen address: the standby must have addresses of its own");
        return e;
    }
    glb_addr *s = glb_cfg_push(&c->standby_listen, &c->nstandby_listen, sizeof(*s));
    if (!s)
        return NOMEM;
    *s = v->addr;
    return push_listen(c, &v->addr); /* the server binds it */
}

/* NAME ADDR into the array at *list (zone-ns, standby-ns). */
static const char *push_ns(dnsb_zone_ns **list, size_t *n, const glb_cfg_val *v, char *e, size_t el)
{
    uint8_t name[GLB_DNAME_MAX];
    glb_addr addr;
    if (glb_dname_from_str(v->words[0], name) == 0) {
        snprintf(e, el, "bad name server name '%s'", v->words[0]);
        return e;
    }
    if (glb_addr_parse(v->words[1], &addr) != 0) {
        snprintf(e, el, "bad address '%s'", v->words[1]);
        return e;
    }
    dnsb_zone_ns *ns = glb_cfg_push(list, n, sizeof(*ns));
    if (!ns)
        return NOMEM;
    memcpy(ns->name, name, glb_dname_len(name));
    ns->addr = addr;
    return NULL;
}

static const char *h_zone_ns(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_conf *c = ctx;
    return push_ns(&c->zone_ns, &c->nzone_ns, v, e, el);
}

static const char *h_standby_ns(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_conf *c = ctx;
    return push_ns(&c->standby_ns, &c->nstandby_ns, v, e, el);
}

/* --- map: --- */

static const char *h_map_listen(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_map_conf *m = &((dnsb_conf *)ctx)->map;
    glb_addr *a = glb_cfg_push(&m->listen, &m->nlisten, sizeof(*a));
    if (!a)
        return NOMEM;
    *a = v->addr;
    return NULL;
}

static const char *h_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_map_conf *m = &((dnsb_conf *)ctx)->map;
    if (!glb_id_valid(v->words[0])) {
        snprintf(e, el, "bad identity '%s' (1-63 of a-z 0-9 -)", v->words[0]);
        return e;
    }
    for (size_t i = 0; i < m->nallows; i++)
        if (strcmp(m->allows[i].id, v->words[0]) == 0) {
            snprintf(e, el, "identity '%s' repeats: one allow line per identity", v->words[0]);
            return e;
        }
    dnsb_allow *al = glb_cfg_push(&m->allows, &m->nallows, sizeof(*al));
    if (!al)
        return NOMEM;
    snprintf(al->id, sizeof(al->id), "%s", v->words[0]);
    for (int i = 1; i < v->nwords; i++) {
        glb_prefix p;
        const char *why;
        if (glb_prefix_parse(v->words[i], &p, &why) != 0) {
            snprintf(e, el, "bad prefix '%s': %s", v->words[i], why);
            return e;
        }
        glb_prefix *slot = glb_cfg_push(&al->prefixes, &al->nprefixes, sizeof(*slot));
        if (!slot)
            return NOMEM;
        *slot = p;
    }
    return NULL;
}

static const char *h_control(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_conf *c = ctx;
    c->control = v->addr;
    c->has_control = 1;
    return NULL;
}

static const char *h_metrics(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_conf *c = ctx;
    c->metrics = v->addr;
    c->has_metrics = 1;
    return NULL;
}

static const char *h_metrics_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_conf *c = ctx;
    glb_prefix *slot = glb_cfg_push(&c->metrics_allow, &c->nmetrics_allow, sizeof(*slot));
    if (!slot)
        return NOMEM;
    *slot = v->prefix;
    return NULL;
}

static const char *h_database_damaged(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_conf *c = ctx;
    if (strcmp(v->str, "move-aside") == 0)
        c->database_damaged = DNSB_STORE_MOVE_ASIDE;
    else if (strcmp(v->str, "refuse") == 0)
        c->database_damaged = DNSB_STORE_REFUSE;
    else {
        snprintf(e, el, "expected move-aside or refuse, not '%s'", v->str);
        return e;
    }
    return NULL;
}

/* --- service: --- */

static const char *h_svc_mode(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    static const char *const names[] = {"referral", "direct", "proxy"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v->str, names[i]) == 0) {
            cur_service(ctx)->mode = i;
            return NULL;
        }
    snprintf(e, el, "unknown mode '%s' (referral, direct or proxy)", v->str);
    return e;
}

static const char *h_svc_site(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_service_conf *s = cur_service(ctx);
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

/* --- lb: --- */

static const char *h_lb_id(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    if (!glb_id_valid(v->str)) {
        snprintf(e, el, "bad id '%s' (1-63 of a-z 0-9 -: it becomes a DNS label)", v->str);
        return e;
    }
    snprintf(cur_lb(ctx)->id, sizeof(cur_lb(ctx)->id), "%s", v->str);
    return NULL;
}

static const char *h_lb_address(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_lb_conf *lb = cur_lb(ctx);
    glb_addr *a = glb_cfg_push(&lb->addrs, &lb->naddrs, sizeof(*a));
    if (!a)
        return NOMEM;
    *a = v->addr;
    return NULL;
}

static const char *h_lb_proxy(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_lb_conf *lb = cur_lb(ctx);
    glb_addr *a = glb_cfg_push(&lb->proxy, &lb->nproxy, sizeof(*a));
    if (!a)
        return NOMEM;
    *a = v->addr;
    return NULL;
}

static const char *h_lb_resolver(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    dnsb_lb_conf *lb = cur_lb(ctx);
    glb_prefix *p = glb_cfg_push(&lb->resolvers, &lb->nresolvers, sizeof(*p));
    if (!p)
        return NOMEM;
    *p = v->prefix;
    return NULL;
}

static const char *h_lb_ranking(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    dnsb_lb_conf *lb = cur_lb(ctx);
    uint8_t svc[GLB_DNAME_MAX];
    if (glb_dname_from_str(v->words[0], svc) == 0) {
        snprintf(e, el, "bad service name '%s'", v->words[0]);
        return e;
    }
    dnsb_ranking_conf *r = glb_cfg_push(&lb->rankings, &lb->nrankings, sizeof(*r));
    if (!r)
        return NOMEM;
    memcpy(r->service, svc, glb_dname_len(svc));
    snprintf(r->file, sizeof(r->file), "%s", v->file);
    r->line = v->line;
    r->sites = calloc((size_t)v->nwords - 1, sizeof(*r->sites));
    if (!r->sites)
        return NOMEM;
    for (int i = 1; i < v->nwords; i++)
        snprintf(r->sites[r->nsites++], GLB_SITE_NAME_MAX, "%s", v->words[i]);
    return NULL;
}

static const char *section_begin(void *ctx, const char *section, const char *file, unsigned line)
{
    dnsb_conf *c = ctx;
    if (strcmp(section, "service") == 0) {
        dnsb_service_conf *s = glb_cfg_push(&c->services, &c->nservices, sizeof(*s));
        if (!s)
            return NOMEM;
        s->ttl_referral = 3600;
        s->ttl_answer = GLB_SVC_TTL_ANSWER;
        s->answer_count = GLB_SVC_ANSWER_COUNT;
        glb_svc_params_default(&s->lb);
        snprintf(s->file, sizeof(s->file), "%s", file);
        s->line = line;
    } else if (strcmp(section, "lb") == 0) {
        dnsb_lb_conf *lb = glb_cfg_push(&c->lbs, &c->nlbs, sizeof(*lb));
        if (!lb)
            return NOMEM;
        snprintf(lb->file, sizeof(lb->file), "%s", file);
        lb->line = line;
    }
    return NULL;
}

#define U32MAX 2147483647LL /* TTLs are at most 2^31 - 1 (RFC 2181 §8) */

GLB_SVC_KEYS_CHECK(dnsb_service_conf, lb.policy, answer_count, ttl_answer, lb.margin_pct, lb.margin_ms,
                   lb.w_latency, lb.w_cost, lb.w_distance);

#define SRV(f) offsetof(dnsb_conf, f)
#define SVC(f) offsetof(dnsb_service_conf, f)
#define MAP(f) offsetof(dnsb_map_conf, f)

GLB_SERVER_KEYS_CHECK(dnsb_conf);

const glb_cfg_key dnsb_conf_keys[] = {
    GLB_SERVER_KEY_LISTEN(h_listen),
    GLB_SERVER_KEY_WORKERS(dnsb_conf),
    {"server", "zone", GLB_CFG_DNAME, GLB_CFG_REQUIRED, 0, 0, 0, glb_cfg_set_dname, "the DNS-B's own zone",
     SRV(zone)},
    {"server", "zone-ns", GLB_CFG_WORDS, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 2, 2, 0, h_zone_ns,
     "NAME ADDR: a name server of the zone and its address (repeatable)", 0},
    {"server", "standby-ns", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 2, 0, h_standby_ns,
     "NAME ADDR: a standby name server, named beside every DNS-LB in its delegations (repeatable)", 0},
    {"server", "standby-listen", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT, 0, 0, 53, h_standby_listen,
     "ADDR[@PORT] where this DNS-B answers as a standby for the DNS-LB zones (repeatable)", 0},
    {"server", "whoami", GLB_CFG_DNAME, 0, 0, 0, 0, glb_cfg_set_dname,
     "name under which <any>.NAME TXT tells the asker's address (default whoami.<zone>)", SRV(whoami)},
    {"server", "zone-contact", GLB_CFG_DNAME, 0, 0, 0, 0, glb_cfg_set_dname,
     "SOA RNAME (default hostmaster.<zone>)", SRV(contact)},
    {"server", "zone-ttl", GLB_CFG_INT, 0, 1, U32MAX, 0, glb_cfg_set_u32, "TTL of SOA, NS and glue (default 3600)",
     SRV(zone_ttl)},
    GLB_SERVER_KEYS(dnsb_conf),
    {"server", "database", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,
     "LMDB directory keeping registrations across restarts (default: none)", SRV(database)},
    {"server", "database-damaged", GLB_CFG_STR, 0, 0, 0, 0, h_database_damaged,
     "move-aside (default: renamed, start empty) or refuse (do not start) a damaged database", 0},
    {"server", "control", GLB_CFG_ADDRPORT, 0, 0, 0, 8953, h_control,
     "ADDR[@PORT] of dnsb-control, over TLS (default: none)", 0},
    GLB_CONTROL_KEYS(dnsb_conf, "the map: section's"),
    {"server", "metrics", GLB_CFG_ADDRPORT, 0, 0, 0, 9161, h_metrics,
     "ADDR[@PORT] to serve Prometheus metrics on, GET /metrics over HTTP (default: none)", 0},
    {"server", "metrics-allow", GLB_CFG_PREFIX, GLB_CFG_REPEAT, 0, 0, 0, h_metrics_allow,
     "PREFIX whose sources may scrape the metrics (repeatable; default 127.0.0.0/8 and ::1)", 0},
    {"map", "listen", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 5380, h_map_listen,
     "ADDR[@PORT] where DNS-LBs register, TLS (repeatable)", 0},
    {"map", "tls-cert-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str, "this DNS-B's certificate",
     MAP(tls_cert)},
    {"map", "tls-key-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str, "its key", MAP(tls_key)},
    {"map", "tls-ca-file", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 256, 0, glb_cfg_set_str,
     "CA that DNS-LB certificates must chain to", MAP(tls_ca)},
    {"map", "allow", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 64, 0, h_allow,
     "ID PREFIX...: the identity (certificate CN) and the prefixes it may claim (repeatable)", 0},
    {"map", "lifetime", GLB_CFG_INT, 0, 10, 86400, 0, glb_cfg_set_uint,
     "seconds a registration lives unless refreshed (default 900)", MAP(lifetime)},
    {"map", "max-connections", GLB_CFG_INT, 0, 1, 1000000, 0, glb_cfg_set_uint,
     "map connections at once (default 20000)", MAP(max_connections)},
    {"map", "max-claims", GLB_CFG_INT, 0, 1, 4096, 0, glb_cfg_set_uint,
     "resolver claims per identity (default 4096)", MAP(max_claims)},
    {"map", "max-handshakes", GLB_CFG_INT, 0, 1, 1000000, 0, glb_cfg_set_uint,
     "connections in the TLS handshake or before HELLO at once; more close the oldest (default 1000)",
     MAP(max_handshakes)},
    {"map", "max-handshakes-per-source", GLB_CFG_INT, 0, 1, 1000000, 0, glb_cfg_set_uint,
     "of those, from one address; more close its oldest (default 250)", MAP(max_handshakes_per_source)},
    {"map", "handshake-timeout", GLB_CFG_INT, 0, 1, 600, 0, glb_cfg_set_uint,
     "seconds for the TLS handshake and HELLO (default 10)", MAP(handshake_timeout)},
    {"map", "idle-timeout", GLB_CFG_INT, 0, 5, 86400, 0, glb_cfg_set_uint,
     "seconds of silence before a map connection is closed (default 120)", MAP(idle_timeout)},
    {"service", "name", GLB_CFG_DNAME, GLB_CFG_REQUIRED, 0, 0, 0, glb_cfg_set_dname,
     "the load-balanced name (delegated to the DNS-Bs, or under zone)", SVC(name)},
    {"service", "mode", GLB_CFG_STR, 0, 0, 0, 0, h_svc_mode, "referral | direct | proxy (default referral)", 0},
    {"service", "ttl-referral", GLB_CFG_INT, 0, 0, U32MAX, 0, glb_cfg_set_u32,
     "TTL of the CNAME and the delegation to a DNS-LB (default 3600)", SVC(ttl_referral)},
    GLB_SVC_KEYS(dnsb_service_conf, lb.policy, answer_count, ttl_answer, lb.margin_pct, lb.margin_ms,
                 lb.w_latency, lb.w_cost, lb.w_distance),
    {"service", "site", GLB_CFG_WORDS, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 2, 32, 0, h_svc_site,
     "NAME ADDR|HOST [ADDR...] [weight=N] [cost=X] [location=LAT,LON] [check=URL] [check-verify=yes|no]", 0},
    {"lb", "id", GLB_CFG_STR, GLB_CFG_REQUIRED, 0, 0, 0, h_lb_id, "the DNS-LB's identity, used as DNS label", 0},
    {"lb", "address", GLB_CFG_ADDR, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 0, h_lb_address,
     "where the DNS-LB answers DNS (repeatable, v4/v6)", 0},
    {"lb", "proxy-address", GLB_CFG_ADDR, GLB_CFG_REPEAT, 0, 0, 0, h_lb_proxy, "its HTTP proxy (proxy mode)", 0},
    {"lb", "resolver", GLB_CFG_PREFIX, GLB_CFG_REPEAT, 0, 0, 0, h_lb_resolver,
     "resolver address or prefix this DNS-LB serves (repeatable)", 0},
    {"lb", "ranking", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 33, 0, h_lb_ranking,
     "SERVICE SITE...: its site order for SERVICE (direct mode)", 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0},
};

/* The struct a section's keys fill: the conf, or the service being read. */
static void *section_target(void *ctx, const char *section)
{
    dnsb_conf *c = ctx;
    if (strcmp(section, "service") == 0 && c->nservices)
        return cur_service(c);
    if (strcmp(section, "map") == 0)
        return &c->map;
    return c;
}

static const glb_cfg_schema dnsb_schema = {dnsb_conf_keys, section_begin, NULL, section_target};

static const dnsb_service_conf *find_service(const dnsb_conf *c, const uint8_t *name)
{
    for (size_t i = 0; i < c->nservices; i++)
        if (glb_dname_equal(c->services[i].name, name))
            return &c->services[i];
    return NULL;
}

/* Checks that need the whole file; fills defaults. Returns 0 or -1 with err. */
static int finish(dnsb_conf *c, const char *file, char *err, size_t errlen)
{
    if (c->zone[0] == 0 && c->nzone_ns == 0) {
        snprintf(err, errlen, "%s: section 'server:' with 'zone' and 'zone-ns' is required", file);
        return -1;
    }
    if (c->whoami[0] == 0 && glb_dname_prepend("whoami", 6, c->zone, c->whoami) == 0) {
        snprintf(err, errlen, "%s: key 'whoami': whoami.<zone> is too long", file);
        return -1;
    }
    if (glb_dname_sub(c->whoami, c->zone) <= 0) {
        snprintf(err, errlen, "%s: key 'whoami': must be a name below the zone", file);
        return -1;
    }
    if (c->contact[0] == 0 && glb_dname_prepend("hostmaster", 10, c->zone, c->contact) == 0)
        memcpy(c->contact, c->zone, glb_dname_len(c->zone));
    for (size_t i = 0; i < c->nservices; i++) {
        const dnsb_service_conf *s = &c->services[i];
        for (size_t j = 0; j < c->nservices; j++) {
            if (i == j)
                continue;
            if (glb_dname_sub(s->name, c->services[j].name) >= 0) {
                char a[1024];
                snprintf(err, errlen, "%s:%u: key 'name': service %s repeats or lies inside the service at %s:%u",
                         s->file, s->line, glb_dname_to_str(s->name, a, sizeof(a)), c->services[j].file,
                         c->services[j].line);
                return -1;
            }
        }
        if (glb_dname_sub(c->zone, s->name) > 0 || glb_dname_sub(c->whoami, s->name) >= 0) {
            snprintf(err, errlen, "%s:%u: key 'name': the zone cannot lie inside a service", s->file, s->line);
            return -1;
        }
    }
    for (size_t i = 0; i < c->nlbs; i++) {
        const dnsb_lb_conf *lb = &c->lbs[i];
        for (size_t s = 0; s < c->nservices; s++)
            if (glb_dname_len(c->services[s].name) + strlen(lb->id) + 1 + 3 > GLB_DNAME_MAX) {
                snprintf(err, errlen, "%s:%u: key 'id': ns.%s.<service> would exceed 255 bytes", lb->file, lb->line,
                         lb->id);
                return -1;
            }
        for (size_t j = 0; j < i; j++)
            if (strcmp(lb->id, c->lbs[j].id) == 0) {
                snprintf(err, errlen, "%s:%u: key 'id': lb '%s' defined twice", lb->file, lb->line, lb->id);
                return -1;
            }
        for (size_t r = 0; r < lb->nrankings; r++) {
            const dnsb_ranking_conf *rk = &lb->rankings[r];
            const dnsb_service_conf *s = find_service(c, rk->service);
            if (!s) {
                snprintf(err, errlen, "%s:%u: key 'ranking': no such service", rk->file, rk->line);
                return -1;
            }
            for (size_t k = 0; k < rk->nsites; k++) {
                size_t m = 0;
                while (m < s->nsites && strcmp(s->sites[m].name, rk->sites[k]) != 0)
                    m++;
                if (m == s->nsites) {
                    snprintf(err, errlen, "%s:%u: key 'ranking': service has no site '%s'", rk->file,
                             rk->line, rk->sites[k]);
                    return -1;
                }
            }
        }
    }
    if (c->nstandby_listen && !c->nstandby_ns) {
        snprintf(err, errlen, "%s: key 'standby-listen': needs standby-ns lines, the names the delegations give",
                 file);
        return -1;
    }
    if (c->workers == 0)
        c->workers = 1;
    if (c->zone_ttl == 0)
        c->zone_ttl = 3600;
    if (c->edns_size == 0)
        c->edns_size = 1232;
    if (c->tcp_idle_ms == 0)
        c->tcp_idle_ms = 10000;
    if (c->tcp_max_conns == 0)
        c->tcp_max_conns = 512;
    if (c->tcp_msg_ms == 0)
        c->tcp_msg_ms = 3000;
    if (c->tcp_per_source == 0)
        c->tcp_per_source = 64;
    dnsb_map_conf *m = &c->map;
    if (m->lifetime == 0)
        m->lifetime = 900;
    if (m->max_connections == 0)
        m->max_connections = 20000;
    if (m->max_handshakes == 0)
        m->max_handshakes = 1000;
    if (m->max_handshakes_per_source == 0)
        m->max_handshakes_per_source = 250;
    if (m->max_claims == 0)
        m->max_claims = 4096;
    if (m->handshake_timeout == 0)
        m->handshake_timeout = 10;
    if (m->idle_timeout == 0)
        m->idle_timeout = 120;
    if (c->has_control && !m->nlisten && (!c->control_cert[0] || !c->control_key[0] || !c->control_ca[0])) {
        snprintf(err, errlen, "%s: key 'control': needs control-cert-file, control-key-file and control-ca-file "
                              "(or a map: section to take them from)", file);
        return -1;
    }
    glb_ctlconf_default(c->control_cert, c->control_key, c->control_ca, sizeof(c->control_cert), m->tls_cert,
                        m->tls_key, m->tls_ca);
    return 0;
}

static dnsb_conf *conf_new(void)
{
    dnsb_conf *c = calloc(1, sizeof(*c));
    if (c) {
        c->verbosity = 3;
        c->rrl_rate = GLB_RRL_DEFAULT_RATE;
        c->rrl_slip = GLB_RRL_DEFAULT_SLIP;
        c->rrl_v4_prefix = GLB_RRL_DEFAULT_V4;
        c->rrl_v6_prefix = GLB_RRL_DEFAULT_V6;
    }
    return c;
}

dnsb_conf *dnsb_conf_parse(const char *name, const char *text, char *err, size_t errlen)
{
    dnsb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (glb_cfg_parse_string(name, text, &dnsb_schema, c, err, errlen) != 0 || finish(c, name, err, errlen) != 0) {
        dnsb_conf_free(c);
        return NULL;
    }
    return c;
}

dnsb_conf *dnsb_conf_load(const char *file, char *err, size_t errlen)
{
    dnsb_conf *c = conf_new();
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", file);
        return NULL;
    }
    if (glb_cfg_parse_file(file, &dnsb_schema, c, err, errlen) != 0 || finish(c, file, err, errlen) != 0) {
        dnsb_conf_free(c);
        return NULL;
    }
    return c;
}

void dnsb_conf_free(dnsb_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nservices; i++)
        free(c->services[i].sites);
    for (size_t i = 0; i < c->nlbs; i++) {
        dnsb_lb_conf *lb = &c->lbs[i];
        for (size_t r = 0; r < lb->nrankings; r++)
            free(lb->rankings[r].sites);
        free(lb->rankings);
        free(lb->addrs);
        free(lb->proxy);
        free(lb->resolvers);
    }
    free(c->services);
    free(c->lbs);
    free(c->control_allow.ids);
    free(c->metrics_allow);
    for (size_t i = 0; i < c->map.nallows; i++)
        free(c->map.allows[i].prefixes);
    free(c->map.allows);
    free(c->map.listen);
    free(c->listen);
    free(c->zone_ns);
    free(c->standby_ns);
    free(c->standby_listen);
    free(c);
}
