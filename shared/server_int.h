/* Private to shared/server.c, server_udp.c and server_tcp.c: the structures
 * of a running server and the calls between the three files.
 *
 * Threading: every field of a glb_worker (its event base, sockets, buffers,
 * TCP connections) is touched only by that worker's thread while it runs;
 * the owning thread touches them before start and after the join. The
 * counters are the exception: written by the worker with relaxed atomic
 * stores, read by anyone with relaxed loads.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_SERVER_INT_H
#define GLB_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "shared/connpool.h"
#include "shared/rrl.h"
#include "shared/server.h"

struct event;
struct event_base;
struct bufferevent;

#define GLB_SRV_MSG_MAX      65535u /* largest DNS message (and outcap) */
#define GLB_SRV_UDP_BATCH    32     /* datagrams per recvmmsg/sendmmsg */
#define GLB_SRV_UDP_WAKE_MS  200    /* a UDP thread checks for stop this often when idle */
#define GLB_SRV_TCP_OUT_HIGH 65536u /* stop reading a connection while this much output is queued */
#define GLB_SRV_SOCKBUF      (4 * 1024 * 1024) /* wanted SO_RCVBUF/SO_SNDBUF (best effort) */
#define GLB_SRV_CACHELINE    64
#define GLB_SRV_CTRL_LEN     64     /* ancillary data room: one in6_pktinfo cmsg */

/* One worker's counters, alone on their cache line(s). */
typedef struct glb_srv_stats {
    _Alignas(GLB_SRV_CACHELINE) _Atomic unsigned long long udp_queries;
    _Atomic unsigned long long udp_answers, tcp_queries, tcp_answers;
    _Atomic unsigned long long tcp_conns, tcp_refused, tcp_timeouts, send_errors, tcp_evicted;
    _Atomic unsigned long long rrl_limited, rrl_slipped;
} glb_srv_stats;

/* Single-writer increment: a relaxed load and store, no locked instruction. */
static inline void glb_srv_stat_add(_Atomic unsigned long long *c, unsigned long long n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

typedef struct glb_worker glb_worker;

/* One UDP socket of one worker. */
typedef union glb_srv_ctrl {
    struct cmsghdr align;
    unsigned char buf[GLB_SRV_CTRL_LEN];
} glb_srv_ctrl;

/* One UDP socket and the thread that serves it. */
typedef struct glb_udp_sock {
    glb_srv_stats stats;      /* first: its own cache line, written by this thread only */
    glb_worker *w;
    int fd;
    int family;
    int pktinfo;              /* 1: wildcard bind, replies carry the queried address */
    unsigned id;              /* thread index (QSBR reader id) */
    const glb_addr *local;    /* its listen address, as configured */
    pthread_t thread;
    int started;
    unsigned rrl_slipctr;     /* this thread's limited responses, for the slip */

    /* Batch state, preallocated: slot i receives into in + i*MSG_MAX and its
     * answer is built in out + i*MSG_MAX. */
    unsigned char *udp_in, *udp_out;
    struct mmsghdr in_msg[GLB_SRV_UDP_BATCH], out_msg[GLB_SRV_UDP_BATCH];
    struct iovec in_iov[GLB_SRV_UDP_BATCH], out_iov[GLB_SRV_UDP_BATCH];
    struct sockaddr_storage peer[GLB_SRV_UDP_BATCH];
    glb_srv_ctrl in_ctrl[GLB_SRV_UDP_BATCH], out_ctrl[GLB_SRV_UDP_BATCH];
    glb_addr from[GLB_SRV_UDP_BATCH];
} glb_udp_sock;

/* One TCP listening socket of one worker. */
typedef struct glb_tcp_listener {
    glb_worker *w;
    int fd;                   /* until the acceptor owns it */
    struct glb_acceptor *acc;
    const glb_addr *local;    /* its listen address, as configured */
} glb_tcp_listener;

/* One accepted TCP connection (intrusive doubly linked list per worker). */
typedef struct glb_tcp_conn {
    glb_pool_ent pe;          /* first: the pool's entry is the connection */
    glb_worker *w;
    struct bufferevent *bev;
    struct event *deadline;   /* a message must be whole by then (from its first byte) */
    int fd;
    int eof;                  /* the peer closed its side */
    int paused;               /* reading stopped: too much output queued */
    glb_addr from;
    const glb_addr *local;    /* the listener's address */
    unsigned pending;         /* deferred queries not yet replied to */
    int closed;               /* closed, kept allocated until pending is 0 */
} glb_tcp_conn;

struct glb_worker {
    glb_srv_stats stats;      /* first, so it starts on its own cache line */

    glb_server *srv;
    unsigned id;
    pthread_t thread;
    int started;              /* thread created and not yet joined */

    struct event_base *base;
    struct event *stop_ev;    /* activated by glb_server_stop from another thread */

    glb_udp_sock **udp;       /* srv->nlisten of them, each cache-line aligned */
    glb_tcp_listener *tcp;    /* srv->nlisten of them */

    /* TCP: one message in, one answer out (2 length bytes + MSG_MAX). */
    unsigned char *tcp_in, *tcp_out;
    glb_pool pool;            /* the connections; whose slot goes when full */

    /* Deferred answers for this worker's TCP connections, queued by any
     * thread (glb_deferred_reply), sent by this one when defer_ev fires. */
    struct event *defer_ev;
    pthread_mutex_t defer_lock;
    struct glb_deferred *defer_head, *defer_tail;
};

struct glb_server {
    glb_addr *listen;         /* copy of cfg->listen */
    size_t nlisten;
    unsigned nworkers;
    unsigned tcp_idle_ms, tcp_max_conns, tcp_msg_ms, tcp_per_source;
    glb_qsbr *qsbr;
    glb_dns_handler handler;
    void *arg;
    glb_rrl *rrl;             /* response rate limiting of UDP answers; NULL: off */
    int state;                /* GLB_SRV_NEW, _RUNNING, _STOPPED */
    pid_t owner;              /* process that created the event bases */
    atomic_int stopping;
    _Atomic unsigned long long deferred, deferred_answers; /* any thread: fetch_add */
    glb_worker **workers;     /* nworkers, each cache-line aligned */
};

enum { GLB_SRV_NEW = 0, GLB_SRV_RUNNING, GLB_SRV_STOPPED };

/* server_udp.c (glb_srv_open_bound: server.h) */

/* A UDP socket for worker w, bound to a, served by thread number id.
 * Returns NULL with err set. */
glb_udp_sock *glb_srv_udp_new(glb_worker *w, const glb_addr *a, unsigned id, char *err, size_t errlen);
void glb_srv_udp_free(glb_udp_sock *u);
int glb_srv_udp_start(glb_udp_sock *u);                  /* 0, or an errno */
void glb_srv_udp_join(glb_udp_sock *u);

/* Fills an answer's ancillary data from its query's in: the answer leaves
 * from the address the query was sent to. Returns the control length, 0 if
 * the query carried no pktinfo. */
size_t glb_srv_reply_pktinfo(const struct msghdr *in, glb_srv_ctrl *out);

/* server_defer.c: sends the TCP answers queued for w (its thread, or after
 * the join). */
void glb_srv_defer_run(glb_worker *w);

/* server_tcp.c */
int glb_srv_tcp_setup(glb_worker *w, glb_tcp_listener *l); /* 0 or -1 (ENOMEM) */
void glb_srv_tcp_close_all(glb_worker *w);
/* A deferred answer for c arrives (len 0: none): written if c is still
 * open (then returns 1); c is freed when it was closed and this was its
 * last one. */
int glb_srv_tcp_deferred(glb_tcp_conn *c, const uint8_t *pkt, size_t len);

#endif
