/* Unit tests for shared/dnsquery.c, plus the malformed-packet corpus in
 * tests/unit/data/malformed (also checked against glb_resp_error).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "shared/dnsquery.h"
#include "shared/dnsresp.h"

/* ---- a small packet builder ---- */

typedef struct pkt {
    uint8_t b[4096];
    size_t n;
} pkt;

static void put(pkt *p, const void *d, size_t n)
{
    assert_true(p->n + n <= sizeof p->b);
    if (n > 0)
        memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put8(pkt *p, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(p, &b, 1);
}

static void put16(pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v);
}

static void put32(pkt *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xFFFF);
}

static void header(pkt *p, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
    p->n = 0;
    put16(p, id);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
}

/* name in dotted form without escapes, e.g. "www.example.com" ("" = root) */
static void putname(pkt *p, const char *s)
{
    while (*s) {
        const char *d = strchr(s, '.');
        size_t l = d ? (size_t)(d - s) : strlen(s);
        put8(p, (unsigned)l);
        put(p, s, l);
        s += l + (d ? 1 : 0);
    }
    put8(p, 0);
}

static void question(pkt *p, const char *name, unsigned type)
{
    putname(p, name);
    put16(p, type);
    put16(p, GLB_CLASS_IN);
}

/* OPT record with the given options rdata. */
static void opt(pkt *p, unsigned udp, unsigned version, int do_bit, const void *rdata, size_t rdlen)
{
    put8(p, 0);
    put16(p, GLB_TYPE_OPT);
    put16(p, udp);
    put32(p, (uint32_t)version << 16 | (do_bit ? 0x8000u : 0));
    put16(p, (unsigned)rdlen);
    put(p, rdata, rdlen);
}

/* Parses a heap copy of exactly the packet's size, so that ASan sees any
 * read past the end. */
static enum glb_parse_result parse(const pkt *p, glb_query *q)
{
    uint8_t *c = malloc(p->n ? p->n : 1);
    assert_non_null(c);
    memcpy(c, p->b, p->n);
    enum glb_parse_result r = glb_query_parse(c, p->n, q);
    free(c);
    return r;
}

/* ---- valid queries ---- */

static void valid_a_query(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 0xBEEF, 0x0100, 1, 0, 0, 0);
    question(&p, "www.example.com", GLB_TYPE_A);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.id, 0xBEEF);
    assert_int_equal(q.flags, 0x0100);
    assert_true(q.has_question);
    assert_int_equal(q.qname_len, 17);
    assert_memory_equal(q.qname, "\3www\7example\3com", 17);
    assert_memory_equal(q.qname_lc, "\3www\7example\3com", 17);
    assert_int_equal(q.qtype, GLB_TYPE_A);
    assert_int_equal(q.qclass, GLB_CLASS_IN);
    assert_int_equal(q.question_end, p.n);
    assert_false(q.edns);
    assert_false(q.ecs);
}

static void case_kept_and_folded(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 1, 0, 1, 0, 0, 0);
    question(&p, "WwW.ExAmPlE.CoM", GLB_TYPE_AAAA);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_memory_equal(q.qname, "\3WwW\7ExAmPlE\3CoM", 17);
    assert_memory_equal(q.qname_lc, "\3www\7example\3com", 17);
    assert_int_equal(q.qtype, GLB_TYPE_AAAA);
}

static void root_and_max_length_names(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 2, 0, 1, 0, 0, 0);
    question(&p, "", GLB_TYPE_NS);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.qname_len, 1);
    assert_int_equal(q.qname[0], 0);

    /* 3 x 63 + 61: exactly 255 bytes is fine, one more is not */
    char s[300], *w = s;
    for (int i = 0; i < 3; i++) {
        memset(w, 'a', 63);
        w += 63;
        *w++ = '.';
    }
    memset(w, 'B', 61);
    w[61] = '\0';
    header(&p, 3, 0, 1, 0, 0, 0);
    question(&p, s, GLB_TYPE_A);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.qname_len, 255);
    assert_int_equal(q.qname_lc[254 - 1], 'b');
    assert_int_equal(q.question_end, 12 + 255 + 4);
    w[61] = 'B';
    w[62] = '\0';
    header(&p, 3, 0, 1, 0, 0, 0);
    question(&p, s, GLB_TYPE_A);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_false(q.has_question);
}

static void edns_and_do(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 4, 0x0100, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 4096, 0, 1, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp_size, 4096);
    assert_int_equal(q.edns_version, 0);
    assert_true(q.edns_do);
    assert_false(q.ecs);
    assert_int_equal(q.question_end, 12 + 13 + 4);

    /* small sizes are recorded as sent; DO clear */
    header(&p, 4, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 100, 0, 0, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.edns_udp_size, 100);
    assert_false(q.edns_do);

    /* unknown options (here: a cookie) are stepped over */
    static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    header(&p, 4, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 1232, 0, 0, cookie, sizeof cookie);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.edns);
}

static void ecs_v4(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    static const uint8_t o[] = {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2};
    header(&p, 5, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 1232, 0, 0, o, sizeof o);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.ecs);
    assert_int_equal(q.ecs_source, 24);
    assert_int_equal(q.ecs_addr.family, AF_INET);
    static const uint8_t want[16] = {192, 0, 2};
    assert_memory_equal(q.ecs_addr.b, want, 16);

    /* /20 with the bits past 20 clear */
    static const uint8_t o20[] = {0, 8, 0, 7, 0, 1, 20, 0, 10, 1, 0xF0};
    header(&p, 5, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 1232, 0, 0, o20, sizeof o20);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.ecs_source, 20);
    assert_int_equal(q.ecs_addr.b[2], 0xF0);

    /* SOURCE 0: no address bytes, valid (client opts out) */
    static const uint8_t o0[] = {0, 8, 0, 4, 0, 1, 0, 0};
    header(&p, 5, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 1232, 0, 0, o0, sizeof o0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.ecs);
    assert_int_equal(q.ecs_source, 0);
}

static void ecs_v6(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    /* 2001:db8:1:2::/56 -> 7 bytes */
    static const uint8_t o[] = {0, 8, 0, 11, 0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x02};
    header(&p, 6, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_AAAA);
    opt(&p, 1232, 0, 1, o, sizeof o);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.ecs);
    assert_int_equal(q.ecs_source, 56);
    assert_int_equal(q.ecs_addr.family, AF_INET6);
    static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x02};
    assert_memory_equal(q.ecs_addr.b, want, 16);

    /* /128: 16 bytes */
    uint8_t o128[4 + 4 + 16] = {0, 8, 0, 20, 0, 2, 128, 0};
    memset(o128 + 8, 0xAB, 16);
    header(&p, 6, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_AAAA);
    opt(&p, 1232, 0, 1, o128, sizeof o128);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.ecs_source, 128);
    assert_int_equal(q.ecs_addr.b[15], 0xAB);
}

static void additional_records_skipped(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    /* a TSIG-like record whose owner is compressed against the question,
     * then the OPT */
    header(&p, 7, 0, 1, 0, 0, 2);
    question(&p, "example.com", GLB_TYPE_A);
    put(&p, "\3key\300\14", 6);
    put16(&p, 250);
    put16(&p, 255);
    put32(&p, 0);
    put16(&p, 3);
    put(&p, "xyz", 3);
    opt(&p, 1400, 0, 0, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp_size, 1400);
}

/* The client's SOA in the authority section, as an IXFR request carries it
 * (RFC 1995 §3); owner and names compressed against the question. */
static void soa_rr(pkt *p, uint32_t serial)
{
    put(p, "\300\14", 2);
    put16(p, GLB_TYPE_SOA);
    put16(p, GLB_CLASS_IN);
    put32(p, 0);
    put16(p, 2 + 2 + 20);
    put(p, "\300\14\300\14", 4);
    put32(p, serial);
    for (int i = 0; i < 4; i++)
        put32(p, 0);
}

/* An IXFR request parses (its SOA skipped), so that the servers can refuse
 * the transfer like AXFR instead of calling it malformed. */
static void ixfr_with_soa(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 10, 0, 1, 0, 1, 0);
    question(&p, "example.com", GLB_TYPE_IXFR);
    soa_rr(&p, 1);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_int_equal(q.qtype, GLB_TYPE_IXFR);
    assert_int_equal(q.nscount, 1);
    assert_false(q.edns);
    /* with EDNS after it */
    header(&p, 10, 0, 1, 0, 1, 1);
    question(&p, "example.com", GLB_TYPE_IXFR);
    soa_rr(&p, 1);
    opt(&p, 1232, 0, 1, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_OK);
    assert_true(q.edns);
    assert_true(q.edns_do);
    /* its authority record cut short, or an OPT there: still malformed */
    header(&p, 10, 0, 1, 0, 1, 0);
    question(&p, "example.com", GLB_TYPE_IXFR);
    soa_rr(&p, 1);
    p.n -= 3;
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    header(&p, 10, 0, 1, 0, 1, 0);
    question(&p, "example.com", GLB_TYPE_IXFR);
    opt(&p, 1232, 0, 0, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    /* another type with an authority record stays malformed */
    header(&p, 10, 0, 1, 0, 1, 0);
    question(&p, "example.com", GLB_TYPE_AXFR);
    soa_rr(&p, 1);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    /* and an answer record even in an IXFR */
    header(&p, 10, 0, 1, 1, 0, 0);
    question(&p, "example.com", GLB_TYPE_IXFR);
    soa_rr(&p, 1);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
}

/* ---- malformed queries: the details the corpus can't show ---- */

static void drop_cases(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 8, 0, 1, 0, 0, 0);
    p.n = 11;
    assert_int_equal(parse(&p, &q), GLB_PARSE_DROP);
    p.n = 0;
    assert_int_equal(parse(&p, &q), GLB_PARSE_DROP);
    assert_int_equal(glb_query_parse(NULL, 0, &q), GLB_PARSE_DROP);
    header(&p, 8, 0x8100, 1, 0, 0, 0);
    question(&p, "example.com", GLB_TYPE_A);
    assert_int_equal(parse(&p, &q), GLB_PARSE_DROP);
    uint8_t out[512];
    assert_int_equal(glb_resp_error(out, sizeof out, p.b, p.n, &q, GLB_RCODE_FORMERR, 1232), 0);
    assert_int_equal(glb_resp_error(out, sizeof out, p.b, 11, &q, GLB_RCODE_FORMERR, 1232), 0);
}

static void formerr_question_state(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    /* qdcount 0: nothing to echo */
    header(&p, 9, 0, 0, 0, 0, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_false(q.has_question);
    /* ancount 1 after a good question: the question is echoed */
    header(&p, 9, 0, 1, 1, 0, 0);
    question(&p, "example.com", GLB_TYPE_A);
    put(&p, "\300\14", 2);
    put16(&p, 1);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 4);
    put32(&p, 0x01020304);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_true(q.has_question);
    assert_int_equal(q.qtype, GLB_TYPE_A);
    /* pointer in qname */
    header(&p, 9, 0, 1, 0, 0, 0);
    put(&p, "\3www\300\14", 6);
    put16(&p, 1);
    put16(&p, 1);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_false(q.has_question);
    /* missing qtype */
    header(&p, 9, 0, 1, 0, 0, 0);
    putname(&p, "example.com");
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_false(q.has_question);
}

static void badvers_records_edns(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 10, 0x0100, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 2048, 1, 1, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_BADVERS);
    assert_true(q.has_question);
    assert_true(q.edns);
    assert_int_equal(q.edns_version, 1);
    assert_int_equal(q.edns_udp_size, 2048);
    assert_true(q.edns_do);

    /* structural errors beat BADVERS */
    put8(&p, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
}

static void ecs_errors_keep_edns(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    static const uint8_t bad[] = {0, 8, 0, 8, 0, 1, 24, 1, 10, 0, 0, 0};
    header(&p, 11, 0, 1, 0, 0, 1);
    question(&p, "example.com", GLB_TYPE_A);
    opt(&p, 1232, 0, 1, bad, sizeof bad);
    assert_int_equal(parse(&p, &q), GLB_PARSE_FORMERR);
    assert_true(q.edns); /* the OPT itself was fine: the FORMERR carries one */
    assert_false(q.ecs);
    assert_true(q.has_question);
}

static void notimp_keeps_question(void **state)
{
    (void)state;
    pkt p;
    glb_query q;
    header(&p, 12, 4 << 11, 1, 0, 0, 1);
    question(&p, "Example.com", GLB_TYPE_SOA);
    opt(&p, 1232, 0, 0, NULL, 0);
    assert_int_equal(parse(&p, &q), GLB_PARSE_NOTIMP);
    assert_true(q.has_question);
    assert_true(q.edns);
    assert_int_equal(q.qtype, GLB_TYPE_SOA);

    uint8_t out[512];
    size_t n = glb_resp_error(out, sizeof out, p.b, p.n, &q, GLB_RCODE_NOTIMP, 1232);
    /* header + question + OPT */
    assert_int_equal(n, 12 + 13 + 4 + 11);
    assert_int_equal(out[2], 0x80 | (4 << 3)); /* QR, opcode NOTIFY echoed */
    assert_int_equal(out[3] & 0x0F, GLB_RCODE_NOTIMP);
    assert_memory_equal(out + 12, "\7Example\3com", 13);
    assert_int_equal(out[5], 1);
    assert_int_equal(out[11], 1);
}

/* ---- robustness: every prefix and many mutations of a rich query ---- */

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void check_consistent(const pkt *p, const glb_query *q, enum glb_parse_result r)
{
    if (r == GLB_PARSE_OK || r == GLB_PARSE_BADVERS) {
        assert_true(q->has_question);
        assert_true(q->question_end <= p->n);
    }
    if (q->has_question) {
        assert_true(q->qname_len >= 1 && q->qname_len <= GLB_DNAME_MAX);
        assert_int_equal(q->qname[q->qname_len - 1], 0);
    }
    uint8_t out[600];
    if (r != GLB_PARSE_DROP && r != GLB_PARSE_OK) {
        size_t n = glb_resp_error(out, sizeof out, p->b, p->n, q, GLB_RCODE_FORMERR, 1232);
        assert_true(n >= 12 && n <= sizeof out);
    }
}

static void prefixes_and_mutations(void **state)
{
    (void)state;
    pkt base, p;
    glb_query q;
    static const uint8_t o[] = {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2, 0, 10, 0, 2, 1, 2};
    header(&base, 13, 0x0100, 1, 0, 0, 2);
    question(&base, "www.example.com", GLB_TYPE_A);
    put(&base, "\3key\300\14", 6);
    put16(&base, 250);
    put16(&base, 255);
    put32(&base, 0);
    put16(&base, 3);
    put(&base, "xyz", 3);
    opt(&base, 1232, 0, 1, o, sizeof o);
    assert_int_equal(parse(&base, &q), GLB_PARSE_OK);
    assert_true(q.ecs);

    for (size_t n = 0; n < base.n; n++) {
        p = base;
        p.n = n;
        enum glb_parse_result r = parse(&p, &q);
        assert_true(r == GLB_PARSE_DROP || r == GLB_PARSE_FORMERR);
        check_consistent(&p, &q, r);
    }
    for (int i = 0; i < 20000; i++) {
        p = base;
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++)
            p.b[rnd() % p.n] = (uint8_t)rnd();
        if (rnd() % 4 == 0)
            p.n = rnd() % (p.n + 1);
        check_consistent(&p, &q, parse(&p, &q));
    }
}

/* ---- the malformed corpus ---- */

/* Reads a .hex file: '#' lines are comments, the first one names the
 * expected outcome; hex digits elsewhere, whitespace ignored. */
static int load_hex(const char *path, pkt *p, char *expect, size_t elen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int nib = -1;
    p->n = 0;
    expect[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#') {
            const char *k = strstr(s, "expect:");
            if (k != NULL && expect[0] == '\0') {
                k += 7;
                while (*k == ' ')
                    k++;
                size_t l = strcspn(k, " \t\r\n");
                if (l >= elen)
                    l = elen - 1;
                memcpy(expect, k, l);
                expect[l] = '\0';
            }
            continue;
        }
        for (; *s; s++) {
            int v;
            if (*s >= '0' && *s <= '9')
                v = *s - '0';
            else if (*s >= 'a' && *s <= 'f')
                v = *s - 'a' + 10;
            else if (*s >= 'A' && *s <= 'F')
                v = *s - 'A' + 10;
            else if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                continue;
            else {
                fclose(f);
                return -1;
            }
            if (nib < 0) {
                nib = v;
            } else {
                if (p->n >= sizeof p->b) {
                    fclose(f);
                    return -1;
                }
                p->b[p->n++] = (uint8_t)(nib << 4 | v);
                nib = -1;
            }
        }
    }
    fclose(f);
    return nib < 0 ? 0 : -1;
}

static const char *corpus_dir(char *buf, size_t len)
{
    const char *top = getenv("top_srcdir");
    const char *cands[] = {"tests/unit/data/malformed", "../tests/unit/data/malformed",
                           "../../tests/unit/data/malformed", "data/malformed"};
    if (top != NULL && *top != '\0') {
        snprintf(buf, len, "%s/tests/unit/data/malformed", top);
        return buf;
    }
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        DIR *d = opendir(cands[i]);
        if (d != NULL) {
            closedir(d);
            return cands[i];
        }
    }
    /* next to this source file, as the compiler saw it */
    const char *slash = strrchr(__FILE__, '/');
    if (slash != NULL) {
        snprintf(buf, len, "%.*s/data/malformed", (int)(slash - __FILE__), __FILE__);
        return buf;
    }
    return cands[0];
}

/* Finds the OPT record in a response we built: returns its offset or 0. */
static size_t find_opt(const uint8_t *b, size_t n)
{
    size_t o = 12;
    unsigned qd = (unsigned)b[4] << 8 | b[5], ar = (unsigned)b[10] << 8 | b[11];
    if (qd) {
        while (o < n && b[o] != 0)
            o += (size_t)b[o] + 1;
        o += 5;
    }
    if (ar == 1 && o + 11 <= n && b[o] == 0 && b[o + 1] == 0 && b[o + 2] == 41)
        return o;
    return 0;
}

static void malformed_corpus(void **state)
{
    (void)state;
    char dbuf[4096];
    const char *dir = corpus_dir(dbuf, sizeof dbuf);
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open corpus directory %s", dir);
    struct dirent *e;
    int files = 0;
    int seen[5] = {0};
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".hex") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pkt p;
        char expect[32];
        if (load_hex(path, &p, expect, sizeof expect) < 0)
            fail_msg("%s: unreadable hex", e->d_name);
        enum glb_parse_result want = GLB_PARSE_OK;
        unsigned rcode = 0;
        if (strcmp(expect, "drop") == 0)
            want = GLB_PARSE_DROP;
        else if (strcmp(expect, "formerr") == 0)
            want = GLB_PARSE_FORMERR, rcode = GLB_RCODE_FORMERR;
        else if (strcmp(expect, "notimp") == 0)
            want = GLB_PARSE_NOTIMP, rcode = GLB_RCODE_NOTIMP;
        else if (strcmp(expect, "badvers") == 0)
            want = GLB_PARSE_BADVERS, rcode = GLB_RCODE_BADVERS;
        else if (strcmp(expect, "ok") == 0)
            want = GLB_PARSE_OK;
        else
            fail_msg("%s: no '# expect:' line (got '%s')", e->d_name, expect);

        glb_query q;
        enum glb_parse_result got = parse(&p, &q);
        if (got != want)
            fail_msg("%s: expected %s, parser said %d", e->d_name, expect, (int)got);
        seen[want]++;
        files++;

        uint8_t out[1024];
        size_t n = glb_resp_error(out, sizeof out, p.b, p.n, &q, rcode ? rcode : GLB_RCODE_FORMERR, 1232);
        if (want == GLB_PARSE_DROP) {
            if (n != 0)
                fail_msg("%s: a dropped query got a %zu-byte answer", e->d_name, n);
            continue;
        }
        if (want == GLB_PARSE_OK)
            continue;
        if (n < 12)
            fail_msg("%s: no error response", e->d_name);
        if (memcmp(out, p.b, 2) != 0)
            fail_msg("%s: id not copied", e->d_name);
        if ((out[2] & 0x80) == 0 || (out[2] & 0x78) != (p.b[2] & 0x78) || (out[2] & 1) != (p.b[2] & 1))
            fail_msg("%s: QR/opcode/RD wrong (0x%02x)", e->d_name, out[2]);
        unsigned rc = out[3] & 0x0F;
        size_t oo = find_opt(out, n);
        if (oo != 0)
            rc |= (unsigned)out[oo + 5] << 4;
        if (rc != rcode)
            fail_msg("%s: rcode %u, want %u", e->d_name, rc, rcode);
        if (want == GLB_PARSE_BADVERS && (oo == 0 || out[oo + 6] != 0))
            fail_msg("%s: BADVERS without a version-0 OPT", e->d_name);
        if (((unsigned)out[4] << 8 | out[5]) != (q.has_question ? 1u : 0u))
            fail_msg("%s: QDCOUNT does not match has_question", e->d_name);
        if (q.has_question && memcmp(out + 12, p.b + 12, q.question_end - 12) != 0)
            fail_msg("%s: question not echoed as sent", e->d_name);
    }
    closedir(d);
    assert_true(files >= 25);
    assert_true(seen[GLB_PARSE_DROP] > 0 && seen[GLB_PARSE_FORMERR] > 0 && seen[GLB_PARSE_NOTIMP] > 0 &&
                seen[GLB_PARSE_BADVERS] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_a_query),
        cmocka_unit_test(case_kept_and_folded),
        cmocka_unit_test(root_and_max_length_names),
        cmocka_unit_test(edns_and_do),
        cmocka_unit_test(ecs_v4),
        cmocka_unit_test(ecs_v6),
        cmocka_unit_test(additional_records_skipped),
        cmocka_unit_test(ixfr_with_soa),
        cmocka_unit_test(drop_cases),
        cmocka_unit_test(formerr_question_state),
        cmocka_unit_test(badvers_records_edns),
        cmocka_unit_test(ecs_errors_keep_edns),
        cmocka_unit_test(notimp_keeps_question),
        cmocka_unit_test(prefixes_and_mutations),
        cmocka_unit_test(malformed_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
