/* Unit tests for shared/dnsresp.c. Every response built here is read back by
 * an independent decoder (below) that expands compression pointers, accepts
 * only pointers to earlier bytes and requires the message to parse exactly.
 * Built with -DGLB_TEST_LDNS (and ldns), each response is also parsed by
 * ldns_wire2pkt and its counts, flags and rcode compared.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#ifdef GLB_TEST_LDNS
#include <ldns/ldns.h>
#endif

#include "shared/dname.h"
#include "shared/dnsquery.h"
#include "shared/dnsresp.h"

/* ---- an independent decoder ---- */

typedef struct drr {
    uint8_t owner[256];
    uint16_t type, cls;
    uint32_t ttl;
    uint16_t rdlen;
    size_t owner_off, rdoff;
    uint8_t rdname[2][256]; /* NS/CNAME/PTR/DNAME target; SOA mname, rname */
} drr;

typedef struct dmsg {
    uint16_t id, flags, qd, an, ns, ar;
    uint8_t qname[256];
    uint16_t qtype, qclass;
    drr *rr;
    unsigned nrr;
} dmsg;

static uint16_t g16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
    return (uint32_t)g16(p) << 16 | g16(p + 2);
}

/* Expands the name at *off. Pointers must aim before the pointer itself;
 * fails on anything out of bounds or longer than 255. */
static int dec_name(const uint8_t *m, size_t len, size_t *off, uint8_t *out)
{
    size_t p = *off, n = 0, end = 0;
    int jumped = 0, hops = 0;
    for (;;) {
        if (p >= len)
            return -1;
        uint8_t c = m[p];
        if ((c & 0xC0) == 0xC0) {
            if (p + 1 >= len)
                return -1;
            size_t t = (size_t)(c & 0x3F) << 8 | m[p + 1];
            if (t >= p || ++hops > 128)
                return -1;
            if (!jumped)
                end = p + 2;
            jumped = 1;
            p = t;
            continue;
        }
        if (c > 63 || p + 1 + c > len || n + 1 + c > 255)
            return -1;
        memcpy(out + n, m + p, (size_t)c + 1);
        n += (size_t)c + 1;
        p += (size_t)c + 1;
        if (c == 0)
            break;
    }
    *off = jumped ? end : p;
    return 0;
}

static int decode(const uint8_t *m, size_t len, dmsg *d)
{
    if (len < 12)
        return -1;
    d->id = g16(m);
    d->flags = g16(m + 2);
    d->qd = g16(m + 4);
    d->an = g16(m + 6);
    d->ns = g16(m + 8);
    d->ar = g16(m + 10);
    size_t o = 12;
    if (d->qd > 1)
        return -1;
    if (d->qd == 1) {
        if (dec_name(m, len, &o, d->qname) < 0 || o + 4 > len)
            return -1;
        d->qtype = g16(m + o);
        d->qclass = g16(m + o + 2);
        o += 4;
    }
    unsigned total = (unsigned)d->an + d->ns + d->ar;
    d->rr = calloc(total ? total : 1, sizeof *d->rr);
    assert_non_null(d->rr);
    d->nrr = 0;
    for (unsigned i = 0; i < total; i++) {
        drr *r = &d->rr[d->nrr++];
        r->owner_off = o;
        if (dec_name(m, len, &o, r->owner) < 0 || o + 10 > len)
            return -1;
        r->type = g16(m + o);
        r->cls = g16(m + o + 2);
        r->ttl = g32(m + o + 4);
        r->rdlen = g16(m + o + 8);
        o += 10;
        r->rdoff = o;
        if (o + r->rdlen > len)
            return -1;
        size_t ro = o;
        if (r->type == GLB_TYPE_NS || r->type == GLB_TYPE_CNAME || r->type == 12 || r->type == 39) {
            if (dec_name(m, len, &ro, r->rdname[0]) < 0 || ro != o + r->rdlen)
                return -1;
        } else if (r->type == GLB_TYPE_SOA) {
            if (dec_name(m, len, &ro, r->rdname[0]) < 0 || dec_name(m, len, &ro, r->rdname[1]) < 0 ||
                ro + 20 != o + r->rdlen)
                return -1;
        }
        o += r->rdlen;
    }
    return o == len ? 0 : -1;
}

static void dmsg_free(dmsg *d)
{
    free(d->rr);
    d->rr = NULL;
}

/* Wire names compared byte for byte (case included). */
static void assert_name(const uint8_t *got, const char *want_wire)
{
    size_t l = glb_dname_len((const uint8_t *)want_wire);
    assert_memory_equal(got, want_wire, l);
}

static void ldns_check(const uint8_t *m, size_t len, const dmsg *d)
{
#ifdef GLB_TEST_LDNS
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), d->id);
    assert_int_equal(ldns_pkt_qr(p), 1);
    assert_int_equal(ldns_pkt_tc(p), (d->flags & 0x0200) != 0);
    assert_int_equal(ldns_pkt_aa(p), (d->flags & 0x0400) != 0);
    assert_int_equal(ldns_pkt_rd(p), (d->flags & 0x0100) != 0);
    assert_int_equal(ldns_pkt_get_rcode(p), d->flags & 0x0F);
    assert_int_equal(ldns_pkt_qdcount(p), d->qd);
    assert_int_equal(ldns_pkt_ancount(p), d->an);
    assert_int_equal(ldns_pkt_nscount(p), d->ns);
    /* ldns takes the OPT out of the additional section */
    int has_opt = d->nrr > 0 && d->rr[d->nrr - 1].type == GLB_TYPE_OPT;
    assert_int_equal(ldns_pkt_arcount(p), d->ar - (has_opt ? 1 : 0));
    if (has_opt) {
        const drr *o = &d->rr[d->nrr - 1];
        assert_int_equal(ldns_pkt_edns_udp_size(p), o->cls);
        assert_int_equal(ldns_pkt_edns_extended_rcode(p), o->ttl >> 24);
        assert_int_equal(ldns_pkt_edns_version(p), (o->ttl >> 16) & 0xFF);
        assert_int_equal(ldns_pkt_edns_do(p), (o->ttl & 0x8000) != 0);
    }
    /* owner names as ldns expanded them */
    for (unsigned i = 0; i < ldns_pkt_ancount(p); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
        ldns_rdf *own = ldns_rr_owner(rr);
        assert_int_equal(ldns_rdf_size(own), glb_dname_len(d->rr[i].owner));
        assert_memory_equal(ldns_rdf_data(own), d->rr[i].owner, ldns_rdf_size(own));
    }
    ldns_pkt_free(p);
#else
    (void)m;
    (void)len;
    (void)d;
#endif
}

/* Decodes (must succeed), cross-checks with ldns when built with it. */
static void decode_ok(const uint8_t *m, size_t len, dmsg *d)
{
    assert_int_equal(decode(m, len, d), 0);
    ldns_check(m, len, d);
}

/* ---- queries ---- */

typedef struct qopts {
    int edns, do_bit;
    const uint8_t *ecs; /* option body (family, source, scope, address) */
    size_t ecslen;
    unsigned version;
    unsigned flags;
} qopts;

static uint8_t qbuf[1024];
static size_t qlen;

/* Builds and parses a query for name (wire form, case kept). */
static void mkq(glb_query *q, const char *wire, unsigned type, const qopts *o)
{
    static const qopts none = {0, 0, NULL, 0, 0, 0x0100};
    if (o == NULL)
        o = &none;
    uint8_t *p = qbuf;
    size_t nl = glb_dname_len((const uint8_t *)wire);
    *p++ = 0x12;
    *p++ = 0x34;
    *p++ = (uint8_t)(o->flags >> 8);
    *p++ = (uint8_t)o->flags;
    static const uint8_t counts[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* QD 1, AN, NS, AR */
    memcpy(p, counts, 8);
    p[7] = o->edns ? 1 : 0;
    p += 8;
    memcpy(p, wire, nl);
    p += nl;
    *p++ = (uint8_t)(type >> 8);
    *p++ = (uint8_t)type;
    *p++ = 0;
    *p++ = 1;
    if (o->edns) {
        size_t rdlen = o->ecs ? 4 + o->ecslen : 0;
        *p++ = 0;
        *p++ = 0;
        *p++ = 41;
        *p++ = 0x10; /* 4096 */
        *p++ = 0;
        *p++ = 0;
        *p++ = (uint8_t)o->version;
        *p++ = o->do_bit ? 0x80 : 0;
        *p++ = 0;
        *p++ = (uint8_t)(rdlen >> 8);
        *p++ = (uint8_t)rdlen;
        if (o->ecs) {
            *p++ = 0;
            *p++ = 8;
            *p++ = (uint8_t)(o->ecslen >> 8);
            *p++ = (uint8_t)o->ecslen;
            memcpy(p, o->ecs, o->ecslen);
            p += o->ecslen;
        }
    }
    qlen = (size_t)(p - qbuf);
    enum glb_parse_result r = glb_query_parse(qbuf, qlen, q);
    assert_true(r == GLB_PARSE_OK || r == GLB_PARSE_BADVERS);
}

static const uint8_t A1[4] = {192, 0, 2, 1};
static const uint8_t A2[4] = {192, 0, 2, 2};
static const uint8_t V6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* ---- tests ---- */

static void simple_answer_points_at_question(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\3WwW\7ExAmple\3COM", GLB_TYPE_A, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    glb_resp_set_aa(&r, 1);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\3www\7example\3com", 300, A1), 0);
    size_t n = glb_resp_finish(&r, 1232, -1);
    /* header, question, then owner as a 2-byte pointer to offset 12 */
    assert_int_equal(n, 12 + 17 + 4 + 2 + 10 + 4);
    assert_memory_equal(buf + 12, "\3WwW\7ExAmple\3COM", 17); /* as sent */
    assert_int_equal(buf[33], 0xC0);
    assert_int_equal(buf[34], 12);

    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.id, 0x1234);
    assert_int_equal(d.flags, 0x8000 | 0x0400 | 0x0100); /* QR AA RD, NOERROR */
    assert_int_equal(d.qd, 1);
    assert_int_equal(d.an, 1);
    assert_int_equal(d.ar, 0);
    assert_int_equal(d.qtype, GLB_TYPE_A);
    assert_int_equal(d.qclass, GLB_CLASS_IN);
    /* the owner reads back in the question's case: fine, names compare without case */
    assert_name(d.rr[0].owner, "\3WwW\7ExAmple\3COM");
    assert_int_equal(d.rr[0].type, GLB_TYPE_A);
    assert_int_equal(d.rr[0].cls, GLB_CLASS_IN);
    assert_int_equal(d.rr[0].ttl, 300);
    assert_int_equal(d.rr[0].rdlen, 4);
    assert_memory_equal(buf + d.rr[0].rdoff, A1, 4);
    dmsg_free(&d);
}

static void flags_copied(void **state)
{
    (void)state;
    glb_query q;
    qopts o = {0, 0, NULL, 0, 0, 0x0010}; /* CD set, RD clear */
    mkq(&q, "\1a\0", GLB_TYPE_A, &o);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    glb_resp_set_rcode(&r, GLB_RCODE_NXDOMAIN);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.flags, 0x8000 | 0x0010 | GLB_RCODE_NXDOMAIN);
    glb_resp_set_aa(&r, 1);
    glb_resp_set_aa(&r, 0);
    assert_int_equal(buf[2] & 0x04, 0);
    dmsg_free(&d);
}

static void compression_of_many_names(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\3www\7example\3com", GLB_TYPE_A, NULL);
    uint8_t buf[1024];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, sizeof buf, &q), 0);
    const uint8_t *www = (const uint8_t *)"\3www\7example\3com";
    const uint8_t *web = (const uint8_t *)"\3web\7EXAMPLE\3com";
    const uint8_t *zone = (const uint8_t *)"\7example\3com";
    const uint8_t *ns1 = (const uint8_t *)"\3ns1\7example\3com";
    const uint8_t *ns2 = (const uint8_t *)"\3ns2\5other\3net";
    const uint8_t *host = (const uint8_t *)"\12hostmaster\7example\3com";
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_ANSWER, www, GLB_TYPE_CNAME, 60, web), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, web, 60, A1), 0);
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_AUTHORITY, zone, GLB_TYPE_NS, 3600, ns1), 0);
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_AUTHORITY, zone, GLB_TYPE_NS, 3600, ns2), 0);
    assert_int_equal(glb_resp_add_soa(&r, GLB_SEC_AUTHORITY, zone, 3600, ns1, host, 2024010101, 7200, 900,
                                      1209600, 300),
                     0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, ns1, 3600, A2), 0);
    assert_int_equal(glb_resp_add_aaaa(&r, GLB_SEC_ADDITIONAL, ns2, 3600, V6), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\3NS2\5Other\3NET", 3600, A2), 0);
    size_t n = glb_resp_finish(&r, 1232, -1);

    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.an, 2);
    assert_int_equal(d.ns, 3);
    assert_int_equal(d.ar, 3);
    /* every name reads back equal to what was added (case-insensitively:
     * suffixes may come from earlier names) */
    assert_true(glb_dname_equal(d.rr[0].owner, www));
    assert_true(glb_dname_equal(d.rr[0].rdname[0], web));
    assert_true(glb_dname_equal(d.rr[1].owner, web));
    assert_true(glb_dname_equal(d.rr[2].owner, zone));
    assert_true(glb_dname_equal(d.rr[2].rdname[0], ns1));
    assert_true(glb_dname_equal(d.rr[3].owner, zone));
    assert_true(glb_dname_equal(d.rr[3].rdname[0], ns2));
    assert_true(glb_dname_equal(d.rr[4].owner, zone));
    assert_int_equal(d.rr[4].type, GLB_TYPE_SOA);
    assert_true(glb_dname_equal(d.rr[4].rdname[0], ns1));
    assert_true(glb_dname_equal(d.rr[4].rdname[1], host));
    const uint8_t *soa_tail = buf + d.rr[4].rdoff + d.rr[4].rdlen - 20;
    assert_int_equal(g32(soa_tail), 2024010101);
    assert_int_equal(g32(soa_tail + 16), 300);
    assert_true(glb_dname_equal(d.rr[5].owner, ns1));
    assert_true(glb_dname_equal(d.rr[6].owner, ns2));
    assert_int_equal(d.rr[6].type, GLB_TYPE_AAAA);
    assert_memory_equal(buf + d.rr[6].rdoff, V6, 16);
    assert_true(glb_dname_equal(d.rr[7].owner, ns2));

    /* exact encodings: the CNAME target is "web" + pointer to example.com
     * in the question (offset 16); the second CNAME-target use is a pointer */
    assert_int_equal(d.rr[0].rdlen, 6);
    assert_memory_equal(buf + d.rr[0].rdoff, "\3web\300\20", 6);
    assert_memory_equal(buf + d.rr[1].owner_off, "\300", 1);
    /* zone owners are bare pointers to offset 16 */
    assert_memory_equal(buf + d.rr[2].owner_off, "\300\20", 2);
    /* the second ns2 owner (different case) is one pointer */
    assert_int_equal(buf[d.rr[7].owner_off] & 0xC0, 0xC0);
    /* compressed total is far below the uncompressed size */
    assert_true(n < 240);
    dmsg_free(&d);
}

static void rdata_of_other_types_not_compressed(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\3www\7example\3com", 39, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    /* DNAME (39): target written in full though example.com is present */
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_ANSWER, (const uint8_t *)"\3www\7example\3com", 39, 60,
                                       (const uint8_t *)"\7example\3com"),
                     0);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.rr[0].rdlen, 13);
    assert_memory_equal(buf + d.rr[0].rdoff, "\7example\3com", 13);
    dmsg_free(&d);
}

static void truncation_rolls_back(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\3www\7example\3com", GLB_TYPE_A, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 100, &q), 0);
    size_t qend = r.len;
    assert_int_equal(qend, 33);
    /* each A record with a pointer owner is 16 bytes: 4 fit in 100 */
    int added = 0;
    while (glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\3www\7example\3com", 60, A1) == 0)
        added++;
    assert_int_equal(added, 4);
    assert_true(r.truncated);
    assert_int_equal(r.len, qend);
    assert_int_equal(r.count[0], 0);
    /* nothing more goes in once truncated */
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\3www\7example\3com", 60, A1), -1);
    size_t n = glb_resp_finish(&r, 1232, -1);
    assert_int_equal(n, qend);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_true(d.flags & 0x0200); /* TC */
    assert_int_equal(d.an + d.ns + d.ar, 0);
    assert_int_equal(d.qd, 1);
    dmsg_free(&d);
}

static void authority_overflow_truncates(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\3www\7example\3com", GLB_TYPE_A, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 80, &q), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\3www\7example\3com", 60, A1), 0);
    /* an SOA with long new names cannot fit in the 31 bytes left */
    assert_int_equal(glb_resp_add_soa(&r, GLB_SEC_AUTHORITY, (const uint8_t *)"\7example\3com", 60,
                                      (const uint8_t *)"\3ns1\7example\3com",
                                      (const uint8_t *)"\12hostmaster\7example\3com", 1, 2, 3, 4, 5),
                     -1);
    assert_true(r.truncated);
    assert_int_equal(r.count[0], 0);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_true(d.flags & 0x0200);
    assert_int_equal(d.an, 0);
    dmsg_free(&d);
}

static void additional_overflow_keeps_answer(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\7example\3com", GLB_TYPE_NS, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 100, &q), 0);
    const uint8_t *zone = (const uint8_t *)"\7example\3com";
    const uint8_t *ns1 = (const uint8_t *)"\3ns1\7example\3com";
    /* 29 + NS (2+10+6 = 18) = 47 */
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_ANSWER, zone, GLB_TYPE_NS, 60, ns1), 0);
    assert_int_equal(r.len, 47);
    unsigned names_before = r.nnames;
    /* owner "new.example.com" fits (6 bytes) but its CNAME target does not:
     * the whole RR, and the compression target "new", must go */
    assert_int_equal(glb_resp_add_name(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\3new\7example\3com",
                                       GLB_TYPE_CNAME, 60,
                                       (const uint8_t *)"\50aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\5other\3net"),
                     -1);
    assert_false(r.truncated);
    assert_int_equal(r.len, 47);
    assert_int_equal(r.nnames, names_before);
    assert_int_equal(r.count[2], 0);
    /* a later name below "new" must not point into the discarded bytes */
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\1x\3new\7example\3com", 60, A1), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, ns1, 60, A2), 0);
    /* full now: glue that does not fit is just left out */
    assert_int_equal(glb_resp_add_aaaa(&r, GLB_SEC_ADDITIONAL, ns1, 60, V6), -1);
    assert_false(r.truncated);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_false(d.flags & 0x0200);
    assert_int_equal(d.an, 1);
    assert_int_equal(d.ar, 2);
    assert_name(d.rr[1].owner, "\1x\3new\7example\3com");
    assert_name(d.rr[2].owner, "\3ns1\7example\3com");
    dmsg_free(&d);

    /* the caller may still decide the missing glue needs TC */
    glb_resp_truncate(&r);
    n = glb_resp_finish(&r, 1232, -1);
    decode_ok(buf, n, &d);
    assert_true(d.flags & 0x0200);
    assert_int_equal(d.an + d.ns + d.ar, 0);
    dmsg_free(&d);
}

static void sections_move_forward(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\1a\0", GLB_TYPE_A, NULL);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_AUTHORITY, (const uint8_t *)"\1a", 1, A1), 0);
    size_t len = r.len;
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 1, A1), -1);
    assert_int_equal(glb_resp_add_a(&r, 3, (const uint8_t *)"\1a", 1, A1), -1);
    assert_int_equal(r.len, len);
    assert_false(r.truncated);
}

static void add_addr_and_txt(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\1a\0", GLB_TYPE_TXT, NULL);
    uint8_t buf[2048];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, sizeof buf, &q), 0);
    glb_addr a4 = {AF_INET, 0, {10, 0, 0, 1}};
    glb_addr a6 = {AF_INET6, 0, {0}};
    memcpy(a6.b, V6, 16);
    glb_addr bad = {12345, 0, {0}};
    assert_int_equal(glb_resp_add_addr(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, &a4), 0);
    assert_int_equal(glb_resp_add_addr(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, &a6), 0);
    size_t len = r.len;
    assert_int_equal(glb_resp_add_addr(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, &bad), -1);
    assert_int_equal(r.len, len);
    assert_false(r.truncated);

    const char *strs[] = {"hello", "", "world"};
    assert_int_equal(glb_resp_add_txt(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, strs, 3), 0);
    assert_int_equal(glb_resp_add_txt(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, NULL, 0), 0);
    char big[300];
    memset(big, 'x', 255);
    big[255] = '\0';
    const char *one[] = {big};
    assert_int_equal(glb_resp_add_txt(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, one, 1), 0);
    big[255] = 'x';
    big[256] = '\0';
    len = r.len;
    assert_int_equal(glb_resp_add_txt(&r, GLB_SEC_ANSWER, (const uint8_t *)"\1a", 5, one, 1), -1);
    assert_int_equal(r.len, len);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.an, 5);
    assert_int_equal(d.rr[0].type, GLB_TYPE_A);
    assert_memory_equal(buf + d.rr[0].rdoff, a4.b, 4);
    assert_int_equal(d.rr[1].type, GLB_TYPE_AAAA);
    assert_int_equal(d.rr[2].type, GLB_TYPE_TXT);
    assert_int_equal(d.rr[2].rdlen, 6 + 1 + 6);
    assert_memory_equal(buf + d.rr[2].rdoff, "\5hello\0\5world", 13);
    assert_int_equal(d.rr[3].rdlen, 1);
    assert_int_equal(buf[d.rr[3].rdoff], 0);
    assert_int_equal(d.rr[4].rdlen, 256);
    dmsg_free(&d);
}

static void opt_record_and_do(void **state)
{
    (void)state;
    glb_query q;
    qopts o = {1, 1, NULL, 0, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    assert_int_equal(r.reserve, 11);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\7example\3com", 60, A1), 0);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\3ns1\7example\3com", 60, A2), 0);
    size_t n = glb_resp_finish(&r, 1232, 24);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.ar, 2);
    const drr *opt = &d.rr[2];
    assert_int_equal(opt->type, GLB_TYPE_OPT);
    assert_int_equal(opt->owner[0], 0);
    assert_int_equal(opt->owner_off, n - 11); /* last, root owner in one byte */
    assert_int_equal(opt->cls, 1232);
    assert_int_equal(opt->ttl, 0x00008000u); /* rcode 0, version 0, DO */
    assert_int_equal(opt->rdlen, 0);          /* no ECS asked: none sent */
    dmsg_free(&d);

    /* DO clear in the query: clear in the answer */
    o.do_bit = 0;
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o);
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    n = glb_resp_finish(&r, 4096, -1);
    decode_ok(buf, n, &d);
    assert_int_equal(d.rr[0].ttl, 0);
    assert_int_equal(d.rr[0].cls, 4096);
    dmsg_free(&d);
}

static void extended_rcode_badvers(void **state)
{
    (void)state;
    glb_query q;
    qopts o = {1, 0, NULL, 0, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    glb_resp_set_rcode(&r, GLB_RCODE_BADVERS);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.flags & 0x0F, 0);            /* low 4 bits of 16 */
    assert_int_equal(d.rr[0].ttl >> 24, 1);         /* high 8 bits */
    assert_int_equal((d.rr[0].ttl >> 16) & 0xFF, 0); /* version 0 */
    dmsg_free(&d);

    /* an ordinary rcode after an extended one clears the high bits */
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    glb_resp_set_rcode(&r, GLB_RCODE_BADVERS);
    glb_resp_set_rcode(&r, GLB_RCODE_REFUSED);
    n = glb_resp_finish(&r, 1232, -1);
    decode_ok(buf, n, &d);
    assert_int_equal(d.flags & 0x0F, GLB_RCODE_REFUSED);
    assert_int_equal(d.rr[0].ttl >> 24, 0);
    dmsg_free(&d);

    /* and through glb_resp_error for a version-1 query */
    o.version = 1;
    o.do_bit = 1;
    mkq(&q, "\7Example\3com", GLB_TYPE_A, &o);
    n = glb_resp_error(buf, sizeof buf, qbuf, qlen, &q, GLB_RCODE_BADVERS, 1232);
    decode_ok(buf, n, &d);
    assert_int_equal(d.id, 0x1234);
    assert_int_equal(d.flags, 0x8000 | 0x0100);
    assert_int_equal(d.qd, 1);
    assert_name(d.qname, "\7Example\3com");
    assert_int_equal(d.ar, 1);
    assert_int_equal(d.rr[0].type, GLB_TYPE_OPT);
    assert_int_equal(d.rr[0].ttl, 0x01008000u); /* BADVERS, version 0, DO */
    assert_int_equal(d.rr[0].cls, 1232);
    dmsg_free(&d);
}

static void ecs_echo(void **state)
{
    (void)state;
    glb_query q;
    static const uint8_t e4[] = {0, 1, 24, 0, 198, 51, 100};
    qopts o = {1, 0, e4, sizeof e4, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o);
    assert_true(q.ecs);
    uint8_t buf[512];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    assert_int_equal(r.reserve, 11 + 8 + 3);
    assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\7example\3com", 60, A1), 0);
    size_t n = glb_resp_finish(&r, 1232, 16);
    dmsg d;
    decode_ok(buf, n, &d);
    const drr *opt = &d.rr[1];
    assert_int_equal(opt->type, GLB_TYPE_OPT);
    assert_int_equal(opt->rdlen, 4 + 7);
    static const uint8_t want4[] = {0, 8, 0, 7, 0, 1, 24, 16, 198, 51, 100};
    assert_memory_equal(buf + opt->rdoff, want4, sizeof want4);
    dmsg_free(&d);

    /* scope -1: no ECS in the answer */
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    n = glb_resp_finish(&r, 1232, -1);
    decode_ok(buf, n, &d);
    assert_int_equal(d.rr[0].rdlen, 0);
    dmsg_free(&d);

    /* v6 /56, scope 48 */
    static const uint8_t e6[] = {0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xbb, 0xcc};
    qopts o6 = {1, 1, e6, sizeof e6, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_AAAA, &o6);
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    n = glb_resp_finish(&r, 1232, 48);
    decode_ok(buf, n, &d);
    static const uint8_t want6[] = {0, 8, 0, 11, 0, 2, 56, 48, 0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xbb, 0xcc};
    assert_int_equal(d.rr[0].rdlen, sizeof want6);
    assert_memory_equal(buf + d.rr[0].rdoff, want6, sizeof want6);
    assert_int_equal(d.rr[0].ttl, 0x8000);
    dmsg_free(&d);

    /* scope larger than the family allows is clamped */
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    n = glb_resp_finish(&r, 1232, 200);
    decode_ok(buf, n, &d);
    assert_int_equal(buf[d.rr[0].rdoff + 7], 128);
    dmsg_free(&d);

    /* SOURCE 0 in the query: SCOPE 0 in the answer, no address bytes */
    static const uint8_t e0[] = {0, 1, 0, 0};
    qopts o0 = {1, 0, e0, sizeof e0, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o0);
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    n = glb_resp_finish(&r, 1232, 24);
    decode_ok(buf, n, &d);
    static const uint8_t want0[] = {0, 8, 0, 4, 0, 1, 0, 0};
    assert_int_equal(d.rr[0].rdlen, sizeof want0);
    assert_memory_equal(buf + d.rr[0].rdoff, want0, sizeof want0);
    dmsg_free(&d);
}

static void reserve_keeps_room_for_opt(void **state)
{
    (void)state;
    glb_query q;
    static const uint8_t e6[] = {0, 2, 128, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    qopts o = {1, 0, e6, sizeof e6, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_TXT, &o);
    uint8_t buf[600];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 512, &q), 0);
    const char *strs[] = {"0123456789012345678901234567890123456789"};
    int added = 0;
    while (glb_resp_add_txt(&r, GLB_SEC_ADDITIONAL, (const uint8_t *)"\7example\3com", 60, strs, 1) == 0)
        added++;
    assert_true(added > 5);
    assert_false(r.truncated);
    size_t n = glb_resp_finish(&r, 1232, 0);
    assert_true(n <= 512);
    assert_true(n > 512 - 53); /* filled up to within one RR */
    dmsg d;
    decode_ok(buf, n, &d);
    const drr *opt = &d.rr[d.nrr - 1];
    assert_int_equal(opt->type, GLB_TYPE_OPT);
    assert_int_equal(opt->rdlen, 4 + 4 + 16);
    dmsg_free(&d);
}

static void init_too_small(void **state)
{
    (void)state;
    glb_query q;
    qopts o = {1, 0, NULL, 0, 0, 0x0100};
    mkq(&q, "\7example\3com", GLB_TYPE_A, &o);
    uint8_t buf[512];
    glb_resp r;
    /* 12 + 17 + 11 = 40 needed */
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 39, &q), -1);
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, 40, &q), 0);
    /* limit is clamped to cap */
    assert_int_equal(glb_resp_init(&r, buf, 30, 512, &q), -1);
}

/* Wire name hostN.example.com in w. */
static const uint8_t *hostname(char *w, int i)
{
    int l = snprintf(w + 1, 20, "host%d", i);
    w[0] = (char)l;
    memcpy(w + 1 + l, "\7example\3com", 13);
    return (const uint8_t *)w;
}

static void compression_table_full(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\7example\3com", GLB_TYPE_A, NULL);
    uint8_t buf[8192];
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, sizeof buf, sizeof buf, &q), 0);
    /* 150 distinct names, each twice in a row: more than the table holds */
    char w[32];
    for (int i = 0; i < 150; i++) {
        assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, hostname(w, i), 60, A1), 0);
        assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, hostname(w, i), 60, A2), 0);
    }
    assert_int_equal(r.nnames, GLB_RESP_MAXNAMES);
    size_t n = glb_resp_finish(&r, 1232, -1);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.an, 300);
    for (int i = 0; i < 150; i++) {
        assert_true(glb_dname_equal(d.rr[2 * i].owner, hostname(w, i)));
        assert_true(glb_dname_equal(d.rr[2 * i + 1].owner, hostname(w, i)));
        /* remembered names are pointed at; later ones are written out */
        int ptr = (buf[d.rr[2 * i + 1].owner_off] & 0xC0) == 0xC0;
        assert_int_equal(ptr, i < GLB_RESP_MAXNAMES - 2);
    }
    dmsg_free(&d);
}

static void no_targets_past_0x4000(void **state)
{
    (void)state;
    glb_query q;
    mkq(&q, "\7example\3com", GLB_TYPE_A, NULL);
    size_t cap = 65535;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    glb_resp r;
    assert_int_equal(glb_resp_init(&r, buf, cap, cap, &q), 0);
    /* 16-byte records owned by the question name up to past 0x4000 */
    while (r.len <= 0x4000)
        assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, (const uint8_t *)"\7example\3com", 60, A1), 0);
    unsigned before = r.count[0];
    assert_int_equal(r.nnames, 2); /* example, com from the question */
    char w[32];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, hostname(w, i), 60, A1), 0);
        assert_int_equal(glb_resp_add_a(&r, GLB_SEC_ANSWER, hostname(w, i), 60, A2), 0);
    }
    assert_int_equal(r.nnames, 2); /* unreachable by 14-bit pointers */
    size_t n = glb_resp_finish(&r, 1232, -1);
    assert_true(n > 0x4000 + 20 * 2 * 16);
    dmsg d;
    decode_ok(buf, n, &d);
    for (int i = 0; i < 20; i++) {
        assert_true(glb_dname_equal(d.rr[before + 2 * i].owner, hostname(w, i)));
        assert_true(glb_dname_equal(d.rr[before + 2 * i + 1].owner, hostname(w, i)));
    }
    dmsg_free(&d);
    free(buf);
}

static void error_without_question(void **state)
{
    (void)state;
    /* qdcount 0 query with RD and opcode 0: header-only FORMERR */
    static const uint8_t pkt[12] = {0xAB, 0xCD, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    glb_query q;
    assert_int_equal(glb_query_parse(pkt, sizeof pkt, &q), GLB_PARSE_FORMERR);
    uint8_t buf[512];
    size_t n = glb_resp_error(buf, sizeof buf, pkt, sizeof pkt, &q, GLB_RCODE_FORMERR, 1232);
    assert_int_equal(n, 12);
    dmsg d;
    decode_ok(buf, n, &d);
    assert_int_equal(d.id, 0xABCD);
    assert_int_equal(d.flags, 0x8000 | 0x0100 | GLB_RCODE_FORMERR);
    assert_int_equal(d.qd + d.an + d.ns + d.ar, 0);
    dmsg_free(&d);

    /* a FORMERR for a query whose OPT was fine (bad ECS) carries an OPT */
    static const uint8_t bad[] = {0, 1, 24, 9, 10, 0, 0};
    qopts o = {1, 0, NULL, 0, 0, 0x0100};
    mkq(&q, "\1a\0", GLB_TYPE_A, &o);
    /* rebuild with the bad ECS by hand: mkq asserts success */
    size_t at = qlen;
    qbuf[at - 2] = 0;
    qbuf[at - 1] = 4 + sizeof bad;
    memcpy(qbuf + at, "\0\10\0\7", 4);
    memcpy(qbuf + at + 4, bad, sizeof bad);
    qlen = at + 4 + sizeof bad;
    assert_int_equal(glb_query_parse(qbuf, qlen, &q), GLB_PARSE_FORMERR);
    n = glb_resp_error(buf, sizeof buf, qbuf, qlen, &q, GLB_RCODE_FORMERR, 1232);
    decode_ok(buf, n, &d);
    assert_int_equal(d.flags & 0x0F, GLB_RCODE_FORMERR);
    assert_int_equal(d.qd, 1);
    assert_int_equal(d.ar, 1);
    assert_int_equal(d.rr[0].type, GLB_TYPE_OPT);
    assert_int_equal(d.rr[0].rdlen, 0);
    dmsg_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_answer_points_at_question),
        cmocka_unit_test(flags_copied),
        cmocka_unit_test(compression_of_many_names),
        cmocka_unit_test(rdata_of_other_types_not_compressed),
        cmocka_unit_test(truncation_rolls_back),
        cmocka_unit_test(authority_overflow_truncates),
        cmocka_unit_test(additional_overflow_keeps_answer),
        cmocka_unit_test(sections_move_forward),
        cmocka_unit_test(add_addr_and_txt),
        cmocka_unit_test(opt_record_and_do),
        cmocka_unit_test(extended_rcode_badvers),
        cmocka_unit_test(ecs_echo),
        cmocka_unit_test(reserve_keeps_room_for_opt),
        cmocka_unit_test(init_too_small),
        cmocka_unit_test(compression_table_full),
        cmocka_unit_test(no_targets_past_0x4000),
        cmocka_unit_test(error_without_question),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
