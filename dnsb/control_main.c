/* dnsb-control: asks a running dnsb over its TLS control channel (status,
 * list-lbs, lookup ADDR, list-services, reload, stats). Like unbound-control,
 * it takes its address and certificates from the daemon's configuration
 * file, or from options. SPDX-License-Identifier: BSD-3-Clause */
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dnsb/conf.h"
#include "shared/addr.h"
#include "shared/control.h"
#include "shared/tls.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/glb/dnsb.conf"
#define DEFAULT_PORT 8953

static void usage(FILE *f)
{
    fprintf(f, "usage: dnsb-control [-s ADDR[@PORT]] [-c FILE] [-C CERT -K KEY -A CA] [-t SECONDS] [-j] COMMAND [ARGS]\n"
               "  -s ADDR[@PORT]  the dnsb control address (default: control: of the configuration,\n"
               "                  else 127.0.0.1@%d)\n"
               "  -c FILE         dnsb's configuration: control address, control-cert-file,\n"
               "                  control-key-file, control-ca-file (default %s)\n"
               "  -C FILE         client certificate (PEM)\n"
               "  -K FILE         its key\n"
               "  -A FILE         CA the server's certificate must chain to\n"
               "  -t SECONDS      give up after this long (default 60)\n"
               "  -j              status and stats as JSON (as 'status json', 'stats json')\n"
               "commands:\n"
               "  status [json]   version, uptime, zone, services, registrations, mappings, workers\n"
               "  list-lbs [ID]   the DNS-LB registrations, or one in full\n"
               "  lookup ADDR[/LEN]  which DNS-LBs serve ADDR (or a client subnet) and why,\n"
               "                  or the fail-open answer\n"
               "  list-services   services: mode, TTLs, sites with addresses and weights\n"
               "  reload          reread the configuration, as SIGHUP does\n"
               "  stats [json]    counters: DNS answers by kind, network, registry, map, store,\n"
               "                  control, metrics (NAME=VALUE lines; /metrics renders them)\n"
               "exit status: 0 ok, 1 the server refused, 2 unreachable or usage\n",
            DEFAULT_PORT, DEFAULT_CONF);
}

/* A server listening on the unspecified address is asked on loopback. */
static void unspecified_to_loopback(glb_addr *a)
{
    static const uint8_t zero[16];
    if (memcmp(a->b, zero, glb_addr_bytes(a->family)) != 0)
        return;
    if (a->family == AF_INET)
        memcpy(a->b, (const uint8_t[4]){127, 0, 0, 1}, 4);
    else
        a->b[15] = 1;
}

int main(int argc, char **argv)
{
    const char *conf_file = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    int json = 0;
    glb_addr addr;
    int have_addr = 0;
    unsigned timeout = 60;
    int c;
    while ((c = getopt(argc, argv, "+s:c:C:K:A:t:jhv")) != -1) {
        switch (c) {
        case 's':
            if (glb_addrport_parse(optarg, DEFAULT_PORT, &addr) != 0) {
                fprintf(stderr, "dnsb-control: bad address '%s'\n", optarg);
                return 2;
            }
            have_addr = 1;
            break;
        case 'c': conf_file = optarg; break;
        case 'j': json = 1; break;
        case 'C': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'A': ca = optarg; break;
        case 't':
            if (glb_control_timeout_arg("dnsb-control", optarg, &timeout) != 0)
                return 2;
            break;
        case 'v': printf("dnsb-control %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char line[512];
    if (optind >= argc)
        usage(stderr);
    if (optind >= argc || glb_control_join("dnsb-control", argc, argv, optind, line, sizeof(line)) != 0)
        return 2;
    if (json && glb_control_json_arg("dnsb-control", line, sizeof(line)) != 0)
        return 2;

    /* What the options leave open comes from dnsb.conf: the one given, or
     * the default one when it is there. */
    dnsb_conf *cf = NULL;
    char err[1024];
    if (!conf_file && !(have_addr && cert && key && ca) && access(DEFAULT_CONF, R_OK) == 0)
        conf_file = DEFAULT_CONF;
    if (conf_file) {
        cf = dnsb_conf_load(conf_file, err, sizeof(err));
        if (!cf) {
            fprintf(stderr, "dnsb-control: %s\n", err);
            return 2;
        }
        if (!have_addr && cf->has_control) {
            addr = cf->control;
            unspecified_to_loopback(&addr);
            have_addr = 1;
        }
        cert = cert ? cert : cf->control_cert[0] ? cf->control_cert : NULL;
        key = key ? key : cf->control_key[0] ? cf->control_key : NULL;
        ca = ca ? ca : cf->control_ca[0] ? cf->control_ca : NULL;
    }
    if (!have_addr)
        glb_addrport_parse("127.0.0.1", DEFAULT_PORT, &addr);
    if (!cert || !key || !ca) {
        fprintf(stderr, "dnsb-control: no %s: give -C, -K and -A, or -c with dnsb's configuration "
                        "(control-cert-file, control-key-file, control-ca-file)\n",
                !cert ? "client certificate" : !key ? "client key" : "CA");
        dnsb_conf_free(cf);
        return 2;
    }
    SSL_CTX *tls = glb_tls_client_ctx(cert, key, ca, err, sizeof(err));
    dnsb_conf_free(cf);
    if (!tls) {
        fprintf(stderr, "dnsb-control: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error, not a signal */
    int rc = glb_control_request(&addr, tls, line, stdout, timeout);
    SSL_CTX_free(tls);
    return rc;
}
