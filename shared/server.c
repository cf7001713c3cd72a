/* The DNS serving engine: sockets, worker threads and their event loops.
 * The UDP path lives in server_udp.c, the TCP path in server_tcp.c.
 *
 * Every worker owns one UDP and one TCP listening socket per listen address,
 * all bound with SO_REUSEPORT so the kernel spreads clients over the workers,
 * and runs its own libevent base in its own thread: no state is shared
 * between workers except the handler's own (which it protects, e.g. with
 * QSBR).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "shared/acceptor.h"
#include "shared/log.h"
#include "shared/server.h"
#include "shared/server_int.h"

#define GLB_SRV_MAX_WORKERS 1024

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_ok;

static void evthread_init(void)
{
    evthread_ok = evthread_use_pthreads() == 0;
}

static int addr_is_wildcard(const glb_addr *a)
{
    size_t n = glb_addr_bytes(a->family);
    for (size_t i = 0; i < n; i++)
        if (a->b[i])
            return 0;
    return 1;
}

static void set_sockbuf(int fd, int opt_force, int opt)
{
    int v = GLB_SRV_SOCKBUF;
    /* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
    if (setsockopt(fd, SOL_SOCKET, opt_force, &v, sizeof v) == 0)
        return;
    (void)setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);
}

/* A non-blocking socket of type for a, with the options every listener
 * needs, bound. Returns the fd, or -1 with err filled. */
int glb_srv_open_bound(const glb_addr *a, int type, int *pktinfo, char *err, size_t errlen)
{
    char as[GLB_ADDRSTRLEN];
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(a, &ss);
    int one = 1;
    int fd = socket(a->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    *pktinfo = 0;
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", glb_addrport_str(a, as, sizeof as), strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        (a->family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)) {
        snprintf(err, errlen, "%s: setsockopt: %s", glb_addrport_str(a, as, sizeof as), strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_DGRAM) {
        set_sockbuf(fd, SO_RCVBUFFORCE, SO_RCVBUF);
        set_sockbuf(fd, SO_SNDBUFFORCE, SO_SNDBUF);
        /* No DF bit and no path-MTU state: large answers fragment rather
         * than vanish, and forged ICMP cannot shrink our packets. */
        if (a->family == AF_INET) {
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_OMIT)
            int v = IP_PMTUDISC_OMIT;
            (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
#endif
        } else {
#if defined(IPV6_MTU_DISCOVER) && defined(IPV6_PMTUDISC_OMIT)
            int v = IPV6_PMTUDISC_OMIT;
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v);
#endif
        }
        /* On a wildcard address, learn which address each query was sent
         * to so the answer leaves from it. */
        if (addr_is_wildcard(a)) {
            int r = a->family == AF_INET
                ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
            if (r < 0) {
                snprintf(err, errlen, "%s: setsockopt pktinfo: %s",
                         glb_addrport_str(a, as, sizeof as), strerror(errno));
                close(fd);
                return -1;
            }
            *pktinfo = 1;
        }
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "%s: %s", glb_addrport_str(a, as, sizeof as), strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0) {
        snprintf(err, errlen, "%s: listen: %s", glb_addrport_str(a, as, sizeof as), strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_worker *w = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(w->base);
}

static void worker_free(glb_worker *w, size_t nlisten)
{
    if (!w)
        return;
    glb_srv_tcp_close_all(w);
    if (w->defer_ev) {
        glb_srv_defer_run(w); /* answers that came after the stop */
        event_free(w->defer_ev);
        pthread_mutex_destroy(&w->defer_lock);
    }
    if (w->udp)
        for (size_t i = 0; i < nlisten; i++)
            glb_srv_udp_free(w->udp[i]);
    if (w->tcp) {
        for (size_t i = 0; i < nlisten; i++) {
            glb_acceptor_free(w->tcp[i].acc);
            if (w->tcp[i].fd >= 0)
                close(w->tcp[i].fd);
        }
    }
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->base)
        event_base_free(w->base); /* runs the finalizers of freed bufferevents */
    glb_pool_fini(&w->pool);
    free(w->udp);
    free(w->tcp);
    free(w->tcp_in);
    free(w->tcp_out);
    free(w);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    glb_srv_defer_run(arg);
}

static glb_worker *worker_new(glb_server *s, unsigned id, char *err, size_t errlen)
{
    glb_worker *w = aligned_alloc(GLB_SRV_CACHELINE,
                                  (sizeof *w + GLB_SRV_CACHELINE - 1) / GLB_SRV_CACHELINE * GLB_SRV_CACHELINE);
    if (!w)
        goto nomem;
    memset(w, 0, sizeof *w);
    w->srv = s;
    w->id = id;
    w->udp = calloc(s->nlisten, sizeof *w->udp);
    if (!w->udp)
        goto nomem;
    w->tcp = calloc(s->nlisten, sizeof *w->tcp);
    if (!w->tcp)
        goto nomem;
    for (size_t i = 0; i < s->nlisten; i++)
        w->tcp[i].fd = -1;
    w->tcp_in = malloc(GLB_SRV_MSG_MAX);
    w->tcp_out = malloc(2 + GLB_SRV_MSG_MAX);
    if (!w->tcp_in || !w->tcp_out)
        goto nomem;
    /* No client is authenticated: every connection may give way. */
    if (glb_pool_init(&w->pool, s->tcp_max_conns, s->tcp_max_conns, s->tcp_per_source) != 0)
        goto nomem;
    w->base = event_base_new();
    if (!w->base) {
        snprintf(err, errlen, "worker %u: cannot create an event base", id);
        worker_free(w, s->nlisten);
        return NULL;
    }
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    if (!w->stop_ev)
        goto nomem;
    if (pthread_mutex_init(&w->defer_lock, NULL) != 0)
        goto nomem;
    w->defer_ev = event_new(w->base, -1, 0, defer_cb, w);
    if (!w->defer_ev) {
        pthread_mutex_destroy(&w->defer_lock);
        goto nomem;
    }
    return w;
nomem:
    snprintf(err, errlen, "worker %u: out of memory", id);
    worker_free(w, s->nlisten);
    return NULL;
}

unsigned glb_server_threads(const glb_server_cfg *cfg)
{
    return cfg->workers * (1 + (unsigned)cfg->nlisten);
}

glb_server *glb_server_new(const glb_server_cfg *cfg, char *err, size_t errlen)
{
    char as[GLB_ADDRSTRLEN];
    glb_server *s;

    if (!cfg || !cfg->handler || !cfg->listen || cfg->nlisten == 0) {
        snprintf(err, errlen, "server: no handler or no listen address");
        return NULL;
    }
    if (cfg->workers < 1 || cfg->workers > GLB_SRV_MAX_WORKERS) {
        snprintf(err, errlen, "server: workers must be 1..%d", GLB_SRV_MAX_WORKERS);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const glb_addr *a = &cfg->listen[i];
        if (a->family != AF_INET && a->family != AF_INET6) {
            snprintf(err, errlen, "server: listen address %zu: unknown family", i);
            return NULL;
        }
        if (a->port == 0) {
            snprintf(err, errlen, "%s: port 0 is not supported", glb_addrport_str(a, as, sizeof as));
            return NULL;
        }
    }
    pthread_once(&evthread_once, evthread_init);
    if (!evthread_ok) {
        snprintf(err, errlen, "server: libevent thread support unavailable");
        return NULL;
    }

    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->nlisten = cfg->nlisten;
    s->nworkers = cfg->workers;
    s->tcp_idle_ms = cfg->tcp_idle_ms ? cfg->tcp_idle_ms : 10000;
    s->tcp_max_conns = cfg->tcp_max_conns ? cfg->tcp_max_conns : 512;
    s->tcp_msg_ms = cfg->tcp_msg_ms ? cfg->tcp_msg_ms : 3000;
    s->tcp_per_source = cfg->tcp_per_source ? cfg->tcp_per_source : 64;
    s->qsbr = cfg->qsbr;
    if (cfg->rrl_rate) {
        glb_rrl_cfg rc = {.rate = cfg->rrl_rate, .slip = cfg->rrl_slip, .v4_prefix = cfg->rrl_v4_prefix,
                          .v6_prefix = cfg->rrl_v6_prefix};
        int e;
        if (!(s->rrl = glb_rrl_new(&rc, &e)))
            goto nomem;
    }
    s->handler = cfg->handler;
    s->arg = cfg->arg;
    s->state = GLB_SRV_NEW;
    s->owner = getpid();
    atomic_init(&s->stopping, 0);
    s->listen = calloc(cfg->nlisten, sizeof *s->listen);
    s->workers = calloc(cfg->workers, sizeof *s->workers);
    if (!s->listen || !s->workers)
        goto nomem;
    memcpy(s->listen, cfg->listen, cfg->nlisten * sizeof *s->listen);

    for (unsigned k = 0; k < s->nworkers; k++) {
        s->workers[k] = worker_new(s, k, err, errlen);
        if (!s->workers[k])
            goto fail;
    }
    for (size_t i = 0; i < s->nlisten; i++) {
        const glb_addr *a = &s->listen[i];
        for (unsigned k = 0; k < s->nworkers; k++) {
            glb_worker *w = s->workers[k];
            int pi;
            /* Thread ids: workers' event loops first, then the UDP threads. */
            w->udp[i] = glb_srv_udp_new(w, a, s->nworkers + k * (unsigned)s->nlisten + (unsigned)i, err, errlen);
            if (!w->udp[i])
                goto fail;
            w->tcp[i].w = w;
            w->tcp[i].local = a;
            w->tcp[i].fd = glb_srv_open_bound(a, SOCK_STREAM, &pi, err, errlen);
            if (w->tcp[i].fd < 0)
                goto fail;
            if (glb_srv_tcp_setup(w, &w->tcp[i]) < 0) {
                snprintf(err, errlen, "%s: cannot create events", glb_addrport_str(a, as, sizeof as));
                goto fail;
            }
        }
    }
    return s;
nomem:
    snprintf(err, errlen, "server: out of memory");
fail:
    if (s) {
        s->state = GLB_SRV_STOPPED;
        glb_server_free(s);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    glb_worker *w = arg;
    char name[16];

    snprintf(name, sizeof name, "glb-w%u", w->id);
    (void)pthread_setname_np(pthread_self(), name);
    if (!atomic_load(&w->srv->stopping))
        event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Stopped: no more serving, so drop the TCP clients now. */
    glb_srv_tcp_close_all(w);
    return NULL;
}

int glb_server_start(glb_server *s)
{
    sigset_t all, old;
    int rc = 0;

    if (!s || s->state != GLB_SRV_NEW)
        return -1;
    /* Created before a fork (bind, daemonize, start): the epoll instances
     * are shared with the parent; give this process its own. */
    if (getpid() != s->owner) {
        for (unsigned k = 0; k < s->nworkers; k++) {
            if (event_reinit(s->workers[k]->base) < 0) {
                log_err("server: worker %u: cannot reinitialise its event base after fork", k);
                return -1;
            }
        }
        s->owner = getpid();
    }
    /* Workers take no signals: the daemon's main thread handles them, and
     * a SIGPIPE from writing to a closed TCP peer stays blocked (the write
     * fails with EPIPE instead). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned k = 0; k < s->nworkers; k++) {
        glb_worker *w = s->workers[k];
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e != 0) {
            log_err("server: cannot start worker %u: %s", k, strerror(e));
            rc = -1;
            break;
        }
        w->started = 1;
        for (size_t i = 0; i < s->nlisten && rc == 0; i++) {
            e = glb_srv_udp_start(w->udp[i]);
            if (e != 0) {
                log_err("server: cannot start a UDP thread of worker %u: %s", k, strerror(e));
                rc = -1;
            }
        }
        if (rc < 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    s->state = GLB_SRV_RUNNING;
    if (rc < 0)
        glb_server_stop(s);
    return rc;
}

void glb_server_stop(glb_server *s)
{
    if (!s || s->state != GLB_SRV_RUNNING)
        return;
    atomic_store(&s->stopping, 1);
    /* event_active works from any thread (evthread_use_pthreads) and, unlike
     * a loopbreak, is not lost when the loop has not started yet. */
    for (unsigned k = 0; k < s->nworkers; k++)
        if (s->workers[k]->started)
            event_active(s->workers[k]->stop_ev, EV_READ, 0);
    for (unsigned k = 0; k < s->nworkers; k++) {
        glb_worker *w = s->workers[k];
        if (w->started) {
            pthread_join(w->thread, NULL);
            w->started = 0;
        }
        for (size_t i = 0; i < s->nlisten; i++)
            glb_srv_udp_join(w->udp[i]);
    }
    s->state = GLB_SRV_STOPPED;
}

void glb_server_free(glb_server *s)
{
    if (!s)
        return;
    glb_server_stop(s);
    if (s->workers)
        for (unsigned k = 0; k < s->nworkers; k++)
            worker_free(s->workers[k], s->nlisten);
    free(s->workers);
    free(s->listen);
    glb_rrl_free(s->rrl);
    free(s);
}

void glb_server_stats_get(const glb_server *s, glb_server_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    for (unsigned t = 0; t < s->nworkers * (1 + s->nlisten); t++) {
        /* Each thread's own counters: a worker's, or one of its UDP sockets'. */
        unsigned k = t < s->nworkers ? t : (t - s->nworkers) / (unsigned)s->nlisten;
        const glb_srv_stats *st = t < s->nworkers ? &s->workers[k]->stats
                                                  : &s->workers[k]->udp[(t - s->nworkers) % s->nlisten]->stats;
#define GLB_SRV_SUM(f) out->f += atomic_load_explicit(&st->f, memory_order_relaxed)
        GLB_SRV_SUM(udp_queries);
        GLB_SRV_SUM(udp_answers);
        GLB_SRV_SUM(tcp_queries);
        GLB_SRV_SUM(tcp_answers);
        GLB_SRV_SUM(tcp_conns);
        GLB_SRV_SUM(tcp_refused);
        GLB_SRV_SUM(tcp_timeouts);
        GLB_SRV_SUM(send_errors);
        GLB_SRV_SUM(tcp_evicted);
        GLB_SRV_SUM(rrl_limited);
        GLB_SRV_SUM(rrl_slipped);
#undef GLB_SRV_SUM
    }
    out->deferred = atomic_load_explicit(&((glb_server *)s)->deferred, memory_order_relaxed);
    out->deferred_answers = atomic_load_explicit(&((glb_server *)s)->deferred_answers, memory_order_relaxed);
}

void glb_server_stats_print(const glb_server *s, struct evbuffer *out)
{
    glb_server_stats ss;
    glb_server_stats_get(s, &ss);
    evbuffer_add_printf(out,
                        "net.udp_queries=%llu\nnet.udp_answers=%llu\nnet.tcp_queries=%llu\nnet.tcp_answers=%llu\n"
                        "net.tcp_conns=%llu\nnet.tcp_refused=%llu\nnet.tcp_timeouts=%llu\nnet.send_errors=%llu\n"
                        "net.tcp_evicted=%llu\nrrl.limited=%llu\nrrl.slipped=%llu\n"
                        "net.deferred=%llu\nnet.deferred_answers=%llu\n",
                        ss.udp_queries, ss.udp_answers, ss.tcp_queries, ss.tcp_answers, ss.tcp_conns,
                        ss.tcp_refused, ss.tcp_timeouts, ss.send_errors, ss.tcp_evicted, ss.rrl_limited,
                        ss.rrl_slipped, ss.deferred, ss.deferred_answers);
}
