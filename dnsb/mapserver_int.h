/* Inside the DNS-B's map server: the structures shared by its session
 * layer (mapserver.c: TLS, frames, HELLO, timers) and its policy
 * (mappolicy.c: identities, authorization of claims, rankings, expiry,
 * persistence). Not for use outside these two files.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_MAPSERVER_INT_H
#define DNSB_MAPSERVER_INT_H

#include "dnsb/mapserver.h"
#include "dnsb/svcset.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/connpool.h"
#include "shared/ratelog.h"

struct bufferevent;
struct glb_acceptor;
struct event;
typedef struct ssl_ctx_st SSL_CTX;

enum { S_TLS, S_HELLO, S_EST, S_CLOSING };

#define CLOSE_WAIT 2.0     /* seconds a closing session may take to flush */
#define WARN_EVERY 60.0    /* seconds between warnings about one identity's rejected claims */
#define MAX_LISTEN 16

/* What the server remembers about an identity, connected or not. */
typedef struct ident {
    char id[64];
    uint64_t last_seq;          /* last accepted sequence, kept after withdrawal and expiry */
    uint64_t rejected[8];       /* claims rejected, by reason */
    uint64_t claims_rejected;
    double last_warn;
    dnsb_ranking *rk;           /* its rankings as reported (merged per service) */
    size_t nrk;
    struct sess *sess;          /* its established session, if any */
} ident;

typedef struct sess {
    glb_pool_ent pe;            /* first: the pool's entry is the session; pending until HELLO */
    struct sess *prev, *next;
    dnsb_mapserver *ms;
    struct bufferevent *bev;    /* NULL until the ClientHello is whole */
    struct event *hello_wait;   /* till then: its socket readable */
    int fd;                     /* till then: its socket */
    int state;
    char id[64];
    glb_addr peer;
    double t_start, t_rx, t_tx, t_closing; /* monotonic */
    double connected, last_frame;          /* wall clock, for list-lbs */
    uint64_t frames_in, frames_out;
    uint64_t caps;
    int has_serial;
    uint64_t serial;            /* SERVICES serial the peer holds */
    int services_on;            /* services flow (after the first REGISTER_ACK) */
    uint64_t ka_nonce;
    ident *who;
} sess;

struct dnsb_mapserver {
    const dnsb_conf *conf;
    dnsb_registry *reg;
    dnsb_store *store;
    struct event_base *base;
    SSL_CTX *tls;
    char id[64];
    int fds[MAX_LISTEN];
    glb_addr addrs[MAX_LISTEN];
    size_t nlisten;
    struct glb_acceptor *acc[MAX_LISTEN];
    glb_pool pool;              /* max-connections, max-handshakes, max-handshakes-per-source */
    unsigned fd_cap;            /* connections the open files limit leaves room for */
    glb_ratelog rl_handshake;   /* failed and timed-out handshakes */
    glb_ratelog rl_full;        /* connections refused: every slot established */
    struct event *tick;
    sess *sessions;
    const dnsb_allow **allow;   /* sorted by id */
    size_t nallow;
    ident **idents;             /* open hash by id */
    size_t icap, nidents;
    dnsb_svcset *svc, *svc_prev;
    double next_expiry;
    dnsb_map_stats st;
    glb_map_reader rd;          /* one for all sessions: each message is handled before the next */
    uint8_t *obuf;              /* one encoded frame */
};

/* ---- session layer (mapserver.c) ---- */

/* Queues the frame an encode call left in ms->obuf (rc, len: call it
 * before, not in the argument list, where len could be read first). */
void dnsb_ms_send_frame(sess *s, int rc, size_t len);
/* ERROR with a code and a text (logged), then the session closes. */
void dnsb_ms_send_error(sess *s, int code, uint8_t ref, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* BYE with a reason, then the session closes. */
void dnsb_ms_send_bye(sess *s, uint8_t reason, const char *text);
/* What brings the peer to the current service set (full or delta). */
void dnsb_ms_send_services(sess *s);

/* ---- policy (mappolicy.c) ---- */

/* The identity's record, created when missing; NULL when out of memory. */
ident *dnsb_ms_ident_get(dnsb_mapserver *ms, const char *id);
/* The allow entry of id, or NULL. */
const dnsb_allow *dnsb_ms_allow_of(const dnsb_mapserver *ms, const char *id);
/* 1 when id has a static lb: section in c. */
int dnsb_ms_is_static(const dnsb_conf *c, const char *id);
/* Indexes c's allow lines for dnsb_ms_allow_of. 0, or -1 (no memory). */
int dnsb_ms_allow_index(dnsb_mapserver *ms, const dnsb_conf *c);
void dnsb_ms_rankings_free(dnsb_ranking *rk, size_t n);
/* Handle a REGISTER (answered with REGISTER_ACK) and a RANKING. */
void dnsb_ms_on_register(sess *s, const glb_map_register *r);
void dnsb_ms_on_ranking(sess *s, const glb_map_ranking *m);
/* Removes the registrations that expired at now (glb_mono). */
void dnsb_ms_expire(dnsb_mapserver *ms, double now);
/* Loads ms->store into the registry in one batch. Registrations loaded,
 * or -1 when the database cannot be read. */
long dnsb_ms_load(dnsb_mapserver *ms, size_t *kept, size_t *dropped);
/* After a reload: claims the new allow lines no longer cover are removed,
 * identities made static lose their stored registration. */
void dnsb_ms_recheck(dnsb_mapserver *ms);

#endif
