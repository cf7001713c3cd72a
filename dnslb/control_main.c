/* dnslb-control: asks a running dnslb (status, sites, check SITE, stats,
 * map) over its control channel: TLS with a client certificate, or plain TCP
 * on loopback when dnslb.conf says control-use-cert: no. The command line is
 * shared/control_tool.h's; this file knows dnslb's commands and configuration.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>

#include "dnslb/conf.h"
#include "shared/control_tool.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static int load(const char *file, glb_control_target *t, char *err, size_t errlen)
{
    lb_conf *cf = lb_conf_load(file, err, errlen);
    if (!cf)
        return -1;
    int rc = 0;
    if (cf->control_mode == LB_CONTROL_OFF) {
        snprintf(err, errlen, "%s: dnslb has no control channel: no certificates (control-cert-file, "
                              "control-key-file, control-ca-file or a dnsb: section)", file);
        rc = -1;
    }
    t->has_addr = 1; /* dnslb's has a default address */
    t->addr = cf->control;
    t->plain = cf->control_mode == LB_CONTROL_PLAIN;
    snprintf(t->cert, sizeof(t->cert), "%s", cf->control_cert);
    snprintf(t->key, sizeof(t->key), "%s", cf->control_key);
    snprintf(t->ca, sizeof(t->ca), "%s", cf->control_ca);
    lb_conf_free(cf);
    return rc;
}

static const glb_control_tool tool = {
    "dnslb-control", SYSCONFDIR "/glb/dnslb.conf", 8954,
    "  status [json]   version, id, uptime, sites by state, ICMP modes\n"
    "  sites           per site: addresses, state, EWMA latency and loss, score, last check\n"
    "  check SITE      measure SITE (or SERVICE/SITE) now, at most once per\n"
    "                  on-demand-interval, then show the sites\n"
    "  stats [json]    counters: DNS answers by kind, network, probes, map protocol,\n"
    "                  sites (NAME=VALUE lines; /metrics renders them)\n"
    "  map             the DNS-Bs: sessions, registration, services; claims; whoami\n"
    "  withdraw        maintenance: withdraw the registrations at every DNS-B\n"
    "  register        end of maintenance: register again\n",
    load};

int main(int argc, char **argv)
{
    return glb_control_tool_main(&tool, argc, argv);
}
