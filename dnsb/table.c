/* Building the answer table. SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

/* Registers name (and, as empty non-terminals, its ancestors down to zone)
 * in the index. The first registration of a name wins, except that a real
 * entry replaces an empty non-terminal. */
static int add_name(dnsb_table *t, const uint8_t *name, uint8_t kind, uint32_t index, uint32_t zone)
{
    uint32_t at;
    size_t len = glb_dname_len(name);
    if (glb_nametab_get(t->name_index, name, len, &at)) {
        if (t->names[at].kind == DNSB_NAME_ENT && kind != DNSB_NAME_ENT)
            t->names[at] = (dnsb_name){kind, index, zone};
        return 0;
    }
    dnsb_name *nn = realloc(t->names, (t->nnames + 1) * sizeof(*nn));
    if (!nn)
        return -1;
    t->names = nn;
    t->names[t->nnames] = (dnsb_name){kind, index, zone};
    if (glb_nametab_add(t->name_index, name, len, (uint32_t)t->nnames) != 0)
        return -1;
    t->nnames++;
    return 0;
}

static int add_ancestors(dnsb_table *t, const uint8_t *name, uint32_t zone)
{
    const uint8_t *apex = t->zones[zone].apex;
    int extra = glb_dname_sub(name, apex);
    for (int k = 1; k < extra; k++)
        if (add_name(t, glb_dname_skip(name, (unsigned)k), DNSB_NAME_ENT, 0, zone) != 0)
            return -1;
    return 0;
}

/* Site indices heaviest first, config order among equals (insertion sort:
 * a service has a handful of sites). */
static void order_by_weight(const glb_site *sites, uint32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && sites[idx[j - 1]].weight < sites[i].weight) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (uint32_t)i;
    }
}

static int build_services(dnsb_table *t, char *err, size_t errlen)
{
    const dnsb_conf *c = t->conf;
    t->services = calloc(c->nservices + 1, sizeof(*t->services));
    t->zones = calloc(c->nservices + 1, sizeof(*t->zones));
    if (!t->services || !t->zones)
        goto nomem;
    t->zones[0].apex = c->zone;
    t->nzones = 1;
    for (size_t i = 0; i < c->nservices; i++) {
        dnsb_service *s = &t->services[i];
        s->conf = &c->services[i];
        if (glb_dname_sub(s->conf->name, c->zone) >= 0) {
            s->zone = 0; /* the enterprise CNAMEs into our zone */
        } else {
            s->apex = 1;
            s->zone = (uint32_t)t->nzones;
            t->zones[t->nzones++].apex = s->conf->name;
        }
        s->by_weight = malloc(s->conf->nsites * sizeof(*s->by_weight));
        if (!s->by_weight)
            goto nomem;
        order_by_weight(s->conf->sites, s->by_weight, s->conf->nsites);
        for (size_t j = 0; j < s->conf->nsites; j++)
            if (s->conf->sites[j].naddrs == 0)
                log_warn("service site '%s' has only a host name: dnsb answers only with addresses",
                         s->conf->sites[j].name);
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int build_names(dnsb_table *t, char *err, size_t errlen)
{
    const dnsb_conf *c = t->conf;
    /* The zone and the services first: they own their names over whoami and
     * hosts. A delegated service's apex is a SERVICE entry (see s->apex). */
    if (add_name(t, c->zone, DNSB_NAME_ZONE, 0, 0) != 0)
        goto nomem;
    for (size_t i = 0; i < c->nservices; i++) {
        const dnsb_service *s = &t->services[i];
        if (add_name(t, s->conf->name, DNSB_NAME_SERVICE, (uint32_t)i, s->zone) != 0 ||
            add_ancestors(t, s->conf->name, s->zone) != 0)
            goto nomem;
    }
    if (add_name(t, c->whoami, DNSB_NAME_WHOAMI, 0, 0) != 0 || add_ancestors(t, c->whoami, 0) != 0)
        goto nomem;
    for (size_t i = 0; i < c->nzone_ns; i++) {
        const uint8_t *n = c->zone_ns[i].name;
        if (glb_dname_sub(n, c->zone) < 0)
            continue; /* out of zone: no glue to give */
        uint32_t at;
        if (glb_nametab_get(t->name_index, n, glb_dname_len(n), &at) && t->names[at].kind != DNSB_NAME_ENT &&
            t->names[at].kind != DNSB_NAME_NSHOST) {
            char buf[1024];
            snprintf(err, errlen, "key 'zone-ns': %s clashes with a service or the zone apex",
                     glb_dname_to_str(n, buf, sizeof(buf)));
            return -1;
        }
        if (add_name(t, n, DNSB_NAME_NSHOST, (uint32_t)i, 0) != 0 || add_ancestors(t, n, 0) != 0)
            goto nomem;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

dnsb_table *dnsb_table_build(dnsb_conf *conf, uint32_t serial, char *err, size_t errlen)
{
    dnsb_table *t = calloc(1, sizeof(*t));
    if (!t) {
        dnsb_conf_free(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->conf = conf;
    t->name_index = glb_nametab_new();
    if (!t->name_index) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (build_services(t, err, errlen) != 0 || build_names(t, err, errlen) != 0)
        goto fail;
    for (size_t z = 0; z < t->nzones; z++)
        t->zones[z].serial = serial;
    return t;
fail:
    dnsb_table_free(t);
    return NULL;
}

void dnsb_table_free(dnsb_table *t)
{
    if (!t)
        return;
    if (t->services)
        for (size_t i = 0; i < t->conf->nservices; i++)
            free(t->services[i].by_weight);
    free(t->services);
    free(t->zones);
    free(t->names);
    glb_nametab_free(t->name_index);
    dnsb_conf_free(t->conf);
    free(t);
}

/* Collects the static registrations whose id conf has no lb section for. */
typedef struct gone {
    const dnsb_conf *conf;
    char (*ids)[64];
    size_t n;
    int failed;
} gone;

static void collect_gone(void *arg, const dnsb_reg *reg)
{
    gone *g = arg;
    if (!reg->is_static)
        return;
    for (size_t i = 0; i < g->conf->nlbs; i++)
        if (strcmp(g->conf->lbs[i].id, reg->id) == 0)
            return;
    char(*n)[64] = realloc(g->ids, (g->n + 1) * sizeof(*n));
    if (!n) {
        g->failed = 1;
        return;
    }
    g->ids = n;
    snprintf(g->ids[g->n++], 64, "%s", reg->id);
}

int dnsb_table_static_lbs(const dnsb_conf *conf, dnsb_registry *reg, char *err, size_t errlen)
{
    dnsb_registry_batch_begin(reg);
    for (size_t i = 0; i < conf->nlbs; i++) {
        const dnsb_lb_conf *lb = &conf->lbs[i];
        dnsb_reg g;
        memset(&g, 0, sizeof(g));
        snprintf(g.id, sizeof(g.id), "%s", lb->id);
        g.ndns = lb->naddrs < DNSB_LB_MAX_ADDRS ? lb->naddrs : DNSB_LB_MAX_ADDRS;
        memcpy(g.dns, lb->addrs, g.ndns * sizeof(*g.dns));
        g.nproxy = lb->nproxy < DNSB_LB_MAX_ADDRS ? lb->nproxy : DNSB_LB_MAX_ADDRS;
        if (g.nproxy) /* lb->proxy is NULL without proxy-address */
            memcpy(g.proxy, lb->proxy, g.nproxy * sizeof(*g.proxy));
        g.claims = lb->resolvers;
        g.nclaims = lb->nresolvers;
        g.is_static = 1;
        dnsb_ranking *rk = calloc(lb->nrankings + 1, sizeof(*rk));
        if (!rk || dnsb_registry_put(reg, &g) != 0)
            goto nomem;
        for (size_t r = 0; r < lb->nrankings; r++) {
            memcpy(rk[r].service, lb->rankings[r].service, glb_dname_len(lb->rankings[r].service));
            rk[r].sites = calloc(lb->rankings[r].nsites + 1, sizeof(*rk[r].sites));
            if (!rk[r].sites)
                goto nomem;
            rk[r].nsites = lb->rankings[r].nsites;
            rk[r].share = 1; /* a static ranking has no scores: only its first site is known best */
            memcpy(rk[r].sites, lb->rankings[r].sites, rk[r].nsites * sizeof(*rk[r].sites));
        }
        if (dnsb_registry_set_rankings(reg, g.id, rk, lb->nrankings) != 0)
            goto nomem_owned;
        continue;
    nomem:
        for (size_t r = 0; rk && r < lb->nrankings; r++)
            free(rk[r].sites);
        free(rk);
    nomem_owned:
        dnsb_registry_batch_end(reg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Static registrations the configuration no longer has. */
    gone g = {conf, NULL, 0, 0};
    dnsb_registry_walk(reg, collect_gone, &g);
    if (g.failed) {
        free(g.ids);
        dnsb_registry_batch_end(reg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < g.n; i++)
        dnsb_registry_remove(reg, g.ids[i]);
    free(g.ids);
    return dnsb_registry_batch_end(reg);
}
