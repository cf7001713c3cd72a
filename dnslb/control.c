/* dnslb's control commands. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/control.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

static int cmd_status(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    lb_ctl *c = arg;
    evbuffer_add_printf(out, "version: dnslb %s\nid: %s\nuptime: %.0f s\n", PACKAGE_VERSION, c->id,
                        difftime(time(NULL), (time_t)c->started));
    lb_prober_report_status(c->prober, out);
    if (c->proxy)
        lb_proxy_report(c->proxy, out);
    return 0;
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

static int cmd_stats(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    lb_ctl *c = arg;
    unsigned long long sum[LB_ST_COUNT] = {0};
    for (unsigned w = 0; w < c->nstats; w++)
        for (int i = 0; i < LB_ST_COUNT; i++)
            sum[i] += __atomic_load_n(&c->stats[w].n[i], __ATOMIC_RELAXED);
    for (int i = 0; i < LB_ST_COUNT; i++)
        evbuffer_add_printf(out, "dns.%s=%llu\n", lb_stat_names[i], sum[i]);
    glb_server_stats_print(c->server, out);
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
    }
    return 0;
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

static int cmd_register(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    return set_withdrawn(arg, 0, out);
}

const glb_control_cmd lb_control_cmds[] = {
    {"status", cmd_status, "version, id, uptime, sites by state, ICMP modes, the proxy engine (last VCL loaded, when, errors)"},
    {"sites", cmd_sites, "per site: addresses, state, EWMA latency and loss, score, last check"},
    {"check", cmd_check, "check SITE (or SERVICE/SITE): measure now (once per on-demand-interval), then show the sites"},
    {"stats", cmd_stats, "counters: DNS answers by kind, network, probes, map sessions"},
    {"map", cmd_map, "per DNS-B: session state, services serial, registration; the claims; whoami"},
    {"withdraw", cmd_withdraw, "maintenance: withdraw the registrations at every DNS-B (lifetime 0)"},
    {"register", cmd_register, "end of maintenance: register again"},
    {NULL, NULL, NULL},
};
