/* The DNS-B's map policy: identities and their allow lines, REGISTER
 * (each claim authorized on its own), RANKING, expiry, and the registrations
 * persisted in the store. SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/mapserver_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"

/* ---- identities -------------------------------------------------------- */

static size_t hash_id(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static ident **ident_slot(dnsb_mapserver *ms, const char *id)
{
    size_t i = hash_id(id) & (ms->icap - 1);
    while (ms->idents[i] && strcmp(ms->idents[i]->id, id) != 0)
        i = (i + 1) & (ms->icap - 1);
    return &ms->idents[i];
}

void dnsb_ms_rankings_free(dnsb_ranking *rk, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rk[i].sites);
    free(rk);
}

/* The identity's record, created when missing (NULL when out of memory). */
ident *dnsb_ms_ident_get(dnsb_mapserver *ms, const char *id)
{
    if (2 * (ms->nidents + 1) > ms->icap) {
        size_t cap = ms->icap ? 2 * ms->icap : 64;
        ident **old = ms->idents, **n = calloc(cap, sizeof(*n));
        if (!n)
            return NULL;
        size_t ocap = ms->icap;
        ms->idents = n;
        ms->icap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i])
                *ident_slot(ms, old[i]->id) = old[i];
        free(old);
    }
    ident **s = ident_slot(ms, id);
    if (!*s) {
        if (!(*s = calloc(1, sizeof(**s))))
            return NULL;
        snprintf((*s)->id, sizeof((*s)->id), "%s", id);
        ms->nidents++;
    }
    return *s;
}

static int cmp_allow(const void *a, const void *b)
{
    return strcmp((*(const dnsb_allow *const *)a)->id, (*(const dnsb_allow *const *)b)->id);
}

const dnsb_allow *dnsb_ms_allow_of(const dnsb_mapserver *ms, const char *id)
{
    dnsb_allow key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    const dnsb_allow *k = &key, **f = bsearch(&k, ms->allow, ms->nallow, sizeof(*ms->allow), cmp_allow);
    return f ? *f : NULL;
}

int dnsb_ms_is_static(const dnsb_conf *c, const char *id)
{
    for (size_t i = 0; i < c->nlbs; i++)
        if (strcmp(c->lbs[i].id, id) == 0)
            return 1;
    return 0;
}

static int claim_allowed(const dnsb_allow *al, const glb_prefix *p)
{
    for (size_t i = 0; al && i < al->nprefixes; i++)
        if (glb_map_prefix_within(p, &al->prefixes[i]))
            return 1;
    return 0;
}

int dnsb_ms_allow_index(dnsb_mapserver *ms, const dnsb_conf *c)
{
    const dnsb_allow **a = malloc((c->map.nallows + 1) * sizeof(*a));
    if (!a)
        return -1;
    for (size_t i = 0; i < c->map.nallows; i++)
        a[i] = &c->map.allows[i];
    qsort(a, c->map.nallows, sizeof(*a), cmp_allow);
    free(ms->allow);
    ms->allow = a;
    ms->nallow = c->map.nallows;
    return 0;
}

/* ---- REGISTER ------------------------------------------------------------ */

/* Claim indices by prefix, then position (the first of equal ones first). */
static int cmp_idx(const void *a, const void *b, void *arg)
{
    const glb_map_claim *claims = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = glb_prefix_cmp(&claims[x].prefix, &claims[y].prefix);
    return c ? c : (x < y ? -1 : x > y);
}

/* Marks claims that repeat an earlier one in dup[]. */
static int mark_duplicates(const glb_map_claim *c, size_t n, uint8_t *dup)
{
    size_t *idx = malloc((n + 1) * sizeof(*idx));
    if (!idx)
        return -1;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_idx, (void *)c);
    for (size_t i = 1; i < n; i++)
        if (glb_prefix_cmp(&c[idx[i - 1]].prefix, &c[idx[i]].prefix) == 0)
            dup[idx[i]] = 1;
    free(idx);
    return 0;
}

static void log_rejections(dnsb_mapserver *ms, ident *who, const glb_map_reject *rj, size_t n)
{
    if (!n)
        return;
    char p[GLB_ADDRSTRLEN];
    double now = glb_mono();
    int warn = now - who->last_warn >= WARN_EVERY || who->last_warn == 0;
    if (warn)
        who->last_warn = now;
    glb_log(warn ? GLB_LOG_WARN : GLB_LOG_DEBUG, "map: %s: %zu claim(s) rejected, first %s (%s)", who->id, n,
            glb_prefix_str(&rj[0].claim.prefix, p, sizeof(p)), glb_map_reject_name(rj[0].reason));
    (void)ms;
}

/* Takes the identity's registration out of the table and the store. */
static void drop_registration(dnsb_mapserver *ms, ident *who, uint64_t seq)
{
    dnsb_registry_remove(ms->reg, who->id);
    if (ms->store)
        dnsb_store_del(ms->store, who->id, seq);
    dnsb_ms_rankings_free(who->rk, who->nrk);
    who->rk = NULL;
    who->nrk = 0;
}

/* Puts an accepted registration expiring at expires (glb_mono) into the
 * registry (and the store, which keeps the wall-clock time: the monotonic
 * clock does not survive a reboot). 0, or -1. */
static int apply_registration(dnsb_mapserver *ms, const glb_map_register *r, double expires, int persist)
{
    dnsb_reg g;
    memset(&g, 0, sizeof(g));
    snprintf(g.id, sizeof(g.id), "%s", r->node_id);
    for (size_t i = 0; i < r->ndns && g.ndns < DNSB_LB_MAX_ADDRS; i++)
        if (glb_addr_is_unicast(&r->dns[i]))
            g.dns[g.ndns++] = r->dns[i];
    for (size_t i = 0; i < r->nproxy && g.nproxy < DNSB_LB_MAX_ADDRS; i++)
        if (glb_addr_is_unicast(&r->proxy[i]))
            g.proxy[g.nproxy++] = r->proxy[i];
    glb_prefix *p = malloc((r->nclaims + 1) * sizeof(*p));
    if (!p)
        return -1;
    for (size_t i = 0; i < r->nclaims; i++)
        p[i] = r->claims[i].prefix;
    g.claims = p;
    g.nclaims = r->nclaims;
    g.sequence = r->sequence;
    g.expires = expires;
    int rc = dnsb_registry_put(ms->reg, &g);
    free(p);
    if (rc == 0 && persist && ms->store)
        dnsb_store_put(ms->store, r, glb_wall() + (expires - glb_mono()));
    return rc;
}

void dnsb_ms_on_register(sess *s, const glb_map_register *r)
{
    dnsb_mapserver *ms = s->ms;
    ident *who = s->who;
    if (strcmp(r->node_id, s->id) != 0) {
        ms->st.unauthorized++;
        dnsb_ms_send_error(s, GLB_MAP_E_UNAUTHORIZED, GLB_MAP_REGISTER, "node-id '%s' is not the certificate's '%s'",
                   r->node_id, s->id);
        return;
    }
    const dnsb_allow *al = dnsb_ms_allow_of(ms, s->id);
    glb_map_claim *acc = malloc((r->nclaims + 1) * sizeof(*acc));
    glb_map_reject *rej = malloc((r->nclaims + 1) * sizeof(*rej));
    uint8_t *dup = calloc(r->nclaims + 1, 1);
    if (!acc || !rej || !dup || mark_duplicates(r->claims, r->nclaims, dup) != 0) {
        free(acc), free(rej), free(dup);
        dnsb_ms_send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_REGISTER, "out of memory");
        return;
    }
    glb_map_register_ack ack = {.sequence = r->sequence};
    size_t nacc = 0, nrej = 0;
    int whole = 0; /* the REGISTER is refused as a whole with this reason */
    int usable = 0;
    for (size_t i = 0; i < r->ndns; i++)
        usable |= glb_addr_is_unicast(&r->dns[i]);
    if (r->sequence <= who->last_seq)
        whole = GLB_MAP_REJ_STALE, ms->st.stale++;
    else if (r->lifetime > 0 && !usable)
        whole = GLB_MAP_REJ_BAD_ADDRESS, ms->st.refused++;
    else if (r->lifetime == 0)
        whole = GLB_MAP_REJ_BAD_PREFIX; /* a withdrawal claims nothing */
    for (size_t i = 0; i < r->nclaims; i++) {
        int why = whole;
        if (!why && dup[i])
            why = GLB_MAP_REJ_DUPLICATE;
        else if (!why && !claim_allowed(al, &r->claims[i].prefix))
            why = GLB_MAP_REJ_NOT_ALLOWED;
        else if (!why && nacc >= ms->conf->map.max_claims)
            why = GLB_MAP_REJ_TOO_MANY, ms->st.limit_claims++;
        if (why) {
            rej[nrej++] = (glb_map_reject){(uint8_t)why, r->claims[i]};
            ms->st.rejected[why < 8 ? why : 0]++;
            who->rejected[why < 8 ? why : 0]++;
        } else
            acc[nacc++] = r->claims[i];
    }
    ms->st.claims_rejected += nrej;
    who->claims_rejected += nrej;
    if (whole != GLB_MAP_REJ_STALE && whole != GLB_MAP_REJ_BAD_ADDRESS) {
        if (r->lifetime == 0) {
            who->last_seq = r->sequence;
            drop_registration(ms, who, r->sequence);
            ms->st.withdrawals++;
            log_notice("map: %s withdrew its registration", who->id);
        } else {
            glb_map_register g = *r;
            g.claims = acc;
            g.nclaims = nacc;
            g.lifetime = r->lifetime < ms->conf->map.lifetime ? r->lifetime : ms->conf->map.lifetime;
            int existed = dnsb_registry_get(ms->reg, who->id) != NULL;
            if (apply_registration(ms, &g, glb_mono() + g.lifetime, 1) != 0) {
                free(acc), free(rej), free(dup);
                dnsb_ms_send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_REGISTER, "cannot store the registration");
                return;
            }
            who->last_seq = r->sequence;
            ack.lifetime = g.lifetime;
            ack.accepted = acc;
            ack.naccepted = nacc;
            ms->st.claims_accepted += nacc;
            if (existed)
                ms->st.refreshes++;
            else {
                ms->st.registrations++;
                log_info("map: %s registered %zu claim(s) for %us", who->id, nacc, g.lifetime);
            }
        }
    }
    log_rejections(ms, who, rej, nrej);
    ack.rejected = rej;
    ack.nrejected = nrej;
    size_t len = 0;
    int erc = glb_map_encode_register_ack(&ack, ms->obuf, GLB_MAP_MAX_FRAME, &len);
    dnsb_ms_send_frame(s, erc, len);
    free(acc), free(rej), free(dup);
    if (!s->services_on) {
        s->services_on = 1;
        dnsb_ms_send_services(s);
    }
}

/* ---- RANKING ------------------------------------------------------------- */

static const dnsb_service_conf *service_of(const dnsb_conf *c, const uint8_t *name)
{
    for (size_t i = 0; i < c->nservices; i++)
        if (glb_dname_equal(c->services[i].name, name))
            return &c->services[i];
    return NULL;
}

static int site_known(const dnsb_service_conf *sc, const char *name)
{
    for (size_t i = 0; i < sc->nsites; i++)
        if (strcmp(sc->sites[i].name, name) == 0)
            return 1;
    return 0;
}

static int ranking_copy(dnsb_ranking *dst, const dnsb_ranking *src)
{
    *dst = *src;
    dst->sites = malloc((src->nsites + 1) * sizeof(*dst->sites));
    if (!dst->sites)
        return -1;
    memcpy(dst->sites, src->sites, src->nsites * sizeof(*dst->sites));
    return 0;
}

/* Publishes a copy of who's rankings (the registry takes ownership). */
static void publish_rankings(dnsb_mapserver *ms, ident *who)
{
    dnsb_ranking *cp = calloc(who->nrk + 1, sizeof(*cp));
    size_t n = 0;
    for (; cp && n < who->nrk; n++)
        if (ranking_copy(&cp[n], &who->rk[n]) != 0)
            break;
    if (!cp || n < who->nrk) {
        dnsb_ms_rankings_free(cp, n);
        log_err("map: %s: out of memory for its rankings", who->id);
        return;
    }
    dnsb_registry_set_rankings(ms->reg, who->id, cp, n);
}

void dnsb_ms_on_ranking(sess *s, const glb_map_ranking *m)
{
    dnsb_mapserver *ms = s->ms;
    ident *who = s->who;
    if (!dnsb_registry_get(ms->reg, who->id))
        return; /* rankings belong to a registration */
    for (size_t e = 0; e < m->nentries; e++) {
        const glb_map_ranking_entry *en = &m->entries[e];
        const dnsb_service_conf *sc = service_of(ms->conf, en->service);
        if (!sc)
            continue; /* data we did not ask for: ignored */
        dnsb_ranking nr;
        memset(&nr, 0, sizeof(nr));
        memcpy(nr.service, sc->name, glb_dname_len(sc->name));
        nr.sites = calloc(en->nsites + 1, sizeof(*nr.sites));
        if (!nr.sites)
            return;
        /* The share counts the leading sites we keep: one we do not know
         * (a SERVICES update in flight) is neither answered nor counted. */
        for (size_t i = 0; i < en->nsites; i++)
            if (site_known(sc, en->sites[i].site)) {
                snprintf(nr.sites[nr.nsites++], sizeof(nr.sites[0]), "%s", en->sites[i].site);
                if (i < en->share)
                    nr.share = nr.nsites;
            }
        if (nr.share == 0)
            nr.share = 1;
        size_t k = 0;
        while (k < who->nrk && !glb_dname_equal(who->rk[k].service, nr.service))
            k++;
        if (k < who->nrk) {
            free(who->rk[k].sites);
            who->rk[k] = who->rk[--who->nrk];
        }
        if (nr.nsites == 0) {
            free(nr.sites);
            continue;
        }
        dnsb_ranking *g = realloc(who->rk, (who->nrk + 1) * sizeof(*g));
        if (!g) {
            free(nr.sites);
            return;
        }
        who->rk = g;
        who->rk[who->nrk++] = nr;
    }
    ms->st.rankings++;
    publish_rankings(ms, who);
}

typedef struct expired {
    char (*ids)[64];
    size_t n, cap;
    double now;
} expired;

static void push_id(expired *x, const char *id)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        char(*n)[64] = realloc(x->ids, cap * sizeof(*n));
        if (!n)
            return;
        x->ids = n;
        x->cap = cap;
    }
    snprintf(x->ids[x->n++], 64, "%s", id);
}

static void find_expired(void *arg, const dnsb_reg *g)
{
    expired *x = arg;
    if (!g->is_static && g->expires != 0 && g->expires <= x->now)
        push_id(x, g->id);
}

void dnsb_ms_expire(dnsb_mapserver *ms, double now)
{
    expired x = {.now = now};
    dnsb_registry_walk(ms->reg, find_expired, &x);
    for (size_t i = 0; i < x.n; i++) {
        ident **slot = ms->icap ? ident_slot(ms, x.ids[i]) : NULL;
        if (slot && *slot) {
            dnsb_ms_rankings_free((*slot)->rk, (*slot)->nrk);
            (*slot)->rk = NULL;
            (*slot)->nrk = 0;
        }
        if (ms->store)
            dnsb_store_del(ms->store, x.ids[i], 0);
        log_notice("map: registration of %s expired", x.ids[i]);
    }
    if (x.n)
        ms->st.expirations += dnsb_registry_expire(ms->reg, now);
    free(x.ids);
}

typedef struct loader {
    dnsb_mapserver *ms;
    size_t kept, dropped;
} loader;

static void load_reg(void *arg, const glb_map_register *r, double expires)
{
    loader *L = arg;
    dnsb_mapserver *ms = L->ms;
    const dnsb_allow *al = dnsb_ms_allow_of(ms, r->node_id);
    if (!al || dnsb_ms_is_static(ms->conf, r->node_id)) {
        L->dropped++;
        if (ms->store)
            dnsb_store_del(ms->store, r->node_id, 0);
        return;
    }
    /* The configuration may have narrowed since: only claims still allowed. */
    glb_map_claim *c = malloc((r->nclaims + 1) * sizeof(*c));
    if (!c)
        return;
    size_t n = 0;
    for (size_t i = 0; i < r->nclaims; i++)
        if (claim_allowed(al, &r->claims[i].prefix))
            c[n++] = r->claims[i];
    glb_map_register g = *r;
    g.claims = c;
    g.nclaims = n;
    ident *who = dnsb_ms_ident_get(ms, r->node_id);
    if (who && who->last_seq < r->sequence)
        who->last_seq = r->sequence;
    /* the stored wall-clock expiry, in the registry's monotonic time */
    if (apply_registration(ms, &g, glb_mono() + (expires - glb_wall()), n != r->nclaims) == 0)
        L->kept++;
    free(c);
}

static void load_seq(void *arg, const char *id, uint64_t seq)
{
    loader *L = arg;
    ident *who = dnsb_ms_ident_get(L->ms, id);
    if (who && who->last_seq < seq)
        who->last_seq = seq;
}

static void find_dynamic(void *arg, const dnsb_reg *g)
{
    if (!g->is_static)
        push_id(arg, g->id);
}

/* A reload narrowed or removed what an identity may claim: rebuild its
 * registration from the claims still allowed. */
static void narrow(dnsb_mapserver *ms, const char *id)
{
    const dnsb_reg *g = dnsb_registry_get(ms->reg, id);
    const dnsb_allow *al = dnsb_ms_allow_of(ms, id);
    ident *who = dnsb_ms_ident_get(ms, id);
    if (!g || !who)
        return;
    int stat = dnsb_ms_is_static(ms->conf, id);
    if (!al || stat) {
        if (who->sess)
            dnsb_ms_send_bye(who->sess, GLB_MAP_BYE_SHUTDOWN, stat ? "configured statically now" : "no longer allowed");
        if (!stat)
            drop_registration(ms, who, 0);
        else if (ms->store)
            dnsb_store_del(ms->store, id, 0);
        log_notice("map: %s is %s, its registration is dropped", id, stat ? "configured statically now" : "no longer allowed");
        return;
    }
    size_t keep = 0, had = g->nclaims; /* g is gone once the registry changes */
    for (size_t i = 0; i < g->nclaims; i++)
        keep += claim_allowed(al, &g->claims[i]);
    if (keep == had)
        return;
    dnsb_reg n = *g;
    glb_prefix *c = malloc((g->nclaims + 1) * sizeof(*c));
    if (!c)
        return;
    n.nclaims = 0;
    for (size_t i = 0; i < g->nclaims; i++)
        if (claim_allowed(al, &g->claims[i]))
            c[n.nclaims++] = g->claims[i];
    n.claims = c;
    dnsb_registry_remove(ms->reg, id);
    dnsb_registry_put(ms->reg, &n);
    publish_rankings(ms, who); /* the remove took them from the map */
    free(c);
    log_notice("map: %s: %zu claim(s) no longer allowed, removed", id, had - keep);
}


long dnsb_ms_load(dnsb_mapserver *ms, size_t *kept, size_t *dropped)
{
    loader L = {ms, 0, 0};
    dnsb_registry_batch_begin(ms->reg);
    long n = dnsb_store_load(ms->store, glb_wall(), load_reg, load_seq, &L);
    dnsb_registry_batch_end(ms->reg);
    *kept = L.kept;
    *dropped = L.dropped;
    return n;
}

void dnsb_ms_recheck(dnsb_mapserver *ms)
{
    expired ids = {0};
    dnsb_registry_walk(ms->reg, find_dynamic, &ids);
    for (size_t i = 0; i < ids.n; i++)
        narrow(ms, ids.ids[i]);
    free(ids.ids);
    for (size_t i = 0; ms->store && i < ms->conf->nlbs; i++) /* configured statically now: the file owns them */
        dnsb_store_del(ms->store, ms->conf->lbs[i].id, 0);
}
