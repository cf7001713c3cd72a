/* Unit tests for shared/cfg: the grammar, every error kind, include. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Bytes a text file does not hold are errors at their line, never the end
 * of the file (issue 11: a NUL cut the file short, silently). */
static void test_bad_bytes(void **state)
{
    (void)state;
    expect_error("server:\n  port: 53\n\x01  verbose: yes\n", "test.conf:3: control character 0x01 at column 1");
    expect_error("server:\n  name: a\x7f\n", "test.conf:2: control character 0x7f at column 10");
    expect_error("server:\n  name: caf\xe9\n", "test.conf:2: invalid UTF-8 at column 12");
    expect_error("server:\n  name: \xc0\xaf\n", "test.conf:2: invalid UTF-8 at column 9");        /* overlong */
    expect_error("server:\n  name: \xed\xa0\x80\n", "test.conf:2: invalid UTF-8 at column 9");    /* surrogate */
    expect_error("server:\n  name: \xe2\x82\n", "test.conf:2: invalid UTF-8 at column 9");        /* cut short */
    toy t;
    char err[256];
    /* tab, CR LF and UTF-8 are fine */
    assert_int_equal(parse("server:\r\n\tname: \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\r\n", &t, err, sizeof(err)), 0);
    assert_string_equal(t.name, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static char tmpdir[64];

static const char *tmp_file(const char *name, const void *data, size_t len)
{
    static char path[128];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/glb-test-cfg-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    if (data) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        fclose(f);
    }
    return path;
}

static void expect_file_error(const char *path, const char *want)
{
    toy t;
    char err[512];
    memset(&t, 0, sizeof(t));
    assert_int_equal(glb_cfg_parse_file(path, &schema, &t, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

/* A NUL in a file, a FIFO, /dev/zero, a file over the limit: each refused,
 * at once (alarm: the old reader blocked on the FIFO and read /dev/zero
 * without end). */
static void test_file_limits(void **state)
{
    (void)state;
    alarm(20);
    static const char nul[] = "server:\n  port: 53\n  name: a\0b\n  verbose: maybe\n";
    const char *p = tmp_file("nul.conf", nul, sizeof(nul) - 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:3: NUL byte at column 10", p);
    expect_file_error(p, want);
    /* the same through include: reported in the included file */
    char inc[300];
    snprintf(inc, sizeof(inc), "server:\n  port: 53\ninclude: %s\n", p);
    expect_file_error(tmp_file("inc.conf", inc, strlen(inc)), want);

    static const char esc[] = "server:\n  port: 53\n  name: \x1b[31m\n";
    p = tmp_file("esc.conf", esc, sizeof(esc) - 1);
    snprintf(want, sizeof(want), "%s:3: control character 0x1b at column 9", p);
    expect_file_error(p, want);

    p = tmp_file("fifo.conf", NULL, 0);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(want, sizeof(want), "%s: cannot read: not a regular file", p);
    expect_file_error(p, want);
    snprintf(inc, sizeof(inc), "server:\n  port: 53\ninclude: %s\n", p);
    expect_file_error(tmp_file("inc.conf", inc, strlen(inc)), "inc.conf:3: key 'include': cannot read");
    unlink(p);

    expect_file_error("/dev/zero", "/dev/zero: cannot read: not a regular file");

    /* one byte over the limit (sparse: no disk used) */
    p = tmp_file("big.conf", "server:\n", 8);
    assert_int_equal(truncate(p, GLB_CFG_MAX_BYTES + 1), 0);
    snprintf(want, sizeof(want), "%s: cannot read: larger than 16 MiB", p);
    expect_file_error(p, want);
    unlink(p);
    unlink(tmp_file("nul.conf", NULL, 0));
    unlink(tmp_file("inc.conf", NULL, 0));
    unlink(tmp_file("esc.conf", NULL, 0));
    rmdir(tmpdir);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_include),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_file_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
