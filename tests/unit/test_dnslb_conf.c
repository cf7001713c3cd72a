/* Unit tests for dnslb's configuration: the shipped example, defaults, and
 * the mistakes an operator can make, reported as FILE:LINE + key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnslb/conf.h"
#include "shared/measure/ewma.h"

#define BASE "server:\n  listen: 127.0.0.42@5300\n  id: lb42\n"
#define SVC "service:\n  name: www.foobar.example.\n  site: paris 127.0.0.11\n"

static void test_example_config(void **state)
{
    (void)state;
    const char *top = getenv("top_srcdir");
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/conf/dnslb.conf.example", top ? top : "../..");
    lb_conf *c = lb_conf_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->id, "lb42");
    assert_int_equal(c->listen[0].port, 5300);
    assert_int_equal(c->control.port, 8954);
    assert_int_equal(c->control_mode, LB_CONTROL_TLS);
    assert_true(c->has_location);
    assert_int_equal(c->probe.http_interval, 10);
    assert_int_equal(c->probe.icmp_interval, 30);
    assert_int_equal(c->probe.dead_after, 3);
    assert_true(fabs(c->probe.ewma_constant - 300) < 1e-9);
    assert_int_equal(c->nservices, 1);
    assert_int_equal(c->services[0].policy.policy, LB_POLICY_LATENCY);
    assert_int_equal(c->services[0].answer_count, 2);
    assert_int_equal(c->services[0].nsites, 2);
    assert_string_equal(c->services[0].sites[1].check, "https://127.0.0.12:18443/probe");
    assert_int_equal(c->services[0].sites[1].check_verify, 0);
    /* ns.<label>.<service> defaults to the listen address */
    assert_int_equal(c->nns_addrs, 1);
    assert_int_equal(c->ns_addrs[0].b[3], 42);
    lb_conf_free(c);
}

/* margin-ms: the absolute margin, next to margin, into the ranking's parameters. */
static void test_margin_ms(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", BASE SVC "  margin: 0\n  margin-ms: 12.5\n" "service:\n  name: b.example.\n"
                               "  margin-ms: 10000\n  site: s 127.0.0.1\n" "service:\n  name: c.example.\n"
                               "  margin-ms: 0\n  site: s 127.0.0.1\n", err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_true(c->services[0].policy.margin == 0 && c->services[0].policy.margin_ms == 12.5);
    assert_true(c->services[1].policy.margin_ms == 10000);
    assert_true(c->services[2].policy.margin_ms == 0);
    lb_conf_free(c);
}

static void test_defaults_and_penalty(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", BASE "probe:\n  loss-penalty: 0:0 0.1:5 1:40\n  margin: 5\n" SVC, err,
                               sizeof(err));
    /* margin belongs to service:, not probe: */
    assert_null(c);
    assert_non_null(strstr(err, "t.conf:6: key 'margin': unknown in section 'probe'"));
    c = lb_conf_parse("t.conf", BASE "probe:\n  loss-penalty: 0:0 0.1:5 1:40\n" SVC "  margin: 5\n", err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->probe.score.npoints, 3);
    assert_true(fabs(c->probe.score.penalty[1] - 5) < 1e-9);
    assert_true(fabs(c->services[0].policy.margin - 0.05) < 1e-9);
    assert_true(c->services[0].policy.margin_ms == 0); /* default */
    assert_int_equal(c->probe.stale_after, 0); /* unset: 3 check intervals of each site */
    /* dnslb.conf(5): checks every 10 s (HTTP) and 30 s (ICMP), a site dead
     * after 3 failed checks in a row and alive again after 2 good ones */
    assert_int_equal(c->probe.http_interval, 10);
    assert_int_equal(c->probe.icmp_interval, 30);
    assert_int_equal(c->probe.dead_after, 3);
    assert_int_equal(c->probe.alive_after, 2);
    assert_int_equal(c->workers, 1);
    assert_int_equal(c->tcp_msg_ms, 3000);
    assert_int_equal(c->tcp_per_source, 64);
    assert_int_equal(c->rrl_rate, 200);
    assert_int_equal(c->rrl_slip, 2);
    assert_int_equal(c->rrl_v4_prefix, 24);
    assert_int_equal(c->rrl_v6_prefix, 56);
    assert_int_equal(c->services[0].ttl_answer, 300);
    assert_false(c->probe.has_src4 || c->probe.has_src6);
    lb_conf_free(c);
    c = lb_conf_parse("t.conf", BASE "probe:\n  source-address: 127.0.0.7\n  source-address: ::1\n" SVC, err,
                      sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_true(c->probe.has_src4 && c->probe.has_src6);
    assert_int_equal(c->probe.src4.b[3], 7);
    assert_int_equal(c->probe.src6.b[15], 1);
    assert_true(c->probe.score.floor_ms == 100); /* loss-floor's default */
    lb_conf_free(c);
    /* loss-floor reaches the score: 20 ms with 10 % loss and a 40 ms floor
     * scores 20 + 40 x 30 x 0.1 (the default penalty is 30 x loss) */
    c = lb_conf_parse("t.conf", BASE "probe:\n  loss-floor: 40\n" SVC, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_true(c->probe.score.floor_ms == 40);
    assert_true(fabs(glb_score(&c->probe.score, 20, 0.1) - (20 + 40 * 30 * 0.1)) < 0.5);
    lb_conf_free(c);
}

static void expect(const char *text, const char *want)
{
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", text, err, sizeof(err));
    if (c) {
        lb_conf_free(c);
        fail_msg("accepted a bad config, wanted '%s'", want);
    }
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect("server:\n  listen: 127.0.0.42@5300\n" SVC, "t.conf:1: key 'id': missing");
    expect("server:\n  listen: 127.0.0.42@5300\n  id: LB 42\n", "t.conf:3: key 'id': expected one value");
    expect("server:\n  listen: 127.0.0.42@5300\n  id: LB_42\n", "t.conf:3: key 'id': bad id 'LB_42'");
    expect(BASE "  tcp-message-timeout: 600001\n", "t.conf:4: key 'tcp-message-timeout': 600001 out of range");
    expect(BASE "  tcp-max-per-source: 0\n", "t.conf:4: key 'tcp-max-per-source': 0 out of range");
    expect(BASE "  rrl-ratelimit: 100001\n", "t.conf:4: key 'rrl-ratelimit': 100001 out of range 0..100000");
    expect(BASE "  rrl-slip: 101\n", "t.conf:4: key 'rrl-slip': 101 out of range 0..100");
    expect(BASE "  rrl-ipv4-prefix: 0\n", "t.conf:4: key 'rrl-ipv4-prefix': 0 out of range 1..32");
    expect(BASE "  rrl-ipv6-prefix: 129\n", "t.conf:4: key 'rrl-ipv6-prefix': 129 out of range 1..128");
    expect(BASE "  control: 192.0.2.1@8954\n  control-use-cert: no\n",
           "t.conf:4: key 'control': must be a loopback address with control-use-cert: no");
    expect(BASE "  control: 127.0.0.1@8954\n", "t.conf:4: key 'control': needs control-cert-file, control-key-file");
    expect(BASE "  control-cert-file: /c.pem\n", "t.conf: key 'control-cert-file': needs control-cert-file");
    expect(BASE "  control-allow: Ops\n", "t.conf:4: key 'control-allow': bad identity 'Ops'");
    expect(BASE "  location: 95,0\n", "t.conf:4: key 'location': bad location '95,0'");
    expect(BASE "probe:\n  http-interval: 0\n", "t.conf:5: key 'http-interval': 0 out of range");
    expect(BASE "probe:\n  ewma-constant: fast\n", "t.conf:5: key 'ewma-constant': bad number 'fast'");
    expect(BASE "probe:\n  loss-penalty: 0.5:3 0.1:4\n", "t.conf:5: key 'loss-penalty': bad point '0.1:4'");
    expect(BASE "probe:\n  loss-penalty: lots\n", "t.conf:5: key 'loss-penalty': bad penalty 'lots'");
    expect(BASE "probe:\n  unmeasured: hide\n", "t.conf:5: key 'unmeasured': expected last or omit");
    expect(BASE "probe:\n  timeout: 10\n  http-interval: 10\n", "key 'timeout': must be shorter than http-interval");
    expect(BASE "probe:\n  source-address: 127.0.0.7\n  source-address: 127.0.0.8\n",
           "t.conf:6: key 'source-address': one source address per family");
    expect(BASE "resolver:\n  address: resolver.example\n", "t.conf:5: key 'address': bad address");
    expect(BASE SVC "  policy: fastest\n", "t.conf:7: key 'policy': unknown policy 'fastest'");
    expect(BASE SVC "  policy: proximity\n", "key 'policy': proximity needs 'location'");
    expect(BASE SVC "  answer-count: 0\n", "t.conf:7: key 'answer-count': 0 out of range");
    expect(BASE SVC "  site: tokyo 127.0.0.12 check=gopher://x/\n", "t.conf:7: key 'site': bad check URL");
    expect(BASE SVC "  site: tokyo 127.0.0.12 check=http://a..b/\n",
           "t.conf:7: key 'site': bad check URL 'http://a..b/': empty label in host name");
    expect(BASE SVC "  margin-ms: 10000.5\n", "t.conf:7: key 'margin-ms': bad number '10000.5' (0..10000)");
    expect(BASE SVC "  margin-ms: -1\n", "t.conf:7: key 'margin-ms': bad number '-1'");
    expect(BASE SVC "service:\n  name: a.www.foobar.example.\n  site: x 127.0.0.1\n",
           "t.conf:7: key 'name': service repeats or nests with the one at t.conf:4");
    expect("server:\n  listen: 0.0.0.0@53\n  id: lb1\n" SVC, "key 'ns-address': needed when every listen address is a wildcard");
}

/* metrics: and metrics-allow: (none by default; the default port; prefixes). */
static void test_metrics_keys(void **state)
{
    (void)state;
    char err[512], buf[GLB_ADDRSTRLEN];
    lb_conf *c = lb_conf_parse("t.conf", BASE "service:\n  name: a.example.\n  site: x 192.0.2.1\n", err, sizeof(err));
    assert_non_null(c);
    assert_false(c->has_metrics);
    assert_int_equal(c->nmetrics_allow, 0);
    lb_conf_free(c);
    c = lb_conf_parse("t.conf",
                  BASE "  metrics: 127.0.0.1\n  metrics-allow: 10.0.0.0/8\n  metrics-allow: 2001:db8::/32\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n",
                  err, sizeof(err));
    assert_non_null(c);
    assert_true(c->has_metrics);
    assert_string_equal(glb_addrport_str(&c->metrics, buf, sizeof(buf)), "127.0.0.1@9162");
    assert_int_equal(c->nmetrics_allow, 2);
    assert_string_equal(glb_prefix_str(&c->metrics_allow[0], buf, sizeof(buf)), "10.0.0.0/8");
    assert_string_equal(glb_prefix_str(&c->metrics_allow[1], buf, sizeof(buf)), "2001:db8::/32");
    lb_conf_free(c);
    expect(BASE "  metrics-allow: 10.0.0.0/33\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n", "t.conf:4: key 'metrics-allow'");
    expect(BASE "  metrics: nowhere\n" "service:\n  name: a.example.\n  site: x 192.0.2.1\n", "t.conf:4: key 'metrics'");
}

/* The control channel's mode: none without certificates, TLS with them
 * (given, or the dnsb: section's), plain only when asked for. */
static void test_control_keys(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", BASE, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->control_mode, LB_CONTROL_OFF);
    lb_conf_free(c);
    c = lb_conf_parse("t.conf", BASE "  control-use-cert: no\n", err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->control_mode, LB_CONTROL_PLAIN);
    assert_int_equal(c->control.port, 8954);
    lb_conf_free(c);
    c = lb_conf_parse("t.conf",
                      BASE "  control: 0.0.0.0@9000\n  control-cert-file: /s.pem\n  control-key-file: /s.key\n"
                           "  control-ca-file: /ca.pem\n  control-allow: ops1\n  control-allow: ops2\n",
                      err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->control_mode, LB_CONTROL_TLS); /* any address: clients need a certificate */
    assert_int_equal(c->control.port, 9000);
    assert_string_equal(c->control_key, "/s.key");
    assert_int_equal(c->control_allow.n, 2);
    assert_string_equal(c->control_allow.ids[1], "ops2");
    lb_conf_free(c);
    c = lb_conf_parse("t.conf",
                      BASE "dnsb:\n  map-server: 127.0.0.1\n  tls-cert-file: /lb.pem\n  tls-key-file: /lb.key\n"
                           "  tls-ca-file: /ca.pem\n",
                      err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->control_mode, LB_CONTROL_TLS);
    assert_string_equal(c->control_cert, "/lb.pem");
    assert_string_equal(c->control_ca, "/ca.pem");
    lb_conf_free(c);
}

/* mode: combined and its recursion: section. */
static void test_combined_keys(void **state)
{
    (void)state;
    char err[512], buf[GLB_ADDRSTRLEN];
    lb_conf *c = lb_conf_parse("t.conf",
                               BASE "  mode: combined\nrecursion:\n  access-control: 198.18.6.0/24\n"
                                    "  stub-zone: Foobar.Example 198.18.0.10 198.18.0.11@5353\n"
                                    "  unbound-option: \"do-ip6: no\"\n  forward-to: 198.18.0.53\n" SVC,
                               err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_true(c->combined);
    assert_int_equal(c->recursion.nallow, 1);
    assert_string_equal(glb_prefix_str(&c->recursion.allow[0], buf, sizeof(buf)), "198.18.6.0/24");
    assert_int_equal(c->recursion.nstubs, 2);
    assert_string_equal(c->recursion.stubs[1].zone, "foobar.example.");
    assert_string_equal(glb_addrport_str(&c->recursion.stubs[1].addr, buf, sizeof(buf)), "198.18.0.11@5353");
    assert_string_equal(glb_addrport_str(&c->recursion.forward[0], buf, sizeof(buf)), "198.18.0.53@53");
    assert_string_equal(c->recursion.options[0], "do-ip6: no");
    lb_recurse_conf copy;
    assert_int_equal(lb_recurse_conf_copy(&copy, &c->recursion), 0);
    lb_conf_free(c); /* the copy stands alone */
    assert_string_equal(copy.options[0], "do-ip6: no");
    assert_string_equal(copy.stubs[0].zone, "foobar.example.");
    lb_recurse_conf_fini(&copy);

    expect(BASE "  mode: combined\n" SVC, "t.conf: mode combined: no recursion: access-control");
    expect(BASE "  mode: resolver\n" SVC, "t.conf:4: key 'mode': must be lb or combined");
    expect(BASE "recursion:\n  access-control: 10.0.0.0/8\n" SVC, "t.conf: a recursion: section needs server: mode: combined");
    expect(BASE "  mode: combined\nrecursion:\n  access-control: 10.0.0.0/8\n  unbound-option: \"cache\"\n" SVC,
           "t.conf:7: key 'unbound-option': must be \"name: value\"");
    expect(BASE "  mode: combined\nrecursion:\n  access-control: 10.0.0.0/8\n  stub-zone: a.example. nowhere\n" SVC,
           "t.conf:7: key 'stub-zone': 'nowhere': not ADDR[@PORT]");
    expect(BASE "  mode: combined\nrecursion:\n  access-control: 10.0.0.0/8\n  root-hints: /nonexistent/hints\n" SVC,
           "t.conf: key 'root-hints': cannot read '/nonexistent/hints'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_defaults_and_penalty),
        cmocka_unit_test(test_margin_ms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_metrics_keys),
        cmocka_unit_test(test_control_keys),
        cmocka_unit_test(test_combined_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
