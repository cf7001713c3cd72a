/* dnsb-control: asks a running dnsb over its TLS control channel (status,
 * list-lbs, lookup ADDR, list-services, reload, stats). The command line is
 * shared/control_tool.h's; this file knows dnsb's commands and configuration.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>

#include "dnsb/conf.h"
#include "shared/control_tool.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static int load(const char *file, glb_control_target *t, char *err, size_t errlen)
{
    dnsb_conf *cf = dnsb_conf_load(file, err, errlen);
    if (!cf)
        return -1;
    t->has_addr = cf->has_control;
    t->addr = cf->control;
    snprintf(t->cert, sizeof(t->cert), "%s", cf->control_cert);
    snprintf(t->key, sizeof(t->key), "%s", cf->control_key);
    snprintf(t->ca, sizeof(t->ca), "%s", cf->control_ca);
    dnsb_conf_free(cf);
    return 0;
}

static const glb_control_tool tool = {
    "dnsb-control", SYSCONFDIR "/glb/dnsb.conf", 8953,
    "  status [json]   version, uptime, zone, services, registrations, mappings, workers\n"
    "  list-lbs [ID]   the DNS-LB registrations, or one in full\n"
    "  lookup ADDR[/LEN]  which DNS-LBs serve ADDR (or a client subnet) and why,\n"
    "                  or the fail-open answer\n"
    "  list-services   services: mode, TTLs, sites with addresses and weights\n"
    "  reload          reread the configuration, as SIGHUP does\n"
    "  stats [json]    counters: DNS answers by kind, network, registry, map, store,\n"
    "                  control, metrics (NAME=VALUE lines; /metrics renders them)\n",
    load};

int main(int argc, char **argv)
{
    return glb_control_tool_main(&tool, argc, argv);
}
