/* The combined box's side of its measurement agents (DESIGN §7, the
 * agents: section): agents (mservice, role mservice) connect over TLS 1.3
 * with their own certificates, register the client prefixes they measure
 * for (each within the agent's allow prefixes), get the box's services
 * (SERVICES, full sets) and push METRICS. From each agent's fresh metrics
 * (at most max-age old) the box ranks the sites with its own policies
 * into an answer table of that agent; a client is answered from the table
 * of the agent whose registered prefix matches its address longest, or,
 * when no claim holds it, of the agent whose own address shares the longest
 * prefix (24 bits and more, 48 for IPv6) with it, else from the box's own
 * measurements. An agent that vanishes ages out. When
 * an agent's newest metrics pass half of max-age while its session is up,
 * the box asks it for fresh ones (an empty METRICS).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_AGENTS_H
#define DNSLB_AGENTS_H

#include <stddef.h>

#include "dnslb/conf.h"
#include "dnslb/table.h"
#include "shared/addr.h"
#include "shared/qsbr.h"

struct event_base;
struct evbuffer;

typedef struct lb_agents lb_agents;

/* The agents' service for c's agents: section: its TLS context and its
 * listening socket (bound now, with the privileges still held). Answering
 * threads read through qsbr. NULL with err. */
lb_agents *lb_agents_new(struct event_base *base, const lb_conf *c, glb_qsbr *qsbr, char *err, size_t errlen);

/* The most sessions c's agents: section holds at once (one per allowed
 * agent and some handshakes): descriptors to keep for it. */
size_t lb_agents_max_sessions(const lb_conf *c);

/* Starts accepting. 0, or -1 with err. */
int lb_agents_start(lb_agents *a, char *err, size_t errlen);

/* The configuration in force changed (services, policies, allow rules):
 * the agents get the new services, their tables are ranked again. c must
 * stay valid until the next call. */
void lb_agents_configure(lb_agents *a, const lb_conf *c);

/* The table ranked by the measurements of client's agent, or NULL (the
 * box's own answer). Answering threads, inside their QSBR section. */
const lb_table *lb_agents_table(const lb_agents *a, const glb_addr *client);

/* "agents.NAME=VALUE" counter lines (dnslb-control stats). */
void lb_agents_stats(const lb_agents *a, struct evbuffer *out);

/* One line per agent: id, session, claims, metrics and their age
 * (dnslb-control agents). */
void lb_agents_report(const lb_agents *a, struct evbuffer *out);

/* Closes every session and frees a (after the answering threads stopped). */
void lb_agents_free(lb_agents *a);

#endif
