/* The combined box's answers from libunbound's replies (dnslb/recanswer.c):
 * built from hand-made upstream packets with compression pointers, DNSSEC
 * records, and broken bytes, read back with ldns as a client would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "dnslb/recanswer.h"
#include "dnslb/reccache.h"
#include "shared/dnsquery.h"

static uint8_t out[65535];

/* A client's query for Example.COM (its case kept) of type, id 0x1234, RD;
 * EDNS (size 1232) when edns, with DO when dobit. Returns its length. */
static size_t client_query(uint8_t *q, uint16_t type, int edns, int dobit, int adbit)
{
    static const uint8_t name[] = "\7Example\3COM";
    size_t n = 0;
    uint8_t h[12] = {0x12, 0x34, 0x01, (uint8_t)(adbit ? 0x20 : 0), 0, 1, 0, 0, 0, 0, 0, (uint8_t)(edns ? 1 : 0)};
    memcpy(q, h, 12);
    n = 12;
    memcpy(q + n, name, sizeof(name));
    n += sizeof(name);
    q[n++] = (uint8_t)(type >> 8);
    q[n++] = (uint8_t)type;
    q[n++] = 0;
    q[n++] = 1;
    if (edns) {
        uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, (uint8_t)(dobit ? 0x80 : 0), 0, 0, 0};
        memcpy(q + n, opt, 11);
        n += 11;
    }
    return n;
}

/* The upstream reply for example.com A: www-less owner names compressed to
 * the question (offset 12), a CNAME whose target is compressed, an A, an
 * RRSIG, and nrec big TXT records in the additional section (to overflow a
 * UDP answer). Returns its length. */
static size_t upstream(uint8_t *u, unsigned rcode, int ntxt)
{
    static const uint8_t name[] = "\7example\3com";
    size_t n = 0;
    uint8_t h[12] = {0xab, 0xcd, 0x81, (uint8_t)(0x80 | rcode), 0, 1, 0, 3, 0, 0, 0, (uint8_t)ntxt};
    memcpy(u, h, 12);
    n = 12;
    memcpy(u + n, name, sizeof(name));
    n += sizeof(name);
    u[n++] = 0, u[n++] = 1, u[n++] = 0, u[n++] = 1;
    /* example.com CNAME www.example.com (target: "www" + pointer to 12) */
    uint8_t cname[] = {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'w', 'w', 'w', 0xc0, 12};
    memcpy(u + n, cname, sizeof(cname));
    size_t www = n + 12; /* where the target name starts */
    n += sizeof(cname);
    uint8_t a[] = {0xc0, (uint8_t)www, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    memcpy(u + n, a, sizeof(a));
    n += sizeof(a);
    uint8_t sig[] = {0xc0, (uint8_t)www, 0, 46, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
    memcpy(u + n, sig, sizeof(sig));
    n += sizeof(sig);
    for (int i = 0; i < ntxt; i++) {
        uint8_t txt[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0x01, 0x00, 0xff};
        memcpy(u + n, txt, sizeof(txt));
        n += sizeof(txt);
        memset(u + n, 'x', 255);
        n += 255;
    }
    return n;
}

static ldns_pkt *answer(const uint8_t *q, size_t ql, int tcp, const uint8_t *u, size_t ul, int secure, size_t *len)
{
    *len = lb_rec_answer(q, ql, tcp, u, ul, secure, 0, out, sizeof(out));
    assert_true(*len >= 12);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, *len), LDNS_STATUS_OK);
    return p;
}

static void test_rebuilt_for_the_client(void **state)
{
    (void)state;
    uint8_t q[512], u[4096];
    size_t ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 0), ul = upstream(u, 0, 0), len;
    ldns_pkt *p = answer(q, ql, 0, u, ul, 1, &len);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_true(ldns_pkt_qr(p) && ldns_pkt_rd(p) && ldns_pkt_ra(p));
    assert_false(ldns_pkt_aa(p));
    assert_false(ldns_pkt_ad(p)); /* secure, but the client did not ask */
    assert_int_equal(memcmp(out + 12, "\7Example\3COM", 13), 0); /* its question, its case */
    ldns_rr_list *an = ldns_pkt_answer(p);
    assert_int_equal(ldns_rr_list_rr_count(an), 2); /* no RRSIG without DO */
    char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 0));
    /* decompressed and compressed again (against the question: its case) */
    assert_int_equal(strcasecmp(s, "www.example.com."), 0);
    LDNS_FREE(s);
    s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(an, 1)));
    assert_int_equal(strcasecmp(s, "www.example.com."), 0);
    LDNS_FREE(s);
    assert_int_equal(ldns_pkt_edns(p), 0);
    ldns_pkt_free(p);

    /* With DO: the RRSIG too, AD for secure data, and an OPT with DO. */
    ql = client_query(q, LDNS_RR_TYPE_A, 1, 1, 0);
    p = answer(q, ql, 0, u, ul, 1, &len);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 3);
    assert_true(ldns_pkt_ad(p));
    assert_true(ldns_pkt_edns(p) && ldns_pkt_edns_do(p));
    assert_int_equal(ldns_pkt_edns_udp_size(p), LB_REC_EDNS_SIZE);
    ldns_pkt_free(p);
    /* AD asked for without EDNS (RFC 6840 5.7), but data not secure: none. */
    ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 1);
    p = answer(q, ql, 0, u, ul, 0, &len);
    assert_false(ldns_pkt_ad(p));
    ldns_pkt_free(p);
    p = answer(q, ql, 0, u, ul, 1, &len);
    assert_true(ldns_pkt_ad(p));
    ldns_pkt_free(p);
}

static void test_rcode_and_size(void **state)
{
    (void)state;
    uint8_t q[512], u[8192];
    size_t ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 0), ul = upstream(u, 3, 0), len;
    ldns_pkt *p = answer(q, ql, 0, u, ul, 0, &len);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);

    /* Too big for 512 bytes over UDP: additional records are left out, the
     * answer stays whole. */
    ul = upstream(u, 0, 4);
    p = answer(q, ql, 0, u, ul, 0, &len);
    assert_true(len <= 512);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 2);
    ldns_pkt_free(p);
    /* over TCP everything */
    p = answer(q, ql, 1, u, ul, 0, &len);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_additional(p)), 4);
    ldns_pkt_free(p);
}

static void test_truncated_answer(void **state)
{
    (void)state;
    uint8_t q[512], u[8192];
    /* The TXT records in the answer section this time: TC over UDP. */
    size_t ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 0), ul = upstream(u, 0, 4), len;
    u[7] = 3 + 4, u[11] = 0;
    ldns_pkt *p = answer(q, ql, 0, u, ul, 0, &len);
    assert_true(len <= 512);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
}

/* Broken replies: SERVFAIL, never a crash or bytes read out of bounds. */
static void test_broken_upstream(void **state)
{
    (void)state;
    uint8_t q[512], u[4096];
    size_t ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 0), ul = upstream(u, 0, 0), len;
    ldns_pkt *p = answer(q, ql, 0, NULL, 0, 0, &len);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
    assert_true(ldns_pkt_ra(p));
    ldns_pkt_free(p);
    for (size_t cut = 0; cut < ul; cut++) { /* every truncation */
        len = lb_rec_answer(q, ql, 0, u, cut, 0, 0, out, sizeof(out));
        assert_true(len >= 12);
        if ((out[3] & 0x0f) != LDNS_RCODE_SERVFAIL)
            fail_msg("cut at %zu of %zu: rcode %d", cut, ul, out[3] & 0x0f);
    }
    assert_int_equal(u[45], 0xc0); /* the CNAME target's pointer: made to point at itself */
    u[46] = 45;
    p = answer(q, ql, 0, u, ul, 0, &len);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
    ldns_pkt_free(p);
    /* A query that cannot be parsed gets nothing (it was checked before). */
    assert_int_equal(lb_rec_answer(q, 5, 0, u, ul, 0, 0, out, sizeof(out)), 0);
    len = lb_rec_error(q, ql, 1, LDNS_RCODE_REFUSED, out, sizeof(out));
    assert_true(len >= 12);
    assert_int_equal(out[3] & 0x0f, LDNS_RCODE_REFUSED);
}

/* The answer cache: a hit answers the same records with TTLs lowered by
 * the time kept, until the smallest TTL runs out; another question or a
 * SERVFAIL is not answered from it. */
static void test_answer_cache(void **state)
{
    (void)state;
    uint8_t q[512], u[4096];
    size_t ql = client_query(q, LDNS_RR_TYPE_A, 0, 0, 0), ul = upstream(u, 0, 0), len;
    glb_query pq;
    assert_int_equal(glb_query_parse(q, ql, &pq), GLB_PARSE_OK);
    lb_reccache *c = lb_reccache_new(100);
    assert_non_null(c);
    assert_int_equal(lb_reccache_answer(c, &pq, q, ql, 0, 10.0, out, sizeof(out)), 0);
    lb_reccache_put(c, &pq, u, ul, 1, 10.0, 86400);
    len = lb_reccache_answer(c, &pq, q, ql, 0, 25.0, out, sizeof(out));
    assert_true(len > 12);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 2);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 60 - 15); /* kept 15 s */
    ldns_pkt_free(p);
    assert_int_equal(lb_reccache_answer(c, &pq, q, ql, 0, 70.5, out, sizeof(out)), 0); /* 60 s ran out */
    /* the cap: kept at most max_ttl */
    lb_reccache_put(c, &pq, u, ul, 1, 100.0, 5);
    assert_true(lb_reccache_answer(c, &pq, q, ql, 0, 104.0, out, sizeof(out)) > 0);
    assert_int_equal(lb_reccache_answer(c, &pq, q, ql, 0, 105.5, out, sizeof(out)), 0);
    /* another type of the same name: a miss */
    uint8_t q2[512];
    size_t q2l = client_query(q2, LDNS_RR_TYPE_AAAA, 0, 0, 0);
    glb_query pq2;
    assert_int_equal(glb_query_parse(q2, q2l, &pq2), GLB_PARSE_OK);
    lb_reccache_put(c, &pq, u, ul, 0, 200.0, 86400);
    assert_int_equal(lb_reccache_answer(c, &pq2, q2, q2l, 0, 201.0, out, sizeof(out)), 0);
    /* SERVFAIL is not kept */
    upstream(u, 2, 0);
    lb_reccache_put(c, &pq2, u, ul, 0, 200.0, 86400);
    assert_int_equal(lb_reccache_answer(c, &pq2, q2, q2l, 0, 201.0, out, sizeof(out)), 0);
    unsigned long long hits, misses;
    lb_reccache_counts(c, &hits, &misses);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 5);
    lb_reccache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuilt_for_the_client),
        cmocka_unit_test(test_rcode_and_size),
        cmocka_unit_test(test_truncated_answer),
        cmocka_unit_test(test_broken_upstream),
        cmocka_unit_test(test_answer_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
