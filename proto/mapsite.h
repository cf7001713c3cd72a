/* A configured site (shared/site.h) as the map protocol carries it in
 * SERVICES: the one conversion the DNS-B (to its DNS-LBs) and the combined
 * box (to its agents) share. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_PROTO_MAPSITE_H
#define GLB_PROTO_MAPSITE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/map.h"
#include "shared/dname.h"
#include "shared/site.h"

/* Fills ms from cs: its addresses (ports cleared) into addrs (room for
 * cs->naddrs), its host name into host; name and check point into cs.
 * svc names the service in messages. 0, or -1 with err (a bad host name,
 * a cost over the protocol's limit). */
int glb_map_site_from(const glb_site *cs, const uint8_t *svc, glb_map_site *ms, glb_addr *addrs,
                      uint8_t host[GLB_DNAME_MAX], char *err, size_t errlen);

#endif
