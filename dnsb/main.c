/* dnsb: the backbone DNS server. Thin daemon around dnsb/ and shared/.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnsb/answer.h"
#include "dnsb/conf.h"
#include "dnsb/control.h"
#include "dnsb/status.h"
#include "dnsb/mapserver.h"
#include "dnsb/store.h"
#include "dnsb/storecheck.h"
#include "dnsb/table.h"
#include "shared/daemon.h"
#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/metrics_http.h"
#include "shared/tls.h"

#define MAIN_NICE 5 /* the main thread's nice value, with a map server */

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/glb/dnsb.conf"

typedef struct dnsb {
    const char *conf_file;
    _Atomic(void *) table;  /* dnsb_table *, read by workers under QSBR */
    dnsb_registry *reg;     /* who serves which resolvers; its map is read by workers */
    glb_qsbr *qsbr;
    glb_server *server;
    dnsb_stats *stats;      /* one per answering thread */
    unsigned workers;       /* answering threads (glb_server_threads) */
    int use_syslog;         /* as decided at start: reloads keep it */
    struct event_base *base;
    glb_control *control;   /* dnsb-control, over TLS; NULL without control: */
    SSL_CTX *control_tls;
    glb_metrics_http *metrics; /* /metrics; NULL without metrics: */
    dnsb_ctl ctl;
    dnsb_mapserver *ms;     /* NULL without map: listen */
    dnsb_store *store;      /* NULL without database */
    unsigned fd_others;     /* descriptors needed besides the map's (listeners, DNS TCP, control) */
} dnsb;

static size_t handle(void *arg, const glb_request *req)
{
    dnsb *d = arg;
    const dnsb_table *t = atomic_load_explicit(&d->table, memory_order_acquire);
    const dnsb_map *m = atomic_load_explicit(dnsb_registry_slot(d->reg), memory_order_acquire);
    for (size_t i = 0; i < t->conf->nstandby_listen; i++)
        if (glb_addrport_equal(req->local, &t->conf->standby_listen[i]))
            return dnsb_answer_standby(t, m, req->pkt, req->len, req->from, req->tcp, req->out, req->outcap,
                                       &d->stats[req->worker]);
    return dnsb_answer(t, m, req->pkt, req->len, req->from, req->tcp, req->out, req->outcap,
                       &d->stats[req->worker]);
}

static dnsb_table *load(const char *file, char *err, size_t errlen)
{
    dnsb_conf *c = dnsb_conf_load(file, err, errlen);
    if (!c)
        return NULL;
    char why[512];
    dnsb_table *t = dnsb_table_build(c, (uint32_t)time(NULL), why, sizeof(why));
    if (!t)
        snprintf(err, errlen, "%s: %s", file, why);
    return t;
}

static void log_stats(dnsb *d)
{
    unsigned long long sum[DNSB_ST_COUNT] = {0};
    for (unsigned w = 0; w < d->workers; w++)
        for (int i = 0; i < DNSB_ST_COUNT; i++)
            sum[i] += __atomic_load_n(&d->stats[w].n[i], __ATOMIC_RELAXED);
    char line[1024];
    size_t n = 0;
    for (int i = 0; i < DNSB_ST_COUNT && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s=%llu", i ? " " : "", dnsb_stat_names[i], sum[i]);
    log_notice("stats: %s", line);
}

/* For -t: the map and control certificates load, fit their keys, and name
 * a usable identity. 0, or -1 with err. */
static int check_tls(const dnsb_conf *cf, char *err, size_t errlen)
{
    char e[512], id[64];
    SSL_CTX *ctx;
    if (cf->map.nlisten) {
        if (!(ctx = dnsb_mapserver_tls(cf, id, err, errlen)))
            return -1;
        SSL_CTX_free(ctx);
    }
    if (cf->has_control) {
        if (!(ctx = glb_tls_server_ctx(cf->control_cert, cf->control_key, cf->control_ca, e, sizeof(e)))) {
            snprintf(err, errlen, "control: %s", e);
            return -1;
        }
        SSL_CTX_free(ctx);
    }
    return 0;
}

/* The database file, checked without opening it (dnsb_store_check): 0, or
 * -1 with err when dnsb would not start with it (database-damaged: refuse).
 * A damaged file that move-aside handles is a warning on stderr. */
static int check_database(const dnsb_conf *cf, char *err, size_t errlen)
{
    char path[300], why[512];
    if (!cf->database[0])
        return 0;
    snprintf(path, sizeof(path), "%s/data.mdb", cf->database);
    int fc = dnsb_store_check(path, why, sizeof(why));
    if (fc == DNSB_STORE_FILE_UNREADABLE)
        fprintf(stderr, "dnsb: warning: database '%s' not checked: %s\n", path, why);
    if (fc != DNSB_STORE_FILE_DAMAGED)
        return 0;
    if (cf->database_damaged == DNSB_STORE_REFUSE) {
        snprintf(err, errlen, "database '%s' is damaged: %s; dnsb will not start (database-damaged: refuse)", path,
                 why);
        return -1;
    }
    fprintf(stderr, "dnsb: warning: database '%s' is damaged: %s; dnsb will move it aside and start empty "
                    "(database-damaged: move-aside)\n", path, why);
    return 0;
}

/* A reload refused for err: logged, and in msg for dnsb-control. -1. */
static int refuse(char *msg, size_t msglen, const char *err)
{
    log_err("reload refused, still serving the previous configuration: %s", err);
    snprintf(msg, msglen, "reload refused, still serving the previous configuration: %s", err);
    return -1;
}

/* Rereads the configuration (SIGHUP, dnsb-control reload): 0 with a summary
 * in msg, or -1 with the reason, the previous configuration still serving.
 * The certificates and keys are loaded before anything changes: one that
 * cannot be loaded refuses the whole file, as any other error does. */
static int reload(void *arg, char *msg, size_t msglen)
{
    dnsb *d = arg;
    char err[1024];
    dnsb_table *t = load(d->conf_file, err, sizeof(err));
    if (!t)
        return refuse(msg, msglen, err);
    SSL_CTX *ctl_tls = NULL, *map_tls = NULL;
    char map_id[64] = "", e[512];
    if (d->control && t->conf->has_control &&
        !(ctl_tls = glb_tls_server_ctx(t->conf->control_cert, t->conf->control_key, t->conf->control_ca, e,
                                       sizeof(e)))) {
        snprintf(err, sizeof(err), "%s: control: %s", d->conf_file, e);
        dnsb_table_free(t);
        return refuse(msg, msglen, err);
    }
    if (d->ms && t->conf->map.nlisten && !(map_tls = dnsb_mapserver_tls(t->conf, map_id, e, sizeof(e)))) {
        snprintf(err, sizeof(err), "%s: %s", d->conf_file, e);
        SSL_CTX_free(ctl_tls);
        dnsb_table_free(t);
        return refuse(msg, msglen, err);
    }
    const dnsb_table *old = atomic_load(&d->table);
    const dnsb_conf *n = t->conf, *o = old->conf;
    if (!glb_addrs_same(n->listen, n->nlisten, o->listen, o->nlisten) ||
        n->workers != o->workers || n->tcp_idle_ms != o->tcp_idle_ms || n->tcp_max_conns != o->tcp_max_conns ||
        n->tcp_msg_ms != o->tcp_msg_ms || n->tcp_per_source != o->tcp_per_source ||
        n->rrl_rate != o->rrl_rate || n->rrl_slip != o->rrl_slip || n->rrl_v4_prefix != o->rrl_v4_prefix ||
        n->rrl_v6_prefix != o->rrl_v6_prefix ||
        strcmp(n->username, o->username) != 0 || strcmp(n->pidfile, o->pidfile) != 0 ||
        n->use_syslog != o->use_syslog)
        log_warn("reload: changes to listen, workers, tcp-*, rrl-*, username, pidfile and use-syslog "
                 "take effect at the next restart");
    if (n->has_control != o->has_control || memcmp(&n->control, &o->control, sizeof(n->control)) != 0)
        log_warn("reload: a change to control takes effect at the next restart");
    if (n->has_metrics != o->has_metrics || memcmp(&n->metrics, &o->metrics, sizeof(n->metrics)) != 0)
        log_warn("reload: a change to metrics takes effect at the next restart");
    if (d->metrics && glb_metrics_http_set_allow(d->metrics, n->metrics_allow, n->nmetrics_allow) != 0)
        log_err("reload: metrics-allow: out of memory, the previous list stays");
    if (ctl_tls) { /* renewed certificates: for the next connections */
        glb_control_set_tls(d->control, ctl_tls);
        SSL_CTX_free(d->control_tls);
        d->control_tls = ctl_tls;
        glb_ctlconf_apply_allow(d->control, &n->control_allow, ctl_tls);
    }
    glb_log_init("dnsb", d->use_syslog, (int)t->conf->verbosity);
    if (dnsb_table_static_lbs(t->conf, d->reg, err, sizeof(err)) != 0)
        log_err("reload: static lb sections: %s", err);
    if (d->ms) { /* before the old configuration goes */
        dnsb_mapserver_reload(d->ms, t->conf, map_tls, map_id);
        dnsb_mapserver_fd_cap(d->ms, glb_fd_budget(n->map.max_connections, d->fd_others, "map: max-connections"));
    } else if (n->map.nlisten)
        log_warn("reload: the map: section takes effect at the next restart");
    dnsb_table_free(glb_qsbr_swap(d->qsbr, &d->table, t));
    d->ctl.loaded = (double)time(NULL);
    log_notice("reloaded %s: %zu services, %zu lbs", d->conf_file, t->conf->nservices, t->conf->nlbs);
    snprintf(msg, msglen, "reloaded %s: %zu services, %zu lbs", d->conf_file, t->conf->nservices, t->conf->nlbs);
    return 0;
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    char msg[1536];
    reload(arg, msg, sizeof(msg));
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnsb *d = arg;
    log_notice("exiting on signal");
    event_base_loopbreak(d->base);
}

static void on_usr1(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    log_stats(arg);
}

int main(int argc, char **argv)
{
    dnsb d;
    memset(&d, 0, sizeof(d));
    glb_daemon_opts opts;
    int rc_opts = glb_daemon_options(argc, argv, "dnsb", PACKAGE_VERSION, DEFAULT_CONF, dnsb_conf_keys, &opts);
    if (rc_opts >= 0)
        return rc_opts;
    d.conf_file = opts.conf_file;
    int foreground = opts.foreground, check_only = opts.check_only;
    glb_log_init("dnsb", 0, GLB_LOG_INFO);
    char err[1024];
    dnsb_table *t = load(d.conf_file, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "dnsb: %s\n", err);
        return 1;
    }
    if (check_only) {
        int rc = check_tls(t->conf, err, sizeof(err));
        if (rc == 0)
            rc = check_database(t->conf, err, sizeof(err));
        if (rc == 0)
            printf("%s: ok (%zu services, %zu lbs)\n", d.conf_file, t->conf->nservices, t->conf->nlbs);
        else
            fprintf(stderr, "dnsb: %s: %s\n", d.conf_file, err);
        dnsb_table_free(t);
        return rc == 0 ? 0 : 1;
    }
    /* A database that would be refused: said on the terminal, before anything starts. */
    if (check_database(t->conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnsb: %s\n", err);
        dnsb_table_free(t);
        return 1;
    }
    const dnsb_conf *cf = t->conf;
    d.use_syslog = cf->use_syslog || !foreground;
    glb_log_init("dnsb", d.use_syslog, (int)cf->verbosity);
    atomic_store(&d.table, t);
    glb_server_cfg scfg = {cf->listen, cf->nlisten, cf->workers, cf->tcp_idle_ms, cf->tcp_max_conns,
                           cf->tcp_msg_ms, cf->tcp_per_source,
                           NULL, handle, &d,
                           cf->rrl_rate, cf->rrl_slip, cf->rrl_v4_prefix, cf->rrl_v6_prefix};
    d.workers = glb_server_threads(&scfg); /* every thread that answers has its reader id and counters */
    d.qsbr = scfg.qsbr = glb_qsbr_new(d.workers);
    d.stats = aligned_alloc(64, sizeof(*d.stats) * d.workers);
    if (!d.qsbr || !d.stats) {
        fprintf(stderr, "dnsb: out of memory\n");
        return 1;
    }
    memset(d.stats, 0, sizeof(*d.stats) * d.workers);
    d.reg = dnsb_registry_new(d.qsbr);
    if (!d.reg || dnsb_table_static_lbs(cf, d.reg, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnsb: %s\n", d.reg ? err : "out of memory");
        return 1;
    }
    d.server = glb_server_new(&scfg, err, sizeof(err));
    if (!d.server) {
        fprintf(stderr, "dnsb: %s\n", err);
        return 1;
    }
    /* The map listeners are bound and the certificates read while we may. */
    if (cf->map.nlisten && !(d.ms = dnsb_mapserver_new(cf, d.reg, err, sizeof(err)))) {
        fprintf(stderr, "dnsb: %s\n", err);
        return 1;
    }
    /* Every map connection needs a descriptor: past the limit, accepting
     * fails and the clients wait; better fewer, refused cleanly. */
    d.fd_others = GLB_FD_RESERVE + cf->workers * (cf->tcp_max_conns + 3 * (unsigned)cf->nlisten) +
                  GLB_CONTROL_MAX_CONNS + 2 * (unsigned)cf->map.nlisten + (cf->has_metrics ? 2 * GLB_METRICS_MAX_OPEN + 2 : 0);
    unsigned fit = glb_fd_budget(d.ms ? cf->map.max_connections : 0, d.fd_others, "map: max-connections");
    if (d.ms)
        dnsb_mapserver_fd_cap(d.ms, fit);
    if (cf->database[0] && dnsb_store_prepare(cf->database, cf->username, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnsb: %s\n", err);
        return 1;
    }
    /* The control certificates while the keys can still be read. */
    if (cf->has_control &&
        !(d.control_tls = glb_tls_server_ctx(cf->control_cert, cf->control_key, cf->control_ca, err, sizeof(err)))) {
        fprintf(stderr, "dnsb: control: %s\n", err);
        return 1;
    }
    char pidfile[sizeof(cf->pidfile)];
    snprintf(pidfile, sizeof(pidfile), "%s", cf->pidfile); /* the one to remove, whatever reloads say */
    if (glb_daemon_detach(foreground, pidfile, cf->username, err, sizeof(err)) != 0 ||
        glb_drop_privileges(cf->username, err, sizeof(err)) != 0) {
        fprintf(stderr, "dnsb: %s: %s\n", d.conf_file, err);
        log_err("%s: %s", d.conf_file, err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    d.base = event_base_new();
    struct event *ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    struct event *ev_term = evsignal_new(d.base, SIGTERM, on_term, &d);
    struct event *ev_int = evsignal_new(d.base, SIGINT, on_term, &d);
    struct event *ev_usr1 = evsignal_new(d.base, SIGUSR1, on_usr1, &d);
    if (!d.base || !ev_hup || !ev_term || !ev_int || !ev_usr1 || event_add(ev_hup, NULL) ||
        event_add(ev_term, NULL) || event_add(ev_int, NULL) || event_add(ev_usr1, NULL)) {
        log_err("cannot set up the event loop");
        return 1;
    }
    d.ctl = (dnsb_ctl){&d.table, d.reg, d.server, NULL, NULL, d.stats, d.workers, cf->workers,
                       (double)time(NULL), (double)time(NULL), d.conf_file, reload, &d, NULL, NULL};
    /* Registrations from the database before the first query is answered. */
    if (cf->database[0] && !(d.store = dnsb_store_open(cf->database, cf->database_damaged, err, sizeof(err)))) {
        log_err("%s", err);
        return 1;
    }
    if (d.store && dnsb_store_attach(d.store, d.base) != 0) {
        log_err("database: cannot start the commit timer");
        return 1;
    }
    if (d.ms && dnsb_mapserver_start(d.ms, d.base, d.store, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return 1;
    }
    d.ctl.ms = d.ms;
    d.ctl.store = d.store;
    if (cf->has_control) {
        d.control = glb_control_new(d.base, &cf->control, d.control_tls, dnsb_control_cmds, &d.ctl, err, sizeof(err));
        if (!d.control) {
            log_err("%s", err);
            return 1;
        }
        d.ctl.control = d.control;
        glb_ctlconf_apply_allow(d.control, &cf->control_allow, d.control_tls);
    }
    if (cf->has_metrics) {
        d.metrics = glb_metrics_http_new(d.base, &cf->metrics, cf->metrics_allow, cf->nmetrics_allow, dnsb_metrics,
                                         &d.ctl, err, sizeof(err));
        if (!d.metrics) {
            log_err("metrics: %s", err);
            return 1;
        }
        d.ctl.metrics = d.metrics;
        glb_metrics_http_set_pages(d.metrics, dnsb_status_http, &d.ctl); /* the status page, same ACL */
    }
    if (glb_server_start(d.server) != 0) {
        log_err("cannot start the workers");
        return 1;
    }
    /* This thread does the map protocol's TLS and the registry's writes:
     * when CPUs are short, answering comes first (Linux: nice is per thread;
     * the answering threads, started above, keep theirs). */
    if (d.ms && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), MAIN_NICE) != 0)
        log_debug("cannot lower the main thread's priority: %s", strerror(errno));
    log_notice("dnsb %s serving %zu services, %zu lbs with %u workers", PACKAGE_VERSION, cf->nservices,
               cf->nlbs, cf->workers);
    event_base_dispatch(d.base);

    dnsb_mapserver_stop(d.ms, 1000);
    glb_server_free(d.server);
    dnsb_mapserver_free(d.ms);
    dnsb_store_close(d.store);
    glb_control_free(d.control);
    glb_metrics_http_free(d.metrics);
    SSL_CTX_free(d.control_tls);
    log_stats(&d);
    t = atomic_load(&d.table);
    if (pidfile[0])
        glb_pidfile_remove(pidfile);
    event_free(ev_hup);
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_usr1);
    event_base_free(d.base);
    dnsb_table_free(t);
    dnsb_registry_free(d.reg);
    glb_qsbr_free(d.qsbr);
    free(d.stats);
    return 0;
}
