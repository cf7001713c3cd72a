/* Unit tests for shared/measure/policy.c: the order under each policy, margins and
 * shares, dead and not-yet-measured sites, fail-open, deterministic
 * tie-breaks, the answer set (share) with relative and absolute margins,
 * and health feeding the ranking.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shared/measure/health.h"
#include "shared/measure/policy.h"

#define MAXN 16
#define A LB_SITE_ALIVE
#define D LB_SITE_DEAD
#define U LB_SITE_UNKNOWN

static lb_rank_in site(int state, double score, double cost, double dist, unsigned weight)
{
    lb_rank_in s;
    s.state = state;
    s.score = score;
    s.cost = cost;
    s.distance_km = dist;
    s.weight = weight;
    return s;
}

static uint32_t order_buf[MAXN];

static lb_rank_out rank(const lb_policy_params *p, const lb_rank_in *in, size_t n)
{
    lb_rank_out out;
    for (size_t i = 0; i < MAXN; i++)
        order_buf[i] = 0xdeadbeef;
    out.order = order_buf;
    out.count = 99;
    out.share = 99;
    out.failopen = 99;
    lb_rank(p, in, n, &out);
    for (size_t i = out.count; i < MAXN; i++) /* nothing written past count */
        assert_int_equal(order_buf[i], 0xdeadbeef);
    return out;
}

/* Checks the order (n entries), the share and fail-open. */
#define check(out, share_, failopen_, ...)                                               \
    do {                                                                                 \
        const uint32_t want_[] = {__VA_ARGS__};                                          \
        check_at(&(out), want_, sizeof(want_) / sizeof(want_[0]), (share_), (failopen_), \
                 __LINE__);                                                              \
    } while (0)

static void check_at(const lb_rank_out *o, const uint32_t *want, size_t n, size_t share, int failopen,
                     int line)
{
    char got[256] = "", wnt[256] = "";
    size_t gl = 0, el = 0;
    for (size_t i = 0; i < o->count && gl < sizeof(got) - 16; i++)
        gl += (size_t)snprintf(got + gl, sizeof(got) - gl, " %u", (unsigned)o->order[i]);
    for (size_t i = 0; i < n && el < sizeof(wnt) - 16; i++)
        el += (size_t)snprintf(wnt + el, sizeof(wnt) - el, " %u", (unsigned)want[i]);
    if (o->count != n || strcmp(got, wnt) != 0)
        fail_msg("line %d: order [%s ] want [%s ]", line, got, wnt);
    if (o->share != share)
        fail_msg("line %d: share %zu want %zu", line, o->share, share);
    if (o->failopen != failopen)
        fail_msg("line %d: failopen %d want %d", line, o->failopen, failopen);
}

static lb_policy_params params(int policy, double margin)
{
    lb_policy_params p;
    lb_policy_params_default(&p);
    p.policy = policy;
    p.margin = margin;
    return p;
}

static void test_names_and_defaults(void **state)
{
    (void)state;
    assert_int_equal(lb_policy_parse("latency"), LB_POLICY_LATENCY);
    assert_int_equal(lb_policy_parse("cost"), LB_POLICY_COST);
    assert_int_equal(lb_policy_parse("proximity"), LB_POLICY_PROXIMITY);
    assert_int_equal(lb_policy_parse("combined"), LB_POLICY_COMBINED);
    assert_int_equal(lb_policy_parse("Latency"), -1);
    assert_int_equal(lb_policy_parse("latency "), -1);
    assert_int_equal(lb_policy_parse(""), -1);
    assert_int_equal(lb_policy_parse("geo"), -1);
    assert_int_equal(lb_policy_parse(NULL), -1);
    for (int i = LB_POLICY_LATENCY; i <= LB_POLICY_COMBINED; i++)
        assert_int_equal(lb_policy_parse(lb_policy_str(i)), i);
    assert_string_equal(lb_policy_str(LB_POLICY_PROXIMITY), "proximity");
    assert_string_equal(lb_policy_str(-1), "unknown");
    assert_string_equal(lb_policy_str(4), "unknown");

    lb_policy_params p;
    memset(&p, 0x5a, sizeof(p));
    lb_policy_params_default(&p);
    assert_int_equal(p.policy, LB_POLICY_LATENCY);
    assert_true(p.margin == 0.1);
    assert_true(p.w_latency == 1 && p.w_cost == 0 && p.w_distance == 0);
    assert_int_equal(p.unmeasured_last, 1);
}

static void test_latency(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_LATENCY, 0);
    lb_rank_in in[] = {site(A, 50, 0, NAN, 1), site(A, 20, 9, NAN, 1), site(A, 35, 0, NAN, 1),
                       site(D, 1, 0, NAN, 1)};
    lb_rank_out o = rank(&p, in, 4);
    check(o, 1, 0, 1, 2, 0); /* the dead site is left out, however fast */

    /* An alive site without a score comes after the scored ones. */
    lb_rank_in in2[] = {site(A, NAN, 0, NAN, 9), site(A, 40, 0, NAN, 1), site(A, 30, 0, NAN, 1)};
    o = rank(&p, in2, 3);
    check(o, 1, 0, 2, 1, 0);

    /* A single site. */
    o = rank(&p, in, 1);
    check(o, 1, 0, 0);
    /* Nothing to rank. */
    o = rank(&p, in, 0);
    assert_int_equal(o.count, 0);
    assert_int_equal(o.share, 0);
    assert_int_equal(o.failopen, 0);
}

static void test_latency_margin(void **state)
{
    (void)state;
    lb_rank_in in[] = {site(A, 20, 0, NAN, 1), site(A, 21, 0, NAN, 1), site(A, 30, 0, NAN, 1),
                       site(A, 22.5, 0, NAN, 1)};
    lb_policy_params p = params(LB_POLICY_LATENCY, 0.1); /* limit 22 */
    lb_rank_out o = rank(&p, in, 4);
    check(o, 2, 0, 0, 1, 3, 2);
    p.margin = 0.15; /* limit 23 */
    o = rank(&p, in, 4);
    check(o, 3, 0, 0, 1, 3, 2);
    p.margin = 0.5; /* limit 30: inclusive */
    o = rank(&p, in, 4);
    check(o, 4, 0, 0, 1, 3, 2);
    p.margin = 0;
    o = rank(&p, in, 4);
    check(o, 1, 0, 0, 1, 3, 2);
    p.margin = -0.5; /* counts as 0 */
    o = rank(&p, in, 4);
    check(o, 1, 0, 0, 1, 3, 2);
    p.margin = NAN;
    o = rank(&p, in, 4);
    check(o, 1, 0, 0, 1, 3, 2);
    p.margin = INFINITY;
    o = rank(&p, in, 4);
    check(o, 4, 0, 0, 1, 3, 2);
}

/* Equal keys: heavier first, then lower index; the share takes them all. */
static void test_tie_breaks(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_LATENCY, 0);
    lb_rank_in in[] = {site(A, 10, 0, NAN, 1), site(A, 10, 0, NAN, 5), site(A, 10, 0, NAN, 5),
                       site(A, 10, 0, NAN, 0), site(A, 10, 0, NAN, 1)};
    lb_rank_out o = rank(&p, in, 5);
    check(o, 5, 0, 1, 2, 0, 4, 3);

    /* The order never depends on the input order beyond the index rule:
     * the same sites listed backwards come out the same, renumbered. */
    lb_rank_in rev[5];
    for (int i = 0; i < 5; i++)
        rev[i] = in[4 - i];
    o = rank(&p, rev, 5);
    check(o, 5, 0, 2, 3, 0, 4, 1);

    /* Ranking twice gives the same answer. */
    lb_rank_in big[MAXN];
    for (int i = 0; i < MAXN; i++)
        big[i] = site(A, (double)((i * 7) % 5), 0, NAN, (unsigned)(i % 3));
    o = rank(&p, big, MAXN);
    uint32_t first[MAXN];
    memcpy(first, o.order, sizeof(first));
    o = rank(&p, big, MAXN);
    assert_memory_equal(first, o.order, sizeof(first));
    /* Sorted by score, then weight desc, then index. */
    for (int i = 1; i < MAXN; i++) {
        const lb_rank_in *x = &big[first[i - 1]], *y = &big[first[i]];
        assert_true(x->score < y->score ||
                    (x->score == y->score &&
                     (x->weight > y->weight || (x->weight == y->weight && first[i - 1] < first[i]))));
    }
}

static void test_cost(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_COST, 0.1);
    /* Cost first, latency as the tie-break; the share needs both: as cheap
     * and as fast (an unmeasured site is not known to be as fast). */
    lb_rank_in in[] = {site(A, 10, 5, NAN, 1), site(A, 21, 1, NAN, 1), site(A, 20, 1, NAN, 1),
                       site(A, NAN, 1, NAN, 1), site(A, 5, 1.2, NAN, 1)};
    lb_rank_out o = rank(&p, in, 5);
    check(o, 2, 0, 2, 1, 3, 4, 0);
    in[1].score = 30; /* as cheap, but half again as slow */
    o = rank(&p, in, 5);
    check(o, 1, 0, 2, 1, 3, 4, 0);
    lb_rank_in c[] = {site(A, 20, 1, NAN, 1), site(A, 19, 1.2, NAN, 1)};
    o = rank(&p, c, 2);
    check(o, 1, 0, 0, 1);
    p.margin = 0.25; /* 1.2 is within 25 % of 1 */
    o = rank(&p, c, 2);
    check(o, 2, 0, 0, 1);

    /* A zero best cost shares only with other zero costs. */
    p.margin = 0.5;
    lb_rank_in z[] = {site(A, 50, 0, NAN, 1), site(A, 40, 0.01, NAN, 1), site(A, 60, 0, NAN, 1)};
    o = rank(&p, z, 3);
    check(o, 2, 0, 0, 2, 1);

    /* Negative costs (credits): the margin is relative to |best|. */
    p.margin = 0.1;
    lb_rank_in neg[] = {site(A, 10, -8, NAN, 1), site(A, 10, -9.5, NAN, 1), site(A, 10, -10, NAN, 1)};
    o = rank(&p, neg, 3);
    check(o, 2, 0, 2, 1, 0);
}

static void test_proximity(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_PROXIMITY, 0.1);
    /* Distance first (unknown location last), latency as the tie-break;
     * the share needs both as near and as fast. */
    lb_rank_in in[] = {site(A, 10, 0, 500, 1), site(A, 5, 0, NAN, 1), site(A, 21, 0, 100, 1),
                       site(A, 20, 0, 100, 1), site(A, 1, 0, 109, 1), site(A, 1, 0, 111, 1)};
    lb_rank_out o = rank(&p, in, 6);
    check(o, 3, 0, 3, 2, 4, 5, 0, 1);

    in[2].score = 30; /* as near, but half again as slow: out of the share */
    o = rank(&p, in, 6);
    check(o, 1, 0, 3, 2, 4, 5, 0, 1);

    /* No location known anywhere: NaN distances tie, latency decides. */
    lb_rank_in none[] = {site(A, 30, 0, NAN, 1), site(A, 10, 0, NAN, 2), site(A, 10.5, 0, NAN, 1)};
    o = rank(&p, none, 3);
    check(o, 2, 0, 1, 2, 0);
}

static void test_combined(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_COMBINED, 0.1);
    /* Default weights (1, 0, 0): the latency order. */
    lb_rank_in l[] = {site(A, 30, 1, 10, 1), site(A, 10, 9, 900, 1), site(A, 20, 5, 50, 1)};
    lb_rank_out o = rank(&p, l, 3);
    check(o, 1, 0, 1, 2, 0);

    /* Latency and cost, each / its max: scores 10, 20, 40 -> .25, .5, 1;
     * costs 4, 2, 1 -> 1, .5, .25; sums 1.25, 1.0, 1.25. */
    p.w_latency = 1;
    p.w_cost = 1;
    lb_rank_in in[] = {site(A, 10, 4, NAN, 1), site(A, 20, 2, NAN, 1), site(A, 40, 1, NAN, 3)};
    o = rank(&p, in, 3);
    check(o, 1, 0, 1, 2, 0); /* the tie 0 / 2 goes to the heavier */
    p.margin = 0.25;         /* limit 1.25 */
    o = rank(&p, in, 3);
    check(o, 3, 0, 1, 2, 0);

    /* Weighting the cost more moves the cheap site up: 2*cost + latency:
     * 2.25, 1.5, 1.5 -> tie 1 / 2 to the heavier. */
    p.margin = 0;
    p.w_cost = 2;
    o = rank(&p, in, 3);
    check(o, 2, 0, 2, 1, 0);
    p.w_latency = 0;
    o = rank(&p, in, 3);
    check(o, 1, 0, 2, 1, 0);

    /* A distance term nobody has data for contributes nothing. */
    p.w_latency = 1;
    p.w_cost = 0;
    p.w_distance = 5;
    lb_rank_in nd[] = {site(A, 30, 0, NAN, 1), site(A, 10, 0, NAN, 1), site(A, 20, 0, NAN, 1)};
    o = rank(&p, nd, 3);
    check(o, 1, 0, 1, 2, 0);

    /* A site without a location gets the worst distance term (1), never the
     * best: distances 100, ?, 200 -> .5, 1, 1. */
    p.w_latency = 0;
    p.w_distance = 1;
    lb_rank_in md[] = {site(A, 10, 0, 100, 1), site(A, 10, 0, NAN, 1), site(A, 10, 0, 200, 1)};
    o = rank(&p, md, 3);
    check(o, 1, 0, 0, 1, 2);
    /* An ALIVE site without a score gets the worst latency term. */
    p.w_latency = 1;
    p.w_distance = 0;
    lb_rank_in ms[] = {site(A, NAN, 0, 0, 9), site(A, 80, 0, 0, 1), site(A, 40, 0, 0, 1)};
    o = rank(&p, ms, 3);
    check(o, 1, 0, 2, 0, 1); /* NaN -> 1 ties with 80 / 80 = 1; heavier wins */

    /* Negative and NaN weights are ignored; all ignored: everything ties. */
    p.w_latency = -1;
    p.w_cost = 1;
    p.w_distance = NAN;
    o = rank(&p, in, 3);
    check(o, 1, 0, 2, 1, 0);
    p.w_cost = 0;
    o = rank(&p, in, 3);
    check(o, 3, 0, 2, 0, 1);

    /* Three terms with equal weights, worked by hand:
     * score 10, 20, 40 -> .25 .5 1; cost 3, 0, 6 -> .5 0 1;
     * dist 1000, 4000, 2000 -> .25 1 .5; sums 1.0, 1.5, 2.5. */
    p.w_latency = p.w_cost = p.w_distance = 1;
    p.margin = 0.5;
    lb_rank_in three[] = {site(A, 40, 6, 2000, 1), site(A, 20, 0, 4000, 1), site(A, 10, 3, 1000, 1)};
    o = rank(&p, three, 3);
    check(o, 2, 0, 2, 1, 0);
}

/* A site that is still being discovered does not rescale (hence reorder)
 * the measured ones under the combined policy. */
static void test_combined_unknown_does_not_rescale(void **state)
{
    (void)state;
    lb_policy_params p = params(LB_POLICY_COMBINED, 0);
    p.w_latency = 1;
    p.w_cost = 1;
    /* Alone: A = 10/20 + 5/5 = 1.5, B = 20/20 + 1/5 = 1.2: B first. */
    lb_rank_in in[] = {site(A, 10, 5, NAN, 1), site(A, 20, 1, NAN, 1), site(U, NAN, 100, NAN, 1)};
    lb_rank_out o = rank(&p, in, 2);
    check(o, 1, 0, 1, 0);
    o = rank(&p, in, 3);
    check(o, 1, 0, 1, 0, 2);
}

static void test_unknown_sites(void **state)
{
    (void)state;
    /* Unmeasured last: a cheap unknown site comes after the alive ones,
     * and never joins their share. */
    lb_policy_params p = params(LB_POLICY_COST, 100);
    lb_rank_in in[] = {site(U, NAN, 0, NAN, 9), site(A, 50, 10, NAN, 1), site(A, 40, 10, NAN, 1),
                       site(D, 1, 0, NAN, 1)};
    lb_rank_out o = rank(&p, in, 4);
    check(o, 2, 0, 2, 1, 0);

    p = params(LB_POLICY_LATENCY, 0.1);
    lb_rank_in in2[] = {site(U, NAN, 0, NAN, 1), site(A, 500, 0, NAN, 1), site(U, NAN, 0, NAN, 1),
                        site(A, 450, 0, NAN, 1)};
    o = rank(&p, in2, 4);
    check(o, 1, 0, 3, 1, 0, 2); /* a slow alive site still beats the unknown */

    /* unmeasured_last = 0: left out while a site is alive ... */
    p.unmeasured_last = 0;
    o = rank(&p, in2, 4);
    check(o, 1, 0, 3, 1);
    /* ... including an alive site without a score yet ... */
    lb_rank_in in3[] = {site(U, NAN, 0, NAN, 1), site(A, NAN, 0, NAN, 1)};
    o = rank(&p, in3, 2);
    check(o, 1, 0, 1);
    /* ... but ranked when nothing else is (dead ones stay out, no
     * fail-open): unknown sites tie on their missing scores and share. */
    lb_rank_in in4[] = {site(U, NAN, 0, NAN, 1), site(D, 5, 0, NAN, 9), site(U, NAN, 0, NAN, 3)};
    o = rank(&p, in4, 3);
    check(o, 2, 0, 2, 0);
    p.unmeasured_last = 1;
    o = rank(&p, in4, 3);
    check(o, 2, 0, 2, 0);

    /* Only unknown sites, cost policy: their keys still order them. */
    p = params(LB_POLICY_COST, 0);
    lb_rank_in in5[] = {site(U, NAN, 3, NAN, 1), site(U, NAN, 1, NAN, 1), site(U, NAN, 2, NAN, 1)};
    o = rank(&p, in5, 3);
    check(o, 1, 0, 1, 2, 0);

    /* A state outside the enum counts as unknown. */
    p = params(LB_POLICY_LATENCY, 0.1);
    lb_rank_in in6[] = {site(7, 1, 0, NAN, 1), site(A, 100, 0, NAN, 1)};
    o = rank(&p, in6, 2);
    check(o, 1, 0, 1, 0);
}

static void test_failopen(void **state)
{
    (void)state;
    for (int pol = LB_POLICY_LATENCY; pol <= LB_POLICY_COMBINED; pol++) {
        lb_policy_params p = params(pol, 0.1);
        /* Every site dead: all of them, by weight then index, whatever
         * their (stale) keys. */
        lb_rank_in in[] = {site(D, 1, 0, 1, 1), site(D, 90, 9, 900, 3), site(D, 50, 5, 50, 3),
                           site(D, 2, 1, 2, 0), site(D, 3, 2, 3, 2)};
        lb_rank_out o = rank(&p, in, 5);
        check(o, 1, 1, 1, 2, 4, 0, 3);
        o = rank(&p, in, 1);
        check(o, 1, 1, 0);
        p.unmeasured_last = 0;
        o = rank(&p, in, 5);
        check(o, 1, 1, 1, 2, 4, 0, 3);
    }

    /* One site alive again: fail-open ends, the dead stay out. */
    lb_policy_params p = params(LB_POLICY_LATENCY, 0.1);
    lb_rank_in in[] = {site(D, 1, 0, 1, 5), site(A, 90, 9, 900, 1), site(D, 50, 5, 50, 3)};
    lb_rank_out o = rank(&p, in, 3);
    check(o, 1, 0, 1);
    /* Dead and unknown: not fail-open, the unknown one is tried. */
    in[1].state = U;
    o = rank(&p, in, 3);
    check(o, 1, 0, 1);
}

/* The absolute margin (ms) joins sites close in milliseconds when the
 * relative one alone would not: 1.0 and 1.5 ms are equally good to a client. */
static void test_margin_ms(void **state)
{
    (void)state;
    lb_rank_in in[] = {site(A, 1.5, 0, NAN, 1), site(A, 1.0, 0, NAN, 1), site(A, 9.0, 0, NAN, 1)};
    lb_policy_params p = params(LB_POLICY_LATENCY, 0.1);
    lb_rank_out o = rank(&p, in, 3);
    check(o, 1, 0, 1, 0, 2); /* 10 % of 1.0 ms leaves 1.5 out */
    p.margin_ms = 0.5;       /* limit 1.5: inclusive */
    o = rank(&p, in, 3);
    check(o, 2, 0, 1, 0, 2);
    p.margin_ms = 0.49;
    o = rank(&p, in, 3);
    check(o, 1, 0, 1, 0, 2);
    /* The larger of the two margins counts: 10 % of 100 is 10 > 5 ms. */
    lb_rank_in big[] = {site(A, 100, 0, NAN, 1), site(A, 109, 0, NAN, 1), site(A, 111, 0, NAN, 1)};
    p.margin_ms = 5;
    o = rank(&p, big, 3);
    check(o, 2, 0, 0, 1, 2);
    /* Negative and NaN absolute margins count as 0. */
    p.margin = 0;
    p.margin_ms = -3;
    o = rank(&p, in, 3);
    check(o, 1, 0, 1, 0, 2);
    p.margin_ms = NAN;
    o = rank(&p, in, 3);
    check(o, 1, 0, 1, 0, 2);
    /* Milliseconds mean nothing to a cost: costs 1 and 3 stay apart. */
    lb_rank_in c[] = {site(A, 10, 3, NAN, 1), site(A, 10, 1, NAN, 1)};
    p = params(LB_POLICY_COST, 0.1);
    p.margin_ms = 5;
    o = rank(&p, c, 2);
    check(o, 1, 0, 1, 0);
}

/* Under cost (and proximity), a site as cheap as the best but much slower
 * is not one a client should use first: it is ranked, not answered. */
static void test_cost_set_needs_speed(void **state)
{
    (void)state;
    lb_rank_in in[] = {site(A, 10, 1, NAN, 1), site(A, 200, 1, NAN, 1), site(A, 10.5, 1, NAN, 1)};
    lb_policy_params p = params(LB_POLICY_COST, 0.1);
    lb_rank_out o = rank(&p, in, 3);
    check(o, 2, 0, 0, 2, 1);
    p = params(LB_POLICY_PROXIMITY, 0.1);
    for (int i = 0; i < 3; i++)
        in[i].distance_km = 500;
    o = rank(&p, in, 3);
    check(o, 2, 0, 0, 2, 1);
    /* The slow one's speed is compared with the first's, whatever its cost. */
    lb_rank_in d[] = {site(A, 50, 1.0, NAN, 1), site(A, 20, 1.05, NAN, 1)};
    p = params(LB_POLICY_COST, 0.1);
    o = rank(&p, d, 2);
    check(o, 2, 0, 0, 1);
}

/* With the defaults, a site twice as slow as the best never shares the
 * answer, however small the numbers (loopback tests measure 0.1 ms). */
static void test_twice_as_slow_never_shares(void **state)
{
    (void)state;
    lb_policy_params p;
    lb_policy_params_default(&p);
    for (double best = 0.01; best < 100000; best *= 1.7) {
        lb_rank_in in[] = {site(A, 2 * best, 0, NAN, 1000), site(A, best, 0, NAN, 1)};
        lb_rank_out o = rank(&p, in, 2);
        check(o, 1, 0, 1, 0);
        in[0].score = best * 1.05; /* 5 %: as good */
        o = rank(&p, in, 2);
        check(o, 2, 0, 1, 0);
    }
}

/* Health feeding the policy: three sites checked over time; one slows down,
 * one dies, then everything dies and the answer fails open. */
static void test_health_to_rank(void **state)
{
    (void)state;
    lb_health_params hp;
    lb_health_params_default(&hp);
    lb_policy_params p = params(LB_POLICY_LATENCY, 0.1);
    lb_health h[3];
    unsigned weight[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++)
        lb_health_init(&h[i], &hp, 1, 0);

    lb_rank_in in[3];
    lb_rank_out o;
#define SNAP()                                                                                \
    do {                                                                                      \
        for (int i_ = 0; i_ < 3; i_++)                                                        \
            in[i_] = site(h[i_].state, lb_health_score(&h[i_], &hp), 0, NAN, weight[i_]); \
        o = rank(&p, in, 3);                                                                  \
    } while (0)

    glb_http_result ok, fail;
    memset(&ok, 0, sizeof(ok));
    ok.err = GLB_HTTP_OK;
    ok.status = 200;
    memset(&fail, 0, sizeof(fail));
    fail.err = GLB_HTTP_ERR_CONNECT;
    fail.ttfb_ms = -1;

    /* Nothing checked yet: all unknown, all sharing by weight. */
    SNAP();
    check(o, 3, 0, 2, 0, 1);

    /* Site 1 answers first: it leads, the others follow unmeasured. */
    double t = 1000;
    ok.ttfb_ms = 30;
    lb_health_http(&h[1], &hp, t, &ok);
    SNAP();
    check(o, 1, 0, 1, 2, 0);

    /* All answer: 0 at 20 ms, 1 at 30, 2 at 21 -> 0 and 2 share. */
    for (int k = 0; k < 5; k++, t += 10) {
        ok.ttfb_ms = 20;
        lb_health_http(&h[0], &hp, t, &ok);
        ok.ttfb_ms = 30;
        lb_health_http(&h[1], &hp, t, &ok);
        ok.ttfb_ms = 21;
        lb_health_http(&h[2], &hp, t, &ok);
    }
    SNAP();
    check(o, 2, 0, 0, 2, 1);

    /* Site 0 slows down to 200 ms: it falls behind. */
    for (int k = 0; k < 60; k++, t += 10) {
        ok.ttfb_ms = 200;
        lb_health_http(&h[0], &hp, t, &ok);
        ok.ttfb_ms = 30;
        lb_health_http(&h[1], &hp, t, &ok);
        ok.ttfb_ms = 21;
        lb_health_http(&h[2], &hp, t, &ok);
    }
    SNAP();
    check(o, 1, 0, 2, 1, 0);

    /* Site 2 loses one check: still alive and answered, though the loss
     * (from HTTP here, no ICMP) weighs on its score: about 1/27 loss is
     * a penalty of 30 x 0.037 x 100 ms, so it falls behind site 1. */
    lb_health_http(&h[2], &hp, t, &fail);
    SNAP();
    assert_int_equal(h[2].state, LB_SITE_ALIVE);
    assert_true(lb_health_score(&h[2], &hp) > 100);
    check(o, 1, 0, 1, 2, 0);
    /* Two more: dead, out. */
    lb_health_http(&h[2], &hp, t + 10, &fail);
    lb_health_http(&h[2], &hp, t + 20, &fail);
    SNAP();
    check(o, 1, 0, 1, 0);

    /* Everyone dies: fail-open by weight. */
    for (int k = 0; k < 3; k++) {
        lb_health_http(&h[0], &hp, t + 30 + k, &fail);
        lb_health_http(&h[1], &hp, t + 30 + k, &fail);
    }
    SNAP();
    check(o, 1, 1, 2, 0, 1);
#undef SNAP
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_latency_margin),
        cmocka_unit_test(test_tie_breaks),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_proximity),
        cmocka_unit_test(test_combined),
        cmocka_unit_test(test_combined_unknown_does_not_rescale),
        cmocka_unit_test(test_unknown_sites),
        cmocka_unit_test(test_failopen),
        cmocka_unit_test(test_margin_ms),
        cmocka_unit_test(test_cost_set_needs_speed),
        cmocka_unit_test(test_twice_as_slow_never_shares),
        cmocka_unit_test(test_health_to_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
