/* Unit tests for dnsb/registry: the left-right mapping against a brute-force
 * model, sequence rules, expiry, label lookups, and readers running while the
 * writer churns (under ASan a use-after-free would show). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsb/registry.h"
#include "shared/qsbr.h"

static glb_prefix pfx(const char *s)
{
    glb_prefix p;
    const char *why;
    if (glb_prefix_parse(s, &p, &why) != 0)
        fail_msg("bad prefix %s: %s", s, why);
    return p;
}

static dnsb_reg reg_of(const char *id, uint64_t seq, const glb_prefix *claims, size_t n)
{
    dnsb_reg r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", id);
    glb_addr_parse("127.0.0.42", &r.dns[0]);
    r.ndns = 1;
    r.claims = claims;
    r.nclaims = n;
    r.sequence = seq;
    return r;
}

static size_t look(dnsb_registry *r, const char *addr, unsigned keylen, char out[][64])
{
    glb_addr a;
    assert_int_equal(glb_addr_parse(addr, &a), 0);
    const dnsb_map *m = atomic_load(dnsb_registry_slot(r));
    uint32_t slots[DNSB_LB_MAX_SET];
    unsigned scope;
    size_t n = dnsb_map_lookup(m, &a, keylen ? keylen : (a.family == AF_INET ? 32 : 128), &scope, slots);
    for (size_t i = 0; i < n; i++)
        snprintf(out[i], 64, "%s", dnsb_map_lb(m, slots[i])->id);
    return n;
}

static void test_basic(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(1);
    dnsb_registry *r = dnsb_registry_new(q);
    char ids[DNSB_LB_MAX_SET][64];
    glb_prefix a[] = {pfx("10.0.0.0/8"), pfx("127.0.0.4/32")};
    glb_prefix b[] = {pfx("10.1.0.0/16"), pfx("127.0.0.4/32")};
    dnsb_reg ra = reg_of("lb7", 1, a, 2), rb = reg_of("lb42", 1, b, 2);
    assert_int_equal(dnsb_registry_put(r, &ra), 0);
    assert_int_equal(dnsb_registry_put(r, &rb), 0);
    assert_int_equal(look(r, "10.2.3.4", 0, ids), 1);
    assert_string_equal(ids[0], "lb7");
    assert_int_equal(look(r, "10.1.3.4", 0, ids), 1);
    assert_string_equal(ids[0], "lb42");
    /* both claim 127.0.0.4: a set ordered by id */
    assert_int_equal(look(r, "127.0.0.4", 0, ids), 2);
    assert_string_equal(ids[0], "lb42");
    assert_string_equal(ids[1], "lb7");
    /* an older sequence is refused, a newer one replaces the claims */
    glb_prefix b2[] = {pfx("192.0.2.0/24")};
    dnsb_reg old = reg_of("lb42", 1, b2, 1);
    assert_int_equal(dnsb_registry_put(r, &old), -2);
    dnsb_reg newer = reg_of("lb42", 2, b2, 1);
    assert_int_equal(dnsb_registry_put(r, &newer), 0);
    assert_int_equal(look(r, "127.0.0.4", 0, ids), 1);
    assert_string_equal(ids[0], "lb7");
    assert_int_equal(look(r, "10.1.3.4", 0, ids), 1);
    assert_string_equal(ids[0], "lb7");
    assert_int_equal(look(r, "192.0.2.9", 0, ids), 1);
    /* labels, without case */
    const dnsb_map *m = atomic_load(dnsb_registry_slot(r));
    assert_true(dnsb_map_find(m, (const uint8_t *)"\004LB42") >= 0);
    assert_true(dnsb_map_find(m, (const uint8_t *)"\003lb7") >= 0);
    assert_int_equal(dnsb_map_find(m, (const uint8_t *)"\003lb4"), -1);
    assert_int_equal(dnsb_map_find(m, (const uint8_t *)"\005lb420"), -1);
    /* expiry: only what has a lifetime, only when it has run out */
    ra.expires = 100;
    ra.sequence = 2;
    assert_int_equal(dnsb_registry_put(r, &ra), 0);
    assert_int_equal(dnsb_registry_expire(r, 99), 0);
    assert_int_equal(dnsb_registry_expire(r, 100), 1);
    assert_int_equal(look(r, "10.2.3.4", 0, ids), 0);
    assert_null(dnsb_registry_get(r, "lb7"));
    size_t regs, maps, bytes;
    dnsb_registry_counts(r, &regs, &maps, &bytes);
    assert_int_equal(regs, 1);
    assert_int_equal(maps, 1);
    /* it can come back */
    ra.expires = 0;
    ra.sequence = 3;
    assert_int_equal(dnsb_registry_put(r, &ra), 0);
    assert_int_equal(look(r, "10.2.3.4", 0, ids), 1);
    dnsb_registry_free(r);
    glb_qsbr_free(q);
}

/* Random registrations and withdrawals against a model; after every change
 * both copies must answer like the model (the live one now, the other after
 * the next change swaps them). */
#define NLB 40
#define NPFX 300
typedef struct model {
    glb_prefix pfx[NPFX];
    int claims[NLB][NPFX];
    int present[NLB];
} model;

static void check_model(dnsb_registry *r, const model *md, unsigned seed)
{
    for (int t = 0; t < 200; t++) {
        /* an address inside a random prefix of the universe */
        const glb_prefix *base = &md->pfx[rand_r(&seed) % NPFX];
        glb_addr a = {base->family, 0, {0}};
        memcpy(a.b, base->b, 16);
        size_t nb = base->family == AF_INET ? 4 : 16;
        for (size_t i = base->len / 8 + 1; i < nb; i++)
            a.b[i] = (uint8_t)rand_r(&seed);
        /* model: longest prefix with any claimant; its claimants by id */
        int best = -1;
        for (int p = 0; p < NPFX; p++) {
            if (!glb_prefix_contains(&md->pfx[p], &a))
                continue;
            int any = 0;
            for (int l = 0; l < NLB; l++)
                any |= md->present[l] && md->claims[l][p];
            if (any && (best < 0 || md->pfx[p].len > md->pfx[best].len))
                best = p;
        }
        const dnsb_map *m = atomic_load(dnsb_registry_slot(r));
        uint32_t slots[DNSB_LB_MAX_SET];
        unsigned scope;
        size_t got = dnsb_map_lookup(m, &a, (unsigned)nb * 8, &scope, slots);
        size_t want = 0;
        char wid[NLB][64];
        if (best >= 0)
            for (int l = 0; l < NLB; l++)
                if (md->present[l] && md->claims[l][best])
                    snprintf(wid[want++], 64, "lb%02d", l);
        if (got != want) {
            char as[64];
            glb_addr_str(&a, as, sizeof(as));
            for (size_t i = 0; i < got; i++)
                print_message("got %s\n", dnsb_map_lb(m, slots[i])->id);
            for (size_t i = 0; i < want; i++)
                print_message("want %s\n", wid[i]);
            if (best >= 0) {
                char ps[64];
                glb_prefix_str(&md->pfx[best], ps, sizeof(ps));
                print_message("addr %s best %s\n", as, ps);
            }
        }
        assert_int_equal(got, want);
        for (size_t i = 0; i < got; i++)
            assert_string_equal(dnsb_map_lb(m, slots[i])->id, wid[i]);
    }
}

/* Registers lb<l> (a newer sequence) with each prefix claimed with chance 1/one_in. */
static void model_put(dnsb_registry *r, model *md, uint64_t *seq, int l, unsigned *seed, unsigned one_in)
{
    char id[16];
    snprintf(id, sizeof(id), "lb%02d", l);
    glb_prefix claims[NPFX];
    size_t n = 0;
    for (int p = 0; p < NPFX; p++) {
        md->claims[l][p] = rand_r(seed) % one_in == 0;
        if (md->claims[l][p])
            claims[n++] = md->pfx[p];
    }
    dnsb_reg g = reg_of(id, ++seq[l], claims, n);
    assert_int_equal(dnsb_registry_put(r, &g), 0);
    md->present[l] = 1;
}

static void model_remove(dnsb_registry *r, model *md, int l)
{
    char id[16];
    snprintf(id, sizeof(id), "lb%02d", l);
    assert_int_equal(dnsb_registry_remove(r, id), 0);
    md->present[l] = 0;
}

/* nsteps single changes, each published and checked: a random LB removed
 * (when present, with chance 1/remove_one_in) or registered anew. */
static void model_steps(dnsb_registry *r, model *md, uint64_t *seq, unsigned *seed, int nsteps,
                        unsigned remove_one_in, unsigned check_base)
{
    for (int step = 0; step < nsteps; step++) {
        int l = (int)(rand_r(seed) % NLB);
        if (md->present[l] && rand_r(seed) % remove_one_in == 0)
            model_remove(r, md, l);
        else
            model_put(r, md, seq, l, seed, 20);
        check_model(r, md, *seed + check_base + (unsigned)step);
    }
}

static void test_model(void **state)
{
    (void)state;
    unsigned seed = 20261125;
    glb_qsbr *q = glb_qsbr_new(1);
    dnsb_registry *r = dnsb_registry_new(q);
    static model md;
    memset(&md, 0, sizeof(md));
    for (int p = 0; p < NPFX; p++) {
        glb_prefix *x = &md.pfx[p];
        x->family = p % 3 ? AF_INET : AF_INET6;
        x->len = x->family == AF_INET ? 8 + rand_r(&seed) % 25 : 16 + rand_r(&seed) % 113;
        x->b[0] = x->family == AF_INET ? 10 : 0x20;
        x->b[1] = (uint8_t)(rand_r(&seed) % 4); /* few distinct tops: lots of nesting */
        for (int i = 2; i < (x->family == AF_INET ? 4 : 16); i++)
            x->b[i] = (uint8_t)rand_r(&seed);
        memset(x->b + (x->family == AF_INET ? 4 : 16), 0, x->family == AF_INET ? 12 : 0);
        glb_mask_bits(x->b, x->family == AF_INET ? 4 : 16, x->len);
        for (int k = 0; k < p; k++) /* the model claims by index: keep prefixes distinct */
            if (md.pfx[k].family == x->family && md.pfx[k].len == x->len && memcmp(md.pfx[k].b, x->b, 16) == 0) {
                p--;
                break;
            }
    }
    uint64_t seq[NLB] = {0};
    model_steps(r, &md, seq, &seed, 400, 4, 0);
    /* A batch that changes most of the table (as the store's load does):
     * the hidden copy takes the changes, the other becomes its clone; the
     * single changes after it go to both copies in turn, so a clone that
     * differed would show in the answers. */
    for (int round = 0; round < 2; round++) {
        dnsb_registry_batch_begin(r);
        for (int l = 0; l < NLB; l++)
            model_put(r, &md, seq, l, &seed, 8);
        assert_int_equal(dnsb_registry_batch_end(r), 0);
        check_model(r, &md, seed + 1000u + (unsigned)round);
        model_steps(r, &md, seq, &seed, 60, 3, 2000u);
    }
    /* batched: many changes, one publication, same answers */
    dnsb_registry_batch_begin(r);
    for (int l = 0; l < NLB; l++) {
        char id[16];
        snprintf(id, sizeof(id), "lb%02d", l);
        if (md.present[l]) {
            assert_int_equal(dnsb_registry_remove(r, id), 0);
            md.present[l] = 0;
        }
    }
    assert_int_equal(dnsb_registry_batch_end(r), 0);
    check_model(r, &md, seed);
    size_t regs, maps, bytes;
    dnsb_registry_counts(r, &regs, &maps, &bytes);
    assert_int_equal(regs, 0);
    assert_int_equal(maps, 0);
    dnsb_registry_free(r);
    glb_qsbr_free(q);
}

/* Readers look up without pause while the writer churns. */
typedef struct rd {
    dnsb_registry *r;
    glb_qsbr *q;
    unsigned id;
    atomic_int *stop;
    atomic_ulong found;
} rd;

static void *reader(void *arg)
{
    rd *x = arg;
    glb_addr a;
    glb_addr_parse("10.1.2.3", &a);
    while (!atomic_load(x->stop)) {
        glb_qsbr_enter(x->q, x->id);
        const dnsb_map *m = atomic_load_explicit(dnsb_registry_slot(x->r), memory_order_acquire);
        uint32_t slots[DNSB_LB_MAX_SET];
        unsigned scope;
        size_t n = dnsb_map_lookup(m, &a, 32, &scope, slots);
        for (size_t i = 0; i < n; i++)
            if (dnsb_map_lb(m, slots[i])->id[0] == 'l')
                atomic_fetch_add(&x->found, 1);
        glb_qsbr_leave(x->q, x->id);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(2);
    dnsb_registry *r = dnsb_registry_new(q);
    atomic_int stop = 0;
    rd readers[2];
    pthread_t th[2];
    for (unsigned i = 0; i < 2; i++) {
        readers[i] = (rd){r, q, i, &stop, 0};
        pthread_create(&th[i], NULL, reader, &readers[i]);
    }
    glb_prefix claims[] = {pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), pfx("10.1.2.0/24")};
    /* 2000 changes at least, and on until a reader has run (a busy machine
     * may not schedule them before), at most a million. */
    for (uint64_t s = 1; s <= 2000 || (atomic_load(&readers[0].found) + atomic_load(&readers[1].found) == 0 &&
                                       s <= 1000000);
         s++) {
        char id[16];
        snprintf(id, sizeof(id), "lb%u", (unsigned)(s % 7));
        dnsb_reg g = reg_of(id, s, claims + s % 3, s % 3 == 2 ? 1 : 1 + s % 2);
        assert_int_equal(dnsb_registry_put(r, &g), 0);
        if (s % 5 == 0)
            dnsb_registry_remove(r, id);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(readers[0].found + readers[1].found > 0);
    dnsb_registry_free(r);
    glb_qsbr_free(q);
}

/* One REGISTER of 64 claims or more (a batch big enough to be cloned) that
 * makes no set yet: the clone copied the free set list from a NULL pointer,
 * which the sanitizer build aborted on (issue 11). */
static void test_many_claims(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(1);
    dnsb_registry *r = dnsb_registry_new(q);
    enum { N = 200 };
    glb_prefix claims[N];
    for (int i = 0; i < N; i++) {
        char s[32];
        snprintf(s, sizeof(s), "10.%d.%d.0/24", i / 250, i % 250);
        claims[i] = pfx(s);
    }
    dnsb_reg g = reg_of("lb1", 1, claims, N);
    assert_int_equal(dnsb_registry_put(r, &g), 0);
    char ids[DNSB_LB_MAX_SET][64];
    assert_int_equal(look(r, "10.0.199.7", 0, ids), 1);
    assert_string_equal(ids[0], "lb1");
    /* both copies: the next change publishes the other one */
    dnsb_reg h = reg_of("lb2", 1, claims, 1);
    assert_int_equal(dnsb_registry_put(r, &h), 0);
    assert_int_equal(look(r, "10.0.150.1", 0, ids), 1);
    assert_string_equal(ids[0], "lb1");
    assert_int_equal(look(r, "10.0.0.1", 0, ids), 2);
    /* the same through a batch, as the store's load does at start */
    dnsb_registry_batch_begin(r);
    dnsb_reg g2 = reg_of("lb3", 1, claims + 100, 100);
    assert_int_equal(dnsb_registry_put(r, &g2), 0);
    assert_int_equal(dnsb_registry_batch_end(r), 0);
    assert_int_equal(look(r, "10.0.150.1", 0, ids), 2);
    /* and a registration without claims at all */
    dnsb_reg none = reg_of("lb4", 1, NULL, 0);
    assert_int_equal(dnsb_registry_put(r, &none), 0);
    dnsb_registry_free(r);
    glb_qsbr_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_many_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
