/* dnslb's control commands. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/control.h"
#include "dnslb/agents.h"

#include <event2/buffer.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "shared/measure/health.h"
#include "proto/map.h"
#include "shared/dname.h"
#include "shared/ctlconf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/tls.h"

static void status_lines(void *arg, struct evbuffer *out)
{
    lb_ctl *c = arg;
    evbuffer_add_printf(out, "version: dnslb %s\nid: %s\nuptime: %.0f s\n", PACKAGE_VERSION, c->id,
                        difftime(time(NULL), (time_t)c->started));
    lb_prober_report_status(c->prober, out);
    if (c->proxy)
        lb_proxy_report(c->proxy, out);
}

static int cmd_status(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    return glb_lines_reply(args, out, 0, status_lines, arg);
}

static int cmd_sites(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    lb_prober_report_sites(((lb_ctl *)arg)->prober, out);
    return 0;
}

typedef struct pending {
    lb_ctl *ctl;
    glb_control_conn *conn;
    int in_call;     /* inside lb_prober_check_now: cmd_check answers */
    int finished;
    size_t found;
} pending;

static void check_done(void *arg, size_t found)
{
    pending *p = arg;
    struct evbuffer *out = glb_control_out(p->conn);
    if (found)
        lb_prober_report_sites(p->ctl->prober, out);
    else
        evbuffer_add_printf(out, "no such site\n");
    if (p->in_call) {
        p->finished = 1;
        p->found = found;
        return;
    }
    glb_control_reply(p->conn, found != 0);
    free(p);
}

static int cmd_check(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    if (!*args) {
        evbuffer_add_printf(out, "usage: check SITE | check SERVICE/SITE\n");
        return -1;
    }
    pending *p = calloc(1, sizeof(*p));
    if (!p) {
        evbuffer_add_printf(out, "out of memory\n");
        return -1;
    }
    p->ctl = arg;
    p->conn = conn;
    p->in_call = 1;
    lb_prober_check_now(p->ctl->prober, args, out, check_done, p);
    p->in_call = 0;
    if (!p->finished)
        return 1; /* the answer goes out when the checks are back (check_done) */
    int ok = p->found != 0;
    free(p);
    return ok ? 0 : -1;
}

/* Lines site.NAME{service="S",site="X"}=V for every site, one NAME at a time. */
static void site_lines(lb_prober *p, struct evbuffer *out)
{
    static const char *const fields[] = {"up", "state", "latency_seconds", "loss_ratio", "score_seconds",
                                         "state_changes", "checks", "check_failures"};
    static const char *const states[] = {"unknown", "up", "down"}; /* by enum lb_state */
    lb_site_view v;
    char svc[1024];
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        for (size_t i = 0; lb_prober_site_view(p, i, &v) == 0; i++) {
            glb_dname_to_str(v.service, svc, sizeof(svc));
            size_t n = strlen(svc);
            if (n > 1 && svc[n - 1] == '.')
                svc[n - 1] = '\0';
            int st = v.state >= LB_SITE_UNKNOWN && v.state <= LB_SITE_DEAD ? v.state : LB_SITE_UNKNOWN;
            if (f == 1) { /* one line per state, 1 for the site's */
                for (int k = 0; k < 3; k++) {
                    const char *kv[] = {"service", svc, "site", v.site, "state", states[k]};
                    evbuffer_add_printf(out, "site.state");
                    glb_stats_labels(out, kv, 3);
                    evbuffer_add_printf(out, "=%d\n", k == st);
                }
                continue;
            }
            const char *kv[] = {"service", svc, "site", v.site};
            evbuffer_add_printf(out, "site.%s", fields[f]);
            glb_stats_labels(out, kv, 2);
            double x = f == 2 ? v.latency_ms / 1000 : f == 3 ? v.loss : v.score_ms / 1000;
            unsigned long u = f == 0 ? st == LB_SITE_ALIVE : f == 5 ? v.changes : f == 6 ? v.checks : v.failures;
            if (f == 0 || f >= 5)
                evbuffer_add_printf(out, "=%lu\n", u);
            else if (isnan(x))
                evbuffer_add_printf(out, "=NaN\n");
            else
                evbuffer_add_printf(out, "=%.9g\n", x);
        }
    }
}

void lb_stats_text(lb_ctl *c, struct evbuffer *out)
{
    unsigned long long sum[LB_ST_COUNT] = {0};
    for (unsigned w = 0; w < c->nstats; w++)
        for (int i = 0; i < LB_ST_COUNT; i++)
            sum[i] += __atomic_load_n(&c->stats[w].n[i], __ATOMIC_RELAXED);
    for (int i = 0; i < LB_ST_COUNT; i++)
        evbuffer_add_printf(out, "dns.%s=%llu\n", lb_stat_names[i], sum[i]);
    glb_server_stats_print(c->server, out);
    lb_recurse_stats(c->rec, out);
    lb_agents_stats(c->agents, out);
    lb_prober_stats ps;
    lb_prober_stats_get(c->prober, &ps);
    evbuffer_add_printf(out,
                        "probe.http_checks=%llu\nprobe.http_failures=%llu\nprobe.icmp_sent=%llu\n"
                        "probe.icmp_lost=%llu\nprobe.late_checks=%llu\nprobe.refreshes=%llu\nprobe.rate_limited=%llu\n"
                        "probe.tables=%llu\n",
                        ps.http_checks, ps.http_failures, ps.icmp_sent, ps.icmp_lost, ps.late_checks,
                        ps.refreshes, ps.rate_limited, ps.tables);
    if (c->map) {
        lb_mapclient_stats ms;
        lb_mapclient_stats_get(c->map, &ms);
        evbuffer_add_printf(out,
                            "map.connects=%llu\nmap.established=%llu\nmap.failures=%llu\nmap.up=%zu\n"
                            "map.registers=%llu\nmap.acks=%llu\nmap.claims=%zu\nmap.services=%zu\n"
                            "map.services_full=%llu\nmap.services_delta=%llu\nmap.services_skipped=%llu\n"
                            "map.resyncs=%llu\nmap.file_writes=%llu\nmap.file_errors=%llu\n",
                            ms.connects, ms.established, ms.failures, ms.up, ms.registers, ms.acks, ms.claims,
                            ms.services, ms.services_full, ms.services_delta, ms.services_skipped, ms.resyncs,
                            ms.file_writes, ms.file_errors);
        evbuffer_add_printf(out, "map.keepalives=%llu\nmap.rankings=%llu\n", ms.keepalives, ms.rankings);
        for (unsigned r = 1; r < sizeof(ms.rejected) / sizeof(ms.rejected[0]); r++)
            evbuffer_add_printf(out, "map.rejected.%s=%llu\n", glb_map_reject_name(r), ms.rejected[r]);
        evbuffer_add_printf(out, "map.rejected.other=%llu\n", ms.rejected[0]);
    }
    if (c->control) {
        glb_control_stats cs;
        glb_control_stats_get(c->control, &cs);
        evbuffer_add_printf(out, "control.conns=%llu\ncontrol.requests=%llu\ncontrol.refused=%llu\n"
                                 "control.overflows=%llu\ncontrol.evicted=%llu\ncontrol.timeouts=%llu\n",
                            cs.conns, cs.requests, cs.refused, cs.overflows, cs.evicted, cs.timeouts);
    }
    if (c->metrics)
        glb_metrics_http_stats_print(c->metrics, out);
    site_lines(c->prober, out);
}

#define C(stat, metric, label, value, help) {stat, metric, "counter", label, value, help}
#define G(stat, metric, label, value, help) {stat, metric, "gauge", label, value, help}
#define KIND "DNS responses with data or NOERROR, by kind"
#define SITE "a site of a service as this DNS-LB measures it: "

/* dnslb's stats as metrics (dnslb(8), METRICS); glb_metric_rules_common after. */
static const glb_metric_rule lb_metric_rules[] = {
    C("dns.answers", "glb_dns_answers_total", "kind", "answer", KIND),
    C("dns.failopen", "glb_dns_answers_total", "kind", "failopen", KIND),
    C("dns.zone", "glb_dns_answers_total", "kind", "zone", KIND),
    C("dns.nodata", "glb_dns_answers_total", "kind", "nodata", KIND),
    C("dns.stale", "glb_dns_stale_total", NULL, NULL, "DNS queries that found stale measurements (and asked for fresh ones)"),
    C("probe.http_checks", "glb_probe_http_checks_total", NULL, NULL, "HTTP checks completed"),
    C("probe.http_failures", "glb_probe_http_failures_total", NULL, NULL, "HTTP checks failed"),
    C("probe.icmp_sent", "glb_probe_icmp_echoes_total", NULL, NULL, "ICMP echoes sent"),
    C("probe.icmp_lost", "glb_probe_icmp_lost_total", NULL, NULL, "ICMP echoes lost"),
    C("probe.tables", "glb_probe_tables_published_total", NULL, NULL, "answer tables published"),
    C("probe.", NULL, NULL, NULL, NULL),
    G("map.up", "glb_map_sessions", NULL, NULL, "map-protocol sessions to DNS-Bs established now"),
    G("map.claims", "glb_map_claims", NULL, NULL, "claims in the last REGISTER"),
    G("map.services", "glb_map_services", NULL, NULL, "services received from the DNS-Bs in force"),
    C("map.rejected.", "glb_map_claims_rejected_by_reason_total", "reason", NULL,
      "claims the DNS-Bs rejected, by reason (proto/PROTOCOL.md)"),
    C("map.", NULL, NULL, NULL, NULL),
    G("site.up", "glb_site_up", NULL, NULL, SITE "1 when alive, 0 when dead or not yet checked"),
    G("site.state", "glb_site_state", NULL, NULL, SITE "1 for its state (up, down, unknown), 0 for the others"),
    G("site.latency_seconds", "glb_site_latency_seconds", NULL, NULL,
      SITE "time-weighted average latency (HTTP time to first byte, else ICMP round trip)"),
    G("site.loss_ratio", "glb_site_loss_ratio", NULL, NULL, SITE "time-weighted average loss, 0 to 1"),
    G("site.score_seconds", "glb_site_score_seconds", NULL, NULL, SITE "score, latency penalised by loss (lower is better)"),
    C("site.state_changes", "glb_site_state_changes_total", NULL, NULL, SITE "state changes (from unknown included)"),
    C("site.checks", "glb_site_checks_total", NULL, NULL, SITE "checks that decide its state"),
    C("site.check_failures", "glb_site_check_failures_total", NULL, NULL, SITE "of those, failed"),
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

static void stats_lines(void *arg, struct evbuffer *out)
{
    lb_stats_text(arg, out);
}

void lb_metrics(void *arg, struct evbuffer *out)
{
    glb_metrics_from(out, stats_lines, arg, lb_metric_rules, "glb");
}

static int cmd_stats(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    return glb_lines_reply(args, out, 1, stats_lines, arg);
}

static int cmd_map(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    lb_ctl *c = arg;
    if (!c->map) {
        evbuffer_add_printf(out, "no dnsb: section configured\n");
        return -1;
    }
    lb_mapclient_report(c->map, out);
    return 0;
}

/* withdraw | register: maintenance, without stopping the box. */
static int set_withdrawn(lb_ctl *c, int on, struct evbuffer *out)
{
    if (!c->map) {
        evbuffer_add_printf(out, "no dnsb: section configured\n");
        return -1;
    }
    size_t up = lb_mapclient_withdraw(c->map, on);
    evbuffer_add_printf(out, "%s at %zu DNS-B session%s up\n", on ? "withdrawn" : "registering again", up,
                        up == 1 ? "" : "s");
    return 0;
}

static int cmd_withdraw(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    return set_withdrawn(arg, 1, out);
}

static int cmd_agents(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    lb_ctl *c = arg;
    if (!c->agents) {
        evbuffer_add_printf(out, "error: no agents: section (mode combined)\n");
        return -1;
    }
    lb_agents_report(c->agents, out);
    return 0;
}

static int cmd_register(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    return set_withdrawn(arg, 0, out);
}

const glb_control_cmd lb_control_cmds[] = {
    {"status", cmd_status, "status [json]: version, id, uptime, sites by state, ICMP modes, the proxy engine (last VCL loaded, when, errors)"},
    {"sites", cmd_sites, "per site: addresses, state, EWMA latency and loss, score, last check"},
    {"check", cmd_check, "check SITE (or SERVICE/SITE): measure now (once per on-demand-interval), then show the sites"},
    {"stats", cmd_stats, "stats [json]: counters: DNS answers by kind, network, probes, map sessions, sites"},
    {"map", cmd_map, "per DNS-B: session state, services serial, registration; the claims; whoami"},
    {"withdraw", cmd_withdraw, "maintenance: withdraw the registrations at every DNS-B (lifetime 0)"},
    {"register", cmd_register, "end of maintenance: register again"},
    {"agents", cmd_agents, "combined box: per measurement agent its session, claims, metrics and their age"},
    {NULL, NULL, NULL},
};

SSL_CTX *lb_control_ctx(const lb_conf *c, char *err, size_t errlen)
{
    char e[512];
    SSL_CTX *ctx = glb_tls_server_ctx(c->control_cert, c->control_key, c->control_ca, e, sizeof(e));
    if (!ctx)
        snprintf(err, errlen, "control: %s", e);
    return ctx;
}

int lb_control_open(struct event_base *base, const lb_conf *c, SSL_CTX *tls, lb_ctl *ctl, glb_control **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (c->control_mode == LB_CONTROL_OFF) {
        log_warn("control: off: no certificates (control-cert-file, control-key-file, control-ca-file or a %s "
                 "section), and control-use-cert is not 'no'", c->agent ? "box:" : "dnsb:");
        return 0;
    }
    if (!(*out = glb_control_new(base, &c->control, tls, lb_control_cmds, ctl, err, errlen)))
        return -1;
    if (tls)
        glb_ctlconf_apply_allow(*out, &c->control_allow, tls);
    ctl->control = *out;
    return 0;
}
