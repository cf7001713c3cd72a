/* The DNS-LB's answers, read from the published table. No allocation.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/answer.h"

#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/answerset.h"
#include "shared/dnsquery.h"
#include "shared/dnsresp.h"

const char *const lb_stat_names[LB_ST_COUNT] = {
    "queries", "answers", "failopen", "zone", "nodata", "nxdomain", "refused",
    "formerr", "notimp", "badvers", "dropped", "truncated", "stale", "recursion",
};

#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 604800
#define SOA_MINIMUM 60

typedef struct ctx {
    const lb_table *t;
    const glb_query *q;
    glb_resp *r;
    const uint8_t *apex;  /* <label>.<service> within the question as sent */
    uint32_t svc;
    lb_stats *st;
} ctx;

static void add_soa(ctx *c, int sec)
{
    uint8_t mname[GLB_DNAME_MAX], rname[GLB_DNAME_MAX];
    glb_dname_prepend("ns", 2, c->apex, mname);
    glb_dname_prepend("hostmaster", 10, c->apex, rname);
    uint32_t ttl = c->t->svcs[c->svc].ttl;
    if (sec != GLB_SEC_ANSWER && ttl > SOA_MINIMUM)
        ttl = SOA_MINIMUM;
    glb_resp_add_soa(c->r, sec, c->apex, ttl, mname, rname, c->t->serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE,
                     SOA_MINIMUM);
}

/* NODATA or NXDOMAIN with the SOA, but not for QCLASS ANY, which is not
 * authoritative (as dnsb and NSD answer it). */
static void negative(ctx *c, unsigned rcode)
{
    glb_resp_set_rcode(c->r, rcode);
    if (c->q->qclass != GLB_CLASS_ANY)
        add_soa(c, GLB_SEC_AUTHORITY);
    c->st->n[rcode == GLB_RCODE_NXDOMAIN ? LB_ST_NXDOMAIN : LB_ST_NODATA]++;
}

static int wants(uint16_t qtype, uint16_t type)
{
    return qtype == type || qtype == GLB_TYPE_ANY;
}

static int wants_family(uint16_t qtype, int family)
{
    return qtype == GLB_TYPE_ANY || (qtype == GLB_TYPE_A && family == AF_INET) ||
           (qtype == GLB_TYPE_AAAA && family == AF_INET6);
}

/* This box's addresses as owner (ns.<apex>); returns how many were added. */
static int add_ns_addrs(ctx *c, int sec, const uint8_t *owner)
{
    int n = 0;
    for (size_t i = 0; i < c->t->nns; i++)
        if (sec != GLB_SEC_ANSWER || wants_family(c->q->qtype, c->t->ns[i].family))
            n += glb_resp_add_addr(c->r, sec, owner, c->t->svcs[c->svc].ttl, &c->t->ns[i]) == 0;
    return n;
}

/* Adds the addresses of one ranked site the query asks for. */
static int add_site(ctx *c, const lb_tsite *s, uint32_t ttl)
{
    int n = 0;
    for (uint32_t a = 0; a < s->naddrs; a++) {
        const glb_addr *ad = &c->t->addrs[s->addr_first + a];
        if (wants_family(c->q->qtype, ad->family))
            n += glb_resp_add_addr(c->r, GLB_SEC_ANSWER, c->q->qname, ttl, ad) == 0;
    }
    return n;
}

/* With proxy-answer, the proxy addresses. Otherwise the answer set (shared/answerset.h): the sites as good as the best, at
 * most answer-count of them; when none of them has an address of the asked
 * family, the best site that has one. Fail-open gives every site, since
 * nothing tells which of them still works. */
static int add_sites(ctx *c)
{
    const lb_tsvc *sv = &c->t->svcs[c->svc];
    const lb_tsite *sites = c->t->sites + sv->first;
    if (sv->proxy_answer) { /* proxy-answer: this box's cache engine, which fetches from the best site */
        int added = 0;
        for (size_t k = 0; k < c->t->nproxy; k++)
            if (wants_family(c->q->qtype, c->t->proxy[k].family))
                added += glb_resp_add_addr(c->r, GLB_SEC_ANSWER, c->q->qname, sv->ttl, &c->t->proxy[k]) == 0;
        return added;
    }
    if (sv->failopen) {
        int added = 0;
        for (size_t k = 0; k < sv->count; k++)
            added += add_site(c, &sites[k], sv->ttl);
        return added;
    }
    unsigned w[GLB_ANSWER_MAX];
    uint32_t set[GLB_ANSWER_MAX];
    size_t share = sv->share < sv->count ? sv->share : sv->count;
    if (share > GLB_ANSWER_MAX)
        share = GLB_ANSWER_MAX;
    for (size_t k = 0; k < share; k++)
        w[k] = sites[k].weight;
    size_t n = glb_answer_set(w, share, sv->answer_count, c->st->n[LB_ST_QUERIES], set);
    int added = 0;
    for (size_t k = 0; k < n; k++)
        added += add_site(c, &sites[set[k]], sv->ttl);
    /* No site of the set has the asked family: the best one that has. */
    for (size_t k = share; !added && k < sv->count; k++)
        added = add_site(c, &sites[k], sv->ttl);
    return added;
}

static void apex_answer(ctx *c)
{
    uint16_t qt = c->q->qtype;
    int any = 0;
    if (wants(qt, GLB_TYPE_SOA)) {
        add_soa(c, GLB_SEC_ANSWER);
        any = 1;
    }
    if (wants(qt, GLB_TYPE_NS)) {
        uint8_t ns[GLB_DNAME_MAX];
        glb_dname_prepend("ns", 2, c->apex, ns);
        glb_resp_add_name(c->r, GLB_SEC_ANSWER, c->apex, GLB_TYPE_NS, c->t->svcs[c->svc].ttl, ns);
        add_ns_addrs(c, GLB_SEC_ADDITIONAL, ns);
        any = 1;
    }
    if (any)
        c->st->n[LB_ST_ZONE]++;
    if (qt == GLB_TYPE_A || qt == GLB_TYPE_AAAA || qt == GLB_TYPE_ANY) {
        if (add_sites(c) > 0) {
            c->st->n[c->t->svcs[c->svc].failopen ? LB_ST_FAILOPEN : LB_ST_ANSWERS]++;
            any = 1;
        }
    }
    if (!any)
        negative(c, GLB_RCODE_NOERROR);
}

/* Asks the prober for fresh checks when the data behind this service is
 * too old (once until the prober has looked). */
static void check_stale(ctx *c, double now)
{
    const lb_table *t = c->t;
    if (now <= t->svcs[c->svc].stale_at || !t->wake)
        return;
    if (atomic_exchange_explicit(&t->want_refresh[c->svc], 1, memory_order_relaxed) == 0) {
        event_active(t->wake, EV_READ, 0);
        c->st->n[LB_ST_STALE]++;
    }
}

/* Finds the service of q: its qname is <label>.<service> or below it. 1 with
 * the service's index, the offsets of the labels one and two above the
 * service, and the depth below it; 0 when no service holds the name. */
static int find_service(const lb_table *t, const glb_query *q, uint32_t *svc, size_t *prev, size_t *prev2,
                        int *depth)
{
    const uint8_t *qn = q->qname_lc;
    size_t pos = 0;
    /* QCLASS ANY gets the class IN data, without AA (glb_resp_set_aa). */
    if (q->qclass != GLB_CLASS_IN && q->qclass != GLB_CLASS_ANY)
        return 0;
    for (;;) {
        if (*depth >= 1 && glb_nametab_get(t->index, qn + pos, q->qname_len - pos, svc))
            return 1;
        if (qn[pos] == 0)
            return 0;
        *prev2 = *prev;
        *prev = pos;
        pos += (size_t)qn[pos] + 1;
        (*depth)++;
    }
}

int lb_answer_serves(const lb_table *t, const glb_query *q)
{
    uint32_t svc;
    size_t prev = 0, prev2 = 0;
    int depth = 0;
    return find_service(t, q, &svc, &prev, &prev2, &depth);
}

size_t lb_answer(const lb_table *t, const uint8_t *pkt, size_t len, int tcp, double now, uint8_t *out,
                 size_t outcap, lb_stats *st)
{
    static const int parse_stat[] = {
        [GLB_PARSE_DROP] = LB_ST_DROPPED,
        [GLB_PARSE_FORMERR] = LB_ST_FORMERR,
        [GLB_PARSE_NOTIMP] = LB_ST_NOTIMP,
        [GLB_PARSE_BADVERS] = LB_ST_BADVERS,
    };
    glb_query q;
    glb_resp r;
    size_t reply_len;
    st->n[LB_ST_QUERIES]++;
    enum glb_parse_result res = glb_resp_start(&r, &q, pkt, len, tcp, t->edns_size, out, outcap, &reply_len);
    if (res != GLB_PARSE_OK) {
        st->n[parse_stat[res]]++;
        return reply_len;
    }
    ctx c = {t, &q, &r, NULL, 0, st};
    const uint8_t *qn = q.qname_lc;
    size_t prev = 0, prev2 = 0;
    int depth = 0, found = find_service(t, &q, &c.svc, &prev, &prev2, &depth);
    if (!found || q.qtype == GLB_TYPE_AXFR || q.qtype == GLB_TYPE_IXFR) { /* no zone transfers */
        glb_resp_set_rcode(&r, GLB_RCODE_REFUSED);
        st->n[LB_ST_REFUSED]++;
    } else {
        c.apex = q.qname + prev; /* the label just above the service, as sent */
        glb_resp_set_aa(&r, 1);
        check_stale(&c, now);
        if (depth == 1) {
            apex_answer(&c);
        } else if (depth == 2 && qn[prev2] == 2 && qn[prev2 + 1] == 'n' && qn[prev2 + 2] == 's') {
            if (add_ns_addrs(&c, GLB_SEC_ANSWER, q.qname) > 0)
                st->n[LB_ST_ZONE]++;
            else
                negative(&c, GLB_RCODE_NOERROR);
        } else {
            negative(&c, GLB_RCODE_NXDOMAIN);
        }
    }
    if (r.truncated)
        st->n[LB_ST_TRUNCATED]++;
    return glb_resp_finish(&r, t->edns_size, q.ecs ? 0 : -1);
}
