/* Unit tests for shared/measure/probe_http: URL parsing, and checks against
 * tests/fixture/httpd.py (plain and TLS, with a throw-away self-signed
 * certificate) and against canned responses served from inside the test.
 * Loopback only; every wait is bounded.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "shared/addr.h"
#include "shared/measure/probe_http.h"

#define LOOP_MAX_MS 5000

/* ------------------------------------------------------------------ */
/* The fixture process */

static struct {
    pid_t pid;
    char dir[64];
    char cert[128], key[128];
    uint16_t http, https, ctl, closed;
    int closed_fd;      /* bound, never listening: connections are refused */
    SSL_CTX *ctx_sys;   /* system trust store */
    SSL_CTX *ctx_ca;    /* trusts the fixture's certificate */
} fx = {.pid = -1, .closed_fd = -1};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fixture_path(char *buf, size_t len)
{
    const char *top = getenv("top_srcdir");
    if (top && *top) {
        snprintf(buf, len, "%s/tests/fixture/httpd.py", top);
        return;
    }
    /* __FILE__ is .../tests/unit/test_probe_http.c */
    const char *t = strstr(__FILE__, "tests/unit/");
    snprintf(buf, len, "%.*stests/fixture/httpd.py", t ? (int)(t - __FILE__) : 0, __FILE__);
}

static int run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint16_t parse_port(const char *hostport)
{
    const char *c = strrchr(hostport, ':');
    return c ? (uint16_t)atoi(c + 1) : 0;
}

static int fixture_start(void)
{
    char script[1024];
    int pfd[2];

    strcpy(fx.dir, "/tmp/glb-test-http.XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.cert, sizeof(fx.cert), "%s/cert.pem", fx.dir);
    snprintf(fx.key, sizeof(fx.key), "%s/key.pem", fx.dir);
    char *req[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "2",
                   "-keyout", fx.key, "-out", fx.cert, NULL};
    if (run_quiet(req) != 0) {
        fprintf(stderr, "openssl req failed\n");
        return -1;
    }

    /* a port that refuses connections */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    fx.closed_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fx.closed_fd < 0 || bind(fx.closed_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fx.closed_fd, (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    fx.closed = ntohs(sin.sin_port);

    fixture_path(script, sizeof(script));
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    fx.pid = fork();
    if (fx.pid < 0)
        return -1;
    if (fx.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        dup2(pfd[1], 1);
        execlp("python3", "python3", script, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--cert",
               fx.cert, "--key", fx.key, "--control", "127.0.0.1:0", (char *)NULL);
        fprintf(stderr, "exec python3 %s: %s\n", script, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    /* read the announcements up to "ready" */
    char buf[4096];
    size_t got = 0;
    double deadline = mono_ms() + 10000;
    int ready = 0, eof = 0;
    while (!ready && !eof && mono_ms() < deadline) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
        if (n <= 0) {
            eof = 1;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        char *nl;
        while (!ready && (nl = strchr(buf, '\n')) != NULL) {
            *nl = '\0';
            const char *line = buf;
            if (strncmp(line, "listening http ", 15) == 0)
                fx.http = parse_port(line);
            else if (strncmp(line, "listening https ", 16) == 0)
                fx.https = parse_port(line);
            else if (strncmp(line, "control ", 8) == 0)
                fx.ctl = parse_port(line);
            else if (strcmp(line, "ready") == 0)
                ready = 1;
            got -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, got + 1);
        }
        if (got == sizeof(buf) - 1)
            break;
    }
    close(pfd[0]);
    if (!ready || !fx.http || !fx.https || !fx.ctl) {
        fprintf(stderr, "the fixture (%s) did not start\n", script);
        return -1;
    }
    return 0;
}

static void fixture_stop(void)
{
    if (fx.pid > 0) {
        kill(fx.pid, SIGTERM);
        double deadline = mono_ms() + 3000;
        int st;
        while (waitpid(fx.pid, &st, WNOHANG) == 0) {
            if (mono_ms() > deadline) {
                kill(fx.pid, SIGKILL);
                waitpid(fx.pid, &st, 0);
                break;
            }
            usleep(10000);
        }
        fx.pid = -1;
    }
    if (fx.closed_fd >= 0)
        close(fx.closed_fd);
    fx.closed_fd = -1;
    if (fx.dir[0]) {
        unlink(fx.cert);
        unlink(fx.key);
        rmdir(fx.dir);
    }
}

/* GET path on the control port; 0 when the answer is 200 (body into out). */
static int ctl(const char *path, char *out, size_t outlen)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(fx.ctl),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    char req[512], buf[8192];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    if (out) {
        const char *body = strstr(buf, "\r\n\r\n");
        snprintf(out, outlen, "%s", body ? body + 4 : "");
    }
    return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 ? 0 : -1;
}

static void ctl_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_set(const char *fmt, ...)
{
    char q[400], path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/set?%s", q);
    assert_int_equal(ctl(path, NULL, 0), 0);
}

static int group_setup(void **state)
{
    (void)state;
    if (fixture_start() != 0) {
        fixture_stop();
        return -1;
    }
    fx.ctx_sys = glb_http_ssl_ctx_new(NULL);
    fx.ctx_ca = glb_http_ssl_ctx_new(fx.cert);
    return fx.ctx_sys && fx.ctx_ca ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    SSL_CTX_free(fx.ctx_sys);
    SSL_CTX_free(fx.ctx_ca);
    fixture_stop();
    return 0;
}

/* Before each fixture test: default behaviour everywhere. */
static int reset_fixture(void **state)
{
    (void)state;
    return ctl("/reset", NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Running checks */

struct outcome {
    int calls;
    glb_http_result r;
    double at_ms;    /* when the callback ran */
    int *done;       /* bumped on every call when set */
};

static void on_result(void *arg, const glb_http_result *r)
{
    struct outcome *o = arg;
    o->calls++;
    o->r = *r;
    o->at_ms = mono_ms();
    if (getenv("GLB_TEST_VERBOSE"))
        print_message("  -> %s status %d connect %.2f tls %.2f ttfb %.2f total %.2f body %zu\n",
                      glb_http_error_str(r->err), r->status, r->connect_ms, r->tls_ms, r->ttfb_ms, r->total_ms,
                      r->body_bytes);
    if (o->done)
        (*o->done)++;
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until *count reaches target (count NULL: for max_ms) or
 * max_ms pass. Returns 1 when the target was reached. */
static int run_until(struct event_base *base, const int *count, int target, unsigned max_ms)
{
    int expired = 0;
    struct event *guard = evtimer_new(base, on_guard, &expired);
    struct timeval tv = {.tv_sec = max_ms / 1000, .tv_usec = (max_ms % 1000) * 1000};
    evtimer_add(guard, &tv);
    while (!expired && (!count || *count < target))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    return count && *count >= target;
}

static glb_addr loopback(void)
{
    glb_addr a;
    assert_int_equal(glb_addr_parse("127.0.0.1", &a), 0);
    return a;
}

/* One check of url against 127.0.0.1, run to its end. */
static struct outcome check(const char *url, SSL_CTX *ctx, unsigned timeout_ms, int verify, size_t max_body)
{
    struct event_base *base = event_base_new();
    struct outcome o = {0};
    int done = 0;
    glb_url u;
    const char *why = NULL;
    glb_addr a = loopback();

    assert_non_null(base);
    o.done = &done;
    assert_int_equal(glb_url_parse(url, &u, &why), 0);
    glb_http_check *c = glb_http_check_start(base, ctx, &u, &a, timeout_ms, verify, max_body, on_result, &o);
    assert_non_null(c);
    assert_int_equal(o.calls, 0); /* never from inside start */
    assert_true(run_until(base, &done, 1, LOOP_MAX_MS));
    run_until(base, NULL, 0, 20); /* no second call */
    assert_int_equal(o.calls, 1);
    event_base_free(base);
    return o;
}

static void assert_times_ordered(const glb_http_result *r, int tls)
{
    assert_true(r->connect_ms >= 0);
    if (tls) {
        assert_true(r->tls_ms >= r->connect_ms);
        assert_true(r->ttfb_ms >= r->tls_ms);
    } else {
        assert_true(r->tls_ms < 0);
        assert_true(r->ttfb_ms >= r->connect_ms);
    }
    assert_true(r->total_ms >= r->ttfb_ms);
}

static char *url_http(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%u%s", (unsigned)fx.http, path);
    return buf;
}

/* ------------------------------------------------------------------ */
/* URLs */

static void test_url_parse(void **state)
{
    glb_url u;
    const char *why;
    (void)state;

    assert_int_equal(glb_url_parse("http://example.com", &u, &why), 0);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "example.com");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");

    assert_int_equal(glb_url_parse("HTTPS://www.Example.com/check/obj.txt?x=1&y=2#frag", &u, &why), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "www.Example.com");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/check/obj.txt?x=1&y=2");

    assert_int_equal(glb_url_parse("http://10.1.2.3:8080/a", &u, &why), 0);
    assert_string_equal(u.host, "10.1.2.3");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/a");

    assert_int_equal(glb_url_parse("https://[2001:db8::1]:8443/t", &u, &why), 0);
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/t");

    assert_int_equal(glb_url_parse("http://[::1]", &u, &why), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 80);

    assert_int_equal(glb_url_parse("http://h?q", &u, &why), 0);
    assert_string_equal(u.path, "/?q");
    assert_int_equal(glb_url_parse("http://h#f", &u, &why), 0);
    assert_string_equal(u.path, "/");
    assert_int_equal(glb_url_parse("http://h:65535/", &u, &why), 0);
    assert_int_equal(u.port, 65535);
    assert_int_equal(glb_url_parse("http://h:1", &u, &why), 0);
    assert_int_equal(u.port, 1);
    assert_int_equal(glb_url_parse("http://under_score.example-1.net/", &u, &why), 0);

    static const char *bad[] = {
        "",
        "example.com",
        "ftp://example.com/",
        "http:/example.com",
        "http://",
        "http:///path",
        "http://user@example.com/",
        "http://user:pw@example.com/",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:/",
        "http://example.com:8o/",
        "http://example.com:99999999999999999999/",
        "http://[2001:db8::1/",
        "http://[example.com]/",
        "http://[10.0.0.1]/",
        "http://[::1]x/",
        "http://2001:db8::1/",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com/\r\nX: y",
        "http://a..b/",
        "http://.a/",
        "http://-a.b/",
        "http://a-.b/",
        "http://a.b./",
        "http://ex%41mple.com/",
        "http://1.2.3.256/",
        "http://1.2.3/",
        "http://\xc3\xa9.com/",
        "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (glb_url_parse(bad[i], &u, &why) != -1)
            fail_msg("accepted bad URL \"%s\"", bad[i]);
        assert_non_null(why);
        assert_true(strlen(why) > 0);
    }
    /* a path that does not fit */
    char longurl[1100] = "http://h/";
    memset(longurl + 9, 'p', 1050);
    longurl[1059] = '\0';
    assert_int_equal(glb_url_parse(longurl, &u, &why), -1);
    assert_int_equal(glb_url_parse(NULL, &u, &why), -1);
    /* why may be NULL */
    assert_int_equal(glb_url_parse("http://u@h/", &u, NULL), -1);
}

static void test_error_str(void **state)
{
    (void)state;
    assert_string_equal(glb_http_error_str(GLB_HTTP_OK), "ok");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_CONNECT), "connect");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_TLS), "tls");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_TIMEOUT), "timeout");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_RESET), "reset");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_PROTOCOL), "protocol");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_STATUS), "status");
    assert_string_equal(glb_http_error_str(GLB_HTTP_ERR_TOO_BIG), "too-big");
    assert_string_equal(glb_http_error_str((enum glb_http_error)99), "unknown");
}

static void test_start_rejects(void **state)
{
    struct event_base *base = event_base_new();
    struct outcome o = {0};
    glb_url u;
    glb_addr a = loopback(), bad = {.family = AF_UNIX};
    (void)state;

    assert_int_equal(glb_url_parse("http://127.0.0.1:1/", &u, NULL), 0);
    assert_null(glb_http_check_start(base, NULL, &u, &bad, 100, 1, 100, on_result, &o));
    assert_null(glb_http_check_start(base, NULL, NULL, &a, 100, 1, 100, on_result, &o));
    assert_int_equal(glb_url_parse("https://127.0.0.1:1/", &u, NULL), 0);
    assert_null(glb_http_check_start(base, NULL, &u, &a, 100, 1, 100, on_result, &o)); /* https without ctx */
    strcpy(u.path, "/a b"); /* hand-made, would break the request line */
    u.tls = 0;
    assert_null(glb_http_check_start(base, NULL, &u, &a, 100, 1, 100, on_result, &o));
    run_until(base, NULL, 0, 20);
    assert_int_equal(o.calls, 0);
    event_base_free(base);
}

/* ------------------------------------------------------------------ */
/* Against the fixture */

static void test_ok(void **state)
{
    char url[128];
    (void)state;
    double t0 = mono_ms();
    struct outcome o = check(url_http(url, sizeof(url), "/obj.txt"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_bytes, 3);
    assert_times_ordered(&o.r, 0);
    assert_true(o.r.total_ms <= o.at_ms - t0 + 1);
    char stats[4096], key[64];
    assert_int_equal(ctl("/stats", stats, sizeof(stats)), 0);
    snprintf(key, sizeof(key), "\"127.0.0.1:%u\": ", (unsigned)fx.http);
    assert_non_null(strstr(stats, key));
}

static void test_delay(void **state)
{
    char url[128];
    (void)state;
    ctl_set("port=%u&delay_ms=200", (unsigned)fx.http);
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_true(o.r.ttfb_ms >= 200);
    assert_true(o.r.ttfb_ms < 1500);
    assert_true(o.r.connect_ms < 200);
    assert_times_ordered(&o.r, 0);
}

static void test_src_delay(void **state)
{
    char url[128];
    (void)state;
    /* a delay for another source address does not apply to us */
    ctl_set("port=%u&src=127.0.0.21&delay_ms=400", (unsigned)fx.http);
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_true(o.r.ttfb_ms < 300);
    ctl_set("port=%u&src=127.0.0.1&delay_ms=150", (unsigned)fx.http);
    o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_true(o.r.ttfb_ms >= 150);
}

static void test_status(void **state)
{
    char url[128];
    (void)state;
    ctl_set("port=%u&status=503", (unsigned)fx.http);
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_STATUS);
    assert_int_equal(o.r.status, 503);
    assert_int_equal(o.r.body_bytes, 3);
    assert_times_ordered(&o.r, 0);

    ctl_set("port=%u&status=302", (unsigned)fx.http); /* redirects are alive */
    o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 302);

    ctl_set("port=%u&status=204", (unsigned)fx.http);
    o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 204);
    assert_int_equal(o.r.body_bytes, 0);
}

static void test_reset(void **state)
{
    char url[128];
    (void)state;
    ctl_set("port=%u&mode=reset", (unsigned)fx.http);
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    assert_int_equal(o.r.status, 0);
    assert_true(o.r.connect_ms >= 0);
    assert_true(o.r.ttfb_ms < 0);
    assert_true(o.r.total_ms < 0);
}

static void test_close(void **state)
{
    char url[128];
    (void)state;
    ctl_set("port=%u&mode=close", (unsigned)fx.http);
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    assert_int_equal(o.r.status, 0);
    assert_true(o.r.total_ms < 0);
}

static void test_hang_timeout(void **state)
{
    char url[128];
    (void)state;
    ctl_set("port=%u&mode=hang", (unsigned)fx.http);
    double t0 = mono_ms();
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 300, 1, 4096);
    double took = o.at_ms - t0;
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TIMEOUT);
    assert_true(o.r.connect_ms >= 0);
    assert_true(o.r.ttfb_ms < 0);
    assert_true(o.r.total_ms < 0);
    if (took < 295 || took > 700)
        fail_msg("timeout after %.1f ms, wanted about 300", took);
}

static void test_zero_timeout(void **state)
{
    char url[128];
    (void)state;
    struct outcome o = check(url_http(url, sizeof(url), "/"), NULL, 0, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TIMEOUT);
    assert_true(o.r.total_ms < 0);
}

static void test_connect_refused(void **state)
{
    char url[128];
    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)fx.closed);
    struct outcome o = check(url, NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_CONNECT);
    assert_true(o.r.connect_ms < 0);
    assert_true(o.r.total_ms < 0);
    assert_int_equal(o.r.status, 0);
}

static void test_https_noverify(void **state)
{
    char url[128];
    (void)state;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", (unsigned)fx.https);
    struct outcome o = check(url, fx.ctx_sys, 3000, 0, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_bytes, 3);
    assert_times_ordered(&o.r, 1);
    /* a name that is not in the certificate: fine without verification */
    snprintf(url, sizeof(url), "https://wrong.example:%u/", (unsigned)fx.https);
    o = check(url, fx.ctx_sys, 3000, 0, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
}

static void test_https_verify(void **state)
{
    char url[128];
    (void)state;
    /* self-signed: not trusted by the system store */
    snprintf(url, sizeof(url), "https://localhost:%u/", (unsigned)fx.https);
    struct outcome o = check(url, fx.ctx_sys, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TLS);
    assert_true(o.r.connect_ms >= 0);
    assert_true(o.r.tls_ms < 0);
    assert_int_equal(o.r.status, 0);

    /* trusted: by name and by address (both in subjectAltName) */
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_times_ordered(&o.r, 1);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_times_ordered(&o.r, 1);

    /* trusted, but for other names */
    snprintf(url, sizeof(url), "https://wrong.example:%u/", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TLS);
    snprintf(url, sizeof(url), "https://127.0.0.2:%u/", (unsigned)fx.https); /* host only names the IP */
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TLS);
}

struct canned;
static struct outcome canned_run(const char *scheme, SSL_CTX *ctx, int on_accept, const char *resp, size_t len,
                                 size_t max_body, struct canned *keep);

static void test_https_failures(void **state)
{
    char url[128];
    (void)state;
    snprintf(url, sizeof(url), "https://localhost:%u/", (unsigned)fx.https);
    ctl_set("port=%u&mode=reset", (unsigned)fx.https);
    struct outcome o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    assert_true(o.r.tls_ms >= 0);

    ctl_set("port=%u&mode=close", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);

    ctl_set("port=%u&mode=normal&status=500&delay_ms=100", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_STATUS);
    assert_int_equal(o.r.status, 500);
    assert_true(o.r.ttfb_ms >= 100);
    assert_times_ordered(&o.r, 1);

    ctl_set("port=%u&status=200&delay_ms=0&framing=close&body_size=5000", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 8192);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 5000);

    ctl_set("port=%u&chunked=1&body_size=2500", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 3000, 1, 8192);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 2500);

    ctl_set("port=%u&mode=hang", (unsigned)fx.https);
    o = check(url, fx.ctx_ca, 250, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TIMEOUT);
    assert_true(o.r.tls_ms >= 0);

    /* plain HTTP to the TLS port */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)fx.https);
    ctl_set("port=%u&mode=normal", (unsigned)fx.https);
    o = check(url, NULL, 3000, 1, 4096);
    assert_true(o.r.err == GLB_HTTP_ERR_RESET || o.r.err == GLB_HTTP_ERR_PROTOCOL ||
                o.r.err == GLB_HTTP_ERR_TIMEOUT);
    /* TLS to a plain HTTP server (that speaks first) */
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    o = canned_run("https", fx.ctx_ca, 1, resp, sizeof(resp) - 1, 100, NULL);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TLS);
    assert_true(o.r.connect_ms >= 0);
}

static void test_too_big(void **state)
{
    char url[128];
    (void)state;
    url_http(url, sizeof(url), "/");
    ctl_set("port=%u&body_size=5000", (unsigned)fx.http);
    struct outcome o = check(url, NULL, 2000, 1, 1000);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TOO_BIG);
    assert_int_equal(o.r.status, 200);
    assert_true(o.r.total_ms < 0);
    o = check(url, NULL, 2000, 1, 5000); /* exactly the bound */
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 5000);

    ctl_set("port=%u&chunked=1", (unsigned)fx.http);
    o = check(url, NULL, 2000, 1, 1000);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TOO_BIG);
    assert_true(o.r.body_bytes <= 1000);

    ctl_set("port=%u&framing=close", (unsigned)fx.http);
    o = check(url, NULL, 2000, 1, 1000);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TOO_BIG);

    /* "ok\n" against a bound of 2 */
    ctl("/reset", NULL, 0);
    o = check(url, NULL, 2000, 1, 2);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TOO_BIG);

    /* a bad status is reported as such even when the body is too big */
    ctl_set("port=%u&status=500&body_size=5000", (unsigned)fx.http);
    o = check(url, NULL, 2000, 1, 1000);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_STATUS);
    assert_int_equal(o.r.status, 500);
}

static void test_chunked(void **state)
{
    char url[128];
    (void)state;
    url_http(url, sizeof(url), "/");
    ctl_set("port=%u&chunked=1", (unsigned)fx.http);
    struct outcome o = check(url, NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 3);
    ctl_set("port=%u&body_size=2500", (unsigned)fx.http); /* three chunks */
    o = check(url, NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 2500);
    assert_times_ordered(&o.r, 0);
    ctl_set("port=%u&body_size=0", (unsigned)fx.http);
    o = check(url, NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 0);

    /* body delimited by the close */
    ctl_set("port=%u&framing=close&body_size=3000", (unsigned)fx.http);
    o = check(url, NULL, 2000, 1, 4096);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 3000);
}

static void cancel_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    glb_http_check_cancel(arg);
}

static void test_cancel(void **state)
{
    struct event_base *base = event_base_new();
    struct outcome o[4] = {{0}};
    glb_url u, us, uc;
    glb_addr a = loopback();
    char url[128];
    (void)state;

    ctl_set("port=%u&delay_ms=150", (unsigned)fx.http);
    ctl_set("port=%u&delay_ms=150", (unsigned)fx.https);
    assert_int_equal(glb_url_parse(url_http(url, sizeof(url), "/"), &u, NULL), 0);
    snprintf(url, sizeof(url), "https://localhost:%u/", (unsigned)fx.https);
    assert_int_equal(glb_url_parse(url, &us, NULL), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)fx.closed);
    assert_int_equal(glb_url_parse(url, &uc, NULL), 0);

    /* at once, before anything happened */
    glb_http_check *c0 = glb_http_check_start(base, NULL, &u, &a, 1000, 1, 100, on_result, &o[0]);
    assert_non_null(c0);
    glb_http_check_cancel(c0);
    /* a pending immediate failure */
    glb_http_check *c1 = glb_http_check_start(base, NULL, &uc, &a, 1000, 1, 100, on_result, &o[1]);
    assert_non_null(c1);
    glb_http_check_cancel(c1);
    /* while waiting for the answer, plain and TLS */
    glb_http_check *c2 = glb_http_check_start(base, NULL, &u, &a, 1000, 1, 100, on_result, &o[2]);
    glb_http_check *c3 = glb_http_check_start(base, fx.ctx_ca, &us, &a, 1000, 1, 100, on_result, &o[3]);
    assert_non_null(c2);
    assert_non_null(c3);
    struct timeval tv = {.tv_usec = 60000};
    assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, cancel_cb, c2, &tv), 0);
    assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, cancel_cb, c3, &tv), 0);
    glb_http_check_cancel(NULL);

    run_until(base, NULL, 0, 400);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o[i].calls, 0);
    event_base_free(base);
}

/* The callback starts the next check of a chain and cancels itself (a no-op). */
struct chain {
    struct event_base *base;
    glb_url u;
    glb_addr a;
    int left;
    int calls;
    int oks;
    glb_http_check *current;
};

static void chain_cb(void *arg, const glb_http_result *r)
{
    struct chain *ch = arg;
    ch->calls++;
    ch->oks += r->err == GLB_HTTP_OK;
    glb_http_check_cancel(ch->current); /* inside its own callback: ignored */
    ch->current = NULL;
    if (--ch->left > 0) {
        ch->current = glb_http_check_start(ch->base, NULL, &ch->u, &ch->a, 2000, 1, 100, chain_cb, ch);
        assert_non_null(ch->current);
    }
}

static void test_reentrant(void **state)
{
    struct chain ch = {.left = 5};
    char url[128];
    (void)state;

    ch.base = event_base_new();
    ch.a = loopback();
    assert_int_equal(glb_url_parse(url_http(url, sizeof(url), "/"), &ch.u, NULL), 0);
    ch.current = glb_http_check_start(ch.base, NULL, &ch.u, &ch.a, 2000, 1, 100, chain_cb, &ch);
    assert_non_null(ch.current);
    assert_true(run_until(ch.base, &ch.calls, 5, LOOP_MAX_MS));
    run_until(ch.base, NULL, 0, 20);
    assert_int_equal(ch.calls, 5);
    assert_int_equal(ch.oks, 5);
    event_base_free(ch.base);
}

static void test_concurrent(void **state)
{
    enum { N = 200, NTLS = 20 };
    struct event_base *base = event_base_new();
    static struct outcome o[N + NTLS];
    glb_url u, us;
    glb_addr a = loopback();
    char url[128];
    int done = 0;
    (void)state;

    assert_int_equal(glb_url_parse(url_http(url, sizeof(url), "/c"), &u, NULL), 0);
    snprintf(url, sizeof(url), "https://localhost:%u/c", (unsigned)fx.https);
    assert_int_equal(glb_url_parse(url, &us, NULL), 0);
    assert_int_equal(ctl("/stats?reset=1", NULL, 0), 0);
    for (int i = 0; i < N + NTLS; i++) {
        o[i] = (struct outcome){.done = &done};
        glb_http_check *c = glb_http_check_start(base, i < N ? NULL : fx.ctx_ca, i < N ? &u : &us, &a, 8000, 1,
                                                 100, on_result, &o[i]);
        assert_non_null(c);
    }
    assert_true(run_until(base, &done, N + NTLS, 9000));
    run_until(base, NULL, 0, 20);
    for (int i = 0; i < N + NTLS; i++) {
        assert_int_equal(o[i].calls, 1);
        if (o[i].r.err != GLB_HTTP_OK)
            fail_msg("check %d: %s", i, glb_http_error_str(o[i].r.err));
        assert_times_ordered(&o[i].r, i >= N);
    }
    char stats[4096];
    assert_int_equal(ctl("/stats", stats, sizeof(stats)), 0);
    char want[32];
    snprintf(want, sizeof(want), "\"total\": %d", N + NTLS);
    if (!strstr(stats, want))
        fail_msg("fixture stats: %s", stats);
    event_base_free(base);
}

/* ------------------------------------------------------------------ */
/* Canned responses from a server inside the test (same event loop) */

struct canned_conn;

struct canned {
    struct event_base *base;
    int lfd;
    uint16_t port;
    struct event *lev;
    const char *resp;
    size_t len;
    int on_accept;      /* answer at once, without reading a request */
    char req[2048];     /* the last request */
    size_t reqlen;
    struct canned_conn *conns;
};

struct canned_conn {
    struct canned *srv;
    struct event *ev;
    int fd;
    int answered;
    struct canned_conn *next;
};

static void canned_conn_free(struct canned_conn *cc)
{
    struct canned_conn **pp = &cc->srv->conns;
    while (*pp != cc)
        pp = &(*pp)->next;
    *pp = cc->next;
    event_free(cc->ev);
    close(cc->fd);
    free(cc);
}

/* Sends the answer and half-closes; the socket is closed at the client's
 * end, so nothing unread is left behind to turn the close into a RST. */
static void canned_answer(struct canned_conn *cc)
{
    struct canned *s = cc->srv;
    size_t off = 0;
    ssize_t n;
    int fl = fcntl(cc->fd, F_GETFL);

    fcntl(cc->fd, F_SETFL, fl & ~O_NONBLOCK);
    while (off < s->len && (n = send(cc->fd, s->resp + off, s->len - off, MSG_NOSIGNAL)) > 0)
        off += (size_t)n;
    fcntl(cc->fd, F_SETFL, fl);
    shutdown(cc->fd, SHUT_WR);
    cc->answered = 1;
}

static void canned_read(evutil_socket_t fd, short what, void *arg)
{
    struct canned_conn *cc = arg;
    struct canned *s = cc->srv;
    char buf[4096];
    ssize_t n;
    (void)what;

    n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        canned_conn_free(cc);
        return;
    }
    if (cc->answered)
        return;
    size_t k = (size_t)n < sizeof(s->req) - 1 - s->reqlen ? (size_t)n : sizeof(s->req) - 1 - s->reqlen;
    memcpy(s->req + s->reqlen, buf, k);
    s->reqlen += k;
    s->req[s->reqlen] = '\0';
    if (strstr(s->req, "\r\n\r\n"))
        canned_answer(cc);
}

static void canned_accept(evutil_socket_t fd, short what, void *arg)
{
    struct canned *s = arg;
    (void)what;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    struct canned_conn *cc = calloc(1, sizeof(*cc));
    assert_non_null(cc);
    cc->srv = s;
    cc->fd = cfd;
    cc->next = s->conns;
    s->conns = cc;
    s->reqlen = 0;
    s->req[0] = '\0';
    cc->ev = event_new(s->base, cfd, EV_READ | EV_PERSIST, canned_read, cc);
    event_add(cc->ev, NULL);
    if (s->on_accept)
        canned_answer(cc);
}

static void canned_open(struct canned *s, struct event_base *base)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
    s->port = ntohs(sin.sin_port);
    s->lev = event_new(base, s->lfd, EV_READ | EV_PERSIST, canned_accept, s);
    event_add(s->lev, NULL);
}

static void canned_close(struct canned *s)
{
    while (s->conns)
        canned_conn_free(s->conns);
    event_free(s->lev);
    close(s->lfd);
}

/* One check of scheme://127.0.0.1:port/p?q=1 answered with resp; *keep
 * gets a copy of the server state (the request). */
static struct outcome canned_run(const char *scheme, SSL_CTX *ctx, int on_accept, const char *resp, size_t len,
                                 size_t max_body, struct canned *keep)
{
    struct event_base *base = event_base_new();
    struct canned s;
    struct outcome o = {0};
    int done = 0;
    glb_url u;
    glb_addr a = loopback();
    char url[128];

    canned_open(&s, base);
    s.resp = resp;
    s.len = len;
    s.on_accept = on_accept;
    o.done = &done;
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u/p?q=1", scheme, (unsigned)s.port);
    assert_int_equal(glb_url_parse(url, &u, NULL), 0);
    assert_non_null(glb_http_check_start(base, ctx, &u, &a, 2000, 1, max_body, on_result, &o));
    assert_true(run_until(base, &done, 1, LOOP_MAX_MS));
    run_until(base, NULL, 0, 20);
    assert_int_equal(o.calls, 1);
    canned_close(&s);
    if (keep)
        *keep = s;
    event_base_free(base);
    return o;
}

static struct outcome canned_check(const char *resp, size_t len, size_t max_body, struct canned *keep)
{
    return canned_run("http", NULL, 0, resp, len, max_body, keep);
}

#define CANNED(s, max) canned_check(s, sizeof(s) - 1, max, NULL)

static void test_request_text(void **state)
{
    struct canned s;
    char want[256];
    (void)state;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    struct outcome o = canned_check(resp, sizeof(resp) - 1, 100, &s);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 2);
    snprintf(want, sizeof(want),
             "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: glb-probe/0.1\r\n"
             "Connection: close\r\nAccept: */*\r\n\r\n",
             (unsigned)s.port);
    assert_string_equal(s.req, want);
}

static void test_protocol(void **state)
{
    struct outcome o;
    (void)state;

    o = CANNED("SSH-2.0-OpenSSH_9.2\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    assert_true(o.r.ttfb_ms >= 0);
    o = CANNED("HTTP/2 200\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 20 OK\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 2000 OK\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 099 X\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nBroken header\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 101 Switching Protocols\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    /* a site that answers garbage is not healthy: bare LF line ends (all of
     * them, one header, the blank line, a chunk line), control bytes in a
     * header name or value */
    o = CANNED("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.0 200\nServer: old\n\nhello", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nServer: x\nContent-Length: 2\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nX-Fo\0o: 1\r\nContent-Length: 2\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\n\0: 1\r\nContent-Length: 2\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nX\rY: 1\r\nContent-Length: 2\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    o = CANNED("HTTP/1.1 200 OK\r\nX-Foo: a\0b\r\nContent-Length: 2\r\n\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    /* the status is kept even so: the site said 200, then garbage */
    assert_int_equal(o.r.status, 200);

    /* headers over the 16 KiB bound, with and without an end */
    static char big[20000];
    size_t n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
    while (n < 17000)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Filler: %s\r\n",
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    o = canned_check(big, n, 100, NULL); /* no blank line yet */
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    n += (size_t)snprintf(big + n, sizeof(big) - n, "Content-Length: 0\r\n\r\n");
    o = canned_check(big, n, 100, NULL);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
    memset(big, 'x', 18000); /* one endless line */
    memcpy(big, "HTTP/1.1 200 OK", 15);
    o = canned_check(big, 18000, 100, NULL);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_PROTOCOL);
}

static void test_framing(void **state)
{
    struct outcome o;
    (void)state;

    /* interim 1xx responses are skipped */
    o = CANNED("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
               100);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_bytes, 2);
    /* HTTP/1.0, body until the close, reason absent, token characters */
    o = CANNED("HTTP/1.0 200\r\nServer: old\r\nX-A_b.c~!#$%&'*+^`|: v\tw\r\n\r\nhello", 100);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_bytes, 5);
    /* chunk extensions, upper-case hex, trailers */
    o = CANNED("HTTP/1.1 200 OK\r\ntransfer-encoding:  gzip, Chunked \r\n\r\n"
               "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
               100);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 15);
    /* Transfer-Encoding wins over Content-Length */
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
               100);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 2);
    /* a chunk announced bigger than the bound */
    o = CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nhi", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_TOO_BIG);
    /* 304 has no body whatever it says */
    o = CANNED("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", 100);
    assert_int_equal(o.r.err, GLB_HTTP_OK);
    assert_int_equal(o.r.body_bytes, 0);
    /* cut short: in the body, in the headers, in a chunk */
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_bytes, 3);
    assert_true(o.r.total_ms < 0);
    o = CANNED("HTTP/1.1 200 OK\r\nContent-Le", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    o = CANNED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_RESET);
    /* a bad status cut short is still a bad status */
    o = CANNED("HTTP/1.1 503 Busy\r\nContent-Length: 10\r\n\r\nabc", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_STATUS);
    assert_int_equal(o.r.status, 503);
    o = CANNED("HTTP/1.1 404 Not Found\r\n\r\nnot here", 100);
    assert_int_equal(o.r.err, GLB_HTTP_ERR_STATUS);
    assert_int_equal(o.r.status, 404);
    assert_true(o.r.total_ms >= o.r.ttfb_ms);
}

static void test_ipv6(void **state)
{
    struct event_base *base = event_base_new();
    struct outcome o = {0};
    glb_url u;
    glb_addr a;
    int done = 0;
    (void)state;

    /* nothing listens on [::1]:closed (or v6 is off): refused or unreachable */
    char url[128];
    snprintf(url, sizeof(url), "http://[::1]:%u/", (unsigned)fx.closed);
    assert_int_equal(glb_url_parse(url, &u, NULL), 0);
    assert_int_equal(glb_addr_parse("::1", &a), 0);
    o.done = &done;
    glb_http_check *c = glb_http_check_start(base, NULL, &u, &a, 1000, 1, 100, on_result, &o);
    if (!c && errno == EAFNOSUPPORT) {
        event_base_free(base);
        skip();
    }
    assert_non_null(c);
    assert_int_equal(o.calls, 0);
    assert_true(run_until(base, &done, 1, LOOP_MAX_MS));
    assert_int_equal(o.r.err, GLB_HTTP_ERR_CONNECT);
    event_base_free(base);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_error_str),
        cmocka_unit_test(test_start_rejects),
        cmocka_unit_test(test_request_text),
        cmocka_unit_test(test_protocol),
        cmocka_unit_test(test_framing),
        cmocka_unit_test_setup(test_ok, reset_fixture),
        cmocka_unit_test_setup(test_delay, reset_fixture),
        cmocka_unit_test_setup(test_src_delay, reset_fixture),
        cmocka_unit_test_setup(test_status, reset_fixture),
        cmocka_unit_test_setup(test_reset, reset_fixture),
        cmocka_unit_test_setup(test_close, reset_fixture),
        cmocka_unit_test_setup(test_hang_timeout, reset_fixture),
        cmocka_unit_test_setup(test_zero_timeout, reset_fixture),
        cmocka_unit_test_setup(test_connect_refused, reset_fixture),
        cmocka_unit_test_setup(test_ipv6, reset_fixture),
        cmocka_unit_test_setup(test_https_noverify, reset_fixture),
        cmocka_unit_test_setup(test_https_verify, reset_fixture),
        cmocka_unit_test_setup(test_https_failures, reset_fixture),
        cmocka_unit_test_setup(test_too_big, reset_fixture),
        cmocka_unit_test_setup(test_chunked, reset_fixture),
        cmocka_unit_test_setup(test_cancel, reset_fixture),
        cmocka_unit_test_setup(test_reentrant, reset_fixture),
        cmocka_unit_test_setup(test_concurrent, reset_fixture),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
