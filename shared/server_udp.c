/* UDP: one thread per socket, blocked in recvmmsg (MSG_WAITFORONE: the first
 * datagram is waited for, the rest of a batch of up to GLB_SRV_UDP_BATCH is
 * taken as it is), the handler for each inside one QSBR section per batch,
 * one sendmmsg for the answers. No event loop in between: a wakeup costs two
 * system calls. Buffers are per socket and allocated once; nothing is
 * allocated per packet.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/dnsresp.h"
#include "shared/log.h"
#include "shared/qsbr.h"
#include "shared/server.h"
#include "shared/server_int.h"

#define DNS_HEADER_LEN 12

size_t glb_srv_reply_pktinfo(const struct msghdr *in, glb_srv_ctrl *out)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(in); c; c = CMSG_NXTHDR((struct msghdr *)in, c)) {
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
static void send_batch(glb_udp_sock *u, int fd, unsigned n)
{
    unsigned off = 0, sent = 0, errors = 0;

    while (off < n) {
        int r = sendmmsg(fd, &u->out_msg[off], n - off, MSG_DONTWAIT);
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
        glb_srv_stat_add(&u->stats.udp_answers, sent);
    if (errors)
        glb_srv_stat_add(&u->stats.send_errors, errors);
}

/* Receives one batch (waiting for its first datagram), answers it. */
static void udp_batch(glb_udp_sock *u)
{
    glb_server *s = u->w->srv;
    int fd = u->fd;
    for (unsigned i = 0; i < GLB_SRV_UDP_BATCH; i++) {
        struct msghdr *h = &u->in_msg[i].msg_hdr;
        h->msg_namelen = sizeof u->peer[i];
        h->msg_control = u->pktinfo ? u->in_ctrl[i].buf : NULL;
        h->msg_controllen = u->pktinfo ? sizeof u->in_ctrl[i].buf : 0;
        h->msg_flags = 0;
        u->in_msg[i].msg_len = 0;
    }
    int n = recvmmsg(fd, u->in_msg, GLB_SRV_UDP_BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) {
        if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            log_debug("server: recvmmsg: %s", strerror(errno));
        return; /* the receive timeout: time to look at the stop flag */
    }
    unsigned nout = 0, nq = 0, limited = 0, slipped = 0;
    uint64_t now = s->rrl ? glb_rrl_now() : 0;
    if (s->qsbr)
        glb_qsbr_enter(s->qsbr, u->id);
    for (unsigned i = 0; i < (unsigned)n; i++) {
        struct msghdr *h = &u->in_msg[i].msg_hdr;
        size_t len = u->in_msg[i].msg_len;
        if (len < DNS_HEADER_LEN || (h->msg_flags & MSG_TRUNC) ||
            glb_addr_from_sockaddr((struct sockaddr *)&u->peer[i], &u->from[i]) < 0)
            continue;
        unsigned char *out = u->udp_out + (size_t)i * GLB_SRV_MSG_MAX;
        glb_request req = {
            .pkt = u->in_iov[i].iov_base,
            .len = len,
            .from = &u->from[i],
            .local = u->local,
            .tcp = 0,
            .worker = u->id,
            .out = out,
            .outcap = GLB_SRV_MSG_MAX,
            .udp_ = u,
            .udp_hdr_ = h,
        };
        nq++;
        size_t rlen = s->handler(s->arg, &req);
        if (rlen == 0)
            continue;
        if (rlen > GLB_SRV_MSG_MAX) { /* handler bug: nothing sane to send */
            glb_srv_stat_add(&u->stats.send_errors, 1);
            continue;
        }
        if (s->rrl) {
            enum glb_rrl_verdict v = glb_rrl_check(s->rrl, &u->from[i], now, &u->rrl_slipctr);
            if (v != GLB_RRL_PASS) {
                limited++;
                if (v == GLB_RRL_DROP || (rlen = glb_resp_slip(out, rlen)) == 0)
                    continue;
                slipped++;
            }
        }
        struct msghdr *o = &u->out_msg[nout].msg_hdr;
        u->out_iov[nout].iov_base = out;
        u->out_iov[nout].iov_len = rlen;
        o->msg_name = &u->peer[i];
        o->msg_namelen = h->msg_namelen;
        o->msg_iov = &u->out_iov[nout];
        o->msg_iovlen = 1;
        o->msg_flags = 0;
        size_t cl = u->pktinfo ? glb_srv_reply_pktinfo(h, &u->out_ctrl[nout]) : 0;
        o->msg_control = cl ? u->out_ctrl[nout].buf : NULL;
        o->msg_controllen = cl;
        nout++;
    }
    if (s->qsbr)
        glb_qsbr_leave(s->qsbr, u->id);
    if (nq)
        glb_srv_stat_add(&u->stats.udp_queries, nq);
    if (limited)
        glb_srv_stat_add(&u->stats.rrl_limited, limited);
    if (slipped)
        glb_srv_stat_add(&u->stats.rrl_slipped, slipped);
    if (nout)
        send_batch(u, fd, nout);
}

static void *udp_main(void *arg)
{
    glb_udp_sock *u = arg;
    char name[16];
    snprintf(name, sizeof name, "glb-u%u", u->id);
    (void)pthread_setname_np(pthread_self(), name);
    while (!atomic_load_explicit(&u->w->srv->stopping, memory_order_relaxed))
        udp_batch(u);
    return NULL;
}

glb_udp_sock *glb_srv_udp_new(glb_worker *w, const glb_addr *a, unsigned id, char *err, size_t errlen)
{
    size_t size = (sizeof(glb_udp_sock) + GLB_SRV_CACHELINE - 1) / GLB_SRV_CACHELINE * GLB_SRV_CACHELINE;
    glb_udp_sock *u = aligned_alloc(GLB_SRV_CACHELINE, size);
    if (!u) {
        snprintf(err, errlen, "server: out of memory");
        return NULL;
    }
    memset(u, 0, sizeof *u);
    u->w = w;
    u->id = id;
    u->local = a;
    u->family = a->family;
    /* Only the pages datagrams touch get committed. */
    u->udp_in = malloc((size_t)GLB_SRV_UDP_BATCH * GLB_SRV_MSG_MAX);
    u->udp_out = malloc((size_t)GLB_SRV_UDP_BATCH * GLB_SRV_MSG_MAX);
    u->fd = -1;
    if (!u->udp_in || !u->udp_out) {
        snprintf(err, errlen, "server: out of memory");
        glb_srv_udp_free(u);
        return NULL;
    }
    u->fd = glb_srv_open_bound(a, SOCK_DGRAM, &u->pktinfo, err, errlen);
    if (u->fd < 0) {
        glb_srv_udp_free(u);
        return NULL;
    }
    /* Blocking, with a timeout so that the thread sees a stop request. */
    struct timeval tv = {0, GLB_SRV_UDP_WAKE_MS * 1000};
    int fl = fcntl(u->fd, F_GETFL);
    if (fl < 0 || fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        snprintf(err, errlen, "server: UDP socket options: %s", strerror(errno));
        glb_srv_udp_free(u);
        return NULL;
    }
    for (unsigned i = 0; i < GLB_SRV_UDP_BATCH; i++) {
        u->in_iov[i].iov_base = u->udp_in + (size_t)i * GLB_SRV_MSG_MAX;
        u->in_iov[i].iov_len = GLB_SRV_MSG_MAX;
        u->in_msg[i].msg_hdr.msg_iov = &u->in_iov[i];
        u->in_msg[i].msg_hdr.msg_iovlen = 1;
        u->in_msg[i].msg_hdr.msg_name = &u->peer[i];
    }
    return u;
}

void glb_srv_udp_free(glb_udp_sock *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    free(u->udp_in);
    free(u->udp_out);
    free(u);
}

int glb_srv_udp_start(glb_udp_sock *u)
{
    int e = pthread_create(&u->thread, NULL, udp_main, u);
    if (e == 0)
        u->started = 1;
    return e;
}

void glb_srv_udp_join(glb_udp_sock *u)
{
    if (u && u->started) {
        pthread_join(u->thread, NULL);
        u->started = 0;
    }
}
