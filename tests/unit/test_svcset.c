/* Unit tests for dnsb/svcset: the service-set snapshots a DNS-B sends its
 * DNS-LBs as SERVICES frames. Every check goes through the real codec: the
 * frames are decoded as a DNS-LB would and compared with the configuration
 * they came from (full sets, deltas, sets split into parts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsb/conf.h"
#include "dnsb/svcset.h"
#include "proto/map.h"

#define BASE "server:\n  listen: 127.0.0.1@5300\n  zone: glb.example.net.\n  zone-ns: b1.glb.example.net. 127.0.0.1\n"

/* ---- helpers ----------------------------------------------------------- */

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static dnsb_conf *parse(const char *services)
{
    sbuf t = {0};
    sb_add(&t, "%s%s", BASE, services);
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("t.conf", t.p, err, sizeof(err));
    free(t.p);
    if (!c)
        fail_msg("config: %s", err);
    return c;
}

static dnsb_svcset *build(const char *services, uint64_t serial)
{
    dnsb_conf *c = parse(services);
    char err[512];
    dnsb_svcset *s = dnsb_svcset_build(c, serial, err, sizeof(err));
    dnsb_conf_free(c); /* the snapshot must not point into the conf */
    if (!s)
        fail_msg("build: %s", err);
    assert_int_equal(dnsb_svcset_serial(s), serial);
    return s;
}

static const char *name_str(const uint8_t *n, char *buf, size_t len)
{
    return glb_dname_to_str(n, buf, len);
}

/* One service in a canonical text form: everything a DNS-LB uses of it. */
static char *describe_map(const glb_map_service *s)
{
    sbuf b = {0};
    char nb[1024], ab[GLB_ADDRSTRLEN];
    sb_add(&b, "%s mode=%u ttl=%u/%u", name_str(s->name, nb, sizeof(nb)), s->mode, s->ttl_referral, s->ttl_answer);
    for (size_t i = 0; i < s->nsites; i++) {
        const glb_map_site *t = &s->sites[i];
        sb_add(&b, " | %s", t->name);
        for (size_t k = 0; k < t->naddrs; k++) {
            assert_int_equal(t->addrs[k].port, 0);
            sb_add(&b, " %s", glb_addr_str(&t->addrs[k], ab, sizeof(ab)));
        }
        if (t->host)
            sb_add(&b, " host=%s", name_str(t->host, nb, sizeof(nb)));
        sb_add(&b, " w=%u c=%u", t->weight, t->cost);
        if (t->has_location)
            sb_add(&b, " loc=%d,%d", t->location.lat, t->location.lon);
        if (t->check)
            sb_add(&b, " check=%s", t->check);
        sb_add(&b, " verify=%u", t->check_verify);
    }
    return b.p;
}

/* The same from the configuration, with the protocol's units applied:
 * cost in thousandths, locations in micro-degrees, host names with a dot. */
static char *describe_conf(const dnsb_service_conf *s)
{
    sbuf b = {0};
    char nb[1024], ab[GLB_ADDRSTRLEN];
    sb_add(&b, "%s mode=%d ttl=%u/%u", name_str(s->name, nb, sizeof(nb)), s->mode, s->ttl_referral, s->ttl_answer);
    for (size_t i = 0; i < s->nsites; i++) {
        const glb_site *t = &s->sites[i];
        sb_add(&b, " | %s", t->name);
        for (size_t k = 0; k < t->naddrs; k++)
            sb_add(&b, " %s", glb_addr_str(&t->addrs[k], ab, sizeof(ab)));
        if (t->host[0]) {
            size_t l = strlen(t->host);
            sb_add(&b, " host=%s%s", t->host, t->host[l - 1] == '.' ? "" : ".");
        }
        sb_add(&b, " w=%u c=%.0f", t->weight, t->cost * 1000.0);
        if (t->has_location)
            sb_add(&b, " loc=%.0f,%.0f", t->lat * 1e6, t->lon * 1e6);
        if (t->check[0])
            sb_add(&b, " check=%s", t->check);
        sb_add(&b, " verify=%d", t->check_verify ? 1 : 0);
    }
    return b.p;
}

/* What a DNS-LB collects from the frames of one set. */
typedef struct collected {
    int frames;
    uint64_t serial;
    int kind;
    int has_base;
    uint64_t base;
    char **names, **descs; /* services listed, in order */
    size_t n;
    char **removed;
    size_t nremoved;
    size_t max_frame;
    size_t *order; /* indexes of names[], sorted by name */
} collected;

static char **sort_names;

static int by_name(const void *a, const void *b)
{
    return strcmp(sort_names[*(const size_t *)a], sort_names[*(const size_t *)b]);
}

static void collected_free(collected *c)
{
    free(c->order);
    for (size_t i = 0; i < c->n; i++) {
        free(c->names[i]);
        free(c->descs[i]);
    }
    for (size_t i = 0; i < c->nremoved; i++)
        free(c->removed[i]);
    free(c->names);
    free(c->descs);
    free(c->removed);
    memset(c, 0, sizeof(*c));
}

/* Decodes every frame in out (all of it must be frames), checking what the
 * protocol asks of parts: same serial/kind/base, part = 0, 1, ..., more = 1
 * on all but the last, each frame within GLB_MAP_MAX_FRAME, no service
 * twice. */
static void collect(struct evbuffer *out, int nframes, collected *c)
{
    memset(c, 0, sizeof(*c));
    size_t arenacap = 0;
    uint8_t *arena = NULL;
    int last_more = 1;
    while (evbuffer_get_length(out) > 0) {
        size_t avail = evbuffer_get_length(out);
        assert_true(avail >= GLB_MAP_HEADER_LEN); /* never a partial frame */
        uint8_t *p = evbuffer_pullup(out, GLB_MAP_HEADER_LEN);
        assert_non_null(p);
        size_t n = GLB_MAP_HEADER_LEN + ((size_t)p[4] << 24 | (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7]);
        assert_true(n <= avail);
        assert_true(n <= GLB_MAP_MAX_FRAME);
        if (n > c->max_frame)
            c->max_frame = n;
        p = evbuffer_pullup(out, (ev_ssize_t)n);
        size_t n2;
        assert_int_equal(glb_map_frame_check(p, n, &n2), GLB_MAP_FRAME_READY);
        assert_int_equal(n2, n);
        if (GLB_MAP_ARENA_FOR(n) > arenacap) {
            arenacap = GLB_MAP_ARENA_FOR(n);
            arena = realloc(arena, arenacap);
            assert_non_null(arena);
        }
        glb_map_msg msg;
        glb_map_error e;
        glb_map_msg_init(&msg, arena, arenacap);
        if (glb_map_decode(p, n, &msg, &e) != GLB_MAP_OK)
            fail_msg("frame %d does not decode: %s", c->frames, e.text);
        assert_int_equal(msg.type, GLB_MAP_SERVICES);
        const glb_map_services *m = &msg.u.services;
        assert_true(last_more); /* nothing after the last part */
        assert_int_equal(m->part, (uint32_t)c->frames);
        if (c->frames == 0) {
            c->serial = m->serial;
            c->kind = m->kind;
            c->has_base = m->has_base;
            c->base = m->base;
        } else {
            assert_int_equal(m->serial, c->serial);
            assert_int_equal(m->kind, c->kind);
            assert_int_equal(m->has_base, c->has_base);
            assert_int_equal(m->base, c->base);
        }
        last_more = m->more;
        c->names = realloc(c->names, (c->n + m->nservices + 1) * sizeof(char *));
        c->descs = realloc(c->descs, (c->n + m->nservices + 1) * sizeof(char *));
        assert_true(c->names && c->descs);
        for (size_t i = 0; i < m->nservices; i++) {
            char nb[1024];
            name_str(m->services[i].name, nb, sizeof(nb));
            c->names[c->n] = strdup(nb);
            c->descs[c->n] = describe_map(&m->services[i]);
            c->n++;
        }
        c->removed = realloc(c->removed, (c->nremoved + m->nremoved + 1) * sizeof(char *));
        assert_non_null(c->removed);
        for (size_t i = 0; i < m->nremoved; i++) {
            char nb[1024];
            c->removed[c->nremoved++] = strdup(name_str(m->removed[i], nb, sizeof(nb)));
        }
        evbuffer_drain(out, n);
        c->frames++;
    }
    assert_int_equal(last_more, 0); /* the last part says so */
    /* sorted by name (with the descriptions), for look-ups; no name twice */
    c->order = malloc((c->n + 1) * sizeof(size_t));
    assert_non_null(c->order);
    for (size_t i = 0; i < c->n; i++)
        c->order[i] = i;
    sort_names = c->names;
    qsort(c->order, c->n, sizeof(size_t), by_name);
    for (size_t i = 1; i < c->n; i++)
        if (strcmp(c->names[c->order[i - 1]], c->names[c->order[i]]) == 0)
            fail_msg("service %s listed twice", c->names[c->order[i]]);
    assert_int_equal(c->frames, nframes);
    free(arena);
}

static void frames_of(const dnsb_svcset *cur, const dnsb_svcset *base, collected *c)
{
    struct evbuffer *out = evbuffer_new();
    assert_non_null(out);
    evbuffer_add(out, "", 0);
    int n = dnsb_svcset_frames(cur, base, out);
    if (n < 1)
        fail_msg("dnsb_svcset_frames: %d (serial %llu, base %llu)", n, (unsigned long long)dnsb_svcset_serial(cur),
                 base ? (unsigned long long)dnsb_svcset_serial(base) : 0ull);
    collect(out, n, c);
    evbuffer_free(out);
}

static const char *desc_of(const collected *c, const char *name)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->names[c->order[mid]], name);
        if (cmp == 0)
            return c->descs[c->order[mid]];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int removed_has(const collected *c, const char *name)
{
    for (size_t i = 0; i < c->nremoved; i++)
        if (strcmp(c->removed[i], name) == 0)
            return 1;
    return 0;
}

/* The collected services equal the configuration's services, exactly. */
static void assert_same_as(const collected *c, const dnsb_conf *conf)
{
    assert_int_equal(c->n, conf->nservices);
    for (size_t i = 0; i < conf->nservices; i++) {
        char nb[1024];
        name_str(conf->services[i].name, nb, sizeof(nb));
        const char *got = desc_of(c, nb);
        if (!got)
            fail_msg("service %s missing", nb);
        char *want = describe_conf(&conf->services[i]);
        assert_string_equal(got, want);
        free(want);
    }
}

static void assert_same_as_conf(const collected *c, const char *services)
{
    dnsb_conf *conf = parse(services);
    assert_same_as(c, conf);
    dnsb_conf_free(conf);
}

static dnsb_svcset *build_conf(const dnsb_conf *c, uint64_t serial)
{
    char err[512];
    dnsb_svcset *s = dnsb_svcset_build(c, serial, err, sizeof(err));
    if (!s)
        fail_msg("build: %s", err);
    return s;
}

/* ---- tests ------------------------------------------------------------- */

#define SVC_WWW                                                                                                 \
    "service:\n  name: www.foobar.example.\n  mode: referral\n  ttl-referral: 1800\n  ttl-answer: 60\n"         \
    "  site: paris 192.0.2.10 2001:db8::10 weight=2 cost=1.5 location=48.8566,2.3522 "                          \
    "check=https://paris.foobar.example/health\n"                                                               \
    "  site: tokyo 192.0.2.20 weight=1 cost=0.001 location=35.6762,139.6503 check=http://tokyo.foobar.example/ " \
    "check-verify=no\n"                                                                                         \
    "  site: sydney web.sydney.foobar.example weight=0 location=-33.8688,-151.2093\n"
#define SVC_SHOP "service:\n  name: shop.example.\n  mode: direct\n  site: frankfurt 198.51.100.10\n"
#define SVC_MEDIA                                                                          \
    "service:\n  name: media.example.\n  mode: proxy\n  site: paris 192.0.2.30\n" \
    "  site: tokyo 192.0.2.40 weight=1000000 cost=12345.678\n"

/* A full set lists every service with all its sites and their fields. */
static void test_full(void **state)
{
    (void)state;
    const char *text = SVC_WWW SVC_SHOP SVC_MEDIA;
    dnsb_svcset *s = build(text, 1000);
    assert_int_equal(dnsb_svcset_count(s), 3);
    collected c;
    frames_of(s, NULL, &c);
    assert_int_equal(c.frames, 1);
    assert_int_equal(c.serial, 1000);
    assert_int_equal(c.kind, GLB_MAP_SERVICES_FULL);
    assert_int_equal(c.has_base, 0);
    assert_int_equal(c.nremoved, 0);
    assert_same_as_conf(&c, text);
    /* the units spelled out, not only compared with a formula */
    assert_string_equal(desc_of(&c, "www.foobar.example."),
                        "www.foobar.example. mode=0 ttl=1800/60"
                        " | paris 192.0.2.10 2001:db8::10 w=2 c=1500 loc=48856600,2352200"
                        " check=https://paris.foobar.example/health verify=1"
                        " | tokyo 192.0.2.20 w=1 c=1 loc=35676200,139650300 check=http://tokyo.foobar.example/ verify=0"
                        " | sydney host=web.sydney.foobar.example. w=0 c=0 loc=-33868800,-151209300 verify=1");
    assert_string_equal(desc_of(&c, "shop.example."),
                        "shop.example. mode=1 ttl=3600/300 | frankfurt 198.51.100.10 w=1 c=0 verify=1");
    assert_string_equal(desc_of(&c, "media.example."),
                        "media.example. mode=2 ttl=3600/300 | paris 192.0.2.30 w=1 c=0 verify=1"
                        " | tokyo 192.0.2.40 w=1000000 c=12345678 verify=1");
    collected_free(&c);

    /* the frames are appended: what was in the buffer stays in front */
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, "xy", 2);
    int n = dnsb_svcset_frames(s, NULL, out);
    assert_int_equal(n, 1);
    assert_true(evbuffer_get_length(out) > 2);
    assert_memory_equal(evbuffer_pullup(out, 2), "xy", 2);
    evbuffer_free(out);
    dnsb_svcset_free(s);
}

/* A configuration without services gives one empty full frame (the peer
 * must still learn that it has nothing). */
static void test_empty(void **state)
{
    (void)state;
    dnsb_svcset *s = build("", 5);
    assert_int_equal(dnsb_svcset_count(s), 0);
    collected c;
    frames_of(s, NULL, &c);
    assert_int_equal(c.frames, 1);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.serial, 5);
    collected_free(&c);
    dnsb_svcset *t = build(SVC_SHOP, 4);
    assert_int_equal(dnsb_svcset_same(s, t), 0);
    assert_int_equal(dnsb_svcset_same(t, s), 0);
    frames_of(s, t, &c); /* a delta to nothing removes everything */
    assert_int_equal(c.kind, GLB_MAP_SERVICES_DELTA);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.nremoved, 1);
    assert_true(removed_has(&c, "shop.example."));
    collected_free(&c);
    dnsb_svcset_free(s);
    dnsb_svcset_free(t);
}

/* same: 1 for the same configuration (also reordered, other serial), 0
 * after any change a DNS-LB would see. */
static void test_same(void **state)
{
    (void)state;
    const char *text = SVC_WWW SVC_SHOP SVC_MEDIA;
    dnsb_svcset *a = build(text, 1);
    dnsb_svcset *b = build(text, 2);
    assert_int_equal(dnsb_svcset_same(a, b), 1);
    assert_int_equal(dnsb_svcset_same(a, a), 1);
    dnsb_svcset *r = build(SVC_MEDIA SVC_WWW SVC_SHOP, 3);
    assert_int_equal(dnsb_svcset_same(a, r), 1);
    dnsb_svcset_free(r);

    static const char *const changed[] = {
        /* a weight */
        SVC_WWW SVC_SHOP "service:\n  name: media.example.\n  mode: proxy\n  site: paris 192.0.2.30\n"
                         "  site: tokyo 192.0.2.40 weight=999999 cost=12345.678\n",
        /* a cost, by a thousandth */
        SVC_WWW SVC_SHOP "service:\n  name: media.example.\n  mode: proxy\n  site: paris 192.0.2.30\n"
                         "  site: tokyo 192.0.2.40 weight=1000000 cost=12345.679\n",
        /* an address */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n  site: frankfurt 198.51.100.11\n",
        /* an added address */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n  site: frankfurt 198.51.100.10 "
                          "2001:db8::1\n",
        /* the mode */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: proxy\n  site: frankfurt 198.51.100.10\n",
        /* a TTL */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n  ttl-answer: 301\n"
                          "  site: frankfurt 198.51.100.10\n",
        /* a location */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n"
                          "  site: frankfurt 198.51.100.10 location=50.1109,8.6821\n",
        /* a check URL */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n"
                          "  site: frankfurt 198.51.100.10 check=https://x.example/\n",
        /* check-verify */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n"
                          "  site: frankfurt 198.51.100.10 check=https://x.example/ check-verify=no\n",
        /* a site renamed */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n  site: berlin 198.51.100.10\n",
        /* a site added */
        SVC_WWW SVC_MEDIA "service:\n  name: shop.example.\n  mode: direct\n  site: frankfurt 198.51.100.10\n"
                          "  site: berlin 198.51.100.20\n",
        /* a service renamed */
        SVC_WWW SVC_MEDIA "service:\n  name: shop2.example.\n  mode: direct\n  site: frankfurt 198.51.100.10\n",
        /* a service removed */
        SVC_WWW SVC_MEDIA,
        /* a service added */
        SVC_WWW SVC_SHOP SVC_MEDIA "service:\n  name: new.example.\n  site: x 192.0.2.99\n",
    };
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        dnsb_svcset *c = build(changed[i], 10 + i);
        if (dnsb_svcset_same(a, c) || dnsb_svcset_same(c, a))
            fail_msg("change %zu not seen", i);
        dnsb_svcset_free(c);
    }
    dnsb_svcset_free(a);
    dnsb_svcset_free(b);
}

/* A delta lists only changed and added services (whole), removes the
 * deleted ones, and names the old serial as its base. */
static void test_delta(void **state)
{
    (void)state;
    const char *old_text = SVC_WWW SVC_SHOP SVC_MEDIA
        "service:\n  name: gone.example.\n  site: x 192.0.2.50\n"
        "service:\n  name: api.example.\n  site: a 192.0.2.60\n  site: b 192.0.2.61\n";
    const char *new_text = SVC_WWW /* unchanged */
        "service:\n  name: new.example.\n  site: n 203.0.113.1 cost=2\n"                      /* added */
        "service:\n  name: shop.example.\n  mode: proxy\n  site: frankfurt 198.51.100.10\n"   /* mode changed */
        SVC_MEDIA                                                                                     /* unchanged */
        "service:\n  name: api.example.\n  site: a 192.0.2.60\n  site: b 192.0.2.61 weight=5\n"; /* one site */
    dnsb_svcset *old = build(old_text, 100);
    dnsb_svcset *cur = build(new_text, 200);
    assert_int_equal(dnsb_svcset_same(old, cur), 0);
    collected c;
    frames_of(cur, old, &c);
    assert_int_equal(c.frames, 1);
    assert_int_equal(c.kind, GLB_MAP_SERVICES_DELTA);
    assert_int_equal(c.has_base, 1);
    assert_int_equal(c.base, 100);
    assert_int_equal(c.serial, 200);
    assert_int_equal(c.n, 3);
    assert_null(desc_of(&c, "www.foobar.example."));
    assert_null(desc_of(&c, "media.example."));
    assert_string_equal(desc_of(&c, "new.example."), "new.example. mode=0 ttl=3600/300 | n 203.0.113.1 w=1 c=2000 verify=1");
    assert_string_equal(desc_of(&c, "shop.example."),
                        "shop.example. mode=2 ttl=3600/300 | frankfurt 198.51.100.10 w=1 c=0 verify=1");
    /* a changed service is sent whole: the unchanged site too */
    assert_string_equal(desc_of(&c, "api.example."),
                        "api.example. mode=0 ttl=3600/300 | a 192.0.2.60 w=1 c=0 verify=1 | b 192.0.2.61 w=5 c=0 verify=1");
    assert_int_equal(c.nremoved, 1);
    assert_true(removed_has(&c, "gone.example."));
    collected_free(&c);

    /* applying the delta to the old set gives the new full set */
    collected full_old, full_new;
    frames_of(old, NULL, &full_old);
    frames_of(cur, old, &c);
    frames_of(cur, NULL, &full_new);
    assert_same_as_conf(&full_new, new_text);
    size_t kept = 0;
    for (size_t i = 0; i < full_old.n; i++) {
        if (removed_has(&c, full_old.names[i]) || desc_of(&c, full_old.names[i]))
            continue;
        kept++;
        assert_string_equal(desc_of(&full_new, full_old.names[i]), full_old.descs[i]);
    }
    assert_int_equal(kept + c.n, full_new.n);
    collected_free(&full_old);
    collected_free(&full_new);
    collected_free(&c);

    /* nothing changed: one empty delta */
    dnsb_svcset *again = build(new_text, 300);
    frames_of(again, cur, &c);
    assert_int_equal(c.frames, 1);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.nremoved, 0);
    assert_int_equal(c.base, 200);
    assert_int_equal(c.serial, 300);
    collected_free(&c);
    dnsb_svcset_free(again);
    dnsb_svcset_free(old);
    dnsb_svcset_free(cur);
}

/* Config text for n services of nsites sites each, all fields used. */
/* Config text for n services of nsites sites each, every field used; with
 * fat, each site has 16 addresses and a long check URL (~800 wire bytes), so
 * that a few hundred services fill several frames. */
static char *big_text(size_t n, size_t nsites, int fat, const char *tag)
{
    sbuf t = {0};
    char pad[401];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (size_t i = 0; i < n; i++) {
        sb_add(&t, "service:\n  name: svc%zu.%s.example.\n  mode: %s\n  ttl-answer: %zu\n", i, tag,
               i % 3 == 0 ? "referral" : i % 3 == 1 ? "direct" : "proxy", 30 + i % 100);
        for (size_t j = 0; j < nsites; j++) {
            sb_add(&t, "  site: site-%zu 10.%zu.%zu.%zu", j, i / 250, i % 250, j + 1);
            for (size_t k = 0; fat && k < 15; k++)
                sb_add(&t, " 2001:db8:%zx:%zx::%zx", i, j, k + 1);
            sb_add(&t,
                   " weight=%zu cost=%zu.%03zu location=%.4f,%.4f check=https://site-%zu.svc%zu.%s.example/%s?p=%zu\n",
                   (i + j) % 100 + 1, j, (i * 7 + j) % 1000, -89.5 + (double)((i + j) % 179),
                   -179.5 + (double)((i * 3 + j) % 359), j, i, tag, fat ? pad : "health", i * 1000 + j);
        }
    }
    return t.p;
}

/* A set larger than a frame is split into parts: part = 0, 1, ..., more = 1
 * on all but the last, each frame within the limit, and together they hold
 * exactly the set. */
static void test_parts(void **state)
{
    (void)state;
    char *text = big_text(200, 20, 1, "big");
    dnsb_conf *big = parse(text);
    dnsb_svcset *s = build_conf(big, 7000);
    assert_int_equal(dnsb_svcset_count(s), 200);
    collected c;
    frames_of(s, NULL, &c);
    assert_true(c.frames >= 3); /* ~3 MB of services */
    assert_true(c.max_frame <= GLB_MAP_MAX_FRAME);
    assert_true(c.max_frame > GLB_MAP_MAX_FRAME / 2); /* parts are packed, not one service each */
    assert_int_equal(c.serial, 7000);
    assert_int_equal(c.kind, GLB_MAP_SERVICES_FULL);
    assert_same_as(&c, big);
    collected_free(&c);

    /* many small services (more than GLB_MAP_MAX_SERVICES, far less than a
     * frame): the per-frame count limit splits them */
    char *small = big_text(1100, 1, 0, "small");
    dnsb_conf *smallc = parse(small);
    dnsb_svcset *t = build_conf(smallc, 7001);
    frames_of(t, NULL, &c);
    assert_int_equal(c.frames, 2);
    assert_true(c.max_frame < GLB_MAP_MAX_FRAME / 4);
    assert_same_as(&c, smallc);
    collected_free(&c);

    /* a delta removing the 200 big services and adding the 1100 small ones */
    frames_of(t, s, &c);
    assert_true(c.frames >= 2);
    assert_int_equal(c.kind, GLB_MAP_SERVICES_DELTA);
    assert_int_equal(c.base, 7000);
    assert_int_equal(c.nremoved, 200);
    assert_same_as(&c, smallc);
    for (size_t i = 0; i < 200; i++) {
        char nb[64];
        snprintf(nb, sizeof(nb), "svc%zu.big.example.", i);
        assert_true(removed_has(&c, nb));
    }
    collected_free(&c);
    /* and back: only removals and additions, nothing listed twice */
    dnsb_svcset *back = build_conf(big, 7002);
    assert_int_equal(dnsb_svcset_same(back, s), 1);
    frames_of(back, t, &c);
    assert_true(c.frames >= 3);
    assert_int_equal(c.base, 7001);
    assert_int_equal(c.nremoved, 1100); /* more removals than one frame may carry */
    for (size_t i = 0; i < 1100; i++) {
        char nb[64];
        snprintf(nb, sizeof(nb), "svc%zu.small.example.", i);
        assert_true(removed_has(&c, nb));
    }
    assert_same_as(&c, big);
    collected_free(&c);
    dnsb_svcset_free(back);
    dnsb_svcset_free(s);
    dnsb_svcset_free(t);
    dnsb_conf_free(big);
    dnsb_conf_free(smallc);
    free(text);
    free(small);
}

/* A service the protocol cannot carry is refused at build, naming it,
 * rather than sent wrong. */
static void test_limits(void **state)
{
    (void)state;
    char err[512];
    /* a cost beyond what thousandths in 32 bits hold: refused, naming the
     * service, not sent as some other cost */
    dnsb_conf *c = parse(SVC_SHOP "service:\n  name: dear.example.\n  site: x 192.0.2.1 cost=5000000\n");
    err[0] = '\0';
    dnsb_svcset *s = dnsb_svcset_build(c, 1, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, "dear.example"));
    dnsb_conf_free(c);

    /* more sites than a SERVICES message may carry for one service */
    sbuf t = {0};
    sb_add(&t, "service:\n  name: wide.example.\n");
    for (int i = 0; i <= GLB_MAP_MAX_SITES; i++)
        sb_add(&t, "  site: s%d 10.0.%d.%d\n", i, i / 256, i % 256);
    c = parse(t.p);
    free(t.p);
    err[0] = '\0';
    assert_null(dnsb_svcset_build(c, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "wide.example"));
    dnsb_conf_free(c);

    /* the largest cost that fits is carried exactly */
    c = parse("service:\n  name: ok.example.\n  site: x 192.0.2.1 cost=4294967.295\n");
    s = dnsb_svcset_build(c, 1, err, sizeof(err));
    if (!s)
        fail_msg("build: %s", err);
    collected got;
    frames_of(s, NULL, &got);
    assert_non_null(strstr(desc_of(&got, "ok.example."), "c=4294967295"));
    collected_free(&got);
    dnsb_svcset_free(s);
    dnsb_conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),  cmocka_unit_test(test_empty), cmocka_unit_test(test_same),
        cmocka_unit_test(test_delta), cmocka_unit_test(test_parts), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
