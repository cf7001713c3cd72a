/* Exponentially time-weighted averages and the site score (DESIGN §6).
 *
 * Both sums are kept relative to the newest sample's time t_last, so the
 * newest sample always has weight 1 and every other weight is e^(-age/C) <= 1.
 * Moving t_last forward multiplies both sums by e^(-dt/C) (which underflows
 * cleanly to 0 for long gaps); an older sample is added with its own weight
 * e^(-(t_last - t)/C). Hence sum_w >= 1 after the first sample (the value never
 * divides by zero) and sum_w stays below 1/(1 - e^(-dt/C)) for samples dt
 * apart, so nothing overflows on long runs.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/ewma.h"

#include <math.h>

void glb_ewma_init(glb_ewma *e, double c)
{
    e->c = c > 0 ? c : 1.0;
    e->sum_xw = 0;
    e->sum_w = 0;
    e->t_last = 0;
    e->n = 0;
}

void glb_ewma_add(glb_ewma *e, double t, double x)
{
    if (e->n == 0) {
        e->sum_xw = x;
        e->sum_w = 1;
        e->t_last = t;
    } else if (t >= e->t_last) {
        double f = exp(-(t - e->t_last) / e->c);
        e->sum_xw = e->sum_xw * f + x;
        e->sum_w = e->sum_w * f + 1;
        e->t_last = t;
    } else {
        double w = exp(-(e->t_last - t) / e->c);
        e->sum_xw += x * w;
        e->sum_w += w;
    }
    e->n++;
}

double glb_ewma_value(const glb_ewma *e)
{
    if (e->n == 0)
        return NAN;
    return e->sum_xw / e->sum_w;
}

double glb_ewma_weight(const glb_ewma *e, double now)
{
    if (e->n == 0)
        return 0;
    return e->sum_w * exp(-(now - e->t_last) / e->c);
}

void glb_score_defaults(glb_score_params *p)
{
    p->floor_ms = 100;
    p->factor = 30;
    p->npoints = 0;
    for (size_t i = 0; i < GLB_PENALTY_MAX_POINTS; i++) {
        p->loss[i] = 0;
        p->penalty[i] = 0;
    }
}

/* loss is clamped to [0, 1]; NaN (no loss evidence) counts as 0. A table is
 * clamped to its first and last points; points whose loss does not increase
 * are skipped rather than divided by. */
double glb_penalty(const glb_score_params *p, double loss)
{
    if (!(loss > 0))
        loss = 0;
    else if (loss > 1)
        loss = 1;
    size_t n = p->npoints;
    if (n > GLB_PENALTY_MAX_POINTS)
        n = GLB_PENALTY_MAX_POINTS;
    if (n == 0)
        return p->factor * loss;
    if (loss <= p->loss[0])
        return p->penalty[0];
    for (size_t i = 1; i < n; i++) {
        if (loss < p->loss[i]) {
            double x0 = p->loss[i - 1], x1 = p->loss[i];
            double y0 = p->penalty[i - 1], y1 = p->penalty[i];
            if (!(x1 > x0))
                return y1;
            return y0 + (y1 - y0) * (loss - x0) / (x1 - x0);
        }
    }
    return p->penalty[n - 1];
}

double glb_score(const glb_score_params *p, double latency_ms, double loss)
{
    double base = latency_ms > p->floor_ms ? latency_ms : p->floor_ms;
    if (isnan(latency_ms))
        return latency_ms;
    return latency_ms + base * glb_penalty(p, loss);
}
