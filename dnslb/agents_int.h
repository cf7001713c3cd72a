/* Private to dnslb/agents.c (sessions, protocol) and dnslb/agentrank.c
 * (agents' state, their answer tables). SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_AGENTS_INT_H
#define DNSLB_AGENTS_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "dnslb/agents.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/lpm.h"

typedef struct ssl_ctx_st SSL_CTX;
struct bufferevent;
struct glb_acceptor;

#define LBA_SPARE_SESSIONS 64 /* connections at once besides one per allowed agent: handshakes */
#define LBA_MAX_METRICS 4096  /* remembered per agent */

enum { S_TLS, S_HELLO, S_UP, S_CLOSING };

/* One site as an agent measured it. */
typedef struct metric {
    uint8_t svc[GLB_DNAME_MAX]; /* lower case; [0] == 0 and no svc: any service */
    int has_svc;
    char site[GLB_MAP_MAX_ID + 1];
    double latency_ms, loss;
    uint32_t samples;
    int state;                  /* GLB_MAP_STATE_* */
    double recv;                /* monotonic */
} metric;

typedef struct sess sess;

typedef struct agent {
    char id[64];
    glb_prefix claims[GLB_MAP_MAX_CLAIMS];
    size_t nclaims;
    double claims_until;        /* monotonic */
    metric *m;
    size_t nm;
    double newest;              /* monotonic time of its last METRICS, 0: none */
    double asked;               /* when we last asked for fresh ones */
    glb_addr addr;              /* where its last session came from */
    int has_addr;
    int fresh;                  /* had fresh metrics at the last publish */
    sess *sess;                 /* its session, NULL when none */
} agent;

struct sess {
    struct lb_agents *a;
    sess *next, **pprev;
    struct bufferevent *bev;
    int state;
    int acked;                  /* a REGISTER_ACK was sent: SERVICES and METRICS flow */
    char id[64];                /* the certificate's CN */
    agent *ag;
    glb_map_reader rd;
    double since, last_recv;
    glb_addr peer;              /* its address (port cleared) */
    int has_peer;
};

/* What answering threads read: client prefix -> agent -> its table; for a
 * client no claim holds, near (its prefixes of LBA_NEAR_V4/V6 bits and
 * longer) -> the agent whose address shares the longest prefix with it. */
#define LBA_NEAR_V4 24
#define LBA_NEAR_V6 48
typedef struct lba_snap {
    glb_lpm *lpm;
    glb_lpm *near;
    lb_table **tables;          /* per agent index; NULL: none */
    size_t n;
} lba_snap;

struct lb_agents {
    struct event_base *base;
    SSL_CTX *tls;
    int fd;                     /* until the acceptor owns it */
    struct glb_acceptor *acc;
    struct event *tick;
    struct event *publish_ev;   /* rebuilds the tables, at most every LBA_PUBLISH_DELAY */
    glb_qsbr *qsbr;
    _Atomic(void *) snap;       /* lba_snap * */
    const lb_conf *conf;
    unsigned max_age;
    char id[64];
    agent **agents;
    size_t nagents;
    sess *sessions;
    size_t nsess;
    uint64_t serial;            /* of the SERVICES sent */
    uint8_t *svc_frame;
    size_t svc_len;
    struct {
        unsigned long long sessions, refused, metrics, requests, services, tables;
    } st;
};

#define LBA_PUBLISH_DELAY 0.1 /* seconds: news from many agents makes one set of tables */

/* agents.c */
int lba_sess_alive(const lb_agents *a, const sess *s);
void lba_send_request(sess *s);      /* an empty METRICS: send fresh ones */

/* agentrank.c */
const lb_agent_allow *lba_allow(const lb_agents *a, const char *id); /* NULL: not allowed */
agent *lba_agent(lb_agents *a, const char *id);                      /* found or made; NULL: no memory */
int lba_metric_put(agent *ag, const glb_map_metric *m, double now); /* 0, or -1 when full */
void lba_publish(lb_agents *a);     /* new tables from the agents' fresh metrics, soon */
void lba_publish_now(lb_agents *a); /* the same, now (the delay's event) */
void lba_age(lb_agents *a, double now); /* claims and metrics expire; asks for fresh ones */
void lba_free_state(lb_agents *a);

#endif
