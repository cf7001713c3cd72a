/* Turning one query into one answer from the published table.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_ANSWER_H
#define DNSB_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "dnsb/registry.h"
#include "dnsb/table.h"
#include "shared/addr.h"

/* Counters by kind of answer; one block per worker, written by it alone. */
enum dnsb_stat {
    DNSB_ST_QUERIES,
    DNSB_ST_REFERRAL,   /* CNAME + delegation to a DNS-LB */
    DNSB_ST_DELEGATION, /* plain delegation (query for the LB's zone) */
    DNSB_ST_DIRECT,
    DNSB_ST_PROXY,
    DNSB_ST_FAILOPEN,   /* no DNS-LB for the resolver: all sites by weight */
    DNSB_ST_WHOAMI,
    DNSB_ST_ZONE,       /* SOA, NS, name server addresses */
    DNSB_ST_NODATA,
    DNSB_ST_NXDOMAIN,
    DNSB_ST_REFUSED,
    DNSB_ST_FORMERR,
    DNSB_ST_NOTIMP,
    DNSB_ST_BADVERS,
    DNSB_ST_DROPPED,
    DNSB_ST_TRUNCATED,
    DNSB_ST_ECS,        /* queries that carried a client subnet */
    DNSB_ST_STANDBY,    /* queries to the standby (standby-listen) for a DNS-LB zone */
    DNSB_ST_COUNT
};

typedef struct dnsb_stats {
    _Alignas(64) unsigned long long n[DNSB_ST_COUNT];
} dnsb_stats;

/* Names of the counters, for logs and the control tool. */
extern const char *const dnsb_stat_names[DNSB_ST_COUNT];

/* Answers the query pkt (len bytes) that came from `from` (over TCP when tcp)
 * into out (outcap >= 512 bytes), from the zones and services of t and the
 * registrations of m. Returns the response length, or 0 when nothing must be
 * sent. Counts what it did in st. */
size_t dnsb_answer(const dnsb_table *t, const dnsb_map *m, const uint8_t *pkt, size_t len, const glb_addr *from, int tcp,
                   uint8_t *out, size_t outcap, dnsb_stats *st);

/* The same for a query that came in on a standby-listen address: answered
 * as the standby name server of the DNS-LB zones (REFUSED outside them). */
size_t dnsb_answer_standby(const dnsb_table *t, const dnsb_map *m, const uint8_t *pkt, size_t len,
                           const glb_addr *from, int tcp, uint8_t *out, size_t outcap, dnsb_stats *st);

#endif
