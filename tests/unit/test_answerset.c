/* Unit tests for shared/answerset.c: the weighted pick and the answer set
 * chosen from a ranking's share. SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "shared/answerset.h"

/* The pick is proportional to the weights over any run of counters. */
static void test_pick_distribution(void **state)
{
    (void)state;
    const unsigned w[] = {3, 2, 1};
    unsigned hits[3] = {0};
    for (uint64_t c = 0; c < 3000; c++) {
        size_t k = glb_pick_weighted(w, 3, c);
        assert_true(k < 3);
        hits[k]++;
    }
    assert_int_equal(hits[0], 1500);
    assert_int_equal(hits[1], 1000);
    assert_int_equal(hits[2], 500);

    /* Any starting counter, e.g. a worker's large query count. */
    memset(hits, 0, sizeof(hits));
    for (uint64_t c = 0; c < 3000; c++)
        hits[glb_pick_weighted(w, 3, UINT64_C(123456789012345) + c)]++;
    assert_int_equal(hits[0], 1500);
    assert_int_equal(hits[1], 1000);
    assert_int_equal(hits[2], 500);

    /* Deterministic for a given counter; n 1 (or 0): always the first. */
    for (uint64_t c = 0; c < 100; c++) {
        assert_int_equal(glb_pick_weighted(w, 3, c * 7919), glb_pick_weighted(w, 3, c * 7919));
        assert_int_equal(glb_pick_weighted(w, 1, c), 0);
        assert_int_equal(glb_pick_weighted(w, 0, c), 0);
    }
}

static void test_pick_zero_weights(void **state)
{
    (void)state;
    const unsigned w[] = {0, 2, 0, 1};
    unsigned hits[4] = {0};
    for (uint64_t c = 0; c < 3000; c++)
        hits[glb_pick_weighted(w, 4, c)]++;
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[1], 2000);
    assert_int_equal(hits[2], 0);
    assert_int_equal(hits[3], 1000);

    /* All zero: plain round robin. */
    const unsigned z[] = {0, 0, 0};
    for (uint64_t c = 0; c < 3000; c++)
        assert_int_equal(glb_pick_weighted(z, 3, c), c % 3);

    /* Huge weights do not overflow. */
    const unsigned big[] = {UINT_MAX, UINT_MAX, 1};
    assert_int_equal(glb_pick_weighted(big, 3, 0), 0);
    assert_int_equal(glb_pick_weighted(big, 3, (uint64_t)UINT_MAX), 1);
    assert_int_equal(glb_pick_weighted(big, 3, 2 * (uint64_t)UINT_MAX), 2);
    assert_int_equal(glb_pick_weighted(big, 3, 2 * (uint64_t)UINT_MAX + 1), 0);
    assert_true(glb_pick_weighted(big, 3, UINT64_MAX) < 3);
}

/* A share no larger than the limit is answered whole, in ranking order,
 * whatever the counter: every client gets the same set. */
static void test_set_whole_share(void **state)
{
    (void)state;
    const unsigned w[] = {1, 5, 1};
    uint32_t out[4];
    for (uint64_t c = 0; c < 50; c++) {
        memset(out, 0xff, sizeof(out));
        assert_int_equal(glb_answer_set(w, 1, 2, c, out), 1);
        assert_int_equal(out[0], 0);
        assert_int_equal(out[1], UINT32_MAX); /* nothing past the count */
        assert_int_equal(glb_answer_set(w, 3, 3, c, out), 3);
        assert_int_equal(out[0], 0);
        assert_int_equal(out[1], 1);
        assert_int_equal(out[2], 2);
    }
    assert_int_equal(glb_answer_set(w, 0, 2, 7, out), 0);
}

/* A share larger than the limit: limit distinct entries of the share, the
 * first by weight and the ones after it, wrapping, in ranking order; over a
 * run of counters each entry appears at least as often as its weight says. */
static void test_set_rotates(void **state)
{
    (void)state;
    const unsigned w[] = {1, 1, 1, 1};
    unsigned hits[4] = {0};
    uint32_t out[2];
    for (uint64_t c = 0; c < 400; c++) {
        assert_int_equal(glb_answer_set(w, 4, 2, c, out), 2);
        assert_true(out[0] < out[1]);
        assert_true(out[1] < 4);
        hits[out[0]]++;
        hits[out[1]]++;
    }
    for (int k = 0; k < 4; k++)
        assert_int_equal(hits[k], 200); /* equal weights: each in half the answers */

    /* counter 3 picks entry 3 first; 0 follows it by wrapping. */
    assert_int_equal(glb_answer_set(w, 4, 2, 3, out), 2);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);

    /* A zero-weight entry is never first, only given after another. */
    const unsigned zw[] = {0, 1, 1};
    memset(hits, 0, sizeof(hits));
    for (uint64_t c = 0; c < 100; c++) {
        uint32_t one[1];
        assert_int_equal(glb_answer_set(zw, 3, 1, c, one), 1);
        hits[one[0]]++;
    }
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[1], 50);
    assert_int_equal(hits[2], 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_distribution),
        cmocka_unit_test(test_pick_zero_weights),
        cmocka_unit_test(test_set_whole_share),
        cmocka_unit_test(test_set_rotates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
