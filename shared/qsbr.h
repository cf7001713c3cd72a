/* Publishing read-mostly state to query threads without locks: readers
 * bracket their reads with enter/leave (one store each, on their own cache
 * line); a writer swaps a pointer, then waits in glb_qsbr_synchronize() until
 * no reader can still hold the old one, and frees it.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_QSBR_H
#define GLB_QSBR_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct glb_qsbr glb_qsbr;

/* A domain for nreaders reader threads (ids 0..nreaders-1); NULL on ENOMEM. */
glb_qsbr *glb_qsbr_new(unsigned nreaders);
void glb_qsbr_free(glb_qsbr *q);

/* Reader id starts a read-side section. Must be paired with leave. */
void glb_qsbr_enter(glb_qsbr *q, unsigned id);
/* Reader id ends its read-side section. */
void glb_qsbr_leave(glb_qsbr *q, unsigned id);

/* Writer: returns once every read-side section that was running when it was
 * called has ended. Never called by a reader. */
void glb_qsbr_synchronize(glb_qsbr *q);

/* Writer: publishes p in *slot and returns the previous pointer once no
 * reader can see it any more (the caller frees it). */
void *glb_qsbr_swap(glb_qsbr *q, _Atomic(void *) *slot, void *p);

#endif
