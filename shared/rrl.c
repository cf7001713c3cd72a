/* Response rate limiting: a lock-free, fixed-size table of GCRA buckets.
 * The design is in rrl.h. SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shared/rrl.h"

#define SET_WAYS   8                 /* words per set: one cache line */
#define TAT_BITS   44
#define TAT_MASK   ((UINT64_C(1) << TAT_BITS) - 1)
#define TAG_MASK   UINT64_C(0xFFFFF) /* 20 bits */
#define UNIT_SHIFT 10                /* time unit: 2^10 ns */
#define UNITS_PER_S (1000000000.0 / (1 << UNIT_SHIFT))
#define CAS_TRIES  4

struct glb_rrl {
    _Atomic uint64_t *words;  /* nsets * SET_WAYS, cache-line aligned */
    uint64_t nsets;           /* a power of two */
    uint64_t interval;        /* T: time units per response (1/rate) */
    uint64_t tolerance;       /* tau: burst * T */
    uint64_t epoch_ns;        /* creation: time 0 of the TATs */
    uint64_t k0, k1;          /* the hash key */
    unsigned slip, v4, v6;
};

uint64_t glb_rrl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

glb_rrl *glb_rrl_new(const glb_rrl_cfg *cfg, int *err)
{
    *err = 0;
    if (!cfg->rate)
        return NULL;
    glb_rrl *r = calloc(1, sizeof *r);
    if (!r) {
        *err = ENOMEM;
        return NULL;
    }
    unsigned rate = cfg->rate > GLB_RRL_RATE_MAX ? GLB_RRL_RATE_MAX : cfg->rate;
    unsigned burst = cfg->burst ? cfg->burst : rate;
    uint64_t slots = SET_WAYS, want = cfg->slots ? cfg->slots : GLB_RRL_SLOTS;
    while (slots < want && slots < (UINT64_C(1) << 30))
        slots <<= 1;
    r->nsets = slots / SET_WAYS;
    r->interval = (uint64_t)(UNITS_PER_S / rate + 0.5);
    if (r->interval == 0)
        r->interval = 1;
    r->tolerance = r->interval * burst;
    r->slip = cfg->slip;
    r->v4 = cfg->v4_prefix && cfg->v4_prefix <= 32 ? cfg->v4_prefix : GLB_RRL_DEFAULT_V4;
    r->v6 = cfg->v6_prefix && cfg->v6_prefix <= 128 ? cfg->v6_prefix : GLB_RRL_DEFAULT_V6;
    r->words = aligned_alloc(64, slots * sizeof *r->words);
    if (!r->words) {
        free(r);
        *err = ENOMEM;
        return NULL;
    }
    for (uint64_t i = 0; i < slots; i++)
        atomic_init(&r->words[i], 0);
    uint64_t key[2] = {0, 0};
    if (getrandom(key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        struct timespec ts; /* no entropy yet: a weaker key is better than none */
        clock_gettime(CLOCK_REALTIME, &ts);
        key[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)ts.tv_sec;
        key[1] = (uint64_t)(uintptr_t)r * UINT64_C(0xC2B2AE3D27D4EB4F);
    }
    r->k0 = key[0];
    r->k1 = key[1];
    r->epoch_ns = glb_rrl_now();
    return r;
}

void glb_rrl_free(glb_rrl *r)
{
    if (!r)
        return;
    free(r->words);
    free(r);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 33;
    h *= UINT64_C(0xC4CEB9FE1A85EC53);
    h ^= h >> 33;
    return h;
}

/* A keyed hash of from's prefix (family and masked address bits). */
static uint64_t prefix_hash(const glb_rrl *r, const glb_addr *from)
{
    uint8_t b[16] = {0};
    size_t n = from->family == AF_INET ? 4 : 16;
    memcpy(b, from->b, n);
    glb_mask_bits(b, n, from->family == AF_INET ? r->v4 : r->v6);
    uint64_t lo, hi;
    memcpy(&lo, b, 8);
    memcpy(&hi, b + 8, 8);
    uint64_t h = mix(r->k0 ^ (uint64_t)(from->family == AF_INET ? 4 : 6));
    h = mix(h ^ lo ^ r->k1);
    h = mix(h ^ hi);
    return h;
}

/* How far in the future (0..tolerance) a bucket's TAT lies at t: its debt.
 * A TAT in the past, or one that cannot be (a word from before the 44-bit
 * clock wrapped), is a full bucket: 0. */
static uint64_t debt(const glb_rrl *r, uint64_t word, uint64_t t)
{
    uint64_t d = ((word & TAT_MASK) - t) & TAT_MASK;
    return d <= r->tolerance ? d : 0;
}

enum glb_rrl_verdict glb_rrl_check(glb_rrl *r, const glb_addr *from, uint64_t now_ns, unsigned *slipctr)
{
    if (!r || (from->family != AF_INET && from->family != AF_INET6))
        return GLB_RRL_PASS;
    uint64_t h = prefix_hash(r, from);
    uint64_t tag = (h >> 40) & TAG_MASK;
    if (tag == 0)
        tag = 1; /* 0 is an empty word */
    _Atomic uint64_t *set = &r->words[(h & (r->nsets - 1)) * SET_WAYS];
    uint64_t t = ((now_ns - r->epoch_ns) >> UNIT_SHIFT) & TAT_MASK;

    for (int attempt = 0; attempt < CAS_TRIES; attempt++) {
        unsigned idx = SET_WAYS, victim = 0;
        uint64_t old = 0, vold = 0, vdebt = UINT64_MAX;
        for (unsigned i = 0; i < SET_WAYS; i++) {
            uint64_t w = atomic_load_explicit(&set[i], memory_order_relaxed);
            if (w && (w >> TAT_BITS) == tag) {
                idx = i;
                old = w;
                break;
            }
            uint64_t dw = w ? debt(r, w, t) : 0;
            if (dw < vdebt) { /* an empty or full bucket (0) is taken first */
                vdebt = dw;
                victim = i;
                vold = w;
            }
        }
        uint64_t d = 0;
        if (idx == SET_WAYS) { /* not there: a fresh, full bucket in the victim's word */
            idx = victim;
            old = vold;
        } else {
            d = debt(r, old, t);
        }
        if (d + r->interval > r->tolerance) { /* over the rate: the bucket is left as it is */
            unsigned n = ++*slipctr;
            return r->slip && n % r->slip == 0 ? GLB_RRL_SLIP : GLB_RRL_DROP;
        }
        uint64_t nw = (tag << TAT_BITS) | ((t + d + r->interval) & TAT_MASK);
        if (atomic_compare_exchange_weak_explicit(&set[idx], &old, nw, memory_order_relaxed,
                                                  memory_order_relaxed))
            return GLB_RRL_PASS;
    }
    return GLB_RRL_PASS; /* contended: fail open rather than spin */
}
