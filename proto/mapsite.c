/* Configured sites as SERVICES carries them (mapsite.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>
#include <stdio.h>

#include "proto/mapsite.h"

static int32_t micro(double deg)
{
    return (int32_t)lround(deg * 1e6);
}

int glb_map_site_from(const glb_site *cs, const uint8_t *svc, glb_map_site *ms, glb_addr *addrs,
                      uint8_t host[GLB_DNAME_MAX], char *err, size_t errlen)
{
    char nm[1024];
    glb_map_site_defaults(ms);
    ms->name = cs->name;
    for (size_t k = 0; k < cs->naddrs; k++) {
        addrs[k] = cs->addrs[k];
        addrs[k].port = 0;
    }
    ms->addrs = addrs;
    ms->naddrs = cs->naddrs;
    if (cs->host[0]) {
        if (!glb_dname_from_str(cs->host, host)) {
            snprintf(err, errlen, "service %s: site %s: bad host name", glb_dname_to_str(svc, nm, sizeof(nm)),
                     cs->name);
            return -1;
        }
        ms->host = host;
    }
    ms->weight = cs->weight;
    double cost = round(cs->cost * 1000.0); /* thousandths in 32 bits: refuse, never wrap */
    if (!(cost >= 0 && cost <= UINT32_MAX)) {
        snprintf(err, errlen, "service %s: site %s: cost %g over the map protocol's limit (4294967.295)",
                 glb_dname_to_str(svc, nm, sizeof(nm)), cs->name, cs->cost);
        return -1;
    }
    ms->cost = (uint32_t)cost;
    if (cs->has_location) {
        ms->has_location = 1;
        ms->location = (glb_map_location){micro(cs->lat), micro(cs->lon)};
    }
    ms->check = cs->check[0] ? cs->check : NULL;
    ms->check_verify = (uint8_t)(cs->check_verify != 0);
    return 0;
}
