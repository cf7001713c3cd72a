/* One session of the DNS-LB's map client with a DNS-B: TCP and TLS, the
 * HELLO exchange, keepalives, frames in and out, closing and reconnecting
 * with backoff. What the messages say is in mapreg.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapclient_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "shared/clock.h"
#include "shared/log.h"
#include "shared/tls.h"

/* ---- Sending -------------------------------------------------------------- */

int lbmc_send(sess *s, const glb_map_msg *m)
{
    glb_map_error e;
    size_t len = 0;
    int rc = glb_map_encode(m, NULL, 0, &len, &e);
    if (rc != GLB_MAP_OK && rc != GLB_MAP_E_NOSPACE) {
        log_err("map-server %s: cannot encode %s: %s", s->label, glb_map_type_name(m->type), e.text);
        s->send_failed = 1;
        return -1;
    }
    uint8_t *buf = malloc(len);
    if (!buf || glb_map_encode(m, buf, len, &len, &e) != GLB_MAP_OK || bufferevent_write(s->bev, buf, len) != 0) {
        log_err("map-server %s: cannot send %s", s->label, glb_map_type_name(m->type));
        free(buf);
        s->send_failed = 1;
        return -1;
    }
    free(buf);
    s->last_sent = glb_mono();
    return 0;
}

static void send_hello(sess *s)
{
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_HELLO;
    glb_map_hello_defaults(&m.u.hello);
    m.u.hello.role = s->mc->agent ? GLB_MAP_ROLE_MSERVICE : GLB_MAP_ROLE_LB;
    m.u.hello.version = GLB_MAP_VERSION;
    m.u.hello.node_id = s->mc->id;
    m.u.hello.caps = GLB_MAP_CAP_DELTA | (s->mc->agent ? GLB_MAP_CAP_METRICS : GLB_MAP_CAP_RANKING);
    m.u.hello.keepalive = GLB_MAP_KEEPALIVE_DEFAULT;
    m.u.hello.has_serial = s->set.serial != 0;
    m.u.hello.serial = s->set.serial;
    m.u.hello.software = "glb " PACKAGE_VERSION;
    lbmc_send(s, &m);
}

void lbmc_send_simple(sess *s, uint8_t type, unsigned code, const char *text, int ref_type)
{
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    if (type == GLB_MAP_BYE) {
        m.u.bye.reason = (uint8_t)code;
        m.u.bye.text = text;
    } else {
        m.u.error.code = (uint16_t)code;
        m.u.error.text = text;
        m.u.error.has_ref_type = ref_type > 0;
        m.u.error.ref_type = (uint8_t)(ref_type > 0 ? ref_type : 0);
    }
    lbmc_send(s, &m);
}

/* ---- Session life -------------------------------------------------------- */

void lbmc_sess_drop(sess *s)
{
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    evtimer_del(s->timer);
    lb_svcupd_clear(&s->upd);
    s->up_since = 0;
    s->reg_out = s->reg_again = s->ka_out = s->send_failed = 0;
}

void lbmc_shutdown_check(lb_mapclient *mc)
{
    if (!mc->stopping || !mc->done)
        return;
    for (size_t i = 0; i < mc->ns; i++)
        if (mc->s[i]->state == ST_CLOSING)
            return;
    event_active(mc->ev_done, 0, 0);
}

/* The session is over: reconnect later (unless stopping). */
void lbmc_sess_end(sess *s, int failure, int fatal)
{
    lb_mapclient *mc = s->mc;
    double now = glb_mono();
    if (s->up_since > 0 && now - s->up_since >= mc->t.stable_after)
        s->backoff = mc->t.backoff_min;
    if (failure)
        mc->st.failures++;
    lbmc_sess_drop(s);
    if (mc->stopping) {
        s->state = ST_STOPPED;
        lbmc_shutdown_check(mc);
        return;
    }
    double jitter = 0.8 + 0.4 * (double)(lbmc_rnd64(mc) >> 11) / 9007199254740992.0;
    double delay = s->backoff * jitter;
    if (fatal && delay < mc->t.fatal_wait)
        delay = mc->t.fatal_wait;
    s->backoff = s->backoff * 2 < mc->t.backoff_max ? s->backoff * 2 : mc->t.backoff_max;
    s->state = ST_WAIT;
    struct timeval tv = lbmc_tv(delay);
    evtimer_add(s->timer, &tv);
    log_info("map-server %s: reconnecting in %.1f s", s->label, delay);
}

/* Lets a last message leave, then ends the session. */
void lbmc_sess_close(sess *s, int failure, int fatal)
{
    if (!s->bev) {
        lbmc_sess_end(s, failure, fatal);
        return;
    }
    s->state = ST_CLOSING;
    s->end_failure = failure;
    s->end_fatal = fatal;
    bufferevent_disable(s->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        lbmc_sess_end(s, failure, fatal);
        return;
    }
    s->deadline = glb_mono() + s->mc->t.shutdown_wait;
    lbmc_sess_arm(s);
}

static void sess_fail(sess *s, int fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sess_fail(sess *s, int fatal, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_err, sizeof(s->last_err), fmt, ap);
    va_end(ap);
    log_warn("map-server %s%s%s: %s", s->label, s->peer_id[0] ? " " : "", s->peer_id, s->last_err);
    lbmc_sess_close(s, 1, fatal);
}

/* A protocol error of the server's: ERROR, close. */
void lbmc_sess_error(sess *s, int code, const char *text, int ref_type)
{
    lbmc_send_simple(s, GLB_MAP_ERROR, (unsigned)code, text, ref_type);
    sess_fail(s, 0, "sent ERROR %s: %s", glb_map_code_name(code), text);
}

void lbmc_sess_arm(sess *s)
{
    double now = glb_mono(), at;
    if (s->send_failed && (s->state == ST_HELLO || s->state == ST_UP)) {
        at = now; /* timer_cb ends it, outside the caller's stack */
    } else if (s->state == ST_UP) {
        double k = s->keepalive;
        at = s->last_recv + GLB_MAP_IDLE_FACTOR * k;
        if (s->last_sent + k < at)
            at = s->last_sent + k;
        if (!s->reg_out && s->next_reg < at)
            at = s->next_reg;
    } else if (s->state == ST_CONNECTING || s->state == ST_HELLO || s->state == ST_CLOSING) {
        at = s->deadline;
    } else {
        return;
    }
    struct timeval tv = lbmc_tv(at - now);
    evtimer_add(s->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sess *s = arg;
    lb_mapclient *mc = s->mc;
    double now = glb_mono();
    if (s->send_failed && (s->state == ST_HELLO || s->state == ST_UP)) {
        sess_fail(s, 0, "cannot send");
        return;
    }
    switch (s->state) {
    case ST_WAIT:
        lbmc_sess_connect(s);
        return;
    case ST_CONNECTING:
    case ST_HELLO:
        if (now >= s->deadline) {
            sess_fail(s, 0, "%s timed out", s->state == ST_CONNECTING ? "connection and TLS" : "the server's HELLO");
            return;
        }
        break;
    case ST_CLOSING:
        if (now >= s->deadline) {
            lbmc_sess_end(s, s->end_failure, s->end_fatal);
            return;
        }
        break;
    case ST_UP:
        if (now - s->last_recv >= GLB_MAP_IDLE_FACTOR * (double)s->keepalive) {
            lbmc_send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_IDLE, "nothing received", 0);
            sess_fail(s, 0, "nothing received for %u s", GLB_MAP_IDLE_FACTOR * s->keepalive);
            return;
        }
        if (now - s->last_sent >= s->keepalive) {
            glb_map_msg m;
            memset(&m, 0, sizeof(m));
            m.type = GLB_MAP_KEEPALIVE;
            m.u.keepalive.nonce = lbmc_rnd64(mc);
            if (lbmc_send(s, &m) == 0) {
                mc->st.keepalives++;
                s->ka_out = 1;
                s->ka_nonce = m.u.keepalive.nonce;
                s->ka_sent = now;
            }
        }
        if (!s->reg_out && now >= s->next_reg)
            lbmc_send_register(s);
        break;
    default:
        return;
    }
    lbmc_sess_arm(s);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    sess *s = arg;
    if (s->state == ST_CLOSING) /* the output drained: the last message left */
        lbmc_sess_end(s, s->end_failure, s->end_fatal);
}

static void tls_failed(sess *s, short what)
{
    int serr = EVUTIL_SOCKET_ERROR(); /* first: later calls may change it */
    char why[256] = "";
    unsigned long e;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
        if (!why[0]) {
            if (e == SSL_ERROR_SYSCALL || ERR_SYSTEM_ERROR(e)) /* libevent's code for a socket error */
                snprintf(why, sizeof(why), "connect: %s", serr ? strerror(serr) : "connection failed");
            else
                ERR_error_string_n(e, why, sizeof(why));
        }
    if (vr != X509_V_OK)
        sess_fail(s, 0, "server certificate: %s", X509_verify_cert_error_string(vr));
    else if (why[0])
        sess_fail(s, 0, "%s%s", strncmp(why, "connect: ", 9) == 0 ? "" : "TLS: ", why);
    else if ((what & BEV_EVENT_ERROR) && serr)
        sess_fail(s, 0, "connect: %s", evutil_socket_error_to_string(serr));
    else
        sess_fail(s, 0, "connection closed during the TLS handshake");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    sess *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state != ST_CONNECTING)
            return;
        /* The chain and our configured address were verified in the handshake. */
        char id[64];
        if (glb_tls_peer_id(bufferevent_openssl_get_ssl(bev), id, sizeof(id)) != 0 || !glb_id_valid(id)) {
            sess_fail(s, 0, "server certificate without a usable CN");
            return;
        }
        snprintf(s->peer_id, sizeof(s->peer_id), "%s", id);
        s->state = ST_HELLO;
        s->deadline = glb_mono() + s->mc->t.hello_timeout;
        s->last_recv = glb_mono();
        send_hello(s);
        lbmc_sess_arm(s);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (s->state == ST_CONNECTING)
        tls_failed(s, what);
    else if (s->state == ST_CLOSING)
        lbmc_sess_end(s, s->end_failure, s->end_fatal);
    else
        sess_fail(s, 0, "connection %s by the server", (what & BEV_EVENT_EOF) ? "closed" : "broken");
}

static void read_cb(struct bufferevent *bev, void *arg);

void lbmc_sess_connect(sess *s)
{
    lb_mapclient *mc = s->mc;
    mc->st.connects++;
    s->last_err[0] = '\0';
    SSL *ssl = SSL_new(mc->ctx);
    if (!ssl) {
        sess_fail(s, 0, "TLS: out of memory");
        return;
    }
    /* PROTOCOL.md §1: the server's certificate must name the address we
     * were configured with (subjectAltName IP), as HTTPS would. */
    if (X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), s->addr.b, glb_addr_bytes(s->addr.family)) != 1) {
        SSL_free(ssl);
        sess_fail(s, 0, "TLS: cannot set the address to verify");
        return;
    }
    int fd = -1;
    const glb_addr *src = s->addr.family == AF_INET ? (mc->has_src4 ? &mc->src4 : NULL)
                                                    : (mc->has_src6 ? &mc->src6 : NULL);
    if (src) {
        struct sockaddr_storage sa;
        glb_addr a = *src;
        a.port = 0;
        socklen_t al = glb_addr_to_sockaddr(&a, &sa);
        fd = socket(s->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, al) != 0) {
            if (fd >= 0)
                close(fd);
            SSL_free(ssl);
            sess_fail(s, 0, "source address: %s", strerror(errno));
            return;
        }
    }
    s->bev = bufferevent_openssl_socket_new(mc->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        if (fd >= 0)
            close(fd);
        sess_fail(s, 0, "cannot create a TLS connection");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
    s->state = ST_CONNECTING;
    s->deadline = glb_mono() + mc->t.hello_timeout;
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(&s->addr, &ss);
    if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss, (int)sl) != 0 ||
        bufferevent_enable(s->bev, EV_READ | EV_WRITE) != 0) {
        sess_fail(s, 0, "connect: %s", strerror(errno));
        return;
    }
    lbmc_sess_arm(s);
}

/* ---- Receiving ----------------------------------------------------------- */

static void on_hello(sess *s, const glb_map_hello *h)
{
    lb_mapclient *mc = s->mc;
    char buf[128];
    int want = mc->agent ? GLB_MAP_ROLE_LB : GLB_MAP_ROLE_DNSB;
    if (h->role != want) {
        snprintf(buf, sizeof(buf), "role %s, expected %s", glb_map_role_name(h->role), glb_map_role_name(want));
        lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, buf, GLB_MAP_HELLO);
        return;
    }
    if (strcmp(h->node_id, s->peer_id) != 0) {
        snprintf(buf, sizeof(buf), "node-id '%.63s' is not the certificate's CN", h->node_id);
        lbmc_sess_error(s, GLB_MAP_E_UNAUTHORIZED, buf, GLB_MAP_HELLO);
        return;
    }
    double now = glb_mono();
    s->state = ST_UP;
    s->up_since = now;
    s->keepalive = h->keepalive ? h->keepalive : GLB_MAP_KEEPALIVE_DEFAULT;
    s->peer_caps = h->caps;
    s->acked = 0;
    s->rtt = -1;
    mc->st.established++;
    int had = s->has_whoami;
    uint8_t old[GLB_DNAME_MAX];
    memcpy(old, s->whoami, sizeof(old));
    s->has_whoami = h->whoami != NULL;
    if (h->whoami)
        memcpy(s->whoami, h->whoami, glb_dname_len(h->whoami));
    if (had != s->has_whoami || (had && !glb_dname_equal(old, s->whoami)))
        lbmc_update_whoami_names(mc);
    log_notice("map-server %s: session with %s established (keepalive %" PRIu32 " s)", s->label, s->peer_id,
               s->keepalive);
    lbmc_send_register(s);
}

static void on_msg(sess *s, const glb_map_msg *m)
{
    lb_mapclient *mc = s->mc;
    if (m->type == GLB_MAP_ERROR) {
        int c = m->u.error.code;
        int fatal = c == GLB_MAP_E_UNAUTHORIZED || c == GLB_MAP_E_BAD_VERSION || c == GLB_MAP_E_UNSUPPORTED;
        sess_fail(s, fatal, "ERROR %s from the server: %s", glb_map_code_name(c),
                  m->u.error.text ? m->u.error.text : "");
        return;
    }
    if (m->type == GLB_MAP_BYE) {
        snprintf(s->last_err, sizeof(s->last_err), "BYE %s: %s", glb_map_bye_name(m->u.bye.reason),
                 m->u.bye.text ? m->u.bye.text : "");
        log_notice("map-server %s %s: %s", s->label, s->peer_id, s->last_err);
        lbmc_sess_close(s, 0, 0);
        return;
    }
    if (s->state == ST_HELLO) {
        if (m->type == GLB_MAP_HELLO)
            on_hello(s, &m->u.hello);
        else
            lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, "expected HELLO", m->type);
        return;
    }
    switch (m->type) {
    case GLB_MAP_REGISTER_ACK:
        if (!s->reg_out || m->u.ack.sequence != s->reg_seq)
            lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, "REGISTER_ACK for no REGISTER of ours", m->type);
        else
            lbmc_on_ack(s, &m->u.ack);
        return;
    case GLB_MAP_SERVICES:
        if (!s->acked)
            lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, "SERVICES before the first REGISTER_ACK", m->type);
        else
            lbmc_on_services(s, &m->u.services);
        return;
    case GLB_MAP_KEEPALIVE: {
        glb_map_msg r;
        if (glb_map_keepalive_echo(m, &r) == 0)
            lbmc_send(s, &r);
        else if (s->ka_out && m->u.keepalive.nonce == s->ka_nonce) {
            s->rtt = glb_mono() - s->ka_sent;
            s->ka_out = 0;
        }
        return;
    }
    case GLB_MAP_METRICS: /* the box asks an agent for fresh metrics (PROTOCOL.md §10.3) */
        if (!mc->agent || m->u.metrics.nmetrics != 0)
            lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, "METRICS with metrics, or to a DNS-LB", m->type);
        else if (mc->on_request)
            mc->on_request(mc->arg);
        return;
    default:
        lbmc_sess_error(s, GLB_MAP_E_UNEXPECTED, mc->agent ? "message not sent by a DNS-LB" : "message not sent by a DNS-B",
                        m->type);
        return;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    sess *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (s->state == ST_HELLO || s->state == ST_UP) {
        glb_map_msg m;
        glb_map_error e;
        int r = glb_map_read(&s->mc->rd, in, &m, &e);
        if (r == 0)
            break;
        if (r < 0) { /* bad version, or a length over the limit: not read further */
            lbmc_sess_error(s, e.code, e.text, 0);
            return;
        }
        s->last_recv = glb_mono();
        if (e.code != GLB_MAP_OK) {
            if (e.type == GLB_MAP_ERROR) /* never an ERROR about an ERROR */
                sess_fail(s, 0, "bad ERROR frame: %s", e.text);
            else
                lbmc_sess_error(s, e.code, e.text, e.type);
        } else {
            on_msg(s, &m);
        }
    }
    if (s->state == ST_HELLO || s->state == ST_UP)
        lbmc_sess_arm(s);
}

/* ---- Creation ------------------------------------------------------------ */

sess *lbmc_sess_new(lb_mapclient *mc, const glb_addr *a)
{
    sess *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->mc = mc;
    s->addr = *a;
    glb_addrport_str(a, s->label, sizeof(s->label));
    s->backoff = mc->t.backoff_min;
    s->rtt = -1;
    s->timer = evtimer_new(mc->base, timer_cb, s);
    if (!s->timer) {
        free(s);
        return NULL;
    }
    return s;
}

void lbmc_sess_free(sess *s)
{
    if (!s)
        return;
    lbmc_sess_drop(s);
    event_free(s->timer);
    lb_svcset_clear(&s->set);
    free(s);
}
