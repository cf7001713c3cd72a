/* Turning the sites' health into an answer order (DESIGN §5). Pure functions,
 * no allocation: the caller's order array is sorted in place.
 *
 * Candidates: DEAD sites are left out. ALIVE sites form the leading group;
 * UNKNOWN sites (never decided) follow them when unmeasured_last = 1, or are
 * left out when unmeasured_last = 0 and at least one site is ALIVE (they are
 * still ranked when nothing else is). When every site is DEAD the ranking
 * fails open: all sites, heaviest first, then by index; share = 1.
 *
 * Keys, smaller first, within each group (NaN always after any number):
 *   latency:   score
 *   cost:      cost, then score
 *   proximity: distance_km, then score
 *   combined:  w_latency * L + w_cost * C + w_distance * D, where each term is
 *              normalised across the candidate sites as value / max over the
 *              candidates (so 0..1; ratios are kept, which a min-max scaling
 *              would not: 20 vs 21 ms would become 0 vs 1). The max is taken
 *              within each group (ALIVE sites; not yet measured ones), since
 *              keys are only compared within a group: a site being discovered
 *              does not rescale, hence reorder, the measured ones.
 * Then weight (heavier first), then index: the order is fully deterministic.
 *
 * Share (the answer set): the leading entries of the first group that are
 * as good as the best one. A key k is as good as the best b when
 * k <= b + max(|b| * margin, abs), abs being margin_ms for latency scores
 * and 0 for other keys (costs, kilometres and combined values have no ms).
 *   latency:   the score is compared (relative and absolute margin);
 *   cost, proximity: the primary key is compared (relative margin), and the
 *              score too, against the first entry's: a site as cheap or as
 *              near but much slower is not one a client should use first;
 *   combined:  the combined value (relative margin).
 * The share ends at the first entry that is not as good (a prefix of the
 * order, so a ranking and its share say everything). When the best key is
 * NaN (e.g. no site measured yet) the sites with a NaN key tie and share.
 *
 * Decisions (contract ambiguities):
 * - "Alive" for unmeasured_last = 0 and for the groups is state ALIVE; an
 *   ALIVE site without a score (rare) stays in the first group, sorted after
 *   the scored ones under the latency policy.
 * - A state outside enum lb_state is treated as UNKNOWN.
 * - An unknown policy value ranks like latency.
 * - Combined: a term whose weight is 0, NaN or negative is ignored; a term
 *   for which no candidate has data (finite value) contributes 0 to every
 *   site; a site without data for a term where others have some gets the
 *   worst normalised value, 1 (a site of unknown location must not look
 *   nearest); negative values count as 0; when the max is 0 every site's
 *   term is 0.
 * - A margin that is negative or NaN counts as 0 (only exact ties share).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shared/measure/health.h"
#include "shared/svcconf.h"

/* The names are shared/svcconf.c's, which both configuration files use. */
int lb_policy_parse(const char *s)
{
    return glb_svc_policy_parse(s);
}

const char *lb_policy_str(int policy)
{
    return glb_svc_policy_str(policy);
}

void lb_policy_params_default(lb_policy_params *p)
{
    p->policy = LB_POLICY_LATENCY;
    p->margin = 0.1;
    p->margin_ms = 0;
    p->w_latency = 1;
    p->w_cost = 0;
    p->w_distance = 0;
    p->unmeasured_last = 1;
}

enum { T_LATENCY, T_COST, T_DISTANCE, NTERMS };

typedef struct rank_ctx {
    int policy;
    const lb_rank_in *in;
    double w[NTERMS];   /* usable weights (0 = term ignored) */
    double max[2][NTERMS]; /* per group: max over the candidates with data */
    int has[2][NTERMS];    /* per group: some candidate has data */
} rank_ctx;

static int group_of(const lb_rank_in *s)
{
    return s->state == LB_SITE_ALIVE ? 0 : 1;
}

/* A term's raw value, NaN when the site has no data for it. */
static double term_value(const lb_rank_in *s, int t)
{
    double v = t == T_LATENCY ? s->score : t == T_COST ? s->cost : s->distance_km;
    if (!isfinite(v))
        return NAN;
    return v < 0 ? 0 : v;
}

static double combined_key(const rank_ctx *c, const lb_rank_in *s)
{
    int g = group_of(s);
    double k = 0;
    for (int t = 0; t < NTERMS; t++) {
        if (!(c->w[t] > 0) || !c->has[g][t])
            continue;
        double v = term_value(s, t), norm;
        if (isnan(v))
            norm = 1;
        else if (c->max[g][t] > 0)
            norm = v / c->max[g][t];
        else
            norm = 0;
        k += c->w[t] * norm;
    }
    return k;
}

static double primary_key(const rank_ctx *c, uint32_t i)
{
    const lb_rank_in *s = &c->in[i];
    switch (c->policy) {
    case LB_POLICY_COST: return s->cost;
    case LB_POLICY_PROXIMITY: return s->distance_km;
    case LB_POLICY_COMBINED: return combined_key(c, s);
    default: return s->score;
    }
}

static double secondary_key(const rank_ctx *c, uint32_t i)
{
    if (c->policy == LB_POLICY_COST || c->policy == LB_POLICY_PROXIMITY)
        return c->in[i].score;
    return 0;
}

/* Smaller first, NaN after every number, NaNs equal. */
static int cmp_nan_last(double a, double b)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
}

static int cmp_weight_index(const lb_rank_in *in, uint32_t a, uint32_t b)
{
    if (in[a].weight != in[b].weight)
        return in[a].weight > in[b].weight ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

static int cmp_sites(const rank_ctx *c, uint32_t a, uint32_t b)
{
    int d = group_of(&c->in[a]) - group_of(&c->in[b]);
    if (d)
        return d;
    d = cmp_nan_last(primary_key(c, a), primary_key(c, b));
    if (d)
        return d;
    d = cmp_nan_last(secondary_key(c, a), secondary_key(c, b));
    if (d)
        return d;
    return cmp_weight_index(c->in, a, b);
}

/* Insertion sort: a service has a handful of sites, and the comparison is a
 * total order, so the result does not depend on the algorithm. c NULL sorts
 * by weight and index only (fail-open). */
typedef struct sort_arg {
    const rank_ctx *c;
    const lb_rank_in *in;
} sort_arg;

static int sort_cmp(const void *a, const void *b, void *arg)
{
    const sort_arg *s = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return s->c ? cmp_sites(s->c, x, y) : cmp_weight_index(s->in, x, y);
}

/* The orders are total (index breaks every tie), so any sort gives the same
 * result; qsort keeps services with thousands of sites cheap. */
static void sort_order(const rank_ctx *c, const lb_rank_in *in, uint32_t *order, size_t count)
{
    sort_arg s = {c, in};
    qsort_r(order, count, sizeof(*order), sort_cmp, &s);
}

/* Key k is as good as the best b: within the relative margin of b, or
 * within abs of it; NaNs are as good only as a NaN best. */
static int as_good(double k, double b, double rel, double abs)
{
    if (isnan(b))
        return isnan(k);
    double slack = fabs(b) * rel;
    if (abs > slack)
        slack = abs;
    return k <= b + slack;
}

static double usable_weight(double w)
{
    return w > 0 ? w : 0; /* NaN and negatives: ignored */
}

void lb_rank(const lb_policy_params *p, const lb_rank_in *in, size_t n, lb_rank_out *out)
{
    out->count = 0;
    out->share = 0;
    out->failopen = 0;
    if (n == 0 || !in)
        return;

    size_t alive = 0, dead = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].state == LB_SITE_ALIVE)
            alive++;
        else if (in[i].state == LB_SITE_DEAD)
            dead++;
    }

    if (dead == n) {
        for (size_t i = 0; i < n; i++)
            out->order[i] = (uint32_t)i;
        sort_order(NULL, in, out->order, n);
        out->count = n;
        out->share = 1;
        out->failopen = 1;
        return;
    }

    int skip_unknown = !p->unmeasured_last && alive > 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].state == LB_SITE_DEAD)
            continue;
        if (skip_unknown && in[i].state != LB_SITE_ALIVE)
            continue;
        out->order[count++] = (uint32_t)i;
    }

    rank_ctx c;
    c.policy = p->policy;
    c.in = in;
    c.w[T_LATENCY] = usable_weight(p->w_latency);
    c.w[T_COST] = usable_weight(p->w_cost);
    c.w[T_DISTANCE] = usable_weight(p->w_distance);
    memset(c.max, 0, sizeof(c.max));
    memset(c.has, 0, sizeof(c.has));
    for (size_t k = 0; k < count; k++) {
        const lb_rank_in *s = &in[out->order[k]];
        int g = group_of(s);
        for (int t = 0; t < NTERMS; t++) {
            double v = term_value(s, t);
            if (isnan(v))
                continue;
            if (!c.has[g][t] || v > c.max[g][t])
                c.max[g][t] = v;
            c.has[g][t] = 1;
        }
    }

    sort_order(&c, in, out->order, count);
    out->count = count;

    double rel = p->margin > 0 ? p->margin : 0;
    double abs_ms = p->margin_ms > 0 ? p->margin_ms : 0;
    int by_score = c.policy == LB_POLICY_LATENCY || c.policy < 0 || c.policy > LB_POLICY_COMBINED;
    int also_score = c.policy == LB_POLICY_COST || c.policy == LB_POLICY_PROXIMITY;
    uint32_t first = out->order[0];
    double best = primary_key(&c, first);
    size_t share = 1;
    while (share < count) {
        uint32_t i = out->order[share];
        if (group_of(&in[i]) != group_of(&in[first]))
            break;
        if (!as_good(primary_key(&c, i), best, rel, by_score ? abs_ms : 0))
            break;
        if (also_score && !as_good(in[i].score, in[first].score, rel, abs_ms))
            break;
        share++;
    }
    out->share = share;
}
