/* Received services as dnslb configuration: rendering, sets, the effective
 * services (the services file is in svcfile.c).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapsvc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

/* ---- Rendering and parsing ------------------------------------------- */

/* A value the grammar carries as one unquoted word: no blank, no control
 * character, no '#' (a comment) and no '"' (a quote). */
static int word_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '#' || *s == '"')
            return 0;
    return 1;
}

static const char *mode_name(unsigned m)
{
    static const char *const names[] = {"referral", "direct", "proxy"};
    return m < 3 ? names[m] : "unknown";
}

static int render_site(FILE *f, const glb_map_site *t, char *err, size_t errlen)
{
    char buf[1024];
    if (!t->name || !word_ok(t->name)) {
        snprintf(err, errlen, "site with a bad name");
        return -1;
    }
    fprintf(f, "    site: %s", t->name);
    if (t->naddrs) { /* addresses win over a host name: nothing to resolve */
        for (size_t i = 0; i < t->naddrs; i++)
            fprintf(f, " %s", glb_addr_str(&t->addrs[i], buf, sizeof(buf)));
    } else if (t->host) {
        glb_dname_to_str(t->host, buf, sizeof(buf));
        if (!word_ok(buf)) {
            snprintf(err, errlen, "site '%s': host name '%s' cannot be written", t->name, buf);
            return -1;
        }
        fprintf(f, " %s", buf);
    } else {
        snprintf(err, errlen, "site '%s': no address or host name", t->name);
        return -1;
    }
    fprintf(f, " weight=%" PRIu32 " cost=%" PRIu32 ".%03" PRIu32, t->weight, t->cost / 1000, t->cost % 1000);
    if (t->has_location)
        fprintf(f, " location=%.6f,%.6f", t->location.lat / 1e6, t->location.lon / 1e6);
    if (t->check) {
        int quote = 0;
        for (const char *p = t->check; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"') {
                snprintf(err, errlen, "site '%s': check URL cannot be written", t->name);
                return -1;
            }
            quote |= *p == ' ' || *p == '#';
        }
        fprintf(f, quote ? " \"check=%s\"" : " check=%s", t->check);
    }
    fprintf(f, " check-verify=%s\n", t->check_verify ? "yes" : "no");
    return 0;
}

char *lb_msvc_render(const glb_map_service *s, char *err, size_t errlen)
{
    char name[1024];
    if (!s->name || glb_map_name_len(s->name, GLB_MAP_MAX_NAME) == 0) {
        snprintf(err, errlen, "service without a valid name");
        return NULL;
    }
    glb_dname_to_str(s->name, name, sizeof(name));
    if (!word_ok(name)) {
        snprintf(err, errlen, "service name '%s' cannot be written", name);
        return NULL;
    }
    const char *policy = s->policy <= LB_POLICY_COMBINED ? lb_policy_str(s->policy) : NULL;
    if (!policy) {
        snprintf(err, errlen, "service %s: unknown policy %u", name, s->policy);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* mode and ttl-referral are the DNS-B's business: kept for the reader */
    fprintf(f,
            "service:\n    # mode %s, ttl-referral %" PRIu32 "\n    name: %s\n    policy: %s\n"
            "    answer-count: %u\n    ttl-answer: %" PRIu32 "\n    margin: %.4f\n    margin-ms: %.3f\n"
            "    weight-latency: %.6f\n    weight-cost: %.6f\n    weight-distance: %.6f\n",
            mode_name(s->mode), s->ttl_referral, name, policy, (unsigned)s->answer_count, s->ttl_answer,
            s->margin / 1e4, s->margin_abs / 1e3, s->w_latency / 1e6, s->w_cost / 1e6, s->w_distance / 1e6);
    int rc = 0;
    for (size_t i = 0; i < s->nsites && rc == 0; i++)
        rc = render_site(f, &s->sites[i], err, errlen);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* 1 when a line of text starts with key (after blanks). */
static int has_key_line(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, key, kl) == 0)
            return 1;
    }
    return 0;
}

int lb_msvc_parse(const char *text, const char *origin, lb_msvc *out, char *err, size_t errlen)
{
    /* The server: section the parser requires. Its location lets a proximity
     * service through: whether this box has one is checked when the
     * effective configuration is built, so a reload that adds it works. */
    static const char tail[] = "server:\n    listen: 127.0.0.1\n    id: map\n    location: 0,0\n";
    memset(out, 0, sizeof(*out));
    if (has_key_line(text, "include:") || has_key_line(text, "server:")) {
        snprintf(err, errlen, "%s: only a service: section may be given", origin);
        return -1;
    }
    size_t tl = strlen(text);
    char *full = malloc(tl + sizeof(tail) + 1);
    if (!full) {
        snprintf(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    memcpy(full, text, tl);
    full[tl] = '\n'; /* service first: line numbers in messages are the text's */
    memcpy(full + tl + 1, tail, sizeof(tail));
    lb_conf *c = lb_conf_parse(origin, full, err, errlen);
    free(full);
    if (!c)
        return -1;
    if (c->nservices != 1) {
        snprintf(err, errlen, "%s: expected one service, got %zu", origin, c->nservices);
        lb_conf_free(c);
        return -1;
    }
    out->text = strdup(text);
    if (!out->text) {
        snprintf(err, errlen, "%s: out of memory", origin);
        lb_conf_free(c);
        return -1;
    }
    out->conf = c->services[0];
    c->services[0].sites = NULL; /* ours now */
    c->services[0].nsites = 0;
    lb_conf_free(c);
    return 0;
}

int lb_msvc_from_map(const glb_map_service *s, const char *origin, lb_msvc *out, char *err, size_t errlen)
{
    char *text = lb_msvc_render(s, err, errlen);
    if (!text)
        return -1;
    int rc = lb_msvc_parse(text, origin, out, err, errlen);
    free(text);
    return rc;
}

void lb_msvc_free(lb_msvc *m)
{
    free(m->text);
    free(m->conf.sites);
    memset(m, 0, sizeof(*m));
}

static void msvc_array_free(lb_msvc *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lb_msvc_free(&a[i]);
    free(a);
}

void lb_svcset_clear(lb_svcset *set)
{
    msvc_array_free(set->svc, set->n);
    memset(set, 0, sizeof(*set));
}

void lb_svcupd_clear(lb_svcupd *u)
{
    msvc_array_free(u->svc, u->n);
    free(u->gone);
    memset(u, 0, sizeof(*u));
}

/* ---- Sets ------------------------------------------------------------- */

/* A total order on lower-cased wire names, for sorting and searching. */
static int name_cmp(const uint8_t *a, const uint8_t *b)
{
    size_t la = glb_dname_len(a), lb = glb_dname_len(b);
    int r = memcmp(a, b, la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
}

int lb_msvc_cmp(const void *a, const void *b)
{
    return name_cmp(((const lb_msvc *)a)->conf.name, ((const lb_msvc *)b)->conf.name);
}

static int gone_cmp(const void *a, const void *b)
{
    return name_cmp(a, b);
}

static int push_gone(lb_svcupd *u, const uint8_t *name)
{
    uint8_t (*slot)[GLB_DNAME_MAX] = glb_cfg_push(&u->gone, &u->ngone, sizeof(*slot));
    if (!slot)
        return -1;
    memcpy(*slot, name, glb_dname_len(name));
    return 0;
}

static int in_sorted_msvc(const lb_msvc *a, size_t n, const uint8_t *name)
{
    lb_msvc key;
    memcpy(key.conf.name, name, glb_dname_len(name));
    return n && bsearch(&key, a, n, sizeof(*a), lb_msvc_cmp) != NULL;
}

static int in_sorted_gone(const uint8_t (*a)[GLB_DNAME_MAX], size_t n, const uint8_t *name)
{
    return n && bsearch(name, a, n, sizeof(*a), gone_cmp) != NULL;
}

/* Site names twice in one service: the set is malformed (PROTOCOL.md §10.1). */
static const char *dup_site(const glb_map_service *s)
{
    for (size_t i = 1; i < s->nsites; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->sites[i].name, s->sites[j].name) == 0)
                return s->sites[i].name;
    return NULL;
}

/* The last part arrived: sort, and refuse names given twice. Skipped names
 * of a full set were pushed to gone too (to find duplicates), so a full set
 * checks svc + gone; a delta checks svc + skipped against removals. */
static int upd_finish(lb_svcupd *u, char *err, size_t errlen)
{
    if (u->n)
        qsort(u->svc, u->n, sizeof(*u->svc), lb_msvc_cmp);
    if (u->ngone)
        qsort(u->gone, u->ngone, sizeof(*u->gone), gone_cmp);
    char buf[1024];
    for (size_t i = 1; i < u->n; i++)
        if (lb_msvc_cmp(&u->svc[i - 1], &u->svc[i]) == 0) {
            snprintf(err, errlen, "service %s twice in serial %" PRIu64,
                     glb_dname_to_str(u->svc[i].conf.name, buf, sizeof(buf)), u->serial);
            return -1;
        }
    for (size_t i = 0; i < u->n; i++)
        if (in_sorted_gone((const uint8_t(*)[GLB_DNAME_MAX])u->gone, u->ngone, u->svc[i].conf.name)) {
            snprintf(err, errlen, "service %s both given and %s in serial %" PRIu64,
                     glb_dname_to_str(u->svc[i].conf.name, buf, sizeof(buf)),
                     u->kind == GLB_MAP_SERVICES_FULL ? "given again" : "removed", u->serial);
            return -1;
        }
    if (u->kind == GLB_MAP_SERVICES_FULL)
        for (size_t i = 1; i < u->ngone; i++)
            if (name_cmp(u->gone[i - 1], u->gone[i]) == 0) {
                snprintf(err, errlen, "service %s twice in serial %" PRIu64,
                         glb_dname_to_str(u->gone[i], buf, sizeof(buf)), u->serial);
                return -1;
            }
    return 0;
}

int lb_svcupd_add(lb_svcupd *u, const glb_map_services *m, const char *origin, char *err, size_t errlen)
{
    if (!u->active) {
        if (m->part != 0) {
            snprintf(err, errlen, "SERVICES serial %" PRIu64 " part %" PRIu32 " without part 0", m->serial,
                     m->part);
            goto unexpected;
        }
        u->active = 1;
        u->kind = m->kind;
        u->serial = m->serial;
        u->base = m->has_base ? m->base : 0;
    } else if (m->serial != u->serial || m->kind != u->kind || (m->has_base ? m->base : 0) != u->base ||
               m->part != u->next_part) {
        snprintf(err, errlen, "SERVICES serial %" PRIu64 " part %" PRIu32 " while part %" PRIu32 " of serial %" PRIu64
                 " was due", m->serial, m->part, u->next_part, u->serial);
        goto unexpected;
    }
    u->next_part = m->part + 1;
    u->more = m->more;
    for (size_t i = 0; i < m->nservices; i++) {
        const glb_map_service *s = &m->services[i];
        char name[1024], why[1024];
        glb_dname_to_str(s->name, name, sizeof(name));
        const char *ds = dup_site(s);
        if (ds) {
            snprintf(err, errlen, "service %s: site '%s' twice", name, ds);
            lb_svcupd_clear(u);
            return GLB_MAP_E_MALFORMED;
        }
        lb_msvc mv;
        char org[1200];
        snprintf(org, sizeof(org), "%s: service %s", origin, name);
        if (lb_msvc_from_map(s, org, &mv, why, sizeof(why)) != 0) {
            log_err("%s: skipped, dnslb cannot take it: %s", org, why);
            u->skipped++;
            if (push_gone(u, s->name) != 0)
                goto nomem;
            continue;
        }
        lb_msvc *slot = glb_cfg_push(&u->svc, &u->n, sizeof(*slot));
        if (!slot) {
            lb_msvc_free(&mv);
            goto nomem;
        }
        *slot = mv;
    }
    for (size_t i = 0; i < m->nremoved; i++)
        if (push_gone(u, m->removed[i]) != 0)
            goto nomem;
    if (!m->more && upd_finish(u, err, errlen) != 0) {
        lb_svcupd_clear(u);
        return GLB_MAP_E_MALFORMED;
    }
    return GLB_MAP_OK;
unexpected:
    lb_svcupd_clear(u);
    return GLB_MAP_E_UNEXPECTED;
nomem:
    snprintf(err, errlen, "out of memory");
    lb_svcupd_clear(u);
    return GLB_MAP_E_INTERNAL;
}

int lb_svcupd_complete(const lb_svcupd *u)
{
    return u->active && !u->more;
}

int lb_svcset_commit(lb_svcset *set, lb_svcupd *u)
{
    if (u->kind == GLB_MAP_SERVICES_DELTA) {
        if (set->serial != u->base) {
            lb_svcupd_clear(u);
            return 1;
        }
        /* keep what the delta does not name; the rest is replaced or gone */
        const uint8_t(*gone)[GLB_DNAME_MAX] = (const uint8_t(*)[GLB_DNAME_MAX])u->gone;
        size_t k = 0;
        for (size_t i = 0; i < set->n; i++) {
            const uint8_t *nm = set->svc[i].conf.name;
            if (in_sorted_msvc(u->svc, u->n, nm) || in_sorted_gone(gone, u->ngone, nm))
                lb_msvc_free(&set->svc[i]);
            else
                set->svc[k++] = set->svc[i];
        }
        set->n = k;
        if (u->n) {
            lb_msvc *na = realloc(set->svc, (set->n + u->n) * sizeof(*na));
            if (!na) { /* keep what we have, ask for a full set */
                lb_svcupd_clear(u);
                return 1;
            }
            set->svc = na;
            memcpy(set->svc + set->n, u->svc, u->n * sizeof(*na));
            set->n += u->n;
            free(u->svc);
            u->svc = NULL;
            u->n = 0;
            qsort(set->svc, set->n, sizeof(*set->svc), lb_msvc_cmp);
        }
    } else {
        msvc_array_free(set->svc, set->n);
        set->svc = u->svc; /* sorted by upd_finish */
        set->n = u->n;
        u->svc = NULL;
        u->n = 0;
    }
    set->serial = u->serial;
    lb_svcupd_clear(u);
    return 0;
}

/* ---- Effective services ----------------------------------------------- */

/* A set of wire names (pointers into caller memory) by open addressing. */
typedef struct nameset {
    const uint8_t **slot;
    size_t cap, n;
} nameset;

static uint64_t name_hash(const uint8_t *n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0, l = glb_dname_len(n); i < l; i++)
        h = (h ^ glb_lc[n[i]]) * 1099511628211ull;
    return h;
}

static int nameset_has(const nameset *s, const uint8_t *n)
{
    if (!s->cap)
        return 0;
    for (size_t i = name_hash(n) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i])
            return 0;
        if (glb_dname_equal(s->slot[i], n))
            return 1;
    }
}

static int nameset_add(nameset *s, const uint8_t *n)
{
    if (nameset_has(s, n))
        return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        const uint8_t **ns = calloc(ncap, sizeof(*ns));
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t j = name_hash(s->slot[i]) & (ncap - 1);
                while (ns[j])
                    j = (j + 1) & (ncap - 1);
                ns[j] = s->slot[i];
            }
        free(s->slot);
        s->slot = ns;
        s->cap = ncap;
    }
    size_t j = name_hash(n) & (s->cap - 1);
    while (s->slot[j])
        j = (j + 1) & (s->cap - 1);
    s->slot[j] = n;
    s->n++;
    return 0;
}

/* Services taken so far (names), and every proper ancestor of theirs, so
 * that "equals or nests with one taken" costs a look-up per label. */
typedef struct taken {
    nameset names, ancestors;
} taken;

static int taken_conflicts(const taken *t, const uint8_t *name)
{
    if (nameset_has(&t->ancestors, name)) /* a taken one lies below it */
        return 1;
    for (unsigned k = 0, nl = glb_dname_labels(name); k < nl; k++)
        if (nameset_has(&t->names, glb_dname_skip(name, k))) /* it, or an ancestor, is taken */
            return 1;
    return 0;
}

static int taken_add(taken *t, const uint8_t *name)
{
    if (nameset_add(&t->names, name) != 0)
        return -1;
    for (unsigned k = 1, nl = glb_dname_labels(name); k < nl; k++)
        if (nameset_add(&t->ancestors, glb_dname_skip(name, k)) != 0)
            return -1;
    return 0;
}

/* A copy of local without services. */
static lb_conf *conf_clone(const lb_conf *l)
{
    lb_conf *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *l;
    int fail = 0;
    c->services = NULL;
    c->nservices = 0;
    c->listen = glb_cfg_dup(l->listen, l->nlisten, sizeof(*l->listen), &fail);
    c->ns_addrs = glb_cfg_dup(l->ns_addrs, l->nns_addrs, sizeof(*l->ns_addrs), &fail);
    c->metrics_allow = glb_cfg_dup(l->metrics_allow, l->nmetrics_allow, sizeof(*l->metrics_allow), &fail);
    if (lb_recurse_conf_copy(&c->recursion, &l->recursion) != 0)
        fail = 1;
    c->agents.allow = glb_cfg_dup(l->agents.allow, l->agents.nallow, sizeof(*l->agents.allow), &fail);
    for (size_t i = 0; c->agents.allow && i < l->agents.nallow; i++)
        c->agents.allow[i].prefixes = glb_cfg_dup(l->agents.allow[i].prefixes, l->agents.allow[i].nprefixes,
                                                  sizeof(glb_prefix), &fail);
    if (!c->agents.allow)
        c->agents.nallow = 0;
    c->resolver.addrs = glb_cfg_dup(l->resolver.addrs, l->resolver.naddrs, sizeof(glb_addr), &fail);
    c->map.servers = glb_cfg_dup(l->map.servers, l->map.nservers, sizeof(glb_addr), &fail);
    c->map.client_prefixes = glb_cfg_dup(l->map.client_prefixes, l->map.nclient_prefixes, sizeof(glb_prefix), &fail);
    c->map.proxy = glb_cfg_dup(l->map.proxy, l->map.nproxy, sizeof(glb_addr), &fail);
    c->control_allow.ids = glb_cfg_dup(l->control_allow.ids, l->control_allow.n, sizeof(*l->control_allow.ids), &fail);
    if (fail) {
        lb_conf_free(c);
        return NULL;
    }
    return c;
}

lb_conf *lb_svc_effective(const lb_svcset *const *sets, size_t nsets, const lb_conf *local, size_t *nreceived,
                          char *err, size_t errlen)
{
    lb_conf *c = conf_clone(local);
    const lb_service_conf **pick = NULL;
    size_t npick = 0, nrec = 0, cap = local->nservices;
    taken t;
    memset(&t, 0, sizeof(t));
    for (size_t i = 0; i < nsets; i++)
        cap += sets[i]->n;
    if (!c || !(pick = malloc((cap ? cap : 1) * sizeof(*pick))))
        goto nomem;
    /* The local services first: they override the DNS-Bs' (they never
     * conflict among themselves: dnslb.conf refuses that). */
    for (size_t k = 0; k < local->nservices; k++)
        if (taken_add(&t, local->services[k].name) != 0)
            goto nomem;
    for (size_t i = 0; i < nsets; i++)
        for (size_t k = 0; k < sets[i]->n; k++) {
            const lb_service_conf *s = &sets[i]->svc[k].conf;
            if (taken_conflicts(&t, s->name))
                continue; /* a local one's, an earlier DNS-B's, or nesting with one taken */
            if (s->policy.policy == LB_POLICY_PROXIMITY && !local->has_location) {
                char buf[1024];
                log_err("service %s (%s) skipped: proximity needs 'location' in section 'server'",
                        glb_dname_to_str(s->name, buf, sizeof(buf)), s->file);
                continue;
            }
            if (taken_add(&t, s->name) != 0)
                goto nomem;
            pick[npick++] = s;
        }
    nrec = npick;
    for (size_t k = 0; k < local->nservices; k++)
        pick[npick++] = &local->services[k];
    if (npick) {
        c->services = calloc(npick, sizeof(*c->services));
        if (!c->services)
            goto nomem;
    }
    for (size_t k = 0; k < npick; k++) {
        lb_service_conf *d = &c->services[k];
        *d = *pick[k];
        d->sites = NULL;
        c->nservices = k + 1;
        int fail = 0;
        d->sites = glb_cfg_dup(pick[k]->sites, pick[k]->nsites, sizeof(glb_site), &fail);
        if (fail)
            goto nomem;
        d->policy.unmeasured_last = local->probe.unmeasured_last;
    }
    free(pick);
    free(t.names.slot);
    free(t.ancestors.slot);
    if (nreceived)
        *nreceived = nrec;
    return c;
nomem:
    snprintf(err, errlen, "out of memory");
    free(pick);
    free(t.names.slot);
    free(t.ancestors.slot);
    lb_conf_free(c);
    return NULL;
}

size_t lb_svc_union_count(const lb_svcset *const *sets, size_t nsets)
{
    nameset ns;
    memset(&ns, 0, sizeof(ns));
    for (size_t i = 0; i < nsets; i++)
        for (size_t k = 0; k < sets[i]->n; k++)
            if (nameset_add(&ns, sets[i]->svc[k].conf.name) != 0)
                break;
    free(ns.slot);
    return ns.n;
}
