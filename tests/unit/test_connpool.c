/* Unit tests for shared/connpool (caps, per-source counts, who gives way)
 * and shared/ratelog (bounded lines, the count of those suppressed).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/connpool.h"
#include "shared/log.h"
#include "shared/ratelog.h"

static glb_addr A(const char *s)
{
    glb_addr a;
    assert_int_equal(glb_addr_parse(s, &a), 0);
    return a;
}

/* Asks the pool about a newcomer from src; returns the victim (or NULL),
 * with *refuse. */
static glb_pool_ent *victim(glb_pool *p, const char *src, int *refuse)
{
    glb_addr a = A(src);
    return glb_pool_victim(p, &a, refuse);
}

static void add(glb_pool *p, glb_pool_ent *e, const char *src)
{
    glb_addr a = A(src);
    assert_int_equal(glb_pool_add(p, e, &a), 0);
}

static void test_fits_and_total_cap(void **state)
{
    (void)state;
    glb_pool p;
    glb_pool_ent e[4];
    int refuse;
    memset(e, 0, sizeof(e));
    assert_int_equal(glb_pool_init(&p, 3, 3, 0), 0);
    add(&p, &e[0], "192.0.2.1");
    add(&p, &e[1], "192.0.2.2");
    assert_null(victim(&p, "192.0.2.3", &refuse));
    assert_int_equal(refuse, 0);
    add(&p, &e[2], "192.0.2.3");
    /* Full: the oldest gives way, unless it did useful work since. */
    assert_ptr_equal(victim(&p, "192.0.2.4", &refuse), &e[0]);
    glb_pool_touch(&p, &e[0]);
    assert_ptr_equal(victim(&p, "192.0.2.4", &refuse), &e[1]);
    glb_pool_remove(&p, &e[1]);
    assert_null(victim(&p, "192.0.2.4", &refuse));
    add(&p, &e[3], "192.0.2.4");
    assert_int_equal(p.n, 3);
    assert_int_equal(p.npending, 3);
    glb_pool_remove(&p, &e[0]);
    glb_pool_remove(&p, &e[2]);
    glb_pool_remove(&p, &e[3]);
    assert_int_equal(p.n, 0);
    assert_null(p.pend_head);
    glb_pool_fini(&p);
}

static void test_per_source(void **state)
{
    (void)state;
    glb_pool p;
    glb_pool_ent e[6];
    int refuse;
    memset(e, 0, sizeof(e));
    assert_int_equal(glb_pool_init(&p, 100, 100, 2), 0);
    add(&p, &e[0], "2001:db8::1");
    add(&p, &e[1], "192.0.2.1");
    add(&p, &e[2], "2001:db8::1");
    add(&p, &e[3], "192.0.2.1");
    glb_addr six = A("2001:db8::1");
    assert_int_equal(glb_pool_source_count(&p, &six), 2);
    /* An address at its cap crowds out only its own oldest. */
    assert_ptr_equal(victim(&p, "2001:db8::1", &refuse), &e[0]);
    glb_pool_touch(&p, &e[0]);
    assert_ptr_equal(victim(&p, "2001:db8::1", &refuse), &e[2]);
    assert_ptr_equal(victim(&p, "192.0.2.1", &refuse), &e[1]);
    assert_null(victim(&p, "192.0.2.9", &refuse));
    /* Established: no longer counted for its address, never chosen. */
    glb_pool_establish(&p, &e[1]);
    assert_null(victim(&p, "192.0.2.1", &refuse));
    add(&p, &e[4], "192.0.2.1");
    assert_ptr_equal(victim(&p, "192.0.2.1", &refuse), &e[3]);
    for (int i = 0; i < 5; i++)
        glb_pool_remove(&p, &e[i]);
    assert_int_equal(p.n, 0);
    assert_int_equal(glb_pool_source_count(&p, &six), 0);
    glb_pool_fini(&p);
}

static void test_pending_cap_and_established(void **state)
{
    (void)state;
    glb_pool p;
    glb_pool_ent e[5];
    int refuse;
    memset(e, 0, sizeof(e));
    assert_int_equal(glb_pool_init(&p, 3, 2, 0), 0);
    add(&p, &e[0], "192.0.2.1");
    add(&p, &e[1], "192.0.2.2");
    /* Two pending: the cap on pending ones is reached first. */
    assert_ptr_equal(victim(&p, "192.0.2.3", &refuse), &e[0]);
    glb_pool_establish(&p, &e[0]);
    glb_pool_establish(&p, &e[1]);
    add(&p, &e[2], "192.0.2.3");
    /* All slots taken, one pending: it gives way. */
    assert_ptr_equal(victim(&p, "192.0.2.4", &refuse), &e[2]);
    glb_pool_establish(&p, &e[2]);
    /* Every one established: refused. */
    assert_null(victim(&p, "192.0.2.4", &refuse));
    assert_int_equal(refuse, 1);
    glb_pool_touch(&p, &e[0]); /* established ones keep their order too */
    assert_ptr_equal(p.est_head, &e[1]);
    assert_ptr_equal(p.est_tail, &e[0]);
    /* A reload lowers nothing at once, and raises the cap for newcomers. */
    glb_pool_set_limits(&p, 4, 2, 0);
    assert_null(victim(&p, "192.0.2.4", &refuse));
    assert_int_equal(refuse, 0);
    for (int i = 0; i < 3; i++)
        glb_pool_remove(&p, &e[i]);
    glb_pool_fini(&p);
}

/* Many sources and churn: the counts stay exact. */
static void test_churn(void **state)
{
    (void)state;
    enum { N = 2000 };
    glb_pool p;
    glb_pool_ent *e = calloc(N, sizeof(*e));
    char src[64];
    int live[N] = {0}, refuse;
    assert_non_null(e);
    assert_int_equal(glb_pool_init(&p, 500, 300, 7), 0);
    for (int i = 0; i < N; i++) {
        snprintf(src, sizeof(src), "10.0.%d.%d", (i * 7) % 40, 1);
        glb_pool_ent *v;
        while ((v = victim(&p, src, &refuse)) != NULL) {
            glb_pool_remove(&p, v);
            live[v - e] = 0;
        }
        if (refuse) /* every slot established */
            continue;
        add(&p, &e[i], src);
        live[i] = 1;
        if (i % 3 == 0)
            glb_pool_establish(&p, &e[i]);
        if (i % 5 == 0)
            glb_pool_touch(&p, &e[i]);
        glb_addr a = A(src);
        assert_true(glb_pool_source_count(&p, &a) <= 7);
        assert_true(p.npending <= 300 && p.n <= 500);
    }
    unsigned n = 0;
    for (int i = 0; i < N; i++)
        if (live[i]) {
            n++;
            glb_pool_remove(&p, &e[i]);
        }
    assert_true(n > 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.npending, 0);
    glb_pool_fini(&p);
    free(e);
}

static void test_ratelog(void **state)
{
    (void)state;
    char path[] = "/tmp/glb-test-ratelog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    glb_log_init("unit", 0, GLB_LOG_INFO);
    glb_ratelog r = GLB_RATELOG_INIT("test: handshakes failed");
    int logged = 0;
    for (int i = 0; i < 1000; i++)
        logged += glb_log_limited(&r, 100.0 + i * 0.001, GLB_LOG_INFO, "failure %d", i);
    assert_int_equal(logged, GLB_RATELOG_BURST);
    /* The next interval opens with the count of what was left out. */
    logged = glb_log_limited(&r, 100.0 + GLB_RATELOG_INTERVAL + 1, GLB_LOG_INFO, "failure again");
    assert_int_equal(logged, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int lines = 0, summary = 0;
    while (fgets(line, sizeof(line), f)) {
        lines++;
        if (strstr(line, "test: handshakes failed: 995 similar messages suppressed"))
            summary++;
    }
    fclose(f);
    unlink(path);
    close(fd);
    assert_int_equal(lines, GLB_RATELOG_BURST + 2);
    assert_int_equal(summary, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_and_total_cap),
        cmocka_unit_test(test_per_source),
        cmocka_unit_test(test_pending_cap_and_established),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_ratelog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
