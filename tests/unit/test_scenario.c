/* Scenarios of the measurement library in simulated time (after Unbound's
 * testbound): the prober (shared/measure/prober.c) runs on a clock the test
 * sets, its HTTP and ICMP checks answered by fake back ends whose results
 * the scenario sets (shared/measure/prober_test.h), without sockets, timers
 * or sleeping; its rankings go into dnslb's answer table, and the answers
 * are read from it as dnslb's answer.c chooses them (shared/answerset.h).
 * One test case per file tests/unit/data/scenarios/NAME.txt.
 *
 * The format, one directive a line ('#' starts a comment; times are seconds
 * from the start, when the prober is configured):
 *
 *   conf                          the probe: and service: sections of a
 *   ...                           dnslb.conf (its server: section is given),
 *   end                           up to a line "end"
 *   icmp available|unavailable    whether ICMP works (default: unavailable)
 *   at T site NAME http STATUS [ttfb MS]    from T on, NAME's HTTP checks
 *   at T site NAME http timeout|refused|reset   get this (default: 200,
 *   at T site NAME icmp rtt MS | icmp lost      ttfb 10; echoes: rtt 10)
 *   expect T answer [SERVICE.] NAME...|none  the answer set (any order) of a
 *                                 query at T (the first service by default)
 *   expect T state NAME unknown|alive|dead
 *   expect T failopen [SERVICE.] yes|no
 *
 * The checks follow the prober's own schedule without jitter: the first at
 * 0.25 s, then one every interval (HTTP at 0.25, 10.25, 20.25 ... with
 * http-interval 10); a check completes after its ttfb (rtt), a timeout
 * after the probe timeout, refused and reset after 1 ms. A table is
 * published 100 ms after the first change since the last one (later
 * changes within those 100 ms go with it). The clock moves in
 * steps of 1 ms; at each step the changes due ("at") come first, then the
 * checks that complete, the checks that start, the table, the expectations.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnslb/conf.h"
#include "dnslb/table.h"
#include "shared/answerset.h"
#include "shared/measure/health.h"
#include "shared/measure/prober.h"
#include "shared/measure/prober_test.h"
#include "shared/qsbr.h"

#define T0 1000.0        /* the clock at the start (0 would be "never checked") */
#define MAX_LINES 512
#define MAX_SITES 64
#define MAX_NAMES 16

enum line_kind { L_AT, L_EXPECT };
enum what { W_HTTP, W_ICMP, W_ANSWER, W_STATE, W_FAILOPEN };
enum http_mode { H_STATUS, H_TIMEOUT, H_REFUSED, H_RESET };

typedef struct sline {
    int lineno;
    enum line_kind kind;
    long t_ms;
    enum what what;
    char site[64];           /* at, state */
    enum http_mode hmode;
    int status;
    double ms;               /* ttfb, rtt; icmp lost: < 0 */
    char service[256];       /* answer, failopen: "" = the first */
    char names[MAX_NAMES][64];
    size_t nnames;
    int state, yes;
} sline;

/* What a site answers from now on. */
typedef struct behaviour {
    char name[64];
    glb_addr addr;
    enum http_mode hmode;
    int status;
    double ttfb_ms, rtt_ms;  /* rtt < 0: lost */
} behaviour;

/* A check in flight at a fake back end. */
typedef struct pending {
    struct pending *next;
    int is_http;
    uint32_t id;
    double done_at;
    glb_http_cb hcb;
    glb_ping_cb pcb;
    void *arg;
    glb_http_result r;
    int ok;
    double rtt;
} pending;

static struct {
    const char *file;
    sline lines[MAX_LINES];
    size_t nlines;
    char conf[16384];
    int icmp;
    behaviour sites[MAX_SITES];
    size_t nsites;
    pending *inflight;
    uint32_t next_id;
    double now;
} sc;

static double clock_now(void)
{
    return sc.now;
}

/* --- the fake back ends ------------------------------------------------- */

static behaviour *by_addr(const glb_addr *a)
{
    for (size_t i = 0; i < sc.nsites; i++)
        if (sc.sites[i].addr.family == a->family &&
            memcmp(sc.sites[i].addr.b, a->b, glb_addr_bytes(a->family)) == 0)
            return &sc.sites[i];
    return NULL;
}

static pending *add_pending(int is_http, double after_ms, void *arg)
{
    pending *k = calloc(1, sizeof(*k));
    assert_non_null(k);
    k->is_http = is_http;
    k->id = ++sc.next_id;
    k->done_at = sc.now + after_ms / 1000.0;
    k->arg = arg;
    k->next = sc.inflight;
    sc.inflight = k;
    return k;
}

static glb_http_check *fake_http_start(void *ctx, const glb_url *u, const glb_addr *addr, unsigned timeout_ms,
                                       glb_http_cb cb, void *arg)
{
    (void)ctx, (void)u;
    behaviour *b = by_addr(addr);
    assert_non_null(b);
    glb_http_result r = {GLB_HTTP_OK, 0, -1, -1, -1, -1, 0};
    double after = 1;
    switch (b->hmode) {
    case H_STATUS:
        r.status = b->status;
        r.err = b->status >= 200 && b->status <= 399 ? GLB_HTTP_OK : GLB_HTTP_ERR_STATUS;
        r.connect_ms = b->ttfb_ms / 2;
        r.ttfb_ms = r.total_ms = after = b->ttfb_ms;
        break;
    case H_TIMEOUT:
        r.err = GLB_HTTP_ERR_TIMEOUT;
        after = timeout_ms;
        break;
    case H_REFUSED:
        r.err = GLB_HTTP_ERR_CONNECT;
        break;
    case H_RESET:
        r.err = GLB_HTTP_ERR_RESET;
        r.connect_ms = 0.5;
        break;
    }
    if (after > timeout_ms) { /* slower than the timeout: a timeout */
        r = (glb_http_result){GLB_HTTP_ERR_TIMEOUT, 0, -1, -1, -1, -1, 0};
        after = timeout_ms;
    }
    pending *k = add_pending(1, after, arg);
    k->hcb = cb;
    k->r = r;
    return (glb_http_check *)k;
}

static void forget(pending *k)
{
    for (pending **pp = &sc.inflight; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            free(k);
            return;
        }
    fail_msg("cancel of a check not in flight");
}

static void fake_http_cancel(void *ctx, glb_http_check *c)
{
    (void)ctx;
    forget((pending *)c);
}

static uint32_t fake_ping_send(void *ctx, const glb_addr *a, unsigned timeout_ms, glb_ping_cb cb, void *arg)
{
    (void)ctx;
    behaviour *b = by_addr(a);
    assert_non_null(b);
    int ok = b->rtt_ms >= 0 && b->rtt_ms <= timeout_ms;
    pending *k = add_pending(0, ok ? b->rtt_ms : timeout_ms, arg);
    k->pcb = cb;
    k->ok = ok;
    k->rtt = ok ? b->rtt_ms : -1;
    return k->id;
}

static void fake_ping_cancel(void *ctx, uint32_t id)
{
    (void)ctx;
    for (pending *k = sc.inflight; k; k = k->next)
        if (!k->is_http && k->id == id) {
            forget(k);
            return;
        }
    fail_msg("cancel of an echo not in flight");
}

/* Completes the checks due by now, earliest first. */
static void complete_due(void)
{
    for (;;) {
        pending *first = NULL;
        for (pending *k = sc.inflight; k; k = k->next)
            if (k->done_at <= sc.now + 1e-9 && (!first || k->done_at < first->done_at))
                first = k;
        if (!first)
            return;
        pending copy = *first;
        forget(first);
        if (copy.is_http)
            copy.hcb(copy.arg, &copy.r);
        else
            copy.pcb(copy.arg, copy.ok, copy.rtt);
    }
}

/* --- the scenario file -------------------------------------------------- */

static long parse_ms(const char *s, int lineno)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0)
        fail_msg("%s:%d: bad time '%s'", sc.file, lineno, s);
    return lround(v * 1000);
}

static int parse_state(const char *s)
{
    if (strcmp(s, "unknown") == 0)
        return LB_SITE_UNKNOWN;
    if (strcmp(s, "alive") == 0)
        return LB_SITE_ALIVE;
    if (strcmp(s, "dead") == 0)
        return LB_SITE_DEAD;
    return -1;
}

static void parse_line(char **tok, size_t n, int lineno)
{
#define BAD() fail_msg("%s:%d: cannot read this line", sc.file, lineno)
    if (n == 2 && strcmp(tok[0], "icmp") == 0) {
        sc.icmp = strcmp(tok[1], "available") == 0;
        return;
    }
    if (n < 3 || sc.nlines >= MAX_LINES)
        BAD();
    sline *l = &sc.lines[sc.nlines];
    memset(l, 0, sizeof(*l));
    l->lineno = lineno;
    l->t_ms = parse_ms(tok[1], lineno);
    if (strcmp(tok[0], "at") == 0 && n >= 6 && strcmp(tok[2], "site") == 0) {
        l->kind = L_AT;
        snprintf(l->site, sizeof(l->site), "%s", tok[3]);
        if (strcmp(tok[4], "http") == 0) {
            l->what = W_HTTP;
            if (strcmp(tok[5], "timeout") == 0)
                l->hmode = H_TIMEOUT;
            else if (strcmp(tok[5], "refused") == 0)
                l->hmode = H_REFUSED;
            else if (strcmp(tok[5], "reset") == 0)
                l->hmode = H_RESET;
            else {
                l->hmode = H_STATUS;
                l->status = atoi(tok[5]);
                l->ms = 10;
                if (l->status < 100 || l->status > 599)
                    BAD();
                if (n == 8 && strcmp(tok[6], "ttfb") == 0)
                    l->ms = atof(tok[7]);
                else if (n != 6)
                    BAD();
            }
        } else if (strcmp(tok[4], "icmp") == 0) {
            l->what = W_ICMP;
            if (n == 6 && strcmp(tok[5], "lost") == 0)
                l->ms = -1;
            else if (n == 7 && strcmp(tok[5], "rtt") == 0)
                l->ms = atof(tok[6]);
            else
                BAD();
        } else {
            BAD();
        }
    } else if (strcmp(tok[0], "expect") == 0) {
        l->kind = L_EXPECT;
        size_t i = 3;
        if (strcmp(tok[2], "answer") == 0 || strcmp(tok[2], "failopen") == 0) {
            l->what = strcmp(tok[2], "answer") == 0 ? W_ANSWER : W_FAILOPEN;
            if (i < n && tok[i][strlen(tok[i]) - 1] == '.')
                snprintf(l->service, sizeof(l->service), "%s", tok[i++]);
            if (i >= n)
                BAD();
            if (l->what == W_FAILOPEN) {
                if (i + 1 != n || (strcmp(tok[i], "yes") != 0 && strcmp(tok[i], "no") != 0))
                    BAD();
                l->yes = strcmp(tok[i], "yes") == 0;
            } else if (!(i + 1 == n && strcmp(tok[i], "none") == 0)) {
                for (; i < n && l->nnames < MAX_NAMES; i++)
                    snprintf(l->names[l->nnames++], sizeof(l->names[0]), "%s", tok[i]);
            }
        } else if (strcmp(tok[2], "state") == 0 && n == 5) {
            l->what = W_STATE;
            snprintf(l->site, sizeof(l->site), "%s", tok[3]);
            if ((l->state = parse_state(tok[4])) < 0)
                BAD();
        } else {
            BAD();
        }
    } else {
        BAD();
    }
    sc.nlines++;
#undef BAD
}

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char buf[1024];
    int lineno = 0, in_conf = 0;
    size_t cl = (size_t)snprintf(sc.conf, sizeof(sc.conf), "server:\n  listen: 127.0.0.1@5300\n  id: scenario\n");
    while (fgets(buf, sizeof(buf), f)) {
        lineno++;
        if (in_conf) {
            if (strcmp(buf, "end\n") == 0 || strcmp(buf, "end") == 0) {
                in_conf = 0;
                continue;
            }
            size_t bl = strlen(buf);
            assert_true(cl + bl < sizeof(sc.conf));
            memcpy(sc.conf + cl, buf, bl + 1);
            cl += bl;
            continue;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *tok[4 + MAX_NAMES], *save = NULL;
        size_t n = 0;
        for (char *t = strtok_r(buf, " \t\r\n", &save); t && n < sizeof(tok) / sizeof(tok[0]);
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        if (n == 1 && strcmp(tok[0], "conf") == 0) {
            in_conf = 1;
            continue;
        }
        parse_line(tok, n, lineno);
    }
    fclose(f);
    if (in_conf)
        fail_msg("%s: conf without end", path);
}

/* --- running it ---------------------------------------------------------- */

static const lb_conf *g_conf;

/* Which site of the configuration the table's entry is (by its address). */
static const char *site_name(const lb_table *t, const lb_tsite *ts)
{
    const glb_addr *a = &t->addrs[ts->addr_first];
    for (size_t i = 0; i < sc.nsites; i++)
        if (sc.sites[i].addr.family == a->family && memcmp(sc.sites[i].addr.b, a->b, 16) == 0)
            return sc.sites[i].name;
    return "?";
}

static size_t service_index(const lb_table *t, const sline *l)
{
    if (!l->service[0])
        return 0;
    for (size_t i = 0; i < g_conf->nservices; i++) {
        char name[1024];
        glb_dname_to_str(g_conf->services[i].name, name, sizeof(name));
        if (strcasecmp(name, l->service) == 0 && i < t->nsvcs)
            return i;
    }
    fail_msg("%s:%d: no service %s", sc.file, l->lineno, l->service);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The answer set of a query at service sv, as answer.c chooses it (the
 * first query: counter 0; fail-open: every site), names sorted,
 * space-separated. */
static void answer_of(const lb_table *t, size_t sv, char *out, size_t len)
{
    const lb_tsvc *s = &t->svcs[sv];
    const lb_tsite *sites = &t->sites[s->first];
    unsigned w[GLB_ANSWER_MAX];
    uint32_t set[GLB_ANSWER_MAX];
    size_t share = s->share < s->count ? s->share : s->count;
    if (share > GLB_ANSWER_MAX)
        share = GLB_ANSWER_MAX;
    for (size_t k = 0; k < share; k++)
        w[k] = sites[k].weight;
    size_t n = glb_answer_set(w, share, s->answer_count, 0, set);
    if (s->failopen)
        for (n = 0; n < s->count && n < GLB_ANSWER_MAX; n++)
            set[n] = (uint32_t)n;
    const char *names[GLB_ANSWER_MAX];
    for (size_t k = 0; k < n; k++)
        names[k] = site_name(t, &sites[set[k]]);
    qsort(names, n, sizeof(*names), cmp_str);
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", k ? " " : "", names[k]);
    }
    if (n == 0)
        snprintf(out, len, "none");
}

static void apply_at(const sline *l)
{
    int found = 0;
    for (size_t i = 0; i < sc.nsites; i++) {
        behaviour *b = &sc.sites[i];
        if (strcmp(b->name, l->site) != 0)
            continue;
        found = 1;
        if (l->what == W_HTTP) {
            b->hmode = l->hmode;
            b->status = l->status;
            b->ttfb_ms = l->ms;
        } else {
            b->rtt_ms = l->ms;
        }
    }
    if (!found)
        fail_msg("%s:%d: no site %s", sc.file, l->lineno, l->site);
}

static void check_expect(const lb_prober *p, const lb_table *t, const sline *l)
{
    double at = l->t_ms / 1000.0;
    if (l->what == W_STATE) {
        int st = lb_prober_test_state(p, l->site);
        if (st != l->state)
            fail_msg("%s:%d: at %.3f s: site %s is %s, expected %s", sc.file, l->lineno, at, l->site,
                     st < 0 ? "missing" : lb_state_str(st), lb_state_str(l->state));
        return;
    }
    if (!t)
        fail_msg("%s:%d: at %.3f s: no table published", sc.file, l->lineno, at);
    size_t sv = service_index(t, l);
    if (l->what == W_FAILOPEN) {
        if (!!t->svcs[sv].failopen != l->yes)
            fail_msg("%s:%d: at %.3f s: fail-open is %s, expected %s", sc.file, l->lineno, at,
                     t->svcs[sv].failopen ? "yes" : "no", l->yes ? "yes" : "no");
        return;
    }
    char got[1024], want[1024] = "";
    answer_of(t, sv, got, sizeof(got));
    const char *names[MAX_NAMES];
    for (size_t k = 0; k < l->nnames; k++)
        names[k] = l->names[k];
    qsort(names, l->nnames, sizeof(*names), cmp_str);
    for (size_t k = 0; k < l->nnames; k++) {
        size_t len = strlen(want);
        snprintf(want + len, sizeof(want) - len, "%s%s", k ? " " : "", names[k]);
    }
    if (l->nnames == 0)
        snprintf(want, sizeof(want), "none");
    if (strcmp(got, want) != 0)
        fail_msg("%s:%d: at %.3f s: answer {%s}, expected {%s}", sc.file, l->lineno, at, got, want);
}

static void run_scenario(void **state)
{
    const char *path = *state;
    memset(&sc, 0, sizeof(sc));
    sc.file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    load(path);
    char err[1024];
    lb_conf *conf = lb_conf_parse(sc.file, sc.conf, err, sizeof(err));
    if (!conf)
        fail_msg("%s", err);
    g_conf = conf;
    for (size_t i = 0; i < conf->nservices; i++)
        for (size_t j = 0; j < conf->services[i].nsites; j++) {
            const glb_site *s = &conf->services[i].sites[j];
            assert_true(sc.nsites < MAX_SITES);
            assert_true(s->naddrs > 0); /* scenarios give addresses, no host names */
            behaviour *b = &sc.sites[sc.nsites++];
            snprintf(b->name, sizeof(b->name), "%s", s->name);
            b->addr = s->addrs[0];
            b->hmode = H_STATUS;
            b->status = 200;
            b->ttfb_ms = 10;
            b->rtt_ms = 10;
        }

    struct event_base *base = event_base_new();
    glb_qsbr *qsbr = glb_qsbr_new(1);
    _Atomic(void *) slot = NULL;
    lb_table_pub pub = {qsbr, &slot, NULL};
    lb_prober_sink sink = lb_table_sink(&pub);
    lb_prober *p = lb_prober_new(base, &sink, err, sizeof(err));
    assert_non_null(p);
    lb_probe_backend be = {fake_http_start, fake_http_cancel, fake_ping_send, fake_ping_cancel, sc.icmp, NULL};
    lb_prober_test_backend(p, &be);
    lb_prober_test_no_jitter(p);
    sc.now = T0;
    lb_prober_set_clock(p, clock_now);
    if (lb_table_configure(&pub, p, conf, err, sizeof(err)) != 0)
        fail_msg("%s", err);

    long end = 0;
    for (size_t i = 0; i < sc.nlines; i++)
        end = sc.lines[i].t_ms > end ? sc.lines[i].t_ms : end;
    for (long ms = 0; ms <= end; ms++) {
        sc.now = T0 + ms / 1000.0;
        for (size_t i = 0; i < sc.nlines; i++)
            if (sc.lines[i].kind == L_AT && sc.lines[i].t_ms == ms)
                apply_at(&sc.lines[i]);
        complete_due();
        lb_prober_test_step(p);
        for (size_t i = 0; i < sc.nlines; i++)
            if (sc.lines[i].kind == L_EXPECT && sc.lines[i].t_ms == ms)
                check_expect(p, atomic_load(&slot), &sc.lines[i]);
    }

    lb_prober_free(p);
    while (sc.inflight) { /* cancelled by the prober: none left */
        pending *k = sc.inflight;
        sc.inflight = k->next;
        free(k);
        fail_msg("a check still in flight after lb_prober_free");
    }
    lb_table_free(atomic_load(&slot));
    glb_qsbr_free(qsbr);
    event_base_free(base);
    lb_conf_free(conf);
}

/* --- one test case per scenario file ----------------------------------- */

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_scenario(const struct dirent *d)
{
    size_t l = strlen(d->d_name);
    return l > 4 && strcmp(d->d_name + l - 4, ".txt") == 0;
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/unit/data/scenarios", top ? top : "../..");
    struct dirent **ents;
    int n = scandir(dir, &ents, is_scenario, by_name);
    if (n <= 0) {
        fprintf(stderr, "no scenarios in %s\n", dir);
        return 1;
    }
    struct CMUnitTest *tests = calloc((size_t)n, sizeof(*tests));
    char **paths = calloc((size_t)n, sizeof(*paths));
    if (!tests || !paths)
        return 1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;
        paths[i] = malloc(len);
        if (!paths[i])
            return 1;
        snprintf(paths[i], len, "%s/%s", dir, ents[i]->d_name);
        tests[i].name = ents[i]->d_name;
        tests[i].test_func = run_scenario;
        tests[i].initial_state = paths[i];
    }
    int rc = _cmocka_run_group_tests("scenarios", tests, (size_t)n, NULL, NULL);
    for (int i = 0; i < n; i++) {
        free(paths[i]);
        free(ents[i]);
    }
    free(ents);
    free(paths);
    free(tests);
    return rc;
}
