/* The DNS-B side of the map protocol: sessions, policy, soft state.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/mapserver.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <math.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnsb/svcset.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"
#include "shared/server_int.h"
#include "shared/tls.h"

enum { S_TLS, S_HELLO, S_EST, S_CLOSING };
static const char *const state_names[] = {"tls", "hello", "established", "closing"};

#define CLOSE_WAIT 2.0     /* seconds a closing session may take to flush */
#define WARN_EVERY 60.0    /* seconds between warnings about one identity's rejected claims */
#define MAX_LISTEN 16

/* What the server remembers about an identity, connected or not. */
typedef struct ident {
    char id[64];
    uint64_t last_seq;          /* last accepted sequence, kept after withdrawal and expiry */
    uint64_t rejected[8];       /* claims rejected, by reason */
    uint64_t claims_rejected;
    double last_warn;
    dnsb_ranking *rk;           /* its rankings as reported (merged per service) */
    size_t nrk;
    struct sess *sess;          /* its established session, if any */
} ident;

typedef struct sess {
    struct sess *prev, *next;
    dnsb_mapserver *ms;
    struct bufferevent *bev;
    int state;
    char id[64];
    glb_addr peer;
    double t_start, t_rx, t_tx, t_closing; /* monotonic */
    double connected, last_frame;          /* wall clock, for list-lbs */
    uint64_t frames_in, frames_out;
    uint64_t caps;
    int has_serial;
    uint64_t serial;            /* SERVICES serial the peer holds */
    int services_on;            /* services flow (after the first REGISTER_ACK) */
    uint64_t ka_nonce;
    ident *who;
} sess;

struct dnsb_mapserver {
    const dnsb_conf *conf;
    dnsb_registry *reg;
    dnsb_store *store;
    struct event_base *base;
    SSL_CTX *tls;
    char id[64];
    int fds[MAX_LISTEN];
    glb_addr addrs[MAX_LISTEN];
    size_t nlisten;
    struct evconnlistener *lev[MAX_LISTEN];
    struct event *tick;
    sess *sessions;
    const dnsb_allow **allow;   /* sorted by id */
    size_t nallow;
    ident **idents;             /* open hash by id */
    size_t icap, nidents;
    dnsb_svcset *svc, *svc_prev;
    double next_expiry;
    dnsb_map_stats st;
    glb_map_reader rd;          /* one for all sessions: each message is handled before the next */
    uint8_t *obuf;              /* one encoded frame */
};

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

static void rankings_free(dnsb_ranking *rk, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rk[i].sites);
    free(rk);
}

/* The identity's record, created when missing (NULL when out of memory). */
static ident *ident_get(dnsb_mapserver *ms, const char *id)
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

static const dnsb_allow *allow_of(const dnsb_mapserver *ms, const char *id)
{
    dnsb_allow key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    const dnsb_allow *k = &key, **f = bsearch(&k, ms->allow, ms->nallow, sizeof(*ms->allow), cmp_allow);
    return f ? *f : NULL;
}

static int is_static_id(const dnsb_conf *c, const char *id)
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

static int build_allow_index(dnsb_mapserver *ms, const dnsb_conf *c)
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

/* ---- frames out --------------------------------------------------------- */

static void sess_free(sess *s);

/* Queues the frame an encode call left in obuf (rc, len: call it before,
 * not in the argument list, where len could be read first). */
static void send_frame(sess *s, int rc, size_t len)
{
    if (rc != GLB_MAP_OK) /* our own message: a bug, not the peer's fault */
        log_err("map: %s: cannot encode a message: %s", s->id, glb_map_code_name(rc));
    if (rc != GLB_MAP_OK || s->state == S_CLOSING)
        return;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    if (evbuffer_add(out, s->ms->obuf, len) == 0) {
        s->frames_out++;
        s->ms->st.frames_out++;
        s->t_tx = glb_mono();
    }
}

/* Ends the session: flushes what is queued, then TLS close_notify. */
static void sess_close(sess *s)
{
    if (s->state == S_CLOSING)
        return;
    s->state = S_CLOSING;
    s->t_closing = glb_mono();
    bufferevent_disable(s->bev, EV_READ);
    if (s->who && s->who->sess == s)
        s->who->sess = NULL;
}

static void send_error(sess *s, int code, uint8_t ref, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void send_error(sess *s, int code, uint8_t ref, const char *fmt, ...)
{
    char text[200], a[GLB_ADDRSTRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_warn("map: %s (%s): %s: %s, closing", glb_addrport_str(&s->peer, a, sizeof(a)), s->id[0] ? s->id : "-",
             glb_map_code_name(code), text);
    glb_map_error_msg e = {.code = (uint16_t)code, .text = text, .has_ref_type = ref != 0, .ref_type = ref};
    size_t len = 0;
    int erc = glb_map_encode_error(&e, s->ms->obuf, GLB_MAP_MAX_FRAME, &len);
    send_frame(s, erc, len);
    sess_close(s);
}

static void send_bye(sess *s, uint8_t reason, const char *text)
{
    glb_map_bye b = {.reason = reason, .text = text};
    size_t len = 0;
    int erc = glb_map_encode_bye(&b, s->ms->obuf, GLB_MAP_MAX_FRAME, &len);
    send_frame(s, erc, len);
    sess_close(s);
}

/* Sends what brings the peer to the current service set. */
static void send_services(sess *s)
{
    dnsb_mapserver *ms = s->ms;
    if (!ms->svc || (s->has_serial && s->serial == dnsb_svcset_serial(ms->svc)))
        return;
    const dnsb_svcset *base = NULL;
    if (s->has_serial && ms->svc_prev && s->serial == dnsb_svcset_serial(ms->svc_prev) && (s->caps & GLB_MAP_CAP_DELTA))
        base = ms->svc_prev;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    int n = dnsb_svcset_frames(ms->svc, base, out);
    if (n < 0) {
        send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_SERVICES, "cannot encode the service set");
        return;
    }
    s->frames_out += (uint64_t)n;
    ms->st.frames_out += (uint64_t)n;
    ms->st.services_sent += (uint64_t)n;
    s->has_serial = 1;
    s->serial = dnsb_svcset_serial(ms->svc);
    s->t_tx = glb_mono();
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
    rankings_free(who->rk, who->nrk);
    who->rk = NULL;
    who->nrk = 0;
}

/* Puts an accepted registration into the registry (and the store). 0, or -1. */
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
        dnsb_store_put(ms->store, r, expires);
    return rc;
}

static void on_register(sess *s, const glb_map_register *r)
{
    dnsb_mapserver *ms = s->ms;
    ident *who = s->who;
    if (strcmp(r->node_id, s->id) != 0) {
        ms->st.unauthorized++;
        send_error(s, GLB_MAP_E_UNAUTHORIZED, GLB_MAP_REGISTER, "node-id '%s' is not the certificate's '%s'",
                   r->node_id, s->id);
        return;
    }
    const dnsb_allow *al = allow_of(ms, s->id);
    glb_map_claim *acc = malloc((r->nclaims + 1) * sizeof(*acc));
    glb_map_reject *rej = malloc((r->nclaims + 1) * sizeof(*rej));
    uint8_t *dup = calloc(r->nclaims + 1, 1);
    if (!acc || !rej || !dup || mark_duplicates(r->claims, r->nclaims, dup) != 0) {
        free(acc), free(rej), free(dup);
        send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_REGISTER, "out of memory");
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
            if (apply_registration(ms, &g, glb_wall() + g.lifetime, 1) != 0) {
                free(acc), free(rej), free(dup);
                send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_REGISTER, "cannot store the registration");
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
    send_frame(s, erc, len);
    free(acc), free(rej), free(dup);
    if (!s->services_on) {
        s->services_on = 1;
        send_services(s);
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
        rankings_free(cp, n);
        log_err("map: %s: out of memory for its rankings", who->id);
        return;
    }
    dnsb_registry_set_rankings(ms->reg, who->id, cp, n);
}

static void on_ranking(sess *s, const glb_map_ranking *m)
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
        for (size_t i = 0; i < en->nsites; i++)
            if (site_known(sc, en->sites[i].site))
                snprintf(nr.sites[nr.nsites++], sizeof(nr.sites[0]), "%s", en->sites[i].site);
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

/* ---- HELLO and dispatch ------------------------------------------------- */

static void on_hello(sess *s, const glb_map_hello *h)
{
    dnsb_mapserver *ms = s->ms;
    if (h->role != GLB_MAP_ROLE_LB) {
        ms->st.malformed++;
        send_error(s, GLB_MAP_E_UNEXPECTED, GLB_MAP_HELLO, "role %s is not served here", glb_map_role_name(h->role));
        return;
    }
    if (strcmp(h->node_id, s->id) != 0 || !allow_of(ms, s->id) || is_static_id(ms->conf, s->id)) {
        ms->st.unauthorized++;
        send_error(s, GLB_MAP_E_UNAUTHORIZED, GLB_MAP_HELLO, "identity '%s' (node-id '%s') is not allowed", s->id,
                   h->node_id);
        return;
    }
    ident *who = ident_get(ms, s->id);
    if (!who) {
        send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_HELLO, "out of memory");
        return;
    }
    if (who->sess && who->sess != s)
        send_bye(who->sess, GLB_MAP_BYE_REPLACED, "a newer session took over");
    who->sess = s;
    s->who = who;
    s->caps = h->caps;
    s->has_serial = h->has_serial;
    s->serial = h->serial;
    unsigned ka = ms->conf->map.idle_timeout / GLB_MAP_IDLE_FACTOR;
    ka = ka < GLB_MAP_KEEPALIVE_MIN ? GLB_MAP_KEEPALIVE_MIN : ka > GLB_MAP_KEEPALIVE_MAX ? GLB_MAP_KEEPALIVE_MAX : ka;
    glb_map_hello me;
    glb_map_hello_defaults(&me);
    me.role = GLB_MAP_ROLE_DNSB;
    me.version = GLB_MAP_VERSION;
    me.node_id = ms->id;
    me.caps = GLB_MAP_CAP_DELTA | GLB_MAP_CAP_RANKING;
    me.whoami = ms->conf->whoami[0] ? ms->conf->whoami : NULL;
    me.keepalive = ka;
    me.software = PACKAGE_NAME " " PACKAGE_VERSION;
    size_t len = 0;
    int erc = glb_map_encode_hello(&me, ms->obuf, GLB_MAP_MAX_FRAME, &len);
    send_frame(s, erc, len);
    s->state = S_EST;
    ms->st.established++;
    char a[GLB_ADDRSTRLEN];
    log_info("map: %s connected from %s", s->id, glb_addrport_str(&s->peer, a, sizeof(a)));
}

static void on_frame(sess *s, const glb_map_msg *m)
{
    dnsb_mapserver *ms = s->ms;
    if (s->state == S_HELLO && m->type != GLB_MAP_HELLO && m->type != GLB_MAP_BYE && m->type != GLB_MAP_ERROR) {
        ms->st.malformed++;
        send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "%s before HELLO", glb_map_type_name(m->type));
        return;
    }
    switch (m->type) {
    case GLB_MAP_HELLO:
        if (s->state != S_HELLO) {
            ms->st.malformed++;
            send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "second HELLO");
            return;
        }
        on_hello(s, &m->u.hello);
        return;
    case GLB_MAP_REGISTER:
        on_register(s, &m->u.reg);
        return;
    case GLB_MAP_RANKING:
        if (!s->services_on) {
            ms->st.malformed++;
            send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "RANKING before REGISTER_ACK");
            return;
        }
        on_ranking(s, &m->u.ranking);
        return;
    case GLB_MAP_KEEPALIVE:
        if (!m->u.keepalive.reply) {
            glb_map_keepalive k = {.nonce = m->u.keepalive.nonce, .reply = 1};
            size_t len = 0;
            int erc = glb_map_encode_keepalive(&k, ms->obuf, GLB_MAP_MAX_FRAME, &len);
            send_frame(s, erc, len);
        }
        return;
    case GLB_MAP_BYE:
        log_info("map: %s said BYE (%s)", s->id[0] ? s->id : "-", glb_map_bye_name(m->u.bye.reason));
        sess_close(s);
        return;
    case GLB_MAP_ERROR:
        log_warn("map: %s sent ERROR %s: %s", s->id[0] ? s->id : "-", glb_map_code_name(m->u.error.code),
                 m->u.error.text ? m->u.error.text : "");
        sess_close(s);
        return;
    default: /* REGISTER_ACK, SERVICES, METRICS: not for a DNS-B */
        ms->st.malformed++;
        send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "%s is not sent to a DNS-B", glb_map_type_name(m->type));
    }
}

/* ---- I/O ------------------------------------------------------------------ */

static void read_cb(struct bufferevent *bev, void *arg)
{
    sess *s = arg;
    dnsb_mapserver *ms = s->ms;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (s->state == S_HELLO || s->state == S_EST) {
        glb_map_msg m;
        glb_map_error e;
        int r = glb_map_read(&ms->rd, in, &m, &e);
        if (r == 0)
            return;
        if (r < 0) { /* the header already says the stream cannot go on */
            if (e.code == GLB_MAP_E_LIMIT)
                ms->st.limit_frame++;
            else if (e.code == GLB_MAP_E_BAD_VERSION)
                ms->st.malformed++;
            send_error(s, e.code, 0, "%s", e.text);
            return;
        }
        s->frames_in++;
        ms->st.frames_in++;
        s->t_rx = glb_mono();
        s->last_frame = glb_wall();
        if (e.code != GLB_MAP_OK) {
            if (e.code == GLB_MAP_E_LIMIT)
                ms->st.limit_frame++;
            else
                ms->st.malformed++;
            send_error(s, e.code, e.type, "%s", e.text);
            return;
        }
        on_frame(s, &m);
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    sess *s = arg;
    if (s->state == S_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        sess_free(s);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    sess *s = arg;
    dnsb_mapserver *ms = s->ms;
    char a[GLB_ADDRSTRLEN];
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        if (glb_tls_peer_id(ssl, s->id, sizeof(s->id)) != 0 || !glb_map_id_valid(s->id)) {
            ms->st.unauthorized++;
            s->state = S_HELLO; /* so that the ERROR is sent */
            send_error(s, GLB_MAP_E_UNAUTHORIZED, 0, "certificate CN '%s' is not a valid id", s->id);
            s->id[0] = 0;
            return;
        }
        s->state = S_HELLO;
        /* The HELLO may have come with the handshake's last flight. */
        if (evbuffer_get_length(bufferevent_get_input(bev)))
            read_cb(bev, s);
        return;
    }
    if (s->state == S_TLS) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[256] = "connection closed";
        if (e)
            ERR_error_string_n(e, buf, sizeof(buf));
        ms->st.handshake_failures++;
        log_info("map: %s: TLS handshake failed: %s", glb_addrport_str(&s->peer, a, sizeof(a)), buf);
    } else if (s->state != S_CLOSING)
        log_info("map: %s (%s): connection closed", glb_addrport_str(&s->peer, a, sizeof(a)), s->id);
    sess_free(s);
}

static void sess_free(sess *s)
{
    dnsb_mapserver *ms = s->ms;
    if (s->who && s->who->sess == s)
        s->who->sess = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        ms->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    if (ssl && s->state == S_CLOSING)
        SSL_shutdown(ssl); /* close_notify, best effort */
    bufferevent_free(s->bev);
    ms->st.sessions--;
    free(s);
}

static size_t nsessions(const dnsb_mapserver *ms)
{
    return (size_t)ms->st.sessions;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l, (void)salen;
    dnsb_mapserver *ms = arg;
    ms->st.connections++;
    if (nsessions(ms) >= ms->conf->map.max_connections) {
        ms->st.limit_connections++;
        if (ms->st.limit_connections % 1000 == 1)
            log_warn("map: max-connections (%u) reached, refusing connections", ms->conf->map.max_connections);
        evutil_closesocket(fd);
        return;
    }
    SSL *ssl = SSL_new(ms->tls);
    sess *s = calloc(1, sizeof(*s));
    struct bufferevent *bev = ssl ? bufferevent_openssl_socket_new(ms->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                                   BEV_OPT_CLOSE_ON_FREE)
                                  : NULL;
    if (!s || !bev) {
        if (bev)
            bufferevent_free(bev); /* frees ssl and fd */
        else {
            SSL_free(ssl);
            evutil_closesocket(fd);
        }
        free(s);
        log_err("map: out of memory for a connection");
        return;
    }
    s->ms = ms;
    s->bev = bev;
    glb_addr_from_sockaddr(sa, &s->peer);
    s->t_start = s->t_rx = s->t_tx = glb_mono();
    s->connected = glb_wall();
    s->next = ms->sessions;
    if (ms->sessions)
        ms->sessions->prev = s;
    ms->sessions = s;
    ms->st.sessions++;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
    bufferevent_setwatermark(bev, EV_READ, 0, GLB_MAP_MAX_FRAME + 4096);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- periodic work -------------------------------------------------------- */

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

static void expire(dnsb_mapserver *ms, double now)
{
    expired x = {.now = now};
    dnsb_registry_walk(ms->reg, find_expired, &x);
    for (size_t i = 0; i < x.n; i++) {
        ident **slot = ms->icap ? ident_slot(ms, x.ids[i]) : NULL;
        if (slot && *slot) {
            rankings_free((*slot)->rk, (*slot)->nrk);
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

void dnsb_mapserver_tick(dnsb_mapserver *ms, double now)
{
    double t = glb_mono(), w = now > 0 ? now : glb_wall();
    if (now > 0 || w >= ms->next_expiry) {
        expire(ms, w);
        ms->next_expiry = w + 1.0;
    }
    const dnsb_map_conf *mc = &ms->conf->map;
    for (sess *s = ms->sessions, *next; s; s = next) {
        next = s->next;
        if (s->state == S_CLOSING) {
            if (t - s->t_closing > CLOSE_WAIT)
                sess_free(s);
            continue;
        }
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > DNSB_MAP_OUTPUT_MAX) {
            ms->st.limit_output++;
            log_warn("map: %s does not read what it is sent, dropped", s->id);
            s->state = S_CLOSING;
            sess_free(s);
            continue;
        }
        if (s->state != S_EST && t - s->t_start > mc->handshake_timeout) {
            ms->st.limit_handshake++;
            if (s->state == S_TLS) {
                char a[GLB_ADDRSTRLEN];
                log_info("map: %s: TLS handshake not done in %us", glb_addrport_str(&s->peer, a, sizeof(a)),
                         mc->handshake_timeout);
                sess_free(s);
            } else
                send_error(s, GLB_MAP_E_TIMEOUT, 0, "no HELLO within %us", mc->handshake_timeout);
            continue;
        }
        if (s->state == S_EST && t - s->t_rx > mc->idle_timeout) {
            ms->st.limit_idle++;
            log_info("map: %s silent for %us, closing", s->id, mc->idle_timeout);
            send_bye(s, GLB_MAP_BYE_IDLE, "idle");
            continue;
        }
        unsigned ka = mc->idle_timeout / GLB_MAP_IDLE_FACTOR;
        if (s->state == S_EST && t - s->t_tx > (ka < GLB_MAP_KEEPALIVE_MIN ? GLB_MAP_KEEPALIVE_MIN : ka)) {
            glb_map_keepalive k = {0};
            RAND_bytes((unsigned char *)&k.nonce, sizeof(k.nonce));
            size_t len = 0;
            int erc = glb_map_encode_keepalive(&k, ms->obuf, GLB_MAP_MAX_FRAME, &len);
            send_frame(s, erc, len);
        }
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dnsb_mapserver_tick(arg, 0);
}

/* ---- life cycle ------------------------------------------------------------ */

dnsb_mapserver *dnsb_mapserver_new(const dnsb_conf *conf, dnsb_registry *reg, char *err, size_t errlen)
{
    const dnsb_map_conf *mc = &conf->map;
    if (mc->nlisten > MAX_LISTEN) {
        snprintf(err, errlen, "map: at most %d listen addresses", MAX_LISTEN);
        return NULL;
    }
    dnsb_mapserver *ms = calloc(1, sizeof(*ms));
    if (!ms || !(ms->obuf = malloc(GLB_MAP_MAX_FRAME))) {
        free(ms);
        snprintf(err, errlen, "map: out of memory");
        return NULL;
    }
    ms->conf = conf;
    ms->reg = reg;
    for (size_t i = 0; i < MAX_LISTEN; i++)
        ms->fds[i] = -1;
    char e[512];
    if (!(ms->tls = glb_tls_server_ctx(mc->tls_cert, mc->tls_key, mc->tls_ca, e, sizeof(e)))) {
        snprintf(err, errlen, "map: %s", e);
        goto fail;
    }
    if (glb_tls_ctx_id(ms->tls, ms->id, sizeof(ms->id)) != 0) {
        snprintf(err, errlen, "map: tls-cert-file '%s': its subject CN is not a valid node id", mc->tls_cert);
        goto fail;
    }
    if (build_allow_index(ms, conf) != 0) {
        snprintf(err, errlen, "map: out of memory");
        goto fail;
    }
    char se[256];
    if (!(ms->svc = dnsb_svcset_build(conf, (uint64_t)(glb_wall() * 1000), se, sizeof(se)))) {
        snprintf(err, errlen, "map: %s", se);
        goto fail;
    }
    for (size_t i = 0; i < mc->nlisten; i++) {
        int pk;
        if ((ms->fds[i] = glb_srv_open_bound(&mc->listen[i], SOCK_STREAM, &pk, e, sizeof(e))) < 0) {
            snprintf(err, errlen, "map: listen %s", e);
            goto fail;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ms->addrs[i] = mc->listen[i];
        if (getsockname(ms->fds[i], (struct sockaddr *)&ss, &sl) == 0)
            glb_addr_from_sockaddr((struct sockaddr *)&ss, &ms->addrs[i]);
        ms->nlisten = i + 1;
    }
    return ms;
fail:
    dnsb_mapserver_free(ms);
    return NULL;
}

typedef struct loader {
    dnsb_mapserver *ms;
    size_t kept, dropped;
} loader;

static void load_reg(void *arg, const glb_map_register *r, double expires)
{
    loader *L = arg;
    dnsb_mapserver *ms = L->ms;
    const dnsb_allow *al = allow_of(ms, r->node_id);
    if (!al || is_static_id(ms->conf, r->node_id)) {
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
    ident *who = ident_get(ms, r->node_id);
    if (who && who->last_seq < r->sequence)
        who->last_seq = r->sequence;
    if (apply_registration(ms, &g, expires, n != r->nclaims) == 0)
        L->kept++;
    free(c);
}

static void load_seq(void *arg, const char *id, uint64_t seq)
{
    loader *L = arg;
    ident *who = ident_get(L->ms, id);
    if (who && who->last_seq < seq)
        who->last_seq = seq;
}

int dnsb_mapserver_start(dnsb_mapserver *ms, struct event_base *base, dnsb_store *store, char *err, size_t errlen)
{
    ms->base = base;
    ms->store = store;
    if (store) {
        loader L = {ms, 0, 0};
        double t0 = glb_mono();
        dnsb_registry_batch_begin(ms->reg);
        long n = dnsb_store_load(store, glb_wall(), load_reg, load_seq, &L);
        dnsb_registry_batch_end(ms->reg);
        if (n < 0) {
            snprintf(err, errlen, "map: cannot read the database");
            return -1;
        }
        log_notice("map: %zu registrations loaded from the database in %.3fs (%zu dropped by the configuration)",
                   L.kept, glb_mono() - t0, L.dropped);
    }
    for (size_t i = 0; i < ms->nlisten; i++) {
        ms->lev[i] = evconnlistener_new(base, accept_cb, ms, LEV_OPT_CLOSE_ON_FREE, SOMAXCONN, ms->fds[i]);
        if (!ms->lev[i]) {
            snprintf(err, errlen, "map: cannot listen");
            return -1;
        }
        ms->fds[i] = -1; /* the listener owns it */
    }
    ms->tick = event_new(base, -1, EV_PERSIST, tick_cb, ms);
    struct timeval tv = {0, DNSB_MAP_TICK_MS * 1000};
    if (!ms->tick || event_add(ms->tick, &tv) != 0) {
        snprintf(err, errlen, "map: cannot start the timer");
        return -1;
    }
    ms->next_expiry = 0;
    return 0;
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
    const dnsb_allow *al = allow_of(ms, id);
    ident *who = ident_get(ms, id);
    if (!g || !who)
        return;
    int stat = is_static_id(ms->conf, id);
    if (!al || stat) {
        if (who->sess)
            send_bye(who->sess, GLB_MAP_BYE_SHUTDOWN, stat ? "configured statically now" : "no longer allowed");
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

void dnsb_mapserver_reload(dnsb_mapserver *ms, const dnsb_conf *conf)
{
    const dnsb_map_conf *mc = &conf->map;
    char e[512];
    SSL_CTX *tls = glb_tls_server_ctx(mc->tls_cert, mc->tls_key, mc->tls_ca, e, sizeof(e));
    char id[64];
    if (tls && glb_tls_ctx_id(tls, id, sizeof(id)) == 0) {
        SSL_CTX_free(ms->tls);
        ms->tls = tls;
        snprintf(ms->id, sizeof(ms->id), "%s", id);
    } else {
        SSL_CTX_free(tls);
        log_warn("map: reload keeps the previous certificates: %s", tls ? "CN is not a valid node id" : e);
    }
    ms->conf = conf;
    if (build_allow_index(ms, conf) != 0)
        log_err("map: reload: out of memory");
    expired ids = {0};
    dnsb_registry_walk(ms->reg, find_dynamic, &ids);
    for (size_t i = 0; i < ids.n; i++)
        narrow(ms, ids.ids[i]);
    free(ids.ids);
    for (size_t i = 0; ms->store && i < conf->nlbs; i++) /* configured statically now: the file owns them */
        dnsb_store_del(ms->store, conf->lbs[i].id, 0);
    for (sess *s = ms->sessions; s; s = s->next) /* identities that lost their allow line */
        if (s->state == S_EST && (!allow_of(ms, s->id) || is_static_id(conf, s->id)))
            send_bye(s, GLB_MAP_BYE_SHUTDOWN, "no longer allowed");
    double ms_now = glb_wall() * 1000;
    uint64_t serial = dnsb_svcset_serial(ms->svc) + 1;
    if ((double)serial < ms_now)
        serial = (uint64_t)ms_now;
    dnsb_svcset *n = dnsb_svcset_build(conf, serial, e, sizeof(e));
    if (!n) {
        log_err("map: reload: the services are not sent: %s", e);
        return;
    }
    if (dnsb_svcset_same(n, ms->svc)) {
        dnsb_svcset_free(n);
        return;
    }
    dnsb_svcset_free(ms->svc_prev);
    ms->svc_prev = ms->svc;
    ms->svc = n;
    ms->st.services_serial = serial;
    log_info("map: services changed, serial %llu", (unsigned long long)serial);
    for (sess *s = ms->sessions; s; s = s->next)
        if (s->state == S_EST && s->services_on)
            send_services(s);
}

void dnsb_mapserver_stop(dnsb_mapserver *ms, unsigned timeout_ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->nlisten; i++)
        if (ms->lev[i]) {
            evconnlistener_free(ms->lev[i]);
            ms->lev[i] = NULL;
        }
    for (sess *s = ms->sessions; s; s = s->next)
        if (s->state == S_EST)
            send_bye(s, GLB_MAP_BYE_SHUTDOWN, "server shutting down");
        else
            sess_close(s);
    double end = glb_mono() + timeout_ms / 1000.0;
    while (ms->sessions && ms->base && glb_mono() < end)
        event_base_loop(ms->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    while (ms->sessions)
        sess_free(ms->sessions);
    if (ms->tick) {
        event_free(ms->tick);
        ms->tick = NULL;
    }
}

void dnsb_mapserver_free(dnsb_mapserver *ms)
{
    if (!ms)
        return;
    dnsb_mapserver_stop(ms, 0);
    for (size_t i = 0; i < MAX_LISTEN; i++)
        if (ms->fds[i] >= 0)
            close(ms->fds[i]);
    for (size_t i = 0; i < ms->icap; i++)
        if (ms->idents[i]) {
            rankings_free(ms->idents[i]->rk, ms->idents[i]->nrk);
            free(ms->idents[i]);
        }
    free(ms->idents);
    free(ms->allow);
    dnsb_svcset_free(ms->svc);
    dnsb_svcset_free(ms->svc_prev);
    SSL_CTX_free(ms->tls);
    glb_map_reader_free(&ms->rd);
    free(ms->obuf);
    free(ms);
}

void dnsb_mapserver_stats(const dnsb_mapserver *ms, dnsb_map_stats *out)
{
    *out = ms->st;
    out->services_serial = ms->svc ? dnsb_svcset_serial(ms->svc) : 0;
}

void dnsb_mapserver_sessions(const dnsb_mapserver *ms, void (*fn)(void *arg, const dnsb_map_session_info *s),
                             void *arg)
{
    for (const sess *s = ms->sessions; s; s = s->next) {
        dnsb_map_session_info i = {.peer = s->peer, .state = state_names[s->state], .connected = s->connected,
                                   .last_frame = s->last_frame, .frames_in = s->frames_in,
                                   .frames_out = s->frames_out, .serial = s->has_serial ? s->serial : 0};
        snprintf(i.id, sizeof(i.id), "%s", s->id);
        i.registered = s->id[0] && dnsb_registry_get(ms->reg, s->id) != NULL;
        i.claims_rejected = s->who ? s->who->claims_rejected : 0;
        fn(arg, &i);
    }
}

const char *dnsb_mapserver_id(const dnsb_mapserver *ms)
{
    return ms->id;
}

size_t dnsb_mapserver_listen_addrs(const dnsb_mapserver *ms, glb_addr *out, size_t max)
{
    size_t n = ms->nlisten < max ? ms->nlisten : max;
    memcpy(out, ms->addrs, n * sizeof(*out));
    return n;
}
