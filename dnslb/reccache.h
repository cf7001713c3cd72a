/* The combined box's answer cache in front of libunbound (as PowerDNS
 * Recursor's packet cache): the upstream replies by question, each kept for
 * its smallest TTL, so that a repeated question is answered by the thread
 * that received it, without the trip through libunbound's thread and the
 * event loop. A fixed number of slots (a question's slot is taken over by
 * the next question hashed there); lock-striped, any thread.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_RECCACHE_H
#define DNSLB_RECCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/dnsquery.h"

typedef struct lb_reccache lb_reccache;

#define LB_RECCACHE_SLOTS 65536

/* A cache of slots entries (rounded up to a power of two, 0: none made).
 * NULL when out of memory or slots is 0. */
lb_reccache *lb_reccache_new(size_t slots);
void lb_reccache_free(lb_reccache *c);

/* Keeps the upstream reply up to q (NOERROR or NXDOMAIN with records; the
 * reply's smallest TTL says how long, at most max_ttl) from now (monotonic
 * seconds). Any thread. */
void lb_reccache_put(lb_reccache *c, const glb_query *q, const uint8_t *up, size_t uplen, int secure, double now,
                     uint32_t max_ttl);

/* Answers the client's query pkt (parsed into q) from the cache into out,
 * its TTLs lowered by the time kept. Returns the length, 0 on a miss. Any
 * thread. */
size_t lb_reccache_answer(lb_reccache *c, const glb_query *q, const uint8_t *pkt, size_t len, int tcp, double now,
                          uint8_t *out, size_t outcap);

/* Hits and misses so far. */
void lb_reccache_counts(const lb_reccache *c, unsigned long long *hits, unsigned long long *misses);

#endif
