/* What every libFuzzer target of tests/fuzz/ shares: the entry point each
 * defines (the libFuzzer binary tests/fuzz/fuzz_NAME calls it, and so does
 * tests/fuzz/replay.c over the target's seed corpus in `make check`), and
 * the check that stops the run when a property does not hold.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_FUZZ_H
#define GLB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): it stays in with NDEBUG, and says which property broke. */
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s (%s)\n", __FILE__, __LINE__, what, #cond);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
