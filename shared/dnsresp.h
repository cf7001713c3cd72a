/* Building one DNS response into a caller's buffer, with name compression
 * and truncation to the client's size. No allocation.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_DNSRESP_H
#define GLB_DNSRESP_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/dnsquery.h"

enum glb_section { GLB_SEC_ANSWER = 0, GLB_SEC_AUTHORITY = 1, GLB_SEC_ADDITIONAL = 2 };

#define GLB_RESP_MAXNAMES 64 /* compression targets remembered per message */

typedef struct glb_resp {
    uint8_t *buf;
    size_t cap;        /* bytes the buffer holds */
    size_t limit;      /* bytes the client accepts (UDP size or 65535) */
    size_t len;        /* bytes written so far */
    size_t reserve;    /* bytes kept free for the OPT record */
    uint16_t count[3];
    int section;       /* sections only move forward */
    int truncated;     /* something did not fit: TC is set */
    uint8_t ext_rcode; /* upper 8 bits of an extended rcode, for the OPT record */
    const glb_query *q;
    /* compression: offsets of names written, for suffix matching */
    uint16_t names[GLB_RESP_MAXNAMES];
    unsigned nnames;
} glb_resp;

/* Starts a response to q in buf: header (id, RD copied, QR set, opcode
 * QUERY) and the question echoed as sent. limit is the most the client takes
 * (512 without EDNS over UDP, the EDNS size clamped to [512, cap], or 65535 over
 * TCP). If q->edns, room for an OPT record (and ECS when q->ecs) is kept.
 * Returns 0, or -1 if not even the question fits. */
int glb_resp_init(glb_resp *r, uint8_t *buf, size_t cap, size_t limit, const glb_query *q);

/* Sets the rcode (extended values >= 16 go into the OPT record at finish)
 * and the AA flag (never set for a QCLASS ANY query: not authoritative). */
void glb_resp_set_rcode(glb_resp *r, unsigned rcode);
void glb_resp_set_aa(glb_resp *r, int aa);

/* Appends one RR to section sec (sections must be written in order).
 * owner: wire name; rdata is given per type by the helpers below.
 * Returns 0, or -1 if it did not fit: the partial RR is undone; for the
 * answer and authority sections the response is then marked truncated. */
int glb_resp_add_a(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t addr[4]);
int glb_resp_add_aaaa(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t addr[16]);
int glb_resp_add_addr(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const glb_addr *a);
int glb_resp_add_name(glb_resp *r, int sec, const uint8_t *owner, uint16_t type, uint32_t ttl,
                      const uint8_t *target); /* CNAME, NS, PTR */
int glb_resp_add_soa(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t *mname,
                     const uint8_t *rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                     uint32_t expire, uint32_t minimum);
/* Any type, rdata copied as given (so without compression pointers in it). */
int glb_resp_add_raw(glb_resp *r, int sec, const uint8_t *owner, uint16_t type, uint32_t ttl,
                     const uint8_t *rdata, size_t rdlen);
/* TXT with nstr character-strings (each at most 255 bytes). */
int glb_resp_add_txt(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const char *const *strs,
                     size_t nstr);

/* Marks the response truncated (TC) and drops every RR written so far. */
void glb_resp_truncate(glb_resp *r);

/* Writes the section counts and, if the query had EDNS, the OPT record
 * (our UDP size, version 0, the extended rcode; ECS echoed with scope when
 * scope >= 0 and the query had ECS, per RFC 7871 §7.2). Returns the message
 * length. */
size_t glb_resp_finish(glb_resp *r, uint16_t udp_size, int ecs_scope);

/* The start every server shares: parses pkt; for a well-formed query sets
 * up r in out (limit: 65535 over TCP, else the client's EDNS size within
 * [512, edns_size], or 512) and returns GLB_PARSE_OK. Otherwise returns the
 * parse result with *reply_len the error answer to send (0: drop it). */
enum glb_parse_result glb_resp_start(glb_resp *r, glb_query *q, const uint8_t *pkt, size_t len, int tcp,
                                     uint16_t edns_size, uint8_t *out, size_t outcap, size_t *reply_len);

/* Builds a bare error response (FORMERR, NOTIMP, BADVERS, REFUSED...) for q,
 * which may be only partly parsed; the question is echoed when it was parsed.
 * Returns the length, or 0 when nothing should be sent. */
size_t glb_resp_error(uint8_t *buf, size_t cap, const uint8_t *pkt, size_t len, const glb_query *q,
                      unsigned rcode, uint16_t udp_size);

/* Turns the response in buf[0..len) into the truncated answer response
 * rate limiting slips (RFC 2181 section 9): the header with TC set, the question kept,
 * every record (OPT included) dropped. In place; returns the new length, or 0
 * when buf does not hold a response header. */
size_t glb_resp_slip(uint8_t *buf, size_t len);

#endif
