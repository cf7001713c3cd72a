/* Unit tests for shared/metrics.c: stat lines rendered as Prometheus text
 * (names, labels, escaping, families, types) and as JSON.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shared/metrics.h"

/* The buffer's text, NUL-terminated, freed by the caller; empties b. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static char *render(const char *text, const glb_metric_rule *rules)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    glb_metrics_render(b, text, strlen(text), rules, "glb");
    char *s = take(b);
    evbuffer_free(b);
    return s;
}

static void test_escape(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    glb_metrics_escape(b, "a\\b\"c\nd");
    char *s = take(b);
    assert_string_equal(s, "a\\\\b\\\"c\\nd");
    free(s);
    const char *kv[] = {"service", "www.example", "site", "pa\"ris\\\n"};
    glb_stats_labels(b, kv, 2);
    s = take(b);
    assert_string_equal(s, "{service=\"www.example\",site=\"pa\\\"ris\\\\\\n\"}");
    free(s);
    glb_stats_labels(b, kv, 0);
    s = take(b);
    assert_string_equal(s, "{}");
    free(s);
    evbuffer_free(b);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(glb_metrics_name_ok("glb_dns_queries_total", 0));
    assert_true(glb_metrics_name_ok("glb:rule_x9", 0));
    assert_true(glb_metrics_name_ok("_x", 0));
    assert_false(glb_metrics_name_ok("9glb", 0));
    assert_false(glb_metrics_name_ok("glb.dns", 0));
    assert_false(glb_metrics_name_ok("glb-dns", 0));
    assert_false(glb_metrics_name_ok("", 0));
    assert_true(glb_metrics_name_ok("service", 1));
    assert_false(glb_metrics_name_ok("a:b", 1));
    assert_false(glb_metrics_name_ok("1a", 1));
}

#define C(stat, metric, label, value, help) {stat, metric, "counter", label, value, help}
#define G(stat, metric, label, value, help) {stat, metric, "gauge", label, value, help}
static const glb_metric_rule rules[] = {
    C("dns.referral", "glb_dns_answers_total", "kind", "referral", "answers by kind"),
    C("dns.zone", "glb_dns_answers_total", "kind", "zone", "answers by kind"),
    C("map.rejected.", "glb_map_rejected_total", "reason", NULL, "by reason"),
    G("map.sessions", "glb_map_sessions", NULL, NULL, "open now"),
    G("registry.registrations", "", NULL, NULL, NULL),
    C("map.", NULL, NULL, NULL, NULL),
    G("site.up", "glb_site_up", NULL, NULL, "1 when alive\nor \\ not"),
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* Families grouped (one HELP and TYPE each, even when their lines are not
 * together), labels from the rule and from the line, the common rules, the
 * automatic names, lines left out. */
static void test_render(void **state)
{
    (void)state;
    char *s = render("dns.queries=7\n"
                     "dns.referral=3\n"
                     "dns.refused=2\n"
                     "dns.zone=4\n"
                     "map.rejected.not-allowed=1\n"
                     "map.rejected.other=0\n"
                     "map.sessions=2\n"
                     "map.frames_in=10\n"
                     "registry.registrations=5\n"
                     "odd.thing=1.5\n"
                     "site.up{service=\"www.example\",site=\"a\\\"b\"}=1\n"
                     "site.up{service=\"www.example\",site=\"c\"}=0\n"
                     "bad line\n"
                     "bad.value=12abc\n"
                     "bad.labels{x=\"unterminated}=1\n"
                     "bad.escape{x=\"\\t\"}=1\n"
                     "nan.value=NaN\n",
                     rules);
    assert_string_equal(s,
                        "# HELP glb_dns_queries_total DNS queries answered by the answering threads\n"
                        "# TYPE glb_dns_queries_total counter\n"
                        "glb_dns_queries_total 7\n"
                        "# HELP glb_dns_answers_total answers by kind\n"
                        "# TYPE glb_dns_answers_total counter\n"
                        "glb_dns_answers_total{kind=\"referral\"} 3\n"
                        "glb_dns_answers_total{kind=\"zone\"} 4\n"
                        "# HELP glb_dns_error_responses_total DNS responses with an error rcode, by rcode "
                        "(NOERROR responses: glb_dns_answers_total)\n"
                        "# TYPE glb_dns_error_responses_total counter\n"
                        "glb_dns_error_responses_total{rcode=\"REFUSED\"} 2\n"
                        "# HELP glb_map_rejected_total by reason\n"
                        "# TYPE glb_map_rejected_total counter\n"
                        "glb_map_rejected_total{reason=\"not-allowed\"} 1\n"
                        "glb_map_rejected_total{reason=\"other\"} 0\n"
                        "# HELP glb_map_sessions open now\n"
                        "# TYPE glb_map_sessions gauge\n"
                        "glb_map_sessions 2\n"
                        "# HELP glb_map_frames_in_total map.frames_in of the control command stats\n"
                        "# TYPE glb_map_frames_in_total counter\n"
                        "glb_map_frames_in_total 10\n"
                        "# HELP glb_odd_thing odd.thing of the control command stats\n"
                        "# TYPE glb_odd_thing untyped\n"
                        "glb_odd_thing 1.5\n"
                        "# HELP glb_site_up 1 when alive\\nor \\\\ not\n"
                        "# TYPE glb_site_up gauge\n"
                        "glb_site_up{service=\"www.example\",site=\"a\\\"b\"} 1\n"
                        "glb_site_up{service=\"www.example\",site=\"c\"} 0\n"
                        "# HELP glb_nan_value nan.value of the control command stats\n"
                        "# TYPE glb_nan_value untyped\n"
                        "glb_nan_value NaN\n");
    free(s);
}

/* A rule's label and the line's labels together; no rules at all. */
static void test_render_labels(void **state)
{
    (void)state;
    static const glb_metric_rule r[] = {
        G("site.state", "glb_site_state", "kind", "x", "h"),
        {NULL, NULL, NULL, NULL, NULL, NULL},
    };
    char *s = render("site.state{site=\"a\",state=\"up\"}=1\nsite.state{}=0\n", r);
    assert_string_equal(s, "# HELP glb_site_state h\n# TYPE glb_site_state gauge\n"
                           "glb_site_state{kind=\"x\",site=\"a\",state=\"up\"} 1\n"
                           "glb_site_state{kind=\"x\"} 0\n");
    free(s);
    s = render("", NULL);
    assert_string_equal(s, "");
    free(s);
    s = render("a-b.c=1", NULL); /* no final newline */
    assert_string_equal(s, "# HELP glb_a_b_c a-b.c of the control command stats\n# TYPE glb_a_b_c untyped\nglb_a_b_c 1\n");
    free(s);
}

static void test_json(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    const char *text = "dns.queries=7\n"
                       "site.up{service=\"www\",site=\"a\\\"b\\\\\\n\"}=1\n"
                       "site.up{service=\"www\",site=\"c\"}=0\n"
                       "site.loss_ratio{site=\"c\"}=NaN\n"
                       "x.ratio=0.25\n"
                       "bad\n"
                       "big=18446744073709551615\n";
    assert_int_equal(glb_stats_json(b, text, strlen(text)), 6);
    char *s = take(b);
    assert_string_equal(s, "{\n \"dns.queries\": 7,\n"
                           " \"site.up\": [{\"service\": \"www\", \"site\": \"a\\\"b\\\\\\n\", \"value\": 1}, "
                           "{\"service\": \"www\", \"site\": \"c\", \"value\": 0}],\n"
                           " \"site.loss_ratio\": [{\"site\": \"c\", \"value\": null}],\n"
                           " \"x.ratio\": 0.25,\n"
                           " \"big\": 18446744073709551615\n}\n");
    free(s);
    text = "version: dnsb 1.0\nuptime: 12 s\nservices: 3\nzone: a.\"b\n\nnot a line\n";
    glb_status_json(b, text, strlen(text));
    s = take(b);
    assert_string_equal(s, "{\n \"version\": \"dnsb 1.0\",\n \"uptime\": \"12 s\",\n \"services\": 3,\n"
                           " \"zone\": \"a.\\\"b\"\n}\n");
    free(s);
    evbuffer_free(b);
}

/* Measurements for the status page: 6 digits, null for what is not measured;
 * strings escaped so that a name cannot end the string. */
static void test_json_values(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    double v[] = {12.345678, 0, 0.25, NAN, INFINITY, -3};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        glb_json_number(b, v[i]);
        evbuffer_add(b, " ", 1);
    }
    glb_json_string(b, "a\"</b>\x01", 7);
    char *s = take(b);
    assert_string_equal(s, "12.3457 0 0.25 null null -3 \"a\\\"</b>\\u0001\"");
    free(s);
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_labels),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
