/* A site of a service, as written in every daemon's config:
 *   site: NAME ADDR|HOST [ADDR...] [weight=N] [cost=X] [location=LAT,LON]
 *         [check=URL] [check-verify=yes|no]
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_SITE_H
#define GLB_SITE_H

#include <stddef.h>

#include "shared/addr.h"

#define GLB_SITE_NAME_MAX 64
#define GLB_SITE_MAX_ADDRS 16

typedef struct glb_site {
    char name[GLB_SITE_NAME_MAX];
    glb_addr addrs[GLB_SITE_MAX_ADDRS];
    size_t naddrs;
    char host[256];      /* host name to resolve, "" when addresses are given */
    unsigned weight;     /* default 1 */
    double cost;         /* default 0 */
    int has_location;
    double lat, lon;     /* degrees */
    char check[512];     /* health-check URL, "" for none */
    int check_verify;    /* verify the TLS certificate (default 1) */
} glb_site;

/* Parses the words of one site line. Returns 0, or -1 with a message in err
 * naming the offending word. */
int glb_site_parse(char *const *words, int nwords, glb_site *out, char *err, size_t errlen);

/* Parses "LAT,LON" in degrees (|lat| <= 90, |lon| <= 180). 0, or -1. */
int glb_location_parse(const char *s, double *lat, double *lon);

/* 1 when s is a usable identifier (site name, LB id): 1..63 chars of
 * [a-z0-9-], not starting or ending with '-'. Such ids double as DNS labels. */
int glb_id_valid(const char *s);

#endif
