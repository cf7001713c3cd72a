/* The combined box's answers from recursive replies (recanswer.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "dnslb/recanswer.h"
#include "shared/dnsresp.h"

#define TYPE_SOA 6
#define TYPE_PTR 12
#define TYPE_MX 15
#define TYPE_DNAME 39
#define TYPE_RRSIG 46
#define TYPE_NSEC 47
#define TYPE_NSEC3 50

#define FLAG_RA 0x80 /* in the header's 4th byte */
#define FLAG_AD 0x20
#define FLAG_CD 0x10

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads the possibly compressed name at *pos of m into out (wire form, at
 * most GLB_DNAME_MAX bytes); *pos moves past it. 0, or -1 when malformed
 * (out of bounds, a loop, too long). */
static int read_name(const uint8_t *m, size_t mlen, size_t *pos, uint8_t *out)
{
    size_t p = *pos, o = 0;
    int jumped = 0;
    for (unsigned hops = 0; hops < 128; hops++) {
        if (p >= mlen)
            return -1;
        uint8_t c = m[p];
        if ((c & 0xC0) == 0xC0) {
            if (p + 1 >= mlen)
                return -1;
            if (!jumped)
                *pos = p + 2;
            jumped = 1;
            p = (size_t)(c & 0x3F) << 8 | m[p + 1];
            continue;
        }
        if (c & 0xC0)
            return -1; /* extended label types: none in use */
        if (o + c + 1 > GLB_DNAME_MAX || p + c + 1 > mlen)
            return -1;
        memcpy(out + o, m + p, (size_t)c + 1);
        o += (size_t)c + 1;
        p += (size_t)c + 1;
        if (c == 0) {
            if (!jumped)
                *pos = p;
            return 0;
        }
    }
    return -1;
}

/* DNSSEC records a client without DO does not get (RFC 4035 3.2.1), unless asked for. */
static int dnssec_only(uint16_t type, const glb_query *q)
{
    return !q->edns_do && type != q->qtype && (type == TYPE_RRSIG || type == TYPE_NSEC || type == TYPE_NSEC3);
}

/* Copies one RR from m at *pos into r's section sec. 0, 1 when left out on
 * purpose or not fitting, -1 when m is malformed. */
static int copy_rr(glb_resp *r, int sec, const uint8_t *m, size_t mlen, size_t *pos, const glb_query *q,
                   uint32_t age)
{
    uint8_t owner[GLB_DNAME_MAX], n1[GLB_DNAME_MAX], n2[GLB_DNAME_MAX], raw[GLB_DNAME_MAX + 2];
    if (read_name(m, mlen, pos, owner) < 0 || *pos + 10 > mlen)
        return -1;
    const uint8_t *f = m + *pos;
    uint16_t type = rd16(f), cls = rd16(f + 2), rdlen = rd16(f + 8);
    uint32_t ttl = (uint32_t)f[4] << 24 | (uint32_t)f[5] << 16 | (uint32_t)f[6] << 8 | f[7];
    ttl = ttl > age ? ttl - age : 0; /* time spent in the cache */
    size_t rd = *pos + 10, end = rd + rdlen;
    if (end > mlen)
        return -1;
    *pos = end;
    if (type == GLB_TYPE_OPT || cls != GLB_CLASS_IN || dnssec_only(type, q))
        return 1; /* our own OPT goes in at the end */
    size_t p = rd;
    int rc;
    switch (type) {
    case GLB_TYPE_CNAME:
    case GLB_TYPE_NS:
    case TYPE_PTR:
    case TYPE_DNAME:
        if (read_name(m, end, &p, n1) < 0 || p != end)
            return -1;
        rc = glb_resp_add_name(r, sec, owner, type, ttl, n1);
        break;
    case TYPE_SOA:
        if (read_name(m, end, &p, n1) < 0 || read_name(m, end, &p, n2) < 0 || p + 20 != end)
            return -1;
        rc = glb_resp_add_soa(r, sec, owner, ttl, n1, n2, (uint32_t)rd16(m + p) << 16 | rd16(m + p + 2),
                              (uint32_t)rd16(m + p + 4) << 16 | rd16(m + p + 6),
                              (uint32_t)rd16(m + p + 8) << 16 | rd16(m + p + 10),
                              (uint32_t)rd16(m + p + 12) << 16 | rd16(m + p + 14),
                              (uint32_t)rd16(m + p + 16) << 16 | rd16(m + p + 18));
        break;
    case TYPE_MX:
        if (rdlen < 3)
            return -1;
        p += 2;
        if (read_name(m, end, &p, raw + 2) < 0 || p != end)
            return -1;
        memcpy(raw, m + rd, 2);
        rc = glb_resp_add_raw(r, sec, owner, type, ttl, raw, 2 + glb_dname_len(raw + 2));
        break;
    default: /* RFC 3597: no compression in other types' rdata */
        rc = glb_resp_add_raw(r, sec, owner, type, ttl, m + rd, rdlen);
    }
    return rc < 0 ? 1 : 0;
}

/* Parses the client's query again (it was parsed once) and starts r. */
static int start(glb_resp *r, glb_query *q, const uint8_t *qpkt, size_t qlen, int tcp, uint8_t *out,
                 size_t outcap)
{
    size_t rl;
    if (glb_resp_start(r, q, qpkt, qlen, tcp, LB_REC_EDNS_SIZE, out, outcap, &rl) != GLB_PARSE_OK)
        return -1;
    out[3] |= FLAG_RA;
    out[3] |= qpkt[3] & FLAG_CD;
    return 0;
}

size_t lb_rec_error(const uint8_t *qpkt, size_t qlen, int tcp, unsigned rcode, uint8_t *out, size_t outcap)
{
    glb_resp r;
    glb_query q;
    if (start(&r, &q, qpkt, qlen, tcp, out, outcap) < 0)
        return 0;
    glb_resp_set_rcode(&r, rcode);
    return glb_resp_finish(&r, LB_REC_EDNS_SIZE, -1);
}

size_t lb_rec_answer(const uint8_t *qpkt, size_t qlen, int tcp, const uint8_t *up, size_t uplen, int secure,
                     uint32_t age, uint8_t *out, size_t outcap)
{
    glb_resp r;
    glb_query q;
    uint8_t qn[GLB_DNAME_MAX];
    if (!up || uplen < GLB_DNS_HDRLEN || rd16(up + 4) != 1)
        return lb_rec_error(qpkt, qlen, tcp, GLB_RCODE_SERVFAIL, out, outcap);
    size_t pos = GLB_DNS_HDRLEN;
    if (read_name(up, uplen, &pos, qn) < 0 || (pos += 4) > uplen)
        return lb_rec_error(qpkt, qlen, tcp, GLB_RCODE_SERVFAIL, out, outcap);
    if (start(&r, &q, qpkt, qlen, tcp, out, outcap) < 0)
        return 0;
    glb_resp_set_rcode(&r, up[3] & 0x0F);
    for (int sec = GLB_SEC_ANSWER; sec <= GLB_SEC_ADDITIONAL; sec++) {
        unsigned n = rd16(up + 6 + 2 * sec);
        for (unsigned i = 0; i < n; i++)
            if (copy_rr(&r, sec, up, uplen, &pos, &q, age) < 0)
                return lb_rec_error(qpkt, qlen, tcp, GLB_RCODE_SERVFAIL, out, outcap);
    }
    /* AD only to a client that shows it understands it (RFC 6840 5.7). */
    if (secure && (q.edns_do || (qpkt[3] & FLAG_AD)))
        out[3] |= FLAG_AD;
    return glb_resp_finish(&r, LB_REC_EDNS_SIZE, -1);
}

int lb_rec_min_ttl(const uint8_t *up, size_t uplen, uint32_t *ttl)
{
    uint8_t n[GLB_DNAME_MAX];
    size_t pos = GLB_DNS_HDRLEN;
    unsigned rcode = uplen >= GLB_DNS_HDRLEN ? up[3] & 0x0F : 0;
    if (uplen < GLB_DNS_HDRLEN || rd16(up + 4) != 1 || (rcode != GLB_RCODE_NOERROR && rcode != GLB_RCODE_NXDOMAIN) ||
        read_name(up, uplen, &pos, n) < 0 || (pos += 4) > uplen)
        return -1;
    unsigned total = 0;
    uint32_t min = UINT32_MAX;
    for (int sec = 0; sec < 3; sec++)
        for (unsigned i = 0, k = rd16(up + 6 + 2 * sec); i < k; i++) {
            if (read_name(up, uplen, &pos, n) < 0 || pos + 10 > uplen)
                return -1;
            const uint8_t *f = up + pos;
            uint32_t t = (uint32_t)f[4] << 24 | (uint32_t)f[5] << 16 | (uint32_t)f[6] << 8 | f[7];
            if (rd16(f) != GLB_TYPE_OPT) {
                min = t < min ? t : min;
                total++;
            }
            if ((pos += 10 + rd16(f + 8)) > uplen)
                return -1;
        }
    if (total == 0)
        return -1; /* nothing says how long it holds (a negative answer without SOA) */
    *ttl = min;
    return 0;
}
