/* Quiescent-state-based reclamation with one sequence counter per reader.
 *
 * A reader's counter is odd while it is inside a read-side section. Ordering:
 * enter stores the odd value and then issues a seq_cst fence, so the store is
 * globally visible before any load of a published pointer that follows; the
 * writer publishes with a seq_cst exchange and issues a seq_cst fence before
 * reading the counters. With the two fences either the writer sees the odd
 * counter (and waits) or the reader sees the new pointer (and never touches
 * the old one). leave stores the even value with release, so every read of the
 * old object happens before the writer (acquire load) sees the section end.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/qsbr.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define QSBR_LINE 64

struct qsbr_reader {
    _Alignas(QSBR_LINE) _Atomic unsigned long ctr;
};

_Static_assert(sizeof(struct qsbr_reader) == QSBR_LINE, "one reader per cache line");

struct glb_qsbr {
    unsigned n;
    struct qsbr_reader *r;
};

glb_qsbr *glb_qsbr_new(unsigned nreaders)
{
    glb_qsbr *q = malloc(sizeof(*q));
    if (!q)
        return NULL;
    q->n = nreaders;
    q->r = NULL;
    if (nreaders > 0) {
        q->r = aligned_alloc(QSBR_LINE, (size_t)nreaders * sizeof(struct qsbr_reader));
        if (!q->r) {
            free(q);
            return NULL;
        }
        for (unsigned i = 0; i < nreaders; i++)
            atomic_init(&q->r[i].ctr, 0);
    }
    return q;
}

void glb_qsbr_free(glb_qsbr *q)
{
    if (!q)
        return;
    free(q->r);
    free(q);
}

void glb_qsbr_enter(glb_qsbr *q, unsigned id)
{
    _Atomic unsigned long *c = &q->r[id].ctr;
    unsigned long v = atomic_load_explicit(c, memory_order_relaxed);
    atomic_store_explicit(c, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

void glb_qsbr_leave(glb_qsbr *q, unsigned id)
{
    _Atomic unsigned long *c = &q->r[id].ctr;
    unsigned long v = atomic_load_explicit(c, memory_order_relaxed);
    atomic_store_explicit(c, v + 1, memory_order_release);
}

static void qsbr_backoff(unsigned spins)
{
    if (spins < 64) {
        sched_yield();
    } else {
        struct timespec ts = {0, 20000}; /* 20 us */
        nanosleep(&ts, NULL);
    }
}

/* Readers are checked in chunks: the counters of a chunk are snapshotted
 * first, then each odd one is waited on until it changes (the section that
 * was running has ended; a reader that left and re-entered also counts). */
#define QSBR_CHUNK 64

void glb_qsbr_synchronize(glb_qsbr *q)
{
    unsigned long snap[QSBR_CHUNK];

    atomic_thread_fence(memory_order_seq_cst);
    for (unsigned base = 0; base < q->n; base += QSBR_CHUNK) {
        unsigned m = q->n - base < QSBR_CHUNK ? q->n - base : QSBR_CHUNK;
        for (unsigned i = 0; i < m; i++)
            snap[i] = atomic_load_explicit(&q->r[base + i].ctr, memory_order_acquire);
        for (unsigned i = 0; i < m; i++) {
            if (!(snap[i] & 1))
                continue;
            for (unsigned spins = 0;
                 atomic_load_explicit(&q->r[base + i].ctr, memory_order_acquire) == snap[i];
                 spins++)
                qsbr_backoff(spins);
        }
    }
}

void *glb_qsbr_swap(glb_qsbr *q, _Atomic(void *) *slot, void *p)
{
    void *old = atomic_exchange_explicit(slot, p, memory_order_seq_cst);
    glb_qsbr_synchronize(q);
    return old;
}
