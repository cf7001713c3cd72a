/* The combined box's answer cache (reccache.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dnslb/recanswer.h"
#include "dnslb/reccache.h"

#define STRIPES 256 /* locks; slot i is guarded by lock i % STRIPES */

typedef struct entry {
    uint64_t hash;
    uint16_t qtype, qclass;
    size_t namelen;
    uint8_t name[GLB_DNAME_MAX]; /* lower case */
    double stored, expires;
    int secure;
    size_t len;
    uint8_t pkt[];               /* the upstream reply */
} entry;

struct lb_reccache {
    size_t mask;
    entry **slots;
    pthread_rwlock_t locks[STRIPES];
    _Atomic unsigned long long hits, misses;
};

lb_reccache *lb_reccache_new(size_t slots)
{
    if (slots == 0)
        return NULL;
    size_t n = 1;
    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    lb_reccache *c = calloc(1, sizeof(*c));
    if (!c || !(c->slots = calloc(n, sizeof(*c->slots)))) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    for (int i = 0; i < STRIPES; i++)
        pthread_rwlock_init(&c->locks[i], NULL);
    return c;
}

void lb_reccache_free(lb_reccache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        free(c->slots[i]);
    for (int i = 0; i < STRIPES; i++)
        pthread_rwlock_destroy(&c->locks[i]);
    free(c->slots);
    free(c);
}

/* FNV-1a over the lower-case name, type and class. */
static uint64_t key_hash(const glb_query *q)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < q->qname_len; i++)
        h = (h ^ q->qname_lc[i]) * 0x100000001b3ull;
    h = (h ^ q->qtype) * 0x100000001b3ull;
    return (h ^ q->qclass) * 0x100000001b3ull;
}

static int same_key(const entry *e, uint64_t h, const glb_query *q)
{
    return e->hash == h && e->qtype == q->qtype && e->qclass == q->qclass && e->namelen == q->qname_len &&
           memcmp(e->name, q->qname_lc, q->qname_len) == 0;
}

void lb_reccache_put(lb_reccache *c, const glb_query *q, const uint8_t *up, size_t uplen, int secure, double now,
                     uint32_t max_ttl)
{
    uint32_t ttl;
    if (!c || lb_rec_min_ttl(up, uplen, &ttl) != 0 || ttl == 0 || q->qname_len > GLB_DNAME_MAX)
        return;
    entry *e = malloc(sizeof(*e) + uplen);
    if (!e)
        return;
    e->hash = key_hash(q);
    e->qtype = q->qtype;
    e->qclass = q->qclass;
    e->namelen = q->qname_len;
    memcpy(e->name, q->qname_lc, q->qname_len);
    e->stored = now;
    e->expires = now + (ttl < max_ttl ? ttl : max_ttl);
    e->secure = secure;
    e->len = uplen;
    memcpy(e->pkt, up, uplen);
    size_t i = e->hash & c->mask;
    pthread_rwlock_t *l = &c->locks[i % STRIPES];
    pthread_rwlock_wrlock(l);
    entry *old = c->slots[i];
    c->slots[i] = e;
    pthread_rwlock_unlock(l);
    free(old);
}

size_t lb_reccache_answer(lb_reccache *c, const glb_query *q, const uint8_t *pkt, size_t len, int tcp, double now,
                          uint8_t *out, size_t outcap)
{
    if (!c)
        return 0;
    uint64_t h = key_hash(q);
    size_t i = h & c->mask, n = 0;
    pthread_rwlock_t *l = &c->locks[i % STRIPES];
    pthread_rwlock_rdlock(l);
    const entry *e = c->slots[i];
    if (e && same_key(e, h, q) && now < e->expires)
        n = lb_rec_answer(pkt, len, tcp, e->pkt, e->len, e->secure, (uint32_t)(now - e->stored), out, outcap);
    pthread_rwlock_unlock(l);
    atomic_fetch_add_explicit(n ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return n;
}

void lb_reccache_counts(const lb_reccache *c, unsigned long long *hits, unsigned long long *misses)
{
    *hits = c ? atomic_load_explicit(&c->hits, memory_order_relaxed) : 0;
    *misses = c ? atomic_load_explicit(&c->misses, memory_order_relaxed) : 0;
}
