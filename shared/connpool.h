/* The connections of one listener (or worker) and who may take a slot:
 * a cap on all of them, a cap on those still pending (not yet
 * authenticated, or for DNS over TCP: every connection), a cap on pending
 * ones per source address, and which one gives way when a cap is reached:
 * the oldest pending connection of that source, else the oldest pending one
 * of all (as NSD and Knot close their oldest idle connections). Established
 * connections never give way. Used by the DNS TCP, map and control servers;
 * one thread per pool. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CONNPOOL_H
#define GLB_CONNPOOL_H

#include <stddef.h>

#include "shared/addr.h"

typedef struct glb_pool_src glb_pool_src;

/* Embedded in each connection; the owner finds its connection from it. */
typedef struct glb_pool_ent {
    struct glb_pool_ent *prev, *next;   /* pending or established list, oldest first */
    struct glb_pool_ent *sprev, *snext; /* its source's pending list, oldest first */
    glb_pool_src *src;                  /* NULL once established */
    int pending;
} glb_pool_ent;

typedef struct glb_pool {
    unsigned max, max_pending, per_source; /* 0: no cap */
    unsigned n, npending;
    glb_pool_ent *pend_head, *pend_tail, *est_head, *est_tail;
    glb_pool_src **buckets;
    size_t nbuckets;
} glb_pool;

/* An empty pool with these caps (0: none). 0, or -1 (no memory). */
int glb_pool_init(glb_pool *p, unsigned max, unsigned max_pending, unsigned per_source);

/* Frees the pool's own memory (the entries are the owner's). */
void glb_pool_fini(glb_pool *p);

/* New caps (a reload); they apply to the next admissions. */
void glb_pool_set_limits(glb_pool *p, unsigned max, unsigned max_pending, unsigned per_source);

/* Before a connection from a is added: NULL with *refuse = 0 when it fits;
 * a connection that must be closed first (then ask again) with *refuse = 0;
 * NULL with *refuse = 1 when it must be refused (every slot established). */
glb_pool_ent *glb_pool_victim(const glb_pool *p, const glb_addr *a, int *refuse);

/* Adds e, pending, as the newest connection from a. 0, or -1 (no memory). */
int glb_pool_add(glb_pool *p, glb_pool_ent *e, const glb_addr *a);

/* Removes e (closed). */
void glb_pool_remove(glb_pool *p, glb_pool_ent *e);

/* e did useful work: it becomes the newest of its list (the last to go). */
void glb_pool_touch(glb_pool *p, glb_pool_ent *e);

/* e authenticated: no longer pending, never chosen to give way. */
void glb_pool_establish(glb_pool *p, glb_pool_ent *e);

/* Pending connections from a (for tests and stats). */
unsigned glb_pool_source_count(const glb_pool *p, const glb_addr *a);

#endif
