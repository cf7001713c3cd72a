/* The combined box's measurement agents (agents.h): the sessions and what
 * they say. The per-agent answer tables are built in agentrank.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "dnslb/agents_int.h"
#include "proto/mapsite.h"
#include "shared/acceptor.h"
#include "shared/clock.h"
#include "shared/log.h"
#include "shared/server.h"
#include "shared/tls.h"

#define HELLO_TIMEOUT 10.0  /* seconds from accept to the agent's HELLO */
#define KEEPALIVE 30        /* seconds, told in our HELLO; idle 3x closes */
#define TICK 2.0            /* seconds between two looks at ages and sessions */

static void sess_free(sess *s);

static int send_msg(sess *s, const glb_map_msg *m)
{
    size_t len = 0;
    if (glb_map_encode(m, NULL, 0, &len, NULL) != GLB_MAP_OK)
        return -1;
    uint8_t *buf = malloc(len);
    int rc = buf && glb_map_encode(m, buf, len, &len, NULL) == GLB_MAP_OK &&
                     bufferevent_write(s->bev, buf, len) == 0 ? 0 : -1;
    free(buf);
    return rc;
}

/* Sends ERROR (or BYE when code is 0) and closes once it has left. */
static void sess_end(sess *s, unsigned code, const char *text, unsigned bye)
{
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    if (code) {
        m.type = GLB_MAP_ERROR;
        m.u.error.code = (uint16_t)code;
        m.u.error.text = text;
        log_info("agents: %s: %s", s->id[0] ? s->id : "?", text);
    } else {
        m.type = GLB_MAP_BYE;
        m.u.bye.reason = (uint8_t)bye;
    }
    if (s->state == S_CLOSING || !s->bev || send_msg(s, &m) != 0) {
        sess_free(s);
        return;
    }
    s->state = S_CLOSING;
    bufferevent_disable(s->bev, EV_READ);
}

static void send_services(sess *s)
{
    lb_agents *a = s->a;
    if (a->svc_frame && bufferevent_write(s->bev, a->svc_frame, a->svc_len) == 0)
        a->st.services++;
}

void lba_send_request(sess *s)
{
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_METRICS; /* empty: send fresh metrics (PROTOCOL.md §10.3) */
    if (send_msg(s, &m) == 0)
        s->a->st.requests++;
}

/* A claim is accepted when an allow prefix of the agent holds it whole. */
static int claim_allowed(const lb_agent_allow *al, const glb_map_claim *c)
{
    if (c->kind != GLB_MAP_CLAIM_CLIENT)
        return 0;
    glb_addr first = {.family = c->prefix.family};
    memcpy(first.b, c->prefix.b, sizeof(first.b));
    for (size_t i = 0; al && i < al->nprefixes; i++)
        if (al->prefixes[i].len <= c->prefix.len && glb_prefix_contains(&al->prefixes[i], &first))
            return 1;
    return 0;
}

static void on_register(sess *s, const glb_map_register *r)
{
    lb_agents *a = s->a;
    agent *ag = s->ag;
    if (strcmp(r->node_id, s->id) != 0) {
        sess_end(s, GLB_MAP_E_UNAUTHORIZED, "REGISTER node-id is not the certificate's CN", 0);
        return;
    }
    glb_map_claim acc[GLB_MAP_MAX_CLAIMS];
    glb_map_reject rej[GLB_MAP_MAX_CLAIMS];
    size_t na = 0, nr = 0;
    const lb_agent_allow *al = lba_allow(a, s->id);
    for (size_t i = 0; i < r->nclaims && i < GLB_MAP_MAX_CLAIMS; i++) {
        if (claim_allowed(al, &r->claims[i]))
            acc[na++] = r->claims[i];
        else
            rej[nr++] = (glb_map_reject){GLB_MAP_REJ_NOT_ALLOWED, r->claims[i]};
    }
    int first = ag->nclaims == 0 && !s->acked;
    ag->nclaims = 0;
    for (size_t i = 0; r->lifetime && i < na; i++)
        ag->claims[ag->nclaims++] = acc[i].prefix;
    ag->claims_until = glb_mono() + r->lifetime;
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER_ACK;
    m.u.ack.sequence = r->sequence;
    m.u.ack.lifetime = r->lifetime;
    m.u.ack.accepted = acc;
    m.u.ack.naccepted = na;
    m.u.ack.rejected = rej;
    m.u.ack.nrejected = nr;
    if (send_msg(s, &m) != 0) {
        sess_end(s, GLB_MAP_E_INTERNAL, "out of memory", 0);
        return;
    }
    if (nr)
        log_warn("agents: %s: %zu claim(s) outside its allow prefixes rejected", s->id, nr);
    if (!s->acked) /* SERVICES flow after the first REGISTER_ACK (PROTOCOL.md §5.2) */
        send_services(s);
    s->acked = 1;
    if (first || na)
        lba_publish(a);
}

static void on_metrics(sess *s, const glb_map_metrics *m)
{
    agent *ag = s->ag;
    double now = glb_mono();
    if (!s->acked || m->nmetrics == 0) {
        sess_end(s, GLB_MAP_E_UNEXPECTED, "METRICS before REGISTER_ACK, or empty", 0);
        return;
    }
    for (size_t i = 0; i < m->nmetrics; i++)
        if (lba_metric_put(ag, &m->metrics[i], now) != 0) {
            sess_end(s, GLB_MAP_E_LIMIT, "too many metrics", 0);
            return;
        }
    ag->newest = now;
    s->a->st.metrics++;
    lba_publish(s->a);
}

static void on_hello(sess *s, const glb_map_hello *h)
{
    lb_agents *a = s->a;
    if (h->role != GLB_MAP_ROLE_MSERVICE || strcmp(h->node_id, s->id) != 0) {
        sess_end(s, GLB_MAP_E_UNAUTHORIZED, "HELLO: not an agent, or node-id is not the certificate's CN", 0);
        return;
    }
    agent *ag = lba_agent(a, s->id);
    if (!ag) {
        sess_end(s, GLB_MAP_E_INTERNAL, "out of memory", 0);
        return;
    }
    if (ag->sess && ag->sess != s) /* a newer session of the same agent takes over */
        sess_end(ag->sess, 0, NULL, GLB_MAP_BYE_REPLACED);
    ag->sess = s;
    s->ag = ag;
    if (s->has_peer && (!ag->has_addr || !glb_addrport_equal(&ag->addr, &s->peer))) {
        ag->addr = s->peer; /* the clients near it are its too, when no claim says otherwise */
        ag->has_addr = 1;
        lba_publish(a);
    }
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_HELLO;
    glb_map_hello_defaults(&m.u.hello);
    m.u.hello.role = GLB_MAP_ROLE_LB;
    m.u.hello.version = GLB_MAP_VERSION;
    m.u.hello.node_id = a->id;
    m.u.hello.caps = GLB_MAP_CAP_METRICS;
    m.u.hello.keepalive = KEEPALIVE;
    m.u.hello.software = "glb " PACKAGE_VERSION;
    if (send_msg(s, &m) != 0) {
        sess_end(s, GLB_MAP_E_INTERNAL, "out of memory", 0);
        return;
    }
    s->state = S_UP;
    log_notice("agents: %s connected", s->id);
}

static void on_frame(sess *s, const glb_map_msg *m)
{
    s->last_recv = glb_mono();
    if (s->state == S_HELLO) {
        if (m->type == GLB_MAP_HELLO)
            on_hello(s, &m->u.hello);
        else
            sess_end(s, GLB_MAP_E_UNEXPECTED, "expected HELLO", 0);
        return;
    }
    switch (m->type) {
    case GLB_MAP_REGISTER:
        on_register(s, &m->u.reg);
        return;
    case GLB_MAP_METRICS:
        on_metrics(s, &m->u.metrics);
        return;
    case GLB_MAP_KEEPALIVE: {
        glb_map_msg r;
        if (glb_map_keepalive_echo(m, &r) == 0)
            send_msg(s, &r);
        return;
    }
    case GLB_MAP_BYE:
        sess_free(s);
        return;
    case GLB_MAP_ERROR:
        log_info("agents: %s: ERROR %u: %s", s->id, m->u.error.code, m->u.error.text ? m->u.error.text : "");
        sess_free(s);
        return;
    default:
        sess_end(s, GLB_MAP_E_UNEXPECTED, "message not sent by an agent", 0);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    sess *s = arg;
    lb_agents *a = s->a; /* s may be freed by a message */
    struct evbuffer *in = bufferevent_get_input(bev);
    while (s->state == S_HELLO || s->state == S_UP) {
        glb_map_msg m;
        glb_map_error e;
        int rc = glb_map_read(&s->rd, in, &m, &e);
        if (rc == 0)
            return;
        if (rc < 0 || e.code != GLB_MAP_OK) {
            a->st.refused++;
            sess_end(s, e.code ? e.code : GLB_MAP_E_MALFORMED, e.text, 0);
            return;
        }
        on_frame(s, &m);
        if (!lba_sess_alive(a, s))
            return;
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
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        s->state = S_HELLO;
        if (glb_tls_peer_id(ssl, s->id, sizeof(s->id)) != 0 || !lba_allow(s->a, s->id)) {
            s->a->st.refused++;
            sess_end(s, GLB_MAP_E_UNAUTHORIZED, "this identity is not an allowed agent", 0);
            return;
        }
        if (evbuffer_get_length(bufferevent_get_input(bev)))
            read_cb(bev, s);
        return;
    }
    if (s->state == S_TLS)
        s->a->st.refused++;
    else if (s->state != S_CLOSING && s->id[0])
        log_info("agents: %s: connection closed", s->id);
    sess_free(s);
}

static void sess_free(sess *s)
{
    lb_agents *a = s->a;
    if (s->ag && s->ag->sess == s)
        s->ag->sess = NULL;
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    if (s->bev)
        bufferevent_free(s->bev);
    glb_map_reader_free(&s->rd);
    a->nsess--;
    free(s);
    glb_acceptor_resume(a->acc);
}

int lba_sess_alive(const lb_agents *a, const sess *s)
{
    for (const sess *x = a->sessions; x; x = x->next)
        if (x == s)
            return 1;
    return 0;
}

static void accept_cb(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
    lb_agents *a = arg;
    (void)salen;
    sess *s = !a->conf || a->nsess < lb_agents_max_sessions(a->conf) ? calloc(1, sizeof(*s)) : NULL;
    SSL *ssl = s ? SSL_new(a->tls) : NULL;
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(a->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (!bev) {
        if (ssl)
            SSL_free(ssl);
        free(s);
        close(fd);
        a->st.refused++;
        return;
    }
    s->a = a;
    s->bev = bev;
    s->state = S_TLS;
    if (glb_addr_from_sockaddr(sa, &s->peer) == 0) {
        s->peer.port = 0;
        s->has_peer = 1;
    }
    s->since = s->last_recv = glb_mono();
    s->next = a->sessions;
    if (s->next)
        s->next->pprev = &s->next;
    s->pprev = &a->sessions;
    a->sessions = s;
    a->nsess++;
    a->st.sessions++;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
    bufferevent_setwatermark(bev, EV_READ, 0, GLB_MAP_MAX_FRAME + 4096);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

size_t lb_agents_max_sessions(const lb_conf *c)
{
    return c->agents.enabled ? c->agents.nallow + LBA_SPARE_SESSIONS : 0;
}

static void publish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lba_publish_now(arg);
}

void lba_publish(lb_agents *a)
{
    if (a->publish_ev && !evtimer_pending(a->publish_ev, NULL)) {
        struct timeval tv = {0, (suseconds_t)(LBA_PUBLISH_DELAY * 1e6)};
        evtimer_add(a->publish_ev, &tv);
    }
}

/* Every TICK: sessions that said nothing in time go; ages are looked at. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_agents *a = arg;
    double now = glb_mono();
    for (sess *s = a->sessions, *next; s; s = next) {
        next = s->next;
        if ((s->state == S_TLS || s->state == S_HELLO) && now - s->since > HELLO_TIMEOUT)
            sess_end(s, GLB_MAP_E_TIMEOUT, "no HELLO in time", 0);
        else if (s->state == S_UP && now - s->last_recv > 3 * KEEPALIVE)
            sess_end(s, 0, NULL, GLB_MAP_BYE_IDLE);
    }
    lba_age(a, now);
}

/* The services as one SERVICES frame (full set) for every agent. */
static void build_services(lb_agents *a, const lb_conf *c)
{
    glb_map_service *svcs = calloc(c->nservices ? c->nservices : 1, sizeof(*svcs));
    size_t nsites = 0, naddrs = 0;
    for (size_t i = 0; i < c->nservices; i++)
        for (size_t j = 0; j < c->services[i].nsites; j++, nsites++)
            naddrs += c->services[i].sites[j].naddrs;
    glb_map_site *sites = calloc(nsites ? nsites : 1, sizeof(*sites));
    glb_addr *addrs = calloc(naddrs ? naddrs : 1, sizeof(*addrs));
    uint8_t(*hosts)[GLB_DNAME_MAX] = calloc(nsites ? nsites : 1, sizeof(*hosts));
    char err[256] = "out of memory";
    int ok = svcs && sites && addrs && hosts;
    size_t k = 0, ka = 0;
    for (size_t i = 0; ok && i < c->nservices; i++) {
        const lb_service_conf *sc = &c->services[i];
        glb_map_service *m = &svcs[i];
        glb_map_service_defaults(m);
        m->name = sc->name;
        m->policy = (uint8_t)sc->policy.policy;
        m->answer_count = (uint16_t)sc->answer_count;
        m->ttl_answer = sc->ttl_answer;
        m->margin = (uint32_t)(sc->margin_pct * 1e4 + 0.5);
        m->margin_abs = (uint32_t)(sc->policy.margin_ms * 1e3 + 0.5);
        m->w_latency = (uint32_t)(sc->policy.w_latency * 1e6 + 0.5);
        m->w_cost = (uint32_t)(sc->policy.w_cost * 1e6 + 0.5);
        m->w_distance = (uint32_t)(sc->policy.w_distance * 1e6 + 0.5);
        m->sites = &sites[k];
        m->nsites = sc->nsites;
        for (size_t j = 0; ok && j < sc->nsites; j++, k++) {
            ok = glb_map_site_from(&sc->sites[j], sc->name, &sites[k], &addrs[ka], hosts[k], err, sizeof(err)) == 0;
            ka += sc->sites[j].naddrs;
        }
    }
    glb_map_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = GLB_MAP_SERVICES;
    msg.u.services = (glb_map_services){.serial = ++a->serial, .kind = GLB_MAP_SERVICES_FULL, .services = svcs,
                                        .nservices = c->nservices};
    size_t len = 0;
    uint8_t *f = NULL;
    glb_map_error e;
    if (ok && (glb_map_encode(&msg, NULL, 0, &len, &e) != GLB_MAP_OK || !(f = malloc(len)) ||
               glb_map_encode(&msg, f, len, &len, &e) != GLB_MAP_OK)) {
        snprintf(err, sizeof(err), "%s", f ? e.text : "out of memory or over a frame");
        ok = 0;
    }
    if (!ok) {
        log_err("agents: the services cannot be sent to the agents: %s", err);
        free(f);
        f = NULL;
        len = 0;
    }
    free(a->svc_frame);
    a->svc_frame = f;
    a->svc_len = len;
    free(svcs);
    free(sites);
    free(addrs);
    free(hosts);
}

void lb_agents_configure(lb_agents *a, const lb_conf *c)
{
    a->conf = c;
    a->max_age = c->agents.max_age;
    build_services(a, c);
    for (sess *s = a->sessions; s; s = s->next)
        if (s->state == S_UP && s->acked)
            send_services(s);
    lba_publish(a);
}

lb_agents *lb_agents_new(struct event_base *base, const lb_conf *c, glb_qsbr *qsbr, char *err, size_t errlen)
{
    lb_agents *a = calloc(1, sizeof(*a));
    char e[512];
    int pk;
    if (!a) {
        snprintf(err, errlen, "agents: out of memory");
        return NULL;
    }
    a->base = base;
    a->qsbr = qsbr;
    a->fd = -1;
    a->serial = (uint64_t)(glb_wall() * 1000);
    if (!(a->tls = glb_tls_server_ctx(c->agents.tls_cert, c->agents.tls_key, c->agents.tls_ca, e, sizeof(e)))) {
        snprintf(err, errlen, "agents: %s", e);
        goto fail;
    }
    if (glb_tls_ctx_id(a->tls, a->id, sizeof(a->id)) != 0 || strcmp(a->id, c->id) != 0) {
        snprintf(err, errlen, "agents: tls-cert-file '%s': its CN is not this box's id '%s'", c->agents.tls_cert, c->id);
        goto fail;
    }
    if ((a->fd = glb_srv_open_bound(&c->agents.listen, SOCK_STREAM, &pk, e, sizeof(e))) < 0) {
        snprintf(err, errlen, "agents: listen %s", e);
        goto fail;
    }
    if (!(a->tick = event_new(base, -1, EV_PERSIST, tick_cb, a)) ||
        !(a->publish_ev = event_new(base, -1, 0, publish_cb, a))) {
        snprintf(err, errlen, "agents: out of memory");
        goto fail;
    }
    return a;
fail:
    lb_agents_free(a);
    return NULL;
}

int lb_agents_start(lb_agents *a, char *err, size_t errlen)
{
    struct timeval tv = {(time_t)TICK, 0};
    if (!(a->acc = glb_acceptor_new(a->base, a->fd, accept_cb, a, "agents")) || event_add(a->tick, &tv) != 0) {
        snprintf(err, errlen, "agents: cannot listen");
        return -1;
    }
    a->fd = -1; /* the acceptor's */
    return 0;
}

void lb_agents_stats(const lb_agents *a, struct evbuffer *out)
{
    if (!a)
        return;
    size_t up = 0;
    for (const sess *s = a->sessions; s; s = s->next)
        up += s->state == S_UP;
    evbuffer_add_printf(out,
                        "agents.sessions=%llu\nagents.up=%zu\nagents.refused=%llu\nagents.metrics=%llu\n"
                        "agents.requests=%llu\nagents.services=%llu\nagents.tables=%llu\n",
                        a->st.sessions, up, a->st.refused, a->st.metrics, a->st.requests, a->st.services,
                        a->st.tables);
}

void lb_agents_free(lb_agents *a)
{
    if (!a)
        return;
    while (a->sessions)
        sess_free(a->sessions);
    glb_acceptor_free(a->acc);
    if (a->fd >= 0)
        close(a->fd);
    if (a->tick)
        event_free(a->tick);
    if (a->publish_ev)
        event_free(a->publish_ev);
    if (a->tls)
        SSL_CTX_free(a->tls);
    lba_free_state(a);
    free(a->svc_frame);
    free(a);
}
