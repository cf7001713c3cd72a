/* The control channel: server (in the daemon's event loop) and client, over
 * plain TCP or TLS. Connections are pending until authenticated (TLS: an
 * allowed certificate; plain: the request line read) and must get there
 * within CONN_HANDSHAKE_S of the accept; pending ones give way to new ones
 * when the caps are reached (connpool.h), so that connections that never
 * finish cannot lock the operator out. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/acceptor.h"
#include "shared/clock.h"
#include "shared/connpool.h"
#include "shared/log.h"
#include "shared/ratelog.h"

#define LINE_MAX_BYTES 512
#define CONN_TIMEOUT_S 30     /* an answer not taken by then is dropped */
#define CONN_HANDSHAKE_S 5    /* from accept to the request line, TLS handshake included */
#define MAX_CONNS GLB_CONTROL_MAX_CONNS
#define MAX_PENDING 16        /* not yet authenticated */
#define MAX_PER_SOURCE 8      /* not yet authenticated, from one address */
#define ANSWER_MAX (64u << 20) /* the client reads at most this */

struct glb_control {
    struct event_base *base;
    glb_acceptor *acc;
    SSL_CTX *tls;          /* NULL: plain TCP */
    const glb_control_cmd *cmds;
    void *arg;
    glb_pool pool;         /* the connections */
    glb_ratelog rl_refused;
    glb_control_stats st;
    char (*allowed)[64];   /* certificate CNs that may send commands; none: any */
    size_t nallowed;
};

struct glb_control_conn {
    glb_pool_ent pe;       /* first: the pool's entry is the connection */
    glb_control *c;
    struct bufferevent *bev;
    struct evbuffer *out;
    struct event *shut;    /* TLS: waits to send close_notify */
    struct event *deadline; /* CONN_HANDSHAKE_S: until the request line is read */
    int deferred;
    int closing;           /* 1 answer queued, 2 client gone while deferred, 3 ending TLS */
    int established;       /* TLS handshake done, client certificate verified */
    char peer[GLB_ADDRSTRLEN]; /* the client's CN (TLS) or address */
};

static void conn_free(glb_control_conn *k)
{
    glb_control *c = k->c;
    glb_pool_remove(&c->pool, &k->pe);
    if (k->shut)
        event_free(k->shut);
    event_free(k->deadline);
    bufferevent_free(k->bev);
    evbuffer_free(k->out);
    free(k);
    glb_acceptor_resume(c->acc); /* a descriptor is free again */
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    glb_control_conn *k = arg;
    k->c->st.timeouts++;
    glb_log_limited(&k->c->rl_refused, glb_mono(), GLB_LOG_NOTICE, "control: closed %s: no request within %ds",
                    k->peer, CONN_HANDSHAKE_S);
    conn_free(k);
}

/* TLS: the answer is out; close_notify tells the client it is complete. The
 * socket may be full: then wait until it takes the alert (bounded). */
static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    glb_control_conn *k = arg;
    SSL *ssl = bufferevent_openssl_get_ssl(k->bev);
    if (!(what & EV_TIMEOUT)) {
        ERR_clear_error();
        int r = SSL_shutdown(ssl);
        if (r < 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_WRITE) {
            struct timeval tv = {CONN_TIMEOUT_S, 0};
            if (!k->shut)
                k->shut = event_new(bufferevent_get_base(k->bev), bufferevent_getfd(k->bev), EV_WRITE,
                                    shutdown_cb, k);
            if (k->shut && event_add(k->shut, &tv) == 0)
                return;
        }
        ERR_clear_error();
    }
    conn_free(k);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    glb_control_conn *k = arg;
    if (k->closing != 1 || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
        return;
    if (k->c->tls) {
        k->closing = 3;
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        shutdown_cb(bufferevent_getfd(bev), EV_WRITE, k);
        return;
    }
    conn_free(k);
}

static void send_answer(glb_control_conn *k, int ok)
{
    struct evbuffer *o = bufferevent_get_output(k->bev);
    if (ok)
        evbuffer_add_printf(o, "ok\n");
    else
        evbuffer_add_printf(o, "error: ");
    evbuffer_add_buffer(o, k->out);
    k->closing = 1;
    bufferevent_disable(k->bev, EV_READ);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    glb_control_conn *k = arg;
    if (k->deferred || k->closing)
        return;
    if (k->c->tls && !k->established) { /* never: the handshake comes first */
        evbuffer_add_printf(k->out, "no verified client certificate\n");
        send_answer(k, 0);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
    if (!line) {
        if (evbuffer_get_length(in) > LINE_MAX_BYTES) {
            evbuffer_add_printf(k->out, "request line too long\n");
            send_answer(k, 0);
        }
        return;
    }
    k->c->st.requests++;
    event_del(k->deadline); /* the answer's time is bounded by the command and CONN_TIMEOUT_S */
    glb_pool_establish(&k->c->pool, &k->pe);
    size_t ml = strlen(GLB_CONTROL_MAGIC);
    if (n > LINE_MAX_BYTES || strncmp(line, GLB_CONTROL_MAGIC " ", ml + 1) != 0) {
        evbuffer_add_printf(k->out, "not a '%s' request\n", GLB_CONTROL_MAGIC);
        free(line);
        send_answer(k, 0);
        return;
    }
    char *cmd = line + ml + 1;
    char *args = strchr(cmd, ' ');
    if (args)
        *args++ = '\0';
    else
        args = cmd + strlen(cmd);
    const glb_control_cmd *e = k->c->cmds;
    while (e->name && strcmp(e->name, cmd) != 0)
        e++;
    if (!e->name) {
        evbuffer_add_printf(k->out, "unknown command '%s'; commands:", cmd);
        for (e = k->c->cmds; e->name; e++)
            evbuffer_add_printf(k->out, " %s", e->name);
        evbuffer_add_printf(k->out, "\n");
        free(line);
        send_answer(k, 0);
        return;
    }
    int r = e->fn(k->c->arg, args, k->out, k);
    free(line);
    if (r == 1) {
        k->deferred = 1;
        bufferevent_set_timeouts(k->bev, NULL, NULL); /* the command bounds its own time */
    }
    else
        send_answer(k, r == 0);
}

/* Why the TLS handshake with k failed, for the log. */
static void handshake_failed(glb_control_conn *k, short what)
{
    char why[256] = "";
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(k->bev)) != 0)
        if (!why[0])
            ERR_error_string_n(e, why, sizeof(why));
    if (!why[0])
        snprintf(why, sizeof(why), "%s", (what & BEV_EVENT_TIMEOUT) ? "timed out"
                                         : (what & BEV_EVENT_EOF) ? "closed by the client"
                                                                  : "connection error");
    k->c->st.refused++;
    glb_log_limited(&k->c->rl_refused, glb_mono(), GLB_LOG_NOTICE, "control: refused %s: TLS handshake failed: %s",
                    k->peer, why);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    glb_control_conn *k = arg;
    if (what & BEV_EVENT_CONNECTED) { /* TLS: handshake done, the certificate verified */
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        char id[sizeof(k->peer)];
        if (!ssl || glb_tls_peer_id(ssl, id, sizeof(id)) != 0) {
            k->c->st.refused++;
            glb_log_limited(&k->c->rl_refused, glb_mono(), GLB_LOG_NOTICE,
                            "control: refused %s: no verified client certificate with a usable CN", k->peer);
            conn_free(k);
            return;
        }
        size_t a = 0;
        while (a < k->c->nallowed && strcmp(k->c->allowed[a], id) != 0)
            a++;
        if (k->c->nallowed && a == k->c->nallowed) {
            k->c->st.refused++;
            glb_log_limited(&k->c->rl_refused, glb_mono(), GLB_LOG_NOTICE,
                            "control: refused %s: certificate CN '%s' may not control this server", k->peer, id);
            conn_free(k);
            return;
        }
        log_debug("control: %s is %s", k->peer, id);
        snprintf(k->peer, sizeof(k->peer), "%s", id);
        k->established = 1;
        glb_pool_establish(&k->c->pool, &k->pe); /* the operator: never gives way */
        return;
    }
    if (k->c->tls && !k->established && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        handshake_failed(k, what);
        conn_free(k);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (k->deferred && !k->closing && (what & BEV_EVENT_EOF))
            return; /* the client half-closed: answer when ready */
        if (k->deferred && !k->closing) {
            /* Gone while its answer is being made: freed at glb_control_reply. */
            bufferevent_disable(k->bev, EV_READ | EV_WRITE);
            k->closing = 2;
            return;
        }
        conn_free(k);
    }
}

/* A bufferevent for a new connection: plain, or TLS in the accepting state. */
static struct bufferevent *conn_bev(glb_control *c, evutil_socket_t fd)
{
    struct event_base *base = c->base;
    if (!c->tls)
        return bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    SSL *ssl = SSL_new(c->tls);
    if (!ssl)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* A client that closes without close_notify is an end of file. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void accept_cb(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
    (void)salen;
    glb_control *c = arg;
    glb_addr from;
    int refuse = 0;
    glb_pool_ent *victim;
    c->st.conns++;
    if (glb_addr_from_sockaddr(sa, &from) != 0) {
        close(fd);
        return;
    }
    while ((victim = glb_pool_victim(&c->pool, &from, &refuse)) != NULL) {
        c->st.evicted++;
        conn_free((glb_control_conn *)victim); /* pe is its first member */
    }
    if (refuse) {
        c->st.overflows++;
        close(fd);
        return;
    }
    glb_control_conn *k = calloc(1, sizeof(*k));
    if (!k || !(k->out = evbuffer_new()) || !(k->deadline = evtimer_new(c->base, deadline_cb, k)) ||
        !(k->bev = conn_bev(c, fd))) {
        if (k && k->out)
            evbuffer_free(k->out);
        if (k && k->deadline)
            event_free(k->deadline);
        free(k);
        close(fd);
        return;
    }
    glb_addrport_str(&from, k->peer, sizeof(k->peer));
    k->c = c;
    if (glb_pool_add(&c->pool, &k->pe, &from) != 0) {
        event_free(k->deadline);
        bufferevent_free(k->bev);
        evbuffer_free(k->out);
        free(k);
        return;
    }
    struct timeval tv = {CONN_TIMEOUT_S, 0}, hs = {CONN_HANDSHAKE_S, 0};
    evtimer_add(k->deadline, &hs);
    bufferevent_set_timeouts(k->bev, &tv, &tv);
    bufferevent_setcb(k->bev, read_cb, write_cb, event_cb, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
}

/* A listening TCP socket bound to addr: the fd, or -1 with errno. */
static int listen_on(const glb_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(addr, &ss);
    int one = 1;
    int fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

glb_control *glb_control_new(struct event_base *base, const glb_addr *addr, SSL_CTX *tls,
                             const glb_control_cmd *cmds, void *arg, char *err, size_t errlen)
{
    glb_control *c = calloc(1, sizeof(*c));
    if (!c || glb_pool_init(&c->pool, MAX_CONNS, MAX_PENDING, MAX_PER_SOURCE) != 0) {
        free(c);
        snprintf(err, errlen, "control: out of memory");
        return NULL;
    }
    c->base = base;
    c->cmds = cmds;
    c->arg = arg;
    c->rl_refused = (glb_ratelog)GLB_RATELOG_INIT("control: refused connections");
    int fd = listen_on(addr);
    if (fd < 0) {
        char a[GLB_ADDRSTRLEN];
        snprintf(err, errlen, "control: %s: %s", glb_addrport_str(addr, a, sizeof(a)), strerror(errno));
        glb_pool_fini(&c->pool);
        free(c);
        return NULL;
    }
    if (!(c->acc = glb_acceptor_new(base, fd, accept_cb, c, "control"))) {
        close(fd);
        snprintf(err, errlen, "control: out of memory");
        glb_pool_fini(&c->pool);
        free(c);
        return NULL;
    }
    if (tls && SSL_CTX_up_ref(tls) == 1)
        c->tls = tls;
    else if (tls) {
        snprintf(err, errlen, "control: out of memory");
        glb_acceptor_free(c->acc);
        glb_pool_fini(&c->pool);
        free(c);
        return NULL;
    }
    return c;
}

void glb_control_free(glb_control *c)
{
    if (!c)
        return;
    glb_acceptor_free(c->acc);
    c->acc = NULL;
    while (c->pool.pend_head)
        conn_free((glb_control_conn *)c->pool.pend_head);
    while (c->pool.est_head)
        conn_free((glb_control_conn *)c->pool.est_head);
    glb_pool_fini(&c->pool);
    SSL_CTX_free(c->tls);
    free(c->allowed);
    free(c);
}

void glb_control_set_tls(glb_control *c, SSL_CTX *tls)
{
    if (!c->tls || !tls || SSL_CTX_up_ref(tls) != 1)
        return;
    SSL_CTX_free(c->tls); /* connections hold their own references */
    c->tls = tls;
}

void glb_control_stats_get(const glb_control *c, glb_control_stats *out)
{
    *out = c->st;
}

const char *glb_control_peer(const glb_control_conn *conn)
{
    return conn->peer;
}

struct evbuffer *glb_control_out(glb_control_conn *conn)
{
    return conn->out;
}

void glb_control_reply(glb_control_conn *k, int ok)
{
    if (k->closing == 2) { /* the client went away meanwhile */
        conn_free(k);
        return;
    }
    k->deferred = 0;
    send_answer(k, ok);
}

/* --- client --- */

/* A blocking connection, plain or TLS, with the timeouts set on the socket. */
typedef struct client {
    int fd;
    SSL *ssl;
    char addr[GLB_ADDRSTRLEN];
} client;

/* The first OpenSSL error, or what errno says. */
static void tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
}

/* Whether the last failure was an alert the server sent (it refused us). */
static int tls_alert_received(void)
{
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    return e && ERR_GET_LIB(e) == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET &&
           reason < SSL_AD_REASON_OFFSET + 256;
}

/* 0, 1 when the server refused our certificate, 2 otherwise (on stderr). */
static int client_tls(client *k, SSL_CTX *tls)
{
    char why[256];
    ERR_clear_error();
    errno = 0;
    k->ssl = SSL_new(tls);
    if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1) {
        fprintf(stderr, "cannot set up TLS: out of memory\n");
        return 2;
    }
    if (SSL_connect(k->ssl) == 1)
        return 0;
    long vr = SSL_get_verify_result(k->ssl);
    if (vr != X509_V_OK) {
        fprintf(stderr, "%s: the server's certificate is not trusted: %s\n", k->addr,
                X509_verify_cert_error_string(vr));
        return 2;
    }
    int refused = tls_alert_received();
    tls_reason(why, sizeof(why));
    fprintf(stderr, "%s: %s: %s\n", k->addr, refused ? "refused the connection" : "TLS handshake failed", why);
    return refused ? 1 : 2;
}

/* Reads into buf; > 0, 0 at a proper end, -1 on error (-2: the server sent
 * an alert). A TLS answer must end with close_notify. */
static ssize_t client_read(client *k, char *buf, size_t len)
{
    if (!k->ssl)
        return read(k->fd, buf, len);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(k->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r > 0)
        return r;
    int e = SSL_get_error(k->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    return tls_alert_received() ? -2 : -1;
}

static int client_write(client *k, const char *buf, size_t len)
{
    if (!k->ssl)
        return write(k->fd, buf, len) == (ssize_t)len ? 0 : -1;
    size_t done;
    return SSL_write_ex(k->ssl, buf, len, &done) == 1 && done == len ? 0 : -1;
}

static void client_close(client *k)
{
    if (k->ssl)
        SSL_free(k->ssl); /* no close_notify of ours: the server has closed */
    if (k->fd >= 0)
        close(k->fd);
}

int glb_control_request(const glb_addr *addr, SSL_CTX *tls, const char *line, void *outp, unsigned timeout)
{
    FILE *out = outp;
    client k = {-1, NULL, ""};
    glb_addrport_str(addr, k.addr, sizeof(k.addr));
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(addr, &ss);
    k.fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {timeout, 0};
    if (k.fd < 0 || setsockopt(k.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(k.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(k.fd, (struct sockaddr *)&ss, sl) != 0) {
        fprintf(stderr, "cannot reach %s: %s\n", k.addr, strerror(errno));
        client_close(&k);
        return 2;
    }
    int rc = tls ? client_tls(&k, tls) : 0;
    if (rc != 0) {
        client_close(&k);
        return rc;
    }
    char req[LINE_MAX_BYTES + 64];
    int n = snprintf(req, sizeof(req), "%s %s\n", GLB_CONTROL_MAGIC, line);
    if (n < 0 || (size_t)n >= sizeof(req) || client_write(&k, req, (size_t)n) != 0) {
        /* TLS 1.3: the server checks our certificate after our last
         * handshake message, and may have refused it and closed already:
         * its alert is still there to read. */
        char why[256], alert[64];
        int refused = tls && (tls_alert_received() || client_read(&k, alert, sizeof(alert)) == -2);
        tls_reason(why, sizeof(why));
        fprintf(stderr, refused ? "%s: refused the connection: %s\n" : "cannot send the request to %s: %s\n",
                k.addr, why);
        client_close(&k);
        return refused ? 1 : 2;
    }
    /* The whole answer, bounded, then its status line. */
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r = 0;
    while (buf && (r = client_read(&k, buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len == cap) {
            char *nb = cap < ANSWER_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                r = -1;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    char *nl = buf ? memchr(buf, '\n', len) : NULL;
    if (r == -2 && len == 0) {
        /* TLS 1.3: the server checks our certificate after our first flight */
        char why[256];
        tls_reason(why, sizeof(why));
        fprintf(stderr, "%s: refused the connection: %s\n", k.addr, why);
        client_close(&k);
        free(buf);
        return 1;
    }
    if (r < 0 || !nl) {
        char why[256] = "";
        if (r < 0 && (tls || errno))
            tls_reason(why, sizeof(why));
        fprintf(stderr, "no complete answer from %s%s%s\n", k.addr, why[0] ? ": " : "", why);
        client_close(&k);
        free(buf);
        return 2;
    }
    client_close(&k);
    int status = (nl - buf == 2 && memcmp(buf, "ok", 2) == 0) ? 0 : 1;
    if (status == 0)
        fwrite(nl + 1, 1, len - (size_t)(nl + 1 - buf), out);
    else
        fwrite(buf, 1, len, stderr); /* "error: REASON" and what follows */
    free(buf);
    return status;
}

int glb_control_join(const char *prog, int argc, char **argv, int first, char *line, size_t len)
{
    size_t l = 0;
    line[0] = '\0';
    for (int i = first; i < argc; i++) {
        if (l + strlen(argv[i]) + 2 >= len) {
            fprintf(stderr, "%s: request too long\n", prog);
            return -1;
        }
        l += (size_t)snprintf(line + l, len - l, "%s%s", i > first ? " " : "", argv[i]);
    }
    return 0;
}

int glb_control_timeout_arg(const char *prog, const char *s, unsigned *timeout)
{
    if (sscanf(s, "%u", timeout) != 1 || *timeout == 0) {
        fprintf(stderr, "%s: bad timeout '%s'\n", prog, s);
        return -1;
    }
    return 0;
}

int glb_control_set_allowed(glb_control *c, const char (*ids)[64], size_t n)
{
    char(*a)[64] = n ? malloc(n * sizeof(*a)) : NULL;
    if (n && !a)
        return -1;
    if (n)
        memcpy(a, ids, n * sizeof(*a));
    free(c->allowed);
    c->allowed = a;
    c->nallowed = n;
    return 0;
}

int glb_control_json_arg(const char *prog, char *line, size_t len)
{
    if (strcmp(line, "status") != 0 && strcmp(line, "stats") != 0) {
        fprintf(stderr, "%s: -j: only 'status' and 'stats' (without arguments) print JSON\n", prog);
        return -1;
    }
    size_t n = strlen(line);
    if (n + sizeof(" json") > len)
        return -1;
    memcpy(line + n, " json", sizeof(" json"));
    return 0;
}
