/* Proxy-cache mode (DESIGN §8): the DNS-LB drives a cache engine the
 * operator runs (Varnish), so that it can answer clients with the engine's
 * address and the engine fetches from the best site. dnslb renders the
 * engine's configuration (VCL) from its ranking, the same answer-set rules
 * as its DNS answers deciding which origins come first, and loads it with
 * varnishadm when the ranking changes, at most once per min-interval. The
 * varnishadm runs are child processes watched from the event loop: nothing
 * waits for them. SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_PROXY_H
#define DNSLB_PROXY_H

#include <stddef.h>

#include "dnslb/conf.h"
#include "dnslb/table.h"

struct event_base;
struct evbuffer;

typedef struct lb_proxy lb_proxy;

/* Renders the VCL for table t (ranked as published) and conf (the same
 * services, in the same order): one backend per site address, probes off;
 * per service a fallback director with the answer set first (a random
 * director by weight: the sites as good as the best, at most answer-count)
 * then the other live sites in ranked order; dead sites left out (every
 * site when all are dead, as DNS answers fail open); Host-based routing;
 * on a fetch error or a 5xx the next origin in order. id names this box in
 * a comment. Appends to out; 0, or -1 when out of memory. */
int lb_proxy_render(const lb_table *t, const lb_conf *conf, const char *id, struct evbuffer *out);

/* A proxy driver on base; does nothing until configured with a proxy: section. */
lb_proxy *lb_proxy_new(struct event_base *base);

/* Takes the proxy: section of conf (copied) and this box's id. A change of
 * engine, name or directory forces the next load. */
void lb_proxy_configure(lb_proxy *p, const lb_conf *conf);

/* A new answer table was published: renders, and when the VCL differs from
 * the one loaded (or being loaded), loads it now or, when the last load
 * started less than min-interval ago, when that interval ends. */
void lb_proxy_update(lb_proxy *p, const lb_table *t, const lb_conf *conf);

/* The engine's state for dnslb-control status: last VCL loaded, when,
 * loads and failures, the last error, whether a load is pending. */
void lb_proxy_report(const lb_proxy *p, struct evbuffer *out);

/* Kills a varnishadm still running and frees p. */
void lb_proxy_free(lb_proxy *p);

#endif
