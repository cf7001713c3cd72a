/* Unit tests for shared/server.c (UDP, TCP, stop, counters) and
 * shared/daemon.c (pid file, privilege drop, detaching), on loopback only.
 * Every wait is bounded.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/addr.h"
#include "shared/daemon.h"
#include "shared/qsbr.h"
#include "shared/server.h"

#define TIMEOUT_MS 3000
#define BIG_LEN 65535

/* ------------------------------------------------------------------ */
/* The handler: echoes the query with QR set and appends a 4-byte trailer
 * ('T' or 'U', the client's port, the worker index). A query whose first
 * byte after the header is 'Z' gets no answer; 'L' gets a 65535-byte one
 * (header copied, rest filled with the low byte of the id). Checks that a
 * thread cannot assert are counted in bad. */

static atomic_uint bad;
static atomic_uint nworkers_now;

/* 'D': answered later, by the test's thread (glb_deferred_reply), with the
 * echo the handler would have given. */
#define MAX_HELD 8
static glb_deferred *held[MAX_HELD];
static uint8_t held_ans[MAX_HELD][80];
static size_t held_len[MAX_HELD];
static atomic_uint nheld;

static size_t defer_echo(const glb_request *req)
{
    unsigned i = atomic_load(&nheld);
    if (i >= MAX_HELD || req->len + 4 > sizeof held_ans[0]) {
        atomic_fetch_add(&bad, 1);
        return 0;
    }
    memcpy(held_ans[i], req->pkt, req->len);
    held_ans[i][2] |= 0x80;
    held_ans[i][req->len] = req->tcp ? 'T' : 'U';
    held_ans[i][req->len + 1] = (uint8_t)(req->from->port >> 8);
    held_ans[i][req->len + 2] = (uint8_t)req->from->port;
    held_ans[i][req->len + 3] = (uint8_t)req->worker;
    held_len[i] = req->len + 4;
    held[i] = glb_request_defer(req);
    if (!held[i])
        atomic_fetch_add(&bad, 1);
    atomic_store(&nheld, i + 1); /* published after the slot is filled */
    return 0;
}

static void wait_held(unsigned n)
{
    for (int i = 0; i < TIMEOUT_MS / 10 && atomic_load(&nheld) < n; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&nheld), n);
}

static size_t echo_handler(void *arg, const glb_request *req)
{
    (void)arg;
    if (req->outcap != 65535 || req->len < 12 || !req->from ||
        (req->from->family != AF_INET && req->from->family != AF_INET6) ||
        req->worker >= atomic_load(&nworkers_now) || (req->tcp != 0 && req->tcp != 1))
        atomic_fetch_add(&bad, 1);
    if (req->len > 12 && req->pkt[12] == 'Z')
        return 0;
    if (req->len > 12 && req->pkt[12] == 'D')
        return defer_echo(req);
    if (req->len > 12 && req->pkt[12] == 'L') {
        memcpy(req->out, req->pkt, 12);
        req->out[2] |= 0x80;
        memset(req->out + 12, req->pkt[1], BIG_LEN - 12);
        return BIG_LEN;
    }
    memcpy(req->out, req->pkt, req->len);
    req->out[2] |= 0x80;
    req->out[req->len] = req->tcp ? 'T' : 'U';
    req->out[req->len + 1] = (uint8_t)(req->from->port >> 8);
    req->out[req->len + 2] = (uint8_t)req->from->port;
    req->out[req->len + 3] = (uint8_t)req->worker;
    return req->len + 4;
}

/* ------------------------------------------------------------------ */
/* Helpers */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int have_v6(void)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static glb_addr loop_addr(int family, uint16_t port)
{
    glb_addr a;
    memset(&a, 0, sizeof a);
    a.family = family;
    a.port = port;
    if (family == AF_INET) {
        a.b[0] = 127;
        a.b[3] = 1;
    } else {
        a.b[15] = 1;
    }
    return a;
}

static socklen_t loop_sockaddr(int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *s;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    s->sin6_addr = in6addr_loopback;
    return sizeof *s;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A port the kernel just gave us for UDP on 127.0.0.1 that is also free for
 * TCP there (and on ::1 when there is v6). Another process may still take it
 * before the server binds; callers retry. */
static uint16_t pick_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        struct sockaddr_storage ss;
        socklen_t sl = loop_sockaddr(AF_INET, 0, &ss);
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        assert_true(u >= 0);
        assert_int_equal(bind(u, (struct sockaddr *)&ss, sl), 0);
        uint16_t port = local_port(u);
        int ok = 1;
        for (int fam = 0; fam < 2 && ok; fam++) {
            if (fam && !have_v6())
                break;
            for (int type = 0; type < 2 && ok; type++) {
                if (!fam && !type)
                    continue; /* that is u */
                sl = loop_sockaddr(fam ? AF_INET6 : AF_INET, port, &ss);
                int fd = socket(fam ? AF_INET6 : AF_INET, type ? SOCK_STREAM : SOCK_DGRAM, 0);
                assert_true(fd >= 0);
                ok = bind(fd, (struct sockaddr *)&ss, sl) == 0;
                close(fd);
            }
        }
        close(u);
        if (ok)
            return port;
    }
    fail_msg("no free port");
    return 0;
}

/* glb_server_new on 127.0.0.1 at a free port, retried if the port is taken
 * meanwhile. */
static glb_server *new_v4_server(glb_server_cfg *cfg, glb_addr *a, char *err, size_t errlen)
{
    glb_server *s = NULL;
    for (int attempt = 0; attempt < 20 && !s; attempt++) {
        *a = loop_addr(AF_INET, pick_port());
        cfg->listen = a;
        cfg->nlisten = 1;
        s = glb_server_new(cfg, err, errlen);
    }
    if (!s)
        fail_msg("glb_server_new: %s", err);
    return s;
}

typedef struct srv_opts {
    unsigned workers;
    unsigned idle_ms;
    unsigned max_conns;
    unsigned msg_ms;
    unsigned per_source;
    int v6;
    glb_qsbr *qsbr;
} srv_opts;

typedef struct test_srv {
    glb_server *s;
    uint16_t port;
    int v6;
} test_srv;

static void srv_start(test_srv *t, const srv_opts *o)
{
    char err[256] = "";
    glb_addr la[2];

    atomic_store(&bad, 0);
    t->v6 = o->v6 && have_v6();
    /* the handler's worker index names a thread: TCP loops and UDP sockets */
    atomic_store(&nworkers_now, o->workers * (t->v6 ? 3u : 2u));
    for (int attempt = 0; attempt < 20; attempt++) {
        t->port = pick_port();
        la[0] = loop_addr(AF_INET, t->port);
        la[1] = loop_addr(AF_INET6, t->port);
        glb_server_cfg cfg = {
            .listen = la,
            .nlisten = t->v6 ? 2 : 1,
            .workers = o->workers,
            .tcp_idle_ms = o->idle_ms,
            .tcp_max_conns = o->max_conns,
            .tcp_msg_ms = o->msg_ms,
            .tcp_per_source = o->per_source,
            .qsbr = o->qsbr,
            .handler = echo_handler,
            .arg = NULL,
        };
        t->s = glb_server_new(&cfg, err, sizeof err);
        if (t->s)
            break;
    }
    if (!t->s)
        fail_msg("glb_server_new: %s", err);
    assert_int_equal(glb_server_start(t->s), 0);
}

static void srv_stop(test_srv *t, glb_server_stats *st)
{
    long long t0 = now_ms();
    glb_server_stop(t->s);
    assert_true(now_ms() - t0 < TIMEOUT_MS);
    if (st)
        glb_server_stats_get(t->s, st);
    glb_server_free(t->s);
    t->s = NULL;
    assert_int_equal(atomic_load(&bad), 0);
}

static int udp_client(int family, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl = loop_sockaddr(family, port, &ss);
    int fd = socket(family, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
    return fd;
}

static int tcp_client(int family, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl = loop_sockaddr(family, port, &ss);
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
    return fd;
}

/* A TCP client on 127.0.0.1:port from the source address src (127.x). */
static int tcp_client_from(const char *src, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct sockaddr_storage ss;
    socklen_t sl = loop_sockaddr(AF_INET, port, &ss);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
    return fd;
}

/* Waits for readability; 1 ready, 0 timeout. */
static int wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Reads exactly n bytes within ms. Returns n, 0 on EOF (or reset) before
 * that, -1 on timeout. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n, int ms)
{
    long long end = now_ms() + ms;
    size_t got = 0;
    while (got < n) {
        long long left = end - now_ms();
        if (left <= 0 || !wait_readable(fd, (int)left))
            return -1;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return (ssize_t)n;
}

/* 1 when the peer closes (EOF or reset) within ms, 0 if the connection is
 * still open and silent then. Data arriving meanwhile fails the test. */
static int wait_closed(int fd, int ms)
{
    uint8_t b[64];
    if (!wait_readable(fd, ms))
        return 0;
    ssize_t r = recv(fd, b, sizeof b, 0);
    assert_true(r <= 0);
    return 1;
}

static void send_all(int fd, const uint8_t *buf, size_t n)
{
    while (n) {
        ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        buf += r;
        n -= (size_t)r;
    }
}

/* A 12-byte header (id, RD set) and payload bytes: c then filler. */
static size_t make_query(uint8_t *buf, uint16_t id, char c, size_t plen)
{
    memset(buf, 0, 12);
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    buf[2] = 0x01;
    buf[5] = 1;
    for (size_t i = 0; i < plen; i++)
        buf[12 + i] = i == 0 ? (uint8_t)c : (uint8_t)('a' + (id + i) % 26);
    return 12 + plen;
}

static size_t frame(uint8_t *dst, const uint8_t *msg, size_t len)
{
    dst[0] = (uint8_t)(len >> 8);
    dst[1] = (uint8_t)len;
    memcpy(dst + 2, msg, len);
    return len + 2;
}

/* Checks an echoed answer to q (qlen bytes) from a client on cport. */
static void check_echo(const uint8_t *a, size_t alen, const uint8_t *q, size_t qlen,
                       int tcp, uint16_t cport)
{
    assert_int_equal(alen, qlen + 4);
    assert_int_equal(a[0], q[0]);
    assert_int_equal(a[1], q[1]);
    assert_int_equal(a[2], q[2] | 0x80);
    assert_memory_equal(a + 3, q + 3, qlen - 3);
    assert_int_equal(a[qlen], tcp ? 'T' : 'U');
    assert_int_equal((a[qlen + 1] << 8) | a[qlen + 2], cport);
    assert_true(a[qlen + 3] < atomic_load(&nworkers_now));
}

/* One TCP message in, one answer read and checked. */
static void tcp_roundtrip(int fd, uint16_t id)
{
    uint8_t q[64], f[70], a[80];
    size_t ql = make_query(q, id, 'q', 9);
    send_all(fd, f, frame(f, q, ql));
    assert_int_equal(read_full(fd, a, 2, TIMEOUT_MS), 2);
    size_t al = (size_t)a[0] << 8 | a[1];
    assert_true(al <= sizeof a);
    assert_int_equal(read_full(fd, a, al, TIMEOUT_MS), (ssize_t)al);
    check_echo(a, al, q, ql, 1, local_port(fd));
}

/* ------------------------------------------------------------------ */
/* UDP */

static void udp_roundtrip_family(int family, uint16_t port)
{
    uint8_t q[64], a[128];
    int fd = udp_client(family, port);
    size_t ql = make_query(q, 0x1234, 'q', 17);
    assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
    assert_true(wait_readable(fd, TIMEOUT_MS));
    ssize_t n = recv(fd, a, sizeof a, 0);
    assert_true(n > 0);
    check_echo(a, (size_t)n, q, ql, 0, local_port(fd));
    close(fd);
}

static void test_udp_roundtrip(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2, .v6 = 1};
    srv_start(&t, &o);
    udp_roundtrip_family(AF_INET, t.port);
    if (t.v6)
        udp_roundtrip_family(AF_INET6, t.port);

    /* A silent answer, and runts shorter than a header: nothing comes back. */
    uint8_t q[64], a[128];
    int fd = udp_client(AF_INET, t.port);
    size_t ql = make_query(q, 7, 'Z', 5);
    assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
    assert_int_equal(send(fd, q, 11, 0), 11);
    assert_false(wait_readable(fd, 300));
    /* The socket still answers afterwards. */
    ql = make_query(q, 8, 'q', 5);
    assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
    assert_true(wait_readable(fd, TIMEOUT_MS));
    ssize_t n = recv(fd, a, sizeof a, 0);
    check_echo(a, (size_t)n, q, ql, 0, local_port(fd));
    close(fd);

    srv_stop(&t, &st);
    unsigned expect = t.v6 ? 3 : 2;
    assert_int_equal(st.udp_queries, expect + 1); /* + the silent one */
    assert_int_equal(st.udp_answers, expect);
    assert_int_equal(st.tcp_queries, 0);
    assert_int_equal(st.send_errors, 0);
}

#define BURST 2000
#define BURST_SOCKS 8
#define BURST_WINDOW 32 /* per socket in flight */

static void test_udp_burst(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2};
    srv_start(&t, &o);

    int fds[BURST_SOCKS];
    uint16_t ports[BURST_SOCKS];
    unsigned next[BURST_SOCKS], inflight[BURST_SOCKS];
    static uint8_t answered[BURST];
    unsigned nanswered = 0, resent = 0;
    memset(answered, 0, sizeof answered);
    for (int k = 0; k < BURST_SOCKS; k++) {
        fds[k] = udp_client(AF_INET, t.port);
        ports[k] = local_port(fds[k]);
        next[k] = (unsigned)k; /* socket k sends ids k, k+S, k+2S, ... */
        inflight[k] = 0;
    }
    long long end = now_ms() + 20000, last = now_ms();
    while (nanswered < BURST && now_ms() < end) {
        uint8_t q[64], a[128];
        for (int k = 0; k < BURST_SOCKS; k++) {
            while (inflight[k] < BURST_WINDOW && next[k] < BURST) {
                size_t ql = make_query(q, (uint16_t)next[k], 'q', 10);
                assert_int_equal(send(fds[k], q, ql, 0), (ssize_t)ql);
                next[k] += BURST_SOCKS;
                inflight[k]++;
            }
        }
        struct pollfd p[BURST_SOCKS];
        for (int k = 0; k < BURST_SOCKS; k++)
            p[k] = (struct pollfd){.fd = fds[k], .events = POLLIN};
        int r = poll(p, BURST_SOCKS, 200);
        if (r <= 0) {
            /* Nothing for a while: something was dropped; resend the
             * unanswered ids already sent. */
            if (now_ms() - last < 500)
                continue;
            for (int k = 0; k < BURST_SOCKS; k++) {
                for (unsigned id = (unsigned)k; id < next[k]; id += BURST_SOCKS) {
                    if (answered[id])
                        continue;
                    size_t ql = make_query(q, (uint16_t)id, 'q', 10);
                    assert_int_equal(send(fds[k], q, ql, 0), (ssize_t)ql);
                    resent++;
                }
            }
            last = now_ms();
            continue;
        }
        for (int k = 0; k < BURST_SOCKS; k++) {
            if (!(p[k].revents & POLLIN))
                continue;
            for (;;) {
                ssize_t n = recv(fds[k], a, sizeof a, MSG_DONTWAIT);
                if (n < 0)
                    break;
                unsigned id = (unsigned)a[0] << 8 | a[1];
                assert_true(id < BURST);
                assert_int_equal(id % BURST_SOCKS, (unsigned)k);
                size_t ql = make_query(q, (uint16_t)id, 'q', 10);
                check_echo(a, (size_t)n, q, ql, 0, ports[k]);
                if (!answered[id]) {
                    answered[id] = 1;
                    nanswered++;
                    if (inflight[k])
                        inflight[k]--;
                }
                last = now_ms();
            }
        }
    }
    for (int k = 0; k < BURST_SOCKS; k++)
        close(fds[k]);
    assert_int_equal(nanswered, BURST);
    srv_stop(&t, &st);
    if (resent)
        print_message("udp burst: %u queries resent\n", resent);
    assert_true(st.udp_queries >= BURST);
    assert_true(st.udp_queries <= BURST + resent);
    assert_int_equal(st.udp_answers, st.udp_queries);
    assert_int_equal(st.send_errors, 0);
}

/* ------------------------------------------------------------------ */
/* TCP */

static void test_tcp_pipeline(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2, .v6 = 1};
    srv_start(&t, &o);

    for (int fam = 0; fam < (t.v6 ? 2 : 1); fam++) {
        int fd = tcp_client(fam ? AF_INET6 : AF_INET, t.port);
        uint8_t q[3][64], buf[256], a[128];
        size_t ql[3], off = 0;
        for (int i = 0; i < 3; i++) {
            ql[i] = make_query(q[i], (uint16_t)(100 + i), 'q', (size_t)(5 + 7 * i));
            off += frame(buf + off, q[i], ql[i]);
        }
        send_all(fd, buf, off); /* all three in one write */
        for (int i = 0; i < 3; i++) {
            assert_int_equal(read_full(fd, a, 2, TIMEOUT_MS), 2);
            size_t al = (size_t)a[0] << 8 | a[1];
            assert_int_equal(al, ql[i] + 4);
            assert_int_equal(read_full(fd, a, al, TIMEOUT_MS), (ssize_t)al);
            check_echo(a, al, q[i], ql[i], 1, local_port(fd));
        }
        close(fd);
    }
    srv_stop(&t, &st);
    unsigned n = t.v6 ? 2 : 1;
    assert_int_equal(st.tcp_conns, n);
    assert_int_equal(st.tcp_queries, 3 * n);
    assert_int_equal(st.tcp_answers, 3 * n);
    assert_int_equal(st.udp_queries, 0);
}

/* Answers that come later, from another thread: over UDP from the queried
 * socket; over TCP out of order behind the answers given at once; to a TCP
 * client gone meanwhile, nowhere (and nothing leaks); after the stop, for a
 * connection still open then, nowhere. */
static void test_deferred(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 1, .idle_ms = 5000};
    uint8_t q[64], a[128], f[140];
    atomic_store(&nheld, 0);
    srv_start(&t, &o);

    int u = udp_client(AF_INET, t.port);
    size_t ql = make_query(q, 0x0101, 'D', 7);
    assert_int_equal(send(u, q, ql, 0), (ssize_t)ql);
    wait_held(1);
    assert_false(wait_readable(u, 100)); /* nothing until the answer is there */
    glb_deferred_reply(held[0], held_ans[0], held_len[0]);
    assert_true(wait_readable(u, TIMEOUT_MS));
    ssize_t n = recv(u, a, sizeof a, 0);
    assert_true(n > 0);
    check_echo(a, (size_t)n, q, ql, 0, local_port(u));
    close(u);

    /* TCP: 'D' then 'q' pipelined; 'q' is answered first. */
    int c = tcp_client(AF_INET, t.port);
    uint8_t q2[64];
    size_t q2l = make_query(q2, 0x0202, 'D', 9), off = frame(f, q2, q2l);
    ql = make_query(q, 0x0203, 'q', 5);
    off += frame(f + off, q, ql);
    send_all(c, f, off);
    assert_int_equal(read_full(c, a, 2, TIMEOUT_MS), 2);
    assert_int_equal(read_full(c, a, ql + 4, TIMEOUT_MS), (ssize_t)(ql + 4));
    check_echo(a, ql + 4, q, ql, 1, local_port(c));
    wait_held(2);
    /* The peer closes its side: the connection waits for the answer due. */
    shutdown(c, SHUT_WR);
    usleep(100000);
    glb_deferred_reply(held[1], held_ans[1], held_len[1]);
    assert_int_equal(read_full(c, a, 2, TIMEOUT_MS), 2);
    assert_int_equal((size_t)a[0] << 8 | a[1], q2l + 4);
    assert_int_equal(read_full(c, a, q2l + 4, TIMEOUT_MS), (ssize_t)(q2l + 4));
    check_echo(a, q2l + 4, q2, q2l, 1, local_port(c));
    assert_true(wait_closed(c, TIMEOUT_MS)); /* then closes */
    close(c);

    /* A client gone before its answer, and one still there at the stop. */
    for (int k = 0; k < 2; k++) {
        c = tcp_client(AF_INET, t.port);
        q2l = make_query(q2, (uint16_t)(0x0300 + k), 'D', 5);
        send_all(c, f, frame(f, q2, q2l));
        wait_held(3 + (unsigned)k);
        if (k == 0) {
            struct linger lg = {1, 0}; /* a reset: the connection is gone, not half closed */
            assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
            close(c);
            usleep(100000); /* the worker sees the reset first */
            glb_deferred_reply(held[2], held_ans[2], held_len[2]);
        }
    }
    glb_server_stop(t.s);
    glb_deferred_reply(held[3], NULL, 0); /* given up after the stop */
    glb_server_stats_get(t.s, &st);
    glb_server_free(t.s);
    close(c);
    assert_int_equal(atomic_load(&bad), 0);
    assert_int_equal(st.deferred, 4);
    assert_int_equal(st.deferred_answers, 2); /* UDP and TCP; none to the clients gone */
}

static void test_tcp_split(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2};
    srv_start(&t, &o);

    int fd = tcp_client(AF_INET, t.port);
    uint8_t q[64], q2[64], f[200], a[128];
    size_t ql = make_query(q, 42, 'q', 20);
    size_t fl = frame(f, q, ql);
    /* Length byte by byte, then the body in two pieces. */
    send_all(fd, f, 1);
    sleep_ms(30);
    send_all(fd, f + 1, 1);
    sleep_ms(30);
    send_all(fd, f + 2, 10);
    sleep_ms(30);
    assert_false(wait_readable(fd, 50));
    send_all(fd, f + 12, fl - 12);
    assert_int_equal(read_full(fd, a, 2, TIMEOUT_MS), 2);
    assert_int_equal((a[0] << 8) | a[1], ql + 4);
    assert_int_equal(read_full(fd, a, ql + 4, TIMEOUT_MS), (ssize_t)(ql + 4));
    check_echo(a, ql + 4, q, ql, 1, local_port(fd));

    /* A whole message and the first byte of the next in one write. */
    size_t ql2 = make_query(q2, 43, 'q', 3);
    fl = frame(f, q, ql);
    size_t fl2 = frame(f + fl, q2, ql2);
    send_all(fd, f, fl + 1);
    assert_int_equal(read_full(fd, a, 2 + ql + 4, TIMEOUT_MS), (ssize_t)(2 + ql + 4));
    check_echo(a + 2, ql + 4, q, ql, 1, local_port(fd));
    sleep_ms(30);
    send_all(fd, f + fl + 1, fl2 - 1);
    assert_int_equal(read_full(fd, a, 2 + ql2 + 4, TIMEOUT_MS), (ssize_t)(2 + ql2 + 4));
    check_echo(a + 2, ql2 + 4, q2, ql2, 1, local_port(fd));
    close(fd);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_queries, 3);
    assert_int_equal(st.tcp_answers, 3);
}

static void test_tcp_idle_timeout(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2, .idle_ms = 200};
    srv_start(&t, &o);

    int fd = tcp_client(AF_INET, t.port);
    tcp_roundtrip(fd, 1);
    long long t0 = now_ms();
    assert_true(wait_closed(fd, TIMEOUT_MS));
    long long dt = now_ms() - t0;
    assert_true(dt >= 150);
    close(fd);

    /* A partial message does not keep the connection either. */
    fd = tcp_client(AF_INET, t.port);
    uint8_t part[3] = {0, 40, 0};
    send_all(fd, part, sizeof part);
    assert_true(wait_closed(fd, TIMEOUT_MS));
    close(fd);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_timeouts, 2);
    assert_int_equal(st.tcp_conns, 2);
}

static void test_tcp_max_conns(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 1, .max_conns = 2};
    srv_start(&t, &o);

    int c1 = tcp_client(AF_INET, t.port);
    int c2 = tcp_client(AF_INET, t.port);
    tcp_roundtrip(c1, 1);
    tcp_roundtrip(c2, 2);
    /* Full: the third takes the place of the one idle longest (c1), as
     * NSD and Knot do, rather than being turned away. */
    int c3 = tcp_client(AF_INET, t.port);
    tcp_roundtrip(c3, 3);
    assert_true(wait_closed(c1, TIMEOUT_MS));
    close(c1);
    /* The busier two still work; c2 is now the oldest, and goes next. */
    tcp_roundtrip(c2, 4);
    tcp_roundtrip(c3, 5);
    int c4 = tcp_client(AF_INET, t.port);
    tcp_roundtrip(c4, 6);
    assert_true(wait_closed(c2, TIMEOUT_MS));
    close(c2);
    tcp_roundtrip(c3, 7);
    close(c3);
    close(c4);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_evicted, 2);
    assert_int_equal(st.tcp_refused, 0);
    assert_int_equal(st.tcp_conns, 4);
    assert_int_equal(st.tcp_answers, 7);
}

/* A query dripping in a byte at a time, each before the idle timeout, is
 * cut at the message deadline counted from its first byte. */
static void test_tcp_drip_deadline(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 1, .idle_ms = 1000, .msg_ms = 400};
    srv_start(&t, &o);

    int fd = tcp_client(AF_INET, t.port);
    tcp_roundtrip(fd, 1); /* a whole message: no deadline left running */
    uint8_t q[64], f[70];
    size_t fl = frame(f, q, make_query(q, 2, 'q', 20));
    long long t0 = now_ms();
    int closed = 0;
    for (size_t i = 0; i < fl && !closed; i++) {
        if (send(fd, f + i, 1, MSG_NOSIGNAL) != 1 || wait_closed(fd, 100))
            closed = 1;
    }
    long long dt = now_ms() - t0;
    assert_true(closed);
    /* Cut at 400 ms, long before the 3.4 s the drip takes; the idle
     * timeout never fires, each byte restarts it. */
    assert_true(dt >= 350 && dt < 2500);
    close(fd);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_timeouts, 1);
    assert_int_equal(st.tcp_answers, 1);
}

/* One address cannot take more than its share: its own oldest connection
 * gives way, another address's stay. */
static void test_tcp_per_source(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 1, .max_conns = 10, .per_source = 2};
    srv_start(&t, &o);

    int a1 = tcp_client_from("127.0.0.1", t.port);
    int b1 = tcp_client_from("127.0.0.2", t.port);
    int a2 = tcp_client_from("127.0.0.1", t.port);
    tcp_roundtrip(a1, 1);
    tcp_roundtrip(b1, 2);
    tcp_roundtrip(a2, 3);
    int a3 = tcp_client_from("127.0.0.1", t.port);
    tcp_roundtrip(a3, 4);
    assert_true(wait_closed(a1, TIMEOUT_MS));
    tcp_roundtrip(b1, 5);
    tcp_roundtrip(a2, 6);
    close(a1);
    close(a2);
    close(a3);
    close(b1);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_evicted, 1);
    assert_int_equal(st.tcp_answers, 6);
}

static void test_tcp_silent_and_bad_frames(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 2};
    srv_start(&t, &o);

    /* Handler returns 0: nothing is sent, the connection stays usable. */
    int fd = tcp_client(AF_INET, t.port);
    uint8_t q[64], f[70];
    size_t ql = make_query(q, 9, 'Z', 6);
    send_all(fd, f, frame(f, q, ql));
    assert_false(wait_readable(fd, 300));
    tcp_roundtrip(fd, 10);
    close(fd);

    /* Zero-length frame: closed. */
    fd = tcp_client(AF_INET, t.port);
    tcp_roundtrip(fd, 11);
    uint8_t zero[2] = {0, 0};
    send_all(fd, zero, 2);
    assert_true(wait_closed(fd, TIMEOUT_MS));
    close(fd);

    /* Shorter than a header: closed. */
    fd = tcp_client(AF_INET, t.port);
    uint8_t runt[7] = {0, 5, 1, 2, 3, 4, 5};
    send_all(fd, runt, sizeof runt);
    assert_true(wait_closed(fd, TIMEOUT_MS));
    close(fd);

    /* Queries before the peer's close are still answered, then EOF. */
    fd = tcp_client(AF_INET, t.port);
    uint8_t q2[64], buf[200], a[128];
    size_t ql2 = make_query(q2, 12, 'q', 8);
    size_t off = frame(buf, q, make_query(q, 13, 'q', 3));
    size_t ql1 = off - 2;
    off += frame(buf + off, q2, ql2);
    buf[off++] = 0; /* and half a length */
    send_all(fd, buf, off);
    shutdown(fd, SHUT_WR);
    assert_int_equal(read_full(fd, a, 2 + ql1 + 4, TIMEOUT_MS), (ssize_t)(2 + ql1 + 4));
    check_echo(a + 2, ql1 + 4, q, ql1, 1, local_port(fd));
    assert_int_equal(read_full(fd, a, 2 + ql2 + 4, TIMEOUT_MS), (ssize_t)(2 + ql2 + 4));
    check_echo(a + 2, ql2 + 4, q2, ql2, 1, local_port(fd));
    assert_true(wait_closed(fd, TIMEOUT_MS));
    close(fd);

    srv_stop(&t, &st);
    assert_int_equal(st.tcp_queries, 5);
    assert_int_equal(st.tcp_answers, 4);
    assert_int_equal(st.tcp_conns, 4);
    assert_int_equal(st.tcp_timeouts, 0);
}

/* Many 64 KiB answers pipelined to a client that reads late: the server
 * stops reading while its output is full and catches up afterwards. */
#define BIG_N 24
static void test_tcp_big_backpressure(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    srv_opts o = {.workers = 1};
    srv_start(&t, &o);

    int fd = tcp_client(AF_INET, t.port);
    uint8_t buf[BIG_N * 20];
    size_t off = 0;
    for (int i = 0; i < BIG_N; i++) {
        uint8_t q[32];
        off += frame(buf + off, q, make_query(q, (uint16_t)(0x100 + i), 'L', 4));
    }
    send_all(fd, buf, off);
    sleep_ms(200);
    uint8_t *a = malloc(BIG_LEN);
    assert_non_null(a);
    for (int i = 0; i < BIG_N; i++) {
        uint8_t l[2];
        assert_int_equal(read_full(fd, l, 2, TIMEOUT_MS), 2);
        assert_int_equal((l[0] << 8) | l[1], BIG_LEN);
        assert_int_equal(read_full(fd, a, BIG_LEN, TIMEOUT_MS), BIG_LEN);
        assert_int_equal((a[0] << 8) | a[1], 0x100 + i);
        assert_int_equal(a[2] & 0x80, 0x80);
        assert_int_equal(a[BIG_LEN - 1], (uint8_t)(0x100 + i));
    }
    free(a);
    tcp_roundtrip(fd, 1);
    close(fd);
    srv_stop(&t, &st);
    assert_int_equal(st.tcp_answers, BIG_N + 1);
}

/* ------------------------------------------------------------------ */
/* Life cycle */

static void test_qsbr_and_both_paths(void **state)
{
    (void)state;
    test_srv t;
    glb_server_stats st;
    /* 3 workers x (TCP loop + UDP on v4 and v6): at most 9 reader threads */
    glb_qsbr *q = glb_qsbr_new(9);
    assert_non_null(q);
    srv_opts o = {.workers = 3, .qsbr = q, .v6 = 1};
    srv_start(&t, &o);
    for (int i = 0; i < 20; i++) {
        udp_roundtrip_family(AF_INET, t.port);
        int fd = tcp_client(AF_INET, t.port);
        tcp_roundtrip(fd, (uint16_t)i);
        close(fd);
    }
    glb_qsbr_synchronize(q);
    srv_stop(&t, &st);
    glb_qsbr_free(q);
    assert_int_equal(st.udp_answers, 20);
    assert_int_equal(st.tcp_answers, 20);
}

static void test_lifecycle(void **state)
{
    (void)state;
    char err[256];
    test_srv t;
    srv_opts o = {.workers = 4};

    /* Stop with clients still connected; stop twice; free. */
    srv_start(&t, &o);
    int fd = tcp_client(AF_INET, t.port);
    tcp_roundtrip(fd, 1);
    glb_server_stop(t.s);
    assert_true(wait_closed(fd, TIMEOUT_MS)); /* stop drops the clients */
    close(fd);
    srv_stop(&t, NULL);

    /* Created but never started; stats of NULL. */
    glb_addr a;
    glb_server_cfg cfg = {.workers = 2, .handler = echo_handler};
    glb_server *s = new_v4_server(&cfg, &a, err, sizeof err);
    glb_server_stop(s);
    glb_server_free(s);
    glb_server_free(NULL);

    /* Bad configurations. */
    cfg.workers = 0;
    assert_null(glb_server_new(&cfg, err, sizeof err));
    cfg.workers = 1;
    cfg.handler = NULL;
    assert_null(glb_server_new(&cfg, err, sizeof err));
    cfg.handler = echo_handler;
    a.port = 0;
    assert_null(glb_server_new(&cfg, err, sizeof err));

    /* Port taken by a socket without SO_REUSEPORT: "ADDR@PORT: reason". */
    struct sockaddr_storage ss;
    socklen_t sl = loop_sockaddr(AF_INET, 0, &ss);
    int blk = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(blk >= 0);
    assert_int_equal(bind(blk, (struct sockaddr *)&ss, sl), 0);
    assert_int_equal(listen(blk, 1), 0);
    a.port = local_port(blk);
    s = glb_server_new(&cfg, err, sizeof err);
    if (s) {
        glb_server_free(s); /* something let both bind: not our failure mode */
        fail_msg("bind on a taken port succeeded");
    }
    char want[32];
    snprintf(want, sizeof want, "@%u: ", a.port);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "127.0.0.1"));
    close(blk);
}

/* Wildcard listeners answer from the address queried. Binding 0.0.0.0 and
 * :: happens in a child inside a new network namespace holding only the
 * loopback interface (so nothing is exposed); skipped when that is not
 * permitted. A client connected to 127.0.0.2 drops an answer that comes
 * from 127.0.0.1, which is what the kernel would pick without pktinfo. */
static int wildcard_query(int family, const char *dst, uint16_t port, int tcp)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    uint8_t q[64], f[70], a[128];
    size_t ql = make_query(q, 0x4242, 'q', 6);

    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, dst, &s4->sin_addr) != 1)
            return 10;
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, dst, &s6->sin6_addr) != 1)
            return 10;
        sl = sizeof *s6;
    }
    int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
        return 11;
    ssize_t n;
    if (tcp) {
        size_t fl = frame(f, q, ql);
        if (send(fd, f, fl, MSG_NOSIGNAL) != (ssize_t)fl)
            return 12;
        n = read_full(fd, a, 2 + ql + 4, TIMEOUT_MS) == (ssize_t)(2 + ql + 4) ? (ssize_t)(ql + 4) : -1;
        if (n > 0)
            memmove(a, a + 2, (size_t)n);
    } else {
        if (send(fd, q, ql, 0) != (ssize_t)ql)
            return 12;
        n = wait_readable(fd, TIMEOUT_MS) ? recv(fd, a, sizeof a, 0) : -1;
    }
    close(fd);
    if (n != (ssize_t)(ql + 4) || a[0] != 0x42 || a[1] != 0x42 || !(a[2] & 0x80) ||
        a[ql] != (tcp ? 'T' : 'U'))
        return 13;
    return 0;
}

static int wildcard_child(void)
{
    char err[256];
    struct ifreq ifr;
    int r;

    if (unshare(CLONE_NEWNET) < 0)
        return 77;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return 77;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return 77;
    close(s);
    int v6 = have_v6();

    glb_addr la[2];
    memset(la, 0, sizeof la);
    la[0].family = AF_INET;
    la[0].port = 5300;
    la[1].family = AF_INET6;
    la[1].port = 5300;
    glb_server_cfg cfg = {.listen = la, .nlisten = v6 ? 2 : 1, .workers = 2, .handler = echo_handler};
    atomic_store(&nworkers_now, glb_server_threads(&cfg));
    glb_server *srv = glb_server_new(&cfg, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "wildcard: %s\n", err);
        return 20;
    }
    if (glb_server_start(srv) < 0)
        return 21;
    if ((r = wildcard_query(AF_INET, "127.0.0.1", 5300, 0)) ||
        (r = wildcard_query(AF_INET, "127.0.0.2", 5300, 0)) ||
        (r = wildcard_query(AF_INET, "127.0.0.2", 5300, 1)) ||
        (v6 && (r = wildcard_query(AF_INET6, "::1", 5300, 0))) ||
        (v6 && (r = wildcard_query(AF_INET6, "::1", 5300, 1))))
        return 30 + r;
    glb_server_stats st;
    glb_server_stop(srv);
    glb_server_stats_get(srv, &st);
    glb_server_free(srv);
    if (st.udp_answers != (v6 ? 3u : 2u) || st.tcp_answers != (v6 ? 2u : 1u) || st.send_errors)
        return 40;
    return atomic_load(&bad) ? 41 : 0;
}

static void test_wildcard_pktinfo(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(wildcard_child());
    int wst;
    long long end = now_ms() + 4 * TIMEOUT_MS;
    pid_t r;
    while ((r = waitpid(pid, &wst, WNOHANG)) == 0 && now_ms() < end)
        sleep_ms(10);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &wst, 0);
        fail_msg("wildcard child hung");
    }
    assert_int_equal(r, pid);
    assert_true(WIFEXITED(wst));
    if (WEXITSTATUS(wst) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(wst), 0);
}

/* The daemon order: sockets bound in the parent, fork (daemonize), then
 * start in the child. The parent freeing its copy must not disturb it. */
static int fork_child(glb_server *srv, uint16_t port)
{
    if (glb_server_start(srv) < 0)
        return 20;
    int r = wildcard_query(AF_INET, "127.0.0.1", port, 0);
    if (!r)
        r = wildcard_query(AF_INET, "127.0.0.1", port, 1);
    sleep_ms(100); /* the parent frees its copy meanwhile */
    if (!r)
        r = wildcard_query(AF_INET, "127.0.0.1", port, 0);
    if (!r)
        r = wildcard_query(AF_INET, "127.0.0.1", port, 1);
    glb_server_free(srv);
    return r ? 30 + r : (atomic_load(&bad) ? 41 : 0);
}

static void test_start_after_fork(void **state)
{
    (void)state;
    char err[256];
    glb_addr a;
    glb_server_cfg cfg = {.workers = 2, .handler = echo_handler};
    atomic_store(&nworkers_now, 2 * 2); /* one v4 listener: a TCP loop and a UDP thread per worker */
    atomic_store(&bad, 0);
    glb_server *srv = new_v4_server(&cfg, &a, err, sizeof err);
    uint16_t port = a.port;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fork_child(srv, port));
    sleep_ms(30);
    glb_server_free(srv);
    int wst;
    long long end = now_ms() + 4 * TIMEOUT_MS;
    pid_t r;
    while ((r = waitpid(pid, &wst, WNOHANG)) == 0 && now_ms() < end)
        sleep_ms(10);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &wst, 0);
        fail_msg("child hung");
    }
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
}

/* ------------------------------------------------------------------ */
/* daemon.c */

static char tmpdir[] = "/tmp/test_server.XXXXXX";

static void test_pidfile(void **state)
{
    (void)state;
    char err[256], path[256], buf[64];
    struct stat sb;

    assert_non_null(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/x.pid", tmpdir);
    mode_t old = umask(077);
    assert_int_equal(glb_pidfile_write(path, err, sizeof err), 0);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_int_equal(atol(buf), (long)getpid());
    /* Written again: replaced. */
    assert_int_equal(glb_pidfile_write(path, err, sizeof err), 0);
    glb_pidfile_remove(path);
    assert_int_equal(stat(path, &sb), -1);

    /* Someone else's pid: left alone. */
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%ld\n", (long)getpid() + 1);
    fclose(f);
    glb_pidfile_remove(path);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(unlink(path), 0);
    glb_pidfile_remove(path); /* missing: no-op */

    /* No such directory: an error naming the path. */
    snprintf(path, sizeof path, "%s/nodir/x.pid", tmpdir);
    assert_int_equal(glb_pidfile_write(path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));

    /* Nothing left behind (no temporary files). */
    assert_int_equal(rmdir(tmpdir), 0);
}

static void test_drop_privileges(void **state)
{
    (void)state;
    char err[256] = "";

    assert_int_equal(glb_drop_privileges("", err, sizeof err), 0);
    assert_int_equal(glb_drop_privileges(NULL, err, sizeof err), 0);
    if (getuid() != 0) {
        assert_int_equal(glb_drop_privileges("nobody", err, sizeof err), 0);
        return;
    }
    assert_int_equal(glb_drop_privileges("no-such-user-glb", err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-user-glb"));

    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();
    uid_t uid = pw->pw_uid;
    /* In a child: dropping is for good. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char e[256];
        if (glb_drop_privileges("nobody", e, sizeof e) != 0)
            _exit(2);
        if (getuid() != uid || geteuid() != uid)
            _exit(3);
        if (setuid(0) == 0 || seteuid(0) == 0)
            _exit(4);
        _exit(0);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
}

static void test_daemonize(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t mysid = getsid(0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (glb_daemonize() != 0)
            _exit(1);
        /* The daemon: report session, cwd, and what stdin is. */
        char cwd[64] = "";
        struct stat a, b;
        long r[4];
        r[0] = (long)getsid(0);
        r[1] = getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0;
        r[2] = fstat(0, &a) == 0 && stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev;
        r[3] = (long)getpid();
        if (write(p[1], r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid); /* the first parent exits at once */
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    long r[4];
    assert_true(wait_readable(p[0], TIMEOUT_MS));
    assert_int_equal(read(p[0], r, sizeof r), (ssize_t)sizeof r);
    close(p[0]);
    assert_true(r[0] != (long)mysid);
    assert_true(r[0] != r[3]); /* double fork: not a session leader */
    assert_int_equal(r[1], 1);
    assert_int_equal(r[2], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_roundtrip),
        cmocka_unit_test(test_udp_burst),
        cmocka_unit_test(test_tcp_pipeline),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_tcp_split),
        cmocka_unit_test(test_tcp_idle_timeout),
        cmocka_unit_test(test_tcp_max_conns),
        cmocka_unit_test(test_tcp_drip_deadline),
        cmocka_unit_test(test_tcp_per_source),
        cmocka_unit_test(test_tcp_silent_and_bad_frames),
        cmocka_unit_test(test_tcp_big_backpressure),
        cmocka_unit_test(test_qsbr_and_both_paths),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_wildcard_pktinfo),
        cmocka_unit_test(test_start_after_fork),
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_drop_privileges),
        cmocka_unit_test(test_daemonize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
