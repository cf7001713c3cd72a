/* What the DNS-LB knows of one site: time-weighted averages of latency and
 * loss, aliveness with hysteresis, the last check. Pure logic driven by the
 * caller's clock (seconds), so tests replay scenarios without sleeping.
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Sources: latency samples are the HTTP time to first byte when the site has
 * a check URL, else the ICMP round trip. Loss samples (0 or 1 each) come from
 * ICMP when ICMP is available, else from the HTTP checks. Aliveness follows
 * the HTTP checks when the site has one, else the ICMP echoes. */
#ifndef MEASURE_HEALTH_H
#define MEASURE_HEALTH_H

#include "shared/measure/ewma.h"
#include "shared/measure/probe_http.h"

typedef struct lb_health_params {
    double ewma_c;          /* time constant, seconds (default 300) */
    unsigned dead_after;    /* consecutive failures that make an alive site dead (default 3) */
    unsigned alive_after;   /* consecutive successes that make a dead site alive (default 2) */
    glb_score_params score; /* floor and penalty */
} lb_health_params;

enum lb_state {
    LB_SITE_UNKNOWN = 0,    /* no check completed yet */
    LB_SITE_ALIVE,
    LB_SITE_DEAD
};

typedef struct lb_health {
    int has_http;           /* the site has a check URL */
    int icmp_ok;            /* ICMP is available for the site's address family */
    int state;              /* enum lb_state */
    unsigned fails, oks;    /* current run of consecutive failures / successes */
    glb_ewma latency;       /* ms */
    glb_ewma loss;          /* 0..1 */
    glb_ewma rtt;           /* ICMP round trip, ms, shown even when not the latency source */
    double last_check;      /* time of the last completed check, 0 = never */
    int last_ok;
    char last_result[64];   /* e.g. "http 200 ttfb 12.3 ms", "icmp timeout" */
    unsigned long checks, failures;
} lb_health;

/* Defaults: C 300 s, dead after 3, alive after 2, floor 100 ms, 30 x loss. */
void lb_health_params_default(lb_health_params *p);

/* A site that has not been checked yet. */
void lb_health_init(lb_health *h, const lb_health_params *p, int has_http, int icmp_ok);

/* Records an HTTP check that completed at time now. */
void lb_health_http(lb_health *h, const lb_health_params *p, double now, const glb_http_result *r);

/* Records an ICMP echo (ok with rtt_ms, or lost) completed at time now. */
void lb_health_icmp(lb_health *h, const lb_health_params *p, double now, int ok, double rtt_ms);

/* The score (ms, lower is better); NaN while there is no latency sample. */
double lb_health_score(const lb_health *h, const lb_health_params *p);

/* "unknown", "alive", "dead" */
const char *lb_state_str(int state);

#endif
