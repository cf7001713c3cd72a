/* dnslb: the load-balancing DNS server next to an ISP's POP. Thin daemon
 * around dnslb/ and shared/. SPDX-License-Identifier: BSD-3-Clause */
#include <event2/buffer.h>
#include <event2/event.h>
#include <math.h>
#include <openssl/ssl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnslb/agents.h"
#include "dnslb/answer.h"
#include "dnslb/conf.h"
#include "dnslb/control.h"
#include "dnslb/status.h"
#include "shared/metrics_http.h"
#include "dnslb/mapclient.h"
#include "dnslb/proxy.h"
#include "dnslb/recurse.h"
#include "shared/dnsquery.h"
#include "shared/measure/prober.h"
#include "dnslb/table.h"
#include "shared/daemon.h"
#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/tls.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/glb/dnslb.conf"

typedef struct dnslb {
    const char *conf_file;
    lb_conf *conf;            /* in force; the prober points into it */
    lb_conf *local;           /* with DNS-Bs: the file's configuration, conf being the effective one */
    lb_mapclient *map;        /* NULL without a dnsb: section */
    lb_proxy *proxy;          /* the cache engine driven (proxy: section) */
    lb_recurse *rec;          /* mode combined: the clients' recursive resolver */
    lb_agents *agents;        /* mode combined with agents: their measurements per client */
    _Atomic(void *) table;    /* lb_table *, read by the answering threads under QSBR */
    glb_qsbr *qsbr;
    lb_table_pub pub;         /* the prober's rankings into table */
    glb_server *server;
    lb_prober *prober;
    glb_control *control;     /* dnslb-control; NULL when the configuration has no certificates */
    SSL_CTX *control_tls;     /* its certificates; NULL: plain (control-use-cert: no) */
    glb_metrics_http *metrics; /* /metrics; NULL without metrics: */
    lb_ctl ctl;
    lb_stats *stats;          /* one per answering thread */
    unsigned threads;
    int use_syslog;           /* as decided at start: reloads keep it */
    int applying;             /* inside apply_conf: the table is ahead of d->conf */
    struct event_base *base;
} dnslb;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* cheap: read on every query */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t handle(void *arg, const glb_request *req)
{
    dnslb *d = arg;
    const lb_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    return lb_answer(t, req->pkt, req->len, req->tcp, mono_now(), req->out, req->outcap, &d->stats[req->worker]);
}

/* mode combined: the services' names as always; every other name, for a
 * client in the access list that asks for recursion, by the resolver.
 * Everything else gets what lb_answer gives (REFUSED for other names). */
static size_t handle_combined(void *arg, const glb_request *req)
{
    dnslb *d = arg;
    const lb_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    glb_query q;
    if (glb_query_parse(req->pkt, req->len, &q) == GLB_PARSE_OK && !lb_answer_serves(t, &q) &&
        (q.flags & 0x0100) /* RD */ && q.qclass == GLB_CLASS_IN && q.qtype != GLB_TYPE_AXFR &&
        q.qtype != GLB_TYPE_IXFR && lb_recurse_allowed(d->rec, req->from)) {
        d->stats[req->worker].n[LB_ST_RECURSION]++;
        return lb_recurse_query(d->rec, req, &q);
    }
    /* The services' names: ranked by the client's agent when one measures for it. */
    const lb_table *at = lb_agents_table(d->agents, req->from);
    return lb_answer(at ? at : t, req->pkt, req->len, req->tcp, mono_now(), req->out, req->outcap,
                     &d->stats[req->worker]);
}

/* The recursion's hook (lb_rec_lbfn): the answer of the client's agent's
 * table to (name, qtype), when an agent measures for the client and name
 * is a service's; 0 otherwise (the box's own answer, which the recursion
 * got from this box, stands). */
static size_t lb_for_client(void *arg, const glb_addr *client, const uint8_t *name, uint16_t qtype, uint8_t *out,
                            size_t cap)
{
    dnslb *d = arg;
    const lb_table *t = lb_agents_table(d->agents, client);
    uint8_t q[GLB_DNS_HDRLEN + GLB_DNAME_MAX + 4] = {0, 0, 0, 0, 0, 1};
    size_t nl = glb_dname_len(name);
    if (!t || nl > GLB_DNAME_MAX)
        return 0;
    memcpy(q + GLB_DNS_HDRLEN, name, nl);
    q[GLB_DNS_HDRLEN + nl] = (uint8_t)(qtype >> 8);
    q[GLB_DNS_HDRLEN + nl + 1] = (uint8_t)qtype;
    q[GLB_DNS_HDRLEN + nl + 3] = GLB_CLASS_IN;
    lb_stats scratch; /* not counted as queries: the recursion's are */
    size_t n = lb_answer(t, q, GLB_DNS_HDRLEN + nl + 4, 1, mono_now(), out, cap, &scratch);
    /* only an authoritative answer with records (an apex A/AAAA) replaces */
    if (n < GLB_DNS_HDRLEN || !(out[2] & 0x04) || (out[3] & 0x0F) != GLB_RCODE_NOERROR || (out[6] | out[7]) == 0)
        return 0;
    return n;
}

/* Whether two recursion: sections say the same. */
static int recursion_same(const lb_recurse_conf *a, const lb_recurse_conf *b)
{
    if (a->nallow != b->nallow || a->noptions != b->noptions || a->max_pending != b->max_pending ||
        strcmp(a->root_hints, b->root_hints) != 0 || strcmp(a->trust_anchor, b->trust_anchor) != 0 ||
        !glb_addrs_same(a->forward, a->nforward, b->forward, b->nforward) ||
        (a->nallow && memcmp(a->allow, b->allow, a->nallow * sizeof(*a->allow)) != 0))
        return 0;
    for (size_t i = 0; i < a->noptions; i++)
        if (strcmp(a->options[i], b->options[i]) != 0)
            return 0;
    return 1;
}

/* Puts c in force as a reload does (the prober, logging, the id): c becomes
 * d->conf. 0, or -1 with c freed and the previous configuration in force. */
static int apply_conf(dnslb *d, lb_conf *c, const char *what)
{
    char err[1024];
    d->applying = 1;
    int rc = lb_table_configure(&d->pub, d->prober, c, err, sizeof(err));
    d->applying = 0;
    if (rc != 0) {
        log_err("%s refused, still serving the previous configuration: %s: %s", what, d->conf_file, err);
        lb_conf_free(c);
        return -1;
    }
    const lb_conf *o = d->conf;
    if (!glb_addrs_same(c->listen, c->nlisten, o->listen, o->nlisten) ||
        c->workers != o->workers || memcmp(&c->control, &o->control, sizeof(c->control)) != 0 ||
        c->control_mode != o->control_mode ||
        strcmp(c->username, o->username) != 0 || strcmp(c->pidfile, o->pidfile) != 0 ||
        c->use_syslog != o->use_syslog || c->tcp_idle_ms != o->tcp_idle_ms || c->tcp_max_conns != o->tcp_max_conns ||
        c->tcp_msg_ms != o->tcp_msg_ms || c->tcp_per_source != o->tcp_per_source ||
        c->rrl_rate != o->rrl_rate || c->rrl_slip != o->rrl_slip || c->rrl_v4_prefix != o->rrl_v4_prefix ||
        c->rrl_v6_prefix != o->rrl_v6_prefix ||
        !glb_addrs_same(c->resolver.addrs, c->resolver.naddrs, o->resolver.addrs, o->resolver.naddrs) ||
        strcmp(c->resolver.trust_anchor, o->resolver.trust_anchor) != 0)
        log_warn("%s: changes to listen, workers, control, username, pidfile, use-syslog, tcp-*, rrl-* and "
                 "resolver take effect at the next restart", what);
    if (c->combined != o->combined || !recursion_same(&c->recursion, &o->recursion))
        log_warn("%s: changes to mode and recursion take effect at the next restart", what);
    if (c->has_metrics != o->has_metrics || memcmp(&c->metrics, &o->metrics, sizeof(c->metrics)) != 0)
        log_warn("%s: a change to metrics takes effect at the next restart", what);
    if (d->metrics && glb_metrics_http_set_allow(d->metrics, c->metrics_allow, c->nmetrics_allow) != 0)
        log_err("%s: metrics-allow: out of memory, the previous list stays", what);
    glb_log_init("dnslb", d->use_syslog, (int)c->verbosity);
    snprintf(d->ctl.id, sizeof(d->ctl.id), "%s", c->id);
    lb_conf_free(d->conf);
    d->conf = c;
    lb_proxy_configure(d->proxy, c);
    lb_proxy_update(d->proxy, atomic_load(&d->table), c);
    if (d->agents)
        lb_agents_configure(d->agents, c);
    return 0;
}

/* A reload went through: renewed control certificates and control-allow
 * for the next connections (takes ctx; NULL: nothing to renew). */
static void control_renew(dnslb *d, SSL_CTX *ctx, const lb_conf *c)
{
    if (!ctx)
        return;
    glb_control_set_tls(d->control, ctx);
    SSL_CTX_free(d->control_tls);
    d->control_tls = ctx;
    glb_ctlconf_apply_allow(d->control, &c->control_allow, ctx);
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnslb *d = arg;
    char err[1024];
    lb_conf *c = lb_conf_load(d->conf_file, err, sizeof(err));
    if (!c) {
        log_err("reload refused, still serving the previous configuration: %s", err);
        return;
    }
    /* Files that may not load before any part changes: the map client's
     * certificates are loaded first in lb_mapclient_reconfigure. */
    lb_measure_conf mc = lb_conf_measure(c);
    /* The control certificates too (a channel started with TLS keeps it). */
    SSL_CTX *ctl = NULL;
    if (lb_prober_check_tls(d->prober, &mc, err, sizeof(err)) != 0 ||
        (d->control_tls && c->control_mode == LB_CONTROL_TLS && !(ctl = lb_control_ctx(c, err, sizeof(err))))) {
        log_err("reload refused, still serving the previous configuration: %s: %s", d->conf_file, err);
        lb_conf_free(c);
        return;
    }
    if (!d->map) {
        if (c->map.nservers)
            log_warn("reload: a new dnsb: section takes effect at the next restart");
        if (apply_conf(d, c, "reload") == 0) {
            log_notice("reloaded %s: %zu services", d->conf_file, c->nservices);
            control_renew(d, ctl, d->conf);
        }
        else
            SSL_CTX_free(ctl);
        return;
    }
    /* With DNS-Bs: the map client first (the servers decide which received
     * services remain), then the effective configuration, as a reload. */
    if (c->map.nservers == 0)
        log_warn("reload: removing the dnsb: section takes effect at the next restart");
    else if (lb_mapclient_reconfigure(d->map, c, err, sizeof(err)) != 0) {
        log_err("reload refused, still serving the previous configuration: %s: %s", d->conf_file, err);
        SSL_CTX_free(ctl);
        lb_conf_free(c);
        return;
    }
    lb_conf *eff = lb_mapclient_effective(d->map, c, err, sizeof(err));
    if (!eff) {
        log_err("reload refused, still serving the previous configuration: %s", err);
        SSL_CTX_free(ctl);
        lb_conf_free(c);
        return;
    }
    if (apply_conf(d, eff, "reload") != 0) {
        SSL_CTX_free(ctl);
        lb_conf_free(c);
        return;
    }
    lb_conf_free(d->local);
    d->local = c;
    control_renew(d, ctl, c);
    log_notice("reloaded %s: %zu services (%zu in the file)", d->conf_file, eff->nservices, c->nservices);
}

/* The DNS-Bs' services changed: the effective configuration, as a reload. */
static void on_map_change(void *arg)
{
    dnslb *d = arg;
    char err[1024];
    lb_conf *eff = lb_mapclient_effective(d->map, d->local, err, sizeof(err));
    if (!eff) {
        log_err("services from the DNS-Bs not applied: %s", err);
        return;
    }
    if (apply_conf(d, eff, "services from the DNS-Bs") == 0)
        log_notice("services from the DNS-Bs applied: %zu services in force", eff->nservices);
}

/* A new answer table: its orders go to the DNS-Bs (direct mode, RANKING)
 * and to the cache engine (proxy-cache mode). */
static void on_publish(void *arg)
{
    dnslb *d = arg;
    if (!d->applying) /* else apply_conf renders once the configuration is in force */
        lb_proxy_update(d->proxy, atomic_load(&d->table), d->conf);
    if (!d->map)
        return;
    size_t n = lb_prober_services(d->prober), nranked = 0;
    glb_map_ranking_entry *e = calloc(n + 1, sizeof(*e));
    glb_map_ranked *rs = calloc(n * GLB_MAP_MAX_SITES + 1, sizeof(*rs));
    const char **names = calloc(GLB_MAP_MAX_SITES, sizeof(*names));
    double *score = calloc(GLB_MAP_MAX_SITES, sizeof(*score));
    for (size_t i = 0; e && rs && names && score && i < n && i < GLB_MAP_MAX_SERVICES; i++) {
        size_t share = 1;
        glb_map_ranked *r = rs + i * GLB_MAP_MAX_SITES;
        size_t k = lb_prober_order(d->prober, i, &e[i].service, names, score, GLB_MAP_MAX_SITES, &share);
        for (size_t j = 0; j < k; j++) {
            r[j].site = names[j];
            r[j].score = isnan(score[j]) || score[j] < 0 ? GLB_MAP_SCORE_NONE
                         : score[j] * 1000 >= GLB_MAP_SCORE_NONE ? GLB_MAP_SCORE_NONE - 1
                                                                  : (uint32_t)(score[j] * 1000);
        }
        e[i].sites = r; /* none: this DNS-LB has no order for it (fail-open) */
        e[i].nsites = k;
        e[i].share = (uint16_t)(share < 1 ? 1 : share > k && k ? k : share);
        nranked++;
    }
    if (e && rs && names && score) {
        glb_map_ranking m = {.entries = e, .nentries = nranked};
        lb_mapclient_ranking(d->map, &m);
    }
    free(e);
    free(rs);
    free(names);
    free(score);
}

static void on_usr1(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnslb *d = arg;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    for (const glb_control_cmd *c = lb_control_cmds; c->name; c++)
        if (strcmp(c->name, "stats") == 0)
            c->fn(&d->ctl, "", b, NULL);
    /* one line, like dnsb's SIGUSR1, without the per-site lines */
    size_t n = evbuffer_get_length(b);
    char *s = (char *)evbuffer_pullup(b, -1);
    const char *sites = n ? memmem(s, n, "\nsite.", 6) : NULL;
    if (sites)
        n = (size_t)(sites - s) + 1;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\n')
            s[i] = ' ';
    log_notice("stats: %.*s", (int)(n ? n - 1 : 0), s);
    evbuffer_free(b);
}

static void stop(void *arg)
{
    event_base_loopbreak(((dnslb *)arg)->base);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnslb *d = arg;
    static int stopping;
    log_notice("exiting on signal");
    if (d->map && !stopping++) { /* BYE to the DNS-Bs first; a second signal does not wait */
        lb_mapclient_shutdown(d->map, stop, d);
        return;
    }
    stop(d);
}

int main(int argc, char **argv)
{
    dnslb d;
    memset(&d, 0, sizeof(d));
    glb_daemon_opts opts;
    int rc_opts = glb_daemon_options(argc, argv, "dnslb", PACKAGE_VERSION, DEFAULT_CONF, lb_conf_keys, &opts);
    if (rc_opts >= 0)
        return rc_opts;
    d.conf_file = opts.conf_file;
    int foreground = opts.foreground, check_only = opts.check_only;
    glb_log_init("dnslb", 0, GLB_LOG_INFO);
    char err[1024];
    d.conf = lb_conf_load(d.conf_file, err, sizeof(err));
    if (!d.conf) {
        fprintf(stderr, "dnslb: %s\n", err);
        return 1;
    }
    const lb_conf *cf = d.conf;
    if (cf->map.nservers > 0 && lb_mapclient_check(cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnslb: %s: %s\n", d.conf_file, err);
        lb_conf_free(d.conf);
        return 1;
    }
    /* The control certificates while the keys can still be read (and for -t). */
    if (cf->control_mode == LB_CONTROL_TLS && !(d.control_tls = lb_control_ctx(cf, err, sizeof(err)))) {
        fprintf(stderr, "dnslb: %s: %s\n", d.conf_file, err);
        lb_conf_free(d.conf);
        return 1;
    }
    if (check_only) {
        printf("%s: ok (%zu services)\n", d.conf_file, cf->nservices);
        SSL_CTX_free(d.control_tls);
        lb_conf_free(d.conf);
        return 0;
    }
    glb_server_cfg scfg = {cf->listen, cf->nlisten, cf->workers, cf->tcp_idle_ms, cf->tcp_max_conns,
                           cf->tcp_msg_ms, cf->tcp_per_source, NULL, cf->combined ? handle_combined : handle, &d,
                           cf->rrl_rate, cf->rrl_slip, cf->rrl_v4_prefix, cf->rrl_v6_prefix};
    /* Each TCP client needs a descriptor; past the limit accepting pauses. */
    unsigned others = GLB_FD_RESERVE + cf->workers * 3 * (unsigned)cf->nlisten + GLB_CONTROL_MAX_CONNS +
                      (cf->has_metrics ? 2 * GLB_METRICS_MAX_OPEN + 2 : 0) + (unsigned)lb_agents_max_sessions(cf);
    scfg.tcp_max_conns = glb_fd_budget(cf->workers * cf->tcp_max_conns, others, "tcp-max-connections") / cf->workers;
    if (scfg.tcp_max_conns == 0)
        scfg.tcp_max_conns = 1;
    d.threads = glb_server_threads(&scfg);
    d.qsbr = scfg.qsbr = glb_qsbr_new(d.threads);
    d.stats = aligned_alloc(64, sizeof(*d.stats) * d.threads);
    if (!d.qsbr || !d.stats) {
        fprintf(stderr, "dnslb: out of memory\n");
        return 1;
    }
    memset(d.stats, 0, sizeof(*d.stats) * d.threads);
    d.server = glb_server_new(&scfg, err, sizeof(err));
    if (!d.server) {
        fprintf(stderr, "dnslb: %s\n", err);
        return 1;
    }
    char pidfile[sizeof(cf->pidfile)];
    snprintf(pidfile, sizeof(pidfile), "%s", cf->pidfile);
    if (glb_daemon_detach(foreground, pidfile, cf->username, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnslb: %s: %s\n", d.conf_file, err);
        log_err("%s: %s", d.conf_file, err);
        return 1;
    }
    d.use_syslog = cf->use_syslog || !foreground;
    glb_log_init("dnslb", d.use_syslog, (int)cf->verbosity);
    signal(SIGPIPE, SIG_IGN);
    /* After detaching (the event base, probes and resolver live in this
     * process) and before dropping privileges (raw ICMP sockets need them). */
    d.base = event_base_new();
    if (!d.base) {
        log_err("cannot create the event loop");
        return 1;
    }
    if (cf->map.nservers > 0) {
        /* Before the prober: the services file read here makes the first
         * published table the effective one, so a restarted box serves
         * without a DNS-B. Root still: the TLS key may be readable by root only. */
        d.map = lb_mapclient_new(d.base, cf, NULL, on_map_change, &d, err, sizeof(err));
        lb_conf *eff = d.map ? lb_mapclient_effective(d.map, cf, err, sizeof(err)) : NULL;
        if (!eff) {
            log_err("%s: %s", d.conf_file, err);
            if (foreground)
                fprintf(stderr, "dnslb: %s: %s\n", d.conf_file, err);
            return 1;
        }
        d.local = d.conf;
        d.conf = eff;
    }
    d.pub = (lb_table_pub){d.qsbr, &d.table, NULL};
    lb_prober_sink sink = lb_table_sink(&d.pub);
    d.prober = lb_prober_new(d.base, &sink, err, sizeof(err));
    d.proxy = lb_proxy_new(d.base);
    if (d.proxy)
        lb_proxy_configure(d.proxy, d.conf);
    if (d.prober && d.proxy)
        lb_prober_on_publish(d.prober, on_publish, &d);
    if (!d.prober || !d.proxy || lb_table_configure(&d.pub, d.prober, d.conf, err, sizeof(err)) != 0) {
        log_err("%s: %s", d.conf_file, err);
        return 1;
    }
    if (cf->combined && !(d.rec = lb_recurse_new(d.base, &cf->recursion, err, sizeof(err)))) {
        log_err("%s: %s", d.conf_file, err);
        return 1;
    }
    if (cf->agents.enabled) { /* binds, and reads the key, while still root */
        if (!(d.agents = lb_agents_new(d.base, d.conf, d.qsbr, err, sizeof(err)))) {
            log_err("%s: %s", d.conf_file, err);
            return 1;
        }
        lb_agents_configure(d.agents, d.conf);
        lb_recurse_set_lb(d.rec, lb_for_client, &d);
    }
    if (glb_drop_privileges(cf->username, err, sizeof(err)) != 0) {
        log_err("%s: %s", d.conf_file, err);
        return 1;
    }
    d.ctl = (lb_ctl){d.prober, d.stats, d.threads, d.server, "", (double)time(NULL), d.map, d.proxy, NULL, NULL, d.rec, d.agents};
    if (d.map)
        lb_mapclient_start(d.map);
    snprintf(d.ctl.id, sizeof(d.ctl.id), "%s", cf->id);
    if (lb_control_open(d.base, cf, d.control_tls, &d.ctl, &d.control, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return 1;
    }
    if (cf->has_metrics) {
        d.metrics = glb_metrics_http_new(d.base, &cf->metrics, cf->metrics_allow, cf->nmetrics_allow, lb_metrics,
                                         &d.ctl, err, sizeof(err));
        if (!d.metrics) {
            log_err("metrics: %s", err);
            return 1;
        }
        d.ctl.metrics = d.metrics;
        glb_metrics_http_set_pages(d.metrics, lb_status_http, &d.ctl); /* the status page, same ACL */
    }
    struct event *ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    struct event *ev_term = evsignal_new(d.base, SIGTERM, on_term, &d);
    struct event *ev_int = evsignal_new(d.base, SIGINT, on_term, &d);
    struct event *ev_usr1 = evsignal_new(d.base, SIGUSR1, on_usr1, &d);
    if (!ev_hup || !ev_term || !ev_int || !ev_usr1 || event_add(ev_hup, NULL) || event_add(ev_term, NULL) ||
        event_add(ev_int, NULL) || event_add(ev_usr1, NULL)) {
        log_err("cannot set up signal handling");
        return 1;
    }
    if (d.agents && lb_agents_start(d.agents, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return 1;
    }
    if (glb_server_start(d.server) != 0) {
        log_err("cannot start the workers");
        return 1;
    }
    log_notice("dnslb %s (%s) serving %zu services with %u workers", PACKAGE_VERSION, cf->id, d.conf->nservices,
               cf->workers);
    event_base_dispatch(d.base);

    glb_server_stop(d.server);
    lb_recurse_free(d.rec); /* its queries in flight end before the server's sockets */
    lb_agents_free(d.agents); /* the answering threads are gone */
    glb_server_free(d.server);
    lb_prober_free(d.prober); /* answers pending control requests first */
    glb_control_free(d.control);
    SSL_CTX_free(d.control_tls);
    glb_metrics_http_free(d.metrics);
    lb_mapclient_free(d.map);
    lb_proxy_free(d.proxy);
    lb_table_free(atomic_load(&d.table));
    if (pidfile[0])
        glb_pidfile_remove(pidfile);
    event_free(ev_hup);
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_usr1);
    event_base_free(d.base);
    lb_conf_free(d.conf);
    lb_conf_free(d.local);
    glb_qsbr_free(d.qsbr);
    free(d.stats);
    return 0;
}
