/* Unit tests for shared/measure/ewma.c: the worked examples, out-of-order samples,
 * long gaps and long runs, and the score with linear and table penalties.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "shared/measure/ewma.h"

#define C 300.0

/* cmocka's assert_float_equal works in float; these checks need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), #a, __LINE__)

static void assert_near_at(double a, double b, double eps, const char *what, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %s = %.12g, want %.12g +- %g", line, what, a, b, eps);
}

/* The samples of the examples, newest first: taken 0, 30, 60, 180, 240 and
 * 300 s before "now" = 300. */
static const double ages[6] = {0, 30, 60, 180, 240, 300};
static const double lat_a[6] = {8.0, 7.5, 7.7, 8.2, 7.6, 7.7};
static const double lat_b[6] = {3.0, 3.5, 3.2, 3.8, 3.6, 3.4};

static void add_in_time_order(glb_ewma *e, const double *x)
{
    for (int i = 5; i >= 0; i--)
        glb_ewma_add(e, 300 - ages[i], x[i]);
}

static void test_empty(void **state)
{
    (void)state;
    glb_ewma e;
    glb_ewma_init(&e, C);
    assert_true(isnan(glb_ewma_value(&e)));
    assert_true(glb_ewma_weight(&e, 100) == 0);
}

static void test_examples(void **state)
{
    (void)state;
    glb_ewma e;
    glb_ewma_init(&e, C);
    add_in_time_order(&e, lat_a);
    assert_near(glb_ewma_value(&e), 7.785, 0.001);
    assert_near(glb_ewma_weight(&e, 300), 4.0896, 0.0001);
    assert_int_equal(e.n, 6);
    /* The weight decays with time, the average does not change. */
    assert_near(glb_ewma_weight(&e, 600), 4.0896 * exp(-1.0), 0.0001);
    assert_near(glb_ewma_value(&e), 7.785, 0.001);

    glb_ewma_init(&e, C);
    add_in_time_order(&e, lat_b);
    assert_near(glb_ewma_value(&e), 3.360, 0.001);
    assert_near(glb_ewma_weight(&e, 300), 4.0896, 0.0001);

    /* Any epoch: the same samples a day later give the same answer. */
    glb_ewma_init(&e, C);
    for (int i = 5; i >= 0; i--)
        glb_ewma_add(&e, 1.7e9 + 300 - ages[i], lat_a[i]);
    assert_near(glb_ewma_value(&e), 7.785, 0.001);
    assert_near(glb_ewma_weight(&e, 1.7e9 + 300), 4.0896, 0.0001);
}

static void test_single_sample(void **state)
{
    (void)state;
    glb_ewma e;
    glb_ewma_init(&e, C);
    glb_ewma_add(&e, 1000, 42.5);
    assert_near(glb_ewma_value(&e), 42.5, 1e-12);
    assert_near(glb_ewma_weight(&e, 1000), 1.0, 1e-12);
    assert_near(glb_ewma_weight(&e, 1300), exp(-1.0), 1e-12);
}

/* Samples arriving in any order give the same average and weight. */
static void test_out_of_order(void **state)
{
    (void)state;
    static const int orders[4][6] = {
        {0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 5, 0, 4, 1, 3}, {3, 0, 5, 1, 2, 4}};
    for (int o = 0; o < 4; o++) {
        glb_ewma e;
        glb_ewma_init(&e, C);
        for (int j = 0; j < 6; j++) {
            int i = orders[o][j];
            glb_ewma_add(&e, 300 - ages[i], lat_a[i]);
        }
        assert_near(glb_ewma_value(&e), 7.785, 0.001);
        assert_near(glb_ewma_weight(&e, 300), 4.0896, 0.0001);
        assert_near(e.t_last, 300, 1e-12);
    }
    /* An old sample counts less than a new one with the same value gap. */
    glb_ewma e;
    glb_ewma_init(&e, C);
    glb_ewma_add(&e, 1000, 10);
    glb_ewma_add(&e, 700, 20); /* weight e^-1 */
    assert_near(glb_ewma_value(&e), (10 + 20 * exp(-1.0)) / (1 + exp(-1.0)), 1e-9);
}

/* Long gaps: the old history vanishes without NaN or infinity. */
static void test_long_gaps(void **state)
{
    (void)state;
    glb_ewma e;
    glb_ewma_init(&e, C);
    glb_ewma_add(&e, 0, 100);
    glb_ewma_add(&e, 1e6, 5);
    assert_false(isnan(glb_ewma_value(&e)));
    assert_near(glb_ewma_value(&e), 5, 1e-9);
    assert_near(glb_ewma_weight(&e, 1e6), 1.0, 1e-9);
    assert_true(glb_ewma_weight(&e, 2e6) >= 0);
    assert_false(isnan(glb_ewma_weight(&e, 2e6)));

    /* A sample far older than the newest one adds (almost) nothing. */
    glb_ewma_add(&e, -1e9, 1e6);
    assert_near(glb_ewma_value(&e), 5, 1e-9);

    /* Gaps much larger than the exponent range. */
    glb_ewma_add(&e, 1e300, 7);
    assert_near(glb_ewma_value(&e), 7, 1e-9);
    assert_true(isfinite(glb_ewma_weight(&e, 1e300)));
}

/* Days of samples, one per 10 ms: the sums stay bounded and the average
 * follows the input. */
static void test_long_run(void **state)
{
    (void)state;
    glb_ewma e;
    glb_ewma_init(&e, C);
    double t = 0;
    for (long i = 0; i < 3 * 1000 * 1000; i++) { /* 30000 s */
        glb_ewma_add(&e, t, 20.0 + (double)(i % 7));
        t += 0.01;
    }
    double bound = 1 / (1 - exp(-0.01 / C));
    assert_true(e.sum_w <= bound * 1.0001);
    assert_true(e.sum_w >= 1);
    assert_near(glb_ewma_value(&e), 23.0, 0.01);
    /* Then a step: after 10 C the new level dominates. */
    for (long i = 0; i < 300000; i++) {
        glb_ewma_add(&e, t, 50.0);
        t += 0.01;
    }
    assert_near(glb_ewma_value(&e), 50.0 - 27.0 * exp(-10.0), 0.01);
    assert_true(isfinite(e.sum_xw) && isfinite(e.sum_w));

    /* Many samples at the same instant are a plain mean. */
    glb_ewma_init(&e, C);
    for (int i = 1; i <= 1000; i++)
        glb_ewma_add(&e, 5, (double)i);
    assert_near(glb_ewma_value(&e), 500.5, 1e-9);
    assert_near(glb_ewma_weight(&e, 5), 1000, 1e-9);
}

static void test_score_linear(void **state)
{
    (void)state;
    glb_score_params p;
    glb_score_defaults(&p);
    assert_near(p.floor_ms, 100, 0);
    assert_near(p.factor, 30, 0);
    assert_int_equal(p.npoints, 0);
    assert_near(glb_penalty(&p, 0.125), 3.75, 1e-12);
    assert_near(glb_score(&p, 27, 0.125), 402, 1e-9);
    assert_near(glb_score(&p, 71, 0), 71, 1e-12);
    /* Above the floor the latency itself scales the penalty. */
    assert_near(glb_score(&p, 200, 0.1), 200 + 200 * 3, 1e-9);
    /* Loss is clamped to [0, 1]; NaN loss counts as none. */
    assert_near(glb_penalty(&p, 1.5), 30, 1e-12);
    assert_near(glb_penalty(&p, -0.5), 0, 1e-12);
    assert_near(glb_penalty(&p, NAN), 0, 1e-12);
    assert_true(isnan(glb_score(&p, NAN, 0)));
    /* Lower is better: a close lossy site loses to a farther clean one. */
    assert_true(glb_score(&p, 71, 0) < glb_score(&p, 27, 0.125));
}

static void test_score_table(void **state)
{
    (void)state;
    glb_score_params p;
    glb_score_defaults(&p);
    p.npoints = 4;
    p.loss[0] = 0.01, p.penalty[0] = 0;
    p.loss[1] = 0.05, p.penalty[1] = 1;
    p.loss[2] = 0.20, p.penalty[2] = 10;
    p.loss[3] = 0.50, p.penalty[3] = 100;
    assert_near(glb_penalty(&p, 0), 0, 1e-12);     /* clamped low */
    assert_near(glb_penalty(&p, 0.01), 0, 1e-12);
    assert_near(glb_penalty(&p, 0.03), 0.5, 1e-12); /* interpolated */
    assert_near(glb_penalty(&p, 0.05), 1, 1e-12);
    assert_near(glb_penalty(&p, 0.125), 5.5, 1e-12);
    assert_near(glb_penalty(&p, 0.20), 10, 1e-12);
    assert_near(glb_penalty(&p, 0.35), 55, 1e-12);
    assert_near(glb_penalty(&p, 0.50), 100, 1e-12);
    assert_near(glb_penalty(&p, 0.9), 100, 1e-12); /* clamped high */
    assert_near(glb_penalty(&p, 1), 100, 1e-12);
    assert_near(glb_score(&p, 27, 0.125), 27 + 100 * 5.5, 1e-9);
    assert_near(glb_score(&p, 150, 0.03), 150 + 150 * 0.5, 1e-9);

    /* One point: a constant. A repeated loss value is a step, not a NaN. */
    p.npoints = 1;
    p.loss[0] = 0.1, p.penalty[0] = 2;
    assert_near(glb_penalty(&p, 0), 2, 1e-12);
    assert_near(glb_penalty(&p, 0.7), 2, 1e-12);
    p.npoints = 3;
    p.loss[0] = 0, p.penalty[0] = 0;
    p.loss[1] = 0.1, p.penalty[1] = 1;
    p.loss[2] = 0.1, p.penalty[2] = 5;
    assert_near(glb_penalty(&p, 0.05), 0.5, 1e-12);
    assert_near(glb_penalty(&p, 0.1), 5, 1e-12);
    assert_near(glb_penalty(&p, 0.2), 5, 1e-12);
    assert_false(isnan(glb_penalty(&p, 0.0999999)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_single_sample),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_long_gaps),
        cmocka_unit_test(test_long_run),
        cmocka_unit_test(test_score_linear),
        cmocka_unit_test(test_score_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
