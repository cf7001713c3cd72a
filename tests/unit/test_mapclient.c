/* Unit tests for the map client's pure parts (dnslb/mapsvc.h): a received
 * service rendered as a service: section and parsed back, full and delta
 * sets (parts, resync), the services file, the effective services; and the
 * whole path of a service's policy keys from dnsb.conf to the DNS-LB's
 * ranking parameters, across a DNS-LB restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "dnsb/conf.h"
#include "dnsb/svcset.h"
#include "dnslb/mapsvc.h"

#define BASE "server:\n  listen: 127.0.0.42@5300\n  id: lb42\n"

/* A service and its sites, built in static storage for the tests. */
typedef struct tsvc {
    uint8_t name[GLB_DNAME_MAX];
    uint8_t host[4][GLB_DNAME_MAX];
    glb_addr addrs[4][2];
    glb_map_site sites[4];
    glb_map_service s;
} tsvc;

static void tsvc_init(tsvc *t, const char *name)
{
    memset(t, 0, sizeof(*t));
    assert_true(glb_dname_from_str(name, t->name) > 0);
    glb_map_service_defaults(&t->s);
    t->s.name = t->name;
    t->s.sites = t->sites;
}

/* Adds a site: addr may be NULL, host may be NULL. */
static glb_map_site *tsvc_site(tsvc *t, const char *name, const char *addr, const char *host)
{
    size_t i = t->s.nsites++;
    glb_map_site *s = &t->sites[i];
    glb_map_site_defaults(s);
    s->name = name;
    if (addr) {
        assert_int_equal(glb_addr_parse(addr, &t->addrs[i][0]), 0);
        s->addrs = t->addrs[i];
        s->naddrs = 1;
    }
    if (host) {
        assert_true(glb_dname_from_str(host, t->host[i]) > 0);
        s->host = t->host[i];
    }
    return s;
}

static void test_render_parse(void **state)
{
    (void)state;
    tsvc t;
    tsvc_init(&t, "www.foobar.example.");
    t.s.mode = GLB_MAP_MODE_DIRECT;
    t.s.policy = GLB_MAP_POLICY_COMBINED;
    t.s.answer_count = 3;
    t.s.ttl_answer = 60;
    t.s.margin = 50000; /* 5 % */
    t.s.margin_abs = 12345; /* 12.345 ms */
    t.s.w_latency = 500000;
    t.s.w_cost = 250000;
    t.s.w_distance = 1;
    glb_map_site *p = tsvc_site(&t, "paris", "192.0.2.10", NULL);
    assert_int_equal(glb_addr_parse("2001:db8::10", &t.addrs[0][1]), 0);
    p->naddrs = 2;
    p->weight = 5;
    p->cost = 1500;
    p->has_location = 1;
    p->location.lat = 48860000;
    p->location.lon = -2350001;
    p->check = "https://paris.foobar.example/probe#x";
    p->check_verify = 0;
    tsvc_site(&t, "tokyo", NULL, "tokyo.foobar.example.");
    glb_map_site *b = tsvc_site(&t, "both", "198.51.100.7", "both.foobar.example.");
    b->weight = 0;

    char err[1024];
    char *text = lb_msvc_render(&t.s, err, sizeof(err));
    if (!text)
        fail_msg("%s", err);
    assert_non_null(strstr(text, "# mode direct, ttl-referral 3600"));
    lb_msvc m;
    if (lb_msvc_parse(text, "test", &m, err, sizeof(err)) != 0)
        fail_msg("%s\n%s", err, text);
    free(text);
    const lb_service_conf *c = &m.conf;
    uint8_t want[GLB_DNAME_MAX];
    glb_dname_from_str("www.foobar.example.", want);
    assert_true(glb_dname_equal(c->name, want));
    assert_int_equal(c->policy.policy, LB_POLICY_COMBINED);
    assert_int_equal(c->answer_count, 3);
    assert_int_equal(c->ttl_answer, 60);
    assert_true(fabs(c->margin_pct - 5) < 1e-9);
    assert_true(fabs(c->policy.margin - 0.05) < 1e-9);
    assert_true(fabs(c->policy.margin_ms - 12.345) < 1e-9);
    assert_true(fabs(c->policy.w_latency - 0.5) < 1e-9);
    assert_true(fabs(c->policy.w_cost - 0.25) < 1e-9);
    assert_true(fabs(c->policy.w_distance - 0.000001) < 1e-12);
    assert_int_equal(c->nsites, 3);
    const glb_site *s = &c->sites[0];
    assert_string_equal(s->name, "paris");
    assert_int_equal(s->naddrs, 2);
    assert_int_equal(s->addrs[1].family, AF_INET6);
    assert_int_equal(s->weight, 5);
    assert_true(fabs(s->cost - 1.5) < 1e-9);
    assert_true(s->has_location);
    assert_true(fabs(s->lat - 48.86) < 1e-9 && fabs(s->lon + 2.350001) < 1e-9);
    assert_string_equal(s->check, "https://paris.foobar.example/probe#x"); /* quoted: the '#' is no comment */
    assert_int_equal(s->check_verify, 0);
    s = &c->sites[1];
    assert_string_equal(s->host, "tokyo.foobar.example.");
    assert_int_equal(s->naddrs, 0);
    assert_int_equal(s->weight, 1);
    assert_int_equal(s->check_verify, 1);
    s = &c->sites[2]; /* addresses and a host name: the addresses are kept */
    assert_int_equal(s->naddrs, 1);
    assert_string_equal(s->host, "");
    assert_int_equal(s->weight, 0);
    lb_msvc_free(&m);

    /* proximity parses: whether this box has a location is looked at later */
    t.s.policy = GLB_MAP_POLICY_PROXIMITY;
    t.sites[0].check = NULL;
    assert_int_equal(lb_msvc_from_map(&t.s, "test", &m, err, sizeof(err)), 0);
    assert_int_equal(m.conf.policy.policy, LB_POLICY_PROXIMITY);
    lb_msvc_free(&m);
}

static void test_render_refused(void **state)
{
    (void)state;
    char err[1024];
    lb_msvc m;
    tsvc t;
    tsvc_init(&t, "x.example.");
    tsvc_site(&t, "a", "192.0.2.1", NULL);
    t.s.w_latency = 2000000000u; /* 2000: over dnslb's 0..1000 */
    assert_int_equal(lb_msvc_from_map(&t.s, "test", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "weight-latency"));
    t.s.w_latency = 1000000;
    t.sites[0].check = "http://a/\"quoted\"";
    assert_null(lb_msvc_render(&t.s, err, sizeof(err)));
    t.sites[0].check = "ftp://a/";
    assert_int_equal(lb_msvc_from_map(&t.s, "test", &m, err, sizeof(err)), -1);
    t.sites[0].check = NULL;
    t.sites[0].naddrs = 0; /* neither addresses nor a host name */
    assert_null(lb_msvc_render(&t.s, err, sizeof(err)));
    t.s.nsites = 0; /* no site at all: site is required */
    assert_int_equal(lb_msvc_from_map(&t.s, "test", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "site"));
    /* a name with a '#' cannot be written as a word */
    tsvc u;
    tsvc_init(&u, "a\\#b.example.");
    tsvc_site(&u, "a", "192.0.2.1", NULL);
    assert_null(lb_msvc_render(&u.s, err, sizeof(err)));
    /* text that is not one service: section */
    assert_int_equal(lb_msvc_parse("include: /etc/passwd\n", "t", &m, err, sizeof(err)), -1);
    assert_int_equal(lb_msvc_parse("service:\n name: a.example.\n site: a 192.0.2.1\nservice:\n name: b.example.\n"
                                   " site: a 192.0.2.1\n", "t", &m, err, sizeof(err)), -1);
    assert_int_equal(lb_msvc_parse("service:\n name: a.example.\n site: a 192.0.2.1\n", "t", &m, err, sizeof(err)), 0);
    lb_msvc_free(&m);
}

static const lb_msvc *find(const lb_svcset *set, const char *name)
{
    uint8_t n[GLB_DNAME_MAX];
    glb_dname_from_str(name, n);
    for (size_t i = 0; i < set->n; i++)
        if (glb_dname_equal(set->svc[i].conf.name, n))
            return &set->svc[i];
    return NULL;
}

static void msg_init(glb_map_services *m, uint64_t serial, int delta, uint64_t base, uint32_t part, int more)
{
    memset(m, 0, sizeof(*m));
    m->serial = serial;
    m->kind = delta ? GLB_MAP_SERVICES_DELTA : GLB_MAP_SERVICES_FULL;
    m->has_base = (uint8_t)delta;
    m->base = base;
    m->part = part;
    m->more = (uint8_t)more;
}

static void test_full_delta(void **state)
{
    (void)state;
    char err[512];
    lb_svcset set = {0};
    lb_svcupd u = {0};
    tsvc a, b, b2, c, bad;
    tsvc_init(&a, "a.example.");
    tsvc_site(&a, "s1", "192.0.2.1", NULL);
    tsvc_init(&b, "b.example.");
    tsvc_site(&b, "s1", "192.0.2.2", NULL);
    tsvc_init(&b2, "b.example.");
    tsvc_site(&b2, "s9", "192.0.2.9", NULL);
    tsvc_site(&b2, "s8", "192.0.2.8", NULL);
    tsvc_init(&c, "c.example.");
    tsvc_site(&c, "s1", NULL, "c-host.example.");
    tsvc_init(&bad, "a.example.");
    tsvc_site(&bad, "s1", "192.0.2.1", NULL);
    bad.s.w_cost = 2000000000u;

    /* a full set in two parts, applied when the last one arrives */
    glb_map_services m;
    msg_init(&m, 5, 0, 0, 0, 1);
    m.services = &b.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_false(lb_svcupd_complete(&u));
    msg_init(&m, 5, 0, 0, 1, 0);
    m.services = &a.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_true(lb_svcupd_complete(&u));
    assert_int_equal(set.n, 0); /* nothing until committed */
    assert_int_equal(lb_svcset_commit(&set, &u), 0);
    assert_int_equal(set.serial, 5);
    assert_int_equal(set.n, 2);
    assert_non_null(find(&set, "a.example."));
    assert_non_null(find(&set, "b.example."));

    /* a delta: b replaced as a whole, c added, a removed */
    glb_map_service two[2] = {b2.s, c.s};
    const uint8_t *removed[1] = {a.name};
    msg_init(&m, 7, 1, 5, 0, 0);
    m.services = two;
    m.nservices = 2;
    m.removed = removed;
    m.nremoved = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_int_equal(lb_svcset_commit(&set, &u), 0);
    assert_int_equal(set.serial, 7);
    assert_int_equal(set.n, 2);
    assert_null(find(&set, "a.example."));
    const lb_msvc *fb = find(&set, "b.example.");
    assert_non_null(fb);
    assert_int_equal(fb->conf.nsites, 2);
    assert_string_equal(fb->conf.sites[0].name, "s9");
    assert_non_null(find(&set, "c.example."));

    /* a delta from a base we do not hold: resync, nothing changes */
    msg_init(&m, 9, 1, 6, 0, 0);
    m.services = &a.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_int_equal(lb_svcset_commit(&set, &u), 1);
    assert_int_equal(set.serial, 7);
    assert_int_equal(set.n, 2);
    assert_false(u.active);

    /* a part out of order, a set without part 0 */
    msg_init(&m, 8, 1, 7, 0, 1);
    m.services = &a.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    msg_init(&m, 8, 1, 7, 2, 0);
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_E_UNEXPECTED);
    assert_false(u.active);
    msg_init(&m, 8, 1, 7, 1, 0);
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_E_UNEXPECTED);

    /* a name twice in one set; a name both given and removed */
    glb_map_service dup[2] = {a.s, a.s};
    msg_init(&m, 8, 0, 0, 0, 0);
    m.services = dup;
    m.nservices = 2;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_E_MALFORMED);
    msg_init(&m, 8, 1, 7, 0, 0);
    m.services = &a.s;
    m.nservices = 1;
    m.removed = removed;
    m.nremoved = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_E_MALFORMED);
    /* a site name twice in a service */
    tsvc d;
    tsvc_init(&d, "d.example.");
    tsvc_site(&d, "s1", "192.0.2.1", NULL);
    tsvc_site(&d, "s1", "192.0.2.2", NULL);
    msg_init(&m, 8, 0, 0, 0, 0);
    m.services = &d.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_E_MALFORMED);
    assert_int_equal(set.serial, 7);

    /* a delta replacing c with what dnslb cannot take: c goes, counted */
    tsvc c2;
    tsvc_init(&c2, "c.example.");
    tsvc_site(&c2, "s1", "192.0.2.3", NULL);
    c2.s.w_cost = 2000000000u;
    msg_init(&m, 8, 1, 7, 0, 0);
    m.services = &c2.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_int_equal(u.skipped, 1);
    assert_int_equal(lb_svcset_commit(&set, &u), 0);
    assert_int_equal(set.serial, 8);
    assert_null(find(&set, "c.example."));
    assert_int_equal(set.n, 1);

    /* a full set replaces everything, whatever we held */
    msg_init(&m, 3, 0, 0, 0, 0);
    m.services = &c.s;
    m.nservices = 1;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_int_equal(lb_svcset_commit(&set, &u), 0);
    assert_int_equal(set.serial, 3);
    assert_int_equal(set.n, 1);
    assert_non_null(find(&set, "c.example."));
    lb_svcset_clear(&set);
    lb_svcupd_clear(&u);
}

/* A set holding the given services, serial serial. */
static void make_set(lb_svcset *set, uint64_t serial, tsvc *const *svcs, size_t n)
{
    char err[512];
    lb_svcupd u = {0};
    glb_map_service arr[8];
    for (size_t i = 0; i < n; i++)
        arr[i] = svcs[i]->s;
    glb_map_services m;
    msg_init(&m, serial, 0, 0, 0, 0);
    m.services = arr;
    m.nservices = n;
    assert_int_equal(lb_svcupd_add(&u, &m, "t", err, sizeof(err)), GLB_MAP_OK);
    assert_int_equal(lb_svcset_commit(set, &u), 0);
}

static void test_services_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_mapclient.XXXXXX", path[256], err[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/services", dir);

    tsvc a, b, c;
    tsvc_init(&a, "a.example.");
    tsvc_site(&a, "s1", "192.0.2.1", NULL)->check = "http://a.example/#frag";
    tsvc_init(&b, "b.example.");
    tsvc_site(&b, "s1", NULL, "host.b.example.");
    b.s.policy = GLB_MAP_POLICY_COST;
    tsvc_init(&c, "c.example.");
    tsvc_site(&c, "s1", "2001:db8::1", NULL);
    tsvc *s1[] = {&a, &b}, *s2[] = {&c};

    lb_svcfile_block w[3];
    memset(w, 0, sizeof(w));
    glb_addrport_parse("192.0.2.53@5380", 5380, &w[0].server);
    glb_addrport_parse("2001:db8::53", 5380, &w[1].server);
    glb_addrport_parse("192.0.2.54@5380", 5380, &w[2].server); /* nothing held: not written */
    snprintf(w[0].id, sizeof(w[0].id), "b1");
    make_set(&w[0].set, 42, s1, 2);
    snprintf(w[1].id, sizeof(w[1].id), "b2");
    make_set(&w[1].set, 7, s2, 1);
    if (lb_svcfile_write(path, w, 3, err, sizeof(err)) != 0)
        fail_msg("%s", err);

    /* configured now: b2, b1, and one more; in another order */
    lb_svcfile_block r[3];
    memset(r, 0, sizeof(r));
    r[0].server = w[1].server;
    r[1].server = w[0].server;
    glb_addrport_parse("192.0.2.99@5380", 5380, &r[2].server);
    if (lb_svcfile_read(path, r, 3, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(r[0].id, "b2");
    assert_int_equal(r[0].set.serial, 7);
    assert_int_equal(r[0].set.n, 1);
    assert_string_equal(r[1].id, "b1");
    assert_int_equal(r[1].set.serial, 42);
    assert_int_equal(r[1].set.n, 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(r[1].set.svc[i].text, w[0].set.svc[i].text);
    assert_string_equal(find(&r[1].set, "a.example.")->conf.sites[0].check, "http://a.example/#frag");
    assert_int_equal(find(&r[1].set, "b.example.")->conf.policy.policy, LB_POLICY_COST);
    assert_int_equal(r[2].set.serial, 0);
    assert_int_equal(r[2].set.n, 0);
    for (size_t i = 0; i < 3; i++)
        lb_svcset_clear(&r[i].set);

    /* a block whose server is gone is ignored */
    memset(r, 0, sizeof(r));
    r[0].server = w[1].server;
    assert_int_equal(lb_svcfile_read(path, r, 1, err, sizeof(err)), 0);
    assert_int_equal(r[0].set.n, 1);
    lb_svcset_clear(&r[0].set);

    /* a bad service: the block keeps its good ones and loses its serial */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#@ glb-services 1\n#@ map-server 192.0.2.53@5380 id b1 serial 42\n"
               "service:\n    name: a.example.\n    site: s1 192.0.2.1\n"
               "service:\n    name: b.example.\n    site: s1 192.0.2.1 weight=-1\n");
    fclose(f);
    memset(r, 0, sizeof(r));
    r[0].server = w[0].server;
    assert_int_equal(lb_svcfile_read(path, r, 1, err, sizeof(err)), 0);
    assert_int_equal(r[0].set.serial, 0);
    assert_int_equal(r[0].set.n, 1);
    assert_non_null(find(&r[0].set, "a.example."));
    lb_svcset_clear(&r[0].set);

    /* not a services file; no file at all */
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "service:\n    name: a.example.\n");
    fclose(f);
    memset(r, 0, sizeof(r));
    r[0].server = w[0].server;
    assert_int_equal(lb_svcfile_read(path, r, 1, err, sizeof(err)), -1);
    assert_int_equal(r[0].set.n, 0);
    unlink(path);
    assert_int_equal(lb_svcfile_read(path, r, 1, err, sizeof(err)), 0);
    assert_int_equal(r[0].set.n, 0);
    /* writing into a folder that does not exist fails cleanly */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/no/such", dir);
    assert_int_equal(lb_svcfile_write(bad, w, 2, err, sizeof(err)), -1);
    for (size_t i = 0; i < 3; i++)
        lb_svcset_clear(&w[i].set);
    assert_int_equal(rmdir(dir), 0);
}

static const lb_service_conf *conf_find(const lb_conf *c, const char *name)
{
    uint8_t n[GLB_DNAME_MAX];
    glb_dname_from_str(name, n);
    for (size_t i = 0; i < c->nservices; i++)
        if (glb_dname_equal(c->services[i].name, n))
            return &c->services[i];
    return NULL;
}

static void test_effective(void **state)
{
    (void)state;
    char err[1024];
    lb_conf *local = lb_conf_parse("t.conf",
                                   BASE "  ns-address: 192.0.2.42\nprobe:\n  unmeasured: omit\n"
                                        "service:\n  name: www.foobar.example.\n  site: local 127.0.0.1\n"
                                        "service:\n  name: static.example.\n  site: s 127.0.0.2\n"
                                        "service:\n  name: a.shop.example.\n  site: s 127.0.0.3\n",
                                   err, sizeof(err));
    if (!local)
        fail_msg("%s", err);
    tsvc www1, shop, both1, www2, sub, prox, only2, both2;
    tsvc_init(&www1, "www.foobar.example.");
    tsvc_site(&www1, "from-b1", "192.0.2.1", NULL);
    www1.s.policy = GLB_MAP_POLICY_COST;
    tsvc_init(&shop, "shop.example.");
    tsvc_site(&shop, "s", "192.0.2.2", NULL);
    tsvc_init(&both1, "both.example.");
    tsvc_site(&both1, "from-b1", "192.0.2.7", NULL);
    tsvc_init(&www2, "WWW.foobar.example.");
    tsvc_site(&www2, "from-b2", "192.0.2.3", NULL);
    tsvc_init(&sub, "x.www.foobar.example.");
    tsvc_site(&sub, "s", "192.0.2.4", NULL);
    tsvc_init(&prox, "near.example.");
    tsvc_site(&prox, "s", "192.0.2.5", NULL);
    prox.s.policy = GLB_MAP_POLICY_PROXIMITY;
    tsvc_init(&only2, "only2.example.");
    tsvc_site(&only2, "s", "192.0.2.6", NULL);
    tsvc_init(&both2, "BOTH.example.");
    tsvc_site(&both2, "from-b2", "192.0.2.8", NULL);
    tsvc *l1[] = {&www1, &shop, &both1}, *l2[] = {&www2, &sub, &prox, &only2, &both2};
    lb_svcset s1 = {0}, s2 = {0};
    make_set(&s1, 1, l1, 3);
    make_set(&s2, 1, l2, 5);
    const lb_svcset *sets[] = {&s1, &s2};
    size_t nrec = 0;
    lb_conf *c = lb_svc_effective(sets, 2, local, &nrec, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    /* received: both (b1's: the DNS-B listed first wins), only2; www is
     * local (a local service overrides the DNS-Bs'), x.www nests with it,
     * shop.example with the local a.shop.example; near needs a location */
    assert_int_equal(nrec, 2);
    assert_int_equal(c->nservices, 5);
    const lb_service_conf *w = conf_find(c, "www.foobar.example.");
    assert_non_null(w);
    assert_int_equal(w->nsites, 1);
    assert_string_equal(w->sites[0].name, "local");
    assert_int_equal(w->policy.policy, LB_POLICY_LATENCY); /* not b1's cost */
    const lb_service_conf *b = conf_find(c, "both.example.");
    assert_non_null(b);
    assert_string_equal(b->sites[0].name, "from-b1");
    assert_non_null(conf_find(c, "only2.example."));
    assert_non_null(conf_find(c, "static.example."));
    assert_non_null(conf_find(c, "a.shop.example."));
    assert_null(conf_find(c, "shop.example.")); /* nests with a local one */
    assert_null(conf_find(c, "x.www.foobar.example."));
    assert_null(conf_find(c, "near.example."));
    assert_int_equal(conf_find(c, "only2.example.")->policy.unmeasured_last, 0); /* local probe: setting */
    /* the local settings are kept, the local conf untouched */
    assert_string_equal(c->id, "lb42");
    assert_int_equal(c->nns_addrs, 1);
    assert_true(c->ns_addrs != local->ns_addrs);
    assert_int_equal(local->nservices, 3);
    lb_conf_free(c);

    /* with a location, proximity services are taken */
    local->has_location = 1;
    c = lb_svc_effective(sets, 2, local, &nrec, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(nrec, 3);
    assert_non_null(conf_find(c, "near.example."));
    lb_conf_free(c);
    assert_int_equal(lb_svc_union_count(sets, 2), 6);

    /* no DNS-B heard from: the local services */
    lb_svcset empty = {0};
    const lb_svcset *none[] = {&empty};
    c = lb_svc_effective(none, 1, local, &nrec, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(nrec, 0);
    assert_int_equal(c->nservices, 3);
    lb_conf_free(c);
    lb_svcset_clear(&s1);
    lb_svcset_clear(&s2);
    lb_conf_free(local);
}


/* ---- The whole path of the policy keys --------------------------------- */

static const char path_dnsb_conf[] =
    "server:\n  listen: 127.0.0.1@5300\n  zone: glb.example.net.\n  zone-ns: b1.glb.example.net. 127.0.0.1\n"
    "service:\n  name: www.foobar.example.\n  policy: combined\n  answer-count: 3\n  ttl-answer: 7\n"
    "  margin: 2.5\n  margin-ms: 12.5\n  weight-latency: 0.5\n  weight-cost: 2\n  weight-distance: 0.125\n"
    "  site: paris 192.0.2.1 2001:db8::1 weight=5 cost=1.25 location=48.8566,-2.3522"
    " check=https://paris.example/probe check-verify=no\n"
    "  site: tokyo tokyo.example. weight=0 cost=7\n"
    "service:\n  name: plain.example.\n  site: a 192.0.2.9\n";

/* What path_dnsb_conf says, as the DNS-LB's configuration of its services. */
static void check_path_conf(const lb_service_conf *w, const lb_service_conf *p)
{
    assert_non_null(w);
    assert_int_equal(w->policy.policy, LB_POLICY_COMBINED);
    assert_int_equal(w->answer_count, 3);
    assert_int_equal(w->ttl_answer, 7);
    assert_true(fabs(w->margin_pct - 2.5) < 1e-9);
    assert_true(fabs(w->policy.margin - 0.025) < 1e-9);
    assert_true(fabs(w->policy.margin_ms - 12.5) < 1e-9);
    assert_true(fabs(w->policy.w_latency - 0.5) < 1e-9);
    assert_true(fabs(w->policy.w_cost - 2) < 1e-9);
    assert_true(fabs(w->policy.w_distance - 0.125) < 1e-9);
    assert_int_equal(w->nsites, 2);
    const glb_site *s = &w->sites[0];
    assert_string_equal(s->name, "paris");
    assert_int_equal(s->naddrs, 2);
    assert_int_equal(s->weight, 5);
    assert_true(fabs(s->cost - 1.25) < 1e-9);
    assert_true(s->has_location);
    assert_true(fabs(s->lat - 48.8566) < 1e-9 && fabs(s->lon + 2.3522) < 1e-9);
    assert_string_equal(s->check, "https://paris.example/probe");
    assert_int_equal(s->check_verify, 0);
    s = &w->sites[1];
    assert_string_equal(s->name, "tokyo");
    assert_string_equal(s->host, "tokyo.example.");
    assert_int_equal(s->weight, 0);
    assert_true(fabs(s->cost - 7) < 1e-9);
    assert_false(s->has_location);
    assert_string_equal(s->check, "");
    assert_int_equal(s->check_verify, 1);
    /* a service that sets none of the keys: dnslb.conf's defaults */
    assert_non_null(p);
    assert_int_equal(p->policy.policy, LB_POLICY_LATENCY);
    assert_int_equal(p->answer_count, 2);
    assert_int_equal(p->ttl_answer, 300);
    assert_true(fabs(p->policy.margin - 0.1) < 1e-9);
    assert_true(p->policy.margin_ms == 0);
    assert_true(fabs(p->policy.w_latency - 1) < 1e-9 && p->policy.w_cost == 0 && p->policy.w_distance == 0);
    assert_int_equal(p->sites[0].weight, 1);
    assert_true(p->sites[0].cost == 0);
}

static void check_path_set(const lb_svcset *set)
{
    assert_int_equal(set->n, 2);
    check_path_conf(&find(set, "www.foobar.example.")->conf, &find(set, "plain.example.")->conf);
}

/* dnsb.conf -> DNS-B snapshot -> SERVICES frames -> decoded at the DNS-LB ->
 * its set -> the services file -> read back at a restart -> the effective
 * configuration the prober ranks with. */
static void test_whole_path(void **state)
{
    (void)state;
    char err[1024];
    dnsb_conf *bc = dnsb_conf_parse("dnsb.conf", path_dnsb_conf, err, sizeof(err));
    if (!bc)
        fail_msg("%s", err);
    dnsb_svcset *ss = dnsb_svcset_build(bc, 11, err, sizeof(err));
    if (!ss)
        fail_msg("%s", err);
    dnsb_conf_free(bc);
    struct evbuffer *eb = evbuffer_new();
    assert_non_null(eb);
    assert_int_equal(dnsb_svcset_frames(ss, NULL, eb), 1);
    dnsb_svcset_free(ss);

    size_t len = evbuffer_get_length(eb), n = 0;
    const uint8_t *frame = evbuffer_pullup(eb, -1);
    assert_int_equal(glb_map_frame_check(frame, len, &n), GLB_MAP_FRAME_READY);
    assert_int_equal(n, len);
    void *arena = malloc(GLB_MAP_ARENA_FOR(len));
    assert_non_null(arena);
    glb_map_msg msg;
    glb_map_msg_init(&msg, arena, GLB_MAP_ARENA_FOR(len));
    glb_map_error merr;
    assert_int_equal(glb_map_decode(frame, len, &msg, &merr), GLB_MAP_OK);
    assert_int_equal(msg.type, GLB_MAP_SERVICES);
    /* on the wire, in the protocol's units */
    const glb_map_service *ws = &msg.u.services.services[0];
    assert_int_equal(ws->policy, GLB_MAP_POLICY_COMBINED);
    assert_int_equal(ws->answer_count, 3);
    assert_int_equal(ws->ttl_answer, 7);
    assert_int_equal(ws->margin, 25000);
    assert_int_equal(ws->margin_abs, 12500);
    assert_int_equal(ws->w_latency, 500000);
    assert_int_equal(ws->w_cost, 2000000);
    assert_int_equal(ws->w_distance, 125000);
    assert_int_equal(ws->sites[0].cost, 1250);
    assert_int_equal(ws->sites[0].location.lat, 48856600);
    assert_int_equal(ws->sites[0].location.lon, -2352200);
    assert_int_equal(msg.u.services.services[1].margin_abs, 0);

    lb_svcupd u = {0};
    lb_svcfile_block blk;
    memset(&blk, 0, sizeof(blk));
    glb_addrport_parse("192.0.2.53@5380", 5380, &blk.server);
    snprintf(blk.id, sizeof(blk.id), "b1");
    assert_int_equal(lb_svcupd_add(&u, &msg.u.services, "b1", err, sizeof(err)), GLB_MAP_OK);
    free(arena);
    evbuffer_free(eb);
    assert_int_equal(lb_svcset_commit(&blk.set, &u), 0);
    assert_int_equal(blk.set.serial, 11);
    check_path_set(&blk.set);

    /* kept in the services file, read back by a restarted DNS-LB */
    char dir[] = "/tmp/test_mapclient.XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/services", dir);
    if (lb_svcfile_write(path, &blk, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    lb_svcfile_block r;
    memset(&r, 0, sizeof(r));
    r.server = blk.server;
    if (lb_svcfile_read(path, &r, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(r.set.serial, 11);
    check_path_set(&r.set);

    /* the configuration in force after the restart */
    lb_conf *local = lb_conf_parse("dnslb.conf", BASE, err, sizeof(err));
    if (!local)
        fail_msg("%s", err);
    const lb_svcset *sets[] = {&r.set};
    lb_conf *c = lb_svc_effective(sets, 1, local, NULL, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    check_path_conf(conf_find(c, "www.foobar.example."), conf_find(c, "plain.example."));
    lb_conf_free(c);

    /* a services file written before margin-ms existed: its default */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#@ glb-services 1\n#@ map-server 192.0.2.53@5380 id b1 serial 4\n"
               "service:\n    name: a.example.\n    policy: cost\n    margin: 20.0000\n"
               "    site: s1 192.0.2.1 weight=1 cost=2.000\n");
    fclose(f);
    lb_svcset_clear(&r.set);
    memset(&r, 0, sizeof(r));
    r.server = blk.server;
    assert_int_equal(lb_svcfile_read(path, &r, 1, err, sizeof(err)), 0);
    assert_int_equal(r.set.serial, 4);
    const lb_service_conf *a = &find(&r.set, "a.example.")->conf;
    assert_int_equal(a->policy.policy, LB_POLICY_COST);
    assert_true(fabs(a->policy.margin - 0.2) < 1e-9);
    assert_true(a->policy.margin_ms == 0);

    lb_conf_free(local);
    lb_svcset_clear(&r.set);
    lb_svcset_clear(&blk.set);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_parse),  cmocka_unit_test(test_render_refused),
        cmocka_unit_test(test_full_delta),    cmocka_unit_test(test_services_file),
        cmocka_unit_test(test_effective),     cmocka_unit_test(test_whole_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
