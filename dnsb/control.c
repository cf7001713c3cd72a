/* dnsb's control commands. They run in the main thread, which is also the
 * registry's only writer: the registry and its published map do not change
 * while a command reads them. SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/control.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "proto/map.h"
#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"
#include "shared/metrics.h"

static const char *const mode_names[] = {"referral", "direct", "proxy"};

static const dnsb_table *table_of(const dnsb_ctl *c)
{
    return atomic_load_explicit(c->table, memory_order_acquire);
}

static const dnsb_map *map_of(const dnsb_ctl *c)
{
    return atomic_load_explicit(dnsb_registry_slot(c->reg), memory_order_acquire);
}

static void add_addrs(struct evbuffer *out, const glb_addr *a, size_t n)
{
    char buf[GLB_ADDRSTRLEN];
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, "%s%s", i ? "," : "", glb_addr_str(&a[i], buf, sizeof(buf)));
    if (n == 0)
        evbuffer_add_printf(out, "-");
}

/* "12s", or "-" when not known. */
static void fmt_secs(char *buf, size_t len, double s)
{
    if (s < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0fs", s);
}

/* A registration's age: static ones date from the last (re)load; dynamic
 * ones from their sequence when it is, as PROTOCOL.md §4.2 advises, the Unix
 * time in milliseconds when the DNS-LB built the registration. */
static double reg_age(const dnsb_ctl *c, const dnsb_reg *g, double now)
{
    if (g->is_static)
        return now - c->loaded;
    double built = (double)g->sequence / 1000.0;
    if (built < 1e9 || built > now + 86400)
        return -1; /* not a time */
    return now > built ? now - built : 0;
}

/* g->expires is on the monotonic clock (registry.h). */
static void fmt_expires(char *buf, size_t len, const dnsb_reg *g)
{
    double now = glb_mono();
    if (g->is_static || g->expires <= 0)
        snprintf(buf, len, "never");
    else if (g->expires <= now)
        snprintf(buf, len, "expired"); /* until the next expiry sweep */
    else
        snprintf(buf, len, "%.0fs", g->expires - now);
}

/* --- status ------------------------------------------------------------- */

static void count_static(void *arg, const dnsb_reg *g)
{
    *(size_t *)arg += g->is_static != 0;
}

static int status_text(dnsb_ctl *c, struct evbuffer *out);

static void status_lines(void *arg, struct evbuffer *out)
{
    status_text(arg, out);
}

static int cmd_status(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    return glb_lines_reply(args, out, 0, status_lines, arg);
}

static int status_text(dnsb_ctl *c, struct evbuffer *out)
{
    const dnsb_table *t = table_of(c);
    double now = glb_wall();
    size_t regs, mappings, bytes, nstatic = 0;
    dnsb_registry_counts(c->reg, &regs, &mappings, &bytes);
    dnsb_registry_walk(c->reg, count_static, &nstatic);
    char zone[1024];
    evbuffer_add_printf(out, "version: dnsb %s\nuptime: %.0f s\n", PACKAGE_VERSION, now - c->started);
    evbuffer_add_printf(out, "config: %s (loaded %.0f s ago)\n", c->conf_file ? c->conf_file : "-", now - c->loaded);
    evbuffer_add_printf(out, "zone: %s\n", glb_dname_to_str(t->conf->zone, zone, sizeof(zone)));
    evbuffer_add_printf(out, "services: %zu\n", t->conf->nservices);
    evbuffer_add_printf(out, "registrations: %zu (static %zu, dynamic %zu)\n", regs, nstatic, regs - nstatic);
    evbuffer_add_printf(out, "mappings: %zu (%zu bytes per map copy)\n", mappings, bytes);
    evbuffer_add_printf(out, "workers: %u (answering threads %u)\n", c->workers, c->nstats);
    return 0;
}

/* --- list-lbs ------------------------------------------------------------ */

typedef struct reglist {
    const dnsb_reg **v;
    size_t n, cap;
    int failed;
} reglist;

static void collect(void *arg, const dnsb_reg *g)
{
    reglist *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        const dnsb_reg **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->failed = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = g;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const dnsb_reg *const *)a)->id, (*(const dnsb_reg *const *)b)->id);
}

/* One registration in full: addresses, claims, rankings. */
static int show_lb(dnsb_ctl *c, const char *id, struct evbuffer *out)
{
    const dnsb_reg *g = dnsb_registry_get(c->reg, id);
    if (!g) {
        evbuffer_add_printf(out, "no registration '%s'\n", id);
        return -1;
    }
    double now = glb_wall();
    char age[32], exp[32], buf[1024];
    fmt_secs(age, sizeof(age), reg_age(c, g, now));
    fmt_expires(exp, sizeof(exp), g);
    evbuffer_add_printf(out, "id: %s\nkind: %s\ndns: ", g->id, g->is_static ? "static" : "dynamic");
    add_addrs(out, g->dns, g->ndns);
    evbuffer_add_printf(out, "\nproxy: ");
    add_addrs(out, g->proxy, g->nproxy);
    evbuffer_add_printf(out, "\nsequence: %llu\nage: %s\nexpires: %s\nclaims: %zu\n",
                        (unsigned long long)g->sequence, age, exp, g->nclaims);
    for (size_t i = 0; i < g->nclaims; i++)
        evbuffer_add_printf(out, "claim: %s\n", glb_prefix_str(&g->claims[i], buf, sizeof(buf)));
    const dnsb_map *m = map_of(c);
    uint8_t label[64];
    size_t n = strlen(g->id);
    if (n > 0 && n < sizeof(label)) {
        label[0] = (uint8_t)n;
        memcpy(label + 1, g->id, n);
        long slot = dnsb_map_find(m, label);
        const dnsb_lb *lb = slot >= 0 ? dnsb_map_lb(m, (uint32_t)slot) : NULL;
        for (size_t r = 0; lb && r < lb->nrankings; r++) {
            evbuffer_add_printf(out, "ranking: %s",
                                glb_dname_to_str(lb->rankings[r].service, buf, sizeof(buf)));
            for (size_t k = 0; k < lb->rankings[r].nsites; k++)
                evbuffer_add_printf(out, " %s", lb->rankings[r].sites[k]);
            evbuffer_add_printf(out, "\n");
        }
    }
    return 0;
}

/* One map-protocol session, after the registrations. */
static void show_session(void *arg, const dnsb_map_session_info *i)
{
    char a[GLB_ADDRSTRLEN], age[32];
    fmt_secs(age, sizeof(age), glb_wall() - i->connected);
    evbuffer_add_printf(arg, "session %s from %s state %s connected %s frames %llu/%llu serial %llu%s\n",
                        i->id[0] ? i->id : "-", glb_addrport_str(&i->peer, a, sizeof(a)), i->state, age,
                        (unsigned long long)i->frames_in, (unsigned long long)i->frames_out,
                        (unsigned long long)i->serial, i->registered ? " registered" : "");
}

static int cmd_list_lbs(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    dnsb_ctl *c = arg;
    if (*args)
        return show_lb(c, args, out);
    reglist l = {NULL, 0, 0, 0};
    dnsb_registry_walk(c->reg, collect, &l);
    if (l.failed) {
        free(l.v);
        evbuffer_add_printf(out, "out of memory\n");
        return -1;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), by_id);
    double now = glb_wall();
    evbuffer_add_printf(out, "%-16s %-8s %-32s %7s %20s %10s %10s\n", "id", "kind", "dns", "claims", "sequence",
                        "age", "expires");
    for (size_t i = 0; i < l.n; i++) {
        const dnsb_reg *g = l.v[i];
        char age[32], exp[32], dns[DNSB_LB_MAX_ADDRS * GLB_ADDRSTRLEN] = "-";
        size_t off = 0;
        for (size_t a = 0; a < g->ndns && off < sizeof(dns); a++) {
            char one[GLB_ADDRSTRLEN];
            off += (size_t)snprintf(dns + off, sizeof(dns) - off, "%s%s", a ? "," : "",
                                    glb_addr_str(&g->dns[a], one, sizeof(one)));
        }
        fmt_secs(age, sizeof(age), reg_age(c, g, now));
        fmt_expires(exp, sizeof(exp), g);
        evbuffer_add_printf(out, "%-16s %-8s %-32s %7zu %20llu %10s %10s\n", g->id,
                            g->is_static ? "static" : "dynamic", dns, g->nclaims,
                            (unsigned long long)g->sequence, age, exp);
    }
    free(l.v);
    if (c->ms)
        dnsb_mapserver_sessions(c->ms, show_session, out);
    return 0;
}

/* --- lookup -------------------------------------------------------------- */

static int prefix_covers(const glb_prefix *p, const glb_addr *a, unsigned keylen)
{
    if (p->family != a->family || p->len > keylen)
        return 0;
    unsigned full = p->len / 8, rest = p->len % 8;
    if (memcmp(p->b, a->b, full) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        if ((p->b[full] & mask) != (a->b[full] & mask))
            return 0;
    }
    return 1;
}

/* The sites of s by weight, the fail-open answer: "paris 2, tokyo 1". */
static void add_by_weight(struct evbuffer *out, const dnsb_service *s)
{
    for (size_t i = 0; i < s->conf->nsites; i++) {
        const glb_site *site = &s->conf->sites[s->by_weight[i]];
        evbuffer_add_printf(out, "%s%s %u", i ? ", " : "", site->name, site->weight);
    }
}

/* Addresses of a site of s named name, or -1 when s has none such. */
static long site_addrs(const dnsb_service *s, const char *name)
{
    for (size_t m = 0; m < s->conf->nsites; m++)
        if (strcmp(s->conf->sites[m].name, name) == 0)
            return (long)s->conf->sites[m].naddrs;
    return -1;
}

/* What service s answers the client whose DNS-LBs are slots[0..n), n > 0,
 * following dnsb/answer.c (address queries). */
static void explain_service(struct evbuffer *out, const dnsb_map *m, const dnsb_service *s, const uint32_t *slots,
                            size_t n)
{
    char name[1024], buf[1024];
    uint8_t target[GLB_DNAME_MAX];
    evbuffer_add_printf(out, "service: %s %s: ", glb_dname_to_str(s->conf->name, name, sizeof(name)),
                        mode_names[s->conf->mode]);
    const dnsb_lb *first = dnsb_map_lb(m, slots[0]);
    if (s->conf->mode == DNSB_MODE_REFERRAL) {
        if (!glb_dname_prepend((const char *)first->label + 1, first->label[0], s->conf->name, target)) {
            evbuffer_add_printf(out, "fail-open, %s.%s is too long (sites by weight: ", first->id, name);
            add_by_weight(out, s);
            evbuffer_add_printf(out, ")\n");
            return;
        }
        evbuffer_add_printf(out, "CNAME %s, delegation to", glb_dname_to_str(target, buf, sizeof(buf)));
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(out, " %s", dnsb_map_lb(m, slots[i])->id);
        evbuffer_add_printf(out, "\n");
        return;
    }
    if (s->conf->mode == DNSB_MODE_DIRECT) {
        /* The first DNS-LB of the set whose ranking for s gives addresses. */
        for (size_t i = 0; i < n; i++) {
            const dnsb_lb *lb = dnsb_map_lb(m, slots[i]);
            for (size_t r = 0; r < lb->nrankings; r++) {
                const dnsb_ranking *rk = &lb->rankings[r];
                if (!glb_dname_equal(rk->service, s->conf->name))
                    continue;
                long naddrs = 0;
                for (size_t k = 0; k < rk->nsites; k++) {
                    long a = site_addrs(s, rk->sites[k]);
                    naddrs += a > 0 ? a : 0;
                }
                if (naddrs > 0) {
                    evbuffer_add_printf(out, "ranking of %s:", lb->id);
                    for (size_t k = 0; k < rk->nsites; k++)
                        if (site_addrs(s, rk->sites[k]) >= 0)
                            evbuffer_add_printf(out, " %s", rk->sites[k]);
                    evbuffer_add_printf(out, "\n");
                    return;
                }
                break; /* answer.c looks at one ranking per DNS-LB */
            }
        }
        evbuffer_add_printf(out, "fail-open, no ranking with addresses from");
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(out, " %s", dnsb_map_lb(m, slots[i])->id);
    } else {
        size_t added = 0;
        for (size_t i = 0; i < n; i++) {
            const dnsb_lb *lb = dnsb_map_lb(m, slots[i]);
            for (size_t a = 0; a < lb->nproxy; a++)
                evbuffer_add_printf(out, "%s%s (%s)", added++ ? ", " : "proxy ",
                                    glb_addr_str(&lb->proxy[a], buf, sizeof(buf)), lb->id);
        }
        if (added) {
            evbuffer_add_printf(out, "\n");
            return;
        }
        evbuffer_add_printf(out, "fail-open, no proxy address from");
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(out, " %s", dnsb_map_lb(m, slots[i])->id);
    }
    evbuffer_add_printf(out, " (sites by weight: ");
    add_by_weight(out, s);
    evbuffer_add_printf(out, ")\n");
}

/* ADDR, or ADDR/LEN as a client subnet of LEN bits (what an ECS query with
 * that source prefix length looks up). */
static int parse_lookup(const char *args, glb_addr *a, unsigned *keylen)
{
    char buf[GLB_ADDRSTRLEN];
    const char *slash = strchr(args, '/');
    size_t n = slash ? (size_t)(slash - args) : strlen(args);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, args, n);
    buf[n] = '\0';
    if (glb_addr_parse(buf, a) != 0)
        return -1;
    a->port = 0;
    unsigned bits = (unsigned)glb_addr_bytes(a->family) * 8;
    *keylen = bits;
    if (slash) {
        char *end;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || v > bits)
            return -1;
        *keylen = (unsigned)v;
        glb_mask_bits(a->b, glb_addr_bytes(a->family), *keylen);
    }
    return 0;
}

static int cmd_lookup(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    dnsb_ctl *c = arg;
    glb_addr a;
    unsigned keylen, scope;
    if (parse_lookup(args, &a, &keylen) != 0) {
        evbuffer_add_printf(out, "usage: lookup ADDR | lookup ADDR/LEN (a client subnet)\n");
        return -1;
    }
    const dnsb_table *t = table_of(c);
    const dnsb_map *m = map_of(c);
    uint32_t slots[DNSB_LB_MAX_SET];
    size_t n = dnsb_map_lookup(m, &a, keylen, &scope, slots);
    char buf[1024];
    glb_prefix key = {a.family, keylen, {0}};
    memcpy(key.b, a.b, sizeof(key.b));
    evbuffer_add_printf(out, "address: %s\n", glb_addr_str(&a, buf, sizeof(buf)));
    evbuffer_add_printf(out, "key: %s\n", glb_prefix_str(&key, buf, sizeof(buf)));
    if (n == 0) {
        if (keylen < glb_addr_bytes(a.family) * 8) /* as answers do (dnsb(8), step 5) */
            evbuffer_add_printf(out, "no mapping for this client subnet: a query carrying it gets its resolver's "
                                     "mapping (lookup the resolver's address), else ");
        else
            evbuffer_add_printf(out, "no mapping: ");
        evbuffer_add_printf(out, "fail-open (sites by weight:");
        for (size_t i = 0; i < t->conf->nservices; i++) {
            evbuffer_add_printf(out, "%s %s ", i ? ";" : "",
                                glb_dname_to_str(t->services[i].conf->name, buf, sizeof(buf)));
            add_by_weight(out, &t->services[i]);
        }
        evbuffer_add_printf(out, ")\nscope: %u\n", scope);
        return 0;
    }
    /* The prefix that matched: every DNS-LB of the set claims exactly it (a
     * set hangs on one prefix), the longest of its claims covering a. */
    const glb_prefix *best = NULL;
    const dnsb_reg *g0 = dnsb_registry_get(c->reg, dnsb_map_lb(m, slots[0])->id);
    for (size_t i = 0; g0 && i < g0->nclaims; i++)
        if (prefix_covers(&g0->claims[i], &a, keylen) && (!best || g0->claims[i].len > best->len))
            best = &g0->claims[i];
    evbuffer_add_printf(out, "mapping: %s\n", best ? glb_prefix_str(best, buf, sizeof(buf)) : "?");
    double now = glb_wall();
    for (size_t i = 0; i < n; i++) {
        const dnsb_lb *lb = dnsb_map_lb(m, slots[i]);
        const dnsb_reg *g = dnsb_registry_get(c->reg, lb->id);
        char age[32] = "-", exp[32] = "-";
        if (g) {
            fmt_secs(age, sizeof(age), reg_age(c, g, now));
            fmt_expires(exp, sizeof(exp), g);
        }
        evbuffer_add_printf(out, "lb: %s %s sequence=%llu age=%s expires=%s dns=", lb->id,
                            g && g->is_static ? "static" : "dynamic", g ? (unsigned long long)g->sequence : 0ULL,
                            age, exp);
        add_addrs(out, lb->dns, lb->ndns);
        evbuffer_add_printf(out, "\n");
    }
    evbuffer_add_printf(out, "scope: %u\n", scope);
    for (size_t i = 0; i < t->conf->nservices; i++)
        explain_service(out, m, &t->services[i], slots, n);
    return 0;
}

/* --- list-services ------------------------------------------------------- */

static int cmd_list_services(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args, (void)conn;
    const dnsb_table *t = table_of(arg);
    char name[1024];
    evbuffer_add_printf(out, "%-32s %-8s %8s %8s %-9s %-16s %6s %8s %s\n", "service", "mode", "ttl-ref", "ttl-ans",
                        "policy", "site", "weight", "cost", "addresses");
    for (size_t i = 0; i < t->conf->nservices; i++) {
        const dnsb_service_conf *s = &t->conf->services[i];
        glb_dname_to_str(s->name, name, sizeof(name));
        for (size_t k = 0; k < s->nsites; k++) {
            const glb_site *site = &s->sites[k];
            evbuffer_add_printf(out, "%-32s %-8s %8u %8u %-9s %-16s %6u %8g ", name, mode_names[s->mode],
                                s->ttl_referral, s->ttl_answer, glb_svc_policy_str(s->lb.policy), site->name,
                                site->weight, site->cost);
            if (site->naddrs)
                add_addrs(out, site->addrs, site->naddrs);
            else
                evbuffer_add_printf(out, "%s", site->host[0] ? site->host : "-");
            evbuffer_add_printf(out, "\n");
        }
    }
    return 0;
}

/* --- reload -------------------------------------------------------------- */

static int cmd_reload(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)args;
    dnsb_ctl *c = arg;
    char msg[1024];
    log_notice("control: reload asked by %s", glb_control_peer(conn));
    if (!c->reload) {
        evbuffer_add_printf(out, "reload not available\n");
        return -1;
    }
    int rc = c->reload(c->reload_arg, msg, sizeof(msg));
    evbuffer_add_printf(out, "%s\n", msg);
    return rc == 0 ? 0 : -1;
}

/* --- stats --------------------------------------------------------------- */

void dnsb_stats_text(dnsb_ctl *c, struct evbuffer *out)
{
    unsigned long long sum[DNSB_ST_COUNT] = {0};
    for (unsigned w = 0; w < c->nstats; w++)
        for (int i = 0; i < DNSB_ST_COUNT; i++)
            sum[i] += __atomic_load_n(&c->stats[w].n[i], __ATOMIC_RELAXED);
    for (int i = 0; i < DNSB_ST_COUNT; i++)
        evbuffer_add_printf(out, "dns.%s=%llu\n", dnsb_stat_names[i], sum[i]);
    glb_server_stats_print(c->server, out);
    size_t regs, mappings, bytes, nstatic = 0;
    dnsb_registry_counts(c->reg, &regs, &mappings, &bytes);
    dnsb_registry_walk(c->reg, count_static, &nstatic);
    evbuffer_add_printf(out,
                        "registry.registrations=%zu\nregistry.static=%zu\nregistry.dynamic=%zu\n"
                        "registry.mappings=%zu\nregistry.map_bytes=%zu\n",
                        regs, nstatic, regs - nstatic, mappings, bytes);
    if (c->ms) {
        dnsb_map_stats m;
        dnsb_mapserver_stats(c->ms, &m);
        evbuffer_add_printf(out,
                            "map.connections=%llu\nmap.sessions=%llu\nmap.established=%llu\n"
                            "map.handshake_failures=%llu\nmap.unauthorized=%llu\nmap.malformed=%llu\n"
                            "map.limit_connections=%llu\nmap.limit_handshake=%llu\nmap.limit_idle=%llu\n"
                            "map.limit_frame=%llu\nmap.limit_claims=%llu\nmap.limit_output=%llu\n"
                            "map.registrations=%llu\nmap.refreshes=%llu\nmap.withdrawals=%llu\nmap.stale=%llu\n"
                            "map.refused=%llu\nmap.claims_accepted=%llu\nmap.claims_rejected=%llu\n",
                            (unsigned long long)m.connections, (unsigned long long)m.sessions,
                            (unsigned long long)m.established, (unsigned long long)m.handshake_failures,
                            (unsigned long long)m.unauthorized, (unsigned long long)m.malformed,
                            (unsigned long long)m.limit_connections, (unsigned long long)m.limit_handshake,
                            (unsigned long long)m.limit_idle, (unsigned long long)m.limit_frame,
                            (unsigned long long)m.limit_claims, (unsigned long long)m.limit_output,
                            (unsigned long long)m.registrations, (unsigned long long)m.refreshes,
                            (unsigned long long)m.withdrawals, (unsigned long long)m.stale,
                            (unsigned long long)m.refused, (unsigned long long)m.claims_accepted,
                            (unsigned long long)m.claims_rejected);
        evbuffer_add_printf(out, "map.limit_evicted=%llu\n", (unsigned long long)m.limit_evicted);
        for (unsigned r = 1; r <= GLB_MAP_REJ_BAD_ADDRESS; r++)
            evbuffer_add_printf(out, "map.rejected.%s=%llu\n", glb_map_reject_name(r),
                                (unsigned long long)m.rejected[r]);
        evbuffer_add_printf(out, "map.rejected.other=%llu\n", (unsigned long long)(m.rejected[0] + m.rejected[7]));
        evbuffer_add_printf(out,
                            "map.expirations=%llu\nmap.rankings=%llu\nmap.services_sent=%llu\n"
                            "map.frames_in=%llu\nmap.frames_out=%llu\nmap.services_serial=%llu\n",
                            (unsigned long long)m.expirations, (unsigned long long)m.rankings,
                            (unsigned long long)m.services_sent, (unsigned long long)m.frames_in,
                            (unsigned long long)m.frames_out, (unsigned long long)m.services_serial);
    }
    if (c->store) {
        dnsb_store_stats ss;
        dnsb_store_get_stats(c->store, &ss);
        evbuffer_add_printf(out, "store.commits=%llu\nstore.pending=%zu\nstore.errors=%llu\n",
                            (unsigned long long)ss.commits, ss.pending, (unsigned long long)ss.errors);
    }
    if (c->control) {
        glb_control_stats cs;
        glb_control_stats_get(c->control, &cs);
        evbuffer_add_printf(out, "control.conns=%llu\ncontrol.requests=%llu\ncontrol.refused=%llu\n"
                                 "control.overflows=%llu\ncontrol.evicted=%llu\ncontrol.timeouts=%llu\n",
                            cs.conns, cs.requests, cs.refused, cs.overflows, cs.evicted, cs.timeouts);
    }
    if (c->metrics)
        glb_metrics_http_stats_print(c->metrics, out);
}

#define C(stat, metric, label, value, help) {stat, metric, "counter", label, value, help}
#define G(stat, metric, label, value, help) {stat, metric, "gauge", label, value, help}
#define KIND "DNS responses with data or NOERROR, by kind"
#define REGS "registrations of DNS-LBs held now, by kind"

/* dnsb's stats as metrics (dnsb(8), METRICS); glb_metric_rules_common after. */
static const glb_metric_rule dnsb_metric_rules[] = {
    C("dns.referral", "glb_dns_answers_total", "kind", "referral", KIND),
    C("dns.delegation", "glb_dns_answers_total", "kind", "delegation", KIND),
    C("dns.direct", "glb_dns_answers_total", "kind", "direct", KIND),
    C("dns.proxy", "glb_dns_answers_total", "kind", "proxy", KIND),
    C("dns.failopen", "glb_dns_answers_total", "kind", "failopen", KIND),
    C("dns.whoami", "glb_dns_answers_total", "kind", "whoami", KIND),
    C("dns.zone", "glb_dns_answers_total", "kind", "zone", KIND),
    C("dns.nodata", "glb_dns_answers_total", "kind", "nodata", KIND),
    C("dns.ecs", "glb_dns_ecs_queries_total", NULL, NULL, "DNS queries that carried an EDNS Client Subnet"),
    C("dns.standby", "glb_dns_standby_queries_total", NULL, NULL,
      "DNS queries to the standby addresses for a DNS-LB's zone"),
    G("registry.registrations", "", NULL, NULL, NULL), /* the sum of glb_registrations */
    G("registry.static", "glb_registrations", "kind", "static", REGS),
    G("registry.dynamic", "glb_registrations", "kind", "dynamic", REGS),
    G("registry.mappings", "glb_registry_mappings", NULL, NULL, "client prefixes mapped to DNS-LBs"),
    G("registry.map_bytes", "glb_registry_map_bytes", NULL, NULL, "bytes of one copy of the published map"),
    G("map.sessions", "glb_map_sessions", NULL, NULL, "map-protocol sessions open now (handshaking included)"),
    G("map.services_serial", "glb_map_services_serial", NULL, NULL, "the service set's serial"),
    C("map.connections", "glb_map_connections_total", NULL, NULL, "map-protocol TCP connections accepted"),
    C("map.established", "glb_map_sessions_established_total", NULL, NULL, "map sessions that completed HELLO"),
    C("map.registrations", "glb_map_registrations_total", NULL, NULL, "REGISTERs that created a registration"),
    C("map.rejected.", "glb_map_claims_rejected_by_reason_total", "reason", NULL,
      "claims rejected, by reason (proto/PROTOCOL.md)"),
    C("map.", NULL, NULL, NULL, NULL),
    G("store.pending", "glb_store_pending", NULL, NULL, "registration changes not yet committed to the database"),
    C("store.", NULL, NULL, NULL, NULL),
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

static void stats_lines(void *arg, struct evbuffer *out)
{
    dnsb_stats_text(arg, out);
}

void dnsb_metrics(void *arg, struct evbuffer *out)
{
    glb_metrics_from(out, stats_lines, arg, dnsb_metric_rules, "glb");
}

static int cmd_stats(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn)
{
    (void)conn;
    return glb_lines_reply(args, out, 1, stats_lines, arg);
}

const glb_control_cmd dnsb_control_cmds[] = {
    {"status", cmd_status, "status [json]: version, uptime, zone, services, registrations, mappings, workers"},
    {"list-lbs", cmd_list_lbs, "list-lbs [ID]: the registrations (static and dynamic), or one in full"},
    {"lookup", cmd_lookup, "lookup ADDR[/LEN]: which DNS-LBs serve it and why, or the fail-open answer"},
    {"list-services", cmd_list_services, "services: mode, TTLs, sites with addresses and weights"},
    {"reload", cmd_reload, "reread the configuration, as SIGHUP does"},
    {"stats", cmd_stats, "stats [json]: counters: DNS answers by kind, network, registry, map, store, control, metrics"},
    {NULL, NULL, NULL},
};
