/* The prober's test API: fake probe back ends and a fixed schedule, so that
 * a test drives the prober in simulated time (with lb_prober_set_clock),
 * without sockets, timers or sleeping (tests/unit/test_scenario.c). Not for
 * daemons. SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBER_TEST_H
#define MEASURE_PROBER_TEST_H

#include <stdint.h>

#include "shared/addr.h"
#include "shared/measure/probe_http.h"
#include "shared/measure/probe_icmp.h"
#include "shared/url.h"

typedef struct lb_prober lb_prober;

/* Stand-ins for glb_http_check_start_from / glb_http_check_cancel and
 * glb_ping_send / glb_ping_cancel, with the same contracts: a started check
 * (non-NULL handle, ping handle > 0) calls back exactly once unless
 * cancelled. icmp_available: whether ICMP works (both families). */
typedef struct lb_probe_backend {
    glb_http_check *(*http_start)(void *ctx, const glb_url *u, const glb_addr *addr, unsigned timeout_ms,
                                  glb_http_cb cb, void *arg);
    void (*http_cancel)(void *ctx, glb_http_check *check);
    uint32_t (*ping_send)(void *ctx, const glb_addr *a, unsigned timeout_ms, glb_ping_cb cb, void *arg);
    void (*ping_cancel)(void *ctx, uint32_t handle);
    int icmp_available;
    void *ctx;
} lb_probe_backend;

/* Uses be (copied) instead of the real probes. Before lb_prober_configure. */
void lb_prober_test_backend(lb_prober *p, const lb_probe_backend *be);

/* No jitter: every check exactly one interval after the last, the first
 * ones at half the first round's spread (0.25 s for fewer than 250 sites). */
void lb_prober_test_no_jitter(lb_prober *p);

/* Does, at the prober's clock, what its timers would: the checks whose time
 * has come, and the pending table when its 100 ms are over. Returns the
 * time (prober's clock) anything is due next, INFINITY when nothing is. */
double lb_prober_test_step(lb_prober *p);

/* enum lb_state of the first site named name (any service), -1 if none. */
int lb_prober_test_state(const lb_prober *p, const char *name);

#endif
