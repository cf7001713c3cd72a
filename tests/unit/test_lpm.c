/* Unit tests for shared/lpm.c: fixed cases, a randomized comparison with a
 * brute-force model (values, lengths and exact scopes), the literal scope
 * definition checked block by block, churn, and the memory per prefix for
 * one million prefixes.
 * Set GLB_TEST_SEED to reproduce a run with another seed.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/lpm.h"

/* ---- helpers ---- */

static uint64_t rng_state;
static uint64_t test_seed = 0x5eed0f1a2b3c4d5eULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void seed_rng(uint64_t salt)
{
    rng_state = test_seed ^ salt;
}

static unsigned fam_bits(int family)
{
    return family == AF_INET ? 32 : 128;
}

static void mask_bytes(uint8_t *b, unsigned len)
{
    for (unsigned i = 0; i < 16; i++) {
        if (len >= 8 * (i + 1))
            continue;
        if (len <= 8 * i)
            b[i] = 0;
        else
            b[i] &= (uint8_t)(0xff00u >> (len - 8 * i));
    }
}

static unsigned get_bit(const uint8_t *b, unsigned i)
{
    return (b[i / 8] >> (7 - i % 8)) & 1u;
}

/* Leading bits a and b share, at most nbits. */
static unsigned cpl_bytes(const uint8_t *a, const uint8_t *b, unsigned nbits)
{
    unsigned i = 0;
    while (i < nbits && get_bit(a, i) == get_bit(b, i))
        i++;
    return i;
}

static glb_prefix PFX(const char *s)
{
    glb_prefix p;
    char buf[80];
    memset(&p, 0, sizeof(p));
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (inet_pton(AF_INET, buf, p.b) == 1)
        p.family = AF_INET;
    else if (inet_pton(AF_INET6, buf, p.b) == 1)
        p.family = AF_INET6;
    else
        fail_msg("bad prefix %s", s);
    p.len = slash ? (unsigned)atoi(slash) : fam_bits(p.family);
    return p;
}

static glb_addr ADDR(const char *s)
{
    glb_addr a;
    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, s, a.b) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, s, a.b) == 1)
        a.family = AF_INET6;
    else
        fail_msg("bad address %s", s);
    return a;
}

static const char *fmt_bytes(int family, const uint8_t *b, char *buf, size_t len)
{
    return inet_ntop(family, b, buf, (socklen_t)len);
}

static void ins(glb_lpm *t, const char *s, uint32_t v)
{
    glb_prefix p = PFX(s);
    assert_int_equal(glb_lpm_insert(t, &p, v), 0);
}

static int rem(glb_lpm *t, const char *s)
{
    glb_prefix p = PFX(s);
    return glb_lpm_remove(t, &p);
}

/* Looks a up with keylen and checks found/value/len/scope (value and len
 * only when found). */
static void check(const glb_lpm *t, const char *a, unsigned keylen, int found, uint32_t value,
                  unsigned len, unsigned scope)
{
    glb_addr ad = ADDR(a);
    glb_lpm_match m;
    memset(&m, 0xff, sizeof(m));
    int r = glb_lpm_lookup(t, &ad, keylen, &m);
    if (r != found || m.scope != scope || (found && (m.value != value || m.len != len)))
        fail_msg("lookup %s/%u: got found=%d value=%u len=%u scope=%u, want found=%d value=%u "
                 "len=%u scope=%u",
                 a, keylen, r, m.value, m.len, m.scope, found, value, len, scope);
}

/* ---- fixed cases ---- */

static void test_empty(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    assert_non_null(t);
    assert_int_equal(glb_lpm_count(t), 0);
    assert_true(glb_lpm_memory(t) > 0);
    check(t, "1.2.3.4", 32, 0, 0, 0, 0);
    check(t, "2001:db8::1", 128, 0, 0, 0, 0);
    assert_int_equal(rem(t, "10.0.0.0/8"), -1);
    assert_int_equal(rem(t, "0.0.0.0/0"), -1);
    glb_addr bad = ADDR("1.2.3.4");
    bad.family = 12345;
    glb_lpm_match m;
    assert_int_equal(glb_lpm_lookup(t, &bad, 32, &m), 0);
    glb_prefix bp = PFX("10.0.0.0/8");
    bp.len = 33;
    assert_int_equal(glb_lpm_insert(t, &bp, 1), -1);
    glb_lpm_free(t);
    glb_lpm_free(NULL);
}

static void test_default_route(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    ins(t, "0.0.0.0/0", 7);
    check(t, "1.2.3.4", 32, 1, 7, 0, 0);
    check(t, "1.2.3.4", 0, 1, 7, 0, 0);
    check(t, "2001:db8::1", 128, 0, 0, 0, 0); /* v4 default is not v6's */
    ins(t, "::/0", 9);
    check(t, "2001:db8::1", 128, 1, 9, 0, 0);
    check(t, "1.2.3.4", 32, 1, 7, 0, 0);
    assert_int_equal(glb_lpm_count(t), 2);

    /* 1.2.3.4 and 10/8 share 4 bits: 0.0.0.0/5 holds only the default. */
    ins(t, "10.0.0.0/8", 1);
    check(t, "1.2.3.4", 32, 1, 7, 0, 5);
    check(t, "10.9.9.9", 32, 1, 1, 8, 8);
    check(t, "10.9.9.9", 7, 1, 7, 0, 0);
    check(t, "128.0.0.1", 32, 1, 7, 0, 1);

    assert_int_equal(rem(t, "0.0.0.0/0"), 0);
    assert_int_equal(rem(t, "0.0.0.0/0"), -1);
    check(t, "1.2.3.4", 32, 0, 0, 0, 5);
    check(t, "10.9.9.9", 32, 1, 1, 8, 8);
    check(t, "2001:db8::1", 128, 1, 9, 0, 0);
    glb_lpm_free(t);
}

static void test_host_prefixes(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    ins(t, "192.0.2.1/32", 1);
    ins(t, "192.0.2.0/32", 2);
    ins(t, "2001:db8::1/128", 3);
    ins(t, "2001:db8::/128", 4);
    check(t, "192.0.2.1", 32, 1, 1, 32, 32);
    check(t, "192.0.2.0", 32, 1, 2, 32, 32);
    check(t, "192.0.2.2", 32, 0, 0, 0, 31);
    check(t, "192.0.2.1", 31, 0, 0, 0, 0);
    check(t, "2001:db8::1", 128, 1, 3, 128, 128);
    check(t, "2001:db8::", 128, 1, 4, 128, 128);
    check(t, "2001:db8::2", 128, 0, 0, 0, 127);
    check(t, "2001:db8::1", 127, 0, 0, 0, 0);
    check(t, "2001:db8::1", 1000, 1, 3, 128, 128); /* keylen is clamped */
    glb_lpm_free(t);
}

static void test_nested(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    ins(t, "10.1.2.3/32", 4); /* inserted in an awkward order on purpose */
    ins(t, "10.0.0.0/8", 1);
    ins(t, "10.1.2.0/24", 3);
    ins(t, "10.1.0.0/16", 2);
    assert_int_equal(glb_lpm_count(t), 4);

    check(t, "10.1.2.3", 32, 1, 4, 32, 32);
    check(t, "10.1.2.3", 40, 1, 4, 32, 32);
    check(t, "10.1.2.4", 32, 1, 3, 24, 30); /* ...4 and ...3 share 29 bits */
    check(t, "10.1.2.4", 24, 1, 3, 24, 24); /* the /32 cannot match a /24 key */
    check(t, "10.1.2.3", 24, 1, 3, 24, 24);
    check(t, "10.1.3.0", 32, 1, 2, 16, 24);
    check(t, "10.1.3.0", 23, 1, 2, 16, 16); /* /24 too long for the key */
    check(t, "10.2.0.0", 32, 1, 1, 8, 15);
    check(t, "10.1.2.3", 16, 1, 2, 16, 16);
    check(t, "10.1.2.3", 8, 1, 1, 8, 8);
    check(t, "10.1.2.3", 7, 0, 0, 0, 0);
    check(t, "11.0.0.0", 32, 0, 0, 0, 8);
    check(t, "11.0.0.0", 24, 0, 0, 0, 8);

    /* A branch without value: two /24s under a /8. */
    ins(t, "10.200.0.0/24", 5);
    ins(t, "10.200.1.0/24", 6);
    check(t, "10.200.0.9", 32, 1, 5, 24, 24);
    check(t, "10.200.1.9", 32, 1, 6, 24, 24);
    check(t, "10.200.2.9", 32, 1, 1, 8, 23);
    check(t, "10.200.1.9", 22, 1, 1, 8, 9); /* 10.1/16 is inside 10/8 */
    assert_int_equal(rem(t, "10.200.0.0/23"), -1); /* the valueless branch */
    assert_int_equal(rem(t, "10.200.2.0/24"), -1);
    glb_lpm_free(t);
}

static void test_family_separation(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    ins(t, "::ffff:10.0.0.0/104", 5);
    check(t, "10.0.0.1", 32, 0, 0, 0, 0);
    check(t, "::ffff:10.0.0.1", 128, 1, 5, 104, 104);
    ins(t, "10.0.0.0/8", 6);
    check(t, "10.0.0.1", 32, 1, 6, 8, 8);
    check(t, "::ffff:10.0.0.1", 128, 1, 5, 104, 104);
    ins(t, "::/0", 7);
    check(t, "11.0.0.1", 32, 0, 0, 0, 8);
    check(t, "2001:db8::1", 128, 1, 7, 0, 3); /* 0x2001 vs 0x0000: 2 bits shared */
    ins(t, "0.0.0.0/0", 8);
    check(t, "2001:db8::1", 128, 1, 7, 0, 3);
    check(t, "11.0.0.1", 32, 1, 8, 0, 8);
    ins(t, "::/96", 9); /* a v4-compatible-looking v6 prefix */
    check(t, "::10.0.0.1", 128, 1, 9, 96, 96);
    check(t, "10.0.0.1", 32, 1, 6, 8, 8);
    assert_int_equal(glb_lpm_count(t), 5);

    glb_prefix p = PFX("10.0.0.0/8");
    p.family = AF_INET6; /* the same bytes as v6 0a00::/8 are not stored */
    assert_int_equal(glb_lpm_remove(t, &p), -1);
    assert_int_equal(rem(t, "::ffff:10.0.0.0/104"), 0);
    check(t, "10.0.0.1", 32, 1, 6, 8, 8);
    check(t, "::ffff:10.0.0.1", 128, 1, 7, 0, 81); /* ::/96 shares 80 bits */
    glb_lpm_free(t);
}

static void test_replace(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    ins(t, "10.0.0.0/8", 1);
    ins(t, "10.0.0.0/8", 2);
    assert_int_equal(glb_lpm_count(t), 1);
    check(t, "10.1.1.1", 32, 1, 2, 8, 8);
    ins(t, "10.1.0.0/16", 3);
    ins(t, "10.0.0.0/8", 4); /* now an internal node */
    ins(t, "10.1.0.0/16", 5);
    ins(t, "0.0.0.0/0", 6);
    ins(t, "0.0.0.0/0", 7);
    ins(t, "2001:db8::/32", 8);
    ins(t, "2001:db8::/32", 9);
    assert_int_equal(glb_lpm_count(t), 4);
    check(t, "10.2.1.1", 32, 1, 4, 8, 15);
    check(t, "10.1.1.1", 32, 1, 5, 16, 16);
    check(t, "9.1.1.1", 32, 1, 7, 0, 7);
    check(t, "2001:db8::1", 128, 1, 9, 32, 32);
    /* Host bits set in the prefix are ignored. */
    glb_prefix p = PFX("10.1.0.0/16");
    p.b[3] = 1;
    assert_int_equal(glb_lpm_insert(t, &p, 10), 0);
    assert_int_equal(glb_lpm_count(t), 4);
    check(t, "10.1.1.1", 32, 1, 10, 16, 16);
    glb_lpm_free(t);
}

static void test_remove(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    size_t mem0 = glb_lpm_memory(t);
    ins(t, "10.0.0.0/8", 1);
    ins(t, "10.1.0.0/16", 2);
    ins(t, "10.1.2.0/24", 3);
    ins(t, "10.1.3.0/24", 4);
    ins(t, "10.128.0.0/9", 5);
    assert_int_equal(rem(t, "10.1.0.0/17"), -1);
    assert_int_equal(rem(t, "10.1.2.0/23"), -1);
    assert_int_equal(rem(t, "10.1.2.0/25"), -1);
    assert_int_equal(rem(t, "11.0.0.0/8"), -1);
    assert_int_equal(rem(t, "10.1.0.0/16"), 0); /* internal node, one child: spliced */
    assert_int_equal(rem(t, "10.1.0.0/16"), -1);
    assert_int_equal(glb_lpm_count(t), 4);
    check(t, "10.1.9.9", 32, 1, 1, 8, 21);
    check(t, "10.1.2.9", 32, 1, 3, 24, 24);
    assert_int_equal(rem(t, "10.1.2.0/24"), 0); /* leaves a valueless branch */
    check(t, "10.1.2.9", 32, 1, 1, 8, 24);
    check(t, "10.1.9.9", 32, 1, 1, 8, 21);
    assert_int_equal(rem(t, "10.128.0.0/9"), 0);
    check(t, "10.200.0.0", 32, 1, 1, 8, 9);
    assert_int_equal(rem(t, "10.0.0.0/8"), 0); /* with one child: merged */
    check(t, "10.1.3.9", 32, 1, 4, 24, 24);
    check(t, "10.1.2.9", 32, 0, 0, 0, 24);
    assert_int_equal(rem(t, "10.1.3.0/24"), 0);
    assert_int_equal(glb_lpm_count(t), 0);
    check(t, "10.1.3.9", 32, 0, 0, 0, 0);

    /* A valued node losing its last child becomes a leaf again. */
    ins(t, "2001:db8::/32", 1);
    ins(t, "2001:db8:1::/48", 2);
    assert_int_equal(rem(t, "2001:db8:1::/48"), 0);
    check(t, "2001:db8:1::1", 128, 1, 1, 32, 32);
    ins(t, "2001:db8:1::/48", 3);
    check(t, "2001:db8:1::1", 128, 1, 3, 48, 48);
    check(t, "2001:db8:2::1", 128, 1, 1, 32, 47);
    assert_int_equal(rem(t, "2001:db8::/32"), 0);
    check(t, "2001:db8:2::1", 128, 0, 0, 0, 47);
    assert_int_equal(rem(t, "2001:db8:1::/48"), 0);
    assert_int_equal(glb_lpm_count(t), 0);
    check(t, "2001:db8:1::1", 128, 0, 0, 0, 0);
    assert_true(glb_lpm_memory(t) >= mem0);
    glb_lpm_free(t);
}

static int walk_n;
static void walk_count(void *arg, const glb_prefix *p, uint32_t value)
{
    char buf[64];
    (void)arg;
    (void)value;
    fmt_bytes(p->family, p->b, buf, sizeof(buf));
    walk_n++;
}

static void test_walk_small(void **state)
{
    (void)state;
    glb_lpm *t = glb_lpm_new();
    glb_lpm_walk(t, walk_count, NULL);
    assert_int_equal(walk_n, 0);
    ins(t, "0.0.0.0/0", 1);
    ins(t, "10.0.0.0/8", 2);
    ins(t, "10.1.0.0/16", 3);
    ins(t, "::/0", 4);
    ins(t, "2001:db8::1/128", 5);
    walk_n = 0;
    glb_lpm_walk(t, walk_count, NULL);
    assert_int_equal(walk_n, 5);
    glb_lpm_free(t);
}

/* ---- the brute-force model ---- */

typedef struct ment {
    glb_prefix p;
    uint32_t value;
    uint32_t seq;
} ment;

typedef struct model {
    ment *e; /* unique prefixes sorted by family, length, bytes */
    size_t n;
    size_t start[2][130], end[2][130];
} model;

static int fam_idx(int family)
{
    return family == AF_INET6;
}

static int ment_cmp_key(const ment *a, const ment *b)
{
    if (a->p.family != b->p.family)
        return fam_idx(a->p.family) - fam_idx(b->p.family);
    if (a->p.len != b->p.len)
        return a->p.len < b->p.len ? -1 : 1;
    return memcmp(a->p.b, b->p.b, 16);
}

static int ment_cmp(const void *va, const void *vb)
{
    const ment *a = va, *b = vb;
    int c = ment_cmp_key(a, b);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Builds the model from entries in insertion order (later ones replace). */
static void model_build(model *m, const ment *ents, size_t n)
{
    m->e = malloc((n ? n : 1) * sizeof(ment));
    assert_non_null(m->e);
    memcpy(m->e, ents, n * sizeof(ment));
    qsort(m->e, n, sizeof(ment), ment_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && ment_cmp_key(&m->e[k - 1], &m->e[i]) == 0)
            m->e[k - 1] = m->e[i];
        else
            m->e[k++] = m->e[i];
    }
    m->n = k;
    memset(m->start, 0, sizeof(m->start));
    memset(m->end, 0, sizeof(m->end));
    for (size_t i = 0; i < k; i++) {
        int f = fam_idx(m->e[i].p.family);
        unsigned l = m->e[i].p.len;
        if (m->end[f][l] == 0)
            m->start[f][l] = i;
        m->end[f][l] = i + 1;
    }
}

static void model_free(model *m)
{
    free(m->e);
    m->e = NULL;
}

/* Index of the entry equal to p, or -1. */
static long model_find(const model *m, const glb_prefix *p)
{
    int f = fam_idx(p->family);
    size_t lo = m->start[f][p->len], hi = m->end[f][p->len];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(m->e[mid].p.b, p->b, 16);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The reference lookup, straight from the definitions: M is the longest
 * prefix with len <= keylen containing the key; the answer is constant on the
 * block key/s iff len(M) <= s and no prefix Q with len(M) < len(Q) <= keylen
 * lies inside the block, i.e. shares s leading bits with the key. So the
 * scope is max(len(M), max cpl(key, Q) + 1 over those Q). Per length the Q
 * sharing the most bits with the key is a sorted neighbour of it. */
static int model_lookup(const model *m, const glb_addr *a, unsigned keylen, glb_lpm_match *out)
{
    int f = fam_idx(a->family);
    unsigned bits = fam_bits(a->family);
    unsigned kl = keylen < bits ? keylen : bits;
    unsigned sc = 0;
    for (int l = (int)kl; l >= 0; l--) {
        size_t s = m->start[f][l], e = m->end[f][l];
        if (s == e)
            continue;
        uint8_t x[16] = {0};
        memcpy(x, a->b, bits / 8);
        mask_bytes(x, (unsigned)l);
        size_t lo = s, hi = e;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (memcmp(m->e[mid].p.b, x, 16) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < e && memcmp(m->e[lo].p.b, x, 16) == 0) {
            out->value = m->e[lo].value;
            out->len = (unsigned)l;
            out->scope = sc > (unsigned)l ? sc : (unsigned)l;
            return 1;
        }
        if (lo < e) {
            unsigned c = cpl_bytes(x, m->e[lo].p.b, (unsigned)l) + 1;
            if (c > sc)
                sc = c;
        }
        if (lo > s) {
            unsigned c = cpl_bytes(x, m->e[lo - 1].p.b, (unsigned)l) + 1;
            if (c > sc)
                sc = c;
        }
    }
    out->value = 0;
    out->len = 0;
    out->scope = sc;
    return 0;
}

/* ---- random prefixes and keys ---- */

static void rnd_bytes(uint8_t *b, int family)
{
    for (unsigned i = 0; i < 16; i += 8) {
        uint64_t r = rnd();
        memcpy(b + i, &r, 8);
    }
    if (family == AF_INET) {
        memset(b + 4, 0, 12);
        unsigned r = rnd_below(4);
        if (r == 0)
            b[0] = 10;
        else if (r == 1)
            b[0] = 192, b[1] = 168;
    } else {
        unsigned r = rnd_below(10);
        if (r < 6)
            b[0] = 0x20, b[1] = 0x01;
        if (r < 3)
            b[2] = 0x0d, b[3] = 0xb8;
    }
}

/* Percent of rnd_prefix's prefixes made host prefixes (/32, /128), keeping
 * their first bits: the host-prefix hash's share of the tests. */
static unsigned host_pct;

/* A random prefix: often derived from an earlier one (longer, a sibling or a
 * covering one) so that nesting and shared paths are common. */
static glb_prefix rnd_prefix(const ment *ents, size_t n)
{
    glb_prefix p;
    memset(&p, 0, sizeof(p));
    unsigned r = rnd_below(100);
    if (n > 0 && r < 45) {
        const glb_prefix *e = &ents[rnd_below((unsigned)n)].p;
        unsigned bits = fam_bits(e->family);
        unsigned sub = rnd_below(10);
        p = *e;
        if (sub < 6 && e->len < bits) {
            unsigned span = bits - e->len < 24 ? bits - e->len : 24;
            uint8_t x[16];
            rnd_bytes(x, e->family);
            uint8_t keep[16];
            memcpy(keep, e->b, 16);
            p.len = e->len + 1 + rnd_below(span);
            for (unsigned i = e->len; i < p.len; i++) {
                unsigned bit = get_bit(x, i);
                if (bit)
                    keep[i / 8] |= (uint8_t)(0x80u >> (i % 8));
            }
            memcpy(p.b, keep, 16);
        } else if (sub < 8 && e->len > 0) {
            p.b[(e->len - 1) / 8] ^= (uint8_t)(0x80u >> ((e->len - 1) % 8));
        } else {
            p.len = rnd_below(e->len + 1);
        }
    } else {
        p.family = rnd_below(2) ? AF_INET6 : AF_INET;
        rnd_bytes(p.b, p.family);
        unsigned lr = rnd_below(20);
        if (p.family == AF_INET)
            p.len = lr == 0 ? rnd_below(33) : 8 + rnd_below(25);
        else
            p.len = lr == 0 ? rnd_below(129) : lr < 14 ? 16 + rnd_below(49) : 65 + rnd_below(64);
    }
    mask_bytes(p.b, p.len);
    if (rnd_below(100) < host_pct) { /* a host below p: random bits after p's */
        uint8_t x[16];
        rnd_bytes(x, p.family);
        unsigned bits = fam_bits(p.family);
        for (unsigned i = p.len; i < bits; i++)
            if (get_bit(x, i))
                p.b[i / 8] |= (uint8_t)(0x80u >> (i % 8));
        p.len = bits;
    }
    return p;
}

static void rnd_key(const ment *ents, size_t n, glb_addr *a, unsigned *keylen)
{
    memset(a, 0, sizeof(*a));
    unsigned r = rnd_below(100);
    unsigned near = 0;
    if (n > 0 && r < 60) {
        const glb_prefix *e = &ents[rnd_below((unsigned)n)].p;
        a->family = e->family;
        uint8_t x[16];
        rnd_bytes(x, e->family);
        unsigned bits = fam_bits(e->family);
        for (unsigned i = 0; i < bits; i++) {
            unsigned bit = i < e->len ? get_bit(e->b, i) : get_bit(x, i);
            if (bit)
                a->b[i / 8] |= (uint8_t)(0x80u >> (i % 8));
        }
        if (r < 20 && e->len > 0) { /* flip a bit inside the prefix */
            unsigned i = rnd_below(e->len);
            a->b[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
        }
        near = e->len;
    } else {
        a->family = rnd_below(2) ? AF_INET6 : AF_INET;
        rnd_bytes(a->b, a->family);
    }
    unsigned bits = fam_bits(a->family);
    unsigned kr = rnd_below(100);
    if (kr < 30)
        *keylen = bits;
    else if (kr < 45)
        *keylen = a->family == AF_INET ? 24 : 56;
    else if (kr < 60 && near > 0) { /* around the prefix's length */
        unsigned k2 = near - 1 + rnd_below(3);
        *keylen = k2 > bits ? bits : k2;
    }
    else if (kr < 62)
        *keylen = bits + 1 + rnd_below(100); /* clamped */
    else
        *keylen = rnd_below(bits + 1);
}

static void compare_lookup(const glb_lpm *t, const model *m, const glb_addr *a, unsigned keylen)
{
    glb_lpm_match got, want;
    memset(&got, 0xee, sizeof(got));
    int rg = glb_lpm_lookup(t, a, keylen, &got);
    int rw = model_lookup(m, a, keylen, &want);
    if (rg != rw || got.scope != want.scope || (rw && (got.value != want.value || got.len != want.len))) {
        char buf[64];
        fail_msg("seed %#llx: lookup %s keylen %u: trie found=%d value=%u len=%u scope=%u; "
                 "model found=%d value=%u len=%u scope=%u",
                 (unsigned long long)test_seed, fmt_bytes(a->family, a->b, buf, sizeof(buf)), keylen,
                 rg, got.value, got.len, got.scope, rw, want.value, want.len, want.scope);
    }
}

typedef struct walk_acc {
    ment *e;
    size_t n, cap;
} walk_acc;

static void walk_collect(void *arg, const glb_prefix *p, uint32_t value)
{
    walk_acc *w = arg;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->e = realloc(w->e, w->cap * sizeof(ment));
        if (!w->e)
            abort();
    }
    ment *e = &w->e[w->n++];
    memset(e, 0, sizeof(*e));
    e->p = *p;
    e->value = value;
}

static void compare_walk(const glb_lpm *t, const model *m)
{
    walk_acc w = {NULL, 0, 0};
    glb_lpm_walk(t, walk_collect, &w);
    assert_int_equal(w.n, m->n);
    if (w.n)
        qsort(w.e, w.n, sizeof(ment), ment_cmp);
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(ment_cmp_key(&w.e[i], &m->e[i]), 0);
        assert_int_equal(w.e[i].value, m->e[i].value);
    }
    free(w.e);
}

#define RAND_PREFIXES 135000 /* about 100,000 unique ones */
#define RAND_LOOKUPS 150000

/* The table's host-prefix hash holds exactly the model's host prefixes. */
static void compare_hosts(const glb_lpm *t, const model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += m->e[i].p.len == fam_bits(m->e[i].p.family);
    assert_int_equal(glb_lpm_hosts(t), n);
}

/* nprefixes random prefixes (host_pct of them hosts) against the model:
 * lookups, walks, removing a random half, putting it back with new values. */
static void vs_model(unsigned nprefixes, size_t min_unique, int nlookups)
{
    ment *ents = malloc(nprefixes * sizeof(ment));
    assert_non_null(ents);
    glb_lpm *t = glb_lpm_new();
    assert_non_null(t);
    for (uint32_t i = 0; i < nprefixes; i++) {
        ents[i].p = rnd_prefix(ents, i);
        ents[i].value = (uint32_t)rnd();
        ents[i].seq = i;
        assert_int_equal(glb_lpm_insert(t, &ents[i].p, ents[i].value), 0);
    }
    model m;
    model_build(&m, ents, nprefixes);
    print_message("lpm random (%u%% hosts): %zu unique of %u prefixes, %.1f bytes/prefix\n", host_pct, m.n,
                  nprefixes, (double)glb_lpm_memory(t) / (double)glb_lpm_count(t));
    assert_int_equal(glb_lpm_count(t), m.n);
    assert_true(m.n >= min_unique);
    compare_walk(t, &m);
    compare_hosts(t, &m);

    glb_addr a;
    unsigned kl;
    for (int i = 0; i < nlookups; i++) {
        rnd_key(ents, nprefixes, &a, &kl);
        compare_lookup(t, &m, &a, kl);
    }

    /* Remove a random half of the unique prefixes (each exactly once). */
    size_t nu = m.n;
    size_t *perm = malloc(nu * sizeof(size_t));
    assert_non_null(perm);
    for (size_t i = 0; i < nu; i++)
        perm[i] = i;
    for (size_t i = nu - 1; i > 0; i--) {
        size_t j = (size_t)(rnd() % (i + 1));
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    ment *keep = malloc(nu * sizeof(ment));
    assert_non_null(keep);
    size_t nk = 0;
    for (size_t i = 0; i < nu; i++) {
        const ment *e = &m.e[perm[i]];
        if (i < nu / 2) {
            assert_int_equal(glb_lpm_remove(t, &e->p), 0);
            assert_int_equal(glb_lpm_remove(t, &e->p), -1);
        } else {
            keep[nk] = *e;
            keep[nk].seq = (uint32_t)nk;
            nk++;
        }
    }
    /* Removing prefixes that are not there fails and changes nothing. */
    for (int i = 0; i < 2000; i++) {
        glb_prefix p = rnd_prefix(ents, nprefixes);
        if (model_find(&m, &p) < 0)
            assert_int_equal(glb_lpm_remove(t, &p), -1);
    }
    model m2;
    model_build(&m2, keep, nk);
    assert_int_equal(glb_lpm_count(t), m2.n);
    compare_walk(t, &m2);
    compare_hosts(t, &m2);
    for (int i = 0; i < nlookups; i++) {
        rnd_key(ents, nprefixes, &a, &kl);
        compare_lookup(t, &m2, &a, kl);
    }

    /* Put the removed half back with new values: same answers as a model of
     * everything. */
    for (size_t i = 0; i < nu / 2; i++) {
        ment *e = &m.e[perm[i]];
        e->value ^= 0x5a5a5a5a;
        assert_int_equal(glb_lpm_insert(t, &e->p, e->value), 0);
    }
    assert_int_equal(glb_lpm_count(t), m.n);
    compare_walk(t, &m);
    compare_hosts(t, &m);
    for (int i = 0; i < nlookups / 3; i++) {
        rnd_key(ents, nprefixes, &a, &kl);
        compare_lookup(t, &m, &a, kl);
    }

    model_free(&m);
    model_free(&m2);
    free(keep);
    free(perm);
    free(ents);
    glb_lpm_free(t);
}

static void test_random_vs_model(void **state)
{
    (void)state;
    seed_rng(1);
    host_pct = 0;
    vs_model(RAND_PREFIXES, 100000, RAND_LOOKUPS);
}

/* Mostly host prefixes, many below shorter ones: the hash grows, loses
 * entries in the middle of probe runs, and sees leaves reused for other
 * prefixes by insert and remove; every answer still the model's. */
static void test_hosts_vs_model(void **state)
{
    (void)state;
    seed_rng(2);
    host_pct = 60;
    vs_model(60000, 40000, RAND_LOOKUPS);
    host_pct = 0;
}

/* The literal definition of the scope, in a small universe: all prefixes
 * lie inside 10.0.0.0/20 (besides 10.0.0.0/8), so for every key of the
 * universe and every keylen the answers of all 4096 addresses are known.
 * The scope s must make the block key/s constant and, when s > 20, the block
 * key/(s-1) not constant; below 20 the whole universe must be constant. The
 * answers themselves are checked by a linear scan. */
#define U_BASE 0x0a000000u
#define U_BITS 12
#define U_SIZE (1u << U_BITS)
#define U_PFX 60

typedef struct uans {
    int found;
    uint32_t value;
    unsigned len;
} uans;

static void test_scope_literal(void **state)
{
    (void)state;
    seed_rng(2);
    for (int round = 0; round < 6; round++) {
        glb_lpm *t = glb_lpm_new();
        uint32_t pk[U_PFX + 1], pv[U_PFX + 1];
        unsigned pl[U_PFX + 1];
        int np = 0;
        if (round & 1) {
            pk[np] = U_BASE;
            pl[np] = 8;
            pv[np] = 1000;
            np++;
        }
        int want = U_PFX / 4 + (int)rnd_below(U_PFX - U_PFX / 4);
        while (np < want) {
            unsigned len = 20 + rnd_below(13);
            uint32_t k = U_BASE | (uint32_t)rnd_below(U_SIZE);
            k &= len == 0 ? 0 : ~(uint32_t)0 << (32 - len);
            int dup = 0;
            for (int i = 0; i < np; i++)
                dup |= pk[i] == k && pl[i] == len;
            if (dup)
                continue;
            pk[np] = k;
            pl[np] = len;
            pv[np] = (uint32_t)np;
            np++;
        }
        for (int i = 0; i < np; i++) {
            glb_prefix p;
            memset(&p, 0, sizeof(p));
            p.family = AF_INET;
            p.len = pl[i];
            uint32_t be = htonl(pk[i]);
            memcpy(p.b, &be, 4);
            assert_int_equal(glb_lpm_insert(t, &p, pv[i]), 0);
        }
        static uans ans[13][U_SIZE];
        static unsigned scope[13][U_SIZE];
        for (unsigned kl = 20; kl <= 32; kl++) {
            for (uint32_t u = 0; u < U_SIZE; u++) {
                uint32_t addr = U_BASE | u;
                glb_addr a;
                memset(&a, 0, sizeof(a));
                a.family = AF_INET;
                uint32_t be = htonl(addr);
                memcpy(a.b, &be, 4);
                glb_lpm_match m;
                uans *w = &ans[kl - 20][u];
                w->found = glb_lpm_lookup(t, &a, kl, &m);
                w->value = m.value;
                w->len = m.len;
                scope[kl - 20][u] = m.scope;
                /* linear brute force */
                int bf = -1;
                for (int i = 0; i < np; i++) {
                    uint32_t mask = ~(uint32_t)0 << (32 - pl[i]);
                    if (pl[i] <= kl && (addr & mask) == pk[i] && (bf < 0 || pl[i] > pl[bf]))
                        bf = i;
                }
                assert_int_equal(w->found, bf >= 0);
                if (bf >= 0) {
                    assert_int_equal(w->value, pv[bf]);
                    assert_int_equal(w->len, pl[bf]);
                }
                assert_true(m.scope <= kl);
            }
        }
        /* cst[s - 20][i]: the answers are constant on block i of length s. */
        static unsigned char cst[13][U_SIZE];
        for (unsigned kl = 20; kl <= 32; kl++) {
            const uans *an = ans[kl - 20];
            for (uint32_t u = 0; u < U_SIZE; u++)
                cst[12][u] = 1;
            for (int s = 31; s >= 20; s--) {
                uint32_t nb = 1u << (s - 20), half = 1u << (31 - s); /* addresses per half */
                for (uint32_t i = 0; i < nb; i++) {
                    const uans *l = &an[(2 * i) * half], *r = &an[(2 * i + 1) * half];
                    cst[s - 20][i] = cst[s - 19][2 * i] && cst[s - 19][2 * i + 1] &&
                                     l->found == r->found && l->value == r->value &&
                                     l->len == r->len;
                }
            }
            for (uint32_t u = 0; u < U_SIZE; u++) {
                unsigned s = scope[kl - 20][u];
                unsigned sb = s < 20 ? 20 : s;
                if (!cst[sb - 20][u >> (32 - sb)])
                    fail_msg("scope %u of 10.0.%u.%u/%u not constant", s, u >> 8, u & 255, kl);
                if (s > 20 && cst[s - 21][u >> (33 - s)])
                    fail_msg("scope %u of 10.0.%u.%u/%u not minimal", s, u >> 8, u & 255, kl);
            }
        }
        glb_lpm_free(t);
    }
}

/* Insert/remove churn must reuse freed nodes: the trie of a set has one
 * shape whatever the order, so memory stays where the first round left it. */
static void test_churn(void **state)
{
    (void)state;
    seed_rng(3);
    enum { N = 20000 };
    ment *ents = malloc(N * sizeof(ment));
    assert_non_null(ents);
    for (uint32_t i = 0; i < N; i++) {
        ents[i].p = rnd_prefix(ents, i);
        ents[i].value = i;
        ents[i].seq = i;
    }
    glb_lpm *t = glb_lpm_new();
    size_t mem1 = 0;
    for (int round = 0; round < 8; round++) {
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)(rnd() % (i + 1));
            ment tmp = ents[i];
            ents[i] = ents[j];
            ents[j] = tmp;
        }
        for (size_t i = 0; i < N; i++)
            assert_int_equal(glb_lpm_insert(t, &ents[i].p, ents[i].value), 0);
        if (round == 0)
            mem1 = glb_lpm_memory(t);
        assert_int_equal(glb_lpm_memory(t), mem1);
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)(rnd() % (i + 1));
            ment tmp = ents[i];
            ents[i] = ents[j];
            ents[j] = tmp;
        }
        for (size_t i = 0; i < N; i++) {
            int r = glb_lpm_remove(t, &ents[i].p);
            assert_true(r == 0 || r == -1); /* duplicates go once */
        }
        assert_int_equal(glb_lpm_count(t), 0);
        walk_n = 0;
        glb_lpm_walk(t, walk_count, NULL);
        assert_int_equal(walk_n, 0);
        glb_addr a;
        unsigned kl;
        glb_lpm_match mm;
        rnd_key(ents, N, &a, &kl);
        assert_int_equal(glb_lpm_lookup(t, &a, kl, &mm), 0);
        assert_int_equal(mm.scope, 0);
    }
    free(ents);
    glb_lpm_free(t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One million random prefixes, half v4 (mostly /24, 8..32) and half v6
 * (mostly /48, 16..64, a few /128): bytes per stored prefix, and lookups. */
#define BIG_N 1000000
#define BIG_LOOKUPS 1000000

static void test_million(void **state)
{
    (void)state;
    seed_rng(4);
    glb_lpm *t = glb_lpm_new();
    assert_non_null(t);
    glb_prefix *ps = malloc(BIG_N * sizeof(glb_prefix));
    assert_non_null(ps);
    double t0 = now_s();
    for (int i = 0; i < BIG_N; i++) {
        glb_prefix *p = &ps[i];
        memset(p, 0, sizeof(*p));
        uint64_t r1 = rnd(), r2 = rnd();
        memcpy(p->b, &r1, 8);
        memcpy(p->b + 8, &r2, 8);
        unsigned lr = rnd_below(100);
        if (i & 1) {
            p->family = AF_INET;
            p->len = lr < 50 ? 24 : 8 + rnd_below(25);
        } else {
            p->family = AF_INET6;
            p->len = lr < 30 ? 48 : lr < 95 ? 16 + rnd_below(49) : 128;
        }
        mask_bytes(p->b, p->len);
        assert_int_equal(glb_lpm_insert(t, p, (uint32_t)i), 0);
    }
    double t1 = now_s();
    size_t n = glb_lpm_count(t), mem = glb_lpm_memory(t);
    double bpp = (double)mem / (double)n;
    print_message("lpm 1M: %zu unique prefixes, %zu bytes, %.1f bytes/prefix, insert %.0f ns/op\n",
                  n, mem, bpp, (t1 - t0) * 1e9 / BIG_N);
    assert_true(bpp < 64.0);

    glb_addr *keys = malloc(4096 * sizeof(glb_addr));
    assert_non_null(keys);
    for (int i = 0; i < 4096; i++) {
        const glb_prefix *p = &ps[rnd_below(BIG_N)];
        keys[i].family = p->family;
        uint64_t r1 = rnd(), r2 = rnd();
        memcpy(keys[i].b, &r1, 8);
        memcpy(keys[i].b + 8, &r2, 8);
        if (i & 1)
            memcpy(keys[i].b, p->b, p->len / 8); /* often inside a prefix */
        if (p->family == AF_INET)
            memset(keys[i].b + 4, 0, 12);
    }
    unsigned long hits = 0;
    double t2 = now_s();
    for (int i = 0; i < BIG_LOOKUPS; i++) {
        glb_lpm_match m;
        const glb_addr *a = &keys[i & 4095];
        hits += (unsigned long)glb_lpm_lookup(t, a, a->family == AF_INET ? 32 : 128, &m);
    }
    double t3 = now_s();
    print_message("lpm 1M: lookup %.0f ns/op (%lu hits of %d)\n", (t3 - t2) * 1e9 / BIG_LOOKUPS,
                  hits, BIG_LOOKUPS);
    free(keys);
    free(ps);
    glb_lpm_free(t);
}

int main(void)
{
    const char *s = getenv("GLB_TEST_SEED");
    if (s && *s)
        test_seed = strtoull(s, NULL, 0);
    printf("test_lpm: seed %#llx (set GLB_TEST_SEED to change)\n", (unsigned long long)test_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_default_route),
        cmocka_unit_test(test_host_prefixes),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_family_separation),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_walk_small),
        cmocka_unit_test(test_random_vs_model),
        cmocka_unit_test(test_hosts_vs_model),
        cmocka_unit_test(test_scope_literal),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
