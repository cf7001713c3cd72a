/* Resolving the host names of sites with libunbound, inside the event loop:
 * A and AAAA, DNSSEC-validated when a trust anchor is configured, and again
 * when the answer's TTL runs out. SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_RESOLVE_H
#define MEASURE_RESOLVE_H

#include <stddef.h>

#include "shared/measure/mconf.h"
#include "shared/addr.h"

struct event_base;

typedef struct lb_resolver lb_resolver;
struct ub_ctx;

/* A libunbound context in its own thread (ub_ctx_async): forwarding to fwd,
 * or without any to resolv.conf's servers when resolvconf is set (else full
 * recursion); validating with trust_anchor unless NULL or "". NULL with a
 * message in err. */
struct ub_ctx *lb_ub_new(const glb_addr *fwd, size_t nfwd, int resolvconf, const char *trust_anchor, char *err,
                         size_t errlen);

struct event;
/* An event on base that runs ub's callbacks (ub_process) whenever its
 * descriptor is readable, added; NULL when out of memory. */
struct event *lb_ub_watch(struct event_base *base, struct ub_ctx *ub);

/* Called with the addresses of name (both families, at most max), or n = 0
 * and a reason when resolution failed (NXDOMAIN, SERVFAIL, bogus). */
typedef void (*lb_resolve_cb)(void *arg, const glb_addr *addrs, size_t n, const char *why);

/* A resolver using conf's forwarders (or /etc/resolv.conf) and trust
 * anchor. NULL with a message in err. */
lb_resolver *lb_resolver_new(struct event_base *base, const lb_resolver_conf *conf, char *err, size_t errlen);
void lb_resolver_free(lb_resolver *r);

/* Keeps name resolved: cb now (once both A and AAAA answered) and again
 * after each re-resolution when the TTL has run out (at least every 30 s,
 * at most every hour). Returns a handle > 0, or 0 when out of memory. */
unsigned lb_resolve_watch(lb_resolver *r, const char *name, lb_resolve_cb cb, void *arg);

/* Stops watching: cb is not called again. */
void lb_resolve_unwatch(lb_resolver *r, unsigned handle);

#endif
