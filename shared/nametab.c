/* Open-addressing hash of names. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/nametab.h"

#include "shared/dname.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint32_t hash;
    uint32_t value;
    uint32_t off;   /* key offset in pool; UINT32_MAX when empty */
    uint16_t len;
} slot;

struct glb_nametab {
    slot *slots;
    size_t mask;    /* capacity - 1, capacity a power of two */
    size_t count;
    uint8_t *pool;  /* lower-case keys back to back */
    size_t pool_len, pool_cap;
};

/* FNV-1a over the lower-cased bytes. */
static uint32_t hash_key(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ glb_lc[k[i]]) * 16777619u;
    return h;
}

static int key_equal(const uint8_t *stored, const uint8_t *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (stored[i] != glb_lc[k[i]])
            return 0;
    return 1;
}

glb_nametab *glb_nametab_new(void)
{
    glb_nametab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->mask = 15;
    t->slots = malloc((t->mask + 1) * sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i <= t->mask; i++)
        t->slots[i].off = UINT32_MAX;
    return t;
}

void glb_nametab_free(glb_nametab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->pool);
    free(t);
}

static int grow(glb_nametab *t)
{
    size_t cap = (t->mask + 1) * 2;
    slot *ns = malloc(cap * sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < cap; i++)
        ns[i].off = UINT32_MAX;
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].off == UINT32_MAX)
            continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (ns[j].off != UINT32_MAX)
            j = (j + 1) & (cap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->mask = cap - 1;
    return 0;
}

int glb_nametab_get(const glb_nametab *t, const uint8_t *key, size_t keylen, uint32_t *value)
{
    uint32_t h = hash_key(key, keylen);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const slot *s = &t->slots[i];
        if (s->off == UINT32_MAX)
            return 0;
        if (s->hash == h && s->len == keylen && key_equal(t->pool + s->off, key, keylen)) {
            *value = s->value;
            return 1;
        }
    }
}

int glb_nametab_add(glb_nametab *t, const uint8_t *key, size_t keylen, uint32_t value)
{
    uint32_t old;
    if (keylen > UINT16_MAX)
        return -1;
    if (glb_nametab_get(t, key, keylen, &old))
        return 1;
    /* Keep the load at most 1/2 so probes stay short. */
    if ((t->count + 1) * 2 > t->mask + 1 && grow(t) != 0)
        return -1;
    if (t->pool_len + keylen > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap * 2 : 1024;
        while (cap < t->pool_len + keylen)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -1;
        uint8_t *np = realloc(t->pool, cap);
        if (!np)
            return -1;
        t->pool = np;
        t->pool_cap = cap;
    }
    for (size_t i = 0; i < keylen; i++)
        t->pool[t->pool_len + i] = glb_lc[key[i]];
    uint32_t h = hash_key(key, keylen);
    size_t i = h & t->mask;
    while (t->slots[i].off != UINT32_MAX)
        i = (i + 1) & t->mask;
    t->slots[i] = (slot){h, value, (uint32_t)t->pool_len, (uint16_t)keylen};
    t->pool_len += keylen;
    t->count++;
    return 0;
}

size_t glb_nametab_count(const glb_nametab *t)
{
    return t->count;
}
