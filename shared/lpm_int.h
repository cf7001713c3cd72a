/* The insides of shared/lpm.c and shared/lpm_host.c: node and leaf layout,
 * keys, accessors, and the calls between the two files. Not for other
 * modules. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_LPM_INT_H
#define GLB_LPM_INT_H

#include <stdint.h>
#include <string.h>

#include "shared/lpm.h"

#define REF_NONE 0u
#define REF_LEAF 0x80000000u
#define IDX_MAX 0x7fffffffu /* indices stay below the leaf tag */
#define FREE_END UINT32_MAX
#define NO_MIN 255u         /* cmin of an empty child slot */
#define PATH_MAX_NODES 130  /* node lengths on one path are distinct, 0..128 */

typedef struct lpm_inode {
    uint32_t child[2];
    uint32_t value;
    uint8_t len;
    uint8_t hasval;
    uint8_t cmin[2]; /* shortest prefix length under child[i], NO_MIN if none */
} lpm_inode;

typedef struct lpm_leaf4 {
    uint32_t key; /* host order, bits beyond len zero */
    uint32_t value;
    uint8_t len;
} lpm_leaf4;

typedef struct lpm_leaf6 {
    uint32_t key[4]; /* host-order words, most significant first */
    uint32_t value;
    uint8_t len;
} lpm_leaf6;

/* An array of fixed-size entries with a free list threaded through the first
 * four bytes of free entries. */
typedef struct lpm_pool {
    void *a;
    uint32_t cap, used, head;
} lpm_pool;

/* The host-prefix leaves of one family: linear probing, slot = leaf index + 1
 * (0 = empty), load at most 7/10, deletion by backward shift (no tombstones). */
typedef struct lpm_host {
    uint32_t *slot;
    uint32_t cap, n; /* cap 0 or a power of two */
} lpm_host;

struct glb_lpm {
    lpm_pool in, l4, l6;
    lpm_host host[2]; /* v4, v6 */
    size_t count;
};

#define INODE(t, i) (((lpm_inode *)(t)->in.a)[i])
#define LEAF4(t, i) (((lpm_leaf4 *)(t)->l4.a)[i])
#define LEAF6(t, i) (((lpm_leaf6 *)(t)->l6.a)[i])

/* ---- keys: four host-order words, bit 0 = most significant ---- */

static inline int fam_index(int family)
{
    if (family == AF_INET)
        return 0;
    if (family == AF_INET6)
        return 1;
    return -1;
}

static inline unsigned fam_bits(int fam)
{
    return fam ? 128u : 32u;
}

static inline uint32_t fam_root(int fam)
{
    return 1u + (uint32_t)fam;
}

static inline void key_load(int fam, const uint8_t *b, uint32_t k[4])
{
    unsigned nw = fam ? 4 : 1;
    for (unsigned w = 0; w < 4; w++)
        k[w] = w < nw ? (uint32_t)b[4 * w] << 24 | (uint32_t)b[4 * w + 1] << 16 |
                            (uint32_t)b[4 * w + 2] << 8 | (uint32_t)b[4 * w + 3]
                      : 0;
}

static inline void key_store(const uint32_t k[4], uint8_t b[16])
{
    for (unsigned w = 0; w < 4; w++) {
        b[4 * w] = (uint8_t)(k[w] >> 24);
        b[4 * w + 1] = (uint8_t)(k[w] >> 16);
        b[4 * w + 2] = (uint8_t)(k[w] >> 8);
        b[4 * w + 3] = (uint8_t)k[w];
    }
}

static inline void key_mask(uint32_t k[4], unsigned len)
{
    for (unsigned w = 0; w < 4; w++) {
        unsigned lo = 32 * w;
        if (len <= lo)
            k[w] = 0;
        else if (len < lo + 32)
            k[w] &= ~(uint32_t)0 << (32 - (len - lo));
    }
}

static inline unsigned key_bit(const uint32_t k[4], unsigned i)
{
    return (k[i >> 5] >> (31 - (i & 31))) & 1u;
}

/* Number of leading bits a and b share (128 when equal). */
static inline unsigned key_cpl(const uint32_t a[4], const uint32_t b[4])
{
    for (unsigned w = 0; w < 4; w++) {
        uint32_t x = a[w] ^ b[w];
        if (x)
            return 32 * w + (unsigned)__builtin_clz(x);
    }
    return 128;
}

/* ---- node accessors ---- */

static inline unsigned leaf_len(const glb_lpm *t, int fam, uint32_t li)
{
    return fam ? LEAF6(t, li).len : LEAF4(t, li).len;
}

static inline uint32_t leaf_value(const glb_lpm *t, int fam, uint32_t li)
{
    return fam ? LEAF6(t, li).value : LEAF4(t, li).value;
}

static inline void leaf_key(const glb_lpm *t, int fam, uint32_t li, uint32_t k[4])
{
    if (fam) {
        memcpy(k, LEAF6(t, li).key, 16);
    } else {
        k[0] = LEAF4(t, li).key;
        k[1] = k[2] = k[3] = 0;
    }
}

/* ---- shared/lpm_host.c: the host-prefix hash and the leaf writes that keep it in step ---- */

#define HOST_NONE UINT32_MAX

/* The leaf holding the host prefix k (a full-length key), or HOST_NONE. */
uint32_t lpm_host_find(const glb_lpm *t, int fam, const uint32_t k[4]);
/* Makes room for one more host prefix of fam: 0, or -1 when out of memory. */
int lpm_host_reserve(glb_lpm *t, int fam);
/* Fills leaf li (its old contents ignored), hashing a host prefix (which needs
 * lpm_host_reserve first). */
void lpm_leaf_fill(glb_lpm *t, int fam, uint32_t li, const uint32_t k[4], unsigned len, uint32_t value);
/* Takes leaf li (in use) out of the hash when it holds a host prefix. */
void lpm_leaf_unhash(glb_lpm *t, int fam, uint32_t li);
/* Rewrites leaf li (in use) with another prefix, keeping the hash in step. */
void lpm_leaf_set(glb_lpm *t, int fam, uint32_t li, const uint32_t k[4], unsigned len, uint32_t value);

#endif
