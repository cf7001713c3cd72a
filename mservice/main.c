/* mservice: a measurement agent near a POP (DESIGN §7). It registers its
 * client prefixes with the combined box(es) over the map protocol (role
 * mservice), measures the sites of the services the boxes send with the
 * measurement library, and pushes METRICS every metrics-interval, at once
 * when a site's state changes, and when a box asks. A thin daemon around
 * libdnslb's map client and configuration and libglbmeasure's prober.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dnslb/answer.h"
#include "dnslb/conf.h"
#include "dnslb/control.h"
#include "dnslb/mapclient.h"
#include "dnslb/table.h"
#include "shared/control.h"
#include "shared/daemon.h"
#include "shared/log.h"
#include "shared/measure/prober.h"
#include "shared/qsbr.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/glb/mservice.conf"

typedef struct agent {
    const char *conf_file;
    lb_conf *local;           /* the file's configuration */
    lb_conf *conf;            /* in force: the file's settings, the boxes' services */
    lb_mapclient *map;
    lb_prober *prober;
    _Atomic(void *) table;    /* the prober's rankings: unused but for the control's status */
    glb_qsbr *qsbr;
    lb_table_pub pub;
    glb_control *control;     /* NULL without certificates (lb_control_open) */
    SSL_CTX *control_tls;     /* its certificates; NULL: plain or none */
    lb_ctl ctl;
    lb_stats stats[1];        /* no DNS: the control's counters stay 0 */
    struct event *t_push;     /* every metrics-interval */
    char *states;             /* per site, the state last pushed: a change pushes at once */
    size_t nstates;
    int use_syslog;
    int stopping;             /* the prober is being freed: its callbacks push nothing */
    struct event_base *base;
} agent;

/* A site's state (enum lb_state) as METRICS carries it. */
static uint8_t wire_state(int state)
{
    return state == LB_SITE_ALIVE ? GLB_MAP_STATE_UP : state == LB_SITE_DEAD ? GLB_MAP_STATE_DOWN : GLB_MAP_STATE_UNKNOWN;
}

/* The prober's view of every site as METRICS, sent to the boxes. */
static void push_metrics(agent *a, const char *why)
{
    size_t n = 0;
    lb_site_view v;
    while (lb_prober_site_view(a->prober, n, &v) == 0)
        n++;
    if (n == 0)
        return;
    glb_map_metric *m = calloc(n, sizeof(*m));
    char *st = realloc(a->states, n);
    if (!m || !st) {
        free(m);
        log_err("metrics: out of memory");
        return;
    }
    a->states = st;
    a->nstates = n;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    double now_ms = (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6, pnow = lb_prober_now(a->prober);
    size_t k = 0;
    for (size_t i = 0; i < n && k < GLB_MAP_MAX_METRICS; i++) {
        if (lb_prober_site_view(a->prober, i, &v) != 0)
            break;
        glb_map_metric *x = &m[k++];
        x->site = v.site;
        x->service = v.service;
        x->latency = isnan(v.latency_ms) ? 0 : (uint32_t)fmin(v.latency_ms * 1000.0, 4e9);
        x->loss = isnan(v.loss) ? 0 : (uint32_t)fmin(fmax(v.loss, 0) * 1e6, 1e6);
        x->samples = isnan(v.latency_ms) ? 0 : (uint32_t)(v.checks > UINT32_MAX ? UINT32_MAX : v.checks);
        x->time = (uint64_t)(v.last_check > 0 ? now_ms - (pnow - v.last_check) * 1e3 : now_ms);
        x->state = wire_state(v.state);
        st[i] = (char)x->state;
    }
    glb_map_metrics all = {m, k};
    lb_mapclient_metrics(a->map, &all);
    log_debug("metrics: %zu sites pushed (%s)", k, why);
    free(m);
}

/* A new ranking: pushed at once when a site's state changed since the last push. */
static void on_publish(void *arg)
{
    agent *a = arg;
    lb_site_view v;
    size_t n = 0;
    int changed = 0;
    for (; lb_prober_site_view(a->prober, n, &v) == 0; n++) {
        changed |= n >= a->nstates || a->states[n] != (char)wire_state(v.state);
    }
    if (changed || n != a->nstates)
        push_metrics(a, "state change");
}

static void on_push_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent *a = arg;
    push_metrics(a, "interval");
    struct timeval tv = {(time_t)a->conf->map.metrics_interval, 0};
    evtimer_add(a->t_push, &tv);
}

static void checked(void *arg, size_t found)
{
    (void)found;
    agent *a = arg;
    if (!a->stopping)
        push_metrics(a, "asked by a box");
}

/* A box found our data stale: measure now (within on-demand-interval), then push. */
static void on_request(void *arg)
{
    agent *a = arg;
    lb_prober_check_now(a->prober, "*", NULL, checked, a);
}

/* Puts c (effective) in force. 0, or -1 with c freed. */
static int apply(agent *a, lb_conf *c, const char *what)
{
    char err[1024];
    if (lb_table_configure(&a->pub, a->prober, c, err, sizeof(err)) != 0) {
        log_err("%s refused, still measuring the previous services: %s", what, err);
        lb_conf_free(c);
        return -1;
    }
    glb_log_init("mservice", a->use_syslog, (int)c->verbosity);
    lb_conf_free(a->conf);
    a->conf = c;
    struct timeval tv = {(time_t)c->map.metrics_interval, 0};
    evtimer_add(a->t_push, &tv);
    return 0;
}

/* The boxes' services changed. */
static void on_map_change(void *arg)
{
    agent *a = arg;
    char err[1024];
    lb_conf *eff = lb_mapclient_effective(a->map, a->local, err, sizeof(err));
    if (!eff)
        log_err("services from the boxes not applied: %s", err);
    else if (apply(a, eff, "services from the boxes") == 0)
        log_notice("services from the boxes applied: %zu services measured", eff->nservices);
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent *a = arg;
    char err[1024];
    lb_conf *c = lb_conf_load_agent(a->conf_file, err, sizeof(err));
    if (!c || lb_mapclient_reconfigure(a->map, c, err, sizeof(err)) != 0) {
        log_err("reload refused, still running the previous configuration: %s", err);
        lb_conf_free(c);
        return;
    }
    lb_conf *eff = lb_mapclient_effective(a->map, c, err, sizeof(err));
    if (!eff || apply(a, eff, "reload") != 0) {
        if (!eff)
            log_err("reload refused: %s", err);
        lb_conf_free(c);
        return;
    }
    lb_conf_free(a->local);
    a->local = c;
    log_notice("reloaded %s", a->conf_file);
}

static void stop(void *arg)
{
    event_base_loopbreak(((agent *)arg)->base);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent *a = arg;
    static int stopping;
    log_notice("exiting on signal");
    if (!stopping++) { /* BYE to the boxes first; a second signal does not wait */
        lb_mapclient_shutdown(a->map, stop, a);
        return;
    }
    stop(a);
}

int main(int argc, char **argv)
{
    agent a;
    memset(&a, 0, sizeof(a));
    glb_daemon_opts opts;
    int rc = glb_daemon_options(argc, argv, "mservice", PACKAGE_VERSION, DEFAULT_CONF, lb_agent_conf_keys(), &opts);
    if (rc >= 0)
        return rc;
    a.conf_file = opts.conf_file;
    glb_log_init("mservice", 0, GLB_LOG_INFO);
    char err[1024];
    lb_conf *cf = lb_conf_load_agent(a.conf_file, err, sizeof(err));
    if (!cf || lb_mapclient_check(cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "mservice: %s\n", err);
        lb_conf_free(cf);
        return 1;
    }
    if (opts.check_only) {
        printf("%s: ok (%zu boxes)\n", a.conf_file, cf->map.nservers);
        lb_conf_free(cf);
        return 0;
    }
    a.local = cf;
    char pidfile[sizeof(cf->pidfile)];
    snprintf(pidfile, sizeof(pidfile), "%s", cf->pidfile);
    if (glb_daemon_detach(opts.foreground, pidfile, cf->username, err, sizeof(err)) != 0) {
        fprintf(stderr, "mservice: %s: %s\n", a.conf_file, err);
        return 1;
    }
    a.use_syslog = cf->use_syslog || !opts.foreground;
    glb_log_init("mservice", a.use_syslog, (int)cf->verbosity);
    signal(SIGPIPE, SIG_IGN);
    a.base = event_base_new();
    a.qsbr = glb_qsbr_new(1);
    a.t_push = a.base ? evtimer_new(a.base, on_push_timer, &a) : NULL;
    if (!a.base || !a.qsbr || !a.t_push) {
        log_err("out of memory");
        return 1;
    }
    /* Root still: the TLS keys may be readable by root only; raw ICMP too. */
    if (cf->control_mode == LB_CONTROL_TLS && !(a.control_tls = lb_control_ctx(cf, err, sizeof(err)))) {
        log_err("%s: %s", a.conf_file, err);
        return 1;
    }
    a.map = lb_mapclient_new(a.base, cf, NULL, on_map_change, &a, err, sizeof(err));
    lb_conf *eff = a.map ? lb_mapclient_effective(a.map, cf, err, sizeof(err)) : NULL;
    a.pub = (lb_table_pub){a.qsbr, &a.table, NULL};
    lb_prober_sink sink = lb_table_sink(&a.pub);
    a.prober = eff ? lb_prober_new(a.base, &sink, err, sizeof(err)) : NULL;
    if (!a.prober || apply(&a, eff, "start") != 0) {
        log_err("%s: %s", a.conf_file, err);
        return 1;
    }
    eff = NULL;
    lb_prober_on_publish(a.prober, on_publish, &a);
    lb_mapclient_on_request(a.map, on_request);
    if (glb_drop_privileges(cf->username, err, sizeof(err)) != 0) {
        log_err("%s: %s", a.conf_file, err);
        return 1;
    }
    a.ctl = (lb_ctl){a.prober, a.stats, 1, NULL, "", (double)time(NULL), a.map, NULL, NULL, NULL, NULL, NULL};
    snprintf(a.ctl.id, sizeof(a.ctl.id), "%s", cf->id);
    if (lb_control_open(a.base, cf, a.control_tls, &a.ctl, &a.control, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return 1;
    }
    struct event *ev_hup = evsignal_new(a.base, SIGHUP, on_hup, &a);
    struct event *ev_term = evsignal_new(a.base, SIGTERM, on_term, &a);
    struct event *ev_int = evsignal_new(a.base, SIGINT, on_term, &a);
    if (!ev_hup || !ev_term || !ev_int || event_add(ev_hup, NULL) || event_add(ev_term, NULL) ||
        event_add(ev_int, NULL)) {
        log_err("cannot set up signal handling");
        return 1;
    }
    lb_mapclient_start(a.map);
    log_notice("mservice %s (%s) measuring for %zu boxes", PACKAGE_VERSION, cf->id, cf->map.nservers);
    event_base_dispatch(a.base);

    a.stopping = 1;
    lb_prober_free(a.prober);
    glb_control_free(a.control);
    lb_mapclient_free(a.map);
    lb_table_free(atomic_load(&a.table));
    if (pidfile[0])
        glb_pidfile_remove(pidfile);
    event_free(ev_hup);
    event_free(ev_term);
    event_free(ev_int);
    event_free(a.t_push);
    event_base_free(a.base);
    lb_conf_free(a.conf);
    lb_conf_free(a.local);
    glb_qsbr_free(a.qsbr);
    free(a.states);
    if (a.control_tls)
        SSL_CTX_free(a.control_tls);
    return 0;
}
