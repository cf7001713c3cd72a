/* The DNS-LB's map protocol client: sessions with the DNS-Bs in the main
 * event loop. The services' conversion, sets and file are in mapsvc.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapclient.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "dnslb/mapsvc.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"
#include "shared/tls.h"

enum {
    ST_IDLE,       /* not started */
    ST_WAIT,       /* waiting to reconnect */
    ST_CONNECTING, /* TCP and TLS */
    ST_HELLO,      /* our HELLO sent, the server's awaited */
    ST_UP,         /* ESTABLISHED */
    ST_CLOSING,    /* a last BYE or ERROR is leaving */
    ST_STOPPED,    /* after lb_mapclient_shutdown() */
};

static const char *const state_names[] = {"idle", "waiting", "connecting", "hello", "established", "closing",
                                          "stopped"};

typedef struct sess {
    lb_mapclient *mc;
    glb_addr addr;
    char label[GLB_ADDRSTRLEN];  /* ADDR@PORT, for logs */
    int state;
    struct bufferevent *bev;
    struct event *timer;         /* reconnect, or the session's next deadline */
    double deadline;             /* CONNECTING, HELLO, CLOSING: give up at */
    double backoff;              /* the next reconnect delay, before jitter */
    double up_since;             /* monotonic, 0 when not ESTABLISHED */
    int end_failure, end_fatal;  /* how the CLOSING session ends */
    char peer_id[64];            /* the server's id (certificate CN; also read from the services file) */
    uint8_t whoami[GLB_DNAME_MAX];
    int has_whoami;
    uint32_t keepalive;
    uint64_t peer_caps;          /* the server's HELLO capabilities */
    double last_sent, last_recv;
    int send_failed;             /* a message could not be queued: the session ends at the next tick */
    /* registration */
    int reg_out, reg_again;      /* a REGISTER unanswered; another wanted when it is */
    uint64_t reg_seq;
    double next_reg;
    int acked;
    uint32_t granted;
    size_t naccepted, nrejected;
    uint64_t rej_sig;            /* of the last rejected set, to log changes loudly */
    /* keepalive */
    int ka_out;
    uint64_t ka_nonce;
    double ka_sent, rtt;         /* rtt < 0: not measured */
    /* services */
    lb_svcset set;
    lb_svcupd upd;
    char last_err[200];
} sess;

struct lb_mapclient {
    struct event_base *base;
    lb_mapclient_tuning t;
    lb_mapclient_cb cb;
    void *arg;
    SSL_CTX *ctx;
    char tls_files[3][256];
    struct stat tls_stat[3];
    char id[64];
    /* what REGISTER says, from the configuration */
    unsigned refresh, lifetime;
    glb_addr dns[GLB_MAP_MAX_ADDRS], proxy[GLB_MAP_MAX_ADDRS];
    size_t ndns, nproxy;
    glb_prefix *clients;
    size_t nclients;
    int has_location;
    glb_map_location loc;
    char services_file[256];
    sess **s;                    /* configuration order */
    size_t ns;
    lb_whoami *whoami;
    int started, stopping;
    uint64_t last_seq;
    glb_map_claim *claims;       /* as last built */
    size_t nclaims;
    uint8_t *image;              /* the last registration encoded with sequence 1: changes show */
    size_t image_len;
    struct event *ev_notify, *ev_done, *t_shutdown;
    glb_map_reader rd;           /* decodes every session's frames, one at a time */
    uint8_t *rk_frame;           /* the last RANKING, encoded once for every session */
    size_t rk_len;
    struct event *t_rank;        /* sends it, at most once a second */
    double rk_last;
    void (*done)(void *arg);
    void *done_arg;
    uint64_t rnd;
    lb_mapclient_stats st;
};

static uint64_t rnd64(lb_mapclient *mc)
{
    uint64_t x;
    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t)sizeof(x))
        return x;
    /* xorshift fallback: nonces and jitter need no secrecy */
    mc->rnd ^= mc->rnd << 13;
    mc->rnd ^= mc->rnd >> 7;
    mc->rnd ^= mc->rnd << 17;
    return mc->rnd;
}

static struct timeval tv_of(double s)
{
    if (s < 0.001)
        s = 0.001;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return tv;
}

void lb_mapclient_tuning_default(lb_mapclient_tuning *t)
{
    memset(t, 0, sizeof(*t));
    t->backoff_min = 1;
    t->backoff_max = 60;
    t->stable_after = 60;
    t->fatal_wait = 300;
    t->hello_timeout = GLB_MAP_HELLO_TIMEOUT;
    t->shutdown_wait = 1;
    lb_whoami_params_default(&t->whoami);
}

/* ---- TLS context -------------------------------------------------------- */

/* The client context, refused when our certificate's CN is not our id:
 * the DNS-B would refuse us anyway, with a less helpful message. */
static SSL_CTX *load_ctx(const lb_conf *conf, char *err, size_t errlen)
{
    const lb_map_conf *m = &conf->map;
    char e[512];
    SSL_CTX *ctx = glb_tls_client_ctx(m->tls_cert, m->tls_key, m->tls_ca, e, sizeof(e));
    if (!ctx) {
        snprintf(err, errlen, "dnsb: %s", e);
        return NULL;
    }
    char cn[64] = "";
    if (glb_tls_ctx_id(ctx, cn, sizeof(cn)) != 0)
        cn[0] = '\0';
    if (strcmp(cn, conf->id) != 0) {
        snprintf(err, errlen, "tls-cert-file '%s': certificate CN '%s' is not this box's id '%s'", m->tls_cert, cn,
                 conf->id);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int lb_mapclient_check(const lb_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx = load_ctx(conf, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

static void tls_stats(const lb_conf *conf, char files[3][256], struct stat st[3])
{
    const char *f[3] = {conf->map.tls_cert, conf->map.tls_key, conf->map.tls_ca};
    for (int i = 0; i < 3; i++) {
        snprintf(files[i], 256, "%s", f[i]);
        if (stat(f[i], &st[i]) != 0)
            memset(&st[i], 0, sizeof(st[i]));
    }
}

static int tls_same(char a[3][256], struct stat sa[3], char b[3][256], struct stat sb[3])
{
    for (int i = 0; i < 3; i++)
        if (strcmp(a[i], b[i]) != 0 || sa[i].st_ino != sb[i].st_ino || sa[i].st_size != sb[i].st_size ||
            sa[i].st_mtim.tv_sec != sb[i].st_mtim.tv_sec || sa[i].st_mtim.tv_nsec != sb[i].st_mtim.tv_nsec)
            return 0;
    return 1;
}

/* ---- Registration contents ---------------------------------------------- */

static void take_conf(lb_mapclient *mc, const lb_conf *conf)
{
    const lb_map_conf *m = &conf->map;
    snprintf(mc->id, sizeof(mc->id), "%s", conf->id);
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
static void build_claims(lb_mapclient *mc)
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
    r->lifetime = mc->lifetime;
    r->dns = mc->dns;
    r->ndns = mc->ndns;
    r->proxy = mc->proxy;
    r->nproxy = mc->nproxy;
    r->claims = mc->claims;
    r->nclaims = mc->nclaims;
    r->has_location = (uint8_t)mc->has_location;
    r->location = mc->loc;
}

/* ---- Sending -------------------------------------------------------------- */

static int send_msg(sess *s, const glb_map_msg *m)
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

/* Sends the last RANKING to s when the server uses rankings and s may. */
static void send_ranking(sess *s)
{
    lb_mapclient *mc = s->mc;
    if (!mc->rk_frame || s->state != ST_UP || !s->acked || !(s->peer_caps & GLB_MAP_CAP_RANKING))
        return;
    if (bufferevent_write(s->bev, mc->rk_frame, mc->rk_len) != 0) {
        s->send_failed = 1;
        return;
    }
    s->last_sent = glb_mono();
    mc->st.rankings++;
}

static void rank_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    mc->rk_last = glb_mono();
    for (size_t i = 0; i < mc->ns; i++)
        send_ranking(mc->s[i]);
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
    free(mc->rk_frame);
    mc->rk_frame = f;
    mc->rk_len = len;
    if (mc->t_rank && !evtimer_pending(mc->t_rank, NULL)) {
        double wait = mc->rk_last + 1.0 - glb_mono();
        struct timeval tv = tv_of(wait > 0 ? wait : 0);
        evtimer_add(mc->t_rank, &tv);
    }
}

static void send_hello(sess *s)
{
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_HELLO;
    glb_map_hello_defaults(&m.u.hello);
    m.u.hello.role = GLB_MAP_ROLE_LB;
    m.u.hello.version = GLB_MAP_VERSION;
    m.u.hello.node_id = s->mc->id;
    m.u.hello.caps = GLB_MAP_CAP_DELTA | GLB_MAP_CAP_RANKING;
    m.u.hello.keepalive = GLB_MAP_KEEPALIVE_DEFAULT;
    m.u.hello.has_serial = s->set.serial != 0;
    m.u.hello.serial = s->set.serial;
    m.u.hello.software = "glb " PACKAGE_VERSION;
    send_msg(s, &m);
}

static void send_register(sess *s)
{
    lb_mapclient *mc = s->mc;
    if (s->reg_out) { /* never two unanswered: this one goes when the ACK comes */
        s->reg_again = 1;
        return;
    }
    uint64_t now_ms = glb_wall_ms();
    mc->last_seq = now_ms > mc->last_seq ? now_ms : mc->last_seq + 1;
    glb_map_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER;
    fill_register(mc, &m.u.reg, mc->last_seq);
    if (send_msg(s, &m) != 0)
        return;
    mc->st.registers++;
    mc->st.claims = mc->nclaims;
    s->reg_out = 1;
    s->reg_again = 0;
    s->reg_seq = mc->last_seq;
}

static void send_simple(sess *s, uint8_t type, unsigned code, const char *text, int ref_type)
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
    send_msg(s, &m);
}

/* ---- Session life ------------------------------------------------------- */

static void sess_arm(sess *s);
static void sess_connect(sess *s);
static void notify(lb_mapclient *mc);
static void update_whoami_names(lb_mapclient *mc);

static void sess_drop(sess *s)
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

static void shutdown_check(lb_mapclient *mc)
{
    if (!mc->stopping || !mc->done)
        return;
    for (size_t i = 0; i < mc->ns; i++)
        if (mc->s[i]->state == ST_CLOSING)
            return;
    event_active(mc->ev_done, 0, 0);
}

/* The session is over: reconnect later (unless stopping). */
static void sess_end(sess *s, int failure, int fatal)
{
    lb_mapclient *mc = s->mc;
    double now = glb_mono();
    if (s->up_since > 0 && now - s->up_since >= mc->t.stable_after)
        s->backoff = mc->t.backoff_min;
    if (failure)
        mc->st.failures++;
    sess_drop(s);
    if (mc->stopping) {
        s->state = ST_STOPPED;
        shutdown_check(mc);
        return;
    }
    double jitter = 0.8 + 0.4 * (double)(rnd64(mc) >> 11) / 9007199254740992.0;
    double delay = s->backoff * jitter;
    if (fatal && delay < mc->t.fatal_wait)
        delay = mc->t.fatal_wait;
    s->backoff = s->backoff * 2 < mc->t.backoff_max ? s->backoff * 2 : mc->t.backoff_max;
    s->state = ST_WAIT;
    struct timeval tv = tv_of(delay);
    evtimer_add(s->timer, &tv);
    log_info("map-server %s: reconnecting in %.1f s", s->label, delay);
}

/* Lets a last message leave, then ends the session. */
static void sess_close(sess *s, int failure, int fatal)
{
    if (!s->bev) {
        sess_end(s, failure, fatal);
        return;
    }
    s->state = ST_CLOSING;
    s->end_failure = failure;
    s->end_fatal = fatal;
    bufferevent_disable(s->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        sess_end(s, failure, fatal);
        return;
    }
    s->deadline = glb_mono() + s->mc->t.shutdown_wait;
    sess_arm(s);
}

static void sess_fail(sess *s, int fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sess_fail(sess *s, int fatal, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_err, sizeof(s->last_err), fmt, ap);
    va_end(ap);
    log_warn("map-server %s%s%s: %s", s->label, s->peer_id[0] ? " " : "", s->peer_id, s->last_err);
    sess_close(s, 1, fatal);
}

/* A protocol error of the server's: ERROR, close. */
static void sess_error(sess *s, int code, const char *text, int ref_type)
{
    send_simple(s, GLB_MAP_ERROR, (unsigned)code, text, ref_type);
    sess_fail(s, 0, "sent ERROR %s: %s", glb_map_code_name(code), text);
}

static void sess_arm(sess *s)
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
    struct timeval tv = tv_of(at - now);
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
        sess_connect(s);
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
            sess_end(s, s->end_failure, s->end_fatal);
            return;
        }
        break;
    case ST_UP:
        if (now - s->last_recv >= GLB_MAP_IDLE_FACTOR * (double)s->keepalive) {
            send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_IDLE, "nothing received", 0);
            sess_fail(s, 0, "nothing received for %u s", GLB_MAP_IDLE_FACTOR * s->keepalive);
            return;
        }
        if (now - s->last_sent >= s->keepalive) {
            glb_map_msg m;
            memset(&m, 0, sizeof(m));
            m.type = GLB_MAP_KEEPALIVE;
            m.u.keepalive.nonce = rnd64(mc);
            if (send_msg(s, &m) == 0) {
                mc->st.keepalives++;
                s->ka_out = 1;
                s->ka_nonce = m.u.keepalive.nonce;
                s->ka_sent = now;
            }
        }
        if (!s->reg_out && now >= s->next_reg)
            send_register(s);
        break;
    default:
        return;
    }
    sess_arm(s);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    sess *s = arg;
    if (s->state == ST_CLOSING) /* the output drained: the last message left */
        sess_end(s, s->end_failure, s->end_fatal);
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
        sess_arm(s);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (s->state == ST_CONNECTING)
        tls_failed(s, what);
    else if (s->state == ST_CLOSING)
        sess_end(s, s->end_failure, s->end_fatal);
    else
        sess_fail(s, 0, "connection %s by the server", (what & BEV_EVENT_EOF) ? "closed" : "broken");
}

static void read_cb(struct bufferevent *bev, void *arg);

static void sess_connect(sess *s)
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
    s->bev = bufferevent_openssl_socket_new(mc->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
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
    sess_arm(s);
}

/* ---- Receiving ------------------------------------------------------------ */

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

static void on_ack(sess *s, const glb_map_register_ack *a)
{
    lb_mapclient *mc = s->mc;
    double now = glb_mono();
    mc->st.acks++;
    s->reg_out = 0;
    int first = !s->acked;
    s->acked = 1;
    if (first) /* RANKING may flow from now on (PROTOCOL.md §5.2) */
        send_ranking(s);
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
        send_register(s);
}

static void write_services_file(lb_mapclient *mc)
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

static void on_services(sess *s, const glb_map_services *m)
{
    lb_mapclient *mc = s->mc;
    char err[512];
    char org[GLB_ADDRSTRLEN + 16];
    snprintf(org, sizeof(org), "map-server %s", s->label);
    int rc = lb_svcupd_add(&s->upd, m, org, err, sizeof(err));
    if (rc != GLB_MAP_OK) {
        sess_error(s, rc, err, GLB_MAP_SERVICES);
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
        send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_RESYNC, "delta base not held", 0);
        sess_close(s, 0, 0);
        return;
    }
    if (kind == GLB_MAP_SERVICES_FULL)
        mc->st.services_full++;
    else
        mc->st.services_delta++;
    mc->st.services_skipped += skipped;
    log_info("map-server %s %s: services serial %" PRIu64 " (%s): %zu services", s->label, s->peer_id, serial,
             kind == GLB_MAP_SERVICES_FULL ? "full" : "delta", s->set.n);
    write_services_file(mc);
    notify(mc);
}

static void on_hello(sess *s, const glb_map_hello *h)
{
    lb_mapclient *mc = s->mc;
    char buf[128];
    if (h->role != GLB_MAP_ROLE_DNSB) {
        snprintf(buf, sizeof(buf), "role %s, expected dnsb", glb_map_role_name(h->role));
        sess_error(s, GLB_MAP_E_UNEXPECTED, buf, GLB_MAP_HELLO);
        return;
    }
    if (strcmp(h->node_id, s->peer_id) != 0) {
        snprintf(buf, sizeof(buf), "node-id '%.63s' is not the certificate's CN", h->node_id);
        sess_error(s, GLB_MAP_E_UNAUTHORIZED, buf, GLB_MAP_HELLO);
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
        update_whoami_names(mc);
    log_notice("map-server %s: session with %s established (keepalive %" PRIu32 " s)", s->label, s->peer_id,
               s->keepalive);
    send_register(s);
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
        sess_close(s, 0, 0);
        return;
    }
    if (s->state == ST_HELLO) {
        if (m->type == GLB_MAP_HELLO)
            on_hello(s, &m->u.hello);
        else
            sess_error(s, GLB_MAP_E_UNEXPECTED, "expected HELLO", m->type);
        return;
    }
    switch (m->type) {
    case GLB_MAP_REGISTER_ACK:
        if (!s->reg_out || m->u.ack.sequence != s->reg_seq)
            sess_error(s, GLB_MAP_E_UNEXPECTED, "REGISTER_ACK for no REGISTER of ours", m->type);
        else
            on_ack(s, &m->u.ack);
        return;
    case GLB_MAP_SERVICES:
        if (!s->acked)
            sess_error(s, GLB_MAP_E_UNEXPECTED, "SERVICES before the first REGISTER_ACK", m->type);
        else
            on_services(s, &m->u.services);
        return;
    case GLB_MAP_KEEPALIVE:
        if (!m->u.keepalive.reply) {
            glb_map_msg r;
            memset(&r, 0, sizeof(r));
            r.type = GLB_MAP_KEEPALIVE;
            r.u.keepalive.nonce = m->u.keepalive.nonce;
            r.u.keepalive.reply = 1;
            send_msg(s, &r);
        } else if (s->ka_out && m->u.keepalive.nonce == s->ka_nonce) {
            s->rtt = glb_mono() - s->ka_sent;
            s->ka_out = 0;
        }
        (void)mc;
        return;
    default:
        sess_error(s, GLB_MAP_E_UNEXPECTED, "message not sent by a DNS-B", m->type);
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
            sess_error(s, e.code, e.text, 0);
            return;
        }
        s->last_recv = glb_mono();
        if (e.code != GLB_MAP_OK) {
            if (e.type == GLB_MAP_ERROR) /* never an ERROR about an ERROR */
                sess_fail(s, 0, "bad ERROR frame: %s", e.text);
            else
                sess_error(s, e.code, e.text, e.type);
        } else {
            on_msg(s, &m);
        }
    }
    if (s->state == ST_HELLO || s->state == ST_UP)
        sess_arm(s);
}

/* ---- The client --------------------------------------------------------------- */

static sess *sess_new(lb_mapclient *mc, const glb_addr *a)
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

static void sess_free(sess *s)
{
    if (!s)
        return;
    sess_drop(s);
    event_free(s->timer);
    lb_svcset_clear(&s->set);
    free(s);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    if (mc->cb)
        mc->cb(mc->arg);
}

static void notify(lb_mapclient *mc)
{
    /* deferred: the callback may reconfigure us; several sets coalesce */
    event_active(mc->ev_notify, 0, 0);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    void (*done)(void *) = mc->done;
    if (mc->t_shutdown)
        evtimer_del(mc->t_shutdown);
    mc->done = NULL;
    if (done)
        done(mc->done_arg);
}

static void update_whoami_names(lb_mapclient *mc)
{
    const uint8_t *names[LB_WHOAMI_MAX_NAMES];
    size_t n = 0;
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        int dup = 0;
        if (!s->has_whoami)
            continue;
        for (size_t k = 0; k < n; k++)
            dup |= glb_dname_equal(names[k], s->whoami);
        if (!dup && n < LB_WHOAMI_MAX_NAMES)
            names[n++] = s->whoami;
    }
    if (mc->whoami)
        lb_whoami_set_names(mc->whoami, names, n);
}

/* Re-registers everywhere when what REGISTER would say changed. */
static void registration_check(lb_mapclient *mc)
{
    build_claims(mc);
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
            send_register(mc->s[i]);
            sess_arm(mc->s[i]);
        }
}

static void whoami_cb(void *arg, unsigned what)
{
    (void)what; /* resolvers or egress: both are claims */
    registration_check(arg);
}

static int find_sess(sess **arr, size_t n, const glb_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (arr[i] && arr[i]->addr.family == a->family && arr[i]->addr.port == a->port &&
            memcmp(arr[i]->addr.b, a->b, glb_addr_bytes(a->family)) == 0)
            return (int)i;
    return -1;
}

/* Sessions for conf's servers, in its order: those of old[] for servers
 * that stay (old is not changed), new ones for the others. NULL when out
 * of memory (nothing changed). */
static sess **build_sessions(lb_mapclient *mc, const lb_conf *conf, sess **old, size_t nold, size_t *n)
{
    sess **arr = calloc(conf->map.nservers ? conf->map.nservers : 1, sizeof(*arr));
    size_t k = 0;
    if (!arr)
        return NULL;
    for (size_t i = 0; i < conf->map.nservers; i++) {
        const glb_addr *a = &conf->map.servers[i];
        if (find_sess(arr, k, a) >= 0) {
            char b[GLB_ADDRSTRLEN];
            log_warn("dnsb: map-server %s given twice", glb_addrport_str(a, b, sizeof(b)));
            continue;
        }
        int j = find_sess(old, nold, a);
        sess *s = j >= 0 ? old[j] : sess_new(mc, a);
        if (!s) {
            for (size_t x = 0; x < k; x++)
                if (find_sess(old, nold, &arr[x]->addr) < 0)
                    sess_free(arr[x]);
            free(arr);
            return NULL;
        }
        arr[k++] = s;
    }
    *n = k;
    return arr;
}

lb_mapclient *lb_mapclient_new(struct event_base *base, const lb_conf *conf, const lb_mapclient_tuning *t,
                               lb_mapclient_cb cb, void *arg, char *err, size_t errlen)
{
    lb_mapclient *mc = calloc(1, sizeof(*mc));
    if (!mc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mc->base = base;
    if (t)
        mc->t = *t;
    else
        lb_mapclient_tuning_default(&mc->t);
    mc->cb = cb;
    mc->arg = arg;
    mc->rnd = (uint64_t)time(NULL) * 2654435761u | 1;
    if (!(mc->ctx = load_ctx(conf, err, errlen)))
        goto fail;
    tls_stats(conf, mc->tls_files, mc->tls_stat);
    take_conf(mc, conf);
    mc->ev_notify = event_new(base, -1, 0, notify_cb, mc);
    mc->ev_done = event_new(base, -1, 0, done_cb, mc);
    mc->t_rank = evtimer_new(base, rank_cb, mc);
    if (!mc->ev_notify || !mc->ev_done || !mc->t_rank || !(mc->s = build_sessions(mc, conf, NULL, 0, &mc->ns))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    lb_whoami_params wp = mc->t.whoami;
    wp.interval = conf->map.whoami_interval;
    if (!(mc->whoami = lb_whoami_new(base, &conf->resolver, &wp, whoami_cb, mc, err, errlen)))
        goto fail;
    if (mc->services_file[0]) {
        lb_svcfile_block *b = calloc(mc->ns ? mc->ns : 1, sizeof(*b));
        char e[1024];
        if (!b) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < mc->ns; i++)
            b[i].server = mc->s[i]->addr;
        /* a bad file does not keep the box from serving: the DNS-Bs resend */
        if (lb_svcfile_read(mc->services_file, b, mc->ns, e, sizeof(e)) != 0)
            log_err("%s", e);
        size_t total = 0;
        for (size_t i = 0; i < mc->ns; i++) {
            mc->s[i]->set = b[i].set;
            snprintf(mc->s[i]->peer_id, sizeof(mc->s[i]->peer_id), "%s", b[i].id);
            total += b[i].set.n;
        }
        free(b);
        if (total)
            log_notice("dnsb: %zu services read from %s", total, mc->services_file);
    }
    build_claims(mc);
    return mc;
fail:
    lb_mapclient_free(mc);
    return NULL;
}

void lb_mapclient_start(lb_mapclient *mc)
{
    if (mc->started || mc->stopping)
        return;
    mc->started = 1;
    lb_whoami_start(mc->whoami);
    registration_check(mc);
    for (size_t i = 0; i < mc->ns; i++)
        if (mc->s[i]->state == ST_IDLE)
            sess_connect(mc->s[i]);
}

int lb_mapclient_reconfigure(lb_mapclient *mc, const lb_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx = load_ctx(conf, err, errlen);
    if (!ctx)
        return -1;
    size_t n = 0;
    sess **old = mc->s;
    size_t nold = mc->ns;
    sess **arr = build_sessions(mc, conf, old, nold, &n);
    if (!arr) {
        snprintf(err, errlen, "out of memory");
        SSL_CTX_free(ctx);
        return -1;
    }
    if (lb_whoami_reconfigure(mc->whoami, &conf->resolver, conf->map.whoami_interval, err, errlen) != 0) {
        for (size_t i = 0; i < n; i++) /* undo: the new sessions go */
            if (find_sess(old, nold, &arr[i]->addr) < 0)
                sess_free(arr[i]);
        free(arr);
        SSL_CTX_free(ctx);
        return -1;
    }
    char files[3][256];
    struct stat st[3];
    tls_stats(conf, files, st);
    int tls_changed = !tls_same(files, st, mc->tls_files, mc->tls_stat);
    memcpy(mc->tls_files, files, sizeof(files));
    memcpy(mc->tls_stat, st, sizeof(st));
    SSL_CTX_free(mc->ctx); /* live SSL objects hold their own reference */
    mc->ctx = ctx;
    int gone = 0;
    for (size_t j = 0; j < nold; j++)
        if (find_sess(arr, n, &old[j]->addr) < 0) {
            log_notice("map-server %s: no longer configured", old[j]->label);
            gone |= old[j]->set.n > 0;
            sess_free(old[j]);
        }
    free(old);
    mc->s = arr;
    mc->ns = n;
    char oldfile[256];
    snprintf(oldfile, sizeof(oldfile), "%s", mc->services_file);
    unsigned old_refresh = mc->refresh;
    take_conf(mc, conf);
    double now = glb_mono();
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        if (s->state == ST_IDLE && mc->started && !mc->stopping) {
            sess_connect(s);
        } else if (tls_changed && s->state != ST_IDLE && s->state != ST_STOPPED) {
            log_notice("map-server %s: TLS files changed, reconnecting", s->label);
            if (s->state == ST_UP)
                send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_RESTART, "new certificates", 0);
            s->backoff = mc->t.backoff_min;
            sess_close(s, 0, 0);
        } else if (s->state == ST_UP && mc->refresh < old_refresh && s->next_reg > now + mc->refresh) {
            s->next_reg = now + mc->refresh;
            sess_arm(s);
        }
    }
    update_whoami_names(mc);
    if (gone || strcmp(oldfile, mc->services_file) != 0)
        write_services_file(mc);
    if (mc->started)
        registration_check(mc);
    return 0;
}

lb_conf *lb_mapclient_effective(const lb_mapclient *mc, const lb_conf *local, char *err, size_t errlen)
{
    const lb_svcset **sets = calloc(mc->ns ? mc->ns : 1, sizeof(*sets));
    if (!sets) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < mc->ns; i++)
        sets[i] = &mc->s[i]->set;
    lb_conf *c = lb_svc_effective(sets, mc->ns, local, NULL, err, errlen);
    free(sets);
    return c;
}

static void shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    for (size_t i = 0; i < mc->ns; i++) /* BYEs that did not leave in time */
        if (mc->s[i]->state == ST_CLOSING)
            sess_end(mc->s[i], 0, 0);
    event_active(mc->ev_done, 0, 0);
}

void lb_mapclient_shutdown(lb_mapclient *mc, void (*done)(void *arg), void *arg)
{
    mc->stopping = 1;
    mc->done = done;
    mc->done_arg = arg;
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        if (s->state == ST_UP) {
            send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_SHUTDOWN, "stopping", 0);
            sess_close(s, 0, 0);
        } else if (s->state != ST_CLOSING) {
            sess_drop(s);
            s->state = ST_STOPPED;
        }
    }
    if (!mc->t_shutdown)
        mc->t_shutdown = evtimer_new(mc->base, shutdown_timer_cb, mc);
    if (mc->t_shutdown) {
        struct timeval tv = tv_of(mc->t.shutdown_wait);
        evtimer_add(mc->t_shutdown, &tv);
    }
    shutdown_check(mc);
}

void lb_mapclient_free(lb_mapclient *mc)
{
    if (!mc)
        return;
    for (size_t i = 0; i < mc->ns; i++)
        sess_free(mc->s[i]);
    free(mc->s);
    lb_whoami_free(mc->whoami);
    if (mc->ctx)
        SSL_CTX_free(mc->ctx);
    if (mc->ev_notify)
        event_free(mc->ev_notify);
    if (mc->ev_done)
        event_free(mc->ev_done);
    if (mc->t_shutdown)
        event_free(mc->t_shutdown);
    if (mc->t_rank)
        event_free(mc->t_rank);
    free(mc->rk_frame);
    glb_map_reader_free(&mc->rd);
    free(mc->clients);
    free(mc->claims);
    free(mc->image);
    free(mc);
}

void lb_mapclient_stats_get(const lb_mapclient *mc, lb_mapclient_stats *out)
{
    *out = mc->st;
    out->up = 0;
    for (size_t i = 0; i < mc->ns; i++)
        out->up += mc->s[i]->state == ST_UP;
    const lb_svcset **sets = calloc(mc->ns ? mc->ns : 1, sizeof(*sets));
    if (sets) {
        for (size_t i = 0; i < mc->ns; i++)
            sets[i] = &mc->s[i]->set;
        out->services = lb_svc_union_count(sets, mc->ns);
        free(sets);
    }
}

void lb_mapclient_report(const lb_mapclient *mc, struct evbuffer *out)
{
    for (size_t i = 0; i < mc->ns; i++) {
        const sess *s = mc->s[i];
        evbuffer_add_printf(out, "map-server %s: %s id %s serial %" PRIu64 " services %zu", s->label,
                            state_names[s->state], s->peer_id[0] ? s->peer_id : "-", s->set.serial, s->set.n);
        if (s->acked)
            evbuffer_add_printf(out, " lifetime %" PRIu32 " accepted %zu rejected %zu", s->granted, s->naccepted,
                                s->nrejected);
        if (s->state == ST_UP && s->rtt >= 0)
            evbuffer_add_printf(out, " rtt %.1f ms", s->rtt * 1e3);
        if (s->state != ST_UP && s->last_err[0])
            evbuffer_add_printf(out, " last-error \"%s\"", s->last_err);
        evbuffer_add_printf(out, "\n");
    }
    evbuffer_add_printf(out, "claims: %zu\n", mc->nclaims);
    for (size_t i = 0; i < mc->nclaims; i++) {
        char p[GLB_ADDRSTRLEN];
        evbuffer_add_printf(out, "claim %s %s\n", glb_map_claim_kind_name(mc->claims[i].kind),
                            glb_prefix_str(&mc->claims[i].prefix, p, sizeof(p)));
    }
    if (mc->whoami)
        lb_whoami_report(mc->whoami, out);
}

lb_whoami *lb_mapclient_whoami(lb_mapclient *mc)
{
    return mc->whoami;
}
