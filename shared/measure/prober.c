/* The prober: check scheduling, health updates, ranking, publication.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/prober.h"
#include "shared/measure/prober_int.h"
#include "shared/measure/prober_test.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <math.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/measure/health.h"
#include "shared/measure/policy.h"
#include "shared/measure/resolve.h"
#include "shared/clock.h"
#include "shared/measure/geo.h"
#include "shared/log.h"
#include "shared/measure/probe_http.h"
#include "shared/measure/probe_icmp.h"

#define LATE_S 0.25        /* a check starting later than this after its time is late */
#define PUBLISH_MS 100     /* at most this often a new table */


static double rand01_random(void)
{
    return (double)random() / RAND_MAX;
}

static double jitter(const lb_prober *p)
{
    return 0.95 + 0.1 * p->rand01();
}

/* --- probe back ends: the real ones, or a test's (prober_test.h) ------- */

static int icmp_available(const lb_prober *p, int family)
{
    if (p->fake)
        return p->be.icmp_available;
    return strcmp(glb_pinger_mode(p->pinger, family), "unavailable") != 0;
}

static void http_cancel(lb_prober *p, glb_http_check *hc)
{
    if (p->fake)
        p->be.http_cancel(p->be.ctx, hc);
    else
        glb_http_check_cancel(hc);
}

static void ping_cancel(lb_prober *p, uint32_t ping)
{
    if (p->fake)
        p->be.ping_cancel(p->be.ctx, ping);
    else
        glb_ping_cancel(p->pinger, ping);
}

static void arm(struct event *ev, double due, double now)
{
    double d = due > now ? due - now : 0;
    struct timeval tv = {(time_t)d, (suseconds_t)((d - floor(d)) * 1e6)};
    event_add(ev, &tv);
}

/* --- publication ------------------------------------------------------- */

static void free_ranks(svc_rank *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].order);
    free(r);
}

/* How old a site's data may get before a query asks for fresh checks:
 * stale-after when set, else three of its own check intervals. */
static double site_stale_after(const lb_prober *p, const psite *s)
{
    const lb_probe_conf *pc = p->conf.probe;
    if (!s->has_url && !s->h.icmp_ok)
        return INFINITY; /* nothing to refresh it with */
    if (pc->stale_after)
        return pc->stale_after;
    return 3.0 * (s->has_url ? pc->http_interval : pc->icmp_interval);
}

/* Ranks service sv again from its sites' health. 0, or -1 when out of memory. */
static int rank_service(lb_prober *p, size_t sv)
{
    const lb_measure_conf *c = &p->conf;
    const lb_service_conf *sc = &c->services[sv];
    svc_rank *r = &p->ranks[sv];
    size_t n = sc->nsites, off = p->first_site[sv];
    lb_rank_in *in = calloc(n + 1, sizeof(*in));
    if (!in)
        return -1;
    double stale_at = INFINITY;
    for (size_t k = 0; k < n; k++) {
        const psite *ps = p->sites[off + k];
        in[k].state = ps->h.state;
        in[k].score = lb_health_score(&ps->h, &p->hp);
        in[k].cost = ps->site.cost;
        in[k].distance_km = c->has_location && ps->site.has_location
                                ? glb_geo_distance_km(c->lat, c->lon, ps->site.lat, ps->site.lon)
                                : NAN;
        in[k].weight = ps->site.weight;
        double at = ps->h.last_check + site_stale_after(p, ps);
        if (at < stale_at)
            stale_at = at;
    }
    lb_rank_out out = {r->order, 0, 0, 0};
    lb_rank(&sc->policy, in, n, &out);
    free(in);
    if (out.failopen != r->failopen) {
        char name[1024];
        glb_dname_to_str(sc->name, name, sizeof(name));
        if (out.failopen)
            log_warn("service %s: every site is dead, answering all of them by weight (fail-open)", name);
        else
            log_notice("service %s: a site is alive again, fail-open ends", name);
    }
    r->count = out.count;
    r->share = out.share;
    r->failopen = out.failopen;
    r->stale_at = stale_at;
    r->dirty = 0;
    return 0;
}

static void publish_now(lb_prober *p)
{
    const lb_measure_conf *c = &p->conf;
    void *t = p->sink.table_new(p->sink.arg, p->wake_ev);
    const glb_site **ranked = NULL;
    size_t most = 0;
    for (size_t s = 0; s < c->nservices; s++)
        most = c->services[s].nsites > most ? c->services[s].nsites : most;
    ranked = calloc(most + 1, sizeof(*ranked));
    for (size_t s = 0; t && ranked && s < c->nservices; s++) {
        svc_rank *r = &p->ranks[s];
        if (r->dirty && rank_service(p, s) != 0)
            goto nomem;
        for (size_t k = 0; k < r->count; k++)
            ranked[k] = &p->sites[p->first_site[s] + r->order[k]]->site;
        if (p->sink.set_rank(t, s, ranked, r->count, r->share, r->failopen, r->stale_at) != 0)
            goto nomem;
    }
    if (!t || !ranked)
        goto nomem;
    free(ranked);
    p->sink.publish(p->sink.arg, t);
    p->st.tables++;
    if (p->on_publish)
        p->on_publish(p->on_publish_arg);
    return;
nomem:
    free(ranked);
    if (t)
        p->sink.discard(p->sink.arg, t);
    log_err("prober: out of memory building the answer table");
}

static void publish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_prober *p = arg;
    p->publish_pending = 0;
    publish_now(p);
}

/* The health of a site of service sv changed: rank it again and publish a
 * new table soon (batched, at most every PUBLISH_MS). */
static void mark_dirty(lb_prober *p, size_t sv)
{
    p->ranks[sv].dirty = 1;
    if (p->publish_pending)
        return;
    p->publish_pending = 1;
    p->publish_due = p->now() + PUBLISH_MS / 1000.0;
    struct timeval tv = {0, PUBLISH_MS * 1000};
    event_add(p->publish_ev, &tv);
}

/* --- checks ------------------------------------------------------------ */

static void waiters_done(psite *s)
{
    while (s->hc == NULL && s->ping == 0 && s->waiters) {
        waiter *w = s->waiters;
        s->waiters = w->next_in_site;
        check_req *r = w->req;
        free(w);
        if (--r->pending == 0) {
            r->done(r->arg, r->found);
            free(r);
        }
    }
}

static void log_transition(const psite *s, int before)
{
    if (s->h.state == before)
        return;
    char name[1024];
    glb_dname_to_str(s->p->conf.services[s->svc].name, name, sizeof(name));
    log_notice("service %s site %s: %s -> %s (%s)", name, s->site.name, lb_state_str(before),
               lb_state_str(s->h.state), s->h.last_result);
}

static void record_history(psite *s)
{
    lb_history_record(&s->hist, s->p->now(), s->h.state, glb_ewma_value(&s->h.latency), glb_ewma_value(&s->h.loss));
}

static void http_done(void *arg, const glb_http_result *r)
{
    psite *s = arg;
    int before = s->h.state;
    s->hc = NULL;
    s->p->st.http_checks++;
    if (r->err != GLB_HTTP_OK)
        s->p->st.http_failures++;
    lb_health_http(&s->h, &s->p->hp, s->p->now(), r);
    record_history(s);
    log_transition(s, before);
    mark_dirty(s->p, s->svc);
    waiters_done(s);
}

static void icmp_done(void *arg, int ok, double rtt_ms)
{
    psite *s = arg;
    int before = s->h.state;
    s->ping = 0;
    if (!ok)
        s->p->st.icmp_lost++;
    lb_health_icmp(&s->h, &s->p->hp, s->p->now(), ok, rtt_ms);
    record_history(s);
    log_transition(s, before);
    mark_dirty(s->p, s->svc);
    waiters_done(s);
}

static int start_http(psite *s)
{
    if (s->hc || !s->has_url || s->site.naddrs == 0)
        return 0;
    const lb_probe_conf *pc = s->p->conf.probe;
    glb_addr a = s->site.addrs[0];
    a.port = s->url.port;
    const glb_addr *src = a.family == AF_INET ? (pc->has_src4 ? &pc->src4 : NULL) : (pc->has_src6 ? &pc->src6 : NULL);
    if (s->p->fake)
        s->hc = s->p->be.http_start(s->p->be.ctx, &s->url, &a, pc->timeout * 1000, http_done, s);
    else
        s->hc = glb_http_check_start_from(s->p->base, s->p->ssl, &s->url, &a, src, pc->timeout * 1000,
                                          s->site.check_verify, pc->max_body, http_done, s);
    return s->hc != NULL;
}

static int start_icmp(psite *s)
{
    if (s->ping || !s->h.icmp_ok || s->site.naddrs == 0)
        return 0;
    /* An echo waits at most 80 % of the interval, so that a lost one never
     * makes the next one be skipped. */
    const lb_probe_conf *pc = s->p->conf.probe;
    unsigned timeout_ms = pc->timeout * 1000;
    if (timeout_ms > pc->icmp_interval * 800)
        timeout_ms = pc->icmp_interval * 800;
    if (s->p->fake)
        s->ping = s->p->be.ping_send(s->p->be.ctx, &s->site.addrs[0], timeout_ms, icmp_done, s);
    else
        s->ping = glb_ping_send(s->p->pinger, &s->site.addrs[0], timeout_ms, icmp_done, s);
    if (s->ping)
        s->p->st.icmp_sent++;
    return s->ping != 0;
}

static void http_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    psite *s = arg;
    double now = s->p->now();
    if (now - s->http_due > LATE_S || s->hc)
        s->p->st.late_checks++;
    start_http(s);
    /* From the due time, not from now: no drift, no bunching. */
    s->http_due += s->p->conf.probe->http_interval * jitter(s->p);
    if (s->http_due < now)
        s->http_due = now + s->p->conf.probe->http_interval * jitter(s->p);
    arm(s->http_ev, s->http_due, now);
}

static void icmp_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    psite *s = arg;
    double now = s->p->now();
    if (now - s->icmp_due > LATE_S || s->ping)
        s->p->st.late_checks++;
    start_icmp(s);
    s->icmp_due += s->p->conf.probe->icmp_interval * jitter(s->p);
    if (s->icmp_due < now)
        s->icmp_due = now + s->p->conf.probe->icmp_interval * jitter(s->p);
    arm(s->icmp_ev, s->icmp_due, now);
}

/* Starts a site's checks now, those not in flight already. Returns how many. */
static int start_checks(psite *s)
{
    int started = start_http(s);
    started += start_icmp(s);
    return started;
}

/* What an on-demand request did for a site. */
enum lb_demand {
    LB_DEMAND_STARTED, /* started a check (those in flight joined) */
    LB_DEMAND_JOINED,  /* every check was in flight already */
    LB_DEMAND_LIMITED, /* refused: too soon after the last on-demand start */
    LB_DEMAND_NONE     /* nothing to check: no check URL, ICMP or address */
};

/* A check asked for on demand (the control tool, a query finding stale
 * data): only a hint, so at most one start per on-demand-interval, whoever
 * asks and however often; checks in flight are joined, not duplicated. */
static enum lb_demand demand_checks(psite *s, double now, double *retry_in)
{
    double wait = s->demand_at + s->p->conf.probe->ondemand_interval - now;
    if (wait > 0) {
        s->p->st.rate_limited++;
        if (retry_in)
            *retry_in = wait;
        return LB_DEMAND_LIMITED;
    }
    if (start_checks(s)) {
        s->demand_at = now;
        return LB_DEMAND_STARTED;
    }
    return s->hc || s->ping ? LB_DEMAND_JOINED : LB_DEMAND_NONE;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_prober *p = arg;
    double now = p->now();
    size_t off = 0;
    for (size_t sv = 0; sv < p->conf.nservices; sv++) {
        size_t n = p->conf.services[sv].nsites;
        if (p->sink.take_refresh(p->sink.arg, sv)) {
            for (size_t k = 0; k < n; k++) {
                psite *s = p->sites[off + k];
                /* Only what is really old: a check in flight will do. */
                if (now - s->h.last_check > site_stale_after(p, s) / 2 &&
                    demand_checks(s, now, NULL) == LB_DEMAND_STARTED)
                    p->st.refreshes++;
            }
            /* Keep answering the stale data until the checks are back, but
             * do not ask again for it at once. */
        }
        off += n;
    }
}

/* --- sites ------------------------------------------------------------- */

static void resolved(void *arg, const glb_addr *addrs, size_t n, const char *why)
{
    psite *s = arg;
    char name[1024];
    glb_dname_to_str(s->p->conf.services[s->svc].name, name, sizeof(name));
    if (n == 0) {
        log_warn("service %s site %s: cannot resolve %s: %s", name, s->site.name, s->site.host, why);
        return; /* keep the addresses we had */
    }
    int first = s->site.naddrs == 0;
    s->site.naddrs = n < GLB_SITE_MAX_ADDRS ? n : GLB_SITE_MAX_ADDRS;
    memcpy(s->site.addrs, addrs, s->site.naddrs * sizeof(*addrs));
    s->h.icmp_ok = icmp_available(s->p, s->site.addrs[0].family);
    log_info("service %s site %s: %s has %zu addresses", name, s->site.name, s->site.host, n);
    if (first)
        start_checks(s); /* its first checks were waiting for an address */
    mark_dirty(s->p, s->svc);
}

static void psite_free(psite *s)
{
    if (!s)
        return;
    if (s->hc)
        http_cancel(s->p, s->hc);
    if (s->ping)
        ping_cancel(s->p, s->ping);
    if (s->watch)
        lb_resolve_unwatch(s->p->resolver, s->watch);
    if (s->http_ev)
        event_free(s->http_ev);
    if (s->icmp_ev)
        event_free(s->icmp_ev);
    s->hc = NULL;
    s->ping = 0;
    /* Waiting control requests learn the site went away. */
    while (s->waiters) {
        waiter *w = s->waiters;
        s->waiters = w->next_in_site;
        if (--w->req->pending == 0) {
            w->req->done(w->req->arg, w->req->found);
            free(w->req);
        }
        free(w);
    }
    free(s);
}

static psite *psite_new(lb_prober *p, const lb_measure_conf *c, size_t svc, size_t idx, char *err, size_t errlen)
{
    psite *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->p = p;
    s->svc = svc;
    s->idx = idx;
    s->site = c->services[svc].sites[idx];
    s->demand_at = -INFINITY;
    if (s->site.check[0]) {
        const char *why;
        if (glb_url_parse(s->site.check, &s->url, &why) != 0) {
            snprintf(err, errlen, "site '%s': check URL: %s", s->site.name, why);
            free(s);
            return NULL;
        }
        s->has_url = 1;
    }
    int fam = s->site.naddrs ? s->site.addrs[0].family : AF_INET;
    lb_health_init(&s->h, &p->hp, s->has_url, icmp_available(p, fam));
    s->http_ev = evtimer_new(p->base, http_timer, s);
    s->icmp_ev = evtimer_new(p->base, icmp_timer, s);
    if (!s->http_ev || !s->icmp_ev) {
        snprintf(err, errlen, "out of memory");
        psite_free(s);
        return NULL;
    }
    return s;
}

/* Same site across a reload: same service name, site name, addresses and check. */
static int same_site(const lb_measure_conf *a, const psite *old, const lb_measure_conf *b, size_t svc, size_t idx)
{
    const glb_site *x = &a->services[old->svc].sites[old->idx], *y = &b->services[svc].sites[idx];
    return glb_dname_equal(a->services[old->svc].name, b->services[svc].name) && strcmp(x->name, y->name) == 0 &&
           x->naddrs == y->naddrs && memcmp(x->addrs, y->addrs, x->naddrs * sizeof(*x->addrs)) == 0 &&
           strcmp(x->host, y->host) == 0 && strcmp(x->check, y->check) == 0;
}

static void start_site(lb_prober *p, psite *s, double spread_http, double spread_icmp, double now)
{
    if (s->site.host[0] && !s->watch)
        s->watch = lb_resolve_watch(p->resolver, s->site.host, resolved, s);
    s->http_due = now + spread_http * p->rand01();
    s->icmp_due = now + spread_icmp * p->rand01();
    if (s->has_url)
        arm(s->http_ev, s->http_due, now);
    if (s->h.icmp_ok || s->site.host[0])
        arm(s->icmp_ev, s->icmp_due, now);
}

/* Whether configuring c loads the CA file again. */
static int ca_changes(const lb_prober *p, const lb_measure_conf *c)
{
    return !p->ssl || !p->configured || strcmp(p->conf.probe->ca_file, c->probe->ca_file) != 0;
}

int lb_prober_check_tls(const lb_prober *p, const lb_measure_conf *c, char *err, size_t errlen)
{
    if (!ca_changes(p, c))
        return 0;
    SSL_CTX *ssl = glb_http_ssl_ctx_new(c->probe->ca_file[0] ? c->probe->ca_file : NULL);
    if (!ssl) {
        snprintf(err, errlen, "key 'ca-file': cannot load '%s'", c->probe->ca_file);
        return -1;
    }
    SSL_CTX_free(ssl);
    return 0;
}

int lb_prober_configure(lb_prober *p, const lb_measure_conf *c, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nservices; i++)
        n += c->services[i].nsites;
    psite **sites = calloc(n + 1, sizeof(*sites));
    svc_rank *ranks = calloc(c->nservices + 1, sizeof(*ranks));
    size_t *first_site = calloc(c->nservices + 1, sizeof(*first_site));
    int ranks_ok = ranks && first_site;
    for (size_t i = 0, off = 0; ranks_ok && i < c->nservices; off += c->services[i].nsites, i++) {
        first_site[i] = off;
        ranks[i].dirty = 1;
        ranks_ok = (ranks[i].order = calloc(c->services[i].nsites + 1, sizeof(uint32_t))) != NULL;
    }
    if (!sites || !ranks_ok) {
        free(sites);
        free_ranks(ranks, c->nservices);
        free(first_site);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lb_health_params hp;
    lb_health_params_default(&hp);
    hp.ewma_c = c->probe->ewma_constant;
    hp.dead_after = c->probe->dead_after;
    hp.alive_after = c->probe->alive_after;
    hp.score = c->probe->score;

    lb_health_params saved = p->hp;
    p->hp = hp;
    size_t k = 0;
    for (size_t i = 0; i < c->nservices; i++)
        for (size_t j = 0; j < c->services[i].nsites; j++) {
            sites[k] = psite_new(p, c, i, j, err, errlen);
            if (!sites[k]) {
                while (k > 0)
                    psite_free(sites[--k]);
                free(sites), free_ranks(ranks, c->nservices), free(first_site);
                p->hp = saved;
                return -1;
            }
            k++;
        }
    if (ca_changes(p, c)) {
        SSL_CTX *ssl = glb_http_ssl_ctx_new(c->probe->ca_file[0] ? c->probe->ca_file : NULL);
        if (!ssl) {
            snprintf(err, errlen, "key 'ca-file': cannot load '%s'", c->probe->ca_file);
            while (k > 0)
                psite_free(sites[--k]);
            free(sites), free_ranks(ranks, c->nservices), free(first_site);
            p->hp = saved;
            return -1;
        }
        if (p->ssl)
            SSL_CTX_free(p->ssl);
        p->ssl = ssl;
    }
    int need_resolver = 0;
    for (size_t m = 0; m < n; m++)
        need_resolver |= sites[m]->site.host[0] != 0;
    if (need_resolver && !p->resolver) {
        p->resolver = lb_resolver_new(p->base, c->resolver, err, errlen);
        if (!p->resolver) {
            while (k > 0)
                psite_free(sites[--k]);
            free(sites), free_ranks(ranks, c->nservices), free(first_site);
            p->hp = saved;
            return -1;
        }
    }
    /* Carry the health of sites that stay; the rest stop at once. */
    for (size_t i = 0; i < p->nsites; i++) {
        psite *old = p->sites[i];
        for (size_t m = 0; m < n && old; m++)
            if (same_site(&p->conf, old, c, sites[m]->svc, sites[m]->idx)) {
                sites[m]->h = old->h;
                sites[m]->hist = old->hist;
                sites[m]->demand_at = old->demand_at; /* a reload does not reset the limit */
                if (old->site.host[0]) { /* keep what was resolved until it is again */
                    sites[m]->site.naddrs = old->site.naddrs;
                    memcpy(sites[m]->site.addrs, old->site.addrs, sizeof(old->site.addrs));
                }
                break;
            }
        psite_free(old);
    }
    /* Services kept by name keep their fail-open state: no repeated log line. */
    for (size_t i = 0; p->configured && i < c->nservices; i++)
        for (size_t j = 0; j < p->conf.nservices; j++)
            if (glb_dname_equal(c->services[i].name, p->conf.services[j].name))
                ranks[i].failopen = p->ranks[j].failopen;
    free(p->sites);
    if (p->configured)
        free_ranks(p->ranks, p->conf.nservices);
    free(p->first_site);
    p->sites = sites;
    p->nsites = n;
    p->ranks = ranks;
    p->first_site = first_site;
    p->conf = *c;
    p->configured = 1;
    /* The first round spreads over n/500 s (at least 0.5 s: about 500 sites
     * a second), but never over more than one interval of each kind. */
    double now = p->now();
    double spread = n / 500.0 < 0.5 ? 0.5 : n / 500.0;
    double spread_http = spread < c->probe->http_interval ? spread : c->probe->http_interval;
    double spread_icmp = spread < c->probe->icmp_interval ? spread : c->probe->icmp_interval;
    for (size_t i = 0; i < n; i++)
        start_site(p, sites[i], spread_http, spread_icmp, now);
    publish_now(p);
    return 0;
}

lb_prober *lb_prober_new(struct event_base *base, const lb_prober_sink *sink, char *err, size_t errlen)
{
    lb_prober *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->base = base;
    p->sink = *sink;
    p->now = glb_mono;
    p->rand01 = rand01_random;
    lb_health_params_default(&p->hp);
    p->pinger = glb_pinger_new(base);
    p->publish_ev = evtimer_new(base, publish_cb, p);
    p->wake_ev = event_new(base, -1, 0, wake_cb, p);
    if (!p->pinger || !p->publish_ev || !p->wake_ev) {
        snprintf(err, errlen, "out of memory");
        lb_prober_free(p);
        return NULL;
    }
    log_info("icmp: v4 %s, v6 %s", glb_pinger_mode(p->pinger, AF_INET), glb_pinger_mode(p->pinger, AF_INET6));
    return p;
}

void lb_prober_free(lb_prober *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsites; i++)
        psite_free(p->sites[i]);
    free(p->sites);
    if (p->configured)
        free_ranks(p->ranks, p->conf.nservices);
    free(p->first_site);
    if (p->resolver)
        lb_resolver_free(p->resolver);
    if (p->pinger)
        glb_pinger_free(p->pinger);
    if (p->publish_ev)
        event_free(p->publish_ev);
    if (p->wake_ev)
        event_free(p->wake_ev);
    if (p->ssl)
        SSL_CTX_free(p->ssl);
    free(p);
}

/* --- control ----------------------------------------------------------- */

static void check_one_done(void *arg, size_t found)
{
    (void)arg, (void)found;
}

/* Does name ("SITE" or "SERVICE/SITE", SERVICE with or without its final
 * dot) name site s? */
static int names_site(const lb_prober *p, const psite *s, const char *name)
{
    const char *slash = strchr(name, '/');
    if (strcmp(slash ? slash + 1 : name, s->site.name) != 0)
        return 0;
    if (!slash)
        return 1;
    char svc[1024];
    glb_dname_to_str(p->conf.services[s->svc].name, svc, sizeof(svc));
    size_t sl = strlen(svc), given = (size_t)(slash - name);
    return (given == sl || given + 1 == sl) && strncmp(svc, name, given) == 0;
}

size_t lb_prober_check_now(lb_prober *p, const char *name, struct evbuffer *out,
                           void (*done)(void *arg, size_t found), void *arg)
{
    check_req *r = calloc(1, sizeof(*r));
    if (!r) {
        done(arg, 0);
        return 0;
    }
    r->done = done ? done : check_one_done;
    r->arg = arg;
    r->pending = 1; /* held until the loop below is over */
    double now = p->now();
    for (size_t i = 0; i < p->nsites; i++) {
        psite *s = p->sites[i];
        if (!names_site(p, s, name))
            continue;
        r->found++;
        char svc[1024];
        glb_dname_to_str(p->conf.services[s->svc].name, svc, sizeof(svc));
        double retry_in = 0;
        enum lb_demand d = demand_checks(s, now, &retry_in);
        if (out && d == LB_DEMAND_LIMITED)
            evbuffer_add_printf(out, "check %s/%s: rate-limited, next on-demand check in %.1f s\n", svc,
                                s->site.name, retry_in);
        else if (out)
            evbuffer_add_printf(out, "check %s/%s: %s\n", svc, s->site.name,
                                d == LB_DEMAND_STARTED ? "started"
                                : d == LB_DEMAND_JOINED ? "joined the checks in flight"
                                                        : "nothing to check (no check URL, ICMP or address)");
        if (d == LB_DEMAND_LIMITED || !(s->hc || s->ping))
            continue; /* a refused hint answers at once */
        waiter *w = calloc(1, sizeof(*w));
        if (w) {
            w->req = r;
            w->next_in_site = s->waiters;
            s->waiters = w;
            r->pending++;
        }
    }
    size_t found = r->found;
    if (--r->pending == 0) {
        r->done(r->arg, r->found);
        free(r);
    }
    return found;
}

void lb_prober_set_clock(lb_prober *p, double (*now)(void))
{
    p->now = now;
}

/* --- test hooks (prober_test.h) ---------------------------------------- */

void lb_prober_test_backend(lb_prober *p, const lb_probe_backend *be)
{
    p->be = *be;
    p->fake = 1;
}

static double rand01_half(void)
{
    return 0.5;
}

void lb_prober_test_no_jitter(lb_prober *p)
{
    p->rand01 = rand01_half;
}

double lb_prober_test_step(lb_prober *p)
{
    double now = p->now(), next = INFINITY;
    for (size_t i = 0; i < p->nsites; i++) {
        psite *s = p->sites[i];
        if (event_pending(s->http_ev, EV_TIMEOUT, NULL) && s->http_due <= now)
            http_timer(-1, EV_TIMEOUT, s);
        if (event_pending(s->icmp_ev, EV_TIMEOUT, NULL) && s->icmp_due <= now)
            icmp_timer(-1, EV_TIMEOUT, s);
    }
    if (p->publish_pending && p->publish_due <= now) {
        event_del(p->publish_ev);
        publish_cb(-1, EV_TIMEOUT, p);
    }
    for (size_t i = 0; i < p->nsites; i++) {
        const psite *s = p->sites[i];
        if (event_pending(s->http_ev, EV_TIMEOUT, NULL) && s->http_due < next)
            next = s->http_due;
        if (event_pending(s->icmp_ev, EV_TIMEOUT, NULL) && s->icmp_due < next)
            next = s->icmp_due;
    }
    if (p->publish_pending && p->publish_due < next)
        next = p->publish_due;
    return next;
}

int lb_prober_test_state(const lb_prober *p, const char *name)
{
    for (size_t i = 0; i < p->nsites; i++)
        if (strcmp(p->sites[i]->site.name, name) == 0)
            return p->sites[i]->h.state;
    return -1;
}
