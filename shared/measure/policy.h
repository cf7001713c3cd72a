/* Turning the sites' health into an answer order (DESIGN §5):
 * latency | cost | proximity | combined, dead sites out, unmeasured sites
 * after the measured alive ones, fail-open by weight when all are dead.
 * Pure functions. SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_POLICY_H
#define MEASURE_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum lb_policy { LB_POLICY_LATENCY = 0, LB_POLICY_COST, LB_POLICY_PROXIMITY, LB_POLICY_COMBINED };

/* Parses "latency", "cost", "proximity", "combined"; -1 when unknown. */
int lb_policy_parse(const char *s);
const char *lb_policy_str(int policy);

typedef struct lb_policy_params {
    int policy;
    double margin;          /* sites whose key is within margin (fraction, e.g. 0.1 = 10 %)
                               of the best one's form the answer set (default 0.1) */
    double margin_ms;       /* or within this many ms of the best score (default 0, so that
                               a site twice as slow never joins however fast the best is) */
    double w_latency, w_cost, w_distance; /* combined: weights of the normalised terms
                                             (default 1, 0, 0) */
    int unmeasured_last;    /* 1 (default): sites never checked rank after measured alive
                               ones; 0: they are left out while any site is alive */
} lb_policy_params;

/* One site as the policy sees it. */
typedef struct lb_rank_in {
    int state;              /* enum lb_state from shared/measure/health.h */
    double score;           /* ms, NaN when unmeasured */
    double cost;
    double distance_km;     /* from the box, NaN when either location is unknown */
    unsigned weight;
} lb_rank_in;

/* The result: site indices best first, and how many leading entries form
 * the answer set, the sites a client should use first (1 when the best
 * stands alone). */
typedef struct lb_rank_out {
    uint32_t *order;        /* caller's array of n entries */
    size_t count;           /* entries filled (dead sites are left out) */
    size_t share;           /* 1..count: leading entries as good as the best */
    int failopen;           /* every site dead: all of them, by weight */
} lb_rank_out;

void lb_policy_params_default(lb_policy_params *p);

/* Ranks n sites. Ties are broken by weight (heavier first), then index, so
 * the result is deterministic. */
void lb_rank(const lb_policy_params *p, const lb_rank_in *in, size_t n, lb_rank_out *out);

#endif
