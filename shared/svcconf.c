/* The load-balancing keys of a service: section (shared/svcconf.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/svcconf.h"

#include <stdio.h>
#include <string.h>

static const char *const policy_names[] = {"latency", "cost", "proximity", "combined"};
#define NPOLICIES (sizeof(policy_names) / sizeof(policy_names[0]))

void glb_svc_params_default(glb_svc_params *p)
{
    p->policy = GLB_SVC_LATENCY;
    p->margin_pct = GLB_SVC_MARGIN_PCT;
    p->margin_ms = GLB_SVC_MARGIN_MS;
    p->w_latency = GLB_SVC_W_LATENCY;
    p->w_cost = 0;
    p->w_distance = 0;
}

int glb_svc_policy_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < NPOLICIES; i++)
        if (strcmp(s, policy_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *glb_svc_policy_str(int policy)
{
    if (policy < 0 || (size_t)policy >= NPOLICIES)
        return "unknown";
    return policy_names[policy];
}

const char *glb_svc_set_policy(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx;
    int p = glb_svc_policy_parse(v->str);
    if (p < 0) {
        snprintf(e, el, "unknown policy '%s' (latency, cost, proximity or combined)", v->str);
        return e;
    }
    *(int *)(void *)((char *)v->target + v->row->offset) = p;
    return NULL;
}
