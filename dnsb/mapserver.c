/* The DNS-B side of the map protocol: sessions (TLS, frames, HELLO,
 * keepalives, limits) and the server's life cycle; the policy is in
 * mappolicy.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* POLLRDHUP */
#endif
#include "dnsb/mapserver_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <math.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnsb/svcset.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/acceptor.h"
#include "shared/clock.h"
#include "shared/connpool.h"
#include "shared/dname.h"
#include "shared/log.h"
#include "shared/server.h"
#include "shared/tls.h"

static const char *const state_names[] = {"tls", "hello", "established", "closing"};

/* ---- frames out --------------------------------------------------------- */

static void sess_free(sess *s);
static void tls_start(sess *s);

/* Queues the frame an encode call left in obuf (rc, len: call it before,
 * not in the argument list, where len could be read first). */
void dnsb_ms_send_frame(sess *s, int rc, size_t len)
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
    if (s->bev)
        bufferevent_disable(s->bev, EV_READ);
    if (s->who && s->who->sess == s)
        s->who->sess = NULL;
}

void dnsb_ms_send_error(sess *s, int code, uint8_t ref, const char *fmt, ...)
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
    dnsb_ms_send_frame(s, erc, len);
    sess_close(s);
}

void dnsb_ms_send_bye(sess *s, uint8_t reason, const char *text)
{
    glb_map_bye b = {.reason = reason, .text = text};
    size_t len = 0;
    int erc = glb_map_encode_bye(&b, s->ms->obuf, GLB_MAP_MAX_FRAME, &len);
    dnsb_ms_send_frame(s, erc, len);
    sess_close(s);
}

/* Sends what brings the peer to the current service set. */
void dnsb_ms_send_services(sess *s)
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
        dnsb_ms_send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_SERVICES, "cannot encode the service set");
        return;
    }
    s->frames_out += (uint64_t)n;
    ms->st.frames_out += (uint64_t)n;
    ms->st.services_sent += (uint64_t)n;
    s->has_serial = 1;
    s->serial = dnsb_svcset_serial(ms->svc);
    s->t_tx = glb_mono();
}

/* ---- HELLO and dispatch ------------------------------------------------- */

static void on_hello(sess *s, const glb_map_hello *h)
{
    dnsb_mapserver *ms = s->ms;
    if (h->role != GLB_MAP_ROLE_LB) {
        ms->st.malformed++;
        dnsb_ms_send_error(s, GLB_MAP_E_UNEXPECTED, GLB_MAP_HELLO, "role %s is not served here", glb_map_role_name(h->role));
        return;
    }
    if (strcmp(h->node_id, s->id) != 0 || !dnsb_ms_allow_of(ms, s->id) || dnsb_ms_is_static(ms->conf, s->id)) {
        ms->st.unauthorized++;
        dnsb_ms_send_error(s, GLB_MAP_E_UNAUTHORIZED, GLB_MAP_HELLO, "identity '%s' (node-id '%s') is not allowed", s->id,
                   h->node_id);
        return;
    }
    ident *who = dnsb_ms_ident_get(ms, s->id);
    if (!who) {
        dnsb_ms_send_error(s, GLB_MAP_E_INTERNAL, GLB_MAP_HELLO, "out of memory");
        return;
    }
    if (who->sess && who->sess != s)
        dnsb_ms_send_bye(who->sess, GLB_MAP_BYE_REPLACED, "a newer session took over");
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
    dnsb_ms_send_frame(s, erc, len);
    s->state = S_EST;
    glb_pool_establish(&ms->pool, &s->pe); /* authenticated: never gives way to newcomers */
    ms->st.established++;
    char a[GLB_ADDRSTRLEN];
    log_info("map: %s connected from %s", s->id, glb_addrport_str(&s->peer, a, sizeof(a)));
}

static void on_frame(sess *s, const glb_map_msg *m)
{
    dnsb_mapserver *ms = s->ms;
    if (s->state == S_HELLO && m->type != GLB_MAP_HELLO && m->type != GLB_MAP_BYE && m->type != GLB_MAP_ERROR) {
        ms->st.malformed++;
        dnsb_ms_send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "%s before HELLO", glb_map_type_name(m->type));
        return;
    }
    switch (m->type) {
    case GLB_MAP_HELLO:
        if (s->state != S_HELLO) {
            ms->st.malformed++;
            dnsb_ms_send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "second HELLO");
            return;
        }
        on_hello(s, &m->u.hello);
        return;
    case GLB_MAP_REGISTER:
        dnsb_ms_on_register(s, &m->u.reg);
        return;
    case GLB_MAP_RANKING:
        if (!s->services_on) {
            ms->st.malformed++;
            dnsb_ms_send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "RANKING before REGISTER_ACK");
            return;
        }
        dnsb_ms_on_ranking(s, &m->u.ranking);
        return;
    case GLB_MAP_KEEPALIVE:
        if (!m->u.keepalive.reply) {
            glb_map_keepalive k = {.nonce = m->u.keepalive.nonce, .reply = 1};
            size_t len = 0;
            int erc = glb_map_encode_keepalive(&k, ms->obuf, GLB_MAP_MAX_FRAME, &len);
            dnsb_ms_send_frame(s, erc, len);
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
        dnsb_ms_send_error(s, GLB_MAP_E_UNEXPECTED, m->type, "%s is not sent to a DNS-B", glb_map_type_name(m->type));
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
            dnsb_ms_send_error(s, e.code, 0, "%s", e.text);
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
            dnsb_ms_send_error(s, e.code, e.type, "%s", e.text);
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
            dnsb_ms_send_error(s, GLB_MAP_E_UNAUTHORIZED, 0, "certificate CN '%s' is not a valid id", s->id);
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
        glb_log_limited(&ms->rl_handshake, glb_mono(), GLB_LOG_INFO, "map: %s: TLS handshake failed: %s",
                        glb_addrport_str(&s->peer, a, sizeof(a)), buf);
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
    glb_pool_remove(&ms->pool, &s->pe);
    if (s->hello_wait)
        event_free(s->hello_wait);
    if (s->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
        if (ssl && s->state == S_CLOSING)
            SSL_shutdown(ssl); /* close_notify, best effort */
        bufferevent_free(s->bev);
    } else if (s->fd >= 0)
        close(s->fd);
    ms->st.sessions--;
    free(s);
    for (size_t i = 0; i < ms->nlisten; i++) /* a descriptor is free again */
        glb_acceptor_resume(ms->acc[i]);
}

/* The TLS state (about 40 kB with its buffers) for s, once its first
 * record is whole; frees s when out of memory. */
static void tls_start(sess *s)
{
    dnsb_mapserver *ms = s->ms;
    if (s->hello_wait) {
        event_free(s->hello_wait);
        s->hello_wait = NULL;
    }
    SSL *ssl = SSL_new(ms->tls);
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(ms->base, s->fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (!bev) {
        SSL_free(ssl);
        log_err("map: out of memory for a connection");
        sess_free(s);
        return;
    }
    s->bev = bev;
    s->fd = -1; /* the bufferevent's now */
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
    bufferevent_setwatermark(bev, EV_READ, 0, GLB_MAP_MAX_FRAME + 4096);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Until the client's first TLS record (its ClientHello) is whole, a
 * session is a socket and this struct: a client that stops half way costs
 * no TLS state. The bytes are only peeked at; OpenSSL reads them. */
static void hello_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    sess *s = arg;
    unsigned char h[5];
    ssize_t n = recv(fd, h, sizeof(h), MSG_PEEK);
    /* A peek does not see the end of file behind unread bytes. */
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int gone = poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
    if (n == 0 || gone || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        char a[GLB_ADDRSTRLEN];
        s->ms->st.handshake_failures++;
        glb_log_limited(&s->ms->rl_handshake, glb_mono(), GLB_LOG_INFO,
                        "map: %s: TLS handshake failed: closed before its ClientHello",
                        glb_addrport_str(&s->peer, a, sizeof(a)));
        sess_free(s);
        return;
    }
    if (n < (ssize_t)sizeof(h))
        return;
    int avail = 0;
    size_t need = sizeof(h) + ((size_t)h[3] << 8 | h[4]);
    /* Not a handshake record, or longer than a record may be: OpenSSL says
     * what is wrong with it. */
    if (h[0] == 22 && need <= sizeof(h) + 16384 && (ioctl(fd, FIONREAD, &avail) != 0 || (size_t)avail < need))
        return;
    tls_start(s);
}

/* The pool's caps from the configuration and the open files limit. */
static void pool_limits(dnsb_mapserver *ms)
{
    const dnsb_map_conf *mc = &ms->conf->map;
    unsigned max = ms->fd_cap && ms->fd_cap < mc->max_connections ? ms->fd_cap : mc->max_connections;
    glb_pool_set_limits(&ms->pool, max, mc->max_handshakes, mc->max_handshakes_per_source);
}

static void accept_cb(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
    (void)salen;
    dnsb_mapserver *ms = arg;
    glb_addr peer;
    int refuse = 0;
    glb_pool_ent *victim;
    ms->st.connections++;
    if (glb_addr_from_sockaddr(sa, &peer) != 0) {
        close(fd);
        return;
    }
    /* Sessions still in the handshake cost memory (TLS state, buffers)
     * and prove nothing: when a cap is reached the oldest of them (of
     * this address first) make room; established DNS-LBs never do. */
    while ((victim = glb_pool_victim(&ms->pool, &peer, &refuse)) != NULL) {
        ms->st.limit_evicted++;
        sess_free((sess *)victim); /* pe is its first member */
    }
    if (refuse) {
        ms->st.limit_connections++;
        glb_log_limited(&ms->rl_full, glb_mono(), GLB_LOG_WARN,
                        "map: max-connections (%u) reached with every session established, refusing connections",
                        ms->pool.max);
        close(fd);
        return;
    }
    sess *s = calloc(1, sizeof(*s));
    if (!s || glb_pool_add(&ms->pool, &s->pe, &peer) != 0) {
        free(s);
        close(fd);
        log_err("map: out of memory for a connection");
        return;
    }
    s->ms = ms;
    s->fd = fd;
    s->peer = peer;
    s->t_start = s->t_rx = s->t_tx = glb_mono();
    s->connected = glb_wall();
    s->next = ms->sessions;
    if (ms->sessions)
        ms->sessions->prev = s;
    ms->sessions = s;
    ms->st.sessions++;
    /* Edge-triggered: the bytes stay unread until the record is whole. */
    if (event_base_get_features(ms->base) & EV_FEATURE_ET) {
        s->hello_wait = event_new(ms->base, fd, EV_READ | EV_PERSIST | EV_ET, hello_wait_cb, s);
        if (s->hello_wait && event_add(s->hello_wait, NULL) == 0)
            return;
    }
    tls_start(s);
}

/* ---- periodic work -------------------------------------------------------- */

void dnsb_mapserver_tick(dnsb_mapserver *ms, double now)
{
    double t = glb_mono(), w = now > 0 ? now : t;
    if (now > 0 || w >= ms->next_expiry) {
        dnsb_ms_expire(ms, w);
        ms->next_expiry = w + 1.0;
    }
    const dnsb_map_conf *mc = &ms->conf->map;
    for (sess *s = ms->sessions, *next; s; s = next) {
        next = s->next;
        if (s->state == S_CLOSING) {
            if (t - s->t_closing > CLOSE_WAIT || !s->bev)
                sess_free(s);
            continue;
        }
        if (s->bev && evbuffer_get_length(bufferevent_get_output(s->bev)) > DNSB_MAP_OUTPUT_MAX) {
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
                glb_log_limited(&ms->rl_handshake, t, GLB_LOG_INFO, "map: %s: TLS handshake not done in %us",
                                glb_addrport_str(&s->peer, a, sizeof(a)), mc->handshake_timeout);
                sess_free(s);
            } else
                dnsb_ms_send_error(s, GLB_MAP_E_TIMEOUT, 0, "no HELLO within %us", mc->handshake_timeout);
            continue;
        }
        if (s->state == S_EST && t - s->t_rx > mc->idle_timeout) {
            ms->st.limit_idle++;
            log_info("map: %s silent for %us, closing", s->id, mc->idle_timeout);
            dnsb_ms_send_bye(s, GLB_MAP_BYE_IDLE, "idle");
            continue;
        }
        unsigned ka = mc->idle_timeout / GLB_MAP_IDLE_FACTOR;
        if (s->state == S_EST && t - s->t_tx > (ka < GLB_MAP_KEEPALIVE_MIN ? GLB_MAP_KEEPALIVE_MIN : ka)) {
            glb_map_keepalive k = {0};
            RAND_bytes((unsigned char *)&k.nonce, sizeof(k.nonce));
            size_t len = 0;
            int erc = glb_map_encode_keepalive(&k, ms->obuf, GLB_MAP_MAX_FRAME, &len);
            dnsb_ms_send_frame(s, erc, len);
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
    ms->rl_handshake = (glb_ratelog)GLB_RATELOG_INIT("map: TLS handshakes failed");
    ms->rl_full = (glb_ratelog)GLB_RATELOG_INIT("map: connections refused");
    if (glb_pool_init(&ms->pool, mc->max_connections, mc->max_handshakes, mc->max_handshakes_per_source) != 0) {
        snprintf(err, errlen, "map: out of memory");
        goto fail;
    }
    if (!(ms->tls = dnsb_mapserver_tls(conf, ms->id, err, errlen)))
        goto fail;
    if (dnsb_ms_allow_index(ms, conf) != 0) {
        snprintf(err, errlen, "map: out of memory");
        goto fail;
    }
    char se[256], e[512];
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

int dnsb_mapserver_start(dnsb_mapserver *ms, struct event_base *base, dnsb_store *store, char *err, size_t errlen)
{
    ms->base = base;
    ms->store = store;
    if (store) {
        size_t kept, dropped;
        double t0 = glb_mono();
        if (dnsb_ms_load(ms, &kept, &dropped) < 0) {
            snprintf(err, errlen, "map: cannot read the database");
            return -1;
        }
        log_notice("map: %zu registrations loaded from the database in %.3fs (%zu dropped by the configuration)",
                   kept, glb_mono() - t0, dropped);
    }
    for (size_t i = 0; i < ms->nlisten; i++) {
        ms->acc[i] = glb_acceptor_new(base, ms->fds[i], accept_cb, ms, "map");
        if (!ms->acc[i]) {
            snprintf(err, errlen, "map: cannot listen");
            return -1;
        }
        ms->fds[i] = -1; /* the acceptor owns it */
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

SSL_CTX *dnsb_mapserver_tls(const dnsb_conf *conf, char id[64], char *err, size_t errlen)
{
    const dnsb_map_conf *mc = &conf->map;
    char e[512];
    SSL_CTX *tls = glb_tls_server_ctx(mc->tls_cert, mc->tls_key, mc->tls_ca, e, sizeof(e));
    if (!tls) {
        snprintf(err, errlen, "map: %s", e);
        return NULL;
    }
    if (glb_tls_ctx_id(tls, id, 64) != 0) {
        snprintf(err, errlen, "map: tls-cert-file '%s': its subject CN is not a valid node id", mc->tls_cert);
        SSL_CTX_free(tls);
        return NULL;
    }
    return tls;
}

void dnsb_mapserver_reload(dnsb_mapserver *ms, const dnsb_conf *conf, SSL_CTX *tls, const char *id)
{
    char e[512];
    if (tls) {
        SSL_CTX_free(ms->tls);
        ms->tls = tls;
        snprintf(ms->id, sizeof(ms->id), "%s", id);
    }
    ms->conf = conf;
    pool_limits(ms);
    if (dnsb_ms_allow_index(ms, conf) != 0)
        log_err("map: reload: out of memory");
    dnsb_ms_recheck(ms);
    for (sess *s = ms->sessions; s; s = s->next) /* identities that lost their allow line */
        if (s->state == S_EST && (!dnsb_ms_allow_of(ms, s->id) || dnsb_ms_is_static(conf, s->id)))
            dnsb_ms_send_bye(s, GLB_MAP_BYE_SHUTDOWN, "no longer allowed");
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
            dnsb_ms_send_services(s);
}

void dnsb_mapserver_stop(dnsb_mapserver *ms, unsigned timeout_ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->nlisten; i++) {
        glb_acceptor_free(ms->acc[i]);
        ms->acc[i] = NULL;
    }
    for (sess *s = ms->sessions, *next; s; s = next) {
        next = s->next;
        if (s->state == S_EST)
            dnsb_ms_send_bye(s, GLB_MAP_BYE_SHUTDOWN, "server shutting down");
        else if (!s->bev)
            sess_free(s); /* nothing to flush */
        else
            sess_close(s);
    }
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
            dnsb_ms_rankings_free(ms->idents[i]->rk, ms->idents[i]->nrk);
            free(ms->idents[i]);
        }
    free(ms->idents);
    free(ms->allow);
    glb_pool_fini(&ms->pool);
    dnsb_svcset_free(ms->svc);
    dnsb_svcset_free(ms->svc_prev);
    SSL_CTX_free(ms->tls);
    glb_map_reader_free(&ms->rd);
    free(ms->obuf);
    free(ms);
}

void dnsb_mapserver_fd_cap(dnsb_mapserver *ms, unsigned cap)
{
    ms->fd_cap = cap;
    pool_limits(ms);
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
