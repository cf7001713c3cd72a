/* The control tools' main (dnsb-control, dnslb-control): options, the
 * daemon's configuration file for what they leave open, then one request.
 * Like unbound-control, a tool takes its address and certificates from the
 * daemon's configuration, or from options. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CONTROL_TOOL_H
#define GLB_CONTROL_TOOL_H

#include <stdint.h>

#include "shared/addr.h"

/* What a daemon's configuration says about its control channel. */
typedef struct glb_control_target {
    int has_addr;
    glb_addr addr;              /* control: (unspecified: asked on loopback) */
    char cert[256], key[256], ca[256]; /* "" when not known */
    int plain;                  /* the channel is plain TCP (dnslb's control-use-cert: no) */
} glb_control_target;

typedef struct glb_control_tool {
    const char *prog;           /* "dnsb-control" */
    const char *default_conf;   /* read when it exists and the options leave something open */
    uint16_t default_port;
    const char *commands;       /* the "commands:" part of the usage text */
    /* Reads the daemon's configuration file into t: 0, or -1 with err. */
    int (*load)(const char *file, glb_control_target *t, char *err, size_t errlen);
} glb_control_tool;

/* The whole tool: returns its exit status (0 ok, 1 the server refused, 2
 * unreachable or usage). */
int glb_control_tool_main(const glb_control_tool *tool, int argc, char **argv);

#endif
