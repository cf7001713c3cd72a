/* Unit tests for shared/dname.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shared/dname.h"

/* Converts s and checks the wire bytes against want (wlen bytes). */
static void expect_wire(const char *s, const char *want, size_t wlen)
{
    uint8_t out[GLB_DNAME_MAX];
    size_t n = glb_dname_from_str(s, out);
    assert_int_equal(n, wlen);
    assert_memory_equal(out, want, wlen);
}

static void from_str_basic(void **state)
{
    (void)state;
    expect_wire(".", "\0", 1);
    expect_wire("www.example.", "\3www\7example\0", 13);
    /* relative names are made absolute */
    expect_wire("www.example", "\3www\7example\0", 13);
    /* lower-cased */
    expect_wire("WwW.ExAmPlE.", "\3www\7example\0", 13);
    expect_wire("a", "\1a\0", 3);
}

static void from_str_escapes(void **state)
{
    (void)state;
    /* "\." is a dot inside a label */
    expect_wire("a\\.b.c.", "\3a.b\1c\0", 7);
    /* \DDD is a decimal byte; upper case letters written this way fold too */
    expect_wire("\\065\\000x.", "\3a\0x\0", 5);
    expect_wire("\\255.", "\1\377\0", 3);
    /* any other escaped character stands for itself */
    expect_wire("a\\\\b.", "\3a\\b\0", 5);
    expect_wire("\\@.", "\1@\0", 3);
}

static void from_str_bad(void **state)
{
    (void)state;
    uint8_t out[GLB_DNAME_MAX];
    const char *bad[] = {
        "",          /* empty */
        "..",        /* empty labels */
        "a..b",      /* empty label inside */
        ".a",        /* leading empty label */
        "a.b..",     /* trailing empty label */
        "\\256.",    /* escape out of range */
        "\\12.",     /* short \DDD */
        "a\\",       /* dangling backslash */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(glb_dname_from_str(bad[i], out), 0);

    char lbl[80];
    memset(lbl, 'a', 63);
    strcpy(lbl + 63, ".");
    assert_int_equal(glb_dname_from_str(lbl, out), 65);
    memset(lbl, 'a', 64);
    strcpy(lbl + 64, ".");
    assert_int_equal(glb_dname_from_str(lbl, out), 0); /* label of 64 */
}

static void from_str_length_limit(void **state)
{
    (void)state;
    uint8_t out[GLB_DNAME_MAX];
    char s[600];
    /* 3 labels of 63 + one of 61: 4*64 - 2 + 1 = 255 bytes on the wire */
    char *p = s;
    for (int i = 0; i < 3; i++) {
        memset(p, 'x', 63);
        p += 63;
        *p++ = '.';
    }
    memset(p, 'y', 61);
    p += 61;
    strcpy(p, ".");
    assert_int_equal(glb_dname_from_str(s, out), 255);
    assert_int_equal(glb_dname_len(out), 255);
    /* one more byte: 256 */
    strcpy(p, "y.");
    assert_int_equal(glb_dname_from_str(s, out), 0);
    /* many one-byte labels: 127 fit (255 bytes), 128 do not */
    p = s;
    for (int i = 0; i < 127; i++) {
        *p++ = 'q';
        *p++ = '.';
    }
    *p = '\0';
    assert_int_equal(glb_dname_from_str(s, out), 255);
    assert_int_equal(glb_dname_labels(out), 127);
    strcpy(p, "q.");
    assert_int_equal(glb_dname_from_str(s, out), 0);
}

static void to_str_round_trip(void **state)
{
    (void)state;
    const char *names[] = {
        ".", "www.example.", "a\\.b.c.", "\\000\\032x.", "x\\\\y.", "\\\".\\(\\).\\;\\@\\$.", "\\255\\127.",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint8_t w[GLB_DNAME_MAX], w2[GLB_DNAME_MAX];
        char buf[1010];
        size_t n = glb_dname_from_str(names[i], w);
        assert_true(n > 0);
        glb_dname_to_str(w, buf, sizeof buf);
        assert_string_equal(buf, names[i]);
        assert_int_equal(glb_dname_from_str(buf, w2), n);
        assert_memory_equal(w, w2, n);
    }
}

static void to_str_worst_case_and_small_buffer(void **state)
{
    (void)state;
    /* 255 bytes, every label byte non-printable: each becomes \DDD */
    uint8_t w[GLB_DNAME_MAX];
    size_t p = 0;
    for (int i = 0; i < 3; i++) {
        w[p++] = 63;
        memset(w + p, 1, 63);
        p += 63;
    }
    w[p++] = 61;
    memset(w + p, 1, 61);
    p += 61;
    w[p++] = 0;
    assert_int_equal(p, 255);
    char buf[1010];
    glb_dname_to_str(w, buf, sizeof buf);
    assert_int_equal(strlen(buf), 250 * 4 + 4);
    uint8_t w2[GLB_DNAME_MAX];
    assert_int_equal(glb_dname_from_str(buf, w2), 255);
    assert_memory_equal(w, w2, 255);

    /* a short buffer is never overrun and always terminated */
    char small[8];
    memset(small, 'Z', sizeof small);
    uint8_t n[GLB_DNAME_MAX];
    glb_dname_from_str("abcdefgh.example.", n);
    glb_dname_to_str(n, small, 6);
    assert_string_equal(small, "abcde");
    assert_int_equal(small[6], 'Z');
}

static void len_labels_tolower(void **state)
{
    (void)state;
    uint8_t n[] = "\3WwW\7ExAmPlE\3CoM";
    assert_int_equal(glb_dname_len(n), 17);
    assert_int_equal(glb_dname_labels(n), 3);
    assert_int_equal(glb_dname_labels((const uint8_t *)""), 0);
    assert_int_equal(glb_dname_len((const uint8_t *)""), 1);
    glb_dname_tolower(n);
    assert_memory_equal(n, "\3www\7example\3com", 17);
    /* non-letters (including bytes >= 0x80 and '@', '[') stay */
    uint8_t m[] = "\4@[\xC1Z";
    glb_dname_tolower(m);
    assert_memory_equal(m, "\4@[\xC1z", 6);
}

static void equal_ignores_case(void **state)
{
    (void)state;
    const uint8_t *a = (const uint8_t *)"\3WWW\7example\0";
    const uint8_t *b = (const uint8_t *)"\3www\7EXAMPLE\0";
    const uint8_t *c = (const uint8_t *)"\3www\7exampla\0";
    const uint8_t *d = (const uint8_t *)"\3www\7example\3com";
    assert_true(glb_dname_equal(a, b));
    assert_false(glb_dname_equal(a, c));
    assert_false(glb_dname_equal(a, d));
    assert_false(glb_dname_equal(d, a));
    assert_true(glb_dname_equal((const uint8_t *)"", (const uint8_t *)""));
    /* '@' (0x40) and '`' (0x60) differ only in bit 5 but are not letters */
    assert_false(glb_dname_equal((const uint8_t *)"\1@", (const uint8_t *)"\1`"));
    /* same bytes, different label split */
    assert_false(glb_dname_equal((const uint8_t *)"\2ab\1c", (const uint8_t *)"\1a\2bc"));
}

static void sub_and_skip(void **state)
{
    (void)state;
    const uint8_t *zone = (const uint8_t *)"\7Example\3com";
    assert_int_equal(glb_dname_sub((const uint8_t *)"\7example\3COM", zone), 0);
    assert_int_equal(glb_dname_sub((const uint8_t *)"\3www\7example\3com", zone), 1);
    assert_int_equal(glb_dname_sub((const uint8_t *)"\1a\1b\7example\3com", zone), 2);
    assert_int_equal(glb_dname_sub((const uint8_t *)"\3com", zone), -1);
    assert_int_equal(glb_dname_sub((const uint8_t *)"\3www\6xample\3com", zone), -1);
    /* suffix match must fall on a label boundary */
    assert_int_equal(glb_dname_sub((const uint8_t *)"\12badexample\3com", zone), -1);
    assert_int_equal(glb_dname_sub(zone, (const uint8_t *)""), 2);

    const uint8_t *n = (const uint8_t *)"\1a\1b\3com";
    assert_ptr_equal(glb_dname_skip(n, 0), n);
    assert_ptr_equal(glb_dname_skip(n, 1), n + 2);
    assert_ptr_equal(glb_dname_skip(n, 3), n + 8);
    assert_ptr_equal(glb_dname_skip(n, 9), n + 8); /* stops at the root */
}

static void prepend(void **state)
{
    (void)state;
    uint8_t out[GLB_DNAME_MAX];
    const uint8_t *zone = (const uint8_t *)"\7example";
    assert_int_equal(glb_dname_prepend("www", 3, zone, out), 13);
    assert_memory_equal(out, "\3www\7example", 13);
    assert_int_equal(glb_dname_prepend("", 0, zone, out), 0);
    char l64[64];
    memset(l64, 'a', sizeof l64);
    assert_int_equal(glb_dname_prepend(l64, 64, zone, out), 0);
    assert_int_equal(glb_dname_prepend(l64, 63, zone, out), 73);

    /* up to 255 in total */
    uint8_t big[GLB_DNAME_MAX];
    char bs[300], *bp = bs;
    for (int i = 0; i < 3; i++) {
        memset(bp, 'a', 63);
        bp += 63;
        *bp++ = '.';
    }
    memset(bp, 'b', 53);
    strcpy(bp + 53, ".");
    assert_int_equal(glb_dname_from_str(bs, big), 247); /* 3*64 + 54 + 1 */
    assert_int_equal(glb_dname_prepend("1234567", 7, big, out), 255);
    assert_int_equal(glb_dname_prepend("12345678", 8, big, out), 0);

    /* building in place: zone lives in out */
    uint8_t inplace[GLB_DNAME_MAX];
    memcpy(inplace, "\3com", 5);
    assert_int_equal(glb_dname_prepend("ab", 2, inplace, inplace), 8);
    assert_memory_equal(inplace, "\2ab\3com", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(from_str_basic),
        cmocka_unit_test(from_str_escapes),
        cmocka_unit_test(from_str_bad),
        cmocka_unit_test(from_str_length_limit),
        cmocka_unit_test(to_str_round_trip),
        cmocka_unit_test(to_str_worst_case_and_small_buffer),
        cmocka_unit_test(len_labels_tolower),
        cmocka_unit_test(equal_ignores_case),
        cmocka_unit_test(sub_and_skip),
        cmocka_unit_test(prepend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
