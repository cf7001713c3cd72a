/* Unit tests for the pure helpers of dnslb/whoami: reading a DNS-B's whoami
 * TXT answer (what egress address gets claimed, what is refused) and the
 * nameserver lines of resolv.conf (which resolvers get asked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnslb/whoami.h"

/* Builds TXT RDATA from strings (each becomes one character-string). */
static size_t txt(uint8_t *out, size_t cap, const char *const *strs, size_t n)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(strs[i]);
        assert_true(l < 256 && pos + 1 + l <= cap);
        out[pos++] = (uint8_t)l;
        memcpy(out + pos, strs[i], l);
        pos += l;
    }
    return pos;
}

/* Parses the TXT record made of the strings given (NULL-terminated list). */
static int parse(lb_whoami_txt *out, ...)
{
    const char *strs[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, out);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        assert_true(n < 16);
        strs[n++] = s;
    }
    va_end(ap);
    uint8_t b[1024];
    size_t l = txt(b, sizeof(b), strs, n);
    return lb_whoami_parse_txt(b, l, out);
}
#define PARSE(out, ...) parse((out), __VA_ARGS__, (const char *)NULL)

static void assert_addr(const glb_addr *a, const char *s)
{
    char buf[GLB_ADDRSTRLEN];
    assert_string_equal(glb_addr_str(a, buf, sizeof(buf)), s);
    assert_int_equal(a->port, 0);
}

static void test_txt_valid(void **state)
{
    (void)state;
    lb_whoami_txt t;
    assert_int_equal(PARSE(&t, "src=192.0.2.53"), 0);
    assert_int_equal(t.has_src, 1);
    assert_int_equal(t.src.family, AF_INET);
    assert_addr(&t.src, "192.0.2.53");
    assert_int_equal(t.has_ecs, 0);

    assert_int_equal(PARSE(&t, "src=2001:db8::53"), 0);
    assert_int_equal(t.src.family, AF_INET6);
    assert_addr(&t.src, "2001:db8::53");

    /* ecs before or after src, v4 or v6 */
    assert_int_equal(PARSE(&t, "ecs=198.51.100.0/24", "src=192.0.2.1"), 0);
    assert_addr(&t.src, "192.0.2.1");
    assert_int_equal(t.has_ecs, 1);
    assert_int_equal(t.ecs.family, AF_INET);
    assert_int_equal(t.ecs.len, 24);
    assert_int_equal(t.ecs.b[0], 198);
    assert_int_equal(t.ecs.b[2], 100);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=2001:db8:aa::/48"), 0);
    assert_int_equal(t.has_ecs, 1);
    assert_int_equal(t.ecs.family, AF_INET6);
    assert_int_equal(t.ecs.len, 48);

    /* unknown strings (a later version's) are ignored, wherever they are */
    assert_int_equal(PARSE(&t, "v=2", "src=192.0.2.9", "", "colour=blue", "SRC=10.9.9.9"), 0);
    assert_addr(&t.src, "192.0.2.9");
    assert_int_equal(t.has_ecs, 0);

    /* an old output is overwritten, not merged */
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=198.51.100.0/24"), 0);
    assert_int_equal(PARSE(&t, "src=192.0.2.2"), 0);
    assert_int_equal(t.has_ecs, 0);
    assert_addr(&t.src, "192.0.2.2");
}

static void test_txt_refused(void **state)
{
    (void)state;
    lb_whoami_txt t;
    /* no src at all */
    assert_int_equal(PARSE(&t, "ecs=198.51.100.0/24"), -1);
    assert_int_equal(PARSE(&t, "hello"), -1);
    assert_int_equal(lb_whoami_parse_txt((const uint8_t *)"", 0, &t), -1);
    /* repeated src or ecs, even with equal values */
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "src=192.0.2.2"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "src=192.0.2.1"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=10.0.0.0/8", "ecs=10.0.0.0/8"), -1);
    /* bad values */
    assert_int_equal(PARSE(&t, "src=192.0.2.256"), -1);
    assert_int_equal(PARSE(&t, "src=resolver.example"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1/32"), -1);
    assert_int_equal(PARSE(&t, "src= 192.0.2.1"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=10.0.0.1/8"), -1); /* host bits */
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=10.0.0.0/33"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs=banana"), -1);
    /* an empty value is a bad value, not an unknown string */
    assert_int_equal(PARSE(&t, "src=", "src=192.0.2.1"), -1);
    assert_int_equal(PARSE(&t, "src=192.0.2.1", "ecs="), -1);
    /* an address string too long for any address */
    assert_int_equal(PARSE(&t, "src=2001:0db8:0000:0000:0000:0000:0000:0001:2001:0db8:0000:0000:0000:0001"), -1);
    /* not unicast: nobody can be reached there, never claim it */
    assert_int_equal(PARSE(&t, "src=0.0.0.0"), -1);
    assert_int_equal(PARSE(&t, "src=::"), -1);
    assert_int_equal(PARSE(&t, "src=224.0.0.1"), -1);
    assert_int_equal(PARSE(&t, "src=239.255.255.250"), -1);
    assert_int_equal(PARSE(&t, "src=255.255.255.255"), -1);
    assert_int_equal(PARSE(&t, "src=ff02::1"), -1);
    assert_int_equal(PARSE(&t, "src=ff05::1:3"), -1);
    /* unicast corner cases stay usable */
    assert_int_equal(PARSE(&t, "src=223.255.255.254"), 0);
    assert_int_equal(PARSE(&t, "src=fe80::1"), 0);
}

static void test_txt_malformed(void **state)
{
    (void)state;
    lb_whoami_txt t;
    uint8_t b[64];
    /* a string running past the end of the record */
    memcpy(b, "\x0esrc=192.0.2.10", 15);
    b[0] = 14; /* exactly fits */
    assert_int_equal(lb_whoami_parse_txt(b, 15, &t), 0);
    b[0] = 15; /* one byte too many */
    assert_int_equal(lb_whoami_parse_txt(b, 15, &t), -1);
    b[0] = 255;
    assert_int_equal(lb_whoami_parse_txt(b, 15, &t), -1);
    /* a valid src followed by a length byte with nothing after it */
    b[0] = 14;
    b[15] = 3;
    assert_int_equal(lb_whoami_parse_txt(b, 16, &t), -1);
    /* the parser reads only len bytes: a truncated view of a good record fails */
    assert_int_equal(lb_whoami_parse_txt(b, 10, &t), -1);
    /* a NUL inside a string, in src or in an ignored string */
    memcpy(b, "\x0esrc=192.0.2.10", 15);
    b[14] = '\0'; /* "src=192.0.2.\0" */
    assert_int_equal(lb_whoami_parse_txt(b, 15, &t), -1);
    memcpy(b, "\x0esrc=192.0.2.10\x03x\0y", 19);
    assert_int_equal(lb_whoami_parse_txt(b, 19, &t), -1);
    memcpy(b, "\x0esrc=192.0.2.10\x03xyz", 19);
    assert_int_equal(lb_whoami_parse_txt(b, 19, &t), 0);
}

static size_t rc(const char *text, lb_nameserver *out, size_t max)
{
    memset(out, 0xa5, max * sizeof(*out)); /* garbage, as on a real stack */
    return lb_resolvconf_parse(text, out, max);
}

static void test_resolvconf(void **state)
{
    (void)state;
    lb_nameserver ns[8];
    const char *text = "# generated by NetworkManager\n"
                       "search example.com\n"
                       "nameserver 192.0.2.53\n"
                       "; nameserver 10.9.9.9\n"
                       "# nameserver 10.8.8.8\n"
                       "options edns0 trust-ad\n"
                       "nameserver\t2001:db8::53   # the v6 one\n"
                       "nameserver 198.51.100.53\r\n"
                       "nameserver 192.0.2.53\n"
                       "nameserver 2001:db8:0::53\n"
                       "nameserver not-an-address\n"
                       "nameserver\n"
                       "nameservers 203.0.113.1\n"
                       "nameserver 203.0.113.53";
    size_t n = rc(text, ns, 8);
    assert_int_equal(n, 3 + 1);
    char buf[GLB_ADDRSTRLEN];
    assert_string_equal(glb_addr_str(&ns[0].addr, buf, sizeof(buf)), "192.0.2.53");
    assert_string_equal(ns[0].fwd, "192.0.2.53@53");
    assert_int_equal(ns[0].addr.port, 0);
    assert_string_equal(glb_addr_str(&ns[1].addr, buf, sizeof(buf)), "2001:db8::53");
    assert_string_equal(ns[1].fwd, "2001:db8::53@53");
    assert_string_equal(glb_addr_str(&ns[2].addr, buf, sizeof(buf)), "198.51.100.53");
    assert_string_equal(ns[2].fwd, "198.51.100.53@53");
    /* the last line has no newline and still counts */
    assert_string_equal(glb_addr_str(&ns[3].addr, buf, sizeof(buf)), "203.0.113.53");
}

static void test_resolvconf_max(void **state)
{
    (void)state;
    lb_nameserver ns[4];
    const char *text = "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.1\n"
                       "nameserver 10.0.0.3\nnameserver 10.0.0.4\n";
    char buf[GLB_ADDRSTRLEN];
    assert_int_equal(rc(text, ns, 2), 2);
    assert_string_equal(glb_addr_str(&ns[0].addr, buf, sizeof(buf)), "10.0.0.1");
    assert_string_equal(glb_addr_str(&ns[1].addr, buf, sizeof(buf)), "10.0.0.2");
    /* the duplicate does not take a slot */
    assert_int_equal(rc(text, ns, 3), 3);
    assert_string_equal(glb_addr_str(&ns[2].addr, buf, sizeof(buf)), "10.0.0.3");
    assert_int_equal(rc(text, ns, 4), 4);
    assert_string_equal(glb_addr_str(&ns[3].addr, buf, sizeof(buf)), "10.0.0.4");
    /* max 0: nothing written, not even the default */
    assert_int_equal(lb_resolvconf_parse(text, ns, 0), 0);
}

static void test_resolvconf_none(void **state)
{
    (void)state;
    lb_nameserver ns[4];
    char buf[GLB_ADDRSTRLEN];
    const char *texts[] = {"", "\n\n", "search example.com\noptions ndots:2\n", "# nameserver 10.0.0.1\n",
                           "nameserver bogus\nnameserver 10.0.0.1%eth0\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(rc(texts[i], ns, 4), 1);
        assert_string_equal(glb_addr_str(&ns[0].addr, buf, sizeof(buf)), "127.0.0.1");
        assert_int_equal(ns[0].addr.family, AF_INET);
        assert_int_equal(ns[0].addr.port, 0);
        assert_string_equal(ns[0].fwd, "127.0.0.1@53");
    }
}

static void test_resolvconf_scoped(void **state)
{
    (void)state;
    lb_nameserver ns[4];
    char buf[GLB_ADDRSTRLEN];
    /* a scoped link-local v6: the address for claims, the scope for libunbound */
    assert_int_equal(rc("nameserver fe80::1%eth0\nnameserver 192.0.2.1%eth0\nnameserver fe80::2\n", ns, 4), 2);
    assert_string_equal(glb_addr_str(&ns[0].addr, buf, sizeof(buf)), "fe80::1");
    assert_int_equal(ns[0].addr.family, AF_INET6);
    assert_string_equal(ns[0].fwd, "fe80::1%eth0@53");
    /* a v4 address with a scope is refused */
    assert_string_equal(glb_addr_str(&ns[1].addr, buf, sizeof(buf)), "fe80::2");
    assert_string_equal(ns[1].fwd, "fe80::2@53");
}

/* A line too long for the parser is skipped, not half-read; lines after it count. */
static void test_resolvconf_long_line(void **state)
{
    (void)state;
    char text[2048];
    char pad[600];
    memset(pad, ' ', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(text, sizeof(text), "nameserver 10.0.0.9 %s\nnameserver 10.0.0.8\n", pad);
    lb_nameserver ns[4];
    char buf[GLB_ADDRSTRLEN];
    size_t n = rc(text, ns, 4);
    assert_true(n >= 1);
    assert_string_equal(glb_addr_str(&ns[n - 1].addr, buf, sizeof(buf)), "10.0.0.8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_valid),          cmocka_unit_test(test_txt_refused),
        cmocka_unit_test(test_txt_malformed),      cmocka_unit_test(test_resolvconf),
        cmocka_unit_test(test_resolvconf_max),     cmocka_unit_test(test_resolvconf_none),
        cmocka_unit_test(test_resolvconf_scoped),  cmocka_unit_test(test_resolvconf_long_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
