/* Building the DNS-LB's answer table. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

lb_table *lb_table_new(const lb_conf *conf, uint32_t serial, struct event *wake)
{
    lb_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->svcs = calloc(conf->nservices + 1, sizeof(*t->svcs));
    t->ns = calloc(conf->nns_addrs + 1, sizeof(*t->ns));
    t->want_refresh = calloc(conf->nservices + 1, sizeof(*t->want_refresh));
    t->index = glb_nametab_new();
    if (!t->svcs || !t->ns || !t->want_refresh || !t->index)
        goto fail;
    t->nsvcs = conf->nservices;
    for (size_t i = 0; i < conf->nservices; i++) {
        const lb_service_conf *s = &conf->services[i];
        lb_tsvc *ts = &t->svcs[i];
        memcpy(ts->name, s->name, glb_dname_len(s->name));
        ts->ttl = s->ttl_answer;
        ts->answer_count = s->answer_count;
        ts->proxy_answer = s->proxy_answer && conf->proxy.naddrs > 0;
        if (glb_nametab_add(t->index, s->name, glb_dname_len(s->name), (uint32_t)i) < 0)
            goto fail;
    }
    if (conf->nns_addrs) /* ns_addrs is NULL without ns-address */
        memcpy(t->ns, conf->ns_addrs, conf->nns_addrs * sizeof(*t->ns));
    t->nns = conf->nns_addrs;
    memcpy(t->proxy, conf->proxy.addrs, sizeof(t->proxy));
    t->nproxy = conf->proxy.naddrs;
    t->serial = serial;
    t->edns_size = (uint16_t)conf->edns_size;
    t->wake = wake;
    return t;
fail:
    lb_table_free(t);
    return NULL;
}

int lb_table_set_rank(lb_table *t, size_t i, const glb_site *const *ranked, size_t n, size_t share, int failopen,
                      double stale_at)
{
    size_t more_addrs = 0;
    for (size_t k = 0; k < n; k++)
        more_addrs += ranked[k]->naddrs;
    lb_tsite *ns = realloc(t->sites, (t->nsites + n + 1) * sizeof(*ns));
    if (!ns)
        return -1;
    t->sites = ns;
    glb_addr *na = realloc(t->addrs, (t->naddrs + more_addrs + 1) * sizeof(*na));
    if (!na)
        return -1;
    t->addrs = na;
    lb_tsvc *ts = &t->svcs[i];
    ts->first = (uint32_t)t->nsites;
    ts->count = (uint32_t)n;
    ts->share = (uint32_t)(share ? share : 1);
    ts->failopen = failopen;
    ts->stale_at = stale_at;
    for (size_t k = 0; k < n; k++) {
        const glb_site *site = ranked[k];
        lb_tsite *out = &t->sites[t->nsites++];
        out->addr_first = (uint32_t)t->naddrs;
        out->naddrs = (uint32_t)site->naddrs;
        out->weight = site->weight;
        memcpy(out->name, site->name, sizeof(out->name));
        memcpy(t->addrs + t->naddrs, site->addrs, site->naddrs * sizeof(*t->addrs));
        t->naddrs += site->naddrs;
    }
    return 0;
}

void lb_table_free(lb_table *t)
{
    if (!t)
        return;
    free(t->svcs);
    free(t->sites);
    free(t->addrs);
    free(t->ns);
    free((void *)t->want_refresh);
    glb_nametab_free(t->index);
    free(t);
}

/* --- the prober's sink ------------------------------------------------- */

static void *sink_table_new(void *arg, struct event *wake)
{
    lb_table_pub *pub = arg;
    return lb_table_new(pub->conf, (uint32_t)time(NULL), wake);
}

static int sink_set_rank(void *table, size_t svc, const glb_site *const *ranked, size_t n, size_t share,
                         int failopen, double stale_at)
{
    return lb_table_set_rank(table, svc, ranked, n, share, failopen, stale_at);
}

static void sink_publish(void *arg, void *table)
{
    lb_table_pub *pub = arg;
    lb_table_free(glb_qsbr_swap(pub->qsbr, pub->slot, table));
}

static void sink_discard(void *arg, void *table)
{
    (void)arg;
    lb_table_free(table);
}

static int sink_take_refresh(void *arg, size_t svc)
{
    lb_table_pub *pub = arg;
    lb_table *t = atomic_load(pub->slot);
    if (!t || svc >= t->nsvcs)
        return 0;
    return atomic_exchange(&t->want_refresh[svc], 0) != 0;
}

lb_prober_sink lb_table_sink(lb_table_pub *pub)
{
    lb_prober_sink s = {sink_table_new, sink_set_rank, sink_publish, sink_discard, sink_take_refresh, pub};
    return s;
}

int lb_table_configure(lb_table_pub *pub, lb_prober *p, const lb_conf *c, char *err, size_t errlen)
{
    const lb_conf *before = pub->conf;
    lb_measure_conf mc = lb_conf_measure(c);
    pub->conf = c; /* the table published at the end of lb_prober_configure is c's */
    if (lb_prober_configure(p, &mc, err, errlen) != 0) {
        pub->conf = before;
        return -1;
    }
    return 0;
}
