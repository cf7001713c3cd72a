/* Unit tests for dnsb's configuration: the example config as shipped, and
 * every kind of mistake an operator can make, reported as FILE:LINE + key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsb/conf.h"
#include "dnsb/store.h"

#define BASE "server:\n  listen: 127.0.0.1@5300\n  zone: glb.example.net.\n  zone-ns: b1.glb.example.net. 127.0.0.1\n"

static void test_example_config(void **state)
{
    (void)state;
    const char *top = getenv("top_srcdir");
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/conf/dnsb.conf.example", top ? top : "../..");
    dnsb_conf *c = dnsb_conf_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->nlisten, 2);
    assert_int_equal(c->listen[0].port, 5300);
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->nservices, 3);
    assert_int_equal(c->services[0].mode, DNSB_MODE_REFERRAL);
    assert_int_equal(c->services[0].ttl_referral, 3600);
    assert_int_equal(c->services[0].nsites, 2);
    assert_int_equal(c->services[0].sites[0].weight, 2);
    assert_int_equal(c->services[0].sites[0].naddrs, 2);
    assert_int_equal(c->services[0].lb.policy, GLB_SVC_LATENCY);
    assert_int_equal(c->services[0].answer_count, 2);
    assert_true(c->services[0].lb.margin_pct == 10 && c->services[0].lb.margin_ms == 5);
    assert_true(c->services[0].sites[0].cost == 1.5 && c->services[0].sites[0].has_location);
    assert_int_equal(c->services[0].sites[1].check_verify, 0);
    assert_int_equal(c->services[1].lb.policy, GLB_SVC_COMBINED);
    assert_true(c->services[1].lb.w_latency == 1 && c->services[1].lb.w_cost == 0.5 &&
                c->services[1].lb.w_distance == 0);
    assert_int_equal(c->services[1].mode, DNSB_MODE_DIRECT);
    assert_int_equal(c->services[2].mode, DNSB_MODE_PROXY);
    assert_int_equal(c->nlbs, 2);
    assert_string_equal(c->lbs[0].id, "lb42");
    assert_int_equal(c->lbs[0].nproxy, 1);
    assert_int_equal(c->lbs[0].nrankings, 2);
    assert_int_equal(c->lbs[1].nresolvers, 3);
    dnsb_conf_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("t.conf", BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\n", err,
                                   sizeof(err));
    if (!c)
        fail_msg("%s", err);
    char buf[1024];
    assert_string_equal(glb_dname_to_str(c->whoami, buf, sizeof(buf)), "whoami.glb.example.net.");
    assert_string_equal(glb_dname_to_str(c->contact, buf, sizeof(buf)), "hostmaster.glb.example.net.");
    assert_int_equal(c->workers, 1);
    assert_int_equal(c->edns_size, 1232);
    assert_int_equal(c->services[0].ttl_answer, 300);
    assert_int_equal(c->services[0].sites[0].weight, 1);
    /* the DNS-LB's defaults (dnslb.conf(5)) */
    const glb_svc_params *p = &c->services[0].lb;
    assert_int_equal(p->policy, GLB_SVC_LATENCY);
    assert_int_equal(c->services[0].answer_count, 2);
    assert_true(p->margin_pct == 10 && p->margin_ms == 0);
    assert_true(p->w_latency == 1 && p->w_cost == 0 && p->w_distance == 0);
    const glb_site *st = &c->services[0].sites[0];
    assert_true(st->cost == 0 && !st->has_location && !st->check[0] && st->check_verify == 1);
    assert_int_equal(c->database_damaged, DNSB_STORE_MOVE_ASIDE);
    /* dnsb.conf(5), map: a registration lives 900 s unless refreshed */
    assert_int_equal(c->map.lifetime, 900);
    assert_int_equal(c->tcp_max_conns, 512);
    assert_int_equal(c->tcp_msg_ms, 3000);
    assert_int_equal(c->tcp_per_source, 64);
    assert_int_equal(c->rrl_rate, 200);
    assert_int_equal(c->rrl_slip, 2);
    assert_int_equal(c->rrl_v4_prefix, 24);
    assert_int_equal(c->rrl_v6_prefix, 56);
    assert_int_equal(c->map.max_connections, 20000);
    assert_int_equal(c->map.max_handshakes, 1000);
    assert_int_equal(c->map.max_handshakes_per_source, 250);
    dnsb_conf_free(c);
    c = dnsb_conf_parse("t.conf",
                        BASE "  tcp-message-timeout: 1500\n  tcp-max-per-source: 8\n  rrl-ratelimit: 0\n  rrl-slip: 0\n"
                             "  rrl-ipv4-prefix: 32\n  rrl-ipv6-prefix: 48\nmap:\n  listen: 127.0.0.1@5380\n"
                             "  tls-cert-file: c\n  tls-key-file: k\n  tls-ca-file: a\n  max-handshakes: 50\n"
                             "  max-handshakes-per-source: 5\nservice:\n  name: a.example.\n  site: x 192.0.2.1\n",
                        err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->tcp_msg_ms, 1500);
    assert_int_equal(c->tcp_per_source, 8);
    assert_int_equal(c->rrl_rate, 0);
    assert_int_equal(c->rrl_slip, 0);
    assert_int_equal(c->rrl_v4_prefix, 32);
    assert_int_equal(c->rrl_v6_prefix, 48);
    assert_int_equal(c->map.max_handshakes, 50);
    assert_int_equal(c->map.max_handshakes_per_source, 5);
    dnsb_conf_free(c);
    c = dnsb_conf_parse("t.conf", BASE "  database-damaged: refuse\nservice:\n  name: a.example.\n  site: x 192.0.2.1\n",
                        err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->database_damaged, DNSB_STORE_REFUSE);
    dnsb_conf_free(c);
}

/* Every key dnslb.conf's service: section has, with its syntax. */
static void test_policy_keys(void **state)
{
    (void)state;
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("t.conf",
                                   BASE "service:\n  name: a.example.\n  policy: combined\n  answer-count: 64\n"
                                        "  ttl-answer: 2\n  margin: 2.5\n  margin-ms: 0.5\n  weight-latency: 0.25\n"
                                        "  weight-cost: 1000\n  weight-distance: 0\n"
                                        "  site: x 192.0.2.1 weight=7 cost=0.125 location=-33.87,151.21"
                                        " check=https://x.example/p check-verify=no\n"
                                        "  site: y y.example.\n"
                                        "service:\n  name: b.example.\n  policy: cost\n  margin: 0\n"
                                        "  margin-ms: 10000\n"
                                        "  site: z 192.0.2.3\n"
                                        "service:\n  name: c.example.\n  policy: proximity\n  site: z 192.0.2.3\n",
                                   err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    const dnsb_service_conf *s = &c->services[0];
    assert_int_equal(s->lb.policy, GLB_SVC_COMBINED);
    assert_int_equal(s->answer_count, 64);
    assert_int_equal(s->ttl_answer, 2);
    assert_true(s->lb.margin_pct == 2.5 && s->lb.margin_ms == 0.5);
    assert_true(s->lb.w_latency == 0.25 && s->lb.w_cost == 1000 && s->lb.w_distance == 0);
    assert_int_equal(s->sites[0].weight, 7);
    assert_true(s->sites[0].cost == 0.125);
    assert_true(s->sites[0].has_location && fabs(s->sites[0].lat + 33.87) < 1e-9 &&
                fabs(s->sites[0].lon - 151.21) < 1e-9);
    assert_string_equal(s->sites[0].check, "https://x.example/p");
    assert_int_equal(s->sites[0].check_verify, 0);
    assert_string_equal(s->sites[1].host, "y.example.");
    s = &c->services[1];
    assert_int_equal(s->lb.policy, GLB_SVC_COST);
    assert_true(s->lb.margin_pct == 0 && s->lb.margin_ms == 10000);
    assert_int_equal(c->services[2].lb.policy, GLB_SVC_PROXIMITY); /* the DNS-LBs need a location */
    dnsb_conf_free(c);
}

static void expect(const char *text, const char *want)
{
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("t.conf", text, err, sizeof(err));
    if (c) {
        dnsb_conf_free(c);
        fail_msg("accepted a bad config, wanted '%s'", want);
    }
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect("server:\n  listen: 127.0.0.1@5300\n", "t.conf:1: key 'zone': missing");
    expect(BASE "  workers: 0\n", "t.conf:5: key 'workers': 0 out of range 1..64");
    expect(BASE "  rrl-ratelimit: 100001\n", "t.conf:5: key 'rrl-ratelimit': 100001 out of range 0..100000");
    expect(BASE "  rrl-slip: -1\n", "t.conf:5: key 'rrl-slip': -1 out of range 0..100");
    expect(BASE "  rrl-ipv4-prefix: 33\n", "t.conf:5: key 'rrl-ipv4-prefix': 33 out of range 1..32");
    expect(BASE "  rrl-ipv6-prefix: 0\n", "t.conf:5: key 'rrl-ipv6-prefix': 0 out of range 1..128");
    expect(BASE "  rrl-ratelimit: lots\n", "t.conf:5: key 'rrl-ratelimit'");
    expect(BASE "map:\n  listen: 127.0.0.1@5380\n  tls-cert-file: c\n  tls-key-file: k\n  tls-ca-file: a\n"
                "  allow: lb42 10.0.0.0/8\n  allow: lb42 192.0.2.0/24\n",
           "t.conf:11: key 'allow': identity 'lb42' repeats: one allow line per identity");
    expect(BASE "map:\n  allow: LB42 10.0.0.0/8\n", "t.conf:6: key 'allow': bad identity 'LB42'");
    expect(BASE "  control-allow: Operator 1\n", "t.conf:5: key 'control-allow'");
    expect(BASE "map:\n  allow: lb42 10.0.0.1/8\n", "t.conf:6: key 'allow': bad prefix '10.0.0.1/8'");
    expect(BASE "  listen: localhost@53\n", "t.conf:5: key 'listen': bad address 'localhost@53'");
    expect(BASE "  zone-ns: b2.glb.example.net. nowhere\n", "t.conf:5: key 'zone-ns': bad address 'nowhere'");
    expect(BASE "  whoami: whoami.elsewhere.\n", "key 'whoami': must be a name below the zone");
    /* A standby that refers from its own address would answer every query
     * itself: its addresses are never listen ones, in either order. */
    expect(BASE "  standby-ns: standby.glb.example.net. 127.0.0.1\n  standby-listen: 127.0.0.1@5300\n",
           "t.conf:6: key 'standby-listen': also a listen address");
    expect("server:\n  standby-listen: 127.0.0.9\n  listen: 127.0.0.9@53\n",
           "t.conf:3: key 'listen': also a standby-listen address");
    expect(BASE "  standby-listen: 127.0.0.9\n", "key 'standby-listen': needs standby-ns lines");
    expect(BASE "  standby-ns: standby.glb.example.net. nowhere\n", "t.conf:5: key 'standby-ns': bad address");
    expect(BASE "service:\n  name: a.example.\n  mode: fastest\n  site: x 192.0.2.1\n",
           "t.conf:7: key 'mode': unknown mode 'fastest'");
    expect(BASE "service:\n  name: a.example.\n", "t.conf:5: key 'site': missing, required in section 'service'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 weight=heavy\n",
           "t.conf:7: key 'site': bad weight 'heavy'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\n  site: x 192.0.2.2\n",
           "t.conf:8: key 'site': site 'x' given twice");
    expect(BASE "service:\n  name: a.example.\n  site: X_1 192.0.2.1\n", "t.conf:7: key 'site': bad site name");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 colour=red\n",
           "t.conf:7: key 'site': unknown site option 'colour'");
    expect(BASE "service:\n  name: a.example.\n  ttl-answer: -1\n  site: x 192.0.2.1\n",
           "t.conf:7: key 'ttl-answer': -1 out of range");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\nservice:\n  name: b.a.example.\n  site: y 192.0.2.1\n",
           "t.conf:8: key 'name': service b.a.example. repeats or lies inside the service at t.conf:5");
    /* the same service twice: its sites and policy would be ambiguous */
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\nservice:\n  name: A.example.\n  site: y 192.0.2.2\n",
           "t.conf:5: key 'name': service a.example. repeats or lies inside the service at t.conf:8");
    expect(BASE "lb:\n  id: LB_42\n  address: 127.0.0.42\n", "t.conf:6: key 'id': bad id 'LB_42'");
    expect(BASE "lb:\n  id: lb1\n", "t.conf:5: key 'address': missing, required in section 'lb'");
    expect(BASE "lb:\n  id: lb1\n  address: 127.0.0.1\n  resolver: 10.0.0.1/8\n",
           "t.conf:8: key 'resolver': bad prefix '10.0.0.1/8': host bits set");
    expect(BASE "lb:\n  id: lb1\n  address: 127.0.0.1\nlb:\n  id: lb1\n  address: 127.0.0.2\n",
           "t.conf:8: key 'id': lb 'lb1' defined twice");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\nlb:\n  id: lb1\n  address: 127.0.0.1\n"
                "  ranking: a.example. x y\n",
           "t.conf:11: key 'ranking': service has no site 'y'");
    expect(BASE "lb:\n  id: lb1\n  address: 127.0.0.1\n  ranking: none.example. x\n",
           "t.conf:8: key 'ranking': no such service");
    expect(BASE "  tcp-message-timeout: 50\n", "t.conf:5: key 'tcp-message-timeout': 50 out of range 100..600000");
    expect(BASE "  tcp-max-per-source: 0\n", "t.conf:5: key 'tcp-max-per-source': 0 out of range 1..100000");
    expect(BASE "map:\n  max-handshakes: 0\n", "t.conf:6: key 'max-handshakes': 0 out of range 1..1000000");
    expect(BASE "map:\n  max-handshakes-per-source: x\n", "t.conf:6: key 'max-handshakes-per-source'");
    expect(BASE "  colour: blue\n", "t.conf:5: key 'colour': unknown in section 'server'");
    expect(BASE "  database-damaged: repair\n",
           "t.conf:5: key 'database-damaged': expected move-aside or refuse, not 'repair'");
    /* the policy keys: dnslb.conf's ranges and messages */
#define SVC BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\n"
    expect(SVC "  policy: fastest\n",
           "t.conf:8: key 'policy': unknown policy 'fastest' (latency, cost, proximity or combined)");
    expect(SVC "  policy: Latency\n", "t.conf:8: key 'policy': unknown policy 'Latency'");
    expect(SVC "  answer-count: 0\n", "t.conf:8: key 'answer-count': 0 out of range 1..64");
    expect(SVC "  answer-count: 65\n", "t.conf:8: key 'answer-count': 65 out of range 1..64");
    expect(SVC "  margin: -1\n", "t.conf:8: key 'margin': bad number '-1' (0..1000)");
    expect(SVC "  margin: 1000.5\n", "t.conf:8: key 'margin': bad number '1000.5' (0..1000)");
    expect(SVC "  margin: 10%\n", "t.conf:8: key 'margin': bad number '10%'");
    expect(SVC "  margin-ms: 10001\n", "t.conf:8: key 'margin-ms': bad number '10001' (0..10000)");
    expect(SVC "  margin-ms: nan\n", "t.conf:8: key 'margin-ms': bad number 'nan'");
    expect(SVC "  margin-ms: -0.5\n", "t.conf:8: key 'margin-ms': bad number '-0.5'");
    expect(SVC "  weight-latency: 1001\n", "t.conf:8: key 'weight-latency': bad number '1001' (0..1000)");
    expect(SVC "  weight-cost: x\n", "t.conf:8: key 'weight-cost': bad number 'x'");
    expect(SVC "  weight-distance: -1\n", "t.conf:8: key 'weight-distance': bad number '-1'");
    expect(SVC "  ttl-answer: 2147483648\n", "t.conf:8: key 'ttl-answer': 2147483648 out of range");
    expect(SVC "  policy: cost\n  policy: latency\n", "t.conf:9: key 'policy'");
    expect(BASE "  policy: cost\n", "t.conf:5: key 'policy': unknown in section 'server'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 cost=-1\n", "t.conf:7: key 'site': bad cost '-1'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 location=91,0\n",
           "t.conf:7: key 'site': bad location '91,0'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 check=ftp://x/\n",
           "t.conf:7: key 'site': bad check URL 'ftp://x/'");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 check=http:///health\n",
           "t.conf:7: key 'site': bad check URL 'http:///health': empty host");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 check-verify=maybe\n",
           "t.conf:7: key 'site': check-verify must be yes or no");
    expect(BASE "service:\n  name: a.example.\n  site: x 192.0.2.1 weight=1000001\n",
           "t.conf:7: key 'site': bad weight '1000001'");
#undef SVC
}

/* metrics: and metrics-allow: (none by default; the default port; prefixes). */
static void test_metrics_keys(void **state)
{
    (void)state;
    char err[512], buf[GLB_ADDRSTRLEN];
    dnsb_conf *c = dnsb_conf_parse("t.conf", BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\n", err, sizeof(err));
    assert_non_null(c);
    assert_false(c->has_metrics);
    assert_int_equal(c->nmetrics_allow, 0);
    dnsb_conf_free(c);
    c = dnsb_conf_parse("t.conf",
                  BASE "  metrics: 127.0.0.1\n  metrics-allow: 10.0.0.0/8\n  metrics-allow: 2001:db8::/32\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n",
                  err, sizeof(err));
    assert_non_null(c);
    assert_true(c->has_metrics);
    assert_string_equal(glb_addrport_str(&c->metrics, buf, sizeof(buf)), "127.0.0.1@9161");
    assert_int_equal(c->nmetrics_allow, 2);
    assert_string_equal(glb_prefix_str(&c->metrics_allow[0], buf, sizeof(buf)), "10.0.0.0/8");
    assert_string_equal(glb_prefix_str(&c->metrics_allow[1], buf, sizeof(buf)), "2001:db8::/32");
    dnsb_conf_free(c);
    expect(BASE "  metrics-allow: 10.0.0.0/33\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n", "t.conf:5: key 'metrics-allow'");
    expect(BASE "  metrics: nowhere\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n", "t.conf:5: key 'metrics'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_policy_keys),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_metrics_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
