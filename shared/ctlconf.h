/* The control channel's configuration, the same at every daemon (dnsb,
 * dnslb): the control-allow, control-cert-file, control-key-file and
 * control-ca-file rows of section "server", and who may send commands.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CTLCONF_H
#define GLB_CTLCONF_H

#include <stddef.h>

#include "shared/cfg.h"

typedef struct glb_control glb_control;
typedef struct ssl_ctx_st SSL_CTX;

/* control-allow: certificate CNs that may send commands. */
typedef struct glb_control_ids {
    char (*ids)[64];
    size_t n;
} glb_control_ids;

/* control-allow handler: checks the identity and appends it to the
 * glb_control_ids at the row's offset in the target. */
const char *glb_ctlconf_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el);

/* The rows; T has members control_allow (glb_control_ids) and control_cert,
 * control_key, control_ca (char[256]); FROM names where the files come
 * from when not given (help text). */
#define GLB_CONTROL_KEYS(T, FROM)                                                                            \
    {"server", "control-allow", GLB_CFG_STR, GLB_CFG_REPEAT, 0, 64, 0, glb_ctlconf_allow,                   \
     "certificate CN that may use the control tool (repeatable; default: the control certificate's own)",    \
     offsetof(T, control_allow)},                                                                            \
    {"server", "control-cert-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,                              \
     "certificate of the control channel (default: " FROM ")", offsetof(T, control_cert)},                  \
    {"server", "control-key-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str, "its key (default: " FROM ")", \
     offsetof(T, control_key)},                                                                              \
    {"server", "control-ca-file", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str,                                \
     "CA of the control tool's client certificates (default: " FROM ")", offsetof(T, control_ca)}

/* Control files not given (empty) are taken from the map protocol's (each
 * array of len bytes). 0 when all three are then set, else -1. */
int glb_ctlconf_default(char *cert, char *key, char *ca, size_t len, const char *map_cert, const char *map_key,
                        const char *map_ca);

/* Who may send commands on c: control-allow when given, else whoever holds
 * the certificate of tls itself (the control tool's default: the daemon's
 * own files), never just any certificate of the CA; logs when neither. */
void glb_ctlconf_apply_allow(glb_control *c, const glb_control_ids *allow, SSL_CTX *tls);

#endif
