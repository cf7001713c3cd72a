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

static int build_lbs(dnsb_table *t, char *err, size_t errlen)
{
    const dnsb_conf *c = t->conf;
    t->lbs = calloc(c->nlbs + 1, sizeof(*t->lbs));
    if (!t->lbs)
        goto nomem;
    for (size_t i = 0; i < c->nlbs; i++) {
        dnsb_lb *lb = &t->lbs[i];
        lb->conf = &c->lbs[i];
        size_t n = strlen(lb->conf->id);
        for (size_t s = 0; s < c->nservices; s++)
            if (glb_dname_len(c->services[s].name) + n + 1 + 3 > GLB_DNAME_MAX) {
                snprintf(err, errlen, "%s:%u: key 'id': ns.%s.<service> would exceed 255 bytes",
                         lb->conf->file, lb->conf->line, lb->conf->id);
                return -1;
            }
        lb->label[0] = (uint8_t)n;
        memcpy(lb->label + 1, lb->conf->id, n);
        if (glb_nametab_add(t->lb_index, lb->label, n + 1, (uint32_t)i) != 0)
            goto nomem;
        lb->ranking = calloc(c->nservices + 1, sizeof(*lb->ranking));
        lb->nranking = calloc(c->nservices + 1, sizeof(*lb->nranking));
        if (!lb->ranking || !lb->nranking)
            goto nomem;
        for (size_t r = 0; r < lb->conf->nrankings; r++) {
            const dnsb_ranking_conf *rk = &lb->conf->rankings[r];
            size_t s = 0;
            while (s < c->nservices && !glb_dname_equal(c->services[s].name, rk->service))
                s++;
            if (s == c->nservices)
                continue; /* conf_load checked this */
            free(lb->ranking[s]);
            lb->ranking[s] = malloc(rk->nsites * sizeof(uint32_t));
            if (!lb->ranking[s])
                goto nomem;
            lb->nranking[s] = 0;
            for (size_t k = 0; k < rk->nsites; k++)
                for (size_t m = 0; m < c->services[s].nsites; m++)
                    if (strcmp(c->services[s].sites[m].name, rk->sites[k]) == 0)
                        lb->ranking[s][lb->nranking[s]++] = (uint32_t)m;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* One claim: this prefix is served by this LB. */
typedef struct claim {
    glb_prefix p;
    uint32_t lb;
} claim;

static int cmp_claim(const void *a, const void *b)
{
    const claim *x = a, *y = b;
    if (x->p.family != y->p.family)
        return x->p.family < y->p.family ? -1 : 1;
    if (x->p.len != y->p.len)
        return x->p.len < y->p.len ? -1 : 1;
    int d = memcmp(x->p.b, y->p.b, sizeof(x->p.b));
    if (d)
        return d;
    return x->lb < y->lb ? -1 : x->lb > y->lb;
}

/* Claims on the same prefix become one LB set, ordered by id so that every
 * DNS-B (and every answer) names the same first LB. */
static int build_map(dnsb_table *t, char *err, size_t errlen)
{
    const dnsb_conf *c = t->conf;
    size_t nclaims = 0;
    for (size_t i = 0; i < c->nlbs; i++)
        nclaims += c->lbs[i].nresolvers;
    claim *cl = calloc(nclaims + 1, sizeof(*cl));
    t->set_members = calloc(nclaims + 1, sizeof(*t->set_members));
    t->sets = calloc(nclaims + 1, sizeof(*t->sets));
    t->map = glb_lpm_new();
    if (!cl || !t->set_members || !t->sets || !t->map)
        goto nomem;
    size_t k = 0;
    for (size_t i = 0; i < c->nlbs; i++)
        for (size_t r = 0; r < c->lbs[i].nresolvers; r++)
            cl[k++] = (claim){c->lbs[i].resolvers[r], (uint32_t)i};
    qsort(cl, nclaims, sizeof(*cl), cmp_claim);
    size_t nmembers = 0;
    for (size_t i = 0; i < nclaims;) {
        size_t j = i;
        uint32_t first = (uint32_t)nmembers;
        while (j < nclaims && cl[j].p.family == cl[i].p.family && cl[j].p.len == cl[i].p.len &&
               memcmp(cl[j].p.b, cl[i].p.b, sizeof(cl[i].p.b)) == 0) {
            if (j == i || cl[j].lb != cl[j - 1].lb)
                t->set_members[nmembers++] = cl[j].lb;
            j++;
        }
        /* Order the set's members by LB id. */
        for (size_t a = first + 1; a < nmembers; a++)
            for (size_t b = a; b > first && strcmp(c->lbs[t->set_members[b - 1]].id,
                                                   c->lbs[t->set_members[b]].id) > 0; b--) {
                uint32_t tmp = t->set_members[b];
                t->set_members[b] = t->set_members[b - 1];
                t->set_members[b - 1] = tmp;
            }
        t->sets[t->nsets][0] = first;
        t->sets[t->nsets][1] = (uint32_t)(nmembers - first);
        if (glb_lpm_insert(t->map, &cl[i].p, (uint32_t)t->nsets) != 0)
            goto nomem;
        t->nsets++;
        i = j;
    }
    free(cl);
    return 0;
nomem:
    free(cl);
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
    t->lb_index = glb_nametab_new();
    if (!t->name_index || !t->lb_index) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (build_services(t, err, errlen) != 0 || build_names(t, err, errlen) != 0 ||
        build_lbs(t, err, errlen) != 0 || build_map(t, err, errlen) != 0)
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
    if (t->lbs)
        for (size_t i = 0; i < t->conf->nlbs; i++) {
            if (t->lbs[i].ranking)
                for (size_t s = 0; s < t->conf->nservices; s++)
                    free(t->lbs[i].ranking[s]);
            free(t->lbs[i].ranking);
            free(t->lbs[i].nranking);
        }
    free(t->services);
    free(t->zones);
    free(t->lbs);
    free(t->names);
    glb_nametab_free(t->name_index);
    glb_nametab_free(t->lb_index);
    glb_lpm_free(t->map);
    free(t->set_members);
    free(t->sets);
    dnsb_conf_free(t->conf);
    free(t);
}

long dnsb_table_map(const dnsb_table *t, const glb_addr *a, unsigned keylen, unsigned *scope)
{
    glb_lpm_match m;
    int found = glb_lpm_lookup(t->map, a, keylen, &m);
    *scope = m.scope;
    return found ? (long)m.value : -1;
}
