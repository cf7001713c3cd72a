/* What the DNS-LB knows of one site (DESIGN §6): EWMA of latency and loss,
 * aliveness with hysteresis, the last check.
 *
 * Sources (header comment): the latency samples are the HTTP time to first
 * byte of successful checks when has_http, else the ICMP round trip of
 * answered echoes; the loss samples (0 or 1) come from ICMP when icmp_ok,
 * else from the HTTP checks; aliveness follows HTTP when has_http, else ICMP.
 * The ICMP round trip is always kept in h->rtt, whatever the sources.
 *
 * Aliveness, with dead_after = D and alive_after = A:
 *   UNKNOWN: the first success makes the site ALIVE; failures keep it
 *            UNKNOWN until D consecutive ones make it DEAD (a site that never
 *            answered is dead after D failures, not before);
 *   ALIVE:   D consecutive failures make it DEAD; a success resets the run,
 *            so one lost check between successes never flips it;
 *   DEAD:    A consecutive successes make it ALIVE; a failure resets the run.
 *
 * Decisions (contract ambiguities):
 * - dead_after or alive_after 0 counts as 1 (a zero threshold has no sense).
 * - Only the checks that decide aliveness (HTTP when has_http, else ICMP)
 *   update last_check, last_ok, last_result, checks and failures, so that
 *   the "last check" shown never says "icmp lost" for a site whose HTTP
 *   check is fine; the ICMP round trip is visible in h->rtt anyway.
 * - lb_health_http on a site with has_http = 0 is ignored (it has no HTTP
 *   source by the header's rules); lb_health_icmp on a site with icmp_ok = 0
 *   still feeds h->rtt and, when has_http = 0, the latency and aliveness,
 *   but never the loss (the brief: loss from ICMP only when icmp_ok).
 * - A successful HTTP check whose ttfb_ms is negative or NaN (phase not
 *   reported) adds no latency sample but still counts as a success.
 * - An HTTP check that failed for any reason (including a bad status) is a
 *   loss sample of 1 when HTTP is the loss source.
 * - The EWMA time constant follows p->ewma_c on every sample (when > 0), so a
 *   reloaded configuration takes effect without losing the history.
 * - last_check = 0 means "never", so callers' clocks should not start at 0.
 * - last_result is "" until the first deciding check.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/health.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lb_health_params_default(lb_health_params *p)
{
    p->ewma_c = 300;
    p->dead_after = 3;
    p->alive_after = 2;
    glb_score_defaults(&p->score);
}

void lb_health_init(lb_health *h, const lb_health_params *p, int has_http, int icmp_ok)
{
    memset(h, 0, sizeof(*h));
    h->has_http = has_http ? 1 : 0;
    h->icmp_ok = icmp_ok ? 1 : 0;
    h->state = LB_SITE_UNKNOWN;
    glb_ewma_init(&h->latency, p->ewma_c);
    glb_ewma_init(&h->loss, p->ewma_c);
    glb_ewma_init(&h->rtt, p->ewma_c);
    h->last_check = 0;
    h->last_ok = 0;
    h->last_result[0] = '\0';
}

static void add_sample(glb_ewma *e, const lb_health_params *p, double now, double x)
{
    if (p->ewma_c > 0)
        e->c = p->ewma_c;
    glb_ewma_add(e, now, x);
}

/* One check that decides aliveness. */
static void record(lb_health *h, const lb_health_params *p, double now, int ok)
{
    unsigned dead_after = p->dead_after ? p->dead_after : 1;
    unsigned alive_after = p->alive_after ? p->alive_after : 1;

    h->checks++;
    h->last_check = now;
    h->last_ok = ok ? 1 : 0;
    if (ok) {
        if (h->oks < ~0u)
            h->oks++;
        h->fails = 0;
    } else {
        h->failures++;
        if (h->fails < ~0u)
            h->fails++;
        h->oks = 0;
    }

    switch (h->state) {
    case LB_SITE_ALIVE:
        if (!ok && h->fails >= dead_after)
            h->state = LB_SITE_DEAD;
        break;
    case LB_SITE_DEAD:
        if (ok && h->oks >= alive_after)
            h->state = LB_SITE_ALIVE;
        break;
    default: /* UNKNOWN (or garbage: treated as unknown) */
        if (ok)
            h->state = LB_SITE_ALIVE;
        else if (h->fails >= dead_after)
            h->state = LB_SITE_DEAD;
        else
            h->state = LB_SITE_UNKNOWN;
        break;
    }
}

static const char *http_err_name(enum glb_http_error e)
{
    switch (e) {
    case GLB_HTTP_OK: return "ok";
    case GLB_HTTP_ERR_CONNECT: return "connect";
    case GLB_HTTP_ERR_TLS: return "tls";
    case GLB_HTTP_ERR_TIMEOUT: return "timeout";
    case GLB_HTTP_ERR_RESET: return "reset";
    case GLB_HTTP_ERR_PROTOCOL: return "protocol";
    case GLB_HTTP_ERR_STATUS: return "status";
    case GLB_HTTP_ERR_TOO_BIG: return "too-big";
    }
    return "error";
}

void lb_health_http(lb_health *h, const lb_health_params *p, double now, const glb_http_result *r)
{
    if (!h->has_http)
        return;
    int ok = r->err == GLB_HTTP_OK;

    if (ok && r->ttfb_ms >= 0) /* false for NaN too */
        add_sample(&h->latency, p, now, r->ttfb_ms);
    if (!h->icmp_ok)
        add_sample(&h->loss, p, now, ok ? 0.0 : 1.0);

    if (ok && r->ttfb_ms >= 0)
        snprintf(h->last_result, sizeof(h->last_result), "http %d ttfb %.1f ms", r->status, r->ttfb_ms);
    else if (ok)
        snprintf(h->last_result, sizeof(h->last_result), "http %d", r->status);
    else if (r->err == GLB_HTTP_ERR_STATUS && r->status > 0)
        snprintf(h->last_result, sizeof(h->last_result), "http %d", r->status);
    else
        snprintf(h->last_result, sizeof(h->last_result), "http %s", http_err_name(r->err));
    record(h, p, now, ok);
}

void lb_health_icmp(lb_health *h, const lb_health_params *p, double now, int ok, double rtt_ms)
{
    /* An answered echo without a usable round trip still proves aliveness
     * and is no loss, but adds no time sample. */
    int has_rtt = ok && rtt_ms >= 0;

    if (has_rtt)
        add_sample(&h->rtt, p, now, rtt_ms);
    if (h->icmp_ok)
        add_sample(&h->loss, p, now, ok ? 0.0 : 1.0);
    if (h->has_http)
        return;

    if (has_rtt)
        add_sample(&h->latency, p, now, rtt_ms);
    if (has_rtt)
        snprintf(h->last_result, sizeof(h->last_result), "icmp %.1f ms", rtt_ms);
    else
        snprintf(h->last_result, sizeof(h->last_result), ok ? "icmp ok" : "icmp lost");
    record(h, p, now, ok);
}

double lb_health_score(const lb_health *h, const lb_health_params *p)
{
    double lat = glb_ewma_value(&h->latency);
    if (isnan(lat))
        return lat;
    double loss = h->loss.n ? glb_ewma_value(&h->loss) : 0.0;
    return glb_score(&p->score, lat, loss);
}

const char *lb_state_str(int state)
{
    switch (state) {
    case LB_SITE_UNKNOWN: return "unknown";
    case LB_SITE_ALIVE: return "alive";
    case LB_SITE_DEAD: return "dead";
    }
    return "invalid";
}
