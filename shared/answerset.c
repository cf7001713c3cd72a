/* Which sites an address answer holds. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/answerset.h"

size_t glb_pick_weighted(const unsigned *w, size_t n, uint64_t counter)
{
    if (n <= 1)
        return 0;
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += w[k];
    if (total == 0)
        return (size_t)(counter % n);
    uint64_t r = counter % total;
    for (size_t k = 0; k < n; k++) {
        if (r < w[k])
            return k;
        r -= w[k];
    }
    return 0; /* not reached */
}

size_t glb_answer_set(const unsigned *w, size_t share, size_t limit, uint64_t counter, uint32_t *out)
{
    if (share <= limit) {
        for (size_t k = 0; k < share; k++)
            out[k] = (uint32_t)k;
        return share;
    }
    size_t first = glb_pick_weighted(w, share, counter);
    /* The wrapped run is written back in ranking order: resolvers ignore
     * the order, but a reader of dig output (and a test) should not. */
    size_t n = 0, wrap = first + limit > share ? first + limit - share : 0;
    for (size_t k = 0; k < wrap; k++)
        out[n++] = (uint32_t)k;
    for (size_t k = first; k < first + limit - wrap; k++)
        out[n++] = (uint32_t)k;
    return n;
}
