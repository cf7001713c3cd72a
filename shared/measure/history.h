/* The last hour of one site as the status page plots it: a fixed ring of
 * LB_HISTORY_LEN samples, one per LB_HISTORY_STEP seconds of the caller's
 * clock (the last value recorded in a step is the one kept), so the memory
 * per site is fixed (LB_HISTORY_LEN x 12 bytes) whatever the check rate.
 * Steps without a check have no sample (a gap in the plot).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_HISTORY_H
#define MEASURE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define LB_HISTORY_STEP 10  /* seconds */
#define LB_HISTORY_LEN  360 /* one hour */

typedef struct lb_history_slot {
    uint32_t step;          /* floor(t / LB_HISTORY_STEP) + 1; 0: empty */
    float latency_ms;       /* NaN: not measured */
    uint16_t loss;          /* 0..65535 for 0..1; 65535 + NaN: see loss_nan */
    uint8_t state;          /* enum lb_state */
    uint8_t loss_nan;
} lb_history_slot;

typedef struct lb_history {
    lb_history_slot slot[LB_HISTORY_LEN];
    size_t head;            /* the newest slot */
} lb_history;

typedef struct lb_history_sample {
    double t;               /* the start of its step, the caller's clock */
    int state;
    double latency_ms, loss; /* NaN: not measured */
} lb_history_sample;

/* An empty history. */
void lb_history_init(lb_history *h);

/* Records the site's state and averages at time now (>= 0, not before the
 * last recorded): overwrites the sample of now's step, or starts a new one. */
void lb_history_record(lb_history *h, double now, int state, double latency_ms, double loss);

/* Copies the samples of the hour before now, oldest first, into out (room
 * for max); returns how many. */
size_t lb_history_get(const lb_history *h, double now, lb_history_sample *out, size_t max);

#endif
