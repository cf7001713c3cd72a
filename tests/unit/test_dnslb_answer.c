/* Unit tests for dnslb's answers, read back with ldns: the apex of any
 * label under a service, the ns host, the answer set (only the sites as
 * good as the best, at most answer-count), sharing by weight, fail-open,
 * refusals, and the staleness wake-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnslb/answer.h"
#include "dnslb/conf.h"
#include "dnslb/table.h"

static const char *conf_text =
    "server:\n"
    "  listen: 127.0.0.42@5300\n"
    "  id: lb42\n"
    "service:\n"
    "  name: www.foobar.example.\n"
    "  answer-count: 2\n"
    "  ttl-answer: 30\n"
    "  site: paris 192.0.2.10 2001:db8::10\n"
    "  site: tokyo 192.0.2.20\n"
    "  site: rome 192.0.2.30\n"
    "service:\n"
    "  name: shop.example.\n"
    "  answer-count: 1\n"
    "  site: a 198.51.100.1 weight=3\n"
    "  site: b 198.51.100.2 weight=1\n";

static lb_conf *conf;
static lb_stats stats;
static uint8_t last[65535];
static size_t last_len;

static int setup(void **state)
{
    (void)state;
    char err[512];
    conf = lb_conf_parse("t.conf", conf_text, err, sizeof(err));
    if (!conf)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lb_conf_free(conf);
    return 0;
}

/* A table with service 0 ranked as order[] with a share of share0 and
 * service 1 ranked a, b with a share of share1. */
static lb_table *table_with_share(const uint32_t *order, size_t n, size_t share0, int failopen, size_t share1,
                                  double oldest, struct event *wake)
{
    lb_table *t = lb_table_new(conf, 2026112501, wake);
    assert_non_null(t);
    const glb_site *r[8];
    for (size_t i = 0; i < n; i++)
        r[i] = &conf->services[0].sites[order[i]];
    assert_int_equal(lb_table_set_rank(t, 0, r, n, share0, failopen, oldest), 0);
    r[0] = &conf->services[1].sites[0];
    r[1] = &conf->services[1].sites[1];
    assert_int_equal(lb_table_set_rank(t, 1, r, 2, share1, 0, oldest), 0);
    return t;
}

static lb_table *table_with(const uint32_t *order, size_t n, int failopen, size_t share1, double oldest,
                            struct event *wake)
{
    return table_with_share(order, n, 1, failopen, share1, oldest, wake);
}

static size_t make_query(uint8_t *b, const char *name, uint16_t type)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 0x4242);
    uint8_t *wire;
    size_t n;
    assert_int_equal(ldns_pkt2wire(&wire, q, &n), LDNS_STATUS_OK);
    memcpy(b, wire, n);
    free(wire);
    ldns_pkt_free(q);
    return n;
}

static ldns_pkt *ask_at(const lb_table *t, const char *name, uint16_t type, double now)
{
    uint8_t q[512];
    size_t n = make_query(q, name, type);
    last_len = lb_answer(t, q, n, 0, now, last, sizeof(last), &stats);
    assert_true(last_len >= 12);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, last, last_len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_id(p), 0x4242);
    return p;
}

static ldns_pkt *ask(const lb_table *t, const char *name, uint16_t type)
{
    return ask_at(t, name, type, 1000);
}

static char *answer_rdata(ldns_pkt *p, size_t i)
{
    return ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), i), 0));
}

static void assert_section(ldns_pkt *p, ldns_pkt_section sec, const char *want)
{
    ldns_rr_list *l = ldns_pkt_get_section_clone(p, sec);
    char *s = ldns_rr_list2str(l);
    if (!strstr(s, want))
        fail_msg("section %d lacks '%s':\n%s", (int)sec, want, s);
    free(s);
    ldns_rr_list_deep_free(l);
}

/* The rdata of every address in the answer, sorted, space-separated. */
static void answer_set(ldns_pkt *p, char *out, size_t len)
{
    char *a[16];
    size_t n = ldns_pkt_ancount(p) < 16 ? ldns_pkt_ancount(p) : 16;
    for (size_t i = 0; i < n; i++)
        a[i] = answer_rdata(p, i);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(a[j - 1], a[j]) > 0; j--) {
            char *x = a[j];
            a[j] = a[j - 1];
            a[j - 1] = x;
        }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", a[i]);
        free(a[i]);
    }
}

/* An answer holds the sites as good as the best (the share), not the
 * answer-count best: resolvers reorder, so order alone protects nobody. */
static void test_answer_set(void **state)
{
    (void)state;
    char set[256];
    uint32_t order[] = {1, 0, 2}; /* tokyo, paris, rome */
    lb_table *t = table_with(order, 3, 0, 1, 999, NULL);
    ldns_pkt *p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_true(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_ancount(p), 1); /* paris is ranked, but not as good */
    answer_set(p, set, sizeof(set));
    assert_string_equal(set, "192.0.2.20");
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 30);
    ldns_pkt_free(p);
    /* any label: the DNS-B chooses it */
    p = ask(t, "Other-Label.WWW.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* AAAA: tokyo has none, so the best site that has one */
    p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_AAAA);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    assert_section(p, LDNS_SECTION_ANSWER, "AAAA\t2001:db8::10");
    ldns_pkt_free(p);
    lb_table_free(t);

    /* Two as good: both, to every client alike. */
    t = table_with_share(order, 3, 2, 0, 1, 999, NULL);
    for (int i = 0; i < 10; i++) {
        p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A);
        answer_set(p, set, sizeof(set));
        assert_string_equal(set, "192.0.2.10 192.0.2.20");
        ldns_pkt_free(p);
    }
    lb_table_free(t);

    /* Three as good, answer-count 2: two of them, each in 2 of 3 answers. */
    t = table_with_share(order, 3, 3, 0, 1, 999, NULL);
    unsigned seen[3] = {0};
    for (int i = 0; i < 300; i++) {
        p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_ancount(p), 2);
        answer_set(p, set, sizeof(set));
        seen[0] += strstr(set, "192.0.2.10") != NULL;
        seen[1] += strstr(set, "192.0.2.20") != NULL;
        seen[2] += strstr(set, "192.0.2.30") != NULL;
        ldns_pkt_free(p);
    }
    assert_int_equal(seen[0], 200);
    assert_int_equal(seen[1], 200);
    assert_int_equal(seen[2], 200);
    lb_table_free(t);
}

static void test_zone_records(void **state)
{
    (void)state;
    uint32_t order[] = {0, 1, 2};
    lb_table *t = table_with(order, 3, 0, 1, 999, NULL);
    ldns_pkt *p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_SOA);
    assert_section(p, LDNS_SECTION_ANSWER,
                   "lb42.www.foobar.example.\t30\tIN\tSOA\tns.lb42.www.foobar.example. hostmaster.lb42.www.foobar.example. 2026112501");
    ldns_pkt_free(p);
    p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_NS);
    assert_section(p, LDNS_SECTION_ANSWER, "lb42.www.foobar.example.\t30\tIN\tNS\tns.lb42.www.foobar.example.");
    assert_section(p, LDNS_SECTION_ADDITIONAL, "ns.lb42.www.foobar.example.\t30\tIN\tA\t127.0.0.42");
    ldns_pkt_free(p);
    p = ask(t, "ns.lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_section(p, LDNS_SECTION_ANSWER, "ns.lb42.www.foobar.example.\t30\tIN\tA\t127.0.0.42");
    ldns_pkt_free(p);
    p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_TXT);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_section(p, LDNS_SECTION_AUTHORITY, "SOA");
    ldns_pkt_free(p);
    p = ask(t, "x.y.lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_section(p, LDNS_SECTION_AUTHORITY, "lb42.www.foobar.example.\t30\tIN\tSOA");
    ldns_pkt_free(p);
    /* not ours: the service name itself, and other names */
    p = ask(t, "www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
    p = ask(t, "www.example.org.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    assert_false(ldns_pkt_aa(p));
    ldns_pkt_free(p);
    lb_table_free(t);
}

static void test_failopen_counts(void **state)
{
    (void)state;
    uint32_t order[] = {0, 1, 2};
    lb_table *t = table_with(order, 3, 1, 1, 999, NULL);
    memset(&stats, 0, sizeof(stats));
    ldns_pkt *p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 3); /* every site, beyond answer-count */
    assert_int_equal(stats.n[LB_ST_FAILOPEN], 1);
    assert_int_equal(stats.n[LB_ST_ANSWERS], 0);
    ldns_pkt_free(p);
    lb_table_free(t);
    /* nothing ranked (no address yet): NODATA, not an empty NOERROR without SOA */
    t = table_with(order, 0, 0, 1, 999, NULL);
    p = ask(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_section(p, LDNS_SECTION_AUTHORITY, "SOA");
    ldns_pkt_free(p);
    lb_table_free(t);
}

/* Within the margin group first place goes by weight: 3:1 over many queries. */
static void test_share_by_weight(void **state)
{
    (void)state;
    uint32_t order[] = {0};
    lb_table *t = table_with(order, 1, 0, 2, 999, NULL);
    unsigned first_a = 0, n = 400;
    for (unsigned i = 0; i < n; i++) {
        ldns_pkt *p = ask(t, "x.shop.example.", LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_ancount(p), 1);
        char *a = answer_rdata(p, 0);
        first_a += strcmp(a, "198.51.100.1") == 0;
        free(a);
        ldns_pkt_free(p);
    }
    assert_int_equal(first_a, n * 3 / 4);
    lb_table_free(t);
}

static int woken;
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    woken++;
}

/* A query that finds data older than stale-after wakes the prober, once. */
static void test_stale_wakes_prober(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct event *ev = event_new(base, -1, 0, wake_cb, NULL);
    uint32_t order[] = {0, 1};
    lb_table *t = table_with(order, 2, 0, 1, 130.0, ev); /* measured at t=100, stale after 30 s */
    woken = 0;
    ldns_pkt_free(ask_at(t, "a.www.foobar.example.", LDNS_RR_TYPE_A, 110)); /* fresh: 10 s < 30 s */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(woken, 0);
    ldns_pkt_free(ask_at(t, "a.www.foobar.example.", LDNS_RR_TYPE_A, 200)); /* stale */
    ldns_pkt_free(ask_at(t, "a.www.foobar.example.", LDNS_RR_TYPE_A, 201)); /* asked already */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(woken, 1);
    assert_int_equal(t->want_refresh[0], 1);
    lb_table_free(t);
    event_free(ev);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_set), cmocka_unit_test(test_zone_records),
        cmocka_unit_test(test_failopen_counts),     cmocka_unit_test(test_share_by_weight),
        cmocka_unit_test(test_stale_wakes_prober),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
