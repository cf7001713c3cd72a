/* DNS-LB registrations and the left-right mapping queries read.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/registry.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/lpm.h"
#include "shared/nametab.h"

#define SETBIT 0x80000000u /* an lpm value naming a set of DNS-LBs, not one */
#define CLONE_MIN_OPS 64   /* below this, a commit applies its changes to both copies */

/* One copy of the query side. */
struct dnsb_map {
    glb_lpm *lpm;          /* prefix -> slot, or SETBIT | set index */
    uint32_t **sets;       /* set = {n, slot...}, slots ordered by id */
    size_t nsets;
    uint32_t *free_sets;
    size_t nfree;
    dnsb_lb *lbs;          /* by slot */
    size_t caplbs;
    uint32_t *by_id;       /* used slots ordered by id, for label lookups */
    size_t nby_id;
};

enum op_kind { OP_LB_SET, OP_LB_DEL, OP_CLAIM_ADD, OP_CLAIM_DEL };

typedef struct op {
    int kind;
    uint32_t slot;
    glb_prefix p;          /* claims */
    dnsb_lb *lb;           /* OP_LB_SET: the record to copy */
} op;

typedef struct entry {
    dnsb_reg reg;          /* claims point to owned */
    glb_prefix *owned;
    dnsb_ranking *rankings;
    size_t nrankings;
    int used;
} entry;

struct dnsb_registry {
    glb_qsbr *qsbr;
    dnsb_map *side[2];
    _Atomic(dnsb_map *) live;
    int cur;               /* index of the live side */
    entry *entries;        /* by slot */
    size_t nentries;
    glb_nametab *ids;      /* id -> slot (a slot stays with its id) */
    op *ops;               /* changes waiting for publication */
    size_t nops, capops;
    void **garbage;        /* freed once neither side refers to them */
    size_t ngarbage, capgarbage;
    int batching;
    size_t nregs, nmappings;
};

/* --- one side ------------------------------------------------------------ */

static dnsb_map *map_new(void)
{
    dnsb_map *m = calloc(1, sizeof(*m));
    if (m && !(m->lpm = glb_lpm_new())) {
        free(m);
        return NULL;
    }
    return m;
}

static void map_free(dnsb_map *m)
{
    if (!m)
        return;
    glb_lpm_free(m->lpm);
    for (size_t i = 0; i < m->nsets; i++)
        free(m->sets[i]);
    free(m->sets);
    free(m->free_sets);
    free(m->lbs);
    free(m->by_id);
    free(m);
}

/* An identical copy of m: its own table, sets and records (the rankings they
 * point to are shared and immutable). NULL when out of memory. */
static dnsb_map *map_clone(const dnsb_map *m)
{
    dnsb_map *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->lpm = glb_lpm_clone(m->lpm);
    c->sets = calloc(m->nsets ? m->nsets : 1, sizeof(*c->sets));
    c->free_sets = malloc((m->nsets ? m->nsets : 1) * sizeof(*c->free_sets));
    c->lbs = calloc(m->caplbs ? m->caplbs : 1, sizeof(*c->lbs));
    c->by_id = malloc((m->caplbs ? m->caplbs : 1) * sizeof(*c->by_id));
    if (!c->lpm || !c->sets || !c->free_sets || !c->lbs || !c->by_id)
        goto fail;
    for (c->nsets = 0; c->nsets < m->nsets; c->nsets++) {
        const uint32_t *set = m->sets[c->nsets];
        if (set) { /* NULL: a released index */
            size_t sz = ((size_t)set[0] + 1) * sizeof(*set);
            if (!(c->sets[c->nsets] = malloc(sz)))
                goto fail;
            memcpy(c->sets[c->nsets], set, sz);
        }
    }
    /* An array never grown is NULL: memcpy wants a pointer even for 0 bytes. */
    if (m->nfree)
        memcpy(c->free_sets, m->free_sets, m->nfree * sizeof(*c->free_sets));
    c->nfree = m->nfree;
    if (m->caplbs)
        memcpy(c->lbs, m->lbs, m->caplbs * sizeof(*c->lbs));
    c->caplbs = m->caplbs;
    if (m->nby_id)
        memcpy(c->by_id, m->by_id, m->nby_id * sizeof(*c->by_id));
    c->nby_id = m->nby_id;
    return c;
fail:
    map_free(c);
    return NULL;
}

static int id_cmp(const dnsb_map *m, uint32_t a, uint32_t b)
{
    return strcmp(m->lbs[a].id, m->lbs[b].id);
}

static int map_lb_set(dnsb_map *m, uint32_t slot, const dnsb_lb *lb)
{
    if (slot >= m->caplbs) {
        size_t cap = m->caplbs ? m->caplbs : 16;
        while (cap <= slot)
            cap *= 2;
        dnsb_lb *n = realloc(m->lbs, cap * sizeof(*n));
        uint32_t *b = realloc(m->by_id, cap * sizeof(*b));
        if (b)
            m->by_id = b;
        if (!n || !b) {
            if (n)
                m->lbs = n;
            return -1;
        }
        memset(n + m->caplbs, 0, (cap - m->caplbs) * sizeof(*n));
        m->lbs = n;
        m->caplbs = cap;
    }
    int was_used = m->lbs[slot].used;
    m->lbs[slot] = *lb;
    m->lbs[slot].used = 1;
    if (!was_used) { /* into the id order */
        size_t i = m->nby_id;
        while (i > 0 && id_cmp(m, m->by_id[i - 1], slot) > 0) {
            m->by_id[i] = m->by_id[i - 1];
            i--;
        }
        m->by_id[i] = slot;
        m->nby_id++;
    }
    return 0;
}

static void map_lb_del(dnsb_map *m, uint32_t slot)
{
    if (slot >= m->caplbs || !m->lbs[slot].used)
        return;
    for (size_t i = 0; i < m->nby_id; i++)
        if (m->by_id[i] == slot) {
            memmove(m->by_id + i, m->by_id + i + 1, (m->nby_id - i - 1) * sizeof(*m->by_id));
            m->nby_id--;
            break;
        }
    memset(&m->lbs[slot], 0, sizeof(m->lbs[slot]));
}

static int exact_get(const dnsb_map *m, const glb_prefix *p, uint32_t *v)
{
    glb_addr a = {p->family, 0, {0}};
    memcpy(a.b, p->b, sizeof(a.b));
    glb_lpm_match mt;
    if (glb_lpm_lookup(m->lpm, &a, p->len, &mt) && mt.len == p->len) {
        *v = mt.value;
        return 1;
    }
    return 0;
}

static long set_new(dnsb_map *m, uint32_t *set)
{
    if (m->nfree) {
        uint32_t i = m->free_sets[--m->nfree];
        m->sets[i] = set;
        return i;
    }
    uint32_t **n = realloc(m->sets, (m->nsets + 1) * sizeof(*n));
    uint32_t *f = realloc(m->free_sets, (m->nsets + 1) * sizeof(*f));
    if (n)
        m->sets = n;
    if (f)
        m->free_sets = f;
    if (!n || !f)
        return -1;
    m->sets[m->nsets] = set;
    return (long)m->nsets++;
}

static void set_release(dnsb_map *m, uint32_t i)
{
    free(m->sets[i]);
    m->sets[i] = NULL;
    m->free_sets[m->nfree++] = i;
}

/* Inserts slot into the id-ordered set (capacity already there). */
static void set_insert(const dnsb_map *m, uint32_t *set, uint32_t slot)
{
    uint32_t n = set[0];
    uint32_t i = n;
    while (i > 0 && id_cmp(m, set[i], slot) > 0) {
        set[i + 1] = set[i];
        i--;
    }
    set[i + 1] = slot;
    set[0] = n + 1;
}

static int map_claim_add(dnsb_map *m, const glb_prefix *p, uint32_t slot)
{
    uint32_t v;
    if (!exact_get(m, p, &v))
        return glb_lpm_insert(m->lpm, p, slot);
    if (!(v & SETBIT)) {
        if (v == slot)
            return 0;
        uint32_t *set = malloc(3 * sizeof(*set));
        if (!set)
            return -1;
        set[0] = 1;
        set[1] = v;
        set_insert(m, set, slot);
        long i = set_new(m, set);
        if (i < 0) {
            free(set);
            return -1;
        }
        return glb_lpm_insert(m->lpm, p, SETBIT | (uint32_t)i);
    }
    uint32_t *set = m->sets[v & ~SETBIT];
    for (uint32_t k = 1; k <= set[0]; k++)
        if (set[k] == slot)
            return 0;
    if (set[0] >= DNSB_LB_MAX_SET)
        return 0; /* enough boxes for one prefix: the rest are not answered */
    /* This copy is invisible to queries: change it in place. */
    uint32_t *grown = realloc(set, (set[0] + 2) * sizeof(*set));
    if (!grown)
        return -1;
    set_insert(m, grown, slot);
    m->sets[v & ~SETBIT] = grown;
    return 0;
}

static void map_claim_del(dnsb_map *m, const glb_prefix *p, uint32_t slot)
{
    uint32_t v;
    if (!exact_get(m, p, &v))
        return;
    if (!(v & SETBIT)) {
        if (v == slot)
            glb_lpm_remove(m->lpm, p);
        return;
    }
    uint32_t *set = m->sets[v & ~SETBIT];
    uint32_t n = set[0], k = 1;
    while (k <= n && set[k] != slot)
        k++;
    if (k > n)
        return;
    memmove(set + k, set + k + 1, (n - k) * sizeof(*set));
    set[0] = --n;
    if (n == 1) {
        uint32_t only = set[1];
        set_release(m, v & ~SETBIT);
        glb_lpm_insert(m->lpm, p, only); /* replaces: never fails for lack of memory */
    }
}

static int map_apply(dnsb_map *m, const op *o)
{
    switch (o->kind) {
    case OP_LB_SET:
        return map_lb_set(m, o->slot, o->lb);
    case OP_LB_DEL:
        map_lb_del(m, o->slot);
        return 0;
    case OP_CLAIM_ADD:
        return map_claim_add(m, &o->p, o->slot);
    case OP_CLAIM_DEL:
        map_claim_del(m, &o->p, o->slot);
        return 0;
    }
    return 0;
}

/* --- query side -------------------------------------------------------- */

size_t dnsb_map_lookup(const dnsb_map *m, const glb_addr *a, unsigned keylen, unsigned *scope,
                       uint32_t slots[DNSB_LB_MAX_SET])
{
    glb_lpm_match mt;
    int found = glb_lpm_lookup(m->lpm, a, keylen, &mt);
    *scope = mt.scope;
    if (!found)
        return 0;
    if (!(mt.value & SETBIT)) {
        slots[0] = mt.value;
        return 1;
    }
    const uint32_t *set = m->sets[mt.value & ~SETBIT];
    size_t n = set[0] < DNSB_LB_MAX_SET ? set[0] : DNSB_LB_MAX_SET;
    memcpy(slots, set + 1, n * sizeof(*slots));
    return n;
}

const dnsb_lb *dnsb_map_lb(const dnsb_map *m, uint32_t slot)
{
    return &m->lbs[slot];
}

long dnsb_map_find(const dnsb_map *m, const uint8_t *label)
{
    size_t lo = 0, hi = m->nby_id, n = label[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *id = m->lbs[m->by_id[mid]].id;
        /* labels compare without case; ids are lower case */
        int c = 0;
        size_t i = 0;
        for (; i < n && id[i]; i++) {
            uint8_t x = label[1 + i];
            x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32) : x;
            if ((uint8_t)id[i] != x) {
                c = (uint8_t)id[i] < x ? -1 : 1;
                break;
            }
        }
        if (c == 0)
            c = id[i] ? 1 : (i < n ? -1 : 0);
        if (c == 0)
            return m->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* --- writer side --------------------------------------------------------- */

dnsb_registry *dnsb_registry_new(glb_qsbr *qsbr)
{
    dnsb_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->qsbr = qsbr;
    r->side[0] = map_new();
    r->side[1] = map_new();
    r->ids = glb_nametab_new();
    if (!r->side[0] || !r->side[1] || !r->ids) {
        dnsb_registry_free(r);
        return NULL;
    }
    atomic_store(&r->live, r->side[0]);
    return r;
}

static void free_rankings(dnsb_ranking *rk, size_t n)
{
    for (size_t i = 0; rk && i < n; i++)
        free(rk[i].sites);
    free(rk);
}

void dnsb_registry_free(dnsb_registry *r)
{
    if (!r)
        return;
    map_free(r->side[0]);
    map_free(r->side[1]);
    for (size_t i = 0; i < r->nentries; i++) {
        free(r->entries[i].owned);
        free_rankings(r->entries[i].rankings, r->entries[i].nrankings);
    }
    for (size_t i = 0; i < r->nops; i++)
        free(r->ops[i].lb);
    for (size_t i = 0; i < r->ngarbage; i++)
        free(r->garbage[i]);
    free(r->garbage);
    free(r->entries);
    free(r->ops);
    glb_nametab_free(r->ids);
    free(r);
}

_Atomic(dnsb_map *) *dnsb_registry_slot(dnsb_registry *r)
{
    return &r->live;
}

static int push_op(dnsb_registry *r, op o)
{
    if (r->nops == r->capops) {
        size_t cap = r->capops ? r->capops * 2 : 64;
        op *n = realloc(r->ops, cap * sizeof(*n));
        if (!n)
            return -1;
        r->ops = n;
        r->capops = cap;
    }
    r->ops[r->nops++] = o;
    return 0;
}

static int push_garbage(dnsb_registry *r, void *p)
{
    if (!p)
        return 0;
    if (r->ngarbage == r->capgarbage) {
        size_t cap = r->capgarbage ? r->capgarbage * 2 : 16;
        void **n = realloc(r->garbage, cap * sizeof(*n));
        if (!n)
            return -1;
        r->garbage = n;
        r->capgarbage = cap;
    }
    r->garbage[r->ngarbage++] = p;
    return 0;
}

/* Publishes the waiting changes: to the hidden copy, swap, wait, to the other.
 * A batch that changes much of the table (the store's load at start: a
 * million claims) is applied once: the other copy is then replaced by a clone
 * of the published one, a copy of memory instead of every change again. */
static int commit(dnsb_registry *r)
{
    int rc = 0;
    dnsb_map *hidden = r->side[1 - r->cur];
    for (size_t i = 0; i < r->nops; i++)
        rc |= map_apply(hidden, &r->ops[i]);
    atomic_store_explicit(&r->live, hidden, memory_order_release);
    r->cur = 1 - r->cur;
    glb_qsbr_synchronize(r->qsbr);
    dnsb_map *old = r->side[1 - r->cur];
    dnsb_map *clone = NULL;
    if (!rc && r->nops >= CLONE_MIN_OPS && r->nops >= glb_lpm_count(hidden->lpm) / 8)
        clone = map_clone(hidden); /* hidden is read-only now: readers only read it too */
    if (clone) {
        map_free(old);
        r->side[1 - r->cur] = clone;
    }
    for (size_t i = 0; i < r->nops; i++) {
        if (!clone)
            rc |= map_apply(old, &r->ops[i]);
        free(r->ops[i].lb);
    }
    r->nops = 0;
    for (size_t i = 0; i < r->ngarbage; i++)
        free(r->garbage[i]);
    r->ngarbage = 0;
    return rc ? -1 : 0;
}

static long slot_of(dnsb_registry *r, const char *id, int create)
{
    uint32_t slot;
    if (glb_nametab_get(r->ids, (const uint8_t *)id, strlen(id), &slot))
        return slot;
    if (!create)
        return -1;
    entry *n = realloc(r->entries, (r->nentries + 1) * sizeof(*n));
    if (!n)
        return -1;
    r->entries = n;
    memset(&r->entries[r->nentries], 0, sizeof(*n));
    if (glb_nametab_add(r->ids, (const uint8_t *)id, strlen(id), (uint32_t)r->nentries) != 0)
        return -1;
    return (long)r->nentries++;
}

static dnsb_lb *lb_record(const entry *e)
{
    dnsb_lb *lb = calloc(1, sizeof(*lb));
    if (!lb)
        return NULL;
    const dnsb_reg *g = &e->reg;
    size_t n = strlen(g->id);
    memcpy(lb->id, g->id, n + 1);
    lb->label[0] = (uint8_t)n;
    memcpy(lb->label + 1, g->id, n);
    lb->ndns = (uint8_t)(g->ndns < DNSB_LB_MAX_ADDRS ? g->ndns : DNSB_LB_MAX_ADDRS);
    memcpy(lb->dns, g->dns, lb->ndns * sizeof(*lb->dns));
    lb->nproxy = (uint8_t)(g->nproxy < DNSB_LB_MAX_ADDRS ? g->nproxy : DNSB_LB_MAX_ADDRS);
    memcpy(lb->proxy, g->proxy, lb->nproxy * sizeof(*lb->proxy));
    lb->rankings = e->rankings;
    lb->nrankings = e->nrankings;
    return lb;
}

static int finish_change(dnsb_registry *r)
{
    return r->batching ? 0 : commit(r);
}

int dnsb_registry_put(dnsb_registry *r, const dnsb_reg *reg)
{
    long slot = slot_of(r, reg->id, 1);
    if (slot < 0)
        return -1;
    entry *e = &r->entries[slot];
    if (e->used && !reg->is_static && !e->reg.is_static && reg->sequence <= e->reg.sequence)
        return -2;
    glb_prefix *claims = malloc((reg->nclaims + 1) * sizeof(*claims));
    if (!claims)
        return -1;
    if (reg->nclaims) { /* claims may be NULL when there are none */
        memcpy(claims, reg->claims, reg->nclaims * sizeof(*claims));
        qsort(claims, reg->nclaims, sizeof(*claims), glb_prefix_cmp);
    }
    size_t n = 0; /* without duplicates */
    for (size_t i = 0; i < reg->nclaims; i++)
        if (n == 0 || glb_prefix_cmp(&claims[n - 1], &claims[i]) != 0)
            claims[n++] = claims[i];

    size_t mark = r->nops;
    entry next = *e;
    next.reg = *reg;
    next.reg.claims = claims;
    next.reg.nclaims = n;
    next.owned = claims;
    next.used = 1;
    dnsb_lb *lb = lb_record(&next);
    int rc = lb ? push_op(r, (op){OP_LB_SET, (uint32_t)slot, {0, 0, {0}}, lb}) : -1;
    if (rc != 0)
        free(lb);
    /* The difference of two sorted claim lists. */
    const glb_prefix *old = e->used ? e->reg.claims : NULL;
    size_t nold = e->used ? e->reg.nclaims : 0, i = 0, j = 0;
    while (rc == 0 && (i < nold || j < n)) {
        int c = i == nold ? 1 : j == n ? -1 : glb_prefix_cmp(&old[i], &claims[j]);
        if (c < 0)
            rc = push_op(r, (op){OP_CLAIM_DEL, (uint32_t)slot, old[i++], NULL});
        else if (c > 0)
            rc = push_op(r, (op){OP_CLAIM_ADD, (uint32_t)slot, claims[j++], NULL});
        else
            i++, j++;
    }
    if (rc != 0) { /* undo what was queued for this change */
        while (r->nops > mark)
            free(r->ops[--r->nops].lb);
        free(claims);
        return -1;
    }
    r->nmappings += n;
    r->nmappings -= nold;
    r->nregs += !e->used;
    push_garbage(r, e->owned);
    *e = next;
    return finish_change(r);
}

int dnsb_registry_remove(dnsb_registry *r, const char *id)
{
    long slot = slot_of(r, id, 0);
    if (slot < 0 || !r->entries[slot].used)
        return -1;
    entry *e = &r->entries[slot];
    for (size_t i = 0; i < e->reg.nclaims; i++)
        if (push_op(r, (op){OP_CLAIM_DEL, (uint32_t)slot, e->reg.claims[i], NULL}) != 0)
            return -1;
    if (push_op(r, (op){OP_LB_DEL, (uint32_t)slot, {0, 0, {0}}, NULL}) != 0)
        return -1;
    r->nmappings -= e->reg.nclaims;
    r->nregs--;
    push_garbage(r, e->owned);
    if (e->rankings) { /* the rankings array and its site lists */
        for (size_t k = 0; k < e->nrankings; k++)
            push_garbage(r, e->rankings[k].sites);
        push_garbage(r, e->rankings);
    }
    memset(e, 0, sizeof(*e));
    return finish_change(r);
}

int dnsb_registry_set_rankings(dnsb_registry *r, const char *id, dnsb_ranking *rk, size_t n)
{
    long slot = slot_of(r, id, 0);
    if (slot < 0 || !r->entries[slot].used) {
        free_rankings(rk, n);
        return -1;
    }
    entry *e = &r->entries[slot];
    dnsb_ranking *old = e->rankings;
    size_t nold = e->nrankings;
    e->rankings = rk;
    e->nrankings = n;
    dnsb_lb *lb = lb_record(e);
    if (!lb || push_op(r, (op){OP_LB_SET, (uint32_t)slot, {0, 0, {0}}, lb}) != 0) {
        free(lb);
        e->rankings = old;
        e->nrankings = nold;
        free_rankings(rk, n);
        return -1;
    }
    for (size_t k = 0; old && k < nold; k++)
        push_garbage(r, old[k].sites);
    push_garbage(r, old);
    return finish_change(r);
}

size_t dnsb_registry_expire(dnsb_registry *r, double now)
{
    size_t n = 0;
    int was = r->batching;
    r->batching = 1;
    for (size_t i = 0; i < r->nentries; i++) {
        entry *e = &r->entries[i];
        if (e->used && !e->reg.is_static && e->reg.expires > 0 && e->reg.expires <= now &&
            dnsb_registry_remove(r, e->reg.id) == 0)
            n++;
    }
    r->batching = was;
    if (n && !was)
        commit(r);
    return n;
}

void dnsb_registry_batch_begin(dnsb_registry *r)
{
    r->batching = 1;
}

int dnsb_registry_batch_end(dnsb_registry *r)
{
    r->batching = 0;
    return commit(r);
}

void dnsb_registry_walk(const dnsb_registry *r, void (*fn)(void *arg, const dnsb_reg *reg), void *arg)
{
    for (size_t i = 0; i < r->nentries; i++)
        if (r->entries[i].used)
            fn(arg, &r->entries[i].reg);
}

const dnsb_reg *dnsb_registry_get(const dnsb_registry *r, const char *id)
{
    uint32_t slot;
    if (!glb_nametab_get(r->ids, (const uint8_t *)id, strlen(id), &slot) || !r->entries[slot].used)
        return NULL;
    return &r->entries[slot].reg;
}

void dnsb_registry_counts(const dnsb_registry *r, size_t *regs, size_t *mappings, size_t *map_bytes)
{
    *regs = r->nregs;
    *mappings = r->nmappings;
    const dnsb_map *m = r->side[r->cur];
    *map_bytes = glb_lpm_memory(m->lpm) + m->caplbs * sizeof(dnsb_lb) + m->caplbs * sizeof(uint32_t) +
                 m->nsets * sizeof(uint32_t *);
}
