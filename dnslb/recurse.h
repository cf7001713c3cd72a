/* The combined box's recursive resolver (DESIGN §7): its clients' other
 * names are resolved through libunbound's asynchronous API (own cache,
 * DNSSEC validation with a trust anchor), driven by the daemon's event loop
 * through ub_fd. Queries come from the answering threads and are answered
 * later through the server's deferred answers. Only clients in the access
 * list are served: never an open resolver.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_RECURSE_H
#define DNSLB_RECURSE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/dnsquery.h"
#include "shared/server.h"

struct event_base;
struct evbuffer;

/* One authoritative server of a stub zone. */
typedef struct lb_recurse_stub {
    char zone[256];           /* presentation form */
    glb_addr addr;            /* with port */
} lb_recurse_stub;

typedef struct lb_recurse_conf {
    glb_prefix *allow;        /* access-control: clients served; none: nobody */
    size_t nallow;
    glb_addr *forward;        /* forward-to: instead of iterating from the root */
    size_t nforward;
    lb_recurse_stub *stubs;   /* stub-zone: these zones asked of these servers */
    size_t nstubs;
    char root_hints[256];     /* "" = libunbound's built-in hints */
    char trust_anchor[256];   /* DNSSEC trust anchor file, "" = no validation */
    char **options;           /* unbound-option: "name: value" lines */
    size_t noptions;
    unsigned max_pending;     /* queries in flight; more are dropped */
    unsigned cache_slots;     /* answer cache (reccache.h); 0: off; LB_RECURSE_CACHE_DEFAULT */
} lb_recurse_conf;

#define LB_RECURSE_MAX_PENDING 10000
#define LB_RECURSE_CACHE_DEFAULT UINT32_MAX  /* cache_slots not set: LB_RECCACHE_SLOTS */
#define LB_RECURSE_CACHE_MAX_TTL 86400       /* an answer is kept at most a day */

typedef struct lb_recurse lb_recurse;

/* A resolver from c (copied), its descriptor watched on base. NULL with a
 * message naming the bad setting in err. */
lb_recurse *lb_recurse_new(struct event_base *base, const lb_recurse_conf *c, char *err, size_t errlen);

/* Whether client may use recursion (the access list). Any thread. */
int lb_recurse_allowed(const lb_recurse *r, const glb_addr *client);

/* Resolves the well-formed query q of req for its client: the answer goes
 * out later (glb_deferred_reply) and 0 is returned, or an immediate answer
 * (SERVFAIL when out of resources) is written to req->out and its length
 * returned. Any answering thread. */
size_t lb_recurse_query(lb_recurse *r, const glb_request *req, const glb_query *q);

/* "recursion.NAME=VALUE" counter lines, for dnslb-control stats. */
void lb_recurse_stats(const lb_recurse *r, struct evbuffer *out);

/* Gives up the queries in flight (their clients get nothing) and frees r.
 * After glb_server_stop, before glb_server_free. */
void lb_recurse_free(lb_recurse *r);

/* Makes dst a deep copy of src. 0, or -1 when out of memory (dst then
 * holds nothing to free). */
int lb_recurse_conf_copy(lb_recurse_conf *dst, const lb_recurse_conf *src);

/* Frees what c holds (not c). */
void lb_recurse_conf_fini(lb_recurse_conf *c);

#endif
