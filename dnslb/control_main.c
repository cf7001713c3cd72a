/* dnslb-control: asks a running dnslb (status, sites, check SITE, stats).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "shared/addr.h"
#include "shared/control.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: dnslb-control [-s ADDR[@PORT]] [-t SECONDS] [-j] COMMAND [ARGS]\n"
               "  -s ADDR[@PORT]  the dnslb control address (default 127.0.0.1@8954)\n"
               "  -t SECONDS      give up after this long (default 60)\n"
               "  -j              status and stats as JSON (as 'status json', 'stats json')\n"
               "commands:\n"
               "  status [json]   version, id, uptime, sites by state, ICMP modes\n"
               "  sites           per site: addresses, state, EWMA latency and loss, score, last check\n"
               "  check SITE      measure SITE (or SERVICE/SITE) now, at most once per\n"
               "                  on-demand-interval, then show the sites\n"
               "  stats [json]    counters: DNS answers by kind, network, probes, map protocol,\n"
               "                  sites (NAME=VALUE lines; /metrics renders them)\n"
               "  map             the DNS-Bs: sessions, registration, services; claims; whoami\n"
               "exit status: 0 ok, 1 the server refused, 2 unreachable or usage\n");
}

int main(int argc, char **argv)
{
    glb_addr addr;
    unsigned timeout = 60;
    int json = 0;
    glb_addrport_parse("127.0.0.1@8954", 8954, &addr);
    int c;
    while ((c = getopt(argc, argv, "s:t:jhv")) != -1) {
        switch (c) {
        case 's':
            if (glb_addrport_parse(optarg, 8954, &addr) != 0) {
                fprintf(stderr, "dnslb-control: bad address '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (glb_control_timeout_arg("dnslb-control", optarg, &timeout) != 0)
                return 2;
            break;
        case 'j': json = 1; break;
        case 'v': printf("dnslb-control %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char line[512];
    if (optind >= argc)
        usage(stderr);
    if (optind >= argc || glb_control_join("dnslb-control", argc, argv, optind, line, sizeof(line)) != 0)
        return 2;
    if (json && glb_control_json_arg("dnslb-control", line, sizeof(line)) != 0)
        return 2;
    return glb_control_request(&addr, NULL, line, stdout, timeout);
}
