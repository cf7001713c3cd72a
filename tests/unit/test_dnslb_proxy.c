/* Unit tests for the proxy-cache mode's VCL (dnslb/proxy.c): the rendering
 * of a ranking against a golden file (tests/unit/data/proxy.vcl: answer set
 * first in a random director, then the next sites in rank, dead ones out,
 * one backend per address, the check URL's port), the escaping of names
 * that cannot be VCL identifiers or literal regex text, fail-open, a
 * service with no site ranked; and the proxy: section's checks. Set
 * GLB_UPDATE_GOLDEN=1 to rewrite the golden file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dnslb/answer.h"
#include "dnslb/conf.h"
#include "dnslb/proxy.h"
#include "dnslb/table.h"

static const char *conf_text =
    "server:\n"
    "  listen: 127.0.0.42@5300\n"
    "  id: lb42\n"
    "proxy:\n"
    "  engine: varnish\n"
    "  address: 127.0.0.42@8080\n"
    "  address: ::1@8080\n"
    "  varnish-name: /var/lib/glb/varnish\n"
    "  vcl-dir: /var/lib/glb/vcl\n"
    "  origin-port: 8000\n"
    "service:\n"
    "  name: www.foobar.example.\n"
    "  answer-count: 2\n"
    "  site: paris 192.0.2.10 2001:db8::10 check=http://192.0.2.10:8081/health\n"
    "  site: tokyo 192.0.2.20 weight=3 check=https://192.0.2.20/\n"
    "  site: rome 192.0.2.30\n"
    "  site: 9-lives 192.0.2.40\n"
    "service:\n"
    "  name: we\\034ird}.\\092x.example.\n"
    "  proxy-answer: yes\n"
    "  site: a 198.51.100.1\n"
    "service:\n"
    "  name: empty.example.\n"
    "  site: z 198.51.100.9\n";

static char *render(const lb_conf *c, const lb_table *t)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(lb_proxy_render(t, c, c->id, b), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = 0;
    evbuffer_free(b);
    return s;
}

static char *golden_path(void)
{
    static char path[4096];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof(path), "%s/tests/unit/data/proxy.vcl", top ? top : ".");
    return path;
}

static void test_render_golden(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", conf_text, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    lb_table *t = lb_table_new(c, 1, NULL);
    assert_non_null(t);
    /* www: tokyo and paris share first place, then 9-lives; rome is dead (not ranked). */
    const glb_site *r[4] = {&c->services[0].sites[1], &c->services[0].sites[0], &c->services[0].sites[3]};
    assert_int_equal(lb_table_set_rank(t, 0, r, 3, 2, 0, 0), 0);
    r[0] = &c->services[1].sites[0];
    assert_int_equal(lb_table_set_rank(t, 1, r, 1, 1, 1, 0), 0); /* fail-open */
    assert_int_equal(lb_table_set_rank(t, 2, r, 0, 1, 0, 0), 0); /* nothing ranked */
    char *got = render(c, t);
    const char *path = golden_path();
    if (getenv("GLB_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    static char want[65536];
    size_t n = fread(want, 1, sizeof(want) - 1, f);
    want[n] = 0;
    fclose(f);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "got:\n%s\n", got);
        fail_msg("the rendered VCL differs from %s", path);
    }
    /* Escaping: no name reaches the VCL as anything but \xHH or an identifier. */
    assert_non_null(strstr(got, "we\\x22ird\\x7d\\.\\x5cx\\.example"));
    assert_null(strstr(got, "we\"ird"));
    assert_non_null(strstr(got, "backend glb_0_9_lives_0 "));
    free(got);
    lb_table_free(t);
    lb_conf_free(c);
}

/* The same ranking renders the same text (loads happen only on changes);
 * another order renders another. */
static void test_render_changes_with_ranking(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", conf_text, err, sizeof(err));
    assert_non_null(c);
    const glb_site *r[4] = {&c->services[0].sites[0], &c->services[0].sites[2]};
    lb_table *t1 = lb_table_new(c, 1, NULL), *t2 = lb_table_new(c, 2, NULL), *t3 = lb_table_new(c, 3, NULL);
    assert_int_equal(lb_table_set_rank(t1, 0, r, 2, 1, 0, 0), 0);
    assert_int_equal(lb_table_set_rank(t2, 0, r, 2, 1, 0, 5), 0);
    r[0] = &c->services[0].sites[2];
    r[1] = &c->services[0].sites[0];
    assert_int_equal(lb_table_set_rank(t3, 0, r, 2, 1, 0, 0), 0);
    char *a = render(c, t1), *b = render(c, t2), *d = render(c, t3);
    assert_string_equal(a, b);
    assert_string_not_equal(a, d);
    /* rome first now, paris next: retry 1 goes to paris's first address */
    assert_non_null(strstr(d, "glb_0_best.add_backend(glb_0_rome_0, 1);"));
    assert_non_null(strstr(d, "bereq.retries == 1) {\n            set bereq.backend = glb_0_paris_0;"));
    free(a);
    free(b);
    free(d);
    lb_table_free(t1);
    lb_table_free(t2);
    lb_table_free(t3);
    lb_conf_free(c);
}

/* proxy-answer: the A/AAAA of <label>.<service> are the proxy: section's
 * addresses by family, whatever the ranking; other services their sites. */
static void expect_error(const char *text, const char *want);

static char *answer_of(const lb_table *t, const char *name, ldns_rr_type type)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
    uint8_t *wire, out[4096];
    size_t n;
    assert_int_equal(ldns_pkt2wire(&wire, q, &n), LDNS_STATUS_OK);
    lb_stats st;
    memset(&st, 0, sizeof(st));
    size_t len = lb_answer(t, wire, n, 0, 0, out, sizeof(out), &st);
    free(wire);
    ldns_pkt_free(q);
    ldns_pkt *r = NULL;
    assert_int_equal(ldns_wire2pkt(&r, out, len), LDNS_STATUS_OK);
    static char buf[1024];
    buf[0] = 0;
    ldns_rr_list *an = ldns_pkt_answer(r);
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        char *a = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, i), 0));
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", a);
        free(a);
    }
    ldns_pkt_free(r);
    return buf;
}

static void test_proxy_answer(void **state)
{
    (void)state;
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", conf_text, err, sizeof(err));
    assert_non_null(c);
    /* make www a proxy-answer service too, the weird one stays one */
    c->services[0].proxy_answer = 1;
    c->services[2].proxy_answer = 0;
    lb_table *t = lb_table_new(c, 1, NULL);
    assert_non_null(t);
    const glb_site *r[2] = {&c->services[0].sites[0]};
    assert_int_equal(lb_table_set_rank(t, 0, r, 1, 1, 0, 1e9), 0);
    r[0] = &c->services[2].sites[0];
    assert_int_equal(lb_table_set_rank(t, 2, r, 1, 1, 0, 1e9), 0);
    assert_string_equal(answer_of(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_A), "127.0.0.42");
    assert_string_equal(answer_of(t, "lb42.www.foobar.example.", LDNS_RR_TYPE_AAAA), "::1");
    assert_string_equal(answer_of(t, "x.empty.example.", LDNS_RR_TYPE_A), "198.51.100.9");
    lb_table_free(t);
    lb_conf_free(c);
}

/* Peers: asked first, with X-Glb-Peer-Lookup, then the origins; a peer's
 * miss (X-Glb-Peer-Miss) or failure goes on to the next. */
static void test_render_peers(void **state)
{
    (void)state;
    char err[512], text[4096];
    const char *at = strstr(conf_text, "  origin-port: 8000\n");
    assert_non_null(at);
    snprintf(text, sizeof(text), "%.*s  peer: lb-7 127.0.0.43@8080\n  peer: lb9 2001:db8::9@81\n%s",
             (int)(at - conf_text), conf_text, at);
    lb_conf *c = lb_conf_parse("t.conf", text, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->proxy.npeers, 2);
    lb_table *t = lb_table_new(c, 1, NULL);
    const glb_site *r[2] = {&c->services[0].sites[2], &c->services[0].sites[1]};
    assert_int_equal(lb_table_set_rank(t, 0, r, 2, 1, 0, 0), 0);
    char *got = render(c, t);
    if (getenv("GLB_DUMP_PEERS"))
        fputs(got, stderr);
    assert_non_null(strstr(got, "backend glb_peer_lb_7 { # peer lb-7, asked first for what its cache holds\n"
                                "    .host = \"127.0.0.43\";\n    .port = \"8080\";"));
    assert_non_null(strstr(got, "    .host = \"2001:db8::9\";\n    .port = \"81\";"));
    assert_non_null(strstr(got, "        if (bereq.retries == 0) {\n            set bereq.backend = glb_peer_lb_7;\n"
                                "            set bereq.http.X-Glb-Peer-Lookup = \"1\";\n"
                                "        } else if (bereq.retries == 1) {\n            set bereq.backend = glb_peer_lb9;\n"));
    assert_non_null(strstr(got, "        } else if (bereq.retries == 2) {\n            set bereq.backend = glb_0.backend();\n"
                                "        } else if (bereq.retries == 3) {\n            set bereq.backend = glb_0_tokyo_0;\n"));
    assert_non_null(strstr(got, "        if (bereq.retries < 3) {\n            return (retry);"));
    assert_non_null(strstr(got, "set resp.http.X-Glb-Peer = \"lb42\";"));
    free(got);
    lb_table_free(t);
    lb_conf_free(c);
    expect_error("server:\n  listen: 127.0.0.1@53\n  id: x\nproxy:\n  peer: Bad_Name 127.0.0.1\n",
                 "t.conf:5: key 'peer': bad peer name 'Bad_Name'");
}

static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    lb_conf *c = lb_conf_parse("t.conf", text, err, sizeof(err));
    if (c)
        fail_msg("accepted: %s", text);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_proxy_conf(void **state)
{
    (void)state;
    const char *base = "server:\n  listen: 127.0.0.1@5300\n  id: x\n";
    char text[1024];
    snprintf(text, sizeof(text), "%sproxy:\n  engine: squid\n", base);
    expect_error(text, "t.conf:5: key 'engine': unknown engine 'squid'");
    snprintf(text, sizeof(text), "%sproxy:\n  engine: varnish\n  address: 127.0.0.1\n  varnish-name: rel\n", base);
    expect_error(text, "t.conf:7: key 'varnish-name': must be an absolute path");
    snprintf(text, sizeof(text), "%sproxy:\n  engine: varnish\n  address: 127.0.0.1\n", base);
    expect_error(text, "varnish-name");
    snprintf(text, sizeof(text), "%sservice:\n  name: a.example\n  proxy-answer: yes\n  site: a 192.0.2.1\n", base);
    expect_error(text, "t.conf:4: key 'proxy-answer': needs a proxy: section");
    char err[512];
    lb_conf *c = lb_conf_parse("t.conf", conf_text, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(c->proxy.enabled, 1);
    assert_int_equal(c->proxy.naddrs, 2);
    assert_int_equal(c->proxy.addrs[0].port, 8080);
    assert_int_equal(c->proxy.min_interval, 5);
    assert_int_equal(c->services[1].proxy_answer, 1);
    assert_int_equal(c->map.nproxy, 2); /* announced to the DNS-Bs by default */
    lb_conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_golden),
        cmocka_unit_test(test_render_changes_with_ranking),
        cmocka_unit_test(test_render_peers),
        cmocka_unit_test(test_proxy_conf),
        cmocka_unit_test(test_proxy_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
