/* Unit tests for shared/measure/health.c: scenarios replayed with explicit times
 * (no sleeping): aliveness hysteresis from every state, the sources of
 * latency, loss and aliveness, the score (DESIGN §6 examples), the last
 * check's description.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "shared/measure/health.h"

#define T0 1000.0 /* scenarios start here: last_check 0 means "never" */

#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), #a, __LINE__)

static void assert_near_at(double a, double b, double eps, const char *what, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %s = %.12g, want %.12g +- %g", line, what, a, b, eps);
}

static glb_http_result http_ok(double ttfb)
{
    glb_http_result r;
    memset(&r, 0, sizeof(r));
    r.err = GLB_HTTP_OK;
    r.status = 200;
    r.connect_ms = ttfb / 2;
    r.tls_ms = -1;
    r.ttfb_ms = ttfb;
    r.total_ms = ttfb + 1;
    r.body_bytes = 10;
    return r;
}

static glb_http_result http_fail(enum glb_http_error err)
{
    glb_http_result r;
    memset(&r, 0, sizeof(r));
    r.err = err;
    r.status = 0;
    r.connect_ms = r.tls_ms = r.ttfb_ms = r.total_ms = -1;
    return r;
}

/* Feeds one HTTP check: ok with the given ttfb, or a timeout. */
static void http(lb_health *h, const lb_health_params *p, double t, int ok, double ttfb)
{
    glb_http_result r = ok ? http_ok(ttfb) : http_fail(GLB_HTTP_ERR_TIMEOUT);
    lb_health_http(h, p, t, &r);
}

static void test_defaults_and_init(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    assert_near(p.ewma_c, 300, 0);
    assert_int_equal(p.dead_after, 3);
    assert_int_equal(p.alive_after, 2);
    assert_near(p.score.floor_ms, 100, 0);
    assert_near(p.score.factor, 30, 0);
    assert_int_equal(p.score.npoints, 0);

    lb_health h;
    memset(&h, 0xa5, sizeof(h));
    lb_health_init(&h, &p, 1, 1);
    assert_int_equal(h.has_http, 1);
    assert_int_equal(h.icmp_ok, 1);
    assert_int_equal(h.state, LB_SITE_UNKNOWN);
    assert_int_equal(h.fails, 0);
    assert_int_equal(h.oks, 0);
    assert_int_equal(h.latency.n, 0);
    assert_int_equal(h.loss.n, 0);
    assert_int_equal(h.rtt.n, 0);
    assert_near(h.latency.c, 300, 0);
    assert_near(h.last_check, 0, 0);
    assert_int_equal(h.last_ok, 0);
    assert_string_equal(h.last_result, "");
    assert_int_equal(h.checks, 0);
    assert_int_equal(h.failures, 0);
    assert_true(isnan(lb_health_score(&h, &p)));

    lb_health_init(&h, &p, 0, 0);
    assert_int_equal(h.has_http, 0);
    assert_int_equal(h.icmp_ok, 0);

    assert_string_equal(lb_state_str(LB_SITE_UNKNOWN), "unknown");
    assert_string_equal(lb_state_str(LB_SITE_ALIVE), "alive");
    assert_string_equal(lb_state_str(LB_SITE_DEAD), "dead");
    assert_string_equal(lb_state_str(42), "invalid");
}

/* The scenario: an alive site, one failure: still alive; three
 * failures: dead; one success: still dead; two: alive. */
static void test_hysteresis_alive_dead_alive(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 1);

    http(&h, &p, T0, 1, 20);
    assert_int_equal(h.state, LB_SITE_ALIVE); /* the first check decides */

    http(&h, &p, T0 + 10, 0, 0);
    assert_int_equal(h.state, LB_SITE_ALIVE); /* one lost check: no flap */
    assert_int_equal(h.fails, 1);
    http(&h, &p, T0 + 20, 1, 20);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_int_equal(h.fails, 0);
    /* Failures separated by successes never add up. */
    for (int i = 0; i < 10; i++) {
        http(&h, &p, T0 + 30 + 20 * i, 0, 0);
        http(&h, &p, T0 + 40 + 20 * i, 0, 0);
        assert_int_equal(h.state, LB_SITE_ALIVE);
        http(&h, &p, T0 + 40 + 20 * i + 5, 1, 20);
    }

    double t = T0 + 1000;
    http(&h, &p, t, 0, 0);
    http(&h, &p, t + 10, 0, 0);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    http(&h, &p, t + 20, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    assert_int_equal(h.fails, 3);
    http(&h, &p, t + 30, 0, 0); /* more failures: still dead */
    assert_int_equal(h.state, LB_SITE_DEAD);

    http(&h, &p, t + 40, 1, 20);
    assert_int_equal(h.state, LB_SITE_DEAD); /* one success is not enough */
    assert_int_equal(h.oks, 1);
    http(&h, &p, t + 50, 1, 20);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_int_equal(h.fails, 0);
    assert_int_equal(h.oks, 2);
}

/* A failure while recovering restarts the run of successes. */
static void test_hysteresis_dead_recovery_interrupted(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    p.alive_after = 3;
    lb_health h;
    lb_health_init(&h, &p, 1, 0);
    http(&h, &p, T0, 1, 10);
    for (int i = 1; i <= 3; i++)
        http(&h, &p, T0 + 10 * i, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);

    http(&h, &p, T0 + 40, 1, 10);
    http(&h, &p, T0 + 50, 1, 10);
    http(&h, &p, T0 + 60, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    assert_int_equal(h.oks, 0);
    http(&h, &p, T0 + 70, 1, 10);
    http(&h, &p, T0 + 80, 1, 10);
    assert_int_equal(h.state, LB_SITE_DEAD);
    http(&h, &p, T0 + 90, 1, 10);
    assert_int_equal(h.state, LB_SITE_ALIVE);
}

/* A site that never answered: unknown until dead_after failures, then dead;
 * from there it needs alive_after successes like any dead site. */
static void test_never_successful(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 1);

    http(&h, &p, T0, 0, 0);
    assert_int_equal(h.state, LB_SITE_UNKNOWN);
    http(&h, &p, T0 + 10, 0, 0);
    assert_int_equal(h.state, LB_SITE_UNKNOWN);
    http(&h, &p, T0 + 20, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    assert_true(isnan(lb_health_score(&h, &p))); /* failures add no latency */
    assert_int_equal(h.latency.n, 0);

    http(&h, &p, T0 + 30, 1, 50);
    assert_int_equal(h.state, LB_SITE_DEAD);
    http(&h, &p, T0 + 40, 1, 50);
    assert_int_equal(h.state, LB_SITE_ALIVE);

    /* Two failures, then a success: the first success still decides. */
    lb_health_init(&h, &p, 1, 1);
    http(&h, &p, T0, 0, 0);
    http(&h, &p, T0 + 10, 0, 0);
    http(&h, &p, T0 + 20, 1, 30);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_int_equal(h.fails, 0);
}

/* Custom thresholds, and 0 counting as 1. */
static void test_thresholds(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    p.dead_after = 1;
    p.alive_after = 1;
    lb_health h;
    lb_health_init(&h, &p, 1, 1);
    http(&h, &p, T0, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    http(&h, &p, T0 + 1, 1, 5);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    http(&h, &p, T0 + 2, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);

    p.dead_after = 0;
    p.alive_after = 0;
    lb_health_init(&h, &p, 1, 1);
    http(&h, &p, T0, 1, 5);
    http(&h, &p, T0 + 1, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    http(&h, &p, T0 + 2, 1, 5);
    assert_int_equal(h.state, LB_SITE_ALIVE);

    p.dead_after = 5;
    lb_health_init(&h, &p, 1, 1);
    http(&h, &p, T0, 1, 5);
    for (int i = 1; i <= 4; i++)
        http(&h, &p, T0 + i, 0, 0);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    http(&h, &p, T0 + 5, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
}

/* HTTP + ICMP: latency from HTTP ttfb, loss from ICMP, aliveness from HTTP;
 * the ICMP round trip is kept apart. */
static void test_sources_http_and_icmp(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 1);

    lb_health_icmp(&h, &p, T0, 1, 0.8);
    assert_int_equal(h.state, LB_SITE_UNKNOWN); /* ICMP does not decide */
    assert_int_equal(h.latency.n, 0);
    assert_int_equal(h.rtt.n, 1);
    assert_int_equal(h.loss.n, 1);
    assert_true(isnan(lb_health_score(&h, &p)));
    assert_int_equal(h.checks, 0);

    http(&h, &p, T0 + 1, 1, 12.3);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_near(glb_ewma_value(&h.latency), 12.3, 1e-12);
    assert_near(glb_ewma_value(&h.rtt), 0.8, 1e-12);
    assert_int_equal(h.loss.n, 1); /* HTTP is not the loss source */

    /* Lost echoes raise the loss but never kill a site with an HTTP check. */
    for (int i = 0; i < 10; i++)
        lb_health_icmp(&h, &p, T0 + 2 + i, 0, 0);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_int_equal(h.rtt.n, 1);
    assert_true(glb_ewma_value(&h.loss) > 0.8);

    /* Failed HTTP checks add no loss sample here. */
    unsigned long nloss = h.loss.n;
    http(&h, &p, T0 + 20, 0, 0);
    assert_int_equal(h.loss.n, nloss);
    assert_int_equal(h.latency.n, 1);
}

/* HTTP without ICMP (e.g. no ICMP for the family): loss from HTTP. */
static void test_sources_http_only(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 0);

    /* 8 checks at one instant (equal weights), one of them failed. */
    for (int i = 0; i < 8; i++)
        http(&h, &p, T0, i != 3, 27);
    assert_int_equal(h.loss.n, 8);
    assert_int_equal(h.latency.n, 7);
    assert_near(glb_ewma_value(&h.loss), 0.125, 1e-12);
    assert_near(glb_ewma_value(&h.latency), 27, 1e-12);
    assert_near(lb_health_score(&h, &p), 402, 1e-9);

    /* An echo still shows its rtt, but is neither loss nor latency. */
    lb_health_icmp(&h, &p, T0 + 1, 0, 0);
    lb_health_icmp(&h, &p, T0 + 1, 1, 3.5);
    assert_int_equal(h.loss.n, 8);
    assert_int_equal(h.latency.n, 7);
    assert_near(glb_ewma_value(&h.rtt), 3.5, 1e-12);
}

/* ICMP only: ICMP is latency, loss and aliveness. */
static void test_sources_icmp_only(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 0, 1);

    lb_health_icmp(&h, &p, T0, 0, 0);
    assert_int_equal(h.state, LB_SITE_UNKNOWN);
    assert_string_equal(h.last_result, "icmp lost");
    assert_int_equal(h.last_ok, 0);
    lb_health_icmp(&h, &p, T0 + 30, 1, 0.8);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_string_equal(h.last_result, "icmp 0.8 ms");
    assert_near(glb_ewma_value(&h.latency), 0.8, 1e-12);
    assert_near(glb_ewma_value(&h.rtt), 0.8, 1e-12);
    assert_int_equal(h.loss.n, 2);

    lb_health_icmp(&h, &p, T0 + 60, 0, 0);
    lb_health_icmp(&h, &p, T0 + 90, 0, 0);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    lb_health_icmp(&h, &p, T0 + 120, 0, 0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    lb_health_icmp(&h, &p, T0 + 150, 1, 1.0);
    assert_int_equal(h.state, LB_SITE_DEAD);
    lb_health_icmp(&h, &p, T0 + 180, 1, 1.0);
    assert_int_equal(h.state, LB_SITE_ALIVE);
    assert_int_equal(h.checks, 7);
    assert_int_equal(h.failures, 4);

    /* An HTTP result on a site without a check URL is ignored. */
    glb_http_result r = http_ok(50);
    lb_health_http(&h, &p, T0 + 200, &r);
    assert_int_equal(h.latency.n, 3);
    assert_int_equal(h.checks, 7);
    assert_string_equal(h.last_result, "icmp 1.0 ms");
}

/* Neither source of loss: no loss sample, the score is the latency. */
static void test_no_loss_source(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 0, 0);
    lb_health_icmp(&h, &p, T0, 1, 71);
    lb_health_icmp(&h, &p, T0 + 1, 0, 0);
    assert_int_equal(h.loss.n, 0);
    assert_near(lb_health_score(&h, &p), 71, 1e-12); /* 71 ms, no loss: 71 */
}

/* DESIGN §6: 27 ms with 12.5 % loss scores about 400 (exactly 402 with
 * 30 x loss and a floor of 100 ms); 71 ms without loss scores 71. */
static void test_score_examples(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health a, b;
    lb_health_init(&a, &p, 1, 1);
    lb_health_init(&b, &p, 1, 1);
    for (int i = 0; i < 8; i++) { /* one echo in 8 lost, all at T0 */
        lb_health_icmp(&a, &p, T0, i != 0, 2);
        lb_health_icmp(&b, &p, T0, 1, 2);
    }
    http(&a, &p, T0, 1, 27);
    http(&b, &p, T0, 1, 71);
    assert_near(glb_ewma_value(&a.loss), 0.125, 1e-12);
    assert_near(lb_health_score(&a, &p), 402, 1e-9);
    assert_near(lb_health_score(&b, &p), 71, 1e-12);
    assert_true(lb_health_score(&b, &p) < lb_health_score(&a, &p));

    /* The same with a penalty table: the score follows the params. */
    p.score.npoints = 2;
    p.score.loss[0] = 0, p.score.penalty[0] = 0;
    p.score.loss[1] = 0.25, p.score.penalty[1] = 1;
    assert_near(lb_health_score(&a, &p), 27 + 100 * 0.5, 1e-9);
}

/* A site getting slower: its score rises with every slower check, and the
 * EWMA follows the DESIGN example when fed the same samples. */
static void test_slow_site_score_rises(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 1);
    double prev = -1;
    for (int i = 0; i < 30; i++) {
        http(&h, &p, T0 + 10 * i, 1, 20 + 10 * i);
        lb_health_icmp(&h, &p, T0 + 10 * i, 1, 1);
        double s = lb_health_score(&h, &p);
        assert_false(isnan(s));
        assert_true(s > prev);
        prev = s;
    }
    /* The average lags the newest value but moves towards it. */
    assert_true(prev < 20 + 10 * 29);
    assert_true(prev > 20 + 10 * 14);

    /* DESIGN §6: 8.0, 7.5, 7.7, 8.2, 7.6, 7.7 taken 0, 30, 60, 180, 240, 300 s
     * ago give 7.785 with C = 300. */
    static const double ages[6] = {0, 30, 60, 180, 240, 300};
    static const double lat[6] = {8.0, 7.5, 7.7, 8.2, 7.6, 7.7};
    lb_health_init(&h, &p, 1, 0);
    for (int i = 5; i >= 0; i--)
        http(&h, &p, T0 + 300 - ages[i], 1, lat[i]);
    assert_near(glb_ewma_value(&h.latency), 7.785, 0.001);
    assert_near(lb_health_score(&h, &p), 7.785, 0.001); /* no loss */
}

/* Old losses fade with the time constant; a shorter C forgets faster. */
static void test_time_constant(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 0, 1);
    lb_health_icmp(&h, &p, T0, 0, 0);
    lb_health_icmp(&h, &p, T0 + 300, 1, 10); /* one C later */
    /* loss = (1 * e^-1 + 0 * 1) / (e^-1 + 1) */
    assert_near(glb_ewma_value(&h.loss), exp(-1.0) / (1 + exp(-1.0)), 1e-12);
    lb_health_icmp(&h, &p, T0 + 3300, 1, 10);
    assert_true(glb_ewma_value(&h.loss) < 1e-4);
    assert_near(lb_health_score(&h, &p), 10, 0.1);

    p.ewma_c = 30;
    lb_health_init(&h, &p, 0, 1);
    assert_near(h.loss.c, 30, 0);
    lb_health_icmp(&h, &p, T0, 0, 0);
    lb_health_icmp(&h, &p, T0 + 300, 1, 10); /* ten C later */
    assert_near(glb_ewma_value(&h.loss), exp(-10.0) / (1 + exp(-10.0)), 1e-12);

    /* A changed time constant applies from the next sample on. */
    p.ewma_c = 600;
    lb_health_icmp(&h, &p, T0 + 301, 1, 10);
    assert_near(h.loss.c, 600, 0);
    assert_near(h.latency.c, 600, 0);
}

/* The last check: time, outcome, description, counters. */
static void test_last_result(void **state)
{
    (void)state;
    lb_health_params p;
    lb_health_params_default(&p);
    lb_health h;
    lb_health_init(&h, &p, 1, 1);

    http(&h, &p, T0, 1, 12.34);
    assert_string_equal(h.last_result, "http 200 ttfb 12.3 ms");
    assert_near(h.last_check, T0, 0);
    assert_int_equal(h.last_ok, 1);

    http(&h, &p, T0 + 10, 0, 0);
    assert_string_equal(h.last_result, "http timeout");
    assert_near(h.last_check, T0 + 10, 0);
    assert_int_equal(h.last_ok, 0);

    glb_http_result r = http_fail(GLB_HTTP_ERR_STATUS);
    r.status = 503;
    r.ttfb_ms = 4; /* a bad status is a failure even with a fast answer */
    lb_health_http(&h, &p, T0 + 20, &r);
    assert_string_equal(h.last_result, "http 503");
    assert_int_equal(h.latency.n, 1);

    static const struct {
        enum glb_http_error e;
        const char *s;
    } errs[] = {{GLB_HTTP_ERR_CONNECT, "http connect"}, {GLB_HTTP_ERR_TLS, "http tls"},
                {GLB_HTTP_ERR_RESET, "http reset"},     {GLB_HTTP_ERR_PROTOCOL, "http protocol"},
                {GLB_HTTP_ERR_TOO_BIG, "http too-big"}, {GLB_HTTP_ERR_STATUS, "http status"}};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        r = http_fail(errs[i].e);
        lb_health_http(&h, &p, T0 + 30 + (double)i, &r);
        assert_string_equal(h.last_result, errs[i].s);
    }
    assert_int_equal(h.state, LB_SITE_DEAD);

    /* ICMP does not overwrite the HTTP site's last check. */
    lb_health_icmp(&h, &p, T0 + 100, 1, 0.8);
    assert_string_equal(h.last_result, "http status");
    assert_near(h.last_check, T0 + 35, 0);
    assert_int_equal(h.checks, 9);
    assert_int_equal(h.failures, 8);

    /* A success without a ttfb is a success without a latency sample. */
    r = http_ok(0);
    r.ttfb_ms = -1;
    unsigned long n = h.latency.n;
    lb_health_http(&h, &p, T0 + 110, &r);
    assert_string_equal(h.last_result, "http 200");
    assert_int_equal(h.last_ok, 1);
    assert_int_equal(h.latency.n, n);
    r.ttfb_ms = NAN;
    lb_health_http(&h, &p, T0 + 120, &r);
    assert_int_equal(h.latency.n, n);
    assert_int_equal(h.state, LB_SITE_ALIVE);

    /* Long descriptions are cut, not overflowed. */
    r = http_ok(1e300);
    lb_health_http(&h, &p, T0 + 130, &r);
    assert_true(strlen(h.last_result) < sizeof(h.last_result));
    assert_memory_equal(h.last_result, "http 200 ttfb 1000", 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_init),
        cmocka_unit_test(test_hysteresis_alive_dead_alive),
        cmocka_unit_test(test_hysteresis_dead_recovery_interrupted),
        cmocka_unit_test(test_never_successful),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_sources_http_and_icmp),
        cmocka_unit_test(test_sources_http_only),
        cmocka_unit_test(test_sources_icmp_only),
        cmocka_unit_test(test_no_loss_source),
        cmocka_unit_test(test_score_examples),
        cmocka_unit_test(test_slow_site_score_rises),
        cmocka_unit_test(test_time_constant),
        cmocka_unit_test(test_last_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
