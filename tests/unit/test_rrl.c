/* Unit tests for shared/rrl.c (response rate limiting) with a fake clock:
 * rate, burst, slip, IPv4 and IPv6 prefixes, a full table and who gives way,
 * and glb_resp_slip (the truncated answer a slip sends).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shared/dnsresp.h"
#include "shared/rrl.h"

#define MS UINT64_C(1000000)
#define S  UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * S) /* a clock that is not at 0 */

static glb_addr A(const char *s)
{
    glb_addr a;
    assert_int_equal(glb_addr_parse(s, &a), 0);
    return a;
}

static glb_rrl *mk(unsigned rate, unsigned burst, unsigned slip, unsigned slots)
{
    glb_rrl_cfg c = {.rate = rate, .burst = burst, .slip = slip, .slots = slots};
    int e;
    glb_rrl *r = glb_rrl_new(&c, &e);
    assert_non_null(r);
    return r;
}

/* Responses to from at now that pass, of n. */
static unsigned passes(glb_rrl *r, const char *from, uint64_t now, unsigned n, unsigned *slipctr)
{
    glb_addr a = A(from);
    unsigned p = 0;
    for (unsigned i = 0; i < n; i++)
        p += glb_rrl_check(r, &a, now, slipctr) == GLB_RRL_PASS;
    return p;
}

static void test_off(void **state)
{
    (void)state;
    glb_rrl_cfg c = {.rate = 0};
    int e = -1;
    assert_null(glb_rrl_new(&c, &e));
    assert_int_equal(e, 0);
    unsigned sc = 0;
    glb_addr a = A("192.0.2.1");
    assert_int_equal(glb_rrl_check(NULL, &a, T0, &sc), GLB_RRL_PASS);
}

static void test_rate(void **state)
{
    (void)state;
    unsigned sc = 0;
    glb_rrl *r = mk(100, 0, 0, 0); /* burst: one second's worth */
    /* The burst at once, then nothing more in the same instant. */
    assert_int_equal(passes(r, "192.0.2.1", T0, 150, &sc), 100);
    assert_int_equal(sc, 50);
    /* 15 ms later: one more (1/100 s each; not at exactly 10 ms: the
     * clock's 1.024 us units round). */
    assert_int_equal(passes(r, "192.0.2.1", T0 + 15 * MS, 5, &sc), 1);
    /* A steady flood of 1000/s for 10 s: 100/s pass, a little rounding aside. */
    unsigned p = 0;
    for (uint64_t t = T0 + 20 * MS; t < T0 + 20 * MS + 10 * S; t += MS)
        p += passes(r, "192.0.2.1", t, 1, &sc);
    assert_in_range(p, 995, 1005);
    /* A client under the rate is never limited: 50/s for 5 s. */
    glb_rrl *q = mk(100, 0, 0, 0);
    p = 0;
    for (uint64_t t = T0; t < T0 + 5 * S; t += 20 * MS)
        p += passes(q, "198.51.100.7", t, 1, &sc);
    assert_int_equal(p, 250);
    glb_rrl_free(q);
    /* After a quiet second the bucket is full again. */
    assert_int_equal(passes(r, "192.0.2.1", T0 + 30 * S, 200, &sc), 100);
    glb_rrl_free(r);
}

static void test_burst(void **state)
{
    (void)state;
    unsigned sc = 0;
    glb_rrl *r = mk(1000, 5, 0, 0);
    assert_int_equal(passes(r, "192.0.2.1", T0, 20, &sc), 5);
    /* 2.5 ms later at 1000/s: 2 more. */
    assert_int_equal(passes(r, "192.0.2.1", T0 + 2500 * UINT64_C(1000), 20, &sc), 2);
    /* Long idle: still only the burst, not the idle time's worth. */
    assert_int_equal(passes(r, "192.0.2.1", T0 + 100 * S, 20, &sc), 5);
    glb_rrl_free(r);
}

static void test_slip(void **state)
{
    (void)state;
    glb_addr a = A("192.0.2.1");
    unsigned sc = 0;
    glb_rrl *r = mk(10, 0, 2, 0);
    assert_int_equal(passes(r, "192.0.2.1", T0, 10, &sc), 10);
    unsigned drop = 0, slip = 0;
    for (int i = 0; i < 100; i++) {
        enum glb_rrl_verdict v = glb_rrl_check(r, &a, T0, &sc);
        assert_true(v != GLB_RRL_PASS);
        drop += v == GLB_RRL_DROP;
        slip += v == GLB_RRL_SLIP;
    }
    assert_int_equal(slip, 50); /* every second one */
    assert_int_equal(drop, 50);
    glb_rrl_free(r);

    for (unsigned n = 0; n <= 3; n++) { /* 0: never, 1: always, 3: every third */
        r = mk(1, 0, n, 0);
        sc = 0;
        assert_int_equal(glb_rrl_check(r, &a, T0, &sc), GLB_RRL_PASS);
        slip = 0;
        for (int i = 0; i < 99; i++)
            slip += glb_rrl_check(r, &a, T0, &sc) == GLB_RRL_SLIP;
        assert_int_equal(slip, n ? 99 / n : 0);
        glb_rrl_free(r);
    }
}

static void test_prefixes(void **state)
{
    (void)state;
    unsigned sc = 0;
    glb_rrl *r = mk(10, 0, 0, 0); /* /24 and /56 */
    assert_int_equal(passes(r, "192.0.2.1", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "192.0.2.254", T0, 10, &sc), 0);  /* same /24 */
    assert_int_equal(passes(r, "192.0.3.1", T0, 10, &sc), 10);   /* another */
    assert_int_equal(passes(r, "2001:db8:0:1::1", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "2001:db8:0:ff:1:2:3:4", T0, 10, &sc), 0); /* same /56 */
    assert_int_equal(passes(r, "2001:db8:0:100::1", T0, 10, &sc), 10);   /* another /56 */
    /* v4 0.0.0.0/24 and :: are different keys (the family is hashed too). */
    assert_int_equal(passes(r, "0.0.0.1", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "::1", T0, 10, &sc), 10);
    glb_rrl_free(r);

    glb_rrl_cfg c = {.rate = 10, .v4_prefix = 32, .v6_prefix = 128};
    int e;
    r = glb_rrl_new(&c, &e);
    assert_non_null(r);
    assert_int_equal(passes(r, "192.0.2.1", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "192.0.2.2", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "2001:db8::1", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "2001:db8::2", T0, 10, &sc), 10);
    assert_int_equal(passes(r, "2001:db8::2", T0, 10, &sc), 0);
    glb_rrl_free(r);
}

/* A table of one set (8 buckets): more prefixes than buckets. */
static void test_pressure(void **state)
{
    (void)state;
    unsigned sc = 0;
    char ip[32];
    glb_rrl *r = mk(10, 0, 0, 8);
    /* A victim prefix flooded into debt. */
    assert_int_equal(passes(r, "192.0.2.1", T0, 100, &sc), 10);
    /* A thousand other prefixes, one response each: each passes (a new
     * prefix always does), and they push out one another, not the one in
     * debt, whose bucket says more. */
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        assert_int_equal(passes(r, ip, T0 + 1 * MS, 1, &sc), 1);
    }
    assert_int_equal(passes(r, "192.0.2.1", T0 + 2 * MS, 10, &sc), 0);
    /* Eight prefixes in debt, each deeper than the one before; a ninth
     * takes the bucket of the least in debt, which then starts afresh. */
    glb_rrl *q = mk(10, 0, 0, 8);
    for (int i = 0; i < 8; i++) {
        snprintf(ip, sizeof ip, "10.0.%d.1", i);
        assert_int_equal(passes(q, ip, T0 + (uint64_t)i * 100 * MS, 10, &sc), 10);
    }
    uint64_t t = T0 + 750 * MS; /* 10.0.0.0/24 has 7 responses of credit back, 10.0.7.0 none */
    assert_int_equal(passes(q, "10.0.9.1", t, 1, &sc), 1);
    assert_int_equal(passes(q, "10.0.7.1", t, 5, &sc), 0);
    assert_int_equal(passes(q, "10.0.0.1", t, 20, &sc), 10); /* evicted: a full bucket again */
    /* Memory stays bounded whatever the number of prefixes: nothing to
     * check but that it is all still one table (ASan sees any overrun). */
    glb_rrl_free(q);
    glb_rrl_free(r);
}

/* The 44-bit clock wraps after about 200 days; a bucket from before is full. */
static void test_clock(void **state)
{
    (void)state;
    unsigned sc = 0;
    glb_rrl *r = mk(10, 0, 0, 0);
    uint64_t t0 = glb_rrl_now();
    assert_int_equal(passes(r, "192.0.2.1", t0, 20, &sc), 10);
    assert_int_equal(passes(r, "192.0.2.1", t0 + (UINT64_C(1) << 54) + 37 * S, 20, &sc), 10);
    glb_rrl_free(r);
}

static void test_slip_response(void **state)
{
    (void)state;
    /* id 0x1234, QR AA RD RA, 1 question www.x. A IN, 1 answer, 1 additional. */
    uint8_t m[64] = {0x12, 0x34, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
                     3, 'w', 'w', 'w', 1, 'x', 0, 0, 1, 0, 1,
                     0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    size_t len = glb_resp_slip(m, 39);
    assert_int_equal(len, 23);
    assert_int_equal(m[2], 0x87); /* TC added */
    assert_int_equal(m[5], 1);
    for (int i = 6; i < 12; i++)
        assert_int_equal(m[i], 0);
    assert_int_equal(m[0], 0x12);
    /* A question cut short, or none: the header alone. */
    uint8_t h[20] = {0, 1, 0x81, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'a'};
    assert_int_equal(glb_resp_slip(h, 14), 12);
    assert_int_equal(h[5], 0);
    assert_int_equal(glb_resp_slip(h, 11), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_slip),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_pressure),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_slip_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
