/* Egress discovery ("Who am I?", DESIGN §3): the address a DNS-B sees when
 * this box's ISP resolver asks it something is often not the address in
 * resolv.conf (anycast front ends, resolver farms, outgoing-interface). So,
 * through each resolver this box is configured with (dnslb.conf resolver:
 * addresses, else the nameservers of /etc/resolv.conf), we ask
 * <16 random hex>.<whoami zone> TXT with libunbound forwarding to exactly
 * that resolver; the DNS-B answers "src=ADDR" (and "ecs=PREFIX" when the
 * query carried EDNS Client Subnet), and the map client claims the learned
 * addresses as egress. Rounds repeat every interval (with ±10 % jitter), when
 * a new whoami zone is announced, and when resolv.conf changes (its stat is
 * polled). An egress address stays known until it has not been seen for
 * keep_rounds intervals, so a failed round or a farm answering from another
 * member does not withdraw a claim at once.
 *
 * The ECS prefix a DNS-B reports is logged (the resolver sends ECS: the
 * operator probably wants client-prefix claims) but not claimed.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_WHOAMI_H
#define DNSLB_WHOAMI_H

#include <stddef.h>
#include <stdint.h>

#include "dnslb/conf.h"
#include "shared/addr.h"

struct event_base;
struct evbuffer;

#define LB_WHOAMI_MAX_RESOLVERS 16 /* resolvers asked (more are ignored, with a warning) */
#define LB_WHOAMI_MAX_EGRESS 64    /* egress addresses kept */
#define LB_WHOAMI_MAX_NAMES 16     /* whoami zones (one per DNS-B at most) */

/* ---- Pure helpers (tested on their own) -------------------------------- */

/* What one whoami TXT record says. */
typedef struct lb_whoami_txt {
    int has_src;
    glb_addr src;             /* the querier's address as the DNS-B saw it */
    int has_ecs;
    glb_prefix ecs;           /* the ECS source prefix the query carried */
} lb_whoami_txt;

/* Parses the RDATA of one TXT record (character-strings: a length byte and
 * that many bytes each). Strings "src=ADDR" and "ecs=ADDR/LEN" are read,
 * others ignored. Returns 0 when a usable src was found; -1 when the RDATA
 * is malformed (a string running past len, a NUL inside, a repeated or bad
 * src/ecs) or src is missing or not a unicast address (unspecified,
 * multicast, limited broadcast). */
int lb_whoami_parse_txt(const uint8_t *rdata, size_t len, lb_whoami_txt *out);

/* A resolver to ask: its address (for claims, port 0) and the forwarder
 * string given to libunbound ("ADDR@PORT", with "%scope" for a scoped v6). */
typedef struct lb_nameserver {
    glb_addr addr;
    char fwd[GLB_ADDRSTRLEN + 32];
} lb_nameserver;

/* The "nameserver ADDR" lines of resolv.conf text, in order, deduplicated,
 * at most max. A file without any gets 127.0.0.1 (resolv.conf(5)). Returns
 * the count. */
size_t lb_resolvconf_parse(const char *text, lb_nameserver *out, size_t max);

/* ---- The discoverer ---------------------------------------------------- */

typedef struct lb_whoami_params {
    unsigned interval;        /* seconds between rounds (dnsb: whoami-interval) */
    const char *resolv_conf;  /* watched when no forwarders are configured (/etc/resolv.conf) */
    double resolv_poll;       /* seconds between looks at its stat (5) */
    double round_timeout;     /* seconds a round may take; late answers are dropped (15) */
    unsigned queries;         /* queries per resolver and zone in a round (2): a farm shows more members */
    unsigned keep_rounds;     /* intervals an egress address lives unseen (3) */
} lb_whoami_params;

void lb_whoami_params_default(lb_whoami_params *p);

typedef struct lb_whoami lb_whoami;

#define LB_WHOAMI_RESOLVERS 1 /* the resolver list changed (resolv.conf, reconfiguration) */
#define LB_WHOAMI_EGRESS 2    /* the egress set changed */

/* Called (from the event loop, never from inside a libunbound callback)
 * with LB_WHOAMI_* bits of what changed. */
typedef void (*lb_whoami_cb)(void *arg, unsigned what);

/* A discoverer for rc's forwarders (or p->resolv_conf's nameservers), DNSSEC
 * trust anchor included. Does nothing until lb_whoami_start(). NULL with
 * err when a libunbound context cannot be made. p NULL: defaults. */
lb_whoami *lb_whoami_new(struct event_base *base, const lb_resolver_conf *rc, const lb_whoami_params *p,
                         lb_whoami_cb cb, void *arg, char *err, size_t errlen);

/* Starts the rounds and the resolv.conf watch. */
void lb_whoami_start(lb_whoami *w);

/* The whoami zones to ask under (wire names, from the DNS-Bs' HELLOs). A
 * zone not asked before starts a round at once (when started). */
void lb_whoami_set_names(lb_whoami *w, const uint8_t *const *names, size_t n);

/* New resolver configuration and interval (SIGHUP). Rebuilds the contexts
 * when the resolvers change (cb then gets LB_WHOAMI_RESOLVERS). 0, or -1
 * with err (the old configuration stays). */
int lb_whoami_reconfigure(lb_whoami *w, const lb_resolver_conf *rc, unsigned interval, char *err, size_t errlen);

/* Runs a round now (unless one is running). */
void lb_whoami_run(lb_whoami *w);

/* The resolvers asked, and the egress addresses known (sorted). Valid until
 * the next return to the event loop. */
const lb_nameserver *lb_whoami_resolvers(const lb_whoami *w, size_t *n);
const glb_addr *lb_whoami_egress(const lb_whoami *w, size_t *n);

/* Rounds completed so far (tests wait for it). */
unsigned long lb_whoami_rounds(const lb_whoami *w);

/* One line per resolver: address, last answer, egress seen, ECS, error. */
void lb_whoami_report(const lb_whoami *w, struct evbuffer *out);

void lb_whoami_free(lb_whoami *w);

#endif
