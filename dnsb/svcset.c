/* Service-set snapshots and their SERVICES frames. SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/svcset.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/map.h"
#include "proto/mapsite.h"
#include "shared/dname.h"

_Static_assert((int)GLB_SVC_LATENCY == (int)GLB_MAP_POLICY_LATENCY && (int)GLB_SVC_COST == (int)GLB_MAP_POLICY_COST &&
                   (int)GLB_SVC_PROXIMITY == (int)GLB_MAP_POLICY_PROXIMITY &&
                   (int)GLB_SVC_COMBINED == (int)GLB_MAP_POLICY_COMBINED,
               "policy values differ");

/* One service with everything it points to, owned. */
typedef struct svc {
    glb_map_service m;
    glb_map_site *sites;
    uint8_t name[GLB_DNAME_MAX];
    uint8_t (*hosts)[GLB_DNAME_MAX];
    glb_addr *addrs;        /* all sites' addresses, one block */
    uint8_t *cmp;           /* its encoding alone, to tell changed services apart */
    size_t cmplen;
} svc;

struct dnsb_svcset {
    uint64_t serial;
    svc *svcs;
    size_t n;
};

/* Frame bytes besides the services: header, serial, kind, base, part, more. */
#define FRAME_OVERHEAD 128

static void svc_free(svc *s)
{
    free(s->sites);
    free(s->hosts);
    free(s->addrs);
    free(s->cmp);
}

void dnsb_svcset_free(dnsb_svcset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        svc_free(&s->svcs[i]);
    free(s->svcs);
    free(s);
}

static int svc_build(svc *s, const dnsb_service_conf *c, char *err, size_t errlen)
{
    memcpy(s->name, c->name, glb_dname_len(c->name));
    glb_map_service_defaults(&s->m);
    s->m.name = s->name;
    s->m.mode = (uint8_t)c->mode;
    s->m.ttl_referral = c->ttl_referral;
    s->m.ttl_answer = c->ttl_answer;
    /* dnsb.conf's ranges (shared/svcconf.h) all fit the protocol's */
    s->m.policy = (uint8_t)c->lb.policy;
    s->m.answer_count = (uint16_t)c->answer_count;
    s->m.margin = (uint32_t)lround(c->lb.margin_pct * 1e4);    /* percent -> ppm */
    s->m.margin_abs = (uint32_t)lround(c->lb.margin_ms * 1e3); /* ms -> microseconds */
    s->m.w_latency = (uint32_t)lround(c->lb.w_latency * 1e6);  /* -> ppm */
    s->m.w_cost = (uint32_t)lround(c->lb.w_cost * 1e6);
    s->m.w_distance = (uint32_t)lround(c->lb.w_distance * 1e6);
    size_t naddrs = 0;
    for (size_t i = 0; i < c->nsites; i++)
        naddrs += c->sites[i].naddrs;
    s->sites = calloc(c->nsites ? c->nsites : 1, sizeof(*s->sites));
    s->hosts = calloc(c->nsites ? c->nsites : 1, sizeof(*s->hosts));
    s->addrs = calloc(naddrs ? naddrs : 1, sizeof(*s->addrs));
    if (!s->sites || !s->hosts || !s->addrs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    glb_addr *a = s->addrs;
    for (size_t i = 0; i < c->nsites; i++) {
        /* name and check point into conf: re-pointed by svc_own_strings */
        if (glb_map_site_from(&c->sites[i], c->name, &s->sites[i], a, s->hosts[i], err, errlen) != 0)
            return -1;
        a += c->sites[i].naddrs;
    }
    s->m.sites = s->sites;
    s->m.nsites = c->nsites;
    return 0;
}

/* Site names and check URLs live in the conf; copy them after the layout is
 * known so the snapshot owns every byte it points to. */
static int svc_own_strings(svc *s)
{
    size_t bytes = 0;
    for (size_t i = 0; i < s->m.nsites; i++)
        bytes += strlen(s->sites[i].name) + 1 + (s->sites[i].check ? strlen(s->sites[i].check) + 1 : 0);
    /* Kept in the cmp buffer's tail: one allocation for the strings and the encoding. */
    glb_map_services one = {.serial = 1, .kind = GLB_MAP_SERVICES_FULL, .services = &s->m, .nservices = 1};
    size_t need = 0;
    glb_map_msg msg = {.type = GLB_MAP_SERVICES, .u.services = one};
    if (glb_map_encode(&msg, NULL, 0, &need, NULL) != GLB_MAP_OK)
        return -1;
    uint8_t *buf = malloc(need + bytes);
    if (!buf)
        return -1;
    char *p = (char *)buf + need;
    for (size_t i = 0; i < s->m.nsites; i++) {
        size_t l = strlen(s->sites[i].name) + 1;
        memcpy(p, s->sites[i].name, l);
        s->sites[i].name = p;
        p += l;
        if (s->sites[i].check) {
            l = strlen(s->sites[i].check) + 1;
            memcpy(p, s->sites[i].check, l);
            s->sites[i].check = p;
            p += l;
        }
    }
    msg.u.services.services = &s->m;
    if (glb_map_encode(&msg, buf, need, &s->cmplen, NULL) != GLB_MAP_OK) {
        free(buf);
        return -1;
    }
    s->cmp = buf;
    return 0;
}

dnsb_svcset *dnsb_svcset_build(const dnsb_conf *conf, uint64_t serial, char *err, size_t errlen)
{
    dnsb_svcset *s = calloc(1, sizeof(*s));
    if (!s || !(s->svcs = calloc(conf->nservices ? conf->nservices : 1, sizeof(*s->svcs)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->serial = serial;
    for (size_t i = 0; i < conf->nservices; i++) {
        s->n = i + 1;
        if (svc_build(&s->svcs[i], &conf->services[i], err, errlen) != 0)
            goto fail;
        if (svc_own_strings(&s->svcs[i]) != 0 || glb_map_service_size(&s->svcs[i].m) == 0 ||
            glb_map_service_size(&s->svcs[i].m) > GLB_MAP_MAX_FRAME - FRAME_OVERHEAD) {
            char nm[1024];
            snprintf(err, errlen, "service %s does not fit the map protocol's limits",
                     glb_dname_to_str(conf->services[i].name, nm, sizeof(nm)));
            goto fail;
        }
    }
    return s;
fail:
    dnsb_svcset_free(s);
    return NULL;
}

uint64_t dnsb_svcset_serial(const dnsb_svcset *s)
{
    return s->serial;
}

size_t dnsb_svcset_count(const dnsb_svcset *s)
{
    return s->n;
}

static const svc *find(const dnsb_svcset *s, const uint8_t *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (glb_dname_equal(s->svcs[i].name, name))
            return &s->svcs[i];
    return NULL;
}

static int svc_same(const svc *a, const svc *b)
{
    return a->cmplen == b->cmplen && memcmp(a->cmp, b->cmp, a->cmplen) == 0;
}

int dnsb_svcset_same(const dnsb_svcset *a, const dnsb_svcset *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const svc *o = find(b, a->svcs[i].name);
        if (!o || !svc_same(&a->svcs[i], o))
            return 0;
    }
    return 1;
}

/* Packs the services and removals into consecutive parts. */
static int pack(const dnsb_svcset *cur, const dnsb_svcset *base, const glb_map_service *list, size_t n,
                const uint8_t *const *removed, size_t nremoved, struct evbuffer *out)
{
    uint8_t *buf = malloc(GLB_MAP_MAX_FRAME);
    struct evbuffer *tmp = evbuffer_new();
    int frames = 0;
    size_t i = 0, r = 0;
    if (!buf || !tmp)
        goto fail;
    do {
        glb_map_services m = {.serial = cur->serial, .kind = base ? GLB_MAP_SERVICES_DELTA : GLB_MAP_SERVICES_FULL,
                              .has_base = base != NULL, .base = base ? base->serial : 0, .part = (uint32_t)frames};
        size_t room = GLB_MAP_MAX_FRAME - FRAME_OVERHEAD, first = i;
        while (i < n && i - first < GLB_MAP_MAX_SERVICES && glb_map_service_size(&list[i]) <= room)
            room -= glb_map_service_size(&list[i++]);
        size_t firstr = r;
        while (r < nremoved && r - firstr < GLB_MAP_MAX_SERVICES &&
               GLB_MAP_TLV_HEADER_LEN + glb_dname_len(removed[r]) <= room)
            room -= GLB_MAP_TLV_HEADER_LEN + glb_dname_len(removed[r++]);
        m.services = list + first;
        m.nservices = i - first;
        m.removed = removed + firstr;
        m.nremoved = r - firstr;
        m.more = i < n || r < nremoved;
        size_t len;
        if (frames >= GLB_MAP_MAX_PARTS || glb_map_encode_services(&m, buf, GLB_MAP_MAX_FRAME, &len) != GLB_MAP_OK ||
            evbuffer_add(tmp, buf, len) != 0)
            goto fail;
        frames++;
    } while (i < n || r < nremoved);
    evbuffer_add_buffer(out, tmp);
    evbuffer_free(tmp);
    free(buf);
    return frames;
fail:
    if (tmp)
        evbuffer_free(tmp);
    free(buf);
    return -1;
}

int dnsb_svcset_frames(const dnsb_svcset *cur, const dnsb_svcset *base, struct evbuffer *out)
{
    glb_map_service *list = malloc((cur->n ? cur->n : 1) * sizeof(*list));
    const uint8_t **removed = malloc((base && base->n ? base->n : 1) * sizeof(*removed));
    size_t n = 0, nremoved = 0;
    int rc = -1;
    if (!list || !removed)
        goto done;
    for (size_t i = 0; i < cur->n; i++) {
        const svc *o = base ? find(base, cur->svcs[i].name) : NULL;
        if (!base || !o || !svc_same(o, &cur->svcs[i]))
            list[n++] = cur->svcs[i].m;
    }
    for (size_t i = 0; base && i < base->n; i++)
        if (!find(cur, base->svcs[i].name))
            removed[nremoved++] = base->svcs[i].name;
    rc = pack(cur, base, list, n, (const uint8_t *const *)removed, nremoved, out);
done:
    free(list);
    free(removed);
    return rc;
}
