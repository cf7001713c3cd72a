/* TCP (RFC 1035 4.2.2 framing, RFC 7766 behaviour): each worker accepts on its
 * own listening sockets; a connection is a bufferevent whose input holds at
 * most one largest message (2 + 65535 bytes). Every complete message is
 * answered in order (pipelining); while more than GLB_SRV_TCP_OUT_HIGH bytes
 * of answers wait for a slow reader, the connection is not read. A length
 * below a DNS header closes the connection, as does an idle or stuck peer
 * (tcp_idle_ms), a message not whole tcp_msg_ms after its first byte (a
 * slow drip), an error, or the peer's close once all complete queries have
 * been answered and written. The worker's pool (connpool.h) caps
 * connections per worker and per source address; when a cap is reached
 * the oldest idle connection (of that source, else of all) gives way.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "shared/acceptor.h"
#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/server_int.h"

#define DNS_HEADER_LEN 12

/* Closes c; its memory stays while deferred queries of it are pending
 * (their answers find it closed and are dropped). */
static void conn_free(glb_tcp_conn *c)
{
    glb_worker *w = c->w;

    if (c->closed) {
        if (c->pending == 0)
            free(c);
        return;
    }

    glb_pool_remove(&w->pool, &c->pe);
    event_free(c->deadline);
    /* Disabling deletes the bufferevent's events from the base now; the
     * free itself may be deferred (we may be inside its callback, and the
     * memory goes through a finalizer), so the fd can be closed at once
     * without leaving it registered. */
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_free(c->bev);
    close(c->fd);
    c->closed = 1;
    if (c->pending == 0)
        free(c);
    /* A descriptor is free again: accepting may go on. */
    for (size_t i = 0; i < w->srv->nlisten; i++)
        glb_acceptor_resume(w->tcp[i].acc);
}

void glb_srv_tcp_close_all(glb_worker *w)
{
    while (w->pool.pend_head)
        conn_free((glb_tcp_conn *)w->pool.pend_head);
    while (w->pool.est_head)
        conn_free((glb_tcp_conn *)w->pool.est_head);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_tcp_conn *c = arg;
    (void)fd, (void)what;
    glb_srv_stat_add(&c->w->stats.tcp_timeouts, 1);
    conn_free(c);
}

/* Answers every complete message in the input while the output has room;
 * closes the connection when it is done. Returns 0, or -1 when c was freed. */
static int conn_run(glb_tcp_conn *c)
{
    glb_worker *w = c->w;
    glb_server *s = w->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int complete = 0; /* a complete message is still waiting */

    for (;;) {
        size_t avail = evbuffer_get_length(in);
        unsigned char lb[2];
        if (avail < 2)
            break;
        evbuffer_copyout(in, lb, 2);
        size_t mlen = (size_t)lb[0] << 8 | lb[1];
        if (mlen < DNS_HEADER_LEN) {
            conn_free(c); /* malformed framing: drop the connection */
            return -1;
        }
        if (avail < 2 + mlen)
            break;
        if (evbuffer_get_length(out) >= GLB_SRV_TCP_OUT_HIGH) {
            complete = 1;
            break;
        }
        evbuffer_drain(in, 2);
        evbuffer_remove(in, w->tcp_in, mlen);

        glb_request req = {
            .pkt = w->tcp_in,
            .len = mlen,
            .from = &c->from,
            .local = c->local,
            .tcp = 1,
            .worker = w->id,
            .out = w->tcp_out + 2,
            .outcap = GLB_SRV_MSG_MAX,
            .conn_ = c,
        };
        if (s->qsbr)
            glb_qsbr_enter(s->qsbr, w->id);
        size_t rlen = s->handler(s->arg, &req);
        if (s->qsbr)
            glb_qsbr_leave(s->qsbr, w->id);
        glb_srv_stat_add(&w->stats.tcp_queries, 1);
        glb_pool_touch(&w->pool, &c->pe); /* busy: the last to give way */
        if (rlen == 0)
            continue;
        if (rlen > GLB_SRV_MSG_MAX) { /* handler bug: nothing sane to send */
            glb_srv_stat_add(&w->stats.send_errors, 1);
            continue;
        }
        w->tcp_out[0] = (unsigned char)(rlen >> 8);
        w->tcp_out[1] = (unsigned char)rlen;
        if (evbuffer_add(out, w->tcp_out, 2 + rlen) < 0) {
            glb_srv_stat_add(&w->stats.send_errors, 1);
            conn_free(c);
            return -1;
        }
        glb_srv_stat_add(&w->stats.tcp_answers, 1);
    }

    /* The deadline runs from a message's first byte to its last; bytes
     * dripping in do not extend it (they do reset the idle timeout). */
    if (complete || evbuffer_get_length(in) == 0)
        evtimer_del(c->deadline);
    else if (!evtimer_pending(c->deadline, NULL)) {
        struct timeval tv = {s->tcp_msg_ms / 1000, (suseconds_t)(s->tcp_msg_ms % 1000) * 1000};
        evtimer_add(c->deadline, &tv);
    }
    if (complete) {
        if (!c->paused) {
            c->paused = 1;
            bufferevent_disable(c->bev, EV_READ);
        }
        return 0;
    }
    if (c->paused) {
        c->paused = 0;
        if (!c->eof)
            bufferevent_enable(c->bev, EV_READ);
    }
    if (c->eof && evbuffer_get_length(out) == 0 && c->pending == 0) {
        conn_free(c); /* everything answered and written */
        return -1;
    }
    return 0;
}

int glb_srv_tcp_deferred(glb_tcp_conn *c, const uint8_t *pkt, size_t len)
{
    glb_worker *w = c->w;
    c->pending--;
    if (c->closed) {
        if (c->pending == 0)
            free(c);
        return 0;
    }
    if (len > 0) {
        /* Out of order with the other answers, as RFC 7766 6.2.1.1 allows. */
        unsigned char lb[2] = {(unsigned char)(len >> 8), (unsigned char)len};
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (evbuffer_add(out, lb, 2) < 0 || evbuffer_add(out, pkt, len) < 0) {
            glb_srv_stat_add(&w->stats.send_errors, 1);
            conn_free(c);
            return 0;
        }
        glb_srv_stat_add(&w->stats.tcp_answers, 1);
    }
    conn_run(c); /* the last answer of a closing peer: close now */
    return len > 0;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_run(arg);
}

/* Called when the output has drained completely. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    glb_tcp_conn *c = arg;
    (void)bev;
    if (c->paused || c->eof)
        conn_run(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    glb_tcp_conn *c = arg;
    (void)bev;

    if (what & BEV_EVENT_TIMEOUT) {
        glb_srv_stat_add(&c->w->stats.tcp_timeouts, 1);
        conn_free(c);
    } else if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)) {
        /* The peer is done sending: answer what is complete, then close.
         * An incomplete trailing message is ignored. */
        c->eof = 1;
        bufferevent_disable(c->bev, EV_READ);
        conn_run(c);
    } else {
        if (what & BEV_EVENT_WRITING)
            glb_srv_stat_add(&c->w->stats.send_errors, 1);
        conn_free(c);
    }
}

static int conn_new(glb_worker *w, const glb_addr *local, int fd, const glb_addr *from)
{
    glb_server *s = w->srv;
    glb_tcp_conn *c = calloc(1, sizeof *c);
    int one = 1;

    if (!c)
        return -1;
    c->local = local;
    c->from = *from;
    /* Answers are written whole; do not hold the next one for an ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->w = w;
    c->fd = fd;
    c->bev = bufferevent_socket_new(w->base, fd, 0);
    c->deadline = evtimer_new(w->base, deadline_cb, c);
    if (!c->bev || !c->deadline) {
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->deadline)
            event_free(c->deadline);
        free(c);
        return -1;
    }
    struct timeval tv = {
        .tv_sec = s->tcp_idle_ms / 1000,
        .tv_usec = (suseconds_t)(s->tcp_idle_ms % 1000) * 1000,
    };
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    /* Input never holds more than one largest message: what is complete
     * is consumed at once, and a partial message is at most 2 + 65535. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, 2 + GLB_SRV_MSG_MAX);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    if (bufferevent_enable(c->bev, EV_READ) < 0 || glb_pool_add(&w->pool, &c->pe, &c->from) < 0) {
        bufferevent_free(c->bev);
        event_free(c->deadline);
        free(c);
        return -1;
    }
    return 0;
}

static void accept_cb(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
    glb_tcp_listener *l = arg;
    glb_worker *w = l->w;
    glb_addr from;
    int refuse = 0;
    glb_pool_ent *victim;
    (void)salen;

    if (glb_addr_from_sockaddr(sa, &from) < 0) {
        close(fd);
        glb_srv_stat_add(&w->stats.tcp_refused, 1);
        return;
    }
    while ((victim = glb_pool_victim(&w->pool, &from, &refuse)) != NULL) {
        conn_free((glb_tcp_conn *)victim); /* pe is its first member */
        glb_srv_stat_add(&w->stats.tcp_evicted, 1);
    }
    if (refuse || conn_new(w, l->local, fd, &from) < 0) {
        close(fd);
        glb_srv_stat_add(&w->stats.tcp_refused, 1);
        return;
    }
    glb_srv_stat_add(&w->stats.tcp_conns, 1);
}

int glb_srv_tcp_setup(glb_worker *w, glb_tcp_listener *l)
{
    l->acc = glb_acceptor_new(w->base, l->fd, accept_cb, l, "server: tcp");
    if (!l->acc)
        return -1;
    l->fd = -1; /* the acceptor owns it */
    return 0;
}
