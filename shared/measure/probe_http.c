/* HTTP/HTTPS health checks: one GET per check on its own connection.
 *
 * A check is one allocation holding its state and two libevent events (the
 * whole-check timer and the connect watcher, placed with event_assign). The
 * TCP connect is a raw non-blocking socket watched for writability, so the
 * connect time is measured apart from the TLS handshake; once connected the
 * socket goes to a bufferevent (plain, or OpenSSL in the connecting state,
 * whose CONNECTED event marks the end of the handshake). The response is
 * parsed straight out of the bufferevent's input buffer and drained as it
 * goes: headers are bounded (MAX_HEADER), the body is counted, never kept,
 * and stops at max_body. Nothing grows with the size of the response.
 *
 * Every outcome is reported from a libevent callback (an immediate failure in
 * glb_http_check_start activates the timer event), everything is released
 * before the user callback runs, and the check itself is freed after it, so
 * the callback may start new checks. Cancelling during one's own callback is
 * a no-op.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/probe_http.h"
#include "shared/measure/probe_http_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "shared/log.h"

#define REQUEST_FMT \
    "GET %s HTTP/1.1\r\nHost: %s%s%s%s\r\nUser-Agent: glb-probe/0.1\r\nConnection: close\r\nAccept: */*\r\n\r\n"

const char *glb_http_error_str(enum glb_http_error e)
{
    switch (e) {
    case GLB_HTTP_OK:
        return "ok";
    case GLB_HTTP_ERR_CONNECT:
        return "connect";
    case GLB_HTTP_ERR_TLS:
        return "tls";
    case GLB_HTTP_ERR_TIMEOUT:
        return "timeout";
    case GLB_HTTP_ERR_RESET:
        return "reset";
    case GLB_HTTP_ERR_PROTOCOL:
        return "protocol";
    case GLB_HTTP_ERR_STATUS:
        return "status";
    case GLB_HTTP_ERR_TOO_BIG:
        return "too-big";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* TLS context */

static void log_ssl_errors(int level, const char *what)
{
    unsigned long e;
    char buf[256];
    int any = 0;

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        glb_log(level, "%s: %s", what, buf);
        any = 1;
    }
    if (!any)
        glb_log(level, "%s", what);
}

SSL_CTX *glb_http_ssl_ctx_new(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        log_ssl_errors(GLB_LOG_ERR, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        log_ssl_errors(GLB_LOG_ERR, "TLS 1.2 minimum");
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM_clear_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            char what[300];
            snprintf(what, sizeof(what), "cannot load CA file %s", ca_file);
            log_ssl_errors(GLB_LOG_ERR, what);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_ssl_errors(GLB_LOG_ERR, "cannot load the system trust store");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Checks */

double glb_http_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The events live in the same allocation, after the struct. */
static size_t events_offset(void)
{
    size_t a = alignof(max_align_t);
    return (sizeof(struct glb_http_check) + a - 1) / a * a;
}

static size_t event_slot(void)
{
    size_t a = alignof(max_align_t);
    return (event_get_struct_event_size() + a - 1) / a * a;
}

/* Releases the network resources; idempotent. */
static void teardown(glb_http_check *c)
{
    if (c->ev_assigned & 1) {
        event_del(c->timer);
        event_debug_unassign(c->timer);
    }
    if (c->ev_assigned & 2) {
        event_del(c->conn_ev);
        event_debug_unassign(c->conn_ev);
    }
    c->ev_assigned = 0;
    if (c->bev) {
        bufferevent_free(c->bev); /* closes the socket, frees the SSL */
        c->bev = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Reports and frees. Once a final status outside 200..399 has been read,
 * any later failure (reset, timeout, oversized or malformed body) is
 * reported as STATUS: that is what the site said. */
void glb_http_finish(glb_http_check *c, enum glb_http_error err)
{
    int st = c->r.status;

    if (err != GLB_HTTP_OK && st != 0 && !c->interim && (st < 200 || st > 399))
        err = GLB_HTTP_ERR_STATUS;
    c->r.err = err;
    teardown(c);
    c->in_cb = 1;
    c->cb(c->arg, &c->r);
    free(c);
}

/* The response is complete. */
void glb_http_complete(glb_http_check *c)
{
    c->r.total_ms = glb_http_ms_since(&c->t0);
    glb_http_finish(c, c->r.status >= 200 && c->r.status <= 399 ? GLB_HTTP_OK : GLB_HTTP_ERR_STATUS);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    glb_http_check *c = arg;

    if (c->ph < PH_STATUS) /* nothing is read before the handshake event */
        return;
    if (c->r.ttfb_ms < 0 && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        c->r.ttfb_ms = glb_http_ms_since(&c->t0);
    glb_http_process_input(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    glb_http_check *c = arg;

    if (what & BEV_EVENT_CONNECTED) { /* TLS handshake done */
        if (c->ph == PH_HANDSHAKE) {
            c->r.tls_ms = glb_http_ms_since(&c->t0);
            c->ph = PH_STATUS;
            if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
                read_cb(bev, c);
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;

    if (c->ph == PH_HANDSHAKE) {
        int err = EVUTIL_SOCKET_ERROR();
        unsigned long e, first = 0;
        long vr = c->verify ? SSL_get_verify_result(bufferevent_openssl_get_ssl(bev)) : X509_V_OK;

        while ((e = bufferevent_get_openssl_error(bev)) != 0)
            first = e; /* popped newest first: keep the oldest */
        if (vr != X509_V_OK) {
            log_debug("https %s@%u: certificate: %s", c->host, (unsigned)c->port, X509_verify_cert_error_string(vr));
        } else if (first) {
            char buf[256];
            ERR_error_string_n(first, buf, sizeof(buf));
            log_debug("https %s@%u: handshake: %s", c->host, (unsigned)c->port, buf);
        }
        /* a reset with no TLS error is a reset; anything else is TLS */
        if (!first && vr == X509_V_OK && (what & BEV_EVENT_ERROR) && (err == ECONNRESET || err == EPIPE))
            glb_http_finish(c, GLB_HTTP_ERR_RESET);
        else
            glb_http_finish(c, GLB_HTTP_ERR_TLS);
        return;
    }

    /* use what arrived before the end, then judge */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
        if (c->r.ttfb_ms < 0)
            c->r.ttfb_ms = glb_http_ms_since(&c->t0);
        if (glb_http_process_input(c))
            return;
    }
    if ((what & BEV_EVENT_EOF) && c->ph == PH_BODY_CLOSE)
        glb_http_complete(c);
    else
        glb_http_finish(c, GLB_HTTP_ERR_RESET);
}

/* A TLS client bufferevent on the connected socket: SNI when the host is a
 * name, verification of the name or address unless verify is 0. NULL on
 * failure (the socket is still c->fd). */
static struct bufferevent *tls_bev(glb_http_check *c)
{
    SSL *ssl = SSL_new(c->ctx);
    struct bufferevent *bev;
    glb_addr tmp;
    int is_ip = glb_addr_parse(c->host, &tmp) == 0, ok = 1;

    if (!ssl) {
        log_ssl_errors(GLB_LOG_WARN, "SSL_new");
        return NULL;
    }
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a close without close_notify reads as an EOF: the framing checks here
     * tell a complete response from a cut one */
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (!is_ip)
        ok = SSL_set_tlsext_host_name(ssl, c->host) == 1;
    if (ok && c->verify) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        if (is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, c->host) == 1;
        }
    } else if (ok) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    }
    if (!ok) {
        log_ssl_errors(GLB_LOG_WARN, "TLS setup");
        SSL_free(ssl);
        return NULL;
    }
    /* On failure libevent frees the SSL (BEV_OPT_CLOSE_ON_FREE), not the socket. */
    bev = bufferevent_openssl_socket_new(c->base, c->fd, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        log_warn("https %s@%u: cannot create the TLS bufferevent", c->host, (unsigned)c->port);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* The TCP connection is up: hand the socket to a bufferevent, queue the
 * request (sent after the handshake for TLS). */
static void connected(glb_http_check *c)
{
    struct bufferevent *bev;

    c->r.connect_ms = glb_http_ms_since(&c->t0);
    if (c->tls) {
        bev = tls_bev(c);
    } else {
        bev = bufferevent_socket_new(c->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
            log_warn("http %s@%u: cannot create a bufferevent", c->host, (unsigned)c->port);
    }
    if (!bev) {
        glb_http_finish(c, c->tls ? GLB_HTTP_ERR_TLS : GLB_HTTP_ERR_CONNECT);
        return;
    }
    c->fd = -1; /* the bufferevent's now */
    c->bev = bev;
    c->ph = c->tls ? PH_HANDSHAKE : PH_STATUS;
    bufferevent_setcb(bev, read_cb, NULL, event_cb, c);
    if (bufferevent_write(bev, c->req, c->req_len) != 0 || bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
        glb_http_finish(c, c->tls ? GLB_HTTP_ERR_TLS : GLB_HTTP_ERR_CONNECT);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_http_check *c = arg;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)what;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if ((err == EINPROGRESS || err == EALREADY) && event_add(c->conn_ev, NULL) == 0)
        return; /* spurious wake-up */
    if (err != 0) {
        char a[GLB_ADDRSTRLEN];
        log_debug("http %s@%u: connect to %s: %s", c->host, (unsigned)c->port,
                  glb_addrport_str(&c->addr, a, sizeof(a)), strerror(err));
        glb_http_finish(c, GLB_HTTP_ERR_CONNECT);
        return;
    }
    connected(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_http_check *c = arg;

    (void)fd;
    (void)what;
    glb_http_finish(c, c->fail ? (enum glb_http_error)c->fail : GLB_HTTP_ERR_TIMEOUT);
}

/* A non-empty NUL-terminated string of visible ASCII within n bytes (what
 * can go into the request line and Host header as it is). */
static int printable(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && s[i]; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return i > 0 && i < n;
}

glb_http_check *glb_http_check_start(struct event_base *base, SSL_CTX *ctx, const glb_url *u,
                                     const glb_addr *addr, unsigned timeout_ms, int verify, size_t max_body,
                                     glb_http_cb cb, void *arg)
{
    return glb_http_check_start_from(base, ctx, u, addr, NULL, timeout_ms, verify, max_body, cb, arg);
}

/* Binds fd to src with no port yet (the kernel picks it at connect, so
 * thousands of checks do not exhaust the ephemeral ports). */
static int bind_source(int fd, const glb_addr *src)
{
    struct sockaddr_storage ss;
    glb_addr a = *src;
    a.port = 0;
    socklen_t sl = glb_addr_to_sockaddr(&a, &ss);
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    (void)one;
    return bind(fd, (struct sockaddr *)&ss, sl);
}

glb_http_check *glb_http_check_start_from(struct event_base *base, SSL_CTX *ctx, const glb_url *u,
                                          const glb_addr *addr, const glb_addr *src, unsigned timeout_ms,
                                          int verify, size_t max_body, glb_http_cb cb, void *arg)
{
    glb_http_check *c;
    struct sockaddr_storage ss;
    socklen_t slen;
    struct timeval tv;
    size_t off = events_offset(), slot = event_slot(), hlen, rlen;
    unsigned char *mem;
    char *text, portbuf[8] = "";
    int fd, v6;

    if (!base || !u || !addr || !cb || (u->tls && !ctx) || (addr->family != AF_INET && addr->family != AF_INET6) ||
        !printable(u->host, sizeof(u->host)) || !printable(u->path, sizeof(u->path)) || u->path[0] != '/' ||
        u->port == 0) {
        errno = EINVAL;
        return NULL;
    }
    /* one allocation: the struct, two events, the host name, the request */
    hlen = strlen(u->host);
    v6 = strchr(u->host, ':') != NULL;
    if (u->port != (u->tls ? 443 : 80))
        snprintf(portbuf, sizeof(portbuf), ":%u", (unsigned)u->port);
    rlen = (size_t)snprintf(NULL, 0, REQUEST_FMT, u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", portbuf);
    mem = calloc(1, off + 2 * slot + hlen + 1 + rlen + 1);
    if (!mem)
        return NULL;
    c = (glb_http_check *)(void *)mem;
    c->timer = (struct event *)(void *)(mem + off);
    c->conn_ev = (struct event *)(void *)(mem + off + slot);
    text = (char *)(mem + off + 2 * slot);
    memcpy(text, u->host, hlen + 1);
    c->host = text;
    text += hlen + 1;
    snprintf(text, rlen + 1, REQUEST_FMT, u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", portbuf);
    c->req = text;
    c->req_len = rlen;
    c->base = base;
    c->ctx = ctx;
    c->cb = cb;
    c->arg = arg;
    c->fd = -1;
    c->tls = u->tls ? 1 : 0;
    c->verify = verify ? 1 : 0;
    c->max_body = max_body;
    c->port = u->port;
    c->addr = *addr;
    c->addr.port = u->port;
    c->r.err = GLB_HTTP_OK;
    c->r.status = 0;
    c->r.connect_ms = c->r.tls_ms = c->r.ttfb_ms = c->r.total_ms = -1;
    c->r.body_bytes = 0;
    c->ph = PH_CONNECT;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);

    fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        log_warn("http check: socket: %s", strerror(e));
        free(c);
        errno = e;
        return NULL;
    }
    c->fd = fd;
    if (src && src->family == addr->family && bind_source(fd, src) != 0) {
        char sa[GLB_ADDRSTRLEN];
        log_warn("http check: cannot bind to %s: %s", glb_addr_str(src, sa, sizeof(sa)), strerror(errno));
        goto fail;
    }
    if (event_assign(c->timer, base, -1, 0, timer_cb, c) != 0)
        goto fail;
    c->ev_assigned |= 1;
    if (event_assign(c->conn_ev, base, fd, EV_WRITE, conn_cb, c) != 0)
        goto fail;
    c->ev_assigned |= 2;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (long)(timeout_ms % 1000) * 1000;
    if (event_add(c->timer, &tv) != 0)
        goto fail;

    slen = glb_addr_to_sockaddr(&c->addr, &ss);
    if (connect(fd, (struct sockaddr *)&ss, slen) == 0 || errno == EINPROGRESS || errno == EINTR) {
        if (event_add(c->conn_ev, NULL) != 0)
            goto fail;
    } else {
        /* refused at once, unreachable, no route...: reported from the loop */
        int e = errno;
        char a[GLB_ADDRSTRLEN];
        log_debug("http %s@%u: connect to %s: %s", c->host, (unsigned)c->port,
                  glb_addrport_str(&c->addr, a, sizeof(a)), strerror(e));
        c->fail = GLB_HTTP_ERR_CONNECT;
        close(fd);
        c->fd = -1;
        event_active(c->timer, EV_TIMEOUT, 1);
    }
    return c;
fail:
    teardown(c);
    free(c);
    errno = ENOMEM;
    return NULL;
}

void glb_http_check_cancel(glb_http_check *c)
{
    if (!c || c->in_cb)
        return;
    teardown(c);
    free(c);
}

/* ------------------------------------------------------------------ */
/* The parser without a network (glb_http_parse_response) */

typedef struct parse_outcome {
    int done;
    glb_http_result r;
} parse_outcome;

static void parse_cb(void *arg, const glb_http_result *r)
{
    parse_outcome *o = arg;
    o->done++;
    o->r = *r;
}

int glb_http_parse_response(const uint8_t *data, size_t len, size_t step, size_t max_body, glb_http_result *out)
{
    parse_outcome o = {0};
    struct event_base *base = event_base_new();
    glb_http_check *c = base ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        if (base)
            event_base_free(base);
        return -1;
    }
    c->base = base;
    c->cb = parse_cb;
    c->arg = &o;
    c->fd = -1;
    c->host = "parse";
    c->max_body = max_body;
    c->r.connect_ms = c->r.tls_ms = c->r.ttfb_ms = c->r.total_ms = -1;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->bev = bufferevent_socket_new(base, -1, 0);
    if (!c->bev) {
        free(c);
        event_base_free(base);
        return -1;
    }
    c->ph = PH_STATUS;
    if (step == 0)
        step = len ? len : 1;
    for (size_t off = 0; off < len && !o.done; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (evbuffer_add(bufferevent_get_input(c->bev), data + off, n) != 0) {
            glb_http_finish(c, GLB_HTTP_ERR_RESET);
            break;
        }
        read_cb(c->bev, c);
    }
    if (!o.done)
        event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
    event_base_free(base);
    *out = o.r;
    return 0;
}
