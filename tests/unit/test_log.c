/* Unit tests for shared/log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(glb_log_level_parse("error"), GLB_LOG_ERR);
    assert_int_equal(glb_log_level_parse("err"), GLB_LOG_ERR);
    assert_int_equal(glb_log_level_parse("warning"), GLB_LOG_WARN);
    assert_int_equal(glb_log_level_parse("DEBUG"), GLB_LOG_DEBUG);
    assert_int_equal(glb_log_level_parse("3"), GLB_LOG_INFO);
    assert_int_equal(glb_log_level_parse("5"), -1);
    assert_int_equal(glb_log_level_parse("loud"), -1);
}

/* Messages above the configured level are not written; the rest are, one line each. */
static void test_filtering(void **state)
{
    (void)state;
    char path[] = "/tmp/glb-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    glb_log_init("unit", 0, GLB_LOG_NOTICE);
    log_info("hidden %d", 1);
    log_warn("shown %d", 2);
    log_err("also shown");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[1024] = {0};
    assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
    close(fd);
    unlink(path);
    assert_null(strstr(buf, "hidden"));
    assert_non_null(strstr(buf, "unit: warning: shown 2\n"));
    assert_non_null(strstr(buf, "unit: error: also shown\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_filtering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
