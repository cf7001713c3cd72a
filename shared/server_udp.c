/* UDP: on readiness, up to GLB_SRV_UDP_ROUNDS rounds of one recvmmsg of up to
 * GLB_SRV_UDP_BATCH datagrams, the handler for each (inside one QSBR section
 * per batch), one sendmmsg for the answers. Buffers are per worker and
 * allocated once; nothing is allocated per packet.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/server_int.h"

#define DNS_HEADER_LEN 12

void glb_srv_udp_prepare(glb_worker *w)
{
    for (unsigned i = 0; i < GLB_SRV_UDP_BATCH; i++) {
        w->in_iov[i].iov_base = w->udp_in + (size_t)i * GLB_SRV_MSG_MAX;
        w->in_iov[i].iov_len = GLB_SRV_MSG_MAX;
        w->in_msg[i].msg_hdr.msg_iov = &w->in_iov[i];
        w->in_msg[i].msg_hdr.msg_iovlen = 1;
        w->in_msg[i].msg_hdr.msg_name = &w->peer[i];
    }
}

/* Fills the answer's ancillary data from the query's: the answer leaves from
 * the address the query was sent to. Returns the control length, 0 if the
 * query carried no pktinfo. */
static size_t reply_pktinfo(struct msghdr *in, glb_srv_ctrl *out)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c; c = CMSG_NXTHDR(in, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            /* Source = the queried address; let routing pick the interface. */
            pi.ipi_spec_dst = pi.ipi_addr;
            pi.ipi_ifindex = 0;
            memset(out, 0, sizeof *out);
            struct cmsghdr *o = &out->align;
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof pi);
            memcpy(CMSG_DATA(o), &pi, sizeof pi);
            return CMSG_SPACE(sizeof pi);
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            /* A link-local source needs its interface; others go by routing. */
            if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
                pi.ipi6_ifindex = 0;
            memset(out, 0, sizeof *out);
            struct cmsghdr *o = &out->align;
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof pi);
            memcpy(CMSG_DATA(o), &pi, sizeof pi);
            return CMSG_SPACE(sizeof pi);
        }
    }
    return 0;
}

/* Sends out_msg[0..n-1]; a message the kernel refuses is counted and skipped. */
static void send_batch(glb_worker *w, int fd, unsigned n)
{
    unsigned off = 0, sent = 0, errors = 0;

    while (off < n) {
        int r = sendmmsg(fd, &w->out_msg[off], n - off, MSG_DONTWAIT);
        if (r > 0) {
            off += (unsigned)r;
            sent += (unsigned)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else {
            /* EAGAIN (send buffer full), EPERM (filter), EMSGSIZE, ...:
             * UDP answers are dropped, never waited for. */
            errors++;
            off++;
        }
    }
    if (sent)
        glb_srv_stat_add(&w->stats.udp_answers, sent);
    if (errors)
        glb_srv_stat_add(&w->stats.send_errors, errors);
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    glb_udp_sock *u = arg;
    glb_worker *w = u->w;
    glb_server *s = w->srv;
    (void)what;

    for (unsigned round = 0; round < GLB_SRV_UDP_ROUNDS; round++) {
        for (unsigned i = 0; i < GLB_SRV_UDP_BATCH; i++) {
            struct msghdr *h = &w->in_msg[i].msg_hdr;
            h->msg_namelen = sizeof w->peer[i];
            h->msg_control = u->pktinfo ? w->in_ctrl[i].buf : NULL;
            h->msg_controllen = u->pktinfo ? sizeof w->in_ctrl[i].buf : 0;
            h->msg_flags = 0;
            w->in_msg[i].msg_len = 0;
        }
        int n = recvmmsg(fd, w->in_msg, GLB_SRV_UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_debug("server: recvmmsg: %s", strerror(errno));
            return;
        }
        if (n == 0)
            return;

        unsigned nout = 0, nq = 0;
        if (s->qsbr)
            glb_qsbr_enter(s->qsbr, w->id);
        for (unsigned i = 0; i < (unsigned)n; i++) {
            struct msghdr *h = &w->in_msg[i].msg_hdr;
            size_t len = w->in_msg[i].msg_len;
            if (len < DNS_HEADER_LEN || (h->msg_flags & MSG_TRUNC) ||
                glb_addr_from_sockaddr((struct sockaddr *)&w->peer[i], &w->from[i]) < 0)
                continue;
            unsigned char *out = w->udp_out + (size_t)i * GLB_SRV_MSG_MAX;
            glb_request req = {
                .pkt = w->in_iov[i].iov_base,
                .len = len,
                .from = &w->from[i],
                .tcp = 0,
                .worker = w->id,
                .out = out,
                .outcap = GLB_SRV_MSG_MAX,
            };
            nq++;
            size_t rlen = s->handler(s->arg, &req);
            if (rlen == 0)
                continue;
            if (rlen > GLB_SRV_MSG_MAX) { /* handler bug: nothing sane to send */
                glb_srv_stat_add(&w->stats.send_errors, 1);
                continue;
            }
            struct msghdr *o = &w->out_msg[nout].msg_hdr;
            w->out_iov[nout].iov_base = out;
            w->out_iov[nout].iov_len = rlen;
            o->msg_name = &w->peer[i];
            o->msg_namelen = h->msg_namelen;
            o->msg_iov = &w->out_iov[nout];
            o->msg_iovlen = 1;
            o->msg_flags = 0;
            size_t cl = u->pktinfo ? reply_pktinfo(h, &w->out_ctrl[nout]) : 0;
            o->msg_control = cl ? w->out_ctrl[nout].buf : NULL;
            o->msg_controllen = cl;
            nout++;
        }
        if (s->qsbr)
            glb_qsbr_leave(s->qsbr, w->id);
        if (nq)
            glb_srv_stat_add(&w->stats.udp_queries, nq);
        if (nout)
            send_batch(w, fd, nout);
        if (n < GLB_SRV_UDP_BATCH)
            return; /* drained */
    }
    /* Fairness bound reached: the level-triggered event calls us again. */
}

int glb_srv_udp_setup(glb_worker *w, glb_udp_sock *u)
{
    u->ev = event_new(w->base, u->fd, EV_READ | EV_PERSIST, udp_read_cb, u);
    if (!u->ev || event_add(u->ev, NULL) < 0)
        return -1;
    return 0;
}
