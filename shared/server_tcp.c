/* TCP (RFC 1035 4.2.2 framing, RFC 7766 behaviour): each worker accepts on its
 * own listening sockets; a connection is a bufferevent whose input holds at
 * most one largest message (2 + 65535 bytes). Every complete message is
 * answered in order (pipelining); while more than GLB_SRV_TCP_OUT_HIGH bytes
 * of answers wait for a slow reader, the connection is not read. A length
 * below a DNS header closes the connection, as does an idle or stuck peer
 * (tcp_idle_ms), an error, or the peer's close once all complete queries
 * have been answered and written.
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

#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/server_int.h"

#define DNS_HEADER_LEN 12
#define ACCEPT_RETRY_MS 100

static void conn_free(glb_tcp_conn *c)
{
    glb_worker *w = c->w;

    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    /* Disabling deletes the bufferevent's events from the base now; the
     * free itself may be deferred (we may be inside its callback, and the
     * memory goes through a finalizer), so the fd can be closed at once
     * without leaving it registered. */
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_free(c->bev);
    close(c->fd);
    free(c);
}

void glb_srv_tcp_close_all(glb_worker *w)
{
    while (w->conns)
        conn_free(w->conns);
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
        };
        if (s->qsbr)
            glb_qsbr_enter(s->qsbr, w->id);
        size_t rlen = s->handler(s->arg, &req);
        if (s->qsbr)
            glb_qsbr_leave(s->qsbr, w->id);
        glb_srv_stat_add(&w->stats.tcp_queries, 1);
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
    if (c->eof && evbuffer_get_length(out) == 0) {
        conn_free(c); /* everything answered and written */
        return -1;
    }
    return 0;
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

static int conn_new(glb_worker *w, const glb_addr *local, int fd, const struct sockaddr_storage *ss)
{
    glb_server *s = w->srv;
    glb_tcp_conn *c = calloc(1, sizeof *c);
    int one = 1;

    if (!c)
        return -1;
    c->local = local;
    if (glb_addr_from_sockaddr((const struct sockaddr *)ss, &c->from) < 0) {
        free(c);
        return -1;
    }
    /* Answers are written whole; do not hold the next one for an ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->w = w;
    c->fd = fd;
    c->bev = bufferevent_socket_new(w->base, fd, 0);
    if (!c->bev) {
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
    if (bufferevent_enable(c->bev, EV_READ) < 0) {
        bufferevent_free(c->bev);
        free(c);
        return -1;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    return 0;
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_tcp_listener *l = arg;
    (void)fd;
    (void)what;
    event_add(l->ev, NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    glb_tcp_listener *l = arg;
    glb_worker *w = l->w;
    (void)what;

    for (unsigned k = 0; k < GLB_SRV_ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case EPERM:
                continue; /* this connection only */
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM: {
                /* Out of descriptors or memory: the listener would stay
                 * readable and spin; pause it for a moment. */
                struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
                log_warn("server: accept: %s; pausing for %d ms", strerror(errno), ACCEPT_RETRY_MS);
                event_del(l->ev);
                evtimer_add(l->retry, &tv);
                return;
            }
            default:
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    log_debug("server: accept: %s", strerror(errno));
                return;
            }
        }
        if (w->nconns >= w->srv->tcp_max_conns) {
            close(fd);
            glb_srv_stat_add(&w->stats.tcp_refused, 1);
            continue;
        }
        if (conn_new(w, l->local, fd, &ss) < 0) {
            close(fd);
            glb_srv_stat_add(&w->stats.tcp_refused, 1);
            continue;
        }
        glb_srv_stat_add(&w->stats.tcp_conns, 1);
    }
}

int glb_srv_tcp_setup(glb_worker *w, glb_tcp_listener *l)
{
    l->ev = event_new(w->base, l->fd, EV_READ | EV_PERSIST, accept_cb, l);
    l->retry = evtimer_new(w->base, accept_retry_cb, l);
    if (!l->ev || !l->retry || event_add(l->ev, NULL) < 0)
        return -1;
    return 0;
}
