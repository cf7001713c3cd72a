/* Building one DNS response, with name compression and truncation.
 *
 * Compression: r->names holds the offsets of every label written so far that
 * a pointer can reach (offset < 0x4000), starting with the labels of the
 * question name at offset 12. To write a name, its suffixes are tried longest
 * first against those offsets (comparing case-insensitively and following our
 * own pointers); the first hit becomes a pointer, and the labels written
 * before it become new targets. Owner names equal to the question thus point
 * at the question, whose case is the one the client sent.
 *
 * The OPT record is written by glb_resp_finish into bytes kept free at the end
 * (r->reserve); the upper 8 bits of an extended rcode wait in r->ext_rcode.
 *
 * Other choices: the header copies RD and CD from the query; once truncated
 * (by overflow or glb_resp_truncate) a response takes no more RRs; a call
 * that is wrong rather than too big (sections out of order, a TXT string over
 * 255 bytes, an address family other than v4/v6) returns -1 without
 * truncating; glb_resp_finish leaves r->len alone and is meant to be called
 * once; CNAME, NS and PTR targets and SOA names are compressed, other types'
 * rdata names (e.g. DNAME) are written in full (RFC 3597 §4).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/dnsresp.h"

#include <string.h>
#include <sys/socket.h>

#define OPT_FIXED 11 /* root owner, type, class, ttl, rdlen */
#define ECS_FIXED 8  /* option code, length, family, source, scope */
#define TYPE_PTR 12

static inline void wr16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}


static size_t ecs_bytes(const glb_query *q)
{
    return ((size_t)q->ecs_source + 7) / 8;
}

static size_t question_end(const glb_resp *r)
{
    return GLB_DNS_HDRLEN + (r->q->has_question ? r->q->qname_len + 4 : 0);
}

/* Room for n more bytes before the reserved OPT space. */
static inline int room(const glb_resp *r, size_t n)
{
    return r->len + n <= r->limit - r->reserve;
}

static inline void add_target(glb_resp *r, size_t off)
{
    if (off < 0x4000 && r->nnames < GLB_RESP_MAXNAMES)
        r->names[r->nnames++] = (uint16_t)off;
}

/* 1 when the c bytes at a and b are equal ignoring ASCII case. Names mostly
 * match exactly, so bytes are compared 8 at a time until they differ. */
static inline int label_eq(const uint8_t *a, const uint8_t *b, size_t c)
{
    size_t i = 0;
    for (; c - i >= 8; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            goto fold;
    }
    if (c - i >= 4) {
        uint32_t x, y;
        memcpy(&x, a + i, 4);
        memcpy(&y, b + i, 4);
        if (x != y)
            goto fold;
        i += 4;
    }
    for (; i < c; i++)
        if (a[i] != b[i])
            goto fold;
    return 1;
fold:
    for (; i < c; i++)
        if (glb_lc[a[i]] != glb_lc[b[i]])
            return 0;
    return 1;
}

/* 1 when the (possibly compressed) name at buf[e] equals wire name s,
 * ignoring case. Only used on names this module wrote. */
static int name_at_equals(const uint8_t *buf, size_t e, const uint8_t *s)
{
    for (;;) {
        uint8_t c = buf[e];
        while ((c & 0xC0) == 0xC0) {
            e = (size_t)(c & 0x3F) << 8 | buf[e + 1];
            c = buf[e];
        }
        if (c != *s)
            return 0;
        if (c == 0)
            return 1;
        if (!label_eq(buf + e + 1, s + 1, c))
            return 0;
        e += (size_t)c + 1;
        s += (size_t)c + 1;
    }
}

/* Writes name n (uncompressed wire form), compressed against earlier names
 * unless compress is 0 (rdata of types other than those of RFC 1035). */
static int put_name(glb_resp *r, const uint8_t *n, int compress)
{
    uint8_t offs[GLB_DNAME_MAX / 2 + 1]; /* label starts, then the root */
    unsigned k = 0;
    size_t p = 0;
    while (n[p] != 0 && k < GLB_DNAME_MAX / 2) {
        offs[k++] = (uint8_t)p;
        p += (size_t)n[p] + 1;
        if (p >= GLB_DNAME_MAX)
            return -1; /* not a valid name */
    }
    if (n[p] != 0)
        return -1;
    offs[k] = (uint8_t)p;

    unsigned hit = k; /* first label of the suffix found; k = none */
    size_t target = 0;
    for (unsigned i = 0; compress && i < k && hit == k; i++) {
        const uint8_t *s = n + offs[i];
        for (unsigned j = 0; j < r->nnames; j++) {
            size_t e = r->names[j];
            if (r->buf[e] == s[0] && name_at_equals(r->buf, e, s)) {
                hit = i;
                target = e;
                break;
            }
        }
    }
    size_t plen = offs[hit]; /* bytes of labels written in full */
    size_t need = plen + (hit < k ? 2 : 1);
    if (!room(r, need))
        return -1;
    uint8_t *o = r->buf + r->len;
    memcpy(o, n, plen);
    for (unsigned i = 0; compress && i < hit; i++)
        add_target(r, r->len + offs[i]);
    if (hit < k)
        wr16(o + plen, 0xC000u | (unsigned)target);
    else
        o[plen] = 0;
    r->len += need;
    return 0;
}

/* Type, class IN, TTL and rdlen. */
static int put_rr_fixed(glb_resp *r, uint16_t type, uint32_t ttl, size_t rdlen)
{
    if (!room(r, 10))
        return -1;
    uint8_t *o = r->buf + r->len;
    wr16(o, type);
    wr16(o + 2, GLB_CLASS_IN);
    wr32(o + 4, ttl);
    wr16(o + 8, (unsigned)rdlen);
    r->len += 10;
    return 0;
}

static int put_bytes(glb_resp *r, const void *b, size_t n)
{
    if (!room(r, n))
        return -1;
    memcpy(r->buf + r->len, b, n);
    r->len += n;
    return 0;
}

/* Checks the section order; the response must not be truncated already. */
static int begin(glb_resp *r, int sec)
{
    if (sec < GLB_SEC_ANSWER || sec > GLB_SEC_ADDITIONAL || sec < r->section || r->truncated)
        return -1;
    r->section = sec;
    return 0;
}

/* Undoes a partial RR; answer and authority sections then truncate. */
static int fail(glb_resp *r, int sec, size_t len0, unsigned names0)
{
    r->len = len0;
    r->nnames = names0;
    if (sec != GLB_SEC_ADDITIONAL)
        glb_resp_truncate(r);
    return -1;
}

int glb_resp_init(glb_resp *r, uint8_t *buf, size_t cap, size_t limit, const glb_query *q)
{
    r->buf = buf;
    r->cap = cap;
    if (limit > cap)
        limit = cap;
    if (limit > 65535)
        limit = 65535;
    r->limit = limit;
    r->len = 0;
    r->reserve = 0;
    r->count[0] = r->count[1] = r->count[2] = 0;
    r->section = GLB_SEC_ANSWER;
    r->truncated = 0;
    r->q = q;
    r->nnames = 0;
    if (q->edns) {
        r->reserve = OPT_FIXED;
        if (q->ecs)
            r->reserve += ECS_FIXED + ecs_bytes(q);
    }
    size_t qend = question_end(r);
    if (qend + r->reserve > limit)
        return -1;

    wr16(buf, q->id);
    buf[2] = (uint8_t)(0x80 | ((q->flags >> 8) & 0x01));  /* QR, opcode 0, RD */
    buf[3] = (uint8_t)(q->flags & 0x10);                   /* CD */
    wr16(buf + 4, q->has_question ? 1 : 0);
    memset(buf + 6, 0, 6);
    if (q->has_question) {
        uint8_t *o = buf + GLB_DNS_HDRLEN;
        memcpy(o, q->qname, q->qname_len);
        for (size_t p = 0; o[p] != 0; p += (size_t)o[p] + 1)
            add_target(r, GLB_DNS_HDRLEN + p);
        wr16(o + q->qname_len, q->qtype);
        wr16(o + q->qname_len + 2, q->qclass);
    }
    r->len = qend;
    r->ext_rcode = 0;
    return 0;
}

void glb_resp_set_rcode(glb_resp *r, unsigned rcode)
{
    r->buf[3] = (uint8_t)((r->buf[3] & 0xF0) | (rcode & 0x0F));
    r->ext_rcode = (uint8_t)(rcode >> 4);
}

void glb_resp_set_aa(glb_resp *r, int aa)
{
    /* QCLASS ANY: no server can know it holds every class (RFC 6895 §3.2) */
    if (aa && r->q->qclass != GLB_CLASS_ANY)
        r->buf[2] |= 0x04;
    else
        r->buf[2] &= (uint8_t)~0x04;
}

int glb_resp_add_a(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t addr[4])
{
    if (begin(r, sec) < 0)
        return -1;
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (put_name(r, owner, 1) < 0 || put_rr_fixed(r, GLB_TYPE_A, ttl, 4) < 0 || put_bytes(r, addr, 4) < 0)
        return fail(r, sec, len0, names0);
    r->count[sec]++;
    return 0;
}

int glb_resp_add_aaaa(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t addr[16])
{
    if (begin(r, sec) < 0)
        return -1;
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (put_name(r, owner, 1) < 0 || put_rr_fixed(r, GLB_TYPE_AAAA, ttl, 16) < 0 ||
        put_bytes(r, addr, 16) < 0)
        return fail(r, sec, len0, names0);
    r->count[sec]++;
    return 0;
}

int glb_resp_add_addr(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const glb_addr *a)
{
    switch (a->family) {
    case AF_INET:
        return glb_resp_add_a(r, sec, owner, ttl, a->b);
    case AF_INET6:
        return glb_resp_add_aaaa(r, sec, owner, ttl, a->b);
    default:
        return -1;
    }
}

int glb_resp_add_name(glb_resp *r, int sec, const uint8_t *owner, uint16_t type, uint32_t ttl,
                      const uint8_t *target)
{
    if (begin(r, sec) < 0)
        return -1;
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (put_name(r, owner, 1) < 0 || put_rr_fixed(r, type, ttl, 0) < 0)
        return fail(r, sec, len0, names0);
    size_t rd = r->len;
    /* RFC 3597 §4: only the RFC 1035 types may have compressed rdata */
    int compress = type == GLB_TYPE_CNAME || type == GLB_TYPE_NS || type == TYPE_PTR;
    if (put_name(r, target, compress) < 0)
        return fail(r, sec, len0, names0);
    wr16(r->buf + rd - 2, (unsigned)(r->len - rd));
    r->count[sec]++;
    return 0;
}

int glb_resp_add_raw(glb_resp *r, int sec, const uint8_t *owner, uint16_t type, uint32_t ttl,
                     const uint8_t *rdata, size_t rdlen)
{
    if (begin(r, sec) < 0 || rdlen > 65535)
        return -1;
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (put_name(r, owner, 1) < 0 || put_rr_fixed(r, type, ttl, rdlen) < 0 || put_bytes(r, rdata, rdlen) < 0)
        return fail(r, sec, len0, names0);
    r->count[sec]++;
    return 0;
}

int glb_resp_add_soa(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const uint8_t *mname,
                     const uint8_t *rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                     uint32_t expire, uint32_t minimum)
{
    if (begin(r, sec) < 0)
        return -1;
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (put_name(r, owner, 1) < 0 || put_rr_fixed(r, GLB_TYPE_SOA, ttl, 0) < 0)
        return fail(r, sec, len0, names0);
    size_t rd = r->len;
    if (put_name(r, mname, 1) < 0 || put_name(r, rname, 1) < 0 || !room(r, 20))
        return fail(r, sec, len0, names0);
    uint8_t *o = r->buf + r->len;
    wr32(o, serial);
    wr32(o + 4, refresh);
    wr32(o + 8, retry);
    wr32(o + 12, expire);
    wr32(o + 16, minimum);
    r->len += 20;
    wr16(r->buf + rd - 2, (unsigned)(r->len - rd));
    r->count[sec]++;
    return 0;
}

int glb_resp_add_txt(glb_resp *r, int sec, const uint8_t *owner, uint32_t ttl, const char *const *strs,
                     size_t nstr)
{
    if (begin(r, sec) < 0)
        return -1;
    size_t rdlen = nstr == 0 ? 1 : 0; /* no strings: one empty string */
    for (size_t i = 0; i < nstr; i++) {
        size_t l = strlen(strs[i]);
        if (l > 255)
            return -1; /* not a character-string: the caller's error */
        rdlen += 1 + l;
    }
    size_t len0 = r->len;
    unsigned names0 = r->nnames;
    if (rdlen > 65535 || put_name(r, owner, 1) < 0 || put_rr_fixed(r, GLB_TYPE_TXT, ttl, rdlen) < 0 ||
        !room(r, rdlen))
        return fail(r, sec, len0, names0);
    uint8_t *o = r->buf + r->len;
    if (nstr == 0)
        *o = 0;
    for (size_t i = 0; i < nstr; i++) {
        size_t l = strlen(strs[i]);
        *o++ = (uint8_t)l;
        memcpy(o, strs[i], l);
        o += l;
    }
    r->len += rdlen;
    r->count[sec]++;
    return 0;
}

void glb_resp_truncate(glb_resp *r)
{
    size_t qend = question_end(r);
    r->len = qend;
    r->count[0] = r->count[1] = r->count[2] = 0;
    while (r->nnames > 0 && r->names[r->nnames - 1] >= qend)
        r->nnames--;
    r->buf[2] |= 0x02; /* TC */
    r->truncated = 1;
}

/* Writes an OPT record at o (room is the caller's business); returns its size. */
static size_t put_opt(uint8_t *o, uint16_t udp_size, unsigned ext_rcode, int do_bit, const glb_query *q,
                      int ecs_scope)
{
    o[0] = 0;
    wr16(o + 1, GLB_TYPE_OPT);
    wr16(o + 3, udp_size);
    o[5] = (uint8_t)ext_rcode;
    o[6] = 0; /* version */
    o[7] = do_bit ? 0x80 : 0;
    o[8] = 0;
    size_t rdlen = 0;
    if (q != NULL && q->ecs && ecs_scope >= 0) {
        size_t nb = ecs_bytes(q);
        int v4 = q->ecs_addr.family == AF_INET;
        unsigned maxbits = v4 ? 32 : 128;
        unsigned scope = (unsigned)ecs_scope > maxbits ? maxbits : (unsigned)ecs_scope;
        if (q->ecs_source == 0)
            scope = 0; /* the client asked for no tailoring (RFC 7871) */
        wr16(o + 11, GLB_EDNS_ECS);
        wr16(o + 13, (unsigned)(4 + nb));
        wr16(o + 15, v4 ? 1 : 2);
        o[17] = q->ecs_source;
        o[18] = (uint8_t)scope;
        memcpy(o + 19, q->ecs_addr.b, nb);
        rdlen = ECS_FIXED + nb;
    }
    wr16(o + 9, (unsigned)rdlen);
    return OPT_FIXED + rdlen;
}

size_t glb_resp_finish(glb_resp *r, uint16_t udp_size, int ecs_scope)
{
    const glb_query *q = r->q;
    size_t len = r->len;
    unsigned ar = r->count[2];
    if (q->edns && r->reserve >= OPT_FIXED) {
        len += put_opt(r->buf + len, udp_size, r->ext_rcode, q->edns_do, q, ecs_scope);
        ar++;
    }
    wr16(r->buf + 4, q->has_question ? 1 : 0);
    wr16(r->buf + 6, r->count[0]);
    wr16(r->buf + 8, r->count[1]);
    wr16(r->buf + 10, ar);
    return len;
}

size_t glb_resp_error(uint8_t *buf, size_t cap, const uint8_t *pkt, size_t len, const glb_query *q,
                      unsigned rcode, uint16_t udp_size)
{
    if (pkt == NULL || len < GLB_DNS_HDRLEN || (pkt[2] & 0x80) || cap < GLB_DNS_HDRLEN)
        return 0;
    buf[0] = pkt[0];
    buf[1] = pkt[1];
    buf[2] = (uint8_t)(0x80 | (pkt[2] & 0x79)); /* QR, opcode and RD as sent */
    buf[3] = (uint8_t)(rcode & 0x0F);
    memset(buf + 4, 0, 8);
    size_t o = GLB_DNS_HDRLEN;
    if (q->has_question && q->qname_len + 4 <= cap - o) {
        memcpy(buf + o, q->qname, q->qname_len);
        wr16(buf + o + q->qname_len, q->qtype);
        wr16(buf + o + q->qname_len + 2, q->qclass);
        o += q->qname_len + 4;
        buf[5] = 1;
    }
    if (q->edns && OPT_FIXED <= cap - o) {
        o += put_opt(buf + o, udp_size, rcode >> 4, q->edns_do, NULL, -1);
        buf[11] = 1;
    }
    return o;
}

enum glb_parse_result glb_resp_start(glb_resp *r, glb_query *q, const uint8_t *pkt, size_t len, int tcp,
                                     uint16_t edns_size, uint8_t *out, size_t outcap, size_t *reply_len)
{
    enum glb_parse_result res = glb_query_parse(pkt, len, q);
    static const unsigned rcode[] = {
        [GLB_PARSE_FORMERR] = GLB_RCODE_FORMERR,
        [GLB_PARSE_NOTIMP] = GLB_RCODE_NOTIMP,
        [GLB_PARSE_BADVERS] = GLB_RCODE_BADVERS,
    };
    *reply_len = 0;
    if (res == GLB_PARSE_DROP)
        return res;
    if (res != GLB_PARSE_OK) {
        *reply_len = glb_resp_error(out, outcap, pkt, len, q, rcode[res], edns_size);
        return res;
    }
    size_t limit = 512;
    if (tcp)
        limit = 65535;
    else if (q->edns)
        limit = q->edns_udp_size < 512 ? 512 : q->edns_udp_size > edns_size ? edns_size : q->edns_udp_size;
    if (limit > outcap)
        limit = outcap;
    if (glb_resp_init(r, out, outcap, limit, q) != 0) {
        res = GLB_PARSE_FORMERR; /* cannot happen: a parsed question fits in 512 */
        *reply_len = glb_resp_error(out, outcap, pkt, len, q, GLB_RCODE_FORMERR, edns_size);
    }
    return res;
}

size_t glb_resp_slip(uint8_t *buf, size_t len)
{
    if (len < GLB_DNS_HDRLEN)
        return 0;
    size_t end = GLB_DNS_HDRLEN;
    unsigned qd = (unsigned)buf[4] << 8 | buf[5];
    if (qd == 1) { /* the question, echoed as sent: labels, no pointer */
        size_t p = GLB_DNS_HDRLEN;
        while (p < len && buf[p] != 0 && buf[p] < 64)
            p += 1u + buf[p];
        if (p < len && buf[p] == 0 && p + 5 <= len)
            end = p + 5;
        else
            qd = 0;
    } else {
        qd = 0;
    }
    buf[2] |= 0x02; /* TC */
    buf[4] = 0;
    buf[5] = (uint8_t)qd;
    memset(buf + 6, 0, 6); /* AN, NS, AR */
    return end;
}
