/* Unit tests for shared/qsbr.c: synchronize waits for running sections and
 * only for those, and a swap/poison/free stress with concurrent readers that
 * must never see freed memory (run it under ASan too).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/qsbr.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_basic(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(4);
    assert_non_null(q);
    for (unsigned i = 0; i < 4; i++) {
        glb_qsbr_enter(q, i);
        glb_qsbr_leave(q, i);
    }
    glb_qsbr_synchronize(q); /* nobody inside: returns at once */

    int a = 1, b = 2;
    _Atomic(void *) slot;
    atomic_init(&slot, &a);
    assert_ptr_equal(glb_qsbr_swap(q, &slot, &b), &a);
    assert_ptr_equal(atomic_load(&slot), &b);
    glb_qsbr_free(q);

    q = glb_qsbr_new(0); /* a domain without readers */
    assert_non_null(q);
    glb_qsbr_synchronize(q);
    glb_qsbr_free(q);
    glb_qsbr_free(NULL);

    q = glb_qsbr_new(200); /* more readers than one synchronize chunk */
    assert_non_null(q);
    for (unsigned i = 0; i < 200; i++)
        glb_qsbr_enter(q, i);
    for (unsigned i = 0; i < 200; i++)
        glb_qsbr_leave(q, i);
    glb_qsbr_synchronize(q);
    glb_qsbr_free(q);
}

/* One reader sits in a section for 150 ms; synchronize must not return
 * before it has left. */
typedef struct hold_arg {
    glb_qsbr *q;
    unsigned id;
    atomic_int inside;
    atomic_int left;
} hold_arg;

static void *hold_reader(void *p)
{
    hold_arg *h = p;
    glb_qsbr_enter(h->q, h->id);
    atomic_store(&h->inside, 1);
    sleep_ms(150);
    atomic_store(&h->left, 1);
    glb_qsbr_leave(h->q, h->id);
    return NULL;
}

static void test_synchronize_waits(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(3);
    assert_non_null(q);
    glb_qsbr_enter(q, 0); /* a section that ends before synchronize */
    glb_qsbr_leave(q, 0);
    hold_arg h = {q, 2, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_reader, &h), 0);
    while (!atomic_load(&h.inside))
        sched_yield();
    double t0 = now_s();
    glb_qsbr_synchronize(q);
    double dt = now_s() - t0;
    int left = atomic_load(&h.left);
    assert_int_equal(pthread_join(th, NULL), 0); /* before any assertion can return */
    assert_int_equal(left, 1);
    assert_true(dt > 0.05);
    t0 = now_s();
    glb_qsbr_synchronize(q); /* everyone outside again */
    assert_true(now_s() - t0 < 0.05);
    glb_qsbr_free(q);
}

/* A reader that keeps entering and leaving must not hold synchronize up:
 * only the section running at the call counts. */
typedef struct busy_arg {
    glb_qsbr *q;
    unsigned id;
    atomic_int stop;
    atomic_ulong sections;
} busy_arg;

static void *busy_reader(void *p)
{
    busy_arg *b = p;
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
        glb_qsbr_enter(b->q, b->id);
        for (volatile int i = 0; i < 100; i++)
            ;
        glb_qsbr_leave(b->q, b->id);
        atomic_fetch_add_explicit(&b->sections, 1, memory_order_relaxed);
    }
    return NULL;
}

static void test_synchronize_progress(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(1);
    assert_non_null(q);
    busy_arg b = {q, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, busy_reader, &b), 0);
    while (atomic_load(&b.sections) < 10)
        sched_yield();
    double t0 = now_s();
    for (int i = 0; i < 200; i++)
        glb_qsbr_synchronize(q);
    double dt = now_s() - t0;
    atomic_store(&b.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    print_message("qsbr: 200 synchronize with a busy reader in %.1f ms\n", dt * 1e3);
    assert_true(dt < 5.0);
    glb_qsbr_free(q);
}

/* The stress: readers check a published object inside their sections while
 * a writer replaces it, poisons the old one and frees it. */
#define OBJ_MAGIC 0x0b1ec7a11c0ffee5ULL
#define OBJ_KEY 0x9e3779b97f4a7c15ULL
#define POISON_BYTE 0xa5
#define POISON_WORD 0xa5a5a5a5a5a5a5a5ULL
#define NREADERS 3

typedef struct obj {
    uint64_t magic;
    uint64_t gen;
    uint64_t check; /* gen ^ OBJ_KEY */
    uint64_t data[13];
} obj;

static _Atomic(void *) published;
static atomic_int stop_readers;
static atomic_ulong bad_reads, poison_reads, total_reads;

typedef struct rd_arg {
    glb_qsbr *q;
    unsigned id;
} rd_arg;

static int obj_ok(const volatile obj *o, uint64_t *gen)
{
    uint64_t m = o->magic, g = o->gen, c = o->check;
    if (m == POISON_WORD || g == POISON_WORD || c == POISON_WORD)
        atomic_fetch_add(&poison_reads, 1);
    for (int i = 0; i < 13; i++)
        if (o->data[i] != (g + (uint64_t)i) * OBJ_KEY)
            return 0;
    *gen = g;
    return m == OBJ_MAGIC && c == (g ^ OBJ_KEY);
}

static void *stress_reader(void *p)
{
    rd_arg *r = p;
    uint64_t last = 0;
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
        glb_qsbr_enter(r->q, r->id);
        const volatile obj *o = atomic_load_explicit(&published, memory_order_acquire);
        uint64_t g1 = 0, g2 = 0;
        int ok = obj_ok(o, &g1);
        for (volatile int i = 0; i < 200; i++) /* stay inside a little */
            ;
        ok = ok && obj_ok(o, &g2) && g1 == g2 && g1 >= last;
        if (n % 64 == 63)
            sched_yield(); /* sometimes get preempted inside a section */
        glb_qsbr_leave(r->q, r->id);
        if (!ok)
            atomic_fetch_add(&bad_reads, 1);
        last = g1;
        n++;
    }
    atomic_fetch_add(&total_reads, n);
    return NULL;
}

static obj *obj_new(uint64_t gen)
{
    obj *o = malloc(sizeof(*o));
    if (!o)
        abort();
    o->magic = OBJ_MAGIC;
    o->gen = gen;
    o->check = gen ^ OBJ_KEY;
    for (int i = 0; i < 13; i++)
        o->data[i] = (gen + (uint64_t)i) * OBJ_KEY;
    return o;
}

static void obj_kill(obj *o)
{
    memset(o, POISON_BYTE, sizeof(*o));
    free(o);
}

static void test_swap_stress(void **state)
{
    (void)state;
    glb_qsbr *q = glb_qsbr_new(NREADERS);
    assert_non_null(q);
    atomic_store(&published, obj_new(1));
    atomic_store(&stop_readers, 0);
    atomic_store(&bad_reads, 0);
    atomic_store(&poison_reads, 0);
    atomic_store(&total_reads, 0);
    pthread_t th[NREADERS];
    rd_arg args[NREADERS];
    for (unsigned i = 0; i < NREADERS; i++) {
        args[i].q = q;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, stress_reader, &args[i]), 0);
    }
    uint64_t gen = 1;
    unsigned long swaps = 0, bad_old = 0;
    double t0 = now_s();
    while (now_s() - t0 < 0.8) {
        obj *nw = obj_new(++gen);
        obj *old;
        if (gen % 2) {
            old = glb_qsbr_swap(q, &published, nw);
        } else { /* the same by hand */
            old = atomic_exchange(&published, nw);
            glb_qsbr_synchronize(q);
        }
        if (old->magic != OBJ_MAGIC || old->gen != gen - 1)
            bad_old++; /* asserted once the readers are joined */
        obj_kill(old);
        swaps++;
    }
    atomic_store(&stop_readers, 1);
    for (unsigned i = 0; i < NREADERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    obj_kill(atomic_load(&published));
    print_message("qsbr: %lu swaps, %lu reads by %d readers, %lu bad, %lu poisoned\n", swaps,
                  (unsigned long)atomic_load(&total_reads), NREADERS,
                  (unsigned long)atomic_load(&bad_reads), (unsigned long)atomic_load(&poison_reads));
    assert_int_equal(bad_old, 0);
    assert_true(swaps > 100);
    assert_true(atomic_load(&total_reads) > 1000);
    assert_int_equal(atomic_load(&bad_reads), 0);
    assert_int_equal(atomic_load(&poison_reads), 0);
    glb_qsbr_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_synchronize_waits),
        cmocka_unit_test(test_synchronize_progress),
        cmocka_unit_test(test_swap_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
