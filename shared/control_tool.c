/* The control tools' command line. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/control_tool.h"

#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "shared/control.h"
#include "shared/tls.h"

static void usage(const glb_control_tool *t, FILE *f)
{
    fprintf(f, "usage: %s [-s ADDR[@PORT]] [-c FILE] [-C CERT -K KEY -A CA] [-t SECONDS] [-j] COMMAND [ARGS]\n"
               "  -s ADDR[@PORT]  the control address (default: control: of the configuration,\n"
               "                  else 127.0.0.1@%u)\n"
               "  -c FILE         the daemon's configuration: control address, control-cert-file,\n"
               "                  control-key-file, control-ca-file (default %s)\n"
               "  -C FILE         client certificate (PEM)\n"
               "  -K FILE         its key\n"
               "  -A FILE         CA the server's certificate must chain to\n"
               "  -t SECONDS      give up after this long (default 60)\n"
               "  -j              status and stats as JSON (as 'status json', 'stats json')\n"
               "commands:\n%s"
               "exit status: 0 ok, 1 the server refused, 2 unreachable or usage\n",
            t->prog, (unsigned)t->default_port, t->default_conf, t->commands);
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

int glb_control_tool_main(const glb_control_tool *tool, int argc, char **argv)
{
    const char *prog = tool->prog, *conf_file = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    int json = 0, have_addr = 0, c;
    glb_addr addr;
    unsigned timeout = 60;
    while ((c = getopt(argc, argv, "+s:c:C:K:A:t:jhv")) != -1) {
        switch (c) {
        case 's':
            if (glb_addrport_parse(optarg, tool->default_port, &addr) != 0) {
                fprintf(stderr, "%s: bad address '%s'\n", prog, optarg);
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
            if (glb_control_timeout_arg(prog, optarg, &timeout) != 0)
                return 2;
            break;
        case 'v': printf("%s %s\n", prog, PACKAGE_VERSION); return 0;
        case 'h': usage(tool, stdout); return 0;
        default: usage(tool, stderr); return 2;
        }
    }
    char line[512];
    if (optind >= argc)
        usage(tool, stderr);
    if (optind >= argc || glb_control_join(prog, argc, argv, optind, line, sizeof(line)) != 0)
        return 2;
    if (json && glb_control_json_arg(prog, line, sizeof(line)) != 0)
        return 2;

    /* What the options leave open comes from the daemon's configuration:
     * the one given, or the default one when it is there. */
    glb_control_target t = {0};
    char err[1024];
    if (!conf_file && !(have_addr && cert && key && ca) && access(tool->default_conf, R_OK) == 0)
        conf_file = tool->default_conf;
    if (conf_file) {
        if (tool->load(conf_file, &t, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return 2;
        }
        if (!have_addr && t.has_addr) {
            addr = t.addr;
            unspecified_to_loopback(&addr);
            have_addr = 1;
        }
        cert = cert ? cert : t.cert[0] ? t.cert : NULL;
        key = key ? key : t.key[0] ? t.key : NULL;
        ca = ca ? ca : t.ca[0] ? t.ca : NULL;
    }
    if (!have_addr)
        glb_addrport_parse("127.0.0.1", tool->default_port, &addr);
    SSL_CTX *tls = NULL;
    if (!t.plain) { /* the configuration alone decides that the channel is plain */
        if (!cert || !key || !ca) {
            fprintf(stderr, "%s: no %s: give -C, -K and -A, or -c with the daemon's configuration "
                            "(control-cert-file, control-key-file, control-ca-file)\n",
                    prog, !cert ? "client certificate" : !key ? "client key" : "CA");
            return 2;
        }
        if (!(tls = glb_tls_client_ctx(cert, key, ca, err, sizeof(err)))) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error, not a signal */
    int rc = glb_control_request(&addr, tls, line, stdout, timeout);
    SSL_CTX_free(tls);
    return rc;
}
