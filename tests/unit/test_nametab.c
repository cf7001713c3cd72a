/* Unit tests for shared/nametab, checked against a linear model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/dname.h"
#include "shared/nametab.h"

static void test_basic(void **state)
{
    (void)state;
    glb_nametab *t = glb_nametab_new();
    uint8_t a[GLB_DNAME_MAX], b[GLB_DNAME_MAX];
    size_t la = glb_dname_from_str("www.foobar.example.", a);
    size_t lb = glb_dname_from_str("foobar.example.", b);
    uint32_t v = 0;
    assert_int_equal(glb_nametab_add(t, a, la, 7), 0);
    assert_int_equal(glb_nametab_add(t, a, la, 8), 1); /* kept */
    assert_int_equal(glb_nametab_get(t, a, la, &v), 1);
    assert_int_equal(v, 7);
    assert_int_equal(glb_nametab_get(t, b, lb, &v), 0);
    /* lookups ignore case */
    uint8_t upper[GLB_DNAME_MAX];
    memcpy(upper, a, la);
    upper[1] = 'W', upper[3] = 'W';
    assert_int_equal(glb_nametab_get(t, upper, la, &v), 1);
    assert_int_equal(glb_nametab_count(t), 1);
    glb_nametab_free(t);
}

static void test_many(void **state)
{
    (void)state;
    enum { N = 20000 };
    glb_nametab *t = glb_nametab_new();
    uint8_t name[GLB_DNAME_MAX];
    char text[64];
    for (uint32_t i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "lb%u.svc%u.example.", i, i % 97);
        size_t l = glb_dname_from_str(text, name);
        assert_int_equal(glb_nametab_add(t, name, l, i), 0);
    }
    assert_int_equal(glb_nametab_count(t), N);
    for (uint32_t i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "LB%u.svc%u.example.", i, i % 97);
        size_t l = glb_dname_from_str(text, name);
        uint32_t v;
        assert_int_equal(glb_nametab_get(t, name, l, &v), 1);
        assert_int_equal(v, i);
        snprintf(text, sizeof(text), "lb%u.svc%u.example.", i, (i + 1) % 97);
        l = glb_dname_from_str(text, name);
        assert_int_equal(glb_nametab_get(t, name, l, &v), 0);
    }
    glb_nametab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
