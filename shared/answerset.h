/* Which sites an address answer holds (DESIGN §3 step 4). Resolvers reorder
 * RRsets before clients see them, so an answer is a set, not an order: it
 * holds only the leading sites of a ranking that are as good as the best
 * (its "share", found by the policy), at most answer-count of them. When the
 * share is larger than that, a per-query counter rotates which of them are
 * given, the first one chosen by weight. Pure functions, no allocation.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_ANSWERSET_H
#define GLB_ANSWERSET_H

#include <stddef.h>
#include <stdint.h>

/* The most sites one answer set is chosen from (answer-count is at most 64). */
#define GLB_ANSWER_MAX 64

/* Index in 0..n of the entry a counter picks by weight: over any run of
 * sum(w) consecutive counters entry k is picked exactly w[k] times; zero
 * weights are never picked unless all are 0 (then round robin). 0 if n <= 1. */
size_t glb_pick_weighted(const unsigned *w, size_t n, uint64_t counter);

/* The answer set among the share leading entries whose weights are w[0..share):
 * all of them when share <= limit, else limit of them: the one counter picks
 * by weight, then the entries after it, wrapping around. Writes the indices
 * into out (room for min(share, limit)) in ranking order; returns how many. */
size_t glb_answer_set(const unsigned *w, size_t share, size_t limit, uint64_t counter, uint32_t *out);

#endif
