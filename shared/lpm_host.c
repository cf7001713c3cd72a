/* The host-prefix hash of shared/lpm.c (see there, "Host prefixes"), and
 * the writes of leaf contents, which keep it in step.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/lpm_int.h"

#include <stdlib.h>

/* ---- the host-prefix hash ---- */

static inline uint32_t host_hash(int fam, const uint32_t k[4], uint32_t mask)
{
    uint64_t h = (uint64_t)k[0] * 0x9E3779B97F4A7C15ull;
    if (fam)
        h = (h ^ (uint64_t)k[1]) * 0xC2B2AE3D27D4EB4Full ^ ((uint64_t)k[2] << 32 | k[3]) * 0x165667B19E3779F9ull;
    return (uint32_t)(h >> 32) & mask;
}

static inline int host_is(const glb_lpm *t, int fam, uint32_t li, const uint32_t k[4])
{
    if (fam)
        return memcmp(LEAF6(t, li).key, k, 16) == 0;
    return LEAF4(t, li).key == k[0];
}

/* The leaf holding the host prefix k, or HOST_NONE. */
uint32_t lpm_host_find(const glb_lpm *t, int fam, const uint32_t k[4])
{
    const lpm_host *h = &t->host[fam];
    uint32_t mask = h->cap - 1;
    for (uint32_t i = host_hash(fam, k, mask);; i = (i + 1) & mask) {
        uint32_t v = h->slot[i];
        if (v == 0)
            return HOST_NONE;
        if (host_is(t, fam, v - 1, k))
            return v - 1;
    }
}

/* Only with room (lpm_host_reserve); k is not in the hash yet. */
static void host_put(glb_lpm *t, int fam, const uint32_t k[4], uint32_t li)
{
    lpm_host *h = &t->host[fam];
    uint32_t mask = h->cap - 1, i = host_hash(fam, k, mask);
    while (h->slot[i] != 0)
        i = (i + 1) & mask;
    h->slot[i] = li + 1;
    h->n++;
}

static void host_del(glb_lpm *t, int fam, const uint32_t k[4])
{
    lpm_host *h = &t->host[fam];
    if (!h->n)
        return;
    uint32_t mask = h->cap - 1, i = host_hash(fam, k, mask);
    for (; h->slot[i] != 0; i = (i + 1) & mask)
        if (host_is(t, fam, h->slot[i] - 1, k))
            break;
    if (h->slot[i] == 0)
        return;
    /* Backward shift: move up each later entry of the run whose home slot
     * is not cyclically in (i, j], so that every probe still finds it. */
    for (uint32_t j = (i + 1) & mask; h->slot[j] != 0; j = (j + 1) & mask) {
        uint32_t jk[4];
        leaf_key(t, fam, h->slot[j] - 1, jk);
        uint32_t home = host_hash(fam, jk, mask);
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            h->slot[i] = h->slot[j];
            i = j;
        }
    }
    h->slot[i] = 0;
    h->n--;
}

/* Makes room for one more host prefix of fam: 0, or -1 when out of memory. */
int lpm_host_reserve(glb_lpm *t, int fam)
{
    lpm_host *h = &t->host[fam];
    if ((uint64_t)(h->n + 1) * 10 <= (uint64_t)h->cap * 7)
        return 0;
    if (h->cap >= (1u << 31))
        return -1;
    uint32_t nc = h->cap ? h->cap * 2 : 64;
    uint32_t *ns = calloc(nc, sizeof(*ns));
    if (!ns)
        return -1;
    lpm_host old = *h;
    h->slot = ns;
    h->cap = nc;
    h->n = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.slot[i] != 0) {
            uint32_t k[4];
            leaf_key(t, fam, old.slot[i] - 1, k);
            host_put(t, fam, k, old.slot[i] - 1);
        }
    free(old.slot);
    return 0;
}

/* ---- leaf contents ---- */

static void leaf_write(glb_lpm *t, int fam, uint32_t li, const uint32_t k[4], unsigned len,
                       uint32_t value)
{
    if (fam) {
        lpm_leaf6 *l = &LEAF6(t, li);
        memcpy(l->key, k, 16);
        l->value = value;
        l->len = (uint8_t)len;
    } else {
        lpm_leaf4 *l = &LEAF4(t, li);
        l->key = k[0];
        l->value = value;
        l->len = (uint8_t)len;
    }
}

/* Fills leaf li (its old contents ignored), hashing a host prefix; one
 * needs host_reserve first. */
void lpm_leaf_fill(glb_lpm *t, int fam, uint32_t li, const uint32_t k[4], unsigned len, uint32_t value)
{
    leaf_write(t, fam, li, k, len, value);
    if (len == fam_bits(fam))
        host_put(t, fam, k, li);
}

/* Takes leaf li (in use) out of the hash when it holds a host prefix. */
void lpm_leaf_unhash(glb_lpm *t, int fam, uint32_t li)
{
    if (leaf_len(t, fam, li) == fam_bits(fam)) {
        uint32_t k[4];
        leaf_key(t, fam, li, k);
        host_del(t, fam, k);
    }
}

/* Rewrites leaf li (in use) with another prefix, keeping the hash in step. */
void lpm_leaf_set(glb_lpm *t, int fam, uint32_t li, const uint32_t k[4], unsigned len,
                     uint32_t value)
{
    lpm_leaf_unhash(t, fam, li);
    lpm_leaf_fill(t, fam, li, k, len, value);
}
