/* Exponentially time-weighted averages and the site score (DESIGN §6).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_EWMA_H
#define MEASURE_EWMA_H

#include <stddef.h>

/* avg = sum(x_i e^(-(now - t_i)/C)) / sum(e^(-(now - t_i)/C)), kept in O(1):
 * both sums are rescaled to the newest sample's time on each add. */
typedef struct glb_ewma {
    double c;       /* time constant C, seconds */
    double sum_xw;  /* sum of x_i * w_i, weights relative to t_last */
    double sum_w;   /* sum of w_i */
    double t_last;  /* time of the newest sample */
    unsigned long n;
} glb_ewma;

/* Starts an empty average with time constant c (> 0) seconds. */
void glb_ewma_init(glb_ewma *e, double c);

/* Adds sample x taken at time t (seconds, any epoch). Samples older than the
 * newest one are weighted correctly too. */
void glb_ewma_add(glb_ewma *e, double t, double x);

/* The average; NaN when no sample was added. */
double glb_ewma_value(const glb_ewma *e);

/* Sum of the weights as seen at time now (how much recent evidence there is). */
double glb_ewma_weight(const glb_ewma *e, double now);

/* Loss penalty: either linear (factor x loss) or a piecewise-linear table of
 * (loss, penalty) points with loss increasing, clamped at both ends. */
#define GLB_PENALTY_MAX_POINTS 16
typedef struct glb_score_params {
    double floor_ms;  /* default 100 */
    double factor;    /* linear penalty per unit loss, default 30 */
    size_t npoints;   /* 0: linear; else the table below is used */
    double loss[GLB_PENALTY_MAX_POINTS];
    double penalty[GLB_PENALTY_MAX_POINTS];
} glb_score_params;

/* Fills the defaults: floor 100 ms, penalty 30 x loss. */
void glb_score_defaults(glb_score_params *p);

/* penalty(loss) for loss in [0, 1]. */
double glb_penalty(const glb_score_params *p, double loss);

/* score = latency + max(floor, latency) * penalty(loss); milliseconds, lower
 * is better. */
double glb_score(const glb_score_params *p, double latency_ms, double loss);

#endif
