/* Parsing one DNS query message (RFC 1035, EDNS RFC 6891, ECS RFC 7871),
 * with bound checks on every byte. No allocation.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_DNSQUERY_H
#define GLB_DNSQUERY_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/dname.h"

#define GLB_DNS_HDRLEN 12
#define GLB_TYPE_A      1
#define GLB_TYPE_NS     2
#define GLB_TYPE_CNAME  5
#define GLB_TYPE_SOA    6
#define GLB_TYPE_TXT    16
#define GLB_TYPE_AAAA   28
#define GLB_TYPE_DS     43
#define GLB_TYPE_OPT    41
#define GLB_TYPE_IXFR   251
#define GLB_TYPE_AXFR   252
#define GLB_TYPE_ANY    255
#define GLB_CLASS_IN    1
#define GLB_CLASS_ANY   255 /* QCLASS only */
#define GLB_EDNS_ECS    8

#define GLB_RCODE_NOERROR  0
#define GLB_RCODE_FORMERR  1
#define GLB_RCODE_SERVFAIL 2
#define GLB_RCODE_NXDOMAIN 3
#define GLB_RCODE_NOTIMP   4
#define GLB_RCODE_REFUSED  5
#define GLB_RCODE_BADVERS  16 /* extended: upper 8 bits go in the OPT TTL */

/* What the parser decided. */
enum glb_parse_result {
    GLB_PARSE_OK = 0,   /* a well-formed standard query */
    GLB_PARSE_DROP,     /* not worth an answer: shorter than a header, QR set */
    GLB_PARSE_FORMERR,  /* malformed: answer FORMERR (question echoed if parsed) */
    GLB_PARSE_NOTIMP,   /* opcode other than QUERY */
    GLB_PARSE_BADVERS   /* EDNS version other than 0 */
};

typedef struct glb_query {
    uint16_t id;
    uint16_t flags;           /* header flags word as received */
    uint16_t qdcount, ancount, nscount, arcount;
    int has_question;         /* question parsed (also for some errors) */
    uint8_t qname[GLB_DNAME_MAX]; /* as sent (case kept), uncompressed */
    uint8_t qname_lc[GLB_DNAME_MAX]; /* lower case, for lookups */
    size_t qname_len;
    uint16_t qtype, qclass;
    size_t question_end;      /* offset just past the question in the packet */
    /* EDNS */
    int edns;                 /* an OPT record was present */
    uint16_t edns_udp_size;   /* as sent (not clamped) */
    uint8_t edns_version;
    int edns_do;              /* DO bit */
    /* EDNS Client Subnet (RFC 7871) */
    int ecs;                  /* a valid ECS option was present */
    glb_addr ecs_addr;        /* family and address (bits beyond source masked) */
    uint8_t ecs_source;       /* SOURCE PREFIX-LENGTH */
} glb_query;

/* Parses pkt into q. Returns a glb_parse_result. Queries must have exactly one
 * question, QR clear, and no answer/authority records (an IXFR request may
 * carry authority records: RFC 1995); at most one OPT record in the
 * additional section. A malformed ECS option is FORMERR (RFC 7871 §7.1.1). */
enum glb_parse_result glb_query_parse(const uint8_t *pkt, size_t len, glb_query *q);

#endif
