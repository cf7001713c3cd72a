/* Unit tests for the prober (shared/measure/prober.c) publishing dnslb's answer table: checks asked for on demand (dnslb-control
 * check, queries finding stale data) are hints, rate-limited per site. The
 * prober reads the test's clock, so "the same moment" and "2 s later" are
 * exact; the sites are a web server inside the test and a listener that
 * never answers, both on loopback. And the sites' history the status page
 * plots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnslb/conf.h"
#include "shared/measure/health.h"
#include "shared/measure/prober.h"
#include "dnslb/table.h"
#include "shared/qsbr.h"

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

/* --- the site's web server: counts connections, answers 200 to each ---- */

typedef struct wconn {
    int fd;
    struct event *ev;
    int answered;
    struct wconn *next;
} wconn;

static struct {
    struct event_base *base;
    int lfd, hang_fd;          /* the web server; a listener never accepted */
    uint16_t port, hang_port;
    struct event *accept_ev;
    unsigned conns;
    wconn *open;
    glb_qsbr *qsbr;
    _Atomic(void *) slot;
    lb_table_pub pub;
    lb_conf *conf;
    lb_prober *p;
    struct evbuffer *out;      /* the control's answer lines */
    char text[1024];           /* the configuration */
} w;

static void wconn_free(wconn *c)
{
    wconn **pp = &w.open;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    event_free(c->ev);
    close(c->fd);
    free(c);
}

static void wconn_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wconn *c = arg;
    char buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0 && !c->answered) {
        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        assert_int_equal(send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL), sizeof(resp) - 1);
        shutdown(fd, SHUT_WR);
        c->answered = 1;
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        wconn_free(c); /* the client closed: nothing unread turns into a RST */
    }
}

static void web_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what, (void)arg;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return;
    w.conns++;
    wconn *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    k->fd = c;
    k->ev = event_new(w.base, c, EV_READ | EV_PERSIST, wconn_read, k);
    k->next = w.open;
    w.open = k;
    event_add(k->ev, NULL);
}

static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* --- running the loop ------------------------------------------------- */

static void run_for(double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    event_base_loopexit(w.base, &tv);
    event_base_dispatch(w.base);
}

typedef struct result {
    int done;
    size_t found;
} result;

static void on_done(void *arg, size_t found)
{
    result *r = arg;
    r->done = 1;
    r->found = found;
}

/* Runs the loop until r is done (at most 5 s). */
static void run_until_done(const result *r)
{
    for (int i = 0; i < 500 && !r->done; i++)
        run_for(0.01);
    assert_true(r->done);
}

static int has(struct evbuffer *b, const char *want)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_copyout(b, s, n);
    s[n] = '\0';
    int found = strstr(s, want) != NULL;
    if (!found)
        print_error("wanted '%s' in:\n%s", want, s);
    free(s);
    evbuffer_drain(b, n);
    return found;
}

/* A prober for two services: www.example. with site a on the web server,
 * slow.example. with site h on the listener that never answers. The regular
 * checks are an hour apart: after the first round, every check is on demand. */
static int setup(void **state)
{
    (void)state;
    char err[512];
    memset(&w, 0, sizeof(w));
    w.base = event_base_new();
    w.out = evbuffer_new();
    w.lfd = listener(&w.port);
    w.hang_fd = listener(&w.hang_port);
    w.accept_ev = event_new(w.base, w.lfd, EV_READ | EV_PERSIST, web_accept, NULL);
    event_add(w.accept_ev, NULL);
    snprintf(w.text, sizeof(w.text),
             "server:\n  listen: 127.0.0.42@5300\n  id: lb42\n"
             "probe:\n  http-interval: 3600\n  icmp-interval: 3600\n  timeout: 3\n  stale-after: 10\n"
             "  on-demand-interval: 2\n"
             "service:\n  name: www.example.\n  site: a 127.0.0.1 check=http://127.0.0.1:%u/p\n"
             "service:\n  name: slow.example.\n  site: h 127.0.0.1 check=http://127.0.0.1:%u/p\n",
             (unsigned)w.port, (unsigned)w.hang_port);
    w.conf = lb_conf_parse("t.conf", w.text, err, sizeof(err));
    if (!w.conf)
        fail_msg("%s", err);
    w.qsbr = glb_qsbr_new(1);
    w.pub = (lb_table_pub){w.qsbr, &w.slot, NULL};
    lb_prober_sink sink = lb_table_sink(&w.pub);
    w.p = lb_prober_new(w.base, &sink, err, sizeof(err));
    assert_non_null(w.p);
    fake_now = 1000;
    lb_prober_set_clock(w.p, fake_clock);
    assert_int_equal(lb_table_configure(&w.pub, w.p, w.conf, err, sizeof(err)), 0);
    run_for(0.8); /* the first round: within 0.5 s */
    lb_prober_stats st;
    lb_prober_stats_get(w.p, &st);
    assert_int_equal(st.http_checks, 1); /* a's; h's hangs until the timeout */
    assert_int_equal(w.conns, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lb_prober_free(w.p);
    lb_table_free(atomic_load(&w.slot));
    glb_qsbr_free(w.qsbr);
    lb_conf_free(w.conf);
    while (w.open)
        wconn_free(w.open);
    event_free(w.accept_ev);
    close(w.lfd);
    close(w.hang_fd);
    event_base_free(w.base);
    evbuffer_free(w.out);
    return 0;
}

/* dnslb-control check, hammered: one check per site per on-demand-interval,
 * the others answered at once as rate-limited. */
static void test_control_rate_limited(void **state)
{
    (void)state;
    struct evbuffer *out = w.out;
    result r = {0};
    lb_prober_stats st0, st1;
    assert_int_equal(lb_prober_check_now(w.p, "a", out, on_done, &r), 1);
    assert_true(has(out, "check www.example./a: started"));
    run_until_done(&r);
    assert_int_equal(r.found, 1);
    assert_int_equal(w.conns, 2);

    /* At the same moment, again and again, each given time to complete. */
    lb_prober_stats_get(w.p, &st0);
    unsigned limited = 0;
    for (int i = 0; i < 50; i++) {
        r = (result){0};
        assert_int_equal(lb_prober_check_now(w.p, i % 2 ? "a" : "www.example/a", out, on_done, &r), 1);
        limited += r.done && has(out, "check www.example./a: rate-limited, next on-demand check in 2.0 s");
        run_for(0.01);
    }
    lb_prober_stats_get(w.p, &st1);
    assert_int_equal(w.conns, 2); /* no request reached the site */
    assert_int_equal(st1.http_checks, st0.http_checks);
    assert_int_equal(st1.icmp_sent, st0.icmp_sent);
    assert_int_equal(limited, 50); /* answered at once */
    assert_int_equal(st1.rate_limited - st0.rate_limited, 50);

    /* Until the interval is over; then one more. */
    fake_now += 1.9;
    r = (result){0};
    lb_prober_check_now(w.p, "a", out, on_done, &r);
    assert_true(has(out, "rate-limited, next on-demand check in 0.1 s"));
    fake_now += 0.1;
    r = (result){0};
    lb_prober_check_now(w.p, "a", out, on_done, &r);
    assert_true(has(out, "check www.example./a: started"));
    run_until_done(&r);
    assert_int_equal(w.conns, 3);

    /* A check in flight is joined, not duplicated. */
    result r2 = {0};
    fake_now += 2;
    r = (result){0};
    lb_prober_check_now(w.p, "a", out, on_done, &r);
    assert_true(has(out, "started"));
    fake_now += 2;
    lb_prober_check_now(w.p, "a", out, on_done, &r2);
    assert_true(has(out, "check www.example./a: joined the checks in flight"));
    run_until_done(&r);
    run_until_done(&r2);
    assert_int_equal(w.conns, 4);

    /* Unknown sites: answered at once. */
    r = (result){0};
    assert_int_equal(lb_prober_check_now(w.p, "nosuch", out, on_done, &r), 0);
    assert_true(r.done);
    assert_int_equal(r.found, 0);
}

/* Queries finding stale data ask the prober again and again: h's HTTP check
 * hangs, so its data stays stale while its echoes come back at once; only
 * one refresh per on-demand-interval goes out. */
static void test_stale_refresh_rate_limited(void **state)
{
    (void)state;
    lb_prober_stats st0, st1;
    lb_prober_stats_get(w.p, &st0);
    if (st0.icmp_sent == 0)
        skip(); /* no ICMP here: nothing but the hanging check to refresh */
    struct event *wake = lb_prober_wake_event(w.p);
    for (int i = 0; i < 20; i++) {
        const lb_table *t = atomic_load(&w.slot);
        atomic_store(&t->want_refresh[1], 1); /* as a query to slow.example. does */
        event_active(wake, EV_READ, 0);
        run_for(0.02); /* the echo comes back from loopback meanwhile */
    }
    lb_prober_stats_get(w.p, &st1);
    assert_int_equal(st1.refreshes - st0.refreshes, 1);
    assert_int_equal(st1.icmp_sent - st0.icmp_sent, 1);
    assert_int_equal(st1.rate_limited - st0.rate_limited, 19);
    assert_int_equal(w.conns, 1); /* a, in another service, untouched */
    /* Once the interval is over, the next query's hint is taken. */
    fake_now += 2;
    const lb_table *t = atomic_load(&w.slot);
    atomic_store(&t->want_refresh[1], 1);
    event_active(wake, EV_READ, 0);
    run_for(0.02);
    lb_prober_stats_get(w.p, &st1);
    assert_int_equal(st1.refreshes - st0.refreshes, 2);
}

/* Every completed check leaves its site's state and averages in the sample
 * of its 10 s step; a reload keeps the history of the sites kept by name. */
static void test_history(void **state)
{
    (void)state;
    lb_site_view v;
    lb_history_sample s[LB_HISTORY_LEN];
    assert_int_equal(lb_prober_site_view(w.p, 0, &v), 0);
    assert_string_equal(v.site, "a");
    assert_string_equal(v.answer, "in:best");
    assert_int_equal(lb_history_get(v.history, lb_prober_now(w.p), s, LB_HISTORY_LEN), 1);
    assert_true(s[0].t == 1000);
    assert_int_equal(s[0].state, LB_SITE_ALIVE);
    assert_false(isnan(s[0].latency_ms));

    fake_now += 25; /* a check on demand, two steps later: a second sample */
    result r = {0};
    lb_prober_check_now(w.p, "a", NULL, on_done, &r);
    run_until_done(&r);
    assert_int_equal(lb_prober_site_view(w.p, 0, &v), 0);
    assert_int_equal(lb_history_get(v.history, lb_prober_now(w.p), s, LB_HISTORY_LEN), 2);
    assert_true(s[0].t == 1000 && s[1].t == 1020);
    assert_int_equal(s[1].state, LB_SITE_ALIVE);

    char err[512]; /* the same configuration again: a reload */
    lb_conf *c = lb_conf_parse("t.conf", w.text, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(lb_table_configure(&w.pub, w.p, c, err, sizeof(err)), 0);
    lb_conf_free(w.conf);
    w.conf = c;
    assert_int_equal(lb_prober_site_view(w.p, 0, &v), 0);
    assert_int_equal(lb_history_get(v.history, lb_prober_now(w.p), s, LB_HISTORY_LEN), 2);
    /* an hour later without a check, nothing is left to plot */
    fake_now += 3600;
    assert_int_equal(lb_history_get(v.history, lb_prober_now(w.p), s, LB_HISTORY_LEN), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_control_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_refresh_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
