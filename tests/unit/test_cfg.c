/* Unit tests for shared/cfg: the grammar, every error kind, include. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/cfg.h"

typedef struct toy {
    char name[64];
    long long port;
    int verbose;
    int nlisten;
    int nservices;
    int nsites;
    char lastsite[64];
    int site_words;
    glb_prefix pfx;
    size_t zone_len;
} toy;

static const char *h_name(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    snprintf(((toy *)ctx)->name, 64, "%s", v->str);
    return NULL;
}
static const char *h_port(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    ((toy *)ctx)->port = v->num;
    return NULL;
}
static const char *h_verbose(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    ((toy *)ctx)->verbose = (int)v->num;
    return NULL;
}
static const char *h_listen(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    ((toy *)ctx)->nlisten += v->addr.port == 5300;
    return NULL;
}
static const char *h_site(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    toy *t = ctx;
    if (strcmp(v->words[0], "bad") == 0) {
        snprintf(e, el, "site '%s' is refused", v->words[0]);
        return e;
    }
    t->nsites++;
    t->site_words = v->nwords;
    snprintf(t->lastsite, sizeof(t->lastsite), "%s", v->words[v->nwords - 1]);
    return NULL;
}
static const char *h_prefix(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    ((toy *)ctx)->pfx = v->prefix;
    return NULL;
}
static const char *h_zone(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)e, (void)el;
    ((toy *)ctx)->zone_len = v->dname_len;
    return NULL;
}
static const char *begin(void *ctx, const char *section, const char *file, unsigned line)
{
    (void)file, (void)line;
    if (strcmp(section, "service") == 0)
        ((toy *)ctx)->nservices++;
    return NULL;
}

static const glb_cfg_key keys[] = {
    {"server", "name", GLB_CFG_STR, 0, 0, 0, 0, h_name, "a name", 0},
    {"server", "port", GLB_CFG_INT, 0, 1, 65535, 0, h_port, "a port", 0},
    {"server", "verbose", GLB_CFG_BOOL, 0, 0, 0, 0, h_verbose, "yes or no", 0},
    {"server", "listen", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT, 0, 0, 53, h_listen, "ADDR@PORT", 0},
    {"server", "zone", GLB_CFG_DNAME, 0, 0, 0, 0, h_zone, "a zone", 0},
    {"service", "name", GLB_CFG_DNAME, GLB_CFG_REQUIRED, 0, 0, 0, NULL, "service name", 0},
    {"service", "site", GLB_CFG_WORDS, GLB_CFG_REPEAT, 2, 5, 0, h_site, "NAME ADDR...", 0},
    {"service", "prefix", GLB_CFG_PREFIX, 0, 0, 0, 0, h_prefix, "a prefix", 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0},
};
static const glb_cfg_schema schema = {keys, begin, NULL, NULL};

static int parse(const char *text, toy *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    return glb_cfg_parse_string("test.conf", text, &schema, t, err, errlen);
}

static void test_grammar(void **state)
{
    (void)state;
    toy t;
    char err[256];
    const char *text = "# leading comment\n"
                       "server:\n"
                       "    name: \"quoted # not a comment\"   # a comment\n"
                       "    port: 5300\n"
                       "    verbose: yes\n"
                       "    listen: 127.0.0.1@5300\n"
                       "    listen: ::1@5300\n"
                       "    zone: Glb.Example.NET\n"
                       "\n"
                       "service:\n"
                       "    name: www.foobar.example.\n"
                       "    site: paris 192.0.2.10 \"weight=2\"\n"
                       "    site: tokyo 192.0.2.20\n"
                       "    prefix: 10.0.0.0/8\n"
                       "service:\n"
                       "    name: other.example.\n";
    assert_int_equal(parse(text, &t, err, sizeof(err)), 0);
    assert_string_equal(t.name, "quoted # not a comment");
    assert_int_equal(t.port, 5300);
    assert_int_equal(t.verbose, 1);
    assert_int_equal(t.nlisten, 2);
    assert_int_equal(t.nservices, 2);
    assert_int_equal(t.nsites, 2);
    assert_string_equal(t.lastsite, "192.0.2.20");
    assert_int_equal(t.pfx.len, 8);
    assert_int_equal(t.zone_len, 17);
}

/* Each error names file:line and the key. */
static void expect_error(const char *text, const char *want)
{
    toy t;
    char err[256];
    assert_int_equal(parse(text, &t, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("server:\n  nmae: x\n", "test.conf:2: key 'nmae': unknown in section 'server'");
    expect_error("server:\n  port: 99999\n", "test.conf:2: key 'port': 99999 out of range 1..65535");
    expect_error("server:\n  port: 53a\n", "test.conf:2: key 'port': bad number '53a'");
    expect_error("server:\n  verbose: maybe\n", "test.conf:2: key 'verbose': expected yes or no");
    expect_error("server:\n\n  listen: 300.0.0.1\n", "test.conf:3: key 'listen': bad address '300.0.0.1'");
    expect_error("server:\n  zone: a..b\n", "test.conf:2: key 'zone': bad domain name");
    expect_error("server:\n  port: 53\n  port: 54\n", "test.conf:3: key 'port': given twice");
    expect_error("port: 53\n", "test.conf:1: key 'port': outside any section");
    expect_error("service:\n  site: paris 1.2.3.4\n", "test.conf:1: key 'name': missing, required in section 'service'");
    expect_error("service:\n  name: a.\n  site: paris\n", "test.conf:3: key 'site': expected 2 to 5 values, got 1");
    expect_error("service:\n  name: a.\n  site: bad 1.2.3.4\n", "test.conf:3: key 'site': site 'bad' is refused");
    expect_error("service:\n  name: a.\n  prefix: 10.0.0.1/8\n", "test.conf:3: key 'prefix': bad prefix '10.0.0.1/8': host bits");
    expect_error("server:\n  name: \"open\n", "test.conf:2: key 'name': unterminated quote");
    expect_error("server:\n  just words\n", "test.conf:2: expected 'key: value'");
    expect_error("server:\n  port:\n", "test.conf:2: key 'port': missing value");
    expect_error("server:\n  include: /nonexistent/x.conf\n", "test.conf:2: key 'include': cannot read");
}

static void test_include(void **state)
{
    (void)state;
    char dir[] = "/tmp/glb-test-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char main_path[512], inc_path[512], loop_path[512];
    snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
    snprintf(inc_path, sizeof(inc_path), "%s/svc.conf", dir);
    snprintf(loop_path, sizeof(loop_path), "%s/loop.conf", dir);
    FILE *f = fopen(main_path, "w");
    fputs("server:\n  port: 53\ninclude: svc.conf\n", f);
    fclose(f);
    f = fopen(inc_path, "w");
    fputs("service:\n  name: a.example.\n  site: x 1.2.3.4\n  port: 7\n", f);
    fclose(f);
    f = fopen(loop_path, "w");
    fputs("include: loop.conf\n", f);
    fclose(f);

    toy t;
    char err[512];
    memset(&t, 0, sizeof(t));
    /* The error is reported in the included file, at its own line. */
    assert_int_equal(glb_cfg_parse_file(main_path, &schema, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "svc.conf:4: key 'port': unknown in section 'service'"));
    f = fopen(inc_path, "w");
    fputs("service:\n  name: a.example.\n  site: x 1.2.3.4\n", f);
    fclose(f);
    memset(&t, 0, sizeof(t));
    assert_int_equal(glb_cfg_parse_file(main_path, &schema, &t, err, sizeof(err)), 0);
    assert_int_equal(t.port, 53);
    assert_int_equal(t.nsites, 1);
    assert_int_equal(glb_cfg_parse_file(loop_path, &schema, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nested more than"));
    unlink(main_path);
    unlink(inc_path);
    unlink(loop_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_include),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
