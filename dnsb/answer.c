/* Answering: find the closest name we know, then the mapping, then write the
 * records. No allocation; everything is read from the table.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/answer.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/answerset.h"
#include "shared/dnsquery.h"
#include "shared/dnsresp.h"

const char *const dnsb_stat_names[DNSB_ST_COUNT] = {
    "queries", "referral", "delegation", "direct", "proxy", "failopen",
    "whoami", "zone", "nodata", "nxdomain", "refused", "formerr",
    "notimp", "badvers", "dropped", "truncated", "ecs",
};

/* SOA timers: refresh, retry, expire, and the negative-caching TTL. Short
 * negative TTL: a name that is missing now may be registered soon. */
#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 604800
#define SOA_MINIMUM 60

/* Everything one answer needs, gathered once. */
typedef struct ctx {
    const dnsb_table *t;
    const glb_query *q;
    glb_resp *r;
    const glb_addr *from;  /* the packet's source */
    const glb_addr *who;   /* whom the answer is for: from, or the client subnet */
    unsigned keylen;       /* bits of who that count */
    int ecs_scope;         /* scope to echo, -1 for none */
    dnsb_stats *st;
    const dnsb_map *m;     /* who serves which resolvers */
    uint32_t slots[DNSB_LB_MAX_SET]; /* the client's DNS-LBs, after map_client */
    size_t nslots;
} ctx;

static int wants(uint16_t qtype, uint16_t type)
{
    return qtype == type || qtype == GLB_TYPE_ANY;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void add_soa(ctx *c, int sec, uint32_t zone)
{
    const dnsb_conf *cf = c->t->conf;
    uint32_t ttl = sec == GLB_SEC_ANSWER ? cf->zone_ttl : min_u32(cf->zone_ttl, SOA_MINIMUM);
    glb_resp_add_soa(c->r, sec, c->t->zones[zone].apex, ttl, cf->zone_ns[0].name, cf->contact,
                     c->t->zones[zone].serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM);
}

/* NODATA (rcode 0) or NXDOMAIN: the zone's SOA in authority. */
static void negative(ctx *c, uint32_t zone, unsigned rcode)
{
    glb_resp_set_aa(c->r, 1);
    glb_resp_set_rcode(c->r, rcode);
    add_soa(c, GLB_SEC_AUTHORITY, zone);
    c->st->n[rcode == GLB_RCODE_NXDOMAIN ? DNSB_ST_NXDOMAIN : DNSB_ST_NODATA]++;
}

/* The zone's NS set (the DNS-B name servers) and their addresses. */
static void add_zone_ns(ctx *c, int sec, uint32_t zone)
{
    const dnsb_conf *cf = c->t->conf;
    for (size_t i = 0; i < cf->nzone_ns; i++)
        glb_resp_add_name(c->r, sec, c->t->zones[zone].apex, GLB_TYPE_NS, cf->zone_ttl, cf->zone_ns[i].name);
    for (size_t i = 0; i < cf->nzone_ns; i++)
        if (glb_dname_sub(cf->zone_ns[i].name, cf->zone) >= 0)
            glb_resp_add_addr(c->r, GLB_SEC_ADDITIONAL, cf->zone_ns[i].name, cf->zone_ttl, &cf->zone_ns[i].addr);
}

/* SOA, NS or ANY at a zone apex; anything else there is NODATA. */
static void apex_answer(ctx *c, uint32_t zone)
{
    uint16_t qt = c->q->qtype;
    if (!wants(qt, GLB_TYPE_SOA) && !wants(qt, GLB_TYPE_NS)) {
        negative(c, zone, GLB_RCODE_NOERROR);
        return;
    }
    glb_resp_set_aa(c->r, 1);
    if (wants(qt, GLB_TYPE_SOA))
        add_soa(c, GLB_SEC_ANSWER, zone);
    if (wants(qt, GLB_TYPE_NS))
        add_zone_ns(c, GLB_SEC_ANSWER, zone);
    c->st->n[DNSB_ST_ZONE]++;
}

static int family_of(uint16_t qtype)
{
    return qtype == GLB_TYPE_A ? AF_INET : qtype == GLB_TYPE_AAAA ? AF_INET6 : 0;
}

/* Adds a's address if the query asks for its family. Returns 1 if added. */
static int add_if_wanted(ctx *c, const glb_addr *a, uint32_t ttl)
{
    int fam = family_of(c->q->qtype);
    if (c->q->qtype != GLB_TYPE_ANY && fam != a->family)
        return 0;
    return glb_resp_add_addr(c->r, GLB_SEC_ANSWER, c->q->qname, ttl, a) == 0;
}

static int is_address_query(uint16_t qt)
{
    return qt == GLB_TYPE_A || qt == GLB_TYPE_AAAA || qt == GLB_TYPE_ANY;
}

/* Site addresses in the given order. Returns how many records were added. */
static int add_sites(ctx *c, const dnsb_service *s, const uint32_t *order, size_t n)
{
    int added = 0;
    for (size_t i = 0; i < n; i++) {
        const glb_site *site = &s->conf->sites[order[i]];
        for (size_t a = 0; a < site->naddrs; a++)
            added += add_if_wanted(c, &site->addrs[a], s->conf->ttl_answer);
    }
    return added;
}

/* Builds <label>.<service> into out; returns its length, 0 if too long. */
static size_t lb_zone_name(const dnsb_lb *lb, const dnsb_service *s, uint8_t *out)
{
    return glb_dname_prepend((const char *)lb->label + 1, lb->label[0], s->conf->name, out);
}

/* The delegation of zone (= <primary>.<service>) to the DNS-LBs of the
 * client's set (the primary first) or the primary alone: NS ns.<lb>.<service>
 * in authority, their addresses in additional. Missing glue of the primary
 * sets TC (RFC 9471). */
static void delegation(ctx *c, const dnsb_service *s, const uint8_t *zone, uint32_t primary, int with_set)
{
    uint32_t ttl = s->conf->ttl_referral;
    uint32_t members[DNSB_LB_MAX_SET];
    size_t n = 0;
    members[n++] = primary;
    for (size_t i = 0; with_set && i < c->nslots; i++)
        if (c->slots[i] != primary)
            members[n++] = c->slots[i];
    uint8_t host[GLB_DNAME_MAX], lbzone[GLB_DNAME_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!lb_zone_name(dnsb_map_lb(c->m, members[i]), s, lbzone) || !glb_dname_prepend("ns", 2, lbzone, host))
            continue;
        glb_resp_add_name(c->r, GLB_SEC_AUTHORITY, zone, GLB_TYPE_NS, ttl, host);
    }
    for (size_t i = 0; i < n; i++) {
        const dnsb_lb *lb = dnsb_map_lb(c->m, members[i]);
        if (!lb_zone_name(lb, s, lbzone) || !glb_dname_prepend("ns", 2, lbzone, host))
            continue;
        for (size_t a = 0; a < lb->ndns; a++)
            if (glb_resp_add_addr(c->r, GLB_SEC_ADDITIONAL, host, ttl, &lb->dns[a]) != 0 && i == 0) {
                glb_resp_truncate(c->r);
                return;
            }
    }
}

/* The DNS-LBs serving the client, into c->slots; the ECS scope follows the
 * mapping. A client subnet that no DNS-LB claims falls back to the
 * resolver's own mapping: its DNS-LB is the best guess for its clients. The
 * scope stays the subnet lookup's, which spans no claimed client prefix, so
 * the resolver reuses the answer only where the fallback holds too.
 * Returns how many. */
static size_t map_client(ctx *c)
{
    unsigned scope, s2;
    c->nslots = dnsb_map_lookup(c->m, c->who, c->keylen, &scope, c->slots);
    if (c->nslots == 0 && c->who != c->from)
        c->nslots = dnsb_map_lookup(c->m, c->from, (unsigned)glb_addr_bytes(c->from->family) * 8, &s2, c->slots);
    if (c->ecs_scope >= 0)
        c->ecs_scope = (int)scope;
    return c->nslots;
}

static void fail_open(ctx *c, const dnsb_service *s)
{
    glb_resp_set_aa(c->r, 1);
    if (!is_address_query(c->q->qtype) ||
        add_sites(c, s, s->by_weight, s->conf->nsites) == 0) {
        negative(c, s->zone, GLB_RCODE_NOERROR);
        return;
    }
    c->st->n[DNSB_ST_FAILOPEN]++;
}

/* Direct mode: the answer set of lb's ranking for s (shared/answerset.h):
 * the sites as good as the best, at most answer-count; when none of them
 * has an address of the asked family, the best ranked site that has one. */
static int add_ranked(ctx *c, const dnsb_service *s, const dnsb_lb *lb)
{
    for (size_t r = 0; r < lb->nrankings; r++) {
        const dnsb_ranking *rk = &lb->rankings[r];
        if (!glb_dname_equal(rk->service, s->conf->name))
            continue;
        uint32_t idx[GLB_ANSWER_MAX], set[GLB_ANSWER_MAX];
        unsigned w[GLB_ANSWER_MAX];
        size_t n = 0;
        for (size_t k = 0; k < rk->nsites && n < GLB_ANSWER_MAX; k++)
            for (size_t m = 0; m < s->conf->nsites; m++)
                if (strcmp(s->conf->sites[m].name, rk->sites[k]) == 0) {
                    idx[n] = (uint32_t)m;
                    w[n++] = s->conf->sites[m].weight;
                    break;
                }
        size_t share = rk->share < n ? rk->share : n;
        size_t k = glb_answer_set(w, share, s->conf->answer_count, c->st->n[DNSB_ST_QUERIES], set);
        int added = 0;
        for (size_t i = 0; i < k; i++)
            added += add_sites(c, s, &idx[set[i]], 1);
        for (size_t i = share; !added && i < n; i++)
            added = add_sites(c, s, &idx[i], 1);
        return added;
    }
    return 0;
}

/* A query for the service name itself. */
static void service_answer(ctx *c, uint32_t index)
{
    const dnsb_service *s = &c->t->services[index];
    uint16_t qt = c->q->qtype;
    if (s->apex && (qt == GLB_TYPE_SOA || qt == GLB_TYPE_NS)) {
        apex_answer(c, s->zone);
        return;
    }
    if (s->apex && qt == GLB_TYPE_DS /* the parent's: we hold none */) {
        negative(c, s->zone, GLB_RCODE_NOERROR);
        return;
    }
    size_t n = map_client(c);

    if (s->conf->mode == DNSB_MODE_REFERRAL) {
        uint8_t target[GLB_DNAME_MAX];
        if (n == 0 || !lb_zone_name(dnsb_map_lb(c->m, c->slots[0]), s, target)) {
            fail_open(c, s);
            return;
        }
        glb_resp_set_aa(c->r, 1);
        if (glb_resp_add_name(c->r, GLB_SEC_ANSWER, c->q->qname, GLB_TYPE_CNAME, s->conf->ttl_referral, target) == 0)
            delegation(c, s, target, c->slots[0], 1);
        c->st->n[DNSB_ST_REFERRAL]++;
        return;
    }
    if (n == 0 || !is_address_query(qt)) {
        fail_open(c, s);
        return;
    }
    glb_resp_set_aa(c->r, 1);
    int added = 0;
    if (s->conf->mode == DNSB_MODE_DIRECT) {
        /* The first DNS-LB of the set that reported a ranking for this service. */
        for (size_t i = 0; i < n && !added; i++)
            added = add_ranked(c, s, dnsb_map_lb(c->m, c->slots[i]));
    } else {
        /* The set's DNS-LBs serve this resolver alike (the same prefix):
         * their proxies, primary first, at most answer-count of them. */
        for (size_t i = 0; i < n && (unsigned)added < s->conf->answer_count; i++) {
            const dnsb_lb *lb = dnsb_map_lb(c->m, c->slots[i]);
            for (size_t a = 0; a < lb->nproxy && (unsigned)added < s->conf->answer_count; a++)
                added += add_if_wanted(c, &lb->proxy[a], s->conf->ttl_answer);
        }
    }
    if (!added) {
        fail_open(c, s);
        return;
    }
    c->st->n[s->conf->mode == DNSB_MODE_DIRECT ? DNSB_ST_DIRECT : DNSB_ST_PROXY]++;
}

/* A query at or below <label>.<service>: the delegation to that DNS-LB. */
static void lb_zone_answer(ctx *c, uint32_t index, const uint8_t *label, int depth)
{
    const dnsb_service *s = &c->t->services[index];
    long lb = dnsb_map_find(c->m, label);
    uint8_t zone[GLB_DNAME_MAX];
    if (lb < 0 || !lb_zone_name(dnsb_map_lb(c->m, (uint32_t)lb), s, zone)) {
        negative(c, s->zone, GLB_RCODE_NXDOMAIN);
        return;
    }
    if (depth == 1 && c->q->qtype == GLB_TYPE_DS) {
        /* DS sits on our side of the cut: none (the LB zone is unsigned). */
        negative(c, s->zone, GLB_RCODE_NOERROR);
        return;
    }
    /* The whole set when this LB is one of the resolver's, else the LB alone. */
    size_t n = map_client(c);
    int member = 0;
    for (size_t i = 0; i < n; i++)
        member |= c->slots[i] == (uint32_t)lb;
    delegation(c, s, zone, (uint32_t)lb, member);
    c->st->n[DNSB_ST_DELEGATION]++;
}

static void whoami_answer(ctx *c, int depth)
{
    if (depth == 0 || !wants(c->q->qtype, GLB_TYPE_TXT)) {
        negative(c, 0, GLB_RCODE_NOERROR);
        return;
    }
    char src[GLB_ADDRSTRLEN + 8], ecs[GLB_ADDRSTRLEN + 8], a[GLB_ADDRSTRLEN];
    const char *strs[2] = {src, ecs};
    snprintf(src, sizeof(src), "src=%s", glb_addr_str(c->from, a, sizeof(a)));
    size_t n = 1;
    if (c->q->ecs) {
        glb_prefix p = {c->q->ecs_addr.family, c->q->ecs_source, {0}};
        memcpy(p.b, c->q->ecs_addr.b, sizeof(p.b));
        snprintf(ecs, sizeof(ecs), "ecs=%s", glb_prefix_str(&p, a, sizeof(a)));
        n = 2;
        c->ecs_scope = c->q->ecs_source;
    }
    glb_resp_set_aa(c->r, 1);
    glb_resp_add_txt(c->r, GLB_SEC_ANSWER, c->q->qname, 0, strs, n);
    c->st->n[DNSB_ST_WHOAMI]++;
}

static void nshost_answer(ctx *c, uint32_t index)
{
    const dnsb_zone_ns *ns = &c->t->conf->zone_ns[index];
    glb_resp_set_aa(c->r, 1);
    if (!add_if_wanted(c, &ns->addr, c->t->conf->zone_ttl)) {
        negative(c, 0, GLB_RCODE_NOERROR);
        return;
    }
    c->st->n[DNSB_ST_ZONE]++;
}

/* Finds the closest name we know at or above qname and answers from it. */
static void lookup(ctx *c)
{
    const dnsb_table *t = c->t;
    const uint8_t *qn = c->q->qname_lc;
    size_t pos = 0, prev = 0;
    int depth = 0;
    for (;;) {
        uint32_t at;
        if (glb_nametab_get(t->name_index, qn + pos, c->q->qname_len - pos, &at)) {
            const dnsb_name *n = &t->names[at];
            switch (n->kind) {
            case DNSB_NAME_ZONE:
                if (depth == 0)
                    apex_answer(c, n->zone);
                else
                    negative(c, n->zone, GLB_RCODE_NXDOMAIN);
                return;
            case DNSB_NAME_SERVICE:
                if (depth == 0)
                    service_answer(c, n->index);
                else
                    lb_zone_answer(c, n->index, qn + prev, depth);
                return;
            case DNSB_NAME_WHOAMI:
                whoami_answer(c, depth);
                return;
            case DNSB_NAME_NSHOST:
                if (depth == 0) {
                    nshost_answer(c, n->index);
                    return;
                }
                break;
            case DNSB_NAME_ENT:
                if (depth == 0) {
                    negative(c, n->zone, GLB_RCODE_NOERROR);
                    return;
                }
                break;
            }
        }
        if (qn[pos] == 0)
            break;
        prev = pos;
        pos += (size_t)qn[pos] + 1;
        depth++;
    }
    glb_resp_set_rcode(c->r, GLB_RCODE_REFUSED);
    c->st->n[DNSB_ST_REFUSED]++;
}

size_t dnsb_answer(const dnsb_table *t, const dnsb_map *m, const uint8_t *pkt, size_t len, const glb_addr *from, int tcp,
                   uint8_t *out, size_t outcap, dnsb_stats *st)
{
    static const int parse_stat[] = {
        [GLB_PARSE_DROP] = DNSB_ST_DROPPED,
        [GLB_PARSE_FORMERR] = DNSB_ST_FORMERR,
        [GLB_PARSE_NOTIMP] = DNSB_ST_NOTIMP,
        [GLB_PARSE_BADVERS] = DNSB_ST_BADVERS,
    };
    glb_query q;
    glb_resp r;
    size_t reply_len;
    uint16_t edns = (uint16_t)t->conf->edns_size;
    st->n[DNSB_ST_QUERIES]++;
    enum glb_parse_result res = glb_resp_start(&r, &q, pkt, len, tcp, edns, out, outcap, &reply_len);
    if (res != GLB_PARSE_OK) {
        st->n[parse_stat[res]]++;
        return reply_len;
    }
    ctx c = {t, &q, &r, from, from, (unsigned)glb_addr_bytes(from->family) * 8, -1, st, m, {0}, 0};
    if (q.ecs) {
        st->n[DNSB_ST_ECS]++;
        c.ecs_scope = 0;
        if (q.ecs_source > 0) { /* source 0: the resolver asks us not to use it */
            c.who = &q.ecs_addr;
            c.keylen = q.ecs_source;
        }
    }
    if (q.qclass != GLB_CLASS_IN && q.qclass != GLB_TYPE_ANY) {
        glb_resp_set_rcode(&r, GLB_RCODE_REFUSED);
        st->n[DNSB_ST_REFUSED]++;
    } else if (q.qtype == GLB_TYPE_AXFR || q.qtype == GLB_TYPE_IXFR) {
        glb_resp_set_rcode(&r, GLB_RCODE_REFUSED); /* no zone transfers */
        st->n[DNSB_ST_REFUSED]++;
    } else {
        lookup(&c);
    }
    if (r.truncated)
        st->n[DNSB_ST_TRUNCATED]++;
    if (q.ecs && q.ecs_source == 0)
        c.ecs_scope = 0;
    return glb_resp_finish(&r, edns, c.ecs_scope);
}
