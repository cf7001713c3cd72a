/* Parsing one DNS query message, bound-checked, without allocation.
 *
 * Decisions on points the RFCs leave open (or where servers differ):
 *  - A compression pointer anywhere in the question name is FORMERR: the
 *    question is the first name, so a pointer could only aim at the header.
 *  - Names in the additional section may be compressed. Pointers are followed
 *    only strictly backwards (each target before the previous one, and never
 *    into the header), which rules out loops; the expanded name must stay
 *    within 255 bytes. Label types 0x40/0x80 are FORMERR everywhere.
 *  - Bytes after the last record counted in the header are FORMERR (as NSD
 *    and BIND do), so a message is accepted only if it parses exactly.
 *  - An OPT whose owner is not the root, or a second OPT, is FORMERR
 *    (RFC 6891 §6.1). q->edns stays set when the OPT record itself was
 *    well formed, so a FORMERR caused by its options still carries an OPT.
 *  - EDNS version > 0 is BADVERS (RFC 6891 §6.1.3); its options are not
 *    looked at since their meaning may differ. A structural error elsewhere
 *    in the message wins over BADVERS (FORMERR).
 *  - ECS (RFC 7871 §6, §7.1.1): FAMILY 1 or 2, SOURCE <= 32/128, SCOPE 0,
 *    ADDRESS exactly ceil(SOURCE/8) bytes with the bits beyond SOURCE zero;
 *    anything else, and a second ECS option, is FORMERR. SOURCE 0 is valid.
 *  - Records in the answer or authority section are FORMERR, except the
 *    authority section of an IXFR request, which carries the client's SOA
 *    (RFC 1995 §3): it is stepped over (well formed, no OPT), so that the
 *    servers refuse the transfer as they do AXFR.
 *  - Opcode other than QUERY is NOTIMP. The question is still parsed (for the
 *    echo) and, when it parses and there are no answer/authority records, the
 *    additional section is read for an OPT; errors there only drop the OPT.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/dnsquery.h"

#include <string.h>
#include <sys/socket.h>

#define FLAG_QR 0x8000u

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}


/* The question starts right after the header; no pointers allowed. The
 * labels are checked first, then the name is copied in one go. */
static int parse_question(const uint8_t *pkt, size_t len, glb_query *q)
{
    const size_t start = GLB_DNS_HDRLEN;
    size_t p = start;
    for (;;) {
        if (p >= len)
            return -1;
        size_t c = pkt[p];
        if (c == 0)
            break;
        if (c > GLB_LABEL_MAX)
            return -1; /* pointer, or the 0x40/0x80 label types */
        p += c + 1;
        if (p - start >= GLB_DNAME_MAX)
            return -1; /* the root byte would not fit in 255 */
    }
    size_t n = p + 1 - start; /* wire length with the root */
    p++;
    if (len - p < 4)
        return -1;
    memcpy(q->qname, pkt + start, n);
    for (size_t i = 0; i < n; i++)
        q->qname_lc[i] = glb_lc[pkt[start + i]];
    q->qname_len = n;
    q->qtype = rd16(pkt + p);
    q->qclass = rd16(pkt + p + 2);
    q->question_end = p + 4;
    q->has_question = 1;
    return 0;
}

/* Steps over a possibly compressed name at *off. On success *off is just past
 * the name in the record and *wlen its expanded wire length. */
static int skip_name(const uint8_t *pkt, size_t len, size_t *off, size_t *wlen)
{
    size_t p = *off, end = 0, total = 0, limit = len;
    unsigned jumps = 0;
    for (;;) {
        if (p >= len)
            return -1;
        size_t c = pkt[p];
        if (c == 0) {
            if (jumps == 0)
                end = p + 1;
            total++;
            break;
        }
        if ((c & 0xC0) == 0xC0) {
            if (p + 1 >= len)
                return -1;
            size_t t = (c & 0x3F) << 8 | pkt[p + 1];
            if (jumps == 0)
                end = p + 2;
            /* strictly backwards, each target before the last one: no loops */
            if (t < GLB_DNS_HDRLEN || t >= p || t >= limit || ++jumps > GLB_DNAME_MAX / 2)
                return -1;
            limit = t;
            p = t;
            continue;
        }
        if (c > GLB_LABEL_MAX)
            return -1; /* 0x40 / 0x80 label types */
        total += c + 1;
        if (total >= GLB_DNAME_MAX)
            return -1;
        p += c + 1;
    }
    *off = end;
    *wlen = total;
    return 0;
}

static int parse_ecs(const uint8_t *o, size_t olen, glb_query *q)
{
    if (olen < 4)
        return -1;
    unsigned fam = rd16(o), src = o[2], scope = o[3];
    int af;
    unsigned maxbits;
    if (fam == 1) {
        af = AF_INET;
        maxbits = 32;
    } else if (fam == 2) {
        af = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    if (src > maxbits || scope != 0)
        return -1;
    size_t nb = (src + 7) / 8;
    if (olen - 4 != nb)
        return -1;
    if ((src & 7) != 0 && (o[4 + nb - 1] & (0xFFu >> (src & 7))) != 0)
        return -1; /* bits beyond SOURCE PREFIX-LENGTH set */
    memset(&q->ecs_addr, 0, sizeof q->ecs_addr);
    q->ecs_addr.family = af;
    memcpy(q->ecs_addr.b, o + 4, nb);
    q->ecs_source = (uint8_t)src;
    q->ecs = 1;
    return 0;
}

static int parse_options(const uint8_t *rd, size_t rdlen, glb_query *q)
{
    size_t p = 0;
    while (p < rdlen) {
        if (rdlen - p < 4)
            return -1;
        unsigned code = rd16(rd + p);
        size_t olen = rd16(rd + p + 2);
        p += 4;
        if (olen > rdlen - p)
            return -1;
        if (code == GLB_EDNS_ECS) {
            if (q->ecs || parse_ecs(rd + p, olen, q) < 0)
                return -1;
        }
        p += olen;
    }
    return 0;
}

/* The fixed part of one record at *off, its owner possibly compressed; on
 * success *off is at its RDATA, which fits in the message. */
typedef struct rr_head {
    size_t owner_len; /* expanded wire length */
    uint16_t type, rrclass;
    uint32_t ttl;
    size_t rdlen;
} rr_head;

static int read_rr(const uint8_t *pkt, size_t len, size_t *off, rr_head *h)
{
    if (skip_name(pkt, len, off, &h->owner_len) < 0 || len - *off < 10)
        return -1;
    const uint8_t *p = pkt + *off;
    h->type = rd16(p);
    h->rrclass = rd16(p + 2);
    h->ttl = rd32(p + 4);
    h->rdlen = rd16(p + 8);
    *off += 10;
    return h->rdlen <= len - *off ? 0 : -1;
}

/* Steps over the authority section of an IXFR request (the client's SOA,
 * RFC 1995 §3): well formed, no OPT. */
static int skip_authority(const uint8_t *pkt, size_t len, size_t *off, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        rr_head h;
        if (read_rr(pkt, len, off, &h) < 0 || h.type == GLB_TYPE_OPT)
            return -1;
        *off += h.rdlen;
    }
    return 0;
}

/* Reads the additional section starting at off, up to the end of the message. */
static enum glb_parse_result parse_additional(const uint8_t *pkt, size_t len, size_t off, glb_query *q)
{
    int badvers = 0;
    for (unsigned i = 0; i < q->arcount; i++) {
        rr_head h;
        if (read_rr(pkt, len, &off, &h) < 0)
            return GLB_PARSE_FORMERR;
        if (h.type == GLB_TYPE_OPT) {
            if (h.owner_len != 1 || q->edns)
                return GLB_PARSE_FORMERR; /* owner not root, or a second OPT */
            q->edns = 1;
            q->edns_udp_size = h.rrclass;
            q->edns_version = (uint8_t)(h.ttl >> 16);
            q->edns_do = (h.ttl & 0x8000u) != 0;
            if (q->edns_version != 0)
                badvers = 1;
            else if (parse_options(pkt + off, h.rdlen, q) < 0) {
                q->ecs = 0;
                return GLB_PARSE_FORMERR;
            }
        }
        off += h.rdlen;
    }
    if (off != len)
        return GLB_PARSE_FORMERR; /* trailing bytes */
    return badvers ? GLB_PARSE_BADVERS : GLB_PARSE_OK;
}

enum glb_parse_result glb_query_parse(const uint8_t *pkt, size_t len, glb_query *q)
{
    q->id = 0;
    q->flags = 0;
    q->qdcount = q->ancount = q->nscount = q->arcount = 0;
    q->has_question = 0;
    q->qname[0] = q->qname_lc[0] = 0;
    q->qname_len = 0;
    q->qtype = q->qclass = 0;
    q->question_end = 0;
    q->edns = 0;
    q->edns_udp_size = 0;
    q->edns_version = 0;
    q->edns_do = 0;
    q->ecs = 0;
    q->ecs_source = 0;
    q->ecs_addr.family = 0;
    if (pkt == NULL || len < GLB_DNS_HDRLEN)
        return GLB_PARSE_DROP;
    q->id = rd16(pkt);
    q->flags = rd16(pkt + 2);
    q->qdcount = rd16(pkt + 4);
    q->ancount = rd16(pkt + 6);
    q->nscount = rd16(pkt + 8);
    q->arcount = rd16(pkt + 10);
    if (q->flags & FLAG_QR)
        return GLB_PARSE_DROP;

    if (((q->flags >> 11) & 0xF) != 0) {
        /* best effort, for the echo in the NOTIMP response */
        if (q->qdcount == 1 && parse_question(pkt, len, q) == 0 && q->ancount == 0 &&
            q->nscount == 0 && parse_additional(pkt, len, q->question_end, q) == GLB_PARSE_FORMERR) {
            q->edns = 0;
            q->ecs = 0;
        }
        return GLB_PARSE_NOTIMP;
    }
    if (q->qdcount != 1)
        return GLB_PARSE_FORMERR;
    if (parse_question(pkt, len, q) < 0)
        return GLB_PARSE_FORMERR;
    size_t off = q->question_end;
    if (q->ancount != 0 || (q->nscount != 0 && q->qtype != GLB_TYPE_IXFR) ||
        skip_authority(pkt, len, &off, q->nscount) < 0)
        return GLB_PARSE_FORMERR;
    return parse_additional(pkt, len, off, q);
}
