/* A site's last hour (shared/measure/history.h). SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/history.h"

#include <math.h>
#include <string.h>

void lb_history_init(lb_history *h)
{
    memset(h, 0, sizeof(*h));
}

static uint32_t step_of(double t)
{
    return (uint32_t)(t / LB_HISTORY_STEP) + 1;
}

void lb_history_record(lb_history *h, double now, int state, double latency_ms, double loss)
{
    if (now < 0)
        return;
    uint32_t step = step_of(now);
    lb_history_slot *s = &h->slot[h->head];
    if (s->step && step < s->step)
        return; /* the clock went back: keep what is there */
    if (s->step && s->step != step) {
        h->head = (h->head + 1) % LB_HISTORY_LEN;
        s = &h->slot[h->head];
    }
    s->step = step;
    s->state = (uint8_t)state;
    s->latency_ms = (float)latency_ms;
    s->loss_nan = isnan(loss);
    s->loss = s->loss_nan ? 0 : (uint16_t)lrint((loss < 0 ? 0 : loss > 1 ? 1 : loss) * 65535);
}

size_t lb_history_get(const lb_history *h, double now, lb_history_sample *out, size_t max)
{
    uint32_t last = step_of(now);
    size_t n = 0;
    for (size_t k = 1; k <= LB_HISTORY_LEN && n < max; k++) { /* oldest first: from the slot after head */
        const lb_history_slot *s = &h->slot[(h->head + k) % LB_HISTORY_LEN];
        if (!s->step || s->step > last || last - s->step >= LB_HISTORY_LEN)
            continue;
        out[n].t = (double)(s->step - 1) * LB_HISTORY_STEP;
        out[n].state = s->state;
        out[n].latency_ms = s->latency_ms;
        out[n].loss = s->loss_nan ? NAN : s->loss / 65535.0;
        n++;
    }
    return n;
}
