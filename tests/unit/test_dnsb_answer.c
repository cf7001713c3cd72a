/* Unit tests for dnsb's answers: every kind of answer the configuration
 * allows, checked by parsing the wire output with ldns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsb/answer.h"
#include "dnsb/conf.h"
#include "dnsb/table.h"
#include "shared/qsbr.h"

#include <stdatomic.h>

static const char *conf_text =
    "server:\n"
    "  listen: 127.0.0.1@5300\n"
    "  zone: glb.example.net.\n"
    "  zone-ns: b1.glb.example.net. 127.0.0.1\n"
    "  zone-ns: b2.glb.example.net. ::1\n"
    "service:\n"
    "  name: www.foobar.example.\n"
    "  site: paris 192.0.2.10 2001:db8::10 weight=2\n"
    "  site: tokyo 192.0.2.20 weight=1\n"
    "  site: rome 192.0.2.30 weight=5\n"
    "service:\n"
    "  name: shop.svc.glb.example.net.\n"
    "  mode: direct\n"
    "  ttl-answer: 60\n"
    "  site: frankfurt 198.51.100.10\n"
    "  site: sydney 198.51.100.20\n"
    "service:\n"
    "  name: media.foobar.example.\n"
    "  mode: proxy\n"
    "  site: paris 192.0.2.30\n"
    "lb:\n"
    "  id: lb42\n"
    "  address: 127.0.0.42\n"
    "  proxy-address: 127.0.0.142\n"
    "  proxy-address: 127.0.0.143\n"
    "  proxy-address: 127.0.0.144\n"
    "  resolver: 127.0.0.1\n"
    "  resolver: 127.0.0.4\n"
    "  ranking: shop.svc.glb.example.net. sydney frankfurt\n"
    "lb:\n"
    "  id: lb7\n"
    "  address: 127.0.0.7\n"
    "  address: 2001:db8::7\n"
    "  resolver: 127.0.0.4\n"
    "  resolver: 10.1.0.0/16\n"
    "  resolver: 2001:db8:aaaa::/48\n";

static dnsb_table *table;
static dnsb_table *standby_table; /* the same with standby-ns and standby-listen */
static int standby;               /* ask_full: ask standby_table's standby listener */
static glb_qsbr *qsbr;
static dnsb_registry *reg;
static dnsb_stats stats;
static uint8_t last[65535];
static size_t last_len;

static int setup(void **state)
{
    (void)state;
    char err[512];
    /* A service with 40 IPv6 sites: its fail-open answer needs more than 512 bytes. */
    static char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "%sservice:\n  name: big.foobar.example.\n", conf_text);
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "  site: s%d 2001:db8::%x\n", i, i);
    dnsb_conf *c = dnsb_conf_parse("test.conf", text, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    table = dnsb_table_build(c, 2026112501, err, sizeof(err));
    if (!table)
        fail_msg("%s", err);
    static char stext[8192 + 256];
    snprintf(stext, sizeof(stext),
             "server:\n  standby-ns: standby.glb.example.net. 127.0.0.53\n"
             "  standby-ns: standby.glb.example.net. 2001:db8::53\n  standby-listen: 127.0.0.53@5300\n%s",
             text + strlen("server:\n"));
    c = dnsb_conf_parse("standby.conf", stext, err, sizeof(err));
    if (!c || !(standby_table = dnsb_table_build(c, 2026112501, err, sizeof(err))))
        fail_msg("%s", err);
    qsbr = glb_qsbr_new(1);
    reg = dnsb_registry_new(qsbr);
    if (!reg || dnsb_table_static_lbs(table->conf, reg, err, sizeof(err)) != 0)
        fail_msg("static lbs: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dnsb_table_free(table);
    dnsb_table_free(standby_table);
    dnsb_registry_free(reg);
    glb_qsbr_free(qsbr);
    return 0;
}

/* A query in wire form; ecs is "ADDR/LEN" or NULL; edns_version > 0 tests BADVERS. */
static size_t make_query(uint8_t *b, const char *name, uint16_t type, int edns, int edns_version,
                         const char *ecs)
{
    size_t n = 0;
    memset(b, 0, 12);
    b[0] = 0x12, b[1] = 0x34, b[2] = 0x01; /* RD */
    b[5] = 1;
    b[11] = edns ? 1 : 0;
    n = 12;
    const char *p = name;
    while (*p && strcmp(p, ".") != 0) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        b[n++] = (uint8_t)l;
        memcpy(b + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    b[n++] = 0;
    b[n++] = (uint8_t)(type >> 8), b[n++] = (uint8_t)type;
    b[n++] = 0, b[n++] = 1;
    if (edns) {
        b[n++] = 0;                        /* root */
        b[n++] = 0, b[n++] = 41;           /* OPT */
        b[n++] = 0x10, b[n++] = 0x00;      /* 4096 */
        b[n++] = 0, b[n++] = (uint8_t)edns_version, b[n++] = 0, b[n++] = 0;
        size_t rdlen_at = n;
        n += 2;
        if (ecs) {
            char addr[64];
            snprintf(addr, sizeof(addr), "%s", ecs);
            char *slash = strchr(addr, '/');
            *slash = '\0';
            unsigned src = (unsigned)atoi(slash + 1);
            uint8_t ab[16];
            int fam = strchr(addr, ':') ? 2 : 1;
            inet_pton(fam == 1 ? AF_INET : AF_INET6, addr, ab);
            size_t alen = (src + 7) / 8;
            b[n++] = 0, b[n++] = 8;
            b[n++] = 0, b[n++] = (uint8_t)(4 + alen);
            b[n++] = 0, b[n++] = (uint8_t)fam;
            b[n++] = (uint8_t)src, b[n++] = 0;
            memcpy(b + n, ab, alen);
            n += alen;
        }
        b[rdlen_at] = (uint8_t)((n - rdlen_at - 2) >> 8);
        b[rdlen_at + 1] = (uint8_t)(n - rdlen_at - 2);
    }
    return n;
}

static ldns_pkt *ask_full(const char *from, const char *name, uint16_t type, int edns, int version,
                          const char *ecs, int tcp)
{
    uint8_t q[512];
    size_t qlen = make_query(q, name, type, edns, version, ecs);
    glb_addr a;
    assert_int_equal(glb_addr_parse(from, &a), 0);
    const dnsb_map *m = atomic_load(dnsb_registry_slot(reg));
    last_len = standby ? dnsb_answer_standby(standby_table, m, q, qlen, &a, tcp, last, sizeof(last), &stats)
                       : dnsb_answer(table, m, q, qlen, &a, tcp, last, sizeof(last), &stats);
    assert_true(last_len >= 12);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, last, last_len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_true(ldns_pkt_qr(p));
    return p;
}

static ldns_pkt *ask(const char *from, const char *name, uint16_t type)
{
    return ask_full(from, name, type, 1, 0, NULL, 0);
}

/* 1 when the section's presentation text contains want. */
static void assert_section(ldns_pkt *p, ldns_pkt_section sec, const char *want)
{
    ldns_rr_list *l = ldns_pkt_get_section_clone(p, sec);
    char *s = ldns_rr_list2str(l);
    if (!strstr(s, want))
        fail_msg("section %d lacks '%s':\n%s", (int)sec, want, s);
    free(s);
    ldns_rr_list_deep_free(l);
}

static void assert_counts(ldns_pkt *p, int an, int ns, int ar)
{
    assert_int_equal(ldns_pkt_ancount(p), an);
    assert_int_equal(ldns_pkt_nscount(p), ns);
    assert_int_equal(ldns_pkt_arcount(p), ar);
}

static void test_referral(void **state)
{
    (void)state;
    ldns_pkt *p = ask("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(p));
    assert_true(ldns_pkt_rd(p));
    assert_section(p, LDNS_SECTION_ANSWER, "www.foobar.example.\t3600\tIN\tCNAME\tlb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tns.lb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb42.www.foobar.example.\t3600\tIN\tA\t127.0.0.42");
    assert_counts(p, 1, 1, 1); /* ldns counts the OPT apart */
    ldns_pkt_free(p);
    /* AAAA gets the same CNAME and delegation */
    p = ask("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_AAAA);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.www.foobar.example.");
    ldns_pkt_free(p);
}

static void test_referral_two_lbs(void **state)
{
    (void)state;
    ldns_pkt *p = ask("127.0.0.4", "www.foobar.example.", LDNS_RR_TYPE_A);
    /* the set is ordered by id: lb42 < lb7 */
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tns.lb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tns.lb7.www.foobar.example.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb7.www.foobar.example.\t3600\tIN\tA\t127.0.0.7");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb7.www.foobar.example.\t3600\tIN\tAAAA\t2001:db8::7");
    assert_counts(p, 1, 2, 3);
    ldns_pkt_free(p);
}

static void test_target_gets_referral_alone(void **state)
{
    (void)state;
    const char *names[] = {"lb42.www.foobar.example.", "ns.lb42.www.foobar.example.", "a.b.lb42.www.foobar.example."};
    for (int i = 0; i < 3; i++) {
        ldns_pkt *p = ask("127.0.0.1", names[i], LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_false(ldns_pkt_aa(p));
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tns.lb42.www.foobar.example.");
        assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb42.www.foobar.example.\t3600\tIN\tA\t127.0.0.42");
        ldns_pkt_free(p);
    }
    /* An LB that does not serve this resolver is still delegated to, alone. */
    ldns_pkt *p = ask("127.0.0.1", "lb7.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_counts(p, 0, 1, 2);
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb7.www.foobar.example.\t3600\tIN\tNS\tns.lb7.www.foobar.example.");
    ldns_pkt_free(p);
    /* Unknown label under the service: NXDOMAIN with the service zone's SOA */
    p = ask("127.0.0.1", "lb99.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_true(ldns_pkt_aa(p));
    assert_section(p, LDNS_SECTION_AUTHORITY, "www.foobar.example.\t60\tIN\tSOA\tb1.glb.example.net. hostmaster.glb.example.net. 2026112501");
    ldns_pkt_free(p);
}

static void test_failopen_by_weight(void **state)
{
    (void)state;
    ldns_pkt *p = ask("192.0.2.99", "www.foobar.example.", LDNS_RR_TYPE_A);
    assert_true(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_ancount(p), 3);
    ldns_rr_list *an = ldns_pkt_answer(p);
    char *s0 = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 0));
    char *s1 = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, 1), 0));
    char *s2 = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, 2), 0));
    assert_string_equal(s0, "192.0.2.30"); /* rome, weight 5 */
    assert_string_equal(s1, "192.0.2.10"); /* paris, weight 2 */
    assert_string_equal(s2, "192.0.2.20"); /* tokyo, weight 1 */
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, 0)), 300);
    free(s0), free(s1), free(s2);
    ldns_pkt_free(p);
    p = ask("192.0.2.99", "www.foobar.example.", LDNS_RR_TYPE_AAAA);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    assert_section(p, LDNS_SECTION_ANSWER, "AAAA\t2001:db8::10");
    ldns_pkt_free(p);
    /* TXT at the name: no such data, never an empty NOERROR without SOA */
    p = ask("192.0.2.99", "www.foobar.example.", LDNS_RR_TYPE_TXT);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_section(p, LDNS_SECTION_AUTHORITY, "SOA");
    ldns_pkt_free(p);
}

/* Gives lb42 a ranking of shop as a RANKING would: sydney, frankfurt,
 * with the share given. */
static void set_shop_ranking(size_t share)
{
    dnsb_ranking *rk = calloc(1, sizeof(*rk));
    assert_non_null(rk);
    assert_true(glb_dname_from_str("shop.svc.glb.example.net.", rk->service) > 0);
    rk->sites = calloc(2, sizeof(*rk->sites));
    assert_non_null(rk->sites);
    strcpy(rk->sites[0], "sydney");
    strcpy(rk->sites[1], "frankfurt");
    rk->nsites = 2;
    rk->share = share;
    assert_int_equal(dnsb_registry_set_rankings(reg, "lb42", rk, 1), 0);
}

static void test_direct_and_proxy(void **state)
{
    (void)state;
    ldns_pkt *p = ask("127.0.0.1", "shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_true(ldns_pkt_aa(p));
    /* lb42's static ranking: sydney, then frankfurt; only the first is
     * known to be best (a static ranking has no scores) */
    assert_int_equal(ldns_pkt_ancount(p), 1);
    char *first = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
    assert_string_equal(first, "198.51.100.20");
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 60);
    free(first);
    ldns_pkt_free(p);
    /* A RANKING whose two leading sites are as good: both. */
    set_shop_ranking(2);
    p = ask("127.0.0.1", "shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_section(p, LDNS_SECTION_ANSWER, "A\t198.51.100.10");
    assert_section(p, LDNS_SECTION_ANSWER, "A\t198.51.100.20");
    ldns_pkt_free(p);
    /* ... and when the best stands alone, it alone, for every query. */
    set_shop_ranking(1);
    for (int i = 0; i < 5; i++) {
        p = ask("127.0.0.1", "shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_ancount(p), 1);
        assert_section(p, LDNS_SECTION_ANSWER, "A\t198.51.100.20");
        ldns_pkt_free(p);
    }
    /* A share wider than the sites it names counts only those. */
    set_shop_ranking(200);
    p = ask("127.0.0.1", "shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
    /* lb7 has no ranking for shop: fail-open order (config order, equal weights) */
    p = ask("10.1.2.3", "shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    first = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
    assert_string_equal(first, "198.51.100.10");
    free(first);
    ldns_pkt_free(p);
    /* proxy: the DNS-LB's proxies, at most answer-count (2) of its three */
    p = ask("127.0.0.1", "media.foobar.example.", LDNS_RR_TYPE_A);
    assert_counts(p, 2, 0, 0);
    assert_section(p, LDNS_SECTION_ANSWER, "media.foobar.example.\t300\tIN\tA\t127.0.0.142");
    assert_section(p, LDNS_SECTION_ANSWER, "media.foobar.example.\t300\tIN\tA\t127.0.0.143");
    ldns_pkt_free(p);
    /* lb7 has no proxy address: fail-open */
    p = ask("10.1.2.3", "media.foobar.example.", LDNS_RR_TYPE_A);
    assert_section(p, LDNS_SECTION_ANSWER, "A\t192.0.2.30");
    ldns_pkt_free(p);
}

/* No standby answer may refer: a server of the NS set that answers with
 * a referral to its own zone is lame to resolvers. */
static void assert_no_referral(ldns_pkt *p)
{
    assert_true(ldns_pkt_aa(p) || ldns_pkt_get_rcode(p) == LDNS_RCODE_REFUSED);
    ldns_rr_list *l = ldns_pkt_get_section_clone(p, LDNS_SECTION_AUTHORITY);
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
        assert_int_not_equal(ldns_rr_get_type(ldns_rr_list_rr(l, i)), LDNS_RR_TYPE_NS);
    ldns_rr_list_deep_free(l);
}

/* The standby (DESIGN §3, §11): the main listener names it in every
 * delegation to a DNS-LB; on its own address it answers the DNS-LB zones
 * as the DNS-LB would, from its ranking, and nothing else. */
static void test_standby(void **state)
{
    (void)state;
    dnsb_table *main_table = table;
    table = standby_table; /* the main listener of a DNS-B that has a standby */
    ldns_pkt *p = ask("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A);
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tns.lb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t3600\tIN\tNS\tstandby.glb.example.net.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb42.www.foobar.example.\t3600\tIN\tA\t127.0.0.42");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "standby.glb.example.net.\t3600\tIN\tA\t127.0.0.53");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "standby.glb.example.net.\t3600\tIN\tAAAA\t2001:db8::53");
    assert_counts(p, 1, 2, 3); /* NS lb42, the standby; their A, the standby's AAAA */
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "lb7.www.foobar.example.", LDNS_RR_TYPE_A); /* the plain delegation too */
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb7.www.foobar.example.\t3600\tIN\tNS\tstandby.glb.example.net.");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "standby.glb.example.net.", LDNS_RR_TYPE_AAAA); /* its address, from our zone */
    assert_true(ldns_pkt_aa(p));
    assert_counts(p, 1, 0, 0);
    assert_section(p, LDNS_SECTION_ANSWER, "standby.glb.example.net.\t3600\tIN\tAAAA\t2001:db8::53");
    ldns_pkt_free(p);
    table = main_table;

    standby = 1;
    /* lb42 ranked shop: its answer set, as direct mode gives it, whoever asks */
    set_shop_ranking(1);
    p = ask("192.0.2.99", "lb42.shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_no_referral(p);
    assert_counts(p, 1, 0, 0);
    assert_section(p, LDNS_SECTION_ANSWER, "lb42.shop.svc.glb.example.net.\t60\tIN\tA\t198.51.100.20");
    ldns_pkt_free(p);
    set_shop_ranking(2);
    p = ask("127.0.0.1", "lb42.shop.svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_counts(p, 2, 0, 0);
    ldns_pkt_free(p);
    /* no ranking of www from lb42: every site by weight, whoever asks */
    const char *from[] = {"127.0.0.1", "192.0.2.99"};
    for (int i = 0; i < 2; i++) {
        p = ask(from[i], "LB42.www.foobar.example.", LDNS_RR_TYPE_A);
        assert_no_referral(p);
        assert_counts(p, 3, 0, 0);
        assert_section(p, LDNS_SECTION_ANSWER, "LB42.www.foobar.example.\t300\tIN\tA\t192.0.2.30");
        ldns_pkt_free(p);
    }
    /* a DNS-LB no longer registered (its delegation still cached): by weight */
    p = ask("127.0.0.1", "lb99.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_no_referral(p);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "ns.lb99.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_no_referral(p);
    assert_counts(p, 0, 1, 0);
    ldns_pkt_free(p);
    /* the zone's own data, the same NS set as the delegation */
    p = ask("127.0.0.1", "lb42.www.foobar.example.", LDNS_RR_TYPE_NS);
    assert_no_referral(p);
    assert_section(p, LDNS_SECTION_ANSWER, "lb42.www.foobar.example.\t300\tIN\tNS\tns.lb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_ANSWER, "lb42.www.foobar.example.\t300\tIN\tNS\tstandby.glb.example.net.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb42.www.foobar.example.\t300\tIN\tA\t127.0.0.42");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "lb42.www.foobar.example.", LDNS_RR_TYPE_SOA);
    assert_section(p, LDNS_SECTION_ANSWER, "lb42.www.foobar.example.\t300\tIN\tSOA\tns.lb42.www.foobar.example. "
                                           "hostmaster.lb42.www.foobar.example. 2026112501");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "ns.lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_no_referral(p);
    assert_counts(p, 1, 0, 0);
    assert_section(p, LDNS_SECTION_ANSWER, "ns.lb42.www.foobar.example.\t300\tIN\tA\t127.0.0.42");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "lb42.www.foobar.example.", LDNS_RR_TYPE_TXT);
    assert_no_referral(p);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_counts(p, 0, 1, 0);
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t60\tIN\tSOA");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "a.b.lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_no_referral(p);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);
    /* not a DNS-LB zone: not ours to answer here */
    const char *others[] = {"www.foobar.example.", "glb.example.net.", "x.whoami.glb.example.net.",
                            "standby.glb.example.net.", "example.org.", "."};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        p = ask("127.0.0.1", others[i], LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        assert_false(ldns_pkt_aa(p));
        assert_counts(p, 0, 0, 0);
        ldns_pkt_free(p);
    }
    standby = 0;

    /* A standby name must not take a name that is already something else. */
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("t.conf",
                                   "server:\n  listen: 127.0.0.1@5300\n  zone: glb.example.net.\n"
                                   "  zone-ns: b1.glb.example.net. 127.0.0.1\n"
                                   "  standby-ns: b1.glb.example.net. 127.0.0.9\n",
                                   err, sizeof(err));
    assert_non_null(c);
    assert_null(dnsb_table_build(c, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "key 'standby-ns': b1.glb.example.net. clashes"));
}

/* The ECS scope of the last answer: the option is the last thing in the message. */
static int last_scope(size_t addr_bytes)
{
    return last[last_len - addr_bytes - 1];
}

static void test_ecs(void **state)
{
    (void)state;
    /* resolver 127.0.0.1 maps to lb42, but its client subnet maps to lb7 */
    ldns_pkt *p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "10.1.2.0/24", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb7.www.foobar.example.");
    assert_int_equal(last_scope(3), 16);
    ldns_pkt_free(p);
    p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "2001:db8:aaaa:1::/56", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb7.www.foobar.example.");
    assert_int_equal(last_scope(7), 48);
    ldns_pkt_free(p);
    /* unmapped subnet: the resolver's own DNS-LB; the scope still tells how
     * far the answer holds (no claimed client prefix inside it) */
    p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "192.0.2.0/24", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.www.foobar.example.");
    assert_int_equal(last_scope(3), 1); /* 192/1 holds no claimed prefix (127/8, 10.1/16) */
    ldns_pkt_free(p);
    /* dnsb(8)'s example: 10.200.0.0/16 differs from lb7's 10.1.0.0/16 at bit 9,
     * so the fallback answer holds for the first 9 bits, exactly */
    p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "10.200.0.0/16", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.www.foobar.example.");
    assert_int_equal(last_scope(2), 9); /* a /16 source sends 2 address bytes */
    ldns_pkt_free(p);
    /* ... and fail-open when the resolver is unmapped too */
    p = ask_full("127.0.0.9", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "192.0.2.0/24", 0);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    assert_true(last_scope(3) <= 24);
    ldns_pkt_free(p);
    /* source prefix 0: the resolver's own address decides, scope 0 */
    p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 0, "0.0.0.0/0", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.www.foobar.example.");
    assert_int_equal(last[last_len - 1], 0);
    ldns_pkt_free(p);
}

static void test_zone_data(void **state)
{
    (void)state;
    ldns_pkt *p = ask("127.0.0.1", "glb.example.net.", LDNS_RR_TYPE_SOA);
    assert_true(ldns_pkt_aa(p));
    assert_section(p, LDNS_SECTION_ANSWER, "glb.example.net.\t3600\tIN\tSOA\tb1.glb.example.net. hostmaster.glb.example.net. 2026112501 3600 600 604800 60");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "glb.example.net.", LDNS_RR_TYPE_NS);
    assert_section(p, LDNS_SECTION_ANSWER, "glb.example.net.\t3600\tIN\tNS\tb1.glb.example.net.");
    assert_section(p, LDNS_SECTION_ANSWER, "glb.example.net.\t3600\tIN\tNS\tb2.glb.example.net.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "b2.glb.example.net.\t3600\tIN\tAAAA\t::1");
    ldns_pkt_free(p);
    /* the delegated service is a zone apex with the DNS-Bs as NS */
    p = ask("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_NS);
    assert_section(p, LDNS_SECTION_ANSWER, "www.foobar.example.\t3600\tIN\tNS\tb1.glb.example.net.");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "b1.glb.example.net.", LDNS_RR_TYPE_A);
    assert_section(p, LDNS_SECTION_ANSWER, "b1.glb.example.net.\t3600\tIN\tA\t127.0.0.1");
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "nothing.glb.example.net.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_section(p, LDNS_SECTION_AUTHORITY, "glb.example.net.\t60\tIN\tSOA");
    ldns_pkt_free(p);
    /* empty non-terminal above a service: NODATA, not NXDOMAIN */
    p = ask("127.0.0.1", "svc.glb.example.net.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "www.example.org.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    assert_false(ldns_pkt_aa(p));
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "foobar.example.", LDNS_RR_TYPE_A); /* the parent is not ours */
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
}

static void test_whoami(void **state)
{
    (void)state;
    ldns_pkt *p = ask_full("127.0.0.9", "x1y2.whoami.glb.example.net.", LDNS_RR_TYPE_TXT, 1, 0, "10.9.8.0/24", 0);
    assert_section(p, LDNS_SECTION_ANSWER, "x1y2.whoami.glb.example.net.\t0\tIN\tTXT\t\"src=127.0.0.9\" \"ecs=10.9.8.0/24\"");
    assert_int_equal(last_scope(3), 24);
    ldns_pkt_free(p);
    p = ask("::1", "x.whoami.glb.example.net.", LDNS_RR_TYPE_TXT);
    assert_section(p, LDNS_SECTION_ANSWER, "\"src=::1\"");
    ldns_pkt_free(p);
}

static void test_case_echo(void **state)
{
    (void)state;
    ldns_pkt *p = ask("127.0.0.1", "WwW.FooBar.EXAMPLE.", LDNS_RR_TYPE_A);
    char *q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    assert_string_equal(q, "WwW.FooBar.EXAMPLE.");
    free(q);
    assert_section(p, LDNS_SECTION_ANSWER, "CNAME\tlb42.");
    ldns_pkt_free(p);
}

static void test_errors(void **state)
{
    (void)state;
    ldns_pkt *p = ask_full("127.0.0.1", "www.foobar.example.", LDNS_RR_TYPE_A, 1, 1, NULL, 0);
    assert_int_equal(ldns_pkt_get_rcode(p), 0); /* low bits of BADVERS(16) */
    assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
    ldns_pkt_free(p);
    p = ask("127.0.0.1", "glb.example.net.", LDNS_RR_TYPE_AXFR);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
    /* QR set: never answered */
    uint8_t q[512];
    size_t n = make_query(q, "www.foobar.example.", 1, 0, 0, NULL);
    q[2] |= 0x80;
    glb_addr a;
    glb_addr_parse("127.0.0.1", &a);
    assert_int_equal(dnsb_answer(table, atomic_load(dnsb_registry_slot(reg)), q, n, &a, 0, last, sizeof(last), &stats), 0);
    /* opcode NOTIFY: NOTIMP */
    n = make_query(q, "www.foobar.example.", 1, 0, 0, NULL);
    q[2] = (uint8_t)(4 << 3);
    size_t len = dnsb_answer(table, atomic_load(dnsb_registry_slot(reg)), q, n, &a, 0, last, sizeof(last), &stats);
    assert_true(len >= 12);
    assert_int_equal(last[3] & 0x0f, 4);
    /* truncated question: FORMERR */
    n = make_query(q, "www.foobar.example.", 1, 0, 0, NULL);
    len = dnsb_answer(table, atomic_load(dnsb_registry_slot(reg)), q, n - 3, &a, 0, last, sizeof(last), &stats);
    assert_true(len >= 12);
    assert_int_equal(last[3] & 0x0f, 1);
}

/* A query made with ldns (any class, records in any section), answered over TCP. */
static ldns_pkt *ask_pkt(const char *from, ldns_pkt *q)
{
    uint8_t *wire;
    size_t n;
    ldns_pkt_set_id(q, 0x1234);
    assert_int_equal(ldns_pkt2wire(&wire, q, &n), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    glb_addr a;
    assert_int_equal(glb_addr_parse(from, &a), 0);
    last_len = dnsb_answer(table, atomic_load(dnsb_registry_slot(reg)), wire, n, &a, 1, last, sizeof(last), &stats);
    free(wire);
    assert_true(last_len >= 12);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, last, last_len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    return p;
}

static ldns_pkt *query(const char *name, ldns_rr_type type, ldns_rr_class cls)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, cls, 0), LDNS_STATUS_OK);
    return q;
}

/* IXFR carries the client's SOA in authority (RFC 1995): refused like AXFR,
 * not FORMERR. */
static void test_ixfr_refused(void **state)
{
    (void)state;
    const char *zones[] = {"glb.example.net.", "www.foobar.example."};
    for (size_t i = 0; i < 2; i++) {
        ldns_pkt *q = query(zones[i], LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN);
        ldns_rr *soa = NULL;
        char text[256];
        snprintf(text, sizeof(text), "%s 0 IN SOA ns.%s hostmaster.%s 1 3600 600 604800 60", zones[i], zones[i],
                 zones[i]);
        assert_int_equal(ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL), LDNS_STATUS_OK);
        assert_true(ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa));
        ldns_pkt *p = ask_pkt("127.0.0.1", q);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        assert_false(ldns_pkt_aa(p));
        assert_int_equal(ldns_pkt_qdcount(p), 1);
        assert_counts(p, 0, 0, 0);
        ldns_pkt_free(p);
    }
}

/* QCLASS ANY gets the class IN data, never authoritative (RFC 6895 §3.2: no
 * server can know it holds every class), and negative answers without the
 * SOA, as NSD does. Other classes are refused. */
static void test_class_any(void **state)
{
    (void)state;
    ldns_pkt *p = ask_pkt("127.0.0.1", query("www.foobar.example.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY));
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_false(ldns_pkt_aa(p));
    assert_section(p, LDNS_SECTION_ANSWER, "www.foobar.example.\t3600\tIN\tCNAME\tlb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_AUTHORITY, "IN\tNS\tns.lb42.www.foobar.example.");
    ldns_pkt_free(p);
    p = ask_pkt("127.0.0.1", query("glb.example.net.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_ANY));
    assert_false(ldns_pkt_aa(p));
    assert_section(p, LDNS_SECTION_ANSWER, "glb.example.net.\t3600\tIN\tSOA\tb1.glb.example.net.");
    ldns_pkt_free(p);
    p = ask_pkt("127.0.0.1", query("x.whoami.glb.example.net.", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY));
    assert_false(ldns_pkt_aa(p));
    assert_section(p, LDNS_SECTION_ANSWER, "\"src=127.0.0.1\"");
    ldns_pkt_free(p);
    p = ask_pkt("127.0.0.1", query("nothing.glb.example.net.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY));
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_false(ldns_pkt_aa(p));
    assert_counts(p, 0, 0, 0);
    ldns_pkt_free(p);
    p = ask_pkt("127.0.0.1", query("svc.glb.example.net.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY));
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_false(ldns_pkt_aa(p));
    assert_counts(p, 0, 0, 0);
    ldns_pkt_free(p);
    /* class IN still authoritative */
    p = ask_pkt("127.0.0.1", query("glb.example.net.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN));
    assert_true(ldns_pkt_aa(p));
    ldns_pkt_free(p);
    p = ask_pkt("127.0.0.1", query("glb.example.net.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_CH));
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
}

static void test_truncation(void **state)
{
    (void)state;
    /* Without EDNS the limit is 512: the two-LB referral still fits ... */
    ldns_pkt *p = ask_full("127.0.0.4", "www.foobar.example.", LDNS_RR_TYPE_A, 0, 0, NULL, 0);
    assert_false(ldns_pkt_tc(p));
    assert_true(last_len <= 512);
    ldns_pkt_free(p);
    /* 40 AAAA records do not fit in 512 bytes: TC, nothing partial */
    p = ask_full("192.0.2.99", "big.foobar.example.", LDNS_RR_TYPE_AAAA, 0, 0, NULL, 0);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_true(last_len <= 512);
    ldns_pkt_free(p);
    /* with EDNS (we send up to 1232) they fit */
    p = ask_full("192.0.2.99", "big.foobar.example.", LDNS_RR_TYPE_AAAA, 1, 0, NULL, 0);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 40);
    assert_true(last_len <= 1232);
    ldns_pkt_free(p);
    /* over TCP there is no such limit */
    p = ask_full("192.0.2.99", "big.foobar.example.", LDNS_RR_TYPE_AAAA, 0, 0, NULL, 1);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 40);
    ldns_pkt_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_referral),        cmocka_unit_test(test_referral_two_lbs),
        cmocka_unit_test(test_target_gets_referral_alone), cmocka_unit_test(test_failopen_by_weight),
        cmocka_unit_test(test_direct_and_proxy), cmocka_unit_test(test_standby), cmocka_unit_test(test_ecs),
        cmocka_unit_test(test_zone_data),       cmocka_unit_test(test_whoami),
        cmocka_unit_test(test_case_echo),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncation),      cmocka_unit_test(test_ixfr_refused),
        cmocka_unit_test(test_class_any),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
