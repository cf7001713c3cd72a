/* Unit tests for shared/site: the site line shared by every daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "shared/site.h"

static int parse(char *line, glb_site *s, char *err, size_t errlen)
{
    char *words[32];
    int n = 0;
    for (char *w = strtok(line, " "); w && n < 32; w = strtok(NULL, " "))
        words[n++] = w;
    return glb_site_parse(words, n, s, err, errlen);
}

static void test_full_line(void **state)
{
    (void)state;
    glb_site s;
    char err[256];
    char line[] = "paris 127.0.0.11 2001:db8::11 weight=2 cost=3 location=48.86,2.35 "
                  "check=https://127.0.0.11:18443/probe check-verify=no";
    assert_int_equal(parse(line, &s, err, sizeof(err)), 0);
    assert_string_equal(s.name, "paris");
    assert_int_equal(s.naddrs, 2);
    assert_int_equal(s.addrs[1].family, AF_INET6);
    assert_int_equal(s.weight, 2);
    assert_true(s.cost > 2.99 && s.cost < 3.01);
    assert_true(s.has_location);
    assert_true(s.lat > 48.85 && s.lon < 2.36);
    assert_string_equal(s.check, "https://127.0.0.11:18443/probe");
    assert_int_equal(s.check_verify, 0);
}

static void test_host_and_defaults(void **state)
{
    (void)state;
    glb_site s;
    char err[256];
    char line[] = "mirror www.mirror.example check=http://www.mirror.example/probe";
    assert_int_equal(parse(line, &s, err, sizeof(err)), 0);
    assert_string_equal(s.host, "www.mirror.example");
    assert_int_equal(s.naddrs, 0);
    assert_int_equal(s.weight, 1);
    assert_int_equal(s.check_verify, 1);
}

static void expect_error(const char *text, const char *want)
{
    glb_site s;
    char err[256], line[512];
    strcpy(line, text);
    if (parse(line, &s, err, sizeof(err)) != -1)
        fail_msg("accepted '%s'", text);
    if (!strstr(err, want))
        fail_msg("'%s' does not contain '%s'", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("paris", "expected NAME");

    expect_error("Paris 192.0.2.1", "bad site name 'Paris'");
    expect_error("paris 192.0.2.1 weight=-1", "bad weight");
    expect_error("paris 192.0.2.1 location=91,0", "bad location");
    expect_error("paris 192.0.2.1 location=48", "bad location");
    expect_error("paris 192.0.2.1 check=ftp://x/", "bad check URL");
    expect_error("paris 192.0.2.1 check-verify=maybe", "check-verify must be yes or no");
    expect_error("paris 192.0.2.1 speed=9", "unknown site option 'speed'");
    expect_error("paris 192.0.2.1 host.example", "neither an address");
    expect_error("paris host.example 192.0.2.1", "not both");
    expect_error("paris weight=1", "no address or host name");
    expect_error("paris 192.0.2.300", "neither an address");
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(glb_id_valid("lb42"));
    assert_true(glb_id_valid("a-b"));
    assert_false(glb_id_valid(""));
    assert_false(glb_id_valid("-a"));
    assert_false(glb_id_valid("a-"));
    assert_false(glb_id_valid("LB"));
    assert_false(glb_id_valid("a.b"));
    assert_false(glb_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_line),
        cmocka_unit_test(test_host_and_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
