/* The DNS-LB's answers: authoritative for <any label>.<service>: SOA and NS
 * at that apex, ns.<label>.<service> = this box, and the apex's A/AAAA = the
 * best sites in order. SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_ANSWER_H
#define DNSLB_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "dnslb/table.h"
#include "shared/addr.h"
#include "shared/dnsquery.h"

enum lb_stat {
    LB_ST_QUERIES,
    LB_ST_ANSWERS,     /* site addresses given */
    LB_ST_FAILOPEN,    /* answered while every site was dead */
    LB_ST_ZONE,        /* SOA, NS, ns host */
    LB_ST_NODATA,
    LB_ST_NXDOMAIN,
    LB_ST_REFUSED,
    LB_ST_FORMERR,
    LB_ST_NOTIMP,
    LB_ST_BADVERS,
    LB_ST_DROPPED,
    LB_ST_TRUNCATED,
    LB_ST_STALE,       /* queries that asked the prober for fresh checks */
    LB_ST_RECURSION,   /* queries given to the recursive resolver (mode combined) */
    LB_ST_COUNT
};

typedef struct lb_stats {
    _Alignas(64) unsigned long long n[LB_ST_COUNT];
} lb_stats;

extern const char *const lb_stat_names[LB_ST_COUNT];

/* Answers pkt from `from` into out. now: monotonic seconds (for staleness).
 * Returns the length to send, 0 for none; counts into st (st->n[LB_ST_QUERIES]
 * also drives the weighted sharing of first place). */
size_t lb_answer(const lb_table *t, const uint8_t *pkt, size_t len, int tcp, double now, uint8_t *out,
                 size_t outcap, lb_stats *st);

/* Whether q's name is in a service's zone (<label>.<service> and below),
 * i.e. answered by lb_answer rather than by recursion. */
int lb_answer_serves(const lb_table *t, const glb_query *q);

#endif
