/* Unit tests for shared/addr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "shared/addr.h"

static void test_addr_parse(void **state)
{
    (void)state;
    glb_addr a;
    char buf[GLB_ADDRSTRLEN];
    assert_int_equal(glb_addr_parse("192.0.2.1", &a), 0);
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(glb_addr_str(&a, buf, sizeof(buf)), "192.0.2.1");
    assert_int_equal(glb_addr_parse("2001:db8::1", &a), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_string_equal(glb_addr_str(&a, buf, sizeof(buf)), "2001:db8::1");
    assert_int_equal(glb_addr_parse("192.0.2.256", &a), -1);
    assert_int_equal(glb_addr_parse("", &a), -1);
    assert_int_equal(glb_addr_parse("host.example", &a), -1);
}

static void test_addrport_parse(void **state)
{
    (void)state;
    glb_addr a;
    char buf[GLB_ADDRSTRLEN];
    assert_int_equal(glb_addrport_parse("127.0.0.1@5300", 53, &a), 0);
    assert_int_equal(a.port, 5300);
    assert_string_equal(glb_addrport_str(&a, buf, sizeof(buf)), "127.0.0.1@5300");
    assert_int_equal(glb_addrport_parse("::1", 53, &a), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.port, 53);
    assert_int_equal(glb_addrport_parse("::1@8953", 53, &a), 0);
    assert_int_equal(a.port, 8953);
    assert_int_equal(glb_addrport_parse("127.0.0.1@", 53, &a), -1);
    assert_int_equal(glb_addrport_parse("127.0.0.1@0", 53, &a), -1);
    assert_int_equal(glb_addrport_parse("127.0.0.1@65536", 53, &a), -1);
    assert_int_equal(glb_addrport_parse("127.0.0.1@53x", 53, &a), -1);
    assert_int_equal(glb_addrport_parse("@53", 53, &a), -1);
}

static void test_prefix_parse(void **state)
{
    (void)state;
    glb_prefix p;
    const char *why = NULL;
    char buf[GLB_ADDRSTRLEN];
    assert_int_equal(glb_prefix_parse("10.1.0.0/16", &p, &why), 0);
    assert_int_equal(p.len, 16);
    assert_string_equal(glb_prefix_str(&p, buf, sizeof(buf)), "10.1.0.0/16");
    assert_int_equal(glb_prefix_parse("127.0.0.1", &p, &why), 0);
    assert_int_equal(p.len, 32);
    assert_int_equal(glb_prefix_parse("2001:db8::/32", &p, &why), 0);
    assert_int_equal(p.len, 32);
    assert_int_equal(p.family, AF_INET6);
    assert_int_equal(glb_prefix_parse("0.0.0.0/0", &p, &why), 0);
    assert_int_equal(p.len, 0);
    assert_int_equal(glb_prefix_parse("10.1.0.1/16", &p, &why), -1);
    assert_non_null(strstr(why, "host bits"));
    assert_int_equal(glb_prefix_parse("10.0.0.0/33", &p, &why), -1);
    assert_int_equal(glb_prefix_parse("::/129", &p, &why), -1);
    assert_int_equal(glb_prefix_parse("10.0.0.0/", &p, &why), -1);
    assert_int_equal(glb_prefix_parse("x/8", &p, &why), -1);
}

static void test_contains_and_mask(void **state)
{
    (void)state;
    glb_prefix p;
    glb_addr a;
    assert_int_equal(glb_prefix_parse("198.18.0.0/15", &p, NULL), 0);
    assert_int_equal(glb_addr_parse("198.19.255.1", &a), 0);
    assert_true(glb_prefix_contains(&p, &a));
    assert_int_equal(glb_addr_parse("198.20.0.1", &a), 0);
    assert_false(glb_prefix_contains(&p, &a));
    assert_int_equal(glb_addr_parse("::1", &a), 0);
    assert_false(glb_prefix_contains(&p, &a)); /* other family */
    uint8_t b[4] = {0xff, 0xff, 0xff, 0xff};
    glb_mask_bits(b, 4, 13);
    assert_int_equal(b[0], 0xff);
    assert_int_equal(b[1], 0xf8);
    assert_int_equal(b[2], 0);
}

static void test_sockaddr_roundtrip(void **state)
{
    (void)state;
    glb_addr a, back;
    struct sockaddr_storage ss;
    assert_int_equal(glb_addrport_parse("2001:db8::5@53", 0, &a), 0);
    glb_addr_to_sockaddr(&a, &ss);
    assert_int_equal(glb_addr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
    assert_memory_equal(&a, &back, sizeof(a));
    /* v4-mapped v6 sources are seen as v4, as a v4 mapping expects */
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr);
    assert_int_equal(glb_addr_from_sockaddr((struct sockaddr *)&sin6, &back), 0);
    assert_int_equal(back.family, AF_INET);
    assert_int_equal(back.b[3], 7);
}

/* Empty lists may be NULL (a configuration without the key): no memcmp of
 * NULL, which the sanitizer build aborts on (dnslb's reload did). */
static void test_addrs_same(void **state)
{
    (void)state;
    glb_addr a[2], b[2];
    assert_int_equal(glb_addr_parse("192.0.2.1", &a[0]), 0);
    assert_int_equal(glb_addr_parse("2001:db8::1", &a[1]), 0);
    memcpy(b, a, sizeof(a));
    assert_true(glb_addrs_same(NULL, 0, NULL, 0));
    assert_true(glb_addrs_same(a, 0, NULL, 0));
    assert_true(glb_addrs_same(a, 2, b, 2));
    assert_false(glb_addrs_same(a, 2, b, 1));
    assert_false(glb_addrs_same(a, 1, NULL, 0));
    b[1].port = 53;
    assert_false(glb_addrs_same(a, 2, b, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),     cmocka_unit_test(test_addrport_parse),
        cmocka_unit_test(test_prefix_parse),   cmocka_unit_test(test_contains_and_mask),
        cmocka_unit_test(test_sockaddr_roundtrip), cmocka_unit_test(test_addrs_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
