/* What the DNS-LB's map client says and hears: its claims and REGISTER,
 * the server's REGISTER_ACK, RANKING for direct mode, and SERVICES with the
 * services file that lets a restart serve without a DNS-B.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapclient_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/log.h"

/* ---- Claims and REGISTER ------------------------------------------------- */

void lbmc_take_conf(lb_mapclient *mc, const lb_conf *conf)
{
    const lb_map_conf *m = &conf->map;
    snprintf(mc->id, sizeof(mc->id), "%s", conf->id);
    /* An agent connects from where it measures: the box takes the clients
     * near that address for its (agents.h). */
    mc->has_src4 = conf->agent && conf->probe.has_src4;
    mc->has_src6 = conf->agent && conf->probe.has_src6;
    mc->src4 = conf->probe.src4;
    mc->src6 = conf->probe.src6;
    mc->refresh = m->refresh;
    mc->lifetime = m->lifetime;
    mc->ndns = 0;
    for (size_t i = 0; i < conf->nns_addrs && mc->ndns < GLB_MAP_MAX_ADDRS; i++) {
        mc->dns[mc->ndns] = conf->ns_addrs[i];
        mc->dns[mc->ndns++].port = 0; /* 53 */
    }
    mc->nproxy = 0;
    for (size_t i = 0; i < m->nproxy && mc->nproxy < GLB_MAP_MAX_ADDRS; i++) {
        mc->proxy[mc->nproxy] = m->proxy[i];
        mc->proxy[mc->nproxy++].port = 0;
    }
    if (conf->nns_addrs > GLB_MAP_MAX_ADDRS || m->nproxy > GLB_MAP_MAX_ADDRS)
        log_warn("dnsb: only the first %d ns-address and proxy-address are registered", GLB_MAP_MAX_ADDRS);
    free(mc->clients);
    mc->clients = NULL;
    mc->nclients = 0;
    if (m->nclient_prefixes && (mc->clients = malloc(m->nclient_prefixes * sizeof(*mc->clients)))) {
        memcpy(mc->clients, m->client_prefixes, m->nclient_prefixes * sizeof(*mc->clients));
        mc->nclients = m->nclient_prefixes;
    }
    mc->has_location = conf->has_location;
    mc->loc.lat = (int32_t)(conf->lat * 1e6 + (conf->lat < 0 ? -0.5 : 0.5));
    mc->loc.lon = (int32_t)(conf->lon * 1e6 + (conf->lon < 0 ? -0.5 : 0.5));
    snprintf(mc->services_file, sizeof(mc->services_file), "%s", m->services_file);
}

static int push_claim(glb_map_claim *c, size_t *n, uint8_t kind, const glb_prefix *p)
{
    for (size_t i = 0; i < *n; i++) /* the same claim twice would be rejected as duplicate */
        if (c[i].kind == kind && c[i].prefix.family == p->family && c[i].prefix.len == p->len &&
            memcmp(c[i].prefix.b, p->b, sizeof(p->b)) == 0)
            return 0;
    if (*n >= GLB_MAP_MAX_CLAIMS)
        return -1;
    c[*n].kind = kind;
    c[(*n)++].prefix = *p;
    return 0;
}

static glb_prefix host_prefix(const glb_addr *a)
{
    glb_prefix p;
    memset(&p, 0, sizeof(p));
    p.family = a->family;
    p.len = a->family == AF_INET ? 32 : 128;
    memcpy(p.b, a->b, glb_addr_bytes(a->family));
    return p;
}

/* The claims now: resolvers, client prefixes, egress addresses. */
void lbmc_build_claims(lb_mapclient *mc)
{
    size_t nres = 0, neg = 0;
    const lb_nameserver *res = mc->whoami ? lb_whoami_resolvers(mc->whoami, &nres) : NULL;
    const glb_addr *eg = mc->whoami ? lb_whoami_egress(mc->whoami, &neg) : NULL;
    size_t cap = nres + mc->nclients + neg;
    glb_map_claim *c = cap ? malloc(cap * sizeof(*c)) : NULL;
    size_t n = 0;
    int over = 0;
    if (cap && !c) {
        log_err("dnsb: out of memory building the claims");
        return; /* keep the previous ones */
    }
    for (size_t i = 0; i < nres; i++) {
        glb_prefix p = host_prefix(&res[i].addr);
        over |= push_claim(c, &n, GLB_MAP_CLAIM_RESOLVER, &p);
    }
    for (size_t i = 0; i < mc->nclients; i++)
        over |= push_claim(c, &n, GLB_MAP_CLAIM_CLIENT, &mc->clients[i]);
    for (size_t i = 0; i < neg; i++) {
        glb_prefix p = host_prefix(&eg[i]);
        over |= push_claim(c, &n, GLB_MAP_CLAIM_EGRESS, &p);
    }
    if (over)
        log_warn("dnsb: more than %d claims; the rest are not registered", GLB_MAP_MAX_CLAIMS);
    free(mc->claims);
    mc->claims = c;
    mc->nclaims = n;
}

static void fill_register(const lb_mapclient *mc, glb_map_register *r, uint64_t seq)
{
    memset(r, 0, sizeof(*r));
    r->node_id = mc->id;
    r->sequence = seq;
    r->lifetime = mc->withdrawn ? 0 : mc->lifetime; /* 0: the DNS-Bs drop the registration */
    r->dns = mc->dns;
    r->ndns = mc->ndns;
    r->proxy = mc->proxy;
    r->nproxy = mc->nproxy;
    r->claims = mc->claims;
    r->nclaims = mc->nclaims;
    r->has_location = (uint8_t)mc->has_location;
    r->location = mc->loc;
}

/* Re-registers everywhere when what REGISTER would say changed. */
void lbmc_registration_check(lb_mapclient *mc)
{
    lbmc_build_claims(mc);
    glb_map_register r;
    fill_register(mc, &r, 1);
    size_t len = 0;
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER;
    m.u.reg = r;
    int rc = glb_map_encode(&m, NULL, 0, &len, NULL);
    uint8_t *img = (rc == GLB_MAP_OK || rc == GLB_MAP_E_NOSPACE) ? malloc(len ? len : 1) : NULL;
    if (!img || glb_map_encode(&m, img, len, &len, NULL) != GLB_MAP_OK) {
        free(img);
        return;
    }
    if (mc->image && mc->image_len == len && memcmp(mc->image, img, len) == 0) {
        free(img);
        return;
    }
    free(mc->image);
    mc->image = img;
    mc->image_len = len;
    for (size_t i = 0; i < mc->ns; i++)
        if (mc->s[i]->state == ST_UP) {
            lbmc_send_register(mc->s[i]);
            lbmc_sess_arm(mc->s[i]);
        }
}

static void send_register_now(sess *s)
{
    lb_mapclient *mc = s->mc;
    uint64_t now_ms = glb_wall_ms();
    mc->last_seq = now_ms > mc->last_seq ? now_ms : mc->last_seq + 1;
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER;
    fill_register(mc, &m.u.reg, mc->last_seq);
    if (lbmc_send(s, &m) != 0)
        return;
    mc->st.registers++;
    mc->st.claims = mc->nclaims;
    s->reg_out = 1;
    s->reg_again = 0;
    s->reg_seq = mc->last_seq;
}

void lbmc_send_register(sess *s)
{
    if (s->reg_out) { /* never two unanswered: this one goes when the ACK comes */
        s->reg_again = 1;
        return;
    }
    send_register_now(s);
}

void lbmc_send_withdrawal(sess *s)
{
    s->mc->withdrawn = 1;
    send_register_now(s); /* no ACK will be awaited: the session closes next */
}

/* ---- REGISTER_ACK -------------------------------------------------------- */

static uint64_t rejected_sig(const glb_map_register_ack *a)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < a->nrejected; i++) {
        const glb_map_reject *r = &a->rejected[i];
        uint8_t b[3 + 16];
        b[0] = r->reason;
        b[1] = r->claim.kind;
        b[2] = (uint8_t)r->claim.prefix.len;
        memcpy(b + 3, r->claim.prefix.b, 16);
        for (size_t k = 0; k < sizeof(b); k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    return h;
}

void lbmc_on_ack(sess *s, const glb_map_register_ack *a)
{
    lb_mapclient *mc = s->mc;
    double now = glb_mono();
    mc->st.acks++;
    s->reg_out = 0;
    int first = !s->acked;
    s->acked = 1;
    if (first) /* RANKING may flow from now on (PROTOCOL.md §5.2) */
        lbmc_send_ranking(s);
    s->granted = a->lifetime;
    s->naccepted = a->naccepted;
    s->nrejected = a->nrejected;
    for (size_t i = 0; i < a->nrejected; i++)
        mc->st.rejected[a->rejected[i].reason < 7 ? a->rejected[i].reason : 0]++;
    uint64_t sig = rejected_sig(a);
    int level = sig != s->rej_sig ? GLB_LOG_WARN : GLB_LOG_DEBUG;
    s->rej_sig = sig;
    for (size_t i = 0; i < a->nrejected && i < 16; i++) {
        char p[GLB_ADDRSTRLEN];
        glb_log(level, "map-server %s %s: claim %s %s rejected: %s", s->label, s->peer_id,
                glb_map_claim_kind_name(a->rejected[i].claim.kind),
                glb_prefix_str(&a->rejected[i].claim.prefix, p, sizeof(p)),
                glb_map_reject_name(a->rejected[i].reason));
    }
    if (a->nrejected > 16)
        glb_log(level, "map-server %s %s: %zu more claims rejected", s->label, s->peer_id, a->nrejected - 16);
    log_debug("map-server %s %s: registered, lifetime %" PRIu32 " s, %zu claims accepted", s->label, s->peer_id,
              a->lifetime, a->naccepted);
    /* refresh at the latest when a third of the granted lifetime is left */
    s->next_reg = now + mc->refresh;
    if (a->lifetime > 0 && now + a->lifetime * 2.0 / 3 < s->next_reg)
        s->next_reg = now + a->lifetime * 2.0 / 3;
    if (s->reg_again)
        lbmc_send_register(s);
}

/* ---- RANKING ------------------------------------------------------------- */

/* Sends the last RANKING to s when the server uses rankings and s may. */
void lbmc_send_ranking(sess *s)
{
    lb_mapclient *mc = s->mc;
    uint64_t cap = mc->agent ? GLB_MAP_CAP_METRICS : GLB_MAP_CAP_RANKING;
    if (!mc->rk_frame || s->state != ST_UP || !s->acked || !(s->peer_caps & cap))
        return;
    if (bufferevent_write(s->bev, mc->rk_frame, mc->rk_len) != 0) {
        s->send_failed = 1;
        return;
    }
    s->last_sent = glb_mono();
    mc->st.rankings++;
}

void lbmc_rank_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    mc->rk_last = glb_mono();
    for (size_t i = 0; i < mc->ns; i++)
        lbmc_send_ranking(mc->s[i]);
}

/* Queues frame f (malloc'd, len bytes) as the one every session gets, at
 * most once a second. */
static void publish_frame(lb_mapclient *mc, uint8_t *f, size_t len)
{
    free(mc->rk_frame);
    mc->rk_frame = f;
    mc->rk_len = len;
    if (mc->t_rank && !evtimer_pending(mc->t_rank, NULL)) {
        double wait = mc->rk_last + 1.0 - glb_mono();
        struct timeval tv = lbmc_tv(wait > 0 ? wait : 0);
        evtimer_add(mc->t_rank, &tv);
    }
}

void lb_mapclient_metrics(lb_mapclient *mc, const glb_map_metrics *m)
{
    size_t len = 0;
    uint8_t *f = NULL;
    if (!mc->agent || m->nmetrics == 0 || glb_map_encode_metrics(m, NULL, 0, &len) != GLB_MAP_OK ||
        !(f = malloc(len)) || glb_map_encode_metrics(m, f, len, &len) != GLB_MAP_OK) {
        free(f);
        if (mc->agent && m->nmetrics)
            log_err("map: cannot encode the metrics");
        return;
    }
    mc->st.rankings++; /* counted with rankings: one kind or the other per process */
    publish_frame(mc, f, len);
}

void lb_mapclient_ranking(lb_mapclient *mc, const glb_map_ranking *r)
{
    size_t len = 0;
    if (glb_map_encode_ranking(r, NULL, 0, &len) != GLB_MAP_OK)
        return;
    if (mc->rk_frame && len == mc->rk_len) { /* unchanged orders are not sent again */
        uint8_t *tmp = malloc(len);
        int same = tmp && glb_map_encode_ranking(r, tmp, len, &len) == GLB_MAP_OK &&
                   memcmp(tmp, mc->rk_frame, len) == 0;
        free(tmp);
        if (same)
            return;
    }
    uint8_t *f = malloc(len);
    if (!f || glb_map_encode_ranking(r, f, len, &len) != GLB_MAP_OK) {
        free(f);
        log_err("map: cannot encode the rankings");
        return;
    }
    publish_frame(mc, f, len);
}

/* ---- SERVICES and the services file -------------------------------------- */

void lbmc_write_services_file(lb_mapclient *mc)
{
    if (!mc->services_file[0])
        return;
    lb_svcfile_block *b = calloc(mc->ns ? mc->ns : 1, sizeof(*b));
    char err[1024];
    if (!b) {
        mc->st.file_errors++;
        return;
    }
    for (size_t i = 0; i < mc->ns; i++) {
        b[i].server = mc->s[i]->addr;
        snprintf(b[i].id, sizeof(b[i].id), "%s", mc->s[i]->peer_id);
        b[i].set = mc->s[i]->set; /* shallow: only read */
    }
    if (lb_svcfile_write(mc->services_file, b, mc->ns, err, sizeof(err)) != 0) {
        mc->st.file_errors++;
        log_err("%s", err);
    } else {
        mc->st.file_writes++;
    }
    free(b);
}

void lbmc_on_services(sess *s, const glb_map_services *m)
{
    lb_mapclient *mc = s->mc;
    char err[512];
    char org[GLB_ADDRSTRLEN + 16];
    snprintf(org, sizeof(org), "map-server %s", s->label);
    int rc = lb_svcupd_add(&s->upd, m, org, err, sizeof(err));
    if (rc != GLB_MAP_OK) {
        lbmc_sess_error(s, rc, err, GLB_MAP_SERVICES);
        return;
    }
    if (!lb_svcupd_complete(&s->upd))
        return;
    int kind = s->upd.kind;
    unsigned skipped = s->upd.skipped;
    uint64_t serial = s->upd.serial, base = s->upd.base, held = s->set.serial;
    if (lb_svcset_commit(&s->set, &s->upd) != 0) {
        /* §10.1: we lost track; reconnect announcing what we hold */
        mc->st.resyncs++;
        log_notice("map-server %s %s: delta %" PRIu64 " -> %" PRIu64 " does not apply to serial %" PRIu64
                   "; reconnecting for a full set", s->label, s->peer_id, base, serial, held);
        lbmc_send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_RESYNC, "delta base not held", 0);
        lbmc_sess_close(s, 0, 0);
        return;
    }
    if (kind == GLB_MAP_SERVICES_FULL)
        mc->st.services_full++;
    else
        mc->st.services_delta++;
    mc->st.services_skipped += skipped;
    log_info("map-server %s %s: services serial %" PRIu64 " (%s): %zu services", s->label, s->peer_id, serial,
             kind == GLB_MAP_SERVICES_FULL ? "full" : "delta", s->set.n);
    lbmc_write_services_file(mc);
    lbmc_notify(mc);
}
