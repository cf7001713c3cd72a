/* Check URLs of sites. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_URL_H
#define GLB_URL_H

#include <stdint.h>

/* A check URL: http[s]://host[:port]/path */
typedef struct glb_url {
    int tls;            /* https */
    char host[256];     /* as written (name or address, v6 without brackets) */
    uint16_t port;      /* default 80 / 443 */
    char path[1024];    /* "/" when none */
} glb_url;

/* Parses s. Returns 0, or -1 with a reason in *why (static string). */
int glb_url_parse(const char *s, glb_url *u, const char **why);

#endif
