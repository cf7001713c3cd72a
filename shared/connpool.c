/* Connection slots: caps, per-source counts, who gives way.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/connpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct glb_pool_src {
    glb_pool_src *chain;
    int family;
    uint8_t b[16];
    unsigned n;
    glb_pool_ent *head, *tail;
};

static size_t src_hash(const glb_pool *p, const glb_addr *a)
{
    uint32_t h = 2166136261u ^ (uint32_t)a->family; /* FNV-1a over the address, not the port */
    for (size_t i = 0; i < glb_addr_bytes(a->family); i++)
        h = (h ^ a->b[i]) * 16777619u;
    return h & (p->nbuckets - 1);
}

static glb_pool_src *src_find(const glb_pool *p, const glb_addr *a)
{
    for (glb_pool_src *s = p->buckets[src_hash(p, a)]; s; s = s->chain)
        if (s->family == a->family && memcmp(s->b, a->b, glb_addr_bytes(a->family)) == 0)
            return s;
    return NULL;
}

int glb_pool_init(glb_pool *p, unsigned max, unsigned max_pending, unsigned per_source)
{
    memset(p, 0, sizeof(*p));
    /* About four sources per bucket at the cap; a power of two. */
    size_t want = (max ? max : 4096) / 4;
    p->nbuckets = 64;
    while (p->nbuckets < want && p->nbuckets < 65536)
        p->nbuckets <<= 1;
    p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
    if (!p->buckets)
        return -1;
    glb_pool_set_limits(p, max, max_pending, per_source);
    return 0;
}

void glb_pool_fini(glb_pool *p)
{
    for (size_t i = 0; p->buckets && i < p->nbuckets; i++)
        while (p->buckets[i]) {
            glb_pool_src *s = p->buckets[i];
            p->buckets[i] = s->chain;
            free(s);
        }
    free(p->buckets);
    p->buckets = NULL;
}

void glb_pool_set_limits(glb_pool *p, unsigned max, unsigned max_pending, unsigned per_source)
{
    p->max = max;
    p->max_pending = max_pending;
    p->per_source = per_source;
}

glb_pool_ent *glb_pool_victim(const glb_pool *p, const glb_addr *a, int *refuse)
{
    *refuse = 0;
    const glb_pool_src *s = p->per_source ? src_find(p, a) : NULL;
    if (s && s->n >= p->per_source)
        return s->head; /* a source crowds out only itself */
    if ((p->max_pending && p->npending >= p->max_pending) || (p->max && p->n >= p->max)) {
        if (!p->pend_head)
            *refuse = 1;
        return p->pend_head;
    }
    return NULL;
}

static void list_unlink(glb_pool_ent **head, glb_pool_ent **tail, glb_pool_ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        *head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        *tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(glb_pool_ent **head, glb_pool_ent **tail, glb_pool_ent *e)
{
    e->next = NULL;
    e->prev = *tail;
    if (*tail)
        (*tail)->next = e;
    else
        *head = e;
    *tail = e;
}

static void src_unlink(glb_pool *p, glb_pool_ent *e)
{
    glb_pool_src *s = e->src;
    if (!s)
        return;
    if (e->sprev)
        e->sprev->snext = e->snext;
    else
        s->head = e->snext;
    if (e->snext)
        e->snext->sprev = e->sprev;
    else
        s->tail = e->sprev;
    e->sprev = e->snext = NULL;
    e->src = NULL;
    if (--s->n == 0) {
        glb_addr a = {.family = s->family};
        memcpy(a.b, s->b, sizeof(a.b));
        glb_pool_src **pp = &p->buckets[src_hash(p, &a)];
        while (*pp != s)
            pp = &(*pp)->chain;
        *pp = s->chain;
        free(s);
    }
}

static void src_append(glb_pool_src *s, glb_pool_ent *e)
{
    e->src = s;
    e->snext = NULL;
    e->sprev = s->tail;
    if (s->tail)
        s->tail->snext = e;
    else
        s->head = e;
    s->tail = e;
    s->n++;
}

int glb_pool_add(glb_pool *p, glb_pool_ent *e, const glb_addr *a)
{
    glb_pool_src *s = src_find(p, a);
    if (!s) {
        if (!(s = calloc(1, sizeof(*s))))
            return -1;
        s->family = a->family;
        memcpy(s->b, a->b, glb_addr_bytes(a->family));
        size_t h = src_hash(p, a);
        s->chain = p->buckets[h];
        p->buckets[h] = s;
    }
    e->pending = 1;
    src_append(s, e);
    list_append(&p->pend_head, &p->pend_tail, e);
    p->n++;
    p->npending++;
    return 0;
}

void glb_pool_remove(glb_pool *p, glb_pool_ent *e)
{
    if (e->pending) {
        src_unlink(p, e);
        list_unlink(&p->pend_head, &p->pend_tail, e);
        p->npending--;
    } else
        list_unlink(&p->est_head, &p->est_tail, e);
    p->n--;
}

void glb_pool_touch(glb_pool *p, glb_pool_ent *e)
{
    if (!e->pending) {
        list_unlink(&p->est_head, &p->est_tail, e);
        list_append(&p->est_head, &p->est_tail, e);
        return;
    }
    glb_pool_src *s = e->src;
    list_unlink(&p->pend_head, &p->pend_tail, e);
    list_append(&p->pend_head, &p->pend_tail, e);
    if (s->tail != e) { /* newest of its source too */
        if (e->sprev)
            e->sprev->snext = e->snext;
        else
            s->head = e->snext;
        e->snext->sprev = e->sprev;
        e->sprev = s->tail;
        e->snext = NULL;
        s->tail->snext = e;
        s->tail = e;
    }
}

void glb_pool_establish(glb_pool *p, glb_pool_ent *e)
{
    if (!e->pending)
        return;
    src_unlink(p, e);
    list_unlink(&p->pend_head, &p->pend_tail, e);
    p->npending--;
    e->pending = 0;
    list_append(&p->est_head, &p->est_tail, e);
}

unsigned glb_pool_source_count(const glb_pool *p, const glb_addr *a)
{
    const glb_pool_src *s = src_find(p, a);
    return s ? s->n : 0;
}
