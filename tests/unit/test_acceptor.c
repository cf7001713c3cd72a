/* Unit tests for shared/acceptor: out of descriptors, accepting pauses
 * (no spin), the waiting client is taken off the queue with the spare
 * descriptor, and accepting resumes when descriptors are free again.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/acceptor.h"
#include "shared/log.h"

#define NCLIENTS 3
#define MAXFILL 4096

static int accepted[16];
static int naccepted;

static void on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
    (void)arg, (void)sa, (void)salen;
    if (naccepted < 16)
        accepted[naccepted++] = fd;
    else
        close(fd);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void run_for(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* 1 when the peer closed fd (EOF or reset) within ms. */
static int peer_closed(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    return poll(&p, 1, ms) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

static void test_emfile_pauses(void **state)
{
    (void)state;
    glb_log_init("unit", 0, GLB_LOG_ERR);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    glb_acceptor *a = glb_acceptor_new(base, lfd, on_accept, NULL, "test");
    assert_non_null(a);

    int cl[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        assert_true((cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    /* Take every descriptor the (lowered) limit leaves. */
    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[MAXFILL], nfill = 0;
    while (nfill < MAXFILL && (fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        nfill++;
    assert_int_equal(errno, EMFILE);
    for (int i = 0; i < NCLIENTS; i++)
        assert_int_equal(connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)), 0);

    double c0 = cpu_seconds();
    run_for(base, 1000);
    double used = cpu_seconds() - c0;
    /* A pause of 250 ms each time: a handful, not a spin. */
    assert_int_equal(naccepted, 0);
    assert_true(glb_acceptor_pauses(a) >= 1 && glb_acceptor_pauses(a) <= 6);
    assert_true(used < 0.3);
    /* Each pause took a waiting client off the queue with the spare: it
     * learns at once instead of waiting for its timeout. */
    assert_true(peer_closed(cl[0], 0));

    while (nfill)
        close(fill[--nfill]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    int late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(late, (struct sockaddr *)&sa, sizeof(sa)), 0);
    run_for(base, 400); /* the pause ends by itself */
    assert_true(naccepted >= 1);
    close(late);
    for (int i = 0; i < naccepted; i++)
        close(accepted[i]);
    for (int i = 0; i < NCLIENTS; i++)
        close(cl[i]);
    glb_acceptor_free(a);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emfile_pauses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
