/* Unit tests for shared/measure/history.c: one sample per step (the last
 * recorded wins), gaps, the hour window, wrap-around of the ring, NaN kept,
 * a clock going back ignored. SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "shared/measure/history.h"

static lb_history_sample out[LB_HISTORY_LEN + 8];

static void test_empty(void **state)
{
    (void)state;
    lb_history h;
    lb_history_init(&h);
    assert_int_equal(lb_history_get(&h, 5000, out, LB_HISTORY_LEN), 0);
}

static void test_last_in_step_wins(void **state)
{
    (void)state;
    lb_history h;
    lb_history_init(&h);
    lb_history_record(&h, 1000.5, 1, 12.0, 0.0);
    lb_history_record(&h, 1003.0, 1, 14.0, 0.25);
    lb_history_record(&h, 1009.9, 2, 20.0, 0.5); /* same step [1000, 1010) */
    lb_history_record(&h, 1031.0, 2, NAN, NAN);  /* two steps without a check: a gap */
    size_t n = lb_history_get(&h, 1035, out, LB_HISTORY_LEN);
    assert_int_equal(n, 2);
    assert_true(out[0].t == 1000.0);
    assert_int_equal(out[0].state, 2);
    assert_true(out[0].latency_ms == 20.0f);
    assert_true(fabs(out[0].loss - 0.5) < 1e-4);
    assert_true(out[1].t == 1030.0);
    assert_true(isnan(out[1].latency_ms) && isnan(out[1].loss));
    /* the clock going back does not rewrite the past */
    lb_history_record(&h, 1001.0, 1, 1.0, 0.0);
    assert_int_equal(lb_history_get(&h, 1035, out, LB_HISTORY_LEN), 2);
    assert_int_equal(out[0].state, 2);
    /* max bounds what is written */
    assert_int_equal(lb_history_get(&h, 1035, out, 1), 1);
    assert_true(out[0].t == 1000.0);
}

static void test_hour_window_and_wrap(void **state)
{
    (void)state;
    lb_history *h = malloc(sizeof(*h));
    assert_non_null(h);
    lb_history_init(h);
    /* two hours and a half of one check a step: the ring wraps twice */
    size_t total = 2 * LB_HISTORY_LEN + LB_HISTORY_LEN / 2;
    for (size_t i = 0; i < total; i++)
        lb_history_record(h, (double)i * LB_HISTORY_STEP + 1, i % 2 ? 1 : 2, (double)i, 0.0);
    double now = (double)(total - 1) * LB_HISTORY_STEP + 2;
    size_t n = lb_history_get(h, now, out, LB_HISTORY_LEN + 8);
    assert_int_equal(n, LB_HISTORY_LEN);
    for (size_t k = 0; k < n; k++) { /* oldest first, the last hour only */
        size_t i = total - LB_HISTORY_LEN + k;
        assert_true(out[k].latency_ms == (double)i);
        assert_true(out[k].t == (double)i * LB_HISTORY_STEP);
    }
    /* half an hour later without a check: only the samples of the last hour */
    n = lb_history_get(h, now + LB_HISTORY_LEN * LB_HISTORY_STEP / 2, out, LB_HISTORY_LEN + 8);
    assert_int_equal(n, LB_HISTORY_LEN / 2);
    assert_true(out[n - 1].latency_ms == (double)(total - 1));
    free(h);
}

static void test_loss_clamped(void **state)
{
    (void)state;
    lb_history h;
    lb_history_init(&h);
    lb_history_record(&h, 10, 1, 5, 1.5);
    lb_history_record(&h, 20, 1, 5, -1);
    assert_int_equal(lb_history_get(&h, 25, out, 4), 2);
    assert_true(out[0].loss == 1.0);
    assert_true(out[1].loss == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_last_in_step_wins),
        cmocka_unit_test(test_hour_window_and_wrap),
        cmocka_unit_test(test_loss_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
