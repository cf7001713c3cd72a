/* The combined box's agents' state and answer tables (agents.h): each
 * agent's fresh metrics ranked with the box's policies (the same score,
 * lb_rank and answer sets as its own measurements), published with the
 * client prefixes the agents registered for the answering threads.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "dnslb/agents_int.h"
#include "shared/clock.h"
#include "shared/log.h"
#include "shared/measure/ewma.h"
#include "shared/measure/health.h"
#include "shared/measure/policy.h"

const lb_agent_allow *lba_allow(const lb_agents *a, const char *id)
{
    for (size_t i = 0; a->conf && i < a->conf->agents.nallow; i++)
        if (strcmp(a->conf->agents.allow[i].id, id) == 0)
            return &a->conf->agents.allow[i];
    return NULL;
}

agent *lba_agent(lb_agents *a, const char *id)
{
    for (size_t i = 0; i < a->nagents; i++)
        if (strcmp(a->agents[i]->id, id) == 0)
            return a->agents[i];
    agent **more = realloc(a->agents, (a->nagents + 1) * sizeof(*more));
    agent *ag = more ? calloc(1, sizeof(*ag)) : NULL;
    if (more)
        a->agents = more;
    if (!ag)
        return NULL;
    snprintf(ag->id, sizeof(ag->id), "%s", id);
    a->agents[a->nagents++] = ag;
    return ag;
}

int lba_metric_put(agent *ag, const glb_map_metric *m, double now)
{
    metric *x = NULL;
    size_t sl = m->service ? glb_dname_len(m->service) : 0;
    uint8_t svc[GLB_DNAME_MAX] = {0};
    if (m->service) {
        memcpy(svc, m->service, sl);
        glb_dname_tolower(svc);
    }
    for (size_t i = 0; i < ag->nm && !x; i++)
        if (strcmp(ag->m[i].site, m->site) == 0 && ag->m[i].has_svc == (m->service != NULL) &&
            (!m->service || glb_dname_equal(ag->m[i].svc, svc)))
            x = &ag->m[i];
    if (!x) {
        if (ag->nm >= LBA_MAX_METRICS)
            return -1;
        metric *more = realloc(ag->m, (ag->nm + 1) * sizeof(*more));
        if (!more)
            return -1;
        ag->m = more;
        x = &ag->m[ag->nm++];
        memset(x, 0, sizeof(*x));
        snprintf(x->site, sizeof(x->site), "%s", m->site);
        x->has_svc = m->service != NULL;
        memcpy(x->svc, svc, sizeof(svc));
    }
    x->latency_ms = m->latency / 1000.0;
    x->loss = m->loss / 1e6;
    x->samples = m->samples;
    x->state = m->state;
    x->recv = now;
    return 0;
}

/* The agent's metric for site in service svc: one for that service, else one without. */
static const metric *find_metric(const agent *ag, const uint8_t *svc, const char *site)
{
    const metric *any = NULL;
    for (size_t i = 0; i < ag->nm; i++) {
        const metric *x = &ag->m[i];
        if (strcmp(x->site, site) != 0)
            continue;
        if (x->has_svc && glb_dname_equal(x->svc, svc))
            return x;
        if (!x->has_svc)
            any = x;
    }
    return any;
}

static int is_fresh(const lb_agents *a, const agent *ag, double now)
{
    return ag->newest > 0 && now - ag->newest <= a->max_age && now < ag->claims_until; /* and registered */
}

/* The agent's answer table: each service's sites ranked from its metrics. */
static lb_table *agent_table(const lb_agents *a, const agent *ag, double now)
{
    const lb_conf *c = a->conf;
    lb_table *t = lb_table_new(c, (uint32_t)(a->serial & 0xffffffffu), NULL);
    if (!t)
        return NULL;
    for (size_t i = 0; i < c->nservices; i++) {
        const lb_service_conf *sc = &c->services[i];
        size_t n = sc->nsites;
        lb_rank_in *in = calloc(n ? n : 1, sizeof(*in));
        uint32_t *order = calloc(n ? n : 1, sizeof(*order));
        const glb_site **ranked = calloc(n ? n : 1, sizeof(*ranked));
        if (!in || !order || !ranked) {
            free(in), free(order), free(ranked);
            lb_table_free(t);
            return NULL;
        }
        for (size_t j = 0; j < n; j++) {
            const glb_site *s = &sc->sites[j];
            const metric *x = find_metric(ag, sc->name, s->name);
            int fresh = x && now - x->recv <= a->max_age;
            in[j].state = !fresh                           ? LB_SITE_UNKNOWN
                          : x->state == GLB_MAP_STATE_UP   ? LB_SITE_ALIVE
                          : x->state == GLB_MAP_STATE_DOWN ? LB_SITE_DEAD
                                                           : LB_SITE_UNKNOWN;
            in[j].score = fresh && x->samples ? glb_score(&c->probe.score, x->latency_ms, x->loss) : NAN;
            in[j].cost = s->cost;
            in[j].distance_km = NAN; /* the agent's place is not known */
            in[j].weight = s->weight;
        }
        lb_rank_out out = {order, 0, 1, 0};
        lb_rank(&sc->policy, in, n, &out);
        for (size_t k = 0; k < out.count; k++)
            ranked[k] = &sc->sites[order[k]];
        int rc = lb_table_set_rank(t, i, ranked, out.count, out.share, out.failopen, INFINITY);
        free(in), free(order), free(ranked);
        if (rc != 0) {
            lb_table_free(t);
            return NULL;
        }
    }
    return t;
}

static void snap_free(lba_snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        lb_table_free(s->tables[i]);
    free(s->tables);
    glb_lpm_free(s->lpm);
    glb_lpm_free(s->near);
    free(s);
}

void lba_publish_now(lb_agents *a)
{
    if (!a->conf)
        return;
    double now = glb_mono();
    lba_snap *s = calloc(1, sizeof(*s));
    if (!s || !(s->lpm = glb_lpm_new()) || !(s->near = glb_lpm_new()) ||
        !(s->tables = calloc(a->nagents ? a->nagents : 1, sizeof(*s->tables)))) {
        snap_free(s);
        log_err("agents: out of memory: the previous tables stay");
        return;
    }
    s->n = a->nagents;
    for (size_t i = 0; i < a->nagents; i++) {
        agent *ag = a->agents[i];
        ag->fresh = is_fresh(a, ag, now);
        if (!ag->fresh)
            continue;
        if (!(s->tables[i] = agent_table(a, ag, now))) {
            log_err("agents: out of memory ranking %s's measurements", ag->id);
            continue;
        }
        for (size_t k = 0; k < ag->nclaims; k++)
            if (glb_lpm_insert(s->lpm, &ag->claims[k], (uint32_t)i) != 0)
                log_err("agents: out of memory for %s's prefixes", ag->id);
        /* Its address's prefixes, from LBA_NEAR bits to the whole address: a
         * lookup then finds the agent sharing the longest prefix with a
         * client (of agents equally near, the one listed last). */
        int v4 = ag->addr.family == AF_INET;
        for (unsigned len = v4 ? LBA_NEAR_V4 : LBA_NEAR_V6; ag->has_addr && len <= (v4 ? 32u : 128u); len++) {
            glb_prefix p = {.family = ag->addr.family, .len = (uint8_t)len};
            memcpy(p.b, ag->addr.b, sizeof(p.b));
            glb_mask_bits(p.b, glb_addr_bytes(p.family), len);
            if (glb_lpm_insert(s->near, &p, (uint32_t)i) != 0) {
                log_err("agents: out of memory for %s's address", ag->id);
                break;
            }
        }
    }
    a->st.tables++;
    snap_free(glb_qsbr_swap(a->qsbr, &a->snap, s));
}

void lba_age(lb_agents *a, double now)
{
    int changed = 0;
    for (size_t i = 0; i < a->nagents; i++) {
        agent *ag = a->agents[i];
        if (ag->nclaims && now > ag->claims_until) {
            ag->nclaims = 0; /* its registration ran out */
            log_notice("agents: %s's registration expired", ag->id);
        }
        changed |= ag->fresh != is_fresh(a, ag, now);
        /* Half of max-age without news while connected: ask (a quarter apart). */
        if (ag->sess && ag->sess->state == S_UP && ag->sess->acked && ag->newest > 0 &&
            now - ag->newest > a->max_age / 2.0 && now - ag->asked > a->max_age / 4.0) {
            ag->asked = now;
            lba_send_request(ag->sess);
        }
    }
    if (changed)
        lba_publish(a);
}

const lb_table *lb_agents_table(const lb_agents *a, const glb_addr *client)
{
    if (!a)
        return NULL;
    const lba_snap *s = atomic_load_explicit(&((lb_agents *)a)->snap, memory_order_acquire);
    glb_lpm_match m;
    unsigned bits = client->family == AF_INET ? 32 : 128;
    if (!s || ((!glb_lpm_lookup(s->lpm, client, bits, &m) && !glb_lpm_lookup(s->near, client, bits, &m)) ||
               m.value >= s->n))
        return NULL;
    return s->tables[m.value];
}

void lb_agents_report(const lb_agents *a, struct evbuffer *out)
{
    double now = glb_mono();
    char pb[GLB_ADDRSTRLEN], nb[1024];
    for (size_t i = 0; i < a->nagents; i++) {
        const agent *ag = a->agents[i];
        evbuffer_add_printf(out, "agent %s: session %s, %zu claims, %zu metrics, newest %s", ag->id,
                            ag->sess && ag->sess->state == S_UP ? "up" : "down", ag->nclaims, ag->nm,
                            ag->newest > 0 ? "" : "never");
        if (ag->newest > 0)
            evbuffer_add_printf(out, "%.1f s ago", now - ag->newest);
        evbuffer_add_printf(out, ", %s\n", is_fresh(a, ag, now) ? "answering its clients" : "not used");
        for (size_t k = 0; k < ag->nclaims; k++)
            evbuffer_add_printf(out, "  claim %s\n", glb_prefix_str(&ag->claims[k], pb, sizeof(pb)));
        for (size_t k = 0; k < ag->nm; k++)
            evbuffer_add_printf(out, "  site %s/%s: %s, latency %.1f ms, loss %.1f %%, %u samples, %.1f s ago\n",
                                ag->m[k].has_svc ? glb_dname_to_str(ag->m[k].svc, nb, sizeof(nb)) : "*", ag->m[k].site,
                                ag->m[k].state == GLB_MAP_STATE_UP     ? "up"
                                : ag->m[k].state == GLB_MAP_STATE_DOWN ? "down"
                                                                       : "unknown",
                                ag->m[k].latency_ms, ag->m[k].loss * 100, ag->m[k].samples, now - ag->m[k].recv);
    }
}

void lba_free_state(lb_agents *a)
{
    snap_free(atomic_load(&a->snap));
    for (size_t i = 0; i < a->nagents; i++) {
        free(a->agents[i]->m);
        free(a->agents[i]);
    }
    free(a->agents);
}
