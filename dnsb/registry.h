/* The DNS-LB registrations of a DNS-B (DESIGN §4): who serves which
 * resolvers, as configured (static) or registered over the map protocol
 * (soft state with a lifetime). The writer side lives in the main thread;
 * queries read a published dnsb_map without ever waiting for it.
 *
 * Left-right: the registry keeps two copies of the query-side map. A change
 * is applied to the copy no query can see, that copy is published, the
 * writer waits (QSBR) until no query still reads the other copy, and applies
 * the same change to it. A change costs twice its own size, never a rebuild
 * of the million mappings. SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_REGISTRY_H
#define DNSB_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/qsbr.h"

#define DNSB_LB_MAX_ADDRS 16
#define DNSB_LB_MAX_SET 64       /* DNS-LBs answered together for one prefix */

/* A service ranking reported by a DNS-LB (direct mode): site names best
 * first. Immutable once published. */
typedef struct dnsb_ranking {
    uint8_t service[255];        /* wire name */
    size_t nsites;
    size_t share;                /* 1..nsites: the leading sites as good as the best */
    char (*sites)[64];           /* best first */
} dnsb_ranking;

/* What a registration says, as handed to dnsb_registry_put. */
typedef struct dnsb_reg {
    char id[64];                 /* certificate identity, a DNS label */
    glb_addr dns[DNSB_LB_MAX_ADDRS];
    size_t ndns;
    glb_addr proxy[DNSB_LB_MAX_ADDRS];
    size_t nproxy;
    const glb_prefix *claims;    /* authorized resolver prefixes */
    size_t nclaims;
    uint64_t sequence;
    double expires;              /* glb_mono() seconds, so that a wall-clock
                                  * jump neither expires nor prolongs it;
                                  * 0 = never (static) */
    int is_static;               /* from the configuration */
} dnsb_reg;

/* A DNS-LB as queries see it. */
typedef struct dnsb_lb {
    char id[64];
    uint8_t label[64];           /* the id as one wire label */
    glb_addr dns[DNSB_LB_MAX_ADDRS];
    uint8_t ndns;
    glb_addr proxy[DNSB_LB_MAX_ADDRS];
    uint8_t nproxy;
    const dnsb_ranking *rankings; /* shared, immutable */
    size_t nrankings;
    int used;
} dnsb_lb;

typedef struct dnsb_map dnsb_map;

/* --- query side: read-only, inside a QSBR read section --- */

/* The DNS-LBs serving a, looked up with keylen bits (ECS source length or the
 * full address). Fills slots (best first: ordered by id) and returns their
 * number, 0 when none; *scope gets the ECS scope. */
size_t dnsb_map_lookup(const dnsb_map *m, const glb_addr *a, unsigned keylen, unsigned *scope,
                       uint32_t slots[DNSB_LB_MAX_SET]);

/* The DNS-LB in slot (from lookup or find). */
const dnsb_lb *dnsb_map_lb(const dnsb_map *m, uint32_t slot);

/* The slot of the DNS-LB whose id is the wire label (len + chars), or -1. */
long dnsb_map_find(const dnsb_map *m, const uint8_t *label);

/* --- writer side: the main thread only --- */

typedef struct dnsb_registry dnsb_registry;

/* Readers use reader ids of qsbr. NULL when out of memory. */
dnsb_registry *dnsb_registry_new(glb_qsbr *qsbr);
void dnsb_registry_free(dnsb_registry *r);

/* The map queries read; load it with acquire ordering inside a read section. */
_Atomic(dnsb_map *) *dnsb_registry_slot(dnsb_registry *r);

/* Sets id's registration to reg (replacing addresses and claims; the claims
 * must already be authorized). Queries see it on return. 0, or -1 when out
 * of memory (nothing changed) or when reg->sequence is not newer than the
 * one held (-2). */
int dnsb_registry_put(dnsb_registry *r, const dnsb_reg *reg);

/* Removes id. 0, or -1 when unknown. */
int dnsb_registry_remove(dnsb_registry *r, const char *id);

/* Replaces id's rankings (direct mode); takes ownership of rk[0..n). */
int dnsb_registry_set_rankings(dnsb_registry *r, const char *id, dnsb_ranking *rk, size_t n);

/* Removes registrations whose lifetime has run out at now (glb_mono).
 * Returns how many. */
size_t dnsb_registry_expire(dnsb_registry *r, double now);

/* Groups the changes made until batch_end into one publication (bulk loads:
 * one wait for the readers, not one per registration). */
void dnsb_registry_batch_begin(dnsb_registry *r);
int dnsb_registry_batch_end(dnsb_registry *r);

/* Calls fn for every registration (order unspecified). */
void dnsb_registry_walk(const dnsb_registry *r, void (*fn)(void *arg, const dnsb_reg *reg), void *arg);

/* The registration of id, or NULL. Valid until the next change. */
const dnsb_reg *dnsb_registry_get(const dnsb_registry *r, const char *id);

/* Counts: registrations, mappings (claims held), bytes of one map copy. */
void dnsb_registry_counts(const dnsb_registry *r, size_t *regs, size_t *mappings, size_t *map_bytes);

#endif
