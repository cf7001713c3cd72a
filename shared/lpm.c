/* Longest-prefix-match table: a path-compressed binary trie per family.
 *
 * Layout. The two families live in separate tries (roots 1 and 2 of the node
 * array), so a v4 lookup never meets a v6 prefix, ::ffff:0:0/96 included.
 * Nodes are addressed by 32-bit references into three arrays that grow by
 * doubling and recycle removed entries through free lists (no per-node
 * malloc):
 *   - internal nodes (16 bytes): two children, an optional value, the node's
 *     length, and for each child the shortest prefix length stored anywhere
 *     below it (what the exact scope needs, see glb_lpm_lookup);
 *   - v4 leaves (12 bytes) and v6 leaves (24 bytes): key, length, value.
 * A reference with bit 31 set names a leaf of the trie's family, any other
 * non-zero reference an internal node (index 0 is never used, so 0 = none).
 *
 * Internal nodes store no key bits (PATRICIA-style): a node's prefix is the
 * first len bits of any leaf below it. Searches walk down by testing the key's
 * bit at each node's length, then compare the key once with a leaf reached
 * from there: the number of leading bits they share tells which nodes of the
 * walked path really match. Every internal node other than a root has one or
 * two children, and one child only when it carries a value; remove restores
 * this (merging nodes), so the trie stays at most 2n nodes for n prefixes.
 *
 * Host prefixes. A /32 (v4) or /128 (v6) is always a leaf, and for a full
 * length key it is the longest match with the exact scope its own length. A
 * hash of those leaves (open addressing, 4-byte slots naming the leaf) answers
 * such lookups in two memory reads instead of a walk of ~20 nodes at random
 * places, which with a million prefixes costs ~1.7 us in cache misses. Every
 * change of a leaf's contents goes through new_leaf, lpm_leaf_set and free_leaf
 * (shared/lpm_host.c), which keep the hash in step.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/lpm_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- pools ---- */

/* Makes sure one allocation from p will succeed. */
static int pool_reserve(lpm_pool *p, size_t esz)
{
    if (p->head != FREE_END || p->used < p->cap)
        return 0;
    if (p->cap >= IDX_MAX)
        return -1;
    uint32_t nc = p->cap ? (p->cap > IDX_MAX / 2 ? IDX_MAX : p->cap * 2) : 64;
    if ((size_t)nc > SIZE_MAX / esz)
        return -1;
    void *na = realloc(p->a, (size_t)nc * esz);
    if (!na)
        return -1;
    p->a = na;
    p->cap = nc;
    return 0;
}

/* Only after pool_reserve. */
static uint32_t pool_alloc(lpm_pool *p, size_t esz)
{
    if (p->head != FREE_END) {
        uint32_t i = p->head;
        memcpy(&p->head, (char *)p->a + (size_t)i * esz, sizeof(uint32_t));
        return i;
    }
    return p->used++;
}

static void pool_free(lpm_pool *p, size_t esz, uint32_t i)
{
    memcpy((char *)p->a + (size_t)i * esz, &p->head, sizeof(uint32_t));
    p->head = i;
}

static inline unsigned ref_len(const glb_lpm *t, int fam, uint32_t ref)
{
    return ref & REF_LEAF ? leaf_len(t, fam, ref & ~REF_LEAF) : INODE(t, ref).len;
}

/* Shortest prefix length stored at ref or below it. */
static inline unsigned ref_min(const glb_lpm *t, int fam, uint32_t ref)
{
    if (ref == REF_NONE)
        return NO_MIN;
    if (ref & REF_LEAF)
        return leaf_len(t, fam, ref & ~REF_LEAF);
    const lpm_inode *n = &INODE(t, ref);
    if (n->hasval)
        return n->len;
    return n->cmin[0] < n->cmin[1] ? n->cmin[0] : n->cmin[1];
}

/* A leaf at or below ref, following k's bits where that child exists; 0 when
 * there is none (only a root can be childless). */
static uint32_t any_leaf(const glb_lpm *t, uint32_t ref, const uint32_t k[4])
{
    while (ref != REF_NONE && !(ref & REF_LEAF)) {
        const lpm_inode *n = &INODE(t, ref);
        unsigned b = key_bit(k, n->len);
        ref = n->child[b] != REF_NONE ? n->child[b] : n->child[!b];
    }
    return ref;
}

static void inode_fix_cmin(glb_lpm *t, int fam, uint32_t ni)
{
    lpm_inode *n = &INODE(t, ni);
    for (unsigned i = 0; i < 2; i++)
        n->cmin[i] = (uint8_t)ref_min(t, fam, n->child[i]);
}

/* Recomputes cmin along a path, deepest node first. */
static void path_fix(glb_lpm *t, int fam, const uint32_t *path, const uint8_t *dirs, unsigned np)
{
    while (np-- > 0) {
        lpm_inode *n = &INODE(t, path[np]);
        n->cmin[dirs[np]] = (uint8_t)ref_min(t, fam, n->child[dirs[np]]);
    }
}

/* ---- public API ---- */

glb_lpm *glb_lpm_new(void)
{
    glb_lpm *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->in.head = t->l4.head = t->l6.head = FREE_END;
    if (pool_reserve(&t->in, sizeof(lpm_inode))) {
        free(t);
        return NULL;
    }
    t->in.used = 3; /* 0 unused, 1 = v4 root, 2 = v6 root */
    for (uint32_t i = 0; i < 3; i++) {
        lpm_inode *n = &INODE(t, i);
        memset(n, 0, sizeof(*n));
        n->cmin[0] = n->cmin[1] = NO_MIN;
    }
    return t;
}

/* A copy of n entries of esz bytes; NULL when n is 0 or out of memory. */
static void *dup_mem(const void *src, size_t n, size_t esz)
{
    void *d = n ? malloc(n * esz) : NULL;
    if (d)
        memcpy(d, src, n * esz);
    return d;
}

glb_lpm *glb_lpm_clone(const glb_lpm *t)
{
    glb_lpm *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *t; /* counts and free lists; references are indices, valid in the copies */
    c->in.a = dup_mem(t->in.a, t->in.cap, sizeof(lpm_inode));
    c->l4.a = dup_mem(t->l4.a, t->l4.cap, sizeof(lpm_leaf4));
    c->l6.a = dup_mem(t->l6.a, t->l6.cap, sizeof(lpm_leaf6));
    for (int f = 0; f < 2; f++)
        c->host[f].slot = dup_mem(t->host[f].slot, t->host[f].cap, sizeof(uint32_t));
    if ((t->in.cap && !c->in.a) || (t->l4.cap && !c->l4.a) || (t->l6.cap && !c->l6.a) ||
        (t->host[0].cap && !c->host[0].slot) || (t->host[1].cap && !c->host[1].slot)) {
        glb_lpm_free(c);
        return NULL;
    }
    return c;
}

void glb_lpm_free(glb_lpm *t)
{
    if (!t)
        return;
    free(t->in.a);
    free(t->l4.a);
    free(t->l6.a);
    free(t->host[0].slot);
    free(t->host[1].slot);
    free(t);
}

size_t glb_lpm_count(const glb_lpm *t)
{
    return t->count;
}

size_t glb_lpm_hosts(const glb_lpm *t)
{
    return (size_t)t->host[0].n + t->host[1].n;
}

size_t glb_lpm_memory(const glb_lpm *t)
{
    return sizeof(*t) + (size_t)t->in.cap * sizeof(lpm_inode) +
           (size_t)t->l4.cap * sizeof(lpm_leaf4) + (size_t)t->l6.cap * sizeof(lpm_leaf6) +
           ((size_t)t->host[0].cap + t->host[1].cap) * sizeof(uint32_t);
}

static uint32_t new_leaf(glb_lpm *t, int fam, const uint32_t k[4], unsigned len, uint32_t value)
{
    uint32_t li = fam ? pool_alloc(&t->l6, sizeof(lpm_leaf6)) : pool_alloc(&t->l4, sizeof(lpm_leaf4));
    lpm_leaf_fill(t, fam, li, k, len, value); /* a recycled entry's old contents mean nothing */
    return li | REF_LEAF;
}

static int reserve_leaf(glb_lpm *t, int fam)
{
    return fam ? pool_reserve(&t->l6, sizeof(lpm_leaf6)) : pool_reserve(&t->l4, sizeof(lpm_leaf4));
}

static void free_leaf(glb_lpm *t, int fam, uint32_t ref)
{
    uint32_t li = ref & ~REF_LEAF;
    lpm_leaf_unhash(t, fam, li);
    if (fam)
        pool_free(&t->l6, sizeof(lpm_leaf6), li);
    else
        pool_free(&t->l4, sizeof(lpm_leaf4), li);
}

int glb_lpm_insert(glb_lpm *t, const glb_prefix *p, uint32_t value)
{
    int fam = fam_index(p->family);
    if (fam < 0 || p->len > fam_bits(fam))
        return -1;
    unsigned plen = p->len;
    uint32_t k[4];
    key_load(fam, p->b, k);
    key_mask(k, plen);
    uint32_t root = fam_root(fam);

    if (plen == 0) {
        lpm_inode *r = &INODE(t, root);
        if (!r->hasval) {
            r->hasval = 1;
            t->count++;
        }
        r->value = value;
        return 0;
    }
    if (plen == fam_bits(fam) && lpm_host_reserve(t, fam)) /* before any change */
        return -1;
    /* d = the most leading bits (at most plen) p shares with a stored key:
     * the walk by p's bits reaches a leaf that achieves it. */
    uint32_t xk[4] = {0, 0, 0, 0};
    unsigned d = plen;
    uint32_t x = any_leaf(t, root, k);
    if (x != REF_NONE) {
        leaf_key(t, fam, x & ~REF_LEAF, xk);
        d = key_cpl(k, xk);
        if (d > plen)
            d = plen;
    }

    /* Walk down again through the nodes of length <= d (all of them match
     * p); the first node longer than d diverges from p at bit d, and that
     * bit of it is xk's (x lies below it). Nothing changes before the nodes
     * needed are reserved (which may move the arrays), so a failure leaves
     * the table as it was, and arrays grow only when a node is needed. */
    uint32_t path[PATH_MAX_NODES];
    uint8_t dirs[PATH_MAX_NODES];
    unsigned np = 0;
    uint32_t cur = root;
    for (;;) {
        lpm_inode *n = &INODE(t, cur);
        if (n->len == plen) { /* here plen == d: p is this node */
            if (n->hasval) {
                n->value = value;
                return 0;
            }
            n->hasval = 1;
            n->value = value;
            break;
        }
        unsigned dir = key_bit(k, n->len);
        path[np] = cur;
        dirs[np] = (uint8_t)dir;
        np++;
        uint32_t c = n->child[dir];
        if (c == REF_NONE) {
            if (reserve_leaf(t, fam))
                return -1;
            INODE(t, cur).child[dir] = new_leaf(t, fam, k, plen, value);
            break;
        }
        unsigned clen = ref_len(t, fam, c);
        if (clen > d) {
            if (pool_reserve(&t->in, sizeof(lpm_inode)) || (d < plen && reserve_leaf(t, fam)))
                return -1;
            uint32_t ni = pool_alloc(&t->in, sizeof(lpm_inode));
            lpm_inode *nn = &INODE(t, ni);
            n = &INODE(t, cur);
            unsigned cd = key_bit(xk, d);
            nn->len = (uint8_t)d;
            nn->child[cd] = c;
            if (d == plen) { /* p sits above c */
                nn->hasval = 1;
                nn->value = value;
                nn->child[!cd] = REF_NONE;
            } else { /* p and c branch at bit d */
                nn->hasval = 0;
                nn->value = 0;
                nn->child[!cd] = new_leaf(t, fam, k, plen, value);
            }
            inode_fix_cmin(t, fam, ni);
            n->child[dir] = ni;
            break;
        }
        if (c & REF_LEAF) {
            uint32_t li = c & ~REF_LEAF;
            if (clen == plen) { /* the same prefix */
                if (fam)
                    LEAF6(t, li).value = value;
                else
                    LEAF4(t, li).value = value;
                return 0;
            }
            /* p lies below the leaf: it becomes an internal node (and its
             * leaf entry is reused for p). */
            if (pool_reserve(&t->in, sizeof(lpm_inode)))
                return -1;
            uint32_t ni = pool_alloc(&t->in, sizeof(lpm_inode));
            lpm_inode *nn = &INODE(t, ni);
            n = &INODE(t, cur);
            unsigned pd = key_bit(k, clen);
            nn->len = (uint8_t)clen;
            nn->hasval = 1;
            nn->value = leaf_value(t, fam, li);
            nn->child[!pd] = REF_NONE;
            lpm_leaf_set(t, fam, li, k, plen, value);
            nn->child[pd] = c;
            inode_fix_cmin(t, fam, ni);
            n->child[dir] = ni;
            break;
        }
        cur = c;
    }
    t->count++;
    path_fix(t, fam, path, dirs, np);
    return 0;
}

int glb_lpm_remove(glb_lpm *t, const glb_prefix *p)
{
    int fam = fam_index(p->family);
    if (fam < 0 || p->len > fam_bits(fam))
        return -1;
    unsigned plen = p->len;
    uint32_t k[4];
    key_load(fam, p->b, k);
    key_mask(k, plen);
    uint32_t root = fam_root(fam);

    if (plen == 0) {
        lpm_inode *r = &INODE(t, root);
        if (!r->hasval)
            return -1;
        r->hasval = 0;
        r->value = 0;
        t->count--;
        return 0;
    }

    uint32_t path[PATH_MAX_NODES];
    uint8_t dirs[PATH_MAX_NODES];
    unsigned np = 0;
    uint32_t cur = root, x;
    for (;;) { /* cur is internal and shorter than plen */
        const lpm_inode *n = &INODE(t, cur);
        unsigned dir = key_bit(k, n->len);
        path[np] = cur;
        dirs[np] = (uint8_t)dir;
        np++;
        x = n->child[dir];
        if (x == REF_NONE)
            return -1;
        unsigned xlen = ref_len(t, fam, x);
        if (xlen > plen)
            return -1;
        if (xlen == plen)
            break;
        if (x & REF_LEAF)
            return -1;
        cur = x;
    }
    uint32_t xk[4];
    uint32_t lf = any_leaf(t, x, k);
    leaf_key(t, fam, lf & ~REF_LEAF, xk);
    if (key_cpl(k, xk) < plen)
        return -1;

    if (x & REF_LEAF) {
        lpm_inode *y = &INODE(t, path[np - 1]);
        y->child[dirs[np - 1]] = REF_NONE;
        if (np >= 2) { /* y is not a root: keep it compressed */
            uint32_t other = y->child[!dirs[np - 1]];
            uint32_t *yslot = &INODE(t, path[np - 2]).child[dirs[np - 2]];
            if (y->hasval && other == REF_NONE) {
                /* y has no child left: reuse x's leaf for y's prefix */
                key_mask(xk, y->len);
                lpm_leaf_set(t, fam, x & ~REF_LEAF, xk, y->len, y->value);
                *yslot = x;
                pool_free(&t->in, sizeof(lpm_inode), path[np - 1]);
                np--;
            } else if (!y->hasval) {
                /* a branch with one child left: splice it out */
                *yslot = other;
                pool_free(&t->in, sizeof(lpm_inode), path[np - 1]);
                free_leaf(t, fam, x);
                np--;
            } else {
                free_leaf(t, fam, x);
            }
        } else {
            free_leaf(t, fam, x);
        }
    } else {
        lpm_inode *n = &INODE(t, x);
        if (!n->hasval)
            return -1;
        n->hasval = 0;
        n->value = 0;
        if (n->child[0] == REF_NONE || n->child[1] == REF_NONE) {
            INODE(t, path[np - 1]).child[dirs[np - 1]] = n->child[0] | n->child[1];
            pool_free(&t->in, sizeof(lpm_inode), x);
        }
    }
    t->count--;
    path_fix(t, fam, path, dirs, np);
    return 0;
}

/* Lookup and the scope.
 *
 * Let S be the prefixes of the key's family with len <= keylen (the only ones
 * any lookup with this keylen can return) and M the longest one containing
 * the key. The answer is the same for every address of the block key/s iff
 * M contains the block and no longer prefix of S lies inside it, so the exact
 * (smallest) scope is
 *     max(len(M), max over Q in S, len(Q) > len(M), of cpl(key, Q) + 1)
 * (0 and no M term when nothing matches). In the trie, every prefix below the
 * child of a matched path node N that the key does not take shares exactly
 * len(N) bits with the key, and every prefix below the child where the key
 * diverges (at bit d) shares exactly d bits; only subtrees that hold some
 * prefix of length <= keylen count (cmin). Hence scope <= keylen always: a
 * prefix longer than the key can neither match nor split the answer for keys
 * of that length (a /24 ECS query under a /32 mapping gets the /24's covering
 * answer with the covering scope, not 32). RFC 7871 allows a scope longer
 * than the source prefix, but it would never be exact here. */
int glb_lpm_lookup(const glb_lpm *t, const glb_addr *a, unsigned keylen, glb_lpm_match *m)
{
    m->value = 0;
    m->len = 0;
    m->scope = 0;
    int fam = fam_index(a->family);
    if (fam < 0)
        return 0;
    unsigned kl = keylen < fam_bits(fam) ? keylen : fam_bits(fam);
    uint32_t k[4];
    key_load(fam, a->b, k);
    if (kl == fam_bits(fam) && t->host[fam].n) {
        uint32_t li = lpm_host_find(t, fam, k);
        if (li != HOST_NONE) { /* the longest prefix there is; all its bits decided */
            m->value = leaf_value(t, fam, li);
            m->len = m->scope = kl;
            return 1;
        }
    }

    /* Down by the key's bits through the nodes no longer than kl. */
    uint32_t path[PATH_MAX_NODES];
    unsigned np = 0;
    uint32_t last = REF_NONE; /* a leaf ending the path */
    uint32_t cur = fam_root(fam);
    for (;;) {
        const lpm_inode *n = &INODE(t, cur);
        path[np++] = cur;
        if (n->len >= kl)
            break;
        uint32_t c = n->child[key_bit(k, n->len)];
        if (c == REF_NONE)
            break;
        if (c & REF_LEAF) {
            if (leaf_len(t, fam, c & ~REF_LEAF) <= kl)
                last = c;
            break;
        }
        if (INODE(t, c).len > kl)
            break;
        cur = c;
    }

    /* d = leading bits the key shares with the path (capped at kl): the nodes
     * of length <= d match, a longer one diverges from the key at bit d. */
    unsigned d = kl;
    uint32_t lf = last != REF_NONE ? last : any_leaf(t, path[np - 1], k);
    if (lf != REF_NONE) {
        uint32_t lk[4];
        leaf_key(t, fam, lf & ~REF_LEAF, lk);
        unsigned c = key_cpl(k, lk);
        if (c < d)
            d = c;
    }

    int found = 0;
    uint32_t value = 0;
    unsigned blen = 0, sc = 0;
    unsigned i;
    for (i = 0; i < np; i++) {
        const lpm_inode *n = &INODE(t, path[i]);
        if (n->len > d) {
            if (ref_min(t, fam, path[i]) <= kl && d + 1 > sc)
                sc = d + 1;
            break;
        }
        if (n->hasval) {
            found = 1;
            value = n->value;
            blen = n->len;
        }
        if (n->len < kl && n->cmin[!key_bit(k, n->len)] <= kl && n->len + 1u > sc)
            sc = n->len + 1u;
    }
    if (i == np && last != REF_NONE) {
        unsigned ll = leaf_len(t, fam, last & ~REF_LEAF);
        if (ll > d) {
            if (d + 1 > sc)
                sc = d + 1;
        } else {
            found = 1;
            value = leaf_value(t, fam, last & ~REF_LEAF);
            blen = ll;
        }
    }
    m->scope = sc > blen ? sc : blen;
    if (found) {
        m->value = value;
        m->len = blen;
    }
    return found;
}

typedef void (*lpm_walk_fn)(void *arg, const glb_prefix *p, uint32_t value);

static void walk_emit(int fam, const uint32_t k[4], unsigned len, uint32_t value, lpm_walk_fn fn,
                      void *arg)
{
    glb_prefix p;
    memset(&p, 0, sizeof(p));
    p.family = fam ? AF_INET6 : AF_INET;
    p.len = len;
    uint32_t mk[4] = {k[0], k[1], k[2], k[3]};
    key_mask(mk, len);
    key_store(mk, p.b);
    fn(arg, &p, value);
}

/* Reports everything at or below ref; leaves in kout the key of some leaf
 * below ref (zero when there is none), from which ref's own prefix is cut. */
static void walk_rec(const glb_lpm *t, int fam, uint32_t ref, lpm_walk_fn fn, void *arg,
                     uint32_t kout[4])
{
    if (ref & REF_LEAF) {
        uint32_t li = ref & ~REF_LEAF;
        leaf_key(t, fam, li, kout);
        walk_emit(fam, kout, leaf_len(t, fam, li), leaf_value(t, fam, li), fn, arg);
        return;
    }
    const lpm_inode *n = &INODE(t, ref);
    uint32_t tmp[4];
    int have = 0;
    memset(kout, 0, 4 * sizeof(uint32_t));
    for (unsigned i = 0; i < 2; i++) {
        if (n->child[i] != REF_NONE) {
            walk_rec(t, fam, n->child[i], fn, arg, have ? tmp : kout);
            have = 1;
        }
    }
    if (n->hasval)
        walk_emit(fam, kout, n->len, n->value, fn, arg);
}

/* fn must not change the table. */
void glb_lpm_walk(const glb_lpm *t, void (*fn)(void *arg, const glb_prefix *p, uint32_t value),
                  void *arg)
{
    uint32_t k[4];
    for (int fam = 0; fam < 2; fam++)
        walk_rec(t, fam, fam_root(fam), fn, arg, k);
}
