/* What the control channel and the map client read of the prober: the
 * sites table, the status, the counters, the orders sent as RANKING.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shared/measure/prober.h"
#include "shared/measure/prober_int.h"
#include "shared/dname.h"

static void fmt_ms(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f", v);
}

/* Whether site idx of service svc is in the answers, and why (the last
 * published ranking): in:best, in:margin (as good as the best), in:failopen,
 * out:dead, out:unmeasured (not yet checked), out:slower (not as good). */
static const char *answer_note(const lb_prober *p, const psite *s)
{
    const svc_rank *r = &p->ranks[s->svc];
    size_t pos = 0;
    while (pos < r->count && r->order[pos] != s->idx)
        pos++;
    if (r->failopen)
        return "in:failopen";
    if (pos < r->share)
        return pos == 0 ? "in:best" : "in:margin";
    if (s->h.state == LB_SITE_DEAD)
        return "out:dead";
    return s->h.state == LB_SITE_UNKNOWN ? "out:unmeasured" : "out:slower";
}

void lb_prober_report_sites(lb_prober *p, struct evbuffer *out)
{
    double now = p->now();
    evbuffer_add_printf(out, "%-24s %-10s %-24s %-7s %9s %7s %9s %9s %8s %-14s %s\n", "service", "site", "addresses",
                        "state", "latency", "loss", "score", "icmp-rtt", "age", "answer", "last");
    for (size_t i = 0; i < p->nsites; i++) {
        const psite *s = p->sites[i];
        char svc[1024], addrs[256] = "", a[GLB_ADDRSTRLEN], lat[32], score[32], rtt[32], age[32], loss[32];
        glb_dname_to_str(p->conf.services[s->svc].name, svc, sizeof(svc));
        for (size_t k = 0; k < s->site.naddrs; k++) {
            size_t l = strlen(addrs);
            snprintf(addrs + l, sizeof(addrs) - l, "%s%s", k ? "," : "", glb_addr_str(&s->site.addrs[k], a, sizeof(a)));
        }
        if (!addrs[0])
            snprintf(addrs, sizeof(addrs), "%s", s->site.host[0] ? s->site.host : "-");
        fmt_ms(lat, sizeof(lat), glb_ewma_value(&s->h.latency));
        fmt_ms(score, sizeof(score), lb_health_score(&s->h, &p->hp));
        fmt_ms(rtt, sizeof(rtt), glb_ewma_value(&s->h.rtt));
        double l = glb_ewma_value(&s->h.loss);
        if (isnan(l))
            snprintf(loss, sizeof(loss), "-");
        else
            snprintf(loss, sizeof(loss), "%.1f%%", 100 * l);
        if (s->h.last_check > 0)
            snprintf(age, sizeof(age), "%.1fs", now - s->h.last_check);
        else
            snprintf(age, sizeof(age), "never");
        evbuffer_add_printf(out, "%-24s %-10s %-24s %-7s %9s %7s %9s %9s %8s %-14s %s\n", svc, s->site.name, addrs,
                            lb_state_str(s->h.state), lat, loss, score, rtt, age, answer_note(p, s),
                            s->h.last_result[0] ? s->h.last_result : "-");
    }
}

void lb_prober_report_status(lb_prober *p, struct evbuffer *out)
{
    size_t n[3] = {0, 0, 0};
    for (size_t i = 0; i < p->nsites; i++)
        n[p->sites[i]->h.state]++;
    evbuffer_add_printf(out, "services: %zu\nsites: %zu (alive %zu, dead %zu, unknown %zu)\nicmp: v4 %s, v6 %s\n",
                        p->configured ? p->conf.nservices : 0, p->nsites, n[LB_SITE_ALIVE], n[LB_SITE_DEAD],
                        n[LB_SITE_UNKNOWN], glb_pinger_mode(p->pinger, AF_INET),
                        glb_pinger_mode(p->pinger, AF_INET6));
}

void lb_prober_stats_get(const lb_prober *p, lb_prober_stats *out)
{
    *out = p->st;
}

struct event *lb_prober_wake_event(lb_prober *p)
{
    return p->wake_ev;
}

void lb_prober_on_publish(lb_prober *p, void (*fn)(void *arg), void *arg)
{
    p->on_publish = fn;
    p->on_publish_arg = arg;
}

size_t lb_prober_services(const lb_prober *p)
{
    return p->configured ? p->conf.nservices : 0;
}

size_t lb_prober_order(const lb_prober *p, size_t svc, const uint8_t **service, const char **names,
                       double *score_ms, size_t max, size_t *share)
{
    if (!p->configured || svc >= p->conf.nservices || !p->ranks)
        return 0;
    *service = p->conf.services[svc].name;
    if (p->ranks[svc].failopen)
        return 0;
    const svc_rank *r = &p->ranks[svc];
    size_t n = r->count < max ? r->count : max;
    for (size_t k = 0; k < n; k++) {
        const psite *ps = p->sites[p->first_site[svc] + r->order[k]];
        names[k] = ps->site.name;
        score_ms[k] = lb_health_score(&ps->h, &p->hp);
    }
    *share = r->share;
    return n;
}

int lb_prober_site_view(const lb_prober *p, size_t i, lb_site_view *v)
{
    if (i >= p->nsites || !p->configured)
        return -1;
    const psite *s = p->sites[i];
    v->service = p->conf.services[s->svc].name;
    v->site = s->site.name;
    v->state = s->h.state;
    v->latency_ms = glb_ewma_value(&s->h.latency);
    v->loss = glb_ewma_value(&s->h.loss);
    v->score_ms = lb_health_score(&s->h, &p->hp);
    v->checks = s->h.checks;
    v->failures = s->h.failures;
    v->changes = s->h.changes;
    v->answer = answer_note(p, s);
    v->last = s->h.last_result;
    v->last_check = s->h.last_check;
    v->history = &s->hist;
    return 0;
}

double lb_prober_now(const lb_prober *p)
{
    return p->now();
}
