/* Deferred answers: a handler that cannot answer at once (a recursive
 * lookup) keeps what is needed to answer later and returns 0. A UDP answer
 * is sent at once by the thread that has it (sendmsg on the query's socket,
 * from the queried address); a TCP answer is queued for the connection's
 * worker, whose thread alone touches its connections.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "shared/server.h"
#include "shared/server_int.h"

struct glb_deferred {
    glb_server *srv;
    struct glb_deferred *next;  /* in the worker's queue */
    /* UDP */
    int fd;                     /* -1: TCP */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    glb_srv_ctrl ctrl;
    size_t ctrllen;
    /* TCP */
    glb_tcp_conn *conn;
    size_t len;                 /* the queued answer */
    uint8_t *pkt;
};

glb_deferred *glb_request_defer(const glb_request *req)
{
    glb_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fd = -1;
    if (req->udp_) {
        const struct msghdr *h = req->udp_hdr_;
        d->srv = req->udp_->w->srv;
        d->fd = req->udp_->fd;
        if (h->msg_namelen > sizeof d->peer) {
            free(d);
            return NULL;
        }
        memcpy(&d->peer, h->msg_name, h->msg_namelen);
        d->peerlen = h->msg_namelen;
        d->ctrllen = req->udp_->pktinfo ? glb_srv_reply_pktinfo(h, &d->ctrl) : 0;
    } else if (req->conn_) {
        d->srv = req->conn_->w->srv;
        d->conn = req->conn_;
        d->conn->pending++; /* the handler runs on the connection's thread */
    } else {
        free(d);
        return NULL;
    }
    atomic_fetch_add_explicit(&d->srv->deferred, 1, memory_order_relaxed);
    return d;
}

void glb_deferred_reply(glb_deferred *d, const uint8_t *pkt, size_t len)
{
    glb_server *s = d->srv;
    if (len > GLB_SRV_MSG_MAX)
        len = 0; /* nothing sane to send */
    if (d->fd >= 0) {
        if (len > 0) {
            struct iovec iov = {(void *)pkt, len};
            struct msghdr m = {
                .msg_name = &d->peer,
                .msg_namelen = d->peerlen,
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = d->ctrllen ? d->ctrl.buf : NULL,
                .msg_controllen = d->ctrllen,
            };
            ssize_t r;
            do
                r = sendmsg(d->fd, &m, MSG_DONTWAIT);
            while (r < 0 && errno == EINTR);
            if (r >= 0)
                atomic_fetch_add_explicit(&s->deferred_answers, 1, memory_order_relaxed);
        }
        free(d);
        return;
    }
    /* TCP: a copy of the answer travels to the connection's worker. */
    if (len > 0 && (d->pkt = malloc(len)) != NULL) {
        memcpy(d->pkt, pkt, len);
        d->len = len;
    }
    glb_worker *w = d->conn->w;
    pthread_mutex_lock(&w->defer_lock);
    if (w->defer_tail)
        w->defer_tail->next = d;
    else
        w->defer_head = d;
    w->defer_tail = d;
    pthread_mutex_unlock(&w->defer_lock);
    event_active(w->defer_ev, EV_READ, 0);
}

void glb_srv_defer_run(glb_worker *w)
{
    pthread_mutex_lock(&w->defer_lock);
    glb_deferred *d = w->defer_head;
    w->defer_head = w->defer_tail = NULL;
    pthread_mutex_unlock(&w->defer_lock);
    while (d) {
        glb_deferred *next = d->next;
        if (glb_srv_tcp_deferred(d->conn, d->pkt, d->len))
            atomic_fetch_add_explicit(&d->srv->deferred_answers, 1, memory_order_relaxed);
        free(d->pkt);
        free(d);
        d = next;
    }
}
