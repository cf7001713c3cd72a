/* The DNS-B side of the map protocol (proto/PROTOCOL.md): DNS-LBs connect
 * over TLS 1.3 with a client certificate, register the resolvers and client
 * prefixes they serve, receive the services, and report rankings.
 *
 * Everything runs in the daemon's main event loop (libevent): the listeners,
 * one bufferevent_openssl per session, a tick every DNSB_MAP_TICK_MS for
 * timeouts, keepalives, expiry and rankings. Accepted registrations go to
 * the registry (queries see them without waiting for the writer) and to the
 * store (LMDB, batched commits).
 *
 * Policy:
 * - identity = the client certificate's subject CN (a valid id); it needs a
 *   "map: allow ID PREFIX..." line, else the session is refused at HELLO
 *   (ERROR unauthorized).
 * - an identity that has a static "lb:" section in the configuration is
 *   refused at HELLO as well (ERROR unauthorized): the configuration owns
 *   that id; its static registration is never replaced over the network.
 *   A reload that adds an lb: section for a connected identity closes its
 *   session and drops its stored registration.
 * - each claim must lie inside one of the identity's allow prefixes
 *   (not-allowed), be new in its REGISTER (duplicate), and fit the quota
 *   map: max-claims (too-many); rejected claims are listed in REGISTER_ACK,
 *   logged (rate-limited) and counted per identity and reason.
 * - a REGISTER without any usable dns-addr (none, unspecified, multicast)
 *   is refused as a whole (every claim bad-address, lifetime 0).
 * - granted lifetime = min(asked, map: lifetime); lifetime 0 withdraws.
 * - a sequence not above the identity's last accepted one (kept across
 *   withdrawals, expiries and restarts) changes nothing (stale).
 * - a reload that narrows an identity's allow list removes its claims that
 *   fall outside (the registration is rebuilt with its rankings); removing
 *   its allow line removes the registration and closes the session.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_MAPSERVER_H
#define DNSB_MAPSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "dnsb/conf.h"
#include "dnsb/registry.h"
#include "dnsb/store.h"
#include "shared/addr.h"

typedef struct ssl_ctx_st SSL_CTX;

struct event_base;

#define DNSB_MAP_TICK_MS 250            /* timeouts, keepalives, expiry, rankings */
#define DNSB_MAP_OUTPUT_MAX (64u << 20) /* bytes queued to a slow peer before it is dropped */

typedef struct dnsb_mapserver dnsb_mapserver;

/* Counters (since start). */
typedef struct dnsb_map_stats {
    uint64_t connections;        /* TCP connections accepted */
    uint64_t sessions;           /* open now (handshaking included) */
    uint64_t established;        /* sessions that completed HELLO */
    uint64_t handshake_failures; /* TLS handshake failed (no/bad certificate, not TLS 1.3, ...) */
    uint64_t unauthorized;       /* bad CN, no allow entry, static id, node-id != CN */
    uint64_t malformed;          /* malformed, bad-version, unsupported, unexpected messages */
    uint64_t limit_connections;  /* refused: max-connections reached, every session established */
    uint64_t limit_evicted;      /* closed before HELLO to make room (max-connections, max-handshakes*) */
    uint64_t limit_handshake;    /* closed: TLS + HELLO not done within handshake-timeout */
    uint64_t limit_idle;         /* closed: no frame for idle-timeout */
    uint64_t limit_frame;        /* closed: frame over GLB_MAP_MAX_FRAME or a codec count limit */
    uint64_t limit_claims;       /* claims rejected over max-claims (too-many) */
    uint64_t limit_output;       /* closed: peer not reading what we send */
    uint64_t registrations;      /* REGISTERs that created a registration */
    uint64_t refreshes;          /* REGISTERs that replaced one */
    uint64_t withdrawals;        /* lifetime 0 */
    uint64_t stale;              /* REGISTERs refused for their sequence */
    uint64_t refused;            /* REGISTERs refused as a whole (bad-address) */
    uint64_t claims_accepted;
    uint64_t claims_rejected;
    uint64_t rejected[8];        /* by reason (GLB_MAP_REJ_*, 0 = other) */
    uint64_t expirations;        /* registrations removed by expiry */
    uint64_t rankings;           /* RANKING messages accepted */
    uint64_t services_sent;      /* SERVICES frames sent */
    uint64_t frames_in, frames_out;
    uint64_t services_serial;    /* current service-set serial */
} dnsb_map_stats;

/* One session, as listed by dnsb-control (list-lbs). */
typedef struct dnsb_map_session_info {
    char id[64];                 /* "" while the TLS handshake runs */
    glb_addr peer;               /* with its port */
    const char *state;           /* "tls", "hello", "established", "closing" */
    double connected;            /* wall clock, seconds */
    double last_frame;           /* wall clock of the last frame received, 0 = none */
    uint64_t frames_in, frames_out;
    uint64_t serial;             /* SERVICES serial the peer holds from us, 0 = none */
    int registered;              /* the identity has a registration now */
    uint64_t claims_rejected;    /* by this identity, since start */
} dnsb_map_session_info;

/* Creates the TLS context (our certificate's CN becomes our node id) and
 * binds every map: listen address. Nothing is served yet; usable before
 * fork(). conf must outlive the server or be replaced by reload. NULL with
 * err. */
dnsb_mapserver *dnsb_mapserver_new(const dnsb_conf *conf, dnsb_registry *reg, char *err, size_t errlen);

/* Loads the persisted registrations (when store is not NULL) into the
 * registry in one batch, then starts listening and ticking on base. After
 * this the registry holds what was registered before the restart, so call
 * it before queries are answered. 0, or -1 with err. */
int dnsb_mapserver_start(dnsb_mapserver *ms, struct event_base *base, dnsb_store *store, char *err, size_t errlen);

/* The TLS context of conf's map: section, its certificate's CN (a valid
 * node id) in id. NULL with err when a file cannot be loaded. */
SSL_CTX *dnsb_mapserver_tls(const dnsb_conf *conf, char id[64], char *err, size_t errlen);

/* A new configuration (after dnsb_table_static_lbs ran on it): new policy,
 * limits, TLS context tls with node id (from dnsb_mapserver_tls, owned from
 * now on; NULL keeps the current one), and the services: when they
 * changed, a new serial and a delta (or a full set to peers without the
 * delta capability) to every session. Call it while the previous conf is
 * still alive; conf must then outlive the server or the next reload. */
void dnsb_mapserver_reload(dnsb_mapserver *ms, const dnsb_conf *conf, SSL_CTX *tls, const char *id);

/* Stops accepting, sends BYE shutdown to every session, and gives them up
 * to timeout_ms to flush (runs base meanwhile). Then the sessions are
 * closed. Registrations are kept (soft state). */
void dnsb_mapserver_stop(dnsb_mapserver *ms, unsigned timeout_ms);

/* Stops if needed and frees everything. NULL is fine. */
void dnsb_mapserver_free(dnsb_mapserver *ms);

/* The connections the open files limit leaves room for (glb_fd_budget):
 * max-connections is lowered to it, now and after reloads. */
void dnsb_mapserver_fd_cap(dnsb_mapserver *ms, unsigned cap);

/* For dnsb-control. */
void dnsb_mapserver_stats(const dnsb_mapserver *ms, dnsb_map_stats *out);
void dnsb_mapserver_sessions(const dnsb_mapserver *ms, void (*fn)(void *arg, const dnsb_map_session_info *s),
                             void *arg);
/* Our node id (the CN of our certificate), and the listening addresses with
 * their actual ports (port 0 in the configuration = chosen by the system). */
const char *dnsb_mapserver_id(const dnsb_mapserver *ms);
size_t dnsb_mapserver_listen_addrs(const dnsb_mapserver *ms, glb_addr *out, size_t max);

/* Runs the periodic work now (expiry at the given glb_mono time, pending
 * rankings, timeouts): for tests; now = 0 takes the clock. */
void dnsb_mapserver_tick(dnsb_mapserver *ms, double now);

#endif
