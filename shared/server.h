/* The DNS serving engine shared by dnsb and dnslb: listeners on UDP and TCP
 * (v4/v6), per worker its own SO_REUSEPORT sockets, one thread per UDP socket
 * blocked in batched recvmmsg/sendmmsg and one event-loop thread for TCP with
 * pipelining and idle timeouts.
 * The daemon supplies one handler that turns a query into a response.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_SERVER_H
#define GLB_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shared/addr.h"

struct evbuffer;
#include "shared/qsbr.h"

/* One query to answer. */
typedef struct glb_request {
    const uint8_t *pkt;
    size_t len;
    const glb_addr *from;     /* source address and port */
    const glb_addr *local;    /* the listen address (cfg->listen[i]) it came in on */
    int tcp;                  /* 1 over TCP */
    unsigned worker;          /* calling thread, 0..glb_server_threads()-1: QSBR reader id, stats slot */
    uint8_t *out;             /* response buffer */
    size_t outcap;            /* its size: 65535 */
    /* Private to the server: where glb_request_defer finds the way back. */
    struct glb_udp_sock *udp_;
    const struct msghdr *udp_hdr_;
    struct glb_tcp_conn *conn_;
} glb_request;

/* A query whose answer comes later (recursion): made by glb_request_defer
 * inside the handler, which then returns 0; answered once, from any thread,
 * by glb_deferred_reply. */
typedef struct glb_deferred glb_deferred;

/* Returns the response length written into req->out, or 0 to send nothing. */
typedef size_t (*glb_dns_handler)(void *arg, const glb_request *req);

typedef struct glb_server_cfg {
    const glb_addr *listen;   /* addresses with ports */
    size_t nlisten;
    unsigned workers;         /* >= 1 */
    unsigned tcp_idle_ms;     /* idle TCP connections closed after this; default 10000 */
    unsigned tcp_max_conns;   /* per worker; default 512 (full: the oldest idle one goes) */
    unsigned tcp_msg_ms;      /* a message must be whole this long after its first byte; default 3000 */
    unsigned tcp_per_source;  /* connections per source address and worker; default 64 */
    glb_qsbr *qsbr;           /* if set, each batch runs inside enter/leave */
    glb_dns_handler handler;
    void *arg;
    /* Response rate limiting of UDP answers (shared/rrl.h); TCP is never
     * limited. rrl_rate 0: off. */
    unsigned rrl_rate;        /* responses per second and source prefix */
    unsigned rrl_slip;        /* every Nth limited response goes out truncated (TC); 0: none */
    unsigned rrl_v4_prefix;   /* source prefix length for IPv4 (0: 24) */
    unsigned rrl_v6_prefix;   /* and IPv6 (0: 56) */
} glb_server_cfg;

/* Counters, summed over workers by glb_server_stats(). */
typedef struct glb_server_stats {
    unsigned long long udp_queries, udp_answers, tcp_queries, tcp_answers;
    unsigned long long tcp_conns, tcp_refused, tcp_timeouts, send_errors, tcp_evicted;
    unsigned long long rrl_limited, rrl_slipped; /* UDP answers over the rate; of them sent truncated */
    unsigned long long deferred, deferred_answers; /* queries answered later (recursion); answers sent */
} glb_server_stats;

typedef struct glb_server glb_server;

/* Threads that call the handler: per worker one for TCP and one per listen
 * address for UDP (blocked in recvmmsg, no event loop in between). A QSBR
 * domain in cfg needs this many readers. */
unsigned glb_server_threads(const glb_server_cfg *cfg);

/* Creates the sockets for every listen address and worker (binding needs the
 * privileges still held). Returns NULL with a message in err on failure. */
glb_server *glb_server_new(const glb_server_cfg *cfg, char *err, size_t errlen);

/* Starts the worker threads. Returns 0, or -1. */
int glb_server_start(glb_server *s);

/* Stops the workers (they finish the batch at hand) and joins them. */
void glb_server_stop(glb_server *s);

/* Closes every socket and frees s (stops it first if needed). */
void glb_server_free(glb_server *s);

/* Takes over answering req after the handler returns (it returns 0): the
 * client's address, the socket or TCP connection it came on. NULL when out
 * of memory (then answer now, e.g. SERVFAIL). */
glb_deferred *glb_request_defer(const glb_request *req);

/* Sends pkt[0..len) to the deferred query's client (len 0: nothing, the
 * query is given up) and frees d. Any thread. A TCP connection closed in
 * the meantime gets nothing. Every deferred query must be replied to before
 * glb_server_free. */
void glb_deferred_reply(glb_deferred *d, const uint8_t *pkt, size_t len);

/* Adds up the workers' counters (each written by its worker only). */
void glb_server_stats_get(const glb_server *s, glb_server_stats *out);

/* The counters as "net.NAME=VALUE" lines, for the control tools' stats. */
void glb_server_stats_print(const glb_server *s, struct evbuffer *out);

/* A socket of type (SOCK_DGRAM/SOCK_STREAM) bound to a, non-blocking;
 * *pktinfo says whether replies must carry the queried address. -1 with err.
 * The servers' own, and the map server's listening sockets. */
int glb_srv_open_bound(const glb_addr *a, int type, int *pktinfo, char *err, size_t errlen);

#endif
